package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"healthcode"
	"healthcode/internal/fetch"
	"healthcode/internal/notice"
	"healthcode/internal/sqlstore"
	"healthcode/internal/trust"
	"healthcode/internal/web"
)

// runTrust manages the regions whose codes this region accepts:
// `trust add SRC` imports a peer's trust list from a file or URL (refreshed
// by the server), `trust list` shows them.
func runTrust(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list") {
		return usageError("usage: healthcode trust add FILE|URL | healthcode trust list  [--data DIR] [--db URL]")
	}
	var st storageConfig
	fs := flag.NewFlagSet("trust "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.register(fs)
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "list" {
		peers, err := db.ListTrustedPeers(ctx)
		if err != nil {
			return err
		}
		for _, p := range peers {
			fmt.Fprintf(stdout, "%s\t%s\tfetched %s\n", p.Region, p.Source, p.FetchedAt.Format(time.RFC3339))
		}
		return nil
	}
	if fs.NArg() != 1 {
		return usageError("give the peer's trust list: one FILE or URL")
	}
	p, err := fetchPeer(ctx, fs.Arg(0), "", time.Now())
	if err != nil {
		return err
	}
	// The admin's trust-list page does the same: fetch, check, and add
	// with an entry in the audit log.
	op := healthcode.ContextWithActor(ctx, healthcode.OperatorActor("trust add"))
	if err := db.AddTrustedPeer(op, p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trusting region %s from %s; running servers pick it up at their next refresh\n", p.Region, p.Source)
	return nil
}

// fetchPeer reads and checks a peer's trust list; with the etag of the copy
// held it returns nil when the list has not changed.
func fetchPeer(ctx context.Context, src, etag string, now time.Time) (*healthcode.TrustedPeer, error) {
	data, tag, changed, err := fetch.ReadIfChanged(ctx, src, trust.MediaType, trust.MaxListSize, etag)
	if err != nil {
		return nil, fmt.Errorf("peer trust list %s: %w", src, err)
	}
	if !changed {
		return nil, nil
	}
	l, err := trust.Parse(data, now)
	if err != nil {
		return nil, fmt.Errorf("peer trust list %s: %w", src, err)
	}
	return &healthcode.TrustedPeer{Source: src, Region: l.Issuer, List: data, ETag: tag, FetchedAt: now}, nil
}

// peerEndpoints knows each trusted region's federation endpoint, next to
// the URL its trust list comes from; refreshPeers replaces it whole.
type peerEndpoints struct {
	m atomic.Pointer[map[string]string]
}

func (e *peerEndpoints) lookup(region string) string {
	if m := e.m.Load(); m != nil {
		return (*m)[region]
	}
	return ""
}

// refreshPeers fetches each trusted peer's list when it changed, keeps the
// new copy, and gives the server every peer's current list, and endpoints
// their federation endpoints. A peer that cannot be reached keeps its last
// good list.
func refreshPeers(ctx context.Context, db *sqlstore.DB, srv *web.Server, endpoints *peerEndpoints, log *slog.Logger) {
	peers, err := db.ListTrustedPeers(ctx)
	if err != nil {
		log.Warn("trusted peers: cannot list them", "error", err.Error())
		return
	}
	now := time.Now()
	var lists []*trust.List
	var signed [][]byte
	eps := map[string]string{}
	for _, p := range peers {
		if ep := notice.EndpointOf(p.Source, trust.WellKnownPath); ep != "" {
			eps[p.Region] = ep
		}
		fresh, err := fetchPeer(ctx, p.Source, p.ETag, now)
		srv.NotePeerRefresh(p.Source, now, err)
		if err != nil {
			log.Warn("trusted peer: refresh failed; keeping the last list", "source", p.Source, "error", err.Error())
		} else if fresh != nil {
			if err := db.PutTrustedPeer(ctx, fresh); err != nil {
				log.Warn("trusted peer: cannot store the new list", "source", p.Source, "error", err.Error())
			} else {
				p = *fresh
				log.Info("trusted peer: new trust list", "source", p.Source, "region", p.Region)
			}
		}
		l, err := trust.Parse(p.List, now)
		if err != nil {
			log.Warn("trusted peer: the stored list is no longer valid", "source", p.Source, "error", err.Error())
			continue
		}
		lists, signed = append(lists, l), append(signed, p.List)
	}
	srv.SetPeers(lists, signed)
	endpoints.m.Store(&eps)
}
