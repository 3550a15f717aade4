package sqlstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
)

// runStoreSuite runs every store test on fresh databases from newURL, which
// returns the URL of an empty database that lives as long as its tb.
func runStoreSuite(t *testing.T, newURL func(tb testing.TB) string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Enroll", testEnroll},
		{"DuplicateDocument", testDuplicateDocument},
		{"DuplicatePhone", testDuplicatePhone},
		{"Dependents", testDependents},
		{"PseudonymCollision", testPseudonymCollision},
		{"PersonalDataEncrypted", testPersonalDataEncrypted},
		{"Sessions", testSessions},
		{"APITokens", testAPITokens},
		{"FactWriters", testFactWriters},
		{"DischargeCase", testDischargeCase},
		{"CurrentStatusCache", testCurrentStatusCache},
		{"CurrentStatusAfterValidUntil", testCurrentStatusAfterValidUntil},
		{"RuleSetChange", testRuleSetChange},
		{"AddAreaRisk", testAddAreaRisk},
		{"LoadFacts", testLoadFacts},
		{"ListDeclarations", testListDeclarations},
		{"NotFound", testNotFound},
		{"Invalid", testInvalid},
		{"PublishRuleSet", testPublishRuleSet},
		{"RuleSetPublications", testRuleSetPublications},
		{"RuleSetReload", testRuleSetReload},
		{"RefreshOutdatedStatuses", testRefreshOutdatedStatuses},
		{"Migrations", testMigrations},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ResidentLock", testResidentLock},
		{"Venues", testVenues},
		{"TokenVenues", testTokenVenues},
		{"AddCheckIns", testAddCheckIns},
		{"ConcurrentCheckIns", testConcurrentCheckIns},
		{"ListCheckIns", testListCheckIns},
		{"PaperCodes", testPaperCodes},
		{"PaperCodeExpiry", testPaperCodeExpiry},
		{"ConcurrentPaperCodes", testConcurrentPaperCodes},
		{"FindResidentByPseudonym", testFindResidentByPseudonym},
		{"BulkCreateResidents", testBulkCreateResidents},
		{"BulkInsertCheckIns", testBulkInsertCheckIns},
		{"Notifications", testNotifications},
		// Accountability (issue 4).
		{"AuditWrites", testAuditWrites},
		{"AuditTamper", testAuditTamper},
		{"AuditTail", testAuditTail},
		{"AuditConcurrent", testAuditConcurrent},
		{"ProtectedReads", testProtectedReads},
		{"ListAudit", testListAudit},
		{"AppealUpheld", testAppealUpheld},
		{"AppealRejected", testAppealRejected},
		{"AppealValidation", testAppealValidation},
		{"Override", testOverride},
		{"Export", testExport},
		{"LatestTest", testLatestTest},
		{"Recoveries", testRecoveries},
		{"Retention", testRetention},
		{"RetentionKeepsRunningStatus", testRetentionKeepsRunningStatus},
		{"EndOfEmergency", testEndOfEmergency},
		{"RetainedReasonWithdrawn", testRetainedReasonWithdrawn},
		{"Outbox", testOutbox},
		{"PurgeCheckIns", testPurgeCheckIns},
		{"CheckInLoad", testCheckInLoad},
		{"ChangeFeed", testChangeFeed},
		{"LoginLockout", testLoginLockout},
		{"TrustedPeers", testTrustedPeers},
		{"ContactNotices", testContactNotices},
		{"TrustedPeerAudit", testTrustedPeerAudit},
		{"Dashboard", testDashboard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newEnv(t, newURL(t)))
		})
	}
}

