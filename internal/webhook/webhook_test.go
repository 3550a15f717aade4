package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/outbox"
	"healthcode/internal/rules"
	"healthcode/internal/secure"
	"healthcode/internal/sqlstore"
	"healthcode/internal/webhook"
)

var secret = []byte("a webhook secret of some length")

// receiver is a webhook endpoint that fails its first failures requests,
// then acknowledges; it checks every signature and counts acknowledgements
// per notification id.
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	failures int
	calls    int
	failed   int
	acked    map[int64]int
	bodies   map[int64]webhook.Payload
}

func newReceiver(t *testing.T, failures int) (*receiver, *httptest.Server) {
	r := &receiver{t: t, failures: failures, acked: map[int64]int{}, bodies: map[int64]webhook.Payload{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := webhook.Verify(secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("request with a bad signature: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	if h := req.Header.Get(webhook.IDHeader); h != strconv.FormatInt(p.ID, 10) {
		r.t.Errorf("id header %q, body id %d", h, p.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failures {
		r.failed++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	r.acked[p.ID]++
	r.bodies[p.ID] = p
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) ackedIDs() map[int64]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int64]int{}
	for k, v := range r.acked {
		out[k] = v
	}
	return out
}

func openStore(t *testing.T, path string) *sqlstore.DB {
	t.Helper()
	ev, err := rules.Load(healthcode.DefaultRuleSetSource)
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := secure.NewCipher(bytes.Repeat([]byte{7}, secure.KeySize), 1)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), path, sqlstore.Options{Clock: healthcode.SystemClock, Evaluator: ev, Cipher: cipher, Outbox: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var seq = 0

// notify makes n residents whose status changes once each: n notifications.
func notify(t *testing.T, db *sqlstore.DB, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for range n {
		seq++
		first := fmt.Sprintf("330106198001%02d%03d", seq%28+1, seq%500*2)
		r := &healthcode.Resident{Name: "王五", Sex: healthcode.Female, BirthDate: time.Date(1980, 1, seq%28+1, 0, 0, 0, 0, time.UTC),
			Nationality: "CHN", IDType: healthcode.ResidentIDCard, IDNumber: first + string(healthcode.ResidentIDCheckChar(first)),
			Phone: fmt.Sprintf("137%08d", seq), Region: "330106", Address: "文三路 1 号"}
		if err := db.CreateResident(ctx, r, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddDeclaration(ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.5}); err != nil {
			t.Fatal(err)
		}
		ns, err := db.ListNotifications(ctx, r.ID)
		if err != nil || len(ns) != 1 {
			t.Fatalf("notifications %v, %v", ns, err)
		}
		ids = append(ids, ns[0].ID)
	}
	return ids
}

func worker(db *sqlstore.DB, url string) *webhook.Worker {
	return &webhook.Worker{URL: url, Secret: secret, Outbox: db, Settings: outbox.Settings{Poll: 5 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Batch: 3}}
}

// run runs the worker until every id is acknowledged, then stops it.
func run(t *testing.T, w *webhook.Worker, r *receiver, ids []int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second) // a bound on a hang, not a speed requirement
	for {
		acked := r.ackedIDs()
		all := true
		for _, id := range ids {
			all = all && acked[id] > 0
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not every notification was delivered: acked %v of %v", acked, ids)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDeliveryThroughFailures: a receiver that fails for a while and then
// recovers gets every notification, each acknowledged exactly once; nothing
// is handed out again after that; and notifications written while no worker
// ran, or claimed by a worker that died, are delivered after a restart.
func TestDeliveryThroughFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hc.db")
	db := openStore(t, path)
	ids := notify(t, db, 7)
	r, srv := newReceiver(t, 12)
	w := worker(db, srv.URL)
	run(t, w, r, ids)

	if r.failed != 12 {
		t.Errorf("%d failed attempts, want 12", r.failed)
	}
	acked := r.ackedIDs()
	for _, id := range ids {
		if acked[id] != 1 {
			t.Errorf("notification %d acknowledged %d times, want once", id, acked[id])
		}
		if p := r.bodies[id]; p.Kind != healthcode.NotifyStatusChanged || p.Phone == "" || p.Message == "" || p.MessageZH == "" {
			t.Errorf("payload %+v", p)
		}
	}
	if len(acked) != len(ids) {
		t.Errorf("acknowledged %v, want exactly %v", acked, ids)
	}
	if n, err := w.DeliverDue(context.Background()); err != nil || n != 0 {
		t.Errorf("after delivery, %d notifications were due again (%v)", n, err)
	}

	// A restart: notifications written while no worker runs, and some
	// claimed by a worker that died before answering, wait in the outbox.
	more := notify(t, db, 4)
	if _, err := db.ClaimDeliveries(context.Background(), 2, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openStore(t, path)
	defer db.Close()
	r.mu.Lock()
	r.calls, r.failures = 0, 0
	r.mu.Unlock()
	w = worker(db, srv.URL)
	run(t, w, r, more)
	acked = r.ackedIDs()
	for _, id := range append(ids, more...) {
		if acked[id] != 1 {
			t.Errorf("notification %d acknowledged %d times, want once", id, acked[id])
		}
	}
}

func TestSignature(t *testing.T) {
	body := []byte(`{"id":1}`)
	now := time.Unix(1700000000, 0)
	h := webhook.Sign(secret, now.Unix(), body)
	if h != "t=1700000000,v1="+hexMAC(t, now.Unix(), body) {
		t.Errorf("header %q", h)
	}
	if err := webhook.Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for name, tc := range map[string]struct {
		secret, body []byte
		header       string
		at           time.Time
	}{
		"other secret":  {[]byte("other"), body, h, now},
		"changed body":  {secret, []byte(`{"id":2}`), h, now},
		"too old":       {secret, body, h, now.Add(10 * time.Minute)},
		"no signature":  {secret, body, "t=1700000000", now},
		"garbled":       {secret, body, "nonsense", now},
		"bad timestamp": {secret, body, "t=x,v1=00", now},
	} {
		if err := webhook.Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// hexMAC is the documented signature, computed independently.
func hexMAC(t *testing.T, ts int64, body []byte) string {
	t.Helper()
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10) + "." + string(body)))
	return hex.EncodeToString(m.Sum(nil))
}
