//! Blueprint validation throughput: `cargo bench -p mig --bench blueprint` (see BENCHMARKS.md).
//! One core: criterion runs the closure on one thread, so validations/s here are per core.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mig::blueprint::templates::template;
use mig::blueprint::{Context, check};

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

fn bench(c: &mut Criterion) {
    let cat = fixtures::catalogue();
    let fleet = fixtures::fleet(&cat);
    let sample = template("mig_inference_multiple_replicas")
        .expect("template")
        .json;
    let broken = sample
        .replace("\"mig_resource_request\"", "\"mig_resource_reqest\"")
        .replace(
            "\"recipe_replica_count\": 5",
            "\"recipe_replica_count\": \"5\"",
        );
    let mut g = c.benchmark_group("blueprint");
    g.throughput(Throughput::Elements(1));
    g.bench_function("check MIG inference sample: text, pure rules only", |b| {
        b.iter(|| check(black_box(sample), Context::default()))
    });
    g.bench_function(
        "check MIG inference sample: text, catalogue + fleet (server)",
        |b| {
            let ctx = Context {
                catalogue: Some(&cat),
                fleet: Some(&fleet),
                platform: None,
            };
            b.iter(|| check(black_box(sample), ctx))
        },
    );
    g.bench_function("check a broken sample: 2 issues located in the text", |b| {
        let ctx = Context {
            catalogue: Some(&cat),
            fleet: Some(&fleet),
            platform: None,
        };
        b.iter(|| check(black_box(&broken), ctx))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
