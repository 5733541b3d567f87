//! Crash safety of the whole binary: `migboard` is killed with SIGKILL while it reconfigures a node
//! and places replicas, at many points, then started again over the same data directory. Every
//! deployment must then finish, with nothing lost (each submitted deployment is there, every GPU
//! reconfigured) and nothing duplicated (one step per key, one process per replica).
//!
//! Needs the agent binary next to the test's `migboard` (`cargo build -p agent`; `make test` does).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;

type Http = Client<HttpConnector, Full<bytes::Bytes>>;

/// The first start's admin password; the API token it signs in for serves every later start (the
/// data directory, and so the token, survives the kills).
const ADMIN_PASSWORD: &str = "crash-test-password";
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

struct Server {
    child: tokio::process::Child,
    port: u16,
}

async fn start(data: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_migboard"))
        .env("MIGBOARD_ADDR", format!("127.0.0.1:{port}"))
        .env("MIGBOARD_DATA_DIR", data)
        .env("LEPTOS_SITE_ROOT", data.join("no-site"))
        .env(
            "MIGBOARD_AGENT_BIN",
            server::cluster::embedded::agent_binary().expect("agent binary"),
        )
        // Each simulated MIG change takes 10 ms, so a node's reconfiguration spans about a second.
        .env("MIGBOARD_SIM_LATENCY_MS", "10")
        .env("RUST_LOG", "error")
        .env("MIGBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .kill_on_drop(true)
        .spawn()
        .expect("migboard starts");
    Server { child, port }
}

async fn call(
    http: &Http,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, Value)> {
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Bearer {}", TOKEN.get().map_or("", String::as_str)),
        )
        .body(Full::new(bytes::Bytes::from(
            body.unwrap_or_default().to_owned(),
        )))
        .ok()?;
    let response = tokio::time::timeout(Duration::from_secs(10), http.request(request))
        .await
        .ok()?
        .ok()?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn wait_up(http: &Http, port: u16) {
    for _ in 0..300 {
        if call(http, port, "GET", "/api/v1/deployments", None)
            .await
            .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("migboard did not answer within 30 s");
}

/// Signs in once (after the first start) for an API token.
async fn sign_in(http: &Http, port: u16) {
    if TOKEN.get().is_some() {
        return;
    }
    let body =
        format!(r#"{{"username": "admin", "password": "{ADMIN_PASSWORD}", "name": "crash-test"}}"#);
    let (status, created) = call(http, port, "POST", "/api/v1/login", Some(&body))
        .await
        .expect("login answers");
    assert_eq!(status, 201, "{created:#}");
    let _ = TOKEN.set(created["token"].as_str().expect("token").to_owned());
}

fn update(name: &str, config: &str) -> String {
    format!(
        r#"{{"recipe_mode": "update", "deployment_name": "{name}", "recipe_node_name": "10.0.10.11", "shared_node_pool_mig_config": "{config}"}}"#
    )
}

fn service(name: &str) -> String {
    mig::blueprint::templates::template("mig_inference_multiple_replicas")
        .expect("template")
        .json
        .replace("autoscale_mig", name)
        .replace("BM.GPU.H100.8", "BM.GPU4.8")
        .replace("\"1g.10gb\"", "\"1g.5gb\"")
        .replace("\"recipe_replica_count\": 5", "\"recipe_replica_count\": 3")
        // The embedded fleet runs the autoscaler's floor.
        .replace("\"min_replicas\": 5", "\"min_replicas\": 3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_update_the_server_resumes_and_finishes_everything_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http: Http = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut submitted: BTreeMap<String, &str> = BTreeMap::new();
    let kill_points_ms = [0u64, 40, 120, 250, 400, 550, 700, 900, 1100, 1400];
    // Rounds whose kill left work unfinished (the point of the test: most must).
    let mut interrupted = 0;
    for (round, kill_after) in kill_points_ms.iter().enumerate() {
        let mut server = start(dir.path()).await;
        wait_up(&http, server.port).await;
        sign_in(&http, server.port).await;
        let config = if round % 2 == 0 {
            "all-1g.10gb"
        } else {
            "all-balanced"
        };
        let (u, s) = (format!("update-{round}"), format!("svc-{round}"));
        for (name, body, expect) in [
            (&u, update(&u, config), "completed"),
            (&s, service(&s), "monitoring"),
        ] {
            let (status, answer) = call(
                &http,
                server.port,
                "POST",
                "/api/v1/deployments",
                Some(&body),
            )
            .await
            .expect("the deployment is accepted");
            assert_eq!(status, 201, "round {round}: {answer:#}");
            submitted.insert(name.clone(), expect);
        }
        tokio::time::sleep(Duration::from_millis(*kill_after)).await;
        server.child.start_kill().expect("SIGKILL");
        let _ = server.child.wait().await;
        // The agents exit with it (they poll their parent); give them a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let mut server = start(dir.path()).await;
        wait_up(&http, server.port).await;
        sign_in(&http, server.port).await;
        let mut list = Value::Null;
        for attempt in 0..600 {
            let (_, l) = call(&http, server.port, "GET", "/api/v1/deployments", None)
                .await
                .expect("list");
            let unfinished = l.as_array().expect("array").iter().any(|d| {
                matches!(
                    d["status"].as_str(),
                    Some("scheduled" | "deploying" | "undeploying")
                )
            });
            list = l;
            if attempt == 0 && unfinished {
                interrupted += 1;
            }
            if !unfinished {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Nothing lost, nothing doubled: exactly the deployments submitted, each finished as expected.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for d in list.as_array().expect("array") {
            let name = d["name"].as_str().expect("name").to_owned();
            assert!(
                seen.insert(
                    name.clone(),
                    d["status"].as_str().unwrap_or_default().to_owned()
                )
                .is_none(),
                "{name} twice"
            );
            let id = d["id"].as_i64().expect("id");
            let (_, detail) = call(
                &http,
                server.port,
                "GET",
                &format!("/api/v1/deployments/{id}"),
                None,
            )
            .await
            .expect("detail");
            let keys: Vec<&str> = detail["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .filter_map(|s| s["key"].as_str())
                .collect();
            let mut unique = keys.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(
                unique.len(),
                keys.len(),
                "round {round} (killed after {kill_after} ms): {name} has a step twice: {keys:?}"
            );
            if name.starts_with("update-") {
                let done = detail["nodes"][0]["gpus"]
                    .as_array()
                    .map_or(0, |g| g.iter().filter(|g| g[1] == "done").count());
                assert_eq!(
                    done, 8,
                    "round {round}: {name} reconfigured every GPU once: {detail:#}"
                );
            }
        }
        let expected: BTreeMap<String, String> = submitted
            .iter()
            .map(|(k, v)| (k.clone(), (*v).to_owned()))
            .collect();
        assert_eq!(
            seen, expected,
            "round {round} (killed after {kill_after} ms)"
        );

        // The fleet: the node runs the last config; every replica runs exactly once.
        let (_, fleet) = call(&http, server.port, "GET", "/api/v1/fleet", None)
            .await
            .expect("fleet");
        let node = fleet["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["name"] == "10.0.10.11")
            .expect("node");
        assert_eq!(node["mig_config"], config, "round {round}: {node:#}");
        let mut pids: Vec<u64> = fleet["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .flat_map(|n| n["gpus"].as_array().into_iter().flatten())
            .flat_map(|g| g["busy"].as_array().into_iter().flatten())
            .flat_map(|b| {
                b["pids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
            })
            .collect();
        let all = pids.len();
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids.len(), all, "round {round}: a replica runs twice");
        assert_eq!(
            all,
            3 * (round + 1),
            "round {round}: every replica of every service runs: {fleet:#}"
        );
        server.child.start_kill().expect("stop");
        let _ = server.child.wait().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        interrupted * 2 >= kill_points_ms.len(),
        "only {interrupted} of {} kills left work unfinished: the kill points no longer fall inside the work",
        kill_points_ms.len()
    );
    eprintln!(
        "{interrupted} of {} kills interrupted a deployment",
        kill_points_ms.len()
    );
}
