//! The node agent's HTTP API, as the server calls it: the embedded fleet and the Kubernetes backend
//! reach agents the same way (JSON, an operation to poll for each apply), proving themselves with a
//! bearer token (embedded) or a request signed for the node ([`RequestSigner`], Kubernetes).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use mig::agent_api::{
    Accepted, AgentError, ApplyRequest, ErrorBody, ErrorCode, Inventory, InventoryGpu, Operation,
    OperationStatus, Stopped, WorkloadRequest,
};
use serde::de::DeserializeOwned;

use super::ClusterError;

type HttpClient = Client<HttpConnector, Full<bytes::Bytes>>;

/// Where one node's agent listens.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// The node (for messages).
    pub node: &'a str,
    /// Base URL, `http://HOST:PORT`.
    pub url: &'a str,
    /// How the server proves itself to it.
    pub credential: &'a AgentCredential,
}

/// What the server shows an agent.
#[derive(Debug, Clone)]
pub enum AgentCredential {
    /// `Authorization: Bearer` (never printed by `Debug`).
    Token(mig::wire::Secret),
    /// Every request signed for its node ([`mig::agent_auth`]).
    Signed(Arc<RequestSigner>),
}

impl Default for AgentCredential {
    fn default() -> Self {
        Self::Token(mig::wire::Secret::default())
    }
}

impl AgentCredential {
    /// Whether there is nothing to show (an empty token).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Token(t) if t.expose().is_empty())
    }
}

/// The server's Ed25519 signing key for agent requests.
pub struct RequestSigner {
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSigner").finish_non_exhaustive()
    }
}

impl RequestSigner {
    /// The key in a PEM `PRIVATE KEY` block (PKCS#8, what `openssl genpkey -algorithm ed25519` writes).
    ///
    /// # Errors
    /// Says what the text is instead and how to make a key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        const HOW: &str = "make one with `openssl genpkey -algorithm ed25519 -out agent-signing.pem`";
        let body = mig::agent_auth::pem_block(pem, "PRIVATE KEY")
            .ok_or_else(|| format!("expected a PEM block `-----BEGIN PRIVATE KEY-----`: {HOW}"))?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("the PRIVATE KEY block is not base64 ({e}): {HOW}"))?;
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| format!("the PRIVATE KEY is not an Ed25519 key ({e}): {HOW}"))?;
        Ok(Self { key })
    }

    /// A fresh key (tests, and embedded tooling) with its PKCS#8 PEM.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn generate() -> Result<(Self, String), String> {
        let rng = ring::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| format!("generating a key: {e}"))?;
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der.as_ref())
        );
        Ok((Self::from_pem(&pem)?, pem))
    }

    /// The public key as agents read it: a PEM `PUBLIC KEY` block (what `openssl pkey -pubout` writes).
    #[must_use]
    pub fn public_key_pem(&self) -> String {
        let der: Vec<u8> = mig::agent_auth::ED25519_SPKI_PREFIX
            .iter()
            .chain(self.key.public_key().as_ref())
            .copied()
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    /// The headers that sign one request for `node` at `now` (Unix seconds) with `nonce`.
    #[must_use]
    pub fn headers(
        &self,
        node: &str,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: u64,
        nonce: &str,
    ) -> [(&'static str, String); 4] {
        use mig::agent_auth as auth;
        let digest = ring::digest::digest(&ring::digest::SHA256, body);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest.as_ref());
        let text = auth::signing_string(node, method, path_and_query, now, nonce, &hash);
        let signature = self.key.sign(text.as_bytes());
        [
            (auth::NODE_HEADER, node.to_owned()),
            (auth::TIMESTAMP_HEADER, now.to_string()),
            (auth::NONCE_HEADER, nonce.to_owned()),
            (auth::SIGNATURE_HEADER, auth::encode_hex(signature.as_ref())),
        ]
    }

    /// [`RequestSigner::headers`] now, with a fresh random nonce.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn sign_now(
        &self,
        node: &str,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<[(&'static str, String); 4], String> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| format!("a nonce from the system's random source: {e}"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(self.headers(
            node,
            method,
            path_and_query,
            body,
            now,
            &mig::agent_auth::encode_hex(&nonce),
        ))
    }
}

