//! VPC routing: the VRouter's route tables and the VPN gateway's routes (faq 3/4).

use super::cause::{list, Ctx, Detail};
use super::change::Change;
use crate::model::CloudHop;

/// `VROUTER_NO_ROUTE`: the vSwitch's route table has no route for the destination.
/// `VPN_ROUTE_NOT_PUBLISHED` when the VPN gateway has a destination route for it that is
/// not published to the VPC (`unpublished`: that route, as (gateway, route)); the fix then
/// publishes it. A custom table never receives VPN routes: the message says so.
pub(super) fn no_route(
    cx: &Ctx,
    table: usize,
    vpn_route: Option<(usize, usize)>,
    unpublished: Option<(usize, usize)>,
) -> Detail {
    let (m, t) = (cx.m, cx.t);
    let rt = &m.route_tables[table];
    let dest = cx.widen_dst();
    let vgw = super::cause::connection_for(m, t)
        .map(|c| m.connections[c].vpn_gateway)
        .or(if m.vpn_gateways.len() == 1 {
            Some(0)
        } else {
            None
        });
    let vgw_id = vgw.map_or("the VPN gateway".to_string(), |g| {
        m.vpn_gateways[g].id.clone()
    });
    let vsw: Vec<&str> = m
        .vswitches
        .iter()
        .filter(|v| v.route_table == table)
        .map(|v| v.id.as_str())
        .collect();
    let mut msg = format!(
        "route table {} (used by {}) has no route for {}: {} is dropped at the VRouter",
        rt.id,
        if vsw.is_empty() {
            "no vSwitch".into()
        } else {
            vsw.join(", ")
        },
        list(&cx.dst),
        cx.what
    );
    if let Some((g, r)) = unpublished {
        let gw = &m.vpn_gateways[g];
        let route = &gw.destination_routes[r];
        let conn = &m.connections[route.connection].id;
        msg.push_str(&format!(
            ". VPN gateway {} has destination route {} ({} → {}) for it, but the route is not published to the VPC",
            gw.id, route.id, route.destination, conn
        ));
        let fix = format!("publish VPN route {} of {} to the VPC", route.id, gw.id);
        let mut d = Detail::new(cx.faq, msg, fix).with_change(Change::PublishVpnRoute {
            vpn_gateway: gw.id.clone(),
            route: route.id.clone(),
        });
        d.vendor_fix.push(format!(
            "Alibaba Cloud API: PublishVpnRouteEntry VpnGatewayId={} RouteDest={} NextHop={} RouteType=dbr PublishVpc=true",
            gw.id, route.destination, conn
        ));
        return d;
    }
    if let Some((g, r)) = vpn_route {
        let route = &m.vpn_gateways[g].destination_routes[r];
        if !rt.system {
            msg.push_str(&format!(
                ". VPN gateway {} has route {} for it{}, but VPN routes are published only to the VPC's system route table and {} is a custom table",
                m.vpn_gateways[g].id,
                route.id,
                if route.publish_to_vpc { " (published)" } else { "" },
                rt.id
            ));
        }
    }
    let fix = format!(
        "add to route table {} an entry for {} with next hop VPN gateway {}",
        rt.id,
        list(&dest),
        vgw_id
    );
    let vendor_fix = dest
        .iter()
        .map(|c| {
            format!(
                "Alibaba Cloud API: CreateRouteEntry RouteTableId={} DestinationCidrBlock={} NextHopType=VpnGateway NextHopId={}",
                rt.id, c, vgw_id
            )
        })
        .collect();
    Detail {
        vendor_fix,
        ..Detail::new(cx.faq, msg, fix).with_change(Change::AddRouteEntry {
            route_table: rt.id.clone(),
            destinations: dest,
            vpn_gateway: vgw_id,
            replaces: None,
        })
    }
}

