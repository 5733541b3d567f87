//! Crash safety of the whole binary, the crash campaign's short form (the campaign itself:
//! `cargo bench -p server --bench crash -- server 100` and `-- agent 100`, results in BENCHMARKS.md;
//! this file compiles the bench as a module and runs fewer rounds).
//!
//! - `migboard` is SIGKILLed at random points while it creates and removes pools, updates nodes
//!   and pools, places and undeploys replicas, then started again over the same data directory;
//! - the fleet's agent process is SIGKILLed at random points of node and pool updates while the
//!   server runs, and is started again by it.
//!
//! After each kill every deployment must end once as its work ends, no step may run twice, every
//! GPU must hold exactly its config's instances (no orphan) and every replica run exactly once —
//! the campaign asserts all of it after every round. The seed is fixed (`MIGBOARD_CRASH_SEED`
//! overrides it); kill times still vary with the machine's timing.
//!
//! Needs the agent binary next to the test's `migboard` (`cargo build -p agent`; `make test` does).

#[allow(dead_code, clippy::all)]
#[path = "../benches/crash.rs"]
mod crash;

fn seed() -> u64 {
    std::env::var("MIGBOARD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_at_random_points_finishes_everything_exactly_once() {
    let wanted = 8;
    let report = crash::server_campaign(wanted, seed()).await;
    eprintln!("{report:#?}");
    // The kills must fall inside the work, or the test proves nothing.
    assert_eq!(
        report.interrupted, wanted,
        "only {} of {} kills interrupted work: the kill points no longer fall inside it: {report:#?}",
        report.interrupted, report.kills
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_at_random_points_of_an_apply_converges_exactly_once() {
    let wanted = 8;
    let report = crash::agent_campaign(wanted, seed()).await;
    eprintln!("{report:#?}");
    assert_eq!(
        report.interrupted, wanted,
        "only {} of {} kills interrupted an update: {report:#?}",
        report.interrupted, report.kills
    );
    assert!(
        report.kill_points.keys().any(|k| k.contains("mid-apply")),
        "some kill fell inside an agent's apply: {report:#?}"
    );
}
