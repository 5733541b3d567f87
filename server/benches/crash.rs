//! Crash campaigns (#21): what migboard promises when a process dies mid-work, checked at random
//! kill points with a seeded, reproducible sequence.
//!
//! - `server ROUNDS [SEED]`: the `migboard` binary (embedded fleet, SQLite) is SIGKILLed at a random
//!   moment of the work each round submits — pool creation (a 2-node H100 pool), pool removal, a
//!   node or pool update, a 3-replica service placed or undeployed, one or two at once — then
//!   started again over the same data directory.
//! - `agent ROUNDS [SEED]`: the server keeps running; the fleet's agent process (`serve-many`,
//!   every simulated node) is SIGKILLed at a random moment of a node or pool update. The server
//!   starts it again; it resumes its journal.
//!
//! After every kill, once the work settled, the campaign asserts: every deployment submitted is
//! there exactly once with the status its work ends in (active, completed, monitoring, undeployed),
//! no deployment has a step twice, every node runs the config its last update asked for (created
//! pools theirs, removed pools' nodes gone), every GPU holds exactly its config's instances with one
//! compute instance each (no orphan), and every live replica runs exactly once. It reports where the
//! kills fell: for the server, the phase of each interrupted deployment as the database held it at
//! the kill (read from the SQLite file after the process died); for the agent, how many GPUs the
//! server had recorded done and whether the agent held a journal (the agent is stopped with
//! SIGSTOP, looked at, then SIGKILLed, so nothing moves in between).
//!
//! Run: `cargo bench -p server --bench crash -- server 100 [SEED]` and `-- agent 100 [SEED]` (kills
//! until 100 of them interrupted work, at most 300)
//! (needs `target/release/migboard-agent`: `cargo build --release -p agent`). The short form runs in
//! `make test` (`server/tests/crash.rs` compiles this file as a module). Results in BENCHMARKS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use mig::wire::{DeploymentDetail, DeploymentInfo, DeploymentStatus, Fleet};
use serde::de::DeserializeOwned;

#[path = "support/mod.rs"]
mod support;
use support::agents_of;

type Http = Client<HttpConnector, Full<bytes::Bytes>>;

const PASSWORD: &str = "crash-campaign-password-0123";
/// The H100 nodes updates change (the default fleet's pool `h100migpool`).
const H100_NODES: [&str; 2] = ["10.0.10.11", "10.0.10.12"];
/// Configs updates and new pools choose from, with their GPU instances per H100 GPU.
const CONFIGS: [(&str, usize); 4] = [
    ("all-1g.10gb", 7),
    ("all-balanced", 4),
    ("all-2g.20gb", 3),
    ("all-3g.40gb", 2),
];
/// Replicas of each service.
const REPLICAS: usize = 3;

/// A seeded sequence (splitmix64): the same seed kills at the same points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }
}

/// What a campaign saw.
#[derive(Debug, Default)]
pub struct CrashReport {
    /// Kills.
    pub kills: usize,
    /// Kills that left work unfinished (the rest fell after it ended).
    pub interrupted: usize,
    /// Where the kills fell: phase → kills.
    pub kill_points: BTreeMap<String, usize>,
    /// Deployments submitted (and undeploys asked).
    pub deployments: usize,
    /// Milliseconds from the kill to every deployment settled, per kill.
    pub recovery_ms: Vec<u64>,
    /// How long each kind of work took without a kill (ms): kills fall within it.
    pub spans: BTreeMap<String, u64>,
    /// Kills per tenth of the work's span (the last holds kills past it: up to 110 %).
    pub tenths: [usize; 11],
}

impl CrashReport {
    fn killed_at(&mut self, after_ms: u64, span_ms: u64) {
        let tenth = usize::try_from(after_ms * 10 / span_ms.max(1)).unwrap_or(10).min(10);
        self.tenths[tenth] += 1;
    }
}

