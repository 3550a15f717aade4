package sqlstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode"
)

// designate makes r a close contact of a new case and returns the
// designation; r's code turns yellow.
func (e *env) designate(t *testing.T, r *healthcode.Resident) *healthcode.ContactDesignation {
	t.Helper()
	patient := e.enroll(t)
	c := &healthcode.Case{ResidentID: patient.ID, SampleDate: e.day(-1)}
	must[healthcode.Status](t)(e.db.CreateCase(e.ctx, c))
	cd := &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: c.ID, Venue: "Wulin Plaza",
		LastExposure: e.clock.Now().Add(-24 * time.Hour), DesignatedBy: tracerActor.Name}
	st := must[healthcode.Status](t)(e.db.AddContactDesignation(e.as(tracerActor), cd))
	if st.Color != healthcode.Yellow {
		t.Fatalf("designated contact is %s", st.Color)
	}
	return cd
}

func notificationKinds(t *testing.T, e *env, residentID int64) []string {
	t.Helper()
	var kinds []string
	for _, n := range must[[]healthcode.Notification](t)(e.db.ListNotifications(e.ctx, residentID)) {
		kinds = append(kinds, n.Kind)
	}
	return kinds
}

// testAppealUpheld: the whole path of an upheld appeal. The resident
// contests a designation; it waits in the queue with a deadline and turns
// overdue; a reviewer reads it (audited) and upholds it; the fact is
// withdrawn, the status recomputed through the normal path with the appeal
// as the cause, and the resident notified with the reviewer's reason.
func testAppealUpheld(t *testing.T, e *env) {
	r := e.enroll(t)
	cd := e.designate(t, r)
	if kinds := notificationKinds(t, e, r.ID); !slices.Equal(kinds, []string{"status_changed", "contact_designated"}) {
		t.Errorf("notifications after the designation: %v", kinds)
	}

	a := &healthcode.Appeal{ResidentID: r.ID, FiledBy: r.ID, Rule: "close_contact",
		Fact: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: cd.ID},
		What: "I was not at Wulin Plaza", Why: "I was at work all day; my badge log shows it", Evidence: "badge log 2022-03-31"}
	if err := e.db.FileAppeal(e.ctx, a, healthcode.DefaultAppealDeadline); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().Truncate(time.Microsecond)
	if a.ID == 0 || a.State != healthcode.AppealOpen || !a.FiledAt.Equal(now) || !a.Deadline.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("filed %+v", a)
	}
	mine := must[[]healthcode.Appeal](t)(e.db.ListAppeals(e.ctx, r.ID))
	if len(mine) != 1 || mine[0].What != a.What || mine[0].Fact != a.Fact {
		t.Errorf("the resident's appeals: %+v", mine)
	}
	queue := must[[]healthcode.Appeal](t)(e.db.AppealQueue(e.ctx, healthcode.AppealOpen))
	if len(queue) != 1 || queue[0].ID != a.ID || queue[0].Overdue(e.clock.Now()) {
		t.Errorf("queue %+v", queue)
	}
	e.clock.Advance(25 * time.Hour)
	if !must[[]healthcode.Appeal](t)(e.db.AppealQueue(e.ctx, healthcode.AppealOpen))[0].Overdue(e.clock.Now()) {
		t.Error("an appeal open past its deadline is not overdue")
	}

	seq := lastSeq(t, e)
	got, rv, err := e.db.ReviewAppeal(e.ctx, healthcode.Access{Actor: reviewerActor, Purpose: "appeal review"}, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || rv.Status.Color != healthcode.Yellow || len(rv.Facts.Contacts) != 1 {
		t.Errorf("review: %+v %+v", got, rv)
	}
	if es := entriesSince(t, e, seq); len(es) != 1 || es[0].Action != "read" || es[0].Subject != r.ID || es[0].ActorName != reviewerActor.Name {
		t.Errorf("the review wrote %+v", es)
	}

	_, _, err = e.db.DecideAppeal(e.ctx, a.ID, healthcode.AppealDecision{Uphold: true, Reason: "badge log checked", By: tracerActor})
	wantCode(t, err, healthcode.EFORBIDDEN)
	seq = lastSeq(t, e)
	dec, st, err := e.db.DecideAppeal(e.ctx, a.ID, healthcode.AppealDecision{Uphold: true,
		Reason: "The badge log shows the resident at work.", By: reviewerActor})
	if err != nil {
		t.Fatal(err)
	}
	if dec.State != healthcode.AppealUpheld || dec.DecidedBy != reviewerActor.Name || dec.Withdrawn != a.Fact || dec.Overdue(e.clock.Now()) {
		t.Errorf("decision %+v", dec)
	}
	if st.Color != healthcode.Green {
		t.Errorf("after the appeal: %s %v, want green", st.Color, ruleIDs(st))
	}
	checkStatus(t, e, r.ID, st, fmt.Sprintf("appeal %d upheld: contact designation %d withdrawn", a.ID, cd.ID))
	if got := actions(entriesSince(t, e, seq)); got != "fact.withdraw,appeal.decide,status.change" {
		t.Errorf("the decision wrote %s", got)
	}
	if f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID)); len(f.Contacts) != 0 {
		t.Errorf("the withdrawn designation is still a fact: %+v", f.Contacts)
	}
	ns := must[[]healthcode.Notification](t)(e.db.ListNotifications(e.ctx, r.ID))
	if ns[0].Kind != healthcode.NotifyAppealDecided || !strings.Contains(ns[0].Message, "upheld") ||
		!strings.Contains(ns[0].Message, "The badge log shows the resident at work.") || !strings.Contains(ns[0].MessageZH, "已被采纳") {
		t.Errorf("newest notification %+v", ns[0])
	}
	if ns[1].Kind != healthcode.NotifyStatusChanged || !strings.Contains(ns[1].Message, "now green") {
		t.Errorf("status notification %+v", ns[1])
	}
	mine = must[[]healthcode.Appeal](t)(e.db.ListAppeals(e.ctx, r.ID))
	if mine[0].State != healthcode.AppealUpheld || mine[0].DecisionReason != "The badge log shows the resident at work." {
		t.Errorf("the resident sees %+v", mine[0])
	}
	if q := must[[]healthcode.Appeal](t)(e.db.AppealQueue(e.ctx, healthcode.AppealOpen)); len(q) != 0 {
		t.Errorf("still queued: %+v", q)
	}
	_, _, err = e.db.DecideAppeal(e.ctx, a.ID, healthcode.AppealDecision{Reason: "again", By: reviewerActor})
	wantCode(t, err, healthcode.ECONFLICT)

	// An appeal naming only the reason: the reviewer says which fact goes.
	r2 := e.enroll(t)
	d := &healthcode.Declaration{ResidentID: r2.ID, Temperature: 38.9}
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
	a2 := &healthcode.Appeal{ResidentID: r2.ID, Rule: "fever_or_symptoms", What: "wrong temperature", Why: "I typed 38.9 for 36.9"}
	if err := e.db.FileAppeal(e.ctx, a2, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.db.DecideAppeal(e.ctx, a2.ID, healthcode.AppealDecision{Uphold: true, Reason: "typing error", By: reviewerActor})
	wantCode(t, err, healthcode.EINVALID)
	_, _, err = e.db.DecideAppeal(e.ctx, a2.ID, healthcode.AppealDecision{Uphold: true, Reason: "typing error", By: reviewerActor,
		Withdraw: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: cd.ID}})
	wantCode(t, err, healthcode.EINVALID) // not the appellant's fact
	_, st, err = e.db.DecideAppeal(e.ctx, a2.ID, healthcode.AppealDecision{Uphold: true, Reason: "typing error", By: reviewerActor,
		Withdraw: healthcode.FactRef{Kind: healthcode.FactDeclaration, ID: d.ID}})
	if err != nil || st.Color != healthcode.Green {
		t.Errorf("upholding with the declaration: %v %v", st.Color, err)
	}
	// The declaration stays on record for the resident.
	if ds := must[[]healthcode.Declaration](t)(e.db.ListDeclarations(e.ctx, r2.ID)); len(ds) != 1 {
		t.Errorf("declarations on record: %d", len(ds))
	}
	wantIntact(t, e)
}

