package healthcode

import (
	"context"
	"time"
)

// Color is a health-code colour.
type Color string

// The colours, from least to most severe.
const (
	Green  Color = "green"
	Yellow Color = "yellow"
	Red    Color = "red"
)

// Severity orders colours: green 0, yellow 1, red 2, anything else -1.
func (c Color) Severity() int {
	switch c {
	case Green:
		return 0
	case Yellow:
		return 1
	case Red:
		return 2
	}
	return -1
}

// Reason is one rule that applies to a resident, with its evidence and when
// it ends. Until is zero when the rule ends on an event rather than a date
// (for example "until discharged"); the message says which event.
type Reason struct {
	Rule      string    `json:"rule"`
	Color     Color     `json:"color,omitempty"` // empty for a mark (vaccinated)
	Mark      string    `json:"mark,omitempty"`  // "vaccinated" for the gold mark
	Message   string    `json:"message"`         // English
	MessageZH string    `json:"message_zh"`      // Simplified Chinese
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until,omitzero"`
}

// Status is what the rules make of a resident's facts at a moment.
type Status struct {
	Color          Color
	Vaccinated     bool
	Reasons        []Reason
	ComputedAt     time.Time
	ValidUntil     time.Time // the evaluation must be redone by then even if no fact changes
	RuleSetVersion string
}

// Equivalent reports whether two statuses show the same thing to a
// resident: colour, mark and the set of rules (with their ends).
func (s Status) Equivalent(o Status) bool {
	if s.Color != o.Color || s.Vaccinated != o.Vaccinated || len(s.Reasons) != len(o.Reasons) || s.RuleSetVersion != o.RuleSetVersion {
		return false
	}
	for i := range s.Reasons {
		a, b := s.Reasons[i], o.Reasons[i]
		if a.Rule != b.Rule || a.Message != b.Message || !a.Since.Equal(b.Since) || !a.Until.Equal(b.Until) {
			return false
		}
	}
	return true
}

// StatusChange is one entry in a resident's status history.
type StatusChange struct {
	ID         int64
	ResidentID int64
	At         time.Time
	Status     Status
	Cause      string // what made the status change: "declaration 12", "test result 7", "time: rule high_risk_visit ended", ...
}

// Facts is everything the rules may look at for one resident.
type Facts struct {
	Resident     Resident
	Declarations []Declaration
	Tests        []TestResult
	Vaccinations []Vaccination
	Recoveries   []Recovery // attested by imported certificates
	Cases        []Case
	Contacts     []ContactDesignation
	Areas        []AreaRisk // only the designations relevant to the resident's visits
	Overrides    []Override // approved overrides of the resident's facts
	// Retained holds the reasons kept after a purge deleted their facts;
	// the rules report each under its rule until its end.
	Retained []RetainedReason
}

// Evaluator turns facts into a status. Implementations are pure and
// deterministic: the same facts at the same moment give the same status.
type Evaluator interface {
	Evaluate(f *Facts, now time.Time) (Status, error)
	// RuleSet returns the published rule set the evaluator runs.
	RuleSet() *RuleSet
}

// RuleSet is a published, versioned set of rules. Source is the document as
// published; Version is derived from it.
type RuleSet struct {
	Version     string    `json:"version"`
	Name        string    `json:"name"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	Rules       []Rule    `json:"rules"`
	Source      []byte    `json:"-"`
}

// Rule is one published rule. See docs/rules.md for the language.
type Rule struct {
	ID          string     `json:"id"`
	Color       Color      `json:"color,omitempty"`
	Mark        string     `json:"mark,omitempty"`
	Description string     `json:"description"`
	Each        string     `json:"each"`
	When        string     `json:"when"`
	Since       string     `json:"since"`
	Until       string     `json:"until,omitempty"`
	Reason      RuleReason `json:"reason"`
}

// RuleReason is a rule's message template in both languages.
type RuleReason struct {
	EN string `json:"en"`
	ZH string `json:"zh"`
}

// Clock tells the time. Tests move it; the server uses the wall clock.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the wall clock.
var SystemClock Clock = ClockFunc(time.Now)

// StatusService gives a resident's current status and its history.
type StatusService interface {
	// CurrentStatus returns the resident's status, re-evaluating it first when
	// the cached one has passed its ValidUntil.
	CurrentStatus(ctx context.Context, residentID int64) (Status, error)
	StatusHistory(ctx context.Context, residentID int64) ([]StatusChange, error)
}

// Notification tells a resident that something about them changed: a new
// status (with its reasons), a designation, a decision. A region plugs SMS
// or push in through the webhook (see OutboxService).
type Notification struct {
	ID         int64
	ResidentID int64
	At         time.Time
	Kind       string // NotifyStatusChanged, NotifyAppealDecided or NotifyContactDesignated
	Message    string // English
	MessageZH  string // Simplified Chinese
}

// NotificationService lists a resident's notifications.
type NotificationService interface {
	// ListNotifications returns the resident's notifications, newest first.
	ListNotifications(ctx context.Context, residentID int64) ([]Notification, error)
}
