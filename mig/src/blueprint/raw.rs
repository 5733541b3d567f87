//! The wire model: one field per member of OCI AI Blueprints' `recipe_payload`
//! (`blueprint_json_schema.json`, `$defs.recipe_payload`), with the JSON types it gives them.
//! Everything is optional here; which members a mode needs, and what values mean, are rules
//! ([`super::rules`]).

use std::collections::BTreeMap;

use super::json::{IntOrString, json_enum, json_object};

json_enum! {
    /// What a blueprint does.
    pub enum RecipeMode ("service, job, update, shared_node_pool or team") {
        /// A long-running service (an inference server) behind an endpoint.
        Service = "service",
        /// A run-to-completion job (a benchmark, a health check, fine-tuning).
        Job = "job",
        /// Changes an existing node or pool: its MIG config or its labels.
        Update = "update",
        /// Creates (or adopts) a pool of nodes that deployments share, optionally with a MIG config.
        SharedNodePool = "shared_node_pool",
        /// Creates a team with quotas.
        Team = "team",
    }
}

json_enum! {
    /// The autoscaler that reads the scaling metric.
    pub enum ScalerType ("prometheus") {
        /// Prometheus queries.
        Prometheus = "prometheus",
    }
}

json_object! {
    /// One OCI AI Blueprints recipe (a deployment request), exactly as its JSON is written.
    pub struct RawRecipe ("a blueprint") {
        /// Name of the pre-filled sample this recipe came from.
        pre_filled_sample_name: String,
        /// The recipe (container image family) to run, such as `llm_inference_nvidia`.
        recipe_id: String,
        /// OCID of the compartment to deploy into.
        recipe_compartment_ocid: String,
        /// Name of this deployment; unique among deployments.
        deployment_name: String,
        /// What the blueprint does.
        recipe_mode: RecipeMode,
        /// Replicas (pods) to run; each takes its own GPU or MIG slice. Default 1.
        recipe_replica_count: i64,
        /// Node shape to run on, such as `BM.GPU.H100.8`.
        recipe_node_shape: String,
        /// Pods allowed per node of a new pool (OKE default 31; MIG pools need more). Default 90, at most 110,
        /// fixed when the pool is created.
        recipe_max_pods_per_node: i64,
        /// Availability domain for new nodes.
        recipe_availability_domain: String,
        /// SSH public key for new nodes.
        recipe_public_ssh_key: String,
        /// NSG OCID for the worker subnet.
        recipe_worker_subnet_nsg_ocid: String,
        /// Pod subnet OCID.
        recipe_pod_subnet_ocid: String,
        /// NSG OCID for the pod subnet.
        recipe_pod_subnet_nsg_ocid: String,
        /// Nodes in a dedicated pool created for this deployment.
        recipe_node_pool_size: i64,
        /// Run on a shared node pool instead of a dedicated one.
        recipe_use_shared_node_pool: bool,
        /// Selector of the shared node pool to run on.
        recipe_shared_node_pool_selector: String,
        /// Expose Prometheus metrics (needed by autoscaling).
        recipe_prometheus_enabled: bool,
        /// Boot volume of new nodes, GB.
        recipe_node_boot_volume_size_in_gbs: i64,
        /// Node architecture selector (`amd64`, `arm64`).
        recipe_node_selector_arch: String,
        /// Custom node image OCID.
        recipe_node_image_ocid: String,
        /// OCPUs of a flexible shape.
        recipe_flex_shape_ocpu_count: i64,
        /// Memory of a flexible shape, GB.
        recipe_flex_shape_memory_size_in_gbs: i64,
        /// Container image to run.
        recipe_image_uri: String,
        /// Name of the container registry secret to use for pulling the image.
        recipe_container_secret_name: String,
        /// Environment variables read from Kubernetes secrets.
        recipe_environment_secrets: Vec<EnvironmentSecret>,
        /// Registration with the inference gateway.
        recipe_inference_gateway: InferenceGateway,
        /// Container command (replaces the image's entrypoint).
        recipe_container_command: Vec<String>,
        /// Container arguments.
        recipe_container_command_args: Vec<String>,
        /// Environment variables.
        recipe_container_env: Vec<EnvVar>,
        /// More ports exposed through the ingress.
        recipe_additional_ingress_ports: Vec<IngressPort>,
        /// Node autoscaling bounds.
        recipe_node_autoscaling_params: NodeAutoscaling,
        /// Pod autoscaling bounds and metric.
        recipe_pod_autoscaling_params: PodAutoscaling,
        /// Liveness probe.
        recipe_liveness_probe_params: Probe,
        /// Startup probe.
        recipe_startup_probe_params: Probe,
        /// Readiness probe.
        recipe_readiness_probe_params: Probe,
        /// The port the application in the container listens on (a string, as OCI writes it).
        recipe_container_port: String,
        /// The outward-facing port; default 80.
        recipe_host_port: String,
        /// Run the command through a shell.
        recipe_container_command_use_shell: bool,
        /// Whole NVIDIA GPUs per replica (with `mig_resource_request`: 1, one slice).
        recipe_nvidia_gpu_count: i64,
        /// Whole AMD GPUs per replica.
        recipe_amd_gpu_count: i64,
        /// Size of /dev/shm, MB.
        recipe_shared_memory_volume_size_limit_in_mb: i64,
        /// Ephemeral storage per replica, GB; at most the boot volume.
        recipe_ephemeral_storage_size: i64,
        /// Container memory, GB.
        recipe_container_memory_size: i64,
        /// Container CPUs.
        recipe_container_cpu_count: i64,
        /// Object storage mounted into the container (a pre-authenticated request or a bucket).
        input_object_storage: Vec<InputObjectStorage>,
        /// File systems mounted into the container.
        input_file_system: Vec<InputFileSystem>,
        /// Node directories mounted into the container (read/write, local to the node).
        local_filesystem: Vec<LocalFilesystem>,
        /// Buckets the container writes results to.
        output_object_storage: Vec<OutputObjectStorage>,
        /// Domain of the service endpoint.
        service_endpoint_domain: String,
        /// Service endpoint settings.
        service_endpoint: ServiceEndpoint,
        /// Selector of the shared node pool being created.
        shared_node_pool_selector: String,
        /// Nodes in the shared node pool.
        shared_node_pool_size: i64,
        /// Shape of the shared node pool's nodes, such as `BM.GPU.H100.8`.
        shared_node_pool_shape: String,
        /// Boot volume of the shared pool's nodes, GB.
        shared_node_pool_boot_volume_size_in_gbs: i64,
        /// Memory of a flexible shape in the shared pool, GB.
        shared_node_pool_flex_shape_memory_size_in_gbs: i64,
        /// OCPUs of a flexible shape in the shared pool.
        shared_node_pool_flex_shape_ocpu_count: i64,
        /// Named MIG config (mig-parted's name, such as `all-1g.20gb`) for every GPU of the pool's nodes,
        /// or of the node/pool an `update` targets.
        shared_node_pool_mig_config: String,
        /// Extra node selectors of the shared pool.
        shared_node_pool_custom_node_selectors: Vec<NodeSelector>,
        /// MIG profile each replica runs on, such as `1g.10gb`; it must be configured on a node first.
        mig_resource_request: String,
        /// The node an `update` changes (its private IP, as OKE names nodes).
        recipe_node_name: String,
        /// Labels an `update` puts on the node.
        recipe_node_labels: BTreeMap<String, String>,
        /// Nodes of the shared pool a multi-node job uses.
        multinode_num_nodes_to_use_from_shared_pool: i64,
        /// RDMA between the shared pool's nodes for a multi-node job.
        multinode_rdma_enabled_in_shared_pool: bool,
        /// The pool an `update` changes.
        recipe_node_pool_name: String,
        /// The team this deployment belongs to.
        recipe_team_info: TeamInfo,
        /// The team a `team` blueprint creates.
        team: Team,
        /// Deploy even if the fleet has no free capacity for the replicas now.
        skip_capacity_validation: bool,
        /// Deploy even if the team's quota would be exceeded.
        skip_quota_validation: bool,
    }
    required: [recipe_mode, deployment_name]
}

