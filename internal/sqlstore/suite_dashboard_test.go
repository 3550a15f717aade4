package sqlstore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
)

func testDashboard(t *testing.T, e *env) {
	shanghai := time.FixedZone("CST", 8*3600)
	a, b := e.enroll(t), e.enroll(t)
	e.enroll(t)
	// Yesterday (the test clock is 09:30 in Shanghai): a is confirmed, and
	// turns red.
	e.clock.Advance(-24 * time.Hour)
	ca := &healthcode.Case{ResidentID: a.ID, OnsetDate: e.day(-3), Note: "dashboard"}
	must[healthcode.Status](t)(e.db.CreateCase(e.ctx, ca))
	e.clock.Advance(24 * time.Hour)
	// Today: b is designated a close contact of a's case, and turns yellow;
	// a is discharged (red to yellow, a change of colour too).
	must[healthcode.Status](t)(e.db.AddContactDesignation(e.ctx, &healthcode.ContactDesignation{ResidentID: b.ID, CaseID: ca.ID,
		Venue: "mall", LastExposure: e.clock.Now().Add(-2 * time.Hour), DesignatedBy: "tracer"}))

	got, err := e.db.Dashboard(e.ctx, 3, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time {
		n := e.clock.Now().In(shanghai)
		return time.Date(n.Year(), n.Month(), n.Day()+d, 0, 0, 0, 0, shanghai)
	}
	want := &healthcode.Dashboard{Residents: 3, OpenCases: 1,
		ByColor: map[healthcode.Color]int{healthcode.Green: 1, healthcode.Yellow: 1, healthcode.Red: 1},
		Days: []healthcode.DashboardDay{{Day: day(-2)}, {Day: day(-1), NewCases: 1, TurnedRed: 1},
			{Day: day(0), Designations: 1, TurnedYellow: 1}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dashboard (-want +got):\n%s", diff)
	}

	must[*healthcode.Case](t)(func() (*healthcode.Case, error) {
		c, _, err := e.db.DischargeCase(e.ctx, ca.ID, time.Time{})
		return c, err
	}())
	got, err = e.db.Dashboard(e.ctx, 1, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	if got.OpenCases != 0 || len(got.Days) != 1 || got.Days[0].Discharged != 1 || got.Days[0].TurnedYellow != 2 || got.ByColor[healthcode.Yellow] != 2 {
		t.Errorf("after discharge: %+v", got)
	}
}
