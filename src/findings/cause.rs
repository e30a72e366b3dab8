//! How a typed [`Cause`] from the engine becomes a [`Finding`]: its code, the device and
//! rule it names, its message and a concrete fix. `check` groups causes over address
//! classes and builds each group's finding once.
//!
//! | code | faq | condition |
//! |---|---|---|
//! | `VROUTER_NO_ROUTE` | 3/4 | the vSwitch's route table has no route for the destination |
//! | `VPN_ROUTE_NOT_PUBLISHED` | 3/4 | …and the VPN gateway has a route for it that is not published to the VPC |
//! | `VROUTER_ROUTE_ELSEWHERE` | 3/4 | the VRouter's best route leads somewhere other than the VPN gateway |
//! | `VPN_GATEWAY_NO_ROUTE` | 3/4 | the VPN gateway has no policy or destination route for the packet |
//! | `IPSEC_NOT_ESTABLISHED` | 1/2 | the connection has no IPsec SA (status) |
//! | `SA_NOT_COVERING` | 5 | the connection's subnets include the flow but no negotiated SA covers it |
//! | `TRAFFIC_OUTSIDE_CONNECTION` | 3/4 | traffic routed into a connection whose subnets do not include it |
//! | `IDC_ENDPOINT_MISSING` | 3/4 | no on-prem device terminates the connection |
//! | `SG_EGRESS_DROP`, `SG_INGRESS_DROP` | 3/4 | the instance's security groups drop the packet (a rule, or the default deny) |
//! | `IDC_FILTER_DROP` | 3/4 | an on-prem filter chain drops the packet (a rule, or the chain default) |
//! | `REPLY_DROPPED_STATELESS_ACL` | 3/4 | a stateless ACL lets the request through but not its reply |
//! | `REPLY_SESSION_MISS` | 3/4 | a non-Linux firewall drops a reply it has no session for (asymmetric path) |
//! | `IDC_NO_ROUTE` | 3/4 | an on-prem device has no route for the destination |
//! | `IDC_ROUTE_NOT_TO_TUNNEL` | 3/4 | VPC-bound traffic leaves the IDC without entering the tunnel |
//! | `IDC_NAT_BREAKS_IPSEC` | 6 | source NAT rewrote the source before IPsec matching; the packet matches no SA |
//! | `FORWARDING_DISABLED` | 3/4 | the device does not forward (net.ipv4.ip_forward=0) |
//! | `RP_FILTER_DROP` | 3/4 | Linux reverse-path filtering drops the packet |
//! | `ROUTING_LOOP` | 3/4 | the packet loops |
//! | `LEFT_MODELLED_NETWORK` | 3/4 | a packet for a modelled destination leaves the modelled network |

use serde_json::json;

pub use crate::engine::cause::{Cause, Side, Traffic};
use crate::findings::code::Code;
use crate::findings::finding::{Finding, FlowDirection};
use crate::input::Direction;
use crate::model::Model;
use crate::net::addr::{AddrSet, Cidr, Ports, Protocol};

impl Traffic {
    /// `tcp/3306`: for a reply, the service of the request it answers.
    fn service(&self, reply: bool) -> String {
        let ports = if reply {
            self.src_ports
        } else {
            self.dst_ports
        };
        if self.protocol.has_ports() && !ports.is_any() {
            format!("{}/{}", self.protocol, ports)
        } else {
            self.protocol.to_string()
        }
    }
}

/// The smallest list of configured prefixes (connection subnets, vSwitch CIDRs, IDC
/// subnets) that covers `set`, falling back to the set's own prefixes. A fix is written
/// for the subnet an engineer configured, not for one host.
pub fn widen(m: &Model, conn: Option<usize>, set: &AddrSet) -> Vec<Cidr> {
    let mut candidates: Vec<Cidr> = Vec::new();
    // The traffic's own connection first, when known; else every connection.
    let conns: Vec<&crate::model::Connection> = match conn {
        Some(c) => vec![&m.connections[c]],
        None => m.connections.iter().collect(),
    };
    for c in conns {
        candidates.extend(
            c.local_subnets
                .iter()
                .chain(&c.remote_subnets)
                .map(|x| Cidr(x.network())),
        );
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.len()));
    // Then the vSwitch CIDRs, for addresses outside every connection.
    let ivs = set.intervals();
    let touches = |n: &ipnet::Ipv4Net| {
        let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
        let i = ivs.partition_point(|&(_, b)| b < lo);
        ivs.get(i).is_some_and(|&(a, _)| a <= hi)
    };
    let mut vsw: Vec<Cidr> = m
        .vswitches
        .iter()
        .filter(|v| touches(&v.cidr))
        .map(|v| Cidr(v.cidr))
        .collect();
    vsw.sort_by_key(|c| std::cmp::Reverse(c.len()));
    candidates.extend(vsw);
    let mut out: Vec<Cidr> = Vec::new();
    let mut left = set.clone();
    // Prefer the most specific configured prefix containing each part of the set.
    for part in set.cidrs() {
        if !left.intersect(&AddrSet::from_cidrs([&part])).is_empty() {
            let pick = candidates
                .iter()
                .find(|c| c.network().contains(&part.network()))
                .copied()
                .unwrap_or(part);
            left = left.minus(&AddrSet::from_cidrs([&pick]));
            if !out.contains(&pick) {
                out.push(pick);
            }
        }
    }
    out.sort();
    out
}

