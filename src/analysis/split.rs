//! The FAQ 5 fix: split a connection that carries several subnets into one connection
//! per subnet (pair), plan the changes on both ends, and verify the plan by tracing the
//! patched topology.
//!
//! FAQ 5: when the IDC gateway negotiates one SA per subnet pair (non-standard IKEv2) or
//! IKEv1 is in use, "split the IPsec-VPN connection 172.30.96.0/19 <=> 10.0.0.0/8
//! 172.30.128.0/17 to connection A 172.30.96.0/19 <=> 10.0.0.0/8 and connection B
//! 172.30.96.0/19 <=> 172.30.128.0/17". The connections share the phase-1 (IKE) SA with
//! the customer gateway, so their phase-1 parameters must be identical.
//!
//! - [`plan`] decides the new connections (one per subnet of the side that lists several,
//!   one per pair when both sides do), their Alibaba Cloud settings (never the PSK), the
//!   VPN-gateway routes, and the IDC gateway's entries (plus a strongSwan `swanctl.conf`
//!   snippet), then verifies them.
//! - [`apply`] patches a topology: both ends, each new connection with its expected SA.
//! - [`run`] is the one-call entry point of `vpntrace split`.
//!
//! Verification traces, for every local×remote subnet pair of the old connection, the
//! topology's own `flows` that fall in the pair (else ICMP between representative
//! endpoints: the instances and hosts inside the subnets, else the first usable address
//! of the part of the subnet that exists on a vSwitch or a connected IDC subnet) in both
//! directions, before and after. The plan is `verified` only when every pair that failed
//! before works both ways afterwards and nothing that worked breaks.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;

use crate::analysis::salayout;
use crate::engine::trace::{self, Disposition, FlowQuery};
use crate::findings::finding::{Finding, FlowDirection};
use crate::input::error::InputError;
use crate::input::{self, ConnStatus, DeviceKind, VpnRouteType};
use crate::model::{self, Model};
use crate::net::addr::{join_cidrs, AddrSet, Cidr, Protocol};

/// What the PSK field of every planned configuration says instead of the key.
pub const PSK_UNCHANGED: &str = "(unchanged: same pre-shared key)";

/// Priority of the policy routes the plan adds (Alibaba's default for policy routes).
pub const POLICY_ROUTE_PRIORITY: u8 = 10;

/// The source port of traced TCP/UDP flows (as `vpntrace trace`).
const SOURCE_PORT: u16 = 40000;

#[derive(Clone, Debug, Serialize)]
pub struct SplitPlan {
    /// The connection being split.
    pub connection: String,
    pub vpn_gateway: String,
    pub customer_gateway: String,
    /// The on-prem device that terminates the connection, if modelled.
    pub idc_gateway: Option<String>,
    /// VPC side (Alibaba LocalSubnet) and IDC side (RemoteSubnet) of the old connection.
    pub local_subnets: Vec<Cidr>,
    pub remote_subnets: Vec<Cidr>,
    /// `remote_subnet`, `local_subnet` or `subnet_pair`: what each new connection carries one of.
    pub split_by: &'static str,
    /// The SA layout findings (faq 5) of the old connection: why split.
    pub why: Vec<Finding>,
    /// Why every new connection has the same phase-1 settings.
    pub phase1: String,
    pub connections: Vec<NewConnection>,
    /// Changes to the VPN gateway's routes, in the order of the routes they touch.
    pub vpn_routes: Vec<RouteChange>,
    /// Changes on each on-prem device that has an `ipsec` entry for the old connection.
    pub idc: Vec<IdcChange>,
    /// The change procedure, in order.
    pub steps: Vec<String>,
    pub notes: Vec<String>,
    pub verification: Verification,
    pub verified: bool,
}

/// One new connection, both as the topology holds it and as the Alibaba API takes it.
#[derive(Clone, Debug, Serialize)]
pub struct NewConnection {
    /// `A`, `B`, … as the FAQ names them.
    pub label: String,
    pub id: String,
    pub local_subnets: Vec<Cidr>,
    pub remote_subnets: Vec<Cidr>,
    /// The SA both ends are expected to hold (cloud orientation).
    pub expected_sa: input::Sa,
    pub alibaba: AlibabaConnection,
}

/// `CreateVpnConnection` parameters, named as the Alibaba Cloud API names them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlibabaConnection {
    pub vpn_gateway_id: String,
    pub customer_gateway_id: String,
    pub name: String,
    pub local_subnet: String,
    pub remote_subnet: String,
    pub ike_config: IkeConfig,
    pub ipsec_config: IpsecConfig,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IkeConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_enc_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_auth_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_pfs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_lifetime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// Never the key: always [`PSK_UNCHANGED`].
    pub psk: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IpsecConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipsec_enc_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipsec_auth_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipsec_pfs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipsec_lifetime: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Same route, next hop changed to a new connection.
    Repoint,
    Add,
    Remove,
}

impl ChangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Repoint => "repoint",
            ChangeAction::Add => "add",
            ChangeAction::Remove => "remove",
        }
    }
}

/// One change to a VPN-gateway route.
#[derive(Clone, Debug, Serialize)]
pub struct RouteChange {
    pub action: ChangeAction,
    /// The route's id (the JSON path when the file gives none).
    pub id: String,
    /// `destination` or `policy`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: Option<Cidr>,
    pub destination: Cidr,
    /// The connection the route leads to after the change (for `remove`: before it).
    pub next_hop: String,
    pub priority: Option<u8>,
    pub publish_to_vpc: bool,
    /// The old route this change derives from (its id).
    pub from_route: String,
    /// The same change as Alibaba Cloud API calls.
    pub api: Vec<String>,
}

/// Changes on one on-prem device.
#[derive(Clone, Debug, Serialize)]
pub struct IdcChange {
    pub device: String,
    pub vendor: Option<String>,
    /// JSON path of the `ipsec` entry replaced.
    pub replaces: String,
    /// The new `ipsec` entries, one per new connection (pre-shared key not shown).
    pub entries: Vec<input::DeviceIpsec>,
    pub routes: Vec<DeviceRouteChange>,
    /// A strongSwan `swanctl.conf` snippet, when the device runs strongSwan / Linux.
    pub swanctl: Option<String>,
}