// testAppealRejected: a rejection changes no fact and no status, and tells
// the resident why.
func testAppealRejected(t *testing.T, e *env) {
	r := e.enroll(t)
	cd := e.designate(t, r)
	before := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	hist := must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, r.ID))
	a := &healthcode.Appeal{ResidentID: r.ID, Fact: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: cd.ID},
		What: "not a contact", Why: "I only walked past"}
	if err := e.db.FileAppeal(e.ctx, a, healthcode.DefaultAppealDeadline); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.db.DecideAppeal(e.ctx, a.ID, healthcode.AppealDecision{Reason: "", By: reviewerActor})
	wantCode(t, err, healthcode.EINVALID) // a rejection needs a written reason
	dec, st, err := e.db.DecideAppeal(e.ctx, a.ID, healthcode.AppealDecision{
		Reason: "The check-ins show 40 minutes in the same shop.", By: reviewerActor})
	if err != nil {
		t.Fatal(err)
	}
	if dec.State != healthcode.AppealRejected || !dec.Withdrawn.IsZero() || !st.Equivalent(before) {
		t.Errorf("rejected: %+v, status %v", dec, st.Color)
	}
	if n := len(must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, r.ID))); n != len(hist) {
		t.Errorf("the history grew from %d to %d", len(hist), n)
	}
	if f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID)); len(f.Contacts) != 1 {
		t.Errorf("the designation is gone after a rejection")
	}
	ns := must[[]healthcode.Notification](t)(e.db.ListNotifications(e.ctx, r.ID))
	if ns[0].Kind != healthcode.NotifyAppealDecided || !strings.Contains(ns[0].Message, "rejected") ||
		!strings.Contains(ns[0].Message, "40 minutes in the same shop") {
		t.Errorf("notification %+v", ns[0])
	}
}

