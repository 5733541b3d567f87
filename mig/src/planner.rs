//! The slice planner's model: one node's GPUs (standing for every node of a pool), edited one drop at
//! a time with each edit checked against the placement rules, summarised, and encoded in a link.
//!
//! The planner page in the browser is a view of a [`NodePlan`]: it decides nothing itself. Every
//! refusal it shows is a [`Refusal`] from here, every number in its summary comes from
//! [`NodePlan::summary`], and its shareable link is [`NodePlan::to_query`] / [`NodePlan::from_query`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, Placed, ProfileCounts, list, slices_of};
use crate::model::{COMPUTE_SLICES, GpuModel, KINDS, MEMORY_SLICES, ProfileSpec};
use crate::parted::DesiredMig;
use crate::place::{PlacementError, place};
use crate::shape::{MAX_GPUS_PER_NODE, MAX_POOL_NODES, NodeShape, SHAPES, shape};

/// The node (and pool) being planned: a model, its GPUs, and how many such nodes the pool has.
///
/// Invariants, kept by every method: 1..=[`MAX_GPUS_PER_NODE`] GPUs, every layout of `model`, a shape
/// (when set) of this model and GPU count, 1..=[`MAX_POOL_NODES`] nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    model: GpuModel,
    shape: Option<&'static NodeShape>,
    /// Per GPU: `None` = MIG disabled (the whole GPU), `Some` = MIG enabled with this layout.
    gpus: Vec<Option<Layout>>,
    nodes: u32,
}

/// A named MIG config as the planner offers it: a name and what it asks of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedConfig {
    /// mig-parted's name, such as `all-balanced`.
    pub name: String,
    /// What it asks of a GPU of the planned model.
    pub desired: DesiredMig,
}

impl NamedConfig {
    /// The layout this config gives one GPU of `model` (`None`: MIG disabled).
    ///
    /// # Errors
    /// [`PlacementError`] when its instances do not place on the model.
    pub fn layout(&self, model: GpuModel) -> Result<Option<Layout>, PlacementError> {
        match &self.desired {
            DesiredMig::Disabled => Ok(None),
            DesiredMig::Enabled(counts) => place(model, counts).map(Some),
        }
    }
}

/// The eight config names of OCI's MIG guide, in its order: offered first.
pub const GUIDE_CONFIGS: [&str; 8] = [
    "all-1g.10gb",
    "all-1g.20gb",
    "all-2g.20gb",
    "all-3g.40gb",
    "all-4g.40gb",
    "all-7g.80gb",
    "all-balanced",
    "all-disabled",
];

/// The configs of `file` that apply to GPU 0 of `model` and place on it: the guide's names first (in
/// its order), then the rest by name.
pub fn named_configs(file: &crate::parted::MigPartedConfig, model: GpuModel) -> Vec<NamedConfig> {
    let mut out: Vec<NamedConfig> = file
        .configs
        .keys()
        .filter_map(|name| {
            let desired = file.resolve(name, model, 0).ok()?;
            let config = NamedConfig {
                name: name.clone(),
                desired,
            };
            config.layout(model).ok().map(|_| config)
        })
        .collect();
    out.sort_by_key(|c| {
        (
            GUIDE_CONFIGS
                .iter()
                .position(|g| *g == c.name)
                .unwrap_or(GUIDE_CONFIGS.len()),
            c.name.clone(),
        )
    });
    out
}

/// Why an edit is refused, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Refusal {
    /// The GPU index is outside the node.
    #[error("the node has no GPU {gpu}; it has GPUs 0 to {last}")]
    NoSuchGpu {
        /// The index asked for.
        gpu: usize,
        /// The last index.
        last: usize,
    },
    /// The model has no such profile.
    #[error("{model} has no profile `{profile}`; its profiles are {available}")]
    UnknownProfile {
        /// The name asked for.
        profile: String,
        /// The model's display name.
        model: String,
        /// Its profiles, comma-separated.
        available: String,
    },
    /// No instance covers that memory slice.
    #[error("GPU {gpu} has no instance on memory slice {slice}")]
    NoInstance {
        /// GPU index.
        gpu: usize,
        /// Memory slice.
        slice: u8,
    },
    /// MIG is off on the GPU.
    #[error("GPU {gpu} has MIG turned off; turn MIG on for it first")]
    MigDisabled {
        /// GPU index.
        gpu: usize,
    },
    /// The profile may not start there.
    #[error(
        "GPU {gpu}: {profile} cannot start at memory slice {start}; it may start only at {allowed}"
    )]
    StartNotAllowed {
        /// GPU index.
        gpu: usize,
        /// Profile name.
        profile: String,
        /// The start asked for.
        start: u8,
        /// Allowed starts, comma-separated.
        allowed: String,
    },
    /// It would share memory slices with an instance already there.
    #[error(
        "GPU {gpu}: {profile} at memory slice {start} would overlap the {other} at slice {other_start} (shared slices {slices})"
    )]
    Overlap {
        /// GPU index.
        gpu: usize,
        /// Profile name.
        profile: String,
        /// The start asked for.
        start: u8,
        /// The instance in the way.
        other: String,
        /// Its start.
        other_start: u8,
        /// Shared slices, comma-separated.
        slices: String,
    },
    /// The GPU already holds the most instances of the profile it can.
    #[error("GPU {gpu}: one GPU holds at most {max} × {profile}")]
    CountAboveMax {
        /// GPU index.
        gpu: usize,
        /// Profile name.
        profile: String,
        /// The limit.
        max: u8,
    },
    /// Not enough compute slices left.
    #[error(
        "GPU {gpu}: {profile} needs {needs} compute slice(s), but only {free} of {total} are free"
    )]
    ComputeExceeded {
        /// GPU index.
        gpu: usize,
        /// Profile name.
        profile: String,
        /// Compute slices the profile needs.
        needs: u8,
        /// Compute slices free.
        free: u8,
        /// Compute slices of the GPU.
        total: u8,
    },
}

/// Free and stranded capacity of one GPU: stranded capacity is free but cannot be used by any
/// instance that could still be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Headroom {
    /// Compute slices not used by an instance.
    pub compute_free: u8,
    /// Memory slices not used by an instance.
    pub memory_free: u8,
    /// Free compute slices that no addition could use.
    pub compute_stranded: u8,
    /// Free memory slices that no addition could use.
    pub memory_stranded: u8,
    /// Mask of the stranded memory slices (bit `s` = slice `s`).
    pub memory_stranded_mask: u8,
}

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