/// A route of an on-prem device that sends traffic into the old connection (`tunnel`).
#[derive(Clone, Debug, Serialize)]
pub struct DeviceRouteChange {
    pub action: ChangeAction,
    pub id: String,
    pub destination: Cidr,
    pub tunnel: String,
    pub from_route: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// How the flows were chosen.
    pub method: String,
    pub pairs: Vec<PairCheck>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairStatus {
    /// Failed before, works both ways after.
    Fixed,
    /// Worked before and after.
    Works,
    /// Failed before and still fails.
    StillFailing,
    /// Worked before, fails after.
    Broken,
    /// Nothing in the topology holds addresses on one side: no flow to trace.
    NoEndpoints,
}

impl PairStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PairStatus::Fixed => "fixed",
            PairStatus::Works => "works",
            PairStatus::StillFailing => "still failing",
            PairStatus::Broken => "BROKEN by the split",
            PairStatus::NoEndpoints => "no endpoints to trace",
        }
    }
}

/// One local×remote subnet pair of the old connection.
#[derive(Clone, Debug, Serialize)]
pub struct PairCheck {
    /// VPC side.
    pub local: Cidr,
    /// IDC side.
    pub remote: Cidr,
    /// The new connection that carries the pair.
    pub connection: String,
    pub status: PairStatus,
    pub flows: Vec<FlowCheck>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowCheck {
    pub direction: FlowDirection,
    pub from: String,
    pub to: String,
    /// `tcp/3306`, `icmp`.
    pub service: String,
    /// `flows[i]` of the topology, or `representative`.
    pub origin: String,
    pub before: Outcome,
    pub after: Outcome,
}

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub ok: bool,
    pub forward: Disposition,
    #[serde(rename = "return")]
    pub ret: Option<Disposition>,
    pub cause: Option<CauseRef>,
}

/// The failure of a trace, as `trace` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct CauseRef {
    pub code: &'static str,
    pub faq: u8,
    pub device: Option<String>,
    pub rule: Option<String>,
    /// True when the reply failed, not the request.
    pub reply: bool,
    pub message: String,
    pub fix: String,
}

impl Outcome {
    fn of(m: &Model, t: &trace::Trace) -> Outcome {
        let (path, reply) = if !t.forward.delivered() {
            (Some(&t.forward), false)
        } else {
            (t.ret.as_ref().filter(|r| !r.delivered()), true)
        };
        let cause = path
            .and_then(|p| crate::findings::cause::path_finding(m, p))
            .map(|f| CauseRef {
                code: f.code,
                faq: f.faq,
                device: f.device,
                rule: f.rule,
                reply,
                message: f.message,
                fix: f.fix,
            });
        Outcome {
            ok: t.ok(),
            forward: t.forward.disposition,
            ret: t.ret.as_ref().map(|r| r.disposition),
            cause,
        }
    }
    /// `delivered both ways`, `dropped (SA_NOT_COVERING at vpn-1)`.
    pub fn describe(&self) -> String {
        if self.ok {
            return "delivered both ways".into();
        }
        let what = match (self.forward, self.ret) {
            (Disposition::Delivered, Some(r)) => format!("reply {}", r.as_str()),
            (Disposition::Delivered, None) => "reply not traced".into(),
            (f, _) => f.as_str().to_string(),
        };
        match &self.cause {
            Some(c) => format!(
                "{what} ({} at {}{})",
                c.code,
                c.device.as_deref().unwrap_or("-"),
                c.rule
                    .as_ref()
                    .map(|r| format!(", rule {r}"))
                    .unwrap_or_default()
            ),
            None => what,
        }
    }
}

/// The VPC side and IDC side subnets of one new connection.
type Group = (Vec<Cidr>, Vec<Cidr>);

/// `a`, `b`, … `z`, `aa`, `ab`, … (bijective base 26).
pub fn suffix(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ascii")
}

fn items(v: &Option<input::StrOrList>) -> Option<String> {
    v.as_ref().map(|x| x.items().join(","))
}

fn route_key(r: &input::VpnRoute, g: usize, i: usize) -> String {
    r.id.clone()
        .unwrap_or_else(|| format!("cloud.vpn_gateways[{g}].routes[{i}]"))
}

fn device_route_key(r: &input::Route, d: usize, i: usize) -> String {
    r.id.clone()
        .unwrap_or_else(|| format!("onprem.devices[{d}].routes[{i}]"))
}

