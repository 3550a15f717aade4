package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode/internal/webhook"
)

// runText runs a healthcode command and returns what it printed and its
// exit status.
func runText(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, nil, &out, &errb)
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return out.String() + errb.String() + ee.Error(), ee.code
	case err != nil:
		t.Fatalf("%v: %v (%s)", args, err, errb.String())
	}
	return out.String(), 0
}

// TestAccountabilityCommands: the server delivers notifications to a signed
// webhook; a tracer's read is logged and shown to the resident; `healthcode
// purge` and `purge --end-of-emergency` run; `healthcode audit verify` finds
// the chain intact, then finds the entry someone changed.
func TestAccountabilityCommands(t *testing.T) {
	const secret = "webhook secret for the test"
	var mu sync.Mutex
	var got []webhook.Payload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("webhook call: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	defer hook.Close()
	ts := startServer(t, "--webhook-url", hook.URL, "--webhook-secret", secret, "--appeal-deadline", "48h", "--retain-declarations", "30d")
	tracer := createToken(t, ts.dataDir, "tracer")

	idNumber := residentID("330106", "1990-03-04", 7, false)
	enroll := map[string]any{"name": "李四", "sex": "female", "birth_date": "1990-03-04", "nationality": "CHN",
		"id_type": "resident_id", "id_number": idNumber, "phone": "13900139000", "password": "s3cret-pass",
		"region": "330106", "address": "杭州市上城区 1 号"}
	var me struct{ ID int64 }
	ts.call(t, "POST", "/api/v1/residents", "", enroll, 201, &me)
	var login struct{ Token string }
	ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": "13900139000", "password": "s3cret-pass"}, 200, &login)
	ts.call(t, "POST", "/api/v1/me/declarations", login.Token, map[string]any{"temperature": 38.4, "symptoms": []string{},
		"visited": []any{}, "contact_with_case": false}, 201, nil)

	// The status change reaches the webhook, signed, without the request
	// waiting for it.
	deadline := time.Now().Add(30 * time.Second) // a bound on a hang, not a speed requirement
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook call")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if got[0].ResidentID != me.ID || got[0].Kind != "status_changed" || got[0].Phone != "13900139000" || !strings.Contains(got[0].Message, "yellow") {
		t.Errorf("webhook payload %+v", got[0])
	}
	mu.Unlock()

	// An appeal's deadline follows --appeal-deadline.
	var ap struct {
		FiledAt  string `json:"filed_at"`
		Deadline string `json:"deadline"`
	}
	ts.call(t, "POST", "/api/v1/me/appeals", login.Token, map[string]any{"rule": "fever_or_symptoms", "what": "wrong",
		"why": "typing error"}, 201, &ap)
	filed, _ := time.Parse(time.RFC3339, ap.FiledAt)
	due, _ := time.Parse(time.RFC3339, ap.Deadline)
	if due.Sub(filed) != 48*time.Hour {
		t.Errorf("deadline %s after filing", due.Sub(filed))
	}

	// A tracer's lookup needs a purpose, and the resident sees it.
	var created struct{ Case struct{ ID int64 } }
	ts.call(t, "POST", "/api/v1/cases", tracer, map[string]any{"id_type": "resident_id", "id_number": idNumber,
		"sample_date": time.Now().Format("2006-01-02")}, 201, &created)
	ts.call(t, "GET", fmt.Sprintf("/api/v1/cases/%d", created.Case.ID), tracer, nil, 400, nil)
	ts.call(t, "GET", fmt.Sprintf("/api/v1/cases/%d?purpose=cluster+12+onset", created.Case.ID), tracer, nil, 200, nil)
	var log struct {
		Reads []struct{ Actor, Purpose string }
	}
	ts.call(t, "GET", "/api/v1/me/access-log", login.Token, nil, 200, &log)
	if len(log.Reads) != 1 || log.Reads[0].Purpose != "cluster 12 onset" || log.Reads[0].Actor != "tracer test" {
		t.Errorf("access log %+v", log.Reads)
	}
	ts.stop()

	out, code := runText(t, "audit", "verify", "--data", ts.dataDir)
	if code != 0 || !strings.Contains(out, "audit log intact") {
		t.Fatalf("audit verify: exit %d: %s", code, out)
	}
	out, code = runText(t, "purge", "--data", ts.dataDir, "--retain-checkins", "14d")
	if code != 0 || !strings.Contains(out, "retention purge: deleted 0 check-ins") {
		t.Errorf("purge: exit %d: %s", code, out)
	}
	out, code = runText(t, "purge", "--end-of-emergency", "--data", ts.dataDir)
	if code != 0 || !strings.Contains(out, "end-of-emergency purge: deleted 0 check-ins, 1 declarations") {
		t.Errorf("purge --end-of-emergency: exit %d: %s", code, out)
	}
	if _, code := runText(t, "purge", "--data", ts.dataDir, "--retain-checkins", "2h"); code != 2 {
		t.Errorf("a window under a day: exit %d", code)
	}

	// Someone with the database file edits an entry behind the log's back.
	db, err := sql.Open("sqlite", filepath.Join(ts.dataDir, "healthcode.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET purpose = 'routine' WHERE action = 'read'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var seq int64
	if err := db.QueryRow(`SELECT seq FROM audit_log WHERE action = 'read'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	out, code = runText(t, "audit", "verify", "--data", ts.dataDir)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("entry %d:", seq)) || !strings.Contains(out, "changed") {
		t.Errorf("audit verify after tampering: exit %d: %s", code, out)
	}
}

// TestServeAccountabilityFlags: the webhook, appeal and retention flags are
// checked before anything starts.
func TestServeAccountabilityFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook-url", "http://127.0.0.1:9/hook"}, "--webhook-secret"},
		{[]string{"--webhook-url", "ftp://example.com", "--webhook-secret", "0123456789abcdef"}, "http(s) URL"},
		{[]string{"--webhook-secret", "0123456789abcdef"}, "--webhook-url is not"},
		{[]string{"--appeal-deadline", "5m"}, "--appeal-deadline"},
		{[]string{"--purge-interval", "1s"}, "--purge-interval"},
		{[]string{"--retain-declarations", "0d"}, "declarations"},
		{[]string{"--retain-checkins", "fortnight"}, "number of days"},
	} {
		out, code := runText(t, append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d: %s", tc.args, code, out)
		}
	}
}
