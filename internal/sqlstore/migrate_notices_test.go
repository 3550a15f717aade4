package sqlstore

import (
	"path/filepath"
	"testing"
	"time"

	"healthcode"
)

// TestSQLiteContactDesignationsRebuild: migration 0010 rebuilds
// contact_designations on SQLite (case_id may now be NULL). The rows keep
// their ids and the AUTOINCREMENT counter goes on from where it was, so a
// purged designation's id is never given again (overrides and appeals name
// designations by id). The database is put back to its shape before 0010,
// with data, and opened again.
func TestSQLiteContactDesignationsRebuild(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "healthcode.db"))
	cs, r := e.enroll(t), e.enroll(t)
	c := &healthcode.Case{ResidentID: cs.ID, SampleDate: e.clock.Now().Add(-24 * time.Hour), RecordedBy: "tracer-1"}
	if _, err := e.db.CreateCase(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range 3 {
		d := &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: c.ID, Venue: "银泰", LastExposure: e.clock.Now().Add(-time.Hour), DesignatedBy: "t"}
		if _, err := e.db.AddContactDesignation(e.ctx, d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	// Back to schema 9: the old table, with the last designation purged
	// (and without 0011's recoveries, which the reopening makes again).
	for _, q := range []string{
		`DROP TABLE contact_notice_outbox`, `DROP TABLE contact_proposals`, `DROP TABLE recoveries`,
		`CREATE TABLE cd_old (id INTEGER PRIMARY KEY AUTOINCREMENT, resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    case_id INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE, venue TEXT NOT NULL, last_exposure INTEGER NOT NULL,
    designated_at INTEGER NOT NULL, designated_by TEXT NOT NULL) STRICT`,
		`INSERT INTO cd_old SELECT id, resident_id, case_id, venue, last_exposure, designated_at, designated_by FROM contact_designations`,
		`DROP TABLE contact_designations`, `ALTER TABLE cd_old RENAME TO contact_designations`,
		`DELETE FROM contact_designations WHERE id = (SELECT MAX(id) FROM contact_designations)`,
		`DELETE FROM schema_migrations WHERE version >= 10`,
	} {
		if _, err := e.db.write.ExecContext(e.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	e.db.Close()
	e.db = e.open(t, e.eval)
	f, err := e.db.LoadFacts(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Contacts) != 2 || f.Contacts[0].ID != ids[0] || f.Contacts[1].ID != ids[1] || f.Contacts[1].CaseID != c.ID || f.Contacts[1].CaseRegion != "" {
		t.Fatalf("designations after the rebuild: %+v", f.Contacts)
	}
	d := &healthcode.ContactDesignation{ResidentID: r.ID, CaseID: c.ID, Venue: "银泰", LastExposure: e.clock.Now().Add(-time.Hour), DesignatedBy: "t"}
	if _, err := e.db.AddContactDesignation(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	if d.ID <= ids[2] {
		t.Errorf("a new designation got id %d; the purged one had %d", d.ID, ids[2])
	}
	// Neither a local case and a region, nor neither, is stored.
	for _, q := range []string{
		`INSERT INTO contact_designations (resident_id, case_id, case_region, venue, last_exposure, designated_at, designated_by) VALUES (1, 1, '310100', '', 0, 0, '')`,
		`INSERT INTO contact_designations (resident_id, case_id, case_region, venue, last_exposure, designated_at, designated_by) VALUES (1, NULL, '', '', 0, 0, '')`,
	} {
		if _, err := e.db.write.ExecContext(e.ctx, q); err == nil {
			t.Errorf("stored: %s", q)
		}
	}
}
