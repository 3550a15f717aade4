package healthcode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestAuditCanonicalBytes pins the documented encoding (docs/accountability.md):
// an outside verifier recomputes hashes from it, so it must not drift.
func TestAuditCanonicalBytes(t *testing.T) {
	e := AuditEntry{Seq: 42, At: time.Date(2022, 4, 1, 1, 30, 0, 123456000, time.UTC), ActorRole: RoleTracer, ActorID: 7,
		ActorName: "李伟 (tracer)", Action: ActionRead, Subject: 12, Purpose: "outbreak 7", Detail: "case 3",
		PrevHash: strings.Repeat("ab", 32)}
	want := "19:healthcode-audit-v1,2:42,16:1648776600123456,6:tracer,1:7,15:李伟 (tracer),4:read,2:12,10:outbreak 7,6:case 3," +
		"64:" + strings.Repeat("ab", 32) + ","
	if got := string(e.CanonicalBytes()); got != want {
		t.Errorf("canonical bytes\n got %s\nwant %s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if got := e.ComputeHash(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s", got)
	}
	// Every field is covered: changing any one changes the hash.
	base := e.ComputeHash()
	for name, change := range map[string]func(*AuditEntry){
		"seq":        func(e *AuditEntry) { e.Seq++ },
		"at":         func(e *AuditEntry) { e.At = e.At.Add(time.Microsecond) },
		"actor_role": func(e *AuditEntry) { e.ActorRole = RoleReviewer },
		"actor_id":   func(e *AuditEntry) { e.ActorID = 8 },
		"actor_name": func(e *AuditEntry) { e.ActorName += " " },
		"action":     func(e *AuditEntry) { e.Action = ActionFactAdd },
		"subject":    func(e *AuditEntry) { e.Subject = 0 },
		"purpose":    func(e *AuditEntry) { e.Purpose = "" },
		"detail":     func(e *AuditEntry) { e.Detail = "case 4" },
		"prev_hash":  func(e *AuditEntry) { e.PrevHash = GenesisHash },
		// Moving text between fields is not the same entry either.
		"shifted": func(e *AuditEntry) { e.Purpose, e.Detail = "outbreak 7,6:case 3", "" },
	} {
		x := e
		change(&x)
		if x.ComputeHash() == base {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
}

func chain(n int) []AuditEntry {
	es := make([]AuditEntry, n)
	prev := GenesisHash
	for i := range es {
		es[i] = AuditEntry{Seq: int64(i + 1), At: time.Unix(int64(i), 0), ActorRole: RoleSystem, ActorName: "system",
			Action: ActionStatusChange, Subject: 1, Detail: "status history 1", PrevHash: prev}
		es[i].Hash = es[i].ComputeHash()
		prev = es[i].Hash
	}
	return es
}

func checkChain(es []AuditEntry, headSeq int64, headHash string) *AuditBreak {
	c := NewAuditChecker()
	for i := range es {
		if b := c.Check(&es[i]); b != nil {
			return b
		}
	}
	return c.Finish(headSeq, headHash)
}

func TestAuditChecker(t *testing.T) {
	good := chain(5)
	head := good[4].Hash
	if b := checkChain(good, 5, head); b != nil {
		t.Fatalf("a good chain: %v", b)
	}
	if b := checkChain(nil, 0, GenesisHash); b != nil {
		t.Errorf("an empty chain: %v", b)
	}
	for _, tc := range []struct {
		name    string
		change  func([]AuditEntry) []AuditEntry
		headSeq int64
		seq     int64
		problem string
	}{
		{"edited", func(es []AuditEntry) []AuditEntry { es[2].Detail = "x"; return es }, 5, 3, "changed"},
		{"edited and rehashed", func(es []AuditEntry) []AuditEntry {
			es[2].Detail = "x"
			es[2].Hash = es[2].ComputeHash()
			return es
		}, 5, 4, "link"},
		{"removed", func(es []AuditEntry) []AuditEntry { return append(es[:1:1], es[2:]...) }, 5, 2, "missing"},
		{"swapped", func(es []AuditEntry) []AuditEntry { es[1], es[2] = es[2], es[1]; return es }, 5, 2, "missing"},
		{"tail removed", func(es []AuditEntry) []AuditEntry { return es[:4] }, 5, 5, "missing"},
		{"head behind", func(es []AuditEntry) []AuditEntry { return es }, 4, 0, "more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.change(chain(5))
			b := checkChain(es, tc.headSeq, head)
			if b == nil || b.Seq != tc.seq || !strings.Contains(b.Problem, tc.problem) {
				t.Errorf("got %v, want entry %d: %s", b, tc.seq, tc.problem)
			}
		})
	}
}

func TestSamePerson(t *testing.T) {
	tracer := Actor{Role: RoleTracer, TokenID: 1, Name: "Li Wei"}
	for _, tc := range []struct {
		name string
		b    Actor
		same bool
	}{
		{"same token", Actor{Role: RoleReviewer, TokenID: 1, Name: "other name"}, true},
		{"same name", Actor{Role: RoleReviewer, TokenID: 2, Name: "Li Wei"}, true},
		{"same name, other case and spacing", Actor{Role: RoleReviewer, TokenID: 2, Name: "  li  WEI."}, true},
		{"other person", Actor{Role: RoleReviewer, TokenID: 2, Name: "Zhang Min"}, false},
		{"nameless", Actor{Role: RoleReviewer, TokenID: 2}, false},
		{"a resident", Actor{Role: RoleResident, ResidentID: 1, Name: "Li Wei"}, false},
	} {
		if got := SamePerson(tracer, tc.b); got != tc.same {
			t.Errorf("%s: SamePerson = %v", tc.name, got)
		}
	}
	r := Actor{Role: RoleResident, ResidentID: 3}
	if !SamePerson(r, Actor{Role: RoleResident, ResidentID: 3, Name: "x"}) || SamePerson(r, Actor{Role: RoleResident, ResidentID: 4}) {
		t.Error("residents are the same person exactly when their ids are")
	}
	if err := CheckTwoPersons(tracer, Actor{Role: RoleReviewer, TokenID: 9, Name: "li wei"}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("the proposer under another token: %v", err)
	}
	if err := CheckTwoPersons(tracer, Actor{Role: RoleTracer, TokenID: 9, Name: "Zhang Min"}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("a tracer approves: %v", err)
	}
	if err := CheckTwoPersons(tracer, Actor{Role: RoleReviewer, TokenID: 9, Name: "Zhang Min"}); err != nil {
		t.Errorf("another reviewer: %v", err)
	}
}

func TestActorContext(t *testing.T) {
	if a := ActorFromContext(context.Background()); a != SystemActor {
		t.Errorf("no actor: %+v", a)
	}
	a := Actor{Role: RoleLab, TokenID: 3, Name: "lab"}
	if got := ActorFromContext(ContextWithActor(context.Background(), a)); got != a {
		t.Errorf("got %+v", got)
	}
}

func TestAccessValidate(t *testing.T) {
	for purpose, ok := range map[string]bool{"": false, "  ": false, "ab": false, "outbreak 7": true,
		strings.Repeat("x", 301): false, "line\x00break": false} {
		a := Access{Purpose: purpose}
		if err := a.Validate(); (err == nil) != ok {
			t.Errorf("purpose %q: %v", purpose, err)
		}
	}
}

func TestAuditFilterValidate(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		f  AuditFilter
		ok bool
	}{
		{AuditFilter{}, true},
		{AuditFilter{Action: ActionRead, Subject: 3, Limit: 500}, true},
		{AuditFilter{Action: "drop"}, false},
		{AuditFilter{Limit: 501}, false},
		{AuditFilter{From: now, To: now}, false},
		{AuditFilter{Subject: -1}, false},
	} {
		if err := tc.f.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.f, err)
		}
	}
}
