package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"healthcode"
)

const statusColumns = `color, vaccinated, reasons, computed_at, valid_until, rule_set_version`

// scanStatus reads statusColumns (then extra).
func (db *DB) scanStatus(s scanner, extra ...any) (healthcode.Status, error) {
	var st healthcode.Status
	var color, reasons string
	var computed, validUntil sql.NullInt64
	dest := append([]any{&color, &st.Vaccinated, &reasons, &computed, &validUntil, &st.RuleSetVersion}, extra...)
	if err := s.Scan(dest...); err != nil {
		return healthcode.Status{}, err
	}
	st.Color, st.ComputedAt, st.ValidUntil = healthcode.Color(color), instant(computed), instant(validUntil)
	if err := json.Unmarshal([]byte(reasons), &st.Reasons); err != nil {
		return healthcode.Status{}, fmt.Errorf("status reasons: %w", err)
	}
	return normalizeStatus(st), nil
}

// normalizeStatus gives a status the form it has when read back from the
// database: times in UTC at microsecond precision, no empty reason list.
func normalizeStatus(st healthcode.Status) healthcode.Status {
	utc := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC()
	}
	st.ComputedAt, st.ValidUntil = utc(truncate(st.ComputedAt)), utc(truncate(st.ValidUntil))
	if len(st.Reasons) == 0 {
		st.Reasons = nil
	}
	for i := range st.Reasons {
		st.Reasons[i] = normalizeReason(st.Reasons[i])
	}
	return st
}

// normalizeReason gives a reason the form it has when read back: times in
// UTC.
func normalizeReason(r healthcode.Reason) healthcode.Reason {
	if !r.Since.IsZero() {
		r.Since = r.Since.UTC()
	}
	if !r.Until.IsZero() {
		r.Until = r.Until.UTC()
	}
	return r
}

// fresh reports whether a cached status may be shown at now: it has not
// passed its ValidUntil and the evaluator runs the rule set it came from. A
// status without a ValidUntil is never fresh.
func fresh(st healthcode.Status, now time.Time, version string) bool {
	return now.Before(st.ValidUntil) && st.RuleSetVersion == version
}

func (db *DB) ruleSetVersion() string {
	if rs := db.evaluator().RuleSet(); rs != nil {
		return rs.Version
	}
	return ""
}

// CurrentStatus returns the resident's status. When the cached one is fresh
// that is a single read by primary key; otherwise the status is re-evaluated
// and stored, and a change is added to the history with its cause (the rules
// that started or ended, or the newly published rule set).
func (db *DB) CurrentStatus(ctx context.Context, residentID int64) (healthcode.Status, error) {
	version := db.ruleSetVersion()
	st, err := db.scanStatus(db.readRow(ctx,
		`SELECT `+statusColumns+` FROM statuses WHERE resident_id = $1`, residentID))
	switch {
	case err == nil && fresh(st, db.now(), version):
		return st, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return healthcode.Status{}, db.wrap("current status", err)
	}
	sts, err := db.refreshStale(ctx, "current status", []int64{residentID})
	if err != nil {
		return healthcode.Status{}, err
	}
	return sts[0], nil
}

