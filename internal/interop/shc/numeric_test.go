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

// FuzzDecodeQR checks that DecodeQR never panics and that what it accepts
// encodes back to the same text.
//
//	go test -run XXX -fuzz FuzzDecodeQR ./internal/interop/shc/
func FuzzDecodeQR(f *testing.F) {
	f.Add("shc:/56762909524320603460292437404460")
	f.Add("shc:/1/2/5676")
	f.Add("shc:/9/9/")
	f.Add("shc:/0077")
	f.Fuzz(func(t *testing.T, text string) {
		jws, err := shc.DecodeQR(text)
		if err != nil {
			return
		}
		if strings.Count(text, "/") > 1 {
			return // a lone chunk 1/1
		}
		if back := shc.EncodeQR(jws); len(jws) <= shc.MaxSingleQR && !strings.EqualFold(back[0], strings.TrimSpace(text)) {
			t.Errorf("%q decodes to %q, which encodes to %q", text, jws, back[0])
		}
	})
}
