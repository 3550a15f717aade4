package shc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/interop/shc"
)

var shanghai = time.FixedZone("CST", 8*3600)

// testKey is a fixed P-256 key, so that kids are stable across runs.
func testKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	d, _ := hex.DecodeString("4f3a8e9c1b2d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f")
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

func testIssuer(tb testing.TB) *shc.Issuer {
	return &shc.Issuer{URL: "https://hc.hangzhou.example", Key: testKey(tb), Location: shanghai,
		RevocationSecret: []byte("0123456789abcdef0123456789abcdef")}
}

func resident() *healthcode.Resident {
	return &healthcode.Resident{ID: 7, Name: "张三", Sex: healthcode.Male, BirthDate: time.Date(1985, 6, 12, 0, 0, 0, 0, time.UTC),
		Nationality: "CHN", IDType: healthcode.ResidentIDCard, IDNumber: "330106198506121237", Phone: "13800138000",
		Region: "330106", Address: "西湖区文三路 1 号", Pseudonym: "k3j9x2ma"}
}

func civil(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, shanghai) }

var issued = time.Date(2022, 3, 10, 9, 30, 0, 0, shanghai)

func vaccinations() []healthcode.Vaccination {
	return []healthcode.Vaccination{
		{ID: 2, Product: "CoronaVac", Dose: 2, SeriesDoses: 2, Date: civil(2022, 3, 1), Institution: "西湖区疾控中心"},
		{ID: 1, Product: "CoronaVac", Dose: 1, SeriesDoses: 2, Date: civil(2022, 2, 8), Institution: "西湖区疾控中心"},
	}
}

func keysOf(tb testing.TB, is *shc.Issuer) *shc.Keys {
	tb.Helper()
	jwks, err := is.JWKS()
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := shc.ParseKeys(jwks)
	if err != nil {
		tb.Fatal(err)
	}
	keys.Issuer = is.URL
	return keys
}

