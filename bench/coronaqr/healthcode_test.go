package coronaqr_test

import (
	"crypto/x509"
	"testing"

	"healthcode/internal/interop/dcc"
)

// benchHealthcode verifies the vectors in turn, one per iteration, with one
// Verifier that trusts every vector's DSC. memo is the Verifier's memo size
// (0: every payload is decoded and schema-validated each time).
func benchHealthcode(b *testing.B, vs []vector, memo int) {
	certs := make([]*x509.Certificate, len(vs))
	for i, v := range vs {
		certs[i] = v.dsc
	}
	ver, err := dcc.NewVerifier(certs)
	if err != nil {
		b.Fatal(err)
	}
	ver.SetMemoSize(memo)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v := &vs[i%len(vs)]
		if r := ver.Verify(v.payload, v.at); !r.Valid {
			b.Fatalf("%s: %s", v.name, r.Reason)
		}
		i++
	}
}

// BenchmarkHealthcodeVectors verifies every vector healthcode accepts, one
// per iteration (ns/op is per certificate). The Verifier remembers recent
// payloads, as a checkpoint's does; see BenchmarkHealthcodeVectorsNoMemo.
func BenchmarkHealthcodeVectors(b *testing.B) {
	benchHealthcode(b, validVectors(b), dcc.DefaultMemoSize)
}

// BenchmarkHealthcodeVectorsNoMemo decodes and schema-validates every
// payload on every verification.
func BenchmarkHealthcodeVectorsNoMemo(b *testing.B) {
	benchHealthcode(b, validVectors(b), 0)
}

// BenchmarkHealthcodeOne and BenchmarkHealthcodeOneNoMemo verify the single
// vector that internal/interop/dcc's benchmarks use.
func BenchmarkHealthcodeOne(b *testing.B) {
	benchHealthcode(b, pick(b, validVectors(b), oneVector), dcc.DefaultMemoSize)
}

func BenchmarkHealthcodeOneNoMemo(b *testing.B) {
	benchHealthcode(b, pick(b, validVectors(b), oneVector), 0)
}

// TestValidVectors logs how many vectors the benchmarks use.
func TestValidVectors(t *testing.T) {
	vs := validVectors(t)
	t.Logf("%d EU DCC vectors verify as valid at their clocks", len(vs))
}
