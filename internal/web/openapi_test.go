package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/trust"
)

// loadOpenAPI returns the served document, decoded.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := openAPIDocument()
	if err != nil {
		t.Fatalf("openAPIDocument: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	return doc
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type openAPIOp struct {
	path, method string // method upper-case, path as in the document
	pathItem     map[string]any
	op           map[string]any
}

func (o openAPIOp) key() string { return o.method + " " + o.path }

func openAPIOps(t *testing.T, doc map[string]any) map[string]openAPIOp {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("the document has no paths object")
	}
	ops := map[string]openAPIOp{}
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for _, m := range openAPIMethods {
			if op, ok := item[m].(map[string]any); ok {
				o := openAPIOp{path: path, method: strings.ToUpper(m), pathItem: item, op: op}
				ops[o.key()] = o
			}
		}
	}
	return ops
}

// openAPIPath turns a ServeMux pattern into an OpenAPI path template.
func openAPIPath(pattern string) string {
	pattern = strings.TrimSuffix(pattern, "{$}")
	return strings.ReplaceAll(pattern, "...}", "}")
}

func openAPITestServer() *Server { return New(Config{}, Deps{}) }

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := openAPIOps(t, doc)
	s := openAPITestServer()

	registered := map[string]bool{}
	for _, r := range s.Routes() {
		// The document describes the JSON API: web pages and their assets
		// (pageRoutes in routes.go) are listed in docs/api.md instead.
		if s.IsPage(r) {
			continue
		}
		method, pattern, _ := strings.Cut(r, " ")
		key := method + " " + openAPIPath(pattern)
		registered[key] = true
		if _, ok := ops[key]; !ok {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for key := range ops {
		if !registered[key] {
			t.Errorf("openapi.yaml documents %s, which is not a route", key)
		}
	}
	for _, rt := range s.routes {
		o, ok := ops[rt.method+" "+openAPIPath(rt.pattern)]
		if !ok {
			continue
		}
		if got := o.op["summary"]; got != rt.summary {
			t.Errorf("%s: summary %q in openapi.yaml, %q in routes.go", o.key(), got, rt.summary)
		}
	}
}

func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi is %v, want 3.1.0", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Error("info needs a title and a version")
	}

	// Every $ref resolves inside the document, and every component is used.
	used := map[string]bool{}
	walkOpenAPI(doc, func(v map[string]any, where string) {
		ref, ok := v["$ref"].(string)
		if !ok {
			return
		}
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("%s: $ref %q does not point into components", where, ref)
			return
		}
		if _, err := openAPIPointer(doc, ref); err != nil {
			t.Errorf("%s: $ref %q: %v", where, ref, err)
		}
		used[ref] = true
	}, "#")
	components, _ := doc["components"].(map[string]any)
	for kind, v := range components {
		if kind == "securitySchemes" {
			continue
		}
		for name := range v.(map[string]any) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is never referenced", ref)
			}
		}
	}

	// Operations are unique by id, and every path parameter is declared.
	ids := map[string]string{}
	wildcard := regexp.MustCompile(`\{([^}]+)\}`)
	for key, o := range openAPIOps(t, doc) {
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", key)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share operationId %s", key, other, id)
		}
		ids[id] = key
		var want []string
		for _, m := range wildcard.FindAllStringSubmatch(o.path, -1) {
			want = append(want, m[1])
		}
		var got []string
		for _, list := range []any{o.pathItem["parameters"], o.op["parameters"]} {
			params, _ := list.([]any)
			for _, p := range params {
				p := openAPIResolve(t, doc, p)
				if p["in"] == "path" {
					got = append(got, fmt.Sprint(p["name"]))
					if p["required"] != true {
						t.Errorf("%s: path parameter %v must be required", key, p["name"])
					}
				}
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: path parameters %v, want %v", key, got, want)
		}
	}
}

