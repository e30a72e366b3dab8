//! The split plan: which new connections, the VPN-gateway and on-prem route changes,
//! the IDC entries, the notes and the order of work. [`plan`] runs the steps in order on
//! a [`Planner`], then verifies the result.

use super::configs::{idc_entry, route_api, swanctl_snippet};
use super::verify::verify;
use super::{
    device_route_key, items, route_key, suffix, AlibabaConnection, ChangeAction, DeviceRouteChange,
    IdcChange, IkeConfig, IpsecConfig, NewConnection, RouteChange, SplitError, SplitPlan,
    Verification, POLICY_ROUTE_PRIORITY, PSK_UNCHANGED,
};
use crate::analysis::salayout;
use crate::engine::trace;
use crate::findings::finding::Finding;
use crate::input::{self, VpnRouteType};
use crate::model::{self, Model};
use crate::net::addr::{join_cidrs, AddrSet, Cidr};
use crate::net::algo::IkeVersion;

/// The VPC side and IDC side subnets of one new connection.
struct Group {
    local: Vec<Cidr>,
    remote: Vec<Cidr>,
}

/// Plan the split of connection `conn_id`. `m` must be the model lowered from `topo`.
pub fn plan(topo: &input::Topology, m: &Model, conn_id: &str) -> Result<SplitPlan, SplitError> {
    let mut pl = Planner::new(topo, m, conn_id)?;
    let (split_by, groups) = pl.groups();
    pl.connections = pl.new_connections(&groups);
    let vpn_routes = pl.vpn_routes();
    let idc = pl.idc_changes();
    pl.ikev1_note();
    let labels = pl
        .connections
        .iter()
        .map(|c| c.label.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let vgw = &m.vpn_gateways[pl.conn.vpn_gateway];
    let cgw = &m.customer_gateways[pl.conn.customer_gateway];
    let phase1 = format!(
        "{labels} share one phase-1 (IKE) SA with customer gateway {} ({}), so their phase-1 \
         settings are identical to {conn_id}'s: IkeVersion, IkeMode, algorithms, DH group, \
         lifetime, LocalId, RemoteId and the same pre-shared key",
        cgw.id, cgw.ip
    );
    let why: Vec<Finding> = salayout::check(m)
        .into_iter()
        .filter(|f| f.connection.as_deref() == Some(conn_id))
        .collect();
    let steps = pl.steps(&labels, !vpn_routes.is_empty(), &idc);
    let tconn = &topo.cloud.ipsec_connections[pl.ti];
    let (locals, remotes) = (pl.locals.clone(), pl.remotes.clone());
    let mut p = SplitPlan {
        connection: conn_id.to_string(),
        vpn_gateway: vgw.id.clone(),
        customer_gateway: cgw.id.clone(),
        idc_gateway: trace::tunnel_endpoint(m, pl.ci).map(|(d, _)| m.devices[d].id.clone()),
        local_subnets: tconn.local_subnets.clone(),
        remote_subnets: tconn.remote_subnets.clone(),
        split_by,
        why,
        phase1,
        connections: pl.connections,
        vpn_routes,
        idc,
        steps,
        notes: pl.notes,
        verification: Verification {
            method: String::new(),
            pairs: Vec::new(),
        },
        verified: false,
    };
    verify(topo, m, &mut p, &locals, &remotes)?;
    Ok(p)
}

/// The plan being built: the connection split, its new connections once decided, and
/// the notes every step adds.
struct Planner<'a> {
    topo: &'a input::Topology,
    m: &'a Model,
    conn_id: &'a str,
    /// The connection's index in the model and in the topology.
    ci: usize,
    ti: usize,
    conn: &'a model::Connection,
    /// The connection's subnets, each listed once.
    locals: Vec<Cidr>,
    remotes: Vec<Cidr>,
    connections: Vec<NewConnection>,
    notes: Vec<String>,
}

