//! The page for any path that is not a route.

use leptos::prelude::*;
use leptos_meta::Title;

/// Shown for unknown paths, with HTTP status 404 when rendered on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let path = leptos_router::hooks::use_location().pathname;
    view! {
        <Title text="Not found" />
        <section class="not-found">
            <p class="code">"404"</p>
            <h1>"There is no page here"</h1>
            <p>
                "Nothing is served at " <code>{move || path.get()}</code>
                ". Check the address, or go to a page from the menu."
            </p>
            <a class="btn" href="/">"Go to the fleet overview"</a>
        </section>
    }
}
