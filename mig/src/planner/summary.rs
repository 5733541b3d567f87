//! What a plan gives: per-GPU and per-node counts, headroom, and replicas per node.

use serde::{Deserialize, Serialize};

use super::{Headroom, NodePlan, headroom};
use crate::layout::ProfileCounts;
use crate::model::{COMPUTE_SLICES, KINDS, MEMORY_SLICES};

/// One GPU in a [`PlanSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuSummary {
    /// MIG on.
    pub mig_enabled: bool,
    /// Instances per profile.
    pub counts: ProfileCounts,
    /// Free and stranded slices (all zero when MIG is off).
    pub headroom: Headroom,
}

/// Everything the planner's summary shows. Slice figures are per node, over the GPUs with MIG on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Per GPU.
    pub per_gpu: Vec<GpuSummary>,
    /// Instances per profile on one node.
    pub per_node: ProfileCounts,
    /// Instances per profile in the pool (`per_node` × nodes).
    pub per_pool: ProfileCounts,
    /// Nodes in the pool.
    pub nodes: u32,
    /// GPUs with MIG off (used whole).
    pub whole_gpus: u32,
    /// Compute slices used by instances.
    pub compute_used: u32,
    /// Compute slices of the GPUs with MIG on.
    pub compute_total: u32,
    /// Free compute slices no addition could use.
    pub compute_stranded: u32,
    /// Memory slices used by instances.
    pub memory_used: u32,
    /// Memory slices of the GPUs with MIG on.
    pub memory_total: u32,
    /// Free memory slices no addition could use.
    pub memory_stranded: u32,
    /// Memory of one memory slice, MiB (the smallest profile's memory).
    pub memory_slice_mib: u32,
    /// Extended resources one node advertises with the device plugin's `mixed` strategy, in profile
    /// table order; GPUs with MIG off appear as `nvidia.com/gpu`.
    pub resources: Vec<(String, u32)>,
    /// Every GPU has the same layout counts (or every GPU has MIG off).
    pub uniform: bool,
}

impl NodePlan {
    /// The summary the planner shows.
    pub fn summary(&self) -> PlanSummary {
        let profiles = &self.model.spec().profiles;
        let mut per_node = ProfileCounts::default();
        let mut per_gpu = Vec::with_capacity(self.gpus.len());
        let (mut compute_used, mut compute_total, mut compute_stranded) = (0, 0, 0);
        let (mut memory_used, mut memory_total, mut memory_stranded) = (0, 0, 0);
        let mut whole_gpus = 0;
        for gpu in &self.gpus {
            match gpu {
                None => {
                    whole_gpus += 1;
                    per_gpu.push(GpuSummary {
                        mig_enabled: false,
                        counts: ProfileCounts::default(),
                        headroom: Headroom::default(),
                    });
                }
                Some(layout) => {
                    let counts = layout.counts();
                    let h = headroom(layout);
                    for (name, &n) in &counts.0 {
                        per_node.add(name, n);
                    }
                    compute_used += u32::from(layout.compute_used());
                    memory_used += u32::from(layout.memory_used());
                    compute_total += u32::from(COMPUTE_SLICES);
                    memory_total += u32::from(MEMORY_SLICES);
                    compute_stranded += u32::from(h.compute_stranded);
                    memory_stranded += u32::from(h.memory_stranded);
                    per_gpu.push(GpuSummary {
                        mig_enabled: true,
                        counts,
                        headroom: h,
                    });
                }
            }
        }
        let mut per_pool = ProfileCounts::default();
        for (name, &n) in &per_node.0 {
            per_pool.add(name, n * self.nodes);
        }
        let mut resources: Vec<(String, u32)> = profiles
            .iter()
            .filter_map(|p| per_node.0.get(p.name).map(|&n| (p.resource_name(), n)))
            .collect();
        if whole_gpus > 0 {
            resources.push(("nvidia.com/gpu".to_owned(), whole_gpus));
        }
        let uniform = per_gpu
            .windows(2)
            .all(|w| w[0].mig_enabled == w[1].mig_enabled && w[0].counts == w[1].counts);
        PlanSummary {
            per_gpu,
            per_node,
            per_pool,
            nodes: self.nodes,
            whole_gpus,
            compute_used,
            compute_total,
            compute_stranded,
            memory_used,
            memory_total,
            memory_stranded,
            memory_slice_mib: profiles[KINDS[0].kind as usize].memory_mib,
            resources,
            uniform,
        }
    }

    /// Replicas per node of one deployment needing `need_bytes`, per profile that holds it. One
    /// deployment requests one profile (its `mig_resource_request`), so a node with 2 × 1g.10gb and
    /// 1 × 3g.40gb per GPU serves 16 replicas of a `1g.10gb` deployment *or* 8 of a `3g.40gb` one, never
    /// 24 of one deployment. Profiles in the model's order (smallest first); a GPU with MIG off counts as
    /// its whole-GPU profile.
    pub fn replicas_per_profile(&self, need_bytes: u64) -> Vec<(&'static str, u32)> {
        let mut per: Vec<(&'static str, u32)> = Vec::new();
        let whole = self.model.profile_of_kind(crate::ProfileKind::SevenSlice);
        for g in &self.gpus {
            let profiles: Vec<&'static crate::ProfileSpec> = match g {
                None => vec![whole],
                Some(l) => l.instances().iter().map(|p| p.profile).collect(),
            };
            for p in profiles {
                if u64::from(p.memory_mib) * 1024 * 1024 >= need_bytes {
                    match per.iter_mut().find(|(n, _)| *n == p.name) {
                        Some(e) => e.1 += 1,
                        None => per.push((p.name, 1)),
                    }
                }
            }
        }
        per.sort_by_key(|(n, _)| self.model.profile(n).map(|p| p.kind));
        per
    }
}
