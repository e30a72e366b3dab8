//! `check`: complete two-way reachability of every connection, with verified fixes.
//!
//! For each IPsec connection, the local (VPC) and remote (IDC) address spaces that exist
//! are cut into atomic intervals at every boundary any prefix of the topology draws
//! (routes, rules, selectors, NAT entries, vSwitches, subnets, endpoint addresses); likewise
//! protocols and ports are cut into classes at every port range a rule names. No rule can
//! tell two addresses of one interval (or two ports of one class) apart, so tracing one
//! representative per (source interval, destination interval, service class) in both
//! initiation directions decides every packet. Failures are grouped by cause and merged
//! back into exact CIDR lists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::addr::{AddrSet, Ports, Protocol};
use crate::cause::{Cause, Traffic};
use crate::finding::{Finding, FlowDirection, Severity};
use crate::input;
use crate::model::{Model, SgPeer};
use crate::trace::{self, Packet};

/// Source port used for the forward packet when no rule distinguishes source ports.
pub const EPHEMERAL_PORT: u16 = 40000;

/// One service class: a protocol and a destination/source port representative, with the
/// range of ports it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Service {
    pub protocol: Protocol,
    pub dst: Ports,
    pub src: Ports,
}

impl Service {
    pub fn describe(&self) -> String {
        if self.protocol.has_ports() {
            let mut s = format!("{}/{}", self.protocol, self.dst);
            if !self.src.is_any() {
                s.push_str(&format!(" from port {}", self.src));
            }
            s
        } else {
            self.protocol.to_string()
        }
    }
}

/// Per connection and direction: how many subnet pairs work.
#[derive(Clone, Debug, Serialize)]
pub struct PairSummary {
    pub connection: String,
    pub direction: FlowDirection,
    pub pairs_total: usize,
    pub pairs_working: usize,
    pub failing_pairs: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
    pub summary: Vec<PairSummary>,
    /// Classes traced (source interval × destination interval × service × direction).
    pub classes_traced: usize,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.is_error())
    }
}

/// Address classes: the sorted breakpoints of every prefix the topology names.
fn breakpoints(m: &Model) -> Vec<u32> {
    let mut b: BTreeSet<u64> = BTreeSet::new();
    let mut add = |n: ipnet::Ipv4Net| {
        let n = n.trunc();
        b.insert(u64::from(u32::from(n.network())));
        b.insert(u64::from(u32::from(n.broadcast())) + 1);
    };
    let host = |a: Ipv4Addr| ipnet::Ipv4Net::new(a, 32).expect("/32");
    for v in &m.vswitches {
        add(v.cidr);
    }
    for t in &m.route_tables {
        for e in &t.entries {
            add(e.destination);
        }
    }
    for g in &m.security_groups {
        for r in &g.rules {
            if let SgPeer::Cidr(n) = r.peer {
                add(n);
            }
        }
    }
    for i in &m.instances {
        add(host(i.ip));
    }
    for g in &m.vpn_gateways {
        for r in g.policy_routes.iter().chain(&g.destination_routes) {
            add(r.destination);
            if let Some(s) = r.source {
                add(s);
            }
        }
    }
    for c in &m.connections {
        for x in c.local_subnets.iter().chain(&c.remote_subnets) {
            add(x.network());
        }
        for s in &c.sas {
            for x in s.local_cidrs.iter().chain(&s.remote_cidrs) {
                add(x.network());
            }
        }
    }
    for d in &m.devices {
        for f in &d.interfaces {
            add(f.net);
            add(host(f.addr));
        }
        for r in &d.routes {
            add(r.destination);
        }
        if let Some(f) = &d.filter {
            for c in [&f.input, &f.forward, &f.output].into_iter().flatten() {
                for r in &c.rules {
                    r.source.map(&mut add);
                    r.destination.map(&mut add);
                }
            }
        }
        for r in &d.nat {
            r.source.map(&mut add);
            r.destination.map(&mut add);
            if let crate::model::NatTo::Addr(a) = r.to {
                add(host(a));
            }
        }
        for e in &d.ipsec {
            for x in e.local_subnets.iter().chain(&e.remote_subnets) {
                add(x.network());
            }
            for s in &e.sas {
                for x in s.local_cidrs.iter().chain(&s.remote_cidrs) {
                    add(x.network());
                }
            }
        }
    }
    b.into_iter()
        .filter(|&x| x <= u64::from(u32::MAX))
        .map(|x| x as u32)
        .collect()
}

