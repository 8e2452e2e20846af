-- A case's reports in rows of their own. In the case's body they were rewritten on every
-- merge: a camera repeating one detection 10,000 times made each merge rewrite megabytes. Now
-- a merge adds one row, and the body keeps how many reports there are (report_count).
CREATE TABLE case_reports (
    ticket_id TEXT   NOT NULL,
    ordinal   BIGINT NOT NULL,
    reference TEXT   NOT NULL,
    body      TEXT   NOT NULL,
    PRIMARY KEY (ticket_id, ordinal)
);
-- A report is in a case once; a split takes it out by reference.
CREATE UNIQUE INDEX case_reports_by_reference ON case_reports (ticket_id, reference);

INSERT INTO case_reports (ticket_id, ordinal, reference, body)
SELECT t.id, r.ordinality, r.value ->> 'reference', r.value::text
FROM tickets t, jsonb_array_elements(t.body::jsonb -> 'reports') WITH ORDINALITY AS r(value, ordinality);

UPDATE tickets SET body = ((body::jsonb - 'reports') || jsonb_build_object('report_count', jsonb_array_length(body::jsonb -> 'reports')))::text
WHERE body::jsonb ? 'reports';
