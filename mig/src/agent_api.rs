//! The node agent's HTTP API: the one contract between the server and `migboard-agent`.
//!
//! Both sides compile against these types: the agent serialises them, the server's agent client
//! deserialises them, and neither indexes JSON by strings. A change here is a change of the
//! protocol, seen by the compiler on both sides.
//!
//! | route | request | answer |
//! |---|---|---|
//! | `GET /v1/inventory` | | [`Inventory`] |
//! | `POST /v1/apply` | [`ApplyRequest`] | 202 [`Accepted`], or an [`ErrorBody`] |
//! | `GET /v1/operations/{id}` | | [`Operation`] |
//! | `GET /v1/operations/{id}/events` | | SSE: `step` = [`StepDone`], then `done` = [`Operation`] |
//! | `POST /v1/workloads` | [`WorkloadRequest`] | 201 [`WorkloadRequest`] (simulated GPUs only) |
//! | `DELETE /v1/workloads/{gpu}/{start}` | | [`Stopped`] |
//!
//! One process may serve many simulated nodes (`migboard-agent serve-many`, how the embedded fleet
//! runs hundreds of nodes without hundreds of processes): it reads a [`SimNodes`] on standard input
//! and serves each node's API, exactly as above, under [`node_prefix`] (`/nodes/{name}`), each with
//! its own token, simulated GPUs, state file and journal.
//!
//! Every error is an [`ErrorBody`]: `{"error": {"code", "message", "instances"?}}` with a
//! [`ErrorCode`] the caller matches on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diff::{MigMode, Step};
use crate::layout::InstanceSpec;

/// `POST /v1/apply`: what to apply to which GPUs of the node.
///
/// On the wire exactly one of `config` (a named config), `layout` (the same explicit instances on
/// every chosen GPU) or `per_gpu` (explicit instances per GPU index) is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawApplyRequest", into = "RawApplyRequest")]
pub struct ApplyRequest {
    /// What the GPUs should have.
    pub target: ApplyTarget,
    /// A mig-parted file's text to resolve a named config in; NVIDIA's defaults when absent.
    pub file: Option<String>,
    /// Only these GPUs (all when empty). With [`ApplyTarget::PerGpu`], the map's keys choose.
    pub gpus: Vec<u32>,
    /// The caller drained the node: skip the busy check (the driver still refuses busy instances).
    pub drained: bool,
    /// A GPU whose MIG mode change waits for a reset may be reset now (refused while processes
    /// run on it); without it the apply ends with [`Outcome::ResetRequired`].
    pub reset: bool,
}

impl ApplyRequest {
    /// A request for `target` on `gpus` (all when empty).
    #[must_use]
    pub fn new(target: ApplyTarget, gpus: &[u32], drained: bool) -> Self {
        Self {
            target,
            file: None,
            gpus: gpus.to_vec(),
            drained,
            reset: false,
        }
    }

    /// The same request, allowing (or not) GPU resets.
    #[must_use]
    pub fn with_reset(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }
}

/// What an apply asks the GPUs to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyTarget {
    /// A named config (mig-parted's semantics: counts per profile, placed to keep what exists).
    Named(String),
    /// Exactly these instances at these starts on every chosen GPU (empty: MIG on, no instances).
    Layout(Vec<InstanceSpec>),
    /// Exactly these instances per GPU index; GPUs not named are left as they are.
    PerGpu(BTreeMap<u32, Vec<InstanceSpec>>),
}

impl ApplyTarget {
    /// How operations and messages name it: the config's name, or `explicit layout`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Named(name) => name.clone(),
            Self::Layout(_) => "explicit layout".to_owned(),
            Self::PerGpu(_) => "explicit per-GPU layout".to_owned(),
        }
    }
}

/// [`ApplyRequest`] as the JSON spells it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layout: Option<Vec<InstanceSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_gpu: Option<BTreeMap<u32, Vec<InstanceSpec>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default)]
    gpus: Vec<u32>,
    #[serde(default)]
    drained: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reset: bool,
}

