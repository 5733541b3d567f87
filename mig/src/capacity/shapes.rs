//! Several node shapes, each with a relative cost per node: the cheapest fleet that serves a demand,
//! which shape serves which part of it, and what each shape alone would cost.
//!
//! The integer program: per shape `s`, GPUs `x_sl` cut as each of its maximal layouts `l`, nodes `n_s`;
//! per demand item `j` (a profile's instances, or a workload's replicas) and shape, the replicas
//! `y_js` it gets there. Minimise `Σ cost_s × n_s` subject to
//! - every item served: `Σ_s per_js × y_js ≥ target_j` (`per` is 1 for a count, a replica's decode
//!   tokens/s on that shape for a throughput target — the same workload runs faster on a faster GPU);
//! - every shape's instances cover what it serves: `Σ_l a_slk × x_sl ≥ Σ_{j on kind k} y_js`;
//! - every shape's GPUs fit its nodes: `Σ_l x_sl ≤ gpus_s × n_s`.
//!
//! Solved by branch and bound over the general linear relaxation ([`super::lp::solve_general`]),
//! branching on nodes first, then replicas, then layouts. Every node of the search also rounds its
//! relaxed replicas up and plans each shape's share exactly with the single-model solver: that answer
//! is feasible, so it bounds the search from above from the first node on. The relaxation's value is a
//! proven lower bound; when the budget stops the search, the answer says its gap.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::solve::{self, Column, Counts, K};
use super::{
    LayoutGroup, PlanRequest, Resolved, WorkloadPlan, count_of, efficiency_of, err, finish, lp,
    pointer, size_workload, throughput, too_many_workloads,
};
use crate::blueprint::Issue;
use crate::layout::ProfileCounts;
use crate::model::GpuModel;
use crate::shape::{MAX_GPUS_PER_NODE, shape};

/// The most node shapes one request may compare.
pub const MAX_SHAPES: usize = 4;
/// The highest relative cost a node may have.
pub const MAX_COST: f64 = 1e6;

/// A node shape a request may use, with its relative cost per node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeInput {
    /// OCI's shape name (`BM.GPU.H100.8`: its model and GPUs are known), or a name of your own with
    /// `model` and `gpus_per_node`.
    pub name: String,
    /// GPU model id (`h100-80gb`); taken from the shape when it is OCI's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// GPUs per node; taken from the shape when it is OCI's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_node: Option<u32>,
    /// Relative cost of one node (a price per hour, or any unit shared by all shapes).
    pub cost: f64,
}

/// A shape, checked.
#[derive(Debug, Clone)]
struct Shape {
    name: String,
    model: GpuModel,
    gpus: u32,
    cost: f64,
}

/// What one item needs on one shape.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Need {
    /// Profile kind of each replica (an index into [`crate::model::KINDS`]).
    kind: usize,
    /// How much of the target one replica gives (1, or decode tokens/s).
    per: f64,
}

/// Something to serve: a profile's instances or a workload's replicas.
#[derive(Debug, Clone)]
struct Item {
    /// The profile's or the workload's name.
    name: String,
    /// What must be reached: instances, replicas or tokens/s.
    target: f64,
    /// Per shape: what a replica needs there, `None` where it fits no profile.
    needs: Vec<Option<Need>>,
    /// Per shape: the workload sized there (workloads only).
    sized: Vec<Option<WorkloadPlan>>,
}

/// A request with shapes, checked and sized: what [`plan_shapes`] works on.
#[derive(Debug, Clone)]
pub struct ResolvedShapes {
    shapes: Vec<Shape>,
    items: Vec<Item>,
    efficiency: f64,
}

/// One shape in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapePlan {
    /// The shape's name.
    pub name: String,
    /// Its GPU model.
    pub model: GpuModel,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Relative cost per node.
    pub cost_per_node: f64,
    /// Nodes of this shape in the answer (0: not used).
    pub nodes: u32,
    /// GPUs of those nodes that get instances.
    pub gpus: u32,
    /// `nodes × cost_per_node`.
    pub cost: f64,
    /// The GPUs' layouts, most GPUs first, with the replicas they serve.
    pub layouts: Vec<LayoutGroup>,
    /// Instances per profile this shape serves.
    pub demand: ProfileCounts,
    /// Instances beyond that.
    pub spare: ProfileCounts,
    /// The workloads' replicas here, with their throughput on this shape's GPU.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throughput: Vec<WorkloadPlan>,
    /// The GPUs for this shape's share were proven fewest.
    pub gpus_optimal: bool,
}

/// One shape alone: what serving everything on it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleShape {
    /// The shape.
    pub name: String,
    /// Nodes, when it can serve everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// GPUs, when it can serve everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// Cost, when it can serve everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Why it cannot, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cannot: Option<String>,
}

/// How one item is split between the shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemSplit {
    /// The profile's or the workload's name.
    pub name: String,
    /// Instances or replicas on each shape, in the shapes' order.
    pub per_shape: Vec<u32>,
}

/// The cheapest fleet over several node shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapesPlan {
    /// `Σ nodes × cost per node`.
    pub cost: f64,
    /// No answer costs less (proven by the relaxation, or by an exhausted search).
    pub lower_bound: f64,
    /// `cost` is the optimum (proven).
    pub optimal: bool,
    /// Nodes, all shapes.
    pub nodes: u32,
    /// GPUs with instances, all shapes.
    pub gpus: u32,
    /// Every shape given, in order (those not used with 0 nodes).
    pub shapes: Vec<ShapePlan>,
    /// Each shape alone, in order: the comparison that says what mixing saves.
    pub single_shape: Vec<SingleShape>,
    /// Which shape serves how much of each profile and workload.
    pub split: Vec<ItemSplit>,
    /// The throughput model's formula and assumptions, per model used (workloads only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<String>,
    /// Branch-and-bound nodes explored.
    pub explored: u64,
    /// Solve time, milliseconds (measured by the caller).
    pub solve_ms: f64,
}

