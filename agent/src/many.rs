//! One process serving many simulated nodes (`migboard-agent serve-many`): how the embedded fleet
//! and fleet files run hundreds of nodes on one machine without hundreds of processes.
//!
//! Each node is what `serve --simulate` would be on its own — its own [`SimDriver`], token, state
//! file, journal, operations and metrics — with the same HTTP API ([`crate::api::router`]), served
//! under [`mig::agent_api::node_prefix`] of its name. Nothing is shared between nodes but the
//! listener and the async runtime, so one node's apply, fault or busy slice never shows on another.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use mig::agent_api::{AgentError, ErrorBody, ErrorCode, SimNode, SimNodes, node_prefix};
use tower::ServiceExt as _;

use crate::api::{AgentState, Operation};
use crate::driver::GpuDriver;
use crate::sim::{SimDriver, SimOptions, parse_simulate};

/// A node that could not be started, and why.
#[derive(Debug, thiserror::Error)]
#[error("node {node}: {reason}")]
pub struct NodeError {
    /// The node.
    pub node: String,
    /// Why.
    pub reason: String,
}

/// One started node: its name, its API state, and the apply its journal resumed, if any.
#[derive(Debug)]
pub struct Started {
    /// Node name.
    pub name: String,
    /// Its API's state.
    pub state: AgentState,
    /// An apply a crash had interrupted, carried out again at start.
    pub resumed: Option<Operation>,
}

/// Starts one node: its simulated GPUs (restored from its state file), and resumes its journal.
///
/// # Errors
/// [`NodeError`] naming the node: a bad `simulate`, an unreadable state file or journal.
pub fn start_node(node: &SimNode) -> Result<Started, NodeError> {
    let fail = |reason: String| NodeError {
        node: node.name.clone(),
        reason,
    };
    let (model, count) = parse_simulate(&node.simulate).map_err(fail)?;
    let mut sim = SimDriver::new(model, count, SimOptions::default())
        .with_latency(std::time::Duration::from_millis(node.latency_ms));
    if let Some(path) = &node.state {
        sim = sim
            .with_state_file(std::path::Path::new(path))
            .map_err(|e| fail(e.to_string()))?;
    }
    let driver: Arc<dyn GpuDriver> = Arc::new(sim);
    let mut state = AgentState::new(driver, node.token.expose());
    if let Some(path) = &node.journal {
        state = state.with_journal(std::path::Path::new(path));
    }
    let resumed = state.resume().map_err(fail)?;
    Ok(Started {
        name: node.name.clone(),
        state,
        resumed,
    })
}

