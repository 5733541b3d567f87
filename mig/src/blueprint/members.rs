//! What migboard does with each member of a recipe, per platform: the promise behind "what
//! validates is what happens". Every member of OCI's `recipe_payload` has a row; a member that a
//! platform does not carry out makes the validator say so (warning `not_carried`), a container
//! setting the embedded fleet only simulates makes one `simulated` warning, and the rest are
//! carried out, each row naming the tests that show it. README's "What migboard does with each
//! blueprint member" is this table (a test keeps them equal).

use serde::{Deserialize, Serialize};

/// Where a blueprint is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// The embedded, simulated fleet (`make run`): real agents on simulated GPUs; replicas hold
    /// their MIG slice and run no container.
    Embedded,
    /// A Kubernetes cluster with the GPU Operator.
    Kubernetes,
}

impl Platform {
    /// Its name in words.
    pub fn words(self) -> &'static str {
        match self {
            Self::Embedded => "the embedded fleet",
            Self::Kubernetes => "Kubernetes",
        }
    }
}

/// What one platform does with a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Does {
    /// Carried out, as said.
    Carried(&'static str),
    /// A container setting: the embedded fleet's replicas run no container, so it is kept for
    /// Kubernetes (warning `simulated`).
    Simulated,
    /// Not carried out, for the reason given (warning `not_carried`).
    Not(&'static str),
}

/// One member of `recipe_payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Its JSON name.
    pub name: &'static str,
    /// On the embedded fleet.
    pub embedded: Does,
    /// On Kubernetes.
    pub kubernetes: Does,
    /// The tests that show it carried out (`path::test_name`, from the workspace root); empty when
    /// neither platform carries it out (the validator's warning is its test).
    pub tests: &'static [&'static str],
}

impl Member {
    /// What `platform` does with it.
    pub fn on(&self, platform: Platform) -> Does {
        match platform {
            Platform::Embedded => self.embedded,
            Platform::Kubernetes => self.kubernetes,
        }
    }
}

const NO_CLOUD: &str =
    "migboard does not create cloud nodes; it places work on the nodes a pool already has";
const NO_INGRESS: &str =
    "migboard makes no ingress; a service is reached through its in-cluster Service";
const NO_STORAGE: &str = "migboard mounts no object storage or file systems yet";
const VALIDATION: &str = "mig/tests/members.rs::every_member_present_is_carried_out_or_warned";
const K8S_POD: &str =
    "server/src/cluster/kubernetes/workload.rs::manifests_carry_every_pod_member";
const K8S_GUIDE: &str = "server/src/cluster/kubernetes/workload.rs::the_guides_inference_asks_for_its_slice_with_its_probes";