func TestOpenAPIAccess(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := openAPIOps(t, doc)
	schemes, _ := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	for _, name := range []string{"bearerToken", "sessionCookie"} {
		if schemes[name] == nil {
			t.Errorf("securityScheme %s is missing", name)
		}
	}
	if doc["security"] != nil {
		t.Error("security is per operation; the document must not set a default")
	}
	accessNames := map[access]string{public: "public", resident: "resident", roles: "roles"}
	for _, rt := range openAPITestServer().routes {
		o, ok := ops[rt.method+" "+openAPIPath(rt.pattern)]
		if !ok {
			continue // reported by TestOpenAPIDocumentsEveryRoute
		}
		key := o.key()
		if got, want := o.op["x-healthcode-access"], accessNames[rt.access]; got != want {
			t.Errorf("%s: x-healthcode-access %v, routes.go says %s", key, got, want)
		}
		var roleNames []string
		for _, r := range rt.roles {
			roleNames = append(roleNames, string(r))
		}
		var docRoles []string
		if list, ok := o.op["x-healthcode-roles"].([]any); ok {
			for _, r := range list {
				docRoles = append(docRoles, fmt.Sprint(r))
			}
		}
		if !slices.Equal(docRoles, roleNames) {
			t.Errorf("%s: x-healthcode-roles %v, routes.go says %v", key, docRoles, roleNames)
		}
		desc, _ := o.op["description"].(string)
		if !strings.Contains(desc, "**Who may call:**") {
			t.Errorf("%s: the description does not say who may call it", key)
		}
		for _, r := range roleNames {
			if !strings.Contains(desc, "`"+r+"`") {
				t.Errorf("%s: the description does not name the role `%s`", key, r)
			}
		}

		var security []string
		if list, ok := o.op["security"].([]any); ok {
			for _, req := range list {
				for name := range req.(map[string]any) {
					security = append(security, name)
				}
			}
		}
		slices.Sort(security)
		var wantSecurity []string
		switch rt.access {
		case resident:
			wantSecurity = []string{"bearerToken", "sessionCookie"}
		case roles:
			wantSecurity = []string{"bearerToken"}
		}
		if !slices.Equal(security, wantSecurity) {
			t.Errorf("%s: security %v, want %v", key, security, wantSecurity)
		}

		responses, _ := o.op["responses"].(map[string]any)
		if rt.access != public && responses["401"] == nil {
			t.Errorf("%s: needs authentication but documents no 401", key)
		}
		if rt.access != public && responses["403"] == nil {
			t.Errorf("%s: is limited to %s but documents no 403", key, accessNames[rt.access])
		}
		success := 0
		for status, r := range responses {
			switch {
			case strings.HasPrefix(status, "2"):
				success++
			case strings.HasPrefix(status, "4") || strings.HasPrefix(status, "5"):
				ref, _ := r.(map[string]any)["$ref"].(string)
				if !strings.HasPrefix(ref, "#/components/responses/") {
					t.Errorf("%s: response %s should reference a shared response", key, status)
				}
			}
		}
		if success != 1 {
			t.Errorf("%s: documents %d success responses, want 1", key, success)
		}
	}
}

// TestOpenAPIProtectedReads: the routes marked as protected reads in
// routes.go, and only they, say so in the document and take a purpose.
func TestOpenAPIProtectedReads(t *testing.T) {
	ops := openAPIOps(t, loadOpenAPI(t))
	s := openAPITestServer()
	if len(s.reads) == 0 {
		t.Fatal("no route is marked as a protected read")
	}
	for _, rt := range s.routes {
		key := rt.method + " " + rt.pattern
		o, ok := ops[rt.method+" "+openAPIPath(rt.pattern)]
		if !ok {
			continue
		}
		_, protected := s.reads[key]
		if got := o.op["x-healthcode-protected-read"] == true; got != protected {
			t.Errorf("%s: x-healthcode-protected-read %v, routes.go says %v", key, got, protected)
		}
		purpose := false
		params, _ := o.op["parameters"].([]any)
		for _, p := range params {
			if m, _ := p.(map[string]any); m["$ref"] == "#/components/parameters/Purpose" {
				purpose = true
			}
		}
		if purpose != protected {
			t.Errorf("%s: takes a purpose: %v; is a protected read: %v", key, purpose, protected)
		}
	}
}

