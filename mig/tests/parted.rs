//! mig-parted files: NVIDIA's defaults load whole, resolve per model, export and read back.

use mig::parted::*;
use mig::*;

fn defaults() -> MigPartedConfig {
    MigPartedConfig::default_configs().expect("config-default.yaml parses")
}

#[test]
fn config_default_loads_completely() {
    let c = defaults();
    // Every top-level name of the file is there (counted independently of the parser).
    let names = DEFAULT_CONFIG_YAML
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .count();
    assert_eq!(c.configs.len(), names);
    assert!(c.configs.len() > 80, "{}", c.configs.len());
    let entries: usize = c.configs.values().map(Vec::len).sum();
    let dashes = DEFAULT_CONFIG_YAML
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .count();
    assert_eq!(entries, dashes);
}

#[test]
fn the_guides_eight_names_resolve_on_h100_as_the_guide_says() {
    let c = defaults();
    let h100 = GpuModel::H100_80GB;
    let expect = [
        (
            "all-1g.10gb",
            "1g.10gb@0 1g.10gb@1 1g.10gb@2 1g.10gb@3 1g.10gb@4 1g.10gb@5 1g.10gb@6",
        ),
        ("all-1g.20gb", "1g.20gb@0 1g.20gb@2 1g.20gb@4 1g.20gb@6"),
        ("all-2g.20gb", "2g.20gb@0 2g.20gb@2 2g.20gb@4"),
        ("all-3g.40gb", "3g.40gb@0 3g.40gb@4"),
        ("all-4g.40gb", "4g.40gb@0"),
        ("all-7g.80gb", "7g.80gb@0"),
        ("all-balanced", "2g.20gb@0 1g.10gb@2 1g.10gb@3 3g.40gb@4"),
    ];
    for (name, layout) in expect {
        for gpu in 0..8 {
            let got = c
                .resolve_layout(name, h100, gpu)
                .expect(name)
                .expect("MIG enabled");
            assert_eq!(got.to_string(), layout, "{name} on GPU {gpu}");
        }
    }
    assert_eq!(c.resolve_layout("all-disabled", h100, 0), Ok(None));
}

/// Every config in config-default.yaml that targets a modelled GPU places on it.
#[test]
fn every_default_config_that_targets_a_modelled_gpu_places() {
    let c = defaults();
    for model in GpuModel::all() {
        let mut resolved = 0;
        for name in c.configs.keys() {
            match c.resolve(name, model, 0) {
                Ok(DesiredMig::Enabled(counts)) => {
                    place(model, &counts).unwrap_or_else(|e| panic!("{name} on {model}: {e}"));
                    resolved += 1;
                }
                Ok(DesiredMig::Disabled) => resolved += 1,
                // Configs for other GPU families (other profile names) do not target this model.
                Err(
                    ResolveError::ProfileNotOnModel { .. } | ResolveError::NoEntryForGpu { .. },
                ) => {}
                Err(e) => panic!("{name} on {model}: {e}"),
            }
        }
        // all-disabled, all-enabled, one per profile (+me included), all-balanced.
        assert!(resolved >= 10, "{model}: only {resolved} configs resolve");
    }
}

#[test]
fn device_filters_pick_the_per_model_balanced_config() {
    let c = defaults();
    let got = |m| c.resolve("all-balanced", m, 0).expect("resolves");
    let counts = |items: &[(&str, u32)]| {
        let mut pc = ProfileCounts::default();
        items.iter().for_each(|(p, n)| pc.add(p, *n));
        DesiredMig::Enabled(pc)
    };
    assert_eq!(
        got(GpuModel::A100_40GB),
        counts(&[("1g.5gb", 2), ("2g.10gb", 1), ("3g.20gb", 1)])
    );
    assert_eq!(
        got(GpuModel::H100Nvl94GB),
        counts(&[("1g.12gb", 2), ("2g.24gb", 1), ("3g.47gb", 1)])
    );
    assert_eq!(
        got(GpuModel::H200_141GB),
        counts(&[("1g.18gb", 2), ("2g.35gb", 1), ("3g.71gb", 1)])
    );
    assert_eq!(
        got(GpuModel::B200_180GB),
        counts(&[("1g.23gb", 2), ("2g.45gb", 1), ("3g.90gb", 1)])
    );
    // all-1g.10gb means 7 × 1g.10gb on H100 but 4 × 1g.10gb (two memory slices each) on A100 40GB.
    assert_eq!(
        c.resolve("all-1g.10gb", GpuModel::A100_40GB, 0),
        Ok(counts(&[("1g.10gb", 4)]))
    );
}

#[test]
fn round_trip_load_export_load() {
    let c = defaults();
    let again = MigPartedConfig::parse(&c.to_yaml()).expect("exported YAML parses");
    assert_eq!(again, c);
    let examples = MigPartedConfig::parse(include_str!("../data/mig-parted-examples-config.yaml"))
        .expect("examples-config.yaml parses");
    assert_eq!(
        MigPartedConfig::parse(&examples.to_yaml()).expect("parses"),
        examples
    );
    assert_eq!(
        examples.resolve("custom-config", GpuModel::A100_40GB, 2),
        Ok(DesiredMig::Disabled)
    );
}

#[test]
fn layouts_export_as_one_config() {
    let c = defaults();
    let h100 = GpuModel::H100_80GB;
    let balanced = c.resolve_layout("all-balanced", h100, 0).expect("ok");
    let sevens = c.resolve_layout("all-1g.10gb", h100, 0).expect("ok");
    let mut gpus = vec![balanced.clone(); 6];
    gpus.push(sevens);
    gpus.push(None);
    let file = MigPartedConfig::from_layouts("my-plan", h100, &gpus);
    let yaml = file.to_yaml();
    assert!(yaml.contains("devices: [0, 1, 2, 3, 4, 5]"), "{yaml}");
    assert!(yaml.contains("\"0x233010DE\""), "{yaml}");
    let back = MigPartedConfig::parse(&yaml).expect("parses");
    for (i, want) in gpus.iter().enumerate() {
        assert_eq!(
            back.resolve_layout("my-plan", h100, i as u32).expect("ok"),
            *want,
            "GPU {i}"
        );
    }
    let uniform = MigPartedConfig::from_layouts("u", h100, &[balanced.clone(), balanced]);
    assert!(uniform.to_yaml().contains("devices: all"));
}

#[test]
fn bad_files_say_what_and_where() {
    let err = MigPartedConfig::parse(
        "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: maybe\n",
    )
    .expect_err("bad");
    assert!(err.to_string().contains("line 5"), "{err}");
    let err = MigPartedConfig::parse("version: v2\nmig-configs: {}\n").expect_err("bad");
    assert_eq!(
        err.to_string(),
        "unsupported mig-parted config version `v2`: only `v1` is understood"
    );
    let err = MigPartedConfig::parse(
        "version: v1\nmig-configs:\n  x:\n    - devices: all\n      device-filter: nvidia\n      mig-enabled: true\n",
    )
    .expect_err("bad");
    assert!(
        err.to_string()
            .starts_with("config `x`, entry 0: device-filter `nvidia`"),
        "{err}"
    );
    let err = MigPartedConfig::parse("version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"9g.1gb\": 1}\n")
        .expect_err("bad");
    assert!(err.to_string().contains("9g.1gb"), "{err}");
    let err = defaults()
        .resolve("all-balancd", GpuModel::H100_80GB, 0)
        .expect_err("typo");
    assert_eq!(
        err.to_string(),
        "no MIG config named `all-balancd`; did you mean `all-balanced`?"
    );
}
