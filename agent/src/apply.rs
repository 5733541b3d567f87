//! Apply a desired MIG state to one GPU: observe, plan with `mig::plan`, refuse if an instance to
//! destroy is busy, execute, observe again and verify. Idempotent: nothing to change means no
//! mutating call. A MIG mode change that needs a GPU reset is reported, never forced.

use mig::parted::DesiredMig;
use mig::{GpuModel, Layout, MigMode, ObservedGpu, Placed, Step, place_near, plan};

use crate::driver::{DriverError, GpuDriver, GpuInstanceInfo};

pub use mig::agent_api::{ApplyReport, BusyInstance, Outcome, StepDone};

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The driver refused a call.
    #[error("GPU {gpu}: {what}: {source}")]
    Driver {
        /// GPU index.
        gpu: u32,
        /// The step or read that failed.
        what: String,
        /// The driver's error.
        source: DriverError,
    },
    /// The GPU's model is not one migboard knows.
    #[error("GPU {gpu} is a `{name}`, which migboard has no MIG tables for")]
    UnknownModel {
        /// GPU index.
        gpu: u32,
        /// Product name.
        name: String,
    },
    /// A GPU instance has a profile id the model's table does not list.
    #[error("GPU {gpu} has a GPU instance of NVML profile id {profile_id}, unknown for {model}")]
    UnknownProfile {
        /// GPU index.
        gpu: u32,
        /// NVML profile id.
        profile_id: u32,
        /// Model.
        model: GpuModel,
    },
    /// The desired state does not place on this GPU.
    #[error("GPU {gpu}: the desired instances do not place: {reason}")]
    DoesNotPlace {
        /// GPU index.
        gpu: u32,
        /// Why.
        reason: String,
    },
    /// Instances to destroy run processes; drain the node first.
    #[error("GPU {gpu}: instances to destroy are in use: {}; drain the node, or apply with `drained`", describe(.instances))]
    Busy {
        /// GPU index.
        gpu: u32,
        /// The busy instances.
        instances: Vec<BusyInstance>,
    },
    /// After executing, the GPU still differs from the plan.
    #[error("GPU {gpu} diverged after apply; still to do: {}", .remaining.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Diverged {
        /// GPU index.
        gpu: u32,
        /// What a new plan still wants.
        remaining: Vec<Step>,
    },
}

fn describe(instances: &[BusyInstance]) -> String {
    instances
        .iter()
        .map(BusyInstance::describe_on_gpu)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A GPU as the driver reports it: the planning view plus the driver's instance ids.
#[derive(Debug, Clone)]
pub struct Observation {
    /// For `mig::plan`.
    pub gpu: ObservedGpu,
    /// Driver instances, parallel to nothing: look them up by (profile id, start).
    pub instances: Vec<GpuInstanceInfo>,
    /// A mode change waits for a reset.
    pub pending: Option<MigMode>,
}

/// Reads GPU `gpu` into the planning view.
///
/// # Errors
/// [`ApplyError`] for driver failures and GPUs or instances migboard has no tables for.
pub fn observe(driver: &dyn GpuDriver, gpu: u32) -> Result<Observation, ApplyError> {
    let err = |what: &'static str| {
        move |source| ApplyError::Driver {
            gpu,
            what: what.to_owned(),
            source,
        }
    };
    let info = driver
        .gpus()
        .map_err(err("list GPUs"))?
        .into_iter()
        .find(|g| g.index == gpu)
        .ok_or_else(|| ApplyError::Driver {
            gpu,
            what: "find GPU".to_owned(),
            source: DriverError::NotFound(format!("no GPU {gpu}")),
        })?;
    let model = info.model.ok_or_else(|| ApplyError::UnknownModel {
        gpu,
        name: info.name.clone(),
    })?;
    let mode = driver.mig_mode(gpu).map_err(err("read MIG mode"))?;
    let pending = (mode.pending != mode.current).then_some(mode.pending);
    if mode.current == MigMode::Disabled {
        return Ok(Observation {
            gpu: ObservedGpu::disabled(model),
            instances: Vec::new(),
            pending,
        });
    }
    let instances = driver
        .gpu_instances(gpu)
        .map_err(err("list GPU instances"))?;
    let mut placed = Vec::with_capacity(instances.len());
    for i in &instances {
        let profile = model
            .spec()
            .profiles
            .iter()
            .find(|p| p.nvml_id() == i.profile_id)
            .ok_or(ApplyError::UnknownProfile {
                gpu,
                profile_id: i.profile_id,
                model,
            })?;
        placed.push(Placed {
            profile,
            start: i.start,
        });
    }
    placed.sort();
    let without_compute = instances
        .iter()
        .filter(|i| i.compute_instances.is_empty())
        .map(|i| i.start)
        .collect();
    Ok(Observation {
        gpu: ObservedGpu {
            model,
            mode: MigMode::Enabled,
            instances: placed,
            without_compute,
        },
        instances,
        pending,
    })
}

