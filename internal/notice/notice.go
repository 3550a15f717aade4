// Package notice signs, verifies and delivers cross-region contact notices
// (healthcode.ContactNotice, issue 8).
//
// A notice travels as a compact JWS (RFC 7515) of its JSON, "typ" Type,
// signed with EdDSA by the sending region's code-signing key, the key its
// trust list publishes. That is the format of the trust and status lists
// already: the receiver verifies it with the trust list it holds for the
// sender (trust.Set implements code.KeyResolver), with the same key lookup,
// revocation and validity rules, and no new key material or format. COSE,
// which the QR codes use, buys compactness a notice does not need.
//
// The sender signs again at every attempt, so IssuedAt is fresh: the
// receiver refuses a notice signed more than healthcode.NoticeMaxAge ago
// (a copy captured and replayed later), and deduplicates by the notice id
// within that window (a redelivery), so each notice is stored once.
package notice

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/jws"
	"healthcode/internal/outbox"
)

// Type is the JWS "typ" header of a contact notice.
const Type = "healthcode-contact-notice+jws"

// MediaType is the content type a notice is POSTed with.
const MediaType = "application/jose"

// Path is where a region receives contact notices.
const Path = "/api/v1/federation/contact-notices"

// MaxSize is the largest signed notice a receiver reads, in bytes.
const MaxSize = 256 << 10

// Sign returns n as a compact JWS signed with priv.
func Sign(n *healthcode.ContactNotice, priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign contact notice: the private key is %d bytes, not %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("sign contact notice: %w", err)
	}
	kid := hex.EncodeToString(code.KeyID(priv.Public().(ed25519.PublicKey)))
	signed, err := jws.Sign(payload, priv, Type, kid)
	if err != nil {
		return nil, fmt.Errorf("sign contact notice: %w", err)
	}
	return signed, nil
}

func invalid(format string, args ...any) error {
	return healthcode.Errorf(healthcode.EINVALID, "contact notice: "+format, args...)
}

func refused(format string, args ...any) error {
	return healthcode.Errorf(healthcode.EFORBIDDEN, "contact notice: "+format, args...)
}

// Parse verifies a signed notice for region to at now and returns it. keys
// are the trusted peers' keys. A notice that is not a signed notice at all
// is EINVALID; one that is signed but not by a key a trusted region
// publishes for its sender, or expired, or for another region, is
// EFORBIDDEN. Each error says what is wrong.
func Parse(data []byte, keys code.KeyResolver, to string, now time.Time) (*healthcode.ContactNotice, error) {
	sig, hdr, err := jws.Open(data, MaxSize, Type, invalid)
	if err != nil {
		return nil, err
	}
	kid, err := hex.DecodeString(hdr.KeyID)
	if err != nil || len(kid) == 0 || len(kid) > 16 || hex.EncodeToString(kid) != hdr.KeyID {
		return nil, invalid("the JWS key id (kid) is not 1 to 16 bytes in lower-case hex")
	}
	var candidates, revoked []code.Key
	if keys != nil {
		candidates = keys.LookupKey(kid)
		if r, ok := keys.(code.RevokedKeyResolver); ok {
			revoked = r.LookupRevokedKey(kid)
		}
	}
	signer, payload := verifiedBy(sig, candidates)
	if signer == nil {
		if k, _ := verifiedBy(sig, revoked); k != nil {
			return nil, refused("signed by key %s, which region %s has revoked", hdr.KeyID, k.Region)
		}
		if len(candidates) == 0 {
			return nil, refused("signed by key %s, which no trusted region publishes (untrusted issuer)", hdr.KeyID)
		}
		return nil, refused("the signature does not verify with key %s: the notice was altered or not signed by that key", hdr.KeyID)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var n healthcode.ContactNotice
	if err := dec.Decode(&n); err != nil {
		return nil, invalid("the signed content is not a contact notice: %v", err)
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	switch {
	case signer.Region != n.From:
		return nil, refused("signed by a key of region %s, but it says it is from %s", signer.Region, n.From)
	case n.To != to:
		return nil, refused("it is addressed to region %s, not to this region %s", n.To, to)
	case !signer.ValidAt(n.IssuedAt):
		return nil, refused("signed at %s with key %s, which is not valid then", n.IssuedAt.UTC().Format(time.RFC3339), hdr.KeyID)
	case n.IssuedAt.After(now.Add(code.ClockSkew)):
		return nil, refused("signed in the future, at %s", n.IssuedAt.UTC().Format(time.RFC3339))
	case n.IssuedAt.Before(now.Add(-healthcode.NoticeMaxAge)):
		return nil, refused("expired: signed at %s, more than %s ago (a replay, or a clock far off)",
			n.IssuedAt.UTC().Format(time.RFC3339), healthcode.NoticeMaxAge)
	}
	return &n, nil
}

func verifiedBy(jws *jose.JSONWebSignature, keys []code.Key) (*code.Key, []byte) {
	for i := range keys {
		if len(keys[i].Public) != ed25519.PublicKeySize {
			continue
		}
		if p, err := jws.Verify(keys[i].Public); err == nil {
			return &keys[i], p
		}
	}
	return nil, nil
}

// EndpointOf returns the federation endpoint of a region whose trust list
// comes from source, the URL of its well-known trust list; "" when source
// is not such a URL (a file: the region cannot be reached).
func EndpointOf(source, wellKnownPath string) string {
	if !strings.HasPrefix(source, "http://") && !strings.HasPrefix(source, "https://") {
		return ""
	}
	base, ok := strings.CutSuffix(source, wellKnownPath)
	if !ok {
		return ""
	}
	return base + Path
}

// Worker delivers the contact-notice outbox: each notice to its home
// region's endpoint, signed afresh at every attempt, retried with backoff
// until the receiver acknowledges it (2xx) or refuses it for good (400:
// the receiver will never accept it). Other answers, and no answer, are
// retried: 403 too, since the receiver may not yet have fetched the trust
// list with the key that signs. Set the fields and call Run.
type Worker struct {
	Outbox   healthcode.FederationService
	Key      ed25519.PrivateKey         // the region's current code-signing key
	Endpoint func(region string) string // the region's federation endpoint; "" when unknown

	// Defaults: a 15 s timeout, batches of 20, leases of 2 minutes.
	outbox.Settings
}

func (w *Worker) defaults() { w.Fill(15*time.Second, 20, 2*time.Minute) }

// Run delivers due notices every Poll until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	return w.Settings.Run(ctx, w.DeliverDue, "contact notices")
}

// DeliverDue claims one batch of due notices and tries each once, in turn.
// It returns how many it claimed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	w.defaults()
	ns, err := w.Outbox.ClaimContactNotices(ctx, w.Batch, w.Lease)
	if err != nil {
		return 0, err
	}
	for _, n := range ns {
		w.deliver(ctx, n)
	}
	return len(ns), nil
}

