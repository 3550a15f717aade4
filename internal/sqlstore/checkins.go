package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"healthcode"
)

// The small integers the checkins table stores for the enumerations
// (migrations/*/0002_venues_checkins.sql).

var decisionCodes = map[healthcode.Decision]int16{healthcode.Admit: 0, healthcode.Deny: 1}

var colorCodes = map[healthcode.Color]int16{"": 0, healthcode.Green: 1, healthcode.Yellow: 2, healthcode.Red: 3}

var modeCodes = map[healthcode.CheckInMode]int16{healthcode.ModeCheckpoint: 0, healthcode.ModePlaceCode: 1}

var (
	decisionNames = inverse(decisionCodes)
	colorNames    = inverse(colorCodes)
	modeNames     = inverse(modeCodes)
)

func inverse[K comparable](m map[K]int16) []K {
	out := make([]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// checkInColumns are the columns of a check-in, in the order checkInRow
// binds them and scanCheckIn reads them.
const checkInColumns = `venue_id, at, received_at, issuer, decision, color, mode, id, subject, checkpoint`

const checkInColumnCount = 10

// checkInRow is a check-in as the checkins table stores it.
type checkInRow struct {
	venueID, at, receivedAt int64
	issuer                  int32
	decision, color, mode   int16
	id, subject, checkpoint string
}

// encodeCheckIn turns c into a row received at receivedAt (unix micros). It
// fails on what the table cannot hold (an unknown enumeration value, an
// issuer that is not a region code) and checks nothing else.
func encodeCheckIn(c *healthcode.CheckIn, receivedAt int64) (checkInRow, error) {
	row := checkInRow{venueID: c.VenueID, at: c.At.UnixMicro(), receivedAt: receivedAt,
		id: c.ID, subject: c.Subject, checkpoint: c.Checkpoint}
	var ok bool
	if row.decision, ok = decisionCodes[c.Decision]; !ok {
		return row, fmt.Errorf("check-in %q: unknown decision %q", c.ID, c.Decision)
	}
	if row.color, ok = colorCodes[c.Color]; !ok {
		return row, fmt.Errorf("check-in %q: unknown colour %q", c.ID, c.Color)
	}
	if row.mode, ok = modeCodes[c.Mode]; !ok {
		return row, fmt.Errorf("check-in %q: unknown mode %q", c.ID, c.Mode)
	}
	issuer, err := issuerCode(c.Issuer)
	if err != nil {
		return row, fmt.Errorf("check-in %q: %w", c.ID, err)
	}
	row.issuer = issuer
	return row, nil
}

// issuerCode encodes a 6-digit region code (which never starts with 0).
func issuerCode(issuer string) (int32, error) {
	if !healthcode.ValidRegionCode(issuer) {
		return 0, healthcode.Errorf(healthcode.EINVALID, "issuer must be a 6-digit region code, not %q", issuer)
	}
	n, err := strconv.ParseInt(issuer, 10, 32)
	return int32(n), err
}

func (r *checkInRow) appendArgs(args []any) []any {
	return append(args, r.venueID, r.at, r.receivedAt, r.issuer, r.decision, r.color, r.mode, r.id, r.subject, r.checkpoint)
}

func scanCheckIn(s scanner) (healthcode.CheckIn, error) {
	var c healthcode.CheckIn
	var at, receivedAt int64
	var issuer int32
	var decision, color, mode int16
	if err := s.Scan(&c.VenueID, &at, &receivedAt, &issuer, &decision, &color, &mode, &c.ID, &c.Subject, &c.Checkpoint); err != nil {
		return c, err
	}
	if int(decision) >= len(decisionNames) || int(color) >= len(colorNames) || int(mode) >= len(modeNames) ||
		decision < 0 || color < 0 || mode < 0 {
		return c, fmt.Errorf("check-in %q: bad decision, colour or mode (%d, %d, %d) in database", c.ID, decision, color, mode)
	}
	c.Decision, c.Color, c.Mode = decisionNames[decision], colorNames[color], modeNames[mode]
	c.Issuer = strconv.Itoa(int(issuer))
	c.At, c.ReceivedAt = time.UnixMicro(at).UTC(), time.UnixMicro(receivedAt).UTC()
	return c, nil
}

// checkInInsertChunk is how many rows one INSERT of AddCheckIns carries.
const checkInInsertChunk = 500

// AddCheckIns stores a batch of check-ins in one transaction and says what
// became of each, in input order:
//
//   - rejected, with the reason, when it fails CheckIn.Validate at the
//     store's now or names a venue that does not exist ("unknown venue N");
//   - duplicate when a check-in with its ID and its time (At) is already
//     stored, or was accepted earlier in the same batch. A duplicate is not
//     stored again and is not an error, even when the rest of its content
//     differs from the stored check-in: the first write wins, so a device may
//     re-send a batch it got no answer for. The time is part of the key
//     because PostgreSQL partitions check-ins by day; a device re-sends a
//     check-in with its original time, and an ID reused for another time is
//     a different check-in;
//   - stored otherwise, received now: the ReceivedAt of the caller's item
//     is set. At is the device's time, kept as sent (offline check-ins are
//     uploaded later with their original time).
func (db *DB) AddCheckIns(ctx context.Context, cs []healthcode.CheckIn) ([]healthcode.CheckInResult, error) {
	results := make([]healthcode.CheckInResult, len(cs))
	var receivedAt time.Time
	ats := make([]int64, len(cs))
	for i := range cs {
		ats[i] = cs[i].At.UnixMicro()
	}
	err := db.writeCheckIns(ctx, ats, func() error {
		return db.update(ctx, "add check-ins", func(tx *sql.Tx, now time.Time) error {
			return db.addCheckIns(ctx, tx, now, cs, results, &receivedAt)
		})
	})
	if err != nil {
		return nil, err
	}
	for i, r := range results {
		if r.Result == healthcode.Stored {
			cs[i].ReceivedAt = receivedAt
		}
	}
	return results, nil
}

// checkInKey is what identifies a stored check-in: its ID and time.
type checkInKey struct {
	id string
	at int64
}

// addCheckIns is AddCheckIns' transaction: it fills in results and
// receivedAt.
func (db *DB) addCheckIns(ctx context.Context, tx *sql.Tx, now time.Time, cs []healthcode.CheckIn, results []healthcode.CheckInResult, receivedAt *time.Time) error {
	*receivedAt = now
	type candidate struct {
		i   int
		row checkInRow
	}
	var cands []candidate
	var venues []int64
	first := make(map[checkInKey]bool, len(cs)) // accepted keys
	for i := range cs {
		c := &cs[i]
		results[i] = healthcode.CheckInResult{ID: c.ID}
		if err := c.Validate(now); err != nil {
			results[i].Result, results[i].Reason = healthcode.Rejected, healthcode.ErrorMessage(err)
			continue
		}
		row, err := encodeCheckIn(c, now.UnixMicro())
		if err != nil { // Validate let through what the table cannot hold
			results[i].Result, results[i].Reason = healthcode.Rejected, err.Error()
			continue
		}
		cands = append(cands, candidate{i, row})
		venues = append(venues, c.VenueID)
	}
	slices.Sort(venues)
	missing, err := db.missingVenues(ctx, tx, slices.Compact(venues))
	if err != nil {
		return err
	}
	unknown := make(map[int64]bool, len(missing))
	for _, id := range missing {
		unknown[id] = true
	}
	// In id order, so that two batches never wait for each other's rows
	// (PostgreSQL) and the primary key is filled in order.
	slices.SortStableFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.row.id, b.row.id), cmp.Compare(a.row.at, b.row.at))
	})
	accepted := cands[:0]
	for _, c := range cands {
		switch {
		case unknown[c.row.venueID]:
			results[c.i].Result, results[c.i].Reason = healthcode.Rejected, fmt.Sprintf("unknown venue %d", c.row.venueID)
		case first[checkInKey{c.row.id, c.row.at}]:
			results[c.i].Result = healthcode.Duplicate
		default:
			first[checkInKey{c.row.id, c.row.at}] = true
			accepted = append(accepted, c)
		}
	}
	// The keys the INSERT returns are the stored ones; the rest were there.
	stored := make(map[checkInKey]bool, len(accepted))
	for chunk := range slices.Chunk(accepted, checkInInsertChunk) {
		args := make([]any, 0, len(chunk)*checkInColumnCount)
		for _, c := range chunk {
			args = c.row.appendArgs(args)
		}
		err := queryAll(ctx, tx, func(rows *sql.Rows) error {
			var k checkInKey
			err := rows.Scan(&k.id, &k.at)
			stored[k] = true
			return err
		}, `INSERT INTO checkins (`+checkInColumns+`) VALUES `+db.engine.placeholders(len(chunk), checkInColumnCount)+`
ON CONFLICT (id, at) DO NOTHING RETURNING id, at`, args...)
		if noPartitionError(err) {
			return errNoPartition
		} else if err != nil {
			return fmt.Errorf("insert check-ins: %w", err)
		}
	}
	for _, c := range accepted {
		if stored[checkInKey{c.row.id, c.row.at}] {
			results[c.i].Result = healthcode.Stored
		} else {
			results[c.i].Result = healthcode.Duplicate
		}
	}
	return nil
}

