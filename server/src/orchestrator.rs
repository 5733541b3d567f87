//! The orchestrator: carries deployments out on the cluster, durably.
//!
//! The database is the queue. Submitting a deployment stores it as `scheduled` and wakes one worker,
//! which takes unfinished deployments (`scheduled`, `active`, `undeploying`) oldest first and runs
//! each to a final status. Every piece of work is a step with a stable key
//! (`reconfigure/10.0.10.11/3`, `replica/0`) recorded before and after it runs, and every piece is
//! safe to do twice (applying a layout a GPU has changes nothing; starting a replica that runs is a
//! no-op; a replica's slice is stored before its workload starts). So after a crash the worker simply
//! runs every unfinished deployment again: done steps are skipped, the one that was running is
//! redone, nothing is lost or duplicated.
//!
//! One worker means one change at a time across the fleet: two deployments never race for the same
//! free slice, and an update never reconfigures a GPU a placement is choosing. That is the embedded
//! fleet's scale; a Kubernetes backend leaves placement to the scheduler.
//!
//! Errors are transient (an agent restarting, the database busy: retried with backoff, the status
//! unchanged) or permanent (no free slice, a busy node without drain: recorded, status `failed`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mig::blueprint::{Action, Blueprint, Catalogue, Context, GpuRequest, Issue, Target};
use mig::wire::{
    DeploymentDetail, DeploymentInfo, DeploymentStatus as Status, Event, NodeDetail, PlacementInfo,
    Progress, StepInfo,
};
use tokio::sync::{Mutex, Notify, broadcast};

use crate::cluster::kubernetes::lease::Leadership;
use crate::cluster::{
    Cluster, ClusterError, ClusterWorkload, Fleet, NewNode, Scheduling, WorkloadSpec,
};
use crate::store::now_ms;
use crate::store::{
    AuditEntry, Deployment, NewDeployment, Placement, Sample, Store, StoreError, StoredPool,
};

/// How the orchestrator paces itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often the fleet is read, monitored deployments checked and memory sampled.
    pub monitor_interval: Duration,
    /// How long to wait before retrying after a transient error.
    pub retry_after: Duration,
    /// How often memory samples are written.
    pub sample_every: Duration,
    /// Whether this replica drives deployments (one leader among replicas; always, alone).
    pub leadership: Leadership,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            monitor_interval: Duration::from_secs(2),
            retry_after: Duration::from_secs(2),
            sample_every: Duration::from_secs(10),
            leadership: Leadership::always(),
        }
    }
}

/// Why a request to the orchestrator was refused.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// The blueprint does not validate.
    #[error("the blueprint has {} error(s)", .0.iter().filter(|i| i.is_error()).count())]
    Invalid(Vec<Issue>),
    /// No deployment with this id.
    #[error("no deployment {0}")]
    NotFound(i64),
    /// A value in the request is out of range; the message says which and what is allowed.
    #[error("{0}")]
    BadRequest(String),
    /// A share link that no longer opens anything.
    #[error("{0}")]
    Gone(String),
    /// The request conflicts with the deployment's state or the fleet.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What went wrong while carrying a deployment out.
#[derive(Debug)]
enum Failure {
    /// May pass: try again later.
    Transient(String),
    /// Will not pass: the deployment fails with this message.
    Permanent(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SliceTaken(_) | StoreError::Db(_) => Self::Transient(e.to_string()),
            other => Self::Permanent(other.to_string()),
        }
    }
}

impl From<ClusterError> for Failure {
    fn from(e: ClusterError) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

type Outcome = Result<(Status, String), Failure>;

/// The orchestrator. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    cluster: Arc<dyn Cluster>,
    catalogue: Arc<Catalogue>,
    options: Options,
    fleet: RwLock<Fleet>,
    events: broadcast::Sender<Event>,
    /// Ids of share links just revoked: their open event streams end.
    revocations: broadcast::Sender<i64>,
    wake: Notify,
    /// Held while the fleet is changed: by the worker per deployment, by the monitor when it repairs.
    work: Mutex<()>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("cluster", &self.cluster.describe())
            .finish_non_exhaustive()
    }
}

/// The simulated process id of replica `replica` of deployment `id`: stable, so a restarted
/// orchestrator starting it again finds the same process.
fn pid_of(id: i64, replica: u32) -> u32 {
    u32::try_from(100_000 + id.saturating_mul(1000) + i64::from(replica)).unwrap_or(u32::MAX)
}

/// Who asked for a change, for the audit log: a user (and how) and the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `alice`, `alice (token ci)`, or `system`.
    pub name: String,
    /// The client's address.
    pub source: String,
}

impl Actor {
    /// An actor by name and client address.
    #[must_use]
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
        }
    }

    /// The audit record of this actor doing `action` to `target` (its time is set by the store).
    #[must_use]
    pub fn audit(&self, action: &str, target: String, detail: String) -> AuditEntry {
        AuditEntry {
            at_ms: 0,
            actor: self.name.clone(),
            action: action.into(),
            target,
            detail,
            source: self.source.clone(),
        }
    }

    /// The actor of a signed-in request.
    #[must_use]
    pub fn of(caller: &mig::wire::Caller) -> Self {
        let name = if caller.via == "session" {
            caller.username.clone()
        } else {
            format!("{} ({})", caller.username, caller.via)
        };
        Self {
            name,
            source: caller.source.clone(),
        }
    }
}

