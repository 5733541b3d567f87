//! `/api/v1/deployments` (OCI AI Blueprints' verbs), the event streams and node pages.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use mig::wire::Event;
use serde::Deserialize;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

use super::ApiError;
use super::Signed;
use crate::AppState;
use crate::audit::Actor;
use crate::auth::{ConnectInfoOpt, Credential};
use crate::orchestrator::OrchestratorError;
use crate::streams::{Holder, Permit, Streams};

fn internal(e: &impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable {
        message: format!("the database failed: {e}"),
        hint: "try again; if it persists, check the server's log and its DATABASE_URL".into(),
    }
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound {
        message: format!("no deployment {id}"),
        hint: "GET /api/v1/deployments lists them".into(),
    }
}

/// Query of `POST /api/v1/deployments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployQuery {
    /// An update may move workloads off busy nodes instead of failing.
    #[serde(default)]
    pub drain: bool,
    /// Nodes a pool update or a pool's layout changes at a time (default 1).
    #[serde(default)]
    pub max_unavailable: Option<u32>,
}

/// `POST /api/v1/deployments[?drain=true]`: the body is the blueprint JSON. 201 with the deployment
/// (and `Location`); 422 with every issue when it does not validate against the fleet.
pub async fn create(
    State(state): State<AppState>,
    Signed(caller): Signed,
    query: Result<Query<DeployQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        hint: "the query parameters are drain=true|false and max_unavailable=N (nodes at a time)".into(),
    })?;
    let max_unavailable = query.max_unavailable.unwrap_or(1);
    if !(1..=crate::orchestrator::MAX_UNAVAILABLE).contains(&max_unavailable) {
        return Err(ApiError::BadRequest {
            message: format!("max_unavailable={max_unavailable} is not a number of nodes at a time"),
            hint: format!(
                "give 1 (one node at a time, the default) to {}",
                crate::orchestrator::MAX_UNAVAILABLE
            ),
        });
    }
    let text = super::blueprints::blueprint_text(body)?;
    let rollout = crate::orchestrator::Rollout {
        drain: query.drain,
        max_unavailable,
    };
    match state
        .orchestrator()
        .submit_with(&text, rollout, &Actor::of(&caller))
        .await
    {
        Ok(info) => Ok((
            StatusCode::CREATED,
            [(header::LOCATION, format!("/api/v1/deployments/{}", info.id))],
            Json(info),
        )
            .into_response()),
        Err(OrchestratorError::Invalid(issues)) => {
            let errors = issues.iter().filter(|i| i.is_error()).count();
            let first = issues.iter().find(|i| i.is_error());
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({
                    "error": {
                        "code": "invalid_blueprint",
                        "message": format!("the blueprint has {errors} error(s){}", first.map(|i| format!("; first at {}: {}", if i.path.is_empty() { "/" } else { &i.path }, i.message)).unwrap_or_default()),
                        "hint": first.map_or_else(|| "fix the issues listed".to_owned(), |i| i.hint.clone()),
                    },
                    "issues": issues,
                })),
            )
                .into_response())
        }
        Err(e) => Err(orchestrator_error(e)),
    }
}

/// `result` as `status` with its JSON, or the orchestrator's refusal as an [`ApiError`].
fn answer<T: serde::Serialize>(
    status: StatusCode,
    result: Result<T, OrchestratorError>,
) -> Result<Response, ApiError> {
    Ok((status, Json(result.map_err(orchestrator_error)?)).into_response())
}

fn orchestrator_error(e: OrchestratorError) -> ApiError {
    match e {
        OrchestratorError::NotFound(0) => ApiError::NotFound {
            message: "this share link is not valid (mistyped, or never created)".into(),
            hint: "check the link, or ask whoever shared it for a new one".into(),
        },
        OrchestratorError::NotFound(id) => not_found(id),
        OrchestratorError::Conflict(message) => ApiError::Conflict {
            message,
            hint: "GET the deployment to see its status".into(),
        },
        OrchestratorError::Invalid(_) => ApiError::Unprocessable {
            message: e.to_string(),
            hint: "fix the issues listed".into(),
        },
        OrchestratorError::BadRequest(message) => ApiError::Unprocessable {
            message,
            hint: "send {\"days\": 7} (1 to 90)".into(),
        },
        OrchestratorError::Gone(message) => ApiError::Gone {
            message,
            hint: "ask whoever shared it for a new link".into(),
        },
        OrchestratorError::Store(e) => internal(&e),
        OrchestratorError::Internal(why) => {
            tracing::error!(error = %why, "deployments API");
            ApiError::Internal {
                message: "the server failed; its log says why".into(),
                hint: String::new(),
            }
        }
    }
}