/// Cut a set into atomic intervals at the breakpoints.
fn atoms(set: &AddrSet, bps: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for (lo, hi) in set.intervals() {
        let mut cur = lo;
        // First breakpoint strictly above `cur`.
        let mut i = bps.partition_point(|&b| b <= cur);
        loop {
            let next = bps.get(i).copied();
            match next {
                Some(n) if n <= hi => {
                    out.push((cur, n - 1));
                    cur = n;
                    i += 1;
                }
                _ => {
                    out.push((cur, hi));
                    break;
                }
            }
        }
    }
    out
}

/// Service classes: every protocol, with destination ports cut at every range a rule
/// names for it, and source ports cut where a filter rule names source ports.
pub fn services(m: &Model) -> Vec<Service> {
    let mut dst_cuts: BTreeMap<Protocol, BTreeSet<u32>> = BTreeMap::new();
    let mut src_cuts: BTreeMap<Protocol, BTreeSet<u32>> = BTreeMap::new();
    let cut = |map: &mut BTreeMap<Protocol, BTreeSet<u32>>, p: Protocol, ports: Ports| {
        if ports.is_any() {
            return;
        }
        for proto in [Protocol::Tcp, Protocol::Udp] {
            if p.matches(proto) {
                let e = map.entry(proto).or_default();
                e.insert(u32::from(ports.lo));
                e.insert(u32::from(ports.hi) + 1);
            }
        }
    };
    for g in &m.security_groups {
        for r in &g.rules {
            cut(&mut dst_cuts, r.protocol, r.ports);
        }
    }
    for d in &m.devices {
        if let Some(f) = &d.filter {
            for c in [&f.input, &f.forward, &f.output].into_iter().flatten() {
                for r in &c.rules {
                    cut(&mut dst_cuts, r.protocol, r.destination_ports);
                    // A source-port rule on the forward flow, or a destination-port rule
                    // matching replies (whose destination port is the forward source port).
                    cut(&mut src_cuts, r.protocol, r.source_ports);
                    cut(&mut src_cuts, r.protocol, r.destination_ports);
                }
            }
        }
        for r in &d.nat {
            cut(&mut dst_cuts, r.protocol, r.destination_ports);
        }
    }
    let classes = |cuts: Option<&BTreeSet<u32>>| -> Vec<Ports> {
        let mut pts: Vec<u32> = vec![0];
        if let Some(c) = cuts {
            pts.extend(c.iter().copied().filter(|&x| x > 0 && x <= 65535));
        }
        pts.push(65536);
        pts.dedup();
        pts.windows(2)
            .map(|w| Ports {
                lo: w[0] as u16,
                hi: (w[1] - 1) as u16,
            })
            .collect()
    };
    let mut out = Vec::new();
    for p in Protocol::CONCRETE {
        if p.has_ports() {
            // Source ports below 1024 are not used by clients; start the ephemeral class at 1024.
            let srcs: Vec<Ports> = classes(src_cuts.get(&p))
                .into_iter()
                .filter(|c| c.hi >= 1024)
                .collect();
            for d in classes(dst_cuts.get(&p)) {
                for s in &srcs {
                    out.push(Service {
                        protocol: p,
                        dst: d,
                        src: Ports {
                            lo: s.lo.max(1024),
                            hi: s.hi,
                        },
                    });
                }
            }
        } else {
            out.push(Service {
                protocol: p,
                dst: Ports::ANY,
                src: Ports::ANY,
            });
        }
    }
    out
}

fn rep_port(p: Ports, preferred: u16) -> u16 {
    if p.contains(preferred) {
        preferred
    } else {
        p.lo
    }
}

