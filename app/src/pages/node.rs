//! `/fleet/nodes/:name`: one node with its GPUs, memory and reconfiguration charts (SVG drawn by
//! plotters on the server) and the deployments that touched it; follows fleet changes live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::wire::NodeDetail;

use super::deployments::follow;
use super::fleet::FleetNode;
use super::{EmptyState, PageHeader};
use crate::api::deployments::get_node;
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
                        <PageHeader title="Node not found" subtitle="It may have been removed with its pool." />
                        <EmptyState title="No such node">
                            <p>{m} ". Every node is on the " <a href="/">"Fleet"</a> " page."</p>
                        </EmptyState>
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
