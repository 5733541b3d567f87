//! Snapshot of the plain-words diagnostics users read: layouts, placement, mig-parted files, sizing.
//! Bless changes with `UPDATE_EXPECT=1 cargo test -p mig --test diagnostics` and review the diff.

use std::fmt::Write as _;

use expect_test::expect_file;
use mig::parted::MigPartedConfig;
use mig::sizing::{Precision, SizingInput, estimate};
use mig::{GpuModel, InstanceSpec, Layout, ProfileCounts, place};

#[test]
fn diagnostics_snapshot() {
    let mut out = String::new();
    let layouts: &[(GpuModel, &[(&str, u8)])] = &[
        (GpuModel::H100_80GB, &[("3g.40gb", 4), ("4g.40gb", 4)]),
        (
            GpuModel::H100_80GB,
            &[("3g.40gb", 0), ("2g.20gb", 2), ("1g.10gb", 3)],
        ),
        (
            GpuModel::H100_80GB,
            &[("1g.5gb", 0), ("7g.80gb", 0), ("1g.10gb", 7)],
        ),
        (
            GpuModel::H100_80GB,
            &[
                ("2g.20gb", 0),
                ("2g.20gb", 2),
                ("2g.20gb", 4),
                ("2g.20gb", 4),
                ("1g.20gb", 6),
            ],
        ),
        (GpuModel::A100_40GB, &[("3g.40gb", 0), ("1g.10gb", 1)]),
        (
            GpuModel::B200_180GB,
            &[("1g.23gb+me", 0), ("1g.23gb+me", 1), ("7g.180gb", 0)],
        ),
    ];
    for (model, items) in layouts {
        let specs: Vec<InstanceSpec> = items
            .iter()
            .map(|(p, s)| InstanceSpec {
                profile: (*p).into(),
                start: *s,
            })
            .collect();
        let _ = writeln!(out, "layout on {}: {:?}", model.id(), items);
        match Layout::new(*model, &specs) {
            Ok(l) => {
                let _ = writeln!(out, "  valid: {l}");
            }
            Err(issues) => issues.iter().for_each(|i| {
                let _ = writeln!(out, "  - {i}");
            }),
        }
    }
    let requests: &[&[(&str, u32)]] = &[
        &[("1g.10gb", 7), ("1g.20gb", 1)],
        &[("3g.40gb", 3)],
        &[("4g.40gb", 1), ("3g.40gb", 1), ("1g.10gb", 1)],
        &[("9g.9gb", 1)],
    ];
    for items in requests {
        let mut c = ProfileCounts::default();
        items.iter().for_each(|(p, n)| c.add(p, *n));
        let _ = writeln!(out, "place on h100-80gb: {c}");
        let _ = writeln!(
            out,
            "  - {}",
            place(GpuModel::H100_80GB, &c)
                .map_or_else(|e| e.to_string(), |l| format!("valid: {l}"))
        );
    }
    let files = [
        "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: yes please\n",
        "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n      mig-devices: {\"1g.10gb\": 7}\n",
        "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devics: {}\n",
        "mig-configs: {}\n",
    ];
    for f in files {
        let _ = writeln!(
            out,
            "mig-parted file {f:?}\n  - {}",
            MigPartedConfig::parse(f).map_or_else(|e| e.to_string(), |_| "ok".into())
        );
    }
    let defaults = MigPartedConfig::default_configs().expect("defaults");
    for (name, model) in [
        ("all-balanced", GpuModel::A100_80GB),
        ("all-1g.5gb", GpuModel::H100_80GB),
        ("all-balanc", GpuModel::H100_80GB),
        ("all-1g.24gb.gfx", GpuModel::H100_80GB),
    ] {
        let _ = writeln!(
            out,
            "resolve {name} on {}\n  - {}",
            model.id(),
            defaults
                .resolve(name, model, 0)
                .map_or_else(|e| e.to_string(), |d| format!("{d:?}"))
        );
    }
    let mut bad = SizingInput::for_model(&mig::sizing::CATALOGUE[0], Precision::Fp16, 1024, 1);
    bad.layers = 0;
    let _ = writeln!(
        out,
        "sizing with layers = 0 but a context\n  - {}",
        estimate(&bad).map_or_else(|e| e.to_string(), |_| "ok".into())
    );
    expect_file!["snapshots/diagnostics.txt"].assert_eq(&out);
}
