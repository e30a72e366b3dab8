//! How a typed [`Cause`] from the engine becomes a [`Finding`]: its code, the device and
//! rule it names, its message and a concrete fix. `check` groups causes over address
//! classes and builds each group's finding once.
//!
//! Each family of findings has its own module beside this one, with each condition's
//! documentation, message and fix (a new finding kind goes into its family's module, or
//! a new one, and gets one arm in [`Cause::finding`]):
//! `vrouter` (VPC route tables, VPN-gateway routes), `sa` (connection status and SAs),
//! `security_group`, `idc_filter` (filter chains, sessions, forwarding, rp_filter),
//! `idc_route` (on-prem routes, loops), `nat` (source NAT before IPsec).
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
//! | `MARTIAN_SOURCE` | 3/4 | the packet comes back to the device that sent it (a martian source there) |
//! | `ROUTING_LOOP` | 3/4 | the packet loops |
//! | `LEFT_MODELLED_NETWORK` | 3/4 | a packet for a modelled destination leaves the modelled network |

pub use crate::engine::cause::{Cause, Side, Traffic};
use crate::findings::change::Change;
use crate::findings::code::Code;
use crate::findings::finding::{Finding, FlowDirection};
use crate::findings::{idc_filter, idc_route, nat, sa, security_group, vrouter};
use crate::input::Direction;
use crate::model::Model;
use crate::net::addr::{AddrSet, Cidr};

pub const TRAFFIC_OUTSIDE_CONNECTION: &str = "TRAFFIC_OUTSIDE_CONNECTION";

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
    // Then the vSwitch CIDRs, for addresses outside every connection (looked for only
    // when there are such addresses).
    let inside = set.cidrs().iter().all(|part| {
        candidates
            .iter()
            .any(|c| c.network().contains(&part.network()))
    });
    let ivs = if inside { Vec::new() } else { set.intervals() };
    let touches = |n: &ipnet::Ipv4Net| {
        let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
        let i = ivs.partition_point(|&(_, b)| b < lo);
        ivs.get(i).is_some_and(|&(a, _)| a <= hi)
    };
    let mut vsw: Vec<Cidr> = m
        .vswitches
        .iter()
        .take(if inside { 0 } else { usize::MAX })
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

/// The security group a drop is the group's doing (SPEC "One finding per cause"): the
/// group holding the drop rule, or, for the default deny, the instance's first group
/// (where the fix adds its accept). None for an instance without groups.
pub fn deciding_group(m: &Model, instance: usize, rule: Option<(usize, usize)>) -> Option<usize> {
    rule.map(|(g, _)| g)
        .or_else(|| m.instances[instance].security_groups.first().copied())
}

pub(super) fn list(c: &[Cidr]) -> String {
    crate::net::addr::join_cidrs(c)
}

/// How many prefixes a message names before "and N more" (the finding's `source`,
/// `destination` and `parts` list them all).
const NAMED_IN_MESSAGE: usize = 6;

/// A list of prefixes for a message: the first few, and how many more there are.
pub(super) fn list_short(c: &[Cidr]) -> String {
    if c.len() <= NAMED_IN_MESSAGE {
        return list(c);
    }
    format!(
        "{} and {} more prefixes",
        list(&c[..NAMED_IN_MESSAGE]),
        c.len() - NAMED_IN_MESSAGE
    )
}

