//! OCI AI Blueprints: the wire model of a recipe ([`raw::RawRecipe`], every member of OCI's
//! `recipe_payload` schema), the validated model ([`Blueprint`]) and the rules between them.
//!
//! [`check`] takes the text a user wrote and returns **every** problem at once, each with a JSON
//! pointer, a message, a hint and (from the text) its line and column. Pure rules need only the text;
//! rules about named configs need a [`Catalogue`], rules about the current fleet a [`FleetView`]. The
//! browser runs this with what it has, the server with everything.

pub mod fleet;
pub mod json;
pub mod labels;
pub mod members;
pub mod raw;
pub mod redact;
mod rules;
#[cfg(feature = "schema")]
pub mod schema;
pub mod templates;
pub mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use fleet::{Catalogue, FleetGpu, FleetNode, FleetPool, FleetSlice, FleetView};
pub use members::Platform;
pub use raw::{RawRecipe, RecipeMode};
pub use text::{MAX_BYTES, MAX_DEPTH, Position};

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The blueprint cannot be deployed as written.
    Error,
    /// Deployable, but probably not what was meant.
    Warning,
}

/// One problem in a blueprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// JSON pointer to the member at fault (`""` = the whole document).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// Error or warning.
    pub severity: Severity,
    /// Stable id of the rule (`unknown_key`, `mig_profile_unconfigured`, ...).
    pub code: String,
    /// Line of the member in the text, from 1, when checked from text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Column of the member in the text, from 1, when checked from text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// A change to the fleet that would resolve it, which the editor can carry out (make room for a
    /// MIG slice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Box<crate::capacity::room::RoomFix>>,
}

impl Issue {
    /// An issue without a position.
    pub fn new(
        severity: Severity,
        code: &str,
        path: String,
        message: String,
        hint: String,
    ) -> Self {
        Self {
            path,
            message,
            hint,
            severity,
            code: code.to_owned(),
            line: None,
            column: None,
            fix: None,
        }
    }

    /// The same issue marked at `pos`.
    pub fn at_position(mut self, pos: Position) -> Self {
        self.line = Some(pos.line);
        self.column = Some(pos.column);
        self
    }

    /// Whether it blocks deployment.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// What validation may consult besides the blueprint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Named MIG configs per model; without it, config names are not checked.
    pub catalogue: Option<&'a Catalogue>,
    /// The current fleet; without it, fleet rules (targets exist, slices configured, capacity,
    /// unique names, immutable pool settings) are not checked.
    pub fleet: Option<&'a FleetView>,
    /// Where it will be carried out; without it, only members no platform carries out are
    /// flagged (see [`members`]).
    pub platform: Option<Platform>,
}

/// The result of checking a blueprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Every issue, errors and warnings, ordered by position in the text.
    pub issues: Vec<Issue>,
    /// The validated blueprint, when there are no errors.
    pub blueprint: Option<Blueprint>,
}

impl Checked {
    /// No errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        !self.issues.iter().any(Issue::is_error)
    }
}

/// Checks blueprint text: parses it, reads every member, applies every rule `ctx` allows, and marks
/// each issue at its line.
pub fn check(text: &str, ctx: Context<'_>) -> Checked {
    let value = match text::parse(text) {
        Ok(v) => v,
        Err(issue) => {
            return Checked {
                issues: vec![issue],
                blueprint: None,
            };
        }
    };
    let (mut issues, blueprint) = check_value(&value, ctx);
    place_issues(text, &mut issues);
    Checked { issues, blueprint }
}

/// Marks each of `issues` at the line and column of its JSON pointer in `text` (valid JSON), and
/// orders them by position: for [`check`], and for rules a caller adds after it (a server's own
/// settings).
pub fn place_issues(text: &str, issues: &mut [Issue]) {
    for issue in issues.iter_mut() {
        let (span, _) = text::locate(text, &issue.path);
        let pos = text::position(text, span.start);
        issue.line = Some(pos.line);
        issue.column = Some(pos.column);
    }
    issues.sort_by_key(|i| (i.line, i.column, i.severity));
}

