//! Blueprint workloads as Kubernetes objects: a `service` is a Deployment (and a Service when it
//! has a port), a `job` a Job; each replica asks the device plugin for its slice
//! (`nvidia.com/mig-1g.20gb: 1`); a service with `recipe_pod_autoscaling_params` gets a
//! HorizontalPodAutoscaler. Every object carries the deployment's id as a label, so status and
//! undeploy find exactly what one deployment made: no orphans, nothing of anyone else's.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};
use mig::blueprint::raw::{Probe, RawRecipe};
use mig::blueprint::{GpuRequest, PoolUse, WorkloadKind};
use serde_json::{Value, json};

use super::{api_error, api_failure, status_code};
use crate::cluster::{ClusterError, ClusterWorkload, WorkloadStatus};

/// The label every object of a deployment carries.
pub const DEPLOYMENT_ID: &str = "migboard.io/deployment-id";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// A DNS-1123 name for deployment `id` called `name` (`autoscale_mig` → `mgb-7-autoscale-mig`).
pub fn object_name(id: i64, name: &str) -> String {
    let mut out = format!("mgb-{id}-");
    let mut dash = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            dash = false;
        } else if !dash {
            out.push('-');
            dash = true;
        }
    }
    out.truncate(63);
    out.trim_end_matches('-').to_owned()
}

fn probe(p: &Probe, default_port: Option<i64>) -> Value {
    let port = p.port.or(default_port).unwrap_or(80);
    let secs = |v: Option<f64>| v.map(|s| s.round() as i64);
    let mut v = json!({
        "httpGet": {
            "path": p.endpoint_path.clone().unwrap_or_else(|| "/".into()),
            "port": port,
            "scheme": p.scheme.clone().unwrap_or_else(|| "HTTP".into()).to_uppercase(),
        },
    });
    for (key, value) in [
        ("failureThreshold", secs(p.failure_threshold)),
        ("initialDelaySeconds", secs(p.initial_delay_seconds)),
        ("periodSeconds", secs(p.period_seconds)),
        ("successThreshold", p.success_threshold),
        ("timeoutSeconds", secs(p.timeout_seconds)),
    ] {
        if let Some(value) = value {
            v[key] = json!(value);
        }
    }
    v
}

/// Where the Service [`manifests`] makes for deployment `id` answers inside the cluster.
#[must_use]
pub fn endpoint(
    namespace: &str,
    id: i64,
    blueprint: &mig::blueprint::Blueprint,
) -> mig::wire::ServiceEndpoint {
    let raw = &blueprint.raw;
    let port = |p: &Option<String>| p.as_deref().and_then(|p| p.trim().parse::<u16>().ok());
    if port(&raw.recipe_container_port).is_none() {
        return mig::wire::ServiceEndpoint::None {
            why: "the blueprint sets no recipe_container_port, so no Service was made".into(),
        };
    }
    let host = port(&raw.recipe_host_port).unwrap_or(80);
    mig::wire::ServiceEndpoint::Url {
        url: format!(
            "http://{}.{namespace}.svc.cluster.local:{host}",
            object_name(id, &blueprint.name)
        ),
    }
}

