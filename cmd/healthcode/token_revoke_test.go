package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTokenRevokeReachesRunningServer revokes a venue token from the command
// line (another process, as an operator would) while a server that has it
// cached is running: the server refuses it soon after, through the change
// feed, not a minute later when its cache entry would expire.
func TestTokenRevokeReachesRunningServer(t *testing.T) {
	ts := startServer(t)
	tok := createToken(t, ts.dataDir, "venue")
	ts.call(t, "GET", "/api/v1/venues", tok, nil, 200, nil) // cached now
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"token", "revoke", "--data", ts.dataDir, "--token", tok},
		func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("token revoke: %v: %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "revoked") {
		t.Errorf("output %q", out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", ts.url+"/api/v1/venues", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token still works: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := run(context.Background(), []string{"token", "revoke", "--data", ts.dataDir, "--token", tok},
		func(string) string { return "" }, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "no unrevoked token") {
		t.Errorf("revoking it again: %v", err)
	}
	if err := run(context.Background(), []string{"token", "revoke", "--data", ts.dataDir},
		func(string) string { return "" }, nil, &out, &errb); err == nil {
		t.Error("revoke with neither --token nor --id succeeded")
	}
}
