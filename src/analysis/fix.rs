//! Applying a finding's [`Change`] to a topology (as written), so the fix can be verified
//! by re-analysis and written out with `check --write-fixed`. New elements get ids
//! `vpntrace-fix-N-K`.

use std::collections::BTreeMap;
use std::fmt;

use crate::findings::change::{Change, End, Setting, SettingValue, Via};
use crate::graph::index::Reindex;
use crate::input::error::InputError;
use crate::input::{self, Action, NatAction};
use crate::model::{ChainKind, Model};
use crate::net::addr::{Cidr, Ports, Protocol};

/// Why a change does not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FixError {
    /// The change names an element the topology does not have.
    Missing { what: &'static str, id: String },
    /// The changed topology (or the changed element) does not lower.
    Lower(InputError),
    /// The connection cannot be split (see `analysis::split`).
    Split(String),
    /// A change vpntrace proposes for a person to make, not one it applies.
    NotApplied { op: &'static str },
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixError::Missing { what, id } => write!(f, "no {what} `{id}`"),
            FixError::Lower(e) => e.fmt(f),
            FixError::Split(e) => f.write_str(e),
            FixError::NotApplied { op } => write!(f, "vpntrace does not apply `{op}` itself"),
        }
    }
}

impl std::error::Error for FixError {}

impl From<InputError> for FixError {
    fn from(e: InputError) -> FixError {
        FixError::Lower(e)
    }
}

/// The id of the `k`-th element fix `n` adds.
fn new_id(n: usize, k: usize) -> String {
    format!("vpntrace-fix-{n}-{k}")
}

/// The position of the element with id `id` in `list` (`what` names it in the error).
fn find<T>(
    list: &[T],
    id: &str,
    what: &'static str,
    key: impl Fn(&T) -> &str,
) -> Result<usize, FixError> {
    list.iter()
        .position(|x| key(x) == id)
        .ok_or_else(|| FixError::Missing {
            what,
            id: id.to_string(),
        })
}

fn vpn_gateway_at<'a>(
    t: &'a mut input::Topology,
    id: &str,
) -> Result<&'a mut input::VpnGateway, FixError> {
    let i = find(&t.cloud.vpn_gateways, id, "VPN gateway", |x| &x.id)?;
    Ok(&mut t.cloud.vpn_gateways[i])
}

/// The position of the element with id `id` by the model's index of ids (the model
/// keeps the topology's order; `what` names it in the error).
fn known(ids: &crate::model::IdMap, id: &str, what: &'static str) -> Result<usize, FixError> {
    ids.get(id).copied().ok_or_else(|| FixError::Missing {
        what,
        id: id.to_string(),
    })
}

fn security_group_at(t: &input::Topology, id: &str) -> Result<usize, FixError> {
    find(&t.cloud.security_groups, id, "security group", |x| &x.id)
}

fn route_table_at(t: &input::Topology, id: &str) -> Result<usize, FixError> {
    find(&t.cloud.route_tables, id, "route table", |x| &x.id)
}

fn device_at(t: &input::Topology, id: &str) -> Result<usize, FixError> {
    find(&t.onprem.devices, id, "device", |x| &x.id)
}

