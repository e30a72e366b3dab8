//! On-prem routing: routes missing, routes that miss the tunnel or leave the modelled
//! network, and loops (faq 3/4).

use super::cause::{connection_for, list, Ctx, Detail};
use super::change::{Change, Via};
use crate::engine::cause::{LoopPlace, LoopRoute};
use crate::input::IpsecMode;
use crate::model::Model;
use crate::net::addr::Cidr;

/// `IDC_NO_ROUTE`: an on-prem device has no route for the destination. The fix routes it
/// toward the tunnel when the traffic's connection has an IDC endpoint.
pub(super) fn no_route(cx: &Ctx, dev: usize) -> Detail {
    let dv = &cx.m.devices[dev];
    let dest = cx.widen_dst();
    let msg = format!(
        "{} has no route for {}: {} is dropped there",
        dv.id,
        list(&cx.dst),
        cx.what
    );
    match toward_tunnel(cx, dev) {
        Some((via, toward)) => {
            let fix = format!("add to {} a route {} {}", dv.id, list(&dest), toward);
            Detail::new(cx.faq, msg, fix).with_change(Change::AddDeviceRoute {
                device: dv.id.clone(),
                destinations: dest,
                via,
            })
        }
        None => {
            let fix = format!("add to {} a route for {}", dv.id, list(&dest));
            Detail::new(cx.faq, msg, fix)
        }
    }
}

/// `IDC_ROUTE_NOT_TO_TUNNEL`: VPC-bound traffic leaves the IDC without entering the
/// tunnel (out of an outside interface in clear, or toward a next hop outside the
/// modelled network). The fix routes it toward the tunnel.
pub(super) fn not_to_tunnel(cx: &Ctx, dev: usize, route: &str, outside: bool) -> Detail {
    let dv = &cx.m.devices[dev];
    let dest = cx.widen_dst();
    let msg = format!(
        "{} sends {} by route {} {}: VPC-bound traffic leaves the IDC without entering the IPsec tunnel{}",
        dv.id,
        cx.what,
        route,
        if outside {
            "out of an outside interface in clear"
        } else {
            "toward a next hop outside the modelled network"
        },
        match tunnel_endpoint_name(cx) {
            Some(g) => format!(" (the tunnel ends on {g})"),
            None => String::new(),
        }
    );
    match toward_tunnel(cx, dev) {
        Some((via, toward)) => {
            let fix = format!("add to {} a route {} {}", dv.id, list(&dest), toward);
            Detail::new(cx.faq, msg, fix).with_change(Change::AddDeviceRoute {
                device: dv.id.clone(),
                destinations: dest,
                via,
            })
        }
        None => {
            let fix = format!(
                "route {} on {} toward the IPsec gateway, and make sure the IPsec policy covers it",
                list(&dest),
                dv.id
            );
            Detail::new(cx.faq, msg, fix)
        }
    }
}

/// `LEFT_MODELLED_NETWORK`: a packet for a modelled destination leaves the modelled
/// network.
pub(super) fn left_network(cx: &Ctx, dev: usize, route: &str) -> Detail {
    let dv = &cx.m.devices[dev];
    Detail::new(
        cx.faq,
        format!(
            "{} sends {} by route {} to a next hop outside the modelled network",
            dv.id, cx.what, route
        ),
        format!(
            "route {} on {} toward the device that holds it",
            list(&cx.widen_dst()),
            dv.id
        ),
    )
}

/// `ROUTING_LOOP`: the packet comes back to a place it passed. The message names the
/// loop's places and the routes that send the packet round; the fix changes one of
/// them: for VPC-bound traffic, at the first device of the loop that can send it toward
/// the IPsec gateway (or into the tunnel), a route for the VPC that does. For other
/// traffic vpntrace cannot tell where it should go; `check` then tries a route toward
/// each neighbour of each device of the loop and offers the one that verifies.
pub(super) fn routing_loop(cx: &Ctx, places: &[LoopPlace], routes: &[LoopRoute]) -> Detail {
    let routes: Vec<NamedRoute> = routes.iter().map(|r| named_route(cx.m, r)).collect();
    let named: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{} route {} ({} via {})",
                r.device, r.route, r.destination, r.next_hop
            )
        })
        .collect();
    let round = if places.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = places.iter().map(|p| place_name(cx.m, *p)).collect();
        format!(" {} and back", names.join(" → "))
    };
    let msg = if named.is_empty() {
        format!("{} loops{round}", cx.what)
    } else {
        format!(
            "{} loops{round}: {} send{} it round",
            cx.what,
            named.join(", "),
            if named.len() == 1 { "s" } else { "" }
        )
    };
    let dest = cx.widen_dst();
    // Only VPC-bound traffic has a known way out: toward the tunnel.
    let vpc_bound = connection_for(cx.m, cx.t)
        .is_some_and(|c| cx.t.dst.minus(&cx.m.connections[c].local_set).is_empty());
    let fix_at = routes.iter().filter(|_| vpc_bound).find_map(|r| {
        let d = r.dev;
        let (via, words) = toward_tunnel(cx, d)?;
        // A route that already goes that way is not the one to change.
        let same = match &via {
            Via::Tunnel(c) => {
                r.gateway.is_none() && r.tunnel.is_some_and(|t| cx.m.connections[t].id == *c)
            }
            Via::Interface { gateway, .. } => gateway.is_some() && r.gateway == *gateway,
        };
        (!same).then_some((r, d, via, words))
    });
    match fix_at {
        Some((r, d, via, words)) => {
            let dev = &cx.m.devices[d].id;
            let fix = if dest.len() == 1 && dest[0].network() == r.destination.network() {
                format!("change route {} of {dev} to {} {words}", r.route, list(&dest))
            } else {
                format!(
                    "change the routing of {dev} for {}: add a route {} {words}, ahead of its route {}",
                    list(&dest),
                    list(&dest),
                    r.route
                )
            };
            Detail::new(cx.faq, msg, fix).with_change(Change::AddDeviceRoute {
                device: dev.clone(),
                destinations: dest,
                via,
            })
        }
        None => Detail::new(
            cx.faq,
            msg,
            format!(
                "change one of these routes so that it sends {} onward, toward the device that holds it",
                list(&cx.dst)
            ),
        ),
    }
}

