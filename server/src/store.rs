//! Persistence: deployments, their step log, the fleet's desired MIG configs and the audit log.
//!
//! One code path over sqlx's `Any` driver: SQLite by default (a file in the data directory, WAL, foreign
//! keys on), PostgreSQL when the URL says `postgres://`. Each backend has its own migrations
//! (`server/migrations/{sqlite,postgres}`), embedded in the binary. Everything the orchestrator must
//! not lose on a crash goes through here; writes that belong together are one transaction.
//!
//! Step records are idempotent by key: recording a step the deployment already has updates it in
//! place, so an orchestrator replaying its work after a crash never duplicates a step.

mod accounts;
mod embeds;
mod mig_configs;

pub use accounts::UserChange;
pub use mig_configs::StoredConfig;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error("cannot open the database at {url}: {source}")]
    Open {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The URL names no supported database.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    Unsupported(String),
    /// The schema could not be brought up to date.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A live deployment already has this name.
    #[error("a deployment named \"{0}\" already exists")]
    NameTaken(String),
    /// No deployment has this id.
    #[error("no deployment {0}")]
    NotFound(i64),
    /// No share link has this id.
    #[error("no share link {0}")]
    ShareNotFound(i64),
    /// No embed link has this id.
    #[error("no embed link {0}")]
    EmbedNotFound(i64),
    /// A user with this name exists.
    #[error("a user named \"{0}\" already exists")]
    UsernameTaken(String),
    /// No user has this id.
    #[error("no user {0}")]
    UserNotFound(i64),
    /// No API token has this id.
    #[error("no API token {0}")]
    TokenNotFound(i64),
    /// The change would leave no enabled admin.
    #[error("that would leave no enabled admin")]
    LastAdmin,
    /// Another live replica holds this MIG slice.
    #[error("slice taken: {0}")]
    SliceTaken(String),
    /// A custom MIG config of this name exists.
    #[error(
        "a MIG config named \"{0}\" already exists; change it with PUT /api/v1/mig-configs/{0}"
    )]
    ConfigExists(String),
    /// No current custom MIG config has this name.
    #[error("no custom MIG config named \"{0}\"")]
    ConfigNotFound(String),
    /// A stored value this version cannot read (a status written by a newer version, say).
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub use mig::wire::{
    AuditRecord, DeploymentStatus, PlacementInfo, PlacementState, ShareInfo, StepInfo, StepState,
};

fn parse_status(s: &str) -> Result<DeploymentStatus, StoreError> {
    DeploymentStatus::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("deployment status `{s}`")))
}

fn parse_step_state(s: &str) -> Result<StepState, StoreError> {
    StepState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("step state `{s}`")))
}

/// A deployment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// Its name (unique among live deployments).
    pub name: String,
    /// `recipe_mode`.
    pub mode: String,
    /// The blueprint JSON as submitted.
    pub blueprint: String,
    /// An update may drain busy nodes instead of failing.
    pub drain: bool,
    /// Nodes a rollout changes at a time (at least 1).
    pub max_unavailable: u32,
    /// The custom MIG config version it applies (name, version), fixed now.
    pub config: Option<(String, u32)>,
}

/// A stored deployment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `recipe_mode`.
    pub mode: String,
    /// The blueprint JSON as submitted.
    pub blueprint: String,
    /// Where it is.
    pub status: DeploymentStatus,
    /// The last status message (why it failed, what it waits for).
    pub message: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last changed, Unix ms.
    pub updated_ms: i64,
    /// An update may drain busy nodes instead of failing.
    pub drain: bool,
    /// Nodes a rollout (a pool update or a pool's layout) changes at a time.
    pub max_unavailable: u32,
}

impl Deployment {
    /// The deployment as lists show it, with its steps done of steps known.
    #[must_use]
    pub fn info(&self, progress: mig::wire::Progress) -> mig::wire::DeploymentInfo {
        mig::wire::DeploymentInfo {
            id: self.id,
            name: self.name.clone(),
            mode: self.mode.clone(),
            status: self.status,
            message: self.message.clone(),
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            progress,
        }
    }
}

/// A replica's slice, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Its deployment.
    pub deployment_id: i64,
    /// The replica and its slice, as the API shows it.
    pub info: PlacementInfo,
}

