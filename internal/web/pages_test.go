package web

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"healthcode"
)

// TestMessageCatalogues: every message exists in both languages, and every
// key a template or handler names exists.
func TestMessageCatalogues(t *testing.T) {
	st, err := newSite()
	if err != nil {
		t.Fatal(err)
	}
	zh, en := st.langs["zh-CN"].msgs, st.langs["en"].msgs
	for k, v := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%q is in zh.json but not in en.json", k)
		}
		if strings.TrimSpace(v) == "" {
			t.Errorf("zh.json: %q is empty", k)
		}
	}
	for k, v := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%q is in en.json but not in zh.json", k)
		}
		if strings.TrimSpace(v) == "" {
			t.Errorf("en.json: %q is empty", k)
		}
	}
	used := map[string]bool{}
	names, _ := templateFS.ReadDir("templates")
	literal := regexp.MustCompile(`L\.T "([^"]+)"`)
	for _, n := range names {
		data, _ := templateFS.ReadFile("templates/" + n.Name())
		for _, m := range literal.FindAllStringSubmatch(string(data), -1) {
			used[m[1]] = true
		}
		if name := strings.TrimSuffix(n.Name(), ".html"); name != "layout" && !strings.HasPrefix(name, "_") {
			used["title."+name] = true
		}
	}
	// Keys made at run time from values.
	for _, c := range []healthcode.Color{healthcode.Green, healthcode.Yellow, healthcode.Red} {
		used["color."+string(c)] = true
	}
	for _, s := range healthcode.Symptoms {
		used["symptom."+string(s)] = true
	}
	for _, v := range healthcode.VenueTypes {
		used["vtype."+string(v)] = true
	}
	for _, p := range policyKinds {
		used["policy."+p] = true
	}
	for _, it := range idTypes {
		used["idtype."+string(it)] = true
	}
	for _, k := range factKinds {
		used["fact."+string(k)] = true
	}
	for _, k := range overrideKinds {
		used["okind."+string(k)] = true
	}
	for _, k := range []string{"open", "upheld", "rejected"} {
		used["appeal.state."+k] = true
	}
	for _, k := range []string{"proposed", "approved", "rejected"} {
		used["override.state."+k] = true
	}
	for _, k := range append(healthcode.TokenRoles, healthcode.RoleResident, healthcode.RoleSystem, healthcode.RoleOperator, healthcode.RoleAnonymous) {
		used["role."+string(k)] = true
	}
	for _, k := range []string{"appeal.decided", "override.decided", "sex.male", "sex.female", "level.low", "level.medium", "level.high",
		"designation.designated", "designation.already_designated", "designation.rejected"} {
		used[k] = true
	}
	// The lab, keys and trust pages (lab_pages.go, keys_pages.go).
	for _, k := range []string{"ttype.pcr", "ttype.antigen", "ttype.antibody", "tresult.positive", "tresult.negative",
		"keys.state.active", "keys.state.retired", "keys.state.revoked", "trust.added", "trust.removed", "field.type", "field.request"} {
		used[k] = true
	}
	for k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is used but not in the catalogues", k)
		}
	}
}

// browser is an HTTP client with a cookie jar that sends what a browser
// sends on a same-origin form post.
type browser struct {
	t      *testing.T
	h      *harness
	client *http.Client
}

func newBrowser(t *testing.T, h *harness) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, h: h, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string, header ...string) reply {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.h.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.send(req)
}

// post sends a form; site is the Sec-Fetch-Site a browser would send.
func (b *browser) post(path string, form url.Values, site string) reply {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.h.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	if site == "same-origin" {
		req.Header.Set("Origin", b.h.URL)
	} else {
		req.Header.Set("Origin", "https://evil.example")
	}
	return b.send(req)
}

func (b *browser) send(req *http.Request) reply {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rd io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			b.t.Fatal(err)
		}
		rd = zr
	}
	data, _ := io.ReadAll(rd)
	return reply{resp.StatusCode, resp.Header, data}
}

func registrationForm() url.Values {
	e := enrollment()
	f := url.Values{}
	for k, v := range e {
		f.Set(k, v.(string))
	}
	return f
}

