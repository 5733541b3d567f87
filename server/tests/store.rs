//! The store: what the orchestrator relies on after a crash. Every scenario runs on SQLite (a file
//! in a temporary directory, or memory) and on PostgreSQL: `make test` starts a throwaway server
//! (`scripts/pg.sh`) and passes its URL as `MIGBOARD_TEST_DATABASE_URL`; without it the PostgreSQL
//! runs say so and check nothing.

use server::store::{
    AuditRecord, DeploymentStatus, NewDeployment, Placement, PlacementState, Sample,
    SampleRetention, ShareAccess, StepState, Store, StoreError, StoredPool,
};

fn new(name: &str) -> NewDeployment {
    NewDeployment {
        name: name.to_owned(),
        mode: "update".to_owned(),
        blueprint: format!("{{\"recipe_mode\": \"update\", \"deployment_name\": \"{name}\"}}"),
        drain: false,
        max_unavailable: 1,
        config: None,
    }
}

mod common;
use common::fresh_pg;

/// Runs `scenario` on SQLite (`sqlite` URL) and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("migboard.db").display()
                );
                super::$scenario(url).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(url) = super::fresh_pg(stringify!($scenario)).await {
                    super::$scenario(url).await;
                }
            }
        }
    };
}

on_both_backends!(deployments_and_steps_survive_reopening_and_steps_are_idempotent);
on_both_backends!(names_are_unique_among_live_deployments_only);
on_both_backends!(unknown_ids_are_errors_not_panics);
on_both_backends!(desired_configs_and_the_audit_log);
on_both_backends!(a_slice_holds_one_live_replica_and_drains_free_it);
on_both_backends!(pools_samples_and_progress);
on_both_backends!(concurrent_steps_and_samples_never_fail_or_collide);
on_both_backends!(share_links_open_until_they_expire_or_are_revoked);
on_both_backends!(embed_links_keep_their_view_and_origins_until_revoked);
on_both_backends!(the_deployments_that_touched_a_node_come_from_one_query);
on_both_backends!(accounts_tokens_and_sessions_keep_only_hashes);
on_both_backends!(custom_configs_keep_every_version_and_deployments_keep_theirs);

async fn the_deployments_that_touched_a_node_come_from_one_query(url: String) {
    let store = Store::open(&url).await.expect("open");
    let a = store.create_deployment(&new("a")).await.expect("a");
    let b = store.create_deployment(&new("b")).await.expect("b");
    let c = store.create_deployment(&new("c")).await.expect("c");
    store
        .record_step(a.id, "reconfigure/10.0.10.11/0", StepState::Done, "GPU 0")
        .await
        .expect("step");
    store
        .record_step(b.id, "drain/10.0.10.11", StepState::Done, "moved")
        .await
        .expect("step");
    store
        .record_step(c.id, "reconfigure/10.0.10.111/0", StepState::Done, "GPU 0")
        .await
        .expect("step");
    let names =
        |v: Vec<server::store::Deployment>| v.into_iter().map(|d| d.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.deployments_touching("10.0.10.11").await.expect("q")),
        ["b", "a"]
    );
    assert_eq!(
        names(store.deployments_touching("10.0.10.111").await.expect("q")),
        ["c"]
    );
    // LIKE's wildcards in a name are literal.
    assert!(
        store
            .deployments_touching("10.0.10.1_")
            .await
            .expect("q")
            .is_empty()
    );
    assert!(store.deployments_touching("%").await.expect("q").is_empty());
}

