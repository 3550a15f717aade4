package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"healthcode"
)

// PutTrustedPeer implements healthcode.PeerService.
func (db *DB) PutTrustedPeer(ctx context.Context, p *healthcode.TrustedPeer) error {
	return db.update(ctx, "put trusted peer", func(tx *sql.Tx, now time.Time) error {
		return putTrustedPeer(ctx, tx, now, p)
	})
}

func putTrustedPeer(ctx context.Context, tx *sql.Tx, now time.Time, p *healthcode.TrustedPeer) error {
	if p.FetchedAt.IsZero() {
		p.FetchedAt = now
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO trusted_peers (source, region, list, etag, fetched_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (source) DO UPDATE SET region = excluded.region, list = excluded.list, etag = excluded.etag, fetched_at = excluded.fetched_at`,
		p.Source, p.Region, p.List, p.ETag, p.FetchedAt.UnixMicro())
	return err
}

// AddTrustedPeer implements healthcode.PeerService.
func (db *DB) AddTrustedPeer(ctx context.Context, p *healthcode.TrustedPeer) error {
	return db.update(ctx, "add trusted peer", func(tx *sql.Tx, now time.Time) error {
		if err := putTrustedPeer(ctx, tx, now, p); err != nil {
			return err
		}
		db.record(ctx, tx, healthcode.ActionTrustAdd, 0, fmt.Sprintf("peer region %s from %s", p.Region, p.Source))
		return nil
	})
}

// RemoveTrustedPeer implements healthcode.PeerService.
func (db *DB) RemoveTrustedPeer(ctx context.Context, source string) error {
	return db.update(ctx, "remove trusted peer", func(tx *sql.Tx, now time.Time) error {
		var region string
		err := tx.QueryRowContext(ctx, `SELECT region FROM trusted_peers WHERE source = $1`, source).Scan(&region)
		if errors.Is(err, sql.ErrNoRows) {
			return healthcode.Errorf(healthcode.ENOTFOUND, "no trusted peer has the source %q", source)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM trusted_peers WHERE source = $1`, source); err != nil {
			return err
		}
		db.record(ctx, tx, healthcode.ActionTrustRemove, 0, fmt.Sprintf("peer region %s from %s", region, source))
		return nil
	})
}

// ListTrustedPeers implements healthcode.PeerService.
func (db *DB) ListTrustedPeers(ctx context.Context) ([]healthcode.TrustedPeer, error) {
	var out []healthcode.TrustedPeer
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		var p healthcode.TrustedPeer
		var at int64
		err := rows.Scan(&p.Source, &p.Region, &p.List, &p.ETag, &at)
		p.FetchedAt = time.UnixMicro(at).UTC()
		out = append(out, p)
		return err
	}, `SELECT source, region, list, etag, fetched_at FROM trusted_peers ORDER BY source`)
	if err != nil {
		return nil, db.wrap("list trusted peers", err)
	}
	return out, nil
}
