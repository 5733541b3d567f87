//! Deployments end to end, in process: the REST API, the orchestrator, SQLite and the embedded fleet
//! (real `migboard-agent` processes on simulated GPUs; `cargo build -p agent` first, as `make test`
//! does). The quickstart of OCI's MIG guide, step by step, with the fleet checked after each.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use leptos::config::LeptosOptions;
use mig::blueprint::templates::template;
use serde_json::{Value, json};
use server::cluster::embedded::{Embedded, FleetSpec, agent_binary};
use server::orchestrator::Options;

mod common;

struct World {
    router: axum::Router,
    state: server::AppState,
    /// An operator's `Authorization` header value.
    bearer: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    world_on(None).await
}

/// A world whose database is `url` (SQLite in its directory when `None`).
async fn world_on(url: Option<String>) -> World {
    world_of(url, FleetSpec::default_fleet()).await
}

/// A world running fleet `spec` (SQLite when `url` is `None`).
async fn world_of(url: Option<String>, spec: FleetSpec) -> World {
    // The orchestrator's warnings (retries) show in a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("server=info")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let catalogue = server::catalogue::SharedCatalogue::default();
    let cluster = Embedded::start(
        &spec,
        dir.path(),
        &agent_binary().expect("the agent binary is built (cargo build -p agent)"),
        catalogue.clone(),
    )
    .await
    .expect("the embedded fleet starts");
    let store = match url {
        Some(url) => server::store::Store::open(&url).await,
        None => server::store::Store::open_in(dir.path()).await,
    }
    .expect("store");
    let options = LeptosOptions::builder()
        .output_name("migboard")
        .site_root(dir.path().join("site").to_string_lossy().to_string())
        .build();
    let state = server::AppState::start(
        options,
        Arc::new(cluster),
        catalogue,
        store,
        Options {
            monitor_interval: Duration::from_millis(200),
            retry_after: Duration::from_millis(200),
            sample_every: Duration::from_millis(200),
            ..Options::default()
        },
    )
    .await;
    World {
        router: server::router(state.clone()),
        bearer: common::bearer(&state, "operator", mig::wire::Role::Operator).await,
        state,
        _dir: dir,
    }
}

impl World {
    async fn call(&self, method: &str, uri: &str, body: Option<String>) -> (StatusCode, Value) {
        self.call_as(&self.bearer, method, uri, body).await
    }

