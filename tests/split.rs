//! FAQ 5: the SA layout findings and the split planner on the example topologies. Each
//! plan is applied, re-analysed and snapshotted (text and JSON) as a user reads it.

use std::path::{Path, PathBuf};

use vpntrace::analysis::salayout;
use vpntrace::analysis::split::{self, PairStatus, SplitPlan};
use vpntrace::engine::trace::{self, FlowQuery};
use vpntrace::findings::code::Code;
use vpntrace::input::Topology;
use vpntrace::model::{self, Model};
use vpntrace::net::addr::Protocol;
use vpntrace::render;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> (Topology, Model, String) {
    let path = root().join("topologies").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let file = format!("topologies/{name}.json");
    let topo = model::parse(&file, &text).unwrap();
    let m = model::lower(&file, &topo).unwrap();
    (topo, m, text)
}

fn snap(name: &str, body: &str) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!(name.to_string(), body));
}

/// Every pre-shared key of the topology.
fn psks(topo: &Topology) -> Vec<String> {
    let mut v: Vec<String> = topo
        .cloud
        .ipsec_connections
        .iter()
        .filter_map(|c| c.ike.psk.clone())
        .collect();
    for d in &topo.onprem.devices {
        v.extend(d.ipsec.iter().filter_map(|e| e.ike.psk.clone()));
    }
    assert!(!v.is_empty());
    v
}

/// Trace every flow the topology lists plus ICMP between every instance and every
/// on-prem host, both ways; return the codes of the failures.
fn failure_codes(m: &Model) -> Vec<Code> {
    let mut codes = Vec::new();
    let hosts: Vec<String> = m
        .devices
        .iter()
        .filter(|d| d.kind == vpntrace::input::DeviceKind::Host)
        .map(|d| d.id.clone())
        .collect();
    for i in m.instances.iter() {
        for h in &hosts {
            for (a, b) in [(&i.id, h), (h, &i.id)] {
                let q = FlowQuery {
                    from: trace::resolve_endpoint(m, a).unwrap(),
                    to: trace::resolve_endpoint(m, b).unwrap(),
                    protocol: Protocol::Icmp,
                    dst_port: 0,
                    src_port: 40000,
                };
                let t = trace::trace(m, &q);
                for p in std::iter::once(&t.forward).chain(t.ret.as_ref()) {
                    if let Some(c) = &p.cause {
                        codes.push(c.code(m));
                    }
                }
            }
        }
    }
    codes
}

struct Case {
    topo: Topology,
    plan: SplitPlan,
    text: String,
    json: String,
    after: Model,
}

fn case(name: &str, conn: &str) -> Case {
    let (topo, m, raw) = load(name);
    let plan = split::plan(&topo, &m, conn).unwrap();
    let patched = split::apply(&topo, &plan);
    let after = model::lower("patched.json", &patched).unwrap();
    let text = vpntrace::render::split::split_text(&plan);
    let json = render::json(&plan);
    // The PSK appears nowhere in what the plan shows.
    for k in psks(&topo) {
        assert!(raw.contains(&k));
        assert!(!text.contains(&k), "{name}: PSK in the text plan");
        assert!(!json.contains(&k), "{name}: PSK in the JSON plan");
    }
    assert!(text.contains(split::PSK_UNCHANGED));
    // Deterministic.
    let again = split::plan(&topo, &m, conn).unwrap();
    assert_eq!(render::json(&again), json);
    assert_eq!(vpntrace::render::split::split_text(&again), text);
    // After the split no SA layout problem is left and no trace is an SA problem.
    assert!(
        salayout::check(&after).iter().all(|f| !f.is_error()),
        "{name}: {:#?}",
        salayout::check(&after)
    );
    assert!(
        !failure_codes(&after).contains(&Code::SaNotCovering),
        "{name}: Code::SaNotCovering after the split"
    );
    // `check` on the written topology: no faq 5 error, no phase-1/2 mismatch between the
    // new connections' ends.
    let report = vpntrace::analysis::check::check_all(&patched, &after);
    assert!(
        report
            .findings
            .iter()
            .all(|f| !(f.is_error() && matches!(f.faq, 1 | 2 | 5))),
        "{name}: {:#?}",
        report.findings
    );
    for p in &plan.verification.pairs {
        for f in &p.flows {
            assert!(
                f.after
                    .cause
                    .as_ref()
                    .is_none_or(|c| c.code != Code::SaNotCovering),
                "{name}: {f:?}"
            );
        }
    }
    snap(&format!("split__{name}__text"), &text);
    snap(&format!("split__{name}__json"), &json);
    Case {
        topo,
        plan,
        text,
        json,
        after,
    }
}

