//! Simulated GPUs behind [`GpuDriver`], with NVIDIA's placement rules and NVML's error codes:
//! a taken placement or a reached limit is `INSUFFICIENT_RESOURCES` (23), destroying an instance
//! with processes is `IN_USE` (19), and a MIG mode change stays pending until the GPU is reset
//! (unless the simulator is told to reset at once). Used by the embedded fleet and by tests; every
//! mutating call is counted, and a fault can be injected at the n-th one.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use mig::{GpuModel, Layout, MigMode, Placed, ProfileSpec};

use mig::agent_api::WorkloadRequest;

use crate::driver::{
    DriverError, GpuDriver, GpuInfo, GpuInstanceInfo, MigDeviceInfo, ModeState, ProcessInfo,
};

#[derive(Debug, Clone)]
struct SimInstance {
    id: u32,
    profile: &'static ProfileSpec,
    start: u8,
    compute_instances: Vec<u32>,
    processes: Vec<ProcessInfo>,
}

#[derive(Debug, Clone)]
struct SimGpu {
    model: GpuModel,
    mode: ModeState,
    instances: Vec<SimInstance>,
    next_id: u32,
}

/// How the simulator behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimOptions {
    /// MIG mode changes take effect at once, as if the GPU were reset right after (real GPUs keep the
    /// change pending until a reset: leave this off to simulate that).
    pub reset_immediately: bool,
}

/// Simulated GPUs of one node.
#[derive(Debug)]
pub struct SimDriver {
    gpus: Mutex<Vec<SimGpu>>,
    options: SimOptions,
    mutating_calls: AtomicU64,
    /// Fail the mutating call with this number (1-based), once.
    fault_at: AtomicU64,
    /// How long every call takes (real NVML calls take milliseconds; a MIG mode change, seconds).
    latency: std::time::Duration,
    /// Where the GPUs' state is kept across restarts, written after every change.
    state_file: Option<PathBuf>,
}

/// Why a simulator state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SimStateError {
    /// It cannot be read or written.
    #[error("simulator state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a state file this version wrote.
    #[error("simulator state file {path} is unreadable: {reason}; delete it to start from MIG off")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// It describes other GPUs than those simulated.
    #[error(
        "simulator state file {path} holds {found}, not the {wanted} simulated now; use another file or delete it"
    )]
    OtherGpus {
        /// The file.
        path: PathBuf,
        /// What it holds.
        found: String,
        /// What was asked for.
        wanted: String,
    },
}

/// The simulator's GPUs as stored in a state file (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    model: GpuModel,
    gpus: Vec<GpuSnapshot>,
}

#[derive(Debug, Serialize, Deserialize)]
struct GpuSnapshot {
    mode: ModeState,
    next_id: u32,
    instances: Vec<InstanceSnapshot>,
}

#[derive(Debug, Serialize, Deserialize)]
struct InstanceSnapshot {
    id: u32,
    profile: String,
    start: u8,
    compute_instances: Vec<u32>,
    processes: Vec<ProcessInfo>,
}

const SNAPSHOT_VERSION: u32 = 1;

