//! The fleet planner at 64, 512 and 4,096 GPUs: `cargo bench -p mig --bench capacity` (see BENCHMARKS.md).
//!
//! Before criterion's timings it prints, over 50 random inference mixes per size (`mig::capacity::
//! inference_mix`, seeds 0..50), how many answers were proven optimal, the largest gap to the lower bound,
//! and the median and worst solve time; then, for a 64-GPU current fleet and a ±20 % change of its demand,
//! the GPUs reconfigured against re-planning from scratch; and, over node shapes with costs, the same
//! mixes on `BM.GPU.H100.8` (10), `BM.GPU.A100-v2.8` (7) and a two-GPU H100 box (3): proven optimal, gap,
//! solve time and the saving over the cheapest single shape.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mig::GpuModel;
use mig::capacity::shapes::{ShapeInput, plan_shapes};
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

fn shapes() -> Vec<ShapeInput> {
    let oci = |name: &str, cost: f64| ShapeInput {
        name: name.into(),
        cost,
        ..ShapeInput::default()
    };
    vec![
        oci("BM.GPU.H100.8", 10.0),
        oci("BM.GPU.A100-v2.8", 7.0),
        ShapeInput {
            name: "h100-2x".into(),
            model: Some("h100-80gb".into()),
            gpus_per_node: Some(2),
            cost: 3.0,
        },
    ]
}

fn shapes_summary() {
    for about in [64u32, 512, 4096] {
        let mut times = Vec::new();
        let (mut optimal, mut worst_gap, mut saved, mut mixed) = (0, 0.0f64, 0.0f64, 0);
        for seed in 0..50 {
            let mut req = inference_mix(GpuModel::H100_80GB, seed, about);
            req.model = String::new();
            req.shapes = shapes();
            let r = req.resolve_shapes().expect("valid mix");
            let t = Instant::now();
            let deadline = t + Duration::from_secs(1);
            let p = plan_shapes(&r, &mut || Instant::now() > deadline);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if p.optimal {
                optimal += 1;
            }
            if p.shapes.iter().filter(|s| s.nodes > 0).count() > 1 {
                mixed += 1;
            }
            worst_gap = worst_gap.max((p.cost - p.lower_bound) / p.cost.max(1e-9));
            let single = p
                .single_shape
                .iter()
                .filter_map(|s| s.cost)
                .fold(f64::INFINITY, f64::min);
            saved += (single - p.cost) / single;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "capacity shapes summary: ~{about} GPUs, 3 shapes, 50 mixes: {optimal}/50 proven optimal, worst gap {:.2} %, {mixed}/50 mix shapes, mean saving over the cheapest single shape {:.2} %, solve median {:.2} ms, worst {:.2} ms",
            worst_gap * 100.0,
            saved / 50.0 * 100.0,
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}

fn bench(c: &mut Criterion) {
    shapes_summary();
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
