//! The Kubernetes backend (`--cluster kubernetes`): the fleet is the cluster's GPU nodes, MIG changes go
//! through migboard's node agent (a DaemonSet) or NVIDIA's mig-manager, workloads are Deployments and
//! Jobs that ask the device plugin for a slice (`nvidia.com/mig-1g.10gb`).
//!
//! It keeps the conventions GPU platform teams already run, so `kubectl` and NVIDIA's tooling read the
//! same state migboard does:
//! - GPU Feature Discovery's labels: `nvidia.com/gpu.product` (model), `nvidia.com/gpu.count`;
//! - the GPU Operator's MIG protocol: `nvidia.com/mig.config` (the named config) and
//!   `nvidia.com/mig.config.state` (`pending` → `success` | `failed`), with the device plugin paused
//!   (`nvidia.com/gpu.deploy.device-plugin=paused-for-mig-change`) while instances change;
//! - the device plugin's mixed strategy: free slices are the node's allocatable `nvidia.com/mig-<profile>`
//!   minus what its pods request.
//!
//! Nodes and pods are read from reflector caches fed by watches (no polling); writes are merge patches,
//! evictions (so PodDisruptionBudgets hold) and server-side apply. What it deliberately does not do:
//! create nodes (node pools are the cloud provider's), or pick a slice for a pod (the scheduler does).

pub mod lease;
mod workload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Node as KubeNode, Pod};
use kube::ResourceExt as _;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use mig::agent_api::{ApplyRequest, ApplyTarget, BusySlice, InventoryGpu};
use mig::blueprint::Catalogue;

use super::agent::{AgentClient, AgentCredential, Endpoint};
use super::{
    BoxFuture, Cluster, ClusterError, ClusterWorkload, Fleet, FleetNodeInfo, FleetPoolInfo,
    NewNode, Scheduling, WorkloadRequest, WorkloadStatus,
};

/// The named MIG config a node should have (the GPU Operator's mig-manager reads it).
pub const MIG_CONFIG: &str = "nvidia.com/mig.config";
/// Where a MIG change stands: `pending`, `rebooting`, `success`, `failed`.
pub const MIG_STATE: &str = "nvidia.com/mig.config.state";
/// Whether the GPU Operator runs the device plugin on a node.
pub const DEVICE_PLUGIN: &str = "nvidia.com/gpu.deploy.device-plugin";
/// The value mig-manager sets on [`DEVICE_PLUGIN`] while it changes MIG instances.
pub const PAUSED: &str = "paused-for-mig-change";
/// GPU Feature Discovery's product label (`NVIDIA-H100-80GB-HBM3`).
pub const GPU_PRODUCT: &str = "nvidia.com/gpu.product";
/// GPU Feature Discovery's GPU count label.
pub const GPU_COUNT: &str = "nvidia.com/gpu.count";
/// The node's instance type (OKE: the shape, `BM.GPU.H100.8`).
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// OKE's node pool label, the default pool label.
pub const OKE_POOL: &str = "oke.oraclecloud.com/pool.name";
/// migboard's own pool label, read when the configured one is absent.
pub const MIGBOARD_POOL: &str = "migboard.io/pool";
/// Set on a node migboard cordoned for a drain, so it uncordons only what it cordoned.
pub const CORDONED_BY: &str = "migboard.io/cordoned";
/// The device plugin label's value before migboard paused it (restored afterwards).
pub const PLUGIN_WAS: &str = "migboard.io/device-plugin-was";

/// Who changes MIG instances on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyMode {
    /// migboard's agent (the DaemonSet in `deploy/kubernetes`), with the GPU Operator's label protocol.
    Agent,
    /// NVIDIA's mig-manager (the GPU Operator's own): migboard sets `nvidia.com/mig.config` and watches
    /// `nvidia.com/mig.config.state`.
    MigManager,
}

/// How the backend finds and treats things in the cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// Namespace of migboard's server: its leader Lease and events.
    pub namespace: String,
    /// Namespace of the node agents (their own: the agent's host folder needs a `privileged` pod
    /// security level, which the server's namespace does not grant).
    pub agent_namespace: String,
    /// Namespace blueprints' workloads are created in.
    pub workload_namespace: String,
    /// Node label naming a node's pool; [`MIGBOARD_POOL`] is read when a node lacks it.
    pub pool_label: String,
    /// Which nodes are GPU nodes (a label selector).
    pub node_selector: String,
    /// The agent pods (a label selector, in [`Options::agent_namespace`]).
    pub agent_selector: String,
    /// The agent's port when its pod names none (`agent`).
    pub agent_port: u16,
    /// How the server proves itself to agents: requests signed per node (the manifests' way), or a
    /// bearer token all agents share.
    pub agent_credential: AgentCredential,
    /// Who applies MIG changes.
    pub apply_mode: ApplyMode,
    /// How long evictions may take (PodDisruptionBudgets may hold them) before a drain gives up.
    pub drain_timeout: Duration,
    /// How long mig-manager may take to report `success` or `failed`.
    pub apply_timeout: Duration,
    /// Pause between retries (a blocked eviction, a state not yet reported).
    pub poll: Duration,
    /// With [`ApplyMode::MigManager`]: the ConfigMap (namespace, name) mig-manager reads its
    /// mig-parted file from (the GPU Operator's `migManager.config.name`, key `config.yaml`), where
    /// migboard writes custom configs next to NVIDIA's defaults.
    pub mig_parted_configmap: (String, String),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: "migboard".into(),
            agent_namespace: "migboard-agent".into(),
            workload_namespace: "migboard-workloads".into(),
            pool_label: OKE_POOL.into(),
            node_selector: "nvidia.com/gpu.present=true".into(),
            agent_selector: "app.kubernetes.io/name=migboard-agent".into(),
            agent_port: 9400,
            agent_credential: AgentCredential::default(),
            apply_mode: ApplyMode::Agent,
            drain_timeout: Duration::from_secs(300),
            apply_timeout: Duration::from_secs(600),
            poll: Duration::from_secs(2),
            mig_parted_configmap: ("gpu-operator".into(), "custom-mig-config".into()),
        }
    }
}

/// The Kubernetes backend.
pub struct Kubernetes {
    client: kube::Client,
    /// The same connection settings without kube's retrying of 429s: an eviction a
    /// PodDisruptionBudget refuses is answered 429, and the drain loop must see it to keep its own
    /// deadline (kube would retry it with backoff for many minutes).
    evictions: kube::Client,
    options: Options,
    nodes: Store<KubeNode>,
    pods: Store<Pod>,
    workloads: workload::Watched,
    catalogue: crate::catalogue::SharedCatalogue,
    agents: AgentClient,
    watches: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubernetes")
            .field("options", &self.options)
            .field("nodes", &self.nodes.state().len())
            .finish_non_exhaustive()
    }
}

