//! The embedded fleet for real: `migboard-agent` processes on simulated GPUs, reached over loopback
//! HTTP. Needs the agent binary (`cargo build -p agent`; `make test` builds it first).

use server::cluster::Cluster;
use server::cluster::embedded::{Embedded, FleetSpec, PoolSpec, agent_binary};

mod common;

fn one_node(config: &str) -> FleetSpec {
    FleetSpec {
        pools: vec![PoolSpec {
            name: "h100migpool".into(),
            shape: mig::shape::shape("BM.GPU.H100.8").expect("shape"),
            nodes: vec!["10.0.10.138".into()],
            mig_config: Some(config.into()),
            max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
            dedicated_to: None,
        }],
        sim_latency: std::time::Duration::ZERO,
    }
}

#[tokio::test]
async fn agents_start_apply_their_pool_config_and_keep_it_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = agent_binary().expect("the agent binary is built (cargo build -p agent)");
    let catalogue = server::catalogue::SharedCatalogue::default();
    {
        let fleet = Embedded::start(
            &one_node("all-1g.20gb"),
            dir.path(),
            &agent,
            catalogue.clone(),
        )
        .await
        .expect("starts");
        let f = fleet.fleet().await;
        let node = &f.nodes[0];
        assert_eq!(node.error, None);
        assert_eq!(node.gpus.len(), 8);
        assert_eq!(node.mig_config.as_deref(), Some("all-1g.20gb"));
        assert!(
            node.gpus
                .iter()
                .all(|g| g.instances.len() == 4
                    && g.instances.iter().all(|i| i.profile == "1g.20gb"))
        );
        // What blueprint validation sees: the guide's 1g.20gb sample is valid against it.
        let view = f.view(Vec::new());
        assert_eq!(
            view.node("10.0.10.138").map(|n| n.slices_of("1g.20gb")),
            Some((32, 32))
        );
        let t =
            mig::blueprint::templates::template("mig_inference_single_replica").expect("template");
        let checked = mig::blueprint::check(
            t.json,
            mig::blueprint::Context {
                catalogue: Some(&catalogue.get()),
                fleet: Some(&view),
                platform: None,
            },
        );
        assert!(checked.is_valid(), "{:#?}", checked.issues);
    } // dropped: its agents are killed

    // Started again over the same data: the nodes come back as they were; a different pool config
    // is not forced onto nodes that already exist.
    let fleet = Embedded::start(&one_node("all-7g.80gb"), dir.path(), &agent, catalogue)
        .await
        .expect("restarts");
    let f = fleet.fleet().await;
    assert_eq!(f.nodes[0].mig_config.as_deref(), Some("all-1g.20gb"));
    assert!(fleet.describe().contains("h100migpool 1 × BM.GPU.H100.8"));
}

