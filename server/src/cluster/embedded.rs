//! The embedded fleet: every node is a real `migboard-agent` process on simulated GPUs, started by
//! the server, reached over loopback HTTP with its own token.
//!
//! Each node keeps its simulated GPUs in `<data-dir>/nodes/<node>.json` (`--sim-state`) and its apply
//! journal next to it, so a restarted server finds the fleet as it left it. Agents run with
//! `--exit-with-parent`: when the server dies, even by SIGKILL, its agents follow; they listen on
//! ports the system picks, so a restart never collides with a leftover.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mig::blueprint::Catalogue;
use mig::shape::NodeShape;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;

use super::{BoxFuture, Cluster, ClusterError, Fleet, Node, Pool};

/// A pool of the fleet to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// Pool name.
    pub name: String,
    /// Node shape.
    pub shape: &'static NodeShape,
    /// Node names.
    pub nodes: Vec<String>,
    /// Named MIG config applied to a node the first time it starts.
    pub mig_config: Option<String>,
}

/// The fleet to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    /// Its pools.
    pub pools: Vec<PoolSpec>,
}

impl FleetSpec {
    /// migboard's default fleet: pool `h100-pool` with two BM.GPU.H100.8 on `all-balanced`, pool
    /// `a100-pool` with one BM.GPU4.8 (A100 40GB) on `all-1g.5gb`.
    pub fn default_fleet() -> Self {
        let pool = |name: &str, shape: &str, nodes: &[&str], config: &str| {
            mig::shape::shape(shape).map(|shape| PoolSpec {
                name: name.to_owned(),
                shape,
                nodes: nodes.iter().map(|n| (*n).to_owned()).collect(),
                mig_config: Some(config.to_owned()),
            })
        };
        Self {
            pools: [
                pool(
                    "h100-pool",
                    "BM.GPU.H100.8",
                    &["10.0.10.11", "10.0.10.12"],
                    "all-balanced",
                ),
                pool("a100-pool", "BM.GPU4.8", &["10.0.20.11"], "all-1g.5gb"),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }

    /// One line for the status card.
    pub fn describe(&self) -> String {
        self.pools
            .iter()
            .map(|p| format!("{} {} × {}", p.name, p.nodes.len(), p.shape.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A running node agent.
#[derive(Debug)]
struct AgentNode {
    name: String,
    pool: String,
    shape: &'static NodeShape,
    url: String,
    token: String,
    /// Killed when the fleet is dropped.
    _child: tokio::process::Child,
}

type HttpClient = Client<HttpConnector, Full<bytes::Bytes>>;

/// The embedded fleet.
#[derive(Debug)]
pub struct Embedded {
    nodes: Vec<AgentNode>,
    pools: Vec<Pool>,
    catalogue: Arc<Catalogue>,
    client: HttpClient,
    what: String,
    /// One fleet read at a time: agents answer in microseconds, a burst of readers gains nothing.
    reading: Mutex<()>,
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
        catalogue: Arc<Catalogue>,
    ) -> Result<Self, ClusterError> {
        let dir = data_dir.join("nodes");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| ClusterError::Start(format!("creating {}: {e}", dir.display())))?;
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let mut fleet = Self {
            nodes: Vec::new(),
            pools: Vec::new(),
            catalogue,
            client,
            what: format!(
                "embedded fleet (simulated GPUs, real agents): {}",
                spec.describe()
            ),
            reading: Mutex::new(()),
        };
        for pool in &spec.pools {
            fleet.pools.push(Pool {
                name: pool.name.clone(),
                shape: pool.shape.name.to_owned(),
                max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
            });
            for name in &pool.nodes {
                let state = dir.join(format!("{name}.json"));
                let first_start = !state.exists();
                let node = spawn(
                    name,
                    pool,
                    &state,
                    &dir.join(format!("{name}.journal")),
                    agent_bin,
                )
                .await?;
                if let (true, Some(config)) = (first_start, &pool.mig_config) {
                    fleet.apply(&node, config).await?;
                }
                fleet.nodes.push(node);
            }
        }
        Ok(fleet)
    }

    async fn request(
        &self,
        node: &AgentNode,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, String), ClusterError> {
        let err = |message: String| ClusterError::Node {
            node: node.name.clone(),
            message,
        };
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", node.url))
            .header("authorization", format!("Bearer {}", node.token))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
            .map_err(|e| err(e.to_string()))?;
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .map_err(|_| err(format!("{method} {path}: no answer within 10 s")))?
            .map_err(|e| err(format!("{method} {path}: {e}")))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| err(format!("{method} {path}: reading the answer: {e}")))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Applies named config `config` to every GPU of `node` and waits for the agent to finish.
    async fn apply(&self, node: &AgentNode, config: &str) -> Result<(), ClusterError> {
        let err = |message: String| ClusterError::Start(format!("node {}: {message}", node.name));
        let body = serde_json::json!({ "config": config }).to_string();
        let (status, answer) = self.request(node, "POST", "/v1/apply", Some(body)).await?;
        if status != 202 {
            return Err(err(format!("applying {config}: HTTP {status}: {answer}")));
        }
        let id = serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["operation"].as_u64())
            .ok_or_else(|| err(format!("applying {config}: unexpected answer {answer}")))?;
        for _ in 0..600 {
            let (_, op) = self
                .request(node, "GET", &format!("/v1/operations/{id}"), None)
                .await?;
            let op: serde_json::Value = serde_json::from_str(&op).unwrap_or_default();
            match op["status"].as_str() {
                Some("running") => tokio::time::sleep(Duration::from_millis(50)).await,
                Some("succeeded") => return Ok(()),
                other => {
                    return Err(err(format!(
                        "applying {config}: {} ({op})",
                        other.unwrap_or("unknown")
                    )));
                }
            }
        }
        Err(err(format!("applying {config}: still running after 30 s")))
    }

    /// The named config every GPU of this node matches, if one does.
    fn matching_config(
        &self,
        shape: &NodeShape,
        gpus: &[mig::wire::InventoryGpu],
    ) -> Option<String> {
        let desired: Vec<mig::DesiredMig> = gpus
            .iter()
            .map(|g| match g.mig_mode {
                mig::MigMode::Disabled => mig::DesiredMig::Disabled,
                mig::MigMode::Enabled => {
                    let mut counts = mig::ProfileCounts::default();
                    g.instances.iter().for_each(|i| counts.add(&i.profile, 1));
                    mig::DesiredMig::Enabled(counts)
                }
            })
            .collect();
        let first = desired.first()?;
        if desired.iter().any(|d| d != first) {
            return None;
        }
        self.catalogue
            .configs(shape.model)
            .iter()
            .find(|c| &c.desired == first)
            .map(|c| c.name.clone())
    }
}

async fn spawn(
    name: &str,
    pool: &PoolSpec,
    state: &Path,
    journal: &Path,
    agent_bin: &Path,
) -> Result<AgentNode, ClusterError> {
    let err = |m: String| ClusterError::Start(format!("node {name}: {m}"));
    let token = random_token()?;
    let simulate = format!("{}x{}", pool.shape.model.id(), pool.shape.gpus);
    let mut child = tokio::process::Command::new(agent_bin)
        .arg("--simulate")
        .arg(&simulate)
        .arg("--sim-state")
        .arg(state)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--exit-with-parent",
            "--journal",
        ])
        .arg(journal)
        .env("MIGBOARD_AGENT_TOKEN", &token)
        .env(
            "RUST_LOG",
            std::env::var("MIGBOARD_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(format!("starting {}: {e}", agent_bin.display())))?;
    let stdout = child.stdout.take().ok_or_else(|| err("no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
        .await
        .map_err(|_| err("the agent did not say where it listens within 15 s".into()))?
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
    tracing::info!(node = %name, pool = %pool.name, %url, "node agent started");
    Ok(AgentNode {
        name: name.to_owned(),
        pool: pool.name.clone(),
        shape: pool.shape,
        url,
        token,
        _child: child,
    })
}

impl Cluster for Embedded {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn fleet(&self) -> BoxFuture<'_, Fleet> {
        Box::pin(async move {
            let _one = self.reading.lock().await;
            let mut nodes = Vec::with_capacity(self.nodes.len());
            for node in &self.nodes {
                let answer = self.request(node, "GET", "/v1/inventory", None).await;
                let (gpus, error) = match answer {
                    Ok((200, body)) => match serde_json::from_str::<mig::wire::Inventory>(&body) {
                        Ok(inv) => (inv.gpus, None),
                        Err(e) => (Vec::new(), Some(format!("unreadable inventory: {e}"))),
                    },
                    Ok((status, body)) => (
                        Vec::new(),
                        Some(format!("inventory: HTTP {status}: {body}")),
                    ),
                    Err(e) => (Vec::new(), Some(e.to_string())),
                };
                nodes.push(Node {
                    name: node.name.clone(),
                    pool: node.pool.clone(),
                    shape: node.shape.name.to_owned(),
                    mig_config: self.matching_config(node.shape, &gpus),
                    gpus,
                    error,
                });
            }
            Fleet {
                pools: self.pools.clone(),
                nodes,
            }
        })
    }
}