/// Starts every node of `nodes` (checked first: names, tokens, count).
///
/// # Errors
/// Every node that cannot start, one per line; nothing is served then.
pub fn start(nodes: &SimNodes) -> Result<Vec<Started>, String> {
    nodes.check()?;
    let mut started = Vec::with_capacity(nodes.nodes.len());
    let mut problems = Vec::new();
    for node in &nodes.nodes {
        match start_node(node) {
            Ok(s) => started.push(s),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(started)
    } else {
        Err(problems.join("\n"))
    }
}

/// The API of every node under its prefix, and `/healthz` for the process.
///
/// One route dispatches to each node's own router by name rather than nesting 500 routers into
/// one: axum copies a router's whole route table for every connection it serves (500 nodes × 9
/// routes, a few MiB per keep-alive connection, measured), and a lookup in a map costs nothing.
pub fn router(nodes: Vec<Started>) -> Router {
    let table: Arc<HashMap<String, Router>> = Arc::new(
        nodes
            .into_iter()
            .map(|n| (n.name, crate::api::router(n.state)))
            .collect(),
    );
    Router::new()
        .route("/healthz", get(crate::healthz))
        .route("/nodes/{node}/{*rest}", any(dispatch))
        .with_state(table)
}

/// `/nodes/{node}/…` → `…` on that node's router; an unknown node is 404 in the API's error shape.
async fn dispatch(
    State(table): State<Arc<HashMap<String, Router>>>,
    Path((node, _)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(router) = table.get(&node) else {
        let body = ErrorBody {
            error: AgentError::new(
                ErrorCode::NotFound,
                format!("no node {node} in this agent"),
            ),
        };
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let (mut parts, body) = request.into_parts();
    let prefix = node_prefix(&node);
    let rest = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .strip_prefix(prefix.as_str())
        .unwrap_or("/")
        .to_owned();
    parts.uri = match rest.parse() {
        Ok(uri) => uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    // This route's matched parameters (node, rest) live in the extensions, where the node's own
    // routes would read them as theirs: the node's router gets the request without them.
    parts.extensions = axum::http::Extensions::new();
    match router.clone().oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn node(name: &str, token: &str, dir: &std::path::Path) -> SimNode {
        SimNode {
            name: name.into(),
            simulate: "h100x2".into(),
            token: token.to_owned().into(),
            state: Some(dir.join(format!("{name}.json")).display().to_string()),
            journal: Some(dir.join(format!("{name}.journal")).display().to_string()),
            latency_ms: 0,
        }
    }

    async fn call(app: &Router, method: &str, path: &str, token: &str, body: Option<&str>) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn each_node_has_its_own_token_gpus_and_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ta, tb) = ("token-of-node-a-0001", "token-of-node-b-0002");
        let nodes = SimNodes {
            nodes: vec![node("node-a", ta, dir.path()), node("node-b", tb, dir.path())],
        };
        let app = router(start(&nodes).expect("starts"));

        // Node a's token opens node a, not node b.
        assert_eq!(call(&app, "GET", "/nodes/node-a/v1/inventory", ta, None).await.0, StatusCode::OK);
        assert_eq!(
            call(&app, "GET", "/nodes/node-b/v1/inventory", ta, None).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(call(&app, "GET", "/nodes/node-c/v1/inventory", ta, None).await.0, StatusCode::NOT_FOUND);

        // An apply on node a changes node a only, and is written to node a's state file.
        let (status, accepted) = call(
            &app,
            "POST",
            "/nodes/node-a/v1/apply",
            ta,
            Some(r#"{"config":"all-1g.10gb","reset":true}"#),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        let op: mig::agent_api::Accepted = serde_json::from_value(accepted).expect("accepted");
        let mut done = false;
        for _ in 0..200 {
            let (_, body) = call(&app, "GET", &format!("/nodes/node-a/v1/operations/{}", op.operation), ta, None).await;
            let op: Operation = serde_json::from_value(body).expect("operation");
            if op.status != mig::agent_api::OperationStatus::Running {
                assert_eq!(op.status, mig::agent_api::OperationStatus::Succeeded, "{op:?}");
                done = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(done, "the apply on node a never finished");
        let instances = |body: serde_json::Value| -> Vec<usize> {
            let inv: mig::agent_api::Inventory = serde_json::from_value(body).expect("inventory");
            inv.gpus.iter().map(|g| g.instances.len()).collect()
        };
        assert_eq!(instances(call(&app, "GET", "/nodes/node-a/v1/inventory", ta, None).await.1), [7, 7]);
        assert_eq!(instances(call(&app, "GET", "/nodes/node-b/v1/inventory", tb, None).await.1), [0, 0]);

        // Restarted from the same files, each node finds its own GPUs as they were.
        drop(app);
        let again = router(start(&nodes).expect("restarts"));
        assert_eq!(instances(call(&again, "GET", "/nodes/node-a/v1/inventory", ta, None).await.1), [7, 7]);
        assert_eq!(instances(call(&again, "GET", "/nodes/node-b/v1/inventory", tb, None).await.1), [0, 0]);
        assert_eq!(call(&again, "GET", "/healthz", "", None).await.0, StatusCode::OK);
    }

    #[test]
    fn a_node_that_cannot_start_is_named_and_nothing_is_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bad = node("node-x", "token-of-node-x-0001", dir.path());
        bad.simulate = "h100x99".into();
        let broken = node("node-y", "token-of-node-y-0001", dir.path());
        std::fs::write(broken.state.as_ref().expect("state"), "{not json").expect("write");
        let err = start(&SimNodes { nodes: vec![bad, broken] }).expect_err("two bad nodes");
        assert!(err.contains("node node-x: `99` in `h100x99` is not a GPU count"), "{err}");
        assert!(err.contains("node node-y: simulator state file"), "{err}");
    }
}
