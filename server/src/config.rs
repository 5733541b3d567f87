//! Command line and environment configuration of the `migboard` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::logging::LogFormat;

/// migboard: plan, validate, apply and watch NVIDIA MIG layouts across GPU node pools.
#[derive(Debug, Clone, Parser)]
#[command(name = "migboard", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "MIGBOARD_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Folder holding the built site (the `pkg/` bundle, CSS and public assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Log format: `text` or `json`. `RUST_LOG` selects what is logged.
    #[arg(long, env = "MIGBOARD_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Folder for migboard's data: the embedded fleet's simulated nodes and the SQLite database.
    #[arg(long, env = "MIGBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Where the fleet comes from: `embedded` (simulated GPUs behind real node agents started by
    /// migboard), `kubernetes` (the cluster's GPU nodes; in-cluster service account or KUBECONFIG) or
    /// `none` (the default fleet's layout as fixed data, no agents).
    #[arg(long, env = "MIGBOARD_CLUSTER", default_value = "embedded")]
    pub cluster: ClusterKind,

    /// The database: `postgres://USER:PASSWORD@HOST/DB` for PostgreSQL; SQLite in the data
    /// directory (`migboard.db`) when unset.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// A fleet file (TOML) describing the embedded fleet's pools and nodes, simulated or real agents
    /// by URL (see docs/fleet.example.toml); the built-in default fleet when unset. With
    /// `--cluster none`, its pools' layouts as data (no agents).
    #[arg(long, env = "MIGBOARD_FLEET_FILE")]
    pub fleet_file: Option<PathBuf>,

    /// How long each simulated MIG change (instance create or destroy) takes, in milliseconds; real
    /// GPUs take tens to hundreds. 0 makes the simulated fleet instant.
    #[arg(long, env = "MIGBOARD_SIM_LATENCY_MS", default_value_t = 20)]
    pub sim_latency_ms: u64,

    /// Origins allowed to show migboard's pages (the `/embed/...` views) in a frame, comma-separated
    /// (`https://portal.example.com,https://*.corp.example`); empty: only migboard itself.
    #[arg(long, env = "MIGBOARD_FRAME_ANCESTORS", default_value = "")]
    pub frame_ancestors: String,

    /// Mark the session cookie `Secure` (set this when migboard is served over HTTPS, directly or
    /// behind a TLS-terminating proxy).
    #[arg(long, env = "MIGBOARD_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// Proxies (comma-separated addresses or CIDR networks, e.g. the ingress controller's pod
    /// range) whose `X-Forwarded-For` names the client; from any other peer the header is ignored.
    #[arg(long, env = "MIGBOARD_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Event streams one user may hold open at once (429 beyond it).
    #[arg(long, env = "MIGBOARD_MAX_STREAMS_PER_USER", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_streams_per_user: u32,

    /// Event streams one client address (IPv6: one /64) may hold open at once (429 beyond it).
    #[arg(long, env = "MIGBOARD_MAX_STREAMS_PER_ADDRESS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_streams_per_address: u32,

    /// How often (milliseconds) an open event stream checks that its session, token or share link
    /// still holds (signed out, disabled, revoked on any replica: the stream ends).
    #[arg(long, env = "MIGBOARD_STREAM_RECHECK_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub stream_recheck_ms: u64,

    /// Seconds a client may take to send a request's headers before the connection is closed
    /// (slow clients cannot hold connections open without asking anything).
    #[arg(long, env = "MIGBOARD_HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_read_timeout_secs: u64,

    /// Kubernetes: the namespace migboard's server runs in (its leader Lease, its events).
    #[arg(long, env = "MIGBOARD_NAMESPACE", default_value = "migboard")]
    pub namespace: String,

    /// Kubernetes: the namespace of the node agents' DaemonSet.
    #[arg(long, env = "MIGBOARD_AGENT_NAMESPACE", default_value = "migboard-agent")]
    pub agent_namespace: String,

    /// Kubernetes: the namespace blueprints' Deployments, Jobs and Services are created in.
    #[arg(
        long,
        env = "MIGBOARD_WORKLOAD_NAMESPACE",
        default_value = "migboard-workloads"
    )]
    pub workload_namespace: String,

    /// Kubernetes: the node label naming a node's pool (`migboard.io/pool` is read when a node lacks it).
    #[arg(long, env = "MIGBOARD_POOL_LABEL", default_value = crate::cluster::kubernetes::OKE_POOL)]
    pub pool_label: String,

    /// Node labels an update's `recipe_node_labels` may set, comma-separated: exact keys, or
    /// prefixes ending in `/` (e.g. `team,example.com/`). Unset: any label outside the reserved
    /// domains (kubernetes.io, k8s.io, nvidia.com, oraclecloud.com, migboard.io, node-role*) and
    /// the pool label.
    #[arg(long, env = "MIGBOARD_NODE_LABELS_ALLOWED", value_delimiter = ',')]
    pub node_labels_allowed: Option<Vec<String>>,

    /// Kubernetes: the label selector of GPU nodes (GPU Feature Discovery sets this label).
    #[arg(
        long,
        env = "MIGBOARD_GPU_NODE_SELECTOR",
        default_value = "nvidia.com/gpu.present=true"
    )]
    pub gpu_node_selector: String,

    /// Kubernetes: who changes MIG instances: `agent` (migboard's DaemonSet, with the GPU Operator's
    /// label protocol) or `mig-manager` (NVIDIA's, when the cluster runs it: migboard sets
    /// `nvidia.com/mig.config` and watches `nvidia.com/mig.config.state`).
    #[arg(long, env = "MIGBOARD_MIG_APPLY", default_value = "agent")]
    pub mig_apply: crate::cluster::kubernetes::ApplyMode,

    /// Kubernetes with `--mig-apply mig-manager`: the ConfigMap, as NAMESPACE/NAME, that NVIDIA's
    /// mig-manager reads its mig-parted file from (the GPU Operator's `migManager.config.name`, key
    /// `config.yaml`); migboard writes custom configs there, next to NVIDIA's defaults.
    #[arg(
        long,
        env = "MIGBOARD_MIG_PARTED_CONFIGMAP",
        default_value = "gpu-operator/custom-mig-config"
    )]
    pub mig_parted_configmap: String,

    /// Kubernetes: a file holding the node agents' bearer token (the mounted Secret), which every
    /// agent accepts. Prefer --agent-signing-key-file.
    #[arg(long, env = "MIGBOARD_AGENT_TOKEN_FILE", conflicts_with = "agent_signing_key_file")]
    pub agent_token_file: Option<PathBuf>,

    /// A file holding the bearer token Prometheus sends to `GET /metrics`. Without it, `/metrics`
    /// answers only requests from the loopback address that no proxy forwarded.
    #[arg(long, env = "MIGBOARD_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,

    /// Kubernetes: the Ed25519 private key (PEM, `openssl genpkey -algorithm ed25519`) that signs
    /// every request to a node agent for that node; agents hold only the public key.
    #[arg(long, env = "MIGBOARD_AGENT_SIGNING_KEY_FILE")]
    pub agent_signing_key_file: Option<PathBuf>,

    /// Kubernetes: seconds a drain may wait for evictions (PodDisruptionBudgets) before giving up.
    #[arg(long, env = "MIGBOARD_DRAIN_TIMEOUT_S", default_value_t = 300)]
    pub drain_timeout_s: u64,

    /// Kubernetes: the Lease electing one orchestrator among replicas; empty turns election off
    /// (run one replica only).
    #[arg(long, env = "MIGBOARD_LEADER_LEASE", default_value = "migboard-leader")]
    pub leader_lease: String,

    /// Kubernetes: seconds the leader Lease lasts without renewal (a crashed leader's successor takes
    /// over after this long).
    #[arg(long, env = "MIGBOARD_LEASE_SECONDS", default_value_t = 15)]
    pub lease_seconds: u64,
}

/// The cluster backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterKind {
    /// Simulated GPUs behind real node agents, started by migboard.
    Embedded,
    /// The cluster's GPU nodes, through the Kubernetes API.
    Kubernetes,
    /// The default fleet's layout as fixed data; nothing runs.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_bad_values_are_explained() {
        let c =
            Config::try_parse_from(["migboard", "--addr", "0.0.0.0:8080", "--log-format", "json"])
                .expect("valid flags");
        assert_eq!(c.addr, "0.0.0.0:8080".parse().expect("addr"));
        assert_eq!(c.log_format, LogFormat::Json);

        let err = Config::try_parse_from(["migboard", "--addr", "localhost"]).expect_err("no port");
        assert!(err.to_string().contains("--addr"), "{err}");
        let err =
            Config::try_parse_from(["migboard", "--log-format", "xml"]).expect_err("bad format");
        assert!(err.to_string().contains("use `text` or `json`"), "{err}");
    }
}
