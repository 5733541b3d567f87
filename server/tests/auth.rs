//! Accounts and authorization, through the whole router (`oneshot`, no socket): the authorization
//! matrix over every route and server function, sessions (rotation at sign-in, cookie attributes),
//! API tokens, the sign-in rate limit, share links, the audit log.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use mig::wire::Role;
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;

fn options() -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("migboard")
        .site_root("target/site")
        .build()
}

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    /// Holds only a share link's token (sent as a Bearer token: the only way to present it).
    ShareHolder,
    /// Holds only a signed embed link's token for the whole fleet (sent as a Bearer token).
    EmbedHolder,
    Viewer,
    Operator,
    Admin,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::ShareHolder,
    Who::EmbedHolder,
    Who::Viewer,
    Who::Operator,
    Who::Admin,
];

/// What a route should let through, written here independently of the server's policy table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Public,
    AtLeast(Role),
}

impl Expect {
    fn allows(self, who: Who) -> bool {
        match (self, who) {
            (Self::Public, _) => true,
            (Self::AtLeast(_), Who::Anonymous | Who::ShareHolder | Who::EmbedHolder) => false,
            (Self::AtLeast(role), Who::Viewer) => role <= Role::Viewer,
            (Self::AtLeast(role), Who::Operator) => role <= Role::Operator,
            (Self::AtLeast(_), Who::Admin) => true,
        }
    }
}

struct World {
    router: axum::Router,
    state: server::AppState,
    headers: BTreeMap<Who, Option<String>>,
    share_token: String,
    deployment: i64,
}

async fn world_with(security: &server::security::Security) -> World {
    let state = server::AppState::new(options()).await;
    let store = state.orchestrator().store().clone();
    let deployment = store
        .create_deployment(&server::store::NewDeployment {
            name: "shared-one".into(),
            mode: "update".into(),
            blueprint: "{}".into(),
            drain: false,
            max_unavailable: 1,
            config: None,
        })
        .await
        .expect("deployment")
        .id;
    let share_token = "s".repeat(64);
    store
        .create_share(deployment, &share_token, 86_400_000, "test")
        .await
        .expect("share");
    let embed_token = "e".repeat(64);
    store
        .create_embed(
            &embed_token,
            &mig::wire::EmbedView::Fleet,
            &["https://portal.example.com".to_owned()],
            86_400_000,
            "test",
        )
        .await
        .expect("embed link");
    let mut headers = BTreeMap::new();
    headers.insert(Who::Anonymous, None);
    headers.insert(Who::ShareHolder, Some(format!("Bearer {share_token}")));
    headers.insert(Who::EmbedHolder, Some(format!("Bearer {embed_token}")));
    headers.insert(
        Who::Viewer,
        Some(common::bearer(&state, "vera", Role::Viewer).await),
    );
    headers.insert(
        Who::Operator,
        Some(common::bearer(&state, "otto", Role::Operator).await),
    );
    headers.insert(
        Who::Admin,
        Some(common::bearer(&state, "ada", Role::Admin).await),
    );
    World {
        router: server::router_with(state.clone(), security),
        state,
        headers,
        share_token,
        deployment,
    }
}

async fn world() -> World {
    world_with(&server::security::Security::default()).await
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("migboard_session="))
            .map(str::to_owned)
    }
}

impl World {
    async fn send(&self, request: Request<Body>) -> Answer {
        let reply = common::send(self.router.clone(), request).await;
        Answer {
            body: reply.text(),
            status: reply.status,
            headers: reply.headers,
        }
    }

    async fn call(&self, who: Who, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(Some(h)) = self.headers.get(&who) {
            b = b.header(header::AUTHORIZATION, h);
        }
        let request = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.send(request).await
    }

