package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/secure"
)

// TestRotateDataKey rotates on SQLite, interrupted after its first batch
// and run again, and checks that every resident reads back the same under
// the new key and is found by document and phone, and none under the old.
func TestRotateDataKey(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "healthcode.db"))
	saved := rotateBatch
	rotateBatch = 2
	t.Cleanup(func() { rotateBatch = saved })

	var rs []*healthcode.Resident
	for range 4 {
		rs = append(rs, e.enroll(t))
	}
	dep := e.newResident()
	dep.Phone, dep.GuardianID = "", rs[0].ID
	if err := e.db.CreateResident(e.ctx, dep, ""); err != nil {
		t.Fatal(err)
	}
	rs = append(rs, dep)
	if _, err := e.db.LoginFailed(e.ctx, rs[1].Phone); err != nil {
		t.Fatal(err)
	}

	key := make([]byte, secure.KeySize)
	for i := range key {
		key[i] = byte(200 - i)
	}
	next, err := secure.NewCipher(key, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	_, err = e.db.RotateDataKey(ctx, next, func(done int) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rotation: %v", err)
	}
	n, err := e.db.RotateDataKey(e.ctx, next, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("the second run re-encrypted %d residents, want the 3 the first did not", n)
	}

	after, err := Open(e.ctx, e.url, Options{Clock: e.clock, Evaluator: e.eval, Cipher: next})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	for _, r := range rs {
		got, err := after.FindResidentByID(e.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("resident %d after the rotation (-before +after):\n%s", r.ID, diff)
		}
		if _, err := after.FindResidentByDocument(e.ctx, r.IDType, r.IDNumber); err != nil {
			t.Errorf("resident %d by document: %v", r.ID, err)
		}
		if r.Phone != "" {
			if _, _, err := after.FindLogin(e.ctx, r.Phone); err != nil {
				t.Errorf("resident %d by phone: %v", r.ID, err)
			}
		}
		if _, err := e.db.FindResidentByID(e.ctx, r.ID); err == nil {
			t.Errorf("resident %d still reads under the old key", r.ID)
		}
	}
	var left int
	if err := after.read.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM login_failures`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d sign-in failure counts left (%v), want none: their phone index changed", left, err)
	}
	if _, err := after.RotateDataKey(e.ctx, next, nil); healthcode.ErrorCode(err) != healthcode.EINVALID {
		t.Errorf("rotating to the same key id: %v", err)
	}
}
