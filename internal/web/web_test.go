package web

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
	"healthcode/internal/rules"
	"healthcode/internal/secure"
	"healthcode/internal/sqlstore"
	"healthcode/internal/trust"
)

// loadRules is the server's healthcode.RuleLoader: the rule engine.
func loadRules(src []byte) (healthcode.Evaluator, error) {
	e, err := rules.Load(src)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// harness is a real server (SQLite store, default rules, a fresh signing key)
// behind httptest.
type harness struct {
	*httptest.Server
	interopKey *ecdsa.PrivateKey
	dsc        *x509.Certificate
	store      *sqlstore.DB
	dbPath     string // the SQLite file, for another server on the same database
	tokens     map[healthcode.Role]string
	clock      *testClock
	trust      *trust.List
}

// testClock is the wall clock plus an offset the test moves forward.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	engine, err := rules.Load(healthcode.DefaultRuleSetSource)
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := secure.NewCipher(bytes.Repeat([]byte{1}, secure.KeySize), 1)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	dbPath := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlstore.Open(ctx, dbPath, sqlstore.Options{Clock: clock, Evaluator: engine, LoadRules: loadRules, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer := code.NewSigner(priv)
	now := time.Now()
	list := &trust.List{Issuer: "330100", IssuedAt: now.Truncate(time.Second), Keys: []trust.Entry{
		trust.NewEntry(signer.Public(), "330100", "Hangzhou", now.Add(-time.Hour), now.Add(time.Hour*24*365))}}
	signed, err := trust.Sign(list, priv)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	h := &harness{store: db, dbPath: dbPath, tokens: map[healthcode.Role]string{}, clock: clock, trust: list}
	h.Server = httptest.NewUnstartedServer(nil)
	h.Server.Start()
	t.Cleanup(h.Close)
	interopKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dsc, err := dcc.NewDSC(interopKey, pkix.Name{CommonName: "test DSC"}, clock.Now().Add(-time.Hour), clock.Now().AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	h.interopKey, h.dsc = interopKey, dsc
	h.Server.Config.Handler = New(Config{Region: "330100", Location: loc, PublicURL: h.URL}, Deps{Store: db, LoadRules: loadRules,
		Signer: signer, SigningKey: priv, PlaceKey: bytes.Repeat([]byte{9}, 32), Keys: list, TrustList: signed, Clock: clock, Dashboard: db,
		InteropKey: interopKey, DSC: dsc, Peers: db, FetchPeer: fetchPeerForTest})
	for _, role := range healthcode.TokenRoles {
		secret, hash, _ := secure.NewSecret(tokenPrefix)
		if err := db.CreateAPIToken(ctx, &healthcode.APIToken{Name: string(role) + " test", Role: role, Hash: hash}); err != nil {
			t.Fatal(err)
		}
		h.tokens[role] = secret
	}
	return h
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%v in %s", err, r.body)
	}
}

func (r reply) errorCode() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (h *harness) do(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, h.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, data}
}

var idSeq = 100

// enrollment returns a valid enrollment body with a fresh ID and phone.
func enrollment() map[string]any {
	idSeq += 2
	first := fmt.Sprintf("330106%s%03d", "19850612", idSeq%1000+1) // odd sequence digit: male
	return map[string]any{"name": "张小三", "sex": "male", "birth_date": "1985-06-12", "nationality": "CHN",
		"id_type": "resident_id", "id_number": first + string(healthcode.ResidentIDCheckChar(first)),
		"phone": fmt.Sprintf("139%08d", idSeq), "password": "long enough", "region": "330106", "address": "文三路 1 号"}
}

// resident enrolls and signs in a resident, returning the id and session token.
func (h *harness) resident(t testing.TB) (int64, string) {
	t.Helper()
	e := enrollment()
	r := h.do(t, "POST", "/api/v1/residents", "", e)
	if r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	var me struct{ ID int64 }
	r.json(t, &me)
	r = h.do(t, "POST", "/api/v1/login", "", map[string]any{"phone": e["phone"], "password": e["password"]})
	var login struct{ Token string }
	r.json(t, &login)
	return me.ID, login.Token
}

// TestAuthorization calls every route in the table as an anonymous caller,
// a resident and each token role, and checks that exactly the callers the
// table allows get past authorization.
func TestAuthorization(t *testing.T) {
	h := newHarness(t)
	srv := New(Config{}, Deps{})
	residentID, residentTok := h.resident(t)
	_, otherTok := h.resident(t) // another resident, neither the first nor their guardian
	callers := map[string]string{"anonymous": "", "resident": residentTok, "another resident": otherTok}
	for role, tok := range h.tokens {
		callers[string(role)] = tok
	}
	for _, rt := range srv.routes {
		path := strings.ReplaceAll(rt.pattern, "{id}", fmt.Sprint(residentID))
		for name, tok := range callers {
			t.Run(rt.method+" "+rt.pattern+" as "+name, func(t *testing.T) {
				var allowed bool
				switch rt.access {
				case public:
					allowed = true
				case resident:
					// A resident route names its subject by {id} or is the
					// caller's own (/me/...): another resident may call the
					// latter, and for the former is told "not found", so that
					// ids cannot be probed.
					allowed = name == "resident" || (name == "another resident" && !strings.Contains(rt.pattern, "{id}"))
				case roles:
					for _, r := range rt.roles {
						allowed = allowed || string(r) == name
					}
				}
				var body any
				if rt.method == "POST" {
					body = "{}"
				}
				if rt.pattern == "/api/v1/logout" || rt.pattern == "/signout" {
					// Signing out as the shared resident would end its session for
					// the other subtests: use a session of its own.
					if name == "resident" || name == "another resident" {
						_, tok = h.resident(t)
					}
				}
				r := h.do(t, rt.method, path, tok, body)
				denied := r.status == 401 || r.status == 403
				if allowed && denied {
					t.Errorf("allowed caller got %d: %s", r.status, r.body)
				}
				if !allowed {
					want := 403
					switch {
					case name == "anonymous":
						want = 401
					case name == "another resident" && rt.access == resident:
						want = 404
					}
					if r.status != want {
						t.Errorf("got %d, want %d: %s", r.status, want, r.body)
					}
				}
			})
		}
	}
}

func TestEnrollmentValidation(t *testing.T) {
	h := newHarness(t)
	good := enrollment()
	id := good["id_number"].(string)
	tests := []struct {
		name   string
		change func(m map[string]any)
		status int
		want   string
	}{
		{"bad check digit", func(m map[string]any) {
			c := id[17]
			if c == '0' {
				c = '1'
			} else {
				c = '0'
			}
			m["id_number"] = id[:17] + string(c)
		}, 400, "check digit"},
		{"impossible date", func(m map[string]any) {
			f := "33010619850231123"
			m["id_number"] = f + string(healthcode.ResidentIDCheckChar(f))
			m["birth_date"] = "1985-02-31"
		}, 400, "not a real date"},
		{"sex mismatch", func(m map[string]any) { m["sex"] = "female" }, 400, "for a male person"},
		{"unknown field", func(m map[string]any) { m["bank_account"] = "622202..." }, 400, "unknown field"},
		{"short password", func(m map[string]any) { m["password"] = "short" }, 400, "password"},
		{"wrong type", func(m map[string]any) { m["name"] = 12 }, 400, "field name must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := enrollment()
			m["id_number"], m["phone"] = id, good["phone"]
			tt.change(m)
			r := h.do(t, "POST", "/api/v1/residents", "", m)
			if r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
				t.Errorf("got %d %s, want %d containing %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}
	if r := h.do(t, "POST", "/api/v1/residents", "", good); r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	dupID := enrollment()
	dupID["id_number"] = id
	if r := h.do(t, "POST", "/api/v1/residents", "", dupID); r.status != 409 || !strings.Contains(string(r.body), "already enrolled") {
		t.Errorf("duplicate ID: %d %s", r.status, r.body)
	}
	dupPhone := enrollment()
	dupPhone["phone"] = good["phone"]
	if r := h.do(t, "POST", "/api/v1/residents", "", dupPhone); r.status != 409 || !strings.Contains(string(r.body), "phone") {
		t.Errorf("duplicate phone: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/residents", "", "not json"); r.status != 400 || r.errorCode() != "invalid" {
		t.Errorf("not JSON: %d %s", r.status, r.body)
	}
}

func TestGuardianActsForDependent(t *testing.T) {
	h := newHarness(t)
	_, guardian := h.resident(t)
	_, stranger := h.resident(t)
	dep := enrollment()
	delete(dep, "password")
	delete(dep, "phone")
	dep["name"], dep["birth_date"], dep["sex"] = "李奶奶", "1941-03-08", "female"
	f := "33010619410308124"
	dep["id_number"] = f + string(healthcode.ResidentIDCheckChar(f))
	r := h.do(t, "POST", "/api/v1/me/dependents", guardian, dep)
	if r.status != 201 {
		t.Fatalf("add dependent: %d %s", r.status, r.body)
	}
	var d struct {
		ID         int64 `json:"id"`
		GuardianID int64 `json:"guardian_id"`
	}
	r.json(t, &d)
	var list struct {
		Dependents []struct{ ID int64 } `json:"dependents"`
	}
	h.do(t, "GET", "/api/v1/me/dependents", guardian, nil).json(t, &list)
	if len(list.Dependents) != 1 || list.Dependents[0].ID != d.ID {
		t.Errorf("dependents: %+v", list)
	}
	decl := map[string]any{"temperature": 38.1, "symptoms": []string{}, "visited": []any{}, "contact_with_case": false}
	if r := h.do(t, "POST", fmt.Sprintf("/api/v1/residents/%d/declarations", d.ID), guardian, decl); r.status != 201 {
		t.Fatalf("declare for dependent: %d %s", r.status, r.body)
	}
	var st statusResponse
	h.do(t, "GET", fmt.Sprintf("/api/v1/residents/%d/status", d.ID), guardian, nil).json(t, &st)
	if st.Color != healthcode.Yellow {
		t.Errorf("dependent status %+v", st)
	}
	if r := h.do(t, "GET", fmt.Sprintf("/api/v1/residents/%d/code.png", d.ID), guardian, nil); r.status != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("dependent code: %d", r.status)
	}
	// Someone else cannot see or act for the dependent, and learns nothing.
	for _, p := range []string{"/status", "/code", ""} {
		if r := h.do(t, "GET", fmt.Sprintf("/api/v1/residents/%d%s", d.ID, p), stranger, nil); r.status != 404 {
			t.Errorf("stranger GET %s: %d", p, r.status)
		}
	}
	if r := h.do(t, "POST", fmt.Sprintf("/api/v1/residents/%d/declarations", d.ID), stranger, decl); r.status != 404 {
		t.Errorf("stranger declares: %d", r.status)
	}
}

func TestFactValidationErrors(t *testing.T) {
	h := newHarness(t)
	_, tok := h.resident(t)
	lab, tracer := h.tokens[healthcode.RoleLab], h.tokens[healthcode.RoleTracer]
	tests := []struct {
		name, path, token string
		body              any
		want              []string
	}{
		{"declaration", "/api/v1/me/declarations", tok, map[string]any{"temperature": 45, "symptoms": []string{"sneezing"},
			"visited": []any{map[string]string{"region": "4201", "date": "2026-02-30"}}},
			[]string{"temperature", "sneezing", "visited[0].date", "contact_with_case"}},
		{"test result", "/api/v1/test-results", lab, map[string]any{"id_type": "resident_id", "id_number": "110105194912310021",
			"type": "blood", "result": "maybe", "sampled_at": "yesterday"},
			[]string{"type", "result", "sampled_at", "resulted_at", "institution", "no resident is enrolled"}},
		{"vaccination", "/api/v1/vaccinations", lab, map[string]any{"id_type": "visa", "id_number": "X", "dose": 0, "series_doses": 0, "date": "2026-13-01"},
			[]string{"id_type", "product", "dose", "series_doses", "date"}},
		{"case", "/api/v1/cases", tracer, map[string]any{"id_type": "passport", "id_number": "E0000000"},
			[]string{"sample_date", "no resident is enrolled"}},
		{"area", "/api/v1/areas", tracer, map[string]any{"region_prefix": "4", "level": "extreme", "from": "2026-11-20"},
			[]string{"region_prefix", "level", "from"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, "POST", tt.path, tt.token, tt.body)
			if r.status != 400 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var e errorBody
			r.json(t, &e)
			got := fmt.Sprint(e.Error.Fields)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("fields %s lack %q", got, w)
				}
			}
		})
	}
	if r := h.do(t, "POST", "/api/v1/cases/999/discharge", tracer, nil); r.status != 404 {
		t.Errorf("discharge unknown case: %d %s", r.status, r.body)
	}
}

func TestStaleCookieDoesNotBlockSignIn(t *testing.T) {
	h := newHarness(t)
	e := enrollment()
	h.do(t, "POST", "/api/v1/residents", "", e)
	req, _ := http.NewRequest("POST", h.URL+"/api/v1/login", strings.NewReader(fmt.Sprintf(`{"phone":%q,"password":%q}`, e["phone"], e["password"])))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sessionPrefix + "expired"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("login with a stale cookie: %d", resp.StatusCode)
	}
}