json_object! {
    /// An environment variable read from a Kubernetes secret.
    pub struct EnvironmentSecret ("an environment secret") {
        /// Name of the environment variable in the container.
        envvar_name: String,
        /// Name of the Kubernetes secret.
        secret_name: String,
        /// Key inside the secret.
        secret_key: String,
    }
    required: [envvar_name, secret_name, secret_key]
}

json_object! {
    /// Registration with the inference gateway.
    pub struct InferenceGateway ("recipe_inference_gateway") {
        /// Model name the gateway routes by.
        model_name: String,
        /// Extra ingress path.
        url_path: String,
        /// API key clients must send.
        api_key: String,
    }
    required: [model_name]
}

json_object! {
    /// An environment variable.
    pub struct EnvVar ("an environment variable") {
        /// Variable name.
        key: String,
        /// Its value (a string or an integer).
        value: IntOrString,
    }
    required: [key, value]
}

json_object! {
    /// A port exposed through the ingress.
    pub struct IngressPort ("an ingress port") {
        /// Name of the port.
        name: String,
        /// Port number.
        port: i64,
        /// Ingress path.
        path: String,
    }
    required: [name, port, path]
}

json_object! {
    /// Node autoscaling bounds.
    pub struct NodeAutoscaling ("recipe_node_autoscaling_params") {
        /// Fewest nodes.
        min_nodes: i64,
        /// Most nodes.
        max_nodes: i64,
    }
    required: []
}