impl Drop for Kubernetes {
    fn drop(&mut self) {
        for w in &self.watches {
            w.abort();
        }
    }
}

fn api_error(what: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{what}: {} ({})", s.message, s.code),
        other => format!("{what}: {other}"),
    }
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Starts a watch feeding a reflector cache; errors are logged and the watch backs off and resumes.
fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    let task = tokio::spawn(async move {
        stream
            .for_each(|event| async move {
                if let Err(e) = event {
                    tracing::warn!(watch = what, error = %e, "watch failed; retrying with backoff");
                }
            })
            .await;
    });
    (reader, task)
}

/// What the pod cache keeps of a pod, if anything: only pods that ask for GPUs (`nvidia.com/gpu`,
/// `nvidia.com/mig-*`), and of those only what [`fleet_of`] reads — name, namespace, node, phase
/// and the GPU resources of each container. A cluster's other pods (thousands, each a few KiB of
/// spec and status) are never held: drains list a node's pods from the API when they need them.
#[must_use]
pub fn slim_gpu_pod(p: &Pod) -> Option<Pod> {
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus, ResourceRequirements};
    if gpu_requests(p).is_empty() {
        return None;
    }
    let gpu_only = |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
        m.as_ref().map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("nvidia.com/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    };
    let slim = |c: &Container| Container {
        name: c.name.clone(),
        resources: c.resources.as_ref().map(|r| ResourceRequirements {
            limits: gpu_only(&r.limits),
            requests: gpu_only(&r.requests),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    };
    let spec = p.spec.as_ref()?;
    Some(Pod {
        metadata: kube::api::ObjectMeta {
            name: p.metadata.name.clone(),
            namespace: p.metadata.namespace.clone(),
            uid: p.metadata.uid.clone(),
            ..kube::api::ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: spec.node_name.clone(),
            containers: spec.containers.iter().map(slim).collect(),
            init_containers: spec.init_containers.as_ref().map(|c| c.iter().map(slim).collect()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: p.status.as_ref().and_then(|s| s.phase.clone()),
            ..PodStatus::default()
        }),
    })
}

/// The pod watch feeding a cache of GPU pods only, each slimmed ([`slim_gpu_pod`]): a pod that
/// stops asking for GPUs (or is replaced by one that does not) leaves the cache.
fn reflect_gpu_pods(
    api: Api<Pod>,
    config: watcher::Config,
) -> (Store<Pod>, tokio::task::JoinHandle<()>) {
    let (reader, mut writer) = reflector::store::<Pod>();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(watch = "pods", error = %e, "watch failed; retrying with backoff");
                    continue;
                }
            };
            let event = match event {
                watcher::Event::Apply(p) => match slim_gpu_pod(&p) {
                    Some(slim) => watcher::Event::Apply(slim),
                    // Not (or no longer) a GPU pod: out of the cache if it was in.
                    None => watcher::Event::Delete(p),
                },
                watcher::Event::InitApply(p) => match slim_gpu_pod(&p) {
                    Some(slim) => watcher::Event::InitApply(slim),
                    None => continue,
                },
                other => other,
            };
            writer.apply_watcher_event(&event);
        }
    });
    (reader, task)
}

impl Kubernetes {
    /// Pods in the pod cache: the cluster's GPU pods, not all its pods.
    #[must_use]
    pub fn cached_pods(&self) -> usize {
        self.pods.state().len()
    }

    /// Connects: checks that nodes and pods can be listed (RBAC), then starts their watches and waits
    /// for the first full list.
    ///
    /// # Errors
    /// [`ClusterError::Start`] saying which call failed and what to check.
    pub async fn start(
        config: kube::Config,
        options: Options,
        catalogue: crate::catalogue::SharedCatalogue,
    ) -> Result<Self, ClusterError> {
        let start = |m: String| ClusterError::Start(format!("kubernetes: {m}"));
        let client = kube::Client::try_from(config.clone())
            .map_err(|e| start(format!("building the client: {e}")))?;
        let mut no_retry = config;
        no_retry.default_retry = false;
        let evictions = kube::Client::try_from(no_retry)
            .map_err(|e| start(format!("building the client: {e}")))?;
        let nodes: Api<KubeNode> = Api::all(client.clone());
        nodes
            .list(
                &ListParams::default()
                    .labels(&options.node_selector)
                    .limit(1),
            )
            .await
            .map_err(|e| {
                start(api_error(
                    "listing nodes (check the API server address and the ClusterRole's nodes list)",
                    &e,
                ))
            })?;
        let pods: Api<Pod> = Api::all(client.clone());
        pods.list(&ListParams::default().limit(1))
            .await
            .map_err(|e| {
                start(api_error(
                    "listing pods (check the ClusterRole's pods list)",
                    &e,
                ))
            })?;
        let (node_store, node_watch) = reflect(
            nodes,
            watcher::Config::default().labels(&options.node_selector),
            "nodes",
        );
        let (pod_store, pod_watch) = reflect_gpu_pods(
            pods,
            watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed"),
        );
        // migboard's own workloads, for the monitor; not waited for (an answer the watch has not
        // delivered yet is read from the API).
        let labelled = watcher::Config::default().labels(workload::DEPLOYMENT_ID);
        let (deployments, deployment_watch) = reflect(
            Api::namespaced(client.clone(), &options.workload_namespace),
            labelled.clone(),
            "workload deployments",
        );
        let (jobs, job_watch) = reflect(
            Api::namespaced(client.clone(), &options.workload_namespace),
            labelled,
            "workload jobs",
        );
        let this = Self {
            client,
            evictions,
            options,
            nodes: node_store,
            pods: pod_store,
            workloads: workload::Watched { deployments, jobs },
            catalogue,
            agents: AgentClient::default(),
            watches: vec![node_watch, pod_watch, deployment_watch, job_watch],
        };
        let ready = async {
            this.nodes.wait_until_ready().await.ok();
            this.pods.wait_until_ready().await.ok();
        };
        tokio::time::timeout(Duration::from_secs(60), ready)
            .await
            .map_err(|_| {
                start("the node and pod watches did not deliver a first list within 60 s".into())
            })?;
        Ok(this)
    }

