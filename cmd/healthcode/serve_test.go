package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// TestServeGCPercent checks that serve gives the collector its headroom
// (serveGCPercent) unless GOGC says otherwise, as /metrics reports it.
func TestServeGCPercent(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: serve leaves it as it is")
	}
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	ts := startServer(t)
	metrics := string(ts.get(t, "/metrics", "", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"))
	want := "go_gc_gogc_percent " + strconv.Itoa(serveGCPercent) + "\n"
	if !strings.Contains(metrics, want) {
		i := strings.Index(metrics, "go_gc_gogc_percent ")
		t.Fatalf("/metrics: want %q, got %.40q", want, metrics[max(i, 0):])
	}
}
