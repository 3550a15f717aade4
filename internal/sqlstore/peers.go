package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"healthcode"
)

// PutTrustedPeer implements healthcode.PeerService.
func (db *DB) PutTrustedPeer(ctx context.Context, p *healthcode.TrustedPeer) error {
	return db.update(ctx, "put trusted peer", func(tx *sql.Tx, now time.Time) error {
		if p.FetchedAt.IsZero() {
			p.FetchedAt = now
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO trusted_peers (source, region, list, etag, fetched_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (source) DO UPDATE SET region = excluded.region, list = excluded.list, etag = excluded.etag, fetched_at = excluded.fetched_at`,
			p.Source, p.Region, p.List, p.ETag, p.FetchedAt.UnixMicro())
		return err
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
