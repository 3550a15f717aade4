package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestMain lets the test binary stand in for the healthcode binary: with
// HEALTHCODE_TEST_RUN set to arguments separated by newlines it runs them
// and exits, so a test can start a server in a process of its own and kill
// it.
func TestMain(m *testing.M) {
	if args := os.Getenv("HEALTHCODE_TEST_RUN"); args != "" {
		err := run(context.Background(), strings.Split(args, "\n"), func(string) string { return "" }, os.Stdin, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startServerProcess runs `healthcode serve` in a child process on addr,
// waits until it answers, and returns a function that kills it with SIGKILL
// and waits for it to be gone.
func startServerProcess(t *testing.T, dir, addr string) (kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HEALTHCODE_TEST_RUN="+strings.Join([]string{"serve", "--addr", addr, "--data", dir, "--log-level", "error"}, "\n"))
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	kill = func() { cmd.Process.Kill(); <-exited }
	t.Cleanup(kill)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("server exited: %s", stderr.String())
		default:
		}
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return kill
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server did not start: %s", stderr.String())
	return nil
}

// TestCheckInsSurviveSIGKILL uploads check-ins without pause while the
// server is killed with SIGKILL at random moments and started again, 20
// times. Afterwards every check-in the server acknowledged is stored exactly
// once, the database passes SQLite's integrity check, and the client's
// retries of unacknowledged batches fill in the rest.
func TestCheckInsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a server 20 times")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	// Set up a venue and a checkpoint token with a server in this process.
	ts := startServerAt(t, dir, addr)
	venueTok := createToken(t, dir, "venue")
	var v struct{ ID int64 }
	ts.call(t, "POST", "/api/v1/venues", venueTok, map[string]any{"name": "武林广场站", "type": "transit", "region": "330106",
		"address": "环城北路", "policy": map[string]any{"kind": "green"}}, 201, &v)
	var cp struct{ Token string }
	ts.call(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", v.ID), venueTok, map[string]string{"name": "gate"}, 201, &cp)
	ts.stop()

	rng := rand.New(rand.NewPCG(7, 7))
	const batchSize = 100
	type batch struct {
		ids  []string
		body []byte
	}
	seq := 0
	newBatch := func() batch {
		var b batch
		items := make([]map[string]any, batchSize)
		at := time.Now().Add(-time.Hour).UTC()
		for i := range items {
			seq++
			id := fmt.Sprintf("kill-%08d", seq)
			b.ids = append(b.ids, id)
			items[i] = map[string]any{"id": id, "subject": fmt.Sprintf("S%07d", seq%5000), "issuer": "330100",
				"venue_id": v.ID, "at": at.Add(time.Duration(seq) * time.Millisecond).Format(time.RFC3339Nano), "decision": "admit", "color": "green"}
		}
		b.body, _ = json.Marshal(map[string]any{"checkins": items})
		return b
	}
	client := &http.Client{Timeout: 5 * time.Second}
	// send uploads a batch; it reports whether the server acknowledged it
	// with a result for every item (stored or duplicate).
	send := func(b batch) bool {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/checkins", bytes.NewReader(b.body))
		req.Header.Set("Authorization", "Bearer "+cp.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Results []struct{ ID, Result, Reason string }
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		for i, r := range out.Results {
			if r.ID != b.ids[i] || (r.Result != "stored" && r.Result != "duplicate") {
				t.Errorf("item %s: %s %s", r.ID, r.Result, r.Reason)
			}
		}
		return len(out.Results) == len(b.ids)
	}

	var mu sync.Mutex
	var acked []string
	var pending []batch // sent without an acknowledgement: to retry
	for kill := range 20 {
		kill9 := startServerProcess(t, dir, addr)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				var b batch
				if len(pending) > 0 {
					b, pending = pending[0], pending[1:]
				} else {
					b = newBatch()
				}
				mu.Unlock()
				ok := send(b)
				mu.Lock()
				if ok {
					acked = append(acked, b.ids...)
				} else {
					pending = append(pending, b)
				}
				mu.Unlock()
			}
		})
		time.Sleep(time.Duration(30+rng.IntN(300)) * time.Millisecond)
		kill9()
		close(stop)
		wg.Wait()
		t.Logf("kill %d: %d check-ins acknowledged, %d batches to retry", kill+1, len(acked), len(pending))
	}

	// The last start: the client's retries fill in the rest.
	kill9 := startServerProcess(t, dir, addr)
	for len(pending) > 0 {
		b := pending[0]
		if !send(b) {
			t.Fatalf("retry of %s failed with the server up", b.ids[0])
		}
		acked, pending = append(acked, b.ids...), pending[1:]
	}
	kill9()

	db, err := sql.Open("sqlite", filepath.Join(dir, "healthcode.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity check: %q, %v", integrity, err)
	}
	stored := map[string]int{}
	rows, err := db.Query(`SELECT id FROM checkins`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged check-in %s stored %d times", id, stored[id])
		}
	}
	if len(stored) != seq || len(acked) != seq {
		t.Errorf("%d check-ins made, %d acknowledged, %d stored", seq, len(acked), len(stored))
	}
	t.Logf("%d check-ins, all stored once after 20 kills", seq)
}
