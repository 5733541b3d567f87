//! JSON shapes shared by the server's REST API and the browser: built from the tables, never hand-kept.

use core::fmt;
use serde::{Deserialize, Serialize};

use crate::layout::{InstanceSpec, ProfileCounts};
use crate::model::{GpuModel, ModelSpec, ProfileSpec, Verification};
use crate::place::Combination;

/// A profile as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// Name on this model (`3g.40gb`).
    pub name: String,
    /// `NVML_GPU_INSTANCE_PROFILE_*` index (for `nvmlDeviceGetGpuInstanceProfileInfo`).
    pub nvml_index: u32,
    /// NVML profile id (for create and placement calls).
    pub nvml_id: u32,
    /// Compute slices.
    pub compute_slices: u8,
    /// Memory slices.
    pub memory_slices: u8,
    /// Allowed start slices.
    pub starts: Vec<u8>,
    /// Streaming multiprocessors.
    pub sm_count: u16,
    /// Memory, MiB.
    pub memory_mib: u32,
    /// Most instances per GPU.
    pub max_count: u8,
    /// Kubernetes resource the device plugin's mixed strategy advertises.
    pub resource: String,
}

impl From<&ProfileSpec> for ProfileInfo {
    fn from(p: &ProfileSpec) -> Self {
        Self {
            name: p.name.to_owned(),
            nvml_index: p.nvml_index(),
            nvml_id: p.nvml_id(),
            compute_slices: p.compute_slices(),
            memory_slices: p.memory_slices(),
            starts: p.starts().to_vec(),
            sm_count: p.sm_count,
            memory_mib: p.memory_mib,
            max_count: p.max_count(),
            resource: p.resource_name(),
        }
    }
}

/// A GPU model as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Id used in URLs (`h100-80gb`).
    pub id: GpuModel,
    /// Human name.
    pub name: String,
    /// PCI device ids, as `0x233010DE`.
    pub pci_device_ids: Vec<String>,
    /// Total memory, MiB.
    pub memory_mib: u32,
    /// SMs.
    pub sm_count: u16,
    /// Peak memory bandwidth, GB/s.
    pub memory_bandwidth_gbps: u32,
    /// Whether the placement table was seen on real hardware.
    pub placements: Verification,
    /// Whether SM counts and memory sizes were seen on real hardware.
    pub sizes: Verification,
    /// Compute slices (7).
    pub compute_slices: u8,
    /// Memory slices (8).
    pub memory_slices: u8,
    /// Profiles.
    pub profiles: Vec<ProfileInfo>,
}

impl From<&ModelSpec> for ModelInfo {
    fn from(m: &ModelSpec) -> Self {
        Self {
            id: m.model,
            name: m.display_name.to_owned(),
            pci_device_ids: m
                .pci_device_ids
                .iter()
                .map(|id| format!("0x{id:08X}"))
                .collect(),
            memory_mib: m.memory_mib,
            sm_count: m.sm_count,
            memory_bandwidth_gbps: m.memory_bandwidth_gbps,
            placements: m.placements,
            sizes: m.sizes,
            compute_slices: crate::model::COMPUTE_SLICES,
            memory_slices: crate::model::MEMORY_SLICES,
            profiles: m.profiles.iter().map(ProfileInfo::from).collect(),
        }
    }
}

/// One enumerated combination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CombinationInfo {
    /// Profile → count.
    pub profiles: ProfileCounts,
    /// One valid placement.
    pub placements: Vec<InstanceSpec>,
    /// Nothing more fits.
    pub maximal: bool,
}

impl From<&Combination> for CombinationInfo {
    fn from(c: &Combination) -> Self {
        Self {
            profiles: c.counts.clone(),
            placements: c.layout.to_specs(),
            maximal: c.maximal,
        }
    }
}

/// One GPU as a node agent's `GET /v1/inventory` reports it (`{"gpus": [...]}`): what the server reads.
/// The agent writes more members (PCI id, MIG device UUIDs); readers ignore what they do not need.
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
    /// MIG mode in effect.
    pub mig_mode: crate::MigMode,
    /// MIG mode after the next reset, when it differs.
    pub pending_mig_mode: Option<crate::MigMode>,
    /// Its GPU instances (profile and start).
    pub instances: Vec<crate::InstanceSpec>,
    /// Instances with processes on them.
    #[serde(default)]
    pub busy: Vec<BusySlice>,
}

