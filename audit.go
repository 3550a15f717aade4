package healthcode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The audit log is append-only and hash-chained: each entry carries the hash
// of the one before, so that changing, removing or inserting an entry breaks
// every later link. The store writes an entry in the same transaction as the
// action it records. docs/accountability.md describes the format.

// Audit actions.
const (
	// ActionRead is a read of a resident's personal or health data by
	// someone other than the resident or their guardian.
	ActionRead           = "read"
	ActionEnroll         = "resident.enroll"
	ActionFactAdd        = "fact.add"
	ActionFactUpdate     = "fact.update"
	ActionFactWithdraw   = "fact.withdraw"
	ActionStatusChange   = "status.change"
	ActionRuleSetPublish = "rule_set.publish"
	ActionTokenIssue     = "token.issue"
	ActionTokenRevoke    = "token.revoke"
	ActionPaperCodeIssue = "paper_code.issue"
	ActionAppealFile     = "appeal.file"
	ActionAppealDecide   = "appeal.decide"
	ActionOverrideAdd    = "override.propose"
	ActionOverrideDecide = "override.decide"
	ActionPurge          = "purge"
	ActionAuditRead      = "audit.read"
	ActionNoticeQueue    = "contact_notice.queue"
	ActionNoticeReceive  = "contact_notice.receive"
	ActionProposalDecide = "contact_proposal.decide"
	ActionTrustAdd       = "trust.add"    // a peer region's keys trusted
	ActionTrustRemove    = "trust.remove" // a peer region no longer trusted
)

// AuditActions lists every action, for filters and documentation.
var AuditActions = []string{ActionRead, ActionEnroll, ActionFactAdd, ActionFactUpdate, ActionFactWithdraw,
	ActionStatusChange, ActionRuleSetPublish, ActionTokenIssue, ActionTokenRevoke, ActionPaperCodeIssue, ActionAppealFile,
	ActionAppealDecide, ActionOverrideAdd, ActionOverrideDecide, ActionPurge, ActionAuditRead, ActionTrustAdd, ActionTrustRemove,
	ActionNoticeQueue, ActionNoticeReceive, ActionProposalDecide}

// AuditEntry is one entry of the audit log. It names what was touched by
// reference ("test result 7", "status history 12"), never by content: the
// log holds no health data.
type AuditEntry struct {
	Seq       int64 // 1, 2, 3, ... without gaps
	At        time.Time
	ActorRole Role
	ActorID   int64 // the token's id, or the resident's; 0 for the system and operators
	ActorName string
	Action    string
	Subject   int64  // the resident concerned; 0 for none
	Purpose   string // why, for reads; empty for other actions
	Detail    string // what was touched, by reference
	PrevHash  string // hex SHA-256 of the previous entry; GenesisHash for the first
	Hash      string // hex SHA-256 of this entry's canonical bytes
}

// GenesisHash is the PrevHash of the first entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// auditFormat names the canonical encoding; a new encoding gets a new name.
const auditFormat = "healthcode-audit-v1"

// CanonicalBytes is the encoding an entry's hash is computed over: the
// format name and the fields, in this order, each as a netstring
// ("<length in bytes>:<bytes>,"):
//
//	healthcode-audit-v1, seq, at, actor_role, actor_id, actor_name,
//	action, subject, purpose, detail, prev_hash
//
// Integers are decimal ASCII (at is unix microseconds, UTC; subject and
// actor_id are 0 for none); strings are UTF-8 as stored; prev_hash is 64
// lower-case hex digits. Hash is not part of it.
func (e *AuditEntry) CanonicalBytes() []byte {
	fields := []string{auditFormat, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.UnixMicro(), 10),
		string(e.ActorRole), strconv.FormatInt(e.ActorID, 10), e.ActorName, e.Action,
		strconv.FormatInt(e.Subject, 10), e.Purpose, e.Detail, e.PrevHash}
	n := 0
	for _, f := range fields {
		n += len(f) + 12
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = append(b, ',')
	}
	return b
}

