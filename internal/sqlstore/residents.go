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

// Seal contexts: each ciphertext is bound to its column, so a value cannot be
// moved to another one.
const (
	sealName     = "resident.name"
	sealIDNumber = "resident.id_number"
	sealPhone    = "resident.phone"
	sealAddress  = "resident.address"
)

// pseudonymAttempts bounds the retries after a pseudonym collision (a chance
// of n/2^40 per enrollment with n residents enrolled).
const pseudonymAttempts = 5

var errPseudonymTaken = errors.New("pseudonym already taken")

func (db *DB) documentIndex(t healthcode.IDType, number string) []byte {
	return db.cipher.BlindIndex("id_number", string(t)+":"+number)
}

func (db *DB) phoneIndex(phone string) []byte {
	return db.cipher.BlindIndex("phone", phone)
}

// CreateResident enrolls r (already validated and normalized), filling in
// ID, Pseudonym and CreatedAt, and records the initial status with the cause
// "enrolled". A second resident with the same document or phone number is an
// ECONFLICT; a GuardianID that does not exist is an ENOTFOUND.
func (db *DB) CreateResident(ctx context.Context, r *healthcode.Resident, passwordHash string) error {
	nameEnc := db.cipher.Seal(r.Name, sealName)
	idEnc := db.cipher.Seal(r.IDNumber, sealIDNumber)
	idIdx := db.documentIndex(r.IDType, r.IDNumber)
	addrEnc := db.cipher.Seal(r.Address, sealAddress)
	var phoneEnc, phoneIdx []byte // NULL for a dependent without a phone
	if r.Phone != "" {
		phoneEnc = db.cipher.Seal(r.Phone, sealPhone)
		phoneIdx = db.phoneIndex(r.Phone)
	}
	pwd := sql.NullString{String: passwordHash, Valid: passwordHash != ""}
	guardian := sql.NullInt64{Int64: r.GuardianID, Valid: r.GuardianID != 0}

	for attempt := 1; ; attempt++ {
		pseudonym := db.newPseudonym()
		var id int64
		var createdAt time.Time
		err := db.update(ctx, "create resident", func(tx *sql.Tx, now time.Time) error {
			if guardian.Valid {
				if ok, err := residentExists(ctx, tx, r.GuardianID); err != nil {
					return err
				} else if !ok {
					return healthcode.Errorf(healthcode.ENOTFOUND, "guardian resident %d not found", r.GuardianID)
				}
			}
			err := tx.QueryRowContext(ctx, `INSERT INTO residents (name_enc, sex, birth_date, nationality, id_type,
    id_number_enc, id_number_idx, phone_enc, phone_idx, region, address_enc, guardian_id, pseudonym,
    password_hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING id`,
				nameEnc, string(r.Sex), dateText(r.BirthDate), r.Nationality, string(r.IDType),
				idEnc, idIdx, phoneEnc, phoneIdx, r.Region, addrEnc, guardian, pseudonym,
				pwd, now.UnixMicro()).Scan(&id)
			if err != nil {
				if constraint, ok := db.engine.violation(err); ok {
					switch constraint {
					case constraintDocument:
						return healthcode.Errorf(healthcode.ECONFLICT, "a resident with this %s number is already enrolled", r.IDType)
					case constraintPhone:
						return healthcode.Errorf(healthcode.ECONFLICT, "this phone number is already registered")
					case constraintPseudonym:
						return errPseudonymTaken
					}
				}
				return fmt.Errorf("insert: %w", err)
			}
			createdAt = now
			db.record(ctx, tx, healthcode.ActionEnroll, id, fmt.Sprintf("resident %d", id))
			_, err = db.refreshStatus(ctx, tx, now, id, "enrolled")
			return err
		})
		if errors.Is(err, errPseudonymTaken) && attempt < pseudonymAttempts {
			db.log.Warn("pseudonym collision; retrying enrollment", "attempt", attempt)
			continue
		}
		if err != nil {
			return err
		}
		birth, err := parseDate(dateText(r.BirthDate))
		if err != nil {
			return fmt.Errorf("create resident: %w", err)
		}
		r.ID, r.Pseudonym, r.CreatedAt, r.BirthDate = id, pseudonym, createdAt, birth
		return nil
	}
}

// residentColumns are the columns scanResident reads, in order.
const residentColumns = `id, name_enc, sex, birth_date, nationality, id_type, id_number_enc, phone_enc,
    region, address_enc, guardian_id, pseudonym, created_at`

