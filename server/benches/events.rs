//! Bench: N concurrent SSE watchers on one deployment, and REST throughput of `GET /api/v1/fleet`.
//!
//! Starts the release `migboard` (embedded fleet, SQLite in a temporary directory) as a child
//! process, deploys one MIG inference service, opens N watchers on its
//! `GET /api/v1/deployments/{id}/events` and measures:
//! - the server's resident memory per watcher (`VmRSS` of the server process before and after the N
//!   connections, divided by N; the agents are separate processes and not counted),
//! - delivery latency of the `monitor` events (the orchestrator checks the service every 2 s and stamps
//!   each event with the time it was published; a watcher's latency is receive time minus that stamp,
//!   same machine, same clock), p50/p99/max over every event every watcher received,
//! - then `GET /api/v1/fleet` throughput with C keep-alive connections for a few seconds;
//! - then, on a second server with a 500-node, 4,000-GPU fleet as data (`--cluster none`), the same
//!   request's size and latency p50/p95/p99, and the fleet page's reads (summary, a page of nodes);
//! - then the same 500 nodes as an embedded fleet of real agents (one `serve-many` process): first
//!   start and restart time, memory and idle CPU of server and agents, the same reads.
//!
//! Run: `cargo bench -p server --bench events -- [WATCHERS...]` (default 1000 10000), or
//! `-- fleets` for the 500-node parts only, or `-- soak SECONDS WATCHERS` for the soak campaign
//! (default 600 s, 2,000 watchers), or `-- conncost N` for where a watcher's memory goes. Needs
//! `target/release/migboard-agent` (`make build`). Results go in BENCHMARKS.md.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/mod.rs"]
mod support;
use support::agents_of;

/// The admin password the bench starts its servers with, and the API token it signed in for.
const PASSWORD: &str = "bench-admin-password-0123456789";
static TOKEN: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// The `authorization` header line every request carries (after [`sign_in`]).
fn auth() -> String {
    let token = TOKEN.lock().map(|t| t.clone()).unwrap_or_default();
    if token.is_empty() {
        String::new()
    } else {
        format!("authorization: Bearer {token}\r\n")
    }
}

/// Signs in as the admin the server made from `MIGBOARD_ADMIN_PASSWORD`, for an API token that
/// every later request carries.
async fn sign_in(port: u16) {
    if let Ok(mut t) = TOKEN.lock() {
        t.clear();
    }
    let answer = request(
        port,
        "POST",
        "/api/v1/login",
        &format!(r#"{{"username": "admin", "password": "{PASSWORD}"}}"#),
    )
    .await;
    let token = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("signed in: {answer}"));
    if let Ok(mut t) = TOKEN.lock() {
        *t = token;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// One HTTP/1.1 request on a fresh connection; the whole answer body as text.
async fn request(port: u16, method: &str, path: &str, body: &str) -> String {
    call(port, method, path, body).await.1
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A watcher: reads the stream and records the latency of each `monitor` event.
async fn watch(
    port: u16,
    id: i64,
    ready: tokio::sync::mpsc::Sender<()>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<i64> {
    let mut latencies = Vec::new();
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return latencies;
    };
    let req = format!(
        "GET /api/v1/deployments/{id}/events HTTP/1.1\r\nhost: bench\r\n{}accept: text/event-stream\r\n\r\n",
        auth()
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return latencies;
    }
    let mut buf = vec![0u8; 8192];
    let mut pending = String::new();
    let mut announced = false;
    loop {
        let n = tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(n) if n > 0 => n,
                _ => break,
            },
            _ = stop.changed() => break,
        };
        let received = now_ms();
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !announced && pending.contains("event: deployment") {
            announced = true;
            let _ = ready.send(()).await;
        }
        while let Some(end) = pending.find("\n\n") {
            let frame: String = pending.drain(..end + 2).collect();
            if frame.contains("event: resync") {
                // Marked as a negative latency: counted apart below.
                latencies.push(i64::MIN);
            } else if frame.contains("event: monitor")
                && let Some(at) = frame.split("\"at_ms\":").nth(1)
                && let Ok(at) = at
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("")
                    .parse::<i64>()
            {
                latencies.push(received - at);
            }
        }
    }
    latencies
}

async fn fleet_throughput(port: u16, connections: usize, seconds: u64) -> (f64, i64, i64, i64) {
    throughput(port, "/api/v1/fleet", connections, seconds).await
}

/// `GET path` on `connections` keep-alive connections for `seconds`: (req/s, p50, p95, p99 µs).
async fn throughput(
    port: u16,
    path: &'static str,
    connections: usize,
    seconds: u64,
) -> (f64, i64, i64, i64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut s = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let mut buf = vec![0u8; 1 << 16];
            let get = format!("GET {path} HTTP/1.1\r\nhost: bench\r\n{}\r\n", auth());
            while Instant::now() < until {
                let t = Instant::now();
                s.write_all(get.as_bytes()).await.expect("write");
                // Read one response: headers, then content-length bytes.
                let mut got = Vec::new();
                let (header_end, length) = loop {
                    let n = s.read(&mut buf).await.expect("read");
                    assert!(n > 0, "server closed");
                    got.extend_from_slice(&buf[..n]);
                    if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .expect("content-length");
                        break (i + 4, len);
                    }
                };
                while got.len() < header_end + length {
                    let n = s.read(&mut buf).await.expect("read");
                    got.extend_from_slice(&buf[..n]);
                }
                lat.push(i64::try_from(t.elapsed().as_micros()).unwrap_or(i64::MAX));
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    (
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&all, 0.99),
    )
}

