//! The agent's HTTP API for a driver: inventory, apply as an operation, operation status, metrics.
//! Every route but `/healthz` (the kubelet's liveness probe) needs a credential ([`Credentials`]):
//! `Authorization: Bearer <token>` compared in constant time, or a request signed by the server for
//! this node ([`crate::auth::Verifier`]). One apply at a time: a second gets 409 naming the running one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mig::MigPartedConfig;
use serde::{Deserialize, Serialize};

use mig::agent_api::{
    Accepted, AgentError, BusySlice, ErrorBody, ErrorCode, Inventory, InventoryGpu, Stopped,
};

use crate::apply::{Observation, StepDone, apply_gpu_with_progress, busy_instances, observe};
use crate::driver::{DriverError, GpuDriver};

/// Shared state of the API.
#[derive(Clone)]
pub struct AgentState {
    driver: Arc<dyn GpuDriver>,
    credentials: Credentials,
    journal: Option<Arc<std::path::Path>>,
    operations: Arc<Mutex<Operations>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AgentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentState").finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Operations {
    next_id: u64,
    running: Option<u64>,
    all: BTreeMap<u64, Operation>,
}

#[derive(Debug, Default)]
struct Metrics {
    applies_ok: AtomicU64,
    applies_failed: AtomicU64,
    apply_micros_total: AtomicU64,
}

pub use mig::agent_api::{
    ApplyRequest, ApplyTarget, GpuResult, Operation, OperationStatus, WorkloadRequest,
};

/// An error answer: [`ErrorBody`] with `code` and `message`.
fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    answer_error(status, AgentError::new(code, message))
}

fn answer_error(status: StatusCode, error: AgentError) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}

fn driver_error(e: &DriverError) -> Response {
    let status = match e {
        DriverError::NoDriver(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    error(status, ErrorCode::Driver, e.to_string())
}

/// The answer when a blocking driver task panicked or was cancelled.
fn task_failed(what: &str, e: &tokio::task::JoinError) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        format!("{what} task failed: {e}"),
    )
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Seconds since the Unix epoch (0 if the clock is before it: every signed request is then stale).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a caller must show.
#[derive(Clone)]
pub enum Credentials {
    /// `Authorization: Bearer <token>` (embedded fleets, agents run by hand).
    Token(Arc<str>),
    /// A request signed by the server for this node (Kubernetes).
    Signed(Arc<crate::auth::Verifier>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never the token itself.
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Signed(verifier) => f.debug_tuple("Signed").field(verifier).finish(),
        }
    }
}

/// The largest body a signed request may have (it is read whole to check its hash): an apply with
/// a mig-parted file of its own is a few KiB.
const MAX_SIGNED_BODY: usize = 4 << 20;

fn unauthorized(message: String, scheme: &'static str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(scheme),
    );
    response
}

async fn require_credentials(
    State(state): State<AgentState>,
    request: Request,
    next: Next,
) -> Response {
    match &state.credentials {
        Credentials::Token(token) => {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if given.is_empty() || !constant_time_eq(given.as_bytes(), token.as_bytes()) {
                return unauthorized(
                    "send the agent token as `Authorization: Bearer <token>`".to_owned(),
                    "Bearer",
                );
            }
            next.run(request).await
        }
        Credentials::Signed(verifier) => {
            let (parts, body) = request.into_parts();
            let signed = mig::agent_auth::SignedHeaders::parse(|name| {
                parts.headers.get(name).and_then(|v| v.to_str().ok())
            });
            let signed = match signed {
                Ok(signed) => signed,
                Err(refusal) => {
                    tracing::warn!(path = %parts.uri.path(), %refusal, "refused an agent request");
                    return unauthorized(refusal.to_string(), "MigboardSignature");
                }
            };
            let Ok(bytes) = axum::body::to_bytes(body, MAX_SIGNED_BODY).await else {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::BadRequest,
                    format!("a signed request's body may be at most {MAX_SIGNED_BODY} bytes"),
                );
            };
            let path = parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path(), |p| p.as_str());
            if let Err(refusal) = verifier.verify(
                &signed,
                parts.method.as_str(),
                path,
                &bytes,
                unix_now(),
            ) {
                tracing::warn!(path = %parts.uri.path(), signed_for = %signed.node, %refusal, "refused an agent request");
                return unauthorized(refusal.to_string(), "MigboardSignature");
            }
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
    }
}

