package healthcode

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Symptom is one of the fixed list a declaration may name.
type Symptom string

// The symptoms a declaration may name; no free text, by design.
const (
	Fever      Symptom = "fever"
	Fatigue    Symptom = "fatigue"
	DryCough   Symptom = "dry_cough"
	StuffyNose Symptom = "stuffy_nose"
	RunnyNose  Symptom = "runny_nose"
	SoreThroat Symptom = "sore_throat"
	Diarrhea   Symptom = "diarrhea"
)

// Symptoms lists every symptom a declaration may name, in display order.
var Symptoms = []Symptom{Fever, Fatigue, DryCough, StuffyNose, RunnyNose, SoreThroat, Diarrhea}

// DeclarationWindow is how far back a declaration's visits may go.
const DeclarationWindow = 14 * 24 * time.Hour

// Declaration is a resident's own statement of their health.
type Declaration struct {
	ID              int64
	ResidentID      int64
	Temperature     float64 // degrees Celsius; 0 when not measured
	Symptoms        []Symptom
	Visited         []Visit
	ContactWithCase bool
	DeclaredAt      time.Time
	DeclaredBy      int64 // the resident who filed it: the subject or their guardian
}

// Visit is a region visited on a day, as declared.
type Visit struct {
	Region string
	Date   time.Time // a civil date: midnight in the region's time zone
}

// Validate checks a declaration filed at now.
func (d *Declaration) Validate(now time.Time) error {
	var p Problems
	if d.Temperature != 0 && (math.IsNaN(d.Temperature) || d.Temperature < 34 || d.Temperature > 43) {
		p.Add("temperature", "must be between 34.0 and 43.0 degrees Celsius")
	}
	seen := map[Symptom]bool{}
	for i, s := range d.Symptoms {
		if !slices.Contains(Symptoms, s) {
			p.Add("symptoms", "item %d: %q is not one of fever, fatigue, dry_cough, stuffy_nose, runny_nose, sore_throat, diarrhea", i, s)
		} else if seen[s] {
			p.Add("symptoms", "item %d: %q is listed twice", i, s)
		}
		seen[s] = true
	}
	if len(d.Visited) > 100 {
		p.Add("visited", "lists more than 100 visits")
	}
	for i, v := range d.Visited {
		if !ValidRegionCode(v.Region) {
			p.Add("visited", "item %d: region must be a 6-digit region code", i)
		}
		switch {
		case v.Date.IsZero():
			p.Add("visited", "item %d: date is required (YYYY-MM-DD)", i)
		case v.Date.After(now):
			p.Add("visited", "item %d: date is in the future", i)
		case v.Date.Before(now.Add(-DeclarationWindow - 24*time.Hour)):
			p.Add("visited", "item %d: date is more than 14 days ago", i)
		}
	}
	return p.Err("invalid declaration")
}

// TestType is the kind of test a lab reports.
type TestType string

// Kinds of test. Antibody results are recorded and shown; no default rule uses them.
const (
	PCR      TestType = "pcr"
	Antigen  TestType = "antigen"
	Antibody TestType = "antibody"
)

// TestOutcome is positive or negative.
type TestOutcome string

// Test outcomes.
const (
	Positive TestOutcome = "positive"
	Negative TestOutcome = "negative"
)

// TestResult is a test reported by a lab.
type TestResult struct {
	ID          int64
	ResidentID  int64
	Type        TestType
	Result      TestOutcome
	SampledAt   time.Time
	ResultedAt  time.Time
	Institution string
	RecordedAt  time.Time
	RecordedBy  string // the token name of the lab that posted it
}

// Validate checks a test result reported at now.
func (t *TestResult) Validate(now time.Time) error {
	var p Problems
	if t.Type != PCR && t.Type != Antigen && t.Type != Antibody {
		p.Add("type", "must be pcr, antigen or antibody")
	}
	if t.Result != Positive && t.Result != Negative {
		p.Add("result", "must be positive or negative")
	}
	if t.SampledAt.IsZero() {
		p.Add("sampled_at", "is required (RFC 3339)")
	} else if t.SampledAt.After(now.Add(5 * time.Minute)) {
		p.Add("sampled_at", "is in the future")
	}
	if t.ResultedAt.IsZero() {
		p.Add("resulted_at", "is required (RFC 3339)")
	} else if t.ResultedAt.After(now.Add(5 * time.Minute)) {
		p.Add("resulted_at", "is in the future")
	} else if !t.SampledAt.IsZero() && t.ResultedAt.Before(t.SampledAt) {
		p.Add("resulted_at", "is before sampled_at")
	}
	validText(&p, "institution", t.Institution, 1, 120)
	return p.Err("invalid test result")
}

// Vaccination is a dose given to a resident.
type Vaccination struct {
	ID          int64
	ResidentID  int64
	Product     string
	Dose        int // 1-based dose number
	SeriesDoses int // doses in the primary series
	Date        time.Time
	Institution string
	RecordedAt  time.Time
}

// Validate checks a vaccination reported at now.
func (v *Vaccination) Validate(now time.Time) error {
	var p Problems
	validText(&p, "product", v.Product, 1, 80)
	if v.SeriesDoses < 1 || v.SeriesDoses > 10 {
		p.Add("series_doses", "must be between 1 and 10")
	}
	if v.Dose < 1 || v.Dose > 20 {
		p.Add("dose", "must be between 1 and 20")
	}
	if v.Date.IsZero() {
		p.Add("date", "is required (YYYY-MM-DD)")
	} else if v.Date.After(now) {
		p.Add("date", "is in the future")
	}
	if v.Institution != "" {
		validText(&p, "institution", v.Institution, 1, 120)
	}
	return p.Err("invalid vaccination")
}

