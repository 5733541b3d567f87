//! The slice planner's model: one node's GPUs (standing for every node of a pool), edited one drop at
//! a time with each edit checked against the placement rules, summarised, and encoded in a link.
//!
//! The planner page in the browser is a view of a [`NodePlan`]: it decides nothing itself. Every
//! refusal it shows is a [`Refusal`] from here, every number in its summary comes from
//! [`NodePlan::summary`], and its shareable link is [`NodePlan::to_query`] / [`NodePlan::from_query`].

pub(crate) mod export;
mod link;
pub mod live;
mod summary;

use std::fmt;

use serde::{Deserialize, Serialize};

use link::link_error;
pub use export::UpdateTarget;
pub use link::{PlanLinkError, encode_component};
pub use live::{GpuDiff, diff_node};
pub use summary::{GpuSummary, PlanSummary};

use crate::layout::{Layout, Placed, list, slices_of};
use crate::model::{COMPUTE_SLICES, GpuModel, MEMORY_SLICES, ProfileSpec};
use crate::parted::{DesiredMig, NamedConfig};
use crate::shape::{MAX_GPUS_PER_NODE, MAX_POOL_NODES, NodeShape, SHAPES};

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
        if config.custom.is_some() {
            // A custom config gives each GPU its own exact placements (GPUs it leaves alone stay).
            let gpus: Vec<usize> = match gpu {
                Some(g) => vec![g],
                None => (0..self.gpus.len()).collect(),
            };
            for g in gpus {
                let index = u32::try_from(g).unwrap_or(u32::MAX);
                match config.gpu_want(self.model, index)? {
                    crate::GpuWant::Untouched => {}
                    crate::GpuWant::Disabled => {
                        self.set_layout(Some(g), None).map_err(|e| e.to_string())?;
                    }
                    crate::GpuWant::Layout(l) => {
                        self.set_layout(Some(g), Some(l)).map_err(|e| e.to_string())?;
                    }
                }
            }
            return Ok(());
        }
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