impl AgentState {
    /// State for `driver`, accepting `token`.
    pub fn new(driver: Arc<dyn GpuDriver>, token: &str) -> Self {
        Self::with_credentials(driver, Credentials::Token(token.into()))
    }

    /// State for `driver`, accepting only requests the server signed for this node.
    pub fn signed(driver: Arc<dyn GpuDriver>, verifier: crate::auth::Verifier) -> Self {
        Self::with_credentials(driver, Credentials::Signed(Arc::new(verifier)))
    }

    fn with_credentials(driver: Arc<dyn GpuDriver>, credentials: Credentials) -> Self {
        Self {
            driver,
            credentials,
            journal: None,
            operations: Arc::default(),
            metrics: Arc::default(),
        }
    }

    /// Writes each apply's intent to `path` before changing anything, and removes it when done.
    pub fn with_journal(mut self, path: &std::path::Path) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// On start: if the journal holds an intent a crash interrupted, applies it again (apply is
    /// idempotent and converges from any partial state) and records it as an operation.
    ///
    /// # Errors
    /// When the journal exists but cannot be read or parsed; it is left in place for an operator.
    pub fn resume(&self) -> Result<Option<Operation>, String> {
        let Some(path) = &self.journal else {
            return Ok(None);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("reading the apply journal {}: {e}", path.display())),
        };
        let intent: Intent = serde_json::from_str(&text).map_err(|e| {
            format!(
                "the apply journal {} is not an intent this agent wrote: {e}",
                path.display()
            )
        })?;
        tracing::warn!(config = %intent.config, gpus = intent.work.len(), "resuming an apply a restart interrupted");
        let id = {
            let mut ops = self
                .operations
                .lock()
                .map_err(|_| "operation table poisoned".to_owned())?;
            ops.next_id += 1;
            ops.next_id
        };
        Ok(Some(run_intent(
            self.driver.as_ref(),
            &self.operations,
            &self.metrics,
            self.journal.as_deref(),
            id,
            intent,
        )))
    }
}

/// What an apply is about to do, written before the first change.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    config: String,
    work: Vec<(u32, crate::apply::Target)>,
    drained: bool,
    /// GPUs waiting for a reset may be reset (journals written before this field read as false).
    #[serde(default)]
    reset: bool,
}