/// Body of `POST /api/v1/deployments/{id}/shares`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// How long the link lasts (1 to 90 days; 7 when absent).
    #[serde(default)]
    pub days: Option<u32>,
}

/// `POST /api/v1/deployments/{id}/shares` (`{"days": 7}`, optional): 201 with the link and its token
/// (shown this once; only its hash is kept).
pub async fn create_share(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let days = if body.iter().all(u8::is_ascii_whitespace) {
        7
    } else {
        serde_json::from_slice::<NewShare>(&body)
            .map_err(|e| ApiError::Unprocessable {
                message: format!("the body is not a share request: {e}"),
                hint: "send {\"days\": 7} (1 to 90), or nothing for 7 days".into(),
            })?
            .days
            .unwrap_or(7)
    };
    let actor = Actor::of(&caller);
    answer(
        StatusCode::CREATED,
        state.shares().share(id, days, &actor).await,
    )
}

/// `GET /api/v1/deployments/{id}/shares`: its links (without tokens), newest first.
pub async fn shares(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let links = state.shares().shares(id).await.map_err(|e| internal(&e))?;
    Ok(Json(links).into_response())
}

/// `POST /api/v1/shares/{share}/revoke`: the link opens nothing from now on.
pub async fn revoke_share(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(share): Path<i64>,
) -> Result<Response, ApiError> {
    let actor = Actor::of(&caller);
    answer(
        StatusCode::OK,
        state.shares().revoke_share(share, &actor).await,
    )
}

/// `GET /api/v1/share/{token}`: the shared deployment (without its blueprint); 410 when the link
/// expired or was revoked, 404 when it never existed.
pub async fn shared(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    answer(StatusCode::OK, state.shares().shared(&token).await)
}

/// `GET /api/v1/share/{token}/events`: the shared deployment's events (SSE), checked at connect.
pub async fn shared_events(
    State(state): State<AppState>,
    Extension(streams): Extension<Arc<Streams>>,
    ConnectInfoOpt(client): ConnectInfoOpt,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let holder = Holder::Share(token.clone());
    let permit = match streams.admit(&holder, client) {
        Ok(permit) => permit,
        Err(refused) => return Ok(*refused),
    };
    // Subscribed before the link is checked, so a revocation in between is not missed.
    let revoked = state.shares().revocations();
    let (link, detail) = state
        .shares()
        .shared_link(&token)
        .await
        .map_err(orchestrator_error)?;
    let id = detail.deployment.id;
    let end = link_end(revoked, link.id, link.expires_ms, streams, holder);
    let first = tokio_stream::once(sse(&Event::Deployment {
        deployment: detail.deployment,
    }));
    let body = held(
        futures_util::StreamExt::take_until(first.chain(live(&state, Some(id))), end)
            .chain(tokio_stream::once(sse(&Event::Resync))),
        permit,
    );
    Ok(sse_response(body))
}

/// Completes when link `link_id` (a share or embed link, whose revocations this replica announces
/// on `revoked`) ends: revoked here, expired (at `expires_ms`), or found no longer valid by the
/// stream re-checks (a revocation through another replica). A stream that ends so sends a last
/// `resync`: the page asks again and learns why.
pub(super) fn link_end(
    mut revoked: tokio::sync::broadcast::Receiver<i64>,
    link_id: i64,
    expires_ms: i64,
    streams: Arc<Streams>,
    holder: Holder,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let left_ms = expires_ms.saturating_sub(crate::store::now_ms()).max(0);
    let rechecked = streams.revoked(holder);
    async move {
        let revoked = async {
            loop {
                match revoked.recv().await {
                    Ok(id) if id != link_id => {}
                    // Revoked, or revocations missed (lagged): end; a reconnect checks again.
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        tokio::select! {
            () = revoked => {}
            () = tokio::time::sleep(Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))) => {}
            () = rechecked => {}
        }
    }
}

/// One piece of an event stream's body: an SSE frame (or a keep-alive comment).
pub(super) type Frame = Result<bytes::Bytes, Infallible>;

/// How often an event stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An event stream's response (`text/event-stream`) of ready frames — most of them the bytes the
/// orchestrator serialised once for every watcher — with a comment every 15 s so proxies keep it
/// open; it ends when `body` does.
pub(super) fn sse_response<S>(body: S) -> Response
where
    S: Stream<Item = Frame> + Send + 'static,
{
    let events = body.map(Some).chain(tokio_stream::once(None));
    let start = tokio::time::Instant::now() + KEEP_ALIVE;
    let pings = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(start, KEEP_ALIVE))
        .map(|_| Some(Ok(bytes::Bytes::from_static(b":\n\n"))));
    let merged = futures_util::stream::select(events, pings)
        .take_while(Option::is_some)
        .filter_map(|frame| frame);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(merged),
    )
        .into_response()
}

