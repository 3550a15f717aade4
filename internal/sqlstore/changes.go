package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"healthcode"
)

// The change feed (healthcode.ChangeFeed). Writers record changes in their
// transaction (recordChange); runTx makes them durable just before the
// commit (SQLite: rows of the changes table; PostgreSQL: pg_notify, which is
// delivered if and only if the transaction commits) and hands them to the
// subscribers right after it. A watcher started by the first Subscribe
// brings other processes' changes: it polls the changes table on SQLite
// and LISTENs on PostgreSQL. When it loses track (an error), it tells the
// subscribers ChangeReset once it is back.

const (
	changePoll     = 100 * time.Millisecond // SQLite
	changeKeep     = time.Hour              // SQLite rows are kept this long
	changeTrimming = time.Minute            // how often old rows go
)

type changeFeed struct {
	// channel is the PostgreSQL NOTIFY channel: healthcode_changes_SCHEMA,
	// so that deployments (and tests) in schemas of one database keep apart.
	channel string

	mu      sync.Mutex
	pending map[*sql.Tx][]healthcode.Change
	subs    []func([]healthcode.Change)
	stop    context.CancelFunc // of the watcher, once started
	done    chan struct{}
}

// recordChange notes a change made in tx.
func (db *DB) recordChange(tx *sql.Tx, kind healthcode.ChangeKind, key int64) {
	f := &db.changes
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[*sql.Tx][]healthcode.Change{}
	}
	f.pending[tx] = append(f.pending[tx], healthcode.Change{Kind: kind, Key: key})
}

// takeChanges removes and returns the changes recorded in tx.
func (db *DB) takeChanges(tx *sql.Tx) []healthcode.Change {
	f := &db.changes
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := f.pending[tx]
	delete(f.pending, tx)
	return cs
}

// writeChanges makes tx's changes part of it, just before its commit.
func (db *DB) writeChanges(ctx context.Context, tx *sql.Tx, cs []healthcode.Change) error {
	if len(cs) == 0 {
		return nil
	}
	now := db.now().UnixMicro()
	if db.engine == postgresEngine {
		// A notification's payload is at most 8000 bytes.
		var b strings.Builder
		send := func() error {
			if b.Len() == 0 {
				return nil
			}
			_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, db.changes.channel, b.String())
			b.Reset()
			return err
		}
		for _, c := range cs {
			if b.Len() > 7000 {
				if err := send(); err != nil {
					return fmt.Errorf("notify changes: %w", err)
				}
			}
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s:%d", c.Kind, c.Key)
		}
		if err := send(); err != nil {
			return fmt.Errorf("notify changes: %w", err)
		}
		return nil
	}
	args := make([]any, 0, 3*len(cs))
	for _, c := range cs {
		args = append(args, string(c.Kind), c.Key, now)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO changes (kind, key, at) VALUES `+db.engine.placeholders(len(cs), 3), args...); err != nil {
		return fmt.Errorf("record changes: %w", err)
	}
	return nil
}

// publish hands changes to the subscribers.
func (db *DB) publish(cs []healthcode.Change) {
	if len(cs) == 0 {
		return
	}
	// The store follows a publication before anyone who caches statuses
	// hears of it (rulesets.go).
	if db.loadRules != nil && slices.ContainsFunc(cs, func(c healthcode.Change) bool {
		return c.Kind == healthcode.ChangeRules || c.Kind == healthcode.ChangeReset
	}) {
		db.syncRulesLogged()
	}
	db.changes.mu.Lock()
	subs := db.changes.subs
	db.changes.mu.Unlock()
	for _, fn := range subs {
		fn(cs)
	}
}

// Subscribe implements healthcode.ChangeFeed. The first call starts the
// watcher of other processes' changes; Close stops it.
func (db *DB) Subscribe(fn func([]healthcode.Change)) {
	f := &db.changes
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs[:len(f.subs):len(f.subs)], fn)
	db.startWatching()
}

// startWatching starts the watcher of other processes' changes, once; the
// caller holds db.changes.mu.
func (db *DB) startWatching() {
	f := &db.changes
	if f.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		if db.engine == postgresEngine {
			db.listenChanges(ctx)
		} else {
			db.pollChanges(ctx)
		}
	}()
}

// stopWatching stops the watcher, if any.
func (db *DB) stopWatching() {
	f := &db.changes
	f.mu.Lock()
	stop, done := f.stop, f.done
	f.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// pollChanges reads the changes table for rows above the last seen, every
// changePoll, and trims rows older than changeKeep every changeTrimming.
func (db *DB) pollChanges(ctx context.Context) {
	var last int64
	for {
		err := db.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM changes`).Scan(&last)
		if err == nil {
			break
		}
		if !sleep(ctx, time.Second) {
			return
		}
	}
	broken := false
	var trimmed time.Time
	for sleep(ctx, changePoll) {
		var cs []healthcode.Change
		err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
			var c healthcode.Change
			var kind string
			err := rows.Scan(&last, &kind, &c.Key)
			c.Kind = healthcode.ChangeKind(kind)
			cs = append(cs, c)
			return err
		}, `SELECT id, kind, key FROM changes WHERE id > $1 ORDER BY id LIMIT 10000`, last)
		if err != nil {
			if !broken && ctx.Err() == nil {
				db.log.Warn("change feed: polling failed; caches are reset when it recovers", "error", err.Error())
			}
			broken = true
			continue
		}
		if broken {
			broken = false
			cs = append(cs, healthcode.Change{Kind: healthcode.ChangeReset})
		}
		db.publish(cs)
		if time.Since(trimmed) > changeTrimming {
			trimmed = time.Now()
			cutoff := db.now().Add(-changeKeep).UnixMicro()
			if _, err := db.write.ExecContext(ctx, `DELETE FROM changes WHERE at < $1`, cutoff); err != nil && ctx.Err() == nil {
				db.log.Warn("change feed: trimming failed", "error", err.Error())
			}
		}
	}
}

// listenChanges LISTENs on a connection of its own and publishes what
// arrives; after losing the connection it tells ChangeReset.
func (db *DB) listenChanges(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, !first)
		first = false
		if ctx.Err() != nil {
			return
		}
		db.log.Warn("change feed: lost the LISTEN connection; caches are reset when it is back", "error", fmt.Sprint(err))
		sleep(ctx, time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, reset bool) error {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{db.changes.channel}.Sanitize()); err != nil {
		return err
	}
	if reset {
		db.publish([]healthcode.Change{{Kind: healthcode.ChangeReset}})
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		db.publish(parseChanges(n.Payload))
	}
}

// parseChanges reads a notification payload, "status:12,session:3"; what it
// cannot read becomes ChangeReset.
func parseChanges(payload string) []healthcode.Change {
	var cs []healthcode.Change
	for item := range strings.SplitSeq(payload, ",") {
		kind, key, ok := strings.Cut(item, ":")
		n, err := strconv.ParseInt(key, 10, 64)
		if !ok || err != nil {
			return []healthcode.Change{{Kind: healthcode.ChangeReset}}
		}
		cs = append(cs, healthcode.Change{Kind: healthcode.ChangeKind(kind), Key: n})
	}
	return cs
}

// sleep waits d, reporting false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// setChangeChannel names the NOTIFY channel after the schema the store
// works in (PostgreSQL).
func (db *DB) setChangeChannel(ctx context.Context) error {
	if db.engine != postgresEngine {
		return nil
	}
	var schema string
	if err := db.write.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	db.changes.channel = "healthcode_changes_" + schema
	return nil
}
