package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine to write while
// the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	url, adminToken, dataDir string
	stderr                   *syncBuffer
	stop                     func() // stops the server and waits for it; safe to call twice
}

// startServer runs `healthcode serve` in-process on a random loopback port
// and waits for /healthz.
func startServer(t *testing.T, extra ...string) *testServer {
	t.Helper()
	return startServerAt(t, t.TempDir(), "127.0.0.1:0", extra...)
}

// startServerAt runs `healthcode serve` on addr with data directory dir.
func startServerAt(t *testing.T, dir, addr string, extra ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	args := append([]string{"serve", "--addr", addr, "--data", dir}, extra...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, nil, stdout, stderr) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("server did not shut down")
			}
		})
	}
	t.Cleanup(stop)
	urlRE := regexp.MustCompile(`at (http://[^ ]+)/\n`)
	tokRE := regexp.MustCompile(`admin token \(shown once, keep it safe\): (hct_\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\nstderr: %s", err, stderr.String())
		default:
		}
		out := stdout.String()
		if m := urlRE.FindStringSubmatch(out); m != nil {
			ts := &testServer{url: m[1], dataDir: dir, stderr: stderr, stop: stop}
			if m := tokRE.FindStringSubmatch(out); m != nil {
				ts.adminToken = m[1]
			}
			for time.Now().Before(deadline) {
				if resp, err := http.Get(ts.url + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						return ts
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server did not start; stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	return nil
}

// call sends a JSON request and decodes the JSON answer into out (if not nil),
// failing the test unless the status is want.
func (ts *testServer) call(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// residentID makes a valid 18-character resident ID number.
func residentID(region, birth string, seq int, male bool) string {
	if male && seq%2 == 0 || !male && seq%2 == 1 {
		seq++
	}
	first := fmt.Sprintf("%s%s%03d", region, strings.ReplaceAll(birth, "-", ""), seq%1000)
	return first + string(healthcode.ResidentIDCheckChar(first))
}

type statusBody struct {
	Color      string `json:"color"`
	Vaccinated bool   `json:"vaccinated"`
	Reasons    []struct {
		Rule    string `json:"rule"`
		Message string `json:"message"`
		Until   string `json:"until"`
	} `json:"reasons"`
	RuleSetVersion string `json:"rule_set_version"`
}

func (s statusBody) rules() []string {
	var out []string
	for _, r := range s.Reasons {
		out = append(out, r.Rule)
	}
	return out
}

func createToken(t *testing.T, dataDir, role string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--data", dataDir, "--role", role, "--name", role + " test"},
		func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("token create: %v: %s", err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func TestEndToEnd(t *testing.T) {
	ts := startServer(t)
	if !strings.HasPrefix(ts.adminToken, "hct_") {
		t.Fatalf("no admin token printed on first start")
	}
	lab, tracer := createToken(t, ts.dataDir, "lab"), createToken(t, ts.dataDir, "tracer")

	idNumber := residentID("330106", "1985-06-12", 123, true)
	enroll := map[string]any{"name": "张小三", "sex": "male", "birth_date": "1985-06-12", "nationality": "CHN",
		"id_type": "resident_id", "id_number": idNumber, "phone": "13800138000", "password": "s3cret-pass",
		"region": "330106", "address": "杭州市西湖区文三路 1 号"}
	var me struct {
		ID         int64  `json:"id"`
		MaskedName string `json:"masked_name"`
	}
	ts.call(t, "POST", "/api/v1/residents", "", enroll, 201, &me)
	if me.MaskedName != "张*三" {
		t.Errorf("masked name %q", me.MaskedName)
	}
	ts.call(t, "POST", "/api/v1/residents", "", enroll, 409, nil) // duplicate ID and phone

	var login struct {
		Token string `json:"token"`
	}
	ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": "13800138000", "password": "wrong-pass"}, 401, nil)
	ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": "13800138000", "password": "s3cret-pass"}, 200, &login)
	tok := login.Token

	var st statusBody
	ts.call(t, "GET", "/api/v1/me/status", tok, nil, 200, &st)
	if st.Color != "green" || len(st.Reasons) != 0 {
		t.Fatalf("new resident: %+v", st)
	}

	// A fever turns the code yellow, with the reason.
	ts.call(t, "POST", "/api/v1/me/declarations", tok, map[string]any{"temperature": 38.4, "symptoms": []string{"fever", "dry_cough"},
		"visited": []any{}, "contact_with_case": false}, 201, nil)
	ts.call(t, "GET", "/api/v1/me/status", tok, nil, 200, &st)
	if st.Color != "yellow" || !strings.Contains(strings.Join(st.rules(), ","), "fever") {
		t.Fatalf("after fever: %+v", st)
	}

	// A negative test sampled after the declaration clears it.
	now := time.Now().UTC()
	ts.call(t, "POST", "/api/v1/test-results", lab, map[string]any{"id_type": "resident_id", "id_number": idNumber, "type": "pcr",
		"result": "negative", "sampled_at": now.Add(time.Hour).Format(time.RFC3339), "resulted_at": now.Add(2 * time.Hour).Format(time.RFC3339),
		"institution": "Xihu lab"}, 400, nil) // sampled in the future: rejected
	ts.call(t, "POST", "/api/v1/test-results", lab, map[string]any{"id_type": "resident_id", "id_number": idNumber, "type": "pcr",
		"result": "negative", "sampled_at": now.Add(time.Second).Format(time.RFC3339), "resulted_at": now.Add(time.Second).Format(time.RFC3339),
		"institution": "Xihu lab"}, 201, nil)
	ts.call(t, "GET", "/api/v1/me/status", tok, nil, 200, &st)
	if st.Color != "green" {
		t.Fatalf("after negative test: %+v", st)
	}

	// A lab token may not record cases; a tracer may.
	caseReq := map[string]any{"id_type": "resident_id", "id_number": idNumber, "sample_date": now.Format("2006-01-02")}
	ts.call(t, "POST", "/api/v1/cases", lab, caseReq, 403, nil)
	var created struct {
		Case struct {
			ID int64 `json:"id"`
		} `json:"case"`
	}
	ts.call(t, "POST", "/api/v1/cases", tracer, caseReq, 201, &created)
	ts.call(t, "GET", "/api/v1/me/status", tok, nil, 200, &st)
	if st.Color != "red" {
		t.Fatalf("after confirmed case: %+v", st)
	}
	ts.call(t, "POST", fmt.Sprintf("/api/v1/cases/%d/discharge", created.Case.ID), tracer, map[string]any{}, 200, nil)
	ts.call(t, "GET", "/api/v1/me/status", tok, nil, 200, &st)
	if st.Color != "yellow" || !strings.Contains(strings.Join(st.rules(), ","), "discharged") {
		t.Fatalf("after discharge: %+v", st)
	}
	var hist struct {
		Changes []struct {
			Color string `json:"color"`
			Cause string `json:"cause"`
		} `json:"changes"`
	}
	ts.call(t, "GET", "/api/v1/me/status/history", tok, nil, 200, &hist)
	var colors []string
	for _, c := range hist.Changes {
		colors = append(colors, c.Color)
		if c.Cause == "" {
			t.Errorf("history entry without a cause: %+v", c)
		}
	}
	if got := strings.Join(colors, ","); got != "green,yellow,green,red,yellow" {
		t.Errorf("history colours %s", got)
	}

	// The code: JSON, PNG, SVG; then verify the PNG offline with the CLI.
	var cd struct {
		Payload   string `json:"payload"`
		ExpiresAt string `json:"expires_at"`
	}
	ts.call(t, "GET", "/api/v1/me/code", tok, nil, 200, &cd)
	var cd2 struct {
		Payload string `json:"payload"`
	}
	ts.call(t, "GET", "/api/v1/me/code", tok, nil, 200, &cd2)
	if cd.Payload != cd2.Payload {
		t.Error("code was signed again instead of reused while it lives")
	}
	for _, forbidden := range []string{idNumber, "13800138000", "文三路"} {
		if strings.Contains(cd.Payload, forbidden) {
			t.Errorf("payload contains %q", forbidden)
		}
	}
	png := ts.get(t, "/api/v1/me/code.png", tok, "image/png")
	svg := ts.get(t, "/api/v1/me/code.svg", tok, "image/svg+xml")
	if !bytes.Contains(svg, []byte("<svg")) {
		t.Error("code.svg is not SVG")
	}
	pngPath := filepath.Join(t.TempDir(), "code.png")
	if err := os.WriteFile(pngPath, png, 0o600); err != nil {
		t.Fatal(err)
	}
	verdict, code := runCLI(t, "verify", "--trust", ts.url+"/.well-known/healthcode/trust-list", pngPath)
	if code != 0 || verdict["valid"] != true || verdict["color"] != "yellow" || verdict["subject_display"] != "张*三" || verdict["issuer"] != "330100" {
		t.Fatalf("verify PNG: exit %d, %v", code, verdict)
	}
	// The same over the API, and a tampered payload rejected.
	var v map[string]any
	ts.call(t, "POST", "/api/v1/verify", "", map[string]string{"payload": cd.Payload}, 200, &v)
	if v["valid"] != true {
		t.Errorf("POST /verify: %v", v)
	}
	tampered := cd.Payload[:len(cd.Payload)-3] + flip(cd.Payload[len(cd.Payload)-3:])
	verdict, code = runCLI(t, "verify", "--trust", ts.url+"/.well-known/healthcode/trust-list", tampered)
	if code != 1 || verdict["valid"] != false || verdict["reason"] == "" {
		t.Errorf("tampered: exit %d, %v", code, verdict)
	}
	expired := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	verdict, code = runCLI(t, "verify", "--trust", ts.url+"/.well-known/healthcode/trust-list", "--at", expired, cd.Payload)
	if code != 1 || !strings.Contains(fmt.Sprint(verdict["reason"]), "expired") {
		t.Errorf("expired: exit %d, %v", code, verdict)
	}

	// Published rules.
	var rs struct {
		Version string `json:"version"`
		Rules   []any  `json:"rules"`
	}
	ts.call(t, "GET", "/api/v1/rules", "", nil, 200, &rs)
	if rs.Version != st.RuleSetVersion || len(rs.Rules) < 8 {
		t.Errorf("rules: version %q (status says %q), %d rules", rs.Version, st.RuleSetVersion, len(rs.Rules))
	}
}

func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
	}
	return string(b)
}

func (ts *testServer) get(t *testing.T, path, token, wantType string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType {
		t.Fatalf("GET %s: %d %s: %.200s", path, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	return data
}

// runCLI runs a healthcode command and returns its JSON output and exit code.
func runCLI(t *testing.T, args ...string) (map[string]any, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, nil, &out, &errb)
	code := 0
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var v map[string]any
	sc := bufio.NewScanner(&out)
	if sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%v printed %q: %v (stderr %s)", args, out.String(), err, errb.String())
		}
	}
	return v, code
}
