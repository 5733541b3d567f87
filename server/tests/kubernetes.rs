//! The Kubernetes backend against a fake API server on loopback (`common/fake_kube.rs`): kube's real
//! client, watches and reflectors, merge patches, evictions and Leases over HTTP. These are NOT
//! real-cluster tests: no scheduler, kubelet, device plugin or mig-manager runs; the tests play those
//! parts by writing objects. The node agent is the real `migboard-agent` on simulated GPUs where a
//! MIG change must succeed, and a small stand-in where it must fail.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_kube::FakeKube;
use serde_json::{Value, json};
use server::cluster::kubernetes::{self, DEVICE_PLUGIN, Kubernetes, MIG_CONFIG, MIG_STATE, PAUSED};
use server::cluster::agent::{AgentClient, AgentCredential, Endpoint, RequestSigner};
use server::cluster::{Cluster, ClusterError};

/// The server's agent-signing key, as the manifests deploy it: the backend signs every agent request
/// for its node, and each real agent holds only the public key and its node's name.
static SIGNER: std::sync::LazyLock<(Arc<RequestSigner>, String)> = std::sync::LazyLock::new(|| {
    let (signer, pem) = RequestSigner::generate().expect("a key");
    (Arc::new(signer), pem)
});

fn signed() -> AgentCredential {
    AgentCredential::Signed(SIGNER.0.clone())
}

fn node(name: &str, pool: &str, config: &str, allocatable: &[(&str, u32)]) -> Value {
    let mut alloc = json!({"cpu": "112", "pods": "110"});
    for (r, n) in allocatable {
        alloc[*r] = json!(n.to_string());
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
            "nvidia.com/gpu.count": "8",
            "node.kubernetes.io/instance-type": "BM.GPU.H100.8",
            kubernetes::OKE_POOL: pool,
            MIG_CONFIG: config,
            MIG_STATE: "success",
            DEVICE_PLUGIN: "true",
        }},
        "spec": {},
        "status": {"allocatable": alloc, "capacity": alloc, "conditions": [{"type": "Ready", "status": "True"}]},
    })
}

fn gpu_pod(ns: &str, name: &str, node: &str, resource: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "vllm",
            "resources": {"limits": {resource: "1"}}}]},
        "status": {"phase": "Running"},
    })
}