/// 32 random bytes as hex: a share token (256 bits; only its hash is stored).
pub(crate) fn random_token() -> Result<String, String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("reading /dev/urandom for a share token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Events a watcher may fall behind by before it is told to read the state again.
const EVENT_BUFFER: usize = 4096;

impl Orchestrator {
    /// An orchestrator over `store` and `cluster`. Call [`Orchestrator::spawn`] to start its work.
    pub async fn new(
        store: Store,
        cluster: Arc<dyn Cluster>,
        catalogue: Arc<Catalogue>,
        options: Options,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (revocations, _) = broadcast::channel(64);
        let this = Self {
            inner: Arc::new(Inner {
                store,
                cluster,
                catalogue,
                options,
                fleet: RwLock::new(Fleet::default()),
                events,
                revocations,
                wake: Notify::new(),
                work: Mutex::new(()),
            }),
        };
        this.refresh().await;
        this
    }

    /// Starts the worker (which first resumes every unfinished deployment) and the monitor loop.
    ///
    /// With several replicas, deployments are driven and monitored only while
    /// [`Options::leadership`] says this one leads; the fleet is read either way, so every replica
    /// serves a current view.
    pub fn spawn(&self) {
        let leadership = self.inner.options.leadership.clone();
        let worker = self.clone();
        let mut led = leadership.clone();
        tokio::spawn(async move {
            led.acquired().await;
            worker.work_loop().await;
        });
        let monitor = self.clone();
        tokio::spawn(async move { monitor.monitor_loop(leadership).await });
    }

    fn schedules(&self) -> Scheduling {
        self.inner.cluster.scheduling()
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The cluster backend.
    pub fn cluster(&self) -> &Arc<dyn Cluster> {
        &self.inner.cluster
    }

    /// What the cluster backend is.
    pub fn describe(&self) -> String {
        self.inner.cluster.describe()
    }

    /// The catalogue of named configs.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.inner.catalogue.clone()
    }

    /// The fleet as last read, each busy slice marked with the replica running there.
    pub fn fleet(&self) -> Fleet {
        self.inner
            .fleet
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the fleet now, keeps it, and tells watchers if it changed.
    pub async fn refresh(&self) -> Fleet {
        let mut fresh = self.inner.cluster.fleet().await;
        if let Ok(owners) = self.owners().await {
            for node in &mut fresh.nodes {
                for gpu in &mut node.gpus {
                    for busy in &mut gpu.busy {
                        if let Some(o) = owners.get(&(node.name.clone(), gpu.index, busy.start)) {
                            busy.owners = vec![o.clone()];
                        }
                    }
                }
            }
        }
        let changed = {
            let mut kept = self
                .inner
                .fleet
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let changed = *kept != fresh;
            *kept = fresh.clone();
            changed
        };
        if changed {
            self.publish(Event::Fleet { at_ms: now_ms() });
        }
        fresh
    }

    /// Who runs on each placed slice: `(node, gpu, start)` → `name replica n`.
    async fn owners(&self) -> Result<BTreeMap<(String, u32, u8), String>, StoreError> {
        // Names only: this runs after every GPU change and every monitor pass, and a deployment's
        // blueprint (up to 1 MiB) is not needed here.
        let names = self.inner.store.deployment_names().await?;
        Ok(self
            .inner
            .store
            .all_placements()
            .await?
            .into_iter()
            .filter(|p| p.state == "placed")
            .map(|p| {
                let name = names.get(&p.deployment_id).cloned().unwrap_or_default();
                (
                    (p.info.node, p.info.gpu, p.info.start),
                    format!("{name} replica {}", p.info.replica),
                )
            })
            .collect())
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Share-link revocations as they happen (link ids).
    pub fn revocations(&self) -> broadcast::Receiver<i64> {
        self.inner.revocations.subscribe()
    }

    fn publish(&self, event: Event) {
        // No receiver is not an error: nobody is watching.
        let _ = self.inner.events.send(event);
    }

    /// Validates `text` against the fleet as it is and schedules it.
    ///
    /// # Errors
    /// [`OrchestratorError::Invalid`] with every issue when it does not validate (a name in use
    /// included); [`OrchestratorError::Store`] when it cannot be stored.
    pub async fn submit(
        &self,
        text: &str,
        drain: bool,
        actor: &Actor,
    ) -> Result<DeploymentInfo, OrchestratorError> {
        let names = self.inner.store.live_names().await?;
        let view = self.fleet().view(names);
        let checked = mig::blueprint::check(
            text,
            Context {
                catalogue: Some(&self.inner.catalogue),
                fleet: Some(&view),
            },
        );
        let Some(blueprint) = checked.blueprint else {
            return Err(OrchestratorError::Invalid(checked.issues));
        };
        let mode = blueprint
            .raw
            .recipe_mode
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        let created = match self
            .inner
            .store
            .create_deployment(&NewDeployment {
                name: blueprint.name.clone(),
                mode,
                blueprint: text.to_owned(),
                drain,
            })
            .await
        {
            Ok(d) => d,
            Err(StoreError::NameTaken(name)) => {
                return Err(OrchestratorError::Invalid(vec![Issue::new(
                    mig::blueprint::Severity::Error,
                    "name_taken",
                    "/deployment_name".into(),
                    format!("a deployment named \"{name}\" already exists"),
                    "choose another deployment_name, or undeploy the existing one first".into(),
                )]));
            }
            Err(e) => return Err(e.into()),
        };
        self.inner
            .store
            .audit(&actor.audit(
                "deploy",
                format!("deployment {} ({})", created.id, created.name),
                if drain {
                    "drain allowed".into()
                } else {
                    String::new()
                },
            ))
            .await?;
        tracing::info!(id = created.id, name = %created.name, mode = %created.mode, "deployment scheduled");
        let info = self.info(&created).await?;
        self.publish(Event::Deployment {
            deployment: info.clone(),
        });
        self.inner.wake.notify_one();
        Ok(info)
    }

    /// Asks for deployment `id` to be undeployed (the worker does it).
    ///
    /// # Errors
    /// [`OrchestratorError::NotFound`]; [`OrchestratorError::Conflict`] when it is undeployed
    /// already, or it is a pool that still runs workloads.
    pub async fn undeploy(
        &self,
        id: i64,
        actor: &Actor,
    ) -> Result<DeploymentInfo, OrchestratorError> {
        let d = self
            .inner
            .store
            .deployment(id)
            .await?
            .ok_or(OrchestratorError::NotFound(id))?;
        if !d.status.can_undeploy() {
            return Err(OrchestratorError::Conflict(format!(
                "deployment {id} ({}) is {} already",
                d.name,
                d.status.as_str()
            )));
        }
        if let Some(busy) = self.pool_in_use(&d).await? {
            return Err(OrchestratorError::Conflict(busy));
        }
        self.inner
            .store
            .set_status(id, Status::Undeploying, "undeploy requested")
            .await?;
        self.inner
            .store
            .audit(&actor.audit(
                "undeploy",
                format!("deployment {id} ({})", d.name),
                String::new(),
            ))
            .await?;
        let info = self.announce(id).await?;
        self.inner.wake.notify_one();
        Ok(info)
    }

    /// For a pool this deployment created: what still runs on it, in words.
    async fn pool_in_use(&self, d: &Deployment) -> Result<Option<String>, StoreError> {
        let Some(pool) = self
            .inner
            .store
            .pools()
            .await?
            .into_iter()
            .find(|p| p.deployment_id == d.id)
        else {
            return Ok(None);
        };
        let owners = self.owners().await?;
        let running: Vec<String> = owners
            .iter()
            .filter(|((node, _, _), _)| pool.nodes.contains(node))
            .map(|((node, gpu, start), who)| format!("{who} on {node} GPU {gpu} slice {start}"))
            .collect();
        Ok((!running.is_empty()).then(|| {
            format!(
                "pool \"{}\" still runs workloads: {}; undeploy them first",
                pool.name,
                running.join(", ")
            )
        }))
    }

    /// Creates a read-only link to deployment `id`, valid `days` days (1 to 90).
    ///
    /// # Errors
    /// [`OrchestratorError::BadRequest`] for days out of range; [`OrchestratorError::NotFound`].
    pub async fn share(
        &self,
        id: i64,
        days: u32,
        actor: &Actor,
    ) -> Result<mig::wire::CreatedShare, OrchestratorError> {
        if !(1..=90).contains(&days) {
            return Err(OrchestratorError::BadRequest(format!(
                "a share link lasts 1 to 90 days, not {days}"
            )));
        }
        let token = random_token().map_err(OrchestratorError::BadRequest)?;
        let link = match self
            .inner
            .store
            .create_share(id, &token, i64::from(days) * 86_400_000, &actor.name)
            .await
        {
            Ok(l) => l,
            Err(StoreError::NotFound(id)) => return Err(OrchestratorError::NotFound(id)),
            Err(e) => return Err(e.into()),
        };
        self.inner
            .store
            .audit(&actor.audit(
                "share",
                format!("deployment {id}"),
                format!("link {} for {days} day(s)", link.id),
            ))
            .await?;
        Ok(mig::wire::CreatedShare {
            path: format!("/share/{token}"),
            link,
            token,
        })
    }

    /// Deployment `id`'s share links, newest first.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn shares(&self, id: i64) -> Result<Vec<mig::wire::ShareInfo>, StoreError> {
        self.inner.store.shares(id).await
    }

    /// Revokes share link `share_id`.
    ///
    /// # Errors
    /// [`OrchestratorError::NotFound`]-like: [`OrchestratorError::BadRequest`] never; unknown link →
    /// [`OrchestratorError::Gone`] is not used here, [`StoreError::ShareNotFound`] maps to NotFound.
    pub async fn revoke_share(
        &self,
        share_id: i64,
        actor: &Actor,
    ) -> Result<mig::wire::ShareInfo, OrchestratorError> {
        let link = match self.inner.store.revoke_share(share_id).await {
            Ok(l) => l,
            Err(StoreError::ShareNotFound(_)) => {
                return Err(OrchestratorError::Conflict(format!(
                    "no share link {share_id}"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.inner
            .store
            .audit(&actor.audit(
                "revoke-share",
                format!("deployment {}", link.deployment_id),
                format!("link {share_id}"),
            ))
            .await?;
        let _ = self.inner.revocations.send(share_id);
        Ok(link)
    }

    /// What share token `token` shows: the deployment without its blueprint (which may hold
    /// secrets), or why nothing.
    ///
    /// # Errors
    /// [`OrchestratorError::Gone`] for an expired or revoked link; [`OrchestratorError::NotFound`]
    /// (id 0) for an unknown token.
    pub async fn shared(&self, token: &str) -> Result<DeploymentDetail, OrchestratorError> {
        Ok(self.shared_link(token).await?.1)
    }

    /// [`Orchestrator::shared`], with the link itself (its id and expiry, for a live stream that
    /// must end when the link does).
    ///
    /// # Errors
    /// As [`Orchestrator::shared`].
    pub async fn shared_link(
        &self,
        token: &str,
    ) -> Result<(mig::wire::ShareInfo, DeploymentDetail), OrchestratorError> {
        use crate::store::ShareAccess;
        let link = match self.inner.store.share(token).await? {
            ShareAccess::Valid(link) => link,
            ShareAccess::Expired(link) => {
                return Err(OrchestratorError::Gone(format!(
                    "this link expired at {}",
                    crate::api::rfc3339(link.expires_ms)
                )));
            }
            ShareAccess::Revoked(link) => {
                return Err(OrchestratorError::Gone(format!(
                    "this link was revoked at {}",
                    crate::api::rfc3339(link.revoked_ms.unwrap_or_default())
                )));
            }
            ShareAccess::Unknown => return Err(OrchestratorError::NotFound(0)),
        };
        let mut detail = self
            .detail(link.deployment_id)
            .await?
            .ok_or(OrchestratorError::NotFound(link.deployment_id))?;
        detail.blueprint = String::new();
        Ok((link, detail))
    }

    /// Every deployment, newest first.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn list(&self) -> Result<Vec<DeploymentInfo>, StoreError> {
        let progress = self.inner.store.progress().await?;
        Ok(self
            .inner
            .store
            .deployments()
            .await?
            .iter()
            .map(|d| info_of(d, progress.get(&d.id).copied().unwrap_or_default()))
            .collect())
    }

    /// One deployment with its steps, replicas and per-node progress.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn detail(&self, id: i64) -> Result<Option<DeploymentDetail>, StoreError> {
        let Some(d) = self.inner.store.deployment(id).await? else {
            return Ok(None);
        };
        let steps: Vec<StepInfo> = self
            .inner
            .store
            .steps(id)
            .await?
            .into_iter()
            .map(step_info)
            .collect();
        let placements = self
            .inner
            .store
            .placements(id)
            .await?
            .into_iter()
            .map(|p| p.info)
            .collect();
        Ok(Some(DeploymentDetail {
            deployment: info_of(&d, progress_of(&steps)),
            blueprint: d.blueprint.clone(),
            nodes: DeploymentDetail::progress_of(&steps),
            steps,
            placements,
        }))
    }

    /// A node's page: its GPUs, memory and apply charts, and the deployments that touched it.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn node_detail(&self, name: &str) -> Result<Option<NodeDetail>, StoreError> {
        let Some(node) = self.fleet().nodes.into_iter().find(|n| n.name == name) else {
            return Ok(None);
        };
        let now = now_ms();
        let samples = self.inner.store.samples(name, now - 3_600_000).await?;
        let applies = self
            .inner
            .store
            .step_times(&format!("reconfigure/{name}/"), now - 86_400_000)
            .await?;
        let deployments = self
            .inner
            .store
            .deployments_touching(name)
            .await?
            .into_iter()
            .map(|d| (d.id, d.name, d.status))
            .collect();
        Ok(Some(NodeDetail {
            memory_chart_svg: crate::charts::memory(&node, &samples, now),
            applies_chart_svg: crate::charts::applies(&applies, now),
            node,
            deployments,
        }))
    }

    async fn info(&self, d: &Deployment) -> Result<DeploymentInfo, StoreError> {
        let steps: Vec<StepInfo> = self
            .inner
            .store
            .steps(d.id)
            .await?
            .into_iter()
            .map(step_info)
            .collect();
        Ok(info_of(d, progress_of(&steps)))
    }

    /// Reads deployment `id` and tells watchers its state.
    async fn announce(&self, id: i64) -> Result<DeploymentInfo, StoreError> {
        let d = self
            .inner
            .store
            .deployment(id)
            .await?
            .ok_or(StoreError::NotFound(id))?;
        let info = self.info(&d).await?;
        self.publish(Event::Deployment {
            deployment: info.clone(),
        });
        Ok(info)
    }

    async fn set_status(&self, id: i64, status: Status, message: &str) -> Result<(), StoreError> {
        self.inner.store.set_status(id, status, message).await?;
        tracing::info!(id, status = status.as_str(), %message, "deployment status");
        self.announce(id).await.map(|_| ())
    }

    async fn step(&self, id: i64, key: &str, state: &str, message: &str) -> Result<(), Failure> {
        let s = self
            .inner
            .store
            .record_step(id, key, state, message)
            .await?;
        self.publish(Event::Step {
            deployment_id: id,
            step: step_info(s),
        });
        Ok(())
    }

    // ----- the worker -----

    async fn work_loop(&self) {
        loop {
            let mut retry = false;
            match self.inner.store.unfinished().await {
                Ok(pending) => {
                    for d in pending {
                        let _one = self.inner.work.lock().await;
                        retry |= !self.drive(&d).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read unfinished deployments; retrying");
                    retry = true;
                }
            }
            // Alone, every submission wakes this worker; an elected leader also polls, for
            // deployments submitted through other replicas.
            let wait = if retry || !self.inner.options.leadership.is_solo() {
                self.inner.options.retry_after
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Runs one deployment to a final status; false when it must be retried later.
    async fn drive(&self, d: &Deployment) -> bool {
        let outcome = match d.status {
            Status::Undeploying => self.undeploy_now(d).await,
            _ => {
                if d.status == Status::Scheduled
                    && let Err(e) = self.set_status(d.id, Status::Active, "started").await
                {
                    tracing::warn!(id = d.id, error = %e, "cannot mark the deployment active");
                    return false;
                }
                self.execute(d).await
            }
        };
        let (status, message) = match outcome {
            Ok(done) => done,
            Err(Failure::Permanent(m)) => (Status::Failed, m),
            Err(Failure::Transient(m)) => {
                tracing::warn!(id = d.id, error = %m, "deployment step failed; will retry");
                let _ = self
                    .inner
                    .store
                    .set_status(d.id, d.status.max_active(), &format!("retrying: {m}"))
                    .await;
                let _ = self.announce(d.id).await;
                return false;
            }
        };
        if let Err(e) = self.set_status(d.id, status, &message).await {
            tracing::warn!(id = d.id, error = %e, "cannot record the deployment's status; will retry");
            return false;
        }
        self.refresh().await;
        true
    }

    fn parse(&self, d: &Deployment) -> Result<Blueprint, Failure> {
        let checked = mig::blueprint::check(
            &d.blueprint,
            Context {
                catalogue: Some(&self.inner.catalogue),
                fleet: None,
            },
        );
        checked.blueprint.ok_or_else(|| {
            Failure::Permanent(format!(
                "the stored blueprint no longer validates: {}",
                checked
                    .issues
                    .iter()
                    .filter(|i| i.is_error())
                    .map(|i| format!("{}: {}", i.path, i.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })
    }

    async fn execute(&self, d: &Deployment) -> Outcome {
        let blueprint = self.parse(d)?;
        match &blueprint.action {
            Action::SharedNodePool(pool) => self.run_pool(d, pool).await,
            Action::Update(update) => self.run_update(d, update).await,
            Action::Workload(w) => self.run_workload(d, &blueprint, w).await,
            Action::Team { name } => {
                self.step(
                    d.id,
                    "team",
                    "done",
                    &format!("team \"{name}\" recorded; the embedded fleet enforces no quotas"),
                )
                .await?;
                Ok((Status::Completed, format!("team \"{name}\" recorded")))
            }
        }
    }

    async fn done_steps(&self, id: i64) -> Result<BTreeSet<String>, Failure> {
        Ok(self
            .inner
            .store
            .steps(id)
            .await?
            .into_iter()
            .filter(|s| s.state == "done" || s.state == "skipped")
            .map(|s| s.key)
            .collect())
    }

    async fn run_pool(&self, d: &Deployment, spec: &mig::blueprint::PoolSpec) -> Outcome {
        let shape = mig::shape::shape(&spec.shape).ok_or_else(|| {
            Failure::Permanent(format!("{} is not a MIG-capable shape", spec.shape))
        })?;
        let fleet = self.refresh().await;
        let stored = self
            .inner
            .store
            .pools()
            .await?
            .into_iter()
            .find(|p| p.name == spec.name);
        let existing: Vec<String> = fleet
            .nodes
            .iter()
            .filter(|n| n.pool == spec.name)
            .map(|n| n.name.clone())
            .collect();
        let nodes = match stored {
            Some(p) if p.deployment_id == d.id => p.nodes,
            None if existing.is_empty() && self.schedules() == Scheduling::Cluster => {
                let message = format!(
                    "no node carries pool \"{}\": on Kubernetes, create the node pool with the cloud provider (OKE) and label its nodes with the pool label, then deploy this again to adopt it",
                    spec.name
                );
                self.step(d.id, "pool/adopt", "failed", &message).await?;
                return Err(Failure::Permanent(message));
            }
            None if existing.is_empty() => {
                let names = self.allocate_names(&fleet, spec.size).await?;
                self.inner
                    .store
                    .create_pool(&StoredPool {
                        name: spec.name.clone(),
                        shape: shape.name.to_owned(),
                        mig_config: spec.mig_config.clone(),
                        deployment_id: d.id,
                        nodes: names.clone(),
                    })
                    .await?;
                self.step(
                    d.id,
                    "pool/create",
                    "done",
                    &format!(
                        "pool \"{}\": {} × {} (nodes {})",
                        spec.name,
                        names.len(),
                        shape.name,
                        names.join(", ")
                    ),
                )
                .await?;
                names
            }
            _ => {
                self.step(
                    d.id,
                    "pool/adopt",
                    "done",
                    &format!(
                        "pool \"{}\" exists with {} node(s); adopting it (shared_node_pool_size {} is not applied to an existing pool)",
                        spec.name,
                        existing.len(),
                        spec.size
                    ),
                )
                .await?;
                existing
            }
        };
        let done = self.done_steps(d.id).await?;
        for name in &nodes {
            let key = format!("node/{name}");
            if done.contains(&key) || fleet.nodes.iter().any(|n| &n.name == name) {
                if !done.contains(&key) {
                    self.step(d.id, &key, "done", &format!("node {name} is up"))
                        .await?;
                }
                continue;
            }
            self.step(d.id, &key, "running", &format!("starting node {name}"))
                .await?;
            self.inner
                .cluster
                .add_node(&NewNode {
                    name: name.clone(),
                    pool: spec.name.clone(),
                    shape,
                })
                .await?;
            self.step(
                d.id,
                &key,
                "done",
                &format!("node {name} is up ({} GPUs)", shape.gpus),
            )
            .await?;
        }
        if let Some(config) = &spec.mig_config {
            self.reconfigure(d, &nodes, config).await?;
        }
        Ok((
            Status::Completed,
            format!(
                "pool \"{}\" ready: {} node(s){}",
                spec.name,
                nodes.len(),
                spec.mig_config
                    .as_deref()
                    .map(|c| format!(" on {c}"))
                    .unwrap_or_default()
            ),
        ))
    }

    /// `size` node names in a free `10.0.N.0/24` (OKE names nodes by private IP).
    async fn allocate_names(&self, fleet: &Fleet, size: u32) -> Result<Vec<String>, Failure> {
        let mut used: BTreeSet<String> = fleet.nodes.iter().map(|n| n.name.clone()).collect();
        for p in self.inner.store.pools().await? {
            used.extend(p.nodes);
        }
        let subnet = (30..=250u32)
            .find(|k| !used.iter().any(|n| n.starts_with(&format!("10.0.{k}."))))
            .ok_or_else(|| {
                Failure::Permanent("no free 10.0.N.0/24 subnet left for new nodes".into())
            })?;
        Ok((0..size)
            .map(|i| format!("10.0.{subnet}.{}", 11 + i))
            .collect())
    }

    async fn run_update(&self, d: &Deployment, update: &mig::blueprint::Update) -> Outcome {
        let fleet = self.refresh().await;
        let nodes: Vec<String> = match &update.target {
            Target::Node(n) => fleet
                .nodes
                .iter()
                .filter(|x| &x.name == n)
                .map(|x| x.name.clone())
                .collect(),
            Target::Pool(p) => fleet
                .nodes
                .iter()
                .filter(|x| &x.pool == p)
                .map(|x| x.name.clone())
                .collect(),
        };
        let what = match &update.target {
            Target::Node(n) => format!("node {n}"),
            Target::Pool(p) => format!("pool \"{p}\""),
        };
        if nodes.is_empty() {
            return Err(Failure::Permanent(format!("{what} is not in the fleet")));
        }
        self.step(
            d.id,
            "select",
            "done",
            &format!("{what}: {}", nodes.join(", ")),
        )
        .await?;
        if !update.labels.is_empty() {
            let mut set = Vec::new();
            for node in &nodes {
                match self.inner.cluster.set_labels(node, &update.labels).await {
                    Ok(()) => set.push(node.as_str()),
                    Err(ClusterError::Unsupported(_)) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            if set.is_empty() {
                self.step(d.id, "labels", "skipped", "node labels are recorded in the blueprint; the embedded fleet has no node labels to set").await?;
            } else {
                let names: Vec<&String> = update.labels.keys().collect();
                self.step(
                    d.id,
                    "labels",
                    "done",
                    &format!("labels {names:?} set on {}", set.join(", ")),
                )
                .await?;
            }
        }
        match &update.mig_config {
            Some(config) => {
                self.reconfigure(d, &nodes, config).await?;
                Ok((Status::Completed, format!("{what} now on {config}")))
            }
            None => Ok((Status::Completed, format!("{what}: nothing to change"))),
        }
    }

    /// Applies `config` to every GPU of `nodes`, one GPU at a time, each a step. Refuses (or, when the
    /// deployment allows it, drains) when instances it would destroy run workloads.
    async fn reconfigure(
        &self,
        d: &Deployment,
        nodes: &[String],
        config: &str,
    ) -> Result<(), Failure> {
        if self.schedules() == Scheduling::Cluster {
            return self.reconfigure_nodes(d, nodes, config).await;
        }
        let fleet = self.refresh().await;
        let steps = self.inner.store.steps(d.id).await?;
        let known: BTreeSet<&str> = steps.iter().map(|s| s.key.as_str()).collect();
        let mut work = Vec::new();
        let mut conflicts = Vec::new();
        for name in nodes {
            let node = fleet
                .nodes
                .iter()
                .find(|n| &n.name == name)
                .ok_or_else(|| Failure::Transient(format!("node {name} did not answer")))?;
            if let Some(e) = &node.error {
                return Err(Failure::Transient(format!("node {name}: {e}")));
            }
            let shape = mig::shape::shape(&node.shape).ok_or_else(|| {
                Failure::Permanent(format!("node {name}: unknown shape {}", node.shape))
            })?;
            let named = self
                .inner
                .catalogue
                .config(shape.model, config)
                .ok_or_else(|| {
                    Failure::Permanent(format!(
                        "{config} is not a named config of {}",
                        shape.model.spec().display_name
                    ))
                })?;
            let kept = named
                .layout(shape.model)
                .map_err(|e| {
                    Failure::Permanent(format!(
                        "{config} does not place on {}: {e}",
                        shape.model.spec().display_name
                    ))
                })?
                .map(|l| l.to_specs())
                .unwrap_or_default();
            for gpu in &node.gpus {
                let key = format!("reconfigure/{name}/{}", gpu.index);
                if !known.contains(key.as_str()) {
                    self.step(
                        d.id,
                        &key,
                        "pending",
                        &format!("{config} on {name} GPU {}", gpu.index),
                    )
                    .await?;
                }
                work.push((name.clone(), gpu.index, key));
                for b in &gpu.busy {
                    if !kept
                        .iter()
                        .any(|k| k.profile == b.profile && k.start == b.start)
                    {
                        let who = if b.owners.is_empty() {
                            format!("pids {:?}", b.pids)
                        } else {
                            b.owners.join(", ")
                        };
                        conflicts.push((
                            name.clone(),
                            gpu.index,
                            b.start,
                            format!(
                                "{name} GPU {} {} at slice {}: {who}",
                                gpu.index, b.profile, b.start
                            ),
                        ));
                    }
                }
            }
        }
        let done = self.done_steps(d.id).await?;
        if !conflicts.is_empty() {
            let listed: Vec<&str> = conflicts.iter().map(|c| c.3.as_str()).collect();
            if !d.drain {
                let message = format!(
                    "not idle: {config} would destroy MIG instances in use: {}. Undeploy those workloads, or deploy this update again with drain (POST /api/v1/deployments?drain=true) to move them",
                    listed.join("; ")
                );
                self.step(d.id, "busy-check", "failed", &message).await?;
                return Err(Failure::Permanent(message));
            }
            let mut by_node: BTreeMap<&str, Vec<(u32, u8)>> = BTreeMap::new();
            for (node, gpu, start, _) in &conflicts {
                by_node.entry(node).or_default().push((*gpu, *start));
            }
            for (node, slices) in by_node {
                let key = format!("drain/{node}");
                self.step(
                    d.id,
                    &key,
                    "running",
                    &format!("stopping {} workload(s) on {node}", slices.len()),
                )
                .await?;
                self.inner.store.displace(node, &slices).await?;
                for (gpu, start) in &slices {
                    self.inner
                        .cluster
                        .stop_workloads(node, *gpu, *start)
                        .await?;
                }
                self.step(
                    d.id,
                    &key,
                    "done",
                    &format!(
                        "stopped {} workload(s) on {node}: {}",
                        slices.len(),
                        listed
                            .iter()
                            .filter(|l| l.starts_with(&format!("{node} ")))
                            .copied()
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
                .await?;
            }
        } else if !known.contains("busy-check") {
            self.step(
                d.id,
                "busy-check",
                "done",
                "idle: no instance to destroy runs a workload",
            )
            .await?;
        }
        for (node, gpu, key) in work {
            if done.contains(&key) {
                continue;
            }
            self.step(
                d.id,
                &key,
                "running",
                &format!("applying {config} to {node} GPU {gpu}"),
            )
            .await?;
            let applied = self
                .inner
                .cluster
                .apply(&node, config, &[gpu], d.drain)
                .await;
            self.failed_step(d.id, &key, applied).await?;
            self.step(d.id, &key, "done", &format!("{node} GPU {gpu} on {config}"))
                .await?;
            self.refresh().await;
        }
        for node in nodes {
            self.inner.store.set_desired(node, config).await?;
        }
        self.reschedule(d.id).await
    }

    /// Passes a cluster call's error on, recording a permanent one as step `key`'s failure first.
    async fn failed_step<T>(
        &self,
        id: i64,
        key: &str,
        result: Result<T, ClusterError>,
    ) -> Result<T, Failure> {
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                let f = Failure::from(e);
                if let Failure::Permanent(m) = &f {
                    self.step(id, key, "failed", m).await?;
                }
                Err(f)
            }
        }
    }

    /// [`Orchestrator::reconfigure`] on a cluster that schedules its own pods: a whole node at a time;
    /// the cluster checks the node is idle of GPU pods (or drains it when the deployment allows) and
    /// its controllers reschedule what was evicted.
    async fn reconfigure_nodes(
        &self,
        d: &Deployment,
        nodes: &[String],
        config: &str,
    ) -> Result<(), Failure> {
        let done = self.done_steps(d.id).await?;
        for node in nodes {
            let key = format!("reconfigure/{node}");
            if done.contains(&key) {
                continue;
            }
            let how = if d.drain {
                ", draining its GPU pods first if any run"
            } else {
                ""
            };
            self.step(
                d.id,
                &key,
                "running",
                &format!("applying {config} to {node}{how}"),
            )
            .await?;
            let applied = self.inner.cluster.apply(node, config, &[], d.drain).await;
            self.failed_step(d.id, &key, applied).await?;
            self.step(d.id, &key, "done", &format!("{node} on {config}"))
                .await?;
            self.inner.store.set_desired(node, config).await?;
            self.refresh().await;
        }
        Ok(())
    }

    /// Places every displaced replica again (after a drain), or fails its deployment. Each move is
    /// a step of `by` marked running before the replica's row moves, so a move interrupted after it
    /// (a crash, a database hiccup) is finished on the next run rather than forgotten.
    async fn reschedule(&self, by: i64) -> Result<(), Failure> {
        let all = self.inner.store.all_placements().await?;
        let interrupted: BTreeSet<(i64, u32)> = self
            .inner
            .store
            .steps(by)
            .await?
            .into_iter()
            .filter(|s| s.state == "running")
            .filter_map(|s| {
                let mut parts = s.key.strip_prefix("reschedule/")?.split('/');
                Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
            })
            .collect();
        let todo: Vec<Placement> = all
            .into_iter()
            .filter(|p| {
                p.state == "displaced" || interrupted.contains(&(p.deployment_id, p.replica))
            })
            .collect();
        for p in todo {
            let owner = self.inner.store.deployment(p.deployment_id).await?;
            let name = owner.as_ref().map(|o| o.name.clone()).unwrap_or_default();
            let key = format!("reschedule/{}/{}", p.deployment_id, p.replica);
            let moved_key = format!("moved/{by}/{}", p.replica);
            if p.state == "placed" {
                // Moved already; finish what the interruption left: run it, record it.
                self.start_replica(&p).await?;
                let message = format!(
                    "{name} replica {} runs on {} GPU {} ({} at slice {})",
                    p.replica, p.node, p.gpu, p.profile, p.start
                );
                self.step(by, &key, "done", &message).await?;
                self.step(p.deployment_id, &moved_key, "done", &message)
                    .await?;
                continue;
            }
            let fleet = self.refresh().await;
            let shape = owner
                .as_ref()
                .and_then(|o| self.parse(o).ok())
                .and_then(|b| match b.action {
                    Action::Workload(w) => Some(w.shape),
                    _ => None,
                })
                .unwrap_or_default();
            match self.free_slot(&fleet, &p.profile, &shape).await? {
                Some((node, gpu, start)) => {
                    self.step(
                        by,
                        &key,
                        "running",
                        &format!("moving {name} replica {} to {node} GPU {gpu}", p.replica),
                    )
                    .await?;
                    let moved = Placement {
                        deployment_id: p.deployment_id,
                        info: PlacementInfo {
                            node: node.clone(),
                            gpu,
                            start,
                            state: "placed".into(),
                            ..p.info.clone()
                        },
                    };
                    self.inner.store.place(&moved).await?;
                    self.start_replica(&moved).await?;
                    let message = format!(
                        "{name} replica {} moved from {} GPU {} to {node} GPU {gpu} ({} at slice {start})",
                        p.replica, p.node, p.gpu, p.profile
                    );
                    self.step(by, &key, "done", &message).await?;
                    self.step(p.deployment_id, &moved_key, "done", &message)
                        .await?;
                }
                None => {
                    let message = format!(
                        "replica {} lost its {} slice on {} in a drain and no free {} slice is left",
                        p.replica, p.profile, p.node, p.profile
                    );
                    self.step(by, &key, "failed", &format!("{name}: {message}"))
                        .await?;
                    if owner
                        .as_ref()
                        .is_some_and(|o| o.status == Status::Monitoring)
                    {
                        self.set_status(p.deployment_id, Status::Failed, &message)
                            .await?;
                    }
                    self.inner
                        .store
                        .remove_placement(p.deployment_id, p.replica)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The first free slice of `profile` on a node of `shape` (any shape when empty): no process on
    /// it and no replica placed there.
    async fn free_slot(
        &self,
        fleet: &Fleet,
        profile: &str,
        shape: &str,
    ) -> Result<Option<(String, u32, u8)>, Failure> {
        let taken: BTreeSet<(String, u32, u8)> = self
            .inner
            .store
            .all_placements()
            .await?
            .into_iter()
            .filter(|p| p.state == "placed")
            .map(|p| (p.info.node, p.info.gpu, p.info.start))
            .collect();
        for node in &fleet.nodes {
            if node.error.is_some() || !(shape.is_empty() || node.shape.eq_ignore_ascii_case(shape))
            {
                continue;
            }
            for gpu in &node.gpus {
                for inst in &gpu.instances {
                    if inst.profile == profile
                        && !gpu.busy.iter().any(|b| b.start == inst.start)
                        && !taken.contains(&(node.name.clone(), gpu.index, inst.start))
                    {
                        return Ok(Some((node.name.clone(), gpu.index, inst.start)));
                    }
                }
            }
        }
        Ok(None)
    }

    async fn start_replica(&self, p: &Placement) -> Result<(), Failure> {
        let fleet = self.fleet();
        let memory = fleet
            .nodes
            .iter()
            .find(|n| n.name == p.node)
            .and_then(|n| n.gpus.iter().find(|g| g.index == p.gpu))
            .and_then(|g| g.model)
            .and_then(|m| m.profile(&p.profile))
            .map_or(0, |s| u64::from(s.memory_mib) * 9 / 10);
        self.inner
            .cluster
            .start_workload(
                &p.node,
                &WorkloadSpec {
                    gpu: p.gpu,
                    start: p.start,
                    pid: p.pid,
                    memory_mib: memory,
                },
            )
            .await?;
        Ok(())
    }

    async fn run_workload(
        &self,
        d: &Deployment,
        blueprint: &Blueprint,
        w: &mig::blueprint::Workload,
    ) -> Outcome {
        if self.schedules() == Scheduling::Cluster {
            let made = self
                .inner
                .cluster
                .deploy_workload(ClusterWorkload {
                    id: d.id,
                    blueprint,
                    workload: w,
                })
                .await?;
            self.step(d.id, "objects", "done", &format!("created {made}"))
                .await?;
            return Ok((
                Status::Monitoring,
                format!("{made}: waiting for {} replica(s)", w.replicas),
            ));
        }
        let profile = match &w.gpu {
            GpuRequest::Mig(p) => p.clone(),
            other => {
                let asked = match other {
                    GpuRequest::None => "no GPU".to_owned(),
                    GpuRequest::Gpus(n) => format!("{n} whole NVIDIA GPU(s)"),
                    GpuRequest::AmdGpus(n) => format!("{n} AMD GPU(s)"),
                    GpuRequest::Mig(_) => unreachable!("matched above"),
                };
                let message = format!(
                    "this deployment asks for {asked}; the embedded fleet runs MIG workloads only (set mig_resource_request), a Kubernetes fleet schedules the rest"
                );
                self.step(d.id, "place", "failed", &message).await?;
                return Err(Failure::Permanent(message));
            }
        };
        let placed = self.inner.store.placements(d.id).await?;
        for replica in 0..w.replicas {
            let key = format!("replica/{replica}");
            let p = match placed
                .iter()
                .find(|p| p.replica == replica && p.state == "placed")
            {
                Some(p) => p.clone(),
                None => {
                    let fleet = self.refresh().await;
                    let Some((node, gpu, start)) =
                        self.free_slot(&fleet, &profile, &w.shape).await?
                    else {
                        let (free, total) =
                            fleet
                                .view(Vec::new())
                                .nodes
                                .iter()
                                .fold((0, 0), |(f, t), n| {
                                    let (nt, nf) = n.slices_of(&profile);
                                    (f + nf, t + nt)
                                });
                        let message = format!(
                            "no free {profile} slice for replica {replica} of {} ({free} of {total} {profile} slices in the fleet are free); apply a config with {profile} to more nodes, or lower recipe_replica_count",
                            w.replicas
                        );
                        self.step(d.id, &key, "failed", &message).await?;
                        return Err(Failure::Permanent(message));
                    };
                    let p = Placement {
                        deployment_id: d.id,
                        info: PlacementInfo {
                            replica,
                            node,
                            gpu,
                            start,
                            profile: profile.clone(),
                            pid: pid_of(d.id, replica),
                            state: "placed".into(),
                        },
                    };
                    self.inner.store.place(&p).await?;
                    p
                }
            };
            self.start_replica(&p).await?;
            self.step(
                d.id,
                &key,
                "done",
                &format!(
                    "replica {replica} running on {} GPU {} ({profile} at slice {}, pid {})",
                    p.node, p.gpu, p.start, p.pid
                ),
            )
            .await?;
        }
        self.refresh().await;
        Ok((
            Status::Monitoring,
            format!("{} replica(s) running on {profile} slices", w.replicas),
        ))
    }

    async fn undeploy_now(&self, d: &Deployment) -> Outcome {
        if self.schedules() == Scheduling::Cluster
            && self
                .parse(d)
                .is_ok_and(|b| matches!(b.action, Action::Workload(_)))
        {
            let gone = self.inner.cluster.delete_workload(d.id).await?;
            self.step(
                d.id,
                "undeploy/objects",
                "done",
                &format!("deleted {gone} object(s) labelled with this deployment"),
            )
            .await?;
        }
        for p in self.inner.store.placements(d.id).await? {
            let key = format!("undeploy/replica/{}", p.replica);
            if p.state == "placed" {
                self.inner
                    .cluster
                    .stop_workloads(&p.node, p.gpu, p.start)
                    .await?;
            }
            // Recorded before the row goes, so an interruption in between repeats both (both are
            // safe to repeat) rather than losing the record.
            self.step(
                d.id,
                &key,
                "done",
                &format!("replica {} stopped on {} GPU {}", p.replica, p.node, p.gpu),
            )
            .await?;
            self.inner.store.remove_placement(d.id, p.replica).await?;
        }
        if let Some(pool) = self
            .inner
            .store
            .pools()
            .await?
            .into_iter()
            .find(|p| p.deployment_id == d.id)
        {
            if let Some(busy) = self.pool_in_use(d).await? {
                return Err(Failure::Permanent(format!("undeploy refused: {busy}")));
            }
            for node in &pool.nodes {
                self.inner.cluster.remove_node(node).await?;
                self.step(
                    d.id,
                    &format!("undeploy/node/{node}"),
                    "done",
                    &format!("node {node} removed"),
                )
                .await?;
            }
            self.inner.store.delete_pool(&pool.name).await?;
        }
        self.step(d.id, "undeploy", "done", "undeployed").await?;
        Ok((Status::Undeployed, "undeployed".into()))
    }

    // ----- the monitor -----

    async fn monitor_loop(&self, leadership: Leadership) {
        let mut last_sample = 0i64;
        loop {
            tokio::time::sleep(self.inner.options.monitor_interval).await;
            let fleet = self.refresh().await;
            if !leadership.is_leader() {
                continue;
            }
            let now = now_ms();
            if now - last_sample
                >= i64::try_from(self.inner.options.sample_every.as_millis()).unwrap_or(i64::MAX)
            {
                last_sample = now;
                let samples: Vec<Sample> = fleet
                    .nodes
                    .iter()
                    .flat_map(|n| {
                        n.gpus.iter().flat_map(move |g| {
                            g.busy.iter().map(move |b| Sample {
                                node: n.name.clone(),
                                gpu: g.index,
                                start: b.start,
                                profile: b.profile.clone(),
                                at_ms: now,
                                used_mib: b.used_memory_mib,
                            })
                        })
                    })
                    .collect();
                if let Err(e) = self
                    .inner
                    .store
                    .add_samples(&samples, now - 86_400_000)
                    .await
                {
                    tracing::warn!(error = %e, "cannot store memory samples");
                }
            }
            // Check only while no deployment changes the fleet, against a fleet read under the lock:
            // a read from before a deployment's last change would see its replicas as missing.
            let Ok(_one) = self.inner.work.try_lock() else {
                continue;
            };
            let fleet = self.refresh().await;
            if let Err(e) = self.check_monitored(&fleet).await {
                tracing::warn!(error = ?e, "monitoring deployments failed; will retry");
            }
        }
    }

    async fn check_monitored(&self, fleet: &Fleet) -> Result<(), Failure> {
        let monitored: Vec<Deployment> = self
            .inner
            .store
            .deployments()
            .await?
            .into_iter()
            .filter(|d| d.status == Status::Monitoring)
            .collect();
        if self.schedules() == Scheduling::Cluster {
            for d in monitored {
                self.check_cluster_workload(&d).await?;
            }
            return Ok(());
        }
        for d in monitored {
            let placements = self.inner.store.placements(d.id).await?;
            let running_on = |p: &Placement| {
                fleet.nodes.iter().any(|n| {
                    n.name == p.node
                        && n.gpus.iter().any(|g| {
                            g.index == p.gpu
                                && g.busy
                                    .iter()
                                    .any(|b| b.start == p.start && b.pids.contains(&p.pid))
                        })
                })
            };
            let total = u32::try_from(placements.len()).unwrap_or(u32::MAX);
            let missing: Vec<&Placement> = placements
                .iter()
                .filter(|p| p.state == "placed" && !running_on(p))
                .collect();
            let running = total - u32::try_from(missing.len()).unwrap_or(0);
            self.publish(Event::Monitor {
                deployment_id: d.id,
                running,
                total,
                at_ms: now_ms(),
            });
            let message = if missing.is_empty() {
                format!("nominal: {running}/{total} replicas running")
            } else {
                // Restart what stopped (a crashed process, a node agent restarted); the caller holds
                // the work lock, so no update reconfigures the GPU meanwhile.
                for p in &missing {
                    self.start_replica(p).await?;
                }
                format!(
                    "restarted {} replica(s) that had stopped; {total}/{total} running",
                    missing.len()
                )
            };
            self.monitor_step(d.id, &message).await?;
        }
        Ok(())
    }
}

impl Orchestrator {
    /// Records `message` as deployment `id`'s `monitor` step, unless that is what it says already
    /// (a pass every 2 s must not grow the step log).
    async fn monitor_step(&self, id: i64, message: &str) -> Result<(), Failure> {
        let steps = self.inner.store.steps(id).await?;
        if steps
            .iter()
            .find(|s| s.key == "monitor")
            .is_none_or(|s| s.message != message)
        {
            self.step(id, "monitor", "done", message).await?;
        }
        Ok(())
    }

    /// One monitoring pass over a cluster-scheduled workload: its readiness as an event and a step,
    /// and a job's end as the deployment's end.
    async fn check_cluster_workload(&self, d: &Deployment) -> Result<(), Failure> {
        let status = match self.inner.cluster.workload_status(d.id).await {
            Ok(s) => s,
            Err(e) if !e.is_transient() => {
                self.set_status(d.id, Status::Failed, &e.to_string())
                    .await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.publish(Event::Monitor {
            deployment_id: d.id,
            running: status.ready,
            total: status.wanted,
            at_ms: now_ms(),
        });
        let mut message = format!("{}/{} replica(s) ready", status.ready, status.wanted);
        if !status.detail.is_empty() {
            message.push_str(&format!("; {}", status.detail));
        }
        self.monitor_step(d.id, &message).await?;
        match status.finished {
            Some(true) => {
                self.set_status(d.id, Status::Completed, &format!("job finished: {message}"))
                    .await?
            }
            Some(false) => {
                self.set_status(d.id, Status::Failed, &format!("job failed: {message}"))
                    .await?
            }
            None => {}
        }
        Ok(())
    }
}

trait MaxActive {
    fn max_active(self) -> Self;
}

impl MaxActive for Status {
    /// The status to keep while retrying: a scheduled deployment has started.
    fn max_active(self) -> Self {
        match self {
            Status::Scheduled => Status::Active,
            other => other,
        }
    }
}

fn step_info(s: crate::store::Step) -> StepInfo {
    StepInfo {
        seq: s.seq,
        key: s.key,
        state: s.state,
        message: s.message,
        at_ms: s.at_ms,
    }
}

fn progress_of(steps: &[StepInfo]) -> Progress {
    Progress {
        done: u32::try_from(steps.iter().filter(|s| s.is_done()).count()).unwrap_or(u32::MAX),
        total: u32::try_from(steps.len()).unwrap_or(u32::MAX),
    }
}

fn info_of(d: &Deployment, progress: Progress) -> DeploymentInfo {
    DeploymentInfo {
        id: d.id,
        name: d.name.clone(),
        mode: d.mode.clone(),
        status: d.status,
        message: d.message.clone(),
        created_ms: d.created_ms,
        updated_ms: d.updated_ms,
        progress,
    }
}
