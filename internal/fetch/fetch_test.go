package fetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/doc":
			if r.Header.Get("Accept") != "application/jose" {
				http.Error(w, "wrong Accept", http.StatusNotAcceptable)
				return
			}
			w.Write([]byte("eyJhbGciOi"))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 101)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if got, err := Read(ctx, srv.URL+"/doc", "application/jose", 100); err != nil || string(got) != "eyJhbGciOi" {
		t.Errorf("URL: %q, %v", got, err)
	}
	if _, err := Read(ctx, srv.URL+"/big", "application/jose", 100); err == nil || !strings.Contains(err.Error(), "limit of 100") {
		t.Errorf("too big: %v", err)
	}
	if _, err := Read(ctx, srv.URL+"/missing", "application/jose", 100); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing: %v", err)
	}
	path := filepath.Join(t.TempDir(), "list.jws")
	os.WriteFile(path, []byte("file body"), 0o600)
	if got, err := Read(ctx, path, "application/jose", 100); err != nil || string(got) != "file body" {
		t.Errorf("file: %q, %v", got, err)
	}
	if _, err := Read(ctx, path+".none", "application/jose", 100); err == nil {
		t.Error("missing file read")
	}
}
