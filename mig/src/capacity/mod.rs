//! The fleet planner: the fewest GPUs, cut how, for a mix of workloads — proven optimal where it can be,
//! with its lower bound and gap where the time budget ran out — and the baselines it beats.
//!
//! Demand is instances per profile, or workloads (a model, precision, context and concurrency, with a
//! replica count or a target tokens/s) sized to a profile and a replica count by [`crate::sizing`] and
//! [`throughput`]. The solver ([`solve`]) is an integer program over the model's maximal layouts, by
//! branch and bound with the linear relaxation as bound ([`lp`]). Against a current fleet it is
//! lexicographic: fewest GPUs, then fewest GPUs reconfigured; the replicas moved are then made few by
//! keeping the busiest GPUs and by placing each new layout to keep a reconfigured GPU's busy instances.
//!
//! Pure: the caller measures time and decides when to stop ([`plan`]'s `stop`), so the browser and the
//! server run the same code with their own clocks.

pub mod apply;
pub mod export;
mod lp;
pub mod room;
pub mod shapes;
pub mod solve;
pub mod throughput;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::blueprint::{Issue, Severity};
use crate::layout::{InstanceSpec, Layout, Placed, ProfileCounts};
use crate::model::{GpuModel, KINDS, ProfileSpec};
use crate::place::place_near;
use crate::sizing::{self, Precision, SizingInput};
use solve::{Column, Counts, K};
pub use throughput::{Bound, DEFAULT_EFFICIENCY, SliceThroughput};

/// The most instances of one profile a request may ask for (about 140,000 GPUs of the smallest slice).
pub const MAX_COUNT: i64 = 1_000_000;
/// The most workloads in one request.
pub const MAX_WORKLOADS: usize = 200;
/// The most GPUs a current fleet may list.
pub const MAX_FLEET_GPUS: usize = 20_000;

/// A fleet-planning request, as the API and the `/capacity` page send it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// GPU model id, such as `h100-80gb`; or leave it out and give `shapes`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Node shapes to choose from, each with a relative cost per node, instead of one `model`: the
    /// answer is the cheapest mix of nodes ([`shapes::plan_shapes`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<shapes::ShapeInput>,
    /// Instances per profile (`{"1g.10gb": 120}`); added to what the workloads need.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub demand: BTreeMap<String, i64>,
    /// Workloads to size and serve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<RawWorkload>,
    /// The current fleet to plan against: `"current"` (the server fills it in) or its GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetInput>,
    /// GPUs per node, to count nodes (8 on OCI's bare-metal GPU shapes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_node: Option<u32>,
    /// Share of the peak bandwidth and compute a real server reaches (default 0.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<f64>,
    /// How long the solver may search before answering with its best and its gap, milliseconds
    /// (default 1000, at most [`MAX_BUDGET_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget_ms: Option<u32>,
}

/// The longest time budget a request may ask for.
pub const MAX_BUDGET_MS: u32 = 10_000;
/// The time budget when a request gives none.
pub const DEFAULT_BUDGET_MS: u32 = 1_000;

impl PlanRequest {
    /// The time budget asked for, within bounds.
    pub fn budget_ms(&self) -> u32 {
        self.time_budget_ms
            .unwrap_or(DEFAULT_BUDGET_MS)
            .clamp(1, MAX_BUDGET_MS)
    }
}

/// One workload to serve.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// A name for it (the deployment's, say).
    pub name: String,
    /// A catalogue model (`Llama-3.1-8B`), or leave out and give `params_billion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Parameters, billions, for a model not in the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_billion: Option<f64>,
    /// Layers, KV heads and head dimension of a custom model (all or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u32>,
    /// KV heads of a custom model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<u32>,
    /// Head dimension of a custom model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u32>,
    /// Weight precision (default bf16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// Context per sequence, tokens (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
    /// Sequences served at once per replica (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Replicas wanted; or give `tokens_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Decode tokens per second wanted in total; replicas follow from the throughput model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// The profile to run on (default: the smallest that holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// The current fleet of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FleetInput {
    /// `"current"`: the live fleet, filled in by the server.
    Named(FleetName),
    /// The GPUs, with their layouts.
    Gpus(Vec<FleetGpu>),
}

/// Named fleets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FleetName {
    /// The live fleet.
    #[serde(rename = "current")]
    Current,
}

/// One GPU of a current fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetGpu {
    /// Node name.
    pub node: String,
    /// GPU index on the node.
    pub gpu: u32,
    /// Its instances now.
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
    /// Those of its instances running a replica (moving them moves the replica).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy: Vec<InstanceSpec>,
}