async fn accounts_tokens_and_sessions_keep_only_hashes(url: String) {
    let store = Store::open(&url).await.expect("open");
    let user = store
        .create_user("alice", "$argon2id$stand-in", mig::wire::Role::Operator)
        .await
        .expect("user");
    assert!(matches!(
        store
            .create_user("alice", "$argon2id$x", mig::wire::Role::Viewer)
            .await,
        Err(server::store::StoreError::UsernameTaken(_))
    ));
    let token = store
        .create_token(user.id, "ci", "secret-token-1", None)
        .await
        .expect("token");
    let (found, owner) = store
        .token_user("secret-token-1")
        .await
        .expect("q")
        .expect("valid");
    assert_eq!((found.id, owner.username.as_str()), (token.id, "alice"));
    assert!(
        store
            .token_user("secret-token-2")
            .await
            .expect("q")
            .is_none()
    );
    store
        .save_session("session-id-1", "{}", i64::MAX / 2)
        .await
        .expect("session");
    assert!(
        store
            .load_session("session-id-1")
            .await
            .expect("q")
            .is_some()
    );
    // Neither the token nor the session id is in the database, only their hashes.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("pool");
    use sqlx::Row as _;
    let hashes: String = sqlx::query("SELECT token_hash FROM api_tokens")
        .fetch_one(&pool)
        .await
        .expect("row")
        .try_get(0)
        .expect("col");
    assert_eq!(hashes, server::store::token_hash("secret-token-1"));
    let ids: String = sqlx::query("SELECT id FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("row")
        .try_get(0)
        .expect("col");
    assert_ne!(ids, "session-id-1");
    // Disabling the user ends the token (there is no admin at all, and this change removes none).
    store
        .update_user(
            user.id,
            &server::store::UserChange {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("disabled");
    // The last enabled admin cannot be demoted.
    let root = store
        .create_user("root", "$argon2id$y", mig::wire::Role::Admin)
        .await
        .expect("admin");
    let refused = store
        .update_user(
            root.id,
            &server::store::UserChange {
                role: Some(mig::wire::Role::Viewer),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(refused, Err(server::store::StoreError::LastAdmin)),
        "{refused:?}"
    );
    assert_eq!(
        store.user(root.id).await.expect("q").expect("root").role,
        mig::wire::Role::Admin
    );
    assert!(
        store
            .token_user("secret-token-1")
            .await
            .expect("q")
            .is_none()
    );
    store.revoke_token(token.id).await.expect("revoke");
    assert!(store.revoke_token(999).await.is_err());
}

#[tokio::test]
async fn open_in_makes_the_database_file_and_memory_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    Store::open_in(dir.path()).await.expect("open");
    assert!(dir.path().join("migboard.db").is_file());
    let store = Store::open("sqlite::memory:").await.expect("memory");
    assert!(store.deployments().await.expect("list").is_empty());
}

async fn deployments_and_steps_survive_reopening_and_steps_are_idempotent(url: String) {
    let id = {
        let store = Store::open(&url).await.expect("open");
        let d = store
            .create_deployment(&new("all-1g10gb"))
            .await
            .expect("create");
        assert_eq!(
            (d.status, d.name.as_str()),
            (DeploymentStatus::Scheduled, "all-1g10gb")
        );
        store
            .set_status(d.id, DeploymentStatus::Deploying, "reconfiguring")
            .await
            .expect("status");
        let a = store
            .record_step(d.id, "select", StepState::Done, "node 10.0.10.11")
            .await
            .expect("step");
        let b = store
            .record_step(
                d.id,
                "reconfigure/10.0.10.11/0",
                StepState::Running,
                "GPU 0",
            )
            .await
            .expect("step");
        // Replaying a step after a crash updates it, never appends a copy.
        let b2 = store
            .record_step(
                d.id,
                "reconfigure/10.0.10.11/0",
                StepState::Done,
                "GPU 0 on all-1g.10gb",
            )
            .await
            .expect("step");
        assert_eq!((a.seq, b.seq, b2.seq), (1, 2, 2));
        d.id
    };
    // A new process (same database): migrations are not re-run destructively, nothing is lost.
    let store = Store::open(&url).await.expect("reopen");
    let d = store
        .deployment(id)
        .await
        .expect("read")
        .expect("still there");
    assert_eq!(
        (d.status, d.message.as_str()),
        (DeploymentStatus::Deploying, "reconfiguring")
    );
    let steps = store.steps(id).await.expect("steps");
    let got: Vec<(i64, &str, &str)> = steps
        .iter()
        .map(|s| (s.seq, s.key.as_str(), s.state.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "select", "done"),
            (2, "reconfigure/10.0.10.11/0", "done")
        ]
    );
    assert_eq!(steps[1].message, "GPU 0 on all-1g.10gb");
    let unfinished: Vec<i64> = store
        .unfinished()
        .await
        .expect("unfinished")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(unfinished, [id]);
    store
        .set_status(id, DeploymentStatus::Completed, "")
        .await
        .expect("status");
    assert!(store.unfinished().await.expect("unfinished").is_empty());
}

async fn names_are_unique_among_live_deployments_only(url: String) {
    let store = Store::open(&url).await.expect("open");
    let first = store
        .create_deployment(&new("autoscale_mig"))
        .await
        .expect("create");
    match store.create_deployment(&new("autoscale_mig")).await {
        Err(StoreError::NameTaken(n)) => assert_eq!(n, "autoscale_mig"),
        other => panic!("expected NameTaken, got {other:?}"),
    }
    // Undeployed, the name is free again (the guide's quickstart reuses "autoscale_mig").
    store
        .set_status(first.id, DeploymentStatus::Undeployed, "")
        .await
        .expect("undeploy");
    let second = store
        .create_deployment(&new("autoscale_mig"))
        .await
        .expect("reuse");
    assert_ne!(first.id, second.id);
    let all: Vec<(i64, DeploymentStatus)> = store
        .deployments()
        .await
        .expect("list")
        .iter()
        .map(|d| (d.id, d.status))
        .collect();
    assert_eq!(
        all,
        [
            (second.id, DeploymentStatus::Scheduled),
            (first.id, DeploymentStatus::Undeployed)
        ]
    );
}

async fn unknown_ids_are_errors_not_panics(url: String) {
    let store = Store::open(&url).await.expect("open");
    assert!(matches!(
        store.set_status(42, DeploymentStatus::Deploying, "").await,
        Err(StoreError::NotFound(42))
    ));
    assert!(matches!(
        store.record_step(42, "k", StepState::Done, "").await,
        Err(StoreError::NotFound(42))
    ));
    assert!(store.deployment(42).await.expect("query").is_none());
}

#[tokio::test]
async fn bad_urls_are_errors_that_hide_the_password() {
    let err = Store::open("mysql://root:secret@db/migboard")
        .await
        .expect_err("unsupported");
    assert!(matches!(err, StoreError::Unsupported(_)));
    assert!(
        !err.to_string().contains("secret"),
        "the password is not echoed: {err}"
    );
    let err = Store::open_with_timeout(
        "postgres://migboard:secret@127.0.0.1:1/migboard",
        std::time::Duration::from_millis(500),
    )
    .await
    .expect_err("nothing listens");
    assert!(
        err.to_string().contains("migboard:***@127.0.0.1:1"),
        "{err}"
    );
}

async fn desired_configs_and_the_audit_log(url: String) {
    let store = Store::open(&url).await.expect("open");
    store
        .set_desired("10.0.10.11", "all-balanced")
        .await
        .expect("desired");
    store
        .set_desired("10.0.10.12", "all-1g.10gb")
        .await
        .expect("desired");
    store
        .set_desired("10.0.10.11", "all-1g.20gb")
        .await
        .expect("desired");
    assert_eq!(
        store.desired().await.expect("desired"),
        [
            ("10.0.10.11".to_owned(), "all-1g.20gb".to_owned()),
            ("10.0.10.12".to_owned(), "all-1g.10gb".to_owned())
        ]
    );
    for action in ["deploy", "undeploy"] {
        store
            .audit(&AuditRecord {
                at_ms: 0,
                actor: "admin".into(),
                action: action.into(),
                target: "deployment 1".into(),
                detail: String::new(),
                source: "127.0.0.1".into(),
            })
            .await
            .expect("audit");
    }
    let log = store.audit_log(10).await.expect("log");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["undeploy", "deploy"]);
    assert!(log.iter().all(|e| e.at_ms > 0), "the store sets the time");
}

fn placement(id: i64, replica: u32, node: &str, gpu: u32, start: u8) -> Placement {
    Placement {
        deployment_id: id,
        info: server::store::PlacementInfo {
            replica,
            node: node.into(),
            gpu,
            start,
            profile: "1g.20gb".into(),
            pid: 4242 + replica,
            state: PlacementState::Placed,
        },
    }
}

async fn a_slice_holds_one_live_replica_and_drains_free_it(url: String) {
    let store = Store::open(&url).await.expect("open");
    let a = store.create_deployment(&new("a")).await.expect("a");
    let b = store.create_deployment(&new("b")).await.expect("b");
    store
        .place(&placement(a.id, 0, "n1", 0, 2))
        .await
        .expect("place");
    // Placing the same replica again is a no-op; another replica on that slice is refused.
    store
        .place(&placement(a.id, 0, "n1", 0, 2))
        .await
        .expect("idempotent");
    let err = store
        .place(&placement(b.id, 0, "n1", 0, 2))
        .await
        .expect_err("taken");
    assert!(matches!(err, StoreError::SliceTaken(_)), "{err}");
    assert!(err.to_string().contains("n1 GPU 0 slice 2"), "{err}");
    // A drain displaces it: the slice is free for another replica, and the displaced one moves.
    store.displace("n1", &[(0, 2)]).await.expect("displace");
    store
        .place(&placement(b.id, 0, "n1", 0, 2))
        .await
        .expect("free after the drain");
    let moved = store.placements(a.id).await.expect("list");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].state, PlacementState::Displaced);
    store
        .place(&placement(a.id, 0, "n2", 3, 6))
        .await
        .expect("moved");
    let all = store.all_placements().await.expect("all");
    assert_eq!(all.len(), 2, "moving updates the row, never adds one");
    assert!(all.iter().all(|p| p.state == PlacementState::Placed));
    store.remove_placement(a.id, 0).await.expect("remove");
    assert!(store.placements(a.id).await.expect("list").is_empty());
    drop(store);
    // Reopened: what was stored is there.
    let store = Store::open(&url).await.expect("reopen");
    assert_eq!(
        store.placements(b.id).await.expect("list"),
        [placement(b.id, 0, "n1", 0, 2)]
    );
}

