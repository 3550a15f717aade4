package healthcode

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	green := Seen{Valid: true, Color: Green}
	tests := []struct {
		name   string
		policy Policy
		seen   Seen
		want   Decision
		reason string
		zh     string
	}{
		{"green at a green venue", Policy{Kind: PolicyGreen}, green, Admit, "green", "绿码"},
		{"yellow", Policy{Kind: PolicyGreen}, Seen{Valid: true, Color: Yellow}, Deny, "code is yellow", "黄码"},
		{"red", Policy{Kind: PolicyGreen}, Seen{Valid: true, Color: Red}, Deny, "code is red", "红码"},
		{"unknown colour is never admitted", Policy{Kind: PolicyGreen}, Seen{Valid: true}, Deny, "check online", "联网"},
		{"invalid", Policy{Kind: PolicyGreen}, Seen{Reject: "expired at 08:55", RejectCode: "expired"}, Deny, "expired at 08:55", "已过期"},
		{"vaccinated venue, not vaccinated", Policy{Kind: PolicyGreenVaccinated}, green, Deny, "vaccinated", "疫苗"},
		{"vaccinated venue, vaccinated", Policy{Kind: PolicyGreenVaccinated}, Seen{Valid: true, Color: Green, Vaccinated: true}, Admit, "vaccinated", "接种"},
		{"48 h venue, no test", Policy{Kind: PolicyGreenAndTest, Hours: 48}, green, Deny, "within 48 h", "48小时"},
		{"48 h venue, test 48 h ago exactly", Policy{Kind: PolicyGreenAndTest, Hours: 48},
			Seen{Valid: true, Color: Green, NegativeTestAt: now.Add(-48 * time.Hour)}, Admit, "48 h", "48小时"},
		{"48 h venue, test 48 h 1 s ago", Policy{Kind: PolicyGreenAndTest, Hours: 48},
			Seen{Valid: true, Color: Green, NegativeTestAt: now.Add(-48*time.Hour - time.Second)}, Deny, "within 48 h", "48小时"},
		{"72 h venue, yellow with a test", Policy{Kind: PolicyGreenAndTest, Hours: 72},
			Seen{Valid: true, Color: Yellow, NegativeTestAt: now.Add(-time.Hour)}, Deny, "yellow", "黄码"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.policy, tt.seen, now)
			if got.Decision != tt.want || !strings.Contains(got.Reason, tt.reason) || !strings.Contains(got.ReasonZH, tt.zh) {
				t.Errorf("Decide = %+v, want %s with %q / %q", got, tt.want, tt.reason, tt.zh)
			}
		})
	}
}

func TestInfectiousWindow(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	confirmed := day(20).Add(15 * time.Hour)
	for _, tt := range []struct {
		name     string
		c        Case
		wantFrom time.Time
	}{
		{"sample only", Case{ConfirmedAt: confirmed, SampleDate: day(18)}, day(16)},
		{"onset before sample", Case{ConfirmedAt: confirmed, SampleDate: day(18), OnsetDate: day(15)}, day(13)},
		{"capped at 14 days", Case{ConfirmedAt: confirmed, OnsetDate: day(1)}, confirmed.Add(-14 * 24 * time.Hour)},
	} {
		from, to := InfectiousWindow(&tt.c)
		if !from.Equal(tt.wantFrom) || !to.Equal(confirmed) {
			t.Errorf("%s: [%s, %s)", tt.name, from, to)
		}
	}
}

func TestCheckInValidate(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ok := CheckIn{ID: "0123456789abcdef", Subject: "ABCDEFGH", Issuer: "330100", VenueID: 1, At: now.Add(-time.Hour),
		Decision: Admit, Color: Green, Mode: ModeCheckpoint}
	if err := ok.Validate(now); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.ID, bad.Issuer, bad.At, bad.Decision, bad.Color, bad.Mode = "x", "33", now.Add(10*time.Minute), "maybe", "blue", "telepathy"
	err := bad.Validate(now)
	for _, f := range []string{"id", "issuer", "at", "decision", "color", "mode"} {
		if !strings.Contains(err.Error(), f+":") {
			t.Errorf("%v lacks %s", err, f)
		}
	}
	edge := ok
	edge.At = now.Add(MaxClockAhead)
	if err := edge.Validate(now); err != nil {
		t.Errorf("exactly 5 minutes ahead: %v", err)
	}
}

func TestParseProximityByType(t *testing.T) {
	got, err := ParseProximityByType(" transit=10m, restaurant = 1h30m ")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[Transit] != 10*time.Minute || got[Restaurant] != 90*time.Minute {
		t.Errorf("got %v", got)
	}
	if got, err := ParseProximityByType(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"transit":                 "write TYPE=DURATION",
		"spaceport=10m":           `"spaceport" is not a venue type (mall, restaurant`,
		"transit=ten":             `transit: "ten" is not a duration`,
		"transit=0s":              "transit: must be more than 0",
		"transit=25h":             "at most 24h",
		"transit=5m,transit=10m":  "transit is given twice",
		"mall=5m,,restaurant=10m": "write TYPE=DURATION",
	} {
		_, err := ParseProximityByType(in)
		if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), want) {
			t.Errorf("%q: %v, want EINVALID saying %q", in, err, want)
		}
	}
}