#[test]
fn faq5_multi_sa_splits_into_the_faqs_connections_a_and_b() {
    let c = case("faq5_multi_sa", "vco-bp1lq3i0bm8p5aipkvn8jd6a5");
    let p = &c.plan;
    assert_eq!(p.split_by, "local_subnet");
    assert_eq!(p.connections.len(), 2);
    let (a, b) = (&p.connections[0], &p.connections[1]);
    // FAQ 5: A = 172.30.96.0/19 <=> 10.0.0.0/8, B = 172.30.96.0/19 <=> 172.30.128.0/17,
    // seen from the IDC; the cloud connection's local side is the VPC.
    assert_eq!((a.label.as_str(), b.label.as_str()), ("A", "B"));
    assert_eq!(a.id, "vco-bp1lq3i0bm8p5aipkvn8jd6a5-a");
    assert_eq!(b.id, "vco-bp1lq3i0bm8p5aipkvn8jd6a5-b");
    assert_eq!(a.alibaba.local_subnet, "10.0.0.0/8");
    assert_eq!(a.alibaba.remote_subnet, "172.30.96.0/19");
    assert_eq!(b.alibaba.local_subnet, "172.30.128.0/17");
    assert_eq!(b.alibaba.remote_subnet, "172.30.96.0/19");
    // Identical phase 1 (they share the IKE SA), equal to the old connection's.
    assert_eq!(a.alibaba.ike_config, b.alibaba.ike_config);
    assert_eq!(a.alibaba.ipsec_config, b.alibaba.ipsec_config);
    let k = &a.alibaba.ike_config;
    assert_eq!(k.ike_version.as_deref(), Some("ikev2"));
    assert_eq!(k.ike_enc_alg.as_deref(), Some("aes256"));
    assert_eq!(k.ike_auth_alg.as_deref(), Some("sha256"));
    assert_eq!(k.ike_pfs.as_deref(), Some("group14"));
    assert_eq!(k.ike_lifetime, Some(86400));
    assert_eq!(k.local_id.as_deref(), Some("47.96.68.210"));
    assert_eq!(k.remote_id.as_deref(), Some("198.51.100.2"));
    assert_eq!(k.psk, split::PSK_UNCHANGED);
    assert!(p.phase1.contains("share one phase-1 (IKE) SA"));
    // Why: the faq 5 finding names the uncovered pair.
    assert!(p.why.iter().any(|f| f.code == Code::IkeV2SaPerSubnetPair
        && f.message.contains("10.0.0.0/8 ⇄ 172.30.96.0/19")));
    assert!(p.verified, "{}", c.text);
    assert_eq!(p.verification.pairs[0].status, PairStatus::Fixed);
    assert_eq!(p.verification.pairs[1].status, PairStatus::Works);
    // The IDC side: one entry per connection, mirrored, with the real PSK in the patch.
    assert_eq!(p.idc.len(), 1);
    assert_eq!(p.idc[0].entries.len(), 2);
    let swan = p.idc[0].swanctl.as_deref().unwrap();
    assert!(swan.contains("remote_ts = 10.0.0.0/8"));
    assert!(swan.contains("remote_ts = 172.30.128.0/17"));
    assert!(swan.contains("proposals = aes256-sha256-modp2048"));
    let patched = split::apply(&c.topo, p);
    let dev = &patched.onprem.devices[0];
    assert_eq!(dev.ipsec.len(), 2);
    assert_eq!(
        dev.ipsec[0].ike.psk,
        c.topo.onprem.devices[0].ipsec[0].ike.psk
    );
    assert_eq!(c.after.connections.len(), 2);
    assert!(c.json.contains("\"verified\": true"));
}

