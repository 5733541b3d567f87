//! `server`: the migboard web server.
//!
//! It renders the Leptos app, serves the bundle, answers server functions and the REST API ([`api`]),
//! authenticates and authorizes every request ([`auth`]), carries deployments out durably
//! ([`orchestrator`]) on a cluster backend ([`cluster`]), and keeps its state in SQLite or PostgreSQL
//! ([`store`]). Arrows point one way: the HTTP surface ([`api`], [`auth`], this router) calls the
//! services ([`orchestrator`], [`shares`], accounts), which call [`store`] and [`cluster`], which call
//! `mig`; nothing below the surface imports [`api`].
//!
//! It does not touch GPUs: node agents do, reached over HTTP through the typed protocol
//! `mig::agent_api`.

pub mod api;
pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod charts;
pub mod cluster;
pub mod config;
pub mod configs;
pub mod embeds;
pub mod error;
pub mod health;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod orchestrator;
pub mod pack;
pub mod plans;
pub mod request_id;
pub mod security;
pub mod serve;
pub mod shares;
pub mod state;
pub mod store;
pub mod streams;

use axum::Router;
use axum::routing::{get, post};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
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
    let auth_state = state
        .auth()
        .with_trusted_proxies(security.trusted_proxies.clone());
    let streams = streams::Streams::new(
        security.streams,
        auth_state.clone(),
        state.shares().clone(),
        state.embeds().clone(),
    );
    state.embeds().limit_portals(&security.frame_ancestors);
    let requests = std::sync::Arc::new(metrics::RequestMetrics::default());
    let router = Router::new()
        .route("/login", post(auth::login_form))
        .route("/logout", post(auth::logout))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/pkg/pack", get(pack::serve))
        .route("/metrics", get(metrics::serve))
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
        .layer(axum::middleware::from_fn_with_state(
            requests.clone(),
            metrics::track,
        ))
        .layer(axum::Extension(streams))
        .layer(axum::Extension(requests))
        .layer(axum::Extension(std::sync::Arc::new(metrics::MetricsAccess {
            token: security.metrics_token.clone(),
        })))
        .layer(axum::middleware::from_fn(auth::server_fn_status))
        .layer(axum::middleware::from_fn_with_state(
            auth_state,
            auth::authenticate,
        ))
        .layer(sessions);
    // Framed by other sites: the session cookie is partitioned per embedding site (CHIPS).
    let router = if cookies.embedding {
        router.layer(axum::middleware::from_fn(auth::partition_cookie))
    } else {
        router
    };
    let headers = std::sync::Arc::new(security.clone());
    router
        .layer(axum::Extension(headers.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.embeds().clone(),
            security::link_framing,
        ))
        .layer(axum::middleware::from_fn_with_state(
            headers.clone(),
            security::same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            headers,
            security::headers,
        ))
        .layer(axum::middleware::from_fn(request_id::assign))
        .layer(streams::CompressExceptStreams)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
