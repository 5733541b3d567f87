//! The GPUs of the node, each drawn as its 8 memory slices with the instances on them: the drop
//! targets of drags, the keyboard grid, and the drag ghost.

use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use mig::model::{COMPUTE_SLICES, MEMORY_SLICES, ProfileKind};
use mig::planner::{Headroom, Refusal};
use mig::{Layout, NodePlan};

use super::{Carry, Notice, Planner};

/// Per GPU, per memory slice: may what is carried start there, or why not.
type Targets = Option<Vec<Vec<Result<(), Refusal>>>>;

/// CSS class naming a profile's shape, for its colour.
pub(crate) fn kind_class(kind: ProfileKind) -> &'static str {
    match kind {
        ProfileKind::OneSlice => "k1",
        ProfileKind::OneSliceMe => "k1me",
        ProfileKind::OneSliceDoubleMemory => "k1d",
        ProfileKind::TwoSlice => "k2",
        ProfileKind::ThreeSlice => "k3",
        ProfileKind::FourSlice => "k4",
        ProfileKind::SevenSlice => "k7",
    }
}

/// The slot (GPU, memory slice) under a point in client coordinates.
pub(crate) fn slot_at(x: f64, y: f64) -> Option<(usize, u8)> {
    let el = document().element_from_point(x as f32, y as f32)?;
    let slot = el.closest("[data-slot]").ok()??;
    let gpu = slot.get_attribute("data-gpu")?.parse().ok()?;
    let slice = slot.get_attribute("data-slot")?.parse().ok()?;
    Some((gpu, slice))
}

/// Moves keyboard focus to a slot.
pub(crate) fn focus_slot((gpu, slice): (usize, u8)) {
    let selector = format!("[data-gpu=\"{gpu}\"][data-slot=\"{slice}\"]");
    if let Ok(Some(el)) = document().query_selector(&selector)
        && let Ok(el) = el.dyn_into::<leptos::web_sys::HtmlElement>()
    {
        let _ = el.focus();
    }
}

/// The node's GPUs.
#[component]
pub fn Board(planner: Planner) -> impl IntoView {
    let p = planner;
    let targets: Memo<Targets> = Memo::new(move |_| {
        let carry = p.carried()?;
        Some(p.plan.with(|plan| {
            (0..plan.gpus().len())
                .map(|g| plan.drop_targets(g, carry.profile, carry.moving))
                .collect()
        }))
    });
    let gpus = Memo::new(move |_| p.plan.with(|plan| plan.gpus().len()));
    view! {
        <div
            id="board"
            class="board"
            class:carrying=move || p.carried().is_some()
            class:dragging=move || p.drag.with(Option::is_some)
            aria-describedby="board-help"
        >
            <p id="board-help" class="sr-only">
                "Each GPU is a row of 8 memory slices. Arrow keys move between slices and GPUs; Enter places the selected profile, or picks up the instance under the cursor to move it; Delete removes an instance; Escape cancels."
            </p>
            <For each=move || 0..gpus.get() key=|g| *g let:gpu>
                <GpuRow planner=p gpu targets />
            </For>
        </div>
    }
}

