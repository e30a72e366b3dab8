//! Alibaba Cloud OpenAPI response bodies → the cloud part (SPEC "Import", `--alibaba DIR`).
//!
//! One file per call, as the `aliyun` CLI prints it: `<Action>.json`, `<Action>.<id>.json`
//! (a call per object) or `<Action>.<n>.json` (further pages); all files of one action are
//! read alike, in name order. Field meanings: `tests/data/import/alibaba-api/README.md`.
//! Bodies are walked as JSON values with their JSON pointer, which becomes each object's
//! `origin` (`DescribeVpcs.json#/Vpcs/Vpc/0`). Scalars are read leniently (the API writes
//! numbers and booleans as strings in places); enum values compare case-insensitively.
//! A value vpntrace cannot use (a placeholder such as `47.22.XX.XX`, an unknown next-hop
//! type) is a warning at its pointer, and the object or field is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::input::error::InputError;
use crate::input::import::{pointer_token, Warning};
use crate::input::{
    Action, ConnStatus, CustomerGateway, Direction, Ike, IpsecConnection, IpsecParams, NextHop,
    NextHopKind, RouteEntry, RouteTable, SecurityGroup, SgRule, SgType, StrOrList, VSwitch, Vpc,
    VpnGateway, VpnRoute, VpnRouteType,
};
use crate::net::addr::{Cidr, Ports, Protocol};

/// The cloud objects read; `vpc` is None without DescribeVpcs.
#[derive(Debug, Default)]
pub struct AlibabaImport {
    pub vpc: Option<Vpc>,
    pub vswitches: Vec<VSwitch>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: Vec<SecurityGroup>,
    pub instances: Vec<crate::input::Instance>,
    pub vpn_gateways: Vec<VpnGateway>,
    pub customer_gateways: Vec<CustomerGateway>,
    pub ipsec_connections: Vec<IpsecConnection>,
    pub warnings: Vec<Warning>,
}

/// The actions read, each with the wrapper its list sits in (None: the body is the object).
const ACTIONS: &[(&str, Option<(&str, &str)>)] = &[
    ("DescribeVpcs", Some(("Vpcs", "Vpc"))),
    ("DescribeVSwitches", Some(("VSwitches", "VSwitch"))),
    (
        "DescribeRouteTableList",
        Some(("RouterTableList", "RouterTableListType")),
    ),
    (
        "DescribeRouteEntryList",
        Some(("RouteEntrys", "RouteEntry")),
    ),
    (
        "DescribeSecurityGroups",
        Some(("SecurityGroups", "SecurityGroup")),
    ),
    ("DescribeSecurityGroupAttribute", None),
    ("DescribeInstances", Some(("Instances", "Instance"))),
    ("DescribeVpnGateways", Some(("VpnGateways", "VpnGateway"))),
    ("DescribeVpnGateway", None),
    (
        "DescribeCustomerGateways",
        Some(("CustomerGateways", "CustomerGateway")),
    ),
    ("DescribeCustomerGateway", None),
    (
        "DescribeVpnConnections",
        Some(("VpnConnections", "VpnConnection")),
    ),
    ("DescribeVpnConnection", None),
    (
        "DescribeVpnRouteEntries",
        Some(("VpnRouteEntries", "VpnRouteEntry")),
    ),
    (
        "DescribeVpnPbrRouteEntries",
        Some(("VpnPbrRouteEntries", "VpnPbrRouteEntry")),
    ),
];

/// One object of a response with where it is.
struct Item<'a> {
    file: String,
    ptr: String,
    v: &'a Value,
}

impl<'a> Item<'a> {
    fn at(&self, key: &str) -> String {
        format!("{}#{}/{}", self.file, self.ptr, pointer_token(key))
    }
    fn origin(&self) -> String {
        let name = Path::new(&self.file)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        format!("{name}#{}", self.ptr)
    }
    /// A string field; numbers are read as their text; empty is none.
    fn s(&self, key: &str) -> Option<String> {
        match self.v.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn n(&self, key: &str, w: &mut Vec<Warning>) -> Option<u64> {
        let s = self.s(key)?;
        match s.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                w.push(Warning::new(
                    self.at(key),
                    format!("expected a number, got {s:?}: left out"),
                ));
                None
            }
        }
    }
    fn child(&self, key: &str) -> Option<Item<'a>> {
        let v: &'a Value = self.v.get(key)?;
        v.is_object().then(|| Item {
            file: self.file.clone(),
            ptr: format!("{}/{}", self.ptr, pointer_token(key)),
            v,
        })
    }
    /// `{"Wrapper":{"Inner":[...]}}` items (an absent or empty wrapper is an empty list).
    fn list(&self, wrapper: &str, inner: &str) -> Vec<Item<'a>> {
        let v: &'a Value = self.v;
        let Some(Value::Array(a)) = v.get(wrapper).and_then(|w| w.get(inner)) else {
            return Vec::new();
        };
        a.iter()
            .enumerate()
            .map(|(i, v)| Item {
                file: self.file.clone(),
                ptr: format!(
                    "{}/{}/{}/{i}",
                    self.ptr,
                    pointer_token(wrapper),
                    pointer_token(inner)
                ),
                v,
            })
            .collect()
    }
    fn strings(&self, wrapper: &str, inner: &str) -> Vec<(String, String)> {
        self.list(wrapper, inner)
            .into_iter()
            .filter_map(|i| {
                i.v.as_str()
                    .map(|s| (s.to_string(), format!("{}#{}", i.file, i.ptr)))
            })
            .collect()
    }
    /// A CIDR or address field; a placeholder or bad value is a warning and None.
    fn cidr(&self, key: &str, w: &mut Vec<Warning>) -> Option<Cidr> {
        let s = self.s(key)?;
        cidr_at(&s, &self.at(key), w)
    }
}

