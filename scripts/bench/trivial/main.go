// Command trivial is the baseline of the display-path benchmark
// (scripts/bench-display.sh): the cheapest JSON handler Go's net/http
// serves, measured in the same run as the real server.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "address to listen on")
	flag.Parse()
	body := []byte(`{"ok":true}` + "\n")
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})))
}