/// Addresses that exist on each side: vSwitch CIDRs on the cloud side; subnets connected
/// to IDC devices' inside interfaces on the other (a subnet only routed, with no device
/// on it, has no host to trace from) (the VPC's own space excluded). Addresses of
/// network devices (not hosts) are excluded: their own traffic takes an interface's
/// address as its source and is not traffic through the VPN.
fn existing_space(m: &Model) -> (AddrSet, AddrSet, AddrSet) {
    let cloud = AddrSet::from_nets(m.vswitches.iter().map(|v| v.cidr));
    let mut idc_nets = Vec::new();
    let mut infra = Vec::new();
    for d in &m.devices {
        for f in &d.interfaces {
            if f.role == input::Role::Inside {
                idc_nets.push(f.net);
            }
            if d.kind != input::DeviceKind::Host {
                infra.push(ipnet::Ipv4Net::new(f.addr, 32).expect("/32"));
            }
        }
    }
    let infra = AddrSet::from_nets(infra);
    let idc = AddrSet::from_nets(idc_nets).minus(&m.vpc_set).minus(&infra);
    (cloud, idc, infra)
}

#[derive(Clone, Debug)]
struct Failure {
    cause: Cause,
    dir: FlowDirection,
    conn: usize,
    src: (u32, u32),
    dst: (u32, u32),
    svc: Service,
}

/// The result of tracing one class both ways.
fn trace_class(m: &Model, dir: FlowDirection, s: u32, d: u32, svc: Service) -> trace::Trace {
    let src = Ipv4Addr::from(s);
    let dst = Ipv4Addr::from(d);
    // Class addresses lie on a vSwitch or a connected IDC subnet, so an endpoint exists;
    // fall back to the VPC's first vSwitch rather than panic.
    let from = trace::endpoint_for_addr(m, src).unwrap_or(trace::Endpoint::CloudHost {
        addr: src,
        vswitch: 0,
    });
    let pkt = Packet::new(
        src,
        dst,
        svc.protocol,
        rep_port(svc.src, EPHEMERAL_PORT),
        rep_port(svc.dst, svc.dst.lo),
    );
    let _ = dir;
    trace::trace_packet(m, &from, pkt, src.to_string(), dst.to_string())
}

/// Run every reachability class of every connection. Returns failures and per-pair
/// results.
type Reach = (
    Vec<Failure>,
    Vec<PairSummary>,
    usize,
    Vec<Finding>,
    BTreeSet<(usize, FlowDirection, (u32, u32), (u32, u32))>,
    AddrSet,
);

