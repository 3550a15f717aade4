//go:build coronaqr

// The coronaqr side needs github.com/stapelberg/coronaqr, which the module
// proxy reachable here does not serve; see README.md for how to add it.

package coronaqr_test

import (
	"crypto"
	"fmt"
	"testing"
	"time"

	"github.com/stapelberg/coronaqr"

	"healthcode/internal/interop/dcc"
)

// publicKeys is a coronaqr.PublicKeyProvider over the vectors' DSCs.
type publicKeys map[string]crypto.PublicKey

func (k publicKeys) GetPublicKey(_ string, kid []byte) (crypto.PublicKey, error) {
	if p, ok := k[string(kid)]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no key %x", kid)
}

// coronaqrSetup returns the keys and one decoder per vector, whose clock is
// the vector's.
func coronaqrSetup(vs []vector) (publicKeys, []*coronaqr.Decoder) {
	keys := publicKeys{}
	decoders := make([]*coronaqr.Decoder, len(vs))
	for i, v := range vs {
		keys[string(dcc.KeyID(v.dsc))] = v.dsc.PublicKey
		at := v.at
		decoders[i] = &coronaqr.Decoder{Expired: func(exp time.Time) bool { return at.After(exp) }}
	}
	return keys, decoders
}

func coronaqrVerify(d *coronaqr.Decoder, keys publicKeys, payload string) error {
	u, err := d.Decode(payload)
	if err != nil {
		return err
	}
	_, err = u.Verify(keys)
	return err
}

// commonVectors returns the vectors both verifiers accept.
func commonVectors(tb testing.TB) []vector {
	tb.Helper()
	vs := validVectors(tb)
	keys, decoders := coronaqrSetup(vs)
	var out []vector
	for i, v := range vs {
		if err := coronaqrVerify(decoders[i], keys, v.payload); err != nil {
			tb.Logf("%s: coronaqr rejects it: %v", v.name, err)
			continue
		}
		out = append(out, v)
	}
	tb.Logf("%d of %d vectors verify with both", len(out), len(vs))
	return out
}

func benchCoronaQR(b *testing.B, vs []vector) {
	keys, decoders := coronaqrSetup(vs)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(vs)
		if err := coronaqrVerify(decoders[k], keys, vs[k].payload); err != nil {
			b.Fatalf("%s: %v", vs[k].name, err)
		}
		i++
	}
}

// BenchmarkCompareVectors verifies, with each library in turn, every vector
// both accept, one per iteration (ns/op is per certificate).
func BenchmarkCompareVectors(b *testing.B) {
	vs := commonVectors(b)
	b.Run("coronaqr", func(b *testing.B) { benchCoronaQR(b, vs) })
	b.Run("healthcode", func(b *testing.B) { benchHealthcode(b, vs, dcc.DefaultMemoSize) })
	b.Run("healthcode-nomemo", func(b *testing.B) { benchHealthcode(b, vs, 0) })
}

// BenchmarkCompareOne does the same for the single benchmark vector.
func BenchmarkCompareOne(b *testing.B) {
	vs := pick(b, commonVectors(b), oneVector)
	b.Run("coronaqr", func(b *testing.B) { benchCoronaQR(b, vs) })
	b.Run("healthcode", func(b *testing.B) { benchHealthcode(b, vs, dcc.DefaultMemoSize) })
	b.Run("healthcode-nomemo", func(b *testing.B) { benchHealthcode(b, vs, 0) })
}
