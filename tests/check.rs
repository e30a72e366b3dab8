//! `check` on every topology of the corpus: snapshots, the exit code, fixes that hold
//! after `--write-fixed`, and agreement with `trace` for random addresses.

mod common;

use common::{snapshots, stem, topologies, vpntrace};
use proptest::prelude::*;

#[test]
fn every_topology_checks_and_snapshots() {
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        let text = vpntrace(&["check", &rel]);
        let json = vpntrace(&["check", &rel, "--format", "json"]);
        assert!(text.code == 0 || text.code == 1, "{rel}: {}", text.stderr);
        assert_eq!(text.code, json.code);
        let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        let errors = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .count();
        assert_eq!(text.code, if errors > 0 { 1 } else { 0 }, "{rel}");
        snapshots().bind(|| {
            insta::assert_snapshot!(format!("check__{}__text", stem(&path)), text.stdout);
            insta::assert_snapshot!(format!("check__{}__json", stem(&path)), json.stdout);
        });
    }
}

#[test]
fn healthy_sites_have_no_error() {
    for f in ["topologies/healthy.json", "topologies/faq6_usg_no_nat.json"] {
        assert_eq!(vpntrace(&["check", f]).code, 0, "{f}");
    }
}

fn findings(rel: &str) -> Vec<serde_json::Value> {
    let r = vpntrace(&["check", rel, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["findings"].as_array().unwrap().clone()
}

#[test]
fn faq3_partial_acl_names_exactly_the_dropped_half() {
    let f: Vec<_> = findings("topologies/faq3_partial_acl.json")
        .into_iter()
        .filter(|f| f["code"] == "IDC_FILTER_DROP")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["rule"], "OUTSIDE_IN line 1");
    assert_eq!(f[0]["source"], serde_json::json!(["10.60.1.128/25"]));
    assert_eq!(f[0]["verified"], true);
}

#[test]
fn faq6_partial_exemption_names_exactly_the_unexempted_subnet() {
    let f: Vec<_> = findings("topologies/faq6_partial_exemption.json")
        .into_iter()
        .filter(|f| f["faq"] == 6)
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["rule"], "policy 1");
    assert_eq!(f[0]["destination"], serde_json::json!(["192.168.2.0/24"]));
    assert_eq!(f[0]["source"], serde_json::json!(["192.168.0.0/24"]));
}

