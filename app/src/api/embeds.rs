//! Signed embed links: made, listed and revoked by operators; opened by anyone with the token.

use leptos::prelude::*;
use mig::wire::{CreatedEmbed, EmbedContent, EmbedInfo};

use crate::error::AppError;

/// Makes a link showing `view` (`fleet`, `pool/<name>`, `node/<name>`, `deployment/<id>`) to
/// frames of `origins` (comma- or space-separated) for `days` days. Its `url` is the page's
/// path; the browser puts its own origin in front.
///
/// # Errors
/// [`AppError::BadRequest`] for a view, day count or origin that is not usable;
/// [`AppError::NotFound`] for a view of nothing.
#[server(endpoint = "create_embed")]
pub async fn create_embed(
    view: String,
    days: u32,
    origins: String,
) -> Result<CreatedEmbed, AppError> {
    let request = mig::wire::NewEmbed {
        view: mig::wire::EmbedView::parse(&view).map_err(AppError::BadRequest)?,
        days: Some(days),
        origins: origins
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    crate::backend::from_context()?
        .create_embed(&crate::backend::caller()?, request)
        .await
}

/// Every embed link, newest first (never their tokens).
///
/// # Errors
/// [`AppError::Unavailable`] when the database fails.
#[server(endpoint = "list_embeds")]
pub async fn list_embeds() -> Result<Vec<EmbedInfo>, AppError> {
    crate::backend::from_context()?.embeds().await
}

/// Revokes embed link `id`: views open on it end within seconds.
///
/// # Errors
/// [`AppError::NotFound`] for an unknown link.
#[server(endpoint = "revoke_embed")]
pub async fn revoke_embed(id: i64) -> Result<EmbedInfo, AppError> {
    crate::backend::from_context()?
        .revoke_embed(&crate::backend::caller()?, id)
        .await
}

/// What embed link `token` shows now.
///
/// # Errors
/// [`AppError::NotFound`] (never existed), [`AppError::Gone`] (expired, revoked, or what it
/// showed is gone).
#[server(endpoint = "embed_view")]
pub async fn get_embed(token: String) -> Result<EmbedContent, AppError> {
    let answer = crate::backend::from_context()?.embed_view(token).await;
    // The page is rendered whole before it is sent (`SsrMode::Async`) and answers with the
    // link's truth: 404 never existed, 410 expired or revoked.
    crate::api::deployments::answer_status(&answer);
    answer
}
