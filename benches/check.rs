//! `check` (every finding, with fix verification) as `vpntrace check` runs it on a
//! loaded topology: on `topologies/healthy.json`, and on generated topologies whose
//! sizes come from `VPNTRACE_BENCH_CHECK_SIZES` (comma-separated connection counts,
//! default `20,40,80,160`, the targets). Compare with the `parse` bench at the
//! same size for the check/validate ratio.
//!
//! `check_estate` runs it on the estate of issue 13 (`GenParams::estate`: ordinary rule
//! mixes, where many drops do touch VPC <-> IDC traffic), sizes from
//! `VPNTRACE_BENCH_ESTATE_SIZES` (default `20,40,80,160`, the sizes).
//!
//! `cargo bench --bench check`
//! `VPNTRACE_BENCH_CHECK_SIZES=1,2 cargo bench --bench check`
//! `VPNTRACE_BENCH_ESTATE_SIZES=10,20,40,80,160 cargo bench --bench check -- check_estate`

use std::path::Path;

use divan::{black_box, Bencher};
use vpntrace::analysis::check;
use vpntrace::{input, model};
use vpntrace_gen::{generate, GenParams};

fn main() {
    divan::main();
}

/// Connection counts from the environment variable `var`, else `default`.
fn sizes_from(var: &str, default: &str) -> Vec<usize> {
    let spec = std::env::var(var).unwrap_or_else(|_| default.into());
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var}: comma-separated connection counts"))
        })
        .collect()
}

fn sizes() -> Vec<usize> {
    sizes_from("VPNTRACE_BENCH_CHECK_SIZES", "20,40,80,160")
}

fn estate_sizes() -> Vec<usize> {
    sizes_from("VPNTRACE_BENCH_ESTATE_SIZES", "20,40,80,160")
}

fn load_text(name: &str, text: &str) -> (input::Topology, model::Model) {
    let topo = model::parse(name, text).expect("parses");
    let m = model::lower(name, &topo).expect("lowers");
    (topo, m)
}

#[divan::bench]
fn check_healthy(b: Bencher) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/healthy.json");
    let text = std::fs::read_to_string(p).expect("healthy.json");
    let (topo, m) = load_text("healthy.json", &text);
    b.bench(|| check::check_all(black_box(&topo), black_box(&m)));
}

#[divan::bench(args = sizes(), sample_count = 3, sample_size = 1)]
fn check_generated(b: Bencher, n: usize) {
    let text = serde_json::to_string(&generate(&GenParams::scaled(n))).expect("serialises");
    let (topo, m) = load_text("gen.json", &text);
    b.bench(|| check::check_all(black_box(&topo), black_box(&m)));
}

#[divan::bench(args = estate_sizes(), sample_count = 3, sample_size = 1)]
fn check_estate(b: Bencher, n: usize) {
    let text = serde_json::to_string(&generate(&GenParams::estate(n))).expect("serialises");
    let (topo, m) = load_text("estate.json", &text);
    b.bench(|| check::check_all(black_box(&topo), black_box(&m)));
}
