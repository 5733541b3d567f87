//! The embedded fleet: every node is a real `migboard-agent` process on simulated GPUs, started by
//! the server, reached over loopback HTTP with its own token.
//!
//! Each node keeps its simulated GPUs in `<data-dir>/nodes/<node>.json` (`--sim-state`) and its apply
//! journal next to it, so a restarted server finds the fleet as it left it. Agents run with
//! `--exit-with-parent`: when the server dies, even by SIGKILL, its agents follow; they listen on
//! ports the system picks, so a restart never collides with a leftover. An agent process that exits
//! while the server runs (crashed, killed) is started again on the next fleet read or call to one of
//! its nodes, and resumes its journal first.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mig::blueprint::Catalogue;
use mig::shape::NodeShape;
use std::sync::RwLock;
use tokio::io::{AsyncBufReadExt, BufReader};

use tokio::sync::Mutex;

use super::agent::{AgentClient, AgentCredential, Endpoint};
use mig::agent_api::{ApplyRequest, ApplyTarget};

use super::{
    BoxFuture, Cluster, ClusterError, Fleet, FleetNodeInfo, FleetPoolInfo, NewNode, WorkloadRequest,
};

/// A pool of the fleet to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// Pool name.
    pub name: String,
    /// Node shape.
    pub shape: &'static NodeShape,
    /// Its nodes.
    pub nodes: Vec<NodeSpec>,
    /// Named MIG config applied to a simulated node the first time it starts.
    pub mig_config: Option<String>,
    /// Pods per node (`recipe_max_pods_per_node`): bounds the replicas migboard places on a node.
    pub max_pods_per_node: u32,
    /// The deployment whose own nodes these are, or `None` for a shared pool.
    pub dedicated_to: Option<String>,
}

/// A node of a pool: simulated (migboard runs its agent) or a real agent reached by URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Node name (OKE uses the private IP).
    pub name: String,
    /// A real agent to reach instead of a simulated one.
    pub remote: Option<RemoteAgent>,
}

impl From<&str> for NodeSpec {
    fn from(name: &str) -> Self {
        Self::simulated(name)
    }
}

impl NodeSpec {
    /// A simulated node.
    pub fn simulated(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            remote: None,
        }
    }
}

/// A real node agent, already running, reached over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAgent {
    /// Its base URL (`http://10.0.10.11:9400`).
    pub url: String,
    /// Its bearer token.
    pub token: mig::wire::Secret,
}

/// The fleet to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    /// Its pools.
    pub pools: Vec<PoolSpec>,
    /// How long each simulated MIG change takes (0: instant).
    pub sim_latency: Duration,
}

impl FleetSpec {
    /// migboard's default fleet: pool `h100migpool` with two BM.GPU.H100.8 on `all-balanced`, pool
    /// `a100-pool` with one BM.GPU4.8 (A100 40GB) on `all-1g.5gb`.
    pub fn default_fleet() -> Self {
        let pool = |name: &str, shape: &str, nodes: &[&str], config: &str| {
            mig::shape::shape(shape).map(|shape| PoolSpec {
                name: name.to_owned(),
                shape,
                nodes: nodes.iter().map(|n| NodeSpec::simulated(n)).collect(),
                mig_config: Some(config.to_owned()),
                max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
                dedicated_to: None,
            })
        };
        Self {
            pools: [
                pool(
                    "h100migpool",
                    "BM.GPU.H100.8",
                    &["10.0.10.11", "10.0.10.12"],
                    "all-balanced",
                ),
                pool("a100-pool", "BM.GPU4.8", &["10.0.20.11"], "all-1g.5gb"),
            ]
            .into_iter()
            .flatten()
            .collect(),
            sim_latency: Duration::ZERO,
        }
    }

