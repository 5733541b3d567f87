//! `/capacity`: the fleet planner. Enter workloads (or instances per profile), read the fewest GPUs
//! that serve them — proven optimal, with the lower bound — cut how, what it saves over the OCI guide's
//! one-config-per-pool and over first-fit-decreasing, and each workload's throughput with its assumptions.
//! The answer is computed in the browser by `mig::capacity`, the same code the REST API runs; the URL
//! carries the request, so a shared link re-solves on load. Layouts can be saved as custom configs
//! (operators) and written out as one `shared_node_pool` blueprint per layout. Against the live fleet
//! ("Plan against the live fleet"), the answer keeps the GPUs that already serve, lists every GPU it
//! recuts, and "Apply to the fleet" carries it out (the server re-plans, saves a config per node and
//! submits one update per node; then the page follows the updates and re-reads the fleet).
//! "Compare node shapes" plans over several shapes, each with a relative cost per node, instead of one
//! model: the cheapest mix of nodes, what each shape serves, and what each shape alone would cost.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::GpuModel;
use mig::blueprint::Issue;
use mig::capacity::apply::{ApplyOutcome, ApplyRequest, NodeOutcome, fleet_gpus, planned_changes};
use mig::capacity::shapes::{ShapeInput, ShapesPlan, plan_shapes};
use mig::capacity::{FleetInput, FleetName, FleetPlan, PlanRequest, RawWorkload, plan};
use mig::layout::InstanceSpec;
use mig::sizing::{CATALOGUE, Precision};

use super::PageHeader;
use super::plan::kind_class;
use crate::api::capacity::apply_fleet_plan;
use crate::api::configs::{Saved, save_config};
use crate::api::fleet::get_fleet;

/// Route data for `/capacity`.
pub struct CapacityRoute;

#[lazy_route]
impl LazyRoute for CapacityRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let CapacityRoute = this;
        view! { <CapacityPage /> }.into_any()
    }
}

/// Milliseconds on a monotonic clock where there is one (the browser's `performance.now()`).
fn clock_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        window().performance().map_or(0.0, |p| p.now())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// The example mix the empty page offers: five inference workloads of a platform team.
fn example() -> PlanRequest {
    let w = |name: &str,
             model: &str,
             precision: Precision,
             context: u32,
             concurrency: u32,
             replicas: Option<u32>,
             tps: Option<f64>| RawWorkload {
        name: name.into(),
        model: Some(model.into()),
        precision: Some(precision),
        context_tokens: Some(context),
        concurrency: Some(concurrency),
        replicas,
        tokens_per_second: tps,
        ..RawWorkload::default()
    };
    PlanRequest {
        model: GpuModel::H100_80GB.id().into(),
        workloads: vec![
            w(
                "support-chat",
                "Llama-3.1-8B",
                Precision::Bf16,
                4096,
                8,
                None,
                Some(20_000.0),
            ),
            w(
                "code-assist",
                "Qwen2.5-7B",
                Precision::Fp8,
                8192,
                4,
                Some(24),
                None,
            ),
            w(
                "summarise",
                "Mistral-7B-v0.3",
                Precision::Bf16,
                4096,
                1,
                Some(30),
                None,
            ),
            w(
                "classify",
                "Llama-3.2-1B",
                Precision::Bf16,
                2048,
                1,
                Some(60),
                None,
            ),
            w(
                "embed",
                "Llama-3.2-3B",
                Precision::Int8,
                1024,
                1,
                Some(40),
                None,
            ),
        ],
        gpus_per_node: Some(8),
        ..PlanRequest::default()
    }
}

/// One workload row: a stable key and its own signal, so typing in a row re-renders nothing else.
type Row = (u32, RwSignal<RawWorkload>);

#[derive(Clone, Copy)]
struct Form {
    model: RwSignal<String>,
    gpus_per_node: RwSignal<u32>,
    efficiency: RwSignal<f64>,
    demand: RwSignal<BTreeMap<String, i64>>,
    rows: RwSignal<Vec<Row>>,
    next: RwSignal<u32>,
    /// `"fleet"` of the request: the live fleet (`"current"`), GPUs pasted as JSON, or none.
    fleet: RwSignal<Option<FleetInput>>,
    /// Node shapes to compare (none: plan one model).
    shapes: RwSignal<Vec<ShapeInput>>,
}

impl Form {
    fn new(req: &PlanRequest) -> Self {
        let f = Self {
            model: RwSignal::new(String::new()),
            gpus_per_node: RwSignal::new(8),
            efficiency: RwSignal::new(mig::capacity::DEFAULT_EFFICIENCY),
            demand: RwSignal::new(BTreeMap::new()),
            rows: RwSignal::new(Vec::new()),
            next: RwSignal::new(0),
            fleet: RwSignal::new(None),
            shapes: RwSignal::new(Vec::new()),
        };
        f.load(req);
        f
    }

    fn load(self, req: &PlanRequest) {
        self.model.set(if req.model.is_empty() {
            GpuModel::H100_80GB.id().into()
        } else {
            req.model.clone()
        });
        self.gpus_per_node.set(req.gpus_per_node.unwrap_or(8));
        self.efficiency
            .set(req.efficiency.unwrap_or(mig::capacity::DEFAULT_EFFICIENCY));
        self.demand.set(req.demand.clone());
        self.fleet.set(req.fleet.clone());
        self.shapes.set(req.shapes.clone());
        let rows = req
            .workloads
            .iter()
            .map(|w| {
                let id = self.next.get_untracked();
                self.next.set(id + 1);
                (id, RwSignal::new(w.clone()))
            })
            .collect();
        self.rows.set(rows);
    }

    fn request(self) -> PlanRequest {
        let efficiency = self.efficiency.get();
        let shapes = self.shapes.get();
        let by_shape = !shapes.is_empty();
        PlanRequest {
            model: if by_shape { String::new() } else { self.model.get() },
            shapes,
            demand: self
                .demand
                .get()
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .collect(),
            workloads: self
                .rows
                .with(|rows| rows.iter().map(|(_, w)| w.get()).collect()),
            fleet: if by_shape { None } else { self.fleet.get() },
            gpus_per_node: (!by_shape).then(|| self.gpus_per_node.get()),
            efficiency: ((efficiency - mig::capacity::DEFAULT_EFFICIENCY).abs() > 1e-9)
                .then_some(efficiency),
            time_budget_ms: None,
        }
    }

