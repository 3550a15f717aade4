// Command trivial is the baseline of the display-path benchmark
// (scripts/bench-display.sh): the cheapest JSON handler Go's net/http
// serves, measured in the same run as the real server. It runs in an
// http.Server configured as `healthcode serve` configures its own (the same
// timeouts and header limit: a per-request cost of net/http, not of a
// handler), so that the comparison is between the handlers.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "address to listen on")
	bare := flag.Bool("bare", false, "serve with http.ListenAndServe's defaults (no timeouts) instead")
	flag.Parse()
	body := []byte(`{"ok":true}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
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
