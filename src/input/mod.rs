//! The topology file as written (SPEC "Input: topology file"), mirrored by serde structs.
//!
//! Values that have a syntax of their own (CIDRs, ports, protocols, priorities) are
//! parsed here so that an error carries its JSON path. References between objects are
//! resolved later, by [`crate::model::lower`].

pub mod error;
pub mod import;
pub mod swanctl;

use serde::{Deserialize, Serialize};

use crate::net::addr::{Cidr, Ports, Protocol};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub format: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub cloud: Cloud,
    #[serde(default)]
    pub onprem: Onprem,
    /// Flows worth tracing in this topology (the ones its `name` is about). `trace`
    /// without `--from`/`--to` traces each of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowSpec>,
}

/// A flow named in the topology file: endpoints are ids or addresses, as for `trace`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// What the author expects: `delivered` both ways, or the failing disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cloud {
    pub vpc: Vpc,
    #[serde(default)]
    pub vswitches: Vec<VSwitch>,
    #[serde(default)]
    pub route_tables: Vec<RouteTable>,
    #[serde(default)]
    pub security_groups: Vec<SecurityGroup>,
    #[serde(default)]
    pub instances: Vec<Instance>,
    #[serde(default)]
    pub vpn_gateways: Vec<VpnGateway>,
    #[serde(default)]
    pub customer_gateways: Vec<CustomerGateway>,
    #[serde(default)]
    pub ipsec_connections: Vec<IpsecConnection>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    pub id: String,
    pub cidrs: Vec<Cidr>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VSwitch {
    pub id: String,
    pub cidr: Cidr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<String>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    pub id: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub system: bool,
    #[serde(default)]
    pub entries: Vec<RouteEntry>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub destination: Cidr,
    pub next_hop: NextHop,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    #[serde(rename = "type")]
    pub kind: NextHopKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextHopKind {
    VpnGateway,
    Instance,
    Havip,
    RouterInterface,
    NatGateway,
    Ipv4Gateway,
    TransitRouter,
    Blackhole,
}

impl NextHopKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NextHopKind::VpnGateway => "vpn_gateway",
            NextHopKind::Instance => "instance",
            NextHopKind::Havip => "havip",
            NextHopKind::RouterInterface => "router_interface",
            NextHopKind::NatGateway => "nat_gateway",
            NextHopKind::Ipv4Gateway => "ipv4_gateway",
            NextHopKind::TransitRouter => "transit_router",
            NextHopKind::Blackhole => "blackhole",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SgType {
    #[default]
    Basic,
    Enterprise,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Accept,
    Drop,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Drop => "drop",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ingress,
    Egress,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: SgType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_access: Option<Action>,
    #[serde(default)]
    pub rules: Vec<SgRule>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SgRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub direction: Direction,
    #[serde(default)]
    pub policy: Action,
    #[serde(default = "one", deserialize_with = "priority_1_100")]
    pub priority: u8,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default)]
    pub ports: Ports,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_group: Option<String>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub id: String,
    pub ip: Cidr,
    pub vswitch: String,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VpnGateway {
    pub id: String,
    pub public_ip: Cidr,
    #[serde(default)]
    pub routes: Vec<VpnRoute>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VpnRouteType {
    Policy,
    Destination,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VpnRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: VpnRouteType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Cidr>,
    pub destination: Cidr,
    pub next_hop: String,
    #[serde(default = "one", deserialize_with = "priority_1_100")]
    pub priority: u8,
    #[serde(default, skip_serializing_if = "is_false")]
    pub publish_to_vpc: bool,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerGateway {
    pub id: String,
    pub ip: Cidr,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ike {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<StrOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<StrOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dh_group: Option<StrOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// strongSwan-style proposal strings (`aes256-sha256-modp2048`), any number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IpsecParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<StrOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<StrOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pfs: Option<StrOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<String>,
}

/// One algorithm name or a list of acceptable ones.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum StrOrList {
    One(String),
    Many(Vec<String>),
}

impl StrOrList {
    pub fn items(&self) -> Vec<&str> {
        match self {
            StrOrList::One(s) => vec![s.as_str()],
            StrOrList::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnStatus {
    IkeSaNotEstablished,
    IpsecSaNotEstablished,
    IpsecSaEstablished,
}

impl ConnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnStatus::IkeSaNotEstablished => "ike_sa_not_established",
            ConnStatus::IpsecSaNotEstablished => "ipsec_sa_not_established",
            ConnStatus::IpsecSaEstablished => "ipsec_sa_established",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sa {
    pub local: Vec<Cidr>,
    pub remote: Vec<Cidr>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IpsecConnection {
    pub id: String,
    pub vpn_gateway: String,
    pub customer_gateway: String,
    pub local_subnets: Vec<Cidr>,
    pub remote_subnets: Vec<Cidr>,
    #[serde(default)]
    pub ike: Ike,
    #[serde(default)]
    pub ipsec: IpsecParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ConnStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas: Option<Vec<Sa>>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Onprem {
    #[serde(default)]
    pub devices: Vec<Device>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Gateway,
    Router,
    Firewall,
    Host,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Gateway => "gateway",
            DeviceKind::Router => "router",
            DeviceKind::Firewall => "firewall",
            DeviceKind::Host => "host",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RpFilter {
    #[default]
    Off,
    Loose,
    Strict,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub id: String,
    pub kind: DeviceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub nat: Vec<NatRule>,
    #[serde(default)]
    pub ipsec: Vec<DeviceIpsec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_filter: Option<RpFilter>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Inside,
    Outside,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    pub address: Cidr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The public address this interface is seen as behind a NAT device (NAT-T).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_address: Option<Cidr>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub destination: Cidr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<String>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default = "yes")]
    pub stateful: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Chain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<Chain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Chain>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    #[serde(default)]
    pub default: Action,
    #[serde(default)]
    pub rules: Vec<FilterRule>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilterRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Cidr>,
    #[serde(default, skip_serializing_if = "is_all")]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Ports::is_any")]
    pub source_ports: Ports,
    #[serde(default, skip_serializing_if = "Ports::is_any")]
    pub destination_ports: Ports,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_interface: Option<String>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NatAction {
    NoNat,
    SourceNat,
    DestinationNat,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub action: NatAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Cidr>,
    #[serde(default, skip_serializing_if = "is_all")]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Ports::is_any")]
    pub destination_ports: Ports,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_interface: Option<String>,
    /// `interface` (masquerade / easy-ip) or an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Destination NAT may also rewrite the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<u16>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpsecMode {
    Policy,
    Route,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceIpsec {
    pub connection: String,
    pub mode: IpsecMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Cidr>,
    #[serde(default)]
    pub local_subnets: Vec<Cidr>,
    #[serde(default)]
    pub remote_subnets: Vec<Cidr>,
    #[serde(default)]
    pub ike: Ike,
    #[serde(default)]
    pub ipsec: IpsecParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas: Option<Vec<Sa>>,
    /// Where this object was read from (`iptables-save.txt:14`, `DescribeVpcs.json#/Vpcs/Vpc/0`), set by `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

fn one() -> u8 {
    1
}
fn yes() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_all(p: &Protocol) -> bool {
    *p == Protocol::All
}

fn priority_1_100<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(i64),
        S(String),
    }
    let n = match Raw::deserialize(d)? {
        Raw::N(n) => n,
        Raw::S(s) => s.trim().parse::<i64>().map_err(|_| {
            serde::de::Error::custom(format!("expected a priority 1..100, got {s:?}"))
        })?,
    };
    if (1..=100).contains(&n) {
        Ok(n as u8)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a priority 1..100 (1 is highest), got {n}"
        )))
    }
}
