//! Handler tests: the whole router driven with `tower::ServiceExt::oneshot`, no socket.

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use tower::ServiceExt;

/// One runtime and one router per site root for every test in this file, as in production (one
/// runtime, one router built before serving). With a router built per test, a page render that
/// awaited a resource hung now and then (about 1 run in 7) when another test was building its
/// router at the same moment; the server, which builds its router once, answered 4,000 concurrent
/// page requests without a stall. Each test body runs as a task on the shared runtime.
static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

fn run(test: impl std::future::Future<Output = ()> + Send + 'static) {
    // Routers are built before any test renders a page: building one (leptos_axum generates the
    // route list by rendering the app) while another request renders was what hung (see above).
    std::sync::LazyLock::force(&BUILT);
    std::sync::LazyLock::force(&EMPTY);
    std::sync::LazyLock::force(&FRAMED);
    std::sync::LazyLock::force(&LINKED);
    std::sync::LazyLock::force(&SECURE);
    std::sync::LazyLock::force(&FIRST_START);
    if let Err(e) = RUNTIME.block_on(RUNTIME.spawn(test)) {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

fn options(site_root: &Path) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("migboard")
        .site_root(site_root.to_string_lossy().to_string())
        .build()
}

/// A site root holding a (fake) built bundle, so readiness passes.
fn make_built_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("mkdir pkg");
    std::fs::write(pkg.join("migboard.js"), "// glue").expect("write js");
    std::fs::write(pkg.join("migboard.wasm"), b"\0asm").expect("write wasm");
    std::fs::write(pkg.join("chunk_7.wasm"), b"\0asm-chunk").expect("write chunk");
    std::fs::write(dir.path().join("favicon.svg"), "<svg/>").expect("write favicon");
    dir
}

mod common;

/// A site root with its router and an operator's `Authorization` value, built once for the file.
struct Site {
    dir: tempfile::TempDir,
    router: axum::Router,
    bearer: String,
}

fn site(dir: tempfile::TempDir) -> Site {
    let state = RUNTIME.block_on(server::AppState::new(options(dir.path())));
    let bearer = RUNTIME.block_on(common::bearer(
        &state,
        "operator",
        mig::wire::Role::Operator,
    ));
    // Generating the route list renders the app, whose resources need the runtime.
    let router = {
        let _in_runtime = RUNTIME.enter();
        server::router(state)
    };
    Site {
        dir,
        router,
        bearer,
    }
}

static BUILT: std::sync::LazyLock<Site> = std::sync::LazyLock::new(|| site(make_built_site()));
static EMPTY: std::sync::LazyLock<Site> =
    std::sync::LazyLock::new(|| site(tempfile::tempdir().expect("tempdir")));

/// The built site's router, allowing one portal to frame it.
static FRAMED: std::sync::LazyLock<(axum::Router, String)> = std::sync::LazyLock::new(|| {
    let security = server::security::Security::parse("https://portal.example.com").expect("origin");
    let state = RUNTIME.block_on(server::AppState::new(options(BUILT.dir.path())));
    let bearer = RUNTIME.block_on(common::bearer(&state, "viewer", mig::wire::Role::Viewer));
    let _in_runtime = RUNTIME.enter();
    (server::router_with(state, &security), bearer)
});

/// Tokens of the signed embed links [`LINKED`] holds: a live fleet link for
/// `http://localhost:4321`, one revoked, one expired (for `https://other.example`).
const LIVE_LINK: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const REVOKED_LINK: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const EXPIRED_LINK: &str = "3333333333333333333333333333333333333333333333333333333333333333";

