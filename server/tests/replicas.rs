//! Two `migboard` processes on one PostgreSQL database, as two replicas behind a load balancer: what
//! one replica revokes ends the event streams the other one serves. The broadcast of events is per
//! process, so only the streams' re-check through the database can carry it (`server::streams`).
//!
//! Needs the test PostgreSQL server (`MIGBOARD_TEST_DATABASE_URL`, which `make test` sets); without
//! it the test says so and checks nothing.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

mod common;

type Http = Client<HttpConnector, Full<bytes::Bytes>>;

const ADMIN_PASSWORD: &str = "replica-test-password";

struct Replica {
    _child: tokio::process::Child,
    port: u16,
}

async fn start(database: &str, data: &std::path::Path) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_migboard"))
        .env("MIGBOARD_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database)
        .env("MIGBOARD_DATA_DIR", data)
        .env("LEPTOS_SITE_ROOT", data.join("no-site"))
        // The fleet as fixed data: the replicas share a database, not simulated nodes.
        .env("MIGBOARD_CLUSTER", "none")
        .env("MIGBOARD_STREAM_RECHECK_MS", "200")
        .env("MIGBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "error")
        .kill_on_drop(true)
        .spawn()
        .expect("migboard starts");
    let replica = Replica {
        _child: child,
        port,
    };
    let http = client();
    for _ in 0..300 {
        if request(&http, port, "GET", "/healthz", None, None)
            .await
            .is_ok()
        {
            return replica;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("migboard on port {port} did not answer within 30 s");
}

fn client() -> Http {
    Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

async fn request(
    http: &Http,
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let request = b
        .body(Full::new(bytes::Bytes::from(
            body.map(|v| v.to_string()).unwrap_or_default(),
        )))
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(10), http.request(request))
        .await
        .map_err(|_| format!("{method} {path}: no answer within 10 s"))?
        .map_err(|e| format!("{method} {path}: {e}"))
}

/// A JSON call: its status and body.
async fn call(
    http: &Http,
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let response = request(http, port, method, path, token, body)
        .await
        .expect("migboard answers");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Reads `body` to its end, which must come within `secs` seconds; its text.
async fn ends_within(body: hyper::body::Incoming, secs: u64, what: &str) -> String {
    let bytes = tokio::time::timeout(Duration::from_secs(secs), body.collect())
        .await
        .unwrap_or_else(|_| panic!("{what}: the stream did not end within {secs} s"))
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_ends_the_streams_another_replica_serves() {
    let Some(database) = common::fresh_pg("migboard_replicas").await else {
        return;
    };
    let data_a = tempfile::tempdir().expect("tempdir");
    let data_b = tempfile::tempdir().expect("tempdir");
    let http = client();
    // A starts first (it creates the first admin), then B over the same database.
    let a = start(&database, data_a.path()).await;
    let (status, login) = call(
        &http,
        a.port,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": "admin", "password": ADMIN_PASSWORD, "name": "replicas"})),
    )
    .await;
    assert_eq!(status, 201, "{login:#}");
    let admin: mig::wire::CreatedToken = serde_json::from_value(login).expect("a token");
    let admin = admin.token.expose().to_owned();
    let b = start(&database, data_b.path()).await;

    // On A: a viewer with a token, and a deployment with a share link.
    let (status, vera) = call(
        &http,
        a.port,
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "vera", "password": "vera-password-12", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, 201, "{vera:#}");
    let vera_id = vera["id"].as_i64().expect("user id");
    let (status, login) = call(
        &http,
        a.port,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": "vera", "password": "vera-password-12"})),
    )
    .await;
    assert_eq!(status, 201, "{login:#}");
    let vera: mig::wire::CreatedToken = serde_json::from_value(login).expect("a token");
    let update = json!({"recipe_mode": "update", "deployment_name": "shared-update",
        "recipe_node_name": "10.0.10.11", "shared_node_pool_mig_config": "all-1g.10gb"});
    let (status, created) = call(&http, a.port, "POST", "/api/v1/deployments", Some(&admin), Some(update)).await;
    assert_eq!(status, 201, "{created:#}");
    let id = created["id"].as_i64().expect("deployment id");
    let (status, share) = call(
        &http,
        a.port,
        "POST",
        &format!("/api/v1/deployments/{id}/shares"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 201, "{share:#}");
    let share: mig::wire::CreatedShare = serde_json::from_value(share).expect("a share link");

    // On B: a stranger watches the shared link, Vera watches everything.
    let shared = request(
        &http,
        b.port,
        "GET",
        &format!("/api/v1/share/{}/events", share.token.expose()),
        None,
        None,
    )
    .await
    .expect("the shared stream opens");
    assert_eq!(shared.status(), 200);
    let watched = request(&http, b.port, "GET", "/api/v1/events", Some(vera.token.expose()), None)
        .await
        .expect("the events stream opens");
    assert_eq!(watched.status(), 200);
    let mut watched = watched.into_body();
    let mut shared = shared.into_body();
    // Both stay open while nothing changes (a first `deployment` event may come).
    for (body, what) in [(&mut shared, "shared"), (&mut watched, "events")] {
        let until = tokio::time::Instant::now() + Duration::from_millis(800);
        while let Ok(frame) = tokio::time::timeout_at(until, body.frame()).await {
            assert!(frame.is_some(), "the {what} stream ended before any revocation");
        }
    }

    // On A: the link revoked, Vera disabled. B's streams end, with a last resync.
    let (status, body) = call(
        &http,
        a.port,
        "POST",
        &format!("/api/v1/shares/{}/revoke", share.link.id),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let rest = ends_within(shared, 5, "the shared stream on the other replica").await;
    assert!(rest.contains("event: resync"), "{rest}");
    let (status, body) = call(
        &http,
        a.port,
        "PATCH",
        &format!("/api/v1/users/{vera_id}"),
        Some(&admin),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let rest = ends_within(watched, 5, "a disabled user's stream on the other replica").await;
    assert!(rest.contains("event: resync"), "{rest}");
    // And B refuses both from now on.
    let (status, _) = call(&http, b.port, "GET", &format!("/api/v1/share/{}", share.token.expose()), None, None).await;
    assert_eq!(status, 410);
    let (status, _) = call(&http, b.port, "GET", "/api/v1/me", Some(vera.token.expose()), None).await;
    assert_eq!(status, 401);
}