/// The one object of the topology a change touches, when it touches one.
#[derive(PartialEq, Eq)]
enum Target<'c> {
    SecurityGroup(&'c str),
    RouteTable(&'c str),
    Device(&'c str),
}

/// None for a change to a VPN gateway, to a connection on both ends, or one vpntrace
/// does not apply.
fn target(change: &Change) -> Option<Target<'_>> {
    match change {
        Change::AddSgRule { security_group, .. }
        | Change::DeleteSgRule { security_group, .. }
        | Change::NarrowSgRule { security_group, .. } => {
            Some(Target::SecurityGroup(security_group))
        }
        Change::AddRouteEntry { route_table, .. } => Some(Target::RouteTable(route_table)),
        Change::InsertFilterRule { device, .. }
        | Change::AddDeviceRoute { device, .. }
        | Change::InsertNoNat { device, .. }
        | Change::DeleteFilterRule { device, .. }
        | Change::EnableForwarding { device }
        | Change::SetRpFilter { device } => Some(Target::Device(device)),
        Change::PublishVpnRoute { .. }
        | Change::AddVpnRoute { .. }
        | Change::SplitConnection { .. }
        | Change::SwitchToIkev2 { .. }
        | Change::SetIpsecSettings { .. }
        | Change::EstablishConnection { .. } => None,
    }
}

/// Whether `change` only lets more packets through: it adds accept rules, or removes or
/// narrows a drop rule of a security group or filter chain, and changes no route,
/// translation or setting. Every packet that passed before passes the same way after
/// it (a first-match filter decides the rest as before; a security group's accepts
/// never beat a drop they did not beat before), so re-analysing after it needs only
/// the packets that still failed.
///
/// `m` is the model lowered from `t` (or patched from it: the objects' places are
/// the same), whose index of ids finds the object.
pub fn opens(t: &input::Topology, m: &Model, change: &Change) -> bool {
    let drop = |ids: Vec<Option<&str>>, actions: Vec<Action>, rule: &str| {
        rule_position(ids.into_iter(), rule).is_some_and(|j| actions[j] == Action::Drop)
    };
    match change {
        Change::AddSgRule { .. } | Change::InsertFilterRule { .. } => true,
        Change::DeleteSgRule {
            security_group,
            rule,
        }
        | Change::NarrowSgRule {
            security_group,
            rule,
            ..
        } => known(&m.ids().security_groups, security_group, "security group").is_ok_and(|i| {
            let g = &t.cloud.security_groups[i];
            drop(
                g.rules.iter().map(|r| r.id.as_deref()).collect(),
                g.rules.iter().map(|r| r.policy).collect(),
                rule,
            )
        }),
        Change::DeleteFilterRule {
            device,
            chain,
            rule,
        } => known(&m.ids().devices, device, "device").is_ok_and(|i| {
            let f = t.onprem.devices[i].filter.as_ref();
            let c = f.and_then(|f| written_chain(f, *chain));
            c.is_some_and(|c| {
                drop(
                    c.rules.iter().map(|r| r.id.as_deref()).collect(),
                    c.rules.iter().map(|r| r.action).collect(),
                    rule,
                )
            })
        }),
        _ => false,
    }
}

/// Apply one change; `n` numbers the fix for the ids of what it adds.
pub fn apply(t: &input::Topology, change: &Change, n: usize) -> Result<input::Topology, FixError> {
    let mut t = t.clone();
    apply_in_place(&mut t, change, n)?;
    Ok(t)
}

/// [`apply`] to `t` itself.
pub fn apply_in_place(t: &mut input::Topology, change: &Change, n: usize) -> Result<(), FixError> {
    match target(change) {
        Some(Target::SecurityGroup(id)) => {
            let i = security_group_at(t, id)?;
            change_sg(&mut t.cloud.security_groups[i], change, n);
        }
        Some(Target::RouteTable(id)) => {
            let i = route_table_at(t, id)?;
            add_route_entries(&mut t.cloud.route_tables[i], change, n);
        }
        Some(Target::Device(id)) => {
            let i = device_at(t, id)?;
            change_device(&mut t.onprem.devices[i], change, n);
        }
        None => apply_other(t, change, n)?,
    }
    Ok(())
}

/// [`apply`] for a change to a VPN gateway or a connection.
fn apply_other(t: &mut input::Topology, change: &Change, n: usize) -> Result<(), FixError> {
    match change {
        Change::PublishVpnRoute { vpn_gateway, route } => {
            let gw = vpn_gateway_at(t, vpn_gateway)?;
            // The route by its id, or by its JSON path when it has none.
            for (i, r) in gw.routes.iter_mut().enumerate() {
                if r.id.as_deref() == Some(route.as_str())
                    || (r.id.is_none() && route.ends_with(&format!(".routes[{i}]")))
                {
                    r.publish_to_vpc = true;
                }
            }
        }
        Change::AddVpnRoute {
            vpn_gateway,
            destinations,
            connection,
        } => {
            let gw = vpn_gateway_at(t, vpn_gateway)?;
            for (k, d) in destinations.iter().enumerate() {
                gw.routes.push(input::VpnRoute {
                    origin: None,
                    id: Some(new_id(n, k)),
                    kind: input::VpnRouteType::Destination,
                    source: None,
                    destination: *d,
                    next_hop: connection.clone(),
                    priority: 1,
                    publish_to_vpc: true,
                });
            }
        }
        Change::SplitConnection { connection } => {
            // FAQ 5: one connection per subnet pair, both ends (see `split`).
            let m = crate::model::lower("(split)", t)?;
            let plan = crate::analysis::split::plan(t, &m, connection)
                .map_err(|e| FixError::Split(e.to_string()))?;
            *t = crate::analysis::split::apply(t, &plan);
        }
        Change::SetIpsecSettings {
            connection,
            settings,
        } => {
            for st in settings {
                set_setting(t, connection, st, n)?;
            }
        }
        Change::EstablishConnection { connection } => {
            let ci = find(&t.cloud.ipsec_connections, connection, "connection", |x| {
                &x.id
            })?;
            let c = &mut t.cloud.ipsec_connections[ci];
            c.status = Some(input::ConnStatus::IpsecSaEstablished);
            c.sas = Some(vec![input::Sa {
                local: c.local_subnets.clone(),
                remote: c.remote_subnets.clone(),
            }]);
            let (local, remote) = (c.remote_subnets.clone(), c.local_subnets.clone());
            if let Some(e) = idc_entry(t, connection) {
                e.sas = Some(vec![input::Sa { local, remote }]);
            }
        }
        other => {
            return Err(FixError::NotApplied { op: other.op() });
        }
    }
    Ok(())
}

/// The on-prem `ipsec` entry of connection `connection`, when one is modelled.
fn idc_entry<'a>(
    t: &'a mut input::Topology,
    connection: &str,
) -> Option<&'a mut input::DeviceIpsec> {
    t.onprem
        .devices
        .iter_mut()
        .flat_map(|d| d.ipsec.iter_mut())
        .find(|e| e.connection == connection)
}

