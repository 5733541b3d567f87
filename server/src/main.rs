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

    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "creating the data directory {} (set --data-dir or MIGBOARD_DATA_DIR)",
            config.data_dir.display()
        )
    })?;
    let store = match &config.database_url {
        Some(url) => server::store::Store::open(url).await,
        None => server::store::Store::open_in(&config.data_dir).await,
    }
    .context("opening the database (DATABASE_URL, or migboard.db in the data directory)")?;
    let catalogue = server::catalogue::SharedCatalogue::default();
    // Custom configs first: a fleet file may name them.
    catalogue.set_custom(
        &store
            .mig_configs()
            .await
            .context("reading custom MIG configs")?,
    );
    let mut options = server::orchestrator::Options {
        node_labels: mig::blueprint::labels::LabelPolicy {
            reserved_keys: vec![config.pool_label.clone()],
            allowed: config.node_labels_allowed.clone().map(|list| {
                list.into_iter()
                    .map(|k| k.trim().to_owned())
                    .filter(|k| !k.is_empty())
                    .collect()
            }),
        },
        ..server::orchestrator::Options::default()
    };
    let mut elector = None;
    // The fleet file's pools, or the default fleet.
    let fleet_spec = || -> anyhow::Result<embedded::FleetSpec> {
        Ok(match &config.fleet_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the fleet file {}", path.display()))?;
                embedded::FleetSpec::from_toml(&text, &path.display().to_string(), &catalogue.get())?
            }
            None => embedded::FleetSpec::default_fleet(),
        })
    };
    let cluster: std::sync::Arc<dyn server::cluster::Cluster> = match config.cluster {
        // The fleet file's (or the default fleet's) layout as data: a demo, or a big fleet to measure
        // the API without hundreds of agents.
        ClusterKind::None => {
            let what = match &config.fleet_file {
                Some(path) => format!("fixed fleet (no agents): {} as data", path.display()),
                None => "fixed fleet (no agents): the default fleet's layout as data".to_owned(),
            };
            std::sync::Arc::new(server::cluster::Fixed::new(&fleet_spec()?, &catalogue.get(), &what))
        }
        ClusterKind::Embedded => {
            let mut spec = fleet_spec()?.with_stored(&store.pools().await.context("reading stored pools")?);
            spec.sim_latency = std::time::Duration::from_millis(config.sim_latency_ms);
            let agent = embedded::agent_binary()?;
            info!(data_dir = %config.data_dir.display(), agent = %agent.display(), "starting the embedded fleet");
            let cluster =
                embedded::Embedded::start(&spec, &config.data_dir, &agent, catalogue.clone())
                    .await
                    .context(
                        "starting the embedded fleet (use --cluster none to serve without one)",
                    )?;
            std::sync::Arc::new(cluster)
        }
        ClusterKind::Kubernetes => {
            let (cluster, elected) = kubernetes(&config, catalogue.clone()).await?;
            if let Some((leadership, e)) = elected {
                options.leadership = leadership;
                elector = Some(e);
            }
            cluster
        }
    };
    let state = server::AppState::start(leptos_options, cluster, catalogue, store, options).await;
    if let Some(node) = state.fleet().nodes.iter().find(|n| n.error.is_some()) {
        tracing::warn!(node = %node.name, error = ?node.error, "a node agent did not answer");
    }
    info!(cluster = %state.cluster_description(), "fleet ready");
    let mut security = server::security::Security::parse(&config.frame_ancestors)
        .context("--frame-ancestors / MIGBOARD_FRAME_ANCESTORS")?;
    security.cookie_secure = config.cookie_secure;
    security.trusted_proxies = server::auth::client::TrustedProxies::parse(&config.trusted_proxies)
        .context("--trusted-proxies / MIGBOARD_TRUSTED_PROXIES")?;
    security.streams = server::streams::StreamLimits {
        per_user: config.max_streams_per_user as usize,
        per_address: config.max_streams_per_address as usize,
        recheck: std::time::Duration::from_millis(config.stream_recheck_ms),
    };
    if let Some(path) = &config.metrics_token_file {
        let token = std::fs::read_to_string(path)
            .with_context(|| format!("--metrics-token-file {}: cannot read it", path.display()))?;
        let token = token.trim();
        anyhow::ensure!(
            token.len() >= 16,
            "--metrics-token-file {}: the token has {} characters; use at least 16 (for example `openssl rand -hex 24`)",
            path.display(),
            token.len()
        );
        security.metrics_token = Some(mig::wire::Secret::from(token));
    }
    let app = server::router_with(state, &security);

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another process using that port? set MIGBOARD_ADDR)",
                config.addr
            )
        })?;
    info!(addr = %config.addr, site_root = %config.site_root.display(), "migboard listening on http://{}", config.addr);
    let serving = server::serve::ServeOptions {
        header_read_timeout: std::time::Duration::from_secs(config.header_read_timeout_secs),
        ..server::serve::ServeOptions::default()
    };
    server::serve::serve(listener, app, serving, shutdown_signal())
        .await
        .context("serving HTTP")?;
    if let Some(elector) = elector {
        // A follower takes over now rather than after the lease runs out.
        elector.release().await;
    }
    info!("migboard stopped");
    Ok(())
}

