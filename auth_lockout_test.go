package healthcode

import (
	"testing"
	"time"
)

func TestLockoutAfter(t *testing.T) {
	want := map[int]time.Duration{0: 0, 1: 0, 5: 0, 6: time.Minute, 7: 2 * time.Minute, 8: 4 * time.Minute,
		11: 32 * time.Minute, 12: time.Hour, 13: time.Hour, 100: time.Hour}
	for n, d := range want {
		if got := LockoutAfter(n); got != d {
			t.Errorf("LockoutAfter(%d) = %s, want %s", n, got, d)
		}
	}
}