/// A link whose plan cannot be read: which parameter, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("link parameter `{param}`: {message}")]
pub struct PlanLinkError {
    /// The query parameter.
    pub param: String,
    /// What is wrong with it and how to write it.
    pub message: String,
}

fn link_error(param: &str, message: impl Into<String>) -> PlanLinkError {
    PlanLinkError {
        param: param.to_owned(),
        message: message.into(),
    }
}

/// Checks adding `profile` at `start` to the instances `base` of GPU `gpu`, rule by rule in the order
/// a user fixes them: where it may start, what is in the way, how many, how much compute.
fn check_add(
    gpu: usize,
    base: &[Placed],
    profile: &'static ProfileSpec,
    start: u8,
) -> Result<(), Refusal> {
    if !profile.allows_start(start) {
        return Err(Refusal::StartNotAllowed {
            gpu,
            profile: profile.name.to_owned(),
            start,
            allowed: list(profile.starts()),
        });
    }
    let mask = profile.mask_at(start);
    if let Some(other) = base.iter().find(|p| p.mask() & mask != 0) {
        return Err(Refusal::Overlap {
            gpu,
            profile: profile.name.to_owned(),
            start,
            other: other.profile.name.to_owned(),
            other_start: other.start,
            slices: slices_of(other.mask() & mask),
        });
    }
    let same = base
        .iter()
        .filter(|p| p.profile.kind == profile.kind)
        .count();
    if same >= usize::from(profile.max_count()) {
        return Err(Refusal::CountAboveMax {
            gpu,
            profile: profile.name.to_owned(),
            max: profile.max_count(),
        });
    }
    let used: u8 = base.iter().map(|p| p.profile.compute_slices()).sum();
    let free = COMPUTE_SLICES.saturating_sub(used);
    if profile.compute_slices() > free {
        return Err(Refusal::ComputeExceeded {
            gpu,
            profile: profile.name.to_owned(),
            needs: profile.compute_slices(),
            free,
            total: COMPUTE_SLICES,
        });
    }
    Ok(())
}

/// Free and stranded capacity of `layout`.
pub fn headroom(layout: &Layout) -> Headroom {
    let base = layout.instances();
    let used_mask = layout.used_mask();
    let compute_free = COMPUTE_SLICES - layout.compute_used().min(COMPUTE_SLICES);
    let memory_free = MEMORY_SLICES - layout.memory_used();
    let profiles = &layout.model().spec().profiles;
    // A free slice is usable iff a single instance covering it can be added: the rules only get
    // stricter as instances are added, so any extension using it contains such an instance.
    let mut usable = 0u8;
    for p in profiles {
        for &s in p.starts() {
            if check_add(0, base, p, s).is_ok() {
                usable |= p.mask_at(s);
            }
        }
    }
    let stranded_mask = !used_mask & !usable;
    let mut best = 0u8;
    let mut acc = base.to_vec();
    max_extension(profiles, &mut acc, 0, 0, compute_free, &mut best);
    Headroom {
        compute_free,
        memory_free,
        compute_stranded: compute_free - best,
        memory_stranded: stranded_mask.count_ones() as u8,
        memory_stranded_mask: stranded_mask,
    }
}

/// The most compute any set of additions to `acc` can use. Additions are made in increasing start
/// order (instances never share a start), so each set is visited once; stops once `limit` is reached.
fn max_extension(
    profiles: &'static [ProfileSpec; 7],
    acc: &mut Vec<Placed>,
    min_start: u8,
    added: u8,
    limit: u8,
    best: &mut u8,
) {
    *best = (*best).max(added);
    if *best >= limit {
        return;
    }
    for s in min_start..MEMORY_SLICES {
        for p in profiles {
            if check_add(0, acc, p, s).is_ok() {
                acc.push(Placed {
                    profile: p,
                    start: s,
                });
                max_extension(
                    profiles,
                    acc,
                    s + 1,
                    added + p.compute_slices(),
                    limit,
                    best,
                );
                acc.pop();
                if *best >= limit {
                    return;
                }
            }
        }
    }
}

impl Default for NodePlan {
    /// The guide's node: one BM.GPU.H100.8 with MIG on and no instances yet.
    fn default() -> Self {
        Self::for_shape(&SHAPES[0])
    }
}

impl NodePlan {
    /// A node of `shape` with MIG on for every GPU and no instances.
    pub fn for_shape(shape: &'static NodeShape) -> Self {
        Self {
            model: shape.model,
            shape: Some(shape),
            gpus: vec![Some(Layout::empty(shape.model)); shape.gpus as usize],
            nodes: 1,
        }
    }

    /// A custom node of `gpus` GPUs of `model`, MIG on, no instances.
    ///
    /// # Errors
    /// When `gpus` is not within 1..=[`MAX_GPUS_PER_NODE`].
    pub fn custom(model: GpuModel, gpus: u32) -> Result<Self, PlanLinkError> {
        if !(1..=MAX_GPUS_PER_NODE).contains(&gpus) {
            return Err(link_error(
                "count",
                format!("a node has 1 to {MAX_GPUS_PER_NODE} GPUs, not {gpus}"),
            ));
        }
        Ok(Self {
            model,
            shape: None,
            gpus: vec![Some(Layout::empty(model)); gpus as usize],
            nodes: 1,
        })
    }

    /// Changes the node to `shape` (which fixes model and GPU count) or to a custom node of `gpus`
    /// GPUs of `model`. With the same model the GPUs that remain keep their layouts and new ones get
    /// MIG on with no instances; another model starts afresh. The pool size is kept.
    ///
    /// # Errors
    /// A GPU count outside 1..=[`MAX_GPUS_PER_NODE`]; the plan is unchanged then.
    pub fn reshape(
        &mut self,
        model: GpuModel,
        shape: Option<&'static NodeShape>,
        gpus: u32,
    ) -> Result<(), PlanLinkError> {
        let (model, gpus) = shape.map_or((model, gpus), |s| (s.model, s.gpus));
        if !(1..=MAX_GPUS_PER_NODE).contains(&gpus) {
            return Err(link_error(
                "count",
                format!("a node has 1 to {MAX_GPUS_PER_NODE} GPUs, not {gpus}"),
            ));
        }
        if model != self.model {
            self.gpus.clear();
        }
        self.gpus.resize(gpus as usize, Some(Layout::empty(model)));
        self.model = model;
        self.shape = shape;
        Ok(())
    }

    /// The GPU model.
    pub fn model(&self) -> GpuModel {
        self.model
    }