fn list(c: &[Cidr]) -> String {
    crate::net::addr::join_cidrs(c)
}

impl Cause {
    pub fn code(&self, m: &Model) -> Code {
        match self {
            Cause::VrouterNoRoute { .. } if self.unpublished(m).is_some() => {
                Code::VpnRouteNotPublished
            }
            Cause::VrouterNoRoute { .. } => Code::VrouterNoRoute,
            Cause::VrouterRouteElsewhere { .. } => Code::VrouterRouteElsewhere,
            Cause::VpnGatewayNoRoute { .. } => Code::VpnGatewayNoRoute,
            Cause::NotEstablished { .. } => Code::IpsecNotEstablished,
            Cause::SaMissing { .. } => Code::SaNotCovering,
            Cause::NoIdcEndpoint { .. } => Code::IdcEndpointMissing,
            Cause::SgDrop {
                direction: Direction::Egress,
                ..
            } => Code::SgEgressDrop,
            Cause::SgDrop { .. } => Code::SgIngressDrop,
            Cause::FilterDrop {
                reply: true,
                stateless: true,
                ..
            } => Code::ReplyDroppedStatelessAcl,
            Cause::FilterDrop { .. } => Code::IdcFilterDrop,
            Cause::SessionMiss { .. } => Code::ReplySessionMiss,
            Cause::DeviceNoRoute { .. } => Code::IdcNoRoute,
            Cause::ForwardingDisabled { .. } => Code::ForwardingDisabled,
            Cause::RpFilter { .. } => Code::RpFilterDrop,
            Cause::NatBreaksIpsec { .. } => Code::IdcNatBreaksIpsec,
            Cause::LeftInClear { .. } => Code::IdcRouteNotToTunnel,
            Cause::LeftNetwork { .. } => Code::LeftModelledNetwork,
            Cause::Loop { .. } => Code::RoutingLoop,
        }
    }

    /// For a missing VRouter route in the system table: the VPN-gateway route for the
    /// destination that exists but is not published to the VPC.
    fn unpublished(&self, m: &Model) -> Option<(usize, usize)> {
        match self {
            Cause::VrouterNoRoute {
                table,
                vpn_route: Some((g, r)),
                ..
            } if m.route_tables[*table].system
                && !m.vpn_gateways[*g].destination_routes[*r].publish_to_vpc =>
            {
                Some((*g, *r))
            }
            _ => None,
        }
    }

    /// Is this a failure of the return path?
    pub fn is_reply(&self) -> bool {
        match self {
            Cause::VrouterNoRoute { reply, .. }
            | Cause::VrouterRouteElsewhere { reply, .. }
            | Cause::VpnGatewayNoRoute { reply, .. }
            | Cause::SaMissing { reply, .. }
            | Cause::SgDrop { reply, .. }
            | Cause::FilterDrop { reply, .. }
            | Cause::DeviceNoRoute { reply, .. }
            | Cause::NatBreaksIpsec { reply, .. }
            | Cause::LeftInClear { reply, .. }
            | Cause::LeftNetwork { reply, .. } => *reply,
            Cause::SessionMiss { .. } => true,
            _ => false,
        }
    }

    /// The device where it happens (SPEC: instance for security groups, route table for
    /// VRouter routing, VPN gateway for its routes and SAs, the on-prem device otherwise).
    pub fn device(&self, m: &Model) -> String {
        match self {
            Cause::VrouterNoRoute { .. } if self.unpublished(m).is_some() => {
                m.vpn_gateways[self.unpublished(m).unwrap().0].id.clone()
            }
            Cause::VrouterNoRoute { table, .. } | Cause::VrouterRouteElsewhere { table, .. } => {
                m.route_tables[*table].id.clone()
            }
            Cause::VpnGatewayNoRoute { vgw, .. } => m.vpn_gateways[*vgw].id.clone(),
            Cause::NotEstablished { conn } | Cause::NoIdcEndpoint { conn } => {
                m.vpn_gateways[m.connections[*conn].vpn_gateway].id.clone()
            }
            Cause::SaMissing { conn, side, .. } => match side {
                Side::Cloud => m.vpn_gateways[m.connections[*conn].vpn_gateway].id.clone(),
                Side::Idc(d) => m.devices[*d].id.clone(),
            },
            Cause::SgDrop { instance, .. } => m.instances[*instance].id.clone(),
            Cause::FilterDrop { dev, .. }
            | Cause::SessionMiss { dev }
            | Cause::DeviceNoRoute { dev, .. }
            | Cause::ForwardingDisabled { dev }
            | Cause::RpFilter { dev, .. }
            | Cause::NatBreaksIpsec { dev, .. }
            | Cause::LeftInClear { dev, .. }
            | Cause::LeftNetwork { dev, .. } => m.devices[*dev].id.clone(),
            Cause::Loop { device, .. } => device.clone(),
        }
    }

