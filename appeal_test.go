package healthcode

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAppealValidate(t *testing.T) {
	ok := Appeal{Rule: "close_contact", What: "not there", Why: "I was at work"}
	for _, tc := range []struct {
		name   string
		change func(a *Appeal)
		field  string // "" when valid
	}{
		{"valid", func(*Appeal) {}, ""},
		{"a fact only", func(a *Appeal) { a.Rule, a.Fact = "", FactRef{FactTestResult, 7} }, ""},
		{"nothing named", func(a *Appeal) { a.Rule = "" }, "rule"},
		{"a rule that is no id", func(a *Appeal) { a.Rule = "Close Contact" }, "rule"},
		{"an unknown kind of fact", func(a *Appeal) { a.Fact = FactRef{"bank_account", 1} }, "fact.kind"},
		{"a fact without id", func(a *Appeal) { a.Fact = FactRef{FactCase, 0} }, "fact.id"},
		{"no what", func(a *Appeal) { a.What = " " }, "what"},
		{"no why", func(a *Appeal) { a.Why = "" }, "why"},
		{"a long why", func(a *Appeal) { a.Why = strings.Repeat("很", 2001) }, "why"},
		{"control characters", func(a *Appeal) { a.Evidence = "a\x00b" }, "evidence"},
	} {
		a := ok
		tc.change(&a)
		err := a.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (err == nil || !slices.ContainsFunc(err.(*Error).Fields, func(f FieldError) bool { return f.Field == tc.field })):
			t.Errorf("%s: %v, want a problem with %s", tc.name, err, tc.field)
		}
	}
	now := time.Date(2022, 4, 1, 0, 0, 0, 0, time.UTC)
	a := Appeal{State: AppealOpen, Deadline: now}
	if a.Overdue(now) || !a.Overdue(now.Add(time.Second)) {
		t.Error("an open appeal is overdue just after its deadline")
	}
	a.State = AppealRejected
	if a.Overdue(now.Add(time.Hour)) {
		t.Error("a decided appeal is never overdue")
	}
	for _, d := range []AppealDecision{{Reason: ""}, {Reason: "ok fine", Withdraw: FactRef{FactCase, 1}}} {
		if d.Validate() == nil {
			t.Errorf("decision %+v accepted", d)
		}
	}
	if d := (AppealDecision{Uphold: true, Reason: "checked", Withdraw: FactRef{FactCase, 1}}); d.Validate() != nil {
		t.Errorf("a good decision: %v", d.Validate())
	}
}

func TestOverrideValidate(t *testing.T) {
	ok := Override{Fact: FactRef{FactContactDesignation, 3}, Kind: OverrideEndedEarly, Reason: "ended early by medical decision"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(o *Override){
		"no fact":      func(o *Override) { o.Fact = FactRef{} },
		"a colour":     func(o *Override) { o.Kind = "make_green" },
		"a terse note": func(o *Override) { o.Reason = "ok" },
	} {
		o := ok
		change(&o)
		if o.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if (&OverrideDecision{Approve: true}).Validate() != nil {
		t.Error("approval without a reason refused")
	}
	if (&OverrideDecision{}).Validate() == nil {
		t.Error("rejection without a reason accepted")
	}
	if got := (FactRef{FactContactDesignation, 12}).String(); got != "contact designation 12" {
		t.Errorf("FactRef.String() = %q", got)
	}
}

func TestLostReasons(t *testing.T) {
	now := time.Date(2022, 4, 10, 0, 0, 0, 0, time.UTC)
	r := func(rule string, until time.Time) Reason {
		return Reason{Rule: rule, Message: rule + " text", Since: now.AddDate(0, 0, -3), Until: until}
	}
	before := Status{Color: Yellow, Reasons: []Reason{r("close_contact", now.AddDate(0, 0, 4)), r("high_risk_visit", now.AddDate(0, 0, 9)),
		r("confirmed_case", time.Time{}), r("ended", now)}}
	after := Status{Color: Yellow, Reasons: []Reason{r("high_risk_visit", now.AddDate(0, 0, 9))}}
	lost := LostReasons(before, after, now)
	if len(lost) != 1 || lost[0].Rule != "close_contact" {
		t.Errorf("lost %+v: want only the dated, running close_contact", lost)
	}
	if !SameCourse(before, before) || SameCourse(before, after) {
		t.Error("SameCourse")
	}
	later := before
	later.ValidUntil = now.Add(time.Hour)
	if SameCourse(before, later) {
		t.Error("a status due to change at another moment is not the same course")
	}
}

func TestSummarizeFacts(t *testing.T) {
	day := time.Date(2022, 4, 1, 0, 0, 0, 0, time.UTC)
	f := &Facts{
		Declarations: []Declaration{{ID: 1, Temperature: 38.2, Symptoms: []Symptom{Fever}, DeclaredAt: day,
			Visited: []Visit{{Region: "420106", Date: day}}, ContactWithCase: true}},
		Tests:    []TestResult{{ID: 2, Type: PCR, Result: Positive, SampledAt: day, Institution: "Xihu lab"}},
		Cases:    []Case{{ID: 3, ConfirmedAt: day, DischargedAt: day.AddDate(0, 0, 9)}},
		Contacts: []ContactDesignation{{ID: 4, CaseID: 3, Venue: "Wulin Plaza", LastExposure: day}},
	}
	got := SummarizeFacts(f, time.UTC)
	var lines []string
	for _, s := range got {
		lines = append(lines, s.Fact.String()+": "+s.Summary)
	}
	want := []string{
		"declaration 1: declared: 38.2 °C, fever, visited 420106 on 2022-04-01, contact with a case",
		"test result 2: pcr positive, sampled 2022-04-01 at Xihu lab",
		"case 3: confirmed case since 2022-04-01, discharged 2022-04-10",
		"contact designation 4: close contact of case 3 at Wulin Plaza, last exposure 2022-04-01",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("summaries\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestRetentionValidate(t *testing.T) {
	if err := DefaultRetention().Validate(); err != nil {
		t.Fatal(err)
	}
	r := DefaultRetention()
	r.TestResults = time.Hour
	if r.Validate() == nil {
		t.Error("a window under a day accepted")
	}
}
