//! `shared_node_pool` deployments: create (or adopt) a pool's nodes and lay out their GPUs.

use std::collections::BTreeSet;

use mig::wire::{DeploymentStatus, StepState};

use super::{Failure, Orchestrator, Outcome};
use crate::cluster::{Fleet, NewNode, Scheduling};
use crate::store::{Deployment, StoredPool};

impl Orchestrator {
    pub(super) async fn run_pool(
        &self,
        d: &Deployment,
        spec: &mig::blueprint::PoolSpec,
    ) -> Outcome {
        let shape = mig::shape::shape(&spec.shape).ok_or_else(|| {
            Failure::Permanent(format!("{} is not a MIG-capable shape", spec.shape))
        })?;
        let fleet = self.refresh().await;
        let stored = self
            .inner
            .store
            .pools()
            .await?
            .into_iter()
            .find(|p| p.name == spec.name);
        let existing: Vec<String> = fleet
            .nodes
            .iter()
            .filter(|n| n.pool == spec.name)
            .map(|n| n.name.clone())
            .collect();
        let nodes = match stored {
            Some(p) if p.deployment_id == d.id => p.nodes,
            None if existing.is_empty() && self.schedules() == Scheduling::Cluster => {
                let message = format!(
                    "no node carries pool \"{}\": on Kubernetes, create the node pool with the cloud provider (OKE) and label its nodes with the pool label, then deploy this again to adopt it",
                    spec.name
                );
                self.step(d.id, "pool/adopt", StepState::Failed, &message)
                    .await?;
                return Err(Failure::Permanent(message));
            }
            None if existing.is_empty() => {
                let names = self.allocate_names(&fleet, spec.size).await?;
                let message = format!(
                    "pool \"{}\": {} × {} (nodes {})",
                    spec.name,
                    names.len(),
                    shape.name,
                    names.join(", ")
                );
                self.record_pool(
                    d,
                    &StoredPool {
                        name: spec.name.clone(),
                        shape: shape.name.to_owned(),
                        mig_config: spec.mig_config.clone(),
                        deployment_id: d.id,
                        nodes: names.clone(),
                        max_pods_per_node: spec.max_pods_per_node,
                        dedicated_to: None,
                    },
                    &message,
                )
                .await?;
                names
            }
            _ => {
                self.step(
                    d.id,
                    "pool/adopt",
                    StepState::Done,
                    &format!(
                        "pool \"{}\" exists with {} node(s); adopting it (shared_node_pool_size {} is not applied to an existing pool)",
                        spec.name,
                        existing.len(),
                        spec.size
                    ),
                )
                .await?;
                existing
            }
        };
        self.start_nodes(
            d,
            &fleet,
            &NewPool {
                name: &spec.name,
                shape,
                max_pods_per_node: spec.max_pods_per_node,
                dedicated_to: None,
            },
            &nodes,
        )
        .await?;
        if let Some(config) = &spec.mig_config {
            self.reconfigure(d, &nodes, config).await?;
        }
        Ok((
            DeploymentStatus::Active,
            format!(
                "pool \"{}\" ready: {} node(s){}",
                spec.name,
                nodes.len(),
                spec.mig_config
                    .as_deref()
                    .map(|c| format!(" on {c}"))
                    .unwrap_or_default()
            ),
        ))
    }

    /// Records `pool`, which deployment `d` creates, and its `pool/create` step saying `message`.
    async fn record_pool(
        &self,
        d: &Deployment,
        pool: &StoredPool,
        message: &str,
    ) -> Result<(), Failure> {
        self.inner.store.create_pool(pool).await?;
        self.step(d.id, "pool/create", StepState::Done, message).await?;
        Ok(())
    }

    /// Starts the nodes of `pool` the fleet does not have yet, each a step (`node/<name>`).
    async fn start_nodes(
        &self,
        d: &Deployment,
        fleet: &Fleet,
        pool: &NewPool<'_>,
        nodes: &[String],
    ) -> Result<(), Failure> {
        let done = self.done_steps(d.id).await?;
        for name in nodes {
            let key = format!("node/{name}");
            if done.contains(&key) || fleet.nodes.iter().any(|n| &n.name == name) {
                if !done.contains(&key) {
                    self.step(d.id, &key, StepState::Done, &format!("node {name} is up"))
                        .await?;
                }
                continue;
            }
            self.step(
                d.id,
                &key,
                StepState::Running,
                &format!("starting node {name}"),
            )
            .await?;
            self.inner
                .cluster
                .add_node(&NewNode {
                    name: name.clone(),
                    pool: pool.name.to_owned(),
                    shape: pool.shape,
                    max_pods_per_node: pool.max_pods_per_node,
                    dedicated_to: pool.dedicated_to.map(str::to_owned),
                })
                .await?;
            self.step(
                d.id,
                &key,
                StepState::Done,
                &format!("node {name} is up ({} GPUs)", pool.shape.gpus),
            )
            .await?;
        }
        Ok(())
    }