fn is_placeholder(s: &str) -> bool {
    s.contains("XX") || s.contains("xx") || s.contains("**")
}

fn cidr_at(s: &str, at: &str, w: &mut Vec<Warning>) -> Option<Cidr> {
    if s.contains(':') {
        return None; // IPv6: not modelled, and counted nowhere else
    }
    match s.parse::<Cidr>() {
        Ok(c) => Some(c),
        Err(_) if is_placeholder(s) => {
            w.push(Warning::new(
                at,
                format!("placeholder value {s:?} (documentation example data?): left out"),
            ));
            None
        }
        Err(e) => {
            w.push(Warning::new(at, format!("{e}: left out")));
            None
        }
    }
}

fn csv_cidrs(it: &Item, key: &str, w: &mut Vec<Warning>) -> Vec<Cidr> {
    it.s(key)
        .map(|s| {
            s.split(',')
                .filter(|x| !x.trim().is_empty())
                .filter_map(|x| cidr_at(x.trim(), &it.at(key), w))
                .collect()
        })
        .unwrap_or_default()
}

fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Checks a value against the spellings the API documents; an unknown one is kept, with a warning.
fn known(it: &Item, key: &str, allowed: &[&str], w: &mut Vec<Warning>) -> Option<String> {
    let v = lc(&it.s(key)?);
    if !allowed.contains(&v.as_str()) {
        w.push(Warning::new(
            it.at(key),
            format!(
                "unknown value {v:?} (expected one of {}): imported as written",
                allowed.join(", ")
            ),
        ));
    }
    Some(v)
}

const ENC: &[&str] = &["aes", "aes192", "aes256", "des", "3des", "sm4"];
const AUTH: &[&str] = &["md5", "sha1", "sha256", "sha384", "sha512", "sm3"];
const GROUPS: &[&str] = &[
    "group1", "group2", "group5", "group14", "group15", "group16", "group19", "group20", "group21",
    "group24",
];

