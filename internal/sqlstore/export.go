package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"healthcode"
)

// ExportResident gathers, from one snapshot, everything held about the
// resident: profile, dependents, every recorded fact (withdrawn ones too,
// listed in Withdrawn), overrides, retained reasons, the current status and
// its whole history with the rule sets it names, the check-ins of their
// pseudonym issued by issuer, paper codes, notifications, appeals and the
// access log. ENOTFOUND for an unknown resident.
func (db *DB) ExportResident(ctx context.Context, residentID int64, issuer string) (*healthcode.Export, error) {
	var ex healthcode.Export
	err := db.view(ctx, "export resident", func(tx *sql.Tx, now time.Time) error {
		ex = healthcode.Export{GeneratedAt: now}
		r, err := db.findResident(ctx, tx, residentID)
		if err != nil {
			return err
		}
		ex.Resident = *r
		ex.Dependents = []*healthcode.Resident{}
		err = queryAll(ctx, tx, func(rows *sql.Rows) error {
			d, err := db.scanResident(rows)
			if err == nil {
				ex.Dependents = append(ex.Dependents, d)
			}
			return err
		}, `SELECT `+residentColumns+` FROM residents WHERE guardian_id = $1 ORDER BY id`, residentID)
		if err != nil {
			return fmt.Errorf("dependents: %w", err)
		}

		f, err := db.loadRecordedFacts(ctx, tx, residentID)
		if err != nil {
			return err
		}
		ex.Declarations, ex.Tests, ex.Vaccinations, ex.Recoveries = f.Declarations, f.Tests, f.Vaccinations, f.Recoveries
		ex.Cases, ex.Contacts, ex.Retained = f.Cases, f.Contacts, f.Retained
		if ex.Withdrawn, err = withdrawn(ctx, tx, residentID); err != nil {
			return err
		}
		if ex.Overrides, err = db.listOverrides(ctx, tx, `resident_id = $1 ORDER BY id`, residentID); err != nil {
			return fmt.Errorf("overrides: %w", err)
		}

		ex.Status, err = db.scanStatus(tx.QueryRowContext(ctx, `SELECT `+statusColumns+` FROM statuses WHERE resident_id = $1`, residentID))
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		if ex.History, err = db.history(ctx, tx, residentID); err != nil {
			return err
		}
		var versions []string
		for _, h := range ex.History {
			versions = append(versions, h.Status.RuleSetVersion)
		}
		slices.Sort(versions)
		for _, v := range slices.Compact(versions) {
			var rs healthcode.RuleSet
			var source string
			var at sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT version, name, source, published_at FROM rule_sets WHERE version = $1`, v).
				Scan(&rs.Version, &rs.Name, &source, &at)
			if err == sql.ErrNoRows {
				continue // evaluated by a rule set this database never recorded as published
			} else if err != nil {
				return fmt.Errorf("rule set %s: %w", v, err)
			}
			rs.Source, rs.PublishedAt = []byte(source), instant(at)
			ex.RuleSets = append(ex.RuleSets, rs)
		}

		ex.CheckIns, err = txMovements{tx}.ListCheckInsOfSubject(ctx, issuer, r.Pseudonym, time.Unix(0, 0), now.AddDate(1, 0, 0))
		if err != nil {
			return fmt.Errorf("check-ins: %w", err)
		}
		err = queryAll(ctx, tx, func(rows *sql.Rows) error {
			var pc healthcode.PaperCode
			var issued, expires, revoked sql.NullInt64
			err := rows.Scan(&pc.ID, &pc.ResidentID, &pc.StatusIndex, &issued, &expires, &revoked, &pc.IssuedBy)
			pc.IssuedAt, pc.ExpiresAt, pc.RevokedAt = instant(issued), instant(expires), instant(revoked)
			ex.PaperCodes = append(ex.PaperCodes, pc)
			return err
		}, `SELECT id, resident_id, status_index, issued_at, expires_at, revoked_at, issued_by FROM paper_codes
WHERE resident_id = $1 ORDER BY id`, residentID)
		if err != nil {
			return fmt.Errorf("paper codes: %w", err)
		}
		err = queryAll(ctx, tx, func(rows *sql.Rows) error {
			n, err := scanNotification(rows)
			ex.Notifications = append(ex.Notifications, n)
			return err
		}, `SELECT `+notificationColumns+` FROM notifications WHERE resident_id = $1 ORDER BY id`, residentID)
		if err != nil {
			return fmt.Errorf("notifications: %w", err)
		}
		if ex.Proposals, err = db.listProposals(ctx, tx, `resident_id = $1 ORDER BY id`, residentID); err != nil {
			return fmt.Errorf("contact proposals: %w", err)
		}
		if ex.Appeals, err = db.listAppeals(ctx, tx, `resident_id = $1 ORDER BY id`, residentID); err != nil {
			return fmt.Errorf("appeals: %w", err)
		}
		if ex.AccessLog, err = accessLog(ctx, tx, residentID); err != nil {
			return fmt.Errorf("access log: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ex, nil
}
