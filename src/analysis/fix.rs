//! Applying a finding's structured `change` to a topology (as written), so the fix can be
//! verified by re-analysis and written out with `check --write-fixed`.
//!
//! Operations (the `op` field): `add_route_entry`, `publish_vpn_route`, `add_vpn_route`,
//! `add_sg_rule`, `insert_filter_rule`, `add_device_route`, `insert_no_nat`,
//! `enable_forwarding`, `set_rp_filter`, `split_connection`. New elements get ids `vpntrace-fix-N-K`.

use serde_json::Value;

use crate::graph::index::Reindex;
use crate::input::{self, Action, Direction, NatAction};
use crate::net::addr::{Cidr, Ports, Protocol};

fn s<'a>(v: &'a Value, k: &str) -> Result<&'a str, String> {
    v[k].as_str().ok_or_else(|| format!("change lacks `{k}`"))
}

fn cidrs(v: &Value, k: &str) -> Result<Vec<Cidr>, String> {
    v[k].as_array()
        .ok_or_else(|| format!("change lacks `{k}`"))?
        .iter()
        .map(|x| {
            x.as_str()
                .ok_or("not a string".to_string())
                .and_then(|x| x.parse::<Cidr>())
        })
        .collect()
}

fn ports(v: &Value, k: &str) -> Ports {
    v[k].as_str()
        .and_then(|x| x.parse().ok())
        .unwrap_or(Ports::ANY)
}

fn protocol(v: &Value) -> Protocol {
    v["protocol"]
        .as_str()
        .and_then(|x| x.parse().ok())
        .unwrap_or(Protocol::All)
}

/// The position of the element with id `id` in `list` (`what` names it in the error).
fn find<T>(list: &[T], id: &str, what: &str, key: impl Fn(&T) -> &str) -> Result<usize, String> {
    list.iter()
        .position(|x| key(x) == id)
        .ok_or_else(|| format!("no {what} `{id}`"))
}

fn vpn_gateway<'a>(
    t: &'a mut input::Topology,
    id: &str,
) -> Result<&'a mut input::VpnGateway, String> {
    let i = find(&t.cloud.vpn_gateways, id, "VPN gateway", |x| &x.id)?;
    Ok(&mut t.cloud.vpn_gateways[i])
}

fn security_group_at(t: &input::Topology, change: &Value) -> Result<usize, String> {
    let id = s(change, "security_group")?;
    find(&t.cloud.security_groups, id, "security group", |x| &x.id)
}

fn route_table_at(t: &input::Topology, change: &Value) -> Result<usize, String> {
    let id = s(change, "route_table")?;
    find(&t.cloud.route_tables, id, "route table", |x| &x.id)
}

fn device_at(t: &input::Topology, change: &Value) -> Result<usize, String> {
    let id = s(change, "device")?;
    find(&t.onprem.devices, id, "device", |x| &x.id)
}

/// Apply one change; `n` numbers the fix for the ids of what it adds.
pub fn apply(t: &input::Topology, change: &Value, n: usize) -> Result<input::Topology, String> {
    let mut t = t.clone();
    let id = |k: usize| format!("vpntrace-fix-{n}-{k}");
    match s(change, "op")? {
        "add_route_entry" => {
            let i = route_table_at(&t, change)?;
            add_route_entries(&mut t.cloud.route_tables[i], change, n)?;
        }
        "publish_vpn_route" => {
            let g = s(change, "vpn_gateway")?;
            let r = s(change, "route")?;
            let gw = vpn_gateway(&mut t, g)?;
            // The route by its id, or by its JSON path when it has none.
            for (i, route) in gw.routes.iter_mut().enumerate() {
                if route.id.as_deref() == Some(r)
                    || (route.id.is_none() && r.ends_with(&format!(".routes[{i}]")))
                {
                    route.publish_to_vpc = true;
                }
            }
        }
        "add_vpn_route" => {
            let g = s(change, "vpn_gateway")?;
            let hop = s(change, "next_hop")?.to_string();
            let gw = vpn_gateway(&mut t, g)?;
            for (k, d) in cidrs(change, "destinations")?.into_iter().enumerate() {
                gw.routes.push(input::VpnRoute {
                    origin: None,
                    id: Some(id(k)),
                    kind: input::VpnRouteType::Destination,
                    source: None,
                    destination: d,
                    next_hop: hop.clone(),
                    priority: 1,
                    publish_to_vpc: true,
                });
            }
        }
        "add_sg_rule" => {
            let i = security_group_at(&t, change)?;
            add_sg_rule(&mut t.cloud.security_groups[i], change, n)?;
        }
        op @ ("insert_filter_rule" | "add_device_route" | "insert_no_nat" | "enable_forwarding"
        | "set_rp_filter") => {
            let i = device_at(&t, change)?;
            change_device(&mut t.onprem.devices[i], op, change, n)?;
        }
        "split_connection" => {
            // FAQ 5: one connection per subnet pair, both ends (see `split`).
            let conn = s(change, "connection")?;
            let m = crate::model::lower("(split)", &t).map_err(|e| e.to_string())?;
            let plan = crate::analysis::split::plan(&t, &m, conn)?;
            t = crate::analysis::split::apply(&t, &plan);
        }
        op => return Err(format!("unknown change `{op}`")),
    }
    Ok(t)
}

