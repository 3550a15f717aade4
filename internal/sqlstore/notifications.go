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

// notifyStatus tells the resident their new status and every reason for it,
// inside the transaction that changed it.
func notifyStatus(ctx context.Context, tx *sql.Tx, now time.Time, residentID int64, st healthcode.Status) error {
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
	_, err := tx.ExecContext(ctx, `INSERT INTO notifications (resident_id, at, kind, message, message_zh)
VALUES ($1, $2, $3, $4, $5)`, residentID, now.UnixMicro(), "status_changed", strings.Join(en, " "), strings.Join(zh, ""))
	if err != nil {
		return fmt.Errorf("notify status: %w", err)
	}
	return nil
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
			var n healthcode.Notification
			var at int64
			if err := rows.Scan(&n.ID, &n.ResidentID, &at, &n.Kind, &n.Message, &n.MessageZH); err != nil {
				return err
			}
			n.At = time.UnixMicro(at).UTC()
			out = append(out, n)
			return nil
		}, `SELECT id, resident_id, at, kind, message, message_zh FROM notifications
WHERE resident_id = $1 ORDER BY id DESC LIMIT 500`, residentID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