impl<'a> Planner<'a> {
    /// Find the connection; refuse an unknown one and one with a single subnet pair.
    fn new(
        topo: &'a input::Topology,
        m: &'a Model,
        conn_id: &'a str,
    ) -> Result<Planner<'a>, SplitError> {
        let ci = m
            .connections
            .iter()
            .position(|c| c.id == conn_id)
            .ok_or_else(|| SplitError::UnknownConnection {
                id: conn_id.to_string(),
                known: m.connections.iter().map(|c| c.id.clone()).collect(),
            })?;
        let ti = topo
            .cloud
            .ipsec_connections
            .iter()
            .position(|c| c.id == conn_id)
            .ok_or_else(|| SplitError::NotInTopology {
                id: conn_id.to_string(),
            })?;
        let conn = &m.connections[ci];
        let locals = salayout::dedup(&conn.local_subnets);
        let remotes = salayout::dedup(&conn.remote_subnets);
        if locals.len() * remotes.len() < 2 {
            return Err(SplitError::NothingToSplit {
                id: conn_id.to_string(),
                locals,
                remotes,
            });
        }
        Ok(Planner {
            topo,
            m,
            conn_id,
            ci,
            ti,
            conn,
            locals,
            remotes,
            connections: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// What each new connection carries one of: the remote subnets when the VPC side has
    /// one subnet, the local subnets when the IDC side has one, else every pair.
    fn groups(&self) -> (&'static str, Vec<Group>) {
        let (locals, remotes) = (&self.locals, &self.remotes);
        if locals.len() == 1 {
            let groups = remotes
                .iter()
                .map(|r| Group {
                    local: locals.clone(),
                    remote: vec![*r],
                })
                .collect();
            ("remote_subnet", groups)
        } else if remotes.len() == 1 {
            let groups = locals
                .iter()
                .map(|l| Group {
                    local: vec![*l],
                    remote: remotes.clone(),
                })
                .collect();
            ("local_subnet", groups)
        } else {
            let groups = locals
                .iter()
                .flat_map(|l| {
                    remotes.iter().map(move |r| Group {
                        local: vec![*l],
                        remote: vec![*r],
                    })
                })
                .collect();
            ("subnet_pair", groups)
        }
    }

    /// The stem of the new connections' ids: `ID-`, else `ID-split-`, `ID-split2-`, … the
    /// first that no existing connection's id takes with any of the suffixes.
    fn id_stem(&self, n: usize) -> String {
        let taken = |id: &str| self.topo.cloud.ipsec_connections.iter().any(|c| c.id == id);
        let conn_id = self.conn_id;
        let mut stem = format!("{conn_id}-");
        let mut round = 1;
        while (0..n).any(|i| taken(&format!("{stem}{}", suffix(i)))) {
            stem = if round == 1 {
                format!("{conn_id}-split-")
            } else {
                format!("{conn_id}-split{round}-")
            };
            round += 1;
        }
        stem
    }

    /// One new connection per group, labelled `A`, `B`, …, with the old connection's
    /// phase-1 and phase-2 settings (never its PSK).
    fn new_connections(&self, groups: &[Group]) -> Vec<NewConnection> {
        let conn = self.conn;
        let vgw = &self.m.vpn_gateways[conn.vpn_gateway];
        let cgw = &self.m.customer_gateways[conn.customer_gateway];
        let stem = self.id_stem(groups.len());
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
        let list = |v: &[Cidr]| {
            v.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let id = format!("{stem}{}", suffix(i));
                NewConnection {
                    label: suffix(i).to_uppercase(),
                    id: id.clone(),
                    local_subnets: g.local.clone(),
                    remote_subnets: g.remote.clone(),
                    expected_sa: input::Sa {
                        local: g.local.clone(),
                        remote: g.remote.clone(),
                    },
                    alibaba: AlibabaConnection {
                        vpn_gateway_id: vgw.id.clone(),
                        customer_gateway_id: cgw.id.clone(),
                        name: id,
                        local_subnet: list(&g.local),
                        remote_subnet: list(&g.remote),
                        ike_config: ike.clone(),
                        ipsec_config: ipsec.clone(),
                    },
                }
            })
            .collect()
    }

    /// The VPC side of new connection `k`.
    fn local_of(&self, k: usize) -> AddrSet {
        AddrSet::from_cidrs(&self.connections[k].local_subnets)
    }

    /// The IDC side of new connection `k`.
    fn remote_of(&self, k: usize) -> AddrSet {
        AddrSet::from_cidrs(&self.connections[k].remote_subnets)
    }

    /// The changes to every VPN-gateway route that leads to the old connection, each with
    /// its API calls; notes on the connection's IDC addresses no route led to.
    fn vpn_routes(&mut self) -> Vec<RouteChange> {
        let g = self.conn.vpn_gateway;
        let mut vpn_routes = Vec::new();
        let mut routed = AddrSet::new();
        let mut notes = Vec::new();
        for (i, r) in self.topo.cloud.vpn_gateways[g].routes.iter().enumerate() {
            if r.next_hop != self.conn_id {
                continue;
            }
            let rp = VpnRoutePlan::new(self, r, route_key(r, g, i));
            routed = routed.union(&rp.dst);
            vpn_routes.extend(rp.changes(&mut notes));
        }
        self.notes.extend(notes);
        let unrouted = self.conn.remote_set.minus(&routed);
        if !unrouted.is_empty() && !vpn_routes.is_empty() {
            self.notes.push(format!(
                "no VPN-gateway route sent {} into {} before the split; the plan adds none \
                 (add one if that traffic should use the VPN)",
                unrouted.display_list(),
                self.conn_id
            ));
        }
        let vgw = &self.m.vpn_gateways[g].id;
        for rc in &mut vpn_routes {
            rc.api = route_api(vgw, self.conn_id, rc);
        }
        vpn_routes
    }

    /// The changes on every on-prem device that has an `ipsec` entry for the old
    /// connection: one entry per new connection, its tunnel routes moved, and a
    /// `swanctl.conf` snippet when it runs strongSwan.
    fn idc_changes(&mut self) -> Vec<IdcChange> {
        let mut idc = Vec::new();
        let mut notes = Vec::new();
        for (d, dev) in self.topo.onprem.devices.iter().enumerate() {
            let Some(e) = dev.ipsec.iter().position(|x| x.connection == self.conn_id) else {
                continue;
            };
            let old = &dev.ipsec[e];
            self.mirror_note(dev, old, &mut notes);
            let entries: Vec<input::DeviceIpsec> = self
                .connections
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
                if r.tunnel.as_deref() == Some(self.conn_id) {
                    let key = device_route_key(r, d, i);
                    routes.extend(self.device_route_changes(dev, r, key, &mut notes));
                }
            }
            let vendor = dev.vendor.clone();
            let swan = vendor.as_deref().is_some_and(|v| {
                let v = v.to_ascii_lowercase();
                v.contains("strongswan") || v.contains("linux")
            });
            let vgw_ip = self.m.vpn_gateways[self.conn.vpn_gateway]
                .public_ip
                .to_string();
            let swanctl = swan.then(|| {
                swanctl_snippet(self.topo, d, old, self.conn_id, &self.connections, &vgw_ip)
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
        self.notes.extend(notes);
        if idc.is_empty() {
            self.notes.push(format!(
                "no on-prem device in the topology has an ipsec entry for {}: configure the \
                 IDC gateway by hand with one child SA per new connection",
                self.conn_id
            ));
        }
        idc
    }

    /// A note when device `dev`'s entry `old` is not the mirror of the cloud side.
    fn mirror_note(&self, dev: &input::Device, old: &input::DeviceIpsec, notes: &mut Vec<String>) {
        let conn = self.conn;
        let mirror_l = AddrSet::from_cidrs(&old.local_subnets) == conn.remote_set;
        let mirror_r = AddrSet::from_cidrs(&old.remote_subnets) == conn.local_set;
        if !(mirror_l && mirror_r) {
            notes.push(format!(
                "{}'s entry for {} lists {} <=> {}, not the mirror of the cloud side \
                 ({} <=> {}); its new entries mirror the new cloud connections",
                dev.id,
                self.conn_id,
                join_cidrs(&old.local_subnets),
                join_cidrs(&old.remote_subnets),
                join_cidrs(&conn.remote_subnets),
                join_cidrs(&conn.local_subnets)
            ));
        }
    }

    /// The changes to device route `r` (id `key`) into the old connection's tunnel: one
    /// route per new connection whose VPC side it covers when those parts are disjoint,
    /// else the route repointed (with a note when several connections share it).
    fn device_route_changes(
        &self,
        dev: &input::Device,
        r: &input::Route,
        key: String,
        notes: &mut Vec<String>,
    ) -> Vec<DeviceRouteChange> {
        let dst = AddrSet::from_cidrs([&r.destination]);
        let targets: Vec<usize> = (0..self.connections.len())
            .filter(|&k| !dst.intersect(&self.local_of(k)).is_empty())
            .collect();
        let parts: Vec<AddrSet> = targets
            .iter()
            .map(|&k| dst.intersect(&self.local_of(k)))
            .collect();
        let rc = |action, id: String, destination, k: usize| DeviceRouteChange {
            action,
            id,
            destination,
            tunnel: self.connections[k].id.clone(),
            from_route: key.clone(),
        };
        let mut routes = Vec::new();
        if targets.len() <= 1 || !disjoint(&parts) {
            routes.push(rc(
                ChangeAction::Repoint,
                key.clone(),
                r.destination,
                targets.first().copied().unwrap_or(0),
            ));
            if targets.len() > 1 {
                let ids: Vec<&str> = targets
                    .iter()
                    .map(|&k| self.connections[k].id.as_str())
                    .collect();
                notes.push(format!(
                    "{} route {key} ({} into the tunnel) can lead to one connection only, but \
                     {} all carry {}: the device needs source-based routing (one route per \
                     IDC subnet into its connection), which the topology cannot express",
                    dev.id,
                    r.destination,
                    ids.join(", "),
                    dst.display_list()
                ));
            }
            return routes;
        }
        let covered = parts.iter().fold(AddrSet::new(), |a, p| a.union(p));
        if dst.minus(&covered).is_empty() {
            routes.push(DeviceRouteChange {
                tunnel: self.conn_id.to_string(),
                ..rc(ChangeAction::Remove, key.clone(), r.destination, targets[0])
            });
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
                let id = numbered(&key, k, cidrs.len(), n);
                routes.push(rc(ChangeAction::Add, id, *c, k));
            }
        }
        routes
    }

    /// With IKEv1, a note that FAQ 5 first recommends IKEv2.
    fn ikev1_note(&mut self) {
        let v1 = self
            .conn
            .ike
            .version
            .as_deref()
            .and_then(|v| IkeVersion::parse(v).ok())
            == Some(IkeVersion::V1);
        if v1 {
            self.notes.push(format!(
                "{} uses IKEv1: after the split each connection negotiates its one pair in its \
                 own Quick Mode. FAQ 5 first recommends IKEv2 for several networks; if both \
                 ends support standard IKEv2 (one SA carrying every selector), switching to \
                 it keeps one connection",
                self.conn_id
            ));
        }
    }

    /// The order of work: create the connections, move the routes, change the IDC
    /// gateways, delete the old connection, check.
    fn steps(&self, labels: &str, routes: bool, idc: &[IdcChange]) -> Vec<String> {
        let conn_id = self.conn_id;
        let vgw = &self.m.vpn_gateways[self.conn.vpn_gateway];
        let cgw = &self.m.customer_gateways[self.conn.customer_gateway];
        let n = self.connections.len();
        let mut steps = Vec::new();
        steps.push(format!(
            "Alibaba Cloud: create {n} connection{} {labels} on VPN gateway {} to customer \
             gateway {}, phase-1 and phase-2 settings copied from {conn_id}",
            if n == 1 { "" } else { "s" },
            vgw.id,
            cgw.id
        ));
        if routes {
            steps.push(format!(
                "Alibaba Cloud: VPN gateway {}: add the new routes and move the routes of \
                 {conn_id} to the new connections (delete the old route, create it with the \
                 new next hop)",
                vgw.id
            ));
        }
        for c in idc {
            steps.push(format!(
                "IDC gateway {}: replace its entry for {conn_id} by one child SA per connection \
                 ({labels}) under the same IKE peer{}",
                c.device,
                if c.routes.is_empty() {
                    ""
                } else {
                    ", and move its tunnel routes"
                }
            ));
        }
        steps.push(format!(
            "Alibaba Cloud: delete connection {conn_id} once nothing routes to it; until \
             {labels} are up, traffic of {conn_id} is interrupted, so do it in a maintenance \
             window"
        ));
        steps.push(
            "Check: each connection shows \"Phase 2 of IKE Tunnel Negotiation Succeeded\" and \
             the IDC gateway lists one SA per connection (strongSwan: `swanctl --list-sas`); \
             re-run `vpntrace check` with the SAs as listed"
                .to_string(),
        );
        steps
    }
}

/// No two of `parts` intersect.
fn disjoint(parts: &[AddrSet]) -> bool {
    parts
        .iter()
        .enumerate()
        .all(|(a, x)| parts.iter().skip(a + 1).all(|y| x.intersect(y).is_empty()))
}

/// The id of the `n`th of `count` routes derived from route `key` for connection `k`:
/// `KEY-a`, or `KEY-a1`, `KEY-a2`, … when there are several.
fn numbered(key: &str, k: usize, count: usize, n: usize) -> String {
    if count == 1 {
        format!("{key}-{}", suffix(k))
    } else {
        format!("{key}-{}{}", suffix(k), n + 1)
    }
}

/// What a route change matches: its type, source (policy routes), destination and
/// priority.
#[derive(Clone, Copy)]
struct Match {
    kind: &'static str,
    source: Option<Cidr>,
    destination: Cidr,
    priority: Option<u8>,
}

/// One VPN-gateway route that leads to the old connection, and the new connections
/// whose subnets it covers (`targets`).
struct VpnRoutePlan<'p> {
    route: &'p input::VpnRoute,
    /// The route's id (its JSON path when it has none).
    key: String,
    conn_id: &'p str,
    connections: &'p [NewConnection],
    dst: AddrSet,
    src: Option<AddrSet>,
    /// `destination` or `policy`.
    kind: &'static str,
    targets: Vec<usize>,
    /// Each target's IDC side inside the route's destination.
    parts: Vec<AddrSet>,
}

impl<'p> VpnRoutePlan<'p> {
    /// The targets of route `r` among `pl`'s new connections: those whose IDC side the
    /// destination meets and (policy routes) whose VPC side the source meets.
    fn new(pl: &'p Planner, r: &'p input::VpnRoute, key: String) -> VpnRoutePlan<'p> {
        let dst = AddrSet::from_cidrs([&r.destination]);
        let src = r.source.map(|s| AddrSet::from_cidrs([&s]));
        let targets: Vec<usize> = (0..pl.connections.len())
            .filter(|&k| {
                !dst.intersect(&pl.remote_of(k)).is_empty()
                    && src
                        .as_ref()
                        .is_none_or(|s| !s.intersect(&pl.local_of(k)).is_empty())
            })
            .collect();
        let parts = targets
            .iter()
            .map(|&k| dst.intersect(&pl.remote_of(k)))
            .collect();
        VpnRoutePlan {
            route: r,
            key,
            conn_id: pl.conn_id,
            connections: &pl.connections,
            dst,
            src,
            kind: match r.kind {
                VpnRouteType::Policy => "policy",
                VpnRouteType::Destination => "destination",
            },
            targets,
            parts,
        }
    }

