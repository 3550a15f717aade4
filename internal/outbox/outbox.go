// Package outbox runs the delivery loop shared by the outboxes the server
// drains in the background (the notifications webhook, contact notices to
// other regions): claim a batch of due items, try each, and claim again at
// once while batches come back full, else wait for the next poll.
package outbox

import (
	"context"
	"log/slog"
	"time"
)

// Run calls deliverDue every poll until ctx ends, and again at once as long
// as it claims a full batch. A failed claim is logged as what ("webhook
// notifications") and retried at the next poll.
func Run(ctx context.Context, poll time.Duration, batch int, deliverDue func(context.Context) (int, error), log *slog.Logger, what string) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for {
			n, err := deliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn(what+": claiming failed", "error", err.Error())
			}
			if err != nil || n < batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
