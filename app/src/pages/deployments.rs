//! `/deployments` (the live list) and `/deployments/:id` (steps, per-GPU progress, replicas, logs,
//! undeploy). Both render on the server, then follow the server's event streams.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::wire::{DeploymentDetail, DeploymentInfo, DeploymentStatus, NodeProgress, StepInfo};

use super::live::use_events;
use super::{EmptyState, PageHeader, SubjectNotFound};
use crate::api::deployments::{
    create_share, get_deployment, get_shared, list_deployments, list_shares, previous_layouts,
    resume_deployment, revert_deployment, revoke_share, undeploy,
};
use crate::error::AppError;

/// A slow poll behind the event stream, in case a connection drops unnoticed.
const SAFETY_POLL: Duration = Duration::from_secs(15);

/// The lazily loaded list route.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentsRoute;

#[lazy_route]
impl LazyRoute for DeploymentsRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let DeploymentsRoute = this;
        view! { <DeploymentsPage /> }.into_any()
    }
}

/// The lazily loaded detail route.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentRoute;

#[lazy_route]
impl LazyRoute for DeploymentRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let DeploymentRoute = this;
        view! { <DeploymentPage /> }.into_any()
    }
}

/// Re-runs `fetch` into `fresh` on every event of `url` whose type is in `kinds` (one request in
/// flight at a time, one more queued) and every [`SAFETY_POLL`].
pub(super) fn follow<T: Send + Sync + 'static, F>(
    url: String,
    kinds: &'static [&'static str],
    fresh: WriteSignal<Option<T>>,
    fetch: F,
) where
    F: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Clone + 'static,
{
    let busy = StoredValue::new(false);
    let again = StoredValue::new(false);
    let run = {
        let fetch = fetch.clone();
        move || {
            if busy.get_value() {
                again.set_value(true);
                return;
            }
            busy.set_value(true);
            let fetch = fetch.clone();
            leptos::task::spawn_local(async move {
                // The page may be gone when a fetch returns (navigated away while it ran): its
                // values are disposed then, and nothing is left to update.
                loop {
                    if again.try_set_value(false).is_some() {
                        return;
                    }
                    let value = fetch().await;
                    if fresh.try_set(Some(value)).is_some() {
                        return;
                    }
                    if again.try_get_value() != Some(true) {
                        break;
                    }
                }
                let _ = busy.try_set_value(false);
            });
        }
    };
    let on_event = run.clone();
    Effect::new(move |_| {
        let on_event = on_event.clone();
        use_events(url.clone(), move |kind, _| {
            if kind == "resync" || kinds.contains(&kind) {
                on_event();
            }
        });
        let tick = run.clone();
        if let Ok(handle) = set_interval_with_handle(tick, SAFETY_POLL) {
            on_cleanup(move || handle.clear());
        }
    });
}

