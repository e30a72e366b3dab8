//! One flow, hop by hop, forward and back.
//!
//! The tracer walks the model the way the packet would: instance → security group →
//! VRouter → VPN gateway → tunnel → IDC gateway → … → destination, and then the reply
//! from the destination back, with the sessions (security groups, connection tracking,
//! NAT) that the forward pass created. Each rule of network behaviour lives in one
//! function below, documented with the system behaviour it mirrors.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::engine::cause::{Cause, Side, Traffic};
use crate::graph::index::Index;
use crate::graph::region::{member, rule_on, sa_cover, Cond, Conds, Narrow, Region, F};
use crate::input::{Action, Direction, IpsecMode, NatAction, Role, RpFilter, SgType};
pub use crate::model::rules::{
    route_choices, route_lookup, rule_fits, tunnel_endpoint, Endpoint, RouteChoice, RuleSpan,
    VrRoute,
};
use crate::model::FlowDirection;
use crate::model::{ChainKind, CloudHop, Device, Model, NatTo, SgPeer};
use crate::net::addr::Protocol;

/// Hops a packet may take before the trace calls it a loop (the IP TTL of Linux).
pub const MAX_HOPS: usize = 64;

/// The header fields every rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: Protocol,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
}

impl Packet {
    pub fn new(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: Protocol,
        src_port: u16,
        dst_port: u16,
    ) -> Packet {
        let (sp, dp) = if protocol.has_ports() {
            (Some(src_port), Some(dst_port))
        } else {
            (None, None)
        };
        Packet {
            src,
            dst,
            protocol,
            src_port: sp,
            dst_port: dp,
        }
    }
    /// The reply: addresses and ports swapped.
    pub fn reversed(&self) -> Packet {
        Packet {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }
    pub fn describe(&self) -> String {
        match (self.src_port, self.dst_port) {
            (Some(s), Some(d)) => {
                format!("{} {}:{} → {}:{}", self.protocol, self.src, s, self.dst, d)
            }
            _ => format!("{} {} → {}", self.protocol, self.src, self.dst),
        }
    }
}

/// How a path ends. One meaning per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The packet reached the device or instance that owns its destination address.
    Delivered,
    /// A rule, a missing route or a missing SA stopped the packet inside the modelled network.
    Dropped,
    /// The packet was sent to a next hop that no modelled device holds.
    ExitsNetwork,
    /// The packet came back to a state it had already been in, or ran out of hops (TTL 64).
    Loop,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Delivered => "delivered",
            Disposition::Dropped => "dropped",
            Disposition::ExitsNetwork => "exits_network",
            Disposition::Loop => "loop",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    SecurityGroup,
    Route,
    Filter,
    Nat,
    Ipsec,
    Tunnel,
    Kernel,
    Deliver,
    Exit,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::SecurityGroup => "security_group",
            StepKind::Route => "route",
            StepKind::Filter => "filter",
            StepKind::Nat => "nat",
            StepKind::Ipsec => "ipsec",
            StepKind::Tunnel => "tunnel",
            StepKind::Kernel => "kernel",
            StepKind::Deliver => "deliver",
            StepKind::Exit => "exit",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    Accept,
    Drop,
    Forward,
    Translate,
    Encrypt,
    Decrypt,
    /// Passed without change (no NAT rule, no SA needed).
    Pass,
    Deliver,
    Exit,
}

impl StepAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StepAction::Accept => "accept",
            StepAction::Drop => "drop",
            StepAction::Forward => "forward",
            StepAction::Translate => "translate",
            StepAction::Encrypt => "encrypt",
            StepAction::Decrypt => "decrypt",
            StepAction::Pass => "pass",
            StepAction::Deliver => "deliver",
            StepAction::Exit => "exit",
        }
    }
}

/// One decision at one device: what looked at the packet, which rule decided, and how.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    #[serde(rename = "type")]
    pub kind: StepKind,
    pub action: StepAction,
    pub rule: Option<String>,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hop {
    pub device: String,
    /// `instance`, `vrouter`, `vpn_gateway`, `tunnel`, or the on-prem device kind.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_interface: Option<String>,
    /// The packet as it arrives at this hop.
    pub packet: Packet,
    pub steps: Vec<Step>,
    /// While `check` explores regions nothing is rendered: steps are not built.
    #[serde(skip)]
    quiet: bool,
}

impl Hop {
    /// Record a step (built only when someone will read it).
    fn push(&mut self, step: impl FnOnce() -> Step) {
        if !self.quiet {
            self.steps.push(step());
        }
    }
}

