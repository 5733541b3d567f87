//! `/embed/...`: views for other portals' iframes, without navigation chrome, following the server's
//! event streams like the full pages. Framing is allowed only for the origins in the server's
//! allow-list (CSP `frame-ancestors`).
//!
//! Auto-sizing: whenever the view's height changes, it posts
//! `{"type": "migboard:resize", "height": <px>}` to the parent window, so the portal can set the
//! iframe's height (a snippet is in the README).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::wire::{DeploymentDetail, EmbedContent, NodeDetail};

use super::deployments::{NodeBars, StatusBadge, follow, live_deployment};
use super::fleet::{FleetLayout, FleetNode, FleetPools};
use crate::api::deployments::get_node;
use crate::api::embeds::get_embed;
use crate::error::AppError;

/// Tells the parent window this document's height whenever it changes (browser only).
fn report_height() {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let last = StoredValue::new(0i32);
            let tick = move || {
                // The content's height (not the document's, which is at least the frame's own height
                // and so would never report a shrink).
                let Some(main) = document().get_element_by_id("main") else {
                    return;
                };
                let h = main.scroll_height();
                if h != last.get_value() {
                    last.set_value(h);
                    if let Ok(Some(parent)) = window().parent() {
                        let message = js_sys_object(h);
                        let _ = parent.post_message(&message, "*");
                    }
                }
            };
            tick();
            if let Ok(handle) =
                set_interval_with_handle(tick, std::time::Duration::from_millis(300))
            {
                on_cleanup(move || handle.clear());
            }
        }
    });
}

/// `{"type": "migboard:resize", "height": h}` as a JS value (parsed from JSON: no js-sys needed).
#[cfg(feature = "hydrate")]
fn js_sys_object(height: i32) -> wasm_bindgen::JsValue {
    let json = format!("{{\"type\":\"migboard:resize\",\"height\":{height}}}");
    web_sys::js_sys::JSON::parse(&json).unwrap_or(wasm_bindgen::JsValue::NULL)
}

/// A link that opens the full page in a new tab (the iframe stays as it is).
#[component]
fn OpenFull(href: String) -> impl IntoView {
    view! { <a class="embed-open" href=href target="_blank" rel="noopener">"Open in migboard ↗"</a> }
}

/// `/embed/fleet`, lazily loaded.
#[derive(Debug, Clone, Copy)]
pub struct EmbedFleetRoute;

#[lazy_route]
impl LazyRoute for EmbedFleetRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let EmbedFleetRoute = this;
        view! { <EmbedFleet /> }.into_any()
    }
}

/// `/embed/fleet`: the fleet summary and every node's layout.
#[component]
pub fn EmbedFleet() -> impl IntoView {
    report_height();
    view! {
        <Title text="Fleet (embedded)" />
        <div class="embed-head"><strong>"GPU fleet"</strong><OpenFull href="/".into() /></div>
        <FleetLayout />
    }
}

/// The lazily loaded deployment view.
#[derive(Debug, Clone, Copy)]
pub struct EmbedDeploymentRoute;

#[lazy_route]
impl LazyRoute for EmbedDeploymentRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let EmbedDeploymentRoute = this;
        view! { <EmbedDeployment /> }.into_any()
    }
}

/// `/embed/deployments/:id`: a deployment's status, progress per GPU and last step, live.
#[component]
pub fn EmbedDeployment() -> impl IntoView {
    report_height();
    let params = use_params_map();
    let id = params.with_untracked(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()));
    let (rendered, fresh) = live_deployment(move || id);
    view! {
        <Title text="Deployment (embedded)" />
        <Transition fallback=|| view! { <p class="muted">"Reading…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(d) => {
                        let href = format!("/deployments/{}", d.deployment.id);
                        view! { <DeploymentSummary d open=href /> }.into_any()
                    }
                    Err(e) => view! { <p class="banner banner-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A deployment's name, status, progress per GPU and last step; with a link to its full page
/// when `open` is given.
#[component]
fn DeploymentSummary(
    d: DeploymentDetail,
    #[prop(optional, into)] open: Option<String>,
) -> impl IntoView {
    let last = d
        .steps
        .iter()
        .max_by_key(|s| (s.at_ms, s.seq))
        .map(|s| format!("{} {}: {}", s.state, s.key, s.message));
    view! {
        <div class="embed-head" id="embed-deployment" data-status=d.deployment.status.as_str()>
            <strong>{d.deployment.name.clone()}</strong> " " <StatusBadge status=d.deployment.status />
            {open.map(|href| view! { <OpenFull href /> })}
        </div>
        <p class="muted">{d.deployment.message.clone()}</p>
        <NodeBars nodes=d.nodes.clone() />
        {last.map(|l| view! { <p class="embed-last"><code>{l}</code></p> })}
    }
}

/// The lazily loaded signed embed link.
#[derive(Debug, Clone, Copy)]
pub struct EmbedLinkRoute;

#[lazy_route]
impl LazyRoute for EmbedLinkRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let EmbedLinkRoute = this;
        view! { <EmbedLink /> }.into_any()
    }
}