/// A route of a routing loop as a message names it: the device, the route's id and
/// destination, where it sends the packet (a gateway address, a tunnel or an interface),
/// and that next hop typed.
pub(super) struct NamedRoute {
    pub(super) dev: usize,
    pub(super) device: String,
    pub(super) route: String,
    pub(super) destination: Cidr,
    pub(super) next_hop: String,
    pub(super) gateway: Option<std::net::Ipv4Addr>,
    pub(super) tunnel: Option<usize>,
}

pub(super) fn named_route(m: &Model, r: &LoopRoute) -> NamedRoute {
    let d = &m.devices[r.dev];
    let c = crate::model::rules::route_choice(d, r.choice).expect("a loop route is the device's");
    let next_hop = match (c.gateway, c.out_iface, c.tunnel) {
        (Some(g), _, _) => g.to_string(),
        (None, _, Some(t)) => format!("tunnel {}", m.connections[t].id),
        (None, Some(f), None) => format!("dev {}", d.interfaces[f].name),
        _ => String::new(),
    };
    NamedRoute {
        dev: r.dev,
        device: d.id.clone(),
        route: c.id,
        destination: Cidr(c.destination),
        next_hop,
        gateway: c.gateway,
        tunnel: c.tunnel,
    }
}

/// The id of a place of a routing loop.
pub(super) fn place_name(m: &Model, p: LoopPlace) -> String {
    match p {
        LoopPlace::Device(d) => m.devices[d].id.clone(),
        LoopPlace::RouteTable(t) => m.route_tables[t].id.clone(),
        LoopPlace::VpnGateway(g) => m.vpn_gateways[g].id.clone(),
    }
}

/// `MARTIAN_SOURCE`: the packet is routed back to the device that sent it, which drops
/// it because its source is one of the device's own addresses (Linux: martian source).
pub(super) fn martian_source(cx: &Ctx, dev: usize, iface: usize) -> Detail {
    let dv = &cx.m.devices[dev];
    Detail::new(
        cx.faq,
        format!(
            "{} comes back to {} on {}, which sent it: Linux drops a packet carrying one of the device's own addresses as its source (martian source)",
            cx.what, dv.id, dv.interfaces[iface].name
        ),
        "fix the route that sends the packet back toward the device it came from; each device on the path must route the destination onward",
    )
}

fn tunnel_endpoint_name(cx: &Ctx) -> Option<String> {
    let c = connection_for(cx.m, cx.t)?;
    crate::model::rules::tunnel_endpoint(cx.m, c).map(|(d, _)| cx.m.devices[d].id.clone())
}

/// How `dev` should route VPC-bound traffic, as a route's next hop and in words: into
/// the tunnel (route mode), out of its outside interface (policy mode, it is the IPsec
/// gateway), or toward the gateway device on a subnet they share.
fn toward_tunnel(cx: &Ctx, dev: usize) -> Option<(Via, String)> {
    let m: &Model = cx.m;
    let c = connection_for(m, cx.t)?;
    let (gd, ge) = crate::model::rules::tunnel_endpoint(m, c)?;
    let g = &m.devices[gd];
    let entry = &g.ipsec[ge];
    if gd == dev {
        return match entry.mode {
            IpsecMode::Route => {
                let id = &m.connections[c].id;
                Some((Via::Tunnel(id.clone()), format!("into tunnel {id}")))
            }
            IpsecMode::Policy => entry.interface.map(|f| {
                let name = &g.interfaces[f].name;
                let next = m.devices[dev]
                    .routes
                    .iter()
                    .find(|r| r.interface == Some(f) && r.gateway.is_some())
                    .and_then(|r| r.gateway);
                let words = match next {
                    Some(n) => format!(
                        "via {} dev {} (the IPsec policy on {} then encrypts it)",
                        n, name, name
                    ),
                    None => format!("dev {} (the IPsec policy on it then encrypts it)", name),
                };
                let via = Via::Interface {
                    interface: name.clone(),
                    gateway: next,
                };
                (via, words)
            }),
        };
    }
    // Another device: the gateway's address on a subnet this device shares.
    let d = &m.devices[dev];
    d.interfaces.iter().find_map(|f| {
        let gf = g.interfaces.iter().find(|x| x.net == f.net)?;
        let via = Via::Interface {
            interface: f.name.clone(),
            gateway: Some(gf.addr),
        };
        Some((via, format!("via {} (IPsec gateway {})", gf.addr, g.id)))
    })
}

/// The sentence that puts a routing finding on the device whose route sent the traffic
/// astray (`dev`, by route `route` via `gateway`, the device `next` holds), before the
/// message of where the traffic then stopped (`stopped_at`).
pub fn diverted(
    dev: &str,
    route: &str,
    gateway: Option<std::net::Ipv4Addr>,
    next: Option<&str>,
    stopped_at: &str,
) -> String {
    let via = match (gateway, next) {
        (Some(g), Some(n)) => format!(" via {g} ({n})"),
        (Some(g), None) => format!(" via {g}"),
        _ => String::new(),
    };
    format!(
        "{dev} sends this traffic by route {route}{via}, the wrong way (the fix belongs on {dev}, not on {stopped_at} where the traffic ends up)"
    )
}