async fn pools_samples_and_progress(url: String) {
    let store = Store::open(&url).await.expect("open");
    let d = store.create_deployment(&new("pool")).await.expect("d");
    let pool = StoredPool {
        name: "H100_pool_mig".into(),
        shape: "BM.GPU.H100.8".into(),
        mig_config: Some("all-1g.20gb".into()),
        deployment_id: d.id,
        nodes: vec!["10.0.30.11".into(), "10.0.30.12".into()],
        max_pods_per_node: 31,
        dedicated_to: Some("llm".into()),
    };
    store.create_pool(&pool).await.expect("create");
    // Again (a resumed step): nothing changes, nothing doubles.
    store
        .create_pool(&StoredPool {
            nodes: vec!["other".into()],
            ..pool.clone()
        })
        .await
        .expect("idempotent");
    assert_eq!(
        store.pools().await.expect("pools"),
        std::slice::from_ref(&pool)
    );
    store.delete_pool(&pool.name).await.expect("delete");
    assert!(store.pools().await.expect("pools").is_empty());

    let sample = |at_ms, used_mib| Sample {
        node: "n1".into(),
        gpu: 0,
        start: 2,
        profile: "1g.20gb".into(),
        at_ms,
        used_mib,
    };
    let keep_all = SampleRetention {
        since_ms: 0,
        full_since_ms: 0,
        coarse_every_ms: 1,
        coarse_window_ms: 1,
    };
    store
        .add_samples(&[sample(1_000, 100), sample(2_000, 200)], keep_all)
        .await
        .expect("add");
    store
        .add_samples(
            &[sample(3_000, 300)],
            SampleRetention {
                since_ms: 1_500,
                ..keep_all
            },
        )
        .await
        .expect("add and prune");
    let kept = store.samples("n1", 0).await.expect("samples");
    assert_eq!(
        kept,
        [sample(2_000, 200), sample(3_000, 300)],
        "the oldest was pruned"
    );
    // Older than `full_since_ms`, only the samples in the first 150 ms of each second stay.
    store
        .add_samples(
            &[sample(4_100, 4), sample(4_500, 5), sample(5_000, 6), sample(6_100, 7)],
            SampleRetention {
                since_ms: 1_500,
                full_since_ms: 6_000,
                coarse_every_ms: 1_000,
                coarse_window_ms: 150,
            },
        )
        .await
        .expect("add and thin");
    let kept = store.samples("n1", 0).await.expect("samples");
    assert_eq!(
        kept,
        [
            sample(2_000, 200),
            sample(3_000, 300),
            sample(4_100, 4),
            sample(5_000, 6),
            sample(6_100, 7)
        ],
        "4_500 was thinned out; 6_100 is recent and stays"
    );
    assert!(store.samples("n2", 0).await.expect("samples").is_empty());

    store
        .record_step(d.id, "a", StepState::Done, "")
        .await
        .expect("step");
    store
        .record_step(d.id, "b", StepState::Running, "")
        .await
        .expect("step");
    store
        .record_step(d.id, "c", StepState::Skipped, "")
        .await
        .expect("step");
    let progress = store.progress().await.expect("progress");
    assert_eq!(
        progress.get(&d.id),
        Some(&mig::wire::Progress { done: 2, total: 3 })
    );
    assert_eq!(store.step_times("a", 0).await.expect("times").len(), 1);
    assert_eq!(store.live_names().await.expect("names"), ["pool"]);
}

