package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"healthcode"
)

// The accountability pages (docs/accountability.md): a resident's appeals,
// access log and data export; the reviewer's appeal queue, the two-person
// overrides and the auditor's audit log. Like the other pages they call the
// JSON API's handlers (callAPI), so the rules and refusals are the API's.

// factKinds are the facts an appeal or an override may name.
var factKinds = []healthcode.FactKind{healthcode.FactDeclaration, healthcode.FactTestResult, healthcode.FactVaccination,
	healthcode.FactCase, healthcode.FactContactDesignation, healthcode.FactRetainedReason}

var overrideKinds = []healthcode.OverrideKind{healthcode.OverrideEndedEarly, healthcode.OverrideDataError}

// factFromForm reads a fact named by two form fields, PREFIX_kind and
// PREFIX_id; nil when both are empty.
func factFromForm(p *healthcode.Problems, f url.Values, prefix string) *healthcode.FactRef {
	kind, id := strings.TrimSpace(f.Get(prefix+"_kind")), strings.TrimSpace(f.Get(prefix+"_id"))
	if kind == "" && id == "" {
		return nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		p.Add(prefix+".id", "%q is not a number", id)
	}
	return &healthcode.FactRef{Kind: healthcode.FactKind(kind), ID: n}
}

// parseRFC3339 turns an API time into the region's local time for a page.
func (s *Server) apiTime(v string) string {
	if v == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return v
	}
	return s.localTime(t)
}

// --- resident: appeals ---------------------------------------------------

type appealView struct {
	ID                                  int64
	Rule, What, Why, Evidence           string
	Fact, Withdrawn                     healthcode.FactRef
	FiledAt, Deadline, DecidedAt, State string
	DecidedBy, DecisionReason           string
	Overdue                             bool
}

func (s *Server) appealView(a appealJSON) appealView {
	v := appealView{ID: a.ID, Rule: a.Rule, What: a.What, Why: a.Why, Evidence: a.Evidence, FiledAt: s.apiTime(a.FiledAt),
		Deadline: s.apiTime(a.Deadline), DecidedAt: s.apiTime(a.DecidedAt), State: a.State, DecidedBy: a.DecidedBy,
		DecisionReason: a.DecisionReason, Overdue: a.Overdue}
	if a.Fact != nil {
		v.Fact = *a.Fact
	}
	if a.Withdrawn != nil {
		v.Withdrawn = *a.Withdrawn
	}
	return v
}

type appealsView struct {
	Person    person
	Appeals   []appealView
	Reasons   []ruleChoice
	FactKinds []healthcode.FactKind
	Form      url.Values
}

// ruleChoice is a reason of the current status a resident may contest.
type ruleChoice struct{ Rule, Message string }

func (s *Server) appealsPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "resident", "appeals")
	status := http.StatusOK
	v := appealsView{Person: person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))},
		FactKinds: factKinds, Form: url.Values{}}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		f := r.PostForm
		var problems healthcode.Problems
		req := appealRequest{Rule: strings.TrimSpace(f.Get("rule")), Fact: factFromForm(&problems, f, "fact"),
			What: f.Get("what"), Why: f.Get("why"), Evidence: f.Get("evidence")}
		err := problems.Err("invalid appeal")
		if err == nil {
			err = s.callAPI(w, r, a, s.fileAppeal, req, nil)
		}
		if err == nil {
			return redirect(w, r, "/appeals"+forQuery(forID(r)))
		}
		p.Error, status, v.Form = p.L.Err(err), statusFor(healthcode.ErrorCode(err)), f
	}
	var out struct {
		Appeals []appealJSON `json:"appeals"`
	}
	if err := s.callAPI(w, r, a, s.listAppeals, nil, &out); err != nil {
		return err
	}
	for i := len(out.Appeals) - 1; i >= 0; i-- { // newest first
		v.Appeals = append(v.Appeals, s.appealView(out.Appeals[i]))
	}
	st, err := s.store.CurrentStatus(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	for _, rv := range st.Reasons {
		msg := rv.Message
		if p.L.ZH() {
			msg = rv.MessageZH
		}
		v.Reasons = append(v.Reasons, ruleChoice{Rule: rv.Rule, Message: msg})
	}
	p.D = v
	return s.render(w, r, status, "appeals", p)
}

