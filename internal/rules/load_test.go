package rules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/rules"
)

// validRule is a correct rule; the error tests change one thing in it.
const validRule = `name: test
rules:
  - id: r1
    color: yellow
    description: a test rule
    each: facts.tests
    when: it.result == "positive"
    since: it.sampled_at
    until: it.sampled_at + days(3)
    reason:
      en: "Test {id} sampled on {sampled_at}; until {until}"
      zh: "{sampled_at}采样的检测{id}；至{until}"
`

func TestLoadValid(t *testing.T) {
	e, err := rules.Load([]byte(validRule))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &healthcode.RuleSet{
		Version: rules.Version([]byte(validRule)),
		Name:    "test",
		Rules: []healthcode.Rule{{
			ID: "r1", Color: healthcode.Yellow, Description: "a test rule", Each: "facts.tests",
			When: `it.result == "positive"`, Since: "it.sampled_at", Until: "it.sampled_at + days(3)",
			Reason: healthcode.RuleReason{
				EN: "Test {id} sampled on {sampled_at}; until {until}",
				ZH: "{sampled_at}采样的检测{id}；至{until}",
			},
		}},
		Source: []byte(validRule),
	}
	if diff := cmp.Diff(want, e.RuleSet()); diff != "" {
		t.Errorf("rule set mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validRule, old) {
			panic("validRule has no " + old)
		}
		return strings.Replace(validRule, old, new, 1)
	}
	secondRule := `  - id: r1
    color: red
    description: again
    each: facts.cases
    since: it.confirmed_at
    reason: {en: "x", zh: "x"}
`
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"empty", "", []string{"empty"}},
		{"not YAML", "name: [", []string{"invalid rule set"}},
		{"two documents", validRule + "---\nname: other\n", []string{"more than one YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"must be a mapping"}},
		{"no name", replace("name: test\n", ""), []string{"name: is required"}},
		{"unknown top-level key", "version: sha256:x\n" + validRule, []string{"version: unknown key (line 1)"}},
		{"unknown rule key", replace("color: yellow", "colour: yellow"), []string{"rules.r1.colour: unknown key (line 4)"}},
		{"unknown reason key", replace(`      zh:`, `      fr: "x"
      zh:`), []string{"rules.r1.reason.fr: unknown key"}},
		{"key twice", replace("    since: it.sampled_at\n", "    since: it.sampled_at\n    since: it.resulted_at\n"), []string{"rules.r1.since"}},
		{"rules not a list", "name: x\nrules: 5\n", []string{"rules: must be a list of rules"}},
		{"wrong YAML type", replace("description: a test rule", "description: [a, b]"), []string{"cannot unmarshal", "into string"}},
		{"bad id", replace("id: r1", "id: Bad-ID"), []string{"rules[0].id", "lower-case letters"}},
		{"missing id", replace("  - id: r1\n    color", "  - color"), []string{"rules[0].id: is required"}},
		{"duplicate id", validRule + secondRule, []string{"rules.r1.id: is used by more than one rule"}},
		{"colour and mark", replace("color: yellow", "color: yellow\n    mark: vaccinated"), []string{"rules.r1.color", "not both"}},
		{"neither colour nor mark", replace("    color: yellow\n", ""), []string{"rules.r1.color: is required"}},
		{"unknown colour", replace("color: yellow", "color: amber"), []string{"rules.r1.color", "green, yellow or red"}},
		{"unknown mark", replace("color: yellow", "mark: boosted"), []string{"rules.r1.mark", "the only mark is vaccinated"}},
		{"no description", replace("description: a test rule", `description: ""`), []string{"rules.r1.description: is required"}},
		{"no each", replace("each: facts.tests", `each: ""`), []string{"rules.r1.each: is required"}},
		{"no since", replace("    since: it.sampled_at\n", ""), []string{"rules.r1.since: is required"}},
		{"bad CEL", replace(`when: it.result == "positive"`, `when: it.result ==`), []string{"rules.r1.when: does not compile"}},
		{"undeclared variable", replace(`when: it.result == "positive"`, `when: test.result == "positive"`),
			[]string{"rules.r1.when: does not compile", "undeclared reference to 'test'"}},
		{"unknown function", replace("days(3)", "weeks(3)"), []string{"rules.r1.until: does not compile"}},
		{"when of the wrong type", replace(`when: it.result == "positive"`, `when: 1 + 2`), []string{"rules.r1.when: must be a bool, but is int"}},
		{"since of the wrong type (seen at run time)", replace("since: it.sampled_at", "since: it.id"),
			[]string{"rules.r1.since: must be a timestamp, but is int"}},
		{"until a duration, not a timestamp", replace("until: it.sampled_at + days(3)", "until: days(3)"),
			[]string{"rules.r1.until: must be a timestamp, but is duration"}},
		{"each not a list", replace("each: facts.tests", `each: "1"`), []string{"rules.r1.each: must be a list, but is int"}},
		{"each returns maps, not a list", replace("each: facts.tests", `each: "resident"`), []string{"rules.r1.each: must be a list"}},
		{"each uses it", replace("each: facts.tests", "each: it.tests"), []string{"rules.r1.each: cannot use it"}},
		{"misspelt item field", replace(`it.result == "positive"`, `it.reslt == "positive"`),
			[]string{`rules.r1.when: it has no field "reslt"`, "sampled_at"}},
		{"misspelt field in a comprehension", replace(`it.result == "positive"`, `facts.cases.exists(c, has(c.discharge_at))`),
			[]string{`rules.r1.when: c has no field "discharge_at"`}},
		{"misspelt list of facts", replace("each: facts.tests", "each: facts.test"), []string{`rules.r1.each: facts has no field "test"`}},
		{"misspelt resident field", replace(`it.result == "positive"`, `resident.city == "x"`), []string{`resident has no field "city"`}},
		{"unknown placeholder", replace("Test {id}", "Test {venue}"), []string{"rules.r1.reason.en: unknown placeholder {venue}"}},
		{"placeholder of a list field", strings.Replace(strings.Replace(validRule, "facts.tests", "facts.declarations", 1), "Test {id}", "Test {symptoms}", 1),
			[]string{"rules.r1.reason.en: unknown placeholder {symptoms}"}},
		{"unclosed placeholder", replace("Test {id}", "Test {id"), []string{"rules.r1.reason.en", "not closed"}},
		{"until placeholder without until", replace("    until: it.sampled_at + days(3)\n", ""), []string{"rules.r1.reason.en: uses {until}"}},
		{"no Chinese reason", replace(`zh: "{sampled_at}采样的检测{id}；至{until}"`, `zh: ""`), []string{"rules.r1.reason.zh: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.Load([]byte(tt.src))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var herr *healthcode.Error
			if !errors.As(err, &herr) || herr.Code != healthcode.EINVALID {
				t.Fatalf("error = %#v, want a *healthcode.Error with code %s", err, healthcode.EINVALID)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	src := strings.Replace(validRule, `when: it.result == "positive"`, `when: it.result ==`, 1) + `  - id: r2
    color: orange
    description: x
    each: facts.cases
    since: it.confirmed_at
    reason: {en: "{nothing}", zh: "x"}
`
	_, err := rules.Load([]byte(src))
	var herr *healthcode.Error
	if !errors.As(err, &herr) {
		t.Fatalf("error = %v, want a *healthcode.Error", err)
	}
	var fields []string
	for _, f := range herr.Fields {
		fields = append(fields, f.Field)
	}
	want := []string{"rules.r1.when", "rules.r2.color", "rules.r2.reason.en"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(herr.Message, "invalid rule set: rules.r1.when: does not compile") || !strings.Contains(herr.Message, "(and 2 more)") {
		t.Errorf("message = %q", herr.Message)
	}
}

// TestGeneralEach covers rules whose each is an arbitrary expression rather
// than a list of facts, the resident variable, hours() and a green rule.
func TestGeneralEach(t *testing.T) {
	src := `name: custom
rules:
  - id: senior
    color: yellow
    description: residents of 60 or more in region 42
    each: "[resident]"
    when: it.age >= 60 && resident.region.startsWith("42")
    since: it.birth_date + duration("1h")
    reason: {en: "Aged 60 or more, living in {region}", zh: "60岁以上，居住在{region}"}
  - id: recent_pcr
    color: green
    description: a negative PCR in the last 48 hours
    each: facts.tests.filter(t, t.type == "pcr")
    when: it.result == "negative"
    since: it.sampled_at
    until: it.sampled_at + hours(48)
    reason: {en: "Negative PCR sampled on {sampled_at} at {institution}", zh: "{sampled_at}核酸阴性（{institution}）"}
`
	e, err := rules.Load([]byte(src), rules.WithLocation(cst))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	f := &healthcode.Facts{
		Resident: healthcode.Resident{Region: "420106", BirthDate: time.Date(1962, 3, 2, 0, 0, 0, 0, time.UTC)},
		Tests: []healthcode.TestResult{
			{ID: 1, Type: healthcode.Antigen, Result: healthcode.Negative, SampledAt: at("2022-03-01 12:00"), Institution: "Clinic"},
			{ID: 2, Type: healthcode.PCR, Result: healthcode.Negative, SampledAt: at("2022-03-01 09:00"), Institution: "City Lab"},
		},
	}
	st, err := e.Evaluate(f, at("2022-03-01 23:00"))
	if err != nil {
		t.Fatal(err)
	}
	want := healthcode.Status{
		Color:      healthcode.Green,
		ComputedAt: at("2022-03-01 23:00"),
		ValidUntil: at("2022-03-02 23:00"),
		Reasons: []healthcode.Reason{{
			Rule: "recent_pcr", Color: healthcode.Green, Since: at("2022-03-01 09:00"), Until: at("2022-03-03 09:00"),
			Message: "Negative PCR sampled on 2022-03-01 at City Lab", MessageZH: "2022-03-01核酸阴性（City Lab）",
		}},
		RuleSetVersion: rules.Version([]byte(src)),
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("day before the 60th birthday (-want +got):\n%s", diff)
	}

	st, err = e.Evaluate(f, at("2022-03-02 00:00")) // the 60th birthday in UTC+8
	if err != nil {
		t.Fatal(err)
	}
	if st.Color != healthcode.Yellow || len(st.Reasons) != 2 || st.Reasons[0].Rule != "senior" ||
		st.Reasons[0].Message != "Aged 60 or more, living in 420106" {
		t.Errorf("on the 60th birthday: %+v", st)
	}
}

func TestEvaluateRuntimeError(t *testing.T) {
	src := strings.Replace(validRule, `when: it.result == "positive"`,
		`when: facts.cases.exists(c, c.discharged_at > it.sampled_at)`, 1)
	e, err := rules.Load([]byte(src))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	f := &healthcode.Facts{
		Tests: []healthcode.TestResult{{ID: 1, Type: healthcode.PCR, Result: healthcode.Positive, SampledAt: at("2022-03-01 09:00")}},
		Cases: []healthcode.Case{{ID: 1, ConfirmedAt: at("2022-03-01 10:00")}}, // not discharged: the field is absent
	}
	_, err = e.Evaluate(f, at("2022-03-02 09:00"))
	if err == nil || !strings.Contains(err.Error(), "rule r1: when") {
		t.Errorf("Evaluate error = %v, want one naming rule r1 and when", err)
	}
	if healthcode.ErrorCode(err) != healthcode.EINTERNAL {
		t.Errorf("error code = %q, want %q: a failing rule is our fault, not the caller's", healthcode.ErrorCode(err), healthcode.EINTERNAL)
	}
}

func TestEmptyRuleSet(t *testing.T) {
	e, err := rules.Load([]byte("name: nothing\nrules: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := at("2022-03-01 12:00")
	st, err := e.Evaluate(&healthcode.Facts{Cases: []healthcode.Case{{ID: 1, ConfirmedAt: now}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Color != healthcode.Green || len(st.Reasons) != 0 || !st.ValidUntil.Equal(now.Add(rules.MaxValidity)) {
		t.Errorf("status = %+v, want green with no reasons", st)
	}
}

// TestLanguageFeatures checks that items behave as CEL maps: size(), in,
// nested lists, cross-type numeric comparison, and UTC timestamp accessors
// unless a zone is given.
func TestLanguageFeatures(t *testing.T) {
	src := `name: features
rules:
  - id: hot
    color: yellow
    description: exercises the language
    each: facts.declarations
    when: >-
      it.temperature >= 38 && size(it) == 6 && "at" in it && !("discharged_at" in it) &&
      it.at.getHours() == 0 && it.at.getHours("Asia/Shanghai") == 8 &&
      it.visited.all(v, v.region.startsWith("42")) && facts.visits.exists(v, v.risk == "")
    since: it.at
    reason: {en: "Declared on {at}", zh: "{at}"}
`
	e, err := rules.Load([]byte(src), rules.WithLocation(cst))
	if err != nil {
		t.Fatal(err)
	}
	f := &healthcode.Facts{Declarations: []healthcode.Declaration{{
		ID: 1, Temperature: 38.5, DeclaredAt: at("2022-03-01 08:00"),
		Visited: []healthcode.Visit{{Region: "420106", Date: at("2022-02-28 00:00")}},
	}}}
	st, err := e.Evaluate(f, at("2022-03-01 09:00"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Color != healthcode.Yellow || len(st.Reasons) != 1 {
		t.Fatalf("status = %+v, want yellow by rule hot", st)
	}
	f.Declarations[0].Temperature = 37.9
	if st, err = e.Evaluate(f, at("2022-03-01 09:00")); err != nil || st.Color != healthcode.Green {
		t.Errorf("37.9: status = %+v, err %v, want green", st, err)
	}
}