/// A workload sized to a profile and a replica count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadPlan {
    /// Its name.
    pub name: String,
    /// The profile each replica runs on.
    pub profile: String,
    /// Replicas.
    pub replicas: u32,
    /// Memory one replica needs, GiB (weights, KV cache, overhead).
    pub memory_gib: f64,
    /// The profile's memory, GiB.
    pub profile_memory_gib: f64,
    /// What one replica does on its slice.
    pub per_replica: SliceThroughput,
    /// Decode tokens/s of all replicas.
    pub decode_tokens_per_s: f64,
    /// The target asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_tokens_per_s: Option<f64>,
}

/// GPUs sharing one layout in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutGroup {
    /// How many GPUs.
    pub count: u32,
    /// The exact placement of each.
    pub instances: Vec<InstanceSpec>,
    /// Instances per profile on each.
    pub counts: ProfileCounts,
    /// Replicas of each workload these GPUs serve, in all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub serves: BTreeMap<String, u32>,
    /// Of `count`, GPUs of the current fleet kept exactly as they are.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kept: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// One pool of the uniform baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniformPool {
    /// The profile.
    pub profile: String,
    /// mig-parted's named config cutting every GPU into it.
    pub config: String,
    /// Instances per GPU.
    pub per_gpu: u32,
    /// GPUs.
    pub gpus: u32,
}

/// A baseline's GPU count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// GPUs it needs.
    pub gpus: u32,
    /// How it gets there, in words.
    pub how: String,
    /// The uniform baseline's pools (one per profile).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<UniformPool>,
}

/// The baselines beside every answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// One pool per profile, each GPU cut by that profile's `all-…` named config (the OCI guide's way).
    pub uniform_named: Baseline,
    /// First-fit-decreasing, biggest instances first.
    pub first_fit_decreasing: Baseline,
}

/// A fleet GPU the answer reconfigures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuChange {
    /// Node.
    pub node: String,
    /// GPU index.
    pub gpu: u32,
    /// Its layout now.
    pub from: Vec<InstanceSpec>,
    /// Its layout in the answer (placed to keep busy instances where it can).
    pub to: Vec<InstanceSpec>,
    /// Busy instances that do not survive: replicas that move.
    pub moved_replicas: u32,
}

/// The answer against a current fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetOutcome {
    /// GPUs in the current fleet.
    pub current_gpus: u32,
    /// Fleet GPUs kept exactly as they are.
    pub kept_gpus: u32,
    /// Fleet GPUs given a new layout.
    pub reconfigured_gpus: u32,
    /// GPUs to add beyond the fleet.
    pub added_gpus: u32,
    /// Fleet GPUs the answer does not need.
    pub freed_gpus: u32,
    /// Running replicas that move.
    pub moved_replicas: u32,
    /// GPUs re-planning from scratch would reconfigure (its layouts matched to the fleet's as well as they
    /// can be), for comparison.
    pub from_scratch_reconfigured_gpus: u32,
    /// Whether "fewest reconfigured" was proven (the search finished within the budget).
    pub reconfigured_optimal: bool,
    /// Every reconfigured GPU.
    pub changes: Vec<GpuChange>,
    /// Fleet GPUs the answer frees, as `node/gpu`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freed: Vec<String>,
}

/// The fleet planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetPlan {
    /// The GPU model.
    pub model: GpuModel,
    /// GPUs the answer uses.
    pub gpus: u32,
    /// No answer uses fewer (proven).
    pub lower_bound: u32,
    /// `gpus == lower_bound`, or the search proved no better answer exists.
    pub optimal: bool,
    /// The layouts, most GPUs first.
    pub layouts: Vec<LayoutGroup>,
    /// The baselines.
    pub baselines: Baselines,
    /// Instances per profile asked for (workloads included).
    pub demand: ProfileCounts,
    /// Instances the answer has beyond the demand.
    pub spare: ProfileCounts,
    /// Nodes, when GPUs per node was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// GPUs per node used for `nodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_node: Option<u32>,
    /// Fleet GPUs reconfigured, when planned against a fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconfigured_gpus: Option<u32>,
    /// The answer against the current fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetOutcome>,
    /// Each workload's profile, replicas and throughput.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throughput: Vec<WorkloadPlan>,
    /// The throughput model's formula and assumptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<String>,
    /// Branch-and-bound nodes explored.
    pub explored: u64,
    /// Solve time, milliseconds (measured by the caller).
    pub solve_ms: f64,
}

/// A request checked and sized: what the solver works on.
#[derive(Debug, Clone)]
pub struct Resolved {
    model: GpuModel,
    demand: Counts,
    workloads: Vec<WorkloadPlan>,
    fleet: Option<Vec<(FleetGpu, Layout)>>,
    gpus_per_node: Option<u32>,
    efficiency: f64,
}

impl Resolved {
    /// The model.
    pub fn model(&self) -> GpuModel {
        self.model
    }
}

fn err(code: &str, path: String, message: String, hint: impl Into<String>) -> Issue {
    Issue::new(Severity::Error, code, path, message, hint.into())
}

