package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"healthcode"
)

var _ healthcode.RetentionService = (*DB)(nil)

// A purge must never change a status in force, and the status keeps its
// reason text. Statuses are recomputed from the facts, so deleting a fact a
// running rule rests on would end that rule at the next recomputation. So,
// resident by resident and under the resident's lock, the purge evaluates
// the status with and without the facts it is about to delete, at the same
// moment:
//
//   - a retention purge deletes them only when the two agree
//     (healthcode.SameCourse); otherwise it keeps that resident's facts for
//     now (Deferred) and a later run deletes them once the rule has ended;
//   - the end-of-emergency purge deletes them anyway and keeps each dated
//     reason they carried as a retained reason, which the rules report with
//     the same text until the same end.

// purgeBatch is how many residents one purge transaction handles.
const purgeBatch = 100

// purgeCuts says what a purge deletes: facts recorded before each cut (unix
// microseconds; 0 deletes none of that kind).
type purgeCuts struct {
	declarations, tests, contacts int64
	// recoveries cuts on the last day a recovery's certificate is valid.
	recoveries     int64
	endOfEmergency bool
}

// ApplyRetention deletes the check-ins, declarations, test results and
// closed appeals older than their windows, the recoveries whose certificate
// ended more than the test-result window ago, and the retained reasons that
// ended, except facts a status in force still depends on; it records the
// purge in the audit log. The server's retention job and `healthcode purge`
// both call it.
func (db *DB) ApplyRetention(ctx context.Context, r healthcode.Retention) (healthcode.PurgeReport, error) {
	if err := r.Validate(); err != nil {
		return healthcode.PurgeReport{}, err
	}
	now := db.now()
	rep := healthcode.PurgeReport{At: now}
	var err error
	if rep.CheckIns, err = db.PurgeCheckIns(ctx, now.Add(-r.CheckIns)); err != nil {
		return rep, err
	}
	cuts := purgeCuts{declarations: now.Add(-r.Declarations).UnixMicro(), tests: now.Add(-r.TestResults).UnixMicro(),
		recoveries: now.Add(-r.TestResults - healthcode.Day).UnixMicro()} // valid through the whole of valid_until
	if err := db.purgeFacts(ctx, cuts, &rep); err != nil {
		return rep, err
	}
	err = db.finishPurge(ctx, &rep, now.Add(-r.ClosedAppeals).UnixMicro(), now.Add(-r.CheckIns).UnixMicro())
	return rep, err
}

// PurgeEndOfEmergency deletes every check-in, declaration (with its visits)
// and contact designation, keeping the dated reasons of statuses in force as
// retained reasons, and records that it did in the audit log. Test results,
// vaccinations, cases and appeals are kept (ApplyRetention handles them).
func (db *DB) PurgeEndOfEmergency(ctx context.Context) (healthcode.PurgeReport, error) {
	now := db.now()
	rep := healthcode.PurgeReport{At: now, EndOfEmergency: true}
	var err error
	// Check-ins may be up to healthcode.MaxClockAhead in the future.
	if rep.CheckIns, err = db.PurgeCheckIns(ctx, now.AddDate(1, 0, 0)); err != nil {
		return rep, err
	}
	cuts := purgeCuts{declarations: math.MaxInt64, contacts: math.MaxInt64, endOfEmergency: true}
	if err := db.purgeFacts(ctx, cuts, &rep); err != nil {
		return rep, err
	}
	err = db.finishPurge(ctx, &rep, 0, math.MaxInt64)
	return rep, err
}

