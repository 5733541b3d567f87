//! Save the plan as a custom MIG config and apply it to a node or a pool of the fleet, after
//! seeing what it would change there: per GPU, instances kept, destroyed and created, the NVML
//! calls the agent would make, GPU resets, and the running replicas in the way.
//!
//! Applying submits an `update` deployment naming the config, so progress, the step log, share
//! links and the audit log work as for any deployment.

use leptos::prelude::*;
use mig::NodePlan;
use mig::planner::{GpuDiff, diff_node};
use mig::wire::{Fleet, FleetNodeInfo};

use super::{Notice, Planner};
use crate::api::configs::{Saved, save_config};
use crate::api::deployments::{Deployed, deploy_blueprint};
use crate::api::fleet::get_fleet;
use crate::error::AppError;

/// Where the plan would go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Node(String),
    Pool(String),
}

impl Target {
    fn parse(value: &str) -> Option<Self> {
        match value.split_once(':')? {
            ("node", n) => Some(Self::Node(n.to_owned())),
            ("pool", p) => Some(Self::Pool(p.to_owned())),
            _ => None,
        }
    }
    fn member(&self) -> (&'static str, &str) {
        match self {
            Self::Node(n) => ("recipe_node_name", n),
            Self::Pool(p) => ("recipe_node_pool_name", p),
        }
    }
}

/// Nodes of the fleet whose GPUs are the plan's model.
fn matching_nodes<'a>(fleet: &'a Fleet, plan: &NodePlan) -> Vec<&'a FleetNodeInfo> {
    fleet
        .nodes
        .iter()
        .filter(|n| mig::shape::shape(&n.shape).is_some_and(|s| s.model == plan.model()))
        .collect()
}

/// The plan as a custom config called `name`.
fn config_of(plan: &NodePlan, name: &str, description: &str) -> mig::RawCustomConfig {
    mig::RawCustomConfig::from_layouts(name, plan.model(), description, plan.gpus())
}

