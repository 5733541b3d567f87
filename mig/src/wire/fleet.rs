//! The fleet as the server reports it (`GET /api/v1/fleet`): pools, nodes and their GPUs' live
//! layouts, read from node agents ([`crate::agent_api::InventoryGpu`]) or a cluster.

use serde::{Deserialize, Serialize};

use crate::agent_api::InventoryGpu;

/// A GPU node as the server reports it (`GET /api/v1/fleet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetNodeInfo {
    /// Node name (OKE: its private IP).
    pub name: String,
    /// Its pool.
    pub pool: String,
    /// OCI shape.
    pub shape: String,
    /// The named MIG config last applied to it, if any.
    pub mig_config: Option<String>,
    /// Its GPUs, when its agent answered.
    pub gpus: Vec<InventoryGpu>,
    /// Why it cannot be read or used now (its agent did not answer, the node is NotReady), if so.
    pub error: Option<String>,
    /// Where its last MIG change stands when not plainly done (Kubernetes:
    /// `nvidia.com/mig.config.state` = `pending`, `rebooting` or `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mig_state: Option<String>,
    /// Its GPUs differ from the config migboard last applied to it (changed outside migboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::agent_api::Drift>,
    /// Its GPU Operator and topology labels (`nvidia.com/*`, the pool and instance-type labels):
    /// read from the Node on Kubernetes; on the embedded fleet, the ones the GPU Operator would
    /// set for what the agent reports.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A node pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPoolInfo {
    /// Pool name.
    pub name: String,
    /// Node shape.
    pub shape: String,
    /// Pods per node.
    pub max_pods_per_node: u32,
    /// The deployment whose own pool it is (`recipe_use_shared_node_pool: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_to: Option<String>,
}

/// The fleet: pools and nodes with their GPUs' live layouts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fleet {
    /// Node pools.
    pub pools: Vec<FleetPoolInfo>,
    /// Nodes.
    pub nodes: Vec<FleetNodeInfo>,
}

impl Fleet {
    /// The view blueprint validation reads: slices per GPU and which are in use.
    pub fn view(&self, deployments: Vec<String>) -> crate::blueprint::FleetView {
        crate::blueprint::FleetView {
            pools: self
                .pools
                .iter()
                .map(|p| crate::blueprint::FleetPool {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                    max_pods_per_node: p.max_pods_per_node,
                    dedicated_to: p.dedicated_to.clone(),
                })
                .collect(),
            nodes: self
                .nodes
                .iter()
                .map(|n| crate::blueprint::FleetNode {
                    name: n.name.clone(),
                    pool: Some(n.pool.clone()),
                    model: n
                        .gpus
                        .iter()
                        .find_map(|g| g.model)
                        .or_else(|| crate::shape::shape(&n.shape).map(|s| s.model)),
                    mig_config: n.mig_config.clone(),
                    gpus: n
                        .gpus
                        .iter()
                        .map(|g| crate::blueprint::FleetGpu {
                            mig: g.mig_mode == crate::MigMode::Enabled,
                            slices: g
                                .instances
                                .iter()
                                .map(|i| crate::blueprint::FleetSlice {
                                    profile: i.profile.clone(),
                                    start: i.start,
                                    in_use: g.busy.iter().any(|b| b.start == i.start),
                                })
                                .collect(),
                        })
                        .collect(),
                    // By replica ("chat replica 2") where migboard placed it; by process
                    // otherwise (something it did not place).
                    workloads: {
                        let mut names: Vec<String> = Vec::new();
                        for b in n.gpus.iter().flat_map(|g| &g.busy) {
                            let these: Vec<String> = if b.owners.is_empty() {
                                b.pids.iter().map(|p| format!("pid {p}")).collect()
                            } else {
                                b.owners.clone()
                            };
                            for name in these {
                                if !names.contains(&name) {
                                    names.push(name);
                                }
                            }
                        }
                        names
                    },
                })
                .collect(),
            deployments,
        }
    }
}
