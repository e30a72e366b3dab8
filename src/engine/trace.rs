//! One flow, hop by hop, forward and back.
//!
//! The tracer walks the model the way the packet would: instance → security group →
//! VRouter → VPN gateway → tunnel → IDC gateway → … → destination, and then the reply
//! from the destination back, with the sessions (security groups, connection tracking,
//! NAT) that the forward pass created. Each rule of network behaviour lives in one
//! function below, documented with the system behaviour it mirrors.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::engine::cause::{Cause, Traffic};
pub use crate::engine::decide::{
    filter_decide, filter_decide_in, nat_lookup, nat_lookup_in, owned_gap, sg_decide, sg_decide_in,
    vals, vpn_route_lookup_in, SgVerdict,
};
pub use crate::engine::step::{Detail, HopKind, Note, SaSet, VpnRouteKind};
use crate::engine::walk::{At, Sessions, Walker};
use crate::graph::index::Index;
use crate::graph::region::{member, Narrow, Region, F};
pub use crate::model::rules::{
    route_choices, route_lookup, rule_fits, tunnel_endpoint, Endpoint, RouteChoice, RuleSpan,
    VrRoute,
};
use crate::model::FlowDirection;
use crate::model::Model;
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

/// One decision at one device: what looked at the packet, which rule decided, and how
/// (`detail`, typed; `render::trace` words it).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    pub action: StepAction,
    pub rule: Option<String>,
    pub detail: Detail,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    pub device: String,
    pub kind: HopKind,
    pub in_interface: Option<String>,
    /// The packet as it arrives at this hop.
    pub packet: Packet,
    pub steps: Vec<Step>,
    /// While `check` explores regions nothing is rendered: steps are not built.
    pub(super) quiet: bool,
}

