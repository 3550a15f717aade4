package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"healthcode/internal/interop/shc"
)

// shcRequested reports whether `healthcode verify` was given --jwks, which
// makes it verify SMART Health Cards.
func shcRequested(args []string) bool { return flagGiven(args, "jwks") }

// runVerifySHC verifies SMART Health Cards against their issuer's JWKS and
// prints one JSON result per card, each with its "checks": exit 0 when every
// card is valid, 1 when one is rejected, 2 on a usage error.
//
//	healthcode verify --jwks FILE|URL [--iss URL] [--at TIME] shc:/...|CHUNK...|FILE.smart-health-card|JWS|FILE
//
// The chunks of a chunked QR code are given as several arguments, in any
// order. An argument that is not shc:/ text, JSON or a JWS names a file
// holding one of those.
func runVerifySHC(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var jwksSrc, iss, at string
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&jwksSrc, "jwks", "", "SMART Health Card issuer keys (JWKS): a file or an http(s) URL (required)")
	fs.StringVar(&iss, "iss", "", "the issuer the keys belong to (default: from a --jwks URL ending in /.well-known/jwks.json)")
	fs.StringVar(&at, "at", "", "verify as of this time: RFC 3339, YYYY-MM-DD or seconds since 1970 (default now)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if jwksSrc == "" {
		return usageError("--jwks FILE|URL is required")
	}
	if fs.NArg() == 0 {
		return usageError("give a shc:/ QR text (or all its chunks), a .smart-health-card file or a JWS")
	}
	now := time.Now()
	if at != "" {
		t, err := parseSHCTime(at)
		if err != nil {
			return usageError("--at %q: %v", at, err)
		}
		now = t
	}
	inputs := make([]string, fs.NArg())
	for i, arg := range fs.Args() {
		text, err := shcArgument(arg)
		if err != nil {
			return usageError("%v", err)
		}
		inputs[i] = text
	}
	keys, err := shc.LoadKeys(ctx, jwksSrc)
	if err != nil {
		return usageError("%v", err)
	}
	if iss != "" {
		keys.Issuer = iss
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	allValid := true
	for _, r := range shc.Verify(ctx, keys, now, inputs...) {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("print result: %w", err)
		}
		allValid = allValid && r.Valid
	}
	if !allValid {
		return &exitError{code: 1}
	}
	return nil
}

// maxSHCFile bounds a card file read from the command line.
const maxSHCFile = 4 << 20

// shcArgument returns the card text an argument stands for: the argument
// itself when it is shc:/ text, JSON or a JWS, else the contents of the file
// it names.
func shcArgument(arg string) (string, error) {
	trimmed := strings.TrimSpace(arg)
	if strings.HasPrefix(strings.ToLower(trimmed), "shc:/") || strings.HasPrefix(trimmed, "{") {
		return arg, nil
	}
	fi, err := os.Stat(arg)
	if err == nil && !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a card file", arg)
	}
	if err != nil {
		switch strings.ToLower(filepath.Ext(arg)) {
		case ".smart-health-card", ".txt", ".json", ".jws":
			return "", fmt.Errorf("cannot read card file: %w", err)
		}
		return arg, nil // a JWS
	}
	f, err := os.Open(arg)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSHCFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", arg, err)
	}
	if len(data) > maxSHCFile {
		return "", fmt.Errorf("%s is larger than %d bytes", arg, maxSHCFile)
	}
	return string(data), nil
}

// parseSHCTime reads --at: RFC 3339 (with or without a fraction), a date
// and time without a zone or a date alone (both UTC), or seconds since 1970
// as SMART Health Cards write times (maybe with a fraction).
func parseSHCTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err == nil && sec >= 0 && strings.Trim(frac, "0123456789") == "" {
		nsec, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		return time.Unix(sec, nsec).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("not a time: give RFC 3339 (2023-07-01T08:00:00+08:00), YYYY-MM-DD or seconds since 1970")
}