/// An HTTP client for node agents (connections are pooled).
#[derive(Debug, Clone)]
pub struct AgentClient {
    client: HttpClient,
}

impl Default for AgentClient {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl AgentClient {
    /// One request to an agent: its status and body.
    ///
    /// # Errors
    /// [`ClusterError::Node`] when the agent cannot be reached or does not answer within 10 s.
    pub async fn request(
        &self,
        node: &Endpoint<'_>,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, String), ClusterError> {
        let err = |message: String| ClusterError::Node {
            node: node.node.to_owned(),
            message,
        };
        let body = bytes::Bytes::from(body.unwrap_or_default());
        let uri: hyper::Uri = format!("{}{path}", node.url)
            .parse()
            .map_err(|e| err(format!("{method} {path}: {e}")))?;
        let mut request = hyper::Request::builder()
            .method(method)
            .header("content-type", "application/json");
        match node.credential {
            AgentCredential::Token(token) => {
                request = request.header("authorization", format!("Bearer {}", token.expose()));
            }
            AgentCredential::Signed(signer) => {
                // The agent sees the path and query as sent, so that is what is signed.
                let target = uri.path_and_query().map_or("/", |p| p.as_str());
                for (name, value) in signer.sign_now(node.node, method, target, &body).map_err(err)? {
                    request = request.header(name, value);
                }
            }
        }
        let request = request
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| err(e.to_string()))?;
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .map_err(|_| err(format!("{method} {path}: no answer within 10 s")))?
            .map_err(|e| err(format!("{method} {path}: {e}")))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| err(format!("{method} {path}: reading the answer: {e}")))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// One request whose answer is `T` on success and an [`ErrorBody`] otherwise.
    ///
    /// # Errors
    /// [`ClusterError::Node`] when the agent cannot be reached; `Ok(Err((status, error)))` when it
    /// answered with an error (an answer that is not the protocol's becomes an
    /// [`ErrorCode::Unknown`] error carrying the text).
    async fn call<T: DeserializeOwned>(
        &self,
        node: &Endpoint<'_>,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<Result<T, (u16, AgentError)>, ClusterError> {
        let (status, text) = self.request(node, method, path, body).await?;
        if (200..300).contains(&status) {
            return serde_json::from_str::<T>(&text)
                .map(Ok)
                .map_err(|e| ClusterError::Node {
                    node: node.node.to_owned(),
                    message: format!("{method} {path}: unreadable answer ({e}): {text}"),
                });
        }
        let error = serde_json::from_str::<ErrorBody>(&text)
            .map_or_else(|_| AgentError::new(ErrorCode::Unknown, text), |b| b.error);
        Ok(Err((status, error)))
    }

    /// Sends `request` and waits for the operation to end. A 409 because an earlier apply still
    /// runs (a restarted server finds its agents resuming their journals) is waited out.
    ///
    /// # Errors
    /// [`ClusterError::InUse`] with the busy instances, [`ClusterError::Refused`] when the agent says
    /// no, [`ClusterError::Node`] when it cannot be reached or does not finish.
    pub async fn apply(
        &self,
        node: &Endpoint<'_>,
        request: &ApplyRequest,
    ) -> Result<Operation, ClusterError> {
        let what = request.target.label();
        let refused = |message: String| ClusterError::Refused {
            node: node.node.to_owned(),
            message: format!("applying {what}: {message}"),
        };
        let transient = |message: String| ClusterError::Node {
            node: node.node.to_owned(),
            message: format!("applying {what}: {message}"),
        };
        let body = serde_json::to_string(request).map_err(|e| refused(e.to_string()))?;
        let mut answer = self
            .call::<Accepted>(node, "POST", "/v1/apply", Some(body.clone()))
            .await?;
        for _ in 0..300 {
            if !matches!(&answer, Err((409, e)) if e.code == ErrorCode::Busy) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = self
                .call::<Accepted>(node, "POST", "/v1/apply", Some(body.clone()))
                .await?;
        }
        let accepted = match answer {
            Ok(accepted) => accepted,
            Err((409, e)) if e.code == ErrorCode::InUse => {
                return Err(ClusterError::InUse {
                    node: node.node.to_owned(),
                    busy: e.instances,
                });
            }
            Err((409, e)) => return Err(transient(e.to_string())),
            Err((status @ 400..=499, e)) => {
                return Err(refused(format!("HTTP {status}: {}", e.message)));
            }
            Err((status, e)) => return Err(transient(format!("HTTP {status}: {e}"))),
        };
        let id = accepted.operation;
        // Real MIG changes take seconds per GPU; give up (transiently) after ten minutes.
        for _ in 0..12_000 {
            let op = match self
                .call::<Operation>(node, "GET", &format!("/v1/operations/{id}"), None)
                .await?
            {
                Ok(op) => op,
                Err((status, e)) => {
                    return Err(transient(format!("operation {id}: HTTP {status}: {e}")));
                }
            };
            match op.status {
                OperationStatus::Running => tokio::time::sleep(Duration::from_millis(50)).await,
                OperationStatus::Succeeded => return Ok(op),
                OperationStatus::Failed => return Err(refused(op.errors().join("; "))),
            }
        }
        Err(transient("still running after 10 minutes".into()))
    }