fn reach(m: &Model) -> Reach {
    let bps = breakpoints(m);
    let svcs = services(m);
    let (cloud_space, idc_space, infra) = existing_space(m);
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    let mut warnings = Vec::new();
    let mut count = 0;
    let mut passed = BTreeSet::new();
    for (ci, c) in m.connections.iter().enumerate() {
        let local = c.local_set.intersect(&cloud_space);
        let remote = c.remote_set.intersect(&idc_space);
        let unused_l = c.local_set.minus(&cloud_space);
        let unused_r = c.remote_set.minus(&idc_space).minus(&infra);
        if !unused_l.is_empty() || !unused_r.is_empty() {
            let held = |cfg: &AddrSet, held: &AddrSet, what: &str| {
                if held.is_empty() {
                    format!("nothing of the {what} subnets {}", cfg.display_list())
                } else {
                    format!(
                        "of the {what} subnets {} only {}",
                        cfg.display_list(),
                        held.display_list()
                    )
                }
            };
            let mut w = Finding::warning(
                "CONNECTION_SPACE_UNUSED",
                if c.local_subnets.len() * c.remote_subnets.len() > 1 { 5 } else { 3 },
                format!(
                    "connection {} is configured for more address space than the topology holds: {} lie on vSwitches, and {} on IDC subnets; only that space was analysed",
                    c.id,
                    held(&c.local_set, &local, "local"),
                    held(&c.remote_set, &remote.union(&infra.intersect(&c.remote_set)), "remote")
                ),
                "nothing to fix if the rest is reserved; otherwise model the vSwitches or IDC subnets that use it",
            )
            .with_connection(c.id.clone())
            .with_device(m.vpn_gateways[c.vpn_gateway].id.clone());
            w.direction = None;
            warnings.push(w);
        }
        let la = atoms(&local, &bps);
        let ra = atoms(&remote, &bps);
        for dir in [FlowDirection::CloudToOnprem, FlowDirection::OnpremToCloud] {
            let mut failing_pairs = BTreeSet::new();
            let (srcs, dsts) = match dir {
                FlowDirection::CloudToOnprem => (&la, &ra),
                FlowDirection::OnpremToCloud => (&ra, &la),
            };
            for &s in srcs {
                for &d in dsts {
                    for &svc in &svcs {
                        count += 1;
                        let t = trace_class(m, dir, s.0, d.0, svc);
                        if t.ok() {
                            passed.insert((ci, dir, s, d));
                        } else {
                            let cause = t.cause().cloned().unwrap_or(Cause::Loop {
                                device: String::new(),
                                hops: 0,
                            });
                            failures.push(Failure {
                                cause,
                                dir,
                                conn: ci,
                                src: s,
                                dst: d,
                                svc,
                            });
                            let (l, r) = if dir == FlowDirection::CloudToOnprem {
                                (s.0, d.0)
                            } else {
                                (d.0, s.0)
                            };
                            let lp = c
                                .local_subnets
                                .iter()
                                .find(|x| x.contains(Ipv4Addr::from(l)));
                            let rp = c
                                .remote_subnets
                                .iter()
                                .find(|x| x.contains(Ipv4Addr::from(r)));
                            if let (Some(lp), Some(rp)) = (lp, rp) {
                                failing_pairs.insert(format!("{} ⇄ {}", lp, rp));
                            }
                        }
                    }
                }
            }
            // Pairs that exist in the topology (both sides hold addresses).
            let mut total = 0;
            for lp in &c.local_subnets {
                for rp in &c.remote_subnets {
                    let l_ok = !AddrSet::from_cidrs([lp]).intersect(&local).is_empty();
                    let r_ok = !AddrSet::from_cidrs([rp]).intersect(&remote).is_empty();
                    if l_ok && r_ok {
                        total += 1;
                    }
                }
            }
            summary.push(PairSummary {
                connection: c.id.clone(),
                direction: dir,
                pairs_total: total,
                pairs_working: total.saturating_sub(failing_pairs.len()),
                failing_pairs: failing_pairs.into_iter().collect(),
            });
        }
    }
    (failures, summary, count, warnings, passed, infra)
}

fn set_of(intervals: impl IntoIterator<Item = (u32, u32)>) -> AddrSet {
    let mut s = AddrSet::new();
    for (lo, hi) in intervals {
        s = s.union(&AddrSet::from_range(lo, hi));
    }
    s
}

/// Merge a list of service classes into the lines an engineer reads.
fn describe_services(all: &[Service], failing: &BTreeSet<Service>) -> Vec<String> {
    if failing.len() == all.len() {
        return vec!["all".into()];
    }
    let mut out = Vec::new();
    for p in Protocol::CONCRETE {
        let of_p: Vec<&Service> = all.iter().filter(|s| s.protocol == p).collect();
        let f: Vec<&Service> = of_p
            .iter()
            .copied()
            .filter(|s| failing.contains(s))
            .collect();
        if f.is_empty() {
            continue;
        }
        if f.len() == of_p.len() {
            out.push(p.to_string());
            continue;
        }
        // Merge adjacent destination-port ranges (ignoring source-port splits when every
        // source class of a destination class fails).
        let mut ranges: Vec<(u16, u16)> = Vec::new();
        let mut partial = Vec::new();
        let dsts: BTreeSet<Ports> = f.iter().map(|s| s.dst).collect();
        for d in dsts {
            let all_src = of_p
                .iter()
                .filter(|s| s.dst == d)
                .all(|s| failing.contains(s));
            if all_src {
                match ranges.last_mut() {
                    Some(r) if u32::from(r.1) + 1 == u32::from(d.lo) => r.1 = d.hi,
                    _ => ranges.push((d.lo, d.hi)),
                }
            } else {
                for s in f.iter().filter(|s| s.dst == d) {
                    partial.push(s.describe());
                }
            }
        }
        for (lo, hi) in ranges {
            out.push(
                Service {
                    protocol: p,
                    dst: Ports { lo, hi },
                    src: Ports::ANY,
                }
                .describe(),
            );
        }
        out.extend(partial);
    }
    out
}

