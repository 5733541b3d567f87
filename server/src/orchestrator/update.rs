//! `update` deployments and MIG changes: apply a config to nodes (GPU by GPU where migboard places
//! replicas, a whole node where the cluster schedules), check or drain busy instances, and move the
//! replicas a drain displaced.

use std::collections::{BTreeMap, BTreeSet};

use mig::agent_api::{ApplyRequest, ApplyTarget};
use mig::blueprint::{Action, Target};
use mig::wire::{DeploymentStatus, PlacementInfo, PlacementState, StepState};
use mig::{GpuModel, GpuWant, NamedConfig};

use super::{Failure, Orchestrator, Outcome};
use crate::cluster::{ClusterError, Scheduling};
use crate::store::{Deployment, Placement};

/// How a step changes a node: an agent request (GPU by GPU), or a whole config handed to a
/// cluster that applies by config (Kubernetes), at the version the deployment fixed.
enum Change<'a> {
    Request(&'a ApplyRequest),
    Config {
        config: &'a NamedConfig,
        drained: bool,
    },
}

/// The request that applies named config `config` to `gpus` (all when empty).
fn named(config: &str, gpus: &[u32], drained: bool) -> ApplyRequest {
    ApplyRequest::new(ApplyTarget::Named(config.to_owned()), gpus, drained)
}

/// The request that gives GPU `gpu` what `config` wants of it: a built-in by name (the agent
/// resolves and places it as migboard does), a custom config's exact placements as drawn.
fn request_for(config: &NamedConfig, want: &GpuWant, gpu: u32, drained: bool) -> ApplyRequest {
    match (&config.custom, want) {
        (None, _) => named(&config.name, &[gpu], drained),
        (Some(_), GpuWant::Layout(l)) => {
            ApplyRequest::new(ApplyTarget::Layout(l.to_specs()), &[gpu], drained)
        }
        (Some(_), GpuWant::Disabled | GpuWant::Untouched) => named("all-disabled", &[gpu], drained),
    }
}

/// Whether deployment `d` may reset GPUs whose MIG mode change waits for one: when it drains
/// busy nodes (its operator agreed to stop what runs), or creates a pool or a workload's nodes of
/// its own (new nodes run nothing; a workload reconfigures no other node). The agent still refuses
/// to reset a GPU with processes on it.
fn may_reset(d: &Deployment) -> bool {
    d.drain || matches!(d.mode.as_str(), "shared_node_pool" | "service" | "job")
}

/// How steps and messages name a config: `all-balanced`, or `inference-mix v3`.
pub(super) fn config_label(config: &NamedConfig) -> String {
    match &config.custom {
        Some(c) => format!("{} v{}", config.name, c.version),
        None => config.name.clone(),
    }
}

/// How a rollout step names batch `i` (from 0) of `of`: "batch 2 of 3: 10.0.10.13, 10.0.10.14".
fn batch_label(i: usize, of: usize, batch: &[String]) -> String {
    format!("batch {} of {of}: {}", i + 1, batch.join(", "))
}

/// When a batch of a rollout (`batched`: more than one batch) had a node fail for good, the message
/// the rollout pauses with: which node failed and why, and the nodes after it left untouched.
/// `None` otherwise (a transient failure is retried as ever; a single batch fails as ever).
fn paused(
    id: i64,
    failed: &[(&String, Failure)],
    i: usize,
    batches: &[&[String]],
    batched: bool,
) -> Option<String> {
    if !batched {
        return None;
    }
    let why: Vec<String> = failed
        .iter()
        .filter_map(|(node, f)| match f {
            Failure::Permanent(m) => Some(format!("{node}: {m}")),
            _ => None,
        })
        .collect();
    if why.is_empty() {
        return None;
    }
    let later: Vec<&str> = batches[i + 1..]
        .iter()
        .flat_map(|b| b.iter().map(String::as_str))
        .collect();
    let untouched = if later.is_empty() {
        "no batch after it".to_owned()
    } else {
        format!("{} node(s) after it untouched ({})", later.len(), later.join(", "))
    };
    Some(format!(
        "rollout paused at batch {} of {}: {}; {untouched}. Fix the cause and resume to retry the failed node(s) and go on (\"Resume\" on this deployment's page, or POST /api/v1/deployments/{id}/resume)",
        i + 1,
        batches.len(),
        why.join("; ")
    ))
}

