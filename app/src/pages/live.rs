//! Live updates: the server's event streams (SSE), read with the browser's `EventSource`.
//!
//! Pages render from a server function during SSR; once hydrated, they subscribe here and fetch
//! again when an event says something changed. `EventSource` reconnects by itself after a dropped
//! connection, and the server sends `resync` to a watcher that fell behind; pages also poll slowly
//! as a safety net.

/// Event types the server sends (`mig::wire::Event`'s names).
#[cfg(feature = "hydrate")]
const EVENT_TYPES: [&str; 5] = ["deployment", "step", "monitor", "fleet", "resync"];

/// Calls `on_event(type, data)` for every event of `url`'s stream while the calling component lives.
/// Does nothing during server rendering.
pub fn use_events(url: String, on_event: impl Fn(&str, &str) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use std::rc::Rc;

        use leptos::prelude::on_cleanup;
        use wasm_bindgen::JsCast as _;
        use wasm_bindgen::closure::Closure;

        let on_event = Rc::new(on_event);
        let Ok(source) = web_sys::EventSource::new(&url) else {
            leptos::logging::warn!("cannot open the event stream {url}");
            return;
        };
        let mut closures = Vec::new();
        for kind in EVENT_TYPES {
            let handler = on_event.clone();
            let closure =
                Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                    let data = e.data().as_string().unwrap_or_default();
                    handler(kind, &data);
                });
            let _ = source.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
            closures.push(closure);
        }
        // The server refused the stream (a 4xx: the link was revoked, the session ended) and the
        // browser gave up on it: read the page again, as after a `resync`, to learn why. Without
        // this a page that connected just after its link ended would wait for its safety poll.
        let handler = on_event.clone();
        let closed_source = source.clone();
        let on_error = Closure::<dyn Fn(web_sys::Event)>::new(move |_: web_sys::Event| {
            if closed_source.ready_state() == web_sys::EventSource::CLOSED {
                handler("resync", "");
            }
        });
        let _ = source.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, closures, on_error));
        on_cleanup(move || {
            let (source, closures, on_error) = held.take();
            source.close();
            drop(closures);
            drop(on_error);
        });
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (url, on_event);
    }
}
