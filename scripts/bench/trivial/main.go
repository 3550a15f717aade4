// Command trivial is the baseline of the display-path benchmark
// (scripts/bench-display.sh): the cheapest JSON handler Go's net/http
// serves, measured in the same run as the real server. It runs in an
// http.Server configured as `healthcode serve` configures its own (the same
// timeouts and header limit: a per-request cost of net/http, not of a
// handler), so that the comparison is between the handlers.
//
// With --as-display FILE it answers every request with FILE (a display
// answer the script saved) and the header lines of a display: the same
// response as the real server's, at no cost of a handler. Its throughput is
// what a display would get if finding the code were free.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "address to listen on")
	bare := flag.Bool("bare", false, "serve with http.ListenAndServe's defaults (no timeouts) instead")
	asDisplay := flag.String("as-display", "", "answer with this file's bytes and the header lines of GET /api/v1/me/code")
	flag.Parse()
	body := []byte(`{"ok":true}` + "\n")
	header := http.Header{"Content-Type": {"application/json"}}
	if *asDisplay != "" {
		var err error
		if body, err = os.ReadFile(*asDisplay); err != nil {
			log.Fatal(err)
		}
		// As internal/web sets them on a display.
		header = http.Header{
			"Content-Type":            {"application/json; charset=utf-8"},
			"Cache-Control":           {"no-store"},
			"X-Content-Type-Options":  {"nosniff"},
			"X-Frame-Options":         {"DENY"},
			"Referrer-Policy":         {"no-referrer"},
			"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wh := w.Header()
		for k, v := range header {
			wh[k] = v
		}
		w.Write(body)
	})
	if *bare {
		log.Fatal(http.ListenAndServe(*addr, h))
	}
	// As cmd/healthcode/serve.go.
	hs := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	log.Fatal(hs.ListenAndServe())
}