    /// The chosen model's profile names (none while the model is unknown); comparing shapes, every
    /// profile one of their models has.
    fn profile_names(self) -> Vec<&'static str> {
        let shapes = self.shapes.get();
        if shapes.is_empty() {
            return self
                .model
                .get()
                .parse::<GpuModel>()
                .map(|m| m.profile_names())
                .unwrap_or_default();
        }
        let mut names: Vec<&'static str> = Vec::new();
        for m in shapes.iter().filter_map(shape_model) {
            for p in m.profile_names() {
                if !names.contains(&p) {
                    names.push(p);
                }
            }
        }
        names
    }

    fn by_shape(self) -> bool {
        self.shapes.with(|s| !s.is_empty())
    }

    fn live(self) -> bool {
        self.fleet
            .with(|f| matches!(f, Some(FleetInput::Named(FleetName::Current))))
    }

    fn add(self) {
        let id = self.next.get_untracked();
        self.next.set(id + 1);
        let n = self.rows.with_untracked(Vec::len) + 1;
        self.rows.update(|rows| {
            rows.push((
                id,
                RwSignal::new(RawWorkload {
                    name: format!("workload-{n}"),
                    model: Some("Llama-3.1-8B".into()),
                    replicas: Some(1),
                    ..RawWorkload::default()
                }),
            ));
        });
    }
}

/// A shape's GPU model: the one given, else OCI's shape's.
fn shape_model(s: &ShapeInput) -> Option<GpuModel> {
    match &s.model {
        Some(m) => m.parse().ok(),
        None => mig::shape::shape(s.name.trim()).map(|k| k.model),
    }
}

/// The shapes "Compare node shapes" starts with: OCI's H100 and A100 80GB nodes at relative costs.
fn default_shapes() -> Vec<ShapeInput> {
    vec![
        ShapeInput {
            name: "BM.GPU.H100.8".into(),
            cost: 10.0,
            ..ShapeInput::default()
        },
        ShapeInput {
            name: "BM.GPU.A100-v2.8".into(),
            cost: 6.0,
            ..ShapeInput::default()
        },
    ]
}

fn opt_num<T: std::str::FromStr>(text: &str) -> Option<T> {
    let t = text.trim();
    if t.is_empty() { None } else { t.parse().ok() }
}

/// Planning against the live fleet: the fleet as last read and what applying did. Page-level, so the
/// answer re-rendering (on every re-read) loses none of it, and the task following an apply only
/// touches signals that live as long as the page.
#[derive(Clone, Copy)]
struct Live {
    /// The fleet as last read; `None` while the first read runs.
    fleet: RwSignal<Option<Result<mig::wire::Fleet, String>>>,
    /// What the last "Apply to the fleet" did.
    applied: RwSignal<Option<Result<ApplyOutcome, String>>>,
    /// An apply is in flight or being followed.
    applying: RwSignal<bool>,
}

impl Live {
    /// Reads the fleet (in the background). `clear`: show "reading" until it arrives, rather than
    /// the answer against the fleet as last read.
    fn read(self, clear: bool) {
        if clear {
            self.fleet.set(None);
        }
        leptos::task::spawn_local(async move {
            let read = get_fleet().await.map_err(|e| e.to_string());
            self.fleet.try_set(Some(read));
        });
    }
}

/// What the page shows beside the form.
#[derive(Debug, Clone, PartialEq)]
enum Solved {
    /// Nothing asked for yet.
    Empty,
    /// Planning against the live fleet, which is being read.
    ReadingFleet,
    /// The live fleet could not be read.
    FleetError(String),
    /// The request has issues, each at its JSON pointer.
    Issues(Vec<Issue>),
    /// The answer.
    Plan(FleetPlan),
    /// The answer over node shapes.
    Shapes(ShapesPlan),
}