    /// The node shape, if the plan is for one.
    pub fn shape(&self) -> Option<&'static NodeShape> {
        self.shape
    }

    /// Per GPU: `None` = MIG off, else its layout.
    pub fn gpus(&self) -> &[Option<Layout>] {
        &self.gpus
    }

    /// Nodes in the pool.
    pub fn nodes(&self) -> u32 {
        self.nodes
    }

    /// Sets the pool size, clamped to 1..=[`MAX_POOL_NODES`].
    pub fn set_nodes(&mut self, nodes: u32) {
        self.nodes = nodes.clamp(1, MAX_POOL_NODES);
    }

    fn gpu_index(&self, gpu: usize) -> Result<(), Refusal> {
        if gpu < self.gpus.len() {
            Ok(())
        } else {
            Err(Refusal::NoSuchGpu {
                gpu,
                last: self.gpus.len() - 1,
            })
        }
    }

    fn profile(&self, name: &str) -> Result<&'static ProfileSpec, Refusal> {
        self.model
            .profile(name)
            .ok_or_else(|| Refusal::UnknownProfile {
                profile: name.to_owned(),
                model: self.model.to_string(),
                available: self.model.profile_names().join(", "),
            })
    }

    fn layout_of(&self, gpu: usize) -> Result<&Layout, Refusal> {
        self.gpu_index(gpu)?;
        self.gpus[gpu].as_ref().ok_or(Refusal::MigDisabled { gpu })
    }

    /// The instance covering memory slice `slice` of GPU `gpu`.
    pub fn instance_at(&self, gpu: usize, slice: u8) -> Option<Placed> {
        let layout = self.gpus.get(gpu)?.as_ref()?;
        layout
            .instances()
            .iter()
            .copied()
            .find(|p| p.mask() & (1u8.checked_shl(u32::from(slice)).unwrap_or(0)) != 0)
    }

    /// Whether `profile` may be dropped on GPU `gpu` at `start`; when `moving` names an instance
    /// (GPU, start), it is treated as already lifted off its GPU.
    ///
    /// # Errors
    /// The [`Refusal`] the drop would get.
    pub fn check_drop(
        &self,
        gpu: usize,
        profile: &str,
        start: u8,
        moving: Option<(usize, u8)>,
    ) -> Result<(), Refusal> {
        let p = self.profile(profile)?;
        let layout = self.layout_of(gpu)?;
        let base: Vec<Placed> = layout
            .instances()
            .iter()
            .copied()
            .filter(|i| moving != Some((gpu, i.start)))
            .collect();
        check_add(gpu, &base, p, start)
    }

    /// [`check_drop`](Self::check_drop) for every memory slice of GPU `gpu` as a start: what the
    /// planner lights up while a profile is dragged.
    pub fn drop_targets(
        &self,
        gpu: usize,
        profile: &str,
        moving: Option<(usize, u8)>,
    ) -> Vec<Result<(), Refusal>> {
        (0..MEMORY_SLICES)
            .map(|s| self.check_drop(gpu, profile, s, moving))
            .collect()
    }

    /// Drops `profile` on GPU `gpu` at `start`: a new instance, or, with `moving`, the instance at
    /// (GPU, start) moved there.
    ///
    /// # Errors
    /// The [`Refusal`]; the plan is unchanged then.
    pub fn drop_profile(
        &mut self,
        gpu: usize,
        profile: &str,
        start: u8,
        moving: Option<(usize, u8)>,
    ) -> Result<(), Refusal> {
        if let Some((from, from_start)) = moving {
            let lifted = self
                .instance_at(from, from_start)
                .filter(|p| p.start == from_start);
            if lifted.is_none_or(|p| p.profile.name != profile) {
                return Err(Refusal::NoInstance {
                    gpu: from,
                    slice: from_start,
                });
            }
        }
        self.check_drop(gpu, profile, start, moving)?;
        let p = self.profile(profile)?;
        if let Some((from, from_start)) = moving {
            self.remove(from, from_start)?;
        }
        let layout = self.layout_of(gpu)?;
        let mut placed = layout.instances().to_vec();
        placed.push(Placed { profile: p, start });
        // check_drop kept every rule Layout checks, so this cannot fail; if it ever did, keep the plan.
        if let Ok(new) = Layout::from_placed(self.model, &placed) {
            self.gpus[gpu] = Some(new);
        }
        Ok(())
    }

    /// Removes the instance covering memory slice `slice` of GPU `gpu`, returning its profile.
    ///
    /// # Errors
    /// When there is none.
    pub fn remove(&mut self, gpu: usize, slice: u8) -> Result<&'static ProfileSpec, Refusal> {
        self.gpu_index(gpu)?;
        let target = self
            .instance_at(gpu, slice)
            .ok_or(Refusal::NoInstance { gpu, slice })?;
        let layout = self.layout_of(gpu)?;
        let kept: Vec<Placed> = layout
            .instances()
            .iter()
            .copied()
            .filter(|p| *p != target)
            .collect();
        if let Ok(new) = Layout::from_placed(self.model, &kept) {
            self.gpus[gpu] = Some(new);
        }
        Ok(target.profile)
    }

    /// Turns MIG on (with no instances, if it was off) or off for GPU `gpu`.
    ///
    /// # Errors
    /// When there is no such GPU.
    pub fn set_mig(&mut self, gpu: usize, enabled: bool) -> Result<(), Refusal> {
        self.gpu_index(gpu)?;
        match (enabled, &self.gpus[gpu]) {
            (true, None) => self.gpus[gpu] = Some(Layout::empty(self.model)),
            (false, Some(_)) => self.gpus[gpu] = None,
            _ => {}
        }
        Ok(())
    }

    /// Sets GPU `gpu` (or, with `None`, every GPU) to `layout` (`None`: MIG off). A layout of another
    /// model is refused.
    ///
    /// # Errors
    /// When there is no such GPU, or the layout is for another model.
    pub fn set_layout(
        &mut self,
        gpu: Option<usize>,
        layout: Option<Layout>,
    ) -> Result<(), Refusal> {
        if let Some(l) = &layout
            && l.model() != self.model
        {
            return Err(Refusal::UnknownProfile {
                profile: l.to_string(),
                model: self.model.to_string(),
                available: self.model.profile_names().join(", "),
            });
        }
        match gpu {
            Some(g) => {
                self.gpu_index(g)?;
                self.gpus[g] = layout;
            }
            None => self.gpus.iter_mut().for_each(|g| *g = layout.clone()),
        }
        Ok(())
    }

    /// Applies a named config to GPU `gpu` or every GPU.
    ///
    /// # Errors
    /// When there is no such GPU, or the config does not place on this model.
    pub fn apply_named(&mut self, config: &NamedConfig, gpu: Option<usize>) -> Result<(), String> {
        let layout = config
            .layout(self.model)
            .map_err(|e| format!("{} on {}: {e}", config.name, self.model))?;
        self.set_layout(gpu, layout).map_err(|e| e.to_string())
    }

    /// Copies GPU `gpu`'s layout to every GPU.
    ///
    /// # Errors
    /// When there is no such GPU.
    pub fn copy_to_all(&mut self, gpu: usize) -> Result<(), Refusal> {
        self.gpu_index(gpu)?;
        let layout = self.gpus[gpu].clone();
        self.set_layout(None, layout)
    }

    /// Removes every instance; MIG stays on (and is turned on where it was off).
    pub fn clear(&mut self) {
        let empty = Layout::empty(self.model);
        self.gpus.iter_mut().for_each(|g| *g = Some(empty.clone()));
    }

    /// Adds as many `profile` instances as fit to GPU `gpu` (or every GPU with MIG on), keeping what is
    /// there; returns how many were added. Lowest free start first: the allowed starts of one profile
    /// are aligned to its size, so this is the most that fit.
    ///
    /// # Errors
    /// When there is no such GPU or profile.
    pub fn fill(&mut self, gpu: Option<usize>, profile: &str) -> Result<u32, Refusal> {
        let p = self.profile(profile)?;
        let targets: Vec<usize> = match gpu {
            Some(g) => {
                self.layout_of(g)?;
                vec![g]
            }
            None => (0..self.gpus.len())
                .filter(|&g| self.gpus[g].is_some())
                .collect(),
        };
        let mut added = 0;
        for g in targets {
            let Some(layout) = &self.gpus[g] else {
                continue;
            };
            let mut placed = layout.instances().to_vec();
            for &s in p.starts() {
                if check_add(g, &placed, p, s).is_ok() {
                    placed.push(Placed {
                        profile: p,
                        start: s,
                    });
                    added += 1;
                }
            }
            if let Ok(new) = Layout::from_placed(self.model, &placed) {
                self.gpus[g] = Some(new);
            }
        }
        Ok(added)
    }

    /// The named config every GPU of the plan equals, if any (the first in `configs` order).
    pub fn matching_config<'a>(&self, configs: &'a [NamedConfig]) -> Option<&'a str> {
        let desired: Vec<DesiredMig> = self
            .gpus
            .iter()
            .map(|g| {
                g.as_ref()
                    .map_or(DesiredMig::Disabled, |l| DesiredMig::Enabled(l.counts()))
            })
            .collect();
        configs
            .iter()
            .find(|c| desired.iter().all(|d| *d == c.desired))
            .map(|c| c.name.as_str())
    }

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

    /// How many replicas of a workload needing `need_bytes` the plan holds per node: one per instance
    /// with at least that much memory (a MIG instance serves one workload; slices are not combined).
    pub fn replicas_per_node(&self, need_bytes: u64) -> u32 {
        self.gpus
            .iter()
            .map(|g| match g {
                None => u32::from(self.model.spec().memory_mib as u64 * 1024 * 1024 >= need_bytes),
                Some(l) => l
                    .instances()
                    .iter()
                    .filter(|p| u64::from(p.profile.memory_mib) * 1024 * 1024 >= need_bytes)
                    .count() as u32,
            })
            .sum()
    }

    /// A `shared_node_pool` blueprint (OCI AI Blueprints JSON) creating a pool of this plan, when the
    /// plan is a shape with one named config on every GPU.
    ///
    /// # Errors
    /// Why the plan cannot be written as such a blueprint, and what to use instead.
    pub fn to_blueprint(
        &self,
        configs: &[NamedConfig],
        deployment_name: &str,
    ) -> Result<String, String> {
        let shape = self.shape.ok_or_else(|| {
            format!(
                "a shared node pool needs an OCI shape; this plan is a custom node of {} GPUs. Pick a shape, or export mig-parted YAML",
                self.gpus.len()
            )
        })?;
        let name = self.matching_config(configs).ok_or_else(|| {
            "a blueprint's shared_node_pool_mig_config names one config for every GPU of every node; this plan is custom. \
             Apply a named config to all GPUs, or export the mig-parted YAML and apply it with the agent"
                .to_owned()
        })?;
        Ok(format!(
            "{{\n  \"deployment_name\": \"{}\",\n  \"recipe_mode\": \"shared_node_pool\",\n  \"shared_node_pool_size\": {},\n  \"shared_node_pool_shape\": \"{}\",\n  \"shared_node_pool_boot_volume_size_in_gbs\": 1000,\n  \"shared_node_pool_mig_config\": \"{}\"\n}}\n",
            json_escape(deployment_name),
            self.nodes,
            shape.name,
            name
        ))
    }

    /// The plan as a one-config mig-parted file named `name`.
    pub fn to_mig_parted(&self, name: &str) -> String {
        crate::parted::MigPartedConfig::from_layouts(name, self.model, &self.gpus).to_yaml()
    }

    /// The plan as URL query parameters (already percent-encoded), e.g.
    /// `shape=BM.GPU.H100.8&layout=1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4*8&nodes=2`.
    ///
    /// `layout` lists the GPUs separated by `;`; a GPU is `off` (MIG off), `-` (MIG on, no instances)
    /// or `profile@start` items separated by `,`; `*N` repeats a GPU N times.
    pub fn to_query(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        match self.shape {
            Some(s) => params.push(("shape", s.name.to_owned())),
            None => {
                params.push(("model", self.model.id().to_owned()));
                params.push(("count", self.gpus.len().to_string()));
            }
        }
        if self
            .gpus
            .iter()
            .any(|g| g.as_ref().is_none_or(|l| !l.instances().is_empty()))
        {
            let mut groups: Vec<(String, usize)> = Vec::new();
            for gpu in &self.gpus {
                let text = match gpu {
                    None => "off".to_owned(),
                    Some(l) if l.instances().is_empty() => "-".to_owned(),
                    Some(l) => l
                        .instances()
                        .iter()
                        .map(|p| format!("{}@{}", p.profile.name, p.start))
                        .collect::<Vec<_>>()
                        .join(","),
                };
                match groups.last_mut() {
                    Some((last, n)) if *last == text => *n += 1,
                    _ => groups.push((text, 1)),
                }
            }
            let layout = groups
                .into_iter()
                .map(|(t, n)| if n == 1 { t } else { format!("{t}*{n}") })
                .collect::<Vec<_>>()
                .join(";");
            params.push(("layout", layout));
        }
        if self.nodes != 1 {
            params.push(("nodes", self.nodes.to_string()));
        }
        params
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode_component(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Reads a plan from decoded query parameters, as written by [`to_query`](Self::to_query).
    /// Unknown parameters are ignored; no parameters at all give [`NodePlan::default`].
    ///
    /// # Errors
    /// [`PlanLinkError`] naming the parameter and the problem.
    pub fn from_query<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PlanLinkError> {
        let (mut shape_p, mut model_p, mut count_p, mut layout_p, mut nodes_p) =
            (None, None, None, None, None);
        for (k, v) in params {
            match k {
                "shape" => shape_p = Some(v),
                "model" => model_p = Some(v),
                "count" => count_p = Some(v),
                "layout" => layout_p = Some(v),
                "nodes" => nodes_p = Some(v),
                _ => {}
            }
        }
        let plan = match (shape_p, model_p) {
            (Some(name), model) => {
                let s = shape(name).ok_or_else(|| {
                    link_error(
                        "shape",
                        format!(
                            "no shape `{name}`; known shapes are {}",
                            list(SHAPES.iter().map(|s| s.name))
                        ),
                    )
                })?;
                if let Some(m) = model
                    && m.parse::<GpuModel>().ok() != Some(s.model)
                {
                    return Err(link_error(
                        "model",
                        format!(
                            "{} carries {}, not `{m}`; leave `model` out or fix it",
                            s.name,
                            s.model.id()
                        ),
                    ));
                }
                Self::for_shape(s)
            }
            (None, model) => {
                let model = match model {
                    Some(m) => m
                        .parse::<GpuModel>()
                        .map_err(|e| link_error("model", e.to_string()))?,
                    None => SHAPES[0].model,
                };
                let count = match count_p {
                    Some(c) => c.trim().parse::<u32>().map_err(|_| {
                        link_error("count", format!("`{c}` is not a GPU count; write a whole number from 1 to {MAX_GPUS_PER_NODE}"))
                    })?,
                    None => match crate::shape::shapes_for(model).next() {
                        Some(s) => return Self::for_shape(s).with_link_rest(layout_p, nodes_p),
                        None => 8,
                    },
                };
                Self::custom(model, count)?
            }
        };
        plan.with_link_rest(layout_p, nodes_p)
    }

    fn with_link_rest(
        mut self,
        layout: Option<&str>,
        nodes: Option<&str>,
    ) -> Result<Self, PlanLinkError> {
        if let Some(text) = layout {
            self.gpus = parse_layouts(self.model, text, self.gpus.len())?;
        }
        if let Some(n) = nodes {
            self.nodes = parse_nodes(n)?;
        }
        Ok(self)
    }
}

fn parse_nodes(text: &str) -> Result<u32, PlanLinkError> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_POOL_NODES).contains(n))
        .ok_or_else(|| {
            link_error(
                "nodes",
                format!(
                    "`{text}` is not a pool size; write a whole number from 1 to {MAX_POOL_NODES}"
                ),
            )
        })
}

