-- Statuses as OCI's MIG guide uses them: a ready pool is "active" ("launch MIG inference when pool is
-- active"); work being carried out, which was "active", is "deploying".
UPDATE deployments SET status = 'deploying' WHERE status = 'active';
UPDATE deployments SET status = 'active' WHERE status = 'completed' AND mode = 'shared_node_pool';
