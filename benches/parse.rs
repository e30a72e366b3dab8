//! Parse + validate: `model::parse` + `model::lower` on the JSON text of generated
//! topologies (`vpntrace_gen`, seed 1) of 20, 40, 80 and 160 connections, as
//! `vpntrace validate` does after reading the file. `parse` and `lower` are also timed
//! apart, to show which half grows. `parse_validate_estate`: the same on the estate of
//! issue 13 (`GenParams::estate`), whose file is about 1.2× as large per connection.
//!
//! `cargo bench --bench parse`

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use vpntrace::model;
use vpntrace_gen::{generate, GenParams};

fn main() {
    divan::main();
}

const SIZES: [usize; 4] = [20, 40, 80, 160];

fn text(n: usize) -> String {
    serde_json::to_string(&generate(&GenParams::scaled(n))).expect("a topology serialises")
}

fn estate_text(n: usize) -> String {
    serde_json::to_string(&generate(&GenParams::estate(n))).expect("a topology serialises")
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn parse_validate_estate(b: Bencher, n: usize) {
    let t = estate_text(n);
    b.counter(BytesCount::new(t.len())).bench(|| {
        let topo = model::parse("estate.json", black_box(&t)).expect("parses");
        model::lower("estate.json", &topo).expect("lowers")
    });
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn parse_validate(b: Bencher, n: usize) {
    let t = text(n);
    b.counter(BytesCount::new(t.len())).bench(|| {
        let topo = model::parse("gen.json", black_box(&t)).expect("parses");
        model::lower("gen.json", &topo).expect("lowers")
    });
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn parse_only(b: Bencher, n: usize) {
    let t = text(n);
    b.counter(BytesCount::new(t.len()))
        .bench(|| model::parse("gen.json", black_box(&t)).expect("parses"));
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn lower_only(b: Bencher, n: usize) {
    let topo = model::parse("gen.json", &text(n)).expect("parses");
    b.bench(|| model::lower("gen.json", black_box(&topo)).expect("lowers"));
}
