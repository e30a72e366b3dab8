//! Trace endpoints as SPEC's "Trace endpoints" states them and as the Linux kernel
//! behaves (issue 11; the kernel lab, tests/kernel_lab.rs, compares the same with real
//! namespaces): one small on-prem topology, one test per fault.
//!
//! h (10.1.1.10, host) — r (router: eth0 10.1.1.1, eth1 10.1.2.1 outside-role LAN,
//! eth2 100.64.1.1 outside uplink, masquerade on eth2, a route to 10.9.0.0/16 through
//! 10.1.1.254 that no device holds) — mid (a two-NIC host that does not say `forwarding`)
//! — far (10.1.3.9).

mod common;

use serde_json::{json, Value};

fn topology() -> Value {
    json!({
      "format": 1,
      "name": "trace endpoints",
      "cloud": {
        "vpc": {"id": "vpc-1", "cidrs": ["172.31.0.0/16"]},
        "vswitches": [{"id": "vsw-1", "cidr": "172.31.1.0/24"}],
        "route_tables": [{"id": "vtb-1", "system": true, "entries": []}]
      },
      "onprem": {"devices": [
        {"id": "h", "kind": "host", "forwarding": false,
         "interfaces": [{"name": "eth0", "address": "10.1.1.10/24"}],
         "routes": [{"id": "default", "destination": "0.0.0.0/0", "gateway": "10.1.1.1"}]},
        {"id": "r", "kind": "router", "vendor": "linux-iptables",
         "interfaces": [{"name": "eth0", "address": "10.1.1.1/24"},
                        {"name": "eth1", "address": "10.1.2.1/24", "role": "outside"},
                        {"name": "eth2", "address": "100.64.1.1/24", "role": "outside"}],
         "routes": [{"id": "up", "destination": "0.0.0.0/0", "gateway": "100.64.1.254"},
                    {"id": "far", "destination": "10.1.3.0/24", "gateway": "10.1.2.5"},
                    {"id": "core", "destination": "10.9.0.0/16", "gateway": "10.1.1.254"}],
         "filter": {"stateful": true,
           "input": {"default": "accept", "rules": [
             {"id": "in-1", "action": "drop", "destination": "10.1.2.1", "protocol": "tcp", "destination_ports": "22"}]},
           "output": {"default": "accept", "rules": [
             {"id": "out-1", "action": "drop", "destination": "10.1.2.1", "protocol": "tcp", "destination_ports": "80"},
             {"id": "out-eth0", "action": "drop", "protocol": "udp", "out_interface": "eth0"}]}},
         "nat": [{"id": "masq", "action": "source_nat", "source": "10.1.0.0/16", "out_interface": "eth2", "to": "interface"}]},
        {"id": "mid", "kind": "host",
         "interfaces": [{"name": "eth0", "address": "10.1.2.5/24"}, {"name": "eth1", "address": "10.1.3.5/24"}],
         "routes": [{"id": "default", "destination": "0.0.0.0/0", "gateway": "10.1.2.1"}]},
        {"id": "far", "kind": "host", "forwarding": false,
         "interfaces": [{"name": "eth0", "address": "10.1.3.9/24"}],
         "routes": [{"id": "default", "destination": "0.0.0.0/0", "gateway": "10.1.3.5"}]}
      ]}
    })
}

struct Out {
    code: i32,
    json: Value,
    stderr: String,
}

fn trace(args: &[&str]) -> Out {
    // One file per call: the tests run in parallel.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let text = serde_json::to_string_pretty(&topology()).unwrap();
    let f = common::TmpFile::new(&format!("semantics-topology-{n}.json"), text.as_bytes());
    let mut a = vec!["trace", &*f];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--format", "json"]);
    let r = common::vpntrace(&a);
    Out {
        code: r.code,
        json: serde_json::from_str(&r.stdout).unwrap_or(Value::Null),
        stderr: r.stderr,
    }
}