/// Known endpoints inside the sets.
fn endpoints_in(m: &Model, src: &AddrSet, dst: &AddrSet) -> Vec<String> {
    let mut v = Vec::new();
    for set in [src, dst] {
        for i in &m.instances {
            if set.contains(i.ip) {
                v.push(format!("{} ({})", i.id, i.ip));
            }
        }
        for d in &m.devices {
            if d.kind == input::DeviceKind::Host {
                if let Some(f) = d.interfaces.iter().find(|f| set.contains(f.addr)) {
                    v.push(format!("{} ({})", d.id, f.addr));
                }
            }
        }
    }
    v.dedup();
    v
}

/// Group failures into findings with exact source/destination lists.
fn findings_from(
    m: &Model,
    failures: &[Failure],
    svcs: &[Service],
    passed: &BTreeSet<(usize, FlowDirection, (u32, u32), (u32, u32))>,
    infra: &AddrSet,
) -> Vec<(Finding, Vec<Failure>)> {
    // Key: what an engineer calls one problem.
    type Key = (
        u8,
        String,
        String,
        Option<String>,
        FlowDirection,
        bool,
        usize,
    );
    let mut groups: BTreeMap<Key, Vec<&Failure>> = BTreeMap::new();
    for f in failures {
        let key = (
            0,
            f.cause.code(m).to_string(),
            f.cause.device(m),
            f.cause.rule(m),
            f.dir,
            f.cause.is_reply(),
            f.conn,
        );
        groups.entry(key).or_default().push(f);
    }
    let mut out = Vec::new();
    for (key, fs) in groups {
        // (src atom, dst atom) → failing services.
        let mut by_pair: BTreeMap<((u32, u32), (u32, u32)), BTreeSet<Service>> = BTreeMap::new();
        for f in &fs {
            by_pair.entry((f.src, f.dst)).or_default().insert(f.svc);
        }
        // Same service set → rectangles: dst atom → src atoms; merge dst atoms with equal src sets.
        let mut by_svcset: BTreeMap<BTreeSet<Service>, BTreeMap<(u32, u32), BTreeSet<(u32, u32)>>> =
            BTreeMap::new();
        for ((s, d), set) in by_pair {
            by_svcset
                .entry(set)
                .or_default()
                .entry(d)
                .or_default()
                .insert(s);
        }
        for (svcset, dmap) in by_svcset {
            let mut rects: BTreeMap<BTreeSet<(u32, u32)>, Vec<(u32, u32)>> = BTreeMap::new();
            for (d, srcs) in dmap {
                rects.entry(srcs).or_default().push(d);
            }
            for (srcs, dsts) in rects {
                let src = tidy(&set_of(srcs.iter().copied()), infra);
                let dst = tidy(&set_of(dsts.iter().copied()), infra);
                let members: Vec<Failure> = fs
                    .iter()
                    .filter(|f| {
                        srcs.contains(&f.src) && dsts.contains(&f.dst) && svcset.contains(&f.svc)
                    })
                    .map(|f| (*f).clone())
                    .collect();
                let first = &members[0];
                let proto_set: BTreeSet<Protocol> = svcset.iter().map(|s| s.protocol).collect();
                let (protocol, dst_ports, src_ports) = if proto_set.len() == 1 {
                    let p = *proto_set.iter().next().unwrap();
                    let lo = svcset.iter().map(|s| s.dst.lo).min().unwrap();
                    let hi = svcset.iter().map(|s| s.dst.hi).max().unwrap();
                    let slo = svcset.iter().map(|s| s.src.lo).min().unwrap();
                    let shi = svcset.iter().map(|s| s.src.hi).max().unwrap();
                    (
                        p,
                        if p.has_ports() {
                            Ports { lo, hi }
                        } else {
                            Ports::ANY
                        },
                        if p.has_ports() {
                            Ports { lo: slo, hi: shi }
                        } else {
                            Ports::ANY
                        },
                    )
                } else {
                    (Protocol::All, Ports::ANY, Ports::ANY)
                };
                let reply = key.5;
                // A reply's traffic runs the other way.
                let traffic = if reply {
                    Traffic {
                        src: dst.clone(),
                        dst: src.clone(),
                        protocol,
                        dst_ports: src_ports,
                        src_ports: dst_ports,
                    }
                } else {
                    Traffic {
                        src: src.clone(),
                        dst: dst.clone(),
                        protocol,
                        dst_ports,
                        src_ports,
                    }
                };
                let mut f = first.cause.finding(m, Some(first.dir), &traffic);
                f.direction = Some(first.dir);
                f.connection = Some(m.connections[first.conn].id.clone());
                f.services = describe_services(svcs, &svcset);
                if f.services != ["all"] {
                    f.message = f.message.replacen(
                        "all traffic",
                        &format!("{} traffic", f.services.join(", ")),
                        1,
                    );
                }
                f.endpoints = endpoints_in(m, &src, &dst);
                if reply {
                    f.message.push_str(&format!(
                        " (flows started {} from {} to {})",
                        first.dir.arrow(),
                        src.display_list(),
                        dst.display_list()
                    ));
                }
                // A default deny for some services between addresses that other services
                // pass between is a port policy, not a broken VPN: a warning.
                let default_deny = matches!(
                    first.cause,
                    Cause::SgDrop { rule: None, .. } | Cause::FilterDrop { rule: None, .. }
                );
                if default_deny
                    && !reply
                    && members
                        .iter()
                        .all(|x| passed.contains(&(x.conn, x.dir, x.src, x.dst)))
                {
                    f.severity = Severity::Warning;
                    f.message.push_str("; other services between these addresses are allowed, so this looks like a port policy — open it only if these services are meant to work");
                }
                out.push((f, members));
            }
        }
    }
    out
}

