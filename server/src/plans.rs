//! Fleet plans: solving a [`PlanRequest`] on a blocking thread within its time budget, against the
//! live fleet when asked, and carrying a plan out on the live fleet (one custom config and one update
//! deployment per node that changes). The REST handlers and the `/capacity` page's server function
//! both call these.

use std::time::{Duration, Instant};

use mig::GpuModel;
use mig::blueprint::Issue;
use mig::capacity::apply::{
    AppliedPlan, ApplyOutcome, ApplyRequest, DEFAULT_PREFIX, NodeApplied, NodeOutcome,
    check_prefix, fleet_gpus, node_changes, planned_changes, same_changes,
};
use mig::capacity::shapes::plan_shapes;
use mig::capacity::{Answer, FleetInput, FleetName, FleetPlan, PlanRequest, plan};

use crate::audit::Actor;
use crate::cluster::Fleet;
use crate::configs::{ConfigError, MigConfigs};
use crate::orchestrator::{Orchestrator, OrchestratorError};

/// Why a plan could not be made or carried out (beyond the request's own issues).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The request breaks rules; every issue has its JSON pointer.
    #[error("the plan request has {} error(s)", .0.len())]
    Invalid(Vec<Issue>),
    /// The server failed (the solver's thread, the database); the log says more.
    #[error("{0}")]
    Internal(String),
}

/// Solves `req`, with `"fleet": "current"` replaced by `fleet`'s GPUs of the model, on a blocking
/// thread within the request's time budget. `solve_ms` is the time spent.
///
/// # Errors
/// [`PlanError::Invalid`] with every issue; [`PlanError::Internal`] when the solver's thread fails.
pub async fn solve(fleet: &Fleet, mut req: PlanRequest) -> Result<FleetPlan, PlanError> {
    if let (Some(FleetInput::Named(FleetName::Current)), Ok(model)) =
        (&req.fleet, req.model.parse::<GpuModel>())
    {
        req.fleet = Some(FleetInput::Gpus(fleet_gpus(fleet, model)));
    }
    let resolved = req.resolve().map_err(PlanError::Invalid)?;
    let (mut solved, ms) = off_thread(req.budget_ms(), move |stop| plan(&resolved, stop)).await?;
    solved.solve_ms = ms;
    tracing::info!(model = %solved.model.id(), gpus = solved.gpus, lower_bound = solved.lower_bound, optimal = solved.optimal, solve_ms = solved.solve_ms, "fleet plan");
    Ok(solved)
}

/// Runs the solver `f` on a blocking thread (it is CPU-bound: off the async workers), its `stop`
/// saying yes once `budget_ms` have passed; with the milliseconds it took.
async fn off_thread<T: Send + 'static>(
    budget_ms: u32,
    f: impl FnOnce(&mut dyn FnMut() -> bool) -> T + Send + 'static,
) -> Result<(T, f64), PlanError> {
    let budget = Duration::from_millis(u64::from(budget_ms));
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let deadline = start + budget;
        let out = f(&mut || Instant::now() > deadline);
        (out, start.elapsed().as_secs_f64() * 1000.0)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "fleet planner task failed");
        PlanError::Internal("the planner failed on this request".into())
    })
}

/// Solves `req` in whichever form it takes: one model ([`solve`]), or node shapes with costs (the
/// cheapest mix of nodes), on a blocking thread within the request's time budget.
///
/// # Errors
/// As [`solve`].
pub async fn answer(fleet: &Fleet, req: PlanRequest) -> Result<Answer, PlanError> {
    if req.shapes.is_empty() {
        return solve(fleet, req).await.map(Answer::Fleet);
    }
    let resolved = req.resolve_shapes().map_err(PlanError::Invalid)?;
    let (mut solved, ms) =
        off_thread(req.budget_ms(), move |stop| plan_shapes(&resolved, stop)).await?;
    solved.solve_ms = ms;
    tracing::info!(shapes = solved.shapes.len(), nodes = solved.nodes, cost = solved.cost, lower_bound = solved.lower_bound, optimal = solved.optimal, solve_ms = solved.solve_ms, "fleet plan over node shapes");
    Ok(Answer::Shapes(solved))
}

