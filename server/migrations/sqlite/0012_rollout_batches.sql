-- Pool updates and pool creation roll out `max_unavailable` nodes at a time (the guide's one node at
-- a time unless asked otherwise); a failed batch pauses the rollout, resumable.
ALTER TABLE deployments ADD COLUMN max_unavailable INTEGER NOT NULL DEFAULT 1;