/// Starts the release `migboard` with its data in `dir` and these settings, waits until it listens,
/// and signs in: (process, port).
async fn start_server(dir: &std::path::Path, env: &[(&str, &str)]) -> (tokio::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_migboard"));
    command
        .env("MIGBOARD_ADDR", format!("127.0.0.1:{port}"))
        .env("MIGBOARD_DATA_DIR", dir)
        .env("LEPTOS_SITE_ROOT", dir.join("no-site"))
        .env("RUST_LOG", "error")
        .env("MIGBOARD_ADMIN_PASSWORD", PASSWORD)
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let server = command
        .spawn()
        .expect("start target/release/migboard (needs target/release/migboard-agent: make build)");
    // Up to 5 minutes: a first start of 500 nodes applies every node's config before listening.
    for _ in 0..3000 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sign_in(port).await;
    (server, port)
}

/// [`start_server`] on the default fleet with instant simulated changes, for many watchers: every
/// watcher comes from this one address and user, so the per-client stream caps (production
/// defaults: 16 per user, 64 per address) are lifted to measure fan-out.
async fn start_fanout_server(dir: &std::path::Path) -> (tokio::process::Child, u16) {
    start_server(
        dir,
        &[
            ("MIGBOARD_SIM_LATENCY_MS", "0"),
            ("MIGBOARD_MAX_STREAMS_PER_USER", "10000"),
            ("MIGBOARD_MAX_STREAMS_PER_ADDRESS", "100000"),
        ],
    )
    .await
}

/// A fleet file of `nodes` BM.GPU.H100.8 nodes in pools of 100, on five named configs.
fn big_fleet(nodes: usize) -> String {
    let configs = ["all-balanced", "all-1g.10gb", "all-3g.40gb", "all-2g.20gb", "all-1g.20gb"];
    let mut out = String::new();
    for p in 0..nodes.div_ceil(100) {
        let names: Vec<String> = (0..100.min(nodes - p * 100))
            .map(|n| format!("\"10.{}.{}.{}\"", 1 + p / 200, p % 200, 10 + n))
            .collect();
        out.push_str(&format!(
            "[[pools]]\nname = \"pool-{p}\"\nshape = \"BM.GPU.H100.8\"\nmig_config = \"{}\"\nnodes = [{}]\n\n",
            configs[p % configs.len()],
            names.join(", ")
        ));
    }
    out
}

