package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"healthcode"
)

// The audit log (migrations/*/0004_accountability.sql). Code that writes in a
// transaction records what it did with db.audit; the entries are appended to
// the chain when the transaction's function returns, just before it commits
// (runTx). Appending takes the chain head's row lock, so the chain stays
// linear however many writers there are; taking it last, after every other
// lock the transaction needs, keeps it short and free of lock-order
// deadlocks.

// auditBuffer holds the entries of one transaction until it commits.
type auditBuffer struct{ entries []healthcode.AuditEntry }

// audit records e, to be appended to the chain when tx commits. Seq, At and
// the hashes are filled in then.
func (db *DB) audit(tx *sql.Tx, e healthcode.AuditEntry) {
	v, _ := db.pending.LoadOrStore(tx, &auditBuffer{})
	buf := v.(*auditBuffer)
	buf.entries = append(buf.entries, e)
}

// record audits an action by the actor ctx carries.
func (db *DB) record(ctx context.Context, tx *sql.Tx, action string, subject int64, detail string) {
	db.audit(tx, auditEntry(healthcode.ActorFromContext(ctx), action, subject, "", detail))
}

// auditEntry builds an entry for an action by a.
func auditEntry(a healthcode.Actor, action string, subject int64, purpose, detail string) healthcode.AuditEntry {
	id := a.TokenID
	if a.Role == healthcode.RoleResident {
		id = a.ResidentID
	}
	return healthcode.AuditEntry{ActorRole: a.Role, ActorID: id, ActorName: a.Name, Action: action,
		Subject: subject, Purpose: strings.TrimSpace(purpose), Detail: detail}
}

// flushAudit appends tx's pending entries to the chain, at now.
func (db *DB) flushAudit(ctx context.Context, tx *sql.Tx, now time.Time) error {
	v, ok := db.pending.LoadAndDelete(tx)
	if !ok {
		return nil
	}
	entries := v.(*auditBuffer).entries
	if len(entries) == 0 {
		return nil
	}
	var seq int64
	var hash string
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+db.engine.forUpdate).Scan(&seq, &hash); err != nil {
		return fmt.Errorf("read the audit chain head: %w", err)
	}
	for i := range entries {
		e := &entries[i]
		seq++
		e.Seq, e.At, e.PrevHash = seq, now, hash
		e.Hash = e.ComputeHash()
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor_role, actor_id, actor_name, action,
    subject_id, purpose, detail, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			e.Seq, e.At.UnixMicro(), string(e.ActorRole), e.ActorID, e.ActorName, e.Action, e.Subject, e.Purpose,
			e.Detail, e.PrevHash, e.Hash)
		if err != nil {
			return fmt.Errorf("append audit entry: %w", err)
		}
		hash = e.Hash
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, hash); err != nil {
		return fmt.Errorf("advance the audit chain head: %w", err)
	}
	return nil
}

const auditColumns = `seq, at, actor_role, actor_id, actor_name, action, subject_id, purpose, detail, prev_hash, hash`

func scanAudit(s scanner) (healthcode.AuditEntry, error) {
	var e healthcode.AuditEntry
	var at int64
	var role string
	err := s.Scan(&e.Seq, &at, &role, &e.ActorID, &e.ActorName, &e.Action, &e.Subject, &e.Purpose, &e.Detail, &e.PrevHash, &e.Hash)
	e.At, e.ActorRole = time.UnixMicro(at).UTC(), healthcode.Role(role)
	return e, err
}