// --- resident: access log and export -------------------------------------

type accessView struct {
	At, Actor, Role, Purpose, What string
}

func (s *Server) accessLogPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	var out struct {
		Reads []accessLogEntry `json:"reads"`
	}
	if err := s.callAPI(w, r, a, s.getAccessLog, nil, &out); err != nil {
		return err
	}
	p := s.newPage(w, r, a, "resident", "access")
	var reads []accessView
	for _, e := range out.Reads {
		reads = append(reads, accessView{At: s.apiTime(e.At), Actor: e.Actor, Role: e.ActorRole, Purpose: e.Purpose, What: e.What})
	}
	export := "/api/v1/me/export"
	if forID(r) > 0 {
		export = "/api/v1/residents/" + strconv.FormatInt(subject.ID, 10) + "/export"
	}
	p.D = struct {
		Person person
		Reads  []accessView
		Export string
	}{person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))}, reads, export}
	return s.render(w, r, http.StatusOK, "access_log", p)
}

// --- reviewer: the appeal queue ------------------------------------------

type queueView struct {
	State   string
	States  []string
	Overdue int
	Items   []appealView
}

func (s *Server) appealQueuePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var out struct {
		Overdue int               `json:"overdue"`
		Appeals []appealQueueItem `json:"appeals"`
	}
	if err := s.callAPI(w, r, a, s.appealQueue, nil, &out); err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "appeals")
	if id := r.URL.Query().Get("decided"); id != "" {
		p.Notice = fmt.Sprintf("%s #%s", p.L.T("appeal.decided"), id)
	}
	v := queueView{State: r.URL.Query().Get("state"), States: []string{"open", "upheld", "rejected"}, Overdue: out.Overdue}
	if v.State == "" {
		v.State = "open"
	}
	for _, q := range out.Appeals {
		v.Items = append(v.Items, appealView{ID: q.ID, State: q.State, FiledAt: s.apiTime(q.FiledAt), Deadline: s.apiTime(q.Deadline), Overdue: q.Overdue})
	}
	p.D = v
	return s.render(w, r, http.StatusOK, "appeal_queue", p)
}

type factView struct {
	Fact        healthcode.FactRef
	At, Summary string
}

type reviewView struct {
	ID        int64
	Purpose   string
	Appeal    *appealView
	Override  *overrideView
	Color     healthcode.Color
	Reasons   []reasonView
	Facts     []factView
	FactKinds []healthcode.FactKind
	CanDecide bool
}

func (s *Server) reviewStatus(l *catalog, v *reviewView, st statusResponse, facts []factSummaryJSON) {
	v.Color = st.Color
	for _, rs := range st.Reasons {
		since, _ := time.Parse(time.RFC3339, rs.Since)
		until, _ := time.Parse(time.RFC3339, rs.Until)
		v.Reasons = append(v.Reasons, s.reasonViews(l, []healthcode.Reason{{Rule: rs.Rule, Color: rs.Color, Mark: rs.Mark,
			Message: rs.Message, MessageZH: rs.MessageZH, Since: since, Until: until}})...)
	}
	for _, f := range facts {
		v.Facts = append(v.Facts, factView{Fact: f.Fact, At: s.apiTime(f.At), Summary: f.Summary})
	}
}

