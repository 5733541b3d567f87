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
//!
//! Here: the handle, submission, the one validation context, queries and events. The worker loop is
//! in `worker`, each kind of deployment in `pool`, `update` and `workload`, monitoring in `monitor`.

mod monitor;
mod pool;
mod update;
mod worker;
mod workload;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mig::blueprint::{Catalogue, Checked, Context, Issue};
use mig::wire::{
    DeploymentDetail, DeploymentInfo, DeploymentStatus, Event, NodeDetail, Progress, StepInfo,
    StepState, Validation,
};
use tokio::sync::{Mutex, Notify, broadcast};

use crate::audit::Actor;
use crate::catalogue::SharedCatalogue;
use crate::cluster::{Cluster, ClusterError, Fleet, Scheduling};
use crate::leader::Leadership;
use crate::store::{Deployment, NewDeployment, Store, StoreError, now_ms};

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
    /// Node labels updates may set beyond the built-in reserved domains (`--node-labels-allowed`,
    /// the pool label).
    pub node_labels: mig::blueprint::labels::LabelPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            monitor_interval: Duration::from_secs(2),
            retry_after: Duration::from_secs(2),
            sample_every: Duration::from_secs(10),
            leadership: Leadership::always(),
            node_labels: mig::blueprint::labels::LabelPolicy::default(),
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
    /// The server failed in a way the client cannot fix (logged; answered as 500).
    #[error("{0}")]
    Internal(String),
}

/// What went wrong while carrying a deployment out.
#[derive(Debug)]
enum Failure {
    /// May pass: try again later.
    Transient(String),
    /// Will not pass: the deployment fails with this message.
    Permanent(String),
    /// Waits on something outside migboard (a GPU reset): the deployment stays active with this
    /// message and is tried again later.
    Waiting(String),
    /// Queued (`skip_capacity_validation`): replicas wait for free slices; the deployment is
    /// `scheduled` with this message (which starts with [`QUEUED`]) and is tried again later.
    Queued(String),
    /// A rollout batch had a node fail: the deployment is `paused` with this message, the nodes
    /// after the batch untouched, until someone resumes it.
    Paused(String),
}

/// How a deployment's changes roll out over nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Busy instances in the way may be drained (their replicas moved) instead of failing.
    pub drain: bool,
    /// Nodes changed at a time (default 1, as OCI's guide: one node at a time); a batch with a failed
    /// node pauses the rollout.
    pub max_unavailable: u32,
}

impl Default for Rollout {
    fn default() -> Self {
        Self {
            drain: false,
            max_unavailable: 1,
        }
    }
}

/// The most nodes a rollout may change at a time.
pub const MAX_UNAVAILABLE: u32 = 100;

/// How a queued deployment's message starts.
pub(super) const QUEUED: &str = "waiting for ";

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

type Outcome = Result<(DeploymentStatus, String), Failure>;

/// The orchestrator. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    cluster: Arc<dyn Cluster>,
    catalogue: SharedCatalogue,
    options: Options,
    fleet: RwLock<Fleet>,
    events: broadcast::Sender<Arc<Published>>,
    wake: Notify,
    /// Held while the fleet is changed: by the worker per deployment, by the monitor when it repairs.
    work: Mutex<()>,
    /// Nodes whose MIG layout a deployment is changing now: never reported as drifted meanwhile.
    changing: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// How long steps take, for `/metrics`.
    step_metrics: Arc<crate::metrics::StepMetrics>,
    /// Fleet reads asked for, and how many of those asks the last finished read answers (it began
    /// after them): concurrent asks share one read (see [`Orchestrator::refresh`]).
    reads_asked: std::sync::atomic::AtomicU64,
    reads_answered: std::sync::atomic::AtomicU64,
    /// One fleet read at a time.
    reading: Mutex<()>,
}

/// Marks nodes as being changed for as long as it lives (see [`Inner::changing`]).
pub(super) struct Changing {
    orchestrator: Orchestrator,
    nodes: Vec<String>,
}

