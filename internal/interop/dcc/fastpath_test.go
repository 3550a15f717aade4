package dcc_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/dasio/base45"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"

	"healthcode/internal/interop/dcc"
)

// paths is a Verifier with the fast path and one without, neither
// remembering payloads.
type paths struct{ fast, general *dcc.Verifier }

func newPaths(tb testing.TB, certs ...*x509.Certificate) paths {
	tb.Helper()
	p := paths{verifier(tb, certs...), verifier(tb, certs...)}
	p.fast.SetMemoSize(0)
	p.general.SetMemoSize(0)
	dcc.DisableFastPath(p.general)
	return p
}

// agree verifies payload with the fast path and without and reports any
// difference in the results. It returns whether the fast path read it.
func (p paths) agree(t *testing.T, name, payload string, at time.Time) bool {
	t.Helper()
	want := p.general.Verify(payload, at)
	if d := cmp.Diff(want, p.fast.Verify(payload, at)); d != "" {
		t.Errorf("%s: the fast path says otherwise (-general +fast):\n%s", name, d)
	}
	return strings.HasPrefix(payload, dcc.Prefix) && dcc.ParsesFast(p.fast, strings.TrimRight(payload, "\r\n"))
}

// TestFastPathAgreesDCC: for every test vector and every certificate we
// issue, the fast path and the general path give the same result, and the
// fast path reads every vector whose COSE and schema checks pass that is
// written the usual way.
func TestFastPathAgreesDCC(t *testing.T) {
	var fast, schemaOK int
	for _, v := range loadVectors(t) {
		var certs []*x509.Certificate
		if v.TestCtx.Certificate != "" {
			c, err := dcc.ParseCertificates([]byte(v.TestCtx.Certificate))
			if err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			certs = c
		}
		at, err := dcc.ParseTime(v.TestCtx.ValidationClock)
		if err != nil {
			t.Fatal(err)
		}
		if newPaths(t, certs...).agree(t, v.name, v.Prefix, at) {
			fast++
		}
		if r := dcc.Verify(v.Prefix, certs, at); r.Checks[dcc.CheckSchema] == dcc.OK {
			schemaOK++
		}
	}
	t.Logf("the fast path read %d vectors; %d pass the schema", fast, schemaOK)
	if fast < schemaOK*3/4 {
		t.Errorf("the fast path read only %d vectors of the %d that pass the schema", fast, schemaOK)
	}

	key := testKey(t)
	dsc := testDSC(t, key)
	p := newPaths(t, dsc)
	for typ, iss := range issueAll(t, testIssuer(t, key, dsc)) {
		if !p.agree(t, string(typ), iss.Payload, issueNow) {
			t.Errorf("the fast path does not read the %s certificate we issue", typ)
		}
	}
}

