package healthcode

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Cross-region contact notices (DESIGN.md section 6, issue 8): when a
// region's trace finds holders of another region's codes, it tells their
// home region in a signed contact notice instead of copying anything. The
// home region checks the signature against the trust list it holds for the
// sender, stores one designation proposal per contact, and its own tracer
// confirms (a close-contact designation, a fact of the home region) or
// dismisses it.

// ContactNotice is what one region tells another about the other's code
// holders that its tracing found. It carries the home region's own
// pseudonyms and the exposure evidence, never a personal detail of anyone
// in the sending region.
type ContactNotice struct {
	ID            string          `json:"id"`                // random, made by the sender; redelivery repeats it
	From          string          `json:"from"`              // the sending region's code
	FromName      string          `json:"from_name"`         // the sending region's name, for people
	To            string          `json:"to"`                // the home region of the contacts
	IssuedAt      time.Time       `json:"issued_at"`         // when this copy was signed
	CaseConfirmed time.Time       `json:"case_confirmed_at"` // when the sender confirmed the case
	Contacts      []NoticeContact `json:"contacts"`
}

// NoticeContact is one of the home region's code holders, with the evidence.
type NoticeContact struct {
	Subject         string           `json:"subject"` // the code's subject pseudonym, as the home region issued it
	Degree          int              `json:"degree"`  // 1: met the case; 2: met a first-degree contact
	LastExposure    time.Time        `json:"last_exposure"`
	QuarantineUntil time.Time        `json:"quarantine_until"` // the sender's recommendation; the home region's rules decide
	Exposures       []NoticeExposure `json:"exposures"`
}

// NoticeExposure is one stay near the case (or a first-degree contact) at a
// venue of the sending region.
type NoticeExposure struct {
	VenueName string    `json:"venue_name"`
	VenueType string    `json:"venue_type"`
	SourceAt  time.Time `json:"source_at"`  // the case's (or first-degree contact's) check-in
	ContactAt time.Time `json:"contact_at"` // the contact's check-in
}

// Limits of a contact notice.
const (
	MaxNoticeContacts  = 1000
	MaxNoticeExposures = 100
	// NoticeMaxAge is how old a notice's signature may be when it arrives:
	// older ones are refused as expired, so a copy captured on the wire
	// cannot be replayed later. The sender signs again at every attempt.
	NoticeMaxAge = 10 * time.Minute
	// DefaultContactQuarantine is the quarantine a sender recommends after
	// the last exposure (the default rule set's close_contact rule).
	DefaultContactQuarantine = 7 * 24 * time.Hour
)

var noticeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// Validate checks a notice's form (not its signature, nor its subjects).
func (n *ContactNotice) Validate() error {
	var p Problems
	if !noticeIDPattern.MatchString(n.ID) {
		p.Add("id", "must be 8 to 64 of A-Z a-z 0-9 _ -")
	}
	if !ValidRegionCode(n.From) {
		p.Add("from", "must be a 6-digit region code")
	}
	if !ValidRegionCode(n.To) {
		p.Add("to", "must be a 6-digit region code")
	}
	if n.From == n.To && n.From != "" {
		p.Add("to", "is the sending region itself")
	}
	if len([]rune(n.FromName)) > 100 {
		p.Add("from_name", "is longer than 100 characters")
	}
	if n.IssuedAt.IsZero() {
		p.Add("issued_at", "is required")
	}
	if n.CaseConfirmed.IsZero() {
		p.Add("case_confirmed_at", "is required")
	}
	switch {
	case len(n.Contacts) == 0:
		p.Add("contacts", "is empty")
	case len(n.Contacts) > MaxNoticeContacts:
		p.Add("contacts", "has more than %d entries", MaxNoticeContacts)
	}
	seen := map[string]bool{}
	for i, c := range n.Contacts {
		switch {
		case c.Subject == "" || len(c.Subject) > 64:
			p.Add("contacts", "item %d: subject must be 1 to 64 characters", i)
		case seen[c.Subject]:
			p.Add("contacts", "item %d: subject %s is listed twice", i, c.Subject)
		}
		seen[c.Subject] = true
		if c.Degree != 1 && c.Degree != 2 {
			p.Add("contacts", "item %d: degree must be 1 or 2", i)
		}
		if c.LastExposure.IsZero() {
			p.Add("contacts", "item %d: last_exposure is required", i)
		}
		if len(c.Exposures) == 0 || len(c.Exposures) > MaxNoticeExposures {
			p.Add("contacts", "item %d: exposures must list 1 to %d stays", i, MaxNoticeExposures)
		}
		for j, e := range c.Exposures {
			if n := len([]rune(strings.TrimSpace(e.VenueName))); n == 0 || n > 200 {
				p.Add("contacts", "item %d: exposure %d: venue_name must be 1 to 200 characters", i, j)
			}
			if len(e.VenueType) > 40 {
				p.Add("contacts", "item %d: exposure %d: venue_type is longer than 40 characters", i, j)
			}
		}
	}
	return p.Err("invalid contact notice")
}

