//! The rules, each written once: security-group evaluation, filter chains, NAT lookup,
//! VPN gateway routing, each able to narrow a packet region (`graph::region`) to the
//! packets it treats the same. The walker and the analyses call these.

use std::net::Ipv4Addr;

use crate::engine::step::Detail;
use crate::engine::trace::{Packet, Step, StepAction, StepKind};
use crate::graph::index::Index;
use crate::graph::region::{rule_on, Cond, Conds, Narrow, F};
use crate::input::{Action, Direction, NatAction, SgType};
use crate::model::rules::{rule_fits, RouteChoice, RuleSpan};
use crate::model::{ChainKind, Device, Model, NatTo, SgPeer};

/// The result of evaluating an instance's security groups.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgVerdict {
    pub accept: bool,
    /// (group, rule) that decided, or None for the default.
    pub rule: Option<(usize, usize)>,
    pub inner: bool,
}

impl SgVerdict {
    pub fn rule_id(&self, m: &Model) -> Option<String> {
        self.rule
            .map(|(g, r)| m.security_groups[g].rules[r].id.clone())
    }
}

/// Alibaba Cloud security-group evaluation for instance `i` (see `Walker::security_group`).
pub fn sg_decide(m: &Model, i: usize, dir: Direction, pkt: Packet) -> SgVerdict {
    sg_decide_by(m, i, dir, pkt, |ip| {
        m.instances.iter().position(|x| x.ip == ip)
    })
}

/// [`sg_decide`] with a way to find the instance holding an address.
fn sg_decide_by(
    m: &Model,
    i: usize,
    dir: Direction,
    pkt: Packet,
    instance_at: impl Fn(Ipv4Addr) -> Option<usize>,
) -> SgVerdict {
    let inst = &m.instances[i];
    let peer_ip = match dir {
        Direction::Ingress => pkt.src,
        Direction::Egress => pkt.dst,
    };
    let mut best: Option<(u8, Action, usize, usize)> = None;
    for &g in &inst.security_groups {
        for (r, rule) in m.security_groups[g].rules.iter().enumerate() {
            if rule.direction != dir || !rule.protocol.matches(pkt.protocol) {
                continue;
            }
            if pkt.protocol.has_ports() && !rule.ports.contains(pkt.dst_port.unwrap_or(0)) {
                continue;
            }
            let peer_ok = match &rule.peer {
                SgPeer::Any => true,
                SgPeer::Cidr(n) => n.contains(&peer_ip),
                SgPeer::Group(pg) => instance_at(peer_ip)
                    .is_some_and(|x| m.instances[x].security_groups.contains(pg)),
            };
            if !peer_ok {
                continue;
            }
            // Lower priority number first; at equal priority drop beats accept.
            let better = match best {
                None => true,
                Some((p, a, _, _)) => {
                    rule.priority < p
                        || (rule.priority == p
                            && a == Action::Accept
                            && rule.action == Action::Drop)
                }
            };
            if better {
                best = Some((rule.priority, rule.action, g, r));
            }
        }
    }
    if let Some((_, a, g, r)) = best {
        return SgVerdict {
            accept: a == Action::Accept,
            rule: Some((g, r)),
            inner: false,
        };
    }
    let enterprise = inst
        .security_groups
        .first()
        .is_some_and(|&g| m.security_groups[g].kind == SgType::Enterprise);
    match dir {
        Direction::Egress => SgVerdict {
            accept: !enterprise && !inst.security_groups.is_empty()
                || inst.security_groups.is_empty(),
            rule: None,
            inner: false,
        },
        Direction::Ingress => {
            if inst.security_groups.is_empty() {
                return SgVerdict {
                    accept: false,
                    rule: None,
                    inner: false,
                };
            }
            let inner = !enterprise
                && instance_at(pkt.src).is_some_and(|x| {
                    m.instances[x].security_groups.iter().any(|g| {
                        inst.security_groups.contains(g) && m.security_groups[*g].inner_accept
                    })
                });
            SgVerdict {
                accept: inner,
                rule: None,
                inner,
            }
        }
    }
}

