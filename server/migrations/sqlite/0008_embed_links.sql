-- Signed embed links (#23): one view (`fleet`, `pool/<name>`, `node/<name>`, `deployment/<id>`)
-- for portals on other sites. Only a hash of each token is kept; `origins` is the JSON array of
-- portals that may frame it.
CREATE TABLE embed_links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT    NOT NULL UNIQUE,
    view       TEXT    NOT NULL,
    origins    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked_ms INTEGER,
    created_by TEXT    NOT NULL
);
