// Command healthcode is the health-code platform: the server and the
// operator and device tools, as subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"healthcode"
)

const usage = `healthcode: a health-code platform for a public-health authority.

Usage:
  healthcode serve   [--addr ADDR] [--data DIR] [--db URL] [--region CODE] [--region-name NAME]
  healthcode token create --role ROLE [--name NAME] [--data DIR] [--db URL]
  healthcode token revoke --token SECRET | --id ID [--data DIR] [--db URL]
  healthcode verify --trust FILE|URL [--status-list FILE|URL] [--at RFC3339] PAYLOAD|IMAGE.png
  healthcode checkpoint --server URL --token T --venue ID [--state DIR]   (codes on stdin, one per line)
  healthcode trace --case ID [--depth 1|2] [--purpose WHY] [--data DIR] [--db URL]
  healthcode purge [--retain-checkins 28d ...] [--end-of-emergency] [--data DIR] [--db URL]
  healthcode audit verify [--data DIR] [--db URL]
  healthcode loadgen --residents N --venues V --days D --checkins-per-day K --seed S [--data DIR] [--db URL]
  healthcode trust add FILE|URL | trust list [--data DIR] [--db URL]   (regions whose codes are accepted)
  healthcode keys rotate-data-key [--data DIR] [--db URL]   (servers stopped)
  healthcode keys rotate-signing-key | revoke-signing-key --kid KID [--data DIR]   (then restart servers)
  healthcode backup --to FILE [--data DIR]   (SQLite, online; PostgreSQL: pg_dump)
  healthcode version

Every flag can also be set by an environment variable: --region-name is
HEALTHCODE_REGION_NAME; HEALTHCODE_DB_FILE reads the value of --db from a file.
Run "healthcode COMMAND -h" for a command's flags.
`

// exitError carries a process exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil {
				fmt.Fprintln(os.Stderr, "healthcode:", ee.err)
			}
			os.Exit(ee.code)
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "healthcode:", describe(err))
		}
		os.Exit(2)
	}
}

// describe says what went wrong for a person: the message of the
// application's own errors, the whole chain of anything else.
func describe(err error) string {
	var e *healthcode.Error
	if errors.As(err, &e) && e.Code != healthcode.EINTERNAL {
		return e.Message
	}
	return err.Error()
}

// usageError is a mistake in how the command was called: exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// run is the whole program; tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError("a command is required")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "token":
		switch {
		case len(rest) > 0 && rest[0] == "create":
			return runTokenCreate(ctx, rest[1:], getenv, stdout, stderr)
		case len(rest) > 0 && rest[0] == "revoke":
			return runTokenRevoke(ctx, rest[1:], getenv, stdout, stderr)
		}
		return usageError("usage: healthcode token create --role ROLE [--name NAME] | healthcode token revoke --token SECRET|--id ID")
	case "verify":
		return runVerify(ctx, rest, getenv, stdout, stderr)
	case "checkpoint":
		return runCheckpoint(ctx, rest, getenv, stdin, stdout, stderr)
	case "trace":
		return runTrace(ctx, rest, getenv, stdout, stderr)
	case "loadgen":
		return runLoadgen(ctx, rest, getenv, stdout, stderr)
	case "purge":
		return runPurge(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, getenv, stdout, stderr)
	case "trust":
		return runTrust(ctx, rest, getenv, stdout, stderr)
	case "keys":
		switch {
		case len(rest) > 0 && rest[0] == "rotate-data-key":
			return runRotateDataKey(ctx, rest[1:], getenv, stdout, stderr)
		case len(rest) > 0 && (rest[0] == "rotate-signing-key" || rest[0] == "revoke-signing-key"):
			return runSigningKeys(ctx, rest[0], rest[1:], getenv, stdout, stderr)
		}
		return usageError("usage: healthcode keys rotate-data-key | rotate-signing-key | revoke-signing-key --kid KID  [--data DIR] [--db URL]")
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "healthcode", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError("unknown command %q", cmd)
}

const version = "0.1.0"

// applyEnv sets every flag not given on the command line from
// HEALTHCODE_<FLAG> or, for secrets kept in files, HEALTHCODE_<FLAG>_FILE.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := "HEALTHCODE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(name)
		if v == "" {
			if path := getenv(name + "_FILE"); path != "" {
				b, rerr := os.ReadFile(path)
				if rerr != nil {
					err = fmt.Errorf("%s_FILE: %w", name, rerr)
					return
				}
				v = strings.TrimSpace(string(b))
			}
		}
		if v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usageError("%s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

// parseFlags parses args, then the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError("%v", err)
	}
	return applyEnv(fs, getenv)
}
