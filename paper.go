package healthcode

import (
	"context"
	"time"
)

// PaperCode is a long-lived code printed for someone without a phone. It
// carries no colour: checkpoints read the colour at StatusIndex in the
// region's signed status list.
type PaperCode struct {
	ID          int64
	ResidentID  int64
	StatusIndex int // position in the status list; never reused
	IssuedAt    time.Time
	ExpiresAt   time.Time
	RevokedAt   time.Time // zero while valid; set when reissued
	IssuedBy    string    // "guardian 12", "resident 7" or the official's token name
}

// DefaultPaperCodeLifetime is how long a paper code is valid.
const DefaultPaperCodeLifetime = 365 * 24 * time.Hour

// StatusListEntry is one paper code's state in the status list.
type StatusListEntry struct {
	Index   int
	Color   Color
	Revoked bool // reissued or withdrawn: never admit
}

// PaperCodeService issues paper codes and lists their states.
type PaperCodeService interface {
	// IssuePaperCode revokes the resident's current paper code, if any, and
	// records a new one with the next free status-list index.
	IssuePaperCode(ctx context.Context, residentID int64, lifetime time.Duration, issuedBy string) (*PaperCode, error)
	// FindPaperCode returns the resident's current (unrevoked) paper code.
	FindPaperCode(ctx context.Context, residentID int64) (*PaperCode, error)
	// StatusListEntries returns the state of every paper code that has not
	// expired at the store's now, each holder's colour from CurrentStatus.
	StatusListEntries(ctx context.Context) ([]StatusListEntry, error)
}
