//! Custom MIG configs: validation with pointers, per-GPU targets, mig-parted export and import.

use mig::blueprint::Catalogue;
use mig::custom::{GpuTarget, RawCustomConfig, import_mig_parted};
use mig::parted::Devices;
use mig::{GpuModel, GpuWant, InstanceSpec, Layout, MigPartedConfig, NamedConfig};

fn builtins() -> Catalogue {
    Catalogue::from_parted(&MigPartedConfig::default_configs().expect("defaults"))
}

fn raw(json: &str) -> RawCustomConfig {
    serde_json::from_str(json).expect("raw config")
}

fn check(json: &str) -> Result<mig::CustomConfig, Vec<(String, String)>> {
    let cat = builtins();
    raw(json)
        .validate(|n| cat.is_builtin(n))
        .map_err(|issues| issues.into_iter().map(|i| (i.code, i.path)).collect())
}

fn spec(profile: &str, start: u8) -> InstanceSpec {
    InstanceSpec {
        profile: profile.into(),
        start,
    }
}

const TWO_LAYOUTS: &str = r#"{"name": "mix-a", "model": "h100-80gb", "description": "inference mix",
  "devices": [
    {"gpus": [0, 1, 2, 3], "instances": [{"profile": "3g.40gb", "start": 4}, {"profile": "1g.10gb", "start": 0}]},
    {"gpus": [4, 5, 6, 7], "instances": [{"profile": "7g.80gb", "start": 0}]}
  ]}"#;

#[test]
fn a_valid_config_gives_each_gpu_its_exact_placements() {
    let c = check(TWO_LAYOUTS).expect("valid");
    let GpuTarget::Layout(l) = c.target(2) else {
        panic!("GPU 2 has a layout")
    };
    assert_eq!(l.to_specs(), vec![spec("1g.10gb", 0), spec("3g.40gb", 4)]);
    let GpuTarget::Layout(l) = c.target(7) else {
        panic!("GPU 7 has a layout")
    };
    assert_eq!(l.to_specs(), vec![spec("7g.80gb", 0)]);
    // mig-parted's semantics: a GPU no entry names is left as it is.
    assert_eq!(c.target(8), GpuTarget::Untouched);
}

#[test]
fn every_layout_rule_is_reported_at_its_pointer() {
    let issues = check(
        r#"{"name": "bad", "model": "h100-80gb", "devices": [
        {"gpus": "all", "instances": [
            {"profile": "3g.40gb", "start": 0},
            {"profile": "3g.40gb", "start": 2},
            {"profile": "2g.20gb", "start": 1},
            {"profile": "9g.90gb", "start": 0}
        ]},
        {"gpus": [1], "instances": [
            {"profile": "1g.10gb", "start": 0}, {"profile": "1g.10gb", "start": 1},
            {"profile": "1g.10gb", "start": 2}, {"profile": "1g.10gb", "start": 3},
            {"profile": "1g.10gb", "start": 4}, {"profile": "1g.10gb", "start": 5},
            {"profile": "1g.10gb", "start": 6}, {"profile": "1g.10gb", "start": 7}
        ]}
    ]}"#,
    )
    .expect_err("invalid");
    let has = |code: &str, path: &str| {
        assert!(
            issues.iter().any(|(c, p)| c == code && p == path),
            "{code} at {path} missing from {issues:?}"
        );
    };
    has("config_start_not_allowed", "/devices/0/instances/1/start");
    has("config_start_not_allowed", "/devices/0/instances/2/start");
    has("config_profile_unknown", "/devices/0/instances/3/profile");
    // Entry 1 comes after "all": it could never apply.
    has("config_entry_unreachable", "/devices/1/gpus");
    // Eight 1g.10gb: more than a GPU holds (7), and the last start is not allowed.
    has("config_profile_limit", "/devices/1/instances");
    has("config_start_not_allowed", "/devices/1/instances/7/start");
}

#[test]
fn overlapping_instances_point_at_the_later_one() {
    let issues = check(
        r#"{"name": "ov", "model": "h100-80gb", "devices": [{"gpus": [0], "instances": [
            {"profile": "4g.40gb", "start": 0}, {"profile": "2g.20gb", "start": 2}]}]}"#,
    )
    .expect_err("overlap");
    assert_eq!(
        issues,
        vec![("config_overlap".into(), "/devices/0/instances/1".into())]
    );
}

