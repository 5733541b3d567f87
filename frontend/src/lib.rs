//! `frontend`: the tiny wasm cdylib that hydrates the server-rendered page in the browser.
//! All UI code lives in `app`; this crate only calls it.

/// Called by the JS glue once the wasm module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