/// The one object of the model a patched change replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patched {
    SecurityGroup(usize),
    RouteTable(usize),
    Device(usize),
}

/// Apply a change that touches one security group, route table or on-prem device straight to the
/// lowered model: the object is changed as [`apply`] changes it and lowered alone, the
/// rest of the model is shared. `None` for a change of another kind (use [`apply`], then
/// lower). The [`Reindex`] says what part of the lookup index the change touches (routes,
/// filter rules, a device's forwarding).
pub fn apply_to_model(
    t: &input::Topology,
    m: &crate::model::Model,
    change: &Value,
    n: usize,
) -> Option<Result<(crate::model::Model, Reindex, Patched), String>> {
    let op = change["op"].as_str()?;
    let patchable = matches!(
        op,
        "add_sg_rule"
            | "add_route_entry"
            | "insert_filter_rule"
            | "add_device_route"
            | "insert_no_nat"
            | "enable_forwarding"
            | "set_rp_filter"
    );
    patchable.then(|| patch_model(t, m, op, change, n))
}

/// [`apply_to_model`] for a change it can patch.
fn patch_model(
    t: &input::Topology,
    m: &crate::model::Model,
    op: &str,
    change: &Value,
    n: usize,
) -> Result<(crate::model::Model, Reindex, Patched), String> {
    let lowered = |e: crate::input::error::InputError| e.to_string();
    match op {
        "add_sg_rule" => {
            let i = security_group_at(t, change)?;
            let mut grp = t.cloud.security_groups[i].clone();
            add_sg_rule(&mut grp, change, n)?;
            let fixed = m.with_security_group(i, &grp).map_err(lowered)?;
            Ok((fixed, Reindex::Keep, Patched::SecurityGroup(i)))
        }
        "add_route_entry" => {
            let i = route_table_at(t, change)?;
            let mut table = t.cloud.route_tables[i].clone();
            add_route_entries(&mut table, change, n)?;
            let fixed = m.with_route_table(i, &table).map_err(lowered)?;
            Ok((fixed, Reindex::Table(i), Patched::RouteTable(i)))
        }
        _ => {
            let i = device_at(t, change)?;
            let mut d = t.onprem.devices[i].clone();
            change_device(&mut d, op, change, n)?;
            let fixed = m.with_device(i, &d).map_err(lowered)?;
            // The index holds the filter tables, the routes and where hosts send from.
            let reindex = match op {
                "insert_filter_rule" => Reindex::DeviceFilter(i),
                "add_device_route" => Reindex::DeviceRoutes(i),
                "enable_forwarding" => Reindex::Full,
                _ => Reindex::Keep,
            };
            Ok((fixed, reindex, Patched::Device(i)))
        }
    }
}

/// Add (or replace, by destination) the entries of an `add_route_entry` change.
fn add_route_entries(
    table: &mut input::RouteTable,
    change: &Value,
    n: usize,
) -> Result<(), String> {
    let id = |k: usize| format!("vpntrace-fix-{n}-{k}");
    let hop = &change["next_hop"];
    let kind: input::NextHopKind =
        serde_json::from_value(hop["type"].clone()).map_err(|e| e.to_string())?;
    for (k, d) in cidrs(change, "destinations")?.into_iter().enumerate() {
        // Replace an entry of the same destination; else add.
        let entry = input::RouteEntry {
            origin: None,
            id: Some(id(k)),
            destination: d,
            next_hop: input::NextHop {
                kind,
                id: hop["id"].as_str().map(str::to_string),
            },
        };
        match table
            .entries
            .iter()
            .position(|e| e.destination.network() == d.network())
        {
            Some(i) => table.entries[i] = entry,
            None => table.entries.push(entry),
        }
    }
    Ok(())
}