impl PlanRequest {
    /// Checks a request with `shapes` and sizes its workloads on each shape's GPU.
    ///
    /// # Errors
    /// Every problem at its JSON pointer (`/shapes/1/cost`, `/demand/1g.10gb`), with a hint.
    pub fn resolve_shapes(&self) -> Result<ResolvedShapes, Vec<Issue>> {
        let mut issues = Vec::new();
        if !self.model.trim().is_empty() {
            issues.push(err(
                "plan_model_and_shapes",
                "/model".into(),
                "a request gives either one model or node shapes, not both".into(),
                "leave model out and list the model's shape under shapes, or leave shapes out",
            ));
        }
        if self.gpus_per_node.is_some() {
            issues.push(err(
                "plan_gpus_per_node",
                "/gpus_per_node".into(),
                "each shape has its own GPUs per node".into(),
                "leave gpus_per_node out; give it per shape (shapes/N/gpus_per_node) for a shape of your own",
            ));
        }
        if self.fleet.is_some() {
            issues.push(err(
                "plan_shapes_fleet",
                "/fleet".into(),
                "planning node shapes against a current fleet is not supported".into(),
                "plan against the fleet with its one model (model, not shapes), or plan shapes without fleet",
            ));
        }
        if self.shapes.len() > MAX_SHAPES {
            issues.push(err(
                "plan_too_many_shapes",
                "/shapes".into(),
                format!("{} shapes", self.shapes.len()),
                format!("compare at most {MAX_SHAPES} at once"),
            ));
        }
        let efficiency = efficiency_of(self, &mut issues);
        let mut shapes: Vec<Shape> = Vec::new();
        for (i, s) in self.shapes.iter().take(MAX_SHAPES).enumerate() {
            if let Some(shape) = check_shape(s, i, &mut issues) {
                if shapes.iter().any(|o| o.name == shape.name) {
                    issues.push(err(
                        "plan_shape_twice",
                        format!("/shapes/{i}/name"),
                        format!("shape `{}` is listed twice", shape.name),
                        "list each shape once",
                    ));
                } else {
                    shapes.push(shape);
                }
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let mut items: Vec<Item> = Vec::new();
        for (name, &n) in &self.demand {
            let path = format!("/demand/{}", pointer(name));
            let n = match count_of(name, n, path.clone()) {
                Ok(n) => n,
                Err(issue) => {
                    issues.push(issue);
                    continue;
                }
            };
            let needs: Vec<Option<Need>> = shapes
                .iter()
                .map(|s| {
                    s.model.profile(name).map(|p| Need {
                        kind: p.kind as usize,
                        per: 1.0,
                    })
                })
                .collect();
            if needs.iter().all(Option::is_none) {
                let models: Vec<String> = shapes
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.model.profile_names().join(", ")))
                    .collect();
                issues.push(err(
                    "plan_profile_unknown",
                    path,
                    format!("no shape's GPU has profile `{name}`"),
                    format!("use a profile one of them has: {}", models.join("; ")),
                ));
                continue;
            }
            if n > 0 {
                items.push(Item {
                    name: name.clone(),
                    target: f64::from(n),
                    needs,
                    sized: vec![None; shapes.len()],
                });
            }
        }
        too_many_workloads(self, &mut issues);
        for (i, w) in self.workloads.iter().take(super::MAX_WORKLOADS).enumerate() {
            let mut needs = Vec::new();
            let mut sized = Vec::new();
            let mut problems: Vec<Issue> = Vec::new();
            let mut target = None;
            for s in &shapes {
                match size_workload(s.model, w, i, efficiency) {
                    Ok((p, plan)) => {
                        let (t, per) = match w.tokens_per_second {
                            Some(t) if w.replicas.is_none() => {
                                (t, plan.per_replica.decode_tokens_per_s)
                            }
                            _ => (f64::from(plan.replicas), 1.0),
                        };
                        target = Some(t);
                        needs.push(Some(Need {
                            kind: p.kind as usize,
                            per,
                        }));
                        sized.push(Some(plan));
                    }
                    Err(e) => {
                        for mut issue in e {
                            if !problems.iter().any(|p| p.message == issue.message) {
                                issue.message = format!("on {}: {}", s.name, issue.message);
                                problems.push(issue);
                            }
                        }
                        needs.push(None);
                        sized.push(None);
                    }
                }
            }
            match target {
                Some(target) => items.push(Item {
                    name: sized
                        .iter()
                        .flatten()
                        .next()
                        .map_or_else(String::new, |p| p.name.clone()),
                    target,
                    needs,
                    sized,
                }),
                None => issues.append(&mut problems),
            }
        }
        finish(issues, items.is_empty())?;
        Ok(ResolvedShapes {
            shapes,
            items,
            efficiency,
        })
    }
}