/// Reads every response file in `dir`.
pub fn import_dir(dir: &Path) -> Result<AlibabaImport, InputError> {
    let shown = dir.display().to_string();
    let mut out = AlibabaImport::default();
    let bodies = read_bodies(dir, &shown, &mut out.warnings)?;
    let items = |action: &str| -> Vec<Item<'_>> {
        let wrapper = ACTIONS
            .iter()
            .find(|(a, _)| *a == action)
            .and_then(|(_, w)| *w);
        let mut v = Vec::new();
        for (file, body) in bodies.get(action).map(Vec::as_slice).unwrap_or(&[]) {
            let top = Item {
                file: file.clone(),
                ptr: String::new(),
                v: body,
            };
            match wrapper {
                Some((w, i)) => v.extend(top.list(w, i).into_iter().map(|x| Item {
                    file: x.file,
                    ptr: x.ptr,
                    v: x.v,
                })),
                None => v.push(top),
            }
        }
        v
    };
    let w = &mut out.warnings;
    let mut seen_placeholder_ids = BTreeSet::new();
    let mut id = |it: &Item, key: &str, w: &mut Vec<Warning>| -> Option<String> {
        let s = it.s(key);
        match &s {
            None => w.push(Warning::new(it.at(key), format!("no {key}: the object is left out"))),
            Some(s) if s.contains("****") && seen_placeholder_ids.insert(it.file.clone()) => w.push(Warning::new(
                it.at(key),
                format!("id {s:?} is a placeholder (documentation example data?); ids are imported as written"),
            )),
            _ => {}
        }
        s
    };

    out.vpc = vpc(&items("DescribeVpcs"), w, &mut id);
    if out.vpc.is_none() {
        if let Some((file, _)) = bodies.get("DescribeVpcs").and_then(|b| b.first()) {
            return Err(InputError::new(
                file,
                "#/Vpcs/Vpc/0",
                "expected a VPC with VpcId and CidrBlock: a topology needs its VPC",
            ));
        }
    }
    let vpc_id = out.vpc.as_ref().map(|v| v.id.clone());
    let vpc_id = vpc_id.as_deref();
    vswitches(
        &items("DescribeVSwitches"),
        vpc_id,
        &mut out.vswitches,
        w,
        &mut id,
    );
    route_tables(
        &items("DescribeRouteTableList"),
        &items("DescribeRouteEntryList"),
        vpc_id,
        &mut out.route_tables,
        w,
        &mut id,
    );
    security_groups(
        &items("DescribeSecurityGroups"),
        &items("DescribeSecurityGroupAttribute"),
        &mut out.security_groups,
        w,
        &mut id,
    );

    instances(
        &items("DescribeInstances"),
        vpc_id,
        &mut out.instances,
        w,
        &mut id,
    );
    let mut gws: Vec<Item> = items("DescribeVpnGateways");
    gws.extend(items("DescribeVpnGateway"));
    vpn_gateways(gws, vpc_id, &mut out.vpn_gateways, w, &mut id);
    vpn_routes(
        &items("DescribeVpnRouteEntries"),
        &items("DescribeVpnPbrRouteEntries"),
        &mut out.vpn_gateways,
        w,
    );

    let mut cgws: Vec<Item> = items("DescribeCustomerGateways");
    cgws.extend(items("DescribeCustomerGateway"));
    for it in cgws {
        let Some(cid) = id(&it, "CustomerGatewayId", w) else {
            continue;
        };
        if out.customer_gateways.iter().any(|g| g.id == cid) {
            continue;
        }
        let Some(ip) = it.cidr("IpAddress", w) else {
            continue;
        };
        out.customer_gateways.push(CustomerGateway {
            id: cid,
            ip,
            origin: Some(it.origin()),
        });
    }

    let mut conns: Vec<Item> = items("DescribeVpnConnections");
    conns.extend(items("DescribeVpnConnection"));
    for it in conns {
        let Some(cid) = id(&it, "VpnConnectionId", w) else {
            continue;
        };
        if out.ipsec_connections.iter().any(|c| c.id == cid) {
            continue;
        }
        if let Some(c) = connection(&it, cid, w) {
            out.ipsec_connections.push(c);
        }
    }
    Ok(out)
}

/// Response bodies by action, each with its file's path.
type Bodies = BTreeMap<&'static str, Vec<(String, Value)>>;

/// The response bodies in `dir` by action, each with its path; what is not a response
/// vpntrace reads, an error response, or a list not where the action keeps it is a warning.
fn read_bodies(dir: &Path, shown: &str, warnings: &mut Vec<Warning>) -> Result<Bodies, InputError> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        InputError::new(shown, "", format!("--alibaba: cannot read the folder: {e}"))
    })?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut bodies: BTreeMap<&'static str, Vec<(String, Value)>> = BTreeMap::new();
    for name in &names {
        let action = name.split('.').next().unwrap_or("");
        let path = dir.join(name).display().to_string();
        let Some((act, _)) = ACTIONS.iter().find(|(a, _)| *a == action) else {
            warnings.push(Warning::new(
                &path,
                format!("{action} is not a response vpntrace reads: not imported"),
            ));
            continue;
        };
        let text = std::fs::read_to_string(dir.join(name))
            .map_err(|e| InputError::new(&path, "", format!("cannot read: {e}")))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            InputError::new(
                &path,
                format!("line {} column {}", e.line(), e.column()),
                format!("not JSON: {e}"),
            )
        })?;
        if !v.is_object() {
            return Err(InputError::new(
                &path,
                "#",
                "expected a JSON object (an API response body)",
            ));
        }
        if v.get("Code").is_some() && v.get("Message").is_some() {
            warnings.push(Warning::new(
                &path,
                format!(
                    "an error response ({}: {}): nothing imported from it",
                    v["Code"], v["Message"]
                ),
            ));
            continue;
        }
        if let Some((wrapper, inner)) = ACTIONS.iter().find(|(a, _)| a == act).and_then(|(_, w)| *w)
        {
            if !v
                .get(wrapper)
                .and_then(|x| x.get(inner))
                .is_some_and(Value::is_array)
            {
                warnings.push(Warning::new(
                    format!("{path}#/{}/{}", pointer_token(wrapper), pointer_token(inner)),
                    format!("expected the list of {act}'s results here: nothing imported from this file"),
                ));
            }
        }
        bodies.entry(*act).or_default().push((path, v));
    }
    Ok(bodies)
}