    /// The nodes workload deployment `d` has of its own (`recipe_use_shared_node_pool: false` on
    /// the embedded fleet): created the first time, as a pool named after it, laid out with
    /// `own.config`; the pool's name.
    pub(super) async fn own_pool(
        &self,
        d: &Deployment,
        w: &mig::blueprint::Workload,
        own: &mig::blueprint::OwnNodes,
    ) -> Result<String, Failure> {
        let shape = mig::shape::shape(&w.shape).ok_or_else(|| {
            Failure::Permanent(format!("{} is not a MIG-capable shape", w.shape))
        })?;
        let fleet = self.refresh().await;
        let (name, nodes) = match self.inner.store.pool_of(d.id).await? {
            Some(p) => (p.name, p.nodes),
            None => {
                let stored = self.inner.store.pools().await?;
                let taken = |n: &str| {
                    fleet.pools.iter().any(|p| p.name == n) || stored.iter().any(|p| p.name == n)
                };
                let name = if taken(&d.name) {
                    format!("{}-{}", d.name, d.id)
                } else {
                    d.name.clone()
                };
                let names = self.allocate_names(&fleet, own.size).await?;
                let message = format!(
                    "nodes of its own (recipe_use_shared_node_pool false): pool \"{name}\", {} × {} on {} (nodes {})",
                    names.len(),
                    shape.name,
                    own.config,
                    names.join(", ")
                );
                self.record_pool(
                    d,
                    &StoredPool {
                        name: name.clone(),
                        shape: shape.name.to_owned(),
                        mig_config: Some(own.config.clone()),
                        deployment_id: d.id,
                        nodes: names.clone(),
                        max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
                        dedicated_to: Some(d.name.clone()),
                    },
                    &message,
                )
                .await?;
                (name, names)
            }
        };
        // Node autoscaling: replicas that would wait for slices grow the pool, up to its most.
        let want = own
            .size
            .max(w.replicas.div_ceil(own.per_node.max(1)))
            .min(own.max) as usize;
        let mut nodes = nodes;
        if nodes.len() < want {
            let more = self
                .allocate_names(&fleet, u32::try_from(want - nodes.len()).unwrap_or(1))
                .await?;
            self.inner.store.add_pool_nodes(&name, &more).await?;
            self.step(
                d.id,
                &format!("pool/grow/{want}"),
                StepState::Done,
                &format!(
                    "pool \"{name}\" grows to {want} nodes (adds {}): {} replicas need more slices than {} node(s) have (recipe_node_autoscaling_params, at most {})",
                    more.join(", "),
                    w.replicas,
                    nodes.len(),
                    own.max
                ),
            )
            .await?;
            nodes.extend(more);
        }
        self.start_nodes(
            d,
            &fleet,
            &NewPool {
                name: &name,
                shape,
                max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
                dedicated_to: Some(&d.name),
            },
            &nodes,
        )
        .await?;
        self.reconfigure(d, &nodes, &own.config).await?;
        Ok(name)
    }

    /// `size` node names, as OKE names nodes (by private IP): free addresses of the worker subnet
    /// `10.0.10.0/24` from `10.0.10.138` up (the address OCI's MIG guide gives its quickstart pool's
    /// node, so the guide's update sample runs verbatim), else a free `10.0.N.0/24`.
    pub(super) async fn allocate_names(
        &self,
        fleet: &Fleet,
        size: u32,
    ) -> Result<Vec<String>, Failure> {
        let mut used: BTreeSet<String> = fleet.nodes.iter().map(|n| n.name.clone()).collect();
        for p in self.inner.store.pools().await? {
            used.extend(p.nodes);
        }
        let worker: Vec<String> = (138..=254u32)
            .map(|h| format!("10.0.10.{h}"))
            .filter(|n| !used.contains(n))
            .take(size as usize)
            .collect();
        if worker.len() == size as usize {
            return Ok(worker);
        }
        let subnet = (30..=250u32)
            .find(|k| !used.iter().any(|n| n.starts_with(&format!("10.0.{k}."))))
            .ok_or_else(|| {
                Failure::Permanent("no free 10.0.N.0/24 subnet left for new nodes".into())
            })?;
        Ok((0..size)
            .map(|i| format!("10.0.{subnet}.{}", 11 + i))
            .collect())
    }
}

/// A pool whose nodes [`Orchestrator::start_nodes`] starts.
struct NewPool<'a> {
    name: &'a str,
    shape: &'static mig::shape::NodeShape,
    max_pods_per_node: u32,
    dedicated_to: Option<&'a str>,
}
