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
//! Files: `plan.rs` decides the new connections and the route changes, `configs.rs`
//! writes both ends' configurations (API calls, IDC entries, `swanctl.conf`), `verify.rs`
//! traces the patched topology; this file holds the plan's types, [`apply`] and [`run`].
//!
//! Verification traces, for every local×remote subnet pair of the old connection, the
//! topology's own `flows` that fall in the pair (else ICMP between representative
//! endpoints: the instances and hosts inside the subnets, else the first usable address
//! of the part of the subnet that exists on a vSwitch or a connected IDC subnet) in both
//! directions, before and after. The plan is `verified` only when every pair that failed
//! before works both ways afterwards and nothing that worked breaks.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::engine::trace::{self, Disposition};
use crate::findings::code::Code;
use crate::findings::finding::{Finding, FlowDirection};
use crate::input::error::InputError;
use crate::input::{self, ConnStatus, VpnRouteType};
use crate::model::{self, Model};
use crate::net::addr::{join_cidrs, Cidr};

mod configs;
mod plan;
mod verify;

pub use plan::plan;

use configs::idc_entry;

/// What the PSK field of every planned configuration says instead of the key.
pub const PSK_UNCHANGED: &str = "(unchanged: same pre-shared key)";

/// Priority of the policy routes the plan adds (Alibaba's default for policy routes).
pub const POLICY_ROUTE_PRIORITY: u8 = 10;

/// Why a connection cannot be split.
#[derive(Clone, Debug)]
pub enum SplitError {
    /// The model has no connection of that id; `known` lists the ids it has.
    UnknownConnection { id: String, known: Vec<String> },
    /// The model has the connection but the topology it was lowered from does not.
    NotInTopology { id: String },
    /// The connection carries a single local×remote subnet pair.
    NothingToSplit {
        id: String,
        locals: Vec<Cidr>,
        remotes: Vec<Cidr>,
    },
    /// The topology patched with the plan does not lower (a bug in the plan).
    PatchedDoesNotLoad(InputError),
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::UnknownConnection { id, known } => write!(
                f,
                "no IPsec connection `{id}` in cloud.ipsec_connections (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            SplitError::NotInTopology { id } => {
                write!(f, "connection `{id}` is in the model but not the topology")
            }
            SplitError::NothingToSplit {
                id,
                locals,
                remotes,
            } => write!(
                f,
                "connection {id} carries one subnet pair ({} <=> {}): there is nothing to \
                 split; see `vpntrace check` for why its traffic fails",
                join_cidrs(locals),
                join_cidrs(remotes)
            ),
            SplitError::PatchedDoesNotLoad(e) => {
                write!(f, "internal error: the patched topology does not load: {e}")
            }
        }
    }
}

impl std::error::Error for SplitError {}

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
    pub code: Code,
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
    let plan =
        plan(topo, &m, conn).map_err(|e| InputError::new(file, "--connection", e.to_string()))?;
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
