package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"healthcode"
	"healthcode/internal/secure"
)

func runTokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	var role, name string
	var venues venueList
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	fs.StringVar(&role, "role", "", "the token's role: "+roleList())
	fs.StringVar(&name, "name", "", "who or what holds the token, e.g. \"Xihu lab 3\" (default: the role)")
	fs.Var(&venues, "venue", "for a checkpoint token: a venue id it may record check-ins for (repeat for several)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if !healthcode.ValidTokenRole(healthcode.Role(role)) {
		return usageError("--role must be one of %s, not %q", roleList(), role)
	}
	if name == "" {
		name = role
	}
	if len(venues) > 0 && healthcode.Role(role) != healthcode.RoleCheckpoint {
		return usageError("--venue only applies to checkpoint tokens")
	}
	if healthcode.Role(role) == healthcode.RoleCheckpoint && len(venues) == 0 {
		return usageError("a checkpoint token needs at least one --venue ID")
	}
	if len(name) > 80 {
		return usageError("--name is longer than 80 characters")
	}
	ctx = healthcode.ContextWithActor(ctx, healthcode.OperatorActor("token create"))
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	secret, hash, err := secure.NewSecret("hct_")
	if err != nil {
		return err
	}
	tok := &healthcode.APIToken{Name: name, Role: healthcode.Role(role), Hash: hash}
	if err := db.CreateAPIToken(ctx, tok); err != nil {
		return err
	}
	if len(venues) > 0 {
		if err := db.SetTokenVenues(ctx, tok.ID, venues); err != nil {
			_ = db.RevokeAPIToken(ctx, tok.ID)
			return err
		}
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

// venueList is a repeatable --venue flag.
type venueList []int64

func (v *venueList) String() string { return fmt.Sprint([]int64(*v)) }

func (v *venueList) Set(s string) error {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("venue id must be a positive number, not %q", s)
	}
	*v = append(*v, id)
	return nil
}

// runTokenRevoke revokes an API token, named by its secret (what a lost or
// stolen device held) or its id; every server process stops accepting it at
// once (the change feed).
func runTokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var st storageConfig
	var secret string
	var id int64
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	fs.StringVar(&secret, "token", "", "the token's secret (hct_...): prefer HEALTHCODE_TOKEN_FILE")
	fs.Int64Var(&id, "id", 0, "the token's id")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if (secret == "") == (id == 0) {
		return usageError("give exactly one of --token SECRET and --id ID")
	}
	ctx = healthcode.ContextWithActor(ctx, healthcode.OperatorActor("token revoke"))
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	if secret != "" {
		tok, err := db.FindAPIToken(ctx, secure.HashSecret(strings.TrimSpace(secret)))
		if err != nil {
			return fmt.Errorf("no unrevoked token has this secret: %w", err)
		}
		id = tok.ID
	}
	if err := db.RevokeAPIToken(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %d revoked\n", id)
	return nil
}
