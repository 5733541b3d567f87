//! Signed embed links: made, listed and revoked by operators (`/embeds`), opened by anyone with
//! the token (`/embed/{token}`, `/embed/{token}/events`). See [`crate::embeds`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use mig::wire::{EmbedContent, EmbedView, Event, NewEmbed};
use tokio_stream::StreamExt as _;

use super::deployments::{held, link_end, live_where, sse, sse_response};
use super::{ApiError, ApiJson, Signed};
use crate::AppState;
use crate::audit::Actor;
use crate::auth::ConnectInfoOpt;
use crate::embeds::EmbedError;
use crate::security::Security;
use crate::streams::{Holder, Streams};

fn embed_error(e: EmbedError) -> ApiError {
    match e {
        EmbedError::BadRequest(message) => ApiError::Unprocessable {
            message,
            hint: "send {\"view\": \"fleet\" | \"pool/<name>\" | \"node/<name>\" | \"deployment/<id>\", \"days\": 1-90, \"origins\": [\"https://portal.example.com\"]}".into(),
        },
        EmbedError::NotFound(message) => ApiError::NotFound {
            message,
            hint: "check the link; GET /api/v1/fleet and /api/v1/deployments list what can be shown".into(),
        },
        EmbedError::Gone(message) => ApiError::Gone {
            message,
            hint: "ask whoever made the link for a new one".into(),
        },
        EmbedError::Store(e) => ApiError::Unavailable {
            message: format!("the database failed: {e}"),
            hint: "try again; if it persists, check the server's log and its DATABASE_URL".into(),
        },
        EmbedError::NoEntropy(why) => {
            tracing::error!(error = %why, "embed links");
            ApiError::Unavailable {
                message: "the server could not make a token".into(),
                hint: "try again; if it persists, check the server's log".into(),
            }
        }
    }
}

/// `scheme://host` as this request reached migboard: `https` when migboard is served over HTTPS
/// (`--cookie-secure`), the `Host` header's authority.
pub(super) fn base_url(security: &Security, headers: &HeaderMap) -> String {
    let scheme = if security.cookie_secure {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// `POST /api/v1/embeds`: `{"view", "days", "origins"}` → 201 `{"id", "url", "path", "link"}`;
/// the token is in the URL and shown this once.
pub async fn create(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Extension(security): Extension<Arc<Security>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<NewEmbed>,
) -> Result<Response, ApiError> {
    let created = state
        .embeds()
        .create(request, &base_url(&security, &headers), &Actor::of(&caller))
        .await
        .map_err(embed_error)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /api/v1/embeds`: every embed link (never its token), newest first.
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let links = state
        .embeds()
        .list()
        .await
        .map_err(|e| embed_error(e.into()))?;
    Ok(Json(links).into_response())
}

/// `POST /api/v1/embeds/{id}/revoke`: the link ends; views open on it end within seconds.
pub async fn revoke(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let link = state
        .embeds()
        .revoke(id, &Actor::of(&caller))
        .await
        .map_err(embed_error)?;
    Ok(Json(link).into_response())
}

/// `GET /api/v1/embed/{token}`: what the link shows now (404 unknown, 410 expired or revoked).
pub async fn view(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let (_, content) = state.embeds().content(&token).await.map_err(embed_error)?;
    Ok(Json::<EmbedContent>(content).into_response())
}

/// `GET /api/v1/embed/{token}/events`: SSE of the changes to what the link shows (`fleet` for the
/// fleet, a pool or a node; `deployment` and `step` of its deployment), checked at connect, ended
/// with a last `resync` when the link is revoked or expires.
pub async fn events(
    State(state): State<AppState>,
    Extension(streams): Extension<Arc<Streams>>,
    ConnectInfoOpt(client): ConnectInfoOpt,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let holder = Holder::Embed(token.clone());
    let permit = match streams.admit(&holder, client) {
        Ok(permit) => permit,
        Err(refused) => return Ok(*refused),
    };
    // Subscribed before the link is checked, so a revocation in between is not missed.
    let revoked = state.embeds().revocations();
    let link = state.embeds().link(&token).await.map_err(embed_error)?;
    let end = link_end(revoked, link.id, link.expires_ms, streams, holder);
    // Only what this view is made of: a fleet link hears of fleet changes and nothing of any
    // deployment; a deployment link only of its own.
    let only = match link.view {
        EmbedView::Deployment(id) => Some(id),
        EmbedView::Fleet | EmbedView::Pool(_) | EmbedView::Node(_) => None,
    };
    let changes = live_where(&state, move |e| match only {
        Some(id) => e.deployment_id() == Some(id),
        None => matches!(e, Event::Fleet { .. }),
    });
    let body = held(
        futures_util::StreamExt::take_until(changes, end)
            .chain(tokio_stream::once(sse(&Event::Resync))),
        permit,
    );
    Ok(sse_response(body))
}
