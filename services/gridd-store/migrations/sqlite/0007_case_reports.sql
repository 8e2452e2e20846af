-- A case's reports in rows of their own. In the case's body they were rewritten on every
-- merge: a camera repeating one detection 10,000 times made each merge rewrite megabytes. Now
-- a merge adds one row, and the body keeps how many reports there are (report_count).
CREATE TABLE case_reports (
    ticket_id TEXT    NOT NULL,
    ordinal   INTEGER NOT NULL,
    reference TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    PRIMARY KEY (ticket_id, ordinal)
) WITHOUT ROWID;
-- A report is in a case once; a split takes it out by reference.
CREATE UNIQUE INDEX case_reports_by_reference ON case_reports (ticket_id, reference);

INSERT INTO case_reports (ticket_id, ordinal, reference, body)
SELECT t.id, r.key + 1, json_extract(r.value, '$.reference'), r.value
FROM tickets t, json_each(t.body, '$.reports') r;

UPDATE tickets SET body = json_set(json_remove(body, '$.reports'), '$.report_count', json_array_length(body, '$.reports'));