fn check_shape(s: &ShapeInput, i: usize, issues: &mut Vec<Issue>) -> Option<Shape> {
    let at = |m: &str| format!("/shapes/{i}{m}");
    let before = issues.len();
    let name = s.name.trim();
    if name.is_empty() || name.len() > 64 {
        issues.push(err(
            "plan_shape_name",
            at("/name"),
            format!("shape name `{name}` is empty or longer than 64 characters"),
            "give OCI's shape name (BM.GPU.H100.8) or a short name of your own",
        ));
    }
    if !(s.cost.is_finite() && s.cost > 0.0 && s.cost <= MAX_COST) {
        issues.push(err(
            "plan_shape_cost",
            at("/cost"),
            format!("cost {} is not a relative cost of a node", s.cost),
            format!("give a number above 0 and at most {MAX_COST}, such as a price per hour"),
        ));
    }
    let known = shape(name);
    let model = match (&s.model, known) {
        (Some(m), known) => match m.parse::<GpuModel>() {
            Ok(model) if known.is_some_and(|k| k.model != model) => {
                issues.push(err(
                    "plan_shape_model",
                    at("/model"),
                    format!(
                        "{name} carries {}, not {}",
                        known.map_or("", |k| k.model.id()),
                        model.id()
                    ),
                    "leave model out for OCI's shapes, or give your shape a name of its own",
                ));
                None
            }
            Ok(model) => Some(model),
            Err(_) => {
                let ids: Vec<&str> = GpuModel::all().map(GpuModel::id).collect();
                issues.push(err(
                    "plan_model_unknown",
                    at("/model"),
                    format!("unknown GPU model `{m}`"),
                    format!("use one of {}", ids.join(", ")),
                ));
                None
            }
        },
        (None, Some(k)) => Some(k.model),
        (None, None) => {
            let names: Vec<&str> = crate::shape::SHAPES.iter().map(|s| s.name).collect();
            issues.push(err(
                "plan_shape_unknown",
                at("/name"),
                format!("`{name}` is not one of OCI's MIG shapes, and gives no model"),
                format!(
                    "use one of {}, or give model and gpus_per_node for a shape of your own",
                    names.join(", ")
                ),
            ));
            None
        }
    };
    let gpus = match (s.gpus_per_node, known) {
        (Some(g), _) if g == 0 || g > MAX_GPUS_PER_NODE => {
            issues.push(err(
                "plan_gpus_per_node",
                at("/gpus_per_node"),
                format!("{g} GPUs per node"),
                format!("give 1 to {MAX_GPUS_PER_NODE}"),
            ));
            0
        }
        (Some(g), Some(k)) if g != k.gpus => {
            issues.push(err(
                "plan_gpus_per_node",
                at("/gpus_per_node"),
                format!("{name} has {} GPUs, not {g}", k.gpus),
                "leave gpus_per_node out for OCI's shapes",
            ));
            0
        }
        (Some(g), _) => g,
        (None, Some(k)) => k.gpus,
        (None, None) => {
            if model.is_some() {
                issues.push(err(
                    "plan_gpus_per_node",
                    at("/gpus_per_node"),
                    format!("shape `{name}` gives no GPUs per node"),
                    "give gpus_per_node (8 on most GPU servers)",
                ));
            }
            0
        }
    };
    (issues.len() == before).then(|| Shape {
        name: name.to_owned(),
        model: model.unwrap_or(GpuModel::H100_80GB),
        gpus,
        cost: s.cost,
    })
}

/// The variables of the integer program, in one vector: per shape its layouts, then per item and shape
/// the replicas there, then per shape its nodes.
struct Program {
    /// `(item, shape)` of each replica variable, from `y0`.
    ys: Vec<(usize, usize)>,
    y0: usize,
    n0: usize,
    /// Coefficients per variable, per base row.
    columns: Vec<Vec<f64>>,
    cost: Vec<f64>,
    b: Vec<f64>,
}

impl Program {
    fn new(r: &ResolvedShapes, shape_cols: &mut ShapeCols) -> Self {
        let s_n = r.shapes.len();
        let mut kinds: Vec<[bool; K]> = vec![[false; K]; s_n];
        for item in &r.items {
            for (s, need) in item.needs.iter().enumerate() {
                if let Some(n) = need {
                    kinds[s][n.kind] = true;
                }
            }
        }
        let cols: Vec<Vec<Column>> = (0..s_n)
            .map(|s| shape_cols.get(r.shapes[s].model, &kinds[s]).to_vec())
            .collect();
        // Rows: items, then (shape, kind) for demanded kinds, then shapes.
        let mut kind_row: Vec<[Option<usize>; K]> = vec![[None; K]; s_n];
        let mut rows = r.items.len();
        for s in 0..s_n {
            for k in 0..K {
                if kinds[s][k] {
                    kind_row[s][k] = Some(rows);
                    rows += 1;
                }
            }
        }
        let node_row0 = rows;
        rows += s_n;
        let mut columns = Vec::new();
        let mut cost = Vec::new();
        for s in 0..s_n {
            for c in &cols[s] {
                let mut v = vec![0.0; rows];
                for k in 0..K {
                    if let Some(row) = kind_row[s][k] {
                        v[row] = f64::from(c.counts[k]);
                    }
                }
                v[node_row0 + s] = -1.0;
                columns.push(v);
                cost.push(0.0);
            }
        }
        let y0 = columns.len();
        let mut ys = Vec::new();
        for (j, item) in r.items.iter().enumerate() {
            for (s, need) in item.needs.iter().enumerate() {
                if let Some(n) = need {
                    let mut v = vec![0.0; rows];
                    v[j] = n.per;
                    if let Some(row) = kind_row[s][n.kind] {
                        v[row] = -1.0;
                    }
                    columns.push(v);
                    cost.push(0.0);
                    ys.push((j, s));
                }
            }
        }
        let n0 = columns.len();
        for (s, shape) in r.shapes.iter().enumerate() {
            let mut v = vec![0.0; rows];
            v[node_row0 + s] = f64::from(shape.gpus);
            columns.push(v);
            cost.push(shape.cost);
        }
        let mut b = vec![0.0; rows];
        for (j, item) in r.items.iter().enumerate() {
            b[j] = item.target;
        }
        Self {
            ys,
            y0,
            n0,
            columns,
            cost,
            b,
        }
    }

