//! The estate preset (`GenParams::estate`, issue 13): it lowers without error, has the
//! documented shape, and the flows it names end as they say.

use std::collections::HashMap;

use vpntrace::engine::trace::{self, Disposition, FlowQuery};
use vpntrace::input::{Action, DeviceKind, Direction, Topology};
use vpntrace::net::addr::{Cidr, Protocol};
use vpntrace_gen::{estate, fault_plan, generate, Fault, GenParams, Mix};

const SITES: usize = 12;

fn estate_topology() -> (GenParams, Topology) {
    let p = GenParams::estate(SITES).with_seed(3);
    let t = generate(&p);
    (p, t)
}

fn in_idc_range(c: &Cidr) -> bool {
    "172.16.0.0/12".parse::<Cidr>().unwrap().contains(c.addr())
}

#[test]
fn the_estate_lowers_and_has_the_documented_shape() {
    let (p, t) = estate_topology();
    let Mix::Estate(mix) = p.mix else {
        panic!("the estate preset has the estate mix")
    };
    assert_eq!((mix.idc_hosts, mix.nat_rules), (40, 12));
    let text = serde_json::to_string(&t).unwrap();
    let topo = vpntrace::model::parse("estate.json", &text).unwrap();
    let m = vpntrace::model::lower("estate.json", &topo).unwrap();
    assert_eq!(m.connections.len(), SITES);
    let c = &t.cloud;
    // 8 vSwitches × 12 instances, all in the site's one security group
    assert_eq!(c.vswitches.len(), SITES * 8);
    assert_eq!(c.instances.len(), SITES * 96);
    assert_eq!(m.instances.len(), SITES * 96);
    assert_eq!(c.security_groups.len(), SITES);
    let mut per_vsw: HashMap<&str, usize> = HashMap::new();
    for i in &c.instances {
        *per_vsw.entry(&i.vswitch).or_default() += 1;
        assert_eq!(i.security_groups.len(), 1);
    }
    assert!(per_vsw.values().all(|&n| n == 12), "{per_vsw:?}");
    let faulty = |f: Fault| fault_plan(&p).iter().find(|x| x.0 == f).unwrap().1;
    let sizes: Vec<usize> = c.security_groups.iter().map(|g| g.rules.len()).collect();
    let mean = sizes.iter().sum::<usize>() as f64 / SITES as f64;
    assert!((21.0..=27.0).contains(&mean), "mean rules per group {mean}");
    // rules are ordinary mixes: accepts and drops, IDC peers at /25–/27, several
    // protocols, port ranges, several priorities
    let rules: Vec<_> = c.security_groups.iter().flat_map(|g| &g.rules).collect();
    let idc_peers = rules.iter().filter_map(|r| r.peer).filter(in_idc_range);
    assert!(idc_peers.clone().any(|c| c.len() == 25));
    assert!(idc_peers.clone().any(|c| c.len() == 26));
    assert!(idc_peers.clone().any(|c| c.len() == 27));
    assert!(rules
        .iter()
        .any(|r| r.policy == Action::Drop && r.peer.is_some_and(|c| in_idc_range(&c))));
    for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::All] {
        assert!(rules.iter().any(|r| r.protocol == proto), "{proto:?}");
    }
    assert!(rules
        .iter()
        .any(|r| r.ports.lo < r.ports.hi && r.protocol.has_ports()));
    assert!(rules
        .iter()
        .any(|r| r.direction == Direction::Egress && r.policy == Action::Drop));
    let prios: std::collections::BTreeSet<u8> = rules.iter().map(|r| r.priority).collect();
    assert!(prios.len() >= 20, "{prios:?}");
    let sg_fault = &c.security_groups[faulty(Fault::SgWithoutIngress)];
    assert!(sg_fault
        .rules
        .iter()
        .all(|r| r.direction == Direction::Egress));

    // VRouter: 0.0.0.0/0, the IDC and 140 routes elsewhere per custom table (none at the
    // site without the IDC route), 10 per site in the system table
    let system = c.route_tables.iter().find(|r| r.system).unwrap();
    assert_eq!(system.entries.len(), 1 + 10 * SITES);
    let custom: Vec<usize> = c
        .route_tables
        .iter()
        .filter(|r| !r.system)
        .map(|r| r.entries.len())
        .collect();
    assert_eq!(custom.len(), SITES);
    assert!(
        custom.iter().all(|&n| (141..=142).contains(&n)),
        "{custom:?}"
    );

    // IDC: a gateway, a core router and 40 hosts per site; 120 forward rules with /32
    // destinations and port ranges; 12 NAT rules (11 without the exemption)
    assert_eq!(t.onprem.devices.len(), SITES * 42);
    assert_eq!(m.devices.len(), SITES * 42);
    let gws: Vec<_> = t
        .onprem
        .devices
        .iter()
        .filter(|d| d.filter.is_some())
        .collect();
    assert_eq!(gws.len(), SITES);
    for (k, gw) in gws.iter().enumerate() {
        let fwd = &gw.filter.as_ref().unwrap().forward.as_ref().unwrap().rules;
        assert_eq!(fwd.len(), 120, "{}", gw.id);
        assert!(fwd
            .iter()
            .any(|r| r.destination.is_some_and(|d| d.len() == 32)));
        assert!(fwd
            .iter()
            .any(|r| r.destination_ports.lo < r.destination_ports.hi
                && !r.destination_ports.is_any()));
        let want = if k == faulty(Fault::NatWithoutExemption) {
            11
        } else {
            12
        };
        assert_eq!(gw.nat.len(), want, "{}", gw.id);
    }
    let hosts = t
        .onprem
        .devices
        .iter()
        .filter(|d| d.kind == DeviceKind::Host)
        .count();
    assert_eq!(hosts, SITES * 40);
    assert_eq!(estate::hosts_per_subnet(40), [6, 10, 4, 2, 6, 4, 3, 5]);
    assert_eq!(estate::hosts_per_subnet(40).iter().sum::<usize>(), 40);
    assert_eq!(estate::hosts_per_subnet(100).iter().sum::<usize>(), 100);
    assert_eq!(estate::hosts_per_subnet(3).iter().sum::<usize>(), 8);
}

#[test]
fn the_estate_flows_end_as_they_say() {
    let (_, t) = estate_topology();
    let m = vpntrace::model::lower("estate.json", &t).unwrap();
    assert_eq!(m.flows.len(), 3 + Fault::ALL.len());
    for f in &m.flows {
        let q = FlowQuery {
            from: trace::resolve_endpoint(&m, &f.from).unwrap(),
            to: trace::resolve_endpoint(&m, &f.to).unwrap(),
            protocol: f.protocol.unwrap(),
            dst_port: f.port.unwrap_or(0),
            src_port: 40000,
        };
        let tr = trace::trace(&m, &q);
        let got = if tr.ok() {
            "delivered"
        } else {
            assert_ne!(tr.forward.disposition, Disposition::Delivered, "{f:?}");
            tr.forward.disposition.as_str()
        };
        assert_eq!(Some(got), f.expect.as_deref(), "{f:?}");
    }
}

#[test]
fn the_estate_is_deterministic_by_seed() {
    let json = |p: &GenParams| serde_json::to_string(&generate(p)).unwrap();
    let p = GenParams::estate(3).with_seed(9);
    assert_eq!(json(&p), json(&p));
    assert_ne!(json(&p), json(&p.clone().with_seed(10)));
    assert_ne!(json(&p), json(&GenParams::scaled(3).with_seed(9)));
}
