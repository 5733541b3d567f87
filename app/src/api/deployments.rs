//! Deployments: list, one with its steps, deploy a blueprint, undeploy, and a node's page.

use leptos::prelude::*;
use mig::blueprint::Issue;
use mig::wire::{CreatedShare, DeploymentDetail, DeploymentInfo, NodeDetail, ShareInfo};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What deploying a blueprint did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deployed {
    /// Scheduled: the orchestrator carries it out now.
    Created(DeploymentInfo),
    /// Not scheduled: every issue the fleet-aware check found.
    Invalid(Vec<Issue>),
}

/// Every deployment, newest first.
///
/// # Errors
/// [`AppError::Unavailable`] without a backend or when the database fails.
#[server(endpoint = "deployments")]
pub async fn list_deployments() -> Result<Vec<DeploymentInfo>, AppError> {
    crate::backend::from_context()?.deployments().await
}

/// One deployment with its step log, replicas and per-node progress.
///
/// # Errors
/// [`AppError::NotFound`] for an unknown id; [`AppError::Unavailable`] as above.
#[server(endpoint = "deployment")]
pub async fn get_deployment(id: i64) -> Result<DeploymentDetail, AppError> {
    let role = crate::backend::caller()?.role;
    crate::backend::from_context()?
        .deployment(id)
        .await?
        .map(|d| d.for_role(role))
        .ok_or_else(|| AppError::NotFound(format!("no deployment {id}")))
}

/// Validates `text` against the fleet and schedules it; `drain` lets an update move workloads off
/// busy nodes; a pool rollout changes `max_unavailable` nodes at a time (1 to 100; 0 or absent: 1).
///
/// # Errors
/// [`AppError::BadRequest`] over 1 MiB; [`AppError::Unavailable`] as above.
#[server(endpoint = "deploy")]
pub async fn deploy_blueprint(
    text: String,
    drain: bool,
    // Left out by older pages and scripts: 0, which means one node at a time.
    #[server(default)] max_unavailable: u32,
) -> Result<Deployed, AppError> {
    if text.len() > mig::blueprint::MAX_BYTES {
        return Err(AppError::BadRequest(format!(
            "the blueprint is {} bytes; the limit is 1 MiB",
            text.len()
        )));
    }
    crate::backend::from_context()?
        .deploy(&crate::backend::caller()?, text, drain, max_unavailable)
        .await
}

/// Asks for deployment `id` to be undeployed.
///
/// # Errors
/// [`AppError::NotFound`], [`AppError::Conflict`] (undeployed already, or a pool still in use).
#[server(endpoint = "undeploy")]
pub async fn undeploy(id: i64) -> Result<DeploymentInfo, AppError> {
    crate::backend::from_context()?
        .undeploy(&crate::backend::caller()?, id)
        .await
}

/// Resumes deployment `id`, a rollout paused after a batch with a failed node.
///
/// # Errors
/// [`AppError::NotFound`], [`AppError::Conflict`] (not paused).
#[server(endpoint = "resume_deployment")]
pub async fn resume_deployment(id: i64) -> Result<DeploymentInfo, AppError> {
    crate::backend::from_context()?
        .resume(&crate::backend::caller()?, id)
        .await
}

/// For an update: the layout it replaced on each node it reconfigured (empty for others).
///
/// # Errors
/// [`AppError::NotFound`].
#[server(endpoint = "previous_layouts")]
pub async fn previous_layouts(id: i64) -> Result<Vec<mig::wire::PreviousLayout>, AppError> {
    crate::backend::from_context()?.previous_layouts(id).await
}

/// Puts every node a finished update reconfigured back on the layout it replaced; the update
/// deployments started, one per node.
///
/// # Errors
/// [`AppError::Conflict`] for no update, one still running, or an earlier layout not on record.
#[server(endpoint = "revert_deployment")]
pub async fn revert_deployment(id: i64, drain: bool) -> Result<Vec<DeploymentInfo>, AppError> {
    crate::backend::from_context()?
        .revert_deployment(&crate::backend::caller()?, id, drain)
        .await
}

/// A node with its GPUs, charts and the deployments that touched it.
///
/// # Errors
/// [`AppError::NotFound`] for an unknown node.
#[server(endpoint = "node")]
pub async fn get_node(
    name: String,
    range: mig::wire::ChartRange,
) -> Result<NodeDetail, AppError> {
    crate::backend::from_context()?
        .node(name.clone(), range)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no node named \"{name}\" in the fleet")))
}

/// Puts node `node` back on the layout deployment `from` applied to it (an update deployment of
/// that config, at that version), draining busy instances when `drain`.
///
/// # Errors
/// [`AppError::NotFound`]; [`AppError::BadRequest`] when `from` applied no MIG config or the
/// update does not validate.
#[server(endpoint = "revert_node")]
pub async fn revert_node(node: String, from: i64, drain: bool) -> Result<DeploymentInfo, AppError> {
    crate::backend::from_context()?
        .revert(&crate::backend::caller()?, node, from, drain)
        .await
}

/// Creates a read-only link to deployment `id`, valid `days` days (1 to 90).
///
/// # Errors
/// [`AppError::BadRequest`] for days out of range; [`AppError::NotFound`].
#[server(endpoint = "create_share")]
pub async fn create_share(id: i64, days: u32) -> Result<CreatedShare, AppError> {
    crate::backend::from_context()?
        .share(&crate::backend::caller()?, id, days)
        .await
}

/// Deployment `id`'s share links, newest first.
///
/// # Errors
/// [`AppError::Unavailable`] when the database fails.
#[server(endpoint = "list_shares")]
pub async fn list_shares(id: i64) -> Result<Vec<ShareInfo>, AppError> {
    crate::backend::from_context()?.shares(id).await
}

/// Revokes share link `share_id`.
///
/// # Errors
/// [`AppError::Conflict`] for an unknown link.
#[server(endpoint = "revoke_share")]
pub async fn revoke_share(share_id: i64) -> Result<ShareInfo, AppError> {
    crate::backend::from_context()?
        .revoke_share(&crate::backend::caller()?, share_id)
        .await
}

/// What a share link shows.
///
/// # Errors
/// [`AppError::Gone`] (expired, revoked), [`AppError::NotFound`] (never existed).
#[server(endpoint = "shared")]
pub async fn get_shared(token: String) -> Result<DeploymentDetail, AppError> {
    let answer = crate::backend::from_context()?.shared(token).await;
    // The `/share/{token}` page (rendered whole before it is sent, `SsrMode::Async`) answers with
    // the link's truth, so monitors and crawlers see it: 404 never existed, 410 expired or revoked.
    answer_status(&answer);
    answer
}

/// Sets the rendered page's status from a link's answer: 404 for [`AppError::NotFound`], 410 for
/// [`AppError::Gone`] (server only; nothing elsewhere).
#[cfg(feature = "ssr")]
pub(crate) fn answer_status<T>(answer: &Result<T, AppError>) {
    let status = match answer {
        Err(AppError::NotFound(_)) => Some(http::StatusCode::NOT_FOUND),
        Err(AppError::Gone(_)) => Some(http::StatusCode::GONE),
        _ => None,
    };
    if let (Some(status), Some(response)) = (status, use_context::<leptos_axum::ResponseOptions>())
    {
        response.set_status(status);
    }
}