/// Plans `req.request` against the live fleet and carries it out: per node with a GPU to recut, saves
/// `<prefix>-<node>` (that node's GPUs of the model, the recut ones at their planned placements) and
/// submits an update deployment applying it. A node whose change would move running replicas is
/// refused unless `drain`; a node's refusal leaves it as it is and does not stop the others.
///
/// # Errors
/// [`PlanError::Invalid`] for a bad request (or prefix); [`PlanError::Internal`] when the database or
/// the solver fails (the nodes already submitted are in the audit log and the deployments list).
pub async fn apply(
    orchestrator: &Orchestrator,
    configs: &MigConfigs,
    req: ApplyRequest,
    actor: &Actor,
) -> Result<ApplyOutcome, PlanError> {
    let prefix = req.prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
    if let Some(issue) = check_prefix(prefix) {
        return Err(PlanError::Invalid(vec![issue]));
    }
    let fleet = orchestrator.fleet();
    let mut request = req.request;
    request.fleet = Some(FleetInput::Named(FleetName::Current));
    let planned = solve(&fleet, request).await?;
    if let Some(expect) = &req.expect
        && !same_changes(expect, &planned_changes(&planned))
    {
        return Ok(ApplyOutcome::Changed { plan: planned });
    }
    let added_gpus = planned.fleet.as_ref().map_or(0, |f| f.added_gpus);
    let mut nodes = Vec::new();
    for change in node_changes(&planned, &fleet, prefix) {
        let name = change.config.name.clone();
        let mut applied = NodeApplied {
            node: change.node.clone(),
            gpus: change.gpus.clone(),
            config: name.clone(),
            version: None,
            outcome: NodeOutcome::Refused {
                message: String::new(),
                issues: Vec::new(),
            },
        };
        if change.moved_replicas > 0 && !req.drain {
            applied.outcome = NodeOutcome::Refused {
                message: format!(
                    "recutting GPU {} of {} moves {} running replica(s); apply with drain to move them, or leave this node as it is",
                    join(&change.gpus),
                    change.node,
                    change.moved_replicas
                ),
                issues: Vec::new(),
            };
            nodes.push(applied);
            continue;
        }
        match configs.save(change.config, actor).await {
            Ok(info) => applied.version = info.version,
            Err(ConfigError::Store(e)) => return Err(PlanError::Internal(e.to_string())),
            Err(ConfigError::Invalid(issues)) => {
                applied.outcome = NodeOutcome::Refused {
                    message: format!("the config {name} for {} is not valid", change.node),
                    issues,
                };
                nodes.push(applied);
                continue;
            }
            Err(e) => {
                applied.outcome = NodeOutcome::Refused {
                    message: e.to_string(),
                    issues: Vec::new(),
                };
                nodes.push(applied);
                continue;
            }
        }
        let update = serde_json::json!({
            "recipe_mode": "update",
            "deployment_name": format!("{name}-{}", crate::store::now_ms() % 1_000_000),
            "recipe_node_name": change.node,
            "shared_node_pool_mig_config": name,
        })
        .to_string();
        applied.outcome = match orchestrator.submit(&update, req.drain, actor).await {
            Ok(info) => NodeOutcome::Submitted {
                deployment: info.id,
            },
            Err(OrchestratorError::Invalid(issues)) => NodeOutcome::Refused {
                message: format!(
                    "the update of {} does not validate against the fleet",
                    change.node
                ),
                issues,
            },
            Err(e @ (OrchestratorError::Store(_) | OrchestratorError::Internal(_))) => {
                return Err(PlanError::Internal(e.to_string()));
            }
            Err(e) => NodeOutcome::Refused {
                message: e.to_string(),
                issues: Vec::new(),
            },
        };
        nodes.push(applied);
    }
    let complete = nodes
        .iter()
        .all(|n| matches!(n.outcome, NodeOutcome::Submitted { .. }));
    tracing::info!(actor = %actor.name, nodes = nodes.len(), complete, added_gpus, "fleet plan applied");
    Ok(ApplyOutcome::Applied(AppliedPlan {
        plan: planned,
        nodes,
        complete,
        added_gpus,
    }))
}

fn join(gpus: &[u32]) -> String {
    gpus.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