json_object! {
    /// Pod autoscaling (KEDA) settings.
    pub struct PodAutoscaling ("recipe_pod_autoscaling_params") {
        /// Fewest replicas.
        min_replicas: i64,
        /// Most replicas.
        max_replicas: i64,
        /// Metric to scale on.
        scaling_metric: String,
        /// Window the metric is collected over.
        collect_metrics_timespan: String,
        /// Metric value per replica that triggers scaling.
        scaling_threshold: f64,
        /// Seconds between scaling actions.
        scaling_cooldown: i64,
        /// Seconds between metric polls.
        polling_interval: i64,
        /// Stabilization window when scaling down, s.
        stabilization_window_down: i64,
        /// Scaling period down, s.
        scaling_period_down: i64,
        /// Stabilization window when scaling up, s.
        stabilization_window_up: i64,
        /// Scaling period up, s.
        scaling_period_up: i64,
        /// Custom metric query.
        query: String,
        /// Scaler type.
        scaler_type: ScalerType,
        /// Address of the metrics server.
        server_address: String,
    }
    required: []
}

json_object! {
    /// A Kubernetes probe.
    pub struct Probe ("a probe") {
        /// Failures before the probe counts as failed.
        failure_threshold: f64,
        /// HTTP path probed.
        endpoint_path: String,
        /// Port probed.
        port: i64,
        /// `HTTP` or `HTTPS`.
        scheme: String,
        /// Seconds before the first probe.
        initial_delay_seconds: f64,
        /// Seconds between probes.
        period_seconds: f64,
        /// Successes before the probe counts as passed.
        success_threshold: i64,
        /// Seconds before a probe times out.
        timeout_seconds: f64,
    }
    required: []
}

json_object! {
    /// Object storage mounted into the container: a pre-authenticated request (`par`) or a bucket.
    pub struct InputObjectStorage ("an input_object_storage item") {
        /// Pre-authenticated request URL.
        par: String,
        /// Bucket name.
        bucket_name: String,
        /// Where it is mounted in the container.
        mount_location: String,
        /// Volume size, GB.
        volume_size_in_gbs: i64,
        /// Only these objects.
        include: Vec<String>,
        /// Not these objects.
        exclude: Vec<String>,
    }
    required: [mount_location, volume_size_in_gbs]
}

json_object! {
    /// A file system mounted into the container.
    pub struct InputFileSystem ("an input_file_system item") {
        /// File system OCID.
        file_system_ocid: String,
        /// Mount target OCID.
        mount_target_ocid: String,
        /// Where it is mounted in the container.
        mount_location: String,
        /// Volume size, GB.
        volume_size_in_gbs: i64,
    }
    required: [file_system_ocid, mount_target_ocid, mount_location, volume_size_in_gbs]
}

json_object! {
    /// A node directory mounted into the container.
    pub struct LocalFilesystem ("a local_filesystem item") {
        /// Directory on the node.
        node_directory_path: String,
        /// Where it is mounted in the container.
        mount_location: String,
    }
    required: [node_directory_path, mount_location]
}

json_object! {
    /// A bucket the container writes to.
    pub struct OutputObjectStorage ("an output_object_storage item") {
        /// Bucket name.
        bucket_name: String,
        /// Where it is mounted in the container.
        mount_location: String,
        /// Volume size, GB.
        volume_size_in_gbs: i64,
    }
    required: [bucket_name, mount_location, volume_size_in_gbs]
}

json_object! {
    /// Service endpoint settings.
    pub struct ServiceEndpoint ("service_endpoint") {
        /// Domain of the endpoint.
        domain: String,
        /// Give this service its own load balancer.
        dedicated_load_balancer: bool,
    }
    required: []
}

json_object! {
    /// A node selector of a shared pool.
    pub struct NodeSelector ("a node selector") {
        /// Label key.
        key: String,
        /// Label value.
        value: String,
    }
    required: [key, value]
}

json_object! {
    /// The team a deployment belongs to.
    pub struct TeamInfo ("recipe_team_info") {
        /// Team name.
        team_name: String,
    }
    required: []
}

json_object! {
    /// A team and its quotas.
    pub struct Team ("team") {
        /// Team name.
        team_name: String,
        /// Priority at or above which the team may preempt.
        priority_threshold: i64,
        /// Quotas per shape.
        quotas: Vec<Quota>,
    }
    required: [team_name, priority_threshold, quotas]
}

json_object! {
    /// A team's quota on one shape (Kueue's nominal, borrowing and lending limits).
    pub struct Quota ("a quota") {
        /// Shape the quota applies to.
        shape_name: String,
        /// CPU nominal quota.
        cpu_nominal_quota: String,
        /// CPU borrowing limit.
        cpu_borrowing_limit: String,
        /// CPU lending limit.
        cpu_lending_limit: String,
        /// Memory nominal quota.
        mem_nominal_quota: String,
        /// Memory borrowing limit.
        mem_borrowing_limit: String,
        /// Memory lending limit.
        mem_lending_limit: String,
        /// GPU nominal quota.
        gpu_nominal_quota: String,
        /// GPU borrowing limit.
        gpu_borrowing_limit: String,
        /// GPU lending limit.
        gpu_lending_limit: String,
    }
    required: [shape_name]
}