func testEnroll(t *testing.T, e *env) {
	r := e.newResident()
	r.BirthDate = time.Date(1980, 5, 17, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)) // stored as the calendar day
	if err := e.db.CreateResident(e.ctx, r, "$argon2id$hash"); err != nil {
		t.Fatal(err)
	}
	if r.ID == 0 || !regexp.MustCompile(`^[A-Z2-7]{8}$`).MatchString(r.Pseudonym) {
		t.Errorf("ID %d, pseudonym %q: want an id and 8 base32 characters", r.ID, r.Pseudonym)
	}
	if want := e.clock.Now().Truncate(time.Microsecond); !r.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt %v, want %v", r.CreatedAt, want)
	}
	if want := time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC); !r.BirthDate.Equal(want) {
		t.Errorf("BirthDate %v, want %v", r.BirthDate, want)
	}

	got, err := e.db.FindResidentByID(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("FindResidentByID (-enrolled +found):\n%s", diff)
	}
	got, err = e.db.FindResidentByDocument(e.ctx, healthcode.ResidentIDCard, " "+strings.ToLower(r.IDNumber)+" ")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("FindResidentByDocument (-enrolled +found):\n%s", diff)
	}
	_, err = e.db.FindResidentByDocument(e.ctx, healthcode.Passport, r.IDNumber)
	wantCode(t, err, healthcode.ENOTFOUND)
	got, hash, err := e.db.FindLogin(e.ctx, r.Phone)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" || hash != "$argon2id$hash" {
		t.Errorf("FindLogin: hash %q (-enrolled +found):\n%s", hash, diff)
	}
	_, _, err = e.db.FindLogin(e.ctx, "13900000000")
	wantCode(t, err, healthcode.ENOTFOUND)

	st, err := e.db.CurrentStatus(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Color != healthcode.Green || st.Vaccinated || len(st.Reasons) != 0 {
		t.Errorf("initial status %+v, want green without reasons", st)
	}
	hist, err := e.db.StatusHistory(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Cause != "enrolled" || hist[0].Status.Color != healthcode.Green || hist[0].ResidentID != r.ID {
		t.Errorf("history %+v, want one green entry caused by enrollment", hist)
	}
}

func testDuplicateDocument(t *testing.T, e *env) {
	a := e.enroll(t)
	b := e.newResident()
	b.IDNumber = a.IDNumber
	err := e.db.CreateResident(e.ctx, b, "")
	wantCode(t, err, healthcode.ECONFLICT)
	if msg := healthcode.ErrorMessage(err); msg != "a resident with this resident_id number is already enrolled" {
		t.Errorf("message %q", msg)
	}
	if b.ID != 0 || b.Pseudonym != "" {
		t.Errorf("a failed enrollment filled in ID %d, pseudonym %q", b.ID, b.Pseudonym)
	}
	// The same number on another kind of document is another document.
	b.IDType = healthcode.Passport
	if err := e.db.CreateResident(e.ctx, b, ""); err != nil {
		t.Fatalf("same number as a passport: %v", err)
	}
}

func testDuplicatePhone(t *testing.T, e *env) {
	a := e.enroll(t)
	b := e.newResident()
	b.Phone = a.Phone
	err := e.db.CreateResident(e.ctx, b, "")
	wantCode(t, err, healthcode.ECONFLICT)
	if msg := healthcode.ErrorMessage(err); msg != "this phone number is already registered" {
		t.Errorf("message %q", msg)
	}
	// Nothing of the failed enrollment remains.
	if _, err := e.db.FindResidentByDocument(e.ctx, b.IDType, b.IDNumber); healthcode.ErrorCode(err) != healthcode.ENOTFOUND {
		t.Errorf("the failed enrollment left a resident (%v)", err)
	}
}

func testDependents(t *testing.T, e *env) {
	g := e.enroll(t)
	var deps []*healthcode.Resident
	for range 2 { // two dependents without a phone: NULLs do not collide
		deps = append(deps, e.enroll(t, func(r *healthcode.Resident) { r.Phone, r.GuardianID = "", g.ID }))
	}
	got, err := e.db.ListDependents(e.ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(deps, got); diff != "" {
		t.Errorf("ListDependents (-want +got):\n%s", diff)
	}
	got, err = e.db.ListDependents(e.ctx, deps[0].ID)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("ListDependents of a dependent: %v, %v; want an empty list", got, err)
	}
	_, err = e.db.ListDependents(e.ctx, 9999)
	wantCode(t, err, healthcode.ENOTFOUND)

	orphan := e.newResident()
	orphan.Phone, orphan.GuardianID = "", 9999
	wantCode(t, e.db.CreateResident(e.ctx, orphan, ""), healthcode.ENOTFOUND)
}

func testPseudonymCollision(t *testing.T, e *env) {
	a := e.enroll(t)
	var calls int
	e.db.newPseudonym = func() string { // collide twice, then not
		calls++
		if calls <= 2 {
			return a.Pseudonym
		}
		return randomPseudonym()
	}
	b := e.enroll(t)
	if calls != 3 || b.Pseudonym == a.Pseudonym {
		t.Errorf("%d pseudonyms drawn, got %q (first resident %q)", calls, b.Pseudonym, a.Pseudonym)
	}
}

func testPersonalDataEncrypted(t *testing.T, e *env) {
	r := e.enroll(t, func(r *healthcode.Resident) {
		r.Name = "欧阳娜娜"
		r.Address = "浙江省杭州市西湖区灵隐路99号"
	})
	secrets := []string{r.Name, r.IDNumber, r.Phone, r.Address}

	// Every column of the row, raw.
	rows, err := e.db.read.QueryContext(e.ctx, `SELECT * FROM residents WHERE id = $1`, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatal("no row")
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for i, v := range vals {
		raw := fmt.Appendf(nil, "%s", v)
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("column %s holds %q in clear", cols[i], s)
			}
		}
	}
	var nameEnc []byte
	if err := e.db.read.QueryRowContext(e.ctx, `SELECT name_enc FROM residents WHERE id = $1`, r.ID).Scan(&nameEnc); err != nil {
		t.Fatal(err)
	}
	if name, err := e.db.cipher.Open(nameEnc, sealName); err != nil || name != r.Name {
		t.Errorf("name_enc opens to %q, %v", name, err)
	}

	if e.db.Engine() != "sqlite" {
		return
	}
	// The whole file, write-ahead log included.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{e.url, e.url + "-wal"} {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q in clear", name, s)
			}
		}
	}
}

