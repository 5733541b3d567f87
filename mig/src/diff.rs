//! The apply diff: the minimal steps from what a GPU has to what it should have.
//!
//! `plan` is pure and returns no steps when nothing must change. It keeps every instance that already
//! matches (same profile, same start), destroys only what conflicts, and creates with explicit
//! placements. Callers execute the steps, observe again, and expect an empty plan (else: diverged).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, Placed};
use crate::model::GpuModel;

/// MIG mode of a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigMode {
    /// MIG off: the GPU is one device.
    Disabled,
    /// MIG on: the GPU is cut into instances.
    Enabled,
}

/// What a GPU has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedGpu {
    /// The model.
    pub model: GpuModel,
    /// Current MIG mode.
    pub mode: MigMode,
    /// Its GPU instances (empty when MIG is off).
    pub instances: Vec<Placed>,
    /// Starts of GPU instances that have no compute instance: an apply interrupted between
    /// creating a GPU instance and its compute instance leaves one (NVML keeps it), and no
    /// workload can use it until it gets one.
    pub without_compute: Vec<u8>,
}

impl ObservedGpu {
    /// A GPU with MIG off.
    pub fn disabled(model: GpuModel) -> Self {
        Self {
            model,
            mode: MigMode::Disabled,
            instances: Vec::new(),
            without_compute: Vec::new(),
        }
    }
    /// What this GPU has, as the desired state that would keep it (counts, not placements).
    pub fn as_desired(&self) -> crate::parted::DesiredMig {
        match self.mode {
            MigMode::Disabled => crate::parted::DesiredMig::Disabled,
            MigMode::Enabled => {
                let mut counts = crate::layout::ProfileCounts::default();
                self.instances
                    .iter()
                    .for_each(|p| counts.add(p.profile.name, 1));
                crate::parted::DesiredMig::Enabled(counts)
            }
        }
    }
    /// A GPU with MIG on and exactly this layout.
    pub fn with_layout(layout: &Layout) -> Self {
        Self {
            model: layout.model(),
            mode: MigMode::Enabled,
            instances: layout.instances().to_vec(),
            without_compute: Vec::new(),
        }
    }
}

/// One change to a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    /// Turn MIG mode on or off. Needs a GPU reset (no processes on the GPU).
    SetMigMode {
        /// The new mode.
        mode: MigMode,
    },
    /// Destroy the GPU instance (and its compute instances) of this profile at this start.
    DestroyInstance {
        /// NVML profile id of the instance (not the profile index).
        nvml_profile_id: u32,
        /// Profile name.
        profile: ProfileLabel,
        /// Start slice.
        start: u8,
    },
    /// Create a GPU instance at exactly this placement, with one compute instance spanning it.
    CreateInstance {
        /// NVML profile id (not the profile index).
        nvml_profile_id: u32,
        /// Profile name.
        profile: ProfileLabel,
        /// Start slice.
        start: u8,
    },
    /// Create the compute instance (spanning it) of the GPU instance of this profile at this
    /// start, which has none.
    CreateComputeInstance {
        /// NVML profile id of the GPU instance (not the profile index).
        nvml_profile_id: u32,
        /// Profile name.
        profile: ProfileLabel,
        /// Start slice.
        start: u8,
    },
}

/// A profile name from the static tables; deserializing maps the string back onto them, so an unknown
/// name is rejected at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileLabel(pub &'static str);

impl std::ops::Deref for ProfileLabel {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl fmt::Display for ProfileLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for ProfileLabel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for ProfileLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::model::MODELS
            .iter()
            .flat_map(|m| m.profiles.iter())
            .find(|p| p.name == s)
            .map(|p| Self(p.name))
            .ok_or_else(|| serde::de::Error::custom(format!("unknown MIG profile `{s}`")))
    }
}

