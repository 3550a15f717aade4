package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"healthcode"
)

// Every fact writer is one transaction that locks the resident, validates
// and inserts the fact, then re-evaluates the resident's status from all of
// their facts (refreshStatus) with the fact as the cause of any change.

// AddDeclaration records a resident's declaration, filling in ID and
// DeclaredAt (and DeclaredBy, the resident, when zero), and returns the
// resident's new status.
func (db *DB) AddDeclaration(ctx context.Context, d *healthcode.Declaration) (healthcode.Status, error) {
	var st healthcode.Status
	var out healthcode.Declaration
	err := db.update(ctx, "add declaration", func(tx *sql.Tx, now time.Time) error {
		out = *d
		out.DeclaredAt = now
		if out.DeclaredBy == 0 {
			out.DeclaredBy = out.ResidentID
		}
		out.Visited = slices.Clone(d.Visited)
		for i := range out.Visited {
			out.Visited[i].Date = truncate(out.Visited[i].Date)
		}
		if err := out.Validate(now); err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, out.ResidentID); err != nil {
			return err
		}
		symptoms, err := json.Marshal(nonNil(out.Symptoms))
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO declarations (resident_id, temperature, symptoms,
    contact_with_case, declared_at, declared_by)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			out.ResidentID, out.Temperature, string(symptoms), out.ContactWithCase, now.UnixMicro(),
			out.DeclaredBy).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert declaration: %w", err)
		}
		for i, v := range out.Visited {
			region, err := strconv.Atoi(v.Region)
			if err != nil {
				return healthcode.Errorf(healthcode.EINVALID, "invalid declaration: visited: item %d: region must be a 6-digit region code", i)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO declaration_visits (declaration_id, position, resident_id, region, visit_date)
VALUES ($1, $2, $3, $4, $5)`, out.ID, i, out.ResidentID, region, v.Date.UnixMicro())
			if err != nil {
				return fmt.Errorf("insert visit: %w", err)
			}
		}
		db.record(ctx, tx, healthcode.ActionFactAdd, out.ResidentID, fmt.Sprintf("declaration %d", out.ID))
		st, err = db.refreshStatus(ctx, tx, now, out.ResidentID, fmt.Sprintf("declaration %d", out.ID))
		return err
	})
	if err != nil {
		return healthcode.Status{}, err
	}
	*d = out
	return st, nil
}

// ListDeclarations returns the resident's declarations in the order they
// were filed; ENOTFOUND if there is no such resident.
func (db *DB) ListDeclarations(ctx context.Context, residentID int64) ([]healthcode.Declaration, error) {
	var ds []healthcode.Declaration
	err := db.view(ctx, "list declarations", func(tx *sql.Tx, _ time.Time) error {
		var err error
		if ds, err = db.declarations(ctx, tx, residentID); err != nil || len(ds) > 0 {
			return err
		}
		if ok, err := residentExists(ctx, tx, residentID); err != nil {
			return err
		} else if !ok {
			return residentNotFound(residentID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ds == nil {
		ds = []healthcode.Declaration{}
	}
	return ds, nil
}

// AddTestResult records a lab's test result, filling in ID and RecordedAt,
// and returns the resident's new status.
func (db *DB) AddTestResult(ctx context.Context, t *healthcode.TestResult) (healthcode.Status, error) {
	var st healthcode.Status
	var out healthcode.TestResult
	err := db.update(ctx, "add test result", func(tx *sql.Tx, now time.Time) error {
		out = *t
		out.RecordedAt = now
		out.SampledAt, out.ResultedAt = truncate(out.SampledAt), truncate(out.ResultedAt)
		if err := out.Validate(now); err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, out.ResidentID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO test_results (resident_id, type, result, sampled_at,
    resulted_at, institution, recorded_at, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			out.ResidentID, string(out.Type), string(out.Result), out.SampledAt.UnixMicro(),
			out.ResultedAt.UnixMicro(), out.Institution, now.UnixMicro(), out.RecordedBy).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert test result: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionFactAdd, out.ResidentID, fmt.Sprintf("test result %d", out.ID))
		st, err = db.refreshStatus(ctx, tx, now, out.ResidentID,
			fmt.Sprintf("test result %d (%s %s)", out.ID, out.Type, out.Result))
		return err
	})
	if err != nil {
		return healthcode.Status{}, err
	}
	*t = out
	return st, nil
}

// AddVaccination records a dose, filling in ID and RecordedAt, and returns
// the resident's new status.
func (db *DB) AddVaccination(ctx context.Context, v *healthcode.Vaccination) (healthcode.Status, error) {
	var st healthcode.Status
	var out healthcode.Vaccination
	err := db.update(ctx, "add vaccination", func(tx *sql.Tx, now time.Time) error {
		out = *v
		out.RecordedAt = now
		out.Date = truncate(out.Date)
		if err := out.Validate(now); err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, out.ResidentID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO vaccinations (resident_id, product, dose, series_doses,
    given_on, institution, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			out.ResidentID, out.Product, out.Dose, out.SeriesDoses, out.Date.UnixMicro(), out.Institution,
			now.UnixMicro()).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert vaccination: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionFactAdd, out.ResidentID, fmt.Sprintf("vaccination %d", out.ID))
		st, err = db.refreshStatus(ctx, tx, now, out.ResidentID,
			fmt.Sprintf("vaccination %d (dose %d of %d)", out.ID, out.Dose, out.SeriesDoses))
		return err
	})
	if err != nil {
		return healthcode.Status{}, err
	}
	*v = out
	return st, nil
}

// AddRecovery records a recovery attested by a certificate, filling in ID
// and RecordedAt, and returns the resident's new status. ECONFLICT when the
// resident already has that certificate (same source and certificate id),
// so importing one twice records it once.
func (db *DB) AddRecovery(ctx context.Context, r *healthcode.Recovery) (healthcode.Status, error) {
	var st healthcode.Status
	var out healthcode.Recovery
	err := db.update(ctx, "add recovery", func(tx *sql.Tx, now time.Time) error {
		out = *r
		out.RecordedAt = now
		out.FirstPositive, out.ValidFrom, out.ValidUntil = truncate(out.FirstPositive), truncate(out.ValidFrom), truncate(out.ValidUntil)
		if err := out.Validate(now); err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, out.ResidentID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO recoveries (resident_id, first_positive, valid_from, valid_until,
    country, issuer, certificate_id, source, recorded_at, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			out.ResidentID, out.FirstPositive.UnixMicro(), out.ValidFrom.UnixMicro(), out.ValidUntil.UnixMicro(),
			out.Country, out.Issuer, out.CertificateID, out.Source, now.UnixMicro(), out.RecordedBy).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert recovery: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionFactAdd, out.ResidentID, fmt.Sprintf("recovery %d", out.ID))
		st, err = db.refreshStatus(ctx, tx, now, out.ResidentID,
			fmt.Sprintf("recovery %d (%s %s)", out.ID, out.Source, out.CertificateID))
		return err
	})
	if err != nil {
		return healthcode.Status{}, err
	}
	*r = out
	return st, nil
}

// CreateCase records a confirmed case, filling in ID (and ConfirmedAt, now,
// when zero), and returns the resident's new status. A case is discharged
// with DischargeCase, never on creation.
func (db *DB) CreateCase(ctx context.Context, c *healthcode.Case) (healthcode.Status, error) {
	if !c.DischargedAt.IsZero() {
		return healthcode.Status{}, healthcode.Errorf(healthcode.EINVALID, "invalid case: discharged_at: a new case cannot be discharged")
	}
	var st healthcode.Status
	var out healthcode.Case
	err := db.update(ctx, "create case", func(tx *sql.Tx, now time.Time) error {
		out = *c
		if out.ConfirmedAt.IsZero() {
			out.ConfirmedAt = now
		}
		out.ConfirmedAt = truncate(out.ConfirmedAt)
		out.OnsetDate, out.SampleDate = truncate(out.OnsetDate), truncate(out.SampleDate)
		if err := out.Validate(now); err != nil {
			return err
		}
		if err := db.lockResident(ctx, tx, out.ResidentID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO cases (resident_id, confirmed_at, onset_date, sample_date,
    discharged_at, note, recorded_by)
VALUES ($1, $2, $3, $4, NULL, $5, $6) RETURNING id`,
			out.ResidentID, out.ConfirmedAt.UnixMicro(), micros(out.OnsetDate), micros(out.SampleDate),
			out.Note, out.RecordedBy).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert case: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionFactAdd, out.ResidentID, fmt.Sprintf("case %d", out.ID))
		st, err = db.refreshStatus(ctx, tx, now, out.ResidentID, fmt.Sprintf("case %d confirmed", out.ID))
		return err
	})
	if err != nil {
		return healthcode.Status{}, err
	}
	*c = out
	return st, nil
}

