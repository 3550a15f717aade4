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

// CreateVenue records v, filling in ID and CreatedAt. An OwnerID that names
// no API token is an ENOTFOUND; 0 is a venue without a manager.
func (db *DB) CreateVenue(ctx context.Context, v *healthcode.Venue) error {
	if err := v.Validate(); err != nil {
		return err
	}
	owner := sql.NullInt64{Int64: v.OwnerID, Valid: v.OwnerID != 0}
	var id int64
	var createdAt time.Time
	err := db.update(ctx, "create venue", func(tx *sql.Tx, now time.Time) error {
		if owner.Valid {
			if ok, err := tokenExists(ctx, tx, v.OwnerID); err != nil {
				return err
			} else if !ok {
				return tokenNotFound(v.OwnerID)
			}
		}
		createdAt = now
		return tx.QueryRowContext(ctx, `INSERT INTO venues (name, type, region, address, policy_kind, policy_hours,
    owner_id, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			v.Name, string(v.Type), v.Region, v.Address, string(v.Policy.Kind), v.Policy.Hours, owner,
			now.UnixMicro()).Scan(&id)
	})
	if err != nil {
		return err
	}
	v.ID, v.CreatedAt = id, createdAt
	return nil
}

const venueColumns = `id, name, type, region, address, policy_kind, policy_hours, owner_id, created_at`

func scanVenue(s scanner) (*healthcode.Venue, error) {
	var v healthcode.Venue
	var typ, kind string
	var owner, createdAt sql.NullInt64
	if err := s.Scan(&v.ID, &v.Name, &typ, &v.Region, &v.Address, &kind, &v.Policy.Hours, &owner, &createdAt); err != nil {
		return nil, err
	}
	v.Type, v.Policy.Kind, v.OwnerID, v.CreatedAt = healthcode.VenueType(typ), healthcode.PolicyKind(kind), owner.Int64, instant(createdAt)
	return &v, nil
}

func venueNotFound(id int64) error {
	return healthcode.Errorf(healthcode.ENOTFOUND, "venue %d not found", id)
}

func findVenue(ctx context.Context, q queryer, id int64) (*healthcode.Venue, error) {
	v, err := scanVenue(q.QueryRowContext(ctx, `SELECT `+venueColumns+` FROM venues WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, venueNotFound(id)
	}
	return v, err
}

// FindVenue returns the venue with this id.
func (db *DB) FindVenue(ctx context.Context, id int64) (*healthcode.Venue, error) {
	v, err := findVenue(ctx, db.read, id)
	if err != nil {
		return nil, db.wrap("find venue", err)
	}
	return v, nil
}

// UpdateVenuePolicy replaces the venue's admission policy and returns the
// venue as it now is.
func (db *DB) UpdateVenuePolicy(ctx context.Context, id int64, p healthcode.Policy) (*healthcode.Venue, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var v *healthcode.Venue
	err := db.update(ctx, "update venue policy", func(tx *sql.Tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, `UPDATE venues SET policy_kind = $1, policy_hours = $2 WHERE id = $3`,
			string(p.Kind), p.Hours, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return venueNotFound(id)
		}
		v, err = findVenue(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// ListVenues returns the venues the token ownerID manages, or every venue
// when ownerID is 0, in the order they were created.
func (db *DB) ListVenues(ctx context.Context, ownerID int64) ([]*healthcode.Venue, error) {
	vs := []*healthcode.Venue{}
	query, args := `SELECT `+venueColumns+` FROM venues ORDER BY id`, []any(nil)
	if ownerID != 0 {
		query, args = `SELECT `+venueColumns+` FROM venues WHERE owner_id = $1 ORDER BY id`, []any{ownerID}
	}
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		v, err := scanVenue(rows)
		if err == nil {
			vs = append(vs, v)
		}
		return err
	}, query, args...)
	if err != nil {
		return nil, db.wrap("list venues", err)
	}
	return vs, nil
}

func tokenNotFound(id int64) error {
	return healthcode.Errorf(healthcode.ENOTFOUND, "API token %d not found", id)
}

func tokenExists(ctx context.Context, q queryer, id int64) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens WHERE id = $1`, id).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// SetTokenVenues replaces the venues a checkpoint token may record check-ins
// for (an empty list takes them all away). ENOTFOUND for an unknown token or
// venue; EINVALID for a token whose role is not checkpoint.
func (db *DB) SetTokenVenues(ctx context.Context, tokenID int64, venueIDs []int64) error {
	ids := slices.Clone(venueIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return db.update(ctx, "set token venues", func(tx *sql.Tx, _ time.Time) error {
		// Locks the token, so that two replacements of one scope take turns.
		var role string
		err := tx.QueryRowContext(ctx, `SELECT role FROM api_tokens WHERE id = $1`+db.engine.forUpdate, tokenID).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return tokenNotFound(tokenID)
		} else if err != nil {
			return err
		}
		if healthcode.Role(role) != healthcode.RoleCheckpoint {
			return healthcode.Errorf(healthcode.EINVALID, "API token %d is a %s token: only checkpoint tokens are scoped to venues", tokenID, role)
		}
		missing, err := db.missingVenues(ctx, tx, ids)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return venueNotFound(missing[0])
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM token_venues WHERE token_id = $1`, tokenID); err != nil {
			return err
		}
		for chunk := range slices.Chunk(ids, 500) {
			args := make([]any, 0, 2*len(chunk))
			for _, id := range chunk {
				args = append(args, tokenID, id)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO token_venues (token_id, venue_id) VALUES `+
				db.engine.placeholders(len(chunk), 2), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// TokenVenues returns the venues a token may record check-ins for, in id
// order; ENOTFOUND for an unknown token.
func (db *DB) TokenVenues(ctx context.Context, tokenID int64) ([]int64, error) {
	ids := []int64{}
	err := db.view(ctx, "token venues", func(tx *sql.Tx, _ time.Time) error {
		err := queryAll(ctx, tx, func(rows *sql.Rows) error {
			var id int64
			err := rows.Scan(&id)
			ids = append(ids, id)
			return err
		}, `SELECT venue_id FROM token_venues WHERE token_id = $1 ORDER BY venue_id`, tokenID)
		if err != nil || len(ids) > 0 {
			return err
		}
		if ok, err := tokenExists(ctx, tx, tokenID); err != nil {
			return err
		} else if !ok {
			return tokenNotFound(tokenID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// venueLookupChunk bounds the ids one existence query binds.
const venueLookupChunk = 500

// missingVenues returns those of ids (distinct, in order) that name no venue.
func (db *DB) missingVenues(ctx context.Context, q queryer, ids []int64) ([]int64, error) {
	found := make(map[int64]bool, len(ids))
	for chunk := range slices.Chunk(ids, venueLookupChunk) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		err := queryAll(ctx, q, func(rows *sql.Rows) error {
			var id int64
			err := rows.Scan(&id)
			found[id] = true
			return err
		}, `SELECT id FROM venues WHERE id IN (`+db.engine.placeholderList(1, len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up venues: %w", err)
		}
	}
	var missing []int64
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}