    /// The relaxation with each variable within `[lo, hi]`.
    fn relax(&self, lo: &[u32], hi: &[u32], stop: &mut dyn FnMut() -> bool) -> lp::Outcome {
        let mut columns = self.columns.clone();
        let mut b = self.b.clone();
        for v in 0..columns.len() {
            if lo[v] > 0 {
                for (u, c) in columns.iter_mut().enumerate() {
                    c.push(if u == v { 1.0 } else { 0.0 });
                }
                b.push(f64::from(lo[v]));
            }
            if hi[v] != u32::MAX {
                for (u, c) in columns.iter_mut().enumerate() {
                    c.push(if u == v { -1.0 } else { 0.0 });
                }
                b.push(-f64::from(hi[v]));
            }
        }
        lp::solve_general(&columns, &self.cost, &b, stop)
    }
}

/// Each model's layouts for a set of demanded kinds, computed once.
#[derive(Default)]
struct ShapeCols(HashMap<(GpuModel, [bool; K]), Vec<Column>>);

impl ShapeCols {
    fn get(&mut self, model: GpuModel, demanded: &[bool; K]) -> &[Column] {
        self.0
            .entry((model, *demanded))
            .or_insert_with(|| solve::columns(model, demanded))
    }
}

/// The fewest GPUs of `model` for `d`, memoised: exact unless `stop` cut the search (then the best
/// found).
struct Exact {
    cols: ShapeCols,
    memo: HashMap<(GpuModel, Counts), u32>,
}

impl Exact {
    fn gpus(&mut self, model: GpuModel, d: &Counts, stop: &mut dyn FnMut() -> bool) -> u32 {
        if let Some(&g) = self.memo.get(&(model, *d)) {
            return g;
        }
        let demanded: [bool; K] = std::array::from_fn(|k| d[k] > 0);
        let ffd = solve::first_fit_decreasing(model, d).len() as u32;
        let cols = self.cols.get(model, &demanded);
        let (found, _) = solve::min_gpus(cols, d, ffd + 1, stop);
        let g = found.map_or(ffd, |s| s.x.iter().sum());
        self.memo.insert((model, *d), g);
        g
    }
}

/// Replicas per item and shape: a whole answer once each shape's GPUs are planned.
type Split = Vec<Vec<u32>>;

/// Each shape's demand per kind under `split`.
fn shape_demand(r: &ResolvedShapes, split: &Split, s: usize) -> Counts {
    let mut d = [0u32; K];
    for (j, item) in r.items.iter().enumerate() {
        if let Some(n) = item.needs[s] {
            d[n.kind] = d[n.kind].saturating_add(split[j][s]);
        }
    }
    d
}

/// The cost of `split` with each shape's share planned exactly, and its nodes per shape.
fn split_cost(
    r: &ResolvedShapes,
    split: &Split,
    exact: &mut Exact,
    stop: &mut dyn FnMut() -> bool,
) -> (f64, Vec<u32>) {
    let mut cost = 0.0;
    let mut nodes = Vec::new();
    for (s, shape) in r.shapes.iter().enumerate() {
        let d = shape_demand(r, split, s);
        let n = exact.gpus(shape.model, &d, stop).div_ceil(shape.gpus);
        cost += f64::from(n) * shape.cost;
        nodes.push(n);
    }
    (cost, nodes)
}

/// Everything on shape `s`, when it can serve every item.
fn all_on(r: &ResolvedShapes, s: usize) -> Option<Split> {
    r.items
        .iter()
        .map(|item| {
            item.needs[s].map(|n| {
                let mut v = vec![0; r.shapes.len()];
                v[s] = replicas_for(item.target, n.per);
                v
            })
        })
        .collect()
}

fn replicas_for(target: f64, per: f64) -> u32 {
    let n = (target / per - 1e-9).ceil();
    if n <= 0.0 { 0 } else { n.min(f64::from(u32::MAX)) as u32 }
}

const TOL: f64 = 1e-6;

struct Search<'a> {
    r: &'a ResolvedShapes,
    program: Program,
    exact: Exact,
    best: f64,
    best_split: Option<Split>,
    explored: u64,
    stopped: bool,
    stop: &'a mut dyn FnMut() -> bool,
}

