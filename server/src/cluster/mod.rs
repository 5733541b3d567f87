//! Cluster backends: where the fleet's nodes, GPUs and MIG layouts come from.
//!
//! [`Cluster`] is the seam: the embedded backend ([`embedded`], simulated GPUs behind real node
//! agents on loopback HTTP) now, a Kubernetes one later. [`Fixed`] is a fleet given as data, with no
//! agents behind it: for handler tests and for serving the UI without a fleet (`--cluster none`).

pub mod agent;
pub mod embedded;
pub mod kubernetes;

use mig::agent_api::{ApplyRequest, InventoryGpu};
pub use mig::wire::{Fleet, FleetNodeInfo, FleetPoolInfo};

/// A boxed future, so [`Cluster`] can be a trait object.
pub use futures_util::future::BoxFuture;

/// What a cluster backend could not do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The fleet could not be started.
    #[error("starting the fleet: {0}")]
    Start(String),
    /// A node agent could not be reached or answered an error (may pass: retry).
    #[error("node {node}: {message}")]
    Node {
        /// The node.
        node: String,
        /// What went wrong.
        message: String,
    },
    /// The node refused: what was asked cannot be done as the node is (retrying will not help).
    #[error("node {node}: {message}")]
    Refused {
        /// The node.
        node: String,
        /// What the node said.
        message: String,
    },
    /// Instances a change would destroy run workloads.
    #[error("node {node}: instances to destroy are in use: {}", busy.iter().map(BusyInstance::describe).collect::<Vec<_>>().join("; "))]
    InUse {
        /// The node.
        node: String,
        /// What is in the way.
        busy: Vec<BusyInstance>,
    },
    /// No node has this name.
    #[error("no node named \"{0}\" in the fleet")]
    NoSuchNode(String),
    /// GPU pods run on a node that must be idle before its MIG layout changes (Kubernetes).
    #[error("node {node} is not idle: GPU pods run there: {}. Retry with drain to evict them (\"Retry with drain\" on the deployment's page, the editor's \"Drain busy nodes\", or POST /api/v1/deployments?drain=true), or undeploy them first", pods.join(", "))]
    PodsRunning {
        /// The node.
        node: String,
        /// `namespace/name (resource)` of each pod.
        pods: Vec<String>,
    },
    /// This backend cannot do that.
    #[error("{0}")]
    Unsupported(String),
}

impl ClusterError {
    /// Whether trying again later may succeed (an agent restarting, a timeout, an apply still running).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Node { .. })
    }
}

// What the agent protocol says of busy instances and simulated workloads, used as they are.
pub use mig::agent_api::{BusyInstance, WorkloadRequest};

/// A node to add to a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNode {
    /// Node name.
    pub name: String,
    /// Its pool.
    pub pool: String,
    /// Its shape.
    pub shape: &'static mig::shape::NodeShape,
    /// Its pool's pods per node.
    pub max_pods_per_node: u32,
    /// The deployment whose own node it is, or `None` in a shared pool.
    pub dedicated_to: Option<String>,
}

/// Who decides where a workload's replicas run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduling {
    /// migboard: it picks a free slice per replica and starts it through the node's agent; it stops
    /// workloads in the way of a MIG change itself and changes one GPU at a time (the embedded fleet).
    Slices,
    /// The cluster's scheduler: migboard creates workload objects that ask for a slice resource,
    /// [`Cluster::apply`] drains and changes a whole node at once, controllers reschedule (Kubernetes).
    Cluster,
}

/// A workload for a cluster that schedules its own pods ([`Scheduling::Cluster`]).
#[derive(Debug, Clone, Copy)]
pub struct ClusterWorkload<'a> {
    /// The deployment's id (labels, names).
    pub id: i64,
    /// Its validated blueprint (the raw recipe carries image, env, probes…).
    pub blueprint: &'a mig::blueprint::Blueprint,
    /// Its workload part.
    pub workload: &'a mig::blueprint::Workload,
}

/// How a cluster-scheduled workload is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadStatus {
    /// Replicas ready (a job: pods that succeeded).
    pub ready: u32,
    /// Replicas asked for.
    pub wanted: u32,
    /// A job that ended: `Some(true)` succeeded, `Some(false)` failed. Services stay `None`.
    pub finished: Option<bool>,
    /// What the pods say when not all are ready (`Pending: 0/3 nodes have nvidia.com/mig-1g.10gb`).
    pub detail: String,
}

fn unsupported<'a, T: Send + 'a>(what: String) -> BoxFuture<'a, Result<T, ClusterError>> {
    Box::pin(async move { Err(ClusterError::Unsupported(what)) })
}