impl Hop {
    /// Record a step (built only when someone will read it).
    pub(super) fn push(&mut self, step: impl FnOnce() -> Step) {
        if !self.quiet {
            self.steps.push(step());
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub disposition: Disposition,
    pub hops: Vec<Hop>,
    /// Why it was not delivered, typed; `findings` makes the finding of it
    /// ([`Path::cause_traffic`] is the traffic it is about).
    pub cause: Option<Cause>,
    /// Facts worth knowing that are not failures (an unmodelled host, a host without a
    /// security group).
    pub notes: Vec<Note>,
    /// The packet as the walk started (the first hop's), which the cause is about.
    pub first_packet: Packet,
    /// Which way the flow was initiated (the reply's path keeps its flow's direction).
    pub direction: Option<FlowDirection>,
    /// The packet at the last hop (kept also when a quiet walk keeps no hops).
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

#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    pub flow: FlowInfo,
    pub forward: Path,
    pub ret: Option<Path>,
}

impl Path {
    /// The packet left the modelled network toward a host beyond the model, the expected
    /// end of a path to such a host (SPEC "Trace endpoints"): no cause.
    pub fn left_as_expected(&self) -> bool {
        self.disposition == Disposition::ExitsNetwork && self.cause.is_none()
    }
}

impl Trace {
    /// Nothing wrong: delivered both ways; or, to a host beyond the model, the packet
    /// (or the reply to a source beyond it) left the modelled network as expected.
    pub fn ok(&self) -> bool {
        match &self.ret {
            Some(r) => self.forward.delivered() && (r.delivered() || r.left_as_expected()),
            None => self.forward.left_as_expected(),
        }
    }
    /// The first failure: the forward path's cause, else the return path's.
    pub fn cause(&self) -> Option<&Cause> {
        self.forward
            .cause
            .as_ref()
            .or_else(|| self.ret.as_ref().and_then(|r| r.cause.as_ref()))
    }
    /// [`cause`](Trace::cause), taken out of the trace (no copy).
    pub fn into_cause(self) -> Option<Cause> {
        self.forward
            .cause
            .or_else(|| self.ret.and_then(|r| r.cause))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowInfo {
    pub from: String,
    pub to: String,
    pub packet: Packet,
    pub direction: Option<FlowDirection>,
}

/// Resolve `--from`/`--to`: an instance or device id, or an address (an address outside
/// every vSwitch and connected subnet is a host beyond the model).
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
    Ok(endpoint_for_addr(m, addr).unwrap_or(Endpoint::Beyond {
        addr,
        ingress: None,
    }))
}

/// `--ingress DEVICE[:IFACE]`: where the packets of a source beyond the model enter.
pub fn with_ingress(m: &Model, from: Endpoint, ingress: &str) -> Result<Endpoint, String> {
    let Endpoint::Beyond { addr, .. } = from else {
        return Err(format!(
            "--ingress is for a source beyond the model (an address outside every vSwitch and connected subnet); `{}` is inside the topology",
            from.name(m)
        ));
    };
    let (dev, iface) = match ingress.split_once(':') {
        Some((d, f)) => (d, Some(f)),
        None => (ingress, None),
    };
    let d = m.devices.iter().position(|x| x.id == dev).ok_or_else(|| {
        format!("--ingress: `{dev}` is not an on-prem device id of the topology (expected DEVICE or DEVICE:IFACE)")
    })?;
    let f = match iface {
        None => None,
        Some(f) => Some(
            m.devices[d]
                .interfaces
                .iter()
                .position(|x| x.name == f)
                .ok_or_else(|| format!("--ingress: device `{dev}` has no interface `{f}`"))?,
        ),
    };
    Ok(Endpoint::Beyond {
        addr,
        ingress: Some((d, f)),
    })
}

/// Where the packets of a host beyond the model enter when no `--ingress` says: on a
/// routed-only subnet (a device's route to it, not a default route, leads through an
/// inside interface to a next hop no modelled device holds), the device with the most
/// specific such route, on the interface toward that next hop.
pub fn routed_ingress(m: &Model, addr: Ipv4Addr) -> Option<(usize, usize)> {
    let mut best: Option<(u8, usize, usize)> = None;
    for (d, dev) in m.devices.iter().enumerate() {
        for r in route_choices(dev) {
            let (Some(g), Some(f), None) = (r.gateway, r.out_iface, r.tunnel) else {
                continue;
            };
            let inside = dev.interfaces[f].role == crate::input::Role::Inside;
            // Whether a modelled device holds the next hop (a scan of the model) is asked
            // last, of the routes that would otherwise be chosen.
            let held =
                || m.devices.iter().any(|x| x.owns(g)) || m.instances.iter().any(|i| i.ip == g);
            if inside
                && r.destination.prefix_len() > 0
                && r.destination.contains(&addr)
                && best.is_none_or(|(l, _, _)| r.destination.prefix_len() > l)
                && !held()
            {
                best = Some((r.destination.prefix_len(), d, f));
            }
        }
    }
    best.map(|(_, d, f)| (d, f))
}

/// The endpoint that holds `addr`: its owner, or an unmodelled host on the most specific
/// vSwitch or connected subnet containing it.
pub fn endpoint_for_addr(m: &Model, addr: Ipv4Addr) -> Option<Endpoint> {
    if let Some(i) = m.instances.iter().position(|x| x.ip == addr) {
        return Some(Endpoint::Instance(i));
    }
    if let Some(d) = m.devices.iter().position(|x| x.owns(addr)) {
        return Some(Endpoint::DeviceAddr { dev: d, addr });
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
    let links = crate::graph::Links::build(m);
    for (d, dev) in m.devices.iter().enumerate() {
        for (f, iface) in dev.interfaces.iter().enumerate() {
            if iface.net.contains(&addr)
                && best
                    .as_ref()
                    .is_none_or(|(l, _)| iface.net.prefix_len() > *l)
            {
                // The first device listed on that subnet that forwards carries the host's traffic.
                let fwd = links.entry_of(m, d, f);
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

/// The address an endpoint sends from toward `dst`.
fn source_address(m: &Model, e: &Endpoint, dst: Ipv4Addr) -> Ipv4Addr {
    match e {
        Endpoint::Instance(i) => m.instances[*i].ip,
        Endpoint::CloudHost { addr, .. }
        | Endpoint::OnpremHost { addr, .. }
        | Endpoint::Beyond { addr, .. }
        | Endpoint::DeviceAddr { addr, .. } => *addr,
        // A device's own packet takes the address of the interface it leaves by, as Linux
        // does (`ip route get` shows `src`); to one of its own addresses, that address
        // (the local route's source).
        Endpoint::Device(d) => {
            let dev = &m.devices[*d];
            if dev.owns(dst) {
                return dst;
            }
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
        Endpoint::CloudHost { addr, .. }
        | Endpoint::OnpremHost { addr, .. }
        | Endpoint::Beyond { addr, .. }
        | Endpoint::DeviceAddr { addr, .. } => *addr,
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
    let (t, nw) = trace_narrowed(m, idx, from, pkt, from_name, to_name, nw);
    (t, nw.region)
}

/// Trace `pkt` sent by `from` (its endpoint), narrowing `nw` (see [`Narrow`]: its region
/// and atom sets around `pkt`) to the packets that take exactly the same decisions,
/// forward and back.
pub fn trace_narrowed(
    m: &Model,
    idx: &Index,
    from: &Endpoint,
    pkt: Packet,
    from_name: String,
    to_name: String,
    nw: Narrow,
) -> (Trace, Narrow) {
    let quiet = nw.region.is_some();
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
        quiet,
        owned_memo: [None; 2],
    };
    let direction = w.direction_of(pkt);
    w.direction = direction;
    w.endpoint_region(F::Src, pkt.src);
    let forward = match w.start_of(from, pkt) {
        Some(at) => w.walk(at, pkt),
        // A source beyond the model with no known way in: nothing to trace.
        None => w.finish(
            Disposition::Dropped,
            Vec::new(),
            None,
            None,
            Vec::new(),
            pkt,
        ),
    };
    let ret = if forward.delivered() {
        let delivered = forward.final_packet().expect("a delivered path has hops");
        w.nw.sym = w.final_sym;
        w.nw.swap();
        w.reply = true;
        w.endpoint_region(F::Src, delivered.dst);
        let reply = delivered.reversed();
        let back = idx
            .endpoint(delivered.dst)
            .and_then(|e| w.start_of(&e, reply));
        back.map(|b| w.walk(b, reply))
    } else {
        None
    };
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
        w.nw,
    )
}

impl Walker<'_> {
    /// Where a packet `pkt` sent by `e` starts. An unmodelled on-prem host sends through
    /// the first forwarder of its subnet, except to an address a device holds on that
    /// same subnet, which it reaches directly on the link (as Linux does). A host beyond
    /// the model enters at its ingress device: on the interface given, else the one the
    /// device routes the source back out of.
    fn start_of(&mut self, e: &Endpoint, pkt: Packet) -> Option<At> {
        let m = self.m;
        Some(match e {
            Endpoint::Instance(i) => At::InstanceSend(*i),
            Endpoint::CloudHost { vswitch, .. } => At::CloudHostSend(*vswitch),
            Endpoint::Device(d) | Endpoint::DeviceAddr { dev: d, .. } => At::DeviceSend(*d),
            Endpoint::OnpremHost { device, iface, .. } => {
                let net = m.devices[*device].interfaces[*iface].net;
                let span = [(u32::from(net.network()), u32::from(net.broadcast()))];
                let on_link = member(&mut self.nw, &span, F::Dst, u32::from(pkt.dst));
                let holder = if on_link && self.owned(F::Dst, pkt.dst) {
                    self.idx.link_holder(*device, *iface, pkt.dst)
                } else {
                    None
                };
                let (dev, f) = holder.unwrap_or((*device, *iface));
                At::Device {
                    dev,
                    in_iface: Some(f),
                    tunnel: None,
                }
            }
            Endpoint::Beyond { addr, ingress } => {
                let (dev, f) = match ingress {
                    Some(x) => *x,
                    None => {
                        let (d, f) = routed_ingress(m, *addr)?;
                        (d, Some(f))
                    }
                };
                let f = f.or_else(|| route_lookup(&m.devices[dev], *addr)?.out_iface);
                At::Device {
                    dev,
                    in_iface: f,
                    tunnel: None,
                }
            }
        })
    }
}
