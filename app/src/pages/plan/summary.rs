//! What the plan amounts to: instances per GPU, node and pool, slices used and stranded, the named
//! config it equals, the Kubernetes resources it advertises, and honest throughput fractions.

use leptos::prelude::*;
use mig::NamedConfig;
use mig::sizing::aggregate;

use super::Planner;
use crate::error::AppError;

fn pct(part: u32, whole: u32) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.0}%", f64::from(part) * 100.0 / f64::from(whole))
    }
}

/// The summary card.
#[component]
pub fn Summary(
    planner: Planner,
    configs: Resource<Result<Vec<NamedConfig>, AppError>>,
) -> impl IntoView {
    let p = planner;
    let summary = p.summary;
    let model = Memo::new(move |_| p.plan.with(|plan| plan.model()));
    let rows = move || {
        let s = summary.get();
        let m = model.get();
        let mut rows: Vec<(String, String, u32, u32)> = m
            .spec()
            .profiles
            .iter()
            .filter_map(|prof| {
                let node = *s.per_node.0.get(prof.name)?;
                let per_gpu = if s.uniform {
                    s.per_gpu
                        .first()
                        .and_then(|g| g.counts.0.get(prof.name))
                        .copied()
                        .unwrap_or(0)
                        .to_string()
                } else {
                    let counts: Vec<u32> = s
                        .per_gpu
                        .iter()
                        .map(|g| g.counts.0.get(prof.name).copied().unwrap_or(0))
                        .collect();
                    let (lo, hi) = (
                        counts.iter().min().copied().unwrap_or(0),
                        counts.iter().max().copied().unwrap_or(0),
                    );
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}–{hi}")
                    }
                };
                Some((prof.name.to_owned(), per_gpu, node, node * s.nodes))
            })
            .collect();
        if s.whole_gpus > 0 {
            rows.push((
                "whole GPU (MIG off)".to_owned(),
                "–".to_owned(),
                s.whole_gpus,
                s.whole_gpus * s.nodes,
            ));
        }
        rows
    };
    let throughput = move || {
        let s = summary.get();
        let gpus = s.per_gpu.iter().filter(|g| g.mig_enabled).count() as f64;
        if gpus == 0.0 || s.per_node.is_empty() {
            return None;
        }
        let m = model.get();
        let a = aggregate(m, &s.per_node);
        // The example is this model's own one-compute-slice profile with two memory slices
        // (1g.20gb on an H100, 1g.35gb on an H200, 1g.10gb on an A100 40GB).
        let example = m
            .spec()
            .profiles
            .iter()
            .find(|p| p.compute_slices() == 1 && p.memory_slices() == 2)
            .map(|p| format!(" (a {} gets 2/{})", p.profile_name(), mig::model::MEMORY_SLICES))
            .unwrap_or_default();
        Some(format!(
            "The instances get {:.0}% of the SMs and {:.0}% of the memory bandwidth of the {} GPU(s) with MIG on. Each instance's share of bandwidth is its memory slices out of {}{example}, so several small instances add up to at most one GPU's bandwidth: their combined throughput cannot exceed what the whole GPU delivers, whatever the per-instance speed.",
            a.compute_fraction * 100.0 / gpus,
            a.bandwidth_fraction * 100.0 / gpus,
            gpus,
            mig::model::MEMORY_SLICES
        ))
    };
    view! {
        <section class="card summary" aria-labelledby="summary-title" id="summary">
            <div class="card-head">
                <h2 id="summary-title">"Summary"</h2>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        let configs = configs.await.unwrap_or_default();
                        let name = p.plan.with(|plan| plan.matching_config(&configs).map(str::to_owned));
                        let uniform = summary.with(|s| s.uniform);
                        let data = name.clone().unwrap_or_default();
                        view! {
                            <span class="config-match" id="config-match" data-config=data>
                                {match name {
                                    Some(n) => n,
                                    None if uniform => "custom".to_owned(),
                                    None => "custom (GPUs differ)".to_owned(),
                                }}
                            </span>
                        }
                    })}
                </Transition>
            </div>
            {move || {
                let rows = rows();
                if rows.is_empty() {
                    view! { <p class="muted" id="summary-empty">"No instances yet: every GPU has MIG on and nothing on it."</p> }.into_any()
                } else {
                    view! {
                        <table class="counts" id="summary-counts">
                            <thead>
                                <tr>
                                    <th scope="col">"Profile"</th>
                                    <th scope="col">"per GPU"</th>
                                    <th scope="col">"per node"</th>
                                    <th scope="col">{move || format!("per pool ({})", summary.with(|s| s.nodes))}</th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows
                                    .into_iter()
                                    .map(|(name, gpu, node, pool)| {
                                        view! {
                                            <tr data-profile=name.clone()>
                                                <th scope="row">{name.clone()}</th>
                                                <td class="per-gpu">{gpu}</td>
                                                <td class="per-node">{node}</td>
                                                <td class="per-pool">{pool}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
            <dl class="facts facts-tight">
                <div>
                    <dt>"Compute slices used"</dt>
                    <dd id="compute-used">
                        {move || summary.with(|s| format!("{} / {} ({})", s.compute_used, s.compute_total, pct(s.compute_used, s.compute_total)))}
                    </dd>
                </div>
                <div>
                    <dt>"Memory slices used"</dt>
                    <dd id="memory-used">
                        {move || summary.with(|s| format!("{} / {} ({})", s.memory_used, s.memory_total, pct(s.memory_used, s.memory_total)))}
                    </dd>
                </div>
                <div>
                    <dt>"Stranded per node"</dt>
                    <dd id="stranded" class:warn=move || summary.with(|s| s.compute_stranded + s.memory_stranded > 0)>
                        {move || {
                            summary.with(|s| {
                                format!(
                                    "{} compute, {} memory ({:.0} GiB)",
                                    s.compute_stranded,
                                    s.memory_stranded,
                                    f64::from(s.memory_stranded * s.memory_slice_mib) / 1024.0
                                )
                            })
                        }}
                    </dd>
                </div>
            </dl>
            <h3 class="sub">"Kubernetes resources per node"</h3>
            <p class="hint">"What the NVIDIA device plugin advertises with the mixed strategy."</p>
            <pre class="resources" id="resources">
                {move || {
                    summary.with(|s| {
                        if s.resources.is_empty() {
                            "(none)".to_owned()
                        } else {
                            s.resources.iter().map(|(r, n)| format!("{r}: {n}")).collect::<Vec<_>>().join("\n")
                        }
                    })
                }}
            </pre>
            {move || throughput().map(|t| view! { <p class="hint" id="throughput">{t}</p> })}
        </section>
    }
}
