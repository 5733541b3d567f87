//! `agent`: the migboard node agent, one per GPU node (a DaemonSet on Kubernetes, a process elsewhere).
//!
//! It is the only component that touches MIG: the [`driver::GpuDriver`] seam with the NVML driver
//! ([`nvml`]) and a simulated one ([`sim`]), the safe, idempotent apply of one GPU ([`apply`]), and
//! the HTTP API ([`api`]). Without a driver it serves only health and why it has none
//! ([`router_without_driver`]). It never depends on the `server` crate: the two share only `mig`
//! wire types.

pub mod api;
pub mod apply;
pub mod auth;
pub mod driver;
pub mod many;
// The NVML FFI: the one module of the agent where `unsafe` is allowed.
#[allow(unsafe_code)]
pub mod nvml;
pub mod sim;

use axum::Router;
use axum::routing::get;
use serde::Serialize;

/// What the agent knows about its node's GPUs when it has no driver.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DriverState {
    /// No GPU driver could be loaded, so the agent can neither read nor change MIG.
    NoDriver {
        /// Why, as the driver said it.
        reason: String,
    },
}

/// `GET /healthz`: the agent's HTTP loop answers.
pub(crate) async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// The API of an agent that could not load a GPU driver: health, and `/v1/driver` saying why.
pub fn router_without_driver(reason: String) -> Router {
    let state = DriverState::NoDriver { reason };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/driver", get(move || async move { axum::Json(state) }))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get_json(path: &str) -> (StatusCode, serde_json::Value) {
        let response = router_without_driver(
            "no NVIDIA driver on this node: libnvidia-ml.so.1 not found".to_owned(),
        )
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("json body"))
    }

    #[tokio::test]
    async fn health_and_driver_state_are_served() {
        assert_eq!(
            get_json("/healthz").await,
            (StatusCode::OK, serde_json::json!({"status": "ok"}))
        );
        let (status, body) = get_json("/v1/driver").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["state"], "no_driver");
        assert_eq!(
            body["reason"],
            "no NVIDIA driver on this node: libnvidia-ml.so.1 not found"
        );
    }
}
