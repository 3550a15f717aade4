package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"healthcode"
)

// Accountability (issue 4): appeals, two-person overrides, the audit log and
// the resident's access log, and the data export. docs/accountability.md
// explains them.

// readPolicy marks a protected read: a route that reads a resident's
// personal or health data on behalf of someone other than the resident or
// their guardian. Every call states a purpose (?purpose=...) and writes
// exactly one audit entry, in the transaction that reads.
type readPolicy struct {
	// defaultPurpose is used when the caller states none, except for
	// tracers, who must always say why. Empty: every caller must.
	defaultPurpose string
}

type accessKey struct{}

// protectedRead marks rt as a protected read in the route table: the
// handler runs only once the purpose is known, and finds the access to pass
// to the store with readAccess.
func (s *Server) protectedRead(defaultPurpose string, rt route) route {
	if s.reads == nil {
		s.reads = map[string]readPolicy{}
	}
	policy := readPolicy{defaultPurpose: defaultPurpose}
	s.reads[rt.method+" "+rt.pattern] = policy
	h := rt.h
	rt.h = func(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
		if a == nil {
			return healthcode.Errorf(healthcode.EUNAUTHORIZED, "sign in first: reading a person's data is recorded with who read it")
		}
		acc := healthcode.Access{Actor: *a, Purpose: strings.TrimSpace(r.URL.Query().Get("purpose"))}
		if acc.Purpose == "" && a.Role != healthcode.RoleTracer {
			acc.Purpose = policy.defaultPurpose
		}
		if err := acc.Validate(); err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), accessKey{}, acc)), a)
	}
	return rt
}

// readAccess returns the access of a protected read.
func readAccess(r *http.Request) (healthcode.Access, error) {
	acc, ok := r.Context().Value(accessKey{}).(healthcode.Access)
	if !ok {
		return acc, healthcode.Errorf(healthcode.EINTERNAL, "the route %s is not marked as a protected read", r.URL.Path)
	}
	return acc, nil
}

type factSummaryJSON struct {
	Fact    healthcode.FactRef `json:"fact"`
	At      string             `json:"at"`
	Summary string             `json:"summary"`
}

func (s *Server) factSummaries(f *healthcode.Facts) []factSummaryJSON {
	sums := healthcode.SummarizeFacts(f, s.cfg.Location)
	out := make([]factSummaryJSON, len(sums))
	for i, x := range sums {
		out[i] = factSummaryJSON{Fact: x.Fact, At: timeString(x.At), Summary: x.Summary}
	}
	return out
}

// --- Appeals -------------------------------------------------------------

type appealRequest struct {
	Rule     string              `json:"rule"`
	Fact     *healthcode.FactRef `json:"fact"`
	What     string              `json:"what"`
	Why      string              `json:"why"`
	Evidence string              `json:"evidence"`
}

type appealJSON struct {
	ID             int64               `json:"id"`
	ResidentID     int64               `json:"resident_id"`
	FiledBy        int64               `json:"filed_by"`
	Rule           string              `json:"rule,omitempty"`
	Fact           *healthcode.FactRef `json:"fact,omitempty"`
	What           string              `json:"what"`
	Why            string              `json:"why"`
	Evidence       string              `json:"evidence,omitempty"`
	FiledAt        string              `json:"filed_at"`
	Deadline       string              `json:"deadline"`
	Overdue        bool                `json:"overdue"`
	State          string              `json:"state"`
	DecidedAt      string              `json:"decided_at,omitempty"`
	DecidedBy      string              `json:"decided_by,omitempty"`
	DecisionReason string              `json:"decision_reason,omitempty"`
	Withdrawn      *healthcode.FactRef `json:"withdrawn,omitempty"`
}

func factPtr(f healthcode.FactRef) *healthcode.FactRef {
	if f.IsZero() {
		return nil
	}
	return &f
}

func (s *Server) appealJSON(a *healthcode.Appeal) appealJSON {
	return appealJSON{ID: a.ID, ResidentID: a.ResidentID, FiledBy: a.FiledBy, Rule: a.Rule, Fact: factPtr(a.Fact),
		What: a.What, Why: a.Why, Evidence: a.Evidence, FiledAt: timeString(a.FiledAt), Deadline: timeString(a.Deadline),
		Overdue: a.Overdue(s.clock.Now()), State: string(a.State), DecidedAt: timeString(a.DecidedAt), DecidedBy: a.DecidedBy,
		DecisionReason: a.DecisionReason, Withdrawn: factPtr(a.Withdrawn)}
}

