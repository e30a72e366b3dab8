//! The walk: the loop that moves a packet from place to place until it is delivered,
//! dropped, leaves the modelled network or loops; each hop's header; the path's end.
//! What happens at each kind of place is in `cloud`, `onprem`, `tunnel` and `reply`.

use std::net::Ipv4Addr;

use crate::engine::cause::{Cause, LoopPlace, LoopRoute};
use crate::engine::step::{Detail, HopKind, Note};
use crate::engine::trace::{Disposition, Hop, Packet, Path, Step, StepAction, StepKind, MAX_HOPS};
use crate::graph::index::{EpNet, Index};
use crate::graph::region::{member, Narrow, F};
use crate::input::Direction;
use crate::model::rules::RouteChoice;
use crate::model::FlowDirection;
use crate::model::Model;

/// A place the packet is at, and how it got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum At {
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
pub(super) struct Sessions {
    /// (instance, the packet as the instance's group saw it).
    pub(super) sg: Vec<(usize, Packet)>,
    pub(super) devices: Vec<DeviceSession>,
}

#[derive(Clone, Debug)]
pub(super) struct DeviceSession {
    pub(super) dev: usize,
    /// As it arrived (before destination NAT).
    pub(super) arrived: Packet,
    /// As it left (after source NAT), or as it was delivered locally.
    pub(super) left: Packet,
    /// Which original fields `arrived` carried (see `region::Narrow`).
    pub(super) arrived_sym: [Option<usize>; 4],
}

/// What `Index::owned_span` answers: owned, and the interval around the address.
pub(super) type OwnedSpan = (bool, u32, u32);

pub(super) struct Walker<'a> {
    pub(super) m: &'a Model,
    pub(super) idx: &'a Index,
    pub(super) sessions: Sessions,
    pub(super) reply: bool,
    pub(super) direction: Option<FlowDirection>,
    pub(super) nw: Narrow,
    /// The symbols of the packet when the forward path ended.
    pub(super) final_sym: [Option<usize>; 4],
    /// The symbols of the packet as it arrived at the current device.
    pub(super) arrived_sym: [Option<usize>; 4],
    /// The symbols of the packet before source NAT at the current device.
    pub(super) pre_nat_sym: [Option<usize>; 4],
    /// Build no steps, notes or findings (region exploration: only the outcome counts).
    pub(super) quiet: bool,
    /// The last two answers of `Index::owned_span` (address, answer).
    pub(super) owned_memo: [Option<(u32, OwnedSpan)>; 2],
}

pub(super) enum Next {
    Go(At, Packet),
    End(Disposition, Option<Cause>),
}

/// Record a note (only when someone will read it).
pub(super) fn note(quiet: bool, notes: &mut Vec<Note>, n: Note) {
    if !quiet {
        notes.push(n);
    }
}

