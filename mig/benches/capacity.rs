//! The fleet planner at 64, 512 and 4,096 GPUs: `cargo bench -p mig --bench capacity` (see BENCHMARKS.md).
//!
//! Before criterion's timings it prints, over 50 random inference mixes per size (`mig::capacity::
//! inference_mix`, seeds 0..50), how many answers were proven optimal, the largest gap to the lower bound,
//! and the median and worst solve time; then, for a 64-GPU current fleet and a ±20 % change of its demand,
//! the GPUs reconfigured against re-planning from scratch.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mig::GpuModel;
use mig::capacity::{FleetGpu, FleetInput, PlanRequest, inference_mix, plan};

fn solve(req: &PlanRequest) -> (mig::capacity::FleetPlan, f64) {
    let resolved = req.resolve().expect("valid mix");
    let t = Instant::now();
    let deadline = t + Duration::from_secs(1);
    let p = plan(&resolved, &mut || Instant::now() > deadline);
    (p, t.elapsed().as_secs_f64() * 1000.0)
}

fn summary() {
    let model = GpuModel::H100_80GB;
    for about in [64u32, 512, 4096] {
        let mut times = Vec::new();
        let (mut optimal, mut worst_gap) = (0, 0.0f64);
        for seed in 0..50 {
            let (p, ms) = solve(&inference_mix(model, seed, about));
            times.push(ms);
            if p.optimal {
                optimal += 1;
            }
            worst_gap =
                worst_gap.max(f64::from(p.gpus - p.lower_bound) / f64::from(p.lower_bound.max(1)));
        }
        times.sort_by(f64::total_cmp);
        println!(
            "capacity summary: ~{about} GPUs, 50 mixes: {optimal}/50 proven optimal, worst gap {:.2} %, solve median {:.2} ms, worst {:.2} ms",
            worst_gap * 100.0,
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    // A 64-GPU fleet cut as the optimum for one mix, then the demand moves by up to ±20 % per profile.
    let (mut kept_total, mut reconf, mut scratch, mut moved) = (0, 0, 0, 0);
    for seed in 0..20u64 {
        let base = inference_mix(model, seed, 64);
        let (now, _) = solve(&base);
        let mut fleet = Vec::new();
        for g in &now.layouts {
            for _ in 0..g.count {
                let n = fleet.len() as u32;
                fleet.push(FleetGpu {
                    node: format!("node-{}", n / 8),
                    gpu: n % 8,
                    busy: g.instances.clone(),
                    instances: g.instances.clone(),
                });
            }
        }
        let mut changed = base.clone();
        for (i, v) in changed.demand.values_mut().enumerate() {
            let pct = ((seed as i64 * 7 + i as i64 * 11) % 41) - 20; // -20..=20
            *v = (*v * (100 + pct) / 100).max(1);
        }
        changed.fleet = Some(FleetInput::Gpus(fleet));
        let (p, _) = solve(&changed);
        let o = p.fleet.expect("fleet outcome");
        kept_total += o.kept_gpus;
        reconf += o.reconfigured_gpus;
        scratch += o.from_scratch_reconfigured_gpus;
        moved += o.moved_replicas;
    }
    println!(
        "capacity summary: 64-GPU fleet, ±20 % demand, 20 cases: {reconf} GPUs reconfigured in all ({kept_total} kept) vs {scratch} re-planning from scratch; {moved} replicas moved"
    );
}

fn bench(c: &mut Criterion) {
    summary();
    let model = GpuModel::H100_80GB;
    for about in [64u32, 512, 4096] {
        let req = inference_mix(model, 7, about);
        let resolved = req.resolve().expect("valid");
        c.bench_function(
            &format!("fleet plan, inference mix of ~{about} H100 GPUs"),
            |b| b.iter(|| plan(black_box(&resolved), &mut || false)),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
