package sqlstore

import (
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode"
)

func count(t *testing.T, e *env, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.read.QueryRowContext(e.ctx, query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// statusSnapshot is what must not change: the status and its history.
type statusSnapshot struct {
	status  healthcode.Status
	history int
}

func snapshot(t *testing.T, e *env, id int64) statusSnapshot {
	t.Helper()
	return statusSnapshot{must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, id)),
		len(must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, id)))}
}

func (s statusSnapshot) check(t *testing.T, e *env, id int64, what string) {
	t.Helper()
	now := snapshot(t, e, id)
	if !now.status.Equivalent(s.status) || now.history != s.history {
		t.Errorf("%s: status %s %v (history %d) became %s %v (history %d)", what, s.status.Color, ruleIDs(s.status),
			s.history, now.status.Color, ruleIDs(now.status), now.history)
	}
	for i := range now.status.Reasons {
		if i < len(s.status.Reasons) && now.status.Reasons[i].Message != s.status.Reasons[i].Message {
			t.Errorf("%s: reason text %q became %q", what, s.status.Reasons[i].Message, now.status.Reasons[i].Message)
		}
	}
}

// testRetention moves the clock forward through the default windows: old
// rows go, recent ones stay, statuses do not change, and each purge is in
// the audit log.
func testRetention(t *testing.T, e *env) {
	venue := e.createVenue(t, "Wulin Plaza", 0).ID
	r := e.enroll(t)
	sick := e.enroll(t)
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.5}))
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: sick.ID, Temperature: 36.5}))
	must[healthcode.Status](t)(e.db.AddTestResult(e.ctx, &healthcode.TestResult{ResidentID: r.ID, Type: healthcode.PCR,
		Result: healthcode.Negative, SampledAt: e.clock.Now(), ResultedAt: e.clock.Now(), Institution: "lab"}))
	must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, []healthcode.CheckIn{e.checkIn("old-checkin", venue, 0)}))
	closed := &healthcode.Appeal{ResidentID: r.ID, Rule: "close_contact", What: "nothing", Why: "testing retention"}
	open := &healthcode.Appeal{ResidentID: r.ID, Rule: "close_contact", What: "still open", Why: "testing retention"}
	for _, a := range []*healthcode.Appeal{closed, open} {
		if err := e.db.FileAppeal(e.ctx, a, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.db.DecideAppeal(e.ctx, closed.ID, healthcode.AppealDecision{Reason: "no such reason", By: reviewerActor}); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(20 * 24 * time.Hour)
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.6}))
	must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, []healthcode.CheckIn{e.checkIn("new-checkin", venue, 0)}))
	e.clock.Advance(7 * 24 * time.Hour)
	// sick declares a fever the day before the purge: yellow, and stays so.
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: sick.ID, Temperature: 38.4}))
	e.clock.Advance(3 * 24 * time.Hour) // day 30
	snapR, snapSick := snapshot(t, e, r.ID), snapshot(t, e, sick.ID)
	if snapSick.status.Color != healthcode.Yellow {
		t.Fatalf("sick is %s", snapSick.status.Color)
	}

	rep, err := e.db.ApplyRetention(e.ctx, healthcode.DefaultRetention())
	if err != nil {
		t.Fatal(err)
	}
	if rep.CheckIns != 1 || rep.Declarations != 2 || rep.TestResults != 0 || rep.Appeals != 0 || rep.Deferred != 0 {
		t.Errorf("day 30: %s", rep)
	}
	if ids := storedCheckIns(t, e); ids["old-checkin"] != 0 || ids["new-checkin"] != 1 {
		t.Errorf("check-ins left: %v", ids)
	}
	if ds := must[[]healthcode.Declaration](t)(e.db.ListDeclarations(e.ctx, r.ID)); len(ds) != 1 || ds[0].Temperature != 36.6 {
		t.Errorf("r's declarations left: %+v", ds)
	}
	if ds := must[[]healthcode.Declaration](t)(e.db.ListDeclarations(e.ctx, sick.ID)); len(ds) != 1 || ds[0].Temperature != 38.4 {
		t.Errorf("sick's declarations left: %+v", ds)
	}
	snapR.check(t, e, r.ID, "day 30")
	snapSick.check(t, e, sick.ID, "day 30")
	purges := func() []healthcode.AuditEntry {
		t.Helper()
		var out []healthcode.AuditEntry
		for _, a := range auditEntries(t, e) {
			if a.Action == healthcode.ActionPurge {
				out = append(out, a)
			}
		}
		return out
	}
	if ps := purges(); len(ps) != 1 || !strings.Contains(ps[0].Detail, "deleted 1 check-ins, 2 declarations") ||
		ps[0].ActorRole != healthcode.RoleSystem {
		t.Errorf("purge entries %+v", ps)
	}

	e.clock.Advance(61 * 24 * time.Hour) // day 91
	rep = must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, healthcode.DefaultRetention()))
	if rep.TestResults != 1 || rep.Declarations != 2 || rep.CheckIns != 1 || rep.Appeals != 0 {
		t.Errorf("day 91: %s", rep)
	}
	if f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID)); len(f.Tests) != 0 || len(f.Declarations) != 0 {
		t.Errorf("r's facts on day 91: %+v", f)
	}

	e.clock.Advance(365 * 24 * time.Hour)
	rep = must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, healthcode.DefaultRetention()))
	if rep.Appeals != 1 {
		t.Errorf("a year later: %s", rep)
	}
	left := must[[]healthcode.Appeal](t)(e.db.ListAppeals(e.ctx, r.ID))
	if len(left) != 1 || left[0].ID != open.ID {
		t.Errorf("appeals left: %+v", left)
	}
	if ps := purges(); len(ps) != 3 {
		t.Errorf("%d purge entries, want 3", len(ps))
	}
	_, err = e.db.ApplyRetention(e.ctx, healthcode.Retention{CheckIns: time.Hour})
	wantCode(t, err, healthcode.EINVALID)
	wantIntact(t, e)
}

