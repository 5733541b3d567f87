//! Helpers shared by the server's integration tests.

pub mod fake_kube;

/// A fresh PostgreSQL database named `name` on the test server, or `None` (said on stderr) without one.
#[allow(dead_code)]
pub async fn fresh_pg(name: &str) -> Option<String> {
    let Ok(admin) = std::env::var("MIGBOARD_TEST_DATABASE_URL") else {
        eprintln!(
            "MIGBOARD_TEST_DATABASE_URL is not set: the PostgreSQL run of `{name}` checks nothing (make test sets it)"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_owned();
    Some(format!("{base}/{name}"))
}

/// A user named `name` with `role` in the state's database, signed in with a fresh API token
/// (returned as the `Authorization` header's value).
#[allow(dead_code)]
pub async fn bearer(state: &server::AppState, name: &str, role: mig::wire::Role) -> String {
    let hash = server::auth::hash_password("test-password-123").expect("hash");
    let user = state
        .orchestrator()
        .store()
        .create_user(name, &hash, role)
        .await
        .expect("create the test user");
    let caller = mig::wire::Caller {
        user_id: user.id,
        username: user.username,
        role,
        via: mig::wire::Via::Session,
        source: "test".into(),
    };
    let token = state
        .accounts()
        .create_token(&caller, "test", None)
        .await
        .expect("create a token");
    format!("Bearer {}", token.token.expose())
}

/// What a router answered: status, headers and (for anything but an event stream) the body.
#[allow(dead_code)]
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: axum::http::StatusCode,
    /// The headers.
    pub headers: axum::http::HeaderMap,
    /// The body; empty for an event stream (which never ends: the status and headers answer).
    pub body: Vec<u8>,
}

#[allow(dead_code)]
impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, or (when it is not JSON) as a JSON string of its text.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| serde_json::Value::String(self.text()))
    }

    /// The `Content-Type` header, or "".
    pub fn content_type(&self) -> String {
        self.headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends `request` through `router` (no socket) and reads the answer.
#[allow(dead_code)]
pub async fn send(router: axum::Router, request: axum::http::Request<axum::body::Body>) -> Reply {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let streaming = headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body = if streaming {
        Vec::new()
    } else {
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// The request that applies named config `config` to every GPU of a node.
#[allow(dead_code)]
pub fn named(config: &str, drained: bool) -> mig::agent_api::ApplyRequest {
    mig::agent_api::ApplyRequest::new(
        mig::agent_api::ApplyTarget::Named(config.to_owned()),
        &[],
        drained,
    )
}

/// Spawns `agent` (a `migboard-agent … serve --addr 127.0.0.1:0` command), killed when dropped, and
/// reads the port it listens on from its first line; the rest of its output is drained.
#[allow(dead_code)]
pub async fn spawn_agent(mut agent: tokio::process::Command) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = agent
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("agent starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next_line().await.expect("read").expect("a line");
    let port = first
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}