/// The VPC: the first DescribeVpcs item.
fn vpc(vpcs: &[Item], w: &mut Vec<Warning>, id: &mut IdFn) -> Option<Vpc> {
    if vpcs.len() > 1 {
        w.push(Warning::new(vpcs[1].at("VpcId"), format!("{} VPCs listed; vpntrace models one: the first is imported (export one VPC: --VpcId)", vpcs.len())));
    }
    if let Some(v) = vpcs.first() {
        if let Some(vid) = id(v, "VpcId", w) {
            // Without its primary CIDR the VPC is not imported (an error, located).
            let mut cidrs: Vec<Cidr> = vec![v.cidr("CidrBlock", w)?];
            for (s, at) in v.strings("SecondaryCidrBlocks", "SecondaryCidrBlock") {
                cidrs.extend(cidr_at(&s, &at, w));
            }
            return Some(Vpc {
                id: vid,
                cidrs,
                origin: Some(v.origin()),
            });
        }
    }
    None
}

/// Warns when `it` belongs to another VPC than the one imported.
fn other_vpc(it: &Item, mine: Option<&str>, w: &mut Vec<Warning>) {
    if let (Some(o), Some(mine)) = (it.s("VpcId"), mine) {
        if o != mine {
            w.push(Warning::new(
                it.at("VpcId"),
                format!("belongs to VPC {o}, not {mine}: imported anyway"),
            ));
        }
    }
}

fn vswitches(
    list: &[Item],
    vpc_id: Option<&str>,
    out: &mut Vec<VSwitch>,
    w: &mut Vec<Warning>,
    id: &mut IdFn,
) {
    for it in list {
        other_vpc(it, vpc_id, w);
        let (Some(vid), Some(cidr)) = (id(it, "VSwitchId", w), it.cidr("CidrBlock", w)) else {
            continue;
        };
        let rt = it.child("RouteTable").and_then(|r| r.s("RouteTableId"));
        out.push(VSwitch {
            id: vid,
            cidr,
            route_table: rt,
            origin: Some(it.origin()),
        });
    }
}

/// Route tables (DescribeRouteTableList) and their entries (DescribeRouteEntryList).
fn route_tables(
    tables: &[Item],
    entries: &[Item],
    vpc_id: Option<&str>,
    out: &mut Vec<RouteTable>,
    w: &mut Vec<Warning>,
    id: &mut IdFn,
) {
    for it in tables {
        other_vpc(it, vpc_id, w);
        let Some(tid) = id(it, "RouteTableId", w) else {
            continue;
        };
        if it.s("AssociateType").is_some_and(|a| lc(&a) == "gateway") {
            w.push(Warning::new(
                it.at("AssociateType"),
                "a gateway route table (IPv4 gateway ingress) is not modelled: not imported",
            ));
            continue;
        }
        let system = match it.s("RouteTableType").map(|s| lc(&s)).as_deref() {
            Some("system") => true,
            Some("custom") | None => false,
            Some(o) => {
                w.push(Warning::new(
                    it.at("RouteTableType"),
                    format!("unknown route table type {o:?}: imported as custom"),
                ));
                false
            }
        };
        out.push(RouteTable {
            id: tid,
            system,
            entries: Vec::new(),
            origin: Some(it.origin()),
        });
    }
    for it in entries {
        let Some(tid) = id(it, "RouteTableId", w) else {
            continue;
        };
        if it.s("IpVersion").is_some_and(|v| lc(&v) == "ipv6") {
            continue;
        }
        let Some(dest) = it.cidr("DestinationCidrBlock", w) else {
            continue;
        };
        let hops = it.list("NextHops", "NextHop");
        let Some(h) = hops.first() else {
            w.push(Warning::new(
                it.at("NextHops"),
                "a route entry without a next hop: not imported",
            ));
            continue;
        };
        if hops.len() > 1 {
            w.push(Warning::new(
                it.at("NextHops"),
                format!(
                    "{} next hops (ECMP): vpntrace follows one; imported with the first",
                    hops.len()
                ),
            ));
        }
        let ty = h.s("NextHopType").unwrap_or_default();
        let kind = match lc(&ty).as_str() {
            "local" => continue, // a vSwitch's own route: implicit in every table
            "vpngateway" => NextHopKind::VpnGateway,
            "instance" => NextHopKind::Instance,
            "havip" => NextHopKind::Havip,
            "routerinterface" => NextHopKind::RouterInterface,
            "natgateway" => NextHopKind::NatGateway,
            "ipv4gateway" => NextHopKind::Ipv4Gateway,
            "attachment" => NextHopKind::TransitRouter,
            _ => {
                w.push(Warning::new(
                    h.at("NextHopType"),
                    format!(
                        "next-hop type {ty:?} is not modelled: the route to {dest} is not imported"
                    ),
                ));
                continue;
            }
        };
        let hop_id = h.s("NextHopId");
        if kind == NextHopKind::Instance && hop_id.as_deref().is_some_and(|x| x.starts_with("vpn-"))
        {
            w.push(Warning::new(h.at("NextHopId"), "next-hop type Instance names a VPN gateway (vpn-…): imported as type Instance, as written"));
        }
        let entry = RouteEntry {
            id: it.s("RouteEntryId"),
            destination: dest,
            next_hop: NextHop { kind, id: hop_id },
            origin: Some(it.origin()),
        };
        match out.iter_mut().find(|t| t.id == tid) {
            Some(t) => t.entries.push(entry),
            None => {
                w.push(Warning::new(it.at("RouteTableId"), format!("route table {tid} is not in DescribeRouteTableList: imported as a custom table")));
                out.push(RouteTable {
                    id: tid,
                    system: false,
                    entries: vec![entry],
                    origin: None,
                });
            }
        }
    }
}