    /// The rule that decides, or None for a default / a missing rule.
    pub fn rule(&self, m: &Model) -> Option<String> {
        match self {
            Cause::VrouterRouteElsewhere { table, entry, .. } => {
                Some(m.route_tables[*table].entries[*entry].id.clone())
            }
            Cause::VrouterNoRoute { .. } => self
                .unpublished(m)
                .map(|(g, r)| m.vpn_gateways[g].destination_routes[r].id.clone()),
            Cause::SgDrop { rule, .. } => {
                rule.map(|(g, r)| m.security_groups[g].rules[r].id.clone())
            }
            Cause::FilterDrop {
                dev, chain, rule, ..
            } => rule.map(|r| {
                m.devices[*dev]
                    .filter
                    .as_ref()
                    .and_then(|f| f.chain(*chain))
                    .map(|c| c.rules[r].id.clone())
                    .unwrap_or_default()
            }),
            Cause::NatBreaksIpsec { dev, nat, .. } => Some(m.devices[*dev].nat[*nat].id.clone()),
            Cause::LeftInClear { route, .. } | Cause::LeftNetwork { route, .. } => {
                Some(route.clone())
            }
            _ => None,
        }
    }

    /// The connection concerned, where one is.
    pub fn connection(&self, m: &Model, t: &Traffic) -> Option<String> {
        match self {
            Cause::NotEstablished { conn }
            | Cause::SaMissing { conn, .. }
            | Cause::NoIdcEndpoint { conn }
            | Cause::NatBreaksIpsec { conn, .. } => Some(m.connections[*conn].id.clone()),
            _ => connection_for(m, t).map(|c| m.connections[c].id.clone()),
        }
    }