#[test]
fn names_must_be_label_values_and_not_shadow_builtins() {
    for (name, code) in [
        ("all-balanced", "config_shadows_builtin"),
        ("all-1g.10gb", "config_shadows_builtin"),
        ("", "config_name_invalid"),
        ("has space", "config_name_invalid"),
        ("-leading", "config_name_invalid"),
        ("plus+sign", "config_name_invalid"),
        (&"x".repeat(64), "config_name_invalid"),
    ] {
        let json = format!(
            r#"{{"name": {}, "model": "h100-80gb", "devices": [{{"gpus": "all", "instances": []}}]}}"#,
            serde_json::to_string(name).expect("json")
        );
        let issues = check(&json).expect_err(name);
        assert_eq!(issues, vec![(code.to_owned(), "/name".to_owned())], "{name}");
    }
    assert!(
        check(r#"{"name": "x", "model": "h100-80gb", "devices": [{"gpus": "all"}]}"#).is_ok(),
        "a one-letter name, MIG on with no instances"
    );
}

#[test]
fn gpus_named_twice_unknown_models_and_empty_configs_are_refused() {
    let issues = check(
        r#"{"name": "t", "model": "h100-80gb", "devices": [
        {"gpus": [0, 1], "instances": []}, {"gpus": [1, 1, 99], "instances": []}, {"gpus": []}]}"#,
    )
    .expect_err("twice");
    assert_eq!(
        issues,
        vec![
            ("config_gpu_twice".into(), "/devices/1/gpus/0".into()),
            ("config_gpu_twice".into(), "/devices/1/gpus/1".into()),
            ("config_gpu_index".into(), "/devices/1/gpus/2".into()),
            ("config_gpus_empty".into(), "/devices/2/gpus".into()),
        ]
    );
    let issues = check(r#"{"name": "t", "model": "h900", "devices": []}"#).expect_err("model");
    assert_eq!(
        issues,
        vec![
            ("config_model_unknown".into(), "/model".into()),
            ("config_no_devices".into(), "/devices".into()),
        ]
    );
    let issues = check(
        r#"{"name": "t", "model": "h100-80gb", "devices": [{"gpus": "all", "mig_enabled": false,
        "instances": [{"profile": "7g.80gb", "start": 0}]}]}"#,
    )
    .expect_err("instances without MIG");
    assert_eq!(
        issues,
        vec![(
            "config_instances_without_mig".into(),
            "/devices/0/instances".into()
        )]
    );
    // Unknown members are refused when reading, not ignored.
    assert!(
        serde_json::from_str::<RawCustomConfig>(
            r#"{"name": "t", "model": "h100-80gb", "devices": [], "colour": "red"}"#
        )
        .is_err()
    );
}

#[test]
fn mig_parted_export_gives_counts_and_names_the_placements_it_loses() {
    let c = check(TWO_LAYOUTS).expect("valid");
    let yaml = c.to_mig_parted_yaml(Some(3));
    assert!(yaml.contains("(version 3)"), "{yaml}");
    assert!(yaml.contains("#   entry 0, GPUs [0, 1, 2, 3]: 1g.10gb@0 3g.40gb@4"), "{yaml}");
    let file = MigPartedConfig::parse(&yaml).expect("mig-parted parses its own export");
    let desired = file
        .resolve("mix-a", GpuModel::H100_80GB, 1)
        .expect("GPU 1 resolves");
    let mig::DesiredMig::Enabled(counts) = desired else {
        panic!("MIG on")
    };
    assert_eq!(counts.0.get("3g.40gb"), Some(&1));
    assert_eq!(counts.0.get("1g.10gb"), Some(&1));
    // The export is limited to the model's GPUs, as mig-parted's own files are.
    assert!(
        file.resolve("mix-a", GpuModel::A100_40GB, 1).is_err(),
        "an H100 config must not resolve on an A100"
    );
}