// openAPISchemaTypes pairs the document's object schemas with the Go types the
// handlers decode (requests) or encode (responses). Responses built from map
// literals in the handlers are not listed.
var openAPISchemaTypes = []struct {
	schema   string
	typ      any
	response bool
}{
	{"Error", errorBody{}, true},
	{"ErrorDetail", errorDetail{}, true},
	{"FieldError", healthcode.FieldError{}, true},
	{"Enrollment", enrollRequest{}, false},
	{"DependentEnrollment", enrollRequest{}, false},
	{"Resident", residentResponse{}, true},
	{"LoginRequest", loginRequest{}, false},
	{"Visit", visitJSON{}, false},
	{"DeclarationRequest", declarationRequest{}, false},
	{"Declaration", declarationResponse{}, true},
	{"Reason", healthcode.Reason{}, true},
	{"Status", statusResponse{}, true},
	{"StatusChange", historyEntry{}, true},
	{"Notifications", notificationsResponse{}, true},
	{"Notification", notificationJSON{}, true},
	{"VerifyRequest", verifyRequest{}, false},
	{"Verdict", code.Verdict{}, true},
	{"TrustList", trust.List{}, true},
	{"TrustListEntry", trust.Entry{}, true},
	{"Rule", healthcode.Rule{}, true},
	{"RuleReason", healthcode.RuleReason{}, true},
	{"TestResultRequest", testResultRequest{}, false},
	{"VaccinationRequest", vaccinationRequest{}, false},
	{"CaseRequest", caseRequest{}, false},
	{"Case", caseResponse{}, true},
	{"DischargeRequest", dischargeRequest{}, false},
	{"AreaRequest", areaRequest{}, false},
	{"Area", areaResponse{}, true},
	{"Policy", healthcode.Policy{}, false}, // a request body (PUT policy) and part of a venue
	{"Policy", healthcode.Policy{}, true},
	{"VenueRequest", venueRequest{}, false},
	{"Venue", venueResponse{}, true},
	{"CheckpointTokenRequest", checkpointTokenRequest{}, false},
	{"CheckIn", checkInJSON{}, false},
	{"CheckInBatch", checkInBatch{}, false},
	{"CheckInResult", healthcode.CheckInResult{}, true},
	{"PlaceCheckInRequest", placeCheckInRequest{}, false},
	{"PlaceCheckIn", placeCheckInResponse{}, true},
	{"TraceRequest", traceRequest{}, false},
	{"TraceResult", traceResponse{}, true},
	{"Contact", healthcode.Contact{}, true},
	{"Exposure", healthcode.Exposure{}, true},
	{"DesignateRequest", designateRequest{}, false},
	{"Designation", designation{}, true},
	{"PaperCode", paperCodeResponse{}, true},
	{"PaperCodeRequest", documentRef{}, false},
	// Accountability.
	{"FactRef", healthcode.FactRef{}, false}, // in requests and in answers
	{"FactRef", healthcode.FactRef{}, true},
	{"FactSummary", factSummaryJSON{}, true},
	{"AppealRequest", appealRequest{}, false},
	{"Appeal", appealJSON{}, true},
	{"AppealQueueItem", appealQueueItem{}, true},
	{"AppealReview", appealReview{}, true},
	{"AppealDecisionRequest", appealDecisionRequest{}, false},
	{"OverrideRequest", overrideRequest{}, false},
	{"Override", overrideJSON{}, true},
	{"OverrideQueueItem", overrideQueueItem{}, true},
	{"OverrideReview", overrideReview{}, true},
	{"OverrideDecisionRequest", overrideDecisionRequest{}, false},
	{"AuditEntry", auditEntryJSON{}, true},
	{"AuditPage", auditPage{}, true},
	{"AuditVerification", auditVerification{}, true},
	{"AccessLogEntry", accessLogEntry{}, true},
	{"ExportTestResult", testResultJSON{}, true},
	{"ExportVaccination", vaccinationJSON{}, true},
	{"ExportContact", contactJSON{}, true},
	{"Withdrawal", withdrawalJSON{}, true},
	{"RetainedReason", retainedReasonJSON{}, true},
	{"ExportStatusChange", exportHistoryEntry{}, true},
	{"RuleSetSource", ruleSetJSON{}, true},
	{"RuleSetVersion", ruleSetResponse{}, true},
	{"RuleSetPublications", publicationsResponse{}, true},
	{"RuleSetPublication", publicationJSON{}, true},
	{"RuleSetPublished", publishResponse{}, true},
	{"RuleSetDiff", ruleSetDiffResponse{}, true},
	{"RuleChange", ruleChangeJSON{}, true},
	{"FieldChange", fieldChangeJSON{}, true},
	{"DiffLine", diffLineJSON{}, true},
	{"ExportCheckIn", exportedCheckIn{}, true},
	{"ExportPaperCode", exportedPaperCode{}, true},
	{"Export", exportResponse{}, true},
	// Federation.
	{"NoticeReceipt", healthcode.NoticeReceipt{}, true},
	{"ProposalResult", healthcode.ProposalResult{}, true},
	{"NoticeExposure", noticeExposureJSON{}, true},
	{"ContactProposal", proposalJSON{}, true},
	{"ProposalDecision", proposalDecision{}, true},
	{"DismissRequest", dismissRequest{}, false},
	{"OutgoingNotice", outgoingNoticeJSON{}, true},
}