impl Search<'_> {
    /// An answer from a relaxed solution: its replicas rounded up (still serving every item), each
    /// shape's share planned exactly.
    fn round_up(&mut self, x: &[f64]) {
        let mut split: Split = vec![vec![0; self.r.shapes.len()]; self.r.items.len()];
        for (i, &(j, s)) in self.program.ys.iter().enumerate() {
            split[j][s] = (x[self.program.y0 + i] - TOL).ceil().max(0.0) as u32;
        }
        let (cost, _) = split_cost(self.r, &split, &mut self.exact, self.stop);
        if cost < self.best - TOL {
            self.best = cost;
            self.best_split = Some(split);
        }
    }

    /// `given`: this node's relaxation when already solved (the root's).
    fn dfs(&mut self, lo: &mut Vec<u32>, hi: &mut Vec<u32>, given: Option<lp::General>) {
        if self.stopped {
            return;
        }
        self.explored += 1;
        if (self.stop)() {
            self.stopped = true;
            return;
        }
        let outcome = match given {
            Some(g) => lp::Outcome::Solved(g),
            None => self.program.relax(lo, hi, self.stop),
        };
        let relaxed = match outcome {
            lp::Outcome::Solved(r) => r,
            lp::Outcome::Infeasible => return,
            lp::Outcome::Unsolved => {
                // Stopped, or no bound here: the search cannot claim to be complete.
                self.stopped = true;
                return;
            }
        };
        if relaxed.value >= self.best - TOL * self.best.max(1.0) {
            return;
        }
        self.round_up(&relaxed.x);
        if relaxed.value >= self.best - TOL * self.best.max(1.0) {
            return;
        }
        // Branch: nodes first (they are what costs), then replicas, then layouts.
        let frac = |v: usize| {
            let f = relaxed.x[v] - relaxed.x[v].floor();
            (f > TOL && f < 1.0 - TOL).then_some(f)
        };
        let p = &self.program;
        let pick = (p.n0..p.columns.len())
            .chain(p.y0..p.n0)
            .chain(0..p.y0)
            .find(|&v| frac(v).is_some());
        let Some(v) = pick else {
            // Integral: a whole answer at the relaxation's value.
            let mut split: Split = vec![vec![0; self.r.shapes.len()]; self.r.items.len()];
            for (i, &(j, s)) in p.ys.iter().enumerate() {
                split[j][s] = relaxed.x[p.y0 + i].round() as u32;
            }
            let (cost, _) = split_cost(self.r, &split, &mut self.exact, self.stop);
            if cost < self.best - TOL {
                self.best = cost;
                self.best_split = Some(split);
            }
            return;
        };
        let value = relaxed.x[v];
        let down = value.floor() as u32;
        // Up first: it keeps the demand served, and the rounding above often already found that side.
        let (old_lo, old_hi) = (lo[v], hi[v]);
        lo[v] = down + 1;
        self.dfs(lo, hi, None);
        lo[v] = old_lo;
        if self.stopped {
            return;
        }
        hi[v] = down;
        self.dfs(lo, hi, None);
        hi[v] = old_hi;
    }
}

/// Plans `r`: the cheapest nodes over its shapes. `stop` is asked now and then whether the time
/// budget is spent; then the best answer found comes back with `optimal: false` and its lower bound.
pub fn plan_shapes(r: &ResolvedShapes, stop: &mut dyn FnMut() -> bool) -> ShapesPlan {
    let mut exact = Exact {
        cols: ShapeCols::default(),
        memo: HashMap::new(),
    };
    let program = Program::new(r, &mut exact.cols);
    // Each shape alone: the comparison, and the first answers to beat.
    let mut single = Vec::new();
    let mut best = f64::INFINITY;
    let mut best_split = None;
    for (s, shape) in r.shapes.iter().enumerate() {
        match all_on(r, s) {
            Some(split) => {
                let (cost, nodes) = split_cost(r, &split, &mut exact, stop);
                let d = shape_demand(r, &split, s);
                single.push(SingleShape {
                    name: shape.name.clone(),
                    nodes: Some(nodes[s]),
                    gpus: Some(exact.gpus(shape.model, &d, stop)),
                    cost: Some(cost),
                    cannot: None,
                });
                if cost < best {
                    best = cost;
                    best_split = Some(split);
                }
            }
            None => {
                let names: Vec<&str> = r
                    .items
                    .iter()
                    .filter(|i| i.needs[s].is_none())
                    .map(|i| i.name.as_str())
                    .collect();
                single.push(SingleShape {
                    name: shape.name.clone(),
                    nodes: None,
                    gpus: None,
                    cost: None,
                    cannot: Some(format!(
                        "its {} has no profile for {}",
                        shape.model.spec().display_name,
                        names.join(", ")
                    )),
                });
            }
        }
    }
    let vars = program.columns.len();
    // The root's bound is the answer's lower bound: solved whatever the budget says (half a second at
    // the largest request, 200 workloads on 4 shapes).
    let root = program
        .relax(&vec![0; vars], &vec![u32::MAX; vars], &mut || false)
        .solved();
    let root_value = root.as_ref().map_or(0.0, |g| g.value);
    let first = root.clone();
    let mut search = Search {
        r,
        program,
        exact,
        best,
        best_split,
        explored: 0,
        stopped: false,
        stop,
    };
    if best.is_infinite() {
        // No shape serves everything alone: round the relaxation up for a first answer.
        if let Some(first) = &first {
            search.round_up(&first.x);
        }
    }
    search.dfs(&mut vec![0; vars], &mut vec![u32::MAX; vars], root);
    let exhausted = !search.stopped;
    let explored = search.explored;
    let best = search.best;
    let split = search
        .best_split
        .take()
        .unwrap_or_else(|| vec![vec![0; r.shapes.len()]; r.items.len()]);
    let stop = search.stop;
    let lower_bound = if exhausted {
        best
    } else {
        root_value.min(best)
    };
    answer(r, &split, stop, lower_bound, exhausted, explored, single)
}