fn pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The request's efficiency (default [`DEFAULT_EFFICIENCY`]), with an issue when it is no share of
/// the peak.
fn efficiency_of(req: &PlanRequest, issues: &mut Vec<Issue>) -> f64 {
    let efficiency = req.efficiency.unwrap_or(DEFAULT_EFFICIENCY);
    if !(efficiency.is_finite() && efficiency > 0.0 && efficiency <= 1.0) {
        issues.push(err(
            "plan_efficiency",
            "/efficiency".into(),
            format!("efficiency {efficiency} is not a share of the peak"),
            "give a number above 0 and at most 1, such as 0.6",
        ));
    }
    efficiency
}

/// `n` instances of `name` as a count, or the issue at `path`.
fn count_of(name: &str, n: i64, path: String) -> Result<u32, Issue> {
    if (0..=MAX_COUNT).contains(&n) {
        Ok(n as u32)
    } else {
        Err(err(
            "plan_count",
            path,
            format!("{n} × {name} is not a count of instances"),
            format!("give a whole number from 0 to {MAX_COUNT}"),
        ))
    }
}

/// The issue for too many workloads, if there are.
fn too_many_workloads(req: &PlanRequest, issues: &mut Vec<Issue>) {
    if req.workloads.len() > MAX_WORKLOADS {
        issues.push(err(
            "plan_too_many_workloads",
            "/workloads".into(),
            format!("{} workloads", req.workloads.len()),
            format!("plan at most {MAX_WORKLOADS} at once"),
        ));
    }
}

/// `issues`, or `Ok` — with the "nothing to plan" issue when there are none and nothing was asked.
fn finish(mut issues: Vec<Issue>, nothing_asked: bool) -> Result<(), Vec<Issue>> {
    if issues.is_empty() && nothing_asked {
        issues.push(err(
            "plan_empty",
            String::new(),
            "nothing to plan: no demand and no workloads".into(),
            "give \"demand\": {\"1g.10gb\": 14} or a workload",
        ));
    }
    if issues.is_empty() { Ok(()) } else { Err(issues) }
}

impl PlanRequest {
    /// Checks the request and sizes its workloads.
    ///
    /// # Errors
    /// Every problem, each at its JSON pointer (`/demand/1g.10gb`, `/workloads/2/model`), with a hint.
    pub fn resolve(&self) -> Result<Resolved, Vec<Issue>> {
        let mut issues = Vec::new();
        if !self.shapes.is_empty() {
            return Err(vec![err(
                "plan_shapes",
                "/shapes".into(),
                "this request lists node shapes, which this planner does not take".into(),
                "plan node shapes with POST /api/v1/fleet-plans (or on /capacity); applying to the live fleet takes one model",
            )]);
        }
        if self.model.trim().is_empty() {
            let ids: Vec<&str> = GpuModel::all().map(GpuModel::id).collect();
            return Err(vec![err(
                "plan_model_missing",
                "/model".into(),
                "the request names no GPU model and no node shapes".into(),
                format!(
                    "give \"model\" (one of {}) or \"shapes\": [{{\"name\": \"BM.GPU.H100.8\", \"cost\": 1}}]",
                    ids.join(", ")
                ),
            )]);
        }
        let Ok(model) = self.model.parse::<GpuModel>() else {
            let ids: Vec<&str> = GpuModel::all().map(GpuModel::id).collect();
            return Err(vec![err(
                "plan_model_unknown",
                "/model".into(),
                format!("unknown GPU model `{}`", self.model),
                format!("use one of {}", ids.join(", ")),
            )]);
        };
        let efficiency = efficiency_of(self, &mut issues);
        if let Some(0) = self.gpus_per_node {
            issues.push(err(
                "plan_gpus_per_node",
                "/gpus_per_node".into(),
                "a node has no GPUs".into(),
                "give 1 or more (8 on BM.GPU.H100.8), or leave it out",
            ));
        }
        let mut demand = [0u32; K];
        for (name, &n) in &self.demand {
            let path = format!("/demand/{}", pointer(name));
            let Some(p) = model.profile(name) else {
                let names = model.profile_names();
                let hint = match crate::suggest::closest(name, names.iter().copied()) {
                    Some(c) => format!(
                        "did you mean `{c}`? {} has {}",
                        model.id(),
                        names.join(", ")
                    ),
                    None => format!("{} has {}", model.id(), names.join(", ")),
                };
                issues.push(err(
                    "plan_profile_unknown",
                    path,
                    format!("{} has no profile `{name}`", model.id()),
                    hint,
                ));
                continue;
            };
            match count_of(name, n, path) {
                Ok(n) => demand[p.kind as usize] += n,
                Err(issue) => issues.push(issue),
            }
        }
        too_many_workloads(self, &mut issues);
        let mut workloads = Vec::new();
        for (i, w) in self.workloads.iter().take(MAX_WORKLOADS).enumerate() {
            match size_workload(model, w, i, efficiency) {
                Ok((p, plan)) => {
                    demand[p.kind as usize] = demand[p.kind as usize].saturating_add(plan.replicas);
                    workloads.push(plan);
                }
                Err(mut e) => issues.append(&mut e),
            }
        }
        let fleet = match &self.fleet {
            None => None,
            Some(FleetInput::Named(FleetName::Current)) => {
                issues.push(err(
                    "plan_fleet_unresolved",
                    "/fleet".into(),
                    "\"current\" names the live fleet, which only the server knows".into(),
                    "send this request to POST /api/v1/fleet-plans, or list the fleet's GPUs",
                ));
                None
            }
            Some(FleetInput::Gpus(gpus)) => {
                if gpus.len() > MAX_FLEET_GPUS {
                    issues.push(err(
                        "plan_fleet_too_large",
                        "/fleet".into(),
                        format!("{} GPUs", gpus.len()),
                        format!("at most {MAX_FLEET_GPUS}"),
                    ));
                    None
                } else {
                    let mut out = Vec::new();
                    for (i, g) in gpus.iter().enumerate() {
                        match Layout::new(model, &g.instances) {
                            Ok(l) => out.push((g.clone(), l)),
                            Err(e) => issues.push(err(
                                "plan_fleet_layout",
                                format!("/fleet/{i}/instances"),
                                format!(
                                    "{} GPU {} is not a valid {} layout: {}",
                                    g.node,
                                    g.gpu,
                                    model.id(),
                                    e.iter()
                                        .map(ToString::to_string)
                                        .collect::<Vec<_>>()
                                        .join("; ")
                                ),
                                "list the GPU's instances as the agent reports them",
                            )),
                        }
                    }
                    Some(out)
                }
            }
        };
        finish(issues, demand.iter().all(|&n| n == 0))?;
        Ok(Resolved {
            model,
            demand,
            workloads,
            fleet,
            gpus_per_node: self.gpus_per_node,
            efficiency,
        })
    }
}