    /// Render as a finding for `traffic`, the flow initiated in `dir`.
    pub fn finding(&self, m: &Model, dir: Option<FlowDirection>, t: &Traffic) -> Finding {
        let d = dir.unwrap_or(FlowDirection::CloudToOnprem);
        let faq_dir = d.faq();
        let src = t.src.cidrs();
        let dst = t.dst.cidrs();
        let reply = self.is_reply();
        let what = if reply {
            format!(
                "the reply of {} traffic from {} to {}",
                t.service(true),
                list(&src),
                list(&dst)
            )
        } else {
            format!(
                "{} traffic from {} to {}",
                t.service(false),
                list(&src),
                list(&dst)
            )
        };
        let device = self.device(m);
        let mut change = None;
        let mut vendor = Vec::new();
        let (faq, message, fix): (u8, String, String) = match self {
            Cause::VrouterNoRoute { table, vpn_route, .. } => {
                let rt = &m.route_tables[*table];
                let dest = widen(m, t.conn, &t.dst);
                let vgw = connection_for(m, t).map(|c| m.connections[c].vpn_gateway).or(if m.vpn_gateways.len() == 1 { Some(0) } else { None });
                let vgw_id = vgw.map_or("the VPN gateway".to_string(), |g| m.vpn_gateways[g].id.clone());
                let vsw: Vec<&str> = m.vswitches.iter().filter(|v| v.route_table == *table).map(|v| v.id.as_str()).collect();
                let mut msg = format!("route table {} (used by {}) has no route for {}: {} is dropped at the VRouter", rt.id, if vsw.is_empty() { "no vSwitch".into() } else { vsw.join(", ") }, list(&dst), what);
                let fix;
                if let Some((g, r)) = self.unpublished(m) {
                    let route = &m.vpn_gateways[g].destination_routes[r];
                    msg.push_str(&format!(". VPN gateway {} has destination route {} ({} → {}) for it, but the route is not published to the VPC", m.vpn_gateways[g].id, route.id, route.destination, m.connections[route.connection].id));
                    fix = format!("publish VPN route {} of {} to the VPC", route.id, m.vpn_gateways[g].id);
                    change = Some(json!({"op": "publish_vpn_route", "vpn_gateway": m.vpn_gateways[g].id, "route": route.id}));
                    vendor.push(format!("Alibaba Cloud API: PublishVpnRouteEntry VpnGatewayId={} RouteDest={} NextHop={} RouteType=dbr PublishVpc=true", m.vpn_gateways[g].id, route.destination, m.connections[route.connection].id));
                } else {
                    if let Some((g, r)) = vpn_route {
                        let route = &m.vpn_gateways[*g].destination_routes[*r];
                        if !rt.system {
                            msg.push_str(&format!(". VPN gateway {} has route {} for it{}, but VPN routes are published only to the VPC's system route table and {} is a custom table", m.vpn_gateways[*g].id, route.id, if route.publish_to_vpc { " (published)" } else { "" }, rt.id));
                        }
                    }
                    fix = format!("add to route table {} an entry for {} with next hop VPN gateway {}", rt.id, list(&dest), vgw_id);
                    change = Some(json!({"op": "add_route_entry", "route_table": rt.id, "destinations": dest, "next_hop": {"type": "vpn_gateway", "id": vgw_id}}));
                    for c in &dest {
                        vendor.push(format!("Alibaba Cloud API: CreateRouteEntry RouteTableId={} DestinationCidrBlock={} NextHopType=VpnGateway NextHopId={}", rt.id, c, vgw_id));
                    }
                }
                (faq_dir, msg, fix)
            }
            Cause::VrouterRouteElsewhere { table, entry, .. } => {
                let rt = &m.route_tables[*table];
                let e = &rt.entries[*entry];
                let hop = match &e.next_hop {
                    crate::model::CloudHop::Blackhole => "a blackhole".to_string(),
                    crate::model::CloudHop::Instance(i) => format!("instance {}", m.instances[*i].id),
                    crate::model::CloudHop::Other { kind, id } => format!("{} {}", kind.as_str(), id),
                    crate::model::CloudHop::VpnGateway(g) => format!("VPN gateway {}", m.vpn_gateways[*g].id),
                };
                let vgw = connection_for(m, t).map(|c| m.vpn_gateways[m.connections[c].vpn_gateway].id.clone()).unwrap_or_else(|| "the VPN gateway".into());
                let dest = widen(m, t.conn, &t.dst);
                let msg = format!("route table {} sends {} by entry {} ({} → {}), not to the VPN gateway", rt.id, what, e.id, e.destination, hop);
                let fix = if e.destination.prefix_len() as usize >= dest.iter().map(|c| c.len() as usize).max().unwrap_or(0) {
                    format!("change the next hop of entry {} in {} to VPN gateway {}", e.id, rt.id, vgw)
                } else {
                    format!("add to route table {} a more specific entry for {} with next hop VPN gateway {} (entry {} {} stays for other traffic)", rt.id, list(&dest), vgw, e.id, e.destination)
                };
                change = Some(json!({"op": "add_route_entry", "route_table": rt.id, "destinations": dest, "next_hop": {"type": "vpn_gateway", "id": vgw}, "replaces": e.id}));
                (faq_dir, msg, fix)
            }
            Cause::VpnGatewayNoRoute { vgw, .. } => {
                let gw = &m.vpn_gateways[*vgw];
                let conn = connection_for(m, t).filter(|c| m.connections[*c].vpn_gateway == *vgw);
                let dest = widen(m, t.conn, &t.dst);
                let msg = format!("VPN gateway {} has no policy or destination route for {}: {} is dropped there", gw.id, list(&dst), what);
                let fix = match conn {
                    Some(c) => {
                        change = Some(json!({"op": "add_vpn_route", "vpn_gateway": gw.id, "destinations": dest, "next_hop": m.connections[c].id, "publish_to_vpc": true}));
                        for d in &dest {
                            vendor.push(format!("Alibaba Cloud API: CreateVpnRouteEntry VpnGatewayId={} RouteDest={} NextHop={} PublishVpc=true Weight=100", gw.id, d, m.connections[c].id));
                        }
                        format!("add to VPN gateway {} a destination route {} → {} and publish it to the VPC", gw.id, list(&dest), m.connections[c].id)
                    }
                    None => format!("add to VPN gateway {} a destination route for {} to the IPsec connection that protects it", gw.id, list(&dest)),
                };
                (faq_dir, msg, fix)
            }
            Cause::NotEstablished { conn } => {
                let c = &m.connections[*conn];
                let faq = if c.status == crate::input::ConnStatus::IkeSaNotEstablished { 1 } else { 2 };
                (faq, format!("connection {} is {}: no IPsec SA carries {}", c.id, c.status.as_str(), what), format!("bring up connection {} first: compare both ends' phase-{} settings (see the faq {} findings of `vpntrace check`)", c.id, faq, faq))
            }
            Cause::SaMissing { conn, side, inbound, .. } => {
                let c = &m.connections[*conn];
                let (end, sas, cfg_local, cfg_remote) = match side {
                    Side::Cloud => ("the VPN gateway".to_string(), &c.sas, &c.local_set, &c.remote_set),
                    Side::Idc(dv) => {
                        let e = m.devices[*dv].ipsec.iter().find(|e| e.connection == *conn);
                        match e {
                            Some(e) => (format!("IDC gateway {}", m.devices[*dv].id), &e.sas, &AddrSet::from_cidrs(&e.local_subnets), &AddrSet::from_cidrs(&e.remote_subnets)),
                            None => (format!("IDC gateway {}", m.devices[*dv].id), &c.sas, &c.local_set, &c.remote_set),
                        }
                    }
                };
                let (ours, theirs) = if *inbound { (&t.dst, &t.src) } else { (&t.src, &t.dst) };
                let configured = ours.is_subset(cfg_local) && theirs.is_subset(cfg_remote);
                let sa_desc = if sas.is_empty() { "none".to_string() } else { sas.iter().map(|s| s.describe()).collect::<Vec<_>>().join("; ") };
                if configured {
                    let msg = format!(
                        "connection {} is configured for {} but no SA that {} holds covers it (its SAs: {}), so the packets are {}. The ends negotiated one SA per subnet pair and only part of the configured pairs is in effect on this end",
                        c.id, what, end, sa_desc, if *inbound { "dropped when they leave the tunnel" } else { "not encrypted into the tunnel" }
                    );
                    let fix = if c.local_subnets.len() * c.remote_subnets.len() > 1 {
                        change = Some(json!({"op": "split_connection", "connection": c.id}));
                        format!("split connection {} into one connection per subnet pair with identical phase-1 settings (`vpntrace split TOPOLOGY --connection {}`); if both ends run IKEv1, switch both to IKEv2", c.id, c.id)
                    } else {
                        format!("renegotiate connection {} so its SA carries the configured subnets on both ends", c.id)
                    };
                    (5, msg, fix)
                } else {
                    let msg = format!("{} is routed into connection {}, whose subnets on {} do not include it (SAs: {}): dropped", what, c.id, end, sa_desc);
                    let fix = format!("add {} ⇄ {} to the local/remote subnets of connection {} on both ends (LocalSubnet/RemoteSubnet), or route this traffic elsewhere", list(&widen(m, t.conn, ours)), list(&widen(m, t.conn, theirs)), c.id);
                    (faq_dir, msg, fix)
                }
            }
            Cause::NoIdcEndpoint { conn } => {
                let c = &m.connections[*conn];
                (faq_dir, format!("no on-prem device in the topology terminates connection {} ({} leaves the modelled network at the tunnel)", c.id, what), format!("model the IDC gateway with an `ipsec` entry for {}", c.id))
            }
            Cause::SgDrop { instance, direction, rule, .. } => {
                let inst = &m.instances[*instance];
                let groups: Vec<&str> = inst.security_groups.iter().map(|g| m.security_groups[*g].id.as_str()).collect();
                let (dir_word, peers) = match direction {
                    Direction::Ingress => ("ingress", widen(m, t.conn, &t.src)),
                    Direction::Egress => ("egress", widen(m, t.conn, &t.dst)),
                };
                let by = match rule {
                    Some((g, r)) => {
                        let rl = &m.security_groups[*g].rules[*r];
                        format!("rule {} of {} (drop, priority {})", rl.id, m.security_groups[*g].id, rl.priority)
                    }
                    None => format!("no rule: default deny of {}", groups.join(", ")),
                };
                let target = inst.security_groups.first().map_or("a security group".to_string(), |g| m.security_groups[*g].id.clone());
                let prio = match rule {
                    Some((g, r)) => {
                        let p = m.security_groups[*g].rules[*r].priority;
                        if p > 1 { p - 1 } else { 1 }
                    }
                    None => 1,
                };
                let tie = matches!(rule, Some((g, r)) if m.security_groups[*g].rules[*r].priority == 1);
                let proto = t.protocol;
                let ports = if proto.has_ports() { t.dst_ports } else { Ports::ANY };
                let msg = format!("security groups of instance {} ({}) drop {} {}: {}", inst.id, groups.join(", "), dir_word, what, by);
                let mut fix = format!("add to {} an {} rule: accept, priority {}, protocol {}, ports {}, {} {}", target, dir_word, prio, proto, ports, if *direction == Direction::Ingress { "source" } else { "destination" }, list(&peers));
                if tie {
                    fix = format!("the deciding drop rule has priority 1, so no accept can outrank it: narrow or delete rule {}, then {}", self.rule(m).unwrap_or_default(), fix);
                }
                change = Some(json!({"op": "add_sg_rule", "security_group": target, "direction": dir_word, "policy": "accept", "priority": prio, "protocol": proto, "ports": ports, "peers": peers}));
                for p in &peers {
                    vendor.push(format!(
                        "Alibaba Cloud API: {} SecurityGroupId={} IpProtocol={} PortRange={} {}={} Policy=accept Priority={}",
                        if *direction == Direction::Ingress { "AuthorizeSecurityGroup" } else { "AuthorizeSecurityGroupEgress" },
                        target,
                        proto,
                        if ports.is_any() { "-1/-1".to_string() } else { format!("{}/{}", ports.lo, ports.hi) },
                        if *direction == Direction::Ingress { "SourceCidrIp" } else { "DestCidrIp" },
                        p,
                        prio
                    ));
                }
                (faq_dir, msg, fix)
            }
            Cause::FilterDrop { dev, chain, rule, stateless, .. } => {
                let dv = &m.devices[*dev];
                let ch = dv.filter.as_ref().and_then(|f| f.chain(*chain));
                let by = match rule {
                    Some(r) => format!("rule {} (drop)", ch.map(|c| c.rules[*r].id.clone()).unwrap_or_default()),
                    None => "no rule matches: chain default drop".to_string(),
                };
                let srcs = widen(m, t.conn, &t.src);
                let dsts = widen(m, t.conn, &t.dst);
                let msg = if reply && *stateless {
                    format!("{} {} chain lets the request through but drops {}: {}; the ACL is stateless, so replies need their own rule", dv.id, chain.as_str(), what, by)
                } else {
                    format!("{} {} chain drops {}: {}", dv.id, chain.as_str(), what, by)
                };
                let ports_clause = if t.protocol.has_ports() {
                    if reply { format!(", source ports {}", t.src_ports) } else { format!(", destination ports {}", t.dst_ports) }
                } else {
                    String::new()
                };
                let position = match rule {
                    Some(r) => format!("before rule {}", ch.map(|c| c.rules[*r].id.clone()).unwrap_or_default()),
                    None => "at the end of the chain (before the default)".to_string(),
                };
                let fix = format!("insert into {} {} chain {} a rule: accept, source {}, destination {}, protocol {}{}", dv.id, chain.as_str(), position, list(&srcs), list(&dsts), t.protocol, ports_clause);
                change = Some(json!({
                    "op": "insert_filter_rule", "device": dv.id, "chain": chain.as_str(),
                    "before": rule.and_then(|r| ch.map(|c| c.rules[r].id.clone())),
                    "sources": srcs, "destinations": dsts, "protocol": t.protocol,
                    "destination_ports": if reply { Ports::ANY } else { t.dst_ports },
                    "source_ports": if reply { t.src_ports } else { Ports::ANY },
                }));
                if dv.is_linux() {
                    let ch_name = chain.as_str().to_uppercase();
                    let pos = match rule {
                        Some(r) => format!("-I {} {}", ch_name, r + 1),
                        None => format!("-A {}", ch_name),
                    };
                    for s in &srcs {
                        for d in &dsts {
                            let mut cmd = format!("iptables {} -s {} -d {}", pos, s, d);
                            if t.protocol != Protocol::All {
                                cmd.push_str(&format!(" -p {}", t.protocol));
                            }
                            if t.protocol.has_ports() {
                                if reply && !t.src_ports.is_any() {
                                    cmd.push_str(&format!(" --sport {}", t.src_ports.to_string().replace('-', ":")));
                                } else if !reply && !t.dst_ports.is_any() {
                                    cmd.push_str(&format!(" --dport {}", t.dst_ports.to_string().replace('-', ":")));
                                }
                            }
                            cmd.push_str(" -j ACCEPT");
                            vendor.push(cmd);
                        }
                    }
                }
                (faq_dir, msg, fix)
            }
            Cause::SessionMiss { dev } => {
                let dv = &m.devices[*dev];
                (faq_dir, format!("{} is a stateful firewall that did not see the request, so it drops {} as a session miss (asymmetric path)", dv.id, what), format!("make the request and the reply take the same path through {} (fix the routing asymmetry), or disable the session check for this traffic", dv.id))
            }
            Cause::DeviceNoRoute { dev, .. } => {
                let dv = &m.devices[*dev];
                let dest = widen(m, t.conn, &t.dst);
                let toward = toward_tunnel(m, *dev, t);
                let fix = match &toward {
                    Some(x) => format!("add to {} a route {} {}", dv.id, list(&dest), x),
                    None => format!("add to {} a route for {}", dv.id, list(&dest)),
                };
                change = toward.as_ref().map(|_| json!({"op": "add_device_route", "device": dv.id, "destinations": dest, "via": route_via_json(m, *dev, t)}));
                (faq_dir, format!("{} has no route for {}: {} is dropped there", dv.id, list(&dst), what), fix)
            }
            Cause::ForwardingDisabled { dev } => {
                let dv = &m.devices[*dev];
                change = Some(json!({"op": "enable_forwarding", "device": dv.id}));
                vendor.push("sysctl -w net.ipv4.ip_forward=1".into());
                (faq_dir, format!("{} does not forward packets (net.ipv4.ip_forward=0): {} is dropped there", dv.id, what), format!("enable IP forwarding on {}", dv.id))
            }
            Cause::RpFilter { dev, iface } => {
                let dv = &m.devices[*dev];
                let f = &dv.interfaces[*iface];
                change = Some(json!({"op": "set_rp_filter", "device": dv.id, "value": "loose"}));
                vendor.push(format!("sysctl -w net.ipv4.conf.{}.rp_filter=2", f.name));
                (faq_dir, format!("{} drops {} arriving on {}: reverse-path filtering finds the route back to the source does not leave by {}", dv.id, what, f.name, f.name), format!("set rp_filter to loose (2) on {} of {}, or add a route for {} via {}", f.name, dv.id, list(&widen(m, t.conn, &t.src)), f.name))
            }
            Cause::NatBreaksIpsec { dev, nat, conn, .. } => {
                let dv = &m.devices[*dev];
                let rule = &dv.nat[*nat];
                let c = &m.connections[*conn];
                let entry = dv.ipsec.iter().find(|e| e.connection == *conn);
                let idc_cidrs = entry.map(|e| e.local_subnets.clone()).unwrap_or_else(|| c.remote_subnets.clone());
                let vpc_cidrs = entry.map(|e| e.remote_subnets.clone()).unwrap_or_else(|| c.local_subnets.clone());
                let exempt: Vec<&crate::model::NatRule> = dv.nat.iter().take(*nat).filter(|r| r.action == crate::input::NatAction::NoNat).collect();
                let exempt_desc = if exempt.is_empty() {
                    "No no-NAT rule exempts it.".to_string()
                } else {
                    format!("The no-NAT rule(s) before it exempt only {}.", exempt.iter().map(|r| format!("{} ({} → {})", r.id, r.source.map_or("any".into(), |s| s.to_string()), r.destination.map_or("any".into(), |s| s.to_string()))).collect::<Vec<_>>().join(", "))
                };
                let msg = format!(
                    "source NAT rule {} on {} translates the source of {} to {} before IPsec policy matching; the translated packet matches no SA of {} and leaves {} in clear. {}",
                    rule.id, dv.id, what, match rule.to { crate::model::NatTo::Addr(a) => a.to_string(), _ => rule.out_interface.map_or("the outgoing interface's address".to_string(), |f| format!("{} ({}'s address)", dv.interfaces[f].addr, dv.interfaces[f].name)) }, c.id,
                    rule.out_interface.map_or("the outside interface".to_string(), |f| dv.interfaces[f].name.clone()), exempt_desc
                );
                let srcs = widen(m, t.conn, &t.src);
                let dsts = widen(m, t.conn, &t.dst);
                let fix = format!("insert a no-NAT rule for source {} → destination {} before {} on {}", list(&srcs), list(&dsts), rule.id, dv.id);
                change = Some(json!({"op": "insert_no_nat", "device": dv.id, "before": rule.id, "sources": srcs, "destinations": dsts}));
                vendor = vendor_no_nat(dv, rule, &srcs, &dsts, &idc_cidrs, &vpc_cidrs);
                (6, msg, fix)
            }
            Cause::LeftInClear { dev, route, outside, .. } => {
                let dv = &m.devices[*dev];
                let dest = widen(m, t.conn, &t.dst);
                let toward = toward_tunnel(m, *dev, t);
                let msg = format!(
                    "{} sends {} by route {} {}: VPC-bound traffic leaves the IDC without entering the IPsec tunnel{}",
                    dv.id, what, route, if *outside { "out of an outside interface in clear" } else { "toward a next hop outside the modelled network" },
                    match tunnel_endpoint_name(m, t) { Some(g) => format!(" (the tunnel ends on {g})"), None => String::new() }
                );
                let fix = match &toward {
                    Some(x) => format!("add to {} a route {} {}", dv.id, list(&dest), x),
                    None => format!("route {} on {} toward the IPsec gateway, and make sure the IPsec policy covers it", list(&dest), dv.id),
                };
                change = toward.as_ref().map(|_| json!({"op": "add_device_route", "device": dv.id, "destinations": dest, "via": route_via_json(m, *dev, t)}));
                (faq_dir, msg, fix)
            }
            Cause::LeftNetwork { dev, route, .. } => {
                let dv = &m.devices[*dev];
                (faq_dir, format!("{} sends {} by route {} to a next hop outside the modelled network", dv.id, what, route), format!("route {} on {} toward the device that holds it", list(&widen(m, t.conn, &t.dst)), dv.id))
            }
            Cause::Loop { device, hops } => (faq_dir, format!("{} loops (seen again at {} after {} hops)", what, device, hops), "fix the routes that send the packet back and forth; each device on the path must route the destination onward".to_string()),
        };
        let mut f = Finding::error(self.code(m), faq, message, fix)
            .with_device(device)
            .with_rule(self.rule(m))
            .with_traffic(src, dst);
        f.direction = dir;
        f.connection = self.connection(m, t);
        f.change = change;
        f.vendor_fix = vendor;
        f.services = vec![t.service(reply)];
        f
    }
}