func openAPISchemaType(name string) (reflect.Type, bool) {
	for _, st := range openAPISchemaTypes {
		if st.schema == name {
			return reflect.TypeOf(st.typ), true
		}
	}
	return nil, false
}

type openAPIField struct {
	name     string
	optional bool // omitempty or omitzero: may be absent from a response
}

// openAPIFields lists the JSON object members of a struct type as
// encoding/json sees them, with embedded structs' fields promoted.
func openAPIFields(typ reflect.Type) []openAPIField {
	var out []openAPIField
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, openAPIFields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := false
		for o := range strings.SplitSeq(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		out = append(out, openAPIField{name, optional})
	}
	return out
}

func openAPISorted(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
	case map[string]any:
		for k := range v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPISchemasMatchTypes checks the schemas' field names against the
// Go structs: a request schema has exactly the fields the handler decodes
// and refuses others; a response schema has exactly the fields the handler
// encodes, and requires those that are always present.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, st := range openAPISchemaTypes {
		s, ok := schemas[st.schema].(map[string]any)
		if !ok {
			t.Errorf("schema %s is missing", st.schema)
			continue
		}
		var all, always []string
		for _, f := range openAPIFields(reflect.TypeOf(st.typ)) {
			all = append(all, f.name)
			if !f.optional {
				always = append(always, f.name)
			}
		}
		slices.Sort(all)
		slices.Sort(always)
		if got := openAPISorted(s["properties"]); !slices.Equal(got, all) {
			t.Errorf("schema %s has properties %v; %T has %v", st.schema, got, st.typ, all)
		}
		if st.response {
			if got := openAPISorted(s["required"]); !slices.Equal(got, always) {
				t.Errorf("schema %s requires %v; %T always has %v", st.schema, got, st.typ, always)
			}
		} else if s["additionalProperties"] != false {
			t.Errorf("request schema %s must say additionalProperties: false (unknown fields are refused)", st.schema)
		}
	}
}

