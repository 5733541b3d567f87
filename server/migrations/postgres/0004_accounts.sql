-- Local users, their API tokens and browser sessions. Passwords are argon2id PHC strings; tokens and
-- session ids are random, and only a SHA-256 of a token is kept.
CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    disabled       BIGINT NOT NULL DEFAULT 0,
    created_ms     BIGINT NOT NULL,
    last_login_ms  BIGINT
);

CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT,
    last_used_ms  BIGINT,
    revoked_ms    BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- tower-sessions records: the id is the cookie's value, data the session's JSON.
CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    data        TEXT    NOT NULL,
    expiry_ms   BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_ms);