func testSessions(t *testing.T, e *env) {
	r := e.enroll(t)
	s := &healthcode.Session{ResidentID: r.ID, Hash: []byte("session-hash-1"), ExpiresAt: e.clock.Now().Add(time.Hour)}
	if err := e.db.CreateSession(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := e.db.FindSession(e.ctx, s.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("FindSession (-created +found):\n%s", diff)
	}
	wantCode(t, e.db.CreateSession(e.ctx, &healthcode.Session{ResidentID: r.ID, Hash: s.Hash, ExpiresAt: s.ExpiresAt}),
		healthcode.ECONFLICT)
	wantCode(t, e.db.CreateSession(e.ctx, &healthcode.Session{ResidentID: 9999, Hash: []byte("x"), ExpiresAt: s.ExpiresAt}),
		healthcode.ENOTFOUND)

	e.clock.Advance(59 * time.Minute)
	if _, err := e.db.FindSession(e.ctx, s.Hash); err != nil {
		t.Fatalf("a minute before expiry: %v", err)
	}
	e.clock.Advance(time.Minute)
	_, err = e.db.FindSession(e.ctx, s.Hash)
	wantCode(t, err, healthcode.EUNAUTHORIZED)
	_, err = e.db.FindSession(e.ctx, []byte("unknown"))
	wantCode(t, err, healthcode.EUNAUTHORIZED)

	s2 := &healthcode.Session{ResidentID: r.ID, Hash: []byte("session-hash-2"), ExpiresAt: e.clock.Now().Add(time.Hour)}
	if err := e.db.CreateSession(e.ctx, s2); err != nil {
		t.Fatal(err)
	}
	if err := e.db.DeleteSession(e.ctx, s2.Hash); err != nil {
		t.Fatal(err)
	}
	_, err = e.db.FindSession(e.ctx, s2.Hash)
	wantCode(t, err, healthcode.EUNAUTHORIZED)
	if err := e.db.DeleteSession(e.ctx, s2.Hash); err != nil {
		t.Errorf("deleting a deleted session: %v", err)
	}
}

func testAPITokens(t *testing.T, e *env) {
	tok := &healthcode.APIToken{Name: "lab-1", Role: healthcode.RoleLab, Hash: []byte("token-hash-1")}
	if err := e.db.CreateAPIToken(e.ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := e.db.FindAPIToken(e.ctx, tok.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got); diff != "" || tok.ID == 0 {
		t.Errorf("FindAPIToken (-created +found):\n%s", diff)
	}
	wantCode(t, e.db.CreateAPIToken(e.ctx, &healthcode.APIToken{Name: "x", Role: healthcode.RoleResident, Hash: []byte("h")}),
		healthcode.EINVALID)
	wantCode(t, e.db.CreateAPIToken(e.ctx, &healthcode.APIToken{Name: "lab-2", Role: healthcode.RoleLab, Hash: tok.Hash}),
		healthcode.ECONFLICT)

	if err := e.db.RevokeAPIToken(e.ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.db.FindAPIToken(e.ctx, tok.Hash)
	wantCode(t, err, healthcode.EUNAUTHORIZED)
	if err := e.db.RevokeAPIToken(e.ctx, tok.ID); err != nil {
		t.Errorf("revoking a revoked token: %v", err)
	}
	wantCode(t, e.db.RevokeAPIToken(e.ctx, 9999), healthcode.ENOTFOUND)
	_, err = e.db.FindAPIToken(e.ctx, []byte("unknown"))
	wantCode(t, err, healthcode.EUNAUTHORIZED)

	revoked := &healthcode.APIToken{Name: "old", Role: healthcode.RoleTracer, Hash: []byte("token-hash-2"), RevokedAt: e.clock.Now()}
	if err := e.db.CreateAPIToken(e.ctx, revoked); err != nil {
		t.Fatal(err)
	}
	_, err = e.db.FindAPIToken(e.ctx, revoked.Hash)
	wantCode(t, err, healthcode.EUNAUTHORIZED)
}

// ruleIDs lists the rules of a status's reasons.
func ruleIDs(st healthcode.Status) []string {
	var ids []string
	for _, r := range st.Reasons {
		ids = append(ids, r.Rule)
	}
	return ids
}

// checkStatus checks that a writer's status is what CurrentStatus and the
// last history entry say, with the given cause.
func checkStatus(t *testing.T, e *env, residentID int64, st healthcode.Status, cause string) {
	t.Helper()
	cur, err := e.db.CurrentStatus(e.ctx, residentID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, cur); diff != "" {
		t.Errorf("CurrentStatus differs from the writer's status (-writer +current):\n%s", diff)
	}
	hist, err := e.db.StatusHistory(e.ctx, residentID)
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Cause != cause {
		t.Errorf("last history cause %q, want %q", last.Cause, cause)
	}
	if diff := cmp.Diff(st, last.Status); diff != "" {
		t.Errorf("last history entry differs (-writer +history):\n%s", diff)
	}
	if !last.At.Equal(st.ComputedAt) {
		t.Errorf("history at %v, status computed at %v", last.At, st.ComputedAt)
	}
}

func testFactWriters(t *testing.T, e *env) {
	tests := []struct {
		name       string
		write      func(t *testing.T, r *healthcode.Resident) (healthcode.Status, string)
		color      healthcode.Color
		vaccinated bool
		rules      []string
	}{
		{
			name: "declaration with fever",
			write: func(t *testing.T, r *healthcode.Resident) (healthcode.Status, string) {
				d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.2, Symptoms: []healthcode.Symptom{healthcode.Fever}}
				st := must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
				return st, fmt.Sprintf("declaration %d", d.ID)
			},
			color: healthcode.Yellow, rules: []string{"fever_or_symptoms"},
		},
		{
			name: "positive test",
			write: func(t *testing.T, r *healthcode.Resident) (healthcode.Status, string) {
				tr := &healthcode.TestResult{ResidentID: r.ID, Type: healthcode.PCR, Result: healthcode.Positive,
					SampledAt: e.clock.Now().Add(-20 * time.Hour), ResultedAt: e.clock.Now().Add(-2 * time.Hour),
					Institution: "Hangzhou CDC lab", RecordedBy: "lab-1"}
				st := must[healthcode.Status](t)(e.db.AddTestResult(e.ctx, tr))
				return st, fmt.Sprintf("test result %d (pcr positive)", tr.ID)
			},
			color: healthcode.Red, rules: []string{"positive_test"},
		},
		{
			name: "vaccination",
			write: func(t *testing.T, r *healthcode.Resident) (healthcode.Status, string) {
				v := &healthcode.Vaccination{ResidentID: r.ID, Product: "CoronaVac", Dose: 2, SeriesDoses: 2,
					Date: e.day(-30), Institution: "Xihu clinic"}
				st := must[healthcode.Status](t)(e.db.AddVaccination(e.ctx, v))
				return st, fmt.Sprintf("vaccination %d (dose 2 of 2)", v.ID)
			},
			color: healthcode.Green, vaccinated: true, rules: []string{"vaccinated"},
		},
		{
			name: "case",
			write: func(t *testing.T, r *healthcode.Resident) (healthcode.Status, string) {
				c := &healthcode.Case{ResidentID: r.ID, SampleDate: e.day(-1), RecordedBy: "tracer-1"}
				st := must[healthcode.Status](t)(e.db.CreateCase(e.ctx, c))
				return st, fmt.Sprintf("case %d confirmed", c.ID)
			},
			color: healthcode.Red, rules: []string{"confirmed_case"},
		},
		{
			name: "contact designation",
			write: func(t *testing.T, r *healthcode.Resident) (healthcode.Status, string) {
				patient := e.enroll(t)
				c := &healthcode.Case{ResidentID: patient.ID, SampleDate: e.day(-1)}
				must[healthcode.Status](t)(e.db.CreateCase(e.ctx, c))
				cd := &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: c.ID, Venue: "Wulin Plaza",
					LastExposure: e.clock.Now().Add(-30 * time.Hour), DesignatedBy: "tracer-1"}
				st := must[healthcode.Status](t)(e.db.AddContactDesignation(e.ctx, cd))
				return st, fmt.Sprintf("contact designation %d (case %d)", cd.ID, c.ID)
			},
			color: healthcode.Yellow, rules: []string{"close_contact"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.enroll(t)
			st, cause := tt.write(t, r)
			if st.Color != tt.color || st.Vaccinated != tt.vaccinated || !slices.Equal(ruleIDs(st), tt.rules) {
				t.Errorf("status %s vaccinated=%v rules %v, want %s vaccinated=%v rules %v",
					st.Color, st.Vaccinated, ruleIDs(st), tt.color, tt.vaccinated, tt.rules)
			}
			if !st.ComputedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
				t.Errorf("computed at %v, want now", st.ComputedAt)
			}
			checkStatus(t, e, r.ID, st, cause)
		})
	}

	t.Run("unchanged status adds no history", func(t *testing.T) {
		r := e.enroll(t)
		d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.5}
		st := must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
		hist := must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, r.ID))
		if st.Color != healthcode.Green || len(hist) != 1 {
			t.Errorf("status %s, %d history entries; want green and only the enrollment", st.Color, len(hist))
		}
	})
}

