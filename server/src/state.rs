//! Shared server state and the [`app::backend::Backend`] implementation server functions call.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use app::api::status::ServerStatus;
use app::backend::{Backend, BackendHandle};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use mig::blueprint::Catalogue;

use app::api::deployments::Deployed;
use app::backend::BoxFuture;
use app::error::AppError;
use mig::wire::{
    AuditRecord, Caller, CreatedToken, DeploymentDetail, DeploymentInfo, NodeDetail, Role,
    TokenInfo, UserInfo, Validation,
};

use crate::audit::Actor;
use crate::auth::AccountError;
use crate::catalogue::SharedCatalogue;
use crate::cluster::embedded::FleetSpec;
use crate::cluster::{Cluster, Fixed, Fleet};
use crate::orchestrator::{Options, Orchestrator, OrchestratorError};
use crate::shares::Shares;
use crate::store::Store;

/// State every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Leptos' site options (site root, bundle name, address).
    pub leptos_options: LeptosOptions,
    inner: Arc<ServerBackend>,
}

/// mig-parted's default configs for every model ([`crate::catalogue::builtin`]).
pub fn catalogue() -> Catalogue {
    crate::catalogue::builtin()
}

impl AppState {
    /// State over a [`Fixed`] copy of the default fleet (no agents behind it) and an in-memory
    /// database: for handler tests, where nothing is deployed.
    ///
    /// # Panics
    /// If an in-memory SQLite database cannot be opened (nothing about the host can cause that).
    pub async fn new(leptos_options: LeptosOptions) -> Self {
        let catalogue = SharedCatalogue::default();
        let fixed = Fixed::new(
            &FleetSpec::default_fleet(),
            &catalogue.get(),
            "fixed fleet (no agents): the default fleet's layout as data",
        );
        let store = Store::open("sqlite::memory:")
            .await
            .expect("an in-memory SQLite database opens");
        Self::start(
            leptos_options,
            Arc::new(fixed),
            catalogue,
            store,
            Options::default(),
        )
        .await
    }

    /// State over `cluster` and `store`, with the orchestrator running (it resumes every unfinished
    /// deployment first).
    pub async fn start(
        leptos_options: LeptosOptions,
        cluster: Arc<dyn Cluster>,
        catalogue: SharedCatalogue,
        store: Store,
        options: Options,
    ) -> Self {
        match store.mig_configs().await {
            Ok(custom) => catalogue.set_custom(&custom),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the custom MIG configs; only the built-ins are offered")
            }
        }
        let auth = crate::auth::AuthState::new(store.clone());
        let admin_password = std::env::var("MIGBOARD_ADMIN_PASSWORD").ok();
        match auth.accounts.ensure_admin(admin_password.as_deref()).await {
            Ok(Some(generated)) => {
                // Printed once, on the first start only: the database keeps only its hash.
                tracing::warn!(
                    "first start: created user `admin` with the one-time password {generated}: sign in with it and choose your own, which migboard asks for before anything else (or set MIGBOARD_ADMIN_PASSWORD on the first start to choose it)"
                );
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot create the first admin"),
        }
        crate::auth::spawn_session_cleanup(store.clone());
        auth.spawn_pruning();
        let orchestrator = Orchestrator::new(store, cluster, catalogue, options).await;
        orchestrator.spawn();
        let shares = Shares::new(orchestrator.clone());
        let embeds = crate::embeds::Embeds::new(orchestrator.clone());
        let configs = crate::configs::MigConfigs::new(orchestrator.clone());
        Self {
            leptos_options,
            inner: Arc::new(ServerBackend {
                started: Instant::now(),
                sequence: AtomicU64::new(0),
                orchestrator,
                shares,
                embeds,
                configs,
                auth,
            }),
        }
    }

    /// Account actions (users, tokens, audit).
    pub fn accounts(&self) -> &crate::auth::Accounts {
        &self.inner.auth.accounts
    }

    /// The authentication middleware's state.
    pub fn auth(&self) -> crate::auth::AuthState {
        self.inner.auth.clone()
    }

