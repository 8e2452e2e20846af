-- Local accounts of the people who sign in. The password is kept only as an Argon2id PHC
-- string; role and squad are opaque here (the access crate parses them). A person who leaves
-- is disabled, not deleted, so the audit log keeps naming a known account.
-- Keys collate as "C" (byte order, as SQLite), so listings come out in the same order on both
-- backends whatever the database's locale.
CREATE TABLE accounts (
    username      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    squad         TEXT,
    password_hash TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

-- Keys machines (camera gateways, integrations) sign in with: the id is the key's public part,
-- only a hash of its secret is kept. cameras is a JSON array of the camera ids a gateway is
-- bound to. A revoked key stays, so its id is never given again and old audit entries resolve.
CREATE TABLE machine_keys (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    cameras     TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX machine_keys_by_created ON machine_keys (created_at, id);

-- Sign-in sessions, one per refresh token and identified by the token's hash, so a copy of the
-- database holds no usable token. Signing out revokes a session; expired ones are swept.
CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    username   TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_username ON sessions (username);

-- Who did what to access, and from where: sign-ins (failed ones too), sign-outs, key and account
-- changes. Append-only; seq is contiguous from 1 in commit order, for paging.
CREATE TABLE audit_log (
    seq     BIGINT NOT NULL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    address TEXT   NOT NULL,
    outcome TEXT   NOT NULL
);

-- The last audit seq. An append locks this row until commit (as log_heads does for a topic), so
-- seq order is commit order and a reader paging after a seq never skips a late commit.
CREATE TABLE audit_head (
    id   SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    last BIGINT   NOT NULL
);

-- The secret access tokens are signed with, shared by every process of a deployment so that a
-- token one issues the others accept. One row at most: the first process to start stores it.
CREATE TABLE signing_secret (
    id     SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    secret BYTEA    NOT NULL
);
