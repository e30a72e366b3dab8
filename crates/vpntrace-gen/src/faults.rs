//! Random faults planted on a small healthy topology, for the property test of fixes
//! (`tests/fixes.rs`): every FAQ 3–6 cause, on either side, in either direction, several
//! at once (some hide others: a fault on the forward path hides one on the reply path).
//!
//! [`small`] is one site of [`crate::generate`] with few instances and rules (the IDC
//! gateway `…-vpn01`, core router `…-core01`, hosts `…-app01`, `…-db01`, `…-ops01`);
//! [`plant`] changes it as a person might by mistake.

use vpntrace::input::{Action, FilterRule, Route, SgRule, Topology};
use vpntrace::net::addr::{Cidr, Ports, Protocol};

use crate::GenParams;

/// The faults [`plant`] can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planted {
    /// The custom route table loses its route to the IDC (faq 3 and 4).
    VpcRouteMissing,
    /// The VPN gateway's routes are not published to the VPC (faq 3 and 4).
    VpnRouteUnpublished,
    /// A security group drops traffic from an IDC subnet at priority 1, tying with (and
    /// beating) accepts of the instance's other group (faq 4, and replies of faq 3).
    SgDenyTie,
    /// A security group loses its ingress accepts for the IDC (faq 4).
    SgNoIngress,
    /// The IDC gateway's forward chain drops a service between a VPC and an IDC subnet,
    /// in a random direction (faq 3 or 4, or a reply).
    IdcFilterDrop,
    /// The core router loses its route to the VPC; its default leads elsewhere (faq 4).
    IdcRouteMissing,
    /// The core router's route to the VPC points at a device that routes it back (loop).
    RoutingLoop,
    /// The IDC gateway source-NATs without the no-NAT exemption (faq 6).
    NatWithoutExemption,
    /// The core router does not forward (faq 3 and 4).
    ForwardingOff,
}

impl Planted {
    pub const ALL: [Planted; 9] = [
        Planted::VpcRouteMissing,
        Planted::VpnRouteUnpublished,
        Planted::SgDenyTie,
        Planted::SgNoIngress,
        Planted::IdcFilterDrop,
        Planted::IdcRouteMissing,
        Planted::RoutingLoop,
        Planted::NatWithoutExemption,
        Planted::ForwardingOff,
    ];
}

/// A small healthy topology: one site, few instances and rules.
pub fn small(seed: u64) -> Topology {
    let mut p = GenParams::scaled(1).with_seed(seed);
    p.instances_per_connection = 5;
    p.custom_routes_per_connection = 4;
    p.system_routes_per_connection = 2;
    p.sg_extra_rules = 0;
    p.forward_rules_per_gateway = 4;
    p.faults = false;
    crate::generate(&p)
}

/// A deterministic random source (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn cidr(s: &str) -> Cidr {
    s.parse().expect("a CIDR")
}

/// The topology of seed `seed`: [`small`] with one to three random faults planted, and
/// the faults, in the order planted.
pub fn faulty(seed: u64) -> (Topology, Vec<Planted>) {
    let mut t = small(seed);
    let mut r = Rng(seed ^ 0x5eed_fa17);
    let n = 1 + r.below(3);
    let mut planted = Vec::new();
    for _ in 0..n {
        let f = Planted::ALL[r.below(Planted::ALL.len())];
        plant(&mut t, f, &mut r);
        planted.push(f);
    }
    t.name = format!("faults seed {seed}: {planted:?}");
    (t, planted)
}

/// The index of the on-prem device whose id ends with `role`.
fn device(t: &Topology, role: &str) -> usize {
    t.onprem
        .devices
        .iter()
        .position(|d| d.id.ends_with(role))
        .expect("the small topology has the device")
}

const VPC_SUBNETS: [&str; 4] = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"];
const IDC_SUBNETS: [&str; 3] = ["172.16.1.0/24", "172.16.2.0/24", "172.16.3.0/25"];