fn size_workload(
    model: GpuModel,
    w: &RawWorkload,
    i: usize,
    efficiency: f64,
) -> Result<(&'static ProfileSpec, WorkloadPlan), Vec<Issue>> {
    let at = |m: &str| format!("/workloads/{i}{m}");
    let label = if w.name.trim().is_empty() {
        format!("workload {}", i + 1)
    } else {
        w.name.trim().to_owned()
    };
    let precision = w.precision.unwrap_or(Precision::Bf16);
    let context = w.context_tokens.unwrap_or(4096);
    let concurrency = w.concurrency.unwrap_or(1);
    let input = match (&w.model, w.params_billion) {
        (Some(name), _) if !name.trim().is_empty() => match sizing::catalogue_model(name) {
            Some(m) => SizingInput::for_model(m, precision, context, concurrency),
            None => {
                let names: Vec<&str> = sizing::CATALOGUE.iter().map(|m| m.name).collect();
                return Err(vec![err(
                    "plan_workload_model",
                    at("/model"),
                    format!("`{name}` is not in the model catalogue"),
                    format!(
                        "use one of {}, or leave model out and give params_billion (and layers, kv_heads, head_dim)",
                        names.join(", ")
                    ),
                )]);
            }
        },
        (_, Some(params)) => SizingInput {
            params_billion: params,
            precision,
            layers: w.layers.unwrap_or(0),
            kv_heads: w.kv_heads.unwrap_or(0),
            head_dim: w.head_dim.unwrap_or(0),
            context_tokens: if w.layers.is_some() { context } else { 0 },
            concurrent_sequences: concurrency,
            kv_precision: None,
        },
        _ => {
            return Err(vec![err(
                "plan_workload_model",
                at("/model"),
                format!("{label} names no model"),
                "give a catalogue model (\"Llama-3.1-8B\") or params_billion",
            )]);
        }
    };
    let estimate = sizing::estimate(&input).map_err(|e| {
        vec![err(
            "plan_workload_size",
            at(""),
            format!("{label}: {e}"),
            "fix the model's numbers",
        )]
    })?;
    let profile = match &w.profile {
        Some(name) => {
            let Some(p) = model.profile(name) else {
                return Err(vec![err(
                    "plan_profile_unknown",
                    at("/profile"),
                    format!("{} has no profile `{name}`", model.id()),
                    format!("use one of {}", model.profile_names().join(", ")),
                )]);
            };
            if f64::from(p.memory_mib) * 1024.0 * 1024.0 < estimate.total_bytes as f64 {
                return Err(vec![err(
                    "plan_workload_too_large",
                    at("/profile"),
                    format!(
                        "{label} needs {:.1} GiB, but {name} has {:.1} GiB",
                        estimate.total_gib(),
                        f64::from(p.memory_mib) / 1024.0
                    ),
                    "pick a bigger profile, or leave profile out to get the smallest that fits",
                )]);
            }
            p
        }
        None => sizing::smallest_fitting(model, estimate.total_bytes).ok_or_else(|| {
            vec![err(
                "plan_workload_too_large",
                at(""),
                format!(
                    "{label} needs {:.1} GiB, more than a whole {} ({:.1} GiB)",
                    estimate.total_gib(),
                    model.spec().display_name,
                    f64::from(model.spec().memory_mib) / 1024.0
                ),
                "MIG slices cannot be joined: quantise it (int8/int4), shorten context or concurrency, or run it on whole GPUs with tensor parallelism outside MIG",
            )]
        })?,
    };
    let per_replica =
        throughput::on_slice(model, profile, &throughput::Work::of(&input), efficiency);
    let replicas = match (w.replicas, w.tokens_per_second) {
        (Some(0), _) => {
            return Err(vec![err(
                "plan_workload_replicas",
                at("/replicas"),
                format!("{label} asks for 0 replicas"),
                "give 1 or more, or leave the workload out",
            )]);
        }
        (Some(n), _) if n > 100_000 => {
            return Err(vec![err(
                "plan_workload_replicas",
                at("/replicas"),
                format!("{n} replicas"),
                "at most 100000 per workload",
            )]);
        }
        (Some(n), _) => n,
        (None, Some(t)) if t.is_finite() && t > 0.0 => {
            let n = (t / per_replica.decode_tokens_per_s).ceil();
            if n > 100_000.0 {
                return Err(vec![err(
                    "plan_workload_tokens",
                    at("/tokens_per_second"),
                    format!("{t} tokens/s needs {n} replicas of {label}"),
                    "ask for less, or plan it in parts",
                )]);
            }
            n.max(1.0) as u32
        }
        (None, Some(t)) => {
            return Err(vec![err(
                "plan_workload_tokens",
                at("/tokens_per_second"),
                format!("{t} is not a rate"),
                "give tokens per second above 0",
            )]);
        }
        (None, None) => 1,
    };
    Ok((
        profile,
        WorkloadPlan {
            name: label,
            profile: profile.name.to_owned(),
            replicas,
            memory_gib: estimate.total_gib(),
            profile_memory_gib: f64::from(profile.memory_mib) / 1024.0,
            decode_tokens_per_s: per_replica.decode_tokens_per_s * f64::from(replicas),
            per_replica,
            target_tokens_per_s: w.tokens_per_second,
        },
    ))
}

