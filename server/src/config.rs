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
    /// migboard) or `none` (the default fleet's layout as fixed data, no agents).
    #[arg(long, env = "MIGBOARD_CLUSTER", default_value = "embedded")]
    pub cluster: ClusterKind,

    /// The database: `postgres://USER:PASSWORD@HOST/DB` for PostgreSQL; SQLite in the data
    /// directory (`migboard.db`) when unset.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// A fleet file (TOML) describing the embedded fleet's pools and nodes, simulated or real agents
    /// by URL (see docs/fleet.example.toml); the built-in default fleet when unset.
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
}

/// The cluster backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterKind {
    /// Simulated GPUs behind real node agents, started by migboard.
    Embedded,
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