#[test]
fn faq5_three_remote_subnets_gets_one_connection_per_idc_subnet() {
    let c = case("faq5_three_remote_subnets", "vco-bp1eadqyq6sft16b1wocp8g8w");
    let p = &c.plan;
    assert_eq!(p.split_by, "remote_subnet");
    let remotes: Vec<&str> = p
        .connections
        .iter()
        .map(|x| x.alibaba.remote_subnet.as_str())
        .collect();
    assert_eq!(
        remotes,
        ["10.100.10.0/24", "10.100.20.0/24", "10.100.30.0/24"]
    );
    assert!(p
        .connections
        .iter()
        .all(|x| x.alibaba.local_subnet == "172.19.0.0/16"));
    // Each destination route is repointed to its connection; no policy route is needed.
    assert!(p.vpn_routes.iter().all(|r| r.kind == "destination"));
    assert_eq!(p.vpn_routes.len(), 3);
    assert_eq!(p.vpn_routes[1].next_hop, "vco-bp1eadqyq6sft16b1wocp8g8w-b");
    // FortiGate: no swanctl snippet.
    assert!(p.idc[0].swanctl.is_none());
    assert!(p.verified, "{}", c.text);
}

#[test]
fn faq5_ikev1_two_pairs_is_split_per_pair_and_recommends_ikev2() {
    let c = case("faq5_ikev1_two_pairs", "vco-bp1zcryoau6qe4jbrw5wk1mhy");
    let p = &c.plan;
    assert_eq!(p.connections.len(), 2);
    assert!(p
        .why
        .iter()
        .any(|f| f.code == Code::IkeV1MultipleSubnetPairs && f.is_error()));
    assert!(p.notes.iter().any(|n| n.contains("IKEv2")));
    assert!(p.idc[0].swanctl.as_deref().unwrap().contains("version = 1"));
    assert!(p.verified, "{}", c.text);
}

#[test]
fn faq5_split_blocked_is_not_verified_and_says_what_else_blocks() {
    let c = case("faq5_split_blocked", "vco-bp197rs6256v02vctwvm9mm59");
    let p = &c.plan;
    assert!(!p.verified);
    assert_eq!(p.verification.pairs[0].status, PairStatus::Fixed);
    assert_eq!(p.verification.pairs[1].status, PairStatus::StillFailing);
    let failing: Vec<_> = p.verification.pairs[1]
        .flows
        .iter()
        .filter_map(|f| f.after.cause.as_ref())
        .collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].code, Code::IdcFilterDrop);
    assert_eq!(failing[0].device.as_deref(), Some("idc-swan02"));
    assert_eq!(failing[0].rule.as_deref(), Some("fwd-2-drop-old-lab"));
    assert!(c.text.contains("verified: NO"));
    assert!(c.text.contains("fwd-2-drop-old-lab"));
}

#[test]
fn salayout_findings_of_the_faq5_topologies_snapshot() {
    for name in [
        "faq5_multi_sa",
        "faq5_three_remote_subnets",
        "faq5_ikev1_two_pairs",
        "faq5_split_blocked",
    ] {
        let (_, m, _) = load(name);
        let f = salayout::check(&m);
        assert!(f.iter().any(|x| x.is_error() && x.faq == 5), "{name}");
        snap(&format!("salayout__{name}"), &render::json(&f));
    }
    // No faq 5 finding where nothing is wrong with the SA layout.
    for name in ["healthy", "faq3_idc_iptables_drop", "faq6_usg_nat"] {
        let (_, m, _) = load(name);
        assert_eq!(salayout::check(&m), vec![], "{name}");
    }
}

