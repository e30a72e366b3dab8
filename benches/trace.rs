//! One `trace` after loading: each flow of `topologies/healthy.json` (target: at most
//! 50 µs each), and the three healthy flows of the generated 160-connection topology.
//!
//! `cargo bench --bench trace`

use std::path::Path;

use divan::{black_box, Bencher};
use vpntrace::engine::trace::{self, FlowQuery};
use vpntrace::model::{self, Model};
use vpntrace::net::addr::Protocol;
use vpntrace_gen::{generate, GenParams};

fn main() {
    divan::main();
}

/// The queries `vpntrace trace FILE` runs for the flows the topology lists.
fn queries(m: &Model) -> Vec<FlowQuery> {
    m.flows
        .iter()
        .map(|f| {
            let protocol = f.protocol.unwrap_or(if f.port.is_some() {
                Protocol::Tcp
            } else {
                Protocol::Icmp
            });
            FlowQuery {
                from: trace::resolve_endpoint(m, &f.from).expect("flow source resolves"),
                to: trace::resolve_endpoint(m, &f.to).expect("flow destination resolves"),
                protocol,
                dst_port: f.port.unwrap_or(0),
                src_port: 40000,
            }
        })
        .collect()
}

fn healthy() -> Model {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/healthy.json");
    model::load(&p).expect("healthy.json loads")
}

/// healthy.json lists 4 flows: VPC→IDC tcp/3306, IDC→VPC tcp/22, IDC→VPC icmp,
/// VPC→IDC tcp/443; each is traced forward and back.
///
/// `trace::trace` builds the lookup index of the model first (part of loading for a
/// one-shot `vpntrace trace`); `trace_with` reuses one.
#[divan::bench(args = [0, 1, 2, 3])]
fn trace_healthy_indexed(b: Bencher, flow: usize) {
    let m = healthy();
    let idx = vpntrace::graph::index::Index::build(&m);
    let q = queries(&m).swap_remove(flow);
    b.bench(|| trace::trace_with(black_box(&m), black_box(&idx), black_box(&q)));
}

#[divan::bench(args = [0, 1, 2, 3])]
fn trace_healthy(b: Bencher, flow: usize) {
    let m = healthy();
    let q = queries(&m).swap_remove(flow);
    b.bench(|| trace::trace(black_box(&m), black_box(&q)));
}

/// The generated topology's first three flows (site 0, all delivered both ways).
#[divan::bench(args = [0, 1, 2], sample_count = 20)]
fn trace_generated_160(b: Bencher, flow: usize) {
    let text = serde_json::to_string(&generate(&GenParams::scaled(160))).expect("serialises");
    let topo = model::parse("gen.json", &text).expect("parses");
    let m = model::lower("gen.json", &topo).expect("lowers");
    let idx = vpntrace::graph::index::Index::build(&m);
    let q = queries(&m).swap_remove(flow);
    b.bench(|| trace::trace_with(black_box(&m), black_box(&idx), black_box(&q)));
}