    /// Runs a simulated workload (simulated GPUs only; the embedded fleet's stand-in for a pod).
    ///
    /// # Errors
    /// [`ClusterError::Refused`] when the agent says no, [`ClusterError::Node`] when it cannot be
    /// reached or fails.
    pub async fn start_workload(
        &self,
        node: &Endpoint<'_>,
        workload: &WorkloadRequest,
    ) -> Result<(), ClusterError> {
        let body = serde_json::to_string(workload).map_err(|e| ClusterError::Refused {
            node: node.node.to_owned(),
            message: e.to_string(),
        })?;
        match self
            .call::<WorkloadRequest>(node, "POST", "/v1/workloads", Some(body))
            .await?
        {
            Ok(_) => Ok(()),
            Err((status @ 400..=499, e)) => Err(ClusterError::Refused {
                node: node.node.to_owned(),
                message: format!(
                    "starting a workload on GPU {} slice {}: HTTP {status}: {e}",
                    workload.gpu, workload.start
                ),
            }),
            Err((status, e)) => Err(ClusterError::Node {
                node: node.node.to_owned(),
                message: format!("starting a workload: HTTP {status}: {e}"),
            }),
        }
    }

    /// Stops the simulated workloads on the instance at `start` of GPU `gpu`; how many stopped (0
    /// when the instance is gone).
    ///
    /// # Errors
    /// As [`AgentClient::start_workload`].
    pub async fn stop_workloads(
        &self,
        node: &Endpoint<'_>,
        gpu: u32,
        start: u8,
    ) -> Result<u32, ClusterError> {
        match self
            .call::<Stopped>(
                node,
                "DELETE",
                &format!("/v1/workloads/{gpu}/{start}"),
                None,
            )
            .await?
        {
            Ok(s) => Ok(s.stopped),
            // No instance there any more: nothing runs on it.
            Err((404, _)) => Ok(0),
            Err((status @ 400..=499, e)) => Err(ClusterError::Refused {
                node: node.node.to_owned(),
                message: format!(
                    "stopping workloads on GPU {gpu} slice {start}: HTTP {status}: {e}"
                ),
            }),
            Err((status, e)) => Err(ClusterError::Node {
                node: node.node.to_owned(),
                message: format!("stopping workloads: HTTP {status}: {e}"),
            }),
        }
    }

    /// The node's GPUs, as its agent reports them.
    ///
    /// # Errors
    /// Why the inventory could not be read, in words.
    pub async fn inventory(&self, node: &Endpoint<'_>) -> Result<Vec<InventoryGpu>, String> {
        match self
            .call::<Inventory>(node, "GET", "/v1/inventory", None)
            .await
        {
            Ok(Ok(inv)) => Ok(inv.gpus),
            Ok(Err((status, e))) => Err(format!("inventory: HTTP {status}: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }
}
