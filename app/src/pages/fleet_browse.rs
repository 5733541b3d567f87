//! The fleet page's pools and nodes at any fleet size: pools in counts, filters in the address, and
//! one page of nodes at a time. Nothing here holds the whole fleet: the server answers a summary
//! ([`mig::wire::FleetSummary`]) and the page of nodes a [`NodeQuery`] picks.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use mig::wire::{CUSTOM_LAYOUT, FleetSummary, NODES_PER_PAGE, NodePage, NodeQuery, PoolSummary};

use super::fleet::{FleetNode, FleetTotals, UseTable};
use crate::api::fleet::{get_fleet_nodes, get_fleet_summary};
use crate::error::AppError;

/// The fleet's address with `query` (`/` when it filters nothing).
fn href(query: &NodeQuery) -> String {
    match query.to_query() {
        q if q.is_empty() => "/".to_owned(),
        q => format!("/?{q}"),
    }
}

/// What the page shows: the summary and one page of nodes, read together.
type Read = (Result<FleetSummary, AppError>, Result<NodePage, AppError>);

/// Pools in counts, the filters, and the page of matching nodes, live.
#[component]
pub fn FleetBrowser() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.get();
        NodeQuery::from_params(|k| p.get(k))
    });
    let summary = Resource::new(|| (), |()| get_fleet_summary());
    let page = Resource::new(move || query.get(), get_fleet_nodes);
    // On every fleet change the server announces, both again, for the query shown then.
    let (fresh, set_fresh) = signal(None::<(NodeQuery, Read)>);
    super::deployments::follow("/api/v1/events".into(), &["fleet"], set_fresh, move || {
        let q = query.get_untracked();
        Box::pin(async move {
            let read = (get_fleet_summary().await, get_fleet_nodes(q.clone()).await);
            (q, read)
        })
    });
    let navigate = use_navigate();
    let go = Callback::new(move |q: NodeQuery| {
        navigate(
            &href(&q),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    let live_summary = move |first: Result<FleetSummary, AppError>| match fresh.get() {
        Some((_, (s, _))) => s,
        None => first,
    };
    view! {
        <Transition fallback=|| view! { <p class="muted">"Reading the fleet…"</p> }>
            {move || Suspend::new(async move {
                let first = summary.await;
                move || match live_summary(first.clone()) {
                    Ok(s) if s.nodes == 0 => view! {
                        <super::EmptyState title="No GPU nodes to show yet">
                            <p>
                                "The cluster reports no GPU nodes. Meanwhile, lay out MIG slices on the "
                                <a href="/plan">"Plan"</a> " page or check a blueprint on the "
                                <a href="/blueprints">"Blueprints"</a> " page."
                            </p>
                        </super::EmptyState>
                    }.into_any(),
                    Ok(s) => view! { <PoolCards summary=s /> }.into_any(),
                    Err(e) => view! {
                        <p class="banner banner-error" role="alert" id="fleet-error">{format!("Could not read the fleet: {e}")}</p>
                    }.into_any(),
                }
            })}
        </Transition>
        // The filters outside the live parts: typing in the search box never loses focus to a
        // re-render.
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match summary.await {
                    Ok(s) if s.nodes > 0 => view! { <Filters summary=s query go /> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| view! { <p class="muted">"Reading nodes…"</p> }>
            {move || Suspend::new(async move {
                let first_summary = summary.await;
                let first_page = page.await;
                move || {
                    let q = query.get();
                    let (s, p) = match fresh.get() {
                        Some((fq, (s, p))) if fq == q => (s, p),
                        _ => (first_summary.clone(), first_page.clone()),
                    };
                    match (s, p) {
                        (Ok(s), Ok(p)) if s.nodes > 0 => view! { <NodeList summary=s page=p /> }.into_any(),
                        (Ok(_), Ok(_)) => ().into_any(),
                        (Err(e), _) | (_, Err(e)) => view! {
                            <p class="banner banner-error" role="alert">{format!("Could not read the nodes: {e}")}</p>
                        }.into_any(),
                    }
                }
            })}
        </Transition>
    }
}

/// Per pool: instances per profile in use and free, stranded memory, nodes drifted and busy, each a
/// link to those nodes; then the whole fleet's totals and the legend.
#[component]
fn PoolCards(summary: FleetSummary) -> impl IntoView {
    let line = format!(
        "{} pools · {} nodes · {} GPUs",
        summary.pools.len(),
        summary.nodes,
        summary.gpus
    );
    let pool_href = |pool: &str, f: fn(&mut NodeQuery)| {
        let mut q = NodeQuery {
            pool: Some(pool.to_owned()),
            ..NodeQuery::default()
        };
        f(&mut q);
        format!("{}#fleet-nodes", href(&q))
    };
    view! {
        <section class="card" aria-labelledby="fleet-slices-title" id="pool-use">
            <div class="card-head"><h2 id="fleet-slices-title">"MIG slices by pool"</h2><span class="muted" id="fleet-summary">{line}</span></div>
            <div class="pool-use-grid">
                {summary.pools.into_iter().map(|p: PoolSummary| {
                    let flags = [
                        (p.drifted, "drifted", pool_href(&p.name, |q| q.drifted = true)),
                        (p.busy, "busy", pool_href(&p.name, |q| q.busy = true)),
                        (p.unavailable, "unavailable", pool_href(&p.name, |_| ())),
                    ];
                    view! {
                        <div class="pool-use" data-pool=p.name.clone() data-nodes=p.nodes>
                            <h3>
                                <a href=pool_href(&p.name, |_| ()) title="List this pool's nodes">{p.name.clone()}</a>
                                <span class="muted">{format!(" · {} × {}", p.nodes, p.shape)}</span>
                                {p.plan_link.clone().map(|href| view! { <a class="btn btn-ghost btn-small open-in-planner" href=href title="Plan a new layout for this pool; export it as an update of the pool">"Open in planner"</a> })}
                            </h3>
                            <p class="pool-flags">
                                {flags.into_iter().filter(|(n, _, _)| *n > 0).map(|(n, what, link)| view! {
                                    <a class=format!("pool-flag flag-{what}") data-count=n href=link>{format!("{n} {what}")}</a>
                                }).collect_view()}
                                <span class="muted">{p.configs.iter().map(|(c, n)| format!("{n} on {}", if c == CUSTOM_LAYOUT { "a custom layout" } else { c })).collect::<Vec<_>>().join(" · ")}</span>
                            </p>
                            <UseTable u=p.slices />
                        </div>
                    }
                }).collect_view()}
            </div>
            <FleetTotals slices=summary.slices />
        </section>
    }
}

/// Pool, model, config, drifted, busy and a search by node name; each change rewrites the address.
#[component]
fn Filters(summary: FleetSummary, query: Memo<NodeQuery>, go: Callback<NodeQuery>) -> impl IntoView {
    let set = move |f: Box<dyn Fn(&mut NodeQuery)>| {
        let mut q = query.get_untracked();
        f(&mut q);
        q.page = 1;
        go.run(q);
    };
    let text = |v: String| (!v.trim().is_empty()).then_some(v);
    let select = move |id: &'static str,
                       label: &'static str,
                       all: &'static str,
                       choices: Vec<(String, String)>,
                       read: fn(&NodeQuery) -> Option<String>,
                       write: fn(&mut NodeQuery, Option<String>)| {
        view! {
            <label class="filter">
                <span>{label}</span>
                <select
                    id=id
                    prop:value=move || read(&query.get()).unwrap_or_default()
                    on:change=move |ev| {
                        let v = text(event_target_value(&ev));
                        set(Box::new(move |q| write(q, v.clone())));
                    }
                >
                    <option value="">{all}</option>
                    {choices.into_iter().map(|(value, shown)| {
                        let selected = read(&query.get_untracked()).as_deref() == Some(value.as_str());
                        view! { <option value=value selected=selected>{shown}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    };
    let pools = summary.pools.iter().map(|p| (p.name.clone(), format!("{} ({})", p.name, p.nodes))).collect();
    let models = summary
        .models
        .iter()
        .map(|m| {
            let shown = m.parse::<mig::GpuModel>().map_or_else(|_| m.clone(), |g| g.spec().display_name.to_owned());
            (m.clone(), shown)
        })
        .collect();
    let configs = summary
        .configs
        .iter()
        .map(|c| {
            let shown = if c == CUSTOM_LAYOUT { "custom layout (no named config)".to_owned() } else { c.clone() };
            (c.clone(), shown)
        })
        .collect();
    let flag = move |id: &'static str, label: String, read: fn(&NodeQuery) -> bool, write: fn(&mut NodeQuery, bool)| {
        view! {
            <label class="filter filter-flag">
                <input
                    type="checkbox"
                    id=id
                    prop:checked=move || read(&query.get())
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        set(Box::new(move |q| write(q, on)));
                    }
                />
                <span>{label}</span>
            </label>
        }
    };
    let (search_set, clear_set) = (set, set);
    view! {
        <form class="card fleet-filters" id="fleet-filters" role="search" aria-label="Filter nodes" on:submit=|ev| ev.prevent_default() data-ready="true">
            {select("filter-pool", "Pool", "All pools", pools, |q| q.pool.clone(), |q, v| q.pool = v)}
            {select("filter-model", "GPU", "All GPUs", models, |q| q.model.clone(), |q, v| q.model = v)}
            {select("filter-config", "Config", "All configs", configs, |q| q.config.clone(), |q, v| q.config = v)}
            {flag("filter-drifted", format!("Drifted ({})", summary.drifted), |q| q.drifted, |q, v| q.drifted = v)}
            {flag("filter-busy", format!("Busy ({})", summary.busy), |q| q.busy, |q, v| q.busy = v)}
            <label class="filter filter-search">
                <span>"Node"</span>
                <input
                    type="search"
                    id="filter-search"
                    placeholder="name or address, e.g. 10.0.3"
                    autocomplete="off"
                    prop:value=move || query.get().search.unwrap_or_default()
                    on:input=move |ev| {
                        let v = text(event_target_value(&ev));
                        search_set(Box::new(move |q| q.search = v.clone()));
                    }
                />
            </label>
            <button
                type="button"
                class="btn btn-ghost btn-small"
                id="filter-clear"
                disabled=move || !query.get().filters()
                on:click=move |_| clear_set(Box::new(|q| *q = NodeQuery::default()))
            >
                "Clear filters"
            </button>
        </form>
    }
}

/// One page of nodes, under their pools' headings, with the pager.
#[component]
fn NodeList(summary: FleetSummary, page: NodePage) -> impl IntoView {
    let q = page.query.clone();
    let at = page.page.max(1);
    let from = (at as usize - 1) * NODES_PER_PAGE + 1;
    let to = (from + page.nodes.len()).saturating_sub(1);
    let count = if page.matching == 0 {
        "No node matches these filters".to_owned()
    } else if q.filters() {
        format!("Nodes {from}–{to} of {} matching ({} in the fleet)", page.matching, page.total)
    } else {
        format!("Nodes {from}–{to} of {}", page.matching)
    };
    // Consecutive nodes of one pool under one heading (the page lists them by pool).
    let mut groups: Vec<(String, Vec<mig::wire::FleetNodeInfo>)> = Vec::new();
    for node in page.nodes {
        match groups.last_mut() {
            Some((pool, nodes)) if *pool == node.pool => nodes.push(node),
            _ => groups.push((node.pool.clone(), vec![node])),
        }
    }
    let pager = (page.pages > 1).then(|| {
        let link = |n: u32| href(&NodeQuery { page: n, ..q.clone() });
        let prev = (page.page > 1).then(|| link(page.page - 1));
        let next = (page.page < page.pages).then(|| link(page.page + 1));
        view! {
            <nav class="pager" id="fleet-pager" aria-label="Pages of nodes">
                {match prev {
                    Some(h) => view! { <a class="btn btn-small" id="page-prev" href=h rel="prev">"← Previous"</a> }.into_any(),
                    None => view! { <span class="btn btn-small" aria-disabled="true">"← Previous"</span> }.into_any(),
                }}
                <span id="page-info" data-page=page.page data-pages=page.pages>{format!("Page {} of {}", page.page, page.pages)}</span>
                {match next {
                    Some(h) => view! { <a class="btn btn-small" id="page-next" href=h rel="next">"Next →"</a> }.into_any(),
                    None => view! { <span class="btn btn-small" aria-disabled="true">"Next →"</span> }.into_any(),
                }}
            </nav>
        }
    });
    view! {
        <div id="fleet-nodes">
            <p class="nodes-count" id="nodes-count" data-matching=page.matching aria-live="polite">{count}</p>
            {(page.matching == 0).then(|| view! {
                <super::EmptyState title="No node matches">
                    <p>"Try fewer filters, or " <a href="/" id="clear-filters-link">"show every node"</a> "."</p>
                </super::EmptyState>
            })}
            {groups.into_iter().map(|(pool, nodes)| {
                let info = summary.pools.iter().find(|p| p.name == pool).cloned().unwrap_or_default();
                let matching = page.per_pool.get(&pool).copied().unwrap_or_default();
                let head = if matching == info.nodes {
                    format!("{} × {} · {} pods per node", info.nodes, info.shape, info.max_pods_per_node)
                } else {
                    format!("{matching} of {} nodes match · {} · {} pods per node", info.nodes, info.shape, info.max_pods_per_node)
                };
                view! {
                    <section class="card fleet-pool" data-pool=pool.clone() id=format!("pool-{pool}")>
                        <div class="card-head">
                            <h2>{pool.clone()}</h2>
                            <span class="muted">{head}</span>
                        </div>
                        {nodes.into_iter().map(|node| view! { <FleetNode node /> }).collect_view()}
                    </section>
                }
            }).collect_view()}
            {pager}
        </div>
    }
}