    /// The orchestrator (deployments, fleet, events).
    pub fn orchestrator(&self) -> &Orchestrator {
        &self.inner.orchestrator
    }

    /// Share links.
    pub fn shares(&self) -> &Shares {
        &self.inner.shares
    }

    /// Signed embed links.
    pub fn embeds(&self) -> &crate::embeds::Embeds {
        &self.inner.embeds
    }

    /// Custom MIG configs.
    pub fn configs(&self) -> &crate::configs::MigConfigs {
        &self.inner.configs
    }

    /// The fleet as last read.
    pub fn fleet(&self) -> Fleet {
        self.inner.orchestrator.fleet()
    }

    /// Reads the cluster now and keeps the result.
    pub async fn refresh_fleet(&self) -> Fleet {
        self.inner.orchestrator.refresh().await
    }

    /// What the cluster backend is.
    pub fn cluster_description(&self) -> String {
        self.inner.orchestrator.describe()
    }

    /// The backend as the trait object server functions receive.
    pub fn backend(&self) -> BackendHandle {
        self.inner.clone()
    }

    /// Where the built site (hydration bundle, CSS, assets) is served from.
    pub fn site_root(&self) -> PathBuf {
        PathBuf::from(&*self.leptos_options.site_root)
    }
}

impl FromRef<AppState> for crate::auth::AuthState {
    fn from_ref(state: &AppState) -> Self {
        state.auth()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The server's side of [`Backend`].
#[derive(Debug)]
struct ServerBackend {
    started: Instant,
    sequence: AtomicU64,
    orchestrator: Orchestrator,
    shares: Shares,
    embeds: crate::embeds::Embeds,
    configs: crate::configs::MigConfigs,
    auth: crate::auth::AuthState,
}

fn account_error(e: AccountError) -> AppError {
    match e {
        AccountError::Invalid(m) => AppError::BadRequest(m),
        AccountError::BadCredentials => AppError::Unauthorized(e.to_string()),
        AccountError::NotFound(m) => AppError::NotFound(m),
        AccountError::Conflict(m) => AppError::Conflict(m),
        AccountError::Forbidden(m) => AppError::Forbidden(m),
        AccountError::TooMany(_) => AppError::Unavailable(e.to_string()),
        AccountError::Internal(m) => {
            AppError::Unavailable(crate::request_id::internal("accounts", &m))
        }
    }
}

/// A database failure, as a page may read it: the request id, not the cause (logged).
fn store_error(e: &crate::store::StoreError) -> AppError {
    AppError::Unavailable(crate::request_id::internal("the database failed", e))
}

impl Backend for ServerBackend {
    fn status(&self) -> ServerStatus {
        let now_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: self.orchestrator.describe(),
            uptime_secs: self.started.elapsed().as_secs(),
            now_unix_ms,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    fn catalogue(&self) -> Arc<Catalogue> {
        self.orchestrator.catalogue()
    }

    fn validate(&self, text: String) -> BoxFuture<'_, Result<Validation, AppError>> {
        Box::pin(async move {
            self.orchestrator
                .validate(&text)
                .await
                .map_err(|e| store_error(&e))
        })
    }

    fn fleet_layout(&self) -> Fleet {
        self.orchestrator.fleet()
    }

    fn deployments(&self) -> BoxFuture<'_, Result<Vec<DeploymentInfo>, AppError>> {
        Box::pin(async move { self.orchestrator.list().await.map_err(|e| store_error(&e)) })
    }

    fn deployment(&self, id: i64) -> BoxFuture<'_, Result<Option<DeploymentDetail>, AppError>> {
        Box::pin(async move {
            self.orchestrator
                .detail(id)
                .await
                .map_err(|e| store_error(&e))
        })
    }

