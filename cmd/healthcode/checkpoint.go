package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/statuslist"
	"healthcode/internal/trust"
)

// checkpointConfig is what `healthcode checkpoint` is told.
type checkpointConfig struct {
	Server      string
	Token       string
	VenueID     int64
	State       string
	Refresh     time.Duration
	UploadEvery time.Duration
}

// checkpointDevice verifies codes offline and queues check-ins on disk
// until the server has them. Everything it needs to decide is cached in the
// state directory, so it keeps working while the server is down, and a
// check-in is on disk (fsynced) before its decision is printed.
type checkpointDevice struct {
	cfg    checkpointConfig
	client *http.Client
	stderr io.Writer

	mu     sync.Mutex // guards the fields below and the queue file
	venue  checkpointVenue
	trust  *trust.List // this region's
	keys   trust.Set   // this region's list and the trusted peers'
	status *statuslist.List
	region string
	name   string
}

type checkpointVenue struct {
	ID     int64             `json:"id"`
	Name   string            `json:"name"`
	Policy healthcode.Policy `json:"policy"`
}

type checkpointInfo struct {
	Name   string            `json:"name"`
	Region string            `json:"region"`
	Venues []checkpointVenue `json:"venues"`
}

// queuedCheckIn is one line of the queue file: what POST /api/v1/checkins takes.
type queuedCheckIn struct {
	ID       string `json:"id"`
	Subject  string `json:"subject"`
	Issuer   string `json:"issuer"`
	VenueID  int64  `json:"venue_id"`
	At       string `json:"at"`
	Decision string `json:"decision"`
	Color    string `json:"color"`
	Mode     string `json:"mode"`
}

// checkpointLine is the JSON line printed for each code read.
type checkpointLine struct {
	Decision   healthcode.Decision `json:"decision"`
	Reason     string              `json:"reason"`
	ReasonZH   string              `json:"reason_zh"`
	Color      healthcode.Color    `json:"color,omitempty"`
	Vaccinated bool                `json:"vaccinated"`
	Name       string              `json:"subject_display,omitempty"`
	Issuer     string              `json:"issuer,omitempty"`
	Venue      string              `json:"venue"`
	At         string              `json:"at"`
	CheckInID  string              `json:"checkin_id,omitempty"` // empty when nothing was recorded (an unreadable code)
	Queued     int                 `json:"queued"`               // check-ins waiting for the server
}

func runCheckpoint(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg checkpointConfig
	fs := flag.NewFlagSet("checkpoint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Server, "server", "", "the region's server, e.g. https://hc.example.gov.cn (required)")
	fs.StringVar(&cfg.Token, "token", "", "this checkpoint's API token (required; or HEALTHCODE_TOKEN_FILE)")
	fs.Int64Var(&cfg.VenueID, "venue", 0, "the venue this checkpoint serves (required)")
	fs.StringVar(&cfg.State, "state", "./healthcode-checkpoint", "directory for the cached trust list, status list, venue policy and the check-in queue")
	fs.DurationVar(&cfg.Refresh, "refresh", 5*time.Minute, "how often to refresh the status list and trust list")
	fs.DurationVar(&cfg.UploadEvery, "upload-every", 5*time.Second, "how often to try to upload queued check-ins")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	switch {
	case cfg.Server == "":
		return usageError("--server URL is required")
	case cfg.Token == "":
		return usageError("--token is required")
	case cfg.VenueID <= 0:
		return usageError("--venue ID is required")
	case cfg.Refresh < time.Second || cfg.UploadEvery < 100*time.Millisecond:
		return usageError("--refresh and --upload-every are too short")
	}
	cfg.Server = strings.TrimRight(cfg.Server, "/")
	if err := os.MkdirAll(cfg.State, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	d := &checkpointDevice{cfg: cfg, client: &http.Client{Timeout: 10 * time.Second}, stderr: stderr}
	if err := d.refresh(ctx, true); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.background(ctx) }()

	out := json.NewEncoder(stdout)
	out.SetEscapeHTML(false)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		res, err := d.check(line, time.Now())
		if err != nil {
			return err
		}
		if err := out.Encode(res); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read codes: %w", err)
	}
	cancel()
	wg.Wait()
	// One last try before exiting; what the server does not take stays queued
	// for the next start.
	upCtx, upCancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer upCancel()
	if n, err := d.upload(upCtx); err != nil {
		fmt.Fprintf(stderr, "checkpoint: %d check-ins stay queued in %s: %v\n", n, d.queuePath(), err)
	}
	return nil
}

