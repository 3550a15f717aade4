package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"healthcode"
)

// runBackup copies the SQLite database with the online backup API while the
// server keeps running. The keys in the data directory are not copied: back
// them up apart from the database (docs/operations.md), so that a stolen
// database backup holds no readable personal data.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	var to string
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	fs.StringVar(&to, "to", "", "the file to write the copy to (required; must not exist)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if to == "" {
		return usageError("--to FILE is required")
	}
	if fs.NArg() > 0 {
		return usageError("backup takes no arguments, got %q", fs.Args())
	}
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", st.dbURL(), to)
	return nil
}
