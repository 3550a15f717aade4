package shc_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"healthcode/internal/interop/shc"
)

// BenchmarkVerify and BenchmarkECDSAP256Verify compare verifying one SMART
// Health Card (every check: decoding, ES256 signature, inflating, the claims,
// the FHIR bundle, revocation from a cached list) with a bare ECDSA P-256
// verification of the same card's signature:
//
//	go test -run XXX -bench . -cpu 1 ./internal/interop/shc/
//
// "issued" is a two-dose vaccination card this package issues; "example-00"
// is the spec's example 00 (three doses, a rid on a revocation list), and
// runs when ../shared/vectors is present.
func BenchmarkVerify(b *testing.B) {
	for _, c := range benchCards(b) {
		b.Run(c.name+"/jws", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := shc.VerifyJWS(ctx, c.keys, c.now, c.jws); !r.Valid {
					b.Fatal(r.Reason)
				}
			}
		})
		qr := shc.EncodeQR(c.jws)
		b.Run(c.name+"/qr", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := shc.Verify(ctx, c.keys, c.now, qr...); !r[0].Valid {
					b.Fatal(r[0].Reason)
				}
			}
		})
	}
}

// BenchmarkECDSAP256Verify verifies the signature of each card of
// BenchmarkVerify with crypto/ecdsa alone: "hash+verify" hashes the JWS
// signing input as ES256 does, "verify" starts from its digest.
func BenchmarkECDSAP256Verify(b *testing.B) {
	for _, c := range benchCards(b) {
		i := strings.LastIndex(c.jws, ".")
		input := []byte(c.jws[:i])
		sig, err := base64.RawURLEncoding.DecodeString(c.jws[i+1:])
		if err != nil || len(sig) != 64 {
			b.Fatalf("signature: %v", err)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		pub := c.pub
		b.Run(c.name+"/hash+verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				digest := sha256.Sum256(input)
				if !ecdsa.Verify(pub, digest[:], r, s) {
					b.Fatal("bad signature")
				}
			}
		})
		digest := sha256.Sum256(input)
		b.Run(c.name+"/verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !ecdsa.Verify(pub, digest[:], r, s) {
					b.Fatal("bad signature")
				}
			}
		})
	}
}

type benchCard struct {
	name string
	jws  string
	keys *shc.Keys
	pub  *ecdsa.PublicKey
	now  time.Time
}

func benchCards(b *testing.B) []benchCard {
	b.Helper()
	is := testIssuer(b)
	card, err := is.Issue(shc.Records{Resident: resident(), Vaccinations: vaccinations()}, issued, issued.AddDate(1, 0, 0))
	if err != nil {
		b.Fatal(err)
	}
	cards := []benchCard{{name: "issued", jws: card.JWS, keys: keysOf(b, is), pub: &is.Key.PublicKey, now: issued}}
	if !vectorsPresent() {
		b.Logf("no vectors at %s: benchmarking the issued card only", vectorsDir)
		return cards
	}
	priv, _ := exampleSigner(b)
	return append(cards, benchCard{name: "example-00", jws: strings.TrimSpace(readVector(b, "example-00-d-jws.txt")),
		keys: exampleKeys(b), pub: &priv.PublicKey, now: validClock})
}