// testAppealValidation: what an appeal may name, and how many may be open.
func testAppealValidation(t *testing.T, e *env) {
	r, other := e.enroll(t), e.enroll(t)
	cd := e.designate(t, other)
	file := func(a healthcode.Appeal) error { return e.db.FileAppeal(e.ctx, &a, time.Hour) }
	ok := healthcode.Appeal{ResidentID: r.ID, Rule: "close_contact", What: "wrong", Why: "not there"}
	for name, tt := range map[string]struct {
		change func(a *healthcode.Appeal)
		code   string
	}{
		"nothing named": {func(a *healthcode.Appeal) { a.Rule = "" }, healthcode.EINVALID},
		"unknown rule":  {func(a *healthcode.Appeal) { a.Rule = "social_credit" }, healthcode.EINVALID},
		"bad fact kind": {func(a *healthcode.Appeal) { a.Fact = healthcode.FactRef{Kind: "bank_account", ID: 1} }, healthcode.EINVALID},
		"no why":        {func(a *healthcode.Appeal) { a.Why = "" }, healthcode.EINVALID},
		"someone else's fact": {func(a *healthcode.Appeal) {
			a.Fact = healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: cd.ID}
		}, healthcode.ENOTFOUND},
		"missing fact": {func(a *healthcode.Appeal) { a.Fact = healthcode.FactRef{Kind: healthcode.FactTestResult, ID: 99999} }, healthcode.ENOTFOUND},
		"nobody":       {func(a *healthcode.Appeal) { a.ResidentID = 99999 }, healthcode.ENOTFOUND},
	} {
		t.Run(name, func(t *testing.T) {
			a := ok
			tt.change(&a)
			wantCode(t, file(a), tt.code)
		})
	}
	for range healthcode.MaxOpenAppeals {
		if err := file(ok); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, file(ok), healthcode.ECONFLICT)
	_, _, err := e.db.DecideAppeal(e.ctx, 99999, healthcode.AppealDecision{Reason: "no such", By: reviewerActor})
	wantCode(t, err, healthcode.ENOTFOUND)
	_, _, err = e.db.ReviewAppeal(e.ctx, healthcode.Access{Actor: reviewerActor}, 1)
	wantCode(t, err, healthcode.EINVALID) // no purpose
}

