package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/fetch"
	"healthcode/internal/trust"
)

// fetchPeerForTest is cmd/healthcode's fetchPeer: read the list, check it.
func fetchPeerForTest(ctx context.Context, src string) (*healthcode.TrustedPeer, error) {
	data, tag, _, err := fetch.ReadIfChanged(ctx, src, trust.MediaType, trust.MaxListSize, "")
	if err != nil {
		return nil, fmt.Errorf("peer trust list %s: %w", src, err)
	}
	l, err := trust.Parse(data, time.Now())
	if err != nil {
		return nil, fmt.Errorf("peer trust list %s: %w", src, err)
	}
	return &healthcode.TrustedPeer{Source: src, Region: l.Issuer, List: data, ETag: tag, FetchedAt: time.Now()}, nil
}

// asciiOnlyProblem finds an error text on a Chinese page that has no
// Chinese in it: a message nobody translated.
var fieldErrRE = regexp.MustCompile(`<p class="(?:fielderr|alert)"[^>]*>([^<]*)</p>`)

func untranslated(body string) []string {
	var out []string
	for _, m := range fieldErrRE.FindAllStringSubmatch(body, -1) {
		if !containsHan(m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestLabPages: a lab clerk signs in with a lab token, is refused with an
// error per field for a bad test result (in Chinese on a Chinese page),
// records a positive test that turns the resident's code red, and records
// a vaccination; both land in the audit log under the lab's name.
func TestLabPages(t *testing.T) {
	h := newHarness(t)
	e, id, resTok := h.enrolled(t)
	lab := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleLab]}}, "/admin/test-results")
	for _, lang := range []string{"en", "zh"} {
		for _, path := range []string{"/admin/test-results", "/admin/vaccinations"} {
			r := lab.get(path + "?lang=" + lang)
			if r.status != 200 || !strings.Contains(string(r.body), `action="`+path+`"`) {
				t.Fatalf("GET %s in %s: %d %s", path, lang, r.status, r.body)
			}
		}
	}
	if body := string(lab.get("/admin/test-results?lang=en").body); !strings.Contains(body, "Report a test result") || !strings.Contains(body, `href="/admin/vaccinations"`) {
		t.Errorf("the lab's page in English: %s", body)
	}
	if body := string(lab.get("/admin/test-results?lang=zh").body); !strings.Contains(body, "上报检测结果") {
		t.Errorf("the lab's page in Chinese: %s", body)
	}

	// Bad input, in Chinese: every problem by its field, none in English.
	bad := url.Values{"id_type": {"resident_id"}, "id_number": {"330106198001010000"}, "type": {"blood"}, "result": {""},
		"sampled_at": {"yesterday"}, "resulted_at": {""}, "institution": {""}}
	r := lab.post("/admin/test-results", bad, "same-origin")
	body := string(r.body)
	if r.status != http.StatusBadRequest {
		t.Fatalf("bad test result: %d %s", r.status, body)
	}
	for _, field := range []string{"id_number", "type", "result", "sampled_at", "resulted_at", "institution"} {
		if !strings.Contains(body, `id="`+field+`-err"`) {
			t.Errorf("no error shown at %s: %s", field, body)
		}
	}
	if u := untranslated(body); len(u) > 0 {
		t.Errorf("English error text on a Chinese page: %q", u)
	}
	if !strings.Contains(body, "没有居民以此居民身份证号码登记") || !strings.Contains(body, "必须是阳性或阴性") {
		t.Errorf("the Chinese errors: %s", body)
	}
	// The same in English keeps the API's words.
	r = lab.post("/admin/test-results?lang=en", bad, "same-origin")
	if body := string(r.body); !strings.Contains(body, "must be positive or negative") || !strings.Contains(body, "no resident is enrolled with this resident_id number") {
		t.Errorf("the English errors: %s", body)
	}
	lab.get("/admin/test-results?lang=zh")

	// A positive test: recorded, confirmed, and the resident's code is red.
	now := h.clock.Now().In(time.FixedZone("CST", 8*3600))
	good := url.Values{"id_type": {"resident_id"}, "id_number": {e["id_number"].(string)}, "type": {"pcr"}, "result": {"positive"},
		"sampled_at": {now.Add(-6 * time.Hour).Format("2006-01-02T15:04")}, "resulted_at": {now.Add(-time.Hour).Format("2006-01-02T15:04")},
		"institution": {"西湖区疾控中心"}}
	r = lab.post("/admin/test-results", good, "same-origin")
	body = string(r.body)
	if r.status != http.StatusCreated || !strings.Contains(body, "检测结果已记录") || !strings.Contains(body, "阳性") || !strings.Contains(body, "西湖区疾控中心") {
		t.Fatalf("record a positive test: %d %s", r.status, body)
	}
	if strings.Contains(body, e["id_number"].(string)) || strings.Contains(body, "张小三") {
		t.Errorf("the confirmation shows the whole document number or the name: %s", body)
	}
	var st struct{ Color healthcode.Color }
	h.do(t, "GET", "/api/v1/me/status", resTok, nil).json(t, &st)
	if st.Color != healthcode.Red {
		t.Errorf("after a positive test the resident is %s", st.Color)
	}

	// A vaccination, with a bad dose first.
	vacc := url.Values{"id_type": {"resident_id"}, "id_number": {e["id_number"].(string)}, "product": {"CoronaVac"}, "dose": {"x"},
		"series_doses": {"2"}, "date": {now.Format("2006-01-02")}, "institution": {""}}
	r = lab.post("/admin/vaccinations", vacc, "same-origin")
	if body := string(r.body); r.status != http.StatusBadRequest || !strings.Contains(body, `id="dose-err"`) || len(untranslated(body)) > 0 {
		t.Errorf("a bad dose: %d %q %s", r.status, untranslated(body), body)
	}
	vacc.Set("dose", "2")
	r = lab.post("/admin/vaccinations?lang=en", vacc, "same-origin")
	if body := string(r.body); r.status != http.StatusCreated || !strings.Contains(body, "Vaccination recorded") || !strings.Contains(body, "2 / 2") {
		t.Fatalf("record a vaccination: %d %s", r.status, body)
	}

	// The audit log names the lab, not "system".
	var page struct {
		Entries []struct {
			ActorName string `json:"actor_name"`
			Subject   int64  `json:"subject"`
			Detail    string
		}
	}
	h.do(t, "GET", "/api/v1/audit?action=fact.add", h.tokens[healthcode.RoleAuditor], nil).json(t, &page)
	n := 0
	for _, en := range page.Entries {
		if en.Subject == id && en.ActorName == "lab test" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("audit entries of the lab's facts: %+v", page.Entries)
	}

	// Other roles cannot open the lab pages, and a lab cannot open others'.
	tracer := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "/admin")
	if r := tracer.get("/admin/test-results"); r.status != http.StatusForbidden {
		t.Errorf("a tracer at the lab page: %d", r.status)
	}
	if r := lab.get("/admin/keys"); r.status != http.StatusForbidden {
		t.Errorf("a lab at the keys page: %d", r.status)
	}
	if r := lab.post("/admin/test-results", good, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("a cross-site lab post: %d", r.status)
	}
}