/// A GPU instance with processes on it.
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

/// A node agent's inventory answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Inventory {
    /// Every GPU of the node.
    pub gpus: Vec<InventoryGpu>,
}

/// A GPU node as the server reports it (`GET /api/v1/fleet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetNodeInfo {
    /// Node name (OKE: its private IP).
    pub name: String,
    /// Its pool.
    pub pool: String,
    /// OCI shape.
    pub shape: String,
    /// The named MIG config last applied to it, if any.
    pub mig_config: Option<String>,
    /// Its GPUs, when its agent answered.
    pub gpus: Vec<InventoryGpu>,
    /// Why it cannot be read or used now (its agent did not answer, the node is NotReady), if so.
    pub error: Option<String>,
    /// Where its last MIG change stands when not plainly done (Kubernetes:
    /// `nvidia.com/mig.config.state` = `pending`, `rebooting` or `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mig_state: Option<String>,
}

/// A node pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPoolInfo {
    /// Pool name.
    pub name: String,
    /// Node shape.
    pub shape: String,
    /// Pods per node.
    pub max_pods_per_node: u32,
}

/// The fleet: pools and nodes with their GPUs' live layouts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fleet {
    /// Node pools.
    pub pools: Vec<FleetPoolInfo>,
    /// Nodes.
    pub nodes: Vec<FleetNodeInfo>,
}

impl InventoryGpu {
    /// What this GPU has, in the terms a named config asks for: MIG off, or on with these instance
    /// counts. A config whose `desired` equals it is applied already (the agent places counts to keep
    /// the instances a GPU has, so where they start does not matter).
    pub fn observed(&self) -> crate::DesiredMig {
        match self.mig_mode {
            crate::MigMode::Disabled => crate::DesiredMig::Disabled,
            crate::MigMode::Enabled => {
                let mut counts = ProfileCounts::default();
                self.instances
                    .iter()
                    .for_each(|i| counts.add(&i.profile, 1));
                crate::DesiredMig::Enabled(counts)
            }
        }
    }
}

impl Fleet {
    /// The view blueprint validation reads: slices per GPU and which are in use.
    pub fn view(&self, deployments: Vec<String>) -> crate::blueprint::FleetView {
        crate::blueprint::FleetView {
            pools: self
                .pools
                .iter()
                .map(|p| crate::blueprint::FleetPool {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                    max_pods_per_node: p.max_pods_per_node,
                })
                .collect(),
            nodes: self
                .nodes
                .iter()
                .map(|n| crate::blueprint::FleetNode {
                    name: n.name.clone(),
                    pool: Some(n.pool.clone()),
                    model: n
                        .gpus
                        .iter()
                        .find_map(|g| g.model)
                        .or_else(|| crate::shape::shape(&n.shape).map(|s| s.model)),
                    mig_config: n.mig_config.clone(),
                    gpus: n
                        .gpus
                        .iter()
                        .map(|g| crate::blueprint::FleetGpu {
                            mig: g.mig_mode == crate::MigMode::Enabled,
                            slices: g
                                .instances
                                .iter()
                                .map(|i| crate::blueprint::FleetSlice {
                                    profile: i.profile.clone(),
                                    in_use: g.busy.iter().any(|b| b.start == i.start),
                                })
                                .collect(),
                        })
                        .collect(),
                    workloads: n
                        .gpus
                        .iter()
                        .flat_map(|g| &g.busy)
                        .flat_map(|b| b.pids.iter().map(|p| format!("pid {p}")))
                        .collect(),
                })
                .collect(),
            deployments,
        }
    }
}

/// A deployment's status: OCI AI Blueprints' five, plus `undeploying` and `undeployed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Accepted, not started.
    Scheduled,
    /// Being carried out.
    Active,
    /// Done and running (services, jobs): watched.
    Monitoring,
    /// Stopped on an error it cannot retry past.
    Failed,
    /// Done (updates, pools).
    Completed,
    /// Being removed.
    Undeploying,
    /// Removed by the user.
    Undeployed,
}