    async fn form(&self, path: &str, form: &str, cookie: Option<&str>) -> Answer {
        let mut b =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(form.to_owned())).expect("request"))
            .await
    }

    /// `GET /api/v1/me` with API token `token`.
    async fn me_with(&self, token: &str) -> Answer {
        self.send(
            Request::get("/api/v1/me")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    async fn with_cookie(&self, method: Method, path: &str, cookie: &str) -> Answer {
        self.send(
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }
}

/// `name=value` of a `Set-Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// Expected access to every REST route, by OpenAPI path and method.
fn rest_expectations() -> BTreeMap<(&'static str, &'static str), Expect> {
    use Expect::{AtLeast, Public};
    let v = AtLeast(Role::Viewer);
    let o = AtLeast(Role::Operator);
    let a = AtLeast(Role::Admin);
    BTreeMap::from([
        (("/gpu-models", "get"), v),
        (("/gpu-models/{model}", "get"), v),
        (("/gpu-models/{model}/combinations", "get"), v),
        (("/layouts/validate", "post"), o),
        (("/sizing", "post"), o),
        (("/fleet", "get"), v),
        (("/fleet/summary", "get"), v),
        (("/fleet/nodes", "get"), v),
        (("/fleet-plans", "post"), v),
        (("/fleet-plans/apply", "post"), o),
        (("/mig-configs", "get"), v),
        (("/mig-configs", "post"), o),
        (("/mig-configs/import", "post"), o),
        (("/mig-configs/{name}", "get"), v),
        (("/mig-configs/{name}", "put"), o),
        (("/mig-configs/{name}", "delete"), o),
        (("/mig-configs/{name}/versions", "get"), v),
        (("/mig-configs/{name}/mig-parted", "get"), v),
        (("/blueprints/schema", "get"), v),
        (("/blueprints/validate", "post"), o),
        (("/deployments", "get"), v),
        (("/deployments", "post"), o),
        (("/deployments/{id}", "get"), v),
        (("/deployments/{id}/undeploy", "post"), o),
        (("/deployments/{id}/resume", "post"), o),
        (("/deployments/{id}/previous", "get"), v),
        (("/deployments/{id}/revert", "post"), o),
        (("/deployments/{id}/logs", "get"), v),
        (("/deployments/{id}/events", "get"), v),
        (("/deployments/{id}/shares", "get"), v),
        (("/deployments/{id}/shares", "post"), o),
        (("/shares/{share}/revoke", "post"), o),
        (("/share/{token}", "get"), Public),
        (("/share/{token}/events", "get"), Public),
        (("/embeds", "get"), v),
        (("/embeds", "post"), o),
        (("/embeds/{id}/revoke", "post"), o),
        (("/embed/{token}", "get"), Public),
        (("/embed/{token}/events", "get"), Public),
        (("/events", "get"), v),
        (("/nodes/{node}", "get"), v),
        (("/nodes/{node}/charts/{chart}", "get"), v),
        (("/openapi.json", "get"), Public),
        (("/login", "post"), Public),
        (("/me", "get"), v),
        (("/me/password", "post"), v),
        (("/tokens", "get"), v),
        (("/tokens", "post"), v),
        (("/tokens/{id}/revoke", "post"), v),
        (("/users", "get"), a),
        (("/users", "post"), a),
        (("/users/{id}", "patch"), a),
        (("/audit", "get"), a),
    ])
}

/// Expected access to every server function, by endpoint.
fn server_fn_expectations() -> BTreeMap<&'static str, Expect> {
    use Expect::{AtLeast, Public};
    let v = AtLeast(Role::Viewer);
    let o = AtLeast(Role::Operator);
    let a = AtLeast(Role::Admin);
    BTreeMap::from([
        ("shared", Public),
        ("embed_view", Public),
        ("whoami", Public),
        ("status", v),
        ("fleet", v),
        ("fleet_summary", v),
        ("fleet_nodes", v),
        ("deployments", v),
        ("deployment", v),
        ("node", v),
        ("list_shares", v),
        ("previous_layouts", v),
        ("list_embeds", v),
        ("blueprint_catalogue", v),
        ("named_configs", v),
        ("my_tokens", v),
        ("create_token", v),
        ("revoke_token", v),
        ("change_password", v),
        ("validate_blueprint", o),
        ("deploy", o),
        ("save_config", o),
        ("revert_node", o),
        ("apply_fleet_plan", o),
        ("undeploy", o),
        ("resume_deployment", o),
        ("revert_deployment", o),
        ("create_share", o),
        ("revoke_share", o),
        ("create_embed", o),
        ("revoke_embed", o),
        ("users", a),
        ("create_user", a),
        ("update_user", a),
        ("audit_log", a),
    ])
}

fn check(who: Who, expect: Expect, what: &str, answer: &Answer, failures: &mut Vec<String>) {
    let denied = matches!(
        answer.status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    );
    if expect.allows(who) {
        if denied {
            failures.push(format!(
                "{what} as {who:?}: expected allowed, got {} {}",
                answer.status, answer.body
            ));
        }
    } else {
        let right = match who {
            Who::Anonymous | Who::ShareHolder | Who::EmbedHolder => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        };
        if answer.status != right {
            failures.push(format!(
                "{what} as {who:?}: expected {right}, got {} {}",
                answer.status, answer.body
            ));
        }
    }
}

#[tokio::test]
async fn authorization_matrix_over_every_route_and_server_function() {
    let w = world().await;
    let rest = rest_expectations();
    // Every route the API describes (a test elsewhere ties the description to the router) is in
    // the table, and every entry of the table is a route.
    let described: Vec<(&str, &str)> = server::api::openapi::PATHS
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(move |m| (*p, *m)))
        .collect();
    for route in &described {
        assert!(
            rest.contains_key(route),
            "{route:?} has no expected access in this test: add it"
        );
    }
    assert_eq!(
        described.len(),
        rest.len(),
        "the table names routes the API does not have"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for ((path, method), expect) in &rest {
        // Ids of tokens and users that do not exist: the matrix must not revoke its own tokens.
        let concrete = path
            .replace("/tokens/{id}", "/tokens/999999")
            .replace("/users/{id}", "/users/999999")
            .replace("/embeds/{id}", "/embeds/999999")
            .replace("{model}", "H100-80GB")
            .replace("{id}", &w.deployment.to_string())
            .replace("{share}", "1")
            .replace("{token}", &w.share_token)
            .replace("{node}", "nowhere")
            .replace("{chart}", "memory.svg")
            .replace("{name}", "no-such-config");
        let url = format!("/api/v1{concrete}");
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
        for who in EVERYONE {
            // Bodies that fail validation: an allowed caller gets a 4xx from the handler, never
            // a change (so the matrix does not depend on what earlier calls did).
            let body = (method != Method::GET).then(|| json!({"bogus": true}));
            let answer = w.call(who, method.clone(), &url, body).await;
            check(
                who,
                *expect,
                &format!("{method} {url}"),
                &answer,
                &mut failures,
            );
            checked += 1;
        }
    }
    // Server functions: every one the app registers, each as the browser calls it.
    let fns = server_fn_expectations();
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p.trim_start_matches("/api/").to_owned())
        .collect();
    for name in &registered {
        assert!(
            fns.contains_key(name.as_str()),
            "server function {name} has no expected access in this test: add it"
        );
    }
    assert_eq!(
        registered.len(),
        fns.len(),
        "the table names server functions the app does not have: {registered:?}"
    );
    for (name, expect) in &fns {
        for who in EVERYONE {
            let mut b = Request::post(format!("/api/{name}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ACCEPT, "application/json");
            if let Some(Some(h)) = w.headers.get(&who) {
                b = b.header(header::AUTHORIZATION, h);
            }
            // Arguments that do not decode: an allowed caller gets the decoding error.
            let answer = w
                .send(b.body(Body::from("bogus=1")).expect("request"))
                .await;
            check(
                who,
                *expect,
                &format!("server function {name}"),
                &answer,
                &mut failures,
            );
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, (rest.len() + fns.len()) * EVERYONE.len());
}

#[tokio::test]
async fn pages_need_a_viewer_and_send_strangers_to_sign_in() {
    let w = world().await;
    for path in [
        "/",
        "/plan",
        "/capacity",
        "/deployments",
        "/settings",
        "/embed/fleet",
        "/settings/users",
    ] {
        let a = w.call(Who::Anonymous, Method::GET, path, None).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
        let to = a
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(to, format!("/login?next={}", path), "{path}");
    }
    let a = w
        .call(Who::Viewer, Method::GET, "/settings/users", None)
        .await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "a viewer is refused the users page"
    );
    // Public: the sign-in page, health, share links.
    for path in ["/login", "/healthz"] {
        let a = w.call(Who::Anonymous, Method::GET, path, None).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
    }
    let a = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/share/{}", w.share_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("shared-one"),
        "the shared page renders the deployment"
    );
}

#[tokio::test]
async fn signing_in_rotates_the_session_id_and_sets_a_strict_cookie() {
    let w = world().await;
    let store = w.state.orchestrator().store().clone();
    store
        .create_user(
            "sam",
            &server::auth::hash_password("sam-password-1").expect("hash"),
            Role::Operator,
        )
        .await
        .expect("user");
    store
        .create_user(
            "val",
            &server::auth::hash_password("val-password-1").expect("hash"),
            Role::Viewer,
        )
        .await
        .expect("user");
    // A session id an attacker planted before sign-in is not the one the user gets.
    let planted = "migboard_session=AAAAAAAAAAAAAAAAAAAAAA";
    let a = w
        .form(
            "/login",
            "username=val&password=val-password-1&next=%2Fdeployments",
            Some(planted),
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/deployments")
    );
    let first = a.cookie().expect("a session cookie");
    assert_ne!(pair(&first), planted);
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(first.contains(attr), "{attr} in {first}");
    }
    assert!(
        !first.contains("Secure"),
        "not Secure unless configured (plain HTTP on one machine): {first}"
    );
    let me = w
        .with_cookie(Method::GET, "/api/v1/me", &pair(&first))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "val");
    assert_eq!(me.json()["via"], "session");
    // Signing in again (another user) from the same browser: a new id; the old one is dead.
    let b = w
        .form(
            "/login",
            "username=sam&password=sam-password-1",
            Some(&pair(&first)),
        )
        .await;
    let second = b.cookie().expect("a new session cookie");
    assert_ne!(
        pair(&second),
        pair(&first),
        "the session id changes at sign-in"
    );
    let old = w
        .with_cookie(Method::GET, "/api/v1/me", &pair(&first))
        .await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the old id no longer works"
    );
    let me = w
        .with_cookie(Method::GET, "/api/v1/me", &pair(&second))
        .await;
    assert_eq!(me.json()["username"], "sam");
    // The database holds no usable session id.
    assert!(
        store
            .session_exists(pair(&second).trim_start_matches("migboard_session="))
            .await
            .expect("read"),
        "the session is stored"
    );
    // Wrong password: back to the form with the reason, no session.
    let bad = w
        .form("/login", "username=sam&password=nope-nope-nope", None)
        .await;
    assert_eq!(bad.status, StatusCode::SEE_OTHER);
    let to = bad
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(to.starts_with("/login?error=credentials"), "{to}");
    assert!(to.ends_with("&username=sam"), "the form keeps the username: {to}");
    // An open redirect through `next` is refused, also the tab-in-the-middle form browsers read as
    // `//evil.example` (another host).
    let c = w
        .form(
            "/login",
            "username=sam&password=sam-password-1&next=%2F%09%2Fevil.example",
            None,
        )
        .await;
    assert_eq!(
        c.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/")
    );
    // Signing out ends the session.
    let out = w.with_cookie(Method::POST, "/logout", &pair(&second)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let gone = w
        .with_cookie(Method::GET, "/api/v1/me", &pair(&second))
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn embedding_makes_the_cookie_cross_site_secure_and_partitioned() {
    let security = server::security::Security::parse("https://portal.example.com").expect("origin");
    let w = world_with(&security).await;
    w.state
        .orchestrator()
        .store()
        .create_user(
            "emma",
            &server::auth::hash_password("emma-password").expect("hash"),
            Role::Viewer,
        )
        .await
        .expect("user");
    let a = w
        .form("/login", "username=emma&password=emma-password", None)
        .await;
    let cookie = a.cookie().expect("cookie");
    for attr in ["HttpOnly", "SameSite=None", "Secure", "Partitioned"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
}

#[tokio::test]
async fn the_sign_in_rate_limit_kicks_in_per_client() {
    let w = world().await;
    let body = json!({"username": "ada", "password": "wrong-password"});
    for attempt in 1..=server::auth::LOGIN_BURST {
        let a = w
            .call(
                Who::Anonymous,
                Method::POST,
                "/api/v1/login",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {}",
            a.body
        );
    }
    let a = w
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/login",
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    let retry: u64 = a
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=12).contains(&retry), "{retry}");
    // Even the right password waits: the budget is per client, not per guess.
    let right = json!({"username": "ada", "password": "test-password-123"});
    let a = w
        .call(Who::Anonymous, Method::POST, "/api/v1/login", Some(right))
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    // The browser form shares the budget and says so on the form.
    let f = w
        .form("/login", "username=ada&password=test-password-123", None)
        .await;
    let to = f
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(to, "/login?error=rate");
    // Other requests are not limited.
    let a = w.call(Who::Admin, Method::GET, "/api/v1/me", None).await;
    assert_eq!(a.status, StatusCode::OK);
    // Failed sign-ins are audited.
    let log = w
        .call(Who::Admin, Method::GET, "/api/v1/audit", None)
        .await
        .json();
    let failed = log
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["action"] == "login.failed")
        .count();
    assert_eq!(
        failed,
        usize::try_from(server::auth::LOGIN_BURST).expect("small"),
        "{log:#}"
    );
}