/// A rollout's batches: `max_unavailable` nodes at a time, each a `rollout/<n>` step when there is
/// more than one (one batch is no rollout to pause: its failure fails the deployment as ever).
struct Batches<'n> {
    id: i64,
    all: Vec<&'n [String]>,
}

impl<'n> Batches<'n> {
    fn of(d: &Deployment, nodes: &'n [String]) -> Self {
        Self {
            id: d.id,
            all: nodes.chunks(d.max_unavailable.max(1) as usize).collect(),
        }
    }

    fn batched(&self) -> bool {
        self.all.len() > 1
    }

    fn key(i: usize) -> String {
        format!("rollout/{}", i + 1)
    }

    /// Lists every batch as a pending step (those not listed before), so the page shows them all.
    async fn announce(&self, o: &Orchestrator) -> Result<(), Failure> {
        if !self.batched() {
            return Ok(());
        }
        let known: BTreeSet<String> = o
            .inner
            .store
            .steps(self.id)
            .await?
            .into_iter()
            .map(|s| s.key)
            .collect();
        for (i, batch) in self.all.iter().enumerate() {
            if !known.contains(&Self::key(i)) {
                o.step(self.id, &Self::key(i), StepState::Pending, &batch_label(i, self.all.len(), batch))
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts batch `i`; `false` when it was done before (skip it).
    async fn start(&self, o: &Orchestrator, i: usize, done: &BTreeSet<String>) -> Result<bool, Failure> {
        if !self.batched() {
            return Ok(true);
        }
        if done.contains(&Self::key(i)) {
            return Ok(false);
        }
        o.step(self.id, &Self::key(i), StepState::Running, &batch_label(i, self.all.len(), self.all[i]))
            .await?;
        Ok(true)
    }

    /// Batch `i`'s nodes' `results`, in `batch` order: a node failed for good pauses the rollout
    /// (the step says so); otherwise the first failure is the deployment's (retried or failed as ever).
    async fn check(
        &self,
        o: &Orchestrator,
        i: usize,
        batch: &[String],
        results: Vec<Result<(), Failure>>,
    ) -> Result<(), Failure> {
        let failed: Vec<(&String, Failure)> = batch
            .iter()
            .zip(results)
            .filter_map(|(node, r)| r.err().map(|e| (node, e)))
            .collect();
        if let Some(message) = paused(self.id, &failed, i, &self.all, self.batched()) {
            o.step(self.id, &Self::key(i), StepState::Failed, &message).await?;
            return Err(Failure::Paused(message));
        }
        match failed.into_iter().next() {
            Some((_, f)) => Err(f),
            None => Ok(()),
        }
    }

    /// Batch `i` is through.
    async fn done(&self, o: &Orchestrator, i: usize) -> Result<(), Failure> {
        if self.batched() {
            o.step(
                self.id,
                &Self::key(i),
                StepState::Done,
                &format!("{} done", batch_label(i, self.all.len(), self.all[i])),
            )
            .await?;
        }
        Ok(())
    }
}

impl Orchestrator {
    pub(super) async fn run_update(
        &self,
        d: &Deployment,
        update: &mig::blueprint::Update,
    ) -> Outcome {
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
            StepState::Done,
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
                self.step(d.id, "labels", StepState::Skipped, "node labels are recorded in the blueprint; the embedded fleet has no node labels to set").await?;
            } else {
                let names: Vec<&String> = update.labels.keys().collect();
                self.step(
                    d.id,
                    "labels",
                    StepState::Done,
                    &format!("labels {names:?} set on {}", set.join(", ")),
                )
                .await?;
            }
        }
        match &update.mig_config {
            Some(config) => {
                let label = self.reconfigure(d, &nodes, config).await?;
                Ok((
                    DeploymentStatus::Completed,
                    format!("{what} now on {label}"),
                ))
            }
            None => Ok((
                DeploymentStatus::Completed,
                format!("{what}: nothing to change"),
            )),
        }
    }

    /// Config `name` for `model` as deployment `d` applies it: the custom config version it fixed
    /// when it was submitted (even if the config changed or was deleted since), else the
    /// catalogue's.
    pub(super) async fn config_for(
        &self,
        d: &Deployment,
        name: &str,
        model: GpuModel,
    ) -> Result<NamedConfig, Failure> {
        if let Some(version) = self.inner.store.pinned_version(d.id, name).await? {
            let stored = self
                .inner
                .store
                .mig_config_version(name, version)
                .await?
                .ok_or_else(|| {
                    Failure::Permanent(format!("custom MIG config {name} v{version} is not stored"))
                })?;
            let config = stored.config.validate(|_| false).map_err(|issues| {
                let why: Vec<String> = issues
                    .iter()
                    .map(|i| format!("{}: {}", i.path, i.message))
                    .collect();
                Failure::Permanent(format!(
                    "custom MIG config {name} v{version} no longer validates: {}",
                    why.join("; ")
                ))
            })?;
            if config.model() != model {
                return Err(Failure::Permanent(format!(
                    "custom MIG config {name} is for {}, not {}",
                    config.model().spec().display_name,
                    model.spec().display_name
                )));
            }
            return Ok(NamedConfig::from_custom(&config, version));
        }
        self.inner
            .catalogue
            .get()
            .config(model, name)
            .cloned()
            .ok_or_else(|| {
                Failure::Permanent(format!(
                    "{name} is not a MIG config of {}",
                    model.spec().display_name
                ))
            })
    }

    /// [`Orchestrator::config_for`], read once per model into `cache` for a rollout over many nodes.
    async fn config_once<'c>(
        &self,
        cache: &'c mut BTreeMap<GpuModel, NamedConfig>,
        d: &Deployment,
        name: &str,
        model: GpuModel,
    ) -> Result<&'c NamedConfig, Failure> {
        Ok(match cache.entry(model) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(self.config_for(d, name, model).await?)
            }
        })
    }

    /// Applies `config` to every GPU of `nodes` it names, one GPU at a time, each a step. Refuses
    /// (or, when the deployment allows it, drains) when instances it would destroy run workloads.
    /// Returns how messages name the config (`name vN` for a custom one).
    pub(super) async fn reconfigure(
        &self,
        d: &Deployment,
        nodes: &[String],
        config: &str,
    ) -> Result<String, Failure> {
        let _changing = self.changing(nodes);
        if self.schedules() == Scheduling::Cluster {
            self.reconfigure_nodes(d, nodes, config).await?;
            return Ok(config.to_owned());
        }
        let mut label = config.to_owned();
        let mut applied_version = None;
        // The config at the version the deployment fixed, per GPU model (read once per model).
        let mut configs: BTreeMap<GpuModel, NamedConfig> = BTreeMap::new();
        let fleet = self.refresh().await;
        let steps = self.inner.store.steps(d.id).await?;
        let known: BTreeSet<&str> = steps.iter().map(|s| s.key.as_str()).collect();
        let busy_checked = steps
            .iter()
            .any(|s| s.key == "busy-check" && s.state == StepState::Done);
        // The check runs before any GPU changes: it heads the step list.
        if !known.contains("busy-check") {
            self.step(
                d.id,
                "busy-check",
                StepState::Pending,
                "checking that no instance this update destroys runs a workload",
            )
            .await?;
        }
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
                .config_once(&mut configs, d, config, shape.model)
                .await?
                .clone();
            label = config_label(&named);
            applied_version = named.custom.as_ref().map(|c| c.version);
            for gpu in &node.gpus {
                let want = named
                    .gpu_want(shape.model, gpu.index)
                    .map_err(Failure::Permanent)?;
                let kept = match &want {
                    // A GPU the config does not name is left as it is: nothing to apply or check.
                    GpuWant::Untouched => continue,
                    GpuWant::Disabled => Vec::new(),
                    GpuWant::Layout(l) => l.to_specs(),
                };
                let key = format!("reconfigure/{name}/{}", gpu.index);
                if !known.contains(key.as_str()) {
                    self.step(
                        d.id,
                        &key,
                        StepState::Pending,
                        &format!("{label} on {name} GPU {}", gpu.index),
                    )
                    .await?;
                }
                let request =
                    request_for(&named, &want, gpu.index, d.drain).with_reset(may_reset(d));
                work.push((name.clone(), gpu.index, key, request));
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
        let listed: Vec<&str> = conflicts.iter().map(|c| c.3.as_str()).collect();
        if !conflicts.is_empty() && !d.drain {
            let message = format!(
                "not idle: {label} would destroy MIG instances in use: {}. Retry with drain to move them to free slices while it reconfigures (\"Retry with drain\" on this deployment's page, the editor's \"Drain busy nodes\", or POST /api/v1/deployments?drain=true), or undeploy those workloads first",
                listed.join("; ")
            );
            self.step(d.id, "busy-check", StepState::Failed, &message)
                .await?;
            return Err(Failure::Permanent(message));
        }
        if !busy_checked {
            let message = if conflicts.is_empty() {
                "idle: no instance to destroy runs a workload".to_owned()
            } else {
                format!("busy, draining first (each batch's nodes before changing them): {}", listed.join("; "))
            };
            self.step(d.id, "busy-check", StepState::Done, &message)
                .await?;
        }
        let batches = Batches::of(d, nodes);
        batches.announce(self).await?;
        for (i, batch) in batches.all.iter().enumerate() {
            if !batches.start(self, i, &done).await? {
                continue;
            }
            // This batch's busy instances only: the nodes after it are not touched yet.
            let mut by_node: BTreeMap<&str, Vec<(u32, u8)>> = BTreeMap::new();
            for (node, gpu, start, _) in &conflicts {
                if batch.contains(node) {
                    by_node.entry(node).or_default().push((*gpu, *start));
                }
            }
            let drained = !by_node.is_empty();
            for (node, slices) in by_node {
                let key = format!("drain/{node}");
                self.step(
                    d.id,
                    &key,
                    StepState::Running,
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
                    StepState::Done,
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
            // The batch's nodes at once, each GPU by GPU.
            let results = futures_util::future::join_all(batch.iter().map(|node| {
                let work = &work;
                let done = &done;
                let label = &label;
                async move {
                    for (_, gpu, key, request) in work.iter().filter(|w| &w.0 == node) {
                        if done.contains(key) {
                            continue;
                        }
                        let what = (
                            format!("applying {label} to {node} GPU {gpu}"),
                            format!("{node} GPU {gpu} on {label}"),
                        );
                        self.apply_step(d.id, key, node, Change::Request(request), what)
                            .await?;
                    }
                    Ok::<(), Failure>(())
                }
            }))
            .await;
            if drained {
                self.reschedule(d.id).await?;
            }
            batches.check(self, i, batch, results).await?;
            for node in *batch {
                self.inner
                    .store
                    .set_desired_version(node, config, applied_version)
                    .await?;
            }
            batches.done(self, i).await?;
        }
        self.reschedule(d.id).await?;
        Ok(label)
    }

    /// Step `key` of deployment `id`: applies `request` to `node`, recorded as running (`what.0`)
    /// then done (`what.1`), or failed when the cluster refuses for good; then reads the fleet.
    async fn apply_step(
        &self,
        id: i64,
        key: &str,
        node: &str,
        change: Change<'_>,
        what: (String, String),
    ) -> Result<(), Failure> {
        self.step(id, key, StepState::Running, &what.0).await?;
        let (result, may_reset) = match change {
            Change::Request(request) => {
                (self.inner.cluster.apply(node, request).await, request.reset)
            }
            Change::Config { config, drained } => (
                self.inner.cluster.apply_config(node, config, drained).await,
                true,
            ),
        };
        let applied = match result {
            Ok(a) => a,
            Err(e) => {
                let f = Failure::from(e);
                if let Failure::Permanent(m) = &f {
                    self.step(id, key, StepState::Failed, m).await?;
                }
                return Err(f);
            }
        };
        if !applied.reset_pending.is_empty() {
            let gpus: Vec<String> = applied
                .reset_pending
                .iter()
                .map(ToString::to_string)
                .collect();
            let how = if may_reset {
                "migboard could not reset it: reset it by hand when idle (nvidia-smi --gpu-reset -i N) or reboot the node"
            } else {
                "reset it when idle (nvidia-smi --gpu-reset -i N) or reboot the node, or deploy this update again with \"Drain busy nodes\" so migboard drains and resets it"
            };
            let message = format!(
                "waiting for GPU reset on {node} GPU {}: its MIG mode change takes effect at the reset; {how}",
                gpus.join(", ")
            );
            self.step(id, key, StepState::Running, &message).await?;
            self.refresh().await;
            return Err(Failure::Waiting(message));
        }
        self.step(id, key, StepState::Done, &what.1).await?;
        self.refresh().await;
        Ok(())
    }

    /// [`Orchestrator::reconfigure`] on a cluster that schedules its own pods: a whole node at a time;
    /// the cluster checks the node is idle of GPU pods (or drains it when the deployment allows) and
    /// its controllers reschedule what was evicted.
    pub(super) async fn reconfigure_nodes(
        &self,
        d: &Deployment,
        nodes: &[String],
        config: &str,
    ) -> Result<(), Failure> {
        let done = self.done_steps(d.id).await?;
        let fleet = self.fleet();
        // The config at the version the deployment fixed, per GPU model (read once per model).
        let mut configs: BTreeMap<GpuModel, NamedConfig> = BTreeMap::new();
        let how = if d.drain {
            ", draining its GPU pods first if any run"
        } else {
            ""
        };
        // Per node: its step, and the config at the version the deployment fixed when the node's
        // model is known (else the catalogue's by name, which the cluster resolves).
        let mut work = Vec::new();
        for node in nodes {
            let model = fleet
                .nodes
                .iter()
                .find(|n| &n.name == node)
                .and_then(|n| n.gpus.iter().find_map(|g| g.model));
            let pinned = match model {
                Some(model) => Some(
                    self.config_once(&mut configs, d, config, model)
                        .await?
                        .clone(),
                ),
                None => None,
            };
            work.push((node.clone(), pinned));
        }
        let request = named(config, &[], d.drain).with_reset(may_reset(d));
        let batches = Batches::of(d, nodes);
        batches.announce(self).await?;
        for (i, batch) in batches.all.iter().enumerate() {
            if !batches.start(self, i, &done).await? {
                continue;
            }
            // The batch's nodes at once: the cluster checks (or drains) and applies each.
            let results = futures_util::future::join_all(batch.iter().map(|node| {
                let work = &work;
                let done = &done;
                let request = &request;
                async move {
                    let key = format!("reconfigure/{node}");
                    if done.contains(&key) {
                        return Ok(());
                    }
                    let pinned = work
                        .iter()
                        .find(|(n, _)| n == node)
                        .and_then(|(_, p)| p.as_ref());
                    let label = pinned.map_or_else(|| config.to_owned(), config_label);
                    let what = (
                        format!("applying {label} to {node}{how}"),
                        format!("{node} on {label}"),
                    );
                    let change = match pinned {
                        Some(config) => Change::Config {
                            config,
                            drained: d.drain,
                        },
                        None => Change::Request(request),
                    };
                    self.apply_step(d.id, &key, node, change, what).await?;
                    let version = match pinned {
                        Some(c) => c.custom.as_ref().map(|c| c.version),
                        None => self.inner.store.pinned_version(d.id, config).await?,
                    };
                    self.inner
                        .store
                        .set_desired_version(node, config, version)
                        .await?;
                    Ok::<(), Failure>(())
                }
            }))
            .await;
            batches.check(self, i, batch, results).await?;
            batches.done(self, i).await?;
        }
        Ok(())
    }

    /// Places every displaced replica again (after a drain), or fails its deployment. Each move is
    /// a step of `by` marked running before the replica's row moves, so a move interrupted after it
    /// (a crash, a database hiccup) is finished on the next run rather than forgotten.
    pub(super) async fn reschedule(&self, by: i64) -> Result<(), Failure> {
        let all = self.inner.store.all_placements().await?;
        let interrupted: BTreeSet<(i64, u32)> = self
            .inner
            .store
            .steps(by)
            .await?
            .into_iter()
            .filter(|s| s.state == StepState::Running)
            .filter_map(|s| {
                let mut parts = s.key.strip_prefix("reschedule/")?.split('/');
                Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
            })
            .collect();
        let todo: Vec<Placement> = all
            .into_iter()
            .filter(|p| {
                p.state == PlacementState::Displaced
                    || interrupted.contains(&(p.deployment_id, p.replica))
            })
            .collect();
        for p in todo {
            let owner = self.inner.store.deployment(p.deployment_id).await?;
            let name = owner.as_ref().map(|o| o.name.clone()).unwrap_or_default();
            let key = format!("reschedule/{}/{}", p.deployment_id, p.replica);
            let moved_key = format!("moved/{by}/{}", p.replica);
            if p.state == PlacementState::Placed {
                // Moved already; finish what the interruption left: run it, record it.
                self.start_replica(&p).await?;
                let message = format!(
                    "{name} replica {} runs on {} GPU {} ({} at slice {})",
                    p.replica, p.node, p.gpu, p.profile, p.start
                );
                self.step(by, &key, StepState::Done, &message).await?;
                self.step(p.deployment_id, &moved_key, StepState::Done, &message)
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
            match self.free_slot(&fleet, &p.profile, &shape, None).await? {
                Some((node, gpu, start)) => {
                    self.step(
                        by,
                        &key,
                        StepState::Running,
                        &format!("moving {name} replica {} to {node} GPU {gpu}", p.replica),
                    )
                    .await?;
                    let moved = Placement {
                        deployment_id: p.deployment_id,
                        info: PlacementInfo {
                            node: node.clone(),
                            gpu,
                            start,
                            state: PlacementState::Placed,
                            ..p.info.clone()
                        },
                    };
                    self.inner.store.place(&moved).await?;
                    self.start_replica(&moved).await?;
                    let message = format!(
                        "{name} replica {} moved from {} GPU {} to {node} GPU {gpu} ({} at slice {start})",
                        p.replica, p.node, p.gpu, p.profile
                    );
                    self.step(by, &key, StepState::Done, &message).await?;
                    self.step(p.deployment_id, &moved_key, StepState::Done, &message)
                        .await?;
                }
                None => {
                    let message = format!(
                        "replica {} lost its {} slice on {} in a drain and no free {} slice is left",
                        p.replica, p.profile, p.node, p.profile
                    );
                    self.step(by, &key, StepState::Failed, &format!("{name}: {message}"))
                        .await?;
                    if owner
                        .as_ref()
                        .is_some_and(|o| o.status == DeploymentStatus::Monitoring)
                    {
                        self.set_status(p.deployment_id, DeploymentStatus::Failed, &message)
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
}
