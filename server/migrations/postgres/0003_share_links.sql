-- Read-only links to one deployment. Only a hash of each token is kept: the database cannot give
-- a link away.
CREATE TABLE share_links (
    id            BIGSERIAL PRIMARY KEY,
    token_hash    TEXT    NOT NULL UNIQUE,
    deployment_id BIGINT NOT NULL REFERENCES deployments (id),
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL,
    revoked_ms    BIGINT,
    created_by    TEXT    NOT NULL
);
CREATE INDEX share_links_deployment ON share_links (deployment_id);
