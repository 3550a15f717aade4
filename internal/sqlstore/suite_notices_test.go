package sqlstore

import (
	"strings"
	"testing"
	"time"

	"healthcode"
)

func testNotice(e *env, id, to string, subjects ...string) healthcode.ContactNotice {
	now := e.clock.Now().UTC().Truncate(time.Second)
	n := healthcode.ContactNotice{ID: id, From: "310100", FromName: "Shanghai", To: to, IssuedAt: now, CaseConfirmed: now.Add(-time.Hour)}
	for _, s := range subjects {
		last := now.Add(-30 * time.Hour)
		n.Contacts = append(n.Contacts, healthcode.NoticeContact{Subject: s, Degree: 1, LastExposure: last,
			QuarantineUntil: last.Add(healthcode.DefaultContactQuarantine),
			Exposures:       []healthcode.NoticeExposure{{VenueName: "虹桥站", VenueType: "transit", SourceAt: last.Add(-10 * time.Minute), ContactAt: last}}})
	}
	return n
}

// testContactNotices: the sender's outbox (queue, claim with a lease,
// retry, delivered exactly once, refused for good) and the receiver's
// proposals (idempotent by notice id, unknown subjects, confirm makes a
// designation of another region's case that the rules see, dismiss needs a
// reason, a decided proposal stays decided), the export and retention.
func testContactNotices(t *testing.T, e *env) {
	// Sending.
	cs := e.enroll(t)
	c := &healthcode.Case{ResidentID: cs.ID, SampleDate: e.clock.Now().Add(-24 * time.Hour), RecordedBy: "tracer-1"}
	if _, err := e.db.CreateCase(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	a := testNotice(e, "NOTICE-A-0001", "330100", "SUBJECTA1", "SUBJECTA2")
	b := testNotice(e, "NOTICE-B-0001", "110100", "SUBJECTB1")
	if err := e.db.QueueContactNotices(e.ctx, c.ID, []healthcode.ContactNotice{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueueContactNotices(e.ctx, c.ID, []healthcode.ContactNotice{a}); err != nil { // the same notice again
		t.Fatal(err)
	}
	if n := must[int](t)(e.db.CountPendingNotices(e.ctx)); n != 2 {
		t.Fatalf("pending notices: %d, want 2", n)
	}
	claimed := must[[]healthcode.OutgoingNotice](t)(e.db.ClaimContactNotices(e.ctx, 10, time.Minute))
	if len(claimed) != 2 || claimed[0].CaseID != c.ID || len(claimed[0].Notice.Contacts)+len(claimed[1].Notice.Contacts) != 3 {
		t.Fatalf("claimed: %+v", claimed)
	}
	if again := must[[]healthcode.OutgoingNotice](t)(e.db.ClaimContactNotices(e.ctx, 10, time.Minute)); len(again) != 0 {
		t.Fatalf("claimed during the lease: %+v", again)
	}
	if err := e.db.MarkNoticeFailed(e.ctx, a.ID, "connection refused", e.clock.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.db.MarkNoticeFailed(e.ctx, b.ID, "400 Bad Request: unknown subject", time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Second)
	claimed = must[[]healthcode.OutgoingNotice](t)(e.db.ClaimContactNotices(e.ctx, 10, time.Minute))
	if len(claimed) != 1 || claimed[0].Notice.ID != a.ID || claimed[0].Attempts != 1 || claimed[0].LastError != "connection refused" {
		t.Fatalf("claimed after the retry time: %+v", claimed)
	}
	if err := e.db.MarkNoticeDelivered(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.db.MarkNoticeDelivered(e.ctx, a.ID); err != nil { // twice changes nothing
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	if again := must[[]healthcode.OutgoingNotice](t)(e.db.ClaimContactNotices(e.ctx, 10, time.Minute)); len(again) != 0 {
		t.Fatalf("delivered or refused notices claimed again: %+v", again)
	}
	if n := must[int](t)(e.db.CountPendingNotices(e.ctx)); n != 0 {
		t.Errorf("pending notices: %d, want 0", n)
	}
	out := must[[]healthcode.OutgoingNotice](t)(e.db.ListOutgoingNotices(e.ctx, 10))
	if len(out) != 2 {
		t.Fatalf("outbox: %+v", out)
	}
	for _, o := range out {
		if (o.Notice.ID == a.ID) != !o.DeliveredAt.IsZero() || (o.Notice.ID == b.ID) != !o.RefusedAt.IsZero() {
			t.Errorf("outbox row %s: delivered %v refused %v", o.Notice.ID, o.DeliveredAt, o.RefusedAt)
		}
	}

	// Receiving.
	r1, r2 := e.enroll(t), e.enroll(t)
	n := testNotice(e, "NOTICE-IN-0001", "330100", r1.Pseudonym, "NOBODY99", r2.Pseudonym)
	rc := must[*healthcode.NoticeReceipt](t)(e.db.ReceiveContactNotice(e.ctx, &n))
	if rc.Duplicate || len(rc.Results) != 3 || rc.Results[0].Result != "proposed" || rc.Results[1].Result != "unknown_subject" || rc.Results[2].ProposalID == 0 {
		t.Fatalf("receipt: %+v", rc)
	}
	again := must[*healthcode.NoticeReceipt](t)(e.db.ReceiveContactNotice(e.ctx, &n))
	if !again.Duplicate || len(again.Results) != 3 || again.Results[0].ProposalID != rc.Results[0].ProposalID || again.Results[1].Result != "unknown_subject" {
		t.Fatalf("redelivery: %+v", again)
	}
	nobody := testNotice(e, "NOTICE-IN-0002", "330100", "NOBODY99")
	if _, err := e.db.ReceiveContactNotice(e.ctx, &nobody); healthcode.ErrorCode(err) != healthcode.EINVALID || !strings.Contains(err.Error(), "NOBODY99") {
		t.Errorf("a notice of nobody here: %v", err)
	}
	if n := must[int](t)(e.db.CountOpenProposals(e.ctx)); n != 2 {
		t.Errorf("CountOpenProposals = %d, want 2", n)
	}
	// Reading the proposals is a read of each resident they name.
	if _, err := e.db.ReadContactProposals(e.ctx, healthcode.Access{Actor: tracerActor}, ""); healthcode.ErrorCode(err) != healthcode.EINVALID {
		t.Errorf("a read without a purpose: %v", err)
	}
	seq := lastSeq(t, e)
	read := healthcode.Access{Actor: tracerActor, Purpose: "deciding proposals"}
	open := must[[]healthcode.ContactProposal](t)(e.db.ReadContactProposals(e.ctx, read, healthcode.ProposalOpen))
	es := entriesSince(t, e, seq)
	if len(es) != 2 || es[0].Action != healthcode.ActionRead || es[0].Subject != r1.ID || es[1].Subject != r2.ID ||
		es[0].ActorName != tracerActor.Name || es[0].Purpose != "deciding proposals" {
		t.Errorf("reading the proposals wrote %+v", es)
	}
	if len(open) != 2 || open[0].ResidentID != r1.ID || open[0].FromRegion != "310100" || open[0].Venue != "虹桥站" ||
		open[0].VenueType != "transit" || len(open[0].Exposures) != 1 || open[0].QuarantineUntil.IsZero() {
		t.Fatalf("open proposals: %+v", open)
	}

	p, st, err := e.db.ConfirmContactProposal(e.ctx, open[0].ID, "tracer-7")
	if err != nil {
		t.Fatal(err)
	}
	if p.State != healthcode.ProposalConfirmed || p.DesignationID == 0 || st.Color != healthcode.Yellow ||
		len(st.Reasons) == 0 || !strings.Contains(st.Reasons[0].Message, "虹桥站 (Shanghai 310100)") {
		t.Fatalf("confirmed: %+v, status %+v", p, st)
	}
	f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r1.ID))
	if len(f.Contacts) != 1 || f.Contacts[0].CaseID != 0 || f.Contacts[0].CaseRegion != "310100" || f.Contacts[0].ProposalID != p.ID ||
		f.Contacts[0].ID != p.DesignationID {
		t.Errorf("the resident's contacts: %+v", f.Contacts)
	}
	if _, _, err := e.db.ConfirmContactProposal(e.ctx, open[0].ID, "tracer-7"); healthcode.ErrorCode(err) != healthcode.ECONFLICT {
		t.Errorf("confirm twice: %v", err)
	}
	if _, err := e.db.DismissContactProposal(e.ctx, open[1].ID, "tracer-7", " "); healthcode.ErrorCode(err) != healthcode.EINVALID {
		t.Errorf("dismiss without a reason: %v", err)
	}
	d := must[*healthcode.ContactProposal](t)(e.db.DismissContactProposal(e.ctx, open[1].ID, "tracer-7", "abroad that day"))
	if d.State != healthcode.ProposalDismissed || d.DecisionReason != "abroad that day" {
		t.Errorf("dismissed: %+v", d)
	}
	if _, _, err := e.db.ConfirmContactProposal(e.ctx, open[1].ID, "tracer-7"); healthcode.ErrorCode(err) != healthcode.ECONFLICT {
		t.Errorf("confirm a dismissed proposal: %v", err)
	}
	if _, _, err := e.db.ConfirmContactProposal(e.ctx, 9999, "tracer-7"); healthcode.ErrorCode(err) != healthcode.ENOTFOUND {
		t.Errorf("confirm an unknown proposal: %v", err)
	}
	if st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r2.ID)); st.Color != healthcode.Green {
		t.Errorf("a dismissed proposal's resident: %+v", st)
	}
	if all := must[[]healthcode.ContactProposal](t)(e.db.ReadContactProposals(e.ctx, read, "")); len(all) != 2 {
		t.Errorf("all proposals: %d", len(all))
	}

	// The resident's export holds the proposal and the designation.
	ex := must[*healthcode.Export](t)(e.db.ExportResident(e.ctx, r1.ID, "330100"))
	if len(ex.Proposals) != 1 || len(ex.Contacts) != 1 || ex.Contacts[0].CaseRegion != "310100" {
		t.Errorf("export: proposals %+v contacts %+v", ex.Proposals, ex.Contacts)
	}

	// Retention deletes notices with the check-ins' window; the designation stays.
	e.clock.Advance(29 * 24 * time.Hour)
	rep, err := e.db.ApplyRetention(e.ctx, healthcode.DefaultRetention())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Notices != 4 || !strings.Contains(rep.String(), "4 contact notices") {
		t.Errorf("retention: %+v", rep)
	}
	if all := must[[]healthcode.ContactProposal](t)(e.db.ReadContactProposals(e.ctx, read, "")); len(all) != 0 {
		t.Errorf("proposals after retention: %d", len(all))
	}
	if f := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r1.ID)); len(f.Contacts) != 1 {
		t.Errorf("the designation after retention: %+v", f.Contacts)
	}
}