#[tokio::test]
async fn api_tokens_sign_in_until_revoked_and_are_stored_hashed() {
    let w = world().await;
    // POST /login: a token for username + password.
    let a = w
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/login",
            Some(json!({"username": "otto", "password": "test-password-123", "name": "ci", "days": 7})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let token = a.json()["token"].as_str().expect("token").to_owned();
    let id = a.json()["info"]["id"].as_i64().expect("id");
    assert!(token.starts_with("mgb_") && token.len() > 60);
    let me = w.me_with(&token).await;
    assert_eq!(me.json()["username"], "otto");
    assert_eq!(me.json()["via"], "token ci");
    // Listing never shows secrets; another user's token cannot be revoked (and is not disclosed).
    let list = w
        .call(Who::Operator, Method::GET, "/api/v1/tokens", None)
        .await;
    assert!(!list.body.contains(&token));
    assert!(
        list.json()
            .as_array()
            .expect("list")
            .iter()
            .any(|t| t["id"] == id)
    );
    let theirs = w
        .call(
            Who::Viewer,
            Method::POST,
            &format!("/api/v1/tokens/{id}/revoke"),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    // The owner revokes it; it stops working at once.
    let r = w
        .call(
            Who::Operator,
            Method::POST,
            &format!("/api/v1/tokens/{id}/revoke"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = w.me_with(&token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(
        after.json()["error"]["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("Bearer")
    );
    // Wrong password: 401, and the same answer for an unknown user.
    for user in ["otto", "nobody"] {
        let bad = w
            .call(
                Who::Anonymous,
                Method::POST,
                "/api/v1/login",
                Some(json!({"username": user, "password": "not-it-at-all"})),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert_eq!(bad.json()["error"]["message"], "wrong username or password");
    }
}

#[tokio::test]
async fn admins_manage_users_and_cannot_lock_everyone_out() {
    let w = world().await;
    let a = w
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "nina", "password": "short", "role": "operator"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("12 to 1024"), "{}", a.body);
    let a = w
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "nina", "password": "nina-password", "role": "operator"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let nina = a.json()["id"].as_i64().expect("id");
    let dup = w
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "nina", "password": "nina-password", "role": "viewer"})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    // Nina signs in for a token, is disabled, and the token stops working.
    let t = w
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/login",
            Some(json!({"username": "nina", "password": "nina-password"})),
        )
        .await;
    let token = t.json()["token"].as_str().expect("token").to_owned();
    let off = w
        .call(
            Who::Admin,
            Method::PATCH,
            &format!("/api/v1/users/{nina}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let me = w.me_with(&token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    // The admins cannot all go: demote the first start's `admin`, then `ada` may not disable herself.
    let users = w
        .call(Who::Admin, Method::GET, "/api/v1/users", None)
        .await
        .json();
    let id_of = |name: &str| {
        users
            .as_array()
            .expect("list")
            .iter()
            .find(|u| u["username"] == name)
            .and_then(|u| u["id"].as_i64())
            .expect("user")
    };
    let first = w
        .call(
            Who::Admin,
            Method::PATCH,
            &format!("/api/v1/users/{}", id_of("admin")),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let last = w
        .call(
            Who::Admin,
            Method::PATCH,
            &format!("/api/v1/users/{}", id_of("ada")),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert!(last.body.contains("no enabled admin"));
    let still = w.call(Who::Admin, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        still.json()["role"],
        "admin",
        "the refused change left ada as she was"
    );
    // Everything above is in the audit log with who and from where.
    let log = w
        .call(Who::Admin, Method::GET, "/api/v1/audit", None)
        .await
        .json();
    let actions: Vec<&str> = log
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in ["user.create", "user.update", "login", "token.create"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let create = log
        .as_array()
        .expect("list")
        .iter()
        .find(|e| {
            e["action"] == "user.create"
                && e["target"].as_str().unwrap_or_default().contains("nina")
        })
        .expect("nina's creation");
    assert_eq!(create["actor"], "ada (token test)");
    assert!(!create["source"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn share_links_work_without_an_account_and_their_streams_end_at_revocation() {
    let w = world().await;
    let a = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/share/{}", w.share_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.json()
            .get("blueprint")
            .is_none_or(|b| b.as_str() == Some("")),
        "no blueprint"
    );
    // A watcher's stream, then revocation by an operator: the stream ends (with a last resync).
    let response = w
        .router
        .clone()
        .oneshot(
            Request::get(format!("/api/v1/share/{}/events", w.share_token))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
        .await
        .expect("the first event comes at once")
        .expect("a frame")
        .expect("data");
    let first = String::from_utf8_lossy(first.data_ref().expect("data frame")).into_owned();
    assert!(first.contains("event: deployment"), "{first}");
    let links = w
        .call(
            Who::Operator,
            Method::GET,
            &format!("/api/v1/deployments/{}/shares", w.deployment),
            None,
        )
        .await
        .json();
    let link = links[0]["id"].as_i64().expect("link id");
    let revoke = w
        .call(
            Who::Operator,
            Method::POST,
            &format!("/api/v1/shares/{link}/revoke"),
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.body);
    let rest = tokio::time::timeout(std::time::Duration::from_secs(10), body.collect())
        .await
        .expect("the stream ends within 10 s of the revocation")
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.contains("event: resync"),
        "a last resync makes the page ask again: {text}"
    );
    let gone = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/share/{}", w.share_token),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::GONE);
    // The page itself says so in its status, for monitors and crawlers: 410 revoked, 404 unknown.
    let page = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/share/{}", w.share_token),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);
    assert!(
        page.body.contains("This link shows nothing"),
        "{}",
        page.body
    );
    let unknown = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/share/{}", "u".repeat(64)),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
}

#[tokio::test]
async fn the_first_start_creates_an_admin_from_the_environment_or_at_random() {
    let store = server::store::Store::open("sqlite::memory:")
        .await
        .expect("store");
    let accounts = server::auth::Accounts::new(store.clone());
    let short = accounts.ensure_admin(Some("short")).await;
    assert!(short.is_err_and(|e| e.to_string().contains("MIGBOARD_ADMIN_PASSWORD")));
    assert_eq!(
        accounts
            .ensure_admin(Some("chosen-password"))
            .await
            .expect("admin"),
        None
    );
    let user = accounts
        .check_login("admin", "chosen-password", "127.0.0.1", "test")
        .await
        .expect("admin signs in with the chosen password");
    assert_eq!(user.role, Role::Admin);
    // Not again: users exist.
    assert_eq!(accounts.ensure_admin(None).await.expect("no-op"), None);
    // A fresh database without a chosen password gets a random one, returned once.
    let fresh = server::auth::Accounts::new(
        server::store::Store::open("sqlite::memory:")
            .await
            .expect("store"),
    );
    let generated = fresh
        .ensure_admin(None)
        .await
        .expect("admin")
        .expect("a generated password");
    assert!(generated.len() >= 20);
    fresh
        .check_login("admin", &generated, "127.0.0.1", "test")
        .await
        .expect("it works");
}

#[tokio::test]
async fn a_session_ends_seven_days_after_sign_in_however_active() {
    let w = world().await;
    let store = w.state.orchestrator().store().clone();
    let user = store
        .create_user(
            "old",
            &server::auth::hash_password("old-password-1").expect("hash"),
            Role::Viewer,
        )
        .await
        .expect("user");
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms");
    let in_a_day = now_ms + 86_400_000;
    let mut cookies = Vec::new();
    for signed_in_ago_days in [0_i64, 8] {
        let id = tower_sessions::session::Id::default().to_string();
        let data = json!({"uid": user.id, "login_ms": now_ms - signed_in_ago_days * 86_400_000, "seen_ms": now_ms});
        store
            .save_session(&id, &data.to_string(), in_a_day)
            .await
            .expect("session");
        cookies.push(format!("migboard_session={id}"));
    }
    let fresh = w.with_cookie(Method::GET, "/api/v1/me", &cookies[0]).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.json()["username"], "old");
    let stale = w.with_cookie(Method::GET, "/api/v1/me", &cookies[1]).await;
    assert_eq!(
        stale.status,
        StatusCode::UNAUTHORIZED,
        "signed in 8 days ago: {}",
        stale.body
    );
}

impl World {
    /// A JSON request with a session cookie.
    async fn json_with_cookie(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        body: Value,
    ) -> Answer {
        self.send(
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await
    }

    /// Signs `user` in with the form; the session cookie's `name=value`.
    async fn sign_in(&self, user: &str, password: &str) -> String {
        let a = self
            .form(
                "/login",
                &format!("username={user}&password={password}"),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let to = a
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok());
        assert_eq!(to, Some("/"), "{user} signed in");
        pair(&a.cookie().expect("session cookie"))
    }
}

/// Every API token expires: 30 days when none is asked for, never more than 365.
#[tokio::test]
async fn api_tokens_last_thirty_days_by_default_and_at_most_a_year() {
    let w = world().await;
    let day = 86_400_000_i64;
    // The lifetime from the answer's own creation time (the two are read a moment apart).
    let lifetime_days = |a: &Answer| {
        let info = &a.json()["info"];
        let ms = info["expires_ms"].as_i64()? - info["created_ms"].as_i64()?;
        Some((ms + 1000).div_euclid(day))
    };
    let made = w
        .call(
            Who::Viewer,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(lifetime_days(&made), Some(30), "{}", made.body);
    let year = w
        .call(
            Who::Viewer,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "ci", "days": 365})),
        )
        .await;
    assert_eq!(year.status, StatusCode::CREATED, "{}", year.body);
    assert_eq!(lifetime_days(&year), Some(365), "{}", year.body);
    for days in [0, 366, 100_000] {
        let refused = w
            .call(
                Who::Viewer,
                Method::POST,
                "/api/v1/tokens",
                Some(json!({"name": "ci", "days": days})),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{days}: {}",
            refused.body
        );
        assert!(refused.body.contains("1 to 365 days"), "{}", refused.body);
    }
    // A token from username and password also expires (30 days unless asked).
    let login = w
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/login",
            Some(json!({"username": "vera", "password": "test-password-123"})),
        )
        .await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.body);
    assert_eq!(lifetime_days(&login), Some(30), "{}", login.body);
}

/// A new password ends every session and API token the old one opened: set by an admin, or by the
/// user (who must know the current one, and whose own browser session goes on).
#[tokio::test]
async fn a_password_change_ends_the_users_sessions_and_tokens() {
    let w = world().await;
    let me = |a: &Answer| a.json()["username"].as_str().map(str::to_owned);
    // otto signs in in a browser and has an API token.
    let browser = w.sign_in("otto", "test-password-123").await;
    let token = w
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/login",
            Some(json!({"username": "otto", "password": "test-password-123"})),
        )
        .await
        .json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        me(&w.with_cookie(Method::GET, "/api/v1/me", &browser).await).as_deref(),
        Some("otto")
    );
    assert_eq!(w.me_with(&token).await.status, StatusCode::OK);
    // An admin sets a new password: both stop working at once.
    let id = w
        .call(Who::Admin, Method::GET, "/api/v1/users", None)
        .await
        .json()
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "otto")
        .and_then(|u| u["id"].as_i64())
        .expect("otto");
    let reset = w
        .call(
            Who::Admin,
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(json!({"password": "reset-password-456"})),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(
        w.with_cookie(Method::GET, "/api/v1/me", &browser)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(w.me_with(&token).await.status, StatusCode::UNAUTHORIZED);
    let tokens = w
        .call(Who::Admin, Method::GET, "/api/v1/tokens", None)
        .await
        .json();
    assert!(
        tokens
            .as_array()
            .expect("tokens")
            .iter()
            .filter(|t| t["username"] == "otto")
            .all(|t| t["revoked_ms"].is_i64()),
        "{tokens}"
    );
    // otto signs in with the new password twice (laptop and desk) and makes a token.
    let laptop = w.sign_in("otto", "reset-password-456").await;
    let desk = w.sign_in("otto", "reset-password-456").await;
    let token = w
        .json_with_cookie(
            Method::POST,
            "/api/v1/tokens",
            &laptop,
            json!({"name": "laptop"}),
        )
        .await
        .json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(w.me_with(&token).await.status, StatusCode::OK);
    // Changing one's own password needs the current one.
    let wrong = w
        .json_with_cookie(
            Method::POST,
            "/api/v1/me/password",
            &laptop,
            json!({"current_password": "not-the-password", "new_password": "mine-only-789!"}),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains("current password is wrong"),
        "{}",
        wrong.body
    );
    assert_eq!(
        w.with_cookie(Method::GET, "/api/v1/me", &desk).await.status,
        StatusCode::OK
    );
    let changed = w
        .json_with_cookie(
            Method::POST,
            "/api/v1/me/password",
            &laptop,
            json!({"current_password": "reset-password-456", "new_password": "mine-only-789!"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    // The laptop goes on under a new session id; the desk and the token are out.
    let renewed = pair(&changed.cookie().expect("the asking session is renewed"));
    assert_ne!(renewed, laptop);
    assert_eq!(
        me(&w.with_cookie(Method::GET, "/api/v1/me", &renewed).await).as_deref(),
        Some("otto")
    );
    assert_eq!(
        w.with_cookie(Method::GET, "/api/v1/me", &laptop)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        w.with_cookie(Method::GET, "/api/v1/me", &desk).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(w.me_with(&token).await.status, StatusCode::UNAUTHORIZED);
    let audit = w
        .call(Who::Admin, Method::GET, "/api/v1/audit", None)
        .await
        .body;
    assert!(
        audit.contains("user.password.failed") && audit.contains("own password changed"),
        "{audit}"
    );
}

/// `next` after sign-in stays on this site whatever a browser would make of it.
#[test]
fn next_stays_on_this_site() {
    for bad in [
        "//evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        " /evil",
        "/ /evil.example",
        "/\u{0}/evil.example",
        "https://evil.example/",
        "evil.example",
        "javascript:alert(1)",
        "",
        "/login?next=/x",
    ] {
        assert_eq!(server::auth::safe_next(Some(bad)), "/", "{bad:?}");
    }
    let long = format!("/{}", "a".repeat(4096));
    assert_eq!(server::auth::safe_next(Some(&long)), "/");
    for good in [
        "/",
        "/deployments",
        "/fleet?node=10.0.10.11#gpu-3",
        "/blueprints/new?from=%2F%2Fx",
    ] {
        assert_eq!(server::auth::safe_next(Some(good)), good);
    }
    assert_eq!(server::auth::safe_next(None), "/");
}

/// The server refuses node labels an update may not set, at their pointers: the built-in reserved
/// domains (also checked in the browser), its own pool label, and what its allow-list leaves out.
#[tokio::test]
async fn updates_may_set_only_the_node_labels_the_server_allows() {
    let catalogue = server::catalogue::SharedCatalogue::default();
    let fixed = server::cluster::Fixed::new(
        &server::cluster::embedded::FleetSpec::default_fleet(),
        &catalogue.get(),
        "fixed fleet",
    );
    let store = server::store::Store::open("sqlite::memory:")
        .await
        .expect("store");
    let state = server::AppState::start(
        options(),
        std::sync::Arc::new(fixed),
        catalogue,
        store,
        server::orchestrator::Options {
            node_labels: mig::blueprint::labels::LabelPolicy {
                reserved_keys: vec!["pool".into()],
                allowed: Some(vec!["team".into(), "pool".into()]),
            },
            ..server::orchestrator::Options::default()
        },
    )
    .await;
    let update = |labels: Value| {
        json!({"recipe_mode": "update", "deployment_name": "relabel", "recipe_node_name": "10.0.10.11", "recipe_node_labels": labels})
            .to_string()
    };
    // The label policy's issues (the embedded fleet also says it sets no labels: a notice).
    let codes = |v: &mig::wire::Validation| {
        v.issues
            .iter()
            .filter(|i| !mig::blueprint::members::is_notice(i))
            .map(|i| (i.code.clone(), i.path.clone(), i.line.is_some()))
            .collect::<Vec<_>>()
    };
    let o = state.orchestrator();
    let driver = o
        .validate(&update(json!({"nvidia.com/gpu.deploy.driver": "false"})))
        .await
        .expect("validate");
    assert!(!driver.valid);
    assert_eq!(
        codes(&driver),
        [(
            "label_reserved".to_owned(),
            "/recipe_node_labels/nvidia.com~1gpu.deploy.driver".to_owned(),
            true
        )]
    );
    let pool = o
        .validate(&update(json!({"pool": "b"})))
        .await
        .expect("validate");
    assert_eq!(
        codes(&pool),
        [(
            "label_reserved".to_owned(),
            "/recipe_node_labels/pool".to_owned(),
            true
        )]
    );
    let other = o
        .validate(&update(json!({"owner": "me"})))
        .await
        .expect("validate");
    assert_eq!(
        codes(&other),
        [(
            "label_not_allowed".to_owned(),
            "/recipe_node_labels/owner".to_owned(),
            true
        )]
    );
    assert!(!other.valid);
    // Submitting is refused the same way; an allowed label deploys.
    let actor = server::audit::Actor::new("otto", "test");
    assert!(matches!(
        o.submit(&update(json!({"owner": "me"})), false, &actor)
            .await,
        Err(server::orchestrator::OrchestratorError::Invalid(_))
    ));
    let team = o
        .validate(&update(json!({"team": "llm"})))
        .await
        .expect("validate");
    assert!(team.valid, "{:?}", team.issues);
}

/// A viewer reads a deployment without its blueprint's secrets, through the API and the server
/// function; an operator reads them.
#[tokio::test]
async fn viewers_never_read_blueprint_secrets() {
    let w = world().await;
    let blueprint = json!({
        "recipe_mode": "service",
        "deployment_name": "with-secrets",
        "recipe_image_uri": "iad.ocir.io/x/vllm:1",
        "recipe_container_env": [{"key": "HF_TOKEN", "value": "hf_very_secret_token"}]
    })
    .to_string();
    let id = w
        .state
        .orchestrator()
        .store()
        .create_deployment(&server::store::NewDeployment {
            name: "with-secrets".into(),
            mode: "service".into(),
            blueprint,
            drain: false,
            max_unavailable: 1,
            config: None,
        })
        .await
        .expect("deployment")
        .id;
    let url = format!("/api/v1/deployments/{id}");
    let viewer = w.call(Who::Viewer, Method::GET, &url, None).await;
    assert_eq!(viewer.status, StatusCode::OK, "{}", viewer.body);
    assert!(
        !viewer.body.contains("hf_very_secret_token"),
        "{}",
        viewer.body
    );
    assert!(
        viewer.body.contains("HF_TOKEN") && viewer.body.contains("redacted"),
        "{}",
        viewer.body
    );
    let operator = w.call(Who::Operator, Method::GET, &url, None).await;
    assert!(
        operator.body.contains("hf_very_secret_token"),
        "{}",
        operator.body
    );
    // The page's server function, as the browser calls it.
    for (who, shows) in [(Who::Viewer, false), (Who::Admin, true)] {
        let mut b = Request::post("/api/deployment")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(Some(h)) = w.headers.get(&who) {
            b = b.header(header::AUTHORIZATION, h);
        }
        let a = w
            .send(b.body(Body::from(format!("id={id}"))).expect("request"))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains("HF_TOKEN"), "{}", a.body);
        assert_eq!(
            a.body.contains("hf_very_secret_token"),
            shows,
            "{who:?}: {}",
            a.body
        );
    }
}

/// A new password has 12+ characters and is neither one character repeated nor a common one.
#[tokio::test]
async fn common_or_short_passwords_are_refused() {
    let w = world().await;
    for (bad, why) in [
        ("short-pw", "12 to 1024"),
        ("aaaaaaaaaaaaaaaa", "repeated"),
        ("Password1234", "most common"),
        ("QWERTY123456", "most common"),
    ] {
        let a = w
            .call(
                Who::Admin,
                Method::POST,
                "/api/v1/users",
                Some(json!({"username": "nora", "password": bad, "role": "viewer"})),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            a.body
        );
        assert!(a.body.contains(why), "{bad}: {}", a.body);
    }
    let ok = w
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/users",
            Some(
                json!({"username": "nora", "password": "copper kettle morning", "role": "viewer"}),
            ),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
}

/// No `Debug` output shows a password or a token: the sign-in form, a created token or share link.
#[test]
fn debug_output_never_shows_a_secret() {
    let form = server::auth::LoginForm {
        username: "ada".into(),
        password: "hunter2-but-longer".into(),
        next: None,
    };
    let token = mig::wire::CreatedToken {
        info: mig::wire::TokenInfo {
            id: 1,
            name: "ci".into(),
            username: "ada".into(),
            created_ms: 0,
            expires_ms: None,
            last_used_ms: None,
            revoked_ms: None,
        },
        token: "mgb_super_secret_token".into(),
    };
    let printed = format!("{form:?} {token:?} {:#?}", token);
    for secret in ["hunter2-but-longer", "mgb_super_secret_token"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(
        printed.contains("ada") && printed.contains("redacted"),
        "{printed}"
    );
    // Serialized, the token is the plain string the client needs.
    let json = serde_json::to_value(&token).expect("json");
    assert_eq!(json["token"], "mgb_super_secret_token");
}

/// `X-Forwarded-For` is believed only from a trusted proxy, and then only its rightmost address that
/// is not one of our proxies (a client can prepend anything, never append); IPv6 clients are limited
/// per /64.
#[test]
fn the_client_behind_a_trusted_proxy_is_the_rightmost_untrusted_hop() {
    use server::auth::client::{TrustedProxies, limit_key};
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
    let xff = |v: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().expect("header"));
        h
    };
    let trusted = TrustedProxies::parse("10.0.0.0/8, fd00::/8").expect("parse");
    // From an untrusted peer the header is ignored.
    assert_eq!(
        trusted.client(ip("198.51.100.7"), &xff("1.2.3.4")),
        ip("198.51.100.7")
    );
    // Through the ingress: the address it saw, whatever the client prepended.
    assert_eq!(
        trusted.client(ip("10.0.0.5"), &xff("6.6.6.6, 203.0.113.9")),
        ip("203.0.113.9")
    );
    // Two of our proxies in a row.
    assert_eq!(
        trusted.client(ip("10.0.0.5"), &xff("203.0.113.9, 10.1.2.3")),
        ip("203.0.113.9")
    );
    // Garbage ends the walk at the last hop a trusted proxy vouched for.
    assert_eq!(
        trusted.client(ip("10.0.0.5"), &xff("nonsense")),
        ip("10.0.0.5")
    );
    assert_eq!(
        trusted.client(ip("10.0.0.5"), &axum::http::HeaderMap::new()),
        ip("10.0.0.5")
    );
    // IPv4-mapped IPv6 peers are IPv4.
    assert_eq!(
        trusted.client(ip("::ffff:10.0.0.5"), &xff("203.0.113.9")),
        ip("203.0.113.9")
    );
    // One budget per IPv6 /64.
    assert_eq!(
        limit_key(ip("2001:db8::1")),
        limit_key(ip("2001:db8::ffff:1"))
    );
    assert_ne!(
        limit_key(ip("2001:db8::1")),
        limit_key(ip("2001:db8:0:1::1"))
    );
    assert_eq!(limit_key(ip("198.51.100.7")), ip("198.51.100.7"));
    // A bad entry is named.
    for bad in ["10.0.0.0/33", "ingress", "10.0.0.0/x"] {
        let e = TrustedProxies::parse(bad).expect_err(bad);
        assert!(e.to_string().contains(bad), "{e}");
    }
    assert!(!TrustedProxies::default().trusts(ip("10.0.0.5")));
}

/// Behind a trusted proxy every client has its own sign-in budget (and the audit log names it);
/// without one, a spoofed `X-Forwarded-For` changes nothing. A flood against one username stops
/// at that name's budget and leaves other users alone.
#[tokio::test]
async fn sign_in_budgets_are_per_forwarded_client_and_per_username() {
    /// A wrong-password API sign-in as `user`, forwarded for `who`.
    async fn login(w: &World, who: &str, user: &str) -> Answer {
        let request = Request::post("/api/v1/login")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-forwarded-for", who)
            .body(Body::from(
                json!({"username": user, "password": "wrong-password-x"}).to_string(),
            ))
            .expect("request");
        w.send(request).await
    }
    // Without a trusted proxy, the header is ignored: one budget, however it varies.
    let w = world().await;
    for n in 1..=server::auth::LOGIN_BURST {
        let a = login(&w, &format!("198.51.100.{n}"), "ada").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{n}: {}", a.body);
    }
    let a = login(&w, "198.51.100.200", "ada").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);

    // The router is reached with no TCP peer here (0.0.0.0): trust it as the ingress.
    let mut security = server::security::Security::default();
    security.trusted_proxies =
        server::auth::client::TrustedProxies::parse("0.0.0.0/32").expect("parse");
    let w = world_with(&security).await;
    for n in 1..=server::auth::LOGIN_BURST {
        let a = login(&w, "198.51.100.1", "otto").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{n}: {}", a.body);
    }
    assert_eq!(
        login(&w, "198.51.100.1", "otto").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same ingress is not held up.
    assert_eq!(
        login(&w, "198.51.100.2", "vera").await.status,
        StatusCode::UNAUTHORIZED
    );
    let audit = w
        .call(Who::Admin, Method::GET, "/api/v1/audit", None)
        .await
        .body;
    assert!(
        audit.contains("198.51.100.1") && audit.contains("198.51.100.2"),
        "{audit}"
    );
    // One name from many addresses: its own budget runs out (otto has used 5 of 10), others' do not.
    let mut statuses = Vec::new();
    for n in 10..(10 + server::auth::USER_LOGIN_BURST) {
        statuses.push(login(&w, &format!("203.0.113.{n}"), "otto").await.status);
    }
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(limited >= 4, "{statuses:?}");
    let last = login(&w, "203.0.113.99", "otto").await;
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.body);
    assert!(last.body.contains("for this user"), "{}", last.body);
    assert_eq!(
        login(&w, "203.0.113.98", "ada").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Opens an event stream at `path` with `Authorization: auth` or `Cookie: auth` (by its form); the
/// status, the headers and the body, to read on.
async fn open_stream(
    w: &World,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Body) {
    let mut b = Request::get(path);
    match auth {
        Some(a) if a.starts_with("Bearer ") => b = b.header(header::AUTHORIZATION, a),
        Some(cookie) => b = b.header(header::COOKIE, cookie),
        None => {}
    }
    let response = w
        .router
        .clone()
        .oneshot(b.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body)
}

/// Reads `body` to its end, which must come within `secs` seconds; its text.
async fn ends_within(body: Body, secs: u64, what: &str) -> String {
    let bytes = tokio::time::timeout(std::time::Duration::from_secs(secs), body.collect())
        .await
        .unwrap_or_else(|_| panic!("{what}: the stream did not end within {secs} s"))
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether `body` is still open (no end) after `millis`: frames that come are read and skipped.
async fn still_open(body: &mut Body, millis: u64) -> bool {
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(millis);
    loop {
        match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) => return true,
            Ok(None) => return false,
            Ok(Some(_)) => {}
        }
    }
}

#[tokio::test]
async fn event_streams_are_capped_per_user_and_per_address() {
    let security = server::security::Security {
        streams: server::streams::StreamLimits {
            per_user: 2,
            per_address: 3,
            recheck: std::time::Duration::from_secs(60),
        },
        ..server::security::Security::default()
    };
    let w = world_with(&security).await;
    let vera = w.headers[&Who::Viewer].clone().expect("vera");
    let otto = w.headers[&Who::Operator].clone().expect("otto");
    let deployment_events = format!("/api/v1/deployments/{}/events", w.deployment);
    let (s1, _, first) = open_stream(&w, "/api/v1/events", Some(&vera)).await;
    let (s2, _, _second) = open_stream(&w, &deployment_events, Some(&vera)).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    // A third for the same user: 429, said plainly, with when to try again.
    let (s3, h3, body) = open_stream(&w, "/api/v1/events", Some(&vera)).await;
    assert_eq!(s3, StatusCode::TOO_MANY_REQUESTS);
    assert!(h3.get(header::RETRY_AFTER).is_some());
    let text = ends_within(body, 5, "a refusal").await;
    assert!(
        text.contains("too_many_requests") && text.contains("this user has 2 event streams open"),
        "{text}"
    );
    // One closed: room again.
    drop(first);
    let (s4, _, _fourth) = open_stream(&w, "/api/v1/events", Some(&vera)).await;
    assert_eq!(s4, StatusCode::OK);
    // Another user from the same address: the address holds 2 of its 3.
    let (s5, _, _fifth) = open_stream(&w, "/api/v1/events", Some(&otto)).await;
    assert_eq!(s5, StatusCode::OK);
    let (s6, _, body) = open_stream(&w, "/api/v1/events", Some(&otto)).await;
    assert_eq!(s6, StatusCode::TOO_MANY_REQUESTS);
    let text = ends_within(body, 5, "a refusal").await;
    assert!(
        text.contains("this address has 3 event streams open"),
        "{text}"
    );
    // Share links' streams count against the address too.
    let (s7, _, _) =
        open_stream(&w, &format!("/api/v1/share/{}/events", w.share_token), None).await;
    assert_eq!(s7, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn event_streams_end_when_their_session_or_token_no_longer_holds() {
    let security = server::security::Security {
        streams: server::streams::StreamLimits {
            recheck: std::time::Duration::from_millis(100),
            ..server::streams::StreamLimits::default()
        },
        ..server::security::Security::default()
    };
    let w = world_with(&security).await;
    // Nina: an API token, then disabled by an admin.
    let created = w
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "nina", "password": "nina-password-12", "role": "viewer"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let nina = created.json()["id"].as_i64().expect("id");
    let t = w
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/login",
            Some(json!({"username": "nina", "password": "nina-password-12"})),
        )
        .await;
    let token = format!("Bearer {}", t.json()["token"].as_str().expect("token"));
    let (status, _, mut by_token) = open_stream(&w, "/api/v1/events", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    // A second stream of the same token shares its re-check: both end together.
    let (status, _, mut by_token_too) = open_stream(
        &w,
        &format!("/api/v1/deployments/{}/events", w.deployment),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Sam: a browser session, then signed out.
    let sam = w
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "sam", "password": "sam-password-123", "role": "viewer"})),
        )
        .await;
    assert_eq!(sam.status, StatusCode::CREATED, "{}", sam.body);
    let cookie = w.sign_in("sam", "sam-password-123").await;
    let (status, _, mut by_session) = open_stream(
        &w,
        &format!("/api/v1/deployments/{}/events", w.deployment),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Vera: nothing changes for her.
    let vera = w.headers[&Who::Viewer].clone().expect("vera");
    let (status, _, mut unchanged) = open_stream(&w, "/api/v1/events", Some(&vera)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        still_open(&mut by_token, 400).await
            && still_open(&mut by_token_too, 10).await
            && still_open(&mut by_session, 10).await
    );

    let off = w
        .call(
            Who::Admin,
            Method::PATCH,
            &format!("/api/v1/users/{nina}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let rest = ends_within(by_token, 5, "a disabled user's token stream").await;
    assert!(rest.contains("event: resync"), "{rest}");
    let rest = ends_within(by_token_too, 5, "the token's second stream").await;
    assert!(rest.contains("event: resync"), "{rest}");
    let out = w.form("/logout", "", Some(&cookie)).await;
    assert!(
        out.status.is_redirection() || out.status.is_success(),
        "{}",
        out.status
    );
    let rest = ends_within(by_session, 5, "a signed-out session's stream").await;
    assert!(rest.contains("event: resync"), "{rest}");
    assert!(
        still_open(&mut unchanged, 500).await,
        "an unchanged user's stream goes on"
    );
}

#[tokio::test]
async fn the_generated_first_admin_password_must_be_changed_before_anything_else() {
    // The first start's admin: a generated password must be changed; a chosen one need not.
    for (given, must) in [(None, true), (Some("a-chosen-admin-password"), false)] {
        let store = server::store::Store::open("sqlite::memory:")
            .await
            .expect("store");
        let generated = server::auth::Accounts::new(store.clone())
            .ensure_admin(given)
            .await
            .expect("first start");
        assert_eq!(generated.is_some(), given.is_none());
        let (admin, _) = store
            .user_credentials("admin")
            .await
            .expect("read")
            .expect("admin");
        assert_eq!(admin.must_change_password, must, "{given:?}");
    }
    // A server whose admin still has the generated password (made known here).
    let state = server::AppState::new(options()).await;
    let store = state.orchestrator().store().clone();
    let (admin, _) = store
        .user_credentials("admin")
        .await
        .expect("read")
        .expect("the first start made an admin");
    assert!(
        admin.must_change_password,
        "AppState's first start generates the password"
    );
    let generated = "generated-but-known-here".to_owned();
    store
        .update_user(
            admin.id,
            &server::store::UserChange {
                password_hash: Some(server::auth::hash_password(&generated).expect("hash")),
                must_change_password: Some(true),
                ..server::store::UserChange::default()
            },
        )
        .await
        .expect("set");
    let w = World {
        router: server::router(state.clone()),
        state,
        headers: BTreeMap::new(),
        share_token: String::new(),
        deployment: 0,
    };
    // An API token: it may read who it is and change the password, nothing else.
    let login = w
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/login",
            Some(json!({"username": "admin", "password": generated})),
        )
        .await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.body);
    let token = login.json()["token"].as_str().expect("token").to_owned();
    let bearer = format!("Bearer {token}");
    let with_token = |method: Method, path: &str, body: Option<Value>| {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, bearer.clone());
        b = b.header(header::CONTENT_TYPE, "application/json");
        b.body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
            .expect("request")
    };
    let refused = w
        .send(with_token(Method::GET, "/api/v1/deployments", None))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains("generated password"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("/api/v1/me/password"),
        "{}",
        refused.body
    );
    let created = w
        .send(with_token(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "eve", "password": "eve-password-123", "role": "admin"})),
        ))
        .await;
    assert_eq!(created.status, StatusCode::FORBIDDEN, "{}", created.body);
    let me = w.send(with_token(Method::GET, "/api/v1/me", None)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    // A browser session: every page leads to the form in Settings (the Settings page itself renders
    // for such a user in http.rs; no page is rendered here, see its note on rendering while other
    // tests build routers).
    let cookie = w.sign_in("admin", &generated).await;
    let page = w.with_cookie(Method::GET, "/deployments", &cookie).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/settings?password=required#change-password")
    );
    let refused = w
        .with_cookie(Method::GET, "/api/v1/deployments", &cookie)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // Changed: everything opens again (this session continues under a new id).
    let changed = w
        .json_with_cookie(
            Method::POST,
            "/api/v1/me/password",
            &cookie,
            json!({"current_password": generated, "new_password": "my-own-admin-password"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(
        changed.json()["must_change_password"],
        json!(false),
        "{}",
        changed.body
    );
    let cookie = changed.cookie().map_or(cookie, |c| pair(&c));
    let open = w
        .with_cookie(Method::GET, "/api/v1/deployments", &cookie)
        .await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.body);
}

/// The text of whatever `body` sends within `millis` (an open event stream: it need not end).
async fn read_for(body: &mut Body, millis: u64) -> String {
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(millis);
    let mut text = String::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, body.frame()).await {
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
    text
}

/// A log writer the test reads back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// #18 item 3, beyond the deployment's own answer: a submitted blueprint's secret values reach no
/// event stream, deployment log or log line a viewer can read, nor the server's own log (at debug).
#[tokio::test]
async fn a_blueprints_secret_values_reach_no_stream_log_or_log_line() {
    const SECRET: &str = "hf_never_shown_0123456789";
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    // This test's runtime is single-threaded: the orchestrator's tasks log through this subscriber.
    let _logging = tracing::subscriber::set_default(subscriber);
    let w = world().await;
    let viewer = w.headers[&Who::Viewer].clone().expect("viewer token");
    let (status, _, mut all) = open_stream(&w, "/api/v1/events", Some(&viewer)).await;
    assert_eq!(status, StatusCode::OK);
    let mut blueprint: Value = serde_json::from_str(
        &mig::blueprint::templates::template("mig_inference_multiple_replicas")
            .expect("template")
            .json,
    )
    .expect("json");
    blueprint["deployment_name"] = json!("secret-service");
    blueprint["recipe_container_env"] = json!([{"key": "HF_TOKEN", "value": SECRET}]);
    let created = w
        .call(
            Who::Operator,
            Method::POST,
            "/api/v1/deployments",
            Some(blueprint),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json()["id"].as_i64().expect("id");
    let (status, _, mut one) = open_stream(
        &w,
        &format!("/api/v1/deployments/{id}/events"),
        Some(&viewer),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let streamed = format!(
        "{}{}",
        read_for(&mut all, 1500).await,
        read_for(&mut one, 500).await
    );
    let logs = w
        .call(
            Who::Viewer,
            Method::GET,
            &format!("/api/v1/deployments/{id}/logs"),
            None,
        )
        .await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.body);
    // What was read is real: the streams and the log speak of this deployment.
    assert!(streamed.contains("secret-service"), "{streamed}");
    assert!(!logs.body.trim().is_empty());
    let log_lines = captured.text();
    assert!(log_lines.contains("deployment scheduled"), "{log_lines}");
    for (what, text) in [
        ("event streams", &streamed),
        ("deployment log", &logs.body),
        ("server log", &log_lines),
    ] {
        assert!(!text.contains(SECRET), "{what} shows the secret: {text}");
    }
}

/// Makes an embed link as the operator; its token (from the path).
async fn make_embed(w: &World, view: &str) -> (i64, String) {
    let made = w
        .call(
            Who::Operator,
            Method::POST,
            "/api/v1/embeds",
            Some(json!({"view": view, "days": 1, "origins": ["https://portal.example.com"]})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{view}: {}", made.body);
    let j = made.json();
    let path = j["path"].as_str().expect("path").to_owned();
    assert!(
        j["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://") && u.ends_with(&path)),
        "{j}"
    );
    let token = path
        .strip_prefix("/embed/link/")
        .unwrap_or_else(|| panic!("{path}"))
        .to_owned();
    assert_eq!(token.len(), 64, "256 random bits, hex");
    (j["id"].as_i64().expect("id"), token)
}

#[tokio::test]
async fn embed_links_show_one_view_until_revoked_or_expired_and_are_audited() {
    let security = server::security::Security {
        frame_ancestors: vec!["https://*.example.com".into()],
        streams: server::streams::StreamLimits {
            recheck: std::time::Duration::from_millis(100),
            ..server::streams::StreamLimits::default()
        },
        ..server::security::Security::default()
    };
    let w = world_with(&security).await;
    // Requests that make no link say why.
    for (body, status, says) in [
        (
            json!({"view": "fleet", "days": 0, "origins": ["https://portal.example.com"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "1 to 90 days",
        ),
        (
            json!({"view": "fleet", "origins": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "set \\\"origins\\\"",
        ),
        (
            json!({"view": "fleet", "origins": ["portal.example.com"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "origins[0]",
        ),
        (
            json!({"view": "fleet", "origins": ["https://evil.test"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not among the portals",
        ),
        (
            json!({"view": "node/nowhere", "origins": ["https://portal.example.com"]}),
            StatusCode::NOT_FOUND,
            "names nothing",
        ),
        (
            json!({"view": "users/1", "origins": ["https://portal.example.com"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a kind of view",
        ),
    ] {
        let a = w
            .call(
                Who::Operator,
                Method::POST,
                "/api/v1/embeds",
                Some(body.clone()),
            )
            .await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
        assert!(a.body.contains(says), "{body}: {}", a.body);
    }
    let (fleet_id, fleet_token) = make_embed(&w, "fleet").await;
    // Anyone with the token sees the fleet, and nothing else with it.
    let seen = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/embed/{fleet_token}"),
            None,
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let fleet = seen.json();
    assert_eq!(fleet["kind"], "fleet");
    let nodes = fleet["fleet"]["nodes"].as_array().expect("nodes").clone();
    assert!(!nodes.is_empty());
    let share = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/share/{fleet_token}"),
            None,
        )
        .await;
    assert_eq!(
        share.status,
        StatusCode::NOT_FOUND,
        "an embed token is no share token"
    );
    let api = w
        .send(
            Request::get(format!("/api/v1/deployments/{}", w.deployment))
                .header(header::AUTHORIZATION, format!("Bearer {fleet_token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "{}", api.body);
    // A pool, a node, a deployment: each link shows that and only that.
    let pool = fleet["fleet"]["pools"][0]["name"]
        .as_str()
        .expect("pool")
        .to_owned();
    let (_, pool_token) = make_embed(&w, &format!("pool/{pool}")).await;
    let p = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/embed/{pool_token}"),
            None,
        )
        .await
        .json();
    assert_eq!(p["pool"], pool.as_str());
    assert!(
        p["fleet"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["pool"] == pool.as_str())
    );
    assert_eq!(p["fleet"]["pools"].as_array().map(Vec::len), Some(1));
    let node = nodes[0]["name"].as_str().expect("node").to_owned();
    let (_, node_token) = make_embed(&w, &format!("node/{node}")).await;
    let n = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/embed/{node_token}"),
            None,
        )
        .await
        .json();
    assert_eq!(
        (n["kind"].as_str(), n["node"]["name"].as_str()),
        (Some("node"), Some(node.as_str()))
    );
    let (deployment_id, deployment_token) =
        make_embed(&w, &format!("deployment/{}", w.deployment)).await;
    let d = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/embed/{deployment_token}"),
            None,
        )
        .await
        .json();
    assert_eq!(d["kind"], "deployment");
    assert_eq!(d["detail"]["deployment"]["id"].as_i64(), Some(w.deployment));
    assert_eq!(d["detail"]["blueprint"], "", "never the blueprint");
    // The list shows every link, never a token.
    let list = w
        .call(Who::Viewer, Method::GET, "/api/v1/embeds", None)
        .await;
    // Four made here, and the world's own fleet link.
    assert_eq!(
        list.json().as_array().map(Vec::len),
        Some(5),
        "{}",
        list.body
    );
    for token in [&fleet_token, &pool_token, &node_token, &deployment_token] {
        assert!(!list.body.contains(token.as_str()));
    }
    // Revoked here: the open view's stream ends at once, with a last resync.
    let (status, _, body) =
        open_stream(&w, &format!("/api/v1/embed/{fleet_token}/events"), None).await;
    assert_eq!(status, StatusCode::OK);
    let revoke = w
        .call(
            Who::Operator,
            Method::POST,
            &format!("/api/v1/embeds/{fleet_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.body);
    let text = ends_within(body, 10, "a revoked link's stream").await;
    assert!(text.contains("event: resync"), "{text}");
    let gone = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/embed/{fleet_token}"),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert!(gone.body.contains("revoked"), "{}", gone.body);
    // Revoked through another replica (straight in the database, which this one hears nothing
    // of): the stream's re-check ends it.
    let (status, _, body) = open_stream(
        &w,
        &format!("/api/v1/embed/{deployment_token}/events"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    w.state
        .orchestrator()
        .store()
        .revoke_embed(deployment_id)
        .await
        .expect("revoke");
    let text = ends_within(body, 10, "a link revoked elsewhere").await;
    assert!(text.contains("event: resync"), "{text}");
    // Expiry ends a stream too, and the link says so.
    let short = "x".repeat(64);
    w.state
        .orchestrator()
        .store()
        .create_embed(
            &short,
            &mig::wire::EmbedView::Fleet,
            &["https://portal.example.com".into()],
            1_500,
            "test",
        )
        .await
        .expect("short link");
    let (status, _, body) = open_stream(&w, &format!("/api/v1/embed/{short}/events"), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = ends_within(body, 10, "an expiring link's stream").await;
    assert!(text.contains("event: resync"), "{text}");
    let expired = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/embed/{short}"),
            None,
        )
        .await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.body.contains("expired"), "{}", expired.body);
    let unknown = w
        .call(
            Who::Anonymous,
            Method::GET,
            &format!("/api/v1/embed/{}/events", "u".repeat(64)),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Made and revoked by whom, for what: in the audit log.
    let log = w
        .call(Who::Admin, Method::GET, "/api/v1/audit", None)
        .await
        .json();
    let records = log.as_array().expect("records");
    let made = records
        .iter()
        .find(|r| r["action"] == "embed.create" && r["target"] == "fleet")
        .expect("the fleet link's creation");
    assert_eq!(made["actor"], "otto (token test)");
    assert!(
        made["detail"]
            .as_str()
            .is_some_and(|d| d.contains("https://portal.example.com"))
    );
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "embed.revoke" && r["detail"] == format!("link {fleet_id}")),
        "{log}"
    );
}

/// Answers are compressed for clients that accept it; event streams pass the compression layer
/// by (they are never compressed, and skipping the layer saves each open stream its boxed
/// compression body: BENCHMARKS.md, "where a watcher's memory goes").
#[tokio::test]
async fn answers_are_compressed_and_event_streams_are_not() {
    let w = world().await;
    let vera = w.headers[&Who::Viewer].clone().expect("vera");
    let request = |path: &str| {
        Request::get(path)
            .header(header::AUTHORIZATION, vera.as_str())
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .expect("request")
    };
    let models = w.router.clone().oneshot(request("/api/v1/gpu-models")).await.expect("infallible");
    assert_eq!(models.status(), StatusCode::OK);
    assert_eq!(
        models.headers().get(header::CONTENT_ENCODING).map(|v| v.as_bytes()),
        Some(&b"gzip"[..]),
        "a JSON answer is gzipped: {:?}",
        models.headers()
    );
    let body = models.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..2], [0x1f, 0x8b], "gzip magic");
    for path in ["/api/v1/events".to_owned(), format!("/api/v1/deployments/{}/events", w.deployment)] {
        let stream = w.router.clone().oneshot(request(&path)).await.expect("infallible");
        assert_eq!(stream.status(), StatusCode::OK, "{path}");
        assert_eq!(
            stream.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"text/event-stream"[..]),
            "{path}"
        );
        assert!(stream.headers().get(header::CONTENT_ENCODING).is_none(), "{path}: {:?}", stream.headers());
        if path == "/api/v1/events" {
            continue; // says nothing until something happens
        }
        let mut body = stream.into_body();
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("a first event within 5 s")
            .expect("a frame")
            .expect("no error")
            .into_data()
            .expect("data");
        assert!(first.starts_with(b"event: ") || first.starts_with(b"id: ") || first.starts_with(b"data: ") || first.starts_with(b":"), "{path}: plain SSE text: {first:?}");
    }
}
