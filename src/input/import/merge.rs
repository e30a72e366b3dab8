//! Imported objects into one topology: `--into` replaces objects with the same id and keeps
//! hand-written ones; device IPsec entries are paired with the cloud connection they dial;
//! imported references that name nothing are removed with a warning, so the written
//! topology validates.

use std::collections::BTreeSet;

use crate::input::import::alibaba::AlibabaImport;
use crate::input::import::Warning;
use crate::input::{Cloud, Device, NextHopKind, Onprem, Topology};

/// Replaces the objects of `base` that share an id with `new` (in place), appends the rest.
fn replace<T>(base: &mut Vec<T>, new: Vec<T>, id: impl Fn(&T) -> &str) {
    for n in new {
        match base.iter().position(|b| id(b) == id(&n)) {
            Some(i) => base[i] = n,
            None => base.push(n),
        }
    }
}

/// Builds the topology. Errors when nothing describes the VPC (no DescribeVpcs and no `--into`).
pub fn merge(
    base: Option<Topology>,
    ali: Option<AlibabaImport>,
    devices: Vec<Device>,
    w: &mut Vec<Warning>,
) -> Result<Topology, String> {
    let mut t = match base {
        Some(t) => t,
        None => {
            let vpc = ali.as_ref().and_then(|a| a.vpc.clone()).ok_or(
                "nothing describes the VPC: give --alibaba DIR with DescribeVpcs.json, or --into TOPOLOGY",
            )?;
            Topology {
                format: 1,
                name: "imported".into(),
                description: None,
                cloud: Cloud {
                    vpc,
                    vswitches: Vec::new(),
                    route_tables: Vec::new(),
                    security_groups: Vec::new(),
                    instances: Vec::new(),
                    vpn_gateways: Vec::new(),
                    customer_gateways: Vec::new(),
                    ipsec_connections: Vec::new(),
                },
                onprem: Onprem::default(),
                flows: Vec::new(),
            }
        }
    };
    if let Some(a) = ali {
        let c = &mut t.cloud;
        if let Some(v) = a.vpc {
            c.vpc = v;
        }
        replace(&mut c.vswitches, a.vswitches, |x| &x.id);
        replace(&mut c.route_tables, a.route_tables, |x| &x.id);
        replace(&mut c.security_groups, a.security_groups, |x| &x.id);
        replace(&mut c.instances, a.instances, |x| &x.id);
        replace(&mut c.vpn_gateways, a.vpn_gateways, |x| &x.id);
        replace(&mut c.customer_gateways, a.customer_gateways, |x| &x.id);
        replace(&mut c.ipsec_connections, a.ipsec_connections, |x| &x.id);
    }
    replace(&mut t.onprem.devices, devices, |x| &x.id);
    prune(&mut t, w);
    pair(&mut t, w);
    Ok(t)
}

fn at(origin: &Option<String>) -> String {
    origin.clone().unwrap_or_else(|| "topology".into())
}