/// The objects for one workload, as JSON manifests (Deployment or Job first, then a Service, then
/// a HorizontalPodAutoscaler). Nodes of shared pools carry `pool_label`.
///
/// # Errors
/// A message when the blueprint lacks what a pod needs (an image).
pub fn manifests(
    namespace: &str,
    pool_label: &str,
    w: ClusterWorkload<'_>,
) -> Result<Vec<Value>, String> {
    let raw: &RawRecipe = &w.blueprint.raw;
    let name = object_name(w.id, &w.blueprint.name);
    let image = raw
        .recipe_image_uri
        .clone()
        .ok_or("recipe_image_uri is missing: a Kubernetes workload needs a container image")?;
    let labels = json!({
        MANAGED_BY: "migboard",
        DEPLOYMENT_ID: w.id.to_string(),
        "app.kubernetes.io/name": name,
    });
    let port: Option<i64> = raw
        .recipe_container_port
        .as_deref()
        .and_then(|p| p.trim().parse().ok());
    let mut limits = serde_json::Map::new();
    match &w.workload.gpu {
        GpuRequest::Mig(profile) => {
            limits.insert(mig::profile::resource_name(profile), json!("1"));
        }
        GpuRequest::Gpus(n) => {
            limits.insert("nvidia.com/gpu".into(), json!(n.to_string()));
        }
        GpuRequest::AmdGpus(n) => {
            limits.insert("amd.com/gpu".into(), json!(n.to_string()));
        }
        GpuRequest::None => {}
    }
    if let Some(cpu) = raw.recipe_container_cpu_count {
        limits.insert("cpu".into(), json!(cpu.to_string()));
    }
    if let Some(gb) = raw.recipe_container_memory_size {
        limits.insert("memory".into(), json!(format!("{gb}Gi")));
    }
    if let Some(gb) = raw.recipe_ephemeral_storage_size {
        limits.insert("ephemeral-storage".into(), json!(format!("{gb}Gi")));
    }
    let mut env: Vec<Value> = raw
        .recipe_container_env
        .iter()
        .flatten()
        .filter_map(|e| {
            Some(json!({"name": e.key.clone()?, "value": e.value.as_ref()?.to_string()}))
        })
        .collect();
    env.extend(raw.recipe_environment_secrets.iter().flatten().filter_map(|s| {
        Some(json!({
            "name": s.envvar_name.clone()?,
            "valueFrom": {"secretKeyRef": {"name": s.secret_name.clone()?, "key": s.secret_key.clone()?}}
        }))
    }));
    let mut container = json!({
        "name": "main",
        "image": image,
        "env": env,
        "resources": {"limits": limits},
    });
    let command = raw.recipe_container_command.clone().unwrap_or_default();
    let args = raw
        .recipe_container_command_args
        .clone()
        .unwrap_or_default();
    if raw.recipe_container_command_use_shell == Some(true) {
        let line: Vec<String> = command.into_iter().chain(args).collect();
        container["command"] = json!(["/bin/sh", "-c", line.join(" ")]);
    } else {
        if !command.is_empty() {
            container["command"] = json!(command);
        }
        if !args.is_empty() {
            container["args"] = json!(args);
        }
    }
    if let Some(p) = port {
        container["ports"] = json!([{"name": "http", "containerPort": p}]);
    }
    for (field, p) in [
        ("livenessProbe", &raw.recipe_liveness_probe_params),
        ("readinessProbe", &raw.recipe_readiness_probe_params),
        ("startupProbe", &raw.recipe_startup_probe_params),
    ] {
        if let Some(p) = p {
            container[field] = probe(p, port);
        }
    }
    let mut pod_spec = json!({"containers": [container]});
    if let Some(mb) = raw.recipe_shared_memory_volume_size_limit_in_mb {
        pod_spec["volumes"] = json!([{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": format!("{mb}Mi")}}]);
        pod_spec["containers"][0]["volumeMounts"] =
            json!([{"name": "dshm", "mountPath": "/dev/shm"}]);
    }
    let mut selector_labels = serde_json::Map::new();
    if !w.workload.shape.is_empty() {
        selector_labels.insert(super::INSTANCE_TYPE.into(), json!(w.workload.shape));
    }
    if let Some(arch) = &raw.recipe_node_selector_arch {
        selector_labels.insert("kubernetes.io/arch".into(), json!(arch));
    }
    if !selector_labels.is_empty() {
        pod_spec["nodeSelector"] = Value::Object(selector_labels);
    }
    // recipe_use_shared_node_pool: shared pools' nodes carry the pool label, others do not.
    let operator = match w.workload.pool_use {
        PoolUse::Shared => Some("Exists"),
        PoolUse::Dedicated => Some("DoesNotExist"),
        PoolUse::Any => None,
    };
    if let Some(operator) = operator {
        pod_spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": pool_label, "operator": operator}]}],
        }}});
    }
    if let Some(secret) = &raw.recipe_container_secret_name {
        pod_spec["imagePullSecrets"] = json!([{"name": secret}]);
    }
    let metadata = json!({"name": name, "namespace": namespace, "labels": labels});
    let selector = json!({"matchLabels": {DEPLOYMENT_ID: w.id.to_string()}});
    let template = |restart: &str| {
        let mut spec = pod_spec.clone();
        spec["restartPolicy"] = json!(restart);
        json!({"metadata": {"labels": labels}, "spec": spec})
    };
    let mut out = Vec::new();
    match w.workload.kind {
        WorkloadKind::Service => {
            out.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                "spec": {"replicas": w.workload.replicas, "selector": selector, "template": template("Always")},
            }));
            if let Some(p) = port {
                let host: i64 = raw
                    .recipe_host_port
                    .as_deref()
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or(80);
                out.push(json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": metadata,
                    "spec": {
                        "selector": {DEPLOYMENT_ID: w.id.to_string()},
                        "ports": [{"name": "http", "port": host, "targetPort": p}]
                    },
                }));
            }
        }
        WorkloadKind::Job => {
            out.push(json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": metadata,
                "spec": {
                    "completions": w.workload.replicas,
                    "parallelism": w.workload.replicas,
                    "backoffLimit": 2,
                    "template": template("Never"),
                },
            }));
        }
    }
    if w.workload.kind == WorkloadKind::Service
        && let Some(a) = &raw.recipe_pod_autoscaling_params
    {
        out.push(autoscaler(&metadata, &name, a, w.workload.replicas));
    }
    Ok(out)
}

