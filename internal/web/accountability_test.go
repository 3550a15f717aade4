package web

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/notice"
	"healthcode/internal/secure"
)

// auditCount is the number of entries in the log (read without adding one).
func (h *harness) auditCount(t *testing.T) int64 {
	t.Helper()
	rep, err := h.store.VerifyAuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Break != nil {
		t.Fatalf("the audit chain is broken: %v", rep.Break)
	}
	return rep.Entries
}

// enrolled enrolls a resident over the API and returns the enrollment (for
// the document), the id and a session token.
func (h *harness) enrolled(t *testing.T) (map[string]any, int64, string) {
	t.Helper()
	e := enrollment()
	r := h.do(t, "POST", "/api/v1/residents", "", e)
	if r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	var me struct{ ID int64 }
	r.json(t, &me)
	var login struct{ Token string }
	h.do(t, "POST", "/api/v1/login", "", map[string]any{"phone": e["phone"], "password": e["password"]}).json(t, &login)
	return e, me.ID, login.Token
}

// caseOf records a confirmed case for the enrolled resident and returns its id.
func (h *harness) caseOf(t *testing.T, e map[string]any) int64 {
	t.Helper()
	r := h.do(t, "POST", "/api/v1/cases", h.tokens[healthcode.RoleTracer], map[string]any{"id_type": e["id_type"],
		"id_number": e["id_number"], "sample_date": h.clock.Now().Add(-24 * time.Hour).Format("2006-01-02")})
	if r.status != 201 {
		t.Fatalf("case: %d %s", r.status, r.body)
	}
	var cr struct{ Case struct{ ID int64 } }
	r.json(t, &cr)
	return cr.Case.ID
}

// protectedCall is one call of a protected read, made ready by its fixture.
type protectedCall struct {
	path    string
	body    any
	token   string // a caller the route allows
	subject int64  // whose data it reads
}

// protectedFixtures makes, for each protected read, the records it reads.
// A protected read without a fixture fails TestProtectedReadsAudited.
func protectedFixtures() map[string]func(t *testing.T, h *harness) protectedCall {
	tracer := func(h *harness) string { return h.tokens[healthcode.RoleTracer] }
	reviewer := func(h *harness) string { return h.tokens[healthcode.RoleReviewer] }
	withCase := func(t *testing.T, h *harness) (int64, int64) {
		e, id, _ := h.enrolled(t)
		return h.caseOf(t, e), id
	}
	return map[string]func(t *testing.T, h *harness) protectedCall{
		"GET /api/v1/cases/{id}": func(t *testing.T, h *harness) protectedCall {
			c, id := withCase(t, h)
			return protectedCall{fmt.Sprintf("/api/v1/cases/%d", c), nil, tracer(h), id}
		},
		"POST /api/v1/cases/{id}/trace": func(t *testing.T, h *harness) protectedCall {
			c, id := withCase(t, h)
			return protectedCall{fmt.Sprintf("/api/v1/cases/%d/trace", c), map[string]any{}, tracer(h), id}
		},
		"POST /api/v1/cases/{id}/designate": func(t *testing.T, h *harness) protectedCall {
			c, id := withCase(t, h)
			return protectedCall{fmt.Sprintf("/api/v1/cases/%d/designate", c), map[string]any{"subjects": []string{"NOBODY42"}}, tracer(h), id}
		},
		"GET /api/v1/appeals/{id}": func(t *testing.T, h *harness) protectedCall {
			_, id, tok := h.enrolled(t)
			var a appealJSON
			h.expect(t, h.do(t, "POST", "/api/v1/me/appeals", tok, map[string]any{"rule": "close_contact", "what": "not me",
				"why": "I was elsewhere"}), 201).json(t, &a)
			return protectedCall{fmt.Sprintf("/api/v1/appeals/%d", a.ID), nil, reviewer(h), id}
		},
		"GET /api/v1/contact-proposals": func(t *testing.T, h *harness) protectedCall {
			_, id, tok := h.enrolled(t)
			_, signed := h.contactNotice(t, "FIXTURE0001", h.subjectOf(t, tok), h.trustPeer(t))
			h.expect(t, h.postNotice(t, signed, notice.MediaType), 200)
			return protectedCall{"/api/v1/contact-proposals", nil, tracer(h), id}
		},
		"GET /api/v1/overrides/{id}": func(t *testing.T, h *harness) protectedCall {
			c, id := withCase(t, h)
			var o overrideJSON
			h.expect(t, h.do(t, "POST", "/api/v1/overrides", tracer(h), map[string]any{"fact": map[string]any{"kind": "case", "id": c},
				"kind": "data_error", "reason": "recorded for the wrong person"}), 201).json(t, &o)
			return protectedCall{fmt.Sprintf("/api/v1/overrides/%d", o.ID), nil, tracer(h), id}
		},
	}
}