// TestIssuePayload pins the payload of a vaccination card: minified, in the
// spec's shape, with the dates as civil dates in the region, and nothing but
// the name and birth date about the person.
func TestIssuePayload(t *testing.T) {
	is := testIssuer(t)
	card, err := is.Issue(shc.Records{Resident: resident(), Vaccinations: vaccinations()}, issued, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	kid, err := shc.KeyID(&is.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rid := is.RevocationID(kid, resident())
	want := `{"iss":"https://hc.hangzhou.example","nbf":1646875800,"vc":{"type":["https://smarthealth.cards#health-card"],` +
		`"credentialSubject":{"fhirVersion":"4.0.1","fhirBundle":{"resourceType":"Bundle","type":"collection","entry":[` +
		`{"fullUrl":"resource:0","resource":{"resourceType":"Patient","name":[{"text":"张三"}],"birthDate":"1985-06-12"}},` +
		`{"fullUrl":"resource:1","resource":{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"511"}]},"patient":{"reference":"resource:0"},"occurrenceDateTime":"2022-02-08","performer":[{"actor":{"display":"西湖区疾控中心"}}]}},` +
		`{"fullUrl":"resource:2","resource":{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"511"}]},"patient":{"reference":"resource:0"},"occurrenceDateTime":"2022-03-01","performer":[{"actor":{"display":"西湖区疾控中心"}}]}}` +
		`]}},"rid":"` + rid + `"}}`
	if string(card.Payload) != want {
		t.Errorf("payload\n got %s\nwant %s", card.Payload, want)
	}
	for _, secret := range []string{"330106198506121237", "13800138000", "文三路", "k3j9x2ma"} {
		if strings.Contains(string(card.Payload), secret) {
			t.Errorf("the card carries %q", secret)
		}
	}
	if len(rid) != 11 {
		t.Errorf("rid %q: want 11 base64url characters (64 bits)", rid)
	}

	// The header the spec requires: ES256, zip DEF, kid the thumbprint.
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(card.JWS, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"alg": "ES256", "kid": kid, "zip": "DEF"}, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if card.QR[0] != shc.EncodeQR(card.JWS)[0] || len(card.QR) != 1 {
		t.Errorf("QR: %d texts", len(card.QR))
	}
}

// TestIssueVerify: what we issue, our verifier accepts, as a JWS, a file
// and a QR code, and shows what was issued.
func TestIssueVerify(t *testing.T) {
	is := testIssuer(t)
	keys := keysOf(t, is)
	now := issued.Add(time.Hour)
	tests := []healthcode.TestResult{
		{ID: 3, Type: healthcode.PCR, Result: healthcode.Negative, SampledAt: time.Date(2022, 3, 9, 8, 0, 0, 0, shanghai),
			ResultedAt: time.Date(2022, 3, 9, 20, 0, 0, 0, shanghai), Institution: "浙江省人民医院"},
		{ID: 4, Type: healthcode.Antigen, Result: healthcode.Positive, SampledAt: time.Date(2022, 3, 10, 7, 0, 0, 0, shanghai)},
	}
	for _, tc := range []struct {
		name string
		rec  shc.Records
		want func(*shc.Result)
	}{
		{"vaccinations", shc.Records{Resident: resident(), Vaccinations: vaccinations()}, func(r *shc.Result) {
			coronavac := shc.Coding{System: shc.SystemCVX, Code: "511", Display: "Sinovac COVID-19 (CoronaVac)"}
			r.Immunizations = []shc.Immunization{
				{Date: "2022-02-08", Status: "completed", Vaccine: coronavac, Performer: "西湖区疾控中心"},
				{Date: "2022-03-01", Status: "completed", Vaccine: coronavac, Performer: "西湖区疾控中心"},
			}
			r.Resources = map[string]int{"Patient": 1, "Immunization": 2}
		}},
		{"tests", shc.Records{Resident: resident(), Tests: tests}, func(r *shc.Result) {
			r.Observations = []shc.Observation{
				{Date: "2022-03-09T00:00:00Z", Status: "final", Code: shc.Coding{System: shc.SystemLOINC, Code: "94500-6", Display: "SARS-CoV-2 RNA, NAA (PCR)"},
					Result: &shc.Coding{System: shc.SystemSNOMED, Code: "260385009", Display: "negative"}, Performer: "浙江省人民医院"},
				{Date: "2022-03-09T23:00:00Z", Status: "final", Code: shc.Coding{System: shc.SystemLOINC, Code: "94558-4", Display: "SARS-CoV-2 antigen, rapid immunoassay"},
					Result: &shc.Coding{System: shc.SystemSNOMED, Code: "10828004", Display: "positive"}},
			}
			r.Resources = map[string]int{"Patient": 1, "Observation": 2}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card, err := is.Issue(tc.rec, issued, issued.AddDate(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			kid, _ := shc.KeyID(&is.Key.PublicKey)
			want := &shc.Result{Valid: true, Reason: "valid SMART Health Card issued by " + is.URL,
				Checks: shc.Checks{Decode: "ok", Algorithm: "ok", KeyID: "ok", Signature: "ok", Deflate: "ok", Payload: "ok",
					Issuer: "ok", NotBefore: "ok", Expiry: "ok", Bundle: "ok", Revocation: "skipped"},
				Notes:  []string{"revocation: the issuer keeps no revocation list for key " + kid + " (no crlVersion)"},
				Issuer: is.URL, KeyID: kid, IssuedAt: issued.UTC(), ExpiresAt: issued.AddDate(1, 0, 0).UTC(),
				RevocationID: is.RevocationID(kid, resident()), Types: []string{shc.HealthCardType},
				Patient: &shc.Patient{Name: "张三", BirthDate: "1985-06-12"}}
			tc.want(want)
			for _, input := range [][]string{{card.JWS}, {string(card.File())}, card.QR} {
				r := verifyOne(t, keys, now, input...)
				if diff := cmp.Diff(want, r, cmpResult); diff != "" {
					t.Errorf("%.20s: (-want +got):\n%s", input[0], diff)
				}
				if string(r.Payload) != string(card.Payload) || r.JWS != card.JWS {
					t.Errorf("%.20s: payload or JWS differs from what was issued", input[0])
				}
			}
		})
	}
}

// TestIssueChunked: a card too long for one QR code is split into balanced
// chunks of at most 1191 characters, read back in any order.
func TestIssueChunked(t *testing.T) {
	is := testIssuer(t)
	var vs []healthcode.Vaccination
	for i := range 40 {
		vs = append(vs, healthcode.Vaccination{ID: int64(i), Product: "Comirnaty", Dose: i + 1, SeriesDoses: 2,
			Date: civil(2021, 1, 1).AddDate(0, 0, 7*i), Institution: "Clinic " + strings.Repeat("x", i)})
	}
	card, err := is.Issue(shc.Records{Resident: resident(), Vaccinations: vs}, issued, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(card.JWS) <= shc.MaxSingleQR || len(card.QR) < 2 {
		t.Fatalf("JWS of %d characters in %d QR texts: want a card that needs chunks", len(card.JWS), len(card.QR))
	}
	var sizes []int
	for i, q := range card.QR {
		prefix := "shc:/" + string(rune('1'+i)) + "/" + string(rune('0'+len(card.QR))) + "/"
		if !strings.HasPrefix(q, prefix) {
			t.Errorf("chunk %d starts %.12q, want %q", i+1, q, prefix)
		}
		sizes = append(sizes, (len(q)-len(prefix))/2)
	}
	if slices.Max(sizes) > shc.MaxChunk || slices.Max(sizes)-slices.Min(sizes) > 1 {
		t.Errorf("chunk sizes %v: want balanced, at most %d", sizes, shc.MaxChunk)
	}
	shuffled := slices.Clone(card.QR)
	slices.Reverse(shuffled)
	r := verifyOne(t, keysOf(t, is), issued, shuffled...)
	if !r.Valid || len(r.Immunizations) != 40 || r.Immunizations[0].Vaccine.Code != "208" {
		t.Errorf("valid %v (%s), %d immunizations", r.Valid, r.Reason, len(r.Immunizations))
	}
}

// TestIssueRevoke: the issuer revokes a resident's cards by listing their
// rid; a verifier with that list rejects them.
func TestIssueRevoke(t *testing.T) {
	is := testIssuer(t)
	keys := keysOf(t, is)
	card, err := is.Issue(shc.Records{Resident: resident(), Vaccinations: vaccinations()}, issued, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := shc.KeyID(&is.Key.PublicKey)
	rid := is.RevocationID(kid, resident())
	other := resident()
	other.Pseudonym = "other123"
	if is.RevocationID(kid, other) == rid {
		t.Fatal("two residents share a rid")
	}
	l, err := shc.ParseRevocationList([]byte(`{"kid":"` + kid + `","method":"rid","ctr":2,"rids":["` + rid + `"]}`))
	if err != nil {
		t.Fatal(err)
	}
	keys.AddRevocationList(l)
	r := verifyOne(t, keys, issued, card.JWS)
	if want := "failed: rid " + rid + " is on the issuer's revocation list (ctr 2)"; r.Valid || r.Checks.Revocation != want {
		t.Errorf("valid %v, revocation %q, want %q", r.Valid, r.Checks.Revocation, want)
	}
}

// TestIssueJWKSOverHTTP serves the issuer's JWKS where the spec puts it and
// verifies a card against its URL: the issuer is the URL's.
func TestIssueJWKSOverHTTP(t *testing.T) {
	var is *shc.Issuer
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+shc.WellKnownJWKS, func(w http.ResponseWriter, r *http.Request) {
		data, err := is.JWKS()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	is = testIssuer(t)
	is.URL = srv.URL // http on loopback is accepted for tests
	card, err := is.Issue(shc.Records{Resident: resident(), Vaccinations: vaccinations()}, issued, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := shc.LoadKeys(ctx, srv.URL+shc.WellKnownJWKS)
	if err != nil {
		t.Fatal(err)
	}
	r := verifyOne(t, keys, issued, card.QR...)
	if !r.Valid || r.Checks.Issuer != "ok" {
		t.Errorf("valid %v, issuer %q: %s", r.Valid, r.Checks.Issuer, r.Reason)
	}
}

func TestIssueErrors(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec := shc.Records{Resident: resident(), Vaccinations: vaccinations()}
	for _, tc := range []struct {
		name    string
		edit    func(*shc.Issuer, *shc.Records)
		expires time.Time
		want    string
	}{
		{"no key", func(is *shc.Issuer, _ *shc.Records) { is.Key = nil }, time.Time{}, "the signing key must be EC P-256"},
		{"P-384 key", func(is *shc.Issuer, _ *shc.Records) { is.Key = p384 }, time.Time{}, "the signing key must be EC P-256"},
		{"trailing slash", func(is *shc.Issuer, _ *shc.Records) { is.URL += "/" }, time.Time{}, "ends with a slash"},
		{"plain http", func(is *shc.Issuer, _ *shc.Records) { is.URL = "http://hc.example" }, time.Time{}, "is not an https URL"},
		{"no resident", func(_ *shc.Issuer, r *shc.Records) { r.Resident = nil }, time.Time{}, "no resident"},
		{"no records", func(_ *shc.Issuer, r *shc.Records) { r.Vaccinations = nil }, time.Time{}, "nothing to put on the card"},
		{"expires before issue", func(*shc.Issuer, *shc.Records) {}, issued.Add(-time.Hour), "expiry must be after"},
		{"unknown test type", func(_ *shc.Issuer, r *shc.Records) {
			r.Tests = []healthcode.TestResult{{Type: "smell", Result: healthcode.Negative, SampledAt: issued}}
		}, time.Time{}, `unknown type "smell"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is, r := testIssuer(t), rec
			tc.edit(is, &r)
			_, err := is.Issue(r, issued, tc.expires)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestVaccineCVX(t *testing.T) {
	for product, want := range map[string]string{
		"CoronaVac": "511", "Sinovac CoronaVac": "511", "BBIBP-CorV": "510", "BBIBP": "510", "Comirnaty": "208",
		"Pfizer-BioNTech": "208", "Spikevax": "207", "Vaxzevria": "210", "Jcovden": "212", "Nuvaxovid": "211", "ZF2001": "213",
	} {
		if got := shc.VaccineCVX(product); got != want {
			t.Errorf("VaccineCVX(%q) = %s, want %s", product, got, want)
		}
	}
}

func TestJWKS(t *testing.T) {
	is := testIssuer(t)
	data, err := is.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("%s: %v", data, err)
	}
	k := set.Keys[0]
	kid, _ := shc.KeyID(&is.Key.PublicKey)
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["use"] != "sig" || k["alg"] != "ES256" || k["kid"] != kid || k["d"] != "" {
		t.Errorf("JWK %v", k)
	}
	if _, err := shc.JWKS(&testKey(t).PublicKey, nil); err == nil {
		t.Error("JWKS of a nil key")
	}
}
