//! Benchmarks of the rules the planner runs on every drag: `cargo bench -p mig` (see BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mig::parted::{DesiredMig, MigPartedConfig};
use mig::{GpuModel, InstanceSpec, Layout, ObservedGpu, combinations, place_near, plan};

use mig::parted::GUIDE_CONFIGS;

fn bench(c: &mut Criterion) {
    let h100 = GpuModel::H100_80GB;
    let balanced: Vec<InstanceSpec> = [
        ("2g.20gb", 0),
        ("1g.10gb", 2),
        ("1g.10gb", 3),
        ("3g.40gb", 4),
    ]
    .iter()
    .map(|(p, s)| InstanceSpec {
        profile: (*p).to_owned(),
        start: *s,
    })
    .collect();
    c.bench_function("validate one H100 layout (all-balanced)", |b| {
        b.iter(|| Layout::new(h100, black_box(&balanced)))
    });
    c.bench_function("enumerate all H100 combinations", |b| {
        b.iter(|| combinations(black_box(h100)))
    });

    let config = MigPartedConfig::default_configs().expect("embedded defaults parse");
    let states: Vec<(ObservedGpu, DesiredMig)> = GUIDE_CONFIGS
        .iter()
        .map(|name| {
            let observed = match config.resolve_layout(name, h100, 0).expect("resolves") {
                Some(l) => ObservedGpu::with_layout(&l),
                None => ObservedGpu::disabled(h100),
            };
            (observed, config.resolve(name, h100, 0).expect("resolves"))
        })
        .collect();
    c.bench_function(
        "plan all 64 transitions between the 8 H100 named configs (with nearest placement)",
        |b| {
            b.iter(|| {
                let mut steps = 0;
                for (from, _) in &states {
                    for (_, to) in &states {
                        let desired = match to {
                            DesiredMig::Disabled => None,
                            DesiredMig::Enabled(counts) => {
                                Some(place_near(h100, counts, &from.instances).expect("places"))
                            }
                        };
                        steps += plan(black_box(from), desired.as_ref()).len();
                    }
                }
                steps
            })
        },
    );
    // The planner: what one drag start costs (drop targets for every slot of 8 GPUs), and what one
    // edit costs (the summary with stranded-capacity search on every GPU).
    let mut node = mig::NodePlan::default();
    let file = MigPartedConfig::default_configs().expect("parses");
    let named = mig::parted::named_configs(&file, h100);
    let balanced_cfg = named
        .iter()
        .find(|c| c.name == "all-balanced")
        .expect("exists");
    node.apply_named(balanced_cfg, None).expect("places");
    node.remove(3, 0).expect("one GPU with room");
    c.bench_function(
        "planner: drop targets for 1g.10gb on all 8 GPUs × 8 slices",
        |b| {
            b.iter(|| {
                (0..8)
                    .map(|g| black_box(&node).drop_targets(g, "1g.10gb", None).len())
                    .sum::<usize>()
            })
        },
    );
    let empty = mig::NodePlan::default();
    c.bench_function(
        "planner: summary of an empty 8-GPU node (worst case for the stranded search)",
        |b| b.iter(|| black_box(&empty).summary()),
    );
    c.bench_function("planner: summary of an all-balanced 8-GPU node", |b| {
        b.iter(|| black_box(&node).summary())
    });
    c.bench_function("parse mig-parted config-default.yaml", |b| {
        b.iter(|| MigPartedConfig::parse(black_box(mig::parted::DEFAULT_CONFIG_YAML)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
