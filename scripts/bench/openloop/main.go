// Command openloop offers HTTP requests at a fixed rate whatever the
// server does (an open loop, unlike wrk, which waits for each answer), so a
// server can be driven past its capacity: scripts/bench-overload.sh. It
// reports the answers by status and the latency of the served ones,
// measured from when each request was due, so a server that falls behind
// is charged for the wait.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "the URL to call")
	method := flag.String("method", "GET", "the HTTP method")
	body := flag.String("body", "", "the request body (JSON); every {n} in it becomes the request's number (0, 1, ...), so that writes differ")
	bodyFile := flag.String("body-file", "", "read the request body from this file instead (same {n} rule)")
	token := flag.String("token", "", "a bearer token to send with every request")
	answers := flag.String("answers", "", "write each request's number and answer status to this file, a line each")
	rate := flag.Float64("rate", 1000, "requests a second")
	duration := flag.Duration("duration", 20*time.Second, "how long to offer requests")
	workers := flag.Int("workers", 2000, "requests outstanding at most; a request due when all are busy is counted as not sent")
	sources := flag.Int("sources", 1, "loopback source addresses to spread connections over (127.0.1.1 and up), as many clients would")
	flag.Parse()
	if *url == "" {
		log.Fatal("--url is required")
	}
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			log.Fatal(err)
		}
		*body = string(b)
	}
	parts := strings.Split(*body, "{n}")
	bodyOf := func(n int) []byte {
		if len(parts) == 1 {
			return []byte(*body)
		}
		return []byte(strings.Join(parts, strconv.Itoa(n)))
	}
	tr := &http.Transport{MaxIdleConns: *workers, MaxIdleConnsPerHost: *workers, IdleConnTimeout: time.Minute}
	if *sources > 1 {
		var next atomic.Int64
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			n := next.Add(1) % int64(*sources)
			local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+n/250), byte(1+n%250))}
			return (&net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		}
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	type result struct {
		code    int
		latency time.Duration
		n       int
	}
	type request struct {
		at time.Time // when it was due
		n  int
	}
	due := make(chan request, *workers)
	results := make(chan result, 4096)
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for rq := range due {
				at := rq.at
				req, _ := http.NewRequestWithContext(context.Background(), *method, *url, bytes.NewReader(bodyOf(rq.n)))
				if *body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if *token != "" {
					req.Header.Set("Authorization", "Bearer "+*token)
				}
				code := 0
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				results <- result{code, time.Since(at), rq.n}
			}
		})
	}
	var notSent atomic.Int64
	go func() {
		start := time.Now()
		interval := time.Duration(float64(time.Second) / *rate)
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if at.Sub(start) >= *duration {
				break
			}
			time.Sleep(time.Until(at))
			select {
			case due <- request{at, i}:
			default:
				notSent.Add(1)
			}
		}
		close(due)
		wg.Wait()
		close(results)
	}()
	byCode := map[int]int{}
	latencies := map[int][]time.Duration{}
	answerLog := bufio.NewWriter(io.Discard)
	if *answers != "" {
		f, err := os.Create(*answers)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		answerLog = bufio.NewWriter(f)
	}
	for r := range results {
		fmt.Fprintf(answerLog, "%d %d\n", r.n, r.code)
		byCode[r.code]++
		latencies[r.code] = append(latencies[r.code], r.latency)
	}
	if err := answerLog.Flush(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("offered %.0f/s for %s: %d not sent (all %d workers busy)\n", *rate, *duration, notSent.Load(), *workers)
	codes := make([]int, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		l := latencies[c]
		slices.Sort(l)
		name := fmt.Sprint(c)
		if c == 0 {
			name = "error"
		}
		fmt.Printf("%-6s %8d (%.0f/s)  p50 %8s  p90 %8s  p99 %8s  max %8s\n", name, byCode[c], float64(byCode[c])/duration.Seconds(),
			pct(l, 50), pct(l, 90), pct(l, 99), l[len(l)-1].Round(time.Microsecond))
	}
	if byCode[0] > 0 {
		os.Exit(1)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100].Round(time.Microsecond)
}
