//! The fleet planner: answers cover the demand with valid layouts and never go below their bound, agree
//! with an independent exact method on small mixes, beat or match both baselines, and keep a current
//! fleet's GPUs where they can; the throughput model never gives a GPU's slices more bandwidth than it has.

use std::collections::{BTreeMap, HashMap};

use mig::capacity::{
    FleetGpu, FleetInput, PlanRequest, RawWorkload, inference_mix, plan,
    throughput::{Work, on_slice, slice_bandwidth_gbps},
};
use mig::sizing::{Precision, SizingInput, catalogue_model};
use mig::{GpuModel, InstanceSpec, Layout, ProfileCounts, combinations};
use proptest::prelude::*;

fn request(model: GpuModel, demand: &[(&str, i64)]) -> PlanRequest {
    PlanRequest {
        model: model.id().to_owned(),
        demand: demand.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect(),
        ..PlanRequest::default()
    }
}

fn solve(req: &PlanRequest) -> mig::capacity::FleetPlan {
    plan(&req.resolve().expect("valid request"), &mut || false)
}

/// Checks every layout is valid on the model, the counts match the placements, and the GPUs cover the
/// demand; returns what they supply.
fn assert_covers(model: GpuModel, p: &mig::capacity::FleetPlan) -> ProfileCounts {
    let mut supplied = ProfileCounts::default();
    for g in &p.layouts {
        let layout = Layout::new(model, &g.instances)
            .unwrap_or_else(|e| panic!("invalid layout {:?}: {e:?}", g.instances));
        assert_eq!(layout.counts(), g.counts, "counts describe the placement");
        for (name, n) in &g.counts.0 {
            supplied.add(name, n * g.count);
        }
    }
    for (name, &want) in &p.demand.0 {
        let have = supplied.0.get(name).copied().unwrap_or(0);
        assert!(have >= want, "{name}: {have} supplied, {want} asked");
    }
    assert_eq!(p.layouts.iter().map(|g| g.count).sum::<u32>(), p.gpus);
    assert!(
        p.gpus >= p.lower_bound,
        "{} below its bound {}",
        p.gpus,
        p.lower_bound
    );
    assert!(p.gpus <= p.baselines.first_fit_decreasing.gpus);
    assert!(p.gpus <= p.baselines.uniform_named.gpus);
    supplied
}

/// An exact method sharing nothing with the solver: memoised recursion over the demand left, trying
/// every combination one GPU holds (from the placement enumeration), maximal or not.
fn brute_force(model: GpuModel, demand: &BTreeMap<String, i64>) -> u32 {
    let names: Vec<&str> = demand.keys().map(String::as_str).collect();
    let combos: Vec<Vec<u32>> = combinations(model)
        .into_iter()
        .map(|c| {
            names
                .iter()
                .map(|n| c.counts.0.get(*n).copied().unwrap_or(0))
                .collect()
        })
        .filter(|v: &Vec<u32>| v.iter().any(|&x| x > 0))
        .collect();
    fn go(left: Vec<u32>, combos: &[Vec<u32>], memo: &mut HashMap<Vec<u32>, u32>) -> u32 {
        if left.iter().all(|&v| v == 0) {
            return 0;
        }
        if let Some(&v) = memo.get(&left) {
            return v;
        }
        let mut best = u32::MAX;
        for c in combos {
            if c.iter().zip(&left).any(|(&a, &l)| a > 0 && l > 0) {
                let next: Vec<u32> = left
                    .iter()
                    .zip(c)
                    .map(|(&l, &a)| l.saturating_sub(a))
                    .collect();
                best = best.min(1 + go(next, combos, memo));
            }
        }
        memo.insert(left, best);
        best
    }
    let start: Vec<u32> = demand.values().map(|&v| v as u32).collect();
    go(start, &combos, &mut HashMap::new())
}

