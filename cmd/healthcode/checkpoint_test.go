package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"healthcode"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// enrollWithCode enrolls a resident and returns a session token and their
// current phone code.
func enrollWithCode(t *testing.T, ts *testServer, seq int) (string, string) {
	t.Helper()
	phone := fmt.Sprintf("1370000%04d", seq)
	body := map[string]any{"name": "王小明", "sex": "male", "birth_date": "1990-01-02", "nationality": "CHN",
		"id_type": "resident_id", "id_number": residentID("330106", "1990-01-02", seq*2+1, true), "phone": phone,
		"password": "long enough", "region": "330106", "address": "文三路 2 号"}
	ts.call(t, "POST", "/api/v1/residents", "", body, 201, nil)
	var login struct{ Token string }
	ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": phone, "password": "long enough"}, 200, &login)
	var c struct{ Payload string }
	ts.call(t, "GET", "/api/v1/me/code", login.Token, nil, 200, &c)
	return login.Token, c.Payload
}

// runCheckpointCLI starts `healthcode checkpoint` reading from a pipe and
// returns the writer, a reader of its JSON lines, and a wait function.
func runCheckpointCLI(t *testing.T, server, token string, venue int64, state string) (io.WriteCloser, *bufio.Scanner, func() error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errb := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		err := run(context.Background(), []string{"checkpoint", "--server", server, "--token", token, "--venue", fmt.Sprint(venue),
			"--state", state, "--upload-every", "100ms"}, func(string) string { return "" }, inR, outW, errb)
		outW.Close()
		done <- err
	}()
	wait := func() error {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%w (stderr: %s)", err, errb.String())
			}
			return nil
		case <-time.After(60 * time.Second):
			return fmt.Errorf("checkpoint did not exit; stderr: %s", errb.String())
		}
	}
	return inW, bufio.NewScanner(outR), wait
}

func checkpointDecision(t *testing.T, in io.Writer, out *bufio.Scanner, payload string) checkpointLine {
	t.Helper()
	if _, err := fmt.Fprintln(in, payload); err != nil {
		t.Fatal(err)
	}
	if !out.Scan() {
		t.Fatalf("checkpoint printed nothing: %v", out.Err())
	}
	var l checkpointLine
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	return l
}

// TestCheckpointSurvivesServerOutage runs the command-line checkpoint while
// the server is up, stopped, and started again, and checks that every
// check-in arrives exactly once.
func TestCheckpointSurvivesServerOutage(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	ts := startServerAt(t, dir, addr)
	venueTok := createToken(t, dir, "venue")
	var v struct {
		ID        int64  `json:"id"`
		PlaceCode string `json:"place_code"`
	}
	ts.call(t, "POST", "/api/v1/venues", venueTok, map[string]any{"name": "银泰百货", "type": "mall", "region": "330106",
		"address": "延安路 98 号", "policy": map[string]any{"kind": "green"}}, 201, &v)
	var cp struct{ Token string }
	ts.call(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", v.ID), venueTok, map[string]string{"name": "east gate"}, 201, &cp)

	var payloads []string
	for i := range 4 {
		_, p := enrollWithCode(t, ts, i+1)
		payloads = append(payloads, p)
	}
	state := filepath.Join(t.TempDir(), "checkpoint")

	// Online.
	in, out, wait := runCheckpointCLI(t, ts.url, cp.Token, v.ID, state)
	l := checkpointDecision(t, in, out, payloads[0])
	if l.Decision != healthcode.Admit || l.CheckInID == "" || l.Name != "王*明" || l.Venue != "银泰百货" {
		t.Fatalf("first code: %+v", l)
	}
	if l = checkpointDecision(t, in, out, "HQ1:NOT-A-CODE"); l.Decision != healthcode.Deny || l.CheckInID != "" {
		t.Errorf("garbage: %+v", l)
	}

	// Offline: the server stops; the checkpoint keeps deciding and queues.
	ts.stop()
	for _, p := range payloads[1:3] {
		if l = checkpointDecision(t, in, out, p); l.Decision != healthcode.Admit || l.CheckInID == "" {
			t.Errorf("offline: %+v", l)
		}
	}
	in.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	// The process restarts while the server is still down: it starts from
	// its cache and keeps the queue.
	in, out, wait = runCheckpointCLI(t, ts.url, cp.Token, v.ID, state)
	if l = checkpointDecision(t, in, out, payloads[3]); l.Decision != healthcode.Admit || l.Queued < 3 {
		t.Errorf("restarted offline: %+v", l)
	}

	// The server comes back: the queue drains.
	startServerAt(t, dir, addr)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		q, err := (&checkpointDevice{cfg: checkpointConfig{State: state}}).queued()
		if err != nil {
			t.Fatal(err)
		}
		if q == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	in.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	st := storageConfig{DataDir: dir}
	db, _, err := st.openStore(context.Background(), healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.ListCheckInsAtVenue(context.Background(), v.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range got {
		seen[c.ID]++
		if c.Checkpoint != "east gate" || c.Decision != healthcode.Admit || c.Mode != healthcode.ModeCheckpoint {
			t.Errorf("stored check-in %+v", c)
		}
	}
	if len(got) != 4 || len(seen) != 4 {
		t.Errorf("stored %d check-ins with %d distinct ids, want 4 each: %v", len(got), len(seen), seen)
	}
	if q, _ := (&checkpointDevice{cfg: checkpointConfig{State: state}}).queued(); q != 0 {
		t.Errorf("%d check-ins still queued", q)
	}
}
