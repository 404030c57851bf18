-- Sessions of the web pages. The browser's cookie holds a random session id;
-- only its SHA-256 is kept here, so a leaked database opens no session. Each
-- session has its own synchronizer token for the forms it shows (CSRF).
CREATE TABLE web_sessions (
    id_sha256  BLOB    NOT NULL PRIMARY KEY,
    username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    -- The token every state-changing form of this session must carry.
    csrf_token TEXT    NOT NULL,
    -- Unix time in milliseconds.
    created_ms INTEGER NOT NULL,
    -- Past this (Unix milliseconds) the session is gone.
    expires_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX web_sessions_by_user ON web_sessions (username);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_ms);
