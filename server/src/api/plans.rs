//! `POST /api/v1/fleet-plans`: the fewest GPUs, cut how, for a demand or a workload mix — proven
//! optimal or with its gap — against the live fleet when asked (`"fleet": "current"`); and
//! `POST /api/v1/fleet-plans/apply`: that plan carried out on the live fleet.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mig::blueprint::Issue;
use mig::capacity::PlanRequest;
use mig::capacity::apply::{ApplyOutcome, ApplyRequest};

use super::{ApiError, ApiJson, Signed};
use crate::AppState;
use crate::audit::Actor;
use crate::plans::PlanError;

fn invalid(issues: &[Issue]) -> Response {
    let first = issues.first();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(serde_json::json!({
            "error": {
                "code": "invalid_fleet_plan",
                "message": format!("the request has {} error(s){}", issues.len(), first.map(|i| format!("; first at {}: {}", if i.path.is_empty() { "/" } else { &i.path }, i.message)).unwrap_or_default()),
                "hint": first.map_or_else(|| "fix the issues listed".to_owned(), |i| i.hint.clone()),
            },
            "issues": issues,
        })),
    )
        .into_response()
}

fn plan_error(e: PlanError) -> Response {
    match e {
        PlanError::Invalid(issues) => invalid(&issues),
        PlanError::Internal(why) => {
            tracing::error!(error = %why, "fleet plans");
            ApiError::Unavailable {
                message: "the planner failed on this request".into(),
                hint: "try again; if it repeats, the server's log says why".into(),
            }
            .into_response()
        }
    }
}

/// `POST /api/v1/fleet-plans`: 200 with the plan, 422 with every issue at its JSON pointer.
pub async fn create(State(state): State<AppState>, ApiJson(req): ApiJson<PlanRequest>) -> Response {
    match crate::plans::answer(&state.fleet(), req).await {
        Ok(p) => Json(p).into_response(),
        Err(e) => plan_error(e),
    }
}

/// `POST /api/v1/fleet-plans/apply` (operator): plans against the live fleet and submits one update
/// per node that changes. 202 when every node's update was submitted; 409 `plan_changed` (nothing
/// done) when `expect` no longer matches the plan, or `plan_partly_applied` when some nodes were
/// refused (the others' updates were submitted); 422 with every issue for a bad request.
pub async fn apply(
    State(state): State<AppState>,
    Signed(caller): Signed,
    ApiJson(req): ApiJson<ApplyRequest>,
) -> Response {
    match crate::plans::apply(state.orchestrator(), state.configs(), req, &Actor::of(&caller)).await {
        Ok(ApplyOutcome::Applied(a)) if a.complete => {
            (StatusCode::ACCEPTED, Json(ApplyOutcome::Applied(a))).into_response()
        }
        Ok(ApplyOutcome::Applied(a)) => {
            let refused: Vec<&str> = a
                .nodes
                .iter()
                .filter(|n| !matches!(n.outcome, mig::capacity::apply::NodeOutcome::Submitted { .. }))
                .map(|n| n.node.as_str())
                .collect();
            let mut body = serde_json::to_value(ApplyOutcome::Applied(a.clone())).unwrap_or_default();
            body["error"] = serde_json::json!({
                "code": "plan_partly_applied",
                "message": format!("{} of {} node(s) refused: {}; the other nodes' updates were submitted", refused.len(), a.nodes.len(), refused.join(", ")),
                "hint": "each refused node says why under nodes[].message; fix that and apply again (nodes already at their planned layout are not changed again)",
            });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        Ok(changed @ ApplyOutcome::Changed { .. }) => {
            let mut body = serde_json::to_value(changed).unwrap_or_default();
            body["error"] = serde_json::json!({
                "code": "plan_changed",
                "message": "the live fleet now plans otherwise than the changes you reviewed (`expect`); nothing was applied",
                "hint": "review the new plan in this answer and apply again with its changes as `expect`",
            });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        Err(e) => plan_error(e),
    }
}
