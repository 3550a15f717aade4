package statuslist_test

import (
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/statuslist"
	"healthcode/internal/trust"
)

// FuzzParseStatusList checks that Parse never panics, that it rejects with
// an EINVALID error, and that what it accepts is a sound list that signs
// and parses again to the same list. With resign false, data is a signed
// list, as a checkpoint downloads it; with resign true, data is the content
// of a list, signed by the trusted key before Parse, so that the fuzzer
// reaches the checks behind the signature (the JSON, base64, zlib and bits).
// The seed corpus is in testdata/fuzz/FuzzParseStatusList.
//
//	go test -run XXX -fuzz FuzzParseStatusList ./internal/statuslist/
func FuzzParseStatusList(f *testing.F) {
	tl, priv := hangzhou(f)
	good := signed(f, statuslist.Build("330100", now, maxAge, sampleEntries()), priv)
	f.Add(good, false)
	f.Add(good[:len(good)-1], false)
	f.Add([]byte("a.b.c"), false)
	three := compress(f, []byte{0x1b, 0x00, 0x00})
	f.Add(listJSON(f, three, 12, nil), true)
	f.Add(listJSON(f, three, 9, nil), true)
	f.Fuzz(func(t *testing.T, data []byte, resign bool) {
		if resign {
			data = signJSON(t, priv, statuslist.Type, data)
		}
		l, err := statuslist.Parse(data, tl)
		if err != nil {
			if healthcode.ErrorCode(err) != healthcode.EINVALID {
				t.Fatalf("Parse: error %v with code %s, want invalid", err, healthcode.ErrorCode(err))
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