impl DeploymentStatus {
    const ALL: [(Self, &'static str); 7] = [
        (Self::Scheduled, "scheduled"),
        (Self::Active, "active"),
        (Self::Monitoring, "monitoring"),
        (Self::Failed, "failed"),
        (Self::Completed, "completed"),
        (Self::Undeploying, "undeploying"),
        (Self::Undeployed, "undeployed"),
    ];

    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("failed", |(_, n)| n)
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(st, _)| *st)
    }

    /// Whether the orchestrator still has work to do for it.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::Scheduled | Self::Active | Self::Undeploying)
    }

    /// Whether it may be undeployed now.
    pub fn can_undeploy(self) -> bool {
        !matches!(self, Self::Undeploying | Self::Undeployed)
    }
}

/// A deployment as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    /// Its id.
    pub id: i64,
    /// `deployment_name`.
    pub name: String,
    /// `recipe_mode`.
    pub mode: String,
    /// Where it is.
    pub status: DeploymentStatus,
    /// Why, in words (the error when failed).
    pub message: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
    /// Steps done of steps known so far.
    pub progress: Progress,
}

/// Steps done of steps known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Done (or skipped).
    pub done: u32,
    /// Known so far.
    pub total: u32,
}

/// One step of a deployment's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Order within the deployment.
    pub seq: i64,
    /// Its key (`reconfigure/10.0.10.11/3`): the same work always has the same key.
    pub key: String,
    /// `pending`, `running`, `done`, `skipped` or `failed`.
    pub state: String,
    /// What happened, in words.
    pub message: String,
    /// Last change, Unix ms.
    pub at_ms: i64,
}

impl StepInfo {
    /// Whether it is finished well.
    pub fn is_done(&self) -> bool {
        matches!(self.state.as_str(), "done" | "skipped")
    }
}

/// Where one replica runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementInfo {
    /// Replica number, from 0.
    pub replica: u32,
    /// Node.
    pub node: String,
    /// GPU index.
    pub gpu: u32,
    /// First memory slice of its MIG instance.
    pub start: u8,
    /// The instance's profile.
    pub profile: String,
    /// Its (simulated) process id.
    pub pid: u32,
    /// `placed`, or `displaced` while a drain moves it.
    pub state: String,
}

/// Reconfiguration progress of one node: a state per GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeProgress {
    /// Node.
    pub node: String,
    /// Per GPU: index and step state (`pending`, `running`, `done`, `failed`).
    pub gpus: Vec<(u32, String)>,
}

impl NodeProgress {
    /// GPUs done.
    pub fn done(&self) -> usize {
        self.gpus
            .iter()
            .filter(|(_, s)| s == "done" || s == "skipped")
            .count()
    }
}

/// Everything the deployment page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentDetail {
    /// The deployment.
    pub deployment: DeploymentInfo,
    /// The blueprint as submitted.
    pub blueprint: String,
    /// Its step log.
    pub steps: Vec<StepInfo>,
    /// Where its replicas run.
    pub placements: Vec<PlacementInfo>,
    /// Reconfiguration progress per node, from the `reconfigure/<node>/<gpu>` steps.
    pub nodes: Vec<NodeProgress>,
}

impl DeploymentDetail {
    /// Per-node progress from a step log.
    pub fn progress_of(steps: &[StepInfo]) -> Vec<NodeProgress> {
        let mut nodes: Vec<NodeProgress> = Vec::new();
        for s in steps {
            let mut parts = s.key.split('/');
            let (Some("reconfigure"), Some(node), Some(gpu)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(gpu) = gpu.parse::<u32>() else {
                continue;
            };
            match nodes.iter_mut().find(|n| n.node == node) {
                Some(n) => n.gpus.push((gpu, s.state.clone())),
                None => nodes.push(NodeProgress {
                    node: node.to_owned(),
                    gpus: vec![(gpu, s.state.clone())],
                }),
            }
        }
        nodes
    }
}

/// What the event streams send (`GET /api/v1/events`, `GET /api/v1/deployments/{id}/events`), as
/// JSON in an SSE `data:` line whose `event:` is the variant's `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A deployment was created or changed status.
    Deployment {
        /// Its new state.
        deployment: DeploymentInfo,
    },
    /// A step was recorded or changed.
    Step {
        /// Its deployment.
        deployment_id: i64,
        /// The step.
        step: StepInfo,
    },
    /// A monitored deployment was checked.
    Monitor {
        /// Its deployment.
        deployment_id: i64,
        /// Replicas found running.
        running: u32,
        /// Replicas placed.
        total: u32,
        /// When it was checked, Unix ms (so watchers can measure delivery delay).
        at_ms: i64,
    },
    /// The fleet changed (a node's layout, mode or workloads).
    Fleet {
        /// When the change was seen, Unix ms.
        at_ms: i64,
    },
    /// This watcher fell behind and missed events: read the state again.
    Resync,
}