// TestFastPathSchemaDCC signs DCCs that break one rule of the schema each
// (and some that keep to it in unusual ways) and checks that the fast path
// and the general path agree on every one.
func TestFastPathSchemaDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key)
	s := newDCCSigner(t, key, dsc)
	nam := map[string]any{"fn": "Zhang", "fnt": "ZHANG", "gn": "Sanfeng", "gnt": "SANFENG"}
	vac := func() map[string]any {
		return map[string]any{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
			"dn": 2, "sd": 2, "dt": "2021-06-01", "co": "CN", "is": "Hangzhou", "ci": "URN:UVCI:01:CN:X"}
	}
	test := func() map[string]any {
		return map[string]any{"tg": "840539006", "tt": "LP6464-4", "nm": "PCR", "sc": "2021-06-01T10:00:00Z", "tr": "260415000",
			"tc": "Xihu lab", "co": "CN", "is": "Hangzhou", "ci": "URN:UVCI:01:CN:Y"}
	}
	rec := func() map[string]any {
		return map[string]any{"tg": "840539006", "fr": "2021-05-01", "co": "CN", "is": "Hangzhou", "df": "2021-05-12",
			"du": "2021-10-28", "ci": "URN:UVCI:01:CN:Z"}
	}
	doc := func(group string, e map[string]any) map[string]any {
		return map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06-12", group: []any{e}}
	}
	with := func(e map[string]any, k string, v any) map[string]any {
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
		return e
	}
	long := strings.Repeat("é", 81)
	cases := map[string]any{
		"vaccination": doc("v", vac()), "test": doc("t", test()), "recovery": doc("r", rec()),
		"dn 0": doc("v", with(vac(), "dn", 0)), "dn -1": doc("v", with(vac(), "dn", -1)), "dn float": doc("v", with(vac(), "dn", 2.0)),
		"dn 1.5": doc("v", with(vac(), "dn", 1.5)), "dn text": doc("v", with(vac(), "dn", "2")), "dn huge": doc("v", with(vac(), "dn", uint64(1)<<40)),
		"no ci": doc("v", with(vac(), "ci", nil)), "extra key": doc("v", with(vac(), "xx", "y")),
		"co empty": doc("v", with(vac(), "co", "")), "co lower": doc("v", with(vac(), "co", "cn")), "co mixed": doc("v", with(vac(), "co", "c1N")),
		"dt bad": doc("v", with(vac(), "dt", "2021-02-30")), "dt time": doc("v", with(vac(), "dt", "2021-06-01T00:00:00Z")),
		"is long": doc("v", with(vac(), "is", long)), "is 80": doc("v", with(vac(), "is", long[2:])),
		"tg number": doc("v", with(vac(), "tg", 840539006)), "ci bytes": doc("v", with(vac(), "ci", []byte("x"))),
		"ci null":   doc("v", with(vac(), "ci", cbor.RawMessage{0xf6})),
		"sc offset": doc("t", with(test(), "sc", "2021-06-01T10:00:00+02:00")), "sc fraction": doc("t", with(test(), "sc", "2021-06-01T10:00:00.123Z")),
		"sc no zone": doc("t", with(test(), "sc", "2021-06-01T10:00:00")), "sc lower t": doc("t", with(test(), "sc", "2021-06-01t10:00:00z")),
		"sc leap": doc("t", with(test(), "sc", "2021-06-30T23:59:60Z")), "sc hour 24": doc("t", with(test(), "sc", "2021-06-01T24:00:00Z")),
		"sc offset 24": doc("t", with(test(), "sc", "2021-06-01T10:00:00+24:00")), "sc date": doc("t", with(test(), "sc", "2021-06-01")),
		"sc no fraction digits": doc("t", with(test(), "sc", "2021-06-01T10:00:00.Z")),
		"no nm":                 doc("t", with(test(), "nm", nil)), "no tc": doc("t", with(test(), "tc", nil)), "ma": doc("t", with(test(), "ma", "1232")),
		"fr bad": doc("r", with(rec(), "fr", "2021-5-01")), "du empty": doc("r", with(rec(), "du", "")),
		"two groups":     map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06-12", "v": []any{vac()}, "t": []any{test()}},
		"no group":       map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06-12"},
		"two doses":      map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06-12", "v": []any{vac(), vac()}},
		"no doses":       map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06-12", "v": []any{}},
		"v not array":    map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06-12", "v": vac()},
		"ver 1.3":        map[string]any{"ver": "1.3", "nam": nam, "dob": "1985-06-12", "v": []any{vac()}},
		"ver 1x3x0":      map[string]any{"ver": "1x3x0", "nam": nam, "dob": "1985-06-12", "v": []any{vac()}},
		"ver 10.20.300":  map[string]any{"ver": "10.20.300", "nam": nam, "dob": "1985-06-12", "v": []any{vac()}},
		"dob year":       map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985", "v": []any{vac()}},
		"dob month":      map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06", "v": []any{vac()}},
		"dob empty":      map[string]any{"ver": "1.3.0", "nam": nam, "dob": "", "v": []any{vac()}},
		"dob 1899":       map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1899-06-12", "v": []any{vac()}},
		"dob slash":      map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985/06/12", "v": []any{vac()}},
		"dob 13th month": map[string]any{"ver": "1.3.0", "nam": nam, "dob": "1985-13-12", "v": []any{vac()}},
		"no dob":         map[string]any{"ver": "1.3.0", "nam": nam, "v": []any{vac()}},
		"no ver":         map[string]any{"nam": nam, "dob": "1985-06-12", "v": []any{vac()}},
		"fnt lower":      map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": "Zhang"}, "dob": "1985-06-12", "v": []any{vac()}},
		"fnt only":       map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": "ZHANG<SAN"}, "dob": "1985-06-12", "v": []any{vac()}},
		"fnt empty":      map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": ""}, "dob": "1985-06-12", "v": []any{vac()}},
		"no fnt":         map[string]any{"ver": "1.3.0", "nam": map[string]any{"fn": "Zhang"}, "dob": "1985-06-12", "v": []any{vac()}},
		"gnt space":      map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": "ZHANG", "gnt": "SAN FENG"}, "dob": "1985-06-12", "v": []any{vac()}},
		"fn long":        map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": "ZHANG", "fn": long}, "dob": "1985-06-12", "v": []any{vac()}},
		"nam array":      map[string]any{"ver": "1.3.0", "nam": []any{"ZHANG"}, "dob": "1985-06-12", "v": []any{vac()}},
		"int key":        map[any]any{"ver": "1.3.0", "nam": nam, "dob": "1985-06-12", "v": []any{vac()}, 7: "x"},
		"not a map":      []any{"1.3.0"},
	}
	var fast int
	p := newPaths(t, dsc)
	for name, d := range cases {
		if p.agree(t, name, s.sign(t, d), issueNow) {
			fast++
		}
	}
	t.Logf("%d of %d variants took the fast path", fast, len(cases))
}

