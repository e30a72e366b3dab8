//! Every topology of the corpus: trace each flow it lists, check the author's expectation,
//! and snapshot the text and JSON output as a user sees it.

mod common;

use common::{snapshots, stem, topologies, vpntrace};

#[test]
fn every_topology_traces_its_flows_as_expected_and_snapshots() {
    let mut checked = 0;
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        let topo: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let flows = topo["flows"].as_array().cloned().unwrap_or_default();
        assert!(!flows.is_empty(), "{rel} lists no flows");

        let json = vpntrace(&["trace", &rel, "--format", "json"]);
        assert!(
            json.code == 0 || json.code == 1,
            "{rel}: exit {} {}",
            json.code,
            json.stderr
        );
        let out: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        let traces = out["traces"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![out.clone()]);
        assert_eq!(traces.len(), flows.len(), "{rel}");
        for (f, t) in flows.iter().zip(&traces) {
            let Some(expect) = f["expect"].as_str() else {
                continue;
            };
            let fwd = t["forward"]["disposition"].as_str().unwrap();
            let ret = t["return"]["disposition"].as_str();
            let got = match (fwd, ret) {
                ("delivered", Some("delivered")) => "delivered",
                ("delivered", Some(r)) => r,
                (f, _) => f,
            };
            assert_eq!(got, expect, "{rel}: flow {} → {}", f["from"], f["to"]);
            checked += 1;
        }
        // Exit 0 when every flow behaves as the file expects (a flow without `expect`
        // is expected to be delivered both ways).
        let unexpected = flows.iter().zip(&traces).any(|(f, t)| {
            let delivered = t["forward"]["disposition"] == "delivered"
                && t["return"]["disposition"] == "delivered";
            f["expect"].as_str().is_none() && !delivered
        });
        assert_eq!(
            json.code,
            if unexpected { 1 } else { 0 },
            "{rel}: exit code"
        );

        let text = vpntrace(&["trace", &rel]);
        assert_eq!(text.code, json.code);
        snapshots().bind(|| {
            insta::assert_snapshot!(format!("trace__{}__text", stem(&path)), text.stdout);
            insta::assert_snapshot!(format!("trace__{}__json", stem(&path)), json.stdout);
        });
    }
    assert!(checked >= 20, "only {checked} flows carried an expectation");
}

#[test]
fn faq6_nat_breaks_idc_to_vpc_but_not_the_reply_of_vpc_to_idc() {
    let nat = vpntrace(&[
        "trace",
        "topologies/faq6_usg_nat.json",
        "--from",
        "idc-db01",
        "--to",
        "i-bp1xwsb0wf15esgapk66",
        "--format",
        "json",
    ]);
    let t: serde_json::Value = serde_json::from_str(&nat.stdout).unwrap();
    assert_eq!(t["forward"]["disposition"], "exits_network");
    assert_eq!(t["forward"]["cause"]["faq"], 6);
    assert_eq!(t["forward"]["cause"]["code"], "IDC_NAT_BREAKS_IPSEC");
    assert_eq!(t["forward"]["cause"]["rule"], "policy 1");

    let back = vpntrace(&[
        "trace",
        "topologies/faq6_usg_nat.json",
        "--from",
        "i-bp1xwsb0wf15esgapk66",
        "--to",
        "idc-db01",
        "--port",
        "3306",
        "--format",
        "json",
    ]);
    assert_eq!(back.code, 0, "{}", back.stdout);
    let t: serde_json::Value = serde_json::from_str(&back.stdout).unwrap();
    // The reply is reverse-translated by its session: no NAT step names a rule on the way back.
    let steps: Vec<&serde_json::Value> = t["return"]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["steps"].as_array().unwrap())
        .collect();
    assert!(
        steps
            .iter()
            .all(|s| !(s["type"] == "nat" && s["rule"] == "policy 1")),
        "reply newly translated"
    );

    let fixed = vpntrace(&[
        "trace",
        "topologies/faq6_usg_no_nat.json",
        "--from",
        "idc-db01",
        "--to",
        "i-bp1xwsb0wf15esgapk66",
    ]);
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
}

#[test]
fn faq5_the_vpc_cidr_without_a_cloud_sa_fails_the_other_works() {
    let r = vpntrace(&["trace", "topologies/faq5_multi_sa.json", "--format", "json"]);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for t in out["traces"].as_array().unwrap() {
        let src = t["flow"]["packet"]["src"].as_str().unwrap();
        let dst = t["flow"]["packet"]["dst"].as_str().unwrap();
        let ten = src.starts_with("10.") || dst.starts_with("10.");
        if ten {
            assert_eq!(t["forward"]["cause"]["faq"], 5, "{src} → {dst}");
        } else {
            assert_eq!(t["forward"]["disposition"], "delivered", "{src} → {dst}");
            assert_eq!(t["return"]["disposition"], "delivered", "{src} → {dst}");
        }
    }
}

#[test]
fn output_is_byte_identical_across_runs() {
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        for fmt in ["text", "json"] {
            let a = vpntrace(&["trace", &rel, "--format", fmt]);
            let b = vpntrace(&["trace", &rel, "--format", fmt]);
            assert_eq!(a.stdout, b.stdout, "{rel} {fmt}");
        }
    }
}
