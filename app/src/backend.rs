//! The seam between server functions and the world: the server provides an [`Backend`] as context.

use std::sync::Arc;

use mig::blueprint::Catalogue;

use mig::wire::{
    AuditRecord, Caller, CreatedToken, DeploymentDetail, DeploymentInfo, NodeDetail, Role,
    TokenInfo, UserInfo, Validation,
};

use crate::api::deployments::Deployed;
use crate::api::status::ServerStatus;
use crate::error::AppError;

/// Everything server functions may ask of the server. Implemented in the `server` crate.
pub trait Backend: Send + Sync + 'static {
    /// The server's status; counts as one status request.
    fn status(&self) -> ServerStatus;

    /// The named MIG configs per GPU model that blueprints may name.
    fn catalogue(&self) -> Arc<Catalogue>;

    /// Checks a blueprint with every rule against the fleet as it is, exactly as deploying it would.
    fn validate(&self, text: String) -> BoxFuture<'_, Result<Validation, AppError>>;

    /// The fleet with every GPU's layout, for the fleet page.
    fn fleet_layout(&self) -> mig::wire::Fleet;

    /// Every deployment, newest first.
    fn deployments(&self) -> BoxFuture<'_, Result<Vec<DeploymentInfo>, AppError>>;

    /// One deployment with its steps, replicas and progress (`None`: no such deployment).
    fn deployment(&self, id: i64) -> BoxFuture<'_, Result<Option<DeploymentDetail>, AppError>>;

    /// Validates a blueprint against the fleet and schedules it; `drain` lets an update move
    /// workloads off busy nodes instead of failing; a pool rollout changes `max_unavailable` nodes
    /// at a time.
    fn deploy(
        &self,
        caller: &Caller,
        blueprint: String,
        drain: bool,
        max_unavailable: u32,
    ) -> BoxFuture<'_, Result<Deployed, AppError>>;

    /// Saves a custom MIG config: created, or the next version of the one of that name.
    fn save_config(
        &self,
        caller: &Caller,
        config: mig::RawCustomConfig,
    ) -> BoxFuture<'_, Result<crate::api::configs::Saved, AppError>>;

    /// Plans against the live fleet and carries the plan out (a config and an update per node that
    /// changes).
    fn apply_plan(
        &self,
        caller: &Caller,
        request: mig::capacity::apply::ApplyRequest,
    ) -> BoxFuture<'_, Result<mig::capacity::apply::ApplyOutcome, AppError>>;

    /// Puts a node back on the layout an earlier deployment applied (an update deployment).
    fn revert(
        &self,
        caller: &Caller,
        node: String,
        from: i64,
        drain: bool,
    ) -> BoxFuture<'_, Result<DeploymentInfo, AppError>>;

    /// Asks for a deployment to be undeployed.
    fn undeploy(&self, caller: &Caller, id: i64)
    -> BoxFuture<'_, Result<DeploymentInfo, AppError>>;

    /// Resumes a rollout paused after a batch with a failed node.
    fn resume(&self, caller: &Caller, id: i64) -> BoxFuture<'_, Result<DeploymentInfo, AppError>>;

    /// For an update: the layout it replaced on each node.
    fn previous_layouts(
        &self,
        id: i64,
    ) -> BoxFuture<'_, Result<Vec<mig::wire::PreviousLayout>, AppError>>;

    /// Reverts a finished update: one update deployment per node it reconfigured.
    fn revert_deployment(
        &self,
        caller: &Caller,
        id: i64,
        drain: bool,
    ) -> BoxFuture<'_, Result<Vec<DeploymentInfo>, AppError>>;

    /// Creates a read-only link to a deployment for `days` days.
    fn share(
        &self,
        caller: &Caller,
        id: i64,
        days: u32,
    ) -> BoxFuture<'_, Result<mig::wire::CreatedShare, AppError>>;

    /// A deployment's share links, newest first (never their tokens).
    fn shares(&self, id: i64) -> BoxFuture<'_, Result<Vec<mig::wire::ShareInfo>, AppError>>;

    /// Revokes a share link.
    fn revoke_share(
        &self,
        caller: &Caller,
        share_id: i64,
    ) -> BoxFuture<'_, Result<mig::wire::ShareInfo, AppError>>;

    /// What a share token shows (no blueprint), or why nothing.
    fn shared(&self, token: String) -> BoxFuture<'_, Result<DeploymentDetail, AppError>>;

    /// Makes a signed embed link (its `url` is the page's path).
    fn create_embed(
        &self,
        caller: &Caller,
        request: mig::wire::NewEmbed,
    ) -> BoxFuture<'_, Result<mig::wire::CreatedEmbed, AppError>>;

    /// Every embed link, newest first (never their tokens).
    fn embeds(&self) -> BoxFuture<'_, Result<Vec<mig::wire::EmbedInfo>, AppError>>;

    /// Revokes an embed link.
    fn revoke_embed(
        &self,
        caller: &Caller,
        id: i64,
    ) -> BoxFuture<'_, Result<mig::wire::EmbedInfo, AppError>>;

    /// What an embed token shows, or why nothing.
    fn embed_view(&self, token: String)
    -> BoxFuture<'_, Result<mig::wire::EmbedContent, AppError>>;

    /// A node's page with charts over `range` (`None`: no such node).
    fn node(
        &self,
        name: String,
        range: mig::wire::ChartRange,
    ) -> BoxFuture<'_, Result<Option<NodeDetail>, AppError>>;

    /// The caller's API tokens (an admin's: everyone's).
    fn tokens(&self, caller: &Caller) -> BoxFuture<'_, Result<Vec<TokenInfo>, AppError>>;

    /// A new API token for the caller, valid `days` days (`None`: 30; at most 365).
    fn create_token(
        &self,
        caller: &Caller,
        name: String,
        days: Option<u32>,
    ) -> BoxFuture<'_, Result<CreatedToken, AppError>>;

    /// Revokes one of the caller's tokens (an admin: anyone's).
    fn revoke_token(&self, caller: &Caller, id: i64) -> BoxFuture<'_, Result<TokenInfo, AppError>>;

    /// The caller changes their own password (given the current one); ends their other sessions
    /// and their API tokens.
    fn change_password(
        &self,
        caller: &Caller,
        current: String,
        new: String,
    ) -> BoxFuture<'_, Result<UserInfo, AppError>>;

    /// Every user.
    fn users(&self) -> BoxFuture<'_, Result<Vec<UserInfo>, AppError>>;

    /// Creates a user.
    fn create_user(
        &self,
        caller: &Caller,
        username: String,
        password: String,
        role: Role,
    ) -> BoxFuture<'_, Result<UserInfo, AppError>>;

    /// Changes a user's role, enabled state or password.
    fn update_user(
        &self,
        caller: &Caller,
        id: i64,
        role: Option<Role>,
        disabled: Option<bool>,
        password: Option<String>,
    ) -> BoxFuture<'_, Result<UserInfo, AppError>>;

    /// The newest `limit` audit records.
    fn audit_log(&self, limit: i64) -> BoxFuture<'_, Result<Vec<AuditRecord>, AppError>>;
}

/// The signed-in caller of the current server function, as the server's authentication attached
/// it to the request.
///
/// # Errors
/// [`AppError::Unauthorized`] when nobody is signed in.
pub fn caller() -> Result<Caller, AppError> {
    leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Caller>().cloned())
        .ok_or_else(|| AppError::Unauthorized("sign in first".to_owned()))
}

/// A boxed future, so [`Backend`] stays a trait object.
pub use futures_util::future::BoxFuture;

/// The context value server functions look up.
pub type BackendHandle = Arc<dyn Backend>;

/// Fetches the backend from Leptos context.
///
/// # Errors
/// [`AppError::Unavailable`] when the server did not provide one.
pub fn from_context() -> Result<BackendHandle, AppError> {
    leptos::prelude::use_context::<BackendHandle>().ok_or_else(|| {
        AppError::Unavailable("no backend in the server-function context".to_owned())
    })
}
