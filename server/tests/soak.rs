//! The soak campaign's short form, in `make test`: 200 watchers on `/api/v1/events`, 100 mixed
//! requests per second and a deployment submitted and undeployed every 3 s, for 15 s, against the
//! debug `migboard`. It asserts what the campaign asserts — no 5xx, no event lost at any watcher,
//! no `resync` — but not the memory growth, which needs the full run's warm-up (the full campaign:
//! `target/release/deps/events-* soak 600 2000`, results in BENCHMARKS.md). The load code is the
//! bench's own, compiled here as a module.

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../benches/events.rs"]
mod events;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_answers_everything_and_loses_no_event() {
    let report = events::soak(15, 200).await;
    assert_eq!(report.connected, 200, "{report:?}");
    assert_eq!(report.errors, 0, "5xx or unanswered requests: {report:?}");
    assert!(report.requests >= 1000, "the load ran: {report:?}");
    assert!(report.submitted >= 3 && report.undeployed == report.submitted, "the churn ran: {report:?}");
    assert!(report.most > 0, "events arrived: {report:?}");
    assert_eq!((report.lost, report.resyncs), (0, 0), "events lost: {report:?}");
}
