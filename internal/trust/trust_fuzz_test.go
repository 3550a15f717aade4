package trust_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"runtime/metrics"
	"testing"

	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/code"
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

// FuzzParseTrustList checks that Parse never panics, that it rejects with
// an EINVALID error that has a message, that it allocates in proportion to
// its input, and that what it accepts is a valid list signed by one of its
// own unrevoked keys, which signs and parses again to the same list and
// resolves every key id to either its unrevoked or its revoked keys. With
// resign false, data is a signed list, as a peer publishes it; with resign
// true, data is the content of a list, signed by the current Hangzhou key
// before Parse, so that the fuzzer reaches the checks behind the signature.
//
//	go test -run '^$' -fuzz '^FuzzParseTrustList$' ./internal/trust/
func FuzzParseTrustList(f *testing.F) {
	l, priv := hangzhou(f)
	good := signList(f, l, priv)
	content, err := json.Marshal(l)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, false)
	f.Add(good[:len(good)/2], false)
	f.Add(good[:len(good)-1], false)
	f.Add(signRaw(f, testKey(f, "hangzhou leaked"), kidOf(testKey(f, "hangzhou leaked")), trust.Type, content), false)
	f.Add([]byte("a.b.c"), false)
	f.Add([]byte(`{"issuer":"330100"}`), false)
	f.Add([]byte("eyJhbGciOiJFZERTQSJ9.e30."), false)
	f.Add(content, true)
	f.Add([]byte(`{"issuer":"330100","issued_at":"2026-11-23T07:00:00Z","keys":[]}`), true)
	f.Add([]byte(`{"issuer":"330100","keys":[{"kid":"`+kidOf(priv)+`","revoked_at":"2026-01-01T00:00:00Z"}]}`), true)
	f.Add([]byte(`[1,2]`), true)
	f.Add([]byte(`{"keys":null}`), true)
	f.Fuzz(func(t *testing.T, data []byte, resign bool) {
		if resign {
			data = signRaw(t, priv, kidOf(priv), trust.Type, data)
		}
		before := heapAllocated()
		got, err := trust.Parse(data, now)
		if alloc := heapAllocated() - before; alloc > 2<<20+64*uint64(len(data)) {
			t.Errorf("Parse of %d bytes allocated %d bytes", len(data), alloc)
		}
		if err != nil {
			if healthcode.ErrorCode(err) != healthcode.EINVALID || healthcode.ErrorMessage(err) == "" {
				t.Fatalf("Parse: error %v with code %s, want invalid with a message", err, healthcode.ErrorCode(err))
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid list: %v", err)
		}
		if got.IssuedAt.After(now.Add(code.ClockSkew)) {
			t.Fatalf("Parse accepted a list issued in the future: %v", got.IssuedAt)
		}
		// Keys resolve to unrevoked or revoked keys, never both or neither.
		for _, e := range got.Keys {
			kid, _ := hex.DecodeString(e.KID)
			pub, _ := base64.RawURLEncoding.DecodeString(e.PublicKey)
			var n int
			for _, k := range append(got.LookupKey(kid), got.LookupRevokedKey(kid)...) {
				if bytes.Equal(k.Public, pub) {
					n++
					if k.RevokedAt.IsZero() != e.RevokedAt.IsZero() {
						t.Fatalf("LookupKey/LookupRevokedKey: key %+v for entry %+v", k, e)
					}
				}
			}
			if n != 1 {
				t.Fatalf("entry %+v resolves %d times", e, n)
			}
		}
		if resign {
			again, err := trust.Sign(got, priv)
			if err != nil {
				t.Fatalf("Sign of a parsed list: %v", err)
			}
			got2, err := trust.Parse(again, now)
			if err != nil {
				t.Fatalf("Parse of a list signed again: %v", err)
			}
			if diff := cmp.Diff(got, got2); diff != "" {
				t.Fatalf("list signed again (-first +again):\n%s", diff)
			}
		}
	})
}