/// Set one phase-1/2 setting of one end of `connection` (see [`Setting`]): the end's
/// object is changed as JSON at the field's path, then read back (so a value the
/// topology format does not accept is an error, not a silent change).
fn set_setting(
    t: &mut input::Topology,
    connection: &str,
    st: &Setting,
    n: usize,
) -> Result<(), FixError> {
    let ci = find(&t.cloud.ipsec_connections, connection, "connection", |x| {
        &x.id
    })?;
    if st.end == End::Cloud && st.field == "customer_gateway.ip" {
        // The IP of an existing customer gateway cannot be changed: a new one.
        let SettingValue::Text(ip) = &st.value else {
            return Ok(());
        };
        let ip: Cidr = ip.parse().map_err(|_| FixError::Missing {
            what: "address",
            id: ip.clone(),
        })?;
        let id = new_id(n, 0);
        t.cloud.customer_gateways.push(input::CustomerGateway {
            id: id.clone(),
            ip,
            origin: None,
        });
        t.cloud.ipsec_connections[ci].customer_gateway = id;
        return Ok(());
    }
    let key = |t: &input::Topology, e: End| -> Option<String> {
        match e {
            End::Cloud => t.cloud.ipsec_connections[ci].ike.psk.clone(),
            End::Idc => t
                .onprem
                .devices
                .iter()
                .flat_map(|d| &d.ipsec)
                .find(|x| x.connection == connection)?
                .ike
                .psk
                .clone(),
        }
    };
    let value = match &st.value {
        SettingValue::Text(x) => serde_json::Value::String(x.clone()),
        SettingValue::Cidrs(c) => serde_json::to_value(c).unwrap_or_default(),
        SettingValue::Unset => serde_json::Value::Null,
        SettingValue::KeyOf(e) => key(t, *e).map_or(serde_json::Value::Null, Into::into),
    };
    let missing = || FixError::Missing {
        what: "setting",
        id: format!("{}.{}", st.end.as_str(), st.field),
    };
    fn set_at<T: serde::Serialize + serde::de::DeserializeOwned>(
        obj: &mut T,
        field: &str,
        value: serde_json::Value,
    ) -> Option<()> {
        let mut v = serde_json::to_value(&*obj).ok()?;
        let mut at = &mut v;
        let parts: Vec<&str> = field.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            let o = at.as_object_mut()?;
            at = o
                .entry(p.to_string())
                .or_insert_with(|| serde_json::json!({}));
        }
        let o = at.as_object_mut()?;
        let last = parts.last()?.to_string();
        if value.is_null() {
            o.remove(&last);
        } else {
            o.insert(last, value);
        }
        *obj = serde_json::from_value(v).ok()?;
        Some(())
    }
    match st.end {
        End::Cloud => set_at(&mut t.cloud.ipsec_connections[ci], &st.field, value),
        End::Idc => {
            let e = idc_entry(t, connection).ok_or_else(missing)?;
            set_at(e, &st.field, value)
        }
    }
    .ok_or_else(missing)
}

/// The one object of the model a patched change replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patched {
    SecurityGroup(usize),
    RouteTable(usize),
    Device(usize),
}

/// A model with one object changed: the model, what part of the lookup index the change
/// touches, and the object.
pub struct PatchedModel {
    pub model: Model,
    pub reindex: Reindex,
    pub patched: Patched,
}