fn hops(path: &Value) -> Vec<String> {
    path["hops"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|h| h["device"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The rule of the step that dropped the packet on a path.
fn drop_rule(path: &Value) -> Option<String> {
    path["hops"].as_array()?.iter().rev().find_map(|h| {
        h["steps"].as_array()?.iter().find_map(|s| {
            (s["action"] == "drop").then(|| s["rule"].as_str().unwrap_or("default").to_string())
        })
    })
}

#[test]
fn f1_an_address_a_device_holds_is_traced_as_that_address() {
    // r's second interface: the input rule for 10.1.2.1 decides, not r's first address.
    let o = trace(&[
        "--from",
        "h",
        "--to",
        "10.1.2.1",
        "--protocol",
        "tcp",
        "--port",
        "22",
    ]);
    assert_eq!(o.json["flow"]["packet"]["dst"], "10.1.2.1", "{}", o.stderr);
    assert_eq!(o.json["forward"]["disposition"], "dropped");
    assert_eq!(drop_rule(&o.json["forward"]).as_deref(), Some("in-1"));
    // As a source: r sends from exactly the address named.
    let o = trace(&["--from", "10.1.2.1", "--to", "h"]);
    assert_eq!(o.json["flow"]["packet"]["src"], "10.1.2.1", "{}", o.stderr);
    assert_eq!(o.code, 0);
}

#[test]
fn f2_a_device_sending_to_its_own_address_delivers_locally() {
    // Output chain decides first.
    let o = trace(&[
        "--from",
        "r",
        "--to",
        "10.1.2.1",
        "--protocol",
        "tcp",
        "--port",
        "80",
    ]);
    assert_eq!(o.json["forward"]["disposition"], "dropped", "{}", o.stderr);
    assert_eq!(drop_rule(&o.json["forward"]).as_deref(), Some("out-1"));
    // Then the input chain.
    let o = trace(&[
        "--from",
        "r",
        "--to",
        "10.1.2.1",
        "--protocol",
        "tcp",
        "--port",
        "22",
    ]);
    assert_eq!(drop_rule(&o.json["forward"]).as_deref(), Some("in-1"));
    // Over the loopback: a rule for `-o eth0` does not match; never routed out; the local
    // route's source is the address itself.
    let o = trace(&[
        "--from",
        "r",
        "--to",
        "10.1.1.1",
        "--protocol",
        "udp",
        "--port",
        "53",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json["flow"]["packet"]["src"], "10.1.1.1");
    assert_eq!(hops(&o.json["forward"]), vec!["r"]);
    assert_eq!(hops(&o.json["return"]), vec!["r"]);
    assert_eq!(o.json["forward"]["disposition"], "delivered");
    assert_eq!(o.json["return"]["disposition"], "delivered");
}

#[test]
fn f3_a_host_without_forwarding_forwards_by_default() {
    let o = trace(&[
        "--from",
        "h",
        "--to",
        "far",
        "--protocol",
        "tcp",
        "--port",
        "443",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(hops(&o.json["forward"]), vec!["h", "r", "mid", "far"]);
}

#[test]
fn f4_a_destination_beyond_the_model_is_traced_until_it_leaves() {
    let o = trace(&[
        "--from",
        "h",
        "--to",
        "198.18.1.77",
        "--protocol",
        "tcp",
        "--port",
        "443",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let fwd = &o.json["forward"];
    assert_eq!(fwd["disposition"], "exits_network");
    assert!(fwd["cause"].is_null(), "leaving is the expected end: {fwd}");
    assert_eq!(hops(fwd), vec!["h", "r"]);
    let r = &fwd["hops"][1];
    let snat = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "nat")
        .expect("source NAT at r");
    assert_eq!(snat["rule"], "masq");
    assert!(o.json["return"].is_null(), "the reply is not traced");
    // A VPC address beyond every vSwitch leaving in clear through an outside interface
    // is still the fault it was.
    let o = trace(&["--from", "h", "--to", "172.31.200.1"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.json["forward"]["disposition"], "exits_network");
    assert!(!o.json["forward"]["cause"].is_null());
}

#[test]
fn f4_a_source_beyond_the_model_enters_at_ingress() {
    let o = trace(&[
        "--from",
        "198.18.1.1",
        "--to",
        "h",
        "--protocol",
        "tcp",
        "--port",
        "22",
        "--ingress",
        "r:eth2",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(hops(&o.json["forward"]), vec!["r", "h"]);
    assert_eq!(o.json["forward"]["hops"][0]["in_interface"], "eth2");
    assert_eq!(o.json["forward"]["disposition"], "delivered");
    assert_eq!(o.json["return"]["disposition"], "exits_network");
    assert!(o.json["return"]["cause"].is_null());
    // Without --ingress the user is told what is missing.
    let o = trace(&["--from", "198.18.1.1", "--to", "h"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--ingress"), "{}", o.stderr);
    // --ingress is for sources beyond the model only, and names a real device.
    assert_eq!(
        trace(&["--from", "h", "--to", "r", "--ingress", "r"]).code,
        2
    );
    assert_eq!(
        trace(&["--from", "198.18.1.1", "--to", "h", "--ingress", "nope"]).code,
        2
    );
    assert_eq!(
        trace(&["--from", "198.18.1.1", "--to", "h", "--ingress", "r:eth9"]).code,
        2
    );
}

#[test]
fn f5_an_unmodelled_host_on_an_outside_role_subnet_is_delivered() {
    let o = trace(&[
        "--from",
        "h",
        "--to",
        "10.1.2.50",
        "--protocol",
        "tcp",
        "--port",
        "80",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json["forward"]["disposition"], "delivered");
}

#[test]
fn f6_a_routed_only_subnet_is_address_space_beyond_the_model() {
    // As destination: it leaves r toward 10.1.1.254, as expected.
    let o = trace(&["--from", "h", "--to", "10.9.0.1"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json["forward"]["disposition"], "exits_network");
    // As source: it enters at the device that routes to it, on the interface toward the
    // next hop, without --ingress.
    let o = trace(&["--from", "10.9.0.1", "--to", "h"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json["forward"]["hops"][0]["device"], "r");
    assert_eq!(o.json["forward"]["hops"][0]["in_interface"], "eth0");
}

#[test]
fn u1_an_unmodelled_host_reaches_a_device_on_its_own_subnet_directly() {
    // 10.1.1.77 is on h's subnet: it sends to h on the link, not through r.
    let o = trace(&["--from", "10.1.1.77", "--to", "h"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(hops(&o.json["forward"]), vec!["h"]);
    // To an address off its subnet it sends through r.
    let o = trace(&["--from", "10.1.1.77", "--to", "far"]);
    assert_eq!(hops(&o.json["forward"])[0], "r");
}

/// `check` on `healthy.json` with a subnet the core router routes to through a router
/// the model does not hold (10.8.99.0/24 via 10.8.20.254), and optionally a forward rule
/// of the IDC gateway that drops traffic to it.
fn check_routed_only(drop_rule: bool) -> (i32, Value) {
    let path = common::root().join("topologies/healthy.json");
    let mut t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let devices = t["onprem"]["devices"].as_array_mut().unwrap();
    for d in devices.iter_mut() {
        if d["id"] == "hz-idc-core01" {
            d["routes"].as_array_mut().unwrap().push(
                json!({"id": "to-lab", "destination": "10.8.99.0/24", "gateway": "10.8.20.254"}),
            );
        }
        if d["id"] == "hz-idc-vpn01" && drop_rule {
            d["filter"]["forward"]["rules"]
                .as_array_mut()
                .unwrap()
                .insert(
                    0,
                    json!({"id": "fwd-0-lab", "action": "drop", "destination": "10.8.99.0/24"}),
                );
        }
    }
    let text = serde_json::to_string_pretty(&t).unwrap();
    let f = common::TmpFile::new(
        &format!("semantics-routed-only-{drop_rule}.json"),
        text.as_bytes(),
    );
    let r = common::vpntrace(&["check", &f, "--format", "json"]);
    (
        r.code,
        serde_json::from_str(&r.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn f6_check_analyses_a_routed_only_subnet() {
    // Traffic to and from it works: it leaves toward the next hop, its packets enter there.
    let (code, out) = check_routed_only(false);
    assert_eq!(code, 0, "{out}");
    // A forward-chain drop for it is reported.
    let (code, out) = check_routed_only(true);
    assert_eq!(code, 1, "{out}");
    let found = out["findings"].as_array().unwrap().iter().any(|f| {
        f["code"] == "IDC_FILTER_DROP" && f["device"] == "hz-idc-vpn01" && f["rule"] == "fwd-0-lab"
    });
    assert!(found, "{out}");
}