fn write_journal(path: &std::path::Path, intent: &Intent) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec(intent).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Applies an intent GPU by GPU, records the operation, clears the journal.
fn run_intent(
    driver: &dyn GpuDriver,
    ops: &Mutex<Operations>,
    metrics: &Metrics,
    journal: Option<&std::path::Path>,
    id: u64,
    intent: Intent,
) -> Operation {
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    let mut failed = false;
    for (gpu, desired) in &intent.work {
        let mut progress = |done: StepDone| {
            if let Ok(mut ops) = ops.lock()
                && let Some(op) = ops.all.get_mut(&id)
            {
                op.progress.push(done);
            }
        };
        let applied = apply_gpu_with_progress(driver, *gpu, desired, intent.drained, &mut progress)
            .map_err(|e| e.to_string())
            .and_then(|report| {
                if report.outcome != crate::apply::Outcome::ResetRequired || !intent.reset {
                    return Ok(report);
                }
                // Asked to: reset the GPU (the driver refuses while processes run), then finish.
                driver
                    .reset_gpu(*gpu)
                    .map_err(|e| format!("GPU {gpu}: the MIG mode change needs a reset, and resetting failed: {e}"))?;
                tracing::info!(gpu, "GPU reset so its MIG mode change takes effect");
                let mut rest =
                    apply_gpu_with_progress(driver, *gpu, desired, intent.drained, &mut progress)
                        .map_err(|e| e.to_string())?;
                rest.mutating_calls += report.mutating_calls + 1;
                let mut steps: Vec<mig::Step> =
                    report.steps.into_iter().filter(mig::Step::needs_reset).collect();
                steps.extend(rest.steps);
                rest.steps = steps;
                if rest.outcome == crate::apply::Outcome::AlreadyApplied {
                    rest.outcome = crate::apply::Outcome::Applied;
                }
                Ok(rest)
            });
        match applied {
            Ok(report) => results.push(GpuResult::Done(report)),
            Err(e) => {
                failed = true;
                results.push(GpuResult::Failed {
                    gpu: *gpu,
                    error: e,
                });
            }
        }
    }
    let counter = if failed {
        &metrics.applies_failed
    } else {
        &metrics.applies_ok
    };
    counter.fetch_add(1, Ordering::Relaxed);
    metrics
        .apply_micros_total
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    // A failed apply is finished too: it is reported, and retrying it blindly at the next start would
    // repeat a refusal (a busy instance, say) nobody asked to retry. Only a crash leaves the journal.
    if let Some(path) = journal
        && let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::error!(path = %path.display(), error = %e, "could not clear the apply journal");
    }
    let op = Operation {
        id,
        config: intent.config,
        status: if failed {
            OperationStatus::Failed
        } else {
            OperationStatus::Succeeded
        },
        gpus: results,
        progress: Vec::new(),
    };
    let Ok(mut ops) = ops.lock() else { return op };
    if ops.running == Some(id) {
        ops.running = None;
    }
    let progress = ops
        .all
        .get(&id)
        .map(|o| o.progress.clone())
        .unwrap_or_default();
    let op = Operation { progress, ..op };
    ops.all.insert(id, op.clone());
    op
}

/// The API routes.
pub fn router(state: AgentState) -> Router {
    let protected = Router::new()
        .route("/v1/inventory", get(inventory))
        .route("/v1/apply", post(apply))
        .route("/v1/operations/{id}", get(operation))
        .route("/v1/operations/{id}/events", get(events))
        .route("/metrics", get(metrics))
        .route("/v1/workloads", post(start_workload))
        .route(
            "/v1/workloads/{gpu}/{start}",
            axum::routing::delete(stop_workloads),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_credentials));
    Router::new()
        .route("/healthz", get(crate::healthz))
        .merge(protected)
        .with_state(state)
}

async fn inventory(State(state): State<AgentState>) -> Response {
    let driver = state.driver.clone();
    // Errors are boxed responses: a `Response` is too large to return by value in a `Result`.
    let result =
        tokio::task::spawn_blocking(move || -> Result<Vec<InventoryGpu>, Box<Response>> {
            let gpus = driver.gpus().map_err(|e| Box::new(driver_error(&e)))?;
            gpus.into_iter()
                .map(|info| {
                    let Observation {
                        gpu,
                        pending,
                        instances: gis,
                    } = observe(driver.as_ref(), info.index).map_err(|e| {
                        Box::new(error(
                            StatusCode::BAD_GATEWAY,
                            ErrorCode::Observe,
                            e.to_string(),
                        ))
                    })?;
                    let mut busy = Vec::new();
                    for placed in &gpu.instances {
                        let Some(gi) = gis.iter().find(|g| {
                            g.start == placed.start && g.profile_id == placed.profile.nvml_id()
                        }) else {
                            continue;
                        };
                        let procs = driver
                            .processes(info.index, gi.id)
                            .map_err(|e| Box::new(driver_error(&e)))?;
                        if !procs.is_empty() {
                            busy.push(BusySlice {
                                profile: placed.profile.name.to_owned(),
                                start: placed.start,
                                pids: procs.iter().map(|p| p.pid).collect(),
                                used_memory_mib: procs.iter().map(|p| p.used_memory_mib).sum(),
                                owners: Vec::new(),
                            });
                        }
                    }
                    let mig_devices = driver
                        .mig_devices(info.index)
                        .map_err(|e| Box::new(driver_error(&e)))?;
                    Ok(InventoryGpu {
                        index: info.index,
                        uuid: info.uuid,
                        name: info.name,
                        model: info.model,
                        memory_mib: info.memory_mib,
                        pci_device_id: info.pci_device_id,
                        mig_mode: gpu.mode,
                        pending_mig_mode: pending,
                        instances: gpu.instances.iter().map(mig::Placed::to_spec).collect(),
                        busy,
                        mig_devices,
                    })
                })
                .collect()
        })
        .await;
    match result {
        Ok(Ok(gpus)) => Json(Inventory { gpus }).into_response(),
        Ok(Err(response)) => *response,
        Err(e) => task_failed("inventory", &e),
    }
}

