package healthcode

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Nobody sets a colour by hand. A status changes only through facts; a fact
// that is wrong, or no longer right, is withdrawn: by a reviewer upholding a
// resident's appeal, or by an override that a tracer proposes with a written
// reason and a different person with the reviewer role approves. A withdrawn
// fact stays on record (and in the resident's export) but no longer counts
// for the rules; the status is recomputed through the normal path.

// FactKind names a kind of per-resident fact that can be contested and
// withdrawn.
type FactKind string

// The fact kinds.
const (
	FactDeclaration        FactKind = "declaration"
	FactTestResult         FactKind = "test_result"
	FactVaccination        FactKind = "vaccination"
	FactRecovery           FactKind = "recovery"
	FactCase               FactKind = "case"
	FactContactDesignation FactKind = "contact_designation"
	// FactRetainedReason is a reason kept after the facts it came from were
	// purged (see RetainedReason).
	FactRetainedReason FactKind = "retained_reason"
)

// FactKinds lists the kinds a FactRef may name.
var FactKinds = []FactKind{FactDeclaration, FactTestResult, FactVaccination, FactRecovery, FactCase, FactContactDesignation, FactRetainedReason}

// FactRef names one fact.
type FactRef struct {
	Kind FactKind `json:"kind"`
	ID   int64    `json:"id"`
}

// IsZero reports whether the reference names nothing.
func (f FactRef) IsZero() bool { return f.Kind == "" && f.ID == 0 }

// String names the fact for people and for the audit log: "test result 7".
func (f FactRef) String() string {
	if f.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s %d", strings.ReplaceAll(string(f.Kind), "_", " "), f.ID)
}

// validate adds what is wrong with the reference under field.
func (f FactRef) validate(p *Problems, field string) {
	if !slices.Contains(FactKinds, f.Kind) {
		p.Add(field+".kind", "must be one of declaration, test_result, vaccination, recovery, case, contact_designation, retained_reason")
	}
	if f.ID <= 0 {
		p.Add(field+".id", "must be the fact's id")
	}
}

// checkText adds a problem when s is not 1..max runes of text.
func checkText(p *Problems, field, s string, minLen, maxLen int, required bool) {
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	switch {
	case n == 0 && required:
		p.Add(field, "is required")
	case n > 0 && n < minLen:
		p.Add(field, "is too short: write at least %d characters", minLen)
	case n > maxLen:
		p.Add(field, "is longer than %d characters", maxLen)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		p.Add(field, "contains control characters")
	}
}

// AppealState is where an appeal stands.
type AppealState string

// Appeal states. An appeal is open until a reviewer decides it.
const (
	AppealOpen     AppealState = "open"
	AppealUpheld   AppealState = "upheld"
	AppealRejected AppealState = "rejected"
)

// DefaultAppealDeadline is how long reviewers have to decide an appeal.
const DefaultAppealDeadline = 24 * time.Hour

// MaxOpenAppeals bounds the open appeals of one resident, so that nobody can
// flood the reviewers' queue.
const MaxOpenAppeals = 10

// Appeal is a resident's (or their guardian's) request to correct a status
// reason or a fact.
type Appeal struct {
	ID         int64
	ResidentID int64 // whose status or fact is contested
	FiledBy    int64 // the resident who filed it: the subject or their guardian
	Rule       string
	Fact       FactRef // the fact contested; zero when only a rule is named
	What       string  // what is wrong
	Why        string  // why it is wrong
	Evidence   string  // optional: a reference the reviewer can check
	FiledAt    time.Time
	Deadline   time.Time
	State      AppealState

	DecidedAt      time.Time // zero while open
	DecidedBy      string    // the reviewer token's name
	DecisionReason string    // the reviewer's written reason
	Withdrawn      FactRef   // the fact an upheld appeal withdrew
}

// Validate checks an appeal as filed.
func (a *Appeal) Validate() error {
	var p Problems
	if a.Rule == "" && a.Fact.IsZero() {
		p.Add("rule", "name the reason you contest (its rule, e.g. close_contact) or the fact (fact.kind and fact.id)")
	}
	if a.Rule != "" && (len(a.Rule) > 64 || strings.Trim(a.Rule, "abcdefghijklmnopqrstuvwxyz0123456789_") != "") {
		p.Add("rule", "must be the id of a rule, as a status reason shows it")
	}
	if !a.Fact.IsZero() {
		a.Fact.validate(&p, "fact")
	}
	checkText(&p, "what", a.What, 3, 500, true)
	checkText(&p, "why", a.Why, 3, 2000, true)
	checkText(&p, "evidence", a.Evidence, 1, 2000, false)
	return p.Err("invalid appeal")
}