/// Apply a change that touches one security group, route table or on-prem device straight to the
/// lowered model: the object is changed as [`apply`] changes it and lowered alone, the
/// rest of the model is shared. `None` for a change of another kind (use [`apply`], then
/// lower). The [`Reindex`] says what part of the lookup index the change touches (routes,
/// filter rules, a device's forwarding).
pub fn apply_to_model(
    t: &input::Topology,
    m: &Model,
    change: &Change,
    n: usize,
) -> Option<Result<PatchedModel, FixError>> {
    if let Some(Target::Device(id)) = target(change) {
        let i = *m.ids().devices.get(id)?;
        if let Some(p) = filter_rules_patched(t.onprem.devices.get(i)?, i, m, change, n) {
            return Some(Ok(p));
        }
    }
    apply_to_model_edited(t, &mut Edited::default(), m, change, n)
}

/// A filter rule inserted or deleted straight in the lowered device `i` of `m`, which
/// was lowered from `written`: the same model as changing `written` and lowering it
/// again (see [`change_device`]), without lowering the whole device. None where that
/// would not hold or is not cheap to see: the chain or rule is missing, or a rule at or
/// after the place has no id (lowering names it by its position, which the change
/// shifts).
fn filter_rules_patched(
    written: &input::Device,
    i: usize,
    m: &Model,
    change: &Change,
    n: usize,
) -> Option<PatchedModel> {
    let chain = match change {
        Change::InsertFilterRule { chain, .. } | Change::DeleteFilterRule { chain, .. } => *chain,
        _ => return None,
    };
    let written = written_chain(written.filter.as_ref()?, chain)?;
    let at = match change {
        Change::InsertFilterRule { before, .. } => insert_at(written, before.as_deref()),
        Change::DeleteFilterRule { rule, .. } => {
            rule_position(written.rules.iter().map(|r| r.id.as_deref()), rule)?
        }
        _ => return None,
    };
    if written.rules[at..].iter().any(|r| r.id.is_none()) {
        return None;
    }
    let mut d = (*m.devices[i]).clone();
    let lowered = d.filter.as_mut()?.chain_mut(chain)?;
    if lowered.rules.len() != written.rules.len() {
        return None;
    }
    let reindex = match change {
        Change::DeleteFilterRule { .. } => Reindex::DeviceChainRuleDeleted(i, chain, at),
        _ => Reindex::DeviceChain(i, chain),
    };
    match change {
        Change::InsertFilterRule {
            sources,
            destinations,
            protocol,
            destination_ports,
            source_ports,
            ..
        } => {
            // As `change_device` writes them (with ids, without interfaces), lowered.
            let rules = inserted_rules(
                sources,
                destinations,
                *protocol,
                *source_ports,
                *destination_ports,
                n,
            )
            .into_iter()
            .map(|r| {
                let id = r.id.clone().expect("an inserted rule has an id");
                crate::model::FilterRule::lowered(&r, id, None, None)
            });
            lowered.rules.splice(at..at, rules);
        }
        _ => {
            lowered.rules.remove(at);
        }
    }
    Some(PatchedModel {
        model: m.with_lowered_device(i, d),
        reindex,
        patched: Patched::Device(i),
    })
}

/// The objects a plan's changes have patched so far, by position, over a topology that
/// is not copied: a plan of changes to single objects reads and writes only these.
#[derive(Clone, Debug, Default)]
pub struct Edited {
    security_groups: BTreeMap<usize, input::SecurityGroup>,
    route_tables: BTreeMap<usize, input::RouteTable>,
    devices: BTreeMap<usize, input::Device>,
}

impl Edited {
    /// `t` with the edited objects in their places.
    pub fn applied_to(&self, t: &input::Topology) -> input::Topology {
        let mut t = t.clone();
        for (&i, g) in &self.security_groups {
            t.cloud.security_groups[i] = g.clone();
        }
        for (&i, r) in &self.route_tables {
            t.cloud.route_tables[i] = r.clone();
        }
        for (&i, d) in &self.devices {
            t.onprem.devices[i] = d.clone();
        }
        t
    }
}

/// [`apply_to_model`] for `t` as `edited` leaves it (objects `edited` holds are read
/// from there); the changed object is kept in `edited`.
pub fn apply_to_model_edited(
    t: &input::Topology,
    edited: &mut Edited,
    m: &Model,
    change: &Change,
    n: usize,
) -> Option<Result<PatchedModel, FixError>> {
    let target = target(change)?;
    Some(patch_model(t, edited, m, change, n, target))
}