/// The list of deployments, live.
#[component]
pub fn DeploymentsPage() -> impl IntoView {
    let rendered = Resource::new(|| (), |()| list_deployments());
    let (fresh, set_fresh) = signal(None::<Result<Vec<DeploymentInfo>, AppError>>);
    follow("/api/v1/events".into(), &["deployment"], set_fresh, || {
        Box::pin(list_deployments())
    });
    view! {
        <Title text="Deployments" />
        <PageHeader title="Deployments" subtitle="Blueprints deployed onto the fleet, with their status, live." />
        <Transition fallback=|| view! { <p class="muted">"Reading deployments…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState title="Nothing deployed yet">
                            <p>
                                "Write or pick a blueprint on the " <a href="/blueprints">"Blueprints"</a>
                                " page and press Deploy: a shared node pool with a MIG config, a MIG update of a node or pool, or an inference service on a MIG slice. It will be listed here with its status: scheduled, active, monitoring, failed or completed."
                            </p>
                        </EmptyState>
                    }.into_any(),
                    Ok(list) => view! { <DeploymentTable list /> }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read deployments: {e}")}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DeploymentTable(list: Vec<DeploymentInfo>) -> impl IntoView {
    view! {
        <section class="card">
            <table class="deployments" id="deployments">
                <thead>
                    <tr><th>"Name"</th><th>"Mode"</th><th>"Status"</th><th>"Progress"</th><th>"Updated"</th><th>"Message"</th></tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|d| {
                        let href = format!("/deployments/{}", d.id);
                        view! {
                            <tr data-id=d.id data-status=d.status.as_str()>
                                <td><a href=href>{d.name.clone()}</a></td>
                                <td><code>{d.mode.clone()}</code></td>
                                <td><StatusBadge status=d.status /></td>
                                <td><Bar done=d.progress.done total=d.progress.total label="steps".into() /></td>
                                <td><time>{clock(d.updated_ms)}</time></td>
                                <td class="muted msg">{d.message.clone()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// A status as a coloured badge.
#[component]
pub(super) fn StatusBadge(status: DeploymentStatus) -> impl IntoView {
    let s = status.as_str();
    view! { <span class=format!("badge badge-{s}") data-status=s>{s}</span> }
}

/// A progress bar with its numbers.
#[component]
fn Bar(done: u32, total: u32, label: String) -> impl IntoView {
    let pct = (done * 100).checked_div(total).unwrap_or(0);
    view! {
        <span class="bar" role="progressbar" aria-valuemin="0" aria-valuemax=total aria-valuenow=done aria-label=label.clone()>
            <span class="bar-fill" style=format!("width: {pct}%")></span>
        </span>
        <span class="bar-text">{format!("{done}/{total} {label}")}</span>
    }
}

/// `HH:MM:SS` UTC of Unix milliseconds.
fn clock(ms: i64) -> String {
    mig::time::Utc::from_unix_ms(ms).clock()
}

/// Deployment `id` as first rendered, and then as its events make it (read again on each).
pub(super) fn live_deployment(
    id: impl Fn() -> Option<i64> + Clone + Send + Sync + 'static,
) -> (
    Resource<Result<DeploymentDetail, AppError>>,
    ReadSignal<Option<Result<DeploymentDetail, AppError>>>,
) {
    let rendered = Resource::new(id.clone(), |id| async move {
        match id {
            Some(id) => get_deployment(id).await,
            None => Err(AppError::NotFound("a deployment id is a number".into())),
        }
    });
    let (fresh, set_fresh) = signal(None::<Result<DeploymentDetail, AppError>>);
    if let Some(n) = id() {
        follow(
            format!("/api/v1/deployments/{n}/events"),
            &["deployment", "step"],
            set_fresh,
            move || Box::pin(get_deployment(n)),
        );
    }
    (rendered, fresh)
}

/// One deployment, live.
#[component]
pub fn DeploymentPage() -> impl IntoView {
    let params = use_params_map();
    let (rendered, fresh) =
        live_deployment(move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok())));
    view! {
        <Title text="Deployment" />
        <Transition fallback=|| view! { <p class="muted">"Reading the deployment…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                // The share panel is made once per deployment, not again with every live update
                // (a link just created, shown once, must not vanish when a step finishes).
                let share = first.as_ref().ok().map(|d| d.deployment.id);
                let detail = move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(d) => view! { <Detail d /> }.into_any(),
                    Err(AppError::NotFound(m)) => view! {
                        <SubjectNotFound title="Deployment not found" subtitle="It may have been a typo in the link." empty="No such deployment">
                            <p>{m} ". See every deployment on the " <a href="/deployments">"Deployments"</a> " page."</p>
                        </SubjectNotFound>
                    }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read the deployment: {e}")}</p> }.into_any(),
                };
                view! {
                    {detail}
                    {share.map(|id| view! { <SharePanel id /> })}
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(d: DeploymentDetail) -> impl IntoView {
    let info = d.deployment.clone();
    let id = info.id;
    let (notice, set_notice) = signal(None::<String>);
    let (asking, set_asking) = signal(false);
    let on_undeploy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let sure = window()
                .confirm_with_message(
                    "Undeploy this deployment? Its replicas stop; a pool it created is removed.",
                )
                .unwrap_or(false);
            if !sure {
                return;
            }
        }
        set_asking.set(true);
        leptos::task::spawn_local(async move {
            match undeploy(id).await {
                Ok(_) => set_notice.set(Some("Undeploy requested.".into())),
                Err(e) => set_notice.set(Some(format!("Not undeployed: {e}"))),
            }
            set_asking.set(false);
        });
    };
    let paused = info.status == DeploymentStatus::Paused;
    let on_resume = move |_| {
        set_asking.set(true);
        leptos::task::spawn_local(async move {
            match resume_deployment(id).await {
                Ok(_) => set_notice.set(Some("Resumed: the failed node(s) are tried again, then the next batches.".into())),
                Err(e) => set_notice.set(Some(format!("Not resumed: {e}"))),
            }
            set_asking.set(false);
        });
    };
    let can_undeploy = info.status.can_undeploy();
    // An update leaves nothing running to undeploy: what can be undone is the layout change.
    let is_update = info.mode == "update";
    let finished = matches!(info.status, DeploymentStatus::Completed | DeploymentStatus::Failed);
    // Failed because workloads ran where it had to change MIG: the way on is the same update with
    // drain.
    let busy_refused = is_update
        && info.status == DeploymentStatus::Failed
        && d.steps.iter().any(|s| s.key == "busy-check" && s.state == mig::wire::StepState::Failed);
    let logs = format!("/api/v1/deployments/{id}/logs");
    view! {
        <header class="page-header">
            <p class="crumbs"><a href="/deployments">"Deployments"</a> " / "</p>
            <h1 id="deployment-name">{info.name.clone()}</h1>
            <p class="subtitle">
                <StatusBadge status=info.status /> " "
                <code>{info.mode.clone()}</code> " · "
                <span id="deployment-message">{info.message.clone()}</span>
            </p>
        </header>
        <div class="card detail-actions">
            <Bar done=info.progress.done total=info.progress.total label="steps".into() />
            <div class="toolbar-actions">
                {paused.then(|| view! {
                    <button class="btn" id="resume" title="Retry the node(s) that failed, then roll out the batches after them" disabled=move || asking.get() on:click=on_resume>"Resume rollout"</button>
                })}
                <a class="btn btn-ghost" href=logs target="_blank" id="logs">"Logs (text)"</a>
                {(!is_update).then(|| view! {
                    <button class="btn btn-danger" id="undeploy" disabled=move || !can_undeploy || asking.get() on:click=on_undeploy>
                        {move || if asking.get() { "Undeploying…" } else { "Undeploy" }}
                    </button>
                })}
            </div>
            {move || notice.get().map(|n| view! { <p class="note" id="detail-notice">{n}</p> })}
            {busy_refused.then(|| view! { <RetryWithDrain blueprint=d.blueprint.clone() /> })}
            {is_update.then(|| view! { <RevertUpdate id finished /> })}
        </div>
        {(!d.nodes.is_empty()).then(|| view! { <Reconfiguration nodes=d.nodes.clone() /> })}
        <Replicas placements=d.placements.clone() endpoint=d.endpoint.clone() links=true />
        <Steps steps=d.steps.clone() />
        <details class="card">
            <summary>"Blueprint as submitted"</summary>
            <pre class="blueprint-source">{d.blueprint.clone()}</pre>
        </details>
    }
}

/// Opens deployment `id` from another deployment's page: a whole page load, as the page
/// follows the deployment it was opened on (its event stream and its last state); the router
/// would keep them when only the id in the path changes.
fn open_deployment(navigate: &impl Fn(&str, leptos_router::NavigateOptions), id: i64) {
    let path = format!("/deployments/{id}");
    #[cfg(feature = "hydrate")]
    if window().location().set_href(&path).is_ok() {
        return;
    }
    navigate(&path, Default::default());
}

/// "Retry with drain" for an update refused because workloads ran on instances it destroys: the
/// same blueprint again (its name is free: the failed update has ended), with drain.
#[component]
fn RetryWithDrain(blueprint: String) -> impl IntoView {
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let ready = super::hydrated();
    let navigate = leptos_router::hooks::use_navigate();
    let retry = move |_| {
        busy.set(true);
        let (text, navigate) = (blueprint.clone(), navigate.clone());
        leptos::task::spawn_local(async move {
            match crate::api::deployments::deploy_blueprint(text, true, 1).await {
                Ok(crate::api::deployments::Deployed::Created(d)) => {
                    open_deployment(&navigate, d.id);
                }
                Ok(crate::api::deployments::Deployed::Invalid(issues)) => {
                    let _ = error.try_set(Some(issues.iter().filter(|i| i.is_error()).map(|i| i.message.clone()).collect::<Vec<_>>().join("; ")));
                }
                Err(e) => {
                    let _ = error.try_set(Some(e.to_string()));
                }
            }
            let _ = busy.try_set(false);
        });
    };
    view! {
        <div class="retry-drain" id="retry-drain">
            <p class="muted">"Workloads ran on MIG instances this update removes. With drain, migboard stops them, reconfigures, and starts them again on free slices of their profile."</p>
            <button class="btn btn-primary" id="retry-with-drain" disabled=move || busy.get() || !ready.get() on:click=retry>
                {move || if busy.get() { "Retrying…" } else { "Retry with drain" }}
            </button>
            {move || error.get().map(|e| view! { <p class="banner banner-error" role="alert">{format!("Not retried: {e}")}</p> })}
        </div>
    }
}

/// "Revert to the previous layout" for an update: each node it reconfigured back on the layout
/// it replaced (an update deployment per node), offered only where migboard knows that layout.
#[component]
fn RevertUpdate(id: i64, finished: bool) -> impl IntoView {
    let previous = Resource::new(move || id, previous_layouts);
    let drain = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let ready = super::hydrated();
    let navigate = leptos_router::hooks::use_navigate();
    view! {
        <Transition fallback=|| ()>
            {move || {
                let navigate = navigate.clone();
                Suspend::new(async move {
                    let list = match previous.await {
                        Ok(list) => list,
                        Err(e) => return view! { <p class="banner banner-error" role="alert">{format!("Could not read the layouts it replaced: {e}")}</p> }.into_any(),
                    };
                    let unknown: Vec<String> = list.iter().filter(|p| p.layout.is_none()).map(|p| p.node.clone()).collect();
                    if list.is_empty() {
                        return view! { <p class="muted" id="revert-none">"It reconfigured no node: there is nothing to revert."</p> }.into_any();
                    }
                    if !unknown.is_empty() {
                        return view! {
                            <p class="muted" id="revert-none">
                                {format!("An update has nothing to undeploy: its layout stays until another update changes it. migboard has no earlier layout of {} on record (set before migboard, or by hand), so there is nothing to revert to; apply the layout you want from the node's page or the planner.", unknown.join(", "))}
                            </p>
                        }.into_any();
                    }
                    let targets: Vec<String> = list.iter().filter_map(|p| p.layout.as_ref().map(|l| {
                        let config = l.version.map_or_else(|| l.config.clone(), |v| format!("{} v{v}", l.config));
                        format!("{} → {config} (from {})", p.node, l.deployment)
                    })).collect();
                    let question = format!("Put back the layout this update replaced?\n\n{}\n\nThis starts an update deployment per node.", targets.join("\n"));
                    let revert = move |_| {
                        #[cfg(feature = "hydrate")]
                        if !window().confirm_with_message(&question).unwrap_or(false) {
                            return;
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = &question;
                        busy.set(true);
                        let navigate = navigate.clone();
                        leptos::task::spawn_local(async move {
                            match revert_deployment(id, drain.get_untracked()).await {
                                Ok(started) => {
                                    if let Some(first) = started.first() {
                                        open_deployment(&navigate, first.id);
                                    }
                                }
                                Err(e) => {
                                    let _ = error.try_set(Some(e.to_string()));
                                }
                            }
                            let _ = busy.try_set(false);
                        });
                    };
                    view! {
                        <div class="revert-update" id="revert-update">
                            <p class="muted">"An update has nothing to undeploy: its layout stays until another update changes it. It replaced:"</p>
                            <ul id="revert-targets">{targets.into_iter().map(|t| view! { <li><code>{t}</code></li> }).collect_view()}</ul>
                            <div class="toolbar-row">
                                <button class="btn btn-danger" id="revert-previous" title=if finished { "" } else { "once it has finished" }
                                    disabled=move || !finished || busy.get() || !ready.get() on:click=revert>
                                    {move || if busy.get() { "Reverting…" } else { "Revert to the previous layout" }}
                                </button>
                                <label class="check">
                                    <input id="revert-update-drain" type="checkbox" prop:checked=move || drain.get() on:change=move |ev| drain.set(event_target_checked(&ev)) />
                                    " Drain busy nodes (move replicas in the way)"
                                </label>
                            </div>
                            {move || error.get().map(|e| view! { <p class="banner banner-error" role="alert" id="revert-error">{format!("Not reverted: {e}")}</p> })}
                        </div>
                    }.into_any()
                })
            }}
        </Transition>
    }
}

#[component]
fn Reconfiguration(nodes: Vec<NodeProgress>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="reconf-title">
            <div class="card-head"><h2 id="reconf-title">"Reconfiguration"</h2><span class="muted">"one segment per GPU"</span></div>
            <NodeBars nodes />
        </section>
    }
}

/// One progress row per node, one segment per GPU; node names link to their pages unless `plain`
/// (a shared link's viewer has no access to the rest of migboard).
#[component]
pub(super) fn NodeBars(nodes: Vec<NodeProgress>, #[prop(optional)] plain: bool) -> impl IntoView {
    nodes.into_iter().map(|n| {
        let total = n.gpus.len();
        let done = n.done();
        view! {
            <div class="node-progress" data-node=n.node.clone() data-done=done data-total=total>
                {if plain {
                    view! { <span class="node-progress-name">{n.node.clone()}</span> }.into_any()
                } else {
                    view! { <a class="node-progress-name" href=format!("/fleet/nodes/{}", n.node)>{n.node.clone()}</a> }.into_any()
                }}
                <span class="segments" role="progressbar" aria-valuemin="0" aria-valuemax=total aria-valuenow=done aria-label=format!("{} GPUs reconfigured", n.node)>
                    {n.gpus.iter().map(|(gpu, state)| view! {
                        <span class=format!("segment segment-{state}") data-gpu=*gpu data-state=state.as_str() title=format!("GPU {gpu}: {state}")></span>
                    }).collect_view()}
                </span>
                <span class="bar-text">{format!("{done}/{total} GPUs")}</span>
            </div>
        }
    }).collect_view()
}

/// Read-only links to this deployment: create (7 days), copy, revoke.
#[component]
fn SharePanel(id: i64) -> impl IntoView {
    let links = Resource::new(|| (), move |()| list_shares(id));
    // `data-ready` says the button works: the page's shell hydrates before this lazily loaded
    // part does, and a click in between would be lost.
    let (ready, set_ready) = signal(false);
    Effect::new(move |_| set_ready.set(true));
    let (created, set_created) = signal(None::<String>);
    let (error, set_error) = signal(None::<String>);
    let create = move |_| {
        leptos::task::spawn_local(async move {
            match create_share(id, 7).await {
                Ok(c) => {
                    let origin = {
                        #[cfg(feature = "hydrate")]
                        {
                            window().location().origin().unwrap_or_default()
                        }
                        #[cfg(not(feature = "hydrate"))]
                        {
                            String::new()
                        }
                    };
                    set_created.set(Some(format!("{origin}{}", c.path.expose())));
                    set_error.set(None);
                    links.refetch();
                }
                Err(e) => set_error.set(Some(format!("No link made: {e}"))),
            }
        });
    };
    let revoke = move |share_id: i64| {
        leptos::task::spawn_local(async move {
            if let Err(e) = revoke_share(share_id).await {
                set_error.set(Some(format!("Not revoked: {e}")));
            }
            links.refetch();
        });
    };
    view! {
        <section class="card" aria-labelledby="share-title">
            <div class="card-head">
                <h2 id="share-title">"Share"</h2>
                <button class="btn btn-ghost" id="share-create" data-ready=move || ready.get().to_string() on:click=create title="A link anyone can open for 7 days to watch this deployment; it can change nothing and does not show the blueprint">"Create read-only link"</button>
            </div>
            {move || created.get().map(|url| view! {
                <p class="note">"Anyone with this link can watch this deployment for 7 days (shown once; copy it now): "
                    <input class="share-url" id="share-url" readonly=true value=url.clone() on:focus=move |e| {
                        #[cfg(feature = "hydrate")]
                        {
                            use wasm_bindgen::JsCast as _;
                            if let Some(i) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                                i.select();
                            }
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = e;
                    } />
                </p>
                <div class="copy-row"><super::CopyButton text=url id="copy-share-url" /></div>
            })}
            {move || error.get().map(|e| view! { <p class="banner banner-error" role="alert">{e}</p> })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match links.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No links yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="share-links" id="share-links">
                                {list.into_iter().map(|l| {
                                    let sid = l.id;
                                    let state = if l.revoked_ms.is_some() { "revoked".to_owned() } else { format!("expires {}", day(l.expires_ms)) };
                                    view! {
                                        <li data-share=sid data-revoked=l.revoked_ms.is_some().to_string()>
                                            {format!("link #{sid}, made {} · {state}", day(l.created_ms))}
                                            {l.revoked_ms.is_none().then(|| view! { " " <button class="btn btn-ghost btn-small revoke" on:click=move |_| revoke(sid)>"Revoke"</button> })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="banner banner-error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// `YYYY-MM-DD HH:MM UTC` of Unix milliseconds.
fn day(ms: i64) -> String {
    mig::time::Utc::from_unix_ms(ms).minutes()
}

/// The lazily loaded shared-link route.
#[derive(Debug, Clone, Copy)]
pub struct SharedRoute;

#[lazy_route]
impl LazyRoute for SharedRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let SharedRoute = this;
        view! { <SharedPage /> }.into_any()
    }
}

/// `/share/:token`: a deployment, read-only and live, for whoever has the link.
#[component]
pub fn SharedPage() -> impl IntoView {
    let params = use_params_map();
    let token = params.with_untracked(|p| p.get("token").unwrap_or_default());
    let t = token.clone();
    let rendered = Resource::new(move || t.clone(), get_shared);
    let (fresh, set_fresh) = signal(None::<Result<DeploymentDetail, AppError>>);
    let t = token.clone();
    follow(
        format!("/api/v1/share/{token}/events"),
        &["deployment", "step"],
        set_fresh,
        move || Box::pin(get_shared(t.clone())),
    );
    view! {
        <Title text="Shared deployment" />
        <Transition fallback=|| view! { <p class="muted">"Reading…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(d) => view! {
                        <header class="page-header">
                            <p class="crumbs">"Shared with you, read-only"</p>
                            <h1 id="deployment-name">{d.deployment.name.clone()}</h1>
                            <p class="subtitle"><StatusBadge status=d.deployment.status /> " " <code>{d.deployment.mode.clone()}</code> " · " <span id="deployment-message">{d.deployment.message.clone()}</span></p>
                        </header>
                        {(!d.nodes.is_empty()).then(|| view! {
                            <section class="card" aria-label="Reconfiguration">
                                <NodeBars nodes=d.nodes.clone() plain=true />
                            </section>
                        })}
                        // No links to node pages: they need a session the link's holder has not.
                        <Replicas placements=d.placements.clone() endpoint=d.endpoint.clone() links=false />
                        <Steps steps=d.steps.clone() />
                    }.into_any(),
                    Err(AppError::Gone(m) | AppError::NotFound(m)) => view! {
                        <section class="empty-state" id="share-refused">
                            <h2>"This link shows nothing"</h2>
                            <p>{m} ". Ask whoever shared it for a new link."</p>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read it: {e}")}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Where each replica runs, in the words of the page's header (a placed replica's process runs:
/// the monitor restarts it if it stops), and where the service answers.
#[component]
fn Replicas(
    placements: Vec<mig::wire::PlacementInfo>,
    endpoint: Option<mig::wire::ServiceEndpoint>,
    links: bool,
) -> impl IntoView {
    if placements.is_empty() && endpoint.is_none() {
        return ().into_any();
    }
    let count = placements.len();
    view! {
        <section class="card" id="replicas">
            <div class="card-head"><h2>"Replicas"</h2><span class="muted">{format!("{count} placed")}</span></div>
            {endpoint.map(|e| match e {
                mig::wire::ServiceEndpoint::Url { url } => view! {
                    <p id="service-endpoint" data-endpoint="url">"Service endpoint (in the cluster): " <code>{url}</code></p>
                }.into_any(),
                mig::wire::ServiceEndpoint::None { why } => view! {
                    <p id="service-endpoint" class="muted" data-endpoint="none">{format!("No service endpoint: {why}.")}</p>
                }.into_any(),
            })}
            {(!placements.is_empty()).then(|| view! {
                <div class="table-scroll">
                <table class="placements" id="placements">
                    <thead><tr><th>"Replica"</th><th>"Node"</th><th>"GPU"</th><th>"Slice"</th><th>"Process"</th><th>"State"</th></tr></thead>
                    <tbody>
                        {placements.into_iter().map(|p| {
                            let state = match p.state {
                                mig::wire::PlacementState::Placed => "running",
                                mig::wire::PlacementState::Displaced => "waiting for a slice (drained)",
                            };
                            view! {
                                <tr data-replica=p.replica data-state=p.state.as_str()>
                                    <td>{p.replica}</td>
                                    <td>{if links {
                                        view! { <a href=format!("/fleet/nodes/{}", p.node)>{p.node.clone()}</a> }.into_any()
                                    } else {
                                        view! { <span>{p.node.clone()}</span> }.into_any()
                                    }}</td>
                                    <td>{p.gpu}</td>
                                    <td><code>{format!("{}@{}", p.profile, p.start)}</code></td>
                                    <td>{p.pid}</td>
                                    <td class="replica-state">{state}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            })}
        </section>
    }
    .into_any()
}

#[component]
fn Steps(steps: Vec<StepInfo>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="steps-title">
            <div class="card-head"><h2 id="steps-title">"Steps"</h2><span class="muted">{format!("{} in the log", steps.len())}</span></div>
            {if steps.is_empty() {
                view! { <p class="muted">"No step yet: the orchestrator picks it up in a moment."</p> }.into_any()
            } else {
                view! {
                    <ol class="timeline" id="steps">
                        {steps.into_iter().map(|s| view! {
                            <li class=format!("step step-{}", s.state) data-key=s.key.clone() data-state=s.state.as_str()>
                                <time>{clock(s.at_ms)}</time>
                                <span class="step-state">{s.state.as_str().replace('_', " ")}</span>
                                <code class="step-key">{s.key.clone()}</code>
                                <span class="step-msg">{s.message.clone()}</span>
                            </li>
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}
