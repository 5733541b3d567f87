//! The page for any path that is not a route.

use leptos::prelude::*;
use leptos_meta::Title;

/// Makes the server's answer a 404 (a page whose subject does not exist). It takes effect on a
/// route rendered whole before it is sent (`SsrMode::Async`, or the fallback); in the browser it
/// does nothing.
pub fn answer_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}

/// Shown for unknown paths, with HTTP status 404 when rendered on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    answer_not_found();
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