impl Event {
    /// The deployment it concerns, if one.
    pub fn deployment_id(&self) -> Option<i64> {
        match self {
            Self::Deployment { deployment } => Some(deployment.id),
            Self::Step { deployment_id, .. } | Self::Monitor { deployment_id, .. } => {
                Some(*deployment_id)
            }
            Self::Fleet { .. } | Self::Resync => None,
        }
    }

    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Deployment { .. } => "deployment",
            Self::Step { .. } => "step",
            Self::Monitor { .. } => "monitor",
            Self::Fleet { .. } => "fleet",
            Self::Resync => "resync",
        }
    }
}

/// What a node's page shows besides its layout: charts and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDetail {
    /// The node with its GPUs.
    pub node: FleetNodeInfo,
    /// Memory used per MIG instance over the last hour, an SVG document.
    pub memory_chart_svg: String,
    /// Reconfigurations (GPU applies) per 10 minutes over the last day, an SVG document.
    pub applies_chart_svg: String,
    /// The deployments that touched this node, newest first: id, name, status.
    pub deployments: Vec<(i64, String, DeploymentStatus)>,
}

/// A read-only link to a deployment, as its owner sees it (never its token, which only its creator
/// got once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareInfo {
    /// Its id (for revoking).
    pub id: i64,
    /// The deployment it shows.
    pub deployment_id: i64,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Expires, Unix ms.
    pub expires_ms: i64,
    /// Revoked, Unix ms.
    pub revoked_ms: Option<i64>,
    /// Who created it.
    pub created_by: String,
}

/// A link just created: the only time its token is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedShare {
    /// The link.
    pub link: ShareInfo,
    /// Its secret token.
    pub token: String,
    /// The page it opens (`/share/<token>`).
    pub path: String,
}

/// What a signed-in user may do. Ordered: each role may do everything the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything: fleet, plans, blueprints, deployments, nodes.
    Viewer,
    /// Also plans, validates, deploys, undeploys, updates MIG layouts and shares links.
    Operator,
    /// Also manages users and reads the audit log.
    Admin,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Operator, Self::Admin];

    /// Its name as stored and sent (`viewer`, `operator`, `admin`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// Parses a role name (as [`Role::as_str`] writes it).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking: the signed-in user (by session cookie or API token) and where from. The server
/// attaches it to every authenticated request; server functions read it for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// How: `session` or `token <name>`.
    pub via: String,
    /// The client's address.
    pub source: String,
}

/// A user account, as admins see it (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Its id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// Disabled users cannot sign in, and their sessions and tokens stop working.
    pub disabled: bool,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last sign-in, Unix ms.
    pub last_login_ms: Option<i64>,
}

/// An API token, as its owner sees it (never the token itself, which was shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its id (for revoking).
    pub id: i64,
    /// The owner's name for it (`ci`, `grafana`).
    pub name: String,
    /// Whose it is.
    pub username: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Expires, Unix ms (`None`: never).
    pub expires_ms: Option<i64>,
    /// Last used, Unix ms.
    pub last_used_ms: Option<i64>,
    /// Revoked, Unix ms.
    pub revoked_ms: Option<i64>,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The token's record.
    pub info: TokenInfo,
    /// The secret, to send as `Authorization: Bearer <token>`.
    pub token: String,
}

/// One audit record: who did what to what, when, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, Unix ms.
    pub at_ms: i64,
    /// The user (and how: `alice`, `alice (token ci)`), or `system`.
    pub actor: String,
    /// The action (`deploy`, `login`, `user.create`, ...).
    pub action: String,
    /// What it acted on.
    pub target: String,
    /// Details for people.
    pub detail: String,
    /// The client's address.
    pub source: String,
}
