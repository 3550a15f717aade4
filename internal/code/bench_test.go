package code_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"healthcode/internal/code"
)

// BenchmarkVerify and BenchmarkEd25519Verify compare a full Verify of a
// typical phone code with a bare ed25519.Verify of a message of the same
// size as the code's COSE Sig_structure, the message Verify checks:
//
//	go test -run XXX -bench . -cpu 1 ./internal/code/
func BenchmarkVerify(b *testing.B) {
	issuer := testKey(b, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	p := sign(b, issuer, phoneClaims("张三丰"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := code.Verify(p, keys, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	issuer := testKey(b, "issuer")
	p := sign(b, issuer, phoneClaims("张三丰"))
	msg := sigStructure(b, coseBytes(b, p))
	sig := ed25519.Sign(issuer, msg)
	pub := issuer.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

// sigStructure rebuilds the COSE Sig_structure (RFC 9052 section 4.4) of a
// COSE_Sign1.
func sigStructure(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	var msg struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected cbor.RawMessage
		Payload     []byte
		Signature   []byte
	}
	if err := cbor.Unmarshal(raw, &msg); err != nil {
		tb.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", msg.Protected, []byte{}, msg.Payload})
	if err != nil {
		tb.Fatal(err)
	}
	return tbs
}

func BenchmarkSign(b *testing.B) {
	s := code.NewSigner(testKey(b, "issuer"))
	c := phoneClaims("张三丰")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}