/// Checks a parsed blueprint (no positions: there is no text).
pub fn check_value(value: &Value, ctx: Context<'_>) -> (Vec<Issue>, Option<Blueprint>) {
    let mut issues = Vec::new();
    let raw = <RawRecipe as json::FromJson>::from_json(value, &json::At::ROOT, &mut issues);
    let blueprint = raw.and_then(|raw| rules::validate(raw, ctx, &mut issues));
    let blueprint = blueprint.filter(|_| !issues.iter().any(Issue::is_error));
    (issues, blueprint)
}

/// A blueprint that passed every rule it was checked with.
#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    /// Deployment name.
    pub name: String,
    /// What it does.
    pub action: Action,
    /// Everything as written, for the members this model does not interpret.
    pub raw: RawRecipe,
}

/// What a blueprint does, by mode.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `service` or `job`: run replicas of a container.
    Workload(Workload),
    /// `update`: change a node or pool.
    Update(Update),
    /// `shared_node_pool`: create or adopt a pool.
    SharedNodePool(PoolSpec),
    /// `team`: create a team.
    Team {
        /// Team name.
        name: String,
    },
}

/// Whether a workload runs until stopped or to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// `service`.
    Service,
    /// `job`.
    Job,
}

/// A workload's request.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Service or job.
    pub kind: WorkloadKind,
    /// Node shape, as written.
    pub shape: String,
    /// Replicas (default 1).
    pub replicas: u32,
    /// What each replica needs of a GPU.
    pub gpu: GpuRequest,
    /// Which nodes it may run on (`recipe_use_shared_node_pool`).
    pub pool_use: PoolUse,
    /// On the embedded fleet with `recipe_use_shared_node_pool: false`: the nodes started for it.
    pub own_nodes: Option<OwnNodes>,
    /// Skip the free-capacity check.
    pub skip_capacity_validation: bool,
}

/// Which nodes a workload may run on, as `recipe_use_shared_node_pool` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolUse {
    /// `true`: nodes of shared pools only.
    Shared,
    /// `false`: nodes of its own (OCI creates a pool for it); on Kubernetes, nodes outside shared
    /// pools.
    Dedicated,
    /// Not said: any node with what it asks for.
    Any,
}

/// The nodes a deployment gets of its own (the embedded fleet; OCI creates a node pool for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnNodes {
    /// Nodes to start with (`recipe_node_pool_size`, else `min_nodes`, else 1).
    pub size: u32,
    /// The most nodes it may grow to while replicas wait for slices
    /// (`recipe_node_autoscaling_params.max_nodes`; without it, `size`).
    pub max: u32,
    /// Replicas one node takes (its GPUs × the profile's instances per GPU, at most the pods).
    pub per_node: u32,
    /// The named config their GPUs get (`all-<profile>`).
    pub config: String,
}

/// What a replica needs of a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuRequest {
    /// No GPU.
    None,
    /// Whole NVIDIA GPUs.
    Gpus(u32),
    /// Whole AMD GPUs.
    AmdGpus(u32),
    /// One MIG instance of this profile (`nvidia.com/mig-<profile>`).
    Mig(String),
}

/// The node or pool an update changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One node, by name.
    Node(String),
    /// Every node of a pool.
    Pool(String),
}

/// An `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// What it changes.
    pub target: Target,
    /// The named MIG config to apply, if any.
    pub mig_config: Option<String>,
    /// Labels to set, if any.
    pub labels: BTreeMap<String, String>,
}

/// A `shared_node_pool`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// Pool name (the deployment name).
    pub name: String,
    /// Node shape.
    pub shape: String,
    /// Nodes.
    pub size: u32,
    /// Boot volume per node, GB.
    pub boot_volume_gbs: u32,
    /// Named MIG config for every GPU, if any.
    pub mig_config: Option<String>,
    /// Pods per node (default [`DEFAULT_MAX_PODS_PER_NODE`]).
    pub max_pods_per_node: u32,
}

/// `recipe_max_pods_per_node` when absent: enough for 56 slices of a BM.GPU.H100.8 plus system pods.
pub const DEFAULT_MAX_PODS_PER_NODE: u32 = 90;
/// Pods every GPU node runs besides workloads (OKE's kube-proxy, CNI and CSI, the GPU Operator's
/// device plugin, feature discovery, DCGM exporter, MIG manager, toolkit and validator, migboard's
/// agent): what `recipe_max_pods_per_node` must leave room for.
pub const SYSTEM_PODS_PER_NODE: u32 = 10;
/// The most pods per node OKE allows.
pub const MAX_PODS_PER_NODE: u32 = 110;
