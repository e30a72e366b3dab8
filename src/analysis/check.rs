//! `check`: complete two-way reachability of every connection, with verified fixes.
//!
//! For each IPsec connection, both initiation directions and each protocol, the space of
//! packets (every source address that exists on one side × every destination address on
//! the other × source ports × destination ports) is explored. Each side's addresses are
//! cut into atoms no prefix any decision names splits, and grouped by owners that are
//! interchangeable (same security groups, same kind of host). A source atom set × a
//! destination atom set × a source port set × a destination port set is explored by
//! tracing one packet of it: the tracer narrows the sets to the packets for which every
//! decision on the way
//! (routes, rules, NAT, SAs, the reply and its sessions) comes out the same (see
//! `region`), so all of them share the traced outcome. The rest is split into products
//! and explored in turn. The result equals tracing every packet. Failures are grouped by
//! cause and merged back into exact CIDR lists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::analysis::fix::{self, FixError};
use crate::engine::cause::{Cause, Traffic};
use crate::engine::trace::{self, Packet};
use crate::findings::change::Change;
use crate::findings::finding::{Finding, FlowDirection, Severity, TrafficPart};
use crate::graph::index::{Alike, Index};
use crate::graph::region::{AtomSet, Narrow, PortSet, Region, Sets};
use crate::input;
use crate::model::{FastMap, Model};
use crate::net::addr::{
    intersect_intervals, intervals_size, merge_intervals, AddrSet, Ports, Protocol,
};

/// Source port preferred for the traced packet (an ephemeral client port).
pub const EPHEMERAL_PORT: u16 = 40000;
/// Client source ports start here.
pub const FIRST_CLIENT_PORT: u32 = 1024;

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
    /// Remarks on a connection that are no fault (configured space nothing holds).
    pub notes: Vec<Note>,
    pub summary: Vec<PairSummary>,
    /// Packets traced to decide every packet (one per product of address and port sets).
    pub classes_traced: usize,
    /// Stage timings (printed by `main` under `VPNTRACE_TIMING`); not part of the JSON.
    #[serde(skip)]
    pub timings: Timings,
}

/// A remark on one connection, printed under it: no finding, no faq, nothing to fix.
#[derive(Clone, Debug, Serialize)]
pub struct Note {
    pub connection: String,
    pub message: String,
}

/// How long `check`'s stages took and how finely it cut the first connection's space:
/// data for `VPNTRACE_TIMING` (main prints it; the library never does).
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// Building the index and the prefix tables (wall, from the start of the analysis).
    pub setup: std::time::Duration,
    /// Summed over the connections (each connection's task time; a routing fault's
    /// search runs its candidates in parallel): exploring, ...
    pub reach: std::time::Duration,
    /// ... grouping the failures into findings, ...
    pub findings: std::time::Duration,
    /// ... and settling the error findings' fixes (verified, or searched for).
    pub fixes: std::time::Duration,
    /// Everything up to every connection checked (wall, from the start of the analysis).
    pub analysed: std::time::Duration,
    /// Failing outcomes the exploration produced.
    pub outcomes: usize,
    /// The first connection's atoms and owner groups.
    pub first_connection: Option<ConnGroups>,
}

/// One connection's address atoms and their owner groups, per side.
#[derive(Clone, Debug, Default)]
pub struct ConnGroups {
    pub connection: String,
    pub local_atoms: usize,
    pub remote_atoms: usize,
    pub local_groups: usize,
    pub remote_groups: usize,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.is_error())
    }
}

/// Addresses that exist on each side: vSwitch CIDRs on the cloud side; subnets connected
/// to IDC devices' inside interfaces, and routed-only subnets (an IDC device routes them
/// through an inside interface to a next hop no modelled device holds: hosts beyond the
/// model, whose packets enter at that device) on the other (the VPC's own space
/// excluded). Addresses of
/// network devices (not hosts) are excluded: their own traffic takes an interface's
/// address as its source and is not traffic through the VPN.
fn existing_space(m: &Model) -> (AddrSet, AddrSet, AddrSet) {
    let cloud = AddrSet::from_nets(m.vswitches.iter().map(|v| v.cidr));
    let mut idc_nets = Vec::new();
    let mut infra = Vec::new();
    for d in m.devices.iter() {
        for f in &d.interfaces {
            if f.role == input::Role::Inside {
                idc_nets.push(f.net);
            }
            if d.kind != input::DeviceKind::Host {
                infra.push(ipnet::Ipv4Net::new(f.addr, 32).expect("/32"));
            }
        }
    }
    idc_nets.extend(routed_only(m));
    let infra = AddrSet::from_nets(infra);
    let idc = AddrSet::from_nets(idc_nets).minus(&m.vpc_set).minus(&infra);
    (cloud, idc, infra)
}

/// Routed-only subnets: routes (not a default route, not into a tunnel) through an
/// inside interface to a gateway that no modelled device or instance holds.
fn routed_only(m: &Model) -> Vec<ipnet::Ipv4Net> {
    let held =
        |g: Ipv4Addr| m.devices.iter().any(|d| d.owns(g)) || m.instances.iter().any(|i| i.ip == g);
    let mut v = Vec::new();
    for d in m.devices.iter() {
        for r in crate::model::rules::route_choices(d) {
            let inside = r
                .out_iface
                .is_some_and(|f| d.interfaces[f].role == input::Role::Inside);
            if inside
                && r.tunnel.is_none()
                && r.destination.prefix_len() > 0
                && r.gateway.is_some_and(|g| !held(g))
            {
                v.push(r.destination);
            }
        }
    }
    v
}

/// Address atoms shared by the outcomes of one atom set (sorted, disjoint).
pub type Atoms = std::sync::Arc<[(u32, u32)]>;

/// What happens to a set of packets: every source in `src` × every destination in `dst`
/// × the ports of `region`. `region` is a representative box (its addresses are one
/// interval of `src` and one of `dst`, its ports one source and one destination port
/// interval of the traced product: a traced packet's outcome is one `Outcome` per port
/// interval pair); interchangeable addresses share the representative's outcome (one
/// `Atoms` list shared by all the outcomes of the same atom sets), so an outcome is
/// stored once, however many instances or hosts it holds for.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub conn: usize,
    pub dir: FlowDirection,
    pub protocol: Protocol,
    pub region: Region,
    pub src: Atoms,
    pub dst: Atoms,
    /// None when delivered both ways.
    pub cause: Option<Cause>,
}

impl Outcome {
    /// Whether packet `pt` ([source, destination, source port, destination port]) is
    /// one of the outcome's.
    pub fn contains(&self, pt: [u32; 4]) -> bool {
        let within = |v: &[(u32, u32)], a: u32| {
            let i = v.partition_point(|&(_, hi)| hi < a);
            v.get(i).is_some_and(|&(lo, _)| lo <= a)
        };
        (2..4).all(|d| self.region.lo[d] <= pt[d] && pt[d] <= self.region.hi[d])
            && within(&self.src, pt[0])
            && within(&self.dst, pt[1])
    }

    /// The outcome's packets as boxes: one per source interval × destination interval.
    pub fn boxes(&self) -> impl Iterator<Item = Region> + '_ {
        self.src.iter().flat_map(move |&(slo, shi)| {
            self.dst.iter().map(move |&(dlo, dhi)| Region {
                lo: [slo, dlo, self.region.lo[2], self.region.lo[3]],
                hi: [shi, dhi, self.region.hi[2], self.region.hi[3]],
            })
        })
    }

    /// The same outcome for the representative's box alone.
    fn single(conn: usize, dir: FlowDirection, p: Protocol, (region, cause): Explored) -> Outcome {
        Outcome {
            conn,
            dir,
            protocol: p,
            src: std::sync::Arc::from([(region.lo[0], region.hi[0])]),
            dst: std::sync::Arc::from([(region.lo[1], region.hi[1])]),
            region,
            cause,
        }
    }
}

/// A box the tracer decided and its cause (None: delivered both ways).
type Explored = (Region, Option<Cause>);

/// Explore boxes until every packet in them is decided. Returns the outcomes (one box
/// each) and the number of packets traced.
pub fn explore(
    m: &Model,
    idx: &Index,
    conn: usize,
    dir: FlowDirection,
    p: Protocol,
    boxes: Vec<Region>,
) -> (Vec<Outcome>, usize) {
    let (v, n) = explore_boxes(m, idx, p, boxes);
    (
        v.into_iter()
            .map(|x| Outcome::single(conn, dir, p, x))
            .collect(),
        n,
    )
}

/// The packet traced for box `b` (its low corner, the ephemeral source port when the box
/// holds it), as a point and as a packet.
fn packet_at(b: &Region, p: Protocol) -> ([u32; 4], Packet) {
    let pt = b.corner(u32::from(EPHEMERAL_PORT));
    (pt, packet_of(pt, p))
}

/// The packet at point `pt` ([source, destination, source port, destination port]).
fn packet_of(pt: [u32; 4], p: Protocol) -> Packet {
    let (src, dst) = (Ipv4Addr::from(pt[0]), Ipv4Addr::from(pt[1]));
    Packet::new(src, dst, p, pt[2] as u16, pt[3] as u16)
}

/// The sender of the last traced packet: the packets of one exploration, and the
/// explorations of one source group, mostly share their source, whose endpoint is kept
/// (for one model and index).
#[derive(Default)]
struct Sender(Option<(Ipv4Addr, trace::Endpoint)>);

impl Sender {
    /// The endpoint `src` resolves to (a host beyond the model when none does).
    fn of(&mut self, idx: &Index, src: Ipv4Addr) -> &trace::Endpoint {
        if self.0.as_ref().is_none_or(|(a, _)| *a != src) {
            let e = idx.endpoint(src).unwrap_or(trace::Endpoint::Beyond {
                addr: src,
                ingress: None,
            });
            self.0 = Some((src, e));
        }
        &self.0.as_ref().expect("just set").1
    }
}

/// A traced packet's outcome: None when delivered both ways, else its cause (a walk that
/// stopped without one went round: a loop).
fn outcome_of(t: trace::Trace) -> Option<Cause> {
    if t.ok() {
        return None;
    }
    Some(t.into_cause().unwrap_or(Cause::Loop {
        places: Vec::new(),
        routes: Vec::new(),
        hops: 0,
        reply: false,
    }))
}

/// [`explore`] without the bookkeeping: each decided box with its cause.
fn explore_boxes(
    m: &Model,
    idx: &Index,
    p: Protocol,
    boxes: Vec<Region>,
) -> (Vec<Explored>, usize) {
    let mut work = boxes;
    work.reverse();
    let mut out = Vec::new();
    let mut traced = 0;
    let mut sender = Sender::default();
    while let Some(b) = work.pop() {
        let (pt, pkt) = packet_at(&b, p);
        let from = sender.of(idx, pkt.src);
        let (t, reg) =
            trace::trace_packet_in(m, idx, from, pkt, String::new(), String::new(), Some(b));
        traced += 1;
        let mut reg = reg.expect("a region was given");
        debug_assert!(
            reg.contains(pt),
            "the narrowed region holds the traced packet"
        );
        if !reg.contains(pt) || reg.is_empty() {
            // Never expected; keep exploring sound and finite: decide this packet alone.
            reg = Region { lo: pt, hi: pt };
        }
        let cause = outcome_of(t);
        // Boxes still to explore, low corners first (deterministic order).
        let start = work.len();
        b.minus_into(&reg, &mut work);
        work[start..].reverse();
        out.push((reg, cause));
    }
    (out, traced)
}

/// What the packets of an exploration share: a connection, a direction, a protocol and
/// the source and destination port sets.
#[derive(Clone)]
struct PairKind {
    conn: usize,
    dir: FlowDirection,
    protocol: Protocol,
    ports: [PortSet; 2],
    /// Ask whether the decisions treat a second protocol alike (see [`Alike`]; set by
    /// [`explore_groups`] as its [`AlikeMode`] says).
    alike: Option<std::sync::Arc<Alike>>,
}

/// What one exploration works on: its kind, with the two sides' atoms and owner groups.
struct GroupPairs<'c> {
    kind: PairKind,
    src: &'c Groups,
    dst: &'c Groups,
}