#[test]
fn run_writes_a_patched_topology_that_loads_and_passes() {
    let dir = std::env::temp_dir().join(format!("vpntrace-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("split.json");
    let r = split::run(
        &root().join("topologies/faq5_multi_sa.json"),
        "vco-bp1lq3i0bm8p5aipkvn8jd6a5",
        Some(&out),
    )
    .unwrap();
    assert!(r.exit_ok);
    let m = model::load(&out).unwrap();
    assert_eq!(
        m.connections
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        [
            "vco-bp1lq3i0bm8p5aipkvn8jd6a5-a",
            "vco-bp1lq3i0bm8p5aipkvn8jd6a5-b"
        ]
    );
    assert!(salayout::check(&m).is_empty());
    // Every flow the file lists is now delivered both ways.
    for f in &m.flows {
        let q = FlowQuery {
            from: trace::resolve_endpoint(&m, &f.from).unwrap(),
            to: trace::resolve_endpoint(&m, &f.to).unwrap(),
            protocol: f.protocol.unwrap_or(Protocol::Tcp),
            dst_port: f.port.unwrap_or(0),
            src_port: 40000,
        };
        assert!(trace::trace(&m, &q).ok(), "{} → {}", f.from, f.to);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_refuses_unknown_and_unsplittable_connections() {
    let p = root().join("topologies/faq5_multi_sa.json");
    let e = split::run(&p, "vco-nope", None).unwrap_err();
    assert!(e.message.contains("no IPsec connection `vco-nope`"), "{e}");
    assert!(e.message.contains("vco-bp1lq3i0bm8p5aipkvn8jd6a5"), "{e}");
    let healthy = root().join("topologies/healthy.json");
    let (_, m, _) = load("healthy");
    let id = m.connections[0].id.clone();
    let e = split::run(&healthy, &id, None).unwrap_err();
    assert!(e.message.contains("nothing to split"), "{e}");
    let e = split::run(Path::new("/nonexistent/topology.json"), "x", None).unwrap_err();
    assert!(e.message.contains("cannot read"), "{e}");
}

fn listing(case: &str) -> String {
    root()
        .join("tests/data/strongswan")
        .join(case)
        .join("idc.list-sas.txt")
        .display()
        .to_string()
}

#[test]
fn idc_sas_from_a_swanctl_listing_drive_the_layout_checks() {
    // The FAQ 5 layout as strongSwan lists it: two children under one IKE_SA.
    let (mut topo, _, _) = load("faq5_multi_sa");
    let notes = salayout::idc_sas_arg(
        &mut topo,
        &format!("idc-swan01={}", listing("ok_ikev2_split_children")),
    )
    .unwrap();
    assert!(
        notes.iter().any(|n| n.contains("taken as the same peer")),
        "{notes:?}"
    );
    let sas = topo.onprem.devices[0].ipsec[0].sas.clone().unwrap();
    assert_eq!(sas.len(), 2);
    let m = model::lower("t", &topo).unwrap();
    let codes: Vec<_> = salayout::check(&m).iter().map(|f| f.code).collect();
    assert_eq!(codes, [Code::IkeV2SaPerSubnetPair]);

    // A standard IKEv2 peer: one child carrying both VPC subnets. The IDC end is fine;
    // the VPN gateway's single narrower SA still leaves 10.0.0.0/8 without an SA.
    let (mut topo, _, _) = load("faq5_multi_sa");
    salayout::idc_sas_arg(
        &mut topo,
        &format!("idc-swan01={}", listing("ok_ikev2_single")),
    )
    .unwrap();
    let sas = topo.onprem.devices[0].ipsec[0].sas.clone().unwrap();
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].remote.len(), 2);
    let m = model::lower("t", &topo).unwrap();
    let f = salayout::check(&m);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].code, Code::SaCoversLessThanConfigured);
    assert_eq!(
        f[0].device.as_deref(),
        Some("vpn-bp10tj020ls569y93j0ztdz94")
    );
    assert!(
        f[0].message.contains("10.0.0.0/8 ⇄ 172.30.96.0/19"),
        "{}",
        f[0].message
    );
}