/// [`apply_to_model_edited`] for a change to `target`.
fn patch_model(
    t: &input::Topology,
    edited: &mut Edited,
    m: &Model,
    change: &Change,
    n: usize,
    target: Target,
) -> Result<PatchedModel, FixError> {
    match target {
        Target::SecurityGroup(id) => {
            let i = known(&m.ids().security_groups, id, "security group")?;
            let grp = edited
                .security_groups
                .entry(i)
                .or_insert_with(|| t.cloud.security_groups[i].clone());
            change_sg(grp, change, n);
            Ok(PatchedModel {
                model: m.with_security_group(i, grp)?,
                reindex: Reindex::Keep,
                patched: Patched::SecurityGroup(i),
            })
        }
        Target::RouteTable(id) => {
            let i = known(&m.ids().route_tables, id, "route table")?;
            let table = edited
                .route_tables
                .entry(i)
                .or_insert_with(|| t.cloud.route_tables[i].clone());
            add_route_entries(table, change, n);
            Ok(PatchedModel {
                model: m.with_route_table(i, table)?,
                reindex: Reindex::Table(i),
                patched: Patched::RouteTable(i),
            })
        }
        Target::Device(id) => {
            let i = known(&m.ids().devices, id, "device")?;
            let d = edited
                .devices
                .entry(i)
                .or_insert_with(|| t.onprem.devices[i].clone());
            // The model's device `i` is `d` lowered: a filter rule goes straight in.
            let fast = filter_rules_patched(d, i, m, change, n);
            change_device(d, change, n);
            if let Some(p) = fast {
                return Ok(p);
            }
            // The index holds the filter tables, the routes and where hosts send from.
            let reindex = match change {
                Change::InsertFilterRule { chain, .. } | Change::DeleteFilterRule { chain, .. } => {
                    Reindex::DeviceChain(i, *chain)
                }
                Change::AddDeviceRoute { .. } => Reindex::DeviceRoutes(i),
                Change::EnableForwarding { .. } => Reindex::Full,
                _ => Reindex::Keep,
            };
            Ok(PatchedModel {
                model: m.with_device(i, d)?,
                reindex,
                patched: Patched::Device(i),
            })
        }
    }
}

