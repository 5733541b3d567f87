//! Deployments as the API, the pages and the event streams show them.

use serde::{Deserialize, Serialize};

use super::FleetNodeInfo;

/// A deployment's status: OCI AI Blueprints' five, plus `undeploying` and `undeployed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Accepted, not started.
    Scheduled,
    /// Being carried out.
    Deploying,
    /// Done and running (services, jobs): watched.
    Monitoring,
    /// Stopped on an error it cannot retry past.
    Failed,
    /// A rollout stopped after a batch with a failed node: the nodes after it are untouched; resume
    /// to retry the failed node(s) and go on.
    Paused,
    /// Done (updates, teams).
    Completed,
    /// A pool that is ready: its nodes are up and laid out, deployments may use it (OCI's guide:
    /// "launch MIG inference when pool is active").
    Active,
    /// Being removed.
    Undeploying,
    /// Removed by the user.
    Undeployed,
}

spelled!(DeploymentStatus {
    Scheduled => "scheduled",
    Deploying => "deploying",
    Monitoring => "monitoring",
    Failed => "failed",
    Paused => "paused",
    Completed => "completed",
    Active => "active",
    Undeploying => "undeploying",
    Undeployed => "undeployed",
});

impl DeploymentStatus {
    /// Whether the orchestrator still has work to do for it.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::Scheduled | Self::Deploying | Self::Undeploying)
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

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Known, not started.
    Pending,
    /// Started (a crash here means: do it again).
    Running,
    /// Done.
    Done,
    /// Not needed, or not something this fleet can do (the message says which).
    Skipped,
    /// Failed; the message says why.
    Failed,
    /// Never started: the deployment failed before it (a failed deployment leaves no step
    /// pending).
    NotRun,
}

spelled!(StepState {
    Pending => "pending",
    Running => "running",
    Done => "done",
    Skipped => "skipped",
    Failed => "failed",
    NotRun => "not_run",
});

impl StepState {
    /// Whether it is finished well (done, or skipped on purpose): a resumed deployment passes it.
    #[must_use]
    pub fn is_done(self) -> bool {
        matches!(self, Self::Done | Self::Skipped)
    }
}

/// One step of a deployment's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Order within the deployment.
    pub seq: i64,
    /// Its key (`reconfigure/10.0.10.11/3`): the same work always has the same key.
    pub key: String,
    /// Where it is.
    pub state: StepState,
    /// What happened, in words.
    pub message: String,
    /// Last change, Unix ms.
    pub at_ms: i64,
}

impl StepInfo {
    /// Whether it is finished well.
    pub fn is_done(&self) -> bool {
        self.state.is_done()
    }
}

/// Where a replica's placement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementState {
    /// It has its slice.
    Placed,
    /// A drain took its slice; it waits to be placed again.
    Displaced,
}

spelled!(PlacementState {
    Placed => "placed",
    Displaced => "displaced",
});

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
    /// Placed, or displaced while a drain moves it.
    pub state: PlacementState,
}

/// Reconfiguration progress of one node: a state per GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeProgress {
    /// Node.
    pub node: String,
    /// Per GPU: index and step state.
    pub gpus: Vec<(u32, StepState)>,
}

impl NodeProgress {
    /// GPUs done.
    pub fn done(&self) -> usize {
        self.gpus.iter().filter(|(_, s)| s.is_done()).count()
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
    /// Where a `service` deployment answers (`None` for other modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<ServiceEndpoint>,
}

/// Where a `service` deployment answers, or why it has no address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceEndpoint {
    /// Its address inside the cluster (the Service migboard made).
    Url {
        /// `http://mgb-7-llama.migboard-workloads.svc.cluster.local:80`.
        url: String,
    },
    /// It has none.
    None {
        /// Why, in words.
        why: String,
    },
}

impl DeploymentDetail {
    /// This detail as a reader below operator may see it: the blueprint's secrets hidden
    /// ([`crate::blueprint::redact`]).
    #[must_use]
    pub fn redacted(mut self) -> Self {
        self.blueprint = crate::blueprint::redact::redact(&self.blueprint);
        self
    }

    /// [`DeploymentDetail::redacted`] unless `role` may read secrets (operators and admins).
    #[must_use]
    pub fn for_role(self, role: super::Role) -> Self {
        if role >= super::Role::Operator { self } else { self.redacted() }
    }

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
                Some(n) => n.gpus.push((gpu, s.state)),
                None => nodes.push(NodeProgress {
                    node: node.to_owned(),
                    gpus: vec![(gpu, s.state)],
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

/// The time span a node page's charts cover: `1h`, `24h` (the default) or `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ChartRange {
    /// The last hour.
    #[serde(rename = "1h")]
    Hour,
    /// The last 24 hours.
    #[default]
    #[serde(rename = "24h")]
    Day,
    /// The last 7 days.
    #[serde(rename = "7d")]
    Week,
}

impl ChartRange {
    /// Every range, shortest first.
    pub const ALL: [Self; 3] = [Self::Hour, Self::Day, Self::Week];

    /// The spelling in URLs and JSON: `1h`, `24h`, `7d`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Week => "7d",
        }
    }