// LastVenue is the venue of the contact's latest exposure, for the reason text.
func (c *NoticeContact) LastVenue() string {
	best, at := "", time.Time{}
	for _, e := range c.Exposures {
		t := e.ContactAt
		if e.SourceAt.After(t) {
			t = e.SourceAt
		}
		if best == "" || t.After(at) {
			best, at = e.VenueName, t
		}
	}
	return best
}

// OutgoingNotice is a notice waiting in the sender's outbox.
type OutgoingNotice struct {
	Notice      ContactNotice
	CaseID      int64 // the sender's case, for its own records
	QueuedAt    time.Time
	Attempts    int
	LastError   string
	DeliveredAt time.Time // zero while undelivered
	RefusedAt   time.Time // zero unless the receiver refused it for good
}

// NoticeReceipt is the receiver's answer to a notice, the same for every
// delivery of one notice id.
type NoticeReceipt struct {
	NoticeID  string           `json:"notice_id"`
	Duplicate bool             `json:"duplicate"` // this id was received before; nothing new was stored
	Results   []ProposalResult `json:"results"`
}

// ProposalResult says what the receiver did with one contact of a notice.
type ProposalResult struct {
	Subject    string `json:"subject"`
	Result     string `json:"result"` // "proposed" or "unknown_subject"
	ProposalID int64  `json:"proposal_id,omitempty"`
}

// ProposalState is where a designation proposal stands.
type ProposalState string

// Proposal states.
const (
	ProposalOpen      ProposalState = "proposed"
	ProposalConfirmed ProposalState = "confirmed"
	ProposalDismissed ProposalState = "dismissed"
)

// ContactProposal is a received notice's contact waiting for this region's
// tracer: confirm it (a close-contact designation) or dismiss it.
type ContactProposal struct {
	ID              int64
	NoticeID        string
	FromRegion      string
	FromName        string
	ResidentID      int64
	Subject         string
	Degree          int
	Venue           string // of the last exposure
	VenueType       string
	LastExposure    time.Time
	CaseConfirmed   time.Time
	QuarantineUntil time.Time
	Exposures       []NoticeExposure
	ReceivedAt      time.Time
	State           ProposalState
	DecidedAt       time.Time
	DecidedBy       string
	DecisionReason  string
	DesignationID   int64 // the designation a confirmation made
}

// FederationService keeps contact notices: the outbox of those this region
// sends, and the proposals of those it receives.
type FederationService interface {
	// QueueContactNotices puts the notices in the outbox, with one audit
	// entry per notice, in one transaction. A notice whose id is already
	// queued is left as it is.
	QueueContactNotices(ctx context.Context, caseID int64, ns []ContactNotice) error
	// ClaimContactNotices returns up to limit notices due for delivery and
	// holds them for lease.
	ClaimContactNotices(ctx context.Context, limit int, lease time.Duration) ([]OutgoingNotice, error)
	// MarkNoticeDelivered records that the receiver acknowledged the notice.
	MarkNoticeDelivered(ctx context.Context, id string) error
	// MarkNoticeFailed records a failed attempt; a zero retryAt means the
	// receiver refused it for good and it is not tried again.
	MarkNoticeFailed(ctx context.Context, id, problem string, retryAt time.Time) error
	// ListOutgoingNotices returns the notices of the outbox, newest first.
	ListOutgoingNotices(ctx context.Context, limit int) ([]OutgoingNotice, error)
	// CountPendingNotices counts notices neither delivered nor refused.
	CountPendingNotices(ctx context.Context) (int, error)
	// CountOpenProposals counts proposals waiting for a tracer (for metrics:
	// a count names nobody).
	CountOpenProposals(ctx context.Context) (int, error)

	// ReceiveContactNotice stores a verified notice: one proposal per
	// contact whose subject is a resident of this region, audited, in one
	// transaction. A notice id received before changes nothing and answers
	// as the first delivery did, with Duplicate set. EINVALID if no contact
	// names a resident of this region.
	ReceiveContactNotice(ctx context.Context, n *ContactNotice) (*NoticeReceipt, error)
	// ReadContactProposals returns proposals in state (all when empty),
	// oldest first, recording acc in the audit log as a read of each
	// resident they name (their pseudonym and movements in another region),
	// in the same transaction.
	ReadContactProposals(ctx context.Context, acc Access, state ProposalState) ([]ContactProposal, error)
	// ConfirmContactProposal designates the proposal's resident a close
	// contact (a fact, with a notification and a new status) and closes the
	// proposal, in one transaction. ECONFLICT if it was already decided.
	ConfirmContactProposal(ctx context.Context, id int64, by string) (*ContactProposal, Status, error)
	// DismissContactProposal closes the proposal with a written reason.
	DismissContactProposal(ctx context.Context, id int64, by, reason string) (*ContactProposal, error)
}