#[component]
fn GpuRow(planner: Planner, gpu: usize, targets: Memo<Targets>) -> impl IntoView {
    let p = planner;
    let layout: Memo<Option<Layout>> =
        Memo::new(move |_| p.plan.with(|plan| plan.gpus().get(gpu).cloned().flatten()));
    let room: Memo<Headroom> = Memo::new(move |_| {
        p.summary
            .with(|s| s.per_gpu.get(gpu).map(|g| g.headroom).unwrap_or_default())
    });
    let enabled = move || layout.with(Option::is_some);
    let stats = move || {
        layout.with(|l| match l {
            None => "MIG off: used as one whole GPU".to_owned(),
            Some(l) => {
                let h = room.get();
                let mut s = format!(
                    "{}/{COMPUTE_SLICES} compute · {}/{MEMORY_SLICES} memory",
                    l.compute_used(),
                    l.memory_used()
                );
                if h.compute_stranded + h.memory_stranded > 0 {
                    s.push_str(&format!(
                        " · stranded: {} compute, {} memory",
                        h.compute_stranded, h.memory_stranded
                    ));
                }
                s
            }
        })
    };
    let toggle = move |_| {
        let on = layout.with_untracked(Option::is_some);
        p.commit(|plan| {
            plan.set_mig(gpu, !on).map_err(|e| e.to_string())?;
            Ok(if on {
                format!("MIG turned off on GPU {gpu}")
            } else {
                format!("MIG turned on on GPU {gpu}")
            })
        });
    };
    let copy = move |_| {
        p.commit(|plan| {
            plan.copy_to_all(gpu).map_err(|e| e.to_string())?;
            Ok(format!("Copied GPU {gpu}'s layout to every GPU"))
        });
    };
    view! {
        <div class="gpu" role="group" aria-label=format!("GPU {gpu}") data-gpu-row=gpu data-mig=move || enabled().to_string()>
            <div class="gpu-head">
                <span class="gpu-name">"GPU " {gpu}</span>
                <span class="gpu-stats" id=format!("gpu-{gpu}-stats")>{stats}</span>
                <span class="gpu-actions">
                    <button class="btn-mini" on:click=toggle title="MIG mode changes need a GPU reset when applied">
                        {move || if enabled() { "Turn MIG off" } else { "Turn MIG on" }}
                    </button>
                    <button class="btn-mini" on:click=copy disabled=move || !enabled()>"Copy to all"</button>
                </span>
            </div>
            <div class="gpu-bar" id=format!("gpu-{gpu}")>
                {(0..MEMORY_SLICES).map(|slice| view! { <Slot planner=p gpu slice targets room /> }).collect_view()}
                {move || {
                    layout
                        .get()
                        .map(|l| {
                            l.instances()
                                .iter()
                                .map(|inst| view! { <Instance planner=p gpu profile=inst.profile.name kind=inst.profile.kind start=inst.start memory_slices=inst.profile.memory_slices() compute_slices=inst.profile.compute_slices() /> })
                                .collect_view()
                                .into_any()
                        })
                        .unwrap_or_else(|| view! { <div class="gpu-off" aria-hidden="true">"MIG off · whole GPU"</div> }.into_any())
                }}
            </div>
            <div class="compute-meter" aria-hidden="true" title="Compute slices: used, free, stranded">
                {(0..COMPUTE_SLICES)
                    .map(|c| {
                        let class = move || {
                            let used = layout.with(|l| l.as_ref().map_or(0, Layout::compute_used));
                            let h = room.get();
                            if !enabled() {
                                "pip whole"
                            } else if c < used {
                                "pip used"
                            } else if c >= COMPUTE_SLICES - h.compute_stranded {
                                "pip stranded"
                            } else {
                                "pip"
                            }
                        };
                        view! { <span class=class></span> }
                    })
                    .collect_view()}
            </div>
        </div>
    }
}