/// Plan the split of connection `conn_id`. `m` must be the model lowered from `topo`.
pub fn plan(topo: &input::Topology, m: &Model, conn_id: &str) -> Result<SplitPlan, String> {
    let ci = m
        .connections
        .iter()
        .position(|c| c.id == conn_id)
        .ok_or_else(|| {
            let known: Vec<&str> = m.connections.iter().map(|c| c.id.as_str()).collect();
            format!(
                "no IPsec connection `{conn_id}` in cloud.ipsec_connections (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?;
    let ti = topo
        .cloud
        .ipsec_connections
        .iter()
        .position(|c| c.id == conn_id)
        .ok_or_else(|| format!("connection `{conn_id}` is in the model but not the topology"))?;
    let conn = &m.connections[ci];
    let tconn = &topo.cloud.ipsec_connections[ti];
    let locals = salayout::dedup(&conn.local_subnets);
    let remotes = salayout::dedup(&conn.remote_subnets);
    if locals.len() * remotes.len() < 2 {
        return Err(format!(
            "connection {conn_id} carries one subnet pair ({} <=> {}): there is nothing to split; see `vpntrace check` for why its traffic fails",
            join_cidrs(&locals),
            join_cidrs(&remotes)
        ));
    }
    let vgw = &m.vpn_gateways[conn.vpn_gateway];
    let cgw = &m.customer_gateways[conn.customer_gateway];

    // The new connections.
    let (split_by, groups): (&'static str, Vec<Group>) = if locals.len() == 1 {
        (
            "remote_subnet",
            remotes.iter().map(|r| (locals.clone(), vec![*r])).collect(),
        )
    } else if remotes.len() == 1 {
        (
            "local_subnet",
            locals.iter().map(|l| (vec![*l], remotes.clone())).collect(),
        )
    } else {
        (
            "subnet_pair",
            locals
                .iter()
                .flat_map(|l| remotes.iter().map(move |r| (vec![*l], vec![*r])))
                .collect(),
        )
    };
    let taken = |id: &str| topo.cloud.ipsec_connections.iter().any(|c| c.id == id);
    let mut stem = format!("{conn_id}-");
    let mut round = 1;
    while (0..groups.len()).any(|i| taken(&format!("{stem}{}", suffix(i)))) {
        stem = if round == 1 {
            format!("{conn_id}-split-")
        } else {
            format!("{conn_id}-split{round}-")
        };
        round += 1;
    }
    let ike = IkeConfig {
        ike_version: conn.ike.version.clone(),
        ike_mode: conn.ike.mode.clone(),
        ike_enc_alg: items(&conn.ike.encryption),
        ike_auth_alg: items(&conn.ike.integrity),
        ike_pfs: items(&conn.ike.dh_group),
        ike_lifetime: conn.ike.lifetime,
        local_id: conn.ike.local_id.clone(),
        remote_id: conn.ike.remote_id.clone(),
        psk: PSK_UNCHANGED.into(),
    };
    let ipsec = IpsecConfig {
        ipsec_enc_alg: items(&conn.ipsec.encryption),
        ipsec_auth_alg: items(&conn.ipsec.integrity),
        ipsec_pfs: items(&conn.ipsec.pfs),
        ipsec_lifetime: conn.ipsec.lifetime,
    };
    let connections: Vec<NewConnection> = groups
        .iter()
        .enumerate()
        .map(|(i, (l, r))| {
            let id = format!("{stem}{}", suffix(i));
            NewConnection {
                label: suffix(i).to_uppercase(),
                id: id.clone(),
                local_subnets: l.clone(),
                remote_subnets: r.clone(),
                expected_sa: input::Sa {
                    local: l.clone(),
                    remote: r.clone(),
                },
                alibaba: AlibabaConnection {
                    vpn_gateway_id: vgw.id.clone(),
                    customer_gateway_id: cgw.id.clone(),
                    name: id,
                    local_subnet: l
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    remote_subnet: r
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    ike_config: ike.clone(),
                    ipsec_config: ipsec.clone(),
                },
            }
        })
        .collect();
    let local_of = |k: usize| AddrSet::from_cidrs(&connections[k].local_subnets);
    let remote_of = |k: usize| AddrSet::from_cidrs(&connections[k].remote_subnets);
    let mut notes: Vec<String> = Vec::new();

    // VPN-gateway routes.
    let g = conn.vpn_gateway;
    let mut vpn_routes = Vec::new();
    let mut routed = AddrSet::new();
    for (i, r) in topo.cloud.vpn_gateways[g].routes.iter().enumerate() {
        if r.next_hop != conn_id {
            continue;
        }
        let key = route_key(r, g, i);
        let dst = AddrSet::from_cidrs([&r.destination]);
        routed = routed.union(&dst);
        let src = r.source.map(|s| AddrSet::from_cidrs([&s]));
        let targets: Vec<usize> = (0..connections.len())
            .filter(|&k| {
                !dst.intersect(&remote_of(k)).is_empty()
                    && src
                        .as_ref()
                        .is_none_or(|s| !s.intersect(&local_of(k)).is_empty())
            })
            .collect();
        let kind = match r.kind {
            VpnRouteType::Policy => "policy",
            VpnRouteType::Destination => "destination",
        };
        let change =
            |action, id: String, kind, source, destination, k: usize, priority| RouteChange {
                action,
                id,
                kind,
                source,
                destination,
                next_hop: connections[k].id.clone(),
                priority,
                publish_to_vpc: if kind == "destination" {
                    r.publish_to_vpc
                } else {
                    false
                },
                from_route: key.clone(),
                api: Vec::new(),
            };
        // One policy route per (source, destination) prefix, numbered when there are several.
        let policy_routes =
            |base: &str, srcs: &[Cidr], dsts: &[Cidr], k: usize, priority: Option<u8>| {
                let mut v = Vec::new();
                for s in srcs {
                    for d in dsts {
                        let id = if srcs.len() * dsts.len() == 1 {
                            base.to_string()
                        } else {
                            format!("{base}{}", v.len() + 1)
                        };
                        v.push(change(
                            ChangeAction::Add,
                            id,
                            "policy",
                            Some(*s),
                            *d,
                            k,
                            priority,
                        ));
                    }
                }
                v
            };
        let prio = (r.kind == VpnRouteType::Policy).then_some(r.priority);
        if targets.len() <= 1 {
            let k = targets.first().copied().unwrap_or(0);
            if targets.is_empty() {
                notes.push(format!(
                    "VPN route {key} ({}) covers none of the connection's subnets; it is repointed to {} so that nothing routes into the deleted connection",
                    r.destination, connections[0].id
                ));
            }
            vpn_routes.push(change(
                ChangeAction::Repoint,
                key.clone(),
                kind,
                r.source,
                r.destination,
                k,
                prio,
            ));
            continue;
        }
        if r.kind == VpnRouteType::Policy {
            vpn_routes.push(RouteChange {
                next_hop: conn_id.to_string(),
                ..change(
                    ChangeAction::Remove,
                    key.clone(),
                    kind,
                    r.source,
                    r.destination,
                    targets[0],
                    prio,
                )
            });
            for &k in &targets {
                let srcs = src
                    .as_ref()
                    .expect("policy route")
                    .intersect(&local_of(k))
                    .cidrs();
                let dsts = dst.intersect(&remote_of(k)).cidrs();
                vpn_routes.extend(policy_routes(
                    &format!("{key}-{}", suffix(k)),
                    &srcs,
                    &dsts,
                    k,
                    prio,
                ));
            }
            continue;
        }
        let parts: Vec<AddrSet> = targets
            .iter()
            .map(|&k| dst.intersect(&remote_of(k)))
            .collect();
        let disjoint = parts
            .iter()
            .enumerate()
            .all(|(a, x)| parts.iter().skip(a + 1).all(|y| x.intersect(y).is_empty()));
        if disjoint {
            let covered = parts.iter().fold(AddrSet::new(), |a, p| a.union(p));
            let rest = dst.minus(&covered);
            if rest.is_empty() {
                vpn_routes.push(RouteChange {
                    next_hop: conn_id.to_string(),
                    ..change(
                        ChangeAction::Remove,
                        key.clone(),
                        kind,
                        None,
                        r.destination,
                        targets[0],
                        None,
                    )
                });
            } else {
                vpn_routes.push(change(
                    ChangeAction::Repoint,
                    key.clone(),
                    kind,
                    None,
                    r.destination,
                    targets[0],
                    None,
                ));
                notes.push(format!(
                    "VPN route {key} ({}) also covers {}, which no connection carries; it stays, repointed to {}, and the more specific routes below take the connections' subnets",
                    r.destination,
                    rest.display_list(),
                    connections[targets[0]].id
                ));
            }
            for (j, &k) in targets.iter().enumerate() {
                let cidrs = parts[j].cidrs();
                for (n, d) in cidrs.iter().enumerate() {
                    let id = if cidrs.len() == 1 {
                        format!("{key}-{}", suffix(k))
                    } else {
                        format!("{key}-{}{}", suffix(k), n + 1)
                    };
                    vpn_routes.push(change(
                        ChangeAction::Add,
                        id,
                        "destination",
                        None,
                        *d,
                        k,
                        None,
                    ));
                }
            }
        } else {
            // Several connections carry the same IDC subnets: a destination route cannot
            // tell them apart, policy routes (source and destination) can. The destination
            // route stays (repointed) so that the VPC keeps its published route.
            vpn_routes.push(change(
                ChangeAction::Repoint,
                key.clone(),
                kind,
                None,
                r.destination,
                targets[0],
                None,
            ));
            for (j, &k) in targets.iter().enumerate() {
                let srcs = local_of(k).cidrs();
                let dsts = parts[j].cidrs();
                vpn_routes.extend(policy_routes(
                    &format!("{key}-pbr-{}", suffix(k)),
                    &srcs,
                    &dsts,
                    k,
                    Some(POLICY_ROUTE_PRIORITY),
                ));
            }
            notes.push(format!(
                "{} carry the same IDC addresses inside {} (route {key}), so a destination route cannot tell them apart: policy routes (priority {POLICY_ROUTE_PRIORITY}, matched before destination routes) send each VPC subnet to its connection; destination route {key} stays, repointed to {}, to keep the route published to the VPC",
                targets.iter().map(|&k| connections[k].label.as_str()).collect::<Vec<_>>().join(", "),
                dst.display_list(),
                connections[targets[0]].id
            ));
        }
    }
    let unrouted = conn.remote_set.minus(&routed);
    if !unrouted.is_empty() && !vpn_routes.is_empty() {
        notes.push(format!(
            "no VPN-gateway route sent {} into {conn_id} before the split; the plan adds none (add one if that traffic should use the VPN)",
            unrouted.display_list()
        ));
    }
    for rc in &mut vpn_routes {
        rc.api = route_api(&vgw.id, conn_id, rc);
    }

    // On-prem devices.
    let mut idc = Vec::new();
    let idc_gateway = trace::tunnel_endpoint(m, ci).map(|(d, _)| m.devices[d].id.clone());
    for (d, dev) in topo.onprem.devices.iter().enumerate() {
        let Some(e) = dev.ipsec.iter().position(|x| x.connection == conn_id) else {
            continue;
        };
        let old = &dev.ipsec[e];
        let mirror_l = AddrSet::from_cidrs(&old.local_subnets) == conn.remote_set;
        let mirror_r = AddrSet::from_cidrs(&old.remote_subnets) == conn.local_set;
        if !(mirror_l && mirror_r) {
            notes.push(format!(
                "{}'s entry for {conn_id} lists {} <=> {}, not the mirror of the cloud side ({} <=> {}); its new entries mirror the new cloud connections",
                dev.id,
                join_cidrs(&old.local_subnets),
                join_cidrs(&old.remote_subnets),
                join_cidrs(&conn.remote_subnets),
                join_cidrs(&conn.local_subnets)
            ));
        }
        let entries: Vec<input::DeviceIpsec> = connections
            .iter()
            .map(|c| {
                let mut x = idc_entry(old, c);
                if x.ike.psk.is_some() {
                    x.ike.psk = Some(PSK_UNCHANGED.into());
                }
                x
            })
            .collect();
        let mut routes = Vec::new();
        for (i, r) in dev.routes.iter().enumerate() {
            if r.tunnel.as_deref() != Some(conn_id) {
                continue;
            }
            let key = device_route_key(r, d, i);
            let dst = AddrSet::from_cidrs([&r.destination]);
            let targets: Vec<usize> = (0..connections.len())
                .filter(|&k| !dst.intersect(&local_of(k)).is_empty())
                .collect();
            let parts: Vec<AddrSet> = targets
                .iter()
                .map(|&k| dst.intersect(&local_of(k)))
                .collect();
            let disjoint = parts
                .iter()
                .enumerate()
                .all(|(a, x)| parts.iter().skip(a + 1).all(|y| x.intersect(y).is_empty()));
            let rc = |action, id: String, destination, k: usize| DeviceRouteChange {
                action,
                id,
                destination,
                tunnel: connections[k].id.clone(),
                from_route: key.clone(),
            };
            if targets.len() <= 1 || !disjoint {
                routes.push(rc(
                    ChangeAction::Repoint,
                    key.clone(),
                    r.destination,
                    targets.first().copied().unwrap_or(0),
                ));
                if targets.len() > 1 {
                    notes.push(format!(
                        "{} route {key} ({} into the tunnel) can lead to one connection only, but {} all carry {}: the device needs source-based routing (one route per IDC subnet into its connection), which the topology cannot express",
                        dev.id,
                        r.destination,
                        targets.iter().map(|&k| connections[k].id.as_str()).collect::<Vec<_>>().join(", "),
                        dst.display_list()
                    ));
                }
                continue;
            }
            let covered = parts.iter().fold(AddrSet::new(), |a, p| a.union(p));
            if dst.minus(&covered).is_empty() {
                routes.push(rc(
                    ChangeAction::Remove,
                    key.clone(),
                    r.destination,
                    targets[0],
                ));
                routes.last_mut().expect("pushed").tunnel = conn_id.to_string();
            } else {
                routes.push(rc(
                    ChangeAction::Repoint,
                    key.clone(),
                    r.destination,
                    targets[0],
                ));
            }
            for (j, &k) in targets.iter().enumerate() {
                let cidrs = parts[j].cidrs();
                for (n, c) in cidrs.iter().enumerate() {
                    let id = if cidrs.len() == 1 {
                        format!("{key}-{}", suffix(k))
                    } else {
                        format!("{key}-{}{}", suffix(k), n + 1)
                    };
                    routes.push(rc(ChangeAction::Add, id, *c, k));
                }
            }
        }
        let vendor = dev.vendor.clone();
        let swan = vendor.as_deref().is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("strongswan") || v.contains("linux")
        });
        let swanctl = swan.then(|| {
            swanctl_snippet(
                topo,
                d,
                old,
                conn_id,
                &connections,
                &vgw.public_ip.to_string(),
            )
        });
        idc.push(IdcChange {
            device: dev.id.clone(),
            vendor,
            replaces: format!("onprem.devices[{d}].ipsec[{e}]"),
            entries,
            routes,
            swanctl,
        });
    }
    if idc.is_empty() {
        notes.push(format!(
            "no on-prem device in the topology has an ipsec entry for {conn_id}: configure the IDC gateway by hand with one child SA per new connection"
        ));
    }

    let v1 = conn
        .ike
        .version
        .as_deref()
        .and_then(|v| crate::net::algo::IkeVersion::parse(v).ok())
        == Some(crate::net::algo::IkeVersion::V1);
    if v1 {
        notes.push(format!(
            "{conn_id} uses IKEv1: after the split each connection negotiates its one pair in its own Quick Mode. FAQ 5 first recommends IKEv2 for several networks; if both ends support standard IKEv2 (one SA carrying every selector), switching to it keeps one connection"
        ));
    }

    let labels = connections
        .iter()
        .map(|c| c.label.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let phase1 = format!(
        "{labels} share one phase-1 (IKE) SA with customer gateway {} ({}), so their phase-1 settings are identical to {conn_id}'s: IkeVersion, IkeMode, algorithms, DH group, lifetime, LocalId, RemoteId and the same pre-shared key",
        cgw.id, cgw.ip
    );
    let why: Vec<Finding> = salayout::check(m)
        .into_iter()
        .filter(|f| f.connection.as_deref() == Some(conn_id))
        .collect();

    let mut steps = Vec::new();
    steps.push(format!(
        "Alibaba Cloud: create {} connection{} {labels} on VPN gateway {} to customer gateway {}, phase-1 and phase-2 settings copied from {conn_id}",
        connections.len(),
        if connections.len() == 1 { "" } else { "s" },
        vgw.id,
        cgw.id
    ));
    if !vpn_routes.is_empty() {
        steps.push(format!(
            "Alibaba Cloud: VPN gateway {}: add the new routes and move the routes of {conn_id} to the new connections (delete the old route, create it with the new next hop)",
            vgw.id
        ));
    }
    for c in &idc {
        steps.push(format!(
            "IDC gateway {}: replace its entry for {conn_id} by one child SA per connection ({labels}) under the same IKE peer{}",
            c.device,
            if c.routes.is_empty() { String::new() } else { ", and move its tunnel routes".into() }
        ));
    }
    steps.push(format!(
        "Alibaba Cloud: delete connection {conn_id} once nothing routes to it; until {labels} are up, traffic of {conn_id} is interrupted, so do it in a maintenance window"
    ));
    steps.push(
        "Check: each connection shows \"Phase 2 of IKE Tunnel Negotiation Succeeded\" and the IDC gateway lists one SA per connection (strongSwan: `swanctl --list-sas`); re-run `vpntrace check` with the SAs as listed"
            .to_string());

    let mut p = SplitPlan {
        connection: conn_id.to_string(),
        vpn_gateway: vgw.id.clone(),
        customer_gateway: cgw.id.clone(),
        idc_gateway,
        local_subnets: tconn.local_subnets.clone(),
        remote_subnets: tconn.remote_subnets.clone(),
        split_by,
        why,
        phase1,
        connections,
        vpn_routes,
        idc,
        steps,
        notes,
        verification: Verification {
            method: String::new(),
            pairs: Vec::new(),
        },
        verified: false,
    };
    verify(topo, m, &mut p, &locals, &remotes)?;
    Ok(p)
}

/// The IDC entry for new connection `c`, from the old entry: the mirror of its subnets,
/// its one expected SA.
fn idc_entry(old: &input::DeviceIpsec, c: &NewConnection) -> input::DeviceIpsec {
    let mut x = old.clone();
    x.connection = c.id.clone();
    x.local_subnets = c.remote_subnets.clone();
    x.remote_subnets = c.local_subnets.clone();
    x.sas = Some(vec![input::Sa {
        local: c.remote_subnets.clone(),
        remote: c.local_subnets.clone(),
    }]);
    x
}

fn route_api(vgw: &str, old: &str, rc: &RouteChange) -> Vec<String> {
    let create = |rc: &RouteChange| {
        match rc.kind {
        "policy" => format!(
            "CreateVpnPbrRouteEntry VpnGatewayId={vgw} RouteSource={} RouteDest={} NextHop={} Priority={} Weight=100 PublishVpc={}",
            rc.source.map(|s| s.to_string()).unwrap_or_default(),
            rc.destination,
            rc.next_hop,
            rc.priority.unwrap_or(POLICY_ROUTE_PRIORITY),
            rc.publish_to_vpc
        ),
        _ => format!(
            "CreateVpnRouteEntry VpnGatewayId={vgw} RouteDest={} NextHop={} Weight=100 PublishVpc={}",
            rc.destination, rc.next_hop, rc.publish_to_vpc
        ),
    }
    };
    let delete = |rc: &RouteChange, hop: &str| {
        match rc.kind {
        "policy" => format!(
            "DeleteVpnPbrRouteEntry VpnGatewayId={vgw} RouteSource={} RouteDest={} NextHop={hop} Weight=100",
            rc.source.map(|s| s.to_string()).unwrap_or_default(),
            rc.destination
        ),
        _ => format!(
            "DeleteVpnRouteEntry VpnGatewayId={vgw} RouteDest={} NextHop={hop} Weight=100",
            rc.destination
        ),
    }
    };
    match rc.action {
        ChangeAction::Add => vec![create(rc)],
        // Delete first: the gateway holds one active route per destination.
        ChangeAction::Repoint => vec![delete(rc, old), create(rc)],
        ChangeAction::Remove => vec![delete(rc, old)],
    }
}

fn swan_version(v: Option<&str>) -> &'static str {
    match v.and_then(|v| crate::net::algo::IkeVersion::parse(v).ok()) {
        Some(crate::net::algo::IkeVersion::V1) => "1",
        Some(crate::net::algo::IkeVersion::V2) => "2",
        _ => "0",
    }
}

/// A strongSwan proposal from per-transform lists, each algorithm in its strongSwan
/// keyword (an unknown spelling is kept as written).
fn swan_proposal(
    proposals: &[String],
    enc: &Option<input::StrOrList>,
    integ: &Option<input::StrOrList>,
    dh: &Option<input::StrOrList>,
    esp: bool,
) -> String {
    if !proposals.is_empty() {
        return proposals.join(",");
    }
    let mut toks: Vec<String> = Vec::new();
    for e in enc.as_ref().map(|x| x.items()).unwrap_or_default() {
        toks.push(crate::net::algo::Encryption::parse(e).map_or(e.to_string(), |a| a.swan_name()));
    }
    for i in integ.as_ref().map(|x| x.items()).unwrap_or_default() {
        toks.push(
            crate::net::algo::Integrity::parse(i)
                .map_or(i.to_string(), |a| a.swan_name().to_string()),
        );
    }
    for d in dh.as_ref().map(|x| x.items()).unwrap_or_default() {
        if esp {
            match crate::net::algo::KeyExchange::parse(d) {
                Ok(crate::net::algo::KeyExchange::None) => {}
                Ok(crate::net::algo::KeyExchange::Group(g)) => toks.push(g.swan_name().into()),
                Err(_) => toks.push(d.to_string()),
            }
        } else {
            toks.push(
                crate::net::algo::DhGroup::parse(d)
                    .map_or(d.to_string(), |g| g.swan_name().to_string()),
            );
        }
    }
    if toks.is_empty() {
        "default".into()
    } else {
        toks.join("-")
    }
}

fn swanctl_snippet(
    topo: &input::Topology,
    d: usize,
    old: &input::DeviceIpsec,
    conn_id: &str,
    conns: &[NewConnection],
    vgw_ip: &str,
) -> String {
    let dev = &topo.onprem.devices[d];
    let local_addr = old
        .interface
        .as_ref()
        .and_then(|n| dev.interfaces.iter().find(|f| &f.name == n))
        .map(|f| f.address.addr().to_string())
        .unwrap_or_else(|| "%any".into());
    let remote_addr = old
        .peer
        .map(|p| p.addr().to_string())
        .unwrap_or_else(|| vgw_ip.to_string());
    let ike = &old.ike;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {}: one IKE connection to the VPN gateway (the phase-1 SA the new Alibaba\n# connections share) with one child SA per Alibaba connection.",
        dev.id
    );
    let _ = writeln!(s, "connections {{");
    let _ = writeln!(s, "    {conn_id} {{");
    let _ = writeln!(
        s,
        "        version = {}",
        swan_version(ike.version.as_deref())
    );
    if ike
        .mode
        .as_deref()
        .and_then(|m| crate::net::algo::IkeMode::parse(m).ok())
        == Some(crate::net::algo::IkeMode::Aggressive)
    {
        let _ = writeln!(s, "        aggressive = yes");
    }
    let _ = writeln!(s, "        local_addrs = {local_addr}");
    let _ = writeln!(s, "        remote_addrs = {remote_addr}");
    let _ = writeln!(
        s,
        "        proposals = {}",
        swan_proposal(
            &ike.proposals,
            &ike.encryption,
            &ike.integrity,
            &ike.dh_group,
            false
        )
    );
    if let Some(l) = ike.lifetime {
        let _ = writeln!(s, "        rekey_time = {l}s");
    }
    let _ = writeln!(s, "        local {{");
    let _ = writeln!(s, "            auth = psk");
    if let Some(id) = &ike.local_id {
        let _ = writeln!(s, "            id = {id}");
    }
    let _ = writeln!(s, "        }}");
    let _ = writeln!(s, "        remote {{");
    let _ = writeln!(s, "            auth = psk");
    if let Some(id) = &ike.remote_id {
        let _ = writeln!(s, "            id = {id}");
    }
    let _ = writeln!(s, "        }}");
    let _ = writeln!(s, "        children {{");
    let esp = swan_proposal(
        &old.ipsec.proposals,
        &old.ipsec.encryption,
        &old.ipsec.integrity,
        &old.ipsec.pfs,
        true,
    );
    for c in conns {
        let _ = writeln!(s, "            {} {{", c.id);
        let _ = writeln!(
            s,
            "                local_ts = {}",
            c.remote_subnets
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let _ = writeln!(
            s,
            "                remote_ts = {}",
            c.local_subnets
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let _ = writeln!(s, "                esp_proposals = {esp}");
        if let Some(l) = old.ipsec.lifetime {
            let _ = writeln!(s, "                rekey_time = {l}s");
        }
        let _ = writeln!(s, "                start_action = start");
        let _ = writeln!(s, "            }}");
    }
    let _ = writeln!(s, "        }}");
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "}}");
    let _ = writeln!(
        s,
        "# secrets: keep the existing ike secret for this peer: the same pre-shared key."
    );
    let _ = writeln!(
        s,
        "# Apply: swanctl --load-all, then swanctl --list-sas shows one SA per child."
    );
    s
}

/// Patch `topo` with `plan`: the old connection is replaced (in place) by the new ones,
/// each with its expected SA and status `ipsec_sa_established`; the VPN-gateway routes
/// and on-prem tunnel routes are moved; every on-prem `ipsec` entry for the old
/// connection is replaced by one entry per new connection (same peer, interface, phase-1
/// and phase-2 settings, pre-shared key), each with its expected SA.
pub fn apply(topo: &input::Topology, plan: &SplitPlan) -> input::Topology {
    let mut t = topo.clone();
    let old = plan.connection.as_str();

    // Connections.
    if let Some(i) = t.cloud.ipsec_connections.iter().position(|c| c.id == old) {
        let base = t.cloud.ipsec_connections.remove(i);
        for (k, c) in plan.connections.iter().enumerate() {
            let mut n = base.clone();
            n.id = c.id.clone();
            n.local_subnets = c.local_subnets.clone();
            n.remote_subnets = c.remote_subnets.clone();
            n.status = Some(ConnStatus::IpsecSaEstablished);
            n.sas = Some(vec![c.expected_sa.clone()]);
            t.cloud.ipsec_connections.insert(i + k, n);
        }
    }

    // VPN-gateway routes.
    for (g, gw) in t.cloud.vpn_gateways.iter_mut().enumerate() {
        let mut out = Vec::new();
        for (i, r) in gw.routes.iter().enumerate() {
            if r.next_hop != old {
                out.push(r.clone());
                continue;
            }
            let key = route_key(r, g, i);
            for rc in plan.vpn_routes.iter().filter(|rc| rc.from_route == key) {
                match rc.action {
                    ChangeAction::Remove => {}
                    ChangeAction::Repoint => {
                        let mut n = r.clone();
                        n.next_hop = rc.next_hop.clone();
                        out.push(n);
                    }
                    ChangeAction::Add => out.push(input::VpnRoute {
                        origin: None,
                        id: Some(rc.id.clone()),
                        kind: if rc.kind == "policy" {
                            VpnRouteType::Policy
                        } else {
                            VpnRouteType::Destination
                        },
                        source: rc.source,
                        destination: rc.destination,
                        next_hop: rc.next_hop.clone(),
                        priority: rc.priority.unwrap_or(1),
                        publish_to_vpc: rc.publish_to_vpc,
                    }),
                }
            }
        }
        gw.routes = out;
    }

    // On-prem devices.
    for (d, dev) in t.onprem.devices.iter_mut().enumerate() {
        let mut entries = Vec::new();
        for e in &dev.ipsec {
            if e.connection == old {
                entries.extend(plan.connections.iter().map(|c| idc_entry(e, c)));
            } else {
                entries.push(e.clone());
            }
        }
        dev.ipsec = entries;
        let mut routes = Vec::new();
        for (i, r) in dev.routes.iter().enumerate() {
            if r.tunnel.as_deref() != Some(old) {
                routes.push(r.clone());
                continue;
            }
            let key = device_route_key(r, d, i);
            let change = plan
                .idc
                .iter()
                .filter(|c| c.device == dev.id)
                .flat_map(|c| c.routes.iter())
                .filter(|rc| rc.from_route == key);
            for rc in change {
                match rc.action {
                    ChangeAction::Remove => {}
                    ChangeAction::Repoint => {
                        let mut n = r.clone();
                        n.tunnel = Some(rc.tunnel.clone());
                        routes.push(n);
                    }
                    ChangeAction::Add => {
                        let mut n = r.clone();
                        n.id = Some(rc.id.clone());
                        n.destination = rc.destination;
                        n.tunnel = Some(rc.tunnel.clone());
                        routes.push(n);
                    }
                }
            }
        }
        dev.routes = routes;
    }
    t
}

/// A flow to verify with.
struct Probe {
    pair: usize,
    direction: FlowDirection,
    from: String,
    to: String,
    protocol: Protocol,
    port: Option<u16>,
    origin: String,
}

fn service(p: Protocol, port: Option<u16>) -> String {
    match port {
        Some(n) if p.has_ports() => format!("{p}/{n}"),
        _ => p.to_string(),
    }
}

fn run_probe(m: &Model, idx: &crate::graph::index::Index, p: &Probe) -> Option<trace::Trace> {
    let from = trace::resolve_endpoint(m, &p.from).ok()?;
    let to = trace::resolve_endpoint(m, &p.to).ok()?;
    Some(trace::trace_with(
        m,
        idx,
        &FlowQuery {
            from,
            to,
            protocol: p.protocol,
            dst_port: p.port.unwrap_or(0),
            src_port: SOURCE_PORT,
        },
    ))
}

/// The first address of `net` usable by a host (not the network or broadcast address of
/// a /30 or larger) that no modelled device or instance holds.
fn first_free(m: &Model, net: ipnet::Ipv4Net) -> Option<Ipv4Addr> {
    let (lo, hi) = (u32::from(net.network()), u32::from(net.broadcast()));
    let (lo, hi) = if net.prefix_len() < 31 {
        (lo + 1, hi - 1)
    } else {
        (lo, hi)
    };
    (lo..=hi)
        .take(4096)
        .map(Ipv4Addr::from)
        .find(|a| !m.devices.iter().any(|d| d.owns(*a)) && !m.instances.iter().any(|i| i.ip == *a))
}

/// The smaller of two prefixes when one holds the other.
fn inner(a: ipnet::Ipv4Net, b: ipnet::Ipv4Net) -> Option<ipnet::Ipv4Net> {
    if a.contains(&b) {
        Some(b)
    } else if b.contains(&a) {
        Some(a)
    } else {
        None
    }
}

/// Representative cloud endpoints in `c`: the first instance of each vSwitch inside it,
/// else the first free address of the first vSwitch part inside it.
fn cloud_reps(m: &Model, c: Cidr) -> Vec<String> {
    let mut v = Vec::new();
    let mut first_part = None;
    for (s, vs) in m.vswitches.iter().enumerate() {
        let Some(part) = inner(vs.cidr, c.network()) else {
            continue;
        };
        first_part.get_or_insert(part);
        if let Some(i) = m
            .instances
            .iter()
            .find(|i| i.vswitch == s && part.contains(&i.ip))
        {
            v.push(i.id.clone());
        }
    }
    if v.is_empty() {
        if let Some(a) = first_part.and_then(|p| first_free(m, p)) {
            v.push(a.to_string());
        }
    }
    v
}

/// Representative IDC endpoints in `c`: the first host of each connected subnet inside
/// it, else the first free address of the first connected subnet part inside it.
fn idc_reps(m: &Model, c: Cidr) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let mut nets: Vec<ipnet::Ipv4Net> = Vec::new();
    for d in m.devices.iter() {
        if d.kind != DeviceKind::Host {
            continue;
        }
        for f in &d.interfaces {
            if c.contains(f.addr) && !nets.contains(&f.net) {
                nets.push(f.net);
                v.push(d.id.clone());
            }
        }
    }
    if v.is_empty() {
        let part = m
            .devices
            .iter()
            .flat_map(|d| d.interfaces.iter())
            .find_map(|f| inner(f.net, c.network()));
        if let Some(a) = part.and_then(|p| first_free(m, p)) {
            v.push(a.to_string());
        }
    }
    v
}

fn verify(
    topo: &input::Topology,
    m: &Model,
    p: &mut SplitPlan,
    locals: &[Cidr],
    remotes: &[Cidr],
) -> Result<(), String> {
    let patched = apply(topo, p);
    let after = model::lower("(patched topology)", &patched)
        .map_err(|e| format!("internal error: the patched topology does not load: {e}"))?;
    // One lookup index per model for every probe.
    let (idx_before, idx_after) = (
        crate::graph::index::Index::build(m),
        crate::graph::index::Index::build(&after),
    );

    let pairs: Vec<(Cidr, Cidr)> = locals
        .iter()
        .flat_map(|l| remotes.iter().map(move |r| (*l, *r)))
        .collect();
    // The topology's own flows, assigned to the pair and direction they fall in.
    let mut probes: Vec<Probe> = Vec::new();
    for (i, f) in topo.flows.iter().enumerate() {
        let protocol = f.protocol.unwrap_or(if f.port.is_some() {
            Protocol::Tcp
        } else {
            Protocol::Icmp
        });
        if protocol == Protocol::All || (protocol.has_ports() && f.port.is_none()) {
            continue;
        }
        let mut probe = Probe {
            pair: 0,
            direction: FlowDirection::CloudToOnprem,
            from: f.from.clone(),
            to: f.to.clone(),
            protocol,
            port: f.port,
            origin: format!("flows[{i}]"),
        };
        let Some(t) = run_probe(m, &idx_before, &probe) else {
            continue;
        };
        let (s, d) = (t.flow.packet.src, t.flow.packet.dst);
        let hit = pairs.iter().enumerate().find_map(|(k, (l, r))| {
            if l.contains(s) && r.contains(d) {
                Some((k, FlowDirection::CloudToOnprem))
            } else if r.contains(s) && l.contains(d) {
                Some((k, FlowDirection::OnpremToCloud))
            } else {
                None
            }
        });
        if let Some((k, dir)) = hit {
            probe.pair = k;
            probe.direction = dir;
            probes.push(probe);
        }
    }
    // Representative ICMP where the topology names no flow.
    for (k, (l, r)) in pairs.iter().enumerate() {
        let cl = cloud_reps(m, *l);
        let ic = idc_reps(m, *r);
        for dir in [FlowDirection::CloudToOnprem, FlowDirection::OnpremToCloud] {
            if probes.iter().any(|x| x.pair == k && x.direction == dir) {
                continue;
            }
            let (srcs, dsts) = match dir {
                FlowDirection::CloudToOnprem => (&cl, &ic),
                FlowDirection::OnpremToCloud => (&ic, &cl),
            };
            for a in srcs {
                for b in dsts {
                    probes.push(Probe {
                        pair: k,
                        direction: dir,
                        from: a.clone(),
                        to: b.clone(),
                        protocol: Protocol::Icmp,
                        port: None,
                        origin: "representative".into(),
                    });
                }
            }
        }
    }
    probes.sort_by_key(|x| (x.pair, x.direction));

    let mut out = Vec::new();
    for (k, (l, r)) in pairs.iter().enumerate() {
        let lset = AddrSet::from_cidrs([l]);
        let rset = AddrSet::from_cidrs([r]);
        let carrier = p
            .connections
            .iter()
            .find(|c| {
                lset.is_subset(&AddrSet::from_cidrs(&c.local_subnets))
                    && rset.is_subset(&AddrSet::from_cidrs(&c.remote_subnets))
            })
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let mut flows = Vec::new();
        for pr in probes.iter().filter(|x| x.pair == k) {
            let (Some(b), Some(a)) = (
                run_probe(m, &idx_before, pr),
                run_probe(&after, &idx_after, pr),
            ) else {
                continue;
            };
            let name = |mm: &Model, s: &str, addr: Ipv4Addr| {
                if trace::resolve_endpoint(mm, s).is_ok() && s.parse::<Ipv4Addr>().is_err() {
                    format!("{s} ({addr})")
                } else {
                    s.to_string()
                }
            };
            flows.push(FlowCheck {
                direction: pr.direction,
                from: name(m, &pr.from, b.flow.packet.src),
                to: name(m, &pr.to, b.flow.packet.dst),
                service: service(pr.protocol, pr.port),
                origin: pr.origin.clone(),
                before: Outcome::of(m, &b),
                after: Outcome::of(&after, &a),
            });
        }
        let status = if flows.is_empty() {
            PairStatus::NoEndpoints
        } else {
            let before = flows.iter().all(|f| f.before.ok);
            let after = flows.iter().all(|f| f.after.ok);
            let broke = flows.iter().any(|f| f.before.ok && !f.after.ok);
            match (before, after) {
                (_, true) if before => PairStatus::Works,
                (_, true) => PairStatus::Fixed,
                _ if broke && before => PairStatus::Broken,
                _ if broke => PairStatus::StillFailing,
                (true, false) => PairStatus::Broken,
                (false, false) => PairStatus::StillFailing,
            }
        };
        out.push(PairCheck {
            local: *l,
            remote: *r,
            connection: carrier,
            status,
            flows,
        });
    }
    let any_flow = out.iter().any(|x| !x.flows.is_empty());
    let broke = out
        .iter()
        .flat_map(|x| x.flows.iter())
        .any(|f| f.before.ok && !f.after.ok);
    p.verified = any_flow
        && !broke
        && out.iter().all(|x| {
            matches!(
                x.status,
                PairStatus::Fixed | PairStatus::Works | PairStatus::NoEndpoints
            )
        });
    for x in out.iter().filter(|x| x.status == PairStatus::NoEndpoints) {
        p.notes.push(format!(
            "nothing in the topology holds addresses on both sides of {} ⇄ {}: the pair is not traced",
            x.local, x.remote
        ));
    }
    if !any_flow {
        p.notes
            .push("no flow of the connection could be traced: the plan is not verified".into());
    }
    p.verification = Verification {
        method: "the patched topology (both ends changed as planned, each new connection with its expected SA) is traced for every VPC×IDC subnet pair of the old connection, both ways, before and after: the topology's flows that fall in the pair, else ICMP between representative endpoints (the instances and hosts inside the subnets, else the first free address of the part of the subnet that exists)".into(),
        pairs: out,
    };
    Ok(())
}

/// What `vpntrace split` returns: the plan, the patched topology, and whether the
/// command succeeds (exit 0: the plan is verified; 1: it is not).
#[derive(Clone, Debug)]
pub struct SplitRun {
    pub plan: SplitPlan,
    pub patched: input::Topology,
    pub exit_ok: bool,
}

/// `vpntrace split TOPOLOGY --connection ID [--write OUT]` in one call: load, plan,
/// verify, and write the patched topology (pretty JSON) when `write` is given. Every
/// error (unreadable or invalid topology, unknown connection, a connection with one
/// subnet pair, an unwritable OUT) is an [`InputError`] naming the file: exit status 2.
pub fn run(topo_path: &Path, conn: &str, write: Option<&Path>) -> Result<SplitRun, InputError> {
    let name = topo_path.display().to_string();
    // `load` gives the size and UTF-8 checks and validates; the parse is repeated to
    // keep the topology as written.
    model::load(topo_path)?;
    let text = std::fs::read_to_string(topo_path)
        .map_err(|e| InputError::new(&name, "", format!("cannot read the topology file: {e}")))?;
    let topo = model::parse(&name, &text)?;
    run_topology(&topo, &name, conn, write)
}

/// As [`run`], for a topology already parsed (and perhaps patched, e.g. by
/// [`crate::analysis::salayout::idc_sas_arg`]); `file` names it in errors.
pub fn run_topology(
    topo: &input::Topology,
    file: &str,
    conn: &str,
    write: Option<&Path>,
) -> Result<SplitRun, InputError> {
    let m = model::lower(file, topo)?;
    let plan = plan(topo, &m, conn).map_err(|e| InputError::new(file, "--connection", e))?;
    let patched = apply(topo, &plan);
    if let Some(out) = write {
        let mut s = serde_json::to_string_pretty(&patched).expect("topology serialises");
        s.push('\n');
        std::fs::write(out, s).map_err(|e| {
            InputError::new(
                &out.display().to_string(),
                "",
                format!("cannot write the patched topology: {e}"),
            )
        })?;
    }
    Ok(SplitRun {
        exit_ok: plan.verified,
        plan,
        patched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_bijective_base_26() {
        assert_eq!(suffix(0), "a");
        assert_eq!(suffix(1), "b");
        assert_eq!(suffix(25), "z");
        assert_eq!(suffix(26), "aa");
        assert_eq!(suffix(27), "ab");
        assert_eq!(suffix(26 + 26 * 26), "aaa");
    }
}
