package rules_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/rules"
)

// at parses "2006-01-02 15:04" in China Standard Time.
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

// outcome is what a test checks of a status: colour, mark, each reason's
// rule and window, and when the status must be recomputed.
type outcome struct {
	Color      healthcode.Color
	Vaccinated bool
	Reasons    []window
	ValidUntil time.Time
}

type window struct {
	Rule         string
	Since, Until time.Time
}

func outcomeOf(st healthcode.Status) outcome {
	o := outcome{Color: st.Color, Vaccinated: st.Vaccinated, ValidUntil: st.ValidUntil, Reasons: []window{}}
	for _, r := range st.Reasons {
		o.Reasons = append(o.Reasons, window{r.Rule, r.Since, r.Until})
	}
	return o
}

// step is one moment in a scenario: the facts as recorded by then, and what
// the status must be. A zero ValidUntil in want means the 24-hour cap.
type step struct {
	name  string
	now   string
	facts *healthcode.Facts
	want  outcome
}

func green() outcome { return outcome{Color: healthcode.Green, Reasons: []window{}} }

func yellow(ws ...window) outcome {
	return outcome{Color: healthcode.Yellow, Reasons: ws}
}

func red(ws ...window) outcome {
	return outcome{Color: healthcode.Red, Reasons: ws}
}

func (o outcome) validUntil(s string) outcome { o.ValidUntil = at(s); return o }

func w(rule, since, until string) window {
	win := window{Rule: rule, Since: at(since)}
	if until != "" {
		win.Until = at(until)
	}
	return win
}

func runSteps(t *testing.T, e *rules.Engine, steps []step) {
	t.Helper()
	for _, s := range steps {
		now := at(s.now)
		st, err := e.Evaluate(s.facts, now)
		if err != nil {
			t.Fatalf("%s: Evaluate: %v", s.name, err)
		}
		want := s.want
		if want.ValidUntil.IsZero() {
			want.ValidUntil = now.Add(24 * time.Hour)
		}
		if diff := cmp.Diff(want, outcomeOf(st)); diff != "" {
			t.Errorf("%s (at %s): status mismatch (-want +got):\n%s", s.name, s.now, diff)
		}
		if !st.ComputedAt.Equal(now) {
			t.Errorf("%s: ComputedAt = %v, want %v", s.name, st.ComputedAt, now)
		}
		if st.RuleSetVersion != e.RuleSet().Version {
			t.Errorf("%s: RuleSetVersion = %q, want %q", s.name, st.RuleSetVersion, e.RuleSet().Version)
		}
		for _, r := range st.Reasons {
			if r.Message == "" || r.MessageZH == "" || strings.Contains(r.Message, "{") || strings.Contains(r.MessageZH, "{") {
				t.Errorf("%s: reason %s has an unfilled message: %q / %q", s.name, r.Rule, r.Message, r.MessageZH)
			}
		}
	}
}