/// Instances in the VPC, each with its first private address and its groups.
fn instances(
    list: &[Item],
    vpc_id: Option<&str>,
    out: &mut Vec<crate::input::Instance>,
    w: &mut Vec<Warning>,
    id: &mut IdFn,
) {
    for it in list {
        let Some(iid) = id(it, "InstanceId", w) else {
            continue;
        };
        if let Some(st) = it.s("Status").filter(|s| lc(s) != "running") {
            w.push(Warning::new(
                it.at("Status"),
                format!("instance {iid} is {st}: imported as if running"),
            ));
        }
        let Some(va) = it.child("VpcAttributes") else {
            w.push(Warning::new(
                it.at("VpcAttributes"),
                format!("instance {iid} is not in a VPC: not imported"),
            ));
            continue;
        };
        other_vpc(&va, vpc_id, w);
        let ips = va
            .child("PrivateIpAddress")
            .map(|p| p.list_raw("IpAddress"))
            .unwrap_or_default();
        let Some((first, at)) = ips.first() else {
            w.push(Warning::new(
                va.at("PrivateIpAddress"),
                format!("instance {iid} has no private address: not imported"),
            ));
            continue;
        };
        if ips.len() > 1 {
            w.push(Warning::new(
                &ips[1].1,
                format!("instance {iid}: only its first private address is modelled"),
            ));
        }
        let Some(ip) = cidr_at(first, at, w) else {
            continue;
        };
        let Some(vsw) = va.s("VSwitchId") else {
            w.push(Warning::new(
                va.at("VSwitchId"),
                format!("instance {iid} names no vSwitch: not imported"),
            ));
            continue;
        };
        let sgs = it
            .strings("SecurityGroupIds", "SecurityGroupId")
            .into_iter()
            .map(|x| x.0)
            .collect();
        if it
            .list("NetworkInterfaces", "NetworkInterface")
            .iter()
            .any(|n| n.s("Type").is_some_and(|t| lc(&t) == "secondary"))
        {
            w.push(Warning::new(
                it.at("NetworkInterfaces"),
                format!("instance {iid}: secondary network interfaces are not modelled"),
            ));
        }
        out.push(crate::input::Instance {
            id: iid,
            ip,
            vswitch: vsw,
            security_groups: sgs,
            origin: Some(it.origin()),
        });
    }
}

/// VPN gateways (DescribeVpnGateways, or DescribeVpnGateway per gateway), each once.
fn vpn_gateways(
    gws: Vec<Item>,
    vpc_id: Option<&str>,
    out: &mut Vec<VpnGateway>,
    w: &mut Vec<Warning>,
    id: &mut IdFn,
) {
    for it in gws {
        let Some(gid) = id(&it, "VpnGatewayId", w) else {
            continue;
        };
        if out.iter().any(|g| g.id == gid) {
            continue;
        }
        other_vpc(&it, vpc_id, w);
        for (key, ok) in [
            ("Status", "active"),
            ("BusinessStatus", "normal"),
            ("IpsecVpn", "enable"),
        ] {
            if let Some(v) = it.s(key).filter(|v| lc(v) != ok) {
                w.push(Warning::new(
                    it.at(key),
                    format!("VPN gateway {gid}: {key} is {v:?} (not {ok}); imported as if it were"),
                ));
            }
        }
        if it.s("DisasterRecoveryInternetIp").is_some() {
            w.push(Warning::new(it.at("DisasterRecoveryInternetIp"), format!("VPN gateway {gid} is dual-tunnel: vpntrace models the first tunnel's address (InternetIp)")));
        }
        let Some(ip) = it.cidr("InternetIp", w) else {
            w.push(Warning::new(
                it.at("InternetIp"),
                format!("VPN gateway {gid} has no usable public address: not imported"),
            ));
            continue;
        };
        out.push(VpnGateway {
            id: gid,
            public_ip: ip,
            routes: Vec::new(),
            origin: Some(it.origin()),
        });
    }
}