/// `GET /api/v1/fleet` of a 500-node, 4,000-GPU fleet (`--cluster none`: the fleet as data, no
/// agents, so the bench measures the API, not 500 simulated agents on two cores).
async fn big_fleet_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.toml");
    std::fs::write(&file, big_fleet(500)).expect("fleet file");
    let file = file.to_string_lossy().into_owned();
    let (mut server, port) = start_server(
        dir.path(),
        &[("MIGBOARD_CLUSTER", "none"), ("MIGBOARD_FLEET_FILE", &file)],
    )
    .await;
    let pid = server.id().expect("pid");
    let fleet = request(port, "GET", "/api/v1/fleet", "").await;
    let gpus = fleet.matches("\"uuid\"").count();
    println!(
        "500 nodes: GET /api/v1/fleet answers {} bytes of JSON ({gpus} GPUs); server RSS {:.1} MiB",
        fleet.len(),
        rss_kib(pid) as f64 / 1024.0
    );
    for c in [1usize, 16] {
        println!(
            "500 nodes: GET /api/v1/fleet, {c} keep-alive connection(s): {}",
            rate(fleet_throughput(port, c, 5).await)
        );
    }
    fleet_page_reads(port).await;
    let _ = server.start_kill();
    let _ = server.wait().await;
}

/// `(req/s, p50, p95, p99 µs)` in words.
fn rate((rps, p50, p95, p99): (f64, i64, i64, i64)) -> String {
    let ms = |us: i64| us as f64 / 1000.0;
    format!(
        "{rps:.0} req/s, latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        ms(p50),
        ms(p95),
        ms(p99)
    )
}