    /// Adds the pools deployments created (kept in the database) that the spec does not have, so a
    /// restarted server starts their nodes again.
    pub fn with_stored(mut self, stored: &[crate::store::StoredPool]) -> Self {
        for p in stored {
            if self.pools.iter().any(|q| q.name == p.name) {
                continue;
            }
            let Some(shape) = mig::shape::shape(&p.shape) else {
                tracing::warn!(pool = %p.name, shape = %p.shape, "a stored pool has an unknown shape; not started");
                continue;
            };
            self.pools.push(PoolSpec {
                name: p.name.clone(),
                shape,
                nodes: p.nodes.iter().map(|n| NodeSpec::simulated(n)).collect(),
                // Its config is applied by the deployment's own steps, which resume if unfinished.
                mig_config: None,
                max_pods_per_node: p.max_pods_per_node,
                dedicated_to: p.dedicated_to.clone(),
            });
        }
        self
    }

    /// One line for the status card.
    pub fn describe(&self) -> String {
        self.pools
            .iter()
            .map(|p| format!("{} {} × {}", p.name, p.nodes.len(), p.shape.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Reads a fleet file (TOML; see `docs/fleet.example.toml`), checking shapes, configs and names.
    /// The simulated nodes' latency is not part of it (it is a flag, `--sim-latency-ms`).
    ///
    /// # Errors
    /// [`ClusterError::Start`] naming the file, the place in it and what to write instead.
    pub fn from_toml(
        text: &str,
        origin: &str,
        catalogue: &Catalogue,
    ) -> Result<Self, ClusterError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            pools: Vec<Pool>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Pool {
            name: String,
            shape: String,
            #[serde(default)]
            mig_config: Option<String>,
            #[serde(default)]
            max_pods_per_node: Option<u32>,
            #[serde(default)]
            nodes: Vec<String>,
            #[serde(default)]
            agents: Vec<Agent>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Agent {
            name: String,
            url: String,
            token_file: std::path::PathBuf,
        }
        let bad = |m: String| ClusterError::Start(format!("fleet file {origin}: {m}"));
        let file: File = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if file.pools.is_empty() {
            return Err(bad(
                "no pools: add at least one [[pools]] table with name, shape and nodes".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut pools = Vec::new();
        for (i, p) in file.pools.into_iter().enumerate() {
            let at = format!("pools[{i}] (\"{}\")", p.name);
            let shape = mig::shape::shape(&p.shape).ok_or_else(|| {
                bad(format!(
                    "{at}.shape: \"{}\" is not a MIG-capable node shape; use one of {}",
                    p.shape,
                    mig::shape::SHAPES
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            if !seen.insert(format!("pool/{}", p.name)) {
                return Err(bad(format!("{at}: a second pool with this name")));
            }
            if let Some(c) = &p.mig_config
                && catalogue.config(shape.model, c).is_none()
            {
                return Err(bad(format!(
                    "{at}.mig_config: \"{c}\" is not a named config of {}; use one of {}",
                    shape.model.spec().display_name,
                    catalogue
                        .configs(shape.model)
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let mut nodes: Vec<NodeSpec> = p.nodes.iter().map(|n| NodeSpec::simulated(n)).collect();
            for a in p.agents {
                let token = std::fs::read_to_string(&a.token_file).map_err(|e| {
                    bad(format!(
                        "{at}: agent \"{}\": reading token_file {}: {e}",
                        a.name,
                        a.token_file.display()
                    ))
                })?;
                if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
                    return Err(bad(format!(
                        "{at}: agent \"{}\": url \"{}\" is not http(s)://HOST:PORT",
                        a.name, a.url
                    )));
                }
                nodes.push(NodeSpec {
                    name: a.name,
                    remote: Some(RemoteAgent {
                        url: a.url.trim_end_matches('/').to_owned(),
                        token: token.trim().into(),
                    }),
                });
            }
            if nodes.is_empty() {
                return Err(bad(format!(
                    "{at}: no nodes; list simulated nodes in `nodes` or real ones in [[pools.agents]]"
                )));
            }
            for n in &nodes {
                if n.name.is_empty() || n.name.contains(['/', '\\']) || n.name.starts_with('.') {
                    return Err(bad(format!(
                        "{at}: node name \"{}\" is empty or has a path character",
                        n.name
                    )));
                }
                if !seen.insert(format!("node/{}", n.name)) {
                    return Err(bad(format!("{at}: node \"{}\" is listed twice", n.name)));
                }
            }
            let max_pods_per_node = match p.max_pods_per_node {
                None => mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
                Some(n) if (1..=mig::blueprint::MAX_PODS_PER_NODE).contains(&n) => n,
                Some(n) => {
                    return Err(bad(format!(
                        "{at}.max_pods_per_node: {n} is outside 1..={}; remove it for the default {}",
                        mig::blueprint::MAX_PODS_PER_NODE,
                        mig::blueprint::DEFAULT_MAX_PODS_PER_NODE
                    )));
                }
            };
            pools.push(PoolSpec {
                name: p.name,
                shape,
                nodes,
                mig_config: p.mig_config,
                max_pods_per_node,
                dedicated_to: None,
            });
        }
        Ok(Self {
            pools,
            sim_latency: Duration::ZERO,
        })
    }
}

/// A node agent migboard talks to.
#[derive(Debug)]
struct AgentNode {
    name: String,
    pool: String,
    shape: &'static NodeShape,
    url: String,
    credential: AgentCredential,
    /// The simulated node's process and state files; `None` for a real agent.
    sim: Option<SimNode>,
}

impl AgentNode {
    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            node: &self.name,
            url: &self.url,
            credential: &self.credential,
        }
    }
}

/// A simulated node: the agent process serving it (with other nodes, maybe) and its files.
#[derive(Debug)]
struct SimNode {
    /// Killed when the last node it serves is dropped.
    process: Arc<SimProcess>,
    files: [PathBuf; 2],
}

/// An agent process. A task owns the child: it kills it when this is dropped, and when the process
/// exits on its own (crashed, killed) it marks it so the fleet starts it again (see
/// [`Embedded::revive`]) — the embedded fleet's stand-in for the DaemonSet that restarts an agent
/// on Kubernetes.
#[derive(Debug)]
struct SimProcess {
    pid: Option<u32>,
    /// Dropping it stops the process.
    _stop: tokio::sync::oneshot::Sender<()>,
    exited: Arc<AtomicBool>,
}

impl SimProcess {
    /// Watches `child`; `died` is raised for the fleet when it exits unasked.
    fn watch(mut child: tokio::process::Child, died: Arc<AtomicBool>) -> Self {
        let pid = child.id();
        let exited = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let flag = exited.clone();
        tokio::spawn(async move {
            tokio::select! {
                status = child.wait() => {
                    tracing::warn!(pid, status = ?status, "a node agent process exited; it is started again on the next fleet read");
                    flag.store(true, Ordering::Release);
                    died.store(true, Ordering::Release);
                }
                // The sender was dropped: the nodes this process served are gone.
                _ = stopped => {
                    let _ = child.kill().await;
                }
            }
        });
        Self {
            pid,
            _stop: stop,
            exited,
        }
    }
}

/// Nodes applying their first config at once when a fleet starts for the first time.
const FIRST_APPLIES_AT_ONCE: usize = 16;

/// Inventories asked at once when the fleet is read.
const INVENTORIES_AT_ONCE: usize = 32;

/// The embedded fleet.
#[derive(Debug)]
pub struct Embedded {
    nodes: RwLock<Vec<Arc<AgentNode>>>,
    pools: RwLock<Vec<FleetPoolInfo>>,
    catalogue: crate::catalogue::SharedCatalogue,
    agents: AgentClient,
    dir: PathBuf,
    agent_bin: PathBuf,
    sim_latency: Duration,
    /// One fleet read at a time: agents answer in microseconds, a burst of readers gains nothing.
    reading: Mutex<()>,
    /// Raised when an agent process exits unasked; [`Embedded::revive`] lowers it.
    died: Arc<AtomicBool>,
    /// One revival at a time.
    reviving: Mutex<()>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    // A poisoned lock means a writer panicked mid-push; the list itself is still whole.
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Where the agent binary is: `MIGBOARD_AGENT_BIN`, else next to this executable (or one folder up,
/// for test binaries in `target/*/deps`).
pub fn agent_binary() -> Result<PathBuf, ClusterError> {
    if let Some(p) = std::env::var_os("MIGBOARD_AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()
        .map_err(|e| ClusterError::Start(format!("locating this executable: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir.join("migboard-agent"), dir.join("../migboard-agent")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ClusterError::Start(format!(
                "the embedded fleet needs the migboard-agent binary next to {} (build it with `cargo build --release -p agent`, which `make build` does) or MIGBOARD_AGENT_BIN",
                exe.display()
            ))
        })
}

fn random_token() -> Result<String, ClusterError> {
    use std::io::Read as _;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ClusterError::Start(format!("reading /dev/urandom for agent tokens: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Embedded {
    /// Starts an agent per node of `spec`, keeping their state under `data_dir/nodes`, and applies each
    /// pool's MIG config to nodes that start for the first time.
    ///
    /// # Errors
    /// [`ClusterError::Start`] when a folder cannot be made, an agent does not start, or a first
    /// apply fails.
    pub async fn start(
        spec: &FleetSpec,
        data_dir: &Path,
        agent_bin: &Path,
        catalogue: crate::catalogue::SharedCatalogue,
    ) -> Result<Self, ClusterError> {
        let dir = data_dir.join("nodes");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| ClusterError::Start(format!("creating {}: {e}", dir.display())))?;
        let fleet = Self {
            nodes: RwLock::new(Vec::new()),
            pools: RwLock::new(Vec::new()),
            catalogue,
            agents: AgentClient::default(),
            dir,
            agent_bin: agent_bin.to_owned(),
            sim_latency: spec.sim_latency,
            reading: Mutex::new(()),
            died: Arc::new(AtomicBool::new(false)),
            reviving: Mutex::new(()),
        };
        // Every simulated node of the spec in one agent process (`serve-many`): hundreds of nodes
        // cost one process, not hundreds.
        let simulated: Vec<(&str, &PoolSpec)> = spec
            .pools
            .iter()
            .flat_map(|p| p.nodes.iter().filter(|n| n.remote.is_none()).map(move |n| (n.name.as_str(), p)))
            .collect();
        let first_start: std::collections::BTreeSet<String> = simulated
            .iter()
            .filter(|(n, _)| !fleet.files_of(n).0.exists())
            .map(|(n, _)| (*n).to_owned())
            .collect();
        let mut spawned: std::collections::BTreeMap<String, AgentNode> = fleet
            .spawn(&simulated.iter().map(|(n, p)| (*n, p.name.as_str(), p.shape)).collect::<Vec<_>>())
            .await?
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        let mut agents = Vec::new();
        for pool in &spec.pools {
            fleet.add_pool(pool);
            for node in &pool.nodes {
                let agent = match &node.remote {
                    Some(remote) => AgentNode {
                        name: node.name.clone(),
                        pool: pool.name.clone(),
                        shape: pool.shape,
                        url: remote.url.clone(),
                        credential: AgentCredential::Token(remote.token.clone()),
                        sim: None,
                    },
                    None => spawned.remove(&node.name).ok_or_else(|| {
                        ClusterError::Start(format!("node {}: not started", node.name))
                    })?,
                };
                let config = pool
                    .mig_config
                    .clone()
                    .filter(|_| first_start.contains(&node.name));
                agents.push((agent, config));
            }
        }
        // First starts get their pool's config, a few nodes at a time (each node applies GPU by GPU).
        use futures_util::StreamExt as _;
        let applied: Vec<Result<AgentNode, ClusterError>> =
            futures_util::stream::iter(agents.into_iter().map(|(agent, config)| {
                let client = &fleet.agents;
                async move {
                    if let Some(config) = config {
                        client
                            .apply(
                                &agent.endpoint(),
                                // A new node runs nothing: a MIG mode change may reset its GPUs.
                                &ApplyRequest::new(ApplyTarget::Named(config), &[], false)
                                    .with_reset(true),
                            )
                            .await
                            .map_err(|e| ClusterError::Start(e.to_string()))?;
                    }
                    Ok(agent)
                }
            }))
            .buffered(FIRST_APPLIES_AT_ONCE)
            .collect()
            .await;
        for agent in applied {
            fleet.push(agent?);
        }
        Ok(fleet)
    }

    fn add_pool(&self, pool: &PoolSpec) {
        let mut pools = self
            .pools
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !pools.iter().any(|p| p.name == pool.name) {
            pools.push(FleetPoolInfo {
                name: pool.name.clone(),
                shape: pool.shape.name.to_owned(),
                max_pods_per_node: pool.max_pods_per_node,
                dedicated_to: pool.dedicated_to.clone(),
            });
        }
    }

    fn push(&self, node: AgentNode) {
        self.nodes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::new(node));
    }

    fn node(&self, name: &str) -> Result<Arc<AgentNode>, ClusterError> {
        read(&self.nodes)
            .into_iter()
            .find(|n| n.name == name)
            .ok_or_else(|| ClusterError::NoSuchNode(name.to_owned()))
    }

    /// A node by name, after starting again any agent process that exited.
    async fn live_node(&self, name: &str) -> Result<Arc<AgentNode>, ClusterError> {
        self.revive().await;
        self.node(name)
    }

    /// Starts again, in one new process, the simulated nodes whose agent process exited (killed,
    /// crashed). Each resumes its journal before it listens, so an apply the kill interrupted is
    /// finished (or found done) before migboard reaches the node again; a caller whose request
    /// died with the process gets a transient error and retries against the new one. Cheap when
    /// nothing died: one atomic load.
    pub async fn revive(&self) {
        if !self.died.swap(false, Ordering::AcqRel) {
            return;
        }
        let _one = self.reviving.lock().await;
        let dead: Vec<Arc<AgentNode>> = read(&self.nodes)
            .into_iter()
            .filter(|n| {
                n.sim
                    .as_ref()
                    .is_some_and(|s| s.process.exited.load(Ordering::Acquire))
            })
            .collect();
        if dead.is_empty() {
            return;
        }
        let list: Vec<(&str, &str, &'static NodeShape)> = dead
            .iter()
            .map(|n| (n.name.as_str(), n.pool.as_str(), n.shape))
            .collect();
        tracing::warn!(nodes = list.len(), "starting the agent of nodes whose process exited");
        match self.spawn(&list).await {
            Ok(started) => {
                let mut nodes = self
                    .nodes
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for agent in started {
                    // A node removed meanwhile stays removed (its new agent dies with this Arc).
                    if let Some(slot) = nodes.iter_mut().find(|n| n.name == agent.name) {
                        *slot = Arc::new(agent);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the agent of nodes whose process exited; trying again on the next fleet read");
                self.died.store(true, Ordering::Release);
            }
        }
    }

    /// The process ids of the simulated nodes' agent processes (for diagnostics and supervision
    /// tests), one per process.
    pub fn agent_processes(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = read(&self.nodes)
            .iter()
            .filter_map(|n| n.sim.as_ref().and_then(|s| s.process.pid))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// A simulated node's state file and apply journal.
    fn files_of(&self, node: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{node}.json")),
            self.dir.join(format!("{node}.journal")),
        )
    }

    /// The named config every GPU of this node matches, if one does.
    fn matching_config(
        &self,
        shape: &NodeShape,
        gpus: &[mig::wire::InventoryGpu],
    ) -> Option<String> {
        self.catalogue
            .get()
            .matching(shape.model, gpus)
            .map(|c| c.name.clone())
    }
}

impl Embedded {
    /// Starts one agent process (`serve-many`) serving the simulated `nodes` (name, pool, shape),
    /// each with its own token, state file and journal; none for an empty list.
    async fn spawn(
        &self,
        nodes: &[(&str, &str, &'static NodeShape)],
    ) -> Result<Vec<AgentNode>, ClusterError> {
        use tokio::io::AsyncWriteExt as _;
        let Some((first_name, _, _)) = nodes.first() else {
            return Ok(Vec::new());
        };
        let who = if nodes.len() == 1 {
            format!("node {first_name}")
        } else {
            format!("the agent of {} simulated nodes", nodes.len())
        };
        let err = |m: String| ClusterError::Start(format!("{who}: {m}"));
        let mut list = Vec::with_capacity(nodes.len());
        let mut tokens = Vec::with_capacity(nodes.len());
        for (name, _, shape) in nodes {
            let (state, journal) = self.files_of(name);
            let token = random_token()?;
            list.push(mig::agent_api::SimNode {
                name: (*name).to_owned(),
                simulate: format!("{}x{}", shape.model.id(), shape.gpus),
                token: token.clone().into(),
                state: Some(state.display().to_string()),
                journal: Some(journal.display().to_string()),
                latency_ms: u64::try_from(self.sim_latency.as_millis()).unwrap_or(u64::MAX),
            });
            tokens.push(token);
        }
        let input = serde_json::to_vec(&mig::agent_api::SimNodes { nodes: list })
            .map_err(|e| err(format!("writing the node list: {e}")))?;
        let mut child = tokio::process::Command::new(&self.agent_bin)
            .args(["serve-many", "--addr", "127.0.0.1:0", "--exit-with-parent"])
            .env(
                "RUST_LOG",
                std::env::var("MIGBOARD_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| err(format!("starting {}: {e}", self.agent_bin.display())))?;
        // The tokens go on standard input, never on the command line (where `ps` shows them).
        let mut stdin = child.stdin.take().ok_or_else(|| err("no stdin".into()))?;
        stdin
            .write_all(&input)
            .await
            .map_err(|e| err(format!("handing over the node list: {e}")))?;
        drop(stdin);
        let stdout = child.stdout.take().ok_or_else(|| err("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        // A node resumes an interrupted apply before the agent listens: allow for it.
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| err("the agent did not say where it listens within 60 s".into()))?
            .map_err(|e| err(format!("reading the agent's output: {e}")))?;
        let url = first
            .as_deref()
            .and_then(|l| l.strip_prefix("listening on "))
            .map(str::to_owned)
            .ok_or_else(|| {
                err(format!(
                    "the agent exited or said something unexpected ({first:?}); its log is above"
                ))
            })?;
        // Keep draining its stdout so it can never block on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tracing::info!(nodes = nodes.len(), %url, "node agent started");
        let process = Arc::new(SimProcess::watch(child, self.died.clone()));
        Ok(nodes
            .iter()
            .zip(tokens)
            .map(|((name, pool, shape), token)| {
                let (state, journal) = self.files_of(name);
                AgentNode {
                    name: (*name).to_owned(),
                    pool: (*pool).to_owned(),
                    shape,
                    url: format!("{url}{}", mig::agent_api::node_prefix(name)),
                    credential: AgentCredential::Token(token.into()),
                    sim: Some(SimNode {
                        process: process.clone(),
                        files: [state, journal],
                    }),
                }
            })
            .collect())
    }
}

impl Cluster for Embedded {
    fn describe(&self) -> String {
        let nodes = read(&self.nodes);
        let pools: Vec<String> = read(&self.pools)
            .iter()
            .map(|p| {
                let members: Vec<_> = nodes.iter().filter(|n| n.pool == p.name).collect();
                let remote = members.iter().filter(|n| n.sim.is_none()).count();
                let mut line = format!("{} {} × {}", p.name, members.len(), p.shape);
                if remote > 0 {
                    line.push_str(&format!(" ({remote} real)"));
                }
                line
            })
            .collect();
        format!(
            "embedded fleet (simulated GPUs, real agents): {}",
            pools.join(", ")
        )
    }

    fn fleet(&self) -> BoxFuture<'_, Fleet> {
        Box::pin(async move {
            let _one = self.reading.lock().await;
            self.revive().await;
            let agents = read(&self.nodes);
            let mut nodes = Vec::with_capacity(agents.len());
            // Several nodes at a time, answers in fleet order: at 500 nodes, one after the other
            // is 500 round trips end to end.
            use futures_util::StreamExt as _;
            let mut asks: Vec<BoxFuture<'_, Result<Vec<mig::wire::InventoryGpu>, String>>> =
                Vec::with_capacity(agents.len());
            for node in &agents {
                asks.push(Box::pin(async move {
                    self.agents.inventory(&node.endpoint()).await
                }));
            }
            let answers: Vec<_> = futures_util::stream::iter(asks)
            .buffered(INVENTORIES_AT_ONCE)
            .collect()
            .await;
            for (node, answer) in agents.iter().zip(answers) {
                let (gpus, error) = match answer {
                    Ok(gpus) => (gpus, None),
                    Err(e) => (Vec::new(), Some(e)),
                };
                let mig_config = self.matching_config(node.shape, &gpus);
                let labels = super::operator_labels(
                    &node.pool,
                    node.shape.name,
                    mig_config.as_deref(),
                    &gpus,
                );
                nodes.push(FleetNodeInfo {
                    name: node.name.clone(),
                    pool: node.pool.clone(),
                    shape: node.shape.name.to_owned(),
                    mig_config,
                    gpus,
                    error,
                    mig_state: None,
                    drift: None,
                    labels,
                });
            }
            Fleet {
                pools: read(&self.pools),
                nodes,
            }
        })
    }

    fn apply<'a>(
        &'a self,
        node: &'a str,
        request: &'a ApplyRequest,
    ) -> BoxFuture<'a, Result<super::Applied, ClusterError>> {
        Box::pin(async move {
            let agent = self.live_node(node).await?;
            let op = self.agents.apply(&agent.endpoint(), request).await?;
            Ok(super::Applied {
                reset_pending: op.reset_required(),
            })
        })
    }

    fn start_workload<'a>(
        &'a self,
        node: &'a str,
        w: &'a WorkloadRequest,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let agent = self.live_node(node).await?;
            self.agents.start_workload(&agent.endpoint(), w).await
        })
    }

    fn stop_workloads<'a>(
        &'a self,
        node: &'a str,
        gpu: u32,
        start: u8,
    ) -> BoxFuture<'a, Result<u32, ClusterError>> {
        Box::pin(async move {
            let agent = self.live_node(node).await?;
            self.agents
                .stop_workloads(&agent.endpoint(), gpu, start)
                .await
        })
    }

    fn add_node<'a>(&'a self, node: &'a NewNode) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            if self.node(&node.name).is_ok() {
                return Ok(());
            }
            self.add_pool(&PoolSpec {
                name: node.pool.clone(),
                shape: node.shape,
                nodes: Vec::new(),
                mig_config: None,
                max_pods_per_node: node.max_pods_per_node,
                dedicated_to: node.dedicated_to.clone(),
            });
            for agent in self.spawn(&[(&node.name, &node.pool, node.shape)]).await? {
                self.push(agent);
            }
            Ok(())
        })
    }

    fn remove_node<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let removed = {
                let mut nodes = self
                    .nodes
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let at = nodes.iter().position(|n| n.name == node);
                at.map(|i| nodes.remove(i))
            };
            let Some(agent) = removed else { return Ok(()) };
            if agent.sim.is_none() {
                return Err(ClusterError::Unsupported(format!(
                    "node {node} is a real agent listed in the fleet file; remove it there"
                )));
            }
            let pool = agent.pool.clone();
            let files = agent.sim.as_ref().map(|s| s.files.clone());
            // Dropping the last node of its agent process kills that process (kill_on_drop); the
            // process may serve others, but nothing reaches this node any more.
            drop(agent);
            for f in files.into_iter().flatten() {
                if let Err(e) = tokio::fs::remove_file(&f).await
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(file = %f.display(), error = %e, "cannot remove a removed node's state");
                }
            }
            if !read(&self.nodes).iter().any(|n| n.pool == pool) {
                self.pools
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .retain(|p| p.name != pool);
            }
            tracing::info!(%node, "node removed");
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FleetSpec, ClusterError> {
        FleetSpec::from_toml(text, "fleet.toml", &crate::state::catalogue())
    }

    #[test]
    fn the_example_fleet_file_is_the_default_fleet() {
        let example = include_str!("../../../docs/fleet.example.toml");
        assert_eq!(parse(example).expect("parses"), FleetSpec::default_fleet());
    }

    #[test]
    fn real_agents_are_listed_with_a_token_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("t");
        std::fs::write(&token, "s3cret\n").expect("token");
        let spec = parse(&format!(
            "[[pools]]\nname = \"lab\"\nshape = \"BM.GPU.H100.8\"\n[[pools.agents]]\nname = \"gpu-07\"\nurl = \"http://10.1.2.7:9400/\"\ntoken_file = \"{}\"\n",
            token.display()
        ))
        .expect("parses");
        assert_eq!(
            spec.pools[0].nodes,
            [NodeSpec {
                name: "gpu-07".into(),
                remote: Some(RemoteAgent {
                    url: "http://10.1.2.7:9400".into(),
                    token: "s3cret".into()
                })
            }]
        );
    }

    #[test]
    fn mistakes_are_explained_with_where_and_what_to_write() {
        let cases = [
            ("", "no pools"),
            (
                "[[pools]]\nname = \"p\"\nshape = \"BM.GPU.X\"\nnodes = [\"a\"]\n",
                "pools[0] (\"p\").shape: \"BM.GPU.X\" is not a MIG-capable node shape; use one of BM.GPU.H100.8",
            ),
            (
                "[[pools]]\nname = \"p\"\nshape = \"BM.GPU.H100.8\"\nmig_config = \"all-1g.5gb\"\nnodes = [\"a\"]\n",
                "\"all-1g.5gb\" is not a named config of NVIDIA H100 80GB",
            ),
            (
                "[[pools]]\nname = \"p\"\nshape = \"BM.GPU.H100.8\"\nnodes = []\n",
                "no nodes",
            ),
            (
                "[[pools]]\nname = \"p\"\nshape = \"BM.GPU.H100.8\"\nnodes = [\"a\", \"a\"]\n",
                "node \"a\" is listed twice",
            ),
            (
                "[[pools]]\nname = \"p\"\nshape = \"BM.GPU.H100.8\"\nnodes = [\"../etc\"]\n",
                "path character",
            ),
            (
                "[[pools]]\nname = \"p\"\nshape = \"BM.GPU.H100.8\"\nnodez = [\"a\"]\n",
                "unknown field `nodez`",
            ),
            (
                "[[pools]]\nname = \"p\"\nshape = \"BM.GPU.H100.8\"\n[[pools.agents]]\nname = \"g\"\nurl = \"http://x\"\ntoken_file = \"/nonexistent/t\"\n",
                "agent \"g\": reading token_file /nonexistent/t",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(
                err.starts_with("starting the fleet: fleet file fleet.toml: "),
                "{err}"
            );
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
