package healthcode

import (
	"context"
	"fmt"
	"time"
)

// Retention says how long data is kept. The audit log is kept; so are cases,
// vaccinations and contact designations, which a status may depend on for
// longer (docs/accountability.md).
type Retention struct {
	CheckIns     time.Duration
	Declarations time.Duration
	// TestResults is also how long a recovery is kept after the last day
	// its certificate is valid.
	TestResults   time.Duration
	ClosedAppeals time.Duration // from the decision
}

// Day is 24 hours, the unit retention windows are given in.
const Day = 24 * time.Hour

// DefaultRetention returns the default windows: check-ins and declarations
// 28 days, test results 90 days, closed appeals a year.
func DefaultRetention() Retention {
	return Retention{CheckIns: 28 * Day, Declarations: 28 * Day, TestResults: 90 * Day, ClosedAppeals: 365 * Day}
}

// Validate checks that every window is at least a day.
func (r Retention) Validate() error {
	var p Problems
	for _, w := range []struct {
		field string
		d     time.Duration
	}{{"checkins", r.CheckIns}, {"declarations", r.Declarations}, {"test_results", r.TestResults}, {"closed_appeals", r.ClosedAppeals}} {
		if w.d < Day {
			p.Add(w.field, "must be at least a day, not %s", w.d)
		}
	}
	return p.Err("invalid retention")
}

// PurgeReport says what a purge deleted and kept.
type PurgeReport struct {
	EndOfEmergency bool
	At             time.Time
	CheckIns       int64 // deleted
	Declarations   int64 // deleted, with their visits
	TestResults    int64 // deleted
	Recoveries     int64 // deleted: their certificates ended before the test-result window
	Appeals        int64 // closed appeals deleted
	// Deferred counts residents whose old facts were kept for now because a
	// status in force still depends on them; a later run deletes them.
	Deferred int64
	// Retained counts reasons kept after the end-of-emergency purge deleted
	// the facts they came from, so that statuses in force do not change.
	Retained int64
	// Changed counts statuses the end-of-emergency purge changed anyway: a
	// reason without an end date whose facts were deleted.
	Changed int64
	// Expired counts retained reasons deleted because they ended.
	Expired int64
	// Notices counts contact notices deleted (sent ones in the outbox and
	// received proposals): they hold movements, kept as long as check-ins.
	Notices int64
}

// String summarises the report in one line, for logs and the audit log.
func (r PurgeReport) String() string {
	kind := "retention purge"
	if r.EndOfEmergency {
		kind = "end-of-emergency purge"
	}
	return fmt.Sprintf("%s: deleted %d check-ins, %d declarations, %d test results, %d recoveries, %d closed appeals, %d ended retained reasons; "+
		"kept the facts of %d residents whose status depends on them; retained %d reasons; %d statuses changed",
		kind, r.CheckIns, r.Declarations, r.TestResults, r.Recoveries, r.Appeals, r.Expired, r.Deferred, r.Retained, r.Changed) + r.noticesString()
}

func (r PurgeReport) noticesString() string {
	if r.Notices == 0 {
		return ""
	}
	return fmt.Sprintf("; deleted %d contact notices", r.Notices)
}

// RetainedReason is a reason kept when the end-of-emergency purge deletes
// the facts it came from while it still runs. The rules treat it as an item
// of its rule with the same text, start and end, so the status does not
// change; it ends on its date (an event that would have ended it earlier,
// such as a negative test after a fever declaration, no longer can, so it can
// be withdrawn like any fact, by appeal or override).
type RetainedReason struct {
	ID         int64
	ResidentID int64
	Reason     Reason
	RetainedAt time.Time
}

// LostReasons returns the reasons of before, dated and still running at now,
// that after does not report (same rule, text, start and end): what a status
// would lose if facts were deleted.
func LostReasons(before, after Status, now time.Time) []Reason {
	var lost []Reason
	for _, r := range before.Reasons {
		if r.Until.IsZero() || !now.Before(r.Until) {
			continue
		}
		found := false
		for _, a := range after.Reasons {
			if a.Rule == r.Rule && a.Message == r.Message && a.Since.Equal(r.Since) && a.Until.Equal(r.Until) {
				found = true
				break
			}
		}
		if !found {
			lost = append(lost, r)
		}
	}
	return lost
}

// SameCourse reports whether two evaluations at one moment show the same
// status and will change at the same moment: what a retention purge must
// keep.
func SameCourse(a, b Status) bool {
	return a.Equivalent(b) && a.ValidUntil.Equal(b.ValidUntil)
}

// RetentionService enforces retention. The server's background job and
// `healthcode purge` call the same methods.
type RetentionService interface {
	// ApplyRetention deletes what is older than its window, except facts a
	// status in force still depends on, and records the purge in the audit
	// log.
	ApplyRetention(ctx context.Context, r Retention) (PurgeReport, error)
	// PurgeEndOfEmergency deletes every check-in and declaration at once,
	// keeping the dated reasons of statuses in force, and records it.
	PurgeEndOfEmergency(ctx context.Context) (PurgeReport, error)
}
