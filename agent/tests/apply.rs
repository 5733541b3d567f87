//! Applying to one simulated GPU: every transition between the guide's configs, busy instances, resets, faults.

use mig::MigPartedConfig;
use mig::parted::GUIDE_CONFIGS;

use agent::apply::*;
use agent::driver::{DriverError, GpuDriver};
use agent::sim::{SimDriver, SimOptions};
use mig::parted::DesiredMig;
use mig::{GpuModel, MigMode, Step};

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
                Step::SetMigMode { .. } | Step::CreateComputeInstance { .. } => None,
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
                gpu: 0,
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
    let err =
        apply_gpu(&sim, 0, &config("all-7g.80gb").into(), true).expect_err("driver says in use");
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

/// A fault at every driver call of an apply, including the one between creating a GPU instance and
/// its compute instance: the next apply converges, and every GPU instance has its compute instance
/// (none is left bare, which no workload could use).
#[test]
fn a_fault_at_any_call_is_repaired_with_every_compute_instance() {
    let sim = SimDriver::new(
        GpuModel::H100_80GB,
        1,
        SimOptions {
            reset_immediately: true,
        },
    );
    apply_gpu(&sim, 0, &config("all-1g.10gb").into(), false).expect("apply");
    let calls = apply_gpu(&sim, 0, &config("all-balanced").into(), false)
        .expect("apply")
        .mutating_calls;
    assert!(calls > 4, "{calls}");
    let mut bare_seen = false;
    for n in 1..=u64::from(calls) {
        apply_gpu(&sim, 0, &config("all-1g.10gb").into(), false).expect("back to the start");
        sim.inject_fault_after(n);
        let _ = apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect_err("fault");
        let partial = observe(&sim, 0).expect("observe");
        bare_seen |= partial.instances.iter().any(|i| i.compute_instances.is_empty());
        let report = apply_gpu(&sim, 0, &config("all-balanced").into(), false)
            .unwrap_or_else(|e| panic!("fault at call {n}: {e}"));
        assert_eq!(report.outcome, Outcome::Applied, "fault at call {n}");
        let after = observe(&sim, 0).expect("observe");
        assert_eq!(after.gpu.as_desired(), config("all-balanced"), "fault at call {n}");
        assert!(
            after.instances.iter().all(|i| i.compute_instances.len() == 1),
            "fault at call {n}: every GPU instance has one compute instance: {:?}",
            after.instances
        );
        assert_eq!(
            sim.mig_devices(0).expect("devices").len(),
            after.instances.len(),
            "fault at call {n}"
        );
        let again = apply_gpu(&sim, 0, &config("all-balanced").into(), false).expect("again");
        assert_eq!((again.outcome, again.mutating_calls), (Outcome::AlreadyApplied, 0));
    }
    assert!(bare_seen, "some fault fell between a GPU instance and its compute instance");
}