// ComputeHash returns the hex SHA-256 of the entry's canonical bytes.
func (e *AuditEntry) ComputeHash() string {
	sum := sha256.Sum256(e.CanonicalBytes())
	return hex.EncodeToString(sum[:])
}

// AuditBreak is the first broken link of the chain: the entry at Seq (0:
// the chain head) and what is wrong with it.
type AuditBreak struct {
	Seq     int64
	Problem string
}

func (b *AuditBreak) Error() string {
	if b.Seq == 0 {
		return "audit log: " + b.Problem
	}
	return "audit log: entry " + strconv.FormatInt(b.Seq, 10) + ": " + b.Problem
}

// AuditChecker checks a chain entry by entry, in order of Seq. It is pure:
// the store feeds it the rows and the recorded head.
type AuditChecker struct {
	next    int64
	prev    string
	entries int64
}

// NewAuditChecker starts checking from the first entry.
func NewAuditChecker() *AuditChecker { return &AuditChecker{next: 1, prev: GenesisHash} }

// Check verifies the next entry: its number follows the previous one, it
// links to the previous entry's hash, and its hash matches its contents.
func (c *AuditChecker) Check(e *AuditEntry) *AuditBreak {
	switch {
	case e.Seq != c.next:
		if e.Seq > c.next {
			return &AuditBreak{Seq: c.next, Problem: "missing (the next entry found is " + strconv.FormatInt(e.Seq, 10) + ")"}
		}
		return &AuditBreak{Seq: e.Seq, Problem: "out of order (expected entry " + strconv.FormatInt(c.next, 10) + ")"}
	case e.PrevHash != c.prev:
		return &AuditBreak{Seq: e.Seq, Problem: "does not link to the previous entry (prev_hash differs from its hash)"}
	case e.ComputeHash() != e.Hash:
		return &AuditBreak{Seq: e.Seq, Problem: "its contents do not match its hash (the entry was changed)"}
	}
	c.next++
	c.prev = e.Hash
	c.entries++
	return nil
}

// Finish checks the chain's recorded head (the number and hash of the last
// entry written), which catches entries removed from the end.
func (c *AuditChecker) Finish(headSeq int64, headHash string) *AuditBreak {
	last := c.next - 1
	switch {
	case headSeq > last:
		return &AuditBreak{Seq: last + 1, Problem: "missing: the chain head records " + strconv.FormatInt(headSeq, 10) + " entries"}
	case headSeq < last:
		return &AuditBreak{Seq: 0, Problem: "the chain head records " + strconv.FormatInt(headSeq, 10) + " entries, but there are more"}
	case headHash != c.prev:
		return &AuditBreak{Seq: 0, Problem: "the chain head's hash differs from the last entry's"}
	}
	return nil
}

// Entries returns how many entries checked out.
func (c *AuditChecker) Entries() int64 { return c.entries }

// Head returns the hash of the last entry that checked out.
func (c *AuditChecker) Head() string { return c.prev }

// AuditReport is the result of verifying the whole chain.
type AuditReport struct {
	Entries int64       // entries that checked out
	Head    string      // hash of the last good entry
	Break   *AuditBreak // the first broken link; nil when the chain is intact
}

// AuditFilter selects audit entries. Zero fields select everything.
type AuditFilter struct {
	Actor   string // the actor's name, exactly
	Subject int64
	Action  string
	From    time.Time // inclusive
	To      time.Time // exclusive
	Before  int64     // only entries with Seq < Before (paging newest first)
	Limit   int       // at most this many (1 to MaxAuditPage; 0: DefaultAuditPage)
}

// Audit pages.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 500
)

// Validate checks the filter.
func (f *AuditFilter) Validate() error {
	var p Problems
	if f.Action != "" && !slices.Contains(AuditActions, f.Action) {
		p.Add("action", "must be one of %s", strings.Join(AuditActions, ", "))
	}
	if f.Subject < 0 {
		p.Add("subject", "must be a resident id")
	}
	if f.Before < 0 {
		p.Add("before", "must be an entry number")
	}
	if f.Limit < 0 || f.Limit > MaxAuditPage {
		p.Add("limit", "must be between 1 and %d", MaxAuditPage)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		p.Add("to", "must be after from")
	}
	return p.Err("invalid audit query")
}

