package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Check-ins by day. On PostgreSQL the checkins table is partitioned by UTC
// day (migrations/postgres/0005_checkin_days.sql): a partition is created
// before the first check-in of its day is written, and retention drops whole
// partitions. SQLite keeps one table; retention deletes rows there.

const microsPerDay = 24 * 60 * 60 * 1_000_000

// checkInDay is the UTC day number (days since 1970-01-01) of a check-in
// made at the unix microsecond at.
func checkInDay(at int64) int64 {
	d := at / microsPerDay
	if at < 0 && at%microsPerDay != 0 {
		d--
	}
	return d
}

// checkInPartition is the name of a day's partition: checkins_YYYYMMDD.
func checkInPartition(day int64) string {
	return "checkins_" + time.UnixMicro(day*microsPerDay).UTC().Format("20060102")
}

var checkInPartitionRE = regexp.MustCompile(`^checkins_([0-9]{8})$`)

// partitionDay is the day of a partition named by checkInPartition.
func partitionDay(name string) (int64, bool) {
	m := checkInPartitionRE.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	t, err := time.Parse("20060102", m[1])
	if err != nil {
		return 0, false
	}
	return checkInDay(t.UnixMicro()), true
}

// errNoPartition is what an insert failed with when a day it wrote to has no
// partition: one that the cache said existed but was dropped since.
var errNoPartition = errors.New("no check-in partition for the day")

// writeCheckIns runs write, which inserts check-ins at the given times,
// after making sure every day of them has its partition. If write still
// finds a partition missing (dropped by a purge in another process since it
// was cached), the cache is forgotten and write runs once more.
func (db *DB) writeCheckIns(ctx context.Context, ats []int64, write func() error) error {
	if db.engine != postgresEngine {
		return write()
	}
	days := make([]int64, 0, 4)
	for _, at := range ats {
		if d := checkInDay(at); !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	for attempt := 1; ; attempt++ {
		if err := db.ensureCheckInDays(ctx, days); err != nil {
			return err
		}
		err := write()
		if attempt == 1 && errors.Is(err, errNoPartition) {
			db.checkInDays.Clear()
			continue
		}
		return err
	}
}

// ensureCheckInDays creates the partitions of the days not yet known to
// exist. Each is created in its own short transaction, under an advisory lock
// so that several servers creating the same day do not collide.
func (db *DB) ensureCheckInDays(ctx context.Context, days []int64) error {
	for _, day := range days {
		if _, ok := db.checkInDays.Load(day); ok {
			continue
		}
		err := db.runTx(ctx, db.write, nil, func(tx *sql.Tx, _ time.Time) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('healthcode.checkins'), $1)`, int32(day)); err != nil {
				return err
			}
			// The bounds are literals: DDL takes no parameters.
			_, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF checkins FOR VALUES FROM (%d) TO (%d)`,
				checkInPartition(day), day*microsPerDay, (day+1)*microsPerDay))
			return err
		})
		if err != nil {
			return db.wrap("create check-in partition", fmt.Errorf("%s: %w", checkInPartition(day), err))
		}
		db.checkInDays.Store(day, true)
	}
	return nil
}

// noPartitionError reports whether err is PostgreSQL's "no partition of
// relation found for row".
func noPartitionError(err error) bool {
	pe, ok := postgresError(err)
	return ok && pe.Code == pgCheckViolation && pe.ConstraintName == "" && pe.TableName == "checkins"
}

// PurgeCheckIns deletes every check-in made before the given time and returns
// how many went. Retention (the background job and `healthcode purge`) calls
// it; check-ins are movement data and no status depends on their rows (a
// designation is its own fact). On PostgreSQL the days wholly before the time
// go by dropping their partitions, the rest by DELETE.
func (db *DB) PurgeCheckIns(ctx context.Context, before time.Time) (int64, error) {
	const op = "purge check-ins"
	cutoff := before.UnixMicro()
	var n int64
	if db.engine == postgresEngine {
		var parts []string
		err := queryAll(ctx, db.write, func(rows *sql.Rows) error {
			var name string
			err := rows.Scan(&name)
			parts = append(parts, name)
			return err
		}, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'checkins'::regclass ORDER BY c.relname`)
		if err != nil {
			return 0, db.wrap(op, err)
		}
		for _, name := range parts {
			day, ok := partitionDay(name)
			if !ok || (day+1)*microsPerDay > cutoff {
				continue
			}
			err := db.runTx(ctx, db.write, nil, func(tx *sql.Tx, _ time.Time) error {
				var rows int64
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+name).Scan(&rows); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DROP TABLE `+name); err != nil {
					return err
				}
				n += rows
				return nil
			})
			if err != nil {
				return n, db.wrap(op, fmt.Errorf("drop %s: %w", name, err))
			}
			db.checkInDays.Delete(day)
			db.log.Info("dropped check-in partition", "partition", name, "day", strconv.FormatInt(day, 10))
		}
	}
	err := db.update(ctx, op, func(tx *sql.Tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM checkins WHERE at < $1`, cutoff)
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		n += m
		return err
	})
	return n, err
}
