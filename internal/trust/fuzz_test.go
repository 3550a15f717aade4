package trust_test

import (
	"testing"

	"healthcode"
	"healthcode/internal/trust"
)

// FuzzParseTrustList checks that Parse never panics, that it rejects with
// an EINVALID error, and that what it accepts is a valid list.
//
//	go test -run XXX -fuzz FuzzParseTrustList ./internal/trust/
func FuzzParseTrustList(f *testing.F) {
	l, priv := hangzhou(f)
	good := signList(f, l, priv)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:len(good)-1])
	f.Add([]byte("a.b.c"))
	f.Add([]byte(`{"issuer":"330100"}`))
	f.Add([]byte("eyJhbGciOiJFZERTQSJ9.e30."))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := trust.Parse(data, now)
		if err != nil {
			if healthcode.ErrorCode(err) != healthcode.EINVALID {
				t.Fatalf("Parse: error %v with code %s, want invalid", err, healthcode.ErrorCode(err))
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid list: %v", err)
		}
	})
}