/// Add (or replace, by destination) the entries of an [`Change::AddRouteEntry`].
fn add_route_entries(table: &mut input::RouteTable, change: &Change, n: usize) {
    let Change::AddRouteEntry {
        destinations,
        vpn_gateway,
        ..
    } = change
    else {
        return;
    };
    for (k, d) in destinations.iter().enumerate() {
        // Replace an entry of the same destination; else add.
        let entry = input::RouteEntry {
            origin: None,
            id: Some(new_id(n, k)),
            destination: *d,
            next_hop: input::NextHop {
                kind: input::NextHopKind::VpnGateway,
                id: Some(vpn_gateway.clone()),
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
}

/// The position of the rule named `rule` (its id, or its JSON path `…rules[j]` when it
/// has none, as the model names it).
fn rule_position<'a>(ids: impl Iterator<Item = Option<&'a str>>, rule: &str) -> Option<usize> {
    ids.enumerate().position(|(j, id)| match id {
        Some(id) => id == rule,
        None => rule.ends_with(&format!("rules[{j}]")),
    })
}

/// Chain `k` of a written filter.
fn written_chain(f: &input::Filter, k: ChainKind) -> Option<&input::Chain> {
    match k {
        ChainKind::Input => f.input.as_ref(),
        ChainKind::Forward => f.forward.as_ref(),
        ChainKind::Output => f.output.as_ref(),
    }
}

/// Where an [`Change::InsertFilterRule`] puts its rules in `chain`: before the rule it
/// names, else (none named, or not found) at the end.
fn insert_at(chain: &input::Chain, before: Option<&str>) -> usize {
    before
        .and_then(|b| rule_position(chain.rules.iter().map(|r| r.id.as_deref()), b))
        .unwrap_or(chain.rules.len())
}

/// The accept rules an [`Change::InsertFilterRule`] writes (fix `n`): one per source ×
/// destination, each with an id and no interface.
fn inserted_rules(
    sources: &[Cidr],
    destinations: &[Cidr],
    protocol: Protocol,
    source_ports: Ports,
    destination_ports: Ports,
    n: usize,
) -> Vec<input::FilterRule> {
    pairs(sources, destinations)
        .map(|(k, src, dst)| input::FilterRule {
            origin: None,
            id: Some(new_id(n, k)),
            action: Action::Accept,
            source: Some(src),
            destination: Some(dst),
            protocol,
            source_ports,
            destination_ports,
            in_interface: None,
            out_interface: None,
        })
        .collect()
}

/// Add the rules of an [`Change::AddSgRule`] to a security group, or remove the rule of
/// a [`Change::DeleteSgRule`].
fn change_sg(grp: &mut input::SecurityGroup, change: &Change, n: usize) {
    if let Change::DeleteSgRule { rule, .. } = change {
        if let Some(j) = rule_position(grp.rules.iter().map(|r| r.id.as_deref()), rule) {
            grp.rules.remove(j);
        }
        return;
    }
    if let Change::NarrowSgRule { rule, peers, .. } = change {
        if let Some(j) = rule_position(grp.rules.iter().map(|r| r.id.as_deref()), rule) {
            let old = grp.rules.remove(j);
            let narrowed = peers.iter().enumerate().map(|(k, p)| input::SgRule {
                origin: None,
                id: Some(new_id(n, k)),
                peer: Some(*p),
                peer_group: None,
                ..old.clone()
            });
            grp.rules.splice(j..j, narrowed.collect::<Vec<_>>());
        }
        return;
    }
    let Change::AddSgRule {
        direction,
        priority,
        protocol,
        ports,
        peers,
        ..
    } = change
    else {
        return;
    };
    for (k, p) in peers.iter().enumerate() {
        grp.rules.push(input::SgRule {
            origin: None,
            id: Some(new_id(n, k)),
            direction: *direction,
            policy: Action::Accept,
            priority: (*priority).clamp(1, 100),
            protocol: *protocol,
            ports: *ports,
            peer: Some(*p),
            peer_group: None,
        });
    }
}

/// Apply a change to one on-prem device (the device changes of [`apply`]; others leave
/// it as it is).
fn change_device(d: &mut input::Device, change: &Change, n: usize) {
    match change {
        Change::InsertFilterRule {
            chain,
            before,
            sources,
            destinations,
            protocol,
            destination_ports,
            source_ports,
            ..
        } => {
            let f = d.filter.get_or_insert_with(input::Filter::default);
            let chain = match chain {
                ChainKind::Input => &mut f.input,
                ChainKind::Forward => &mut f.forward,
                ChainKind::Output => &mut f.output,
            };
            let chain = chain.get_or_insert_with(input::Chain::default);
            let at = insert_at(chain, before.as_deref());
            let rules = inserted_rules(
                sources,
                destinations,
                *protocol,
                *source_ports,
                *destination_ports,
                n,
            );
            chain.rules.splice(at..at, rules);
        }
        Change::AddDeviceRoute {
            destinations, via, ..
        } => {
            let (interface, gateway, tunnel) = match via {
                Via::Tunnel(c) => (None, None, Some(c.clone())),
                Via::Interface { interface, gateway } => {
                    (Some(interface.clone()), gateway.map(Cidr::host), None)
                }
            };
            let mut new: Vec<input::Route> = destinations
                .iter()
                .enumerate()
                .map(|(k, dst)| input::Route {
                    origin: None,
                    id: Some(new_id(n, k)),
                    destination: *dst,
                    interface: interface.clone(),
                    gateway,
                    tunnel: tunnel.clone(),
                })
                .collect();
            // A route of the same prefix is the one the fix changes: it goes (first
            // listed would win anyway; the written topology keeps no dead route).
            d.routes.retain(|r| {
                !destinations
                    .iter()
                    .any(|x| x.network() == r.destination.network())
            });
            new.append(&mut d.routes);
            d.routes = new;
        }
        Change::InsertNoNat {
            before,
            sources,
            destinations,
            ..
        } => {
            let at = d
                .nat
                .iter()
                .position(|r| r.id.as_deref() == Some(before.as_str()))
                .unwrap_or(0);
            let out_if = d.nat.get(at).and_then(|r| r.out_interface.clone());
            let rules = pairs(sources, destinations).map(|(k, src, dst)| input::NatRule {
                origin: None,
                id: Some(new_id(n, k)),
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
            d.nat.splice(at..at, rules.collect::<Vec<_>>());
        }
        Change::DeleteFilterRule { chain, rule, .. } => {
            let Some(f) = d.filter.as_mut() else { return };
            let chain = match chain {
                ChainKind::Input => &mut f.input,
                ChainKind::Forward => &mut f.forward,
                ChainKind::Output => &mut f.output,
            };
            if let Some(c) = chain.as_mut() {
                if let Some(j) = rule_position(c.rules.iter().map(|r| r.id.as_deref()), rule) {
                    c.rules.remove(j);
                }
            }
        }
        Change::EnableForwarding { .. } => d.forwarding = Some(true),
        Change::SetRpFilter { .. } => d.rp_filter = Some(input::RpFilter::Loose),
        _ => {}
    }
}

/// Every source × destination, numbered in that order.
fn pairs<'a>(
    sources: &'a [Cidr],
    destinations: &'a [Cidr],
) -> impl Iterator<Item = (usize, Cidr, Cidr)> + 'a {
    sources
        .iter()
        .flat_map(move |s| destinations.iter().map(move |d| (*s, *d)))
        .enumerate()
        .map(|(k, (s, d))| (k, s, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> input::Topology {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("topologies/faq4_idc_route_missing.json");
        let text = std::fs::read_to_string(&p).unwrap();
        crate::model::parse("faq4_idc_route_missing.json", &text).unwrap()
    }

    fn bundled(name: &str) -> input::Topology {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("topologies")
            .join(name);
        crate::model::parse(name, &std::fs::read_to_string(&p).unwrap()).unwrap()
    }

    /// Only changes that add accepts or take away drops open; a deleted accept, a route
    /// or a NAT exemption may stop packets that passed.
    #[test]
    fn only_accepts_added_and_drops_removed_open() {
        let t = bundled("faq4_sg_drop_wins_tie.json");
        let m = crate::model::lower("t", &t).unwrap();
        let sg = |rule: &str| Change::DeleteSgRule {
            security_group: "sg-bp1q3w5e7r9t1y3u5i7o".into(),
            rule: rule.into(),
        };
        assert!(
            opens(&t, &m, &sg("sgr-bp1m1n2b3v4c5x6z7a8s9dfgh")),
            "a drop deleted"
        );
        assert!(
            !opens(&t, &m, &sg("sgr-bp1l0k9j8h7g6f5d4s3a2qwer")),
            "an accept deleted"
        );
        assert!(!opens(&t, &m, &sg("no-such-rule")), "a rule not found");
        let t = bundled("faq3_idc_iptables_drop.json");
        let m = crate::model::lower("t", &t).unwrap();
        let filter = |rule: &str| Change::DeleteFilterRule {
            device: "bj-idc-vpn01".into(),
            chain: ChainKind::Forward,
            rule: rule.into(),
        };
        assert!(opens(&t, &m, &filter("fwd-2-wan-antispoof")));
        assert!(!opens(&t, &m, &filter("fwd-1-lan-out")));
        assert!(!opens(
            &t,
            &m,
            &Change::AddDeviceRoute {
                device: "bj-idc-vpn01".into(),
                destinations: vec!["10.99.0.0/16".parse().unwrap()],
                via: Via::Tunnel("x".into()),
            }
        ));
    }

    /// Two changes to one device through [`Edited`] give the device the topology changed
    /// twice and lowered gives.
    #[test]
    fn edited_objects_carry_earlier_changes() {
        let t = bundled("faq3_idc_iptables_drop.json");
        let m = crate::model::lower("t", &t).unwrap();
        let first = Change::DeleteFilterRule {
            device: "bj-idc-vpn01".into(),
            chain: ChainKind::Forward,
            rule: "fwd-2-wan-antispoof".into(),
        };
        let second = Change::DeleteFilterRule {
            device: "bj-idc-vpn01".into(),
            chain: ChainKind::Forward,
            rule: "fwd-1-lan-out".into(),
        };
        let mut edited = Edited::default();
        let m1 = apply_to_model_edited(&t, &mut edited, &m, &first, 1)
            .unwrap()
            .unwrap()
            .model;
        let m2 = apply_to_model_edited(&t, &mut edited, &m1, &second, 2)
            .unwrap()
            .unwrap()
            .model;
        let whole = apply(&apply(&t, &first, 1).unwrap(), &second, 2).unwrap();
        let lowered = crate::model::lower("t", &whole).unwrap();
        let d = t
            .onprem
            .devices
            .iter()
            .position(|d| d.id == "bj-idc-vpn01")
            .unwrap();
        assert_eq!(
            format!("{:?}", m2.devices[d]),
            format!("{:?}", lowered.devices[d])
        );
        assert_eq!(
            lowered.devices[d]
                .filter
                .as_ref()
                .unwrap()
                .forward
                .as_ref()
                .unwrap()
                .rules
                .len(),
            1
        );
        assert_eq!(
            format!("{:?}", edited.applied_to(&t)),
            format!("{:?}", whole)
        );
    }

    /// The changes the corpus never proposes apply too, and a device change patched into
    /// the model equals the whole topology changed and lowered again.
    #[test]
    fn every_kind_of_change_applies() {
        let t = topology();
        let m = crate::model::lower("t", &t).unwrap();
        let dev = t.onprem.devices[0].id.clone();
        let gw = t.cloud.vpn_gateways[0].id.clone();
        let conn = t.cloud.ipsec_connections[0].id.clone();
        let dest: Vec<Cidr> = vec!["10.99.0.0/16".parse().unwrap()];

        let fixed = apply(
            &t,
            &Change::EnableForwarding {
                device: dev.clone(),
            },
            1,
        )
        .unwrap();
        assert_eq!(fixed.onprem.devices[0].forwarding, Some(true));
        let fixed = apply(
            &t,
            &Change::SetRpFilter {
                device: dev.clone(),
            },
            1,
        )
        .unwrap();
        assert_eq!(
            fixed.onprem.devices[0].rp_filter,
            Some(input::RpFilter::Loose)
        );

        let via = Via::Interface {
            interface: t.onprem.devices[0].interfaces[0].name.clone(),
            gateway: Some("192.0.2.1".parse().unwrap()),
        };
        let route = Change::AddDeviceRoute {
            device: dev.clone(),
            destinations: dest.clone(),
            via,
        };
        let fixed = apply(&t, &route, 3).unwrap();
        let r = &fixed.onprem.devices[0].routes[0];
        assert_eq!(r.id.as_deref(), Some("vpntrace-fix-3-0"));
        assert_eq!(r.destination, dest[0]);
        assert_eq!(r.gateway, Some("192.0.2.1".parse().unwrap()));
        // A route of the same prefix is replaced, not shadowed.
        let replace = Change::AddDeviceRoute {
            device: dev.clone(),
            destinations: vec!["0.0.0.0/0".parse().unwrap()],
            via: Via::Interface {
                interface: t.onprem.devices[0].interfaces[0].name.clone(),
                gateway: Some("192.0.2.1".parse().unwrap()),
            },
        };
        let fixed = apply(&t, &replace, 4).unwrap();
        let ids: Vec<_> = fixed.onprem.devices[0]
            .routes
            .iter()
            .map(|r| r.id.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            ids.len(),
            t.onprem.devices[0].routes.len(),
            "{ids:?}: the old default route is gone"
        );
        assert_eq!(ids[0], "vpntrace-fix-4-0");
        for change in [
            replace,
            route,
            Change::EnableForwarding {
                device: dev.clone(),
            },
            Change::SetRpFilter {
                device: dev.clone(),
            },
        ] {
            let patched = apply_to_model(&t, &m, &change, 1).unwrap().unwrap();
            let relowered = crate::model::lower("t", &apply(&t, &change, 1).unwrap()).unwrap();
            assert_eq!(format!("{:?}", patched.model), format!("{relowered:?}"));
        }

        let add = Change::AddVpnRoute {
            vpn_gateway: gw.clone(),
            destinations: dest.clone(),
            connection: conn.clone(),
        };
        assert!(apply_to_model(&t, &m, &add, 1).is_none());
        let fixed = apply(&t, &add, 2).unwrap();
        let r = fixed.cloud.vpn_gateways[0].routes.last().unwrap();
        assert_eq!(
            (r.destination, r.next_hop.as_str()),
            (dest[0], conn.as_str())
        );
        assert!(r.publish_to_vpc);
        let publish = Change::PublishVpnRoute {
            vpn_gateway: gw.clone(),
            route: "vpntrace-fix-2-0".into(),
        };
        let mut unpublished = fixed.clone();
        unpublished.cloud.vpn_gateways[0]
            .routes
            .last_mut()
            .unwrap()
            .publish_to_vpc = false;
        let republished = apply(&unpublished, &publish, 3).unwrap();
        let json = |t: &input::Topology| serde_json::to_string(t).unwrap();
        assert_eq!(json(&republished), json(&fixed));

        let missing = Change::EnableForwarding {
            device: "no-such-device".into(),
        };
        assert_eq!(
            apply(&t, &missing, 1).unwrap_err().to_string(),
            "no device `no-such-device`"
        );
        let ikev2 = Change::SwitchToIkev2 { connection: conn };
        assert_eq!(
            apply(&t, &ikev2, 1).unwrap_err(),
            FixError::NotApplied {
                op: "set_ike_version"
            }
        );
    }
}