/// What an apply did, beyond succeeding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// GPUs whose MIG mode change is requested but waits for a GPU reset (nothing else of the
    /// change could be made on them yet).
    pub reset_pending: Vec<u32>,
}

/// A source of fleet state.
pub trait Cluster: Send + Sync + std::fmt::Debug + 'static {
    /// One line for the status card: what this backend is.
    fn describe(&self) -> String;
    /// The fleet now (asks every node).
    fn fleet(&self) -> BoxFuture<'_, Fleet>;
    /// Applies `request` (a config, or explicit layouts) to its GPUs of `node` (all when it names
    /// none) and waits until it is done. Without `drained`, refuses with [`ClusterError::InUse`] when
    /// instances it would destroy run workloads. Applying what a GPU has already changes nothing.
    /// Returns the GPUs whose MIG mode change waits for a reset (the request did not allow one,
    /// or the driver cannot reset): applied as far as it goes, not done.
    fn apply<'a>(
        &'a self,
        node: &'a str,
        request: &'a ApplyRequest,
    ) -> BoxFuture<'a, Result<Applied, ClusterError>>;
    /// Applies MIG config `config` (a built-in, or a custom config at the version a deployment
    /// fixed) to the whole of `node`, for clusters that apply by config ([`Scheduling::Cluster`]:
    /// Kubernetes). Others refuse; they take explicit [`Cluster::apply`] requests GPU by GPU.
    fn apply_config<'a>(
        &'a self,
        node: &'a str,
        config: &'a mig::NamedConfig,
        drained: bool,
    ) -> BoxFuture<'a, Result<Applied, ClusterError>> {
        let _ = (config, drained);
        Box::pin(async move {
            Err(ClusterError::Unsupported(format!(
                "node {node}: this cluster applies MIG layouts GPU by GPU, not whole configs"
            )))
        })
    }
    /// Runs a (simulated) workload on a MIG instance of `node`; starting one that runs is a no-op.
    fn start_workload<'a>(
        &'a self,
        node: &'a str,
        workload: &'a WorkloadRequest,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;
    /// Stops the workloads on the instance at `start` of GPU `gpu`; returns how many stopped (0 when
    /// none ran, or the instance is gone).
    fn stop_workloads<'a>(
        &'a self,
        node: &'a str,
        gpu: u32,
        start: u8,
    ) -> BoxFuture<'a, Result<u32, ClusterError>>;
    /// Adds a node (a no-op if it runs already).
    fn add_node<'a>(&'a self, node: &'a NewNode) -> BoxFuture<'a, Result<(), ClusterError>>;
    /// Removes a node and forgets its state (a no-op if it is gone).
    fn remove_node<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ClusterError>>;
    /// Who places workloads.
    fn scheduling(&self) -> Scheduling {
        Scheduling::Slices
    }
    /// Sets node labels (an `update` blueprint's `recipe_node_labels`); empty values remove a label.
    fn set_labels<'a>(
        &'a self,
        node: &'a str,
        _labels: &'a std::collections::BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        unsupported(format!(
            "{}: node {node} has no labels to set",
            self.describe()
        ))
    }
    /// Creates (or updates to) a workload's objects; returns what it created, in words.
    /// Only for [`Scheduling::Cluster`].
    fn deploy_workload<'a>(
        &'a self,
        _workload: ClusterWorkload<'a>,
    ) -> BoxFuture<'a, Result<String, ClusterError>> {
        unsupported("this fleet places replicas itself".into())
    }
    /// How deployment `id`'s workload is doing. Only for [`Scheduling::Cluster`].
    fn workload_status(&self, _id: i64) -> BoxFuture<'_, Result<WorkloadStatus, ClusterError>> {
        unsupported("this fleet places replicas itself".into())
    }
    /// Deletes everything deployment `id` created; returns how many objects went.
    /// Only for [`Scheduling::Cluster`].
    fn delete_workload(&self, _id: i64) -> BoxFuture<'_, Result<u32, ClusterError>> {
        unsupported("this fleet places replicas itself".into())
    }
    /// Where deployment `id`'s `service` answers. Fleets that place replicas themselves run
    /// simulated processes, which serve nothing.
    fn service_endpoint(
        &self,
        _id: i64,
        _blueprint: &mig::blueprint::Blueprint,
    ) -> mig::wire::ServiceEndpoint {
        mig::wire::ServiceEndpoint::None {
            why: "this fleet's replicas are simulated processes: each holds its MIG slice and serves nothing (on Kubernetes a Service gives it an address)".into(),
        }
    }
}

const FIXED: &str = "the fixed fleet (--cluster none) cannot change; start migboard with --cluster embedded to deploy";

/// A fleet given as data, with no agents behind it.
#[derive(Debug, Clone)]
pub struct Fixed {
    fleet: Fleet,
    what: String,
}