// ListCheckInsOfSubject returns the check-ins of the code holder issuer and
// subject name with from <= At < to, ordered by At and then ID.
func (db *DB) ListCheckInsOfSubject(ctx context.Context, issuer, subject string, from, to time.Time) ([]healthcode.CheckIn, error) {
	code, err := issuerCode(issuer)
	if err != nil {
		return nil, db.wrap("list check-ins of subject", err)
	}
	return db.listCheckIns(ctx, "list check-ins of subject", `SELECT `+checkInColumns+` FROM checkins
WHERE issuer = $1 AND subject = $2 AND at >= $3 AND at < $4 ORDER BY at, id`,
		code, subject, from.UnixMicro(), to.UnixMicro())
}

// ListCheckInsAtVenue returns the check-ins at the venue with from <= At <
// to, ordered by At and then ID. An unknown venue has none.
func (db *DB) ListCheckInsAtVenue(ctx context.Context, venueID int64, from, to time.Time) ([]healthcode.CheckIn, error) {
	return db.listCheckIns(ctx, "list check-ins at venue", `SELECT `+checkInColumns+` FROM checkins
WHERE venue_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id`,
		venueID, from.UnixMicro(), to.UnixMicro())
}

func (db *DB) listCheckIns(ctx context.Context, op, query string, args ...any) ([]healthcode.CheckIn, error) {
	cs := []healthcode.CheckIn{}
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		c, err := scanCheckIn(rows)
		cs = append(cs, c)
		return err
	}, query, args...)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	return cs, nil
}
