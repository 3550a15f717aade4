-- Notifications: every change of a resident's status after enrollment,
-- written in the same transaction as the change.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    resident_id INTEGER NOT NULL REFERENCES residents (id),
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    message_zh  TEXT    NOT NULL
) STRICT;
CREATE INDEX notifications_resident_idx ON notifications (resident_id, id);