impl TryFrom<RawApplyRequest> for ApplyRequest {
    type Error = String;

    fn try_from(raw: RawApplyRequest) -> Result<Self, String> {
        let target = match (raw.config, raw.layout, raw.per_gpu) {
            (Some(name), None, None) => ApplyTarget::Named(name),
            (None, Some(layout), None) => ApplyTarget::Layout(layout),
            (None, None, Some(per_gpu)) => ApplyTarget::PerGpu(per_gpu),
            _ => {
                return Err("give one of `config` (a named MIG config), `layout` (a list of {profile, start}) or `per_gpu` ({\"0\": [{profile, start}]}), not both or none".to_owned());
            }
        };
        Ok(Self {
            target,
            file: raw.file,
            gpus: raw.gpus,
            drained: raw.drained,
            reset: raw.reset,
        })
    }
}

impl From<ApplyRequest> for RawApplyRequest {
    fn from(r: ApplyRequest) -> Self {
        let mut raw = Self {
            file: r.file,
            gpus: r.gpus,
            drained: r.drained,
            reset: r.reset,
            ..Self::default()
        };
        match r.target {
            ApplyTarget::Named(name) => raw.config = Some(name),
            ApplyTarget::Layout(layout) => raw.layout = Some(layout),
            ApplyTarget::PerGpu(per_gpu) => raw.per_gpu = Some(per_gpu),
        }
        raw
    }
}

/// 202 to `POST /v1/apply`: the operation to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Its id.
    pub operation: u64,
    /// `/v1/operations/{id}`.
    pub href: String,
}

/// An apply, as `GET /v1/operations/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Its id.
    pub id: u64,
    /// What was applied ([`ApplyTarget::label`]).
    pub config: String,
    /// Where it is.
    pub status: OperationStatus,
    /// Per GPU: the report, or the error in words.
    pub gpus: Vec<GpuResult>,
    /// Steps done so far, in order (what `/v1/operations/{id}/events` streams; not in the JSON).
    #[serde(skip)]
    pub progress: Vec<StepDone>,
}

impl Operation {
    /// The GPUs whose MIG mode change waits for a GPU reset.
    #[must_use]
    pub fn reset_required(&self) -> Vec<u32> {
        self.gpus
            .iter()
            .filter_map(|g| match g {
                GpuResult::Done(r) if r.outcome == Outcome::ResetRequired => Some(r.gpu),
                _ => None,
            })
            .collect()
    }

    /// The failed GPUs' errors, `GPU n: why` each.
    #[must_use]
    pub fn errors(&self) -> Vec<String> {
        self.gpus
            .iter()
            .filter_map(|g| match g {
                GpuResult::Failed { gpu, error } => Some(format!("GPU {gpu}: {error}")),
                GpuResult::Done(_) => None,
            })
            .collect()
    }
}

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Still applying.
    Running,
    /// Every GPU applied (or waits for a reset, which its report says).
    Succeeded,
    /// At least one GPU failed.
    Failed,
}

/// One GPU's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GpuResult {
    /// It applied.
    Done(ApplyReport),
    /// It failed.
    Failed {
        /// GPU index.
        gpu: u32,
        /// What went wrong.
        error: String,
    },
}

/// What an apply did to one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// GPU index.
    pub gpu: u32,
    /// The planned steps.
    pub steps: Vec<Step>,
    /// Mutating driver calls made.
    pub mutating_calls: u32,
    /// How it ended.
    pub outcome: Outcome,
}

/// How an apply to one GPU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The GPU already had the desired state; nothing was changed.
    AlreadyApplied,
    /// Changed and verified.
    Applied,
    /// The MIG mode change is pending until the GPU is reset; apply again after the reset.
    ResetRequired,
}

/// Progress of an apply: step `index` (0-based) of `total` on GPU `gpu` is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDone {
    /// GPU index.
    pub gpu: u32,
    /// Which step.
    pub index: usize,
    /// Of how many.
    pub total: usize,
    /// The step.
    pub step: Step,
}

