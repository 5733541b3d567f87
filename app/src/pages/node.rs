//! `/fleet/nodes/:name`: one node with its GPUs, memory and reconfiguration charts (SVG drawn by
//! plotters on the server) and the deployments that touched it; follows fleet changes live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use leptos_router::{LazyRoute, lazy_route};
use mig::wire::{ChartRange, InventoryGpu, NodeDetail};

use super::deployments::follow;
use super::fleet::FleetNode;
use super::SubjectNotFound;
use crate::api::deployments::{get_node, revert_node};
use crate::error::AppError;

/// The lazily loaded route.
#[derive(Debug, Clone, Copy)]
pub struct NodeRoute;

#[lazy_route]
impl LazyRoute for NodeRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let NodeRoute = this;
        view! { <NodePage /> }.into_any()
    }
}

/// One node.
#[component]
pub fn NodePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    // `?range=` picks the charts' span; an unknown spelling shows the default (24 h).
    let range = move || {
        query.with(|q| {
            q.get("range")
                .and_then(|r| ChartRange::parse(&r).ok())
                .unwrap_or_default()
        })
    };
    let rendered = Resource::new(move || (name(), range()), |(n, r)| get_node(n, r));
    let (fresh, set_fresh) = signal(None::<Result<NodeDetail, AppError>>);
    let (n, r) = (name(), range());
    follow("/api/v1/events".into(), &["fleet"], set_fresh, move || {
        Box::pin(get_node(n.clone(), r))
    });
    view! {
        <Title text=move || format!("Node {}", name()) />
        <Transition fallback=|| view! { <p class="muted">"Reading the node…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(d) => view! { <Node d /> }.into_any(),
                    Err(AppError::NotFound(m)) => view! {
                        <SubjectNotFound title="Node not found" subtitle="It may have been removed with its pool." empty="No such node">
                            <p>{m} ". Every node is on the " <a href="/">"Fleet"</a> " page."</p>
                        </SubjectNotFound>
                    }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read the node: {e}")}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Node(d: NodeDetail) -> impl IntoView {
    let node = d.node.clone();
    let node_name = node.name.clone();
    let range = d.range;
    let gpus = node.gpus.clone();
    let labels = node.labels.clone();
    view! {
        <header class="page-header">
            <p class="crumbs"><a href="/">"Fleet"</a> " / " {node.pool.clone()} " /"</p>
            <h1 id="node-name">{node.name.clone()}</h1>
            <p class="subtitle">{format!("{} · {} GPUs · {}", node.shape, node.gpus.len(), node.mig_config.clone().unwrap_or_else(|| "custom layout".into()))}</p>
        </header>
        <section class="card">
            <FleetNode node />
        </section>
        <GpuDetails gpus />
        <Labels labels />
        <section class="card charts" aria-label="Charts">
            <div class="card-head">
                <h2>"Charts"</h2>
                // Full page loads: the charts are drawn on the server, and the link is shareable.
                <nav class="segmented" id="chart-range" aria-label="Time range">
                    {ChartRange::ALL.into_iter().map(|r| view! {
                        <a href=format!("?range={}", r.as_str()) rel="external" data-range=r.as_str()
                            aria-current=(r == range).then_some("true")>{r.as_str()}</a>
                    }).collect_view()}
                </nav>
            </div>
            <div class="chart" id="memory-chart" aria-label=format!("Memory used per MIG instance, {}", range.words())>
                <div class="chart-svg" inner_html=d.memory_chart_svg></div>
            </div>
            <div class="chart" id="applies-chart" aria-label=format!("GPU reconfigurations, {}", range.words())>
                <div class="chart-svg" inner_html=d.applies_chart_svg></div>
            </div>
        </section>
        <History node=node_name history=d.history />
        <section class="card">
            <div class="card-head"><h2>"Deployments on this node"</h2></div>
            {if d.deployments.is_empty() {
                view! { <p class="muted">"None has touched this node yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="node-deployments">
                        {d.deployments.into_iter().map(|(id, name, status)| view! {
                            <li><a href=format!("/deployments/{id}")>{name}</a> " " <span class=format!("badge badge-{}", status.as_str())>{status.as_str()}</span></li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// The layouts migboard's deployments gave this node, newest first, each with "Revert to this".
#[component]
fn History(node: String, history: Vec<mig::wire::LayoutChange>) -> impl IntoView {
    let drain = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let navigate = leptos_router::hooks::use_navigate();
    let current = history
        .iter()
        .find(|h| h.status == mig::wire::DeploymentStatus::Completed)
        .map(|h| h.deployment_id);
    let rows = history
        .into_iter()
        .map(|h| {
            let label = match h.version {
                Some(v) => format!("{} v{v}", h.config),
                None => h.config.clone(),
            };
            let when = mig::time::Utc::from_unix_ms(h.at_ms).minutes();
            let is_current = Some(h.deployment_id) == current;
            let can_revert = h.status == mig::wire::DeploymentStatus::Completed && !is_current;
            let (node, navigate) = (node.clone(), navigate.clone());
            let revert = move |_| {
                let (node, navigate) = (node.clone(), navigate.clone());
                let from = h.deployment_id;
                let drain = drain.get_untracked();
                leptos::task::spawn_local(async move {
                    match revert_node(node, from, drain).await {
                        Ok(info) => navigate(&format!("/deployments/{}", info.id), Default::default()),
                        // The history may have been redrawn meanwhile (a fleet event): then its
                        // banner is gone, and so is the place to say it.
                        Err(e) => {
                            let _ = error.try_set(Some(e.to_string()));
                        }
                    }
                });
            };
            view! {
                <tr data-deployment=h.deployment_id class:current=is_current>
                    <td>{when}</td>
                    <td><code class="history-config">{label}</code>{is_current.then_some(" (now)")}</td>
                    <td><a href=format!("/deployments/{}", h.deployment_id)>{h.deployment.clone()}</a>" "<span class=format!("badge badge-{}", h.status.as_str())>{h.status.as_str()}</span></td>
                    <td>{if h.by.is_empty() { "—".to_owned() } else { h.by.clone() }}</td>
                    <td>{can_revert.then(|| view! { <button class="btn btn-ghost btn-small revert" on:click=revert>"Revert to this"</button> })}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="layout-history">
            <div class="card-head"><h2>"Layout history"</h2></div>
            <p class="hint">"The MIG configs migboard applied to this node, newest first. \"Revert to this\" applies that config again (a custom config at that version) as an update deployment."</p>
            <table class="history-table">
                <thead><tr><th>"when"</th><th>"config"</th><th>"deployment"</th><th>"by"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <label class="check">
                <input id="revert-drain" type="checkbox" prop:checked=move || drain.get() on:change=move |ev| drain.set(event_target_checked(&ev)) />
                " Drain busy nodes (move replicas in the way; lets migboard reset idle GPUs)"
            </label>
            {move || error.get().map(|e| view! { <p class="banner banner-error" role="alert">{format!("Could not revert: {e}")}</p> })}
        </section>
    }
}

/// Each GPU as NVML reports it: UUID, MIG mode and the mode after the next reset, memory in use,
/// instances and the processes on them.
#[component]
fn GpuDetails(gpus: Vec<InventoryGpu>) -> impl IntoView {
    let rows = gpus
        .into_iter()
        .map(|g| {
            let used_mib: u64 = g.busy.iter().map(|b| b.used_memory_mib).sum();
            let mode = match (g.mig_mode, g.pending_mig_mode) {
                (now, Some(next)) => format!("{} → {} at the next reset", mode_word(now), mode_word(next)),
                (now, None) => mode_word(now).to_owned(),
            };
            let processes: Vec<String> = g
                .busy
                .iter()
                .map(|b| {
                    let who = if b.owners.is_empty() {
                        b.pids.iter().map(|p| format!("pid {p}")).collect::<Vec<_>>().join(", ")
                    } else {
                        b.owners.join(", ")
                    };
                    format!("{}@{}: {who} ({})", b.profile, b.start, mib(b.used_memory_mib))
                })
                .collect();
            view! {
                <tr data-gpu=g.index>
                    <td class="gpu-index" data-label="GPU">{g.index}</td>
                    <td data-label="UUID"><code class="gpu-uuid">{g.uuid.clone()}</code><div class="muted small">{g.name.clone()}</div></td>
                    <td class="gpu-mode" data-label="MIG mode" class:pending=g.pending_mig_mode.is_some()>{mode}</td>
                    <td class="gpu-memory" data-label="Memory used">
                        <span>{format!("{} of {}", mib(used_mib), mib(g.memory_mib))}</span>
                        <meter min="0" max=g.memory_mib.to_string() value=used_mib.to_string()></meter>
                    </td>
                    <td data-label="Instances">{g.instances.len()}</td>
                    <td class="gpu-processes" data-label="Processes">
                        {if processes.is_empty() {
                            view! { <span class="muted">"none"</span> }.into_any()
                        } else {
                            view! { <ul>{processes.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul> }.into_any()
                        }}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="gpu-details">
            <div class="card-head"><h2>"GPUs"</h2></div>
            <div class="table-scroll">
                <table class="gpu-table">
                    <thead><tr><th>"GPU"</th><th>"UUID"</th><th>"MIG mode"</th><th>"Memory used"</th><th>"Instances"</th><th>"Processes"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

fn mode_word(mode: mig::MigMode) -> &'static str {
    match mode {
        mig::MigMode::Enabled => "MIG on",
        mig::MigMode::Disabled => "MIG off",
    }
}

/// `81559` → `79.6 GiB`, `512` → `512 MiB`.
fn mib(v: u64) -> String {
    if v >= 1024 {
        format!("{:.1} GiB", v as f64 / 1024.0)
    } else {
        format!("{v} MiB")
    }
}

/// The node's GPU Operator and topology labels.
#[component]
fn Labels(labels: std::collections::BTreeMap<String, String>) -> impl IntoView {
    view! {
        <section class="card" id="node-labels">
            <div class="card-head"><h2>"Labels"</h2></div>
            {if labels.is_empty() {
                view! { <p class="muted">"The cluster reports no GPU labels on this node."</p> }.into_any()
            } else {
                view! {
                    <p class="hint">"NVIDIA's and the pool's labels, as the GPU Operator sets them on Kubernetes (the embedded fleet derives them from what its agents report)."</p>
                    <dl class="labels">
                        {labels.into_iter().map(|(k, v)| view! {
                            <div data-label=k.clone()><dt><code>{k.clone()}</code></dt><dd><code>{v}</code></dd></div>
                        }).collect_view()}
                    </dl>
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_reads_in_the_unit_that_fits() {
        assert_eq!(super::mib(512), "512 MiB");
        assert_eq!(super::mib(81_559), "79.6 GiB");
    }
}
