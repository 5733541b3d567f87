//! The slice planner's model: each edit checked, named configs matched, exports and links.

use mig::GpuModel;
use mig::parted::{GUIDE_CONFIGS, MigPartedConfig, NamedConfig, named_configs};
use mig::planner::*;

fn named(model: GpuModel) -> Vec<NamedConfig> {
    let cfg = MigPartedConfig::default_configs().expect("embedded config parses");
    cfg.configs
        .keys()
        .filter_map(|name| {
            cfg.resolve(name, model, 0).ok().map(|desired| NamedConfig {
                name: name.clone(),
                desired,
                custom: None,
            })
        })
        .collect()
}

fn config<'a>(all: &'a [NamedConfig], name: &str) -> &'a NamedConfig {
    all.iter().find(|c| c.name == name).expect("config exists")
}

#[test]
fn the_acceptance_drops() {
    let mut plan = NodePlan::default();
    plan.drop_profile(0, "3g.40gb", 4, None)
        .expect("3g.40gb at 4 is allowed");
    let refused = plan
        .drop_profile(0, "4g.40gb", 4, None)
        .expect_err("4g.40gb may only start at 0");
    assert_eq!(
        refused.to_string(),
        "GPU 0: 4g.40gb cannot start at memory slice 4; it may start only at 0"
    );
    let overlap = plan
        .drop_profile(0, "2g.20gb", 4, None)
        .expect_err("slices 4-5 are taken");
    assert!(
        matches!(overlap, Refusal::Overlap { other_start: 4, .. }),
        "{overlap:?}"
    );
    assert_eq!(
        plan.gpus()[0].as_ref().map(ToString::to_string).as_deref(),
        Some("3g.40gb@4")
    );
}

#[test]
fn refusals_name_each_rule() {
    let mut plan = NodePlan::default();
    plan.drop_profile(1, "4g.40gb", 0, None).expect("ok");
    let err = plan.check_drop(1, "4g.40gb", 0, None).expect_err("overlap");
    assert!(
        err.to_string().contains("overlap the 4g.40gb at slice 0"),
        "{err}"
    );
    plan.drop_profile(1, "3g.40gb", 4, None)
        .expect("4g + 3g is the full GPU");
    plan.remove(1, 5).expect("slice 5 is inside the 3g.40gb");
    plan.drop_profile(1, "1g.20gb", 4, None).expect("ok");
    plan.drop_profile(1, "1g.20gb", 6, None).expect("ok");
    // 4g + 2 × 1g.20gb uses 6 compute and all memory: one compute slice is stranded.
    let h = headroom(plan.gpus()[1].as_ref().expect("on"));
    assert_eq!(
        (h.compute_free, h.compute_stranded, h.memory_free),
        (1, 1, 0)
    );
    let mut seven = NodePlan::default();
    seven.fill(Some(2), "1g.10gb").expect("fills");
    assert_eq!(
        seven.gpus()[2].as_ref().map(|l| l.instances().len()),
        Some(7)
    );
    let err = seven
        .check_drop(2, "1g.10gb+me", 7, None)
        .expect_err("no compute left, and 7 is not a start");
    assert!(matches!(err, Refusal::StartNotAllowed { .. }), "{err:?}");
    seven.remove(2, 3).expect("remove one");
    seven
        .drop_profile(2, "1g.10gb+me", 3, None)
        .expect("+me fits where the 1g was");
    let err = seven
        .check_drop(2, "1g.10gb+me", 3, None)
        .expect_err("only one +me");
    assert!(matches!(err, Refusal::Overlap { .. }), "{err:?}");
    seven.remove(2, 0).expect("remove");
    let err = seven
        .check_drop(2, "1g.10gb+me", 0, None)
        .expect_err("only one +me");
    assert!(
        matches!(err, Refusal::CountAboveMax { max: 1, .. }),
        "{err:?}"
    );
    let err = seven
        .check_drop(2, "2g.20gb", 0, None)
        .expect_err("slice 1 is taken");
    assert!(matches!(err, Refusal::Overlap { .. }), "{err:?}");
    let h = headroom(seven.gpus()[2].as_ref().expect("on"));
    // 6 × 1g: slice 0 free and usable, slice 7 free but only reachable by starts ≤ 6 that are taken.
    assert_eq!(
        (
            h.compute_free,
            h.memory_free,
            h.memory_stranded,
            h.memory_stranded_mask
        ),
        (1, 2, 1, 0b1000_0000)
    );
    assert_eq!(h.compute_stranded, 0);
    let mut full = NodePlan::default();
    full.fill(Some(0), "2g.20gb").expect("3 × 2g");
    let err = full
        .check_drop(0, "2g.20gb", 6, None)
        .expect_err("start 6 not allowed");
    assert!(matches!(err, Refusal::StartNotAllowed { .. }));
    full.drop_profile(0, "1g.10gb", 6, None).expect("1g at 6");
    let err = full
        .check_drop(0, "1g.10gb", 7, None)
        .expect_err("7 not a start");
    assert!(matches!(err, Refusal::StartNotAllowed { .. }));
    full.remove(0, 0).expect("remove 2g at 0");
    full.drop_profile(0, "3g.40gb", 0, None)
        .expect_err("3g at 0 overlaps the 2g at 2");
    plan.set_mig(3, false).expect("gpu 3");
    assert_eq!(
        plan.check_drop(3, "1g.10gb", 0, None),
        Err(Refusal::MigDisabled { gpu: 3 })
    );
    assert!(matches!(
        plan.check_drop(8, "1g.10gb", 0, None),
        Err(Refusal::NoSuchGpu { gpu: 8, last: 7 })
    ));
    assert!(matches!(
        plan.check_drop(0, "5g.50gb", 0, None),
        Err(Refusal::UnknownProfile { .. })
    ));
}

