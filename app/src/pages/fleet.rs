//! `/`: the fleet overview, the home page.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use leptos_router::{LazyRoute, lazy_route};

use super::fleet_browse::FleetBrowser;
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
        <FleetBrowser />
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

use mig::wire::SliceUse;

/// One profile's use as a bar: in use, then free.
#[component]
fn UseBar(used: u32, free: u32) -> impl IntoView {
    let total = (used + free).max(1);
    let pct = f64::from(used) * 100.0 / f64::from(total);
    view! {
        <span class="use-bar" role="img" aria-label=format!("{used} of {} in use", used + free)>
            <span class="use-bar-used" style=format!("width: {pct:.1}%")></span>
        </span>
    }
}

/// The fleet: per-pool use first (instances per profile, in use and free, and stranded memory),
/// a legend, then every pool's nodes with their GPUs.
#[component]
pub(super) fn FleetPools(fleet: mig::wire::Fleet) -> impl IntoView {
    let gpus: usize = fleet.nodes.iter().map(|n| n.gpus.len()).sum();
    let summary = format!(
        "{} pools · {} nodes · {gpus} GPUs",
        fleet.pools.len(),
        fleet.nodes.len()
    );
    let embedded = embedded();
    let totals = SliceUse::of(&fleet.nodes);
    let per_pool: Vec<(String, String, usize, SliceUse, Option<String>)> = fleet
        .pools
        .iter()
        .map(|pool| {
            let nodes: Vec<&mig::wire::FleetNodeInfo> =
                fleet.nodes.iter().filter(|n| n.pool == pool.name).collect();
            let link = pool_plan_link(&pool.name, &nodes).filter(|_| !embedded);
            (pool.name.clone(), pool.shape.clone(), nodes.len(), SliceUse::of(nodes), link)
        })
        .collect();
    view! {
        <section class="card" aria-labelledby="fleet-slices-title" id="pool-use">
            <div class="card-head"><h2 id="fleet-slices-title">"MIG slices by pool"</h2><span class="muted" id="fleet-summary">{summary}</span></div>
            <div class="pool-use-grid">
                {per_pool.into_iter().map(|(name, shape, nodes, u, link)| view! {
                    <div class="pool-use" data-pool=name.clone()>
                        <h3>
                            // Embedded views lead nowhere, not even within the page.
                            {if embedded {
                                view! { <strong>{name.clone()}</strong> }.into_any()
                            } else {
                                view! { <a href=format!("#pool-{name}")>{name.clone()}</a> }.into_any()
                            }}
                            <span class="muted">{format!(" · {nodes} × {shape}")}</span>
                            {link.map(|href| view! { <a class="btn btn-ghost btn-small open-in-planner" href=href title="Plan a new layout for this pool; export it as an update of the pool">"Open in planner"</a> })}
                        </h3>
                        <UseTable u />
                    </div>
                }).collect_view()}
            </div>
            <FleetTotals slices=totals />
        </section>
        {fleet.pools.iter().map(|pool| {
            let nodes: Vec<_> = fleet.nodes.iter().filter(|n| n.pool == pool.name).cloned().collect();
            view! {
                <section class="card fleet-pool" data-pool=pool.name.clone() id=format!("pool-{}", pool.name)>
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

/// Every pool's instances per profile together (folded), then the legend.
#[component]
pub(super) fn FleetTotals(slices: SliceUse) -> impl IntoView {
    view! {
        <details class="fleet-totals-all">
            <summary>"All pools"</summary>
            <table class="fleet-totals" id="fleet-totals">
                <thead><tr><th>"Profile"</th><th>"Free"</th><th>"In use"</th><th>"Resource"</th></tr></thead>
                <tbody>
                    {slices.profiles.into_iter().map(|(p, u)| view! {
                        <tr data-profile=p.clone()><td><code>{p.clone()}</code></td><td class="free">{u.free}</td><td class="used">{u.used}</td><td><code>{mig::profile::resource_name(&p)}</code></td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </details>
        <Legend />
    }
}

/// One pool's instances per profile: a bar of in use against free, the counts, the resource name.
#[component]
pub(super) fn UseTable(u: SliceUse) -> impl IntoView {
    let stranded = u.stranded;
    let whole = u.whole;
    view! {
        <table class="pool-use-table">
            <tbody>
                {u.profiles.into_iter().map(|(p, x)| view! {
                    <tr data-profile=p.clone()>
                        <td><code>{p.clone()}</code></td>
                        <td class="bar-cell"><UseBar used=x.used free=x.free /></td>
                        <td class="counts"><span class="used">{x.used}</span>" in use · "<span class="free">{x.free}</span>" free"</td>
                        <td class="resource"><code>{mig::profile::resource_name(&p)}</code></td>
                    </tr>
                }).collect_view()}
                {(whole > 0).then(|| view! {
                    <tr class="whole"><td colspan="4">{format!("{whole} GPU{} with MIG off (whole GPUs)", if whole == 1 { "" } else { "s" })}</td></tr>
                })}
                {(stranded > 0).then(|| view! {
                    <tr class="stranded" data-stranded=stranded><td colspan="4">
                        <span class="swatch swatch-stranded"></span>
                        {format!(" {stranded} memory slice{} not in any instance: stranded until the layout changes", if stranded == 1 { "" } else { "s" })}
                    </td></tr>
                })}
            </tbody>
        </table>
    }
}

/// What the colours of a GPU bar mean.
#[component]
fn Legend() -> impl IntoView {
    view! {
        <ul class="legend" id="fleet-legend" aria-label="Legend">
            <li><span class="swatch swatch-free"></span>" Free instance"</li>
            <li><span class="swatch swatch-busy"></span>" In use (the replica is named on it)"</li>
            <li><span class="swatch swatch-stranded"></span>" Stranded: memory no instance covers"</li>
            <li><span class="swatch swatch-whole"></span>" MIG off: the whole GPU"</li>
        </ul>
    }
}

/// Whether this page is an embedded (read-only, no links out) view.
fn embedded() -> bool {
    leptos_router::hooks::use_location()
        .pathname
        .get_untracked()
        .starts_with("/embed")
}

use mig::wire::browse::plan_link;

/// The planner on a pool: its first node's layout for every node of the pool.
fn pool_plan_link(pool: &str, nodes: &[&mig::wire::FleetNodeInfo]) -> Option<String> {
    let first = nodes.first()?;
    plan_link(
        first,
        u32::try_from(nodes.len()).ok()?,
        &mig::planner::UpdateTarget::Pool(pool.to_owned()),
    )
}

/// One node with every GPU's layout; busy slices marked.
#[component]
pub(super) fn FleetNode(node: mig::wire::FleetNodeInfo) -> impl IntoView {
    let config = node
        .mig_config
        .clone()
        .unwrap_or_else(|| "custom layout".to_owned());
    // "Open in planner" (and the config name): the node's live layout, every GPU, as a plan link
    // whose export is an update of this node.
    let plan_link = plan_link(
        &node,
        1,
        &mig::planner::UpdateTarget::Node(node.name.clone()),
    );
    let resets: Vec<String> = node
        .gpus
        .iter()
        .filter(|g| g.pending_mig_mode.is_some())
        .map(|g| g.index.to_string())
        .collect();
    let resets = (!resets.is_empty()).then(|| resets.join(", "));
    // Embedded views are read-only and stay on their page: no links out, no actions.
    let embedded = embedded();
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
                {match plan_link.clone() {
                    Some(href) => view! { <a class="fleet-config" href=href title="Open this layout in the planner">{config}</a> }.into_any(),
                    None => view! { <span class="fleet-config">{config}</span> }.into_any(),
                }}
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
                        match crate::api::deployments::deploy_blueprint(blueprint, false, 1).await {
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
                        let covered = g.used_mask();
                        let instances = g.instances.iter().map(|i| {
                            let slices = model.and_then(|m| m.profile(&i.profile)).map_or(1, |p| p.memory_slices());
                            let owner = g.busy.iter().find(|b| b.start == i.start).map(|b| b.owners.join(", "));
                            let busy = owner.is_some();
                            let style = format!("grid-column: {} / span {slices}", i.start + 1);
                            let title = match owner.as_deref() {
                                Some(o) if !o.is_empty() => format!("{} at {} — in use by {o}", i.profile, i.start),
                                Some(_) => format!("{} at {} — in use", i.profile, i.start),
                                None => format!("{} at {} — free", i.profile, i.start),
                            };
                            view! {
                                <div class="fleet-inst" class:busy=busy style=style title=title.clone() aria-label=title data-profile=i.profile.clone() data-start=i.start>
                                    <ProfileLabel profile=i.profile.clone() />
                                    {owner.filter(|o| !o.is_empty()).map(|o| view! { <span class="inst-owner">{o}</span> })}
                                </div>
                            }
                        }).collect_view();
                        // Memory slices no instance covers: stranded capacity, drawn as such.
                        let gaps = (0..mig::model::MEMORY_SLICES).filter(|s| covered & (1 << s) == 0).map(|s| view! {
                            <div class="fleet-gap" style=format!("grid-column: {} / span 1", s + 1) title=format!("memory slice {s}: in no instance (stranded)")></div>
                        }).collect_view();
                        view! { {instances} {gaps} }.into_any()
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

/// `1g.10gb` as `1g` + `.10gb` (+ `+me`), with break opportunities between: on a narrow slice the
/// name wraps onto two lines instead of being cut to `1g.1…`.
#[component]
fn ProfileLabel(profile: String) -> impl IntoView {
    let (compute, rest) = profile.split_once('.').map_or((profile.as_str(), ""), |(c, r)| (c, r));
    let (memory, suffix) = rest.split_once('+').map_or((rest, None), |(m, s)| (m, Some(s)));
    view! {
        <span class="inst-profile">
            <span>{compute.to_owned()}</span><wbr /><span>{format!(".{memory}")}</span>
            {suffix.map(|s| view! { <wbr /><span>{format!("+{s}")}</span> })}
        </span>
    }
}