async fn apply(
    State(state): State<AgentState>,
    body: Result<Json<ApplyRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::BadRequest,
                e.body_text(),
            );
        }
    };
    let configs = match &request.file {
        Some(text) => MigPartedConfig::parse(text),
        None => MigPartedConfig::default_configs(),
    };
    let configs = match configs {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::BadConfigFile,
                e.to_string(),
            );
        }
    };
    let gpus = match state.driver.gpus() {
        Ok(g) => g,
        Err(e) => return driver_error(&e),
    };
    // Resolve for every GPU before anything changes: a typo fails the request, not half a node.
    let mut work = Vec::new();
    let config_name = request.target.label();
    let chosen: Vec<u32> = match &request.target {
        ApplyTarget::PerGpu(per_gpu) => per_gpu.keys().copied().collect(),
        _ => request.gpus.clone(),
    };
    for g in gpus
        .iter()
        .filter(|g| chosen.is_empty() || chosen.contains(&g.index))
    {
        let Some(model) = g.model else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::UnknownModel,
                format!(
                    "GPU {} is a `{}`, which migboard has no MIG tables for",
                    g.index, g.name
                ),
            );
        };
        let layout = match &request.target {
            ApplyTarget::Named(name) => match configs.resolve(name, model, g.index) {
                Ok(desired) => {
                    work.push((g.index, desired.into()));
                    continue;
                }
                Err(e) => {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        ErrorCode::BadConfig,
                        format!("GPU {}: {e}", g.index),
                    );
                }
            },
            ApplyTarget::Layout(layout) => layout,
            ApplyTarget::PerGpu(per_gpu) => &per_gpu[&g.index],
        };
        if let Err(issues) = mig::Layout::new(model, layout) {
            let why: Vec<String> = issues.iter().map(ToString::to_string).collect();
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::BadLayout,
                format!("GPU {}: {}", g.index, why.join("; ")),
            );
        }
        work.push((g.index, crate::apply::Target::Layout(layout.clone())));
    }
    if let Some(&missing) = chosen.iter().find(|i| !gpus.iter().any(|g| g.index == **i)) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NoSuchGpu,
            format!("this node has no GPU {missing}"),
        );
    }
    if !request.drained {
        // Refuse up front, naming what is in the way, when an instance to destroy runs processes.
        let (driver, check) = (state.driver.clone(), work.clone());
        let busy = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            for (gpu, desired) in &check {
                all.extend(busy_instances(driver.as_ref(), *gpu, desired)?);
            }
            Ok::<_, crate::apply::ApplyError>(all)
        })
        .await;
        match busy {
            Ok(Ok(busy)) if busy.is_empty() => {}
            Ok(Ok(instances)) => {
                let listed: Vec<String> = instances.iter().map(|b| b.describe()).collect();
                return answer_error(
                    StatusCode::CONFLICT,
                    AgentError {
                        code: ErrorCode::InUse,
                        message: format!(
                            "instances to destroy are in use: {}; drain the node, or apply with \"drained\": true",
                            listed.join("; ")
                        ),
                        instances,
                    },
                );
            }
            Ok(Err(e)) => return error(StatusCode::BAD_GATEWAY, ErrorCode::Observe, e.to_string()),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    format!("busy check failed: {e}"),
                );
            }
        }
    }
    let id = {
        let Ok(mut ops) = state.operations.lock() else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "operation table poisoned",
            );
        };
        if let Some(running) = ops.running {
            return error(
                StatusCode::CONFLICT,
                ErrorCode::Busy,
                format!(
                    "apply {running} is still running; wait for it (GET /v1/operations/{running})"
                ),
            );
        }
        ops.next_id += 1;
        let id = ops.next_id;
        ops.running = Some(id);
        ops.all.insert(
            id,
            Operation {
                id,
                config: config_name.clone(),
                status: OperationStatus::Running,
                gpus: Vec::new(),
                progress: Vec::new(),
            },
        );
        id
    };
    let intent = Intent {
        config: config_name.clone(),
        work,
        drained: request.drained,
        reset: request.reset,
    };
    if let Some(path) = &state.journal
        && let Err(e) = write_journal(path, &intent)
    {
        if let Ok(mut ops) = state.operations.lock() {
            ops.running = None;
            ops.all.remove(&id);
        }
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Journal,
            format!(
                "cannot write the apply journal {}: {e}; nothing was changed",
                path.display()
            ),
        );
    }
    let (driver, ops, metrics, journal) = (
        state.driver.clone(),
        state.operations.clone(),
        state.metrics.clone(),
        state.journal.clone(),
    );
    tokio::task::spawn_blocking(move || {
        run_intent(
            driver.as_ref(),
            &ops,
            &metrics,
            journal.as_deref(),
            id,
            intent,
        )
    });
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            operation: id,
            href: format!("/v1/operations/{id}"),
        }),
    )
        .into_response()
}