// peerList serves a trust list of region 110100 signed by its own key.
func peerList(t *testing.T) *httptest.Server {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	l := &trust.List{Issuer: "110100", IssuedAt: now.Truncate(time.Second), Keys: []trust.Entry{
		trust.NewEntry(pub, "110100", "Beijing", now.Add(-time.Hour), now.AddDate(1, 0, 0))}}
	signed, err := trust.Sign(l, priv)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/healthcode/trust-list" {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>a shop</html>"))
			return
		}
		w.Header().Set("Content-Type", trust.MediaType)
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write(signed)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestKeysAndTrustPages: an admin sees the region's keys without key
// material, in both languages; adds a peer by URL (refused with a clear,
// translated error for a URL that answers nothing or no trust list),
// verifies its codes afterwards, and removes it; both are audited.
func TestKeysAndTrustPages(t *testing.T) {
	h := newHarness(t)
	admin := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleAdmin]}}, "/admin")
	kid := h.trust.Keys[0].KID
	for _, lang := range []string{"en", "zh"} {
		r := admin.get("/admin/keys?lang=" + lang)
		body := string(r.body)
		if r.status != 200 || !strings.Contains(body, kid) || !strings.Contains(body, "healthcode keys rotate-signing-key") ||
			!strings.Contains(body, "healthcode keys rotate-data-key") || !strings.Contains(body, KeyFingerprint(bytesOf(9, 32))) {
			t.Fatalf("keys page in %s: %d %s", lang, r.status, body)
		}
		if !strings.Contains(body, h.dsc.Subject.String()) {
			t.Errorf("keys page without the DSC's subject: %s", body)
		}
		// The place-code key is 32 bytes of 9: never shown, in any form.
		if strings.Contains(body, strings.Repeat("09", 16)) || strings.Contains(body, "CQkJCQkJ") {
			t.Errorf("the keys page shows key material")
		}
		want := map[string]string{"en": "Active", "zh": "使用中"}[lang]
		if !strings.Contains(body, want) {
			t.Errorf("keys page in %s does not say the key is %s", lang, want)
		}
		if r := admin.get("/admin/trust?lang=" + lang); r.status != 200 || !strings.Contains(string(r.body), kid) {
			t.Fatalf("trust page in %s: %d %s", lang, r.status, r.body)
		}
	}

	peer := peerList(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/.well-known/healthcode/trust-list"
	dead.Close()
	for name, u := range map[string]string{
		"no URL":               "",
		"not a URL":            "ftp://peer.example/list",
		"answers nothing":      deadURL,
		"answers no list":      peer.URL + "/shop",
		"this region's own":    h.URL + "/.well-known/healthcode/trust-list",
		"a URL with secrets":   "https://user:pw@peer.example/list",
		"a file on the server": "/etc/passwd",
	} {
		r := admin.post("/admin/trust?lang=zh", url.Values{"url": {u}}, "same-origin")
		body := string(r.body)
		if r.status != http.StatusBadRequest || !strings.Contains(body, `id="url-err"`) {
			t.Errorf("%s: %d %s", name, r.status, body)
		}
		if u := untranslated(body); len(u) > 0 {
			t.Errorf("%s: English error on a Chinese page: %q", name, u)
		}
	}
	admin.get("/admin/trust?lang=en")
	r := admin.post("/admin/trust", url.Values{"url": {peer.URL + "/shop"}}, "same-origin")
	if body := string(r.body); !strings.Contains(body, "not with a trust list this region can use") {
		t.Errorf("a URL that answers HTML, in English: %s", body)
	}

	src := peer.URL + "/.well-known/healthcode/trust-list"
	r = admin.post("/admin/trust", url.Values{"url": {src}}, "same-origin")
	body := string(r.body)
	if r.status != 200 || !strings.Contains(body, "Region 110100 is trusted now") || !strings.Contains(body, src) || !strings.Contains(body, `&#34;v1&#34;`) {
		t.Fatalf("add a peer: %d %s", r.status, body)
	}
	if body := string(admin.get("/admin/trust?lang=zh").body); !strings.Contains(body, "110100") || !strings.Contains(body, "停止信任地区") {
		t.Errorf("the peer in Chinese: %s", body)
	}
	r = admin.post("/admin/trust/remove", url.Values{"source": {src}}, "same-origin")
	if r.status != http.StatusSeeOther {
		t.Fatalf("remove the peer: %d %s", r.status, r.body)
	}
	if body := string(admin.get(r.header.Get("Location") + "&lang=en").body); strings.Contains(body, "Stop trusting region 110100") || !strings.Contains(body, "No longer trusted") {
		t.Errorf("after removing: %s", body)
	}
	if r := admin.post("/admin/trust/remove", url.Values{"source": {src}}, "same-origin"); r.status != http.StatusNotFound {
		t.Errorf("removing it again: %d", r.status)
	}
	var page struct {
		Entries []struct {
			Action    string
			ActorName string `json:"actor_name"`
			Detail    string
		}
	}
	h.do(t, "GET", "/api/v1/audit", h.tokens[healthcode.RoleAuditor], nil).json(t, &page)
	seen := map[string]bool{}
	for _, e := range page.Entries {
		if strings.HasPrefix(e.Action, "trust.") && e.ActorName == "admin test" && strings.Contains(e.Detail, "110100") {
			seen[e.Action] = true
		}
	}
	if !seen[healthcode.ActionTrustAdd] || !seen[healthcode.ActionTrustRemove] {
		t.Errorf("audit entries of the peer: %+v", page.Entries)
	}
	// Only admins.
	tracer := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "/admin")
	if r := tracer.post("/admin/trust", url.Values{"url": {src}}, "same-origin"); r.status != http.StatusForbidden {
		t.Errorf("a tracer adds a peer: %d", r.status)
	}
	if r := admin.post("/admin/trust", url.Values{"url": {src}}, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("a cross-site add: %d", r.status)
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestPageFormErrorsInChinese posts bad input to the forms of the resident
// and authority pages on Chinese pages: every error a page shows has
// Chinese in it, none is the API's English.
func TestPageFormErrorsInChinese(t *testing.T) {
	h := newHarness(t)
	e, _, _ := h.enrolled(t)
	zh := func(b *browser) { b.get("/rules?lang=zh") }
	check := func(name string, r reply) {
		t.Helper()
		body := string(r.body)
		if r.status < 400 {
			t.Errorf("%s: bad input accepted: %d", name, r.status)
			return
		}
		if !strings.Contains(body, `class="alert"`) && !strings.Contains(body, `class="fielderr"`) {
			t.Errorf("%s: no error shown: %s", name, body)
		}
		if u := untranslated(body); len(u) > 0 {
			t.Errorf("%s: English error text on a Chinese page: %q", name, u)
		}
	}
	anon := newBrowser(t, h)
	zh(anon)
	check("sign-in", anon.post("/signin", url.Values{"phone": {"123"}, "password": {"x"}}, "same-origin"))
	reg := registrationForm()
	reg.Set("id_number", "330106198506121230")
	reg.Set("phone", "12")
	reg.Set("birth_date", "1850-01-01")
	check("register", anon.post("/register", reg, "same-origin"))
	check("admin sign-in", anon.post("/admin/signin", url.Values{"token": {"nonsense"}}, "same-origin"))
	check("cross-site", anon.post("/register", reg, "cross-site"))

	res := signedIn(t, h, url.Values{"phone": {e["phone"].(string)}, "password": {e["password"].(string)}}, "/")
	zh(res)
	check("declare", res.post("/declare", url.Values{"temperature": {"55"}, "symptom": {"sneezing"}, "visit_region_0": {"12"}, "visit_date_0": {"2001-01-01"}}, "same-origin"))
	dep := registrationForm()
	dep.Set("name", "")
	dep.Set("sex", "other")
	check("family", res.post("/family", dep, "same-origin"))
	check("appeal", res.post("/appeals", url.Values{"what": {"x"}}, "same-origin"))

	tracer := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "/admin")
	zh(tracer)
	check("lookup", tracer.post("/admin/lookup", url.Values{"id_type": {"resident_id"}, "id_number": {"110101190001011234"}, "purpose": {"x"}}, "same-origin"))
	check("case", tracer.post("/admin/cases", url.Values{"id_type": {"resident_id"}, "id_number": {""}}, "same-origin"))
	check("area", tracer.post("/admin/areas", url.Values{"region_prefix": {"9"}, "level": {"extreme"}, "from": {"soon"}}, "same-origin"))
	check("paper codes", tracer.post("/admin/paper-codes", url.Values{"documents": {"a b c\npassport"}}, "same-origin"))
	check("override", tracer.post("/admin/overrides", url.Values{"kind": {"whim"}, "reason": {""}}, "same-origin"))

	venue := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleVenue]}}, "/admin/venues")
	zh(venue)
	check("venue", venue.post("/admin/venues", url.Values{"name": {""}, "type": {"castle"}, "region": {"1"}, "policy": {"blue"}}, "same-origin"))
}
