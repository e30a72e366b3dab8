//! `graph`: snapshots of DOT, SVG and JSON for a bundled FAQ topology with a failing flow
//! drawn, and properties of the picture on every topology (no host meshes, the failing
//! hop marked with the trace's cause, deterministic output).

mod common;

use common::{snapshots, stem, topologies, vpntrace};

const FAQ6: &[&str] = &[
    "graph",
    "topologies/faq6_usg_nat.json",
    "--from",
    "idc-db01",
    "--to",
    "i-bp1xwsb0wf15esgapk66",
    "--port",
    "22",
];

fn with_format(f: &str) -> Vec<&str> {
    let mut v = FAQ6.to_vec();
    v.extend(["--format", f]);
    v
}

#[test]
fn faq6_failing_path_snapshots() {
    for f in ["dot", "svg", "json"] {
        let r = vpntrace(&with_format(f));
        assert_eq!(r.code, 1, "a failing flow exits 1: {}", r.stderr);
        snapshots().bind(|| insta::assert_snapshot!(format!("graph__faq6_usg_nat__{f}"), r.stdout));
    }
}

#[test]
fn json_is_json_and_marks_the_failing_hop_with_the_trace_cause() {
    let r = vpntrace(&with_format("json"));
    let g: serde_json::Value = serde_json::from_str(&r.stdout).expect("--format json prints JSON");
    let t = vpntrace(&[
        "trace",
        "topologies/faq6_usg_nat.json",
        "--from",
        "idc-db01",
        "--to",
        "i-bp1xwsb0wf15esgapk66",
        "--port",
        "22",
        "--format",
        "json",
    ]);
    let t: serde_json::Value = serde_json::from_str(&t.stdout).unwrap();
    let fwd = &g["paths"][0];
    assert_eq!(fwd["name"], "forward");
    assert_eq!(fwd["cause"], t["forward"]["cause"]["code"]);
    let last_hop = t["forward"]["hops"].as_array().unwrap().last().unwrap()["device"].clone();
    assert_eq!(fwd["failing_node"], last_hop);
    let node = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == last_hop)
        .unwrap();
    assert_eq!(node["failing"][0], t["forward"]["cause"]["code"]);
}

#[test]
fn every_topology_graphs_without_meshes_and_deterministically() {
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        let r = vpntrace(&["graph", &rel, "--format", "json"]);
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        let g: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let kind = |id: &serde_json::Value| {
            g["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"] == *id)
                .unwrap_or_else(|| panic!("{rel}: edge end {id} is a node"))["kind"]
                .clone()
        };
        for e in g["edges"].as_array().unwrap() {
            // Devices meet at subnets: no device–device or host–host edge.
            let (a, b) = (kind(&e["from"]), kind(&e["to"]));
            for k in ["device", "host"] {
                assert!(!(a == k && (b == "device" || b == "host")), "{rel}: {e}");
            }
        }
        let svg = vpntrace(&["graph", &rel, "--format", "svg"]);
        assert!(svg.stdout.starts_with("<svg "), "{rel}");
        assert_eq!(
            svg.stdout,
            vpntrace(&["graph", &rel, "--format", "svg"]).stdout
        );
    }
}

#[test]
fn a_port_with_icmp_is_a_usage_error() {
    let mut a = FAQ6.to_vec();
    a.extend(["--protocol", "icmp"]);
    let r = vpntrace(&a);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--port applies to tcp and udp only"),
        "{}",
        r.stderr
    );
}
