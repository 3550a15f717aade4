package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode"
)

var (
	tracerActor   = healthcode.Actor{Role: healthcode.RoleTracer, TokenID: 101, Name: "Li Wei (tracer)"}
	reviewerActor = healthcode.Actor{Role: healthcode.RoleReviewer, TokenID: 202, Name: "Zhang Min"}
	labActor      = healthcode.Actor{Role: healthcode.RoleLab, TokenID: 303, Name: "Xihu lab"}
)

// as returns the env's context acting as a.
func (e *env) as(a healthcode.Actor) context.Context { return healthcode.ContextWithActor(e.ctx, a) }

// auditEntries returns the whole log, oldest first.
func auditEntries(t *testing.T, e *env) []healthcode.AuditEntry {
	t.Helper()
	var out []healthcode.AuditEntry
	err := queryAll(e.ctx, e.db.read, func(rows *sql.Rows) error {
		a, err := scanAudit(rows)
		out = append(out, a)
		return err
	}, `SELECT `+auditColumns+` FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lastSeq returns the number of the last audit entry.
func lastSeq(t *testing.T, e *env) int64 {
	t.Helper()
	var seq int64
	if err := e.db.read.QueryRowContext(e.ctx, `SELECT seq FROM audit_head`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

// entriesSince returns the entries after seq, oldest first.
func entriesSince(t *testing.T, e *env, seq int64) []healthcode.AuditEntry {
	t.Helper()
	var out []healthcode.AuditEntry
	for _, a := range auditEntries(t, e) {
		if a.Seq > seq {
			out = append(out, a)
		}
	}
	return out
}

func actions(es []healthcode.AuditEntry) string {
	var s []string
	for _, a := range es {
		s = append(s, a.Action)
	}
	return strings.Join(s, ",")
}

func wantIntact(t *testing.T, e *env) healthcode.AuditReport {
	t.Helper()
	rep, err := e.db.VerifyAuditLog(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Break != nil {
		t.Fatalf("the chain is broken: %v", rep.Break)
	}
	return rep
}

// testAuditWrites: every fact written, status change, rule-set publication
// and token issued is in the log, with its actor, in the same transaction;
// the entries link up and name things by reference, never by content.
func testAuditWrites(t *testing.T, e *env) {
	r := e.enroll(t)
	if got := actions(entriesSince(t, e, 0)); got != "resident.enroll,status.change" {
		t.Errorf("enrollment wrote %s", got)
	}
	seq := lastSeq(t, e)
	tr := &healthcode.TestResult{ResidentID: r.ID, Type: healthcode.PCR, Result: healthcode.Positive,
		SampledAt: e.clock.Now().Add(-time.Hour), ResultedAt: e.clock.Now(), Institution: "Xihu lab", RecordedBy: labActor.Name}
	must[healthcode.Status](t)(e.db.AddTestResult(e.as(labActor), tr))
	es := entriesSince(t, e, seq)
	if actions(es) != "fact.add,status.change" {
		t.Fatalf("a test result that turns the code red wrote %s", actions(es))
	}
	for _, a := range es {
		if a.ActorRole != healthcode.RoleLab || a.ActorID != labActor.TokenID || a.ActorName != labActor.Name || a.Subject != r.ID {
			t.Errorf("entry %+v: want the lab as actor and resident %d as subject", a, r.ID)
		}
		if !a.At.Equal(e.clock.Now().Truncate(time.Microsecond)) {
			t.Errorf("entry at %v, want the transaction's now", a.At)
		}
	}
	if es[0].Detail != fmt.Sprintf("test result %d", tr.ID) || !strings.HasPrefix(es[1].Detail, "status history ") {
		t.Errorf("details %q, %q", es[0].Detail, es[1].Detail)
	}

	// A fact that changes nothing writes no status change.
	seq = lastSeq(t, e)
	must[healthcode.Status](t)(e.db.AddVaccination(e.as(labActor), &healthcode.Vaccination{ResidentID: r.ID, Product: "CoronaVac",
		Dose: 1, SeriesDoses: 2, Date: e.day(-3)}))
	if got := actions(entriesSince(t, e, seq)); got != "fact.add" {
		t.Errorf("a vaccination that changes nothing wrote %s", got)
	}

	c := &healthcode.Case{ResidentID: r.ID, SampleDate: e.day(-1), RecordedBy: tracerActor.Name}
	must[healthcode.Status](t)(e.db.CreateCase(e.as(tracerActor), c))
	e.clock.Advance(5 * 24 * time.Hour)
	seq = lastSeq(t, e)
	if _, _, err := e.db.DischargeCase(e.as(tracerActor), c.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := actions(entriesSince(t, e, seq)); got != "fact.update,status.change" {
		t.Errorf("a discharge wrote %s", got)
	}
	seq = lastSeq(t, e)
	if _, err := e.db.AddAreaRisk(e.as(tracerActor), &healthcode.AreaRisk{Prefix: "4201", Level: healthcode.HighRisk, From: e.day(-2)}); err != nil {
		t.Fatal(err)
	}
	if es := entriesSince(t, e, seq); actions(es) != "fact.add" || es[0].Subject != 0 {
		t.Errorf("an area designation wrote %+v", es)
	}

	// Tokens and rule sets, by whoever the context names (the system when none).
	seq = lastSeq(t, e)
	admin := healthcode.Actor{Role: healthcode.RoleAdmin, TokenID: 1, Name: "first admin"}
	tok := &healthcode.APIToken{Name: "Xihu lab", Role: healthcode.RoleLab, Hash: []byte("audit-token")}
	if err := e.db.CreateAPIToken(e.as(admin), tok); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RevokeAPIToken(e.ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	rs := *e.eval.RuleSet()
	if err := e.db.PublishRuleSet(e.ctx, &rs); err != nil {
		t.Fatal(err)
	}
	if err := e.db.PublishRuleSet(e.ctx, &rs); err != nil { // again: nothing new
		t.Fatal(err)
	}
	es = entriesSince(t, e, seq)
	if actions(es) != "token.issue,token.revoke,rule_set.publish" {
		t.Fatalf("wrote %s", actions(es))
	}
	if es[0].ActorName != "first admin" || es[1].ActorRole != healthcode.RoleSystem || es[2].Detail != "rule set "+rs.Version+" published" {
		t.Errorf("entries %+v", es)
	}

	// A failed write leaves nothing in the log.
	seq = lastSeq(t, e)
	if _, err := e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 50}); err == nil {
		t.Fatal("an invalid declaration was accepted")
	}
	if _, err := e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: 99999}); err == nil {
		t.Fatal("a declaration of nobody was accepted")
	}
	if n := lastSeq(t, e); n != seq {
		t.Errorf("failed writes added %d entries", n-seq)
	}

	// No health data: colours, results, temperatures, rules and names stay out.
	all := auditEntries(t, e)
	for _, a := range all {
		text := strings.ToLower(a.Detail + " " + a.Purpose + " " + a.Action)
		for _, bad := range []string{"red", "yellow", "green", "positive", "negative", "pcr", "fever", "confirmed_case", "discharged", r.Name, r.IDNumber} {
			if strings.Contains(text, strings.ToLower(bad)) {
				t.Errorf("entry %d (%s %q) mentions %q", a.Seq, a.Action, a.Detail, bad)
			}
		}
	}
	rep := wantIntact(t, e)
	if rep.Entries != int64(len(all)) || rep.Head != all[len(all)-1].Hash || all[0].PrevHash != healthcode.GenesisHash {
		t.Errorf("report %+v for %d entries", rep, len(all))
	}
}

// testAuditTamper: the log refuses changes, and a change made behind its
// back (the append-only trigger dropped first) is found at the entry changed.
func testAuditTamper(t *testing.T, e *env) {
	for range 3 {
		r := e.enroll(t)
		must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.5}))
	}
	original := auditEntries(t, e)
	wantIntact(t, e)
	if _, err := e.db.write.ExecContext(e.ctx, `UPDATE audit_log SET detail = 'nothing' WHERE seq = 3`); err == nil ||
		!strings.Contains(err.Error(), "append-only") {
		t.Fatalf("updating the log: %v, want a refusal", err)
	}
	if _, err := e.db.write.ExecContext(e.ctx, `DELETE FROM audit_log WHERE seq = 3`); err == nil {
		t.Fatal("deleting from the log succeeded")
	}

	// An attacker with the database drops the protection and edits entry 5.
	drop := []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}
	if e.db.Engine() == "postgres" {
		drop = []string{`DROP TRIGGER audit_log_append_only ON audit_log`}
	}
	for _, q := range drop {
		if _, err := e.db.write.ExecContext(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.db.write.ExecContext(e.ctx, `UPDATE audit_log SET actor_name = 'someone else' WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	rep, err := e.db.VerifyAuditLog(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Break == nil || rep.Break.Seq != 5 || !strings.Contains(rep.Break.Problem, "changed") || rep.Entries != 4 {
		t.Fatalf("after editing entry 5: %+v (%v)", rep, rep.Break)
	}

	// Recomputing its hash does not help: the next entry no longer links.
	forged := auditEntries(t, e)[4]
	forged.Hash = forged.ComputeHash()
	if _, err := e.db.write.ExecContext(e.ctx, `UPDATE audit_log SET hash = $1 WHERE seq = 5`, forged.Hash); err != nil {
		t.Fatal(err)
	}
	rep, _ = e.db.VerifyAuditLog(e.ctx)
	if rep.Break == nil || rep.Break.Seq != 6 || !strings.Contains(rep.Break.Problem, "link") {
		t.Fatalf("after re-hashing entry 5: %v", rep.Break)
	}

	// Removing an entry is found too, and so is removing the last ones.
	if _, err := e.db.write.ExecContext(e.ctx, `UPDATE audit_log SET hash = $1 WHERE seq = 5`, original[4].Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.write.ExecContext(e.ctx, `UPDATE audit_log SET actor_name = $1 WHERE seq = 5`, original[4].ActorName); err != nil {
		t.Fatal(err)
	}
	wantIntact(t, e)
	if _, err := e.db.write.ExecContext(e.ctx, `DELETE FROM audit_log WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if rep, _ = e.db.VerifyAuditLog(e.ctx); rep.Break == nil || rep.Break.Seq != 2 || !strings.Contains(rep.Break.Problem, "missing") {
		t.Errorf("after deleting entry 2: %v", rep.Break)
	}
	if _, err := e.db.write.ExecContext(e.ctx, `DELETE FROM audit_log WHERE seq <= 2 OR seq = $1`, len(original)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.write.ExecContext(e.ctx, `UPDATE audit_log SET prev_hash = $1 WHERE seq = 3`, healthcode.GenesisHash); err != nil {
		t.Fatal(err)
	}
	if rep, _ = e.db.VerifyAuditLog(e.ctx); rep.Break == nil || rep.Break.Seq != 1 {
		t.Errorf("after deleting the first entries: %v", rep.Break)
	}
}

// testAuditTail: entries cut off the end of the log are found by the head.
func testAuditTail(t *testing.T, e *env) {
	e.enroll(t)
	e.enroll(t)
	all := auditEntries(t, e)
	if e.db.Engine() == "postgres" {
		if _, err := e.db.write.ExecContext(e.ctx, `DROP TRIGGER audit_log_append_only ON audit_log`); err != nil {
			t.Fatal(err)
		}
	} else if _, err := e.db.write.ExecContext(e.ctx, `DROP TRIGGER audit_log_no_delete`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.write.ExecContext(e.ctx, `DELETE FROM audit_log WHERE seq = $1`, len(all)); err != nil {
		t.Fatal(err)
	}
	rep, _ := e.db.VerifyAuditLog(e.ctx)
	if rep.Break == nil || rep.Break.Seq != int64(len(all)) || !strings.Contains(rep.Break.Problem, "missing") {
		t.Errorf("after deleting the last entry: %v", rep.Break)
	}
}

// testAuditConcurrent: many writers at once keep the chain linear.
func testAuditConcurrent(t *testing.T, e *env) {
	const writers, each = 8, 15
	var rs []*healthcode.Resident
	for range writers {
		rs = append(rs, e.enroll(t))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				temp := 36.5
				if i%2 == 0 {
					temp = 38.5 // alternate, so that statuses change too
				}
				tr := &healthcode.TestResult{ResidentID: rs[w].ID, Type: healthcode.PCR, Result: healthcode.Negative,
					SampledAt: e.clock.Now(), ResultedAt: e.clock.Now(), Institution: "lab"}
				if _, err := e.db.AddDeclaration(e.as(labActor), &healthcode.Declaration{ResidentID: rs[w].ID, Temperature: temp}); err != nil {
					errs <- err
				}
				if _, err := e.db.AddTestResult(e.as(labActor), tr); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rep := wantIntact(t, e)
	var facts int
	for _, a := range auditEntries(t, e) {
		if a.Action == healthcode.ActionFactAdd {
			facts++
		}
	}
	if facts != writers*each*2 || rep.Entries != lastSeq(t, e) {
		t.Errorf("%d fact entries (want %d), %d entries verified of %d", facts, writers*each*2, rep.Entries, lastSeq(t, e))
	}
}

// testProtectedReads: a read on someone else's behalf writes exactly one
// audit entry with the actor and purpose, in the same transaction; no
// purpose, no read; the resident sees it in their access log.
func testProtectedReads(t *testing.T, e *env) {
	r := e.enroll(t)
	c := &healthcode.Case{ResidentID: r.ID, SampleDate: e.day(-1)}
	must[healthcode.Status](t)(e.db.CreateCase(e.ctx, c))

	seq := lastSeq(t, e)
	for _, purpose := range []string{"", "  ", "x"} {
		_, err := e.db.ReadCase(e.ctx, healthcode.Access{Actor: tracerActor, Purpose: purpose}, c.ID)
		wantCode(t, err, healthcode.EINVALID)
	}
	if n := lastSeq(t, e); n != seq {
		t.Fatalf("refused reads wrote %d entries", n-seq)
	}
	_, err := e.db.ReadCase(e.ctx, healthcode.Access{Actor: tracerActor, Purpose: "outbreak 7"}, 99999)
	wantCode(t, err, healthcode.ENOTFOUND)

	got := must[*healthcode.Case](t)(e.db.ReadCase(e.ctx, healthcode.Access{Actor: tracerActor, Purpose: "outbreak 7: confirm the onset date"}, c.ID))
	if got.ID != c.ID {
		t.Errorf("read case %d", got.ID)
	}
	es := entriesSince(t, e, seq)
	if len(es) != 1 || es[0].Action != healthcode.ActionRead || es[0].Subject != r.ID || es[0].ActorName != tracerActor.Name ||
		es[0].Purpose != "outbreak 7: confirm the onset date" || es[0].Detail != fmt.Sprintf("case %d", c.ID) {
		t.Fatalf("ReadCase wrote %+v", es)
	}

	seq = lastSeq(t, e)
	var pseudonym string
	err = e.db.ReadCaseMovements(e.ctx, healthcode.Access{Actor: tracerActor, Purpose: "trace outbreak 7"}, c.ID,
		func(got *healthcode.Case, p string, src healthcode.MovementReader) error {
			pseudonym = p
			_, err := src.ListCheckInsOfSubject(e.ctx, "330100", p, e.clock.Now().Add(-time.Hour*48), e.clock.Now())
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	if es := entriesSince(t, e, seq); len(es) != 1 || es[0].Action != healthcode.ActionRead || es[0].Purpose != "trace outbreak 7" || pseudonym != r.Pseudonym {
		t.Errorf("ReadCaseMovements wrote %+v, pseudonym %q", es, pseudonym)
	}
	// A read that fails leaves no entry.
	seq = lastSeq(t, e)
	err = e.db.ReadCaseMovements(e.ctx, healthcode.Access{Actor: tracerActor, Purpose: "trace outbreak 7"}, c.ID,
		func(*healthcode.Case, string, healthcode.MovementReader) error { return fmt.Errorf("interrupted") })
	if err == nil || lastSeq(t, e) != seq {
		t.Errorf("a failed read: %v, %d entries", err, lastSeq(t, e)-seq)
	}

	log := must[[]healthcode.AuditEntry](t)(e.db.ListAccessLog(e.ctx, r.ID))
	if len(log) != 2 || log[0].Purpose != "trace outbreak 7" || log[1].Purpose != "outbreak 7: confirm the onset date" {
		t.Errorf("access log %+v", log)
	}
	other := e.enroll(t)
	if log := must[[]healthcode.AuditEntry](t)(e.db.ListAccessLog(e.ctx, other.ID)); len(log) != 0 {
		t.Errorf("another resident's access log: %+v", log)
	}
	_, err = e.db.ListAccessLog(e.ctx, 99999)
	wantCode(t, err, healthcode.ENOTFOUND)
}

// testListAudit: filters, paging, and the auditor's query is itself logged.
func testListAudit(t *testing.T, e *env) {
	a, b := e.enroll(t), e.enroll(t)
	must[healthcode.Status](t)(e.db.AddDeclaration(e.as(healthcode.Actor{Role: healthcode.RoleResident, ResidentID: a.ID, Name: "resident"}),
		&healthcode.Declaration{ResidentID: a.ID, Temperature: 38.1}))
	must[healthcode.Status](t)(e.db.AddTestResult(e.as(labActor), &healthcode.TestResult{ResidentID: b.ID, Type: healthcode.PCR,
		Result: healthcode.Negative, SampledAt: e.clock.Now(), ResultedAt: e.clock.Now(), Institution: "lab"}))
	auditor := healthcode.Actor{Role: healthcode.RoleAuditor, TokenID: 9, Name: "auditor"}
	list := func(f healthcode.AuditFilter) []healthcode.AuditEntry {
		t.Helper()
		return must[[]healthcode.AuditEntry](t)(e.db.ListAudit(e.ctx, auditor, f))
	}
	got := list(healthcode.AuditFilter{Subject: a.ID})
	if actions(got) != "status.change,fact.add,status.change,resident.enroll" {
		t.Errorf("subject %d: %s", a.ID, actions(got))
	}
	if got := list(healthcode.AuditFilter{Actor: labActor.Name}); len(got) != 1 || got[0].Subject != b.ID {
		t.Errorf("by the lab: %+v", got)
	}
	if got := list(healthcode.AuditFilter{Action: healthcode.ActionEnroll}); len(got) != 2 {
		t.Errorf("enrollments: %+v", got)
	}
	// The auditor's queries are entries too.
	if got := list(healthcode.AuditFilter{Action: healthcode.ActionAuditRead}); len(got) != 3 || got[0].ActorName != "auditor" ||
		!strings.Contains(got[0].Detail, "action=resident.enroll") {
		t.Errorf("audit reads: %+v", got)
	}
	// Paging newest first.
	page := list(healthcode.AuditFilter{Limit: 2})
	if len(page) != 2 || page[0].Seq <= page[1].Seq {
		t.Fatalf("first page %+v", page)
	}
	next := list(healthcode.AuditFilter{Limit: 2, Before: page[1].Seq})
	if len(next) != 2 || next[0].Seq != page[1].Seq-1 {
		t.Errorf("next page %+v after %d", next, page[1].Seq)
	}
	// Time ranges.
	e.clock.Advance(time.Hour)
	mid := e.clock.Now()
	e.enroll(t)
	if got := list(healthcode.AuditFilter{From: mid, Action: healthcode.ActionEnroll}); len(got) != 1 {
		t.Errorf("since %v: %+v", mid, got)
	}
	if got := list(healthcode.AuditFilter{To: mid, Action: healthcode.ActionEnroll}); len(got) != 2 {
		t.Errorf("until %v: %+v", mid, got)
	}
	_, err := e.db.ListAudit(e.ctx, auditor, healthcode.AuditFilter{Action: "delete"})
	wantCode(t, err, healthcode.EINVALID)
	_, err = e.db.ListAudit(e.ctx, auditor, healthcode.AuditFilter{Limit: 10000})
	wantCode(t, err, healthcode.EINVALID)
	wantIntact(t, e)
}
