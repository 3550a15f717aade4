package notice_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/notice"
	"healthcode/internal/trust"
)

// FuzzParseNotice checks that Parse never panics, that it refuses with an
// EINVALID or EFORBIDDEN error that has a message, and that what it accepts
// is a valid notice for this region from the region of the key that signed
// it, which signs and parses again to the same notice. With resign false,
// data is a signed notice as a peer sends it; with resign true, data is the
// content of a notice, signed by the trusted Shanghai key before Parse, so
// that the fuzzer reaches the checks behind the signature.
//
//	go test -run '^$' -fuzz '^FuzzParseNotice$' ./internal/notice/
func FuzzParseNotice(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	peers := trust.Set{list("310100", priv)}
	n := sample(t0)
	good, err := notice.Sign(n, priv)
	if err != nil {
		f.Fatal(err)
	}
	content, _ := json.Marshal(n)
	f.Add(good, false)
	f.Add(good[:len(good)/2], false)
	f.Add([]byte("a.b.c"), false)
	f.Add([]byte(`{"id":"x"}`), false)
	f.Add(content, true)
	f.Add([]byte(`{"id":"N0TICE0001","from":"310100","to":"330100","contacts":[]}`), true)
	kid := hex.EncodeToString(code.KeyID(priv.Public().(ed25519.PublicKey)))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(notice.Type).WithHeader("kid", kid))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, resign bool) {
		if resign {
			jws, err := signer.Sign(data)
			if err != nil {
				return
			}
			s, err := jws.CompactSerialize()
			if err != nil {
				return
			}
			data = []byte(s)
		}
		got, err := notice.Parse(data, peers, "330100", t0.Add(time.Minute))
		if err != nil {
			if c := healthcode.ErrorCode(err); (c != healthcode.EINVALID && c != healthcode.EFORBIDDEN) || healthcode.ErrorMessage(err) == "" {
				t.Fatalf("refused with %s %q", c, err)
			}
			return
		}
		if err := got.Validate(); err != nil || got.From != "310100" || got.To != "330100" {
			t.Fatalf("accepted a notice that is not valid for this region: %v %+v", err, got)
		}
		again, err := notice.Sign(got, priv)
		if err != nil {
			t.Fatalf("an accepted notice does not sign: %v", err)
		}
		back, err := notice.Parse(again, peers, "330100", t0.Add(time.Minute))
		if err != nil || !reflect.DeepEqual(normal(back), normal(got)) {
			t.Fatalf("signed again it parses to %+v, %v; want %+v", back, err, got)
		}
	})
}

// normal is n as JSON, so that times compare by value.
func normal(n *healthcode.ContactNotice) string {
	b, _ := json.Marshal(n)
	return string(b)
}
