-- `recipe_max_pods_per_node` is stored with the pool a deployment creates (fixed at creation, as on
-- OKE): it bounds the replicas migboard places on each of its nodes. Older pools had the default.
ALTER TABLE pools ADD COLUMN max_pods_per_node INTEGER NOT NULL DEFAULT 90;
-- A deployment's own pool (`recipe_use_shared_node_pool: false`) names that deployment: nothing
-- else is placed on its nodes.
ALTER TABLE pools ADD COLUMN dedicated_to TEXT;