impl Item<'_> {
    /// A bare array of strings under `key`, each with its location.
    fn list_raw(&self, key: &str) -> Vec<(String, String)> {
        let Some(Value::Array(a)) = self.v.get(key) else {
            return Vec::new();
        };
        a.iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.as_str().map(|s| {
                    (
                        s.to_string(),
                        format!("{}#{}/{}/{i}", self.file, self.ptr, pointer_token(key)),
                    )
                })
            })
            .collect()
    }
}

type IdFn<'a> = dyn FnMut(&Item, &str, &mut Vec<Warning>) -> Option<String> + 'a;

fn security_groups(
    list: &[Item],
    attrs: &[Item],
    out: &mut Vec<SecurityGroup>,
    w: &mut Vec<Warning>,
    id: &mut IdFn,
) {
    let mut kinds: BTreeMap<String, SgType> = BTreeMap::new();
    for it in list {
        let Some(gid) = id(it, "SecurityGroupId", w) else {
            continue;
        };
        let kind = match it.s("SecurityGroupType").map(|s| lc(&s)).as_deref() {
            Some("enterprise") => SgType::Enterprise,
            Some("normal") | None => SgType::Basic,
            Some(o) => {
                w.push(Warning::new(
                    it.at("SecurityGroupType"),
                    format!("unknown group type {o:?}: imported as basic"),
                ));
                SgType::Basic
            }
        };
        kinds.insert(gid.clone(), kind);
        out.push(SecurityGroup {
            id: gid,
            kind,
            inner_access: None,
            rules: Vec::new(),
            origin: Some(it.origin()),
        });
    }
    for a in attrs {
        let Some(gid) = id(a, "SecurityGroupId", w) else {
            continue;
        };
        let pos = match out.iter().position(|g| g.id == gid) {
            Some(p) => p,
            None => {
                if !list.is_empty() {
                    w.push(Warning::new(
                        a.at("SecurityGroupId"),
                        format!("group {gid} is not in DescribeSecurityGroups"),
                    ));
                }
                w.push(Warning::new(a.at("SecurityGroupId"), format!("group {gid}: its type is in DescribeSecurityGroups, which is missing: imported as basic")));
                out.push(SecurityGroup {
                    id: gid.clone(),
                    kind: SgType::Basic,
                    inner_access: None,
                    rules: Vec::new(),
                    origin: Some(a.origin()),
                });
                out.len() - 1
            }
        };
        let g = &mut out[pos];
        g.inner_access = match a.s("InnerAccessPolicy").map(|s| lc(&s)).as_deref() {
            Some("accept") => Some(Action::Accept),
            Some("drop") => Some(Action::Drop),
            None => None,
            Some(o) => {
                w.push(Warning::new(
                    a.at("InnerAccessPolicy"),
                    format!("unknown value {o:?}: left out (accept is assumed)"),
                ));
                None
            }
        };
        if g.kind == SgType::Enterprise {
            g.inner_access = None;
        }
        for p in a.list("Permissions", "Permission") {
            if let Some(r) = sg_rule(&p, w) {
                g.rules.push(r);
            }
        }
    }
}

fn sg_rule(p: &Item, w: &mut Vec<Warning>) -> Option<SgRule> {
    let direction = match p.s("Direction").map(|s| lc(&s)).as_deref() {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        o => {
            w.push(Warning::new(
                p.at("Direction"),
                format!("expected ingress or egress, got {o:?}: rule not imported"),
            ));
            return None;
        }
    };
    let policy = match p.s("Policy").map(|s| lc(&s)).as_deref() {
        Some("accept") | None => Action::Accept,
        Some("drop") => Action::Drop,
        Some(o) => {
            w.push(Warning::new(
                p.at("Policy"),
                format!("expected Accept or Drop, got {o:?}: rule not imported"),
            ));
            return None;
        }
    };
    let priority = match p.n("Priority", w) {
        None => 1,
        Some(n) if (1..=100).contains(&n) => n as u8,
        Some(n) => {
            w.push(Warning::new(
                p.at("Priority"),
                format!("priority {n} is outside 1..100: rule not imported"),
            ));
            return None;
        }
    };
    let proto_s = p.s("IpProtocol").unwrap_or_else(|| "ALL".into());
    let Ok(protocol) = proto_s.parse::<Protocol>() else {
        w.push(Warning::new(
            p.at("IpProtocol"),
            format!("protocol {proto_s:?} is not modelled: rule not imported"),
        ));
        return None;
    };
    let ports = match p.s("PortRange") {
        None => Ports::ANY,
        Some(s) => match s.parse::<Ports>() {
            Ok(Ports { lo: 1, hi: 65535 }) => Ports::ANY,
            Ok(x) => x,
            Err(e) => {
                w.push(Warning::new(
                    p.at("PortRange"),
                    format!("{e}: rule not imported"),
                ));
                return None;
            }
        },
    };
    if let Some(s) = p
        .s("SourcePortRange")
        .filter(|s| s != "-1/-1" && s != "1/65535")
    {
        w.push(Warning::new(
            p.at("SourcePortRange"),
            format!("source ports {s} are not modelled: imported without them"),
        ));
    }
    if p.s("NicType").is_some_and(|n| lc(&n) == "internet") {
        w.push(Warning::new(
            p.at("NicType"),
            "an internet (classic network) rule does not apply to VPC traffic: not imported",
        ));
        return None;
    }
    let (cidr_key, group_key, pl_key) = match direction {
        Direction::Ingress => ("SourceCidrIp", "SourceGroupId", "SourcePrefixListId"),
        Direction::Egress => ("DestCidrIp", "DestGroupId", "DestPrefixListId"),
    };
    let (peer, peer_group) = if let Some(s) = p.s(cidr_key) {
        (Some(cidr_at(&s, &p.at(cidr_key), w)?), None)
    } else if let Some(g) = p.s(group_key) {
        (None, Some(g))
    } else if let Some(pl) = p.s(pl_key) {
        w.push(Warning::new(
            p.at(pl_key),
            format!("prefix list {pl} is not modelled: rule not imported"),
        ));
        return None;
    } else {
        // An IPv6-only rule: not modelled.
        return None;
    };
    Some(SgRule {
        id: p.s("SecurityGroupRuleId"),
        direction,
        policy,
        priority,
        protocol,
        ports,
        peer,
        peer_group,
        origin: Some(p.origin()),
    })
}