    /// The range spelled `text`.
    ///
    /// # Errors
    /// A message naming the accepted spellings.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| format!("unknown chart range \"{text}\": use 1h, 24h or 7d"))
    }

    /// How far back it reaches, ms.
    #[must_use]
    pub fn span_ms(self) -> i64 {
        match self {
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
            Self::Week => 7 * 86_400_000,
        }
    }

    /// The width of one bar of the reconfiguration chart, ms: 5 min, 30 min, 6 h.
    #[must_use]
    pub fn bucket_ms(self) -> i64 {
        match self {
            Self::Hour => 300_000,
            Self::Day => 1_800_000,
            Self::Week => 6 * 3_600_000,
        }
    }

    /// The distance between two labelled ticks of the time axis, ms: 10 min, 4 h, 1 day.
    #[must_use]
    pub fn tick_ms(self) -> i64 {
        match self {
            Self::Hour => 600_000,
            Self::Day => 4 * 3_600_000,
            Self::Week => 86_400_000,
        }
    }

    /// In words, for captions: `last hour`, `last 24 h`, `last 7 days`.
    #[must_use]
    pub fn words(self) -> &'static str {
        match self {
            Self::Hour => "last hour",
            Self::Day => "last 24 h",
            Self::Week => "last 7 days",
        }
    }
}

/// What a node's page shows besides its layout: charts and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDetail {
    /// The node with its GPUs.
    pub node: FleetNodeInfo,
    /// The span the charts cover.
    #[serde(default)]
    pub range: ChartRange,
    /// Memory used per MIG instance over `range`, an SVG document drawn in `currentColor`.
    pub memory_chart_svg: String,
    /// Reconfigurations (GPU applies) per [`ChartRange::bucket_ms`] over `range`, an SVG document.
    pub applies_chart_svg: String,
    /// The deployments that touched this node, newest first: id, name, status.
    pub deployments: Vec<(i64, String, DeploymentStatus)>,
    /// The layouts this node has had from migboard's update and pool deployments, newest first.
    #[serde(default)]
    pub history: Vec<LayoutChange>,
}

/// A MIG config a deployment applied (or is applying) to a node: one row of its layout history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutChange {
    /// The deployment.
    pub deployment_id: i64,
    /// Its name.
    pub deployment: String,
    /// When it last changed, Unix ms.
    pub at_ms: i64,
    /// The config's name.
    pub config: String,
    /// A custom config's version (`None`: a built-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Who deployed it (from the audit log; empty when unknown).
    pub by: String,
    /// Where the deployment stands.
    pub status: DeploymentStatus,
}

/// What an update replaced on one node it reconfigured: the layout to revert to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousLayout {
    /// The node.
    pub node: String,
    /// The newest completed deployment before the update that gave the node a MIG config;
    /// `None` when migboard has none on record (set before migboard, or by hand).
    pub layout: Option<LayoutChange>,
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
    pub token: super::Secret,
    /// The page it opens (`/share/<token>`: as secret as the token).
    pub path: super::Secret,
}

/// A blueprint checked with every rule against the fleet as it is (`POST
/// /api/v1/blueprints/validate`, the editor's "Validate on server").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// No errors (warnings allowed).
    pub valid: bool,
    /// Every issue, in text order, the fleet-aware ones included.
    pub issues: Vec<crate::blueprint::Issue>,
    /// Nodes in the fleet it was checked against.
    pub fleet_nodes: usize,
}

impl Validation {
    /// The answer for `checked`, done against a fleet of `fleet_nodes` nodes.
    #[must_use]
    pub fn of(checked: crate::blueprint::Checked, fleet_nodes: usize) -> Self {
        Self {
            valid: checked.is_valid(),
            issues: checked.issues,
            fleet_nodes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ChartRange;

    #[test]
    fn chart_ranges_round_trip_and_refuse_other_spellings() {
        for r in ChartRange::ALL {
            assert_eq!(ChartRange::parse(r.as_str()), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.span_ms() % r.bucket_ms(), 0, "{r:?}: whole bars");
            assert_eq!(r.span_ms() % r.tick_ms(), 0, "{r:?}: whole ticks");
        }
        let e = ChartRange::parse("2w").unwrap_err();
        assert!(e.contains("\"2w\"") && e.contains("1h, 24h or 7d"), "{e}");
    }
}