/// The fleet planner page.
#[component]
pub fn CapacityPage() -> impl IntoView {
    let query = use_query_map();
    let (initial, link_error) = match query.with_untracked(|q| q.get("q")) {
        None => (
            PlanRequest {
                model: GpuModel::H100_80GB.id().into(),
                gpus_per_node: Some(8),
                ..PlanRequest::default()
            },
            None,
        ),
        Some(text) => match serde_json::from_str::<PlanRequest>(&text) {
            Ok(r) => (r, None),
            Err(e) => (
                PlanRequest {
                    model: GpuModel::H100_80GB.id().into(),
                    ..PlanRequest::default()
                },
                Some(format!(
                    "The link's plan request could not be read ({e}); starting empty."
                )),
            ),
        },
    };
    let form = Form::new(&initial);
    let request = Memo::new(move |_| form.request());
    // The live fleet, read when the request plans against it (in the browser: on the server the page
    // says it is reading, and hydration reads it).
    let live = Live {
        fleet: RwSignal::new(None),
        applied: RwSignal::new(None),
        applying: RwSignal::new(false),
    };
    let fleet_now = live.fleet;
    let read_fleet = move || live.read(true);
    Effect::new(move |_| {
        if form.live() {
            live.read(true);
        }
    });
    // Solved on every change: well under a millisecond for hundreds of GPUs, with a 1 s budget.
    let answer = Memo::new(move |_| {
        let mut req = request.get();
        let has_input = !req.workloads.is_empty() || req.demand.values().any(|n| *n != 0);
        if !has_input {
            return Solved::Empty;
        }
        if !req.shapes.is_empty() {
            return match req.resolve_shapes() {
                Err(issues) => Solved::Issues(issues),
                Ok(resolved) => {
                    let start = clock_ms();
                    let budget = f64::from(req.budget_ms());
                    let mut p = plan_shapes(&resolved, &mut || clock_ms() - start > budget);
                    p.solve_ms = clock_ms() - start;
                    Solved::Shapes(p)
                }
            };
        }
        if matches!(req.fleet, Some(FleetInput::Named(FleetName::Current))) {
            let model = req.model.parse::<GpuModel>().ok();
            match (fleet_now.get(), model) {
                (_, None) => req.fleet = None,
                (None, _) => return Solved::ReadingFleet,
                (Some(Err(e)), _) => return Solved::FleetError(e),
                (Some(Ok(f)), Some(m)) => req.fleet = Some(FleetInput::Gpus(fleet_gpus(&f, m))),
            }
        }
        match req.resolve() {
            Err(issues) => Solved::Issues(issues),
            Ok(resolved) => {
                let start = clock_ms();
                let budget = f64::from(req.budget_ms());
                let mut p = plan(&resolved, &mut || clock_ms() - start > budget);
                p.solve_ms = clock_ms() - start;
                Solved::Plan(p)
            }
        }
    });
    Effect::watch(
        move || request.get(),
        move |req, _, _| {
            let json = serde_json::to_string(req).unwrap_or_default();
            super::replace_url(&format!(
                "/capacity?q={}",
                mig::planner::encode_component(&json)
            ));
        },
        false,
    );
    let link = move || {
        let json = serde_json::to_string(&request.get()).unwrap_or_default();
        format!("/capacity?q={}", mig::planner::encode_component(&json))
    };

    view! {
        <Title text="Capacity" />
        <PageHeader
            title="Capacity"
            subtitle="The fewest GPUs for your workloads, cut how — proven optimal — and what that saves over one named config per pool."
        />
        {link_error.map(|e| view! { <p class="banner banner-error" role="alert" id="link-error">{e}</p> })}
        <div class="capacity">
            <section class="card" aria-labelledby="workloads-title">
                <div class="card-head">
                    <h2 id="workloads-title">"Workloads"</h2>
                    <a class="btn btn-ghost" id="capacity-link" href=link title="This page with this plan: send it, it re-solves on load">"Link to this plan"</a>
                </div>
                <label class="check" id="shapes-toggle">
                    <input type="checkbox" id="compare-shapes" prop:checked=move || form.by_shape()
                        on:change=move |ev| form.shapes.set(if event_target_checked(&ev) { default_shapes() } else { Vec::new() }) />
                    <span>"Compare node shapes, each with its cost per node: the cheapest mix"</span>
                </label>
                <Show when=move || form.by_shape()>
                    <ShapesTable form />
                </Show>
                <div class="form-grid capacity-settings">
                    <label class="field" class:hidden=move || form.by_shape()>
                        <span>"GPU model"</span>
                        <select id="capacity-model" prop:value=move || form.model.get() on:change=move |ev| form.model.set(event_target_value(&ev))>
                            {GpuModel::all().map(|m| view! { <option value=m.id()>{m.spec().display_name}</option> }).collect_view()}
                        </select>
                    </label>
                    <label class="field" class:hidden=move || form.by_shape()>
                        <span>"GPUs per node"</span>
                        <input id="gpus-per-node" type="number" min="1" max="64" prop:value=move || form.gpus_per_node.get().to_string()
                            on:input=move |ev| { if let Some(n) = opt_num::<u32>(&event_target_value(&ev)).filter(|n| *n > 0) { form.gpus_per_node.set(n) } } />
                    </label>
                    <label class="field">
                        <span>"Efficiency"</span>
                        <input id="efficiency" type="number" min="0.05" max="1" step="0.05" prop:value=move || form.efficiency.get().to_string()
                            on:input=move |ev| { if let Some(n) = opt_num::<f64>(&event_target_value(&ev)) { form.efficiency.set(n) } } />
                    </label>
                </div>
                <label class="check" id="live-toggle" class:hidden=move || form.by_shape()>
                    <input type="checkbox" id="against-fleet" prop:checked=move || form.live()
                        on:change=move |ev| { live.applied.set(None); form.fleet.set(event_target_checked(&ev).then_some(FleetInput::Named(FleetName::Current))); } />
                    <span>"Plan against the live fleet: keep the GPUs that already serve, recut as few as possible, then apply"</span>
                </label>
                <WorkloadTable form />
                <div class="row-actions">
                    <button class="btn" id="add-workload" on:click=move |_| form.add()>"Add workload"</button>
                    <button class="btn btn-ghost" id="load-example" on:click=move |_| form.load(&example())>"Load an example mix"</button>
                    <button class="btn btn-ghost" id="clear-workloads" on:click=move |_| { form.rows.set(Vec::new()); form.demand.set(BTreeMap::new()); }>"Clear"</button>
                </div>
                <DemandInputs form />
                <PasteJson form />
            </section>
            {move || match answer.get() {
                Solved::Empty => view! {
                    <section class="empty-state" id="capacity-empty">
                        <h2>"Nothing to plan yet"</h2>
                        <p>"Add the models you serve — with replicas or a target tokens/s — or instances per profile. The answer appears here as you type: GPUs, layouts, the saving, and each workload's throughput."</p>
                        <p><button class="btn" on:click=move |_| form.load(&example())>"Try an example mix of five workloads"</button></p>
                    </section>
                }.into_any(),
                Solved::Issues(issues) => view! {
                    <section class="card" id="plan-issues" role="alert">
                        <div class="card-head"><h2>"Fix these to plan"</h2></div>
                        <ul class="issues">
                            {issues.into_iter().map(|i| view! {
                                <li class="error"><code>{if i.path.is_empty() { "/".to_owned() } else { i.path.clone() }}</code> " " {i.message.clone()} <span class="hint">{format!(" — {}", i.hint)}</span></li>
                            }).collect_view()}
                        </ul>
                    </section>
                }.into_any(),
                Solved::ReadingFleet => view! {
                    <section class="card" id="fleet-reading" role="status"><p class="muted">"Reading the live fleet…"</p></section>
                }.into_any(),
                Solved::FleetError(e) => view! {
                    <section class="card" id="fleet-error" role="alert">
                        <p class="error">{format!("The live fleet could not be read: {e}")}</p>
                        <button class="btn" on:click=move |_| read_fleet()>"Try again"</button>
                    </section>
                }.into_any(),
                Solved::Shapes(p) => view! { <ShapesAnswer p /> }.into_any(),
                Solved::Plan(p) => {
                    let live_plan = p.fleet.is_some() && form.live();
                    view! {
                        <Answer p=p.clone() />
                        {live_plan.then(|| view! { <FleetChanges p request live /> })}
                    }.into_any()
                }
            }}
        </div>
    }
}