/// A HorizontalPodAutoscaler (autoscaling/v2) for the Deployment `name`: the blueprint's range, its
/// metric (a per-pod metric at `scaling_threshold` on average; without one, Kubernetes' default of
/// 80 % CPU) and its stabilization windows and periods.
fn autoscaler(
    metadata: &Value,
    name: &str,
    a: &mig::blueprint::raw::PodAutoscaling,
    replicas: u32,
) -> Value {
    let min = a.min_replicas.unwrap_or(i64::from(replicas)).max(1);
    let max = a.max_replicas.unwrap_or(min).max(min);
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": min,
        "maxReplicas": max,
    });
    if let Some(metric) = &a.scaling_metric {
        let target = a.scaling_threshold.map_or_else(|| "1".to_owned(), |t| t.to_string());
        spec["metrics"] = json!([{
            "type": "Pods",
            "pods": {"metric": {"name": metric}, "target": {"type": "AverageValue", "averageValue": target}},
        }]);
    }
    let mut behavior = serde_json::Map::new();
    for (direction, window, period) in [
        ("scaleUp", a.stabilization_window_up, a.scaling_period_up),
        ("scaleDown", a.stabilization_window_down, a.scaling_period_down),
    ] {
        let mut rules = serde_json::Map::new();
        if let Some(w) = window {
            rules.insert("stabilizationWindowSeconds".into(), json!(w));
        }
        if let Some(p) = period {
            rules.insert(
                "policies".into(),
                json!([{"type": "Percent", "value": 100, "periodSeconds": p.max(1)}]),
            );
        }
        if !rules.is_empty() {
            behavior.insert(direction.into(), Value::Object(rules));
        }
    }
    if !behavior.is_empty() {
        spec["behavior"] = Value::Object(behavior);
    }
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": spec,
    })
}

fn err(message: String, e: &kube::Error) -> ClusterError {
    api_failure("(cluster)", message, e)
}

/// Server-side applies `object` (named `name`) through `api`.
async fn apply_one<K>(api: Api<K>, name: &str, object: &Value) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("migboard").force(),
        &Patch::Apply(object),
    )
    .await
    .map(|_| ())
}

/// Deletes every object of deployment `id` that `api` lists; returns how many went.
async fn delete_labelled<K>(api: Api<K>, id: i64) -> Result<u32, ClusterError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let list = api
        .list(&selector(id))
        .await
        .map_err(|e| err(api_error("listing the workload", &e), &e))?;
    let mut gone = 0;
    for o in list.items {
        let name = o.name_any();
        match api.delete(&name, &dp).await {
            Ok(_) => gone += 1,
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(err(api_error(&format!("deleting {name}"), &e), &e)),
        }
    }
    Ok(gone)
}

