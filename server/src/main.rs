//! The `migboard` binary: reads configuration, sets up logging, serves until SIGTERM or Ctrl-C.

use anyhow::Context;
use clap::Parser;
use leptos::config::get_configuration;
use server::cluster::embedded;
use server::config::{ClusterKind, Config};
use tracing::info;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    server::logging::init(config.log_format)?;

    let mut leptos_options = get_configuration(None)
        .context("reading the Leptos site configuration from the environment")?
        .leptos_options;
    leptos_options.site_addr = config.addr;
    leptos_options.site_root = config.site_root.to_string_lossy().into();

    let state = match config.cluster {
        ClusterKind::None => server::AppState::new(leptos_options),
        ClusterKind::Embedded => {
            let catalogue = std::sync::Arc::new(server::state::catalogue());
            let agent = embedded::agent_binary()?;
            info!(data_dir = %config.data_dir.display(), agent = %agent.display(), "starting the embedded fleet");
            let cluster = embedded::Embedded::start(
                &embedded::FleetSpec::default_fleet(),
                &config.data_dir,
                &agent,
                catalogue.clone(),
            )
            .await
            .context("starting the embedded fleet (use --cluster none to serve without one)")?;
            let cluster: std::sync::Arc<dyn server::cluster::Cluster> =
                std::sync::Arc::new(cluster);
            let snapshot = cluster.fleet().await;
            if let Some(node) = snapshot.nodes.iter().find(|n| n.error.is_some()) {
                tracing::warn!(node = %node.name, error = ?node.error, "a node agent did not answer");
            }
            server::AppState::with_cluster(leptos_options, cluster, catalogue, snapshot)
        }
    };
    info!(cluster = %state.cluster_description(), "fleet ready");
    state.spawn_fleet_refresh();
    let app = server::router(state);

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another process using that port? set MIGBOARD_ADDR)",
                config.addr
            )
        })?;
    info!(addr = %config.addr, site_root = %config.site_root.display(), "migboard listening on http://{}", config.addr);
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    info!("migboard stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM so in-flight requests can finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C received, shutting down"),
        () = term => info!("SIGTERM received, shutting down"),
    }
}
