// Package outbox is what the server's background delivery workers share
// (the notifications webhook, contact notices to other regions): their
// settings, and the loop that drains an outbox: claim a batch of due items,
// try each, and claim again at once while batches come back full, else
// wait for the next poll.
package outbox

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"healthcode"
)

// Settings are a delivery worker's connection, clock, log and pace. Zero
// values take defaults (Fill).
type Settings struct {
	Client     *http.Client     // default: the worker's own timeout
	Clock      healthcode.Clock // default: the wall clock
	Log        *slog.Logger     // default: discard
	Poll       time.Duration    // how often to look for due items; default 2 s
	MinBackoff time.Duration    // wait after the first failure; default 5 s
	MaxBackoff time.Duration    // the longest wait between attempts; default 1 h
	Batch      int              // items claimed at once; default the worker's
	Lease      time.Duration    // how long a claim holds; default the worker's
}

// Fill gives the unset settings their defaults; timeout, batch and lease
// are the worker's own.
func (s *Settings) Fill(timeout time.Duration, batch int, lease time.Duration) {
	if s.Client == nil {
		s.Client = &http.Client{Timeout: timeout}
	}
	if s.Clock == nil {
		s.Clock = healthcode.SystemClock
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Poll <= 0 {
		s.Poll = 2 * time.Second
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = 5 * time.Second
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = max(time.Hour, s.MinBackoff)
	}
	if s.Batch <= 0 {
		s.Batch = batch
	}
	if s.Lease <= 0 {
		s.Lease = lease
	}
}

// Run calls deliverDue every Poll until ctx ends, and again at once as long
// as it claims a full batch. A failed claim is logged as what ("webhook
// notifications") and retried at the next poll.
func (s *Settings) Run(ctx context.Context, deliverDue func(context.Context) (int, error), what string) error {
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		for {
			n, err := deliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				s.Log.Warn(what+": claiming failed", "error", err.Error())
			}
			if err != nil || n < s.Batch {
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
