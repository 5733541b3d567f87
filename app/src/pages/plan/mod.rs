//! `/plan`: the slice planner. Drag profiles onto a node's GPUs (or use the keyboard), with NVIDIA's
//! placement rules enforced as you go; read the summary, size a model, export the plan.
//!
//! The page is a view of a [`mig::NodePlan`]: every rule, refusal, count and export comes from `mig`,
//! compiled into the browser. This module holds the page's state ([`Planner`]) and its pointer and
//! keyboard plumbing; each panel is its own module.

mod apply;
mod board;
mod export;
mod gallery;
mod palette;
mod sizing;
mod summary;
mod toolbar;

pub(crate) use board::kind_class;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::{NamedConfig, NodePlan};

use super::PageHeader;
use crate::api::plan::named_configs;
use crate::error::AppError;

/// How many edits undo remembers.
const HISTORY: usize = 200;
/// How far (CSS px) a pressed pointer must move before the press becomes a drag.
const DRAG_THRESHOLD: f64 = 4.0;

/// What is being carried: a profile from the palette, or an instance lifted off a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Carry {
    /// The profile's name on the plan's model.
    pub profile: &'static str,
    /// The instance being moved, as (GPU, start); `None` for a new instance.
    pub moving: Option<(usize, u8)>,
}

/// The outcome of the last action, announced in a live region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// It was done.
    Done(String),
    /// It was refused; the reason.
    Refused(String),
}

/// A pointer pressed on a draggable thing that has not moved far enough to be a drag yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Press {
    carry: Carry,
    x: f64,
    y: f64,
}

/// The planner's state, shared by its panels. All signals, so it is `Copy`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planner {
    /// The plan.
    pub plan: RwSignal<NodePlan>,
    /// Its summary, computed once per edit for the board and the summary card alike.
    pub summary: Memo<mig::PlanSummary>,
    past: RwSignal<Vec<NodePlan>>,
    future: RwSignal<Vec<NodePlan>>,
    /// Picked for placing by keyboard or tap: the next Enter or slot click drops it.
    pub armed: RwSignal<Option<Carry>>,
    press: RwSignal<Option<Press>>,
    /// Being dragged with a pointer.
    pub drag: RwSignal<Option<Carry>>,
    /// The slot under the dragging pointer.
    pub hover: RwSignal<Option<(usize, u8)>>,
    /// Where the dragging pointer is (client px), for the drag ghost.
    pub pointer: RwSignal<(f64, f64)>,
    /// The keyboard cursor: (GPU, memory slice).
    pub cursor: RwSignal<(usize, u8)>,
    /// The last outcome.
    pub notice: RwSignal<Option<Notice>>,
    /// Which GPU named configs and gallery picks apply to; `None` = every GPU.
    pub target: RwSignal<Option<usize>>,
    /// Set when a drag ended, so the click that follows it is not taken as a tap.
    just_dragged: RwSignal<bool>,
}

impl Planner {
    fn new(plan: NodePlan) -> Self {
        let plan = RwSignal::new(plan);
        Self {
            plan,
            summary: Memo::new(move |_| plan.with(NodePlan::summary)),
            past: RwSignal::new(Vec::new()),
            future: RwSignal::new(Vec::new()),
            armed: RwSignal::new(None),
            press: RwSignal::new(None),
            drag: RwSignal::new(None),
            hover: RwSignal::new(None),
            pointer: RwSignal::new((0.0, 0.0)),
            cursor: RwSignal::new((0, 0)),
            notice: RwSignal::new(None),
            target: RwSignal::new(None),
            just_dragged: RwSignal::new(false),
        }
    }

    /// What is carried right now: the drag, else the armed pick.
    pub fn carried(self) -> Option<Carry> {
        self.drag.get().or_else(|| self.armed.get())
    }

    /// Applies an edit to a copy of the plan; on success the copy becomes the plan (undoably) and
    /// the message is announced, on failure the plan is untouched and the reason is announced.
    pub fn commit(self, edit: impl FnOnce(&mut NodePlan) -> Result<String, String>) -> bool {
        let current = self.plan.get_untracked();
        let mut next = current.clone();
        match edit(&mut next) {
            Ok(message) => {
                if next != current {
                    self.past.update(|p| {
                        p.push(current);
                        if p.len() > HISTORY {
                            p.remove(0);
                        }
                    });
                    self.future.update(Vec::clear);
                    self.plan.set(next);
                }
                self.notice.set(Some(Notice::Done(message)));
                true
            }
            Err(reason) => {
                self.notice.set(Some(Notice::Refused(reason)));
                false
            }
        }
    }

    /// Drops what is carried on (GPU, slice). Returns whether it was placed.
    pub fn drop_at(self, carry: Carry, gpu: usize, slice: u8) -> bool {
        self.commit(|p| {
            p.drop_profile(gpu, carry.profile, slice, carry.moving)
                .map_err(|r| r.to_string())?;
            Ok(match carry.moving {
                Some((from, at)) => format!(
                    "Moved {} from GPU {from} slice {at} to GPU {gpu} slice {slice}",
                    carry.profile
                ),
                None => format!(
                    "Placed {} on GPU {gpu} at memory slice {slice}",
                    carry.profile
                ),
            })
        })
    }

