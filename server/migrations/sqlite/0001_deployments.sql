-- Deployments, their step log, the fleet's desired MIG configs and the audit log.
-- Times are Unix milliseconds (INTEGER) so SQLite and PostgreSQL store them alike.
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    blueprint   TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    message     TEXT    NOT NULL DEFAULT '',
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    -- Set when undeployed: its name may then be reused.
    ended_ms    INTEGER
);
-- A name is unique among deployments that have not been undeployed.
CREATE UNIQUE INDEX deployments_live_name ON deployments (name) WHERE ended_ms IS NULL;
CREATE INDEX deployments_status ON deployments (status);

CREATE TABLE deployment_steps (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    seq           INTEGER NOT NULL,
    -- Idempotency key: the orchestrator's name for the step ("reconfigure/10.0.10.11/3").
    step_key      TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    at_ms         INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, seq),
    UNIQUE (deployment_id, step_key)
);

CREATE TABLE fleet_desired (
    node        TEXT    PRIMARY KEY,
    mig_config  TEXT    NOT NULL,
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    source      TEXT    NOT NULL
);