/// The node shapes to compare: OCI's by name (model and GPUs known) or your own, each with its cost.
#[component]
fn ShapesTable(form: Form) -> impl IntoView {
    let set = move |i: usize, f: Box<dyn FnOnce(&mut ShapeInput)>| {
        form.shapes.update(|s| {
            if let Some(x) = s.get_mut(i) {
                f(x);
            }
        });
    };
    let rows = move || {
        form.shapes.get().into_iter().enumerate().map(|(i, sh)| {
            let known = mig::shape::shape(sh.name.trim());
            let gpus_hint = known.map_or_else(|| "8".to_owned(), |k| k.gpus.to_string());
            view! {
                <tr class="shape" data-shape=i>
                    <td><input class="s-name" type="text" list="oci-shapes" aria-label="Shape name" prop:value=sh.name.clone()
                        on:change=move |ev| { let v = event_target_value(&ev); set(i, Box::new(move |x| x.name = v)); } /></td>
                    <td>
                        <select class="s-model" aria-label="GPU model" prop:value=sh.model.clone().unwrap_or_default()
                            on:change=move |ev| { let v = event_target_value(&ev); set(i, Box::new(move |x| x.model = (!v.is_empty()).then_some(v))); }>
                            <option value="">{known.map_or_else(|| "choose a model".to_owned(), |k| format!("{} (the shape's)", k.model.spec().display_name))}</option>
                            {GpuModel::all().map(|m| view! { <option value=m.id()>{m.spec().display_name}</option> }).collect_view()}
                        </select>
                    </td>
                    <td><input class="s-gpus" type="number" min="1" max="16" aria-label="GPUs per node" placeholder=gpus_hint
                        prop:value=sh.gpus_per_node.map(|n| n.to_string()).unwrap_or_default()
                        on:change=move |ev| { let v = opt_num::<u32>(&event_target_value(&ev)); set(i, Box::new(move |x| x.gpus_per_node = v)); } /></td>
                    <td><input class="s-cost" type="number" min="0" step="0.1" aria-label="Cost per node" prop:value=sh.cost.to_string()
                        on:change=move |ev| { let v = opt_num::<f64>(&event_target_value(&ev)).unwrap_or(0.0); set(i, Box::new(move |x| x.cost = v)); } /></td>
                    <td><button class="btn btn-ghost s-remove" aria-label="Remove this shape" on:click=move |_| form.shapes.update(|s| { s.remove(i); })>"×"</button></td>
                </tr>
            }
        }).collect_view()
    };
    view! {
        <div class="table-wrap">
            <table class="workloads" id="shapes">
                <thead>
                    <tr>
                        <th scope="col">"Shape"</th>
                        <th scope="col">"GPU model"</th>
                        <th scope="col">"GPUs per node"</th>
                        <th scope="col">"Cost per node"</th>
                        <th scope="col"><span class="sr-only">"Remove"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <datalist id="oci-shapes">
                {mig::shape::SHAPES.iter().map(|s| view! { <option value=s.name>{format!("{} × {}", s.gpus, s.model.spec().display_name)}</option> }).collect_view()}
            </datalist>
        </div>
        <div class="row-actions">
            <button class="btn" id="add-shape" disabled=move || form.shapes.with(|s| s.len() >= mig::capacity::shapes::MAX_SHAPES)
                on:click=move |_| form.shapes.update(|s| {
                    let name = mig::shape::SHAPES.iter().map(|k| k.name).find(|n| s.iter().all(|x| x.name != *n)).unwrap_or("my-node");
                    s.push(ShapeInput { name: name.into(), cost: 1.0, ..ShapeInput::default() });
                })>"Add shape"</button>
            <span class="muted">"Costs are relative: a price per hour, or any unit all shapes share."</span>
        </div>
    }
}

#[component]
fn WorkloadTable(form: Form) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="workloads" id="workloads">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Model"</th>
                        <th scope="col">"Precision"</th>
                        <th scope="col">"Context"</th>
                        <th scope="col">"Concurrency"</th>
                        <th scope="col">"Replicas"</th>
                        <th scope="col">"or tokens/s"</th>
                        <th scope="col">"Profile"</th>
                        <th scope="col"><span class="sr-only">"Remove"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || form.rows.get() key=|(id, _)| *id let:row>
                        <WorkloadRow form id=row.0 w=row.1 />
                    </For>
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn WorkloadRow(form: Form, id: u32, w: RwSignal<RawWorkload>) -> impl IntoView {
    let precisions = [
        (Precision::Bf16, "bf16"),
        (Precision::Fp16, "fp16"),
        (Precision::Fp8, "fp8"),
        (Precision::Int8, "int8"),
        (Precision::Int4, "int4"),
        (Precision::Fp32, "fp32"),
    ];
    let profiles = move || form.profile_names();
    let num = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    view! {
        <tr class="workload" data-row=id>
            <td><input class="w-name" type="text" aria-label="Workload name" prop:value=move || w.with(|w| w.name.clone())
                on:input=move |ev| w.update(|w| w.name = event_target_value(&ev)) /></td>
            <td>
                <select class="w-model" aria-label="Model" prop:value=move || w.with(|w| w.model.clone().unwrap_or_default())
                    on:change=move |ev| w.update(|w| w.model = Some(event_target_value(&ev)))>
                    {CATALOGUE.iter().map(|m| view! { <option value=m.name>{format!("{} ({} B)", m.name, m.params_billion)}</option> }).collect_view()}
                </select>
            </td>
            <td>
                <select class="w-precision" aria-label="Precision" prop:value=move || w.with(|w| precisions.iter().find(|(p, _)| Some(*p) == w.precision).map_or("bf16", |(_, n)| n).to_owned())
                    on:change=move |ev| { let v = event_target_value(&ev); w.update(|w| w.precision = precisions.iter().find(|(_, n)| *n == v).map(|(p, _)| *p)); }>
                    {precisions.iter().map(|(_, n)| view! { <option value=*n>{*n}</option> }).collect_view()}
                </select>
            </td>
            <td><input class="w-context" type="number" min="1" placeholder="4096" aria-label="Context tokens" prop:value=move || num(w.with(|w| w.context_tokens))
                on:input=move |ev| w.update(|w| w.context_tokens = opt_num(&event_target_value(&ev))) /></td>
            <td><input class="w-concurrency" type="number" min="1" placeholder="1" aria-label="Concurrent sequences per replica" prop:value=move || num(w.with(|w| w.concurrency))
                on:input=move |ev| w.update(|w| w.concurrency = opt_num(&event_target_value(&ev))) /></td>
            <td><input class="w-replicas" type="number" min="1" aria-label="Replicas" prop:value=move || num(w.with(|w| w.replicas))
                on:input=move |ev| w.update(|w| w.replicas = opt_num(&event_target_value(&ev))) /></td>
            <td><input class="w-tps" type="number" min="1" aria-label="Target decode tokens per second" prop:value=move || w.with(|w| w.tokens_per_second.map(|t| t.to_string()).unwrap_or_default())
                on:input=move |ev| w.update(|w| { w.tokens_per_second = opt_num(&event_target_value(&ev)); if w.tokens_per_second.is_some() { w.replicas = None; } }) /></td>
            <td>
                <select class="w-profile" aria-label="Profile" prop:value=move || w.with(|w| w.profile.clone().unwrap_or_default())
                    on:change=move |ev| { let v = event_target_value(&ev); w.update(|w| w.profile = (!v.is_empty()).then_some(v)); }>
                    <option value="">"smallest that fits"</option>
                    {move || profiles().into_iter().map(|p| view! { <option value=p>{p}</option> }).collect_view()}
                </select>
            </td>
            <td><button class="btn btn-ghost w-remove" aria-label="Remove this workload" on:click=move |_| form.rows.update(|rows| rows.retain(|(i, _)| *i != id))>"×"</button></td>
        </tr>
    }
}