/// The built site's router with one configured portal (as [`FRAMED`]) and three embed links.
static LINKED: std::sync::LazyLock<axum::Router> = std::sync::LazyLock::new(|| {
    let security = server::security::Security::parse("https://portal.example.com").expect("origin");
    let state = RUNTIME.block_on(server::AppState::new(options(BUILT.dir.path())));
    RUNTIME.block_on(async {
        let store = state.orchestrator().store().clone();
        let fleet = mig::wire::EmbedView::Fleet;
        let make = |token: &'static str, origin: &'static str, ttl_ms: i64| {
            let store = store.clone();
            let fleet = fleet.clone();
            async move {
                store
                    .create_embed(token, &fleet, &[origin.to_owned()], ttl_ms, "test")
                    .await
                    .expect("embed link")
            }
        };
        make(LIVE_LINK, "http://localhost:4321", 86_400_000).await;
        let revoked = make(REVOKED_LINK, "https://other.example", 86_400_000).await;
        store.revoke_embed(revoked.id).await.expect("revoke");
        make(EXPIRED_LINK, "https://other.example", -1).await;
    });
    let _in_runtime = RUNTIME.enter();
    server::router_with(state, &security)
});

/// The built site served over HTTPS (`--cookie-secure`), with an operator's `Authorization` value.
static SECURE: std::sync::LazyLock<(axum::Router, String)> = std::sync::LazyLock::new(|| {
    let security = server::security::Security {
        cookie_secure: true,
        ..server::security::Security::default()
    };
    let state = RUNTIME.block_on(server::AppState::new(options(BUILT.dir.path())));
    let bearer = RUNTIME.block_on(common::bearer(
        &state,
        "operator",
        mig::wire::Role::Operator,
    ));
    let _in_runtime = RUNTIME.enter();
    (server::router_with(state, &security), bearer)
});

/// The built site of a first start whose `admin` still has the generated password (made known here:
/// `FIRST_START_PASSWORD`).
static FIRST_START: std::sync::LazyLock<axum::Router> = std::sync::LazyLock::new(|| {
    let state = RUNTIME.block_on(server::AppState::new(options(BUILT.dir.path())));
    RUNTIME.block_on(async {
        let store = state.orchestrator().store().clone();
        let (admin, _) = store
            .user_credentials("admin")
            .await
            .expect("read")
            .expect("the first start made an admin");
        assert!(admin.must_change_password);
        store
            .update_user(
                admin.id,
                &server::store::UserChange {
                    password_hash: Some(
                        server::auth::hash_password(FIRST_START_PASSWORD).expect("hash"),
                    ),
                    must_change_password: Some(true),
                    ..server::store::UserChange::default()
                },
            )
            .await
            .expect("set");
    });
    let _in_runtime = RUNTIME.enter();
    server::router(state)
});
const FIRST_START_PASSWORD: &str = "generated-but-known-here";

fn built_site() -> &'static tempfile::TempDir {
    &BUILT.dir
}

fn empty_site() -> &'static tempfile::TempDir {
    &EMPTY.dir
}

fn router_for(site_root: &Path) -> axum::Router {
    if site_root == BUILT.dir.path() {
        BUILT.router.clone()
    } else {
        EMPTY.router.clone()
    }
}

/// Sends `request` as the site's operator (unless it carries its own `Authorization`).
async fn send(site_root: &Path, mut request: Request<Body>) -> (StatusCode, String, String) {
    let app = router_for(site_root);
    let bearer = if site_root == BUILT.dir.path() {
        &BUILT.bearer
    } else {
        &EMPTY.bearer
    };
    if !request.headers().contains_key(header::AUTHORIZATION) {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, bearer.parse().expect("header value"));
    }
    let reply = common::send(app, request).await;
    (reply.status, reply.content_type(), reply.text())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