#[component]
fn Slot(
    planner: Planner,
    gpu: usize,
    slice: u8,
    targets: Memo<Targets>,
    room: Memo<Headroom>,
) -> impl IntoView {
    let p = planner;
    let verdict = move || {
        targets.with(|t| {
            t.as_ref()
                .and_then(|t| t.get(gpu))
                .and_then(|g| g.get(usize::from(slice)))
                .cloned()
        })
    };
    // Where a drop would land: the hovered slot while dragging, the cursor while a pick is armed.
    let preview = move || {
        if p.drag.with(Option::is_some) {
            p.hover.get().map(|h| (h, p.drag.get()))
        } else {
            p.armed.get().map(|a| (p.cursor.get(), Some(a)))
        }
    };
    let class = move || {
        let mut c = String::from("slot");
        match verdict() {
            Some(Ok(())) => c.push_str(" ok"),
            Some(Err(_)) => c.push_str(" bad"),
            None => {}
        }
        if let Some(((hg, hs), Some(carry))) = preview()
            && hg == gpu
        {
            let size = p.plan.with(|plan| {
                plan.model()
                    .profile(carry.profile)
                    .map_or(1, |s| s.memory_slices())
            });
            let ok = targets.with(|t| {
                t.as_ref()
                    .and_then(|t| t.get(gpu))
                    .and_then(|g| g.get(usize::from(hs)))
                    .is_some_and(Result::is_ok)
            });
            if slice == hs {
                c.push_str(if ok { " hover-ok" } else { " hover-bad" });
            }
            if ok && slice >= hs && slice < hs + size {
                c.push_str(" footprint");
            }
        }
        if room.with(|h| h.memory_stranded_mask & (1 << slice) != 0) {
            c.push_str(" stranded");
        }
        if p.cursor.get() == (gpu, slice) {
            c.push_str(" cursor");
        }
        c
    };
    let label = move || {
        let at = format!("GPU {gpu}, memory slice {slice}");
        if let Some(carry) = p.carried() {
            return match verdict() {
                Some(Ok(())) => format!("{at}: {} can start here", carry.profile),
                Some(Err(r)) => format!("{at}: {r}"),
                None => at,
            };
        }
        match p.plan.with(|plan| plan.instance_at(gpu, slice)) {
            Some(i) => format!(
                "{at}: {} instance on slices {} to {}. Enter picks it up, Delete removes it",
                i.profile.name,
                i.start,
                i.start + i.profile.memory_slices() - 1
            ),
            None if room.with(|h| h.memory_stranded_mask & (1 << slice) != 0) => {
                format!("{at}: free, but stranded: no profile can use it")
            }
            None => format!("{at}: free"),
        }
    };
    let title = move || match verdict() {
        Some(Err(r)) => Some(r.to_string()),
        _ => None,
    };
    let on_click = move |_| {
        if p.just_dragged.get_untracked() {
            p.just_dragged.set(false);
            return;
        }
        p.cursor.set((gpu, slice));
        match p.armed.get_untracked() {
            Some(carry) => {
                if p.drop_at(carry, gpu, slice) {
                    p.armed.set(None);
                }
            }
            None => p.notice.set(Some(Notice::Done(
                "Pick a profile first: drag it here, or click it in the palette and then click a slot".to_owned(),
            ))),
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| on_slot_key(p, gpu, slice, &ev);
    view! {
        <button
            class=class
            style:grid-column=format!("{}", slice + 1)
            data-gpu=gpu
            data-slot=slice
            tabindex=move || if p.cursor.get() == (gpu, slice) { "0" } else { "-1" }
            aria-label=label
            title=title
            on:click=on_click
            on:keydown=on_key
            on:focus=move |_| p.cursor.set((gpu, slice))
        >
            <span class="slot-index" aria-hidden="true">{slice}</span>
        </button>
    }
}

fn on_slot_key(p: Planner, gpu: usize, slice: u8, ev: &leptos::ev::KeyboardEvent) {
    let gpus = p.plan.with_untracked(|plan| plan.gpus().len());
    let last = MEMORY_SLICES - 1;
    let to = match ev.key().as_str() {
        "ArrowLeft" => Some((gpu, slice.saturating_sub(1))),
        "ArrowRight" => Some((gpu, (slice + 1).min(last))),
        "ArrowUp" => Some((gpu.saturating_sub(1), slice)),
        "ArrowDown" => Some(((gpu + 1).min(gpus - 1), slice)),
        "Home" => Some((gpu, 0)),
        "End" => Some((gpu, last)),
        "Enter" | " " => {
            ev.prevent_default();
            if let Some(carry) = p.armed.get_untracked() {
                if p.drop_at(carry, gpu, slice) {
                    p.armed.set(None);
                }
            } else if let Some(inst) = p
                .plan
                .with_untracked(|plan: &NodePlan| plan.instance_at(gpu, slice))
            {
                p.arm(Carry {
                    profile: inst.profile.name,
                    moving: Some((gpu, inst.start)),
                });
            } else {
                p.notice.set(Some(Notice::Done(
                    "Nothing to place here: Tab back to the profiles, pick one with Enter, then come back".to_owned(),
                )));
            }
            None
        }
        "Delete" | "Backspace" => {
            ev.prevent_default();
            if p.plan
                .with_untracked(|plan| plan.instance_at(gpu, slice))
                .is_some()
            {
                p.armed.set(None);
                p.remove_at(gpu, slice);
            } else {
                p.notice.set(Some(Notice::Refused(format!(
                    "GPU {gpu} has no instance on memory slice {slice} to remove"
                ))));
            }
            None
        }
        _ => None,
    };
    if let Some(target) = to {
        ev.prevent_default();
        p.cursor.set(target);
        focus_slot(target);
    }
}

#[component]
fn Instance(
    planner: Planner,
    gpu: usize,
    profile: &'static str,
    kind: ProfileKind,
    start: u8,
    memory_slices: u8,
    compute_slices: u8,
) -> impl IntoView {
    let p = planner;
    let on_down = move |ev: leptos::ev::PointerEvent| {
        if ev.button() != 0 {
            return;
        }
        ev.prevent_default();
        p.press(
            Carry {
                profile,
                moving: Some((gpu, start)),
            },
            f64::from(ev.client_x()),
            f64::from(ev.client_y()),
        );
    };
    let on_click = move |_| {
        if p.just_dragged.get_untracked() {
            p.just_dragged.set(false);
            return;
        }
        p.cursor.set((gpu, start));
        focus_slot((gpu, start));
    };
    let remove = move |ev: leptos::ev::MouseEvent| {
        ev.stop_propagation();
        p.remove_at(gpu, start);
    };
    view! {
        <div
            class=format!("inst {}", kind_class(kind))
            style:grid-column=format!("{} / span {}", start + 1, memory_slices)
            data-profile=profile
            data-start=start
            data-gpu-of=gpu
            title=format!("{profile} on memory slices {start} to {}: drag to move it, drag it off the GPU to remove it", start + memory_slices - 1)
            on:pointerdown=on_down
            on:click=on_click
        >
            <span class="inst-name">{profile}</span>
            <span class="inst-pips" aria-hidden="true">
                {(0..compute_slices).map(|_| view! { <i></i> }).collect_view()}
            </span>
            <button
                class="inst-x"
                tabindex="-1"
                aria-label=format!("Remove the {profile} at slice {start} of GPU {gpu}")
                on:pointerdown=|ev: leptos::ev::PointerEvent| ev.stop_propagation()
                on:click=remove
            >
                "×"
            </button>
        </div>
    }
}

/// The label that follows the pointer while dragging, saying whether the slot under it takes the drop.
#[component]
pub fn DragGhost(planner: Planner) -> impl IntoView {
    let p = planner;
    let verdict = move || {
        let carry = p.drag.get()?;
        let (gpu, slice) = p.hover.get()?;
        Some(
            p.plan
                .with(|plan| plan.check_drop(gpu, carry.profile, slice, carry.moving)),
        )
    };
    view! {
        <Show when=move || p.drag.with(Option::is_some)>
            <div
                class="ghost"
                class:ghost-bad=move || matches!(verdict(), Some(Err(_)))
                aria-hidden="true"
                style:transform=move || {
                    let (x, y) = p.pointer.get();
                    format!("translate({}px, {}px)", x + 14.0, y + 14.0)
                }
            >
                <strong>{move || p.drag.get().map(|c| c.profile)}</strong>
                <span>
                    {move || match verdict() {
                        Some(Ok(())) => "drop to place".to_owned(),
                        Some(Err(r)) => r.to_string(),
                        None if p.drag.get().is_some_and(|c| c.moving.is_some()) => "drop off the GPUs to remove".to_owned(),
                        None => "drop on a GPU slot".to_owned(),
                    }}
                </span>
            </div>
        </Show>
    }
}
