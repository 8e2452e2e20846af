-- A caller asks after their cases by phone number: each report keeps a key of its reporter's
-- number (a SHA-256 of the normalised digits, see `caller_key`), set when it joins its case.
ALTER TABLE reports ADD COLUMN contact_key TEXT;
CREATE INDEX reports_by_contact_key ON reports (contact_key) WHERE contact_key IS NOT NULL;

-- Photos uploaded for a case (a squad's after-photos from its terminal). The id is derived from
-- the case and the bytes, so uploading the same photo again (a terminal retrying after the
-- network dropped) finds the stored one. A rowid table: the bytes may be large.
CREATE TABLE photos (
    id           TEXT    NOT NULL UNIQUE,
    ticket_id    TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    bytes        BLOB    NOT NULL,
    size         INTEGER NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    uploaded_at  INTEGER NOT NULL
);
CREATE INDEX photos_by_ticket ON photos (ticket_id);

-- Squad members' task actions by the client's id for them: a terminal resending an action it
-- queued offline (or whose reply it lost) finds it here and applies nothing twice.
CREATE TABLE task_actions (
    action_key  TEXT NOT NULL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    ticket_id   TEXT NOT NULL,
    applied_at  INTEGER NOT NULL
) WITHOUT ROWID;