/// A MIG instance with processes on it that a change would destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusyInstance {
    /// GPU index.
    pub gpu: u32,
    /// Profile name.
    pub profile: String,
    /// First memory slice.
    pub start: u8,
    /// The processes on it.
    pub pids: Vec<u32>,
}

impl BusyInstance {
    /// `GPU 0 1g.10gb at slice 3 (pids 4242, 4243)`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("GPU {} {}", self.gpu, self.describe_on_gpu())
    }

    /// `1g.10gb at slice 3 (pids 4242, 4243)`: within a message about one GPU.
    #[must_use]
    pub fn describe_on_gpu(&self) -> String {
        let pids: Vec<String> = self.pids.iter().map(ToString::to_string).collect();
        format!(
            "{} at slice {} (pids {})",
            self.profile,
            self.start,
            pids.join(", ")
        )
    }
}

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: AgentError,
}

/// An error the agent answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AgentError {
    /// What kind of error, to match on.
    pub code: ErrorCode,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// With [`ErrorCode::InUse`]: what is in the way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<BusyInstance>,
}

impl AgentError {
    /// An error of `code` saying `message`.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            instances: Vec::new(),
        }
    }
}

/// The kinds of error the agent answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No, a wrong or a refused credential (401): the message says which ([`crate::agent_auth::Refusal`]).
    Unauthorized,
    /// The request body is not an [`ApplyRequest`] (422) or a workload (400).
    BadRequest,
    /// The mig-parted file does not parse (422).
    BadConfigFile,
    /// The named config does not resolve for a GPU (422).
    BadConfig,
    /// An explicit layout breaks a placement rule (422).
    BadLayout,
    /// A GPU migboard has no MIG tables for (422).
    UnknownModel,
    /// A GPU index the node does not have (422).
    NoSuchGpu,
    /// Instances to destroy run processes (409, with [`AgentError::instances`]).
    InUse,
    /// Another apply is still running (409): wait and ask again.
    Busy,
    /// The driver failed (502, or 503 when there is no driver).
    Driver,
    /// Reading the GPUs failed (502).
    Observe,
    /// The apply journal could not be written; nothing changed (500).
    Journal,
    /// A simulated workload could not start or stop.
    Workload,
    /// No such operation or route (404).
    NotFound,
    /// A task of the agent failed (500).
    Internal,
    /// A code this build does not know (a newer agent).
    #[serde(other)]
    Unknown,
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The wire spelling.
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

/// A node agent's inventory answer (`GET /v1/inventory`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Inventory {
    /// Every GPU of the node.
    pub gpus: Vec<InventoryGpu>,
}

/// One GPU as a node agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryGpu {
    /// NVML device index.
    pub index: u32,
    /// `GPU-…` UUID.
    pub uuid: String,
    /// Product name.
    pub name: String,
    /// The model migboard knows it as, if any.
    pub model: Option<crate::GpuModel>,
    /// Total memory, MiB.
    pub memory_mib: u64,
    /// PCI device id with vendor (`0x233010DE`); 0 when not known (a fleet described as data).
    #[serde(default)]
    pub pci_device_id: u32,
    /// MIG mode in effect.
    pub mig_mode: MigMode,
    /// MIG mode after the next reset, when it differs.
    pub pending_mig_mode: Option<MigMode>,
    /// Its GPU instances (profile and start).
    pub instances: Vec<InstanceSpec>,
    /// Instances with processes on them.
    #[serde(default)]
    pub busy: Vec<BusySlice>,
    /// Its MIG devices (what workloads address), when the agent reads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mig_devices: Vec<MigDeviceInfo>,
}