    /// The route's changes: repointed when it covers one connection (or none), else
    /// split per connection (policy routes by source and destination; destination routes
    /// by destination when the parts are disjoint, else by policy routes).
    fn changes(&self, notes: &mut Vec<String>) -> Vec<RouteChange> {
        if self.targets.len() <= 1 {
            return self.repoint_only(notes);
        }
        if self.route.kind == VpnRouteType::Policy {
            return self.split_policy();
        }
        if disjoint(&self.parts) {
            self.split_destination(notes)
        } else {
            self.split_overlapping(notes)
        }
    }

    /// The route as it is: its type, source, destination and (policy) priority.
    fn as_is(&self) -> Match {
        let r = self.route;
        Match {
            kind: self.kind,
            source: r.source,
            destination: r.destination,
            priority: (r.kind == VpnRouteType::Policy).then_some(r.priority),
        }
    }

    /// The route's destination alone, as a destination route without priority.
    fn destination_only(&self) -> Match {
        Match {
            kind: self.kind,
            source: None,
            destination: self.route.destination,
            priority: None,
        }
    }

    /// A change of route `id` matching `what`, leading to new connection `k`.
    fn change(&self, action: ChangeAction, id: String, what: Match, k: usize) -> RouteChange {
        RouteChange {
            action,
            id,
            kind: what.kind,
            source: what.source,
            destination: what.destination,
            next_hop: self.connections[k].id.clone(),
            priority: what.priority,
            publish_to_vpc: what.kind == "destination" && self.route.publish_to_vpc,
            from_route: self.key.clone(),
            api: Vec::new(),
        }
    }