/// Add the rules of an `add_sg_rule` change to a security group.
fn add_sg_rule(grp: &mut input::SecurityGroup, change: &Value, n: usize) -> Result<(), String> {
    let id = |k: usize| format!("vpntrace-fix-{n}-{k}");
    let direction: Direction =
        serde_json::from_value(change["direction"].clone()).map_err(|e| e.to_string())?;
    let prio = change["priority"].as_u64().unwrap_or(1).clamp(1, 100) as u8;
    for (k, p) in cidrs(change, "peers")?.into_iter().enumerate() {
        grp.rules.push(input::SgRule {
            origin: None,
            id: Some(id(k)),
            direction,
            policy: Action::Accept,
            priority: prio,
            protocol: protocol(change),
            ports: ports(change, "ports"),
            peer: Some(p),
            peer_group: None,
        });
    }
    Ok(())
}

/// Apply a change to one on-prem device (the device ops of [`apply`]).
fn change_device(d: &mut input::Device, op: &str, change: &Value, n: usize) -> Result<(), String> {
    let id = |k: usize| format!("vpntrace-fix-{n}-{k}");
    match op {
        "insert_filter_rule" => {
            let chain_name = s(change, "chain")?;
            let f = d.filter.get_or_insert_with(input::Filter::default);
            let chain = match chain_name {
                "input" => &mut f.input,
                "forward" => &mut f.forward,
                "output" => &mut f.output,
                c => return Err(format!("unknown chain `{c}`")),
            };
            let chain = chain.get_or_insert_with(input::Chain::default);
            let mut at = match change["before"].as_str() {
                Some(b) => chain
                    .rules
                    .iter()
                    .position(|r| {
                        r.id.as_deref() == Some(b)
                            || b.ends_with(&format!(
                                "rules[{}]",
                                chain
                                    .rules
                                    .iter()
                                    .position(|x| x.id.as_deref() == r.id.as_deref())
                                    .unwrap_or(usize::MAX)
                            ))
                    })
                    .unwrap_or(chain.rules.len()),
                None => chain.rules.len(),
            };
            let mut k = 0;
            for src in cidrs(change, "sources")? {
                for dst in cidrs(change, "destinations")? {
                    chain.rules.insert(
                        at,
                        input::FilterRule {
                            origin: None,
                            id: Some(id(k)),
                            action: Action::Accept,
                            source: Some(src),
                            destination: Some(dst),
                            protocol: protocol(change),
                            source_ports: ports(change, "source_ports"),
                            destination_ports: ports(change, "destination_ports"),
                            in_interface: None,
                            out_interface: None,
                        },
                    );
                    at += 1;
                    k += 1;
                }
            }
        }
        "add_device_route" => {
            let via = &change["via"];
            let mut new = Vec::new();
            for (k, dst) in cidrs(change, "destinations")?.into_iter().enumerate() {
                new.push(input::Route {
                    origin: None,
                    id: Some(id(k)),
                    destination: dst,
                    interface: via["interface"].as_str().map(str::to_string),
                    gateway: via["gateway"].as_str().and_then(|g| g.parse().ok()),
                    tunnel: via["tunnel"].as_str().map(str::to_string),
                });
            }
            if new
                .iter()
                .all(|r| r.interface.is_none() && r.gateway.is_none() && r.tunnel.is_none())
            {
                return Err("the route has no next hop".into());
            }
            // First listed wins among equal prefixes: put the fix first.
            new.append(&mut d.routes);
            d.routes = new;
        }
        "insert_no_nat" => {
            let before = s(change, "before")?;
            let at = d
                .nat
                .iter()
                .position(|r| r.id.as_deref() == Some(before))
                .unwrap_or(0);
            let out_if = d.nat.get(at).and_then(|r| r.out_interface.clone());
            let mut rules = Vec::new();
            let mut k = 0;
            for src in cidrs(change, "sources")? {
                for dst in cidrs(change, "destinations")? {
                    rules.push(input::NatRule {
                        origin: None,
                        id: Some(id(k)),
                        action: NatAction::NoNat,
                        source: Some(src),
                        destination: Some(dst),
                        protocol: Protocol::All,
                        destination_ports: Ports::ANY,
                        in_interface: None,
                        out_interface: out_if.clone(),
                        to: None,
                        to_port: None,
                    });
                    k += 1;
                }
            }
            for (i, r) in rules.into_iter().enumerate() {
                d.nat.insert(at + i, r);
            }
        }
        "enable_forwarding" => d.forwarding = Some(true),
        "set_rp_filter" => d.rp_filter = Some(input::RpFilter::Loose),
        op => return Err(format!("`{op}` does not change a device")),
    }
    Ok(())
}
