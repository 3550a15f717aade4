package statuslist_test

import (
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/statuslist"
	"healthcode/internal/trust"
)

func phoneCode(tb testing.TB, priv []byte, color healthcode.Color, vaccinated bool, testAge time.Duration) string {
	tb.Helper()
	c := code.Claims{Subject: "ABCDEFGH", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(4 * time.Minute),
		Color: color, Vaccinated: vaccinated, MaskedName: "张*丰", BirthYear: 1986, Kind: code.Phone}
	if testAge > 0 {
		c.NegativeTestAt = c.IssuedAt.Add(-testAge)
	}
	p, err := code.NewSigner(priv).Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func paperCode(tb testing.TB, priv []byte, index int) string {
	tb.Helper()
	p, err := code.NewSigner(priv).Sign(code.Claims{Subject: "Z7Y6X5W4", IssuedAt: now.Add(-30 * 24 * time.Hour),
		ExpiresAt: now.Add(335 * 24 * time.Hour), MaskedName: "J*** SMITH", BirthYear: 1952, Kind: code.Paper, StatusIndex: index})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestSeen(t *testing.T) {
	tl, priv := hangzhou(t)
	bl, bpriv := beijing(t)
	keys := trust.Set{tl, bl}
	fresh := parse(t, signed(t, statuslist.Build("330100", now.Add(-time.Minute), maxAge, sampleEntries()), priv), tl)
	stale := parse(t, signed(t, statuslist.Build("330100", now.Add(-maxAge-time.Second), maxAge, sampleEntries()), priv), tl)
	beijingList := parse(t, signed(t, statuslist.Build("110100", now.Add(-time.Minute), maxAge, sampleEntries()), bpriv), bl)
	testAt := now.Add(-time.Minute - 48*time.Hour) // 47.5 h rounds up to 48 h

	tests := []struct {
		name       string
		payload    string
		list       *statuslist.List
		valid      bool
		color      healthcode.Color
		vaccinated bool
		testAt     time.Time
		rejectCode string
		reason     string // a substring of the verdict's reason
	}{
		{"phone green, no list", phoneCode(t, priv, healthcode.Green, false, 0), nil, true, healthcode.Green, false, time.Time{}, "", "valid code"},
		{"phone green, stale list", phoneCode(t, priv, healthcode.Green, true, 0), stale, true, healthcode.Green, true, time.Time{}, "", "valid code"},
		{"phone red with a test", phoneCode(t, priv, healthcode.Red, false, 47*time.Hour+30*time.Minute), fresh, true, healthcode.Red, false, testAt, "", "valid code"},
		{"phone yellow vaccinated with a test", phoneCode(t, priv, healthcode.Yellow, true, 47*time.Hour+30*time.Minute), nil, true, healthcode.Yellow, true, testAt, "", "valid code"},
		{"phone of another region", phoneCode(t, bpriv, healthcode.Green, false, 0), fresh, true, healthcode.Green, false, time.Time{}, "", "region 110100"},
		{"paper green", paperCode(t, priv, 0), fresh, true, healthcode.Green, false, time.Time{}, "", "green in the status list issued at 2026-11-23T07:59:00Z"},
		{"paper yellow", paperCode(t, priv, 1), fresh, true, healthcode.Yellow, false, time.Time{}, "", "yellow in the status list"},
		{"paper red", paperCode(t, priv, 2), fresh, true, healthcode.Red, false, time.Time{}, "", "red in the status list"},
		{"paper revoked", paperCode(t, priv, 3), fresh, false, "", false, time.Time{}, code.Revoked, "revoked: this paper code was replaced by a newer one"},
		{"paper in a gap", paperCode(t, priv, 5), fresh, false, "", false, time.Time{}, code.Revoked, "revoked"},
		{"paper green, stale list", paperCode(t, priv, 0), stale, true, "", false, time.Time{}, "", "colour unknown: status list is 15 minutes 1 second old, older than its limit of 15 minutes: check online"},
		{"paper revoked, stale list", paperCode(t, priv, 3), stale, true, "", false, time.Time{}, "", "colour unknown: status list is"},
		{"paper, no list", paperCode(t, priv, 0), nil, true, "", false, time.Time{}, "", "colour unknown: no status list"},
		{"paper, index beyond the list", paperCode(t, priv, 9), fresh, true, "", false, time.Time{}, "", "colour unknown: status index 9 is beyond"},
		{"paper, another region's list", paperCode(t, bpriv, 0), fresh, true, "", false, time.Time{}, "", "colour unknown: the status list is region 330100's, but the code was issued by region 110100"},
		{"paper of beijing, beijing's list", paperCode(t, bpriv, 1), beijingList, true, healthcode.Yellow, false, time.Time{}, "", "yellow"},
		{"expired code", func() string {
			p, _ := code.NewSigner(priv).Sign(code.Claims{Subject: "Z7Y6X5W4", IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute),
				MaskedName: "J*** SMITH", BirthYear: 1952, Kind: code.Paper, StatusIndex: 0})
			return p
		}(), fresh, false, "", false, time.Time{}, code.Expired, "expired"},
		{"not a code", "hello", fresh, false, "", false, time.Time{}, code.NotACode, "not a health code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := code.Check(tt.payload, keys, now)
			seen, v := statuslist.Seen(in, tt.list, now)
			if seen.Valid != tt.valid || v.Valid != tt.valid {
				t.Fatalf("Valid: seen %v, verdict %v; want %v (%s)", seen.Valid, v.Valid, tt.valid, v.Reason)
			}
			if seen.Color != tt.color || v.Color != tt.color {
				t.Errorf("Color: seen %q, verdict %q; want %q", seen.Color, v.Color, tt.color)
			}
			if seen.Vaccinated != tt.vaccinated || v.Vaccinated != tt.vaccinated {
				t.Errorf("Vaccinated: seen %v, verdict %v", seen.Vaccinated, v.Vaccinated)
			}
			if !seen.NegativeTestAt.Equal(tt.testAt) {
				t.Errorf("NegativeTestAt = %v, want %v", seen.NegativeTestAt, tt.testAt)
			}
			if v.RejectCode != tt.rejectCode {
				t.Errorf("RejectCode = %q, want %q", v.RejectCode, tt.rejectCode)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("Reason %q does not contain %q", v.Reason, tt.reason)
			}
			if !tt.valid && seen.Reject != v.Reason {
				t.Errorf("Reject %q, want the verdict's reason %q", seen.Reject, v.Reason)
			}
			// What the list does not touch stays as Check said.
			if v.Subject != in.Subject || v.Issuer != in.Issuer || v.StatusIndex != in.StatusIndex || v.Kind != in.Kind {
				t.Errorf("verdict changed beyond colour and validity: %+v from %+v", v, in)
			}
			// Whatever the list, a code whose colour is unknown is never
			// admitted, and a paper code is never admitted unless fresh and
			// green.
			for _, p := range []healthcode.Policy{{Kind: healthcode.PolicyGreen}, {Kind: healthcode.PolicyGreenAndTest, Hours: 72}} {
				adm := healthcode.Decide(p, seen, now)
				if adm.Decision == healthcode.Admit && (seen.Color != healthcode.Green || tt.color != healthcode.Green) {
					t.Errorf("policy %v admitted %+v", p, seen)
				}
			}
		})
	}
}