/// Creates or updates (server-side apply) a workload's objects.
pub async fn deploy(
    client: &kube::Client,
    namespace: &str,
    pool_label: &str,
    w: ClusterWorkload<'_>,
) -> Result<String, ClusterError> {
    let objects = manifests(namespace, pool_label, w).map_err(|m| ClusterError::Refused {
        node: "(cluster)".into(),
        message: m,
    })?;
    let mut made = Vec::new();
    for o in &objects {
        let name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let kind = o["kind"].as_str().unwrap_or_default().to_owned();
        let what = format!("applying {kind} {namespace}/{name}");
        let result = match kind.as_str() {
            "Deployment" => {
                apply_one(
                    Api::<Deployment>::namespaced(client.clone(), namespace),
                    &name,
                    o,
                )
                .await
            }
            "Job" => apply_one(Api::<Job>::namespaced(client.clone(), namespace), &name, o).await,
            "HorizontalPodAutoscaler" => {
                apply_one(
                    Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), namespace),
                    &name,
                    o,
                )
                .await
            }
            _ => {
                apply_one(
                    Api::<Service>::namespaced(client.clone(), namespace),
                    &name,
                    o,
                )
                .await
            }
        };
        result.map_err(|e| err(api_error(&what, &e), &e))?;
        made.push(format!("{kind} {namespace}/{name}"));
    }
    Ok(made.join(", "))
}

fn selector(id: i64) -> ListParams {
    ListParams::default().labels(&format!("{DEPLOYMENT_ID}={id}"))
}

/// Readiness of deployment `id`'s Deployment or Job, with what its unready pods say.
///
/// The Deployment or Job comes from the watched caches (`cached`); only one the watch has not
/// delivered yet (just created) is read from the API, and the pods only while replicas are not ready.
pub async fn status(
    client: &kube::Client,
    namespace: &str,
    id: i64,
    cached: &Watched,
) -> Result<WorkloadStatus, ClusterError> {
    let read = |e: kube::Error| err(api_error("reading the workload", &e), &e);
    let mine = |labels: &std::collections::BTreeMap<String, String>| {
        labels.get(DEPLOYMENT_ID).is_some_and(|v| *v == id.to_string())
    };
    let mut deployments: Vec<Deployment> = cached
        .deployments
        .state()
        .iter()
        .filter(|d| mine(d.labels()))
        .map(|d| Deployment::clone(d))
        .collect();
    let mut jobs: Vec<Job> = if deployments.is_empty() {
        cached
            .jobs
            .state()
            .iter()
            .filter(|j| mine(j.labels()))
            .map(|j| Job::clone(j))
            .collect()
    } else {
        Vec::new()
    };
    if deployments.is_empty() && jobs.is_empty() {
        deployments = Api::<Deployment>::namespaced(client.clone(), namespace)
            .list(&selector(id))
            .await
            .map_err(read)?
            .items;
        if deployments.is_empty() {
            jobs = Api::<Job>::namespaced(client.clone(), namespace)
                .list(&selector(id))
                .await
                .map_err(read)?
                .items;
        }
    }
    let mut status = if let Some(d) = deployments.first() {
        WorkloadStatus {
            ready: count(d.status.as_ref().and_then(|s| s.ready_replicas), 0),
            wanted: count(d.spec.as_ref().and_then(|s| s.replicas), 1),
            finished: None,
            detail: String::new(),
        }
    } else if let Some(j) = jobs.first() {
        let conditions = j
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let has = |t: &str| {
            conditions
                .iter()
                .any(|c| c.type_ == t && c.status == "True")
        };
        WorkloadStatus {
            ready: count(j.status.as_ref().and_then(|s| s.succeeded), 0),
            wanted: count(j.spec.as_ref().and_then(|s| s.completions), 1),
            finished: if has("Complete") {
                Some(true)
            } else if has("Failed") {
                Some(false)
            } else {
                None
            },
            detail: String::new(),
        }
    } else {
        return Err(ClusterError::Refused {
            node: "(cluster)".into(),
            message: format!(
                "no Deployment or Job labelled {DEPLOYMENT_ID}={id} in namespace {namespace}: it was deleted outside migboard"
            ),
        });
    };
    if status.ready < status.wanted {
        let pods = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&selector(id))
            .await
            .map_err(read)?;
        let mut said: Vec<String> = Vec::new();
        for p in &pods.items {
            let Some(s) = &p.status else { continue };
            let waiting = s
                .container_statuses
                .iter()
                .flatten()
                .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
                .map(|w| {
                    format!(
                        "{}{}",
                        w.reason.clone().unwrap_or_default(),
                        w.message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    )
                })
                .next();
            let unscheduled = s
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                .and_then(|c| c.message.clone());
            if let Some(why) = waiting.or(unscheduled) {
                said.push(format!("{}: {why}", p.name_any()));
            }
        }
        status.detail = said.join("; ");
    }
    Ok(status)
}