/// Per group pair of an exploration that asked about a second protocol (see
/// [`Alike`]): whether every packet's decisions treated it alike, and the pair's
/// outcomes in the list the exploration added them to.
type Asked = (bool, std::ops::Range<usize>);

/// What an exploration of group pairs does about a second protocol (see [`Alike`]).
enum AlikeMode<'a> {
    /// Nothing.
    No,
    /// Ask about `Alike::protocol`, recording each pair's answer.
    Ask(&'a std::sync::Arc<Alike>, &'a mut Vec<Asked>),
    /// Take the outcomes of the pairs the asking protocol found alike (in `out`).
    Take(&'a [Asked]),
}

/// Every source group × destination group of two sides (see [`Groups::groups`]),
/// explored as sets (see [`explore_sets`]), or taken from another protocol's pairs as
/// `mode` says. Only the failing outcomes are added to `out`; returns the packets traced.
fn explore_groups(
    m: &Model,
    idx: &Index,
    cp: &GroupPairs,
    mut mode: AlikeMode,
    out: &mut Vec<Outcome>,
) -> usize {
    let mut count = 0;
    let asking;
    let kind = match &mode {
        AlikeMode::Ask(a, _) => {
            asking = PairKind {
                alike: Some(std::sync::Arc::clone(a)),
                ..cp.kind.clone()
            };
            &asking
        }
        _ => &cp.kind,
    };
    // The pairs of one source group start from the same source.
    let mut sender = Sender::default();
    let pairs = cp
        .src
        .groups
        .iter()
        .flat_map(|sg| cp.dst.groups.iter().map(move |dg| (sg, dg)));
    for (k, (sg, dg)) in pairs.enumerate() {
        if let AlikeMode::Take(asked) = &mode {
            if let Some((true, range)) = asked.get(k) {
                // Decided alike: the other protocol's outcomes are this one's.
                let same = same_outcomes(&out[range.clone()], cp.kind.protocol);
                out.extend(same);
                continue;
            }
        }
        let s = AtomSet::of(cp.src.atoms.clone(), sg.iter().copied());
        let d = AtomSet::of(cp.dst.atoms.clone(), dg.iter().copied());
        let start = out.len();
        let (n, alike) = explore_sets(m, idx, kind, s, d, &mut sender, out);
        count += n;
        if let AlikeMode::Ask(_, asked) = &mut mode {
            asked.push((alike, start..out.len()));
        }
    }
    count
}

/// Every packet of `src` × `dst` (two sets of one side's atoms each, whose owners are
/// interchangeable: see [`Groups`]) × the ports of `k`, explored as sets: the first
/// atom of each set (and the ephemeral source port, or the lowest, and the lowest
/// destination port) is traced with the sets, which every decision narrows to the atoms
/// and ports it treats as the representative's (see
/// [`Narrow`](crate::graph::region::Narrow)), so one packet decides a product of atom sets
/// × port sets; the rest is split into products and explored in turn. A cause naming the
/// representative's own device (a host's) holds for that atom alone. The failing
/// outcomes (one per source port interval × destination port interval of the product)
/// are added to `out`; returns the packets traced, and whether every traced packet's
/// decisions treated the protocol `k.alike` asks about alike (false when none is asked).
/// `sender` keeps the last source's endpoint (of this model and index).
fn explore_sets(
    m: &Model,
    idx: &Index,
    k: &PairKind,
    src: AtomSet,
    dst: AtomSet,
    sender: &mut Sender,
    out: &mut Vec<Outcome>,
) -> (usize, bool) {
    let mut work: Vec<(AtomSet, AtomSet, [PortSet; 2])> = vec![(src, dst, k.ports.clone())];
    let mut count = 0;
    let mut alike = k.alike.is_some();
    // The atom lists of the outcomes, one per distinct set of each side.
    let mut lists: [FastMap<crate::graph::region::Bits, Atoms>; 2] = Default::default();
    let mut list = |side: usize, set: &AtomSet| -> Atoms {
        lists[side]
            .entry(set.bits.clone())
            .or_insert_with(|| set.iter().map(|a| set.atoms[a]).collect())
            .clone()
    };
    while let Some((s, d, p)) = work.pop() {
        let (Some(s0), Some(d0)) = (s.first(), d.first()) else {
            continue;
        };
        let (Some(sp), Some(dp)) = (p[0].hull(), p[1].hull()) else {
            continue;
        };
        let (sa, da) = (s.atoms[s0], d.atoms[d0]);
        // The ports' hull: the point is the ephemeral source port when the set holds it,
        // else the lowest.
        let b = Region {
            lo: [sa.0, da.0, sp.0, dp.0],
            hi: [sa.1, da.1, sp.1, dp.1],
        };
        let eph = u32::from(EPHEMERAL_PORT);
        let sport = if p[0].contains(eph) { eph } else { sp.0 };
        let pt = [sa.0, da.0, sport, dp.0];
        let pkt = packet_of(pt, k.protocol);
        let from = sender.of(idx, pkt.src);
        // The sets go to the tracer and come back narrowed (over the same atom lists):
        // their bits are kept to take the rest (copying the lists' handles costs an
        // atomic count each, which adds up over the traces).
        let (s_bits, d_bits) = (s.bits.clone(), d.bits.clone());
        let sets = Sets {
            addr: [s, d],
            ports: p.clone(),
        };
        let mut nw = Narrow::on_sets(b, pt, k.protocol.has_ports(), sets);
        nw.alike = k.alike.clone();
        let (t, nw) = trace::trace_narrowed(m, idx, from, pkt, String::new(), String::new(), nw);
        count += 1;
        alike &= nw.alike.is_some();
        let reg = nw.region.expect("a region was given");
        let Sets {
            addr: [mut s1, mut d1],
            ports: p1,
        } = *nw.sets.expect("sets were given");
        let with = |set: &AtomSet, bits: &crate::graph::region::Bits| AtomSet {
            atoms: set.atoms.clone(),
            bits: bits.clone(),
        };
        let whole = (0..2).all(|x| reg.lo[x] == b.lo[x] && reg.hi[x] == b.hi[x]);
        if !whole || !reg.contains(pt) || !s1.contains(s0) || !d1.contains(d0) {
            let (s, d) = (with(&s1, &s_bits), with(&d1, &d_bits));
            // A decision told addresses of the representative's atoms apart (never
            // expected: atoms are cut by every prefix): explore that atom pair as boxes.
            let boxes = port_boxes(&p)
                .map(|[x, y]| Region {
                    lo: [sa.0, da.0, x.0, y.0],
                    hi: [sa.1, da.1, x.1, y.1],
                })
                .collect();
            let (o, n) = explore_boxes(m, idx, k.protocol, boxes);
            count += n;
            alike = false; // traced without asking
            out.extend(
                o.into_iter()
                    .filter(|x| x.1.is_some())
                    .map(|x| Outcome::single(k.conn, k.dir, k.protocol, x)),
            );
            let only = |set: &AtomSet, a: usize| AtomSet::of(set.atoms.clone(), [a]);
            let (s_rest, d_rest) = (s.minus(&only(&s, s0)), d.minus(&only(&d, d0)));
            work.push((only(&s, s0), d_rest, p.clone()));
            work.push((s_rest, d, p));
            continue;
        }
        let cause = outcome_of(t);
        // A cause naming the device that owns a representative atom is that device's.
        if let Some(c) = &cause {
            let owns = |a: (u32, u32)| {
                a.0 == a.1
                    && matches!(idx.owner(Ipv4Addr::from(a.0)),
                        Some(crate::graph::index::OwnerRef::Interface(dv, _)) if m.devices[dv].id == c.device(m))
            };
            if owns(sa) {
                s1 = AtomSet::of(s1.atoms.clone(), [s0]);
            }
            if owns(da) {
                d1 = AtomSet::of(d1.atoms.clone(), [d0]);
            }
        }
        // The rest (deterministic order): the other sources, the other destinations of
        // these sources, the other source ports of these atoms, the other destination
        // ports of these source ports.
        let start = work.len();
        if let Some(s_rest) = s1.rest_of(&s_bits) {
            work.push((s_rest, with(&d1, &d_bits), p.clone()));
        }
        if let Some(d_rest) = d1.rest_of(&d_bits) {
            work.push((s1.clone(), d_rest, p.clone()));
        }
        let sp_rest = p[0].minus(&p1[0]);
        if !sp_rest.is_empty() {
            work.push((s1.clone(), d1.clone(), [sp_rest, p[1].clone()]));
        }
        let dp_rest = p[1].minus(&p1[1]);
        if !dp_rest.is_empty() {
            work.push((s1.clone(), d1.clone(), [p1[0].clone(), dp_rest]));
        }
        work[start..].reverse();
        if cause.is_none() {
            continue; // delivered both ways: nothing to keep
        }
        let (src, dst) = (list(0, &s1), list(1, &d1));
        for [x, y] in port_boxes(&p1) {
            let mut region = reg;
            (region.lo[2], region.hi[2], region.lo[3], region.hi[3]) = (x.0, x.1, y.0, y.1);
            out.push(Outcome {
                conn: k.conn,
                dir: k.dir,
                protocol: k.protocol,
                region,
                src: src.clone(),
                dst: dst.clone(),
                cause: cause.clone(),
            });
        }
    }
    (count, alike)
}

/// Every source port interval × destination port interval of two port sets.
fn port_boxes(p: &[PortSet; 2]) -> impl Iterator<Item = [(u32, u32); 2]> + '_ {
    p[0].0
        .iter()
        .flat_map(move |&x| p[1].0.iter().map(move |&y| [x, y]))
}

/// Who owns an address, as far as any decision can tell: instances with the same
/// security groups are interchangeable (on vSwitches with the same route table: see
/// [`groups_of`]), and so are plain hosts
/// alike (see [`host_signature`]); other devices are not.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    None,
    Instance {
        groups: Vec<usize>,
    },
    /// A host without filter, NAT or IPsec, by what decides its packets (see
    /// [`host_signature`]): hosts alike are interchangeable as instances are.
    Host(String),
    Device(usize),
}

/// What decides a plain host's packets, its own address aside: its interfaces' names and
/// subnets, its routes (destination, interface, gateway, tunnel), forwarding and
/// rp_filter. None for a device that is not a plain host (a filter, NAT or IPsec of its
/// own, or not a host): such a device is its own group.
fn host_signature(d: &crate::model::Device) -> Option<String> {
    if d.kind != input::DeviceKind::Host
        || d.filter.is_some()
        || !d.nat.is_empty()
        || !d.ipsec.is_empty()
    {
        return None;
    }
    let ifaces: Vec<_> = d
        .interfaces
        .iter()
        .map(|i| (&i.name, i.net, i.role, i.public_address))
        .collect();
    let routes: Vec<_> = d
        .routes
        .iter()
        .map(|r| (r.destination, r.interface, r.gateway, r.tunnel))
        .collect();
    Some(format!(
        "{:?}|{:?}|{:?}|{}|{:?}",
        d.vendor, ifaces, routes, d.forwarding, d.rp_filter
    ))
}

/// Prefixes as collected: those that can decide a packet of any protocol, and those of
/// rules, with the rule's protocol and whether it names ports.
#[derive(Default)]
struct Named {
    any: Vec<ipnet::Ipv4Net>,
    ruled: Vec<(Protocol, bool, ipnet::Ipv4Net)>,
}

impl Named {
    fn security_group(&mut self, g: &crate::model::SecurityGroup) {
        for r in &g.rules {
            if let crate::model::SgPeer::Cidr(n) = r.peer {
                // A security-group rule's ports never stop an ICMP or GRE rule from
                // matching: only its protocol counts.
                self.ruled.push((r.protocol, false, n));
            }
        }
    }

    fn route_table(&mut self, t: &crate::model::RouteTable) {
        self.any.extend(t.entries.iter().map(|e| e.destination));
    }

    fn selectors(&mut self, s: &crate::model::SaSelectors) {
        self.any.extend(
            s.local_cidrs
                .iter()
                .chain(&s.remote_cidrs)
                .map(|c| c.network()),
        );
    }