/// `GET /api/v1/deployments`: every deployment, newest first.
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let all = state
        .orchestrator()
        .list()
        .await
        .map_err(|e| internal(&e))?;
    Ok(Json(all).into_response())
}

/// `GET /api/v1/deployments/{id}`: the deployment, its steps, replicas and per-node progress; the
/// blueprint's secret values hidden from readers below operator.
pub async fn one(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let detail = state
        .orchestrator()
        .detail(id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(detail.for_role(caller.role)).into_response())
}

/// `POST /api/v1/deployments/{id}/resume`: 202; 409 when it is not a paused rollout.
pub async fn resume(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let actor = Actor::of(&caller);
    answer(StatusCode::ACCEPTED, state.orchestrator().resume(id, &actor).await)
}

/// `POST /api/v1/deployments/{id}/undeploy`: 202; 409 when undeployed already or a pool in use.
pub async fn undeploy(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let actor = Actor::of(&caller);
    answer(
        StatusCode::ACCEPTED,
        state.orchestrator().undeploy(id, &actor).await,
    )
}

/// `GET /api/v1/deployments/{id}/previous`: for an update, the layout it replaced on each node
/// it reconfigured (`layout: null` where migboard has no earlier one on record); `[]` for other
/// deployments.
pub async fn previous(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    answer(StatusCode::OK, state.orchestrator().previous_layouts(id).await)
}

/// `POST /api/v1/deployments/{id}/revert[?drain=true]`: puts every node a finished update
/// reconfigured back on the layout it replaced; 201 with the update deployments started (one
/// per node).
pub async fn revert(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(id): Path<i64>,
    query: Result<Query<DeployQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        hint: "the only parameter is drain=true|false".into(),
    })?;
    let actor = Actor::of(&caller);
    match state
        .orchestrator()
        .revert_update(id, query.drain, &actor)
        .await
    {
        Err(OrchestratorError::Conflict(message)) => Err(ApiError::Conflict {
            message,
            hint: "GET /api/v1/deployments/{id}/previous shows what each node had before".into(),
        }),
        other => answer(StatusCode::CREATED, other),
    }
}