impl InventoryGpu {
    /// A GPU as data describes it rather than an agent reports it (a fleet file, Kubernetes
    /// labels): `model` with `layout` (MIG off when `None`), no processes.
    #[must_use]
    pub fn described(
        index: u32,
        uuid: String,
        model: crate::GpuModel,
        layout: Option<&crate::Layout>,
    ) -> Self {
        let spec = model.spec();
        Self {
            index,
            uuid,
            name: spec.display_name.to_owned(),
            model: Some(model),
            memory_mib: u64::from(spec.memory_mib),
            pci_device_id: spec.pci_device_ids.first().copied().unwrap_or(0),
            mig_mode: if layout.is_some() {
                MigMode::Enabled
            } else {
                MigMode::Disabled
            },
            pending_mig_mode: None,
            instances: layout.map(crate::Layout::to_specs).unwrap_or_default(),
            busy: Vec::new(),
            mig_devices: Vec::new(),
        }
    }

    /// What this GPU has, in the terms a named config asks for: MIG off, or on with these instance
    /// counts. A config whose `desired` equals it is applied already (the agent places counts to keep
    /// the instances a GPU has, so where they start does not matter).
    #[must_use]
    pub fn observed(&self) -> crate::DesiredMig {
        match self.mig_mode {
            MigMode::Disabled => crate::DesiredMig::Disabled,
            MigMode::Enabled => {
                let mut counts = crate::ProfileCounts::default();
                self.instances
                    .iter()
                    .for_each(|i| counts.add(&i.profile, 1));
                crate::DesiredMig::Enabled(counts)
            }
        }
    }

    /// The memory slices its instances occupy, as a mask (bit `s` is slice `s`); an instance of a
    /// profile its model has no entry for counts as its first slice only. The slices outside it
    /// are stranded: no workload gets them until the layout changes.
    #[must_use]
    pub fn used_mask(&self) -> u8 {
        self.instances.iter().fold(0, |mask, i| {
            mask | self
                .model
                .and_then(|m| m.profile(&i.profile))
                .map_or_else(|| 1u8.checked_shl(u32::from(i.start)).unwrap_or(0), |p| p.mask_at(i.start))
        })
    }
}

impl crate::NamedConfig {
    /// Whether a node's GPUs are as this config asks: a built-in by counts per profile on every
    /// GPU, a custom config by exact placements on every GPU it names (GPUs it leaves untouched
    /// match anything, but it must name one of them). A GPU whose MIG mode waits for a reset
    /// matches nothing; no GPUs match nothing.
    #[must_use]
    pub fn matched_by(&self, model: crate::GpuModel, gpus: &[InventoryGpu]) -> bool {
        let names_one = self.custom.is_none()
            || gpus
                .iter()
                .any(|g| self.gpu_want(model, g.index) != Ok(crate::GpuWant::Untouched));
        names_one
            && gpus.iter().all(|g| {
                g.pending_mig_mode.is_none()
                    && match (&self.custom, self.gpu_want(model, g.index)) {
                        (None, _) => g.observed() == self.desired,
                        (Some(_), Ok(crate::GpuWant::Untouched)) => true,
                        (Some(_), Ok(crate::GpuWant::Disabled)) => g.mig_mode == MigMode::Disabled,
                        (Some(_), Ok(crate::GpuWant::Layout(l))) => {
                            let mut have = g.instances.clone();
                            have.sort();
                            let mut want = l.to_specs();
                            want.sort();
                            g.mig_mode == MigMode::Enabled && have == want
                        }
                        (Some(_), Err(_)) => false,
                    }
            })
    }
}

/// A GPU whose layout is not what its node's config asks (someone ran `nvidia-smi mig` by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuDrift {
    /// GPU index.
    pub gpu: u32,
    /// What the config asks: its instances, or `None` for MIG off.
    pub want: Option<Vec<InstanceSpec>>,
}

/// A node whose GPUs differ from the config migboard last applied to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// The config last applied.
    pub config: String,
    /// The GPUs that differ, with what the config asks of them.
    pub gpus: Vec<GpuDrift>,
}

