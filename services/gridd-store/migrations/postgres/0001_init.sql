-- gridd store, PostgreSQL dialect, version 1 (the same tables as the SQLite dialect).

-- The embedded durable log: one row per record, per topic in append order.
-- Topics: intake (IntakeRecord), dispatch (DispatchDecision), ticket-events (TicketEvent).
CREATE TABLE log (
    topic       TEXT    NOT NULL,
    seq         BIGINT NOT NULL,
    key         TEXT    NOT NULL,
    payload     BYTEA    NOT NULL,
    appended_at BIGINT NOT NULL,
    PRIMARY KEY (topic, seq)
);
CREATE INDEX log_by_key ON log (topic, key, seq);

-- Next record each consumer reads, written in the same transaction as the effect.
CREATE TABLE consumer_positions (
    consumer TEXT    NOT NULL,
    topic    TEXT    NOT NULL,
    next_seq BIGINT NOT NULL,
    PRIMARY KEY (consumer, topic)
);

-- Client idempotency keys (scoped by channel) and the reference they were given.
CREATE TABLE intake_keys (
    idem_key    TEXT    NOT NULL PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    received_at BIGINT NOT NULL
);

-- Every accepted report; ticket_id is set once the tracker has filed or merged it.
CREATE TABLE reports (
    reference   TEXT    NOT NULL PRIMARY KEY,
    channel     TEXT    NOT NULL,
    received_at BIGINT NOT NULL,
    ticket_id   TEXT,
    disposition TEXT
);

-- Tickets: the JSON body is the source of truth; the other columns serve queries.
CREATE TABLE tickets (
    id         TEXT    NOT NULL PRIMARY KEY,
    state      TEXT    NOT NULL,
    squad      TEXT,
    street     TEXT,
    category   TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    deadline   BIGINT,
    version    BIGINT NOT NULL,
    body       TEXT    NOT NULL
);
CREATE INDEX tickets_by_created ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_by_state ON tickets (state, deadline);
CREATE INDEX tickets_by_squad ON tickets (squad, created_at);
CREATE INDEX tickets_by_street ON tickets (street, created_at);

-- Per-squad task feed: contiguous seq per squad; the ticket snapshot is the event it points to.
CREATE TABLE squad_feed (
    squad     TEXT    NOT NULL,
    seq       BIGINT NOT NULL,
    ticket_id TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    at        BIGINT NOT NULL,
    event_seq BIGINT NOT NULL,
    PRIMARY KEY (squad, seq)
);

-- Durable timers, replaced as a whole for a ticket after every change.
CREATE TABLE timers (
    ticket_id  TEXT    NOT NULL,
    generation BIGINT NOT NULL,
    kind       TEXT    NOT NULL,
    due        BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, generation, kind)
);
CREATE INDEX timers_by_due ON timers (due);

-- Escalations fired: the primary key makes a second firing of a level for a deadline impossible.
CREATE TABLE escalations (
    ticket_id  TEXT    NOT NULL,
    generation BIGINT NOT NULL,
    level      BIGINT NOT NULL,
    name       TEXT    NOT NULL,
    fired_at   BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, generation, level)
);

-- What the router knows of the cases it opened, for duplicate merging.
CREATE TABLE router_cases (
    ticket_id    TEXT    NOT NULL PRIMARY KEY,
    category     TEXT    NOT NULL,
    lon          DOUBLE PRECISION,
    lat          DOUBLE PRECISION,
    opened_at    BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    camera_key   TEXT
);
CREATE INDEX router_cases_by_category ON router_cases (category, opened_at);
CREATE INDEX router_cases_by_camera ON router_cases (camera_key, last_seen_at);

-- Records that could not be processed, kept with the reason instead of being dropped.
CREATE TABLE dead_letters (
    source_topic TEXT    NOT NULL,
    source_seq   BIGINT NOT NULL,
    source_key   TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    payload      BYTEA    NOT NULL,
    at           BIGINT NOT NULL,
    PRIMARY KEY (source_topic, source_seq)
);

-- The last seq of each topic and of each squad's feed. Appends lock the row until commit, so
-- seq order is commit order: a reader never sees seq n+1 before seq n.
CREATE TABLE log_heads (
    topic TEXT   NOT NULL PRIMARY KEY,
    last  BIGINT NOT NULL
);
CREATE TABLE feed_heads (
    squad TEXT   NOT NULL PRIMARY KEY,
    last  BIGINT NOT NULL
);