/// The packet's current values, as [`Cond`]s read them.
pub fn vals(pkt: Packet) -> [u32; 4] {
    [
        u32::from(pkt.src),
        u32::from(pkt.dst),
        u32::from(pkt.src_port.unwrap_or(0)),
        u32::from(pkt.dst_port.unwrap_or(0)),
    ]
}

/// Is `v` owned by an instance or device? Narrows field `f` to it, or to the gap.
pub fn owned_gap(nw: &mut Narrow, idx: &Index, f: F, v: u32) -> bool {
    let (owned, lo, hi) = idx.owned_span(v);
    nw.cons_owner(f, lo, hi);
    owned
}

/// [`sg_decide`], narrowing the region to the packets every relevant rule treats the
/// same: the rules at or above the deciding priority (all of them for a default). An
/// accept is kept an accept, by whichever rule: the other accept rules do not narrow
/// (a packet one of them takes goes on exactly as the packet traced), nor do accepts
/// tied with a deciding drop (drop wins ties).
pub fn sg_decide_in(
    m: &Model,
    idx: &Index,
    i: usize,
    dir: Direction,
    pkt: Packet,
    nw: &mut Narrow,
) -> SgVerdict {
    let v = sg_decide_by(m, i, dir, pkt, |ip| idx.instance_at(ip));
    if nw.region.is_none() {
        return v;
    }
    let bound = v.rule.map(|(g, r)| m.security_groups[g].rules[r].priority);
    let peer_f = match dir {
        Direction::Ingress => F::Src,
        Direction::Egress => F::Dst,
    };
    let x = vals(pkt);
    let mut peer_span: Option<(bool, u32, u32)> = None;
    for &g in &m.instances[i].security_groups {
        for (r, rule) in m.security_groups[g].rules.iter().enumerate() {
            if rule.direction != dir
                || !rule.protocol.matches(pkt.protocol)
                || bound.is_some_and(|b| rule.priority > b)
            {
                continue;
            }
            if rule.action == Action::Accept
                && v.rule != Some((g, r))
                && (v.accept || bound == Some(rule.priority))
            {
                continue;
            }
            let mut conds = Conds::default();
            if pkt.protocol.has_ports() && !rule.ports.is_any() {
                conds.push(Cond::ports(F::Dport, rule.ports));
            }
            match &rule.peer {
                SgPeer::Cidr(n) => conds.push(Cond::net(peer_f, *n)),
                SgPeer::Group(_) => {
                    // Whether the peer is a member depends only on who owns it.
                    let (_, lo, hi) =
                        *peer_span.get_or_insert_with(|| idx.owned_span(x[peer_f as usize]));
                    nw.cons_owner(peer_f, lo, hi);
                }
                SgPeer::Any => {}
            }
            rule_on(nw, x, &conds);
        }
    }
    if v.rule.is_none() && dir == Direction::Ingress {
        owned_gap(nw, idx, F::Src, x[0]);
    }
    v
}

pub(crate) fn route_step(dev: usize, r: &RouteChoice, dst: Ipv4Addr) -> Step {
    Step {
        kind: StepKind::Route,
        action: StepAction::Forward,
        rule: if r.connected {
            None
        } else {
            Some(r.id.clone())
        },
        detail: Detail::DeviceRoute {
            dev,
            dst,
            destination: r.destination,
            tunnel: r.tunnel,
            gateway: r.gateway,
            out_iface: r.out_iface,
        },
    }
}

/// First-match evaluation of one chain, as iptables does; None when the device has no
/// such chain. (The one implementation is [`filter_decide_in`], which can also narrow a
/// region.)
pub fn filter_decide(
    dev: &Device,
    chain: ChainKind,
    in_iface: Option<usize>,
    out_iface: Option<usize>,
    pkt: Packet,
) -> Option<(Option<usize>, Action)> {
    filter_decide_in(
        dev,
        chain,
        in_iface,
        out_iface,
        pkt,
        &mut Narrow::off(),
        None,
    )
}

/// NAT lookup of one stage (destination NAT on arrival, source NAT on departure): the
/// first rule of that stage that matches decides; `no_nat` ends the lookup untranslated.
/// Returns the rule and the translated packet. (The one implementation is
/// [`nat_lookup_in`], which can also narrow a region.)
pub fn nat_lookup(
    dev: &Device,
    stage: NatAction,
    pkt: Packet,
    in_iface: Option<usize>,
    out_iface: Option<usize>,
) -> Option<(usize, Packet)> {
    nat_lookup_in(dev, stage, pkt, in_iface, out_iface, &mut Narrow::off())
}

