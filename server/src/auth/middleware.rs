//! The authentication middleware: who is asking (API token or session), the policy applied to every
//! request, the sign-in rate limit, and server-function errors with their true HTTP status.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use mig::wire::Role;
use tower_sessions::Session;

use super::AuthState;
use super::client::{ClientAddr, limit_key};
use super::policy::{Need, policy};
use super::sessions::session_caller;
use crate::error::ApiError;

/// The TCP peer's address; unspecified when the server has none (tests calling the router directly).
pub(super) fn peer_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Whether `path` is a server function's (`/api/{endpoint}`, not the REST API under `/api/v1/`).
fn is_server_fn(path: &str) -> bool {
    path.starts_with("/api/") && !path.starts_with("/api/v1/")
}

/// A server function's error, as its client decodes it.
fn server_fn_error(status: StatusCode, error: &app::error::AppError) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(error).unwrap_or_default(),
    )
        .into_response()
}

fn is_login(method: &Method, path: &str) -> bool {
    *method == Method::POST && matches!(path, "/login" | "/api/v1/login")
}

/// Finds out who is asking (API token or session), enforces [`policy`], rate-limits sign-in, and
/// attaches the [`Caller`] for handlers. Runs inside the session layer.
pub async fn authenticate(State(auth): State<AuthState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // The client: the peer, or behind a trusted proxy the address it forwarded for.
    let ip = auth.trusted.client(peer_ip(req.extensions()), req.headers());
    req.extensions_mut().insert(ClientAddr(ip));
    let source = ip.to_string();
    if is_login(&method, &path)
        && let Err(not_until) = auth.limiter.check_key(&limit_key(ip))
    {
        let wait = super::wait_secs(&not_until);
        tracing::warn!(source, "sign-in rate limit");
        if path == "/login" {
            return Redirect::to("/login?error=rate").into_response();
        }
        let mut res = ApiError::TooMany {
            message: "too many sign-in attempts from this address".into(),
            hint: format!("wait {wait} s and try again"),
        }
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let need = policy(&method, &path);
    // Public routes do not look at the caller (static files, health checks, share links, sign-in),
    // so they cost no session or token lookup; public server functions (`whoami`) do.
    let mut credential = None;
    let mut must_change_password = false;
    let caller = match bearer {
        _ if need == Need::Public && !is_server_fn(&path) => None,
        Some(token) => match auth.accounts.token_caller(&token, &source).await {
            Ok(Some((c, must_change))) => {
                credential = Some(super::Credential::Token(token.into()));
                must_change_password = must_change;
                Some(c)
            }
            // A public route (a share link, sign-in) serves anyone, even with a stale token.
            Ok(None) if need == Need::Public => None,
            Ok(None) => {
                return ApiError::Unauthorized {
                    message: "the API token is unknown, revoked or expired".into(),
                    hint: "create a token with POST /api/v1/login or in Settings, and send it as `Authorization: Bearer <token>`".into(),
                }
                .into_response();
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => match req.extensions().get::<Session>().cloned() {
            Some(session) => {
                let found = session_caller(&auth.accounts.store, &session, &source).await;
                credential = found
                    .as_ref()
                    .and(session.id())
                    .map(super::Credential::Session);
                must_change_password = found.as_ref().is_some_and(|(_, must)| *must);
                found.map(|(c, _)| c)
            }
            None => None,
        },
    };
    if let Need::Role(role) = need {
        let server_fn = is_server_fn(&path);
        match &caller {
            None if path.starts_with("/api/") => {
                let msg = "sign in first";
                return if server_fn {
                    server_fn_error(
                        StatusCode::UNAUTHORIZED,
                        &app::error::AppError::Unauthorized(msg.into()),
                    )
                } else {
                    ApiError::Unauthorized {
                        message: msg.into(),
                        hint: "sign in at /login, or send `Authorization: Bearer <token>` (POST /api/v1/login gives one)".into(),
                    }
                    .into_response()
                };
            }
            None if matches!(method, Method::GET | Method::HEAD) => {
                let next = req
                    .uri()
                    .path_and_query()
                    .map_or("/", axum::http::uri::PathAndQuery::as_str)
                    .to_owned();
                return Redirect::to(&format!("/login?next={}", encode(&next))).into_response();
            }
            None => return StatusCode::UNAUTHORIZED.into_response(),
            Some(c) if c.role < role => {
                let msg = format!(
                    "{} is {}; this needs {}",
                    c.username,
                    with_article(c.role),
                    with_article(role)
                );
                return if server_fn {
                    server_fn_error(StatusCode::FORBIDDEN, &app::error::AppError::Forbidden(msg))
                } else if path.starts_with("/api/") {
                    ApiError::Forbidden {
                        message: msg,
                        hint: "ask an admin for the role".into(),
                    }
                    .into_response()
                } else {
                    (StatusCode::FORBIDDEN, msg).into_response()
                };
            }
            Some(_) => {}
        }
    }
    if must_change_password && !allowed_before_password_change(&method, &path) {
        if let Some(c) = &caller {
            return password_change_first(c, &method, &path);
        }
    }
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    if let Some(c) = credential {
        req.extensions_mut().insert(c);
    }
    next.run(req).await
}

/// What a user whose password must be changed (the generated first admin) may still do: change
/// it, see who they are, sign out, and open Settings, where the form is.
fn allowed_before_password_change(method: &Method, path: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD);
    matches!(
        (read, path),
        (false, "/api/v1/me/password" | "/api/change_password" | "/api/whoami" | "/logout")
            | (true, "/api/v1/me" | "/settings")
    ) || (read && path.starts_with("/api/v1/openapi"))
}

/// The answer to anything else: pages go to Settings, APIs say what to do.
fn password_change_first(caller: &mig::wire::Caller, method: &Method, path: &str) -> Response {
    let message = format!(
        "{} signs in with a generated password: choose your own before anything else",
        caller.username
    );
    if is_server_fn(path) {
        server_fn_error(
            StatusCode::FORBIDDEN,
            &app::error::AppError::Forbidden(message),
        )
    } else if path.starts_with("/api/") {
        ApiError::Forbidden {
            message,
            hint: "POST /api/v1/me/password with {\"current_password\", \"new_password\"} (12+ characters), or Settings → Change my password".into(),
        }
        .into_response()
    } else if matches!(*method, Method::GET | Method::HEAD) {
        Redirect::to("/settings?password=required#change-password").into_response()
    } else {
        (StatusCode::FORBIDDEN, message).into_response()
    }
}

fn with_article(role: Role) -> &'static str {
    match role {
        Role::Viewer => "a viewer",
        Role::Operator => "an operator",
        Role::Admin => "an admin",
    }
}

/// Percent-encodes a path for a query value.
pub(super) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The client's address: as [`authenticate`] found it (the peer, or behind a trusted proxy the
/// address it forwarded for), else the peer when the server has it (tests calling the router
/// directly do not).
#[derive(Debug, Clone, Copy)]
pub struct ConnectInfoOpt(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectInfoOpt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ClientAddr>()
                .map_or_else(|| peer_ip(&parts.extensions), |c| c.0),
        ))
    }
}

/// Gives a server function's error its HTTP status. Leptos answers every server-function error with
/// 500; the body is our [`app::error::AppError`], whose variant says what happened (a revoked share
/// link is a 410, not a server fault), so logs and monitoring see the truth.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let server_fn = is_server_fn(req.uri().path());
    let res = next.run(req).await;
    if !server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error body too large").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        use app::error::AppError as E;
        parts.status = match error {
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::BadRequest(_) => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Gone(_) => StatusCode::GONE,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
