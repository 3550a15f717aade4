package dcc_test

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dasio/base45"
	"github.com/google/go-cmp/cmp"
	"github.com/veraison/go-cose"

	"healthcode"
	"healthcode/internal/interop/dcc"
)

var (
	shanghai = time.FixedZone("CST", 8*3600)
	issueNow = time.Date(2022, 3, 20, 9, 30, 0, 0, shanghai)
)

func testKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func testDSC(tb testing.TB, key *ecdsa.PrivateKey, types ...dcc.Type) *x509.Certificate {
	tb.Helper()
	c, err := dcc.NewDSC(key, pkix.Name{Country: []string{"CN"}, CommonName: "Hangzhou DSC test"},
		issueNow.AddDate(-1, 0, 0), issueNow.AddDate(2, 0, 0), types...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func testIssuer(tb testing.TB, key *ecdsa.PrivateKey, dsc *x509.Certificate) *dcc.Issuer {
	tb.Helper()
	is, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: dsc, Country: "CN",
		Authority: "Hangzhou Municipal Health Commission", Location: shanghai})
	if err != nil {
		tb.Fatal(err)
	}
	return is
}

func resident() *healthcode.Resident {
	return &healthcode.Resident{Name: "张三丰", Sex: healthcode.Male, BirthDate: time.Date(1985, 6, 12, 0, 0, 0, 0, time.UTC)}
}

