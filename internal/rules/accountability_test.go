package rules_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"healthcode"
)

// TestOverrideReason: an approved override is a fact the rules see; the
// default rule set shows it, green, with its written reason, for 14 days.
func TestOverrideReason(t *testing.T) {
	e := loadDefault(t)
	o := healthcode.Override{ID: 4, Fact: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: 12},
		Kind: healthcode.OverrideEndedEarly, Reason: "quarantine ended early by medical decision",
		ProposedAt: at("2022-04-02 09:00"), DecidedAt: at("2022-04-02 10:00"), State: healthcode.OverrideApproved}
	f := &healthcode.Facts{Resident: healthcode.Resident{Region: "330106"}, Overrides: []healthcode.Override{o}}
	st, err := e.Evaluate(f, at("2022-04-03 08:00"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(green().withReasons(w("override", "2022-04-02 10:00", "2022-04-16 10:00")), outcomeOf(st).noValidUntil()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	msg := st.Reasons[0].Message
	for _, want := range []string{"Override 4", "2022-04-02", "contact designation 12", "ended_early", "quarantine ended early by medical decision"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if !strings.Contains(st.Reasons[0].MessageZH, "quarantine ended early") {
		t.Errorf("Chinese message %q lacks the written reason", st.Reasons[0].MessageZH)
	}
	if st, _ := e.Evaluate(f, at("2022-04-16 10:00")); len(st.Reasons) != 0 {
		t.Errorf("14 days later: %v, want no reason", st.Reasons)
	}
}

// TestRetainedReason: a reason retained after a purge applies as an item of
// its rule with its own text and window, so the status is the same as when
// the facts were there; it ends on its date, and one of a rule the rule set
// no longer has is dropped.
func TestRetainedReason(t *testing.T) {
	e := loadDefault(t)
	visit := &healthcode.Facts{Resident: healthcode.Resident{Region: "330106"},
		Declarations: []healthcode.Declaration{{ID: 1, DeclaredAt: at("2022-04-01 09:00"),
			Visited: []healthcode.Visit{{Region: "420106", Date: at("2022-03-31 00:00")}}}},
		Areas: []healthcode.AreaRisk{{ID: 1, Prefix: "4201", Level: healthcode.HighRisk, From: at("2022-03-20 00:00")}}}
	now := at("2022-04-02 12:00")
	before, err := e.Evaluate(visit, now)
	if err != nil {
		t.Fatal(err)
	}
	if before.Color != healthcode.Yellow {
		t.Fatalf("before: %s", before.Color)
	}
	purged := &healthcode.Facts{Resident: visit.Resident}
	for _, r := range before.Reasons {
		purged.Retained = append(purged.Retained, healthcode.RetainedReason{ID: 1, Reason: r, RetainedAt: now})
	}
	purged.Retained = append(purged.Retained, healthcode.RetainedReason{ID: 2, RetainedAt: now,
		Reason: healthcode.Reason{Rule: "no_such_rule", Color: healthcode.Red, Message: "gone", Since: now, Until: now.AddDate(0, 0, 30)}})
	after, err := e.Evaluate(purged, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("retained status differs (-facts +retained):\n%s", diff)
	}
	end := before.Reasons[0].Until
	if st, _ := e.Evaluate(purged, end.Add(-1)); st.Color != healthcode.Yellow {
		t.Errorf("just before the end: %s", st.Color)
	}
	if st, _ := e.Evaluate(purged, end); st.Color != healthcode.Green || len(st.Reasons) != 0 {
		t.Errorf("at the end: %s %v, want green", st.Color, st.Reasons)
	}
}
