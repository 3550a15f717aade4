package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotateDataKeyCommand rotates the data key of a server's data
// directory between two runs of the server: the resident signs in and sees
// their profile as before, the old key is kept for old backups, and a
// server refuses to start while a rotation is unfinished.
func TestRotateDataKeyCommand(t *testing.T) {
	dir := t.TempDir()
	ts := startServerAt(t, dir, "127.0.0.1:0")
	tok, before0 := enrollWithCode(t, ts, 7)
	var before map[string]any
	ts.call(t, "GET", "/api/v1/me", tok, nil, 200, &before)
	ts.stop()
	oldKey, _ := os.ReadFile(filepath.Join(dir, "data.key"))

	// A rotation interrupted after writing its key blocks the server.
	if err := os.WriteFile(filepath.Join(dir, "data.key.new"), []byte("2:"+strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, func(string) string { return "" }, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "rotation is unfinished") {
		t.Fatalf("serve during a rotation: %v", err)
	}
	// Running the command finishes it with that key.
	if err := run(context.Background(), []string{"keys", "rotate-data-key", "--data", dir}, func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("rotate: %v: %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "re-encrypted 1 residents under key 2") {
		t.Errorf("output %q", out.String())
	}
	newKey, _ := os.ReadFile(filepath.Join(dir, "data.key"))
	if !strings.HasPrefix(string(newKey), "2:") || bytes.Equal(newKey, oldKey) {
		t.Errorf("data.key after the rotation: %q", newKey)
	}
	prev, _ := filepath.Glob(filepath.Join(dir, "data.key.previous-*"))
	if len(prev) != 1 {
		t.Fatalf("old key files: %v", prev)
	}
	if kept, _ := os.ReadFile(prev[0]); !bytes.Equal(kept, oldKey) {
		t.Error("the old key was not kept as it was")
	}

	// The key files are sealed under the data key: no plaintext copy, and
	// the sealed signing key opens with the new data key only.
	for _, name := range sealedFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s is on disk in plaintext", name)
		}
		enc, err := os.ReadFile(filepath.Join(dir, name+".sealed"))
		if err != nil || !strings.HasPrefix(string(enc), sealedPrefix) {
			t.Errorf("%s.sealed: %v %.40q", name, err, enc)
		}
	}
	ts = startServerAt(t, dir, "127.0.0.1:0")
	var login struct{ Token string }
	ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": "13700000007", "password": "long enough"}, 200, &login)
	var after map[string]any
	ts.call(t, "GET", "/api/v1/me", login.Token, nil, 200, &after)
	// The same signing key signs after the rotation: the old code verifies
	// against the new server's trust list.
	var v struct{ Valid bool }
	ts.call(t, "POST", "/api/v1/verify", "", map[string]string{"payload": before0}, 200, &v)
	if !v.Valid {
		t.Error("a code signed before the rotation does not verify after it")
	}
	if before["name"] != "王小明" || before["name"] != after["name"] || before["id_number"] != after["id_number"] || before["phone"] != after["phone"] {
		t.Errorf("profile before %v, after %v", before, after)
	}
}