const caseColumns = `id, resident_id, confirmed_at, onset_date, sample_date, discharged_at, note, recorded_by`

func (db *DB) scanCase(s scanner) (healthcode.Case, error) {
	var c healthcode.Case
	var confirmed, onset, sample, discharged sql.NullInt64
	err := s.Scan(&c.ID, &c.ResidentID, &confirmed, &onset, &sample, &discharged, &c.Note, &c.RecordedBy)
	c.ConfirmedAt, c.OnsetDate, c.SampleDate = instant(confirmed), instant(onset), instant(sample)
	c.DischargedAt = instant(discharged)
	return c, err
}

func (db *DB) findCase(ctx context.Context, q queryer, id int64) (*healthcode.Case, error) {
	c, err := db.scanCase(q.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM cases WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, healthcode.Errorf(healthcode.ENOTFOUND, "case %d not found", id)
	} else if err != nil {
		return nil, err
	}
	return &c, nil
}

// FindCase returns the case with this id.
func (db *DB) FindCase(ctx context.Context, id int64) (*healthcode.Case, error) {
	c, err := db.findCase(ctx, db.read, id)
	if err != nil {
		return nil, db.wrap("find case", err)
	}
	return c, nil
}

// DischargeCase records the case's discharge at at (now when zero) and
// returns the case and the resident's new status. EINVALID if the case was
// already discharged or at is before the confirmation or in the future.
func (db *DB) DischargeCase(ctx context.Context, caseID int64, at time.Time) (*healthcode.Case, healthcode.Status, error) {
	var st healthcode.Status
	var out *healthcode.Case
	err := db.update(ctx, "discharge case", func(tx *sql.Tx, now time.Time) error {
		c, err := db.findCase(ctx, tx, caseID)
		if err != nil {
			return err
		}
		// Every writer of a resident's cases holds the resident's lock; read
		// the case again under it.
		if err := db.lockResident(ctx, tx, c.ResidentID); err != nil {
			return err
		}
		if c, err = db.findCase(ctx, tx, caseID); err != nil {
			return err
		}
		dischargedAt := truncate(at)
		if dischargedAt.IsZero() {
			dischargedAt = now
		}
		switch {
		case c.Discharged():
			return healthcode.Errorf(healthcode.ECONFLICT, "case %d was already discharged at %s", caseID,
				c.DischargedAt.Format(time.RFC3339))
		case dischargedAt.After(now.Add(5 * time.Minute)):
			return healthcode.Errorf(healthcode.EINVALID, "invalid discharge: discharged_at is in the future")
		case dischargedAt.Before(c.ConfirmedAt):
			return healthcode.Errorf(healthcode.EINVALID, "invalid discharge: discharged_at is before the case was confirmed")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cases SET discharged_at = $1 WHERE id = $2`,
			dischargedAt.UnixMicro(), caseID); err != nil {
			return fmt.Errorf("update case: %w", err)
		}
		c.DischargedAt = dischargedAt
		out = c
		db.record(ctx, tx, healthcode.ActionFactUpdate, c.ResidentID, fmt.Sprintf("case %d: discharge", caseID))
		st, err = db.refreshStatus(ctx, tx, now, c.ResidentID, fmt.Sprintf("case %d discharged", caseID))
		return err
	})
	if err != nil {
		return nil, healthcode.Status{}, err
	}
	return out, st, nil
}

// regionRange returns the 6-digit region codes a prefix covers:
// [lo, hi), e.g. "4201" covers [420100, 420200).
func regionRange(prefix string) (lo, hi int, err error) {
	p, err := strconv.Atoi(prefix)
	if err != nil || len(prefix) < 1 || len(prefix) > 6 {
		return 0, 0, fmt.Errorf("bad region prefix %q", prefix)
	}
	scale := int(math.Pow10(6 - len(prefix)))
	return p * scale, (p + 1) * scale, nil
}

// AddAreaRisk records the designation, filling in ID and RecordedAt, and
// re-evaluates every resident who declared a visit to a covered region on a
// day within the last 14 days and within the designation's range (with a
// day's slack either side). It returns how many residents it re-evaluated.
func (db *DB) AddAreaRisk(ctx context.Context, a *healthcode.AreaRisk) (int, error) {
	var out healthcode.AreaRisk
	var n int
	err := db.update(ctx, "add area risk", func(tx *sql.Tx, now time.Time) error {
		out = *a
		out.RecordedAt = now
		out.From, out.To = truncate(out.From), truncate(out.To)
		if err := out.Validate(); err != nil {
			return err
		}
		lo, hi, err := regionRange(out.Prefix)
		if err != nil {
			return healthcode.Errorf(healthcode.EINVALID, "invalid area risk: region_prefix: must be 2 to 6 digits of a region code")
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO area_risks (prefix, region_lo, region_hi, level, from_at, to_at,
    recorded_at, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			out.Prefix, lo, hi, string(out.Level), out.From.UnixMicro(), micros(out.To), now.UnixMicro(),
			out.RecordedBy).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert area risk: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionFactAdd, 0, fmt.Sprintf("area risk %d", out.ID))

		const day = 24 * time.Hour
		since := now.Add(-healthcode.DeclarationWindow - day)
		if from := out.From.Add(-day); from.After(since) {
			since = from
		}
		until := int64(math.MaxInt64)
		if !out.To.IsZero() {
			until = out.To.Add(day).UnixMicro()
		}
		var ids []int64
		err = queryAll(ctx, tx, func(rows *sql.Rows) error {
			var id int64
			err := rows.Scan(&id)
			ids = append(ids, id)
			return err
		}, `SELECT DISTINCT resident_id FROM declaration_visits
WHERE region >= $1 AND region < $2 AND visit_date >= $3 AND visit_date < $4
ORDER BY resident_id`, lo, hi, since.UnixMicro(), until)
		if err != nil {
			return fmt.Errorf("find visitors: %w", err)
		}
		cause := fmt.Sprintf("area risk %d (%s %s)", out.ID, out.Prefix, out.Level)
		// In id order, so that two designations never wait for each other.
		for _, id := range ids {
			if err := db.lockResident(ctx, tx, id); err != nil {
				return err
			}
			if _, err := db.refreshStatus(ctx, tx, now, id, cause); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, err
	}
	*a = out
	db.log.Info("area risk designated", "area_risk", out.ID, "prefix", out.Prefix, "level", out.Level, "reevaluated", n)
	return n, nil
}

const areaRiskColumns = `a.id, a.prefix, a.level, a.from_at, a.to_at, a.recorded_at, a.recorded_by`

func (db *DB) scanAreaRisk(s scanner) (healthcode.AreaRisk, error) {
	var a healthcode.AreaRisk
	var level string
	var from, to, recorded sql.NullInt64
	err := s.Scan(&a.ID, &a.Prefix, &level, &from, &to, &recorded, &a.RecordedBy)
	a.Level, a.From, a.To, a.RecordedAt = healthcode.RiskLevel(level), instant(from), instant(to), instant(recorded)
	return a, err
}

// ListAreaRisks returns every area designation, oldest first.
func (db *DB) ListAreaRisks(ctx context.Context) ([]healthcode.AreaRisk, error) {
	as := []healthcode.AreaRisk{}
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		a, err := db.scanAreaRisk(rows)
		as = append(as, a)
		return err
	}, `SELECT `+areaRiskColumns+` FROM area_risks a ORDER BY a.id`)
	if err != nil {
		return nil, db.wrap("list area risks", err)
	}
	return as, nil
}

// AddContactDesignation records a tracer's designation of a close contact,
// filling in ID and DesignatedAt, and returns the contact's new status.
func (db *DB) AddContactDesignation(ctx context.Context, c *healthcode.ContactDesignation) (healthcode.Status, error) {
	var st healthcode.Status
	var out healthcode.ContactDesignation
	err := db.update(ctx, "add contact designation", func(tx *sql.Tx, now time.Time) error {
		out = *c
		var err error
		st, err = db.addContactDesignation(ctx, tx, now, &out)
		return err
	})
	if err != nil {
		return healthcode.Status{}, err
	}
	*c = out
	return st, nil
}

// addContactDesignation records c inside tx: the fact, its audit entry, the
// resident's notification and new status. c.CaseID names a case of this
// region; or c.CaseRegion another region, whose case this one cannot see
// (a confirmed contact notice).
func (db *DB) addContactDesignation(ctx context.Context, tx *sql.Tx, now time.Time, out *healthcode.ContactDesignation) (healthcode.Status, error) {
	out.DesignatedAt = now
	out.LastExposure = truncate(out.LastExposure)
	var p healthcode.Problems
	if out.LastExposure.IsZero() {
		p.Add("last_exposure", "is required (RFC 3339)")
	} else if out.LastExposure.After(now.Add(5 * time.Minute)) {
		p.Add("last_exposure", "is in the future")
	}
	if n := len([]rune(strings.TrimSpace(out.Venue))); n > 200 {
		p.Add("venue", "is longer than 200 characters")
	}
	if (out.CaseID == 0) == (out.CaseRegion == "") {
		p.Add("case_id", "name either a case of this region or another region")
	}
	if err := p.Err("invalid contact designation"); err != nil {
		return healthcode.Status{}, err
	}
	if err := db.lockResident(ctx, tx, out.ResidentID); err != nil {
		return healthcode.Status{}, err
	}
	caseRef := sql.NullInt64{}
	cause := ""
	if out.CaseID != 0 {
		cs, err := db.findCase(ctx, tx, out.CaseID)
		if err != nil {
			return healthcode.Status{}, err
		}
		if cs.ResidentID == out.ResidentID {
			return healthcode.Status{}, healthcode.Errorf(healthcode.EINVALID, "invalid contact designation: resident %d is the case itself", out.ResidentID)
		}
		caseRef = sql.NullInt64{Int64: out.CaseID, Valid: true}
		cause = fmt.Sprintf("case %d", out.CaseID)
	} else {
		cause = fmt.Sprintf("a case of region %s, contact proposal %d", out.CaseRegion, out.ProposalID)
	}
	proposal := sql.NullInt64{Int64: out.ProposalID, Valid: out.ProposalID != 0}
	err := tx.QueryRowContext(ctx, `INSERT INTO contact_designations (resident_id, case_id, case_region, proposal_id, venue,
    last_exposure, designated_at, designated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		out.ResidentID, caseRef, out.CaseRegion, proposal, out.Venue, out.LastExposure.UnixMicro(), now.UnixMicro(),
		out.DesignatedBy).Scan(&out.ID)
	if err != nil {
		return healthcode.Status{}, fmt.Errorf("insert contact designation: %w", err)
	}
	db.record(ctx, tx, healthcode.ActionFactAdd, out.ResidentID, fmt.Sprintf("contact designation %d (%s)", out.ID, cause))
	whereEN, whereZH := "", ""
	if v := strings.TrimSpace(out.Venue); v != "" {
		whereEN, whereZH = " at "+v, "（地点："+v+"）"
	}
	exposure := out.LastExposure.UTC().Format("2006-01-02 15:04 UTC")
	err = db.notify(ctx, tx, now, out.ResidentID, healthcode.NotifyContactDesignated,
		fmt.Sprintf("A tracer designated you a close contact of a confirmed case%s; the last exposure was on %s. "+
			"Your status follows from the published rules. If this is wrong, you can appeal.", whereEN, exposure),
		fmt.Sprintf("流调人员认定您为确诊病例的密切接触者%s，最后一次接触时间为%s。健康码按公开规则计算；如有错误，可提出申诉。",
			whereZH, exposure))
	if err != nil {
		return healthcode.Status{}, err
	}
	return db.refreshStatus(ctx, tx, now, out.ResidentID, fmt.Sprintf("contact designation %d (%s)", out.ID, cause))
}

// LoadFacts gathers, from one snapshot, everything the rules may look at for
// one resident.
func (db *DB) LoadFacts(ctx context.Context, residentID int64) (*healthcode.Facts, error) {
	var f *healthcode.Facts
	err := db.view(ctx, "load facts", func(tx *sql.Tx, _ time.Time) error {
		var err error
		f, err = db.loadFacts(ctx, tx, residentID)
		return err
	})
	return f, err
}

// LatestTest implements healthcode.StatusService.
func (db *DB) LatestTest(ctx context.Context, residentID int64, typ healthcode.TestType, result healthcode.TestOutcome) (time.Time, error) {
	var at sql.NullInt64
	err := db.readRow(ctx, `SELECT MAX(sampled_at) FROM test_results t
WHERE resident_id = $1 AND type = $2 AND result = $3
AND NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.resident_id = t.resident_id AND w.fact_kind = $4 AND w.fact_id = t.id)`,
		residentID, string(typ), string(result), string(healthcode.FactTestResult)).Scan(&at)
	if err != nil {
		return time.Time{}, db.wrap("latest test", err)
	}
	return instant(at), nil
}

// loadFacts reads what the rules see of a resident in q: the facts in force
// (withdrawn ones left out), approved overrides and retained reasons, each
// kind in the order it was recorded.
func (db *DB) loadFacts(ctx context.Context, q queryer, residentID int64) (*healthcode.Facts, error) {
	f, err := db.loadRecordedFacts(ctx, q, residentID)
	if err != nil {
		return nil, err
	}
	ws, err := withdrawn(ctx, q, residentID)
	if err != nil {
		return nil, err
	}
	if len(ws) > 0 {
		out := map[healthcode.FactRef]bool{}
		for _, w := range ws {
			out[w.Fact] = true
		}
		gone := func(k healthcode.FactKind, id int64) bool { return out[healthcode.FactRef{Kind: k, ID: id}] }
		f.Declarations = nilIfEmpty(slices.DeleteFunc(f.Declarations, func(d healthcode.Declaration) bool {
			return gone(healthcode.FactDeclaration, d.ID)
		}))
		f.Tests = nilIfEmpty(slices.DeleteFunc(f.Tests, func(t healthcode.TestResult) bool {
			return gone(healthcode.FactTestResult, t.ID)
		}))
		f.Vaccinations = nilIfEmpty(slices.DeleteFunc(f.Vaccinations, func(v healthcode.Vaccination) bool {
			return gone(healthcode.FactVaccination, v.ID)
		}))
		f.Recoveries = nilIfEmpty(slices.DeleteFunc(f.Recoveries, func(r healthcode.Recovery) bool {
			return gone(healthcode.FactRecovery, r.ID)
		}))
		f.Cases = nilIfEmpty(slices.DeleteFunc(f.Cases, func(c healthcode.Case) bool {
			return gone(healthcode.FactCase, c.ID)
		}))
		f.Contacts = nilIfEmpty(slices.DeleteFunc(f.Contacts, func(c healthcode.ContactDesignation) bool {
			return gone(healthcode.FactContactDesignation, c.ID)
		}))
		f.Retained = nilIfEmpty(slices.DeleteFunc(f.Retained, func(r healthcode.RetainedReason) bool {
			return gone(healthcode.FactRetainedReason, r.ID)
		}))
		// Areas matter through the declared visits that remain.
		f.Areas = relevantAreas(f.Areas, f.Declarations)
	}
	if f.Overrides, err = db.listOverrides(ctx, q, `resident_id = $1 AND state = $2 ORDER BY id`,
		residentID, string(healthcode.OverrideApproved)); err != nil {
		return nil, fmt.Errorf("load overrides: %w", err)
	}
	f.Overrides = nilIfEmpty(f.Overrides)
	return f, nil
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// loadRecordedFacts reads every fact recorded about a resident in q,
// withdrawn ones included, and the retained reasons. Areas holds only the
// designations whose prefix covers a region the resident declared a visit to.
func (db *DB) loadRecordedFacts(ctx context.Context, q queryer, residentID int64) (*healthcode.Facts, error) {
	r, err := db.findResident(ctx, q, residentID)
	if err != nil {
		return nil, err
	}
	f := &healthcode.Facts{Resident: *r}
	if f.Declarations, err = db.declarations(ctx, q, residentID); err != nil {
		return nil, err
	}

	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		var t healthcode.TestResult
		var typ, result string
		var sampled, resulted, recorded sql.NullInt64
		err := rows.Scan(&t.ID, &t.ResidentID, &typ, &result, &sampled, &resulted, &t.Institution, &recorded, &t.RecordedBy)
		t.Type, t.Result = healthcode.TestType(typ), healthcode.TestOutcome(result)
		t.SampledAt, t.ResultedAt, t.RecordedAt = instant(sampled), instant(resulted), instant(recorded)
		f.Tests = append(f.Tests, t)
		return err
	}, `SELECT id, resident_id, type, result, sampled_at, resulted_at, institution, recorded_at, recorded_by
FROM test_results WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load test results: %w", err)
	}

	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		var v healthcode.Vaccination
		var given, recorded sql.NullInt64
		err := rows.Scan(&v.ID, &v.ResidentID, &v.Product, &v.Dose, &v.SeriesDoses, &given, &v.Institution, &recorded)
		v.Date, v.RecordedAt = instant(given), instant(recorded)
		f.Vaccinations = append(f.Vaccinations, v)
		return err
	}, `SELECT id, resident_id, product, dose, series_doses, given_on, institution, recorded_at
FROM vaccinations WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load vaccinations: %w", err)
	}

	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		var r healthcode.Recovery
		var first, from, until, recorded sql.NullInt64
		err := rows.Scan(&r.ID, &r.ResidentID, &first, &from, &until, &r.Country, &r.Issuer, &r.CertificateID,
			&r.Source, &recorded, &r.RecordedBy)
		r.FirstPositive, r.ValidFrom, r.ValidUntil, r.RecordedAt = instant(first), instant(from), instant(until), instant(recorded)
		f.Recoveries = append(f.Recoveries, r)
		return err
	}, `SELECT id, resident_id, first_positive, valid_from, valid_until, country, issuer, certificate_id, source,
    recorded_at, recorded_by
FROM recoveries WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load recoveries: %w", err)
	}

	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		c, err := db.scanCase(rows)
		f.Cases = append(f.Cases, c)
		return err
	}, `SELECT `+caseColumns+` FROM cases WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load cases: %w", err)
	}

	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		var c healthcode.ContactDesignation
		var caseID, proposal, exposure, designated sql.NullInt64
		err := rows.Scan(&c.ID, &c.ResidentID, &caseID, &c.CaseRegion, &proposal, &c.Venue, &exposure, &designated, &c.DesignatedBy)
		c.CaseID, c.ProposalID = caseID.Int64, proposal.Int64
		c.LastExposure, c.DesignatedAt = instant(exposure), instant(designated)
		f.Contacts = append(f.Contacts, c)
		return err
	}, `SELECT id, resident_id, case_id, case_region, proposal_id, venue, last_exposure, designated_at, designated_by
FROM contact_designations WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load contact designations: %w", err)
	}

	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		a, err := db.scanAreaRisk(rows)
		f.Areas = append(f.Areas, a)
		return err
	}, `SELECT `+areaRiskColumns+` FROM area_risks a