    fn device(&mut self, d: &crate::model::Device) {
        self.any.extend(d.interfaces.iter().map(|f| f.net));
        self.any.extend(d.routes.iter().map(|r| r.destination));
        if let Some(f) = &d.filter {
            for c in [&f.input, &f.forward, &f.output].into_iter().flatten() {
                for r in &c.rules {
                    let ports = !(r.source_ports.is_any() && r.destination_ports.is_any());
                    for n in r.source.iter().chain(&r.destination) {
                        self.ruled.push((r.protocol, ports, *n));
                    }
                }
            }
        }
        for r in &d.nat {
            let ports = !r.destination_ports.is_any();
            for n in r.source.iter().chain(&r.destination) {
                self.ruled.push((r.protocol, ports, *n));
            }
        }
        for e in &d.ipsec {
            self.any.extend(
                e.local_subnets
                    .iter()
                    .chain(&e.remote_subnets)
                    .map(|c| c.network()),
            );
            for s in &e.sas {
                self.selectors(s);
            }
        }
    }

    /// Per protocol (in `Protocol::CONCRETE` order): the prefixes that can decide a packet
    /// of that protocol, as sorted, deduplicated intervals. A filter, NAT or
    /// security-group rule written for another protocol (or naming ports, for a protocol
    /// without them) never matches, so its prefixes cannot tell addresses apart.
    fn by_protocol(&self) -> Tables {
        let iv = |n: &ipnet::Ipv4Net| (u32::from(n.network()), u32::from(n.broadcast()));
        // The prefixes of every protocol sorted once, each protocol's rules' merged in.
        let mut common: Vec<(u32, u32)> = self.any.iter().map(iv).collect();
        common.sort_unstable();
        common.dedup();
        Protocol::CONCRETE.map(|p| {
            let mut ruled: Vec<(u32, u32)> = self
                .ruled
                .iter()
                .filter(|(rp, ports, _)| rp.matches(p) && (p.has_ports() || !ports))
                .map(|(_, _, n)| iv(n))
                .collect();
            ruled.sort_unstable();
            ruled.dedup();
            union_sorted(&common, &ruled)
        })
    }
}

/// The union of two sorted, deduplicated lists, sorted and deduplicated.
fn union_sorted(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                if x == y {
                    j += 1;
                }
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => unreachable!("the loop stops when both are used up"),
        };
        out.push(next);
    }
    out
}

/// Per concrete protocol, sorted prefix intervals (see [`Named::by_protocol`]).
type Tables = [Vec<(u32, u32)>; 4];

/// Per protocol, the prefixes that can decide a packet (see [`prefixes_by_protocol`]):
/// the model's, shared by every fixed model derived from it, and those a fix's patched
/// objects add (a superset of a fixed model's own, which only cuts atoms finer).
#[derive(Clone, Debug, Default)]
pub(crate) struct Prefixes {
    base: std::sync::Arc<Tables>,
    extra: Tables,
    /// The vSwitches' CIDRs with their route tables, sorted (vSwitches do not overlap).
    /// They cut atoms (an address's vSwitch decides where the VRouter delivers it and
    /// which table routes what it sends) but do not tell atoms apart by themselves:
    /// vSwitches that share a route table are interchangeable (see [`groups_of`]).
    vswitches: std::sync::Arc<Vec<(u32, u32, usize)>>,
    /// `base` is the run's own tables, which cut the atoms of every outcome `reach`
    /// found: re-analysing an outcome then only needs `extra` (see [`refail`]).
    cut_outcomes: bool,
}

impl Prefixes {
    /// A side of an outcome `reach` found, as one group, when these tables are the
    /// run's plus prefixes of protocol `pi` none of which touch it: its atoms were
    /// atoms of one owner group under the run's tables, and nothing added since cuts
    /// them. None when the side must be cut afresh.
    fn one_group(&self, side: &[(u32, u32)], pi: usize) -> Option<Groups> {
        if !self.is_one_group(side, pi) {
            return None;
        }
        let all: Vec<usize> = (0..side.len()).collect();
        Some(Groups {
            atoms: side.into(),
            groups: vec![all],
        })
    }

    /// Whether [`one_group`](Prefixes::one_group) holds, without building the group.
    fn is_one_group(&self, side: &[(u32, u32)], pi: usize) -> bool {
        let (Some(first), Some(last)) = (side.first(), side.last()) else {
            return false;
        };
        let extra = &self.extra[pi];
        // Sorted by low end: any prefix starting at or before the span's end that ends
        // at or after its start touches it.
        let touches = extra[..extra.partition_point(|&(lo, _)| lo <= last.1)]
            .iter()
            .any(|&(_, hi)| hi >= first.0);
        self.cut_outcomes && !touches
    }

    /// Per protocol, the prefixes that cut the side `ivs` spanning `hlo..=hhi` (see
    /// [`cutting`]), sorted.
    fn cutting(&self, ivs: &[(u32, u32)], hlo: u32, hhi: u32) -> Vec<Vec<(u32, u32)>> {
        (0..4)
            .map(|k| {
                let mut v = cutting(&self.base[k], ivs, hlo, hhi);
                if !self.extra[k].is_empty() {
                    v.extend(cutting(&self.extra[k], ivs, hlo, hhi));
                    v.sort_unstable();
                    v.dedup();
                }
                v
            })
            .collect()
    }
}

/// Per protocol, every prefix a rule, route, selector or address of the topology names
/// that can decide a packet of that protocol (see [`Named::by_protocol`]).
pub(crate) fn prefixes_by_protocol(m: &Model) -> Prefixes {
    let mut n = Named::default();
    n.any.extend(m.vpc_cidrs.iter().map(|c| c.network()));
    let mut vswitches: Vec<(u32, u32, usize)> = m
        .vswitches
        .iter()
        .map(|x| {
            (
                u32::from(x.cidr.network()),
                u32::from(x.cidr.broadcast()),
                x.route_table,
            )
        })
        .collect();
    vswitches.sort_unstable();
    for t in m.route_tables.iter() {
        n.route_table(t);
    }
    for g in m.security_groups.iter() {
        n.security_group(g);
    }
    for g in m.vpn_gateways.iter() {
        for r in g.policy_routes.iter().chain(&g.destination_routes) {
            n.any.push(r.destination);
            n.any.extend(r.source);
        }
    }
    for c in m.connections.iter() {
        n.any.extend(
            c.local_subnets
                .iter()
                .chain(&c.remote_subnets)
                .map(|c| c.network()),
        );
        for s in &c.sas {
            n.selectors(s);
        }
    }
    for d in m.devices.iter() {
        n.device(d);
    }
    Prefixes {
        base: std::sync::Arc::new(n.by_protocol()),
        extra: Default::default(),
        vswitches: std::sync::Arc::new(vswitches),
        cut_outcomes: false,
    }
}

/// A side's addresses cut into atoms no prefix or owned address splits, grouped by
/// interchangeable owners.
struct Groups {
    atoms: Atoms,
    /// The atoms whose owners are interchangeable (the same [`Owner`], vSwitch route
    /// table and, for a host beyond the model, the same way in): what tells them apart is
    /// only which prefixes hold them, which the exploration by sets narrows (see
    /// [`explore_sets`]).
    groups: Vec<Vec<usize>>,
}

/// The prefixes of `prefixes` (sorted, deduplicated prefix intervals) that cut the side
/// `ivs` spanning `hlo..=hhi`: overlapping it without holding all of it. Found by binary
/// search: those starting inside the span, and those holding its first address (at most
/// one per prefix length), so the cost does not grow with the whole topology.
fn cutting(prefixes: &[(u32, u32)], ivs: &[(u32, u32)], hlo: u32, hhi: u32) -> Vec<(u32, u32)> {
    let start = prefixes.partition_point(|&(lo, _)| lo < hlo);
    let end = prefixes.partition_point(|&(lo, _)| lo <= hhi);
    let mut found: Vec<(u32, u32)> = prefixes[start..end].to_vec();
    for len in 0..32u32 {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let lo = hlo & mask;
        if lo == hlo {
            continue; // starts at hlo: already among those starting inside the span
        }
        let hi = lo | !mask;
        if prefixes.binary_search(&(lo, hi)).is_ok() {
            found.push((lo, hi));
        }
    }
    found.sort();
    found
        .into_iter()
        .filter(|&(lo, hi)| !(lo <= hlo && hi >= hhi))
        .filter(|&(lo, hi)| {
            let i = ivs.partition_point(|&(_, b)| b < lo);
            ivs.get(i).is_some_and(|&(a, _)| a <= hi)
        })
        .collect()
}

fn groups_of(m: &Model, idx: &Index, ivs: &[(u32, u32)], prefixes: &Prefixes) -> Groups {
    let ivs = ivs.to_vec();
    let (Some(first), Some(last)) = (ivs.first(), ivs.last()) else {
        return Groups {
            atoms: Atoms::from([]),
            groups: Vec::new(),
        };
    };
    let (hlo, hhi) = (first.0, last.1);
    let relevant: Vec<Vec<(u32, u32)>> = prefixes.cutting(&ivs, hlo, hhi);
    let vsw = &prefixes.vswitches;
    let first_vsw = vsw.partition_point(|v| v.1 < hlo);
    let in_span = || vsw[first_vsw..].iter().take_while(|v| v.0 <= hhi);
    // Atoms: cut by every protocol's prefixes, so one atom list serves all protocols,
    // and by the vSwitches.
    let mut cuts: Vec<u64> = Vec::new();
    for (lo, hi) in relevant
        .iter()
        .flatten()
        .copied()
        .chain(in_span().map(|v| (v.0, v.1)))
    {
        cuts.push(u64::from(lo));
        cuts.push(u64::from(hi) + 1);
    }
    let owned = &idx.owned;
    let start = owned.partition_point(|&x| x < hlo);
    for &a in owned[start..].iter().take_while(|&&a| a <= hhi) {
        cuts.push(u64::from(a));
        cuts.push(u64::from(a) + 1);
    }
    cuts.sort();
    cuts.dedup();
    let mut atoms = Vec::new();
    for &(lo, hi) in &ivs {
        let mut cur = u64::from(lo);
        let mut i = cuts.partition_point(|&c| c <= cur);
        while cur <= u64::from(hi) {
            let end = match cuts.get(i) {
                Some(&c) if c <= u64::from(hi) => c - 1,
                _ => u64::from(hi),
            };
            atoms.push((cur as u32, end as u32));
            cur = end + 1;
            i += 1;
        }
    }
    let owner_of = |a: (u32, u32)| -> Owner {
        if a.0 != a.1 {
            return Owner::None;
        }
        match idx.owner(Ipv4Addr::from(a.0)) {
            Some(crate::graph::index::OwnerRef::Instance(i)) => {
                let inst = &m.instances[i];
                Owner::Instance {
                    groups: inst.security_groups.clone(),
                }
            }
            Some(crate::graph::index::OwnerRef::Interface(d, _)) => {
                host_signature(&m.devices[d]).map_or(Owner::Device(d), Owner::Host)
            }
            None => Owner::None,
        }
    };
    let owners: Vec<Owner> = atoms.iter().map(|&a| owner_of(a)).collect();
    // The route table of the vSwitch an atom lies in (None: in none): what the vSwitch
    // decides of a packet to or from the atom.
    let tables: Vec<Option<usize>> = atoms
        .iter()
        .map(|&(lo, _)| {
            let k = vsw.partition_point(|v| v.1 < lo);
            vsw.get(k).filter(|v| v.0 <= lo).map(|v| v.2)
        })
        .collect();
    // A host beyond the model enters where the most specific routed-only route to it
    // leads (see `trace::routed_ingress`), which no narrowing records.
    let ingress: Vec<Option<(usize, usize)>> = atoms
        .iter()
        .zip(&owners)
        .map(|(&(lo, _), o)| {
            let beyond = *o == Owner::None && idx.endpoint_nets.lookup(lo).is_none();
            beyond
                .then(|| trace::routed_ingress(m, Ipv4Addr::from(lo)))
                .flatten()
        })
        .collect();
    type OwnerKey<'o> = (&'o Owner, Option<usize>, Option<(usize, usize)>);
    let mut by_key: BTreeMap<OwnerKey, usize> = BTreeMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for k in 0..atoms.len() {
        let g = *by_key
            .entry((&owners[k], tables[k], ingress[k]))
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[g].push(k);
    }
    Groups {
        atoms: atoms.into(),
        groups,
    }
}