fn note(quiet: bool, notes: &mut Vec<String>, n: impl FnOnce() -> String) {
    if !quiet {
        notes.push(n());
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Path {
    pub disposition: Disposition,
    pub hops: Vec<Hop>,
    /// Why it was not delivered, typed; `findings` makes the finding of it
    /// ([`Path::cause_traffic`] is the traffic it is about).
    #[serde(skip)]
    pub cause: Option<Cause>,
    /// Facts worth knowing that are not failures (an unmodelled host, a host without a
    /// security group).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The packet as the walk started (the first hop's), which the cause is about.
    #[serde(skip)]
    pub first_packet: Packet,
    /// Which way the flow was initiated (the reply's path keeps its flow's direction).
    #[serde(skip)]
    pub direction: Option<FlowDirection>,
    /// The packet at the last hop (kept also when a quiet walk keeps no hops).
    #[serde(skip)]
    pub last_packet: Option<Packet>,
}

impl Path {
    pub fn delivered(&self) -> bool {
        self.disposition == Disposition::Delivered
    }
    /// The packet as it was delivered (the last hop's packet).
    pub fn final_packet(&self) -> Option<Packet> {
        self.last_packet
    }
    /// The traffic the cause is about: the packet as it entered the first hop.
    pub fn cause_traffic(&self) -> Option<Traffic> {
        self.cause.as_ref()?;
        let p = self.first_packet;
        Some(Traffic::host(
            p.src, p.dst, p.protocol, p.src_port, p.dst_port,
        ))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    pub flow: FlowInfo,
    pub forward: Path,
    #[serde(rename = "return")]
    pub ret: Option<Path>,
}

impl Trace {
    pub fn ok(&self) -> bool {
        self.forward.delivered() && self.ret.as_ref().is_some_and(|r| r.delivered())
    }
    /// The first failure: the forward path's cause, else the return path's.
    pub fn cause(&self) -> Option<&Cause> {
        self.forward
            .cause
            .as_ref()
            .or_else(|| self.ret.as_ref().and_then(|r| r.cause.as_ref()))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowInfo {
    pub from: String,
    pub to: String,
    pub packet: Packet,
    pub direction: Option<FlowDirection>,
}

/// Resolve `--from`/`--to`: an instance or device id, or an address.
pub fn resolve_endpoint(m: &Model, s: &str) -> Result<Endpoint, String> {
    if let Some(i) = m.instances.iter().position(|x| x.id == s) {
        return Ok(Endpoint::Instance(i));
    }
    if let Some(d) = m.devices.iter().position(|x| x.id == s) {
        return Ok(Endpoint::Device(d));
    }
    let addr: Ipv4Addr = s.parse().map_err(|_| {
        format!("`{s}` is neither an instance or device id of the topology nor an IPv4 address")
    })?;
    endpoint_for_addr(m, addr).ok_or_else(|| {
        format!("address {addr} is on no vSwitch and no subnet connected to an on-prem device; name an instance, a device or an address inside the topology")
    })
}

/// The endpoint that holds `addr`: its owner, or an unmodelled host on the most specific
/// vSwitch or connected subnet containing it.
pub fn endpoint_for_addr(m: &Model, addr: Ipv4Addr) -> Option<Endpoint> {
    if let Some(i) = m.instances.iter().position(|x| x.ip == addr) {
        return Some(Endpoint::Instance(i));
    }
    if let Some(d) = m.devices.iter().position(|x| x.owns(addr)) {
        return Some(Endpoint::Device(d));
    }
    let mut best: Option<(u8, Endpoint)> = None;
    for (i, v) in m.vswitches.iter().enumerate() {
        if v.cidr.contains(&addr) && best.as_ref().is_none_or(|(l, _)| v.cidr.prefix_len() > *l) {
            best = Some((
                v.cidr.prefix_len(),
                Endpoint::CloudHost { addr, vswitch: i },
            ));
        }
    }
    for (d, dev) in m.devices.iter().enumerate() {
        for (f, iface) in dev.interfaces.iter().enumerate() {
            if iface.net.contains(&addr)
                && best
                    .as_ref()
                    .is_none_or(|(l, _)| iface.net.prefix_len() > *l)
            {
                // The first device listed on that subnet that forwards carries the host's traffic.
                let fwd = first_forwarder_on(m, iface.net).unwrap_or((d, f));
                best = Some((
                    iface.net.prefix_len(),
                    Endpoint::OnpremHost {
                        addr,
                        device: fwd.0,
                        iface: fwd.1,
                    },
                ));
            }
        }
    }
    best.map(|(_, e)| e)
}

fn first_forwarder_on(m: &Model, net: Ipv4Net) -> Option<(usize, usize)> {
    for (d, dev) in m.devices.iter().enumerate() {
        if !dev.forwarding {
            continue;
        }
        if let Some(f) = dev.interfaces.iter().position(|i| i.net == net) {
            return Some((d, f));
        }
    }
    None
}

/// The address an endpoint sends from toward `dst`.
fn source_address(m: &Model, e: &Endpoint, dst: Ipv4Addr) -> Ipv4Addr {
    match e {
        Endpoint::Instance(i) => m.instances[*i].ip,
        Endpoint::CloudHost { addr, .. } | Endpoint::OnpremHost { addr, .. } => *addr,
        // A device's own packet takes the address of the interface it leaves by, as Linux
        // does (`ip route get` shows `src`).
        Endpoint::Device(d) => {
            let dev = &m.devices[*d];
            match route_lookup(dev, dst) {
                Some(r) => match r.out_iface {
                    Some(f) => dev.interfaces[f].addr,
                    None => dev
                        .interfaces
                        .first()
                        .map_or(Ipv4Addr::UNSPECIFIED, |i| i.addr),
                },
                None => dev
                    .interfaces
                    .first()
                    .map_or(Ipv4Addr::UNSPECIFIED, |i| i.addr),
            }
        }
    }
}

fn endpoint_addr(m: &Model, e: &Endpoint) -> Ipv4Addr {
    match e {
        Endpoint::Instance(i) => m.instances[*i].ip,
        Endpoint::Device(d) => m.devices[*d]
            .interfaces
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, |i| i.addr),
        Endpoint::CloudHost { addr, .. } | Endpoint::OnpremHost { addr, .. } => *addr,
    }
}

/// Is this address on the cloud side (inside the VPC)?
pub fn is_cloud(m: &Model, a: Ipv4Addr) -> bool {
    m.vpc_set.contains(a)
}

pub fn flow_direction(m: &Model, src: Ipv4Addr, dst: Ipv4Addr) -> Option<FlowDirection> {
    match (is_cloud(m, src), is_cloud(m, dst)) {
        (true, false) => Some(FlowDirection::CloudToOnprem),
        (false, true) => Some(FlowDirection::OnpremToCloud),
        _ => None,
    }
}

/// A flow to trace: endpoints plus protocol and ports.
#[derive(Clone, Debug)]
pub struct FlowQuery {
    pub from: Endpoint,
    pub to: Endpoint,
    pub protocol: Protocol,
    pub dst_port: u16,
    pub src_port: u16,
}

/// Trace a flow between two endpoints.
pub fn trace(m: &Model, q: &FlowQuery) -> Trace {
    let dst = endpoint_addr(m, &q.to);
    let src = source_address(m, &q.from, dst);
    let pkt = Packet::new(src, dst, q.protocol, q.src_port, q.dst_port);
    trace_packet(m, &q.from, pkt, q.from.name(m), q.to.name(m))
}

/// Trace a flow with a prebuilt index.
pub fn trace_with(m: &Model, idx: &Index, q: &FlowQuery) -> Trace {
    let dst = endpoint_addr(m, &q.to);
    let src = source_address(m, &q.from, dst);
    let pkt = Packet::new(src, dst, q.protocol, q.src_port, q.dst_port);
    trace_packet_in(m, idx, &q.from, pkt, q.from.name(m), q.to.name(m), None).0
}

/// Trace a given packet sent by `from`.
pub fn trace_packet(
    m: &Model,
    from: &Endpoint,
    pkt: Packet,
    from_name: String,
    to_name: String,
) -> Trace {
    let idx = Index::build(m);
    trace_packet_in(m, &idx, from, pkt, from_name, to_name, None).0
}

/// Trace `pkt` sent by `from`; with a `region` (a box of packets around `pkt`, one
/// protocol), also return the part of the region whose packets take exactly the same
/// decisions, forward and back. `from` must be the endpoint `pkt.src` resolves to.
pub fn trace_packet_in(
    m: &Model,
    idx: &Index,
    from: &Endpoint,
    pkt: Packet,
    from_name: String,
    to_name: String,
    region: Option<Region>,
) -> (Trace, Option<Region>) {
    let point = [
        u32::from(pkt.src),
        u32::from(pkt.dst),
        u32::from(pkt.src_port.unwrap_or(0)),
        u32::from(pkt.dst_port.unwrap_or(0)),
    ];
    let nw = match region {
        Some(r) => Narrow::on(r, point, pkt.protocol.has_ports()),
        None => Narrow::off(),
    };
    // The session tables are reused from one trace to the next on this thread.
    thread_local! {
        static SESSIONS: std::cell::RefCell<Sessions> = std::cell::RefCell::new(Sessions::default());
    }
    let mut sessions = SESSIONS.with(|s| std::mem::take(&mut *s.borrow_mut()));
    sessions.sg.clear();
    sessions.devices.clear();
    let mut w = Walker {
        m,
        idx,
        sessions,
        reply: false,
        direction: None,
        nw,
        final_sym: [None; 4],
        arrived_sym: [None; 4],
        pre_nat_sym: [None; 4],
        quiet: region.is_some(),
        owned_memo: [(0, idx.owned_span(0)); 2],
    };
    let direction = w.direction_of(pkt);
    w.direction = direction;
    w.endpoint_region(F::Src, pkt.src);
    let forward = w.walk(start_of(from), pkt);
    let ret = if forward.delivered() {
        let delivered = forward.final_packet().expect("a delivered path has hops");
        w.nw.sym = w.final_sym;
        w.nw.swap();
        w.reply = true;
        w.endpoint_region(F::Src, delivered.dst);
        let back = idx.endpoint(delivered.dst).map(|e| start_of(&e));
        back.map(|b| w.walk(b, delivered.reversed()))
    } else {
        None
    };
    let reg = w.nw.region;
    SESSIONS.with(|s| *s.borrow_mut() = std::mem::take(&mut w.sessions));
    (
        Trace {
            flow: FlowInfo {
                from: from_name,
                to: to_name,
                packet: pkt,
                direction,
            },
            forward,
            ret,
        },
        reg,
    )
}

fn start_of(e: &Endpoint) -> At {
    match e {
        Endpoint::Instance(i) => At::InstanceSend(*i),
        Endpoint::CloudHost { vswitch, .. } => At::CloudHostSend(*vswitch),
        Endpoint::Device(d) => At::DeviceSend(*d),
        Endpoint::OnpremHost { device, iface, .. } => At::Device {
            dev: *device,
            in_iface: Some(*iface),
            tunnel: None,
        },
    }
}

/// A place the packet is at, and how it got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum At {
    InstanceSend(usize),
    InstanceRecv(usize),
    CloudHostSend(usize),
    VRouter {
        table: usize,
        vswitch: Option<usize>,
    },
    VpnGateway(usize),
    Tunnel {
        conn: usize,
        to_cloud: bool,
    },
    VpnGatewayFromTunnel {
        vgw: usize,
        conn: usize,
    },
    Device {
        dev: usize,
        in_iface: Option<usize>,
        tunnel: Option<usize>,
    },
    DeviceSend(usize),
}

/// State the forward pass leaves for the reply: which security groups and which
/// connection-tracking tables saw the flow, and how NAT translated it.
#[derive(Clone, Debug, Default)]
struct Sessions {
    /// (instance, the packet as the instance's group saw it).
    sg: Vec<(usize, Packet)>,
    devices: Vec<DeviceSession>,
}

#[derive(Clone, Debug)]
struct DeviceSession {
    dev: usize,
    /// As it arrived (before destination NAT).
    arrived: Packet,
    /// As it left (after source NAT), or as it was delivered locally.
    left: Packet,
    /// Which original fields `arrived` carried (see `region::Narrow`).
    arrived_sym: [Option<usize>; 4],
}

struct Walker<'a> {
    m: &'a Model,
    idx: &'a Index,
    sessions: Sessions,
    reply: bool,
    direction: Option<FlowDirection>,
    nw: Narrow,
    /// The symbols of the packet when the forward path ended.
    final_sym: [Option<usize>; 4],
    /// The symbols of the packet as it arrived at the current device.
    arrived_sym: [Option<usize>; 4],
    /// The symbols of the packet before source NAT at the current device.
    pre_nat_sym: [Option<usize>; 4],
    /// Build no steps, notes or findings (region exploration: only the outcome counts).
    quiet: bool,
    /// The last two answers of `Index::owned_span` (address, answer).
    owned_memo: [(u32, (bool, u32, u32)); 2],
}

enum Next {
    Go(At, Packet),
    End(Disposition, Option<Cause>),
}

impl<'a> Walker<'a> {
    fn walk(&mut self, start: At, pkt: Packet) -> Path {
        // The loop guard's list is reused from one walk to the next on this thread (a
        // `check` traces hundreds of thousands of paths).
        thread_local! {
            static SEEN: std::cell::RefCell<Vec<(At, Packet)>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut seen = SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()));
        seen.clear();
        let path = self.walk_with(start, pkt, &mut seen);
        SEEN.with(|s| *s.borrow_mut() = seen);
        path
    }

    fn walk_with(&mut self, start: At, pkt: Packet, seen: &mut Vec<(At, Packet)>) -> Path {
        // Few hops per path: a list beats a tree. A quiet walk keeps no hops, only the
        // last packet (what was delivered); `seen` counts the hops.
        let mut hops = Vec::new();
        let mut notes = Vec::new();
        let mut at = start;
        let mut pkt = pkt;
        let mut last = None;
        // A quiet walk records nothing in its hops: one blank hop serves every step.
        let mut quiet_hop = self.quiet.then(|| self.hop_header(at, pkt));
        loop {
            let repeated = seen.contains(&(at, pkt));
            let walked = seen.len();
            seen.push((at, pkt));
            if walked >= MAX_HOPS || repeated {
                let dev = hops
                    .last()
                    .map(|h: &Hop| h.device.clone())
                    .unwrap_or_default();
                let cause = Cause::Loop {
                    device: dev,
                    hops: walked,
                };
                return self.finish(Disposition::Loop, hops, last, Some(cause), notes, pkt);
            }
            let next = match quiet_hop.as_mut() {
                Some(h) => {
                    h.packet = pkt;
                    self.step(at, pkt, h, &mut notes)
                }
                None => {
                    let mut hop = self.hop_header(at, pkt);
                    let next = self.step(at, pkt, &mut hop, &mut notes);
                    hops.push(hop);
                    next
                }
            };
            last = Some(pkt);
            match next {
                Next::Go(a, p) => {
                    at = a;
                    pkt = p;
                }
                Next::End(d, c) => {
                    self.final_sym = self.nw.sym;
                    return self.finish(d, hops, last, c, notes, pkt);
                }
            }
        }
    }

    /// The flow's direction, narrowed so it is the same across the region.
    fn direction_of(&mut self, pkt: Packet) -> Option<FlowDirection> {
        let vpc = &self.idx.vpc_iv;
        let s = member(&mut self.nw, vpc, F::Src, u32::from(pkt.src));
        let d = member(&mut self.nw, vpc, F::Dst, u32::from(pkt.dst));
        match (s, d) {
            (true, false) => Some(FlowDirection::CloudToOnprem),
            (false, true) => Some(FlowDirection::OnpremToCloud),
            _ => None,
        }
    }

    /// Is `a` (field `f`) an address some instance or device owns? Narrows to that
    /// address, or to the gap between owned addresses around it. A path asks about the
    /// same few addresses at several hops: the last answers are kept.
    fn owned(&mut self, f: F, a: Ipv4Addr) -> bool {
        let v = u32::from(a);
        let span = match self.owned_memo.iter().find(|(x, _)| *x == v) {
            Some(&(_, s)) => s,
            None => {
                let s = self.idx.owned_span(v);
                self.owned_memo[1] = self.owned_memo[0];
                self.owned_memo[0] = (v, s);
                s
            }
        };
        self.nw.cons(f, span.1, span.2);
        span.0
    }

    /// The endpoint an address resolves to is the same across the region: the same
    /// owner, or the same most specific vSwitch/connected subnet and no owned address.
    fn endpoint_region(&mut self, f: F, a: Ipv4Addr) {
        if self.nw.region.is_none() || self.owned(f, a) {
            return;
        }
        self.idx
            .endpoint_nets
            .lookup_on(&mut self.nw, f, u32::from(a));
    }

    /// Longest-prefix match on device `d` for field `f`.
    fn route(&mut self, d: usize, f: F, a: Ipv4Addr) -> Option<&'a RouteChoice> {
        let idx: &'a Index = self.idx;
        let (choices, index) = &*idx.dev_routes[d];
        index
            .lookup_on(&mut self.nw, f, u32::from(a))
            .map(|x| &choices[x.3])
    }

    /// Which SA carries the packet (outbound: source in local, destination in remote).
    fn sa(
        &mut self,
        sas: &[crate::graph::region::SaIv],
        pkt: Packet,
        outbound: bool,
    ) -> Option<usize> {
        sa_cover(
            &mut self.nw,
            sas,
            u32::from(pkt.src),
            u32::from(pkt.dst),
            outbound,
        )
    }

    /// As `sa`, for a packet whose fields carried `sym` (e.g. before source NAT).
    fn sa_with(
        &mut self,
        sym: [Option<usize>; 4],
        sas: &[crate::graph::region::SaIv],
        pkt: Packet,
        outbound: bool,
    ) -> Option<usize> {
        let saved = self.nw.sym;
        self.nw.sym = sym;
        let r = self.sa(sas, pkt, outbound);
        self.nw.sym = saved;
        r
    }

    fn finish(
        &self,
        d: Disposition,
        hops: Vec<Hop>,
        last_packet: Option<Packet>,
        cause: Option<Cause>,
        notes: Vec<String>,
        pkt: Packet,
    ) -> Path {
        Path {
            disposition: d,
            first_packet: hops.first().map_or(pkt, |h| h.packet),
            last_packet,
            hops,
            cause,
            notes,
            direction: self.direction,
        }
    }

    fn hop_header(&self, at: At, pkt: Packet) -> Hop {
        let m = self.m;
        if self.quiet {
            return Hop {
                device: String::new(),
                kind: String::new(),
                in_interface: None,
                packet: pkt,
                steps: Vec::new(),
                quiet: true,
            };
        }
        let (device, kind, in_interface) = match at {
            At::InstanceSend(i) | At::InstanceRecv(i) => {
                (m.instances[i].id.clone(), "instance".to_string(), None)
            }
            At::CloudHostSend(v) => (
                format!("{} (host on {})", pkt.src, m.vswitches[v].id),
                "cloud_host".into(),
                None,
            ),
            At::VRouter { table, .. } => (m.route_tables[table].id.clone(), "vrouter".into(), None),
            At::VpnGateway(g) | At::VpnGatewayFromTunnel { vgw: g, .. } => {
                (m.vpn_gateways[g].id.clone(), "vpn_gateway".into(), None)
            }
            At::Tunnel { conn, .. } => (m.connections[conn].id.clone(), "tunnel".into(), None),
            At::Device {
                dev,
                in_iface,
                tunnel,
            } => {
                let d = &m.devices[dev];
                let inif = match (in_iface, tunnel) {
                    (Some(f), _) => Some(d.interfaces[f].name.clone()),
                    (None, Some(c)) => Some(format!("tunnel {}", m.connections[c].id)),
                    _ => None,
                };
                (d.id.clone(), d.kind.as_str().to_string(), inif)
            }
            At::DeviceSend(d) => (
                m.devices[d].id.clone(),
                m.devices[d].kind.as_str().to_string(),
                None,
            ),
        };
        Hop {
            device,
            kind,
            in_interface,
            packet: pkt,
            steps: Vec::new(),
            quiet: false,
        }
    }

    fn step(&mut self, at: At, pkt: Packet, hop: &mut Hop, notes: &mut Vec<String>) -> Next {
        match at {
            At::InstanceSend(i) => self.instance_send(i, pkt, hop),
            At::InstanceRecv(i) => match self.security_group(i, Direction::Ingress, pkt, hop) {
                Err(c) => Next::End(Disposition::Dropped, Some(c)),
                Ok(()) => {
                    hop.push(|| Step {
                        kind: StepKind::Deliver,
                        action: StepAction::Deliver,
                        rule: None,
                        detail: format!("delivered to instance {}", self.m.instances[i].id),
                    });
                    Next::End(Disposition::Delivered, None)
                }
            },
            At::CloudHostSend(v) => {
                note(self.quiet, notes, || {
                    format!(
                    "{} is not a modelled instance: a host on vSwitch {} without a security group",
                    pkt.src, self.m.vswitches[v].id
                )
                });
                Next::Go(
                    At::VRouter {
                        table: self.m.vswitches[v].route_table,
                        vswitch: Some(v),
                    },
                    pkt,
                )
            }
            At::VRouter { table, .. } => self.vrouter(table, pkt, hop, notes),
            At::VpnGateway(g) => self.vpn_gateway(g, pkt, hop),
            At::Tunnel { conn, to_cloud } => self.tunnel(conn, to_cloud, pkt, hop),
            At::VpnGatewayFromTunnel { vgw, conn } => self.vpn_gateway_inbound(vgw, conn, pkt, hop),
            At::Device {
                dev,
                in_iface,
                tunnel,
            } => self.device_arrive(dev, in_iface, tunnel, pkt, hop, notes),
            At::DeviceSend(d) => self.device_send(d, pkt, hop, notes),
        }
    }

    // ----- cloud side -------------------------------------------------------------

    fn instance_send(&mut self, i: usize, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        if let Err(c) = self.security_group(i, Direction::Egress, pkt, hop) {
            return Next::End(Disposition::Dropped, Some(c));
        }
        let v = m.instances[i].vswitch;
        Next::Go(
            At::VRouter {
                table: m.vswitches[v].route_table,
                vswitch: Some(v),
            },
            pkt,
        )
    }

    /// Security groups of an instance, as Alibaba Cloud evaluates them: the rules of all
    /// its groups pooled, ordered by priority (1 first); at equal priority a drop wins.
    /// No rule matching: basic groups deny ingress (except from members of the same group
    /// while inner access is on) and allow egress; enterprise groups deny both. Stateful:
    /// the reply of a flow the group saw is accepted.
    fn security_group(
        &mut self,
        i: usize,
        dir: Direction,
        pkt: Packet,
        hop: &mut Hop,
    ) -> Result<(), Cause> {
        let m = self.m;
        let key_seen = (i, pkt.reversed());
        if self.reply && self.sessions.sg.contains(&key_seen) {
            hop.push(|| Step {
                kind: StepKind::SecurityGroup,
                action: StepAction::Accept,
                rule: None,
                detail: format!(
                    "{}: reply of an accepted flow (security groups are stateful)",
                    dir_word(dir)
                ),
            });
            return Ok(());
        }
        let v = sg_decide_in(m, self.idx, i, dir, pkt, &mut self.nw);
        let action = if v.accept {
            StepAction::Accept
        } else {
            StepAction::Drop
        };
        hop.push(|| Step {
            kind: StepKind::SecurityGroup,
            action,
            rule: v.rule_id(m),
            detail: v.describe(m, dir),
        });
        if v.accept {
            if !self.reply && !self.sessions.sg.contains(&(i, pkt)) {
                self.sessions.sg.push((i, pkt));
            }
            Ok(())
        } else {
            Err(Cause::SgDrop {
                instance: i,
                direction: dir,
                rule: v.rule,
                reply: self.reply,
            })
        }
    }

    /// VRouter: longest prefix over the table's entries, the system routes of every
    /// vSwitch CIDR, and (system table only) the VPN routes published to the VPC.
    fn vrouter(
        &mut self,
        table: usize,
        pkt: Packet,
        hop: &mut Hop,
        notes: &mut Vec<String>,
    ) -> Next {
        let m = self.m;
        let found = self.idx.vrouter[table]
            .lookup_on(&mut self.nw, F::Dst, u32::from(pkt.dst))
            .map(|x| x.3);
        match found {
            None => {
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Drop,
                    rule: None,
                    detail: format!("no route for {} in {}", pkt.dst, m.route_tables[table].id),
                });
                // The longest VPN destination route for the address, published or not.
                let mut vpn_route = None;
                for g in 0..m.vpn_gateways.len() {
                    if let Some(x) =
                        self.idx.vpn_dest[g].lookup_on(&mut self.nw, F::Dst, u32::from(pkt.dst))
                    {
                        vpn_route = Some((g, x.3));
                        break;
                    }
                }
                Next::End(
                    Disposition::Dropped,
                    Some(Cause::VrouterNoRoute {
                        table,
                        vpn_route,
                        reply: self.reply,
                    }),
                )
            }
            Some(VrRoute::System(v)) => {
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Forward,
                    rule: None,
                    detail: format!(
                        "system route {} (vSwitch {})",
                        m.vswitches[v].cidr, m.vswitches[v].id
                    ),
                });
                let owner = if self.owned(F::Dst, pkt.dst) {
                    self.idx.instance_at(pkt.dst)
                } else {
                    None
                };
                match owner {
                    // Delivery to the instance: its security groups judge ingress.
                    Some(i) => Next::Go(At::InstanceRecv(i), pkt),
                    None => {
                        note(self.quiet, notes, || {
                            format!("{} is not a modelled instance: a host on vSwitch {} without a security group", pkt.dst, m.vswitches[v].id)
                        });
                        hop.push(|| Step { kind: StepKind::Deliver, action: StepAction::Deliver, rule: None, detail: format!("delivered to {} on vSwitch {} (no instance modelled there, no security group)", pkt.dst, m.vswitches[v].id) });
                        Next::End(Disposition::Delivered, None)
                    }
                }
            }
            Some(VrRoute::Published { vgw, route }) => {
                let r = &m.vpn_gateways[vgw].destination_routes[route];
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Forward,
                    rule: Some(r.id.clone()),
                    detail: format!(
                        "{} → VPN gateway {} (VPN route published to the VPC)",
                        r.destination, m.vpn_gateways[vgw].id
                    ),
                });
                Next::Go(At::VpnGateway(vgw), pkt)
            }
            Some(VrRoute::Entry(e)) => {
                let entry = &m.route_tables[table].entries[e];
                let rule = || Some(entry.id.clone());
                match &entry.next_hop {
                    CloudHop::VpnGateway(g) => {
                        hop.push(|| Step {
                            kind: StepKind::Route,
                            action: StepAction::Forward,
                            rule: rule(),
                            detail: format!(
                                "{} → VPN gateway {}",
                                entry.destination, m.vpn_gateways[*g].id
                            ),
                        });
                        Next::Go(At::VpnGateway(*g), pkt)
                    }
                    CloudHop::Blackhole => {
                        hop.push(|| Step {
                            kind: StepKind::Route,
                            action: StepAction::Drop,
                            rule: rule(),
                            detail: format!("{} → blackhole", entry.destination),
                        });
                        Next::End(
                            Disposition::Dropped,
                            Some(Cause::VrouterRouteElsewhere {
                                table,
                                entry: e,
                                reply: self.reply,
                            }),
                        )
                    }
                    CloudHop::Instance(i) => {
                        hop.push(|| Step {
                            kind: StepKind::Route,
                            action: StepAction::Exit,
                            rule: rule(),
                            detail: format!(
                                "{} → instance {} (forwarding inside an instance is not modelled)",
                                entry.destination, m.instances[*i].id
                            ),
                        });
                        Next::End(
                            Disposition::ExitsNetwork,
                            Some(Cause::VrouterRouteElsewhere {
                                table,
                                entry: e,
                                reply: self.reply,
                            }),
                        )
                    }
                    CloudHop::Other { kind, id } => {
                        hop.push(|| Step {
                            kind: StepKind::Route,
                            action: StepAction::Exit,
                            rule: rule(),
                            detail: format!("{} → {} {}", entry.destination, kind.as_str(), id),
                        });
                        Next::End(
                            Disposition::ExitsNetwork,
                            Some(Cause::VrouterRouteElsewhere {
                                table,
                                entry: e,
                                reply: self.reply,
                            }),
                        )
                    }
                }
            }
        }
    }

    /// VPN gateway, from the VPC: policy routes first (priority order, source and
    /// destination must match), then destination routes by longest prefix; then the
    /// connection's SAs must cover the packet.
    fn vpn_gateway(&mut self, g: usize, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        let gw = &m.vpn_gateways[g];
        let Some((route, kind)) = vpn_route_lookup_in(m, self.idx, g, pkt, &mut self.nw) else {
            hop.push(|| Step {
                kind: StepKind::Route,
                action: StepAction::Drop,
                rule: None,
                detail: format!(
                    "no policy or destination route for {} on {}",
                    pkt.dst, gw.id
                ),
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::VpnGatewayNoRoute {
                    vgw: g,
                    reply: self.reply,
                }),
            );
        };
        let c = route.connection;
        hop.push(|| Step {
            kind: StepKind::Route,
            action: StepAction::Forward,
            rule: Some(route.id.clone()),
            detail: match kind {
                "policy" => format!(
                    "policy route {} → {} (priority {}) → connection {}",
                    route.source.map_or("any".into(), |s| s.to_string()),
                    route.destination,
                    route.priority,
                    m.connections[c].id
                ),
                _ => format!(
                    "destination route {} → connection {}",
                    route.destination, m.connections[c].id
                ),
            },
        });
        self.enter_tunnel_cloud(c, pkt, hop)
    }

    fn enter_tunnel_cloud(&mut self, c: usize, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        let conn = &m.connections[c];
        if !conn.established() {
            hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Drop,
                rule: None,
                detail: format!(
                    "connection {} is {}: no IPsec SA to carry the packet",
                    conn.id,
                    conn.status.as_str()
                ),
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::NotEstablished { conn: c }),
            );
        }
        let idx = self.idx;
        match self.sa(&idx.cloud_sas[c], pkt, true) {
            Some(s) => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Encrypt,
                    rule: None,
                    detail: format!(
                        "SA {} of {} covers the packet",
                        conn.sas[s].describe(),
                        conn.id
                    ),
                });
                Next::Go(
                    At::Tunnel {
                        conn: c,
                        to_cloud: false,
                    },
                    pkt,
                )
            }
            None => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Drop,
                    rule: None,
                    detail: format!(
                        "no SA of {} covers {} → {} (SAs: {})",
                        conn.id,
                        pkt.src,
                        pkt.dst,
                        sa_list(&conn.sas)
                    ),
                });
                Next::End(
                    Disposition::Dropped,
                    Some(Cause::SaMissing {
                        conn: c,
                        side: Side::Cloud,
                        inbound: false,
                        reply: self.reply,
                    }),
                )
            }
        }
    }

    fn tunnel(&mut self, c: usize, to_cloud: bool, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        let conn = &m.connections[c];
        let vgw = &m.vpn_gateways[conn.vpn_gateway];
        let cgw = &m.customer_gateways[conn.customer_gateway];
        if to_cloud {
            hop.push(|| Step {
                kind: StepKind::Tunnel,
                action: StepAction::Forward,
                rule: None,
                detail: format!("ESP {} → {}", cgw.ip, vgw.public_ip),
            });
            return Next::Go(
                At::VpnGatewayFromTunnel {
                    vgw: conn.vpn_gateway,
                    conn: c,
                },
                pkt,
            );
        }
        hop.push(|| Step {
            kind: StepKind::Tunnel,
            action: StepAction::Forward,
            rule: None,
            detail: format!("ESP {} → {}", vgw.public_ip, cgw.ip),
        });
        match self.idx.tunnel_end[c] {
            Some((d, e)) => {
                let entry = &m.devices[d].ipsec[e];
                // Policy mode: the packet comes out on the outside interface; route mode:
                // on the tunnel itself.
                let in_iface = match entry.mode {
                    IpsecMode::Policy => entry.interface,
                    IpsecMode::Route => None,
                };
                Next::Go(
                    At::Device {
                        dev: d,
                        in_iface,
                        tunnel: Some(c),
                    },
                    pkt,
                )
            }
            None => {
                hop.push(|| Step {
                    kind: StepKind::Exit,
                    action: StepAction::Exit,
                    rule: None,
                    detail: format!(
                        "no on-prem device has an ipsec entry for {}: the far end is not modelled",
                        conn.id
                    ),
                });
                Next::End(
                    Disposition::ExitsNetwork,
                    Some(Cause::NoIdcEndpoint { conn: c }),
                )
            }
        }
    }

    /// VPN gateway, from the tunnel: some SA must accept the packet (seen from the
    /// cloud: source in its remote selectors, destination in its local ones); then the
    /// VPC's system route table delivers it.
    fn vpn_gateway_inbound(&mut self, g: usize, c: usize, pkt: Packet, hop: &mut Hop) -> Next {
        let m = self.m;
        let conn = &m.connections[c];
        let idx = self.idx;
        match self.sa(&idx.cloud_sas[c], pkt, false) {
            Some(s) => hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Decrypt,
                rule: None,
                detail: format!(
                    "SA {} of {} accepts the packet",
                    conn.sas[s].describe(),
                    conn.id
                ),
            }),
            None => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Drop,
                    rule: None,
                    detail: format!(
                        "no SA of {} accepts {} → {} (SAs: {})",
                        conn.id,
                        pkt.src,
                        pkt.dst,
                        sa_list(&conn.sas)
                    ),
                });
                return Next::End(
                    Disposition::Dropped,
                    Some(Cause::SaMissing {
                        conn: c,
                        side: Side::Cloud,
                        inbound: true,
                        reply: self.reply,
                    }),
                );
            }
        }
        match m.system_table {
            Some(t) => Next::Go(
                At::VRouter {
                    table: t,
                    vswitch: None,
                },
                pkt,
            ),
            None => {
                hop.push(|| Step {
                    kind: StepKind::Route,
                    action: StepAction::Drop,
                    rule: None,
                    detail: "the VPC has no route table".into(),
                });
                Next::End(
                    Disposition::Dropped,
                    Some(Cause::VpnGatewayNoRoute {
                        vgw: g,
                        reply: self.reply,
                    }),
                )
            }
        }
    }

    // ----- on-prem side -----------------------------------------------------------

    /// A packet the device sends itself: route (which picks the source address), output
    /// chain, source NAT, IPsec.
    fn device_send(
        &mut self,
        d: usize,
        pkt: Packet,
        hop: &mut Hop,
        notes: &mut Vec<String>,
    ) -> Next {
        self.arrived_sym = self.nw.sym;
        let session = if self.reply {
            self.find_session(d, pkt)
        } else {
            None
        };
        let r = match self.route_and_filter(d, ChainKind::Output, None, pkt, session.is_some(), hop)
        {
            Ok(r) => r,
            Err(end) => return end,
        };
        self.depart(d, pkt, pkt, r, session, hop, notes)
    }

    fn device_arrive(
        &mut self,
        d: usize,
        in_iface: Option<usize>,
        tunnel: Option<usize>,
        pkt: Packet,
        hop: &mut Hop,
        notes: &mut Vec<String>,
    ) -> Next {
        let m = self.m;
        let dev = &m.devices[d];
        let mut pkt = pkt;
        // 1. Inbound SA check for a packet that came out of a tunnel.
        if let Some(c) = tunnel {
            let Some(e) = dev.ipsec.iter().position(|x| x.connection == c) else {
                return Next::End(Disposition::Dropped, Some(Cause::NoIdcEndpoint { conn: c }));
            };
            let entry = &dev.ipsec[e];
            let idx = self.idx;
            match self.sa(&idx.dev_sas[d][e], pkt, false) {
                Some(s) => hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Decrypt,
                    rule: None,
                    detail: format!(
                        "SA {} of {} accepts the packet",
                        entry.sas[s].describe(),
                        m.connections[c].id
                    ),
                }),
                None => {
                    hop.push(|| Step {
                        kind: StepKind::Ipsec,
                        action: StepAction::Drop,
                        rule: None,
                        detail: format!(
                            "no SA of {} on {} accepts {} → {} (SAs: {})",
                            m.connections[c].id,
                            dev.id,
                            pkt.src,
                            pkt.dst,
                            sa_list(&entry.sas)
                        ),
                    });
                    return Next::End(
                        Disposition::Dropped,
                        Some(Cause::SaMissing {
                            conn: c,
                            side: Side::Idc(d),
                            inbound: true,
                            reply: self.reply,
                        }),
                    );
                }
            }
        }
        // 2. Reverse-path filter (Linux rp_filter) on the arrival interface.
        if let Some(f) = in_iface {
            if let Some(c) = self.rp_filter(d, f, pkt, hop) {
                return Next::End(Disposition::Dropped, Some(c));
            }
        }
        // 3. Connection tracking: a reply of a known session is reverse-translated; a
        //    new packet gets destination NAT.
        let session = if self.reply {
            self.find_session(d, pkt)
        } else {
            None
        };
        let arrived = pkt;
        self.arrived_sym = self.nw.sym;
        match &session {
            Some(s) => {
                // Reverse of the forward pass's source NAT happens on arrival (PREROUTING).
                let before = pkt;
                let orig = s.arrived.reversed();
                // The forward packet arrived from `s.arrived.src` (before any source NAT):
                // restore it as the reply's destination.
                pkt.dst = orig.dst;
                pkt.dst_port = orig.dst_port;
                self.nw.set(F::Dst, s.arrived_sym[0]);
                self.nw.set(F::Dport, s.arrived_sym[2]);
                if pkt != before {
                    hop.push(|| Step {
                        kind: StepKind::Nat,
                        action: StepAction::Translate,
                        rule: None,
                        detail: format!(
                            "reply of a translated session: destination {} → {}",
                            before.dst, pkt.dst
                        ),
                    });
                }
            }
            None => {
                let invalid = self.reply && dev.stateful() && self.reply_is_invalid(pkt);
                if invalid {
                    if !dev.is_linux() {
                        hop.push(|| Step { kind: StepKind::Filter, action: StepAction::Drop, rule: None, detail: "reply matches no session on this firewall (it did not see the forward packet): dropped as a session miss".into() });
                        return Next::End(
                            Disposition::Dropped,
                            Some(Cause::SessionMiss { dev: d }),
                        );
                    }
                    hop.push(|| Step { kind: StepKind::Filter, action: StepAction::Pass, rule: None, detail: "reply matches no session here (asymmetric path): connection tracking marks it INVALID, no NAT applies, the filter rules judge it as a new packet".into() });
                } else if let Some((rule, new)) = nat_lookup_in(
                    dev,
                    NatAction::DestinationNat,
                    pkt,
                    in_iface,
                    None,
                    &mut self.nw,
                ) {
                    let before = pkt;
                    pkt = new;
                    self.nw.set_const(F::Dst);
                    if new.dst_port != before.dst_port {
                        self.nw.set_const(F::Dport);
                    }
                    hop.push(|| Step {
                        kind: StepKind::Nat,
                        action: StepAction::Translate,
                        rule: Some(dev.nat[rule].id.clone()),
                        detail: format!(
                            "destination NAT {} → {}",
                            before.describe(),
                            pkt.describe()
                        ),
                    });
                }
            }
        }
        // 4. Local delivery.
        if self.owned(F::Dst, pkt.dst) && dev.owns(pkt.dst) {
            if let Err(c) = self.filter(
                d,
                ChainKind::Input,
                in_iface,
                None,
                pkt,
                session.is_some(),
                hop,
            ) {
                return Next::End(Disposition::Dropped, Some(c));
            }
            if !self.reply {
                self.sessions.devices.push(DeviceSession {
                    dev: d,
                    arrived,
                    left: pkt,
                    arrived_sym: self.arrived_sym,
                });
            }
            hop.push(|| Step {
                kind: StepKind::Deliver,
                action: StepAction::Deliver,
                rule: None,
                detail: format!("delivered to {} ({})", dev.id, pkt.dst),
            });
            return Next::End(Disposition::Delivered, None);
        }
        // 5. Forwarding.
        if !dev.forwarding {
            hop.push(|| Step {
                kind: StepKind::Kernel,
                action: StepAction::Drop,
                rule: None,
                detail: format!("{} does not forward (net.ipv4.ip_forward=0)", dev.id),
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::ForwardingDisabled { dev: d }),
            );
        }
        let r = match self.route_and_filter(
            d,
            ChainKind::Forward,
            in_iface,
            pkt,
            session.is_some(),
            hop,
        ) {
            Ok(r) => r,
            Err(end) => return end,
        };
        self.depart(d, arrived, pkt, r, session, hop, notes)
    }

    /// Route `pkt` on device `d` (longest prefix) and run `chain` on it (the output chain
    /// for the device's own packets, forward for transit): the route taken, or how the
    /// path ends.
    fn route_and_filter(
        &mut self,
        d: usize,
        chain: ChainKind,
        in_iface: Option<usize>,
        pkt: Packet,
        known: bool,
        hop: &mut Hop,
    ) -> Result<&'a RouteChoice, Next> {
        let m = self.m;
        let dev = &m.devices[d];
        let Some(r) = self.route(d, F::Dst, pkt.dst) else {
            hop.push(|| Step {
                kind: StepKind::Route,
                action: StepAction::Drop,
                rule: None,
                detail: format!("no route for {}", pkt.dst),
            });
            return Err(Next::End(
                Disposition::Dropped,
                Some(Cause::DeviceNoRoute {
                    dev: d,
                    reply: self.reply,
                }),
            ));
        };
        hop.push(|| route_step(dev, r, pkt.dst, m));
        if let Err(c) = self.filter(d, chain, in_iface, r.out_iface, pkt, known, hop) {
            return Err(Next::End(Disposition::Dropped, Some(c)));
        }
        Ok(r)
    }

    /// Leaving a device: source NAT (first packet only), then the IPsec outbound policy
    /// of the outgoing interface, then the next hop.
    #[allow(clippy::too_many_arguments)]
    fn depart(
        &mut self,
        d: usize,
        arrived: Packet,
        pkt: Packet,
        r: &RouteChoice,
        session: Option<DeviceSession>,
        hop: &mut Hop,
        notes: &mut Vec<String>,
    ) -> Next {
        let m = self.m;
        let dev = &m.devices[d];
        let mut pkt = pkt;
        let pre_nat = pkt;
        self.pre_nat_sym = self.nw.sym;
        let mut snat_rule = None;
        match &session {
            Some(s) => {
                // Reverse of the forward pass's destination NAT happens on departure.
                let orig = s.arrived.reversed();
                let before = pkt;
                pkt.src = orig.src;
                pkt.src_port = orig.src_port;
                self.nw.set(F::Src, s.arrived_sym[1]);
                self.nw.set(F::Sport, s.arrived_sym[3]);
                if pkt != before {
                    hop.push(|| Step {
                        kind: StepKind::Nat,
                        action: StepAction::Translate,
                        rule: None,
                        detail: format!(
                            "reply of a translated session: source {} → {} (no new NAT lookup)",
                            before.src, pkt.src
                        ),
                    });
                }
            }
            None if !(self.reply && dev.stateful() && self.reply_is_invalid(pkt)) => {
                if let Some((rule, new)) = nat_lookup_in(
                    dev,
                    NatAction::SourceNat,
                    pkt,
                    None,
                    r.out_iface,
                    &mut self.nw,
                ) {
                    let before = pkt;
                    pkt = new;
                    self.nw.set_const(F::Src);
                    snat_rule = Some(rule);
                    hop.push(|| Step {
                        kind: StepKind::Nat,
                        action: StepAction::Translate,
                        rule: Some(dev.nat[rule].id.clone()),
                        detail: format!("source NAT {} → {}", before.src, pkt.src),
                    });
                } else if let Some(rule) = nat_exempt_in(dev, pkt, r.out_iface, &mut self.nw) {
                    hop.push(|| Step {
                        kind: StepKind::Nat,
                        action: StepAction::Pass,
                        rule: Some(dev.nat[rule].id.clone()),
                        detail: "no-NAT rule: source kept".into(),
                    });
                }
            }
            None => {}
        }
        if !self.reply && session.is_none() {
            self.sessions.devices.push(DeviceSession {
                dev: d,
                arrived,
                left: pkt,
                arrived_sym: self.arrived_sym,
            });
        }
        // Route-mode tunnel.
        if let Some(c) = r.tunnel {
            return self.enter_tunnel_idc(d, c, pkt, hop, None, pre_nat, snat_rule);
        }
        // Policy-mode IPsec on the outgoing interface, after source NAT.
        if let Some(f) = r.out_iface {
            let entries = dev
                .ipsec
                .iter()
                .enumerate()
                .filter(|(_, e)| e.mode == IpsecMode::Policy && e.interface == Some(f))
                .map(|(i, _)| i);
            let idx = self.idx;
            let mut any = false;
            for e in entries {
                any = true;
                let entry = &dev.ipsec[e];
                if self.sa(&idx.dev_sas[d][e], pkt, true).is_some() {
                    return self.enter_tunnel_idc(
                        d,
                        entry.connection,
                        pkt,
                        hop,
                        Some(e),
                        pre_nat,
                        snat_rule,
                    );
                }
            }
            if any {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Pass,
                    rule: None,
                    detail: format!(
                        "no SA on {} matches {} → {}: sent in clear",
                        dev.interfaces[f].name, pkt.src, pkt.dst
                    ),
                });
            }
        }
        self.next_device(d, r, pkt, pre_nat, snat_rule, hop, notes)
    }

    #[allow(clippy::too_many_arguments)]
    fn enter_tunnel_idc(
        &mut self,
        d: usize,
        c: usize,
        pkt: Packet,
        hop: &mut Hop,
        entry: Option<usize>,
        pre_nat: Packet,
        snat: Option<usize>,
    ) -> Next {
        let m = self.m;
        let dev = &m.devices[d];
        let Some(e) = entry.or_else(|| dev.ipsec.iter().position(|x| x.connection == c)) else {
            hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Drop,
                rule: None,
                detail: format!(
                    "route into tunnel {} but {} has no ipsec entry for it",
                    m.connections[c].id, dev.id
                ),
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::SaMissing {
                    conn: c,
                    side: Side::Idc(d),
                    inbound: false,
                    reply: self.reply,
                }),
            );
        };
        let entry = &dev.ipsec[e];
        if !m.connections[c].established() {
            hop.push(|| Step {
                kind: StepKind::Ipsec,
                action: StepAction::Drop,
                rule: None,
                detail: format!(
                    "connection {} is {}",
                    m.connections[c].id,
                    m.connections[c].status.as_str()
                ),
            });
            return Next::End(
                Disposition::Dropped,
                Some(Cause::NotEstablished { conn: c }),
            );
        }
        let idx = self.idx;
        match self.sa(&idx.dev_sas[d][e], pkt, true) {
            Some(s) => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Encrypt,
                    rule: None,
                    detail: format!(
                        "SA {} of {} covers the packet",
                        entry.sas[s].describe(),
                        m.connections[c].id
                    ),
                });
                Next::Go(
                    At::Tunnel {
                        conn: c,
                        to_cloud: true,
                    },
                    pkt,
                )
            }
            None => {
                hop.push(|| Step {
                    kind: StepKind::Ipsec,
                    action: StepAction::Drop,
                    rule: None,
                    detail: format!(
                        "no SA of {} on {} covers {} → {} (SAs: {})",
                        m.connections[c].id,
                        dev.id,
                        pkt.src,
                        pkt.dst,
                        sa_list(&entry.sas)
                    ),
                });
                let pre_sym = self.pre_nat_sym;
                let nat_broke = match snat {
                    Some(rule) => self
                        .sa_with(pre_sym, &idx.dev_sas[d][e], pre_nat, true)
                        .map(|_| rule),
                    None => None,
                };
                match nat_broke {
                    Some(rule) => Next::End(
                        Disposition::Dropped,
                        Some(Cause::NatBreaksIpsec {
                            dev: d,
                            nat: rule,
                            conn: c,
                            reply: self.reply,
                        }),
                    ),
                    None => Next::End(
                        Disposition::Dropped,
                        Some(Cause::SaMissing {
                            conn: c,
                            side: Side::Idc(d),
                            inbound: false,
                            reply: self.reply,
                        }),
                    ),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn next_device(
        &mut self,
        d: usize,
        r: &RouteChoice,
        pkt: Packet,
        pre_nat: Packet,
        snat: Option<usize>,
        hop: &mut Hop,
        notes: &mut Vec<String>,
    ) -> Next {
        let m = self.m;
        let dev = &m.devices[d];
        let target = r.gateway.unwrap_or(pkt.dst);
        let out = r.out_iface;
        // The device on the outgoing subnet that holds the next-hop address.
        if r.gateway.is_none() {
            self.owned(F::Dst, pkt.dst);
        }
        let holder = match self.idx.owner(target) {
            Some(crate::graph::index::OwnerRef::Interface(i, f)) => Some((i, f)),
            _ => None,
        }
        .filter(|&(i, f)| {
            i != d
                && out.is_none_or(|o| {
                    dev.interfaces[o]
                        .net
                        .contains(&m.devices[i].interfaces[f].addr)
                })
        });
        if let Some((nd, nf)) = holder {
            return Next::Go(
                At::Device {
                    dev: nd,
                    in_iface: Some(nf),
                    tunnel: None,
                },
                pkt,
            );
        }
        // Directly connected destination with no device holding it: an unmodelled host.
        if r.gateway.is_none() {
            if let Some(o) = out {
                if dev.interfaces[o].net.contains(&pkt.dst)
                    && dev.interfaces[o].role == Role::Inside
                {
                    note(self.quiet, notes, || {
                        format!(
                            "{} is not a modelled device: a host on {} of {}",
                            pkt.dst, dev.interfaces[o].net, dev.id
                        )
                    });
                    hop.push(|| Step {
                        kind: StepKind::Deliver,
                        action: StepAction::Deliver,
                        rule: None,
                        detail: format!(
                            "delivered to host {} on {} (not modelled)",
                            pkt.dst, dev.interfaces[o].name
                        ),
                    });
                    return Next::End(Disposition::Delivered, None);
                }
            }
        }
        hop.push(|| {
            let via = match (r.gateway, out) {
                (Some(g), Some(o)) => format!("via {g} on {}", dev.interfaces[o].name),
                (Some(g), None) => format!("via {g}"),
                (None, Some(o)) => format!("out of {}", dev.interfaces[o].name),
                (None, None) => String::new(),
            };
            Step { kind: StepKind::Exit, action: StepAction::Exit, rule: Some(r.id.clone()), detail: format!("next hop {via} is outside every modelled device: the packet leaves the modelled network") }
        });
        let outside = out.is_some_and(|o| dev.interfaces[o].role == Role::Outside);
        let cloud_bound = member(&mut self.nw, &self.idx.vpc_iv, F::Dst, u32::from(pkt.dst));
        let idx = self.idx;
        let pre_sym = self.pre_nat_sym;
        let policy_entries: Vec<usize> = match out {
            Some(o) => (0..dev.ipsec.len())
                .filter(|&e| {
                    dev.ipsec[e].mode == IpsecMode::Policy && dev.ipsec[e].interface == Some(o)
                })
                .collect(),
            None => Vec::new(),
        };
        let cause = if cloud_bound {
            // Source NAT broke it when the packet before NAT would have matched an SA.
            let mut nat_broke = None;
            if let Some(rule) = snat {
                for &e in &policy_entries {
                    if self
                        .sa_with(pre_sym, &idx.dev_sas[d][e], pre_nat, true)
                        .is_some()
                    {
                        nat_broke = Some((rule, dev.ipsec[e].connection));
                        break;
                    }
                }
            }
            match nat_broke {
                Some((rule, conn)) => Cause::NatBreaksIpsec {
                    dev: d,
                    nat: rule,
                    conn,
                    reply: self.reply,
                },
                None => {
                    // The IPsec policy is configured for this traffic but no SA carries it:
                    // an SA layout problem (faq 5), not a routing one.
                    let mut configured = None;
                    for &e in &policy_entries {
                        if self
                            .sa(std::slice::from_ref(&idx.dev_cfg[d][e]), pkt, true)
                            .is_some()
                        {
                            configured = Some(dev.ipsec[e].connection);
                            break;
                        }
                    }
                    match configured {
                        // No IPsec SA at all: the connection is not up (faq 1/2), not an
                        // SA layout problem.
                        Some(conn) if !m.connections[conn].established() => {
                            Cause::NotEstablished { conn }
                        }
                        Some(conn) => Cause::SaMissing {
                            conn,
                            side: Side::Idc(d),
                            inbound: false,
                            reply: self.reply,
                        },
                        None => Cause::LeftInClear {
                            dev: d,
                            route: r.id.clone(),
                            outside,
                            reply: self.reply,
                        },
                    }
                }
            }
        } else {
            Cause::LeftNetwork {
                dev: d,
                route: r.id.clone(),
                reply: self.reply,
            }
        };
        Next::End(Disposition::ExitsNetwork, Some(cause))
    }

    /// Linux rp_filter: strict drops a packet whose source would not be routed back out
    /// of the interface it came in on; loose drops it only when the source has no route.
    fn rp_filter(&mut self, d: usize, f: usize, pkt: Packet, hop: &mut Hop) -> Option<Cause> {
        let dev = &self.m.devices[d];
        if dev.rp_filter == RpFilter::Off {
            return None;
        }
        let back = self.route(d, F::Src, pkt.src);
        let bad = match dev.rp_filter {
            RpFilter::Off => false,
            RpFilter::Loose => back.is_none(),
            RpFilter::Strict => back.as_ref().is_none_or(|r| r.out_iface != Some(f)),
        };
        if bad {
            hop.push(|| Step {
                kind: StepKind::Kernel,
                action: StepAction::Drop,
                rule: None,
                detail: format!(
                    "rp_filter {:?}: the route back to {} does not leave by {}",
                    dev.rp_filter, pkt.src, dev.interfaces[f].name
                )
                .to_lowercase(),
            });
            return Some(Cause::RpFilter { dev: d, iface: f });
        }
        None
    }

    /// Ordered first-match filter chain (iptables semantics). A reply of a known session
    /// on a stateful device is accepted as ESTABLISHED before the rules.
    #[allow(clippy::too_many_arguments)]
    fn filter(
        &mut self,
        d: usize,
        chain: ChainKind,
        in_iface: Option<usize>,
        out_iface: Option<usize>,
        pkt: Packet,
        known: bool,
        hop: &mut Hop,
    ) -> Result<(), Cause> {
        let dev = &self.m.devices[d];
        let Some(f) = &dev.filter else { return Ok(()) };
        let Some(c) = f.chain(chain) else {
            return Ok(());
        };
        if known && f.stateful {
            hop.push(|| Step {
                kind: StepKind::Filter,
                action: StepAction::Accept,
                rule: None,
                detail: format!(
                    "{}: ESTABLISHED (reply of a tracked connection)",
                    chain.as_str()
                ),
            });
            return Ok(());
        }
        let candidates = pkt.protocol.concrete_index().map(|p| {
            let k = match chain {
                ChainKind::Input => 0,
                ChainKind::Forward => 1,
                ChainKind::Output => 2,
            };
            let slot = in_iface.map_or(0, |f| f + 1);
            self.idx.chain_rules[d][k][p][slot].as_slice()
        });
        let (rule, action) = filter_decide_in(
            dev,
            chain,
            in_iface,
            out_iface,
            pkt,
            &mut self.nw,
            candidates,
        )
        .expect("chain exists");
        let detail = || match rule {
            Some(_) => format!("{} chain: {}", chain.as_str(), action.as_str()),
            None => format!(
                "{} chain: no rule matches, default {}",
                chain.as_str(),
                action.as_str()
            ),
        };
        hop.push(|| Step {
            kind: StepKind::Filter,
            action: if action == Action::Accept {
                StepAction::Accept
            } else {
                StepAction::Drop
            },
            rule: rule.map(|r| c.rules[r].id.clone()),
            detail: detail(),
        });
        if action == Action::Accept {
            Ok(())
        } else {
            Err(Cause::FilterDrop {
                dev: d,
                chain,
                rule,
                reply: self.reply,
                stateless: !f.stateful,
            })
        }
    }

    fn find_session(&self, d: usize, reply: Packet) -> Option<DeviceSession> {
        self.sessions
            .devices
            .iter()
            .find(|s| s.dev == d && s.left.reversed() == reply)
            .cloned()
    }

    /// A reply without a session is INVALID to connection tracking for TCP and ICMP;
    /// a UDP reply is simply a new flow.
    fn reply_is_invalid(&self, pkt: Packet) -> bool {
        matches!(pkt.protocol, Protocol::Tcp | Protocol::Icmp)
    }
}

fn dir_word(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

fn sa_list(sas: &[crate::model::SaSelectors]) -> String {
    if sas.is_empty() {
        return "none".into();
    }
    sas.iter()
        .map(|s| s.describe())
        .collect::<Vec<_>>()
        .join("; ")
}

// ----- the rules, each written once -------------------------------------------------

/// The result of evaluating an instance's security groups.
#[derive(Clone, Debug, PartialEq)]
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
    fn describe(&self, m: &Model, dir: Direction) -> String {
        match (self.rule, self.inner) {
            (Some((g, r)), _) => {
                let rule = &m.security_groups[g].rules[r];
                format!("{}: {} of {}, priority {}", dir_word(dir), rule.action.as_str(), m.security_groups[g].id, rule.priority)
            }
            (None, true) => format!("{}: no rule matches; accepted as traffic between members of the same basic group (inner access)", dir_word(dir)),
            (None, false) => format!("{}: no rule matches; default {}", dir_word(dir), if self.accept { "accept" } else { "deny" }),
        }
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
    nw.cons(f, lo, hi);
    owned
}

/// [`sg_decide`], narrowing the region to the packets every relevant rule treats the
/// same: the rules at or above the deciding priority (all of them for a default).
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
        for rule in &m.security_groups[g].rules {
            if rule.direction != dir
                || !rule.protocol.matches(pkt.protocol)
                || bound.is_some_and(|b| rule.priority > b)
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
                    nw.cons(peer_f, lo, hi);
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

fn route_step(dev: &Device, r: &RouteChoice, dst: Ipv4Addr, m: &Model) -> Step {
    let mut detail = format!("{} matches {}", dst, r.destination);
    if let Some(c) = r.tunnel {
        detail.push_str(&format!(" → tunnel {}", m.connections[c].id));
    }
    if let Some(g) = r.gateway {
        detail.push_str(&format!(" via {g}"));
    }
    if let Some(f) = r.out_iface {
        detail.push_str(&format!(" dev {}", dev.interfaces[f].name));
    }
    Step {
        kind: StepKind::Route,
        action: StepAction::Forward,
        rule: if r.connected {
            None
        } else {
            Some(r.id.clone())
        },
        detail,
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

/// [`filter_decide`], narrowing the region to packets the chain treats the same.
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
    let range = |f: F| match (nw.region, nw.dim(f)) {
        (Some(r), Some(d)) => (r.lo[d], r.hi[d]),
        _ => (x[f as usize], x[f as usize]),
    };
    let (s, d) = (range(F::Src), range(F::Dst));
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
        if rule_on(nw, x, &conds) {
            return Some((Some(i), r.action));
        }
    }
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
fn nat_exempt_in(
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
    use crate::model;

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
