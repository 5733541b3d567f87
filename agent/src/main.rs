//! The `migboard-agent` binary.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// migboard node agent: reads and changes MIG on this node's GPUs.
#[derive(Debug, Parser)]
#[command(name = "migboard-agent", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "MIGBOARD_AGENT_ADDR", default_value = "127.0.0.1:9400")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("MIGBOARD_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        subscriber.json().flatten_event(true).init()
    } else {
        subscriber.init()
    }

    let agent::DriverState::NoDriver { reason } = agent::driver_state();
    tracing::warn!(%reason, "agent starts without a GPU driver");
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    tracing::info!(addr = %args.addr, "migboard-agent listening");
    axum::serve(listener, agent::router())
        .await
        .context("serving HTTP")?;
    Ok(())
}