/// The Kubernetes backend and, unless turned off, this replica's leadership.
async fn kubernetes(
    config: &Config,
    catalogue: server::catalogue::SharedCatalogue,
) -> anyhow::Result<(
    std::sync::Arc<dyn server::cluster::Cluster>,
    Option<(
        server::leader::Leadership,
        std::sync::Arc<server::cluster::kubernetes::lease::Elector>,
    )>,
)> {
    use server::cluster::kubernetes::{self, lease};
    let kube_config = kube::Config::infer()
        .await
        .context("finding Kubernetes (the in-cluster service account, or KUBECONFIG)")?;
    use server::cluster::agent::{AgentCredential, RequestSigner};
    let agent_credential = match (&config.agent_signing_key_file, &config.agent_token_file) {
        (Some(path), _) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading the agent signing key {}", path.display()))?;
            let signer = RequestSigner::from_pem(&pem)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("--agent-signing-key-file {}", path.display()))?;
            AgentCredential::Signed(std::sync::Arc::new(signer))
        }
        (None, Some(path)) => AgentCredential::Token(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the agent token file {}", path.display()))?
                .trim()
                .into(),
        ),
        (None, None) => AgentCredential::Token(
            std::env::var("MIGBOARD_AGENT_TOKEN")
                .unwrap_or_default()
                .trim()
                .into(),
        ),
    };
    if agent_credential.is_empty() && config.mig_apply == kubernetes::ApplyMode::Agent {
        anyhow::bail!(
            "--mig-apply agent needs a credential for the agents: --agent-signing-key-file (MIGBOARD_AGENT_SIGNING_KEY_FILE), or a shared token in --agent-token-file (MIGBOARD_AGENT_TOKEN_FILE) or MIGBOARD_AGENT_TOKEN"
        );
    }
    let options = kubernetes::Options {
        namespace: config.namespace.clone(),
        agent_namespace: config.agent_namespace.clone(),
        workload_namespace: config.workload_namespace.clone(),
        pool_label: config.pool_label.clone(),
        node_selector: config.gpu_node_selector.clone(),
        agent_credential,
        apply_mode: config.mig_apply,
        drain_timeout: std::time::Duration::from_secs(config.drain_timeout_s),
        mig_parted_configmap: match config.mig_parted_configmap.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                (ns.to_owned(), name.to_owned())
            }
            _ => anyhow::bail!(
                "--mig-parted-configmap `{}`: write NAMESPACE/NAME, e.g. gpu-operator/custom-mig-config",
                config.mig_parted_configmap
            ),
        },
        ..kubernetes::Options::default()
    };
    let cluster = kubernetes::Kubernetes::start(kube_config, options, catalogue)
        .await
        .context("starting the Kubernetes backend")?;
    if config.leader_lease.is_empty() {
        return Ok((std::sync::Arc::new(cluster), None));
    }
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("migboard-{}", std::process::id()));
    let elector = std::sync::Arc::new(lease::Elector::new(
        cluster.client().clone(),
        &config.namespace,
        &config.leader_lease,
        &identity,
        std::time::Duration::from_secs(config.lease_seconds.max(1)),
    ));
    let (leadership, _task) = elector.clone().spawn();
    let mut watch = leadership.clone();
    tokio::spawn(async move {
        watch.acquired().await;
        watch.lost().await;
        // Another replica may lead now: stop before two orchestrators overlap; Kubernetes restarts
        // this one as a follower.
        tracing::error!("lost the leader lease; exiting");
        std::process::exit(1);
    });
    info!(%identity, lease = %config.leader_lease, "leader election on");
    Ok((std::sync::Arc::new(cluster), Some((leadership, elector))))
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