/// `GET /api/v1/deployments/{id}/logs`: the step log as text, one line per step.
pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let detail = state
        .orchestrator()
        .detail(id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| not_found(id))?;
    let mut out = format!(
        "deployment {} ({}, {}): {}{}\n",
        detail.deployment.id,
        detail.deployment.name,
        detail.deployment.mode,
        detail.deployment.status.as_str(),
        if detail.deployment.message.is_empty() {
            String::new()
        } else {
            format!(" — {}", detail.deployment.message)
        }
    );
    for s in &detail.steps {
        out.push_str(&format!(
            "{} {:<8} {:<32} {}\n",
            rfc3339(s.at_ms),
            s.state,
            s.key,
            s.message
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response())
}

/// Unix milliseconds as `2026-11-26T01:02:03.456Z` (UTC).
pub fn rfc3339(ms: i64) -> String {
    mig::time::Utc::from_unix_ms(ms).rfc3339()
}

/// `event`'s frame, for the events one stream sends alone (its first, its last `resync`).
pub(super) fn sse(event: &Event) -> Frame {
    Ok(crate::orchestrator::sse_frame(event))
}

/// `stream`, holding `permit` (its place under the stream caps) until it is dropped.
pub(super) fn held<S>(
    stream: S,
    permit: Permit,
) -> impl Stream<Item = Frame> + use<S>
where
    S: Stream<Item = Frame>,
{
    stream.map(move |event| {
        let _held = &permit;
        event
    })
}

/// Who opens a signed-in user's event stream, with what it is checked against (taken from the
/// request together).
pub struct Watcher {
    streams: Arc<Streams>,
    credential: Credential,
    caller: mig::wire::Caller,
    client: std::net::IpAddr,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Watcher {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Signed(caller) = Signed::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Extension(streams) = Extension::<Arc<Streams>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Extension(credential) = Extension::<Credential>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(ConnectInfoOpt(client)) = ConnectInfoOpt::from_request_parts(parts, state).await;
        Ok(Self {
            streams,
            credential,
            caller,
            client,
        })
    }
}

impl Watcher {
    /// `stream` as this user's event stream: admitted under the caps (else 429), ended (with a last
    /// `resync`, so the page asks again and learns why) once the session or token no longer holds.
    fn serve<S>(self, stream: S) -> Response
    where
        S: Stream<Item = Frame> + Send + 'static,
    {
        let holder = Holder::User {
            user_id: self.caller.user_id,
            credential: self.credential,
        };
        let permit = match self.streams.admit(&holder, self.client) {
            Ok(permit) => permit,
            Err(refused) => return *refused,
        };
        let end = self.streams.revoked(holder);
        sse_response(held(
            futures_util::StreamExt::take_until(stream, end)
                .chain(tokio_stream::once(sse(&Event::Resync))),
            permit,
        ))
    }
}

/// The live stream, with `resync` for a watcher that fell behind.
pub(super) fn live(
    state: &AppState,
    only: Option<i64>,
) -> impl Stream<Item = Frame> + use<> {
    live_where(state, move |event| {
        only.is_none() || event.deployment_id() == only
    })
}

/// The events `keep` keeps, as SSE, from now on; `resync` when this watcher fell behind.
pub(super) fn live_where<F>(
    state: &AppState,
    keep: F,
) -> impl Stream<Item = Frame> + use<F>
where
    F: Fn(&Event) -> bool + Send + 'static,
{
    BroadcastStream::new(state.orchestrator().subscribe()).filter_map(move |e| match e {
        // The shared bytes: cloning `Bytes` counts a reference, it copies nothing.
        Ok(published) if keep(&published.event) => Some(Ok(published.frame.clone())),
        Ok(_) => None,
        Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(_)) => {
            Some(sse(&Event::Resync))
        }
    })
}

/// `GET /api/v1/deployments/{id}/events`: SSE. First the deployment as it is (`deployment`), then
/// every change to it (`deployment`, `step`, `monitor`), and `resync` if this watcher fell behind.
pub async fn events(
    State(state): State<AppState>,
    watcher: Watcher,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    // Subscribe before reading, so no change between the two is missed.
    let stream = live(&state, Some(id));
    let detail = state
        .orchestrator()
        .detail(id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| not_found(id))?;
    let first = tokio_stream::once(sse(&Event::Deployment {
        deployment: detail.deployment,
    }));
    Ok(watcher.serve(first.chain(stream)))
}

/// `GET /api/v1/events`: SSE of every event: deployments, steps, monitor checks and fleet changes.
pub async fn all_events(State(state): State<AppState>, watcher: Watcher) -> Response {
    watcher.serve(live(&state, None))
}

/// `?range=1h|24h|7d` of the node routes: the span the charts cover (24h when absent).
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    range: Option<String>,
}

impl RangeQuery {
    fn range(&self) -> Result<mig::wire::ChartRange, ApiError> {
        self.range.as_deref().map_or(Ok(Default::default()), |r| {
            mig::wire::ChartRange::parse(r).map_err(|message| ApiError::BadRequest {
                message,
                hint: "leave range out for the last 24 hours".into(),
            })
        })
    }
}

/// `GET /api/v1/nodes/{node}?range=`: a node with its GPUs, charts (SVG) and the deployments that
/// touched it.
pub async fn node(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(node_detail(&state, &name, q.range()?).await?).into_response())
}

async fn node_detail(
    state: &AppState,
    name: &str,
    range: mig::wire::ChartRange,
) -> Result<mig::wire::NodeDetail, ApiError> {
    state
        .orchestrator()
        .node_detail(name, range)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| ApiError::NotFound {
            message: format!("no node named \"{name}\" in the fleet"),
            hint: "GET /api/v1/fleet lists the nodes".into(),
        })
}

/// `GET /api/v1/nodes/{node}/charts/{memory|applies}.svg?range=`: one chart as an SVG document.
pub async fn chart(
    State(state): State<AppState>,
    Path((name, chart)): Path<(String, String)>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let detail = node_detail(&state, &name, q.range()?).await?;
    let svg = match chart.as_str() {
        "memory.svg" => detail.memory_chart_svg,
        "applies.svg" => detail.applies_chart_svg,
        other => {
            return Err(ApiError::NotFound {
                message: format!("no chart named \"{other}\""),
                hint: "use memory.svg or applies.svg".into(),
            });
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}