#[component]
fn DemandInputs(form: Form) -> impl IntoView {
    let profiles = move || form.profile_names();
    view! {
        <details class="demand" open=move || form.demand.with(|d| d.values().any(|n| *n != 0))>
            <summary>"Instances per profile (besides the workloads)"</summary>
            <div class="form-grid">
                {move || profiles().into_iter().map(|p| {
                    view! {
                        <label class="field">
                            <span>{p}</span>
                            <input type="number" min="0" id=format!("demand-{}", p.replace('+', "-"))
                                prop:value=move || form.demand.with(|d| d.get(p).map(|n| n.to_string()).unwrap_or_default())
                                on:input=move |ev| {
                                    let v = opt_num::<i64>(&event_target_value(&ev));
                                    form.demand.update(|d| match v { Some(n) => { d.insert(p.to_owned(), n); } None => { d.remove(p); } });
                                } />
                        </label>
                    }
                }).collect_view()}
            </div>
        </details>
    }
}

#[component]
fn PasteJson(form: Form) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let load = move |_| match serde_json::from_str::<PlanRequest>(&text.get_untracked()) {
        Ok(r) => {
            error.set(None);
            form.load(&r);
        }
        Err(e) => error.set(Some(format!(
            "Not a plan request: {e}. It is the JSON POST /api/v1/fleet-plans takes."
        ))),
    };
    view! {
        <details class="paste">
            <summary>"Paste a request (JSON, as POST /api/v1/fleet-plans takes)"</summary>
            <textarea id="request-json" rows="6" spellcheck="false" placeholder=r#"{"model": "h100-80gb", "demand": {"1g.10gb": 59, "3g.40gb": 21}}"#
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            <button class="btn" id="load-json" on:click=load>"Load"</button>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </details>
    }
}

fn pct(saved: u32, of: u32) -> String {
    if of == 0 {
        "0 %".into()
    } else {
        format!("{:.0} %", f64::from(saved) * 100.0 / f64::from(of))
    }
}

#[component]
fn Answer(p: FleetPlan) -> impl IntoView {
    let uniform = p.baselines.uniform_named.gpus;
    let ffd = p.baselines.first_fit_decreasing.gpus;
    let most = uniform.max(ffd).max(p.gpus).max(1);
    let bar = |label: &'static str, id: &'static str, gpus: u32, class: &'static str| {
        view! {
            <div class="cmp-row" id=id>
                <span class="cmp-label">{label}</span>
                <span class=format!("cmp-bar {class}") style:width=format!("{:.1}%", f64::from(gpus) * 100.0 / f64::from(most))></span>
                <span class="cmp-value">{format!("{gpus} GPUs")}</span>
            </div>
        }
    };
    let proof = if p.optimal {
        format!(
            "Proven optimal: no answer uses fewer than {} GPUs.",
            p.lower_bound
        )
    } else {
        format!(
            "Best found in the time budget; no answer uses fewer than {} GPUs (gap {}).",
            p.lower_bound,
            p.gpus - p.lower_bound
        )
    };
    let nodes = p
        .nodes
        .map(|n| format!(" on {n} node(s) of {}", p.gpus_per_node.unwrap_or(8)))
        .unwrap_or_default();
    let configs = p.custom_configs("plan");
    let model = p.model;
    let plan_for_actions = p.clone();
    view! {
        <section class="card capacity-answer" aria-labelledby="answer-title">
            <div class="card-head"><h2 id="answer-title">"Answer"</h2></div>
            <p class="answer-head">
                <strong id="plan-gpus" data-gpus=p.gpus>{format!("{} GPUs", p.gpus)}</strong>
                {nodes}
                <span class="muted" id="solve-ms">{format!(" · solved in {:.1} ms, {} branch-and-bound nodes", p.solve_ms, p.explored)}</span>
            </p>
            <p id="plan-optimal" class:ok-text=p.optimal>{proof}</p>
            <p id="plan-saving">
                {format!(
                    "Saves {} GPUs ({}) over one pool per profile with NVIDIA's all-… configs, and {} over first-fit-decreasing.",
                    uniform.saturating_sub(p.gpus),
                    pct(uniform.saturating_sub(p.gpus), uniform),
                    ffd.saturating_sub(p.gpus)
                )}
            </p>
            <div class="cmp" role="img" aria-label=format!("GPUs needed: this plan {}, first-fit-decreasing {ffd}, one pool per profile {uniform}", p.gpus)>
                {bar("This plan", "cmp-plan", p.gpus, "best")}
                {bar("First-fit-decreasing", "cmp-ffd", ffd, "")}
                {bar("One pool per profile", "cmp-uniform", uniform, "worst")}
            </div>
            <details class="assumptions">
                <summary>"The uniform baseline's pools"</summary>
                <ul>
                    {p.baselines.uniform_named.pools.iter().map(|u| view! { <li><code>{u.config.clone()}</code>{format!(": {} × {} per GPU → {} GPUs", u.profile, u.per_gpu, u.gpus)}</li> }).collect_view()}
                </ul>
            </details>
        </section>
        <section class="card" aria-labelledby="layouts-title">
            <div class="card-head"><h2 id="layouts-title">"Layouts"</h2></div>
            <div class="board" id="plan-layouts">
                {p.layouts.iter().zip(&configs).map(|(g, c)| layout_group(model, g, Some(c.name.clone()))).collect_view()}
            </div>
            {(!p.spare.is_empty()).then(|| view! { <p class="muted" id="plan-spare">{format!("Spare beyond the demand: {}.", p.spare)}</p> })}
        </section>
        {(!p.throughput.is_empty()).then(|| view! { <Throughput p=p.clone() /> })}
        <Actions p=plan_for_actions />
    }
}

/// A cost as people read it: whole numbers without decimals.
fn money(c: f64) -> String {
    if (c - c.round()).abs() < 1e-9 {
        format!("{c:.0}")
    } else {
        format!("{c:.2}")
    }
}