// appealPage asks for the purpose (GET) and then opens the appeal (POST):
// opening it reads the resident's status and facts, which is recorded.
func (s *Server) appealPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	id, err := pathID(r, "appeal")
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "appeals")
	v := reviewView{ID: id, FactKinds: factKinds}
	if r.Method == http.MethodGet {
		p.D = v
		return s.render(w, r, http.StatusOK, "appeal", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if r, err = withFormPurpose(r, a); err != nil {
		return err
	}
	var out appealReview
	if err := s.callAPI(w, r, a, s.getAppeal, nil, &out); err != nil {
		return err
	}
	av := s.appealView(out.Appeal)
	v.Appeal, v.Purpose, v.CanDecide = &av, r.PostForm.Get("purpose"), out.Appeal.State == string(healthcode.AppealOpen)
	s.reviewStatus(p.L, &v, out.Status, out.Facts)
	p.D = v
	return s.render(w, r, http.StatusOK, "appeal", p)
}

func (s *Server) appealDecisionPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	var problems healthcode.Problems
	req := appealDecisionRequest{Decision: f.Get("decision"), Reason: f.Get("reason"), Withdraw: factFromForm(&problems, f, "withdraw")}
	err := problems.Err("invalid decision")
	if err == nil {
		err = s.callAPI(w, r, a, s.decideAppeal, req, nil)
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/admin/appeals?decided="+r.PathValue("id"))
}

// --- overrides -------------------------------------------------------------

type overrideView struct {
	ID                                          int64
	Fact                                        healthcode.FactRef
	Kind, Reason, State, ProposedAt, ProposedBy string
	DecidedAt, DecidedBy, DecisionReason        string
}

func (s *Server) overrideView(o overrideJSON) overrideView {
	return overrideView{ID: o.ID, Fact: o.Fact, Kind: o.Kind, Reason: o.Reason, State: o.State, ProposedAt: s.apiTime(o.ProposedAt),
		ProposedBy: o.ProposedBy, DecidedAt: s.apiTime(o.DecidedAt), DecidedBy: o.DecidedBy, DecisionReason: o.DecisionReason}
}

func (s *Server) overridesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "overrides")
	status := http.StatusOK
	form := url.Values{}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		f := r.PostForm
		var problems healthcode.Problems
		req := overrideRequest{Kind: f.Get("kind"), Reason: f.Get("reason")}
		if fact := factFromForm(&problems, f, "fact"); fact != nil {
			req.Fact = *fact
		}
		err := problems.Err("invalid override")
		if err == nil {
			err = s.callAPI(w, r, a, s.proposeOverride, req, nil)
		}
		if err == nil {
			return redirect(w, r, "/admin/overrides")
		}
		p.Error, status, form = p.L.Err(err), statusFor(healthcode.ErrorCode(err)), f
	}
	return s.renderOverrides(w, r, a, p, status, form)
}

func (s *Server) renderOverrides(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, p *page, status int, form url.Values) error {
	state := r.URL.Query().Get("state")
	if r.Method != http.MethodGet {
		state = ""
		r.URL.RawQuery = ""
	}
	var out struct {
		Overrides []overrideQueueItem `json:"overrides"`
	}
	if err := s.callAPI(w, r, a, s.overrideQueue, nil, &out); err != nil {
		return err
	}
	if state == "" {
		state = "proposed"
	}
	var items []overrideView
	for _, o := range out.Overrides {
		items = append(items, overrideView{ID: o.ID, State: o.State, Fact: o.Fact, Kind: o.Kind, ProposedAt: s.apiTime(o.ProposedAt), ProposedBy: o.ProposedBy})
	}
	if id := r.URL.Query().Get("decided"); id != "" {
		p.Notice = fmt.Sprintf("%s #%s", p.L.T("override.decided"), id)
	}
	p.D = struct {
		State     string
		States    []string
		Items     []overrideView
		Form      url.Values
		FactKinds []healthcode.FactKind
		Kinds     []healthcode.OverrideKind
		Propose   bool
	}{state, []string{"proposed", "approved", "rejected"}, items, form, factKinds, overrideKinds, a.Role == healthcode.RoleTracer}
	return s.render(w, r, status, "overrides", p)
}

