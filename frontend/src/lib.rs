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

/// Slack in the read-only data segment for the route splitter; nothing reads it.
///
/// `cargo leptos build --split` (wasm_split_cli_support 0.2.3) gives each wasm chunk the read-only data its code
/// uses. Data two chunks share is copied into both, and each chunk's data is aligned, so the relocated data can come
/// out a few hundred bytes longer than the linker's segment; the splitter then gives up and puts the *whole*
/// segment (every chunk's strings, ~160 KB) into the main module ("Overlong segment 0 by N after relocation").
/// This retained, unreferenced block belongs to no chunk, so the relocated data fits again. Only a build without
/// `--split` carries these bytes. `scripts/wasm-size.sh` (part of `make test`) fails if the main module outgrows its
/// budget again, which is what this regression looks like (283 KB → 332 KB gzip in November 2026).
#[used]
static SPLIT_DATA_SLACK: [u8; 8192] = [0x5a; 8192];
