//! `/`: the fleet overview, the home page.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use leptos_router::{LazyRoute, lazy_route};

use super::{EmptyState, PageHeader};
use crate::api::fleet::get_fleet;
use crate::api::status::{ServerStatus, get_status};
use crate::error::AppError;

/// The fleet page, a lazy route like every page: the bundle every page loads stays small.
#[derive(Debug, Clone, Copy)]
pub struct FleetRoute;

#[lazy_route]
impl LazyRoute for FleetRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let FleetRoute = this;
        view! { <FleetPage /> }.into_any()
    }
}

/// How often the status card refreshes itself once the page is interactive.
const STATUS_REFRESH: Duration = Duration::from_secs(10);

/// The home page: server status and the fleet.
#[component]
pub fn FleetPage() -> impl IntoView {
    // The server renders the status (the resource) during SSR. Once hydrated, the browser asks again
    // at once and then every STATUS_REFRESH, writing into `fresh`, which supersedes the rendered value.
    // A plain signal rather than `Resource::refetch`: right after hydration a refetch was measured to
    // be lost now and then, depending on whether the streamed resource data had arrived yet.
    let status = Resource::new(|| (), |()| get_status());
    let (fresh, set_fresh) = signal(None::<Result<ServerStatus, AppError>>);
    let refresh =
        move || leptos::task::spawn_local(async move { set_fresh.set(Some(get_status().await)) });
    Effect::new(move |_| {
        refresh();
        if let Ok(handle) = set_interval_with_handle(refresh, STATUS_REFRESH) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <Title text="Fleet" />
        <PageHeader
            title="Fleet"
            subtitle="Node pools, their GPUs and how each GPU is sliced into MIG instances."
        />
        <section class="card status-card" aria-labelledby="server-status-title">
            <div class="card-head">
                <h2 id="server-status-title">"Server"</h2>
                <button
                    class="btn btn-ghost"
                    on:click=move |_| refresh()
                    title="Ask the server again now"
                >
                    "Refresh"
                </button>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Asking the server…"</p> }>
                {move || Suspend::new(async move {
                    let rendered = status.await;
                    move || match fresh.get().unwrap_or_else(|| rendered.clone()) {
                        Ok(s) => view! { <StatusFacts status=s /> }.into_any(),
                        Err(e) => {
                            view! {
                                <p class="error" role="alert" id="server-status-error">
                                    {format!("Could not read the server status: {e}")}
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
        <FleetLayout />
    }
}

#[component]
fn StatusFacts(status: ServerStatus) -> impl IntoView {
    view! {
        <dl class="facts" id="server-status" data-sequence=status.sequence.to_string()>
            <div>
                <dt>"Version"</dt>
                <dd id="server-version">{status.version}</dd>
            </div>
            <div>
                <dt>"Backend"</dt>
                <dd id="server-backend">{status.backend}</dd>
            </div>
            <div>
                <dt>"Uptime"</dt>
                <dd>{format_duration(status.uptime_secs)}</dd>
            </div>
            <div>
                <dt>"Checked"</dt>
                <dd>
                    <time id="server-checked">{format_utc_time(status.now_unix_ms)} " UTC"</time>
                    <span class="muted">{format!(" · answer #{}", status.sequence)}</span>
                </dd>
            </div>
        </dl>
    }
}

/// `3725` → `1 h 2 min 5 s`; leading zero units are left out.
fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    for (value, unit) in [(d, "d"), (h, "h"), (m, "min")] {
        if value > 0 || !parts.is_empty() {
            parts.push(format!("{value} {unit}"));
        }
    }
    parts.push(format!("{s} s"));
    parts.join(" ")
}

/// Milliseconds since the epoch → `HH:MM:SS` in UTC, without a date library.
fn format_utc_time(unix_ms: u64) -> String {
    mig::time::Utc::from_unix_ms(i64::try_from(unix_ms).unwrap_or(i64::MAX)).clock()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(0), "0 s");
        assert_eq!(format_duration(59), "59 s");
        assert_eq!(format_duration(3725), "1 h 2 min 5 s");
        assert_eq!(format_duration(86_400 + 5), "1 d 0 h 0 min 5 s");
    }

    #[test]
    fn utc_time_of_day() {
        // 2026-11-25T13:04:05.999Z
        assert_eq!(format_utc_time(1_795_611_845_999), "13:04:05");
        assert_eq!(format_utc_time(0), "00:00:00");
    }
}

/// Every pool, node and GPU with its MIG layout; slices with processes on them are marked in use.
#[component]
pub(super) fn FleetLayout() -> impl IntoView {
    let rendered = Resource::new(|| (), |()| get_fleet());
    let (fresh, set_fresh) = signal(None::<Result<mig::wire::Fleet, AppError>>);
    // Read again on every fleet change the server announces (a layout, a placement, a removal),
    // as the deployment pages do: at once, not at the next tick of a poll (#22 item 8).
    super::deployments::follow("/api/v1/events".into(), &["fleet"], set_fresh, || {
        Box::pin(get_fleet())
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Reading the fleet…"</p> }>
            {move || Suspend::new(async move {
                let first = rendered.await;
                move || match fresh.get().unwrap_or_else(|| first.clone()) {
                    Ok(fleet) if fleet.nodes.is_empty() => view! {
                        <EmptyState title="No GPU nodes to show yet">
                            <p>
                                "The cluster reports no GPU nodes. Meanwhile, lay out MIG slices on the "
                                <a href="/plan">"Plan"</a> " page or check a blueprint on the "
                                <a href="/blueprints">"Blueprints"</a> " page."
                            </p>
                        </EmptyState>
                    }.into_any(),
                    Ok(fleet) => view! { <FleetPools fleet /> }.into_any(),
                    Err(e) => view! {
                        <p class="banner banner-error" role="alert" id="fleet-error">{format!("Could not read the fleet: {e}")}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub(super) fn FleetPools(fleet: mig::wire::Fleet) -> impl IntoView {
    // Free and used slices per profile across the fleet.
    let mut totals: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    for g in fleet.nodes.iter().flat_map(|n| &n.gpus) {
        for i in &g.instances {
            let e = totals.entry(i.profile.clone()).or_default();
            if g.busy.iter().any(|b| b.start == i.start) {
                e.1 += 1
            } else {
                e.0 += 1
            }
        }
    }
    let gpus: usize = fleet.nodes.iter().map(|n| n.gpus.len()).sum();
    let summary = format!(
        "{} pools · {} nodes · {gpus} GPUs",
        fleet.pools.len(),
        fleet.nodes.len()
    );
    view! {
        <section class="card" aria-labelledby="fleet-slices-title">
            <div class="card-head"><h2 id="fleet-slices-title">"MIG slices"</h2><span class="muted" id="fleet-summary">{summary}</span></div>
            <table class="fleet-totals" id="fleet-totals">
                <thead><tr><th>"Profile"</th><th>"Free"</th><th>"In use"</th><th>"Resource"</th></tr></thead>
                <tbody>
                    {totals.into_iter().map(|(p, (free, used))| view! {
                        <tr data-profile=p.clone()><td><code>{p.clone()}</code></td><td class="free">{free}</td><td class="used">{used}</td><td><code>{mig::profile::resource_name(&p)}</code></td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        {fleet.pools.iter().map(|pool| {
            let nodes: Vec<_> = fleet.nodes.iter().filter(|n| n.pool == pool.name).cloned().collect();
            view! {
                <section class="card fleet-pool" data-pool=pool.name.clone()>
                    <div class="card-head">
                        <h2>{pool.name.clone()}</h2>
                        <span class="muted">{format!("{} × {} · {} pods per node", nodes.len(), pool.shape, pool.max_pods_per_node)}</span>
                    </div>
                    {nodes.into_iter().map(|node| view! { <FleetNode node /> }).collect_view()}
                </section>
            }
        }).collect_view()}
    }
}

/// One node with every GPU's layout; busy slices marked.
#[component]
pub(super) fn FleetNode(node: mig::wire::FleetNodeInfo) -> impl IntoView {
    let config = node
        .mig_config
        .clone()
        .unwrap_or_else(|| "custom layout".to_owned());
    // "Open in planner": the node's live layout, every GPU, as a plan link.
    let plan_link = mig::shape::shape(&node.shape)
        .and_then(|shape| mig::NodePlan::from_inventory(shape, &node.gpus).ok())
        .map(|plan| format!("/plan?{}", plan.to_query()));
    let resets: Vec<String> = node
        .gpus
        .iter()
        .filter(|g| g.pending_mig_mode.is_some())
        .map(|g| g.index.to_string())
        .collect();
    let resets = (!resets.is_empty()).then(|| resets.join(", "));
    // Embedded views are read-only and stay on their page: no links out, no actions.
    let embedded = leptos_router::hooks::use_location()
        .pathname
        .get_untracked()
        .starts_with("/embed");
    let plan_link = plan_link.filter(|_| !embedded);
    let drift = node.drift.clone().map(|d| {
        let have = |gpu: u32| {
            node.gpus
                .iter()
                .find(|g| g.index == gpu)
                .map(|g| {
                    if g.mig_mode == mig::MigMode::Disabled {
                        "MIG off".to_owned()
                    } else {
                        g.instances
                            .iter()
                            .map(|i| format!("{}@{}", i.profile, i.start))
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                })
                .unwrap_or_default()
        };
        let lines: Vec<String> = d
            .gpus
            .iter()
            .map(|g| {
                let want = g.want.as_ref().map_or_else(
                    || "MIG off".to_owned(),
                    |w| {
                        w.iter()
                            .map(|i| format!("{}@{}", i.profile, i.start))
                            .collect::<Vec<_>>()
                            .join(" ")
                    },
                );
                format!(
                    "GPU {}: has {}, {} wants {want}",
                    g.gpu,
                    have(g.gpu),
                    d.config
                )
            })
            .collect();
        (d.config, lines)
    });
    view! {
        <div class="fleet-node" data-node=node.name.clone()>
            <div class="fleet-node-head">
                {if embedded {
                    view! { <strong class="fleet-node-name">{node.name.clone()}</strong> }.into_any()
                } else {
                    view! { <a class="fleet-node-name" href=format!("/fleet/nodes/{}", node.name)><strong>{node.name.clone()}</strong></a> }.into_any()
                }}
                <span class="muted">{format!(" · {} · ", node.shape)}</span>
                <span class="fleet-config">{config}</span>
                {plan_link.map(|href| view! { <a class="btn btn-ghost btn-small open-in-planner" href=href>"Open in planner"</a> })}
            </div>
            {drift.map(|(config, lines)| {
                let node_name = node.name.clone();
                let error = RwSignal::new(None::<String>);
                let navigate = leptos_router::hooks::use_navigate();
                let config_for_button = config.clone();
                let reapply = move |_| {
                    let blueprint = serde_json::json!({
                        "recipe_mode": "update",
                        "deployment_name": format!("reapply-{config_for_button}-{node_name}-{}", crate::pages::now_ms() % 1_000_000),
                        "recipe_node_name": node_name,
                        "shared_node_pool_mig_config": config_for_button,
                    })
                    .to_string();
                    let navigate = navigate.clone();
                    leptos::task::spawn_local(async move {
                        match crate::api::deployments::deploy_blueprint(blueprint, false).await {
                            Ok(crate::api::deployments::Deployed::Created(info)) => {
                                navigate(&format!("/deployments/{}", info.id), Default::default());
                            }
                            Ok(crate::api::deployments::Deployed::Invalid(issues)) => error.set(Some(
                                issues.iter().filter(|i| i.is_error()).map(|i| i.message.clone()).collect::<Vec<_>>().join("; "),
                            )),
                            Err(e) => error.set(Some(e.to_string())),
                        }
                    });
                };
                view! {
                    <div class="banner drifted" data-drift=config.clone()>
                        <strong>{format!("Drifted from {config}")}</strong>
                        " — changed outside migboard (nvidia-smi mig by hand?):"
                        <ul>{lines.into_iter().map(|l| view! { <li><code>{l}</code></li> }).collect_view()}</ul>
                        {(!embedded).then(|| view! {
                            <button class="btn btn-small reapply" on:click=reapply>{format!("Re-apply {config}")}</button>
                        })}
                        {move || error.get().map(|e| view! { <p class="error" role="alert">{format!("Could not re-apply: {e}")}</p> })}
                    </div>
                }
            })}
            {resets.map(|gpus| view! {
                <p class="banner reset-pending" data-reset-pending=gpus.clone()>
                    {format!("Waiting for GPU reset on GPU {gpus}: a MIG mode change is requested and takes effect when the GPU is reset (nvidia-smi --gpu-reset, a reboot, or an update deployed with drain).")}
                </p>
            })}
            {node.error.clone().map(|e| view! { <p class="banner banner-error">{format!("Unavailable: {e}")}</p> })}
            {node.mig_state.clone().map(|s| {
                let failed = s == "failed";
                let text = if failed {
                    "The last MIG change failed (nvidia.com/mig.config.state=failed): the layout shown is what the node advertises; apply a config again.".to_owned()
                } else {
                    format!("A MIG change is under way (nvidia.com/mig.config.state={s}): its slices are not offered until it ends.")
                };
                view! { <p class="banner" class:banner-error=failed data-mig-state=s>{text}</p> }
            })}
            <div class="fleet-gpus">
                {node.gpus.into_iter().map(|g| {
                    let model = g.model;
                    let label = match g.pending_mig_mode {
                        Some(mig::MigMode::Enabled) => format!("GPU {} · reset → MIG on", g.index),
                        Some(mig::MigMode::Disabled) => format!("GPU {} · reset → MIG off", g.index),
                        None => format!("GPU {}", g.index),
                    };
                    let cells = if g.mig_mode == mig::MigMode::Enabled {
                        g.instances.iter().map(|i| {
                            let slices = model.and_then(|m| m.profile(&i.profile)).map_or(1, |p| p.memory_slices());
                            let busy = g.busy.iter().any(|b| b.start == i.start);
                            let style = format!("grid-column: {} / span {slices}", i.start + 1);
                            let owner = g.busy.iter().find(|b| b.start == i.start).map(|b| b.owners.join(", ")).filter(|o| !o.is_empty());
                            let title = match (busy, owner) {
                                (true, Some(o)) => format!("{} at {} — in use by {o}", i.profile, i.start),
                                (true, None) => format!("{} at {} — in use", i.profile, i.start),
                                _ => format!("{} at {} — free", i.profile, i.start),
                            };
                            view! { <div class="fleet-inst" class:busy=busy style=style title=title data-profile=i.profile.clone() data-start=i.start>{i.profile.clone()}</div> }
                        }).collect_view().into_any()
                    } else {
                        view! { <div class="fleet-inst fleet-whole" style="grid-column: 1 / span 8">"MIG off · whole GPU"</div> }.into_any()
                    };
                    view! {
                        <div class="fleet-gpu" data-gpu=g.index>
                            <span class="fleet-gpu-name">{label}</span>
                            <div class="fleet-bar">{cells}</div>
                        </div>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}
