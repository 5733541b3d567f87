//! What the API says about GPU models, profiles and layouts: built from the tables, never hand-kept.

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