    fn deploy(
        &self,
        caller: &Caller,
        blueprint: String,
        drain: bool,
        max_unavailable: u32,
    ) -> BoxFuture<'_, Result<Deployed, AppError>> {
        let actor = Actor::of(caller);
        let rollout = crate::orchestrator::Rollout {
            drain,
            max_unavailable: max_unavailable.clamp(1, crate::orchestrator::MAX_UNAVAILABLE),
        };
        Box::pin(async move {
            match self.orchestrator.submit_with(&blueprint, rollout, &actor).await {
                Ok(info) => Ok(Deployed::Created(info)),
                Err(OrchestratorError::Invalid(issues)) => Ok(Deployed::Invalid(issues)),
                Err(e) => Err(orchestrator_error(e)),
            }
        })
    }

    fn apply_plan(
        &self,
        caller: &Caller,
        request: mig::capacity::apply::ApplyRequest,
    ) -> BoxFuture<'_, Result<mig::capacity::apply::ApplyOutcome, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            use crate::plans::PlanError;
            crate::plans::apply(&self.orchestrator, &self.configs, request, &actor)
                .await
                .map_err(|e| match e {
                    PlanError::Invalid(issues) => AppError::BadRequest(
                        issues
                            .first()
                            .map(|i| format!("at {}: {} ({})", i.path, i.message, i.hint))
                            .unwrap_or_else(|| "the plan request is not valid".into()),
                    ),
                    PlanError::Internal(why) => AppError::Unavailable(crate::request_id::internal(
                        "applying a fleet plan failed",
                        &why,
                    )),
                })
        })
    }

    fn revert(
        &self,
        caller: &Caller,
        node: String,
        from: i64,
        drain: bool,
    ) -> BoxFuture<'_, Result<DeploymentInfo, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            self.orchestrator
                .revert(&node, from, drain, &actor)
                .await
                .map_err(revert_error)
        })
    }

    fn save_config(
        &self,
        caller: &Caller,
        config: mig::RawCustomConfig,
    ) -> BoxFuture<'_, Result<app::api::configs::Saved, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            use crate::configs::ConfigError;
            use app::api::configs::Saved;
            match self.configs.save(config, &actor).await {
                Ok(info) => Ok(Saved::Saved(info)),
                Err(ConfigError::Invalid(issues)) => Ok(Saved::Invalid(issues)),
                Err(ConfigError::Store(e)) => Err(store_error(&e)),
                Err(ConfigError::NotFound(m)) => Err(AppError::NotFound(m)),
                Err(
                    e @ (ConfigError::Exists(_)
                    | ConfigError::Builtin(_)
                    | ConfigError::InUse { .. }),
                ) => Err(AppError::Conflict(e.to_string())),
                Err(ConfigError::BadRequest(m)) => Err(AppError::BadRequest(m)),
            }
        })
    }

    fn previous_layouts(
        &self,
        id: i64,
    ) -> BoxFuture<'_, Result<Vec<mig::wire::PreviousLayout>, AppError>> {
        Box::pin(async move {
            self.orchestrator
                .previous_layouts(id)
                .await
                .map_err(orchestrator_error)
        })
    }

    fn revert_deployment(
        &self,
        caller: &Caller,
        id: i64,
        drain: bool,
    ) -> BoxFuture<'_, Result<Vec<DeploymentInfo>, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            self.orchestrator
                .revert_update(id, drain, &actor)
                .await
                .map_err(revert_error)
        })
    }

    fn resume(&self, caller: &Caller, id: i64) -> BoxFuture<'_, Result<DeploymentInfo, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            self.orchestrator
                .resume(id, &actor)
                .await
                .map_err(orchestrator_error)
        })
    }

    fn undeploy(
        &self,
        caller: &Caller,
        id: i64,
    ) -> BoxFuture<'_, Result<DeploymentInfo, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            self.orchestrator
                .undeploy(id, &actor)
                .await
                .map_err(orchestrator_error)
        })
    }

    fn share(
        &self,
        caller: &Caller,
        id: i64,
        days: u32,
    ) -> BoxFuture<'_, Result<mig::wire::CreatedShare, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            self.shares
                .share(id, days, &actor)
                .await
                .map_err(orchestrator_error)
        })
    }

    fn shares(&self, id: i64) -> BoxFuture<'_, Result<Vec<mig::wire::ShareInfo>, AppError>> {
        Box::pin(async move { self.shares.shares(id).await.map_err(|e| store_error(&e)) })
    }

    fn revoke_share(
        &self,
        caller: &Caller,
        share_id: i64,
    ) -> BoxFuture<'_, Result<mig::wire::ShareInfo, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move {
            self.shares
                .revoke_share(share_id, &actor)
                .await
                .map_err(orchestrator_error)
        })
    }

    fn shared(&self, token: String) -> BoxFuture<'_, Result<DeploymentDetail, AppError>> {
        Box::pin(async move { self.shares.shared(&token).await.map_err(orchestrator_error) })
    }

    fn create_embed(
        &self,
        caller: &Caller,
        request: mig::wire::NewEmbed,
    ) -> BoxFuture<'_, Result<mig::wire::CreatedEmbed, AppError>> {
        let actor = Actor::of(caller);
        // The browser knows its own origin and puts it in front of the path.
        Box::pin(async move {
            self.embeds
                .create(request, "", &actor)
                .await
                .map_err(embed_error)
        })
    }

    fn embeds(&self) -> BoxFuture<'_, Result<Vec<mig::wire::EmbedInfo>, AppError>> {
        Box::pin(async move { self.embeds.list().await.map_err(|e| store_error(&e)) })
    }

    fn revoke_embed(
        &self,
        caller: &Caller,
        id: i64,
    ) -> BoxFuture<'_, Result<mig::wire::EmbedInfo, AppError>> {
        let actor = Actor::of(caller);
        Box::pin(async move { self.embeds.revoke(id, &actor).await.map_err(embed_error) })
    }

    fn embed_view(
        &self,
        token: String,
    ) -> BoxFuture<'_, Result<mig::wire::EmbedContent, AppError>> {
        Box::pin(async move {
            self.embeds
                .content(&token)
                .await
                .map(|(_, content)| content)
                .map_err(embed_error)
        })
    }

    fn node(
        &self,
        name: String,
        range: mig::wire::ChartRange,
    ) -> BoxFuture<'_, Result<Option<NodeDetail>, AppError>> {
        Box::pin(async move {
            self.orchestrator
                .node_detail(&name, range)
                .await
                .map_err(|e| store_error(&e))
        })
    }

    fn tokens(&self, caller: &Caller) -> BoxFuture<'_, Result<Vec<TokenInfo>, AppError>> {
        let caller = caller.clone();
        Box::pin(async move {
            self.auth
                .accounts
                .tokens(&caller)
                .await
                .map_err(account_error)
        })
    }

    fn create_token(
        &self,
        caller: &Caller,
        name: String,
        days: Option<u32>,
    ) -> BoxFuture<'_, Result<CreatedToken, AppError>> {
        let caller = caller.clone();
        Box::pin(async move {
            self.auth
                .accounts
                .create_token(&caller, &name, days)
                .await
                .map_err(account_error)
        })
    }

    fn revoke_token(&self, caller: &Caller, id: i64) -> BoxFuture<'_, Result<TokenInfo, AppError>> {
        let caller = caller.clone();
        Box::pin(async move {
            self.auth
                .accounts
                .revoke_token(&caller, id)
                .await
                .map_err(account_error)
        })
    }

    fn users(&self) -> BoxFuture<'_, Result<Vec<UserInfo>, AppError>> {
        Box::pin(async move { self.auth.accounts.users().await.map_err(account_error) })
    }

    fn create_user(
        &self,
        caller: &Caller,
        username: String,
        password: String,
        role: Role,
    ) -> BoxFuture<'_, Result<UserInfo, AppError>> {
        let caller = caller.clone();
        Box::pin(async move {
            self.auth
                .accounts
                .create_user(&caller, username.trim(), &password, role)
                .await
                .map_err(account_error)
        })
    }

    fn change_password(
        &self,
        caller: &Caller,
        current: String,
        new: String,
    ) -> BoxFuture<'_, Result<UserInfo, AppError>> {
        let caller = caller.clone();
        Box::pin(async move {
            let user = self
                .auth
                .accounts
                .change_own_password(&caller, &current, &new)
                .await
                .map_err(account_error)?;
            renew_own_session(&caller, &user).await?;
            Ok(user)
        })
    }

    fn update_user(
        &self,
        caller: &Caller,
        id: i64,
        role: Option<Role>,
        disabled: Option<bool>,
        password: Option<String>,
    ) -> BoxFuture<'_, Result<UserInfo, AppError>> {
        let caller = caller.clone();
        Box::pin(async move {
            let user = self
                .auth
                .accounts
                .update_user(&caller, id, role, disabled, password.as_deref())
                .await
                .map_err(account_error)?;
            if password.is_some() {
                renew_own_session(&caller, &user).await?;
            }
            Ok(user)
        })
    }

    fn audit_log(&self, limit: i64) -> BoxFuture<'_, Result<Vec<AuditRecord>, AppError>> {
        Box::pin(async move {
            self.auth
                .accounts
                .audit_log(limit)
                .await
                .map_err(account_error)
        })
    }
}