/// The answer over node shapes: the cheapest mix, its proof, each shape alone, the split and the boards.
#[component]
fn ShapesAnswer(p: ShapesPlan) -> impl IntoView {
    let cheapest = p
        .single_shape
        .iter()
        .filter_map(|s| s.cost.map(|c| (s.name.clone(), c)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let most = p
        .single_shape
        .iter()
        .filter_map(|s| s.cost)
        .fold(p.cost, f64::max)
        .max(1e-9);
    let bar = |label: String, cost: f64, class: &'static str| {
        view! {
            <div class="cmp-row">
                <span class="cmp-label">{label}</span>
                <span class=format!("cmp-bar {class}") style:width=format!("{:.1}%", cost * 100.0 / most)></span>
                <span class="cmp-value">{money(cost)}</span>
            </div>
        }
    };
    let proof = if p.optimal {
        format!(
            "Proven optimal: no mix of these shapes serves this for less than {}.",
            money(p.lower_bound)
        )
    } else {
        format!(
            "Best found in the time budget; no mix costs less than {} (gap {:.1} %).",
            money(p.lower_bound),
            (p.cost - p.lower_bound) / p.cost.max(1e-9) * 100.0
        )
    };
    let saving = match &cheapest {
        Some((name, c)) => format!(
            "Saves {} ({:.1} %) over the cheapest single shape, {name} at {}.",
            money(c - p.cost),
            (c - p.cost) / c.max(1e-9) * 100.0,
            money(*c)
        ),
        None => "No single shape serves all of it: the mix is the only answer.".into(),
    };
    let names: Vec<String> = p.shapes.iter().map(|s| s.name.clone()).collect();
    let assumptions = p.assumptions.clone();
    view! {
        <section class="card capacity-answer" aria-labelledby="answer-title" id="shapes-answer">
            <div class="card-head"><h2 id="answer-title">"Answer"</h2></div>
            <p class="answer-head">
                <strong id="shapes-cost" data-cost=money(p.cost)>{format!("cost {}", money(p.cost))}</strong>
                {format!(" · {} node(s), {} GPUs", p.nodes, p.gpus)}
                <span class="muted" id="solve-ms">{format!(" · solved in {:.1} ms, {} branch-and-bound nodes", p.solve_ms, p.explored)}</span>
            </p>
            <p id="plan-optimal" class:ok-text=p.optimal>{proof}</p>
            <p id="plan-saving">{saving}</p>
            <div class="cmp" role="img" aria-label=format!("cost: this mix {}, each shape alone as listed", money(p.cost))>
                {bar("This mix".into(), p.cost, "best")}
                {p.single_shape.iter().filter_map(|s| s.cost.map(|c| bar(format!("{} alone", s.name), c, ""))).collect_view()}
            </div>
            {p.single_shape.iter().filter_map(|s| s.cannot.clone().map(|why| view! { <p class="muted shape-cannot">{format!("{} alone cannot: {why}.", s.name)}</p> })).collect_view()}
            <div class="table-wrap">
                <table class="workloads" id="shapes-result">
                    <thead><tr>
                        <th scope="col">"Shape"</th><th scope="col">"GPU"</th><th scope="col">"Nodes"</th>
                        <th scope="col">"GPUs used"</th><th scope="col">"Cost"</th>
                    </tr></thead>
                    <tbody>
                        {p.shapes.iter().map(|s| view! {
                            <tr data-shape=s.name.clone() data-nodes=s.nodes>
                                <th scope="row">{s.name.clone()}</th>
                                <td>{format!("{} × {}", s.gpus_per_node, s.model.spec().display_name)}</td>
                                <td>{s.nodes}</td>
                                <td>{s.gpus}</td>
                                <td>{format!("{} × {} = {}", s.nodes, money(s.cost_per_node), money(s.cost))}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <h3>"Who serves what"</h3>
            <div class="table-wrap">
                <table class="workloads" id="shapes-split">
                    <thead><tr>
                        <th scope="col">"Profile or workload"</th>
                        {names.iter().map(|n| view! { <th scope="col">{n.clone()}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {p.split.iter().map(|i| view! {
                            <tr>
                                <th scope="row">{i.name.clone()}</th>
                                {i.per_shape.iter().map(|n| view! { <td>{*n}</td> }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        {p.shapes.iter().filter(|s| s.nodes > 0).map(|s| {
            let model = s.model;
            let throughput = s.throughput.clone();
            view! {
                <section class="card shape-layouts" data-shape=s.name.clone()>
                    <div class="card-head"><h2>{format!("{}: {} node(s), {} GPUs", s.name, s.nodes, s.gpus)}</h2></div>
                    <div class="board">
                        {s.layouts.iter().map(|g| layout_group(model, g, None)).collect_view()}
                    </div>
                    {(!s.spare.is_empty()).then(|| view! { <p class="muted">{format!("Spare beyond its share: {}.", s.spare)}</p> })}
                    {(!throughput.is_empty()).then(|| view! {
                        <ul class="shape-throughput">
                            {throughput.into_iter().map(|t| view! {
                                <li>{format!("{}: {} × {} at {:.0} decode tokens/s each, {:.0} in all", t.name, t.replicas, t.profile, t.per_replica.decode_tokens_per_s, t.decode_tokens_per_s)}</li>
                            }).collect_view()}
                        </ul>
                    })}
                </section>
            }
        }).collect_view()}
        {(!assumptions.is_empty()).then(|| view! {
            <details class="card assumptions">
                <summary>"How throughput is estimated, per GPU model"</summary>
                <ul>{assumptions.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}</ul>
            </details>
        })}
    }
}

/// GPUs sharing a layout: how many, the config they would be saved as (when known), the layout
/// drawn and the replicas they serve.
fn layout_group(
    model: GpuModel,
    g: &mig::capacity::LayoutGroup,
    config: Option<String>,
) -> impl IntoView + use<> {
    let serves = g
        .serves
        .iter()
        .map(|(w, n)| format!("{n} × {w}"))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <div class="gpu layout-group" data-count=g.count>
            <div class="gpu-head">
                <span class="gpu-name">{format!("{} ×", g.count)}</span>
                {config.map(|c| view! { <code class="gpu-stats">{c}</code> })}
                <span class="gpu-stats">{g.counts.to_string()}</span>
            </div>
            {gpu_bar(model, &g.instances)}
            {(!serves.is_empty()).then(|| view! { <p class="serves muted">{format!("serves {serves}")}</p> })}
        </div>
    }
}

/// One GPU's instances drawn at their memory slices, as the planner's board draws them.
fn gpu_bar(model: GpuModel, instances: &[InstanceSpec]) -> impl IntoView + use<> {
    let cells = instances
        .iter()
        .filter_map(|i| {
            let spec = model.profile(&i.profile)?;
            Some(view! {
                <div class=format!("inst static {}", kind_class(spec.kind)) style:grid-column=format!("{} / span {}", i.start + 1, spec.memory_slices()) title=format!("{} at memory slice {}", i.profile, i.start)>
                    <span class="inst-name">{i.profile.clone()}</span>
                </div>
            })
        })
        .collect_view();
    view! { <div class="gpu-bar">{cells}</div> }
}

/// Against the live fleet: what the answer keeps and recuts, GPU by GPU, and "Apply to the fleet".
#[component]
fn FleetChanges(
    p: FleetPlan,
    request: Memo<PlanRequest>,
    live: Live,
) -> impl IntoView {
    let applied = live.applied;
    let busy = live.applying;
    let Some(f) = p.fleet.clone() else {
        return ().into_any();
    };
    let model = p.model;
    let expect = planned_changes(&p);
    let moved: u32 = f.changes.iter().map(|c| c.moved_replicas).sum();
    let drain = RwSignal::new(false);
    let nothing_to_do = f.changes.is_empty();
    let on_apply = move |_| {
        let req = ApplyRequest {
            request: request.get_untracked(),
            prefix: None,
            expect: Some(expect.clone()),
            drain: drain.get_untracked(),
        };
        busy.set(true);
        applied.set(None);
        leptos::task::spawn_local(async move {
            let answer = apply_fleet_plan(serde_json::to_string(&req).unwrap_or_default())
                .await
                .map_err(|e| e.to_string());
            let submitted: Vec<i64> = match &answer {
                Ok(ApplyOutcome::Applied(a)) => a
                    .nodes
                    .iter()
                    .filter_map(|n| match n.outcome {
                        NodeOutcome::Submitted { deployment } => Some(deployment),
                        NodeOutcome::Refused { .. } => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let changed = matches!(answer, Ok(ApplyOutcome::Changed { .. }));
            applied.try_set(Some(answer));
            if changed || submitted.is_empty() {
                busy.try_set(false);
                live.read(false);
                return;
            }
            // Follow the updates (seconds each on the embedded fleet), then read the fleet again: the
            // answer then shows what is left to recut, nothing when every update completed.
            for _ in 0..240 {
                super::pause(500).await;
                let mut open = false;
                for id in &submitted {
                    if let Ok(d) = crate::api::deployments::get_deployment(*id).await {
                        open |= d.deployment.status.is_unfinished();
                    }
                }
                if !open {
                    break;
                }
            }
            // The server's fleet is at most a couple of seconds old: read it a few times.
            for _ in 0..4 {
                live.read(false);
                super::pause(1500).await;
            }
            busy.try_set(false);
        });
    };
    let summary = format!(
        "Against the live fleet's {} {} GPU(s) with MIG on: keeps {} as they are, recuts {}{}{}. Re-planning from scratch would recut {}.",
        f.current_gpus,
        model.spec().display_name,
        f.kept_gpus,
        f.reconfigured_gpus,
        if f.freed_gpus > 0 { format!(", leaves {} unused", f.freed_gpus) } else { String::new() },
        if f.added_gpus > 0 { format!(", and needs {} more GPU(s) than the fleet has (new pools: see below)", f.added_gpus) } else { String::new() },
        f.from_scratch_reconfigured_gpus,
    );
    view! {
        <section class="card" aria-labelledby="changes-title" id="fleet-changes">
            <div class="card-head">
                <h2 id="changes-title">"Plan vs the live fleet"</h2>
                <button class="btn btn-ghost" id="reread-fleet" on:click=move |_| live.read(false)>"Read the fleet again"</button>
            </div>
            <p id="fleet-outcome" data-reconfigured=f.reconfigured_gpus data-kept=f.kept_gpus>{summary}</p>
            {if nothing_to_do {
                view! { <p class="ok-text" id="fleet-matches">"Nothing to recut: the fleet already serves this plan."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table id="plan-changes">
                            <thead>
                                <tr>
                                    <th scope="col">"Node"</th>
                                    <th scope="col">"GPU"</th>
                                    <th scope="col">"Now"</th>
                                    <th scope="col">"Planned"</th>
                                    <th scope="col">"Replicas moved"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {f.changes.iter().map(|c| view! {
                                    <tr class="change" data-node=c.node.clone() data-gpu=c.gpu>
                                        <td><a href=format!("/nodes/{}", c.node)>{c.node.clone()}</a></td>
                                        <td class="num">{c.gpu}</td>
                                        <td class="change-bar">{gpu_bar(model, &c.from)}</td>
                                        <td class="change-bar">{gpu_bar(model, &c.to)}</td>
                                        <td class="num">{c.moved_replicas}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <p class="hint">"Apply saves one custom config per node (plan-<node>: its recut GPUs at these exact placements, its other GPUs as they are) and submits one update per node. The server plans again first: if the fleet changed since, nothing is applied and the new plan is shown."</p>
                    {(moved > 0).then(|| view! {
                        <label class="check">
                            <input type="checkbox" id="apply-drain" prop:checked=move || drain.get() on:change=move |ev| drain.set(event_target_checked(&ev)) />
                            <span>{format!("Move the {moved} running replica(s) this recuts (drain); without it those nodes are left as they are")}</span>
                        </label>
                    })}
                    <div class="row-actions">
                        <button class="btn" id="apply-plan" disabled=move || busy.get() on:click=on_apply>
                            {move || if busy.get() { "Applying…" } else { "Apply to the fleet" }}
                        </button>
                    </div>
                }.into_any()
            }}
            {move || applied.get().map(|a| match a {
                Err(e) => view! { <p class="error" id="apply-error" role="alert">{format!("Not applied: {e}")}</p> }.into_any(),
                Ok(ApplyOutcome::Changed { .. }) => view! {
                    <p class="note" id="apply-changed" role="status">"The live fleet changed since this plan was made: nothing was applied. The plan above is re-made from the fleet as it is now; review it and apply again."</p>
                }.into_any(),
                Ok(ApplyOutcome::Applied(a)) => view! {
                    <div id="apply-result" role="status">
                        <p class:ok-text=a.complete>{if a.complete { format!("Submitted {} update(s); the answer above refreshes when they complete.", a.nodes.len()) } else { "Some nodes were refused; the others' updates were submitted.".to_owned() }}</p>
                        <ul>
                            {a.nodes.iter().map(|n| match &n.outcome {
                                NodeOutcome::Submitted { deployment } => view! {
                                    <li data-node=n.node.clone() class="submitted">
                                        {format!("{}: GPU {} → ", n.node, join(&n.gpus))}
                                        <code>{format!("{} v{}", n.config, n.version.unwrap_or(1))}</code>
                                        ", " <a href=format!("/deployments/{deployment}")>{format!("update {deployment}")}</a>
                                    </li>
                                }.into_any(),
                                NodeOutcome::Refused { message, issues } => view! {
                                    <li data-node=n.node.clone() class="refused error">
                                        {format!("{}: not applied — {message}", n.node)}
                                        {issues.iter().filter(|i| i.is_error()).map(|i| format!(" {} ({})", i.message, i.hint)).collect::<String>()}
                                    </li>
                                }.into_any(),
                            }).collect_view()}
                        </ul>
                    </div>
                }.into_any(),
            })}
        </section>
    }
    .into_any()
}

fn join(gpus: &[u32]) -> String {
    gpus.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
fn Throughput(p: FleetPlan) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="throughput-title">
            <div class="card-head"><h2 id="throughput-title">"Throughput per workload"</h2></div>
            <div class="table-wrap">
                <table id="plan-throughput">
                    <thead>
                        <tr>
                            <th scope="col">"Workload"</th>
                            <th scope="col">"Profile"</th>
                            <th scope="col">"Replicas"</th>
                            <th scope="col">"Memory / slice"</th>
                            <th scope="col">"Decode tok/s per replica"</th>
                            <th scope="col">"Prefill tok/s per replica"</th>
                            <th scope="col">"Decode tok/s in all"</th>
                            <th scope="col">"Bound by"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {p.throughput.iter().map(|w| view! {
                            <tr data-workload=w.name.clone()>
                                <td>{w.name.clone()}</td>
                                <td><code>{w.profile.clone()}</code></td>
                                <td class="num">{w.replicas}</td>
                                <td class="num">{format!("{:.1} / {:.1} GiB", w.memory_gib, w.profile_memory_gib)}</td>
                                <td class="num">{format!("{:.0}", w.per_replica.decode_tokens_per_s)}</td>
                                <td class="num">{format!("{:.0}", w.per_replica.prefill_tokens_per_s)}</td>
                                <td class="num">{format!("{:.0}", w.decode_tokens_per_s)}{w.target_tokens_per_s.map(|t| format!(" (asked {t:.0})"))}</td>
                                <td>{match w.per_replica.bound { mig::capacity::Bound::MemoryBandwidth => "memory bandwidth", mig::capacity::Bound::Compute => "compute" }}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <details class="assumptions" id="plan-assumptions">
                <summary>"The formula and what it assumes"</summary>
                <ul>{p.assumptions.iter().map(|a| view! { <li>{a.clone()}</li> }).collect_view()}</ul>
            </details>
        </section>
    }
}

#[component]
fn Actions(p: FleetPlan) -> impl IntoView {
    let prefix = RwSignal::new("plan".to_owned());
    let busy = RwSignal::new(false);
    let saved = RwSignal::new(Vec::<String>::new());
    let problems = RwSignal::new(Vec::<String>::new());
    let blueprints = RwSignal::new(None::<Result<Vec<String>, String>>);
    let for_save = p.clone();
    let on_save = move |_| {
        let configs = for_save.custom_configs(prefix.get_untracked().trim());
        busy.set(true);
        saved.set(Vec::new());
        problems.set(Vec::new());
        leptos::task::spawn_local(async move {
            for c in configs {
                let name = c.name.clone();
                let json = serde_json::to_string(&c).unwrap_or_default();
                match save_config(json).await {
                    Ok(Saved::Saved(info)) => saved.update(|s| {
                        s.push(format!("{} v{}", info.name, info.version.unwrap_or(1)))
                    }),
                    Ok(Saved::Invalid(issues)) => problems.update(|s| {
                        s.push(format!(
                            "{name}: {}",
                            issues
                                .first()
                                .map(|i| format!("{} — {}", i.message, i.hint))
                                .unwrap_or_default()
                        ))
                    }),
                    Err(e) => problems.update(|s| s.push(format!("{name}: {e}"))),
                }
            }
            busy.set(false);
        });
    };
    let for_bp = p;
    let on_blueprints =
        move |_| blueprints.set(Some(for_bp.pool_blueprints(prefix.get_untracked().trim())));
    view! {
        <section class="card" aria-labelledby="actions-title" id="capacity-actions">
            <div class="card-head"><h2 id="actions-title">"Make it so"</h2></div>
            <p class="hint">"Each layout becomes a custom MIG config named prefix-1, prefix-2, … (exact placements, versioned); the pool blueprints create one shared node pool per layout on that config."</p>
            <label class="field">
                <span>"Name prefix"</span>
                <input id="config-prefix" type="text" prop:value=move || prefix.get() on:input=move |ev| prefix.set(event_target_value(&ev)) />
            </label>
            <div class="row-actions">
                <button class="btn" id="save-configs" disabled=move || busy.get() on:click=on_save>"Save layouts as custom configs"</button>
                <button class="btn btn-ghost" id="pool-blueprints" on:click=on_blueprints>"Blueprints for new pools"</button>
            </div>
            <Show when=move || !saved.get().is_empty()>
                <p class="ok-text" id="saved-configs" role="status">
                    {move || format!("Saved {}. Apply one from the planner or a blueprint naming it.", saved.get().join(", "))}
                </p>
            </Show>
            <Show when=move || !problems.get().is_empty()>
                <ul class="issues" id="save-problems" role="alert">
                    {move || problems.get().into_iter().map(|e| view! { <li class="error">{e}</li> }).collect_view()}
                </ul>
            </Show>
            {move || blueprints.get().map(|b| match b {
                Err(e) => view! { <p class="note">{e}</p> }.into_any(),
                Ok(list) => view! {
                    <div id="blueprint-list">
                        <p class="hint">"Save the configs first: each blueprint names one. Validate and deploy them in the blueprint editor."</p>
                        {list.into_iter().map(|text| view! { <pre class="code blueprint-out">{text}</pre> }).collect_view()}
                    </div>
                }.into_any(),
            })}
        </section>
    }
}
