//! Every profile combination one GPU of the model can hold, to pick from.

use leptos::prelude::*;
use mig::Layout;

use super::Planner;
use super::board::kind_class;

/// The gallery of valid combinations.
#[component]
pub fn Gallery(planner: Planner) -> impl IntoView {
    let p = planner;
    let model = Memo::new(move |_| p.plan.with(|plan| plan.model()));
    let combos = Memo::new(move |_| mig::combinations(model.get()));
    let show_all = RwSignal::new(false);
    let counts = move || {
        combos.with(|c| {
            let maximal = c.iter().filter(|c| c.maximal).count();
            format!(
                "{maximal} maximal layouts (nothing more fits) of {} combinations on {}",
                c.len(),
                model.get()
            )
        })
    };
    view! {
        <section class="card gallery" aria-labelledby="gallery-title">
            <div class="card-head">
                <h2 id="gallery-title">"Layouts that fit one GPU"</h2>
                <label class="check">
                    <input type="checkbox" id="gallery-all" bind:checked=show_all />
                    "Show combinations with room left"
                </label>
            </div>
            <p class="hint">{counts} ". Click one to apply it to the GPU chosen under “Apply to”."</p>
            <ul class="gallery-list" id="gallery">
                {move || {
                    combos
                        .get()
                        .into_iter()
                        .filter(|c| show_all.get() || c.maximal)
                        .map(|c| {
                            let label = c.counts.to_string();
                            let title = format!("{label}: apply");
                            let layout = c.layout.clone();
                            let apply = move |_| {
                                let layout = layout.clone();
                                let target = p.target.get_untracked();
                                p.commit(move |plan| {
                                    let target = target.filter(|&g| g < plan.gpus().len());
                                    let text = layout.to_string();
                                    plan.set_layout(target, Some(layout)).map_err(|e| e.to_string())?;
                                    Ok(match target {
                                        Some(g) => format!("GPU {g} is now {text}"),
                                        None => format!("Every GPU is now {text}"),
                                    })
                                });
                            };
                            view! {
                                <li>
                                    <button class="combo" on:click=apply title=title>
                                        <MiniBar layout=c.layout.clone() />
                                        <span class="combo-label">{label}</span>
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}

/// A GPU's layout in small: 8 memory-slice columns with the instances on them.
#[component]
pub fn MiniBar(layout: Layout) -> impl IntoView {
    view! {
        <span class="minibar" aria-hidden="true">
            {layout
                .instances()
                .iter()
                .map(|i| {
                    view! {
                        <span
                            class=format!("mini {}", kind_class(i.profile.kind))
                            style:grid-column=format!("{} / span {}", i.start + 1, i.profile.memory_slices())
                        ></span>
                    }
                })
                .collect_view()}
        </span>
    }
}