fn vpn_routes(dest: &[Item], pbr: &[Item], gws: &mut [VpnGateway], w: &mut Vec<Warning>) {
    for (it, policy) in dest
        .iter()
        .map(|i| (i, false))
        .chain(pbr.iter().map(|i| (i, true)))
    {
        let Some(gid) = it.s("VpnInstanceId") else {
            w.push(Warning::new(
                it.at("VpnInstanceId"),
                "a VPN route without its gateway (VpnInstanceId): not imported",
            ));
            continue;
        };
        let Some(g) = gws.iter_mut().find(|g| g.id == gid) else {
            w.push(Warning::new(
                it.at("VpnInstanceId"),
                format!(
                    "VPN gateway {gid} is not in DescribeVpnGateways: its route is not imported"
                ),
            ));
            continue;
        };
        let Some(destination) = it.cidr("RouteDest", w) else {
            continue;
        };
        let Some(next_hop) = it.s("NextHop") else {
            w.push(Warning::new(
                it.at("NextHop"),
                "a VPN route without a next hop: not imported",
            ));
            continue;
        };
        if it.s("Weight").as_deref() == Some("0") {
            w.push(Warning::new(it.at("Weight"), format!("standby route (weight 0) to {destination} via {next_hop}: vpntrace follows active routes only; not imported")));
            continue;
        }
        let published = match it.s("State").map(|s| lc(&s)).as_deref() {
            Some("published") => true,
            Some("normal") | None => false,
            Some(o) => {
                w.push(Warning::new(
                    it.at("State"),
                    format!("unknown route state {o:?}: imported as not published"),
                ));
                false
            }
        };
        let mut r = VpnRoute {
            id: None,
            kind: VpnRouteType::Destination,
            source: None,
            destination,
            next_hop,
            priority: 1,
            publish_to_vpc: published,
            origin: Some(it.origin()),
        };
        if policy {
            r.kind = VpnRouteType::Policy;
            r.source = Some(match it.cidr("RouteSource", w) {
                Some(s) => s,
                None => continue,
            });
            r.priority = match it.n("Priority", w) {
                None => 10,
                Some(n) if (1..=100).contains(&n) => n as u8,
                Some(n) => {
                    w.push(Warning::new(
                        it.at("Priority"),
                        format!("priority {n} is outside 1..100: route not imported"),
                    ));
                    continue;
                }
            };
            if published {
                w.push(Warning::new(it.at("State"), "a published policy route: its VPC route appears in DescribeRouteEntryList, from which it is imported"));
                r.publish_to_vpc = false;
            }
        }
        g.routes.push(r);
    }
}

fn status(it: &Item, key: &str, w: &mut Vec<Warning>) -> Option<ConnStatus> {
    let s = lc(&it.s(key)?);
    Some(match s.as_str() {
        "ike_sa_not_established" => ConnStatus::IkeSaNotEstablished,
        "ipsec_sa_not_established" => ConnStatus::IpsecSaNotEstablished,
        "ipsec_sa_established" => ConnStatus::IpsecSaEstablished,
        "ike_sa_established" => {
            w.push(Warning::new(it.at(key), "ike_sa_established (phase 1 up, phase 2 not yet): imported as ipsec_sa_not_established"));
            ConnStatus::IpsecSaNotEstablished
        }
        _ => {
            w.push(Warning::new(
                it.at(key),
                format!("unknown status {s:?}: left out"),
            ));
            return None;
        }
    })
}

