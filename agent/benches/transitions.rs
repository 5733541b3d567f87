//! `cargo bench -p agent --bench transitions`: mutating driver calls per transition between the eight
//! named configs of OCI's MIG guide on an H100, migboard's minimal apply against the
//! destroy-everything-then-recreate approach mig-parted takes, and the agent's own time per apply on
//! an 8-GPU simulated node (the simulator answers at once, so this is planning + bookkeeping only).
//! Results are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant;

use agent::apply::{apply_gpu, observe};
use agent::driver::GpuDriver;
use agent::sim::{SimDriver, SimOptions};
use mig::parted::DesiredMig;
use mig::parted::GUIDE_CONFIGS;
use mig::{GpuModel, MigMode, MigPartedConfig, place};

/// mig-parted's way: if the GPU already has the desired counts, nothing (its `assert` step);
/// otherwise destroy every compute and GPU instance, change the mode if needed, create all.
fn recreate_everything(sim: &SimDriver, desired: &DesiredMig) -> u64 {
    let before = sim.mutating_calls();
    let current = observe(sim, 0).expect("observe").gpu.as_desired();
    if current == *desired {
        return 0;
    }
    let mode = sim.mig_mode(0).expect("mode").current;
    if mode == MigMode::Enabled {
        for gi in sim.gpu_instances(0).expect("instances") {
            for ci in &gi.compute_instances {
                sim.destroy_compute_instance(0, gi.id, *ci)
                    .expect("destroy ci");
            }
            sim.destroy_gpu_instance(0, gi.id).expect("destroy gi");
        }
    }
    match desired {
        DesiredMig::Disabled => {
            if mode == MigMode::Enabled {
                sim.set_mig_mode(0, MigMode::Disabled).expect("mode");
            }
        }
        DesiredMig::Enabled(counts) => {
            if mode == MigMode::Disabled {
                sim.set_mig_mode(0, MigMode::Enabled).expect("mode");
            }
            for p in place(GpuModel::H100_80GB, counts)
                .expect("places")
                .instances()
            {
                let gi = sim
                    .create_gpu_instance(0, p.profile.nvml_id(), p.start)
                    .expect("create gi");
                sim.create_compute_instance(0, gi).expect("create ci");
            }
        }
    }
    sim.mutating_calls() - before
}

/// Destroy-all for explicit layouts: unless the GPU already has exactly `to`, destroy every
/// instance, change the mode if needed, create `to`'s instances at their placements.
fn recreate_layout(sim: &SimDriver, to: &mig::Layout) -> u64 {
    let before = sim.mutating_calls();
    let now = observe(sim, 0).expect("observe").gpu;
    if now.mode == MigMode::Enabled && now.instances == to.instances() {
        return 0;
    }
    if now.mode == MigMode::Enabled {
        for gi in sim.gpu_instances(0).expect("instances") {
            for ci in &gi.compute_instances {
                sim.destroy_compute_instance(0, gi.id, *ci)
                    .expect("destroy ci");
            }
            sim.destroy_gpu_instance(0, gi.id).expect("destroy gi");
        }
    } else {
        sim.set_mig_mode(0, MigMode::Enabled).expect("mode");
    }
    for p in to.instances() {
        let gi = sim
            .create_gpu_instance(0, p.profile.nvml_id(), p.start)
            .expect("create gi");
        sim.create_compute_instance(0, gi).expect("create ci");
    }
    sim.mutating_calls() - before
}

/// A random valid H100 layout, as a user might draw one: profiles dropped at random allowed
/// starts, each kept if the layout stays valid (`next` is a seeded generator).
fn random_layout(next: &mut impl FnMut() -> u64) -> mig::Layout {
    let model = GpuModel::H100_80GB;
    let profiles = &model.spec().profiles;
    let mut specs: Vec<mig::InstanceSpec> = Vec::new();
    for _ in 0..12 {
        let p = &profiles[(next() % profiles.len() as u64) as usize];
        let starts = p.starts();
        let start = starts[(next() % starts.len() as u64) as usize];
        specs.push(mig::InstanceSpec {
            profile: p.name.to_owned(),
            start,
        });
        if mig::Layout::new(model, &specs).is_err() {
            specs.pop();
        }
    }
    mig::Layout::new(model, &specs).expect("valid by construction")
}