impl std::ops::Deref for Placement {
    type Target = PlacementInfo;

    fn deref(&self) -> &PlacementInfo {
        &self.info
    }
}

/// A pool a `shared_node_pool` deployment created, with its nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPool {
    /// Pool name.
    pub name: String,
    /// Node shape.
    pub shape: String,
    /// Named MIG config for its nodes.
    pub mig_config: Option<String>,
    /// The deployment that created it.
    pub deployment_id: i64,
    /// Its nodes, in order.
    pub nodes: Vec<String>,
    /// Pods per node (`recipe_max_pods_per_node`), fixed at creation.
    pub max_pods_per_node: u32,
    /// The deployment whose own nodes these are (`recipe_use_shared_node_pool: false`), or `None`
    /// for a shared pool.
    pub dedicated_to: Option<String>,
}

/// Memory used by one MIG instance at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Node.
    pub node: String,
    /// GPU index.
    pub gpu: u32,
    /// First memory slice of the instance.
    pub start: u8,
    /// Its profile.
    pub profile: String,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Memory used, MiB.
    pub used_mib: u64,
}

/// Which memory samples [`Store::add_samples`] keeps: none before `since_ms`; between it and
/// `full_since_ms`, only those taken in the first `coarse_window_ms` of each `coarse_every_ms` (about
/// one per window when the window spans two sampling periods); every sample after `full_since_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRetention {
    /// Nothing older is kept, Unix ms.
    pub since_ms: i64,
    /// Everything newer is kept, Unix ms.
    pub full_since_ms: i64,
    /// The period older samples are thinned to, ms.
    pub coarse_every_ms: i64,
    /// How much of each period's start keeps its samples, ms.
    pub coarse_window_ms: i64,
}

/// What a link's token (a share or embed link) opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAccess<T> {
    /// The link, valid now.
    Valid(T),
    /// Nothing: it expired.
    Expired(T),
    /// Nothing: it was revoked.
    Revoked(T),
    /// Nothing: no such link.
    Unknown,
}

impl<T> LinkAccess<T> {
    /// The access `link` gives now, revoked at `revoked_ms` (if) and expiring at `expires_ms`.
    pub fn of(revoked_ms: Option<i64>, expires_ms: i64, link: T) -> Self {
        if revoked_ms.is_some() {
            Self::Revoked(link)
        } else if expires_ms <= now_ms() {
            Self::Expired(link)
        } else {
            Self::Valid(link)
        }
    }
}

/// What a share token opens.
pub type ShareAccess = LinkAccess<ShareInfo>;