/// `VROUTER_ROUTE_ELSEWHERE`: the VRouter's best route leads somewhere other than the VPN
/// gateway. The fix changes the entry's next hop when the entry is no wider than the
/// traffic, else adds a more specific entry beside it.
pub(super) fn route_elsewhere(cx: &Ctx, table: usize, entry: usize) -> Detail {
    let (m, t) = (cx.m, cx.t);
    let rt = &m.route_tables[table];
    let e = &rt.entries[entry];
    let hop = match &e.next_hop {
        CloudHop::Blackhole => "a blackhole".to_string(),
        CloudHop::Instance(i) => format!("instance {}", m.instances[*i].id),
        CloudHop::Other { kind, id } => format!("{} {}", kind.as_str(), id),
        CloudHop::VpnGateway(g) => format!("VPN gateway {}", m.vpn_gateways[*g].id),
    };
    let vgw = super::cause::connection_for(m, t)
        .map(|c| m.vpn_gateways[m.connections[c].vpn_gateway].id.clone())
        .unwrap_or_else(|| "the VPN gateway".into());
    let dest = cx.widen_dst();
    let msg = format!(
        "route table {} sends {} by entry {} ({} → {}), not to the VPN gateway",
        rt.id, cx.what, e.id, e.destination, hop
    );
    let widest = dest.iter().map(|c| c.len() as usize).max().unwrap_or(0);
    let fix = if e.destination.prefix_len() as usize >= widest {
        format!(
            "change the next hop of entry {} in {} to VPN gateway {}",
            e.id, rt.id, vgw
        )
    } else {
        format!(
            "add to route table {} a more specific entry for {} with next hop VPN gateway {} (entry {} {} stays for other traffic)",
            rt.id,
            list(&dest),
            vgw,
            e.id,
            e.destination
        )
    };
    // The API calls, as VROUTER_NO_ROUTE gives them: an entry of the same destination is
    // deleted first (a table holds one entry per destination), then the new entries made.
    let mut vendor_fix = Vec::new();
    if dest.iter().any(|c| c.0 == e.destination) {
        vendor_fix.push(format!(
            "Alibaba Cloud API: DeleteRouteEntry RouteTableId={} RouteEntryId={}",
            rt.id, e.id
        ));
    }
    vendor_fix.extend(dest.iter().map(|c| {
        format!(
            "Alibaba Cloud API: CreateRouteEntry RouteTableId={} DestinationCidrBlock={} NextHopType=VpnGateway NextHopId={}",
            rt.id, c, vgw
        )
    }));
    Detail {
        vendor_fix,
        ..Detail::new(cx.faq, msg, fix).with_change(Change::AddRouteEntry {
            route_table: rt.id.clone(),
            destinations: dest,
            vpn_gateway: vgw,
            replaces: Some(e.id.clone()),
        })
    }
}

/// `VPN_GATEWAY_NO_ROUTE`: the VPN gateway has no policy or destination route for the
/// packet. With the traffic's connection known, the fix adds a published destination
/// route into it.
pub(super) fn gateway_no_route(cx: &Ctx, vgw: usize) -> Detail {
    let (m, t) = (cx.m, cx.t);
    let gw = &m.vpn_gateways[vgw];
    let conn = super::cause::connection_for(m, t).filter(|c| m.connections[*c].vpn_gateway == vgw);
    let dest = cx.widen_dst();
    let msg = format!(
        "VPN gateway {} has no policy or destination route for {}: {} is dropped there",
        gw.id,
        list(&cx.dst),
        cx.what
    );
    let Some(c) = conn else {
        let fix = format!(
            "add to VPN gateway {} a destination route for {} to the IPsec connection that protects it",
            gw.id,
            list(&dest)
        );
        return Detail::new(cx.faq, msg, fix);
    };
    let conn_id = &m.connections[c].id;
    let fix = format!(
        "add to VPN gateway {} a destination route {} → {} and publish it to the VPC",
        gw.id,
        list(&dest),
        conn_id
    );
    let vendor_fix = dest
        .iter()
        .map(|d| {
            format!(
                "Alibaba Cloud API: CreateVpnRouteEntry VpnGatewayId={} RouteDest={} NextHop={} PublishVpc=true Weight=100",
                gw.id, d, conn_id
            )
        })
        .collect();
    Detail {
        vendor_fix,
        ..Detail::new(cx.faq, msg, fix).with_change(Change::AddVpnRoute {
            vpn_gateway: gw.id.clone(),
            destinations: dest,
            connection: conn_id.clone(),
        })
    }
}