// fileAppeal: a resident contests a reason or a fact of their own status,
// or a guardian of a dependent's.
func (s *Server) fileAppeal(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req appealRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	ap := &healthcode.Appeal{ResidentID: subject.ID, FiledBy: a.ResidentID, Rule: strings.TrimSpace(req.Rule),
		What: strings.TrimSpace(req.What), Why: strings.TrimSpace(req.Why), Evidence: strings.TrimSpace(req.Evidence)}
	if req.Fact != nil {
		ap.Fact = *req.Fact
	}
	if err := s.store.FileAppeal(r.Context(), ap, s.cfg.AppealDeadline); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.appealJSON(ap))
	return nil
}

func (s *Server) listAppeals(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	as, err := s.store.ListAppeals(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	out := make([]appealJSON, len(as))
	for i := range as {
		out[i] = s.appealJSON(&as[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"resident_id": subject.ID, "appeals": out})
	return nil
}

// appealQueueItem is what the queue shows of an appeal: no personal or
// health data (opening one is a protected read).
type appealQueueItem struct {
	ID       int64  `json:"id"`
	State    string `json:"state"`
	FiledAt  string `json:"filed_at"`
	Deadline string `json:"deadline"`
	Overdue  bool   `json:"overdue"`
}

func (s *Server) appealQueue(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	state := healthcode.AppealState(r.URL.Query().Get("state"))
	switch state {
	case "":
		state = healthcode.AppealOpen
	case healthcode.AppealOpen, healthcode.AppealUpheld, healthcode.AppealRejected:
	default:
		return healthcode.Errorf(healthcode.EINVALID, "state must be open, upheld or rejected")
	}
	as, err := s.store.AppealQueue(r.Context(), state)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	out := make([]appealQueueItem, len(as))
	overdue := 0
	for i := range as {
		a := &as[i]
		out[i] = appealQueueItem{ID: a.ID, State: string(a.State), FiledAt: timeString(a.FiledAt), Deadline: timeString(a.Deadline),
			Overdue: a.Overdue(now)}
		if out[i].Overdue {
			overdue++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state, "overdue": overdue, "appeals": out})
	return nil
}

type appealReview struct {
	Appeal appealJSON        `json:"appeal"`
	Status statusResponse    `json:"status"`
	Facts  []factSummaryJSON `json:"facts"`
}

func (s *Server) getAppeal(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	id, err := pathID(r, "appeal")
	if err != nil {
		return err
	}
	acc, err := readAccess(r)
	if err != nil {
		return err
	}
	a, rv, err := s.store.ReviewAppeal(r.Context(), acc, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, appealReview{Appeal: s.appealJSON(a), Status: statusJSON(rv.ResidentID, rv.Status),
		Facts: s.factSummaries(rv.Facts)})
	return nil
}

type appealDecisionRequest struct {
	Decision string              `json:"decision"`
	Reason   string              `json:"reason"`
	Withdraw *healthcode.FactRef `json:"withdraw"`
}

func (s *Server) decideAppeal(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	id, err := pathID(r, "appeal")
	if err != nil {
		return err
	}
	var req appealDecisionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d := healthcode.AppealDecision{Reason: strings.TrimSpace(req.Reason), By: *a}
	switch req.Decision {
	case "uphold":
		d.Uphold = true
	case "reject":
	default:
		return (&healthcode.Problems{{Field: "decision", Message: "must be uphold or reject"}}).Err("invalid decision")
	}
	if req.Withdraw != nil {
		d.Withdraw = *req.Withdraw
	}
	ap, st, err := s.store.DecideAppeal(r.Context(), id, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"appeal": s.appealJSON(ap), "status": statusJSON(ap.ResidentID, st)})
	return nil
}

// --- Overrides -----------------------------------------------------------

type overrideRequest struct {
	Fact   healthcode.FactRef `json:"fact"`
	Kind   string             `json:"kind"`
	Reason string             `json:"reason"`
}

type overrideJSON struct {
	ID             int64              `json:"id"`
	ResidentID     int64              `json:"resident_id"`
	Fact           healthcode.FactRef `json:"fact"`
	Kind           string             `json:"kind"`
	Reason         string             `json:"reason"`
	State          string             `json:"state"`
	ProposedAt     string             `json:"proposed_at"`
	ProposedBy     string             `json:"proposed_by"`
	DecidedAt      string             `json:"decided_at,omitempty"`
	DecidedBy      string             `json:"decided_by,omitempty"`
	DecisionReason string             `json:"decision_reason,omitempty"`
}

func overrideJSONOf(o *healthcode.Override) overrideJSON {
	return overrideJSON{ID: o.ID, ResidentID: o.ResidentID, Fact: o.Fact, Kind: string(o.Kind), Reason: o.Reason,
		State: string(o.State), ProposedAt: timeString(o.ProposedAt), ProposedBy: o.ProposedBy.Name,
		DecidedAt: timeString(o.DecidedAt), DecidedBy: o.DecidedBy.Name, DecisionReason: o.DecisionReason}
}

func (s *Server) proposeOverride(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req overrideRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	o := &healthcode.Override{Fact: req.Fact, Kind: healthcode.OverrideKind(req.Kind), Reason: strings.TrimSpace(req.Reason), ProposedBy: *a}
	if err := s.store.ProposeOverride(r.Context(), o); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, overrideJSONOf(o))
	return nil
}

