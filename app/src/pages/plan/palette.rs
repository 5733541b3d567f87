//! The profiles of the plan's GPU model, to drag onto GPUs or to pick for the keyboard.

use leptos::prelude::*;
use mig::model::{COMPUTE_SLICES, MEMORY_SLICES};

use super::board::kind_class;
use super::{Carry, Planner};

/// The palette.
#[component]
pub fn Palette(planner: Planner) -> impl IntoView {
    let p = planner;
    let model = Memo::new(move |_| p.plan.with(|plan| plan.model()));
    view! {
        <section class="palette" aria-labelledby="palette-title">
            <h2 id="palette-title" class="section-title">"Profiles"</h2>
            <p class="hint">"Drag onto a GPU, or press one and then choose a slot."</p>
            <div class="palette-items" id="palette">
                {move || {
                    model
                        .get()
                        .spec()
                        .profiles
                        .iter()
                        .map(|spec| {
                            let name = spec.name;
                            let carry = Carry { profile: name, moving: None };
                            let armed = move || p.armed.get() == Some(carry);
                            let on_down = move |ev: leptos::ev::PointerEvent| {
                                if ev.button() == 0 {
                                    p.press(carry, f64::from(ev.client_x()), f64::from(ev.client_y()));
                                }
                            };
                            let on_click = move |_| {
                                if p.just_dragged.get_untracked() {
                                    p.just_dragged.set(false);
                                } else if p.armed.get_untracked() == Some(carry) {
                                    p.disarm();
                                } else {
                                    p.arm(carry);
                                }
                            };
                            let gib = f64::from(spec.memory_mib) / 1024.0;
                            view! {
                                <button
                                    class=format!("chip {}", kind_class(spec.kind))
                                    data-profile=name
                                    aria-pressed=move || armed().to_string()
                                    title=format!(
                                        "{name}: {} SMs, {gib:.1} GiB, {}/{COMPUTE_SLICES} compute and {}/{MEMORY_SLICES} memory slices (and memory bandwidth); at most {} per GPU; starts at memory slice {}",
                                        spec.sm_count,
                                        spec.compute_slices(),
                                        spec.memory_slices(),
                                        spec.max_count(),
                                        spec.starts().iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                                    )
                                    on:pointerdown=on_down
                                    on:click=on_click
                                >
                                    <span class="chip-name">{name}</span>
                                    <span class="chip-meta">
                                        {format!("{}/{COMPUTE_SLICES} · {gib:.0} GiB · ≤{}", spec.compute_slices(), spec.max_count())}
                                    </span>
                                </button>
                            }
                        })
                        .collect_view()
                }}
            </div>
        </section>
    }
}