/// The orchestrator records steps while the monitor writes samples and checks other deployments:
/// concurrent writers must wait for each other, never fail (SQLite answers a read-then-write
/// transaction that lost the race with SQLITE_BUSY at once) or give two steps one `seq`.
async fn concurrent_steps_and_samples_never_fail_or_collide(url: String) {
    let store = Store::open(&url).await.expect("open");
    let d = store.create_deployment(&new("busy")).await.expect("d");
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                store
                    .record_step(d.id, &format!("t{t}/{i}"), StepState::Done, "")
                    .await
                    .expect("a step is recorded under contention");
            }
        }));
    }
    let sampler = store.clone();
    tasks.push(tokio::spawn(async move {
        for i in 0..40 {
            let sample = Sample {
                node: "n".into(),
                gpu: 0,
                start: 0,
                profile: "1g.10gb".into(),
                at_ms: i,
                used_mib: 1,
            };
            sampler
                .add_samples(
                    &[sample],
                    SampleRetention {
                        since_ms: 0,
                        full_since_ms: 0,
                        coarse_every_ms: 1,
                        coarse_window_ms: 1,
                    },
                )
                .await
                .expect("samples are written under contention");
        }
    }));
    for t in tasks {
        t.await.expect("task");
    }
    let steps = store.steps(d.id).await.expect("steps");
    assert_eq!(steps.len(), 160);
    let seqs: std::collections::BTreeSet<i64> = steps.iter().map(|s| s.seq).collect();
    assert_eq!(seqs.len(), 160, "every step has its own seq");
    assert_eq!(seqs.first().copied(), Some(1));
    assert_eq!(seqs.last().copied(), Some(160));
}