/// What the fleet page reads at 500 nodes: the summary and one filtered page of nodes.
async fn fleet_page_reads(port: u16) {
    for path in ["/api/v1/fleet/summary", "/api/v1/fleet/nodes?pool=pool-3&page=2"] {
        let size = request(port, "GET", path, "").await.len();
        println!(
            "500 nodes: GET {path}: {size} bytes, {}",
            rate(throughput(port, path, 1, 3).await)
        );
    }
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat` (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // After `)`: state is field 3, utime field 14, stime field 15 (1-based in proc(5)).
            let utime: f64 = rest.get(11)?.parse().ok()?;
            let stime: f64 = rest.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// The same 500 nodes as an embedded fleet: every node a real (simulated-GPU) agent, all in one
/// `serve-many` process. First start (every node gets its pool's config), restart (state files
/// read back), memory and idle CPU of the server and the agent process, and the fleet's reads.
async fn big_embedded_fleet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.toml");
    std::fs::write(&file, big_fleet(500)).expect("fleet file");
    let file = file.to_string_lossy().into_owned();
    for round in ["first start", "restart"] {
        let t = Instant::now();
        let (mut server, port) = start_server(dir.path(), &[("MIGBOARD_FLEET_FILE", &file)]).await;
        let started = t.elapsed().as_secs_f64();
        let pid = server.id().expect("pid");
        let agents = agents_of(pid);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cpu = |pids: &[u32]| pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
        let (s0, a0) = (cpu_seconds(pid), cpu(&agents));
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (s1, a1) = (cpu_seconds(pid), cpu(&agents));
        let fleet = request(port, "GET", "/api/v1/fleet", "").await;
        println!(
            "500-node embedded fleet, {round}: ready in {started:.1} s; {} agent process(es); RSS server {:.1} MiB, agents {:.1} MiB; idle CPU over 10 s: server {:.0} %, agents {:.0} % of one core; GET /api/v1/fleet {} bytes ({} GPUs)",
            agents.len(),
            rss_kib(pid) as f64 / 1024.0,
            agents.iter().map(|p| rss_kib(*p)).sum::<u64>() as f64 / 1024.0,
            (s1 - s0) * 10.0,
            (a1 - a0) * 10.0,
            fleet.len(),
            fleet.matches("\"uuid\"").count()
        );
        if round == "restart" {
            println!(
                "500-node embedded fleet: GET /api/v1/fleet, 1 connection: {}",
                rate(fleet_throughput(port, 1, 5).await)
            );
            fleet_page_reads(port).await;
        }
        let _ = server.start_kill();
        let _ = server.wait().await;
        // Its agents exit with it; give them a moment before the next round reuses the data.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One request on a fresh connection: (HTTP status, body).
async fn call(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, String::new());
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: bench\r\n{}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        auth(),
        body.len()
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// A watcher of `/api/v1/events`: the events it received while `counting` was on, by kind, and
/// the `resync`s (the server's word that this watcher fell behind and lost events).
async fn watch_all(
    port: u16,
    ready: tokio::sync::mpsc::Sender<()>,
    counting: tokio::sync::watch::Receiver<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> (std::collections::BTreeMap<String, u64>, u64) {
    let mut seen = std::collections::BTreeMap::new();
    let mut resyncs = 0;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return (seen, u64::MAX);
    };
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nhost: bench\r\n{}accept: text/event-stream\r\n\r\n",
        auth()
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return (seen, u64::MAX);
    }
    let mut buf = vec![0u8; 16384];
    let mut pending = String::new();
    let mut announced = false;
    loop {
        let n = tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(n) if n > 0 => n,
                _ => break,
            },
            _ = stop.changed() => break,
        };
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !announced && pending.contains("\r\n\r\n") {
            announced = true;
            let _ = ready.send(()).await;
        }
        // Each `event: <kind>` line (chunk headers of the HTTP body never contain one).
        while let Some(at) = pending.find("event: ") {
            let Some(end) = pending[at..].find('\n') else { break };
            let kind = pending[at + 7..at + end].trim().to_owned();
            pending.drain(..at + end);
            if kind == "resync" {
                resyncs += 1;
            } else if *counting.borrow() {
                *seen.entry(kind).or_insert(0) += 1;
            }
        }
        if pending.len() > 1 << 16 {
            let keep = pending.len() - 64;
            pending.drain(..keep);
        }
    }
    (seen, resyncs)
}

/// What a soak run found.
#[derive(Debug)]
pub struct SoakReport {
    /// Requests sent.
    pub requests: u64,
    /// Answers that were 5xx, or no answer at all.
    pub errors: u64,
    /// Deployments submitted and undeployed.
    pub submitted: u64,
    /// Deployments undeployed.
    pub undeployed: u64,
    /// Fewest and most events one watcher counted.
    pub least: u64,
    /// Most events one watcher counted.
    pub most: u64,
    /// Events missing at watchers, against the one that counted most.
    pub lost: u64,
    /// `resync`s received (a watcher fell behind).
    pub resyncs: u64,
    /// Watchers connected.
    pub connected: usize,
    /// Server RSS growth after the warm-up, percent.
    pub rss_growth_pct: f64,
}

/// `-- soak SECONDS WATCHERS`: WATCHERS streams on `/api/v1/events`, 100 mixed API requests per
/// second, and a deployment submitted (and the previous one undeployed) every 3 s, for SECONDS.
/// Reports 5xx answers, events lost (each watcher must count the same events: they are counted
/// between two quiet moments), `resync`s, and the server's RSS growth after the first sixth.
pub async fn soak(seconds: u64, watchers: usize) -> SoakReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, port) = start_fanout_server(dir.path()).await;
    let pid = server.id().expect("pid");
    let (counting_tx, counting_rx) = tokio::sync::watch::channel(false);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(watchers.max(1));
    let tasks: Vec<_> = (0..watchers)
        .map(|_| tokio::spawn(watch_all(port, ready_tx.clone(), counting_rx.clone(), stop_rx.clone())))
        .collect();
    drop(ready_tx);
    let mut connected = 0;
    while connected < watchers {
        match tokio::time::timeout(Duration::from_secs(30), ready_rx.recv()).await {
            Ok(Some(())) => connected += 1,
            _ => break,
        }
    }
    // A quiet moment (nothing deployed, nothing changing): every watcher starts counting here.
    tokio::time::sleep(Duration::from_secs(2)).await;
    counting_tx.send(true).expect("counting");
    let until = Instant::now() + Duration::from_secs(seconds);
    let warm = Instant::now() + Duration::from_secs((seconds / 6).max(5));
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let load = {
        let statuses = statuses.clone();
        tokio::spawn(async move {
            let paths = [
                ("GET", "/api/v1/fleet", ""),
                ("GET", "/api/v1/fleet/summary", ""),
                ("GET", "/api/v1/fleet/nodes?pool=h100migpool", ""),
                ("GET", "/api/v1/deployments", ""),
                ("GET", "/api/v1/gpu-models", ""),
                ("POST", "/api/v1/layouts/validate", r#"{"model":"h100-80gb","instances":[{"profile":"3g.40gb","start":4}]}"#),
                ("GET", "/api/v1/mig-configs?model=h100-80gb", ""),
                ("GET", "/healthz", ""),
            ];
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut i = 0usize;
            while Instant::now() < until {
                tick.tick().await;
                let (m, p, b) = paths[i % paths.len()];
                i += 1;
                let statuses = statuses.clone();
                tokio::spawn(async move {
                    let (code, _) = call(port, m, p, b).await;
                    *statuses.lock().expect("lock").entry(code).or_insert(0) += 1;
                });
            }
        })
    };
    let churn = {
        let statuses = statuses.clone();
        tokio::spawn(async move {
            let template = mig::blueprint::templates::template("mig_inference_single_replica_10gb")
                .expect("template")
                .json;
            let mut previous: Option<i64> = None;
            let (mut submitted, mut undeployed) = (0u64, 0u64);
            let mut round = 0;
            while Instant::now() < until {
                round += 1;
                let mut bp: serde_json::Value = serde_json::from_str(template).expect("json");
                bp["deployment_name"] = format!("soak-{round}").into();
                let (code, body) = call(port, "POST", "/api/v1/deployments", &bp.to_string()).await;
                *statuses.lock().expect("lock").entry(code).or_insert(0) += 1;
                if let Some(id) = previous.take() {
                    let (c, _) = call(port, "POST", &format!("/api/v1/deployments/{id}/undeploy"), "").await;
                    *statuses.lock().expect("lock").entry(c).or_insert(0) += 1;
                    undeployed += u64::from(c == 202);
                }
                if code == 201 {
                    submitted += 1;
                    previous = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["id"].as_i64());
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            if let Some(id) = previous {
                let (c, _) = call(port, "POST", &format!("/api/v1/deployments/{id}/undeploy"), "").await;
                undeployed += u64::from(c == 202);
            }
            (submitted, undeployed)
        })
    };
    tokio::time::sleep_until(warm.into()).await;
    let rss_warm = rss_kib(pid);
    let _ = load.await;
    let (submitted, undeployed) = churn.await.expect("churn");
    // Quiet again: every deployment finished (the last one undeployed), then a moment for the last
    // events to arrive; only then does counting stop.
    for _ in 0..600 {
        let list = request(port, "GET", "/api/v1/deployments", "").await;
        let busy = serde_json::from_str::<serde_json::Value>(&list)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .is_none_or(|all| {
                all.iter().any(|d| {
                    !matches!(d["status"].as_str(), Some("failed" | "completed" | "undeployed"))
                })
            });
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    counting_tx.send(false).expect("counting");
    let rss_end = rss_kib(pid);
    let _ = stop_tx.send(true);
    let mut per_watcher = Vec::new();
    let mut resyncs = 0;
    for t in tasks {
        if let Ok((seen, r)) = t.await {
            resyncs += r;
            per_watcher.push(seen.values().sum::<u64>());
        }
    }
    let most = per_watcher.iter().copied().max().unwrap_or(0);
    let least = per_watcher.iter().copied().min().unwrap_or(0);
    let lost: u64 = per_watcher.iter().map(|n| most - n).sum();
    let statuses = statuses.lock().expect("lock").clone();
    let total: u64 = statuses.values().sum();
    let errors: u64 = statuses.iter().filter(|(c, _)| **c >= 500 || **c == 0).map(|(_, n)| n).sum();
    let rss_growth_pct = (rss_end as f64 - rss_warm as f64) * 100.0 / rss_warm.max(1) as f64;
    println!("soak {seconds} s, {connected}/{watchers} watchers: {total} requests ({:.0}/s), answers {statuses:?}", total as f64 / seconds as f64);
    println!("soak: 5xx or no answer: {errors}; deployments submitted {submitted}, undeployed {undeployed}");
    println!("soak: events per watcher {least}..{most} (lost: {lost} across all watchers), resyncs {resyncs}");
    println!(
        "soak: server RSS after warm-up {:.1} MiB, at the end {:.1} MiB ({:+.1} %)",
        rss_warm as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        rss_growth_pct
    );
    let _ = server.start_kill();
    let _ = server.wait().await;
    SoakReport {
        requests: total,
        errors,
        submitted,
        undeployed,
        least,
        most,
        lost,
        resyncs,
        connected,
        rss_growth_pct,
    }
}

/// Where a watcher's memory goes: the server's RSS growth per connection for N connections that
/// (a) only connect, (b) then sent one `GET /healthz` and stay open (keep-alive), (c) hold an event
/// stream — each set added on top of the one before, none closed (freed memory would be reused and
/// hide the next set's cost). (a) is the listener and socket bookkeeping, (b) − (a) hyper's
/// per-connection buffers after a request, (c) − (b) what a stream adds: the routed request's
/// layers, auth, the stream and its body.
async fn connection_cost(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, port) = start_server(
        dir.path(),
        &[
            ("MIGBOARD_SIM_LATENCY_MS", "0"),
            ("MIGBOARD_MAX_STREAMS_PER_USER", "10000"),
            ("MIGBOARD_MAX_STREAMS_PER_ADDRESS", "100000"),
            // Idle connections are held for the whole measurement.
            ("MIGBOARD_HEADER_READ_TIMEOUT_SECS", "600"),
        ],
    )
    .await;
    let pid = server.id().expect("pid");
    let id = deploy_watched(port).await;
    let settle = || tokio::time::sleep(Duration::from_secs(2));
    settle().await;
    let base = rss_kib(pid);
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.expect("connect"));
    }
    settle().await;
    let connected = rss_kib(pid);
    let mut kept = Vec::with_capacity(n);
    let mut buf = vec![0u8; 4096];
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: bench\r\n\r\n").await.expect("send");
        let got = s.read(&mut buf).await.expect("answer");
        assert!(String::from_utf8_lossy(&buf[..got]).starts_with("HTTP/1.1 200"), "healthz answered");
        kept.push(s);
    }
    settle().await;
    let requested = rss_kib(pid);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(2 * n);
    // Streams opened `at_once` at a time (each batch connected before the next): first 100 at a
    // time, then all at once, as the watcher bench does.
    let mut open = async |at_once: usize| {
        let mut streaming = 0;
        while streaming < n {
            let batch = at_once.min(n - streaming);
            let (tx, mut rx) = tokio::sync::mpsc::channel(batch);
            for _ in 0..batch {
                tasks.push(tokio::spawn(watch(port, id, tx.clone(), stop_rx.clone())));
            }
            drop(tx);
            let mut connected = 0;
            while connected < batch {
                match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                    Ok(Some(())) => connected += 1,
                    _ => break,
                }
            }
            streaming += batch;
        }
        settle().await;
        rss_kib(pid)
    };
    let batched = open(100).await;
    let stormed = open(n).await;
    let per = |after: u64, before: u64| (after.saturating_sub(before)) as f64 / n as f64;
    println!("connections: {n} of each kind; server RSS {base} KiB before, {stormed} KiB after");
    println!("| connection | server RSS growth per connection (KiB) |");
    println!("|---|---:|");
    println!("| connected, nothing sent | {:.1} |", per(connected, base));
    println!("| one request answered, kept alive | {:.1} |", per(requested, connected));
    println!("| an event stream, opened 100 at a time | {:.1} |", per(batched, requested));
    println!("| an event stream, all {n} opened at once | {:.1} |", per(stormed, batched));
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    drop((idle, kept));
    let _ = server.kill().await;
}

/// Deploys the one-replica 10gb inference service and waits until it is monitored; its id.
async fn deploy_watched(port: u16) -> i64 {
    let blueprint = mig::blueprint::templates::template("mig_inference_single_replica_10gb")
        .expect("template")
        .json;
    let created = request(port, "POST", "/api/v1/deployments", blueprint).await;
    let id = serde_json::from_str::<serde_json::Value>(&created)
        .ok()
        .and_then(|v| v["id"].as_i64())
        .unwrap_or_else(|| panic!("deployment created: {created}"));
    loop {
        let d = request(port, "GET", &format!("/api/v1/deployments/{id}"), "").await;
        if d.contains("\"status\":\"monitoring\"") {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // `soak SECONDS WATCHERS`: the soak campaign alone.
    if std::env::args().nth(1).as_deref() == Some("soak") {
        let arg = |i: usize, d: u64| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(d);
        let _ = soak(arg(2, 600), usize::try_from(arg(3, 2000)).unwrap_or(2000)).await;
        return;
    }
    // `conncost N`: where a watcher's memory goes.
    if std::env::args().nth(1).as_deref() == Some("conncost") {
        let n = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(5000);
        connection_cost(n).await;
        return;
    }
    // `fleets`: only the 500-node parts (fleet as data, then as real agents).
    if std::env::args().any(|a| a == "fleets") {
        big_fleet_api().await;
        big_embedded_fleet().await;
        return;
    }
    let counts = if counts.is_empty() {
        vec![1000, 10_000]
    } else {
        counts
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, port) = start_fanout_server(dir.path()).await;
    let pid = server.id().expect("pid");
    let id = deploy_watched(port).await;
    println!("server pid {pid}, deployment {id} monitoring; monitor events every 2 s");
    println!(
        "| watchers | connect all (s) | server RSS before → after (MiB) | RSS per watcher (KiB) | events received | latency p50 / p99 / max (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in counts {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = rss_kib(pid);
        let (tx, mut rx) = tokio::sync::mpsc::channel(n.max(1));
        let start = Instant::now();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            tasks.push(tokio::spawn(watch(port, id, tx.clone(), stop_rx.clone())));
        }
        drop(tx);
        let mut connected = 0;
        while connected < n {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some(())) => connected += 1,
                _ => break,
            }
        }
        let connect_s = start.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid);
        // Five monitor rounds (one every 2 s) reach everyone; then the watchers stop and report.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let _ = stop_tx.send(true);
        let mut lat: Vec<i64> = Vec::new();
        for t in tasks {
            if let Ok(l) = t.await {
                lat.extend(l);
            }
        }
        let resyncs = lat.iter().filter(|l| **l == i64::MIN).count();
        lat.retain(|l| *l != i64::MIN);
        lat.sort_unstable();
        println!("{n} watchers: {resyncs} resync event(s) (a watcher fell behind)");
        println!(
            "| {n} ({connected} connected) | {connect_s:.1} | {:.1} → {:.1} | {:.1} | {} | {} / {} / {} |",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after.saturating_sub(before)) as f64 / connected.max(1) as f64,
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(0)
        );
    }
    let fleet = request(port, "GET", "/api/v1/fleet", "").await;
    println!("GET /api/v1/fleet answers {} bytes of JSON", fleet.len());
    for c in [1usize, 16, 64] {
        let (rps, p50, _, p99) = fleet_throughput(port, c, 5).await;
        println!(
            "GET /api/v1/fleet, {c} keep-alive connection(s): {rps:.0} req/s, latency p50 {p50} µs, p99 {p99} µs"
        );
    }
    let _ = server.start_kill();
    let _ = server.wait().await;
    big_fleet_api().await;
    big_embedded_fleet().await;
}
