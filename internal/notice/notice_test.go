package notice_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/notice"
	"healthcode/internal/outbox"
	"healthcode/internal/trust"
)

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

func key(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func sample(at time.Time) *healthcode.ContactNotice {
	return &healthcode.ContactNotice{ID: "N0TICE0001", From: "310100", FromName: "Shanghai", To: "330100", IssuedAt: at,
		CaseConfirmed: at.Add(-time.Hour), Contacts: []healthcode.NoticeContact{{Subject: "SK7LM5FY", Degree: 1,
			LastExposure: at.Add(-20 * time.Hour), QuarantineUntil: at.Add(6 * 24 * time.Hour),
			Exposures: []healthcode.NoticeExposure{{VenueName: "虹桥站", VenueType: "transit", SourceAt: at.Add(-20 * time.Hour), ContactAt: at.Add(-20 * time.Hour)}}}}}
}

func list(region string, keys ...ed25519.PrivateKey) *trust.List {
	l := &trust.List{Issuer: region, IssuedAt: t0.Add(-24 * time.Hour)}
	for _, k := range keys {
		l.Keys = append(l.Keys, trust.NewEntry(k.Public().(ed25519.PublicKey), region, "", t0.Add(-48*time.Hour), time.Time{}))
	}
	return l
}

func sign(t *testing.T, n *healthcode.ContactNotice, priv ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := notice.Sign(n, priv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	shanghai, beijing, stranger := key(t), key(t), key(t)
	revokedKey := key(t)
	sh := list("310100", shanghai, revokedKey)
	sh.Keys[1].Revoke(t0.Add(-time.Hour))
	peers := trust.Set{sh, list("110100", beijing)}

	good := sign(t, sample(t0), shanghai)
	if n, err := notice.Parse(good, peers, "330100", t0.Add(time.Minute)); err != nil || n.Contacts[0].Subject != "SK7LM5FY" {
		t.Fatalf("a good notice: %v %+v", err, n)
	}
	altered := bytes.Replace(good, good[len(good)-10:len(good)-5], []byte("AAAAA"), 1)
	fromBeijing := sample(t0)
	fromBeijing.From = "110100"
	toOther := sample(t0)
	toOther.To = "440100"
	unsigned, _ := json.Marshal(sample(t0))
	for _, tt := range []struct {
		name string
		data []byte
		at   time.Time
		code string
		want string
	}{
		{"empty", nil, t0, healthcode.EINVALID, "empty"},
		{"unsigned JSON", unsigned, t0, healthcode.EINVALID, "unsigned"},
		{"not a JWS", []byte("hello"), t0, healthcode.EINVALID, "compact JWS"},
		{"untrusted issuer", sign(t, sample(t0), stranger), t0, healthcode.EFORBIDDEN, "untrusted issuer"},
		{"bad signature", altered, t0, healthcode.EFORBIDDEN, ""},
		{"revoked key", sign(t, sample(t0), revokedKey), t0, healthcode.EFORBIDDEN, "revoked"},
		{"claims another region", sign(t, fromBeijing, shanghai), t0, healthcode.EFORBIDDEN, "says it is from 110100"},
		{"another region's key", sign(t, sample(t0), beijing), t0, healthcode.EFORBIDDEN, "region 110100"},
		{"addressed elsewhere", sign(t, toOther, shanghai), t0, healthcode.EFORBIDDEN, "addressed to region 440100"},
		{"expired (a replay)", good, t0.Add(healthcode.NoticeMaxAge + time.Second), healthcode.EFORBIDDEN, "expired"},
		{"from the future", good, t0.Add(-10 * time.Minute), healthcode.EFORBIDDEN, "future"},
		{"too big", bytes.Repeat([]byte("a"), notice.MaxSize+1), t0, healthcode.EINVALID, "limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notice.Parse(tt.data, peers, "330100", tt.at)
			if healthcode.ErrorCode(err) != tt.code || !strings.Contains(healthcode.ErrorMessage(err), tt.want) {
				t.Errorf("got %v (%s), want %s with %q", err, healthcode.ErrorCode(err), tt.code, tt.want)
			}
		})
	}
}

func TestEndpointOf(t *testing.T) {
	for src, want := range map[string]string{
		"https://hc.sh.example/.well-known/healthcode/trust-list": "https://hc.sh.example/api/v1/federation/contact-notices",
		"/etc/healthcode/sh.jws":                                  "",
		"https://hc.sh.example/other/trust-list.jws":              "",
	} {
		if got := notice.EndpointOf(src, trust.WellKnownPath); got != want {
			t.Errorf("EndpointOf(%q) = %q, want %q", src, got, want)
		}
	}
}

// memOutbox is an outbox in memory, for the worker.
type memOutbox struct {
	healthcode.FederationService
	mu        sync.Mutex
	due       []healthcode.OutgoingNotice
	delivered map[string]bool
	refused   map[string]string
	failures  int
}

func (m *memOutbox) ClaimContactNotices(context.Context, int, time.Duration) ([]healthcode.OutgoingNotice, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.due
	m.due = nil
	return out, nil
}

func (m *memOutbox) MarkNoticeDelivered(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delivered[id] = true
	return nil
}

func (m *memOutbox) MarkNoticeFailed(_ context.Context, id, problem string, retryAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if retryAt.IsZero() {
		m.refused[id] = problem
	} else {
		m.failures++
	}
	return nil
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// TestWorker: a 2xx marks a notice delivered, a 5xx schedules a retry, a
// 400 refuses it for good; every attempt is signed afresh and verifies.
func TestWorker(t *testing.T) {
	priv := key(t)
	peers := trust.Set{list("310100", priv)}
	var answer int
	var got [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		got = append(got, b.Bytes())
		if r.Header.Get("Content-Type") != notice.MediaType {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		w.WriteHeader(answer)
	}))
	defer srv.Close()
	ob := &memOutbox{delivered: map[string]bool{}, refused: map[string]string{}}
	w := &notice.Worker{Outbox: ob, Key: priv, Endpoint: func(string) string { return srv.URL + notice.Path }, Settings: outbox.Settings{Clock: fixedClock{t0}}}
	for _, tt := range []struct {
		status                       int
		delivered, refused, failures int
	}{{503, 0, 0, 1}, {200, 1, 0, 1}, {400, 1, 1, 1}} {
		answer = tt.status
		n := sample(t0.Add(-time.Hour)) // queued an hour ago; signed now
		n.ID = fmt.Sprintf("N0TICE%d", tt.status)
		ob.due = []healthcode.OutgoingNotice{{Notice: *n}}
		if _, err := w.DeliverDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(ob.delivered) != tt.delivered || len(ob.refused) != tt.refused || ob.failures != tt.failures {
			t.Errorf("after %d: delivered %v refused %v failures %d", tt.status, ob.delivered, ob.refused, ob.failures)
		}
		if _, err := notice.Parse(got[len(got)-1], peers, "330100", t0); err != nil {
			t.Errorf("the worker's notice does not verify now: %v", err)
		}
	}
}