fn counts_of(model: GpuModel, c: &Counts) -> ProfileCounts {
    let mut out = ProfileCounts::default();
    for k in 0..K {
        out.add(model.spec().profiles[k].name, c[k]);
    }
    out
}

fn baselines(model: GpuModel, d: &Counts, ffd_gpus: u32) -> Baselines {
    let mut pools = Vec::new();
    for k in 0..K {
        if d[k] > 0 {
            let p = &model.spec().profiles[k];
            let per_gpu = u32::from(KINDS[k].max_count);
            pools.push(UniformPool {
                profile: p.name.to_owned(),
                config: format!("all-{}", p.name.replace('+', ".")),
                per_gpu,
                gpus: d[k].div_ceil(per_gpu),
            });
        }
    }
    Baselines {
        uniform_named: Baseline {
            gpus: pools.iter().map(|p| p.gpus).sum(),
            how: "one pool per profile, every GPU cut by that profile's all-… named config, as the OCI guide does"
                .into(),
            pools,
        },
        first_fit_decreasing: Baseline {
            gpus: ffd_gpus,
            how: "instances biggest first, each on the first GPU that can still hold it".into(),
            pools: Vec::new(),
        },
    }
}

/// The planner's answer: for one GPU model, or the cheapest mix of node shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum Answer {
    /// Several node shapes with their costs (the request listed `shapes`).
    Shapes(shapes::ShapesPlan),
    /// One model.
    Fleet(FleetPlan),
}

/// Checks and plans `req`, whichever form it takes (`model` or `shapes`).
///
/// # Errors
/// Every problem of the request at its JSON pointer.
pub fn answer(req: &PlanRequest, stop: &mut dyn FnMut() -> bool) -> Result<Answer, Vec<Issue>> {
    if req.shapes.is_empty() {
        Ok(Answer::Fleet(plan(&req.resolve()?, stop)))
    } else {
        Ok(Answer::Shapes(shapes::plan_shapes(&req.resolve_shapes()?, stop)))
    }
}