/// The finding of a traced path that was not delivered: its cause, for the packet as it
/// entered the path's first hop.
pub fn path_finding(m: &Model, p: &crate::engine::trace::Path) -> Option<Finding> {
    let cause = p.cause.as_ref()?;
    Some(cause.finding(m, p.direction, &p.cause_traffic()?))
}

/// The connection whose subnets hold the traffic (either orientation).
pub fn connection_for(m: &Model, t: &Traffic) -> Option<usize> {
    if t.conn.is_some() {
        return t.conn;
    }
    let overlaps = |a: &AddrSet, b: &AddrSet| !a.intersect(b).is_empty();
    m.connections.iter().position(|c| {
        (overlaps(&c.local_set, &t.src) && overlaps(&c.remote_set, &t.dst))
            || (overlaps(&c.remote_set, &t.src) && overlaps(&c.local_set, &t.dst))
    })
}

fn tunnel_endpoint_name(m: &Model, t: &Traffic) -> Option<String> {
    let c = connection_for(m, t)?;
    crate::model::rules::tunnel_endpoint(m, c).map(|(d, _)| m.devices[d].id.clone())
}

/// How `dev` should route VPC-bound traffic: into the tunnel (route mode), out of its
/// outside interface (policy mode, it is the IPsec gateway), or toward the gateway device.
fn toward_tunnel(m: &Model, dev: usize, t: &Traffic) -> Option<String> {
    let c = connection_for(m, t)?;
    let (gd, ge) = crate::model::rules::tunnel_endpoint(m, c)?;
    let g = &m.devices[gd];
    let entry = &g.ipsec[ge];
    if gd == dev {
        return match entry.mode {
            crate::input::IpsecMode::Route => Some(format!("into tunnel {}", m.connections[c].id)),
            crate::input::IpsecMode::Policy => entry.interface.map(|f| {
                let next = m.devices[dev]
                    .routes
                    .iter()
                    .find(|r| r.interface == Some(f) && r.gateway.is_some())
                    .and_then(|r| r.gateway);
                match next {
                    Some(n) => format!(
                        "via {} dev {} (the IPsec policy on {} then encrypts it)",
                        n, g.interfaces[f].name, g.interfaces[f].name
                    ),
                    None => format!(
                        "dev {} (the IPsec policy on it then encrypts it)",
                        g.interfaces[f].name
                    ),
                }
            }),
        };
    }
    // Another device: the gateway's address on a subnet this device shares.
    let d = &m.devices[dev];
    for f in &d.interfaces {
        if let Some(gf) = g.interfaces.iter().find(|x| x.net == f.net) {
            return Some(format!("via {} (IPsec gateway {})", gf.addr, g.id));
        }
    }
    None
}