    /// The removal of the route (its next hop stays the old connection).
    fn remove(&self, what: Match) -> RouteChange {
        RouteChange {
            next_hop: self.conn_id.to_string(),
            ..self.change(
                ChangeAction::Remove,
                self.key.clone(),
                what,
                self.targets[0],
            )
        }
    }

    /// One policy route per (source, destination) prefix to connection `k`, numbered
    /// after `base` when there are several.
    fn policy_routes(
        &self,
        base: &str,
        (srcs, dsts): (&[Cidr], &[Cidr]),
        k: usize,
        priority: Option<u8>,
    ) -> Vec<RouteChange> {
        let mut v = Vec::new();
        for s in srcs {
            for d in dsts {
                let id = if srcs.len() * dsts.len() == 1 {
                    base.to_string()
                } else {
                    format!("{base}{}", v.len() + 1)
                };
                let what = Match {
                    kind: "policy",
                    source: Some(*s),
                    destination: *d,
                    priority,
                };
                v.push(self.change(ChangeAction::Add, id, what, k));
            }
        }
        v
    }

    /// A route that covers at most one new connection is repointed to it (to the first
    /// when it covers none, with a note).
    fn repoint_only(&self, notes: &mut Vec<String>) -> Vec<RouteChange> {
        let k = self.targets.first().copied().unwrap_or(0);
        if self.targets.is_empty() {
            notes.push(format!(
                "VPN route {} ({}) covers none of the connection's subnets; it is repointed to \
                 {} so that nothing routes into the deleted connection",
                self.key, self.route.destination, self.connections[0].id
            ));
        }
        vec![self.change(ChangeAction::Repoint, self.key.clone(), self.as_is(), k)]
    }