/// Plans `resolved`. `stop` is asked now and then whether the time budget is spent; when it says yes,
/// the best answer found so far comes back with `optimal: false` and its proven lower bound.
pub fn plan(resolved: &Resolved, stop: &mut dyn FnMut() -> bool) -> FleetPlan {
    let model = resolved.model;
    let d = resolved.demand;
    let demanded: [bool; K] = std::array::from_fn(|k| d[k] > 0);
    let cols = solve::columns(model, &demanded);
    let ffd = solve::first_fit_decreasing(model, &d);
    let ffd_gpus = ffd.len() as u32;
    let (found, bound) = solve::min_gpus(&cols, &d, ffd_gpus + 1, stop);
    // Per layout: GPUs (fresh answer).
    let (fresh, lower_bound, optimal, explored): (Vec<(Layout, Counts, u32)>, u32, bool, u64) =
        match (found, bound) {
            (Some(sol), _) => (
                cols.iter()
                    .zip(&sol.x)
                    .filter(|(_, n)| **n > 0)
                    .map(|(c, &n)| (c.layout.clone(), c.counts, n))
                    .collect(),
                sol.lower_bound,
                sol.optimal,
                sol.explored,
            ),
            (None, b) => {
                // Stopped before beating first-fit-decreasing: its answer, with the bound proven so far.
                let (lower, exhausted, explored) = match b {
                    solve::Bound::Proven {
                        lower,
                        exhausted,
                        explored,
                    } => (lower, exhausted, explored),
                    solve::Bound::Infeasible => (0, false, 0),
                };
                (
                    ffd_layouts(model, &ffd),
                    lower.min(ffd_gpus),
                    exhausted || lower >= ffd_gpus,
                    explored,
                )
            }
        };
    let gpus: u32 = fresh.iter().map(|(_, _, n)| n).sum();
    let mut groups: Vec<LayoutGroup>;
    let mut outcome = None;
    if let Some(fleet) = &resolved.fleet {
        let (g, o) = against_fleet(model, &cols, &d, gpus, &fresh, fleet, stop);
        groups = g;
        outcome = Some(o);
    } else {
        groups = fresh
            .iter()
            .map(|(l, _, n)| LayoutGroup {
                count: *n,
                instances: l.to_specs(),
                counts: l.counts(),
                serves: BTreeMap::new(),
                kept: 0,
            })
            .collect();
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.instances.cmp(&b.instances)));
    assign_replicas(model, &mut groups, &resolved.workloads);
    let mut supplied = [0u32; K];
    for g in &groups {
        for (name, n) in &g.counts.0 {
            if let Some(p) = model.profile(name) {
                supplied[p.kind as usize] += n * g.count;
            }
        }
    }
    let spare: Counts = std::array::from_fn(|k| supplied[k].saturating_sub(d[k]));
    let gpus: u32 = groups.iter().map(|g| g.count).sum();
    FleetPlan {
        model,
        gpus,
        lower_bound,
        optimal,
        layouts: groups,
        baselines: baselines(model, &d, ffd_gpus),
        demand: counts_of(model, &d),
        spare: counts_of(model, &spare),
        nodes: resolved.gpus_per_node.map(|n| gpus.div_ceil(n.max(1))),
        gpus_per_node: resolved.gpus_per_node,
        reconfigured_gpus: outcome.as_ref().map(|o| o.reconfigured_gpus),
        fleet: outcome,
        assumptions: if resolved.workloads.is_empty() {
            Vec::new()
        } else {
            throughput::assumptions(model, resolved.efficiency)
        },
        throughput: resolved.workloads.clone(),
        explored,
        solve_ms: 0.0,
    }
}

fn ffd_layouts(model: GpuModel, gpus: &[Counts]) -> Vec<(Layout, Counts, u32)> {
    let mut by: BTreeMap<Counts, u32> = BTreeMap::new();
    for c in gpus {
        *by.entry(*c).or_insert(0) += 1;
    }
    by.into_iter()
        .filter_map(|(c, n)| {
            crate::place::place(model, &counts_of(model, &c))
                .ok()
                .map(|l| (l, c, n))
        })
        .collect()
}

/// Gives each workload's replicas to the groups' instances of its profile, in group order.
fn assign_replicas(model: GpuModel, groups: &mut [LayoutGroup], workloads: &[WorkloadPlan]) {
    let mut left: Vec<Vec<u32>> = groups
        .iter()
        .map(|g| {
            model
                .spec()
                .profiles
                .iter()
                .map(|p| g.counts.0.get(p.name).copied().unwrap_or(0) * g.count)
                .collect()
        })
        .collect();
    for w in workloads {
        let Some(p) = model.profile(&w.profile) else {
            continue;
        };
        let k = p.kind as usize;
        let mut need = w.replicas;
        for (g, free) in groups.iter_mut().zip(left.iter_mut()) {
            if need == 0 {
                break;
            }
            let take = need.min(free[k]);
            if take > 0 {
                free[k] -= take;
                need -= take;
                *g.serves.entry(w.name.clone()).or_insert(0) += take;
            }
        }
    }
}

