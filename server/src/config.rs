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

    /// Folder for migboard's data: the embedded fleet's simulated nodes (and, with deployments, the
    /// SQLite database).
    #[arg(long, env = "MIGBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Where the fleet comes from: `embedded` (simulated GPUs behind real node agents started by
    /// migboard) or `none` (the default fleet's layout as fixed data, no agents).
    #[arg(long, env = "MIGBOARD_CLUSTER", default_value = "embedded")]
    pub cluster: ClusterKind,
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
