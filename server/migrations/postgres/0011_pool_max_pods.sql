-- `recipe_max_pods_per_node` is stored with the pool a deployment creates (fixed at creation, as on
-- OKE): it bounds the replicas migboard places on each of its nodes. Older pools had the default.
ALTER TABLE pools ADD COLUMN max_pods_per_node INTEGER NOT NULL DEFAULT 90;
