//! `server`: the migboard web server.
//!
//! It renders the Leptos app on the server, serves the hydration bundle and static assets, answers
//! server functions and exposes health endpoints. It is the only place that wires the outside world
//! (configuration, logging, later persistence and cluster backends) to the pure `mig` rules and the
//! `app` UI. It does not touch GPUs: that is the node agent's job, reached over HTTP.

pub mod api;
pub mod auth;
pub mod charts;
pub mod cluster;
pub mod config;
pub mod health;
pub mod logging;
pub mod orchestrator;
pub mod security;
pub mod state;
pub mod store;

use axum::Router;
use axum::routing::{get, post};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

pub use state::AppState;

/// Builds the whole HTTP application with the default security settings (only migboard may frame
/// its pages).
pub fn router(state: AppState) -> Router {
    router_with(state, &security::Security::default())
}

/// Builds the whole HTTP application: pages, server functions, static files and health endpoints,
/// with security headers on every response and cross-site changes refused.
pub fn router_with(state: AppState, security: &security::Security) -> Router {
    let routes = generate_route_list(app::App);
    let backend = state.backend();
    let options = state.leptos_options.clone();
    let cookies = auth::CookiePolicy {
        secure: security.cookie_secure,
        embedding: !security.frame_ancestors.is_empty(),
    };
    let sessions = auth::session_layer(state.orchestrator().store().clone(), cookies);
    let router = Router::new()
        .route("/login", post(auth::login_form))
        .route("/logout", post(auth::logout))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(axum::middleware::from_fn(auth::server_fn_status))
        .layer(axum::middleware::from_fn_with_state(
            state.auth(),
            auth::authenticate,
        ))
        .layer(sessions);
    // Framed by other sites: the session cookie is partitioned per embedding site (CHIPS).
    let router = if cookies.embedding {
        router.layer(axum::middleware::from_fn(auth::partition_cookie))
    } else {
        router
    };
    router
        .layer(axum::middleware::from_fn(security::same_origin))
        .layer(axum::middleware::from_fn_with_state(
            security::csp_header(security),
            security::headers,
        ))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
