//! Carrying out a plan on the live fleet: per node, a custom config that gives each reconfigured GPU
//! its planned layout (exact placements) and every other GPU of the model the layout it has now,
//! applied by one update deployment per node.
//!
//! The request and the answer of `POST /api/v1/fleet-plans/apply` (and of the `/capacity` page's
//! "Apply to the fleet") live here, so the browser and the server compile one contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FleetGpu, FleetPlan, PlanRequest};
use crate::blueprint::Issue;
use crate::custom::{RawCustomConfig, RawDevice};
use crate::layout::InstanceSpec;
use crate::parted::Devices;
use crate::wire::Fleet;
use crate::{GpuModel, MigMode};

/// Config names are `<prefix>-<node>` unless the request names a prefix.
pub const DEFAULT_PREFIX: &str = "plan";

/// Body of `POST /api/v1/fleet-plans/apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// What to plan. It is planned against the live fleet whatever its `fleet` says.
    pub request: PlanRequest,
    /// The custom configs it saves are named `<prefix>-<node>` (default [`DEFAULT_PREFIX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The GPU changes the caller reviewed. When given and the live fleet now plans otherwise,
    /// nothing is applied: the answer is a conflict carrying the new plan to review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Vec<PlannedChange>>,
    /// Let a node's update move running replicas off instances the plan removes (it drains them).
    /// Without it, a node whose change would move replicas is refused and left as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drain: bool,
}

/// One GPU's planned layout, as the caller reviewed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedChange {
    /// Node.
    pub node: String,
    /// GPU index.
    pub gpu: u32,
    /// Its instances after the change.
    pub to: Vec<InstanceSpec>,
}

/// The GPU changes of `plan` against its fleet, in node and GPU order (empty without a fleet).
#[must_use]
pub fn planned_changes(plan: &FleetPlan) -> Vec<PlannedChange> {
    let mut out: Vec<PlannedChange> = plan
        .fleet
        .iter()
        .flat_map(|f| &f.changes)
        .map(|c| PlannedChange {
            node: c.node.clone(),
            gpu: c.gpu,
            to: sorted(&c.to),
        })
        .collect();
    out.sort();
    out
}

fn sorted(specs: &[InstanceSpec]) -> Vec<InstanceSpec> {
    let mut v = specs.to_vec();
    v.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.profile.cmp(&b.profile)));
    v
}

/// Whether the changes a caller reviewed are the ones planned now (order and instance order aside).
#[must_use]
pub fn same_changes(reviewed: &[PlannedChange], planned: &[PlannedChange]) -> bool {
    let mut a: Vec<PlannedChange> = reviewed
        .iter()
        .map(|c| PlannedChange {
            to: sorted(&c.to),
            ..c.clone()
        })
        .collect();
    a.sort();
    a == planned
}

/// The live fleet's GPUs of `model` with MIG on, with their instances and the busy ones: the
/// current fleet a plan is made against.
#[must_use]
pub fn fleet_gpus(fleet: &Fleet, model: GpuModel) -> Vec<FleetGpu> {
    fleet
        .nodes
        .iter()
        .flat_map(|n| {
            n.gpus
                .iter()
                .filter(|g| g.model == Some(model) && g.mig_mode == MigMode::Enabled)
                .map(|g| FleetGpu {
                    node: n.name.clone(),
                    gpu: g.index,
                    instances: g.instances.clone(),
                    busy: g
                        .busy
                        .iter()
                        .map(|b| InstanceSpec {
                            profile: b.profile.clone(),
                            start: b.start,
                        })
                        .collect(),
                })
        })
        .collect()
}

/// What one node's update carries out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeChange {
    /// Node.
    pub node: String,
    /// The GPUs whose layout changes.
    pub gpus: Vec<u32>,
    /// Running replicas the change moves (busy instances it removes).
    pub moved_replicas: u32,
    /// The node's config: changed GPUs at their planned layout, the model's other GPUs as they are.
    pub config: RawCustomConfig,
}

/// `s` as a Kubernetes label value (what a config name must be): letters, digits, `-_.`, at most 63
/// characters, starting and ending with a letter or digit.
#[must_use]
pub fn label_value(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name: String = clean
        .trim_start_matches(['-', '_', '.'])
        .chars()
        .take(63)
        .collect();
    while name.ends_with(['-', '_', '.']) {
        name.pop();
    }
    name
}

