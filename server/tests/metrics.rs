//! The server's `/metrics` (#21): who may read it, and what it says, read back with an independent
//! parser of the Prometheus text format (prometheus-parse), never by matching strings.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use leptos::config::LeptosOptions;
use prometheus_parse::{Sample, Scrape, Value};

mod common;

const TOKEN: &str = "metrics-token-0123456789abcdef";

async fn state() -> server::AppState {
    server::AppState::new(LeptosOptions::builder().output_name("migboard").build()).await
}

fn router(state: &server::AppState, token: Option<&str>) -> axum::Router {
    let security = server::security::Security {
        metrics_token: token.map(mig::wire::Secret::from),
        ..server::security::Security::default()
    };
    server::router_with(state.clone(), &security)
}

/// GET `path` from `peer`, with these extra headers.
fn get(path: &str, peer: Option<[u8; 4]>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder().uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut request = b.body(Body::empty()).expect("request");
    if let Some(ip) = peer {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    }
    request
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition text")
}

fn gauge(s: &Sample) -> f64 {
    match s.value {
        Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => v,
        ref other => panic!("{}: not a single value: {other:?}", s.metric),
    }
}

/// The samples of `metric` whose labels include every pair of `labels`.
fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

#[tokio::test]
async fn metrics_need_the_token_or_loopback_unforwarded() {
    let state = state().await;
    // With a token: only a request that bears it.
    let with = router(&state, Some(TOKEN));
    let no_token = common::send(with.clone(), get("/metrics", Some([127, 0, 0, 1]), &[])).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED, "even from loopback");
    assert!(no_token.text().contains("--metrics-token-file"), "{}", no_token.text());
    let wrong = common::send(
        with.clone(),
        get("/metrics", None, &[("authorization", "Bearer metrics-token-0123456789abcdeX")]),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let bearer = format!("Bearer {TOKEN}");
    let right = common::send(with, get("/metrics", None, &[("authorization", &bearer)])).await;
    assert_eq!(right.status, StatusCode::OK);
    assert!(right.content_type().starts_with("text/plain; version=0.0.4"), "{}", right.content_type());

    // Without one: loopback, and not through a proxy.
    let without = router(&state, None);
    let local = common::send(without.clone(), get("/metrics", Some([127, 0, 0, 1]), &[])).await;
    assert_eq!(local.status, StatusCode::OK);
    let remote = common::send(without.clone(), get("/metrics", Some([10, 1, 2, 3]), &[])).await;
    assert_eq!(remote.status, StatusCode::FORBIDDEN);
    assert!(remote.text().contains("MIGBOARD_METRICS_TOKEN_FILE"), "{}", remote.text());
    let proxied = common::send(
        without,
        get("/metrics", Some([127, 0, 0, 1]), &[("x-forwarded-for", "203.0.113.9")]),
    )
    .await;
    assert_eq!(proxied.status, StatusCode::FORBIDDEN, "a local proxy forwarding the internet");
}

