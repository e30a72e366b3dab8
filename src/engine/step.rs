//! What the tracer records at each hop, as data: the kind of place a hop is, and for every
//! decision a typed detail carrying the ids (model indices) and addresses it is about.
//! The engine builds no prose; `render::trace` turns these into the words the user reads.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Serialize, Serializer};

use crate::engine::trace::{Packet, SgVerdict};
use crate::input::{Action, DeviceKind, Direction, RpFilter};
use crate::model::ChainKind;

/// What kind of place a hop is: a cloud part, or an on-prem device of some kind.
/// Serialised as its name (`instance`, `cloud_host`, `vrouter`, `vpn_gateway`, `tunnel`,
/// or the device kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HopKind {
    Instance,
    /// An address on a vSwitch that no modelled instance holds.
    CloudHost,
    Vrouter,
    VpnGateway,
    Tunnel,
    Device(DeviceKind),
}

impl HopKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HopKind::Instance => "instance",
            HopKind::CloudHost => "cloud_host",
            HopKind::Vrouter => "vrouter",
            HopKind::VpnGateway => "vpn_gateway",
            HopKind::Tunnel => "tunnel",
            HopKind::Device(k) => k.as_str(),
        }
    }
}

impl Serialize for HopKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Whose SAs a step is about: a cloud connection's, or an on-prem device's ipsec entry's
/// (whose connection is the entry's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaSet {
    Cloud { conn: usize },
    Device { dev: usize, entry: usize },
}

/// How a VPN gateway route was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpnRouteKind {
    /// A policy route (source and destination match, priority order).
    Policy {
        source: Option<Ipv4Net>,
        priority: u8,
    },
    /// A destination route (longest prefix).
    Destination,
}

/// The typed detail of one step: which rule or fact decided, with the ids and addresses
/// it is about. One variant per distinct decision the tracer makes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Detail {
    // ----- security groups
    /// The reply of a flow the instance's groups accepted (stateful).
    SgReply {
        dir: Direction,
    },
    /// The groups' verdict: a rule, inner access, or the default.
    Sg {
        dir: Direction,
        verdict: SgVerdict,
    },

    // ----- cloud routing
    /// No entry of the VRouter table covers the destination.
    VrouterNoRoute {
        dst: Ipv4Addr,
        table: usize,
    },
    /// The system route of a vSwitch CIDR.
    VrouterSystem {
        vswitch: usize,
    },
    /// A VPN gateway destination route published to the VPC.
    VrouterPublished {
        vgw: usize,
        route: usize,
    },
    /// A route table entry (its next hop says where it leads).
    VrouterEntry {
        table: usize,
        entry: usize,
    },
    /// The VPN gateway has no route for the destination.
    VpnNoRoute {
        dst: Ipv4Addr,
        vgw: usize,
    },
    /// A VPN gateway route toward a connection.
    VpnRoute {
        kind: VpnRouteKind,
        destination: Ipv4Net,
        conn: usize,
    },
    /// The VPC has no route table to deliver a decrypted packet.
    VpcNoRouteTable,

    // ----- on-prem routing
    /// No route of the device covers the destination.
    DeviceNoRoute {
        dst: Ipv4Addr,
    },
    /// The route a device chose.
    DeviceRoute {
        dev: usize,
        dst: Ipv4Addr,
        destination: Ipv4Net,
        tunnel: Option<usize>,
        gateway: Option<Ipv4Addr>,
        out_iface: Option<usize>,
    },

    // ----- filters and kernel
    /// A stateful device's reply matched a tracked connection.
    Established {
        chain: ChainKind,
    },
    /// A chain's verdict: a rule (`matched`) or the chain's default.
    Chain {
        chain: ChainKind,
        matched: bool,
        action: Action,
    },
    /// A reply that no session on a (non-Linux) firewall knows.
    SessionMiss,
    /// A reply Linux connection tracking marks INVALID (asymmetric path).
    ConntrackInvalid,
    /// The device does not forward.
    NoForwarding {
        dev: usize,
    },
    /// The packet arrived carrying one of the device's own addresses as its source.
    MartianSource {
        src: Ipv4Addr,
        dev: usize,
        iface: usize,
    },
    /// Reverse-path filtering dropped the packet.
    RpFilter {
        mode: RpFilter,
        src: Ipv4Addr,
        dev: usize,
        iface: usize,
    },

    // ----- NAT
    /// Destination NAT of a new packet.
    Dnat {
        before: Packet,
        after: Packet,
    },
    /// Source NAT of a new packet.
    Snat {
        from: Ipv4Addr,
        to: Ipv4Addr,
    },
    /// A no-NAT rule kept the source.
    NoNat,
    /// A reply's destination restored (reverse of the forward pass's source NAT).
    ReplyDestination {
        from: Ipv4Addr,
        to: Ipv4Addr,
    },
    /// A reply's source restored (reverse of the forward pass's destination NAT).
    ReplySource {
        from: Ipv4Addr,
        to: Ipv4Addr,
    },

    // ----- IPsec and tunnels
    /// The connection has no IPsec SA (`cloud`: seen from the VPN gateway).
    NotEstablished {
        conn: usize,
        cloud: bool,
    },
    /// SA `sa` of `sas` covers (outbound) or accepts (inbound) the packet.
    SaMatch {
        sas: SaSet,
        sa: usize,
        inbound: bool,
    },
    /// No SA of `sas` covers / accepts the packet.
    NoSa {
        sas: SaSet,
        inbound: bool,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
    /// A route into a tunnel the device has no ipsec entry for.
    NoIpsecEntry {
        conn: usize,
        dev: usize,
    },
    /// The outgoing interface has IPsec policies but none matches: sent in clear.
    SentInClear {
        dev: usize,
        iface: usize,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
    /// ESP between the tunnel's two public addresses.
    Esp {
        from: Ipv4Addr,
        to: Ipv4Addr,
    },

    // ----- ends
    /// No on-prem device terminates the connection.
    NoIdcEndpoint {
        conn: usize,
    },
    /// The next hop is held by no modelled device.
    LeavesNetwork {
        dev: usize,
        gateway: Option<Ipv4Addr>,
        out_iface: Option<usize>,
    },
    DeliveredInstance {
        instance: usize,
    },
    DeliveredCloudHost {
        addr: Ipv4Addr,
        vswitch: usize,
    },
    DeliveredDevice {
        dev: usize,
        addr: Ipv4Addr,
    },
    DeliveredOnpremHost {
        addr: Ipv4Addr,
        dev: usize,
        iface: usize,
    },
}

/// A fact about a path worth knowing that is not a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// An address on a vSwitch no modelled instance holds: no security group judges it.
    UnmodelledCloudHost { addr: Ipv4Addr, vswitch: usize },
    /// An address on a device's inside subnet no modelled device holds.
    UnmodelledOnpremHost {
        addr: Ipv4Addr,
        dev: usize,
        iface: usize,
    },
}
