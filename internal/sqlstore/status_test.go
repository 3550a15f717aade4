package sqlstore

import (
	"testing"
	"time"

	"healthcode"
)

func TestChangeCause(t *testing.T) {
	day := time.Date(2022, 4, 1, 0, 0, 0, 0, time.UTC)
	reason := func(rule string, until time.Time) healthcode.Reason {
		return healthcode.Reason{Rule: rule, Message: rule, Since: day, Until: until}
	}
	status := func(version string, rs ...healthcode.Reason) healthcode.Status {
		return healthcode.Status{Color: healthcode.Yellow, RuleSetVersion: version, Reasons: rs}
	}
	later := day.AddDate(0, 0, 7)
	for _, tt := range []struct {
		name       string
		prev, next healthcode.Status
		want       string
	}{
		{"new rule set", status("v1"), status("v2"), "rule set v2 published"},
		{"ended", status("v1", reason("high_risk_visit", later)), status("v1"), "time: rule high_risk_visit ended"},
		{"started", status("v1"), status("v1", reason("vaccinated", time.Time{})), "time: rule vaccinated started"},
		{
			"several",
			status("v1", reason("close_contact", later), reason("discharged", later), reason("x", later)),
			status("v1", reason("x", later.AddDate(0, 0, 1)), reason("vaccinated", time.Time{})),
			"time: rules close_contact, discharged ended; rule vaccinated started; rule x changed",
		},
		{"nothing visible", status("v1", reason("x", later)), status("v1", reason("x", later)), "time: re-evaluated"},
	} {
		if got := changeCause(tt.prev, tt.next); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRegionRange(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		lo, hi int
	}{
		{"42", 420000, 430000},
		{"4201", 420100, 420200},
		{"42019", 420190, 420200},
		{"420106", 420106, 420107},
		{"99", 990000, 1000000},
	} {
		lo, hi, err := regionRange(tt.prefix)
		if err != nil || lo != tt.lo || hi != tt.hi {
			t.Errorf("regionRange(%q) = %d, %d, %v; want %d, %d", tt.prefix, lo, hi, err, tt.lo, tt.hi)
		}
	}
	for _, bad := range []string{"", "4201x", "1234567"} {
		if _, _, err := regionRange(bad); err == nil {
			t.Errorf("regionRange(%q) succeeded", bad)
		}
	}
}
