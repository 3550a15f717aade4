package sqlstore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
)

// recoveryFor is an EU DCC recovery certificate's fact for r, first
// positive firstPositive days from now, valid from 11 days after that for
// 180 days.
func (e *env) recoveryFor(r *healthcode.Resident, firstPositive int, id string) *healthcode.Recovery {
	return &healthcode.Recovery{ResidentID: r.ID, FirstPositive: e.day(firstPositive), ValidFrom: e.day(firstPositive + 11),
		ValidUntil: e.day(firstPositive + 180), Country: "DE", Issuer: "Robert Koch-Institut", CertificateID: id,
		Source: "EU DCC", RecordedBy: "import by test"}
}

// testRecoveries: a recovery attested by an imported certificate is a fact
// the rules use (the default rules' recovered mark), recorded once per
// certificate, in the export, withdrawable, and purged once its
// certificate has long ended.
func testRecoveries(t *testing.T, e *env) {
	r := e.enroll(t)
	rec := e.recoveryFor(r, -20, "URN:UVCI:01:DE:ABC")
	st := must[healthcode.Status](t)(e.db.AddRecovery(e.ctx, rec))
	if rec.ID == 0 || !rec.RecordedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("recorded %+v", rec)
	}
	if !st.Vaccinated || st.Color != healthcode.Green || len(st.Reasons) != 1 || st.Reasons[0].Rule != "recovered" {
		t.Errorf("status after the recovery: %s vaccinated=%v %v", st.Color, st.Vaccinated, ruleIDs(st))
	}
	checkStatus(t, e, r.ID, st, "recovery 1 (EU DCC URN:UVCI:01:DE:ABC)")
	f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID))
	if diff := cmp.Diff([]healthcode.Recovery{*rec}, f.Recoveries); diff != "" {
		t.Errorf("LoadFacts (-added +loaded):\n%s", diff)
	}

	// Once per certificate and resident; another resident may hold the same id.
	_, err := e.db.AddRecovery(e.ctx, e.recoveryFor(r, -20, "URN:UVCI:01:DE:ABC"))
	wantCode(t, err, healthcode.ECONFLICT)
	if err != nil && healthcode.ErrorMessage(err) != "this certificate is already imported" {
		t.Errorf("conflict message %q", healthcode.ErrorMessage(err))
	}
	other := e.enroll(t)
	must[healthcode.Status](t)(e.db.AddRecovery(e.ctx, e.recoveryFor(other, -20, "URN:UVCI:01:DE:ABC")))
	if n := count(t, e, `SELECT COUNT(*) FROM recoveries WHERE resident_id = $1`, r.ID); n != 1 {
		t.Errorf("%d recoveries after importing one twice", n)
	}

	bad := e.recoveryFor(r, -20, "URN:UVCI:01:DE:BAD")
	bad.ValidUntil = bad.ValidFrom.AddDate(0, 0, -1)
	_, err = e.db.AddRecovery(e.ctx, bad)
	wantCode(t, err, healthcode.EINVALID)
	_, err = e.db.AddRecovery(e.ctx, e.recoveryFor(r, 2, "URN:UVCI:01:DE:FUTURE"))
	wantCode(t, err, healthcode.EINVALID)

	ex := must[*healthcode.Export](t)(e.db.ExportResident(e.ctx, r.ID, "330100"))
	if diff := cmp.Diff([]healthcode.Recovery{*rec}, ex.Recoveries); diff != "" {
		t.Errorf("export (-added +exported):\n%s", diff)
	}

	// An approved override withdraws it: the mark goes, the record stays.
	o := &healthcode.Override{Fact: healthcode.FactRef{Kind: healthcode.FactRecovery, ID: rec.ID}, Kind: healthcode.OverrideDataError,
		Reason: "The certificate was imported into the wrong record.", ProposedBy: tracerActor}
	if err := e.db.ProposeOverride(e.ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, st, err = e.db.DecideOverride(e.ctx, o.ID, healthcode.OverrideDecision{Approve: true, By: reviewerActor}); err != nil {
		t.Fatal(err)
	}
	if st.Vaccinated || len(must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID)).Recoveries) != 0 {
		t.Errorf("after the override: vaccinated=%v %v", st.Vaccinated, ruleIDs(st))
	}
	if n := count(t, e, `SELECT COUNT(*) FROM recoveries WHERE resident_id = $1`, r.ID); n != 1 {
		t.Errorf("the override deleted the recovery (%d left)", n)
	}

	// Retention: kept while valid and for the test-result window after; then deleted.
	kept := e.enroll(t)
	must[healthcode.Status](t)(e.db.AddRecovery(e.ctx, e.recoveryFor(kept, -20, "URN:UVCI:01:DE:KEPT")))
	e.clock.Advance((160 + 90) * 24 * time.Hour) // the last valid day plus 90 days
	rep := must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, healthcode.DefaultRetention()))
	if rep.Recoveries != 0 {
		t.Errorf("90 days after the last valid day: %s", rep)
	}
	e.clock.Advance(2 * 24 * time.Hour)
	snap := snapshot(t, e, kept.ID)
	rep = must[healthcode.PurgeReport](t)(e.db.ApplyRetention(e.ctx, healthcode.DefaultRetention()))
	if rep.Recoveries != 3 || rep.Deferred != 0 {
		t.Errorf("92 days after the last valid day: %s", rep)
	}
	if n := count(t, e, `SELECT COUNT(*) FROM recoveries`); n != 0 {
		t.Errorf("%d recoveries left", n)
	}
	if n := count(t, e, `SELECT COUNT(*) FROM withdrawals WHERE fact_kind = $1`, string(healthcode.FactRecovery)); n != 0 {
		t.Errorf("%d withdrawals of deleted recoveries left", n)
	}
	snap.check(t, e, kept.ID, "purging an ended recovery")
}