// overridePage asks for the purpose (GET) and then opens the override (POST).
func (s *Server) overridePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	id, err := pathID(r, "override")
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "overrides")
	v := reviewView{ID: id}
	if r.Method == http.MethodGet {
		p.D = v
		return s.render(w, r, http.StatusOK, "override", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if r, err = withFormPurpose(r, a); err != nil {
		return err
	}
	var out overrideReview
	if err := s.callAPI(w, r, a, s.getOverride, nil, &out); err != nil {
		return err
	}
	ov := s.overrideView(out.Override)
	v.Override, v.Purpose = &ov, r.PostForm.Get("purpose")
	v.CanDecide = a.Role == healthcode.RoleReviewer && out.Override.State == string(healthcode.OverrideProposed)
	s.reviewStatus(p.L, &v, out.Status, out.Facts)
	p.D = v
	return s.render(w, r, http.StatusOK, "override", p)
}

// overrideDecisionPage approves or rejects; a refusal (the proposer may not
// approve their own) is shown on the overrides page as the API words it.
func (s *Server) overrideDecisionPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	req := overrideDecisionRequest{Decision: r.PostForm.Get("decision"), Reason: r.PostForm.Get("reason")}
	if err := s.callAPI(w, r, a, s.decideOverride, req, nil); err != nil {
		if healthcode.ErrorCode(err) == healthcode.EINTERNAL {
			return err
		}
		p := s.newPage(w, r, a, "admin", "overrides")
		p.Error = p.L.Err(err)
		return s.renderOverrides(w, r, a, p, statusFor(healthcode.ErrorCode(err)), url.Values{})
	}
	return redirect(w, r, "/admin/overrides?decided="+r.PathValue("id"))
}

// --- auditor: the audit log ------------------------------------------------

type auditView struct {
	Seq                                      int64
	At, Role, Actor, Action, Purpose, Detail string
	Subject                                  int64
	Hash                                     string
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "audit")
	form := r.URL.Query()
	// The API takes RFC 3339; the form's date-time fields are local.
	var problems healthcode.Problems
	q := url.Values{}
	for _, k := range []string{"actor", "subject", "action", "before"} {
		if v := strings.TrimSpace(form.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	for _, k := range []string{"from", "to"} {
		if v := s.localInput(&problems, k, form.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	var out auditPage
	err := problems.Err("invalid audit query")
	if err == nil {
		api := r.Clone(r.Context())
		api.URL.RawQuery = q.Encode()
		err = s.callAPI(w, api, a, s.listAudit, nil, &out)
	}
	status := http.StatusOK
	if err != nil {
		if healthcode.ErrorCode(err) == healthcode.EINTERNAL {
			return err
		}
		p.Error, status = p.L.Err(err), statusFor(healthcode.ErrorCode(err))
	}
	var entries []auditView
	for _, e := range out.Entries {
		entries = append(entries, auditView{Seq: e.Seq, At: s.apiTime(e.At), Role: e.ActorRole, Actor: e.ActorName, Action: e.Action,
			Subject: e.Subject, Purpose: e.Purpose, Detail: e.Detail, Hash: e.Hash[:min(12, len(e.Hash))]})
	}
	next := ""
	if out.NextBefore > 0 {
		nq := url.Values{}
		for k, v := range form {
			nq[k] = v
		}
		nq.Set("before", strconv.FormatInt(out.NextBefore, 10))
		nq.Del("lang")
		next = "/admin/audit?" + nq.Encode()
	}
	p.D = struct {
		Form    url.Values
		Entries []auditView
		Next    string
	}{form, entries, next}
	return s.render(w, r, status, "audit", p)
}

func (s *Server) auditVerifyPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var out auditVerification
	if err := s.callAPI(w, r, a, s.verifyAudit, nil, &out); err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "audit")
	p.D = out
	return s.render(w, r, http.StatusOK, "audit_verify", p)
}