/// Every member of `recipe_payload`, in the schema's order.
pub const MEMBERS: &[Member] = &[
    Member {
        name: "pre_filled_sample_name",
        embedded: Does::Carried("kept with the deployment (its blueprint as written)"),
        kubernetes: Does::Carried("kept with the deployment (its blueprint as written)"),
        tests: &["server/tests/deployments.rs::share_links_show_a_deployment_read_only_until_revoked_or_expired"],
    },
    Member {
        name: "recipe_id",
        embedded: Does::Carried("kept with the deployment (its blueprint as written)"),
        kubernetes: Does::Carried("kept with the deployment (its blueprint as written)"),
        tests: &["server/tests/deployments.rs::share_links_show_a_deployment_read_only_until_revoked_or_expired"],
    },
    Member {
        name: "recipe_compartment_ocid",
        embedded: Does::Not("an OCI compartment: migboard deploys into its own fleet"),
        kubernetes: Does::Not(
            "an OCI compartment: migboard deploys into its configured namespace",
        ),
        tests: &[],
    },
    Member {
        name: "deployment_name",
        embedded: Does::Carried("names the deployment; unique among deployments not undeployed"),
        kubernetes: Does::Carried(
            "names the deployment and its objects (`mgb-<id>-<name>`); unique among deployments not undeployed",
        ),
        tests: &[
            "mig/tests/blueprints.rs::one_invalid_blueprint_per_rule",
            "server/src/cluster/kubernetes/workload.rs::names_are_dns_labels",
        ],
    },
    Member {
        name: "recipe_mode",
        embedded: Does::Carried("chooses what is done"),
        kubernetes: Does::Carried("chooses what is done"),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step"],
    },
    Member {
        name: "recipe_replica_count",
        embedded: Does::Carried("that many replicas, each on its own slice or GPUs"),
        kubernetes: Does::Carried("the Deployment's replicas, a Job's completions"),
        tests: &[
            "server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step",
            K8S_GUIDE,
        ],
    },
    Member {
        name: "recipe_node_shape",
        embedded: Does::Carried("replicas are placed only on nodes of this shape"),
        kubernetes: Does::Carried("node selector `node.kubernetes.io/instance-type`"),
        tests: &[
            "server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step",
            K8S_POD,
        ],
    },
    Member {
        name: "recipe_max_pods_per_node",
        embedded: Does::Carried(
            "stored with the pool a shared_node_pool creates; each node then runs at most that many less 10 system pods of replicas; fixed once the pool exists (error `max_pods_immutable`)",
        ),
        kubernetes: Does::Carried(
            "compared with the adopted nodes' allocatable pods: nodes that allow fewer (OKE's default 31) fail validation saying how to recreate the node pool; replicas per node bounded in validation",
        ),
        tests: &[
            "server/tests/deployments.rs::a_pools_max_pods_per_node_bounds_its_replicas_per_node",
            "server/tests/kubernetes.rs::the_fleet_comes_from_labels_allocatable_and_pod_requests",
        ],
    },
    Member {
        name: "recipe_availability_domain",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "recipe_public_ssh_key",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "recipe_worker_subnet_nsg_ocid",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "recipe_pod_subnet_ocid",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "recipe_pod_subnet_nsg_ocid",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "recipe_node_pool_size",
        embedded: Does::Carried(
            "with `recipe_use_shared_node_pool: false`, that many nodes of its own (default 1); otherwise it warns `ignored`",
        ),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &["server/tests/deployments.rs::a_deployment_of_its_own_gets_nodes_of_its_own"],
    },
    Member {
        name: "recipe_use_shared_node_pool",
        embedded: Does::Carried(
            "`true`: placed on shared-pool nodes (every embedded pool is one); `false`: nodes of its own, started for it on `all-<profile>`, where nothing else runs, and removed at undeploy",
        ),
        kubernetes: Does::Carried(
            "`true`: node affinity to nodes with the pool label (shared pools); `false`: to nodes without it",
        ),
        tests: &[
            "server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step",
            "server/tests/deployments.rs::a_deployment_of_its_own_gets_nodes_of_its_own",
            K8S_POD,
        ],
    },
    Member {
        name: "recipe_shared_node_pool_selector",
        embedded: Does::Not("replicas may go to any shared pool with the slice they ask for"),
        kubernetes: Does::Not("replicas may go to any shared pool with the slice they ask for"),
        tests: &[],
    },
    Member {
        name: "recipe_prometheus_enabled",
        embedded: Does::Not("the embedded fleet has no Prometheus"),
        kubernetes: Does::Not("migboard makes no ServiceMonitor; scrape the pods yourself"),
        tests: &[],
    },
    Member {
        name: "recipe_node_boot_volume_size_in_gbs",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "recipe_node_selector_arch",
        embedded: Does::Not("the embedded fleet's nodes are all amd64"),
        kubernetes: Does::Carried("node selector `kubernetes.io/arch`"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_node_image_ocid",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "recipe_flex_shape_ocpu_count",
        embedded: Does::Not("MIG shapes are bare metal, not flexible"),
        kubernetes: Does::Not("MIG shapes are bare metal, not flexible"),
        tests: &[],
    },
    Member {
        name: "recipe_flex_shape_memory_size_in_gbs",
        embedded: Does::Not("MIG shapes are bare metal, not flexible"),
        kubernetes: Does::Not("MIG shapes are bare metal, not flexible"),
        tests: &[],
    },
    Member {
        name: "recipe_image_uri",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("the container's image"),
        tests: &[K8S_GUIDE],
    },
    Member {
        name: "recipe_container_secret_name",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("`imagePullSecrets`"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_environment_secrets",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("env from `secretKeyRef`"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_inference_gateway",
        embedded: Does::Not(NO_INGRESS),
        kubernetes: Does::Not(NO_INGRESS),
        tests: &[],
    },
    Member {
        name: "recipe_container_command",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("the container's command"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_container_command_args",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("the container's args"),
        tests: &[K8S_GUIDE],
    },
    Member {
        name: "recipe_container_env",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("the container's env"),
        tests: &[K8S_GUIDE],
    },
    Member {
        name: "recipe_additional_ingress_ports",
        embedded: Does::Not(NO_INGRESS),
        kubernetes: Does::Not(NO_INGRESS),
        tests: &[],
    },
    Member {
        name: "recipe_node_autoscaling_params",
        embedded: Does::Carried(
            "with nodes of its own (`recipe_use_shared_node_pool: false`): starts at min_nodes (or recipe_node_pool_size within the range) and grows up to max_nodes while replicas wait for slices; on shared pools it warns `ignored`",
        ),
        kubernetes: Does::Not(
            "node autoscaling is the cloud's (OKE cluster autoscaler), not migboard's",
        ),
        tests: &["server/tests/deployments.rs::a_deployment_of_its_own_gets_nodes_of_its_own"],
    },
    Member {
        name: "recipe_pod_autoscaling_params",
        embedded: Does::Carried(
            "starts at min_replicas and does not scale (warning `autoscaling_needs_metrics`)",
        ),
        kubernetes: Does::Carried("a HorizontalPodAutoscaler (autoscaling/v2) with the range and metric"),
        tests: &[
            VALIDATION,
            "server/src/cluster/kubernetes/workload.rs::pod_autoscaling_is_a_horizontal_pod_autoscaler",
        ],
    },
    Member {
        name: "recipe_liveness_probe_params",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("`livenessProbe`"),
        tests: &[K8S_GUIDE],
    },
    Member {
        name: "recipe_startup_probe_params",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("`startupProbe`"),
        tests: &[K8S_GUIDE],
    },
    Member {
        name: "recipe_readiness_probe_params",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("`readinessProbe`"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_container_port",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("the container port and a Service to it"),
        tests: &["server/src/cluster/kubernetes/workload.rs::a_service_endpoint_is_the_services_cluster_address"],
    },
    Member {
        name: "recipe_host_port",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("the Service's port (default 80)"),
        tests: &["server/src/cluster/kubernetes/workload.rs::a_service_endpoint_is_the_services_cluster_address"],
    },
    Member {
        name: "recipe_container_command_use_shell",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("command and args run by `/bin/sh -c`"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_nvidia_gpu_count",
        embedded: Does::Carried("with a MIG request 1 (one slice); whole GPUs are refused at validation (error `embedded_mig_only`): the embedded fleet runs MIG workloads only"),
        kubernetes: Does::Carried("`nvidia.com/gpu` limit (with a MIG request: one slice)"),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step", VALIDATION, K8S_GUIDE],
    },
    Member {
        name: "recipe_amd_gpu_count",
        embedded: Does::Not("the embedded fleet has no AMD GPUs"),
        kubernetes: Does::Carried("`amd.com/gpu` limit"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_shared_memory_volume_size_limit_in_mb",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("a memory `emptyDir` at /dev/shm"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_ephemeral_storage_size",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("`ephemeral-storage` limit"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_container_memory_size",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("`memory` limit"),
        tests: &[K8S_POD],
    },
    Member {
        name: "recipe_container_cpu_count",
        embedded: Does::Simulated,
        kubernetes: Does::Carried("`cpu` limit"),
        tests: &[K8S_POD],
    },
    Member {
        name: "input_object_storage",
        embedded: Does::Not(NO_STORAGE),
        kubernetes: Does::Not(NO_STORAGE),
        tests: &[],
    },
    Member {
        name: "input_file_system",
        embedded: Does::Not(NO_STORAGE),
        kubernetes: Does::Not(NO_STORAGE),
        tests: &[],
    },
    Member {
        name: "local_filesystem",
        embedded: Does::Not(NO_STORAGE),
        kubernetes: Does::Not(NO_STORAGE),
        tests: &[],
    },
    Member {
        name: "output_object_storage",
        embedded: Does::Not(NO_STORAGE),
        kubernetes: Does::Not(NO_STORAGE),
        tests: &[],
    },
    Member {
        name: "service_endpoint_domain",
        embedded: Does::Not(NO_INGRESS),
        kubernetes: Does::Not(NO_INGRESS),
        tests: &[],
    },
    Member {
        name: "service_endpoint",
        embedded: Does::Not(NO_INGRESS),
        kubernetes: Does::Not(NO_INGRESS),
        tests: &[],
    },
    Member {
        name: "shared_node_pool_selector",
        embedded: Does::Not("pools are told apart by name"),
        kubernetes: Does::Not("pools are told apart by the pool label's value (their name)"),
        tests: &[],
    },
    Member {
        name: "shared_node_pool_size",
        embedded: Does::Carried("that many simulated nodes are started"),
        kubernetes: Does::Not(
            "the pool's nodes come from the cloud's node pool, which migboard adopts as it is",
        ),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step"],
    },
    Member {
        name: "shared_node_pool_shape",
        embedded: Does::Carried("the simulated nodes' shape"),
        kubernetes: Does::Carried("checked against the adopted nodes' instance type"),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step"],
    },
    Member {
        name: "shared_node_pool_boot_volume_size_in_gbs",
        embedded: Does::Not(NO_CLOUD),
        kubernetes: Does::Not(NO_CLOUD),
        tests: &[],
    },
    Member {
        name: "shared_node_pool_flex_shape_memory_size_in_gbs",
        embedded: Does::Not("MIG shapes are bare metal, not flexible"),
        kubernetes: Does::Not("MIG shapes are bare metal, not flexible"),
        tests: &[],
    },
    Member {
        name: "shared_node_pool_flex_shape_ocpu_count",
        embedded: Does::Not("MIG shapes are bare metal, not flexible"),
        kubernetes: Does::Not("MIG shapes are bare metal, not flexible"),
        tests: &[],
    },
    Member {
        name: "shared_node_pool_mig_config",
        embedded: Does::Carried("every GPU of the pool (or updated node) gets the config, through its agent"),
        kubernetes: Does::Carried("the GPU Operator's `nvidia.com/mig.config` label, or the agent"),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step"],
    },
    Member {
        name: "shared_node_pool_custom_node_selectors",
        embedded: Does::Not("pools are told apart by name"),
        kubernetes: Does::Not("migboard labels no pool nodes when it adopts them"),
        tests: &[],
    },
    Member {
        name: "mig_resource_request",
        embedded: Does::Carried("each replica holds one free instance of the profile"),
        kubernetes: Does::Carried("`nvidia.com/mig-<profile>` limit"),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step", K8S_GUIDE],
    },
    Member {
        name: "recipe_node_name",
        embedded: Does::Carried("the node an update changes"),
        kubernetes: Does::Carried("the node an update changes"),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step"],
    },
    Member {
        name: "recipe_node_labels",
        embedded: Does::Not("the embedded fleet's nodes carry only the labels the GPU Operator would set"),
        kubernetes: Does::Carried("labels patched onto the Node (those the server allows)"),
        tests: &["server/tests/kubernetes.rs::a_service_becomes_a_deployment_and_service_is_monitored_and_undeploy_deletes_them"],
    },
    Member {
        name: "multinode_num_nodes_to_use_from_shared_pool",
        embedded: Does::Not("multi-node jobs need RDMA between whole GPUs, not MIG slices"),
        kubernetes: Does::Not("multi-node jobs need RDMA between whole GPUs, not MIG slices"),
        tests: &[],
    },
    Member {
        name: "multinode_rdma_enabled_in_shared_pool",
        embedded: Does::Not("multi-node jobs need RDMA between whole GPUs, not MIG slices"),
        kubernetes: Does::Not("multi-node jobs need RDMA between whole GPUs, not MIG slices"),
        tests: &[],
    },
    Member {
        name: "recipe_node_pool_name",
        embedded: Does::Carried("the pool an update changes, node by node"),
        kubernetes: Does::Carried("the pool an update changes, node by node"),
        tests: &["server/tests/deployments.rs::the_guides_quickstart_runs_step_by_step"],
    },
    Member {
        name: "recipe_team_info",
        embedded: Does::Not("migboard has no teams or quotas"),
        kubernetes: Does::Not("migboard has no teams or quotas"),
        tests: &[],
    },
    Member {
        name: "team",
        embedded: Does::Not("migboard has no teams or quotas: a team blueprint is only recorded"),
        kubernetes: Does::Not("migboard has no teams or quotas: a team blueprint is only recorded"),
        tests: &[],
    },
    Member {
        name: "skip_capacity_validation",
        embedded: Does::Carried("replicas without a free slice wait (status `scheduled`) and are placed when slices free up"),
        kubernetes: Does::Carried("the capacity check is skipped; pods stay Pending until the device plugin has the slice"),
        tests: &["server/tests/deployments.rs::skipping_capacity_validation_waits_for_slices"],
    },
    Member {
        name: "skip_quota_validation",
        embedded: Does::Not("migboard has no teams or quotas"),
        kubernetes: Does::Not("migboard has no teams or quotas"),
        tests: &[],
    },
];

/// The row of member `name`.
pub fn member(name: &str) -> Option<&'static Member> {
    MEMBERS.iter().find(|m| m.name == name)
}

/// The codes of the warnings that say what migboard does not carry out (or only simulates), and
/// where a blueprint would not run on OCI's own platform: notices about the platform rather than
/// mistakes in the blueprint.
pub const NOTICE_CODES: &[&str] = &[
    "not_carried",
    "simulated",
    "autoscaling_needs_metrics",
    "oci_portability",
];

/// Whether `issue` is one of the [`NOTICE_CODES`].
pub fn is_notice(issue: &super::Issue) -> bool {
    NOTICE_CODES.contains(&issue.code.as_str())
}

impl Does {
    /// In words, for the README's table.
    pub fn words(self) -> String {
        match self {
            Self::Carried(how) => how.to_owned(),
            Self::Simulated => {
                "simulated: replicas run no container (warning `simulated`)".to_owned()
            }
            Self::Not(why) => format!("not carried out: {why} (warning `not_carried`)"),
        }
    }
}

/// The table as Markdown (README's "What migboard does with each blueprint member").
pub fn markdown() -> String {
    let mut out =
        String::from("| Member | Embedded fleet | Kubernetes |\n| --- | --- | --- |\n");
    for m in MEMBERS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            m.name,
            m.embedded.words(),
            m.kubernetes.words()
        ));
    }
    out
}