func (h *harness) expect(t *testing.T, r reply, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// TestProtectedReadsAudited is driven from the route table: every route
// marked as a protected read refuses a tracer who states no purpose
// (400, nothing read, nothing logged), and otherwise writes exactly one
// audit entry per call, a read of the resident's data with the caller and
// the purpose, which the resident then sees in their access log.
func TestProtectedReadsAudited(t *testing.T) {
	h := newHarness(t)
	srv := New(Config{}, Deps{})
	fixtures := protectedFixtures()
	for _, rt := range srv.routes {
		key := rt.method + " " + rt.pattern
		policy, protected := srv.reads[key]
		if !protected {
			if _, ok := fixtures[key]; ok {
				t.Errorf("%s has a fixture but is not marked as a protected read", key)
			}
			continue
		}
		t.Run(key, func(t *testing.T) {
			fixture, ok := fixtures[key]
			if !ok {
				t.Fatalf("no fixture for the protected read %s: add one to protectedFixtures", key)
			}
			call := fixture(t, h)
			if slices.Contains(rt.roles, healthcode.RoleTracer) {
				before := h.auditCount(t)
				r := h.do(t, rt.method, call.path, h.tokens[healthcode.RoleTracer], call.body)
				if r.status != 400 || !strings.Contains(string(r.body), "purpose") {
					t.Errorf("a tracer without a purpose: %d %s", r.status, r.body)
				}
				if n := h.auditCount(t) - before; n != 0 {
					t.Errorf("a refused read wrote %d audit entries", n)
				}
			}
			purpose := "outbreak 7, " + key
			for i := range 2 {
				before := h.auditCount(t)
				r := h.do(t, rt.method, call.path+"?purpose="+url.QueryEscape(purpose), call.token, call.body)
				if r.status/100 != 2 {
					t.Fatalf("call %d: %d %s", i, r.status, r.body)
				}
				if n := h.auditCount(t) - before; n != 1 {
					t.Errorf("call %d wrote %d audit entries, want exactly 1", i, n)
				}
			}
			log, err := h.store.ListAccessLog(context.Background(), call.subject)
			if err != nil {
				t.Fatal(err)
			}
			if len(log) < 2 || log[0].Purpose != purpose || log[0].Action != healthcode.ActionRead || log[0].ActorName == "" {
				t.Errorf("the resident's access log: %+v", log)
			}
			if policy.defaultPurpose != "" && !slices.Contains(rt.roles, healthcode.RoleTracer) {
				r := h.do(t, rt.method, call.path, call.token, call.body)
				log, _ := h.store.ListAccessLog(context.Background(), call.subject)
				if r.status/100 != 2 || log[0].Purpose != policy.defaultPurpose {
					t.Errorf("without a purpose: %d, logged %q, want the default %q", r.status, log[0].Purpose, policy.defaultPurpose)
				}
			}
		})
	}
}

// TestAppealOverHTTP: the whole appeal path over the API, upheld and
// rejected, by a resident and by a guardian.
func TestAppealOverHTTP(t *testing.T) {
	doc := loadOpenAPI(t)
	h := newHarness(t)
	_, id, tok := h.enrolled(t)
	reviewer := h.tokens[healthcode.RoleReviewer]
	var dc struct {
		Declaration declarationResponse
		Status      statusResponse
	}
	h.expect(t, h.do(t, "POST", "/api/v1/me/declarations", tok, map[string]any{"temperature": 38.9, "symptoms": []string{},
		"visited": []any{}, "contact_with_case": false}), 201).json(t, &dc)
	if dc.Status.Color != healthcode.Yellow {
		t.Fatalf("after the fever: %s", dc.Status.Color)
	}

	// Filing: validation, then a good one.
	r := h.do(t, "POST", "/api/v1/me/appeals", tok, map[string]any{"what": "x"})
	if r.status != 400 || !strings.Contains(string(r.body), "why") {
		t.Errorf("a bad appeal: %d %s", r.status, r.body)
	}
	r = h.expect(t, h.do(t, "POST", "/api/v1/me/appeals", tok, map[string]any{"rule": "fever_or_symptoms",
		"fact": map[string]any{"kind": "declaration", "id": dc.Declaration.ID}, "what": "the temperature is wrong",
		"why": "I typed 38.9 for 36.9", "evidence": "the thermometer reads 36.9"}), 201)
	var a appealJSON
	r.json(t, &a)
	if a.State != "open" || a.Overdue || a.ResidentID != id || a.FiledBy != id || a.Fact == nil {
		t.Errorf("filed %+v", a)
	}
	filed, _ := time.Parse(time.RFC3339, a.FiledAt)
	deadline, _ := time.Parse(time.RFC3339, a.Deadline)
	if deadline.Sub(filed) != 24*time.Hour {
		t.Errorf("deadline %s after filing, want 24h", deadline.Sub(filed))
	}

	// The reviewer's queue flags it once overdue.
	r = h.expect(t, h.do(t, "GET", "/api/v1/appeals", reviewer, nil), 200)
	openAPICheckKeys(t, doc, "AppealQueue", r.body)
	h.clock.advance(25 * time.Hour)
	var q struct {
		Overdue int
		Appeals []appealQueueItem
	}
	h.do(t, "GET", "/api/v1/appeals", reviewer, nil).json(t, &q)
	if q.Overdue != 1 || len(q.Appeals) != 1 || !q.Appeals[0].Overdue {
		t.Errorf("queue %+v", q)
	}
	if r := h.do(t, "GET", "/api/v1/appeals?state=lost", reviewer, nil); r.status != 400 {
		t.Errorf("unknown state: %d", r.status)
	}
	var rv appealReview
	h.expect(t, h.do(t, "GET", fmt.Sprintf("/api/v1/appeals/%d", a.ID), reviewer, nil), 200).json(t, &rv)
	if rv.Appeal.Why != "I typed 38.9 for 36.9" || len(rv.Facts) != 1 || rv.Facts[0].Fact.Kind != healthcode.FactDeclaration ||
		!strings.Contains(rv.Facts[0].Summary, "38.9") {
		t.Errorf("review %+v", rv)
	}

	// Upheld: the declaration no longer counts; the status is recomputed.
	r = h.do(t, "POST", fmt.Sprintf("/api/v1/appeals/%d/decision", a.ID), reviewer, map[string]any{"decision": "maybe", "reason": "x"})
	if r.status != 400 {
		t.Errorf("decision maybe: %d", r.status)
	}
	r = h.expect(t, h.do(t, "POST", fmt.Sprintf("/api/v1/appeals/%d/decision", a.ID), reviewer,
		map[string]any{"decision": "uphold", "reason": "The resident measured 36.9; a typing error."}), 200)
	openAPICheckKeys(t, doc, "AppealDecided", r.body)
	var dec struct {
		Appeal appealJSON
		Status statusResponse
	}
	r.json(t, &dec)
	if dec.Appeal.State != "upheld" || dec.Status.Color != healthcode.Green || dec.Appeal.Withdrawn == nil || dec.Appeal.Overdue {
		t.Errorf("decision %+v", dec)
	}
	if r := h.do(t, "POST", fmt.Sprintf("/api/v1/appeals/%d/decision", a.ID), reviewer, map[string]any{"decision": "reject", "reason": "again"}); r.status != 409 {
		t.Errorf("deciding twice: %d", r.status)
	}
	r = h.expect(t, h.do(t, "GET", "/api/v1/me/appeals", tok, nil), 200)
	openAPICheckKeys(t, doc, "AppealList", r.body)
	var mine struct{ Appeals []appealJSON }
	r.json(t, &mine)
	if len(mine.Appeals) != 1 || mine.Appeals[0].DecisionReason != "The resident measured 36.9; a typing error." {
		t.Errorf("the resident sees %+v", mine)
	}
	var ns notificationsResponse
	h.do(t, "GET", "/api/v1/me/notifications", tok, nil).json(t, &ns)
	if ns.Notifications[0].Kind != healthcode.NotifyAppealDecided || !strings.Contains(ns.Notifications[0].Message, "typing error") {
		t.Errorf("notifications %+v", ns.Notifications)
	}
	r = h.expect(t, h.do(t, "GET", "/api/v1/me/access-log", tok, nil), 200)
	openAPICheckKeys(t, doc, "AccessLog", r.body)
	var al struct{ Reads []accessLogEntry }
	r.json(t, &al)
	if len(al.Reads) != 1 || al.Reads[0].Purpose != "appeal review" || al.Reads[0].Actor != "reviewer test" ||
		al.Reads[0].What != fmt.Sprintf("appeal %d, with the status and facts it concerns", a.ID) {
		t.Errorf("access log %+v", al.Reads)
	}

	// A guardian appeals for a dependent; rejected, with the reason.
	dep := enrollment()
	delete(dep, "password")
	delete(dep, "phone")
	var d struct{ ID int64 }
	h.expect(t, h.do(t, "POST", "/api/v1/me/dependents", tok, dep), 201).json(t, &d)
	h.expect(t, h.do(t, "POST", fmt.Sprintf("/api/v1/residents/%d/appeals", d.ID), tok, map[string]any{"rule": "close_contact",
		"what": "not a contact", "why": "she stays home"}), 201).json(t, &a)
	if a.ResidentID != d.ID || a.FiledBy != id {
		t.Errorf("dependent's appeal %+v", a)
	}
	h.expect(t, h.do(t, "POST", fmt.Sprintf("/api/v1/appeals/%d/decision", a.ID), reviewer,
		map[string]any{"decision": "reject", "reason": "There is no close-contact reason to correct."}), 200)
	h.do(t, "GET", fmt.Sprintf("/api/v1/residents/%d/appeals", d.ID), tok, nil).json(t, &mine)
	if len(mine.Appeals) != 1 || mine.Appeals[0].State != "rejected" || !strings.Contains(mine.Appeals[0].DecisionReason, "no close-contact") {
		t.Errorf("the guardian sees %+v", mine)
	}
	_, _, stranger := h.enrolled(t)
	if r := h.do(t, "GET", fmt.Sprintf("/api/v1/residents/%d/appeals", d.ID), stranger, nil); r.status != 404 {
		t.Errorf("a stranger reads the dependent's appeals: %d", r.status)
	}
}

// TestOverrideOverHTTP: two persons, over the API. The proposer cannot
// approve their own override, not even with a reviewer token of the same
// name; another reviewer can, and the resident sees the override, with its
// written reason, among the reasons of their status.
func TestOverrideOverHTTP(t *testing.T) {
	doc := loadOpenAPI(t)
	h := newHarness(t)
	e, id, tok := h.enrolled(t)
	c := h.caseOf(t, e)
	tracer, reviewer := h.tokens[healthcode.RoleTracer], h.tokens[healthcode.RoleReviewer]
	reason := "Recorded for the wrong person: the lab mixed up two samples."

	var o overrideJSON
	h.expect(t, h.do(t, "POST", "/api/v1/overrides", tracer, map[string]any{"fact": map[string]any{"kind": "case", "id": c},
		"kind": "data_error", "reason": reason}), 201).json(t, &o)
	if o.State != "proposed" || o.ResidentID != id || o.ProposedBy != "tracer test" {
		t.Errorf("proposed %+v", o)
	}
	if r := h.do(t, "POST", "/api/v1/overrides", reviewer, map[string]any{"fact": map[string]any{"kind": "case", "id": c},
		"kind": "data_error", "reason": reason}); r.status != 403 {
		t.Errorf("a reviewer proposes: %d", r.status)
	}
	r := h.expect(t, h.do(t, "GET", "/api/v1/overrides", reviewer, nil), 200)
	openAPICheckKeys(t, doc, "OverrideQueue", r.body)

	// The same person, holding a reviewer token under their own name.
	secret, hash, _ := secure.NewSecret(tokenPrefix)
	if err := h.store.CreateAPIToken(context.Background(), &healthcode.APIToken{Name: "Tracer  Test", Role: healthcode.RoleReviewer, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	r = h.do(t, "POST", fmt.Sprintf("/api/v1/overrides/%d/decision", o.ID), secret, map[string]any{"decision": "approve"})
	if r.status != 403 || !strings.Contains(string(r.body), "proposed") {
		t.Errorf("the proposer approves: %d %s", r.status, r.body)
	}
	var st statusResponse
	h.do(t, "GET", "/api/v1/me/status", tok, nil).json(t, &st)
	if st.Color != healthcode.Red {
		t.Fatalf("before approval: %s", st.Color)
	}

	r = h.expect(t, h.do(t, "POST", fmt.Sprintf("/api/v1/overrides/%d/decision", o.ID), reviewer, map[string]any{"decision": "approve"}), 200)
	openAPICheckKeys(t, doc, "OverrideDecided", r.body)
	h.do(t, "GET", "/api/v1/me/status", tok, nil).json(t, &st)
	if st.Color != healthcode.Green || len(st.Reasons) != 1 || st.Reasons[0].Rule != "override" || !strings.Contains(st.Reasons[0].Message, reason) {
		t.Errorf("after approval: %+v", st)
	}
	var hist struct{ Changes []historyEntry }
	h.do(t, "GET", "/api/v1/me/status/history", tok, nil).json(t, &hist)
	if last := hist.Changes[len(hist.Changes)-1]; !strings.Contains(last.Cause, fmt.Sprintf("override %d approved", o.ID)) {
		t.Errorf("history cause %q", last.Cause)
	}
	// Both steps are in the audit log, by their two actors.
	var page auditPage
	h.expect(t, h.do(t, "GET", fmt.Sprintf("/api/v1/audit?subject=%d", id), h.tokens[healthcode.RoleAuditor], nil), 200).json(t, &page)
	var steps []string
	for _, e := range page.Entries {
		if strings.HasPrefix(e.Action, "override.") {
			steps = append(steps, e.Action+" by "+e.ActorName)
		}
	}
	if !slices.Equal(steps, []string{"override.decide by reviewer test", "override.propose by tracer test"}) {
		t.Errorf("override entries: %v", steps)
	}
}

// TestAuditOverHTTP: the auditor's view: filters, paging, no health data,
// and the chain's verification.
func TestAuditOverHTTP(t *testing.T) {
	h := newHarness(t)
	e, id, tok := h.enrolled(t)
	h.expect(t, h.do(t, "POST", "/api/v1/me/declarations", tok, map[string]any{"temperature": 38.9, "symptoms": []string{"fever", "dry_cough"},
		"visited": []any{}, "contact_with_case": true}), 201)
	h.caseOf(t, e)
	auditor := h.tokens[healthcode.RoleAuditor]

	r := h.expect(t, h.do(t, "GET", fmt.Sprintf("/api/v1/audit?subject=%d", id), auditor, nil), 200)
	var page auditPage
	r.json(t, &page)
	var acts []string
	for _, e := range page.Entries {
		acts = append(acts, e.Action)
		if len(e.Hash) != 64 || len(e.PrevHash) != 64 {
			t.Errorf("entry %+v", e)
		}
	}
	if strings.Join(acts, ",") != "status.change,fact.add,status.change,fact.add,status.change,resident.enroll" {
		t.Errorf("entries about the resident: %v", acts)
	}
	for _, bad := range []string{"red", "yellow", "fever", "38.9", "cough", "positive", e["name"].(string), e["id_number"].(string)} {
		if strings.Contains(string(r.body), bad) {
			t.Errorf("the audit log shows %q: %s", bad, r.body)
		}
	}
	var declarer string
	for _, e := range page.Entries {
		if e.Action == "fact.add" && strings.HasPrefix(e.Detail, "declaration") {
			declarer = e.ActorName
		}
	}
	if declarer != fmt.Sprintf("resident %d", id) {
		t.Errorf("the declaration's actor is %q", declarer)
	}

	h.do(t, "GET", "/api/v1/audit?limit=2", auditor, nil).json(t, &page)
	if len(page.Entries) != 2 || page.NextBefore != page.Entries[1].Seq {
		t.Fatalf("first page %+v", page)
	}
	var next auditPage
	h.do(t, "GET", fmt.Sprintf("/api/v1/audit?limit=2&before=%d", page.NextBefore), auditor, nil).json(t, &next)
	if len(next.Entries) != 2 || next.Entries[0].Seq != page.NextBefore-1 {
		t.Errorf("next page %+v", next)
	}
	h.do(t, "GET", "/api/v1/audit?action=token.issue&actor=", auditor, nil).json(t, &page)
	if len(page.Entries) != len(healthcode.TokenRoles) {
		t.Errorf("%d tokens issued, want %d", len(page.Entries), len(healthcode.TokenRoles))
	}
	from := url.QueryEscape(h.clock.Now().Add(time.Hour).Format(time.RFC3339))
	h.do(t, "GET", "/api/v1/audit?action=fact.add&from="+from, auditor, nil).json(t, &page)
	if len(page.Entries) != 0 {
		t.Errorf("entries from the future: %+v", page.Entries)
	}
	for _, q := range []string{"action=drop", "limit=1000", "subject=x", "from=yesterday"} {
		if r := h.do(t, "GET", "/api/v1/audit?"+q, auditor, nil); r.status != 400 {
			t.Errorf("?%s: %d", q, r.status)
		}
	}
	r = h.expect(t, h.do(t, "GET", "/api/v1/audit/verify", auditor, nil), 200)
	var v auditVerification
	r.json(t, &v)
	if !v.Intact || v.Entries < 10 || v.BrokenAt != 0 {
		t.Errorf("verification %+v", v)
	}
}

// TestExportOverHTTP: the export holds the resident's data and their
// dependents' profiles; a guardian exports a dependent's; nobody else can.
func TestExportOverHTTP(t *testing.T) {
	h := newHarness(t)
	e, id, tok := h.enrolled(t)
	h.expect(t, h.do(t, "POST", "/api/v1/me/declarations", tok, map[string]any{"temperature": 36.6, "symptoms": []string{},
		"visited": []any{}, "contact_with_case": false}), 201)
	c := h.caseOf(t, e)
	h.expect(t, h.do(t, "GET", fmt.Sprintf("/api/v1/cases/%d?purpose=checking+the+onset", c), h.tokens[healthcode.RoleTracer], nil), 200)
	dep := enrollment()
	delete(dep, "password")
	delete(dep, "phone")
	var d struct{ ID int64 }
	h.expect(t, h.do(t, "POST", "/api/v1/me/dependents", tok, dep), 201).json(t, &d)

	r := h.expect(t, h.do(t, "GET", "/api/v1/me/export", tok, nil), 200)
	if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, fmt.Sprintf("healthcode-export-%d.json", id)) {
		t.Errorf("Content-Disposition %q", cd)
	}
	var ex exportResponse
	r.json(t, &ex)
	if ex.Resident.ID != id || ex.Resident.IDNumber != e["id_number"] || len(ex.Dependents) != 1 || len(ex.Declarations) != 1 ||
		len(ex.Cases) != 1 || ex.Status.Color != healthcode.Red || len(ex.History) != 2 || len(ex.RuleSets) != 0 && ex.RuleSets[0].Source == "" {
		t.Errorf("export %+v", ex)
	}
	if ex.History[1].RuleSetVersion == "" || ex.History[1].Reasons[0].Rule != "confirmed_case" {
		t.Errorf("history %+v", ex.History)
	}
	if len(ex.AccessLog) != 1 || ex.AccessLog[0].Purpose != "checking the onset" {
		t.Errorf("access log %+v", ex.AccessLog)
	}
	for _, field := range []string{`"test_results":[]`, `"checkins":[]`, `"withdrawn":[]`, `"appeals":[]`} {
		if !strings.Contains(string(r.body), field) {
			t.Errorf("the export lacks %s", field)
		}
	}
	h.do(t, "GET", fmt.Sprintf("/api/v1/residents/%d/export", d.ID), tok, nil).json(t, &ex)
	if ex.Resident.ID != d.ID || len(ex.Dependents) != 0 {
		t.Errorf("the dependent's export %+v", ex.Resident)
	}
	_, _, stranger := h.enrolled(t)
	if r := h.do(t, "GET", fmt.Sprintf("/api/v1/residents/%d/export", d.ID), stranger, nil); r.status != 404 {
		t.Errorf("a stranger exports: %d", r.status)
	}
}
