package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupWhileServing copies the database while check-ins are uploaded,
// and checks that the copy is intact and holds a prefix of them.
func TestBackupWhileServing(t *testing.T) {
	ts := startServer(t)
	venueTok := createToken(t, ts.dataDir, "venue")
	var v struct{ ID int64 }
	ts.call(t, "POST", "/api/v1/venues", venueTok, map[string]any{"name": "银泰百货", "type": "mall", "region": "330106",
		"address": "延安路 98 号", "policy": map[string]any{"kind": "green"}}, 201, &v)
	var cp struct{ Token string }
	ts.call(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", v.ID), venueTok, map[string]string{"name": "gate"}, 201, &cp)

	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			items := make([]map[string]any, 50)
			for j := range items {
				items[j] = map[string]any{"id": fmt.Sprintf("backup-%06d-%02d", i, j), "subject": "ABCDEFGH", "issuer": "330100",
					"venue_id": v.ID, "at": time.Now().Add(-time.Minute).Format(time.RFC3339Nano), "decision": "admit", "color": "green"}
			}
			ts.call(t, "POST", "/api/v1/checkins", cp.Token, map[string]any{"checkins": items}, 200, nil)
			sent.Add(50)
		}
	})
	time.Sleep(200 * time.Millisecond)
	to := filepath.Join(t.TempDir(), "copy.db")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"backup", "--data", ts.dataDir, "--to", to}, func(string) string { return "" }, nil, &out, &errb)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v: %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "backed up") {
		t.Errorf("output %q", out.String())
	}
	db, err := sql.Open("sqlite", to)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	var n int64
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity of the copy: %q %v", integrity, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM checkins`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n > sent.Load() || n%50 != 0 {
		t.Errorf("the copy holds %d check-ins of %d sent; want whole batches, at least one", n, sent.Load())
	}
	// A second backup to the same file is refused.
	err = run(context.Background(), []string{"backup", "--data", ts.dataDir, "--to", to}, func(string) string { return "" }, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup over an existing file: %v", err)
	}
}
