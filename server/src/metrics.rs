//! The server's Prometheus `/metrics` (text exposition format 0.0.4): the fleet per pool and
//! profile (slices configured, free, busy; GPUs with MIG off), deployments by status, GPU
//! reconfigurations by outcome (from the step log, so they survive restarts), open event streams,
//! the database pool, and request latency histograms by method, route and status class.
//!
//! Who may read it: with a metrics token (`--metrics-token-file`), only requests that bear it; without
//! one, only requests from the loopback address that no proxy forwarded. It is not behind the
//! session: a scraper has no account.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Upper bounds of the request latency buckets, seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Upper bounds of the step duration buckets, seconds: a GPU step takes milliseconds to minutes.
const STEP_BUCKETS: [f64; 11] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];

/// One latency histogram over `N` bucket bounds.
#[derive(Debug, Clone)]
struct Histogram<const N: usize> {
    /// Observations at or below each bound (not cumulative here).
    buckets: [u64; N],
    count: u64,
    sum: f64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Self {
            buckets: [0; N],
            count: 0,
            sum: 0.0,
        }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&mut self, bounds: &[f64; N], seconds: f64) {
        if let Some(i) = bounds.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// Writes it as `name` with `labels` (cumulative buckets, `+Inf`, sum, count).
    fn write(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)], bounds: &[f64; N]) {
        let mut cumulative = 0;
        for (bound, n) in bounds.iter().zip(self.buckets) {
            cumulative += n;
            let le = bound.to_string();
            let mut with = labels.to_vec();
            with.push(("le", &le));
            out.sample(&format!("{name}_bucket"), &with, cumulative as f64);
        }
        let mut with = labels.to_vec();
        with.push(("le", "+Inf"));
        out.sample(&format!("{name}_bucket"), &with, self.count as f64);
        out.sample(&format!("{name}_sum"), labels, self.sum);
        out.sample(&format!("{name}_count"), labels, self.count as f64);
    }
}

/// How long deployment steps take, by kind (the key's first part: `reconfigure`, `rollout`, `drain`,
/// `replica`, `pool`, …) and outcome, measured in this process from `running` to `done`, `failed` or
/// `skipped` (a restart loses the steps in flight, as Prometheus expects of a process's counters).
#[derive(Debug, Default)]
pub struct StepMetrics {
    started: Mutex<std::collections::HashMap<(i64, String), std::time::Instant>>,
    by: Mutex<BTreeMap<(String, &'static str), Histogram<{ STEP_BUCKETS.len() }>>>,
}

/// The most steps timed at once (a bound on memory if steps never finish).
const MAX_TIMED_STEPS: usize = 10_000;

impl StepMetrics {
    /// Step `key` of deployment `id` went to `state`.
    pub fn record(&self, id: i64, key: &str, state: mig::wire::StepState) {
        use mig::wire::StepState;
        let mut started = self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outcome = match state {
            StepState::Running => {
                // A retried step keeps its first start: its duration is the whole wait.
                if started.len() < MAX_TIMED_STEPS {
                    started
                        .entry((id, key.to_owned()))
                        .or_insert_with(std::time::Instant::now);
                }
                return;
            }
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            _ => return,
        };
        let Some(at) = started.remove(&(id, key.to_owned())) else {
            return;
        };
        drop(started);
        let kind = key.split('/').next().unwrap_or(key).to_owned();
        self.by
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((kind, outcome))
            .or_default()
            .observe(&STEP_BUCKETS, at.elapsed().as_secs_f64());
    }

    fn write(&self, out: &mut Exposition) {
        let by = self
            .by
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let name = "migboard_step_duration_seconds";
        out.family(
            name,
            "histogram",
            "Deployment step durations (running to done, failed or skipped), by kind and outcome.",
        );
        for ((kind, outcome), h) in &by {
            h.write(out, name, &[("kind", kind), ("outcome", outcome)], &STEP_BUCKETS);
        }
    }
}

/// Request latencies by (method, route, status class). Routes are the router's patterns
/// (`/api/v1/deployments/:id`), never raw paths, so the label set stays small.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    by: Mutex<BTreeMap<(String, String, &'static str), Histogram<{ BUCKETS.len() }>>>,
}

/// Middleware: times every request into [`RequestMetrics`].
pub async fn track(State(metrics): State<Arc<RequestMetrics>>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    // `/api/v1/deployments/{id}` is written `/api/v1/deployments/:id`: braces are valid in a
    // label value, but some text-format parsers stumble on them.
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || "(other)".to_owned(),
        |p| p.as_str().replace('{', ":").replace('}', ""),
    );
    let started = Instant::now();
    let response = next.run(request).await;
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics
        .by
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry((method, route, class))
        .or_default()
        .observe(&BUCKETS, started.elapsed().as_secs_f64());
    response
}

/// The exposition text being written.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// The bearer token a scraper must send; `None`: loopback only.
    pub token: Option<mig::wire::Secret>,
}

