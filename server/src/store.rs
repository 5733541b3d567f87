//! Persistence: deployments, their step log, the fleet's desired MIG configs and the audit log.
//!
//! One code path over sqlx's `Any` driver: SQLite by default (a file in the data directory, WAL, foreign
//! keys on), PostgreSQL when the URL says `postgres://`. Each backend has its own migrations
//! (`server/migrations/{sqlite,postgres}`), embedded in the binary. Everything the orchestrator must
//! not lose on a crash goes through here; writes that belong together are one transaction.
//!
//! Step records are idempotent by key: recording a step the deployment already has updates it in
//! place, so an orchestrator replaying its work after a crash never duplicates a step.

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
    /// A stored value this version cannot read (a status written by a newer version, say).
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// A deployment's status, compatible with OCI AI Blueprints' (`scheduled`, `active`, `monitoring`,
/// `failed`, `completed`) plus `undeployed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, not started.
    Scheduled,
    /// Being carried out.
    Active,
    /// Done and running (services): watched.
    Monitoring,
    /// Stopped on an error it cannot retry past.
    Failed,
    /// Done (jobs, updates, pools).
    Completed,
    /// Removed by the user.
    Undeployed,
}

impl Status {
    const ALL: [(Self, &'static str); 6] = [
        (Self::Scheduled, "scheduled"),
        (Self::Active, "active"),
        (Self::Monitoring, "monitoring"),
        (Self::Failed, "failed"),
        (Self::Completed, "completed"),
        (Self::Undeployed, "undeployed"),
    ];

    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("failed", |(_, n)| n)
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(st, _)| *st)
            .ok_or_else(|| StoreError::Corrupt(format!("deployment status `{s}`")))
    }

    /// Whether the orchestrator still has work to do for it.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::Scheduled | Self::Active)
    }
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
    pub status: Status,
    /// The last status message (why it failed, what it waits for).
    pub message: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last changed, Unix ms.
    pub updated_ms: i64,
}

/// One entry of a deployment's step log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// Order within the deployment, from 1.
    pub seq: i64,
    /// The orchestrator's idempotency key.
    pub key: String,
    /// `running`, `done`, `failed`, ...
    pub state: String,
    /// What happened, for people.
    pub message: String,
    /// When it was last recorded, Unix ms.
    pub at_ms: i64,
}

/// One audit record: who did what to what, from where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// When, Unix ms (set by the store on write).
    pub at_ms: i64,
    /// User, token or `system`.
    pub actor: String,
    /// The action (`deploy`, `undeploy`, ...).
    pub action: String,
    /// What it acted on.
    pub target: String,
    /// Details for people.
    pub detail: String,
    /// Client address.
    pub source: String,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

fn now_ms() -> i64 {
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
        let row = sqlx::query(
            "INSERT INTO deployments (name, mode, blueprint, status, message, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, '', $5, $6) RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.mode)
        .bind(&new.blueprint)
        .bind(Status::Scheduled.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::NameTaken(new.name.clone())
            }
            _ => StoreError::Db(e),
        })?;
        let id: i64 = row.try_get(0)?;
        self.deployment(id).await?.ok_or(StoreError::NotFound(id))
    }

    /// The deployment `id`.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn deployment(&self, id: i64) -> Result<Option<Deployment>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, mode, blueprint, status, message, created_ms, updated_ms \
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
            "SELECT id, name, mode, blueprint, status, message, created_ms, updated_ms \
             FROM deployments ORDER BY id DESC",
        )
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
        status: Status,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let ended = (status == Status::Undeployed).then_some(now);
        let done = sqlx::query(
            "UPDATE deployments SET status = $1, message = $2, updated_ms = $3, \
             ended_ms = COALESCE(ended_ms, $4) WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(now)
        .bind(ended)
        .bind(id)
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
        state: &str,
        message: &str,
    ) -> Result<Step, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
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
                .bind(state)
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
                .bind(state)
                .bind(message)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                next
            }
        };
        sqlx::query("UPDATE deployments SET updated_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Step {
            seq,
            key: key.to_owned(),
            state: state.to_owned(),
            message: message.to_owned(),
            at_ms: now,
        })
    }

    /// Deployment `id`'s step log, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn steps(&self, id: i64) -> Result<Vec<Step>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, step_key, state, message, at_ms FROM deployment_steps \
             WHERE deployment_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Step {
                    seq: r.try_get(0)?,
                    key: r.try_get(1)?,
                    state: r.try_get(2)?,
                    message: r.try_get(3)?,
                    at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Records that `node` should run `mig_config`.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn set_desired(&self, node: &str, mig_config: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fleet_desired (node, mig_config, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (node) DO UPDATE SET mig_config = excluded.mig_config, updated_ms = excluded.updated_ms",
        )
        .bind(node)
        .bind(mig_config)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
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
    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
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

    /// The newest `limit` audit records, newest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, target, detail, source FROM audit ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
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

fn deployment_from(r: &sqlx::any::AnyRow) -> Result<Deployment, StoreError> {
    let status: String = r.try_get(4)?;
    Ok(Deployment {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        mode: r.try_get(2)?,
        blueprint: r.try_get(3)?,
        status: Status::parse(&status)?,
        message: r.try_get(5)?,
        created_ms: r.try_get(6)?,
        updated_ms: r.try_get(7)?,
    })
}