async fn share_links_open_until_they_expire_or_are_revoked(url: String) {
    let store = Store::open(&url).await.expect("open");
    let d = store.create_deployment(&new("shared")).await.expect("d");
    let link = store
        .create_share(d.id, "token-a", 60_000, "alice")
        .await
        .expect("create");
    assert!(
        matches!(store.share("token-a").await.expect("read"), ShareAccess::Valid(l) if l == link)
    );
    assert_eq!(
        store.share("token-b").await.expect("read"),
        ShareAccess::Unknown
    );
    // Only the hash is kept: the token itself is nowhere in the table.
    assert_ne!(server::store::token_hash("token-a"), "token-a");
    assert_eq!(server::store::token_hash("token-a").len(), 64);
    let expired = store
        .create_share(d.id, "token-old", -1, "alice")
        .await
        .expect("create");
    assert!(
        matches!(store.share("token-old").await.expect("read"), ShareAccess::Expired(l) if l.id == expired.id)
    );
    let revoked = store.revoke_share(link.id).await.expect("revoke");
    assert!(revoked.revoked_ms.is_some());
    assert!(matches!(
        store.share("token-a").await.expect("read"),
        ShareAccess::Revoked(_)
    ));
    // Revoking again keeps the first time.
    assert_eq!(
        store.revoke_share(link.id).await.expect("again").revoked_ms,
        revoked.revoked_ms
    );
    assert!(matches!(
        store.revoke_share(999).await,
        Err(StoreError::ShareNotFound(999))
    ));
    assert!(matches!(
        store.create_share(999, "t", 1, "a").await,
        Err(StoreError::NotFound(999))
    ));
    assert_eq!(store.shares(d.id).await.expect("list").len(), 2);
}