// refreshStale returns the current statuses of the residents (distinct ids,
// in ascending order so that two callers never wait for each other), in one
// write transaction: each resident is locked, and their status re-evaluated
// and stored unless another request refreshed it meanwhile. This is the slow
// path of CurrentStatus, for statuses that were not fresh when read.
func (db *DB) refreshStale(ctx context.Context, op string, residentIDs []int64) ([]healthcode.Status, error) {
	sts := make([]healthcode.Status, len(residentIDs))
	err := db.update(ctx, op, func(tx *sql.Tx, now time.Time) error {
		// A status of another version than ours may come from a process
		// that already follows a newer publication: catch up first.
		if err := db.syncRules(ctx, tx); err != nil {
			return err
		}
		version := db.ruleSetVersion()
		for i, id := range residentIDs {
			if err := db.lockResident(ctx, tx, id); err != nil {
				return err
			}
			prev, err := db.scanStatus(tx.QueryRowContext(ctx,
				`SELECT `+statusColumns+` FROM statuses WHERE resident_id = $1`, id))
			if err == nil && fresh(prev, now, version) {
				sts[i] = prev
				continue
			} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if sts[i], err = db.refreshStatus(ctx, tx, now, id, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sts, nil
}

// refreshStatus evaluates the resident's facts at now, stores the status and,
// when it is not Equivalent to the stored one (or there was none), appends it
// to the history with cause; an empty cause is derived from the difference.
// The caller holds the resident's lock.
func (db *DB) refreshStatus(ctx context.Context, tx *sql.Tx, now time.Time, residentID int64, cause string) (healthcode.Status, error) {
	prev, err := db.scanStatus(tx.QueryRowContext(ctx,
		`SELECT `+statusColumns+` FROM statuses WHERE resident_id = $1`, residentID))
	hadPrev := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return healthcode.Status{}, err
	}
	if hadPrev && prev.RuleSetVersion != db.ruleSetVersion() {
		// Another process may follow a newer publication (refreshStale).
		if err := db.syncRules(ctx, tx); err != nil {
			return healthcode.Status{}, err
		}
	}
	facts, err := db.loadFacts(ctx, tx, residentID)
	if err != nil {
		return healthcode.Status{}, err
	}
	st, reasons, err := db.evaluate(facts, now)
	if err != nil {
		return healthcode.Status{}, err
	}

	_, err = tx.ExecContext(ctx, `INSERT INTO statuses (resident_id, color, vaccinated, reasons, computed_at,
    valid_until, rule_set_version)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (resident_id) DO UPDATE SET color = excluded.color, vaccinated = excluded.vaccinated,
    reasons = excluded.reasons, computed_at = excluded.computed_at, valid_until = excluded.valid_until,
    rule_set_version = excluded.rule_set_version`,
		residentID, string(st.Color), st.Vaccinated, string(reasons), now.UnixMicro(), micros(st.ValidUntil),
		st.RuleSetVersion)
	if err != nil {
		return healthcode.Status{}, fmt.Errorf("store status: %w", err)
	}
	if hadPrev && st.Equivalent(prev) {
		return st, nil
	}
	db.recordChange(tx, healthcode.ChangeStatus, residentID)
	switch {
	case cause != "":
	case !hadPrev:
		cause = "first evaluation"
	default:
		cause = changeCause(prev, st)
	}
	var historyID int64
	err = tx.QueryRowContext(ctx, `INSERT INTO status_history (resident_id, at, color, vaccinated, reasons,
    valid_until, rule_set_version, cause)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		residentID, now.UnixMicro(), string(st.Color), st.Vaccinated, string(reasons), micros(st.ValidUntil),
		st.RuleSetVersion, cause).Scan(&historyID)
	if err != nil {
		return healthcode.Status{}, fmt.Errorf("append status history: %w", err)
	}
	// By reference only: the colour and the cause are health data.
	db.record(ctx, tx, healthcode.ActionStatusChange, residentID, fmt.Sprintf("status history %d", historyID))
	// A new rule set that shows the resident the same thing is in the
	// history (it names the version) but is not worth a message.
	shown := st
	shown.RuleSetVersion = prev.RuleSetVersion
	if hadPrev && !shown.Equivalent(prev) {
		if err := db.notifyStatus(ctx, tx, now, residentID, st); err != nil {
			return healthcode.Status{}, err
		}
	}
	return st, nil
}

// evaluate runs the rules on a resident's facts at now and returns the
// status as it reads back from the database, with its reasons encoded.
func (db *DB) evaluate(facts *healthcode.Facts, now time.Time) (healthcode.Status, []byte, error) {
	id := facts.Resident.ID
	st, err := db.evaluator().Evaluate(facts, now)
	if err != nil {
		return healthcode.Status{}, nil, fmt.Errorf("evaluate status of resident %d: %w", id, err)
	}
	if st.Color.Severity() < 0 {
		return healthcode.Status{}, nil, fmt.Errorf("evaluate status of resident %d: unknown colour %q", id, st.Color)
	}
	// Return what reads back the same.
	st.ComputedAt = now
	if st.RuleSetVersion == "" {
		st.RuleSetVersion = db.ruleSetVersion()
	}
	st = normalizeStatus(st)
	reasons, err := json.Marshal(nonNil(st.Reasons))
	if err != nil {
		return healthcode.Status{}, nil, fmt.Errorf("encode reasons: %w", err)
	}
	return st, reasons, nil
}

// changeCause explains a change that no new fact caused: a newly published
// rule set, or time passing so that rules ended, started or changed (another
// item of theirs is now the one reported, or its end moved).
func changeCause(prev, next healthcode.Status) string {
	if prev.RuleSetVersion != next.RuleSetVersion {
		return "rule set " + next.RuleSetVersion + " published"
	}
	var ended, started, changed []string
	add := func(list *[]string, id string) {
		if !slices.Contains(*list, id) {
			*list = append(*list, id)
		}
	}
	find := func(st healthcode.Status, id string) []healthcode.Reason {
		var rs []healthcode.Reason
		for _, r := range st.Reasons {
			if r.Rule == id {
				rs = append(rs, r)
			}
		}
		return rs
	}
	same := func(a, b []healthcode.Reason) bool {
		return slices.EqualFunc(a, b, func(x, y healthcode.Reason) bool {
			return x.Message == y.Message && x.Since.Equal(y.Since) && x.Until.Equal(y.Until)
		})
	}
	for _, r := range prev.Reasons {
		if after := find(next, r.Rule); len(after) == 0 {
			add(&ended, r.Rule)
		} else if !same(find(prev, r.Rule), after) {
			add(&changed, r.Rule)
		}
	}
	for _, r := range next.Reasons {
		if len(find(prev, r.Rule)) == 0 {
			add(&started, r.Rule)
		}
	}
	var parts []string
	for _, c := range []struct {
		ids  []string
		verb string
	}{{ended, "ended"}, {started, "started"}, {changed, "changed"}} {
		switch len(c.ids) {
		case 0:
		case 1:
			parts = append(parts, "rule "+c.ids[0]+" "+c.verb)
		default:
			parts = append(parts, "rules "+strings.Join(c.ids, ", ")+" "+c.verb)
		}
	}
	if len(parts) == 0 {
		return "time: re-evaluated"
	}
	return "time: " + strings.Join(parts, "; ")
}

// StatusHistory returns every change of the resident's status, oldest
// first; ENOTFOUND if there is no such resident.
func (db *DB) StatusHistory(ctx context.Context, residentID int64) ([]healthcode.StatusChange, error) {
	var hs []healthcode.StatusChange
	err := db.view(ctx, "status history", func(tx *sql.Tx, _ time.Time) error {
		var err error
		if hs, err = db.history(ctx, tx, residentID); err != nil || len(hs) > 0 {
			return err
		}
		if ok, err := residentExists(ctx, tx, residentID); err != nil {
			return err
		} else if !ok {
			return residentNotFound(residentID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if hs == nil {
		hs = []healthcode.StatusChange{}
	}
	return hs, nil
}

// history reads the resident's status history in q, oldest first.
func (db *DB) history(ctx context.Context, q queryer, residentID int64) ([]healthcode.StatusChange, error) {
	var hs []healthcode.StatusChange
	err := queryAll(ctx, q, func(rows *sql.Rows) error {
		c := healthcode.StatusChange{ResidentID: residentID}
		var err error
		c.Status, err = db.scanStatus(rows, &c.ID, &c.Cause)
		c.At = c.Status.ComputedAt
		hs = append(hs, c)
		return err
	}, `SELECT color, vaccinated, reasons, at, valid_until, rule_set_version, id, cause
FROM status_history WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("status history: %w", err)
	}
	return hs, nil
}