/// Every failing box of every connection (the packets not listed are delivered both
/// ways). For tests and tools that compare `check` with `trace`.
pub fn failures(m: &Model) -> Vec<Outcome> {
    let idx = Index::build(m);
    reach(m, Some(&idx), true).failing
}

/// [`failures`] and the packets traced; with `each_protocol`, GRE is traced too (it never
/// takes ICMP's outcomes, see [`Alike`]). For the tests that compare the two.
#[doc(hidden)]
pub fn failures_traced(m: &Model, each_protocol: bool) -> (Vec<Outcome>, usize) {
    let idx = Index::build(m);
    let r = reach(m, Some(&idx), !each_protocol);
    (r.failing, r.traced)
}

/// The addresses `check` analyses for a connection: (local, remote) that exist.
pub fn analysed_space(m: &Model, conn: usize) -> (AddrSet, AddrSet) {
    let (cloud, idc, _) = existing_space(m);
    let c = &m.connections[conn];
    (c.local_set.intersect(&cloud), c.remote_set.intersect(&idc))
}

/// What `reach` found.
struct Reached {
    /// The failing boxes (each with its cause).
    failing: Vec<Outcome>,
    /// Packets traced.
    traced: usize,
    /// Warnings about the connections' configured space.
    warnings: Vec<Finding>,
    /// The network devices' own addresses (never analysed).
    infra: AddrSet,
    /// The index, when `reach` built it.
    index: Option<Index>,
    /// The prefix tables the address atoms were cut by.
    prefixes: Prefixes,
    /// Class statistics of the first connection (for `VPNTRACE_TIMING`).
    groups: Option<ConnGroups>,
}

/// What exploring one connection found (see [`Reached`]).
struct ConnReached {
    failing: Vec<Outcome>,
    traced: usize,
    warnings: Vec<Finding>,
    groups: Option<ConnGroups>,
}

/// What every connection's exploration shares (see [`setup`]).
struct Setup {
    spaces: Spaces,
    /// The network devices' own addresses (never analysed).
    infra: AddrSet,
    /// The index, when `setup` built it.
    index: Option<Index>,
    /// The prefix tables the address atoms are cut by.
    prefixes: Prefixes,
    /// Where ICMP and GRE may be decided differently: GRE takes ICMP's outcomes where no
    /// packet traced met such a decision (see [`Alike`]). None: GRE is traced too.
    alike: Option<std::sync::Arc<Alike>>,
}

/// The existing address space, the prefix tables and (unless given) the index, built
/// side by side.
fn setup(m: &Model, idx: Option<&Index>, ask_alike: bool) -> Setup {
    let (((cloud_space, idc_space, infra), alike), (prefixes, built)) = rayon::join(
        || {
            (
                existing_space(m),
                ask_alike.then(|| Alike::of(m, Protocol::Icmp, Protocol::Gre)),
            )
        },
        || {
            rayon::join(
                || Prefixes {
                    cut_outcomes: true,
                    ..prefixes_by_protocol(m)
                },
                || idx.is_none().then(|| Index::build(m)),
            )
        },
    );
    Setup {
        spaces: Spaces {
            cloud: cloud_space.intervals(),
            idc: idc_space.intervals(),
            infra: infra.intervals(),
        },
        infra,
        index: built,
        prefixes,
        alike: alike.map(std::sync::Arc::new),
    }
}

/// Explore every connection; builds the index (beside the prefix tables) unless given.
fn reach(m: &Model, idx: Option<&Index>, ask_alike: bool) -> Reached {
    use rayon::prelude::*;
    let Setup {
        spaces,
        infra,
        index: built,
        prefixes,
        alike,
    } = setup(m, idx, ask_alike);
    let idx = idx.or(built.as_ref()).expect("given or built");
    // Connections are independent: explore them in parallel, collect in order.
    let per: Vec<ConnReached> = (0..m.connections.len())
        .into_par_iter()
        .map(|ci| reach_conn(m, idx, ci, (&spaces, &prefixes, alike.as_ref())))
        .collect();
    let mut out = Reached {
        failing: Vec::new(),
        traced: 0,
        warnings: Vec::new(),
        infra,
        index: built,
        prefixes,
        groups: None,
    };
    for c in per {
        out.failing.extend(c.failing);
        out.traced += c.traced;
        out.warnings.extend(c.warnings);
        out.groups = out.groups.or(c.groups);
    }
    out
}

/// The existing address space of each side, and the network devices' own addresses.
struct Spaces {
    cloud: Vec<(u32, u32)>,
    idc: Vec<(u32, u32)>,
    infra: Vec<(u32, u32)>,
}

/// `outcomes` (of one exploration) for protocol `p`, which the decisions treated alike:
/// the same packets and causes, each atom list copied once (lists are not shared between
/// protocols, as explorations do not share them).
fn same_outcomes(outcomes: &[Outcome], p: Protocol) -> Vec<Outcome> {
    let mut lists: FastMap<usize, Atoms> = FastMap::default();
    let mut copy = |a: &Atoms| {
        lists
            .entry(a.as_ptr() as *const () as usize)
            .or_insert_with(|| Atoms::from(&a[..]))
            .clone()
    };
    outcomes
        .iter()
        .map(|o| Outcome {
            conn: o.conn,
            dir: o.dir,
            protocol: p,
            region: o.region,
            src: copy(&o.src),
            dst: copy(&o.dst),
            cause: o.cause.clone(),
        })
        .collect()
}

/// One connection: every box, both directions, every protocol.
fn reach_conn(
    m: &Model,
    idx: &Index,
    ci: usize,
    setup: (&Spaces, &Prefixes, Option<&std::sync::Arc<Alike>>),
) -> ConnReached {
    let (spaces, prefixes, alike) = setup;
    let c = &m.connections[ci];
    let mut outcomes = Vec::new();
    let mut warnings = Vec::new();
    let mut count = 0;
    let (cl, cr) = (&idx.conn_cfg[ci].0, &idx.conn_cfg[ci].1);
    let local = intersect_intervals(cl, &spaces.cloud);
    let remote = intersect_intervals(cr, &spaces.idc);
    let remote_infra = intersect_intervals(cr, &spaces.infra);
    if intervals_size(&local) < intervals_size(cl)
        || intervals_size(&remote) + intervals_size(&remote_infra) < intervals_size(cr)
    {
        let held = AddrSet::from_intervals(remote.iter().chain(&remote_infra).copied());
        warnings.push(unused_space_warning(
            m,
            ci,
            &AddrSet::from_intervals(local.iter().copied()),
            &held,
        ));
    }
    let lc = groups_of(m, idx, &local, prefixes);
    let rc = groups_of(m, idx, &remote, prefixes);
    let stats = (ci == 0).then(|| ConnGroups {
        connection: c.id.clone(),
        local_atoms: lc.atoms.len(),
        remote_atoms: rc.atoms.len(),
        local_groups: lc.groups.len(),
        remote_groups: rc.groups.len(),
    });
    for dir in [FlowDirection::CloudToOnprem, FlowDirection::OnpremToCloud] {
        let (sc, dc) = match dir {
            FlowDirection::CloudToOnprem => (&lc, &rc),
            FlowDirection::OnpremToCloud => (&rc, &lc),
        };
        // Per group pair, for the protocol that asks about another (see `Alike`).
        let mut asked: Vec<Asked> = Vec::new();
        for p in Protocol::CONCRETE {
            let ports = if p.has_ports() {
                [
                    PortSet::interval(FIRST_CLIENT_PORT, 65535),
                    PortSet::interval(0, 65535),
                ]
            } else {
                [PortSet::interval(0, 0), PortSet::interval(0, 0)]
            };
            let kind = PairKind {
                conn: ci,
                dir,
                protocol: p,
                ports,
                alike: None,
            };
            let cp = GroupPairs {
                kind,
                src: sc,
                dst: dc,
            };
            let mode = match alike {
                Some(a) if a.of == p => AlikeMode::Ask(a, &mut asked),
                Some(a) if a.protocol == p => AlikeMode::Take(&asked),
                _ => AlikeMode::No,
            };
            // Only failing outcomes are added (see `explore_sets`).
            count += explore_groups(m, idx, &cp, mode, &mut outcomes);
        }
    }

    ConnReached {
        failing: outcomes,
        traced: count,
        warnings,
        groups: stats,
    }
}

fn unused_space_warning(m: &Model, ci: usize, local: &AddrSet, remote_held: &AddrSet) -> Finding {
    let c = &m.connections[ci];
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
        crate::findings::code::Code::ConnectionSpaceUnused,
        if c.local_subnets.len() * c.remote_subnets.len() > 1 { 5 } else { 3 },
        format!(
            "connection {} is configured for more address space than the topology holds: {} lie on vSwitches, and {} on IDC subnets; only that space was analysed",
            c.id,
            held(&c.local_set, local, "local"),
            held(&c.remote_set, remote_held, "remote")
        ),
        "nothing to fix if the rest is reserved; otherwise model the vSwitches or IDC subnets that use it",
    )
    .with_connection(c.id.clone())
    .with_device(m.vpn_gateways[c.vpn_gateway].id.clone());
    w.direction = None;
    w
}

/// Connection `ci`'s summary per direction: the configured subnet pairs that exist and
/// those that fail (`outcomes`: the failing outcomes of its error findings).
fn summaries<'o>(
    m: &Model,
    ci: usize,
    spaces: &Spaces,
    outcomes: impl Iterator<Item = &'o Outcome>,
) -> Vec<PairSummary> {
    let (cloud_iv, idc_iv) = (&spaces.cloud, &spaces.idc);
    // (connection, direction) → failing (local subnet, remote subnet) index pairs.
    let mut fails: BTreeMap<(usize, FlowDirection), BTreeSet<(usize, usize)>> = BTreeMap::new();
    // Outcomes of one atom set pair share their atom lists: each pair is looked at once,
    // and which subnets a list touches is worked out once per list.
    let mut seen: std::collections::HashSet<(bool, usize, usize), foldhash::fast::FixedState> =
        Default::default();
    let mut lists: FastMap<(usize, bool), Vec<usize>> = Default::default();
    let ptr = |a: &Atoms| a.as_ptr() as *const () as usize;
    let touched = |subnets: &[crate::net::addr::Cidr], side: &Atoms| -> Vec<usize> {
        subnets
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                let (lo, hi) = n.bounds();
                let i = side.partition_point(|&(_, b)| b < lo);
                side.get(i).is_some_and(|&(a, _)| a <= hi)
            })
            .map(|(i, _)| i)
            .collect()
    };
    for o in outcomes.filter(|o| o.cause.is_some()) {
        let up = o.dir == FlowDirection::CloudToOnprem;
        let (local, remote) = if up {
            (&o.src, &o.dst)
        } else {
            (&o.dst, &o.src)
        };
        if !seen.insert((up, ptr(local), ptr(remote))) {
            continue;
        }
        let c = &m.connections[o.conn];
        for (side, is_local) in [(local, true), (remote, false)] {
            lists.entry((ptr(side), is_local)).or_insert_with(|| {
                touched(
                    if is_local {
                        &c.local_subnets
                    } else {
                        &c.remote_subnets
                    },
                    side,
                )
            });
        }
        let (locals, remotes) = (&lists[&(ptr(local), true)], &lists[&(ptr(remote), false)]);
        let set = fails.entry((o.conn, o.dir)).or_default();
        for &li in locals {
            set.extend(remotes.iter().map(|&ri| (li, ri)));
        }
    }
    let mut out = Vec::new();
    {
        let c = &m.connections[ci];
        let local = intersect_intervals(&c.local_set.intervals(), cloud_iv);
        let remote = intersect_intervals(&c.remote_set.intervals(), idc_iv);
        for dir in [FlowDirection::CloudToOnprem, FlowDirection::OnpremToCloud] {
            let mut total = 0;
            let mut failing = Vec::new();
            let f = fails.get(&(ci, dir));
            for (li, lp) in c.local_subnets.iter().enumerate() {
                for (ri, rp) in c.remote_subnets.iter().enumerate() {
                    if intersect_intervals(&[lp.bounds()], &local).is_empty()
                        || intersect_intervals(&[rp.bounds()], &remote).is_empty()
                    {
                        continue;
                    }
                    total += 1;
                    if f.is_some_and(|f| f.contains(&(li, ri))) {
                        failing.push(format!("{} ⇄ {}", lp, rp));
                    }
                }
            }
            out.push(PairSummary {
                connection: c.id.clone(),
                direction: dir,
                pairs_total: total,
                pairs_working: total - failing.len(),
                failing_pairs: failing,
            });
        }
    }
    out
}

