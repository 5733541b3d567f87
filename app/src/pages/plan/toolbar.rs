//! The node being planned (model, shape, GPU count, pool size), named configs, undo/redo/clear.

use leptos::prelude::*;
use mig::GpuModel;
use mig::NamedConfig;
use mig::shape::{MAX_GPUS_PER_NODE, MAX_POOL_NODES, shape, shapes_for};

use super::{Notice, Planner};
use crate::error::AppError;

/// The toolbar above the board.
#[component]
pub fn Toolbar(
    planner: Planner,
    configs: Resource<Result<Vec<NamedConfig>, AppError>>,
) -> impl IntoView {
    let p = planner;
    let model = Memo::new(move |_| p.plan.with(|plan| plan.model()));
    let shape_name = Memo::new(move |_| p.plan.with(|plan| plan.shape().map(|s| s.name)));
    let gpu_count = Memo::new(move |_| p.plan.with(|plan| plan.gpus().len()));
    let chosen = RwSignal::new("all-balanced".to_owned());
    // `data-ready` says the controls work: the page's shell hydrates before this lazily loaded
    // route does, and a change in between would be lost.
    let (ready, set_ready) = signal(false);
    Effect::new(move |_| set_ready.set(true));

    let on_model = move |ev| {
        let Ok(m) = event_target_value(&ev).parse::<GpuModel>() else {
            return;
        };
        p.commit(|plan| {
            let shape = shapes_for(m).next();
            plan.reshape(m, shape, 8).map_err(|e| e.to_string())?;
            Ok(format!(
                "Planning {} now",
                shape.map_or_else(|| format!("8 × {m}"), |s| s.name.to_owned())
            ))
        });
        p.target.set(None);
    };
    let on_shape = move |ev| {
        let value = event_target_value(&ev);
        p.commit(|plan| {
            let (m, n) = (plan.model(), plan.gpus().len() as u32);
            plan.reshape(m, shape(&value), n)
                .map_err(|e| e.to_string())?;
            Ok(match plan.shape() {
                Some(s) => format!("Node shape {}: {} × {}", s.name, s.gpus, s.model),
                None => format!("Custom node of {n} GPUs"),
            })
        });
    };
    let on_count = move |ev| {
        let text = event_target_value(&ev);
        p.commit(|plan| {
            let n = text.trim().parse::<u32>().map_err(|_| {
                format!("`{text}` is not a GPU count: enter 1 to {MAX_GPUS_PER_NODE}")
            })?;
            plan.reshape(plan.model(), None, n)
                .map_err(|e| e.to_string())?;
            Ok(format!("Custom node of {n} GPUs"))
        });
    };
    let on_nodes = move |ev| {
        let text = event_target_value(&ev);
        p.commit(|plan| {
            let n = text
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_POOL_NODES).contains(n))
                .ok_or_else(|| {
                    format!("`{text}` is not a pool size: enter 1 to {MAX_POOL_NODES} nodes")
                })?;
            plan.set_nodes(n);
            Ok(format!("The pool has {n} node(s)"))
        });
    };
    let on_target = move |ev| {
        p.target.set(event_target_value(&ev).parse::<usize>().ok());
    };
    let apply = move |_| {
        let name = chosen.get_untracked();
        let Some(Ok(list)) = configs.get_untracked() else {
            p.notice.set(Some(Notice::Refused(
                "The named configs have not loaded yet; try again in a moment".to_owned(),
            )));
            return;
        };
        let Some(config) = list.into_iter().find(|c| c.name == name) else {
            p.notice.set(Some(Notice::Refused(format!(
                "No named config `{name}` for this GPU model"
            ))));
            return;
        };
        let target = p.target.get_untracked();
        p.commit(|plan| {
            let target = target.filter(|&g| g < plan.gpus().len());
            plan.apply_named(&config, target)?;
            Ok(match target {
                Some(g) => format!("Applied {} to GPU {g}", config.name),
                None => format!("Applied {} to every GPU", config.name),
            })
        });
    };

    view! {
        <section class="card toolbar" aria-label="Node and named configs">
            <div class="toolbar-row">
                <label class="field">
                    <span>"GPU model"</span>
                    <select id="model" data-ready=move || ready.get().to_string() on:change=on_model prop:value=move || model.get().id()>
                        {GpuModel::all()
                            .map(|m| {
                                view! {
                                    <option value=m.id() selected=move || model.get() == m>
                                        {m.spec().display_name}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"Node shape"</span>
                    <select id="shape" on:change=on_shape prop:value=move || shape_name.get().unwrap_or("custom")>
                        {move || {
                            shapes_for(model.get())
                                .map(|s| {
                                    view! {
                                        <option value=s.name selected=move || shape_name.get() == Some(s.name)>
                                            {format!("{} ({} GPUs)", s.name, s.gpus)}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                        <option value="custom" selected=move || shape_name.get().is_none()>
                            "Custom"
                        </option>
                    </select>
                </label>
                <label class="field field-narrow">
                    <span>"GPUs per node"</span>
                    <input
                        id="gpu-count"
                        type="number"
                        min="1"
                        max=MAX_GPUS_PER_NODE.to_string()
                        prop:value=move || gpu_count.get().to_string()
                        disabled=move || shape_name.get().is_some()
                        title="Choose the Custom shape to set the GPU count"
                        on:change=on_count
                    />
                </label>
                <label class="field field-narrow">
                    <span>"Nodes in pool"</span>
                    <input
                        id="pool-nodes"
                        type="number"
                        min="1"
                        max=MAX_POOL_NODES.to_string()
                        prop:value=move || p.plan.with(|plan| plan.nodes()).to_string()
                        on:change=on_nodes
                    />
                </label>
                <div class="toolbar-actions">
                    <button class="btn btn-ghost" id="undo" disabled=move || !p.can_undo() on:click=move |_| p.undo() title="Undo (Ctrl+Z)">
                        "Undo"
                    </button>
                    <button class="btn btn-ghost" id="redo" disabled=move || !p.can_redo() on:click=move |_| p.redo() title="Redo (Ctrl+Shift+Z)">
                        "Redo"
                    </button>
                    <button
                        class="btn btn-ghost"
                        id="clear"
                        on:click=move |_| {
                            p.commit(|plan| {
                                plan.clear();
                                Ok("Cleared every GPU (MIG on, no instances)".to_owned())
                            });
                        }
                    >
                        "Clear"
                    </button>
                </div>
            </div>
            <div class="toolbar-row">
                <label class="field">
                    // A choice of what to apply, not what the board is (the summary says that).
                    <span id="named-config-label">"Apply a named config"</span>
                    <Transition fallback=|| view! { <select disabled=true><option>"Loading…"</option></select> }>
                        {move || Suspend::new(async move {
                            match configs.await {
                                Ok(list) => {
                                    view! {
                                        <select id="named-config" on:change=move |ev| chosen.set(event_target_value(&ev))>
                                            {list
                                                .into_iter()
                                                .map(|c| {
                                                    let name = c.name.clone();
                                                    let selected = {
                                                        let name = name.clone();
                                                        move || chosen.with(|ch| *ch == name)
                                                    };
                                                    view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
                                                })
                                                .collect_view()}
                                        </select>
                                    }
                                        .into_any()
                                }
                                Err(e) => view! { <span class="error">{format!("Named configs unavailable: {e}")}</span> }.into_any(),
                            }
                        })}
                    </Transition>
                </label>
                <label class="field field-narrow">
                    <span>"Apply to"</span>
                    <select
                        id="config-target"
                        on:change=on_target
                        prop:value=move || p.target.get().map_or_else(|| "all".to_owned(), |g| g.to_string())
                    >
                        <option value="all" selected=move || p.target.get().is_none()>"All GPUs"</option>
                        {move || {
                            (0..gpu_count.get())
                                .map(|g| view! { <option value=g.to_string() selected=move || p.target.get() == Some(g)>{format!("GPU {g}")}</option> })
                                .collect_view()
                        }}
                    </select>
                </label>
                <div class="toolbar-actions">
                    <button class="btn" id="apply-config" on:click=apply>"Apply config"</button>
                </div>
            </div>
        </section>
    }
}
