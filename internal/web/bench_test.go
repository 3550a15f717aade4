package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkUploadCheckInsHTTP measures batch upload over HTTP on loopback:
// four checkpoints posting batches of 1,000 check-ins at once into SQLite,
// JSON in and out, each batch committed before it is acknowledged. One b.N
// is one check-in.
func BenchmarkUploadCheckInsHTTP(b *testing.B) {
	h := newHarness(b)
	v := h.venue(b, "Wulin Square station", "transit", map[string]any{"kind": "green"})
	cp := h.checkpointToken(b, v.ID)
	const batchSize, workers = 1000, 4
	now := time.Now().UTC()
	var seq atomic.Int64
	makeBatch := func() []byte {
		items := make([]map[string]any, batchSize)
		for i := range items {
			n := seq.Add(1)
			items[i] = map[string]any{"id": fmt.Sprintf("bench-%012d", n), "subject": fmt.Sprintf("S%07d", n%500000),
				"issuer": "330100", "venue_id": v.ID, "at": now.Add(-time.Duration(n%86400) * time.Second).Format(time.RFC3339),
				"decision": "admit", "color": "green", "mode": "checkpoint"}
		}
		body, _ := json.Marshal(map[string]any{"checkins": items})
		return body
	}
	batches := (b.N + batchSize - 1) / batchSize
	bodies := make([][]byte, batches)
	for i := range bodies {
		bodies[i] = makeBatch()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= batches {
					return
				}
				req, _ := http.NewRequest("POST", h.URL+"/api/v1/checkins", bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+cp)
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(body, []byte(fmt.Sprintf(`"stored":%d`, batchSize))) {
					failed.Store(fmt.Sprintf("%d %.200s", resp.StatusCode, body))
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatalf("upload failed: %v", f)
	}
	b.ReportMetric(float64(batches*batchSize)/el.Seconds(), "checkins/s")
}

// BenchmarkCodeDisplay measures the handler of GET /api/v1/me/code alone
// (no network): 50 signed-in residents, requests from all cores, every
// read served from the display cache after the first.
func BenchmarkCodeDisplay(b *testing.B) {
	h := newHarness(b)
	tokens := make([]string, 50)
	for i := range tokens {
		_, tokens[i] = h.resident(b)
	}
	srv := h.Server.Config.Handler
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/api/v1/me/code", nil)
			req.Header.Set("Authorization", "Bearer "+tokens[next.Add(1)%int64(len(tokens))])
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}
