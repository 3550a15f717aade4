package healthcode

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiffRuleSets(t *testing.T) {
	a := Rule{ID: "a", Color: Red, Description: "A", Each: "facts.cases", When: "true", Since: "it.confirmed_at",
		Reason: RuleReason{EN: "a", ZH: "甲"}}
	b := Rule{ID: "b", Color: Yellow, Description: "B", Each: "facts.contacts", Since: "it.designated_at", Until: "it.last_exposure + days(7)",
		Reason: RuleReason{EN: "b", ZH: "乙"}}
	c := Rule{ID: "c", Mark: "vaccinated", Description: "C", Each: "facts.vaccinations", Since: "it.date", Reason: RuleReason{EN: "c", ZH: "丙"}}
	b2 := b
	b2.Until, b2.Reason.EN = "it.last_exposure + days(14)", "b for 14 days"
	d := Rule{ID: "d", Color: Green, Description: "D", Each: "facts.overrides", Since: "it.approved_at", Reason: RuleReason{EN: "d", ZH: "丁"}}

	tests := []struct {
		name     string
		from, to *RuleSet
		want     RuleSetDiff
	}{
		{"same", &RuleSet{Name: "x", Rules: []Rule{a, b}}, &RuleSet{Name: "x", Rules: []Rule{a, b}},
			RuleSetDiff{NameFrom: "x", NameTo: "x"}},
		{"added, removed, changed", &RuleSet{Version: "v1", Name: "x", Rules: []Rule{a, b, c}}, &RuleSet{Version: "v2", Name: "y", Rules: []Rule{a, b2, d}},
			RuleSetDiff{From: "v1", To: "v2", NameFrom: "x", NameTo: "y", Added: []Rule{d}, Removed: []Rule{c},
				Changed: []RuleChange{{ID: "b", Fields: []FieldChange{
					{Field: "until", Old: "it.last_exposure + days(7)", New: "it.last_exposure + days(14)"},
					{Field: "reason.en", Old: "b", New: "b for 14 days"}}}}}},
		{"moved", &RuleSet{Rules: []Rule{a, b, c}}, &RuleSet{Rules: []Rule{b, a, c}},
			RuleSetDiff{Moved: []string{"b", "a"}}},
		{"colour to mark", &RuleSet{Rules: []Rule{c}}, &RuleSet{Rules: []Rule{{ID: "c", Color: Yellow, Description: "C", Each: "facts.vaccinations", Since: "it.date", Reason: c.Reason}}},
			RuleSetDiff{Changed: []RuleChange{{ID: "c", Fields: []FieldChange{{Field: "color", New: "yellow"}, {Field: "mark", Old: "vaccinated"}}}}}},
		{"from nothing", nil, &RuleSet{Rules: []Rule{a}}, RuleSetDiff{Added: []Rule{a}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DiffRuleSets(tt.from, tt.to)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DiffRuleSets (-want +got):\n%s", diff)
			}
			if got.Empty() != (tt.name == "same") {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}

func TestLineDiff(t *testing.T) {
	from := "name: x\nrules:\n  - id: a\n    color: red\n  - id: b\n    color: yellow\n  - id: c\n    color: green\n  - id: d\n    color: green\n  - id: e\n    color: green"
	to := "name: x\nrules:\n  - id: a\n    color: yellow\n  - id: b\n    color: yellow\n  - id: c\n    color: green\n  - id: d\n    color: green\n  - id: e\n    color: green\n  - id: f\n    color: red\n"
	want := []DiffLine{
		{Op: "@", Text: "@@ -1,7 +1,7 @@"},
		{Op: "=", Text: "name: x", OldLine: 1, NewLine: 1},
		{Op: "=", Text: "rules:", OldLine: 2, NewLine: 2},
		{Op: "=", Text: "  - id: a", OldLine: 3, NewLine: 3},
		{Op: "-", Text: "    color: red", OldLine: 4},
		{Op: "+", Text: "    color: yellow", NewLine: 4},
		{Op: "=", Text: "  - id: b", OldLine: 5, NewLine: 5},
		{Op: "=", Text: "    color: yellow", OldLine: 6, NewLine: 6},
		{Op: "=", Text: "  - id: c", OldLine: 7, NewLine: 7},
		{Op: "@", Text: "@@ -10,3 +10,5 @@"},
		{Op: "=", Text: "    color: green", OldLine: 10, NewLine: 10},
		{Op: "=", Text: "  - id: e", OldLine: 11, NewLine: 11},
		{Op: "=", Text: "    color: green", OldLine: 12, NewLine: 12},
		{Op: "+", Text: "  - id: f", NewLine: 13},
		{Op: "+", Text: "    color: red", NewLine: 14},
	}
	if diff := cmp.Diff(want, LineDiff(from, to)); diff != "" {
		t.Errorf("LineDiff (-want +got):\n%s", diff)
	}
	if got := LineDiff("a\n", "a\n"); got != nil {
		t.Errorf("LineDiff of equal documents: %v, want nothing", got)
	}
	if got := LineDiff("", "a\n"); len(got) != 2 || got[0].Text != "@@ -0,0 +1 @@" || got[1] != (DiffLine{Op: "+", Text: "a", NewLine: 1}) {
		t.Errorf("LineDiff from nothing: %+v", got)
	}
}