func holder(tb testing.TB) dcc.Holder {
	tb.Helper()
	h, err := dcc.HolderFor(resident(), "ZHANG, SANFENG")
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// issueAll issues one certificate of each type.
func issueAll(tb testing.TB, is *dcc.Issuer) map[dcc.Type]*dcc.Issued {
	tb.Helper()
	h := holder(tb)
	v, err := is.IssueVaccination(h, &healthcode.Vaccination{Product: "CoronaVac", Dose: 2, SeriesDoses: 2,
		Date: time.Date(2022, 3, 1, 0, 0, 0, 0, shanghai), Institution: "Xihu clinic"}, issueNow)
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := is.IssueTest(h, &healthcode.TestResult{Type: healthcode.PCR, Result: healthcode.Negative,
		SampledAt: issueNow.Add(-20 * time.Hour), ResultedAt: issueNow.Add(-8 * time.Hour), Institution: "Xihu lab"}, issueNow)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := is.IssueRecovery(h, &healthcode.Case{SampleDate: time.Date(2022, 2, 1, 0, 0, 0, 0, shanghai),
		ConfirmedAt: time.Date(2022, 2, 2, 10, 0, 0, 0, shanghai), DischargedAt: time.Date(2022, 2, 20, 10, 0, 0, 0, shanghai)}, issueNow)
	if err != nil {
		tb.Fatal(err)
	}
	return map[dcc.Type]*dcc.Issued{dcc.Vaccination: v, dcc.Test: tr, dcc.Recovery: r}
}

func verifier(tb testing.TB, certs ...*x509.Certificate) *dcc.Verifier {
	tb.Helper()
	v, err := dcc.NewVerifier(certs)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func allOK() map[string]string {
	m := map[string]string{}
	for _, c := range dcc.Checks {
		m[c] = dcc.OK
	}
	return m
}

// TestIssueVerifyDCC issues each type and checks that Verify accepts it
// with every check ok and decodes what was issued.
func TestIssueVerifyDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key, dcc.Vaccination, dcc.Test, dcc.Recovery)
	issued := issueAll(t, testIssuer(t, key, dsc))
	v := verifier(t, dsc)
	at := issueNow.Add(time.Hour)
	for typ, iss := range issued {
		if !strings.HasPrefix(iss.Payload, dcc.Prefix) {
			t.Fatalf("%s: payload %.20q", typ, iss.Payload)
		}
		r := v.Verify(iss.Payload, at)
		if !r.Valid || r.Reason != "" {
			t.Errorf("%s: not valid: %s", typ, r.Reason)
		}
		if d := cmp.Diff(allOK(), r.Checks); d != "" {
			t.Errorf("%s: checks (-want +got):\n%s", typ, d)
		}
		if r.Type != string(typ) || r.Issuer != "CN" || r.KeyID == "" || !r.IssuedAt.Equal(issueNow) {
			t.Errorf("%s: type %q issuer %q kid %q iat %v", typ, r.Type, r.Issuer, r.KeyID, r.IssuedAt)
		}
		c := r.Certificate
		wantName := dcc.Name{FamilyName: "张", FamilyNameStandard: "ZHANG", GivenName: "三丰", GivenNameStandard: "SANFENG"}
		if c == nil || c.Name != wantName || c.DateOfBirth != "1985-06-12" || c.Version != dcc.SchemaVersion {
			t.Fatalf("%s: decoded %+v", typ, c)
		}
		if len(iss.Payload) > 700 {
			t.Errorf("%s: payload is %d characters", typ, len(iss.Payload))
		}
	}

	vc := v.Verify(issued[dcc.Vaccination].Payload, at).Certificate.Vaccinations
	wantV := []dcc.VaccinationEntry{{Disease: "840539006", DiseaseName: "COVID-19",
		VaccineType: "1157024006", VaccineTypeName: "Inactivated whole SARS-CoV-2 antigen vaccine",
		Product: "CoronaVac", ProductName: "CoronaVac", Manufacturer: "Sinovac-Biotech", ManufacturerName: "Sinovac Biotech",
		DoseNumber: 2, SeriesDoses: 2, Date: "2022-03-01", Country: "CN", Issuer: "Hangzhou Municipal Health Commission",
		ID: issued[dcc.Vaccination].ID}}
	if d := cmp.Diff(wantV, vc); d != "" {
		t.Errorf("vaccination (-want +got):\n%s", d)
	}
	tc := v.Verify(issued[dcc.Test].Payload, at).Certificate.Tests
	wantT := []dcc.TestEntry{{Disease: "840539006", DiseaseName: "COVID-19",
		TestType: "LP6464-4", TestTypeName: "Nucleic acid amplification with probe detection",
		SampledAt: "2022-03-19T05:30:00Z", Result: "260415000", ResultName: "Not detected", Centre: "Xihu lab",
		Country: "CN", Issuer: "Hangzhou Municipal Health Commission", ID: issued[dcc.Test].ID}}
	if d := cmp.Diff(wantT, tc); d != "" {
		t.Errorf("test (-want +got):\n%s", d)
	}
	rc := v.Verify(issued[dcc.Recovery].Payload, at).Certificate.Recoveries
	wantR := []dcc.RecoveryEntry{{Disease: "840539006", DiseaseName: "COVID-19", FirstPositive: "2022-02-01",
		Country: "CN", Issuer: "Hangzhou Municipal Health Commission", ValidFrom: "2022-02-12", ValidUntil: "2022-07-31",
		ID: issued[dcc.Recovery].ID}}
	if d := cmp.Diff(wantR, rc); d != "" {
		t.Errorf("recovery (-want +got):\n%s", d)
	}
	if exp := issued[dcc.Recovery].ExpiresAt; !exp.Equal(time.Date(2022, 8, 1, 0, 0, 0, 0, shanghai)) {
		t.Errorf("recovery expires at %v, want the end of its du", exp)
	}

	// The clock outside iat..exp.
	r := v.Verify(issued[dcc.Test].Payload, issueNow.Add(-time.Minute))
	if r.Valid || !strings.HasPrefix(r.Checks[dcc.CheckExpiry], "failed: not yet valid") || r.Checks[dcc.CheckSignature] != dcc.OK {
		t.Errorf("before iat: %v", r.Checks)
	}
	r = v.Verify(issued[dcc.Test].Payload, issued[dcc.Test].ExpiresAt.Add(time.Second))
	if r.Valid || !strings.HasPrefix(r.Checks[dcc.CheckExpiry], "failed: expired") {
		t.Errorf("after exp: %v", r.Checks)
	}
}

// TestIssueKeyUsageDCC: a DSC restricted to one type verifies that type
// and fails key_usage for the others; a DSC with no DCC usage signs all.
func TestIssueKeyUsageDCC(t *testing.T) {
	for _, allowed := range []dcc.Type{dcc.Vaccination, dcc.Test, dcc.Recovery} {
		key := testKey(t)
		dsc := testDSC(t, key, allowed)
		v := verifier(t, dsc)
		for typ, iss := range issueAll(t, testIssuer(t, key, dsc)) {
			r := v.Verify(iss.Payload, issueNow)
			if typ == allowed {
				if !r.Valid {
					t.Errorf("DSC for %s, %s certificate: %s", allowed, typ, r.Reason)
				}
				continue
			}
			want := "failed: the DSC may sign " + string(allowed) + " certificates, not " + string(typ)
			if r.Valid || r.Checks[dcc.CheckKeyUsage] != want || r.Checks[dcc.CheckSignature] != dcc.OK {
				t.Errorf("DSC for %s, %s certificate: valid %v, checks %v", allowed, typ, r.Valid, r.Checks)
			}
		}
	}
	key := testKey(t)
	dsc := testDSC(t, key)
	v := verifier(t, dsc)
	for typ, iss := range issueAll(t, testIssuer(t, key, dsc)) {
		if r := v.Verify(iss.Payload, issueNow); !r.Valid {
			t.Errorf("unrestricted DSC, %s certificate: %s", typ, r.Reason)
		}
	}
}

