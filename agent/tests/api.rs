//! The agent's HTTP API over simulated GPUs, driven with `tower::ServiceExt::oneshot`.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::api::{AgentState, router};
use agent::driver::{DriverError, GpuDriver, GpuInfo, GpuInstanceInfo, ModeState, ProcessInfo};
use agent::sim::{SimDriver, SimOptions};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mig::{GpuModel, MigMode};
use tower::ServiceExt;

const TOKEN: &str = "s3cret-agent-token";

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Body::from(body.unwrap_or_default().to_owned()))
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// `gpus` simulated H100s; MIG mode changes take effect at once when `reset_immediately`.
fn h100s(gpus: u32, reset_immediately: bool) -> Arc<SimDriver> {
    Arc::new(SimDriver::new(
        GpuModel::H100_80GB,
        gpus,
        SimOptions { reset_immediately },
    ))
}

/// `POST /v1/apply` with the token and `body`.
async fn post_apply(app: &axum::Router, body: &str) -> (StatusCode, String) {
    call(app, "POST", "/v1/apply", Some(TOKEN), Some(body)).await
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn wait_done(app: &axum::Router, id: u64) -> serde_json::Value {
    for _ in 0..200 {
        let (status, body) = call(
            app,
            "GET",
            &format!("/v1/operations/{id}"),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let op = json(&body);
        if op["status"] != "running" {
            return op;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("operation {id} did not finish");
}

#[tokio::test]
async fn every_route_but_healthz_needs_the_token() {
    let app = router(AgentState::new(h100s(2, false), TOKEN));
    assert_eq!(
        call(&app, "GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
    for (method, path) in [
        ("GET", "/v1/inventory"),
        ("POST", "/v1/apply"),
        ("GET", "/v1/operations/1"),
        ("GET", "/metrics"),
    ] {
        let (status, body) = call(&app, method, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(body.contains("Authorization: Bearer"), "{body}");
        assert_eq!(
            call(&app, method, path, Some("s3cret-agent-tokeN"), None)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&app, method, path, Some("s3cret"), None).await.0,
            StatusCode::UNAUTHORIZED,
            "a prefix is not the token"
        );
    }
}

#[tokio::test]
async fn apply_is_an_operation_and_inventory_shows_the_result() {
    let app = router(AgentState::new(h100s(2, true), TOKEN));
    let (status, body) = post_apply(&app, r#"{"config":"all-balanced"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = json(&body)["operation"].as_u64().expect("id");
    let op = wait_done(&app, id).await;
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(op["gpus"][1]["outcome"], "applied");
    let (_, body) = call(&app, "GET", "/v1/inventory", Some(TOKEN), None).await;
    let inv = json(&body);
    assert_eq!(inv["gpus"][0]["mig_mode"], "enabled");
    let devices = inv["gpus"][0]["mig_devices"]
        .as_array()
        .expect("mig devices");
    assert_eq!(devices.len(), 4, "one MIG device per instance: {inv}");
    assert!(
        devices
            .iter()
            .all(|d| d["uuid"].as_str().is_some_and(|u| u.starts_with("MIG-"))),
        "{inv}"
    );
    assert_eq!(
        inv["gpus"][0]["instances"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(
        inv["gpus"][1]["instances"][3],
        serde_json::json!({"profile": "3g.40gb", "start": 4})
    );
    // The events replay every step (5 per GPU for all-balanced from MIG off), then the outcome.
    let (status, events) = call(
        &app,
        "GET",
        &format!("/v1/operations/{id}/events"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events.matches("event: step").count(), 10, "{events}");
    assert!(
        events.contains(
            r#""step":{"op":"create_instance","nvml_profile_id":9,"profile":"3g.40gb","start":4}"#
        ),
        "{events}"
    );
    assert!(events.contains(r#""index":4,"total":5"#), "{events}");
    assert_eq!(events.matches("event: done").count(), 1, "{events}");
    assert!(
        events.trim_end().ends_with('}') && events.contains(r#""status":"succeeded""#),
        "{events}"
    );
    let (status, _) = call(&app, "GET", "/v1/operations/999/events", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Idempotent: the same apply again makes no driver call.
    let (_, body) = post_apply(&app, r#"{"config":"all-balanced"}"#).await;
    let op = wait_done(&app, json(&body)["operation"].as_u64().expect("id")).await;
    assert_eq!(op["gpus"][0]["outcome"], "already_applied");
    assert_eq!(op["gpus"][0]["mutating_calls"], 0);
    let (_, metrics) = call(&app, "GET", "/metrics", Some(TOKEN), None).await;
    assert!(
        metrics.contains("migboard_agent_applies_total{outcome=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("migboard_agent_gpu_instances{gpu=\"1\",profile=\"1g.10gb\"} 2"),
        "{metrics}"
    );
    // 3g.40gb on H100 has 40,448 MiB; nothing runs on it yet.
    let instance = "{gpu=\"0\",profile=\"3g.40gb\",start=\"4\"}";
    assert!(
        metrics.contains(&format!(
            "migboard_agent_instance_memory_bytes{instance} 42412802048"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "migboard_agent_instance_memory_used_bytes{instance} 0"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_requests_are_explained_before_anything_changes() {
    let app = router(AgentState::new(h100s(1, false), TOKEN));
    let cases = [
        (
            r#"{"config":"all-balancd"}"#,
            "did you mean `all-balanced`?",
        ),
        (
            r#"{"config":"all-balanced","gpus":[3]}"#,
            "this node has no GPU 3",
        ),
        (
            r#"{"config":"x","file":"version: v1\nmig-configs: ["}"#,
            "bad_config_file",
        ),
        (r#"{"confg":"all-balanced"}"#, "unknown field `confg`"),
        (r#"{"config":"all-balanced","layout":[]}"#, "not both"),
        (
            r#"{"layout":[{"profile":"4g.40gb","start":4}]}"#,
            "4g.40gb cannot start at memory slice 4",
        ),
        ("not json", "bad_request"),
    ];
    for (body, expected) in cases {
        let (status, text) = post_apply(&app, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {text}");
        assert!(text.contains(expected), "{body}: {text}");
    }
    let (status, _) = call(&app, "GET", "/v1/operations/99", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A simulated node whose first MIG mode change waits until the test lets it go.
struct Gated {
    sim: SimDriver,
    gate: Mutex<Option<Receiver<()>>>,
}

impl GpuDriver for Gated {
    fn gpus(&self) -> Result<Vec<GpuInfo>, DriverError> {
        self.sim.gpus()
    }
    fn mig_mode(&self, gpu: u32) -> Result<ModeState, DriverError> {
        self.sim.mig_mode(gpu)
    }
    fn set_mig_mode(&self, gpu: u32, mode: MigMode) -> Result<ModeState, DriverError> {
        if let Some(rx) = self.gate.lock().ok().and_then(|mut g| g.take()) {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
        self.sim.set_mig_mode(gpu, mode)
    }
    fn gpu_instances(&self, gpu: u32) -> Result<Vec<GpuInstanceInfo>, DriverError> {
        self.sim.gpu_instances(gpu)
    }
    fn create_gpu_instance(
        &self,
        gpu: u32,
        profile_id: u32,
        start: u8,
    ) -> Result<u32, DriverError> {
        self.sim.create_gpu_instance(gpu, profile_id, start)
    }
    fn create_compute_instance(&self, gpu: u32, gi: u32) -> Result<u32, DriverError> {
        self.sim.create_compute_instance(gpu, gi)
    }
    fn destroy_compute_instance(&self, gpu: u32, gi: u32, ci: u32) -> Result<(), DriverError> {
        self.sim.destroy_compute_instance(gpu, gi, ci)
    }
    fn destroy_gpu_instance(&self, gpu: u32, gi: u32) -> Result<(), DriverError> {
        self.sim.destroy_gpu_instance(gpu, gi)
    }
    fn processes(&self, gpu: u32, gi: u32) -> Result<Vec<ProcessInfo>, DriverError> {
        self.sim.processes(gpu, gi)
    }
    fn mig_devices(&self, gpu: u32) -> Result<Vec<agent::driver::MigDeviceInfo>, DriverError> {
        self.sim.mig_devices(gpu)
    }
}

#[tokio::test]
async fn a_second_apply_while_one_runs_gets_409() {
    let (release, gate): (Sender<()>, Receiver<()>) = channel();
    let driver = Gated {
        sim: SimDriver::new(
            GpuModel::H100_80GB,
            1,
            SimOptions {
                reset_immediately: true,
            },
        ),
        gate: Mutex::new(Some(gate)),
    };
    let app = router(AgentState::new(Arc::new(driver), TOKEN));
    let (status, body) = post_apply(&app, r#"{"config":"all-1g.10gb"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let first = json(&body)["operation"].as_u64().expect("id");
    let (status, body) = post_apply(&app, r#"{"config":"all-7g.80gb"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.contains(&format!("apply {first} is still running")),
        "{body}"
    );
    // Someone follows the operation live while it is blocked, before any step is done.
    let follower = {
        let app = app.clone();
        tokio::spawn(async move {
            call(
                &app,
                "GET",
                &format!("/v1/operations/{first}/events"),
                Some(TOKEN),
                None,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    release.send(()).expect("release");
    let (status, events) = follower.await.expect("follower");
    assert_eq!(status, StatusCode::OK);
    // all-1g.10gb from MIG off: mode + 7 instances = 8 steps, streamed as they happened.
    assert_eq!(events.matches("event: step").count(), 8, "{events}");
    assert!(events.contains("event: done"), "{events}");
    assert_eq!(wait_done(&app, first).await["status"], "succeeded");
    let (status, _) = post_apply(&app, r#"{"config":"all-7g.80gb"}"#).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "free again once the first finished"
    );
}

#[tokio::test]
async fn an_apply_a_crash_interrupted_is_resumed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("apply.journal");
    let sim = h100s(2, true);
    // The first agent crashes mid-apply: simulated by a fault after 5 calls, and the journal is
    // written back as if the process had died before clearing it.
    let state = AgentState::new(sim.clone(), TOKEN).with_journal(&journal);
    let app = router(state);
    sim.inject_fault_after(5);
    let (status, body) = post_apply(&app, r#"{"config":"all-balanced"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let op = wait_done(&app, json(&body)["operation"].as_u64().expect("id")).await;
    assert_eq!(op["status"], "failed", "{op}");
    assert!(
        !journal.exists(),
        "a finished (even failed) apply clears its journal"
    );
    std::fs::write(&journal, r#"{"config":"all-balanced","work":[[0,{"config":{"mig":"enabled","devices":{"1g.10gb":2,"2g.20gb":1,"3g.40gb":1}}}],[1,{"config":{"mig":"enabled","devices":{"1g.10gb":2,"2g.20gb":1,"3g.40gb":1}}}]],"drained":false}"#)
        .expect("journal as a crash leaves it");
    // The restarted agent resumes it to convergence.
    let restarted = AgentState::new(sim.clone(), TOKEN).with_journal(&journal);
    let resumed = restarted
        .resume()
        .expect("journal readable")
        .expect("an intent was pending");
    assert_eq!(
        resumed.status,
        agent::api::OperationStatus::Succeeded,
        "{resumed:?}"
    );
    assert!(!journal.exists());
    let app = router(restarted);
    let (_, body) = call(&app, "GET", "/v1/inventory", Some(TOKEN), None).await;
    let inv = json(&body);
    for gpu in 0..2 {
        assert_eq!(
            inv["gpus"][gpu]["instances"].as_array().map(Vec::len),
            Some(4),
            "{inv}"
        );
    }
    // Memory used on an instance is what its processes use.
    sim.start_process(1, 5, 77, 1000)
        .expect("process on the 3g.40gb at 4");
    let (_, metrics) = call(&app, "GET", "/metrics", Some(TOKEN), None).await;
    assert!(
        metrics.contains("migboard_agent_instance_memory_used_bytes{gpu=\"1\",profile=\"3g.40gb\",start=\"4\"} 1048576000"),
        "{metrics}"
    );
    // A garbled journal is reported and left for an operator.
    std::fs::write(&journal, "{not json").expect("write");
    let err = AgentState::new(sim, TOKEN)
        .with_journal(&journal)
        .resume()
        .expect_err("garbled");
    assert!(err.contains("is not an intent this agent wrote"), "{err}");
    assert!(journal.exists());
}

#[tokio::test]
async fn an_apply_that_would_destroy_a_busy_instance_gets_409_with_the_processes() {
    let sim = h100s(1, true);
    let app = router(AgentState::new(sim.clone(), TOKEN));
    let (_, body) = post_apply(&app, r#"{"config":"all-1g.10gb"}"#).await;
    wait_done(&app, json(&body)["operation"].as_u64().expect("id")).await;
    sim.start_process(0, 3, 4242, 2048).expect("process");
    let calls = sim.mutating_calls();
    let (status, body) = post_apply(&app, r#"{"config":"all-7g.80gb"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let err = json(&body);
    assert_eq!(
        err["error"]["instances"],
        serde_json::json!([{"gpu": 0, "profile": "1g.10gb", "start": 3, "pids": [4242]}])
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("GPU 0 1g.10gb at slice 3 (pids 4242)")),
        "{err}"
    );
    assert_eq!(sim.mutating_calls(), calls, "refused before any change");
    // The inventory says which instance is busy, in the shape the server reads (mig::wire).
    let (status, body) = call(&app, "GET", "/v1/inventory", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    let inventory: mig::wire::Inventory =
        serde_json::from_str(&body).expect("mig::wire::Inventory");
    assert_eq!(inventory.gpus[0].instances.len(), 7);
    assert_eq!(
        inventory.gpus[0].busy,
        [mig::wire::BusySlice {
            profile: "1g.10gb".into(),
            start: 3,
            pids: vec![4242],
            used_memory_mib: 2048,
            owners: Vec::new(),
        }]
    );
}

#[tokio::test]
async fn an_explicit_layout_is_applied_exactly() {
    let sim = h100s(1, true);
    let app = router(AgentState::new(sim, TOKEN));
    // 3g.40gb at 0 and 1g.20gb at 6: a placement no named config has.
    let body = r#"{"layout":[{"profile":"3g.40gb","start":0},{"profile":"1g.20gb","start":6}]}"#;
    let (status, text) = post_apply(&app, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let op = wait_done(&app, json(&text)["operation"].as_u64().expect("id")).await;
    assert_eq!(
        (op["status"].as_str(), op["config"].as_str()),
        (Some("succeeded"), Some("explicit layout")),
        "{op}"
    );
    let (_, inv) = call(&app, "GET", "/v1/inventory", Some(TOKEN), None).await;
    assert_eq!(
        json(&inv)["gpus"][0]["instances"],
        serde_json::json!([{"profile": "3g.40gb", "start": 0}, {"profile": "1g.20gb", "start": 6}])
    );
}

#[tokio::test]
async fn simulated_workloads_occupy_slices_until_stopped() {
    let sim = h100s(1, true);
    let app = router(AgentState::new(sim, TOKEN));
    let (_, body) = post_apply(&app, r#"{"config":"all-1g.20gb"}"#).await;
    wait_done(&app, json(&body)["operation"].as_u64().expect("id")).await;

    let (status, body) = call(
        &app,
        "POST",
        "/v1/workloads",
        Some(TOKEN),
        Some(r#"{"gpu":0,"start":2,"pid":777,"memory_mib":15000}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = call(&app, "GET", "/v1/inventory", Some(TOKEN), None).await;
    let inv: mig::wire::Inventory = serde_json::from_str(&body).expect("inventory");
    assert_eq!(inv.gpus[0].busy.len(), 1);
    assert_eq!(
        (
            inv.gpus[0].busy[0].start,
            inv.gpus[0].busy[0].used_memory_mib
        ),
        (2, 15000)
    );
    // The busy slice blocks a reconfiguration...
    let (status, _) = post_apply(&app, r#"{"config":"all-1g.10gb"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // ...until its workload stops.
    let (status, body) = call(&app, "DELETE", "/v1/workloads/0/2", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["stopped"], 1);
    let (status, body) = post_apply(&app, r#"{"config":"all-1g.10gb"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Mistakes: no instance starts there, no such GPU, not JSON, no token.
    wait_done(&app, json(&body)["operation"].as_u64().expect("id")).await;
    let (status, body) = call(
        &app,
        "POST",
        "/v1/workloads",
        Some(TOKEN),
        Some(r#"{"gpu":0,"start":7,"pid":1}"#),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "1g.10gb instances start at 0..=6: {body}"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/v1/workloads",
        Some(TOKEN),
        Some(r#"{"gpu":5,"start":0,"pid":1}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, "POST", "/v1/workloads", Some(TOKEN), Some("{")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &app,
        "POST",
        "/v1/workloads",
        None,
        Some(r#"{"gpu":0,"start":0,"pid":1}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