async fn embed_links_keep_their_view_and_origins_until_revoked(url: String) {
    use mig::wire::EmbedView;
    use server::store::LinkAccess;
    let store = Store::open(&url).await.expect("open");
    let origins = vec![
        "https://portal.example.com".to_owned(),
        "http://localhost:4321".to_owned(),
    ];
    let view = EmbedView::Node("10.0.10.11".into());
    let link = store
        .create_embed("embed-a", &view, &origins, 60_000, "otto")
        .await
        .expect("create");
    assert_eq!((&link.view, &link.origins), (&view, &origins));
    assert!(
        matches!(store.embed("embed-a").await.expect("read"), LinkAccess::Valid(l) if l == link)
    );
    assert_eq!(
        store.embed("embed-b").await.expect("read"),
        LinkAccess::Unknown
    );
    let old = store
        .create_embed("embed-old", &EmbedView::Deployment(7), &origins, -1, "otto")
        .await
        .expect("create");
    assert!(
        matches!(store.embed("embed-old").await.expect("read"), LinkAccess::Expired(l) if l.id == old.id && l.view == EmbedView::Deployment(7))
    );
    let revoked = store.revoke_embed(link.id).await.expect("revoke");
    assert!(revoked.revoked_ms.is_some());
    assert!(
        matches!(store.embed("embed-a").await.expect("read"), LinkAccess::Revoked(l) if l.origins == origins)
    );
    assert_eq!(
        store.revoke_embed(link.id).await.expect("again").revoked_ms,
        revoked.revoked_ms,
        "revoking again keeps the first time"
    );
    assert!(matches!(
        store.revoke_embed(999).await,
        Err(StoreError::EmbedNotFound(999))
    ));
    let all = store.embeds().await.expect("list");
    assert_eq!(
        all.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![old.id, link.id],
        "newest first"
    );
}

async fn custom_configs_keep_every_version_and_deployments_keep_theirs(url: String) {
    let store = Store::open(&url).await.expect("open");
    let config = |start: u8| mig::RawCustomConfig {
        name: "mix".into(),
        model: "h100-80gb".into(),
        description: "test".into(),
        devices: vec![mig::custom::RawDevice {
            gpus: mig::parted::Devices::List(vec![0, 1]),
            mig_enabled: true,
            instances: vec![mig::InstanceSpec {
                profile: "1g.10gb".into(),
                start,
            }],
        }],
    };
    // Changing one that does not exist, creating one twice: refused.
    assert!(matches!(
        store.save_mig_config(&config(0), false, "ada").await,
        Err(StoreError::ConfigNotFound(_))
    ));
    let v1 = store
        .save_mig_config(&config(0), true, "ada")
        .await
        .expect("v1");
    assert_eq!(v1.version, 1);
    assert!(matches!(
        store.save_mig_config(&config(0), true, "ada").await,
        Err(StoreError::ConfigExists(_))
    ));
    let v2 = store
        .save_mig_config(&config(3), false, "bob")
        .await
        .expect("v2");
    assert_eq!(v2.version, 2);
    let current = store
        .mig_config("mix")
        .await
        .expect("read")
        .expect("current");
    assert_eq!(current.version, 2);
    assert_eq!(current.config.devices[0].instances[0].start, 3);
    assert_eq!(current.created_by, "bob");
    assert_eq!(
        store.mig_configs().await.expect("all"),
        vec![current.clone()]
    );
    // A deployment records the version it applies, in the same transaction as itself.
    let mut d = new("rollout");
    d.config = Some(("mix".into(), 1));
    let d = store.create_deployment(&d).await.expect("deployment");
    assert_eq!(
        store.deployment_config(d.id).await.expect("pinned"),
        Some(("mix".to_owned(), 1))
    );
    // Deleted: no longer current, every version still readable, and a new one continues the count.
    store.delete_mig_config("mix").await.expect("delete");
    assert!(store.mig_config("mix").await.expect("read").is_none());
    assert!(store.mig_configs().await.expect("all").is_empty());
    assert!(matches!(
        store.delete_mig_config("mix").await,
        Err(StoreError::ConfigNotFound(_))
    ));
    let old = store
        .mig_config_version("mix", 1)
        .await
        .expect("read")
        .expect("v1 kept");
    assert_eq!(old.config.devices[0].instances[0].start, 0);
    assert!(old.deleted_ms.is_some());
    let v3 = store
        .save_mig_config(&config(5), true, "ada")
        .await
        .expect("recreated");
    assert_eq!(v3.version, 3);
    assert_eq!(
        store
            .mig_config_versions("mix")
            .await
            .expect("versions")
            .len(),
        3
    );
    // Reopened: all of it is still there.
    drop(store);
    let store = Store::open(&url).await.expect("reopen");
    assert_eq!(
        store
            .mig_config("mix")
            .await
            .expect("read")
            .map(|c| c.version),
        Some(3)
    );
}
