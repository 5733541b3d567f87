-- When a user's password last changed (#18): sessions that signed in before it are ended, and the
-- change revokes the user's API tokens. 0: never changed since this column came.
ALTER TABLE users ADD COLUMN credentials_ms BIGINT NOT NULL DEFAULT 0;