impl Drop for Changing {
    fn drop(&mut self) {
        let mut set = self
            .orchestrator
            .inner
            .changing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for n in &self.nodes {
            set.remove(n);
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("cluster", &self.cluster.describe())
            .finish_non_exhaustive()
    }
}

/// Events a watcher may fall behind by before it is told to read the state again.
const EVENT_BUFFER: usize = 4096;

/// An event as published: the event, and its SSE frame (`event: <name>`, `data: <json>`), serialised
/// once and shared by every watcher — 10,000 watchers of one deployment cost one serialisation per
/// event, not 10,000.
#[derive(Debug)]
pub struct Published {
    /// The event, for the streams that filter on it.
    pub event: Event,
    /// Its SSE frame, ready to write.
    pub frame: bytes::Bytes,
}

impl Published {
    /// `event` with its frame.
    pub fn new(event: Event) -> Self {
        let frame = sse_frame(&event);
        Self { event, frame }
    }
}

/// `event`'s SSE frame: `event: <name>\ndata: <json>\n\n`. Compact JSON has no line breaks (a
/// newline in a string is escaped), so one `data:` line carries it.
pub fn sse_frame(event: &Event) -> bytes::Bytes {
    let json = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    let name = event.name();
    let mut out = Vec::with_capacity(json.len() + name.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(b"\n\n");
    bytes::Bytes::from(out)
}

impl Orchestrator {
    /// An orchestrator over `store` and `cluster`. Call [`Orchestrator::spawn`] to start its work.
    pub async fn new(
        store: Store,
        cluster: Arc<dyn Cluster>,
        catalogue: SharedCatalogue,
        options: Options,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let this = Self {
            inner: Arc::new(Inner {
                store,
                cluster,
                catalogue,
                options,
                fleet: RwLock::new(Fleet::default()),
                events,
                wake: Notify::new(),
                work: Mutex::new(()),
                changing: std::sync::Mutex::default(),
                step_metrics: Arc::default(),
                reads_asked: std::sync::atomic::AtomicU64::new(0),
                reads_answered: std::sync::atomic::AtomicU64::new(0),
                reading: Mutex::new(()),
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

    /// Where blueprints are carried out, for the rules that depend on it (what is simulated,
    /// autoscaling's floor).
    pub(super) fn platform(&self) -> mig::blueprint::Platform {
        match self.schedules() {
            Scheduling::Slices => mig::blueprint::Platform::Embedded,
            Scheduling::Cluster => mig::blueprint::Platform::Kubernetes,
        }
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
        self.inner.catalogue.get()
    }

    /// The catalogue's handle, to change its custom configs.
    pub fn catalogues(&self) -> &SharedCatalogue {
        &self.inner.catalogue
    }

    /// The fleet as last read, each busy slice marked with the replica running there.
    pub fn fleet(&self) -> Fleet {
        self.inner
            .fleet
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Marks `nodes` as being changed until the returned guard is dropped.
    pub(super) fn changing(&self, nodes: &[String]) -> Changing {
        let mut set = self
            .inner
            .changing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set.extend(nodes.iter().cloned());
        Changing {
            orchestrator: self.clone(),
            nodes: nodes.to_vec(),
        }
    }

    /// Marks nodes whose GPUs differ from the config migboard last applied to them (someone
    /// changed them by hand), except nodes a deployment is changing now.
    async fn mark_drift(&self, fleet: &mut Fleet) {
        let desired: BTreeMap<String, (String, Option<u32>)> = match self
            .inner
            .store
            .desired_versions()
            .await
        {
            Ok(d) => d.into_iter().map(|(n, c, v)| (n, (c, v))).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the desired configs; drift not checked");
                return;
            }
        };
        let changing = self
            .inner
            .changing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let catalogue = self.inner.catalogue.get();
        // Older custom config versions nodes were left on, read once per (name, version).
        let mut older: BTreeMap<(String, u32), Option<mig::NamedConfig>> = BTreeMap::new();
        for node in &mut fleet.nodes {
            node.drift = None;
            if node.error.is_some() || changing.contains(&node.name) {
                continue;
            }
            let (Some((config, version)), Some(shape)) =
                (desired.get(&node.name), mig::shape::shape(&node.shape))
            else {
                continue;
            };
            let Some(mut named) = catalogue.config(shape.model, config).cloned() else {
                continue;
            };
            // Measured against the version applied, which may be older than the current one.
            if let (Some(v), Some(current)) = (version, named.custom.as_ref())
                && current.version != *v
            {
                let key = (config.clone(), *v);
                if !older.contains_key(&key) {
                    let read = match self.inner.store.mig_config_version(config, *v).await {
                        Ok(Some(stored)) => stored
                            .config
                            .validate(|_| false)
                            .ok()
                            .map(|c| mig::NamedConfig::from_custom(&c, *v)),
                        _ => None,
                    };
                    older.insert(key.clone(), read);
                }
                match older.get(&key).cloned().flatten() {
                    Some(n) => named = n,
                    None => continue,
                }
            }
            let gpus = named.drift(shape.model, &node.gpus);
            if !gpus.is_empty() {
                node.drift = Some(mig::agent_api::Drift {
                    config: config.clone(),
                    gpus,
                });
            }
        }
    }

    /// Reads the fleet now, keeps it, and tells watchers if it changed.
    ///
    /// "Now" means a read that began after this call: callers that ask while a read is under way
    /// share the next one, so a batch of a hundred nodes finishing steps together costs a couple of
    /// fleet reads, not a hundred (at 500 nodes a read is 500 agent round trips).
    pub async fn refresh(&self) -> Fleet {
        use std::sync::atomic::Ordering::SeqCst;
        let ticket = self.inner.reads_asked.fetch_add(1, SeqCst) + 1;
        let _one = self.inner.reading.lock().await;
        if self.inner.reads_answered.load(SeqCst) >= ticket {
            // A read that began after this ask finished while it waited.
            return self.fleet();
        }
        // Every ask made until now is answered by the read that starts here.
        let covers = self.inner.reads_asked.load(SeqCst);
        let fresh = self.read_fleet().await;
        self.inner.reads_answered.store(covers, SeqCst);
        fresh
    }

    async fn read_fleet(&self) -> Fleet {
        let mut fresh = self.inner.cluster.fleet().await;
        self.mark_drift(&mut fresh).await;
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
            .placed()
            .await?
            .into_iter()
            .map(|p| {
                let name = names.get(&p.deployment_id).cloned().unwrap_or_default();
                (
                    (p.info.node, p.info.gpu, p.info.start),
                    format!("{name} replica {}", p.info.replica),
                )
            })
            .collect())
    }

    /// How long steps take, for `/metrics`.
    pub fn step_metrics(&self) -> &crate::metrics::StepMetrics {
        &self.inner.step_metrics
    }

    /// A receiver of every event from now on, each with its SSE frame.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.events.subscribe()
    }

    fn publish(&self, event: Event) {
        // Nobody watching: nothing to serialise (one subscribing now only hears of later events).
        if self.inner.events.receiver_count() == 0 {
            return;
        }
        // Serialised once here; every watcher's stream sends these same bytes.
        let _ = self.inner.events.send(Arc::new(Published::new(event)));
    }

    /// Checks `text` with every rule against the fleet as it is and the names of live deployments:
    /// the one validation context the REST API, the editor's server check and [`Orchestrator::submit`]
    /// share, so what validates is what deploys.
    ///
    /// # Errors
    /// [`StoreError`] when the deployment names cannot be read.
    pub async fn validate(&self, text: &str) -> Result<Validation, StoreError> {
        let (checked, fleet_nodes) = self.check(text).await?;
        Ok(Validation::of(checked, fleet_nodes))
    }

    /// [`Orchestrator::validate`]'s check, with the number of nodes of the one fleet read it used.
    async fn check(&self, text: &str) -> Result<(Checked, usize), StoreError> {
        let names = self.inner.store.live_names().await?;
        let fleet = self.fleet();
        let view = fleet.view(names);
        let catalogue = self.inner.catalogue.get();
        let mut checked = mig::blueprint::check(
            text,
            Context {
                catalogue: Some(&catalogue),
                fleet: Some(&view),
                platform: Some(self.platform()),
            },
        );
        // This server's label settings (the browser knows only the built-in reserved domains).
        let labels = match checked.blueprint.as_ref().map(|b| &b.action) {
            Some(mig::blueprint::Action::Update(u)) => {
                mig::blueprint::labels::check_policy(&u.labels, &self.inner.options.node_labels)
            }
            _ => Vec::new(),
        };
        if !labels.is_empty() {
            checked.issues.extend(labels);
            mig::blueprint::place_issues(text, &mut checked.issues);
            checked.blueprint = None;
        }
        Ok((checked, fleet.nodes.len()))
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
        self.submit_with(text, Rollout { drain, ..Rollout::default() }, actor)
            .await
    }

    /// [`Orchestrator::submit`] with how its rollout goes: drain, and nodes at a time.
    ///
    /// # Errors
    /// As [`Orchestrator::submit`].
    pub async fn submit_with(
        &self,
        text: &str,
        rollout: Rollout,
        actor: &Actor,
    ) -> Result<DeploymentInfo, OrchestratorError> {
        self.submit_pinned(text, rollout, actor, None).await
    }

    /// [`Orchestrator::submit`], applying custom config version `pin` rather than the current one.
    async fn submit_pinned(
        &self,
        text: &str,
        rollout: Rollout,
        actor: &Actor,
        pin: Option<(String, u32)>,
    ) -> Result<DeploymentInfo, OrchestratorError> {
        let drain = rollout.drain;
        let (checked, _) = self.check(text).await?;
        let Some(blueprint) = checked.blueprint else {
            return Err(OrchestratorError::Invalid(checked.issues));
        };
        let mode = blueprint
            .raw
            .recipe_mode
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        // A custom config is applied at the version it has now, whatever happens to it later.
        let current = match &blueprint.action {
            mig::blueprint::Action::Update(u) => u.mig_config.as_deref(),
            mig::blueprint::Action::SharedNodePool(p) => p.mig_config.as_deref(),
            _ => None,
        }
        .and_then(|name| {
            self.inner.catalogue.get().models.iter().find_map(|m| {
                m.configs
                    .iter()
                    .find(|c| c.name == name)
                    .and_then(|c| Some((c.name.clone(), c.custom.as_ref()?.version)))
            })
        });
        let config = pin.or(current);
        let created = match self
            .inner
            .store
            .create_deployment(&NewDeployment {
                name: blueprint.name.clone(),
                mode,
                blueprint: text.to_owned(),
                drain,
                max_unavailable: rollout.max_unavailable.max(1),
                config,
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
                "deployment.create",
                format!("deployment {} ({})", created.id, created.name),
                match (drain, rollout.max_unavailable > 1) {
                    (true, true) => format!("drain allowed; {} nodes at a time", rollout.max_unavailable),
                    (true, false) => "drain allowed".into(),
                    (false, true) => format!("{} nodes at a time", rollout.max_unavailable),
                    (false, false) => String::new(),
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

    /// Resumes deployment `id`, paused after a rollout batch with a failed node: the worker retries
    /// the failed node(s) and goes on with the batches after it (what is done stays done).
    ///
    /// # Errors
    /// [`OrchestratorError::NotFound`]; [`OrchestratorError::Conflict`] when it is not paused.
    pub async fn resume(&self, id: i64, actor: &Actor) -> Result<DeploymentInfo, OrchestratorError> {
        let d = self.existing(id).await?;
        if d.status != DeploymentStatus::Paused {
            return Err(OrchestratorError::Conflict(format!(
                "deployment {id} ({}) is {}, not paused: only a paused rollout resumes",
                d.name,
                d.status.as_str()
            )));
        }
        self.inner
            .store
            .set_status(id, DeploymentStatus::Scheduled, "resumed")
            .await?;
        self.inner
            .store
            .audit(&actor.audit(
                "deployment.resume",
                format!("deployment {id} ({})", d.name),
                d.message.clone(),
            ))
            .await?;
        tracing::info!(id, name = %d.name, "rollout resumed");
        let info = self.announce(id).await?;
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
        let d = self.existing(id).await?;
        if !d.status.can_undeploy() {
            return Err(OrchestratorError::Conflict(format!(
                "deployment {id} ({}) is {} already",
                d.name,
                d.status.as_str()
            )));
        }
        // An update changes layouts and leaves nothing running: "undeployed" would claim the layout
        // went away while it stays. What can be undone is the change itself.
        if d.mode == "update" {
            return Err(OrchestratorError::Conflict(format!(
                "deployment {id} ({}) is an update: there is nothing to undeploy, its layout stays until another update changes it; to put back the layout it replaced, revert it (POST /api/v1/deployments/{id}/revert, or \"Revert to the previous layout\" on its page)",
                d.name
            )));
        }
        if let Some(busy) = self.pool_in_use(&d).await? {
            return Err(OrchestratorError::Conflict(busy));
        }
        self.inner
            .store
            .set_status(id, DeploymentStatus::Undeploying, "undeploy requested")
            .await?;
        self.inner
            .store
            .audit(&actor.audit(
                "deployment.undeploy",
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
        let Some(pool) = self.inner.store.pool_of(d.id).await? else {
            return Ok(None);
        };
        // Another deployment's replicas; a workload's own replicas on its own nodes go with it.
        let mine: std::collections::BTreeSet<(String, u32, u8)> = self
            .inner
            .store
            .placements(d.id)
            .await?
            .into_iter()
            .map(|p| (p.info.node, p.info.gpu, p.info.start))
            .collect();
        let owners = self.owners().await?;
        let running: Vec<String> = owners
            .iter()
            .filter(|(slot, _)| pool.nodes.contains(&slot.0) && !mine.contains(*slot))
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
            .map(|d| d.info(progress.get(&d.id).copied().unwrap_or_default()))
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
        let steps: Vec<StepInfo> = self.inner.store.steps(id).await?;
        let placements = self
            .inner
            .store
            .placements(id)
            .await?
            .into_iter()
            .map(|p| p.info)
            .collect();
        // Only a `service` has an address; the stored mode says so without parsing the blueprint.
        let endpoint = (d.mode == "service")
            .then(|| mig::blueprint::check(&d.blueprint, Context::default()).blueprint)
            .flatten()
            .map(|b| self.inner.cluster.service_endpoint(d.id, &b));
        Ok(Some(DeploymentDetail {
            deployment: d.info(progress_of(&steps)),
            blueprint: d.blueprint.clone(),
            nodes: DeploymentDetail::progress_of(&steps),
            endpoint,
            steps,
            placements,
        }))
    }

    /// A node's page: its GPUs, memory and apply charts over `range`, and the deployments that
    /// touched it.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn node_detail(
        &self,
        name: &str,
        range: mig::wire::ChartRange,
    ) -> Result<Option<NodeDetail>, StoreError> {
        let Some(node) = self.fleet().nodes.into_iter().find(|n| n.name == name) else {
            return Ok(None);
        };
        let now = now_ms();
        let samples = self.inner.store.samples(name, now - range.span_ms()).await?;
        let applies = self
            .inner
            .store
            .step_times(&format!("reconfigure/{name}/"), now - range.span_ms())
            .await?;
        let touching = self.inner.store.deployments_touching(name).await?;
        let mut history = Vec::new();
        for d in &touching {
            let Some(config) = self.config_of(d) else {
                continue;
            };
            history.push(self.layout_change(d, config).await?);
        }
        let deployments = touching
            .into_iter()
            .map(|d| (d.id, d.name, d.status))
            .collect();
        Ok(Some(NodeDetail {
            memory_chart_svg: crate::charts::memory(&node, &samples, now, range),
            applies_chart_svg: crate::charts::applies(&applies, now, range),
            range,
            node,
            deployments,
            history,
        }))
    }

    /// Deployment `d`'s change of a node's layout to `config`: one row of the node's history
    /// (the version it pinned, who deployed it).
    async fn layout_change(
        &self,
        d: &Deployment,
        config: String,
    ) -> Result<mig::wire::LayoutChange, StoreError> {
        Ok(mig::wire::LayoutChange {
            deployment_id: d.id,
            deployment: d.name.clone(),
            at_ms: d.updated_ms,
            version: self.inner.store.pinned_version(d.id, &config).await?,
            config,
            by: self.inner.store.deployed_by(d.id).await?.unwrap_or_default(),
            status: d.status,
        })
    }

    /// The MIG config an update or pool deployment applies, if it names one.
    fn config_of(&self, d: &Deployment) -> Option<String> {
        let checked = mig::blueprint::check(&d.blueprint, Context::default());
        match checked.blueprint?.action {
            mig::blueprint::Action::Update(u) => u.mig_config,
            mig::blueprint::Action::SharedNodePool(p) => p.mig_config,
            _ => None,
        }
    }

    /// Deployment `id`, which must exist.
    async fn existing(&self, id: i64) -> Result<Deployment, OrchestratorError> {
        self.inner
            .store
            .deployment(id)
            .await?
            .ok_or(OrchestratorError::NotFound(id))
    }

    /// What update `id` replaced on each node it reconfigured: the newest completed deployment
    /// before it that gave the node a MIG config (`None` for a node migboard has no earlier layout
    /// of: set before migboard, or by hand).
    ///
    /// # Errors
    /// [`OrchestratorError::NotFound`]; [`OrchestratorError::Store`].
    pub async fn previous_layouts(
        &self,
        id: i64,
    ) -> Result<Vec<mig::wire::PreviousLayout>, OrchestratorError> {
        let detail = self.detail(id).await?.ok_or(OrchestratorError::NotFound(id))?;
        if detail.deployment.mode != "update" {
            return Ok(Vec::new());
        }
        let mut previous = Vec::with_capacity(detail.nodes.len());
        for node in detail.nodes.iter().map(|n| n.node.clone()) {
            let mut found = None;
            for d in self.inner.store.deployments_touching(&node).await? {
                if d.id >= id || !matches!(d.status, DeploymentStatus::Completed | DeploymentStatus::Active) {
                    continue;
                }
                let Some(config) = self.config_of(&d) else {
                    continue;
                };
                // Touching may mean only naming the node in a message: it must have been
                // reconfigured by that deployment.
                let prefix = format!("reconfigure/{node}/");
                if !self
                    .inner
                    .store
                    .steps(d.id)
                    .await?
                    .iter()
                    .any(|s| s.key.starts_with(&prefix))
                {
                    continue;
                }
                found = Some(self.layout_change(&d, config).await?);
                break;
            }
            previous.push(mig::wire::PreviousLayout {
                node,
                layout: found,
            });
        }
        Ok(previous)
    }

    /// Puts every node update `id` reconfigured back on the layout it had before (see
    /// [`Orchestrator::previous_layouts`]): one update deployment per node. The update must be
    /// finished, and every node's earlier layout known.
    ///
    /// # Errors
    /// [`OrchestratorError::NotFound`]; [`OrchestratorError::Conflict`] for a deployment that is
    /// no update, still running, or replaced a layout migboard has no record of;
    /// [`OrchestratorError::Invalid`] as [`Orchestrator::submit`].
    pub async fn revert_update(
        &self,
        id: i64,
        drain: bool,
        actor: &Actor,
    ) -> Result<Vec<DeploymentInfo>, OrchestratorError> {
        let d = self.existing(id).await?;
        if d.mode != "update" {
            return Err(OrchestratorError::Conflict(format!(
                "deployment {id} ({}) is a {} deployment, not an update: undeploy it instead",
                d.name, d.mode
            )));
        }
        if !matches!(d.status, DeploymentStatus::Completed | DeploymentStatus::Failed) {
            return Err(OrchestratorError::Conflict(format!(
                "deployment {id} ({}) is {}: revert it once it has finished",
                d.name,
                d.status.as_str()
            )));
        }
        let previous = self.previous_layouts(id).await?;
        if previous.is_empty() {
            return Err(OrchestratorError::Conflict(format!(
                "deployment {id} ({}) reconfigured no node: there is nothing to revert",
                d.name
            )));
        }
        let unknown: Vec<&str> = previous
            .iter()
            .filter(|p| p.layout.is_none())
            .map(|p| p.node.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(OrchestratorError::Conflict(format!(
                "migboard has no earlier layout of {} on record (set before migboard, or by hand): apply the layout you want with an update instead",
                unknown.join(", ")
            )));
        }
        let mut started = Vec::with_capacity(previous.len());
        for p in previous {
            if let Some(layout) = p.layout {
                started.push(self.revert(&p.node, layout.deployment_id, drain, actor).await?);
            }
        }
        Ok(started)
    }

    /// Puts `node` back on the layout deployment `from` applied to it: an update deployment of
    /// the same config at the same version (a custom config's version is fixed even if it changed
    /// since).
    ///
    /// # Errors
    /// [`OrchestratorError::NotFound`]; [`OrchestratorError::BadRequest`] when `from` applied no
    /// MIG config; [`OrchestratorError::Invalid`] as [`Orchestrator::submit`].
    pub async fn revert(
        &self,
        node: &str,
        from: i64,
        drain: bool,
        actor: &Actor,
    ) -> Result<DeploymentInfo, OrchestratorError> {
        let d = self.existing(from).await?;
        let config = self.config_of(&d).ok_or_else(|| {
            OrchestratorError::BadRequest(format!(
                "deployment {from} ({}) applied no MIG config to revert to",
                d.name
            ))
        })?;
        let version = self.inner.store.pinned_version(from, &config).await?;
        let label = version.map_or_else(|| config.clone(), |v| format!("{config}-v{v}"));
        let pin = version.map(|v| (config.clone(), v));
        let blueprint = serde_json::json!({
            "recipe_mode": "update",
            "deployment_name": format!("revert-{node}-to-{label}-{}", now_ms() % 1_000_000),
            "recipe_node_name": node,
            "shared_node_pool_mig_config": config,
        })
        .to_string();
        self.submit_pinned(
            &blueprint,
            Rollout {
                drain,
                ..Rollout::default()
            },
            actor,
            pin,
        )
        .await
    }

    async fn info(&self, d: &Deployment) -> Result<DeploymentInfo, StoreError> {
        let steps: Vec<StepInfo> = self.inner.store.steps(d.id).await?;
        Ok(d.info(progress_of(&steps)))
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

    async fn set_status(
        &self,
        id: i64,
        status: DeploymentStatus,
        message: &str,
    ) -> Result<(), StoreError> {
        self.inner.store.set_status(id, status, message).await?;
        tracing::info!(id, status = status.as_str(), %message, "deployment status");
        self.announce(id).await.map(|_| ())
    }

    async fn step(
        &self,
        id: i64,
        key: &str,
        state: StepState,
        message: &str,
    ) -> Result<(), Failure> {
        let step = self
            .inner
            .store
            .record_step(id, key, state, message)
            .await?;
        self.inner.step_metrics.record(id, key, state);
        self.publish(Event::Step {
            deployment_id: id,
            step,
        });
        Ok(())
    }
}

fn progress_of(steps: &[StepInfo]) -> Progress {
    Progress {
        done: u32::try_from(steps.iter().filter(|s| s.is_done()).count()).unwrap_or(u32::MAX),
        total: u32::try_from(steps.len()).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::cluster::{Applied, BoxFuture, NewNode, WorkloadRequest};
    use mig::agent_api::ApplyRequest;
    use mig::wire::FleetPoolInfo;

    /// A cluster whose every fleet read takes 20 ms and is numbered in its one pool's name.
    #[derive(Debug, Default)]
    struct Counting {
        reads: AtomicU64,
    }

    fn no<T>() -> BoxFuture<'static, Result<T, ClusterError>> {
        Box::pin(async { Err(ClusterError::Unsupported("a test cluster".into())) })
    }

    impl Cluster for Counting {
        fn describe(&self) -> String {
            "counting".into()
        }
        fn fleet(&self) -> BoxFuture<'_, Fleet> {
            Box::pin(async move {
                let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                Fleet {
                    pools: vec![FleetPoolInfo {
                        name: format!("read-{n}"),
                        shape: "BM.GPU.H100.8".into(),
                        max_pods_per_node: 1,
                        dedicated_to: None,
                    }],
                    nodes: Vec::new(),
                }
            })
        }
        fn apply<'a>(&'a self, _: &'a str, _: &'a ApplyRequest) -> BoxFuture<'a, Result<Applied, ClusterError>> {
            no()
        }
        fn start_workload<'a>(&'a self, _: &'a str, _: &'a WorkloadRequest) -> BoxFuture<'a, Result<(), ClusterError>> {
            no()
        }
        fn stop_workloads<'a>(&'a self, _: &'a str, _: u32, _: u8) -> BoxFuture<'a, Result<u32, ClusterError>> {
            no()
        }
        fn add_node<'a>(&'a self, _: &'a NewNode) -> BoxFuture<'a, Result<(), ClusterError>> {
            no()
        }
        fn remove_node<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
            no()
        }
    }

    #[tokio::test]
    async fn concurrent_refreshes_share_reads_and_each_gets_one_that_began_after_it_asked() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let cluster = Arc::new(Counting::default());
        let o = Orchestrator::new(store, cluster.clone(), SharedCatalogue::default(), Options::default()).await;
        let before = cluster.reads.load(Ordering::SeqCst);
        let asks: Vec<_> = (0..50)
            .map(|_| {
                let o = o.clone();
                let cluster = cluster.clone();
                tokio::spawn(async move {
                    // Reads begun before this ask cannot answer it.
                    let begun = cluster.reads.load(Ordering::SeqCst);
                    let fleet = o.refresh().await;
                    let n: u64 = fleet.pools[0].name.trim_start_matches("read-").parse().expect("numbered");
                    (begun, n)
                })
            })
            .collect();
        for ask in asks {
            let (begun, n) = ask.await.expect("task");
            assert!(n > begun, "answered by read {n}, which began before the ask (reads begun then: {begun})");
        }
        let reads = cluster.reads.load(Ordering::SeqCst) - before;
        assert!(
            (1..=3).contains(&reads),
            "50 concurrent refreshes made {reads} fleet reads; they should share a few"
        );
    }
}
