package healthcode

import (
	"context"
	"time"
)

// Store is the system of record. Every method is one transaction with one
// "now" from the store's clock. Writers of facts re-evaluate the subject's
// status in the same transaction and return it; a status that changed is
// appended to the history with the fact as its cause, and the resident gets
// a notification of it in the same transaction.
//
// Lookups that find nothing return an *Error with ENOTFOUND; duplicates
// return ECONFLICT with a message that says what is duplicated.
//
// Every fact written, status change, rule-set publication and token issued
// is recorded in the audit log in the same transaction, with the actor the
// context carries (ContextWithActor). Reads of a resident's data on behalf of
// someone else go through the methods that take an Access, which record it
// the same way.
type Store interface {
	StatusService
	VenueService
	PaperCodeService
	NotificationService
	AuditService
	AppealService
	OverrideService
	ExportService
	ChangeFeed
	LoginGuard
	RuleSetService
	FederationService

	// CreateResident enrolls r (already validated), filling in ID, Pseudonym
	// and CreatedAt. passwordHash is empty for a dependent without a login.
	CreateResident(ctx context.Context, r *Resident, passwordHash string) error
	FindResidentByID(ctx context.Context, id int64) (*Resident, error)
	FindResidentByDocument(ctx context.Context, t IDType, number string) (*Resident, error)
	// FindLogin returns the resident with this phone number and their password hash.
	FindLogin(ctx context.Context, phone string) (*Resident, string, error)
	ListDependents(ctx context.Context, guardianID int64) ([]*Resident, error)
	// FindResidentByPseudonym finds the resident a code's subject names.
	FindResidentByPseudonym(ctx context.Context, pseudonym string) (*Resident, error)

	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the unexpired session with this hash; EUNAUTHORIZED otherwise.
	FindSession(ctx context.Context, hash []byte) (*Session, error)
	DeleteSession(ctx context.Context, hash []byte) error
	CreateAPIToken(ctx context.Context, t *APIToken) error
	// FindAPIToken returns the unrevoked token with this hash; EUNAUTHORIZED otherwise.
	FindAPIToken(ctx context.Context, hash []byte) (*APIToken, error)
	// RevokeAPIToken revokes a token from now on; ENOTFOUND for an unknown id.
	RevokeAPIToken(ctx context.Context, id int64) error
	// CountAPITokens returns how many unrevoked tokens have role.
	CountAPITokens(ctx context.Context, role Role) (int, error)

	AddDeclaration(ctx context.Context, d *Declaration) (Status, error)
	ListDeclarations(ctx context.Context, residentID int64) ([]Declaration, error)
	AddTestResult(ctx context.Context, t *TestResult) (Status, error)
	AddVaccination(ctx context.Context, v *Vaccination) (Status, error)
	// AddRecovery records a recovery; ECONFLICT when the resident already
	// has the certificate it came from (same source and certificate id).
	AddRecovery(ctx context.Context, r *Recovery) (Status, error)
	CreateCase(ctx context.Context, c *Case) (Status, error)
	FindCase(ctx context.Context, id int64) (*Case, error)
	// DischargeCase records the discharge; ECONFLICT if already discharged.
	DischargeCase(ctx context.Context, caseID int64, at time.Time) (*Case, Status, error)
	// AddAreaRisk records the designation and re-evaluates every resident who
	// declared a visit to a covered region in the last 14 days; it returns how many.
	AddAreaRisk(ctx context.Context, a *AreaRisk) (int, error)
	ListAreaRisks(ctx context.Context) ([]AreaRisk, error)
	AddContactDesignation(ctx context.Context, c *ContactDesignation) (Status, error)

	// LoadFacts gathers everything the rules may look at for one resident:
	// the facts in force (not withdrawn), approved overrides and retained
	// reasons.
	LoadFacts(ctx context.Context, residentID int64) (*Facts, error)
	// LatestTest returns when the resident's latest test of type typ with
	// result was sampled, among the tests in force; zero when there is none.
	// It is LoadFacts narrowed to what a code vouches for, in one query.
	LatestTest(ctx context.Context, residentID int64, typ TestType, result TestOutcome) (time.Time, error)

	// ReadCase returns a case for someone other than its resident, recording
	// acc in the audit log in the same transaction.
	ReadCase(ctx context.Context, acc Access, id int64) (*Case, error)
	// ReadResident returns a resident for an official's lookup, recording acc
	// in the audit log in the same transaction.
	ReadResident(ctx context.Context, acc Access, id int64) (*Resident, error)
	// ReadCaseMovements runs fn with the case, its holder's pseudonym and a
	// reader of check-ins, in one transaction that records acc in the audit
	// log as a read of the case holder's data.
	ReadCaseMovements(ctx context.Context, acc Access, caseID int64, fn func(c *Case, pseudonym string, src MovementReader) error) error

	// CountStatuses counts residents by the colour of their stored status.
	CountStatuses(ctx context.Context) (map[Color]int, error)

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// MovementReader reads check-ins and venues: what tracing needs.
type MovementReader interface {
	ListCheckInsOfSubject(ctx context.Context, issuer, subject string, from, to time.Time) ([]CheckIn, error)
	ListCheckInsAtVenue(ctx context.Context, venueID int64, from, to time.Time) ([]CheckIn, error)
	FindVenue(ctx context.Context, id int64) (*Venue, error)
}
