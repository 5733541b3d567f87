//! `agent`: the migboard node agent, one per GPU node (a DaemonSet on Kubernetes, a process elsewhere).
//!
//! It is the only component that touches MIG. In this build: the [`driver::GpuDriver`] seam, a
//! simulated driver with NVIDIA's rules and NVML's error codes ([`sim`]), and the safe, idempotent
//! apply of one GPU ([`apply`]). Its HTTP API still serves health and reports no driver; the NVML
//! driver, the API for apply and the CLI come with the rest of the node-agent work. It never depends on the `server` crate: the two share only `mig` wire types.

pub mod api;
pub mod apply;
pub mod driver;
// The NVML FFI: the one module of the agent where `unsafe` is allowed.
#[allow(unsafe_code)]
pub mod nvml;
pub mod sim;

use axum::Router;
use axum::routing::get;
use serde::Serialize;

/// What the agent knows about its node's GPUs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DriverState {
    /// No GPU driver is configured in this build, so the agent can neither read nor change MIG.
    NoDriver {
        /// What the operator should know.
        reason: String,
    },
}

/// The agent's HTTP API.
pub fn router() -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/v1/driver", get(|| async { axum::Json(driver_state()) }))
}

/// The driver state of this build.
pub fn driver_state() -> DriverState {
    DriverState::NoDriver {
        reason: "this agent build has no GPU driver; it cannot read or change MIG".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get_json(path: &str) -> (StatusCode, serde_json::Value) {
        let response = router()
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
    }
}