/// A call of server function `name` with a URL-encoded `form`, as the browser sends it.
fn server_fn(name: &str, form: impl Into<Body>) -> Request<Body> {
    Request::post(format!("/api/{name}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.into())
        .expect("request")
}

#[test]
fn healthz_is_ok_even_without_a_built_site() {
    run(async {
        let empty = empty_site();
        let (status, content_type, body) = send(empty.path(), get("/healthz")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(body, r#"{"status":"ok"}"#);
    });
}

#[test]
fn readyz_reports_a_missing_bundle_and_how_to_fix_it() {
    run(async {
        let empty = empty_site();
        let (status, _, body) = send(empty.path(), get("/readyz")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        // The public answer says only that: no paths, no checks (they are in the log).
        assert_eq!(json, serde_json::json!({"status": "not ready"}), "{body}");
        let state = server::AppState::new(options(empty.path())).await;
        let checks = server::health::readiness_checks(&state).await;
        let failing = checks.iter().find(|c| !c.ok).expect("a failing check");
        assert!(
            failing.detail.contains("make build"),
            "the failing check must say how to fix it: {}",
            failing.detail
        );
    });
}

#[test]
fn readyz_is_ready_with_a_built_site() {
    run(async {
        let site = built_site();
        let (status, _, body) = send(site.path(), get("/readyz")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(json, serde_json::json!({"status": "ready"}), "{body}");
    });
}

#[test]
fn home_page_is_server_rendered_with_navigation_and_status() {
    run(async {
        let site = built_site();
        let (status, content_type, html) = send(site.path(), get("/")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/html"), "{content_type}");
        for nav in ["Fleet", "Plan", "Blueprints", "Deployments", "Settings"] {
            assert!(
                html.contains(&format!("<span>{nav}</span>")),
                "nav entry {nav} missing"
            );
        }
        // The server function's result is part of the server-rendered HTML, before any wasm runs.
        assert!(
            html.contains(r#"id="server-version""#),
            "status not rendered during SSR"
        );
        assert!(html.contains(env!("CARGO_PKG_VERSION")));
        assert!(
            html.contains(r#"data-hydrated="false""#),
            "SSR must not claim to be hydrated"
        );
        assert!(
            html.contains("/pkg/migboard.js"),
            "hydration script must be referenced"
        );
        // The fleet is rendered on the server too: every node and GPU of the (fixed) default fleet.
        assert!(
            html.contains(r#"data-node="10.0.10.11""#),
            "fleet not rendered during SSR"
        );
        assert_eq!(
            html.matches(r#"class="fleet-gpu""#).count(),
            24,
            "3 nodes × 8 GPUs"
        );
        assert!(html.contains("3 pools") || html.contains("2 pools · 3 nodes · 24 GPUs"));
    });
}

#[test]
fn the_fleet_api_lists_nodes_with_layouts() {
    run(async {
        let site = built_site();
        let (status, _, body) = send(site.path(), get("/api/v1/fleet")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let fleet: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(fleet["nodes"].as_array().map(Vec::len), Some(3));
        assert_eq!(fleet["nodes"][0]["mig_config"], "all-balanced");
        assert_eq!(
            fleet["nodes"][0]["gpus"][0]["instances"]
                .as_array()
                .map(Vec::len),
            Some(4)
        );
        assert_eq!(fleet["pools"][1]["shape"], "BM.GPU4.8");
    });
}

#[test]
fn every_nav_page_renders() {
    run(async {
        let site = built_site();
        for (path, heading) in [
            ("/plan", "Plan"),
            ("/capacity", "Capacity"),
            ("/blueprints", "Blueprints"),
            ("/deployments", "Deployments"),
            ("/settings", "Settings"),
        ] {
            let (status, _, html) = send(site.path(), get(path)).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(
                html.contains(&format!("<h1>{heading}</h1>")),
                "{path} lacks its heading"
            );
        }
    });
}

#[test]
fn unknown_paths_get_a_404_page() {
    run(async {
        let site = built_site();
        let (status, content_type, html) = send(site.path(), get("/no/such/page")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(html.contains("There is no page here"));
    });
}

#[test]
fn static_assets_are_served_from_the_site_root() {
    run(async {
        let site = built_site();
        let (status, _, body) = send(site.path(), get("/favicon.svg")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "<svg/>");
    });
}

/// #22: the split modules a page needs come in one response, to anyone (the sign-in page loads
/// them too), and only module files of the site's `pkg` folder can be read through it.
#[test]
fn split_modules_come_in_one_pack_without_a_session() {
    run(async {
        let site = built_site();
        let anonymous = |path: &str| {
            let mut r = get(path);
            r.headers_mut()
                .insert(header::AUTHORIZATION, "Bearer nobody".parse().expect("header"));
            r
        };
        let reply = common::send(router_for(site.path()), get("/pkg/pack?m=chunk_7,migboard")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let body = reply.body.to_vec();
        let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        assert_eq!((u32_at(0), u32_at(4), u32_at(8)), (2, 10, 4));
        assert_eq!(&body[12..], b"\0asm-chunk\0asm");
        let etag = reply.headers.get(header::ETAG).cloned().expect("an ETag");
        let mut again = get("/pkg/pack?m=chunk_7,migboard");
        again.headers_mut().insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            common::send(router_for(site.path()), again).await.status,
            StatusCode::NOT_MODIFIED
        );
        let (status, _, body) = send(site.path(), anonymous("/pkg/pack?m=chunk_7,..%2Ffavicon")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("not a module name"), "{body}");
        let (status, _, body) = send(site.path(), anonymous("/pkg/pack?m=chunk_8")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains("no module \"chunk_8\""), "{body}");
    });
}

#[test]
fn status_server_function_answers_with_an_increasing_sequence() {
    run(async {
        let site = built_site();
        let app = router_for(site.path());
        let mut sequences = Vec::new();
        for _ in 0..2 {
            let request = Request::post("/api/status")
                .header(header::AUTHORIZATION, &BUILT.bearer)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .expect("request");
            let reply = common::send(app.clone(), request).await;
            assert_eq!(reply.status, StatusCode::OK);
            let json: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
            assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
            sequences.push(json["sequence"].as_u64().expect("sequence"));
        }
        assert!(sequences[1] > sequences[0], "{sequences:?}");
    });
}

#[test]
fn the_planner_renders_a_linked_plan_on_the_server() {
    run(async {
        let site = built_site();
        let (status, _, html) = send(
            site.path(),
            get("/plan?shape=BM.GPU.H100.8&layout=1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4*8&nodes=2"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        // Every GPU's instances are in the HTML, and the summary counts the pool, before any wasm runs.
        assert_eq!(
            html.matches(r#"data-profile="3g.40gb" data-start="4""#)
                .count(),
            8,
            "one 3g.40gb per GPU"
        );
        assert!(
            html.contains(r#"id="summary-counts""#),
            "summary not rendered"
        );
        assert!(
            html.contains(r#"<td class="per-pool">32</td>"#),
            "2 nodes × 16 × 1g.10gb"
        );
        assert!(
            html.contains(r#"data-config="all-balanced""#),
            "the named config it equals"
        );
    });
}

#[test]
fn a_broken_plan_link_is_explained_not_a_500() {
    run(async {
        let site = built_site();
        let (status, _, html) = send(site.path(), get("/plan?shape=BM.GPU.H100.9")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the planner still opens, with an empty plan"
        );
        assert!(
            html.contains("no shape `BM.GPU.H100.9`; known shapes are BM.GPU.H100.8"),
            "explanation missing"
        );
    });
}

#[test]
fn named_configs_server_function_answers_per_model() {
    run(async {
        let site = built_site();
        let request = server_fn("named_configs", "model=h100-80gb");
        let (status, _, body) = send(site.path(), request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let configs: serde_json::Value = serde_json::from_str(&body).expect("json");
        let names: Vec<&str> = configs
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(&names[..3], ["all-1g.10gb", "all-1g.20gb", "all-2g.20gb"]);
        let request = server_fn("named_configs", "model=h100");
        let (status, _, body) = send(site.path(), request).await;
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{status}"
        );
        assert!(body.contains("unknown GPU model `h100`"), "{body}");
    });
}

#[test]
fn blueprint_server_functions_check_against_the_fleet() {
    run(async {
        let site = built_site();
        let text = mig::blueprint::templates::template("mig_update_node_with_node_name")
            .expect("template")
            .json;
        let form = format!("text={}", mig::planner::encode_component(text));
        let request = server_fn("validate_blueprint", form);
        let (status, _, body) = send(site.path(), request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(answer["valid"], false);
        assert_eq!(answer["fleet_nodes"], 3);
        assert_eq!(answer["issues"][0]["code"], "node_unknown", "{body}");

        let request = server_fn("blueprint_catalogue", Body::empty());
        let (status, _, body) = send(site.path(), request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let cat: mig::blueprint::Catalogue = serde_json::from_str(&body).expect("catalogue");
        assert!(
            cat.config(mig::GpuModel::H100_80GB, "all-balanced")
                .is_some()
        );
    });
}

#[test]
fn deployment_server_functions_and_pages_render_on_the_fixed_fleet() {
    run(async {
        let site = built_site();
        let text = r#"{"recipe_mode": "update", "deployment_name": "fixed-check", "recipe_node_name": "10.0.10.12", "shared_node_pool_mig_config": "all-1g.10gb"}"#;
        let form = format!("text={}&drain=false", mig::planner::encode_component(text));
        let (status, _, body) = send(site.path(), server_fn("deploy", form)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
        let id = answer["Created"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("created: {body}"));
        // The fixed fleet cannot change: the deployment fails, saying so and what to run instead.
        let mut detail = serde_json::Value::Null;
        for _ in 0..100 {
            let (_, _, body) = send(site.path(), server_fn("deployment", format!("id={id}"))).await;
            detail = serde_json::from_str(&body).expect("json");
            if detail["deployment"]["status"] == "failed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(detail["deployment"]["status"], "failed", "{detail:#}");
        assert!(
            detail["deployment"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("--cluster embedded")),
            "{detail:#}"
        );
        // An invalid blueprint is not stored: its issues come back.
        let form = format!(
            "text={}&drain=false",
            mig::planner::encode_component(r#"{"recipe_mode": "update"}"#)
        );
        let (_, _, body) = send(site.path(), server_fn("deploy", form)).await;
        assert!(body.contains("\"Invalid\""), "{body}");
        // A server function's error keeps its meaning in the HTTP status (not leptos' blanket 500).
        let (status, _, body) = send(site.path(), server_fn("deployment", "id=987654")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains("\"NotFound\""), "{body}");
        let (status, _, body) = send(site.path(), server_fn("shared", "token=never-made")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        let (status, _, html) = send(site.path(), get(&format!("/deployments/{id}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("fixed-check") && html.contains("badge-failed"),
            "the detail renders on the server"
        );
        let (_, _, html) = send(site.path(), get("/deployments")).await;
        assert!(
            html.contains("fixed-check"),
            "the list renders on the server"
        );
        // #22 item 5: an unknown deployment or node is a 404 with the page saying so, so monitors,
        // crawlers and scripts see the truth.
        let (status, _, html) = send(site.path(), get("/deployments/999999")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("Deployment not found") && html.contains("no deployment 999999"));
        let (status, _, html) = send(site.path(), get("/deployments/not-a-number")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("Deployment not found"), "{html}");
        let (status, _, html) = send(site.path(), get("/fleet/nodes/10.0.10.11")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("<h1 id=\"node-name\">10.0.10.11</h1>") && html.contains("<svg"),
            "the node page renders its charts"
        );
        let (status, _, html) = send(site.path(), get("/fleet/nodes/nowhere")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("Node not found"));
    });
}

/// The `'nonce-…'` of a Content-Security-Policy's `script-src`, if any.
fn script_nonce(csp: &str) -> Option<String> {
    let scripts = csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("script-src "))?;
    scripts
        .split_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .map(str::to_owned)
}

#[test]
fn every_response_carries_security_headers_and_frame_ancestors_follow_the_allow_list() {
    run(async {
        let site = built_site();
        let mut nonces = Vec::new();
        for path in [
            "/",
            "/api/v1/fleet",
            "/no/such/page",
            "/deployments",
            "/embed/fleet",
        ] {
            let mut request = get(path);
            request.headers_mut().insert(
                header::AUTHORIZATION,
                BUILT.bearer.parse().expect("header value"),
            );
            let response = router_for(site.path())
                .oneshot(request)
                .await
                .expect("infallible");
            assert!(!response.status().is_redirection(), "{path}");
            let h = response.headers().clone();
            let csp = h
                .get(header::CONTENT_SECURITY_POLICY)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let framable = path.starts_with("/embed/");
            if framable {
                assert!(csp.ends_with("frame-ancestors 'self'"), "{path}: {csp}");
                assert!(h.get(header::X_FRAME_OPTIONS).is_none(), "{path}");
            } else {
                // No portal may frame a page that can deploy or undeploy.
                assert!(csp.ends_with("frame-ancestors 'none'"), "{path}: {csp}");
                assert_eq!(
                    h.get(header::X_FRAME_OPTIONS).map(|v| v.as_bytes()),
                    Some(&b"DENY"[..]),
                    "{path}"
                );
            }
            assert!(
                csp.contains("object-src 'none'") && csp.contains("connect-src 'self'"),
                "{path}: {csp}"
            );
            // Inline scripts run only with this response's nonce: never 'unsafe-inline'.
            let scripts = csp
                .split(';')
                .find(|d| d.trim().starts_with("script-src"))
                .unwrap_or_default();
            assert!(!scripts.contains("unsafe-inline"), "{path}: {csp}");
            assert!(
                h.get(app::CSP_NONCE_HEADER).is_none(),
                "{path}: the nonce hand-over leaked"
            );
            assert!(
                h.get(header::STRICT_TRANSPORT_SECURITY).is_none(),
                "{path}: HSTS over plain HTTP"
            );
            assert_eq!(
                h.get(header::X_CONTENT_TYPE_OPTIONS).map(|v| v.as_bytes()),
                Some(&b"nosniff"[..]),
                "{path}"
            );
            assert!(h.get(header::REFERRER_POLICY).is_some(), "{path}");
            assert_eq!(
                h.get("x-request-id").map(|v| v.len()),
                Some(16),
                "{path}: every response names its request"
            );
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let html = String::from_utf8_lossy(&body).into_owned();
            if path.starts_with("/api/") {
                assert_eq!(script_nonce(&csp), None, "{path}: {csp}");
                continue;
            }
            // A page: every inline script carries the nonce the policy names.
            let nonce = script_nonce(&csp).unwrap_or_else(|| panic!("{path}: no nonce in {csp}"));
            let scripts: Vec<&str> = html.split("<script").skip(1).collect();
            assert!(!scripts.is_empty(), "{path}: no scripts in {html}");
            for script in scripts {
                let tag = script.split('>').next().unwrap_or_default();
                if tag.contains(" src=") {
                    continue;
                }
                assert!(
                    tag.contains(&format!("nonce=\"{nonce}\"")),
                    "{path}: an inline script without the page's nonce: <script{tag}>"
                );
            }
            nonces.push(nonce);
        }
        let distinct: std::collections::HashSet<_> = nonces.iter().collect();
        assert_eq!(
            distinct.len(),
            nonces.len(),
            "a nonce was used twice: {nonces:?}"
        );
        let mut framed = get("/embed/fleet");
        framed.headers_mut().insert(
            header::AUTHORIZATION,
            FRAMED.1.parse().expect("header value"),
        );
        let response = FRAMED.0.clone().oneshot(framed).await.expect("infallible");
        let csp = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            csp.ends_with("frame-ancestors 'self' https://portal.example.com"),
            "{csp}"
        );
        // The embedded view has no navigation chrome.
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let html = String::from_utf8_lossy(&body);
        assert!(
            html.contains("class=\"embed\"") && !html.contains("class=\"sidebar\""),
            "{html}"
        );
        assert!(html.contains("GPU fleet"));
    });
}

#[test]
fn cross_site_changes_are_refused_same_site_and_non_browser_ones_pass() {
    run(async {
        let site = built_site();
        let post = |origin: Option<&str>, fetch_site: Option<&str>| {
            let mut r =
                Request::post("/api/v1/deployments").header(header::HOST, "migboard.example:3000");
            if let Some(o) = origin {
                r = r.header(header::ORIGIN, o);
            }
            if let Some(f) = fetch_site {
                r = r.header("sec-fetch-site", f);
            }
            r.body(Body::from("{}")).expect("request")
        };
        for (origin, fetch_site) in [
            (Some("https://evil.example"), None),
            (Some("http://migboard.example:3000.evil.example"), None),
            (Some("null"), None),
            (None, Some("cross-site")),
        ] {
            let (status, _, body) = send(site.path(), post(origin, fetch_site)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{origin:?} {fetch_site:?}: {body}"
            );
            assert!(
                body.contains("\"cross_site\"") && body.contains("came from another site"),
                "{body}"
            );
        }
        // The same site (as browsers send it), and no browser at all, reach the handler (which then
        // judges the body: 422).
        for (origin, fetch_site) in [
            (Some("http://migboard.example:3000"), Some("same-origin")),
            (None, None),
        ] {
            let (status, _, body) = send(site.path(), post(origin, fetch_site)).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{origin:?}: {body}"
            );
        }
        // Server functions are guarded alike; reads are not.
        let request = Request::post("/api/undeploy")
            .header(header::HOST, "migboard.example:3000")
            .header(header::ORIGIN, "https://evil.example")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("id=1"))
            .expect("request");
        let (status, _, _) = send(site.path(), request).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let request = Request::get("/api/v1/fleet")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .expect("request");
        let (status, _, _) = send(site.path(), request).await;
        assert_eq!(status, StatusCode::OK);
    });
}

#[test]
fn the_same_origin_check_compares_the_scheme_and_https_gets_hsts() {
    run(async {
        let deploy = |router: axum::Router, bearer: String, origin: &'static str| async move {
            let request = Request::post("/api/v1/deployments")
                .header(header::HOST, "migboard.example")
                .header(header::ORIGIN, origin)
                .header(header::AUTHORIZATION, bearer)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .expect("request");
            router.oneshot(request).await.expect("infallible").status()
        };
        // Served over HTTPS: a page of the same host over plain HTTP (forgeable by anyone on the
        // path) is another site; the HTTPS page is this one (the handler then judges the body).
        let (secure, bearer) = SECURE.clone();
        assert_eq!(
            deploy(secure.clone(), bearer.clone(), "http://migboard.example").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            deploy(secure.clone(), bearer.clone(), "https://migboard.example").await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // Served over HTTP: the other way round.
        let plain = router_for(built_site().path());
        let plain_bearer = BUILT.bearer.clone();
        assert_eq!(
            deploy(
                plain.clone(),
                plain_bearer.clone(),
                "https://migboard.example"
            )
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            deploy(plain, plain_bearer, "http://migboard.example").await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // HTTPS: browsers are told never to come back over HTTP.
        let response = secure.oneshot(get("/")).await.expect("infallible");
        let hsts = response
            .headers()
            .get(header::STRICT_TRANSPORT_SECURITY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(hsts.starts_with("max-age="), "{hsts}");
    });
}

#[test]
fn a_client_that_sends_its_headers_too_slowly_is_cut_off_and_shutdown_is_bounded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    run(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let addr = listener.local_addr().expect("address");
        // A route that answers, and one that never finishes (as an event stream).
        let router = axum::Router::new()
            .route("/", axum::routing::get(|| async { "hello" }))
            .route(
                "/forever",
                axum::routing::get(|| async {
                    axum::body::Body::from_stream(futures_util::stream::pending::<
                        Result<bytes::Bytes, std::io::Error>,
                    >())
                }),
            );
        let options = server::serve::ServeOptions {
            header_read_timeout: std::time::Duration::from_millis(500),
            drain: std::time::Duration::from_millis(500),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server::serve::serve(listener, router, options, async {
            let _ = stopped.await;
        }));
        // A whole request is answered.
        let mut ok = tokio::net::TcpStream::connect(addr).await.expect("connect");
        ok.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        ok.read_to_string(&mut answer).await.expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
            "{answer}"
        );
        // Half the headers, then nothing: the server closes the connection after the timeout.
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
            .await
            .expect("write");
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            slow.read_to_end(&mut rest),
        )
        .await;
        assert!(
            read.is_ok(),
            "a client still sending its headers after 5 s was not cut off"
        );
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(400),
            "cut off before the timeout: {:?}",
            started.elapsed()
        );
        assert!(
            !String::from_utf8_lossy(&rest).contains("200 OK"),
            "answered a half request"
        );
        // A response that never ends does not hold the shutdown past its bound.
        let mut forever = tokio::net::TcpStream::connect(addr).await.expect("connect");
        forever
            .write_all(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        let mut head = [0u8; 12];
        forever
            .read_exact(&mut head)
            .await
            .expect("the stream's head");
        assert_eq!(&head, b"HTTP/1.1 200");
        let _ = stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(5), serving)
            .await
            .expect("the shutdown ends within its bound despite an open stream")
            .expect("task")
            .expect("serve");
    });
}

#[test]
fn with_the_generated_password_settings_opens_with_the_form_and_says_why() {
    run(async {
        let router = FIRST_START.clone();
        let login = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username=admin&password={FIRST_START_PASSWORD}"
            )))
            .expect("request");
        let response = router.clone().oneshot(login).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("migboard_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let page = |path: &'static str| {
            Request::get(path)
                .header(header::COOKIE, cookie.clone())
                .body(Body::empty())
                .expect("request")
        };
        let fleet = router.clone().oneshot(page("/")).await.expect("infallible");
        assert_eq!(fleet.status(), StatusCode::SEE_OTHER);
        let settings = router
            .clone()
            .oneshot(page("/settings?password=required"))
            .await
            .expect("infallible");
        assert_eq!(settings.status(), StatusCode::OK);
        let body = settings
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let html = String::from_utf8_lossy(&body);
        assert!(
            html.contains("id=\"password-required\"") && html.contains("id=\"password-form\""),
            "{html}"
        );
        assert!(
            !html.contains("id=\"tokens-title\""),
            "the tokens card waits: {html}"
        );
    });
}

#[test]
fn an_embed_link_page_may_be_framed_only_by_its_own_origins() {
    run(async {
        let page = |token: &str| {
            let request = get(&format!("/embed/link/{token}"));
            async move {
                let response = LINKED.clone().oneshot(request).await.expect("infallible");
                let status = response.status();
                let h = response.headers().clone();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                let csp = h
                    .get(header::CONTENT_SECURITY_POLICY)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let xfo = h.get(header::X_FRAME_OPTIONS).is_some();
                (
                    status,
                    csp,
                    xfo,
                    String::from_utf8_lossy(&body).into_owned(),
                )
            }
        };
        // The live link: its portal only — not migboard itself, not the server-wide portal.
        let (status, csp, xfo, html) = page(LIVE_LINK).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(
            csp.ends_with("frame-ancestors http://localhost:4321"),
            "{csp}"
        );
        assert!(!xfo, "X-Frame-Options would refuse every portal");
        assert!(html.contains("id=\"embed-link\""), "{html}");
        assert!(
            !html.contains("class=\"sidebar\"") && !html.contains("href=\"/fleet/nodes/"),
            "no navigation in an embed link: {html}"
        );
        // Revoked and expired: their own portal still frames the page, which says why it is empty.
        for (token, why, code) in [
            (REVOKED_LINK, "revoked", StatusCode::GONE),
            (EXPIRED_LINK, "expired", StatusCode::GONE),
        ] {
            let (status, csp, _, html) = page(token).await;
            assert_eq!(status, code, "{why}: {html}");
            assert!(
                csp.ends_with("frame-ancestors https://other.example"),
                "{why}: {csp}"
            );
            assert!(html.contains("This view has ended"), "{why}: {html}");
            assert!(html.contains(why), "{why}: {html}");
        }
        // A token that names no link: 404, and nobody may frame it.
        let (status, csp, xfo, _) = page(&"9".repeat(64)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
        assert!(xfo);
        // `/embed/...` without a token keeps the server-wide portals (and needs a session).
        let response = LINKED
            .clone()
            .oneshot(get("/embed/fleet"))
            .await
            .expect("infallible");
        let csp = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.ends_with("frame-ancestors 'self' https://portal.example.com"),
            "{csp}"
        );
    });
}
