//! The `migboard-agent` binary: `serve` the HTTP API, or, for operators without the dashboard,
//! `inventory` and `apply` from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use agent::apply::{Outcome, apply_gpu, observe, plan_gpu};
use agent::driver::GpuDriver;
use agent::sim::{SimDriver, SimOptions, parse_simulate};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mig::MigPartedConfig;
use tracing_subscriber::EnvFilter;

/// migboard node agent: reads and changes MIG on this node's GPUs.
#[derive(Debug, Parser)]
#[command(name = "migboard-agent", version, about)]
struct Args {
    /// Run on simulated GPUs instead of the NVIDIA driver, e.g. `h100x8` (MIG mode changes take
    /// effect at once, as if each GPU were reset; state lives only as long as the process unless
    /// `--sim-state` keeps it).
    #[arg(long, global = true, env = "MIGBOARD_AGENT_SIMULATE")]
    simulate: Option<String>,
    /// With `--simulate`: keep the simulated GPUs' state in this JSON file across restarts.
    #[arg(
        long,
        global = true,
        env = "MIGBOARD_AGENT_SIM_STATE",
        requires = "simulate"
    )]
    sim_state: Option<PathBuf>,
    /// With `--simulate`: how long every simulated change (instance create or destroy, mode change)
    /// takes, in milliseconds; real ones take tens to hundreds. Reads stay instant. 0: no delay.
    #[arg(
        long,
        global = true,
        env = "MIGBOARD_AGENT_SIM_LATENCY_MS",
        default_value_t = 0,
        requires = "simulate"
    )]
    sim_latency_ms: u64,
    /// With `--simulate`: MIG mode changes take effect at once, as if each GPU were reset right
    /// after (real GPUs, and the simulator by default, keep them pending until a reset).
    #[arg(long, global = true, env = "MIGBOARD_AGENT_SIM_RESET_IMMEDIATELY")]
    sim_reset_immediately: bool,
    /// With `--simulate`: the N-th change this process makes fails, once, as a failing NVML call
    /// does (error 999) — for failure tests and campaigns. 0: none.
    #[arg(
        long,
        global = true,
        env = "MIGBOARD_AGENT_SIM_FAULT_AT",
        default_value_t = 0,
        requires = "simulate"
    )]
    sim_fault_at: u64,
    /// The NVML library to load (default: `libnvidia-ml.so.1` from the library path).
    #[arg(long, global = true, env = "MIGBOARD_NVML_LIB")]
    nvml_lib: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the agent's HTTP API (the default).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "MIGBOARD_AGENT_ADDR", default_value = "127.0.0.1:9400")]
        addr: SocketAddr,
        /// File holding the token clients must send as `Authorization: Bearer` (or MIGBOARD_AGENT_TOKEN).
        #[arg(long, conflicts_with = "verify_key_file")]
        token_file: Option<PathBuf>,
        /// Accept only requests the migboard server signed for this node: a PEM file with the
        /// server's Ed25519 public key (`openssl pkey -in agent-signing.pem -pubout`). Used on
        /// Kubernetes instead of a token.
        #[arg(long, env = "MIGBOARD_AGENT_VERIFY_KEY_FILE")]
        verify_key_file: Option<PathBuf>,
        /// This node's name, which signed requests must name (the downward API's spec.nodeName).
        #[arg(long, env = "NODE_NAME")]
        node_name: Option<String>,
        /// Where each apply's intent is written before anything changes; an intent left by a crash
        /// is resumed at start.
        #[arg(long, env = "MIGBOARD_AGENT_JOURNAL")]
        journal: Option<PathBuf>,
        /// Exit when the process that started this one exits (how migboard's embedded fleet keeps
        /// no orphaned agents, even when it is killed).
        #[arg(long)]
        exit_with_parent: bool,
    },
    /// Serve many simulated nodes from one process, each under `/nodes/{name}` with its own token,
    /// GPUs, state file and journal: a JSON list (`mig::agent_api::SimNodes`) read on standard
    /// input, or from `--nodes-file`. How migboard's embedded fleet runs hundreds of nodes.
    ServeMany {
        /// Address to listen on.
        #[arg(long, env = "MIGBOARD_AGENT_ADDR", default_value = "127.0.0.1:9400")]
        addr: SocketAddr,
        /// Read the node list from this file instead of standard input (keep it private: it
        /// holds the nodes' tokens).
        #[arg(long)]
        nodes_file: Option<PathBuf>,
        /// Exit when the process that started this one exits.
        #[arg(long)]
        exit_with_parent: bool,
    },
    /// List the GPUs, their MIG mode and GPU instances.
    Inventory,
    /// Apply a named MIG config to every GPU (or `--gpu` ones).
    Apply {
        /// Config name, such as `all-1g.10gb` or `all-balanced`.
        #[arg(short = 'c', long = "config")]
        config: String,
        /// A mig-parted config file; NVIDIA's `config-default.yaml` (built in) when absent.
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// Only these GPU indices.
        #[arg(long = "gpu")]
        gpus: Vec<u32>,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The node was drained: skip the check for processes on instances to destroy.
        #[arg(long)]
        drained: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("migboard-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("MIGBOARD_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        subscriber.json().flatten_event(true).init()
    } else {
        subscriber.init()
    }
}