impl crate::NamedConfig {
    /// The GPUs of `gpus` (a node of `model`) that differ from this config: a built-in compared by
    /// counts, a custom config by exact placements. GPUs waiting for a reset, and GPUs a custom
    /// config leaves alone, are not drift.
    #[must_use]
    pub fn drift(&self, model: crate::GpuModel, gpus: &[InventoryGpu]) -> Vec<GpuDrift> {
        gpus.iter()
            .filter(|g| g.pending_mig_mode.is_none())
            .filter_map(|g| {
                let want = match self.gpu_want(model, g.index) {
                    Ok(crate::GpuWant::Untouched) | Err(_) => return None,
                    Ok(crate::GpuWant::Disabled) => None,
                    Ok(crate::GpuWant::Layout(l)) => Some(l),
                };
                let same = match (&want, g.mig_mode) {
                    (None, MigMode::Disabled) => true,
                    (Some(l), MigMode::Enabled) if self.custom.is_some() => {
                        let mut have = g.instances.clone();
                        have.sort();
                        let mut specs = l.to_specs();
                        specs.sort();
                        have == specs
                    }
                    (Some(l), MigMode::Enabled) => {
                        g.observed() == crate::DesiredMig::Enabled(l.counts())
                    }
                    _ => false,
                };
                (!same).then(|| GpuDrift {
                    gpu: g.index,
                    want: want.map(|l| l.to_specs()),
                })
            })
            .collect()
    }
}

/// A GPU instance with processes on it, as the inventory lists it (with the memory they use; the
/// server adds who runs there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusySlice {
    /// Its profile.
    pub profile: String,
    /// Its first memory slice.
    pub start: u8,
    /// The processes.
    pub pids: Vec<u32>,
    /// Memory they use, MiB.
    pub used_memory_mib: u64,
    /// Who runs there, as the server knows it (`autoscale_mig replica 0`); agents leave it empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
}

/// A MIG device: what a workload sees (one per compute instance), with the UUID it is addressed by
/// (`NVIDIA_VISIBLE_DEVICES=MIG-…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigDeviceInfo {
    /// Its GPU instance.
    pub gpu_instance_id: u32,
    /// Its compute instance.
    pub compute_instance_id: u32,
    /// `MIG-…` UUID.
    pub uuid: String,
}

/// `POST /v1/workloads`: a simulated workload on a MIG instance (the embedded fleet's stand-in for
/// a pod; simulated GPUs only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRequest {
    /// GPU index.
    pub gpu: u32,
    /// First memory slice of the MIG instance it runs on.
    pub start: u8,
    /// Its process id.
    pub pid: u32,
    /// Memory it uses, MiB.
    #[serde(default)]
    pub memory_mib: u64,
}

/// `DELETE /v1/workloads/{gpu}/{start}`: how many stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// Workloads stopped (0 when none ran).
    pub stopped: u32,
}

/// What `migboard-agent serve-many` reads on standard input (never on its command line, where
/// tokens would show in `ps`): the simulated nodes one process serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimNodes {
    /// The nodes; names unique, each a [`valid_node_name`].
    pub nodes: Vec<SimNode>,
}

/// One simulated node of [`SimNodes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimNode {
    /// Node name: its API is served under [`node_prefix`] of it.
    pub name: String,
    /// Its GPUs, as `--simulate` takes them: `h100-80gbx8`.
    pub simulate: String,
    /// The bearer token its API wants.
    pub token: crate::wire::Secret,
    /// Where its simulated GPUs are kept across restarts (`--sim-state`), if anywhere.
    #[serde(default)]
    pub state: Option<String>,
    /// Its apply journal (`--journal`), if any: an interrupted apply is resumed at start.
    #[serde(default)]
    pub journal: Option<String>,
    /// How long each simulated change takes, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
}

/// At most this many nodes in one `serve-many` process (500 nodes × 8 GPUs is the scale migboard
/// is measured at; a few times that still fits one process).
pub const MAX_SIM_NODES: usize = 4096;

/// Where node `name`'s API lives in a `serve-many` process: `/nodes/{name}`.
#[must_use]
pub fn node_prefix(name: &str) -> String {
    format!("/nodes/{name}")
}