// Roles that never belong to a token or a session but appear in the audit
// log as actors.
const (
	RoleSystem    Role = "system"    // the server itself: time passing, retention, startup
	RoleOperator  Role = "operator"  // someone running a healthcode command on the server's machine
	RoleAnonymous Role = "anonymous" // an unauthenticated caller (enrollment)
	RolePeer      Role = "peer"      // another region, known by the signature on what it sent (a contact notice)
)

// SystemActor is the actor of what the server does on its own.
var SystemActor = Actor{Role: RoleSystem, Name: "system"}

// OperatorActor is the actor of a healthcode command run by an operator.
func OperatorActor(command string) Actor {
	return Actor{Role: RoleOperator, Name: "operator: healthcode " + command}
}

type actorKey struct{}

// ContextWithActor returns ctx carrying the actor on whose behalf the work
// is done; the store records it in the audit log.
func ContextWithActor(ctx context.Context, a Actor) context.Context {
	return ContextWithActorRef(ctx, &a)
}

// ContextWithActorRef is ContextWithActor for an actor that is already on
// the heap and never changes afterwards (the web server's, shared by the
// requests of one session): carrying it costs no allocation.
func ContextWithActorRef(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor ctx carries, or SystemActor.
func ActorFromContext(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(*Actor); ok && a != nil {
		return *a
	}
	return SystemActor
}

// SamePerson reports whether two actors are, as far as the records tell, the
// same person: the same resident, the same token, or tokens whose names are
// the same apart from case and spacing (one person holding a tracer token
// and a reviewer token under one name). The two-person rule for overrides
// uses it.
func SamePerson(a, b Actor) bool {
	if a.Role == RoleResident || b.Role == RoleResident {
		return a.Role == b.Role && a.ResidentID == b.ResidentID
	}
	if a.TokenID != 0 && a.TokenID == b.TokenID {
		return true
	}
	na, nb := personName(a.Name), personName(b.Name)
	return na != "" && na == nb
}

// personName folds a token name for comparison: case, spacing and
// punctuation do not make another person.
func personName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Access is a read of a resident's data by someone other than the resident
// or their guardian: who and why. The store records it in the audit log in
// the transaction that reads.
type Access struct {
	Actor   Actor
	Purpose string
}

// MaxPurposeLength bounds a stated purpose.
const MaxPurposeLength = 300

// Validate checks that a purpose is stated in a few words.
func (a *Access) Validate() error {
	var p Problems
	n := utf8.RuneCountInString(strings.TrimSpace(a.Purpose))
	switch {
	case n == 0:
		p.Add("purpose", "is required: say why you are looking at this person's data (it is shown to them)")
	case n < 3:
		p.Add("purpose", "is too short: say why you are looking at this person's data")
	case n > MaxPurposeLength:
		p.Add("purpose", "is longer than %d characters", MaxPurposeLength)
	case strings.IndexFunc(a.Purpose, unicode.IsControl) >= 0:
		p.Add("purpose", "contains control characters")
	}
	return p.Err("invalid purpose")
}

// AuditService reads and verifies the audit log.
type AuditService interface {
	// ListAudit returns the entries that match f, newest first, and records
	// the auditor's query as an audit.read entry.
	ListAudit(ctx context.Context, by Actor, f AuditFilter) ([]AuditEntry, error)
	// ListAccessLog returns the reads of the resident's data by others, and
	// the contact notices other regions sent about them, newest first.
	ListAccessLog(ctx context.Context, residentID int64) ([]AuditEntry, error)
	// VerifyAuditLog checks the whole chain and reports its first broken link.
	VerifyAuditLog(ctx context.Context) (AuditReport, error)
}