// Recovery is a recovery from COVID-19 that a verified certificate attests:
// an EU DCC recovery certificate a resident imported. It records where it
// came from (Source: the certificate and its identifier) and who issued it.
type Recovery struct {
	ID            int64
	ResidentID    int64
	FirstPositive time.Time // civil date of the first positive test: midnight in the region's time zone
	ValidFrom     time.Time // civil date the certificate is valid from
	ValidUntil    time.Time // civil date, the last day the certificate is valid
	Country       string    // where the positive test was taken (ISO 3166 code)
	Issuer        string    // the authority that issued the certificate
	CertificateID string    // the certificate's unique identifier (UVCI)
	Source        string    // how it reached the record, e.g. "EU DCC"
	RecordedAt    time.Time
	RecordedBy    string
}

// Validate checks a recovery recorded at now.
func (r *Recovery) Validate(now time.Time) error {
	var p Problems
	switch {
	case r.FirstPositive.IsZero():
		p.Add("first_positive", "is required (YYYY-MM-DD)")
	case r.FirstPositive.After(now):
		p.Add("first_positive", "is in the future")
	}
	switch {
	case r.ValidFrom.IsZero():
		p.Add("valid_from", "is required (YYYY-MM-DD)")
	case r.ValidFrom.Before(r.FirstPositive):
		p.Add("valid_from", "is before the first positive test")
	}
	switch {
	case r.ValidUntil.IsZero():
		p.Add("valid_until", "is required (YYYY-MM-DD)")
	case r.ValidUntil.Before(r.ValidFrom):
		p.Add("valid_until", "is before valid_from")
	}
	validText(&p, "country", r.Country, 1, 10)
	validText(&p, "issuer", r.Issuer, 1, 80)
	validText(&p, "certificate_id", r.CertificateID, 1, 80)
	validText(&p, "source", r.Source, 1, 40)
	return p.Err("invalid recovery")
}

// Case is a confirmed infection, recorded by a tracer.
type Case struct {
	ID           int64
	ResidentID   int64
	ConfirmedAt  time.Time
	OnsetDate    time.Time // symptom onset; zero if asymptomatic or unknown
	SampleDate   time.Time // the positive sample; zero if unknown
	DischargedAt time.Time // zero while not discharged
	Note         string
	RecordedBy   string
}

// Discharged reports whether the case has been discharged.
func (c *Case) Discharged() bool { return !c.DischargedAt.IsZero() }

// Validate checks a case recorded at now.
func (c *Case) Validate(now time.Time) error {
	var p Problems
	if c.ConfirmedAt.After(now.Add(5 * time.Minute)) {
		p.Add("confirmed_at", "is in the future")
	}
	if c.OnsetDate.IsZero() && c.SampleDate.IsZero() {
		p.Add("sample_date", "a sample_date or onset_date is required")
	}
	if c.OnsetDate.After(now) {
		p.Add("onset_date", "is in the future")
	}
	if c.SampleDate.After(now) {
		p.Add("sample_date", "is in the future")
	}
	if len([]rune(c.Note)) > 500 {
		p.Add("note", "is longer than 500 characters")
	}
	return p.Err("invalid case")
}

// RiskLevel is an area's epidemic risk.
type RiskLevel string

// Risk levels, as announced by the authority.
const (
	LowRisk    RiskLevel = "low"
	MediumRisk RiskLevel = "medium"
	HighRisk   RiskLevel = "high"
)

// AreaRisk says that regions whose code starts with Prefix have a risk level
// from From until To (zero To: until further notice).
type AreaRisk struct {
	ID         int64
	Prefix     string // 2 to 6 digits: a province, city or district
	Level      RiskLevel
	From       time.Time
	To         time.Time
	RecordedAt time.Time
	RecordedBy string
}

// Covers reports whether the area designation applies to region on the
// civil day that starts at day: it does if it was in force at any moment of
// that day (a designation from 10:00 covers a visit declared for that date).
func (a *AreaRisk) Covers(region string, day time.Time) bool {
	return strings.HasPrefix(region, a.Prefix) && day.Add(24*time.Hour).After(a.From) && (a.To.IsZero() || day.Before(a.To))
}

// Validate checks an area designation.
func (a *AreaRisk) Validate() error {
	var p Problems
	if len(a.Prefix) < 2 || len(a.Prefix) > 6 || strings.Trim(a.Prefix, "0123456789") != "" || a.Prefix[0] == '0' {
		p.Add("region_prefix", "must be 2 to 6 digits of a region code, e.g. 4201 for Wuhan")
	}
	if a.Level != LowRisk && a.Level != MediumRisk && a.Level != HighRisk {
		p.Add("level", "must be low, medium or high")
	}
	if a.From.IsZero() {
		p.Add("from", "is required (RFC 3339)")
	}
	if !a.To.IsZero() && !a.To.After(a.From) {
		p.Add("to", "must be after from")
	}
	return p.Err("invalid area risk")
}

// ContactDesignation is a tracer's decision that a resident was a close
// contact of a case. Tracing produces the evidence; the designation is the fact.
type ContactDesignation struct {
	ID         int64
	ResidentID int64
	CaseID     int64 // the case of this region; 0 for another region's case
	// CaseRegion is the region whose case it was when that is another
	// region (a confirmed contact notice, ProposalID); empty for this one.
	CaseRegion   string
	ProposalID   int64
	Venue        string    // where the exposure happened, for the reason text
	LastExposure time.Time // the end of the last overlapping stay
	DesignatedAt time.Time
	DesignatedBy string
}

func validText(p *Problems, field, s string, minLen, maxLen int) {
	n := len([]rune(strings.TrimSpace(s)))
	if n < minLen {
		p.Add(field, "is required")
	} else if n > maxLen {
		p.Add(field, "is longer than %d characters", maxLen)
	}
}
