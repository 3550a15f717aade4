package healthcode

import (
	"context"
	"time"
)

// Sign-in lockout: after FreeLoginFailures wrong passwords in a row for one
// phone number, sign-in with that number is refused for a while, doubling
// with every further failure, from LoginLockout up to MaxLoginLockout. A
// right password (outside a lockout) starts the count again. The count is
// kept per number, whoever tries, so guessing one resident's password from
// many addresses is slowed as much as from one.
const (
	FreeLoginFailures = 5
	LoginLockout      = time.Minute
	MaxLoginLockout   = time.Hour
)

// LockoutAfter is how long sign-in is refused after the n-th failure in a
// row: nothing for the first FreeLoginFailures, then LoginLockout, doubled
// for each failure after that, at most MaxLoginLockout.
func LockoutAfter(n int) time.Duration {
	if n <= FreeLoginFailures {
		return 0
	}
	d := LoginLockout
	for i := FreeLoginFailures + 1; i < n && d < MaxLoginLockout; i++ {
		d *= 2
	}
	return min(d, MaxLoginLockout)
}

// LoginGuard is what the store keeps of failed sign-ins.
type LoginGuard interface {
	// LoginLockedUntil returns when the lockout of the phone number ends;
	// the zero time when it is not locked.
	LoginLockedUntil(ctx context.Context, phone string) (time.Time, error)
	// LoginFailed counts a failure and returns when the resulting lockout
	// ends (zero for none).
	LoginFailed(ctx context.Context, phone string) (time.Time, error)
	// LoginSucceeded clears the count.
	LoginSucceeded(ctx context.Context, phone string) error
}