/// Whether `name` can be a node of a `serve-many` process: 1–253 characters of letters, digits,
/// `.`, `-` and `_` (Kubernetes node names and IP addresses are), not starting with `.`.
///
/// # Errors
/// What is wrong with it, to show as is.
pub fn valid_node_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err(format!("node name \"{name}\" must have 1 to 253 characters"));
    }
    if name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "node name \"{name}\" may use only letters, digits, `.`, `-` and `_`, and not start with `.`"
        ));
    }
    Ok(())
}

impl SimNodes {
    /// Checks the list: not empty, at most [`MAX_SIM_NODES`], names valid and unique.
    ///
    /// # Errors
    /// Every problem, one per line, naming the node.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.nodes.is_empty() {
            problems.push("no nodes: list at least one in `nodes`".to_owned());
        }
        if self.nodes.len() > MAX_SIM_NODES {
            problems.push(format!(
                "{} nodes: one process serves at most {MAX_SIM_NODES}; start another",
                self.nodes.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Err(e) = valid_node_name(&n.name) {
                problems.push(format!("nodes[{i}]: {e}"));
            }
            if !seen.insert(n.name.as_str()) {
                problems.push(format!("nodes[{i}]: node \"{}\" is listed twice", n.name));
            }
            if n.token.expose().len() < 16 {
                problems.push(format!(
                    "nodes[{i}] (\"{}\"): the token must be at least 16 characters",
                    n.name
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sim_node_list_is_checked_whole() {
        let node = |name: &str, token: &str| SimNode {
            name: name.into(),
            simulate: "h100x8".into(),
            token: token.to_owned().into(),
            state: None,
            journal: None,
            latency_ms: 0,
        };
        let good = SimNodes {
            nodes: vec![node("10.0.10.11", "0123456789abcdef"), node("gpu-node_2", "0123456789abcdef")],
        };
        assert_eq!(good.check(), Ok(()));
        assert_eq!(node_prefix("10.0.10.11"), "/nodes/10.0.10.11");
        let bad = SimNodes {
            nodes: vec![
                node("a", "0123456789abcdef"),
                node("a", "0123456789abcdef"),
                node("../etc", "0123456789abcdef"),
                node("b", "short"),
            ],
        };
        let err = bad.check().expect_err("three problems");
        assert_eq!(err.lines().count(), 3, "{err}");
        assert!(err.contains("nodes[1]: node \"a\" is listed twice"), "{err}");
        assert!(err.contains("nodes[2]: node name \"../etc\" may use only"), "{err}");
        assert!(err.contains("nodes[3] (\"b\"): the token must be at least 16"), "{err}");
        assert!(SimNodes { nodes: vec![] }.check().expect_err("empty").contains("no nodes"));
        // Unknown fields are refused, not ignored (a typo in `journal` must not lose the journal).
        assert!(serde_json::from_str::<SimNodes>(
            r#"{"nodes":[{"name":"a","simulate":"h100x8","token":"0123456789abcdef","jurnal":"x"}]}"#
        )
        .is_err());
    }

    #[test]
    fn the_used_mask_covers_each_instance_and_leaves_stranded_slices_clear() {
        let spec = |profile: &str, start: u8| InstanceSpec {
            profile: profile.into(),
            start,
        };
        let gpu = |model: crate::GpuModel, instances: &[InstanceSpec]| {
            let layout = crate::Layout::new(model, instances).expect("valid layout");
            InventoryGpu::described(0, "GPU-0".into(), model, Some(&layout))
        };
        let balanced = [
            spec("1g.10gb", 2),
            spec("1g.10gb", 3),
            spec("2g.20gb", 0),
            spec("3g.40gb", 4),
        ];
        assert_eq!(gpu(crate::GpuModel::H100_80GB, &balanced).used_mask(), 0xFF);
        // Seven 1g.5gb on an A100 40GB: slice 7 is in no instance.
        let sevens: Vec<InstanceSpec> = (0..7).map(|s| spec("1g.5gb", s)).collect();
        assert_eq!(gpu(crate::GpuModel::A100_40GB, &sevens).used_mask(), 0x7F);
        let one = gpu(crate::GpuModel::H100_80GB, &[spec("3g.40gb", 4)]);
        assert_eq!(one.used_mask(), 0xF0);
        // A profile the table does not have is counted as its first slice only.
        let mut odd = one;
        odd.instances.push(spec("9g.99gb", 1));
        assert_eq!(odd.used_mask(), 0xF2);
    }

    #[test]
    fn an_apply_request_is_one_of_three_targets_on_the_wire() {
        let named: ApplyRequest =
            serde_json::from_str(r#"{"config":"all-balanced","gpus":[1],"drained":true}"#)
                .expect("named");
        assert_eq!(named.target, ApplyTarget::Named("all-balanced".into()));
        assert_eq!((named.gpus.as_slice(), named.drained), (&[1][..], true));
        let per_gpu: ApplyRequest =
            serde_json::from_str(r#"{"per_gpu":{"0":[{"profile":"3g.40gb","start":4}]}}"#)
                .expect("per gpu");
        let ApplyTarget::PerGpu(map) = &per_gpu.target else {
            panic!("{per_gpu:?}")
        };
        assert_eq!(map[&0][0].start, 4);
        // What the server writes is what the agent reads, for each target.
        for request in [named, per_gpu] {
            let text = serde_json::to_string(&request).expect("json");
            let back: ApplyRequest = serde_json::from_str(&text).expect("round trip");
            assert_eq!(back, request, "{text}");
        }
        for bad in [
            r#"{"config":"a","layout":[]}"#,
            r#"{"gpus":[0]}"#,
            r#"{"layout":[],"per_gpu":{}}"#,
        ] {
            let err = serde_json::from_str::<ApplyRequest>(bad).expect_err(bad);
            assert!(err.to_string().contains("not both or none"), "{bad}: {err}");
        }
        let err = serde_json::from_str::<ApplyRequest>(r#"{"confg":"x"}"#).expect_err("typo");
        assert!(err.to_string().contains("unknown field `confg`"), "{err}");
    }

    #[test]
    fn error_codes_keep_their_wire_spelling_and_unknown_ones_parse() {
        let body = ErrorBody {
            error: AgentError {
                code: ErrorCode::InUse,
                message: "busy".into(),
                instances: vec![BusyInstance {
                    gpu: 2,
                    profile: "1g.10gb".into(),
                    start: 3,
                    pids: vec![7, 8],
                }],
            },
        };
        let text = serde_json::to_string(&body).expect("json");
        assert!(text.contains(r#""code":"in_use""#), "{text}");
        assert_eq!(
            serde_json::from_str::<ErrorBody>(&text).expect("back"),
            body
        );
        assert_eq!(ErrorCode::BadConfigFile.to_string(), "bad_config_file");
        assert_eq!(
            body.error.instances[0].describe(),
            "GPU 2 1g.10gb at slice 3 (pids 7, 8)"
        );
        let newer: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"from_the_future","message":"m"}}"#)
                .expect("unknown code");
        assert_eq!(newer.error.code, ErrorCode::Unknown);
    }

    #[test]
    fn an_operation_says_which_gpus_wait_for_a_reset_and_which_failed() {
        let op: Operation = serde_json::from_str(
            r#"{"id":1,"config":"all-disabled","status":"failed","gpus":[
                {"gpu":0,"steps":[],"mutating_calls":1,"outcome":"reset_required"},
                {"gpu":1,"steps":[],"mutating_calls":0,"outcome":"already_applied"},
                {"gpu":2,"error":"driver said no"}]}"#,
        )
        .expect("operation");
        assert_eq!(op.reset_required(), vec![0]);
        assert_eq!(op.errors(), vec!["GPU 2: driver said no".to_owned()]);
    }
}
