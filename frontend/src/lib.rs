//! `frontend`: the tiny wasm cdylib that hydrates the server-rendered page in the browser.
//! All UI code lives in `app`; this crate only calls it.

/// Called by the JS glue once the wasm module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Async hydration: the planner route is a separate wasm chunk (cargo leptos build --split) that is
    // fetched before its part of the page is hydrated.
    // The view is type-erased so the async hydration future stays small enough to lay out.
    leptos::mount::hydrate_lazy(|| leptos::prelude::IntoAny::into_any(app::App()));
}
