//! Accounts over REST: sign in for a token (`POST /login`, like OCI AI Blueprints' `/login/`), who am
//! I, API tokens, users and the audit log. Authorization is the middleware's ([`crate::auth::policy`]);
//! these handlers parse, call [`crate::auth::Accounts`] and shape the answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mig::wire::{Caller, Role, Secret};
use serde::Deserialize;

use super::{ApiError, ApiJson, Signed};
use crate::AppState;
use crate::auth::{AccountError, ConnectInfoOpt};

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(message) => Self::Unprocessable {
                message,
                hint: "fix the field named in the message".into(),
            },
            AccountError::BadCredentials => Self::Unauthorized {
                message: "wrong username or password".into(),
                hint: "check both; after 5 attempts, wait before trying again".into(),
            },
            AccountError::NotFound(message) => Self::NotFound {
                message,
                hint: "list what exists with GET first".into(),
            },
            AccountError::Conflict(message) => Self::Conflict {
                message,
                hint: "see the message".into(),
            },
            AccountError::Forbidden(message) => Self::Forbidden {
                message,
                hint: "ask an admin".into(),
            },
            AccountError::TooMany(wait) => Self::TooMany {
                message: "too many sign-in attempts for this user".into(),
                hint: format!("wait {wait} s and try again"),
            },
            AccountError::Internal(message) => Self::Unavailable {
                message,
                hint: "try again; if it persists, check the server's log".into(),
            },
        }
    }
}

/// `POST /login`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: Secret,
    /// A name for the token (default `api`).
    #[serde(default)]
    name: Option<String>,
    /// Its lifetime in days, 1-365 (default 30).
    #[serde(default)]
    days: Option<u32>,
}

/// `POST /api/v1/login`: username and password for an API token (shown once).
pub async fn login(
    State(state): State<AppState>,
    ConnectInfoOpt(ip): ConnectInfoOpt,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let accounts = state.accounts();
    let user = accounts
        .check_login(body.username.trim(), body.password.expose(), &ip.to_string(), "api")
        .await?;
    let caller = Caller {
        user_id: user.id,
        username: user.username,
        role: user.role,
        via: mig::wire::Via::Password,
        source: ip.to_string(),
    };
    let created = accounts
        .create_token(&caller, body.name.as_deref().unwrap_or("api"), body.days)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /api/v1/me`: who the request is from.
pub async fn me(Signed(caller): Signed) -> Json<Caller> {
    Json(caller)
}

/// `POST /api/v1/tokens`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    name: String,
    /// Its lifetime in days, 1-365 (default 30).
    #[serde(default)]
    days: Option<u32>,
}

/// `GET /api/v1/tokens`: the caller's tokens (an admin's: everyone's).
pub async fn tokens(
    State(state): State<AppState>,
    Signed(caller): Signed,
) -> Result<Response, ApiError> {
    Ok(Json(state.accounts().tokens(&caller).await?).into_response())
}

/// `POST /api/v1/tokens`: a new token for the caller.
pub async fn create_token(
    State(state): State<AppState>,
    Signed(caller): Signed,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    let created = state
        .accounts()
        .create_token(&caller, &body.name, body.days)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `POST /api/v1/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    Ok(Json(state.accounts().revoke_token(&caller, id).await?).into_response())
}

/// `GET /api/v1/users`.
pub async fn users(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.accounts().users().await?).into_response())
}

/// `POST /api/v1/users`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    username: String,
    password: Secret,
    role: Role,
}

/// `POST /api/v1/users`.
pub async fn create_user(
    State(state): State<AppState>,
    Signed(caller): Signed,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, ApiError> {
    let user = state
        .accounts()
        .create_user(&caller, body.username.trim(), body.password.expose(), body.role)
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// `PATCH /api/v1/users/{id}`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    password: Option<Secret>,
}

/// `PATCH /api/v1/users/{id}`.
pub async fn update_user(
    State(state): State<AppState>,
    Signed(caller): Signed,
    session: tower_sessions::Session,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Response, ApiError> {
    let user = state
        .accounts()
        .update_user(
            &caller,
            id,
            body.role,
            body.disabled,
            body.password.as_ref().map(Secret::expose),
        )
        .await?;
    if body.password.is_some() {
        crate::auth::renew_after_password_change(&session, &caller, &user).await?;
    }
    Ok(Json(user).into_response())
}

/// `POST /api/v1/me/password`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password the caller has now.
    current_password: Secret,
    /// The new one (at least 12 characters, not a common one).
    new_password: Secret,
}

/// `POST /api/v1/me/password`: the caller changes their own password. Every session and API token
/// of theirs ends, except the browser session that asked (it continues under a new id).
pub async fn change_password(
    State(state): State<AppState>,
    Signed(caller): Signed,
    session: tower_sessions::Session,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    let user = state
        .accounts()
        .change_own_password(
            &caller,
            body.current_password.expose(),
            body.new_password.expose(),
        )
        .await?;
    crate::auth::renew_after_password_change(&session, &caller, &user).await?;
    Ok(Json(user).into_response())
}

/// `GET /api/v1/audit`'s query.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/v1/audit?limit=N`: the newest audit records (default 200, at most 1000).
pub async fn audit(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.accounts().audit_log(q.limit.unwrap_or(200)).await?).into_response())
}
