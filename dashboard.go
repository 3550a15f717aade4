package healthcode

import (
	"context"
	"time"
)

// Dashboard is what an authority's dashboard shows: counts only, never a
// person.
type Dashboard struct {
	Residents  int           // enrolled residents
	ByColor    map[Color]int // current colour of each resident, as last computed
	Vaccinated int           // residents with the vaccinated mark, as last computed
	OpenCases  int           // confirmed and not yet discharged
	Days       []DashboardDay
}

// DashboardDay is one civil day of the dashboard's charts.
type DashboardDay struct {
	Day          time.Time // midnight of the day in the region's time zone
	NewCases     int       // cases confirmed that day
	Discharged   int       // cases discharged that day
	Designations int       // close contacts designated that day
	TurnedYellow int       // status changes to yellow that day
	TurnedRed    int       // status changes to red that day
}

// DashboardService reads the dashboard's counts.
type DashboardService interface {
	// Dashboard returns today's counts and one DashboardDay for each of the
	// last days civil days in loc, ending with today, oldest first.
	Dashboard(ctx context.Context, days int, loc *time.Location) (*Dashboard, error)
}