func testDischargeCase(t *testing.T, e *env) {
	r := e.enroll(t)
	c := &healthcode.Case{ResidentID: r.ID, OnsetDate: e.day(-3), Note: "cluster 7"}
	must[healthcode.Status](t)(e.db.CreateCase(e.ctx, c))
	got := must[*healthcode.Case](t)(e.db.FindCase(e.ctx, c.ID))
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("FindCase (-created +found):\n%s", diff)
	}

	e.clock.Advance(10 * 24 * time.Hour)
	wantCode(t, func() error { _, _, err := e.db.DischargeCase(e.ctx, c.ID, c.ConfirmedAt.Add(-time.Hour)); return err }(),
		healthcode.EINVALID)
	dc, st, err := e.db.DischargeCase(e.ctx, c.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if now := e.clock.Now().Truncate(time.Microsecond); !dc.DischargedAt.Equal(now) || !dc.Discharged() {
		t.Errorf("discharged at %v, want now %v", dc.DischargedAt, now)
	}
	if st.Color != healthcode.Yellow || !slices.Equal(ruleIDs(st), []string{"discharged"}) {
		t.Errorf("after discharge: %s %v, want yellow [discharged]", st.Color, ruleIDs(st))
	}
	checkStatus(t, e, r.ID, st, fmt.Sprintf("case %d discharged", c.ID))

	_, _, err = e.db.DischargeCase(e.ctx, c.ID, time.Time{})
	wantCode(t, err, healthcode.ECONFLICT)
	_, _, err = e.db.DischargeCase(e.ctx, 9999, time.Time{})
	wantCode(t, err, healthcode.ENOTFOUND)

	// 14 days of monitoring later, green, and the history says why.
	e.clock.Advance(14*24*time.Hour + time.Second)
	st = must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	if st.Color != healthcode.Green {
		t.Errorf("14 days after discharge: %s, want green", st.Color)
	}
	checkStatus(t, e, r.ID, st, "time: rule discharged ended")
}

