//! Why a packet did not get through, typed: the tracer produces a [`Cause`] at the point
//! of failure, with the [`Traffic`] it is about. `findings` turns a cause into a finding
//! (code, message, fix); `check` groups causes over address classes first.

use std::net::Ipv4Addr;

use crate::input::Direction;
use crate::model::ChainKind;
use crate::net::addr::{AddrSet, Cidr, Ports, Protocol};

/// Which end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Cloud,
    Idc(usize),
}

/// Why a path failed. `reply` marks a failure of the return path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    VrouterNoRoute {
        table: usize,
        vpn_route: Option<(usize, usize)>,
        reply: bool,
    },
    VrouterRouteElsewhere {
        table: usize,
        entry: usize,
        reply: bool,
    },
    VpnGatewayNoRoute {
        vgw: usize,
        reply: bool,
    },
    NotEstablished {
        conn: usize,
    },
    SaMissing {
        conn: usize,
        side: Side,
        inbound: bool,
        reply: bool,
    },
    NoIdcEndpoint {
        conn: usize,
    },
    SgDrop {
        instance: usize,
        direction: Direction,
        rule: Option<(usize, usize)>,
        reply: bool,
    },
    FilterDrop {
        dev: usize,
        chain: ChainKind,
        rule: Option<usize>,
        reply: bool,
        stateless: bool,
    },
    SessionMiss {
        dev: usize,
    },
    DeviceNoRoute {
        dev: usize,
        reply: bool,
    },
    ForwardingDisabled {
        dev: usize,
    },
    RpFilter {
        dev: usize,
        iface: usize,
    },
    /// A packet arrived at a device with one of the device's own addresses as its source
    /// (Linux drops such a martian source).
    MartianSource {
        dev: usize,
        iface: usize,
    },
    NatBreaksIpsec {
        dev: usize,
        nat: usize,
        conn: usize,
        reply: bool,
    },
    LeftInClear {
        dev: usize,
        route: String,
        outside: bool,
        reply: bool,
    },
    LeftNetwork {
        dev: usize,
        route: String,
        reply: bool,
    },
    /// The packet came back to a place it had been, unchanged (or went on for
    /// `MAX_HOPS`): `places` names every device, route table and VPN gateway of the
    /// loop in the order the packet went round, `routes` the on-prem routes that sent
    /// it round (one per device, same order).
    Loop {
        places: Vec<LoopPlace>,
        routes: Vec<LoopRoute>,
        hops: usize,
        reply: bool,
    },
}

/// A place of a routing loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoopPlace {
    Device(usize),
    RouteTable(usize),
    VpnGateway(usize),
}

/// One route of a routing loop: the on-prem device and the route it sent the packet on
/// by, as the `choice`-th of `model::rules::route_choices` of the device (its connected
/// subnets, then its listed routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopRoute {
    pub dev: usize,
    pub choice: usize,
}

/// The traffic a finding is about: the packets as they were at the failure's start
/// (for a reply: the reply packets), plus protocol and destination ports.
#[derive(Clone, Debug)]
pub struct Traffic {
    pub src: AddrSet,
    pub dst: AddrSet,
    pub protocol: Protocol,
    pub dst_ports: Ports,
    /// Ports of the forward flow's destination (the reply's source port), for reply rules.
    pub src_ports: Ports,
    /// The connection the traffic belongs to, when the caller knows it.
    pub conn: Option<usize>,
}

impl Traffic {
    pub fn host(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: Protocol,
        src_port: Option<u16>,
        dst_port: Option<u16>,
    ) -> Traffic {
        Traffic {
            src: AddrSet::from_cidrs([&Cidr::host(src)]),
            dst: AddrSet::from_cidrs([&Cidr::host(dst)]),
            protocol,
            dst_ports: dst_port.map_or(Ports::ANY, Ports::single),
            src_ports: src_port.map_or(Ports::ANY, Ports::single),
            conn: None,
        }
    }
}