/// An agent process killed (SIGKILL) in the middle of an apply is started again by the fleet: the
/// node comes back with the same GPUs, the interrupted apply is finished from its journal, and the
/// apply asked again ends with the config on every GPU and no instance left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_apply_is_started_again_and_the_apply_finishes() {
    use mig::agent_api::{ApplyRequest, ApplyTarget};
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = agent_binary().expect("the agent binary is built (cargo build -p agent)");
    let mut spec = one_node("all-1g.10gb");
    let start = async |spec: &FleetSpec| {
        Embedded::start(spec, dir.path(), &agent, server::catalogue::SharedCatalogue::default())
            .await
            .expect("starts")
    };
    drop(start(&spec).await);
    // Again with 20 ms per simulated MIG change: 8 GPUs × 11 changes span about 2 s.
    spec.sim_latency = std::time::Duration::from_millis(20);
    let fleet = start(&spec).await;
    let before = fleet.agent_processes();
    assert_eq!(before.len(), 1, "one agent process: {before:?}");
    let request = ApplyRequest::new(ApplyTarget::Named("all-balanced".into()), &[], true);
    let (first, ()) = tokio::join!(fleet.apply("10.0.10.138", &request), async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let status = std::process::Command::new("kill")
            .args(["-KILL", &before[0].to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "the agent was killed");
    });
    assert!(
        first.is_err(),
        "the apply the kill interrupted reports a (transient) error, not success: {first:?}"
    );
    // The fleet starts the agent again: the node answers, in another process.
    let mut node = None;
    for _ in 0..100 {
        let f = fleet.fleet().await;
        if f.nodes[0].error.is_none() {
            node = Some(f.nodes[0].clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let node = node.expect("the node answers again within 10 s");
    let after = fleet.agent_processes();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before, "a new agent process serves the node");
    assert_eq!(node.gpus.len(), 8, "{node:?}");
    // Its journal was resumed: the interrupted apply already finished.
    assert_eq!(node.mig_config.as_deref(), Some("all-balanced"), "{node:?}");
    fleet
        .apply("10.0.10.138", &request)
        .await
        .expect("asked again, the apply succeeds (nothing left to change)");
    let f = fleet.fleet().await;
    for gpu in &f.nodes[0].gpus {
        let mut profiles: Vec<&str> = gpu.instances.iter().map(|i| i.profile.as_str()).collect();
        profiles.sort_unstable();
        assert_eq!(
            profiles,
            ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"],
            "GPU {}: exactly all-balanced, no instance left over",
            gpu.index
        );
        assert_eq!(
            gpu.mig_devices.len(),
            gpu.instances.len(),
            "GPU {}: one compute instance per GPU instance, none orphaned: {:?}",
            gpu.index,
            gpu.mig_devices
        );
    }
}

#[tokio::test]
async fn a_missing_agent_binary_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Embedded::start(
        &one_node("all-1g.10gb"),
        dir.path(),
        &dir.path().join("no-such-agent"),
        server::catalogue::SharedCatalogue::default(),
    )
    .await
    .expect_err("no binary");
    assert!(
        err.to_string().contains("node 10.0.10.138: starting"),
        "{err}"
    );
}

