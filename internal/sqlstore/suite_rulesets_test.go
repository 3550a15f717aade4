package sqlstore

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/rules"
)

// redFever is the default rule set with fever_or_symptoms made red: a rule
// set whose publication changes a feverish resident's colour.
func redFever(tb testing.TB) []byte {
	tb.Helper()
	src := healthcode.DefaultRuleSetSource
	i := bytes.Index(src, []byte("- id: fever_or_symptoms\n    color: yellow"))
	if i < 0 {
		tb.Fatal("rules/default.yaml has no yellow fever_or_symptoms rule")
	}
	out := bytes.Clone(src)
	copy(out[i:], "- id: fever_or_symptoms\n    color: red   ")
	return out
}

func loadRules(src []byte) (healthcode.Evaluator, error) { return rules.Load(src) }

// openLive opens a store on e's database that follows the rule set in force.
func (e *env) openLive(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(e.ctx, e.url, Options{Clock: e.clock, Evaluator: testEvaluator(tb), LoadRules: loadRules, Cipher: testCipher(tb)})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func testRuleSetPublications(t *testing.T, e *env) {
	db := e.openLive(t)
	admin := e.as(healthcode.Actor{Role: healthcode.RoleAdmin, TokenID: 1, Name: "admin"})
	v1 := *testEvaluator(t).RuleSet()
	v2 := *loadRuleSet(t, redFever(t)).RuleSet()

	// Nothing published: the evaluator the store was opened with, never published.
	if _, err := db.ListRuleSetPublications(e.ctx); err != nil {
		t.Fatal(err)
	}
	rs := must[*healthcode.RuleSet](t)(db.RuleSetInForce(e.ctx))
	if rs.Version != v1.Version || !rs.PublishedAt.IsZero() {
		t.Errorf("in force before any publication: %s at %v, want %s never published", rs.Version, rs.PublishedAt, v1.Version)
	}
	_, err := db.FindRuleSet(e.ctx, v2.Version)
	wantCode(t, err, healthcode.ENOTFOUND)

	publish := func(rs healthcode.RuleSet) time.Time {
		t.Helper()
		if err := db.PublishRuleSet(admin, &rs); err != nil {
			t.Fatal(err)
		}
		return rs.PublishedAt
	}
	t1 := publish(v1)
	e.clock.Advance(time.Hour)
	if again := publish(v1); !again.Equal(t1) { // in force already: nothing happens
		t.Errorf("publishing the rule set in force again: at %v, want %v", again, t1)
	}
	t2 := publish(v2)
	if !t2.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("published at %v, want now", t2)
	}
	rs = must[*healthcode.RuleSet](t)(db.RuleSetInForce(e.ctx))
	if rs.Version != v2.Version || !rs.PublishedAt.Equal(t2) || !bytes.Equal(rs.Source, v2.Source) {
		t.Errorf("in force: %s at %v, want %s at %v", rs.Version, rs.PublishedAt, v2.Version, t2)
	}
	e.clock.Advance(time.Hour)
	t3 := publish(v1) // rollback
	rs = must[*healthcode.RuleSet](t)(db.RuleSetInForce(e.ctx))
	if rs.Version != v1.Version || !rs.PublishedAt.Equal(t3) {
		t.Errorf("in force after the rollback: %s at %v, want %s at %v", rs.Version, rs.PublishedAt, v1.Version, t3)
	}

	got := must[[]healthcode.RuleSetPublication](t)(db.ListRuleSetPublications(e.ctx))
	want := []healthcode.RuleSetPublication{
		{ID: 3, Version: v1.Version, Name: v1.Name, At: t3, Rollback: true, Current: true},
		{ID: 2, Version: v2.Version, Name: v2.Name, At: t2},
		{ID: 1, Version: v1.Version, Name: v1.Name, At: t1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("publications (-want +got):\n%s", diff)
	}

	found := must[*healthcode.RuleSet](t)(db.FindRuleSet(e.ctx, v2.Version))
	if found.Version != v2.Version || !found.PublishedAt.Equal(t2) || !bytes.Equal(found.Source, v2.Source) || len(found.Rules) != len(v2.Rules) {
		t.Errorf("FindRuleSet: %s at %v with %d rules", found.Version, found.PublishedAt, len(found.Rules))
	}

	// Each publication, and only those, is in the audit log, by its publisher.
	var details []string
	for _, a := range must[[]healthcode.AuditEntry](t)(db.ListAudit(e.ctx, healthcode.Actor{Role: healthcode.RoleAuditor, Name: "auditor"},
		healthcode.AuditFilter{Action: healthcode.ActionRuleSetPublish})) {
		if a.ActorName != "admin" {
			t.Errorf("publication by %q, want admin", a.ActorName)
		}
		details = append(details, a.Detail)
	}
	wantDetails := []string{
		"rule set " + v1.Version + " published again, replacing " + v2.Version + " (rollback)",
		"rule set " + v2.Version + " published, replacing " + v1.Version,
		"rule set " + v1.Version + " published",
	}
	if diff := cmp.Diff(wantDetails, details); diff != "" {
		t.Errorf("audit entries (-want +got):\n%s", diff)
	}
	if err := db.PublishRuleSet(admin, &healthcode.RuleSet{Name: "x"}); healthcode.ErrorCode(err) != healthcode.EINVALID {
		t.Errorf("a rule set without a version: %v, want invalid", err)
	}
}

// testRuleSetReload: a publication in one process reaches the statuses
// another process serves, through the change feed.
func testRuleSetReload(t *testing.T, e *env) {
	here, there := e.openLive(t), e.openLive(t)
	var log changeLog
	there.Subscribe(log.add)
	time.Sleep(300 * time.Millisecond) // the watcher starts

	v1 := *testEvaluator(t).RuleSet()
	if err := here.PublishRuleSet(e.ctx, &v1); err != nil {
		t.Fatal(err)
	}
	r := e.enroll(t)
	must[healthcode.Status](t)(here.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.5}))
	if st := must[healthcode.Status](t)(there.CurrentStatus(e.ctx, r.ID)); st.Color != healthcode.Yellow {
		t.Fatalf("feverish resident under the default rules: %s, want yellow", st.Color)
	}

	v2 := *loadRuleSet(t, redFever(t)).RuleSet()
	rulesChange := healthcode.Change{Kind: healthcode.ChangeRules}
	log.eventually(t, "the first publication", rulesChange, 1)
	heard := log.count(rulesChange)
	if err := here.PublishRuleSet(e.ctx, &v2); err != nil {
		t.Fatal(err)
	}
	// The publishing process follows before the call returns.
	if got := here.ruleSetVersion(); got != v2.Version {
		t.Errorf("the publishing store runs %s, want %s", got, v2.Version)
	}
	log.eventually(t, "the second publication", rulesChange, heard+1)
	st := must[healthcode.Status](t)(there.CurrentStatus(e.ctx, r.ID))
	if st.Color != healthcode.Red || st.RuleSetVersion != v2.Version {
		t.Errorf("after the publication, the other process serves %s under %s, want red under %s", st.Color, st.RuleSetVersion, v2.Version)
	}
	hist := must[[]healthcode.StatusChange](t)(there.StatusHistory(e.ctx, r.ID))
	if last := hist[len(hist)-1]; last.Cause != "rule set "+v2.Version+" published" {
		t.Errorf("cause %q", last.Cause)
	}

	// Rollback from the other process: both follow.
	if err := there.PublishRuleSet(e.ctx, &v1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for here.ruleSetVersion() != v1.Version {
		if time.Now().After(deadline) {
			t.Fatalf("the first process still runs %s after the rollback", here.ruleSetVersion())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := must[healthcode.Status](t)(here.CurrentStatus(e.ctx, r.ID)); st.Color != healthcode.Yellow {
		t.Errorf("after the rollback: %s, want yellow", st.Color)
	}
	// A new store opens with the rule set in force, not the one it is given.
	late, err := Open(e.ctx, e.url, Options{Clock: e.clock, Evaluator: loadRuleSet(t, redFever(t)), LoadRules: loadRules, Cipher: testCipher(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if got := late.ruleSetVersion(); got != v1.Version {
		t.Errorf("a store opened now runs %s, want %s", got, v1.Version)
	}
}

// testRefreshOutdatedStatuses: the background catch-up re-evaluates every
// status of an earlier rule set, and tells the feverish of their new colour
// but not the others.
func testRefreshOutdatedStatuses(t *testing.T, e *env) {
	db := e.openLive(t)
	v1 := *testEvaluator(t).RuleSet()
	if err := db.PublishRuleSet(e.ctx, &v1); err != nil {
		t.Fatal(err)
	}
	var fever, calm []int64
	for i := range 150 {
		r := e.enroll(t)
		temp := 36.6
		if i%3 == 0 {
			temp = 38.4
			fever = append(fever, r.ID)
		} else {
			calm = append(calm, r.ID)
		}
		must[healthcode.Status](t)(db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: temp}))
	}
	v2 := *loadRuleSet(t, redFever(t)).RuleSet()
	if err := db.PublishRuleSet(e.ctx, &v2); err != nil {
		t.Fatal(err)
	}
	counts := must[map[healthcode.Color]int](t)(db.CountStatuses(e.ctx))
	if counts[healthcode.Red] != 0 {
		t.Errorf("publication re-evaluated %d statuses at once, want none", counts[healthcode.Red])
	}
	total := 0
	for {
		n, err := db.RefreshOutdatedStatuses(e.ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 150 {
		t.Errorf("refreshed %d statuses, want 150", total)
	}
	counts = must[map[healthcode.Color]int](t)(db.CountStatuses(e.ctx))
	if counts[healthcode.Red] != len(fever) || counts[healthcode.Green] != len(calm) {
		t.Errorf("counts %v, want %d red and %d green", counts, len(fever), len(calm))
	}
	notified := func(id int64) int {
		n := 0
		for _, m := range must[[]healthcode.Notification](t)(db.ListNotifications(e.ctx, id)) {
			if strings.Contains(m.Message, "now red") {
				n++
			}
		}
		return n
	}
	if n := notified(fever[0]); n != 1 {
		t.Errorf("a feverish resident got %d notifications of red, want 1", n)
	}
	if ns := must[[]healthcode.Notification](t)(db.ListNotifications(e.ctx, calm[0])); len(ns) != 0 {
		t.Errorf("a resident whose status looks the same got %d notifications, want none: %+v", len(ns), ns)
	}
}