// overrideQueueItem is what the queue shows of an override: no personal or
// health data (opening one is a protected read).
type overrideQueueItem struct {
	ID         int64              `json:"id"`
	State      string             `json:"state"`
	Fact       healthcode.FactRef `json:"fact"`
	Kind       string             `json:"kind"`
	ProposedAt string             `json:"proposed_at"`
	ProposedBy string             `json:"proposed_by"`
}

func (s *Server) overrideQueue(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	state := healthcode.OverrideState(r.URL.Query().Get("state"))
	switch state {
	case "":
		state = healthcode.OverrideProposed
	case healthcode.OverrideProposed, healthcode.OverrideApproved, healthcode.OverrideRejected:
	default:
		return healthcode.Errorf(healthcode.EINVALID, "state must be proposed, approved or rejected")
	}
	os, err := s.store.OverrideQueue(r.Context(), state)
	if err != nil {
		return err
	}
	out := make([]overrideQueueItem, len(os))
	for i, o := range os {
		out[i] = overrideQueueItem{ID: o.ID, State: string(o.State), Fact: o.Fact, Kind: string(o.Kind),
			ProposedAt: timeString(o.ProposedAt), ProposedBy: o.ProposedBy.Name}
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state, "overrides": out})
	return nil
}

type overrideReview struct {
	Override overrideJSON      `json:"override"`
	Status   statusResponse    `json:"status"`
	Facts    []factSummaryJSON `json:"facts"`
}

func (s *Server) getOverride(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	id, err := pathID(r, "override")
	if err != nil {
		return err
	}
	acc, err := readAccess(r)
	if err != nil {
		return err
	}
	o, rv, err := s.store.ReviewOverride(r.Context(), acc, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, overrideReview{Override: overrideJSONOf(o), Status: statusJSON(rv.ResidentID, rv.Status),
		Facts: s.factSummaries(rv.Facts)})
	return nil
}

type overrideDecisionRequest struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func (s *Server) decideOverride(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	id, err := pathID(r, "override")
	if err != nil {
		return err
	}
	var req overrideDecisionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d := healthcode.OverrideDecision{Reason: strings.TrimSpace(req.Reason), By: *a}
	switch req.Decision {
	case "approve":
		d.Approve = true
	case "reject":
	default:
		return (&healthcode.Problems{{Field: "decision", Message: "must be approve or reject"}}).Err("invalid decision")
	}
	o, st, err := s.store.DecideOverride(r.Context(), id, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"override": overrideJSONOf(o), "status": statusJSON(o.ResidentID, st)})
	return nil
}

// --- The audit log -------------------------------------------------------

