//! Model rules written once, shared by the graph's index and the engine: which device
//! terminates a connection, an on-prem device's routes in tie order and its
//! longest-prefix match (as `ip route get`), and which filter rules can match a protocol.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::{Device, Model};
use crate::net::addr::Protocol;

/// Where a flow starts or ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Instance(usize),
    /// A device named by its id: it stands for its first interface's address.
    Device(usize),
    /// One address a device holds, named as an address: exactly that address.
    DeviceAddr {
        dev: usize,
        addr: Ipv4Addr,
    },
    /// An address no device holds, on a vSwitch (cloud) …
    CloudHost {
        addr: Ipv4Addr,
        vswitch: usize,
    },
    /// … or on a connected subnet of an IDC device (the first that forwards).
    OnpremHost {
        addr: Ipv4Addr,
        device: usize,
        iface: usize,
    },
    /// An address outside every vSwitch and connected subnet (a host beyond the model).
    /// As a source it needs where its packets enter: a device and, optionally, the
    /// interface (`--ingress DEVICE[:IFACE]`).
    Beyond {
        addr: Ipv4Addr,
        ingress: Option<(usize, Option<usize>)>,
    },
}

impl Endpoint {
    pub fn name(&self, m: &Model) -> String {
        match self {
            Endpoint::Instance(i) => m.instances[*i].id.clone(),
            Endpoint::Device(d) | Endpoint::DeviceAddr { dev: d, .. } => m.devices[*d].id.clone(),
            Endpoint::CloudHost { addr, .. }
            | Endpoint::OnpremHost { addr, .. }
            | Endpoint::Beyond { addr, .. } => addr.to_string(),
        }
    }
}

/// The on-prem device that terminates connection `c`: the one whose outside address (or
/// NAT-T public address) is the customer gateway IP, else the first with an entry.
pub fn tunnel_endpoint(m: &Model, c: usize) -> Option<(usize, usize)> {
    let cgw = m.customer_gateways[m.connections[c].customer_gateway].ip;
    let mut first = None;
    for (d, dev) in m.devices.iter().enumerate() {
        if let Some(e) = dev.ipsec.iter().position(|x| x.connection == c) {
            if dev
                .interfaces
                .iter()
                .any(|f| f.addr == cgw || f.public_address == Some(cgw))
            {
                return Some((d, e));
            }
            first.get_or_insert((d, e));
        }
    }
    first
}

/// What a VRouter lookup found. Positions are `u32`: every route table's index holds an
/// answer per interval of the VPC's vSwitches and entries, so the answer is kept small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VrRoute {
    /// The system route of a vSwitch CIDR.
    System(u32),
    /// An entry of the table.
    Entry(u32),
    /// A VPN-gateway route published to the VPC (system table only).
    Published { vgw: u32, route: u32 },
}

/// The outcome of an on-prem route lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChoice {
    pub id: String,
    pub destination: Ipv4Net,
    pub out_iface: Option<usize>,
    pub gateway: Option<Ipv4Addr>,
    pub tunnel: Option<usize>,
    pub connected: bool,
}

/// Longest-prefix match on an on-prem device, as `ip route get`: an interface's
/// connected subnet wins over a listed route of the same prefix; among listed routes of
/// the same prefix the first listed wins. A route with only a gateway leaves by the
/// interface whose subnet holds the gateway.
pub fn route_lookup(dev: &Device, dst: Ipv4Addr) -> Option<RouteChoice> {
    // In tie order (as `route_choices` lists them): only a strictly longer prefix
    // replaces the current best. Only the chosen one is built.
    let destinations =
        (dev.interfaces.iter().map(|f| f.net)).chain(dev.routes.iter().map(|r| r.destination));
    let mut best: Option<(usize, u8)> = None;
    for (k, d) in destinations.enumerate() {
        if d.contains(&dst) && best.is_none_or(|(_, len)| d.prefix_len() > len) {
            best = Some((k, d.prefix_len()));
        }
    }
    route_choice(dev, best?.0)
}

/// Every route of a device in tie order: each interface's connected subnet, then the
/// listed routes. A route with only a gateway leaves by the interface whose subnet holds
/// the gateway.
pub fn route_choices(dev: &Device) -> Vec<RouteChoice> {
    (0..dev.interfaces.len() + dev.routes.len())
        .filter_map(|k| route_choice(dev, k))
        .collect()
}

/// The `k`-th of [`route_choices`] alone.
pub fn route_choice(dev: &Device, k: usize) -> Option<RouteChoice> {
    if let Some(iface) = dev.interfaces.get(k) {
        return Some(RouteChoice {
            id: format!("connected {} dev {}", iface.net, iface.name),
            destination: iface.net,
            out_iface: Some(k),
            gateway: None,
            tunnel: None,
            connected: true,
        });
    }
    let r = dev.routes.get(k - dev.interfaces.len())?;
    let out_iface = r.interface.or_else(|| {
        r.gateway
            .and_then(|g| dev.interfaces.iter().position(|f| f.net.contains(&g)))
    });
    Some(RouteChoice {
        id: r.id.clone(),
        destination: r.destination,
        out_iface,
        gateway: r.gateway,
        tunnel: r.tunnel,
        connected: false,
    })
}

/// Can a filter rule match some packet of protocol `p`? (Its protocol, and its ports
/// only when `p` has ports.) `Index::chain_rules` lists these per protocol.
pub fn rule_fits(r: &crate::model::FilterRule, p: Protocol) -> bool {
    r.protocol.matches(p)
        && (p.has_ports() || (r.source_ports.is_any() && r.destination_ports.is_any()))
}

/// A rule of a chain with the address ranges it can match (everything when it names
/// none), for skipping rules that cannot match any packet of a region.
#[derive(Clone, Copy, Debug)]
pub struct RuleSpan {
    pub rule: u32,
    pub src: (u32, u32),
    pub dst: (u32, u32),
}

impl RuleSpan {
    pub fn of(i: usize, r: &crate::model::FilterRule) -> RuleSpan {
        let span = |n: Option<Ipv4Net>| {
            n.map_or((0, u32::MAX), |n| {
                (u32::from(n.network()), u32::from(n.broadcast()))
            })
        };
        RuleSpan {
            rule: i as u32,
            src: span(r.source),
            dst: span(r.destination),
        }
    }
}