/// Removes imported references to objects that do not exist (each with a warning).
fn prune(t: &mut Topology, w: &mut Vec<Warning>) {
    let c = &mut t.cloud;
    let tables: BTreeSet<String> = c.route_tables.iter().map(|x| x.id.clone()).collect();
    for v in c.vswitches.iter_mut().filter(|v| v.origin.is_some()) {
        if let Some(rt) = v.route_table.as_ref().filter(|rt| !tables.contains(*rt)) {
            w.push(Warning::new(at(&v.origin), format!("vSwitch {} names route table {rt}, which no export lists: it is imported using the system table", v.id)));
            v.route_table = None;
        }
    }
    let vsws: BTreeSet<String> = c.vswitches.iter().map(|x| x.id.clone()).collect();
    let sgs: BTreeSet<String> = c.security_groups.iter().map(|x| x.id.clone()).collect();
    c.instances.retain(|i| {
        let keep = i.origin.is_none() || vsws.contains(&i.vswitch);
        if !keep {
            w.push(Warning::new(
                at(&i.origin),
                format!(
                    "instance {} is in vSwitch {}, which no export lists: not imported",
                    i.id, i.vswitch
                ),
            ));
        }
        keep
    });
    for i in c.instances.iter_mut().filter(|i| i.origin.is_some()) {
        let (o, id) = (i.origin.clone(), i.id.clone());
        i.security_groups.retain(|g| {
            let ok = sgs.contains(g);
            if !ok {
                w.push(Warning::new(at(&o), format!("instance {id}: security group {g} has no DescribeSecurityGroupAttribute export: left out")));
            }
            ok
        });
    }
    for g in c.security_groups.iter_mut() {
        g.rules.retain(|r| {
            let ok = r.origin.is_none() || r.peer_group.as_ref().is_none_or(|p| sgs.contains(p));
            if !ok {
                w.push(Warning::new(
                    at(&r.origin),
                    format!(
                        "peer group {} is not exported: rule not imported",
                        r.peer_group.as_deref().unwrap_or("")
                    ),
                ));
            }
            ok
        });
    }
    let gws: BTreeSet<String> = c.vpn_gateways.iter().map(|x| x.id.clone()).collect();
    let cgws: BTreeSet<String> = c.customer_gateways.iter().map(|x| x.id.clone()).collect();
    c.ipsec_connections.retain(|x| {
        let missing = if !gws.contains(&x.vpn_gateway) {
            Some(format!("VPN gateway {}", x.vpn_gateway))
        } else if !cgws.contains(&x.customer_gateway) {
            Some(format!("customer gateway {}", x.customer_gateway))
        } else {
            None
        };
        match missing {
            Some(m) if x.origin.is_some() => {
                w.push(Warning::new(
                    at(&x.origin),
                    format!(
                        "connection {} uses {m}, which no export lists: not imported",
                        x.id
                    ),
                ));
                false
            }
            _ => true,
        }
    });
    let conns: BTreeSet<String> = c.ipsec_connections.iter().map(|x| x.id.clone()).collect();
    for g in c.vpn_gateways.iter_mut() {
        g.routes.retain(|r| {
            let ok = r.origin.is_none() || conns.contains(&r.next_hop);
            if !ok {
                w.push(Warning::new(
                    at(&r.origin),
                    format!(
                        "route to {} goes to connection {}, which no export lists: not imported",
                        r.destination, r.next_hop
                    ),
                ));
            }
            ok
        });
    }
    let insts: BTreeSet<String> = c.instances.iter().map(|x| x.id.clone()).collect();
    for tb in c.route_tables.iter_mut() {
        tb.entries.retain(|e| {
            let (known, what) = match e.next_hop.kind {
                NextHopKind::VpnGateway => (&gws, "VPN gateway"),
                NextHopKind::Instance => (&insts, "instance"),
                _ => return true,
            };
            let bad =
                e.origin.is_some() && e.next_hop.id.as_ref().is_none_or(|g| !known.contains(g));
            if bad {
                w.push(Warning::new(
                    at(&e.origin),
                    format!(
                        "route to {} goes to {what} {}, which no export lists: not imported",
                        e.destination,
                        e.next_hop.id.as_deref().unwrap_or("?")
                    ),
                ));
            }
            !bad
        });
    }
}

/// A device IPsec entry names its swanctl connection; the cloud connection it pairs with
/// is the one whose VPN gateway it dials (and, among several, whose subnets mirror its own).
fn pair(t: &mut Topology, w: &mut Vec<Warning>) {
    let cloud = &t.cloud;
    let ids: BTreeSet<&str> = cloud
        .ipsec_connections
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    for d in t.onprem.devices.iter_mut() {
        d.ipsec.retain_mut(|e| {
            if ids.contains(e.connection.as_str()) || e.origin.is_none() {
                return true;
            }
            let dials: Vec<&crate::input::IpsecConnection> = cloud
                .ipsec_connections
                .iter()
                .filter(|c| cloud.vpn_gateways.iter().any(|g| g.id == c.vpn_gateway && Some(g.public_ip) == e.peer))
                .collect();
            let mirrored: Vec<&&crate::input::IpsecConnection> = dials.iter().filter(|c| c.local_subnets == e.remote_subnets && c.remote_subnets == e.local_subnets).collect();
            let pick = match (dials.len(), mirrored.len()) {
                (1, _) => Some(dials[0]),
                (_, 1) => Some(*mirrored[0]),
                _ => None,
            };
            match pick {
                Some(c) => {
                    e.connection = c.id.clone();
                    true
                }
                None => {
                    w.push(Warning::new(at(&e.origin), format!(
                        "swanctl connection {} (peer {}) pairs with {} cloud connection(s): not imported; set `connection` by hand",
                        e.connection,
                        e.peer.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into()),
                        dials.len()
                    )));
                    false
                }
            }
        });
    }
}