#[test]
fn compute_runs_out_before_memory() {
    let mut plan = NodePlan::default();
    for s in [0, 2, 4] {
        plan.drop_profile(0, "2g.20gb", s, None).expect("2g");
    }
    plan.drop_profile(0, "1g.10gb", 6, None).expect("1g at 6");
    let err = plan
        .check_drop(0, "1g.10gb", 7, None)
        .expect_err("7 is never a start");
    assert!(matches!(err, Refusal::StartNotAllowed { .. }));
    let h = headroom(plan.gpus()[0].as_ref().expect("on"));
    assert_eq!(
        (h.compute_free, h.memory_free, h.memory_stranded),
        (0, 1, 1),
        "slice 7 is stranded"
    );
    // Fill a fresh GPU with 1g.20gb: 4 of them, 4 compute used, 3 compute stranded (no memory left).
    plan.clear();
    assert_eq!(plan.fill(Some(0), "1g.20gb"), Ok(4));
    let h = headroom(plan.gpus()[0].as_ref().expect("on"));
    assert_eq!(
        (h.compute_free, h.compute_stranded, h.memory_free),
        (3, 3, 0)
    );
    let err = plan
        .check_drop(0, "1g.10gb", 0, None)
        .expect_err("memory full");
    assert!(matches!(err, Refusal::Overlap { .. }));
    // 7 × 1g.10gb then a 1g.20gb: compute is gone.
    plan.clear();
    assert_eq!(plan.fill(Some(0), "1g.10gb"), Ok(7));
    assert_eq!(plan.fill(Some(0), "1g.10gb"), Ok(0), "already full");
    plan.remove(0, 6).expect("remove the last");
    plan.fill(Some(0), "2g.20gb").expect("nothing fits");
    assert_eq!(
        plan.gpus()[0].as_ref().map(|l| l.instances().len()),
        Some(6)
    );
    plan.remove(0, 5).expect("remove another");
    plan.remove(0, 4).expect("and another");
    assert_eq!(plan.fill(Some(0), "2g.20gb"), Ok(1), "one 2g.20gb at 4");
    plan.drop_profile(0, "1g.10gb", 6, None)
        .expect("slice 6 is free and one compute slice is left");
    let err = plan
        .check_drop(0, "1g.20gb", 6, None)
        .expect_err("slice 6 is taken now");
    assert!(matches!(err, Refusal::Overlap { .. }), "{err:?}");
}