// testOverride: a tracer proposes, nothing happens; the same person cannot
// approve it, under the same token or another token of the same name; a
// different reviewer approves it, the fact is withdrawn and the status
// recomputed through the rules, which show the override with its reason.
// Both steps are audited.
func testOverride(t *testing.T, e *env) {
	r := e.enroll(t)
	cd := e.designate(t, r)
	before := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))

	o := &healthcode.Override{Fact: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: cd.ID},
		Kind: healthcode.OverrideEndedEarly, Reason: "Quarantine ended early by medical decision: negative PCR on day 3.",
		ProposedBy: tracerActor}
	wantCode(t, e.db.ProposeOverride(e.ctx, &healthcode.Override{Fact: o.Fact, Kind: o.Kind, Reason: o.Reason, ProposedBy: labActor}),
		healthcode.EFORBIDDEN)
	wantCode(t, e.db.ProposeOverride(e.ctx, &healthcode.Override{Fact: o.Fact, Kind: "make_green", Reason: "short", ProposedBy: tracerActor}),
		healthcode.EINVALID)
	seq := lastSeq(t, e)
	if err := e.db.ProposeOverride(e.ctx, o); err != nil {
		t.Fatal(err)
	}
	if o.ID == 0 || o.ResidentID != r.ID || o.State != healthcode.OverrideProposed {
		t.Fatalf("proposed %+v", o)
	}
	if es := entriesSince(t, e, seq); actions(es) != "override.propose" || es[0].ActorName != tracerActor.Name || es[0].Subject != r.ID {
		t.Errorf("the proposal wrote %+v", es)
	}
	if st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID)); !st.Equivalent(before) {
		t.Errorf("a proposal changed the status to %s", st.Color)
	}
	dup := *o
	wantCode(t, e.db.ProposeOverride(e.ctx, &dup), healthcode.ECONFLICT)
	if q := must[[]healthcode.Override](t)(e.db.OverrideQueue(e.ctx, healthcode.OverrideProposed)); len(q) != 1 || q[0].ID != o.ID {
		t.Errorf("queue %+v", q)
	}

	// The proposer may not decide, whatever token they hold.
	seq = lastSeq(t, e)
	for _, self := range []healthcode.Actor{
		{Role: healthcode.RoleReviewer, TokenID: tracerActor.TokenID, Name: "reviewer"},
		{Role: healthcode.RoleReviewer, TokenID: 999, Name: "li wei  (TRACER)"},
		tracerActor,
	} {
		_, _, err := e.db.DecideOverride(e.ctx, o.ID, healthcode.OverrideDecision{Approve: true, By: self})
		wantCode(t, err, healthcode.EFORBIDDEN)
	}
	_, _, err := e.db.DecideOverride(e.ctx, o.ID, healthcode.OverrideDecision{Approve: true, By: labActor})
	wantCode(t, err, healthcode.EFORBIDDEN)
	if n := lastSeq(t, e); n != seq {
		t.Errorf("refused decisions wrote %d entries", n-seq)
	}
	if st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID)); !st.Equivalent(before) {
		t.Errorf("a refused approval changed the status")
	}

	e.clock.Advance(time.Hour)
	got, rv, err := e.db.ReviewOverride(e.ctx, healthcode.Access{Actor: reviewerActor, Purpose: "override review"}, o.ID)
	if err != nil || got.ID != o.ID || rv.Status.Color != healthcode.Yellow {
		t.Fatalf("review: %+v %+v %v", got, rv, err)
	}
	seq = lastSeq(t, e)
	dec, st, err := e.db.DecideOverride(e.ctx, o.ID, healthcode.OverrideDecision{Approve: true, By: reviewerActor})
	if err != nil {
		t.Fatal(err)
	}
	if dec.State != healthcode.OverrideApproved || dec.DecidedBy.Name != reviewerActor.Name {
		t.Errorf("decided %+v", dec)
	}
	if st.Color != healthcode.Green || !slices.Equal(ruleIDs(st), []string{"override"}) {
		t.Fatalf("after approval: %s %v, want green with the override as reason", st.Color, ruleIDs(st))
	}
	for _, want := range []string{fmt.Sprintf("Override %d", o.ID), fmt.Sprintf("contact designation %d", cd.ID), "ended_early",
		"Quarantine ended early by medical decision"} {
		if !strings.Contains(st.Reasons[0].Message, want) {
			t.Errorf("reason %q lacks %q", st.Reasons[0].Message, want)
		}
	}
	checkStatus(t, e, r.ID, st, fmt.Sprintf("override %d approved: contact designation %d withdrawn (ended_early)", o.ID, cd.ID))
	es := entriesSince(t, e, seq)
	if actions(es) != "fact.withdraw,override.decide,status.change" || es[1].ActorName != reviewerActor.Name {
		t.Errorf("the approval wrote %+v", es)
	}
	f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID))
	if len(f.Contacts) != 0 || len(f.Overrides) != 1 || f.Overrides[0].Reason != o.Reason {
		t.Errorf("facts after approval: contacts %v, overrides %+v", f.Contacts, f.Overrides)
	}
	_, _, err = e.db.DecideOverride(e.ctx, o.ID, healthcode.OverrideDecision{Approve: true, By: reviewerActor})
	wantCode(t, err, healthcode.ECONFLICT)
	wantCode(t, e.db.ProposeOverride(e.ctx, &dup), healthcode.ECONFLICT) // already withdrawn

	// The override's reason shows for 14 days, then the status is plain green.
	e.clock.Advance(14*24*time.Hour + time.Minute)
	st = must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	if st.Color != healthcode.Green || len(st.Reasons) != 0 {
		t.Errorf("14 days later: %s %v", st.Color, ruleIDs(st))
	}

	// A rejected proposal changes nothing and needs a reason.
	r2 := e.enroll(t)
	cd2 := e.designate(t, r2)
	o2 := &healthcode.Override{Fact: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: cd2.ID},
		Kind: healthcode.OverrideDataError, Reason: "entered for the wrong person", ProposedBy: tracerActor}
	if err := e.db.ProposeOverride(e.ctx, o2); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.db.DecideOverride(e.ctx, o2.ID, healthcode.OverrideDecision{By: reviewerActor})
	wantCode(t, err, healthcode.EINVALID)
	dec, st, err = e.db.DecideOverride(e.ctx, o2.ID, healthcode.OverrideDecision{Reason: "the check-ins match this person", By: reviewerActor})
	if err != nil || dec.State != healthcode.OverrideRejected || st.Color != healthcode.Yellow {
		t.Errorf("rejected: %+v %s %v", dec, st.Color, err)
	}
	wantIntact(t, e)
}