impl<'a> Walker<'a> {
    pub(super) fn walk(&mut self, start: At, pkt: Packet) -> Path {
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

    pub(super) fn walk_with(
        &mut self,
        start: At,
        pkt: Packet,
        seen: &mut Vec<(At, Packet)>,
    ) -> Path {
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
                let cause = self.loop_cause(&seen[..walked], (at, pkt), repeated);
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

    /// The loop a walk ran into: the places from the first visit of the place it came
    /// back to (`again`; for a walk cut at `MAX_HOPS`, the last visit of the same place
    /// with any packet), and the on-prem route that sent the packet on at each. The
    /// walk's own route lookups narrowed the region, so these are the routes of every
    /// packet of it.
    fn loop_cause(&self, seen: &[(At, Packet)], again: (At, Packet), repeated: bool) -> Cause {
        let start = if repeated {
            seen.iter().position(|x| *x == again)
        } else {
            seen.iter().rposition(|x| x.0 == again.0)
        }
        .unwrap_or(0);
        let mut places: Vec<LoopPlace> = Vec::new();
        let mut routes: Vec<LoopRoute> = Vec::new();
        for &(at, pkt) in &seen[start..] {
            let place = match at {
                At::Device { dev, .. } | At::DeviceSend(dev) => {
                    if !routes.iter().any(|r| r.dev == dev) {
                        // The route the walk took: the index's longest match (as
                        // `route`, without narrowing).
                        let (_, index) = &*self.idx.dev_routes[dev];
                        if let Some(x) = index.lookup(u32::from(pkt.dst)) {
                            routes.push(LoopRoute { dev, choice: x.3 });
                        }
                    }
                    LoopPlace::Device(dev)
                }
                At::VRouter { table, .. } => LoopPlace::RouteTable(table),
                At::VpnGateway(g) | At::VpnGatewayFromTunnel { vgw: g, .. } => {
                    LoopPlace::VpnGateway(g)
                }
                _ => continue,
            };
            if !places.contains(&place) {
                places.push(place);
            }
        }
        Cause::Loop {
            places,
            routes,
            hops: seen.len(),
            reply: self.reply,
        }
    }

    /// The flow's direction, narrowed so it is the same across the region.
    pub(super) fn direction_of(&mut self, pkt: Packet) -> Option<FlowDirection> {
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
    pub(super) fn owned(&mut self, f: F, a: Ipv4Addr) -> bool {
        let v = u32::from(a);
        let span = match self.owned_memo.iter().flatten().find(|(x, _)| *x == v) {
            Some(&(_, s)) => s,
            None => {
                let s = self.idx.owned_span(v);
                self.owned_memo[1] = self.owned_memo[0];
                self.owned_memo[0] = Some((v, s));
                s
            }
        };
        self.nw.cons_owner(f, span.1, span.2);
        span.0
    }

    /// The endpoint an address resolves to is the same across the region: the same
    /// owner, or the same most specific vSwitch/connected subnet and no owned address.
    pub(super) fn endpoint_region(&mut self, f: F, a: Ipv4Addr) {
        if self.nw.region.is_none() || self.owned(f, a) {
            return;
        }
        // Unmodelled hosts on vSwitches with one route table send and are reached alike
        // (the atom sets hold atoms of one route table only).
        let m = self.m;
        self.idx
            .endpoint_nets
            .lookup_on_alike(&mut self.nw, f, u32::from(a), |x, y| match (x, y) {
                (Some(EpNet::VSwitch(v)), Some(EpNet::VSwitch(w))) => {
                    m.vswitches[v].route_table == m.vswitches[w].route_table
                }
                _ => x == y,
            });
    }

    /// Longest-prefix match on device `d` for field `f`.
    pub(super) fn route(&mut self, d: usize, f: F, a: Ipv4Addr) -> Option<&'a RouteChoice> {
        let idx: &'a Index = self.idx;
        let (choices, index) = &*idx.dev_routes[d];
        index
            .lookup_on(&mut self.nw, f, u32::from(a))
            .map(|x| &choices[x.3])
    }

    pub(super) fn finish(
        &self,
        d: Disposition,
        hops: Vec<Hop>,
        last_packet: Option<Packet>,
        cause: Option<Cause>,
        notes: Vec<Note>,
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

    pub(super) fn hop_header(&self, at: At, pkt: Packet) -> Hop {
        let m = self.m;
        if self.quiet {
            return Hop {
                device: String::new(),
                kind: HopKind::Instance,
                in_interface: None,
                packet: pkt,
                steps: Vec::new(),
                quiet: true,
            };
        }
        let (device, kind, in_interface) = match at {
            At::InstanceSend(i) | At::InstanceRecv(i) => {
                (m.instances[i].id.clone(), HopKind::Instance, None)
            }
            At::CloudHostSend(v) => (
                format!("{} (host on {})", pkt.src, m.vswitches[v].id),
                HopKind::CloudHost,
                None,
            ),
            At::VRouter { table, .. } => (m.route_tables[table].id.clone(), HopKind::Vrouter, None),
            At::VpnGateway(g) | At::VpnGatewayFromTunnel { vgw: g, .. } => {
                (m.vpn_gateways[g].id.clone(), HopKind::VpnGateway, None)
            }
            At::Tunnel { conn, .. } => (m.connections[conn].id.clone(), HopKind::Tunnel, None),
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
                (d.id.clone(), HopKind::Device(d.kind), inif)
            }
            At::DeviceSend(d) => (
                m.devices[d].id.clone(),
                HopKind::Device(m.devices[d].kind),
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

    pub(super) fn step(
        &mut self,
        at: At,
        pkt: Packet,
        hop: &mut Hop,
        notes: &mut Vec<Note>,
    ) -> Next {
        if let Some(a) = &self.nw.alike {
            // NAT at a device (its filter chains and security groups are asked where
            // they decide).
            let alike = match at {
                At::Device { dev, .. } | At::DeviceSend(dev) => a.nat[dev],
                _ => true,
            };
            if !alike {
                self.nw.alike = None;
            }
        }
        match at {
            At::InstanceSend(i) => self.instance_send(i, pkt, hop),
            At::InstanceRecv(i) => match self.security_group(i, Direction::Ingress, pkt, hop) {
                Err(c) => Next::End(Disposition::Dropped, Some(c)),
                Ok(()) => {
                    hop.push(|| Step {
                        kind: StepKind::Deliver,
                        action: StepAction::Deliver,
                        rule: None,
                        detail: Detail::DeliveredInstance { instance: i },
                    });
                    Next::End(Disposition::Delivered, None)
                }
            },
            At::CloudHostSend(v) => {
                note(
                    self.quiet,
                    notes,
                    Note::UnmodelledCloudHost {
                        addr: pkt.src,
                        vswitch: v,
                    },
                );
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
}
