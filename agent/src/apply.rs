//! Apply a desired MIG state to one GPU: observe, plan with `mig::plan`, refuse if an instance to
//! destroy is busy, execute, observe again and verify. Idempotent: nothing to change means no
//! mutating call. A MIG mode change that needs a GPU reset is reported, never forced.

use mig::parted::DesiredMig;
use mig::{GpuModel, Layout, MigMode, ObservedGpu, Placed, Step, place_near, plan};
use serde::Serialize;

use crate::driver::{DriverError, GpuDriver, GpuInstanceInfo};

/// An instance that has processes and would be destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusyInstance {
    /// Profile name.
    pub profile: String,
    /// Start slice.
    pub start: u8,
    /// The processes on it.
    pub pids: Vec<u32>,
}

/// How an apply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The GPU already had the desired state; nothing was changed.
    AlreadyApplied,
    /// Changed and verified.
    Applied,
    /// The MIG mode change is pending until the GPU is reset; apply again after the reset.
    ResetRequired,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// GPU index.
    pub gpu: u32,
    /// The planned steps.
    pub steps: Vec<Step>,
    /// Mutating driver calls made.
    pub mutating_calls: u32,
    /// How it ended.
    pub outcome: Outcome,
}

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
        .map(|b| {
            let pids: Vec<String> = b.pids.iter().map(ToString::to_string).collect();
            format!(
                "{} at slice {} (pids {})",
                b.profile,
                b.start,
                pids.join(", ")
            )
        })
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
    Ok(Observation {
        gpu: ObservedGpu {
            model,
            mode: MigMode::Enabled,
            instances: placed,
        },
        instances,
        pending,
    })
}

/// What an apply asks of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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

/// Progress of an apply: step `index` (0-based) of `total` on GPU `gpu` is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepDone {
    /// GPU index.
    pub gpu: u32,
    /// Which step.
    pub index: usize,
    /// Of how many.
    pub total: usize,
    /// The step.
    pub step: Step,
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

#[cfg(test)]
mod tests {
    use mig::MigPartedConfig;
    use mig::planner::GUIDE_CONFIGS;

    use super::*;
    use crate::sim::{SimDriver, SimOptions};

    fn config(name: &str) -> DesiredMig {
        let file = MigPartedConfig::default_configs().expect("parses");
        file.resolve(name, GpuModel::H100_80GB, 0)
            .expect("resolves on H100")
    }

    #[test]
    fn all_64_transitions_between_the_guides_configs_converge_and_reapply_is_free() {
        let sim = SimDriver::new(
            GpuModel::H100_80GB,
            1,
            SimOptions {
                reset_immediately: true,
            },
        );
        for from in GUIDE_CONFIGS {
            for to in GUIDE_CONFIGS {
                apply_gpu(&sim, 0, &config(from).into(), false).expect("reach the start state");
                let report = apply_gpu(&sim, 0, &config(to).into(), false)
                    .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
                let after = observe(&sim, 0).expect("observe");
                assert_eq!(after.gpu.as_desired(), config(to), "{from} -> {to}");
                assert_eq!(
                    report.outcome,
                    if from == to {
                        Outcome::AlreadyApplied
                    } else {
                        Outcome::Applied
                    },
                    "{from} -> {to}"
                );
                // Minimal: no instance is destroyed and then created again at the same place.
                let at = |s: &Step| match *s {
                    Step::DestroyInstance { profile, start, .. } => Some((false, profile.0, start)),
                    Step::CreateInstance { profile, start, .. } => Some((true, profile.0, start)),
                    Step::SetMigMode { .. } => None,
                };
                let marks: Vec<(bool, &str, u8)> = report.steps.iter().filter_map(at).collect();
                for (created, profile, start) in &marks {
                    assert!(
                        !*created || !marks.contains(&(false, profile, *start)),
                        "{from} -> {to} destroyed and recreated {profile}@{start}"
                    );
                }
                let calls = sim.mutating_calls();
                let again = apply_gpu(&sim, 0, &config(to).into(), false).expect("re-apply");
                assert_eq!(
                    (again.outcome, again.mutating_calls),
                    (Outcome::AlreadyApplied, 0),
                    "{to} twice"
                );
                assert_eq!(sim.mutating_calls(), calls, "re-apply made no driver call");
            }
        }
    }