// errRefused marks an answer that will not change on retry.
var errRefused = errors.New("refused for good")

func (w *Worker) deliver(ctx context.Context, o healthcode.OutgoingNotice) {
	id := o.Notice.ID
	err := w.post(ctx, o.Notice)
	switch {
	case err == nil:
		if err := w.Outbox.MarkNoticeDelivered(ctx, id); err != nil {
			// Sent again when the lease ends; the receiver deduplicates.
			w.Log.Warn("contact notice: delivered but not marked", "notice", id, "error", err.Error())
		}
		w.Log.Info("contact notice delivered", "notice", id, "to", o.Notice.To, "attempt", o.Attempts+1)
	case errors.Is(err, errRefused):
		w.Log.Error("contact notice: the receiver refused it; not retrying", "notice", id, "to", o.Notice.To, "error", err.Error())
		if err := w.Outbox.MarkNoticeFailed(ctx, id, err.Error(), time.Time{}); err != nil {
			w.Log.Warn("contact notice: could not record the refusal", "notice", id, "error", err.Error())
		}
	default:
		wait := healthcode.RetryBackoff(w.MinBackoff, w.MaxBackoff, o.Attempts+1)
		w.Log.Warn("contact notice: delivery failed; will retry", "notice", id, "to", o.Notice.To,
			"attempt", o.Attempts+1, "retry_in", wait.String(), "error", err.Error())
		if err := w.Outbox.MarkNoticeFailed(ctx, id, err.Error(), w.Clock.Now().Add(wait)); err != nil {
			w.Log.Warn("contact notice: could not record the failure", "notice", id, "error", err.Error())
		}
	}
}

func (w *Worker) post(ctx context.Context, n healthcode.ContactNotice) error {
	url := w.Endpoint(n.To)
	if url == "" {
		return fmt.Errorf("no federation endpoint for region %s: trust its list by URL (healthcode trust add URL)", n.To)
	}
	n.IssuedAt = w.Clock.Now().UTC().Truncate(time.Second)
	body, err := Sign(&n, w.Key)
	if err != nil {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", MediaType)
	req.Header.Set("User-Agent", "healthcode-federation/1")
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: %s answered %s: %s", errRefused, url, resp.Status, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
}
