//! The agent in signed mode (Kubernetes): it accepts only requests the server signed for its own
//! node, recently, once. Each refusal is its own test, driven with `tower::ServiceExt::oneshot`.
//!
//! The requests are signed here with `ring` over [`mig::agent_auth::signing_string`], the format
//! the server's signer uses too (the server's side is tested end to end in
//! `server/tests/kubernetes.rs`, against this agent as a process).

use std::sync::Arc;

use agent::api::{AgentState, router};
use agent::auth::{Verifier, public_key_from_pem};
use agent::sim::{SimDriver, SimOptions};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt;
use mig::GpuModel;
use mig::agent_auth::{
    MAX_CLOCK_SKEW_SECS, NODE_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    encode_hex, signing_string,
};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use tower::ServiceExt;

const NODE: &str = "gpu-1";

fn key() -> Ed25519KeyPair {
    let rng = ring::rand::SystemRandom::new();
    let der = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
    Ed25519KeyPair::from_pkcs8(der.as_ref()).expect("key")
}

fn public_pem(key: &Ed25519KeyPair) -> String {
    let der: Vec<u8> = mig::agent_auth::ED25519_SPKI_PREFIX
        .iter()
        .chain(key.public_key().as_ref())
        .copied()
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// An agent on one simulated H100 that trusts `server`'s key and serves `NODE`.
fn agent_trusting(server: &Ed25519KeyPair) -> axum::Router {
    let public = public_key_from_pem(&public_pem(server)).expect("the PEM reads back");
    let verifier = Verifier::new(NODE, public).expect("verifier");
    let driver = Arc::new(SimDriver::new(
        GpuModel::H100_80GB,
        1,
        SimOptions {
            reset_immediately: true,
        },
    ));
    router(AgentState::signed(driver, verifier))
}

/// What the server would send: headers signing (`node`, method, path, body, `at`, `nonce`) with `key`.
struct Signed<'a> {
    key: &'a Ed25519KeyPair,
    node: &'a str,
    at: u64,
    nonce: String,
}

impl<'a> Signed<'a> {
    fn new(key: &'a Ed25519KeyPair) -> Self {
        Self {
            key,
            node: NODE,
            at: now(),
            nonce: format!("nonce-{:016x}", rand_u64()),
        }
    }

    fn request(&self, method: &str, path: &str, body: &str) -> Request<Body> {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, body.as_bytes()).as_ref());
        let text = signing_string(self.node, method, path, self.at, &self.nonce, &hash);
        let signature = self.key.sign(text.as_bytes());
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(NODE_HEADER, self.node)
            .header(TIMESTAMP_HEADER, self.at.to_string())
            .header(NONCE_HEADER, &self.nonce)
            .header(SIGNATURE_HEADER, encode_hex(signature.as_ref()))
            .body(Body::from(body.to_owned()))
            .expect("request")
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    u64::from_le_bytes(b)
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn a_request_signed_for_this_node_is_served_with_its_body() {
    let server = key();
    let app = agent_trusting(&server);
    let (status, body) = send(&app, Signed::new(&server).request("GET", "/v1/inventory", "")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"gpus\""), "{body}");
    // A body that was signed reaches the handler whole: the apply runs.
    let apply = r#"{"config":"all-1g.10gb"}"#;
    let (status, body) = send(&app, Signed::new(&server).request("POST", "/v1/apply", apply)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn unsigned_requests_and_bearer_tokens_are_refused() {
    let server = key();
    let app = agent_trusting(&server);
    let plain = Request::get("/v1/inventory").body(Body::empty()).expect("request");
    let (status, body) = send(&app, plain).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("signed by the migboard server"), "{body}");
    let bearer = Request::get("/v1/inventory")
        .header(header::AUTHORIZATION, "Bearer s3cret-agent-token")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, bearer).await.0, StatusCode::UNAUTHORIZED);
    // Health stays open for the kubelet.
    let health = Request::get("/healthz").body(Body::empty()).expect("request");
    assert_eq!(send(&app, health).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_request_signed_for_another_node_is_refused() {
    let server = key();
    let app = agent_trusting(&server);
    let mut other = Signed::new(&server);
    other.node = "gpu-2";
    let (status, body) = send(&app, other.request("GET", "/v1/inventory", "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("signed for node \\\"gpu-2\\\""), "{body}");
}

#[tokio::test]
async fn a_stale_or_future_request_is_refused() {
    let server = key();
    let app = agent_trusting(&server);
    for at in [now() - MAX_CLOCK_SKEW_SECS - 5, now() + MAX_CLOCK_SKEW_SECS + 5] {
        let mut old = Signed::new(&server);
        old.at = at;
        let (status, body) = send(&app, old.request("GET", "/v1/inventory", "")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{at}");
        assert!(body.contains("NTP"), "{body}");
    }
}

#[tokio::test]
async fn a_replayed_request_is_refused() {
    let server = key();
    let app = agent_trusting(&server);
    let once = Signed::new(&server);
    let apply = r#"{"config":"all-1g.10gb"}"#;
    assert_eq!(
        send(&app, once.request("POST", "/v1/apply", apply)).await.0,
        StatusCode::ACCEPTED
    );
    let (status, body) = send(&app, once.request("POST", "/v1/apply", apply)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("already used"), "{body}");
}

#[tokio::test]
async fn a_changed_body_path_or_method_or_another_key_breaks_the_signature() {
    let server = key();
    let app = agent_trusting(&server);
    let signed = Signed::new(&server);
    // Signed for one body, sent with another (the path and headers as signed).
    let mut req = signed.request("POST", "/v1/apply", r#"{"config":"all-1g.10gb"}"#);
    *req.body_mut() = Body::from(r#"{"config":"all-disabled"}"#);
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("does not verify"), "{body}");
    // Signed for one path, sent to another.
    let mut req = Signed::new(&server).request("GET", "/v1/operations/1", "");
    *req.uri_mut() = "/v1/inventory".parse().expect("uri");
    assert_eq!(send(&app, req).await.0, StatusCode::UNAUTHORIZED);
    // Signed for one method, sent with another.
    let mut req = Signed::new(&server).request("GET", "/v1/apply", "{}");
    *req.method_mut() = axum::http::Method::POST;
    assert_eq!(send(&app, req).await.0, StatusCode::UNAUTHORIZED);
    // Signed by a key the agent does not trust (a compromised node's own key, say).
    let intruder = key();
    let (status, body) = send(&app, Signed::new(&intruder).request("GET", "/v1/inventory", "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("does not verify"), "{body}");
}

#[tokio::test]
async fn refused_requests_are_not_remembered() {
    let server = key();
    let public = public_key_from_pem(&public_pem(&server)).expect("pem");
    let verifier = Verifier::new(NODE, public).expect("verifier");
    let intruder = key();
    // Many forged requests: none fills the nonce cache.
    for _ in 0..50 {
        let req = Signed::new(&intruder).request("GET", "/v1/inventory", "");
        let headers = mig::agent_auth::SignedHeaders::parse(|n| {
            req.headers().get(n).and_then(|v| v.to_str().ok())
        })
        .expect("headers");
        assert!(verifier.verify(&headers, "GET", "/v1/inventory", b"", now()).is_err());
    }
    assert_eq!(verifier.remembered(), 0);
}