/// What an apply asks of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A named config's counts (or MIG off), placed to keep as much of the GPU as possible.
    Config(DesiredMig),
    /// Exactly these instances at these starts (MIG on; empty: no instances).
    Layout(Vec<mig::InstanceSpec>),
}

impl From<DesiredMig> for Target {
    fn from(d: DesiredMig) -> Self {
        Self::Config(d)
    }
}

/// The layout `desired` asks of a GPU that has `observed`: a config's counts placed to keep as many
/// of its instances as possible, or an explicit layout as given. `None`: MIG off.
///
/// # Errors
/// [`ApplyError::DoesNotPlace`].
pub fn desired_layout(
    gpu: u32,
    observed: &ObservedGpu,
    desired: &Target,
) -> Result<Option<Layout>, ApplyError> {
    match desired {
        Target::Layout(specs) => Layout::new(observed.model, specs)
            .map(Some)
            .map_err(|issues| ApplyError::DoesNotPlace {
                gpu,
                reason: issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        Target::Config(DesiredMig::Disabled) => Ok(None),
        Target::Config(DesiredMig::Enabled(counts)) => {
            place_near(observed.model, counts, &observed.instances)
                .map(Some)
                .map_err(|e| ApplyError::DoesNotPlace {
                    gpu,
                    reason: e.to_string(),
                })
        }
    }
}

/// The instances `steps` would destroy that have processes on them.
fn busy_of(
    driver: &dyn GpuDriver,
    gpu: u32,
    before: &Observation,
    steps: &[Step],
) -> Result<Vec<BusyInstance>, ApplyError> {
    let mut busy = Vec::new();
    for step in steps {
        if let Step::DestroyInstance {
            nvml_profile_id,
            profile,
            start,
        } = *step
            && let Some(gi) = before
                .instances
                .iter()
                .find(|i| i.profile_id == nvml_profile_id && i.start == start)
        {
            let procs = driver
                .processes(gpu, gi.id)
                .map_err(|source| ApplyError::Driver {
                    gpu,
                    what: format!("list processes of {profile} at {start}"),
                    source,
                })?;
            if !procs.is_empty() {
                busy.push(BusyInstance {
                    gpu,
                    profile: profile.to_string(),
                    start,
                    pids: procs.iter().map(|p| p.pid).collect(),
                });
            }
        }
    }
    Ok(busy)
}

/// The instances applying `desired` to GPU `gpu` would destroy that run processes: what an apply
/// that was not told the node is drained refuses for.
///
/// # Errors
/// As [`observe`] and [`desired_layout`].
pub fn busy_instances(
    driver: &dyn GpuDriver,
    gpu: u32,
    desired: &Target,
) -> Result<Vec<BusyInstance>, ApplyError> {
    let before = observe(driver, gpu)?;
    let target = desired_layout(gpu, &before.gpu, desired)?;
    busy_of(driver, gpu, &before, &plan(&before.gpu, target.as_ref()))
}

/// What applying `desired` to GPU `gpu` would do, without doing it.
///
/// # Errors
/// As [`observe`] and [`desired_layout`].
pub fn plan_gpu(
    driver: &dyn GpuDriver,
    gpu: u32,
    desired: &Target,
) -> Result<Vec<Step>, ApplyError> {
    let before = observe(driver, gpu)?;
    let target = desired_layout(gpu, &before.gpu, desired)?;
    Ok(plan(&before.gpu, target.as_ref()))
}

/// Brings GPU `gpu` to `desired`. With `drained`, the busy check is skipped (the caller says the
/// workloads are gone; the driver still refuses to destroy an instance that has processes).
///
/// # Errors
/// [`ApplyError`]; a failure mid-way leaves a partial state that a new apply converges from.
pub fn apply_gpu(
    driver: &dyn GpuDriver,
    gpu: u32,
    desired: &Target,
    drained: bool,
) -> Result<ApplyReport, ApplyError> {
    apply_gpu_with_progress(driver, gpu, desired, drained, &mut |_| {})
}

/// [`apply_gpu`], calling `progress` after each step.
///
/// # Errors
/// As [`apply_gpu`].
pub fn apply_gpu_with_progress(
    driver: &dyn GpuDriver,
    gpu: u32,
    desired: &Target,
    drained: bool,
    progress: &mut dyn FnMut(StepDone),
) -> Result<ApplyReport, ApplyError> {
    let before = observe(driver, gpu)?;
    let target = desired_layout(gpu, &before.gpu, desired)?;
    let steps = plan(&before.gpu, target.as_ref());
    let wanted_mode = if target.is_some() {
        MigMode::Enabled
    } else {
        MigMode::Disabled
    };
    if steps.is_empty() {
        if before.pending.is_none() {
            return Ok(ApplyReport {
                gpu,
                steps,
                mutating_calls: 0,
                outcome: Outcome::AlreadyApplied,
            });
        }
        // The GPU is as wanted, but someone asked for the other mode at the next reset: cancel that.
        driver
            .set_mig_mode(gpu, wanted_mode)
            .map_err(|source| ApplyError::Driver {
                gpu,
                what: "cancel the pending MIG mode change".to_owned(),
                source,
            })?;
        return Ok(ApplyReport {
            gpu,
            steps,
            mutating_calls: 1,
            outcome: Outcome::Applied,
        });
    }
    if before.pending == Some(wanted_mode) && steps.iter().any(Step::needs_reset) {
        // Already requested; only the reset is missing. Asking again would change nothing.
        return Ok(ApplyReport {
            gpu,
            steps,
            mutating_calls: 0,
            outcome: Outcome::ResetRequired,
        });
    }
    let find = |obs: &Observation, profile_id: u32, start: u8| {
        obs.instances
            .iter()
            .find(|i| i.profile_id == profile_id && i.start == start)
            .cloned()
    };
    if !drained {
        let busy = busy_of(driver, gpu, &before, &steps)?;
        if !busy.is_empty() {
            return Err(ApplyError::Busy {
                gpu,
                instances: busy,
            });
        }
    }
    let mut calls = 0u32;
    for (index, step) in steps.iter().enumerate() {
        let fail = |source| ApplyError::Driver {
            gpu,
            what: step.to_string(),
            source,
        };
        match *step {
            Step::SetMigMode { mode } => {
                calls += 1;
                let state = driver.set_mig_mode(gpu, mode).map_err(fail)?;
                if state.current != mode {
                    return Ok(ApplyReport {
                        gpu,
                        steps: steps.clone(),
                        mutating_calls: calls,
                        outcome: Outcome::ResetRequired,
                    });
                }
            }
            Step::DestroyInstance {
                nvml_profile_id,
                start,
                ..
            } => {
                let Some(gi) = find(&before, nvml_profile_id, start) else {
                    continue;
                };
                for ci in &gi.compute_instances {
                    calls += 1;
                    driver
                        .destroy_compute_instance(gpu, gi.id, *ci)
                        .map_err(fail)?;
                }
                calls += 1;
                driver.destroy_gpu_instance(gpu, gi.id).map_err(fail)?;
            }
            Step::CreateInstance {
                nvml_profile_id,
                start,
                ..
            } => {
                calls += 2;
                let gi = driver
                    .create_gpu_instance(gpu, nvml_profile_id, start)
                    .map_err(fail)?;
                driver.create_compute_instance(gpu, gi).map_err(fail)?;
            }
            Step::CreateComputeInstance {
                nvml_profile_id,
                start,
                ..
            } => {
                let Some(gi) = find(&before, nvml_profile_id, start) else {
                    continue;
                };
                calls += 1;
                driver.create_compute_instance(gpu, gi.id).map_err(fail)?;
            }
        }
        progress(StepDone {
            gpu,
            index,
            total: steps.len(),
            step: *step,
        });
    }
    let after = observe(driver, gpu)?;
    let remaining = plan(&after.gpu, target.as_ref());
    if !remaining.is_empty() {
        return Err(ApplyError::Diverged { gpu, remaining });
    }
    Ok(ApplyReport {
        gpu,
        steps,
        mutating_calls: calls,
        outcome: Outcome::Applied,
    })
}