#[test]
fn moving_an_instance_ignores_itself() {
    let mut plan = NodePlan::default();
    plan.drop_profile(0, "3g.40gb", 0, None).expect("ok");
    // Moving it from 0 to 4 on the same GPU: it does not overlap itself.
    plan.drop_profile(0, "3g.40gb", 4, Some((0, 0)))
        .expect("move within the GPU");
    assert_eq!(
        plan.gpus()[0].as_ref().map(ToString::to_string).as_deref(),
        Some("3g.40gb@4")
    );
    // To another GPU.
    plan.drop_profile(5, "3g.40gb", 0, Some((0, 4)))
        .expect("move across GPUs");
    assert_eq!(
        plan.gpus()[0].as_ref().map(|l| l.instances().len()),
        Some(0)
    );
    assert_eq!(
        plan.gpus()[5].as_ref().map(ToString::to_string).as_deref(),
        Some("3g.40gb@0")
    );
    // A move naming an instance that is not there is refused and changes nothing.
    let before = plan.clone();
    assert!(plan.drop_profile(1, "3g.40gb", 0, Some((0, 4))).is_err());
    assert_eq!(plan, before);
    // A refused move keeps the instance where it was.
    plan.drop_profile(5, "4g.40gb", 0, None)
        .expect_err("overlap");
    plan.drop_profile(5, "1g.10gb", 4, None).expect("ok");
    assert!(
        plan.drop_profile(5, "3g.40gb", 4, Some((5, 0))).is_err(),
        "slice 4 holds a 1g"
    );
    assert_eq!(
        plan.gpus()[5].as_ref().map(ToString::to_string).as_deref(),
        Some("3g.40gb@0 1g.10gb@4")
    );
}

#[test]
fn all_balanced_on_every_gpu_gives_the_guides_counts() {
    let configs = named(GpuModel::H100_80GB);
    let mut plan = NodePlan::default();
    plan.apply_named(config(&configs, "all-balanced"), None)
        .expect("places");
    let s = plan.summary();
    assert_eq!(s.per_node.0.get("1g.10gb"), Some(&16));
    assert_eq!(s.per_node.0.get("2g.20gb"), Some(&8));
    assert_eq!(s.per_node.0.get("3g.40gb"), Some(&8));
    assert_eq!(
        (s.compute_used, s.compute_total, s.compute_stranded),
        (56, 56, 0)
    );
    assert_eq!(
        (s.memory_used, s.memory_total, s.memory_stranded),
        (64, 64, 0)
    );
    assert!(s.uniform);
    assert_eq!(plan.matching_config(&configs), Some("all-balanced"));
    // One deployment requests one profile: a 5 GB model gets 16 replicas of 1g.10gb per node, or 8 of a
    // bigger profile, never 32 of one deployment.
    assert_eq!(
        plan.replicas_per_profile(5_000_000_000),
        [("1g.10gb", 16), ("2g.20gb", 8), ("3g.40gb", 8)]
    );
    assert_eq!(plan.replicas_per_profile(30_000_000_000), [("3g.40gb", 8)]);
    assert_eq!(
        s.resources,
        vec![
            ("nvidia.com/mig-1g.10gb".to_owned(), 16),
            ("nvidia.com/mig-2g.20gb".to_owned(), 8),
            ("nvidia.com/mig-3g.40gb".to_owned(), 8)
        ]
    );
    plan.set_nodes(3);
    assert_eq!(plan.summary().per_pool.0.get("1g.10gb"), Some(&48));
    // One GPU changed: custom.
    plan.remove(7, 0).expect("remove");
    assert_eq!(plan.matching_config(&configs), None);
    assert!(!plan.summary().uniform);
    plan.copy_to_all(0).expect("copy");
    assert_eq!(plan.matching_config(&configs), Some("all-balanced"));
    plan.apply_named(config(&configs, "all-disabled"), None)
        .expect("off");
    let s = plan.summary();
    assert_eq!((s.whole_gpus, s.compute_total), (8, 0));
    assert_eq!(s.resources, vec![("nvidia.com/gpu".to_owned(), 8)]);
    assert_eq!(plan.matching_config(&configs), Some("all-disabled"));
}

#[test]
fn every_named_config_matches_itself_on_every_model() {
    for model in GpuModel::all() {
        let configs = named(model);
        for c in &configs {
            let mut plan = NodePlan::custom(model, 2).expect("2 GPUs");
            if plan.apply_named(c, None).is_err() {
                continue;
            }
            let found = plan.matching_config(&configs).expect("some config matches");
            assert_eq!(
                config(&configs, found).desired,
                c.desired,
                "{model}: {}",
                c.name
            );
        }
    }
}

#[test]
fn named_configs_come_in_the_guides_order() {
    let file = MigPartedConfig::default_configs().expect("parses");
    let h100 = named_configs(&file, GpuModel::H100_80GB);
    let names: Vec<&str> = h100.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(&names[..8], &GUIDE_CONFIGS[..], "the guide's eight first");
    assert!(
        !names.contains(&"all-1g.12gb"),
        "H100 NVL's configs do not apply to H100 80GB"
    );
    let a100 = named_configs(&file, GpuModel::A100_40GB);
    assert!(
        a100.iter().any(|c| c.name == "all-1g.5gb")
            && !a100.iter().any(|c| c.name == "all-1g.20gb")
    );
}