// TestResidentPagesFlow registers through the form, sees the code screen,
// declares a fever and sees the code turn yellow with its reason.
func TestResidentPagesFlow(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h)
	if r := b.get("/", "Accept-Language", "en-GB,en;q=0.9,zh;q=0.5"); r.status != 200 || !strings.Contains(string(r.body), "Sign in to your health code") {
		t.Fatalf("GET / signed out: %d %s", r.status, r.body)
	}
	r := b.post("/register", registrationForm(), "same-origin")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	r = b.get("/?lang=en")
	body := string(r.body)
	if r.status != 200 || !strings.Contains(body, `data-color="green"`) || !strings.Contains(body, `data-payload="HQ1:`) {
		t.Fatalf("code screen: %d %s", r.status, body)
	}
	r = b.post("/declare", url.Values{"temperature": {"38.6"}, "symptom": {"fever", "dry_cough"}, "contact_with_case": {"false"}}, "same-origin")
	if r.status != http.StatusSeeOther {
		t.Fatalf("declare: %d %s", r.status, r.body)
	}
	body = string(b.get("/").body)
	if !strings.Contains(body, `data-color="yellow"`) || !strings.Contains(body, "fever") {
		t.Errorf("after declaring a fever the code screen shows %s", body)
	}
	if body := string(b.get("/status?lang=zh").body); !strings.Contains(body, "黄码") || !strings.Contains(body, "declaration") {
		t.Errorf("status page in Chinese: %s", body)
	}
	// A dependent: registered by the guardian, who sees their code and prints
	// their paper code.
	dep := registrationForm()
	dep.Del("password")
	dep.Set("name", "张老太")
	dep.Set("phone", "")
	if r := b.post("/family", dep, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("register a dependent: %d %s", r.status, r.body)
	}
	family := string(b.get("/family").body)
	m := regexp.MustCompile(`href="/\?for=(\d+)"`).FindStringSubmatch(family)
	if m == nil || !strings.Contains(family, "张*太") {
		t.Fatalf("family page: %s", family)
	}
	if body := string(b.get("/?for=" + m[1]).body); !strings.Contains(body, "张*太") || !strings.Contains(body, `data-api="/api/v1/residents/`+m[1]+`/code"`) {
		t.Errorf("dependent's code screen: %s", body)
	}
	if r := b.post("/paper?for="+m[1], url.Values{}, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("issue a dependent's paper code: %d %s", r.status, r.body)
	}
	if r := b.get("/api/v1/residents/" + m[1] + "/paper-code.pdf"); r.status != 200 || r.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(r.body), "%PDF-") {
		t.Errorf("dependent's paper code PDF: %d %v", r.status, r.header)
	}
	if r := b.get("/?for=999999"); r.status != http.StatusNotFound {
		t.Errorf("someone else's code screen: %d", r.status)
	}

	// Every resident page renders for a signed-in resident.
	for _, p := range []string{"/status", "/declare", "/family", "/scan", "/notifications", "/paper", "/rules"} {
		if r := b.get(p); r.status != 200 {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
}

// TestCrossSiteFormPostRefused: a form on another site cannot sign anyone
// in, or post with a signed-in resident's cookie.
func TestCrossSiteFormPostRefused(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h)
	form := registrationForm()
	if r := b.post("/register", form, "cross-site"); r.status != http.StatusForbidden {
		t.Fatalf("cross-site register: %d", r.status)
	}
	if r := b.post("/register", form, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	decl := url.Values{"temperature": {"39"}, "symptom": {"fever"}, "contact_with_case": {"true"}}
	r := b.post("/declare", decl, "cross-site")
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "已拒绝来自其他网站的表单提交") {
		t.Errorf("cross-site declare: %d %s", r.status, r.body)
	}
	if body := string(b.get("/").body); !strings.Contains(body, `data-color="green"`) {
		t.Error("a refused cross-site declaration changed the status")
	}
	if r := b.post("/signin", url.Values{"phone": {form.Get("phone")}, "password": {form.Get("password")}}, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d", r.status)
	}
	// A token in the cookie is refused from another site too.
	tb := newBrowser(t, h)
	if r := tb.post("/admin/signin", url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d %s", r.status, r.body)
	}
	if r := tb.post("/admin/areas", url.Values{"region_prefix": {"4201"}, "level": {"high"}, "from": {"2026-01-01T00:00"}}, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site area announcement: %d", r.status)
	}
	req, _ := http.NewRequest("POST", h.URL+"/api/v1/areas", strings.NewReader(`{"region_prefix":"4201","level":"high"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := tb.send(req); r.status != http.StatusForbidden {
		t.Errorf("cross-site API call with a token cookie: %d %s", r.status, r.body)
	}
}

// TestPageHeaders: pages forbid inline script and framing, and the
// templates have no inline script, event handler or style attribute.
func TestPageHeaders(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h)
	for _, p := range []string{"/", "/register", "/rules", "/checkpoint", "/admin/signin"} {
		r := b.get(p, "Accept-Encoding", "gzip")
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: headers %v", p, r.header)
		}
		body := string(r.body)
		if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || regexp.MustCompile(`\son[a-z]+=`).MatchString(body) ||
			strings.Contains(body, "style=") || strings.Contains(body, "javascript:") {
			t.Errorf("%s has inline script, an event handler or a style attribute:\n%s", p, body)
		}
	}
}

// TestStaticAssets: content-hashed URLs, cached for ever, gzipped; any
// other URL under /static/ is not found.
func TestStaticAssets(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h)
	page := string(b.get("/checkpoint").body)
	urls := regexp.MustCompile(`/static/[a-z0-9/._-]+`).FindAllString(page, -1)
	if len(urls) < 4 {
		t.Fatalf("asset URLs in the checkpoint page: %v", urls)
	}
	for _, u := range urls {
		r := b.get(u, "Accept-Encoding", "gzip")
		if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: %d %v", u, r.status, r.header)
		}
	}
	if r := b.get("/static/app.css"); r.status != 404 {
		t.Errorf("unhashed asset URL: %d", r.status)
	}
	if r := b.get("/sw.js"); r.status != 200 || !strings.Contains(string(r.body), "PRECACHE") || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("service worker: %d %v", r.status, r.header)
	}
}

// TestAuthorityPages signs in with tokens and opens every authority page.
func TestAuthorityPages(t *testing.T) {
	h := newHarness(t)
	tracer := newBrowser(t, h)
	if r := tracer.get("/admin"); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `action="/admin/signin"`) {
		t.Fatalf("signed out /admin: %d", r.status)
	}
	if r := tracer.post("/admin/signin", url.Values{"token": {"hct_wrong"}}, "same-origin"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", r.status)
	}
	if r := tracer.post("/admin/signin", url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "same-origin"); r.header.Get("Location") != "/admin" {
		t.Fatalf("tracer sign-in: %d %s", r.status, r.body)
	}
	for _, c := range tracer.client.Jar.Cookies(mustURL(t, h.URL)) {
		if c.Name == sessionCookie && !strings.HasPrefix(c.Value, tokenPrefix) {
			t.Errorf("session cookie %q", c.Value)
		}
	}
	for _, p := range []string{"/admin", "/admin/lookup", "/admin/cases", "/admin/areas", "/admin/paper-codes", "/rules"} {
		if r := tracer.get(p); r.status != 200 {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
	if r := tracer.get("/admin?lang=en"); !strings.Contains(string(r.body), "Overdue appeals") {
		t.Error("the dashboard has no overdue-appeals count")
	}
	venue := newBrowser(t, h)
	if r := venue.post("/admin/signin", url.Values{"token": {h.tokens[healthcode.RoleVenue]}}, "same-origin"); r.header.Get("Location") != "/admin/venues" {
		t.Fatalf("venue sign-in: %d", r.status)
	}
	r := venue.post("/admin/venues", url.Values{"name": {"银泰百货"}, "type": {"mall"}, "region": {"330106"}, "address": {"延安路 98 号"}, "policy": {"green"}}, "same-origin")
	if r.status != http.StatusSeeOther {
		t.Fatalf("create venue: %d %s", r.status, r.body)
	}
	if body := string(venue.get("/admin/venues").body); !strings.Contains(body, "银泰百货") {
		t.Errorf("venues page: %s", body)
	}
	if r := venue.get("/admin/venues/1/print"); r.status != 200 || !strings.Contains(string(r.body), "<svg") {
		t.Errorf("print page: %d", r.status)
	}
	// Officials print paper codes for residents by document, in batches.
	h.resident(t)
	e := enrollment()
	if r := h.do(t, "POST", "/api/v1/residents", "", e); r.status != 201 {
		t.Fatal(r.status)
	}
	r = tracer.post("/admin/paper-codes", url.Values{"documents": {e["id_number"].(string) + "\nresident_id " + e["id_number"].(string)}}, "same-origin")
	if r.status != 200 || r.header.Get("Content-Type") != "application/pdf" {
		t.Errorf("batch of paper codes: %d %s", r.status, r.body)
	}
	if r := tracer.post("/admin/paper-codes", url.Values{"documents": {"330106199001011234"}}, "same-origin"); r.status != 400 || !strings.Contains(string(r.body), "line 1") {
		t.Errorf("batch with an unknown document: %d", r.status)
	}
	if r := tracer.post("/admin/lookup", url.Values{"id_type": {"resident_id"}, "id_number": {e["id_number"].(string)}, "purpose": {"x"}}, "same-origin"); r.status != 400 {
		t.Errorf("lookup without a purpose: %d", r.status)
	}
	// A lookup with its purpose is in the resident's access log.
	before := h.auditCount(t)
	if r := tracer.post("/admin/lookup", url.Values{"id_type": {"resident_id"}, "id_number": {e["id_number"].(string)},
		"purpose": {"outbreak 7: contact follow-up"}}, "same-origin"); r.status != 200 {
		t.Errorf("lookup: %d %s", r.status, r.body)
	}
	if n := h.auditCount(t) - before; n != 1 {
		t.Errorf("a lookup wrote %d audit entries, want 1", n)
	}
	looked, err := h.store.FindResidentByDocument(context.Background(), healthcode.ResidentIDCard, e["id_number"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if log, err := h.store.ListAccessLog(context.Background(), looked.ID); err != nil || len(log) == 0 || log[0].Purpose != "outbreak 7: contact follow-up" {
		t.Errorf("the resident's access log: %+v %v", log, err)
	}
	if r := venue.get("/admin"); r.status != http.StatusForbidden {
		t.Errorf("venue manager on the dashboard: %d", r.status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
