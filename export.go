package healthcode

import (
	"context"
	"time"
)

// Export is everything held about one resident, for the resident (or their
// guardian) to download: the data rights of issue 4.
type Export struct {
	GeneratedAt   time.Time
	Resident      Resident
	Dependents    []*Resident // the residents they are guardian of
	Declarations  []Declaration
	Tests         []TestResult
	Vaccinations  []Vaccination
	Recoveries    []Recovery
	Cases         []Case
	Contacts      []ContactDesignation
	Proposals     []ContactProposal // other regions' contact notices about them, and what this region's tracer decided
	Withdrawn     []Withdrawal      // facts above that no longer count
	Overrides     []Override        // proposed, approved or rejected, on their facts
	Retained      []RetainedReason
	Status        Status
	History       []StatusChange // every change, with the rules that applied and why it changed
	RuleSets      []RuleSet      // the rule sets the history names, with their sources
	CheckIns      []CheckIn      // of their code's pseudonym, still kept
	PaperCodes    []PaperCode
	Notifications []Notification
	Appeals       []Appeal
	AccessLog     []AuditEntry // who read their data, and why
}

// Withdrawal records that a fact no longer counts, since when and by what.
type Withdrawal struct {
	Fact FactRef
	At   time.Time
	By   string // "override 4" or "appeal 3"
}

// ExportService gathers a resident's export.
type ExportService interface {
	// ExportResident returns everything held about the resident; issuer is
	// this region's code, whose check-ins of the resident's pseudonym are
	// included.
	ExportResident(ctx context.Context, residentID int64, issuer string) (*Export, error)
}
