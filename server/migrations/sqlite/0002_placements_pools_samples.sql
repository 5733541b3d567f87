-- Whether an update may drain busy nodes (move their workloads) instead of failing.
ALTER TABLE deployments ADD COLUMN drain INTEGER NOT NULL DEFAULT 0;

-- Where each replica of a workload deployment runs, the pools deployments created, and memory samples.

-- One row per replica placed on a MIG slice. The (node, gpu, start_slice) of a live replica is unique:
-- two replicas can never be given the same slice. A drain marks replicas `displaced` until they move.
CREATE TABLE placements (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    replica       INTEGER NOT NULL,
    node          TEXT    NOT NULL,
    gpu           INTEGER NOT NULL,
    start_slice   INTEGER NOT NULL,
    profile       TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'placed',
    PRIMARY KEY (deployment_id, replica)
);
CREATE UNIQUE INDEX placements_slice ON placements (node, gpu, start_slice) WHERE state = 'placed';

-- Pools that shared_node_pool deployments created, and their nodes: the embedded fleet starts them
-- again after a restart.
CREATE TABLE pools (
    name          TEXT    PRIMARY KEY,
    shape         TEXT    NOT NULL,
    mig_config    TEXT,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    created_ms    INTEGER NOT NULL
);
CREATE TABLE pool_nodes (
    node          TEXT    PRIMARY KEY,
    pool          TEXT    NOT NULL REFERENCES pools (name) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL
);

-- Memory used per MIG instance over time (the node page's chart), pruned after a day.
CREATE TABLE samples (
    node          TEXT    NOT NULL,
    gpu           INTEGER NOT NULL,
    start_slice   INTEGER NOT NULL,
    profile       TEXT    NOT NULL,
    at_ms         INTEGER NOT NULL,
    used_mib      INTEGER NOT NULL
);
CREATE INDEX samples_node_time ON samples (node, at_ms);