func testCurrentStatusCache(t *testing.T, e *env) {
	r := e.enroll(t)
	d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 37.8}
	st := must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
	if !st.ValidUntil.After(e.clock.Now()) {
		t.Fatalf("valid until %v, not after now", st.ValidUntil)
	}
	e.eval.n.Store(0)
	for range 3 {
		cur := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
		if diff := cmp.Diff(st, cur); diff != "" {
			t.Errorf("cached status (-stored +current):\n%s", diff)
		}
	}
	if n := e.eval.n.Load(); n != 0 {
		t.Errorf("a fresh cached status was evaluated %d times", n)
	}

	// Past ValidUntil the status is evaluated again, once; nothing changed,
	// so the history is not extended.
	e.clock.Advance(st.ValidUntil.Sub(e.clock.Now()) + time.Second)
	cur := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	if n := e.eval.n.Load(); n != 1 {
		t.Errorf("an expired status was evaluated %d times, want 1", n)
	}
	if !cur.ComputedAt.After(st.ComputedAt) || !cur.ValidUntil.After(st.ValidUntil) || !cur.Equivalent(st) {
		t.Errorf("re-evaluated status %+v, want the same status computed later", cur)
	}
	hist := must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, r.ID))
	if len(hist) != 2 {
		t.Errorf("%d history entries, want 2 (enrolled, declaration)", len(hist))
	}
}

func testCurrentStatusAfterValidUntil(t *testing.T, e *env) {
	patient := e.enroll(t)
	c := &healthcode.Case{ResidentID: patient.ID, SampleDate: e.day(-2)}
	must[healthcode.Status](t)(e.db.CreateCase(e.ctx, c))
	r := e.enroll(t)
	lastExposure := e.clock.Now().Add(-6 * 24 * time.Hour)
	cd := &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: c.ID, Venue: "Hubin mall", LastExposure: lastExposure}
	st := must[healthcode.Status](t)(e.db.AddContactDesignation(e.ctx, cd))
	if st.Color != healthcode.Yellow || !st.ValidUntil.Equal(lastExposure.Add(7*24*time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("contact: %s valid until %v, want yellow until 7 days after the exposure", st.Color, st.ValidUntil)
	}

	e.clock.Advance(st.ValidUntil.Sub(e.clock.Now()))
	st = must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
	if st.Color != healthcode.Green {
		t.Errorf("7 days after the exposure: %s %v, want green", st.Color, ruleIDs(st))
	}
	checkStatus(t, e, r.ID, st, "time: rule close_contact ended")
}

func testRuleSetChange(t *testing.T, e *env) {
	r := e.enroll(t)
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 38}))

	amended := loadRuleSet(t, append(slices.Clone(healthcode.DefaultRuleSetSource), "\n# amended\n"...))
	db2 := e.open(t, amended)
	st := must[healthcode.Status](t)(db2.CurrentStatus(e.ctx, r.ID))
	if st.RuleSetVersion != amended.RuleSet().Version {
		t.Errorf("rule set version %q, want %q", st.RuleSetVersion, amended.RuleSet().Version)
	}
	hist := must[[]healthcode.StatusChange](t)(db2.StatusHistory(e.ctx, r.ID))
	if want := "rule set " + amended.RuleSet().Version + " published"; hist[len(hist)-1].Cause != want {
		t.Errorf("cause %q, want %q", hist[len(hist)-1].Cause, want)
	}
}