impl Fixed {
    /// The fleet `spec` describes, each node's GPUs laid out by its pool's named config.
    pub fn new(
        spec: &embedded::FleetSpec,
        catalogue: &mig::blueprint::Catalogue,
        what: &str,
    ) -> Self {
        let mut fleet = Fleet::default();
        for pool in &spec.pools {
            fleet.pools.push(FleetPoolInfo {
                name: pool.name.clone(),
                shape: pool.shape.name.to_owned(),
                max_pods_per_node: pool.max_pods_per_node,
                dedicated_to: pool.dedicated_to.clone(),
            });
            let layout = pool
                .mig_config
                .as_deref()
                .and_then(|c| catalogue.config(pool.shape.model, c))
                .and_then(|c| c.layout(pool.shape.model).ok().flatten());
            for name in pool.nodes.iter().map(|n| &n.name) {
                let gpus: Vec<InventoryGpu> = (0..pool.shape.gpus)
                    .map(|index| {
                        InventoryGpu::described(
                            index,
                            format!("GPU-fixed-{name}-{index}"),
                            pool.shape.model,
                            layout.as_ref(),
                        )
                    })
                    .collect();
                let labels = operator_labels(
                    &pool.name,
                    pool.shape.name,
                    pool.mig_config.as_deref(),
                    &gpus,
                );
                fleet.nodes.push(FleetNodeInfo {
                    name: name.clone(),
                    pool: pool.name.clone(),
                    shape: pool.shape.name.to_owned(),
                    mig_config: pool.mig_config.clone(),
                    gpus,
                    error: None,
                    mig_state: None,
                    drift: None,
                    labels,
                });
            }
        }
        Self {
            fleet,
            what: what.to_owned(),
        }
    }
}

impl Fixed {
    /// Its fleet, without the async of [`Cluster::fleet`].
    pub fn snapshot(&self) -> Fleet {
        self.fleet.clone()
    }
}

impl Cluster for Fixed {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn fleet(&self) -> BoxFuture<'_, Fleet> {
        Box::pin(async move { self.fleet.clone() })
    }

    fn apply<'a>(
        &'a self,
        _: &'a str,
        _: &'a ApplyRequest,
    ) -> BoxFuture<'a, Result<Applied, ClusterError>> {
        Box::pin(async { Err(ClusterError::Unsupported(FIXED.into())) })
    }

    fn start_workload<'a>(
        &'a self,
        _: &'a str,
        _: &'a WorkloadRequest,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async { Err(ClusterError::Unsupported(FIXED.into())) })
    }

    fn stop_workloads<'a>(
        &'a self,
        _: &'a str,
        _: u32,
        _: u8,
    ) -> BoxFuture<'a, Result<u32, ClusterError>> {
        Box::pin(async { Err(ClusterError::Unsupported(FIXED.into())) })
    }

    fn add_node<'a>(&'a self, _: &'a NewNode) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async { Err(ClusterError::Unsupported(FIXED.into())) })
    }

    fn remove_node<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async { Err(ClusterError::Unsupported(FIXED.into())) })
    }
}

/// The labels the GPU Operator (GPU Feature Discovery, mig-manager) and the cloud would give a
/// Kubernetes node whose GPUs are `gpus`: what a fleet without Nodes (embedded, described as data)
/// shows in their place. `nvidia.com/mig.config.state` is `pending` while a GPU waits for the reset
/// that a MIG mode change needs, `success` otherwise.
#[must_use]
pub fn operator_labels(
    pool: &str,
    shape: &str,
    config: Option<&str>,
    gpus: &[InventoryGpu],
) -> std::collections::BTreeMap<String, String> {
    use kubernetes::{GPU_COUNT, GPU_PRODUCT, INSTANCE_TYPE, MIG_CONFIG, MIG_STATE, MIGBOARD_POOL};
    let mut labels = std::collections::BTreeMap::new();
    let mut put = |k: &str, v: String| {
        labels.insert(k.to_owned(), v);
    };
    put(MIGBOARD_POOL, pool.to_owned());
    put(INSTANCE_TYPE, shape.to_owned());
    put(GPU_COUNT, gpus.len().to_string());
    if let Some(g) = gpus.first() {
        put(GPU_PRODUCT, g.name.replace(' ', "-"));
    }
    put("nvidia.com/mig.strategy", "mixed".to_owned());
    if let Some(c) = config {
        put(MIG_CONFIG, c.to_owned());
    }
    let waiting = gpus.iter().any(|g| g.pending_mig_mode.is_some());
    put(MIG_STATE, if waiting { "pending" } else { "success" }.to_owned());
    labels
}
