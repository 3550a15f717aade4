package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/secure"
)

// signedIn is a browser signed in with a resident's phone and password, or
// with an API token.
func signedIn(t *testing.T, h *harness, form url.Values, want string) *browser {
	t.Helper()
	b := newBrowser(t, h)
	path := "/signin"
	if form.Has("token") {
		path = "/admin/signin"
	}
	if r := b.post(path, form, "same-origin"); r.status != http.StatusSeeOther || r.header.Get("Location") != want {
		t.Fatalf("sign in at %s: %d %s %s", path, r.status, r.header.Get("Location"), r.body)
	}
	return b
}

// TestAppealPages: a resident files an appeal against a case through the
// page, a reviewer opens it with a purpose and upholds it, and the resident
// sees the decision, its reason and the reviewer's read in the access log.
func TestAppealPages(t *testing.T) {
	h := newHarness(t)
	e, _, _ := h.enrolled(t)
	c := h.caseOf(t, e)
	res := signedIn(t, h, url.Values{"phone": {e["phone"].(string)}, "password": {e["password"].(string)}}, "/")
	if r := res.get("/appeals?lang=en"); r.status != 200 || !strings.Contains(string(r.body), `action="/appeals"`) {
		t.Fatalf("appeals page: %d %s", r.status, r.body)
	}
	appeal := url.Values{"fact_kind": {"case"}, "fact_id": {fmt.Sprint(c)}, "what": {"I am not a case"},
		"why": {"The lab mixed up my sample with another person's."}, "evidence": {"Hospital letter 2026-117"}}
	if r := res.post("/appeals", appeal, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site appeal: %d", r.status)
	}
	if r := res.post("/appeals", url.Values{"what": {"x"}}, "same-origin"); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "rule") {
		t.Errorf("an appeal naming nothing: %d %s", r.status, r.body)
	}
	if r := res.post("/appeals", appeal, "same-origin"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/appeals" {
		t.Fatalf("file an appeal: %d %s", r.status, r.body)
	}
	if body := string(res.get("/appeals").body); !strings.Contains(body, "I am not a case") || !strings.Contains(body, "Open") {
		t.Errorf("the appeal in the list: %s", body)
	}

	h.clock.advance(30 * 24 * time.Hour) // past the deadline, and the session's end
	res = signedIn(t, h, url.Values{"phone": {e["phone"].(string)}, "password": {e["password"].(string)}}, "/")
	res.get("/?lang=en")
	rev := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleReviewer]}}, "/admin/appeals")
	queue := string(rev.get("/admin/appeals?lang=en").body)
	if !strings.Contains(queue, `class="overdue"`) || !strings.Contains(queue, "past their deadline") {
		t.Errorf("the overdue appeal is not flagged: %s", queue)
	}
	m := regexp.MustCompile(`href="/admin/appeals/(\d+)"`).FindStringSubmatch(queue)
	if m == nil || strings.Contains(queue, "I am not a case") {
		t.Fatalf("the queue shows the appeal without its content: %s", queue)
	}
	if body := string(rev.get("/admin/appeals/" + m[1]).body); !strings.Contains(body, `name="purpose"`) || strings.Contains(body, "I am not a case") {
		t.Errorf("opening asks for a purpose first: %s", body)
	}
	before := h.auditCount(t)
	r := rev.post("/admin/appeals/"+m[1], url.Values{"purpose": {"appeal review: sample mix-up"}}, "same-origin")
	if body := string(r.body); r.status != 200 || !strings.Contains(body, "I am not a case") || !strings.Contains(body, `value="uphold"`) {
		t.Fatalf("open the appeal: %d %s", r.status, body)
	}
	if n := h.auditCount(t) - before; n != 1 {
		t.Errorf("opening an appeal wrote %d audit entries, want 1", n)
	}
	decision := url.Values{"decision": {"uphold"}, "reason": {"The hospital confirmed the mix-up."}}
	if r := rev.post("/admin/appeals/"+m[1]+"/decision", decision, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site decision: %d", r.status)
	}
	if r := rev.post("/admin/appeals/"+m[1]+"/decision", decision, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("uphold: %d %s", r.status, r.body)
	}
	body := string(res.get("/appeals").body)
	if !strings.Contains(body, "Upheld") || !strings.Contains(body, "The hospital confirmed the mix-up.") {
		t.Errorf("the resident sees the decision: %s", body)
	}
	body = string(res.get("/access-log").body)
	if !strings.Contains(body, "appeal review: sample mix-up") || !strings.Contains(body, `href="/api/v1/me/export"`) {
		t.Errorf("access log page: %s", body)
	}
	if r := res.get("/api/v1/me/export"); r.status != 200 || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export: %d %v", r.status, r.header)
	}

	// A guardian's pages for a dependent, and nobody else's.
	dep := registrationForm()
	dep.Del("password")
	dep.Set("phone", "")
	if r := res.post("/family", dep, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("register a dependent: %d %s", r.status, r.body)
	}
	d := regexp.MustCompile(`href="/\?for=(\d+)"`).FindStringSubmatch(string(res.get("/family").body))
	if d == nil {
		t.Fatal("no dependent on the family page")
	}
	if r := res.get("/appeals?for=" + d[1]); r.status != 200 || !strings.Contains(string(r.body), `action="/appeals?for=`+d[1]+`"`) {
		t.Errorf("a dependent's appeals: %d %s", r.status, r.body)
	}
	if r := res.get("/access-log?for=" + d[1]); r.status != 200 || !strings.Contains(string(r.body), `href="/api/v1/residents/`+d[1]+`/export"`) {
		t.Errorf("a dependent's access log: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/appeals?for=999999", "/access-log?for=999999"} {
		if r := res.get(p); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
}

// TestOverridePages: a tracer proposes, the same person cannot approve with
// a reviewer token of their own (the page shows the API's refusal), and
// another reviewer approves.
func TestOverridePages(t *testing.T) {
	h := newHarness(t)
	e, _, _ := h.enrolled(t)
	c := h.caseOf(t, e)
	tracer := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "/admin")
	if r := tracer.get("/admin/overrides?lang=en"); r.status != 200 || !strings.Contains(string(r.body), `action="/admin/overrides"`) {
		t.Fatalf("overrides page: %d %s", r.status, r.body)
	}
	propose := url.Values{"fact_kind": {"case"}, "fact_id": {fmt.Sprint(c)}, "kind": {"data_error"}, "reason": {"Recorded for the wrong person."}}
	if r := tracer.post("/admin/overrides", propose, "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site proposal: %d", r.status)
	}
	if r := tracer.post("/admin/overrides", propose, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("propose: %d %s", r.status, r.body)
	}
	m := regexp.MustCompile(`href="/admin/overrides/(\d+)"`).FindStringSubmatch(string(tracer.get("/admin/overrides").body))
	if m == nil {
		t.Fatal("the proposal is not listed")
	}
	secret, hash, _ := secure.NewSecret(tokenPrefix)
	if err := h.store.CreateAPIToken(context.Background(), &healthcode.APIToken{Name: "Tracer  Test", Role: healthcode.RoleReviewer, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	self := signedIn(t, h, url.Values{"token": {secret}}, "/admin/appeals")
	approve := url.Values{"decision": {"approve"}}
	if r := self.post("/admin/overrides/"+m[1]+"/decision", approve, "same-origin"); r.status != http.StatusForbidden ||
		!strings.Contains(string(r.body), "proposed") || !strings.Contains(string(r.body), `class="alert"`) {
		t.Errorf("the proposer approves: %d %s", r.status, r.body)
	}
	rev := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleReviewer]}}, "/admin/appeals")
	if r := rev.post("/admin/overrides/"+m[1], url.Values{"purpose": {"override review"}}, "same-origin"); r.status != 200 || !strings.Contains(string(r.body), `value="approve"`) {
		t.Errorf("open the override: %d %s", r.status, r.body)
	}
	if r := rev.post("/admin/overrides/"+m[1]+"/decision", approve, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if body := string(rev.get("/admin/overrides?state=approved").body); !strings.Contains(body, "/admin/overrides/"+m[1]) {
		t.Errorf("approved overrides: %s", body)
	}
	if r := tracer.post("/admin/overrides/"+m[1]+"/decision", approve, "same-origin"); r.status != http.StatusForbidden {
		t.Errorf("a tracer decides: %d", r.status)
	}
}