func TestCrossSiteCookieWriteRefused(t *testing.T) {
	h := newHarness(t)
	_, tok := h.resident(t)
	req, _ := http.NewRequest("POST", h.URL+"/api/v1/me/declarations", strings.NewReader(`{"temperature":36.5,"contact_with_case":false}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-site write with cookie: %d, want 403", resp.StatusCode)
	}
}

func TestVerifyEndpoint(t *testing.T) {
	h := newHarness(t)
	_, tok := h.resident(t)
	var c struct{ Payload string }
	h.do(t, "GET", "/api/v1/me/code", tok, nil).json(t, &c)
	var v code.Verdict
	h.do(t, "POST", "/api/v1/verify", "", map[string]string{"payload": c.Payload}).json(t, &v)
	if !v.Valid || v.Color != healthcode.Green || v.SubjectDisplay != "张*三" || v.Issuer != "330100" {
		t.Errorf("verdict %+v", v)
	}
	h.do(t, "POST", "/api/v1/verify", "", map[string]string{"payload": c.Payload, "at": time.Now().Add(time.Hour).Format(time.RFC3339)}).json(t, &v)
	if v.Valid || v.RejectCode != code.Expired {
		t.Errorf("an hour later: %+v", v)
	}
	// A picture of the code, posted as the body.
	png := h.do(t, "GET", "/api/v1/me/code.png", tok, nil).body
	req, _ := http.NewRequest("POST", h.URL+"/api/v1/verify", bytes.NewReader(png))
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	v = code.Verdict{}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || !v.Valid {
		t.Errorf("verify PNG: %v %+v", err, v)
	}
	if r := h.do(t, "POST", "/api/v1/verify", "", map[string]string{}); r.status != 400 {
		t.Errorf("empty verify request: %d", r.status)
	}
}

// TestExactRoutesAgreeWithMux checks the lookup ServeHTTP makes before the
// mux: for every route without wildcards it finds the route the mux would
// choose, and it leaves to the mux what only the mux decides.
func TestExactRoutesAgreeWithMux(t *testing.T) {
	srv := New(Config{}, Deps{})
	n := 0
	for _, name := range srv.Routes() {
		method, pattern, _ := strings.Cut(name, " ")
		if strings.Contains(pattern, "{") || strings.HasSuffix(pattern, "/") {
			continue
		}
		n++
		r := httptest.NewRequest(method, pattern, nil)
		if srv.exactHandler(r) == nil {
			t.Errorf("%s: not found by path", name)
		}
		if _, chosen := srv.mux.Handler(r); chosen != name {
			t.Errorf("%s: the mux chooses %q", name, chosen)
		}
	}
	if n < 20 {
		t.Fatalf("only %d routes without wildcards: the test lost its routes", n)
	}
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/api/v1/me%2Fcode", nil),  // the mux matches escaped segments
		httptest.NewRequest("HEAD", "/api/v1/me/code", nil),   // the mux answers HEAD from GET
		httptest.NewRequest("DELETE", "/api/v1/me/code", nil), // and decides what other methods get
		httptest.NewRequest("GET", "/api/v1/me/code/", nil),
	} {
		if srv.exactHandler(r) != nil {
			t.Errorf("%s %s: found by path, which is the mux's to decide", r.Method, r.URL.RequestURI())
		}
	}
}
