package sqlstore

import (
	"strings"
	"testing"
	"time"

	"healthcode"
)

// testNotifications: every status change after enrollment notifies the
// resident, with the reasons; a fact that changes nothing does not.
func testNotifications(t *testing.T, e *env) {
	r := e.enroll(t)
	if ns, err := e.db.ListNotifications(e.ctx, r.ID); err != nil || len(ns) != 0 {
		t.Fatalf("after enrollment: %v, %v", ns, err)
	}
	d := &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.6}
	if _, err := e.db.AddDeclaration(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	// A normal declaration changes nothing: no notification.
	if _, err := e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 36.5}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	tr := &healthcode.TestResult{ResidentID: r.ID, Type: healthcode.PCR, Result: healthcode.Negative,
		SampledAt: e.clock.Now().Add(-30 * time.Minute), ResultedAt: e.clock.Now(), Institution: "lab"}
	if _, err := e.db.AddTestResult(e.ctx, tr); err != nil {
		t.Fatal(err)
	}
	ns, err := e.db.ListNotifications(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 {
		t.Fatalf("%d notifications, want 2: %+v", len(ns), ns)
	}
	if !strings.Contains(ns[0].Message, "now green") || !strings.Contains(ns[0].MessageZH, "绿码") {
		t.Errorf("newest: %+v", ns[0])
	}
	if !strings.Contains(ns[1].Message, "now yellow") || !strings.Contains(ns[1].Message, "fever") || ns[1].Kind != "status_changed" {
		t.Errorf("oldest: %+v", ns[1])
	}
	if _, err := e.db.ListNotifications(e.ctx, 999999); healthcode.ErrorCode(err) != healthcode.ENOTFOUND {
		t.Errorf("unknown resident: %v", err)
	}
}
