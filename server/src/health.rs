//! Liveness (`/healthz`) and readiness (`/readyz`) for load balancers and Kubernetes probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::AppState;

/// Liveness: the process is up and its HTTP loop answers. Checks nothing else on purpose, so a
/// slow dependency never gets a healthy server restarted.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// One readiness check and its outcome.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or what to do about it.
    pub detail: String,
}

/// Readiness: 200 when the server can serve pages users can use, else 503. The public answer says
/// only ready or not ready (paths and versions help an attacker, not a load balancer); each failing
/// check, with what to do about it, is in the server's log.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let checks = readiness_checks(&state).await;
    let ready = checks.iter().all(|c| c.ok);
    for c in checks.iter().filter(|c| !c.ok) {
        tracing::warn!(check = c.name, detail = %c.detail, "not ready");
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not ready" } });
    (code, Json(body))
}

/// Every readiness check with its outcome and what to do about a failure (for the log, and tests).
pub async fn readiness_checks(state: &AppState) -> Vec<Check> {
    let options = &state.leptos_options;
    let pkg = state.site_root().join(&*options.site_pkg_dir);
    let mut checks = Vec::new();
    for file in [
        format!("{}.js", options.output_name),
        format!("{}.wasm", options.output_name),
    ] {
        let path = pkg.join(&file);
        let found = tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file());
        checks.push(Check {
            name: "site-bundle",
            ok: found,
            detail: if found {
                format!("{} present", path.display())
            } else {
                format!(
                    "{} is missing: build the site with `make build` (cargo leptos build --release) \
                     or point --site-root / LEPTOS_SITE_ROOT at a built site",
                    path.display()
                )
            },
        });
    }
    checks
}
