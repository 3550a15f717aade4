package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
)

// foreignIssuer is a foreign region's DCC issuer whose DSC the server under
// test trusts for import.
func foreignIssuer(t *testing.T, h *harness) *dcc.Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	dsc, err := dcc.NewDSC(key, pkix.Name{Country: []string{"DE"}, CommonName: "a German DSC"}, now.AddDate(-3, 0, 0), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: dsc, Country: "DE", Authority: "Robert Koch-Institut"})
	if err != nil {
		t.Fatal(err)
	}
	srv := h.Server.Config.Handler.(*Server)
	if srv.importer, err = dcc.NewVerifier([]*x509.Certificate{dsc}); err != nil {
		t.Fatal(err)
	}
	return issuer
}

// TestCertificatesPage: a resident sees their EU DCC and SMART Health Card
// as QR codes on the page (in English and Chinese), imports a foreign DCC
// by pasting its text and sees what was recorded; bad input is refused
// with the reason in the page's language, and another resident can neither
// see this resident's certificates nor import into their record.
func TestCertificatesPage(t *testing.T) {
	h := newHarness(t)
	e, id, _ := h.enrolled(t)
	b := signedIn(t, h, url.Values{"phone": {e["phone"].(string)}, "password": {e["password"].(string)}}, "/")

	// Nothing on record, and the server imports nothing yet.
	body := string(b.get("/certificates?lang=en").body)
	for _, want := range []string{"nothing to certify", "does not import foreign certificates", `href="/certificates" aria-current="page"`} {
		if !strings.Contains(body, want) {
			t.Errorf("empty page in English lacks %q: %s", want, body)
		}
	}
	if body := string(b.get("/certificates?lang=zh").body); !strings.Contains(body, "还没有可出证的内容") || !strings.Contains(body, "国际证书") {
		t.Errorf("empty page in Chinese: %s", body)
	}

	// A vaccination: the DCC needs the Latin spelling of the Chinese name.
	day := h.clock.Now().AddDate(0, 0, -30).Format("2006-01-02")
	if r := h.do(t, "POST", "/api/v1/vaccinations", h.tokens["lab"], map[string]any{"id_type": e["id_type"], "id_number": e["id_number"],
		"product": "CoronaVac", "dose": 2, "series_doses": 2, "date": day}); r.status != 201 {
		t.Fatalf("vaccination: %d %s", r.status, r.body)
	}
	body = string(b.get("/certificates?lang=en").body)
	if !strings.Contains(body, `name="latin_name"`) || strings.Contains(body, "data-kind=\"dcc-") || !strings.Contains(body, `data-kind="shc-vaccination"`) {
		t.Errorf("a Chinese name without its Latin spelling: %s", body)
	}
	r := b.get("/certificates?lang=en&latin_name=ZHANG,+XIAOSAN")
	body = string(r.body)
	for _, want := range []string{`data-kind="dcc-vaccination"`, `data-kind="shc-vaccination"`, "CoronaVac", "ZHANG, XIAOSAN", day, "2/2", "<svg"} {
		if r.status != 200 || !strings.Contains(body, want) {
			t.Errorf("the certificates lack %q: %d %s", want, r.status, body)
		}
	}
	// The DCC drawn at a phone's width still reads back.
	srv := h.Server.Config.Handler.(*Server)
	var d struct{ Payload string }
	h.do(t, "GET", "/api/v1/me/certificates/dcc?type=vaccination&latin_name=ZHANG,+XIAOSAN", h.sessionOf(t, e), nil).json(t, &d)
	v, err := code.QRVersion(d.Payload)
	if err != nil {
		t.Fatal(err)
	}
	png, err := code.RenderPNG(d.Payload, "", 330)
	if err != nil {
		t.Fatalf("a %d-character DCC (QR version %d) at 330 pixels: %v", len(d.Payload), v, err)
	}
	if text, err := code.ReadQR(png); err != nil || text != d.Payload {
		t.Errorf("the DCC at 330 pixels (version %d) reads back as %q, %v", v, text, err)
	}
	t.Logf("DCC: %d characters, QR version %d", len(d.Payload), v)
	if res := dcc.Verify(d.Payload, []*x509.Certificate{srv.interop.dsc}, h.clock.Now()); !res.Valid {
		t.Errorf("the page's DCC does not verify: %s", res.Reason)
	}

	// Import on a server that trusts no foreign issuer: said so, in Chinese.
	b.get("/certificates?lang=zh")
	if r := b.post("/certificates", url.Values{"payload": {"HC1:X"}}, "same-origin"); r.status != http.StatusServiceUnavailable ||
		!strings.Contains(string(r.body), "本地区尚未信任任何外国证书签发机构") {
		t.Errorf("import with no trusted issuers: %d %s", r.status, alertOf(r.body))
	}

	// Import: bad input first, in Chinese.
	issuer := foreignIssuer(t, h)
	now := h.clock.Now()
	holder := dcc.Holder{Name: dcc.Name{FamilyName: "Zhang", FamilyNameStandard: "ZHANG", GivenName: "Xiaosan", GivenNameStandard: "XIAOSAN"},
		DateOfBirth: "1985-06-12"}
	cert, err := issuer.IssueTest(holder, &healthcode.TestResult{Type: healthcode.PCR, Result: healthcode.Negative,
		SampledAt: now.Add(-20 * 3600e9), Institution: "Testzentrum Berlin"}, now)
	if err != nil {
		t.Fatal(err)
	}
	other := holder
	other.DateOfBirth = "1990-01-01"
	theirs, _ := issuer.IssueVaccination(other, &healthcode.Vaccination{Product: "Comirnaty", Dose: 1, SeriesDoses: 2, Date: now.AddDate(0, -1, 0)}, now)
	untrusted, _ := srv.interop.dcc.IssueVaccination(holder, &healthcode.Vaccination{Product: "CoronaVac", Dose: 1, SeriesDoses: 2, Date: now.AddDate(0, -1, 0)}, now)
	expired, err := issuer.IssueVaccination(holder, &healthcode.Vaccination{Product: "Comirnaty", Dose: 1, SeriesDoses: 2, Date: now.AddDate(-2, 0, 0)}, now.AddDate(-2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, payload, want string }{
		{"empty", "", "内容必须是欧盟数字新冠证书"},
		{"not a DCC", "https://example.com/", "内容必须是欧盟数字新冠证书"},
		{"not base45", "HC1:not base45!", "这不是可读取的欧盟数字新冠证书"},
		{"untrusted issuer", untrusted.Payload, "不是由本地区信任的机构签发"},
		{"someone else's", theirs.Payload, "与居民不符"},
		{"expired", expired.Payload, "此证书已过期"},
	} {
		r := b.post("/certificates", url.Values{"payload": {tc.payload}}, "same-origin")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d, want 400 with %q: %s", tc.name, r.status, tc.want, alertOf(r.body))
		}
	}
	if r := b.post("/certificates", url.Values{"payload": {cert.Payload}}, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("a cross-site import: %d", r.status)
	}

	// Another resident's session: not this resident's page, not their record.
	e2, _, _ := h.enrolled(t)
	intruder := signedIn(t, h, url.Values{"phone": {e2["phone"].(string)}, "password": {e2["password"].(string)}}, "/")
	forOther := fmt.Sprintf("/certificates?for=%d", id)
	if r := intruder.get(forOther + "&lang=en"); r.status != http.StatusNotFound || strings.Contains(string(r.body), "CoronaVac") {
		t.Errorf("another resident opens this resident's certificates: %d", r.status)
	}
	if r := intruder.post(forOther, url.Values{"payload": {cert.Payload}}, "same-origin"); r.status != http.StatusNotFound {
		t.Errorf("another resident imports into this resident's record: %d %s", r.status, alertOf(r.body))
	}
	if f, err := h.store.LoadFacts(context.Background(), id); err != nil || len(f.Tests) != 0 {
		t.Fatalf("tests after the refused imports: %v %+v", err, f)
	}

	// The round trip: recorded, shown, and once only.
	b.get("/certificates?lang=en")
	r = b.post("/certificates", url.Values{"payload": {cert.Payload}}, "same-origin")
	body = string(r.body)
	for _, want := range []string{"The test result is now in your record", "Recorded: test", "Robert Koch-Institut (DE)", "EU DCC", "Not detected"} {
		if r.status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("after the import the page lacks %q: %d %s", want, r.status, alertOf(r.body))
		}
	}
	f, err := h.store.LoadFacts(context.Background(), id)
	if err != nil || len(f.Tests) != 1 || f.Tests[0].Result != healthcode.Negative || !strings.Contains(f.Tests[0].Institution, "EU DCC") {
		t.Fatalf("the imported test: %v %+v", err, f.Tests)
	}
	b.get("/certificates?lang=zh")
	if r := b.post("/certificates", url.Values{"payload": {cert.Payload}}, "same-origin"); r.status != http.StatusConflict || !strings.Contains(string(r.body), "已导入") {
		t.Errorf("importing it again: %d %s", r.status, alertOf(r.body))
	}
	// A dependent's page: their certificates, and an import into their record.
	dep := registrationForm()
	dep.Del("password")
	dep.Set("name", "张小宝")
	dep.Set("phone", "")
	dep.Set("birth_date", "2015-04-01")
	first := "33010620150401123"
	dep.Set("id_number", first+string(healthcode.ResidentIDCheckChar(first)))
	if r := b.post("/family", dep, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("register a dependent: %d %s", r.status, alertOf(r.body))
	}
	deps, err := h.store.ListDependents(context.Background(), id)
	if err != nil || len(deps) != 1 {
		t.Fatalf("dependents: %v %+v", err, deps)
	}
	forDep := fmt.Sprintf("/certificates?for=%d", deps[0].ID)
	if body := string(b.get("/family?lang=en").body); !strings.Contains(body, `href="`+strings.ReplaceAll(forDep, "&", "&amp;")+`"`) {
		t.Errorf("the family page has no link to %s", forDep)
	}
	if body := string(b.get(forDep + "&lang=en").body); !strings.Contains(body, healthcode.MaskName("张小宝")) || !strings.Contains(body, "nothing to certify") ||
		!strings.Contains(body, `action="`+strings.ReplaceAll(forDep, "&", "&amp;")+`"`) {
		t.Errorf("the dependent's certificates page: %s", body)
	}
	child := holder
	child.DateOfBirth = "2015-04-01"
	childCert, err := issuer.IssueTest(child, &healthcode.TestResult{Type: healthcode.Antigen, Result: healthcode.Negative,
		SampledAt: now.Add(-3 * 3600e9), Institution: "Testzentrum Berlin"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r := b.post(forDep, url.Values{"payload": {cert.Payload}}, "same-origin"); r.status != http.StatusBadRequest {
		t.Errorf("the guardian's certificate into the dependent's record: %d %s", r.status, alertOf(r.body))
	}
	if r := b.post(forDep, url.Values{"payload": {childCert.Payload}}, "same-origin"); r.status != http.StatusOK || !strings.Contains(string(r.body), "Recorded: test") {
		t.Errorf("import for the dependent: %d %s", r.status, alertOf(r.body))
	}
	if f, err := h.store.LoadFacts(context.Background(), deps[0].ID); err != nil || len(f.Tests) != 1 || f.Tests[0].Type != healthcode.Antigen {
		t.Errorf("the dependent's imported test: %v %+v", err, f)
	}

	// The test now has its own certificates.
	if body := string(b.get("/certificates?lang=en&latin_name=ZHANG,+XIAOSAN").body); !strings.Contains(body, `data-kind="dcc-test"`) ||
		!strings.Contains(body, `data-kind="shc-test"`) {
		t.Errorf("no test certificates after the import: %s", body)
	}
}

var alertRE = regexp.MustCompile(`(?s)<p class="alert" role="alert">(.*?)</p>`)

// alertOf is a page's error message, for test failures.
func alertOf(body []byte) string {
	if m := alertRE.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return "(no error shown)"
}

// sessionOf signs the enrolled resident in over the API.
func (h *harness) sessionOf(t *testing.T, e map[string]any) string {
	t.Helper()
	var login struct{ Token string }
	h.do(t, "POST", "/api/v1/login", "", map[string]any{"phone": e["phone"], "password": e["password"]}).json(t, &login)
	return login.Token
}
