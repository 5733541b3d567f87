//! The node agent's HTTP API, as the server calls it: the embedded fleet and the Kubernetes backend
//! reach agents the same way (a bearer token, JSON, an operation to poll for each apply).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{BusyInstance, ClusterError};

type HttpClient = Client<HttpConnector, Full<bytes::Bytes>>;

/// Where one node's agent listens.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// The node (for messages).
    pub node: &'a str,
    /// Base URL, `http://HOST:PORT`.
    pub url: &'a str,
    /// Bearer token.
    pub token: &'a str,
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
            .header("authorization", format!("Bearer {}", node.token))
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

    /// Applies named config `config` to GPUs `gpus` of `node` (all when empty) and waits for the
    /// agent to finish. A 409 because an earlier apply still runs (a restarted server finds its
    /// agents resuming their journals) is waited out.
    /// Applies named MIG config `config` to `gpus` (all when empty) and waits for the operation to end.
    ///
    /// # Errors
    /// [`ClusterError::InUse`] with the busy instances, [`ClusterError::Refused`] when the agent says
    /// no, [`ClusterError::Node`] when it cannot be reached or does not finish.
    pub async fn apply(
        &self,
        node: &Endpoint<'_>,
        config: &str,
        gpus: &[u32],
        drained: bool,
    ) -> Result<(), ClusterError> {
        let refused = |message: String| ClusterError::Refused {
            node: node.node.to_owned(),
            message,
        };
        let transient = |message: String| ClusterError::Node {
            node: node.node.to_owned(),
            message,
        };
        let body =
            serde_json::json!({ "config": config, "gpus": gpus, "drained": drained }).to_string();
        let mut answer = self
            .request(node, "POST", "/v1/apply", Some(body.clone()))
            .await?;
        for _ in 0..300 {
            if answer.0 != 409 || !answer.1.contains("\"busy\"") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = self
                .request(node, "POST", "/v1/apply", Some(body.clone()))
                .await?;
        }
        let (status, answer) = answer;
        let value: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        match status {
            202 => {}
            409 if value["error"]["code"] == "in_use" => {
                let busy = serde_json::from_value::<Vec<BusyInstance>>(
                    value["error"]["instances"].clone(),
                )
                .unwrap_or_default();
                return Err(ClusterError::InUse {
                    node: node.node.to_owned(),
                    busy,
                });
            }
            409 => return Err(transient(format!("applying {config}: {answer}"))),
            400..=499 => {
                let message = value["error"]["message"]
                    .as_str()
                    .map_or(answer.clone(), str::to_owned);
                return Err(refused(format!(
                    "applying {config}: HTTP {status}: {message}"
                )));
            }
            _ => {
                return Err(transient(format!(
                    "applying {config}: HTTP {status}: {answer}"
                )));
            }
        }
        let id = value["operation"]
            .as_u64()
            .ok_or_else(|| transient(format!("applying {config}: unexpected answer {answer}")))?;
        // Real MIG changes take seconds per GPU; give up (transiently) after ten minutes.
        for _ in 0..12_000 {
            let (_, op) = self
                .request(node, "GET", &format!("/v1/operations/{id}"), None)
                .await?;
            let op: serde_json::Value = serde_json::from_str(&op).unwrap_or_default();
            match op["status"].as_str() {
                Some("running") => tokio::time::sleep(Duration::from_millis(50)).await,
                Some("succeeded") => return Ok(()),
                Some("failed") => {
                    let errors: Vec<String> = op["gpus"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|g| Some(format!("GPU {}: {}", g["gpu"], g["error"].as_str()?)))
                        .collect();
                    return Err(refused(format!("applying {config}: {}", errors.join("; "))));
                }
                _ => {
                    return Err(transient(format!(
                        "applying {config}: operation {id}: {op}"
                    )));
                }
            }
        }
        Err(transient(format!(
            "applying {config}: still running after 10 minutes"
        )))
    }

    /// The node's GPUs, as its agent reports them.
    ///
    /// # Errors
    /// Why the inventory could not be read, in words.
    pub async fn inventory(
        &self,
        node: &Endpoint<'_>,
    ) -> Result<Vec<mig::wire::InventoryGpu>, String> {
        match self.request(node, "GET", "/v1/inventory", None).await {
            Ok((200, body)) => serde_json::from_str::<mig::wire::Inventory>(&body)
                .map(|inv| inv.gpus)
                .map_err(|e| format!("unreadable inventory: {e}")),
            Ok((status, body)) => Err(format!("inventory: HTTP {status}: {body}")),
            Err(e) => Err(e.to_string()),
        }
    }
}