#[test]
fn reshaping_keeps_what_it_can() {
    let mut plan = NodePlan::default();
    plan.drop_profile(1, "7g.80gb", 0, None).expect("ok");
    plan.set_nodes(5);
    plan.reshape(GpuModel::H100_80GB, None, 2).expect("2 GPUs");
    assert_eq!(
        (plan.gpus().len(), plan.shape(), plan.nodes()),
        (2, None, 5)
    );
    assert_eq!(
        plan.gpus()[1].as_ref().map(ToString::to_string).as_deref(),
        Some("7g.80gb@0")
    );
    plan.reshape(GpuModel::H100_80GB, mig::shape::shape("BM.GPU.H100.8"), 0)
        .expect("shape");
    assert_eq!(plan.gpus().len(), 8);
    assert_eq!(
        plan.gpus()[7].as_ref().map(|l| l.instances().len()),
        Some(0)
    );
    assert!(plan.reshape(GpuModel::H100_80GB, None, 17).is_err());
    assert_eq!(plan.gpus().len(), 8, "a refused reshape changes nothing");
    plan.reshape(GpuModel::A100_40GB, None, 3)
        .expect("other model");
    assert_eq!(plan.model(), GpuModel::A100_40GB);
    assert!(plan.gpus().iter().all(|g| {
        g.as_ref()
            .is_some_and(|l| l.instances().is_empty() && l.model() == GpuModel::A100_40GB)
    }));
}