fn project(c: &Counts, d: &Counts) -> Counts {
    std::array::from_fn(|k| if d[k] > 0 { c[k] } else { 0 })
}

/// Keeps as many fleet GPUs as they are while using `n_star` GPUs, then places the new layouts on the
/// reconfigured ones so as to keep their busy instances.
fn against_fleet(
    model: GpuModel,
    cols: &[Column],
    d: &Counts,
    n_star: u32,
    fresh: &[(Layout, Counts, u32)],
    fleet: &[(FleetGpu, Layout)],
    stop: &mut dyn FnMut() -> bool,
) -> (Vec<LayoutGroup>, FleetOutcome) {
    let f = fleet.len() as u32;
    // Types of fleet GPU by what they supply of the demand.
    let mut types: BTreeMap<Counts, Vec<usize>> = BTreeMap::new();
    for (i, (_, l)) in fleet.iter().enumerate() {
        let c = project(&solve::kind_counts(l), d);
        if c.iter().any(|&v| v > 0) {
            types.entry(c).or_default().push(i);
        }
    }
    let types: Vec<(Counts, Vec<usize>)> = types.into_iter().collect();
    struct Keep<'a> {
        types: &'a [(Counts, Vec<usize>)],
        cols: &'a [Column],
        n_star: u32,
        best: Option<(u32, Vec<u32>, Vec<(Layout, Counts, u32)>)>,
        k: Vec<u32>,
        stopped: bool,
    }
    impl Keep<'_> {
        fn walk(&mut self, t: usize, r: Counts, kept: u32, stop: &mut dyn FnMut() -> bool) {
            if self.stopped {
                return;
            }
            let best_k = self.best.as_ref().map_or(0, |b| b.0);
            let rest: u32 = self.types[t..].iter().map(|(_, g)| g.len() as u32).sum();
            if self.best.is_some() && kept + rest <= best_k {
                return;
            }
            let rows: Vec<&[u32]> = self.cols.iter().map(|c| &c.counts[..]).collect();
            match lp::solve(&rows, &r) {
                Some(rel) if kept + rel.bound() <= self.n_star => {}
                _ => return,
            }
            if t == self.types.len() {
                let room = self.n_star - kept;
                let (found, _) = solve::min_gpus(self.cols, &r, room + 1, stop);
                let layouts = match found {
                    Some(s) => self
                        .cols
                        .iter()
                        .zip(&s.x)
                        .filter(|(_, n)| **n > 0)
                        .map(|(c, &n)| (c.layout.clone(), c.counts, n))
                        .collect(),
                    None if r.iter().all(|&v| v == 0) => Vec::new(),
                    None => return,
                };
                self.best = Some((kept, self.k.clone(), layouts));
                return;
            }
            let (a, gpus) = &self.types[t];
            let most = (gpus.len() as u32).min(self.n_star - kept);
            for n in (0..=most).rev() {
                self.k[t] = n;
                self.walk(t + 1, minus(&r, a, n), kept + n, stop);
                if self.stopped {
                    break;
                }
            }
            self.k[t] = 0;
            if stop() {
                self.stopped = true;
            }
        }
    }
    fn minus(r: &Counts, a: &Counts, v: u32) -> Counts {
        std::array::from_fn(|k| r[k].saturating_sub(a[k] * v))
    }
    let mut keep = Keep {
        types: &types,
        cols,
        n_star,
        best: None,
        k: vec![0; types.len()],
        stopped: false,
    };
    keep.walk(0, *d, 0, stop);
    let reconfigured_optimal = !keep.stopped;
    let (kept_n, k, new_layouts) = keep
        .best
        .unwrap_or_else(|| (0, vec![0; types.len()], fresh.to_vec()));
    let busy = |i: usize| fleet[i].0.busy.len();
    // Keep the busiest GPUs of each type.
    let mut kept_idx: Vec<usize> = Vec::new();
    for ((_, gpus), &n) in types.iter().zip(&k) {
        let mut g = gpus.clone();
        g.sort_by_key(|&i| std::cmp::Reverse(busy(i)));
        kept_idx.extend(g.into_iter().take(n as usize));
    }
    kept_idx.sort_unstable();
    let mut others: Vec<usize> = (0..fleet.len())
        .filter(|i| kept_idx.binary_search(i).is_err())
        .collect();
    others.sort_by_key(|&i| (std::cmp::Reverse(busy(i)), i));
    let in_answer = (n_star.min(f) - kept_n) as usize;
    let (reconf, freed) = others.split_at(in_answer.min(others.len()));
    // New layouts onto the reconfigured GPUs, busiest first, each taking the layout that keeps most of
    // its busy instances.
    let mut pool: Vec<(Layout, Counts, u32)> = new_layouts;
    let mut changes = Vec::new();
    let mut moved = 0;
    let mut groups: BTreeMap<Vec<InstanceSpec>, (Layout, u32, u32)> = BTreeMap::new();
    for &i in &kept_idx {
        let l = &fleet[i].1;
        let e = groups.entry(l.to_specs()).or_insert((l.clone(), 0, 0));
        e.1 += 1;
        e.2 += 1;
    }
    for &i in reconf {
        let (g, now) = &fleet[i];
        let busy_placed: Vec<Placed> = now
            .instances()
            .iter()
            .copied()
            .filter(|p| {
                g.busy
                    .iter()
                    .any(|b| b.profile == p.profile.name && b.start == p.start)
            })
            .collect();
        let mut best: Option<(usize, Layout, usize)> = None;
        for (j, (l, _, n)) in pool.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let placed = place_near(model, &l.counts(), &busy_placed).unwrap_or_else(|_| l.clone());
            let keeps = placed
                .instances()
                .iter()
                .filter(|p| busy_placed.contains(p))
                .count();
            if best.as_ref().is_none_or(|b| keeps > b.2) {
                best = Some((j, placed, keeps));
            }
        }
        let Some((j, placed, keeps)) = best else {
            break;
        };
        pool[j].2 -= 1;
        let m = (busy_placed.len() - keeps) as u32;
        moved += m;
        changes.push(GpuChange {
            node: g.node.clone(),
            gpu: g.gpu,
            from: now.to_specs(),
            to: placed.to_specs(),
            moved_replicas: m,
        });
        let e = groups.entry(placed.to_specs()).or_insert((placed, 0, 0));
        e.1 += 1;
    }
    // What is left goes to added GPUs.
    let mut added = 0;
    for (l, _, n) in pool {
        if n > 0 {
            added += n;
            let e = groups.entry(l.to_specs()).or_insert((l, 0, 0));
            e.1 += n;
        }
    }
    for &i in freed {
        moved += busy(i) as u32;
    }
    // From scratch: the fresh answer's layouts matched to fleet GPUs already cut that way.
    let mut same = 0;
    for (_, c, n) in fresh {
        let have = fleet
            .iter()
            .filter(|(_, l)| solve::kind_counts(l) == *c)
            .count() as u32;
        same += have.min(*n);
    }
    let from_scratch = n_star.min(f).saturating_sub(same);
    let groups = groups
        .into_values()
        .map(|(l, n, kept)| LayoutGroup {
            count: n,
            instances: l.to_specs(),
            counts: l.counts(),
            serves: BTreeMap::new(),
            kept,
        })
        .collect();
    (
        groups,
        FleetOutcome {
            current_gpus: f,
            kept_gpus: kept_n,
            reconfigured_gpus: changes.len() as u32,
            added_gpus: added,
            freed_gpus: freed.len() as u32,
            moved_replicas: moved,
            from_scratch_reconfigured_gpus: from_scratch,
            reconfigured_optimal,
            changes,
            freed: freed
                .iter()
                .map(|&i| format!("{}/{}", fleet[i].0.node, fleet[i].0.gpu))
                .collect(),
        },
    )
}

