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

const constraintStatusIndex = "paper_codes_status_index_key"

// IssuePaperCode revokes the resident's current paper code, if any (its
// RevokedAt becomes now), and records a new one valid for lifetime with the
// next status-list index: one more than the highest ever issued, so that an
// index is never reused. ENOTFOUND for an unknown resident.
func (db *DB) IssuePaperCode(ctx context.Context, residentID int64, lifetime time.Duration, issuedBy string) (*healthcode.PaperCode, error) {
	if lifetime <= 0 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "issue paper code: the lifetime must be positive, not %s", lifetime)
	}
	var pc *healthcode.PaperCode
	err := db.update(ctx, "issue paper code", func(tx *sql.Tx, now time.Time) error {
		if err := db.lockResident(ctx, tx, residentID); err != nil {
			return err
		}
		// Before anything else touches paper_codes: a transaction that
		// already holds a lower lock on it would deadlock with another
		// waiting here.
		if db.engine.lockPaperCodes != "" {
			if _, err := tx.ExecContext(ctx, db.engine.lockPaperCodes); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE paper_codes SET revoked_at = $1
WHERE resident_id = $2 AND revoked_at IS NULL`, now.UnixMicro(), residentID); err != nil {
			return fmt.Errorf("revoke the current paper code: %w", err)
		}
		pc = &healthcode.PaperCode{ResidentID: residentID, IssuedAt: now, ExpiresAt: truncate(now.Add(lifetime)), IssuedBy: issuedBy}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(status_index), -1) + 1 FROM paper_codes`).Scan(&pc.StatusIndex); err != nil {
			return fmt.Errorf("allocate a status index: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO paper_codes (resident_id, status_index, issued_at, expires_at,
    revoked_at, issued_by)
VALUES ($1, $2, $3, $4, NULL, $5) RETURNING id`,
			residentID, pc.StatusIndex, now.UnixMicro(), pc.ExpiresAt.UnixMicro(), issuedBy).Scan(&pc.ID); err != nil {
			return err
		}
		db.record(ctx, tx, healthcode.ActionPaperCodeIssue, residentID, fmt.Sprintf("paper code %d", pc.ID))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pc, nil
}

// FindPaperCode returns the resident's unrevoked paper code, expired or
// not; ENOTFOUND when there is none.
func (db *DB) FindPaperCode(ctx context.Context, residentID int64) (*healthcode.PaperCode, error) {
	var pc healthcode.PaperCode
	var issued, expires, revoked sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT id, resident_id, status_index, issued_at, expires_at, revoked_at, issued_by
FROM paper_codes WHERE resident_id = $1 AND revoked_at IS NULL`, residentID).Scan(
		&pc.ID, &pc.ResidentID, &pc.StatusIndex, &issued, &expires, &revoked, &pc.IssuedBy)
	if errors.Is(err, sql.ErrNoRows) {
		err = healthcode.Errorf(healthcode.ENOTFOUND, "resident %d has no paper code", residentID)
	}
	if err != nil {
		return nil, db.wrap("find paper code", err)
	}
	pc.IssuedAt, pc.ExpiresAt, pc.RevokedAt = instant(issued), instant(expires), instant(revoked)
	return &pc, nil
}

// staleChunk bounds how many residents StatusListEntries re-evaluates in one
// write transaction, so that it never holds the writers up for long.
const staleChunk = 64

// StatusListEntries returns, in index order, every paper code that has not
// expired at now: a revoked one as Revoked (without a colour), an unrevoked
// one with its holder's current colour. The colours come from the cached
// statuses in one query; only the holders whose cached status is not fresh
// are re-evaluated, as CurrentStatus would.
func (db *DB) StatusListEntries(ctx context.Context) ([]healthcode.StatusListEntry, error) {
	version := db.ruleSetVersion()
	entries := []healthcode.StatusListEntry{}
	stale := map[int64][]int{} // resident -> positions in entries
	err := db.view(ctx, "status list entries", func(tx *sql.Tx, now time.Time) error {
		entries, stale = entries[:0], map[int64][]int{}
		return queryAll(ctx, tx, func(rows *sql.Rows) error {
			var e healthcode.StatusListEntry
			var residentID int64
			var color, ruleSet sql.NullString
			var validUntil sql.NullInt64
			if err := rows.Scan(&e.Index, &residentID, &e.Revoked, &color, &validUntil, &ruleSet); err != nil {
				return err
			}
			if !e.Revoked {
				st := healthcode.Status{Color: healthcode.Color(color.String), ValidUntil: instant(validUntil), RuleSetVersion: ruleSet.String}
				if color.Valid && fresh(st, now, version) {
					e.Color = st.Color
				} else {
					stale[residentID] = append(stale[residentID], len(entries))
				}
			}
			entries = append(entries, e)
			return nil
		}, `SELECT p.status_index, p.resident_id, p.revoked_at IS NOT NULL, s.color, s.valid_until, s.rule_set_version
FROM paper_codes p LEFT JOIN statuses s ON s.resident_id = p.resident_id AND p.revoked_at IS NULL
WHERE p.expires_at > $1
ORDER BY p.status_index`, now.UnixMicro())
	})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(stale))
	for id := range stale {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, staleChunk) {
		sts, err := db.refreshStale(ctx, "status list entries", chunk)
		if err != nil {
			return nil, err
		}
		for i, id := range chunk {
			for _, at := range stale[id] {
				entries[at].Color = sts[i].Color
			}
		}
	}
	return entries, nil
}
