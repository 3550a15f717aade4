package outbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRun: full batches are claimed again at once, a short one waits for
// the next poll, a failed claim is logged and retried, and Run returns when
// its context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// What each call claims: two full batches and a short one in the first
	// round, a failure, then nothing.
	script := []any{3, 3, 1, errors.New("database is locked"), 0}
	calls := 0
	done := make(chan error, 1)
	deliverDue := func(context.Context) (int, error) {
		defer func() { calls++ }()
		if calls >= len(script) {
			cancel()
			return 0, nil
		}
		switch v := script[calls].(type) {
		case error:
			return 0, v
		default:
			return v.(int), nil
		}
	}
	s := &Settings{Poll: time.Millisecond, Batch: 3, Log: log}
	go func() { done <- s.Run(ctx, deliverDue, "test items") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
	if calls != len(script)+1 {
		t.Errorf("%d calls, want %d", calls, len(script)+1)
	}
	if !strings.Contains(logs.String(), "test items: claiming failed") || !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("the failed claim was not logged: %s", logs.String())
	}
}