func testAddAreaRisk(t *testing.T, e *env) {
	declare := func(r *healthcode.Resident, region string, daysAgo int) {
		t.Helper()
		d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.6,
			Visited: []healthcode.Visit{{Region: "330106", Date: e.day(-1)}, {Region: region, Date: e.day(-daysAgo)}}}
		must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
	}
	old := e.enroll(t)
	declare(old, "420106", 2)
	e.clock.Advance(18 * 24 * time.Hour) // old's visit is now 20 days ago
	wuhan := e.enroll(t)
	declare(wuhan, "420106", 3)
	elsewhere := e.enroll(t)
	declare(elsewhere, "420200", 3)
	stayedHome := e.enroll(t)

	a := &healthcode.AreaRisk{Prefix: "4201", Level: healthcode.HighRisk, From: e.clock.Now().Add(-10 * 24 * time.Hour), RecordedBy: "tracer-1"}
	n, err := e.db.AddAreaRisk(e.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || a.ID == 0 {
		t.Errorf("re-evaluated %d residents, want 1; area id %d", n, a.ID)
	}
	st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, wuhan.ID))
	if st.Color != healthcode.Yellow || !slices.Equal(ruleIDs(st), []string{"high_risk_visit"}) {
		t.Errorf("visitor of 420106: %s %v, want yellow [high_risk_visit]", st.Color, ruleIDs(st))
	}
	checkStatus(t, e, wuhan.ID, st, fmt.Sprintf("area risk %d (4201 high)", a.ID))
	for _, r := range []*healthcode.Resident{old, elsewhere, stayedHome} {
		if st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID)); st.Color != healthcode.Green {
			t.Errorf("resident %d: %s, want green", r.ID, st.Color)
		}
	}

	facts := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, wuhan.ID))
	if diff := cmp.Diff([]healthcode.AreaRisk{*a}, facts.Areas); diff != "" {
		t.Errorf("areas of the visitor (-want +got):\n%s", diff)
	}
	facts = must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, elsewhere.ID))
	if len(facts.Areas) != 0 {
		t.Errorf("areas of a resident who visited 420200: %v, want none", facts.Areas)
	}

	// A designation that ended before the visit re-evaluates nobody.
	ended := &healthcode.AreaRisk{Prefix: "42", Level: healthcode.MediumRisk,
		From: e.clock.Now().Add(-40 * 24 * time.Hour), To: e.clock.Now().Add(-30 * 24 * time.Hour)}
	if n, err := e.db.AddAreaRisk(e.ctx, ended); err != nil || n != 0 {
		t.Errorf("ended designation re-evaluated %d residents (%v), want 0", n, err)
	}
	list := must[[]healthcode.AreaRisk](t)(e.db.ListAreaRisks(e.ctx))
	if diff := cmp.Diff([]healthcode.AreaRisk{*a, *ended}, list); diff != "" {
		t.Errorf("ListAreaRisks (-want +got):\n%s", diff)
	}
}

func testLoadFacts(t *testing.T, e *env) {
	r := e.enroll(t)
	patient := e.enroll(t)
	want := &healthcode.Facts{Resident: *r}

	d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.9,
		Symptoms:        []healthcode.Symptom{healthcode.RunnyNose, healthcode.SoreThroat},
		Visited:         []healthcode.Visit{{Region: "310101", Date: e.day(-4)}, {Region: "330106", Date: e.day(-1)}},
		ContactWithCase: true}
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
	want.Declarations = append(want.Declarations, *d)

	tr := &healthcode.TestResult{ResidentID: r.ID, Type: healthcode.Antigen, Result: healthcode.Negative,
		SampledAt: e.clock.Now().Add(-time.Hour), ResultedAt: e.clock.Now(), Institution: "home", RecordedBy: "lab-2"}
	must[healthcode.Status](t)(e.db.AddTestResult(e.ctx, tr))
	want.Tests = append(want.Tests, *tr)

	v := &healthcode.Vaccination{ResidentID: r.ID, Product: "Comirnaty", Dose: 1, SeriesDoses: 2, Date: e.day(-60)}
	must[healthcode.Status](t)(e.db.AddVaccination(e.ctx, v))
	want.Vaccinations = append(want.Vaccinations, *v)

	c := &healthcode.Case{ResidentID: patient.ID, SampleDate: e.day(-2)}
	must[healthcode.Status](t)(e.db.CreateCase(e.ctx, c))
	cd := &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: c.ID, Venue: "Metro line 1",
		LastExposure: e.clock.Now().Add(-48 * time.Hour), DesignatedBy: "tracer-2"}
	must[healthcode.Status](t)(e.db.AddContactDesignation(e.ctx, cd))
	want.Contacts = append(want.Contacts, *cd)

	shanghai := &healthcode.AreaRisk{Prefix: "3101", Level: healthcode.MediumRisk, From: e.day(-10)}
	must[int](t)(e.db.AddAreaRisk(e.ctx, shanghai))
	must[int](t)(e.db.AddAreaRisk(e.ctx, &healthcode.AreaRisk{Prefix: "4201", Level: healthcode.HighRisk, From: e.day(-10)}))
	want.Areas = append(want.Areas, *shanghai)

	own := &healthcode.Case{ResidentID: r.ID, OnsetDate: e.day(0)}
	must[healthcode.Status](t)(e.db.CreateCase(e.ctx, own))
	want.Cases = append(want.Cases, *own)

	got := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadFacts (-written +loaded):\n%s", diff)
	}
}