// TestAuditPages: the auditor filters the log and checks the chain; other
// roles cannot open either.
func TestAuditPages(t *testing.T) {
	h := newHarness(t)
	e, _, _ := h.enrolled(t)
	h.caseOf(t, e)
	aud := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleAuditor]}}, "/admin/audit")
	body := string(aud.get("/admin/audit?lang=en").body)
	if !strings.Contains(body, "case.create") && !strings.Contains(body, "case") {
		t.Errorf("audit page: %s", body)
	}
	r := aud.get("/admin/audit?actor=nobody+at+all")
	if r.status != 200 || !strings.Contains(string(r.body), "No entries match") {
		t.Errorf("filtered audit page: %d %s", r.status, r.body)
	}
	if r := aud.get("/admin/audit?from=yesterday"); r.status != 400 {
		t.Errorf("a bad time filter: %d", r.status)
	}
	if r := aud.get("/admin/audit/verify"); r.status != 200 || !strings.Contains(string(r.body), "intact") {
		t.Errorf("chain check: %d %s", r.status, r.body)
	}
	rev := signedIn(t, h, url.Values{"token": {h.tokens[healthcode.RoleReviewer]}}, "/admin/appeals")
	for _, p := range []string{"/admin/audit", "/admin/audit/verify"} {
		if r := rev.get(p); r.status != http.StatusForbidden {
			t.Errorf("reviewer GET %s: %d", p, r.status)
		}
	}
	if body := string(aud.get("/admin/audit").body); !strings.Contains(body, `class="brand" href="/admin/audit"`) {
		t.Errorf("the auditor's home link: %s", body)
	}
	if r := aud.get("/admin/appeals"); r.status != http.StatusForbidden {
		t.Errorf("auditor on the appeal queue: %d", r.status)
	}
}
