-- Statuses and what hangs off them: display names, personal access tokens,
-- idempotency keys of the REST API, webhooks and their delivery outbox.

-- Shown as the author's name in statuses; NULL: the username is shown.
ALTER TABLE users ADD COLUMN display_name TEXT;

-- Every status, live or deleted. `id` sorts by creation time (a ULID), so
-- timelines page on the primary key. A deleted status keeps its row (its id
-- is never reused) with the text blanked.
CREATE TABLE statuses (
    id         TEXT    NOT NULL PRIMARY KEY,
    author     TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    text       TEXT    NOT NULL,
    -- `text` in lower case (Unicode), for case-insensitive search.
    text_lower TEXT    NOT NULL,
    source     TEXT    NOT NULL CHECK (source IN ('web', 'api', 'im', 'xmpp')),
    created_at TEXT    NOT NULL,
    -- The id of the item on the author's microblog PEP node: the status id,
    -- or the id a client chose when it published the entry itself.
    item_id    TEXT    NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX statuses_by_author ON statuses (author, id);
CREATE INDEX statuses_by_item ON statuses (author, item_id);

-- Personal access tokens: only the SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id           TEXT NOT NULL PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_sha256 BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
) STRICT;

CREATE INDEX api_tokens_by_user ON api_tokens (username);

-- `Idempotency-Key` headers of status posts, kept for an hour.
CREATE TABLE idempotency_keys (
    username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    status_id  TEXT    NOT NULL,
    -- Unix time in milliseconds.
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (username, key)
) STRICT;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_ms);

-- Webhooks: `users` is a comma-separated list of usernames (NULL: everyone),
-- `q` a case-insensitive substring the text must contain (NULL: any text).
CREATE TABLE webhooks (
    id         TEXT NOT NULL PRIMARY KEY,
    owner      TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    users      TEXT,
    q          TEXT,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX webhooks_by_owner ON webhooks (owner);

-- The transactional outbox: one row per (event, matching webhook), written
-- in the transaction that stores the status, delivered (at least once) by
-- the webhook worker.
CREATE TABLE webhook_deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    webhook_id      TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- `status.created` or `status.deleted`.
    event           TEXT    NOT NULL,
    -- The exact JSON body to POST.
    body            TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix time in milliseconds.
    next_attempt_ms INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    created_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id);