#[test]
fn idc_sas_argument_errors_name_what_is_wrong() {
    let (mut topo, _, _) = load("faq5_multi_sa");
    let e = salayout::idc_sas_arg(&mut topo, "idc-swan01").unwrap_err();
    assert!(e.message.contains("DEVICE=FILE"), "{e}");
    let e = salayout::idc_sas_arg(&mut topo, "idc-swan01=/nonexistent/list.txt").unwrap_err();
    assert_eq!(e.file, "/nonexistent/list.txt");
    let e = salayout::idc_sas_arg(&mut topo, &format!("nope={}", listing("ok_ikev2_single")))
        .unwrap_err();
    assert!(e.message.contains("no on-prem device `nope`"), "{e}");
    assert!(e.message.contains("idc-swan01"), "{e}");
    let log = root().join("tests/data/strongswan/ok_ikev2_single/idc.log");
    let e = salayout::idc_sas_arg(&mut topo, &format!("idc-swan01={}", log.display())).unwrap_err();
    assert!(
        e.message.contains("not a `swanctl --list-sas` listing"),
        "{e}"
    );
    // An empty listing: no IKE_SA, so the IDC gateway holds no SA.
    let empty = std::env::temp_dir().join(format!("vpntrace-empty-{}.txt", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let notes =
        salayout::idc_sas_arg(&mut topo, &format!("idc-swan01={}", empty.display())).unwrap();
    std::fs::remove_file(&empty).unwrap();
    assert!(notes.iter().any(|n| n.contains("no established IKE_SA")));
    assert_eq!(topo.onprem.devices[0].ipsec[0].sas, Some(vec![]));
}

#[test]
fn several_subnets_on_both_sides_split_per_pair_with_policy_routes() {
    let (mut topo, _, _) = load("faq5_multi_sa");
    let idc: Vec<vpntrace::net::addr::Cidr> = vec![
        "172.30.100.0/24".parse().unwrap(),
        "172.30.101.0/24".parse().unwrap(),
    ];
    topo.cloud.ipsec_connections[0].remote_subnets = idc.clone();
    topo.onprem.devices[0].ipsec[0].local_subnets = idc;
    let m = model::lower("t", &topo).unwrap();
    let p = split::plan(&topo, &m, "vco-bp1lq3i0bm8p5aipkvn8jd6a5").unwrap();
    assert_eq!(p.split_by, "subnet_pair");
    let pairs: Vec<(String, String)> = p
        .connections
        .iter()
        .map(|c| {
            (
                c.alibaba.local_subnet.clone(),
                c.alibaba.remote_subnet.clone(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("10.0.0.0/8".into(), "172.30.100.0/24".into()),
            ("10.0.0.0/8".into(), "172.30.101.0/24".into()),
            ("172.30.128.0/17".into(), "172.30.100.0/24".into()),
            ("172.30.128.0/17".into(), "172.30.101.0/24".into()),
        ]
    );
    // The published destination route stays; one policy route per pair decides.
    let policy: Vec<_> = p.vpn_routes.iter().filter(|r| r.kind == "policy").collect();
    assert_eq!(policy.len(), 4);
    assert!(p.vpn_routes.iter().any(|r| r.kind == "destination"
        && r.action == split::ChangeAction::Repoint
        && r.publish_to_vpc));
    assert!(p.verified, "{}", vpntrace::render::split::split_text(&p));
}