    /// Removes the instance covering (GPU, slice).
    pub fn remove_at(self, gpu: usize, slice: u8) -> bool {
        self.commit(|p| {
            let removed = p.remove(gpu, slice).map_err(|r| r.to_string())?;
            Ok(format!("Removed {} from GPU {gpu}", removed.name))
        })
    }

    /// Whether there is something to undo / redo.
    pub fn can_undo(self) -> bool {
        self.past.with(|p| !p.is_empty())
    }
    /// See [`can_undo`](Self::can_undo).
    pub fn can_redo(self) -> bool {
        self.future.with(|f| !f.is_empty())
    }

    /// Steps back one edit.
    pub fn undo(self) {
        if let Some(prev) = self.past.try_update(Vec::pop).flatten() {
            let now = self.plan.get_untracked();
            self.future.update(|f| f.push(now));
            self.plan.set(prev);
            self.notice.set(Some(Notice::Done("Undone".to_owned())));
        }
    }

    /// Re-applies an undone edit.
    pub fn redo(self) {
        if let Some(next) = self.future.try_update(Vec::pop).flatten() {
            let now = self.plan.get_untracked();
            self.past.update(|p| p.push(now));
            self.plan.set(next);
            self.notice.set(Some(Notice::Done("Redone".to_owned())));
        }
    }

    /// Picks up `carry` for placing with the keyboard or a tap, and moves focus to the board.
    pub fn arm(self, carry: Carry) {
        self.armed.set(Some(carry));
        let what = match carry.moving {
            Some((g, s)) => format!("Moving the {} from GPU {g} slice {s}", carry.profile),
            None => format!("Placing {}", carry.profile),
        };
        self.notice.set(Some(Notice::Done(format!(
            "{what}: choose a start with the arrow keys and press Enter, or click a slot. Esc cancels."
        ))));
        board::focus_slot(self.cursor.get_untracked());
    }

    /// Puts down whatever is armed.
    pub fn disarm(self) {
        if self.armed.get_untracked().is_some() {
            self.armed.set(None);
            self.notice.set(Some(Notice::Done("Cancelled".to_owned())));
        }
    }

    /// A pointer went down on something draggable. Any text selection goes first: a press on
    /// selected text would start the browser's own text drag, which cancels our pointer stream.
    pub fn press(self, carry: Carry, x: f64, y: f64) {
        #[cfg(feature = "hydrate")]
        if let Ok(Some(selection)) = window().get_selection() {
            let _ = selection.remove_all_ranges();
        }
        self.press.set(Some(Press { carry, x, y }));
    }
}

/// The planner as a lazily loaded route: built with `cargo leptos build --split`, its code is a
/// separate wasm chunk fetched when `/plan` is first shown, so the other pages do not download it.
#[derive(Debug)]
pub struct PlanRoute;

#[lazy_route]
impl LazyRoute for PlanRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let PlanRoute = this;
        view! { <PlanPage /> }.into_any()
    }
}

/// The slice planner page.
#[component]
pub fn PlanPage() -> AnyView {
    // The plan comes from the link once, when the page is rendered (on the server, then again
    // identically while hydrating); after that edits write the link, not the other way round.
    let query = use_query_map();
    let (initial, link_error) = match query
        .with_untracked(|q| NodePlan::from_query(q.latest_values().map(|(k, v)| (k.as_ref(), v))))
    {
        Ok(plan) => (plan, None),
        Err(e) => (NodePlan::default(), Some(e.to_string())),
    };
    let planner = Planner::new(initial);
    let configs: Resource<Result<Vec<NamedConfig>, AppError>> = Resource::new(
        move || planner.plan.with(|p| p.model()),
        |model| named_configs(model.id().to_owned()),
    );

    // Browser only: the link follows the plan, and window-wide pointer and keyboard handling.
    Effect::watch(
        move || planner.plan.with(NodePlan::to_query),
        move |query, _, _| super::replace_url(&format!("/plan?{query}")),
        false,
    );
    Effect::new(move |_| install_window_handlers(planner));

    view! {
        <Title text="Plan" />
        <PageHeader
            title="Plan"
            subtitle="Lay out MIG instances on a node's GPUs. NVIDIA's placement rules are enforced as you drag."
        />
        {link_error
            .map(|e| {
                view! {
                    <p class="banner banner-error" role="alert" id="link-error">
                        <strong>"This link's plan could not be read. "</strong>
                        {e}
                        ". Showing an empty BM.GPU.H100.8 instead."
                    </p>
                }
            })}
        <toolbar::Toolbar planner configs />
        <div class="planner">
            <div class="planner-main">
                <palette::Palette planner />
                <board::Board planner />
                <p
                    id="plan-notice"
                    class="notice"
                    role="status"
                    aria-live="polite"
                    data-kind=move || match planner.notice.get() {
                        Some(Notice::Refused(_)) => "refused",
                        Some(Notice::Done(_)) => "done",
                        None => "none",
                    }
                >
                    {move || match planner.notice.get() {
                        Some(Notice::Done(m) | Notice::Refused(m)) => m,
                        None => {
                            "Drag a profile onto a GPU, or select one and use the arrow keys and Enter."
                                .to_owned()
                        }
                    }}
                </p>
                <gallery::Gallery planner />
            </div>
            <div class="planner-side">
                <summary::Summary planner configs />
                <sizing::Sizing planner />
                <apply::Apply planner />
                <export::Export planner configs />
            </div>
        </div>
        <board::DragGhost planner />
    }
    .into_any()
}