func (d *checkpointDevice) queuePath() string { return filepath.Join(d.cfg.State, "queue.jsonl") }

// check decides on one code and queues its check-in.
func (d *checkpointDevice) check(payload string, now time.Time) (checkpointLine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := code.Check(payload, d.keys, now)
	seen, v := statuslist.Seen(v, d.status, now)
	adm := healthcode.Decide(d.venue.Policy, seen, now)
	line := checkpointLine{Decision: adm.Decision, Reason: adm.Reason, ReasonZH: adm.ReasonZH, Color: seen.Color,
		Vaccinated: seen.Vaccinated, Name: v.SubjectDisplay, Issuer: v.Issuer, Venue: d.venue.Name, At: now.UTC().Format(time.RFC3339)}
	if v.Subject != "" {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		q := queuedCheckIn{ID: hex.EncodeToString(id), Subject: v.Subject, Issuer: v.Issuer, VenueID: d.venue.ID,
			At: now.UTC().Format(time.RFC3339Nano), Decision: string(adm.Decision), Color: string(seen.Color), Mode: string(healthcode.ModeCheckpoint)}
		if err := d.appendQueue(q); err != nil {
			return line, fmt.Errorf("queue check-in: %w", err)
		}
		line.CheckInID = q.ID
	}
	n, err := d.queued()
	if err != nil {
		return line, err
	}
	line.Queued = n
	return line, nil
}