/// What a reply finding adds to its message: which flows the lost replies belong to
/// (their first prefixes, as the message names them; `source` and `destination` list
/// them all).
pub fn flows_started(dir: FlowDirection, src: &AddrSet, dst: &AddrSet) -> String {
    format!(
        " (flows started {} from {} to {})",
        dir.arrow(),
        list_short(&src.cidrs()),
        list_short(&dst.cidrs())
    )
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
            Cause::MartianSource { .. } => Code::MartianSource,
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
            | Cause::LeftNetwork { reply, .. }
            | Cause::Loop { reply, .. } => *reply,
            Cause::SessionMiss { .. } => true,
            _ => false,
        }
    }

    /// The device where it happens (SPEC: the deciding security group for security groups, route table for
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
            Cause::SgDrop { instance, rule, .. } => match deciding_group(m, *instance, *rule) {
                Some(g) => m.security_groups[g].id.clone(),
                None => m.instances[*instance].id.clone(),
            },
            Cause::FilterDrop { dev, .. }
            | Cause::SessionMiss { dev }
            | Cause::DeviceNoRoute { dev, .. }
            | Cause::ForwardingDisabled { dev }
            | Cause::RpFilter { dev, .. }
            | Cause::MartianSource { dev, .. }
            | Cause::NatBreaksIpsec { dev, .. }
            | Cause::LeftInClear { dev, .. }
            | Cause::LeftNetwork { dev, .. } => m.devices[*dev].id.clone(),
            // The loop's first on-prem route's device (where the packet entered it), else
            // its first place.
            Cause::Loop { places, routes, .. } => routes
                .first()
                .map(|r| m.devices[r.dev].id.clone())
                .or_else(|| places.first().map(|p| idc_route::place_name(m, *p)))
                .unwrap_or_else(|| "(unknown)".to_string()),
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
            Cause::Loop { routes, .. } => routes
                .first()
                .and_then(|r| crate::model::rules::route_choice(&m.devices[r.dev], r.choice))
                .map(|c| c.id),
            _ => None,
        }
    }

    /// Where the rule or route that [`Cause::rule`] names was read from (an imported
    /// topology's `origin`); for a filter chain's default, the chain's policy line.
    pub fn origin(&self, m: &Model) -> Option<String> {
        let o = match self {
            Cause::VrouterRouteElsewhere { table, entry, .. } => {
                m.route_tables[*table].entries[*entry].origin.clone()
            }
            Cause::VrouterNoRoute { .. } => self
                .unpublished(m)
                .and_then(|(g, r)| m.vpn_gateways[g].destination_routes[r].origin.clone()),
            Cause::SgDrop {
                rule: Some((g, r)), ..
            } => m.security_groups[*g].rules[*r].origin.clone(),
            Cause::FilterDrop {
                dev, chain, rule, ..
            } => {
                let c = m.devices[*dev].filter.as_ref()?.chain(*chain)?;
                match rule {
                    Some(r) => c.rules.get(*r)?.origin.clone(),
                    None => c.origin.clone(),
                }
            }
            Cause::NatBreaksIpsec { dev, nat, .. } => m.devices[*dev].nat[*nat].origin.clone(),
            Cause::LeftInClear { dev, route, .. } | Cause::LeftNetwork { dev, route, .. } => m
                .devices[*dev]
                .routes
                .iter()
                .find(|r| &r.id == route)?
                .origin
                .clone(),
            Cause::Loop { routes, .. } => {
                // Route choices list the connected subnets, then the listed routes.
                let r = routes.first()?;
                let d = &m.devices[r.dev];
                d.routes
                    .get(r.choice.checked_sub(d.interfaces.len())?)?
                    .origin
                    .clone()
            }
            _ => None,
        };
        o.map(|o| o.to_string())
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

    /// A default deny (security groups, a filter chain's default) of traffic between
    /// addresses the same groups or chain accept other services between: a port policy,
    /// not a broken VPN. Asked of the deciding object alone (never of other findings).
    pub fn looks_like_port_policy(&self, m: &Model, t: &Traffic) -> bool {
        match self {
            Cause::SgDrop {
                instance,
                direction,
                rule: None,
                reply: false,
            } => security_group::allows_other_services(m, *instance, *direction, t),
            Cause::FilterDrop {
                dev,
                chain,
                rule: None,
                reply: false,
                ..
            } => idc_filter::allows_other_services(m, *dev, *chain, t),
            _ => false,
        }
    }

    /// Render as a finding for `traffic`, the flow initiated in `dir`: what every
    /// finding shares here, the family's message and fix from its module.
    pub fn finding(&self, m: &Model, dir: Option<FlowDirection>, t: &Traffic) -> Finding {
        let cx = Ctx::new(m, self.is_reply(), dir, t);
        let detail = match self {
            Cause::VrouterNoRoute {
                table, vpn_route, ..
            } => vrouter::no_route(&cx, *table, *vpn_route, self.unpublished(m)),
            Cause::VrouterRouteElsewhere { table, entry, .. } => {
                vrouter::route_elsewhere(&cx, *table, *entry)
            }
            Cause::VpnGatewayNoRoute { vgw, .. } => vrouter::gateway_no_route(&cx, *vgw),
            Cause::NotEstablished { conn } => sa::not_established(&cx, *conn),
            Cause::SaMissing {
                conn,
                side,
                inbound,
                ..
            } => sa::not_covering(&cx, *conn, *side, *inbound),
            Cause::NoIdcEndpoint { conn } => sa::endpoint_missing(&cx, *conn),
            Cause::SgDrop {
                instance,
                direction,
                rule,
                ..
            } => security_group::drop(&cx, *instance, *direction, *rule, self.rule(m)),
            Cause::FilterDrop {
                dev,
                chain,
                rule,
                stateless,
                ..
            } => idc_filter::drop(&cx, *dev, *chain, *rule, *stateless),
            Cause::SessionMiss { dev } => idc_filter::session_miss(&cx, *dev),
            Cause::ForwardingDisabled { dev } => idc_filter::forwarding_disabled(&cx, *dev),
            Cause::RpFilter { dev, iface } => idc_filter::rp_filter(&cx, *dev, *iface),
            Cause::MartianSource { dev, iface } => idc_route::martian_source(&cx, *dev, *iface),
            Cause::DeviceNoRoute { dev, .. } => idc_route::no_route(&cx, *dev),
            Cause::LeftInClear {
                dev,
                route,
                outside,
                ..
            } => idc_route::not_to_tunnel(&cx, *dev, route, *outside),
            Cause::LeftNetwork { dev, route, .. } => idc_route::left_network(&cx, *dev, route),
            Cause::Loop { places, routes, .. } => idc_route::routing_loop(&cx, places, routes),
            Cause::NatBreaksIpsec { dev, nat, conn, .. } => {
                nat::breaks_ipsec(&cx, *dev, *nat, *conn)
            }
        };
        let mut f = Finding::error(self.code(m), detail.faq, detail.message, detail.fix)
            .with_device(self.device(m))
            .with_rule(self.rule(m))
            .with_traffic(t.src.cidrs(), cx.dst);
        f.origin = self.origin(m);
        f.direction = dir;
        f.connection = self.connection(m, t);
        f.change = detail.change;
        f.vendor_fix = detail.vendor_fix;
        f.services = vec![t.service(cx.reply)];
        f
    }
}