/// Add the network devices' own addresses (never analysed) where that shortens the list:
/// the list still covers every failing address and no working one.
fn tidy(set: &AddrSet, infra: &AddrSet) -> AddrSet {
    // The prefixes of (set ∪ infra) that touch the set hold only set or infra addresses.
    let with = set.union(infra);
    let touching: Vec<crate::addr::Cidr> = with
        .cidrs()
        .into_iter()
        .filter(|c| !AddrSet::from_cidrs([c]).intersect(set).is_empty())
        .collect();
    let candidate = AddrSet::from_cidrs(&touching);
    if candidate.cidrs().len() < set.cidrs().len() {
        candidate
    } else {
        set.clone()
    }
}

/// Apply a finding's structured change to a copy of the topology.
pub fn apply_change(
    t: &input::Topology,
    change: &serde_json::Value,
    n: usize,
) -> Result<input::Topology, String> {
    crate::fix::apply(t, change, n)
}

/// `check` over a loaded model; `topo` is the same topology as written, used to apply
/// and verify fixes.
pub fn run(topo: &input::Topology, m: &Model) -> CheckReport {
    let svcs = services(m);
    let (failures, summary, count, warnings, passed, infra) = reach(m);
    let mut findings = Vec::new();
    for (mut f, members) in findings_from(m, &failures, &svcs, &passed, &infra) {
        if let Some(change) = f.change.clone() {
            let (verified, still) = verify(topo, &change, &members);
            f.verified = Some(verified);
            if let Some(after) = still {
                f.fix.push_str(&format!(
                    " — after this change part of this traffic still stops elsewhere: {after}"
                ));
            }
        }
        findings.push(f);
    }
    findings.extend(warnings);
    sort_findings(&mut findings);
    CheckReport {
        findings,
        summary,
        classes_traced: count,
    }
}

