package main

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"healthcode"
	"healthcode/internal/sqlstore"
)

// outdatedBatch is how many statuses of an earlier rule set the background
// catch-up re-evaluates between pauses, and outdatedPause the pause, which
// leaves the database to the requests in between.
const (
	outdatedBatch = 512
	outdatedPause = 50 * time.Millisecond
)

// runRuleCatchUp re-evaluates, in the background, the stored statuses that an
// earlier rule set computed: at start, and after each publication (by any
// process) until none is left. A status read before its turn is
// re-evaluated on the read, so this only makes counts, the status list and
// notifications catch up without a publication waiting for a million
// evaluations.
func runRuleCatchUp(ctx context.Context, db *sqlstore.DB, log *slog.Logger) {
	wake := make(chan struct{}, 1)
	db.Subscribe(func(cs []healthcode.Change) {
		if slices.ContainsFunc(cs, func(c healthcode.Change) bool {
			return c.Kind == healthcode.ChangeRules || c.Kind == healthcode.ChangeReset
		}) {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	for {
		total, started := 0, time.Now()
		for ctx.Err() == nil {
			n, err := db.RefreshOutdatedStatuses(ctx, outdatedBatch)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("re-evaluating statuses of an earlier rule set failed; will try again at the next publication or start",
						"error", err.Error(), "done", total)
				}
				break
			}
			if n == 0 {
				break
			}
			total += n
			if !sleepCtx(ctx, outdatedPause) {
				return
			}
		}
		if total > 0 {
			log.Info("statuses of an earlier rule set re-evaluated", "count", total, "took", time.Since(started).String())
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