// appendQueue writes one check-in to the queue file and syncs it. Call with d.mu held.
func (d *checkpointDevice) appendQueue(q queuedCheckIn) error {
	b, err := json.Marshal(q)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(d.queuePath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readQueue returns the queued check-ins. A torn last line (a crash while
// appending) is skipped. Call with d.mu held.
func (d *checkpointDevice) readQueue() ([]queuedCheckIn, error) {
	data, err := os.ReadFile(d.queuePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []queuedCheckIn
	for _, l := range bytes.Split(data, []byte("\n")) {
		var q queuedCheckIn
		if len(bytes.TrimSpace(l)) == 0 || json.Unmarshal(l, &q) != nil || q.ID == "" {
			continue
		}
		out = append(out, q)
	}
	return out, nil
}

func (d *checkpointDevice) queued() (int, error) {
	q, err := d.readQueue()
	return len(q), err
}

// upload sends the queue to the server and keeps what it did not take. It
// returns how many are still queued.
func (d *checkpointDevice) upload(ctx context.Context) (int, error) {
	d.mu.Lock()
	pending, err := d.readQueue()
	d.mu.Unlock()
	if err != nil || len(pending) == 0 {
		return len(pending), err
	}
	done := map[string]bool{}
	var rejected []queuedCheckIn
	for start := 0; start < len(pending); start += 1000 {
		batch := pending[start:min(start+1000, len(pending))]
		body, _ := json.Marshal(map[string]any{"checkins": batch})
		var resp struct {
			Results []healthcode.CheckInResult `json:"results"`
		}
		if err := d.call(ctx, "POST", "/api/v1/checkins", body, &resp); err != nil {
			return len(pending) - len(done), err
		}
		for i, r := range resp.Results {
			if i >= len(batch) || r.ID != batch[i].ID {
				return len(pending) - len(done), fmt.Errorf("server answered out of order")
			}
			done[r.ID] = true
			if r.Result == healthcode.Rejected {
				fmt.Fprintf(d.stderr, "checkpoint: server rejected check-in %s: %s\n", r.ID, r.Reason)
				rejected = append(rejected, batch[i])
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Rewrite the queue without what the server took; check-ins queued
	// meanwhile stay. Write a new file and rename it over the old one so a
	// crash leaves one or the other, never half of each.
	now, err := d.readQueue()
	if err != nil {
		return 0, err
	}
	var keep bytes.Buffer
	left := 0
	for _, q := range now {
		if !done[q.ID] {
			b, _ := json.Marshal(q)
			keep.Write(append(b, '\n'))
			left++
		}
	}
	if err := writeFileAtomic(d.queuePath(), keep.Bytes()); err != nil {
		return left, err
	}
	for _, q := range rejected {
		b, _ := json.Marshal(q)
		f, err := os.OpenFile(filepath.Join(d.cfg.State, "rejected.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err == nil {
			_, _ = f.Write(append(b, '\n'))
			f.Close()
		}
	}
	return left, nil
}

// writeFileAtomic replaces path with data (mode 0600): written to a
// temporary file, synced, renamed over path, and the directory synced, so
// that a crash leaves either the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	os.Remove(tmp) // left by a crash
	if err := writeFileSynced(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// background uploads and refreshes until ctx ends.
func (d *checkpointDevice) background(ctx context.Context) {
	up := time.NewTicker(d.cfg.UploadEvery)
	defer up.Stop()
	ref := time.NewTicker(d.cfg.Refresh)
	defer ref.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-up.C:
			_, _ = d.upload(ctx) // the server may be down: the queue waits
		case <-ref.C:
			if err := d.refresh(ctx, false); err != nil {
				fmt.Fprintf(d.stderr, "checkpoint: refresh: %v\n", err)
			}
		}
	}
}

// refresh fetches the venue policy, trust list and status list, caching each
// in the state directory; when the server does not answer it falls back to
// the cached copies. At the first start a trust list and venue are required.
func (d *checkpointDevice) refresh(ctx context.Context, first bool) error {
	infoData, infoErr := d.fetch(ctx, "/api/v1/checkpoint", "venue.json")
	trustData, trustErr := d.fetch(ctx, "/.well-known/healthcode/trust-list", "trust-list.jws")
	statusData, _ := d.fetch(ctx, "/.well-known/healthcode/status-list", "status-list.jws")
	peersData, _ := d.fetch(ctx, "/.well-known/healthcode/peer-trust-lists", "peer-trust-lists.json")
	if infoErr != nil || trustErr != nil {
		if first {
			return fmt.Errorf("the server does not answer and nothing is cached in %s yet: %v", d.cfg.State, errors.Join(infoErr, trustErr))
		}
		return errors.Join(infoErr, trustErr)
	}
	var info checkpointInfo
	if err := json.Unmarshal(infoData, &info); err != nil {
		return fmt.Errorf("venue info: %w", err)
	}
	var venue *checkpointVenue
	for i := range info.Venues {
		if info.Venues[i].ID == d.cfg.VenueID {
			venue = &info.Venues[i]
		}
	}
	if venue == nil {
		return usageError("this token may not record check-ins for venue %d", d.cfg.VenueID)
	}
	now := time.Now()
	tl, err := trust.Parse(trustData, now)
	if err != nil {
		return fmt.Errorf("trust list: %w", err)
	}
	var sl *statuslist.List
	if statusData != nil {
		if sl, err = statuslist.Parse(statusData, tl); err != nil {
			fmt.Fprintf(d.stderr, "checkpoint: status list: %v\n", err)
			sl = nil
		}
	}
	// The peer regions' lists, each checked against its own signature: a
	// list that does not verify is left out, not trusted.
	keys := trust.Set{tl}
	if peersData != nil {
		var peers struct{ Lists []string }
		if err := json.Unmarshal(peersData, &peers); err != nil {
			fmt.Fprintf(d.stderr, "checkpoint: peer trust lists: %v\n", err)
		}
		for _, doc := range peers.Lists {
			if pl, err := trust.Parse([]byte(doc), now); err != nil {
				fmt.Fprintf(d.stderr, "checkpoint: a peer trust list: %v\n", err)
			} else {
				keys = append(keys, pl)
			}
		}
	}
	d.mu.Lock()
	d.venue, d.trust, d.keys, d.region, d.name = *venue, tl, keys, info.Region, info.Name
	if sl != nil {
		d.status = sl
	}
	d.mu.Unlock()
	return nil
}

// fetch GETs path and caches the answer in the state directory as file; if
// the server does not answer it returns the cached copy.
func (d *checkpointDevice) fetch(ctx context.Context, path, file string) ([]byte, error) {
	cache := filepath.Join(d.cfg.State, file)
	var raw json.RawMessage
	err := d.call(ctx, "GET", path, nil, &raw)
	if err == nil {
		if werr := writeFileAtomic(cache, raw); werr != nil {
			return nil, werr
		}
		return raw, nil
	}
	if data, rerr := os.ReadFile(cache); rerr == nil {
		return data, nil
	}
	return nil, err
}

// call does one request. For JSON answers out is decoded; a json.RawMessage
// receives the body as it is (trust and status lists are JWS text).
func (d *checkpointDevice) call(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.cfg.Server+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.cfg.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}
