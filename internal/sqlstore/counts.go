package sqlstore

import (
	"context"
	"database/sql"

	"healthcode"
)

// CountStatuses counts residents by the colour of their stored status, for
// /metrics. A stored status past its ValidUntil is counted as stored.
func (db *DB) CountStatuses(ctx context.Context) (map[healthcode.Color]int, error) {
	counts := map[healthcode.Color]int{}
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		var color string
		var n int
		err := rows.Scan(&color, &n)
		counts[healthcode.Color(color)] = n
		return err
	}, `SELECT color, COUNT(*) FROM statuses GROUP BY color`)
	if err != nil {
		return nil, db.wrap("count statuses", err)
	}
	return counts, nil
}
