-- Custom MIG configs (#16): every version is kept; the newest undeleted one is current. A delete
-- marks every version deleted, so a name recreated later continues the version count and old
-- deployments still name what they applied.
CREATE TABLE mig_configs (
    name        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    model       TEXT    NOT NULL,
    description TEXT    NOT NULL,
    devices     TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    deleted_ms  BIGINT,
    PRIMARY KEY (name, version)
);
-- The config version an update or pool deployment applies, fixed when it was submitted.
CREATE TABLE deployment_configs (
    deployment_id BIGINT PRIMARY KEY REFERENCES deployments (id),
    name          TEXT    NOT NULL,
    version       BIGINT  NOT NULL
);
-- The custom config version last applied to a node (NULL: a built-in, or not known), so drift is
-- measured against what was applied, not against a newer version of the config.
ALTER TABLE fleet_desired ADD COLUMN version BIGINT;