fn parse_layouts(
    model: GpuModel,
    text: &str,
    expected: usize,
) -> Result<Vec<Option<Layout>>, PlanLinkError> {
    let mut gpus: Vec<Option<Layout>> = Vec::new();
    for group in text.split(';') {
        let (body, repeat) = match group.rsplit_once('*') {
            Some((body, n)) => {
                let n = n.trim().parse::<usize>().ok().filter(|n| (1..=MAX_GPUS_PER_NODE as usize).contains(n)).ok_or_else(|| {
                    link_error("layout", format!("`*{n}` after GPU {} is not a repeat count; write *2 to *{MAX_GPUS_PER_NODE}", gpus.len()))
                })?;
                (body, n)
            }
            None => (group, 1),
        };
        let gpu = gpus.len();
        let layout = parse_gpu(model, body.trim(), gpu)?;
        if gpus.len() + repeat > expected {
            break;
        }
        gpus.extend(std::iter::repeat_n(layout, repeat));
    }
    let described: usize = text
        .split(';')
        .map(|g| {
            g.rsplit_once('*')
                .and_then(|(_, n)| n.trim().parse::<usize>().ok())
                .unwrap_or(1)
        })
        .sum();
    if described != expected {
        return Err(link_error(
            "layout",
            format!("it describes {described} GPU(s), but the node has {expected}"),
        ));
    }
    Ok(gpus)
}