    /// A policy route over several connections is removed and replaced by one policy
    /// route per connection and prefix, same priority.
    fn split_policy(&self) -> Vec<RouteChange> {
        let mut v = vec![self.remove(self.as_is())];
        let src = self.src.as_ref().expect("policy route");
        for &k in &self.targets {
            let srcs = src.intersect(&self.local_of(k)).cidrs();
            let dsts = self.dst.intersect(&self.remote_of(k)).cidrs();
            v.extend(self.policy_routes(
                &format!("{}-{}", self.key, suffix(k)),
                (&srcs, &dsts),
                k,
                self.as_is().priority,
            ));
        }
        v
    }

    /// A destination route whose connections' parts are disjoint: removed (or, when it
    /// also covers addresses no connection carries, repointed with a note), plus one
    /// destination route per connection and prefix.
    fn split_destination(&self, notes: &mut Vec<String>) -> Vec<RouteChange> {
        let mut v = Vec::new();
        let covered = self.parts.iter().fold(AddrSet::new(), |a, p| a.union(p));
        let rest = self.dst.minus(&covered);
        if rest.is_empty() {
            v.push(self.remove(self.destination_only()));
        } else {
            v.push(self.change(
                ChangeAction::Repoint,
                self.key.clone(),
                self.destination_only(),
                self.targets[0],
            ));
            notes.push(format!(
                "VPN route {} ({}) also covers {}, which no connection carries; it stays, \
                 repointed to {}, and the more specific routes below take the connections' \
                 subnets",
                self.key,
                self.route.destination,
                rest.display_list(),
                self.connections[self.targets[0]].id
            ));
        }
        for (j, &k) in self.targets.iter().enumerate() {
            let cidrs = self.parts[j].cidrs();
            for (n, d) in cidrs.iter().enumerate() {
                let what = Match {
                    kind: "destination",
                    source: None,
                    destination: *d,
                    priority: None,
                };
                let id = numbered(&self.key, k, cidrs.len(), n);
                v.push(self.change(ChangeAction::Add, id, what, k));
            }
        }
        v
    }