// TestOpenAPIExamples decodes every JSON example strictly into the Go type
// of its schema, so that an example with a misspelt field fails, and checks
// that the enrollment examples would be accepted.
func TestOpenAPIExamples(t *testing.T) {
	doc := loadOpenAPI(t)
	checked := 0
	walkOpenAPI(doc, func(media map[string]any, where string) {
		schema, ok := media["schema"].(map[string]any)
		if !ok {
			return
		}
		ref, _ := schema["$ref"].(string)
		typ, ok := openAPISchemaType(strings.TrimPrefix(ref, "#/components/schemas/"))
		if !ok {
			return
		}
		var examples []any
		if ex, ok := media["example"]; ok {
			examples = append(examples, ex)
		}
		if exs, ok := media["examples"].(map[string]any); ok {
			for _, ex := range exs {
				examples = append(examples, openAPIResolve(t, doc, ex)["value"])
			}
		}
		for _, ex := range examples {
			raw, _ := json.Marshal(ex)
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			v := reflect.New(typ)
			if err := dec.Decode(v.Interface()); err != nil {
				t.Errorf("%s: example %s does not decode as %s: %v", where, raw, typ, err)
				continue
			}
			checked++
			if req, ok := v.Interface().(*enrollRequest); ok {
				guardian := int64(0)
				if ref == "#/components/schemas/DependentEnrollment" {
					guardian = 1
				}
				if _, err := req.toResident(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), guardian); err != nil {
					t.Errorf("%s: example would be refused: %v", where, err)
				}
			}
		}
	}, "#")
	if checked < 10 {
		t.Errorf("only %d examples checked; the walk is probably broken", checked)
	}
}

// TestAPIGuideListsEveryRoute keeps the route table in docs/api.md complete.
func TestAPIGuideListsEveryRoute(t *testing.T) {
	guide, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range openAPITestServer().Routes() {
		method, pattern, _ := strings.Cut(r, " ")
		if row := "| " + method + " | `" + pattern + "` |"; !bytes.Contains(guide, []byte(row)) {
			t.Errorf("docs/api.md has no row %q", row)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	want, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	openAPITestServer().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("Cache-Control %q", cc)
	}
	if !bytes.Equal(rec.Body.Bytes(), want) {
		t.Error("the served document differs from openAPIDocument()")
	}
}

func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a: 1\nb: [x, 'y', 2.5, true, null]\n", `{"a":1,"b":["x","y",2.5,true,null]}`},
		{"200: ok\n'201': created\n", `{"200":"ok","201":"created"}`},
		{"d: 2026-11-20\nt: 2026-11-20T09:30:00+08:00\n", `{"d":"2026-11-20","t":"2026-11-20T09:30:00+08:00"}`},
		{"z: 1\na: 2\n", `{"z":1,"a":2}`},
		{"s: <b> & \"q\"\n", `{"s":"<b> & \"q\""}`},
		{"base: &b {x: 1}\nother: *b\n", `{"base":{"x":1},"other":{"x":1}}`},
	} {
		got, err := yamlToJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("yamlToJSON(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"a: 1\na: 2\n", "a: .inf\n", "[a, b]: 1\n", "a: !!binary aGk=\n"} {
		if got, err := yamlToJSON([]byte(bad)); err == nil {
			t.Errorf("yamlToJSON(%q) = %s, want an error", bad, got)
		}
	}
}

// walkOpenAPI calls f for every object in v, with a JSON pointer to it.
func walkOpenAPI(v any, f func(map[string]any, string), where string) {
	switch v := v.(type) {
	case map[string]any:
		f(v, where)
		for k, c := range v {
			walkOpenAPI(c, f, where+"/"+openAPIEscape(k))
		}
	case []any:
		for i, c := range v {
			walkOpenAPI(c, f, fmt.Sprintf("%s/%d", where, i))
		}
	}
}

func openAPIEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func openAPIPointer(doc map[string]any, ref string) (any, error) {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not inside an object", part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("%q not found", part)
		}
	}
	return cur, nil
}

// resolve follows a $ref, if v is one, and returns the object.
func openAPIResolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		target, err := openAPIPointer(doc, ref)
		if err != nil {
			t.Fatalf("$ref %s: %v", ref, err)
		}
		m, _ = target.(map[string]any)
	}
	return m
}