// testExport: the export holds everything about the resident, withdrawn
// facts included and marked.
func testExport(t *testing.T, e *env) {
	g := e.enroll(t)
	dep := e.enroll(t, func(r *healthcode.Resident) { r.Phone, r.GuardianID = "", g.ID })
	d := &healthcode.Declaration{ResidentID: g.ID, Temperature: 38.2, Visited: []healthcode.Visit{{Region: "330106", Date: e.day(-1)}}}
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
	must[healthcode.Status](t)(e.db.AddTestResult(e.ctx, &healthcode.TestResult{ResidentID: g.ID, Type: healthcode.PCR,
		Result: healthcode.Negative, SampledAt: e.clock.Now(), ResultedAt: e.clock.Now(), Institution: "lab"}))
	cd := e.designate(t, g)
	if _, err := e.db.AddCheckIns(e.ctx, []healthcode.CheckIn{{ID: "export-0001", Subject: g.Pseudonym, Issuer: "330100",
		VenueID: e.createVenue(t, "Wulin Plaza", 0).ID, At: e.clock.Now(), Decision: healthcode.Admit, Color: healthcode.Green, Mode: healthcode.ModeCheckpoint}}); err != nil {
		t.Fatal(err)
	}
	o := &healthcode.Override{Fact: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: cd.ID},
		Kind: healthcode.OverrideDataError, Reason: "designated the wrong person", ProposedBy: tracerActor}
	if err := e.db.ProposeOverride(e.ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.DecideOverride(e.ctx, o.ID, healthcode.OverrideDecision{Approve: true, By: reviewerActor}); err != nil {
		t.Fatal(err)
	}
	a := &healthcode.Appeal{ResidentID: g.ID, Rule: "override", What: "the override", Why: "testing the export"}
	if err := e.db.FileAppeal(e.ctx, a, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.ReviewAppeal(e.ctx, healthcode.Access{Actor: reviewerActor, Purpose: "appeal review"}, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.IssuePaperCode(e.ctx, g.ID, time.Hour, "resident"); err != nil {
		t.Fatal(err)
	}

	ex := must[*healthcode.Export](t)(e.db.ExportResident(e.ctx, g.ID, "330100"))
	if ex.Resident.ID != g.ID || ex.Resident.Name != g.Name || len(ex.Dependents) != 1 || ex.Dependents[0].ID != dep.ID {
		t.Errorf("profile %+v, dependents %+v", ex.Resident, ex.Dependents)
	}
	if len(ex.Declarations) != 1 || len(ex.Tests) != 1 || len(ex.Contacts) != 1 || len(ex.Overrides) != 1 {
		t.Errorf("facts: %d declarations, %d tests, %d contacts, %d overrides", len(ex.Declarations), len(ex.Tests), len(ex.Contacts), len(ex.Overrides))
	}
	if len(ex.Withdrawn) != 1 || ex.Withdrawn[0].Fact != o.Fact || ex.Withdrawn[0].By != fmt.Sprintf("override %d", o.ID) {
		t.Errorf("withdrawn %+v", ex.Withdrawn)
	}
	if len(ex.History) < 4 || len(ex.RuleSets) != 0 && ex.RuleSets[0].Version != ex.Status.RuleSetVersion {
		t.Errorf("history of %d, rule sets %+v", len(ex.History), ex.RuleSets)
	}
	if len(ex.CheckIns) != 1 || len(ex.PaperCodes) != 1 || len(ex.Appeals) != 1 || len(ex.Notifications) < 3 {
		t.Errorf("%d check-ins, %d paper codes, %d appeals, %d notifications", len(ex.CheckIns), len(ex.PaperCodes), len(ex.Appeals), len(ex.Notifications))
	}
	if len(ex.AccessLog) != 1 || ex.AccessLog[0].ActorName != reviewerActor.Name {
		t.Errorf("access log %+v", ex.AccessLog)
	}
	_, err := e.db.ExportResident(e.ctx, 99999, "330100")
	wantCode(t, err, healthcode.ENOTFOUND)

	// The rule set in force is in the export once it is published.
	rs := *e.eval.RuleSet()
	if err := e.db.PublishRuleSet(e.ctx, &rs); err != nil {
		t.Fatal(err)
	}
	ex = must[*healthcode.Export](t)(e.db.ExportResident(e.ctx, g.ID, "330100"))
	if len(ex.RuleSets) != 1 || string(ex.RuleSets[0].Source) != string(rs.Source) {
		t.Errorf("rule sets %+v", ex.RuleSets)
	}
}

// testLatestTest: LatestTest finds the latest sample of the asked type and
// result among the tests in force, as LoadFacts would show them.
func testLatestTest(t *testing.T, e *env) {
	r := e.enroll(t)
	other := e.enroll(t)
	latest := func() time.Time {
		t.Helper()
		return must[time.Time](t)(e.db.LatestTest(e.ctx, r.ID, healthcode.PCR, healthcode.Negative))
	}
	if got := latest(); !got.IsZero() {
		t.Fatalf("no tests yet, LatestTest = %v", got)
	}
	now := e.clock.Now().Truncate(time.Microsecond)
	add := func(resident int64, typ healthcode.TestType, result healthcode.TestOutcome, sampled time.Time) *healthcode.TestResult {
		t.Helper()
		tr := &healthcode.TestResult{ResidentID: resident, Type: typ, Result: result, SampledAt: sampled, ResultedAt: now, Institution: "Xihu lab"}
		must[healthcode.Status](t)(e.db.AddTestResult(e.ctx, tr))
		return tr
	}
	add(r.ID, healthcode.PCR, healthcode.Negative, now.Add(-30*time.Hour))
	newest := add(r.ID, healthcode.PCR, healthcode.Negative, now.Add(-20*time.Hour))
	add(r.ID, healthcode.PCR, healthcode.Negative, now.Add(-25*time.Hour)) // recorded later, sampled earlier
	add(r.ID, healthcode.Antigen, healthcode.Negative, now.Add(-time.Hour))
	add(other.ID, healthcode.PCR, healthcode.Negative, now.Add(-2*time.Hour))
	if got := latest(); !got.Equal(now.Add(-20 * time.Hour)) {
		t.Errorf("LatestTest = %v, want the PCR sampled 20 h ago (%v)", got, now.Add(-20*time.Hour))
	}
	if got := must[time.Time](t)(e.db.LatestTest(e.ctx, r.ID, healthcode.PCR, healthcode.Positive)); !got.IsZero() {
		t.Errorf("no positive PCR, LatestTest = %v", got)
	}

	// A withdrawn test no longer counts (an upheld appeal withdraws it).
	a := &healthcode.Appeal{ResidentID: r.ID, FiledBy: r.ID, Rule: "positive_test",
		Fact: healthcode.FactRef{Kind: healthcode.FactTestResult, ID: newest.ID}, What: "not my sample", Why: "mixed up at the lab"}
	if err := e.db.FileAppeal(e.ctx, a, healthcode.DefaultAppealDeadline); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.DecideAppeal(e.ctx, a.ID, healthcode.AppealDecision{Uphold: true, Reason: "the lab confirmed the mix-up", By: reviewerActor}); err != nil {
		t.Fatal(err)
	}
	if got := latest(); !got.Equal(now.Add(-25 * time.Hour)) {
		t.Errorf("after the withdrawal LatestTest = %v, want the PCR sampled 25 h ago", got)
	}
}