WHERE EXISTS (SELECT 1 FROM declaration_visits v
    WHERE v.resident_id = $1 AND v.region >= a.region_lo AND v.region < a.region_hi)
ORDER BY a.id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load area risks: %w", err)
	}

	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		var r healthcode.RetainedReason
		var reason string
		var at int64
		if err := rows.Scan(&r.ID, &r.ResidentID, &reason, &at); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(reason), &r.Reason); err != nil {
			return fmt.Errorf("retained reason %d: %w", r.ID, err)
		}
		r.Reason = normalizeReason(r.Reason)
		r.RetainedAt = time.UnixMicro(at).UTC()
		f.Retained = append(f.Retained, r)
		return nil
	}, `SELECT id, resident_id, reason, retained_at FROM retained_reasons WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load retained reasons: %w", err)
	}
	return f, nil
}

// declarations reads a resident's declarations with their visits.
func (db *DB) declarations(ctx context.Context, q queryer, residentID int64) ([]healthcode.Declaration, error) {
	var ds []healthcode.Declaration
	byID := map[int64]int{}
	err := queryAll(ctx, q, func(rows *sql.Rows) error {
		var d healthcode.Declaration
		var symptoms string
		var declared sql.NullInt64
		if err := rows.Scan(&d.ID, &d.ResidentID, &d.Temperature, &symptoms, &d.ContactWithCase, &declared, &d.DeclaredBy); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(symptoms), &d.Symptoms); err != nil {
			return fmt.Errorf("declaration %d: symptoms: %w", d.ID, err)
		}
		if len(d.Symptoms) == 0 {
			d.Symptoms = nil
		}
		d.DeclaredAt = instant(declared)
		byID[d.ID] = len(ds)
		ds = append(ds, d)
		return nil
	}, `SELECT id, resident_id, temperature, symptoms, contact_with_case, declared_at, declared_by
FROM declarations WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load declarations: %w", err)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	err = queryAll(ctx, q, func(rows *sql.Rows) error {
		var declID int64
		var region int
		var date sql.NullInt64
		if err := rows.Scan(&declID, &region, &date); err != nil {
			return err
		}
		if i, ok := byID[declID]; ok {
			ds[i].Visited = append(ds[i].Visited, healthcode.Visit{Region: strconv.Itoa(region), Date: instant(date)})
		}
		return nil
	}, `SELECT declaration_id, region, visit_date FROM declaration_visits
WHERE resident_id = $1 ORDER BY declaration_id, position`, residentID)
	if err != nil {
		return nil, fmt.Errorf("load visits: %w", err)
	}
	return ds, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