// scanResident reads residentColumns (then extra) and decrypts the personal
// data.
func (db *DB) scanResident(s scanner, extra ...any) (*healthcode.Resident, error) {
	var (
		r                                 healthcode.Resident
		nameEnc, idEnc, phoneEnc, addrEnc []byte
		sex, birth, idType                string
		guardian                          sql.NullInt64
		createdAt                         int64
	)
	dest := append([]any{&r.ID, &nameEnc, &sex, &birth, &r.Nationality, &idType, &idEnc, &phoneEnc,
		&r.Region, &addrEnc, &guardian, &r.Pseudonym, &createdAt}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	r.Sex, r.IDType, r.GuardianID = healthcode.Sex(sex), healthcode.IDType(idType), guardian.Int64
	r.CreatedAt = instant(sql.NullInt64{Int64: createdAt, Valid: true})
	var err error
	if r.BirthDate, err = parseDate(birth); err != nil {
		return nil, fmt.Errorf("resident %d: %w", r.ID, err)
	}
	open := func(dst *string, enc []byte, context string) {
		if err != nil || enc == nil {
			return
		}
		if *dst, err = db.cipher.Open(enc, context); err != nil {
			err = fmt.Errorf("resident %d: %s: %w", r.ID, context, err)
		}
	}
	open(&r.Name, nameEnc, sealName)
	open(&r.IDNumber, idEnc, sealIDNumber)
	open(&r.Phone, phoneEnc, sealPhone)
	open(&r.Address, addrEnc, sealAddress)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func residentNotFound(id int64) error {
	return healthcode.Errorf(healthcode.ENOTFOUND, "resident %d not found", id)
}

func residentExists(ctx context.Context, q queryer, id int64) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM residents WHERE id = $1`, id).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// lockResident locks the resident's row until the transaction ends, so that
// writers of one resident's facts and status take turns (PostgreSQL; SQLite
// serializes all writers anyway). It returns ENOTFOUND for no such resident.
func (db *DB) lockResident(ctx context.Context, tx *sql.Tx, id int64) error {
	var got int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM residents WHERE id = $1`+db.engine.forUpdate, id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return residentNotFound(id)
	}
	return err
}

// residentByID selects one resident by id.
const residentByID = `SELECT ` + residentColumns + ` FROM residents WHERE id = $1`

// findResident reads one resident in q.
func (db *DB) findResident(ctx context.Context, q queryer, id int64) (*healthcode.Resident, error) {
	return db.residentFrom(q.QueryRowContext(ctx, residentByID, id), id)
}

// residentFrom scans the resident with this id from row (residentByID).
func (db *DB) residentFrom(row *sql.Row, id int64) (*healthcode.Resident, error) {
	r, err := db.scanResident(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, residentNotFound(id)
	}
	return r, err
}

// FindResidentByID returns the resident with this id, decrypted.
func (db *DB) FindResidentByID(ctx context.Context, id int64) (*healthcode.Resident, error) {
	r, err := db.residentFrom(db.readRow(ctx, residentByID, id), id)
	if err != nil {
		return nil, db.wrap("find resident", err)
	}
	return r, nil
}

// FindResidentByDocument returns the resident enrolled with this document,
// decrypted. The number is matched as Resident.Normalize writes it.
func (db *DB) FindResidentByDocument(ctx context.Context, t healthcode.IDType, number string) (*healthcode.Resident, error) {
	number = strings.ToUpper(strings.TrimSpace(number))
	r, err := db.scanResident(db.read.QueryRowContext(ctx,
		`SELECT `+residentColumns+` FROM residents WHERE id_type = $1 AND id_number_idx = $2`,
		string(t), db.documentIndex(t, number)))
	if errors.Is(err, sql.ErrNoRows) {
		err = healthcode.Errorf(healthcode.ENOTFOUND, "no resident is enrolled with this %s number", t)
	}
	if err != nil {
		return nil, db.wrap("find resident by document", err)
	}
	return r, nil
}

// FindResidentByPseudonym returns the resident a code's subject names,
// decrypted.
func (db *DB) FindResidentByPseudonym(ctx context.Context, pseudonym string) (*healthcode.Resident, error) {
	r, err := db.scanResident(db.read.QueryRowContext(ctx,
		`SELECT `+residentColumns+` FROM residents WHERE pseudonym = $1`, pseudonym))
	if errors.Is(err, sql.ErrNoRows) {
		err = healthcode.Errorf(healthcode.ENOTFOUND, "no resident has the pseudonym %q", pseudonym)
	}
	if err != nil {
		return nil, db.wrap("find resident by pseudonym", err)
	}
	return r, nil
}

// FindLogin returns the resident with this phone number and their password
// hash, which is empty for a dependent without a login.
func (db *DB) FindLogin(ctx context.Context, phone string) (*healthcode.Resident, string, error) {
	var pwd sql.NullString
	r, err := db.scanResident(db.read.QueryRowContext(ctx,
		`SELECT `+residentColumns+`, password_hash FROM residents WHERE phone_idx = $1`,
		db.phoneIndex(strings.TrimSpace(phone))), &pwd)
	if errors.Is(err, sql.ErrNoRows) {
		err = healthcode.Errorf(healthcode.ENOTFOUND, "no resident is registered with this phone number")
	}
	if err != nil {
		return nil, "", db.wrap("find login", err)
	}
	return r, pwd.String, nil
}

// ListDependents returns the residents guardianID manages, in enrollment
// order; ENOTFOUND if there is no such guardian.
func (db *DB) ListDependents(ctx context.Context, guardianID int64) ([]*healthcode.Resident, error) {
	deps := []*healthcode.Resident{}
	err := db.view(ctx, "list dependents", func(tx *sql.Tx, _ time.Time) error {
		err := queryAll(ctx, tx, func(rows *sql.Rows) error {
			r, err := db.scanResident(rows)
			if err == nil {
				deps = append(deps, r)
			}
			return err
		}, `SELECT `+residentColumns+` FROM residents WHERE guardian_id = $1 ORDER BY id`, guardianID)
		if err != nil || len(deps) > 0 {
			return err
		}
		if ok, err := residentExists(ctx, tx, guardianID); err != nil {
			return err
		} else if !ok {
			return residentNotFound(guardianID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deps, nil
}
