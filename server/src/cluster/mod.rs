//! Cluster backends: where the fleet's nodes, GPUs and MIG layouts come from.
//!
//! [`Cluster`] is the seam: the embedded backend ([`embedded`], simulated GPUs behind real node
//! agents on loopback HTTP) now, a Kubernetes one later. [`Fixed`] is a fleet given as data, with no
//! agents behind it: for handler tests and for serving the UI without a fleet (`--cluster none`).

pub mod embedded;

use std::future::Future;
use std::pin::Pin;

use mig::wire::InventoryGpu;
pub use mig::wire::{Fleet, FleetNodeInfo as Node, FleetPoolInfo as Pool};

/// A boxed future, so [`Cluster`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a cluster backend could not do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The fleet could not be started.
    #[error("starting the fleet: {0}")]
    Start(String),
    /// A node agent could not be reached or answered an error.
    #[error("node {node}: {message}")]
    Node {
        /// The node.
        node: String,
        /// What went wrong.
        message: String,
    },
}

/// A source of fleet state.
pub trait Cluster: Send + Sync + std::fmt::Debug + 'static {
    /// One line for the status card: what this backend is.
    fn describe(&self) -> String;
    /// The fleet now (asks every node).
    fn fleet(&self) -> BoxFuture<'_, Fleet>;
}

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
            fleet.pools.push(Pool {
                name: pool.name.clone(),
                shape: pool.shape.name.to_owned(),
                max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
            });
            let layout = pool
                .mig_config
                .as_deref()
                .and_then(|c| catalogue.config(pool.shape.model, c))
                .and_then(|c| c.layout(pool.shape.model).ok().flatten());
            for name in &pool.nodes {
                let gpus = (0..pool.shape.gpus)
                    .map(|index| InventoryGpu {
                        index,
                        uuid: format!("GPU-fixed-{name}-{index}"),
                        name: pool.shape.model.spec().display_name.to_owned(),
                        model: Some(pool.shape.model),
                        memory_mib: u64::from(pool.shape.model.spec().memory_mib),
                        mig_mode: if layout.is_some() {
                            mig::MigMode::Enabled
                        } else {
                            mig::MigMode::Disabled
                        },
                        pending_mig_mode: None,
                        instances: layout
                            .as_ref()
                            .map(mig::Layout::to_specs)
                            .unwrap_or_default(),
                        busy: Vec::new(),
                    })
                    .collect();
                fleet.nodes.push(Node {
                    name: name.clone(),
                    pool: pool.name.clone(),
                    shape: pool.shape.name.to_owned(),
                    mig_config: pool.mig_config.clone(),
                    gpus,
                    error: None,
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
}