/// SHA-256 of a share token, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The URL with any password replaced, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens the SQLite database `migboard.db` in `dir` (created if missing).
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be created or migrated.
    pub async fn open_in(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("migboard.db");
        Self::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens `url` (`sqlite://PATH?mode=rwc`, `sqlite::memory:` or `postgres://...`) and brings the
    /// schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] for another scheme; [`StoreError::Open`] / [`StoreError::Migrate`]
    /// when the database cannot be reached or migrated.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with_timeout(url, Duration::from_secs(10)).await
    }

    /// [`Store::open`], giving up on reaching the database after `timeout` (per connection attempt
    /// cycle; sqlx retries refused connections until then).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(StoreError::Unsupported(redact(url)));
        }
        let mut options = AnyPoolOptions::new().acquire_timeout(timeout);
        if sqlite {
            // In-memory databases are per connection: keep exactly one.
            if url.contains(":memory:") {
                options = options.max_connections(1).min_connections(1);
            }
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(url)
            .await
            .map_err(|source| StoreError::Open {
                url: redact(url),
                source,
            })?;
        if sqlite {
            // WAL: readers never block the writer, and a crash loses no committed transaction.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        } else {
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        }
        Ok(Self { pool })
    }

    /// Creates a deployment in `scheduled`.
    ///
    /// # Errors
    /// [`StoreError::NameTaken`] when a live deployment has the name.
    pub async fn create_deployment(&self, new: &NewDeployment) -> Result<Deployment, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO deployments (name, mode, blueprint, status, message, created_ms, updated_ms, drain, max_unavailable) \
             VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8) RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.mode)
        .bind(&new.blueprint)
        .bind(DeploymentStatus::Scheduled.as_str())
        .bind(now)
        .bind(now)
        .bind(i64::from(new.drain))
        .bind(i64::from(new.max_unavailable.max(1)))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::NameTaken(new.name.clone())
            }
            _ => StoreError::Db(e),
        })?;
        let id: i64 = row.try_get(0)?;
        if let Some((name, version)) = &new.config {
            sqlx::query(
                "INSERT INTO deployment_configs (deployment_id, name, version) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(name)
            .bind(i64::from(*version))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.deployment(id).await?.ok_or(StoreError::NotFound(id))
    }

    /// The deployment `id`.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn deployment(&self, id: i64) -> Result<Option<Deployment>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, mode, blueprint, status, message, created_ms, updated_ms, drain, max_unavailable \
             FROM deployments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| deployment_from(&r)).transpose()
    }

    /// Every deployment, newest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, mode, blueprint, status, message, created_ms, updated_ms, drain, max_unavailable \
             FROM deployments ORDER BY id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from).collect()
    }

    /// Every deployment's name by id (without the blueprints, which may be large).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn deployment_names(
        &self,
    ) -> Result<std::collections::BTreeMap<i64, String>, StoreError> {
        sqlx::query("SELECT id, name FROM deployments")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Deployments whose steps name `node` (in a step key such as `reconfigure/<node>/3` or in a
    /// message), newest first: one query, for the node page.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn deployments_touching(&self, node: &str) -> Result<Vec<Deployment>, StoreError> {
        // LIKE's wildcards in a node name match themselves.
        let literal: String = node
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let rows = sqlx::query(
            "SELECT id, name, mode, blueprint, status, message, created_ms, updated_ms, drain, max_unavailable \
             FROM deployments WHERE id IN (SELECT deployment_id FROM deployment_steps \
             WHERE step_key LIKE $1 ESCAPE '\\' OR step_key LIKE $2 ESCAPE '\\' OR message LIKE $3 ESCAPE '\\') \
             ORDER BY id DESC",
        )
        .bind(format!("%/{literal}/%"))
        .bind(format!("%/{literal}"))
        .bind(format!("%{literal}%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from).collect()
    }

    /// Deployments the orchestrator has not finished (to resume after a restart), oldest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn unfinished(&self) -> Result<Vec<Deployment>, StoreError> {
        let mut all = self.deployments().await?;
        all.retain(|d| d.status.is_unfinished());
        all.reverse();
        Ok(all)
    }

    /// Sets the status and its message; `undeployed` also frees the name.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    pub async fn set_status(
        &self,
        id: i64,
        status: DeploymentStatus,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        // A deployment's name is free again once it ends: undeployed, or an update that finished
        // (an update is a change, not something that runs; there is nothing to undeploy).
        let ended = (status == DeploymentStatus::Undeployed).then_some(now);
        let finished = matches!(
            status,
            DeploymentStatus::Completed | DeploymentStatus::Active | DeploymentStatus::Failed
        )
            .then_some(now);
        let done = sqlx::query(
            "UPDATE deployments SET status = $1, message = $2, updated_ms = $3, \
             ended_ms = COALESCE(ended_ms, $4, CASE WHEN mode = 'update' THEN $6 END) WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(now)
        .bind(ended)
        .bind(id)
        .bind(finished)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(id));
        }
        Ok(())
    }

    /// Records step `key` of deployment `id`: appended the first time, updated in place after.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown deployment.
    pub async fn record_step(
        &self,
        id: i64,
        key: &str,
        state: StepState,
        message: &str,
    ) -> Result<StepInfo, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Write first: the transaction takes the write lock (SQLite) or the deployment's row lock
        // (PostgreSQL) before it reads. Reading first, a concurrent writer (the memory sampler, say)
        // could commit in between, and SQLite would then refuse the upgrade with SQLITE_BUSY at once,
        // without waiting; and two steps of one deployment could read the same next `seq`.
        let touched = sqlx::query("UPDATE deployments SET updated_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::NotFound(id));
        }
        let seq: Option<i64> = sqlx::query(
            "SELECT seq FROM deployment_steps WHERE deployment_id = $1 AND step_key = $2",
        )
        .bind(id)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        let seq = match seq {
            Some(seq) => {
                sqlx::query(
                    "UPDATE deployment_steps SET state = $1, message = $2, at_ms = $3 \
                     WHERE deployment_id = $4 AND seq = $5",
                )
                .bind(state.as_str())
                .bind(message)
                .bind(now)
                .bind(id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                seq
            }
            None => {
                let next: i64 = sqlx::query(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM deployment_steps WHERE deployment_id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                sqlx::query(
                    "INSERT INTO deployment_steps (deployment_id, seq, step_key, state, message, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(next)
                .bind(key)
                .bind(state.as_str())
                .bind(message)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                next
            }
        };
        tx.commit().await?;
        Ok(StepInfo {
            seq,
            key: key.to_owned(),
            state,
            message: message.to_owned(),
            at_ms: now,
        })
    }

    /// Deployment `id`'s step log, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn steps(&self, id: i64) -> Result<Vec<StepInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, step_key, state, message, at_ms FROM deployment_steps \
             WHERE deployment_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StepInfo {
                    seq: r.try_get(0)?,
                    key: r.try_get(1)?,
                    state: parse_step_state(&r.try_get::<String, _>(2)?)?,
                    message: r.try_get(3)?,
                    at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Names of deployments that are not undeployed (a new deployment may not reuse them).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn live_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM deployments WHERE ended_ms IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Records where a replica runs (or, if the replica has a row, moves it there and marks it placed).
    ///
    /// # Errors
    /// [`StoreError::SliceTaken`] when another live replica holds that slice.
    pub async fn place(&self, p: &Placement) -> Result<(), StoreError> {
        let taken = sqlx::query(
            "SELECT deployment_id, replica FROM placements \
             WHERE node = $1 AND gpu = $2 AND start_slice = $3 AND state = 'placed'",
        )
        .bind(&p.node)
        .bind(i64::from(p.gpu))
        .bind(i64::from(p.start))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = taken {
            let (d, rep): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
            if (d, rep) != (p.deployment_id, i64::from(p.replica)) {
                return Err(StoreError::SliceTaken(format!(
                    "{} GPU {} slice {} (deployment {d} replica {rep})",
                    p.node, p.gpu, p.start
                )));
            }
        }
        sqlx::query(
            "INSERT INTO placements (deployment_id, replica, node, gpu, start_slice, profile, pid, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'placed') \
             ON CONFLICT (deployment_id, replica) DO UPDATE SET node = excluded.node, gpu = excluded.gpu, \
             start_slice = excluded.start_slice, profile = excluded.profile, pid = excluded.pid, state = 'placed'",
        )
        .bind(p.deployment_id)
        .bind(i64::from(p.replica))
        .bind(&p.node)
        .bind(i64::from(p.gpu))
        .bind(i64::from(p.start))
        .bind(&p.profile)
        .bind(i64::from(p.pid))
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::SliceTaken(format!(
                "{} GPU {} slice {}",
                p.node, p.gpu, p.start
            )),
            _ => StoreError::Db(e),
        })?;
        Ok(())
    }

    /// Steps done and known per deployment.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn progress(
        &self,
    ) -> Result<std::collections::BTreeMap<i64, mig::wire::Progress>, StoreError> {
        let rows = sqlx::query(
            "SELECT deployment_id, state, COUNT(*) FROM deployment_steps GROUP BY deployment_id, state",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = std::collections::BTreeMap::<i64, mig::wire::Progress>::new();
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let state = parse_step_state(&r.try_get::<String, _>(1)?)?;
            let n = u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(u32::MAX);
            let p = out.entry(id).or_default();
            p.total += n;
            if state.is_done() {
                p.done += n;
            }
        }
        Ok(out)
    }

    /// When steps whose key starts with `prefix` last changed to `done`, since `since_ms`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn step_times(&self, prefix: &str, since_ms: i64) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, step_key FROM deployment_steps WHERE state = 'done' AND at_ms >= $1 ORDER BY at_ms",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            if r.try_get::<String, _>(1)?.starts_with(prefix) {
                out.push(r.try_get(0)?);
            }
        }
        Ok(out)
    }

    /// Marks the live replicas on these `(gpu, start)` slices of `node` displaced (a drain is about to
    /// stop them).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn displace(&self, node: &str, slices: &[(u32, u8)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (gpu, start) in slices {
            sqlx::query(
                "UPDATE placements SET state = 'displaced' WHERE node = $1 AND gpu = $2 AND start_slice = $3 AND state = 'placed'",
            )
            .bind(node)
            .bind(i64::from(*gpu))
            .bind(i64::from(*start))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deployment `id`'s replicas, by replica number.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn placements(&self, id: i64) -> Result<Vec<Placement>, StoreError> {
        let mut all = self.all_placements().await?;
        all.retain(|p| p.deployment_id == id);
        Ok(all)
    }

    /// The replicas that hold a slice now (not those a drain displaced).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn placed(&self) -> Result<Vec<Placement>, StoreError> {
        let mut all = self.all_placements().await?;
        all.retain(|p| p.state == PlacementState::Placed);
        Ok(all)
    }

    /// Every replica of every deployment, by deployment and replica.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn all_placements(&self) -> Result<Vec<Placement>, StoreError> {
        let rows = sqlx::query(
            "SELECT deployment_id, replica, node, gpu, start_slice, profile, pid, state FROM placements \
             ORDER BY deployment_id, replica",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let int = |i: usize| -> Result<i64, StoreError> { Ok(r.try_get::<i64, _>(i)?) };
                let narrow = |v: i64, what: &str| {
                    u32::try_from(v)
                        .map_err(|_| StoreError::Corrupt(format!("placement {what} {v}")))
                };
                Ok(Placement {
                    deployment_id: int(0)?,
                    info: PlacementInfo {
                        replica: narrow(int(1)?, "replica")?,
                        node: r.try_get(2)?,
                        gpu: narrow(int(3)?, "gpu")?,
                        start: u8::try_from(int(4)?)
                            .map_err(|_| StoreError::Corrupt("placement start".into()))?,
                        profile: r.try_get(5)?,
                        pid: narrow(int(6)?, "pid")?,
                        state: PlacementState::parse(&r.try_get::<String, _>(7)?)
                            .ok_or_else(|| StoreError::Corrupt("placement state".into()))?,
                    },
                })
            })
            .collect()
    }

    /// Forgets replica `replica` of deployment `id` (its workload was stopped).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn remove_placement(&self, id: i64, replica: u32) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM placements WHERE deployment_id = $1 AND replica = $2")
            .bind(id)
            .bind(i64::from(replica))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a pool and its nodes; a pool that exists is left as it is (idempotent).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn create_pool(&self, pool: &StoredPool) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO pools (name, shape, mig_config, deployment_id, created_ms, max_pods_per_node, dedicated_to) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&pool.name)
        .bind(&pool.shape)
        .bind(pool.mig_config.as_deref())
        .bind(pool.deployment_id)
        .bind(now_ms())
        .bind(i64::from(pool.max_pods_per_node))
        .bind(pool.dedicated_to.as_deref())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            for (i, node) in pool.nodes.iter().enumerate() {
                sqlx::query("INSERT INTO pool_nodes (node, pool, ordinal) VALUES ($1, $2, $3)")
                    .bind(node)
                    .bind(&pool.name)
                    .bind(i64::try_from(i).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deployments per status, for `/metrics` (no blueprints read).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn status_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM deployments GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// GPU reconfiguration steps (`reconfigure/<node>/<gpu>`) per state, for `/metrics`: the log
    /// keeps them across restarts.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn reconfigure_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) FROM deployment_steps WHERE step_key LIKE 'reconfigure/%' GROUP BY state ORDER BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Connections the database pool holds, and how many are idle.
    #[must_use]
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Adds `nodes` to pool `pool`, after the nodes it has (a deployment's own pool growing).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn add_pool_nodes(&self, pool: &str, nodes: &[String]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM pool_nodes WHERE pool = $1")
            .bind(pool)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        for (i, node) in nodes.iter().enumerate() {
            sqlx::query("INSERT INTO pool_nodes (node, pool, ordinal) VALUES ($1, $2, $3)")
                .bind(node)
                .bind(pool)
                .bind(count + i64::try_from(i).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The pool deployment `id` created, if it created one.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn pool_of(&self, id: i64) -> Result<Option<StoredPool>, StoreError> {
        Ok(self
            .pools()
            .await?
            .into_iter()
            .find(|p| p.deployment_id == id))
    }

    /// Every pool deployments created, with its nodes.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn pools(&self) -> Result<Vec<StoredPool>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, shape, mig_config, deployment_id, max_pods_per_node, dedicated_to FROM pools ORDER BY created_ms, name",
        )
        .fetch_all(&self.pool)
        .await?;
        let nodes = sqlx::query("SELECT node, pool FROM pool_nodes ORDER BY pool, ordinal")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(0)?;
                let mut members = Vec::new();
                for n in &nodes {
                    if n.try_get::<String, _>(1)? == name {
                        members.push(n.try_get(0)?);
                    }
                }
                let max_pods: i64 = r.try_get(4)?;
                Ok(StoredPool {
                    shape: r.try_get(1)?,
                    mig_config: r.try_get(2)?,
                    deployment_id: r.try_get(3)?,
                    max_pods_per_node: u32::try_from(max_pods)
                        .unwrap_or(mig::blueprint::DEFAULT_MAX_PODS_PER_NODE),
                    dedicated_to: r.try_get(5)?,
                    nodes: members,
                    name,
                })
            })
            .collect()
    }

    /// Forgets a pool and its nodes.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn delete_pool(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM pool_nodes WHERE pool = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pools WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends memory samples (one transaction) and thins the older ones as `keep` says.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn add_samples(
        &self,
        samples: &[Sample],
        keep: SampleRetention,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for x in samples {
            sqlx::query(
                "INSERT INTO samples (node, gpu, start_slice, profile, at_ms, used_mib) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&x.node)
            .bind(i64::from(x.gpu))
            .bind(i64::from(x.start))
            .bind(&x.profile)
            .bind(x.at_ms)
            .bind(i64::try_from(x.used_mib).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM samples WHERE at_ms < $1")
            .bind(keep.since_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM samples WHERE at_ms < $1 AND at_ms % $2 >= $3")
            .bind(keep.full_since_ms)
            .bind(keep.coarse_every_ms.max(1))
            .bind(keep.coarse_window_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `node`'s memory samples since `since_ms`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn samples(&self, node: &str, since_ms: i64) -> Result<Vec<Sample>, StoreError> {
        let rows = sqlx::query(
            "SELECT gpu, start_slice, profile, at_ms, used_mib FROM samples WHERE node = $1 AND at_ms >= $2 \
             ORDER BY at_ms, gpu, start_slice",
        )
        .bind(node)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Sample {
                    node: node.to_owned(),
                    gpu: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or_default(),
                    start: u8::try_from(r.try_get::<i64, _>(1)?).unwrap_or_default(),
                    profile: r.try_get(2)?,
                    at_ms: r.try_get(3)?,
                    used_mib: u64::try_from(r.try_get::<i64, _>(4)?).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Creates a read-only link to deployment `id` for `token` (random, made by the caller), valid
    /// `ttl_ms` from now. Only the token's hash is stored.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown deployment.
    pub async fn create_share(
        &self,
        id: i64,
        token: &str,
        ttl_ms: i64,
        created_by: &str,
    ) -> Result<ShareInfo, StoreError> {
        if self.deployment(id).await?.is_none() {
            return Err(StoreError::NotFound(id));
        }
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO share_links (token_hash, deployment_id, created_ms, expires_ms, created_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(token_hash(token))
        .bind(id)
        .bind(now)
        .bind(now.saturating_add(ttl_ms))
        .bind(created_by)
        .fetch_one(&self.pool)
        .await?;
        Ok(ShareInfo {
            id: row.try_get(0)?,
            deployment_id: id,
            created_ms: now,
            expires_ms: now.saturating_add(ttl_ms),
            revoked_ms: None,
            created_by: created_by.to_owned(),
        })
    }

    /// What `token` opens now.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn share(&self, token: &str) -> Result<ShareAccess, StoreError> {
        let row = sqlx::query(
            "SELECT id, deployment_id, created_ms, expires_ms, revoked_ms, created_by FROM share_links WHERE token_hash = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(ShareAccess::Unknown);
        };
        let link = share_from(&r)?;
        Ok(LinkAccess::of(link.revoked_ms, link.expires_ms, link))
    }

    /// Deployment `id`'s links, newest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn shares(&self, id: i64) -> Result<Vec<ShareInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, deployment_id, created_ms, expires_ms, revoked_ms, created_by FROM share_links \
             WHERE deployment_id = $1 ORDER BY id DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(share_from).collect()
    }

    /// Revokes link `share_id` (again: no change); returns it.
    ///
    /// # Errors
    /// [`StoreError::ShareNotFound`] for an unknown link.
    pub async fn revoke_share(&self, share_id: i64) -> Result<ShareInfo, StoreError> {
        sqlx::query("UPDATE share_links SET revoked_ms = COALESCE(revoked_ms, $1) WHERE id = $2")
            .bind(now_ms())
            .bind(share_id)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(
            "SELECT id, deployment_id, created_ms, expires_ms, revoked_ms, created_by FROM share_links WHERE id = $1",
        )
        .bind(share_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::ShareNotFound(share_id))?;
        share_from(&row)
    }

    /// Records that `node` should run `mig_config`.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn set_desired(&self, node: &str, mig_config: &str) -> Result<(), StoreError> {
        self.set_desired_version(node, mig_config, None).await
    }

    /// Records that `node` should run `mig_config`, at custom config version `version`.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn set_desired_version(
        &self,
        node: &str,
        mig_config: &str,
        version: Option<u32>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fleet_desired (node, mig_config, updated_ms, version) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (node) DO UPDATE SET mig_config = excluded.mig_config, updated_ms = excluded.updated_ms, version = excluded.version",
        )
        .bind(node)
        .bind(mig_config)
        .bind(now_ms())
        .bind(version.map(i64::from))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every node's desired MIG config with the custom config version applied, by node name.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn desired_versions(&self) -> Result<Vec<(String, String, Option<u32>)>, StoreError> {
        let rows = sqlx::query("SELECT node, mig_config, version FROM fleet_desired ORDER BY node")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let version: Option<i64> = r.try_get(2)?;
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    version.and_then(|v| u32::try_from(v).ok()),
                ))
            })
            .collect()
    }

    /// Every node's desired MIG config, by node name.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn desired(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT node, mig_config FROM fleet_desired ORDER BY node")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Appends an audit record (its time is set here).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn audit(&self, entry: &AuditRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at_ms, actor, action, target, detail, source) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_ms())
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.detail)
        .bind(&entry.source)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Who deployed deployment `id`, from the audit log (`None` when it has no record).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn deployed_by(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT actor FROM audit WHERE action = 'deployment.create' AND target LIKE $1 ORDER BY id LIMIT 1",
        )
        .bind(format!("deployment {id} (%"))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get(0))
            .transpose()
            .map_err(StoreError::from)
    }

    /// The newest `limit` audit records, newest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, target, detail, source FROM audit ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    at_ms: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    target: r.try_get(3)?,
                    detail: r.try_get(4)?,
                    source: r.try_get(5)?,
                })
            })
            .collect()
    }
}

fn share_from(r: &sqlx::any::AnyRow) -> Result<ShareInfo, StoreError> {
    Ok(ShareInfo {
        id: r.try_get(0)?,
        deployment_id: r.try_get(1)?,
        created_ms: r.try_get(2)?,
        expires_ms: r.try_get(3)?,
        revoked_ms: r.try_get(4)?,
        created_by: r.try_get(5)?,
    })
}

fn deployment_from(r: &sqlx::any::AnyRow) -> Result<Deployment, StoreError> {
    let status: String = r.try_get(4)?;
    Ok(Deployment {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        mode: r.try_get(2)?,
        blueprint: r.try_get(3)?,
        status: parse_status(&status)?,
        message: r.try_get(5)?,
        created_ms: r.try_get(6)?,
        updated_ms: r.try_get(7)?,
        drain: r.try_get::<i64, _>(8)? != 0,
        max_unavailable: u32::try_from(r.try_get::<i64, _>(9)?)
            .unwrap_or(1)
            .max(1),
    })
}