/// Reproducible random inference mixes, for tests and benchmarks.
///
/// A mix picks 3 to 5 distinct profiles among the inference sizes (every profile but the `+me` one and the
/// whole GPU), splits `about_gpus × 7` compute slices between them by random shares, and asks for that many
/// instances of each. The optimum is then close to `about_gpus`. SplitMix64 from `seed`.
pub fn inference_mix(model: GpuModel, seed: u64, about_gpus: u32) -> PlanRequest {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut kinds: Vec<usize> = (0..K)
        .filter(|&k| {
            !matches!(
                KINDS[k].kind,
                crate::model::ProfileKind::OneSliceMe | crate::model::ProfileKind::SevenSlice
            )
        })
        .collect();
    let n = 3 + (next() % 3) as usize;
    for i in 0..kinds.len() {
        let j = i + (next() % (kinds.len() - i) as u64) as usize;
        kinds.swap(i, j);
    }
    kinds.truncate(n.min(kinds.len()));
    let shares: Vec<f64> = kinds.iter().map(|_| 1.0 + (next() % 1000) as f64).collect();
    let total: f64 = shares.iter().sum();
    let slices = f64::from(about_gpus) * 7.0;
    let mut demand = BTreeMap::new();
    for (&k, share) in kinds.iter().zip(shares) {
        let count = (slices * share / total / f64::from(KINDS[k].compute_slices)).round() as i64;
        demand.insert(model.spec().profiles[k].name.to_owned(), count.max(1));
    }
    PlanRequest {
        model: model.id().to_owned(),
        demand,
        ..PlanRequest::default()
    }
}