#[allow(clippy::too_many_arguments)]
fn answer(
    r: &ResolvedShapes,
    split: &Split,
    stop: &mut dyn FnMut() -> bool,
    lower_bound: f64,
    exhausted: bool,
    explored: u64,
    single_shape: Vec<SingleShape>,
) -> ShapesPlan {
    let mut shapes = Vec::new();
    for (s, shape) in r.shapes.iter().enumerate() {
        let d = shape_demand(r, split, s);
        let workloads: Vec<WorkloadPlan> = r
            .items
            .iter()
            .enumerate()
            .filter_map(|(j, item)| {
                let plan = item.sized[s].as_ref()?;
                (split[j][s] > 0).then(|| {
                    let mut p = plan.clone();
                    p.replicas = split[j][s];
                    p.decode_tokens_per_s =
                        p.per_replica.decode_tokens_per_s * f64::from(p.replicas);
                    p
                })
            })
            .collect();
        let resolved = Resolved {
            model: shape.model,
            demand: d,
            workloads,
            fleet: None,
            gpus_per_node: Some(shape.gpus),
            efficiency: r.efficiency,
        };
        let (gpus, layouts, demand, spare, optimal, throughput) = if d.iter().all(|&n| n == 0) {
            (0, Vec::new(), ProfileCounts::default(), ProfileCounts::default(), true, Vec::new())
        } else {
            let p = super::plan(&resolved, stop);
            (p.gpus, p.layouts, p.demand, p.spare, p.optimal, p.throughput)
        };
        let nodes = gpus.div_ceil(shape.gpus);
        shapes.push(ShapePlan {
            name: shape.name.clone(),
            model: shape.model,
            gpus_per_node: shape.gpus,
            cost_per_node: shape.cost,
            nodes,
            gpus,
            cost: f64::from(nodes) * shape.cost,
            layouts,
            demand,
            spare,
            throughput,
            gpus_optimal: optimal,
        });
    }
    let cost: f64 = shapes.iter().map(|s| s.cost).sum();
    let mut assumptions = Vec::new();
    let mut seen: Vec<GpuModel> = Vec::new();
    for s in &shapes {
        if !s.throughput.is_empty() && !seen.contains(&s.model) {
            seen.push(s.model);
            for a in throughput::assumptions(s.model, r.efficiency) {
                assumptions.push(format!("{}: {a}", s.model.spec().display_name));
            }
        }
    }
    let lower_bound = lower_bound.min(cost);
    ShapesPlan {
        cost,
        lower_bound,
        optimal: (exhausted || cost <= lower_bound + TOL * cost.max(1.0))
            && shapes.iter().all(|s| s.gpus_optimal),
        nodes: shapes.iter().map(|s| s.nodes).sum(),
        gpus: shapes.iter().map(|s| s.gpus).sum(),
        split: r
            .items
            .iter()
            .enumerate()
            .map(|(j, item)| ItemSplit {
                name: item.name.clone(),
                per_shape: split[j].clone(),
            })
            .collect(),
        shapes,
        single_shape,
        assumptions,
        explored,
        solve_ms: 0.0,
    }
}