fn ike(it: &Item, w: &mut Vec<Warning>) -> Ike {
    let one = |x: Option<String>| x.map(StrOrList::One);
    let psk = it.s("Psk");
    if psk.as_deref().is_some_and(is_placeholder) {
        w.push(Warning::new(it.at("Psk"), "the pre-shared key is a placeholder (documentation example data?): imported as written, it will not match the other end"));
    }
    Ike {
        version: known(it, "IkeVersion", &["ikev1", "ikev2"], w),
        mode: known(it, "IkeMode", &["main", "aggressive"], w),
        psk,
        encryption: one(known(it, "IkeEncAlg", ENC, w)),
        integrity: one(known(it, "IkeAuthAlg", AUTH, w)),
        dh_group: one(known(it, "IkePfs", GROUPS, w)),
        lifetime: it.n("IkeLifetime", w),
        local_id: it.s("LocalId"),
        remote_id: it.s("RemoteId"),
        proposals: Vec::new(),
    }
}

fn ipsec(it: &Item, w: &mut Vec<Warning>) -> IpsecParams {
    let one = |x: Option<String>| x.map(StrOrList::One);
    let mut pfs_allowed = GROUPS.to_vec();
    pfs_allowed.push("disabled");
    IpsecParams {
        encryption: one(known(it, "IpsecEncAlg", ENC, w)),
        integrity: one(known(it, "IpsecAuthAlg", AUTH, w)),
        pfs: one(known(it, "IpsecPfs", &pfs_allowed, w)),
        lifetime: it.n("IpsecLifetime", w),
        proposals: Vec::new(),
    }
}

fn connection(it: &Item, cid: String, w: &mut Vec<Warning>) -> Option<IpsecConnection> {
    let Some(gw) = it.s("VpnGatewayId") else {
        w.push(Warning::new(
            it.at("VpnGatewayId"),
            format!(
                "connection {cid} is attached to no VPN gateway (AttachType {:?}): not imported",
                it.s("AttachType").unwrap_or_default()
            ),
        ));
        return None;
    };
    let mut c = IpsecConnection {
        id: cid.clone(),
        vpn_gateway: gw,
        customer_gateway: it.s("CustomerGatewayId").unwrap_or_default(),
        local_subnets: csv_cidrs(it, "LocalSubnet", w),
        remote_subnets: csv_cidrs(it, "RemoteSubnet", w),
        ike: it
            .child("IkeConfig")
            .map(|x| ike(&x, w))
            .unwrap_or_default(),
        ipsec: it
            .child("IpsecConfig")
            .map(|x| ipsec(&x, w))
            .unwrap_or_default(),
        status: status(it, "Status", w),
        sas: None,
        origin: Some(it.origin()),
    };
    let tunnels = it
        .child("TunnelOptionsSpecification")
        .map(|t| {
            let Some(Value::Array(a)) = t.v.get("TunnelOptions") else {
                return Vec::new();
            };
            a.iter()
                .enumerate()
                .map(|(i, v)| Item {
                    file: t.file.clone(),
                    ptr: format!("{}/TunnelOptions/{i}", t.ptr),
                    v,
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if !tunnels.is_empty() {
        // Dual tunnel: the per-tunnel values are authoritative; vpntrace models one tunnel.
        let master = tunnels
            .iter()
            .find(|t| t.s("Role").is_some_and(|r| lc(&r) == "master"))
            .unwrap_or(&tunnels[0]);
        for t in tunnels.iter().filter(|t| t.ptr != master.ptr) {
            w.push(Warning::new(format!("{}#{}", t.file, t.ptr), format!("connection {cid}: tunnel {} ({}) is not modelled; vpntrace imports the master tunnel {}", t.s("TunnelId").unwrap_or_default(), t.s("Role").unwrap_or_default(), master.s("TunnelId").unwrap_or_default())));
        }
        if let Some(g) = master.s("CustomerGatewayId") {
            c.customer_gateway = g;
        }
        if let Some(x) = master.child("TunnelIkeConfig") {
            c.ike = ike(&x, w);
        }
        if let Some(x) = master.child("TunnelIpsecConfig") {
            c.ipsec = ipsec(&x, w);
        }
        if let Some(s) = status(master, "Status", w) {
            c.status = Some(s);
        }
    }
    if c.customer_gateway.is_empty() {
        w.push(Warning::new(
            it.at("CustomerGatewayId"),
            format!("connection {cid} names no customer gateway: not imported"),
        ));
        return None;
    }
    if c.local_subnets.is_empty() || c.remote_subnets.is_empty() {
        w.push(Warning::new(
            it.at("LocalSubnet"),
            format!("connection {cid} has no usable local or remote subnet: not imported"),
        ));
        return None;
    }
    Some(c)
}