// testRetentionKeepsRunningStatus: with a window shorter than a rule, the
// facts a running status rests on are kept until it ends, so the status
// does not disappear on the next recomputation; then they go.
func testRetentionKeepsRunningStatus(t *testing.T, e *env) {
	short := healthcode.Retention{CheckIns: 24 * time.Hour, Declarations: 24 * time.Hour, TestResults: 24 * time.Hour, ClosedAppeals: 24 * time.Hour}
	must[int](t)(e.db.AddAreaRisk(e.ctx, &healthcode.AreaRisk{Prefix: "4201", Level: healthcode.HighRisk, From: e.day(-10)}))
	r := e.enroll(t)
	st := must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.5,
		Visited: []healthcode.Visit{{Region: "420106", Date: e.day(-1)}}}))
	if st.Color != healthcode.Yellow || !slices.Equal(ruleIDs(st), []string{"high_risk_visit"}) {
		t.Fatalf("after the visit: %s %v", st.Color, ruleIDs(st))
	}
	end := st.Reasons[0].Until
	e.clock.Advance(3 * 24 * time.Hour)
	snap := snapshot(t, e, r.ID)
	rep := must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, short))
	if rep.Deferred != 1 || rep.Declarations != 0 {
		t.Errorf("while yellow: %s", rep)
	}
	// Days pass; the status is recomputed and is still the same.
	for range 5 {
		e.clock.Advance(24 * time.Hour)
		must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, short))
		snap.check(t, e, r.ID, "days later")
	}
	e.clock.Advance(end.Sub(e.clock.Now()) + time.Minute)
	st = must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	if st.Color != healthcode.Green {
		t.Errorf("after the end: %s", st.Color)
	}
	checkStatus(t, e, r.ID, st, "time: rule high_risk_visit ended")
	rep = must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, short))
	if rep.Deferred != 0 || rep.Declarations != 1 {
		t.Errorf("after the end: %s", rep)
	}
	snapshot(t, e, r.ID) // still green, and nothing else to see
}

