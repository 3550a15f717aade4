package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"healthcode"
)

// The rule set in force (healthcode.RuleSetService). The database says which
// one it is: the latest row of rule_set_publications. The store evaluates
// with an in-memory copy of it (rulesInForce), which it brings up to date
// (syncRules) when it opens, when the change feed announces ChangeRules or
// ChangeReset (before the feed's subscribers hear of it, so that a cache
// they drop is never refilled from the old rules), and when a transaction
// that re-evaluates a status finds a stored status of another version than
// its own (so that two processes never undo each other's re-evaluation
// while the feed is on its way). Without Options.LoadRules the store keeps
// the evaluator it was opened with.

// rulesInForce is the evaluator the store runs and the publication that
// put its rule set in force (0 and the zero time for none).
type rulesInForce struct {
	eval         healthcode.Evaluator
	publication  int64
	publishedAt  time.Time
	fromDatabase bool // false: the evaluator the store was opened with
}

// compiledKeep bounds how many compiled rule sets a store keeps for
// rollbacks.
const compiledKeep = 8

// evaluator returns the evaluator in force.
func (db *DB) evaluator() healthcode.Evaluator { return db.rules.Load().eval }

// Evaluator returns the evaluator the store runs now: the rule set in force
// when the store last heard of a publication.
func (db *DB) Evaluator() healthcode.Evaluator { return db.evaluator() }

// currentPublication reads the latest publication.
func currentPublication(ctx context.Context, q queryer, lock string) (id int64, version string, at time.Time, err error) {
	var micros int64
	err = q.QueryRowContext(ctx, `SELECT id, version, published_at FROM rule_set_publications
ORDER BY id DESC LIMIT 1`+lock).Scan(&id, &version, &micros)
	return id, version, time.UnixMicro(micros).UTC(), err
}

// syncRules makes the store evaluate with the rule set the database has in
// force, reading it in q. Nothing changes when the database has none, or
// when the store has no LoadRules.
func (db *DB) syncRules(ctx context.Context, q queryer) error {
	if db.loadRules == nil {
		return nil
	}
	id, version, at, err := currentPublication(ctx, q, "")
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read the rule set in force: %w", err)
	}
	if db.rules.Load().publication >= id {
		return nil
	}
	// No database access while holding rulesMu: a transaction may call this.
	db.rulesMu.Lock()
	ev := db.compiled[version]
	if cur := db.rules.Load().eval; ev == nil && cur.RuleSet() != nil && cur.RuleSet().Version == version {
		ev = cur
	}
	db.rulesMu.Unlock()
	if ev == nil {
		var source string
		if err := q.QueryRowContext(ctx, `SELECT source FROM rule_sets WHERE version = $1`, version).Scan(&source); err != nil {
			return fmt.Errorf("read rule set %s: %w", version, err)
		}
		if ev, err = db.loadRules([]byte(source)); err != nil {
			return fmt.Errorf("load rule set %s from the database: %w", version, err)
		}
		if got := ev.RuleSet().Version; got != version {
			return fmt.Errorf("load rule set %s from the database: its source has version %s", version, got)
		}
	}
	db.rulesMu.Lock()
	defer db.rulesMu.Unlock()
	cur := db.rules.Load()
	if cur.publication >= id { // another sync got there first, or further
		return nil
	}
	if len(db.compiled) >= compiledKeep {
		clear(db.compiled)
	}
	db.compiled[version] = ev
	db.rules.Store(&rulesInForce{eval: ev, publication: id, publishedAt: at, fromDatabase: true})
	if cur.eval.RuleSet() == nil || cur.eval.RuleSet().Version != version {
		db.log.Info("rule set in force", "version", version, "published_at", at)
	}
	return nil
}

// syncRulesLogged is syncRules for the change feed, which has nobody to
// return an error to: the next status read tries again.
func (db *DB) syncRulesLogged() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.syncRules(ctx, db.read); err != nil {
		db.log.Error("change feed: cannot load the rule set in force; statuses are re-checked on each read until it loads", "error", err.Error())
	}
}

