package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"testing"
	"time"

	"healthcode"
)

// heapAllocated returns the bytes allocated on the heap so far. Small
// objects are counted a span at a time, so two readings around one call
// are off by up to 2 MiB for small allocations (exact for large ones).
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzUploadCheckIns sends any body to POST /api/v1/checkins, as a
// checkpoint device (or whoever holds its token) may, through the real
// handler and a real SQLite store, with the clock fixed near the seeds'
// times. It checks that the answer is 200 or 400, never a server error;
// that a 400 is an "invalid" error with a message; that a 200 has one
// result per uploaded check-in, each stored, duplicate or rejected with a
// reason, and counts that add up; that a stored check-in passes Validate;
// that the body costs memory in proportion to its size; and that sending
// the same body again stores nothing (a repeated id is accepted once).
//
//	go test -run '^$' -fuzz '^FuzzUploadCheckIns$' ./internal/web/
func FuzzUploadCheckIns(f *testing.F) {
	h := newHarness(f)
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	h.clock.advance(time.Until(at)) // now is at, plus the seconds the fuzzing has run
	v := h.venue(f, "Wulin Square station", "transit", map[string]any{"kind": "green"})
	other := h.venue(f, "Other mall", "mall", map[string]any{"kind": "green"})
	cp := h.checkpointToken(f, v.ID)

	item := func(id string, venue int64, t string) string {
		return fmt.Sprintf(`{"id":%q,"subject":"ABCDEFGH","issuer":"330100","venue_id":%d,"at":%q,"decision":"admit","color":"green","mode":"checkpoint"}`, id, venue, t)
	}
	for _, body := range []string{
		`{"checkins":[` + item("ok-0000001", v.ID, "2026-11-23T05:00:00Z") + `]}`,
		`{"checkins":[` + item("ok-0000002", v.ID, "2026-11-23T15:59:00+08:00") + `,` + item("ok-0000002", v.ID, "2026-11-23T15:59:00+08:00") + `]}`,
		`{"checkins":[` + item("future-0001", v.ID, "2026-11-23T09:00:00Z") + `,` + item("other-00001", other.ID, "2026-11-23T07:00:00Z") + `,` +
			item("unknown-001", 999999, "2026-11-23T07:00:00Z") + `,` + item("bad id!", v.ID, "2026-11-23T07:00:00Z") + `,` +
			item("old-0000001", v.ID, "2026-10-01T07:00:00Z") + `]}`,
		`{"checkins":[{"id":"min-0000001","subject":"ABCD","issuer":"330100","venue_id":1,"at":"2026-11-23T07:59:59Z","decision":"deny"}]}`,
		`{"checkins":[{"id":"x","at":"not a time","mode":"place_code","color":"blue","decision":"maybe"}]}`,
		`{"checkins":[]}`, `{"checkins":null}`, `{}`, `[1,2]`, `{"checkins":[{"id":5}]}`, `{"checkins":[],"extra":1}`,
		`{"checkins":[{"venue_id":1e400}]}`, `{"checkins":[{"subject":"\u0000\ud800"}]}`, `{"checkins":[]} {}`, ``, `{`, `null`,
	} {
		f.Add([]byte(body))
	}
	handler := h.Server.Config.Handler
	upload := func(t *testing.T, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/checkins", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cp)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec
	}
	type result struct {
		Results                      []healthcode.CheckInResult
		Stored, Duplicates, Rejected int
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		before, nowBefore := heapAllocated(), h.clock.Now()
		rec := upload(t, body)
		nowAfter := h.clock.Now()
		if alloc := heapAllocated() - before; alloc > 4<<20+256*uint64(len(body)) {
			t.Errorf("an upload of %d bytes allocated %d bytes", len(body), alloc)
		}
		switch rec.Code {
		case http.StatusBadRequest:
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != healthcode.EINVALID || e.Error.Message == "" {
				t.Fatalf("POST %q: 400 with %s", body, rec.Body)
			}
			return
		case http.StatusOK:
		default:
			t.Fatalf("POST %q: %d %s", body, rec.Code, rec.Body)
		}
		var sent checkInBatch
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatalf("POST %q accepted, but it does not decode: %v", body, err)
		}
		var got result
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("POST %q: 200 with %s: %v", body, rec.Body, err)
		}
		if len(got.Results) != len(sent.CheckIns) || got.Stored+got.Duplicates+got.Rejected != len(got.Results) {
			t.Fatalf("POST %q: %d check-ins, answer %s", body, len(sent.CheckIns), rec.Body)
		}
		for i, res := range got.Results {
			in := sent.CheckIns[i]
			switch {
			case res.ID != in.ID:
				t.Fatalf("POST %q: result %d is for id %q, not %q", body, i, res.ID, in.ID)
			case res.Result == healthcode.Rejected && res.Reason == "":
				t.Fatalf("POST %q: result %d rejected without a reason", body, i)
			case res.Result == healthcode.Stored:
				// The server's clock read between nowBefore and nowAfter.
				at, err := time.Parse(time.RFC3339, in.At)
				if err != nil || at.After(nowAfter.Add(healthcode.MaxClockAhead)) || at.Before(nowBefore.Add(-healthcode.MaxCheckInAge)) {
					t.Fatalf("POST %q: result %d stored a check-in at %q", body, i, in.At)
				}
				c := healthcode.CheckIn{ID: in.ID, Subject: in.Subject, Issuer: in.Issuer, VenueID: in.VenueID, Checkpoint: "x", At: at,
					Decision: healthcode.Decision(in.Decision), Color: healthcode.Color(in.Color), Mode: healthcode.ModeCheckpoint}
				if err := c.Validate(at); err != nil || in.VenueID != v.ID { // at is checked above
					t.Fatalf("POST %q: result %d stored an invalid check-in (%v)", body, i, err)
				}
			case res.Result != healthcode.Duplicate && res.Result != healthcode.Rejected:
				t.Fatalf("POST %q: result %d is %q", body, i, res.Result)
			}
		}
		// Sent again, nothing is stored twice.
		rec = upload(t, body)
		var again result
		if err := json.Unmarshal(rec.Body.Bytes(), &again); rec.Code != http.StatusOK || err != nil || again.Stored != 0 {
			t.Fatalf("POST %q again: %d %s", body, rec.Code, rec.Body)
		}
	})
}