#[tokio::test]
async fn metrics_describe_the_fleet_deployments_streams_and_requests() {
    let state = state().await;
    let app = router(&state, Some(TOKEN));
    let bearer = format!("Bearer {TOKEN}");
    // Some traffic first: the fleet API twice, a deployment by id that does not exist.
    let viewer = common::bearer(&state, "viewer", mig::wire::Role::Viewer).await;
    for path in ["/api/v1/fleet", "/api/v1/fleet", "/api/v1/deployments/999"] {
        let _ = common::send(app.clone(), get(path, None, &[("authorization", &viewer)])).await;
    }
    let reply = common::send(app.clone(), get("/metrics", None, &[("authorization", &bearer)])).await;
    assert_eq!(reply.status, StatusCode::OK);
    let scrape = parse(&reply.text());

    // The fleet, per pool and profile, as the fleet API has it.
    let fleet = state.orchestrator().fleet();
    let h100 = "h100migpool";
    let configured: usize = fleet
        .nodes
        .iter()
        .filter(|n| n.pool == h100)
        .flat_map(|n| &n.gpus)
        .flat_map(|g| &g.instances)
        .filter(|i| i.profile == "1g.10gb")
        .count();
    assert_eq!(configured, 32, "all-balanced: 2 per GPU, 16 GPUs");
    let slices = find(&scrape, "migboard_slices", &[("pool", h100), ("profile", "1g.10gb")]);
    assert_eq!(slices.len(), 1);
    assert_eq!(gauge(slices[0]), configured as f64);
    let free = find(&scrape, "migboard_slices_free", &[("pool", h100), ("profile", "1g.10gb")]);
    let busy = find(&scrape, "migboard_slices_busy", &[("pool", h100), ("profile", "1g.10gb")]);
    assert_eq!(gauge(free[0]) + gauge(busy[0]), configured as f64);
    assert_eq!(gauge(find(&scrape, "migboard_gpus", &[("pool", h100)])[0]), 16.0);
    // The A100 pool's all-1g.5gb strands no GPU: none has MIG off.
    assert!(find(&scrape, "migboard_gpus_mig_off", &[]).is_empty());

    // Streams and the database pool are there (no stream is open).
    assert_eq!(gauge(find(&scrape, "migboard_event_streams", &[])[0]), 0.0);
    assert_eq!(find(&scrape, "migboard_db_connections", &[]).len(), 2);

    // Request latency: a histogram per route pattern, cumulative buckets ending at the count.
    let fleet_hist = find(
        &scrape,
        "migboard_http_request_duration_seconds",
        &[("method", "GET"), ("route", "/api/v1/fleet"), ("status", "2xx")],
    );
    assert_eq!(fleet_hist.len(), 1, "{:#?}", scrape.samples.iter().map(|s| &s.metric).collect::<Vec<_>>());
    let Value::Histogram(buckets) = &fleet_hist[0].value else {
        panic!("a histogram: {:?}", fleet_hist[0].value)
    };
    let counts: Vec<f64> = buckets.iter().map(|b| b.count).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "cumulative: {counts:?}");
    assert_eq!(counts.last().copied(), Some(2.0), "+Inf holds both requests: {buckets:?}");
    // Raw paths never become labels: the missing deployment is counted under its pattern.
    let by_id = find(
        &scrape,
        "migboard_http_request_duration_seconds",
        &[("route", "/api/v1/deployments/:id"), ("status", "4xx")],
    );
    assert_eq!(
        by_id.len(),
        1,
        "the pattern, not /api/v1/deployments/999: {:?}",
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "migboard_http_request_duration_seconds")
            .map(|s| (s.labels.get("route"), s.labels.get("status")))
            .collect::<Vec<_>>()
    );
    assert!(find(&scrape, "migboard_http_request_duration_seconds", &[("route", "/api/v1/deployments/999")]).is_empty());

    // Every family has its HELP text.
    for family in ["migboard_slices", "migboard_deployments", "migboard_event_streams", "migboard_http_request_duration_seconds"] {
        assert!(scrape.docs.contains_key(family), "{family}: {:?}", scrape.docs.keys());
    }

    // The shipped Grafana dashboard asks only for metrics the server serves.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/observability/grafana-dashboard.json"))
            .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut asked = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let mut rest = expr;
            while let Some(at) = rest.find("migboard_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                asked.push(name);
            }
        }
    }
    assert!(asked.len() >= 10, "{asked:?}");
    for name in &asked {
        let family = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        assert!(scrape.docs.contains_key(family), "the dashboard asks for {name}, which /metrics does not serve");
    }
    let _ = header::CONTENT_TYPE;
}

#[tokio::test]
async fn step_durations_are_histograms_by_kind_and_outcome() {
    // The fixed fleet refuses every change: an update's first GPU step runs, then fails.
    let state = state().await;
    let app = router(&state, Some(TOKEN));
    let operator = common::bearer(&state, "operator", mig::wire::Role::Operator).await;
    let update = r#"{"recipe_mode": "update", "deployment_name": "timed", "recipe_node_name": "10.0.10.12", "shared_node_pool_mig_config": "all-1g.10gb"}"#;
    let request = Request::post("/api/v1/deployments")
        .header("authorization", &operator)
        .header("content-type", "application/json")
        .body(Body::from(update))
        .expect("request");
    let reply = common::send(app.clone(), request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let id = reply.json()["id"].as_i64().expect("id");
    let mut status = String::new();
    for _ in 0..200 {
        let d = common::send(
            app.clone(),
            get(&format!("/api/v1/deployments/{id}"), None, &[("authorization", &operator)]),
        )
        .await
        .json();
        status = d["deployment"]["status"].as_str().unwrap_or_default().to_owned();
        if status == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "failed");
    let bearer = format!("Bearer {TOKEN}");
    let reply = common::send(app.clone(), get("/metrics", None, &[("authorization", &bearer)])).await;
    let scrape = parse(&reply.text());
    let failed = find(
        &scrape,
        "migboard_step_duration_seconds",
        &[("kind", "reconfigure"), ("outcome", "failed")],
    );
    assert_eq!(failed.len(), 1, "{:#?}", scrape.samples.iter().map(|s| &s.metric).collect::<Vec<_>>());
    let Value::Histogram(buckets) = &failed[0].value else {
        panic!("a histogram: {:?}", failed[0].value)
    };
    assert_eq!(buckets.last().map(|b| b.count), Some(1.0), "one GPU step ran and failed: {buckets:?}");
    // A step recorded done without running first (`select`) has no duration to observe.
    assert!(find(&scrape, "migboard_step_duration_seconds", &[("kind", "select")]).is_empty());
}