fn main() {
    let file = MigPartedConfig::default_configs().expect("built-in configs parse");
    let desired = |name: &str| {
        file.resolve(name, GpuModel::H100_80GB, 0)
            .expect("resolves")
    };
    let opts = SimOptions {
        reset_immediately: true,
    };
    println!(
        "mutating calls per transition, migboard / destroy-all-then-recreate (rows: from, columns: to)\n"
    );
    print!("{:>13}", "");
    for to in GUIDE_CONFIGS {
        print!(" {:>13}", to);
    }
    println!();
    let (mut ours_total, mut naive_total) = (0u64, 0u64);
    for from in GUIDE_CONFIGS {
        print!("{from:>13}");
        for to in GUIDE_CONFIGS {
            let ours_sim = SimDriver::new(GpuModel::H100_80GB, 1, opts);
            apply_gpu(&ours_sim, 0, &desired(from).into(), false).expect("start state");
            let before = ours_sim.mutating_calls();
            apply_gpu(&ours_sim, 0, &desired(to).into(), false).expect("apply");
            let ours = ours_sim.mutating_calls() - before;
            let naive_sim = SimDriver::new(GpuModel::H100_80GB, 1, opts);
            recreate_everything(&naive_sim, &desired(from));
            let naive = recreate_everything(&naive_sim, &desired(to));
            let check = observe(&naive_sim, 0).expect("observe");
            assert_eq!(
                check.gpu.instances.len(),
                observe(&ours_sim, 0).expect("observe").gpu.instances.len()
            );
            ours_total += ours;
            naive_total += naive;
            print!(" {:>13}", format!("{ours} / {naive}"));
        }
        println!();
    }
    println!(
        "\nall 64 transitions: {ours_total} calls (migboard) vs {naive_total} (destroy all, recreate): {:.0}% fewer\n",
        100.0 * (1.0 - ours_total as f64 / naive_total as f64)
    );

    // Custom configs: 100 random transitions between explicit layouts (fixed seed), the diff-based
    // apply against destroy-all-then-recreate at the same exact placements.
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let (mut ours_total, mut naive_total, mut kept_total) = (0u64, 0u64, 0usize);
    for _ in 0..100 {
        let (from, to) = (random_layout(&mut next), random_layout(&mut next));
        let target = |l: &mig::Layout| agent::apply::Target::Layout(l.to_specs());
        let ours_sim = SimDriver::new(GpuModel::H100_80GB, 1, opts);
        apply_gpu(&ours_sim, 0, &target(&from), false).expect("start state");
        let before = ours_sim.mutating_calls();
        apply_gpu(&ours_sim, 0, &target(&to), false).expect("apply");
        ours_total += ours_sim.mutating_calls() - before;
        kept_total += from
            .instances()
            .iter()
            .filter(|p| to.instances().contains(p))
            .count();
        let naive_sim = SimDriver::new(GpuModel::H100_80GB, 1, opts);
        recreate_layout(&naive_sim, &from);
        naive_total += recreate_layout(&naive_sim, &to);
        assert_eq!(
            observe(&ours_sim, 0).expect("observe").gpu.instances,
            observe(&naive_sim, 0).expect("observe").gpu.instances,
            "both end with the exact placements"
        );
    }
    println!(
        "100 random custom-to-custom transitions (exact placements, seed 0x5eed): {ours_total} calls (migboard) vs {naive_total} (destroy all, recreate): {:.0}% fewer; {kept_total} instances kept running\n",
        100.0 * (1.0 - ours_total as f64 / naive_total as f64)
    );

    // Agent overhead: apply all-balanced <-> all-1g.10gb alternately on every GPU of an 8-GPU node.
    let sim = SimDriver::new(GpuModel::H100_80GB, 8, opts);
    let (a, b): (agent::apply::Target, agent::apply::Target) = (
        desired("all-balanced").into(),
        desired("all-1g.10gb").into(),
    );
    let rounds = 2_000;
    let start = Instant::now();
    for round in 0..rounds {
        let target = if round % 2 == 0 { &a } else { &b };
        for gpu in 0..8 {
            black_box(apply_gpu(&sim, gpu, target, false).expect("apply"));
        }
    }
    let per_node = start.elapsed() / rounds;
    println!(
        "agent overhead per 8-GPU node apply (all-balanced <-> all-1g.10gb, zero-latency simulator): {per_node:?}"
    );
    println!("per GPU: {:?}", per_node / 8);
}
