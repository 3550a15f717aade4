package web

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/notice"
	"healthcode/internal/trust"
)

// postNotice sends a signed notice to the federation endpoint.
func (h *harness) postNotice(t *testing.T, body []byte, contentType string) reply {
	t.Helper()
	req, _ := http.NewRequest("POST", h.URL+notice.Path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return reply{resp.StatusCode, resp.Header, b.Bytes()}
}

// TestFederationEndpoint: a notice signed by a trusted peer makes one
// proposal per resident named, once however often it arrives; the refusals
// say why; a tracer confirms on the page (zh and en) and the resident turns
// yellow; the proposal is in the resident's export.
// trustPeer makes Shanghai (310100) a trusted peer of the harness's
// region and returns its signing key.
func (h *harness) trustPeer(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, peerKey, _ := ed25519.GenerateKey(rand.Reader)
	now := h.clock.Now()
	peer := &trust.List{Issuer: "310100", IssuedAt: now.Truncate(time.Second), Keys: []trust.Entry{
		trust.NewEntry(peerKey.Public().(ed25519.PublicKey), "310100", "Shanghai", now.Add(-time.Hour), time.Time{})}}
	h.Server.Config.Handler.(*Server).SetPeers([]*trust.List{peer}, nil)
	return peerKey
}

// contactNotice is a notice from Shanghai naming subject, signed with key.
func (h *harness) contactNotice(t *testing.T, id, subject string, key ed25519.PrivateKey) (*healthcode.ContactNotice, []byte) {
	t.Helper()
	now := h.clock.Now()
	last := now.Add(-20 * time.Hour).UTC().Truncate(time.Second)
	n := &healthcode.ContactNotice{ID: id, From: "310100", FromName: "Shanghai", To: "330100",
		IssuedAt: now.UTC().Truncate(time.Second), CaseConfirmed: now.Add(-time.Hour).UTC().Truncate(time.Second),
		Contacts: []healthcode.NoticeContact{{Subject: subject, Degree: 1, LastExposure: last, QuarantineUntil: last.Add(7 * 24 * time.Hour),
			Exposures: []healthcode.NoticeExposure{{VenueName: "虹桥站", VenueType: "transit", SourceAt: last, ContactAt: last}}}}}
	signed, err := notice.Sign(n, key)
	if err != nil {
		t.Fatal(err)
	}
	return n, signed
}

func TestFederationEndpoint(t *testing.T) {
	h := newHarness(t)
	peerKey := h.trustPeer(t)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)

	_, id, tok := h.enrolled(t)
	subject := h.subjectOf(t, tok)
	n, signed := h.contactNotice(t, "FEDTEST0001", subject, peerKey)
	for i, want := range []bool{false, true} {
		var rc healthcode.NoticeReceipt
		r := h.postNotice(t, signed, notice.MediaType)
		if r.status != 200 {
			t.Fatalf("delivery %d: %d %s", i+1, r.status, r.body)
		}
		r.json(t, &rc)
		if rc.Duplicate != want || len(rc.Results) != 1 || rc.Results[0].Result != "proposed" {
			t.Errorf("delivery %d: %s", i+1, r.body)
		}
	}

	strangers, _ := notice.Sign(n, stranger)
	nobody := *n
	nobody.ID, nobody.Contacts = "FEDTEST0002", []healthcode.NoticeContact{n.Contacts[0]}
	nobody.Contacts[0].Subject = "NOBODY22"
	nobodySigned, _ := notice.Sign(&nobody, peerKey)
	for _, tt := range []struct {
		name, contentType string
		body              []byte
		status            int
		want              string
	}{
		{"unsigned", "", []byte(`{"id":"FEDTEST0003"}`), 400, "unsigned"},
		{"JSON content type", "application/json", signed, 400, "application/jose"},
		{"untrusted issuer", notice.MediaType, strangers, 403, "untrusted issuer"},
		{"altered", notice.MediaType, append(bytes.Clone(signed[:len(signed)-4]), "AAAA"...), 403, "does not verify"},
		{"unknown subject", notice.MediaType, nobodySigned, 400, "NOBODY22"},
		{"too big", notice.MediaType, bytes.Repeat([]byte("a"), notice.MaxSize+10), 400, "larger than"},
	} {
		if r := h.postNotice(t, tt.body, tt.contentType); r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
	h.clock.advance(healthcode.NoticeMaxAge + time.Minute)
	if r := h.postNotice(t, signed, notice.MediaType); r.status != 403 || !strings.Contains(string(r.body), "expired") {
		t.Errorf("a replay after 10 minutes: %d %s", r.status, r.body)
	}

	var ps struct{ Proposals []proposalJSON }
	h.do(t, "GET", "/api/v1/contact-proposals?purpose=deciding+proposals", h.tokens[healthcode.RoleTracer], nil).json(t, &ps)
	if len(ps.Proposals) != 1 || ps.Proposals[0].ResidentID != id || ps.Proposals[0].FromName != "Shanghai" {
		t.Fatalf("proposals: %+v", ps)
	}
	pid := ps.Proposals[0].ID

	tracer := newBrowser(t, h)
	if r := tracer.post("/admin/signin", url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.status)
	}
	for lang, want := range map[string]string{"en": "Confirm: close contact", "zh": "确认为密切接触者"} {
		if r := tracer.get("/admin/contact-notices?lang=" + lang); r.status != 200 || !strings.Contains(string(r.body), want) ||
			!strings.Contains(string(r.body), "虹桥站") {
			t.Errorf("page in %s: %d %s", lang, r.status, r.body)
		}
	}
	if r := tracer.post(fmt.Sprintf("/admin/contact-proposals/%d/confirm", pid), url.Values{}, "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("confirm on the page: %d %s", r.status, r.body)
	}
	if r := tracer.post(fmt.Sprintf("/admin/contact-proposals/%d/dismiss", pid), url.Values{"reason": {"too late"}}, "same-origin"); r.status != http.StatusConflict {
		t.Errorf("dismissing a confirmed proposal: %d", r.status)
	}
	var st statusResponse
	h.do(t, "GET", "/api/v1/me/status", tok, nil).json(t, &st)
	if st.Color != healthcode.Yellow || len(st.Reasons) != 1 || !strings.Contains(st.Reasons[0].Message, "虹桥站 (Shanghai 310100)") {
		t.Errorf("status after the confirmation: %+v", st)
	}
	r := h.do(t, "GET", "/api/v1/me/access-log", tok, nil)
	if !strings.Contains(string(r.body), "region 310100 (Shanghai)") || !strings.Contains(string(r.body), "reported a contact") {
		t.Errorf("the access log does not show the notice: %s", r.body)
	}
	var ex exportResponse
	h.do(t, "GET", "/api/v1/me/export", tok, nil).json(t, &ex)
	if len(ex.Proposals) != 1 || ex.Proposals[0].State != "confirmed" || len(ex.Contacts) != 1 || ex.Contacts[0].CaseRegion != "310100" {
		t.Errorf("export: proposals %+v contacts %+v", ex.Proposals, ex.Contacts)
	}
}