/// `/embed/link/:token`: the one view a signed embed link shows, live, for whoever holds the link
/// (no session: a portal on another site frames it). No navigation: nothing here leads to a
/// page the link does not open.
#[component]
pub fn EmbedLink() -> impl IntoView {
    report_height();
    let params = use_params_map();
    let token = params.with_untracked(|p| p.get("token").unwrap_or_default());
    let t = token.clone();
    let rendered = Resource::new(move || t.clone(), get_embed);
    let (fresh, set_fresh) = signal(None::<Result<EmbedContent, AppError>>);
    let t = token.clone();
    follow(
        format!("/api/v1/embed/{token}/events"),
        &["fleet", "deployment", "step"],
        set_fresh,
        move || Box::pin(get_embed(t.clone())),
    );
    view! {
        <Title text="migboard (embedded)" />
        <Transition fallback=|| view! { <p class="muted">"Reading…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(EmbedContent::Fleet { pool, fleet }) => view! {
                        <div class="embed-head" id="embed-link" data-view=pool.as_ref().map_or_else(|| "fleet".to_owned(), |p| format!("pool/{p}"))>
                            <strong>{pool.as_ref().map_or_else(|| "GPU fleet".to_owned(), |p| format!("Pool {p}"))}</strong>
                            <span class="muted">" · live, read-only"</span>
                        </div>
                        {if fleet.nodes.is_empty() {
                            view! { <p class="muted">"No GPU nodes to show."</p> }.into_any()
                        } else {
                            view! { <FleetPools fleet /> }.into_any()
                        }}
                    }.into_any(),
                    Ok(EmbedContent::Node { node }) => view! {
                        <div class="embed-head" id="embed-link" data-view=format!("node/{}", node.name)>
                            <strong>{format!("Node {}", node.name)}</strong>
                            <span class="muted">" · live, read-only"</span>
                        </div>
                        <FleetNode node />
                    }.into_any(),
                    Ok(EmbedContent::Deployment { detail }) => view! { <DeploymentSummary d=detail /> }.into_any(),
                    Err(AppError::Gone(m) | AppError::NotFound(m)) => view! {
                        <section class="empty-state" id="embed-refused">
                            <h2>"This view has ended"</h2>
                            <p>{m} ". Ask whoever gave you this page for a new link."</p>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read it: {e}")}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The lazily loaded node view.
#[derive(Debug, Clone, Copy)]
pub struct EmbedNodeRoute;

#[lazy_route]
impl LazyRoute for EmbedNodeRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let EmbedNodeRoute = this;
        view! { <EmbedNode /> }.into_any()
    }
}

/// `/embed/nodes/:name`: one node's MIG layout, live.
#[component]
pub fn EmbedNode() -> impl IntoView {
    report_height();
    let params = use_params_map();
    let name = params.with_untracked(|p| p.get("name").unwrap_or_default());
    let n = name.clone();
    // The embed shows the layout only; the shortest range keeps the unused charts cheap.
    let hour = mig::wire::ChartRange::Hour;
    let rendered = Resource::new(move || n.clone(), move |n| get_node(n, hour));
    let (fresh, set_fresh) = signal(None::<Result<NodeDetail, AppError>>);
    let n = name.clone();
    follow("/api/v1/events".into(), &["fleet"], set_fresh, move || {
        Box::pin(get_node(n.clone(), hour))
    });
    view! {
        <Title text="Node (embedded)" />
        <Transition fallback=|| view! { <p class="muted">"Reading…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(d) => view! {
                        <div class="embed-head"><OpenFull href=format!("/fleet/nodes/{}", d.node.name) /></div>
                        <FleetNode node=d.node />
                    }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