func testListDeclarations(t *testing.T, e *env) {
	r := e.enroll(t)
	guardian := e.enroll(t)
	if ds := must[[]healthcode.Declaration](t)(e.db.ListDeclarations(e.ctx, r.ID)); ds == nil || len(ds) != 0 {
		t.Errorf("no declarations: %v, want an empty list", ds)
	}
	var want []healthcode.Declaration
	for i := range 3 {
		e.clock.Advance(time.Hour)
		d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.5 + float64(i)/10,
			Visited: []healthcode.Visit{{Region: "330106", Date: e.day(-i)}}}
		wantBy := r.ID // by default, the resident
		if i == 1 {
			d.DeclaredBy, wantBy = guardian.ID, guardian.ID
		}
		must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, d))
		if d.DeclaredBy != wantBy || !d.DeclaredAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
			t.Errorf("declared by %d at %v, want %d now", d.DeclaredBy, d.DeclaredAt, wantBy)
		}
		want = append(want, *d)
	}
	got := must[[]healthcode.Declaration](t)(e.db.ListDeclarations(e.ctx, r.ID))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListDeclarations (-written +listed):\n%s", diff)
	}
	_, err := e.db.ListDeclarations(e.ctx, 9999)
	wantCode(t, err, healthcode.ENOTFOUND)
}

func testNotFound(t *testing.T, e *env) {
	const id = 9999
	for name, call := range map[string]func() error{
		"FindResidentByID": func() error { _, err := e.db.FindResidentByID(e.ctx, id); return err },
		"FindResidentByDocument": func() error {
			_, err := e.db.FindResidentByDocument(e.ctx, healthcode.Passport, "E12345678")
			return err
		},
		"FindLogin":     func() error { _, _, err := e.db.FindLogin(e.ctx, "13800000000"); return err },
		"FindCase":      func() error { _, err := e.db.FindCase(e.ctx, id); return err },
		"CurrentStatus": func() error { _, err := e.db.CurrentStatus(e.ctx, id); return err },
		"StatusHistory": func() error { _, err := e.db.StatusHistory(e.ctx, id); return err },
		"LoadFacts":     func() error { _, err := e.db.LoadFacts(e.ctx, id); return err },
		"DischargeCase": func() error { _, _, err := e.db.DischargeCase(e.ctx, id, time.Time{}); return err },
		"AddDeclaration": func() error {
			_, err := e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: id})
			return err
		},
		"AddTestResult": func() error {
			_, err := e.db.AddTestResult(e.ctx, &healthcode.TestResult{ResidentID: id, Type: healthcode.PCR,
				Result: healthcode.Negative, SampledAt: e.clock.Now(), ResultedAt: e.clock.Now(), Institution: "lab"})
			return err
		},
		"AddVaccination": func() error {
			_, err := e.db.AddVaccination(e.ctx, &healthcode.Vaccination{ResidentID: id, Product: "x", Dose: 1,
				SeriesDoses: 1, Date: e.day(-1)})
			return err
		},
		"CreateCase": func() error {
			_, err := e.db.CreateCase(e.ctx, &healthcode.Case{ResidentID: id, SampleDate: e.day(-1)})
			return err
		},
		"AddContactDesignation (case)": func() error {
			r := e.enroll(t)
			_, err := e.db.AddContactDesignation(e.ctx, &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: id,
				LastExposure: e.clock.Now()})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), healthcode.ENOTFOUND) })
	}
}

func testInvalid(t *testing.T, e *env) {
	r := e.enroll(t)
	for name, call := range map[string]func() error{
		"declaration": func() error {
			_, err := e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 50})
			return err
		},
		"visit in the future": func() error {
			_, err := e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID,
				Visited: []healthcode.Visit{{Region: "330106", Date: e.day(2)}}})
			return err
		},
		"test result": func() error {
			_, err := e.db.AddTestResult(e.ctx, &healthcode.TestResult{ResidentID: r.ID, Type: "blood"})
			return err
		},
		"vaccination": func() error {
			_, err := e.db.AddVaccination(e.ctx, &healthcode.Vaccination{ResidentID: r.ID, Product: "x"})
			return err
		},
		"case": func() error { _, err := e.db.CreateCase(e.ctx, &healthcode.Case{ResidentID: r.ID}); return err },
		"area risk": func() error {
			_, err := e.db.AddAreaRisk(e.ctx, &healthcode.AreaRisk{Prefix: "0", Level: "extreme"})
			return err
		},
		"contact without exposure": func() error {
			_, err := e.db.AddContactDesignation(e.ctx, &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: 1})
			return err
		},
		"session without expiry": func() error {
			return e.db.CreateSession(e.ctx, &healthcode.Session{ResidentID: r.ID, Hash: []byte("h")})
		},
		"rule set without version": func() error { return e.db.PublishRuleSet(e.ctx, &healthcode.RuleSet{}) },
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), healthcode.EINVALID) })
	}
	// None of it reached the resident's status.
	if hist := must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, r.ID)); len(hist) != 1 {
		t.Errorf("%d history entries, want only the enrollment", len(hist))
	}
}