func TestDefaultRulesScenarios(t *testing.T) {
	e := loadDefault(t)

	openCase := healthcode.Case{ID: 1, ConfirmedAt: at("2022-03-01 10:00"), SampleDate: at("2022-02-28 00:00")}
	closedCase := openCase
	closedCase.DischargedAt = at("2022-03-15 09:00")

	fever := healthcode.Declaration{ID: 1, Temperature: 38.1, DeclaredAt: at("2022-03-01 08:00")}
	negBefore := healthcode.TestResult{ID: 1, Type: healthcode.Antigen, Result: healthcode.Negative,
		SampledAt: at("2022-02-28 09:00"), ResultedAt: at("2022-02-28 09:30"), Institution: "Clinic"}
	negAfter := healthcode.TestResult{ID: 2, Type: healthcode.PCR, Result: healthcode.Negative,
		SampledAt: at("2022-03-02 09:00"), ResultedAt: at("2022-03-02 20:00"), Institution: "City Lab"}
	antibodyAfter := negAfter
	antibodyAfter.Type = healthcode.Antibody

	trip := healthcode.Declaration{ID: 2, Temperature: 36.5, DeclaredAt: at("2022-03-03 10:00"),
		Visited: []healthcode.Visit{{Region: "420106", Date: at("2022-03-01 00:00")}}}
	highArea := healthcode.AreaRisk{ID: 1, Prefix: "4201", Level: healthcode.HighRisk, From: at("2022-02-25 00:00")}
	mediumArea := healthcode.AreaRisk{ID: 2, Prefix: "420106", Level: healthcode.MediumRisk, From: at("2022-02-25 00:00")}
	laterArea := healthcode.AreaRisk{ID: 3, Prefix: "4201", Level: healthcode.HighRisk, From: at("2022-03-02 00:00")}
	endedArea := healthcode.AreaRisk{ID: 4, Prefix: "4201", Level: healthcode.HighRisk,
		From: at("2022-02-01 00:00"), To: at("2022-03-01 00:00")}
	otherArea := healthcode.AreaRisk{ID: 5, Prefix: "3301", Level: healthcode.HighRisk, From: at("2022-02-01 00:00")}

	contactDecl := healthcode.Declaration{ID: 3, ContactWithCase: true, DeclaredAt: at("2022-03-01 10:00")}
	designation := healthcode.ContactDesignation{ID: 1, CaseID: 9, Venue: "Huanan Market",
		LastExposure: at("2022-03-01 18:30"), DesignatedAt: at("2022-03-03 09:00")}

	dose1 := healthcode.Vaccination{ID: 1, Product: "CoronaVac", Dose: 1, SeriesDoses: 2, Date: at("2022-02-08 00:00")}
	dose2 := healthcode.Vaccination{ID: 2, Product: "CoronaVac", Dose: 2, SeriesDoses: 2, Date: at("2022-03-01 00:00")}

	recovery := healthcode.Recovery{ID: 1, FirstPositive: at("2022-03-01 00:00"), ValidFrom: at("2022-03-12 00:00"),
		ValidUntil: at("2022-08-27 00:00"), Country: "DE", Issuer: "Robert Koch-Institut", CertificateID: "URN:UVCI:01:DE:X", Source: "EU DCC"}

	positive := healthcode.TestResult{ID: 3, Type: healthcode.PCR, Result: healthcode.Positive,
		SampledAt: at("2022-03-01 09:00"), ResultedAt: at("2022-03-01 20:00"), Institution: "City Lab"}
	positiveAntigen := positive
	positiveAntigen.Type = healthcode.Antigen
	positiveAntibody := positive
	positiveAntibody.Type = healthcode.Antibody
	caseAfterTest := healthcode.Case{ID: 2, ConfirmedAt: at("2022-03-02 10:00"), SampleDate: at("2022-03-01 00:00")}
	caseAfterTestDischarged := caseAfterTest
	caseAfterTestDischarged.DischargedAt = at("2022-03-10 10:00")
	oldCase := healthcode.Case{ID: 3, ConfirmedAt: at("2021-11-01 10:00"), SampleDate: at("2021-11-01 00:00"),
		DischargedAt: at("2021-12-01 10:00")}

	tests := []struct {
		name  string
		steps []step
	}{
		{"confirmed case, discharge, monitoring", []step{
			{"confirmed is red", "2022-03-01 11:00", &healthcode.Facts{Cases: []healthcode.Case{openCase}},
				red(w("confirmed_case", "2022-03-01 10:00", ""))},
			{"still red two weeks on", "2022-03-15 08:00", &healthcode.Facts{Cases: []healthcode.Case{openCase}},
				red(w("confirmed_case", "2022-03-01 10:00", ""))},
			{"discharged is yellow", "2022-03-15 10:00", &healthcode.Facts{Cases: []healthcode.Case{closedCase}},
				yellow(w("discharged", "2022-03-15 09:00", "2022-03-29 09:00"))},
			{"last hour of monitoring", "2022-03-29 08:00", &healthcode.Facts{Cases: []healthcode.Case{closedCase}},
				yellow(w("discharged", "2022-03-15 09:00", "2022-03-29 09:00")).validUntil("2022-03-29 09:00")},
			{"green 14 days after discharge", "2022-03-29 09:00", &healthcode.Facts{Cases: []healthcode.Case{closedCase}},
				green()},
		}},
		{"fever cleared by a negative test", []step{
			{"fever declared is yellow", "2022-03-01 09:00", &healthcode.Facts{Declarations: []healthcode.Declaration{fever}},
				yellow(w("fever_or_symptoms", "2022-03-01 08:00", "2022-03-15 08:00"))},
			{"a test sampled before the declaration does not clear it", "2022-03-02 10:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{fever}, Tests: []healthcode.TestResult{negBefore}},
				yellow(w("fever_or_symptoms", "2022-03-01 08:00", "2022-03-15 08:00"))},
			{"an antibody test does not clear it", "2022-03-02 21:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{fever}, Tests: []healthcode.TestResult{antibodyAfter}},
				yellow(w("fever_or_symptoms", "2022-03-01 08:00", "2022-03-15 08:00"))},
			{"a negative PCR sampled after the declaration clears it", "2022-03-02 21:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{fever}, Tests: []healthcode.TestResult{negBefore, negAfter}},
				green()},
		}},
		{"fever with no test ends after 14 days", []step{
			{"day 13", "2022-03-14 09:00", &healthcode.Facts{Declarations: []healthcode.Declaration{fever}},
				yellow(w("fever_or_symptoms", "2022-03-01 08:00", "2022-03-15 08:00")).validUntil("2022-03-15 08:00")},
			{"day 14", "2022-03-15 08:00", &healthcode.Facts{Declarations: []healthcode.Declaration{fever}}, green()},
		}},
		{"high-risk trip", []step{
			{"yellow once declared", "2022-03-03 11:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{highArea}},
				yellow(w("high_risk_visit", "2022-03-01 00:00", "2022-03-15 00:00"))},
			{"an area also medium-risk reports high only", "2022-03-03 11:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{mediumArea, highArea}},
				yellow(w("high_risk_visit", "2022-03-01 00:00", "2022-03-15 00:00"))},
			{"last hour", "2022-03-14 23:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{highArea}},
				yellow(w("high_risk_visit", "2022-03-01 00:00", "2022-03-15 00:00")).validUntil("2022-03-15 00:00")},
			{"green 14 days after the visit", "2022-03-15 00:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{highArea}},
				green()},
		}},
		{"areas that do not cover the visit", []step{
			{"designated after the visit day", "2022-03-03 11:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{laterArea}}, green()},
			{"designation ended before the visit day", "2022-03-03 11:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{endedArea}}, green()},
			{"another region", "2022-03-03 11:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{otherArea}}, green()},
		}},
		{"medium-risk trip", []step{
			{"yellow once declared", "2022-03-03 11:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{mediumArea}},
				yellow(w("medium_risk_visit", "2022-03-01 00:00", "2022-03-08 00:00"))},
			{"last hour", "2022-03-07 23:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{mediumArea}},
				yellow(w("medium_risk_visit", "2022-03-01 00:00", "2022-03-08 00:00")).validUntil("2022-03-08 00:00")},
			{"green 7 days after the visit", "2022-03-08 00:00",
				&healthcode.Facts{Declarations: []healthcode.Declaration{trip}, Areas: []healthcode.AreaRisk{mediumArea}},
				green()},
		}},
		{"declared contact", []step{
			{"yellow", "2022-03-01 10:00", &healthcode.Facts{Declarations: []healthcode.Declaration{contactDecl}},
				yellow(w("declared_contact", "2022-03-01 10:00", "2022-03-08 10:00"))},
			{"day 6", "2022-03-07 12:00", &healthcode.Facts{Declarations: []healthcode.Declaration{contactDecl}},
				yellow(w("declared_contact", "2022-03-01 10:00", "2022-03-08 10:00")).validUntil("2022-03-08 10:00")},
			{"green after 7 days", "2022-03-08 10:00", &healthcode.Facts{Declarations: []healthcode.Declaration{contactDecl}},
				green()},
		}},
		{"close contact", []step{
			{"yellow from designation", "2022-03-03 10:00", &healthcode.Facts{Contacts: []healthcode.ContactDesignation{designation}},
				yellow(w("close_contact", "2022-03-03 09:00", "2022-03-08 18:30"))},
			{"last hour", "2022-03-08 18:00", &healthcode.Facts{Contacts: []healthcode.ContactDesignation{designation}},
				yellow(w("close_contact", "2022-03-03 09:00", "2022-03-08 18:30")).validUntil("2022-03-08 18:30")},
			{"green 7 days after last exposure", "2022-03-08 18:30", &healthcode.Facts{Contacts: []healthcode.ContactDesignation{designation}},
				green()},
		}},
		{"vaccinated mark", []step{
			{"day 13 after the last dose: no mark yet, recompute at day 14", "2022-03-14 12:00",
				&healthcode.Facts{Vaccinations: []healthcode.Vaccination{dose1, dose2}},
				green().validUntil("2022-03-15 00:00")},
			{"day 14: gold", "2022-03-15 00:00",
				&healthcode.Facts{Vaccinations: []healthcode.Vaccination{dose1, dose2}},
				outcome{Color: healthcode.Green, Vaccinated: true, Reasons: []window{w("vaccinated", "2022-03-15 00:00", "")}}},
			{"a year later: still gold", "2023-03-15 00:00",
				&healthcode.Facts{Vaccinations: []healthcode.Vaccination{dose1, dose2}},
				outcome{Color: healthcode.Green, Vaccinated: true, Reasons: []window{w("vaccinated", "2022-03-15 00:00", "")}}},
			{"one dose of two is not a full series", "2022-06-01 00:00",
				&healthcode.Facts{Vaccinations: []healthcode.Vaccination{dose1}}, green()},
		}},
		{"recovered: vaccinated while the recovery certificate is valid", []step{
			{"before valid-from: no mark, recompute then", "2022-03-11 12:00",
				&healthcode.Facts{Recoveries: []healthcode.Recovery{recovery}},
				green().validUntil("2022-03-12 00:00")},
			{"valid-from: gold until the end of valid-until", "2022-03-12 00:00",
				&healthcode.Facts{Recoveries: []healthcode.Recovery{recovery}},
				outcome{Color: healthcode.Green, Vaccinated: true, Reasons: []window{w("recovered", "2022-03-12 00:00", "2022-08-28 00:00")}}},
			{"the last day valid: still gold", "2022-08-27 23:00",
				&healthcode.Facts{Recoveries: []healthcode.Recovery{recovery}},
				outcome{Color: healthcode.Green, Vaccinated: true, Reasons: []window{w("recovered", "2022-03-12 00:00", "2022-08-28 00:00")}}.
					validUntil("2022-08-28 00:00")},
			{"after valid-until: no mark", "2022-08-28 00:00",
				&healthcode.Facts{Recoveries: []healthcode.Recovery{recovery}}, green()},
			{"recovered does not change the colour", "2022-03-12 00:00",
				&healthcode.Facts{Recoveries: []healthcode.Recovery{recovery}, Contacts: []healthcode.ContactDesignation{{ID: 1, CaseID: 9,
					Venue: "Huanan Market", LastExposure: at("2022-03-11 18:30"), DesignatedAt: at("2022-03-11 20:00")}}},
				outcome{Color: healthcode.Yellow, Vaccinated: true, Reasons: []window{w("close_contact", "2022-03-11 20:00", "2022-03-18 18:30"),
					w("recovered", "2022-03-12 00:00", "2022-08-28 00:00")}}},
		}},
		{"positive test, then a case", []step{
			{"positive PCR is red", "2022-03-01 21:00", &healthcode.Facts{Tests: []healthcode.TestResult{positive}},
				red(w("positive_test", "2022-03-01 09:00", "2022-03-15 09:00"))},
			{"confirmed: both red reasons, in file order", "2022-03-02 11:00",
				&healthcode.Facts{Tests: []healthcode.TestResult{positive}, Cases: []healthcode.Case{caseAfterTest}},
				red(w("confirmed_case", "2022-03-02 10:00", ""), w("positive_test", "2022-03-01 09:00", "2022-03-15 09:00"))},
			{"discharged after the sample: no longer red by positive_test", "2022-03-10 11:00",
				&healthcode.Facts{Tests: []healthcode.TestResult{positive}, Cases: []healthcode.Case{caseAfterTestDischarged}},
				yellow(w("discharged", "2022-03-10 10:00", "2022-03-24 10:00"))},
		}},
		{"positive tests of each kind", []step{
			{"antigen positive is red", "2022-03-02 09:00", &healthcode.Facts{Tests: []healthcode.TestResult{positiveAntigen}},
				red(w("positive_test", "2022-03-01 09:00", "2022-03-15 09:00"))},
			{"antibody positive is not", "2022-03-02 09:00", &healthcode.Facts{Tests: []healthcode.TestResult{positiveAntibody}},
				green()},
			{"a discharge before the sample does not end it", "2022-03-02 09:00",
				&healthcode.Facts{Tests: []healthcode.TestResult{positive}, Cases: []healthcode.Case{oldCase}},
				red(w("positive_test", "2022-03-01 09:00", "2022-03-15 09:00"))},
			{"red ends 14 days after the sample", "2022-03-15 09:00", &healthcode.Facts{Tests: []healthcode.TestResult{positive}},
				green()},
		}},
		{"reasons: most severe first, marks last, earliest end wins ValidUntil", []step{
			{"red, yellow and gold", "2022-03-04 12:00", &healthcode.Facts{
				Vaccinations: []healthcode.Vaccination{{ID: 5, Product: "BBIBP", Dose: 2, SeriesDoses: 2, Date: at("2022-01-01 00:00")}},
				Contacts:     []healthcode.ContactDesignation{designation},
				Tests:        []healthcode.TestResult{positive},
			}, outcome{
				Color:      healthcode.Red,
				Vaccinated: true,
				Reasons: []window{
					w("positive_test", "2022-03-01 09:00", "2022-03-15 09:00"),
					w("close_contact", "2022-03-03 09:00", "2022-03-08 18:30"),
					w("vaccinated", "2022-01-15 00:00", ""),
				},
			}},
			{"the earliest end sets ValidUntil", "2022-03-08 12:00", &healthcode.Facts{
				Contacts: []healthcode.ContactDesignation{designation},
				Tests:    []healthcode.TestResult{positive},
			}, red(
				w("positive_test", "2022-03-01 09:00", "2022-03-15 09:00"),
				w("close_contact", "2022-03-03 09:00", "2022-03-08 18:30"),
			).validUntil("2022-03-08 18:30")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, e, tt.steps) })
	}
}

func TestFeverOrSymptomsThresholds(t *testing.T) {
	e := loadDefault(t)
	now := at("2022-03-01 12:00")
	tests := []struct {
		name        string
		temperature float64
		symptoms    []healthcode.Symptom
		want        healthcode.Color
	}{
		{"nothing declared", 0, nil, healthcode.Green},
		{"36.8", 36.8, nil, healthcode.Green},
		{"37.2", 37.2, nil, healthcode.Green},
		{"37.3", 37.3, nil, healthcode.Yellow},
		{"39.0", 39.0, nil, healthcode.Yellow},
		{"one symptom", 36.5, []healthcode.Symptom{healthcode.RunnyNose}, healthcode.Green},
		{"two symptoms", 36.5, []healthcode.Symptom{healthcode.RunnyNose, healthcode.DryCough}, healthcode.Yellow},
		{"fever ticked alone, no temperature: one symptom is not enough", 0, []healthcode.Symptom{healthcode.Fever}, healthcode.Green},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &healthcode.Facts{Declarations: []healthcode.Declaration{{
				ID: 1, Temperature: tt.temperature, Symptoms: tt.symptoms, DeclaredAt: at("2022-03-01 08:00"),
			}}}
			st, err := e.Evaluate(f, now)
			if err != nil {
				t.Fatal(err)
			}
			if st.Color != tt.want {
				t.Errorf("colour = %s, want %s (reasons %+v)", st.Color, tt.want, st.Reasons)
			}
		})
	}
}

func TestDefaultRulesMessages(t *testing.T) {
	e := loadDefault(t)
	f := &healthcode.Facts{
		Cases: []healthcode.Case{{ID: 1, ConfirmedAt: at("2022-03-01 10:00"), SampleDate: at("2022-02-28 00:00")}},
		Contacts: []healthcode.ContactDesignation{{ID: 1, CaseID: 9, Venue: "Huanan Market",
			LastExposure: at("2022-03-01 18:30"), DesignatedAt: at("2022-03-03 09:00")}},
		Vaccinations: []healthcode.Vaccination{{ID: 1, Product: "CoronaVac", Dose: 2, SeriesDoses: 2, Date: at("2022-01-03 00:00")}},
		Recoveries: []healthcode.Recovery{{ID: 1, FirstPositive: at("2022-01-20 00:00"), ValidFrom: at("2022-01-31 00:00"),
			ValidUntil: at("2022-07-18 00:00"), Country: "DE", Issuer: "Robert Koch-Institut", CertificateID: "URN:UVCI:01:DE:X", Source: "EU DCC"}},
	}
	st, err := e.Evaluate(f, at("2022-03-04 09:00"))
	if err != nil {
		t.Fatal(err)
	}
	want := []healthcode.Reason{
		{
			Rule: "confirmed_case", Color: healthcode.Red, Since: at("2022-03-01 10:00"),
			Message:   "Confirmed case since 2022-03-01. Red until the discharge from hospital is recorded.",
			MessageZH: "自2022-03-01起为确诊病例。登记出院后解除红码。",
		},
		{
			Rule: "close_contact", Color: healthcode.Yellow, Since: at("2022-03-03 09:00"), Until: at("2022-03-08 18:30"),
			Message:   "Close contact of a confirmed case at Huanan Market on 2022-03-01. Yellow until 2022-03-08 (7 days after the last exposure).",
			MessageZH: "2022-03-01在Huanan Market与确诊病例有密切接触。黄码至2022-03-08（最后一次接触后7天）。",
		},
		{
			Rule: "vaccinated", Mark: "vaccinated", Since: at("2022-01-17 00:00"),
			Message:   "Vaccination series completed with CoronaVac (dose 2 of 2) on 2022-01-03; fully vaccinated since 2022-01-17.",
			MessageZH: "已于2022-01-03完成CoronaVac疫苗全程接种（第2剂，共2剂），自2022-01-17起完成免疫。",
		},
		{
			Rule: "recovered", Mark: "vaccinated", Since: at("2022-01-31 00:00"), Until: at("2022-07-19 00:00"),
			Message:   "Recovered: first positive test on 2022-01-20 (DE), certificate issued by Robert Koch-Institut; treated as vaccinated from 2022-01-31 to 2022-07-18.",
			MessageZH: "已康复：2022-01-20首次检测阳性（DE），证书签发机构：Robert Koch-Institut；2022-01-31至2022-07-18期间视同已完成免疫。",
		},
	}
	if diff := cmp.Diff(want, st.Reasons); diff != "" {
		t.Errorf("reasons mismatch (-want +got):\n%s", diff)
	}
}

// TestDefaultLocation checks that messages print dates in UTC+8 by default,
// whatever the zone of the facts.
func TestDefaultLocation(t *testing.T) {
	e, err := rules.Load(healthcode.DefaultRuleSetSource)
	if err != nil {
		t.Fatal(err)
	}
	confirmed := time.Date(2022, 3, 1, 20, 0, 0, 0, time.UTC) // 2022-03-02 04:00 in Shanghai
	st, err := e.Evaluate(&healthcode.Facts{Cases: []healthcode.Case{{ID: 1, ConfirmedAt: confirmed}}}, confirmed.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Reasons) != 1 || !strings.Contains(st.Reasons[0].Message, "since 2022-03-02") {
		t.Errorf("reasons = %+v, want one dated 2022-03-02", st.Reasons)
	}
	utc, err := rules.Load(healthcode.DefaultRuleSetSource, rules.WithLocation(time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	st, err = utc.Evaluate(&healthcode.Facts{Cases: []healthcode.Case{{ID: 1, ConfirmedAt: confirmed}}}, confirmed.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Reasons) != 1 || !strings.Contains(st.Reasons[0].Message, "since 2022-03-01") {
		t.Errorf("with UTC: reasons = %+v, want one dated 2022-03-01", st.Reasons)
	}
}

// TestOneReasonPerRule checks that among several items a rule reports the
// one that ends last.
func TestOneReasonPerRule(t *testing.T) {
	e := loadDefault(t)
	f := &healthcode.Facts{Contacts: []healthcode.ContactDesignation{
		{ID: 1, CaseID: 1, Venue: "Early", LastExposure: at("2022-03-01 10:00"), DesignatedAt: at("2022-03-02 10:00")},
		{ID: 2, CaseID: 2, Venue: "Late", LastExposure: at("2022-03-03 10:00"), DesignatedAt: at("2022-03-04 09:00")},
		{ID: 3, CaseID: 3, Venue: "Middle", LastExposure: at("2022-03-02 10:00"), DesignatedAt: at("2022-03-03 10:00")},
	}}
	st, err := e.Evaluate(f, at("2022-03-04 10:00"))
	if err != nil {
		t.Fatal(err)
	}
	want := yellow(w("close_contact", "2022-03-04 09:00", "2022-03-10 10:00")).validUntil("2022-03-05 10:00")
	if diff := cmp.Diff(want, outcomeOf(st)); diff != "" {
		t.Errorf("status mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(st.Reasons[0].Message, "Late") {
		t.Errorf("message = %q, want the Late venue", st.Reasons[0].Message)
	}
}

// TestDeterministic evaluates a mix of residents repeatedly and with every
// list of facts shuffled, and expects the same status every time.
func TestDeterministic(t *testing.T) {
	e := loadDefault(t)
	now := at("2022-03-15 09:30")
	residents := residentMix(500, now)
	// Ties: two designations that end and start together but name different venues.
	residents = append(residents, &healthcode.Facts{Contacts: []healthcode.ContactDesignation{
		{ID: 1, CaseID: 1, Venue: "Bakery", LastExposure: at("2022-03-12 10:00"), DesignatedAt: at("2022-03-13 10:00")},
		{ID: 2, CaseID: 2, Venue: "Aquarium", LastExposure: at("2022-03-12 10:00"), DesignatedAt: at("2022-03-13 10:00")},
	}})
	rng := rand.New(rand.NewPCG(3, 4))
	for i, f := range residents {
		want, err := e.Evaluate(f, now)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			g := shuffled(f, rng)
			got, err := e.Evaluate(g, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("resident %d: status depends on the order of facts (-first +shuffled):\n%s", i, diff)
			}
		}
	}
}

func shuffled(f *healthcode.Facts, rng *rand.Rand) *healthcode.Facts {
	g := *f
	g.Declarations = shuffle(rng, f.Declarations)
	g.Tests = shuffle(rng, f.Tests)
	g.Vaccinations = shuffle(rng, f.Vaccinations)
	g.Cases = shuffle(rng, f.Cases)
	g.Contacts = shuffle(rng, f.Contacts)
	g.Areas = shuffle(rng, f.Areas)
	return &g
}

func shuffle[T any](rng *rand.Rand, s []T) []T {
	s = slices.Clone(s)
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func TestDefaultRuleSet(t *testing.T) {
	e := loadDefault(t)
	set := e.RuleSet()
	if set.Name != "default" {
		t.Errorf("name = %q, want default", set.Name)
	}
	if want := rules.Version(healthcode.DefaultRuleSetSource); set.Version != want {
		t.Errorf("version = %q, want %q", set.Version, want)
	}
	if len(set.Version) != len("sha256:")+12 || !strings.HasPrefix(set.Version, "sha256:") {
		t.Errorf("version = %q, want sha256: and 12 hex digits", set.Version)
	}
	if string(set.Source) != string(healthcode.DefaultRuleSetSource) {
		t.Error("Source is not the published document")
	}
	var ids []string
	for _, r := range set.Rules {
		ids = append(ids, r.ID)
		if r.Description == "" || r.Reason.EN == "" || r.Reason.ZH == "" {
			t.Errorf("rule %s lacks a description or a reason", r.ID)
		}
		// A status is never stuck: every colour rule ends on a date, or on
		// an event recorded by a tracer or lab (the discharge).
		if r.Color != "" && r.Until == "" && r.ID != "confirmed_case" {
			t.Errorf("colour rule %s has no until", r.ID)
		}
	}
	for _, id := range []string{"confirmed_case", "positive_test", "fever_or_symptoms", "declared_contact",
		"high_risk_visit", "medium_risk_visit", "discharged", "close_contact", "vaccinated"} {
		if !slices.Contains(ids, id) {
			t.Errorf("default rule set lacks %s", id)
		}
	}
	p, err := rules.Parse(healthcode.DefaultRuleSetSource)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(set, p); diff != "" {
		t.Errorf("Parse and Load disagree (-load +parse):\n%s", diff)
	}
}

func TestVersionChangesWithSource(t *testing.T) {
	a := rules.Version([]byte("name: a\nrules: []\n"))
	b := rules.Version([]byte("name: a\nrules: [] # comment\n"))
	if a == b {
		t.Errorf("versions of different sources are equal: %s", a)
	}
	if a != rules.Version([]byte("name: a\nrules: []\n")) {
		t.Error("version is not a function of the source")
	}
}

// TestConcurrentEvaluate shares one engine between goroutines; run with -race.
func TestConcurrentEvaluate(t *testing.T) {
	e := loadDefault(t)
	now := at("2022-03-15 09:30")
	residents := residentMix(200, now)
	want := make([]healthcode.Status, len(residents))
	for i, f := range residents {
		var err error
		if want[i], err = e.Evaluate(f, now); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for i, f := range residents {
				got, err := e.Evaluate(f, now)
				if err == nil && !got.Equivalent(want[i]) {
					err = fmt.Errorf("resident %d: got %+v, want %+v", i, got, want[i])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
