package shc_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"healthcode/internal/interop/shc"
)

const jwsAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

func TestEncodeQRSpecExample(t *testing.T) {
	// The spec: 'X' is 88, 88-45 = 43; '-' is the lowest character, 'z' the highest.
	if got := shc.EncodeQR("X-z"); len(got) != 1 || got[0] != "shc:/430077" {
		t.Errorf("EncodeQR(X-z) = %q", got)
	}
}

// TestQRRoundTrip encodes JWS-like strings around the chunking limits and
// decodes them back, with chunks in a random order.
func TestQRRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ length, chunks int }{
		{1, 1}, {100, 1}, {shc.MaxSingleQR, 1}, {shc.MaxSingleQR + 1, 2}, {2 * shc.MaxChunk, 2}, {2*shc.MaxChunk + 1, 3}, {3285, 3}, {10000, 9},
	} {
		b := make([]byte, tc.length)
		for i := range b {
			b[i] = jwsAlphabet[rng.IntN(len(jwsAlphabet))]
		}
		jws := string(b)
		qr := shc.EncodeQR(jws)
		if len(qr) != tc.chunks {
			t.Errorf("length %d: %d chunks, want %d", tc.length, len(qr), tc.chunks)
		}
		for _, q := range qr {
			if digits := q[strings.LastIndex(q, "/")+1:]; len(digits) > 2*shc.MaxSingleQR || (tc.chunks > 1 && len(digits) > 2*shc.MaxChunk) {
				t.Errorf("length %d: a QR text of %d digits", tc.length, len(digits))
			}
		}
		rng.Shuffle(len(qr), func(i, j int) { qr[i], qr[j] = qr[j], qr[i] })
		got, err := shc.DecodeQR(qr...)
		if err != nil || got != jws {
			t.Errorf("length %d: DecodeQR: %v, round trip equal: %v", tc.length, err, got == jws)
		}
	}
}
