//! The node agent's HTTP API, as the server calls it: the embedded fleet and the Kubernetes backend
//! reach agents the same way (a bearer token, JSON, an operation to poll for each apply).

use std::time::Duration;

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
    /// Bearer token (never printed by `Debug`).
    pub token: &'a mig::wire::Secret,
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
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", node.url))
            .header("authorization", format!("Bearer {}", node.token.expose()))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
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