    /// [`World::call`] with another `Authorization` value.
    async fn call_as(
        &self,
        bearer: &str,
        method: &str,
        uri: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, bearer)
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request");
        let reply = common::send(self.router.clone(), request).await;
        (reply.status, reply.json())
    }

    /// Deploys `text`, expecting 201, and waits for a final status.
    async fn deploy(&self, text: &str, query: &str) -> Value {
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/v1/deployments{query}"),
                Some(text.to_owned()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body:#}");
        assert_eq!(body["status"], "scheduled", "{body:#}");
        self.settle(body["id"].as_i64().expect("id")).await
    }

    /// Waits until the deployment is no longer scheduled, active or undeploying.
    async fn settle(&self, id: i64) -> Value {
        for _ in 0..600 {
            let (status, body) = self
                .call("GET", &format!("/api/v1/deployments/{id}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{body:#}");
            let s = body["deployment"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !matches!(s.as_str(), "scheduled" | "deploying" | "undeploying") {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("deployment {id} did not settle in 60 s");
    }

    async fn undeploy(&self, id: i64) -> Value {
        let (status, body) = self
            .call("POST", &format!("/api/v1/deployments/{id}/undeploy"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body:#}");
        let done = self.settle(id).await;
        assert_eq!(done["deployment"]["status"], "undeployed", "{done:#}");
        done
    }

    async fn fleet(&self) -> Value {
        self.state.refresh_fleet().await;
        self.call("GET", "/api/v1/fleet", None).await.1
    }
}

fn node<'a>(fleet: &'a Value, name: &str) -> &'a Value {
    fleet["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("node {name} in {fleet:#}"))
}

/// Every GPU of the node has exactly `count` instances of `profile` and nothing else.
fn all_of(node: &Value, profile: &str, count: usize) -> bool {
    node["gpus"].as_array().is_some_and(|gpus| {
        gpus.len() == 8
            && gpus.iter().all(|g| {
                let inst = g["instances"].as_array().map_or(&[][..], Vec::as_slice);
                inst.len() == count && inst.iter().all(|i| i["profile"] == profile)
            })
    })
}

fn busy(node: &Value) -> Vec<(u64, u64, String, Vec<String>)> {
    node["gpus"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| {
            g["busy"].as_array().into_iter().flatten().map(move |b| {
                (
                    g["index"].as_u64().unwrap_or(99),
                    b["start"].as_u64().unwrap_or(99),
                    b["profile"].as_str().unwrap_or_default().to_owned(),
                    b["owners"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|o| o.as_str().map(str::to_owned))
                        .collect(),
                )
            })
        })
        .collect()
}

/// The monitor step's message, once there is one.
fn monitor_message(detail: &Value) -> Option<String> {
    detail["steps"]
        .as_array()?
        .iter()
        .find(|s| s["key"] == "monitor")?["message"]
        .as_str()
        .map(str::to_owned)
}

fn step<'a>(detail: &'a Value, key: &str) -> &'a Value {
    detail["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["key"] == key))
        .unwrap_or_else(|| panic!("step {key} in {detail:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_quickstart_runs_step_by_step() {
    quickstart(world().await).await;
}

/// The same on PostgreSQL (`make test` provides one; without it this says so and checks nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_quickstart_runs_on_postgresql_too() {
    if let Some(url) = common::fresh_pg("quickstart").await {
        quickstart(world_on(Some(url)).await).await;
    }
}

async fn quickstart(w: World) {
    let json = |name: &str| template(name).expect("template").json.to_owned();

    // 1. Launch the shared pool: one BM.GPU.H100.8 on all-1g.20gb.
    let pool = w.deploy(&json("mig_enabled_shared_node_pool"), "").await;
    assert_eq!(pool["deployment"]["status"], "active", "{pool:#}");
    let fleet = w.fleet().await;
    let pool_nodes: Vec<&Value> = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["pool"] == "H100_pool_mig")
        .collect();
    assert_eq!(pool_nodes.len(), 1, "shared_node_pool_size 1: {fleet:#}");
    let new_node = pool_nodes[0]["name"].as_str().expect("name").to_owned();
    // Named as in the guide, so its update sample runs verbatim.
    assert_eq!(new_node, "10.0.10.138");
    assert!(all_of(pool_nodes[0], "1g.20gb", 4), "{fleet:#}");
    assert_eq!(pool_nodes[0]["mig_config"], "all-1g.20gb");
    // Every GPU's reconfiguration is a step, done; the progress covers them.
    assert_eq!(
        pool["nodes"][0]["gpus"].as_array().map(Vec::len),
        Some(8),
        "{pool:#}"
    );
    assert!(
        pool["nodes"][0]["gpus"]
            .as_array()
            .expect("gpus")
            .iter()
            .all(|g| g[1] == "done")
    );
    let progress = &pool["deployment"]["progress"];
    assert_eq!(progress["done"], progress["total"], "{pool:#}");
    // The other nodes are untouched.
    assert_eq!(node(&fleet, "10.0.10.11")["mig_config"], "all-balanced");

    // 2. MIG inference on 1g.20gb: the only 1g.20gb slices are on the new node.
    let first = w.deploy(&json("mig_inference_single_replica"), "").await;
    assert_eq!(first["deployment"]["status"], "monitoring", "{first:#}");
    assert_eq!(first["placements"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["placements"][0]["node"], new_node.as_str());
    assert_eq!(first["placements"][0]["profile"], "1g.20gb");
    let fleet = w.fleet().await;
    let running = busy(node(&fleet, &new_node));
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0].3, ["autoscale_mig replica 0"]);
    let first_id = first["deployment"]["id"].as_i64().expect("id");

    // 3. Update the node to all-1g.10gb. It runs the inference, so without drain it fails, naming it,
    //    and changes nothing.
    let update = json("mig_update_node_with_node_name");
    let refused = w.deploy(&update, "").await;
    assert_eq!(refused["deployment"]["status"], "failed", "{refused:#}");
    let message = refused["deployment"]["message"].as_str().expect("message");
    assert!(
        message.contains("not idle") && message.contains("autoscale_mig replica 0"),
        "{message}"
    );
    assert_eq!(step(&refused, "busy-check")["state"], "failed");
    // The check heads the step log (it runs before any GPU changes), and the GPU steps it never
    // reached read "not run", not "pending" forever (#22 item 3).
    let steps = refused["steps"].as_array().expect("steps");
    let at = |prefix: &str| steps.iter().position(|s| s["key"].as_str().is_some_and(|k| k.starts_with(prefix)));
    assert!(at("busy-check") < at("reconfigure/") && at("busy-check").is_some(), "{refused:#}");
    let reconfigure: Vec<&Value> = steps
        .iter()
        .filter(|s| s["key"].as_str().is_some_and(|k| k.starts_with("reconfigure/")))
        .collect();
    assert!(!reconfigure.is_empty());
    assert!(reconfigure.iter().all(|s| s["state"] == "not_run"), "{refused:#}");
    assert!(
        message.contains("Retry with drain") && !message.contains("pid"),
        "says how to go on in the UI's words too: {message}"
    );
    let fleet = w.fleet().await;
    assert!(
        all_of(node(&fleet, &new_node), "1g.20gb", 4),
        "nothing changed: {fleet:#}"
    );
    assert_eq!(busy(node(&fleet, &new_node)).len(), 1);

    // As the guide's step 4 redeploys under the same name, the user undeploys the inference, then
    // updates again under the same name: a failed update has ended, its name is free.
    w.undeploy(first_id).await;
    let fleet = w.fleet().await;
    assert!(
        busy(node(&fleet, &new_node)).is_empty(),
        "the replica stopped: {fleet:#}"
    );
    let updated = w.deploy(&update, "").await;
    assert_eq!(updated["deployment"]["status"], "completed", "{updated:#}");
    assert_eq!(step(&updated, "busy-check")["state"], "done");
    let fleet = w.fleet().await;
    assert!(all_of(node(&fleet, &new_node), "1g.10gb", 7), "{fleet:#}");
    assert_eq!(node(&fleet, &new_node)["mig_config"], "all-1g.10gb");

    // The guide's other update, by pool name, verbatim: the default fleet's H100 pool is
    // `h100migpool`, idle, so both its nodes go to all-2g.20gb and the quickstart's node stays.
    let by_pool = w
        .deploy(&json("mig_update_shared_pool_with_node_pool_name"), "")
        .await;
    assert_eq!(by_pool["deployment"]["status"], "completed", "{by_pool:#}");
    let fleet = w.fleet().await;
    for n in ["10.0.10.11", "10.0.10.12"] {
        assert!(all_of(node(&fleet, n), "2g.20gb", 3), "{fleet:#}");
        assert_eq!(node(&fleet, n)["mig_config"], "all-2g.20gb");
    }
    assert_eq!(node(&fleet, &new_node)["mig_config"], "all-1g.10gb");

    // 4. Inference again, on 1g.10gb: only the updated node has 1g.10gb slices now.

    let second = w
        .deploy(&json("mig_inference_single_replica_10gb"), "")
        .await;
    assert_eq!(second["deployment"]["status"], "monitoring", "{second:#}");
    assert_eq!(second["placements"][0]["profile"], "1g.10gb");
    assert_eq!(second["placements"][0]["node"], new_node.as_str());
    let fleet = w.fleet().await;
    let owners: Vec<String> = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(busy)
        .flat_map(|b| b.3)
        .collect();
    assert_eq!(
        owners,
        ["autoscale_mig replica 0"],
        "one replica runs: {fleet:#}"
    );

    // No node offers 1g.20gb any more: the first inference fails validation with the guide's reason.
    let again = json("mig_inference_single_replica").replace("autoscale_mig", "autoscale_mig_20gb");
    let (status, body) = w.call("POST", "/api/v1/deployments", Some(again)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["error"]["code"], "invalid_blueprint");
    let issue = body["issues"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["path"] == "/mig_resource_request"))
        .unwrap_or_else(|| panic!("an issue at /mig_resource_request: {body:#}"));
    assert!(
        issue["message"]
            .as_str()
            .is_some_and(|m| m.contains("1g.20gb")),
        "{issue:#}"
    );
    assert!(
        issue["hint"]
            .as_str()
            .is_some_and(|h| h.contains("all-1g.20gb")),
        "{issue:#}"
    );

    // The pool cannot be undeployed while the inference runs on it; once that is undeployed, it can.
    let pool_id = pool["deployment"]["id"].as_i64().expect("id");
    let (status, body) = w
        .call("POST", &format!("/api/v1/deployments/{pool_id}/undeploy"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("autoscale_mig replica 0")),
        "{body:#}"
    );
    w.undeploy(second["deployment"]["id"].as_i64().expect("id")).await;
    w.undeploy(pool_id).await;
    let fleet = w.fleet().await;
    assert!(
        fleet["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["name"] != new_node.as_str())
    );

    // The log tells the story in text; the list has every deployment.
    let (status, logs) = w
        .call("GET", &format!("/api/v1/deployments/{pool_id}/logs"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let logs = logs.as_str().expect("text");
    assert!(
        logs.contains("pool/create") && logs.contains(&format!("reconfigure/{new_node}/7")),
        "{logs}"
    );
    let (_, list) = w.call("GET", "/api/v1/deployments", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(6), "{list:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_drain_moves_the_workloads_in_its_way() {
    let w = world().await;
    let service = template("mig_inference_multiple_replicas")
        .expect("template")
        .json
        .replace("\"recipe_replica_count\": 5", "\"recipe_replica_count\": 2")
        // The embedded fleet runs the autoscaler's floor.
        .replace("\"min_replicas\": 5", "\"min_replicas\": 2");
    // Two replicas on 1g.10gb: all-balanced has two per GPU, so both land on 10.0.10.11 GPU 0.
    let svc = w.deploy(&service, "").await;
    assert_eq!(svc["deployment"]["status"], "monitoring", "{svc:#}");
    let placed: Vec<(String, u64)> = svc["placements"]
        .as_array()
        .expect("placements")
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap_or_default().to_owned(),
                p["gpu"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(placed, [("10.0.10.11".into(), 0), ("10.0.10.11".into(), 0)]);
    let svc_id = svc["deployment"]["id"].as_i64().expect("id");

    // The pool of 10.0.10.11 goes to all-3g.40gb, which has no 1g.10gb: with drain, the replicas move.
    let update = r#"{"recipe_mode": "update", "deployment_name": "to-3g", "recipe_node_name": "10.0.10.11", "shared_node_pool_mig_config": "all-3g.40gb"}"#;
    let done = w.deploy(update, "?drain=true").await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    assert_eq!(step(&done, "drain/10.0.10.11")["state"], "done");
    assert_eq!(
        step(&done, &format!("reschedule/{svc_id}/0"))["state"],
        "done"
    );
    let fleet = w.fleet().await;
    assert!(
        all_of(node(&fleet, "10.0.10.11"), "3g.40gb", 2),
        "{fleet:#}"
    );
    assert!(busy(node(&fleet, "10.0.10.11")).is_empty());
    let moved = busy(node(&fleet, "10.0.10.12"));
    assert_eq!(
        moved.len(),
        2,
        "both replicas run on the other node: {fleet:#}"
    );
    let (_, svc) = w
        .call("GET", &format!("/api/v1/deployments/{svc_id}"), None)
        .await;
    assert_eq!(svc["deployment"]["status"], "monitoring", "{svc:#}");
    assert!(
        svc["placements"]
            .as_array()
            .expect("p")
            .iter()
            .all(|p| p["node"] == "10.0.10.12" && p["state"] == "placed")
    );
    assert_eq!(
        step(&svc, &format!("moved/{}/1", done["deployment"]["id"]))["state"],
        "done"
    );

    // The monitor restarts a replica that stopped behind its back (a crashed pod, say).
    let mut nominal = false;
    for _ in 0..100 {
        let (_, svc) = w
            .call("GET", &format!("/api/v1/deployments/{svc_id}"), None)
            .await;
        if monitor_message(&svc).as_deref() == Some("nominal: 2/2 replicas running") {
            nominal = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(nominal, "the monitor saw both replicas running");
    let p = &svc["placements"][0];
    let stopped = w
        .state
        .orchestrator()
        .cluster()
        .stop_workloads(
            p["node"].as_str().expect("node"),
            u32::try_from(p["gpu"].as_u64().expect("gpu")).expect("gpu"),
            u8::try_from(p["start"].as_u64().expect("start")).expect("start"),
        )
        .await
        .expect("stopped");
    assert_eq!(stopped, 1);
    for _ in 0..100 {
        let (_, svc) = w
            .call("GET", &format!("/api/v1/deployments/{svc_id}"), None)
            .await;
        if monitor_message(&svc).is_some_and(|m| m.starts_with("restarted 1 replica")) {
            let fleet = w.fleet().await;
            assert_eq!(
                busy(node(&fleet, "10.0.10.12")).len(),
                2,
                "running again: {fleet:#}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the monitor did not restart the stopped replica in 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_answers() {
    let w = world().await;
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some("{not json".into()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert!(
        body["issues"][0]["line"].is_number(),
        "syntax errors say where: {body:#}"
    );
    let (status, body) = w
        .call("POST", "/api/v1/deployments?drain=maybe", Some("{}".into()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:#}");
    let (status, body) = w.call("GET", "/api/v1/deployments/99", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:#}");
    assert!(
        body["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("GET /api/v1/deployments"))
    );
    let (status, _) = w
        .call("POST", "/api/v1/deployments/99/undeploy", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An update leaves nothing to undeploy (its layout stays): undeploying it is refused with
    // what can be done instead (#22 item 4), and it stays completed.
    let update = r#"{"recipe_mode": "update", "deployment_name": "noop", "recipe_node_name": "10.0.20.11", "shared_node_pool_mig_config": "all-1g.5gb"}"#;
    let done = w.deploy(update, "").await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    let first = done["deployment"]["id"].as_i64().expect("id");
    let (status, body) = w
        .call("POST", &format!("/api/v1/deployments/{first}/undeploy"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("nothing to undeploy") && message.contains("/revert"),
        "{body:#}"
    );
    assert_eq!(w.settle(first).await["deployment"]["status"], "completed");
    // The first update replaced a layout migboard never applied: nothing on record to revert to.
    let (status, body) = w
        .call("GET", &format!("/api/v1/deployments/{first}/previous"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body, json!([{"node": "10.0.20.11", "layout": null}]));
    let (status, body) = w
        .call("POST", &format!("/api/v1/deployments/{first}/revert"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("no earlier layout of 10.0.20.11")), "{body:#}");
    // A second update replaces the first one's layout: reverting it puts that back, as an update.
    let second = w
        .deploy(
            r#"{"recipe_mode": "update", "deployment_name": "to-2g", "recipe_node_name": "10.0.20.11", "shared_node_pool_mig_config": "all-2g.10gb"}"#,
            "",
        )
        .await;
    assert_eq!(second["deployment"]["status"], "completed", "{second:#}");
    let second = second["deployment"]["id"].as_i64().expect("id");
    assert!(all_of(node(&w.fleet().await, "10.0.20.11"), "2g.10gb", 3));
    let (_, body) = w
        .call("GET", &format!("/api/v1/deployments/{second}/previous"), None)
        .await;
    assert_eq!(body[0]["layout"]["deployment_id"].as_i64(), Some(first), "{body:#}");
    assert_eq!(body[0]["layout"]["config"], "all-1g.5gb", "{body:#}");
    let (status, body) = w
        .call("POST", &format!("/api/v1/deployments/{second}/revert"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let reverts = body.as_array().expect("the reverts started");
    assert_eq!(reverts.len(), 1, "{body:#}");
    let revert = w.settle(reverts[0]["id"].as_i64().expect("id")).await;
    assert_eq!(revert["deployment"]["status"], "completed", "{revert:#}");
    assert!(all_of(node(&w.fleet().await, "10.0.20.11"), "1g.5gb", 7));
    // Not an update: nothing to revert, undeploy it instead.
    let (status, body) = w
        .call("POST", "/api/v1/deployments/99/revert", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:#}");
    let id = first;
    // Whole-GPU workloads are refused by the embedded fleet with the reason.
    let whole = template("vllm-open-hf-model").map(|t| t.json.to_owned());
    if let Some(whole) = whole {
        let (status, body) = w.call("POST", "/api/v1/deployments", Some(whole)).await;
        if status == StatusCode::CREATED {
            let d = w.settle(body["id"].as_i64().expect("id")).await;
            assert_eq!(d["deployment"]["status"], "failed", "{d:#}");
            assert!(
                d["deployment"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("MIG workloads only")),
                "{d:#}"
            );
        }
    }
    // The OpenAPI document lists every route the router serves (an admin reads them all).
    let admin = common::bearer(&w.state, "ada", mig::wire::Role::Admin).await;
    let (status, doc) = w.call("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    // A custom config for the config paths to read.
    let (status, body) = w
        .call_as(
            &admin,
            "POST",
            "/api/v1/mig-configs",
            Some(r#"{"name": "probe", "model": "h100-80gb", "devices": [{"gpus": "all", "instances": [{"profile": "7g.80gb", "start": 0}]}]}"#.into()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (path, methods) in server::api::openapi::PATHS {
        for m in *methods {
            assert!(
                doc["paths"][format!("/api/v1{path}")][m].is_object(),
                "{m} {path} documented"
            );
        }
        let concrete = path
            .replace("{model}", "h100-80gb")
            .replace("{id}", &id.to_string())
            .replace("{node}", "10.0.10.11")
            .replace("{chart}", "memory.svg")
            .replace("{name}", "probe");
        // Share paths need a live token (their own test covers them).
        if methods.contains(&"get") && !path.contains("events") && !path.contains("{token}") {
            let (status, body) = w
                .call_as(&admin, "GET", &format!("/api/v1{concrete}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "GET {concrete}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_show_a_deployment_read_only_until_revoked_or_expired() {
    let w = world().await;
    let update = r#"{"recipe_mode": "update", "deployment_name": "shared", "recipe_node_name": "10.0.20.11", "shared_node_pool_mig_config": "all-1g.5gb"}"#;
    let done = w.deploy(update, "").await;
    let id = done["deployment"]["id"].as_i64().expect("id");
    let (status, created) = w
        .call(
            "POST",
            &format!("/api/v1/deployments/{id}/shares"),
            Some(r#"{"days": 2}"#.into()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    let token = created["token"].as_str().expect("token").to_owned();
    assert_eq!(token.len(), 64, "256 random bits");
    assert_eq!(created["path"], format!("/share/{token}"));
    let expires = created["link"]["expires_ms"].as_i64().expect("expires")
        - created["link"]["created_ms"].as_i64().expect("created");
    assert_eq!(expires, 2 * 86_400_000);

    // The link shows the deployment, without its blueprint.
    let (status, shown) = w.call("GET", &format!("/api/v1/share/{token}"), None).await;
    assert_eq!(status, StatusCode::OK, "{shown:#}");
    assert_eq!(shown["deployment"]["name"], "shared");
    assert_eq!(
        shown["blueprint"], "",
        "a blueprint may hold secrets: not shared"
    );
    assert!(shown["steps"].as_array().is_some_and(|s| !s.is_empty()));
    // The owner's list never has tokens.
    let (_, list) = w
        .call("GET", &format!("/api/v1/deployments/{id}/shares"), None)
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert!(!list.to_string().contains(&token));
    // Days out of range, unknown deployments: clear answers.
    let (status, body) = w
        .call(
            "POST",
            &format!("/api/v1/deployments/{id}/shares"),
            Some(r#"{"days": 365}"#.into()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 to 90 days"))
    );
    let (status, _) = w.call("POST", "/api/v1/deployments/999/shares", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revoked: 410 with why, from the page's API and its event stream alike.
    let share_id = created["link"]["id"].as_i64().expect("id");
    let (status, _) = w
        .call("POST", &format!("/api/v1/shares/{share_id}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        format!("/api/v1/share/{token}"),
        format!("/api/v1/share/{token}/events"),
    ] {
        let (status, body) = w.call("GET", &path, None).await;
        assert_eq!(status, StatusCode::GONE, "{path}: {body:#}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("revoked")),
            "{body:#}"
        );
    }
    // Expired (made so directly in the store): 410 too; never made: 404.
    w.state
        .orchestrator()
        .store()
        .create_share(id, "expired-token", -1, "test")
        .await
        .expect("create");
    let (status, body) = w.call("GET", "/api/v1/share/expired-token", None).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{body:#}"
    );
    let (status, body) = w.call("GET", "/api/v1/share/never-made", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:#}");
    // A share path has no mutating routes at all: not even an admin finds one (and the
    // authorization matrix in `auth.rs` refuses the others first).
    let admin = common::bearer(&w.state, "ada", mig::wire::Role::Admin).await;
    for method in ["POST", "PUT", "DELETE"] {
        let (status, _) = w
            .call_as(
                &admin,
                method,
                &format!("/api/v1/share/{token}"),
                Some("{}".into()),
            )
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
}

/// Whether the deployment's status message contains `text`.
fn says(detail: &Value, text: &str) -> bool {
    detail["deployment"]["message"]
        .as_str()
        .is_some_and(|m| m.contains(text))
}

/// The instances of GPU `gpu` of `node` as (profile, start), sorted.
fn placements(node: &Value, gpu: usize) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = node["gpus"][gpu]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["profile"].as_str().unwrap_or_default().to_owned(),
                i["start"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    out.sort();
    out
}

/// A custom config with two layouts, at placements migboard itself would not choose, made over the
/// API, applied by an update to one node of `h100migpool`, lands on the GPUs exactly as drawn; the
/// deployment keeps the version it applied; the config cannot be deleted while the node runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_config_is_applied_as_drawn_and_versioned() {
    let w = world().await;
    // Every rule broken is answered at its pointer.
    let (status, body) = w
        .call(
            "POST",
            "/api/v1/mig-configs",
            Some(r#"{"name": "all-balanced", "model": "h100-80gb", "devices": [{"gpus": [0], "instances": [{"profile": "3g.40gb", "start": 2}]}]}"#.into()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    let pointers: Vec<&str> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["path"].as_str())
        .collect();
    assert_eq!(
        pointers,
        ["/name", "/devices/0/instances/0/start"],
        "{body:#}"
    );

    let mix = r#"{"name": "mix-a", "model": "h100-80gb", "description": "two layouts",
      "devices": [
        {"gpus": [0, 1, 2, 3], "instances": [{"profile": "3g.40gb", "start": 0}, {"profile": "1g.10gb", "start": 6}]},
        {"gpus": [4, 5, 6, 7], "instances": [{"profile": "4g.40gb", "start": 0}, {"profile": "1g.20gb", "start": 4}, {"profile": "1g.10gb", "start": 6}]}
      ]}"#;
    let (status, body) = w
        .call("POST", "/api/v1/mig-configs", Some(mix.into()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["source"], "custom");
    let (status, again) = w
        .call("POST", "/api/v1/mig-configs", Some(mix.into()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again:#}");
    let (_, list) = w
        .call("GET", "/api/v1/mig-configs?model=h100-80gb", None)
        .await;
    let sources: Vec<(&str, &str)> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or(""),
                c["source"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(sources.contains(&("mix-a", "custom")), "{sources:?}");
    assert!(
        sources.contains(&("all-balanced", "builtin")),
        "{sources:?}"
    );

    // The blueprint names it as it would a built-in; the update applies it GPU by GPU.
    let update = r#"{"recipe_mode": "update", "deployment_name": "mix-rollout", "recipe_node_name": "10.0.10.11", "shared_node_pool_mig_config": "mix-a"}"#;
    let done = w.deploy(update, "").await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    assert!(says(&done, "mix-a v1"), "{done:#}");
    let id = done["deployment"]["id"].as_i64().expect("id");
    let fleet = w.fleet().await;
    let n = node(&fleet, "10.0.10.11");
    for gpu in 0..4 {
        assert_eq!(
            placements(n, gpu),
            [("1g.10gb".to_owned(), 6), ("3g.40gb".to_owned(), 0)],
            "GPU {gpu}: {n:#}"
        );
    }
    for gpu in 4..8 {
        assert_eq!(
            placements(n, gpu),
            [
                ("1g.10gb".to_owned(), 6),
                ("1g.20gb".to_owned(), 4),
                ("4g.40gb".to_owned(), 0)
            ],
            "GPU {gpu}: {n:#}"
        );
    }
    assert_eq!(
        n["mig_config"], "mix-a",
        "the fleet names the config the node matches"
    );
    // The other node of the pool is untouched.
    assert_ne!(node(&fleet, "10.0.10.12")["mig_config"], "mix-a");

    // A change is a new version; the deployment keeps the one it applied.
    let v2 = mix.replacen("\"start\": 6", "\"start\": 5", 1);
    let (status, body) = w.call("PUT", "/api/v1/mig-configs/mix-a", Some(v2)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["version"], 2);
    assert_eq!(
        w.state
            .orchestrator()
            .store()
            .deployment_config(id)
            .await
            .expect("store"),
        Some(("mix-a".to_owned(), 1))
    );
    let (_, versions) = w
        .call("GET", "/api/v1/mig-configs/mix-a/versions", None)
        .await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions:#}");

    // Applying the config again takes its current version (v2); the node's history lists both,
    // and reverting to the first deployment puts v1's exact placements back, though v2 is current.
    let update2 = r#"{"recipe_mode": "update", "deployment_name": "mix-rollout-2", "recipe_node_name": "10.0.10.11", "shared_node_pool_mig_config": "mix-a"}"#;
    let done = w.deploy(update2, "").await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    let fleet = w.fleet().await;
    assert_eq!(
        placements(node(&fleet, "10.0.10.11"), 0),
        [("1g.10gb".to_owned(), 5), ("3g.40gb".to_owned(), 0)]
    );
    let (_, detail) = w.call("GET", "/api/v1/nodes/10.0.10.11", None).await;
    let history: Vec<(String, Option<u64>)> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["config"].as_str().unwrap_or("").to_owned(),
                h["version"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [("mix-a".to_owned(), Some(2)), ("mix-a".to_owned(), Some(1))],
        "{detail:#}"
    );
    // The node page's facts: the labels the GPU Operator would set (the config the node matches,
    // its state), each GPU's UUID; the charts cover 24 h unless asked, and say so (#22 item 10).
    let labels = &detail["node"]["labels"];
    assert_eq!(labels["nvidia.com/mig.config"], "mix-a", "{detail:#}");
    assert_eq!(labels["nvidia.com/mig.config.state"], "success");
    assert_eq!(labels["nvidia.com/gpu.count"], "8");
    assert!(
        detail["node"]["gpus"][0]["uuid"]
            .as_str()
            .is_some_and(|u| u.starts_with("GPU-")),
        "{detail:#}"
    );
    assert_eq!(detail["range"], "24h");
    assert!(
        detail["applies_chart_svg"]
            .as_str()
            .is_some_and(|svg| svg.contains("last 24 h")),
        "{detail:#}"
    );
    let (status, week) = w
        .call("GET", "/api/v1/nodes/10.0.10.11?range=7d", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{week:#}");
    assert_eq!(week["range"], "7d");
    assert!(
        week["applies_chart_svg"]
            .as_str()
            .is_some_and(|svg| svg.contains("per 6 h, last 7 days")),
        "{week:#}"
    );
    let (status, refused) = w
        .call("GET", "/api/v1/nodes/10.0.10.11?range=2w", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused:#}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"2w\"") && m.contains("1h, 24h or 7d")),
        "{refused:#}"
    );
    let actor = server::audit::Actor::new("operator", "test");
    let reverted = w
        .state
        .orchestrator()
        .revert("10.0.10.11", id, false, &actor)
        .await
        .expect("revert submitted");
    let done = w.settle(reverted.id).await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    assert!(says(&done, "mix-a v1"), "{done:#}");
    let fleet = w.fleet().await;
    assert_eq!(
        placements(node(&fleet, "10.0.10.11"), 0),
        [("1g.10gb".to_owned(), 6), ("3g.40gb".to_owned(), 0)]
    );

    // Back on v1 while v2 is current: not drift (it is measured against the version applied).
    assert!(node(&fleet, "10.0.10.11")["drift"].is_null(), "{fleet:#}");
    // Someone changes GPU 3 by hand (straight through its agent): the node is marked drifted, with
    // what the config wants of that GPU.
    let by_hand = mig::agent_api::ApplyRequest::new(
        mig::agent_api::ApplyTarget::Layout(vec![mig::InstanceSpec {
            profile: "7g.80gb".into(),
            start: 0,
        }]),
        &[3],
        false,
    );
    w.state
        .orchestrator()
        .cluster()
        .apply("10.0.10.11", &by_hand)
        .await
        .expect("changed by hand");
    let fleet = w.fleet().await;
    let drift = &node(&fleet, "10.0.10.11")["drift"];
    assert_eq!(drift["config"], "mix-a", "{fleet:#}");
    let gpus: Vec<u64> = drift["gpus"]
        .as_array()
        .expect("gpus")
        .iter()
        .filter_map(|g| g["gpu"].as_u64())
        .collect();
    assert_eq!(gpus, [3]);
    assert_eq!(drift["gpus"][0]["want"][0]["profile"], "3g.40gb");

    // mig-parted export: counts, and the placements it cannot carry named in comments.
    let (status, yaml) = w
        .call("GET", "/api/v1/mig-configs/mix-a/mig-parted", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let yaml = yaml
        .as_str()
        .map_or_else(|| yaml.to_string(), str::to_owned);
    assert!(yaml.contains("version: v1"), "{yaml}");
    assert!(yaml.contains("3g.40gb@0 1g.10gb@5"), "{yaml}");

    // In use: refused, naming the node.
    let (status, body) = w.call("DELETE", "/api/v1/mig-configs/mix-a", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("node 10.0.10.11")),
        "{body:#}"
    );
    // A built-in cannot be changed.
    let (status, _) = w
        .call("DELETE", "/api/v1/mig-configs/all-balanced", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A pool created on the custom config: its new node's GPUs get the config's exact placements
    // (v2, current when it was submitted).
    let pool = r#"{"recipe_mode": "shared_node_pool", "deployment_name": "mix-pool", "shared_node_pool_size": 1, "shared_node_pool_shape": "BM.GPU.H100.8", "shared_node_pool_boot_volume_size_in_gbs": 500, "shared_node_pool_mig_config": "mix-a"}"#;
    let done = w.deploy(pool, "").await;
    assert_eq!(done["deployment"]["status"], "active", "{done:#}");
    let fleet = w.fleet().await;
    let new_node = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["pool"] == "mix-pool")
        .unwrap_or_else(|| panic!("the pool's node in {fleet:#}"));
    assert_eq!(
        placements(new_node, 0),
        [("1g.10gb".to_owned(), 5), ("3g.40gb".to_owned(), 0)]
    );
    assert_eq!(
        placements(new_node, 7),
        [
            ("1g.10gb".to_owned(), 6),
            ("1g.20gb".to_owned(), 4),
            ("4g.40gb".to_owned(), 0)
        ]
    );

    // Import from a mig-parted file: new names are created with the placements migboard chooses,
    // built-in names are skipped with the reason, and a file that is not mig-parted's is refused.
    let yaml = "version: v1\nmig-configs:\n  team-a:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": 7\n  all-balanced:\n    - devices: all\n      mig-enabled: false\n";
    let body = serde_json::json!({"model": "h100-80gb", "yaml": yaml}).to_string();
    let (status, imported) = w
        .call("POST", "/api/v1/mig-configs/import", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{imported:#}");
    assert_eq!(imported["created"][0]["name"], "team-a", "{imported:#}");
    assert_eq!(
        imported["skipped"][0]["name"], "all-balanced",
        "{imported:#}"
    );
    let (status, team) = w.call("GET", "/api/v1/mig-configs/team-a", None).await;
    assert_eq!(status, StatusCode::OK);
    let starts: Vec<u64> = team["devices"][0]["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|i| i["start"].as_u64())
        .collect();
    assert_eq!(starts, [0, 1, 2, 3, 4, 5, 6], "{team:#}");
    let bad = serde_json::json!({"model": "h100-80gb", "yaml": "version: v2\n"}).to_string();
    let (status, refused) = w
        .call("POST", "/api/v1/mig-configs/import", Some(bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused:#}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a mig-parted config")),
        "{refused:#}"
    );
}

/// A MIG mode change waits for a GPU reset, and migboard says so instead of calling it done: the
/// step and the deployment read "waiting for GPU reset", the fleet shows the pending mode; with
/// drain, migboard resets the idle GPUs itself and both deployments finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_waiting_for_a_reset_is_not_reported_done() {
    let w = world().await;
    let off = |name: &str| {
        format!(
            r#"{{"recipe_mode": "update", "deployment_name": "{name}", "recipe_node_name": "10.0.10.12", "shared_node_pool_mig_config": "all-disabled"}}"#
        )
    };
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(off("mig-off")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let id = body["id"].as_i64().expect("id");
    let mut detail = Value::Null;
    for _ in 0..300 {
        detail = w
            .call("GET", &format!("/api/v1/deployments/{id}"), None)
            .await
            .1;
        if says(&detail, "waiting for GPU reset") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(detail["deployment"]["status"], "deploying", "{detail:#}");
    let message = detail["deployment"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("waiting for GPU reset on 10.0.10.12 GPU 0"),
        "{detail:#}"
    );
    assert!(message.contains("Drain busy nodes"), "{message}");
    let gpu0 = step(&detail, "reconfigure/10.0.10.12/0");
    assert_eq!(gpu0["state"], "running", "{detail:#}");
    assert!(
        gpu0["message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for GPU reset")),
        "{gpu0:#}"
    );
    let fleet = w.fleet().await;
    let n = node(&fleet, "10.0.10.12");
    assert_eq!(n["gpus"][0]["mig_mode"], "enabled", "{n:#}");
    assert_eq!(n["gpus"][0]["pending_mig_mode"], "disabled", "{n:#}");

    // With drain, migboard may reset the (idle) GPUs: the change completes, and the first
    // deployment, tried again, finds its work done.
    let done = w.deploy(&off("mig-off-drained"), "?drain=true").await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    let first = w.settle(id).await;
    assert_eq!(first["deployment"]["status"], "completed", "{first:#}");
    let fleet = w.fleet().await;
    let n = node(&fleet, "10.0.10.12");
    for g in n["gpus"].as_array().expect("gpus") {
        assert_eq!(g["mig_mode"], "disabled", "{n:#}");
        assert!(g["pending_mig_mode"].is_null(), "{n:#}");
    }
}

#[tokio::test]
async fn a_fleet_plan_against_the_current_fleet_keeps_the_gpus_that_already_serve() {
    let w = world().await;
    let fleet = w.fleet().await;
    let h100_mig: usize = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|n| n["gpus"].as_array().cloned().unwrap_or_default())
        .filter(|g| g["model"] == "h100-80gb" && g["mig_mode"] == "enabled")
        .count();
    assert!(
        h100_mig >= 16,
        "the default fleet has two all-balanced H100 nodes"
    );
    // What the all-balanced GPUs hold: planning it again keeps every one of them.
    let per = h100_mig as u64;
    let (status, body) = w
        .call(
            "POST",
            "/api/v1/fleet-plans",
            Some(format!(r#"{{"model":"h100-80gb","demand":{{"1g.10gb":{},"2g.20gb":{per},"3g.40gb":{per}}},"fleet":"current"}}"#, 2 * per)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["gpus"].as_u64(), Some(per), "{body:#}");
    assert_eq!(body["fleet"]["current_gpus"].as_u64(), Some(per));
    assert_eq!(body["fleet"]["kept_gpus"].as_u64(), Some(per), "{body:#}");
    assert_eq!(body["reconfigured_gpus"].as_u64(), Some(0));
    // Two more 3g.40gb and fewer 1g.10gb: one GPU is recut, the rest stay.
    let (status, body) = w
        .call(
            "POST",
            "/api/v1/fleet-plans",
            Some(format!(r#"{{"model":"h100-80gb","demand":{{"1g.10gb":{},"2g.20gb":{},"3g.40gb":{}}},"fleet":"current"}}"#, 2 * per - 2, per - 1, per + 1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["gpus"].as_u64(), Some(per), "{body:#}");
    assert_eq!(body["reconfigured_gpus"].as_u64(), Some(1), "{body:#}");
    assert_eq!(
        body["fleet"]["changes"][0]["to"].as_array().map(Vec::len),
        Some(2),
        "two 3g.40gb: {body:#}"
    );
}

#[tokio::test]
async fn a_deployment_with_no_free_slice_is_offered_room_and_deploys_after_it() {
    let w = world().await;
    w.fleet().await;
    let blueprint = template("mig_inference_single_replica")
        .expect("template")
        .json
        .replace("autoscale_mig", "needs-room");
    // No node has a 1g.20gb: refused, with the fix that makes room (one GPU, busy slices untouched).
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(blueprint.clone()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    let issue = body["issues"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i.get("fix").is_some()))
        .unwrap_or_else(|| panic!("an issue with a fix: {body:#}"))
        .clone();
    let fix = &issue["fix"];
    assert_eq!(fix["changes"].as_array().map(Vec::len), Some(1), "{fix:#}");
    assert!(
        issue["hint"]
            .as_str()
            .expect("hint")
            .starts_with("reconfigure GPU "),
        "{issue:#}"
    );
    let target = fix["changes"][0]["node"].as_str().expect("node").to_owned();
    let gpu = fix["changes"][0]["gpu"].as_u64().expect("gpu") as usize;
    // What the editor's "Apply and deploy" does: save the config, update the node, deploy.
    let config = fix["configs"][0].clone();
    let (status, saved) = w
        .call("POST", "/api/v1/mig-configs", Some(config.to_string()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved:#}");
    let update = serde_json::json!({
        "recipe_mode": "update",
        "deployment_name": "make-room",
        "recipe_node_name": target,
        "shared_node_pool_mig_config": config["name"],
    });
    let done = w.deploy(&update.to_string(), "").await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    let fleet = w.fleet().await;
    let after: Vec<(String, u64)> = placements(node(&fleet, &target), gpu);
    let mut want: Vec<(String, u64)> = fix["changes"][0]["to"]
        .as_array()
        .expect("to")
        .iter()
        .map(|i| {
            (
                i["profile"].as_str().expect("p").to_owned(),
                i["start"].as_u64().expect("s"),
            )
        })
        .collect();
    want.sort();
    assert_eq!(after, want, "the GPU is cut exactly as the fix said");
    let deployed = w.deploy(&blueprint, "").await;
    assert_eq!(
        deployed["deployment"]["status"], "monitoring",
        "{deployed:#}"
    );
    assert_eq!(deployed["placements"][0]["node"], target.as_str());
}

#[tokio::test]
async fn applying_a_fleet_plan_recuts_the_planned_gpus_and_nothing_else() {
    let w = world().await;
    let before = w.fleet().await;
    let per = before["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|n| n["gpus"].as_array().cloned().unwrap_or_default())
        .filter(|g| g["model"] == "h100-80gb" && g["mig_mode"] == "enabled")
        .count() as u64;
    // Two more 3g.40gb and fewer 1g.10gb than the all-balanced GPUs hold: one GPU is recut.
    let request = serde_json::json!({
        "model": "h100-80gb",
        "demand": {"1g.10gb": 2 * per - 2, "2g.20gb": per - 1, "3g.40gb": per + 1},
        "fleet": "current",
    });
    let (status, planned) = w
        .call("POST", "/api/v1/fleet-plans", Some(request.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{planned:#}");
    let changes = planned["fleet"]["changes"].clone();
    assert_eq!(changes.as_array().map(Vec::len), Some(1), "{planned:#}");
    let target = changes[0]["node"].as_str().expect("node").to_owned();
    let gpu = changes[0]["gpu"].as_u64().expect("gpu") as usize;
    let expect: Value = changes
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| serde_json::json!({"node": c["node"], "gpu": c["gpu"], "to": c["to"]}))
        .collect();
    // Reviewed changes that are not what the fleet plans now: nothing is applied.
    let (status, body) = w
        .call(
            "POST",
            "/api/v1/fleet-plans/apply",
            Some(serde_json::json!({"request": request, "expect": []}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    assert_eq!(body["error"]["code"], "plan_changed", "{body:#}");
    assert_eq!(body["plan"]["fleet"]["changes"], changes, "{body:#}");
    let (_, listed) = w.call("GET", "/api/v1/deployments", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed:#}");
    let (status, _) = w
        .call("GET", &format!("/api/v1/mig-configs/plan-{target}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no config saved");
    // A bad prefix is named at its pointer.
    let (status, body) = w
        .call(
            "POST",
            "/api/v1/fleet-plans/apply",
            Some(serde_json::json!({"request": request, "prefix": "no spaces"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["issues"][0]["path"], "/prefix", "{body:#}");
    // As reviewed: one config for the node and one update, which completes.
    let (status, body) = w
        .call(
            "POST",
            "/api/v1/fleet-plans/apply",
            Some(serde_json::json!({"request": request, "expect": expect}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body:#}");
    assert_eq!(body["outcome"], "applied", "{body:#}");
    assert_eq!(body["complete"], true, "{body:#}");
    assert_eq!(body["nodes"].as_array().map(Vec::len), Some(1), "{body:#}");
    assert_eq!(body["nodes"][0]["node"], target.as_str());
    assert_eq!(body["nodes"][0]["status"], "submitted", "{body:#}");
    assert_eq!(body["nodes"][0]["config"], format!("plan-{target}"));
    let id = body["nodes"][0]["deployment"].as_i64().expect("deployment");
    let done = w.settle(id).await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    // The recut GPU has exactly the planned placements; every other GPU of every node is as it was.
    let after = w.fleet().await;
    let mut want: Vec<(String, u64)> = changes[0]["to"]
        .as_array()
        .expect("to")
        .iter()
        .map(|i| {
            (
                i["profile"].as_str().expect("p").to_owned(),
                i["start"].as_u64().expect("s"),
            )
        })
        .collect();
    want.sort();
    assert_eq!(placements(node(&after, &target), gpu), want);
    for n in before["nodes"].as_array().expect("nodes") {
        let name = n["name"].as_str().expect("name");
        for (i, _) in n["gpus"].as_array().expect("gpus").iter().enumerate() {
            if name == target && i == gpu {
                continue;
            }
            assert_eq!(
                placements(node(&after, name), i),
                placements(n, i),
                "GPU {i} of {name} is untouched"
            );
        }
    }
    // Planned again, the fleet already serves it.
    let (status, again) = w
        .call("POST", "/api/v1/fleet-plans", Some(request.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    assert_eq!(again["reconfigured_gpus"].as_u64(), Some(0), "{again:#}");
    assert_eq!(again["fleet"]["kept_gpus"].as_u64(), Some(per), "{again:#}");
}

/// `skip_capacity_validation` queues (#20): replicas without a free slice wait, the deployment is
/// `scheduled` saying for what, they are placed as soon as slices free up, and undeploy cancels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_capacity_validation_waits_for_slices() {
    let w = world().await;
    let service = |name: &str, replicas: u32, skip: bool| {
        json!({
            "recipe_mode": "service", "deployment_name": name, "recipe_image_uri": "i",
            "recipe_node_shape": "BM.GPU.H100.8", "mig_resource_request": "3g.40gb",
            "recipe_replica_count": replicas, "skip_capacity_validation": skip,
        })
        .to_string()
    };
    // h100migpool has 16 3g.40gb slices (2 nodes × 8 GPUs on all-balanced): take 15.
    let big = w.deploy(&service("big", 15, false), "").await;
    assert_eq!(big["deployment"]["status"], "monitoring", "{big:#}");
    // Three more cannot all fit: without the flag, validation refuses.
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(service("late", 3, false)))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    // With it, one is placed and two wait.
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(service("late", 3, true)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let late = body["id"].as_i64().expect("id");
    let detail = async |id: i64| w.call("GET", &format!("/api/v1/deployments/{id}"), None).await.1;
    let mut queued = Value::Null;
    for _ in 0..100 {
        queued = detail(late).await;
        if queued["placements"].as_array().map(Vec::len) == Some(1)
            && queued["deployment"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("waiting for"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(queued["deployment"]["status"], "scheduled", "{queued:#}");
    let message = queued["deployment"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("waiting for 2 free 3g.40gb slices") && message.contains("1 of 3 replicas running"),
        "{message}"
    );
    assert_eq!(step(&queued, "replica/1")["state"], "pending", "{queued:#}");
    // It stays queued while nothing frees up.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(detail(late).await["deployment"]["status"], "scheduled");
    // Slices free up: the waiting replicas are placed and it runs.
    w.undeploy(big["deployment"]["id"].as_i64().expect("id")).await;
    let placed = w.settle(late).await;
    assert_eq!(placed["deployment"]["status"], "monitoring", "{placed:#}");
    assert_eq!(placed["placements"].as_array().map(Vec::len), Some(3), "{placed:#}");

    // Undeploy cancels a queued deployment: more replicas than the fleet has slices.
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(service("never", 40, true)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let never = body["id"].as_i64().expect("id");
    for _ in 0..100 {
        if detail(never).await["deployment"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("waiting for 27 free"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = detail(never).await;
    assert_eq!(d["deployment"]["status"], "scheduled", "{d:#}");
    assert_eq!(d["placements"].as_array().map(Vec::len), Some(13), "the 13 free slices: {d:#}");
    w.undeploy(never).await;
    let fleet = w.fleet().await;
    let owners: Vec<String> = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(busy)
        .flat_map(|b| b.3)
        .filter(|o| o.starts_with("never"))
        .collect();
    assert!(owners.is_empty(), "cancelled: {owners:?}");
}

/// `recipe_max_pods_per_node` is stored with the pool it creates and bounds its replicas per node
/// (#20): less the system pods every GPU node runs, both in validation and in placement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pools_max_pods_per_node_bounds_its_replicas_per_node() {
    let w = world().await;
    let pool = json!({
        "recipe_mode": "shared_node_pool", "deployment_name": "tight", "shared_node_pool_size": 1,
        "shared_node_pool_shape": "BM.GPU.H100.8", "shared_node_pool_boot_volume_size_in_gbs": 500,
        "shared_node_pool_mig_config": "all-1g.20gb", "recipe_max_pods_per_node": 30,
    });
    let done = w.deploy(&pool.to_string(), "").await;
    assert_eq!(done["deployment"]["status"], "active", "{done:#}");
    let stored = w.state.orchestrator().store().pools().await.expect("pools");
    assert_eq!(
        stored.iter().find(|p| p.name == "tight").map(|p| p.max_pods_per_node),
        Some(30)
    );
    let fleet = w.fleet().await;
    let tight = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["pool"] == "tight")
        .unwrap_or_else(|| panic!("{fleet:#}"));
    assert!(all_of(tight, "1g.20gb", 4), "32 slices: {fleet:#}");
    let service = |name: &str, replicas: u32, skip: bool| {
        json!({
            "recipe_mode": "service", "deployment_name": name, "recipe_image_uri": "i",
            "recipe_node_shape": "BM.GPU.H100.8", "mig_resource_request": "1g.20gb",
            "recipe_replica_count": replicas, "skip_capacity_validation": skip,
        })
        .to_string()
    };
    // 32 slices, but 30 pods less 10 system pods: room for 20 replicas.
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(service("too-many", 25, false)))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    let capacity = body["issues"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["code"] == "capacity"))
        .unwrap_or_else(|| panic!("{body:#}"));
    assert!(
        capacity["message"].as_str().is_some_and(|m| m.contains("20 free")),
        "{capacity:#}"
    );
    let fits = w.deploy(&service("fits", 20, false), "").await;
    assert_eq!(fits["deployment"]["status"], "monitoring", "{fits:#}");
    // One more waits although 12 slices are free: the node has no pod left.
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(service("one-more", 1, true)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let id = body["id"].as_i64().expect("id");
    let mut d = Value::Null;
    for _ in 0..100 {
        d = w.call("GET", &format!("/api/v1/deployments/{id}"), None).await.1;
        if d["deployment"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("waiting for 1 free 1g.20gb slice"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(d["deployment"]["status"], "scheduled", "{d:#}");
    assert!(
        d["deployment"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("12 of 32 1g.20gb slices in the fleet are free, but")
                && m.contains("leave room for 0")),
        "{d:#}"
    );
    w.undeploy(id).await;
}

/// `recipe_use_shared_node_pool: false` on the embedded fleet (#20): the deployment gets nodes of
/// its own (`recipe_node_pool_size`, on `all-<profile>`), its replicas run only there, nothing else
/// is placed there, and undeploy removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_of_its_own_gets_nodes_of_its_own() {
    let w = world().await;
    let own = json!({
        "recipe_mode": "service", "deployment_name": "solo", "recipe_image_uri": "i",
        "recipe_node_shape": "BM.GPU.H100.8", "mig_resource_request": "2g.20gb",
        "recipe_replica_count": 30, "recipe_use_shared_node_pool": false, "recipe_node_pool_size": 2,
    });
    let done = w.deploy(&own.to_string(), "").await;
    assert_eq!(done["deployment"]["status"], "monitoring", "{done:#}");
    assert!(
        step(&done, "pool/create")["message"]
            .as_str()
            .is_some_and(|m| m.contains("nodes of its own") && m.contains("2 × BM.GPU.H100.8 on all-2g.20gb")),
        "{done:#}"
    );
    let fleet = w.fleet().await;
    let solo: Vec<&Value> = fleet["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["pool"] == "solo")
        .collect();
    assert_eq!(solo.len(), 2, "{fleet:#}");
    assert!(solo.iter().all(|n| all_of(n, "2g.20gb", 3)), "{fleet:#}");
    let pool = fleet["pools"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "solo"))
        .unwrap_or_else(|| panic!("{fleet:#}"));
    assert_eq!(pool["dedicated_to"], "solo");
    let names: Vec<&str> = solo.iter().filter_map(|n| n["name"].as_str()).collect();
    let placed = done["placements"].as_array().expect("placements");
    assert_eq!(placed.len(), 30);
    assert!(
        placed.iter().all(|p| names.contains(&p["node"].as_str().unwrap_or_default())),
        "only on its own nodes: {done:#}"
    );
    // Its 18 free slices serve nothing else: a shared request of 2g.20gb sees only h100migpool's
    // 16 and cannot take 20.
    let other = json!({
        "recipe_mode": "service", "deployment_name": "other", "recipe_image_uri": "i",
        "recipe_node_shape": "BM.GPU.H100.8", "mig_resource_request": "2g.20gb",
        "recipe_replica_count": 20,
    });
    let (status, body) = w
        .call("POST", "/api/v1/deployments", Some(other.to_string()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert!(
        body["issues"]
            .as_array()
            .and_then(|i| i.iter().find(|i| i["code"] == "capacity"))
            .and_then(|i| i["message"].as_str())
            .is_some_and(|m| m.contains("the fleet has 16 free of 16")),
        "{body:#}"
    );
    // Undeploy removes its nodes.
    w.undeploy(done["deployment"]["id"].as_i64().expect("id")).await;
    let fleet = w.fleet().await;
    assert!(
        fleet["nodes"].as_array().expect("nodes").iter().all(|n| n["pool"] != "solo"),
        "{fleet:#}"
    );

    // Node autoscaling: it starts at min_nodes and grows while replicas would wait, up to max_nodes
    // (30 replicas of 24 per node: 2 nodes of at most 3).
    let mut grows = own.clone();
    grows["deployment_name"] = json!("grows");
    grows.as_object_mut().expect("object").remove("recipe_node_pool_size");
    grows["recipe_node_autoscaling_params"] = json!({"min_nodes": 1, "max_nodes": 3});
    let done = w.deploy(&grows.to_string(), "").await;
    assert_eq!(done["deployment"]["status"], "monitoring", "{done:#}");
    assert!(
        step(&done, "pool/grow/2")["message"]
            .as_str()
            .is_some_and(|m| m.contains("grows to 2 nodes") && m.contains("at most 3")),
        "{done:#}"
    );
    let fleet = w.fleet().await;
    let nodes = fleet["nodes"].as_array().expect("nodes").iter().filter(|n| n["pool"] == "grows").count();
    assert_eq!(nodes, 2, "{fleet:#}");
    w.undeploy(done["deployment"]["id"].as_i64().expect("id")).await;
}

#[tokio::test]
async fn every_watcher_gets_the_same_serialised_bytes_of_an_event() {
    let w = world().await;
    let mut first = w.state.orchestrator().subscribe();
    let mut second = w.state.orchestrator().subscribe();
    let service = json!({
        "recipe_mode": "service", "deployment_name": "shared-bytes", "recipe_image_uri": "i",
        "recipe_node_shape": "BM.GPU.H100.8", "mig_resource_request": "1g.10gb",
    })
    .to_string();
    let (status, body) = w.call("POST", "/api/v1/deployments", Some(service)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let a = tokio::time::timeout(std::time::Duration::from_secs(10), first.recv())
        .await
        .expect("an event")
        .expect("received");
    let b = tokio::time::timeout(std::time::Duration::from_secs(10), second.recv())
        .await
        .expect("an event")
        .expect("received");
    // One serialisation, shared: both watchers hold the very same frame.
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.frame, server::orchestrator::sse_frame(&a.event));
    let text = std::str::from_utf8(&a.frame).expect("utf-8");
    assert!(text.starts_with(&format!("event: {}\ndata: {{", a.event.name())), "{text}");
    assert!(text.ends_with("}\n\n") && text.matches('\n').count() == 3, "{text}");
}

/// A stand-alone agent on 8 simulated H100s whose `fault_at`-th MIG change fails once, reached by
/// token: (process, URL, token).
async fn faulty_agent(dir: &std::path::Path, node: &str, fault_at: u32) -> (tokio::process::Child, String, String) {
    let token = "rollout-test-token-0123456789abcdef".to_owned();
    std::fs::write(dir.join("token"), &token).expect("token file");
    let mut agent = tokio::process::Command::new(agent_binary().expect("agent binary"));
    agent
        .args(["--simulate", "h100-80gbx8", "--sim-reset-immediately", "--sim-fault-at"])
        .arg(fault_at.to_string())
        .arg("--sim-state")
        .arg(dir.join("node.json"))
        .args(["serve", "--addr", "127.0.0.1:0", "--exit-with-parent", "--journal"])
        .arg(dir.join("node.journal"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .env("NODE_NAME", node);
    let (child, port) = common::spawn_agent(agent).await;
    (child, format!("http://127.0.0.1:{port}"), token)
}

#[tokio::test]
async fn a_pool_update_rolls_out_in_batches_pauses_on_a_failed_node_and_resumes() {
    use server::cluster::embedded::{NodeSpec, PoolSpec, RemoteAgent};
    // Pool "batchpool": four H100 nodes; the first is a stand-alone agent whose first change fails.
    let agent_dir = tempfile::tempdir().expect("tempdir");
    let (_agent, url, token) = faulty_agent(agent_dir.path(), "10.0.30.11", 1).await;
    let mut spec = FleetSpec::default_fleet();
    spec.pools.push(PoolSpec {
        name: "batchpool".into(),
        shape: mig::shape::shape("BM.GPU.H100.8").expect("shape"),
        nodes: vec![
            NodeSpec {
                name: "10.0.30.11".into(),
                remote: Some(RemoteAgent {
                    url,
                    token: mig::wire::Secret::from(token),
                }),
            },
            NodeSpec::simulated("10.0.30.12"),
            NodeSpec::simulated("10.0.30.13"),
            NodeSpec::simulated("10.0.30.14"),
        ],
        mig_config: Some("all-balanced".into()),
        max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
        dedicated_to: None,
    });
    let w = world_of(None, spec).await;
    let update = r#"{"recipe_mode": "update", "deployment_name": "batches", "recipe_node_pool_name": "batchpool", "shared_node_pool_mig_config": "all-1g.10gb"}"#;
    let (status, body) = w
        .call("POST", "/api/v1/deployments?max_unavailable=0", Some(update.into()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:#}");
    // Two nodes at a time: batch 1 = 10.0.30.11 (fails) + 10.0.30.12; batch 2 = the other two.
    let paused = w.deploy(update, "?max_unavailable=2").await;
    let id = paused["deployment"]["id"].as_i64().expect("id");
    assert_eq!(paused["deployment"]["status"], "paused", "{paused:#}");
    let message = paused["deployment"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("rollout paused at batch 1 of 2: 10.0.30.11: "), "{message}");
    assert!(message.contains("injected fault"), "{message}");
    assert!(message.contains("2 node(s) after it untouched (10.0.30.13, 10.0.30.14)"), "{message}");
    let first = step(&paused, "rollout/1");
    assert_eq!(first["state"], "failed", "{first:#}");
    assert_eq!(step(&paused, "rollout/2")["state"], "pending", "{paused:#}");
    assert_eq!(
        step(&paused, "rollout/2")["message"],
        "batch 2 of 2: 10.0.30.13, 10.0.30.14"
    );
    // The failed node's batch-mate finished; the next batch was not touched.
    assert_eq!(step(&paused, "reconfigure/10.0.30.12/7")["state"], "done", "{paused:#}");
    assert_eq!(step(&paused, "reconfigure/10.0.30.13/0")["state"], "pending", "{paused:#}");
    let fleet = w.fleet().await;
    assert!(all_of(node(&fleet, "10.0.30.12"), "1g.10gb", 7));
    for untouched in ["10.0.30.13", "10.0.30.14"] {
        let n = node(&fleet, untouched);
        assert!(!all_of(n, "1g.10gb", 7), "{untouched} changed: {n:#}");
        assert_eq!(placements(n, 0).len(), 4, "{untouched} keeps all-balanced: {n:#}");
    }
    // Only a paused deployment resumes; this one does, retries the failed node and goes on.
    let (status, body) = w
        .call("POST", &format!("/api/v1/deployments/{id}/resume"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body:#}");
    let done = w.settle(id).await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    for key in ["rollout/1", "rollout/2", "reconfigure/10.0.30.11/0", "reconfigure/10.0.30.14/7"] {
        assert_eq!(step(&done, key)["state"], "done", "{key}: {done:#}");
    }
    assert_eq!(step(&done, "rollout/2")["message"], "batch 2 of 2: 10.0.30.13, 10.0.30.14 done");
    let fleet = w.fleet().await;
    for n in ["10.0.30.11", "10.0.30.12", "10.0.30.13", "10.0.30.14"] {
        assert!(all_of(node(&fleet, n), "1g.10gb", 7), "{n}: {:#}", node(&fleet, n));
    }
    let (status, body) = w
        .call("POST", &format!("/api/v1/deployments/{id}/resume"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    // One node at a time by default: a pool of four is four batches.
    let update = r#"{"recipe_mode": "update", "deployment_name": "one-at-a-time", "recipe_node_pool_name": "batchpool", "shared_node_pool_mig_config": "all-balanced"}"#;
    let done = w.deploy(update, "").await;
    assert_eq!(done["deployment"]["status"], "completed", "{done:#}");
    assert_eq!(step(&done, "rollout/4")["message"], "batch 4 of 4: 10.0.30.14 done");
}
