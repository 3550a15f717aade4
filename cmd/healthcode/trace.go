package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"time"

	"healthcode"
	"healthcode/internal/tracing"
)

// runTrace traces a case from the command line, straight from the database,
// and prints the contacts with their evidence as JSON.
func runTrace(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	var caseID int64
	var depth, proximity, maxSecond int
	var region, purpose, byType string
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	fs.Int64Var(&caseID, "case", 0, "the case to trace (required)")
	fs.IntVar(&depth, "depth", 1, "1: contacts of the case; 2: also their contacts")
	fs.IntVar(&proximity, "proximity", 30, "minutes either side of a check-in that count as contact")
	fs.StringVar(&region, "region", "330100", "this region's code: contacts with codes from elsewhere are listed apart")
	fs.StringVar(&purpose, "purpose", "trace from the command line", "why: recorded in the audit log and shown to the case's resident")
	fs.StringVar(&byType, "proximity-by-type", "", "proximity for venue types, e.g. transit=10m,restaurant=45m")
	fs.IntVar(&maxSecond, "max-second-degree", healthcode.DefaultMaxSecondDegree, "at depth 2, stop after this many second-degree contacts")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if caseID <= 0 {
		return usageError("--case ID is required")
	}
	if depth != 1 && depth != 2 {
		return usageError("--depth must be 1 or 2")
	}
	if proximity < 1 || proximity > 1440 {
		return usageError("--proximity must be between 1 and 1440 minutes")
	}
	acc := healthcode.Access{Actor: healthcode.OperatorActor("trace"), Purpose: purpose}
	if err := acc.Validate(); err != nil {
		return usageError("--purpose: %s", healthcode.ErrorMessage(err))
	}
	ctx = healthcode.ContextWithActor(ctx, acc.Actor)
	if maxSecond < 1 || maxSecond > tracing.MaxSecondDegree {
		return usageError("--max-second-degree must be between 1 and %d", tracing.MaxSecondDegree)
	}
	proximityByType, err := healthcode.ParseProximityByType(byType)
	if err != nil {
		return usageError("--proximity-by-type: %s", healthcode.ErrorMessage(err))
	}
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	// The case holder's check-ins are read in the transaction that records
	// the read, with the purpose, in the audit log.
	var c *healthcode.Case
	var result *tracing.Result
	start := time.Now()
	err = db.ReadCaseMovements(ctx, acc, caseID, func(cs *healthcode.Case, pseudonym string, src healthcode.MovementReader) error {
		opts := healthcode.TraceOptions{Depth: depth, Proximity: time.Duration(proximity) * time.Minute,
			ProximityByType: proximityByType, MaxSecondDegree: maxSecond}
		opts.From, opts.To = healthcode.InfectiousWindow(cs)
		c = cs
		var err error
		result, err = tracing.Trace(ctx, src, region, region, pseudonym, opts)
		return err
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"case_id": c.ID, "subject": result.Subject, "from": result.From, "to": result.To,
		"contacts": nonNilContacts(result.Contacts), "foreign_contacts": nonNilContacts(result.Foreign),
		"checkins_scanned": result.CheckInsScanned, "truncated": result.Truncated, "took_ms": float64(time.Since(start).Microseconds()) / 1000})
}

func nonNilContacts(cs []healthcode.Contact) []healthcode.Contact {
	if cs == nil {
		return []healthcode.Contact{}
	}
	return cs
}
