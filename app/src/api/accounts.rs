//! Accounts: who is signed in, API tokens, users and the audit log. Sign-in and sign-out are plain
//! HTML form posts to the server (`/login`, `/logout`), so they work before the app hydrates.

use leptos::prelude::*;
use mig::wire::{AuditRecord, Caller, CreatedToken, Role, TokenInfo, UserInfo};

use crate::error::AppError;

/// Who is signed in (`None`: nobody).
///
/// # Errors
/// Never on the server; [`AppError::Transport`] when the request fails.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Caller>, AppError> {
    Ok(crate::backend::caller().ok())
}

/// The caller's API tokens (an admin sees everyone's).
///
/// # Errors
/// [`AppError::Unauthorized`], [`AppError::Unavailable`].
#[server(endpoint = "my_tokens")]
pub async fn my_tokens() -> Result<Vec<TokenInfo>, AppError> {
    crate::backend::from_context()?
        .tokens(&crate::backend::caller()?)
        .await
}

/// A new API token for the caller (its secret is in the answer, once).
///
/// # Errors
/// [`AppError::BadRequest`] for a bad name or lifetime.
#[server(endpoint = "create_token")]
pub async fn create_token(name: String, days: Option<u32>) -> Result<CreatedToken, AppError> {
    crate::backend::from_context()?
        .create_token(&crate::backend::caller()?, name, days)
        .await
}

/// Revokes a token.
///
/// # Errors
/// [`AppError::NotFound`] for an unknown token or someone else's (unless admin).
#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: i64) -> Result<TokenInfo, AppError> {
    crate::backend::from_context()?
        .revoke_token(&crate::backend::caller()?, id)
        .await
}

/// The caller changes their own password. Every other session and API token of theirs ends; this
/// browser's session goes on.
///
/// # Errors
/// [`AppError::BadRequest`] for a wrong current password or a new one that is too short or the same.
#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String) -> Result<UserInfo, AppError> {
    crate::backend::from_context()?
        .change_password(&crate::backend::caller()?, current, new)
        .await
}

/// Every user (admins).
///
/// # Errors
/// [`AppError::Forbidden`] for non-admins (the server refuses before this runs).
#[server(endpoint = "users")]
pub async fn list_users() -> Result<Vec<UserInfo>, AppError> {
    crate::backend::from_context()?.users().await
}

/// Creates a user (admins).
///
/// # Errors
/// [`AppError::BadRequest`] for a bad name or short password, [`AppError::Conflict`] for a taken name.
#[server(endpoint = "create_user")]
pub async fn create_user(
    username: String,
    password: String,
    role: Role,
) -> Result<UserInfo, AppError> {
    crate::backend::from_context()?
        .create_user(&crate::backend::caller()?, username, password, role)
        .await
}

/// Changes a user's role, enabled state or password (admins).
///
/// # Errors
/// [`AppError::Conflict`] when no enabled admin would be left.
#[server(endpoint = "update_user")]
pub async fn update_user(
    id: i64,
    role: Option<Role>,
    disabled: Option<bool>,
    password: Option<String>,
) -> Result<UserInfo, AppError> {
    crate::backend::from_context()?
        .update_user(&crate::backend::caller()?, id, role, disabled, password)
        .await
}

/// The newest audit records (admins).
///
/// # Errors
/// [`AppError::Unavailable`] when the database fails.
#[server(endpoint = "audit_log")]
pub async fn audit_log(limit: i64) -> Result<Vec<AuditRecord>, AppError> {
    crate::backend::from_context()?.audit_log(limit).await
}