// testEndOfEmergency: all movement and declaration data goes at once; a
// status still in force keeps its reasons, with their text, until they end
// with the clock moved forward; the purge is in the audit log.
func testEndOfEmergency(t *testing.T, e *env) {
	venue := e.createVenue(t, "Wulin Plaza", 0).ID
	must[int](t)(e.db.AddAreaRisk(e.ctx, &healthcode.AreaRisk{Prefix: "4201", Level: healthcode.HighRisk, From: e.day(-10)}))
	r := e.enroll(t)
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.5,
		Visited: []healthcode.Visit{{Region: "420106", Date: e.day(-2)}}}))
	e.designate(t, r)
	well := e.enroll(t)
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: well.ID, Temperature: 36.5}))
	must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, []healthcode.CheckIn{e.checkIn("eoe-0001", venue, time.Hour), e.checkIn("eoe-0002", venue, 0)}))
	e.clock.Advance(time.Hour)
	snap, snapWell := snapshot(t, e, r.ID), snapshot(t, e, well.ID)
	if !slices.Equal(ruleIDs(snap.status), []string{"close_contact", "high_risk_visit"}) {
		t.Fatalf("before: %v", ruleIDs(snap.status))
	}

	rep, err := e.db.PurgeEndOfEmergency(e.as(healthcode.OperatorActor("purge --end-of-emergency")))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.EndOfEmergency || rep.CheckIns != 2 || rep.Declarations != 2 || rep.Retained != 2 || rep.Changed != 0 {
		t.Errorf("report: %s", rep)
	}
	for _, table := range []string{"checkins", "declarations", "declaration_visits", "contact_designations"} {
		if n := count(t, e, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
	}
	snap.check(t, e, r.ID, "right after the purge")
	snapWell.check(t, e, well.ID, "right after the purge")
	f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID))
	if len(f.Declarations) != 0 || len(f.Contacts) != 0 || len(f.Retained) != 2 {
		t.Errorf("facts after the purge: %+v", f)
	}
	var entry *healthcode.AuditEntry
	for _, a := range auditEntries(t, e) {
		if a.Action == healthcode.ActionPurge {
			entry = &a
		}
	}
	if entry == nil || !strings.Contains(entry.Detail, "end-of-emergency purge") || entry.ActorRole != healthcode.RoleOperator {
		t.Errorf("purge entry %+v", entry)
	}

	// The clock moves on; each recomputation keeps the reasons until they end.
	closeEnd, visitEnd := snap.status.Reasons[0].Until, snap.status.Reasons[1].Until
	e.clock.Advance(24*time.Hour + time.Minute)
	snap.check(t, e, r.ID, "a day later")
	e.clock.Advance(closeEnd.Sub(e.clock.Now()) + time.Minute)
	st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	if st.Color != healthcode.Yellow || !slices.Equal(ruleIDs(st), []string{"high_risk_visit"}) || st.Reasons[0].Message != snap.status.Reasons[1].Message {
		t.Errorf("after the contact's end: %s %v", st.Color, st.Reasons)
	}
	checkStatus(t, e, r.ID, st, "time: rule close_contact ended")
	e.clock.Advance(visitEnd.Sub(e.clock.Now()) + time.Minute)
	st = must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	if st.Color != healthcode.Green {
		t.Errorf("after the visit's end: %s %v", st.Color, ruleIDs(st))
	}
	checkStatus(t, e, r.ID, st, "time: rule high_risk_visit ended")
	rep = must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, healthcode.DefaultRetention()))
	if rep.Expired != 2 {
		t.Errorf("ended retained reasons deleted: %s", rep)
	}
	wantIntact(t, e)
}