fn agent_pod(node: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("migboard-agent-{node}"), "namespace": "migboard-agent",
            "labels": {"app.kubernetes.io/name": "migboard-agent"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "migboard-agent", "uid": "ds"}]},
        "spec": {"nodeName": node, "containers": [{"name": "agent", "image": "migboard",
            "ports": [{"name": "agent", "containerPort": port}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    })
}

fn options() -> kubernetes::Options {
    kubernetes::Options {
        agent_credential: signed(),
        drain_timeout: Duration::from_secs(3),
        apply_timeout: Duration::from_secs(5),
        poll: Duration::from_millis(50),
        ..kubernetes::Options::default()
    }
}

async fn backend(fake: &FakeKube, options: kubernetes::Options) -> Kubernetes {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("server=info")
        .with_test_writer()
        .try_init();
    Kubernetes::start(
        fake.config(),
        options,
        server::catalogue::SharedCatalogue::default(),
    )
    .await
    .expect("the backend starts against the fake API server")
}

/// The server's state (orchestrator, SQLite in a temporary folder) over backend `k`, checking fast.
async fn orchestrated(k: Kubernetes) -> (server::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = server::store::Store::open_in(dir.path()).await.expect("store");
    let site = leptos::config::LeptosOptions::builder()
        .output_name("migboard")
        .site_root(dir.path().join("site").to_string_lossy().to_string())
        .build();
    let state = server::AppState::start(
        site,
        Arc::new(k),
        server::catalogue::SharedCatalogue::default(),
        store,
        server::orchestrator::Options {
            monitor_interval: Duration::from_millis(100),
            retry_after: Duration::from_millis(100),
            ..server::orchestrator::Options::default()
        },
    )
    .await;
    (state, dir)
}

/// Waits until the backend's fleet satisfies `ok` (the reflectors are fed by watches).
async fn fleet_until(
    k: &Kubernetes,
    ok: impl Fn(&server::cluster::Fleet) -> bool,
) -> server::cluster::Fleet {
    for _ in 0..100 {
        let f = k.fleet().await;
        if ok(&f) {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the fleet did not reach the expected state: {:#?}",
        k.fleet().await
    );
}

/// A real agent on simulated H100s: (process, port).
async fn real_agent(dir: &std::path::Path, node: &str) -> (tokio::process::Child, u16) {
    let mut agent = tokio::process::Command::new(
        server::cluster::embedded::agent_binary().expect("agent binary (cargo build -p agent)"),
    );
    agent
    .args(["--simulate", "h100-80gbx8", "--sim-state"])
    .arg(dir.join("node.json"))
    .args([
        "--sim-latency-ms",
        "0",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--exit-with-parent",
        "--journal",
    ])
    .arg(dir.join("node.journal"))
    .arg("--verify-key-file")
    .arg(verify_key(dir))
    .env("NODE_NAME", node);
    common::spawn_agent(agent).await
}

/// The signing key's public half, in a PEM file in `dir`.
fn verify_key(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("agent-verify.pem");
    std::fs::write(&path, SIGNER.0.public_key_pem()).expect("write the verify key");
    path
}

/// Node `gpu-1` (8 × H100, MIG off) with a real agent on simulated GPUs: (API, agent port, agent).
async fn idle_node_with_a_real_agent() -> (FakeKube, u16, (tokio::process::Child, tempfile::TempDir))
{
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, port) = real_agent(dir.path(), "gpu-1").await;
    let fake = FakeKube::start().await;
    fake.put(node(
        "gpu-1",
        "h100migpool",
        "all-disabled",
        &[("nvidia.com/gpu", 8)],
    ));
    fake.put(agent_pod("gpu-1", port));
    (fake, port, (agent, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_comes_from_labels_allocatable_and_pod_requests() {
    let fake = FakeKube::start().await;
    fake.put(node(
        "10.0.10.11",
        "h100migpool",
        "all-1g.10gb",
        &[("nvidia.com/mig-1g.10gb", 56)],
    ));
    fake.put(node(
        "10.0.10.12",
        "h100migpool",
        "all-balanced",
        &[
            ("nvidia.com/mig-1g.10gb", 16),
            ("nvidia.com/mig-2g.20gb", 8),
            ("nvidia.com/mig-3g.40gb", 8),
        ],
    ));
    fake.put(gpu_pod(
        "team-a",
        "llm-0",
        "10.0.10.11",
        "nvidia.com/mig-1g.10gb",
        "llm",
    ));
    let k = backend(&fake, options()).await;
    let fleet = fleet_until(&k, |f| {
        f.nodes.len() == 2 && f.nodes[0].gpus.iter().any(|g| !g.busy.is_empty())
    })
    .await;
    assert_eq!(fleet.pools.len(), 1, "{fleet:#?}");
    assert_eq!(
        (
            fleet.pools[0].name.as_str(),
            fleet.pools[0].shape.as_str(),
            fleet.pools[0].max_pods_per_node
        ),
        ("h100migpool", "BM.GPU.H100.8", 110)
    );
    let a = &fleet.nodes[0];
    assert_eq!(
        (a.name.as_str(), a.mig_config.as_deref(), a.gpus.len()),
        ("10.0.10.11", Some("all-1g.10gb"), 8)
    );
    assert!(a.gpus.iter().all(|g| g.instances.len() == 7));
    let busy: Vec<_> = a.gpus.iter().flat_map(|g| &g.busy).collect();
    assert_eq!(busy.len(), 1, "one pod holds one slice: {busy:#?}");
    assert_eq!(busy[0].owners, ["team-a/llm-0"]);
    let (total, free) = fleet.view(Vec::new()).nodes[0].slices_of("1g.10gb");
    assert_eq!((total, free), (56, 55));

    // A new pod (watched, not polled) takes another slice; a node the device plugin has not caught up
    // with offers nothing it does not advertise.
    fake.put(gpu_pod(
        "team-a",
        "llm-1",
        "10.0.10.11",
        "nvidia.com/mig-1g.10gb",
        "llm",
    ));
    fake.patch(
        "v1/nodes",
        "",
        "10.0.10.12",
        &json!({"status": {"allocatable": {"nvidia.com/mig-3g.40gb": "0"}}}),
    );
    let fleet = fleet_until(&k, |f| {
        f.view(Vec::new()).nodes[0].slices_of("1g.10gb").1 == 54
    })
    .await;
    let b = fleet.view(Vec::new()).nodes[1].slices_of("3g.40gb");
    assert_eq!(b, (8, 0), "3g.40gb not advertised: none free");

    // The validator's fleet-aware rules read this fleet as they read the embedded one.
    let view = fleet.view(Vec::new());
    let check = |file: &str| {
        let text = std::fs::read_to_string(format!(
            "{}/../mig/data/oci-blueprints/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("blueprint");
        let catalogue = server::state::catalogue();
        mig::blueprint::check(
            &text,
            mig::blueprint::Context {
                catalogue: Some(&catalogue),
                fleet: Some(&view),
                platform: None,
            },
        )
    };
    let fits = check("mig_inference_single_replica_10gb.json");
    assert!(
        fits.issues.iter().all(|i| !i.is_error()),
        "{:#?}",
        fits.issues
    );
    let no_20gb = check("mig_inference_single_replica.json");
    assert!(
        no_20gb
            .issues
            .iter()
            .any(|i| i.is_error() && i.path == "/mig_resource_request"),
        "1g.20gb is offered by no node: {:#?}",
        no_20gb.issues
    );

    // Nodes that allow OKE's default 31 pods: the guide's pool blueprint, adopting them, fails at
    // recipe_max_pods_per_node and says how to recreate the node pool (#20).
    for n in ["10.0.10.11", "10.0.10.12"] {
        fake.patch("v1/nodes", "", n, &json!({"status": {"allocatable": {"pods": "31"}}}));
    }
    let fleet = fleet_until(&k, |f| f.pools.first().is_some_and(|p| p.max_pods_per_node == 31)).await;
    let view = fleet.view(Vec::new());
    let pool = std::fs::read_to_string(format!(
        "{}/../mig/data/oci-blueprints/mig_enabled_shared_node_pool.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("blueprint")
    .replace("H100_pool_mig", "h100migpool");
    let catalogue = server::state::catalogue();
    let checked = mig::blueprint::check(
        &pool,
        mig::blueprint::Context {
            catalogue: Some(&catalogue),
            fleet: Some(&view),
            platform: Some(mig::blueprint::Platform::Kubernetes),
        },
    );
    let issue = checked
        .issues
        .iter()
        .find(|i| i.code == "max_pods_immutable")
        .unwrap_or_else(|| panic!("{:#?}", checked.issues));
    assert!(issue.is_error() && issue.message.contains("31 pods per node"), "{issue:#?}");
    assert!(
        issue.hint.contains("OKE's default is 31") && issue.hint.contains("recreate the node pool"),
        "{issue:#?}"
    );
    // And 31 pods leave room for 21 workloads per node, less the two pods 10.0.10.11 runs.
    assert_eq!(view.nodes[0].name, "10.0.10.11");
    assert_eq!(view.pod_room(&view.nodes[0]), 19, "{:?}", view.nodes[0].workloads);
    assert_rbac_allows(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_update_applies_through_the_agent_with_the_gpu_operators_label_protocol() {
    let (fake, port, _agent) = idle_node_with_a_real_agent().await;
    // The agent's DaemonSet pod does not make the node busy.
    let k = backend(&fake, options()).await;
    k.apply("gpu-1", &common::named("all-1g.20gb", false))
        .await
        .expect("the node is idle: applied");
    assert_eq!(
        fake.label_history("gpu-1", MIG_STATE),
        [
            Some("success".into()),
            Some("pending".into()),
            Some("success".into())
        ]
    );
    assert_eq!(
        fake.label_history("gpu-1", DEVICE_PLUGIN),
        [
            Some("true".into()),
            Some(PAUSED.into()),
            Some("true".into())
        ]
    );
    let n = fake.get("v1/nodes", "", "gpu-1").expect("node");
    assert_eq!(n["metadata"]["labels"][MIG_CONFIG], "all-1g.20gb");
    assert!(
        n["spec"].get("unschedulable").is_none(),
        "never cordoned: {n:#}"
    );
    // The agent really changed the (simulated) GPUs: 4 × 1g.20gb each.
    let inv = AgentClient::default()
        .inventory(&Endpoint {
            node: "gpu-1",
            url: &format!("http://127.0.0.1:{port}"),
            credential: &signed(),
        })
        .await
        .expect("inventory");
    assert!(
        inv.iter()
            .all(|g| g.instances.len() == 4 && g.instances.iter().all(|i| i.profile == "1g.20gb")),
        "{inv:#?}"
    );
    // `kubectl describe node` tells what happened.
    let events = fake.list("v1/events");
    assert!(
        events.iter().any(|e| e["reason"] == "MigConfigApplied"
            && e["involvedObject"]["name"] == "gpu-1"
            && e["type"] == "Normal"),
        "{events:#?}"
    );
    // Applying again is a no-op for the GPUs and leaves the labels as they are.
    k.apply("gpu-1", &common::named("all-1g.20gb", false))
        .await
        .expect("again");
    assert_eq!(
        fake.label_history("gpu-1", DEVICE_PLUGIN).len(),
        3,
        "already applied: the device plugin is not paused again"
    );
    // Even with a GPU pod on it: nothing would change, so nothing is refused.
    fake.put(gpu_pod(
        "team-a",
        "llm-0",
        "gpu-1",
        "nvidia.com/mig-1g.20gb",
        "llm",
    ));
    k.apply("gpu-1", &common::named("all-1g.20gb", false))
        .await
        .expect("a no-op is not refused");
    // A server that died mid-change left the plugin paused and the node cordoned: the next apply of
    // the same config ends the change even though the GPUs already have it.
    fake.delete("v1/pods", "team-a", "llm-0");
    fake.patch(
        "v1/nodes",
        "",
        "gpu-1",
        &json!({
            "metadata": {
                "labels": {DEVICE_PLUGIN: PAUSED, MIG_STATE: "pending"},
                "annotations": {kubernetes::PLUGIN_WAS: "true", kubernetes::CORDONED_BY: "true"}
            },
            "spec": {"unschedulable": true}
        }),
    );
    k.apply("gpu-1", &common::named("all-1g.20gb", false))
        .await
        .expect("the interrupted change ends");
    let n = fake.get("v1/nodes", "", "gpu-1").expect("node");
    assert_eq!(
        (
            n["metadata"]["labels"][MIG_STATE].as_str(),
            n["metadata"]["labels"][DEVICE_PLUGIN].as_str()
        ),
        (Some("success"), Some("true")),
        "{n:#}"
    );
    assert!(
        n["spec"].get("unschedulable").is_none(),
        "uncordoned: {n:#}"
    );
    assert_eq!(
        fake.get("v1/nodes", "", "gpu-1").expect("node")["metadata"]["labels"][MIG_STATE],
        "success"
    );
    assert_rbac_allows(&fake);
}

/// Per-node credentials (#18 item 7): the agent on `gpu-2` holds the same public key as every
/// agent, yet refuses what the server signed for `gpu-1` (a compromised node replaying its own
/// requests elsewhere), a bearer token, and a key that is not the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_accepts_only_requests_the_server_signed_for_its_own_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_agent, port) = real_agent(dir.path(), "gpu-2").await;
    let url = format!("http://127.0.0.1:{port}");
    let client = AgentClient::default();
    let ask = |node: &'static str, credential: AgentCredential| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .inventory(&Endpoint {
                    node,
                    url: &url,
                    credential: &credential,
                })
                .await
        }
    };
    let gpus = ask("gpu-2", signed()).await.expect("its own node's request is served");
    assert_eq!(gpus.len(), 8);
    let elsewhere = ask("gpu-1", signed()).await.expect_err("signed for another node");
    assert!(elsewhere.contains("signed for node \"gpu-1\""), "{elsewhere}");
    let token = ask("gpu-2", AgentCredential::Token("agent-test-token-0123".into()))
        .await
        .expect_err("a bearer token");
    assert!(token.contains("signed by the migboard server"), "{token}");
    let (stranger, _) = RequestSigner::generate().expect("key");
    let forged = ask("gpu-2", AgentCredential::Signed(Arc::new(stranger)))
        .await
        .expect_err("another key");
    assert!(forged.contains("does not verify"), "{forged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_node_is_refused_with_its_pods_and_left_untouched() {
    let fake = FakeKube::start().await;
    fake.put(node(
        "gpu-1",
        "h100migpool",
        "all-1g.10gb",
        &[("nvidia.com/mig-1g.10gb", 56)],
    ));
    fake.put(gpu_pod(
        "team-a",
        "llm-0",
        "gpu-1",
        "nvidia.com/mig-1g.10gb",
        "llm",
    ));
    fake.put(agent_pod("gpu-1", 1));
    let k = backend(&fake, options()).await;
    let before = fake.get("v1/nodes", "", "gpu-1").expect("node");
    let err = k
        .apply("gpu-1", &common::named("all-1g.20gb", false))
        .await
        .expect_err("busy");
    let ClusterError::PodsRunning { node, pods } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (node.as_str(), pods.as_slice()),
        (
            "gpu-1",
            ["team-a/llm-0 (nvidia.com/mig-1g.10gb)".to_owned()].as_slice()
        )
    );
    assert!(
        err.to_string().contains("drain"),
        "says how to go on: {err}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        fake.get("v1/nodes", "", "gpu-1").expect("node"),
        before,
        "no label, no cordon"
    );
    assert_rbac_allows(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_waits_for_a_pod_disruption_budget_then_evicts_and_uncordons() {
    let (fake, _, _agent) = idle_node_with_a_real_agent().await;
    fake.put(gpu_pod("team-a", "llm-0", "gpu-1", "nvidia.com/gpu", "llm"));
    fake.put(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "llm", "namespace": "team-a"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "llm"}}},
        "status": {"disruptionsAllowed": 0},
    }));
    let k = Arc::new(
        backend(
            &fake,
            kubernetes::Options {
                drain_timeout: Duration::from_secs(20),
                ..options()
            },
        )
        .await,
    );
    let apply = tokio::spawn({
        let k = k.clone();
        async move { k.apply("gpu-1", &common::named("all-balanced", true)).await }
    });
    // The budget holds: evictions are refused (429), the pod stays, the node is cordoned, MIG untouched.
    for _ in 0..100 {
        if fake
            .requests()
            .iter()
            .filter(|r| r.contains("/pods/llm-0/eviction"))
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.contains("/pods/llm-0/eviction"))
            .count()
            >= 2,
        "eviction retried"
    );
    assert!(fake.get("v1/pods", "team-a", "llm-0").is_some());
    let n = fake.get("v1/nodes", "", "gpu-1").expect("node");
    assert_eq!(n["spec"]["unschedulable"], true, "cordoned: {n:#}");
    assert_eq!(
        n["metadata"]["labels"][MIG_STATE], "success",
        "no MIG change started yet"
    );
    assert!(!apply.is_finished());
    // The budget allows one disruption: the pod is evicted, the change runs, the node is schedulable.
    fake.patch(
        "policy/v1/poddisruptionbudgets",
        "team-a",
        "llm",
        &json!({"status": {"disruptionsAllowed": 1}}),
    );
    apply
        .await
        .expect("task")
        .expect("applied after the eviction");
    assert!(fake.get("v1/pods", "team-a", "llm-0").is_none(), "evicted");
    let n = fake.get("v1/nodes", "", "gpu-1").expect("node");
    assert!(
        n["spec"].get("unschedulable").is_none(),
        "uncordoned: {n:#}"
    );
    assert!(
        n["metadata"]["annotations"]
            .get(kubernetes::CORDONED_BY)
            .is_none()
    );
    assert_eq!(n["metadata"]["labels"][MIG_CONFIG], "all-balanced");
    assert_eq!(
        fake.label_history("gpu-1", MIG_STATE)
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("success")
    );

    // A budget that never allows: the drain gives up, says why, and leaves the node schedulable.
    fake.put(gpu_pod(
        "team-a",
        "llm-1",
        "gpu-1",
        "nvidia.com/mig-1g.10gb",
        "llm",
    ));
    fake.patch(
        "policy/v1/poddisruptionbudgets",
        "team-a",
        "llm",
        &json!({"status": {"disruptionsAllowed": 0}}),
    );
    let short = backend(
        &fake,
        kubernetes::Options {
            drain_timeout: Duration::from_millis(500),
            ..options()
        },
    )
    .await;
    let err = short
        .apply("gpu-1", &common::named("all-1g.10gb", true))
        .await
        .expect_err("timed out");
    let text = err.to_string();
    assert!(
        text.contains("drain timed out")
            && text.contains("PodDisruptionBudget")
            && text.contains("team-a/llm-1"),
        "{text}"
    );
    let n = fake.get("v1/nodes", "", "gpu-1").expect("node");
    assert!(
        n["spec"].get("unschedulable").is_none(),
        "uncordoned after the timeout: {n:#}"
    );
    assert_eq!(
        n["metadata"]["labels"][MIG_CONFIG], "all-balanced",
        "no MIG change"
    );
    assert_rbac_allows(&fake);
}

/// A stand-in agent (answering with the protocol's types) whose apply fails part way (as NVML does when a create fails), recording the
/// node's labels as they were while it ran.
async fn failing_agent(fake: FakeKube, seen: Arc<std::sync::Mutex<Option<Value>>>) -> u16 {
    use axum::routing::{get, post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new()
        .route(
            "/v1/apply",
            post(move || {
                let labels = fake
                    .get("v1/nodes", "", "gpu-1")
                    .map(|n| n["metadata"]["labels"].clone());
                *seen.lock().expect("lock") = labels;
                async {
                    (
                        axum::http::StatusCode::ACCEPTED,
                        axum::Json(mig::agent_api::Accepted {
                            operation: 1,
                            href: "/v1/operations/1".into(),
                        }),
                    )
                }
            }),
        )
        .route(
            "/v1/operations/1",
            get(|| async {
                axum::Json(mig::agent_api::Operation {
                    id: 1,
                    config: "all-1g.20gb".into(),
                    status: mig::agent_api::OperationStatus::Failed,
                    gpus: vec![mig::agent_api::GpuResult::Failed {
                        gpu: 3,
                        error: "creating 1g.20gb at slice 4: NVML_ERROR_INSUFFICIENT_RESOURCES"
                            .into(),
                    }],
                    progress: Vec::new(),
                })
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("stand-in agent") });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_mid_apply_leaves_the_device_plugin_restored_and_the_state_failed() {
    let fake = FakeKube::start().await;
    fake.put(node(
        "gpu-1",
        "h100migpool",
        "all-1g.10gb",
        &[("nvidia.com/mig-1g.10gb", 56)],
    ));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let port = failing_agent(fake.clone(), seen.clone()).await;
    fake.put(agent_pod("gpu-1", port));
    let k = backend(&fake, options()).await;
    let err = k
        .apply("gpu-1", &common::named("all-1g.20gb", false))
        .await
        .expect_err("the agent failed");
    assert!(
        err.to_string()
            .contains("NVML_ERROR_INSUFFICIENT_RESOURCES"),
        "{err}"
    );
    let during = seen
        .lock()
        .expect("lock")
        .clone()
        .expect("the agent was called");
    assert_eq!(
        (during[MIG_STATE].as_str(), during[DEVICE_PLUGIN].as_str()),
        (Some("pending"), Some(PAUSED)),
        "paused while applying"
    );
    let labels = fake.get("v1/nodes", "", "gpu-1").expect("node")["metadata"]["labels"].clone();
    assert_eq!(labels[MIG_STATE], "failed");
    assert_eq!(
        labels[DEVICE_PLUGIN], "true",
        "the device plugin runs again: the node is not wedged"
    );

    let events = fake.list("v1/events");
    assert!(
        events.iter().any(|e| e["reason"] == "MigConfigFailed"
            && e["type"] == "Warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("NVML_ERROR_INSUFFICIENT_RESOURCES"))),
        "{events:#?}"
    );

    // The fleet shows it (the UI says the change failed).
    fleet_until(&k, |f| f.nodes[0].mig_state.as_deref() == Some("failed")).await;

    // An agent that cannot be reached at all: the same clean ending.
    fake.put(agent_pod("gpu-1", 1));
    let err = k
        .apply("gpu-1", &common::named("all-1g.20gb", false))
        .await
        .expect_err("unreachable");
    assert!(
        err.is_transient(),
        "an unreachable agent may come back: {err}"
    );
    let labels = fake.get("v1/nodes", "", "gpu-1").expect("node")["metadata"]["labels"].clone();
    assert_eq!(
        (labels[MIG_STATE].as_str(), labels[DEVICE_PLUGIN].as_str()),
        (Some("failed"), Some("true"))
    );
    assert_rbac_allows(&fake);
}

// ----- two server processes, one leader -----

struct Replica {
    child: tokio::process::Child,
    port: u16,
}

/// The signing key's private half, in a PEM file in `dir`.
fn signing_key(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("agent-signing.pem");
    std::fs::write(&path, &SIGNER.1).expect("write the signing key");
    path
}

async fn replica(
    name: &str,
    kubeconfig: &std::path::Path,
    data: &std::path::Path,
    db: Option<&str>,
) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_migboard"));
    cmd.env("MIGBOARD_ADDR", format!("127.0.0.1:{port}"))
        .env("MIGBOARD_DATA_DIR", data)
        .env("LEPTOS_SITE_ROOT", data.join("no-site"))
        .env("MIGBOARD_CLUSTER", "kubernetes")
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", name)
        .env("MIGBOARD_MIG_APPLY", "mig-manager")
        // The production way to reach agents (read at start, so a bad key would stop the replica).
        .env("MIGBOARD_AGENT_SIGNING_KEY_FILE", signing_key(data))
        .env("MIGBOARD_LEASE_SECONDS", "2")
        .env("MIGBOARD_ADMIN_PASSWORD", "failover-password")
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
    if let Some(db) = db {
        cmd.env("DATABASE_URL", db);
    }
    Replica {
        child: cmd.spawn().expect("migboard starts"),
        port,
    }
}

async fn call(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<String>,
) -> Option<(u16, Value)> {
    use http_body_util::{BodyExt as _, Full};
    let http: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
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

fn holder(fake: &FakeKube) -> Option<String> {
    fake.get(
        "coordination.k8s.io/v1/leases",
        "migboard",
        "migboard-leader",
    )
    .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
}

async fn until<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..secs * 10 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {secs} s");
}

/// Plays NVIDIA's mig-manager: a node whose `nvidia.com/mig.config` changed goes pending, then success.
fn fake_mig_manager(fake: FakeKube) {
    tokio::spawn(async move {
        loop {
            for n in fake.list("v1/nodes") {
                let name = n["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let want = n["metadata"]["labels"][MIG_CONFIG].clone();
                if n["metadata"]["annotations"]["test/applied"] != want {
                    fake.patch(
                        "v1/nodes",
                        "",
                        &name,
                        &json!({"metadata": {"labels": {MIG_STATE: "pending"}}}),
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    fake.patch("v1/nodes", "", &name, &json!({"metadata": {"labels": {MIG_STATE: "success"}, "annotations": {"test/applied": want}}}));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_takes_over_when_the_leader_dies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeKube::start().await;
    let mut first = node(
        "gpu-1",
        "h100migpool",
        "all-1g.10gb",
        &[("nvidia.com/mig-1g.10gb", 56)],
    );
    first["metadata"]["annotations"] = json!({"test/applied": "all-1g.10gb"});
    fake.put(first);
    fake_mig_manager(fake.clone());
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: test\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: test\n    namespace: migboard\ncurrent-context: fake\n", fake.url),
    )
    .expect("kubeconfig");
    // HA runs on PostgreSQL; SQLite (one file both open) when no test server is configured.
    let db = common::fresh_pg("failover").await;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let mut a = replica("server-a", &kubeconfig, &data, db.as_deref()).await;
    until("server-a leads", 30, async || {
        (holder(&fake).as_deref() == Some("server-a")).then_some(())
    })
    .await;
    let b = replica("server-b", &kubeconfig, &data, db.as_deref()).await;
    let token = until("sign-in on server-b", 30, async || {
        let body =
            json!({"username": "admin", "password": "failover-password", "name": "t"}).to_string();
        let (status, v) = call(b.port, "POST", "/api/v1/login", "", Some(body)).await?;
        (status == 201)
            .then(|| v["token"].as_str().map(str::to_owned))
            .flatten()
    })
    .await;
    // Submits an update of gpu-1 through `port` and waits for its final status.
    let update = async |port: u16, name: &str, config: &str| {
        let body = json!({"recipe_mode": "update", "deployment_name": name, "recipe_node_name": "gpu-1", "shared_node_pool_mig_config": config});
        let (status, created) = call(
            port,
            "POST",
            "/api/v1/deployments",
            &token,
            Some(body.to_string()),
        )
        .await
        .expect("answer");
        assert_eq!(status, 201, "{created:#}");
        let id = created["id"].as_i64().expect("id");
        until(&format!("{name} ends"), 30, async || {
            let (_, d) = call(
                port,
                "GET",
                &format!("/api/v1/deployments/{id}"),
                &token,
                None,
            )
            .await?;
            let status = d["deployment"]["status"].as_str()?.to_owned();
            matches!(status.as_str(), "completed" | "failed").then_some((status, d))
        })
        .await
    };
    // Submitted through the follower, driven by the leader.
    let (status, d) = update(b.port, "to-20gb", "all-1g.20gb").await;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(
        holder(&fake).as_deref(),
        Some("server-a"),
        "the follower never took the lease while the leader renewed it"
    );
    assert_eq!(
        fake.get("v1/nodes", "", "gpu-1").expect("node")["metadata"]["labels"][MIG_CONFIG],
        "all-1g.20gb"
    );

    // The leader dies; the follower takes over after the lease runs out and drives the next one.
    a.child.kill().await.expect("kill");
    until("server-b leads", 30, async || {
        (holder(&fake).as_deref() == Some("server-b")).then_some(())
    })
    .await;
    let lease = fake
        .get(
            "coordination.k8s.io/v1/leases",
            "migboard",
            "migboard-leader",
        )
        .expect("lease");
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease:#}");
    let (status, d) = update(b.port, "to-10gb", "all-1g.10gb").await;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(
        fake.get("v1/nodes", "", "gpu-1").expect("node")["metadata"]["labels"][MIG_CONFIG],
        "all-1g.10gb"
    );
    drop(b);
    assert_rbac_allows(&fake);
}

// ----- RBAC: every call the backend made is granted by deploy/kubernetes/cluster/rbac.yaml -----

#[derive(Debug)]
struct Rule {
    namespace: Option<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    verbs: Vec<String>,
}

fn rbac_rules() -> Vec<Rule> {
    let text = std::fs::read_to_string(format!(
        "{}/../deploy/kubernetes/cluster/rbac.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("rbac.yaml");
    let mut rules = Vec::new();
    let mut bound = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc).expect("yaml");
        let kind = v["kind"].as_str().unwrap_or_default();
        let ns = v["metadata"]["namespace"].as_str().map(str::to_owned);
        match kind {
            "Role" | "ClusterRole" => {
                for r in v["rules"].as_array().into_iter().flatten() {
                    let list = |k: &str| {
                        r[k].as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect::<Vec<_>>()
                    };
                    rules.push((
                        v["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        Rule {
                            namespace: if kind == "Role" { ns.clone() } else { None },
                            groups: list("apiGroups"),
                            resources: list("resources"),
                            names: list("resourceNames"),
                            verbs: list("verbs"),
                        },
                    ));
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                let to_server = v["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["name"] == "migboard-server" && s["namespace"] == "migboard");
                if to_server {
                    bound.push(v["roleRef"]["name"].as_str().unwrap_or_default().to_owned());
                }
            }
            _ => {}
        }
    }
    rules
        .into_iter()
        .filter(|(role, _)| bound.contains(role))
        .map(|(_, r)| r)
        .collect()
}

/// Asserts the server's role allows every request `fake` saw (method and path, as the API server
/// authorizes them).
fn assert_rbac_allows(fake: &FakeKube) {
    let rules = rbac_rules();
    for request in fake.requests() {
        let (method, rest) = request.split_once(' ').expect("METHOD path");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _, rest @ ..] => ("", rest),
            ["apis", g, _, rest @ ..] => (*g, rest),
            _ => panic!("{request}"),
        };
        let (ns, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
            _ => (None, rest),
        };
        let (resource, name) = match rest {
            [r] => ((*r).to_owned(), None),
            [r, n] => ((*r).to_owned(), Some(*n)),
            [r, n, sub] => (format!("{r}/{sub}"), Some(*n)),
            _ => panic!("{request}"),
        };
        let watch = query
            .split('&')
            .any(|q| q == "watch=true" || q == "watch=1");
        let verb = match (method, name.is_some()) {
            ("GET", false) if watch => "watch",
            ("GET", false) => "list",
            ("GET", true) => "get",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            _ => panic!("{request}"),
        };
        let allowed = rules.iter().any(|r| {
            r.groups.iter().any(|g| g == group)
                && r.resources.contains(&resource)
                && r.verbs.iter().any(|v| v == verb)
                && r.namespace.as_deref().is_none_or(|n| Some(n) == ns)
                && (r.names.is_empty() || name.is_some_and(|n| r.names.iter().any(|x| x == n)))
        });
        assert!(
            allowed,
            "deploy/kubernetes/cluster/rbac.yaml does not allow {verb} {resource} (group \"{group}\", namespace {ns:?}, name {name:?}): {request}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_becomes_a_deployment_and_service_is_monitored_and_undeploy_deletes_them() {
    use mig::wire::DeploymentStatus;
    let fake = FakeKube::start().await;
    fake.put(node(
        "10.0.10.11",
        "h100migpool",
        "all-1g.10gb",
        &[("nvidia.com/mig-1g.10gb", 56)],
    ));
    let k = backend(&fake, options()).await;
    let (state, _dir) = orchestrated(k).await;
    let orchestrator = state.orchestrator();
    // The reflector has the node before the validator looks for a 1g.10gb slice.
    until("the fleet has the node", 10, async || {
        (!orchestrator.refresh().await.nodes.is_empty()).then_some(())
    })
    .await;
    let actor = server::audit::Actor::new("test", "test");
    let text = std::fs::read_to_string(format!(
        "{}/../mig/data/oci-blueprints/mig_inference_single_replica_10gb.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("blueprint");
    let info = orchestrator
        .submit(&text, false, &actor)
        .await
        .expect("accepted");
    let status_of = async |want: DeploymentStatus| {
        let d = orchestrator.detail(info.id).await.ok()??;
        (d.deployment.status == want).then_some(d)
    };
    until("monitoring", 10, async || {
        status_of(DeploymentStatus::Monitoring).await
    })
    .await;
    let deployments = fake.list("apps/v1/deployments");
    assert_eq!(deployments.len(), 1, "{deployments:#?}");
    let d = &deployments[0];
    assert_eq!(d["metadata"]["namespace"], "migboard-workloads");
    assert_eq!(
        d["metadata"]["labels"]["migboard.io/deployment-id"],
        info.id.to_string()
    );
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["resources"]["limits"]["nvidia.com/mig-1g.10gb"], "1",
        "{container:#}"
    );
    assert_eq!(
        fake.list("v1/services").len(),
        1,
        "the blueprint has a port"
    );
    // recipe_use_shared_node_pool true: only nodes of shared pools, which carry the pool label.
    let term = &d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0];
    assert_eq!(term["operator"], "Exists", "{d:#}");
    assert_eq!(term["key"], options().pool_label.as_str(), "{d:#}");
    // recipe_pod_autoscaling_params (1..=50): a HorizontalPodAutoscaler on the Deployment.
    let hpas = fake.list("autoscaling/v2/horizontalpodautoscalers");
    assert_eq!(hpas.len(), 1, "{hpas:#?}");
    assert_eq!(
        (&hpas[0]["spec"]["minReplicas"], &hpas[0]["spec"]["maxReplicas"]),
        (&json!(1), &json!(50))
    );
    assert_eq!(hpas[0]["spec"]["scaleTargetRef"]["name"], d["metadata"]["name"]);

    // Kubelet's part: a pod waiting on its image, then ready. The deployment's log says both.
    let name = d["metadata"]["name"].as_str().expect("name").to_owned();
    fake.put(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{name}-abc"), "namespace": "migboard-workloads", "labels": {"migboard.io/deployment-id": info.id.to_string()}},
        "spec": {"nodeName": "10.0.10.11", "containers": [{"name": "main", "image": "x", "resources": {"limits": {"nvidia.com/mig-1g.10gb": "1"}}}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}}]},
    }));
    let monitor = async |needle: &str| {
        let d = orchestrator.detail(info.id).await.ok()??;
        d.steps
            .iter()
            .find(|s| s.key == "monitor" && s.message.contains(needle))
            .map(|s| s.message.clone())
    };
    let said = until("the wait is explained", 10, async || {
        monitor("ImagePullBackOff").await
    })
    .await;
    assert!(said.starts_with("0/1 replica(s) ready"), "{said}");
    fake.patch(
        "apps/v1/deployments",
        "migboard-workloads",
        &name,
        &json!({"status": {"readyReplicas": 1}}),
    );
    until("ready", 10, async || monitor("1/1 replica(s) ready").await).await;
    // Ready, the monitor reads the workload from its watched cache: ten passes (100 ms apart) ask
    // the API server nothing about it (#21: no polling per workload).
    let reads_of_it = || {
        fake.requests()
            .iter()
            .filter(|r| r.starts_with("GET ") && r.contains("deployment-id%3D") && !r.contains("watch=true"))
            .count()
    };
    let before = reads_of_it();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(reads_of_it(), before, "the monitor polled the API for a watched workload: {:?}", fake.requests().iter().rev().take(5).collect::<Vec<_>>());
    // The slice the pod holds is busy in the fleet, owned by the pod.
    let fleet = until("the pod's slice is busy", 10, async || {
        let f = orchestrator.refresh().await;
        f.nodes[0]
            .gpus
            .iter()
            .any(|g| !g.busy.is_empty())
            .then_some(f)
    })
    .await;
    let owners: Vec<&String> = fleet.nodes[0]
        .gpus
        .iter()
        .flat_map(|g| &g.busy)
        .flat_map(|b| &b.owners)
        .collect();
    assert_eq!(owners, [&format!("migboard-workloads/{name}-abc")]);

    // An update's node labels land on the node.
    let labels = json!({"recipe_mode": "update", "deployment_name": "label-it", "recipe_node_name": "10.0.10.11",
        "recipe_node_labels": {"team": "llm"}});
    let l = orchestrator
        .submit(&labels.to_string(), false, &actor)
        .await
        .expect("accepted");
    until("the label update ends", 10, async || {
        let d = orchestrator.detail(l.id).await.ok()??;
        (d.deployment.status == DeploymentStatus::Completed).then_some(())
    })
    .await;
    assert_eq!(
        fake.get("v1/nodes", "", "10.0.10.11").expect("node")["metadata"]["labels"]["team"],
        "llm"
    );

    // A pool blueprint cannot make nodes on Kubernetes: it adopts labelled ones, or says what to do.
    let pool = std::fs::read_to_string(format!(
        "{}/../mig/data/oci-blueprints/mig_enabled_shared_node_pool.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("blueprint");
    let p = orchestrator
        .submit(&pool, false, &actor)
        .await
        .expect("accepted");
    let failed = until("the pool deployment ends", 10, async || {
        let d = orchestrator.detail(p.id).await.ok()??;
        (d.deployment.status == DeploymentStatus::Failed).then_some(d)
    })
    .await;
    assert!(
        failed
            .deployment
            .message
            .contains("create the node pool with the cloud provider"),
        "{failed:#?}"
    );
    assert_eq!(fake.list("v1/nodes").len(), 1, "no node was invented");

    orchestrator
        .undeploy(info.id, &actor)
        .await
        .expect("undeploy accepted");
    until("undeployed", 10, async || {
        status_of(DeploymentStatus::Undeployed).await
    })
    .await;
    assert!(
        fake.list("apps/v1/deployments").is_empty()
            && fake.list("v1/services").is_empty()
            && fake.list("autoscaling/v2/horizontalpodautoscalers").is_empty(),
        "nothing left behind"
    );
    assert_rbac_allows(&fake);
}

/// `--mig-apply mig-manager` with a custom config: migboard writes it into the mig-parted ConfigMap
/// NVIDIA's mig-manager reads, keeping NVIDIA's defaults and what the file already had, then sets
/// the label; mig-manager (played by the test) reports success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mig_manager_mode_writes_custom_configs_into_its_configmap() {
    let fake = FakeKube::start().await;
    let mut n = node("gpu-1", "h100migpool", "all-balanced", &[]);
    n["metadata"]["annotations"] = json!({"test/applied": "all-balanced"});
    fake.put(n);
    fake_mig_manager(fake.clone());
    let stored = |name: &str, instances: &str| {
        server::store::StoredConfig {
        config: serde_json::from_value(json!({
            "name": name, "model": "h100-80gb",
            "devices": [{"gpus": "all", "instances": serde_json::from_str::<Value>(instances).expect("json")}]
        }))
        .expect("config"),
        version: 1,
        created_ms: 0,
        created_by: "test".into(),
        deleted_ms: None,
    }
    };
    let catalogue = server::catalogue::SharedCatalogue::default();
    catalogue.set_custom(&[
        stored(
            "mix",
            r#"[{"profile": "3g.40gb", "start": 0}, {"profile": "1g.10gb", "start": 6}]"#,
        ),
        stored(
            "halves",
            r#"[{"profile": "3g.40gb", "start": 0}, {"profile": "3g.40gb", "start": 4}]"#,
        ),
    ]);
    let k = Kubernetes::start(
        fake.config(),
        kubernetes::Options {
            apply_mode: kubernetes::ApplyMode::MigManager,
            ..options()
        },
        catalogue,
    )
    .await
    .expect("starts");
    k.apply("gpu-1", &common::named("mix", false))
        .await
        .expect("mig-manager applies it");
    let read = |fake: &FakeKube| {
        let cm = fake
            .get("v1/configmaps", "gpu-operator", "custom-mig-config")
            .expect("the ConfigMap is written");
        mig::MigPartedConfig::parse(cm["data"]["config.yaml"].as_str().expect("config.yaml"))
            .expect("a mig-parted file")
    };
    let file = read(&fake);
    let mig::DesiredMig::Enabled(counts) = file
        .resolve("mix", mig::GpuModel::H100_80GB, 3)
        .expect("mix resolves")
    else {
        panic!("MIG on")
    };
    assert_eq!(counts.0.get("3g.40gb"), Some(&1));
    assert_eq!(counts.0.get("1g.10gb"), Some(&1));
    // NVIDIA's names still work for mig-manager, which reads only this file once configured.
    assert!(file.configs.contains_key("all-balanced"));
    let labels = fake.get("v1/nodes", "", "gpu-1").expect("node")["metadata"]["labels"].clone();
    assert_eq!(labels[MIG_CONFIG], "mix");
    assert_eq!(labels[MIG_STATE], "success");
    // A second custom config is added; the first stays.
    k.apply("gpu-1", &common::named("halves", false))
        .await
        .expect("applied");
    let file = read(&fake);
    assert!(file.configs.contains_key("mix") && file.configs.contains_key("halves"));
}

/// A stand-in for NVIDIA's mig-manager that reports `failed` on node `bad` the first time it is
/// asked for a change there, and applies every other change (a node left `failed` waits until asked
/// again: migboard sets `pending` when it retries).
fn flaky_mig_manager(fake: FakeKube, bad: &'static str) {
    tokio::spawn(async move {
        let mut failed_once = false;
        loop {
            for n in fake.list("v1/nodes") {
                let name = n["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                let want = n["metadata"]["labels"][MIG_CONFIG].clone();
                if n["metadata"]["labels"][MIG_STATE] == "failed"
                    || n["metadata"]["annotations"]["test/applied"] == want
                {
                    continue;
                }
                if name == bad && !failed_once {
                    failed_once = true;
                    fake.patch("v1/nodes", "", &name, &json!({"metadata": {"labels": {MIG_STATE: "failed"}}}));
                    continue;
                }
                fake.patch("v1/nodes", "", &name, &json!({"metadata": {"labels": {MIG_STATE: "success"}, "annotations": {"test/applied": want}}}));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_rollout_goes_node_by_node_pauses_where_mig_manager_fails_and_resumes() {
    use mig::wire::DeploymentStatus;
    let fake = FakeKube::start().await;
    for name in ["10.0.10.11", "10.0.10.12", "10.0.10.13"] {
        let mut n = node(name, "h100migpool", "all-balanced", &[]);
        n["metadata"]["annotations"] = json!({"test/applied": "all-balanced"});
        fake.put(n);
    }
    flaky_mig_manager(fake.clone(), "10.0.10.11");
    let k = backend(
        &fake,
        kubernetes::Options {
            apply_mode: kubernetes::ApplyMode::MigManager,
            ..options()
        },
    )
    .await;
    let (state, _dir) = orchestrated(k).await;
    let orchestrator = state.orchestrator();
    until("the fleet has the three nodes", 10, async || {
        (orchestrator.refresh().await.nodes.len() == 3).then_some(())
    })
    .await;
    let actor = server::audit::Actor::new("test", "test");
    let update = r#"{"recipe_mode": "update", "deployment_name": "node-by-node", "recipe_node_pool_name": "h100migpool", "shared_node_pool_mig_config": "all-1g.10gb"}"#;
    let info = orchestrator
        .submit_with(update, server::orchestrator::Rollout::default(), &actor)
        .await
        .expect("accepted");
    let status_of = async |want: DeploymentStatus| {
        let d = orchestrator.detail(info.id).await.ok()??;
        (d.deployment.status == want).then_some(d)
    };
    let paused = until("paused", 15, async || status_of(DeploymentStatus::Paused).await).await;
    assert!(
        paused.deployment.message.starts_with("rollout paused at batch 1 of 3: 10.0.10.11: "),
        "{}",
        paused.deployment.message
    );
    assert!(paused.deployment.message.contains("2 node(s) after it untouched (10.0.10.12, 10.0.10.13)"));
    // One node at a time: the others were never asked.
    for untouched in ["10.0.10.12", "10.0.10.13"] {
        let labels = fake.get("v1/nodes", "", untouched).expect("node")["metadata"]["labels"].clone();
        assert_eq!(labels[MIG_CONFIG], "all-balanced", "{untouched}");
    }
    orchestrator.resume(info.id, &actor).await.expect("resumed");
    let done = until("completed", 15, async || status_of(DeploymentStatus::Completed).await).await;
    let states: Vec<(String, String)> = done
        .steps
        .iter()
        .filter(|s| s.key.starts_with("rollout/"))
        .map(|s| (s.key.clone(), s.state.as_str().to_owned()))
        .collect();
    assert_eq!(
        states,
        [("rollout/1", "done"), ("rollout/2", "done"), ("rollout/3", "done")]
            .map(|(k, s)| (k.to_owned(), s.to_owned()))
    );
    for n in ["10.0.10.11", "10.0.10.12", "10.0.10.13"] {
        let labels = fake.get("v1/nodes", "", n).expect("node")["metadata"]["labels"].clone();
        assert_eq!(labels[MIG_CONFIG], "all-1g.10gb", "{n}");
        assert_eq!(labels[MIG_STATE], "success", "{n}");
    }
}

/// At 500 GPU nodes a cluster runs tens of thousands of pods; the pod cache holds the GPU pods only,
/// slimmed to what the fleet reads (#21). 20,000 pods, 40 of them on GPUs: the cache holds 40, the
/// fleet marks each one's slice, and a GPU pod deleted leaves the cache (watched, not polled).
#[tokio::test]
async fn the_pod_cache_holds_only_gpu_pods_among_twenty_thousand() {
    let fake = FakeKube::start().await;
    for i in 0..4 {
        fake.put(node(&format!("10.0.10.{i}"), "h100migpool", "all-1g.10gb", &[("nvidia.com/mig-1g.10gb", 56)]));
    }
    let n: usize = std::env::var("PODS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    for i in 0..n {
        let pod = if i % 500 == 0 {
            gpu_pod("team-a", &format!("llm-{i}"), &format!("10.0.10.{}", (i / 500) % 4), "nvidia.com/mig-1g.10gb", "llm")
        } else {
            // Everything else a cluster runs: web, batch, system pods, with a few KiB of spec each.
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("web-{i}"), "namespace": format!("ns-{}", i % 50),
                    "labels": {"app": "web", "pod-template-hash": "abc123"},
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-01T00:00:00Z"}},
                "spec": {"nodeName": format!("cpu-{}", i % 400), "containers": [{"name": "web", "image": "nginx:1.27",
                    "env": (0..20).map(|e| json!({"name": format!("VAR_{e}"), "value": "x".repeat(40)})).collect::<Vec<_>>(),
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}]},
                "status": {"phase": "Running", "podIP": "10.244.0.1"},
            })
        };
        fake.put(pod);
    }
    let k = backend(&fake, options()).await;
    let gpu = n.div_ceil(500);
    assert_eq!(k.cached_pods(), gpu, "only the GPU pods are cached");
    // For BENCHMARKS.md (run with --nocapture): what an unfiltered cache would hold against this one,
    // as the objects' JSON.
    let all: usize = fake.list("v1/pods").iter().map(|p| p.to_string().len()).sum();
    let kept: usize = fake
        .list("v1/pods")
        .iter()
        .filter_map(|p| serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(p.clone()).ok())
        .filter_map(|p| kubernetes::slim_gpu_pod(&p))
        .map(|p| serde_json::to_string(&p).map_or(0, |s| s.len()))
        .sum();
    eprintln!("pod cache: {gpu} of {n} pods, {kept} bytes of JSON instead of {all}");
    let fleet = fleet_until(&k, |f| f.nodes.len() == 4).await;
    let busy: usize = fleet.nodes.iter().flat_map(|n| &n.gpus).map(|g| g.busy.len()).sum();
    assert_eq!(busy, gpu, "every GPU pod holds its slice");
    let owners: Vec<String> = fleet.nodes.iter().flat_map(|n| &n.gpus).flat_map(|g| &g.busy).flat_map(|b| b.owners.clone()).collect();
    assert!(owners.contains(&"team-a/llm-500".to_owned()), "{owners:?}");

    fake.delete("v1/pods", "team-a", "llm-500");
    for _ in 0..200 {
        if k.cached_pods() == gpu - 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(k.cached_pods(), gpu - 1, "a deleted GPU pod leaves the cache");
    let slim = kubernetes::slim_gpu_pod(&serde_json::from_value(gpu_pod("a", "b", "n", "nvidia.com/gpu", "x")).expect("a pod")).expect("a GPU pod");
    assert_eq!(kubernetes::gpu_requests(&slim).get("nvidia.com/gpu"), Some(&1), "what the fleet reads is kept");
    assert!(slim.metadata.labels.is_none() && slim.spec.as_ref().is_some_and(|s| s.containers[0].image.is_none()));
}
