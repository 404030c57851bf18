-- Accounts, rosters, pending subscription requests, offline messages,
-- blocklists and server secrets. Every row that belongs to an account
-- references users(username) with ON DELETE CASCADE, so deleting the account
-- deletes them (the connection turns foreign keys on).

CREATE TABLE users (
    username       TEXT    NOT NULL PRIMARY KEY,
    -- RFC 6121 §2.6 roster version; starts at the creation time in
    -- milliseconds so that a re-created account never reuses the versions a
    -- client may have cached for a deleted namesake.
    roster_version INTEGER NOT NULL,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
) STRICT;

-- SCRAM credentials, one row per (user, hash): never the password.
CREATE TABLE credentials (
    username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    hash       TEXT    NOT NULL,
    salt       BLOB    NOT NULL,
    iterations INTEGER NOT NULL CHECK (iterations > 0),
    stored_key BLOB    NOT NULL,
    server_key BLOB    NOT NULL,
    PRIMARY KEY (username, hash)
) STRICT;

CREATE TABLE roster_items (
    username     TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    contact      TEXT    NOT NULL,
    name         TEXT,
    subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask_out      INTEGER NOT NULL DEFAULT 0,
    approved     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (username, contact)
) STRICT;

-- Who has a given contact on their roster.
CREATE INDEX roster_items_by_contact ON roster_items (contact);

-- Groups of a roster item, in the order the client gave them.
CREATE TABLE roster_groups (
    username TEXT    NOT NULL,
    contact  TEXT    NOT NULL,
    position INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    PRIMARY KEY (username, contact, position),
    FOREIGN KEY (username, contact)
        REFERENCES roster_items (username, contact) ON DELETE CASCADE
) STRICT;

-- Inbound subscription requests awaiting the user's answer, with the
-- original stanza for redelivery at the next login.
CREATE TABLE pending_in (
    username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    contact    TEXT NOT NULL,
    stanza_xml TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (username, contact)
) STRICT;

-- Offline messages; AUTOINCREMENT so that ids are never reused and
-- "delete up to id" cannot delete a message stored after the listing.
CREATE TABLE offline_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    stanza_xml TEXT    NOT NULL,
    stamp      TEXT    NOT NULL
) STRICT;

CREATE INDEX offline_messages_by_user ON offline_messages (username, id);

-- XEP-0191 blocklists (bare or full JIDs, or domains, as the client gave them).
CREATE TABLE blocklist (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    jid      TEXT NOT NULL,
    PRIMARY KEY (username, jid)
) STRICT;

-- Random secrets shared by every node using this database (e.g. the key of
-- SCRAM's fake salts for unknown users).
CREATE TABLE server_secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
