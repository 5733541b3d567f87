//! `app`: migboard's user interface, rendered on the server (feature `ssr`) and hydrated in the
//! browser (feature `hydrate`) from the same components.
//!
//! It holds components, pages and *thin* server functions. It knows nothing of Kubernetes, NVML or
//! databases: server functions reach the world only through [`backend::Backend`], a trait object the
//! server provides as Leptos context. Domain rules come from the `mig` crate, never from UI code.

// The planner page's view types nest deeply; hydration code needs a deeper query limit to lay them out.
#![recursion_limit = "256"]

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod error;
mod layout;
mod pages;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, ParamSegment, SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

/// The response header through which a rendered page hands its CSP nonce to the server's security
/// layer, which puts it in the `Content-Security-Policy` and removes this header (it never leaves the
/// server).
pub const CSP_NONCE_HEADER: &str = "x-migboard-csp-nonce";

/// The HTML document around [`App`]; the server renders it for every page request.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // leptos_axum makes a fresh nonce for every render and puts it on every inline script it writes
    // (hydration, streamed resources); the policy must name that same nonce.
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) && let Ok(value) = http::HeaderValue::from_str(&nonce)
    {
        response.insert_header(http::HeaderName::from_static(CSP_NONCE_HEADER), value);
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: layout, navigation and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/migboard.css" />
        <Title formatter=|page: String| if page.is_empty() { "migboard".to_owned() } else { format!("{page} · migboard") } />
        <Router>
            <layout::Shell>
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view={Lazy::<pages::FleetRoute>::new()} />
                    <Route path=StaticSegment("plan") view={Lazy::<pages::PlanRoute>::new()} />
                    <Route path=StaticSegment("capacity") view={Lazy::<pages::CapacityRoute>::new()} />
                    <Route path=StaticSegment("blueprints") view={Lazy::<pages::BlueprintsRoute>::new()} />
                    <Route path=StaticSegment("deployments") view={Lazy::<pages::DeploymentsRoute>::new()} />
                    <Route path=(StaticSegment("deployments"), ParamSegment("id")) view={Lazy::<pages::DeploymentRoute>::new()} ssr=SsrMode::Async />
                    <Route path=(StaticSegment("fleet"), StaticSegment("nodes"), ParamSegment("name")) view={Lazy::<pages::NodeRoute>::new()} ssr=SsrMode::Async />
                    <Route path=StaticSegment("login") view={Lazy::<pages::LoginRoute>::new()} />
                    <Route path=StaticSegment("settings") view={Lazy::<pages::SettingsRoute>::new()} />
                    <Route path=(StaticSegment("settings"), StaticSegment("users")) view={Lazy::<pages::UsersRoute>::new()} />
                    <Route path=(StaticSegment("settings"), StaticSegment("audit")) view={Lazy::<pages::AuditRoute>::new()} />
                    <Route path=(StaticSegment("share"), ParamSegment("token")) view={Lazy::<pages::SharedRoute>::new()} ssr=SsrMode::Async />
                    <Route path=(StaticSegment("embed"), StaticSegment("fleet")) view={Lazy::<pages::EmbedFleetRoute>::new()} />
                    <Route path=(StaticSegment("embed"), StaticSegment("deployments"), ParamSegment("id")) view={Lazy::<pages::EmbedDeploymentRoute>::new()} />
                    <Route path=(StaticSegment("embed"), StaticSegment("nodes"), ParamSegment("name")) view={Lazy::<pages::EmbedNodeRoute>::new()} />
                    <Route path=(StaticSegment("embed"), StaticSegment("link"), ParamSegment("token")) view={Lazy::<pages::EmbedLinkRoute>::new()} ssr=SsrMode::Async />
                </Routes>
            </layout::Shell>
        </Router>
    }
}
