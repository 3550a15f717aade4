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

// Appeals, overrides and the withdrawals of facts they make. A withdrawn fact
// stays in its table and in the export; loadFacts leaves it out, so the rules
// no longer see it, and the status is recomputed by refreshStatus like after
// any other fact.

// factTables maps each fact kind to the table that holds it.
var factTables = map[healthcode.FactKind]string{
	healthcode.FactDeclaration:        "declarations",
	healthcode.FactTestResult:         "test_results",
	healthcode.FactVaccination:        "vaccinations",
	healthcode.FactRecovery:           "recoveries",
	healthcode.FactCase:               "cases",
	healthcode.FactContactDesignation: "contact_designations",
	healthcode.FactRetainedReason:     "retained_reasons",
}

// factOwner returns the resident a fact belongs to; ENOTFOUND if there is
// no such fact.
func factOwner(ctx context.Context, q queryer, f healthcode.FactRef) (int64, error) {
	table, ok := factTables[f.Kind]
	if !ok {
		return 0, healthcode.Errorf(healthcode.EINVALID, "%q is not a kind of fact", f.Kind)
	}
	var owner int64
	err := q.QueryRowContext(ctx, `SELECT resident_id FROM `+table+` WHERE id = $1`, f.ID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, healthcode.Errorf(healthcode.ENOTFOUND, "%s not found", f)
	}
	return owner, err
}

