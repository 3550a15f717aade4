package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"healthcode/internal/code"
	"healthcode/internal/statuslist"
	"healthcode/internal/trust"
)

// flagGiven reports whether args set the flag -name or --name (with or
// without =value) before any "--"; verify picks its mode by it.
func flagGiven(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && n == name {
			return true
		}
	}
	return false
}

// runVerify checks a code offline against a trust list and prints the
// verdict as JSON: exit 0 valid, 1 rejected, 2 usage error.
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if shcRequested(args) { // SMART Health Cards: verify_shc.go
		return runVerifySHC(ctx, args, getenv, stdout, stderr)
	}
	if dccRequested(args) { // EU Digital COVID Certificates: verify_dcc.go
		return runVerifyDCC(ctx, args, getenv, stdout, stderr)
	}
	var trustSrc, statusSrc, at string
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&trustSrc, "trust", "", "trust list: a file or an http(s) URL (required)")
	fs.StringVar(&statusSrc, "status-list", "", "status list for paper codes: a file or an http(s) URL")
	fs.StringVar(&at, "at", "", "verify as of this RFC 3339 time (default now)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if trustSrc == "" {
		return usageError("--trust FILE|URL is required")
	}
	if fs.NArg() != 1 {
		return usageError("give exactly one PAYLOAD or IMAGE.png (got %d arguments)", fs.NArg())
	}
	now := time.Now()
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return usageError("--at %q is not an RFC 3339 time such as 2026-11-23T08:00:00+08:00", at)
		}
		now = t
	}
	list, err := trust.Load(ctx, trustSrc, now)
	if err != nil {
		return usageError("trust list: %v", err)
	}
	var sl *statuslist.List
	if statusSrc != "" {
		if sl, err = statuslist.Load(ctx, statusSrc, list); err != nil {
			return usageError("status list: %v", err)
		}
	}
	payload := fs.Arg(0)
	if isImagePath(payload) {
		data, err := os.ReadFile(payload)
		if err != nil {
			return usageError("%v", err)
		}
		if payload, err = code.DecodeImage(data); err != nil {
			return printVerdict(stdout, code.ImageVerdict(err))
		}
	}
	_, v := statuslist.Seen(code.Check(payload, list, now), sl, now)
	return printVerdict(stdout, v)
}

func isImagePath(s string) bool {
	l := strings.ToLower(s)
	if !(strings.HasSuffix(l, ".png") || strings.HasSuffix(l, ".jpg") || strings.HasSuffix(l, ".jpeg")) {
		return false
	}
	_, err := os.Stat(s)
	return err == nil
}

func printVerdict(w io.Writer, v code.Verdict) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print verdict: %w", err)
	}
	if !v.Valid {
		return &exitError{code: 1}
	}
	return nil
}
