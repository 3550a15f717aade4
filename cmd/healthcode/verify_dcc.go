package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
)

// dccRequested reports whether verify was asked to check an EU Digital
// COVID Certificate: --dsc is given.
func dccRequested(args []string) bool { return flagGiven(args, "dsc") }

// dscFlag collects the --dsc values, which may be repeated.
type dscFlag []string

func (f *dscFlag) String() string     { return strings.Join(*f, ",") }
func (f *dscFlag) Set(v string) error { *f = append(*f, v); return nil }

// runVerifyDCC verifies an EU Digital COVID Certificate offline against the
// document signer certificates (DSCs) given and prints the result as JSON,
// with every check under "checks": exit 0 valid, 1 rejected, 2 usage error.
//
//	healthcode verify --dsc CERT [--dsc CERT...] [--at TIME] HC1:...|FILE|IMAGE.png
//
// CERT is a certificate in base64 DER or PEM, or a file holding one or more.
// TIME is ISO 8601 in any spelling dcc.ParseTime reads (default now).
func runVerifyDCC(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var dscs dscFlag
	var at string
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&dscs, "dsc", "EU DCC document signer certificate: base64 DER, PEM, or a file of them (repeatable)")
	fs.StringVar(&at, "at", "", "verify as of this time, e.g. 2021-05-03T18:00:00Z or 2021-05-03 20:00+0200 (default now)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("give exactly one HC1: text, a file holding it, or a picture of its QR code (got %d arguments)", fs.NArg())
	}
	var certs []*x509.Certificate
	for _, d := range dscs {
		cs, err := readDSCs(d)
		if err != nil {
			return usageError("--dsc: %s", describe(err))
		}
		certs = append(certs, cs...)
	}
	now := time.Now()
	if at != "" {
		t, err := dcc.ParseTime(at)
		if err != nil {
			return usageError("--at: %s", describe(err))
		}
		now = t
	}
	payload, err := dccPayload(fs.Arg(0))
	if err != nil {
		return err
	}
	v, err := dcc.NewVerifier(certs)
	if err != nil {
		return err
	}
	var r dcc.Result
	if payload.text == "" {
		r = v.Verify("", now)
		why := "no readable QR code in the picture: " + payload.why
		r.Checks[dcc.CheckPrefix] = "failed: " + why
		r.Reason = dcc.CheckPrefix + ": " + why
	} else {
		r = v.Verify(payload.text, now)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("print result: %w", err)
	}
	if !r.Valid {
		return &exitError{code: 1}
	}
	return nil
}

// readDSCs reads certificates from a file, when arg names one, else from
// arg itself.
func readDSCs(arg string) ([]*x509.Certificate, error) {
	data := []byte(arg)
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		if data, err = os.ReadFile(arg); err != nil {
			return nil, err
		}
	}
	return dcc.ParseCertificates(data)
}

type dccInput struct {
	text string // the QR text; "" when a picture held none
	why  string // why not
}

// dccPayload reads the argument: HC1: text, a picture of the QR code, or a
// file holding the text.
func dccPayload(arg string) (dccInput, error) {
	if strings.HasPrefix(arg, dcc.Prefix) {
		return dccInput{text: arg}, nil
	}
	if isImagePath(arg) {
		data, err := os.ReadFile(arg)
		if err != nil {
			return dccInput{}, usageError("%v", err)
		}
		text, err := code.ReadQR(data)
		if err != nil {
			return dccInput{why: err.Error()}, nil
		}
		return dccInput{text: text}, nil
	}
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() && st.Size() < 1<<20 {
		data, err := os.ReadFile(arg)
		if err != nil {
			return dccInput{}, usageError("%v", err)
		}
		return dccInput{text: strings.TrimSpace(string(data))}, nil
	}
	return dccInput{text: arg}, nil // not HC1: text; the prefix check says so
}