#[test]
fn exports() {
    let configs = named(GpuModel::H100_80GB);
    let mut plan = NodePlan::default();
    plan.apply_named(config(&configs, "all-1g.20gb"), None)
        .expect("places");
    plan.set_nodes(2);
    let bp = plan
        .to_blueprint(&configs, "h100 \"pool\"\n")
        .expect("named and uniform");
    let v: serde_json::Value = serde_json::from_str(&bp).expect("valid JSON");
    assert_eq!(v["deployment_name"], "h100 \"pool\"\n");
    assert!(
        bp.contains("\"shared_node_pool_mig_config\": \"all-1g.20gb\""),
        "{bp}"
    );
    // The name is escaped as JSON (quote and newline), by serde_json.
    assert!(
        bp.contains(r#""deployment_name": "h100 \"pool\"\n""#),
        "{bp}"
    );
    assert!(
        bp.contains("\"shared_node_pool_size\": 2") && bp.contains("\"BM.GPU.H100.8\""),
        "{bp}"
    );
    assert_eq!(
        plan.replicas_per_profile(16_000_000_000),
        [("1g.20gb", 32)],
        "4 × 1g.20gb × 8 GPUs hold a 16 GB model"
    );
    assert_eq!(plan.replicas_per_profile(30_000_000_000), []);
    let yaml = plan.to_mig_parted("migboard-plan");
    let back = MigPartedConfig::parse(&yaml).expect("our YAML parses");
    assert_eq!(
        back.resolve("migboard-plan", GpuModel::H100_80GB, 5),
        Ok(config(&configs, "all-1g.20gb").desired.clone())
    );
    // An update of the pool (or node) the plan came from: OCI's `update` recipe, validated as such.
    let pool = UpdateTarget::parse("pool:h100migpool").expect("pool target");
    assert_eq!(pool.to_param(), "pool:h100migpool");
    let update = plan
        .to_update_blueprint(&configs, "resize", &pool)
        .expect("named and uniform");
    let v: serde_json::Value = serde_json::from_str(&update).expect("valid JSON");
    assert_eq!(
        v,
        serde_json::json!({"recipe_mode": "update", "deployment_name": "resize",
            "recipe_node_pool_name": "h100migpool", "shared_node_pool_mig_config": "all-1g.20gb"})
    );
    let node = UpdateTarget::parse("node:10.0.10.11").expect("node target");
    let update = plan
        .to_update_blueprint(&configs, "one", &node)
        .expect("node");
    let v: serde_json::Value = serde_json::from_str(&update).expect("valid JSON");
    assert_eq!(v["recipe_node_name"], "10.0.10.11");
    assert!(v.get("recipe_node_pool_name").is_none(), "{v}");
    let checked = mig::blueprint::check(&update, mig::blueprint::Context::default());
    assert!(checked.is_valid(), "{:?}", checked.issues);
    for bad in ["pool:", "cluster:x", "h100migpool", ""] {
        assert_eq!(UpdateTarget::parse(bad), None, "{bad}");
    }
    plan.remove(3, 0).expect("remove");
    let err = plan
        .to_update_blueprint(&configs, "x", &pool)
        .expect_err("custom");
    assert!(err.contains("pool h100migpool") && err.contains("custom config"), "{err}");
    let err = plan.to_blueprint(&configs, "x").expect_err("custom");
    assert!(err.contains("export the mig-parted YAML"), "{err}");
    let custom = NodePlan::custom(GpuModel::H100_80GB, 2).expect("2");
    assert!(
        custom
            .to_blueprint(&configs, "x")
            .expect_err("no shape")
            .contains("needs an OCI shape")
    );
}

#[test]
fn links_round_trip() {
    let mut plan = NodePlan::default();
    assert_eq!(plan.to_query(), "shape=BM.GPU.H100.8");
    for (profile, start) in [
        ("3g.40gb", 4),
        ("2g.20gb", 2),
        ("1g.10gb", 1),
        ("1g.10gb", 0),
    ] {
        plan.drop_profile(0, profile, start, None).expect("places");
    }
    plan.copy_to_all(0).expect("copy");
    plan.set_mig(7, false).expect("gpu 7");
    plan.remove(6, 0).expect("remove");
    plan.drop_profile(6, "1g.10gb+me", 0, None).expect("+me");
    plan.set_nodes(4);
    let q = plan.to_query();
    assert_eq!(
        q,
        "shape=BM.GPU.H100.8&layout=1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4*6;1g.10gb%2Bme@0,1g.10gb@1,2g.20gb@2,3g.40gb@4;off&nodes=4"
    );
    let decoded: Vec<(String, String)> = q
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("k=v");
            (k.to_owned(), v.replace("%2B", "+"))
        })
        .collect();
    let back = NodePlan::from_query(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .expect("parses");
    assert_eq!(back, plan);
    let custom = NodePlan::custom(GpuModel::A100_40GB, 3).expect("3");
    assert_eq!(custom.to_query(), "model=a100-40gb&count=3");
    assert_eq!(
        NodePlan::from_query([("model", "a100-40gb"), ("count", "3")]),
        Ok(custom)
    );
    assert_eq!(NodePlan::from_query([]), Ok(NodePlan::default()));
    // Repeat counts that overflow when added up are an error, not a panic (found by fuzzing).
    let huge = format!("-*2;-*2;-*{};-*{}", usize::MAX, usize::MAX);
    let refused = NodePlan::from_query([("model", "h100-80gb"), ("count", "2"), ("layout", huge.as_str())]);
    assert!(
        refused.as_ref().is_err_and(|e| e.param == "layout"),
        "{refused:?}"
    );
    assert_eq!(
        NodePlan::from_query([("utm_source", "x")]),
        Ok(NodePlan::default())
    );
    // An unencoded + arrives as a space and is still understood.
    let p = NodePlan::from_query([
        ("model", "h100-80gb"),
        ("count", "1"),
        ("layout", "1g.10gb me@3"),
    ])
    .expect("ok");
    assert_eq!(
        p.gpus()[0].as_ref().map(ToString::to_string).as_deref(),
        Some("1g.10gb+me@3")
    );
}

