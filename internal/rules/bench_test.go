package rules_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"healthcode"
)

// residentMix builds n residents' facts as a region sees them on an ordinary
// day: most have 1-3 declarations and 0-2 vaccinations, about a third have a
// test, a few have a case, a contact designation or a trip to a risk area.
// The generator is seeded, so every run measures the same mix.
func residentMix(n int, now time.Time) []*healthcode.Facts {
	rng := rand.New(rand.NewPCG(1, 2))
	day := func(d int) time.Time { return now.AddDate(0, 0, -d).Truncate(time.Hour) }
	areas := []healthcode.AreaRisk{
		{ID: 1, Prefix: "4201", Level: healthcode.HighRisk, From: day(20)},
		{ID: 2, Prefix: "3301", Level: healthcode.MediumRisk, From: day(10), To: day(1)},
	}
	regions := []string{"420106", "330106", "110101", "310101", "440305"}
	out := make([]*healthcode.Facts, n)
	for i := range out {
		f := &healthcode.Facts{Resident: healthcode.Resident{
			ID: int64(i + 1), Region: regions[rng.IntN(len(regions))],
			BirthDate: time.Date(1950+rng.IntN(60), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC),
		}}
		for j := range 1 + rng.IntN(3) {
			d := healthcode.Declaration{ID: int64(i*10 + j), DeclaredAt: day(rng.IntN(14))}
			if rng.IntN(10) < 7 {
				d.Temperature = 36.2 + float64(rng.IntN(10))/10
			}
			if rng.IntN(20) == 0 {
				d.Temperature = 37.8
			}
			if rng.IntN(10) == 0 {
				d.Symptoms = []healthcode.Symptom{healthcode.DryCough, healthcode.SoreThroat}
			}
			if rng.IntN(50) == 0 {
				d.ContactWithCase = true
			}
			if rng.IntN(10) == 0 {
				d.Visited = []healthcode.Visit{{Region: regions[rng.IntN(len(regions))], Date: day(3 + rng.IntN(10))}}
			}
			f.Declarations = append(f.Declarations, d)
		}
		for j := range rng.IntN(3) {
			f.Vaccinations = append(f.Vaccinations, healthcode.Vaccination{
				ID: int64(i*10 + j), Product: "CoronaVac", Dose: j + 1, SeriesDoses: 2, Date: day(60 - 21*j),
			})
		}
		if rng.IntN(3) == 0 {
			res := healthcode.Negative
			if rng.IntN(100) == 0 {
				res = healthcode.Positive
			}
			f.Tests = append(f.Tests, healthcode.TestResult{
				ID: int64(i), Type: healthcode.PCR, Result: res,
				SampledAt: day(rng.IntN(5)), ResultedAt: day(0), Institution: "City Lab",
			})
		}
		if rng.IntN(200) == 0 {
			c := healthcode.Case{ID: int64(i), ConfirmedAt: day(20), SampleDate: day(21)}
			if rng.IntN(2) == 0 {
				c.DischargedAt = day(5)
			}
			f.Cases = append(f.Cases, c)
		}
		if rng.IntN(100) == 0 {
			f.Contacts = append(f.Contacts, healthcode.ContactDesignation{
				ID: int64(i), CaseID: 1, Venue: "Market", LastExposure: day(3), DesignatedAt: day(2),
			})
		}
		if hasVisits(f) {
			f.Areas = areas
		}
		out[i] = f
	}
	return out
}

func hasVisits(f *healthcode.Facts) bool {
	for _, d := range f.Declarations {
		if len(d.Visited) > 0 {
			return true
		}
	}
	return false
}

// BenchmarkEvaluate measures the default rule set over a realistic mix of
// residents. Run it on one core:
//
//	go test -run '^$' -bench BenchmarkEvaluate -benchmem -cpu 1 ./internal/rules/
func BenchmarkEvaluate(b *testing.B) {
	e := loadDefault(b)
	now := time.Date(2022, 3, 15, 9, 30, 0, 0, cst)
	residents := residentMix(10_000, now)
	colors := map[healthcode.Color]int{}
	for _, f := range residents {
		st, err := e.Evaluate(f, now)
		if err != nil {
			b.Fatal(err)
		}
		colors[st.Color]++
	}
	b.Logf("mix: %v", colors)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := e.Evaluate(residents[i%len(residents)], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "residents/s")
}