#[test]
fn the_guides_balanced_mix_is_one_gpu_and_baselines_are_numbers() {
    let p = solve(&request(
        GpuModel::H100_80GB,
        &[("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)],
    ));
    assert_eq!((p.gpus, p.lower_bound, p.optimal), (1, 1, true));
    // One pool per profile: three GPUs where one does.
    assert_eq!(p.baselines.uniform_named.gpus, 3);
    let configs: Vec<&str> = p
        .baselines
        .uniform_named
        .pools
        .iter()
        .map(|x| x.config.as_str())
        .collect();
    assert_eq!(configs, ["all-1g.10gb", "all-2g.20gb", "all-3g.40gb"]);
    assert_covers(GpuModel::H100_80GB, &p);
}

#[test]
fn small_mixes_match_an_independent_exact_method() {
    let model = GpuModel::H100_80GB;
    let profiles = [
        "1g.10gb",
        "1g.20gb",
        "2g.20gb",
        "3g.40gb",
        "4g.40gb",
        "1g.10gb+me",
        "7g.80gb",
    ];
    let mut checked = 0;
    for seed in 0..60u64 {
        // Three profiles, 0..=6 of each, chosen by a fixed walk so the test is reproducible.
        let mut demand = BTreeMap::new();
        for i in 0..3u64 {
            let p = profiles[((seed * 7 + i * 3) % profiles.len() as u64) as usize];
            let n = ((seed * 13 + i * 5) % 7) as i64;
            *demand.entry(p.to_owned()).or_insert(0) += n;
        }
        if demand.values().all(|&n| n == 0) {
            continue;
        }
        let req = PlanRequest {
            model: model.id().into(),
            demand: demand.clone(),
            ..PlanRequest::default()
        };
        let p = solve(&req);
        assert_covers(model, &p);
        assert!(p.optimal, "{demand:?}");
        assert_eq!(p.gpus, brute_force(model, &demand), "{demand:?}");
        checked += 1;
    }
    assert!(checked > 50);
}

#[test]
fn random_inference_mixes_are_proven_optimal_at_64_and_512_gpus() {
    for model in [
        GpuModel::H100_80GB,
        GpuModel::A100_40GB,
        GpuModel::B200_180GB,
    ] {
        for about in [64, 512] {
            for seed in 0..10 {
                let p = solve(&inference_mix(model, seed, about));
                assert_covers(model, &p);
                assert!(
                    p.optimal && p.gpus == p.lower_bound,
                    "{model:?} {about} {seed}: {} vs {}",
                    p.gpus,
                    p.lower_bound
                );
            }
        }
    }
}

#[test]
fn a_spent_budget_still_answers_with_its_gap() {
    // Stop at once: the answer is first-fit-decreasing's (or better), never below the bound.
    let req = inference_mix(GpuModel::H100_80GB, 3, 4096);
    let p = plan(&req.resolve().expect("valid"), &mut || true);
    assert_covers(GpuModel::H100_80GB, &p);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_answer_covers_its_demand_and_respects_its_bound(
        counts in proptest::collection::vec(0i64..40, 7),
        model_index in 0usize..6,
    ) {
        let model = GpuModel::all().nth(model_index).expect("model");
        let names = model.profile_names();
        let demand: BTreeMap<String, i64> = names.iter().zip(&counts).filter(|(_, n)| **n > 0).map(|(p, n)| ((*p).to_owned(), *n)).collect();
        prop_assume!(!demand.is_empty());
        let p = solve(&PlanRequest { model: model.id().into(), demand, ..PlanRequest::default() });
        assert_covers(model, &p);
    }
}

#[test]
fn bad_requests_name_the_member_at_fault() {
    let mut req = request(GpuModel::H100_80GB, &[("1g.10g", 3), ("3g.40gb", -1)]);
    req.workloads.push(RawWorkload {
        name: "big".into(),
        model: Some("Llama-3.1-70B".into()),
        precision: Some(Precision::Bf16),
        ..RawWorkload::default()
    });
    req.workloads.push(RawWorkload {
        name: "nobody".into(),
        model: Some("GPT-17".into()),
        ..RawWorkload::default()
    });
    let issues = req.resolve().expect_err("bad");
    let at: Vec<(&str, &str)> = issues
        .iter()
        .map(|i| (i.path.as_str(), i.code.as_str()))
        .collect();
    assert_eq!(
        at,
        [
            ("/demand/1g.10g", "plan_profile_unknown"),
            ("/demand/3g.40gb", "plan_count"),
            ("/workloads/0", "plan_workload_too_large"),
            ("/workloads/1/model", "plan_workload_model"),
        ]
    );
    assert!(
        issues[0].hint.contains("did you mean `1g.10gb`"),
        "{}",
        issues[0].hint
    );
    assert!(
        issues[2].hint.contains("cannot be joined"),
        "{}",
        issues[2].hint
    );
    let unknown = PlanRequest {
        model: "h900".into(),
        ..PlanRequest::default()
    };
    assert_eq!(unknown.resolve().expect_err("bad")[0].path, "/model");
    let empty = request(GpuModel::H100_80GB, &[]);
    assert_eq!(empty.resolve().expect_err("bad")[0].code, "plan_empty");
    let current: PlanRequest =
        serde_json::from_str(r#"{"model":"h100-80gb","demand":{"1g.10gb":1},"fleet":"current"}"#)
            .expect("parses");
    assert_eq!(
        current.resolve().expect_err("server only")[0].path,
        "/fleet"
    );
}

#[test]
fn workloads_are_sized_to_a_profile_and_replicas_from_a_rate() {
    let mut req = request(GpuModel::H100_80GB, &[]);
    req.workloads.push(RawWorkload {
        name: "chat".into(),
        model: Some("Llama-3.1-8B".into()),
        precision: Some(Precision::Bf16),
        context_tokens: Some(4096),
        concurrency: Some(8),
        tokens_per_second: Some(2000.0),
        ..RawWorkload::default()
    });
    req.workloads.push(RawWorkload {
        name: "embed".into(),
        model: Some("Llama-3.2-1B".into()),
        replicas: Some(9),
        ..RawWorkload::default()
    });
    let p = solve(&req);
    let chat = &p.throughput[0];
    // 16 GB of weights + 8 × 512 MiB of KV cache + overhead: a 3g.40gb.
    assert_eq!(chat.profile, "3g.40gb");
    assert!(chat.per_replica.decode_tokens_per_s > 0.0);
    assert_eq!(
        chat.replicas,
        (2000.0 / chat.per_replica.decode_tokens_per_s).ceil() as u32
    );
    assert!(chat.decode_tokens_per_s >= 2000.0);
    assert_eq!(p.throughput[1].replicas, 9);
    // Every replica has a slice, and the groups say which.
    let mut served: BTreeMap<&str, u32> = BTreeMap::new();
    for g in &p.layouts {
        for (w, n) in &g.serves {
            *served.entry(w.as_str()).or_default() += n;
        }
    }
    assert_eq!(served.get("chat"), Some(&chat.replicas));
    assert_eq!(served.get("embed"), Some(&9));
    assert!(p.assumptions.iter().any(|a| a.contains("min(c × B_slice")));
    assert_covers(GpuModel::H100_80GB, &p);
}

#[test]
fn slices_of_one_gpu_never_have_more_bandwidth_than_the_gpu() {
    let llama = catalogue_model("Llama-3.2-3B").expect("catalogue");
    let work = Work::of(&SizingInput::for_model(llama, Precision::Bf16, 2048, 4));
    for model in GpuModel::all() {
        let gpu = f64::from(model.spec().memory_bandwidth_gbps);
        let whole = model.profile_of_kind(mig::ProfileKind::SevenSlice);
        let whole_decode = on_slice(model, whole, &work, 1.0).decode_tokens_per_s;
        for c in combinations(model) {
            let bw: f64 = c
                .layout
                .instances()
                .iter()
                .map(|i| slice_bandwidth_gbps(model, i.profile))
                .sum();
            assert!(
                bw <= gpu + 1e-9,
                "{model:?} {}: {bw} GB/s > {gpu}",
                c.layout
            );
            // Bandwidth-bound decode of one model per slice adds up to at most the whole GPU's.
            let decode: f64 = c
                .layout
                .instances()
                .iter()
                .map(|i| on_slice(model, i.profile, &work, 1.0))
                .filter(|t| t.bound == mig::capacity::Bound::MemoryBandwidth)
                .map(|t| t.decode_tokens_per_s)
                .sum();
            assert!(
                decode <= whole_decode * 1.000_001,
                "{model:?} {}: {decode} > {whole_decode}",
                c.layout
            );
        }
        // The guide's example: four 1g.20gb-class slices are one GPU of bandwidth, not three.
        let double = model.profile_of_kind(mig::ProfileKind::OneSliceDoubleMemory);
        assert!((4.0 * slice_bandwidth_gbps(model, double) - gpu).abs() < 1e-6);
    }
}

fn specs(items: &[(&str, u8)]) -> Vec<InstanceSpec> {
    items
        .iter()
        .map(|(p, s)| InstanceSpec {
            profile: (*p).into(),
            start: *s,
        })
        .collect()
}

#[test]
fn against_a_fleet_it_keeps_what_already_serves_and_moves_few_replicas() {
    let balanced = specs(&[
        ("2g.20gb", 0),
        ("1g.10gb", 2),
        ("1g.10gb", 3),
        ("3g.40gb", 4),
    ]);
    let sevens = specs(&(0..7).map(|s| ("1g.10gb", s as u8)).collect::<Vec<_>>());
    let mut fleet = Vec::new();
    for gpu in 0..8 {
        fleet.push(FleetGpu {
            node: "a".into(),
            gpu,
            instances: balanced.clone(),
            busy: specs(&[("3g.40gb", 4)]),
        });
        fleet.push(FleetGpu {
            node: "b".into(),
            gpu,
            instances: sevens.clone(),
            busy: Vec::new(),
        });
    }
    // Today: 16 × 1g.10gb + 8 × 2g.20gb + 8 × 3g.40gb on a, 56 × 1g.10gb on b. Ask for less 1g.10gb and
    // two more 3g.40gb: the balanced GPUs stay, some 7 × 1g.10gb GPUs are recut.
    let mut req = request(
        GpuModel::H100_80GB,
        &[("1g.10gb", 40), ("2g.20gb", 8), ("3g.40gb", 10)],
    );
    req.fleet = Some(FleetInput::Gpus(fleet));
    let p = solve(&req);
    assert_covers(GpuModel::H100_80GB, &p);
    let o = p.fleet.as_ref().expect("fleet outcome");
    assert_eq!(o.current_gpus, 16);
    assert_eq!(o.kept_gpus + o.reconfigured_gpus + o.added_gpus, p.gpus);
    assert_eq!(o.moved_replicas, 0, "no busy 3g.40gb is touched: {o:?}");
    assert!(o.reconfigured_gpus <= o.from_scratch_reconfigured_gpus);
    assert!(
        o.changes.iter().all(|c| c.node == "b"),
        "only 7 × 1g.10gb GPUs change: {:?}",
        o.changes
    );
    assert_eq!(p.reconfigured_gpus, Some(o.reconfigured_gpus));
    // Planning against a fleet never costs GPUs.
    let mut scratch = req.clone();
    scratch.fleet = None;
    assert_eq!(solve(&scratch).gpus, p.gpus);
}

#[test]
fn the_request_round_trips_through_json() {
    let req = inference_mix(GpuModel::H100_80GB, 1, 64);
    let text = serde_json::to_string(&req).expect("serialises");
    let back: PlanRequest = serde_json::from_str(&text).expect("parses");
    assert_eq!(back, req);
    let p = solve(&req);
    let json = serde_json::to_value(&p).expect("serialises");
    for key in [
        "gpus",
        "lower_bound",
        "optimal",
        "layouts",
        "baselines",
        "solve_ms",
    ] {
        assert!(json.get(key).is_some(), "{key} missing");
    }
    assert!(json["layouts"][0]["instances"][0]["start"].is_u64());
    assert!(json["baselines"]["uniform_named"]["gpus"].is_u64());
    assert!(json["baselines"]["first_fit_decreasing"]["gpus"].is_u64());
}

#[test]
fn a_plan_becomes_valid_custom_configs_and_pool_blueprints() {
    let p = solve(&request(
        GpuModel::H100_80GB,
        &[("1g.10gb", 30), ("3g.40gb", 9), ("2g.20gb", 4)],
    ));
    let configs = p.custom_configs("mix");
    assert_eq!(configs.len(), p.layouts.len());
    for (c, g) in configs.iter().zip(&p.layouts) {
        let valid = c
            .clone()
            .validate(|_| false)
            .unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
        match valid.target(0) {
            mig::custom::GpuTarget::Layout(l) => {
                assert_eq!(l.to_specs(), g.instances, "{}", c.name)
            }
            other => panic!("{}: {other:?}", c.name),
        }
    }
    let blueprints = p.pool_blueprints("mix").expect("H100 has BM.GPU.H100.8");
    // Checked against the catalogue with the saved configs in it, as the server will.
    let catalogue = mig::blueprint::Catalogue::from_parted(
        &mig::parted::MigPartedConfig::default_configs().expect("defaults"),
    )
    .with_custom(configs.into_iter().map(|c| {
        let valid = c.validate(|_| false).expect("valid");
        (
            GpuModel::H100_80GB,
            mig::NamedConfig::from_custom(&valid, 1),
        )
    }));
    let ctx = mig::blueprint::Context {
        catalogue: Some(&catalogue),
        fleet: None,
        platform: None,
    };
    let mut nodes = 0;
    for (i, text) in blueprints.iter().enumerate() {
        let checked = mig::blueprint::check(text, ctx);
        assert!(checked.is_valid(), "{text}: {:?}", checked.issues);
        let json: serde_json::Value = serde_json::from_str(text).expect("json");
        assert_eq!(
            json["shared_node_pool_mig_config"],
            format!("mix-{}", i + 1)
        );
        nodes += json["shared_node_pool_size"].as_u64().expect("size");
    }
    assert!(nodes * 8 >= u64::from(p.gpus));
}

fn view_with_balanced_node(idle_on_gpu3: &[u8]) -> mig::blueprint::FleetView {
    use mig::blueprint::{FleetGpu as VGpu, FleetNode, FleetSlice, FleetView};
    let balanced = [
        ("2g.20gb", 0u8),
        ("1g.10gb", 2),
        ("1g.10gb", 3),
        ("3g.40gb", 4),
    ];
    let gpus = (0..8)
        .map(|g| VGpu {
            mig: true,
            slices: balanced
                .iter()
                .map(|(p, s)| FleetSlice {
                    profile: (*p).into(),
                    start: *s,
                    in_use: !(g == 3 && idle_on_gpu3.contains(s)),
                })
                .collect(),
        })
        .collect();
    FleetView {
        nodes: vec![FleetNode {
            name: "10.0.10.12".into(),
            pool: Some("h100migpool".into()),
            model: Some(GpuModel::H100_80GB),
            mig_config: Some("all-balanced".into()),
            gpus,
            workloads: Vec::new(),
        }],
        ..FleetView::default()
    }
}

#[test]
fn make_room_recuts_the_fewest_gpus_and_never_a_busy_slice() {
    use mig::capacity::room::make_room;
    // GPU 3's two 1g.10gb are idle: they become one 1g.20gb; everything busy stays where it is.
    let view = view_with_balanced_node(&[2, 3]);
    let fix = make_room(&view, Some(GpuModel::H100_80GB), "1g.20gb", 1).expect("room");
    assert_eq!(
        fix.summary,
        "reconfigure GPU 3 of 10.0.10.12 (2 × 1g.10gb → 1 × 1g.20gb)"
    );
    assert_eq!(fix.changes.len(), 1);
    let to = &fix.changes[0].to;
    assert!(
        to.contains(&InstanceSpec {
            profile: "1g.20gb".into(),
            start: 2
        }),
        "{to:?}"
    );
    for kept in [("2g.20gb", 0u8), ("3g.40gb", 4)] {
        assert!(
            to.contains(&InstanceSpec {
                profile: kept.0.into(),
                start: kept.1
            }),
            "busy {kept:?} kept: {to:?}"
        );
    }
    // The node's config changes GPU 3 only, and is a valid custom config.
    assert_eq!(fix.configs.len(), 1);
    let config = fix.configs[0]
        .clone()
        .validate(|_| false)
        .expect("valid config");
    for gpu in 0..8u32 {
        let want: Vec<InstanceSpec> = if gpu == 3 {
            to.clone()
        } else {
            specs(&[
                ("2g.20gb", 0),
                ("1g.10gb", 2),
                ("1g.10gb", 3),
                ("3g.40gb", 4),
            ])
        };
        match config.target(gpu) {
            mig::custom::GpuTarget::Layout(l) => assert_eq!(l.to_specs(), want, "GPU {gpu}"),
            other => panic!("GPU {gpu}: {other:?}"),
        }
    }
    // Two would need a second GPU, and there is none with idle room: no fix rather than touching a busy slice.
    assert!(make_room(&view, Some(GpuModel::H100_80GB), "1g.20gb", 2).is_none());
    // Nothing idle anywhere: no fix.
    assert!(make_room(&view_with_balanced_node(&[]), None, "1g.10gb", 1).is_none());
}

#[test]
fn the_validator_offers_the_fix_for_a_deployment_with_no_free_slice() {
    use mig::blueprint::{Context, check};
    let view = view_with_balanced_node(&[2, 3]);
    let text = r#"{"recipe_mode":"service","deployment_name":"needs-room","recipe_image_uri":"iad.ocir.io/x/y:1","recipe_node_shape":"BM.GPU.H100.8","recipe_replica_count":1,"recipe_container_port":"8000","mig_resource_request":"1g.20gb"}"#;
    let checked = check(
        text,
        Context {
            catalogue: None,
            fleet: Some(&view),
            platform: None,
        },
    );
    let issue = checked
        .issues
        .iter()
        .find(|i| i.fix.is_some())
        .unwrap_or_else(|| panic!("a fix: {:?}", checked.issues));
    assert!(
        issue
            .hint
            .starts_with("reconfigure GPU 3 of 10.0.10.12 (2 × 1g.10gb → 1 × 1g.20gb)"),
        "{}",
        issue.hint
    );
    assert_eq!(
        issue.fix.as_ref().expect("fix").configs[0].name,
        "room-10.0.10.12-1g.20gb"
    );
}

/// A live fleet as the server reports it: node `a` with 8 all-balanced H100s (the 3g.40gb busy on
/// each), node `b` with 8 GPUs of 7 × 1g.10gb and one GPU with MIG off, node `c` of A100s.
fn live_fleet() -> mig::wire::Fleet {
    use mig::agent_api::{BusySlice, InventoryGpu};
    use mig::wire::{Fleet, FleetNodeInfo};
    let balanced = Layout::new(
        GpuModel::H100_80GB,
        &specs(&[
            ("2g.20gb", 0),
            ("1g.10gb", 2),
            ("1g.10gb", 3),
            ("3g.40gb", 4),
        ]),
    )
    .expect("balanced");
    let sevens = Layout::new(
        GpuModel::H100_80GB,
        &specs(&(0..7).map(|s| ("1g.10gb", s as u8)).collect::<Vec<_>>()),
    )
    .expect("sevens");
    let node = |name: &str, gpus: Vec<InventoryGpu>| FleetNodeInfo {
        name: name.into(),
        pool: "pool".into(),
        shape: "BM.GPU.H100.8".into(),
        mig_config: None,
        gpus,
        error: None,
        mig_state: None,
        drift: None,
        labels: Default::default(),
    };
    let a = (0..8)
        .map(|i| {
            let mut g =
                InventoryGpu::described(i, format!("GPU-a{i}"), GpuModel::H100_80GB, Some(&balanced));
            g.busy = vec![BusySlice {
                profile: "3g.40gb".into(),
                start: 4,
                pids: vec![100 + i],
                used_memory_mib: 1000,
                owners: Vec::new(),
            }];
            g
        })
        .collect();
    let mut b: Vec<InventoryGpu> = (0..8)
        .map(|i| InventoryGpu::described(i, format!("GPU-b{i}"), GpuModel::H100_80GB, Some(&sevens)))
        .collect();
    b.push(InventoryGpu::described(8, "GPU-b8".into(), GpuModel::H100_80GB, None));
    let c = (0..2)
        .map(|i| InventoryGpu::described(i, format!("GPU-c{i}"), GpuModel::A100_80GB, None))
        .collect();
    Fleet {
        pools: Vec::new(),
        nodes: vec![node("a", a), node("b", b), node("c", c)],
    }
}

#[test]
fn applying_a_plan_recuts_only_the_changed_gpus_at_their_planned_placements() {
    use mig::capacity::apply::{
        ApplyRequest, check_prefix, fleet_gpus, label_value, node_changes, planned_changes,
        same_changes,
    };
    let fleet = live_fleet();
    let gpus = fleet_gpus(&fleet, GpuModel::H100_80GB);
    assert_eq!(gpus.len(), 16, "MIG-off and A100 GPUs are not planned against");
    assert_eq!(gpus[0].busy, specs(&[("3g.40gb", 4)]));
    let mut req = request(
        GpuModel::H100_80GB,
        &[("1g.10gb", 40), ("2g.20gb", 8), ("3g.40gb", 10)],
    );
    req.fleet = Some(FleetInput::Gpus(gpus));
    let p = solve(&req);
    let o = p.fleet.as_ref().expect("fleet outcome");
    assert!(o.reconfigured_gpus > 0, "{o:?}");
    let changes = node_changes(&p, &fleet, "plan");
    assert_eq!(changes.len(), 1, "only node b changes: {changes:?}");
    let b = &changes[0];
    assert_eq!(b.node, "b");
    assert_eq!(b.config.name, "plan-b");
    assert_eq!(b.moved_replicas, 0);
    assert_eq!(b.gpus.len() as u32, o.reconfigured_gpus);
    // The config is valid, lists all nine H100s of b, gives each recut GPU its planned placements, keeps
    // the others' as they are and the MIG-off GPU off.
    let valid = b.config.clone().validate(|_| false).expect("valid config");
    for i in 0..8u32 {
        let want = match o.changes.iter().find(|c| c.gpu == i) {
            Some(c) => {
                let mut to = c.to.clone();
                to.sort_by_key(|s| s.start);
                to
            }
            None => specs(&(0..7).map(|s| ("1g.10gb", s as u8)).collect::<Vec<_>>()),
        };
        match valid.target(i) {
            mig::custom::GpuTarget::Layout(l) => {
                let mut got = l.to_specs();
                got.sort_by_key(|s| s.start);
                assert_eq!(got, want, "GPU {i}");
            }
            other => panic!("GPU {i}: {other:?}"),
        }
    }
    assert!(
        matches!(valid.target(8), mig::custom::GpuTarget::Disabled),
        "{:?}",
        valid.target(8)
    );
    // What the caller reviewed matches in any order; a different placement does not.
    let planned = planned_changes(&p);
    let mut reviewed = planned.clone();
    reviewed.reverse();
    assert!(same_changes(&reviewed, &planned));
    reviewed[0].to.pop();
    assert!(!same_changes(&reviewed, &planned));
    assert!(!same_changes(&[], &planned));
    // Names are label values; prefixes are checked where the caller can see it.
    assert_eq!(label_value("plan-gpu node/7:x"), "plan-gpu-node-7-x");
    assert_eq!(label_value(&"n".repeat(80)).len(), 63);
    assert!(check_prefix("plan").is_none());
    for bad in ["", "-plan", "a b", &"p".repeat(41)] {
        let issue = check_prefix(bad).unwrap_or_else(|| panic!("{bad:?} refused"));
        assert_eq!(issue.path, "/prefix");
    }
    // The request round-trips as the page sends it.
    let apply = ApplyRequest {
        request: request(GpuModel::H100_80GB, &[("1g.10gb", 7)]),
        prefix: None,
        expect: Some(planned),
        drain: false,
    };
    let text = serde_json::to_string(&apply).expect("json");
    assert_eq!(
        serde_json::from_str::<ApplyRequest>(&text).expect("parses"),
        apply
    );
    assert!(serde_json::from_str::<ApplyRequest>(r#"{"request":{"model":"h100-80gb"},"drian":true}"#).is_err());
}