// TestSeenHandMade covers verdicts that Check does not make.
func TestSeenHandMade(t *testing.T) {
	tl, priv := hangzhou(t)
	fresh := parse(t, signed(t, statuslist.Build("330100", now, maxAge, sampleEntries()), priv), tl)
	// A paper verdict that claims a colour, mark and test: all dropped,
	// the list decides.
	v := code.Verdict{Valid: true, Kind: code.Paper, Issuer: "330100", StatusIndex: 2, Color: healthcode.Green, Vaccinated: true,
		NegativeTestAt: now.Format(time.RFC3339)}
	seen, got := statuslist.Seen(v, fresh, now)
	if seen.Color != healthcode.Red || seen.Vaccinated || !seen.NegativeTestAt.IsZero() || got.Vaccinated || got.NegativeTestAt != "" {
		t.Errorf("paper: seen %+v, verdict %+v", seen, got)
	}
	// A kind that is neither: colour unknown.
	seen, got = statuslist.Seen(code.Verdict{Valid: true, Kind: "card", Issuer: "330100", Color: healthcode.Green}, fresh, now)
	if !seen.Valid || seen.Color != "" || got.Color != "" || !strings.Contains(got.Reason, "colour unknown") {
		t.Errorf("unknown kind: seen %+v, verdict %+v", seen, got)
	}
	// A phone verdict with an unreadable test time: no test.
	seen, _ = statuslist.Seen(code.Verdict{Valid: true, Kind: code.Phone, Color: healthcode.Green, NegativeTestAt: "yesterday"}, nil, now)
	if !seen.NegativeTestAt.IsZero() || seen.Color != healthcode.Green {
		t.Errorf("unreadable test: seen %+v", seen)
	}
	// A list that Build could not make: colour unknown.
	bad := statuslist.Build("330100", now, maxAge, []healthcode.StatusListEntry{{Index: 0, Color: "blue"}})
	seen, got = statuslist.Seen(code.Verdict{Valid: true, Kind: code.Paper, Issuer: "330100"}, bad, now)
	if !seen.Valid || seen.Color != "" || !strings.Contains(got.Reason, "colour unknown") {
		t.Errorf("bad list: seen %+v, verdict %+v", seen, got)
	}
}