/// `GET /metrics`.
pub async fn serve(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<Arc<MetricsAccess>>,
    axum::Extension(requests): axum::Extension<Arc<RequestMetrics>>,
    axum::Extension(streams): axum::Extension<Arc<crate::streams::Streams>>,
    crate::auth::ConnectInfoOpt(client): crate::auth::ConnectInfoOpt,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = allowed(&access, &headers, client) {
        return refused;
    }
    let mut out = Exposition::default();
    fleet(&mut out, &state.orchestrator().fleet());
    let store = state.orchestrator().store();
    match store.status_counts().await {
        Ok(counts) => {
            out.family("migboard_deployments", "gauge", "Deployments by status.");
            for (status, n) in counts {
                out.sample("migboard_deployments", &[("status", &status)], n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count deployments"),
    }
    match store.reconfigure_counts().await {
        Ok(counts) => {
            out.family(
                "migboard_gpu_reconfigurations",
                "gauge",
                "GPU reconfiguration steps in the log, by state (done, failed, ...).",
            );
            for (state, n) in counts {
                out.sample("migboard_gpu_reconfigurations", &[("state", &state)], n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count reconfigurations"),
    }
    out.family("migboard_event_streams", "gauge", "Server-sent event streams open now.");
    out.sample("migboard_event_streams", &[], streams.watchers() as f64);
    let (size, idle) = store.pool_stats();
    out.family("migboard_db_connections", "gauge", "Database pool connections, by state.");
    out.sample("migboard_db_connections", &[("state", "idle")], idle as f64);
    out.sample(
        "migboard_db_connections",
        &[("state", "in_use")],
        f64::from(size).max(idle as f64) - idle as f64,
    );
    state.orchestrator().step_metrics().write(&mut out);
    latencies(&mut out, &requests);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out.0,
    )
        .into_response()
}

/// With a token, the request bears it; without, it comes from loopback and no proxy forwarded it.
fn allowed(
    access: &MetricsAccess,
    headers: &HeaderMap,
    client: std::net::IpAddr,
) -> Result<(), Response> {
    let refuse = |status: StatusCode, message: &str| {
        Err((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message.to_owned())
            .into_response())
    };
    match &access.token {
        Some(token) => {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if same_secret(sent, token.expose()) {
                Ok(())
            } else {
                refuse(
                    StatusCode::UNAUTHORIZED,
                    "metrics need the metrics token: send Authorization: Bearer <the token in --metrics-token-file>\n",
                )
            }
        }
        None => {
            let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key(header::FORWARDED);
            if client.is_loopback() && !forwarded {
                Ok(())
            } else {
                refuse(
                    StatusCode::FORBIDDEN,
                    "metrics are served to loopback only when no metrics token is set: set --metrics-token-file (MIGBOARD_METRICS_TOKEN_FILE) to scrape from elsewhere\n",
                )
            }
        }
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ (their
/// SHA-256 digests are compared, so not on their lengths either).
fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// The fleet per pool and profile.
fn fleet(out: &mut Exposition, fleet: &mig::wire::Fleet) {
    // (pool, profile) -> (configured, busy)
    let mut slices: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
    let mut mig_off: BTreeMap<&str, u32> = BTreeMap::new();
    let mut gpus: BTreeMap<&str, u32> = BTreeMap::new();
    for node in &fleet.nodes {
        for gpu in &node.gpus {
            *gpus.entry(&node.pool).or_default() += 1;
            if gpu.mig_mode != mig::MigMode::Enabled {
                *mig_off.entry(&node.pool).or_default() += 1;
            }
            for inst in &gpu.instances {
                let e = slices.entry((&node.pool, &inst.profile)).or_default();
                e.0 += 1;
                e.1 += u32::from(gpu.busy.iter().any(|b| b.start == inst.start));
            }
        }
    }
    out.family("migboard_gpus", "gauge", "GPUs per pool.");
    for (pool, n) in &gpus {
        out.sample("migboard_gpus", &[("pool", pool)], f64::from(*n));
    }
    out.family("migboard_gpus_mig_off", "gauge", "GPUs with MIG off per pool.");
    for (pool, n) in &mig_off {
        out.sample("migboard_gpus_mig_off", &[("pool", pool)], f64::from(*n));
    }
    for (name, help, pick) in [
        ("migboard_slices", "MIG slices configured, per pool and profile.", 0),
        ("migboard_slices_busy", "MIG slices in use (a replica or process on them), per pool and profile.", 1),
        ("migboard_slices_free", "MIG slices free, per pool and profile.", 2),
    ] {
        out.family(name, "gauge", help);
        for ((pool, profile), (all, busy)) in &slices {
            let v = match pick {
                0 => *all,
                1 => *busy,
                _ => all - busy,
            };
            out.sample(name, &[("pool", pool), ("profile", profile)], f64::from(v));
        }
    }
}

/// The request latency histograms.
fn latencies(out: &mut Exposition, requests: &RequestMetrics) {
    let by = requests
        .by
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let name = "migboard_http_request_duration_seconds";
    out.family(name, "histogram", "HTTP request latency by method, route and status class.");
    for ((method, route, class), h) in &by {
        let labels = [("method", method.as_str()), ("route", route.as_str()), ("status", *class)];
        h.write(out, name, &labels, &BUCKETS);
    }
}