/// Pointer moves and releases are followed on the window, so a drag continues wherever the pointer
/// goes; undo/redo/cancel shortcuts work anywhere on the page except in text fields.
fn install_window_handlers(p: Planner) {
    let on_move = window_event_listener(leptos::ev::pointermove, move |ev| {
        let Some(press) = p.press.get_untracked() else {
            return;
        };
        let (x, y) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
        if p.drag.get_untracked().is_none() {
            if (x - press.x).hypot(y - press.y) < DRAG_THRESHOLD {
                return;
            }
            p.armed.set(None);
            p.drag.set(Some(press.carry));
        }
        p.pointer.set((x, y));
        autoscroll(y);
        let hit = board::slot_at(x, y);
        if hit != p.hover.get_untracked() {
            p.hover.set(hit);
        }
    });
    let on_up = window_event_listener(leptos::ev::pointerup, move |_| {
        p.press.set(None);
        let Some(carry) = p.drag.get_untracked() else {
            return;
        };
        // The click that may follow this release must not count as a tap; clear the flag once the
        // events of this release have been dispatched, so no later click is swallowed.
        p.just_dragged.set(true);
        set_timeout(move || p.just_dragged.set(false), std::time::Duration::ZERO);
        let hover = p.hover.get_untracked();
        p.drag.set(None);
        p.hover.set(None);
        match (hover, carry.moving) {
            (Some((gpu, slice)), _) => {
                if p.drop_at(carry, gpu, slice) {
                    p.cursor.set((gpu, slice));
                }
            }
            (None, Some((gpu, start))) => {
                p.remove_at(gpu, start);
            }
            (None, None) => p.notice.set(Some(Notice::Done(format!(
                "{} was dropped outside the GPUs: nothing changed",
                carry.profile
            )))),
        }
    });
    let on_cancel = window_event_listener(leptos::ev::pointercancel, move |_| {
        p.press.set(None);
        p.drag.set(None);
        p.hover.set(None);
    });
    // While a profile is held, the browser must not start a drag of its own (of selected text or
    // an image): that would take the pointer away mid-drag.
    let on_native_drag = window_event_listener(leptos::ev::dragstart, move |ev| {
        if p.press.get_untracked().is_some() {
            ev.prevent_default();
        }
    });
    let on_key = window_event_listener(leptos::ev::keydown, move |ev| {
        if in_text_field(&ev) {
            return;
        }
        let key = ev.key();
        let ctrl = ev.ctrl_key() || ev.meta_key();
        match key.as_str() {
            "z" | "Z" if ctrl && ev.shift_key() => {
                ev.prevent_default();
                p.redo();
            }
            "z" | "Z" if ctrl => {
                ev.prevent_default();
                p.undo();
            }
            "y" | "Y" if ctrl => {
                ev.prevent_default();
                p.redo();
            }
            "Escape" => {
                if p.drag.get_untracked().is_some() {
                    p.press.set(None);
                    p.drag.set(None);
                    p.hover.set(None);
                    p.notice
                        .set(Some(Notice::Done("Drag cancelled".to_owned())));
                } else {
                    p.disarm();
                }
            }
            _ => {}
        }
    });
    on_cleanup(move || {
        on_move.remove();
        on_up.remove();
        on_cancel.remove();
        on_native_drag.remove();
        on_key.remove();
    });
}

/// Scrolls the page while a drag is near its top or bottom edge, so every GPU of a node can be reached.
fn autoscroll(y: f64) {
    const EDGE: f64 = 48.0;
    const STEP: f64 = 24.0;
    let w = window();
    let height = w
        .inner_height()
        .ok()
        .and_then(|h| h.as_f64())
        .unwrap_or(0.0);
    if y < EDGE {
        w.scroll_by_with_x_and_y(0.0, -STEP);
    } else if height > 0.0 && y > height - EDGE {
        w.scroll_by_with_x_and_y(0.0, STEP);
    }
}

/// Whether a key event comes from a text input, where shortcuts must not steal keys.
fn in_text_field(ev: &leptos::ev::KeyboardEvent) -> bool {
    use leptos::wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
}