// Overdue reports whether the appeal is still open past its deadline.
func (a *Appeal) Overdue(now time.Time) bool {
	return a.State == AppealOpen && now.After(a.Deadline)
}

// AppealDecision is a reviewer's decision on an appeal.
type AppealDecision struct {
	Uphold bool
	Reason string // written, for the resident
	// Withdraw is the fact an upheld appeal withdraws; zero means the fact
	// the appeal names.
	Withdraw FactRef
	By       Actor
}

// Validate checks the decision.
func (d *AppealDecision) Validate() error {
	var p Problems
	checkText(&p, "reason", d.Reason, 3, 2000, true)
	if !d.Withdraw.IsZero() {
		d.Withdraw.validate(&p, "withdraw")
		if !d.Uphold {
			p.Add("withdraw", "only an upheld appeal withdraws a fact")
		}
	}
	return p.Err("invalid decision")
}

// OverrideKind says why an override withdraws a fact.
type OverrideKind string

// Override kinds.
const (
	OverrideEndedEarly OverrideKind = "ended_early" // e.g. quarantine ended early by medical decision
	OverrideDataError  OverrideKind = "data_error"  // the fact was recorded in error
)

// OverrideState is where an override stands.
type OverrideState string

// Override states. Only an approved override has any effect.
const (
	OverrideProposed OverrideState = "proposed"
	OverrideApproved OverrideState = "approved"
	OverrideRejected OverrideState = "rejected"
)

// Override withdraws one fact. A tracer proposes it with a written reason;
// it takes effect only when a different person with the reviewer role
// approves it. An approved override is itself a fact the rules see
// (facts.overrides), so the resident sees it among their reasons.
type Override struct {
	ID         int64
	ResidentID int64 // whose fact it is
	Fact       FactRef
	Kind       OverrideKind
	Reason     string
	ProposedAt time.Time
	ProposedBy Actor
	State      OverrideState

	DecidedAt      time.Time
	DecidedBy      Actor
	DecisionReason string
}

// Validate checks a proposal.
func (o *Override) Validate() error {
	var p Problems
	o.Fact.validate(&p, "fact")
	if o.Kind != OverrideEndedEarly && o.Kind != OverrideDataError {
		p.Add("kind", "must be ended_early or data_error")
	}
	checkText(&p, "reason", o.Reason, 10, 1000, true)
	return p.Err("invalid override")
}

// OverrideDecision is a reviewer's decision on a proposed override.
type OverrideDecision struct {
	Approve bool
	Reason  string // required to reject; optional to approve
	By      Actor
}

// Validate checks the decision.
func (d *OverrideDecision) Validate() error {
	var p Problems
	checkText(&p, "reason", d.Reason, 3, 1000, !d.Approve)
	return p.Err("invalid decision")
}

// CheckTwoPersons is the two-person rule: the approver of an override must
// hold the reviewer role and must not be the person who proposed it.
func CheckTwoPersons(proposer, approver Actor) error {
	if approver.Role != RoleReviewer {
		return Errorf(EFORBIDDEN, "only the reviewer role may decide an override")
	}
	if SamePerson(proposer, approver) {
		return Errorf(EFORBIDDEN, "the person who proposed an override may not decide it: another reviewer must")
	}
	return nil
}

// FactSummary describes one fact in a line, for a reviewer.
type FactSummary struct {
	Fact    FactRef
	At      time.Time // when it happened or was recorded
	Summary string
}