fn driver(args: &Args) -> anyhow::Result<Box<dyn GpuDriver>> {
    match args.simulate.as_deref() {
        Some(spec) => {
            let (model, count) = parse_simulate(spec)
                .map_err(anyhow::Error::msg)
                .context("--simulate")?;
            let sim = SimDriver::new(
                model,
                count,
                SimOptions {
                    reset_immediately: args.sim_reset_immediately,
                },
            )
            .with_latency(std::time::Duration::from_millis(args.sim_latency_ms));
            let sim = match &args.sim_state {
                Some(path) => sim.with_state_file(path)?,
                None => sim,
            };
            if args.sim_fault_at > 0 {
                sim.inject_fault_after(args.sim_fault_at);
            }
            Ok(Box::new(sim))
        }
        None => match agent::nvml::NvmlDriver::open(args.nvml_lib.as_deref()) {
            Ok(d) => Ok(Box::new(d)),
            Err(e) => bail!(
                "{e}; on a machine without GPUs, use --simulate h100x8 to try the agent on simulated GPUs"
            ),
        },
    }
}

fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let default = Command::Serve {
        addr: SocketAddr::from(([127, 0, 0, 1], 9400)),
        token_file: None,
        verify_key_file: None,
        node_name: None,
        journal: None,
        exit_with_parent: false,
    };
    match args.command.take().unwrap_or(default) {
        Command::Serve {
            addr,
            token_file,
            verify_key_file,
            node_name,
            journal,
            exit_with_parent,
        } => {
            let app = match driver(&args) {
                Err(e) => {
                    tracing::warn!(reason = %e, "agent starts without a GPU driver");
                    agent::router_without_driver(format!("{e:#}"))
                }
                Ok(driver) => {
                    let driver: std::sync::Arc<dyn GpuDriver> = driver.into();
                    let mut state = match verify_key_file {
                        Some(path) => {
                            let pem = std::fs::read_to_string(&path)
                                .with_context(|| format!("reading the verify key {}", path.display()))?;
                            let key = agent::auth::public_key_from_pem(&pem)
                                .map_err(anyhow::Error::msg)
                                .with_context(|| format!("--verify-key-file {}", path.display()))?;
                            let verifier = agent::auth::Verifier::new(node_name.as_deref().unwrap_or_default(), key)
                                .map_err(anyhow::Error::msg)?;
                            tracing::info!(node = verifier.node(), "accepting requests signed for this node");
                            agent::api::AgentState::signed(driver, verifier)
                        }
                        None => {
                            let token = match token_file {
                                Some(path) => std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
                                None => std::env::var("MIGBOARD_AGENT_TOKEN").context(
                                    "the agent API needs a credential: --verify-key-file (signed requests, on Kubernetes), or a token in MIGBOARD_AGENT_TOKEN or --token-file",
                                )?,
                            };
                            let token = token.trim();
                            if token.len() < 16 {
                                bail!("the agent token must be at least 16 characters");
                            }
                            agent::api::AgentState::new(driver, token)
                        }
                    };
                    if let Some(path) = &journal {
                        state = state.with_journal(path);
                        match state.resume().map_err(anyhow::Error::msg)? {
                            Some(op) => {
                                tracing::warn!(operation = op.id, status = ?op.status, "resumed an interrupted apply")
                            }
                            None => {
                                tracing::info!(path = %path.display(), "no interrupted apply to resume")
                            }
                        }
                    }
                    agent::api::router(state)
                }
            };
            serve(addr, app, exit_with_parent)
        }
        Command::ServeMany {
            addr,
            nodes_file,
            exit_with_parent,
        } => {
            if args.simulate.is_some() {
                bail!("serve-many takes each node's GPUs from its node list (`simulate`), not --simulate");
            }
            let text = match &nodes_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => std::io::read_to_string(std::io::stdin()).context("reading the node list on standard input")?,
            };
            let origin = nodes_file
                .as_ref()
                .map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
            let nodes: mig::agent_api::SimNodes = serde_json::from_str(&text).with_context(|| {
                format!("the node list on {origin} is not a SimNodes JSON (`{{\"nodes\": [{{\"name\", \"simulate\", \"token\", \"state\"?, \"journal\"?, \"latency_ms\"?}}]}}`)")
            })?;
            let started = agent::many::start(&nodes)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("the node list on {origin}"))?;
            for node in &started {
                if let Some(op) = &node.resumed {
                    tracing::warn!(node = %node.name, operation = op.id, status = ?op.status, "resumed an interrupted apply");
                }
            }
            tracing::info!(nodes = started.len(), "serving simulated nodes");
            serve(addr, agent::many::router(started), exit_with_parent)
        }
        Command::Inventory => {
            let d = driver(&args)?;
            for gpu in d.gpus().context("listing GPUs")? {
                let obs = observe(d.as_ref(), gpu.index)?;
                let mode = match obs.pending {
                    Some(p) => format!("{:?} (pending {:?} until reset)", obs.gpu.mode, p),
                    None => format!("{:?}", obs.gpu.mode),
                };
                println!(
                    "GPU {}  {}  {}  MIG {}",
                    gpu.index,
                    gpu.name,
                    gpu.uuid,
                    mode.to_lowercase()
                );
                let devices = d.mig_devices(gpu.index).context("listing MIG devices")?;
                for inst in &obs.gpu.instances {
                    let uuid = obs
                        .instances
                        .iter()
                        .find(|i| i.profile_id == inst.profile.nvml_id() && i.start == inst.start)
                        .and_then(|i| devices.iter().find(|m| m.gpu_instance_id == i.id))
                        .map_or("(no compute instance)", |m| m.uuid.as_str());
                    println!(
                        "    {}@{}  {uuid}  (NVML profile id {}, {} MiB)",
                        inst.profile.name,
                        inst.start,
                        inst.profile.nvml_id(),
                        inst.profile.memory_mib
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply {
            config,
            file,
            gpus,
            dry_run,
            drained,
        } => {
            let configs = match &file {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    MigPartedConfig::parse(&text).with_context(|| format!("{}", path.display()))?
                }
                None => MigPartedConfig::default_configs()
                    .context("the built-in config-default.yaml")?,
            };
            let d = driver(&args)?;
            let all = d.gpus().context("listing GPUs")?;
            let mut failed = false;
            for gpu in all
                .iter()
                .filter(|g| gpus.is_empty() || gpus.contains(&g.index))
            {
                let Some(model) = gpu.model else {
                    eprintln!(
                        "GPU {}: {} has no MIG tables in migboard; skipped",
                        gpu.index, gpu.name
                    );
                    failed = true;
                    continue;
                };
                let desired = configs
                    .resolve(&config, model, gpu.index)
                    .with_context(|| format!("GPU {}", gpu.index))?;
                if dry_run {
                    let steps = plan_gpu(d.as_ref(), gpu.index, &desired.clone().into())?;
                    println!("GPU {}: {} step(s)", gpu.index, steps.len());
                    steps.iter().for_each(|s| println!("    {s}"));
                    continue;
                }
                match apply_gpu(d.as_ref(), gpu.index, &desired.into(), drained) {
                    Ok(r) => {
                        let what = match r.outcome {
                            Outcome::AlreadyApplied => "already applied",
                            Outcome::Applied => "applied",
                            Outcome::ResetRequired => {
                                "waiting for a GPU reset (not done by the agent)"
                            }
                        };
                        println!(
                            "GPU {}: {config} {what} ({} step(s), {} driver call(s))",
                            gpu.index,
                            r.steps.len(),
                            r.mutating_calls
                        );
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

#[tokio::main]
async fn serve(
    addr: SocketAddr,
    app: axum::Router,
    exit_with_parent: bool,
) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    // With port 0 the system picks the port: say which, on stdout, for whoever started us.
    let bound = listener.local_addr().context("reading the bound address")?;
    println!("listening on http://{bound}");
    tracing::info!(addr = %bound, "migboard-agent listening");
    if exit_with_parent {
        #[cfg(unix)]
        tokio::spawn(async {
            let parent = std::os::unix::process::parent_id();
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                if std::os::unix::process::parent_id() != parent {
                    tracing::warn!(
                        parent,
                        "the process that started the agent is gone; exiting"
                    );
                    std::process::exit(0);
                }
            }
        });
    }
    axum::serve(listener, app).await.context("serving HTTP")?;
    Ok(ExitCode::SUCCESS)
}
