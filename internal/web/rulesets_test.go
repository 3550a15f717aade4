package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/secure"
	"healthcode/internal/sqlstore"
)

// redFeverRules is the default rule set with fever_or_symptoms made red.
func redFeverRules(tb testing.TB) string {
	tb.Helper()
	src := string(healthcode.DefaultRuleSetSource)
	old := "- id: fever_or_symptoms\n    color: yellow"
	if !strings.Contains(src, old) {
		tb.Fatal("rules/default.yaml has no yellow fever_or_symptoms rule")
	}
	return strings.Replace(src, old, "- id: fever_or_symptoms\n    color: red", 1)
}

// doYAML sends a rule set document.
func (h *harness) doYAML(t testing.TB, path, token, body string) reply {
	t.Helper()
	req, _ := http.NewRequest("POST", h.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/yaml")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return reply{resp.StatusCode, resp.Header, buf.Bytes()}
}

func (h *harness) feverish(t testing.TB) (int64, string) {
	t.Helper()
	id, tok := h.resident(t)
	if r := h.do(t, "POST", "/api/v1/me/declarations", tok, map[string]any{"temperature": 38.4, "symptoms": []string{}, "visited": []any{},
		"contact_with_case": false}); r.status != 201 {
		t.Fatalf("declare: %d %s", r.status, r.body)
	}
	return id, tok
}

func (h *harness) color(t testing.TB, tok string) healthcode.Color {
	t.Helper()
	var c struct{ Color healthcode.Color }
	r := h.do(t, "GET", "/api/v1/me/code", tok, nil)
	if r.status != 200 {
		t.Fatalf("code: %d %s", r.status, r.body)
	}
	r.json(t, &c)
	return c.Color
}

func TestPublishRuleSet(t *testing.T) {
	h := newHarness(t)
	admin := h.tokens[healthcode.RoleAdmin]
	_, tok := h.feverish(t)
	if c := h.color(t, tok); c != healthcode.Yellow {
		t.Fatalf("feverish resident: %s, want yellow", c)
	}
	before := h.do(t, "GET", "/api/v1/rules", "", nil)
	var cur struct{ Version, Source string }
	before.json(t, &cur)

	// Bad documents: 400 with every problem, by rule and field.
	bad := strings.Replace(redFeverRules(t), "(it.temperature >= 37.3", "(it.temprature >= 37.3", 1)
	bad = strings.Replace(bad, "since: it.discharged_at", "since: it.dischargd_at", 1)
	for name, tt := range map[string]struct {
		body string
		want []string
	}{
		"two problems":  {bad, []string{"rules.fever_or_symptoms.when", "temprature", "rules.discharged.since", "dischargd_at"}},
		"not yaml":      {"name: [unclosed", []string{"line 1"}},
		"unknown key":   {"name: x\nrules:\n  - id: a\n    colour: red\n", []string{"rules.a.colour"}},
		"empty":         {"", []string{"empty"}},
		"no name":       {"rules: []\n", []string{"name"}},
		"json is yaml":  {"{}", []string{"name"}},
		"unknown field": {"name: x\nrules: []\nversion: 2\n", []string{"version"}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/rules/preview", "/api/v1/rules"} {
				r := h.doYAML(t, path, admin, tt.body)
				if r.status != 400 || r.errorCode() != "invalid" {
					t.Fatalf("%s: %d %s, want 400 invalid", path, r.status, r.body)
				}
				for _, w := range tt.want {
					if !strings.Contains(string(r.body), w) {
						t.Errorf("%s: the answer does not mention %q: %s", path, w, r.body)
					}
				}
			}
		})
	}
	if n := strings.Count(string(h.doYAML(t, "/api/v1/rules", admin, bad).body), `"field"`); n < 2 {
		t.Errorf("%d problems listed, want both", n)
	}
	if r := h.do(t, "POST", "/api/v1/rules", admin, "name: x\nrules:\n  - id: Bad\n"); r.status != 400 || !strings.Contains(string(r.body), "rules[0].id") {
		// JSON content type: the body is read as YAML all the same.
		t.Errorf("a YAML body sent as JSON: %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest("POST", h.URL+"/api/v1/rules", strings.NewReader("source=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+admin)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("a form body: %v %v, want 400", resp.StatusCode, err)
	}
	if c := h.color(t, tok); c != healthcode.Yellow {
		t.Fatalf("after refused documents: %s, want yellow", c)
	}

	// Preview: the diff, nothing published.
	var diff ruleSetDiffResponse
	r := h.doYAML(t, "/api/v1/rules/preview", admin, redFeverRules(t))
	if r.status != 200 {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	r.json(t, &diff)
	if len(diff.Changed) != 1 || diff.Changed[0].ID != "fever_or_symptoms" || len(diff.Changed[0].Fields) != 1 ||
		diff.Changed[0].Fields[0] != (fieldChangeJSON{Field: "color", Old: "yellow", New: "red"}) || len(diff.Added)+len(diff.Removed) != 0 {
		t.Errorf("preview: %+v", diff)
	}
	if len(diff.Lines) == 0 || diff.From != cur.Version {
		t.Errorf("preview from %s with %d diff lines", diff.From, len(diff.Lines))
	}
	if c := h.color(t, tok); c != healthcode.Yellow {
		t.Fatalf("after a preview: %s, want yellow", c)
	}

	// Publish: in force at once, the resident is red.
	var pub publishResponse
	r = h.doYAML(t, "/api/v1/rules", admin, redFeverRules(t))
	if r.status != 200 {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	r.json(t, &pub)
	if pub.Replaced != cur.Version || pub.Diff.To != pub.Version || len(pub.Diff.Changed) != 1 {
		t.Errorf("publish: %+v", pub)
	}
	if c := h.color(t, tok); c != healthcode.Red {
		t.Errorf("after the publication: %s, want red", c)
	}
	var inForce ruleSetResponse
	h.do(t, "GET", "/api/v1/rules", "", nil).json(t, &inForce)
	if inForce.Version != pub.Version || inForce.Source != redFeverRules(t) {
		t.Errorf("GET /api/v1/rules: %s, want %s", inForce.Version, pub.Version)
	}

	// The history, one version, the diff between two.
	var pubs publicationsResponse
	h.do(t, "GET", "/api/v1/rules/versions", "", nil).json(t, &pubs)
	if pubs.Current != pub.Version || len(pubs.Publications) != 1 || !pubs.Publications[0].Current {
		// The harness's store was opened without publishing the default:
		// the first publication is this one.
		t.Errorf("versions: %+v", pubs)
	}
	var one ruleSetResponse
	if r := h.do(t, "GET", "/api/v1/rules/versions/"+pub.Version, "", nil); r.status != 200 {
		t.Fatalf("one version: %d %s", r.status, r.body)
	} else {
		r.json(t, &one)
	}
	if !one.Current || one.Source != redFeverRules(t) || len(one.Rules) == 0 {
		t.Errorf("one version: current %v, %d rules", one.Current, len(one.Rules))
	}
	if r := h.do(t, "GET", "/api/v1/rules/versions/sha256:000000000000", "", nil); r.status != 404 {
		t.Errorf("unknown version: %d %s", r.status, r.body)
	}
	if r := h.do(t, "GET", "/api/v1/rules/diff", "", nil); r.status != 400 {
		t.Errorf("diff without from: %d %s", r.status, r.body)
	}

	// Rollback: publish the default again, by its document; then back to
	// red through the rollback route.
	r = h.doYAML(t, "/api/v1/rules", admin, cur.Source)
	if r.status != 200 {
		t.Fatalf("publish the default: %d %s", r.status, r.body)
	}
	if c := h.color(t, tok); c != healthcode.Yellow {
		t.Errorf("after publishing the default: %s, want yellow", c)
	}
	if r := h.do(t, "POST", "/api/v1/rules/versions/"+pub.Version+"/publish", admin, nil); r.status != 200 {
		t.Fatalf("rollback: %d %s", r.status, r.body)
	}
	if c := h.color(t, tok); c != healthcode.Red {
		t.Errorf("after the rollback: %s, want red", c)
	}
	h.do(t, "GET", "/api/v1/rules/versions", "", nil).json(t, &pubs)
	if len(pubs.Publications) != 3 || !pubs.Publications[0].Rollback || pubs.Publications[1].Rollback {
		t.Errorf("versions after the rollback: %+v", pubs.Publications)
	}
	h.do(t, "GET", "/api/v1/rules/diff?from="+cur.Version, "", nil).json(t, &diff)
	if len(diff.Changed) != 1 || diff.To != pub.Version {
		t.Errorf("diff from the default to the one in force: %+v", diff)
	}
	// Publishing the rule set in force again changes nothing.
	r = h.doYAML(t, "/api/v1/rules", admin, redFeverRules(t))
	h.do(t, "GET", "/api/v1/rules/versions", "", nil).json(t, &pubs)
	if r.status != 200 || len(pubs.Publications) != 3 {
		t.Errorf("publishing the rule set in force again: %d, %d publications", r.status, len(pubs.Publications))
	}
}

// TestRuleSetTwoServers: a publication through one server reaches what
// another server on the same database shows, its display cache included.
// secondServer is another server process on h's database, with its own
// store and caches, as `healthcode serve` run twice would be.
func (h *harness) secondServer(t testing.TB) *harness {
	t.Helper()
	engine, err := loadRules(healthcode.DefaultRuleSetSource)
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := secure.NewCipher(bytes.Repeat([]byte{1}, secure.KeySize), 1)
	if err != nil {
		t.Fatal(err)
	}
	db2, err := sqlstore.Open(context.Background(), h.dbPath, sqlstore.Options{Clock: h.clock, Evaluator: engine, LoadRules: loadRules, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	other := &harness{Server: httptest.NewServer(New(Config{Region: "330100"}, Deps{Store: db2, LoadRules: loadRules, Clock: h.clock,
		Signer: code.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))})), tokens: h.tokens, clock: h.clock}
	t.Cleanup(other.Close)
	return other
}

func TestRuleSetTwoServers(t *testing.T) {
	h := newHarness(t)
	other := h.secondServer(t)

	_, tok := h.feverish(t)
	var st statusResponse
	for _, srv := range []*harness{h, other} {
		if r := srv.do(t, "GET", "/api/v1/me/status", tok, nil); r.status != 200 {
			t.Fatalf("status: %d %s", r.status, r.body)
		} else {
			r.json(t, &st)
		}
		if st.Color != healthcode.Yellow {
			t.Fatalf("before: %s, want yellow", st.Color)
		}
	}
	// Fill the other server's display cache.
	other.do(t, "GET", "/", tok, nil)
	if r := h.doYAML(t, "/api/v1/rules", h.tokens[healthcode.RoleAdmin], redFeverRules(t)); r.status != 200 {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c := other.color(t, tok); c == healthcode.Red {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the other server still shows %s", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var rules struct{ Version string }
	other.do(t, "GET", "/api/v1/rules", "", nil).json(t, &rules)
	h.do(t, "GET", "/api/v1/me/status", tok, nil).json(t, &st)
	if rules.Version != st.RuleSetVersion {
		t.Errorf("the other server has %s in force, the status was computed with %s", rules.Version, st.RuleSetVersion)
	}
}

func TestRulesPages(t *testing.T) {
	h := newHarness(t)
	admin := h.tokens[healthcode.RoleAdmin]
	page := func(method, path, tok, form string) reply {
		t.Helper()
		req, _ := http.NewRequest(method, h.URL+path, strings.NewReader(form))
		if form != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Accept-Language", "en")
		if tok != "" {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return reply{resp.StatusCode, resp.Header, buf.Bytes()}
	}
	form := func(src string) string {
		// A browser sends a text area's lines with CRLF.
		return url.Values{"source": {strings.ReplaceAll(src, "\n", "\r\n")}}.Encode()
	}

	r := page("GET", "/admin/rules", admin, "")
	if r.status != 200 || !strings.Contains(string(r.body), `id="rules-preview"`) {
		t.Fatalf("admin rules page: %d", r.status)
	}
	// A bad document: the problems, listed.
	r = page("POST", "/admin/rules", admin, form("name: x\nrules:\n  - id: a\n    colour: red\n"))
	if r.status != 400 || !strings.Contains(string(r.body), "rules.a") {
		t.Errorf("bad document: %d %s", r.status, r.body)
	}
	// A good one: the diff and the publish button; nothing published yet.
	r = page("POST", "/admin/rules", admin, form(redFeverRules(t)))
	body := string(r.body)
	if r.status != 200 || !strings.Contains(body, `id="rules-publish"`) || !strings.Contains(body, "fever_or_symptoms") ||
		!strings.Contains(body, "<del>yellow</del>") || !strings.Contains(body, "<ins>red</ins>") {
		t.Fatalf("preview: %d %s", r.status, body)
	}
	r = page("POST", "/admin/rules/publish", admin, form(redFeverRules(t)))
	if r.status != 303 || !strings.Contains(r.header.Get("Location"), "notice=published") {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	var rules struct{ Source string }
	h.do(t, "GET", "/api/v1/rules", "", nil).json(t, &rules)
	if rules.Source != redFeverRules(t) { // the text area's CRLF is gone
		t.Errorf("the published document differs from the proposed one")
	}
	// The public page lists the publication; residents read it too.
	_, resTok := h.resident(t)
	r = page("GET", "/rules", resTok, "")
	if r.status != 200 || !strings.Contains(string(r.body), `id="history"`) {
		t.Errorf("public rules page: %d", r.status)
	}
	// Rollback preview and rollback by version.
	var pubs publicationsResponse
	h.do(t, "GET", "/api/v1/rules/versions", "", nil).json(t, &pubs)
	h.doYAML(t, "/api/v1/rules", admin, string(healthcode.DefaultRuleSetSource))
	r = page("GET", "/admin/rules/versions/"+pubs.Current, admin, "")
	if r.status != 200 || !strings.Contains(string(r.body), "/admin/rules/versions/"+pubs.Current+"/publish") {
		t.Errorf("rollback preview: %d", r.status)
	}
	r = page("POST", "/admin/rules/versions/"+pubs.Current+"/publish", admin, "x=1")
	if r.status != 303 {
		t.Errorf("rollback: %d %s", r.status, r.body)
	}
	// The first publication of the version in force again offers no rollback to it.
	r = page("GET", "/admin/rules", admin, "")
	if n := strings.Count(string(r.body), `href="/admin/rules/versions/`); n != 1 {
		t.Errorf("%d rollback links, want 1 (to the default, the only version not in force)", n)
	}
	r = page("GET", "/rules", "", "")
	if !strings.Contains(string(r.body), "What changed") || strings.Count(string(r.body), "<li") < 3 {
		t.Errorf("public history after a rollback: %s", r.body)
	}
	h.do(t, "GET", "/api/v1/rules/versions", "", nil).json(t, &pubs)
	r = page("GET", "/rules/diff?from="+pubs.Publications[1].Version+"&to="+pubs.Current, "", "")
	if r.status != 200 || !strings.Contains(string(r.body), "fever_or_symptoms") {
		t.Errorf("public diff page: %d", r.status)
	}
	// Only admins may publish.
	if r := page("POST", "/admin/rules/publish", h.tokens[healthcode.RoleTracer], form(redFeverRules(t))); r.status != 403 {
		t.Errorf("a tracer publishing: %d", r.status)
	}
}