// openAPICheckKeys checks a live JSON object against a schema of the
// document: every member is a property, and every required property is
// there. It is for the responses the handlers build from map literals,
// which TestOpenAPISchemasMatchTypes cannot reflect on.
func openAPICheckKeys(t *testing.T, doc map[string]any, schema string, body []byte) {
	t.Helper()
	s, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)[schema].(map[string]any)
	if s == nil {
		t.Errorf("schema %s is missing", schema)
		return
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Errorf("%s: the response is not a JSON object: %v in %s", schema, err, body)
		return
	}
	props, _ := s["properties"].(map[string]any)
	for k := range got {
		if _, ok := props[k]; !ok {
			t.Errorf("schema %s has no property %q, which the server sends", schema, k)
		}
	}
	for _, k := range openAPISorted(s["required"]) {
		if _, ok := got[k]; !ok {
			t.Errorf("schema %s requires %q, which the server did not send in %s", schema, k, body)
		}
	}
}

// TestOpenAPIMapResponses calls the routes whose answers are map literals
// (and the status list, whose payload is private to its package) and checks
// them against their schemas.
func TestOpenAPIMapResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	h := newHarness(t)
	expect := func(r reply, status int, what string) reply {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		return r
	}
	venueTok := h.tokens[healthcode.RoleVenue]

	r := expect(h.do(t, "POST", "/api/v1/venues", venueTok, map[string]any{"name": "银泰百货武林店", "type": "mall",
		"region": "330103", "address": "延安路 530 号"}), 201, "create venue")
	var v struct{ ID int64 }
	r.json(t, &v)
	openAPICheckKeys(t, doc, "VenueList", expect(h.do(t, "GET", "/api/v1/venues", venueTok, nil), 200, "list venues").body)

	r = expect(h.do(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", v.ID), venueTok,
		map[string]any{"name": "north gate"}), 201, "checkpoint token")
	openAPICheckKeys(t, doc, "CheckpointToken", r.body)
	var tok struct{ Token string }
	r.json(t, &tok)
	openAPICheckKeys(t, doc, "CheckpointInfo", expect(h.do(t, "GET", "/api/v1/checkpoint", tok.Token, nil), 200, "checkpoint").body)

	at := h.clock.Now().UTC().Format(time.RFC3339)
	item := map[string]any{"id": "openapi-0001", "subject": "SK7LM5FY", "issuer": "330100", "venue_id": v.ID,
		"at": at, "decision": "admit", "color": "green"}
	other := map[string]any{"id": "openapi-0002", "subject": "SK7LM5FY", "issuer": "330100", "venue_id": v.ID + 1000,
		"at": at, "decision": "admit", "color": "green"}
	r = expect(h.do(t, "POST", "/api/v1/checkins", tok.Token, map[string]any{"checkins": []any{item, item, other}}), 200, "upload")
	openAPICheckKeys(t, doc, "CheckInBatchResult", r.body)

	e := enrollment()
	expect(h.do(t, "POST", "/api/v1/residents", "", e), 201, "enroll")
	r = expect(h.do(t, "POST", "/api/v1/cases", h.tokens[healthcode.RoleTracer], map[string]any{"id_type": e["id_type"],
		"id_number": e["id_number"], "sample_date": h.clock.Now().Add(-24 * time.Hour).Format("2006-01-02")}), 201, "case")
	var cr struct{ Case struct{ ID int64 } }
	r.json(t, &cr)
	r = expect(h.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/designate?purpose=openapi+test", cr.Case.ID), h.tokens[healthcode.RoleTracer],
		map[string]any{"subjects": []string{"NOBODY42"}}), 200, "designate")
	openAPICheckKeys(t, doc, "DesignationResult", r.body)

	r = expect(h.do(t, "GET", "/.well-known/healthcode/status-list", "", nil), 200, "status list")
	parts := strings.Split(string(r.body), ".")
	if len(parts) != 3 {
		t.Fatalf("the status list is not a compact JWS: %s", r.body)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("status list payload: %v", err)
	}
	openAPICheckKeys(t, doc, "StatusList", payload)
}
