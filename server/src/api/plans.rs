//! `POST /api/v1/fleet-plans`: the fewest GPUs, cut how, for a demand or a workload mix — proven
//! optimal or with its gap — against the live fleet when asked (`"fleet": "current"`).

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mig::GpuModel;
use mig::capacity::{FleetGpu, FleetInput, FleetName, PlanRequest, plan};
use mig::layout::InstanceSpec;

use super::{ApiError, ApiJson};
use crate::AppState;
use crate::cluster::Fleet;

/// The live fleet's GPUs of `model` with MIG on, with their instances and the busy ones.
#[must_use]
pub fn current_fleet(fleet: &Fleet, model: GpuModel) -> Vec<FleetGpu> {
    fleet
        .nodes
        .iter()
        .flat_map(|n| {
            n.gpus
                .iter()
                .filter(|g| g.model == Some(model) && g.mig_mode == mig::MigMode::Enabled)
                .map(|g| FleetGpu {
                    node: n.name.clone(),
                    gpu: g.index,
                    instances: g.instances.clone(),
                    busy: g
                        .busy
                        .iter()
                        .map(|b| InstanceSpec {
                            profile: b.profile.clone(),
                            start: b.start,
                        })
                        .collect(),
                })
        })
        .collect()
}

/// `POST /api/v1/fleet-plans`: 200 with the plan, 422 with every issue at its JSON pointer.
pub async fn create(
    State(state): State<AppState>,
    ApiJson(mut req): ApiJson<PlanRequest>,
) -> Response {
    if let (Some(FleetInput::Named(FleetName::Current)), Ok(model)) =
        (&req.fleet, req.model.parse::<GpuModel>())
    {
        req.fleet = Some(FleetInput::Gpus(current_fleet(&state.fleet(), model)));
    }
    let resolved = match req.resolve() {
        Ok(r) => r,
        Err(issues) => {
            let first = issues.first();
            return (
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
                .into_response();
        }
    };
    let budget = Duration::from_millis(u64::from(req.budget_ms()));
    // CPU-bound: off the async workers.
    let solved = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let deadline = start + budget;
        let mut p = plan(&resolved, &mut || Instant::now() > deadline);
        p.solve_ms = start.elapsed().as_secs_f64() * 1000.0;
        p
    })
    .await;
    match solved {
        Ok(p) => {
            tracing::info!(model = %p.model.id(), gpus = p.gpus, lower_bound = p.lower_bound, optimal = p.optimal, solve_ms = p.solve_ms, "fleet plan");
            Json(p).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "fleet planner task failed");
            ApiError::Unavailable {
                message: "the planner failed on this request".into(),
                hint: "try again; if it repeats, report the request body".into(),
            }
            .into_response()
        }
    }
}
