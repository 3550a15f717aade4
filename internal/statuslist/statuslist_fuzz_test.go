package statuslist_test

import (
	"runtime/metrics"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/statuslist"
	"healthcode/internal/trust"
)

// heapAllocated returns the bytes allocated on the heap so far. Small
// objects are counted a span at a time, so two readings around one call
// are off by up to 2 MiB for small allocations (exact for large ones).
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzParseStatusList checks that Parse never panics, that it rejects with
// an EINVALID error that has a message, that its memory follows what the
// data holds rather than the size it claims, and that what it accepts is
// a sound list that signs and parses again to the same list. With resign false, data is a signed
// list, as a checkpoint downloads it; with resign true, data is the content
// of a list, signed by the trusted key before Parse, so that the fuzzer
// reaches the checks behind the signature (the JSON, base64, zlib and bits).
// The seed corpus is in testdata/fuzz/FuzzParseStatusList.
//
//	go test -run '^$' -fuzz '^FuzzParseStatusList$' ./internal/statuslist/
func FuzzParseStatusList(f *testing.F) {
	tl, priv := hangzhou(f)
	good := signed(f, statuslist.Build("330100", now, maxAge, sampleEntries()), priv)
	f.Add(good, false)
	f.Add(good[:len(good)-1], false)
	f.Add([]byte("a.b.c"), false)
	three := compress(f, []byte{0x1b, 0x00, 0x00})
	f.Add(listJSON(f, three, 12, nil), true)
	f.Add(listJSON(f, three, 9, nil), true)
	f.Add(signed(f, statuslist.Build("330100", now, maxAge, sampleEntries()), testKey(f, "not in any list")), false)
	f.Fuzz(func(t *testing.T, data []byte, resign bool) {
		if resign {
			data = signJSON(t, priv, statuslist.Type, data)
		}
		before := heapAllocated()
		l, err := statuslist.Parse(data, tl)
		// Decompressed bits cost at most maxDeflateRatio (1032) bytes per
		// byte of input, and the decoding some multiple of the input.
		if alloc := heapAllocated() - before; alloc > 2<<20+2100*uint64(len(data)) {
			t.Errorf("Parse of %d bytes allocated %d bytes", len(data), alloc)
		}
		if err != nil {
			if healthcode.ErrorCode(err) != healthcode.EINVALID || healthcode.ErrorMessage(err) == "" {
				t.Fatalf("Parse: error %v with code %s, want invalid with a message", err, healthcode.ErrorCode(err))
			}
			return
		}
		if l.Issuer != "330100" || l.IssuedAt.IsZero() || l.MaxAge < time.Second || l.MaxAge > statuslist.MaxMaxAge ||
			l.Size < 0 || l.Size > statuslist.MaxEntries {
			t.Fatalf("Parse accepted an odd list %+v", l)
		}
		at := l.IssuedAt
		if _, err := l.Lookup(l.Size, at); err == nil {
			t.Fatalf("Lookup(%d) of a list of %d: no error", l.Size, l.Size)
		}
		again, err := l.Sign(priv)
		if err != nil {
			t.Fatalf("Sign of a parsed list: %v", err)
		}
		l2, err := statuslist.Parse(again, trust.Set{tl})
		if err != nil {
			t.Fatalf("Parse of a re-signed list: %v", err)
		}
		if l2.Issuer != l.Issuer || !l2.IssuedAt.Equal(l.IssuedAt) || l2.MaxAge != l.MaxAge || l2.Size != l.Size {
			t.Fatalf("re-signed list %+v differs from %+v", l2, l)
		}
		for i := 0; i < min(l.Size, 4096); i++ {
			s, err := l.Lookup(i, at)
			s2, err2 := l2.Lookup(i, at)
			if err != nil || err2 != nil || s != s2 || s < statuslist.Green || s > statuslist.Revoked {
				t.Fatalf("Lookup(%d) = %v, %v, then %v, %v", i, s, err, s2, err2)
			}
		}
	})
}