// TestVerifyWrongKeyDCC: a certificate signed by another key, or whose
// DSC is not trusted, fails the signature and skips key_usage.
func TestVerifyWrongKeyDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key)
	iss := issueAll(t, testIssuer(t, key, dsc))[dcc.Test]

	r := verifier(t, testDSC(t, testKey(t))).Verify(iss.Payload, issueNow)
	if r.Valid || !strings.HasPrefix(r.Checks[dcc.CheckSignature], "failed: no trusted DSC has key id ") ||
		r.Checks[dcc.CheckKeyUsage] != dcc.Skipped || r.Checks[dcc.CheckSchema] != dcc.OK || r.Certificate == nil {
		t.Errorf("untrusted DSC: %v", r.Checks)
	}

	// The right key id, a signature that does not match.
	bad := rewrap(t, iss.Payload, func(cose []byte) []byte {
		cose[len(cose)-1] ^= 1
		return cose
	})
	r = verifier(t, dsc).Verify(bad, issueNow)
	if r.Valid || r.Checks[dcc.CheckSignature] != "failed: the ES256 signature does not match the DSC's key" ||
		r.Checks[dcc.CheckKeyUsage] != dcc.OK {
		t.Errorf("bad signature: %v", r.Checks)
	}
	if r := dcc.Verify(iss.Payload, []*x509.Certificate{dsc}, issueNow); !r.Valid {
		t.Errorf("package-level Verify: %s", r.Reason)
	}

	// Signed after the DSC expired.
	old, err := dcc.NewDSC(key, pkix.Name{CommonName: "expired DSC"}, issueNow.AddDate(-2, 0, 0), issueNow.AddDate(0, 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	late := issueAll(t, testIssuer(t, key, old))[dcc.Test]
	r = verifier(t, old).Verify(late.Payload, issueNow)
	if r.Valid || !strings.Contains(r.Checks[dcc.CheckSignature], "when its DSC was not valid") {
		t.Errorf("signed by an expired DSC: %v", r.Checks)
	}
}

// rewrap decodes a DCC payload down to its COSE bytes, changes them with
// f, and encodes the result again.
func rewrap(tb testing.TB, payload string, f func([]byte) []byte) string {
	tb.Helper()
	z, err := base45.DecodeString(strings.TrimPrefix(payload, dcc.Prefix))
	if err != nil {
		tb.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		tb.Fatal(err)
	}
	cose, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return dcc.Prefix + base45.EncodeToString(compress(tb, f(cose)))
}

func compress(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestVerifyGoCOSEDCC: a certificate signed by go-cose, another COSE
// implementation, verifies; one with its kid in the unprotected header
// only, too.
func TestVerifyGoCOSEDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key)
	iss := issueAll(t, testIssuer(t, key, dsc))[dcc.Recovery]
	signer, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	for name, headers := range map[string]cose.Headers{
		"kid protected":   {Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: dcc.KeyID(dsc)}},
		"kid unprotected": {Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256}, Unprotected: cose.UnprotectedHeader{cose.HeaderLabelKeyID: dcc.KeyID(dsc)}},
	} {
		payload := rewrap(t, iss.Payload, func(b []byte) []byte {
			var msg cose.Sign1Message
			if err := msg.UnmarshalCBOR(b); err != nil {
				t.Fatal(err)
			}
			out, err := cose.Sign1(rand.Reader, signer, headers, msg.Payload, nil)
			if err != nil {
				t.Fatal(err)
			}
			return out
		})
		if r := verifier(t, dsc).Verify(payload, issueNow); !r.Valid {
			t.Errorf("%s: %s", name, r.Reason)
		}
	}
}

