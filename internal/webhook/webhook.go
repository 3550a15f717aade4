// Package webhook delivers residents' notifications to a region's webhook
// (an SMS or push gateway), from the store's outbox.
//
// Delivery is at least once. Each notification is POSTed as JSON with its id
// in the body and in the Healthcode-Notification-Id header, signed with
// HMAC-SHA256 (see Sign). A 2xx answer marks it delivered; anything else,
// or no answer, schedules another attempt with exponential backoff, for as
// long as it takes. A notification claimed by a worker that then stops is
// handed out again when its lease ends. So a receiver may see an id twice
// and must deduplicate by it. The outbox row is written in the transaction
// that writes the notification, so nothing is lost across a restart, and
// the request that caused the notification never waits for the webhook.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"healthcode"
	"healthcode/internal/outbox"
)

// The headers of a delivery.
const (
	SignatureHeader = "Healthcode-Signature"
	IDHeader        = "Healthcode-Notification-Id"
)

// Payload is the JSON body of a delivery.
type Payload struct {
	ID         int64  `json:"id"` // the notification's id: deduplicate by it
	ResidentID int64  `json:"resident_id"`
	Phone      string `json:"phone,omitempty"` // the resident's, or their guardian's for a dependent without one
	At         string `json:"at"`              // RFC 3339, UTC
	Kind       string `json:"kind"`            // status_changed, appeal_decided or contact_designated
	Message    string `json:"message"`
	MessageZH  string `json:"message_zh"`
	Attempt    int    `json:"attempt"` // 1 for the first attempt
}

// Sign returns the signature header value for a body sent at unix time ts:
// "t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>" keyed with secret>".
func Sign(secret []byte, ts int64, body []byte) string {
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against the body, as a receiver should:
// the HMAC must match and the timestamp be within tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts int64
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errors.New("webhook signature: bad timestamp")
			}
			ts = n
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == 0 || len(sigs) == 0 {
		return errors.New("webhook signature: missing t= or v1=")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook signature: timestamp outside the tolerance (replayed or clock skew)")
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook signature: does not match")
}

// Worker delivers the outbox to URL. Make one with its fields set and call
// Run; the zero values of the optional fields are sensible defaults.
type Worker struct {
	URL    string
	Secret []byte
	Outbox healthcode.OutboxService

	// Defaults: a 10 s timeout, batches of 50, leases of 5 minutes.
	outbox.Settings
	Parallel int // deliveries in flight at once; default 4
}

func (w *Worker) defaults() {
	w.Fill(10*time.Second, 50, 5*time.Minute)
	if w.Parallel <= 0 {
		w.Parallel = 4
	}
}

// Run delivers due notifications every Poll until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	return w.Settings.Run(ctx, w.DeliverDue, "webhook notifications")
}

// DeliverDue claims one batch of due notifications and tries each once. It
// returns how many it claimed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	w.defaults()
	ds, err := w.Outbox.ClaimDeliveries(ctx, w.Batch, w.Lease)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, w.Parallel)
	var wg sync.WaitGroup
	for _, d := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			w.deliver(ctx, d)
		})
	}
	wg.Wait()
	return len(ds), nil
}

// deliver makes one attempt and records its outcome.
func (w *Worker) deliver(ctx context.Context, d healthcode.Delivery) {
	n := d.Notification
	err := w.post(ctx, d)
	if err == nil {
		if err := w.Outbox.MarkDelivered(ctx, n.ID); err != nil {
			// It will be delivered again when the lease ends: at least once.
			w.Log.Warn("webhook: delivered but not marked", "notification", n.ID, "error", err.Error())
		}
		return
	}
	wait := w.backoff(d.Attempts + 1)
	w.Log.Warn("webhook: delivery failed; will retry", "notification", n.ID, "attempt", d.Attempts+1,
		"retry_in", wait.String(), "error", err.Error())
	if err := w.Outbox.MarkDeliveryFailed(ctx, n.ID, err.Error(), w.Clock.Now().Add(wait)); err != nil {
		w.Log.Warn("webhook: could not record the failure", "notification", n.ID, "error", err.Error())
	}
}

// backoff is MinBackoff doubled per earlier failure, at most MaxBackoff,
// less up to a fifth at random so that retries spread out.
func (w *Worker) backoff(attempt int) time.Duration {
	return healthcode.RetryBackoff(w.MinBackoff, w.MaxBackoff, attempt)
}

func (w *Worker) post(ctx context.Context, d healthcode.Delivery) error {
	n := d.Notification
	body, err := json.Marshal(Payload{ID: n.ID, ResidentID: n.ResidentID, Phone: d.Phone, At: n.At.UTC().Format(time.RFC3339),
		Kind: n.Kind, Message: n.Message, MessageZH: n.MessageZH, Attempt: d.Attempts + 1})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "healthcode-webhook/1")
	req.Header.Set(IDHeader, strconv.FormatInt(n.ID, 10))
	req.Header.Set(SignatureHeader, Sign(w.Secret, w.Clock.Now().Unix(), body))
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}