// testRetainedReasonWithdrawn: a retained reason is a fact like any other:
// an override can withdraw it.
func testRetainedReasonWithdrawn(t *testing.T, e *env) {
	r := e.enroll(t)
	e.designate(t, r)
	must[healthcode.PurgeReport](t)(e.db.PurgeEndOfEmergency(e.ctx))
	f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID))
	if len(f.Retained) != 1 {
		t.Fatalf("retained: %+v", f.Retained)
	}
	o := &healthcode.Override{Fact: healthcode.FactRef{Kind: healthcode.FactRetainedReason, ID: f.Retained[0].ID},
		Kind: healthcode.OverrideEndedEarly, Reason: "negative PCR after the purge; quarantine ended", ProposedBy: tracerActor}
	if err := e.db.ProposeOverride(e.ctx, o); err != nil {
		t.Fatal(err)
	}
	_, st, err := e.db.DecideOverride(e.ctx, o.ID, healthcode.OverrideDecision{Approve: true, By: reviewerActor})
	if err != nil {
		t.Fatal(err)
	}
	if st.Color != healthcode.Green || !slices.Equal(ruleIDs(st), []string{"override"}) {
		t.Errorf("after withdrawing the retained reason: %s %v", st.Color, ruleIDs(st))
	}
}

// testOutbox: with a webhook configured, every notification waits in the
// outbox from the transaction that writes it until it is marked delivered;
// a claimed one is held for its lease; a failed one comes back when due.
func testOutbox(t *testing.T, e *env) {
	db, err := Open(e.ctx, e.url, Options{Clock: e.clock, Evaluator: e.eval, Cipher: testCipher(t), Outbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := e.enroll(t)
	dep := e.enroll(t, func(r *healthcode.Resident) { r.Phone, r.GuardianID = "", g.ID })
	// Without the outbox (e.db), nothing is queued.
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: g.ID, Temperature: 38.5}))
	if n := count(t, e, `SELECT COUNT(*) FROM notification_outbox`); n != 0 {
		t.Fatalf("%d queued without a webhook", n)
	}
	e.clock.Advance(time.Minute)
	must[healthcode.Status](t)(db.AddTestResult(e.ctx, &healthcode.TestResult{ResidentID: g.ID, Type: healthcode.PCR,
		Result: healthcode.Negative, SampledAt: e.clock.Now(), ResultedAt: e.clock.Now(), Institution: "lab"}))
	must[healthcode.Status](t)(db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: dep.ID, Temperature: 38.5}))

	ds := must[[]healthcode.Delivery](t)(db.ClaimDeliveries(e.ctx, 10, time.Minute))
	if len(ds) != 2 {
		t.Fatalf("claimed %d, want 2", len(ds))
	}
	if ds[0].Notification.ResidentID != g.ID || ds[0].Phone != g.Phone || !strings.Contains(ds[0].Notification.Message, "now green") {
		t.Errorf("first delivery %+v", ds[0])
	}
	if ds[1].Notification.ResidentID != dep.ID || ds[1].Phone != g.Phone {
		t.Errorf("a dependent's notification goes to the guardian's phone: %+v", ds[1])
	}
	if again := must[[]healthcode.Delivery](t)(db.ClaimDeliveries(e.ctx, 10, time.Minute)); len(again) != 0 {
		t.Errorf("claimed again while leased: %+v", again)
	}
	first, second := ds[0].Notification.ID, ds[1].Notification.ID
	if err := db.MarkDeliveryFailed(e.ctx, first, "503 Service Unavailable", e.clock.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkDelivered(e.ctx, second); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Second)
	ds = must[[]healthcode.Delivery](t)(db.ClaimDeliveries(e.ctx, 10, time.Minute))
	if len(ds) != 1 || ds[0].Notification.ID != first || ds[0].Attempts != 1 {
		t.Fatalf("after the retry time: %+v", ds)
	}
	if err := db.MarkDelivered(e.ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkDeliveryFailed(e.ctx, first, "late failure report", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if ds := must[[]healthcode.Delivery](t)(db.ClaimDeliveries(e.ctx, 10, time.Minute)); len(ds) != 0 {
		t.Errorf("delivered notifications claimed again: %+v", ds)
	}
	if n := count(t, e, `SELECT COUNT(*) FROM notification_outbox WHERE delivered_at IS NOT NULL`); n != 2 {
		t.Errorf("%d delivered", n)
	}
}