// dccSigner signs arbitrary DCC content as a certificate valid at issueNow.
type dccSigner struct {
	key *ecdsa.PrivateKey
	kid []byte
}

func newDCCSigner(tb testing.TB, key *ecdsa.PrivateKey, dsc *x509.Certificate) *dccSigner {
	return &dccSigner{key: key, kid: dcc.KeyID(dsc)}
}

// sign encodes dcc (any value, or CBOR bytes as a cbor.RawMessage) in a CWT
// and returns the signed QR text.
func (s *dccSigner) sign(tb testing.TB, content any) string {
	tb.Helper()
	claims, err := cbor.Marshal(map[int]any{1: "CN", 6: issueNow.Add(-time.Hour).Unix(), 4: issueNow.Add(time.Hour).Unix(), -260: map[int]any{1: content}})
	if err != nil {
		tb.Fatal(err)
	}
	return s.signClaims(tb, claims)
}

func (s *dccSigner) signClaims(tb testing.TB, claims []byte) string {
	tb.Helper()
	protected, err := cbor.Marshal(map[int]any{1: -7, 4: s.kid})
	if err != nil {
		tb.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", protected, []byte{}, claims})
	if err != nil {
		tb.Fatal(err)
	}
	digest := sha256.Sum256(tbs)
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	msg, err := cbor.Marshal(cbor.Tag{Number: 18, Content: []any{protected, map[int]any{}, claims, sig}})
	if err != nil {
		tb.Fatal(err)
	}
	return dcc.Prefix + base45.EncodeToString(compress(tb, msg))
}

// coseOf returns the COSE bytes of a payload.
func coseOf(tb testing.TB, payload string) []byte {
	tb.Helper()
	var out []byte
	rewrap(tb, payload, func(b []byte) []byte { out = bytes.Clone(b); return b })
	return out
}

// dccOf returns the DCC's CBOR from COSE bytes.
func dccOf(tb testing.TB, cose []byte) []byte {
	tb.Helper()
	var msg struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected cbor.RawMessage
		Payload     []byte
		Signature   []byte
	}
	if err := cbor.Unmarshal(cose[1:], &msg); err != nil {
		tb.Fatal(err)
	}
	var claims struct {
		HCert map[int]cbor.RawMessage `cbor:"-260,keyasint"`
	}
	if err := cbor.Unmarshal(msg.Payload, &claims); err != nil {
		tb.Fatal(err)
	}
	return claims.HCert[1]
}

// TestFastPathCOSEDCC mutates the COSE bytes of issued certificates and of
// the vectors, one byte at a time, and checks that the two paths agree.
func TestFastPathCOSEDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key)
	iss := issueAll(t, testIssuer(t, key, dsc))[dcc.Test]
	cose := coseOf(t, iss.Payload)
	p := newPaths(t, dsc)
	for i := range cose {
		for _, b := range []byte{0x00, 0x17, 0x18, 0x1f, 0x40, 0x60, 0x7f, 0xa0, 0xbf, 0xf6, 0xff, cose[i] ^ 1, cose[i] + 1, cose[i] - 1} {
			m := bytes.Clone(cose)
			m[i] = b
			p.agree(t, "byte "+hex.EncodeToString([]byte{byte(i >> 8), byte(i)})+"="+hex.EncodeToString([]byte{b}), dcc.Prefix+base45.EncodeToString(compress(t, m)), issueNow)
		}
	}
}

// TestECDSASigDERDCC: the signature's DER is what encoding/asn1 writes.
func TestECDSASigDERDCC(t *testing.T) {
	for _, n := range []int{1, 2, 32, 48, 66, 128, 256} {
		for k := 0; k < 50; k++ {
			b := make([]byte, 2*n)
			_, _ = rand.Read(b)
			switch k % 5 {
			case 1:
				clear(b[:n/2+1])
			case 2:
				b[0], b[n] = 0x80, 0x7f
			case 3:
				clear(b)
			}
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(b[:n]), new(big.Int).SetBytes(b[n:])})
			if err != nil {
				t.Fatal(err)
			}
			if got := dcc.ECDSASigDER(b[:n], b[n:]); !bytes.Equal(got, want) {
				t.Errorf("%x: got %x, want %x", b, got, want)
			}
		}
	}
}