/// Per node with a changed GPU, the config and what it changes, in node order. Names are
/// `<prefix>-<node>` as label values, made unique when two nodes' names clean to the same one.
#[must_use]
pub fn node_changes(plan: &FleetPlan, fleet: &Fleet, prefix: &str) -> Vec<NodeChange> {
    let mut per_node: BTreeMap<&str, Vec<&super::GpuChange>> = BTreeMap::new();
    for c in plan.fleet.iter().flat_map(|f| &f.changes) {
        per_node.entry(c.node.as_str()).or_default().push(c);
    }
    let mut out: Vec<NodeChange> = Vec::new();
    for (node, changes) in per_node {
        let Some(info) = fleet.nodes.iter().find(|n| n.name == node) else {
            continue;
        };
        let devices: Vec<RawDevice> = info
            .gpus
            .iter()
            .filter(|g| g.model == Some(plan.model))
            .map(|g| {
                let changed = changes.iter().find(|c| c.gpu == g.index);
                RawDevice {
                    gpus: Devices::List(vec![g.index]),
                    mig_enabled: changed.is_some() || g.mig_mode == MigMode::Enabled,
                    instances: match changed {
                        Some(c) => sorted(&c.to),
                        None if g.mig_mode == MigMode::Enabled => sorted(&g.instances),
                        None => Vec::new(),
                    },
                }
            })
            .collect();
        let base = label_value(&format!("{prefix}-{node}"));
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|o| o.config.name == name) {
            let suffix = format!("-{n}");
            name = format!(
                "{}{suffix}",
                label_value(&base[..base.len().min(63 - suffix.len())])
            );
            n += 1;
        }
        let mut gpus: Vec<u32> = changes.iter().map(|c| c.gpu).collect();
        gpus.sort_unstable();
        out.push(NodeChange {
            node: node.to_owned(),
            moved_replicas: changes.iter().map(|c| c.moved_replicas).sum(),
            config: RawCustomConfig {
                name,
                model: plan.model.id().to_owned(),
                description: format!(
                    "fleet plan for {node}: GPU {} recut",
                    gpus.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                devices,
            },
            gpus,
        });
    }
    out
}

/// What applying did on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeApplied {
    /// Node.
    pub node: String,
    /// The GPUs the change recuts.
    pub gpus: Vec<u32>,
    /// The custom config saved for it (and the version saved), when saving got that far.
    pub config: String,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: NodeOutcome,
}

/// What happened to one node's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NodeOutcome {
    /// Its update deployment was submitted: follow it at `/deployments/{deployment}`.
    Submitted {
        /// The update deployment's id.
        deployment: i64,
    },
    /// Not carried out, and why (the node is left as it is).
    Refused {
        /// Why, in words.
        message: String,
        /// The validator's issues, when the update was refused by it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        issues: Vec<Issue>,
    },
}

/// The answer of `POST /api/v1/fleet-plans/apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedPlan {
    /// The plan carried out (solved against the fleet as it was when applying).
    pub plan: FleetPlan,
    /// Per node with a change: its config and update, or why it was refused.
    pub nodes: Vec<NodeApplied>,
    /// Every node's update was submitted.
    pub complete: bool,
    /// GPUs the plan needs beyond the fleet (new pools; nothing here can add them).
    pub added_gpus: u32,
}

/// What `POST /api/v1/fleet-plans/apply` (and the page's server function) answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Planned and carried out, node by node (some may be refused: see `complete`).
    Applied(AppliedPlan),
    /// The live fleet now plans otherwise than the changes reviewed: nothing was applied; review this
    /// plan and apply again.
    Changed {
        /// The plan as the live fleet now gives it.
        plan: FleetPlan,
    },
}

/// The most characters a config name prefix may have (the node's name follows it).
pub const MAX_PREFIX: usize = 40;

/// The issue with a config name prefix, at `/prefix`, if any.
#[must_use]
pub fn check_prefix(prefix: &str) -> Option<Issue> {
    (prefix.is_empty() || label_value(prefix) != prefix || prefix.len() > MAX_PREFIX).then(|| {
        Issue::new(
            crate::blueprint::Severity::Error,
            "plan_prefix_invalid",
            "/prefix".into(),
            format!(
                "the config name prefix {prefix:?} is not a label value of 1 to {MAX_PREFIX} characters"
            ),
            "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit (configs are named <prefix>-<node>)".into(),
        )
    })
}