impl Step {
    fn destroy(p: &Placed) -> Self {
        Self::DestroyInstance {
            nvml_profile_id: p.profile.nvml_id(),
            profile: ProfileLabel(p.profile.name),
            start: p.start,
        }
    }
    fn create(p: &Placed) -> Self {
        Self::CreateInstance {
            nvml_profile_id: p.profile.nvml_id(),
            profile: ProfileLabel(p.profile.name),
            start: p.start,
        }
    }
    fn create_compute(p: &Placed) -> Self {
        Self::CreateComputeInstance {
            nvml_profile_id: p.profile.nvml_id(),
            profile: ProfileLabel(p.profile.name),
            start: p.start,
        }
    }
    /// Whether the step needs a GPU reset.
    pub fn needs_reset(&self) -> bool {
        matches!(self, Self::SetMigMode { .. })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SetMigMode {
                mode: MigMode::Enabled,
            } => f.write_str("enable MIG mode (GPU reset)"),
            Self::SetMigMode {
                mode: MigMode::Disabled,
            } => f.write_str("disable MIG mode (GPU reset)"),
            Self::DestroyInstance { profile, start, .. } => {
                write!(f, "destroy {profile} at slice {start}")
            }
            Self::CreateInstance { profile, start, .. } => {
                write!(f, "create {profile} at slice {start}")
            }
            Self::CreateComputeInstance { profile, start, .. } => {
                write!(f, "create the missing compute instance of {profile} at slice {start}")
            }
        }
    }
}

/// The steps that turn `observed` into `desired` (`None`: MIG disabled). Empty when nothing must change.
///
/// Order: destroy conflicting instances, change the mode, create missing instances left to right,
/// then give each kept instance that has no compute instance its compute instance.
pub fn plan(observed: &ObservedGpu, desired: Option<&Layout>) -> Vec<Step> {
    let mut steps = Vec::new();
    let same = |a: &Placed, b: &Placed| a.profile.kind == b.profile.kind && a.start == b.start;
    match desired {
        None => {
            steps.extend(observed.instances.iter().map(Step::destroy));
            if observed.mode == MigMode::Enabled {
                steps.push(Step::SetMigMode {
                    mode: MigMode::Disabled,
                });
            }
        }
        Some(layout) => {
            let want = layout.instances();
            steps.extend(
                observed
                    .instances
                    .iter()
                    .filter(|o| !want.iter().any(|w| same(o, w)))
                    .map(Step::destroy),
            );
            if observed.mode == MigMode::Disabled {
                steps.push(Step::SetMigMode {
                    mode: MigMode::Enabled,
                });
            }
            steps.extend(
                want.iter()
                    .filter(|w| !observed.instances.iter().any(|o| same(o, w)))
                    .map(Step::create),
            );
            steps.extend(
                observed
                    .instances
                    .iter()
                    .filter(|o| {
                        observed.without_compute.contains(&o.start)
                            && want.iter().any(|w| same(o, w))
                    })
                    .map(Step::create_compute),
            );
        }
    }
    steps
}

/// Why steps could not be applied to a GPU (used by simulators and to check plans).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The step does not fit the GPU's state.
    #[error("step `{step}` cannot be applied: {reason}")]
    Rejected {
        /// The step.
        step: String,
        /// Why.
        reason: String,
    },
}

