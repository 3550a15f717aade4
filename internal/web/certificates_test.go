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
	"strings"
	"testing"
	"time"

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