func TestIssueRejectsDCC(t *testing.T) {
	key := testKey(t)
	is := testIssuer(t, key, testDSC(t, key))
	h := holder(t)
	day := time.Date(2022, 3, 1, 0, 0, 0, 0, shanghai)
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"unknown product", func() error {
			_, err := is.IssueVaccination(h, &healthcode.Vaccination{Product: "Sample", Dose: 1, SeriesDoses: 2, Date: day}, issueNow)
			return err
		}, `vaccine product "Sample" has no EU DCC code`},
		{"antibody test", func() error {
			_, err := is.IssueTest(h, &healthcode.TestResult{Type: healthcode.Antibody, Result: healthcode.Negative, SampledAt: day}, issueNow)
			return err
		}, "not \"antibody\""},
		{"case not discharged", func() error {
			_, err := is.IssueRecovery(h, &healthcode.Case{SampleDate: day}, issueNow)
			return err
		}, "not discharged"},
		{"recovery long past", func() error {
			_, err := is.IssueRecovery(h, &healthcode.Case{SampleDate: day.AddDate(-1, 0, 0), DischargedAt: day}, issueNow)
			return err
		}, "ended on"},
	} {
		err := tc.do()
		if healthcode.ErrorCode(err) != healthcode.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want EINVALID with %q", tc.name, err, tc.want)
		}
	}
	if _, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: testDSC(t, testKey(t)), Country: "China", Authority: "x"}); healthcode.ErrorCode(err) != healthcode.EINVALID ||
		!strings.Contains(err.Error(), "dsc: is not the certificate of the signing key") || !strings.Contains(err.Error(), "country") {
		t.Errorf("NewIssuer with a mismatched DSC and a bad country: %v", err)
	}
}

func TestIssueProductNamesDCC(t *testing.T) {
	key := testKey(t)
	is := testIssuer(t, key, testDSC(t, key))
	for product, want := range map[string]string{
		"CoronaVac": "CoronaVac", "coronavac": "CoronaVac", "BBIBP": "BBIBP-CorV", "BBIBP-CorV": "BBIBP-CorV",
		"Comirnaty": "EU/1/20/1528", "EU/1/20/1528": "EU/1/20/1528", "Spikevax": "EU/1/20/1507", "Sputnik V": "Sputnik-V",
	} {
		iss, err := is.IssueVaccination(holder(t), &healthcode.Vaccination{Product: product, Dose: 1, SeriesDoses: 2,
			Date: time.Date(2022, 3, 1, 0, 0, 0, 0, shanghai)}, issueNow)
		if err != nil {
			t.Errorf("%s: %v", product, err)
			continue
		}
		r := dcc.Verify(iss.Payload, nil, issueNow)
		if got := r.Certificate.Vaccinations[0].Product; got != want {
			t.Errorf("%s: encoded as %q, want %q", product, got, want)
		}
	}
}

func TestHolderForDCC(t *testing.T) {
	born := time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, latin string
		want        dcc.Name
		wantErr     string
	}{
		{"张三丰", "ZHANG, SANFENG", dcc.Name{FamilyName: "张", FamilyNameStandard: "ZHANG", GivenName: "三丰", GivenNameStandard: "SANFENG"}, ""},
		{"张三丰", "Zhang Sanfeng", dcc.Name{FamilyName: "张", FamilyNameStandard: "ZHANG", GivenName: "三丰", GivenNameStandard: "SANFENG"}, ""},
		{"欧阳修", "OUYANG XIU", dcc.Name{FamilyName: "欧阳", FamilyNameStandard: "OUYANG", GivenName: "修", GivenNameStandard: "XIU"}, ""},
		{"John Smith", "", dcc.Name{FamilyName: "Smith", FamilyNameStandard: "SMITH", GivenName: "John", GivenNameStandard: "JOHN"}, ""},
		{"Jiřina-Maria Alena d'Červenková", "", dcc.Name{FamilyName: "d'Červenková", FamilyNameStandard: "DCERVENKOVA",
			GivenName: "Jiřina-Maria Alena", GivenNameStandard: "JIRINA<MARIA<ALENA"}, ""},
		{"Jürgen Groß", "", dcc.Name{FamilyName: "Groß", FamilyNameStandard: "GROSS", GivenName: "Jürgen", GivenNameStandard: "JUERGEN"}, ""},
		{"Madonna", "", dcc.Name{FamilyName: "Madonna", FamilyNameStandard: "MADONNA"}, ""},
		{"张三丰", "", dcc.Name{}, "not in Latin letters"},
	} {
		h, err := dcc.HolderFor(&healthcode.Resident{Name: tc.name, BirthDate: born}, tc.latin)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if h.Name != tc.want || h.DateOfBirth != "1990-01-02" {
			t.Errorf("%s %q: %+v, want %+v", tc.name, tc.latin, h, tc.want)
		}
	}
}
