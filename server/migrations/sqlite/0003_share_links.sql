-- Read-only links to one deployment. Only a hash of each token is kept: the database cannot give
-- a link away.
CREATE TABLE share_links (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash    TEXT    NOT NULL UNIQUE,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    revoked_ms    INTEGER,
    created_by    TEXT    NOT NULL
);
CREATE INDEX share_links_deployment ON share_links (deployment_id);