#[test]
fn written_fixes_leave_no_error_of_the_fixed_kinds() {
    let dir = std::env::temp_dir().join(format!("vpntrace-fixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        let before = findings(&rel);
        let fixed: Vec<&serde_json::Value> =
            before.iter().filter(|f| f["verified"] == true).collect();
        if fixed.is_empty() {
            continue;
        }
        let out = dir.join(format!("{}.json", stem(&path)));
        let r = vpntrace(&["check", &rel, "--write-fixed", out.to_str().unwrap()]);
        assert!(r.code <= 1, "{rel}: {}", r.stderr);
        let after = findings(out.to_str().unwrap());
        for f in &fixed {
            let same = after.iter().any(|a| {
                a["severity"] == "error"
                    && a["code"] == f["code"]
                    && a["device"] == f["device"]
                    && a["rule"] == f["rule"]
                    && a["direction"] == f["direction"]
            });
            assert!(
                !same,
                "{rel}: {} at {} survives its own fix",
                f["code"], f["device"]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn ip_in(net: &str, k: u32) -> String {
    let n: ipnet::Ipv4Net = net.parse().unwrap();
    let base = u32::from(n.network());
    let size = 1u64 << (32 - n.prefix_len());
    std::net::Ipv4Addr::from(base + (k as u64 % size) as u32).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    /// For random hosts of faq3_partial_acl, `trace` fails exactly when `check` names a
    /// finding whose source and destination lists hold the pair.
    #[test]
    fn check_agrees_with_trace(a in 1u32..255, b in 1u32..255, port in prop_oneof![Just(22u16), Just(1433u16), Just(8080u16)]) {
        let rel = "topologies/faq3_partial_acl.json";
        let src = ip_in("10.60.1.0/24", a);
        let dst = ip_in("10.70.10.0/24", b);
        prop_assume!(dst != "10.70.10.1" && dst != "10.70.10.254");
        let t = vpntrace(&["trace", rel, "--from", &src, "--to", &dst, "--port", &port.to_string(), "--format", "json"]);
        let tv: serde_json::Value = serde_json::from_str(&t.stdout).unwrap();
        let ok = tv["forward"]["disposition"] == "delivered" && tv["return"]["disposition"] == "delivered";
        let covered = |list: &serde_json::Value, ip: &str| list.as_array().unwrap().iter().any(|c| {
            let c = c.as_str().unwrap();
            let n: ipnet::Ipv4Net = if c.contains('/') { c.parse().unwrap() } else { format!("{c}/32").parse().unwrap() };
            n.contains(&ip.parse::<std::net::Ipv4Addr>().unwrap())
        });
        let hit = findings(rel).iter().any(|f| f["direction"] == "cloud_to_onprem" && f["severity"] == "error" && covered(&f["source"], &src) && covered(&f["destination"], &dst));
        prop_assert_eq!(!ok, hit, "{} → {} port {}", src, dst, port);
    }
}

/// A fix applied straight to the lowered model (one security group, route table or device
/// lowered again), with the index patched where the change touches it, gives the model
/// and index that lowering and indexing the whole fixed topology give, for every change
/// `check` proposes on the corpus and on a generated topology.
#[test]
fn fixes_patched_into_the_model_equal_the_relowered_topology() {
    let mut files: Vec<(String, String)> = topologies()
        .iter()
        .map(|p| (stem(p), std::fs::read_to_string(p).unwrap()))
        .collect();
    let g = vpntrace_gen::generate(&vpntrace_gen::GenParams::scaled(8).with_seed(5));
    files.push(("generated".into(), serde_json::to_string(&g).unwrap()));
    let mut patched = 0;
    for (name, text) in files {
        let topo = vpntrace::model::parse(&name, &text).unwrap();
        let m = vpntrace::model::lower(&name, &topo).unwrap();
        let report = vpntrace::analysis::check::check_all(&topo, &m);
        for f in &report.findings {
            let Some(change) = &f.change else { continue };
            let Some(res) = vpntrace::analysis::fix::apply_to_model(&topo, &m, change, 1) else {
                continue;
            };
            let vpntrace::analysis::fix::PatchedModel {
                model: m2,
                reindex: what,
                ..
            } = res.unwrap();
            let t2 = vpntrace::analysis::fix::apply(&topo, change, 1).unwrap();
            let m3 = vpntrace::model::lower(&name, &t2).unwrap();
            assert_eq!(
                format!("{m2:?}"),
                format!("{m3:?}"),
                "{name}: {change} patched differs from re-lowered"
            );
            // The index patched where the change says equals the index built afresh.
            let idx = vpntrace::graph::index::Index::build(&m);
            assert_eq!(
                format!("{:?}", idx.patched(&m2, what)),
                format!("{:?}", vpntrace::graph::index::Index::build(&m3)),
                "{name}: {change} ({what:?}) leaves the index stale"
            );
            patched += 1;
        }
    }
    assert!(patched >= 10, "only {patched} changes were patchable");
}

/// On a generated topology too, a fix's verdict by the fixed model's address classes
/// equals the verdict from exploring every box (the corpus is compared in the unit test).
#[test]
fn verifying_a_generated_topology_by_classes_agrees_with_every_box() {
    let g = vpntrace_gen::generate(&vpntrace_gen::GenParams::scaled(8).with_seed(5));
    let rows = vpntrace::analysis::check::verification_by_sets_and_by_boxes("generated", &g);
    assert!(rows.len() >= 5, "only {} verdicts compared", rows.len());
    for (what, by_classes, by_boxes) in rows {
        assert_eq!(by_classes, by_boxes, "{what}");
    }
}

/// SPEC "Fixes": for every bundled topology, `check --write-fixed OUT` then `check OUT`
/// leaves no error finding (a healthy site stays clean: nothing is written that breaks
/// it).
#[test]
fn every_bundled_round_trip_leaves_no_error() {
    let dir = std::env::temp_dir().join(format!("vpntrace-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut left = Vec::new();
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        let out = dir.join(format!("{}.json", stem(&path)));
        let r = vpntrace(&["check", &rel, "--write-fixed", out.to_str().unwrap()]);
        assert!(r.code <= 1, "{rel}: {}", r.stderr);
        for f in findings(out.to_str().unwrap()) {
            if f["severity"] == "error" {
                left.push(format!(
                    "{rel}: {} at {} after --write-fixed: {}",
                    f["code"], f["device"], f["message"]
                ));
            }
        }
    }
    assert!(left.is_empty(), "{}", left.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The errors of a topology, as JSON.
fn errors(rel: &str) -> Vec<serde_json::Value> {
    findings(rel)
        .into_iter()
        .filter(|f| f["severity"] == "error")
        .collect()
}

/// Issue 12: the core router's default route sends VPC-bound traffic to the edge
/// firewall. Every finding names the core router's route and is fixed, verified, by one
/// route there toward the IPsec gateway (not by a route on the edge firewall).
#[test]
fn core_router_route_is_the_finding_and_the_fix() {
    let errs = errors("topologies/faq4_core_default_to_edge_fw.json");
    assert!(!errs.is_empty());
    for f in &errs {
        assert_eq!(f["device"], "xa-idc-core01", "{f}");
        assert_eq!(f["rule"], "default", "{f}");
        assert_eq!(f["verified"], true, "{f}");
        assert_eq!(
            f["change"],
            serde_json::json!({"op": "add_device_route", "device": "xa-idc-core01",
                "destinations": ["172.25.0.0/16"],
                "via": {"interface": "Vlanif4000", "gateway": "10.95.254.2"}}),
            "{f}"
        );
        assert!(f["also"].as_array().is_none_or(|a| a.is_empty()), "{f}");
    }
    // Written out, every flow of the file is delivered both ways, and nothing on the
    // edge firewall changed.
    let out = std::env::temp_dir().join(format!("vpntrace-core-{}.json", std::process::id()));
    let r = vpntrace(&[
        "check",
        "topologies/faq4_core_default_to_edge_fw.json",
        "--write-fixed",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // (The file's flows still `expect` the failure, so trace's exit code says "not as
    // expected": the dispositions are what counts.)
    let t = vpntrace(&["trace", out.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&t.stdout).unwrap();
    for tr in v["traces"].as_array().unwrap() {
        assert_eq!(tr["forward"]["disposition"], "delivered", "{tr}");
        assert_eq!(tr["return"]["disposition"], "delivered", "{tr}");
    }
    let fixed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let orig: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            common::root().join("topologies/faq4_core_default_to_edge_fw.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let fw = |t: &serde_json::Value| {
        let d = &t["onprem"]["devices"][1];
        (d["id"].clone(), d["routes"].clone(), d["nat"].clone())
    };
    assert_eq!(fw(&fixed), fw(&orig));
    let _ = std::fs::remove_file(&out);
}

/// Issue 12: a drop at priority 1 beats an accept at the same priority in another group
/// of the instance. The message says the tie is the point; the fix deletes the drop
/// (another accept at priority 1 would lose the same way), verified.
#[test]
fn security_group_tie_is_fixed_by_deleting_the_drop() {
    let errs = errors("topologies/faq4_sg_drop_wins_tie.json");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let f = &errs[0];
    assert_eq!(f["code"], "SG_INGRESS_DROP");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("the accept rule sgr-bp1a2s3d4f5g6h7j8k9l0zxcv of sg-bp1d4f6h8j0k2l4z6x8c has the same priority and loses the tie")
            && msg.contains("at equal priority a drop wins"),
        "{msg}"
    );
    // The tcp/22 accept of the same priority does not match tcp/3306: not named.
    assert!(!msg.contains("sgr-bp1l0k9j8h7g6f5d4s3a2qwer"), "{msg}");
    assert_eq!(
        f["change"],
        serde_json::json!({"op": "delete_sg_rule", "security_group": "sg-bp1q3w5e7r9t1y3u5i7o",
            "rule": "sgr-bp1m1n2b3v4c5x6z7a8s9dfgh"})
    );
    assert_eq!(f["verified"], true);
}

/// Issue 12: a routing loop names its devices and the routes that form it, and its fix
/// changes the routing of one of those devices, verified; a looping reply names the
/// flow's service, not its source port.
#[test]
fn routing_loop_names_its_routes_and_fixes_one() {
    let errs = errors("topologies/faq3_routing_loop.json");
    assert_eq!(errs.len(), 2, "{errs:?}");
    for f in &errs {
        assert_eq!(f["code"], "ROUTING_LOOP");
        assert_eq!(f["device"], "wx-idc-core01");
        assert_eq!(f["rule"], "default");
        let msg = f["message"].as_str().unwrap();
        for part in [
            "wx-idc-core01 route default (0.0.0.0/0 via 10.97.254.2)",
            "wx-idc-vpn01 route idc-lan (10.97.0.0/16 via 10.97.254.1)",
        ] {
            assert!(msg.contains(part), "{msg}");
        }
        assert_eq!(f["change"]["op"], "add_device_route");
        assert!(
            ["wx-idc-core01", "wx-idc-vpn01"].contains(&f["change"]["device"].as_str().unwrap())
        );
        assert_eq!(f["verified"], true);
    }
    let t = vpntrace(&[
        "trace",
        "topologies/faq3_routing_loop.json",
        "--from",
        "idc-nas01",
        "--to",
        "i-bp1w9e7r5t3y1u9i7o5p",
        "--port",
        "3306",
    ]);
    assert!(
        t.stdout
            .contains("the reply of tcp/3306 traffic from 172.27.10.30 to 10.97.30.40 loops"),
        "{}",
        t.stdout
    );
    assert!(!t.stdout.contains("tcp/40000 traffic"), "{}", t.stdout);
}

/// Issue 12: the phase-1/2 settings fixes are typed changes `--write-fixed` applies:
/// afterwards both ends agree and none of the settings findings (nor the connection not
/// being established) comes back.
#[test]
fn settings_fixes_are_written_and_hold() {
    let rel = "topologies/faq1_faq2_mismatch.json";
    let before = errors(rel);
    assert!(before.len() >= 9, "{before:?}");
    for f in &before {
        assert_eq!(f["verified"], true, "{f}");
        assert!(f["change"]["op"].is_string(), "{f}");
    }
    let out = std::env::temp_dir().join(format!("vpntrace-settings-{}.json", std::process::id()));
    let r = vpntrace(&["check", rel, "--write-fixed", out.to_str().unwrap()]);
    assert!(r.code <= 1, "{}", r.stderr);
    // The key is copied, never printed.
    assert!(!r.stdout.contains("Demo-"), "{}", r.stdout);
    let after = findings(out.to_str().unwrap());
    for f in &before {
        assert!(
            !after.iter().any(|a| a["code"] == f["code"]),
            "{} survives --write-fixed",
            f["code"]
        );
    }
    let _ = std::fs::remove_file(&out);
}

/// Issue 12: a stateless ACL's reply rule names exactly the servers that answer (a rule
/// for their whole /16 would admit new flows from port 3306 whose replies the ACL drops).
#[test]
fn stateless_reply_fix_names_the_answering_servers() {
    let f: Vec<_> = errors("topologies/faq3_reply_lost_stateless.json");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["code"], "REPLY_DROPPED_STATELESS_ACL");
    assert_eq!(
        f[0]["change"]["sources"],
        serde_json::json!(["10.12.20.0/24"])
    );
    assert_eq!(f[0]["change"]["source_ports"], "3306");
    assert_eq!(f[0]["verified"], true);
}

/// Issue 12: when the winning drop rule also covers space outside the connection (here
/// 10.0.0.0/8 for an IDC of 10.96.0.0/16), the fix narrows it to that space instead of
/// deleting it, verified; written out, nothing of the tie is left.
#[test]
fn security_group_tie_with_a_wide_drop_is_fixed_by_narrowing_it() {
    let mut t: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("topologies/faq4_sg_drop_wins_tie.json"))
            .unwrap(),
    )
    .unwrap();
    for g in t["cloud"]["security_groups"].as_array_mut().unwrap() {
        for r in g["rules"].as_array_mut().unwrap() {
            if r["policy"] == "drop" {
                r["peer"] = "10.0.0.0/8".into();
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("vpntrace-narrow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("wide.json");
    std::fs::write(&input, serde_json::to_string_pretty(&t).unwrap()).unwrap();
    let errs = errors(input.to_str().unwrap());
    assert_eq!(errs.len(), 1, "{errs:?}");
    let f = &errs[0];
    assert_eq!(f["change"]["op"], "narrow_sg_rule", "{f}");
    assert_eq!(f["verified"], true, "{f}");
    let peers: Vec<ipnet::Ipv4Net> = f["change"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().parse().unwrap())
        .collect();
    let idc: ipnet::Ipv4Net = "10.96.0.0/16".parse().unwrap();
    assert!(!peers.is_empty());
    assert!(peers
        .iter()
        .all(|p| !p.contains(&idc.network()) && !idc.contains(&p.network())));
    let out = dir.join("fixed.json");
    let r = vpntrace(&[
        "check",
        input.to_str().unwrap(),
        "--write-fixed",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(errors(out.to_str().unwrap()).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check --format json` writes each finding on its own (in parallel) and splices them
/// in: the same bytes as serialising the whole report through `serde_json::Value`, with
/// findings and without.
#[test]
fn json_report_is_the_whole_report_serialised() {
    for rel in [
        "topologies/healthy.json",
        "topologies/faq3_partial_acl.json",
    ] {
        let text = std::fs::read_to_string(rel).unwrap();
        let topo = vpntrace::model::parse(rel, &text).unwrap();
        let m = vpntrace::model::lower(rel, &topo).unwrap();
        let r = vpntrace::analysis::check::check_all(&topo, &m);
        let whole = vpntrace::render::json(&serde_json::json!({
            "findings": r.findings,
            "summary": r.summary,
            "classes_traced": r.classes_traced,
            "notes": r.notes,
        }));
        assert_eq!(vpntrace::render::check_json(&r), whole, "{rel}");
        assert_eq!(
            r.findings.is_empty(),
            rel.ends_with("healthy.json"),
            "{rel}"
        );
    }
}

/// Filter rules inserted or deleted straight in the lowered device (`fix::apply_to_model`
/// takes a shortcut for them) give the model that lowering the changed topology gives:
/// every rule of every chain deleted, and a rule inserted before each, on the corpus and
/// on a generated estate (whose firewalls have a hundred rules).
#[test]
fn filter_rules_patched_into_the_model_equal_the_relowered_topology() {
    use vpntrace::findings::change::Change;
    let mut files: Vec<(String, String)> = topologies()
        .iter()
        .map(|p| (stem(p), std::fs::read_to_string(p).unwrap()))
        .collect();
    let g = vpntrace_gen::generate(&vpntrace_gen::GenParams::estate(2).with_seed(3));
    files.push(("estate-2".into(), serde_json::to_string(&g).unwrap()));
    let mut compared = 0;
    for (name, text) in files {
        let topo = vpntrace::model::parse(&name, &text).unwrap();
        let m = vpntrace::model::lower(&name, &topo).unwrap();
        let mut changes = Vec::new();
        for d in m.devices.iter() {
            let Some(f) = &d.filter else { continue };
            for (chain, c) in [
                (vpntrace::model::ChainKind::Input, &f.input),
                (vpntrace::model::ChainKind::Forward, &f.forward),
                (vpntrace::model::ChainKind::Output, &f.output),
            ] {
                let Some(c) = c else { continue };
                // At most 12 rules per chain: the estate's firewalls have many.
                for r in c.rules.iter().take(12) {
                    changes.push(Change::DeleteFilterRule {
                        device: d.id.clone(),
                        chain,
                        rule: r.id.clone(),
                    });
                    changes.push(Change::InsertFilterRule {
                        device: d.id.clone(),
                        chain,
                        before: Some(r.id.clone()),
                        sources: vec!["10.9.0.0/24".parse().unwrap()],
                        destinations: vec![
                            "172.31.1.0/24".parse().unwrap(),
                            "172.31.2.7/32".parse().unwrap(),
                        ],
                        protocol: vpntrace::net::addr::Protocol::Tcp,
                        destination_ports: "443".parse().unwrap(),
                        source_ports: vpntrace::net::addr::Ports::ANY,
                    });
                }
            }
        }
        for change in &changes {
            let patched = vpntrace::analysis::fix::apply_to_model(&topo, &m, change, 1)
                .expect("a filter change patches one device")
                .unwrap();
            let t2 = vpntrace::analysis::fix::apply(&topo, change, 1).unwrap();
            let m3 = vpntrace::model::lower(&name, &t2).unwrap();
            assert_eq!(
                format!("{:?}", patched.model),
                format!("{m3:?}"),
                "{name}: {change} patched differs from re-lowered"
            );
            compared += 1;
        }
        // Two changes in a row, as a searched chain applies them (the second on the model
        // the first gave, the written objects kept in an `Edited`).
        for pair in changes.windows(3).step_by(3) {
            let (c1, c2) = (&pair[0], &pair[2]);
            let mut edited = vpntrace::analysis::fix::Edited::default();
            let p1 = vpntrace::analysis::fix::apply_to_model_edited(&topo, &mut edited, &m, c1, 1)
                .unwrap()
                .unwrap();
            let Some(p2) = vpntrace::analysis::fix::apply_to_model_edited(
                &topo,
                &mut edited,
                &p1.model,
                c2,
                2,
            ) else {
                continue;
            };
            let Ok(p2) = p2 else { continue };
            let t1 = vpntrace::analysis::fix::apply(&topo, c1, 1).unwrap();
            let t2 = vpntrace::analysis::fix::apply(&t1, c2, 2).unwrap();
            let m3 = vpntrace::model::lower(&name, &t2).unwrap();
            assert_eq!(
                format!("{:?}", p2.model),
                format!("{m3:?}"),
                "{name}: {c1} then {c2} patched differs from re-lowered"
            );
            compared += 1;
        }
    }
    assert!(compared >= 100, "only {compared} changes compared");
}
