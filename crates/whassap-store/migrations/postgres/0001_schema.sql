-- Whassap's schema on PostgreSQL: the same tables, columns and indexes as
-- SQLite's migrations 0001 to 0007 (see migrations/sqlite for what each
-- holds), with PostgreSQL's types: every integer is BIGINT (the code binds
-- and reads i64 on both), blobs are BYTEA, and timestamps are RFC 3339 text
-- computed by the server. Tables that SQLite orders by its implicit `rowid`
-- get an identity column of that name, so that one query text serves both.

CREATE TABLE users (
    username       TEXT   NOT NULL PRIMARY KEY,
    roster_version BIGINT NOT NULL,
    created_at     TEXT   NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    display_name   TEXT
);

CREATE TABLE credentials (
    username   TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    hash       TEXT   NOT NULL,
    salt       BYTEA  NOT NULL,
    iterations BIGINT NOT NULL CHECK (iterations > 0),
    stored_key BYTEA  NOT NULL,
    server_key BYTEA  NOT NULL,
    PRIMARY KEY (username, hash)
);

CREATE TABLE roster_items (
    username     TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    contact      TEXT   NOT NULL,
    name         TEXT,
    subscription TEXT   NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask_out      BIGINT NOT NULL DEFAULT 0,
    approved     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (username, contact)
);

CREATE INDEX roster_items_by_contact ON roster_items (contact);

CREATE TABLE roster_groups (
    username TEXT   NOT NULL,
    contact  TEXT   NOT NULL,
    position BIGINT NOT NULL,
    name     TEXT   NOT NULL,
    PRIMARY KEY (username, contact, position),
    FOREIGN KEY (username, contact)
        REFERENCES roster_items (username, contact) ON DELETE CASCADE
);

CREATE TABLE pending_in (
    rowid      BIGINT GENERATED ALWAYS AS IDENTITY,
    username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    contact    TEXT NOT NULL,
    stanza_xml TEXT NOT NULL,
    created_at TEXT NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    PRIMARY KEY (username, contact)
);

CREATE TABLE offline_messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    stanza_xml TEXT NOT NULL,
    stamp      TEXT NOT NULL
);

CREATE INDEX offline_messages_by_user ON offline_messages (username, id);

CREATE TABLE blocklist (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    jid      TEXT NOT NULL,
    PRIMARY KEY (username, jid)
);

CREATE TABLE server_secrets (
    name  TEXT  NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE pubsub_nodes (
    service    TEXT NOT NULL,
    node       TEXT NOT NULL,
    pep_user   TEXT REFERENCES users (username) ON DELETE CASCADE,
    config     TEXT NOT NULL,
    created_at TEXT NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    PRIMARY KEY (service, node)
);

CREATE TABLE pubsub_affiliations (
    service     TEXT NOT NULL,
    node        TEXT NOT NULL,
    jid         TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (service, node, jid),
    FOREIGN KEY (service, node) REFERENCES pubsub_nodes (service, node) ON DELETE CASCADE
);

CREATE TABLE pubsub_subscriptions (
    service TEXT NOT NULL,
    node    TEXT NOT NULL,
    jid     TEXT NOT NULL,
    subid   TEXT NOT NULL,
    state   TEXT NOT NULL,
    PRIMARY KEY (service, node, jid, subid),
    FOREIGN KEY (service, node) REFERENCES pubsub_nodes (service, node) ON DELETE CASCADE
);

CREATE INDEX pubsub_subscriptions_by_jid ON pubsub_subscriptions (jid, service);

CREATE TABLE pubsub_items (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service      TEXT NOT NULL,
    node         TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    publisher    TEXT NOT NULL,
    payload      TEXT NOT NULL,
    published_at TEXT NOT NULL,
    UNIQUE (service, node, item_id),
    FOREIGN KEY (service, node) REFERENCES pubsub_nodes (service, node) ON DELETE CASCADE
);

CREATE INDEX pubsub_items_by_node ON pubsub_items (service, node, seq);

-- Status ids sort in commit order across nodes: every node takes the
-- `statuses` advisory lock before it picks an id, and picks one above
-- the greatest committed (see Store::status_create). COLLATE "C" makes
-- ids (ASCII) sort by byte, as SQLite's BINARY collation does.
CREATE TABLE statuses (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    author     TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    text       TEXT   NOT NULL,
    text_lower TEXT   NOT NULL,
    source     TEXT   NOT NULL CHECK (source IN ('web', 'api', 'im', 'xmpp')),
    created_at TEXT   NOT NULL,
    item_id    TEXT   NOT NULL,
    deleted    BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX statuses_by_author ON statuses (author, id);
CREATE INDEX statuses_by_item ON statuses (author, item_id);
CREATE UNIQUE INDEX statuses_live_item ON statuses (author, item_id) WHERE deleted = 0;

CREATE TABLE api_tokens (
    id           TEXT  NOT NULL PRIMARY KEY,
    username     TEXT  NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    name         TEXT  NOT NULL,
    token_sha256 BYTEA NOT NULL UNIQUE,
    created_at   TEXT  NOT NULL,
    last_used_at TEXT
);

CREATE INDEX api_tokens_by_user ON api_tokens (username);

CREATE TABLE idempotency_keys (
    username   TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    key        TEXT   NOT NULL,
    status_id  TEXT   NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (username, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_ms);

CREATE TABLE webhooks (
    id         TEXT NOT NULL PRIMARY KEY,
    owner      TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    users      TEXT,
    q          TEXT,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX webhooks_by_owner ON webhooks (owner);

CREATE TABLE webhook_deliveries (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY,
    id              TEXT   NOT NULL PRIMARY KEY,
    webhook_id      TEXT   NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_status     BIGINT,
    last_error      TEXT,
    state           TEXT   NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    created_at      TEXT   NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id);

CREATE TABLE webhook_delivery_attempts (
    delivery_id TEXT   NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status      BIGINT,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE web_sessions (
    id_sha256  BYTEA  NOT NULL PRIMARY KEY,
    username   TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);

CREATE INDEX web_sessions_by_user ON web_sessions (username);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_ms);

CREATE TABLE server_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
