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

/// A request to a local agent over plain HTTP/1.1 (the test needs no HTTP client crate): (status,
/// body).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer ffi-test-agent-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Applies `request` and waits for its operation to end.
fn apply_and_wait(port: u16, request: &mig::agent_api::ApplyRequest) -> mig::agent_api::Operation {
    use mig::agent_api::{Accepted, Operation, OperationStatus};
    let (status, body) = http(
        port,
        "POST",
        "/v1/apply",
        &serde_json::to_string(request).expect("json"),
    )
    .expect("the agent answers");
    assert_eq!(status, 202, "{body}");
    let accepted: Accepted = serde_json::from_str(&body).expect("Accepted");
    for _ in 0..300 {
        let (_, body) = http(port, "GET", &accepted.href, "").expect("operation");
        let op: Operation = serde_json::from_str(&body).expect("Operation");
        if op.status != OperationStatus::Running {
            return op;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("operation {} did not end", accepted.operation)
}

/// A custom config as the server sends it (per-GPU exact placements), through the agent's HTTP API,
/// its NVML driver and the FFI into nvml-sim: each GPU ends with exactly its placements, the GPUs
/// the request does not name are untouched, and applying it again makes no mutating NVML call.
#[test]
fn a_per_gpu_custom_config_is_applied_exactly_through_nvml_and_reapplying_changes_nothing() {
    use mig::InstanceSpec;
    use mig::agent_api::{ApplyRequest, ApplyTarget, GpuResult, Inventory, OperationStatus, Outcome};
    let (_dir, lib) = library();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_migboard-agent"))
        .arg("--nvml-lib")
        .arg(&lib)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("NVML_SIM_GPUS", "h100x4")
        .env("NVML_SIM_RESET_IMMEDIATELY", "1")
        .env("NVML_SIM_INITIAL", "all-balanced")
        .env("MIGBOARD_AGENT_TOKEN", "ffi-test-agent-token")
        .env_remove("MIGBOARD_AGENT_SIMULATE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the agent starts"),
    );
    let up = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        http(port, "GET", "/healthz", "").is_some_and(|(s, _)| s == 200)
    });
    assert!(up, "the agent did not answer /healthz");

    let spec = |profile: &str, start: u8| InstanceSpec {
        profile: profile.into(),
        start,
    };
    // GPUs 0 and 1: two different layouts at starts migboard's own placement would not pick.
    let gpu0 = vec![spec("3g.40gb", 0), spec("1g.10gb", 6)];
    let gpu1 = vec![spec("4g.40gb", 0), spec("1g.20gb", 4), spec("1g.10gb", 6)];
    let request = ApplyRequest::new(
        ApplyTarget::PerGpu([(0, gpu0.clone()), (1, gpu1.clone())].into()),
        &[],
        false,
    );
    let op = apply_and_wait(port, &request);
    assert_eq!(op.status, OperationStatus::Succeeded, "{op:?}");
    assert_eq!(op.config, "explicit per-GPU layout");
    let (_, body) = http(port, "GET", "/v1/inventory", "").expect("inventory");
    let inventory: Inventory = serde_json::from_str(&body).expect("Inventory");
    let sorted = |mut v: Vec<InstanceSpec>| {
        v.sort();
        v
    };
    assert_eq!(sorted(inventory.gpus[0].instances.clone()), sorted(gpu0));
    assert_eq!(sorted(inventory.gpus[1].instances.clone()), sorted(gpu1));
    // GPUs 2 and 3 are not named: still all-balanced (4 instances).
    assert_eq!(inventory.gpus[2].instances.len(), 4, "{body}");
    assert_eq!(inventory.gpus[3].instances.len(), 4, "{body}");

    // Again: every GPU already has it; not one mutating NVML call.
    let again = apply_and_wait(port, &request);
    assert_eq!(again.status, OperationStatus::Succeeded);
    assert_eq!(again.gpus.len(), 2);
    for g in &again.gpus {
        let GpuResult::Done(report) = g else {
            panic!("{g:?}")
        };
        assert_eq!(report.outcome, Outcome::AlreadyApplied, "{report:?}");
        assert_eq!(report.mutating_calls, 0, "{report:?}");
    }
}