fn embed_error(e: crate::embeds::EmbedError) -> AppError {
    use crate::embeds::EmbedError;
    match e {
        EmbedError::BadRequest(m) => AppError::BadRequest(m),
        EmbedError::NotFound(m) => AppError::NotFound(m),
        EmbedError::Gone(m) => AppError::Gone(m),
        EmbedError::Store(e) => store_error(&e),
        EmbedError::NoEntropy(m) => {
            AppError::Unavailable(crate::request_id::internal("embed links", &m))
        }
    }
}

/// A revert that does not validate says which rules it breaks; else as [`orchestrator_error`].
fn revert_error(e: OrchestratorError) -> AppError {
    match e {
        OrchestratorError::Invalid(issues) => AppError::BadRequest(format!(
            "the revert does not validate: {}",
            issues
                .iter()
                .filter(|i| i.is_error())
                .map(|i| i.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )),
        other => orchestrator_error(other),
    }
}

fn orchestrator_error(e: OrchestratorError) -> AppError {
    match e {
        OrchestratorError::NotFound(0) => {
            AppError::NotFound("this link is not valid (mistyped, or never created)".into())
        }
        OrchestratorError::NotFound(id) => AppError::NotFound(format!("no deployment {id}")),
        OrchestratorError::Conflict(m) => AppError::Conflict(m),
        OrchestratorError::BadRequest(m) => AppError::BadRequest(m),
        OrchestratorError::Gone(m) => AppError::Gone(m),
        OrchestratorError::Invalid(issues) => AppError::BadRequest(format!(
            "the blueprint has {} error(s)",
            issues.iter().filter(|i| i.is_error()).count()
        )),
        OrchestratorError::Store(e) => store_error(&e),
        OrchestratorError::Internal(m) => {
            AppError::Unavailable(crate::request_id::internal("the server failed", &m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_fixed_default_fleet_has_its_configs_applied() {
        let cat = catalogue();
        for model in mig::GpuModel::all() {
            assert!(
                !cat.configs(model).is_empty(),
                "{model:?} has named configs"
            );
        }
        let state = AppState::new(LeptosOptions::builder().output_name("t").build()).await;
        let view = state.fleet().view(Vec::new());
        assert_eq!(view.nodes.len(), 3);
        let h100 = view.node("10.0.10.11").expect("node");
        assert_eq!(h100.mig_config.as_deref(), Some("all-balanced"));
        // all-balanced on H100: 2 × 1g.10gb per GPU, 8 GPUs.
        assert_eq!(h100.slices_of("1g.10gb"), (16, 16));
        let a100 = view.node("10.0.20.11").expect("node");
        assert_eq!(a100.slices_of("1g.5gb"), (56, 56));
    }
}

/// After a password change from a server function: when the caller changed their own password in a
/// browser, that session goes on under a new id (every other one has ended).
async fn renew_own_session(caller: &Caller, user: &UserInfo) -> Result<(), AppError> {
    let session: tower_sessions::Session = leptos_axum::extract().await.map_err(|e| {
        tracing::error!(error = %e, "no session for a password change");
        AppError::Unavailable("the session could not be renewed; sign in again".into())
    })?;
    crate::auth::renew_after_password_change(&session, caller, user)
        .await
        .map_err(account_error)
}
