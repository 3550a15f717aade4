package fetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestReadIfChanged(t *testing.T) {
	body := "list v1"
	var got304 int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := `"` + body + `"`
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			got304++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	ctx := context.Background()
	data, tag, changed, err := ReadIfChanged(ctx, srv.URL, "text/plain", 100, "")
	if err != nil || !changed || string(data) != "list v1" || tag != `"list v1"` {
		t.Fatalf("first read: %q %q %v %v", data, tag, changed, err)
	}
	if data, tag2, changed, err := ReadIfChanged(ctx, srv.URL, "text/plain", 100, tag); err != nil || changed || data != nil || tag2 != tag || got304 != 1 {
		t.Errorf("unchanged: %q %q %v %v (304s: %d)", data, tag2, changed, err, got304)
	}
	body = "list v2"
	if data, _, changed, err := ReadIfChanged(ctx, srv.URL, "text/plain", 100, tag); err != nil || !changed || string(data) != "list v2" {
		t.Errorf("changed: %q %v %v", data, changed, err)
	}

	// A file's tag is its contents' hash.
	path := filepath.Join(t.TempDir(), "list")
	os.WriteFile(path, []byte("a"), 0o600)
	_, ftag, changed, err := ReadIfChanged(ctx, path, "", 100, "")
	if err != nil || !changed {
		t.Fatal(err)
	}
	if _, _, changed, _ := ReadIfChanged(ctx, path, "", 100, ftag); changed {
		t.Error("an unchanged file reads as changed")
	}
	os.WriteFile(path, []byte("b"), 0o600)
	if _, _, changed, _ := ReadIfChanged(ctx, path, "", 100, ftag); !changed {
		t.Error("a changed file reads as unchanged")
	}
}