/// A sorted interval list.
type Ivs = Vec<(u32, u32)>;

/// Interval lists: (source, destination).
type Rect = (Vec<(u32, u32)>, Vec<(u32, u32)>);

/// A service: one protocol with source and destination port ranges.
type Svc = (Protocol, (u32, u32), (u32, u32));

/// A destination port range as a message shows it: port 0 is no service a host offers
/// (a range the analysis starts at 0 reads from 1: `tcp/1-442`, never `tcp/0-442`).
fn shown_ports(lo: u32, hi: u32) -> Ports {
    let lo = if lo == 0 && hi > 0 { 1 } else { lo };
    Ports {
        lo: lo as u16,
        hi: hi as u16,
    }
}

/// Services as an engineer reads them: `all`, a protocol, or `tcp/22`, merged per protocol.
fn describe_services(svcs: &BTreeSet<Svc>) -> Vec<String> {
    let full = |p: Protocol| {
        if p.has_ports() {
            ((FIRST_CLIENT_PORT, 65535), (0, 65535))
        } else {
            ((0, 0), (0, 0))
        }
    };
    let mut out = Vec::new();
    let mut all = true;
    for p in Protocol::CONCRETE {
        let of_p: Vec<&Svc> = svcs.iter().filter(|s| s.0 == p).collect();
        if of_p.is_empty() {
            all = false;
            continue;
        }
        let (fs, fd) = full(p);
        // Destination-port ranges whose every source port fails, merged.
        let mut d: BTreeMap<(u32, u32), Vec<(u32, u32)>> = BTreeMap::new();
        for s in &of_p {
            d.entry(s.2).or_default().push(s.1);
        }
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        let mut partial = Vec::new();
        for (dr, mut srcs) in d {
            srcs.sort();
            let covers = {
                let mut next = fs.0;
                for (a, b) in &srcs {
                    if *a > next {
                        break;
                    }
                    next = next.max(b + 1);
                }
                next > fs.1
            };
            if covers {
                match ranges.last_mut() {
                    Some(r) if dr.0 <= r.1 + 1 => r.1 = r.1.max(dr.1),
                    _ => ranges.push(dr),
                }
            } else {
                for sr in srcs {
                    let from = Ports {
                        lo: sr.0 as u16,
                        hi: sr.1 as u16,
                    };
                    partial.push(if dr == fd {
                        format!("{p} from port {from}")
                    } else {
                        format!("{}/{} from port {from}", p, shown_ports(dr.0, dr.1))
                    });
                }
            }
        }
        if !p.has_ports() || (partial.is_empty() && ranges == vec![fd]) {
            out.push(p.to_string());
        } else {
            all = false;
            for (lo, hi) in ranges {
                out.push(format!("{}/{}", p, shown_ports(lo, hi)));
            }
            out.extend(partial);
        }
    }
    if all {
        vec!["all".into()]
    } else {
        out
    }
}

/// The instances inside the sets, as `id (address)`, in address order per set.
fn instances_in(m: &Model, src: &AddrSet, dst: &AddrSet) -> (Vec<String>, Option<usize>) {
    let mut v: Vec<usize> = [src, dst]
        .into_iter()
        .flat_map(|set| m.instances_in(set))
        .collect();
    v.dedup();
    crate::findings::finding::first_shown(&v, |i| {
        crate::net::addr::named_address(&m.instances[i].id, m.instances[i].ip)
    })
}
fn endpoints_in(
    m: &Model,
    idx: &Index,
    src: &AddrSet,
    dst: &AddrSet,
) -> (Vec<String>, Option<usize>) {
    let mut v: Vec<(usize, Ipv4Addr)> = Vec::new();
    for set in [src, dst] {
        for (lo, hi) in set.intervals() {
            let range = Ipv4Addr::from(lo)..=Ipv4Addr::from(hi);
            for (ip, &(d, _)) in idx.iface_by_ip.range(range) {
                if m.devices[d].kind == input::DeviceKind::Host {
                    v.push((d, *ip));
                }
            }
        }
    }
    v.dedup();
    crate::findings::finding::first_shown(&v, |(d, ip)| {
        crate::net::addr::named_address(&m.devices[d].id, ip)
    })
}

/// Cut each interval list at the others' bounds, giving disjoint atoms: the pieces
/// between consecutive bounds that some interval covers. One sweep over the bounds,
/// counting the intervals open at each.
fn atoms_of(ivs: &[(u32, u32)]) -> Vec<(u32, u32)> {
    // (bound, +1 where an interval starts, -1 after one ends), in order.
    let mut events: Vec<(u64, i32)> = Vec::with_capacity(2 * ivs.len());
    for &(lo, hi) in ivs {
        events.push((u64::from(lo), 1));
        events.push((u64::from(hi) + 1, -1));
    }
    events.sort_unstable();
    let mut out = Vec::new();
    let mut open = 0;
    let mut k = 0;
    while k < events.len() {
        let at = events[k].0;
        while k < events.len() && events[k].0 == at {
            open += events[k].1;
            k += 1;
        }
        if open > 0 {
            if let Some(&(next, _)) = events.get(k) {
                out.push((at as u32, (next - 1) as u32));
            }
        }
    }
    out
}

/// What failing boxes are grouped by: each group is one finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    code: String,
    device: String,
    rule: Option<String>,
    dir: FlowDirection,
    reply: bool,
    conn: usize,
}

/// Group failing boxes into findings with exact source/destination lists.
fn findings_from<'o>(
    m: &Model,
    idx: &Index,
    outcomes: &'o [Outcome],
    infra: &[u32],
) -> Vec<(Finding, Vec<&'o Outcome>)> {
    // Group by cause first (no text needed), then name each distinct cause once.
    use rayon::prelude::*;
    let mut keyed: Vec<(&Cause, FlowDirection, usize, usize)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.cause.as_ref().map(|c| (c, o.dir, o.conn, i)))
        .collect();
    keyed.par_sort_unstable();
    let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    for same in keyed.chunk_by(|a, b| (a.0, a.1, a.2) == (b.0, b.1, b.2)) {
        let (c, dir, conn, _) = same[0];
        let key = GroupKey {
            code: c.code(m).to_string(),
            device: c.device(m),
            rule: c.rule(m),
            dir,
            reply: c.is_reply(),
            conn,
        };
        groups
            .entry(key)
            .or_default()
            .extend(same.iter().map(|x| x.3));
    }
    let groups: Vec<(GroupKey, Vec<&Outcome>)> = groups
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable(); // the order the outcomes were found in
            (k, v.into_iter().map(|i| &outcomes[i]).collect())
        })
        .collect();
    groups
        .into_par_iter()
        .map(|(key, fs)| finding_of(m, idx, infra, key.reply, fs))
        .collect()
}

/// The finding of one group of failing boxes (same cause, device, rule, direction,
/// connection; `reply`: a failure of the return path), with the boxes.
pub(crate) fn finding_of<'o>(
    m: &Model,
    idx: &Index,
    infra: &[u32],
    reply: bool,
    fs: Vec<&'o Outcome>,
) -> (Finding, Vec<&'o Outcome>) {
    let rects = rectangles(&fs);
    // One finding per group: the union of the failing sources, destinations and
    // services; the exact parts when that union is not itself the failing set.
    let all_src: Vec<(u32, u32)> = rects.keys().flat_map(|(s, _)| s.iter().copied()).collect();
    let all_dst: Vec<(u32, u32)> = rects.keys().flat_map(|(_, d)| d.iter().copied()).collect();
    let svcs: BTreeSet<Svc> = rects.values().flatten().copied().collect();
    let src = tidy(&AddrSet::from_intervals(all_src), infra);
    let dst = tidy(&AddrSet::from_intervals(all_dst), infra);
    let first = fs[0];
    let cause = first.cause.as_ref().expect("a failure");
    let traffic = group_traffic(first.conn, &svcs, &src, &dst, reply);
    let mut f = cause.finding(m, Some(first.dir), &traffic);
    f.direction = Some(first.dir);
    f.connection = Some(m.connections[first.conn].id.clone());
    f.services = describe_services(&svcs);
    if f.services != ["all"] {
        f.message = f.message.replacen(
            "all traffic",
            &format!("{} traffic", f.services.join(", ")),
            1,
        );
    }
    let (endpoints, endpoints_total) = endpoints_in(m, idx, &src, &dst);
    (f.endpoints, f.endpoints_total) = (endpoints, endpoints_total);
    let (instances, instances_total) = instances_in(m, &src, &dst);
    (f.instances, f.instances_total) = (instances, instances_total);
    f.parts = traffic_parts(&rects, infra, reply);
    if reply {
        f.message.push_str(&crate::findings::cause::flows_started(
            first.dir, &src, &dst,
        ));
    }
    // A default deny of some services between addresses the deciding groups or chain
    // accept other services between is a port policy, not a broken VPN: a warning.
    if cause.looks_like_port_policy(m, &traffic) {
        f.severity = Severity::Warning;
        f.message.push_str("; other services between these addresses are allowed, so this looks like a port policy — open it only if these services are meant to work");
    }
    (f, fs)
}

/// The failing boxes as (source set, destination set) rectangles, each with the services
/// that fail between them: per service, the destination atoms with the sources that fail
/// for them, destinations with the same sources merged.
fn rectangles(fs: &[&Outcome]) -> BTreeMap<Rect, BTreeSet<Svc>> {
    // Port ranges cut where any outcome's range starts or ends, per protocol and port, so
    // that the services are the same however the exploration split the packets.
    let mut cuts: BTreeMap<(Protocol, usize), BTreeSet<u32>> = BTreeMap::new();
    for o in fs {
        for d in [2, 3] {
            let c = cuts.entry((o.protocol, d)).or_default();
            c.insert(o.region.lo[d]);
            c.insert(o.region.hi[d].saturating_add(1));
        }
    }
    let pieces = |p: Protocol, d: usize, lo: u32, hi: u32| -> Vec<(u32, u32)> {
        let c = &cuts[&(p, d)];
        let mut out = Vec::new();
        let mut from = lo;
        for &x in c.range(lo + 1..hi.max(lo) + 1) {
            out.push((from, x - 1));
            from = x;
        }
        out.push((from, hi));
        out
    };
    let mut by_svc: BTreeMap<Svc, Vec<&Outcome>> = BTreeMap::new();
    for o in fs {
        let (r, p) = (&o.region, o.protocol);
        for sp in pieces(p, 2, r.lo[2], r.hi[2]) {
            for dp in pieces(p, 3, r.lo[3], r.hi[3]) {
                by_svc.entry((p, sp, dp)).or_default().push(o);
            }
        }
    }
    let mut rects: BTreeMap<Rect, BTreeSet<Svc>> = BTreeMap::new();
    for (svc, os) in by_svc {
        // Sources failing per destination list (an atom set, or one interval).
        // Outcomes share their atom lists (one per set the exploration found): each
        // distinct source list is added once.
        type Ivl<'a> = &'a [(u32, u32)];
        let mut lists: BTreeMap<Ivl, Vec<Ivl>> = BTreeMap::new();
        for o in &os {
            lists.entry(&o.dst[..]).or_default().push(&o.src[..]);
        }
        let by_dst: BTreeMap<&[(u32, u32)], Ivs> = lists
            .into_iter()
            .map(|(d, mut srcs)| {
                srcs.sort_unstable_by_key(|s| (s.as_ptr(), s.len()));
                srcs.dedup_by_key(|s| (s.as_ptr(), s.len()));
                (d, srcs.into_iter().flatten().copied().collect())
            })
            .collect();
        let mut flat: Vec<(u32, u32)> = by_dst.keys().flat_map(|d| d.iter().copied()).collect();
        flat.sort_unstable();
        let disjoint = flat.windows(2).all(|w| w[0].1 < w[1].0);
        let per_dst: Vec<(Ivs, Ivs)> = if disjoint {
            // The usual case: the destination lists are already disjoint.
            by_dst
                .into_iter()
                .map(|(d, srcs)| (d.to_vec(), srcs))
                .collect()
        } else {
            // Overlapping lists: per destination atom, the lists holding it; atoms held by
            // the same lists share their sources (merged once).
            let lists: Vec<(&[(u32, u32)], Ivs)> = by_dst.into_iter().collect();
            let atoms = atoms_of(&flat);
            let mut holders: Vec<Vec<usize>> = vec![Vec::new(); atoms.len()];
            for (li, (d, _)) in lists.iter().enumerate() {
                for &(lo, hi) in d.iter() {
                    let mut k = atoms.partition_point(|a| a.0 < lo);
                    while k < atoms.len() && atoms[k].0 <= hi {
                        holders[k].push(li);
                        k += 1;
                    }
                }
            }
            let mut by_holders: BTreeMap<Vec<usize>, Ivs> = BTreeMap::new();
            for (a, mut h) in atoms.into_iter().zip(holders) {
                h.dedup();
                by_holders.entry(h).or_default().push(a);
            }
            by_holders
                .into_iter()
                .map(|(h, dsts)| {
                    let srcs = h
                        .iter()
                        .flat_map(|&li| lists[li].1.iter().copied())
                        .collect();
                    (dsts, srcs)
                })
                .collect()
        };
        let mut by_src: BTreeMap<Vec<(u32, u32)>, Ivs> = BTreeMap::new();
        for (ds, srcs) in per_dst {
            by_src.entry(merge_intervals(srcs)).or_default().extend(ds);
        }
        for (srcs, dsts) in by_src {
            let d = merge_intervals(dsts);
            rects.entry((srcs, d)).or_default().insert(svc);
        }
    }
    rects
}