/// The whole binary: `migboard` starts its fleet, serves it at /api/v1/fleet, and when it is killed
/// with SIGKILL (no chance to clean up) its agents exit on their own.
#[tokio::test]
async fn the_server_serves_its_embedded_fleet_and_its_agents_die_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_migboard"))
        .env("MIGBOARD_ADDR", format!("127.0.0.1:{port}"))
        .env("MIGBOARD_DATA_DIR", dir.path())
        .env("LEPTOS_SITE_ROOT", dir.path().join("no-site"))
        .env("MIGBOARD_AGENT_BIN", agent_binary().expect("agent binary"))
        .env("RUST_LOG", "warn")
        .env("MIGBOARD_ADMIN_PASSWORD", "embedded-test-password")
        .kill_on_drop(true)
        .spawn()
        .expect("migboard starts");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let send = |method: &str, path: &str, body: &str, bearer: &str| {
        hyper::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{port}{path}"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {bearer}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_owned(),
            )))
            .expect("request")
    };
    // Signed in as the first start's admin (the password comes from the environment).
    let mut token = None;
    for _ in 0..200 {
        let login = send(
            "POST",
            "/api/v1/login",
            r#"{"username": "admin", "password": "embedded-test-password"}"#,
            "",
        );
        if let Ok(resp) = client.request(login).await {
            use http_body_util::BodyExt as _;
            assert_eq!(resp.status(), 201);
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            let created: serde_json::Value = serde_json::from_slice(&body).expect("json");
            token = created["token"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = token.expect("the server answered within 20 s");
    let mut fleet = None;
    if let Ok(resp) = client
        .request(send("GET", "/api/v1/fleet", "", &token))
        .await
    {
        use http_body_util::BodyExt as _;
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        fleet = Some(serde_json::from_slice::<serde_json::Value>(&body).expect("json"));
    }
    let fleet = fleet.expect("the fleet is served");
    let nodes = fleet["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{fleet}");
    assert_eq!(nodes[0]["mig_config"], "all-balanced", "{fleet}");
    assert!(
        fleet["backend"]
            .as_str()
            .is_some_and(|b| b.starts_with("embedded fleet")),
        "{fleet}"
    );

    // The agent processes the server started (children of it, by /proc/<pid>/stat's parent pid).
    let server_pid = server.id().expect("server pid");
    let agents: Vec<u32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid …`; comm may hold spaces, so read after the last `)`.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(&server_pid.to_string()) && String::from_utf8_lossy(&cmdline).contains("migboard-agent")
        })
        .collect();
    assert_eq!(agents.len(), 1, "one agent process serves the fleet's 3 simulated nodes");
    let alive = |pids: &[u32]| pids.iter().filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists() && !std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default().contains(") Z ")).count();
    server.start_kill().expect("SIGKILL");
    let _ = server.wait().await;
    for _ in 0..50 {
        if alive(&agents) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{} agents outlived the killed server", alive(&agents));
}

/// A real agent listed by URL (as a fleet file's [[pools.agents]]): migboard talks to it, applies
/// through it, and does not own its process.
#[tokio::test]
async fn real_agents_are_reached_by_url() {
    use server::cluster::embedded::{NodeSpec, RemoteAgent};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = tokio::process::Command::new(agent_binary().expect("agent binary"))
        .args(["--simulate", "h100x2", "serve", "--addr", "127.0.0.1:0"])
        .env("MIGBOARD_AGENT_TOKEN", "remote-token-0123456789")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("agent starts");
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(agent.stdout.take().expect("stdout")).lines();
    let url = lines
        .next_line()
        .await
        .expect("read")
        .and_then(|l| l.strip_prefix("listening on ").map(str::to_owned))
        .expect("the agent says where it listens");
    let spec = FleetSpec {
        pools: vec![PoolSpec {
            name: "lab".into(),
            shape: mig::shape::shape("BM.GPU.H100.8").expect("shape"),
            nodes: vec![NodeSpec {
                name: "gpu-07".into(),
                remote: Some(RemoteAgent {
                    url: url.clone(),
                    token: "remote-token-0123456789".into(),
                }),
            }],
            mig_config: Some("all-7g.80gb".into()),
            max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
            dedicated_to: None,
        }],
        sim_latency: std::time::Duration::ZERO,
    };
    let fleet = Embedded::start(
        &spec,
        dir.path(),
        &dir.path().join("no-agent-binary-needed"),
        server::catalogue::SharedCatalogue::default(),
    )
    .await
    .expect("starts without spawning anything");
    let f = fleet.fleet().await;
    assert_eq!(f.nodes[0].error, None);
    assert_eq!(f.nodes[0].gpus.len(), 2);
    // The pool's config (all-7g.80gb) is not forced onto a real node: it stays as it was (MIG off);
    // an apply through the cluster changes it.
    assert_eq!(f.nodes[0].mig_config.as_deref(), Some("all-disabled"));
    // Turning MIG on needs a GPU reset: without leave to reset, the apply goes as far as it can
    // and says which GPUs wait, and the node matches no config meanwhile.
    let waiting = fleet
        .apply("gpu-07", &common::named("all-1g.10gb", false))
        .await
        .expect("applied as far as it goes");
    assert_eq!(waiting.reset_pending, vec![0, 1]);
    let f = fleet.fleet().await;
    assert!(
        f.nodes[0]
            .gpus
            .iter()
            .all(|g| g.pending_mig_mode == Some(mig::MigMode::Enabled)),
        "{f:?}"
    );
    assert_eq!(f.nodes[0].mig_config, None);
    // With leave to reset the idle GPUs, the agent resets them and finishes.
    let done = fleet
        .apply(
            "gpu-07",
            &common::named("all-1g.10gb", false).with_reset(true),
        )
        .await
        .expect("applied through the real agent");
    assert_eq!(done.reset_pending, Vec::<u32>::new());
    assert_eq!(
        fleet.fleet().await.nodes[0].mig_config.as_deref(),
        Some("all-1g.10gb")
    );
    assert!(
        fleet.describe().contains("lab 1 × BM.GPU.H100.8 (1 real)"),
        "{}",
        fleet.describe()
    );
    // A wrong token is refused by the agent, and said so.
    drop(fleet);
    let mut wrong = spec.clone();
    if let Some(r) = wrong.pools[0].nodes[0].remote.as_mut() {
        r.token = "nope".into();
    }
    let fleet = Embedded::start(
        &wrong,
        dir.path(),
        dir.path(),
        server::catalogue::SharedCatalogue::default(),
    )
    .await
    .expect("starts");
    let error = fleet.fleet().await.nodes[0]
        .error
        .clone()
        .expect("an error");
    assert!(error.contains("401"), "{error}");
    // The agent still runs: migboard never owned it.
    assert!(agent.try_wait().expect("wait").is_none());
}