fn route_via_json(m: &Model, dev: usize, t: &Traffic) -> serde_json::Value {
    let Some(c) = connection_for(m, t) else {
        return serde_json::Value::Null;
    };
    let Some((gd, ge)) = crate::model::rules::tunnel_endpoint(m, c) else {
        return serde_json::Value::Null;
    };
    let g = &m.devices[gd];
    let entry = &g.ipsec[ge];
    if gd == dev {
        return match entry.mode {
            crate::input::IpsecMode::Route => json!({"tunnel": m.connections[c].id}),
            crate::input::IpsecMode::Policy => match entry.interface {
                Some(f) => {
                    let next = m.devices[dev]
                        .routes
                        .iter()
                        .find(|r| r.interface == Some(f) && r.gateway.is_some())
                        .and_then(|r| r.gateway);
                    json!({"interface": g.interfaces[f].name, "gateway": next.map(|n| n.to_string())})
                }
                None => serde_json::Value::Null,
            },
        };
    }
    let d = &m.devices[dev];
    for f in &d.interfaces {
        if let Some(gf) = g.interfaces.iter().find(|x| x.net == f.net) {
            return json!({"interface": f.name, "gateway": gf.addr.to_string()});
        }
    }
    serde_json::Value::Null
}

/// The no-NAT fix in the device's own language.
fn vendor_no_nat(
    dv: &crate::model::Device,
    rule: &crate::model::NatRule,
    srcs: &[Cidr],
    dsts: &[Cidr],
    _idc: &[Cidr],
    _vpc: &[Cidr],
) -> Vec<String> {
    let vendor = dv.vendor.clone().unwrap_or_default().to_ascii_lowercase();
    let out_if = rule
        .out_interface
        .map(|f| dv.interfaces[f].name.clone())
        .unwrap_or_else(|| "<outside>".into());
    let mut v = Vec::new();
    if vendor.contains("huawei") {
        v.push("nat-policy interzone trust untrust outbound".into());
        v.push(" policy 0".into());
        v.push("  action no-nat".into());
        for s in srcs {
            v.push(format!(
                "  policy source {} mask {}",
                s.network().network(),
                s.len()
            ));
        }
        for d in dsts {
            v.push(format!(
                "  policy destination {} mask {}",
                d.network().network(),
                d.len()
            ));
        }
        v.push(format!(
            " # keep the source-NAT policy ({}) after policy 0, e.g. easy-ip {}",
            rule.id, out_if
        ));
    } else if dv.is_linux() {
        for s in srcs {
            for d in dsts {
                v.push(format!(
                    "iptables -t nat -I POSTROUTING 1 -s {} -d {} -j ACCEPT",
                    s, d
                ));
            }
        }
    } else if vendor.contains("cisco") {
        for s in srcs {
            for d in dsts {
                v.push(format!("nat (inside,outside) source static obj-{} obj-{} destination static obj-{} obj-{} no-proxy-arp route-lookup", s.network().network(), s.network().network(), d.network().network(), d.network().network()));
            }
        }
    }
    v
}