fn plant(t: &mut Topology, f: Planted, r: &mut Rng) {
    let services = [
        (Protocol::Tcp, Ports::single(22)),
        (Protocol::Tcp, Ports::single(3306)),
        (Protocol::Tcp, Ports::ANY),
        (Protocol::Udp, Ports::single(53)),
        (Protocol::All, Ports::ANY),
    ];
    match f {
        Planted::VpcRouteMissing => {
            for table in t.cloud.route_tables.iter_mut() {
                table.entries.retain(|e| {
                    e.next_hop.kind != vpntrace::input::NextHopKind::VpnGateway
                        || e.destination.network().prefix_len() == 0
                });
            }
        }
        Planted::VpnRouteUnpublished => {
            for g in t.cloud.vpn_gateways.iter_mut() {
                for route in g.routes.iter_mut() {
                    route.publish_to_vpc = false;
                }
            }
        }
        Planted::SgDenyTie => {
            let g = r.below(t.cloud.security_groups.len());
            let (p, ports) = services[r.below(services.len())];
            let k = t.cloud.security_groups[g].rules.len();
            t.cloud.security_groups[g].rules.push(SgRule {
                origin: None,
                id: Some(format!("planted-deny-{k}")),
                direction: vpntrace::input::Direction::Ingress,
                policy: Action::Drop,
                priority: 1,
                protocol: p,
                ports,
                peer: Some(cidr(IDC_SUBNETS[r.below(IDC_SUBNETS.len())])),
                peer_group: None,
            });
        }
        Planted::SgNoIngress => {
            let g = r.below(t.cloud.security_groups.len());
            t.cloud.security_groups[g].rules.retain(|x| {
                !(x.direction == vpntrace::input::Direction::Ingress
                    && x.policy == Action::Accept
                    && x.peer
                        .is_some_and(|p| p.network().to_string().starts_with("172.16.")))
            });
        }
        Planted::IdcFilterDrop => {
            let d = device(t, "-vpn01");
            let (p, ports) = services[r.below(services.len())];
            let (a, b) = (
                cidr(VPC_SUBNETS[r.below(VPC_SUBNETS.len())]),
                cidr(IDC_SUBNETS[r.below(IDC_SUBNETS.len())]),
            );
            let (source, destination) = if r.below(2) == 0 { (a, b) } else { (b, a) };
            let chain = t.onprem.devices[d]
                .filter
                .get_or_insert_with(Default::default)
                .forward
                .get_or_insert_with(Default::default);
            let k = chain.rules.len();
            chain.rules.insert(
                0,
                FilterRule {
                    origin: None,
                    id: Some(format!("planted-drop-{k}")),
                    action: Action::Drop,
                    source: Some(source),
                    destination: Some(destination),
                    protocol: p,
                    source_ports: Ports::ANY,
                    destination_ports: ports,
                    in_interface: None,
                    out_interface: None,
                },
            );
        }
        Planted::IdcRouteMissing => {
            let d = device(t, "-core01");
            t.onprem.devices[d]
                .routes
                .retain(|x| !x.destination.network().to_string().starts_with("10."));
        }
        Planted::RoutingLoop => {
            // The gateway sends VPC-bound traffic back to the core router, ahead of its
            // IPsec policy on the outside interface.
            let d = device(t, "-vpn01");
            let core = device(t, "-core01");
            let back = t.onprem.devices[core]
                .interfaces
                .iter()
                .find(|i| i.address.network().to_string().starts_with("172.16.3.128"))
                .map(|i| Cidr::host(i.address.addr()));
            t.onprem.devices[d].routes.insert(
                0,
                Route {
                    origin: None,
                    id: Some("planted-loop".into()),
                    destination: cidr("10.0.0.0/22"),
                    interface: None,
                    gateway: back,
                    tunnel: None,
                },
            );
        }
        Planted::NatWithoutExemption => {
            let d = device(t, "-vpn01");
            t.onprem.devices[d]
                .nat
                .retain(|n| n.action != vpntrace::input::NatAction::NoNat);
        }
        Planted::ForwardingOff => {
            let d = device(t, "-core01");
            t.onprem.devices[d].forwarding = Some(false);
        }
    }
}