// SummarizeFacts lists the resident's facts in force, oldest kind first, in
// a line each.
func SummarizeFacts(f *Facts, loc *time.Location) []FactSummary {
	day := func(t time.Time) string { return t.In(loc).Format(time.DateOnly) }
	var out []FactSummary
	for _, d := range f.Declarations {
		var parts []string
		if d.Temperature != 0 {
			parts = append(parts, fmt.Sprintf("%.1f °C", d.Temperature))
		}
		for _, s := range d.Symptoms {
			parts = append(parts, string(s))
		}
		for _, v := range d.Visited {
			parts = append(parts, "visited "+v.Region+" on "+day(v.Date))
		}
		if d.ContactWithCase {
			parts = append(parts, "contact with a case")
		}
		if len(parts) == 0 {
			parts = append(parts, "nothing to report")
		}
		out = append(out, FactSummary{FactRef{FactDeclaration, d.ID}, d.DeclaredAt, "declared: " + strings.Join(parts, ", ")})
	}
	for _, t := range f.Tests {
		out = append(out, FactSummary{FactRef{FactTestResult, t.ID}, t.SampledAt,
			fmt.Sprintf("%s %s, sampled %s at %s", t.Type, t.Result, day(t.SampledAt), t.Institution)})
	}
	for _, v := range f.Vaccinations {
		out = append(out, FactSummary{FactRef{FactVaccination, v.ID}, v.Date,
			fmt.Sprintf("%s dose %d of %d on %s", v.Product, v.Dose, v.SeriesDoses, day(v.Date))})
	}
	for _, r := range f.Recoveries {
		out = append(out, FactSummary{FactRef{FactRecovery, r.ID}, r.ValidFrom,
			fmt.Sprintf("recovered (first positive test %s, %s), valid %s to %s, %s %s from %s", day(r.FirstPositive), r.Country,
				day(r.ValidFrom), day(r.ValidUntil), r.Source, r.CertificateID, r.Issuer)})
	}
	for _, c := range f.Cases {
		s := "confirmed case since " + day(c.ConfirmedAt)
		if c.Discharged() {
			s += ", discharged " + day(c.DischargedAt)
		}
		out = append(out, FactSummary{FactRef{FactCase, c.ID}, c.ConfirmedAt, s})
	}
	for _, c := range f.Contacts {
		of := fmt.Sprintf("case %d", c.CaseID)
		if c.CaseRegion != "" {
			of = fmt.Sprintf("a case of region %s (contact proposal %d)", c.CaseRegion, c.ProposalID)
		}
		out = append(out, FactSummary{FactRef{FactContactDesignation, c.ID}, c.DesignatedAt,
			fmt.Sprintf("close contact of %s at %s, last exposure %s", of, c.Venue, day(c.LastExposure))})
	}
	for _, r := range f.Retained {
		out = append(out, FactSummary{FactRef{FactRetainedReason, r.ID}, r.RetainedAt,
			"reason kept after a purge: " + r.Reason.Rule + ": " + r.Reason.Message})
	}
	return out
}

// Review is what a reviewer sees of a resident to decide an appeal or an
// override: the status with its reasons and the facts in force (shown with
// SummarizeFacts). Reading it is recorded in the audit log.
type Review struct {
	ResidentID int64
	Status     Status
	Facts      *Facts
}

// AppealService files and decides appeals.
type AppealService interface {
	// FileAppeal records a.ResidentID's appeal, filling in ID, FiledAt,
	// Deadline (FiledAt + within) and State. A fact it names must be the
	// resident's; ECONFLICT when the resident has MaxOpenAppeals open.
	FileAppeal(ctx context.Context, a *Appeal, within time.Duration) error
	// ListAppeals returns the resident's appeals, newest first.
	ListAppeals(ctx context.Context, residentID int64) ([]Appeal, error)
	// AppealQueue returns the appeals in state, the earliest deadline first.
	AppealQueue(ctx context.Context, state AppealState) ([]Appeal, error)
	// ReviewAppeal returns the appeal with its resident's status and facts,
	// recording acc in the audit log.
	ReviewAppeal(ctx context.Context, acc Access, id int64) (*Appeal, *Review, error)
	// DecideAppeal records d on an open appeal (ECONFLICT if decided). An
	// upheld appeal withdraws its fact and recomputes the status; either
	// decision notifies the resident.
	DecideAppeal(ctx context.Context, id int64, d AppealDecision) (*Appeal, Status, error)
}

// OverrideService proposes and decides overrides.
type OverrideService interface {
	// ProposeOverride records a proposal, filling in ID, ResidentID (the
	// fact's), ProposedAt and State. ECONFLICT if the fact is already
	// withdrawn or has a pending proposal. Nothing changes until approval.
	ProposeOverride(ctx context.Context, o *Override) error
	// OverrideQueue returns the overrides in state, oldest first.
	OverrideQueue(ctx context.Context, state OverrideState) ([]Override, error)
	// ReviewOverride returns the override with its resident's status and
	// facts, recording acc in the audit log.
	ReviewOverride(ctx context.Context, acc Access, id int64) (*Override, *Review, error)
	// DecideOverride approves or rejects a proposed override (ECONFLICT if
	// decided). The approver must pass CheckTwoPersons. Approval withdraws
	// the fact and recomputes the status.
	DecideOverride(ctx context.Context, id int64, d OverrideDecision) (*Override, Status, error)
}
