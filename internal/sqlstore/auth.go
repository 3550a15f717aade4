package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"healthcode"
)

// CreateSession records a signed-in resident's session, filling in ID and
// CreatedAt. ExpiresAt is required.
func (db *DB) CreateSession(ctx context.Context, s *healthcode.Session) error {
	if s.ExpiresAt.IsZero() || len(s.Hash) == 0 {
		return healthcode.Errorf(healthcode.EINVALID, "create session: a session needs a hash and an expiry")
	}
	var id int64
	var createdAt time.Time
	err := db.update(ctx, "create session", func(tx *sql.Tx, now time.Time) error {
		if ok, err := residentExists(ctx, tx, s.ResidentID); err != nil {
			return err
		} else if !ok {
			return residentNotFound(s.ResidentID)
		}
		createdAt = now
		return tx.QueryRowContext(ctx,
			`INSERT INTO sessions (resident_id, hash, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			s.ResidentID, s.Hash, now.UnixMicro(), micros(s.ExpiresAt)).Scan(&id)
	})
	if err != nil {
		return err
	}
	s.ID, s.CreatedAt, s.ExpiresAt = id, createdAt, instant(micros(s.ExpiresAt))
	return nil
}

// FindSession returns the unexpired session with this hash; EUNAUTHORIZED
// for an unknown or expired one.
func (db *DB) FindSession(ctx context.Context, hash []byte) (*healthcode.Session, error) {
	var s healthcode.Session
	var createdAt, expiresAt sql.NullInt64
	err := db.readRow(ctx,
		`SELECT id, resident_id, hash, created_at, expires_at FROM sessions WHERE hash = $1 AND expires_at > $2`,
		hash, db.now().UnixMicro()).Scan(&s.ID, &s.ResidentID, &s.Hash, &createdAt, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = healthcode.Errorf(healthcode.EUNAUTHORIZED, "the session has expired or does not exist; sign in again")
	}
	if err != nil {
		return nil, db.wrap("find session", err)
	}
	s.CreatedAt, s.ExpiresAt = instant(createdAt), instant(expiresAt)
	return &s, nil
}

// DeleteSession ends the session with this hash. Ending an unknown session
// is not an error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	return db.update(ctx, "delete session", func(tx *sql.Tx, _ time.Time) error {
		return queryAll(ctx, tx, func(rows *sql.Rows) error {
			var id int64
			err := rows.Scan(&id)
			db.recordChange(tx, healthcode.ChangeSession, id)
			return err
		}, `DELETE FROM sessions WHERE hash = $1 RETURNING id`, hash)
	})
}

// CreateAPIToken records a device's or an institution's token, filling in ID
// and CreatedAt.
func (db *DB) CreateAPIToken(ctx context.Context, t *healthcode.APIToken) error {
	var p healthcode.Problems
	if t.Name == "" {
		p.Add("name", "is required")
	}
	if !healthcode.ValidTokenRole(t.Role) {
		p.Add("role", "must be one of admin, tracer, lab, checkpoint, venue, reviewer, auditor")
	}
	if len(t.Hash) == 0 {
		p.Add("hash", "is required")
	}
	if err := p.Err("invalid API token"); err != nil {
		return err
	}
	var id int64
	var createdAt time.Time
	err := db.update(ctx, "create API token", func(tx *sql.Tx, now time.Time) error {
		createdAt = now
		err := tx.QueryRowContext(ctx,
			`INSERT INTO api_tokens (name, role, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			t.Name, string(t.Role), t.Hash, now.UnixMicro(), micros(t.RevokedAt)).Scan(&id)
		if err != nil {
			return err
		}
		db.record(ctx, tx, healthcode.ActionTokenIssue, 0, fmt.Sprintf("token %d (%s, %q)", id, t.Role, t.Name))
		return nil
	})
	if err != nil {
		return err
	}
	t.ID, t.CreatedAt, t.RevokedAt = id, createdAt, instant(micros(t.RevokedAt))
	return nil
}

// FindAPIToken returns the unrevoked token with this hash; EUNAUTHORIZED for
// an unknown or revoked one.
func (db *DB) FindAPIToken(ctx context.Context, hash []byte) (*healthcode.APIToken, error) {
	var t healthcode.APIToken
	var role string
	var createdAt, revokedAt sql.NullInt64
	err := db.readRow(ctx,
		`SELECT id, name, role, hash, created_at, revoked_at FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL`,
		hash).Scan(&t.ID, &t.Name, &role, &t.Hash, &createdAt, &revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = healthcode.Errorf(healthcode.EUNAUTHORIZED, "the API token is revoked or unknown")
	}
	if err != nil {
		return nil, db.wrap("find API token", err)
	}
	t.Role, t.CreatedAt, t.RevokedAt = healthcode.Role(role), instant(createdAt), instant(revokedAt)
	return &t, nil
}

// RevokeAPIToken revokes the token with this id from now on; revoking a
// revoked token changes nothing. ENOTFOUND if there is no such token.
func (db *DB) RevokeAPIToken(ctx context.Context, id int64) error {
	return db.update(ctx, "revoke API token", func(tx *sql.Tx, now time.Time) error {
		var revokedAt sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM api_tokens WHERE id = $1`, id).Scan(&revokedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return healthcode.Errorf(healthcode.ENOTFOUND, "API token %d not found", id)
		} else if err != nil || revokedAt.Valid {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2`, now.UnixMicro(), id); err != nil {
			return err
		}
		db.record(ctx, tx, healthcode.ActionTokenRevoke, 0, fmt.Sprintf("token %d", id))
		db.recordChange(tx, healthcode.ChangeToken, id)
		return nil
	})
}

// CountAPITokens returns how many unrevoked tokens have role.
func (db *DB) CountAPITokens(ctx context.Context, role healthcode.Role) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM api_tokens WHERE role = $1 AND revoked_at IS NULL`, string(role)).Scan(&n)
	if err != nil {
		return 0, db.wrap("count API tokens", err)
	}
	return n, nil
}
