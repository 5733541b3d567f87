//! JSON shapes shared by the server's REST API and the browser: built from the tables, never hand-kept.

use serde::{Deserialize, Serialize};

use crate::layout::{InstanceSpec, ProfileCounts};
use crate::model::{GpuModel, ModelSpec, ProfileSpec, Verification};
use crate::place::Combination;

/// A profile as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// Name on this model (`3g.40gb`).
    pub name: String,
    /// `NVML_GPU_INSTANCE_PROFILE_*` index (for `nvmlDeviceGetGpuInstanceProfileInfo`).
    pub nvml_index: u32,
    /// NVML profile id (for create and placement calls).
    pub nvml_id: u32,
    /// Compute slices.
    pub compute_slices: u8,
    /// Memory slices.
    pub memory_slices: u8,
    /// Allowed start slices.
    pub starts: Vec<u8>,
    /// Streaming multiprocessors.
    pub sm_count: u16,
    /// Memory, MiB.
    pub memory_mib: u32,
    /// Most instances per GPU.
    pub max_count: u8,
    /// Kubernetes resource the device plugin's mixed strategy advertises.
    pub resource: String,
}

impl From<&ProfileSpec> for ProfileInfo {
    fn from(p: &ProfileSpec) -> Self {
        Self {
            name: p.name.to_owned(),
            nvml_index: p.nvml_index(),
            nvml_id: p.nvml_id(),
            compute_slices: p.compute_slices(),
            memory_slices: p.memory_slices(),
            starts: p.starts().to_vec(),
            sm_count: p.sm_count,
            memory_mib: p.memory_mib,
            max_count: p.max_count(),
            resource: p.resource_name(),
        }
    }
}

/// A GPU model as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Id used in URLs (`h100-80gb`).
    pub id: GpuModel,
    /// Human name.
    pub name: String,
    /// PCI device ids, as `0x233010DE`.
    pub pci_device_ids: Vec<String>,
    /// Total memory, MiB.
    pub memory_mib: u32,
    /// SMs.
    pub sm_count: u16,
    /// Peak memory bandwidth, GB/s.
    pub memory_bandwidth_gbps: u32,
    /// Whether the placement table was seen on real hardware.
    pub placements: Verification,
    /// Whether SM counts and memory sizes were seen on real hardware.
    pub sizes: Verification,
    /// Compute slices (7).
    pub compute_slices: u8,
    /// Memory slices (8).
    pub memory_slices: u8,
    /// Profiles.
    pub profiles: Vec<ProfileInfo>,
}

impl From<&ModelSpec> for ModelInfo {
    fn from(m: &ModelSpec) -> Self {
        Self {
            id: m.model,
            name: m.display_name.to_owned(),
            pci_device_ids: m
                .pci_device_ids
                .iter()
                .map(|id| format!("0x{id:08X}"))
                .collect(),
            memory_mib: m.memory_mib,
            sm_count: m.sm_count,
            memory_bandwidth_gbps: m.memory_bandwidth_gbps,
            placements: m.placements,
            sizes: m.sizes,
            compute_slices: crate::model::COMPUTE_SLICES,
            memory_slices: crate::model::MEMORY_SLICES,
            profiles: m.profiles.iter().map(ProfileInfo::from).collect(),
        }
    }
}

/// One enumerated combination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CombinationInfo {
    /// Profile → count.
    pub profiles: ProfileCounts,
    /// One valid placement.
    pub placements: Vec<InstanceSpec>,
    /// Nothing more fits.
    pub maximal: bool,
}

impl From<&Combination> for CombinationInfo {
    fn from(c: &Combination) -> Self {
        Self {
            profiles: c.counts.clone(),
            placements: c.layout.to_specs(),
            maximal: c.maximal,
        }
    }
}

/// One GPU as a node agent's `GET /v1/inventory` reports it (`{"gpus": [...]}`): what the server reads.
/// The agent writes more members (PCI id, MIG device UUIDs); readers ignore what they do not need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryGpu {
    /// NVML device index.
    pub index: u32,
    /// `GPU-…` UUID.
    pub uuid: String,
    /// Product name.
    pub name: String,
    /// The model migboard knows it as, if any.
    pub model: Option<crate::GpuModel>,
    /// Total memory, MiB.
    pub memory_mib: u64,
    /// MIG mode in effect.
    pub mig_mode: crate::MigMode,
    /// MIG mode after the next reset, when it differs.
    pub pending_mig_mode: Option<crate::MigMode>,
    /// Its GPU instances (profile and start).
    pub instances: Vec<crate::InstanceSpec>,
    /// Instances with processes on them.
    #[serde(default)]
    pub busy: Vec<BusySlice>,
}

/// A GPU instance with processes on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusySlice {
    /// Its profile.
    pub profile: String,
    /// Its first memory slice.
    pub start: u8,
    /// The processes.
    pub pids: Vec<u32>,
    /// Memory they use, MiB.
    pub used_memory_mib: u64,
}

/// A node agent's inventory answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Inventory {
    /// Every GPU of the node.
    pub gpus: Vec<InventoryGpu>,
}

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
    /// Why its agent did not answer, if it did not.
    pub error: Option<String>,
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
                                    in_use: g.busy.iter().any(|b| b.start == i.start),
                                })
                                .collect(),
                        })
                        .collect(),
                    workloads: n
                        .gpus
                        .iter()
                        .flat_map(|g| &g.busy)
                        .flat_map(|b| b.pids.iter().map(|p| format!("pid {p}")))
                        .collect(),
                })
                .collect(),
            deployments,
        }
    }
}
