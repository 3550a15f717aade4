package code

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/dasio/base45"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"

	"healthcode"
)

// fuzzNow is the moment the fuzz targets of this package verify at.
var fuzzNow = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// fuzzIssuer returns the key the fuzz targets trust, and a resolver for it.
func fuzzIssuer() (ed25519.PrivateKey, KeyResolver) {
	seed := sha256.Sum256([]byte("fuzz issuer"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	key := Key{KID: KeyID(pub), Region: "330100", Public: pub,
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)}
	return priv, KeyResolverFunc(func(kid []byte) []Key {
		if string(kid) == string(key.KID) {
			return []Key{key}
		}
		return nil
	})
}

// signCOSE returns an untagged COSE_Sign1 of claims (any bytes) under the
// protected header codes use, signed with priv: what a hostile or careless
// issuer holding a trusted key could make.
func signCOSE(tb testing.TB, priv ed25519.PrivateKey, claims []byte) []byte {
	tb.Helper()
	prot := append([]byte{0xa2, 0x01, 0x27, 0x04, 0x40 | KeyIDLen}, KeyID(priv.Public().(ed25519.PublicKey))...)
	tbs, err := cbor.Marshal([]any{"Signature1", prot, []byte{}, claims})
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := cbor.Marshal([]any{prot, cbor.RawMessage{0xa0}, claims, ed25519.Sign(priv, tbs)})
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

// wellFormed is the reference CBOR decoder the scanner is compared with. It
// leaves UTF-8 to the decoders after the scan, as the scanner does.
var wellFormed = func() cbor.DecMode {
	m, err := cbor.DecOptions{UTF8: cbor.UTF8DecodeInvalid, MaxNestedLevels: 16, IndefLength: cbor.IndefLengthForbidden,
		TagsMd: cbor.TagsForbidden}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// FuzzDecodeCOSE fuzzes the CBOR and COSE_Sign1 layer of codes (under
// base45, which FuzzDecodeBase45 covers). With resign false, data is the
// COSE_Sign1, as a code carries it; with resign true, data is the claims,
// signed by the trusted key before Verify, so that the fuzzer reaches the
// claims decoder behind the signature. It checks that the scanner accepts
// only CBOR that a reference decoder finds well-formed; that a properly
// signed code is never called unsigned or bad; that rejections are
// *VerifyErrors with a reason; and that accepted claims sign again to the
// same claims.
//
//	go test -run '^$' -fuzz '^FuzzDecodeCOSE$' ./internal/code/
func FuzzDecodeCOSE(f *testing.F) {
	priv, keys := fuzzIssuer()
	signer := NewSigner(priv)
	var claims [][]byte
	for _, c := range []Claims{
		{Subject: "ABCDEFGH", IssuedAt: fuzzNow.Add(-time.Minute), ExpiresAt: fuzzNow.Add(4 * time.Minute),
			Color: healthcode.Green, MaskedName: "张*丰", BirthYear: 1986, Kind: Phone},
		{Subject: "Z7Y6X5W4", IssuedAt: fuzzNow.Add(-time.Minute), ExpiresAt: fuzzNow.Add(4 * time.Minute),
			Color: healthcode.Red, Vaccinated: true, MaskedName: "J*** SMITH", BirthYear: 1952, Kind: Phone,
			NegativeTestAt: fuzzNow.Add(-30 * time.Hour)},
		{Subject: "ABCDEFGH", IssuedAt: fuzzNow.Add(-30 * 24 * time.Hour), ExpiresAt: fuzzNow.Add(300 * 24 * time.Hour),
			MaskedName: "欧阳*娜", BirthYear: 1940, Kind: Paper, StatusIndex: 123456},
	} {
		p, err := signer.Sign(c)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := base45.DecodeString(p[len(Prefix):])
		if err != nil {
			f.Fatal(err)
		}
		parts, verr := scanSign1(raw)
		if verr != nil {
			f.Fatal(verr)
		}
		f.Add(raw, false)
		f.Add(raw[:len(raw)-1], false)
		f.Add(append([]byte{0xd2}, raw...), false)
		claims = append(claims, raw[parts.payloadStart:parts.payloadEnd])
		f.Add(raw[parts.payloadStart:parts.payloadEnd], true)
	}
	for _, b := range [][]byte{
		{}, {0x84}, {0x84, 0x40, 0xa0, 0x40, 0x40}, {0x84, 0x43, 0xa1, 0x01, 0x27, 0xa0, 0x41, 0xa0, 0x58, 0x40},
		{0x9f, 0xff}, {0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00}, {0xf8, 0x10}, {0xfb, 0, 0, 0, 0, 0, 0, 0, 0}, {0x18, 0x01},
	} {
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add(append([]byte{0xa7}, claims[0][1:]...), true)                          // a claim short
	f.Add(append(append([]byte{0xa7}, claims[0][1:]...), 0x22, 0x61, 'X'), true) // duplicate -3
	f.Add(append(append([]byte{0xa7}, claims[0][1:]...), 0x28, 0x01), true)      // unknown claim -9

	f.Fuzz(func(t *testing.T, data []byte, resign bool) {
		if end, err := cborSkip(data, 0, "the item", 0); err == nil {
			if end <= 0 || end > len(data) {
				t.Fatalf("cborSkip(% x) = %d", data, end)
			}
			if werr := wellFormed.Wellformed(data[:end]); werr != nil {
				t.Fatalf("the scanner accepts % x, which is not well-formed CBOR: %v", data[:end], werr)
			}
		} else if err.Reason != Malformed || err.Offset < 0 || err.Offset > len(data) {
			t.Fatalf("cborSkip(% x): error %+v", data, err)
		}
		raw := data
		if resign {
			raw = signCOSE(t, priv, data)
		}
		if _, err := scanSign1(raw); err == nil {
			if werr := wellFormed.Wellformed(raw); werr != nil {
				t.Fatalf("scanSign1 accepts % x, which is not well-formed CBOR: %v", raw, werr)
			}
		}
		payload := Prefix + base45.EncodeToString(raw)
		before := heapAllocated()
		c, _, verr := verify(payload, keys, fuzzNow)
		if alloc := heapAllocated() - before; alloc > allocSlack+64*uint64(len(payload)) {
			t.Errorf("verify of %d characters allocated %d bytes", len(payload), alloc)
		}
		if verr != nil {
			if verr.Detail == "" || verr.Reason == NotACode {
				t.Fatalf("verify(% x): error %+v", raw, verr)
			}
			if resign && len(payload) <= MaxPayloadLen && (verr.Reason == BadSignature || verr.Reason == UnknownIssuer) {
				t.Fatalf("claims % x, signed by the trusted key: rejected as %s: %s", data, verr.Reason, verr.Detail)
			}
			return
		}
		if !c.ExpiresAt.After(c.IssuedAt) || !ValidSubject(c.Subject) || (c.Kind != Phone && c.Kind != Paper) ||
			c.MaskedName == "" || c.BirthYear < minBirthYear {
			t.Fatalf("verify(% x) accepted odd claims %+v", raw, c)
		}
		again, err := signer.Sign(c)
		if err != nil {
			t.Fatalf("Sign of the claims of % x: %v", raw, err)
		}
		c2, _, verr := verify(again, keys, fuzzNow)
		if verr != nil {
			t.Fatalf("verify of the claims of % x, signed again: %v", raw, verr)
		}
		if diff := cmp.Diff(c, c2); diff != "" {
			t.Fatalf("claims of % x signed again (-first +again):\n%s", raw, diff)
		}
	})
}
