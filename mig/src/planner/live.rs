//! The planner against a live node: load what a node has into a plan ("Open in planner"), and
//! what applying a plan to that node would do, GPU by GPU (the diff shown before "Apply to…"):
//! instances kept, destroyed and created, the NVML calls of the agent's plan, and the running
//! replicas in the way.

use serde::{Deserialize, Serialize};

use super::NodePlan;
use crate::agent_api::{BusySlice, InventoryGpu};
use crate::diff::{MigMode, ObservedGpu, Step};
use crate::layout::{InstanceSpec, Layout};
use crate::shape::NodeShape;

/// A GPU as the diff sees it: MIG off, or a valid layout (`Err`: what it has is not a valid
/// layout of the model, named).
fn observed(g: &InventoryGpu, model: crate::GpuModel) -> Result<ObservedGpu, String> {
    match g.mig_mode {
        MigMode::Disabled => Ok(ObservedGpu::disabled(model)),
        MigMode::Enabled => Layout::new(model, &g.instances)
            .map(|l| ObservedGpu::with_layout(&l))
            .map_err(|issues| {
                let why: Vec<String> = issues.iter().map(ToString::to_string).collect();
                format!("GPU {}: {}", g.index, why.join("; "))
            }),
    }
}

impl NodePlan {
    /// The plan of a live node of `shape`: each GPU as it is now (MIG off, or its instances).
    ///
    /// # Errors
    /// A message when a GPU's instances are not a valid layout of the shape's model.
    pub fn from_inventory(shape: &'static NodeShape, gpus: &[InventoryGpu]) -> Result<Self, String> {
        let mut plan = Self::for_shape(shape);
        for (i, g) in gpus.iter().enumerate().take(plan.gpus.len()) {
            plan.gpus[i] = match observed(g, shape.model)?.mode {
                MigMode::Disabled => None,
                MigMode::Enabled => Some(
                    Layout::new(shape.model, &g.instances)
                        .map_err(|_| format!("GPU {}: not a valid layout", g.index))?,
                ),
            };
        }
        Ok(plan)
    }
}

/// What applying a layout would do to one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuDiff {
    /// GPU index.
    pub gpu: u32,
    /// Instances that stay as they are.
    pub kept: Vec<InstanceSpec>,
    /// Instances destroyed.
    pub destroyed: Vec<InstanceSpec>,
    /// Instances created.
    pub created: Vec<InstanceSpec>,
    /// The agent's plan, in order (what it would call NVML for).
    pub steps: Vec<Step>,
    /// Mutating NVML calls: a mode change 1, each destroy 2 (compute then GPU instance), each
    /// create 2 (GPU then compute instance).
    pub nvml_calls: u32,
    /// The MIG mode changes, so a GPU reset is needed.
    pub needs_reset: bool,
    /// Instances to destroy that run processes now (the update refuses, or drains with leave).
    pub in_the_way: Vec<BusySlice>,
}

/// Mutating NVML calls of `steps`, as the agent makes them.
pub fn nvml_calls(steps: &[Step]) -> u32 {
    steps
        .iter()
        .map(|s| match s {
            Step::SetMigMode { .. } | Step::CreateComputeInstance { .. } => 1,
            Step::DestroyInstance { .. } | Step::CreateInstance { .. } => 2,
        })
        .sum()
}

/// Per GPU of `live` (a node's inventory) the plan's GPU with the same index would replace, what
/// applying `plan` does. GPUs the plan does not have are left out.
///
/// # Errors
/// A message when a live GPU's instances are not a valid layout.
pub fn diff_node(plan: &NodePlan, live: &[InventoryGpu]) -> Result<Vec<GpuDiff>, String> {
    let mut out = Vec::new();
    for g in live {
        let Some(want) = plan.gpus().get(g.index as usize) else {
            continue;
        };
        let before = observed(g, plan.model())?;
        let steps = crate::diff::plan(&before, want.as_ref());
        // The instances the steps destroy (`create` false) or create (`create` true).
        let of = |create: bool| -> Vec<InstanceSpec> {
            steps
                .iter()
                .filter_map(|s| match (s, create) {
                    (Step::DestroyInstance { profile, start, .. }, false)
                    | (Step::CreateInstance { profile, start, .. }, true) => Some(InstanceSpec {
                        profile: profile.0.to_owned(),
                        start: *start,
                    }),
                    _ => None,
                })
                .collect()
        };
        let (destroyed, created) = (of(false), of(true));
        let kept = before
            .instances
            .iter()
            .map(crate::Placed::to_spec)
            .filter(|i| !destroyed.contains(i))
            .collect();
        let in_the_way = g
            .busy
            .iter()
            .filter(|b| {
                destroyed
                    .iter()
                    .any(|d| d.profile == b.profile && d.start == b.start)
            })
            .cloned()
            .collect();
        out.push(GpuDiff {
            gpu: g.index,
            kept,
            destroyed,
            created,
            nvml_calls: nvml_calls(&steps),
            needs_reset: steps.iter().any(Step::needs_reset),
            steps,
            in_the_way,
        });
    }
    Ok(out)
}

/// Mutating NVML calls to go from `from` to `to` by destroying everything and creating it again
/// (what a tool without a diff does), for comparison with [`crate::diff::plan`].
pub fn destroy_all_calls(from: &ObservedGpu, to: Option<&Layout>) -> u32 {
    let mode_change = u32::from(
        (from.mode == MigMode::Enabled) != to.is_some(),
    );
    let destroys = 2 * u32::try_from(from.instances.len()).unwrap_or(u32::MAX);
    let creates = 2 * to.map_or(0, |l| u32::try_from(l.instances().len()).unwrap_or(u32::MAX));
    mode_change + destroys + creates
}
