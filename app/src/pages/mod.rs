//! One module per page.

mod account;
mod blueprints;
mod capacity;
mod deployments;
mod embed;
mod fleet;
mod fleet_browse;
mod live;
mod node;
mod not_found;
mod plan;

pub use account::{AuditRoute, LoginRoute, SettingsRoute, UsersRoute};
pub use blueprints::BlueprintsRoute;
pub use capacity::CapacityRoute;
pub use deployments::{DeploymentRoute, DeploymentsRoute, SharedRoute};
pub use embed::{EmbedDeploymentRoute, EmbedFleetRoute, EmbedLinkRoute, EmbedNodeRoute};
pub use fleet::FleetRoute;
pub use node::NodeRoute;
pub use not_found::NotFound;
pub use plan::PlanRoute;

use leptos::prelude::*;

/// The heading block every page starts with.
#[component]
fn PageHeader(title: &'static str, subtitle: &'static str) -> impl IntoView {
    view! {
        <header class="page-header">
            <h1>{title}</h1>
            <p class="subtitle">{subtitle}</p>
        </header>
    }
}

/// False until this component has hydrated in the browser (an Effect runs only there). A form
/// disabled until then cannot take input that hydration would reset to the signals' values, nor a
/// click that no handler hears yet (a lazily loaded page hydrates after the shell).
fn hydrated() -> ReadSignal<bool> {
    let (ready, set_ready) = signal(false);
    Effect::new(move |_| set_ready.set(true));
    ready
}

/// The page of a subject that does not exist (an unknown deployment or node): its heading, an
/// empty state saying where the real ones are, and a 404 when rendered on the server.
#[component]
fn SubjectNotFound(
    title: &'static str,
    subtitle: &'static str,
    empty: &'static str,
    children: Children,
) -> impl IntoView {
    not_found::answer_not_found();
    view! {
        <PageHeader title subtitle />
        <EmptyState title=empty>{children()}</EmptyState>
    }
}

/// A helpful empty state: what would be here, and what to do next.
#[component]
fn EmptyState(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <section class="empty-state">
            <svg viewBox="0 0 48 48" aria-hidden="true" class="empty-icon">
                <rect x="6" y="10" width="36" height="28" rx="4" />
                <path d="M6 18h36M14 26h8M14 31h14" />
            </svg>
            <h2>{title}</h2>
            <div class="empty-body">{children()}</div>
        </section>
    }
}

/// Waits `ms` milliseconds in the browser (a timer, no thread).
pub(crate) async fn pause(ms: u64) {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::{Poll, Waker};
    let state: Rc<RefCell<(bool, Option<Waker>)>> = Rc::default();
    let fired = state.clone();
    set_timeout(
        move || {
            let mut st = fired.borrow_mut();
            st.0 = true;
            if let Some(w) = st.1.take() {
                w.wake();
            }
        },
        std::time::Duration::from_millis(ms),
    );
    std::future::poll_fn(move |cx| {
        let mut st = state.borrow_mut();
        if st.0 {
            Poll::Ready(())
        } else {
            st.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await;
}

/// Milliseconds since the epoch in the browser (0 on the server, where nothing is submitted): for
/// names that must differ from one submission to the next.
pub(crate) fn now_ms() -> u64 {
    #[cfg(feature = "hydrate")]
    {
        // f64 milliseconds; the fraction is dropped.
        leptos::web_sys::js_sys::Date::now() as u64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// A "Copy" button for a secret or link shown once: writes `text` to the clipboard and says so
/// (or says to copy by hand where the browser refuses, e.g. on plain HTTP away from localhost).
#[component]
pub(crate) fn CopyButton(
    /// What is copied.
    text: String,
    /// The button's id.
    id: &'static str,
) -> impl IntoView {
    let state = RwSignal::new(None::<bool>);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let promise = window().navigator().clipboard().write_text(&text);
                let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                let _ = state.try_set(Some(ok));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&text, state);
    };
    view! {
        <button type="button" class="btn btn-ghost btn-small copy" id=id on:click=copy
            data-copied=move || state.get().map(|ok| ok.to_string())>
            {move || match state.get() {
                None => "Copy",
                Some(true) => "Copied",
                Some(false) => "Copy refused: select and copy by hand",
            }}
        </button>
    }
}

/// Replaces the address bar's URL without navigating (a page's state written into its link).
pub(crate) fn replace_url(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&leptos::wasm_bindgen::JsValue::NULL, "", Some(url));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}
