//! The operator CLI, run as a process on simulated GPUs.

mod common;

fn agent(args: &[&str]) -> (i32, String, String) {
    common::run_agent(args, &[])
}

#[test]
fn dry_run_prints_the_plan_per_gpu() {
    let (code, out, _) = agent(&[
        "--simulate",
        "h100x2",
        "apply",
        "-c",
        "all-balanced",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("enable MIG mode (GPU reset)").count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("GPU 1: 5 step(s)") && out.contains("create 3g.40gb at slice 4"),
        "{out}"
    );
}

#[test]
fn apply_and_inventory_on_simulated_gpus() {
    // Simulated GPUs keep a MIG mode change pending until a reset, as real ones do.
    let (code, out, err) = agent(&["--simulate", "a100x1", "apply", "-c", "all-1g.5gb"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("GPU 0: all-1g.5gb waiting for a GPU reset (not done by the agent) (8 step(s), 1 driver call(s))"),
        "{out}"
    );
    let (code, out, err) = agent(&[
        "--simulate",
        "a100x1",
        "--sim-reset-immediately",
        "apply",
        "-c",
        "all-1g.5gb",
    ]);
    assert_eq!(code, 0, "{err}");
    // MIG on (1 call), then 7 × (GPU instance + compute instance).
    assert!(
        out.contains("GPU 0: all-1g.5gb applied (8 step(s), 15 driver call(s))"),
        "{out}"
    );
    let (code, out, _) = agent(&["--simulate", "h100x1", "inventory"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("GPU 0  NVIDIA H100 80GB") && out.contains("MIG disabled"),
        "{out}"
    );
}

#[test]
fn mistakes_are_explained() {
    let (code, _, err) = agent(&["--simulate", "h100x1", "apply", "-c", "all-balancd"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `all-balanced`?"), "{err}");
    let (code, _, err) = agent(&["inventory"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no NVIDIA driver on this node") && err.contains("--simulate h100x8"),
        "{err}"
    );
    let (code, _, err) = agent(&["--simulate", "v100x8", "inventory"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown GPU model `v100`"), "{err}");
}

#[test]
fn a_sim_state_file_keeps_the_simulated_gpus_across_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("node.json");
    let state = state.to_str().expect("utf-8 path");
    let apply = [
        "--simulate",
        "h100x2",
        "--sim-reset-immediately",
        "--sim-state",
        state,
        "apply",
        "-c",
        "all-balanced",
    ];
    let (code, out, err) = agent(&apply);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("GPU 1: all-balanced applied"), "{out}");
    // A new process finds the layout: inventory shows it, and applying it again changes nothing.
    let (code, out, _) = agent(&["--simulate", "h100x2", "--sim-state", state, "inventory"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("3g.40gb") && !out.contains("MIG disabled"),
        "{out}"
    );
    let (code, out, err) = agent(&apply);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("already applied") || out.contains("0 driver call(s)"),
        "{out}"
    );
    // The file describes 2 H100s: simulating other GPUs with it is refused, and so is a damaged file.
    let (code, _, err) = agent(&["--simulate", "a100x2", "--sim-state", state, "inventory"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("holds 2 × h100-80gb, not the 2 × a100-40gb"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("node.json"),
        "{\"version\": 1, \"model\": \"h100-80gb\", \"gpus\": [",
    )
    .expect("write");
    let (code, _, err) = agent(&["--simulate", "h100x2", "--sim-state", state, "inventory"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("is unreadable") && err.contains("delete it"),
        "{err}"
    );
    // Without --simulate the flag makes no sense.
    let (code, _, err) = agent(&["--sim-state", state, "inventory"]);
    assert_eq!(code, 2, "{err}");
}
