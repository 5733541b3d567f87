//! `/fleet/nodes/:name`: one node with its GPUs, memory and reconfiguration charts (SVG drawn by
//! plotters on the server) and the deployments that touched it; follows fleet changes live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::wire::NodeDetail;

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
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let rendered = Resource::new(name, get_node);
    let (fresh, set_fresh) = signal(None::<Result<NodeDetail, AppError>>);
    let n = name();
    follow("/api/v1/events".into(), &["fleet"], set_fresh, move || {
        Box::pin(get_node(n.clone()))
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
    view! {
        <header class="page-header">
            <p class="crumbs"><a href="/">"Fleet"</a> " / " {node.pool.clone()} " /"</p>
            <h1 id="node-name">{node.name.clone()}</h1>
            <p class="subtitle">{format!("{} · {} GPUs · {}", node.shape, node.gpus.len(), node.mig_config.clone().unwrap_or_else(|| "custom layout".into()))}</p>
        </header>
        <section class="card">
            <FleetNode node />
        </section>
        <section class="card chart" id="memory-chart" aria-label="Memory used per MIG instance, last hour">
            <div class="chart-svg" inner_html=d.memory_chart_svg></div>
        </section>
        <section class="card chart" id="applies-chart" aria-label="GPU reconfigurations, last day">
            <div class="chart-svg" inner_html=d.applies_chart_svg></div>
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