func testPublishRuleSet(t *testing.T, e *env) {
	rs := *e.eval.RuleSet()
	if err := e.db.PublishRuleSet(e.ctx, &rs); err != nil {
		t.Fatal(err)
	}
	first := rs.PublishedAt
	if !first.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("published at %v, want now", first)
	}
	e.clock.Advance(time.Hour)
	again := *e.eval.RuleSet()
	if err := e.db.PublishRuleSet(e.ctx, &again); err != nil {
		t.Fatal(err)
	}
	if !again.PublishedAt.Equal(first) {
		t.Errorf("republished at %v, want the first publication %v", again.PublishedAt, first)
	}
	var source string
	if err := e.db.read.QueryRowContext(e.ctx, `SELECT source FROM rule_sets WHERE version = $1`, rs.Version).Scan(&source); err != nil {
		t.Fatal(err)
	}
	if source != string(rs.Source) {
		t.Errorf("stored source differs from the published one")
	}
}

func testMigrations(t *testing.T, e *env) {
	r := e.enroll(t)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening again applies nothing and keeps the data.
	db := e.open(t, e.eval)
	if _, err := db.FindResidentByID(e.ctx, r.ID); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	ms, err := loadMigrations(db.Engine())
	if err != nil {
		t.Fatal(err)
	}
	var n, latest int
	if err := db.read.QueryRowContext(e.ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &latest); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || latest != len(ms) {
		t.Errorf("schema_migrations has %d rows up to %d, want %d", n, latest, len(ms))
	}

	// A schema from a newer binary is refused.
	if _, err := db.write.ExecContext(e.ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		len(ms)+1, "9999_future.sql", 0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(e.ctx, e.url, Options{Clock: e.clock, Evaluator: e.eval, Cipher: testCipher(t)})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("opening a newer schema: %v, want a refusal", err)
	}
}

func testConcurrentWriters(t *testing.T, e *env) {
	const writers, each, residents = 8, 50, 4
	var rs []*healthcode.Resident
	for range residents {
		rs = append(rs, e.enroll(t))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each+residents*each)
	for w := range writers {
		wg.Go(func() {
			r := rs[w%residents]
			for i := range each {
				d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.0 + float64(i%20)/10,
					Visited: []healthcode.Visit{{Region: "330106", Date: e.day(-1)}}}
				if _, err := e.db.AddDeclaration(e.ctx, d); err != nil {
					errs <- fmt.Errorf("writer %d, declaration %d: %w", w, i, err)
				}
			}
		})
	}
	for _, r := range rs { // readers on the fast path meanwhile
		wg.Go(func() {
			for range each {
				if _, err := e.db.CurrentStatus(e.ctx, r.ID); err != nil {
					errs <- fmt.Errorf("reader: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, r := range rs {
		ds := must[[]healthcode.Declaration](t)(e.db.ListDeclarations(e.ctx, r.ID))
		total += len(ds)
		st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
		facts := must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID))
		want, err := e.eval.Evaluate(facts, e.clock.Now().Truncate(time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		if !st.Equivalent(want) {
			t.Errorf("resident %d: stored status %v %v is not what the facts say: %v %v",
				r.ID, st.Color, ruleIDs(st), want.Color, ruleIDs(want))
		}
	}
	if total != writers*each {
		t.Errorf("%d declarations stored, want %d", total, writers*each)
	}
}

// testResidentLock checks that a writer holds the resident's row until it
// commits, so that two writers of one resident's facts cannot both miss each
// other's fact when they store the status.
func testResidentLock(t *testing.T, e *env) {
	if e.db.Engine() != "postgres" {
		t.Skip("SQLite writers take turns on the one write connection")
	}
	r := e.enroll(t)
	other := e.enroll(t)
	tx, err := e.db.write.BeginTx(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := e.db.lockResident(e.ctx, tx, r.ID); err != nil {
		t.Fatal(err)
	}
	probe := func(id int64) error {
		tx2, err := e.db.write.BeginTx(e.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx2.Rollback()
		_, err = tx2.ExecContext(e.ctx, `SELECT id FROM residents WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, id)
		return err
	}
	if err := probe(r.ID); err == nil || !strings.Contains(err.Error(), pgLockNotAvailable) {
		t.Errorf("locking a locked resident: %v, want SQLSTATE %s", err, pgLockNotAvailable)
	}
	if err := probe(other.ID); err != nil {
		t.Errorf("locking another resident: %v", err)
	}
	// Rows that merely refer to the resident are not held up.
	s := &healthcode.Session{ResidentID: r.ID, Hash: []byte("while-locked"), ExpiresAt: e.clock.Now().Add(time.Hour)}
	if err := e.db.CreateSession(e.ctx, s); err != nil {
		t.Errorf("creating a session while the resident is locked: %v", err)
	}
}
