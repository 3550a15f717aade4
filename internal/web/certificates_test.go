package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/interop/dcc"
	"healthcode/internal/interop/shc"
)

// TestCertificates issues a resident's EU DCC and SMART Health Card over
// the API and verifies them with our own verifiers, against the DSC and the
// JWKS the server publishes.
func TestCertificates(t *testing.T) {
	h := newHarness(t)
	e := enrollment()
	if r := h.do(t, "POST", "/api/v1/residents", "", e); r.status != 201 {
		t.Fatal(r.status)
	}
	var login struct{ Token string }
	h.do(t, "POST", "/api/v1/login", "", map[string]any{"phone": e["phone"], "password": e["password"]}).json(t, &login)

	// Nothing on record yet.
	if r := h.do(t, "GET", "/api/v1/me/certificates/dcc?type=vaccination&latin_name=WANG,+XIAOMING", login.Token, nil); r.status != 404 {
		t.Errorf("a DCC with no vaccination: %d %s", r.status, r.body)
	}
	day := h.clock.Now().Add(-30 * 24 * time.Hour).Format("2006-01-02")
	if r := h.do(t, "POST", "/api/v1/vaccinations", h.tokens["lab"], map[string]any{"id_type": e["id_type"], "id_number": e["id_number"],
		"product": "CoronaVac", "dose": 2, "series_doses": 2, "date": day}); r.status != 201 {
		t.Fatalf("vaccination: %d %s", r.status, r.body)
	}

	// EU DCC, verified against the published DSC.
	r := h.do(t, "GET", "/.well-known/healthcode/dsc.pem", "", nil)
	block, _ := pem.Decode(r.body)
	if r.status != 200 || block == nil {
		t.Fatalf("DSC: %d %s", r.status, r.body)
	}
	dsc, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, "GET", "/api/v1/me/certificates/dcc?type=vaccination", login.Token, nil); r.status != 400 {
		t.Errorf("a Chinese name without its Latin spelling: %d %s", r.status, r.body)
	}
	var d struct{ Payload string }
	r = h.do(t, "GET", "/api/v1/me/certificates/dcc?type=vaccination&latin_name=WANG,+XIAOMING", login.Token, nil)
	if r.status != 200 {
		t.Fatalf("DCC: %d %s", r.status, r.body)
	}
	r.json(t, &d)
	res := dcc.Verify(d.Payload, []*x509.Certificate{dsc}, h.clock.Now())
	if !res.Valid {
		t.Errorf("our DCC does not verify: %+v", res.Checks)
	}
	if r := h.do(t, "GET", "/api/v1/me/certificates/dcc?type=recovery&latin_name=WANG,+XIAOMING", login.Token, nil); r.status != 404 {
		t.Errorf("a recovery certificate with no case: %d", r.status)
	}
	if r := h.do(t, "GET", "/api/v1/me/certificates/dcc?type=passport", login.Token, nil); r.status != 400 {
		t.Errorf("an unknown type: %d", r.status)
	}

	// SMART Health Card, verified against the published JWKS.
	r = h.do(t, "GET", "/.well-known/jwks.json", "", nil)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("JWKS: %d %v", r.status, r.header)
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := shc.LoadKeys(context.Background(), jwks)
	if err != nil {
		t.Fatal(err)
	}
	var card struct {
		JWS  string          `json:"jws"`
		QR   []string        `json:"qr"`
		File json.RawMessage `json:"file"`
	}
	r = h.do(t, "GET", "/api/v1/me/certificates/shc", login.Token, nil)
	if r.status != 200 {
		t.Fatalf("SHC: %d %s", r.status, r.body)
	}
	r.json(t, &card)
	if len(card.QR) == 0 || !strings.HasPrefix(card.QR[0], "shc:/") || !strings.Contains(string(card.File), "verifiableCredential") {
		t.Fatalf("card: %+v", card)
	}
	results := shc.Verify(context.Background(), keys, h.clock.Now(), card.QR...)
	if len(results) != 1 || !results[0].Valid || results[0].Checks.Signature != "ok" || results[0].Checks.Bundle != "ok" {
		for _, got := range results {
			t.Errorf("our card: valid %v, %+v", got.Valid, got.Checks)
		}
	}
	if r := h.do(t, "GET", "/api/v1/me/certificates/shc?kind=test", login.Token, nil); r.status != 404 {
		t.Errorf("a test card with no tests: %d", r.status)
	}
}

