//! Size a model to slices: memory needed (with the KV cache), the profiles that hold it, how many
//! replicas the current plan serves, and filling free space with the smallest fitting profile.

use leptos::prelude::*;
use mig::sizing::{
    CATALOGUE, Precision, SizingInput, catalogue_model, estimate, fits, smallest_fitting,
};

use super::Planner;

const PRECISIONS: [(Precision, &str); 6] = [
    (Precision::Bf16, "bf16"),
    (Precision::Fp16, "fp16"),
    (Precision::Fp8, "fp8"),
    (Precision::Int8, "int8"),
    (Precision::Int4, "int4"),
    (Precision::Fp32, "fp32"),
];

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

/// Reads a number from an input event, keeping the old value when the text is not a number.
fn num<T: std::str::FromStr>(ev: &leptos::ev::Event, old: T) -> T {
    event_target_value(ev).trim().parse().unwrap_or(old)
}

/// The sizing card.
#[component]
pub fn Sizing(planner: Planner) -> impl IntoView {
    let p = planner;
    let chosen = RwSignal::new("Llama-3.1-8B".to_owned());
    let params = RwSignal::new(8.03f64);
    let layers = RwSignal::new(32u32);
    let kv_heads = RwSignal::new(8u32);
    let head_dim = RwSignal::new(128u32);
    let precision = RwSignal::new(Precision::Bf16);
    let context = RwSignal::new(8192u32);
    let sequences = RwSignal::new(1u32);
    let custom = move || chosen.with(|c| c == "custom");

    let pick = move |ev| {
        let name = event_target_value(&ev);
        if let Some(m) = catalogue_model(&name) {
            params.set(m.params_billion);
            layers.set(m.layers);
            kv_heads.set(m.kv_heads);
            head_dim.set(m.head_dim);
            context.update(|c| *c = (*c).min(m.max_context));
        }
        chosen.set(name);
    };
    let input = Memo::new(move |_| SizingInput {
        params_billion: params.get(),
        precision: precision.get(),
        layers: layers.get(),
        kv_heads: kv_heads.get(),
        head_dim: head_dim.get(),
        context_tokens: context.get(),
        concurrent_sequences: sequences.get(),
        kv_precision: None,
    });
    let est = Memo::new(move |_| estimate(&input.get()));
    let model = Memo::new(move |_| p.plan.with(|plan| plan.model()));
    let need = move || est.with(|e| e.as_ref().ok().map(|e| e.total_bytes));
    let smallest = move || {
        need()
            .and_then(|n| smallest_fitting(model.get(), n))
            .map(|s| s.name)
    };
    let context_note = move || {
        let m = catalogue_model(&chosen.get())?;
        (context.get() > m.max_context).then(|| {
            format!(
                "{} supports at most {} tokens of context",
                m.name, m.max_context
            )
        })
    };
    // How many of the smallest fitting profile the free space takes (0: the plan is full for it).
    let room = move || {
        smallest().map(|profile| {
            let mut trial = p.plan.get();
            trial.fill(None, profile).unwrap_or(0)
        })
    };
    let fill = move |_| {
        let (Some(profile), Some(n)) = (smallest(), need()) else {
            return;
        };
        p.commit(|plan| {
            let added = plan.fill(None, profile).map_err(|e| e.to_string())?;
            if added == 0 {
                return Err(format!("No free space holds a {profile}: remove an instance first"));
            }
            let held = plan
                .replicas_per_profile(n)
                .into_iter()
                .find(|(p, _)| *p == profile)
                .map_or(0, |(_, k)| k);
            Ok(format!(
                "Added {added} × {profile} to the free space; a {profile} deployment now gets up to {held} replicas per node"
            ))
        });
    };

    view! {
        <section class="card sizing" aria-labelledby="sizing-title">
            <div class="card-head">
                <h2 id="sizing-title">"Size a model"</h2>
            </div>
            <div class="form-grid">
                <label class="field">
                    <span>"Model"</span>
                    <select id="sizing-model" on:change=pick>
                        {CATALOGUE
                            .iter()
                            .map(|m| view! { <option value=m.name selected=move || chosen.with(|c| c == m.name)>{m.name}</option> })
                            .collect_view()}
                        <option value="custom" selected=custom>"Custom…"</option>
                    </select>
                </label>
                <label class="field">
                    <span>"Precision"</span>
                    <select
                        id="sizing-precision"
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            if let Some((pr, _)) = PRECISIONS.iter().find(|(_, n)| *n == v) {
                                precision.set(*pr);
                            }
                        }
                    >
                        {PRECISIONS
                            .iter()
                            .map(|(pr, name)| view! { <option value=*name selected=move || precision.get() == *pr>{*name}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"Context (tokens)"</span>
                    <input id="sizing-context" type="number" min="0" prop:value=move || context.get().to_string() on:change=move |ev| context.set(num(&ev, context.get_untracked())) />
                </label>
                <label class="field">
                    <span>"Concurrent sequences"</span>
                    <input id="sizing-sequences" type="number" min="1" prop:value=move || sequences.get().to_string() on:change=move |ev| sequences.set(num(&ev, sequences.get_untracked())) />
                </label>
                <Show when=custom>
                    <label class="field">
                        <span>"Parameters (billions)"</span>
                        <input id="sizing-params" type="number" min="0" step="0.1" prop:value=move || params.get().to_string() on:change=move |ev| params.set(num(&ev, params.get_untracked())) />
                    </label>
                    <label class="field">
                        <span>"Layers"</span>
                        <input type="number" min="0" prop:value=move || layers.get().to_string() on:change=move |ev| layers.set(num(&ev, layers.get_untracked())) />
                    </label>
                    <label class="field">
                        <span>"KV heads"</span>
                        <input type="number" min="0" prop:value=move || kv_heads.get().to_string() on:change=move |ev| kv_heads.set(num(&ev, kv_heads.get_untracked())) />
                    </label>
                    <label class="field">
                        <span>"Head dim"</span>
                        <input type="number" min="0" prop:value=move || head_dim.get().to_string() on:change=move |ev| head_dim.set(num(&ev, head_dim.get_untracked())) />
                    </label>
                </Show>
            </div>
            {move || context_note().map(|n| view! { <p class="warn-text">{n}</p> })}
            {move || match est.get() {
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                Ok(e) => {
                    let m = model.get();
                    let fitting = fits(m, e.total_bytes);
                    let per_profile = p.plan.with(|plan| plan.replicas_per_profile(e.total_bytes));
                    let nodes = p.plan.with(|plan| plan.nodes());
                    view! {
                        <p class="sizing-total">
                            <strong id="sizing-need">{gib(e.total_bytes)}</strong>
                            " needed: "
                            {gib(e.weights_bytes)}
                            " weights + "
                            {gib(e.kv_cache_bytes)}
                            " KV cache + "
                            {gib(e.overhead_bytes)}
                            " overhead. "
                            <span class="muted">
                                {format!("(The formula in OCI AI Blueprints' MIG guide gives {:.1} GB: it leaves out the KV cache.)", e.guide_formula_bytes as f64 / 1e9)}
                            </span>
                        </p>
                        <ul class="fits" id="sizing-fits">
                            {fitting
                                .into_iter()
                                .map(|f| {
                                    view! {
                                        <li class:fit=f.fits data-profile=f.profile>
                                            <span class="fit-name">{f.profile}</span>
                                            <span class="muted">
                                                {if f.fits { "fits" } else { "too small" }}
                                                {format!(" · {:.0}% SMs, {:.0}% bandwidth", f.compute_fraction * 100.0, f.bandwidth_fraction * 100.0)}
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                        <div id="sizing-replicas">
                            {if per_profile.is_empty() {
                                view! { <p>"No slice of this plan holds it."</p> }.into_any()
                            } else {
                                let total: u32 = per_profile.iter().map(|(_, n)| n).sum();
                                view! {
                                    <p>"One deployment requests one profile, so per deployment this plan serves:"</p>
                                    <ul class="replicas-per-profile">
                                        {per_profile
                                            .iter()
                                            .map(|(prof, n)| view! {
                                                <li data-profile=*prof>
                                                    <strong>{format!("{n}")}</strong>
                                                    {format!(" replica(s) per node as {prof}, {} in the pool of {nodes}", n * nodes)}
                                                </li>
                                            })
                                            .collect_view()}
                                    </ul>
                                    <p class="muted">{format!("{total} per node across deployments, one per profile.")}</p>
                                }
                                    .into_any()
                            }}
                        </div>
                        <details class="assumptions">
                            <summary>"What this assumes"</summary>
                            <ul>{e.assumptions.iter().map(|a| view! { <li>{a.clone()}</li> }).collect_view()}</ul>
                        </details>
                    }
                        .into_any()
                }
            }}
            <button class="btn" id="sizing-fill" on:click=fill disabled=move || smallest().is_none() || room() == Some(0)>
                {move || match (smallest(), room()) {
                    (Some(s), Some(0)) => format!("No free space for a {s}"),
                    (Some(s), _) => format!("Fill free space with {s}"),
                    (None, _) => "No profile of this GPU holds it".to_owned(),
                }}
            </button>
        </section>
    }
}