/// Applies steps to a GPU state with the same rules the hardware enforces: instances only with MIG on,
/// no overlap, destroy only what exists, mode changes only on an empty GPU.
///
/// # Errors
/// [`ApplyError`] at the first step the hardware would refuse.
pub fn apply(observed: &ObservedGpu, steps: &[Step]) -> Result<ObservedGpu, ApplyError> {
    let mut gpu = observed.clone();
    for step in steps {
        let reject = |reason: &str| ApplyError::Rejected {
            step: step.to_string(),
            reason: reason.to_owned(),
        };
        match *step {
            Step::SetMigMode { mode } => {
                if !gpu.instances.is_empty() {
                    return Err(reject("GPU instances still exist"));
                }
                gpu.mode = mode;
            }
            Step::DestroyInstance { profile, start, .. } => {
                let pos = gpu
                    .instances
                    .iter()
                    .position(|i| i.profile.name == profile.0 && i.start == start)
                    .ok_or_else(|| reject("no such instance"))?;
                gpu.instances.remove(pos);
                gpu.without_compute.retain(|s| *s != start);
            }
            Step::CreateComputeInstance { profile, start, .. } => {
                let exists = gpu
                    .instances
                    .iter()
                    .any(|i| i.profile.name == profile.0 && i.start == start);
                let bare = gpu.without_compute.contains(&start);
                if !exists || !bare {
                    return Err(reject("no GPU instance without a compute instance there"));
                }
                gpu.without_compute.retain(|s| *s != start);
            }
            Step::CreateInstance { profile, start, .. } => {
                if gpu.mode != MigMode::Enabled {
                    return Err(reject("MIG mode is off"));
                }
                let spec = gpu
                    .model
                    .profile(profile.0)
                    .ok_or_else(|| reject("profile not on this GPU model"))?;
                let mut next = gpu.instances.clone();
                next.push(Placed {
                    profile: spec,
                    start,
                });
                let layout = Layout::from_placed(gpu.model, &next).map_err(|issues| {
                    reject(
                        &issues
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                })?;
                gpu.instances = layout.instances().to_vec();
            }
        }
    }
    gpu.instances.sort();
    Ok(gpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parted::MigPartedConfig;
    use crate::place::place_near;

    use crate::parted::GUIDE_CONFIGS;

    fn observed(config: &MigPartedConfig, name: &str) -> ObservedGpu {
        match config
            .resolve_layout(name, GpuModel::H100_80GB, 0)
            .expect(name)
        {
            Some(layout) => ObservedGpu::with_layout(&layout),
            None => ObservedGpu::disabled(GpuModel::H100_80GB),
        }
    }

    /// All 64 transitions between the guide's eight H100 configs: apply, re-plan empty, keep matches.
    #[test]
    fn all_64_transitions_converge_and_keep_matching_instances() {
        let config = MigPartedConfig::default_configs().expect("defaults");
        for from in GUIDE_CONFIGS {
            for to in GUIDE_CONFIGS {
                let before = observed(&config, from);
                let desired = match config.resolve(to, GpuModel::H100_80GB, 0).expect(to) {
                    crate::parted::DesiredMig::Disabled => None,
                    crate::parted::DesiredMig::Enabled(counts) => Some(
                        place_near(GpuModel::H100_80GB, &counts, &before.instances)
                            .expect("places"),
                    ),
                };
                let steps = plan(&before, desired.as_ref());
                let after = apply(&before, &steps).unwrap_or_else(|e| panic!("{from} → {to}: {e}"));
                assert!(
                    plan(&after, desired.as_ref()).is_empty(),
                    "{from} → {to} did not converge"
                );
                if from == to {
                    assert!(
                        steps.is_empty(),
                        "{from} → itself must be a no-op: {steps:?}"
                    );
                }
                // Nothing that stays is touched.
                for step in &steps {
                    if let Step::DestroyInstance { profile, start, .. } = step {
                        let kept = desired.as_ref().is_some_and(|d| {
                            d.instances()
                                .iter()
                                .any(|i| i.profile.name == profile.0 && i.start == *start)
                        });
                        assert!(
                            !kept,
                            "{from} → {to} destroys {profile}@{start}, which the target keeps"
                        );
                    }
                }
                let resets = steps.iter().filter(|s| s.needs_reset()).count();
                assert_eq!(
                    resets,
                    usize::from((from == "all-disabled") != (to == "all-disabled")),
                    "{from} → {to}"
                );
            }
        }
    }

    #[test]
    fn balanced_to_3g_keeps_the_3g() {
        let config = MigPartedConfig::default_configs().expect("defaults");
        let before = observed(&config, "all-balanced");
        let counts = match config
            .resolve("all-3g.40gb", GpuModel::H100_80GB, 0)
            .expect("ok")
        {
            crate::parted::DesiredMig::Enabled(c) => c,
            crate::parted::DesiredMig::Disabled => unreachable!("all-3g.40gb enables MIG"),
        };
        let desired = place_near(GpuModel::H100_80GB, &counts, &before.instances).expect("places");
        let steps: Vec<String> = plan(&before, Some(&desired))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            steps,
            [
                "destroy 2g.20gb at slice 0",
                "destroy 1g.10gb at slice 2",
                "destroy 1g.10gb at slice 3",
                "create 3g.40gb at slice 0"
            ]
        );
    }

    /// A GPU instance left without its compute instance: kept, it gets one (a step of its own, so
    /// a dry run shows it); not wanted, it is destroyed like any other.
    #[test]
    fn a_kept_instance_without_compute_gets_one_and_an_unwanted_one_goes() {
        let config = MigPartedConfig::default_configs().expect("defaults");
        let balanced = config
            .resolve_layout("all-balanced", GpuModel::H100_80GB, 0)
            .expect("resolves")
            .expect("MIG on");
        let mut gpu = ObservedGpu::with_layout(&balanced);
        let bare = gpu.instances[0].start;
        gpu.without_compute = vec![bare];
        let steps = plan(&gpu, Some(&balanced));
        assert_eq!(
            steps,
            [Step::create_compute(&gpu.instances[0])],
            "only the missing compute instance"
        );
        assert!(steps[0].to_string().contains("missing compute instance"), "{}", steps[0]);
        let after = apply(&gpu, &steps).expect("applies");
        assert!(after.without_compute.is_empty());
        assert!(plan(&after, Some(&balanced)).is_empty(), "converged");
        assert!(apply(&after, &steps).is_err(), "a compute instance is not created twice");

        let seven = config
            .resolve_layout("all-1g.10gb", GpuModel::H100_80GB, 0)
            .expect("resolves")
            .expect("MIG on");
        let moved = plan(&gpu, Some(&seven));
        assert!(
            !moved.iter().any(|s| matches!(s, Step::CreateComputeInstance { .. })),
            "{moved:?}"
        );
        let after = apply(&gpu, &moved).expect("applies");
        assert!(after.without_compute.is_empty(), "the bare instance was destroyed");
        assert!(plan(&after, Some(&seven)).is_empty());
    }

    #[test]
    fn steps_serialize_with_both_names_and_nvml_ids() {
        let p = GpuModel::H100_80GB.profile("3g.40gb").expect("3g");
        let step = Step::create(&Placed {
            profile: p,
            start: 4,
        });
        let json = serde_json::to_string(&step).expect("json");
        assert_eq!(
            json,
            r#"{"op":"create_instance","nvml_profile_id":9,"profile":"3g.40gb","start":4}"#
        );
        assert_eq!(serde_json::from_str::<Step>(&json).expect("back"), step);
        assert!(
            serde_json::from_str::<Step>(
                r#"{"op":"create_instance","nvml_profile_id":9,"profile":"9g.1gb","start":4}"#
            )
            .is_err()
        );
    }

    #[test]
    fn apply_refuses_what_hardware_refuses() {
        let h100 = GpuModel::H100_80GB;
        let p = h100.profile("4g.40gb").expect("4g");
        let off = ObservedGpu::disabled(h100);
        let err = apply(
            &off,
            &[Step::create(&Placed {
                profile: p,
                start: 0,
            })],
        )
        .expect_err("MIG off");
        assert!(err.to_string().contains("MIG mode is off"));
        let on = ObservedGpu {
            mode: MigMode::Enabled,
            ..off
        };
        let bad = Step::CreateInstance {
            nvml_profile_id: 5,
            profile: ProfileLabel("4g.40gb"),
            start: 4,
        };
        assert!(apply(&on, &[bad]).is_err());
    }
}
