package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"healthcode"
	"healthcode/internal/secure"
)

// rotateBatch is how many residents one transaction of RotateDataKey
// re-encrypts.
var rotateBatch = 1000

// RotateDataKey re-encrypts every resident's personal data from the store's
// cipher (the old key) to next, and recomputes their blind indexes with it,
// in transactions of rotateBatch residents. A row already under next (by
// the key id in its ciphertexts) is left alone, so an interrupted rotation
// is finished by running it again with the same next key; nothing is lost
// either way, since each row is rewritten whole in one transaction. The
// sign-in failure counts, keyed by the old phone index, are cleared. It
// returns how many residents it re-encrypted. Servers must not run during a
// rotation: they would not find residents by the indexes that changed.
func (db *DB) RotateDataKey(ctx context.Context, next *secure.Cipher, progress func(done int)) (int, error) {
	if next.KeyID() == db.cipher.KeyID() {
		return 0, healthcode.Errorf(healthcode.EINVALID, "rotate data key: the new key has the same key id (%d) as the old one", next.KeyID())
	}
	old := db.cipher
	var last int64
	done := 0
	for {
		// The transaction may run again (a transient failure): it starts from
		// last each time and says where it got to in upto and n.
		var n int
		var upto int64
		err := db.update(ctx, "rotate data key", func(tx *sql.Tx, _ time.Time) error {
			n, upto = 0, last
			type row struct {
				id                          int64
				idType                      string
				name, idNumber, addr, phone []byte
			}
			var rows []row
			err := queryAll(ctx, tx, func(rs *sql.Rows) error {
				var r row
				err := rs.Scan(&r.id, &r.idType, &r.name, &r.idNumber, &r.addr, &r.phone)
				rows = append(rows, r)
				return err
			}, `SELECT id, id_type, name_enc, id_number_enc, address_enc, phone_enc FROM residents WHERE id > $1 ORDER BY id LIMIT $2`,
				upto, rotateBatch)
			if err != nil {
				return err
			}
			for _, r := range rows {
				upto = r.id
				if len(r.name) > 0 && r.name[0] == next.KeyID() {
					continue // rotated before an interruption
				}
				open := func(enc []byte, context string) (string, error) {
					s, err := old.Open(enc, context)
					if err != nil {
						return "", fmt.Errorf("resident %d: %s: %w", r.id, context, err)
					}
					return s, nil
				}
				name, err := open(r.name, sealName)
				if err != nil {
					return err
				}
				idNumber, err := open(r.idNumber, sealIDNumber)
				if err != nil {
					return err
				}
				addr, err := open(r.addr, sealAddress)
				if err != nil {
					return err
				}
				var phoneEnc, phoneIdx []byte
				if r.phone != nil {
					phone, err := open(r.phone, sealPhone)
					if err != nil {
						return err
					}
					phoneEnc, phoneIdx = next.Seal(phone, sealPhone), next.BlindIndex("phone", phone)
				}
				_, err = tx.ExecContext(ctx, `UPDATE residents SET name_enc = $1, id_number_enc = $2, id_number_idx = $3,
    address_enc = $4, phone_enc = $5, phone_idx = $6 WHERE id = $7`,
					next.Seal(name, sealName), next.Seal(idNumber, sealIDNumber), next.BlindIndex("id_number", r.idType+":"+idNumber),
					next.Seal(addr, sealAddress), phoneEnc, phoneIdx, r.id)
				if err != nil {
					return fmt.Errorf("resident %d: %w", r.id, err)
				}
				n++
			}
			if len(rows) < rotateBatch {
				upto = -1 // the end
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done, last = done+n, upto
		if progress != nil {
			progress(done)
		}
		if last == -1 {
			break
		}
	}
	err := db.update(ctx, "rotate data key", func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM login_failures`)
		return err
	})
	return done, err
}