/// The exact parts of a finding's traffic, when there is more than one rectangle (a
/// reply's parts run the other way, as its traffic does).
fn traffic_parts(
    rects: &BTreeMap<Rect, BTreeSet<Svc>>,
    infra: &[u32],
    reply: bool,
) -> Vec<TrafficPart> {
    let rects = merged_parts(rects);
    if rects.len() <= 1 {
        return Vec::new();
    }
    rects
        .iter()
        .map(|((s, d), sv)| {
            let (a, b) = (
                tidy(&AddrSet::from_intervals(s.iter().copied()), infra).cidrs(),
                tidy(&AddrSet::from_intervals(d.iter().copied()), infra).cidrs(),
            );
            let (source, destination) = if reply { (b, a) } else { (a, b) };
            TrafficPart {
                source,
                destination,
                services: describe_services(sv),
            }
        })
        .collect()
}

/// The services as a canonical set: destination-port ranges of the same protocol and
/// source ports that touch are joined (tcp/137-138 and tcp/139 are tcp/137-139).
fn joined_services(svcs: &BTreeSet<Svc>) -> BTreeSet<Svc> {
    let mut out: Vec<Svc> = Vec::with_capacity(svcs.len());
    for &(p, sp, dp) in svcs {
        match out.last_mut() {
            Some(l) if l.0 == p && l.1 == sp && u64::from(l.2 .1) + 1 == u64::from(dp.0) => {
                l.2 .1 = dp.1
            }
            _ => out.push((p, sp, dp)),
        }
    }
    out.into_iter().collect()
}

/// The rectangles with the same packets per address pair written once: services joined
/// (see [`joined_services`]), then rectangles with the same destinations and services
/// joined over their sources, then those with the same sources and services over their
/// destinations. The packets are the same; the parts are fewer.
fn merged_parts(rects: &BTreeMap<Rect, BTreeSet<Svc>>) -> BTreeMap<Rect, BTreeSet<Svc>> {
    let mut by_dst: BTreeMap<(Ivs, BTreeSet<Svc>), Ivs> = BTreeMap::new();
    for ((s, d), sv) in rects {
        by_dst
            .entry((d.clone(), joined_services(sv)))
            .or_default()
            .extend(s.iter().copied());
    }
    let mut by_src: BTreeMap<(Ivs, BTreeSet<Svc>), Ivs> = BTreeMap::new();
    for ((d, sv), s) in by_dst {
        by_src
            .entry((merge_intervals(s), sv))
            .or_default()
            .extend(d);
    }
    // Parts that end up with the same sources and destinations hold different services:
    // one part with all of them.
    let mut out: BTreeMap<Rect, BTreeSet<Svc>> = BTreeMap::new();
    for ((s, sv), d) in by_src {
        out.entry((s, merge_intervals(d))).or_default().extend(sv);
    }
    for sv in out.values_mut() {
        *sv = joined_services(sv);
    }
    out
}

/// The traffic a group's finding is about: its sources and destinations (swapped for a
/// reply, whose traffic runs the other way), its protocol when it has one, and the hull
/// of its ports (client source ports read as any).
fn group_traffic(
    conn: usize,
    svcs: &BTreeSet<Svc>,
    src: &AddrSet,
    dst: &AddrSet,
    reply: bool,
) -> Traffic {
    let protos: BTreeSet<Protocol> = svcs.iter().map(|s| s.0).collect();
    let (protocol, dst_ports, src_ports) = if protos.len() == 1 {
        let p = *protos.iter().next().expect("one");
        let hull = |f: fn(&Svc) -> (u32, u32)| {
            let lo = svcs.iter().map(|s| f(s).0).min().unwrap_or(0);
            let hi = svcs.iter().map(|s| f(s).1).max().unwrap_or(65535);
            Ports {
                lo: lo as u16,
                hi: hi as u16,
            }
        };
        if p.has_ports() {
            let sp = hull(|s| s.1);
            let sp = if sp.lo as u32 <= FIRST_CLIENT_PORT && sp.hi == 65535 {
                Ports::ANY
            } else {
                sp
            };
            (p, hull(|s| s.2), sp)
        } else {
            (p, Ports::ANY, Ports::ANY)
        }
    } else {
        (Protocol::All, Ports::ANY, Ports::ANY)
    };
    if reply {
        Traffic {
            conn: Some(conn),
            src: dst.clone(),
            dst: src.clone(),
            protocol,
            dst_ports: src_ports,
            src_ports: dst_ports,
        }
    } else {
        Traffic {
            conn: Some(conn),
            src: src.clone(),
            dst: dst.clone(),
            protocol,
            dst_ports,
            src_ports,
        }
    }
}

/// Every address of the set, in order (for the few network devices' own addresses).
fn addresses(set: &AddrSet) -> Vec<u32> {
    set.intervals()
        .into_iter()
        .flat_map(|(lo, hi)| lo..=hi)
        .collect()
}

/// Add the network devices' own addresses (never analysed) where that shortens the list:
/// the list still covers every failing address and no working one.
fn tidy(set: &AddrSet, infra: &[u32]) -> AddrSet {
    let is_infra = |a: u32| infra.binary_search(&a).is_ok();
    let ivs = set.intervals();
    let mut grown: Vec<(u32, u32)> = Vec::with_capacity(ivs.len());
    for (mut lo, mut hi) in ivs.iter().copied() {
        while lo > 0 && is_infra(lo - 1) {
            lo -= 1;
        }
        while hi < u32::MAX && is_infra(hi + 1) {
            hi += 1;
        }
        grown.push((lo, hi));
    }
    let grown = merge_intervals(grown);
    let count = |v: &[(u32, u32)]| {
        v.iter()
            .map(|&(lo, hi)| crate::net::addr::range_to_nets(lo, hi).len())
            .sum::<usize>()
    };
    if count(&grown) < count(&ivs) {
        AddrSet::from_intervals(grown)
    } else {
        set.clone()
    }
}

/// Apply a finding's change to a copy of the topology.
pub fn apply_change(
    t: &input::Topology,
    change: &Change,
    n: usize,
) -> Result<input::Topology, FixError> {
    fix::apply(t, change, n)
}

/// `check`'s reachability over a loaded model; `topo` is the same topology as written,
/// used to apply and verify fixes. The findings come per connection, in the order they
/// were grouped in: [`check_all`] sorts them once with the others.
fn run(topo: &input::Topology, m: &Model) -> CheckReport {
    use rayon::prelude::*;
    let t0 = std::time::Instant::now();
    let Setup {
        spaces,
        infra,
        index,
        prefixes,
        alike,
    } = setup(m, None, true);
    let idx = index.expect("setup builds the index when none is given");
    let infra = addresses(&infra);
    let t_setup = t0.elapsed();
    // Connections are independent: each is explored, its findings made and their fixes
    // settled in one task, all in parallel; its outcomes are dropped when it is done.
    let per: Vec<ConnChecked> = (0..m.connections.len())
        .into_par_iter()
        .map(|ci| {
            check_conn(
                topo,
                m,
                &idx,
                (&spaces, &prefixes, alike.as_ref()),
                &infra,
                ci,
            )
        })
        .collect();
    let t_analysed = t0.elapsed();
    let mut findings: Vec<Finding> = Vec::with_capacity(per.iter().map(|c| c.findings.len()).sum());
    let mut summary = Vec::new();
    let mut warnings = Vec::new();
    let mut timings = Timings {
        setup: t_setup,
        analysed: t_analysed,
        ..Timings::default()
    };
    let mut count = 0;
    // In connection order, each connection's findings in the order they were grouped
    // in: `check_all`'s sort keeps that order among equals, which are always of one
    // connection.
    for c in per {
        findings.extend(c.findings);
        summary.extend(c.summary);
        warnings.extend(c.warnings);
        count += c.traced;
        timings.reach += c.times[0];
        timings.findings += c.times[1];
        timings.fixes += c.times[2];
        timings.outcomes += c.outcomes;
        timings.first_connection = timings.first_connection.or(c.groups);
    }
    // The index and tables are large: dropped beside the rest.
    rayon::spawn(move || drop((idx, prefixes)));
    one_not_established_per_connection(m, &mut findings);
    // Configured space nothing holds is a note on its connection, not a faq finding.
    let (space, warnings): (Vec<Finding>, Vec<Finding>) = warnings
        .into_iter()
        .partition(|w| w.code == crate::findings::code::Code::ConnectionSpaceUnused);
    let notes = space
        .into_iter()
        .map(|w| Note {
            connection: w.connection.unwrap_or_default(),
            message: w.message,
        })
        .collect();
    findings.extend(warnings);
    CheckReport {
        findings,
        notes,
        summary,
        classes_traced: count,
        timings,
    }
}

/// One connection checked (see [`check_conn`]).
struct ConnChecked {
    /// Its findings, in the order they were grouped in.
    findings: Vec<Finding>,
    summary: Vec<PairSummary>,
    warnings: Vec<Finding>,
    traced: usize,
    outcomes: usize,
    groups: Option<ConnGroups>,
    /// Exploring, making the findings, settling their fixes.
    times: [std::time::Duration; 3],
}

/// Connection `ci`: explored (see [`reach_conn`]), its failing outcomes grouped into
/// findings, and each error finding's fix settled (see [`settle_fix`]) beside the
/// connection's pair summaries. The fixes are settled one after the other: connections
/// already run in parallel, and a connection's fixes share its outcomes, which threads
/// taking turns would pass back and forth (measured: 5-10 ms slower at estate 160).
fn check_conn(
    topo: &input::Topology,
    m: &Model,
    idx: &Index,
    setup: (&Spaces, &Prefixes, Option<&std::sync::Arc<Alike>>),
    infra: &[u32],
    ci: usize,
) -> ConnChecked {
    let (spaces, prefixes, _) = setup;
    let t0 = std::time::Instant::now();
    let ConnReached {
        failing,
        traced,
        warnings,
        groups,
    } = reach_conn(m, idx, ci, setup);
    let t1 = std::time::Instant::now();
    let made = findings_from(m, idx, &failing, infra);
    let t2 = std::time::Instant::now();
    // A subnet pair fails when an error finding's traffic touches it; a port policy
    // (a warning) leaves the pair working.
    let (summary, settled) = rayon::join(
        || {
            summaries(
                m,
                ci,
                spaces,
                made.iter()
                    .filter(|(f, _)| f.is_error())
                    .flat_map(|(_, o)| o.iter().copied()),
            )
        },
        || {
            made.iter()
                .map(|(f, o)| settle_fix(topo, m, idx, prefixes, infra, f, o))
                .collect::<Vec<Settled>>()
        },
    );
    let findings = made
        .into_iter()
        .zip(settled)
        .map(|((mut f, _), s)| {
            apply_settled(m, &mut f, s);
            f
        })
        .collect();
    ConnChecked {
        findings,
        summary,
        warnings,
        traced,
        outcomes: failing.len(),
        groups,
        times: [t1 - t0, t2 - t1, t2.elapsed()],
    }
}