fn parse_gpu(model: GpuModel, text: &str, gpu: usize) -> Result<Option<Layout>, PlanLinkError> {
    match text {
        "off" => return Ok(None),
        "-" | "" => return Ok(Some(Layout::empty(model))),
        _ => {}
    }
    let mut specs = Vec::new();
    for item in text.split(',') {
        // A `+` that was not percent-encoded arrives as a space: `1g.10gb me` means `1g.10gb+me`.
        let item = item.trim().replace(' ', "+");
        let (profile, start) = item.split_once('@').ok_or_else(|| {
            link_error(
                "layout",
                format!(
                    "GPU {gpu}: `{item}` is not an instance; write profile@start such as 3g.40gb@4"
                ),
            )
        })?;
        let start = start
            .parse::<u8>()
            .ok()
            .filter(|s| *s < MEMORY_SLICES)
            .ok_or_else(|| {
                link_error(
                    "layout",
                    format!("GPU {gpu}: `{start}` in `{item}` is not a memory slice; write 0 to 7"),
                )
            })?;
        specs.push(crate::layout::InstanceSpec {
            profile: profile.to_owned(),
            start,
        });
    }
    Layout::new(model, &specs).map(Some).map_err(|issues| {
        link_error(
            "layout",
            format!(
                "GPU {gpu}: {}",
                issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    })
}

/// Escapes `text` for a JSON string literal.
fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value, keeping the characters the plan syntax uses readable.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@,;*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Display for NodePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shape {
            Some(s) => write!(f, "{} ({} × {})", s.name, s.gpus, self.model)?,
            None => write!(f, "{} × {}", self.gpus.len(), self.model)?,
        }
        for (i, g) in self.gpus.iter().enumerate() {
            match g {
                None => write!(f, "\n  GPU {i}: MIG off")?,
                Some(l) => write!(f, "\n  GPU {i}: {l}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parted::MigPartedConfig;

    fn named(model: GpuModel) -> Vec<NamedConfig> {
        let cfg = MigPartedConfig::default_configs().expect("embedded config parses");
        cfg.configs
            .keys()
            .filter_map(|name| {
                cfg.resolve(name, model, 0).ok().map(|desired| NamedConfig {
                    name: name.clone(),
                    desired,
                })
            })
            .collect()
    }

    fn config<'a>(all: &'a [NamedConfig], name: &str) -> &'a NamedConfig {
        all.iter().find(|c| c.name == name).expect("config exists")
    }

    #[test]
    fn the_acceptance_drops() {
        let mut plan = NodePlan::default();
        plan.drop_profile(0, "3g.40gb", 4, None)
            .expect("3g.40gb at 4 is allowed");
        let refused = plan
            .drop_profile(0, "4g.40gb", 4, None)
            .expect_err("4g.40gb may only start at 0");
        assert_eq!(
            refused.to_string(),
            "GPU 0: 4g.40gb cannot start at memory slice 4; it may start only at 0"
        );
        let overlap = plan
            .drop_profile(0, "2g.20gb", 4, None)
            .expect_err("slices 4-5 are taken");
        assert!(
            matches!(overlap, Refusal::Overlap { other_start: 4, .. }),
            "{overlap:?}"
        );
        assert_eq!(
            plan.gpus()[0].as_ref().map(ToString::to_string).as_deref(),
            Some("3g.40gb@4")
        );
    }

    #[test]
    fn refusals_name_each_rule() {
        let mut plan = NodePlan::default();
        plan.drop_profile(1, "4g.40gb", 0, None).expect("ok");
        let err = plan.check_drop(1, "4g.40gb", 0, None).expect_err("overlap");
        assert!(
            err.to_string().contains("overlap the 4g.40gb at slice 0"),
            "{err}"
        );
        plan.drop_profile(1, "3g.40gb", 4, None)
            .expect("4g + 3g is the full GPU");
        plan.remove(1, 5).expect("slice 5 is inside the 3g.40gb");
        plan.drop_profile(1, "1g.20gb", 4, None).expect("ok");
        plan.drop_profile(1, "1g.20gb", 6, None).expect("ok");
        // 4g + 2 × 1g.20gb uses 6 compute and all memory: one compute slice is stranded.
        let h = headroom(plan.gpus()[1].as_ref().expect("on"));
        assert_eq!(
            (h.compute_free, h.compute_stranded, h.memory_free),
            (1, 1, 0)
        );
        let mut seven = NodePlan::default();
        seven.fill(Some(2), "1g.10gb").expect("fills");
        assert_eq!(
            seven.gpus()[2].as_ref().map(|l| l.instances().len()),
            Some(7)
        );
        let err = seven
            .check_drop(2, "1g.10gb+me", 7, None)
            .expect_err("no compute left, and 7 is not a start");
        assert!(matches!(err, Refusal::StartNotAllowed { .. }), "{err:?}");
        seven.remove(2, 3).expect("remove one");
        seven
            .drop_profile(2, "1g.10gb+me", 3, None)
            .expect("+me fits where the 1g was");
        let err = seven
            .check_drop(2, "1g.10gb+me", 3, None)
            .expect_err("only one +me");
        assert!(matches!(err, Refusal::Overlap { .. }), "{err:?}");
        seven.remove(2, 0).expect("remove");
        let err = seven
            .check_drop(2, "1g.10gb+me", 0, None)
            .expect_err("only one +me");
        assert!(
            matches!(err, Refusal::CountAboveMax { max: 1, .. }),
            "{err:?}"
        );
        let err = seven
            .check_drop(2, "2g.20gb", 0, None)
            .expect_err("slice 1 is taken");
        assert!(matches!(err, Refusal::Overlap { .. }), "{err:?}");
        let h = headroom(seven.gpus()[2].as_ref().expect("on"));
        // 6 × 1g: slice 0 free and usable, slice 7 free but only reachable by starts ≤ 6 that are taken.
        assert_eq!(
            (
                h.compute_free,
                h.memory_free,
                h.memory_stranded,
                h.memory_stranded_mask
            ),
            (1, 2, 1, 0b1000_0000)
        );
        assert_eq!(h.compute_stranded, 0);
        let mut full = NodePlan::default();
        full.fill(Some(0), "2g.20gb").expect("3 × 2g");
        let err = full
            .check_drop(0, "2g.20gb", 6, None)
            .expect_err("start 6 not allowed");
        assert!(matches!(err, Refusal::StartNotAllowed { .. }));
        full.drop_profile(0, "1g.10gb", 6, None).expect("1g at 6");
        let err = full
            .check_drop(0, "1g.10gb", 7, None)
            .expect_err("7 not a start");
        assert!(matches!(err, Refusal::StartNotAllowed { .. }));
        full.remove(0, 0).expect("remove 2g at 0");
        full.drop_profile(0, "3g.40gb", 0, None)
            .expect_err("3g at 0 overlaps the 2g at 2");
        plan.set_mig(3, false).expect("gpu 3");
        assert_eq!(
            plan.check_drop(3, "1g.10gb", 0, None),
            Err(Refusal::MigDisabled { gpu: 3 })
        );
        assert!(matches!(
            plan.check_drop(8, "1g.10gb", 0, None),
            Err(Refusal::NoSuchGpu { gpu: 8, last: 7 })
        ));
        assert!(matches!(
            plan.check_drop(0, "5g.50gb", 0, None),
            Err(Refusal::UnknownProfile { .. })
        ));
    }

    #[test]
    fn compute_runs_out_before_memory() {
        let mut plan = NodePlan::default();
        for s in [0, 2, 4] {
            plan.drop_profile(0, "2g.20gb", s, None).expect("2g");
        }
        plan.drop_profile(0, "1g.10gb", 6, None).expect("1g at 6");
        let err = plan
            .check_drop(0, "1g.10gb", 7, None)
            .expect_err("7 is never a start");
        assert!(matches!(err, Refusal::StartNotAllowed { .. }));
        let h = headroom(plan.gpus()[0].as_ref().expect("on"));
        assert_eq!(
            (h.compute_free, h.memory_free, h.memory_stranded),
            (0, 1, 1),
            "slice 7 is stranded"
        );
        // Fill a fresh GPU with 1g.20gb: 4 of them, 4 compute used, 3 compute stranded (no memory left).
        plan.clear();
        assert_eq!(plan.fill(Some(0), "1g.20gb"), Ok(4));
        let h = headroom(plan.gpus()[0].as_ref().expect("on"));
        assert_eq!(
            (h.compute_free, h.compute_stranded, h.memory_free),
            (3, 3, 0)
        );
        let err = plan
            .check_drop(0, "1g.10gb", 0, None)
            .expect_err("memory full");
        assert!(matches!(err, Refusal::Overlap { .. }));
        // 7 × 1g.10gb then a 1g.20gb: compute is gone.
        plan.clear();
        assert_eq!(plan.fill(Some(0), "1g.10gb"), Ok(7));
        assert_eq!(plan.fill(Some(0), "1g.10gb"), Ok(0), "already full");
        plan.remove(0, 6).expect("remove the last");
        plan.fill(Some(0), "2g.20gb").expect("nothing fits");
        assert_eq!(
            plan.gpus()[0].as_ref().map(|l| l.instances().len()),
            Some(6)
        );
        plan.remove(0, 5).expect("remove another");
        plan.remove(0, 4).expect("and another");
        assert_eq!(plan.fill(Some(0), "2g.20gb"), Ok(1), "one 2g.20gb at 4");
        plan.drop_profile(0, "1g.10gb", 6, None)
            .expect("slice 6 is free and one compute slice is left");
        let err = plan
            .check_drop(0, "1g.20gb", 6, None)
            .expect_err("slice 6 is taken now");
        assert!(matches!(err, Refusal::Overlap { .. }), "{err:?}");
    }

    #[test]
    fn moving_an_instance_ignores_itself() {
        let mut plan = NodePlan::default();
        plan.drop_profile(0, "3g.40gb", 0, None).expect("ok");
        // Moving it from 0 to 4 on the same GPU: it does not overlap itself.
        plan.drop_profile(0, "3g.40gb", 4, Some((0, 0)))
            .expect("move within the GPU");
        assert_eq!(
            plan.gpus()[0].as_ref().map(ToString::to_string).as_deref(),
            Some("3g.40gb@4")
        );
        // To another GPU.
        plan.drop_profile(5, "3g.40gb", 0, Some((0, 4)))
            .expect("move across GPUs");
        assert_eq!(
            plan.gpus()[0].as_ref().map(|l| l.instances().len()),
            Some(0)
        );
        assert_eq!(
            plan.gpus()[5].as_ref().map(ToString::to_string).as_deref(),
            Some("3g.40gb@0")
        );
        // A move naming an instance that is not there is refused and changes nothing.
        let before = plan.clone();
        assert!(plan.drop_profile(1, "3g.40gb", 0, Some((0, 4))).is_err());
        assert_eq!(plan, before);
        // A refused move keeps the instance where it was.
        plan.drop_profile(5, "4g.40gb", 0, None)
            .expect_err("overlap");
        plan.drop_profile(5, "1g.10gb", 4, None).expect("ok");
        assert!(
            plan.drop_profile(5, "3g.40gb", 4, Some((5, 0))).is_err(),
            "slice 4 holds a 1g"
        );
        assert_eq!(
            plan.gpus()[5].as_ref().map(ToString::to_string).as_deref(),
            Some("3g.40gb@0 1g.10gb@4")
        );
    }

    #[test]
    fn all_balanced_on_every_gpu_gives_the_guides_counts() {
        let configs = named(GpuModel::H100_80GB);
        let mut plan = NodePlan::default();
        plan.apply_named(config(&configs, "all-balanced"), None)
            .expect("places");
        let s = plan.summary();
        assert_eq!(s.per_node.0.get("1g.10gb"), Some(&16));
        assert_eq!(s.per_node.0.get("2g.20gb"), Some(&8));
        assert_eq!(s.per_node.0.get("3g.40gb"), Some(&8));
        assert_eq!(
            (s.compute_used, s.compute_total, s.compute_stranded),
            (56, 56, 0)
        );
        assert_eq!(
            (s.memory_used, s.memory_total, s.memory_stranded),
            (64, 64, 0)
        );
        assert!(s.uniform);
        assert_eq!(plan.matching_config(&configs), Some("all-balanced"));
        assert_eq!(
            s.resources,
            vec![
                ("nvidia.com/mig-1g.10gb".to_owned(), 16),
                ("nvidia.com/mig-2g.20gb".to_owned(), 8),
                ("nvidia.com/mig-3g.40gb".to_owned(), 8)
            ]
        );
        plan.set_nodes(3);
        assert_eq!(plan.summary().per_pool.0.get("1g.10gb"), Some(&48));
        // One GPU changed: custom.
        plan.remove(7, 0).expect("remove");
        assert_eq!(plan.matching_config(&configs), None);
        assert!(!plan.summary().uniform);
        plan.copy_to_all(0).expect("copy");
        assert_eq!(plan.matching_config(&configs), Some("all-balanced"));
        plan.apply_named(config(&configs, "all-disabled"), None)
            .expect("off");
        let s = plan.summary();
        assert_eq!((s.whole_gpus, s.compute_total), (8, 0));
        assert_eq!(s.resources, vec![("nvidia.com/gpu".to_owned(), 8)]);
        assert_eq!(plan.matching_config(&configs), Some("all-disabled"));
    }

    #[test]
    fn every_named_config_matches_itself_on_every_model() {
        for model in GpuModel::all() {
            let configs = named(model);
            for c in &configs {
                let mut plan = NodePlan::custom(model, 2).expect("2 GPUs");
                if plan.apply_named(c, None).is_err() {
                    continue;
                }
                let found = plan.matching_config(&configs).expect("some config matches");
                assert_eq!(
                    config(&configs, found).desired,
                    c.desired,
                    "{model}: {}",
                    c.name
                );
            }
        }
    }

    #[test]
    fn named_configs_come_in_the_guides_order() {
        let file = MigPartedConfig::default_configs().expect("parses");
        let h100 = named_configs(&file, GpuModel::H100_80GB);
        let names: Vec<&str> = h100.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..8], &GUIDE_CONFIGS[..], "the guide's eight first");
        assert!(
            !names.contains(&"all-1g.12gb"),
            "H100 NVL's configs do not apply to H100 80GB"
        );
        let a100 = named_configs(&file, GpuModel::A100_40GB);
        assert!(
            a100.iter().any(|c| c.name == "all-1g.5gb")
                && !a100.iter().any(|c| c.name == "all-1g.20gb")
        );
    }

    #[test]
    fn reshaping_keeps_what_it_can() {
        let mut plan = NodePlan::default();
        plan.drop_profile(1, "7g.80gb", 0, None).expect("ok");
        plan.set_nodes(5);
        plan.reshape(GpuModel::H100_80GB, None, 2).expect("2 GPUs");
        assert_eq!(
            (plan.gpus().len(), plan.shape(), plan.nodes()),
            (2, None, 5)
        );
        assert_eq!(
            plan.gpus()[1].as_ref().map(ToString::to_string).as_deref(),
            Some("7g.80gb@0")
        );
        plan.reshape(GpuModel::H100_80GB, crate::shape::shape("BM.GPU.H100.8"), 0)
            .expect("shape");
        assert_eq!(plan.gpus().len(), 8);
        assert_eq!(
            plan.gpus()[7].as_ref().map(|l| l.instances().len()),
            Some(0)
        );
        assert!(plan.reshape(GpuModel::H100_80GB, None, 17).is_err());
        assert_eq!(plan.gpus().len(), 8, "a refused reshape changes nothing");
        plan.reshape(GpuModel::A100_40GB, None, 3)
            .expect("other model");
        assert_eq!(plan.model(), GpuModel::A100_40GB);
        assert!(plan.gpus().iter().all(|g| {
            g.as_ref()
                .is_some_and(|l| l.instances().is_empty() && l.model() == GpuModel::A100_40GB)
        }));
    }

    #[test]
    fn exports() {
        let configs = named(GpuModel::H100_80GB);
        let mut plan = NodePlan::default();
        plan.apply_named(config(&configs, "all-1g.20gb"), None)
            .expect("places");
        plan.set_nodes(2);
        let bp = plan
            .to_blueprint(&configs, "h100 \"pool\"\n")
            .expect("named and uniform");
        let v: serde_json::Value = serde_json::from_str(&bp).expect("valid JSON");
        assert_eq!(v["deployment_name"], "h100 \"pool\"\n");
        assert!(
            bp.contains("\"shared_node_pool_mig_config\": \"all-1g.20gb\""),
            "{bp}"
        );
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
        assert!(
            bp.contains("\"shared_node_pool_size\": 2") && bp.contains("\"BM.GPU.H100.8\""),
            "{bp}"
        );
        assert_eq!(
            plan.replicas_per_node(16_000_000_000),
            32,
            "4 × 1g.20gb × 8 GPUs hold a 16 GB model"
        );
        assert_eq!(plan.replicas_per_node(30_000_000_000), 0);
        let yaml = plan.to_mig_parted("migboard-plan");
        let back = MigPartedConfig::parse(&yaml).expect("our YAML parses");
        assert_eq!(
            back.resolve("migboard-plan", GpuModel::H100_80GB, 5),
            Ok(config(&configs, "all-1g.20gb").desired.clone())
        );
        plan.remove(3, 0).expect("remove");
        let err = plan.to_blueprint(&configs, "x").expect_err("custom");
        assert!(err.contains("export the mig-parted YAML"), "{err}");
        let custom = NodePlan::custom(GpuModel::H100_80GB, 2).expect("2");
        assert!(
            custom
                .to_blueprint(&configs, "x")
                .expect_err("no shape")
                .contains("needs an OCI shape")
        );
    }

    #[test]
    fn links_round_trip() {
        let mut plan = NodePlan::default();
        assert_eq!(plan.to_query(), "shape=BM.GPU.H100.8");
        for (profile, start) in [
            ("3g.40gb", 4),
            ("2g.20gb", 2),
            ("1g.10gb", 1),
            ("1g.10gb", 0),
        ] {
            plan.drop_profile(0, profile, start, None).expect("places");
        }
        plan.copy_to_all(0).expect("copy");
        plan.set_mig(7, false).expect("gpu 7");
        plan.remove(6, 0).expect("remove");
        plan.drop_profile(6, "1g.10gb+me", 0, None).expect("+me");
        plan.set_nodes(4);
        let q = plan.to_query();
        assert_eq!(
            q,
            "shape=BM.GPU.H100.8&layout=1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4*6;1g.10gb%2Bme@0,1g.10gb@1,2g.20gb@2,3g.40gb@4;off&nodes=4"
        );
        let decoded: Vec<(String, String)> = q
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("k=v");
                (k.to_owned(), v.replace("%2B", "+"))
            })
            .collect();
        let back = NodePlan::from_query(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("parses");
        assert_eq!(back, plan);
        let custom = NodePlan::custom(GpuModel::A100_40GB, 3).expect("3");
        assert_eq!(custom.to_query(), "model=a100-40gb&count=3");
        assert_eq!(
            NodePlan::from_query([("model", "a100-40gb"), ("count", "3")]),
            Ok(custom)
        );
        assert_eq!(NodePlan::from_query([]), Ok(NodePlan::default()));
        assert_eq!(
            NodePlan::from_query([("utm_source", "x")]),
            Ok(NodePlan::default())
        );
        // An unencoded + arrives as a space and is still understood.
        let p = NodePlan::from_query([
            ("model", "h100-80gb"),
            ("count", "1"),
            ("layout", "1g.10gb me@3"),
        ])
        .expect("ok");
        assert_eq!(
            p.gpus()[0].as_ref().map(ToString::to_string).as_deref(),
            Some("1g.10gb+me@3")
        );
    }

    #[test]
    fn bad_links_say_what_and_where() {
        let err = |pairs: &[(&str, &str)]| {
            NodePlan::from_query(pairs.iter().copied())
                .expect_err("bad")
                .to_string()
        };
        assert_eq!(
            err(&[("shape", "BM.GPU.H100.9")]),
            "link parameter `shape`: no shape `BM.GPU.H100.9`; known shapes are BM.GPU.H100.8, BM.GPU.H200.8, BM.GPU.B200.8, BM.GPU.A100-v2.8, BM.GPU4.8"
        );
        assert!(
            err(&[("model", "h100")])
                .starts_with("link parameter `model`: unknown GPU model `h100`")
        );
        assert!(err(&[("model", "h100-80gb"), ("count", "0")]).contains("1 to 16 GPUs"));
        assert!(err(&[("model", "h100-80gb"), ("count", "x")]).contains("not a GPU count"));
        assert!(
            err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*3")])
                .contains("describes 3 GPU(s), but the node has 8")
        );
        assert!(
            err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*99")]).contains("not a repeat count")
        );
        assert_eq!(
            err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*7;4g.40gb@4")]),
            "link parameter `layout`: GPU 7: instance 0: 4g.40gb cannot start at memory slice 4; it may start at 0"
        );
        assert!(
            err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*7;3g.40gb")])
                .contains("write profile@start")
        );
        assert!(
            err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*7;3g.40gb@9")])
                .contains("write 0 to 7")
        );
        assert!(err(&[("shape", "BM.GPU.H100.8"), ("nodes", "0")]).contains("from 1 to 1000"));
        assert!(
            err(&[("shape", "BM.GPU.H100.8"), ("model", "a100-40gb")])
                .contains("carries h100-80gb")
        );
        // Overlong input is bounded by the GPU count, not read forever.
        let long = vec!["-"; 10_000].join(";");
        assert!(
            err(&[("shape", "BM.GPU.H100.8"), ("layout", &long)])
                .contains("describes 10000 GPU(s)")
        );
    }
}