/// What a family's builder reads: the model, the traffic, and how a finding names it.
pub(super) struct Ctx<'a> {
    pub m: &'a Model,
    pub t: &'a Traffic,
    /// The faq of a path fault in this direction (3 cloud → on-prem, 4 back).
    pub faq: u8,
    /// A failure of the return path.
    pub reply: bool,
    /// `tcp/22 traffic from … to …`, or `the reply of …`.
    pub what: String,
    /// The traffic's destinations as CIDRs.
    pub dst: Vec<Cidr>,
}

impl<'a> Ctx<'a> {
    fn new(m: &'a Model, reply: bool, dir: Option<FlowDirection>, t: &'a Traffic) -> Ctx<'a> {
        let src = t.src.cidrs();
        let dst = t.dst.cidrs();
        let what = if reply {
            format!(
                "the reply of {} traffic from {} to {}",
                t.service(true),
                list_short(&src),
                list_short(&dst)
            )
        } else {
            format!(
                "{} traffic from {} to {}",
                t.service(false),
                list_short(&src),
                list_short(&dst)
            )
        };
        Ctx {
            m,
            t,
            faq: dir.unwrap_or(FlowDirection::CloudToOnprem).faq(),
            reply,
            what,
            dst,
        }
    }
    /// The configured prefixes covering the traffic's sources (see [`widen`]).
    pub fn widen_src(&self) -> Vec<Cidr> {
        widen(self.m, self.t.conn, &self.t.src)
    }
    /// The configured prefixes covering the traffic's destinations.
    pub fn widen_dst(&self) -> Vec<Cidr> {
        widen(self.m, self.t.conn, &self.t.dst)
    }
}

/// A family's part of a finding: its faq, message and fix, and the fix as a change and
/// in the device's own language.
pub(super) struct Detail {
    pub faq: u8,
    pub message: String,
    pub fix: String,
    pub change: Option<Change>,
    pub vendor_fix: Vec<String>,
}

impl Detail {
    pub fn new(faq: u8, message: impl Into<String>, fix: impl Into<String>) -> Detail {
        Detail {
            faq,
            message: message.into(),
            fix: fix.into(),
            change: None,
            vendor_fix: Vec::new(),
        }
    }
    pub fn with_change(mut self, c: Change) -> Detail {
        self.change = Some(c);
        self
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
