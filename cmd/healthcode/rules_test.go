package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"healthcode"
)

// redFeverRules is the default rule set with fever_or_symptoms made red.
func redFeverRules(t *testing.T) string {
	t.Helper()
	src := string(healthcode.DefaultRuleSetSource)
	old := "- id: fever_or_symptoms\n    color: yellow"
	if !strings.Contains(src, old) {
		t.Fatal("rules/default.yaml has no yellow fever_or_symptoms rule")
	}
	return strings.Replace(src, old, "- id: fever_or_symptoms\n    color: red", 1)
}

// publishRules posts a rule set document as the admin.
func publishRules(t *testing.T, ts *testServer, admin, src string) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.url+"/api/v1/rules", strings.NewReader(src))
	req.Header.Set("Content-Type", "application/yaml")
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("publish: %d %s", resp.StatusCode, body)
	}
}

// TestRuleSetSurvivesRestart: a server starts with the rule set in force in
// its database, not the embedded default, and a new database gets the
// default.
func TestRuleSetSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServerAt(t, dir, "127.0.0.1:0")
	var rules struct{ Version, Source string }
	ts.call(t, "GET", "/api/v1/rules", "", nil, 200, &rules)
	if rules.Source != string(healthcode.DefaultRuleSetSource) {
		t.Fatalf("a first start is in force with %s, not the default", rules.Version)
	}
	publishRules(t, ts, ts.adminToken, redFeverRules(t))
	ts.stop()

	ts = startServerAt(t, dir, "127.0.0.1:0")
	ts.call(t, "GET", "/api/v1/rules", "", nil, 200, &rules)
	if rules.Source != redFeverRules(t) {
		t.Errorf("after a restart the server runs %s, not the rule set published before", rules.Version)
	}
	var pubs struct {
		Publications []struct{ Version string }
	}
	ts.call(t, "GET", "/api/v1/rules/versions", "", nil, 200, &pubs)
	if len(pubs.Publications) != 2 {
		t.Errorf("%d publications after a restart, want 2 (the default at first start, then ours)", len(pubs.Publications))
	}
	if !strings.Contains(ts.stderr.String(), "not this binary's default") {
		t.Errorf("the server does not say that the rule set in force is not its default")
	}
}