#[test]
fn export_then_import_round_trips_when_placements_are_migboards_own() {
    // GPUs 0-3: a layout as migboard places its counts; 4-7: MIG off; 8: MIG on, empty.
    let placed = mig::place(GpuModel::H100_80GB, &{
        let mut c = mig::ProfileCounts::default();
        c.add("2g.20gb", 2);
        c.add("1g.10gb", 3);
        c
    })
    .expect("places");
    let layouts: Vec<Option<Layout>> = (0..9)
        .map(|i| match i {
            0..4 => Some(placed.clone()),
            8 => Some(Layout::empty(GpuModel::H100_80GB)),
            _ => None,
        })
        .collect();
    let original = RawCustomConfig::from_layouts("rt", GpuModel::H100_80GB, "", &layouts);
    assert_eq!(original.devices.len(), 3);
    assert_eq!(original.devices[0].gpus, Devices::List(vec![0, 1, 2, 3]));
    let cat = builtins();
    let valid = original
        .clone()
        .validate(|n| cat.is_builtin(n))
        .expect("valid");
    let yaml = valid.to_mig_parted_yaml(None);
    let back = import_mig_parted(&yaml, GpuModel::H100_80GB)
        .expect("imports")
        .configs;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].devices, original.devices, "{yaml}");
    assert_eq!(back[0].name, "rt");
}

#[test]
fn importing_nvidias_file_gives_every_config_that_applies_with_valid_placements() {
    let imported =
        import_mig_parted(mig::parted::DEFAULT_CONFIG_YAML, GpuModel::H100_80GB).expect("imports");
    // Configs of other models are skipped, each with its reason.
    assert!(
        imported
            .skipped
            .iter()
            .any(|(n, why)| n == "all-1g.12gb" && why.contains("not a profile")),
        "{:?}",
        imported.skipped
    );
    let configs = imported.configs;
    let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"all-balanced"), "{names:?}");
    let balanced = configs
        .iter()
        .find(|c| c.name == "all-balanced")
        .expect("balanced");
    // Renamed, they validate: the placements chosen are valid ones.
    let mut renamed = balanced.clone();
    renamed.name = "my-balanced".into();
    let c = renamed.validate(|_| false).expect("valid");
    let GpuTarget::Layout(l) = c.target(0) else {
        panic!("MIG on")
    };
    assert_eq!(l.counts().total(), 4, "2 × 1g.10gb + 2g.20gb + 3g.40gb");
    // A file whose configs all filter other GPUs imports nothing and says so.
    let a100_only = "version: v1\nmig-configs:\n  x:\n    - device-filter: [\"0x20B010DE\"]\n      devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g.5gb\": 7\n";
    let imported = import_mig_parted(a100_only, GpuModel::H100_80GB).expect("parses");
    assert!(imported.configs.is_empty());
    assert!(imported.skipped[0].1.contains("no entry applies"), "{imported:?}");
}

#[test]
fn the_catalogue_offers_custom_configs_with_per_gpu_layouts() {
    let c = check(TWO_LAYOUTS).expect("valid");
    let named = NamedConfig::from_custom(&c, 2);
    assert_eq!(named.source(), "custom");
    let cat = builtins().with_custom([(GpuModel::H100_80GB, named)]);
    assert!(!cat.is_builtin("mix-a"));
    assert!(cat.is_builtin("all-balanced"));
    let cfg = cat.config(GpuModel::H100_80GB, "mix-a").expect("listed");
    assert_eq!(
        cfg.gpu_want(GpuModel::H100_80GB, 5),
        Ok(GpuWant::Layout(
            Layout::new(GpuModel::H100_80GB, &[spec("7g.80gb", 0)]).expect("layout")
        ))
    );
    assert_eq!(cfg.gpu_want(GpuModel::H100_80GB, 9), Ok(GpuWant::Untouched));
    // Not offered on another model.
    assert!(cat.config(GpuModel::A100_40GB, "mix-a").is_none());
    // It supplies 7g.80gb (GPUs 4-7) though GPU 0 has none.
    assert!(
        cat.supplying(GpuModel::H100_80GB, "7g.80gb")
            .contains(&"mix-a")
    );
    // A pool created with it has each GPU's own slices.
    let shape = mig::shape::shape("BM.GPU.H100.8").expect("shape");
    let node = mig::blueprint::FleetNode::configured("n", Some("p"), shape, Some(cfg));
    assert_eq!(node.gpus[0].slices.len(), 2);
    assert_eq!(node.gpus[7].slices.len(), 1);
    assert_eq!(node.slices_of("7g.80gb"), (4, 4));
}