pub fn sort_findings(v: &mut [Finding]) {
    v.sort_by(|a, b| {
        (
            a.connection.clone(),
            a.faq,
            a.direction,
            a.severity,
            a.code,
            a.device.clone(),
            a.rule.clone(),
            a.source.clone(),
            a.destination.clone(),
        )
            .cmp(&(
                b.connection.clone(),
                b.faq,
                b.direction,
                b.severity,
                b.code,
                b.device.clone(),
                b.rule.clone(),
                b.source.clone(),
                b.destination.clone(),
            ))
    });
}

fn retrace_all(m: &Model, members: &[Failure]) -> Vec<trace::Trace> {
    members
        .iter()
        .map(|f| trace_class(m, f.dir, f.src.0, f.dst.0, f.svc))
        .collect()
}

/// Re-analyse with the fix applied. Verified when the finding's cause is gone from all of
/// its traffic and that traffic passes both ways — except where it now stops at another,
/// separately reported cause (named in the second value).
fn verify(
    topo: &input::Topology,
    change: &serde_json::Value,
    members: &[Failure],
) -> (bool, Option<String>) {
    let Ok(fixed) = apply_change(topo, change, 1) else {
        return (false, None);
    };
    let Ok(m2) = crate::model::lower("(fixed)", &fixed) else {
        return (false, None);
    };
    let mut other = BTreeSet::new();
    for (f, t) in members.iter().zip(retrace_all(&m2, members)) {
        if t.ok() {
            continue;
        }
        let Some(c) = t.cause() else {
            return (false, None);
        };
        if c.code(&m2) == f.cause.code(&m2) && c.device(&m2) == f.cause.device(&m2) {
            return (
                false,
                Some(format!(
                    "{} at {} (the fix did not remove it)",
                    c.code(&m2),
                    c.device(&m2)
                )),
            );
        }
        other.insert(format!(
            "{} at {}{}",
            c.code(&m2),
            c.device(&m2),
            c.rule(&m2)
                .map(|r| format!(", rule {r}"))
                .unwrap_or_default()
        ));
    }
    let still = if other.is_empty() {
        None
    } else {
        Some(other.into_iter().collect::<Vec<_>>().join("; "))
    };
    (true, still)
}

/// Apply every verified fix in turn; return the fixed topology.
pub fn write_fixed(
    topo: &input::Topology,
    report: &CheckReport,
) -> Result<input::Topology, String> {
    let mut t = topo.clone();
    let mut n = 0;
    for f in &report.findings {
        if let (Some(change), Some(true)) = (&f.change, f.verified) {
            n += 1;
            t = apply_change(&t, change, n)?;
        }
    }
    Ok(t)
}

/// Findings of every kind for `check`: settings (faq 1, 2), SA layout (5) and
/// reachability (3, 4, 5, 6).
pub fn check_all(topo: &input::Topology, m: &Model) -> CheckReport {
    let mut report = run(topo, m);
    report.findings.extend(settings_findings(topo));
    report.findings.extend(crate::salayout::check(m));
    sort_findings(&mut report.findings);
    report
}

/// Phase-1/phase-2 settings findings (faq 1, 2).
fn settings_findings(topo: &input::Topology) -> Vec<Finding> {
    crate::negotiation::compare(topo)
}

/// Severity ordering helper for renderers.
pub fn is_error(f: &Finding) -> bool {
    f.severity == Severity::Error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_split_at_every_boundary() {
        let set = AddrSet::from_cidrs(&["10.0.0.0/24".parse::<crate::addr::Cidr>().unwrap()]);
        let a = u32::from(Ipv4Addr::new(10, 0, 0, 0));
        let bps = vec![a + 128, a + 10, a + 11];
        let mut bps = bps;
        bps.sort();
        let at = atoms(&set, &bps);
        assert_eq!(
            at,
            vec![
                (a, a + 9),
                (a + 10, a + 10),
                (a + 11, a + 127),
                (a + 128, a + 255)
            ]
        );
    }
}
