package sqlstore

import (
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"

	"healthcode"
)

// changeLog collects what a subscriber is told.
type changeLog struct {
	mu sync.Mutex
	cs []healthcode.Change
}

func (l *changeLog) add(cs []healthcode.Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cs = append(l.cs, cs...)
}

func (l *changeLog) count(c healthcode.Change) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.cs {
		if x == c {
			n++
		}
	}
	return n
}

// eventually waits up to 10 s for the log to have c n times (1 if not given).
func (l *changeLog) eventually(t *testing.T, what string, c healthcode.Change, n ...int) {
	t.Helper()
	want := append(n, 1)[0]
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l.count(c) >= want {
			return
		}
	}
	t.Errorf("%s: another process never heard of %+v", what, c)
}

func testChangeFeed(t *testing.T, e *env) {
	other := e.open(t, e.eval) // another server on the same database
	var here, there changeLog
	e.db.Subscribe(here.add)
	other.Subscribe(there.add)
	time.Sleep(300 * time.Millisecond) // the watchers start

	// A status that changes: this process knows before the call returns.
	r := e.enroll(t)
	status := healthcode.Change{Kind: healthcode.ChangeStatus, Key: r.ID}
	there.eventually(t, "enrollment", status, 1)
	d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.2, Symptoms: []healthcode.Symptom{healthcode.Fever}}
	hereBefore := here.count(status)
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
	if here.count(status) == hereBefore {
		t.Errorf("the writing process was not told of %+v when the call returned", status)
	}
	there.eventually(t, "status", status, 2)

	// A status that stays the same is no change. (The other process hears
	// of each change once; on PostgreSQL this one hears of its own twice,
	// at the commit and from its LISTEN.)
	calm := &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.3, Symptoms: []healthcode.Symptom{healthcode.Fever}}
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, calm))
	time.Sleep(500 * time.Millisecond)
	if n := there.count(status); n != 2 {
		t.Errorf("%d status changes announced, want 2 (the enrollment and the fever; the second declaration changed nothing)", n)
	}

	// Sign-out, token revocation and a rule-set publication.
	sess := &healthcode.Session{ResidentID: r.ID, Hash: []byte("change-feed-session-hash"), CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)}
	if err := e.db.CreateSession(e.ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := e.db.DeleteSession(e.ctx, sess.Hash); err != nil {
		t.Fatal(err)
	}
	there.eventually(t, "session", healthcode.Change{Kind: healthcode.ChangeSession, Key: sess.ID})
	tok := &healthcode.APIToken{Name: "gate", Role: healthcode.RoleCheckpoint, Hash: []byte("change-feed-token-hash")}
	if err := e.db.CreateAPIToken(e.ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RevokeAPIToken(e.ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	there.eventually(t, "token", healthcode.Change{Kind: healthcode.ChangeToken, Key: tok.ID})
	rs := &healthcode.RuleSet{Version: "change-feed-test", Name: "test", Source: []byte("rules: []")}
	if err := e.db.PublishRuleSet(e.ctx, rs); err != nil {
		t.Fatal(err)
	}
	there.eventually(t, "rules", healthcode.Change{Kind: healthcode.ChangeRules})

	// A failed transaction announces nothing. (Other changes may still
	// arrive meanwhile: on PostgreSQL this process also hears its own
	// earlier ones through LISTEN.)
	err := e.db.update(e.ctx, "fail", func(tx *sql.Tx, _ time.Time) error {
		e.db.recordChange(tx, healthcode.ChangeStatus, 999999)
		return healthcode.Errorf(healthcode.EINVALID, "on purpose")
	})
	time.Sleep(200 * time.Millisecond)
	failed := healthcode.Change{Kind: healthcode.ChangeStatus, Key: 999999}
	if err == nil || here.count(failed) != 0 || there.count(failed) != 0 || len(e.db.changes.pending) != 0 {
		t.Errorf("a failed transaction: %v, announced here %d times, there %d times, pending %d", err,
			here.count(failed), there.count(failed), len(e.db.changes.pending))
	}

	// PostgreSQL: a lost LISTEN connection comes back with a reset.
	if e.db.Engine() == "postgres" {
		if _, err := e.db.write.ExecContext(e.ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND query = $1 AND pid <> pg_backend_pid()`, `LISTEN "`+e.db.changes.channel+`"`); err != nil {
			t.Fatal(err)
		}
		there.eventually(t, "reconnect", healthcode.Change{Kind: healthcode.ChangeReset})
	}
}

func TestParseChanges(t *testing.T) {
	got := parseChanges("status:12,session:3,rules:0")
	want := []healthcode.Change{{Kind: healthcode.ChangeStatus, Key: 12}, {Kind: healthcode.ChangeSession, Key: 3}, {Kind: healthcode.ChangeRules}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"", "status", "status:x", "status:1,,"} {
		if got := parseChanges(bad); len(got) != 1 || got[0].Kind != healthcode.ChangeReset {
			t.Errorf("%q: %+v, want a reset", bad, got)
		}
	}
}
