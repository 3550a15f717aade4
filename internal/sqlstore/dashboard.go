package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"healthcode"
)

var _ healthcode.DashboardService = (*DB)(nil)

// Dashboard counts residents by their cached colour and buckets cases,
// discharges, designations and status changes into the civil days of loc.
// The daily rows are read as instants and bucketed here, so the SQL stays
// the same on both engines; each table read is bounded by the window.
func (db *DB) Dashboard(ctx context.Context, days int, loc *time.Location) (*healthcode.Dashboard, error) {
	if days < 1 {
		days = 1
	}
	if loc == nil {
		loc = time.UTC
	}
	var out *healthcode.Dashboard
	bucket := func(t time.Time) *healthcode.DashboardDay {
		t = t.In(loc)
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		for i := range out.Days {
			if out.Days[i].Day.Equal(d) {
				return &out.Days[i]
			}
		}
		return nil
	}
	err := db.view(ctx, "dashboard", func(tx *sql.Tx, now time.Time) error {
		n := now.In(loc)
		first := time.Date(n.Year(), n.Month(), n.Day()-(days-1), 0, 0, 0, 0, loc)
		since := first.UnixMicro()
		out = &healthcode.Dashboard{ByColor: map[healthcode.Color]int{healthcode.Green: 0, healthcode.Yellow: 0, healthcode.Red: 0}}
		for i := range days {
			out.Days = append(out.Days, healthcode.DashboardDay{Day: time.Date(first.Year(), first.Month(), first.Day()+i, 0, 0, 0, 0, loc)})
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM residents`).Scan(&out.Residents); err != nil {
			return err
		}
		if err := queryAll(ctx, tx, func(rows *sql.Rows) error {
			var color string
			var count, vaccinated int
			if err := rows.Scan(&color, &count, &vaccinated); err != nil {
				return err
			}
			out.ByColor[healthcode.Color(color)] = count
			out.Vaccinated += vaccinated
			return nil
		}, `SELECT color, COUNT(*), SUM(CASE WHEN vaccinated THEN 1 ELSE 0 END) FROM statuses GROUP BY color`); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE discharged_at IS NULL`).Scan(&out.OpenCases); err != nil {
			return err
		}
		each := func(query string, add func(d *healthcode.DashboardDay, extra string)) error {
			return queryAll(ctx, tx, func(rows *sql.Rows) error {
				var at sql.NullInt64
				var extra string
				if err := rows.Scan(&at, &extra); err != nil {
					return err
				}
				if d := bucket(instant(at)); d != nil {
					add(d, extra)
				}
				return nil
			}, query, since)
		}
		if err := each(`SELECT confirmed_at, '' FROM cases WHERE confirmed_at >= $1`,
			func(d *healthcode.DashboardDay, _ string) { d.NewCases++ }); err != nil {
			return err
		}
		if err := each(`SELECT discharged_at, '' FROM cases WHERE discharged_at >= $1`,
			func(d *healthcode.DashboardDay, _ string) { d.Discharged++ }); err != nil {
			return err
		}
		if err := each(`SELECT designated_at, '' FROM contact_designations WHERE designated_at >= $1`,
			func(d *healthcode.DashboardDay, _ string) { d.Designations++ }); err != nil {
			return err
		}
		// A change to yellow or red: a history entry of that colour whose
		// previous entry for the same resident had another colour (or none).
		return each(`SELECT h.at, h.color FROM status_history h
			WHERE h.at >= $1 AND h.color IN ('yellow', 'red')
			AND NOT EXISTS (SELECT 1 FROM status_history p WHERE p.resident_id = h.resident_id AND p.id = (
				SELECT MAX(q.id) FROM status_history q WHERE q.resident_id = h.resident_id AND q.id < h.id) AND p.color = h.color)`,
			func(d *healthcode.DashboardDay, color string) {
				if color == string(healthcode.Yellow) {
					d.TurnedYellow++
				} else {
					d.TurnedRed++
				}
			})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
