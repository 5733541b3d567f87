-- Local users, their API tokens and browser sessions. Passwords are argon2id PHC strings; tokens and
-- session ids are random, and only a SHA-256 of a token is kept.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL,
    last_login_ms  INTEGER
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER,
    last_used_ms  INTEGER,
    revoked_ms    INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- tower-sessions records: the id is the cookie's value, data the session's JSON.
CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    data        TEXT    NOT NULL,
    expiry_ms   INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_ms);