    /// The client (for leader election on the same connection).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    fn node_api(&self) -> Api<KubeNode> {
        Api::all(self.client.clone())
    }

    async fn patch_node(&self, node: &str, patch: serde_json::Value) -> Result<(), ClusterError> {
        self.node_api()
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| node_error(node, &api_error("patching the node", &e), &e))
    }

    async fn get_node(&self, node: &str) -> Result<KubeNode, ClusterError> {
        match self.node_api().get_opt(node).await {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(ClusterError::NoSuchNode(node.to_owned())),
            Err(e) => Err(node_error(node, &api_error("reading the node", &e), &e)),
        }
    }

    /// The GPU pods on `node`, read from the API (not the cache: a drain must see the latest).
    async fn gpu_pods(&self, node: &str) -> Result<Vec<Pod>, ClusterError> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let list = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await
            .map_err(|e| node_error(node, &api_error("listing the node's pods", &e), &e))?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| is_live(p) && !is_daemon(p) && !gpu_requests(p).is_empty())
            .collect())
    }

    /// The base URL of the agent pod on `node`.
    async fn agent_url(&self, node: &str) -> Result<String, ClusterError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.options.agent_namespace);
        let list = pods
            .list(
                &ListParams::default()
                    .labels(&self.options.agent_selector)
                    .fields(&format!("spec.nodeName={node}")),
            )
            .await
            .map_err(|e| node_error(node, &api_error("finding the node's agent pod", &e), &e))?;
        let pod = list
            .items
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some())
            .ok_or_else(|| ClusterError::Node {
                node: node.to_owned(),
                message: format!(
                    "no running migboard agent pod ({}) in namespace {}: is the DaemonSet scheduled there (GPU node selector, taints), and is --agent-namespace its namespace?",
                    self.options.agent_selector, self.options.agent_namespace
                ),
            })?;
        let ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_default();
        let port = pod
            .spec
            .as_ref()
            .into_iter()
            .flat_map(|s| &s.containers)
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some("agent"))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .unwrap_or(self.options.agent_port);
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip
        };
        Ok(format!("http://{host}:{port}"))
    }

    /// Cordons `node` (remembering that migboard did) and evicts its GPU pods through the Eviction
    /// API, retrying those a PodDisruptionBudget holds, until they are gone or the drain times out.
    async fn drain(&self, current: &KubeNode, pods: Vec<Pod>) -> Result<(), ClusterError> {
        let node = current.name_any();
        let node = node.as_str();
        let unschedulable = current
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if !unschedulable {
            self.patch_node(
                node,
                serde_json::json!({
                    "metadata": {"annotations": {CORDONED_BY: "true"}},
                    "spec": {"unschedulable": true}
                }),
            )
            .await?;
            tracing::info!(%node, "cordoned for a MIG change");
        }
        let deadline = Instant::now() + self.options.drain_timeout;
        let mut left = pods;
        loop {
            let mut blocked = Vec::new();
            for pod in &left {
                let ns = pod.namespace().unwrap_or_default();
                let name = pod.name_any();
                let api: Api<Pod> = Api::namespaced(self.evictions.clone(), &ns);
                match api.evict(&name, &EvictParams::default()).await {
                    Ok(_) => {
                        tracing::info!(%node, pod = %format!("{ns}/{name}"), "evicted");
                        self.event(
                            node,
                            false,
                            "EvictedForMigChange",
                            &format!(
                                "migboard evicted {ns}/{name} to change the node's MIG layout"
                            ),
                        )
                        .await;
                    }
                    Err(e) if status_code(&e) == Some(404) => {}
                    Err(e) if status_code(&e) == Some(429) => {
                        blocked.push(format!(
                            "{ns}/{name}: {}",
                            api_error("eviction refused", &e)
                        ));
                    }
                    Err(e) => {
                        return Err(node_error(
                            node,
                            &api_error(&format!("evicting {ns}/{name}"), &e),
                            &e,
                        ));
                    }
                }
            }
            left = self.gpu_pods(node).await?;
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let why = if blocked.is_empty() {
                    format!("still running: {}", pod_names(&left).join(", "))
                } else {
                    format!("a PodDisruptionBudget holds {}", blocked.join("; "))
                };
                self.uncordon(node).await;
                return Err(ClusterError::Refused {
                    node: node.to_owned(),
                    message: format!(
                        "drain timed out after {} s: {why}. Nothing was changed; the node is schedulable again",
                        self.options.drain_timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(self.options.poll).await;
        }
    }

    /// Records a Kubernetes Event on `node` (`kubectl describe node` lists it). Logged, not returned:
    /// an event that cannot be written must not fail the change it reports.
    async fn event(&self, node: &str, warning: bool, reason: &str, message: &str) {
        use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{node}.migboard.")),
                namespace: Some(self.options.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.to_owned()),
                ..ObjectReference::default()
            },
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            source: Some(EventSource {
                component: Some("migboard".into()),
                host: None,
            }),
            reporting_component: Some("migboard".into()),
            reporting_instance: std::env::var("POD_NAME").ok(),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.options.namespace);
        if let Err(e) = api.create(&kube::api::PostParams::default(), &event).await {
            tracing::warn!(%node, %reason, error = %e, "cannot record a Kubernetes event");
        }
    }

    /// Makes `node` schedulable again if migboard cordoned it. Logged, not returned: it runs on the
    /// way out of both success and failure.
    async fn uncordon(&self, node: &str) {
        let ours = self
            .get_node(node)
            .await
            .ok()
            .is_some_and(|n| n.annotations().contains_key(CORDONED_BY));
        if !ours {
            return;
        }
        let patch = serde_json::json!({
            "metadata": {"annotations": {CORDONED_BY: null}},
            "spec": {"unschedulable": null}
        });
        match self.patch_node(node, patch).await {
            Ok(()) => tracing::info!(%node, "uncordoned"),
            Err(e) => {
                tracing::error!(%node, error = %e, "cannot uncordon the node; run `kubectl uncordon {node}`")
            }
        }
    }

    /// Ends a MIG change: `state` (`success`/`failed`) and the device plugin as it was. Tried a few
    /// times, since a node left paused would have no GPUs to offer.
    async fn finish(
        &self,
        node: &str,
        state: &str,
        plugin_was: Option<&str>,
    ) -> Result<(), ClusterError> {
        let patch = serde_json::json!({
            "metadata": {
                "labels": {MIG_STATE: state, DEVICE_PLUGIN: plugin_was},
                "annotations": {PLUGIN_WAS: null}
            }
        });
        let mut last = None;
        for _ in 0..5 {
            match self.patch_node(node, patch.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(self.options.poll).await;
        }
        let e = last.map(|e| e.to_string()).unwrap_or_default();
        tracing::error!(%node, error = %e, "cannot restore the device plugin label after a MIG change");
        Err(ClusterError::Node {
            node: node.to_owned(),
            message: format!(
                "the MIG change ended ({state}) but restoring {DEVICE_PLUGIN} failed: {e}; migboard retries the deployment"
            ),
        })
    }

    /// The MIG-capable model of `current`, from GPU Feature Discovery's product label.
    fn model_of(node: &str, current: &KubeNode) -> Result<mig::GpuModel, ClusterError> {
        current
            .labels()
            .get(GPU_PRODUCT)
            .and_then(|p| mig::GpuModel::from_product_name(p))
            .ok_or_else(|| ClusterError::Refused {
                node: node.to_owned(),
                message: format!(
                    "its {GPU_PRODUCT} label is missing or names no MIG-capable GPU (is GPU Feature Discovery running?)"
                ),
            })
    }

    /// Applies config `config` (looked up in the catalogue: a custom one at its current version).
    async fn apply_node(
        &self,
        node: &str,
        config: &str,
        drained: bool,
    ) -> Result<super::Applied, ClusterError> {
        let current = self.get_node(node).await?;
        let model = Self::model_of(node, &current)?;
        let catalogue = self.catalogue.get();
        let Some(named) = catalogue.config(model, config) else {
            return Err(ClusterError::Refused {
                node: node.to_owned(),
                message: format!(
                    "{config} is not a named config of {}",
                    model.spec().display_name
                ),
            });
        };
        self.apply_named(node, named, current, drained).await
    }

    /// Applies `named` to `node` (labels, drain, device plugin pause, agent or mig-manager).
    async fn apply_named(
        &self,
        node: &str,
        named: &mig::NamedConfig,
        current: KubeNode,
        drained: bool,
    ) -> Result<super::Applied, ClusterError> {
        let config = named.name.as_str();
        let model = Self::model_of(node, &current)?;
        // Already so: no drain, no device plugin pause (resuming a deployment re-applies).
        if self.already_applied(node, model, &current, named).await {
            // A drain interrupted before may have left it cordoned by migboard.
            self.uncordon(node).await;
            return Ok(super::Applied::default());
        }
        let pods = self.gpu_pods(node).await?;
        if !pods.is_empty() {
            if !drained {
                return Err(ClusterError::PodsRunning {
                    node: node.to_owned(),
                    pods: pod_names(&pods),
                });
            }
            self.drain(&current, pods).await?;
        }
        let result = match self.options.apply_mode {
            ApplyMode::Agent => self.apply_with_agent(node, model, named, &current).await,
            ApplyMode::MigManager => {
                if named.custom.is_some() {
                    self.write_mig_parted(node, model, named).await?;
                }
                self.apply_with_mig_manager(node, config)
                    .await
                    .map(|()| super::Applied::default())
            }
        };
        self.uncordon(node).await;
        result
    }

    /// Whether `node` has `config` already: its agent's inventory has the config's instances on every
    /// GPU (mig-manager mode: its labels say `success` for it). Then only the labels are made to say so.
    async fn already_applied(
        &self,
        node: &str,
        model: mig::GpuModel,
        current: &KubeNode,
        named: &mig::NamedConfig,
    ) -> bool {
        let config = named.name.as_str();
        let labels = current.labels();
        let labelled = labels.get(MIG_CONFIG).map(String::as_str) == Some(config)
            && labels.get(MIG_STATE).map(String::as_str) == Some("success");
        if self.options.apply_mode == ApplyMode::MigManager {
            return labelled;
        }
        // A change interrupted with the device plugin paused must run its ending, whatever the GPUs say.
        if labels.get(DEVICE_PLUGIN).map(String::as_str) == Some(PAUSED) {
            return false;
        }
        let Ok(url) = self.agent_url(node).await else {
            return false;
        };
        let endpoint = Endpoint {
            node,
            url: &url,
            credential: &self.options.agent_credential,
        };
        let Ok(gpus) = self.agents.inventory(&endpoint).await else {
            return false;
        };
        let matches = named.matched_by(model, &gpus);
        if matches && !labelled {
            let patch = serde_json::json!({"metadata": {"labels": {MIG_CONFIG: config, MIG_STATE: "success"}}});
            if let Err(e) = self.patch_node(node, patch).await {
                tracing::warn!(%node, error = %e, "cannot label a node with the config it has");
                return false;
            }
        }
        matches
    }

    async fn apply_with_agent(
        &self,
        node: &str,
        model: mig::GpuModel,
        named: &mig::NamedConfig,
        current: &KubeNode,
    ) -> Result<super::Applied, ClusterError> {
        let config = named.name.as_str();
        let labels = current.labels();
        // A change interrupted earlier left the plugin paused: what it was before is in our annotation.
        let plugin_was: Option<String> = match labels.get(DEVICE_PLUGIN).map(String::as_str) {
            Some(PAUSED) => current
                .annotations()
                .get(PLUGIN_WAS)
                .cloned()
                .filter(|v| !v.is_empty()),
            Some(v) => Some(v.to_owned()),
            None => None,
        };
        self.patch_node(
            node,
            serde_json::json!({
                "metadata": {
                    "labels": {MIG_CONFIG: config, MIG_STATE: "pending", DEVICE_PLUGIN: PAUSED},
                    "annotations": {PLUGIN_WAS: plugin_was.clone().unwrap_or_default()}
                }
            }),
        )
        .await?;
        tracing::info!(%node, %config, "MIG change pending; device plugin paused");
        let applied = async {
            let url = self.agent_url(node).await?;
            let endpoint = Endpoint {
                node,
                url: &url,
                credential: &self.options.agent_credential,
            };
            let mut reset_pending = Vec::new();
            for request in self.requests_for(&endpoint, model, named).await? {
                let op = self
                    .agents
                    // The node runs no GPU pod now (none ran, or they were drained): its GPUs
                    // may be reset for a MIG mode change; the agent refuses if processes remain.
                    .apply(&endpoint, &request.with_reset(true))
                    .await?;
                reset_pending.extend(op.reset_required());
            }
            Ok::<_, ClusterError>(super::Applied { reset_pending })
        }
        .await;
        // As mig-manager: a mode change that waits for a GPU reset is `rebooting`, never `success`.
        let state = match &applied {
            Ok(a) if !a.reset_pending.is_empty() => "rebooting",
            Ok(_) => "success",
            Err(_) => "failed",
        };
        let restored = self.finish(node, state, plugin_was.as_deref()).await;
        match &applied {
            Ok(a) if !a.reset_pending.is_empty() => {
                tracing::warn!(%node, %config, gpus = ?a.reset_pending, "MIG mode change waits for a GPU reset");
                self.event(
                    node,
                    true,
                    "MigConfigResetRequired",
                    &format!(
                        "migboard applied MIG config {config} as far as it goes: GPU(s) {:?} need a reset (drain the node and reset them, or reboot it)",
                        a.reset_pending
                    ),
                )
                .await;
            }
            Ok(_) => {
                tracing::info!(%node, %config, "MIG change applied");
                self.event(
                    node,
                    false,
                    "MigConfigApplied",
                    &format!("migboard applied MIG config {config}"),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(%node, %config, error = %e, "MIG change failed; device plugin restored");
                self.event(
                    node,
                    true,
                    "MigConfigFailed",
                    &format!("migboard could not apply MIG config {config}: {e}"),
                )
                .await;
            }
        }
        let applied = applied?;
        restored?;
        Ok(applied)
    }

    /// The agent requests that give `node` config `named`: a built-in by name (the agent resolves
    /// it), a custom config's exact placements per GPU (and `all-disabled` for GPUs it turns MIG
    /// off on), for the GPUs the node's agent reports.
    async fn requests_for(
        &self,
        endpoint: &Endpoint<'_>,
        model: mig::GpuModel,
        named: &mig::NamedConfig,
    ) -> Result<Vec<ApplyRequest>, ClusterError> {
        if named.custom.is_none() {
            return Ok(vec![ApplyRequest::new(
                ApplyTarget::Named(named.name.clone()),
                &[],
                true,
            )]);
        }
        let refused = |message: String| ClusterError::Refused {
            node: endpoint.node.to_owned(),
            message,
        };
        let gpus = self
            .agents
            .inventory(endpoint)
            .await
            .map_err(|message| ClusterError::Node {
                node: endpoint.node.to_owned(),
                message: format!(
                    "reading its GPUs for custom config {}: {message}",
                    named.name
                ),
            })?;
        let mut per_gpu = std::collections::BTreeMap::new();
        let mut disabled = Vec::new();
        for g in &gpus {
            match named.gpu_want(model, g.index).map_err(refused)? {
                mig::GpuWant::Untouched => {}
                mig::GpuWant::Disabled => disabled.push(g.index),
                mig::GpuWant::Layout(l) => {
                    per_gpu.insert(g.index, l.to_specs());
                }
            }
        }
        let mut out = Vec::new();
        if !per_gpu.is_empty() {
            out.push(ApplyRequest::new(ApplyTarget::PerGpu(per_gpu), &[], true));
        }
        if !disabled.is_empty() {
            out.push(ApplyRequest::new(
                ApplyTarget::Named("all-disabled".into()),
                &disabled,
                true,
            ));
        }
        Ok(out)
    }

    /// Writes custom config `named` (for `model`) into the mig-parted ConfigMap mig-manager reads,
    /// keeping what the file has (NVIDIA's defaults when it does not exist yet, so the built-in
    /// names keep working: mig-manager reads only this file once it is configured). mig-parted files
    /// carry counts, so mig-manager places the instances itself.
    async fn write_mig_parted(
        &self,
        node: &str,
        model: mig::GpuModel,
        named: &mig::NamedConfig,
    ) -> Result<(), ClusterError> {
        const KEY: &str = "config.yaml";
        let (ns, name) = &self.options.mig_parted_configmap;
        let refused = |message: String| ClusterError::Refused {
            node: node.to_owned(),
            message,
        };
        let custom = named
            .custom
            .as_ref()
            .ok_or_else(|| refused(format!("{} is not a custom config", named.name)))?;
        let config = mig::RawCustomConfig {
            name: named.name.clone(),
            model: model.id().to_owned(),
            description: custom.description.clone(),
            devices: custom.devices.clone(),
        }
        .validate(|_| false)
        .map_err(|issues| {
            refused(format!(
                "custom config {} is not valid on {model}: {}",
                named.name,
                issues
                    .iter()
                    .map(|i| i.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let transient = |what: &str, e: &kube::Error| ClusterError::Node {
            node: node.to_owned(),
            message: api_error(
                &format!(
                    "{what} ConfigMap {ns}/{name} (mig-manager's mig-parted file; check the Role in {ns})"
                ),
                e,
            ),
        };
        let existing = api
            .get_opt(name)
            .await
            .map_err(|e| transient("reading", &e))?;
        let mut file = match existing
            .as_ref()
            .and_then(|c| c.data.as_ref()?.get(KEY).cloned())
        {
            Some(text) => mig::MigPartedConfig::parse(&text).map_err(|e| {
                refused(format!(
                    "ConfigMap {ns}/{name} key {KEY} is not a mig-parted file migboard can extend: {e}"
                ))
            })?,
            None => mig::MigPartedConfig::default_configs()
                .map_err(|e| refused(format!("NVIDIA's default configs: {e}")))?,
        };
        file.configs.extend(config.to_parted().configs);
        let yaml = format!(
            "# mig-parted file for NVIDIA mig-manager. migboard keeps NVIDIA's default configs here and adds\n# its custom ones (counts per profile: mig-manager places the instances itself).\n{}",
            file.to_yaml()
        );
        let pp = kube::api::PostParams::default();
        let written = match existing {
            Some(mut cm) => {
                cm.data
                    .get_or_insert_with(BTreeMap::new)
                    .insert(KEY.to_owned(), yaml);
                api.replace(name, &pp, &cm).await
            }
            None => {
                let cm = ConfigMap {
                    metadata: kube::api::ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(ns.clone()),
                        labels: Some(BTreeMap::from([(
                            "app.kubernetes.io/managed-by".to_owned(),
                            "migboard".to_owned(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(KEY.to_owned(), yaml)])),
                    ..Default::default()
                };
                api.create(&pp, &cm).await
            }
        };
        written.map_err(|e| transient("writing", &e))?;
        tracing::info!(%node, config = %named.name, configmap = %format!("{ns}/{name}"), "custom MIG config written for mig-manager");
        Ok(())
    }

    /// Hands `config` to NVIDIA's mig-manager (a node already on it never gets here:
    /// [`Kubernetes::already_applied`]) and waits for its verdict.
    async fn apply_with_mig_manager(&self, node: &str, config: &str) -> Result<(), ClusterError> {
        // The state goes to pending with the config, so a `success` read afterwards is mig-manager's
        // answer to this config, not one left from the previous (it sets pending itself as it starts).
        self.patch_node(
            node,
            serde_json::json!({"metadata": {"labels": {MIG_CONFIG: config, MIG_STATE: "pending"}}}),
        )
        .await?;
        let deadline = Instant::now() + self.options.apply_timeout;
        loop {
            tokio::time::sleep(self.options.poll).await;
            let n = self.get_node(node).await?;
            let labels = n.labels();
            let state = labels.get(MIG_STATE).map(String::as_str);
            match state {
                Some("success") => return Ok(()),
                Some("failed") => {
                    return Err(ClusterError::Refused {
                        node: node.to_owned(),
                        message: format!(
                            "NVIDIA mig-manager reported {MIG_STATE}=failed for {config}; its pod log on the node says why"
                        ),
                    });
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                // mig-manager can stay pending forever (NVIDIA/mig-parted#485): do not leave the node
                // without its device plugin.
                let paused = labels.get(DEVICE_PLUGIN).map(String::as_str) == Some(PAUSED);
                self.finish(
                    node,
                    "failed",
                    paused
                        .then_some("true")
                        .or(labels.get(DEVICE_PLUGIN).map(String::as_str)),
                )
                .await?;
                return Err(ClusterError::Refused {
                    node: node.to_owned(),
                    message: format!(
                        "NVIDIA mig-manager did not finish {config} within {} s ({MIG_STATE}={}); migboard set it to failed and restored the device plugin",
                        self.options.apply_timeout.as_secs(),
                        state.unwrap_or("unset")
                    ),
                });
            }
        }
    }
}

/// An API error about `node`: gone ([`ClusterError::NoSuchNode`]), else as [`api_failure`].
fn node_error(node: &str, message: &str, e: &kube::Error) -> ClusterError {
    match status_code(e) {
        Some(404) => ClusterError::NoSuchNode(node.to_owned()),
        _ => api_failure(node, message.to_owned(), e),
    }
}

/// An API error as the orchestrator treats it: a 4xx other than a conflict or throttling will not
/// pass by retrying ([`ClusterError::Refused`]); anything else may ([`ClusterError::Node`]).
fn api_failure(node: &str, message: String, e: &kube::Error) -> ClusterError {
    let node = node.to_owned();
    match status_code(e) {
        Some(c) if (400..500).contains(&c) && c != 409 && c != 429 => {
            ClusterError::Refused { node, message }
        }
        _ => ClusterError::Node { node, message },
    }
}

/// A pod that holds its resources: not finished. A terminating pod still does until it is gone.
fn is_live(p: &Pod) -> bool {
    !matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn is_daemon(p: &Pod) -> bool {
    p.owner_references().iter().any(|o| o.kind == "DaemonSet")
}

/// The GPU resources a pod's containers ask for: `nvidia.com/gpu`, `nvidia.com/mig-*` → count.
pub fn gpu_requests(p: &Pod) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let containers = p.spec.iter().flat_map(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
    });
    for c in containers {
        let Some(r) = &c.resources else { continue };
        // Extended resources: a request must equal the limit, and either alone sets both.
        let asked = r.limits.as_ref().or(r.requests.as_ref());
        for (name, q) in asked.into_iter().flatten() {
            if name == "nvidia.com/gpu" || name.starts_with("nvidia.com/mig-") {
                let n = q.0.parse::<u32>().unwrap_or(0);
                *out.entry(name.clone()).or_insert(0) += n;
            }
        }
    }
    out.retain(|_, n| *n > 0);
    out
}

fn pod_names(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .map(|p| {
            let asked: Vec<String> = gpu_requests(p)
                .into_iter()
                .map(|(r, n)| if n == 1 { r } else { format!("{n} × {r}") })
                .collect();
            format!(
                "{}/{} ({})",
                p.namespace().unwrap_or_default(),
                p.name_any(),
                asked.join(", ")
            )
        })
        .collect()
}

/// `nvidia.com/mig.config.state` when a change is not plainly done (`pending`, `rebooting`, `failed`).
fn mig_state(labels: &BTreeMap<String, String>) -> Option<String> {
    labels
        .get(MIG_STATE)
        .filter(|s| s.as_str() != "success")
        .cloned()
}

/// The labels of a Node that the node page shows: NVIDIA's (`nvidia.com/…`), migboard's, the pool
/// label and the instance type; not the dozens of others a Node carries.
fn shown_labels(labels: &BTreeMap<String, String>, pool_label: &str) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| {
            k.starts_with("nvidia.com/")
                || k.starts_with("migboard.io/")
                || *k == pool_label
                || *k == INSTANCE_TYPE
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The fleet as the cluster's labels and resources describe it.
///
/// Each node's GPUs are laid out by its `nvidia.com/mig.config` (or, without it, the named config
/// whose slices match what the node advertises); a slice is busy when a pod requests it or the
/// device plugin does not advertise it (paused, or the layout differs from the label).
pub fn fleet_of(
    nodes: &[Arc<KubeNode>],
    pods: &[Arc<Pod>],
    pool_label: &str,
    catalogue: &Catalogue,
) -> Fleet {
    let mut used: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for p in pods.iter().filter(|p| is_live(p)) {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        for (resource, n) in gpu_requests(p) {
            let owner = format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
            let list = used
                .entry(node.clone())
                .or_default()
                .entry(resource)
                .or_default();
            list.extend(std::iter::repeat_n(owner, n as usize));
        }
    }
    let mut fleet = Fleet::default();
    let mut sorted: Vec<&Arc<KubeNode>> = nodes.iter().collect();
    sorted.sort_by_key(|n| n.name_any());
    for n in sorted {
        let name = n.name_any();
        let labels = n.labels();
        let pool = labels
            .get(pool_label)
            .or_else(|| labels.get(MIGBOARD_POOL))
            .cloned()
            .unwrap_or_else(|| "(no pool label)".into());
        let model = labels
            .get(GPU_PRODUCT)
            .and_then(|p| mig::GpuModel::from_product_name(p));
        let count = labels.get(GPU_COUNT).and_then(|c| c.parse::<u32>().ok());
        let shape = labels
            .get(INSTANCE_TYPE)
            .and_then(|t| mig::shape::shape(t))
            .or_else(|| {
                let m = model?;
                mig::shape::shapes_for(m).find(|s| count.is_none_or(|c| c == s.gpus))
            });
        let allocatable: BTreeMap<String, u32> = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("nvidia.com/"))
            .map(|(k, q)| (k.clone(), q.0.parse::<u32>().unwrap_or(0)))
            .collect();
        let max_pods = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("pods"))
            .and_then(|q| q.0.parse::<u32>().ok())
            .unwrap_or(mig::blueprint::DEFAULT_MAX_PODS_PER_NODE);
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .is_none_or(|c| c.status == "True");
        let mut error = (!ready).then(|| "the node is NotReady".to_owned());
        let (Some(model), Some(shape)) = (model, shape) else {
            error.get_or_insert_with(|| {
                format!(
                    "no MIG-capable GPU model from its {GPU_PRODUCT} label ({}) or shape",
                    labels.get(GPU_PRODUCT).map_or("absent", String::as_str)
                )
            });
            fleet.nodes.push(FleetNodeInfo {
                name,
                pool,
                shape: labels.get(INSTANCE_TYPE).cloned().unwrap_or_default(),
                mig_config: labels.get(MIG_CONFIG).cloned(),
                gpus: Vec::new(),
                error,
                mig_state: mig_state(labels),
                drift: None,
                labels: shown_labels(labels, pool_label),
            });
            continue;
        };
        let gpus = count.unwrap_or(shape.gpus);
        let named = labels
            .get(MIG_CONFIG)
            .and_then(|c| catalogue.config(model, c))
            .or_else(|| {
                // No label: the named config whose slices add up to what the device plugin advertises.
                // Profile names as NVIDIA writes them (`nvidia.com/mig-1g.10gb.me` is `1g.10gb+me`).
                let advertised: BTreeMap<String, u32> = allocatable
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((mig::ProfileName::from_resource_name(k)?.to_string(), *v))
                    })
                    .filter(|(_, v)| *v > 0)
                    .collect();
                catalogue.configs(model).iter().find(|c| match &c.desired {
                    mig::DesiredMig::Enabled(counts) => {
                        let per_node: BTreeMap<String, u32> = counts
                            .0
                            .iter()
                            .filter(|(_, n)| **n > 0)
                            .map(|(p, n)| (p.clone(), n * gpus))
                            .collect();
                        !per_node.is_empty() && per_node == advertised
                    }
                    mig::DesiredMig::Disabled => false,
                })
            });
        let layout = named.and_then(|c| c.layout(model).ok().flatten());
        let mut taken = used.remove(&name).unwrap_or_default();
        let mut gpu_list: Vec<InventoryGpu> = (0..gpus)
            .map(|index| {
                InventoryGpu::described(index, format!("{name}/gpu{index}"), model, layout.as_ref())
            })
            .collect();
        // Mark busy slices: first those pods hold, then those the device plugin does not offer.
        let mut profiles: Vec<String> = gpu_list
            .iter()
            .flat_map(|g| g.instances.iter().map(|i| i.profile.clone()))
            .collect();
        profiles.sort();
        profiles.dedup();
        for profile in profiles {
            let resource = mig::profile::resource_name(&profile);
            let total: u32 = gpu_list
                .iter()
                .map(|g| g.instances.iter().filter(|i| i.profile == profile).count() as u32)
                .sum();
            let owners = taken.remove(&resource).unwrap_or_default();
            let advertised = allocatable.get(&resource).copied().unwrap_or(0).min(total);
            // Free = allocatable − requested; a slice the plugin does not advertise is not free either.
            let busy = (owners.len() as u32 + (total - advertised)).min(total) as usize;
            let mut marks: Vec<Vec<String>> = owners.into_iter().map(|o| vec![o]).collect();
            marks.truncate(busy);
            marks.resize(
                busy,
                vec![format!(
                    "not offered by the device plugin ({resource}: {advertised} of {total} allocatable)"
                )],
            );
            let mut marks = marks.into_iter();
            for g in &mut gpu_list {
                let starts: Vec<u8> = g
                    .instances
                    .iter()
                    .filter(|i| i.profile == profile)
                    .map(|i| i.start)
                    .collect();
                for start in starts {
                    let Some(owners) = marks.next() else { break };
                    g.busy.push(BusySlice {
                        profile: profile.clone(),
                        start,
                        pids: Vec::new(),
                        used_memory_mib: 0,
                        owners,
                    });
                }
            }
        }
        fleet.nodes.push(FleetNodeInfo {
            name,
            pool: pool.clone(),
            shape: shape.name.to_owned(),
            mig_config: named.map(|c| c.name.clone()),
            gpus: gpu_list,
            error,
            mig_state: mig_state(labels),
            drift: None,
            labels: shown_labels(labels, pool_label),
        });
        if !fleet.pools.iter().any(|p| p.name == pool) {
            fleet.pools.push(FleetPoolInfo {
                name: pool,
                shape: shape.name.to_owned(),
                max_pods_per_node: max_pods,
                dedicated_to: None,
            });
        }
    }
    fleet
}

const NO_NODES: &str = "on Kubernetes, nodes come from the cloud provider: create the node pool there (OKE) and label its nodes with the pool label; migboard then adopts the pool";
const NO_SLICES: &str =
    "on Kubernetes the scheduler places pods on slices; migboard creates workloads instead";

impl Cluster for Kubernetes {
    fn describe(&self) -> String {
        let fleet_size = self.nodes.state().len();
        format!(
            "Kubernetes: {fleet_size} GPU node(s) ({}), MIG changes by {}, workloads in namespace {}",
            self.options.node_selector,
            match self.options.apply_mode {
                ApplyMode::Agent => "migboard's agent",
                ApplyMode::MigManager => "NVIDIA mig-manager",
            },
            self.options.workload_namespace
        )
    }

    fn fleet(&self) -> BoxFuture<'_, Fleet> {
        Box::pin(async move {
            fleet_of(
                &self.nodes.state(),
                &self.pods.state(),
                &self.options.pool_label,
                &self.catalogue.get(),
            )
        })
    }

    fn scheduling(&self) -> Scheduling {
        Scheduling::Cluster
    }

    /// A whole node at a time (the GPU Operator's protocol labels nodes): the request's GPU list is
    /// not used.
    fn apply<'a>(
        &'a self,
        node: &'a str,
        request: &'a ApplyRequest,
    ) -> BoxFuture<'a, Result<super::Applied, ClusterError>> {
        Box::pin(async move {
            let ApplyTarget::Named(config) = &request.target else {
                return Err(ClusterError::Unsupported(format!(
                    "node {node}: the Kubernetes backend applies named MIG configs (the GPU Operator's nvidia.com/mig.config label), not {}",
                    request.target.label()
                )));
            };
            self.apply_node(node, config, request.drained).await
        })
    }

    fn apply_config<'a>(
        &'a self,
        node: &'a str,
        config: &'a mig::NamedConfig,
        drained: bool,
    ) -> BoxFuture<'a, Result<super::Applied, ClusterError>> {
        Box::pin(async move {
            let current = self.get_node(node).await?;
            self.apply_named(node, config, current, drained).await
        })
    }

    fn start_workload<'a>(
        &'a self,
        _: &'a str,
        _: &'a WorkloadRequest,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        super::unsupported(NO_SLICES.into())
    }

    fn stop_workloads<'a>(
        &'a self,
        _: &'a str,
        _: u32,
        _: u8,
    ) -> BoxFuture<'a, Result<u32, ClusterError>> {
        super::unsupported(NO_SLICES.into())
    }

    fn add_node<'a>(&'a self, _: &'a NewNode) -> BoxFuture<'a, Result<(), ClusterError>> {
        super::unsupported(NO_NODES.into())
    }

    fn remove_node<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        super::unsupported(NO_NODES.into())
    }

    fn set_labels<'a>(
        &'a self,
        node: &'a str,
        labels: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let labels: serde_json::Map<String, serde_json::Value> = labels
                .iter()
                .map(|(k, v)| {
                    let v = if v.is_empty() {
                        serde_json::Value::Null
                    } else {
                        v.clone().into()
                    };
                    (k.clone(), v)
                })
                .collect();
            self.patch_node(node, serde_json::json!({"metadata": {"labels": labels}}))
                .await
        })
    }

    fn deploy_workload<'a>(
        &'a self,
        w: ClusterWorkload<'a>,
    ) -> BoxFuture<'a, Result<String, ClusterError>> {
        Box::pin(workload::deploy(
            &self.client,
            &self.options.workload_namespace,
            &self.options.pool_label,
            w,
        ))
    }

    fn workload_status(&self, id: i64) -> BoxFuture<'_, Result<WorkloadStatus, ClusterError>> {
        Box::pin(workload::status(
            &self.client,
            &self.options.workload_namespace,
            id,
            &self.workloads,
        ))
    }

    fn delete_workload(&self, id: i64) -> BoxFuture<'_, Result<u32, ClusterError>> {
        Box::pin(workload::delete(
            &self.client,
            &self.options.workload_namespace,
            id,
        ))
    }

    fn service_endpoint(
        &self,
        id: i64,
        blueprint: &mig::blueprint::Blueprint,
    ) -> mig::wire::ServiceEndpoint {
        workload::endpoint(&self.options.workload_namespace, id, blueprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        labels: serde_json::Value,
        allocatable: serde_json::Value,
        ready: &str,
    ) -> Arc<KubeNode> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "n1", "labels": labels},
                "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": ready}]},
            }))
            .expect("a node"),
        )
    }

    #[test]
    fn without_a_config_label_the_layout_is_the_named_config_the_plugin_advertises() {
        let catalogue = crate::state::catalogue();
        let n = node(
            serde_json::json!({GPU_PRODUCT: "NVIDIA-H100-80GB-HBM3", GPU_COUNT: "8", MIGBOARD_POOL: "lab"}),
            serde_json::json!({"nvidia.com/mig-1g.10gb": "16", "nvidia.com/mig-2g.20gb": "8", "nvidia.com/mig-3g.40gb": "8"}),
            "True",
        );
        let fleet = fleet_of(&[n], &[], OKE_POOL, &catalogue);
        let n = &fleet.nodes[0];
        assert_eq!(
            (n.pool.as_str(), n.shape.as_str()),
            ("lab", "BM.GPU.H100.8"),
            "pool from the fallback label, shape from model and count"
        );
        assert_eq!(n.mig_config.as_deref(), Some("all-balanced"));
        assert!(
            n.gpus.iter().all(|g| g.busy.is_empty()),
            "everything advertised, nothing requested"
        );
        assert_eq!(n.error, None);
    }

    /// #22 item 2: the plugin advertises `+me` slices with a `.` (`nvidia.com/mig-1g.10gb.me`);
    /// without a config label that still names the config, and requests for it count as used.
    #[test]
    fn media_extension_slices_are_read_under_the_plugins_resource_name() {
        let catalogue = crate::state::catalogue();
        let n = node(
            serde_json::json!({GPU_PRODUCT: "NVIDIA-H100-80GB-HBM3", GPU_COUNT: "8", MIGBOARD_POOL: "lab"}),
            serde_json::json!({"nvidia.com/mig-1g.10gb.me": "8"}),
            "True",
        );
        let fleet = fleet_of(&[n], &[], OKE_POOL, &catalogue);
        let n = &fleet.nodes[0];
        assert_eq!(n.mig_config.as_deref(), Some("all-1g.10gb.me"));
        assert!(
            n.gpus.iter().all(|g| g.instances.len() == 1 && g.busy.is_empty()),
            "one free 1g.10gb+me per GPU: {:#?}",
            n.gpus
        );
    }

    #[test]
    fn unknown_gpus_and_not_ready_nodes_say_so() {
        let catalogue = crate::state::catalogue();
        let fleet = fleet_of(
            &[node(
                serde_json::json!({GPU_PRODUCT: "Tesla-T4"}),
                serde_json::json!({}),
                "True",
            )],
            &[],
            OKE_POOL,
            &catalogue,
        );
        let e = fleet.nodes[0].error.clone().unwrap_or_default();
        assert!(e.contains("Tesla-T4"), "{e}");
        assert!(fleet.nodes[0].gpus.is_empty());
        let fleet = fleet_of(
            &[node(
                serde_json::json!({GPU_PRODUCT: "NVIDIA-A100-SXM4-40GB", MIG_CONFIG: "all-1g.5gb"}),
                serde_json::json!({"nvidia.com/mig-1g.5gb": "56"}),
                "False",
            )],
            &[],
            OKE_POOL,
            &catalogue,
        );
        assert_eq!(
            fleet.nodes[0].error.as_deref(),
            Some("the node is NotReady")
        );
        assert_eq!(fleet.nodes[0].pool, "(no pool label)");
        assert_eq!(fleet.nodes[0].gpus.len(), 8, "A100 40GB nodes: BM.GPU4.8");
    }
}
