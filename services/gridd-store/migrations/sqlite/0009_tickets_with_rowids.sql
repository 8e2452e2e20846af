-- Tickets move to a table with rowids. A case's row, mostly its JSON body, is about 1.2 KB: more
-- than a WITHOUT ROWID table keeps on its B-tree page (about 1 KB with 4 KiB pages). The rest
-- went to an overflow page of its own, mostly empty, one per case: 1,000,000 cases took 4.5 GB
-- for 1.2 GB of rows; every read of a case read two pages, and every change to it freed one
-- overflow page and took another. A rowid table keeps rows of up to about 4 KB on the page.
-- The id stays the primary key (its own index now); rowids follow the cases' creation order.
CREATE TABLE tickets_by_rowid (
    id         TEXT    NOT NULL PRIMARY KEY,
    state      TEXT    NOT NULL,
    squad      TEXT,
    street     TEXT,
    category   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    deadline   INTEGER,
    version    INTEGER NOT NULL,
    body       TEXT    NOT NULL
);
INSERT INTO tickets_by_rowid (id, state, squad, street, category, created_at, deadline, version, body)
    SELECT id, state, squad, street, category, created_at, deadline, version, body FROM tickets ORDER BY created_at, id;
DROP TABLE tickets;
ALTER TABLE tickets_by_rowid RENAME TO tickets;
CREATE INDEX tickets_by_created ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_by_state ON tickets (state, deadline);
CREATE INDEX tickets_by_squad ON tickets (squad, created_at);
CREATE INDEX tickets_by_street ON tickets (street, created_at);
