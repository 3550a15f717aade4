package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"healthcode"
)

// LoginLockedUntil implements healthcode.LoginGuard.
func (db *DB) LoginLockedUntil(ctx context.Context, phone string) (time.Time, error) {
	var until int64
	err := db.read.QueryRowContext(ctx, `SELECT locked_until FROM login_failures WHERE phone_idx = $1`,
		db.phoneIndex(strings.TrimSpace(phone))).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && until == 0) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, db.wrap("read sign-in lockout", err)
	}
	return time.UnixMicro(until).UTC(), nil
}

// LoginFailed implements healthcode.LoginGuard: one more failure in a row,
// and the lockout it earns (healthcode.LockoutAfter).
func (db *DB) LoginFailed(ctx context.Context, phone string) (time.Time, error) {
	var until time.Time
	err := db.update(ctx, "count a failed sign-in", func(tx *sql.Tx, now time.Time) error {
		var n int
		err := tx.QueryRowContext(ctx, `INSERT INTO login_failures (phone_idx, failures, locked_until, updated_at)
VALUES ($1, 1, 0, $2)
ON CONFLICT (phone_idx) DO UPDATE SET failures = login_failures.failures + 1, updated_at = excluded.updated_at
RETURNING failures`, db.phoneIndex(strings.TrimSpace(phone)), now.UnixMicro()).Scan(&n)
		if err != nil {
			return err
		}
		if d := healthcode.LockoutAfter(n); d > 0 {
			until = now.Add(d)
			_, err = tx.ExecContext(ctx, `UPDATE login_failures SET locked_until = $1 WHERE phone_idx = $2`,
				until.UnixMicro(), db.phoneIndex(strings.TrimSpace(phone)))
		}
		return err
	})
	return until, err
}

// LoginSucceeded implements healthcode.LoginGuard.
func (db *DB) LoginSucceeded(ctx context.Context, phone string) error {
	return db.update(ctx, "clear failed sign-ins", func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE phone_idx = $1`, db.phoneIndex(strings.TrimSpace(phone)))
		return err
	})
}