/// The cheapest cost by brute force, for tests: every split of every item between the shapes where it
/// fits, each shape's share planned exactly by the single-model solver.
#[cfg(test)]
pub(crate) fn brute_force_cost(r: &ResolvedShapes) -> Option<f64> {
    let mut exact = Exact {
        cols: ShapeCols::default(),
        memo: HashMap::new(),
    };
    let options: Vec<Vec<Vec<u32>>> = r
        .items
        .iter()
        .map(|item| {
            let mut out = Vec::new();
            let mut cur = vec![0u32; r.shapes.len()];
            fn walk(item: &Item, s: usize, cur: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
                if s == cur.len() {
                    let got: f64 = (0..cur.len())
                        .filter_map(|t| item.needs[t].map(|n| n.per * f64::from(cur[t])))
                        .sum();
                    if got >= item.target - 1e-9 {
                        out.push(cur.clone());
                    }
                    return;
                }
                let max = item.needs[s].map_or(0, |n| replicas_for(item.target, n.per));
                for v in 0..=max {
                    cur[s] = v;
                    walk(item, s + 1, cur, out);
                }
                cur[s] = 0;
            }
            walk(item, 0, &mut cur, &mut out);
            out
        })
        .collect();
    let mut best: Option<f64> = None;
    let mut pick = vec![0usize; options.len()];
    loop {
        let split: Split = pick.iter().zip(&options).map(|(&i, o)| o[i].clone()).collect();
        let (cost, _) = split_cost(r, &split, &mut exact, &mut || false);
        if best.is_none_or(|b| cost < b) {
            best = Some(cost);
        }
        let mut i = 0;
        loop {
            if i == pick.len() {
                return best;
            }
            pick[i] += 1;
            if pick[i] < options[i].len() {
                break;
            }
            pick[i] = 0;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::RawWorkload;
    use std::collections::BTreeMap;

    fn shape_in(name: &str, cost: f64) -> ShapeInput {
        ShapeInput {
            name: name.into(),
            cost,
            ..ShapeInput::default()
        }
    }

    fn req(shapes: Vec<ShapeInput>, demand: &[(&str, i64)]) -> PlanRequest {
        PlanRequest {
            shapes,
            demand: demand.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            ..PlanRequest::default()
        }
    }

    /// Every item reached, every shape's layouts cover its share, nodes hold the GPUs, and the cost
    /// adds up.
    fn assert_serves(r: &ResolvedShapes, p: &ShapesPlan) {
        for (j, item) in r.items.iter().enumerate() {
            let got: f64 = (0..r.shapes.len())
                .filter_map(|s| item.needs[s].map(|n| n.per * f64::from(p.split[j].per_shape[s])))
                .sum();
            assert!(got >= item.target - 1e-9, "{} gets {got} of {}", item.name, item.target);
            for s in 0..r.shapes.len() {
                if item.needs[s].is_none() {
                    assert_eq!(p.split[j].per_shape[s], 0, "{} placed where it fits no profile", item.name);
                }
            }
        }
        let mut cost = 0.0;
        for (s, sp) in p.shapes.iter().enumerate() {
            let split: Split = p.split.iter().map(|i| i.per_shape.clone()).collect();
            let d = shape_demand(r, &split, s);
            let mut supplied = [0u32; K];
            for g in &sp.layouts {
                let layout = crate::layout::Layout::new(sp.model, &g.instances).expect("valid layout");
                for i in layout.instances() {
                    supplied[i.profile.kind as usize] += g.count;
                }
            }
            assert!((0..K).all(|k| supplied[k] >= d[k]), "{} short: {supplied:?} < {d:?}", sp.name);
            assert_eq!(sp.gpus, sp.layouts.iter().map(|g| g.count).sum::<u32>());
            assert!(sp.nodes * sp.gpus_per_node >= sp.gpus);
            assert!(sp.nodes == 0 || (sp.nodes - 1) * sp.gpus_per_node < sp.gpus, "an empty node");
            cost += sp.cost;
        }
        assert!((cost - p.cost).abs() < 1e-9);
        assert!(p.lower_bound <= p.cost + 1e-9);
    }

    fn solve(r: &ResolvedShapes) -> ShapesPlan {
        plan_shapes(r, &mut || false)
    }

    #[test]
    fn a_cheaper_shape_takes_what_it_can_and_the_rest_goes_where_it_fits() {
        // 1g.20gb exists on H100 and A100 80GB, not on A100 40GB; 1g.5gb only on A100 40GB.
        let r = req(
            vec![shape_in("BM.GPU.H100.8", 10.0), shape_in("BM.GPU4.8", 3.0)],
            &[("1g.20gb", 40), ("1g.5gb", 56)],
        )
        .resolve_shapes()
        .expect("valid");
        let p = solve(&r);
        assert_serves(&r, &p);
        assert!(p.optimal);
        // 40 × 1g.20gb = 10 H100 GPUs = 2 nodes; 56 × 1g.5gb = 8 A100 GPUs = 1 node.
        assert_eq!(p.shapes[0].nodes, 2);
        assert_eq!(p.shapes[1].nodes, 1);
        assert!((p.cost - 23.0).abs() < 1e-9);
        assert!(p.single_shape.iter().all(|s| s.cannot.is_some()), "{:?}", p.single_shape);
    }

    #[test]
    fn mixing_shapes_beats_every_single_shape_when_node_rounding_says_so() {
        // 18 × 3g.40gb = 9 GPUs. Alone: 2 A100 nodes (14), 2 H100 nodes (20), 5 two-GPU boxes (15).
        // Mixed: one A100 node of 8 GPUs and one two-GPU box for the ninth (7 + 3 = 10).
        let small = ShapeInput {
            name: "h100-2x".into(),
            model: Some("h100-80gb".into()),
            gpus_per_node: Some(2),
            cost: 3.0,
        };
        let r = req(
            vec![
                shape_in("BM.GPU.H100.8", 10.0),
                shape_in("BM.GPU.A100-v2.8", 7.0),
                small,
            ],
            &[("3g.40gb", 18)],
        )
        .resolve_shapes()
        .expect("valid");
        let p = solve(&r);
        assert_serves(&r, &p);
        assert!(p.optimal);
        assert!((p.cost - 10.0).abs() < 1e-9, "{}", p.cost);
        assert_eq!(
            p.shapes.iter().map(|s| s.nodes).collect::<Vec<_>>(),
            vec![0, 1, 1]
        );
        let brute = brute_force_cost(&r).expect("an answer");
        assert!((p.cost - brute).abs() < 1e-9, "{} vs brute force {brute}", p.cost);
        let alone: Vec<Option<f64>> = p.single_shape.iter().map(|s| s.cost).collect();
        assert_eq!(alone, vec![Some(20.0), Some(14.0), Some(15.0)]);
    }

    /// SplitMix64.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn small_random_mixes_cost_what_a_brute_force_over_every_split_finds() {
        let shapes = ["BM.GPU.H100.8", "BM.GPU.A100-v2.8", "BM.GPU4.8", "BM.GPU.H200.8"];
        let profiles = ["1g.10gb", "2g.20gb", "3g.40gb", "1g.5gb", "2g.10gb", "1g.18gb", "4g.40gb"];
        let mut next = rng(17);
        let mut checked = 0;
        let mut mixed = 0;
        for _ in 0..60 {
            let n_shapes = 2 + (next() % 2) as usize;
            let mut chosen: Vec<ShapeInput> = Vec::new();
            while chosen.len() < n_shapes {
                let name = shapes[(next() % shapes.len() as u64) as usize];
                if chosen.iter().all(|c| c.name != name) {
                    chosen.push(shape_in(name, 1.0 + (next() % 20) as f64 / 2.0));
                }
            }
            let mut demand = BTreeMap::new();
            for _ in 0..(1 + next() % 2) {
                let p = profiles[(next() % profiles.len() as u64) as usize];
                demand.insert(p.to_owned(), 1 + (next() % 12) as i64);
            }
            let request = PlanRequest {
                shapes: chosen,
                demand,
                ..PlanRequest::default()
            };
            let Ok(mut r) = request.resolve_shapes() else {
                continue; // a profile no chosen shape has
            };
            // Small nodes (1 to 3 GPUs) make node rounding, and so the split, matter.
            for s in &mut r.shapes {
                s.gpus = 1 + (next() % 3) as u32;
            }
            let p = solve(&r);
            if p.shapes.iter().filter(|s| s.nodes > 0).count() > 1 {
                mixed += 1;
            }
            assert_serves(&r, &p);
            assert!(p.optimal, "{request:?}");
            let brute = brute_force_cost(&r).expect("an answer");
            assert!(
                (p.cost - brute).abs() < 1e-9,
                "{request:?}: {} vs brute force {brute}",
                p.cost
            );
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} mixes were valid");
        assert!(mixed >= 5, "only {mixed} answers use more than one shape: the test would not see a wrong split");
    }

    #[test]
    fn a_throughput_target_counts_each_shapes_replicas_at_their_own_speed() {
        let w = RawWorkload {
            name: "chat".into(),
            model: Some("Llama-3.1-8B".into()),
            tokens_per_second: Some(3000.0),
            ..RawWorkload::default()
        };
        let request = PlanRequest {
            shapes: vec![shape_in("BM.GPU.H100.8", 10.0), shape_in("BM.GPU.A100-v2.8", 6.0)],
            workloads: vec![w],
            ..PlanRequest::default()
        };
        let r = request.resolve_shapes().expect("valid");
        let p = solve(&r);
        assert_serves(&r, &p);
        assert!(p.optimal);
        let brute = brute_force_cost(&r).expect("an answer");
        assert!((p.cost - brute).abs() < 1e-9, "{} vs {brute}", p.cost);
        // The replicas on each shape serve at that shape's speed, and add up to the target.
        let served: f64 = p
            .shapes
            .iter()
            .flat_map(|s| s.throughput.iter())
            .map(|t| t.decode_tokens_per_s)
            .sum();
        assert!(served >= 3000.0 - 1e-6, "{served}");
        let h100 = &r.items[0].needs[0].expect("fits").per;
        let a100 = &r.items[0].needs[1].expect("fits").per;
        assert!(h100 > a100, "an H100 slice decodes faster ({h100} vs {a100})");
    }

    #[test]
    fn bad_shapes_are_named_at_their_pointer() {
        let mut r = req(
            vec![
                shape_in("BM.GPU.H100.8", 0.0),
                shape_in("my-box", 1.0),
                ShapeInput {
                    name: "BM.GPU4.8".into(),
                    model: Some("h100-80gb".into()),
                    cost: 1.0,
                    ..ShapeInput::default()
                },
                ShapeInput {
                    name: "dgx".into(),
                    model: Some("h100-80gb".into()),
                    gpus_per_node: Some(0),
                    cost: 1.0,
                },
            ],
            &[("1g.10gb", 7)],
        );
        r.model = "h100-80gb".into();
        r.gpus_per_node = Some(8);
        let issues = r.resolve_shapes().expect_err("invalid");
        let at: Vec<(&str, &str)> = issues.iter().map(|i| (i.code.as_str(), i.path.as_str())).collect();
        for expected in [
            ("plan_model_and_shapes", "/model"),
            ("plan_gpus_per_node", "/gpus_per_node"),
            ("plan_shape_cost", "/shapes/0/cost"),
            ("plan_shape_unknown", "/shapes/1/name"),
            ("plan_shape_model", "/shapes/2/model"),
            ("plan_gpus_per_node", "/shapes/3/gpus_per_node"),
        ] {
            assert!(at.contains(&expected), "{expected:?} missing from {at:?}");
        }
        let twice = req(
            vec![shape_in("BM.GPU.H100.8", 1.0), shape_in("BM.GPU.H100.8", 2.0)],
            &[("1g.10gb", 7)],
        )
        .resolve_shapes()
        .expect_err("twice");
        assert_eq!(twice[0].path, "/shapes/1/name");
        let nowhere = req(vec![shape_in("BM.GPU4.8", 1.0)], &[("1g.20gb", 7)])
            .resolve_shapes()
            .expect_err("no shape has it");
        assert_eq!(nowhere[0].path, "/demand/1g.20gb");
        assert!(nowhere[0].hint.contains("1g.5gb"), "{}", nowhere[0].hint);
        let mut with_fleet = req(vec![shape_in("BM.GPU.H100.8", 1.0)], &[("1g.10gb", 7)]);
        with_fleet.fleet = Some(crate::capacity::FleetInput::Named(crate::capacity::FleetName::Current));
        assert_eq!(with_fleet.resolve_shapes().expect_err("fleet")[0].code, "plan_shapes_fleet");
    }

    #[test]
    fn a_spent_budget_still_answers_with_a_lower_bound() {
        let r = req(
            vec![shape_in("BM.GPU.H100.8", 10.0), shape_in("BM.GPU.A100-v2.8", 7.0)],
            &[("1g.10gb", 300), ("3g.40gb", 41), ("2g.20gb", 77)],
        )
        .resolve_shapes()
        .expect("valid");
        let p = plan_shapes(&r, &mut || true);
        assert_serves(&r, &p);
        assert!(p.lower_bound <= p.cost);
        let full = solve(&r);
        assert!(full.cost <= p.cost + 1e-9);
        assert!(full.lower_bound <= full.cost + 1e-9 && p.lower_bound <= full.cost + 1e-9);
    }
}
