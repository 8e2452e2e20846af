-- Each topic's records move to a table of their own, the seq as its rowid. In the one table
-- keyed by (topic, seq), only the ticket events (the last topic in key order) were appended at
-- the B-tree's right end, which SQLite fills page by page. The intake and dispatch records went
-- in the middle of it, where every full page is split with its neighbours and left part empty:
-- replaying a camera storm's records (10,000 of each topic) left about a tenth of the table's
-- pages empty space. Appends now all land at a right end, and the keys inside the tree are
-- rowids, not topic names.
CREATE TABLE log_intake (
    seq         INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    appended_at INTEGER NOT NULL
);
CREATE TABLE log_dispatch (
    seq         INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    appended_at INTEGER NOT NULL
);
CREATE TABLE log_ticket_events (
    seq         INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    appended_at INTEGER NOT NULL
);
INSERT INTO log_intake (seq, key, payload, appended_at)
    SELECT seq, key, payload, appended_at FROM log WHERE topic = 'intake' ORDER BY seq;
INSERT INTO log_dispatch (seq, key, payload, appended_at)
    SELECT seq, key, payload, appended_at FROM log WHERE topic = 'dispatch' ORDER BY seq;
INSERT INTO log_ticket_events (seq, key, payload, appended_at)
    SELECT seq, key, payload, appended_at FROM log WHERE topic = 'ticket-events' ORDER BY seq;
DROP TABLE log;
-- A case's history, in seq order: an index on the key alone holds the rowid after it.
CREATE INDEX ticket_events_by_case ON log_ticket_events (key);
