package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/tracing"
)

// TestLoadgenThenTraceAgainstBruteForce loads a small synthetic population
// into a real SQLite store with the load generator, then traces random cases
// through the store and compares with contacts found by brute force over
// every stored check-in.
func TestLoadgenThenTraceAgainstBruteForce(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"loadgen", "--data", dir, "--residents", "400", "--venues", "30",
		"--days", "3", "--checkins-per-day", "4", "--seed", "7", "--batch", "1000"}, func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, errb.String())
	}
	t.Log(out.String())
	st := storageConfig{DataDir: dir}
	ctx := context.Background()
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	from, to := now.Add(-5*24*time.Hour), now.Add(time.Hour)
	var all []healthcode.CheckIn
	for v := int64(1); v <= 30; v++ {
		cs, err := db.ListCheckInsAtVenue(ctx, v, from, to)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	if len(all) != 400*3*4 {
		t.Fatalf("stored %d check-ins, want %d", len(all), 400*3*4)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	withContacts := 0
	for trial := 0; trial < 10; trial++ {
		src := all[rng.IntN(len(all))].Subject
		opts := healthcode.TraceOptions{From: now.Add(-4 * 24 * time.Hour), To: now.Add(time.Minute), Depth: 1}
		res, err := tracing.Trace(ctx, db, "330100", "330100", src, opts)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, c := range res.Contacts {
			got[c.Subject] = len(c.Exposures)
		}
		want := map[string]int{}
		for _, a := range all {
			if a.Subject != src || a.At.Before(opts.From) || !a.At.Before(opts.To) {
				continue
			}
			for _, b := range all {
				d := a.At.Sub(b.At)
				if b.Subject != src && b.VenueID == a.VenueID && d <= 30*time.Minute && d >= -30*time.Minute {
					want[b.Subject]++
				}
			}
		}
		if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			t.Errorf("trial %d (%s): trace found %v, brute force %v", trial, src, got, want)
		}
		if len(want) > 0 {
			withContacts++
		}
	}
	if withContacts < 5 {
		t.Errorf("only %d of 10 traced people met anyone: the population is too sparse to test tracing", withContacts)
	}

	// The same from the command line, for a confirmed case.
	src := all[0].Subject
	person, err := db.FindResidentByPseudonym(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	c := &healthcode.Case{ResidentID: person.ID, SampleDate: now.Add(-24 * time.Hour)}
	if _, err := db.CreateCase(ctx, c); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out.Reset()
	if err := run(ctx, []string{"trace", "--data", dir, "--case", fmt.Sprint(c.ID)}, func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("trace: %v %s", err, errb.String())
	}
	var res struct {
		CaseID   int64                `json:"case_id"`
		Subject  string               `json:"subject"`
		Contacts []healthcode.Contact `json:"contacts"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.CaseID != c.ID || res.Subject != src {
		t.Fatalf("trace output %v: %s", err, out.String())
	}
	for _, ct := range res.Contacts {
		if len(ct.Exposures) == 0 || ct.Subject == src {
			t.Errorf("contact without evidence or the case itself: %+v", ct)
		}
	}
	err = run(ctx, []string{"trace", "--data", dir, "--case", "999999"}, func(string) string { return "" }, nil, &out, &errb)
	if healthcode.ErrorCode(err) != healthcode.ENOTFOUND || describe(err) != "case 999999 not found" {
		t.Errorf("unknown case: %v", err)
	}
}

func sorted(m map[string]int) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(out)
	return out
}