fn snapshot(model: GpuModel, gpus: &[SimGpu]) -> Snapshot {
    Snapshot {
        version: SNAPSHOT_VERSION,
        model,
        gpus: gpus
            .iter()
            .map(|g| GpuSnapshot {
                mode: g.mode,
                next_id: g.next_id,
                instances: g
                    .instances
                    .iter()
                    .map(|i| InstanceSnapshot {
                        id: i.id,
                        profile: i.profile.name.to_owned(),
                        start: i.start,
                        compute_instances: i.compute_instances.clone(),
                        processes: i.processes.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn restore(path: &Path, snap: Snapshot) -> Result<Vec<SimGpu>, SimStateError> {
    let unreadable = |reason: String| SimStateError::Unreadable {
        path: path.to_owned(),
        reason,
    };
    if snap.version != SNAPSHOT_VERSION {
        return Err(unreadable(format!(
            "version {} (this agent writes {SNAPSHOT_VERSION})",
            snap.version
        )));
    }
    snap.gpus
        .into_iter()
        .enumerate()
        .map(|(index, g)| {
            let instances = g
                .instances
                .into_iter()
                .map(|i| {
                    let profile = snap.model.profile(&i.profile).ok_or_else(|| {
                        unreadable(format!(
                            "GPU {index}: {} has no profile {}",
                            snap.model.id(),
                            i.profile
                        ))
                    })?;
                    Ok(SimInstance {
                        id: i.id,
                        profile,
                        start: i.start,
                        compute_instances: i.compute_instances,
                        processes: i.processes,
                    })
                })
                .collect::<Result<Vec<_>, SimStateError>>()?;
            // What is stored must still be a valid layout: a hand-edited file must not smuggle in overlaps.
            let placed: Vec<Placed> = instances
                .iter()
                .map(|i| Placed {
                    profile: i.profile,
                    start: i.start,
                })
                .collect();
            Layout::from_placed(snap.model, &placed)
                .map_err(|issues| unreadable(format!("GPU {index}: {}", join_issues(&issues))))?;
            Ok(SimGpu {
                model: snap.model,
                mode: g.mode,
                instances,
                next_id: g.next_id,
            })
        })
        .collect()
}

/// Layout issues in one line.
fn join_issues(issues: &[mig::LayoutIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes `text` to `path` atomically: a crash leaves the old file or the new one, never half.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn lock_error() -> DriverError {
    DriverError::Other {
        code: 999,
        detail: "simulator state poisoned by an earlier panic".to_owned(),
    }
}

impl SimDriver {
    /// `count` GPUs of `model`, MIG off.
    pub fn new(model: GpuModel, count: u32, options: SimOptions) -> Self {
        let gpu = SimGpu {
            model,
            mode: ModeState {
                current: MigMode::Disabled,
                pending: MigMode::Disabled,
            },
            instances: Vec::new(),
            next_id: 1,
        };
        Self {
            gpus: Mutex::new(vec![gpu; count as usize]),
            options,
            mutating_calls: AtomicU64::new(0),
            fault_at: AtomicU64::new(0),
            latency: std::time::Duration::ZERO,
            state_file: None,
        }
    }

    /// Keeps the GPUs' state in `path` (JSON), so a restarted simulator finds its GPUs as they were:
    /// loaded now if the file exists (it must describe the same model and GPU count), written after
    /// every change.
    ///
    /// # Errors
    /// [`SimStateError`] when the file cannot be read, parsed or written, or holds other GPUs.
    pub fn with_state_file(mut self, path: &Path) -> Result<Self, SimStateError> {
        let io = |source| SimStateError::Io {
            path: path.to_owned(),
            source,
        };
        let gpus = self.gpus.get_mut().map_err(|_| SimStateError::Unreadable {
            path: path.to_owned(),
            reason: "simulator state poisoned".to_owned(),
        })?;
        let model = gpus.first().map_or(GpuModel::H100_80GB, |g| g.model);
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let snap: Snapshot =
                    serde_json::from_str(&text).map_err(|e| SimStateError::Unreadable {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?;
                if snap.model != model || snap.gpus.len() != gpus.len() {
                    return Err(SimStateError::OtherGpus {
                        path: path.to_owned(),
                        found: format!("{} × {}", snap.gpus.len(), snap.model.id()),
                        wanted: format!("{} × {}", gpus.len(), model.id()),
                    });
                }
                *gpus = restore(path, snap)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = serde_json::to_string_pretty(&snapshot(model, gpus)).unwrap_or_default();
                write_atomically(path, &text).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
        self.state_file = Some(path.to_owned());
        Ok(self)
    }

    /// Writes the state file, if there is one, while the caller holds the lock.
    fn save(&self, gpus: &[SimGpu]) -> Result<(), DriverError> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let model = gpus.first().map_or(GpuModel::H100_80GB, |g| g.model);
        let text = serde_json::to_string_pretty(&snapshot(model, gpus)).unwrap_or_default();
        write_atomically(path, &text).map_err(|e| DriverError::Other {
            code: 999,
            detail: format!("saving the simulator state to {}: {e}", path.display()),
        })
    }

    /// Makes every change (create, destroy, mode change) take `latency`, like a real driver; reads
    /// stay instant (NVML answers them in microseconds).
    #[must_use]
    pub fn with_latency(mut self, latency: std::time::Duration) -> Self {
        self.latency = latency;
        self
    }

    fn wait(&self) {
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
    }

    /// Mutating calls made so far.
    pub fn mutating_calls(&self) -> u64 {
        self.mutating_calls.load(Ordering::SeqCst)
    }

    /// Makes the `n`-th mutating call from now fail (NVML error 999, "unknown"), once.
    pub fn inject_fault_after(&self, n: u64) {
        self.fault_at
            .store(self.mutating_calls() + n, Ordering::SeqCst);
    }

    /// Resets GPU `gpu`: a pending MIG mode takes effect. Refused while instances exist.
    ///
    /// # Errors
    /// [`DriverError::InUse`] with instances present; [`DriverError::InvalidArgument`] for no such GPU.
    pub fn reset(&self, gpu: u32) -> Result<(), DriverError> {
        let mut gpus = self.gpus.lock().map_err(|_| lock_error())?;
        let g = gpus.get_mut(gpu as usize).ok_or_else(|| no_gpu(gpu))?;
        if !g.instances.is_empty() {
            return Err(DriverError::InUse(format!(
                "GPU {gpu}: GPU instances exist"
            )));
        }
        g.mode.current = g.mode.pending;
        self.save(&gpus)
    }

    /// Checks that an instance of GPU `gpu` starts at memory slice `start`.
    fn instance_at(&self, gpu: u32, start: u8) -> Result<(), DriverError> {
        let gpus = self.gpus.lock().map_err(|_| lock_error())?;
        let g = gpus.get(gpu as usize).ok_or_else(|| no_gpu(gpu))?;
        if g.instances.iter().any(|i| i.start == start) {
            Ok(())
        } else {
            Err(DriverError::NotFound(format!(
                "GPU {gpu}: no GPU instance starts at memory slice {start}"
            )))
        }
    }

    /// Starts a simulated process on the instance covering memory slice `slice` of GPU `gpu`, or
    /// updates its memory if `pid` runs there already.
    ///
    /// # Errors
    /// [`DriverError::NotFound`] when no instance covers it.
    pub fn start_process(
        &self,
        gpu: u32,
        slice: u8,
        pid: u32,
        used_memory_mib: u64,
    ) -> Result<(), DriverError> {
        let mut gpus = self.gpus.lock().map_err(|_| lock_error())?;
        let g = gpus.get_mut(gpu as usize).ok_or_else(|| no_gpu(gpu))?;
        let inst = g
            .instances
            .iter_mut()
            .find(|i| i.profile.mask_at(i.start) & (1 << slice) != 0)
            .ok_or_else(|| {
                DriverError::NotFound(format!("GPU {gpu}: no instance on memory slice {slice}"))
            })?;
        // Starting a process that runs already updates it: a caller retrying after a lost answer (or a
        // restarted orchestrator) must not run a replica twice.
        match inst.processes.iter_mut().find(|p| p.pid == pid) {
            Some(p) => p.used_memory_mib = used_memory_mib,
            None => inst.processes.push(ProcessInfo {
                pid,
                used_memory_mib,
            }),
        }
        self.save(&gpus)
    }

    /// Stops every simulated process on GPU `gpu`.
    ///
    /// # Errors
    /// [`DriverError::InvalidArgument`] for no such GPU.
    pub fn stop_processes(&self, gpu: u32) -> Result<(), DriverError> {
        let mut gpus = self.gpus.lock().map_err(|_| lock_error())?;
        let g = gpus.get_mut(gpu as usize).ok_or_else(|| no_gpu(gpu))?;
        g.instances.iter_mut().for_each(|i| i.processes.clear());
        self.save(&gpus)
    }

    /// Counts the call and fails it if a fault was injected for it; then runs `f` on GPU `gpu`.
    fn mutate<T>(
        &self,
        gpu: u32,
        what: &str,
        f: impl FnOnce(&mut SimGpu) -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        self.wait();
        let n = self.mutating_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self
            .fault_at
            .compare_exchange(n, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Err(DriverError::Other {
                code: 999,
                detail: format!("GPU {gpu}: {what}: injected fault"),
            });
        }
        let mut gpus = self.gpus.lock().map_err(|_| lock_error())?;
        let out = f(gpus.get_mut(gpu as usize).ok_or_else(|| no_gpu(gpu))?)?;
        self.save(&gpus)?;
        Ok(out)
    }

    fn read<T>(
        &self,
        gpu: u32,
        f: impl FnOnce(&SimGpu) -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        let gpus = self.gpus.lock().map_err(|_| lock_error())?;
        f(gpus.get(gpu as usize).ok_or_else(|| no_gpu(gpu))?)
    }
}

/// The UUID of a simulated MIG device: stable for (model, GPU, GPU instance, compute instance).
pub fn mig_uuid(model: GpuModel, gpu: u32, gi: u32, ci: u32) -> String {
    format!(
        "MIG-5eed{:04x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        model as u32,
        gpu,
        gi,
        ci,
        u64::from(gpu) << 16 | u64::from(gi) << 8 | u64::from(ci)
    )
}

fn no_gpu(gpu: u32) -> DriverError {
    DriverError::InvalidArgument(format!("no GPU with index {gpu}"))
}

fn require_mig(gpu: u32, g: &SimGpu) -> Result<(), DriverError> {
    match g.mode {
        ModeState {
            current: MigMode::Enabled,
            ..
        } => Ok(()),
        ModeState {
            pending: MigMode::Enabled,
            ..
        } => Err(DriverError::ResetRequired(format!(
            "GPU {gpu}: MIG mode is pending until the GPU is reset"
        ))),
        _ => Err(DriverError::NotSupported(format!(
            "GPU {gpu}: MIG mode is off"
        ))),
    }
}

fn instance(gpu: u32, g: &mut SimGpu, gi: u32) -> Result<&mut SimInstance, DriverError> {
    g.instances
        .iter_mut()
        .find(|i| i.id == gi)
        .ok_or_else(|| DriverError::NotFound(format!("GPU {gpu}: no GPU instance {gi}")))
}

impl GpuDriver for SimDriver {
    fn simulate_workload(&self, w: &WorkloadRequest) -> Result<(), DriverError> {
        self.instance_at(w.gpu, w.start)?;
        self.start_process(w.gpu, w.start, w.pid, w.memory_mib)
    }

    fn stop_simulated_workloads(&self, gpu: u32, start: u8) -> Result<u32, DriverError> {
        self.instance_at(gpu, start)?;
        let mut gpus = self.gpus.lock().map_err(|_| lock_error())?;
        let g = gpus.get_mut(gpu as usize).ok_or_else(|| no_gpu(gpu))?;
        let mut stopped = 0;
        for inst in g.instances.iter_mut().filter(|i| i.start == start) {
            stopped += u32::try_from(inst.processes.len()).unwrap_or(u32::MAX);
            inst.processes.clear();
        }
        self.save(&gpus)?;
        Ok(stopped)
    }

    fn gpus(&self) -> Result<Vec<GpuInfo>, DriverError> {
        let gpus = self.gpus.lock().map_err(|_| lock_error())?;
        Ok(gpus
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let spec = g.model.spec();
                GpuInfo {
                    index: i as u32,
                    uuid: format!("GPU-5eed{:04x}-0000-4000-8000-{:012x}", g.model as u32, i),
                    name: spec.display_name.to_owned(),
                    model: Some(g.model),
                    memory_mib: u64::from(spec.memory_mib),
                    pci_device_id: spec.pci_device_ids.first().copied().unwrap_or_default(),
                }
            })
            .collect())
    }

    fn mig_mode(&self, gpu: u32) -> Result<ModeState, DriverError> {
        self.read(gpu, |g| Ok(g.mode))
    }

    fn set_mig_mode(&self, gpu: u32, mode: MigMode) -> Result<ModeState, DriverError> {
        let now = self.options.reset_immediately;
        self.mutate(gpu, "set MIG mode", |g| {
            if !g.instances.is_empty() {
                return Err(DriverError::InUse(format!(
                    "GPU {gpu}: GPU instances exist; destroy them first"
                )));
            }
            g.mode.pending = mode;
            if now {
                g.mode.current = mode;
            }
            Ok(g.mode)
        })
    }

    fn gpu_instances(&self, gpu: u32) -> Result<Vec<GpuInstanceInfo>, DriverError> {
        self.read(gpu, |g| {
            require_mig(gpu, g)?;
            Ok(g.instances
                .iter()
                .map(|i| GpuInstanceInfo {
                    id: i.id,
                    profile_id: i.profile.nvml_id(),
                    start: i.start,
                    size: i.profile.memory_slices(),
                    compute_instances: i.compute_instances.clone(),
                })
                .collect())
        })
    }

    fn create_gpu_instance(
        &self,
        gpu: u32,
        profile_id: u32,
        start: u8,
    ) -> Result<u32, DriverError> {
        self.mutate(gpu, "create GPU instance", |g| {
            require_mig(gpu, g)?;
            let profile = g
                .model
                .spec()
                .profiles
                .iter()
                .find(|p| p.nvml_id() == profile_id)
                .ok_or_else(|| {
                    DriverError::InvalidArgument(format!(
                        "GPU {gpu}: no GPU instance profile with id {profile_id}"
                    ))
                })?;
            if !profile.allows_start(start) {
                return Err(DriverError::InvalidArgument(format!(
                    "GPU {gpu}: {} cannot start at {start}",
                    profile.name
                )));
            }
            let mut placed: Vec<Placed> = g
                .instances
                .iter()
                .map(|i| Placed {
                    profile: i.profile,
                    start: i.start,
                })
                .collect();
            placed.push(Placed { profile, start });
            // The real driver says 23 for a taken placement, the profile's count limit and compute alike.
            Layout::from_placed(g.model, &placed).map_err(|issues| {
                DriverError::InsufficientResources(format!(
                    "GPU {gpu}: {} at {start}: {}",
                    profile.name,
                    join_issues(&issues)
                ))
            })?;
            let id = g.next_id;
            g.next_id += 1;
            g.instances.push(SimInstance {
                id,
                profile,
                start,
                compute_instances: Vec::new(),
                processes: Vec::new(),
            });
            Ok(id)
        })
    }

    fn create_compute_instance(&self, gpu: u32, gi: u32) -> Result<u32, DriverError> {
        self.mutate(gpu, "create compute instance", |g| {
            require_mig(gpu, g)?;
            let inst = instance(gpu, g, gi)?;
            if !inst.compute_instances.is_empty() {
                return Err(DriverError::InsufficientResources(format!(
                    "GPU {gpu}: GPU instance {gi} already has its full-size compute instance"
                )));
            }
            inst.compute_instances.push(0);
            Ok(0)
        })
    }

    fn destroy_compute_instance(&self, gpu: u32, gi: u32, ci: u32) -> Result<(), DriverError> {
        self.mutate(gpu, "destroy compute instance", |g| {
            let inst = instance(gpu, g, gi)?;
            if !inst.processes.is_empty() {
                let pids: Vec<String> = inst.processes.iter().map(|p| p.pid.to_string()).collect();
                return Err(DriverError::InUse(format!(
                    "GPU {gpu}: GPU instance {gi} runs processes {}",
                    pids.join(", ")
                )));
            }
            let pos = inst
                .compute_instances
                .iter()
                .position(|&c| c == ci)
                .ok_or_else(|| {
                    DriverError::NotFound(format!(
                        "GPU {gpu}: GPU instance {gi} has no compute instance {ci}"
                    ))
                })?;
            inst.compute_instances.remove(pos);
            Ok(())
        })
    }

    fn destroy_gpu_instance(&self, gpu: u32, gi: u32) -> Result<(), DriverError> {
        self.mutate(gpu, "destroy GPU instance", |g| {
            let inst = instance(gpu, g, gi)?;
            if !inst.compute_instances.is_empty() || !inst.processes.is_empty() {
                return Err(DriverError::InUse(format!(
                    "GPU {gpu}: GPU instance {gi} still has compute instances or processes"
                )));
            }
            g.instances.retain(|i| i.id != gi);
            Ok(())
        })
    }

    fn mig_devices(&self, gpu: u32) -> Result<Vec<MigDeviceInfo>, DriverError> {
        self.read(gpu, |g| {
            if g.mode.current != MigMode::Enabled {
                return Ok(Vec::new());
            }
            Ok(g.instances
                .iter()
                .flat_map(|i| {
                    i.compute_instances.iter().map(move |&ci| MigDeviceInfo {
                        gpu_instance_id: i.id,
                        compute_instance_id: ci,
                        uuid: mig_uuid(g.model, gpu, i.id, ci),
                    })
                })
                .collect())
        })
    }

    fn reset_gpu(&self, gpu: u32) -> Result<(), DriverError> {
        self.mutate(gpu, "reset the GPU", |g| {
            let busy: Vec<u32> = g
                .instances
                .iter()
                .flat_map(|i| i.processes.iter().map(|p| p.pid))
                .collect();
            if !busy.is_empty() {
                return Err(DriverError::InUse(format!(
                    "GPU {gpu}: processes {busy:?} run on it; a reset would kill them"
                )));
            }
            // A reset applies the pending mode; MIG instances do not survive it.
            if g.mode.pending != g.mode.current {
                g.instances.clear();
            }
            g.mode.current = g.mode.pending;
            Ok(())
        })
    }

    fn processes(&self, gpu: u32, gi: u32) -> Result<Vec<ProcessInfo>, DriverError> {
        self.read(gpu, |g| {
            g.instances
                .iter()
                .find(|i| i.id == gi)
                .map(|i| i.processes.clone())
                .ok_or_else(|| DriverError::NotFound(format!("GPU {gpu}: no GPU instance {gi}")))
        })
    }
}

/// Parses a `--simulate` value such as `h100x8` or `a100-40gbx2`: a model (an id like `h100-80gb`, or
/// `h100`, `h100-nvl`, `a100`, `h200`, `b200`) and a GPU count from 1 to 16.
///
/// # Errors
/// What is wrong, with the accepted forms.
pub fn parse_simulate(spec: &str) -> Result<(GpuModel, u32), String> {
    let help = "write MODELxCOUNT, e.g. h100x8, a100x2 or h100-nvl-94gbx4 (models: h100, h100-nvl, a100, a100-80gb, h200, b200 or a full id)";
    let (model, count) = spec
        .trim()
        .rsplit_once(['x', 'X'])
        .ok_or_else(|| format!("`{spec}` has no GPU count: {help}"))?;
    let count: u32 = count
        .parse()
        .ok()
        .filter(|n| (1..=16).contains(n))
        .ok_or_else(|| format!("`{count}` in `{spec}` is not a GPU count from 1 to 16: {help}"))?;
    let model = match model.to_ascii_lowercase().as_str() {
        "h100" => GpuModel::H100_80GB,
        "h100-nvl" => GpuModel::H100Nvl94GB,
        "a100" => GpuModel::A100_40GB,
        "h200" => GpuModel::H200_141GB,
        "b200" => GpuModel::B200_180GB,
        other => other
            .parse()
            .map_err(|_| format!("unknown GPU model `{model}` in `{spec}`: {help}"))?,
    };
    Ok((model, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_take_the_configured_latency() {
        let latency = std::time::Duration::from_millis(15);
        let sim =
            SimDriver::new(GpuModel::A100_40GB, 1, SimOptions::default()).with_latency(latency);
        let start = std::time::Instant::now();
        sim.set_mig_mode(0, MigMode::Enabled).expect("write");
        sim.set_mig_mode(0, MigMode::Disabled).expect("write");
        assert!(
            start.elapsed() >= latency * 2,
            "two changes, each at least {latency:?}"
        );
    }

    #[test]
    fn simulate_specs() {
        assert_eq!(parse_simulate("h100x8"), Ok((GpuModel::H100_80GB, 8)));
        assert_eq!(parse_simulate("a100-80gbx2"), Ok((GpuModel::A100_80GB, 2)));
        assert_eq!(parse_simulate("H100-NVLx1"), Ok((GpuModel::H100Nvl94GB, 1)));
        assert!(
            parse_simulate("h100")
                .expect_err("no count")
                .contains("has no GPU count")
        );
        assert!(
            parse_simulate("h100x0")
                .expect_err("zero")
                .contains("from 1 to 16")
        );
        assert!(
            parse_simulate("v100x8")
                .expect_err("model")
                .contains("unknown GPU model `v100`")
        );
    }

    #[test]
    fn nvml_rules_and_codes() {
        let sim = SimDriver::new(GpuModel::H100_80GB, 2, SimOptions::default());
        assert_eq!(sim.gpus().map(|g| g.len()), Ok(2));
        assert!(
            matches!(
                sim.create_gpu_instance(0, 9, 4),
                Err(DriverError::NotSupported(_))
            ),
            "MIG off"
        );
        let state = sim.set_mig_mode(0, MigMode::Enabled).expect("set");
        assert_eq!(
            state,
            ModeState {
                current: MigMode::Disabled,
                pending: MigMode::Enabled
            },
            "pending until reset"
        );
        assert_eq!(
            sim.create_gpu_instance(0, 9, 4).map_err(|e| e.nvml_code()),
            Err(Some(16))
        );
        sim.reset(0).expect("reset");
        let gi = sim
            .create_gpu_instance(0, 9, 4)
            .expect("3g.40gb (id 9) at 4");
        // 4g.40gb (id 5) at 0 fits next to it; a second 3g.40gb at 4 overlaps: 23.
        assert_eq!(
            sim.create_gpu_instance(0, 9, 4).map_err(|e| e.nvml_code()),
            Err(Some(23))
        );
        assert_eq!(
            sim.create_gpu_instance(0, 5, 4).map_err(|e| e.nvml_code()),
            Err(Some(2)),
            "start not allowed"
        );
        assert_eq!(
            sim.create_gpu_instance(0, 42, 0).map_err(|e| e.nvml_code()),
            Err(Some(2)),
            "no such profile id"
        );
        sim.create_compute_instance(0, gi).expect("ci");
        sim.start_process(0, 5, 4242, 1000).expect("process");
        assert_eq!(
            sim.destroy_compute_instance(0, gi, 0)
                .map_err(|e| e.nvml_code()),
            Err(Some(19))
        );
        assert_eq!(
            sim.set_mig_mode(0, MigMode::Disabled)
                .map_err(|e| e.nvml_code()),
            Err(Some(19))
        );
        sim.stop_processes(0).expect("stop");
        assert_eq!(
            sim.destroy_gpu_instance(0, gi).map_err(|e| e.nvml_code()),
            Err(Some(19)),
            "compute instance left"
        );
        sim.destroy_compute_instance(0, gi, 0).expect("ci gone");
        sim.destroy_gpu_instance(0, gi).expect("gi gone");
        assert_eq!(sim.gpu_instances(0).map(|v| v.len()), Ok(0));
        assert_eq!(
            sim.mutating_calls(),
            13,
            "every call that asks for a change counts, refused or not"
        );
        sim.inject_fault_after(1);
        assert!(matches!(
            sim.create_gpu_instance(0, 0, 0),
            Err(DriverError::Other { code: 999, .. })
        ));
        sim.create_gpu_instance(0, 0, 0)
            .expect("the fault fires once");
    }
}

#[cfg(test)]
mod state_file_tests {
    use super::*;

    #[test]
    fn a_hand_edited_state_with_overlapping_instances_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.json");
        let inst = |id, start| InstanceSnapshot {
            id,
            profile: "4g.40gb".into(),
            start,
            compute_instances: vec![],
            processes: vec![],
        };
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            model: GpuModel::H100_80GB,
            gpus: vec![GpuSnapshot {
                mode: ModeState {
                    current: MigMode::Enabled,
                    pending: MigMode::Enabled,
                },
                next_id: 3,
                instances: vec![inst(1, 0), inst(2, 0)],
            }],
        };
        std::fs::write(&path, serde_json::to_string(&snap).expect("json")).expect("write");
        let err = SimDriver::new(GpuModel::H100_80GB, 1, SimOptions::default())
            .with_state_file(&path)
            .expect_err("overlap refused");
        assert!(err.to_string().contains("GPU 0"), "{err}");
    }

    #[test]
    fn every_change_is_saved_and_restored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.json");
        let opts = SimOptions {
            reset_immediately: true,
        };
        let sim = SimDriver::new(GpuModel::H100_80GB, 1, opts)
            .with_state_file(&path)
            .expect("new file");
        sim.set_mig_mode(0, MigMode::Enabled).expect("mode");
        let gi = sim
            .create_gpu_instance(
                0,
                GpuModel::H100_80GB.profile("3g.40gb").expect("p").nvml_id(),
                4,
            )
            .expect("gi");
        sim.start_process(0, 4, 4242, 1000).expect("process");
        let again = SimDriver::new(GpuModel::H100_80GB, 1, opts)
            .with_state_file(&path)
            .expect("reload");
        let instances = again.gpu_instances(0).expect("instances");
        assert_eq!(instances.len(), 1);
        assert_eq!((instances[0].id, instances[0].start), (gi, 4));
        assert_eq!(again.mig_mode(0).expect("mode").current, MigMode::Enabled);
    }
}