// PublishRuleSet puts rs in force; see healthcode.RuleSetService.
func (db *DB) PublishRuleSet(ctx context.Context, rs *healthcode.RuleSet) error {
	if rs.Version == "" {
		return healthcode.Errorf(healthcode.EINVALID, "publish rule set: the rule set has no version")
	}
	var publishedAt time.Time
	var what string
	err := db.update(ctx, "publish rule set", func(tx *sql.Tx, now time.Time) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO rule_sets (version, name, source, published_at)
VALUES ($1, $2, $3, $4) ON CONFLICT (version) DO NOTHING`,
			rs.Version, rs.Name, string(rs.Source), now.UnixMicro())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		// The latest publication, locked: two publications take turns.
		_, current, at, err := currentPublication(ctx, tx, db.engine.forUpdate)
		switch {
		case err == nil && current == rs.Version:
			publishedAt, what = at, ""
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		rollback := n == 0
		if _, err := tx.ExecContext(ctx, `INSERT INTO rule_set_publications (version, published_at, rollback)
VALUES ($1, $2, $3)`, rs.Version, now.UnixMicro(), rollback); err != nil {
			return err
		}
		what = "rule set " + rs.Version
		switch {
		case rollback && current != "":
			what += " published again, replacing " + current + " (rollback)"
		case current != "":
			what += " published, replacing " + current
		default:
			what += " published"
		}
		db.record(ctx, tx, healthcode.ActionRuleSetPublish, 0, what)
		db.recordChange(tx, healthcode.ChangeRules, 0)
		publishedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	rs.PublishedAt = publishedAt
	if what != "" {
		db.log.Info(what)
	}
	return nil
}

// RuleSetInForce returns the rule set the store evaluates with, first
// catching up with the database.
func (db *DB) RuleSetInForce(ctx context.Context) (*healthcode.RuleSet, error) {
	if err := db.syncRules(ctx, db.read); err != nil {
		return nil, db.wrap("rule set in force", err)
	}
	cur := db.rules.Load()
	rs := *cur.eval.RuleSet()
	rs.PublishedAt = cur.publishedAt
	if !cur.fromDatabase {
		// Opened with an evaluator of its own: say when its version was
		// last put in force, if ever.
		var at sql.NullInt64
		err := db.read.QueryRowContext(ctx, `SELECT MAX(published_at) FROM rule_set_publications WHERE version = $1`, rs.Version).Scan(&at)
		if err != nil {
			return nil, db.wrap("rule set in force", err)
		}
		rs.PublishedAt = instant(at)
	}
	return &rs, nil
}

// FindRuleSet returns a published rule set with its source; see
// healthcode.RuleSetService. Its rules are parsed with LoadRules (or taken
// from the evaluator in force, for its own version).
func (db *DB) FindRuleSet(ctx context.Context, version string) (*healthcode.RuleSet, error) {
	var name, source string
	var at sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT r.name, r.source, (SELECT MAX(p.published_at) FROM rule_set_publications p WHERE p.version = r.version)
FROM rule_sets r WHERE r.version = $1`, version).Scan(&name, &source, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, healthcode.Errorf(healthcode.ENOTFOUND, "rule set %s was never published", version)
	} else if err != nil {
		return nil, db.wrap("find rule set", err)
	}
	var rs healthcode.RuleSet
	if ev := db.compiledRuleSet(version); ev != nil {
		rs = *ev.RuleSet()
	} else if ev, err := db.loadRulesOf(source); err == nil {
		rs = *ev.RuleSet()
	} else {
		// Kept as published even if this binary cannot parse it (an older
		// language): the document, without its rules.
		if db.loadRules != nil {
			db.log.Warn("a published rule set does not load", "version", version, "error", err.Error())
		}
		rs = healthcode.RuleSet{Version: version, Name: name, Source: []byte(source)}
	}
	rs.PublishedAt = instant(at)
	return &rs, nil
}

// loadRulesOf compiles a stored document, if the store can.
func (db *DB) loadRulesOf(source string) (healthcode.Evaluator, error) {
	if db.loadRules == nil {
		return nil, errors.New("the store was opened without LoadRules")
	}
	return db.loadRules([]byte(source))
}

// compiledRuleSet returns a compiled rule set of this version the store
// holds, or nil.
func (db *DB) compiledRuleSet(version string) healthcode.Evaluator {
	if ev := db.evaluator(); ev.RuleSet() != nil && ev.RuleSet().Version == version {
		return ev
	}
	db.rulesMu.Lock()
	defer db.rulesMu.Unlock()
	return db.compiled[version]
}

// ListRuleSetPublications returns every publication, newest first.
func (db *DB) ListRuleSetPublications(ctx context.Context) ([]healthcode.RuleSetPublication, error) {
	out := []healthcode.RuleSetPublication{}
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		var p healthcode.RuleSetPublication
		var at int64
		if err := rows.Scan(&p.ID, &p.Version, &p.Name, &at, &p.Rollback); err != nil {
			return err
		}
		p.At = time.UnixMicro(at).UTC()
		out = append(out, p)
		return nil
	}, `SELECT p.id, p.version, r.name, p.published_at, p.rollback
FROM rule_set_publications p JOIN rule_sets r ON r.version = p.version ORDER BY p.id DESC`)
	if err != nil {
		return nil, db.wrap("list rule set publications", err)
	}
	if len(out) > 0 {
		out[0].Current = true
	}
	return out, nil
}

// RefreshOutdatedStatuses re-evaluates up to limit stored statuses that an
// earlier rule set computed, in transactions of staleChunk residents, and
// returns how many it re-evaluated: 0 when none is left. The server calls
// it in the background after a publication, so that counts and status
// lists catch up without anyone waiting; a status read before that is
// re-evaluated on the read.
func (db *DB) RefreshOutdatedStatuses(ctx context.Context, limit int) (int, error) {
	if err := db.syncRules(ctx, db.read); err != nil {
		return 0, db.wrap("refresh outdated statuses", err)
	}
	version := db.ruleSetVersion()
	var ids []int64
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		ids = append(ids, id)
		return err
	}, `SELECT resident_id FROM statuses WHERE rule_set_version <> $1 ORDER BY resident_id LIMIT $2`, version, limit)
	if err != nil {
		return 0, db.wrap("refresh outdated statuses", err)
	}
	done := 0
	for chunk := range slices.Chunk(ids, staleChunk) {
		if _, err := db.refreshStale(ctx, "refresh outdated statuses", chunk); err != nil {
			if healthcode.ErrorCode(err) == healthcode.ENOTFOUND { // a resident purged meanwhile
				continue
			}
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}