type auditEntryJSON struct {
	Seq       int64  `json:"seq"`
	At        string `json:"at"`
	ActorRole string `json:"actor_role"`
	ActorID   int64  `json:"actor_id,omitempty"`
	ActorName string `json:"actor_name"`
	Action    string `json:"action"`
	Subject   int64  `json:"subject,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
	Detail    string `json:"detail"`
	PrevHash  string `json:"prev_hash"`
	Hash      string `json:"hash"`
}

type auditPage struct {
	Entries []auditEntryJSON `json:"entries"`
	// NextBefore, when present, is the before= of the next (older) page.
	NextBefore int64 `json:"next_before,omitempty"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	q := r.URL.Query()
	var p healthcode.Problems
	num := func(field string) int64 {
		v := q.Get(field)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			p.Add(field, "must be a whole number")
		}
		return n
	}
	f := healthcode.AuditFilter{Actor: q.Get("actor"), Subject: num("subject"), Action: q.Get("action"),
		From: parseTime(&p, "from", q.Get("from")), To: parseTime(&p, "to", q.Get("to")), Before: num("before"),
		Limit: int(num("limit"))}
	p.Merge(f.Validate())
	if err := p.Err("invalid audit query"); err != nil {
		return err
	}
	es, err := s.store.ListAudit(r.Context(), *a, f)
	if err != nil {
		return err
	}
	out := auditPage{Entries: make([]auditEntryJSON, len(es))}
	for i, e := range es {
		out.Entries[i] = auditEntryJSON{Seq: e.Seq, At: timeString(e.At), ActorRole: string(e.ActorRole), ActorID: e.ActorID,
			ActorName: e.ActorName, Action: e.Action, Subject: e.Subject, Purpose: e.Purpose, Detail: e.Detail,
			PrevHash: e.PrevHash, Hash: e.Hash}
	}
	limit := f.Limit
	if limit == 0 {
		limit = healthcode.DefaultAuditPage
	}
	if len(es) == limit && es[len(es)-1].Seq > 1 {
		out.NextBefore = es[len(es)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type auditVerification struct {
	Intact  bool   `json:"intact"`
	Entries int64  `json:"entries"`
	Head    string `json:"head"`
	// BrokenAt and Problem say where the chain first breaks.
	BrokenAt int64  `json:"broken_at,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	rep, err := s.store.VerifyAuditLog(r.Context())
	if err != nil {
		return err
	}
	out := auditVerification{Intact: rep.Break == nil, Entries: rep.Entries, Head: rep.Head}
	if rep.Break != nil {
		out.BrokenAt, out.Problem = rep.Break.Seq, rep.Break.Problem
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// accessLogEntry is one read of a resident's data by someone else, as the
// resident sees it.
type accessLogEntry struct {
	At        string `json:"at"`
	Actor     string `json:"actor"`
	ActorRole string `json:"actor_role"`
	Purpose   string `json:"purpose"`
	What      string `json:"what"`
}

func accessLogJSON(es []healthcode.AuditEntry) []accessLogEntry {
	out := make([]accessLogEntry, len(es))
	for i, e := range es {
		out[i] = accessLogEntry{At: timeString(e.At), Actor: e.ActorName, ActorRole: string(e.ActorRole), Purpose: e.Purpose, What: e.Detail}
	}
	return out
}

func (s *Server) getAccessLog(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	es, err := s.store.ListAccessLog(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"resident_id": subject.ID, "reads": accessLogJSON(es)})
	return nil
}

// --- The export ----------------------------------------------------------

type testResultJSON struct {
	ID          int64  `json:"id"`
	Type        string `json:"type"`
	Result      string `json:"result"`
	SampledAt   string `json:"sampled_at"`
	ResultedAt  string `json:"resulted_at"`
	Institution string `json:"institution"`
	RecordedAt  string `json:"recorded_at"`
	RecordedBy  string `json:"recorded_by"`
}

type vaccinationJSON struct {
	ID          int64  `json:"id"`
	Product     string `json:"product"`
	Dose        int    `json:"dose"`
	SeriesDoses int    `json:"series_doses"`
	Date        string `json:"date"`
	Institution string `json:"institution"`
	RecordedAt  string `json:"recorded_at"`
}

// recoveryJSON is a recovery attested by an imported certificate.
type recoveryJSON struct {
	ID            int64  `json:"id"`
	FirstPositive string `json:"first_positive"`
	ValidFrom     string `json:"valid_from"`
	ValidUntil    string `json:"valid_until"`
	Country       string `json:"country"`
	Issuer        string `json:"issuer"`
	CertificateID string `json:"certificate_id"`
	Source        string `json:"source"`
	RecordedAt    string `json:"recorded_at"`
	RecordedBy    string `json:"recorded_by"`
}

func (s *Server) recoveryJSON(r *healthcode.Recovery) recoveryJSON {
	return recoveryJSON{ID: r.ID, FirstPositive: dateString(r.FirstPositive, s.cfg.Location), ValidFrom: dateString(r.ValidFrom, s.cfg.Location),
		ValidUntil: dateString(r.ValidUntil, s.cfg.Location), Country: r.Country, Issuer: r.Issuer, CertificateID: r.CertificateID,
		Source: r.Source, RecordedAt: timeString(r.RecordedAt), RecordedBy: r.RecordedBy}
}

type contactJSON struct {
	ID           int64  `json:"id"`
	CaseID       int64  `json:"case_id"`               // 0 for another region's case
	CaseRegion   string `json:"case_region,omitempty"` // the region whose case it was, when not this one
	ProposalID   int64  `json:"proposal_id,omitempty"` // the contact proposal it confirmed
	Venue        string `json:"venue"`
	LastExposure string `json:"last_exposure"`
	DesignatedAt string `json:"designated_at"`
	DesignatedBy string `json:"designated_by"`
}

type withdrawalJSON struct {
	Fact healthcode.FactRef `json:"fact"`
	At   string             `json:"at"`
	By   string             `json:"by"`
}

type retainedReasonJSON struct {
	ID         int64      `json:"id"`
	Reason     reasonJSON `json:"reason"`
	RetainedAt string     `json:"retained_at"`
}

type exportHistoryEntry struct {
	historyEntry
	RuleSetVersion string `json:"rule_set_version"`
}

type ruleSetJSON struct {
	Version     string `json:"version"`
	Name        string `json:"name"`
	PublishedAt string `json:"published_at"`
	Source      string `json:"source"`
}

type exportedCheckIn struct {
	ID       string `json:"id"`
	VenueID  int64  `json:"venue_id"`
	At       string `json:"at"`
	Decision string `json:"decision"`
	Color    string `json:"color,omitempty"`
	Mode     string `json:"mode"`
}

type exportedPaperCode struct {
	ID          int64  `json:"id"`
	StatusIndex int    `json:"status_index"`
	IssuedAt    string `json:"issued_at"`
	ExpiresAt   string `json:"expires_at"`
	RevokedAt   string `json:"revoked_at,omitempty"`
	IssuedBy    string `json:"issued_by"`
}

type exportResponse struct {
	GeneratedAt   string                `json:"generated_at"`
	Resident      residentResponse      `json:"resident"`
	Pseudonym     string                `json:"pseudonym"`
	Dependents    []residentResponse    `json:"dependents"`
	Declarations  []declarationResponse `json:"declarations"`
	TestResults   []testResultJSON      `json:"test_results"`
	Vaccinations  []vaccinationJSON     `json:"vaccinations"`
	Recoveries    []recoveryJSON        `json:"recoveries"`
	Cases         []caseResponse        `json:"cases"`
	Contacts      []contactJSON         `json:"contact_designations"`
	Proposals     []proposalJSON        `json:"contact_proposals"`
	Withdrawn     []withdrawalJSON      `json:"withdrawn"`
	Overrides     []overrideJSON        `json:"overrides"`
	Retained      []retainedReasonJSON  `json:"retained_reasons"`
	Status        statusResponse        `json:"status"`
	History       []exportHistoryEntry  `json:"status_history"`
	RuleSets      []ruleSetJSON         `json:"rule_sets"`
	CheckIns      []exportedCheckIn     `json:"checkins"`
	PaperCodes    []exportedPaperCode   `json:"paper_codes"`
	Notifications []notificationJSON    `json:"notifications"`
	Appeals       []appealJSON          `json:"appeals"`
	AccessLog     []accessLogEntry      `json:"access_log"`
}

func (s *Server) exportData(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	// Bring the status up to date first, as the history route does.
	if _, err := s.store.CurrentStatus(r.Context(), subject.ID); err != nil {
		return err
	}
	ex, err := s.store.ExportResident(r.Context(), subject.ID, s.cfg.Region)
	if err != nil {
		return err
	}
	out := exportResponse{GeneratedAt: timeString(ex.GeneratedAt), Resident: residentJSON(&ex.Resident), Pseudonym: ex.Resident.Pseudonym,
		Dependents: make([]residentResponse, len(ex.Dependents)), Declarations: make([]declarationResponse, len(ex.Declarations)),
		TestResults: make([]testResultJSON, len(ex.Tests)), Vaccinations: make([]vaccinationJSON, len(ex.Vaccinations)),
		Recoveries: make([]recoveryJSON, len(ex.Recoveries)),
		Cases:      make([]caseResponse, len(ex.Cases)), Contacts: make([]contactJSON, len(ex.Contacts)),
		Withdrawn: make([]withdrawalJSON, len(ex.Withdrawn)), Overrides: make([]overrideJSON, len(ex.Overrides)),
		Retained: make([]retainedReasonJSON, len(ex.Retained)), Status: statusJSON(subject.ID, ex.Status),
		History: make([]exportHistoryEntry, len(ex.History)), RuleSets: make([]ruleSetJSON, len(ex.RuleSets)),
		CheckIns: make([]exportedCheckIn, len(ex.CheckIns)), PaperCodes: make([]exportedPaperCode, len(ex.PaperCodes)),
		Notifications: make([]notificationJSON, len(ex.Notifications)), Appeals: make([]appealJSON, len(ex.Appeals)),
		AccessLog: accessLogJSON(ex.AccessLog)}
	for i, d := range ex.Dependents {
		out.Dependents[i] = residentJSON(d)
	}
	for i := range ex.Declarations {
		out.Declarations[i] = s.declarationJSON(&ex.Declarations[i])
	}
	for i, t := range ex.Tests {
		out.TestResults[i] = testResultJSON{ID: t.ID, Type: string(t.Type), Result: string(t.Result), SampledAt: timeString(t.SampledAt),
			ResultedAt: timeString(t.ResultedAt), Institution: t.Institution, RecordedAt: timeString(t.RecordedAt), RecordedBy: t.RecordedBy}
	}
	for i, v := range ex.Vaccinations {
		out.Vaccinations[i] = vaccinationJSON{ID: v.ID, Product: v.Product, Dose: v.Dose, SeriesDoses: v.SeriesDoses,
			Date: dateString(v.Date, s.cfg.Location), Institution: v.Institution, RecordedAt: timeString(v.RecordedAt)}
	}
	for i := range ex.Recoveries {
		out.Recoveries[i] = s.recoveryJSON(&ex.Recoveries[i])
	}
	for i := range ex.Cases {
		out.Cases[i] = s.caseJSON(&ex.Cases[i])
	}
	for i, c := range ex.Contacts {
		out.Contacts[i] = contactJSON{ID: c.ID, CaseID: c.CaseID, CaseRegion: c.CaseRegion, ProposalID: c.ProposalID, Venue: c.Venue, LastExposure: timeString(c.LastExposure),
			DesignatedAt: timeString(c.DesignatedAt), DesignatedBy: c.DesignatedBy}
	}
	out.Proposals = make([]proposalJSON, len(ex.Proposals))
	for i := range ex.Proposals {
		out.Proposals[i] = proposalJSONOf(&ex.Proposals[i])
	}
	for i, wd := range ex.Withdrawn {
		out.Withdrawn[i] = withdrawalJSON{Fact: wd.Fact, At: timeString(wd.At), By: wd.By}
	}
	for i := range ex.Overrides {
		out.Overrides[i] = overrideJSONOf(&ex.Overrides[i])
	}
	for i, rr := range ex.Retained {
		out.Retained[i] = retainedReasonJSON{ID: rr.ID, Reason: reasonsJSON([]healthcode.Reason{rr.Reason})[0], RetainedAt: timeString(rr.RetainedAt)}
	}
	for i, h := range ex.History {
		out.History[i] = exportHistoryEntry{historyEntry{At: timeString(h.At), Color: h.Status.Color, Vaccinated: h.Status.Vaccinated,
			Reasons: reasonsJSON(h.Status.Reasons), Cause: h.Cause}, h.Status.RuleSetVersion}
	}
	for i, rs := range ex.RuleSets {
		out.RuleSets[i] = ruleSetJSON{Version: rs.Version, Name: rs.Name, PublishedAt: timeString(rs.PublishedAt), Source: string(rs.Source)}
	}
	for i, c := range ex.CheckIns {
		out.CheckIns[i] = exportedCheckIn{ID: c.ID, VenueID: c.VenueID, At: timeString(c.At), Decision: string(c.Decision),
			Color: string(c.Color), Mode: string(c.Mode)}
	}
	for i, pc := range ex.PaperCodes {
		out.PaperCodes[i] = exportedPaperCode{ID: pc.ID, StatusIndex: pc.StatusIndex, IssuedAt: timeString(pc.IssuedAt),
			ExpiresAt: timeString(pc.ExpiresAt), RevokedAt: timeString(pc.RevokedAt), IssuedBy: pc.IssuedBy}
	}
	for i, n := range ex.Notifications {
		out.Notifications[i] = notificationJSON{ID: n.ID, At: timeString(n.At), Kind: n.Kind, Message: n.Message, MessageZH: n.MessageZH}
	}
	for i := range ex.Appeals {
		out.Appeals[i] = s.appealJSON(&ex.Appeals[i])
	}
	w.Header().Set("Content-Disposition", `attachment; filename="healthcode-export-`+strconv.FormatInt(subject.ID, 10)+`.json"`)
	writeJSON(w, http.StatusOK, out)
	return nil
}
