package sqlstore

import (
	"testing"
	"time"

	"healthcode"
)

func testLoginLockout(t *testing.T, e *env) {
	const phone = "13912345678"
	other := e.open(t, e.eval) // another server: the count is shared
	for i := 1; i <= healthcode.FreeLoginFailures; i++ {
		db := e.db
		if i%2 == 0 {
			db = other
		}
		if until := must[time.Time](t)(db.LoginFailed(e.ctx, phone)); !until.IsZero() {
			t.Fatalf("failure %d locked until %v", i, until)
		}
	}
	until := must[time.Time](t)(e.db.LoginFailed(e.ctx, " "+phone+" "))
	if want := e.clock.Now().Add(healthcode.LoginLockout).Truncate(time.Microsecond); !until.Equal(want) {
		t.Errorf("the 6th failure locks until %v, want %v", until, want)
	}
	if got := must[time.Time](t)(other.LoginLockedUntil(e.ctx, phone)); !got.Equal(until) {
		t.Errorf("the other server reads the lockout as %v", got)
	}
	if got := must[time.Time](t)(e.db.LoginLockedUntil(e.ctx, "13900000000")); !got.IsZero() {
		t.Errorf("another number is locked until %v", got)
	}
	next := must[time.Time](t)(e.db.LoginFailed(e.ctx, phone))
	if d := next.Sub(e.clock.Now().Truncate(time.Microsecond)); d != 2*healthcode.LoginLockout {
		t.Errorf("the 7th failure locks for %s", d)
	}
	if err := e.db.LoginSucceeded(e.ctx, phone); err != nil {
		t.Fatal(err)
	}
	if got := must[time.Time](t)(e.db.LoginLockedUntil(e.ctx, phone)); !got.IsZero() {
		t.Errorf("after a success, locked until %v", got)
	}
}