#[test]
fn bad_links_say_what_and_where() {
    let err = |pairs: &[(&str, &str)]| {
        NodePlan::from_query(pairs.iter().copied())
            .expect_err("bad")
            .to_string()
    };
    assert_eq!(
        err(&[("shape", "BM.GPU.H100.9")]),
        "link parameter `shape`: no shape `BM.GPU.H100.9`; known shapes are BM.GPU.H100.8, BM.GPU.H200.8, BM.GPU.B200.8, BM.GPU.A100-v2.8, BM.GPU4.8"
    );
    assert!(
        err(&[("model", "h100")]).starts_with("link parameter `model`: unknown GPU model `h100`")
    );
    assert!(err(&[("model", "h100-80gb"), ("count", "0")]).contains("1 to 16 GPUs"));
    assert!(err(&[("model", "h100-80gb"), ("count", "x")]).contains("not a GPU count"));
    assert!(
        err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*3")])
            .contains("describes 3 GPU(s), but the node has 8")
    );
    assert!(err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*99")]).contains("not a repeat count"));
    assert_eq!(
        err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*7;4g.40gb@4")]),
        "link parameter `layout`: GPU 7: instance 0: 4g.40gb cannot start at memory slice 4; it may start at 0"
    );
    assert!(
        err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*7;3g.40gb")])
            .contains("write profile@start")
    );
    assert!(
        err(&[("shape", "BM.GPU.H100.8"), ("layout", "-*7;3g.40gb@9")]).contains("write 0 to 7")
    );
    assert!(err(&[("shape", "BM.GPU.H100.8"), ("nodes", "0")]).contains("from 1 to 1000"));
    assert!(
        err(&[("shape", "BM.GPU.H100.8"), ("model", "a100-40gb")]).contains("carries h100-80gb")
    );
    // Overlong input is bounded by the GPU count, not read forever.
    let long = vec!["-"; 10_000].join(";");
    assert!(
        err(&[("shape", "BM.GPU.H100.8"), ("layout", &long)]).contains("describes 10000 GPU(s)")
    );
}

/// A live node as a plan, and the diff of applying a plan to it: what is kept, destroyed and
/// created per GPU, the agent's NVML calls, resets, and the busy instances in the way.
#[test]
fn a_live_node_opens_as_a_plan_and_a_plan_diffs_against_it() {
    use mig::agent_api::{BusySlice, InventoryGpu};
    use mig::{InstanceSpec, Layout, NodePlan};
    let model = GpuModel::H100_80GB;
    let shape = mig::shape::shape("BM.GPU.H100.8").expect("shape");
    let balanced = config(&named(model), "all-balanced")
        .layout(model)
        .expect("places")
        .expect("MIG on");
    let spec = |p: &str, s: u8| InstanceSpec {
        profile: p.into(),
        start: s,
    };
    // GPU 0 all-balanced with a process on its 3g.40gb; GPU 1 MIG off; the rest all-balanced.
    let mut gpus: Vec<InventoryGpu> = (0..8)
        .map(|i| {
            InventoryGpu::described(i, format!("GPU-{i}"), model, (i != 1).then_some(&balanced))
        })
        .collect();
    gpus[0].busy.push(BusySlice {
        profile: "3g.40gb".into(),
        start: 4,
        pids: vec![42],
        used_memory_mib: 1024,
        owners: vec!["svc replica 0".into()],
    });
    let live = NodePlan::from_inventory(shape, &gpus).expect("a valid node");
    assert_eq!(live.gpus()[0].as_ref(), Some(&balanced));
    assert_eq!(live.gpus()[1], None);
    // Against itself: nothing to do anywhere.
    let same = diff_node(&live, &gpus).expect("diff");
    assert!(same.iter().all(|d| d.steps.is_empty() && d.nvml_calls == 0));

    // A plan that cuts GPU 0's busy 3g.40gb into 1g.10gb slices (keeping its 2g.20gb and first
    // 1g.10gb) and turns GPU 1's MIG on with one 7g.80gb.
    let mut plan = live.clone();
    let moved = Layout::new(
        model,
        &[
            spec("2g.20gb", 0),
            spec("1g.10gb", 2),
            spec("1g.10gb", 4),
            spec("1g.10gb", 6),
        ],
    )
    .expect("layout");
    plan.set_layout(Some(0), Some(moved)).expect("gpu 0");
    let whole = Layout::new(model, &[spec("7g.80gb", 0)]).expect("layout");
    plan.set_layout(Some(1), Some(whole)).expect("gpu 1");
    let diff = diff_node(&plan, &gpus).expect("diff");
    let gpu0 = &diff[0];
    assert_eq!(
        gpu0.kept,
        vec![spec("2g.20gb", 0), spec("1g.10gb", 2)],
        "{gpu0:?}"
    );
    assert_eq!(gpu0.destroyed, vec![spec("1g.10gb", 3), spec("3g.40gb", 4)]);
    assert_eq!(gpu0.created, vec![spec("1g.10gb", 4), spec("1g.10gb", 6)]);
    assert_eq!(gpu0.in_the_way.len(), 1, "the busy 3g.40gb is destroyed");
    assert!(!gpu0.needs_reset);
    assert_eq!(
        gpu0.nvml_calls,
        2 * (gpu0.destroyed.len() + gpu0.created.len()) as u32
    );
    let gpu1 = &diff[1];
    assert!(gpu1.needs_reset);
    assert_eq!(gpu1.nvml_calls, 1 + 2, "mode change, then one instance");
    assert!(diff[2..].iter().all(|d| d.steps.is_empty()));
}
