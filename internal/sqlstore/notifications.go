package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"healthcode"
)

var colorZH = map[healthcode.Color]string{healthcode.Green: "绿码", healthcode.Yellow: "黄码", healthcode.Red: "红码"}

// notify writes a notification for the resident inside tx and, when a
// webhook is configured, queues it in the outbox in the same transaction, so
// that it is delivered even if the server stops right after the commit.
func (db *DB) notify(ctx context.Context, tx *sql.Tx, now time.Time, residentID int64, kind, en, zh string) error {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO notifications (resident_id, at, kind, message, message_zh)
VALUES ($1, $2, $3, $4, $5) RETURNING id`, residentID, now.UnixMicro(), kind, en, zh).Scan(&id)
	if err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	if !db.outbox {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notification_outbox (notification_id, attempts, next_attempt_at,
    last_error, delivered_at) VALUES ($1, 0, $2, '', NULL)`, id, now.UnixMicro()); err != nil {
		return fmt.Errorf("queue notification %d for the webhook: %w", id, err)
	}
	return nil
}

// notifyStatus tells the resident their new status and every reason for it,
// inside the transaction that changed it.
func (db *DB) notifyStatus(ctx context.Context, tx *sql.Tx, now time.Time, residentID int64, st healthcode.Status) error {
	en := []string{fmt.Sprintf("Your health code is now %s.", st.Color)}
	zh := []string{fmt.Sprintf("您的健康码现为%s。", colorZH[st.Color])}
	if st.Vaccinated {
		en, zh = append(en, "Vaccinated mark: yes."), append(zh, "已完成疫苗接种。")
	}
	for _, r := range st.Reasons {
		if r.Mark != "" {
			continue
		}
		en, zh = append(en, r.Message), append(zh, r.MessageZH)
	}
	return db.notify(ctx, tx, now, residentID, healthcode.NotifyStatusChanged, strings.Join(en, " "), strings.Join(zh, ""))
}

const notificationColumns = `id, resident_id, at, kind, message, message_zh`

func scanNotification(s scanner, extra ...any) (healthcode.Notification, error) {
	var n healthcode.Notification
	var at int64
	err := s.Scan(append([]any{&n.ID, &n.ResidentID, &at, &n.Kind, &n.Message, &n.MessageZH}, extra...)...)
	n.At = time.UnixMicro(at).UTC()
	return n, err
}

// ListNotifications returns the resident's notifications, newest first;
// ENOTFOUND for an unknown resident.
func (db *DB) ListNotifications(ctx context.Context, residentID int64) ([]healthcode.Notification, error) {
	out := []healthcode.Notification{}
	err := db.view(ctx, "list notifications", func(tx *sql.Tx, _ time.Time) error {
		if ok, err := residentExists(ctx, tx, residentID); err != nil {
			return err
		} else if !ok {
			return residentNotFound(residentID)
		}
		return queryAll(ctx, tx, func(rows *sql.Rows) error {
			n, err := scanNotification(rows)
			out = append(out, n)
			return err
		}, `SELECT `+notificationColumns+` FROM notifications
WHERE resident_id = $1 ORDER BY id DESC LIMIT 500`, residentID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var _ healthcode.OutboxService = (*DB)(nil)

// ClaimDeliveries returns up to limit notifications of the outbox that are
// due, oldest first, and moves their next attempt lease into the future, so
// that other workers (other servers on one PostgreSQL database) skip them
// meanwhile. A row another worker claimed first is skipped. Phone is the
// resident's, or their guardian's for a dependent without one.
func (db *DB) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]healthcode.Delivery, error) {
	if limit <= 0 || lease <= 0 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "claim deliveries: limit and lease must be positive")
	}
	var out []healthcode.Delivery
	err := db.update(ctx, "claim deliveries", func(tx *sql.Tx, now time.Time) error {
		out = out[:0]
		type row struct {
			d            healthcode.Delivery
			due          int64
			phone, guard []byte
		}
		var rows []row
		err := queryAll(ctx, tx, func(rs *sql.Rows) error {
			var r row
			var err error
			r.d.Notification, err = scanNotification(rs, &r.d.Attempts, &r.due, &r.phone, &r.guard)
			rows = append(rows, r)
			return err
		}, `SELECT n.id, n.resident_id, n.at, n.kind, n.message, n.message_zh, o.attempts, o.next_attempt_at,
    r.phone_enc, g.phone_enc
FROM notification_outbox o
JOIN notifications n ON n.id = o.notification_id
JOIN residents r ON r.id = n.resident_id
LEFT JOIN residents g ON g.id = r.guardian_id
WHERE o.delivered_at IS NULL AND o.next_attempt_at <= $1
ORDER BY o.next_attempt_at, o.notification_id LIMIT $2`, now.UnixMicro(), limit)
		if err != nil {
			return fmt.Errorf("find due notifications: %w", err)
		}
		until := now.Add(lease).UnixMicro()
		for _, r := range rows {
			res, err := tx.ExecContext(ctx, `UPDATE notification_outbox SET next_attempt_at = $1
WHERE notification_id = $2 AND next_attempt_at = $3 AND delivered_at IS NULL`, until, r.d.Notification.ID, r.due)
			if err != nil {
				return fmt.Errorf("claim notification %d: %w", r.d.Notification.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // another worker has it
			}
			enc := r.phone
			if enc == nil {
				enc = r.guard
			}
			if enc != nil {
				if r.d.Phone, err = db.cipher.Open(enc, sealPhone); err != nil {
					return fmt.Errorf("notification %d: phone: %w", r.d.Notification.ID, err)
				}
			}
			out = append(out, r.d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkDelivered records that the webhook acknowledged the notification; it
// is never handed out again. Marking it twice changes nothing.
func (db *DB) MarkDelivered(ctx context.Context, notificationID int64) error {
	return db.update(ctx, "mark delivered", func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `UPDATE notification_outbox SET delivered_at = $1
WHERE notification_id = $2 AND delivered_at IS NULL`, now.UnixMicro(), notificationID)
		return err
	})
}

// MarkDeliveryFailed records a failed attempt and when to try again.
func (db *DB) MarkDeliveryFailed(ctx context.Context, notificationID int64, problem string, retryAt time.Time) error {
	if len(problem) > 500 {
		problem = strings.ToValidUTF8(problem[:500], "")
	}
	return db.update(ctx, "mark delivery failed", func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `UPDATE notification_outbox SET attempts = attempts + 1, last_error = $1,
    next_attempt_at = $2 WHERE notification_id = $3 AND delivered_at IS NULL`,
			problem, retryAt.UnixMicro(), notificationID)
		return err
	})
}