    #[test]
    fn a_busy_instance_is_refused_with_its_processes_and_nothing_changes() {
        let sim = SimDriver::new(
            GpuModel::H100_80GB,
            1,
            SimOptions {
                reset_immediately: true,
            },
        );
        apply_gpu(&sim, 0, &config("all-1g.10gb").into(), false).expect("apply");
        sim.start_process(0, 3, 4242, 2048).expect("process");
        let calls = sim.mutating_calls();
        let err = apply_gpu(&sim, 0, &config("all-7g.80gb").into(), false).expect_err("busy");
        assert_eq!(
            err,
            ApplyError::Busy {
                gpu: 0,
                instances: vec![BusyInstance {
                    profile: "1g.10gb".to_owned(),
                    start: 3,
                    pids: vec![4242]
                }]
            }
        );
        assert!(
            err.to_string().contains("1g.10gb at slice 3 (pids 4242)"),
            "{err}"
        );
        assert_eq!(sim.mutating_calls(), calls, "refused before any change");
        // A busy instance the target keeps is not in the way: all-balanced keeps the 1g.10gb at 3.
        let report =
            apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect("busy instance kept");
        assert_eq!(report.outcome, Outcome::Applied);
        assert!(
            observe(&sim, 0)
                .expect("observe")
                .gpu
                .instances
                .iter()
                .any(|p| p.profile.name == "1g.10gb" && p.start == 3)
        );
        // `drained` skips the check, but the driver still refuses while the process runs.
        let err = apply_gpu(&sim, 0, &config("all-7g.80gb").into(), true)
            .expect_err("driver says in use");
        assert!(
            matches!(
                err,
                ApplyError::Driver {
                    source: DriverError::InUse(_),
                    ..
                }
            ),
            "{err}"
        );
        sim.stop_processes(0).expect("drain");
        assert_eq!(
            apply_gpu(&sim, 0, &config("all-7g.80gb").into(), false).map(|r| r.outcome),
            Ok(Outcome::Applied)
        );
    }

    #[test]
    fn a_mode_change_waits_for_a_reset_and_is_never_forced() {
        let sim = SimDriver::new(GpuModel::H100_80GB, 1, SimOptions::default());
        let report = apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect("apply");
        assert_eq!(
            (report.outcome, report.mutating_calls),
            (Outcome::ResetRequired, 1)
        );
        // Asking again before the reset: still waiting, no new call.
        let again = apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect("apply");
        assert_eq!(
            (again.outcome, again.mutating_calls),
            (Outcome::ResetRequired, 0)
        );
        assert_eq!(
            sim.mutating_calls(),
            1,
            "the pending request is not repeated"
        );
        sim.reset(0).expect("operator resets the GPU");
        let done = apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect("apply");
        assert_eq!(done.outcome, Outcome::Applied);
        assert_eq!(
            observe(&sim, 0).expect("observe").gpu.as_desired(),
            config("all-balanced")
        );
        // A contrary request pending on a GPU that is as wanted is cancelled.
        apply_gpu(
            &sim,
            0,
            &Target::Config(DesiredMig::Enabled(mig::ProfileCounts::default())),
            false,
        )
        .expect("clear instances");
        sim.set_mig_mode(0, MigMode::Disabled)
            .expect("someone asks for MIG off at the next reset");
        let fixed = apply_gpu(
            &sim,
            0,
            &Target::Config(DesiredMig::Enabled(mig::ProfileCounts::default())),
            false,
        )
        .expect("apply");
        assert_eq!((fixed.outcome, fixed.mutating_calls), (Outcome::Applied, 1));
        assert_eq!(sim.mig_mode(0).map(|m| m.pending), Ok(MigMode::Enabled));
    }

    #[test]
    fn a_fault_mid_apply_leaves_a_state_that_the_next_apply_converges_from() {
        let sim = SimDriver::new(
            GpuModel::H100_80GB,
            1,
            SimOptions {
                reset_immediately: true,
            },
        );
        apply_gpu(&sim, 0, &config("all-1g.10gb").into(), false).expect("apply");
        sim.inject_fault_after(5);
        let err = apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect_err("fault");
        assert!(
            matches!(
                err,
                ApplyError::Driver {
                    source: DriverError::Other { code: 999, .. },
                    ..
                }
            ),
            "{err}"
        );
        let partial = observe(&sim, 0).expect("observe");
        assert_ne!(
            partial.gpu.as_desired(),
            config("all-balanced"),
            "stopped half-way"
        );
        let report = apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect("converges");
        assert_eq!(report.outcome, Outcome::Applied);
        assert_eq!(
            observe(&sim, 0).expect("observe").gpu.as_desired(),
            config("all-balanced")
        );
    }
}