    /// Several connections carry the same IDC subnets: a destination route cannot tell
    /// them apart, policy routes (source and destination) can. The destination route
    /// stays (repointed) so that the VPC keeps its published route.
    fn split_overlapping(&self, notes: &mut Vec<String>) -> Vec<RouteChange> {
        let key = &self.key;
        let first = self.targets[0];
        let mut v = vec![self.change(
            ChangeAction::Repoint,
            key.clone(),
            self.destination_only(),
            first,
        )];
        for (j, &k) in self.targets.iter().enumerate() {
            let srcs = self.local_of(k).cidrs();
            let dsts = self.parts[j].cidrs();
            v.extend(self.policy_routes(
                &format!("{key}-pbr-{}", suffix(k)),
                (&srcs, &dsts),
                k,
                Some(POLICY_ROUTE_PRIORITY),
            ));
        }
        let labels: Vec<&str> = self
            .targets
            .iter()
            .map(|&k| self.connections[k].label.as_str())
            .collect();
        notes.push(format!(
            "{} carry the same IDC addresses inside {} (route {key}), so a destination route \
             cannot tell them apart: policy routes (priority {POLICY_ROUTE_PRIORITY}, matched \
             before destination routes) send each VPC subnet to its connection; destination \
             route {key} stays, repointed to {}, to keep the route published to the VPC",
            labels.join(", "),
            self.dst.display_list(),
            self.connections[first].id
        ));
        v
    }

    /// The VPC side of new connection `k`.
    fn local_of(&self, k: usize) -> AddrSet {
        AddrSet::from_cidrs(&self.connections[k].local_subnets)
    }

    /// The IDC side of new connection `k`.
    fn remote_of(&self, k: usize) -> AddrSet {
        AddrSet::from_cidrs(&self.connections[k].remote_subnets)
    }
}