async fn operation(State(state): State<AgentState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("`{id}` is not an operation id (a number)"),
        );
    };
    let op = state
        .operations
        .lock()
        .ok()
        .and_then(|ops| ops.all.get(&id).cloned());
    match op {
        Some(op) => Json(op).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no operation {id} on this agent (operations are kept until it restarts)"),
        ),
    }
}

/// `GET /v1/operations/{id}/events`: Server-Sent Events, one `step` event per step done (with its
/// GPU, index and total), then one `done` event with the operation; the stream then ends. Joining
/// late replays the steps done so far.
async fn events(State(state): State<AgentState>, Path(id): Path<String>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let Ok(id) = id.parse::<u64>() else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("`{id}` is not an operation id (a number)"),
        );
    };
    if state
        .operations
        .lock()
        .ok()
        .is_none_or(|ops| !ops.all.contains_key(&id))
    {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no operation {id} on this agent"),
        );
    }
    let ops = state.operations.clone();
    // (next step to send, finished) → poll the operation table every 50 ms.
    let stream = futures_util::stream::unfold((0usize, false), move |(sent, finished)| {
        let ops = ops.clone();
        async move {
            if finished {
                return None;
            }
            loop {
                let snapshot = ops.lock().ok().and_then(|o| o.all.get(&id).cloned())?;
                if let Some(step) = snapshot.progress.get(sent) {
                    let event = Event::default()
                        .event("step")
                        .json_data(step)
                        .unwrap_or_default();
                    return Some((Ok::<_, std::convert::Infallible>(event), (sent + 1, false)));
                }
                if snapshot.status != OperationStatus::Running {
                    let event = Event::default()
                        .event("done")
                        .json_data(&snapshot)
                        .unwrap_or_default();
                    return Some((Ok(event), (sent, true)));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn metrics(State(state): State<AgentState>) -> Response {
    let m = &state.metrics;
    let mut out = String::new();
    out.push_str("# HELP migboard_agent_applies_total Applies finished, by outcome.\n# TYPE migboard_agent_applies_total counter\n");
    out.push_str(&format!(
        "migboard_agent_applies_total{{outcome=\"ok\"}} {}\n",
        m.applies_ok.load(Ordering::Relaxed)
    ));
    out.push_str(&format!(
        "migboard_agent_applies_total{{outcome=\"failed\"}} {}\n",
        m.applies_failed.load(Ordering::Relaxed)
    ));
    out.push_str("# HELP migboard_agent_apply_seconds_total Time spent applying.\n# TYPE migboard_agent_apply_seconds_total counter\n");
    out.push_str(&format!(
        "migboard_agent_apply_seconds_total {:.6}\n",
        m.apply_micros_total.load(Ordering::Relaxed) as f64 / 1e6
    ));
    let driver = state.driver.clone();
    // Per GPU instance: (gpu, profile, start, memory used by its processes MiB, its memory MiB).
    let instances = tokio::task::spawn_blocking(move || {
        let mut rows = Vec::new();
        for g in driver.gpus().unwrap_or_default() {
            let Ok(obs) = observe(driver.as_ref(), g.index) else {
                continue;
            };
            for info in &obs.instances {
                let Some(p) = obs
                    .gpu
                    .instances
                    .iter()
                    .find(|p| p.profile.nvml_id() == info.profile_id && p.start == info.start)
                else {
                    continue;
                };
                let used: u64 = driver
                    .processes(g.index, info.id)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| p.used_memory_mib)
                    .sum();
                rows.push((
                    g.index,
                    p.profile.name,
                    p.start,
                    used,
                    u64::from(p.profile.memory_mib),
                ));
            }
        }
        rows
    })
    .await
    .unwrap_or_default();
    out.push_str("# HELP migboard_agent_gpu_instances GPU instances per GPU and profile.\n# TYPE migboard_agent_gpu_instances gauge\n");
    let mut counts: BTreeMap<(u32, &str), u32> = BTreeMap::new();
    instances
        .iter()
        .for_each(|(gpu, profile, ..)| *counts.entry((*gpu, profile)).or_default() += 1);
    for ((gpu, profile), n) in counts {
        out.push_str(&format!(
            "migboard_agent_gpu_instances{{gpu=\"{gpu}\",profile=\"{profile}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP migboard_agent_instance_memory_used_bytes Memory used by the processes on a GPU instance.\n# TYPE migboard_agent_instance_memory_used_bytes gauge\n");
    for (gpu, profile, start, used, _) in &instances {
        out.push_str(&format!(
            "migboard_agent_instance_memory_used_bytes{{gpu=\"{gpu}\",profile=\"{profile}\",start=\"{start}\"}} {}\n",
            used * 1024 * 1024
        ));
    }
    out.push_str("# HELP migboard_agent_instance_memory_bytes Memory of a GPU instance.\n# TYPE migboard_agent_instance_memory_bytes gauge\n");
    for (gpu, profile, start, _, total) in &instances {
        out.push_str(&format!(
            "migboard_agent_instance_memory_bytes{{gpu=\"{gpu}\",profile=\"{profile}\",start=\"{start}\"}} {}\n",
            total * 1024 * 1024
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// `POST /v1/workloads`: runs a simulated workload on a MIG instance, as a scheduled pod would (the
/// embedded fleet's stand-in for Kubernetes). 501 on real GPUs.
async fn start_workload(
    State(state): State<AgentState>,
    body: Result<Json<WorkloadRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(w) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                format!(
                    "{}; send {{\"gpu\": 0, \"start\": 3, \"pid\": 4242, \"memory_mib\": 2048}}",
                    e.body_text()
                ),
            );
        }
    };
    let driver = state.driver.clone();
    match tokio::task::spawn_blocking(move || driver.simulate_workload(&w).map(|()| w)).await {
        Ok(Ok(w)) => (StatusCode::CREATED, Json(w)).into_response(),
        Ok(Err(e)) => workload_error(&e),
        Err(e) => task_failed("workload", &e),
    }
}

/// `DELETE /v1/workloads/{gpu}/{start}`: stops the simulated workloads on that instance.
async fn stop_workloads(
    State(state): State<AgentState>,
    axum::extract::Path((gpu, start)): axum::extract::Path<(u32, u8)>,
) -> Response {
    let driver = state.driver.clone();
    match tokio::task::spawn_blocking(move || driver.stop_simulated_workloads(gpu, start)).await {
        Ok(Ok(stopped)) => Json(Stopped { stopped }).into_response(),
        Ok(Err(e)) => workload_error(&e),
        Err(e) => task_failed("workload", &e),
    }
}

/// Workload errors: 501 on real GPUs, 404 for no instance there, 400 for no such GPU.
fn workload_error(e: &DriverError) -> Response {
    let status = match e {
        DriverError::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
        DriverError::NotFound(_) => StatusCode::NOT_FOUND,
        DriverError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        _ => return driver_error(e),
    };
    error(status, ErrorCode::Workload, e.to_string())
}