// purgeFacts purges the residents who have facts before the cuts, a batch
// of them per transaction, in id order.
func (db *DB) purgeFacts(ctx context.Context, cuts purgeCuts, rep *healthcode.PurgeReport) error {
	var last int64
	for {
		var ids []int64
		err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
			var id int64
			err := rows.Scan(&id)
			ids = append(ids, id)
			return err
		}, `SELECT resident_id FROM (
    SELECT resident_id FROM declarations WHERE declared_at < $1
    UNION SELECT resident_id FROM test_results WHERE sampled_at < $2
    UNION SELECT resident_id FROM contact_designations WHERE designated_at < $3
    UNION SELECT resident_id FROM recoveries WHERE valid_until < $4
) ids WHERE resident_id > $5 ORDER BY resident_id LIMIT $6`, cuts.declarations, cuts.tests, cuts.contacts, cuts.recoveries, last, purgeBatch)
		if err != nil {
			return db.wrap("purge: find residents", err)
		}
		if len(ids) == 0 {
			return nil
		}
		var batch healthcode.PurgeReport
		err = db.update(ctx, "purge", func(tx *sql.Tx, now time.Time) error {
			batch = healthcode.PurgeReport{}
			for _, id := range ids {
				if err := db.lockResident(ctx, tx, id); healthcode.ErrorCode(err) == healthcode.ENOTFOUND {
					continue
				} else if err != nil {
					return err
				}
				if err := db.purgeResident(ctx, tx, now, id, cuts, &batch); err != nil {
					return fmt.Errorf("resident %d: %w", id, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		rep.Declarations += batch.Declarations
		rep.TestResults += batch.TestResults
		rep.Recoveries += batch.Recoveries
		rep.Deferred += batch.Deferred
		rep.Retained += batch.Retained
		rep.Changed += batch.Changed
		last = ids[len(ids)-1]
	}
}

// purgeResident deletes one resident's facts before the cuts, unless that
// would change their status in force (see the comment at the top).
func (db *DB) purgeResident(ctx context.Context, tx *sql.Tx, now time.Time, id int64, cuts purgeCuts, rep *healthcode.PurgeReport) error {
	f, err := db.loadFacts(ctx, tx, id)
	if err != nil {
		return err
	}
	after := *f
	after.Declarations = slices.DeleteFunc(slices.Clone(f.Declarations), func(d healthcode.Declaration) bool {
		return d.DeclaredAt.UnixMicro() < cuts.declarations
	})
	after.Tests = slices.DeleteFunc(slices.Clone(f.Tests), func(t healthcode.TestResult) bool {
		return t.SampledAt.UnixMicro() < cuts.tests
	})
	after.Contacts = slices.DeleteFunc(slices.Clone(f.Contacts), func(c healthcode.ContactDesignation) bool {
		return c.DesignatedAt.UnixMicro() < cuts.contacts
	})
	after.Recoveries = slices.DeleteFunc(slices.Clone(f.Recoveries), func(r healthcode.Recovery) bool {
		return r.ValidUntil.UnixMicro() < cuts.recoveries
	})
	after.Areas = relevantAreas(f.Areas, after.Declarations)
	cause := ""
	if len(after.Declarations) != len(f.Declarations) || len(after.Tests) != len(f.Tests) || len(after.Contacts) != len(f.Contacts) ||
		len(after.Recoveries) != len(f.Recoveries) {
		before, _, err := db.evaluate(f, now)
		if err != nil {
			return err
		}
		st, _, err := db.evaluate(&after, now)
		if err != nil {
			return err
		}
		if !healthcode.SameCourse(before, st) {
			if !cuts.endOfEmergency {
				rep.Deferred++
				db.log.Info("retention: facts kept while a status in force depends on them", "resident", id)
				return nil
			}
			for _, r := range healthcode.LostReasons(before, st, now) {
				kept := healthcode.RetainedReason{ResidentID: id, Reason: r, RetainedAt: now}
				reason, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if err := tx.QueryRowContext(ctx, `INSERT INTO retained_reasons (resident_id, rule, reason, ends_at, retained_at)
VALUES ($1, $2, $3, $4, $5) RETURNING id`, id, r.Rule, string(reason), r.Until.UnixMicro(), now.UnixMicro()).Scan(&kept.ID); err != nil {
					return fmt.Errorf("retain reason %s: %w", r.Rule, err)
				}
				after.Retained = append(after.Retained, kept)
				rep.Retained++
			}
			if st, _, err = db.evaluate(&after, now); err != nil {
				return err
			}
			if !healthcode.SameCourse(before, st) {
				rep.Changed++
				cause = "end-of-emergency purge"
			}
		}
	}
	for _, d := range []struct {
		query string
		cut   int64
		n     *int64
	}{
		{`DELETE FROM declarations WHERE resident_id = $1 AND declared_at < $2`, cuts.declarations, &rep.Declarations},
		{`DELETE FROM test_results WHERE resident_id = $1 AND sampled_at < $2`, cuts.tests, &rep.TestResults},
		{`DELETE FROM contact_designations WHERE resident_id = $1 AND designated_at < $2`, cuts.contacts, nil},
		{`DELETE FROM recoveries WHERE resident_id = $1 AND valid_until < $2`, cuts.recoveries, &rep.Recoveries},
	} {
		if d.cut == 0 {
			continue
		}
		res, err := tx.ExecContext(ctx, d.query, id, d.cut)
		if err != nil {
			return err
		}
		if d.n != nil {
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			*d.n += n
		}
	}
	// Withdrawals of facts that are gone.
	for kind, table := range map[healthcode.FactKind]string{healthcode.FactDeclaration: "declarations",
		healthcode.FactTestResult: "test_results", healthcode.FactContactDesignation: "contact_designations",
		healthcode.FactRecovery: "recoveries"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM withdrawals WHERE resident_id = $1 AND fact_kind = $2
AND NOT EXISTS (SELECT 1 FROM `+table+` f WHERE f.id = withdrawals.fact_id)`, id, string(kind)); err != nil {
			return err
		}
	}
	_, err = db.refreshStatus(ctx, tx, now, id, cause)
	return err
}

// relevantAreas keeps the area designations that cover a region the
// declarations name, as loadFacts does.
func relevantAreas(areas []healthcode.AreaRisk, ds []healthcode.Declaration) []healthcode.AreaRisk {
	return nilIfEmpty(slices.DeleteFunc(slices.Clone(areas), func(a healthcode.AreaRisk) bool {
		for _, d := range ds {
			for _, v := range d.Visited {
				if strings.HasPrefix(v.Region, a.Prefix) {
					return false
				}
			}
		}
		return true
	}))
}

// finishPurge deletes the closed appeals decided before appealCut (0: none),
// the contact notices (sent and received) from before noticeCut, which hold
// movements and go with the check-ins, and the retained reasons that ended,
// and records the purge. A designation a confirmed proposal made is a fact
// and stays, as local designations do.
func (db *DB) finishPurge(ctx context.Context, rep *healthcode.PurgeReport, appealCut, noticeCut int64) error {
	return db.update(ctx, "purge", func(tx *sql.Tx, now time.Time) error {
		for _, q := range []string{`DELETE FROM contact_notice_outbox WHERE queued_at < $1`,
			`DELETE FROM contact_proposals WHERE received_at < $1`} {
			res, err := tx.ExecContext(ctx, q, noticeCut)
			if err != nil {
				return fmt.Errorf("delete old contact notices: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			rep.Notices += n
		}
		if appealCut != 0 {
			res, err := tx.ExecContext(ctx, `DELETE FROM appeals WHERE state <> $1 AND decided_at < $2`,
				string(healthcode.AppealOpen), appealCut)
			if err != nil {
				return fmt.Errorf("delete closed appeals: %w", err)
			}
			if rep.Appeals, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM retained_reasons WHERE ends_at <= $1`, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("delete ended retained reasons: %w", err)
		}
		if rep.Expired, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM withdrawals WHERE fact_kind = $1
AND NOT EXISTS (SELECT 1 FROM retained_reasons r WHERE r.id = withdrawals.fact_id)`, string(healthcode.FactRetainedReason)); err != nil {
			return err
		}
		db.record(ctx, tx, healthcode.ActionPurge, 0, rep.String())
		return nil
	})
}