/// The packet as rule `r` translates it; None for no-NAT (or nothing to translate to).
fn nat_translate(
    dev: &Device,
    r: &crate::model::NatRule,
    pkt: Packet,
    out_iface: Option<usize>,
) -> Option<Packet> {
    let mut out = pkt;
    match (r.action, &r.to) {
        (NatAction::SourceNat, NatTo::Interface) => out.src = dev.interfaces[out_iface?].addr,
        (NatAction::SourceNat, NatTo::Addr(a)) => out.src = *a,
        (NatAction::DestinationNat, NatTo::Addr(a)) => {
            out.dst = *a;
            if let (Some(p), Some(_)) = (r.to_port, out.dst_port) {
                out.dst_port = Some(p);
            }
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
fn nat_exempt(dev: &Device, pkt: Packet, out_iface: Option<usize>) -> Option<usize> {
    nat_exempt_in(dev, pkt, out_iface, &mut Narrow::off())
}

/// VPN gateway routing: policy routes in priority order (first match on source and
/// destination), then destination routes by longest prefix (first listed among equal
/// prefixes). Narrows the region to the packets routed the same way.
pub fn vpn_route_lookup_in<'m>(
    m: &'m Model,
    idx: &Index,
    g: usize,
    pkt: Packet,
    nw: &mut Narrow,
) -> Option<(&'m crate::model::VpnRoute, &'static str)> {
    let gw = &m.vpn_gateways[g];
    let x = vals(pkt);
    for r in &gw.policy_routes {
        let Some(src) = r.source else { continue };
        if rule_on(
            nw,
            x,
            &[Cond::net(F::Src, src), Cond::net(F::Dst, r.destination)],
        ) {
            return Some((r, "policy"));
        }
    }
    idx.vpn_dest[g]
        .lookup_on(nw, F::Dst, x[1])
        .map(|f| (&gw.destination_routes[f.3], "destination"))
}

/// Conditions of a filter rule that do not depend on addresses or ports. A port condition
/// on a packet without ports (ICMP, GRE) holds only when it is `any`.
fn filter_const_ok(
    r: &crate::model::FilterRule,
    pkt: Packet,
    in_iface: Option<usize>,
    out_iface: Option<usize>,
) -> bool {
    rule_fits(r, pkt.protocol)
        && (r.in_interface.is_none() || r.in_interface == in_iface)
        && (r.out_interface.is_none() || r.out_interface == out_iface)
}

/// [`filter_decide`], narrowing the region to packets the chain treats the same. An
/// accept is kept an accept, by whichever rule: an accept rule before the deciding one
/// does not narrow (a packet it takes goes on exactly as the packet traced), and neither
/// does any accept rule under an accepting default.
/// `candidates` (from `Index::chain_rules`) are the rules that can match the packet's
/// protocol and incoming interface; without them every rule is tried. A rule whose
/// addresses miss the region's (or, without a region, the packet's) is skipped: it
/// matches no packet there, so it neither decides nor cuts.
pub fn filter_decide_in(
    dev: &Device,
    chain: ChainKind,
    in_iface: Option<usize>,
    out_iface: Option<usize>,
    pkt: Packet,
    nw: &mut Narrow,
    candidates: Option<&[RuleSpan]>,
) -> Option<(Option<usize>, Action)> {
    let c = dev.filter.as_ref()?.chain(chain)?;
    let x = vals(pkt);
    let all;
    let order: &[RuleSpan] = match candidates {
        Some(v) => v,
        None => {
            all = c
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| RuleSpan::of(i, r))
                .collect::<Vec<_>>();
            &all
        }
    };
    // The range each address field spans over the region (its value when constant).
    let (s, d) = (nw.range(F::Src, x[0]), nw.range(F::Dst, x[1]));
    // Accept rules passed over: they narrow only if the verdict is a drop.
    let mut accepts: smallvec::SmallVec<[Conds; 8]> = smallvec::SmallVec::new();
    let narrowing = nw.region.is_some();
    let verdict = |nw: &mut Narrow, accepts: &[Conds], action: Action| {
        if action != Action::Accept {
            for conds in accepts {
                rule_on(nw, x, conds);
            }
        }
    };
    for span in order {
        if span.src.1 < s.0 || span.src.0 > s.1 || span.dst.1 < d.0 || span.dst.0 > d.1 {
            continue;
        }
        let i = span.rule as usize;
        let r = &c.rules[i];
        if !filter_const_ok(r, pkt, in_iface, out_iface) {
            continue;
        }
        let mut conds = Conds::default();
        if let Some(n) = r.source {
            conds.push(Cond::net(F::Src, n));
        }
        if let Some(n) = r.destination {
            conds.push(Cond::net(F::Dst, n));
        }
        if pkt.protocol.has_ports() {
            if !r.source_ports.is_any() {
                conds.push(Cond::ports(F::Sport, r.source_ports));
            }
            if !r.destination_ports.is_any() {
                conds.push(Cond::ports(F::Dport, r.destination_ports));
            }
        }
        if narrowing
            && r.action == Action::Accept
            && !conds.iter().all(|c| c.holds(x[c.f as usize]))
        {
            accepts.push(conds);
            continue;
        }
        if rule_on(nw, x, &conds) {
            verdict(nw, &accepts, r.action);
            return Some((Some(i), r.action));
        }
    }
    verdict(nw, &accepts, c.default);
    Some((None, c.default))
}

fn nat_conds(r: &crate::model::NatRule, pkt: Packet) -> Conds {
    let mut conds = Conds::default();
    if let Some(n) = r.source {
        conds.push(Cond::net(F::Src, n));
    }
    if let Some(n) = r.destination {
        conds.push(Cond::net(F::Dst, n));
    }
    if pkt.protocol.has_ports() && !r.destination_ports.is_any() {
        conds.push(Cond::ports(F::Dport, r.destination_ports));
    }
    conds
}

fn nat_const_ok(
    r: &crate::model::NatRule,
    pkt: Packet,
    in_iface: Option<usize>,
    out_iface: Option<usize>,
) -> bool {
    r.protocol.matches(pkt.protocol)
        && (pkt.protocol.has_ports() || r.destination_ports.is_any())
        && (r.in_interface.is_none() || r.in_interface == in_iface)
        && (r.out_interface.is_none() || r.out_interface == out_iface)
}

/// [`nat_lookup`], narrowing the region to packets the NAT table treats the same.
pub fn nat_lookup_in(
    dev: &Device,
    stage: NatAction,
    pkt: Packet,
    in_iface: Option<usize>,
    out_iface: Option<usize>,
    nw: &mut Narrow,
) -> Option<(usize, Packet)> {
    let x = vals(pkt);
    for (i, r) in dev.nat.iter().enumerate() {
        let applies = match (stage, r.action) {
            (NatAction::DestinationNat, NatAction::DestinationNat) => true,
            (NatAction::SourceNat, NatAction::SourceNat) => true,
            // A no-NAT rule ends the lookup of the stage it can belong to: source NAT when
            // it names an outgoing interface or no interface, destination NAT when it
            // names an incoming one.
            (NatAction::SourceNat, NatAction::NoNat) => r.in_interface.is_none(),
            (NatAction::DestinationNat, NatAction::NoNat) => r.in_interface.is_some(),
            _ => false,
        };
        if !applies || !nat_const_ok(r, pkt, in_iface, out_iface) {
            continue;
        }
        if rule_on(nw, x, &nat_conds(r, pkt)) {
            // The first match decides: a translation, or none for a no-NAT rule.
            return nat_translate(dev, r, pkt, out_iface).map(|out| (i, out));
        }
    }
    None
}

/// [`nat_exempt`], narrowing the region.
pub(crate) fn nat_exempt_in(
    dev: &Device,
    pkt: Packet,
    out_iface: Option<usize>,
    nw: &mut Narrow,
) -> Option<usize> {
    let x = vals(pkt);
    for (i, r) in dev.nat.iter().enumerate() {
        if r.in_interface.is_some()
            || !matches!(r.action, NatAction::SourceNat | NatAction::NoNat)
            || !nat_const_ok(r, pkt, None, out_iface)
        {
            continue;
        }
        if rule_on(nw, x, &nat_conds(r, pkt)) {
            return (r.action == NatAction::NoNat).then_some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::trace::*;
    use crate::model;
    use crate::model::rules::VrRoute;
    use crate::net::addr::Protocol;
    use ipnet::Ipv4Net;

    /// `route_lookup` (the documented rule, used for a device's own source address) and
    /// the indexed lookup the tracer runs agree on every example topology, around every
    /// prefix boundary.
    #[test]
    fn indexed_lookups_agree_with_the_plain_rules() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let m = model::load(&path).unwrap();
            let idx = Index::build(&m);
            let mut probes: Vec<u32> = vec![0, u32::MAX];
            let mut add = |n: Ipv4Net| {
                let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                probes.extend([
                    lo,
                    hi,
                    lo.wrapping_sub(1),
                    hi.wrapping_add(1),
                    lo + (hi - lo) / 2,
                ]);
            };
            m.vswitches.iter().for_each(|v| add(v.cidr));
            m.route_tables
                .iter()
                .flat_map(|t| &t.entries)
                .for_each(|e| add(e.destination));
            m.vpn_gateways
                .iter()
                .flat_map(|g| &g.destination_routes)
                .for_each(|r| add(r.destination));
            m.devices
                .iter()
                .flat_map(|d| {
                    d.routes
                        .iter()
                        .map(|r| r.destination)
                        .chain(d.interfaces.iter().map(|f| f.net))
                })
                .for_each(&mut add);
            for &v in &probes {
                let a = Ipv4Addr::from(v);
                for (d, dev) in m.devices.iter().enumerate() {
                    let (choices, index) = &*idx.dev_routes[d];
                    assert_eq!(
                        route_lookup(dev, a),
                        index.lookup(v).map(|x| choices[x.3].clone()),
                        "{}: {} {a}",
                        path.display(),
                        dev.id
                    );
                }
            }
        }
    }

    /// VRouter: longest prefix; at equal prefix a vSwitch system route beats an entry,
    /// which beats a published VPN route; published routes reach the system table only.
    #[test]
    fn vrouter_ties_and_publication() {
        let m = m(r#"{"format":1,"name":"vr","cloud":{
          "vpc":{"id":"vpc","cidrs":["10.0.0.0/16"]},
          "vswitches":[{"id":"vsw-a","cidr":"10.0.1.0/24"},{"id":"vsw-b","cidr":"10.0.2.0/24","route_table":"custom"}],
          "route_tables":[
            {"id":"sys","system":true,"entries":[
              {"id":"shadowed","destination":"10.0.1.0/24","next_hop":{"type":"blackhole"}},
              {"id":"to-nat","destination":"192.168.0.0/24","next_hop":{"type":"nat_gateway","id":"ngw"}}]},
            {"id":"custom","entries":[]}],
          "vpn_gateways":[{"id":"vpn","public_ip":"47.0.0.1","routes":[
            {"id":"pub-192","type":"destination","destination":"192.168.0.0/24","next_hop":"vco","publish_to_vpc":true},
            {"id":"pub-172","type":"destination","destination":"172.16.0.0/16","next_hop":"vco","publish_to_vpc":true}]}],
          "customer_gateways":[{"id":"cgw","ip":"203.0.113.1"}],
          "ipsec_connections":[{"id":"vco","vpn_gateway":"vpn","customer_gateway":"cgw","local_subnets":["10.0.0.0/16"],"remote_subnets":["172.16.0.0/16","192.168.0.0/24"]}]}}"#);
        let idx = Index::build(&m);
        let look = |t: usize, a: &str| idx.vrouter[t].lookup(u32::from(ip(a))).map(|x| x.3);
        assert_eq!(
            look(0, "10.0.1.9"),
            Some(VrRoute::System(0)),
            "system route wins the tie"
        );
        assert_eq!(
            look(0, "192.168.0.9"),
            Some(VrRoute::Entry(1)),
            "an entry wins over a published route"
        );
        assert_eq!(
            look(0, "172.16.3.3"),
            Some(VrRoute::Published { vgw: 0, route: 1 })
        );
        assert_eq!(
            look(1, "172.16.3.3"),
            None,
            "published routes reach the system table only"
        );
        assert_eq!(
            look(1, "10.0.1.9"),
            Some(VrRoute::System(0)),
            "every table routes every vSwitch"
        );
    }

    fn m(s: &str) -> Model {
        let t = model::parse("t.json", s).unwrap();
        model::lower("t.json", &t).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    const SG: &str = r#"{"format":1,"name":"sg","cloud":{
      "vpc":{"id":"vpc","cidrs":["10.0.0.0/16"]},
      "vswitches":[{"id":"vsw","cidr":"10.0.1.0/24"}],
      "route_tables":[{"id":"vtb","entries":[]}],
      "security_groups":[
        {"id":"sg-a","rules":[
          {"id":"acc-22","direction":"ingress","policy":"accept","priority":10,"protocol":"tcp","ports":"22","peer":"192.168.0.0/16"},
          {"id":"drop-22","direction":"ingress","policy":"drop","priority":10,"protocol":"tcp","ports":"22","peer":"192.168.5.0/24"},
          {"id":"acc-all-5","direction":"ingress","policy":"accept","priority":5,"protocol":"all","peer":"192.168.9.0/24"}]},
        {"id":"sg-b","rules":[]},
        {"id":"sg-e","type":"enterprise","rules":[]}],
      "instances":[
        {"id":"a","ip":"10.0.1.10","vswitch":"vsw","security_groups":["sg-a"]},
        {"id":"b1","ip":"10.0.1.11","vswitch":"vsw","security_groups":["sg-b"]},
        {"id":"b2","ip":"10.0.1.12","vswitch":"vsw","security_groups":["sg-b"]},
        {"id":"e1","ip":"10.0.1.13","vswitch":"vsw","security_groups":["sg-e"]},
        {"id":"e2","ip":"10.0.1.14","vswitch":"vsw","security_groups":["sg-e"]}]}}"#;

    #[test]
    fn security_group_priority_then_drop_wins_ties() {
        let m = m(SG);
        let tcp = |s: &str, p| Packet::new(ip(s), ip("10.0.1.10"), Protocol::Tcp, 40000, p);
        let v = sg_decide(&m, 0, Direction::Ingress, tcp("192.168.1.1", 22));
        assert!(v.accept);
        assert_eq!(v.rule_id(&m).as_deref(), Some("acc-22"));
        // Same priority 10: the drop for 192.168.5.0/24 wins over the accept.
        let v = sg_decide(&m, 0, Direction::Ingress, tcp("192.168.5.1", 22));
        assert!(!v.accept);
        assert_eq!(v.rule_id(&m).as_deref(), Some("drop-22"));
        // Priority 5 beats priority 10.
        assert!(sg_decide(&m, 0, Direction::Ingress, tcp("192.168.9.1", 80)).accept);
        // No rule: basic denies ingress, allows egress.
        let v = sg_decide(&m, 0, Direction::Ingress, tcp("172.16.0.1", 22));
        assert!(!v.accept && v.rule.is_none());
        assert!(sg_decide(&m, 0, Direction::Egress, tcp("10.0.1.10", 22).reversed()).accept);
    }

    #[test]
    fn basic_inner_access_and_enterprise_defaults() {
        let m = m(SG);
        let p = Packet::new(ip("10.0.1.12"), ip("10.0.1.11"), Protocol::Icmp, 0, 0);
        let v = sg_decide(&m, 1, Direction::Ingress, p);
        assert!(v.accept && v.inner);
        // Enterprise groups: no inner access, egress denied by default.
        let p = Packet::new(ip("10.0.1.14"), ip("10.0.1.13"), Protocol::Icmp, 0, 0);
        assert!(!sg_decide(&m, 3, Direction::Ingress, p).accept);
        assert!(!sg_decide(&m, 3, Direction::Egress, p.reversed()).accept);
    }

    fn dev(routes: &str) -> Model {
        m(&format!(
            r#"{{"format":1,"name":"r","cloud":{{"vpc":{{"id":"v","cidrs":["10.0.0.0/16"]}}}},
          "onprem":{{"devices":[{{"id":"r1","kind":"router","interfaces":[
            {{"name":"eth0","address":"192.168.0.1/24"}},{{"name":"eth1","address":"192.168.1.1/24"}}],
            "routes":{routes}}}]}}}}"#
        ))
    }

    #[test]
    fn longest_prefix_then_connected_then_first_listed() {
        let m = dev(r#"[
            {"id":"wide","destination":"10.0.0.0/8","gateway":"192.168.0.254"},
            {"id":"narrow","destination":"10.1.0.0/16","gateway":"192.168.1.254"},
            {"id":"narrow-2","destination":"10.1.0.0/16","gateway":"192.168.0.253"},
            {"id":"shadowed","destination":"192.168.1.0/24","gateway":"192.168.0.9"}]"#);
        let d = &m.devices[0];
        assert_eq!(route_lookup(d, ip("10.2.0.1")).unwrap().id, "wide");
        assert_eq!(route_lookup(d, ip("10.1.0.1")).unwrap().id, "narrow");
        let r = route_lookup(d, ip("192.168.1.7")).unwrap();
        assert!(
            r.connected,
            "connected subnet wins over a listed route of the same prefix"
        );
        assert!(route_lookup(d, ip("8.8.8.8")).is_none());
    }

    #[test]
    fn filter_is_ordered_first_match() {
        let m = m(
            r#"{"format":1,"name":"f","cloud":{"vpc":{"id":"v","cidrs":["10.0.0.0/16"]}},
          "onprem":{"devices":[{"id":"fw","kind":"firewall","interfaces":[{"name":"in","address":"192.168.0.1/24"},{"name":"out","address":"192.168.1.1/24"}],
            "filter":{"forward":{"default":"drop","rules":[
              {"id":"drop-half","action":"drop","source":"10.0.1.128/25"},
              {"id":"acc","action":"accept","source":"10.0.1.0/24","protocol":"tcp","destination_ports":"3306","in_interface":"out"}]}}}]}}"#,
        );
        let d = &m.devices[0];
        let p = |s: &str| Packet::new(ip(s), ip("192.168.0.5"), Protocol::Tcp, 40000, 3306);
        assert_eq!(
            filter_decide(d, ChainKind::Forward, Some(1), Some(0), p("10.0.1.200")),
            Some((Some(0), Action::Drop))
        );
        assert_eq!(
            filter_decide(d, ChainKind::Forward, Some(1), Some(0), p("10.0.1.20")),
            Some((Some(1), Action::Accept))
        );
        // Wrong incoming interface: falls through to the default.
        assert_eq!(
            filter_decide(d, ChainKind::Forward, Some(0), Some(1), p("10.0.1.20")),
            Some((None, Action::Drop))
        );
        assert_eq!(
            filter_decide(d, ChainKind::Input, None, None, p("10.0.1.20")),
            None
        );
    }

    #[test]
    fn no_nat_ends_the_source_nat_lookup() {
        let m = m(
            r#"{"format":1,"name":"n","cloud":{"vpc":{"id":"v","cidrs":["192.168.1.0/24"]}},
          "onprem":{"devices":[{"id":"usg","kind":"gateway","interfaces":[{"name":"GE0","address":"192.168.0.1/24"},{"name":"Dialer0","address":"203.0.113.10/24","role":"outside"}],
            "nat":[{"id":"policy 0","action":"no_nat","source":"192.168.0.0/24","destination":"192.168.1.0/24"},
                   {"id":"policy 1","action":"source_nat","source":"192.168.0.0/24","out_interface":"Dialer0","to":"interface"}]}]}}"#,
        );
        let d = &m.devices[0];
        let to_vpc = Packet::new(ip("192.168.0.20"), ip("192.168.1.10"), Protocol::Icmp, 0, 0);
        assert_eq!(
            nat_lookup(d, NatAction::SourceNat, to_vpc, None, Some(1)),
            None
        );
        assert_eq!(nat_exempt(d, to_vpc, Some(1)), Some(0));
        let to_web = Packet::new(ip("192.168.0.20"), ip("8.8.8.8"), Protocol::Icmp, 0, 0);
        let (r, out) = nat_lookup(d, NatAction::SourceNat, to_web, None, Some(1)).unwrap();
        assert_eq!((r, out.src), (1, ip("203.0.113.10")));
    }
}