fn list(items: &[mig::InstanceSpec]) -> String {
    if items.is_empty() {
        return "—".to_owned();
    }
    items
        .iter()
        .map(|i| format!("{}@{}", i.profile, i.start))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One node's diff as a table.
#[component]
fn NodeDiff(node: String, diffs: Vec<GpuDiff>) -> impl IntoView {
    let calls: u32 = diffs.iter().map(|d| d.nvml_calls).sum();
    let resets = diffs.iter().filter(|d| d.needs_reset).count();
    let blocked: Vec<String> = diffs
        .iter()
        .flat_map(|d| {
            d.in_the_way.iter().map(move |b| {
                let who = if b.owners.is_empty() {
                    format!("pids {:?}", b.pids)
                } else {
                    b.owners.join(", ")
                };
                format!("GPU {} {} at {}: {who}", d.gpu, b.profile, b.start)
            })
        })
        .collect();
    let unchanged = diffs.iter().all(|d| d.steps.is_empty());
    view! {
        <div class="apply-diff" data-node=node.clone()>
            <p class="apply-diff-head">
                <strong>{node.clone()}</strong>
                {if unchanged {
                    " already has this layout: applying changes nothing.".to_owned()
                } else {
                    format!(": {calls} NVML call(s){}", if resets > 0 { format!(", {resets} GPU reset(s)") } else { String::new() })
                }}
            </p>
            {(!blocked.is_empty()).then(|| view! {
                <p class="banner banner-error apply-blocked" role="alert">
                    "In the way (running now, on instances this destroys): " {blocked.join("; ")}
                    ". Tick \"Drain busy nodes\" to move them, or undeploy them first."
                </p>
            })}
            <table class="apply-diff-table">
                <thead><tr><th>"GPU"</th><th>"kept"</th><th>"destroyed"</th><th>"created"</th><th>"NVML calls"</th></tr></thead>
                <tbody>
                    {diffs.into_iter().map(|d| {
                        let steps = d.steps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
                        let unchanged = d.steps.is_empty();
                        view! {
                        <tr data-gpu=d.gpu class:unchanged=unchanged>
                            <td>{d.gpu}</td>
                            <td>{list(&d.kept)}</td>
                            <td class="destroyed">{list(&d.destroyed)}</td>
                            <td class="created">{list(&d.created)}</td>
                            <td title=steps>
                                {d.nvml_calls}{d.needs_reset.then_some(" + reset")}
                            </td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The "Save and apply" card.
#[component]
pub fn Apply(planner: Planner) -> impl IntoView {
    let p = planner;
    let fleet = Resource::new(|| (), |()| get_fleet());
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let drain = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let issues = RwSignal::new(Vec::<mig::blueprint::Issue>::new());
    let default_name = move || format!("{}-custom", p.plan.with(|plan| plan.model().id()));
    let config_name = move || {
        let n = name.get();
        if n.trim().is_empty() {
            default_name()
        } else {
            n.trim().to_owned()
        }
    };
    let save = move || async move {
        let raw = p
            .plan
            .with_untracked(|plan| config_of(plan, &config_name(), &description.get_untracked()));
        let json = serde_json::to_string(&raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
        save_config(json).await
    };
    let on_save = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match save().await {
                Ok(Saved::Saved(c)) => {
                    issues.set(Vec::new());
                    p.notice.set(Some(Notice::Done(format!(
                        "Saved MIG config {} version {}",
                        c.name,
                        c.version.unwrap_or(1)
                    ))));
                }
                Ok(Saved::Invalid(found)) => {
                    p.notice.set(Some(Notice::Refused(format!(
                        "The config was not saved: {}",
                        found.first().map(|i| i.message.clone()).unwrap_or_default()
                    ))));
                    issues.set(found);
                }
                Err(e) => p.notice.set(Some(Notice::Refused(format!("Could not save: {e}")))),
            }
            busy.set(false);
        });
    };
    let navigate = leptos_router::hooks::use_navigate();
    let on_apply = move |_| {
        let Some(to) = Target::parse(&target.get_untracked()) else {
            p.notice.set(Some(Notice::Refused(
                "Choose a node or a pool to apply the plan to".to_owned(),
            )));
            return;
        };
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let saved = match save().await {
                Ok(Saved::Saved(c)) => c,
                Ok(Saved::Invalid(found)) => {
                    p.notice.set(Some(Notice::Refused("The plan is not a valid config: see the issues".to_owned())));
                    issues.set(found);
                    busy.set(false);
                    return;
                }
                Err(e) => {
                    p.notice.set(Some(Notice::Refused(format!("Could not save: {e}"))));
                    busy.set(false);
                    return;
                }
            };
            let (member, value) = to.member();
            let stamp = crate::pages::now_ms() % 1_000_000;
            let blueprint = serde_json::json!({
                "recipe_mode": "update",
                "deployment_name": format!("apply-{}-v{}-{stamp}", saved.name, saved.version.unwrap_or(1)),
                member: value,
                "shared_node_pool_mig_config": saved.name,
            })
            .to_string();
            match deploy_blueprint(blueprint, drain.get_untracked(), 1).await {
                Ok(Deployed::Created(info)) => {
                    navigate(&format!("/deployments/{}", info.id), Default::default());
                }
                Ok(Deployed::Invalid(found)) => {
                    p.notice.set(Some(Notice::Refused(format!(
                        "Not applied: {}",
                        found.iter().find(|i| i.is_error()).map(|i| i.message.clone()).unwrap_or_default()
                    ))));
                    issues.set(found);
                }
                Err(e) => p.notice.set(Some(Notice::Refused(format!("Could not apply: {e}")))),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card apply" aria-labelledby="apply-title">
            <div class="card-head">
                <h2 id="apply-title">"Save and apply"</h2>
            </div>
            <p class="hint">
                "Saves this plan as a custom MIG config — every GPU exactly as drawn, placements included — and applies it to a node or pool of the same GPU model as an update deployment."
            </p>
            <label class="field">
                <span>"Config name"</span>
                <input id="config-name" type="text" placeholder=default_name
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            </label>
            <label class="field">
                <span>"Description"</span>
                <input id="config-description" type="text" placeholder="what it is for"
                    prop:value=move || description.get() on:input=move |ev| description.set(event_target_value(&ev)) />
            </label>
            <button class="btn btn-ghost" id="save-config" disabled=move || busy.get() on:click=on_save>"Save as config"</button>
            <Transition fallback=|| view! { <p class="muted">"Reading the fleet…"</p> }>
                {move || Suspend::new(async move {
                    let fleet = match fleet.await {
                        Ok(f) => f,
                        Err(e) => return view! { <p class="note">{format!("The fleet could not be read: {e}")}</p> }.into_any(),
                    };
                    let nodes: Vec<FleetNodeInfo> = p.plan.with(|plan| matching_nodes(&fleet, plan).into_iter().cloned().collect());
                    if nodes.is_empty() {
                        let model = p.plan.with(|plan| plan.model().to_string());
                        return view! { <p class="note" id="apply-no-nodes">{format!("No node of the fleet has {model} GPUs to apply this plan to.")}</p> }.into_any();
                    }
                    let mut pools: Vec<String> = nodes.iter().map(|n| n.pool.clone()).collect();
                    pools.dedup();
                    let for_diff = nodes.clone();
                    let diff = move || {
                        let chosen = Target::parse(&target.get())?;
                        let plan = p.plan.get();
                        let picked: Vec<&FleetNodeInfo> = for_diff
                            .iter()
                            .filter(|n| match &chosen {
                                Target::Node(name) => &n.name == name,
                                Target::Pool(pool) => &n.pool == pool,
                            })
                            .collect();
                        Some(
                            picked
                                .into_iter()
                                .map(|n| match diff_node(&plan, &n.gpus) {
                                    Ok(d) => view! { <NodeDiff node=n.name.clone() diffs=d /> }.into_any(),
                                    Err(e) => view! { <p class="note">{format!("{}: {e}", n.name)}</p> }.into_any(),
                                })
                                .collect_view(),
                        )
                    };
                    view! {
                        <label class="field">
                            <span>"Apply to"</span>
                            <select id="apply-target" on:change=move |ev| target.set(event_target_value(&ev)) prop:value=move || target.get()>
                                <option value="">"choose a node or pool…"</option>
                                <optgroup label="Nodes">
                                    {nodes.iter().map(|n| view! { <option value=format!("node:{}", n.name)>{format!("{} ({})", n.name, n.pool)}</option> }).collect_view()}
                                </optgroup>
                                <optgroup label="Pools">
                                    {pools.into_iter().map(|pool| view! { <option value=format!("pool:{pool}")>{format!("pool {pool}")}</option> }).collect_view()}
                                </optgroup>
                            </select>
                        </label>
                        <div id="apply-diff">{diff}</div>
                        <label class="check">
                            <input id="apply-drain" type="checkbox" prop:checked=move || drain.get() on:change=move |ev| drain.set(event_target_checked(&ev)) />
                            " Drain busy nodes (move replicas in the way; lets migboard reset idle GPUs)"
                        </label>
                    }.into_any()
                })}
            </Transition>
            <button class="btn" id="apply-plan" disabled=move || busy.get() || target.get().is_empty() on:click=on_apply>"Apply"</button>
            <Show when=move || !issues.get().is_empty()>
                <ul class="issues" id="apply-issues">
                    {move || issues.get().into_iter().map(|i| view! { <li class:error=i.is_error()><code>{i.path.clone()}</code> " " {i.message.clone()} <span class="hint">{format!(" — {}", i.hint)}</span></li> }).collect_view()}
                </ul>
            </Show>
        </section>
    }
}
