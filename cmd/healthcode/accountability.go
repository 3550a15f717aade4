package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"healthcode"
)

// days is a flag.Value for a retention window: "28d", or any Go duration
// ("672h").
type days struct{ d *time.Duration }

func (v days) String() string {
	if v.d == nil {
		return ""
	}
	if *v.d%healthcode.Day == 0 {
		return strconv.FormatInt(int64(*v.d/healthcode.Day), 10) + "d"
	}
	return v.d.String()
}

func (v days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		k, err := strconv.Atoi(n)
		if err != nil || k < 0 || k > 100*365 {
			return fmt.Errorf("%q is not a number of days such as 28d", s)
		}
		*v.d = time.Duration(k) * healthcode.Day
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a number of days (28d) or a duration (672h)", s)
	}
	*v.d = d
	return nil
}

// retentionFlags are the retention windows; serve and purge share them.
type retentionFlags struct{ healthcode.Retention }

func (r *retentionFlags) register(fs *flag.FlagSet) {
	r.Retention = healthcode.DefaultRetention()
	fs.Var(days{&r.CheckIns}, "retain-checkins", "how long check-ins are kept (28d; a number of days or a duration)")
	fs.Var(days{&r.Declarations}, "retain-declarations", "how long health declarations are kept")
	fs.Var(days{&r.TestResults}, "retain-test-results", "how long test results are kept")
	fs.Var(days{&r.ClosedAppeals}, "retain-closed-appeals", "how long decided appeals are kept after the decision")
}

func (r *retentionFlags) validate() error {
	if err := r.Retention.Validate(); err != nil {
		return usageError("retention windows: %s (flags --retain-*)", healthcode.ErrorMessage(err))
	}
	return nil
}

// runRetention applies the retention windows now and then every interval
// until ctx ends: the server's retention job. `healthcode purge` calls the
// same store method once.
func runRetention(ctx context.Context, svc healthcode.RetentionService, r healthcode.Retention, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rep, err := svc.ApplyRetention(ctx, r)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error("retention purge failed; will try again", "error", err.Error(), "retry_in", every.String())
		default:
			log.Info("retention purge", "report", rep.String(), "deferred", rep.Deferred)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runPurge applies the retention windows once, or with --end-of-emergency
// deletes every check-in, declaration and contact designation.
func runPurge(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	var ret retentionFlags
	var endOfEmergency bool
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	ret.register(fs)
	fs.BoolVar(&endOfEmergency, "end-of-emergency", false,
		"delete ALL movement and declaration data now (check-ins, declarations, contact designations); statuses in force keep their reasons until they end")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("purge takes no arguments, got %q", fs.Args())
	}
	if err := ret.validate(); err != nil {
		return err
	}
	command := "purge"
	if endOfEmergency {
		command = "purge --end-of-emergency"
	}
	ctx = healthcode.ContextWithActor(ctx, healthcode.OperatorActor(command))
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	var rep healthcode.PurgeReport
	if endOfEmergency {
		rep, err = db.PurgeEndOfEmergency(ctx)
	} else {
		rep, err = db.ApplyRetention(ctx, ret.Retention)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep.String())
	return nil
}

// runAudit runs `healthcode audit verify`: it checks the whole hash chain
// and reports the first broken link with exit status 1.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError("usage: healthcode audit verify [--data DIR] [--db URL]")
	}
	var st storageConfig
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("audit verify takes no arguments, got %q", fs.Args())
	}
	ctx = healthcode.ContextWithActor(ctx, healthcode.OperatorActor("audit verify"))
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.VerifyAuditLog(ctx)
	if err != nil {
		return err
	}
	if rep.Break != nil {
		fmt.Fprintf(stdout, "audit log BROKEN: %d entries check out; the first broken link is %s\n", rep.Entries, describeBreak(rep.Break))
		return &exitError{code: 1}
	}
	fmt.Fprintf(stdout, "audit log intact: %d entries; head %s\n", rep.Entries, rep.Head)
	return nil
}

func describeBreak(b *healthcode.AuditBreak) string {
	if b.Seq == 0 {
		return "the chain head: " + b.Problem
	}
	return fmt.Sprintf("entry %d: %s", b.Seq, b.Problem)
}