/// The Deployments and Jobs migboard made (labelled [`DEPLOYMENT_ID`]) in the workload namespace,
/// from watches: the monitor reads each workload's readiness here every pass instead of asking
/// the API server per workload.
#[derive(Clone)]
pub struct Watched {
    /// Deployments (services).
    pub deployments: kube::runtime::reflector::Store<Deployment>,
    /// Jobs.
    pub jobs: kube::runtime::reflector::Store<Job>,
}

/// Deletes every Deployment, Job, Service and HorizontalPodAutoscaler of deployment `id` (pods go with their owners).
pub async fn delete(client: &kube::Client, namespace: &str, id: i64) -> Result<u32, ClusterError> {
    let deployments =
        delete_labelled(Api::<Deployment>::namespaced(client.clone(), namespace), id).await?;
    let jobs = delete_labelled(Api::<Job>::namespaced(client.clone(), namespace), id).await?;
    let services =
        delete_labelled(Api::<Service>::namespaced(client.clone(), namespace), id).await?;
    let autoscalers = delete_labelled(
        Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), namespace),
        id,
    )
    .await?;
    Ok(deployments + jobs + services + autoscalers)
}

/// A Kubernetes replica count (`int32`, absent meaning `default`), never negative.
fn count(value: Option<i32>, default: i32) -> u32 {
    u32::try_from(value.unwrap_or(default)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(object_name(7, "autoscale_mig"), "mgb-7-autoscale-mig");
        assert_eq!(object_name(12, "Llama 3.2 (3B)!"), "mgb-12-llama-3-2-3b");
        let long = object_name(1, &"x".repeat(100));
        assert!(long.len() <= 63, "{long}");
    }

    /// The OCI guide's single-replica inference blueprint (a `1g.20gb` service on H100).
    const GUIDE_SERVICE: &str =
        include_str!("../../../../mig/data/oci-blueprints/mig_inference_single_replica.json");

    /// The objects of service blueprint `text`, validated against the built-in catalogue, as deployment `id`.
    fn manifests_of(text: &str, id: i64) -> Vec<serde_json::Value> {
        let checked = mig::blueprint::check(
            text,
            mig::blueprint::Context {
                catalogue: Some(&crate::state::catalogue()),
                fleet: None,
                platform: None,
            },
        );
        let blueprint = checked.blueprint.expect("the blueprint validates");
        let mig::blueprint::Action::Workload(workload) = &blueprint.action else {
            panic!("a service")
        };
        manifests(
            "work",
            super::super::OKE_POOL,
            ClusterWorkload {
                id,
                blueprint: &blueprint,
                workload,
            },
        )
        .expect("manifests")
    }

    /// Every pod-level member the member table says Kubernetes carries out lands in the objects
    /// (`mig::blueprint::members`).
    #[test]
    fn manifests_carry_every_pod_member() {
        let text = serde_json::json!({
            "recipe_mode": "service", "deployment_name": "every-member",
            "recipe_image_uri": "registry.example/app:1", "recipe_node_shape": "BM.GPU.H100.8",
            "recipe_container_secret_name": "pull-me",
            "recipe_environment_secrets": [{"envvar_name": "HF_TOKEN", "secret_name": "hf", "secret_key": "token"}],
            "recipe_container_command": ["python3", "serve.py"],
            "recipe_container_command_use_shell": true,
            "recipe_container_command_args": ["--port", "8000"],
            "recipe_readiness_probe_params": {"endpoint_path": "/ready", "port": 8000},
            "recipe_container_port": "8000",
            "recipe_shared_memory_volume_size_limit_in_mb": 512,
            "recipe_ephemeral_storage_size": 20,
            "recipe_container_memory_size": 64,
            "recipe_container_cpu_count": 8,
            "recipe_node_selector_arch": "amd64",
        })
        .to_string();
        let objects = manifests_of(&text, 5);
        let pod = &objects[0]["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(pod["imagePullSecrets"], serde_json::json!([{"name": "pull-me"}]));
        assert_eq!(
            c["command"],
            serde_json::json!(["/bin/sh", "-c", "python3 serve.py --port 8000"])
        );
        assert!(
            c["env"].as_array().expect("env").iter().any(|e| e["name"] == "HF_TOKEN"
                && e["valueFrom"]["secretKeyRef"] == serde_json::json!({"name": "hf", "key": "token"})),
            "{c:#}"
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
        assert_eq!(c["ports"][0]["containerPort"], 8000);
        assert_eq!(pod["volumes"][0]["emptyDir"]["sizeLimit"], "512Mi");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/dev/shm");
        let limits = &c["resources"]["limits"];
        assert_eq!(
            (&limits["ephemeral-storage"], &limits["memory"], &limits["cpu"]),
            (&serde_json::json!("20Gi"), &serde_json::json!("64Gi"), &serde_json::json!("8"))
        );
        assert_eq!(pod["nodeSelector"]["kubernetes.io/arch"], "amd64");
        assert_eq!(pod["nodeSelector"][super::super::INSTANCE_TYPE], "BM.GPU.H100.8");
        // recipe_use_shared_node_pool: not said, any node; true, shared pools' nodes (they carry
        // the pool label); false, the others.
        assert!(pod.get("affinity").is_none(), "{pod:#}");
        let expression = |shared: bool| {
            let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
            v["recipe_use_shared_node_pool"] = serde_json::json!(shared);
            manifests_of(&v.to_string(), 5)[0]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
                ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]
                .clone()
        };
        assert_eq!(expression(true), serde_json::json!({"key": super::super::OKE_POOL, "operator": "Exists"}));
        assert_eq!(expression(false), serde_json::json!({"key": super::super::OKE_POOL, "operator": "DoesNotExist"}));
        // Without the shell, command and args stay apart.
        let plain = text.replace("\"recipe_container_command_use_shell\":true,", "");
        assert_ne!(plain, text);
        let c = &manifests_of(&plain, 5)[0]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"], serde_json::json!(["python3", "serve.py"]));
        assert_eq!(c["args"], serde_json::json!(["--port", "8000"]));
        // Whole AMD GPUs are the AMD device plugin's resource.
        let amd = serde_json::json!({
            "recipe_mode": "service", "deployment_name": "amd", "recipe_image_uri": "i",
            "recipe_node_shape": "BM.GPU.MI300X.8", "recipe_amd_gpu_count": 2,
        })
        .to_string();
        let limits = &manifests_of(&amd, 6)[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
        assert_eq!(limits["amd.com/gpu"], "2", "{limits:#}");
    }

    /// The guide's inference scales 1..=50: a HorizontalPodAutoscaler on its Deployment, after the
    /// Service; with a metric, on that metric per pod.
    #[test]
    fn pod_autoscaling_is_a_horizontal_pod_autoscaler() {
        use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
        let objects = manifests_of(GUIDE_SERVICE, 3);
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(kinds, ["Deployment", "Service", "HorizontalPodAutoscaler"]);
        let hpa: HorizontalPodAutoscaler =
            serde_json::from_value(objects[2].clone()).expect("a valid HorizontalPodAutoscaler");
        let spec = hpa.spec.expect("spec");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(1), 50));
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!(spec.scale_target_ref.name, objects[0]["metadata"]["name"].as_str().expect("name"));
        assert!(spec.metrics.is_none(), "no metric given: Kubernetes' default");
        let mut v: serde_json::Value = serde_json::from_str(GUIDE_SERVICE).expect("json");
        v["recipe_pod_autoscaling_params"] = serde_json::json!({
            "min_replicas": 2, "max_replicas": 6, "scaling_metric": "vllm:num_requests_waiting",
            "scaling_threshold": 4.0, "stabilization_window_down": 300, "scaling_period_up": 15,
        });
        let objects = manifests_of(&v.to_string(), 3);
        let hpa: HorizontalPodAutoscaler =
            serde_json::from_value(objects[2].clone()).expect("a valid HorizontalPodAutoscaler");
        let spec = hpa.spec.expect("spec");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 6));
        let metric = &spec.metrics.expect("metrics")[0];
        let pods = metric.pods.as_ref().expect("a Pods metric");
        assert_eq!(pods.metric.name, "vllm:num_requests_waiting");
        assert_eq!(pods.target.average_value.as_ref().map(|q| q.0.as_str()), Some("4"));
        let behavior = spec.behavior.expect("behavior");
        assert_eq!(behavior.scale_down.and_then(|d| d.stabilization_window_seconds), Some(300));
        assert_eq!(behavior.scale_up.and_then(|u| u.policies).map(|p| p[0].period_seconds), Some(15));
        // A job is not scaled.
        let job = v.to_string().replace("\"service\"", "\"job\"");
        let objects = manifests_of(&job, 4);
        assert!(objects.iter().all(|o| o["kind"] != "HorizontalPodAutoscaler"));
    }

    #[test]
    fn the_guides_inference_asks_for_its_slice_with_its_probes() {
        let objects = manifests_of(GUIDE_SERVICE, 3);
        let d: Deployment = serde_json::from_value(objects[0].clone()).expect("a valid Deployment");
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(1));
        let pod = spec.template.spec.expect("pod spec");
        let c = &pod.containers[0];
        assert_eq!(
            c.image.as_deref(),
            Some("docker.io/vllm/vllm-openai:v0.9.1")
        );
        let limits = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .expect("limits");
        assert_eq!(
            limits.get("nvidia.com/mig-1g.20gb").map(|q| q.0.as_str()),
            Some("1")
        );
        assert_eq!(
            limits.get("ephemeral-storage").map(|q| q.0.as_str()),
            Some("30Gi")
        );
        let startup = c.startup_probe.as_ref().expect("startup probe");
        assert_eq!(startup.failure_threshold, Some(30));
        assert_eq!(c.args.as_ref().map(|a| a[0].as_str()), Some("--model"));
        assert_eq!(
            pod.node_selector
                .and_then(|s| s.get(super::super::INSTANCE_TYPE).cloned())
                .as_deref(),
            Some("BM.GPU.H100.8")
        );
        let s: Service = serde_json::from_value(objects[1].clone()).expect("a valid Service");
        let port = &s.spec.expect("spec").ports.expect("ports")[0];
        assert_eq!(
            (port.port, port.target_port.clone()),
            (
                80,
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8000))
            )
        );
        assert_eq!(
            d.metadata
                .labels
                .and_then(|l| l.get(DEPLOYMENT_ID).cloned())
                .as_deref(),
            Some("3")
        );
    }

    /// #22 item 13: a service's page names where its Service answers, the name and port
    /// [`manifests`] gives it; without a container port there is none, and it says why.
    #[test]
    fn a_service_endpoint_is_the_services_cluster_address() {
        let checked = |text: &str| {
            mig::blueprint::check(text, mig::blueprint::Context::default())
                .blueprint
                .expect("valid")
        };
        let guide = checked(GUIDE_SERVICE);
        assert_eq!(
            endpoint("work", 3, &guide),
            mig::wire::ServiceEndpoint::Url {
                url: format!("http://{}.work.svc.cluster.local:80", object_name(3, &guide.name))
            }
        );
        let objects = manifests_of(GUIDE_SERVICE, 3);
        assert_eq!(
            objects[1]["metadata"]["name"].as_str(),
            Some(object_name(3, &guide.name).as_str()),
            "the address names the Service manifests() makes"
        );
        let mut v: serde_json::Value = serde_json::from_str(GUIDE_SERVICE).expect("json");
        v.as_object_mut().expect("object").remove("recipe_container_port");
        let no_port = checked(&v.to_string());
        assert!(matches!(
            endpoint("work", 3, &no_port),
            mig::wire::ServiceEndpoint::None { why } if why.contains("recipe_container_port")
        ));
    }

    /// #22 item 2: a `+me` slice is asked for as the device plugin spells it (`+` is not allowed
    /// in a resource name).
    #[test]
    fn a_media_extension_slice_is_asked_for_by_the_plugins_resource_name() {
        let objects = manifests_of(&GUIDE_SERVICE.replace("\"1g.20gb\"", "\"1g.10gb+me\""), 4);
        let d: Deployment = serde_json::from_value(objects[0].clone()).expect("a valid Deployment");
        let limits = d.spec.and_then(|s| s.template.spec).map(|p| p.containers[0].clone())
            .and_then(|c| c.resources).and_then(|r| r.limits).expect("limits");
        assert_eq!(
            limits.keys().filter(|k| k.starts_with("nvidia.com/")).collect::<Vec<_>>(),
            ["nvidia.com/mig-1g.10gb.me"]
        );
    }
}