/// Put how its fix was settled into the finding.
fn apply_settled(m: &Model, f: &mut Finding, s: Settled) {
    match s {
        Settled::Warning => {}
        Settled::Deleted(d) => {
            f.verified = Some(true);
            f.fix = crate::analysis::search::describe(m, &d);
            f.vendor_fix = crate::analysis::search::vendor_fix(&d);
            f.change = Some(d);
            f.also.clear();
        }
        Settled::Own => f.verified = Some(true),
        Settled::Searched(own, found) => {
            if own.is_some() {
                f.verified = own;
            }
            if let Some(found) = found {
                crate::analysis::search::settle(f, found);
            }
        }
    }
}

/// How an error finding's fix was settled (see [`settle_fix`]).
enum Settled {
    /// Not an error: its fix is a suggestion, not verified.
    Warning,
    /// Deleting the rule that decided the drop passes: that is the fix.
    Deleted(Change),
    /// The own fix passes.
    Own,
    /// Neither passed: the own fix's verdict and what the search found.
    Searched(Option<bool>, Option<crate::analysis::search::Found>),
}

/// Settle an error finding's fix (an error carries a verified fix; a warning's fix is
/// a suggestion). Two single changes are candidates: removing the rule that decided
/// the drop, when it concerns only the connection's traffic (see `search::deletion`;
/// preferred: removing a wrong rule beats overriding it), then the finding's own fix
/// when the deletion does not pass; where neither does, the path is searched for the
/// smallest change that does, or the changes it takes (given what still fails after
/// each, so it is not analysed again).
#[allow(clippy::too_many_arguments)]
fn settle_fix(
    topo: &input::Topology,
    m: &Model,
    idx: &Index,
    prefixes: &Prefixes,
    infra: &[u32],
    f: &Finding,
    members: &[&Outcome],
) -> Settled {
    if !f.is_error() {
        return Settled::Warning;
    }
    let verdict = |c: &Change| {
        let fm = fixed_model(topo, m, idx, prefixes, c);
        let entry = fm.as_ref().map(|x| {
            (
                &x.model,
                x.index.as_ref().unwrap_or(idx),
                x.prefixes.as_ref(),
            )
        });
        verify(m, entry, members)
    };
    let cause = members[0].cause.as_ref().expect("a failure");
    let deletion = crate::analysis::search::deletion(m, cause, members[0].conn)
        .filter(|d| Some(d) != f.change.as_ref());
    let mut tried: Vec<(Change, Vec<Outcome>)> = Vec::new();
    if let Some(d) = deletion {
        let (v, left) = verdict(&d);
        if v.verified {
            return Settled::Deleted(d);
        }
        tried.push((d, left));
    }
    let own = f.change.as_ref().map(|c| {
        let (v, left) = verdict(c);
        if !v.verified {
            tried.push((c.clone(), left));
        }
        v.verified
    });
    if own == Some(true) {
        return Settled::Own;
    }
    let found = crate::analysis::search::search(topo, m, idx, prefixes, f, members, &tried, infra);
    Settled::Searched(own, found)
}

/// A connection without an IPsec SA stops both directions for one cause: one finding
/// (direction null) per connection, holding the VPC→IDC finding's traffic and the
/// endpoints of both.
fn one_not_established_per_connection(m: &Model, findings: &mut Vec<Finding>) {
    use crate::findings::code::Code;
    // In place: the first finding of each connection takes the others' endpoints, which
    // then go (the rest stay where they are).
    let mut kept: BTreeMap<String, usize> = BTreeMap::new();
    let mut gone = vec![false; findings.len()];
    for i in 0..findings.len() {
        let Some(conn) = findings[i]
            .connection
            .clone()
            .filter(|_| findings[i].code == Code::IpsecNotEstablished)
        else {
            continue;
        };
        match kept.get(&conn) {
            Some(&k) => {
                for e in std::mem::take(&mut findings[i].endpoints) {
                    if !findings[k].endpoints.contains(&e) {
                        findings[k].endpoints.push(e);
                    }
                }
                gone[i] = true;
            }
            None => {
                let f = &mut findings[i];
                if f.direction == Some(FlowDirection::OnpremToCloud) {
                    std::mem::swap(&mut f.source, &mut f.destination);
                }
                if let Some(c) = m.connections.iter().find(|c| c.id == conn) {
                    f.message = crate::findings::not_established_both_ways(
                        &c.id,
                        c.status.as_str(),
                        &f.source,
                        &f.destination,
                    );
                }
                f.direction = None;
                f.parts.clear();
                kept.insert(conn, i);
            }
        }
    }
    let mut k = 0;
    findings.retain(|_| {
        k += 1;
        !gone[k - 1]
    });
}

pub fn sort_findings(v: &mut [Finding]) {
    type Key<'f> = (
        Option<&'f str>,
        u8,
        Option<FlowDirection>,
        Severity,
        crate::findings::code::Code,
        Option<&'f str>,
        Option<&'f str>,
        &'f [crate::net::addr::Cidr],
        &'f [crate::net::addr::Cidr],
    );
    fn key(f: &Finding) -> Key<'_> {
        (
            f.connection.as_deref(),
            f.faq,
            f.direction,
            f.severity,
            f.code,
            f.device.as_deref(),
            f.rule.as_deref(),
            f.source.as_slice(),
            f.destination.as_slice(),
        )
    }
    // Findings are large: sort their positions, then move each once, following the
    // permutation's cycles.
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| key(&v[a]).cmp(&key(&v[b])));
    let mut placed = vec![false; v.len()];
    for start in 0..v.len() {
        // Along the cycle from `start`: position `k` takes the finding `order[k]` names
        // (still at that position until its own turn: the swaps only move it along).
        let mut k = start;
        while !placed[k] {
            placed[k] = true;
            let from = order[k];
            if from == start {
                break;
            }
            v.swap(k, from);
            k = from;
        }
    }
}

/// Whether a fix makes its finding's whole traffic pass (see [`verify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Every packet of the finding is delivered, and its reply comes back.
    pub verified: bool,
    /// Where the packets then stop: at the same cause, when the fix did not remove it;
    /// at other causes (reported or hidden behind this one until now) when it did.
    pub still_stops: Option<String>,
}

/// Re-analyse the finding's packets with the fix applied. Verified when every one of them
/// then passes both ways; where part of them still stops (at the same cause, or at
/// another one reported or hidden behind this one until now), the verdict names it.
///
/// The packets are re-analysed by [`refail`]: by the fixed model's atom sets when its
/// prefix tables (`prefixes2`) are given, else box by box.
fn verify(
    m: &Model,
    fixed: Option<(&Model, &Index, Option<&Prefixes>)>,
    members: &[&Outcome],
) -> (Verdict, Vec<Outcome>) {
    let not = |still_stops| Verdict {
        verified: false,
        still_stops,
    };
    let Some((m2, idx2, prefixes2)) = fixed else {
        return (not(None), Vec::new());
    };
    let left = refail(m2, idx2, prefixes2, members);
    let original = members[0].cause.as_ref().expect("a failure");
    let was = cause_name(m, original);
    let now = stops(m2, &left);
    // Verified only when the whole traffic then passes, both ways.
    let verdict = if now.contains(&was) {
        not(Some(format!(
            "{} at {} (the fix did not remove it)",
            was.0, was.1
        )))
    } else if now.is_empty() {
        Verdict {
            verified: true,
            still_stops: None,
        }
    } else {
        let other: BTreeSet<String> = now
            .into_iter()
            .map(|(code, device, rule)| {
                let rule = rule.map(|r| format!(", rule {r}")).unwrap_or_default();
                format!("{code} at {device}{rule}")
            })
            .collect();
        not(Some(other.into_iter().collect::<Vec<_>>().join("; ")))
    };
    (verdict, left)
}

/// A cause as a finding names it: code, device and rule (causes that differ only in
/// which packet or instance met them name the same place).
pub(crate) type CauseName = (crate::findings::code::Code, String, Option<String>);

pub(crate) fn cause_name(m: &Model, c: &Cause) -> CauseName {
    (c.code(m), c.device(m), c.rule(m))
}

/// Where the packets of `outcomes` stop in model `m`, each place named once (many
/// packets stop at the same one).
pub(crate) fn stops(m: &Model, outcomes: &[Outcome]) -> BTreeSet<CauseName> {
    let causes: BTreeSet<&Cause> = outcomes.iter().filter_map(|o| o.cause.as_ref()).collect();
    causes.into_iter().map(|c| cause_name(m, c)).collect()
}

/// The packets of `members` re-analysed in model `m2`: the outcomes that fail there.
/// With `m2`'s prefix tables, each member's sources and destinations are cut into `m2`'s
/// atoms and owner groups and explored by sets as `reach` does; without them every box
/// of every member is explored.
pub(crate) fn refail(
    m2: &Model,
    idx2: &Index,
    prefixes2: Option<&Prefixes>,
    members: &[&Outcome],
) -> Vec<Outcome> {
    let mut out = Vec::new();
    let Some(p2) = prefixes2 else {
        for o in members {
            for b in o.boxes() {
                let (r, _) = explore(m2, idx2, o.conn, o.dir, o.protocol, vec![b]);
                out.extend(r.into_iter().filter(|x| x.cause.is_some()));
            }
        }
        return out;
    };
    // Members of one atom set pair share their atom lists: each side is cut once.
    let key = |a: &Atoms| a.as_ptr() as *const () as usize;
    let mut cut: FastMap<usize, Groups> = FastMap::default();
    // The members' packets mostly share their sources (the model is the same).
    let mut sender = Sender::default();
    let mut traced = Vec::new();
    for (o, ports) in port_products(members) {
        let Some(pi) = o.protocol.concrete_index() else {
            continue;
        };
        let kind = PairKind {
            conn: o.conn,
            dir: o.dir,
            protocol: o.protocol,
            ports,
            alike: None,
        };
        if p2.is_one_group(&o.src, pi) && p2.is_one_group(&o.dst, pi) {
            // No prefix the change adds cuts either side: the member's own atom sets.
            let all = |a: &Atoms| AtomSet::of(a.clone(), 0..a.len());
            explore_sets(
                m2,
                idx2,
                &kind,
                all(&o.src),
                all(&o.dst),
                &mut sender,
                &mut traced,
            );
        } else {
            for side in [&o.src, &o.dst] {
                cut.entry(key(side))
                    .or_insert_with(|| match p2.one_group(side, pi) {
                        Some(c) => c,
                        None => groups_of(m2, idx2, side, p2),
                    });
            }
            let cp = GroupPairs {
                kind,
                src: &cut[&key(&o.src)],
                dst: &cut[&key(&o.dst)],
            };
            explore_groups(m2, idx2, &cp, AlikeMode::No, &mut traced);
        }
        out.extend(traced.drain(..).filter(|x| x.cause.is_some()));
    }
    out
}

/// The members as products to re-explore, in the members' order: one traced packet's
/// outcomes (the same atom lists and source ports, one outcome per destination port
/// interval, next to each other) are one product, their destination ports joined; each
/// with the first such member.
fn port_products<'o>(members: &[&'o Outcome]) -> Vec<(&'o Outcome, [PortSet; 2])> {
    let same = |a: &Outcome, b: &Outcome| {
        (a.conn, a.dir, a.protocol, a.region.lo[2], a.region.hi[2])
            == (b.conn, b.dir, b.protocol, b.region.lo[2], b.region.hi[2])
            && std::sync::Arc::ptr_eq(&a.src, &b.src)
            && std::sync::Arc::ptr_eq(&a.dst, &b.dst)
    };
    let mut out: Vec<(&Outcome, [PortSet; 2])> = Vec::with_capacity(members.len());
    for &o in members {
        let dport = (o.region.lo[3], o.region.hi[3]);
        match out.last_mut() {
            Some((first, ports)) if same(first, o) => {
                let d = &mut ports[1].0;
                let at = d.partition_point(|iv| iv.0 < dport.0);
                d.insert(at, dport);
            }
            _ => out.push((
                o,
                [
                    PortSet::interval(o.region.lo[2], o.region.hi[2]),
                    PortSet::interval(dport.0, dport.1),
                ],
            )),
        }
    }
    out
}

