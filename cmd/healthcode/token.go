package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"healthcode"
	"healthcode/internal/secure"
)

func runTokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	var role, name string
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	fs.StringVar(&role, "role", "", "the token's role: "+roleList())
	fs.StringVar(&name, "name", "", "who or what holds the token, e.g. \"Xihu lab 3\" (default: the role)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if !healthcode.ValidTokenRole(healthcode.Role(role)) {
		return usageError("--role must be one of %s, not %q", roleList(), role)
	}
	if name == "" {
		name = role
	}
	if len(name) > 80 {
		return usageError("--name is longer than 80 characters")
	}
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	secret, hash, err := secure.NewSecret("hct_")
	if err != nil {
		return err
	}
	if err := db.CreateAPIToken(ctx, &healthcode.APIToken{Name: name, Role: healthcode.Role(role), Hash: hash}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

func roleList() string {
	rs := make([]string, len(healthcode.TokenRoles))
	for i, r := range healthcode.TokenRoles {
		rs[i] = string(r)
	}
	return strings.Join(rs, ", ")
}