// TestImportCertificate: a traveller's foreign EU DCC, signed by a
// document signer this region trusts, becomes a fact in their record,
// marked with its source; once only, for the right person only.
func TestImportCertificate(t *testing.T) {
	h := newHarness(t)
	id, tok := h.resident(t) // born 1985-06-12
	srv := h.Server.Config.Handler.(*Server)
	if r := h.do(t, "POST", "/api/v1/me/certificates/import", tok, map[string]string{"payload": "HC1:X"}); r.status != 503 {
		t.Errorf("import with no trusted issuers: %d %s", r.status, r.body)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	foreign, err := dcc.NewDSC(key, pkix.Name{Country: []string{"DE"}, CommonName: "a German DSC"}, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: foreign, Country: "DE", Authority: "Robert Koch-Institut"})
	if err != nil {
		t.Fatal(err)
	}
	holder := dcc.Holder{Name: dcc.Name{FamilyName: "Zhang", FamilyNameStandard: "ZHANG", GivenName: "Xiaosan", GivenNameStandard: "XIAOSAN"},
		DateOfBirth: "1985-06-12"}
	cert, err := issuer.IssueVaccination(holder, &healthcode.Vaccination{Product: "Comirnaty", Dose: 2, SeriesDoses: 2,
		Date: now.AddDate(0, -2, 0)}, now)
	if err != nil {
		t.Fatal(err)
	}
	srv.importer, err = dcc.NewVerifier([]*x509.Certificate{foreign})
	if err != nil {
		t.Fatal(err)
	}

	r := h.do(t, "POST", "/api/v1/me/certificates/import", tok, map[string]string{"payload": cert.Payload})
	if r.status != 201 || !strings.Contains(string(r.body), `"imported":"vaccination"`) {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	f, err := h.store.LoadFacts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Vaccinations) != 1 || f.Vaccinations[0].Dose != 2 || !strings.Contains(f.Vaccinations[0].Institution, "EU DCC") ||
		!strings.Contains(f.Vaccinations[0].Institution, "DE") {
		t.Errorf("the imported fact: %+v", f.Vaccinations)
	}
	if r := h.do(t, "POST", "/api/v1/me/certificates/import", tok, map[string]string{"payload": cert.Payload}); r.status != 409 {
		t.Errorf("importing it again: %d %s", r.status, r.body)
	}

	// Someone else's certificate, and one from an issuer not trusted here.
	other := holder
	other.DateOfBirth = "1990-01-01"
	theirs, _ := issuer.IssueVaccination(other, &healthcode.Vaccination{Product: "Comirnaty", Dose: 1, SeriesDoses: 2, Date: now.AddDate(0, -1, 0)}, now)
	if r := h.do(t, "POST", "/api/v1/me/certificates/import", tok, map[string]string{"payload": theirs.Payload}); r.status != 400 ||
		!strings.Contains(string(r.body), "date of birth") {
		t.Errorf("someone else's certificate: %d %s", r.status, r.body)
	}
	ours, err := srv.interop.dcc.IssueVaccination(holder, &healthcode.Vaccination{Product: "CoronaVac", Dose: 1, SeriesDoses: 2, Date: now.AddDate(0, -1, 0)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, "POST", "/api/v1/me/certificates/import", tok, map[string]string{"payload": ours.Payload}); r.status != 400 ||
		!strings.Contains(string(r.body), "did not verify") {
		t.Errorf("a certificate from an untrusted signer: %d %s", r.status, r.body)
	}
}

// TestImportRecoveryRoundTrip: a recovery certificate this server issues
// for a discharged case verifies with our verifier against the published
// DSC, and importing it (into a region that trusts that DSC) records a
// recovery with the certificate's dates, source and issuer, which the
// default rules turn into the vaccinated mark; importing it again records
// nothing.
func TestImportRecoveryRoundTrip(t *testing.T) {
	h := newHarness(t)
	id, tok := h.resident(t)
	srv := h.Server.Config.Handler.(*Server)
	ctx := context.Background()
	now := h.clock.Now()
	sample := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, srv.cfg.Location).AddDate(0, 0, -40)
	c := &healthcode.Case{ResidentID: id, ConfirmedAt: sample.Add(30 * time.Hour), SampleDate: sample, RecordedBy: "test"}
	if _, err := h.store.CreateCase(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.store.DischargeCase(ctx, c.ID, sample.AddDate(0, 0, 20)); err != nil {
		t.Fatal(err)
	}

	var issued struct{ Payload string }
	r := h.do(t, "GET", "/api/v1/me/certificates/dcc?type=recovery&latin_name=WANG,+XIAOMING", tok, nil)
	if r.status != 200 {
		t.Fatalf("recovery DCC: %d %s", r.status, r.body)
	}
	r.json(t, &issued)
	res := dcc.Verify(issued.Payload, []*x509.Certificate{srv.interop.dsc}, now)
	if !res.Valid || res.Type != string(dcc.Recovery) || len(res.Certificate.Recoveries) != 1 {
		t.Fatalf("our recovery certificate does not verify: %s %+v", res.Reason, res.Checks)
	}
	entry := res.Certificate.Recoveries[0]

	var err error
	if srv.importer, err = dcc.NewVerifier([]*x509.Certificate{srv.interop.dsc}); err != nil {
		t.Fatal(err)
	}
	r = h.do(t, "POST", "/api/v1/me/certificates/import", tok, map[string]string{"payload": issued.Payload})
	var out struct {
		Imported, Issuer string
		Status           struct{ Vaccinated bool }
	}
	r.json(t, &out)
	if r.status != 201 || out.Imported != "recovery" || out.Issuer != "CN" || !out.Status.Vaccinated {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	f, err := h.store.LoadFacts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time {
		d, err := time.ParseInLocation("2006-01-02", s, srv.cfg.Location)
		if err != nil {
			t.Fatal(err)
		}
		return d.UTC()
	}
	want := healthcode.Recovery{ID: f.Recoveries[0].ID, ResidentID: id, FirstPositive: day(entry.FirstPositive), ValidFrom: day(entry.ValidFrom),
		ValidUntil: day(entry.ValidUntil), Country: entry.Country, Issuer: entry.Issuer, CertificateID: entry.ID, Source: "EU DCC",
		RecordedAt: f.Recoveries[0].RecordedAt, RecordedBy: f.Recoveries[0].RecordedBy}
	if len(f.Recoveries) != 1 || !cmp.Equal(want, f.Recoveries[0]) || !want.FirstPositive.Equal(sample) ||
		!strings.HasPrefix(want.RecordedBy, "import by ") {
		t.Errorf("the imported recovery (-want +got):\n%s", cmp.Diff(want, f.Recoveries))
	}
	st, err := h.store.CurrentStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Reasons, func(r healthcode.Reason) bool { return r.Rule == "recovered" }) {
		t.Errorf("no recovered reason: %+v", st.Reasons)
	}

	// Again: 409, still one recovery.
	if r := h.do(t, "POST", "/api/v1/me/certificates/import", tok, map[string]string{"payload": issued.Payload}); r.status != 409 ||
		!strings.Contains(string(r.body), "already imported") {
		t.Errorf("importing it again: %d %s", r.status, r.body)
	}
	if f, _ := h.store.LoadFacts(ctx, id); len(f.Recoveries) != 1 {
		t.Errorf("%d recoveries after importing one twice", len(f.Recoveries))
	}

	// In the resident's export.
	r = h.do(t, "GET", "/api/v1/me/export", tok, nil)
	var ex struct {
		Recoveries []struct {
			CertificateID string `json:"certificate_id"`
			ValidUntil    string `json:"valid_until"`
			Source        string `json:"source"`
		}
	}
	r.json(t, &ex)
	if r.status != 200 || len(ex.Recoveries) != 1 || ex.Recoveries[0].CertificateID != entry.ID || ex.Recoveries[0].ValidUntil != entry.ValidUntil ||
		ex.Recoveries[0].Source != "EU DCC" {
		t.Errorf("export: %d %+v", r.status, ex.Recoveries)
	}
}

// TestImportCertificateBadInput: what is not a certificate we can import
// is refused with a status and a message that say why.
func TestImportCertificateBadInput(t *testing.T) {
	h := newHarness(t)
	_, tok := h.resident(t) // born 1985-06-12
	srv := h.Server.Config.Handler.(*Server)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	foreign, err := dcc.NewDSC(key, pkix.Name{Country: []string{"DE"}, CommonName: "a German DSC"}, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0),
		dcc.Vaccination, dcc.Test)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: foreign, Country: "DE", Authority: "Robert Koch-Institut"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.importer, err = dcc.NewVerifier([]*x509.Certificate{foreign}); err != nil {
		t.Fatal(err)
	}
	holder := dcc.Holder{Name: dcc.Name{FamilyName: "Zhang", FamilyNameStandard: "ZHANG"}, DateOfBirth: "1985-06-12"}
	discharged := &healthcode.Case{SampleDate: now.AddDate(0, 0, -30), ConfirmedAt: now.AddDate(0, 0, -29), DischargedAt: now.AddDate(0, 0, -10)}
	// The DSC may sign vaccinations and tests only: its recovery certificate fails the key usage check.
	notAllowed, err := issuer.IssueRecovery(holder, discharged, now)
	if err != nil {
		t.Fatal(err)
	}
	other := holder
	other.DateOfBirth = "1990-01-01"
	someoneElse, err := issuer.IssueVaccination(other, &healthcode.Vaccination{Product: "Comirnaty", Dose: 1, SeriesDoses: 2, Date: now.AddDate(0, -1, 0)}, now)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"no body", nil, 400, ""},
		{"no payload", map[string]string{}, 400, "HC1:"},
		{"unknown field", map[string]string{"payload": "HC1:X", "kind": "recovery"}, 400, "kind"},
		{"not a DCC", map[string]string{"payload": "shc:/5676290952432060346029243740"}, 400, "EU Digital COVID Certificate (HC1:...)"},
		{"not base45", map[string]string{"payload": "HC1:not base45!"}, 400, "did not verify: base45"},
		{"cut short", map[string]string{"payload": notAllowed.Payload[:len(notAllowed.Payload)-40]}, 400, "did not verify"},
		{"recovery from a signer not allowed to sign them", map[string]string{"payload": notAllowed.Payload}, 400, "key_usage"},
		{"someone else's", map[string]string{"payload": someoneElse.Payload}, 400, "date of birth"},
	} {
		r := h.do(t, "POST", "/api/v1/me/certificates/import", tok, tc.body)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, r.status, r.body, tc.status, tc.want)
		}
	}
}