// withdrawn returns the facts of the resident that no longer count.
func withdrawn(ctx context.Context, q queryer, residentID int64) ([]healthcode.Withdrawal, error) {
	var ws []healthcode.Withdrawal
	err := queryAll(ctx, q, func(rows *sql.Rows) error {
		var w healthcode.Withdrawal
		var kind string
		var at int64
		err := rows.Scan(&kind, &w.Fact.ID, &at, &w.By)
		w.Fact.Kind, w.At = healthcode.FactKind(kind), time.UnixMicro(at).UTC()
		ws = append(ws, w)
		return err
	}, `SELECT fact_kind, fact_id, withdrawn_at, source FROM withdrawals WHERE resident_id = $1
ORDER BY withdrawn_at, fact_kind, fact_id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load withdrawals: %w", err)
	}
	return ws, nil
}

// withdraw records that a fact of the resident no longer counts, by source
// ("override 4", "appeal 3"), and audits it. ECONFLICT if it already does not.
func (db *DB) withdraw(ctx context.Context, tx *sql.Tx, f healthcode.FactRef, residentID int64, now time.Time, source string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM withdrawals WHERE fact_kind = $1 AND fact_id = $2`,
		string(f.Kind), f.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return healthcode.Errorf(healthcode.ECONFLICT, "%s was already withdrawn", f)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO withdrawals (fact_kind, fact_id, resident_id, withdrawn_at, source)
VALUES ($1, $2, $3, $4, $5)`, string(f.Kind), f.ID, residentID, now.UnixMicro(), source); err != nil {
		return fmt.Errorf("withdraw %s: %w", f, err)
	}
	db.record(ctx, tx, healthcode.ActionFactWithdraw, residentID, fmt.Sprintf("%s (%s)", f, source))
	return nil
}

// review evaluates the resident's facts at now without storing the
// status: what a reviewer is shown.
func (db *DB) review(ctx context.Context, q queryer, residentID int64, now time.Time) (*healthcode.Review, error) {
	facts, err := db.loadFacts(ctx, q, residentID)
	if err != nil {
		return nil, err
	}
	st, _, err := db.evaluate(facts, now)
	if err != nil {
		return nil, err
	}
	return &healthcode.Review{ResidentID: residentID, Status: st, Facts: facts}, nil
}

const appealColumns = `id, resident_id, filed_by, rule, fact_kind, fact_id, what, why, evidence, filed_at, deadline,
    state, decided_at, decided_by, decision_reason, withdrawn_kind, withdrawn_id`

func scanAppeal(s scanner) (healthcode.Appeal, error) {
	var a healthcode.Appeal
	var factKind, state, withdrawnKind string
	var filed, deadline, decided sql.NullInt64
	err := s.Scan(&a.ID, &a.ResidentID, &a.FiledBy, &a.Rule, &factKind, &a.Fact.ID, &a.What, &a.Why, &a.Evidence,
		&filed, &deadline, &state, &decided, &a.DecidedBy, &a.DecisionReason, &withdrawnKind, &a.Withdrawn.ID)
	a.Fact.Kind, a.State, a.Withdrawn.Kind = healthcode.FactKind(factKind), healthcode.AppealState(state), healthcode.FactKind(withdrawnKind)
	a.FiledAt, a.Deadline, a.DecidedAt = instant(filed), instant(deadline), instant(decided)
	return a, err
}

func (db *DB) findAppeal(ctx context.Context, q queryer, id int64, lock bool) (*healthcode.Appeal, error) {
	query := `SELECT ` + appealColumns + ` FROM appeals WHERE id = $1`
	if lock {
		query += db.engine.forUpdate
	}
	a, err := scanAppeal(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, healthcode.Errorf(healthcode.ENOTFOUND, "appeal %d not found", id)
	} else if err != nil {
		return nil, err
	}
	return &a, nil
}

// FileAppeal records an appeal, filling in ID, FiledAt, Deadline (FiledAt +
// within) and State. A fact it names must be the resident's (ENOTFOUND
// otherwise); a rule it names must be in the rule set in force (EINVALID).
// ECONFLICT when the resident already has MaxOpenAppeals open.
func (db *DB) FileAppeal(ctx context.Context, a *healthcode.Appeal, within time.Duration) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if within <= 0 {
		return healthcode.Errorf(healthcode.EINVALID, "file appeal: the deadline must be positive, not %s", within)
	}
	if a.Rule != "" {
		if rs := db.evaluator().RuleSet(); rs != nil && !slices.ContainsFunc(rs.Rules, func(r healthcode.Rule) bool { return r.ID == a.Rule }) {
			return healthcode.Errorf(healthcode.EINVALID, "invalid appeal: rule: %q is not a rule of the rule set in force (GET /api/v1/rules)", a.Rule)
		}
	}
	out := *a
	err := db.update(ctx, "file appeal", func(tx *sql.Tx, now time.Time) error {
		if err := db.lockResident(ctx, tx, a.ResidentID); err != nil {
			return err
		}
		if !a.Fact.IsZero() {
			owner, err := factOwner(ctx, tx, a.Fact)
			if err != nil {
				return err
			}
			if owner != a.ResidentID {
				return healthcode.Errorf(healthcode.ENOTFOUND, "%s is not one of resident %d's facts", a.Fact, a.ResidentID)
			}
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM appeals WHERE resident_id = $1 AND state = $2`,
			a.ResidentID, string(healthcode.AppealOpen)).Scan(&open); err != nil {
			return err
		}
		if open >= healthcode.MaxOpenAppeals {
			return healthcode.Errorf(healthcode.ECONFLICT, "resident %d already has %d open appeals: wait for a decision on them first", a.ResidentID, open)
		}
		out.FiledAt, out.Deadline, out.State = now, truncate(now.Add(within)), healthcode.AppealOpen
		if out.FiledBy == 0 {
			out.FiledBy = a.ResidentID
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO appeals (resident_id, filed_by, rule, fact_kind, fact_id, what, why,
    evidence, filed_at, deadline, state, decided_at, decided_by, decision_reason, withdrawn_kind, withdrawn_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, '', '', '', 0) RETURNING id`,
			out.ResidentID, out.FiledBy, out.Rule, string(out.Fact.Kind), out.Fact.ID, out.What, out.Why, out.Evidence,
			now.UnixMicro(), out.Deadline.UnixMicro(), string(out.State)).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert appeal: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionAppealFile, out.ResidentID, fmt.Sprintf("appeal %d", out.ID))
		return nil
	})
	if err != nil {
		return err
	}
	*a = out
	return nil
}

func (db *DB) listAppeals(ctx context.Context, q queryer, where string, args ...any) ([]healthcode.Appeal, error) {
	out := []healthcode.Appeal{}
	err := queryAll(ctx, q, func(rows *sql.Rows) error {
		a, err := scanAppeal(rows)
		out = append(out, a)
		return err
	}, `SELECT `+appealColumns+` FROM appeals WHERE `+where, args...)
	return out, err
}

// ListAppeals returns the resident's appeals, newest first; ENOTFOUND for
// an unknown resident.
func (db *DB) ListAppeals(ctx context.Context, residentID int64) ([]healthcode.Appeal, error) {
	var out []healthcode.Appeal
	err := db.view(ctx, "list appeals", func(tx *sql.Tx, _ time.Time) error {
		if ok, err := residentExists(ctx, tx, residentID); err != nil {
			return err
		} else if !ok {
			return residentNotFound(residentID)
		}
		var err error
		out, err = db.listAppeals(ctx, tx, `resident_id = $1 ORDER BY id DESC`, residentID)
		return err
	})
	return out, err
}

// maxQueue bounds a reviewer's queue page.
const maxQueue = 500

// AppealQueue returns the appeals in state, the earliest deadline first.
func (db *DB) AppealQueue(ctx context.Context, state healthcode.AppealState) ([]healthcode.Appeal, error) {
	out, err := db.listAppeals(ctx, db.read, `state = $1 ORDER BY deadline, id LIMIT $2`, string(state), maxQueue)
	if err != nil {
		return nil, db.wrap("appeal queue", err)
	}
	return out, nil
}

// ReviewAppeal returns the appeal, and its resident's status and facts as
// they are now, recording acc in the audit log in the same transaction.
func (db *DB) ReviewAppeal(ctx context.Context, acc healthcode.Access, id int64) (*healthcode.Appeal, *healthcode.Review, error) {
	if err := acc.Validate(); err != nil {
		return nil, nil, err
	}
	var a *healthcode.Appeal
	var rv *healthcode.Review
	err := db.update(ctx, "review appeal", func(tx *sql.Tx, now time.Time) error {
		var err error
		if a, err = db.findAppeal(ctx, tx, id, false); err != nil {
			return err
		}
		if rv, err = db.review(ctx, tx, a.ResidentID, now); err != nil {
			return err
		}
		db.readAccess(tx, acc, a.ResidentID, fmt.Sprintf("appeal %d, with the status and facts it concerns", id))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return a, rv, nil
}

// DecideAppeal records a reviewer's decision on an open appeal. Upholding it
// withdraws the fact (the decision's, or else the appeal's) and recomputes the
// status with the appeal as the cause; either way the resident is notified
// with the reviewer's reason. ECONFLICT if the appeal was already decided or
// the fact already withdrawn; EFORBIDDEN unless d.By is a reviewer.
func (db *DB) DecideAppeal(ctx context.Context, id int64, d healthcode.AppealDecision) (*healthcode.Appeal, healthcode.Status, error) {
	if err := d.Validate(); err != nil {
		return nil, healthcode.Status{}, err
	}
	if d.By.Role != healthcode.RoleReviewer {
		return nil, healthcode.Status{}, healthcode.Errorf(healthcode.EFORBIDDEN, "only the reviewer role may decide an appeal")
	}
	var out *healthcode.Appeal
	var st healthcode.Status
	err := db.update(ctx, "decide appeal", func(tx *sql.Tx, now time.Time) error {
		a, err := db.findAppeal(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, a.ResidentID); err != nil {
			return err
		}
		if a, err = db.findAppeal(ctx, tx, id, true); err != nil {
			return err
		}
		if a.State != healthcode.AppealOpen {
			return healthcode.Errorf(healthcode.ECONFLICT, "appeal %d was already %s on %s", id, a.State, a.DecidedAt.Format(time.RFC3339))
		}
		a.State, a.DecidedAt, a.DecidedBy, a.DecisionReason = healthcode.AppealRejected, now, d.By.Name, d.Reason
		if d.Uphold {
			a.State = healthcode.AppealUpheld
			target := d.Withdraw
			if target.IsZero() {
				target = a.Fact
			}
			if target.IsZero() {
				return healthcode.Errorf(healthcode.EINVALID, "invalid decision: withdraw: the appeal names only the rule %s: say which fact to withdraw", a.Rule)
			}
			owner, err := factOwner(ctx, tx, target)
			if err != nil {
				return err
			}
			if owner != a.ResidentID {
				return healthcode.Errorf(healthcode.EINVALID, "invalid decision: withdraw: %s is not a fact of the appellant (resident %d)", target, a.ResidentID)
			}
			if err := db.withdraw(ctx, tx, target, a.ResidentID, now, fmt.Sprintf("appeal %d", id)); err != nil {
				return err
			}
			a.Withdrawn = target
		}
		_, err = tx.ExecContext(ctx, `UPDATE appeals SET state = $1, decided_at = $2, decided_by = $3, decision_reason = $4,
    withdrawn_kind = $5, withdrawn_id = $6 WHERE id = $7`,
			string(a.State), now.UnixMicro(), a.DecidedBy, a.DecisionReason, string(a.Withdrawn.Kind), a.Withdrawn.ID, id)
		if err != nil {
			return fmt.Errorf("update appeal: %w", err)
		}
		db.audit(tx, auditEntry(d.By, healthcode.ActionAppealDecide, a.ResidentID, "", fmt.Sprintf("appeal %d %s", id, a.State)))
		var en, zh string
		if d.Uphold {
			en = fmt.Sprintf("Your appeal %d was upheld: %s no longer counts, and your status was recomputed. The reviewer's reason: %s", id, a.Withdrawn, d.Reason)
			zh = fmt.Sprintf("您的申诉%d已被采纳：%s不再计入，健康码已重新计算。审核理由：%s", id, a.Withdrawn, d.Reason)
			st, err = db.refreshStatus(ctx, tx, now, a.ResidentID, fmt.Sprintf("appeal %d upheld: %s withdrawn", id, a.Withdrawn))
			if err != nil {
				return err
			}
		} else {
			en = fmt.Sprintf("Your appeal %d was rejected. The reviewer's reason: %s", id, d.Reason)
			zh = fmt.Sprintf("您的申诉%d未被采纳。审核理由：%s", id, d.Reason)
			st, err = db.scanStatus(tx.QueryRowContext(ctx, `SELECT `+statusColumns+` FROM statuses WHERE resident_id = $1`, a.ResidentID))
			if err != nil {
				return fmt.Errorf("read status: %w", err)
			}
		}
		if err := db.notify(ctx, tx, now, a.ResidentID, healthcode.NotifyAppealDecided, en, zh); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, healthcode.Status{}, err
	}
	return out, st, nil
}

const overrideColumns = `id, resident_id, fact_kind, fact_id, kind, reason, proposed_at, proposed_by_role, proposed_by_id,
    proposed_by_name, state, decided_at, decided_by_role, decided_by_id, decided_by_name, decision_reason`

func scanOverride(s scanner) (healthcode.Override, error) {
	var o healthcode.Override
	var factKind, kind, state, proposedRole, decidedRole string
	var proposed, decided sql.NullInt64
	err := s.Scan(&o.ID, &o.ResidentID, &factKind, &o.Fact.ID, &kind, &o.Reason, &proposed, &proposedRole,
		&o.ProposedBy.TokenID, &o.ProposedBy.Name, &state, &decided, &decidedRole, &o.DecidedBy.TokenID,
		&o.DecidedBy.Name, &o.DecisionReason)
	o.Fact.Kind, o.Kind, o.State = healthcode.FactKind(factKind), healthcode.OverrideKind(kind), healthcode.OverrideState(state)
	o.ProposedBy.Role, o.DecidedBy.Role = healthcode.Role(proposedRole), healthcode.Role(decidedRole)
	o.ProposedAt, o.DecidedAt = instant(proposed), instant(decided)
	return o, err
}

func (db *DB) findOverride(ctx context.Context, q queryer, id int64, lock bool) (*healthcode.Override, error) {
	query := `SELECT ` + overrideColumns + ` FROM overrides WHERE id = $1`
	if lock {
		query += db.engine.forUpdate
	}
	o, err := scanOverride(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, healthcode.Errorf(healthcode.ENOTFOUND, "override %d not found", id)
	} else if err != nil {
		return nil, err
	}
	return &o, nil
}

func (db *DB) listOverrides(ctx context.Context, q queryer, where string, args ...any) ([]healthcode.Override, error) {
	out := []healthcode.Override{}
	err := queryAll(ctx, q, func(rows *sql.Rows) error {
		o, err := scanOverride(rows)
		out = append(out, o)
		return err
	}, `SELECT `+overrideColumns+` FROM overrides WHERE `+where, args...)
	return out, err
}

// ProposeOverride records a tracer's proposal to withdraw a fact, filling in
// ID, ResidentID (the fact's), ProposedAt and State. Nothing else changes
// until a reviewer approves it. ENOTFOUND for no such fact; ECONFLICT if it
// is already withdrawn or has a proposal waiting.
func (db *DB) ProposeOverride(ctx context.Context, o *healthcode.Override) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.ProposedBy.Role != healthcode.RoleTracer {
		return healthcode.Errorf(healthcode.EFORBIDDEN, "only the tracer role may propose an override")
	}
	out := *o
	err := db.update(ctx, "propose override", func(tx *sql.Tx, now time.Time) error {
		owner, err := factOwner(ctx, tx, o.Fact)
		if err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, owner); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM withdrawals WHERE fact_kind = $1 AND fact_id = $2`,
			string(o.Fact.Kind), o.Fact.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return healthcode.Errorf(healthcode.ECONFLICT, "%s was already withdrawn", o.Fact)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM overrides WHERE fact_kind = $1 AND fact_id = $2 AND state = $3`,
			string(o.Fact.Kind), o.Fact.ID, string(healthcode.OverrideProposed)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return healthcode.Errorf(healthcode.ECONFLICT, "%s already has an override waiting for a reviewer", o.Fact)
		}
		out.ResidentID, out.ProposedAt, out.State = owner, now, healthcode.OverrideProposed
		err = tx.QueryRowContext(ctx, `INSERT INTO overrides (resident_id, fact_kind, fact_id, kind, reason, proposed_at,
    proposed_by_role, proposed_by_id, proposed_by_name, state, decided_at, decided_by_role, decided_by_id,
    decided_by_name, decision_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, '', 0, '', '') RETURNING id`,
			owner, string(o.Fact.Kind), o.Fact.ID, string(o.Kind), o.Reason, now.UnixMicro(), string(o.ProposedBy.Role),
			o.ProposedBy.TokenID, o.ProposedBy.Name, string(out.State)).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert override: %w", err)
		}
		db.audit(tx, auditEntry(o.ProposedBy, healthcode.ActionOverrideAdd, owner, "", fmt.Sprintf("override %d of %s", out.ID, o.Fact)))
		return nil
	})
	if err != nil {
		return err
	}
	*o = out
	return nil
}

// OverrideQueue returns the overrides in state, oldest first.
func (db *DB) OverrideQueue(ctx context.Context, state healthcode.OverrideState) ([]healthcode.Override, error) {
	out, err := db.listOverrides(ctx, db.read, `state = $1 ORDER BY id LIMIT $2`, string(state), maxQueue)
	if err != nil {
		return nil, db.wrap("override queue", err)
	}
	return out, nil
}

// ReviewOverride returns the override, and its resident's status and facts
// as they are now, recording acc in the audit log in the same transaction.
func (db *DB) ReviewOverride(ctx context.Context, acc healthcode.Access, id int64) (*healthcode.Override, *healthcode.Review, error) {
	if err := acc.Validate(); err != nil {
		return nil, nil, err
	}
	var o *healthcode.Override
	var rv *healthcode.Review
	err := db.update(ctx, "review override", func(tx *sql.Tx, now time.Time) error {
		var err error
		if o, err = db.findOverride(ctx, tx, id, false); err != nil {
			return err
		}
		if rv, err = db.review(ctx, tx, o.ResidentID, now); err != nil {
			return err
		}
		db.readAccess(tx, acc, o.ResidentID, fmt.Sprintf("override %d, with the status and facts it concerns", id))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return o, rv, nil
}

// DecideOverride approves or rejects a proposed override. The decider must
// hold the reviewer role and must not be the person who proposed it
// (healthcode.CheckTwoPersons): EFORBIDDEN otherwise. Approval withdraws the
// fact and recomputes the status with the override as the cause; the
// approved override is then a fact the rules show. ECONFLICT if the
// override was already decided or the fact is already withdrawn.
func (db *DB) DecideOverride(ctx context.Context, id int64, d healthcode.OverrideDecision) (*healthcode.Override, healthcode.Status, error) {
	if err := d.Validate(); err != nil {
		return nil, healthcode.Status{}, err
	}
	var out *healthcode.Override
	var st healthcode.Status
	err := db.update(ctx, "decide override", func(tx *sql.Tx, now time.Time) error {
		o, err := db.findOverride(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if err := healthcode.CheckTwoPersons(o.ProposedBy, d.By); err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, o.ResidentID); err != nil {
			return err
		}
		if o, err = db.findOverride(ctx, tx, id, true); err != nil {
			return err
		}
		if o.State != healthcode.OverrideProposed {
			return healthcode.Errorf(healthcode.ECONFLICT, "override %d was already %s on %s", id, o.State, o.DecidedAt.Format(time.RFC3339))
		}
		o.State, o.DecidedAt, o.DecidedBy, o.DecisionReason = healthcode.OverrideRejected, now, d.By, d.Reason
		if d.Approve {
			o.State = healthcode.OverrideApproved
			if err := db.withdraw(ctx, tx, o.Fact, o.ResidentID, now, fmt.Sprintf("override %d", id)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE overrides SET state = $1, decided_at = $2, decided_by_role = $3,
    decided_by_id = $4, decided_by_name = $5, decision_reason = $6 WHERE id = $7`,
			string(o.State), now.UnixMicro(), string(d.By.Role), d.By.TokenID, d.By.Name, d.Reason, id)
		if err != nil {
			return fmt.Errorf("update override: %w", err)
		}
		db.audit(tx, auditEntry(d.By, healthcode.ActionOverrideDecide, o.ResidentID, "", fmt.Sprintf("override %d %s", id, o.State)))
		if d.Approve {
			st, err = db.refreshStatus(ctx, tx, now, o.ResidentID,
				fmt.Sprintf("override %d approved: %s withdrawn (%s)", id, o.Fact, o.Kind))
		} else {
			st, err = db.scanStatus(tx.QueryRowContext(ctx, `SELECT `+statusColumns+` FROM statuses WHERE resident_id = $1`, o.ResidentID))
		}
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, healthcode.Status{}, err
	}
	return out, st, nil
}
