package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"healthcode"
)

var _ healthcode.FederationService = (*DB)(nil)

// QueueContactNotices implements healthcode.FederationService: each notice
// goes into contact_notice_outbox, due now, with an audit entry, all in one
// transaction. A notice id already queued is left as it is.
func (db *DB) QueueContactNotices(ctx context.Context, caseID int64, ns []healthcode.ContactNotice) error {
	return db.update(ctx, "queue contact notices", func(tx *sql.Tx, now time.Time) error {
		for i := range ns {
			n := ns[i]
			if n.IssuedAt.IsZero() {
				n.IssuedAt = now // signed again at each attempt; Validate wants one
			}
			if err := n.Validate(); err != nil {
				return err
			}
			payload, err := json.Marshal(n)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO contact_notice_outbox (notice_id, to_region, case_id, payload, queued_at,
    attempts, next_attempt_at, last_error, delivered_at, refused_at)
VALUES ($1, $2, $3, $4, $5, 0, $5, '', NULL, NULL) ON CONFLICT (notice_id) DO NOTHING`,
				n.ID, n.To, sql.NullInt64{Int64: caseID, Valid: caseID != 0}, string(payload), now.UnixMicro())
			if err != nil {
				return fmt.Errorf("queue contact notice %s: %w", n.ID, err)
			}
			if k, err := res.RowsAffected(); err != nil {
				return err
			} else if k == 0 {
				continue
			}
			db.record(ctx, tx, healthcode.ActionNoticeQueue, 0, fmt.Sprintf("contact notice %s to region %s: %d contacts of case %d",
				n.ID, n.To, len(n.Contacts), caseID))
		}
		return nil
	})
}

const outgoingColumns = `notice_id, case_id, payload, queued_at, attempts, last_error, delivered_at, refused_at, next_attempt_at`

func scanOutgoing(s scanner) (healthcode.OutgoingNotice, int64, error) {
	var o healthcode.OutgoingNotice
	var id, payload string
	var caseID, delivered, refused sql.NullInt64
	var queued, due int64
	if err := s.Scan(&id, &caseID, &payload, &queued, &o.Attempts, &o.LastError, &delivered, &refused, &due); err != nil {
		return o, 0, err
	}
	if err := json.Unmarshal([]byte(payload), &o.Notice); err != nil {
		return o, 0, fmt.Errorf("contact notice %s: %w", id, err)
	}
	o.CaseID, o.QueuedAt = caseID.Int64, time.UnixMicro(queued).UTC()
	o.DeliveredAt, o.RefusedAt = instant(delivered), instant(refused)
	return o, due, nil
}

// ClaimContactNotices implements healthcode.FederationService, as
// ClaimDeliveries does for the webhook: due rows get their next attempt
// moved a lease ahead, and a row another worker moved first is skipped.
func (db *DB) ClaimContactNotices(ctx context.Context, limit int, lease time.Duration) ([]healthcode.OutgoingNotice, error) {
	if limit <= 0 || lease <= 0 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "claim contact notices: limit and lease must be positive")
	}
	var out []healthcode.OutgoingNotice
	err := db.update(ctx, "claim contact notices", func(tx *sql.Tx, now time.Time) error {
		out = out[:0]
		type row struct {
			o   healthcode.OutgoingNotice
			due int64
		}
		var rows []row
		err := queryAll(ctx, tx, func(rs *sql.Rows) error {
			o, due, err := scanOutgoing(rs)
			rows = append(rows, row{o, due})
			return err
		}, `SELECT `+outgoingColumns+` FROM contact_notice_outbox
WHERE delivered_at IS NULL AND refused_at IS NULL AND next_attempt_at <= $1
ORDER BY next_attempt_at, notice_id LIMIT $2`, now.UnixMicro(), limit)
		if err != nil {
			return fmt.Errorf("find due contact notices: %w", err)
		}
		until := now.Add(lease).UnixMicro()
		for _, r := range rows {
			res, err := tx.ExecContext(ctx, `UPDATE contact_notice_outbox SET next_attempt_at = $1
WHERE notice_id = $2 AND next_attempt_at = $3 AND delivered_at IS NULL AND refused_at IS NULL`, until, r.o.Notice.ID, r.due)
			if err != nil {
				return fmt.Errorf("claim contact notice %s: %w", r.o.Notice.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				out = append(out, r.o)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkNoticeDelivered implements healthcode.FederationService.
func (db *DB) MarkNoticeDelivered(ctx context.Context, id string) error {
	return db.update(ctx, "mark contact notice delivered", func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `UPDATE contact_notice_outbox SET delivered_at = $1, attempts = attempts + 1, last_error = ''
WHERE notice_id = $2 AND delivered_at IS NULL`, now.UnixMicro(), id)
		return err
	})
}

// MarkNoticeFailed implements healthcode.FederationService.
func (db *DB) MarkNoticeFailed(ctx context.Context, id, problem string, retryAt time.Time) error {
	if len(problem) > 500 {
		problem = strings.ToValidUTF8(problem[:500], "")
	}
	return db.update(ctx, "mark contact notice failed", func(tx *sql.Tx, now time.Time) error {
		refused, next := sql.NullInt64{}, retryAt.UnixMicro()
		if retryAt.IsZero() {
			refused, next = sql.NullInt64{Int64: now.UnixMicro(), Valid: true}, now.UnixMicro()
		}
		_, err := tx.ExecContext(ctx, `UPDATE contact_notice_outbox SET attempts = attempts + 1, last_error = $1,
    next_attempt_at = $2, refused_at = $3 WHERE notice_id = $4 AND delivered_at IS NULL AND refused_at IS NULL`,
			problem, next, refused, id)
		return err
	})
}

// ListOutgoingNotices implements healthcode.FederationService.
func (db *DB) ListOutgoingNotices(ctx context.Context, limit int) ([]healthcode.OutgoingNotice, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	out := []healthcode.OutgoingNotice{}
	err := queryAll(ctx, db.read, func(rows *sql.Rows) error {
		o, _, err := scanOutgoing(rows)
		out = append(out, o)
		return err
	}, `SELECT `+outgoingColumns+` FROM contact_notice_outbox ORDER BY queued_at DESC, notice_id LIMIT $1`, limit)
	if err != nil {
		return nil, db.wrap("list outgoing contact notices", err)
	}
	return out, nil
}

// CountPendingNotices implements healthcode.FederationService.
func (db *DB) CountPendingNotices(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM contact_notice_outbox WHERE delivered_at IS NULL AND refused_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, db.wrap("count pending contact notices", err)
	}
	return n, nil
}

// CountOpenProposals implements healthcode.FederationService.
func (db *DB) CountOpenProposals(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM contact_proposals WHERE state = $1`, string(healthcode.ProposalOpen)).Scan(&n)
	if err != nil {
		return 0, db.wrap("count open contact proposals", err)
	}
	return n, nil
}

// ReceiveContactNotice implements healthcode.FederationService. The actor
// in ctx should be the sending region (healthcode.RolePeer).
func (db *DB) ReceiveContactNotice(ctx context.Context, n *healthcode.ContactNotice) (*healthcode.NoticeReceipt, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	var rc *healthcode.NoticeReceipt
	err := db.update(ctx, "receive contact notice", func(tx *sql.Tx, now time.Time) error {
		rc = &healthcode.NoticeReceipt{NoticeID: n.ID}
		stored := map[string]int64{}
		err := queryAll(ctx, tx, func(rows *sql.Rows) error {
			var sub string
			var id int64
			err := rows.Scan(&sub, &id)
			stored[sub] = id
			return err
		}, `SELECT subject, id FROM contact_proposals WHERE notice_id = $1`, n.ID)
		if err != nil {
			return fmt.Errorf("find earlier deliveries: %w", err)
		}
		rc.Duplicate = len(stored) > 0
		for _, c := range n.Contacts {
			res := healthcode.ProposalResult{Subject: c.Subject, Result: "unknown_subject"}
			if id, ok := stored[c.Subject]; ok {
				res.Result, res.ProposalID = "proposed", id
			} else if !rc.Duplicate {
				var residentID int64
				err := tx.QueryRowContext(ctx, `SELECT id FROM residents WHERE pseudonym = $1`, c.Subject).Scan(&residentID)
				if errors.Is(err, sql.ErrNoRows) {
					rc.Results = append(rc.Results, res)
					continue
				} else if err != nil {
					return fmt.Errorf("find subject: %w", err)
				}
				exposures, err := json.Marshal(c.Exposures)
				if err != nil {
					return err
				}
				venueType := ""
				for _, e := range c.Exposures {
					if e.VenueName == c.LastVenue() {
						venueType = e.VenueType
					}
				}
				err = tx.QueryRowContext(ctx, `INSERT INTO contact_proposals (notice_id, from_region, from_name, resident_id, subject,
    degree, venue, venue_type, last_exposure, case_confirmed, quarantine_until, exposures, received_at, state,
    decided_at, decided_by, decision_reason, designation_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'proposed', NULL, '', '', NULL) RETURNING id`,
					n.ID, n.From, n.FromName, residentID, c.Subject, c.Degree, c.LastVenue(), venueType,
					c.LastExposure.UnixMicro(), n.CaseConfirmed.UnixMicro(), micros(c.QuarantineUntil), string(exposures),
					now.UnixMicro()).Scan(&res.ProposalID)
				if err != nil {
					return fmt.Errorf("insert contact proposal: %w", err)
				}
				res.Result = "proposed"
				// The resident's access log shows it: another region sent
				// their pseudonym and movements here.
				db.audit(tx, auditEntry(healthcode.ActorFromContext(ctx), healthcode.ActionNoticeReceive, residentID,
					fmt.Sprintf("region %s reported a contact with a confirmed case there", n.From),
					fmt.Sprintf("contact notice %s from region %s: proposal %d", n.ID, n.From, res.ProposalID)))
			}
			rc.Results = append(rc.Results, res)
		}
		if !rc.Duplicate && len(rc.Results) > 0 {
			known := 0
			for _, r := range rc.Results {
				if r.Result == "proposed" {
					known++
				}
			}
			if known == 0 {
				subs := make([]string, len(rc.Results))
				for i, r := range rc.Results {
					subs[i] = r.Subject
				}
				return healthcode.Errorf(healthcode.EINVALID, "contact notice %s: no resident of this region holds the subject(s) %s",
					n.ID, strings.Join(subs, ", "))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rc, nil
}

const proposalColumns = `id, notice_id, from_region, from_name, resident_id, subject, degree, venue, venue_type, last_exposure,
    case_confirmed, quarantine_until, exposures, received_at, state, decided_at, decided_by, decision_reason, designation_id`

func scanProposal(s scanner) (healthcode.ContactProposal, error) {
	var p healthcode.ContactProposal
	var exposures, state string
	var last, confirmed, received int64
	var until, decided, designation sql.NullInt64
	err := s.Scan(&p.ID, &p.NoticeID, &p.FromRegion, &p.FromName, &p.ResidentID, &p.Subject, &p.Degree, &p.Venue, &p.VenueType,
		&last, &confirmed, &until, &exposures, &received, &state, &decided, &p.DecidedBy, &p.DecisionReason, &designation)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(exposures), &p.Exposures); err != nil {
		return p, fmt.Errorf("contact proposal %d: exposures: %w", p.ID, err)
	}
	p.LastExposure, p.CaseConfirmed, p.ReceivedAt = time.UnixMicro(last).UTC(), time.UnixMicro(confirmed).UTC(), time.UnixMicro(received).UTC()
	p.QuarantineUntil, p.DecidedAt = instant(until), instant(decided)
	p.State, p.DesignationID = healthcode.ProposalState(state), designation.Int64
	return p, nil
}

func (db *DB) listProposals(ctx context.Context, q queryer, where string, args ...any) ([]healthcode.ContactProposal, error) {
	out := []healthcode.ContactProposal{}
	err := queryAll(ctx, q, func(rows *sql.Rows) error {
		p, err := scanProposal(rows)
		out = append(out, p)
		return err
	}, `SELECT `+proposalColumns+` FROM contact_proposals WHERE `+where, args...)
	return out, err
}

// ReadContactProposals implements healthcode.FederationService.
func (db *DB) ReadContactProposals(ctx context.Context, acc healthcode.Access, state healthcode.ProposalState) ([]healthcode.ContactProposal, error) {
	if err := acc.Validate(); err != nil {
		return nil, err
	}
	var out []healthcode.ContactProposal
	err := db.update(ctx, "read contact proposals", func(tx *sql.Tx, _ time.Time) error {
		var err error
		if state == "" {
			out, err = db.listProposals(ctx, tx, `1 = 1 ORDER BY id LIMIT 1000`)
		} else {
			out, err = db.listProposals(ctx, tx, `state = $1 ORDER BY id LIMIT 1000`, string(state))
		}
		if err != nil {
			return err
		}
		read := map[int64]bool{}
		for _, p := range out {
			if !read[p.ResidentID] {
				read[p.ResidentID] = true
				db.readAccess(tx, acc, p.ResidentID, "contact proposals from "+p.FromRegion)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decideProposal locks the proposal's resident and returns the proposal,
// ECONFLICT if it was decided already.
func (db *DB) decideProposal(ctx context.Context, tx *sql.Tx, id int64) (*healthcode.ContactProposal, error) {
	ps, err := db.listProposals(ctx, tx, `id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, healthcode.Errorf(healthcode.ENOTFOUND, "contact proposal %d not found", id)
	}
	if err := db.lockResident(ctx, tx, ps[0].ResidentID); err != nil {
		return nil, err
	}
	if ps, err = db.listProposals(ctx, tx, `id = $1`, id); err != nil {
		return nil, err
	}
	p := &ps[0]
	if p.State != healthcode.ProposalOpen {
		return nil, healthcode.Errorf(healthcode.ECONFLICT, "contact proposal %d was already %s", id, p.State)
	}
	return p, nil
}

// ConfirmContactProposal implements healthcode.FederationService. The
// designation's venue names the sending region, so that the resident's
// reason reads "close contact at VENUE (REGION) on DATE".
func (db *DB) ConfirmContactProposal(ctx context.Context, id int64, by string) (*healthcode.ContactProposal, healthcode.Status, error) {
	var out *healthcode.ContactProposal
	var st healthcode.Status
	err := db.update(ctx, "confirm contact proposal", func(tx *sql.Tx, now time.Time) error {
		p, err := db.decideProposal(ctx, tx, id)
		if err != nil {
			return err
		}
		where := p.FromRegion
		if p.FromName != "" {
			where = p.FromName + " " + p.FromRegion
		}
		cd := healthcode.ContactDesignation{ResidentID: p.ResidentID, CaseRegion: p.FromRegion, ProposalID: p.ID,
			Venue: fmt.Sprintf("%s (%s)", p.Venue, where), LastExposure: p.LastExposure, DesignatedBy: by}
		if st, err = db.addContactDesignation(ctx, tx, now, &cd); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE contact_proposals SET state = 'confirmed', decided_at = $1, decided_by = $2,
    designation_id = $3 WHERE id = $4`, now.UnixMicro(), by, cd.ID, id); err != nil {
			return fmt.Errorf("close contact proposal: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionProposalDecide, p.ResidentID,
			fmt.Sprintf("contact proposal %d (notice %s from region %s): confirmed as contact designation %d", id, p.NoticeID, p.FromRegion, cd.ID))
		p.State, p.DecidedAt, p.DecidedBy, p.DesignationID = healthcode.ProposalConfirmed, now, by, cd.ID
		out = p
		return nil
	})
	if err != nil {
		return nil, healthcode.Status{}, err
	}
	return out, st, nil
}

// DismissContactProposal implements healthcode.FederationService.
func (db *DB) DismissContactProposal(ctx context.Context, id int64, by, reason string) (*healthcode.ContactProposal, error) {
	reason = strings.TrimSpace(reason)
	if n := len([]rune(reason)); n < 3 || n > 500 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "invalid dismissal: reason: must be 3 to 500 characters")
	}
	var out *healthcode.ContactProposal
	err := db.update(ctx, "dismiss contact proposal", func(tx *sql.Tx, now time.Time) error {
		p, err := db.decideProposal(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE contact_proposals SET state = 'dismissed', decided_at = $1, decided_by = $2,
    decision_reason = $3 WHERE id = $4`, now.UnixMicro(), by, reason, id); err != nil {
			return fmt.Errorf("close contact proposal: %w", err)
		}
		db.record(ctx, tx, healthcode.ActionProposalDecide, p.ResidentID,
			fmt.Sprintf("contact proposal %d (notice %s from region %s): dismissed", id, p.NoticeID, p.FromRegion))
		p.State, p.DecidedAt, p.DecidedBy, p.DecisionReason = healthcode.ProposalDismissed, now, by, reason
		out = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