/// The topology with one change applied, lowered and indexed.
struct Fixed {
    model: Model,
    /// None: the original index serves.
    index: Option<Index>,
    /// None: the boxes are re-analysed one by one.
    prefixes: Option<Prefixes>,
}

/// The topology with one change applied, lowered and indexed (None when it does not
/// apply). A change to one security group, route table or device patches the model, and
/// the index is rebuilt only where it depends on what changed (None: `idx` serves); the
/// prefix tables are then those of the original model plus the changed object's (a
/// superset of the fixed model's, which only cuts atoms finer). A change lowered afresh
/// has no prefix tables (its boxes are re-analysed one by one).
fn fixed_model(
    topo: &input::Topology,
    m: &Model,
    idx: &Index,
    prefixes: &Prefixes,
    change: &Change,
) -> Option<Fixed> {
    if let Some(res) = fix::apply_to_model(topo, m, change, 1) {
        let fix::PatchedModel {
            model,
            reindex,
            patched,
        } = res.ok()?;
        let index =
            (reindex != crate::graph::index::Reindex::Keep).then(|| idx.patched(&model, reindex));
        let prefixes2 = prefixes_with(prefixes, &model, patched, change);
        return Some(Fixed {
            model,
            index,
            prefixes: Some(prefixes2),
        });
    }
    let fixed = apply_change(topo, change, 1).ok()?;
    let model = crate::model::lower("(fixed)", &fixed).ok()?;
    let index = Index::build(&model);
    Some(Fixed {
        model,
        index: Some(index),
        prefixes: None,
    })
}

/// The prefix tables of a patched model: those of the original plus the patched
/// object's (a superset of the patched model's own, which only cuts atoms finer).
pub(crate) fn prefixes_with(
    prefixes: &Prefixes,
    model: &Model,
    patched: fix::Patched,
    change: &Change,
) -> Prefixes {
    // A deleted rule names no prefix the tables lack.
    if matches!(
        change,
        Change::DeleteSgRule { .. } | Change::DeleteFilterRule { .. }
    ) {
        return prefixes.clone();
    }
    let mut n = Named::default();
    match (change, patched) {
        // Only the inserted rules are new (the device's others are in the tables): their
        // sources and destinations, as `Named::device` collects a rule's.
        (
            Change::InsertFilterRule {
                sources,
                destinations,
                protocol,
                source_ports,
                destination_ports,
                ..
            },
            fix::Patched::Device(_),
        ) => {
            let ports = !(source_ports.is_any() && destination_ports.is_any());
            for c in sources.iter().chain(destinations) {
                n.ruled.push((*protocol, ports, c.network()));
            }
        }
        (_, fix::Patched::SecurityGroup(i)) => n.security_group(&model.security_groups[i]),
        (_, fix::Patched::RouteTable(i)) => n.route_table(&model.route_tables[i]),
        (_, fix::Patched::Device(i)) => n.device(&model.devices[i]),
    }
    // Only prefixes the tables lack: those of the object's unchanged parts are there.
    let mut extra = n.by_protocol();
    for (k, v) in extra.iter_mut().enumerate() {
        v.retain(|x| {
            prefixes.base[k].binary_search(x).is_err()
                && prefixes.extra[k].binary_search(x).is_err()
        });
    }
    Prefixes {
        base: prefixes.base.clone(),
        extra: [0, 1, 2, 3].map(|k| union_sorted(&prefixes.extra[k], &extra[k])),
        vswitches: prefixes.vswitches.clone(),
        cut_outcomes: prefixes.cut_outcomes,
    }
}

/// Apply every verified fix (with the further changes it needs) in turn; return the
/// fixed topology.
pub fn write_fixed(
    topo: &input::Topology,
    report: &CheckReport,
) -> Result<input::Topology, FixError> {
    let mut t = topo.clone();
    let mut n = 0;
    // Several findings may carry the same fix (one split for both directions): once each.
    let mut done = BTreeSet::new();
    for f in &report.findings {
        if let (Some(change), Some(true)) = (&f.change, f.verified) {
            // The fix's further changes after its first (see `Finding::also`).
            for change in std::iter::once(change).chain(&f.also) {
                if !done.insert(change) {
                    continue;
                }
                n += 1;
                t = apply_change(&t, change, n)?;
            }
        }
    }
    Ok(t)
}

/// Findings of every kind for `check`: settings (faq 1, 2), SA layout (5) and
/// reachability (3, 4, 5, 6).
pub fn check_all(topo: &input::Topology, m: &Model) -> CheckReport {
    // The settings and SA-layout checks are independent of reachability: beside it.
    let (mut report, (settings, layout)) = rayon::join(
        || run(topo, m),
        || (settings_findings(topo), crate::analysis::salayout::check(m)),
    );
    report.findings.extend(settings);
    report.findings.extend(layout);
    // Settings fixes (faq 1, 2) as changes, and bringing the connection up after them.
    crate::analysis::settings::attach(topo, &mut report.findings);
    sort_findings(&mut report.findings);
    report
}

/// Phase-1/phase-2 settings findings (faq 1, 2).
fn settings_findings(topo: &input::Topology) -> Vec<Finding> {
    crate::analysis::negotiation::compare(topo)
}

/// Severity ordering helper for renderers.
pub fn is_error(f: &Finding) -> bool {
    f.severity == Severity::Error
}

/// For every error finding with a change: the fix's verdict by the fixed model's atom sets
/// and by exploring every box (they must agree; `tests/check.rs` and the unit tests
/// compare them on the corpus and on generated topologies).
#[doc(hidden)]
pub fn verification_by_sets_and_by_boxes(
    name: &str,
    topo: &input::Topology,
) -> Vec<(String, Verdict, Verdict)> {
    let m = crate::model::lower(name, topo).unwrap();
    let Reached {
        failing: outcomes,
        infra,
        index,
        prefixes,
        ..
    } = reach(&m, None, true);
    let idx = index.expect("reach builds the index when none is given");
    let infra = addresses(&infra);
    let mut out = Vec::new();
    for (f, members) in findings_from(&m, &idx, &outcomes, &infra) {
        let Some(change) = f.change.as_ref().filter(|_| f.is_error()) else {
            continue;
        };
        let Some(Fixed {
            model: m2,
            index: i2,
            prefixes: Some(p2),
        }) = fixed_model(topo, &m, &idx, &prefixes, change)
        else {
            continue;
        };
        let i2 = i2.as_ref().unwrap_or(&idx);
        out.push((
            format!("{name}: {} at {:?}", f.code, f.device),
            verify(&m, Some((&m2, i2, Some(&p2))), &members).0,
            verify(&m, Some((&m2, i2, None)), &members).0,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_sorted_lists() {
        assert_eq!(
            union_sorted(&[(1, 1), (3, 4), (9, 9)], &[(0, 5), (3, 4), (10, 10)]),
            vec![(0, 5), (1, 1), (3, 4), (9, 9), (10, 10)]
        );
        assert_eq!(union_sorted(&[], &[(2, 2)]), vec![(2, 2)]);
    }

    /// Re-analysing a fix's packets by the fixed model's atom sets gives the verdict
    /// exploring every box gives, for every fix `check` proposes on the corpus (and, in
    /// `tests/check.rs`, on a generated topology).
    #[test]
    fn verifying_by_sets_agrees_with_exploring_every_box() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut compared = 0;
        for p in files {
            let name = p.display().to_string();
            let topo = crate::model::parse(&name, &std::fs::read_to_string(&p).unwrap()).unwrap();
            for (what, by_sets, by_boxes) in verification_by_sets_and_by_boxes(&name, &topo) {
                assert_eq!(by_sets, by_boxes, "{what}");
                compared += 1;
            }
        }
        assert!(compared >= 10, "only {compared} verdicts compared");
    }

    /// Instances with the same security groups on vSwitches that share a route table are
    /// one group; a vSwitch with a route table of its own (same entries or not) keeps
    /// its instances apart.
    #[test]
    fn vswitches_sharing_a_route_table_are_one_group() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/healthy.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let sg = v["cloud"]["instances"][0]["security_groups"].clone();
        v["cloud"]["instances"][1]["security_groups"] = sg;
        let instance_groups = |v: &serde_json::Value| {
            let topo = crate::model::parse("t", &v.to_string()).unwrap();
            let m = crate::model::lower("t", &topo).unwrap();
            let idx = Index::build(&m);
            let ivs: Vec<(u32, u32)> = m
                .vswitches
                .iter()
                .map(|x| (u32::from(x.cidr.network()), u32::from(x.cidr.broadcast())))
                .collect();
            let cl = groups_of(&m, &idx, &ivs, &prefixes_by_protocol(&m));
            let owned = |k: &usize| cl.atoms[*k].0 == cl.atoms[*k].1;
            cl.groups
                .iter()
                .filter(|g| g.iter().all(owned))
                .map(|g| g.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(instance_groups(&v), vec![2], "one group of two instances");
        let mut own = v["cloud"]["route_tables"][0].clone();
        own["id"] = "vtb-own".into();
        own["system"] = false.into();
        v["cloud"]["route_tables"].as_array_mut().unwrap().push(own);
        v["cloud"]["vswitches"][1]["route_table"] = "vtb-own".into();
        assert_eq!(instance_groups(&v), vec![1, 1], "a group per route table");
    }

    #[test]
    fn atoms_cut_overlapping_intervals() {
        assert_eq!(
            atoms_of(&[(0, 9), (5, 14), (20, 20)]),
            vec![(0, 4), (5, 9), (10, 14), (20, 20)]
        );
        assert_eq!(
            atoms_of(&[(7, u32::MAX), (7, 7)]),
            vec![(7, 7), (8, u32::MAX)]
        );
        // Against the definition (every piece between consecutive bounds that an
        // interval holds), on random overlapping intervals.
        let naive = |ivs: &[(u32, u32)]| -> Vec<(u32, u32)> {
            let mut cuts: Vec<u64> = ivs
                .iter()
                .flat_map(|&(lo, hi)| [u64::from(lo), u64::from(hi) + 1])
                .collect();
            cuts.sort();
            cuts.dedup();
            cuts.windows(2)
                .map(|w| (w[0], w[1] - 1))
                .filter(|&(lo, hi)| {
                    ivs.iter()
                        .any(|&(a, b)| u64::from(a) <= lo && hi <= u64::from(b))
                })
                .map(|(lo, hi)| (lo as u32, hi as u32))
                .collect()
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..500 {
            let ivs: Vec<(u32, u32)> = (0..next(8) + 1)
                .map(|_| {
                    let lo = next(64) as u32;
                    (lo, lo + next(16) as u32)
                })
                .collect();
            assert_eq!(atoms_of(&ivs), naive(&ivs), "{ivs:?}");
        }
    }

    #[test]
    fn services_read_as_an_engineer_writes_them() {
        let tcp22: Svc = (Protocol::Tcp, (FIRST_CLIENT_PORT, 65535), (22, 22));
        assert_eq!(
            describe_services(&[tcp22].into_iter().collect()),
            vec!["tcp/22"]
        );
        let all: BTreeSet<Svc> = [
            (Protocol::Tcp, (FIRST_CLIENT_PORT, 65535), (0, 65535)),
            (Protocol::Udp, (FIRST_CLIENT_PORT, 65535), (0, 65535)),
            (Protocol::Icmp, (0, 0), (0, 0)),
            (Protocol::Gre, (0, 0), (0, 0)),
        ]
        .into_iter()
        .collect();
        assert_eq!(describe_services(&all), vec!["all"]);
        let split: BTreeSet<Svc> = [
            (Protocol::Tcp, (FIRST_CLIENT_PORT, 65535), (0, 21)),
            (Protocol::Tcp, (FIRST_CLIENT_PORT, 65535), (23, 65535)),
            (Protocol::Icmp, (0, 0), (0, 0)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            describe_services(&split),
            // Port 0 is no service: the range reads from 1.
            vec!["tcp/1-21", "tcp/23-65535", "icmp"]
        );
    }
}
