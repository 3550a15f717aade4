package healthcode

// ChangeKind says what kind of record a Change is about.
type ChangeKind string

// The kinds of Change and what their Key names.
const (
	ChangeStatus  ChangeKind = "status"  // a resident's status is no longer Equivalent to before; Key: the resident
	ChangeSession ChangeKind = "session" // a session ended before its expiry; Key: the session
	ChangeToken   ChangeKind = "token"   // an API token was revoked; Key: the token
	ChangeRules   ChangeKind = "rules"   // a rule set was published; Key: 0
	// ChangeReset says changes may have been missed (the feed broke and
	// recovered): forget everything.
	ChangeReset ChangeKind = "reset"
)

// Change is one thing that copies of the store's data kept in memory must
// forget.
type Change struct {
	Kind ChangeKind
	Key  int64
}

// ChangeFeed lets servers keep what the display path reads (sessions,
// tokens, statuses) in memory, several processes to one database.
type ChangeFeed interface {
	// Subscribe calls fn with every change committed to the database: those
	// of this process right after their commit, before the call that made
	// them returns; those of other processes within a fraction of a second.
	// fn must not block.
	Subscribe(fn func([]Change))
}
