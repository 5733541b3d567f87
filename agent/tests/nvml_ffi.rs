//! The NVML driver for real: `NvmlDriver` (nvml-wrapper, raw MIG calls) loading `nvml-sim` as
//! `libnvidia-ml.so.1`, in process and through the CLI. `make test` builds nvml-sim first and sets
//! `NVML_SIM_LIB`; by hand: `cargo build -p nvml-sim && cargo test -p agent --test nvml_ffi`.

use std::path::PathBuf;

use agent::apply::{Outcome, apply_gpu, observe};
use agent::driver::{DriverError, GpuDriver};
use agent::nvml::NvmlDriver;
use mig::{GpuModel, MigMode, MigPartedConfig};

mod common;

/// nvml-sim copied into a fresh directory under the name NVML is loaded by.
fn library() -> (tempfile::TempDir, PathBuf) {
    let built = std::env::var_os("NVML_SIM_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/libnvidia_ml.so")
        });
    assert!(
        built.exists(),
        "{} is missing: build it with `cargo build -p nvml-sim` (make test does)",
        built.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let lib = dir.path().join("libnvidia-ml.so.1");
    std::fs::copy(&built, &lib).expect("copy nvml-sim");
    (dir, lib)
}

fn desired(name: &str) -> mig::parted::DesiredMig {
    MigPartedConfig::default_configs()
        .expect("parses")
        .resolve(name, GpuModel::H100_80GB, 0)
        .expect("resolves")
}

#[test]
fn inventory_and_nvml_return_codes_through_the_real_ffi() {
    let (_dir, lib) = library();
    let driver = NvmlDriver::open(Some(&lib)).expect("nvml-sim loads as NVML");
    let gpus = driver.gpus().expect("devices");
    assert_eq!(gpus.len(), 1, "NVML_SIM_GPUS defaults to h100x1");
    assert_eq!(
        gpus[0].model,
        Some(GpuModel::H100_80GB),
        "model from the PCI device id {:#x}",
        gpus[0].pci_device_id
    );
    assert_eq!(gpus[0].name, "NVIDIA H100 80GB");
    assert!(
        gpus[0].uuid.starts_with("GPU-") && gpus[0].memory_mib > 80_000,
        "{:?}",
        gpus[0]
    );
    assert_eq!(driver.mig_mode(0).map(|m| m.current), Ok(MigMode::Disabled));
    // The simulator keeps the mode change pending until a reset, as real GPUs do: the apply says so
    // and does not go on.
    let report = apply_gpu(&driver, 0, &desired("all-balanced").into(), false).expect("apply");
    assert_eq!(report.outcome, Outcome::ResetRequired);
    let state = driver.mig_mode(0).expect("mode");
    assert_eq!(
        (state.current, state.pending),
        (MigMode::Disabled, MigMode::Enabled)
    );
    // NVML's return code 16 crosses the FFI and becomes ResetRequired.
    let err = driver.create_gpu_instance(0, 9, 4).expect_err("pending");
    assert!(matches!(err, DriverError::ResetRequired(_)), "{err:?}");
    assert_eq!(
        observe(&driver, 0).expect("observe").pending,
        Some(MigMode::Enabled)
    );
}

fn agent(lib: &std::path::Path, gpus: &str, args: &[&str]) -> (i32, String, String) {
    agent_with(lib, gpus, &[], args)
}

fn agent_with(
    lib: &std::path::Path,
    gpus: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let mut argv = vec![std::ffi::OsStr::new("--nvml-lib"), lib.as_os_str()];
    argv.extend(args.iter().map(std::ffi::OsStr::new));
    let mut all_env = vec![("NVML_SIM_GPUS", gpus), ("NVML_SIM_RESET_IMMEDIATELY", "1")];
    all_env.extend_from_slice(env);
    common::run_agent(&argv, &all_env)
}

#[test]
fn a_full_apply_through_nvml_converges_and_is_verified() {
    let (_dir, lib) = library();
    // apply_gpu re-reads every GPU through NVML after executing and fails with Diverged unless the
    // GPU ends up exactly as planned, so "applied" means verified through the FFI.
    let (code, out, err) = agent(&lib, "h100x2", &["apply", "-c", "all-balanced"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.matches("all-balanced applied (5 step(s), 9 driver call(s))")
            .count(),
        2,
        "{out}"
    );
    let (code, out, err) = agent(&lib, "a100x1", &["apply", "-c", "all-1g.5gb"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("all-1g.5gb applied (8 step(s), 15 driver call(s))"),
        "{out}"
    );
    // MIG devices and their UUIDs, read through NVML's MIG device handles.
    let (code, out, err) = agent_with(
        &lib,
        "h100x1",
        &[("NVML_SIM_INITIAL", "all-balanced")],
        &["inventory"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("  MIG-5eed").count(), 4, "{out}");
    assert!(out.contains("3g.40gb@4  MIG-5eed"), "{out}");
    let (code, out, _) = agent(&lib, "a100x1", &["inventory"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("NVIDIA A100 40GB") && out.contains("MIG disabled"),
        "{out}"
    );
}

#[test]
fn busy_instances_and_faults_through_nvml() {
    let (_dir, lib) = library();
    // all-1g.10gb is on the GPU and pid 4242 runs on the instance at slice 3.
    let busy = [
        ("NVML_SIM_INITIAL", "all-1g.10gb"),
        ("NVML_SIM_PROCESSES", "0:3:4242"),
    ];
    let (code, out, err) = agent_with(&lib, "h100x1", &busy, &["inventory"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("1g.10gb@").count(), 7, "{out}");
    let (code, _, err) = agent_with(&lib, "h100x1", &busy, &["apply", "-c", "all-7g.80gb"]);
    assert_eq!(code, 1);
    assert!(err.contains("1g.10gb at slice 3 (pids 4242)"), "{err}");
    // Told the node is drained, the agent tries, and NVML itself says IN_USE (19).
    let (code, _, err) = agent_with(
        &lib,
        "h100x1",
        &busy,
        &["apply", "-c", "all-7g.80gb", "--drained"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("in use"), "{err}");
    // A driver failure mid-apply is reported with the step it hit.
    let fault = [
        ("NVML_SIM_INITIAL", "all-1g.10gb"),
        ("NVML_SIM_FAULT_AFTER", "3"),
    ];
    let (code, _, err) = agent_with(&lib, "h100x1", &fault, &["apply", "-c", "all-balanced"]);
    assert_eq!(code, 1);
    assert!(err.contains("NVML error 999"), "{err}");
}