impl CrashReport {
    fn print(&self, what: &str) {
        println!(
            "{what}: {} kills, {} interrupted work, {} deployments; every check held",
            self.kills, self.interrupted, self.deployments
        );
        println!("| kill point | kills |");
        println!("|---|---:|");
        for (point, n) in &self.kill_points {
            println!("| {point} | {n} |");
        }
        let spans: Vec<String> = self.spans.iter().map(|(k, v)| format!("{k} {v} ms")).collect();
        println!("work spans without a kill: {}", spans.join(", "));
        let tenths: Vec<String> = self.tenths.iter().enumerate().map(|(i, n)| format!("{}–{} %: {n}", i * 10, i * 10 + 10)).collect();
        println!("kill times, by tenth of the work's span: {}", tenths.join(", "));
        let mut r = self.recovery_ms.clone();
        r.sort_unstable();
        if let (Some(first), Some(last)) = (r.first(), r.last()) {
            println!(
                "recovery (kill to all settled): min {first} ms, median {} ms, max {last} ms",
                r[r.len() / 2]
            );
        }
    }
}

/// A running `migboard` and how to call it.
struct Server {
    child: tokio::process::Child,
    port: u16,
    http: Http,
    token: String,
}

impl Server {
    /// Starts `migboard` over `dir` (simulated MIG changes take `latency_ms`) and signs in.
    async fn start(dir: &Path, latency_ms: u64) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_migboard"))
            .env("MIGBOARD_ADDR", format!("127.0.0.1:{port}"))
            .env("MIGBOARD_DATA_DIR", dir)
            .env("LEPTOS_SITE_ROOT", dir.join("no-site"))
            .env(
                "MIGBOARD_AGENT_BIN",
                server::cluster::embedded::agent_binary()
                    .expect("the agent binary next to migboard (cargo build -p agent)"),
            )
            .env("MIGBOARD_SIM_LATENCY_MS", latency_ms.to_string())
            .env("RUST_LOG", "error")
            .env("MIGBOARD_AGENT_LOG", "error")
            .env("MIGBOARD_ADMIN_PASSWORD", PASSWORD)
            .kill_on_drop(true)
            .spawn()
            .expect("migboard starts");
        let mut server = Self {
            child,
            port,
            http: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
            token: String::new(),
        };
        let login = format!(r#"{{"username": "admin", "password": "{PASSWORD}", "name": "crash"}}"#);
        for _ in 0..600 {
            if let Some((status, body)) = server.call("POST", "/api/v1/login", &login).await {
                assert_eq!(status, 201, "sign in: {}", String::from_utf8_lossy(&body));
                let created: serde_json::Value = serde_json::from_slice(&body).expect("login json");
                server.token = created["token"].as_str().expect("token").to_owned();
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("migboard did not answer within 30 s");
    }

    async fn call(&self, method: &str, path: &str, body: &str) -> Option<(u16, Vec<u8>)> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}{path}", self.port))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.token))
            .body(Full::new(bytes::Bytes::from(body.to_owned())))
            .ok()?;
        let response = tokio::time::timeout(Duration::from_secs(15), self.http.request(request))
            .await
            .ok()?
            .ok()?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, bytes.to_vec()))
    }

    /// A GET whose answer is `T`; panics naming the path otherwise.
    async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let (status, body) = self.call("GET", path, "").await.unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("GET {path}: {e}: {}", String::from_utf8_lossy(&body)))
    }

    /// Submits a blueprint; its id.
    async fn submit(&self, blueprint: &str) -> i64 {
        let (status, body) = self
            .call("POST", "/api/v1/deployments", blueprint)
            .await
            .expect("POST /api/v1/deployments answers");
        assert_eq!(status, 201, "{blueprint}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<DeploymentInfo>(&body).expect("a deployment").id
    }

    async fn undeploy(&self, id: i64) {
        let (status, body) = self
            .call("POST", &format!("/api/v1/deployments/{id}/undeploy"), "")
            .await
            .expect("undeploy answers");
        assert_eq!(status, 202, "undeploy {id}: {}", String::from_utf8_lossy(&body));
    }

    /// Waits (at most `bound`) until no deployment has work left; the list.
    async fn settle(&self, bound: Duration) -> Vec<DeploymentInfo> {
        let start = Instant::now();
        loop {
            if let Some((200, body)) = self.call("GET", "/api/v1/deployments", "").await {
                let list: Vec<DeploymentInfo> = serde_json::from_slice(&body).expect("deployments");
                if !list.iter().any(|d| d.status.is_unfinished()) {
                    return list;
                }
                assert!(
                    start.elapsed() < bound,
                    "work still unfinished after {bound:?}: {:#?}",
                    list.iter().filter(|d| d.status.is_unfinished()).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and wait until it is gone.
    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

fn instances_of(config: &str) -> usize {
    CONFIGS.iter().find(|(c, _)| *c == config).map_or(0, |(_, n)| *n)
}

fn update_node(name: &str, node: &str, config: &str) -> String {
    format!(
        r#"{{"recipe_mode": "update", "deployment_name": "{name}", "recipe_node_name": "{node}", "shared_node_pool_mig_config": "{config}"}}"#
    )
}

fn update_pool(name: &str, config: &str) -> String {
    format!(
        r#"{{"recipe_mode": "update", "deployment_name": "{name}", "recipe_node_pool_name": "h100migpool", "shared_node_pool_mig_config": "{config}"}}"#
    )
}

fn create_pool(name: &str, config: &str) -> String {
    format!(
        r#"{{"recipe_mode": "shared_node_pool", "deployment_name": "{name}", "shared_node_pool_size": 2, "shared_node_pool_shape": "BM.GPU.H100.8", "shared_node_pool_boot_volume_size_in_gbs": 500, "shared_node_pool_mig_config": "{config}"}}"#
    )
}

/// A 3-replica MIG inference service on the A100 pool's 1g.5gb slices.
fn service(name: &str) -> String {
    mig::blueprint::templates::template("mig_inference_multiple_replicas")
        .expect("template")
        .json
        .replace("autoscale_mig", name)
        .replace("BM.GPU.H100.8", "BM.GPU4.8")
        .replace("\"1g.10gb\"", "\"1g.5gb\"")
        .replace("\"recipe_replica_count\": 5", &format!("\"recipe_replica_count\": {REPLICAS}"))
        // The embedded fleet runs the autoscaler's floor.
        .replace("\"min_replicas\": 5", &format!("\"min_replicas\": {REPLICAS}"))
}

/// What the fleet must look like once everything settled, and what every deployment ends as.
#[derive(Debug, Default)]
struct Model {
    /// Deployment name → the status its work ends in.
    ends: BTreeMap<String, DeploymentStatus>,
    ids: BTreeMap<String, i64>,
    /// H100 node → its config.
    configs: BTreeMap<String, String>,
    /// Created pools alive → config.
    pools: BTreeMap<String, String>,
    /// Pools removed.
    removed: BTreeSet<String>,
    /// Services alive.
    services: Vec<String>,
}

impl Model {
    /// A config none of `nodes` runs, at random.
    fn change(&self, nodes: &[&str], rng: &mut Rng) -> String {
        let others: Vec<&str> = CONFIGS
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| nodes.iter().all(|n| self.configs.get(*n).is_none_or(|now| now != c)))
            .collect();
        (*rng.pick(&others)).to_owned()
    }

    /// Checks the settled server against the model: deployments, steps, the fleet.
    async fn check(&self, server: &Server, list: &[DeploymentInfo], at: &str) {
        let mut seen = BTreeMap::new();
        for d in list {
            assert!(seen.insert(d.name.clone(), d.status).is_none(), "{at}: {} twice", d.name);
            let detail: DeploymentDetail = server.get(&format!("/api/v1/deployments/{}", d.id)).await;
            let mut keys: Vec<&str> = detail.steps.iter().map(|s| s.key.as_str()).collect();
            keys.sort_unstable();
            let all = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), all, "{at}: {} has a step twice: {:?}", d.name, detail.steps);
            if d.status != DeploymentStatus::Undeployed {
                assert!(
                    detail.steps.iter().filter(|s| s.key.starts_with("reconfigure/")).all(|s| s.is_done()),
                    "{at}: {} ended with a GPU not reconfigured: {:?}",
                    d.name,
                    detail.steps
                );
            }
        }
        assert_eq!(seen, self.ends, "{at}: every deployment there once, ended as its work ends");

        // The fleet as the server last read it (every 2 s): wait for a read after the work.
        let mut problems = Vec::new();
        for _ in 0..100 {
            let fleet: Fleet = server.get("/api/v1/fleet").await;
            problems = self.fleet_problems(&fleet);
            if problems.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{at}: the fleet did not converge within 10 s: {problems:#?}");
    }

    fn fleet_problems(&self, fleet: &Fleet) -> Vec<String> {
        let mut problems = Vec::new();
        let mut want: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (node, config) in &self.configs {
            want.entry(config).or_default().push(node);
        }
        for node in &fleet.nodes {
            if let Some(e) = &node.error {
                problems.push(format!("{}: unreachable: {e}", node.name));
                continue;
            }
            let config = self
                .configs
                .get(&node.name)
                .or_else(|| self.pools.get(&node.pool));
            if self.removed.contains(&node.pool) {
                problems.push(format!("{}: pool {} was removed, its node is still there", node.name, node.pool));
            }
            if let Some(config) = config {
                if node.mig_config.as_deref() != Some(config.as_str()) {
                    problems.push(format!("{}: runs {:?}, not {config}", node.name, node.mig_config));
                }
                for gpu in &node.gpus {
                    if gpu.instances.len() != instances_of(config) {
                        problems.push(format!("{} GPU {}: {} instances, {config} has {}", node.name, gpu.index, gpu.instances.len(), instances_of(config)));
                    }
                }
            }
            for gpu in &node.gpus {
                if gpu.mig_devices.len() != gpu.instances.len() {
                    problems.push(format!(
                        "{} GPU {}: {} compute instances for {} GPU instances (orphans)",
                        node.name,
                        gpu.index,
                        gpu.mig_devices.len(),
                        gpu.instances.len()
                    ));
                }
            }
        }
        for (pool, _) in &self.pools {
            let n = fleet.nodes.iter().filter(|n| &n.pool == pool).count();
            if n != 2 {
                problems.push(format!("pool {pool}: {n} nodes, not 2"));
            }
        }
        let mut pids: Vec<u32> = fleet
            .nodes
            .iter()
            .flat_map(|n| &n.gpus)
            .flat_map(|g| &g.busy)
            .flat_map(|b| b.pids.iter().copied())
            .collect();
        let all = pids.len();
        pids.sort_unstable();
        pids.dedup();
        if pids.len() != all {
            problems.push(format!("a replica runs twice: {all} processes, {} distinct", pids.len()));
        }
        if all != REPLICAS * self.services.len() {
            problems.push(format!(
                "{all} replica processes for {} live services of {REPLICAS}",
                self.services.len()
            ));
        }
        problems
    }
}

/// One piece of work a round submits.
#[derive(Debug, Clone)]
enum Work {
    CreatePool(String, String),
    RemovePool(String),
    UpdateNode(String, String, String),
    UpdatePool(String, String),
    Place(String),
    Unplace(String),
}

impl Work {
    fn kind(&self) -> &'static str {
        match self {
            Self::CreatePool(..) => "pool creation",
            Self::RemovePool(..) => "pool removal",
            Self::UpdateNode(..) => "node update",
            Self::UpdatePool(..) => "pool update",
            Self::Place(..) => "placement",
            Self::Unplace(..) => "undeploy of a service",
        }
    }

    /// The deployment it is about.
    fn name(&self) -> &str {
        match self {
            Self::CreatePool(n, _) | Self::RemovePool(n) | Self::UpdateNode(n, ..) | Self::UpdatePool(n, _) | Self::Place(n) | Self::Unplace(n) => n,
        }
    }

    /// Submits it and records in `model` how it ends.
    async fn submit(&self, server: &Server, model: &mut Model) {
        use DeploymentStatus as S;
        let (blueprint, ends) = match self {
            Self::CreatePool(name, config) => {
                model.pools.insert(name.clone(), config.clone());
                (create_pool(name, config), S::Active)
            }
            Self::UpdateNode(name, node, config) => {
                model.configs.insert(node.clone(), config.clone());
                (update_node(name, node, config), S::Completed)
            }
            Self::UpdatePool(name, config) => {
                for node in H100_NODES {
                    model.configs.insert(node.to_owned(), config.clone());
                }
                (update_pool(name, config), S::Completed)
            }
            Self::Place(name) => {
                model.services.push(name.clone());
                (service(name), S::Monitoring)
            }
            Self::RemovePool(name) | Self::Unplace(name) => {
                let id = model.ids[name];
                server.undeploy(id).await;
                model.ends.insert(name.clone(), S::Undeployed);
                model.pools.remove(name);
                if matches!(self, Self::RemovePool(_)) {
                    model.removed.insert(name.clone());
                }
                model.services.retain(|s| s != name);
                return;
            }
        };
        let id = server.submit(&blueprint).await;
        model.ids.insert(self.name().to_owned(), id);
        model.ends.insert(self.name().to_owned(), ends);
    }
}

/// Where the stored deployment `name` stood at the kill: `None` when its work had ended.
async fn phase_at_kill(store: &server::store::Store, name: &str) -> Option<String> {
    let d = store
        .deployments()
        .await
        .expect("read the database")
        .into_iter()
        .find(|d| d.name == name)?;
    if !d.status.is_unfinished() {
        return None;
    }
    let steps = store.steps(d.id).await.expect("steps");
    let done = steps.iter().filter(|s| s.is_done()).count();
    Some(match steps.iter().find(|s| !s.is_done()) {
        _ if d.status == DeploymentStatus::Scheduled && done == 0 => "queued, nothing done".to_owned(),
        None => format!("{}: every step done, status not yet written", d.status),
        Some(s) => {
            let step = s.key.split('/').next().unwrap_or_default();
            let undeploying = if d.status == DeploymentStatus::Undeploying { "undeploying, " } else { "" };
            format!("{undeploying}at step `{step}/…`")
        }
    })
}

/// The server campaign: kills of `migboard` at random points of its work until `wanted` of them
/// interrupted work (a kill that falls after a round's work ended is counted and checked too, but
/// is not one of the `wanted`), at most `3 × wanted` kills.
pub async fn server_campaign(wanted: usize, seed: u64) -> CrashReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(seed);
    let mut model = Model::default();
    for node in H100_NODES {
        model.configs.insert(node.to_owned(), "all-balanced".to_owned());
    }
    let mut report = CrashReport::default();
    // Each simulated MIG change takes 10 ms: a node's reconfiguration spans about a second.
    let mut server = Server::start(dir.path(), 10).await;
    let mut pool_seq = 0;
    // How long each kind of work takes here, measured once without a kill: kills fall uniformly
    // within the longest of a round's kinds.
    let mut spans: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, w) in [
        Work::CreatePool("pool0".into(), "all-1g.10gb".into()),
        Work::UpdateNode("c-node".into(), H100_NODES[0].into(), "all-1g.10gb".into()),
        // Both nodes change (one runs all-1g.10gb now, the other all-balanced).
        Work::UpdatePool("c-pool".into(), "all-2g.20gb".into()),
        Work::Place("c-svc".into()),
        Work::Unplace("c-svc".into()),
        Work::RemovePool("pool0".into()),
    ]
    .iter()
    .enumerate()
    {
        let started = Instant::now();
        w.submit(&server, &mut model).await;
        let list = server.settle(Duration::from_secs(60)).await;
        spans.insert(w.kind(), u64::try_from(started.elapsed().as_millis()).unwrap_or(0));
        model.check(&server, &list, &format!("calibration {i}")).await;
    }
    report.spans = spans.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    for round in 0.. {
        if report.interrupted >= wanted || report.kills >= 3 * wanted {
            break;
        }
        // One or two kinds of work at once (never two updates of the same nodes).
        let mut work = Vec::new();
        let classes: &[u8] = if rng.below(2) == 0 { &[0, 1, 2] } else { &[0, 1, 2, 3, 4, 5] };
        let first = *rng.pick(classes) % 3;
        let second = (first + 1 + u8::try_from(rng.below(2)).unwrap_or(0)) % 3;
        let chosen: Vec<u8> = if classes.len() > 3 { vec![first, second] } else { vec![first] };
        for class in chosen {
            let name = format!("r{round}-{class}");
            work.push(match class {
                0 if model.pools.len() >= 2 || (!model.pools.is_empty() && rng.below(3) == 0) => {
                    let oldest = model.pools.keys().next().cloned().expect("a pool");
                    Work::RemovePool(oldest)
                }
                0 => {
                    pool_seq += 1;
                    Work::CreatePool(format!("pool{pool_seq}"), rng.pick(&CONFIGS).0.to_owned())
                }
                1 => {
                    // Always a change, of every node it names.
                    let node = (*rng.pick(&H100_NODES)).to_owned();
                    if rng.below(2) == 0 {
                        Work::UpdatePool(name, model.change(&H100_NODES, &mut rng))
                    } else {
                        let config = model.change(&[node.as_str()], &mut rng);
                        Work::UpdateNode(name, node, config)
                    }
                }
                _ if model.services.len() >= 2 || (!model.services.is_empty() && rng.below(3) == 0) => {
                    Work::Unplace(model.services[0].clone())
                }
                _ => Work::Place(name),
            });
        }
        for w in &work {
            w.submit(&server, &mut model).await;
        }
        report.deployments += work.len();
        let span = work.iter().map(|w| spans[w.kind()]).max().unwrap_or(1000);
        let kill_after = rng.below(span + span / 10);
        report.killed_at(kill_after, span);
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        server.kill().await;
        let killed = Instant::now();

        // Where the work stood, as the database held it when the process died.
        let store = server::store::Store::open_in(dir.path()).await.expect("open the database");
        let mut interrupted = false;
        for w in &work {
            if let Some(phase) = phase_at_kill(&store, w.name()).await {
                interrupted = true;
                *report.kill_points.entry(format!("{}: {phase}", w.kind())).or_default() += 1;
            }
        }
        drop(store);
        if !interrupted {
            *report.kill_points.entry("after the round's work ended".into()).or_default() += 1;
        }
        report.interrupted += usize::from(interrupted);
        report.kills += 1;

        // The agents died with the server; a new one starts them again and resumes.
        server = Server::start(dir.path(), 10).await;
        let list = server.settle(Duration::from_secs(120)).await;
        report.recovery_ms.push(u64::try_from(killed.elapsed().as_millis()).unwrap_or(u64::MAX));
        let at = format!(
            "round {round} (seed {seed}, killed {kill_after} ms into {:?})",
            work.iter().map(Work::kind).collect::<Vec<_>>()
        );
        model.check(&server, &list, &at).await;
    }
    server.kill().await;
    report
}

/// The agent campaign: SIGKILLs of the fleet's agent process at random points of an update, until
/// `wanted` of them interrupted one (at most `3 × wanted` kills).
pub async fn agent_campaign(wanted: usize, seed: u64) -> CrashReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes = dir.path().join("nodes");
    let mut rng = Rng(seed);
    let mut model = Model::default();
    for node in H100_NODES {
        model.configs.insert(node.to_owned(), "all-balanced".to_owned());
    }
    let mut report = CrashReport::default();
    let server = Server::start(dir.path(), 10).await;
    let pid = server.child.id().expect("server pid");
    // How long each kind of update takes, measured once without a kill: kills fall within it.
    let mut spans: BTreeMap<&str, u64> = BTreeMap::new();
    for round in 0.. {
        if report.interrupted >= wanted || report.kills >= 3 * wanted {
            break;
        }
        let current = model.configs[H100_NODES[0]].clone();
        // A change of both nodes (so a pool update reconfigures all 16 GPUs).
        let config = model.change(&H100_NODES, &mut rng);
        let name = format!("a{round}");
        // The first two rounds measure; then node and pool updates at random.
        let work = match round {
            0 => Work::UpdateNode(name, H100_NODES[0].to_owned(), config),
            1 => Work::UpdatePool(name, config),
            _ if rng.below(2) == 0 => Work::UpdatePool(name, config),
            _ => Work::UpdateNode(name, H100_NODES[0].to_owned(), config),
        };
        // A node update leaves the other node as it was: keep both equal for the next choice.
        let work = match work {
            Work::UpdateNode(n, _, c) if model.configs[H100_NODES[1]] != current => Work::UpdatePool(n, c),
            w => w,
        };
        let started = Instant::now();
        work.submit(&server, &mut model).await;
        report.deployments += 1;
        if round < 2 {
            server.settle(Duration::from_secs(60)).await;
            spans.insert(work.kind(), u64::try_from(started.elapsed().as_millis()).unwrap_or(0));
            report.spans.insert(work.kind().to_owned(), spans[work.kind()]);
            continue;
        }
        let kill_after = rng.below(spans[work.kind()]);
        report.killed_at(kill_after, spans[work.kind()]);
        tokio::time::sleep(Duration::from_millis(kill_after).saturating_sub(started.elapsed())).await;
        let agents = agents_of(pid);
        assert_eq!(agents.len(), 1, "one agent process serves the default fleet: {agents:?}");
        // Frozen, looked at, killed: nothing moves between the look and the kill.
        signal(agents[0], "STOP");
        let journal = std::fs::read_dir(&nodes)
            .map(|d| d.flatten().any(|e| e.path().extension().is_some_and(|x| x == "journal")))
            .unwrap_or(false);
        let id = model.ids[work.name()];
        let detail: DeploymentDetail = server.get(&format!("/api/v1/deployments/{id}")).await;
        let gpus = detail.steps.iter().filter(|s| s.key.starts_with("reconfigure/")).count();
        let done = detail
            .steps
            .iter()
            .filter(|s| s.key.starts_with("reconfigure/") && s.is_done())
            .count();
        signal(agents[0], "KILL");
        let killed = Instant::now();
        let point = if detail.deployment.status.is_unfinished() {
            report.interrupted += 1;
            let state = if journal { "mid-apply (journal held)" } else { "between applies" };
            format!("{}: {state}, {done} of {gpus} GPUs done", work.kind())
        } else {
            format!("{}: after it ended", work.kind())
        };
        *report.kill_points.entry(point).or_default() += 1;
        report.kills += 1;

        let at = format!("round {round} (seed {seed}, agent killed {kill_after} ms into a {})", work.kind());
        // The server starts a new agent process at its next fleet read (every 2 s) or node call.
        let mut after = Vec::new();
        for _ in 0..150 {
            after = agents_of(pid);
            if after.len() == 1 && after != agents {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(after.len() == 1 && after != agents, "{at}: one new agent process within 15 s: {agents:?} → {after:?}");
        let list = server.settle(Duration::from_secs(60)).await;
        report.recovery_ms.push(u64::try_from(killed.elapsed().as_millis()).unwrap_or(u64::MAX));
        model.check(&server, &list, &at).await;
    }
    server.kill().await;
    report
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let number = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let wanted = usize::try_from(number(1, 100)).unwrap_or(100);
    let seed = number(2, 1);
    let started = Instant::now();
    match args.first().map(String::as_str) {
        Some("server") => server_campaign(wanted, seed).await.print("server kills"),
        Some("agent") => agent_campaign(wanted, seed).await.print("agent kills"),
        _ => {
            eprintln!("usage: crash (server|agent) [INTERRUPTING_KILLS=100] [SEED=1]");
            std::process::exit(2);
        }
    }
    println!("took {:.0} s", started.elapsed().as_secs_f64());
}
