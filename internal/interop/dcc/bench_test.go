package dcc_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"healthcode/internal/interop/dcc"
)

// benchVector is the EU DCC vector both benchmarks use: an ES256 (P-256)
// test certificate from the NL set that passes every check.
const benchVector = "NL/2DCode/raw/000-NL-test.json"

// BenchmarkVerifyDCC and BenchmarkBareECDSAP256Verify compare a full
// Verify of one test vector (prefix, base45, zlib, COSE, CWT, signature,
// expiry, key usage, JSON schema, value-set names) with a bare ECDSA P-256
// verification of the same vector's signature: the SHA-256 of its COSE
// Sig_structure and ecdsa.VerifyASN1, nothing else:
//
//	go test -run XXX -bench 'VerifyDCC|BareECDSA' -benchmem -cpu 1 -count 5 ./internal/interop/dcc/
//
// BenchmarkVerifyDCCvsBare reports the ratio of the two directly.
func BenchmarkVerifyDCC(b *testing.B) {
	payload, certs, at := benchInput(b)
	v := verifier(b, certs...)
	if r := v.Verify(payload, at); !r.Valid {
		b.Fatalf("the benchmark vector does not verify: %s", r.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := v.Verify(payload, at); !r.Valid {
			b.Fatal(r.Reason)
		}
	}
}

// BenchmarkVerifyDCCNoMemo is BenchmarkVerifyDCC with the Verifier's memo
// of recent payloads turned off: every verification decodes the payload and
// validates it against the schema, as for a certificate seen for the first
// time.
func BenchmarkVerifyDCCNoMemo(b *testing.B) {
	payload, certs, at := benchInput(b)
	v := verifier(b, certs...)
	v.SetMemoSize(0)
	b.ReportAllocs()
	for b.Loop() {
		if r := v.Verify(payload, at); !r.Valid {
			b.Fatal(r.Reason)
		}
	}
}

func BenchmarkBareECDSAP256Verify(b *testing.B) {
	bare := bareVerify(b)
	b.ReportAllocs()
	for b.Loop() {
		if !bare() {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkVerifyDCCvsBare runs a full Verify and a bare ECDSA verification
// of the benchmark vector in turn, timing each, and reports the throughput
// of Verify as a percentage of the bare verification's ("%bare"). On a
// shared machine whose load changes during a run this ratio is steadier
// than two benchmarks run one after the other.
func BenchmarkVerifyDCCvsBare(b *testing.B) {
	for _, memo := range []int{dcc.DefaultMemoSize, 0} {
		name := "memo"
		if memo == 0 {
			name = "nomemo"
		}
		b.Run(name, func(b *testing.B) {
			payload, certs, at := benchInput(b)
			v := verifier(b, certs...)
			v.SetMemoSize(memo)
			bare := bareVerify(b)
			var ours, bareTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				if r := v.Verify(payload, at); !r.Valid {
					b.Fatal(r.Reason)
				}
				t1 := time.Now()
				if !bare() {
					b.Fatal("bad signature")
				}
				ours, bareTime = ours+t1.Sub(t0), bareTime+time.Since(t1)
			}
			b.ReportMetric(100*float64(bareTime)/float64(ours), "%bare")
		})
	}
}

// bareVerify returns a function that verifies the benchmark vector's
// signature and nothing else: the SHA-256 of its COSE Sig_structure and
// ecdsa.VerifyASN1 with the DSC's key, everything else prepared.
func bareVerify(b *testing.B) func() bool {
	b.Helper()
	_, certs, _ := benchInput(b)
	raw, err := os.ReadFile(filepath.Join(vectorsDir, benchVector))
	if err != nil {
		b.Fatal(err)
	}
	var vec struct{ COSE string }
	if err := json.Unmarshal(raw, &vec); err != nil {
		b.Fatal(err)
	}
	coseBytes, err := hex.DecodeString(vec.COSE)
	if err != nil {
		b.Fatal(err)
	}
	var msg struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected cbor.RawMessage
		Payload     []byte
		Signature   []byte
	}
	if err := cbor.Unmarshal(coseBytes[1:], &msg); err != nil { // after tag 18
		b.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", msg.Protected, []byte{}, msg.Payload})
	if err != nil {
		b.Fatal(err)
	}
	pub := certs[0].PublicKey.(*ecdsa.PublicKey)
	r, s := new(big.Int).SetBytes(msg.Signature[:32]), new(big.Int).SetBytes(msg.Signature[32:])
	sig, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		b.Fatal(err)
	}
	verify := func() bool {
		digest := sha256.Sum256(tbs)
		return ecdsa.VerifyASN1(pub, digest[:], sig)
	}
	if !verify() {
		b.Fatal("the benchmark vector's signature does not verify")
	}
	return verify
}

// benchInput loads the benchmark vector, skipping when the vectors are
// absent.
func benchInput(b *testing.B) (string, []*x509.Certificate, time.Time) {
	b.Helper()
	for _, v := range loadVectors(b) {
		if v.name != "NL/000-NL-test" {
			continue
		}
		certs, err := dcc.ParseCertificates([]byte(v.TestCtx.Certificate))
		if err != nil {
			b.Fatal(err)
		}
		at, err := dcc.ParseTime(v.TestCtx.ValidationClock)
		if err != nil {
			b.Fatal(err)
		}
		return v.Prefix, certs, at
	}
	b.Fatalf("no vector %s", benchVector)
	return "", nil, time.Time{}
}