// ListAudit returns the entries f selects, newest first, and records the
// query itself as an audit.read entry by the auditor.
func (db *DB) ListAudit(ctx context.Context, by healthcode.Actor, f healthcode.AuditFilter) ([]healthcode.AuditEntry, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Limit == 0 {
		f.Limit = healthcode.DefaultAuditPage
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	var describe []string
	if f.Actor != "" {
		add("actor_name = $%d", f.Actor)
		describe = append(describe, fmt.Sprintf("actor=%q", f.Actor))
	}
	if f.Subject != 0 {
		add("subject_id = $%d", f.Subject)
		describe = append(describe, fmt.Sprintf("subject=%d", f.Subject))
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
		describe = append(describe, "action="+f.Action)
	}
	if !f.From.IsZero() {
		add("at >= $%d", f.From.UnixMicro())
		describe = append(describe, "from="+f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		add("at < $%d", f.To.UnixMicro())
		describe = append(describe, "to="+f.To.UTC().Format(time.RFC3339))
	}
	if f.Before != 0 {
		add("seq < $%d", f.Before)
		describe = append(describe, fmt.Sprintf("before=%d", f.Before))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	query += fmt.Sprintf(` ORDER BY seq DESC LIMIT $%d`, len(args))
	detail := "audit log query"
	if len(describe) > 0 {
		detail += ": " + strings.Join(describe, " ")
	}
	out := []healthcode.AuditEntry{}
	err := db.update(ctx, "list audit log", func(tx *sql.Tx, _ time.Time) error {
		out = out[:0]
		err := queryAll(ctx, tx, func(rows *sql.Rows) error {
			e, err := scanAudit(rows)
			out = append(out, e)
			return err
		}, query, args...)
		if err != nil {
			return err
		}
		db.audit(tx, auditEntry(by, healthcode.ActionAuditRead, f.Subject, "", detail))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxAccessLog bounds the access log a resident is shown.
const maxAccessLog = 1000

// ListAccessLog returns the reads of the resident's data by others, newest
// first; ENOTFOUND for an unknown resident.
func (db *DB) ListAccessLog(ctx context.Context, residentID int64) ([]healthcode.AuditEntry, error) {
	out := []healthcode.AuditEntry{}
	err := db.view(ctx, "list access log", func(tx *sql.Tx, _ time.Time) error {
		if ok, err := residentExists(ctx, tx, residentID); err != nil {
			return err
		} else if !ok {
			return residentNotFound(residentID)
		}
		var err error
		out, err = accessLog(ctx, tx, residentID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func accessLog(ctx context.Context, q queryer, residentID int64) ([]healthcode.AuditEntry, error) {
	out := []healthcode.AuditEntry{}
	err := queryAll(ctx, q, func(rows *sql.Rows) error {
		e, err := scanAudit(rows)
		out = append(out, e)
		return err
	}, `SELECT `+auditColumns+` FROM audit_log WHERE subject_id = $1 AND action IN ($2, $3) ORDER BY seq DESC LIMIT $4`,
		residentID, healthcode.ActionRead, healthcode.ActionNoticeReceive, maxAccessLog)
	return out, err
}

// VerifyAuditLog checks the whole chain, from one snapshot, and reports its
// first broken link.
func (db *DB) VerifyAuditLog(ctx context.Context) (healthcode.AuditReport, error) {
	var rep healthcode.AuditReport
	err := db.view(ctx, "verify audit log", func(tx *sql.Tx, _ time.Time) error {
		c := healthcode.NewAuditChecker()
		var brk *healthcode.AuditBreak
		err := queryAll(ctx, tx, func(rows *sql.Rows) error {
			if brk != nil {
				return nil
			}
			e, err := scanAudit(rows)
			if err != nil {
				return err
			}
			brk = c.Check(&e)
			return nil
		}, `SELECT `+auditColumns+` FROM audit_log ORDER BY seq`)
		if err != nil {
			return err
		}
		if brk == nil {
			var seq int64
			var hash string
			if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
				return fmt.Errorf("read the audit chain head: %w", err)
			}
			brk = c.Finish(seq, hash)
		}
		rep = healthcode.AuditReport{Entries: c.Entries(), Head: c.Head(), Break: brk}
		return nil
	})
	return rep, err
}

// readAccess audits a read on someone else's behalf in tx.
func (db *DB) readAccess(tx *sql.Tx, acc healthcode.Access, subject int64, detail string) {
	db.audit(tx, auditEntry(acc.Actor, healthcode.ActionRead, subject, acc.Purpose, detail))
}

// ReadCase returns a case for someone other than its resident, recording
// acc in the audit log in the same transaction.
func (db *DB) ReadCase(ctx context.Context, acc healthcode.Access, id int64) (*healthcode.Case, error) {
	if err := acc.Validate(); err != nil {
		return nil, err
	}
	var c *healthcode.Case
	err := db.update(ctx, "read case", func(tx *sql.Tx, _ time.Time) error {
		var err error
		if c, err = db.findCase(ctx, tx, id); err != nil {
			return err
		}
		db.readAccess(tx, acc, c.ResidentID, fmt.Sprintf("case %d", id))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ReadCaseMovements runs fn with the case, its holder's pseudonym and a
// reader of check-ins and venues, all in one transaction that records acc
// as a read of the case holder's data. The audit entry is appended after fn
// returns, so a long trace holds no lock on the chain.
func (db *DB) ReadCaseMovements(ctx context.Context, acc healthcode.Access, caseID int64,
	fn func(c *healthcode.Case, pseudonym string, src healthcode.MovementReader) error) error {
	if err := acc.Validate(); err != nil {
		return err
	}
	return db.update(ctx, "read case movements", func(tx *sql.Tx, _ time.Time) error {
		c, err := db.findCase(ctx, tx, caseID)
		if err != nil {
			return err
		}
		r, err := db.findResident(ctx, tx, c.ResidentID)
		if err != nil {
			return err
		}
		if err := fn(c, r.Pseudonym, txMovements{tx}); err != nil {
			return err
		}
		db.readAccess(tx, acc, c.ResidentID, fmt.Sprintf("check-ins, to trace case %d", caseID))
		return nil
	})
}

// txMovements reads check-ins and venues inside a transaction, with the
// queries of checkins.go and venues.go.
type txMovements struct{ tx *sql.Tx }

var _ healthcode.MovementReader = txMovements{}

func (m txMovements) list(ctx context.Context, query string, args ...any) ([]healthcode.CheckIn, error) {
	cs := []healthcode.CheckIn{}
	err := queryAll(ctx, m.tx, func(rows *sql.Rows) error {
		c, err := scanCheckIn(rows)
		cs = append(cs, c)
		return err
	}, query, args...)
	return cs, err
}

func (m txMovements) ListCheckInsOfSubject(ctx context.Context, issuer, subject string, from, to time.Time) ([]healthcode.CheckIn, error) {
	code, err := issuerCode(issuer)
	if err != nil {
		return nil, err
	}
	return m.list(ctx, `SELECT `+checkInColumns+` FROM checkins
WHERE issuer = $1 AND subject = $2 AND at >= $3 AND at < $4 ORDER BY at, id`,
		code, subject, from.UnixMicro(), to.UnixMicro())
}

func (m txMovements) ListCheckInsAtVenue(ctx context.Context, venueID int64, from, to time.Time) ([]healthcode.CheckIn, error) {
	return m.list(ctx, `SELECT `+checkInColumns+` FROM checkins
WHERE venue_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id`,
		venueID, from.UnixMicro(), to.UnixMicro())
}

func (m txMovements) FindVenue(ctx context.Context, id int64) (*healthcode.Venue, error) {
	return findVenue(ctx, m.tx, id)
}

var errAuditInReadOnly = errors.New("audit entries recorded in a read-only transaction")

// ReadResident returns a resident for someone other than them or their
// guardian (an official's lookup), recording acc in the audit log in the
// same transaction.
func (db *DB) ReadResident(ctx context.Context, acc healthcode.Access, id int64) (*healthcode.Resident, error) {
	if err := acc.Validate(); err != nil {
		return nil, err
	}
	var r *healthcode.Resident
	err := db.update(ctx, "read resident", func(tx *sql.Tx, _ time.Time) error {
		var err error
		if r, err = db.findResident(ctx, tx, id); err != nil {
			return err
		}
		db.readAccess(tx, acc, id, fmt.Sprintf("resident %d", id))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}
