-- The monthly 考核 ledger (gridd_core::assessment): one line per counted fact, written by the
-- tracker in the same transaction as the change that caused it, so a month's lines and totals
-- always agree with its cases. `units` lists who the line is credited to, space-separated
-- (`city street:<code> squad:<id>` or `supervisor:<account>`).
CREATE TABLE assessment_ledger (
    seq       BIGSERIAL PRIMARY KEY,
    period    TEXT    NOT NULL,
    units     TEXT    NOT NULL,
    indicator TEXT    NOT NULL,
    ticket_id TEXT    NOT NULL,
    amount    BIGINT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX assessment_ledger_by_period ON assessment_ledger (period, seq);

-- Running totals per month, unit and indicator, kept with the ledger: a month's report reads
-- these, never the cases.
CREATE TABLE assessment_totals (
    period    TEXT    NOT NULL,
    unit      TEXT    NOT NULL,
    indicator TEXT    NOT NULL,
    value     BIGINT NOT NULL,
    PRIMARY KEY (period, unit, indicator)
);

-- Frozen months: the report as published, and the last ledger line it includes, so the lines
-- behind every figure can be listed as they were.
CREATE TABLE assessment_frozen (
    period    TEXT    NOT NULL PRIMARY KEY,
    frozen_at BIGINT NOT NULL,
    frozen_by TEXT    NOT NULL,
    last_seq  BIGINT NOT NULL,
    sheet     TEXT    NOT NULL
);
