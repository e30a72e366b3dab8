//! The changes vpntrace proposes as fixes, typed: one variant per kind of change. A
//! finding carries one in its `change` field; `analysis::fix` applies it to a topology
//! (to verify it, and for `check --write-fixed`).
//!
//! The JSON of a change is the SPEC's `change` object: an `op` naming the kind and the
//! fields below, keys in alphabetical order (as they have always been written).
//!
//! | `op` | variant | what it does |
//! |---|---|---|
//! | `add_route_entry` | [`Change::AddRouteEntry`] | VRouter route-table entries toward the VPN gateway |
//! | `publish_vpn_route` | [`Change::PublishVpnRoute`] | publish a VPN-gateway destination route to the VPC |
//! | `add_vpn_route` | [`Change::AddVpnRoute`] | VPN-gateway destination routes into a connection, published |
//! | `add_sg_rule` | [`Change::AddSgRule`] | accept rules in a security group |
//! | `insert_filter_rule` | [`Change::InsertFilterRule`] | accept rules in an on-prem filter chain |
//! | `add_device_route` | [`Change::AddDeviceRoute`] | routes on an on-prem device |
//! | `insert_no_nat` | [`Change::InsertNoNat`] | no-NAT rules before a source-NAT rule |
//! | `enable_forwarding` | [`Change::EnableForwarding`] | `net.ipv4.ip_forward=1` |
//! | `set_rp_filter` | [`Change::SetRpFilter`] | loose reverse-path filtering |
//! | `split_connection` | [`Change::SplitConnection`] | one connection per subnet pair (FAQ 5) |
//! | `set_ike_version` | [`Change::SwitchToIkev2`] | IKEv2 on both ends, or else the split |
//! | `delete_sg_rule` | [`Change::DeleteSgRule`] | remove a wrong rule from a security group |
//! | `delete_filter_rule` | [`Change::DeleteFilterRule`] | remove a wrong rule from a filter chain |
//! | `narrow_sg_rule` | [`Change::NarrowSgRule`] | a wrong drop rule of a security group, for fewer peers |
//! | `set_ipsec_settings` | [`Change::SetIpsecSettings`] | phase-1/2 settings of a connection's ends (FAQ 1, 2) |
//! | `establish_connection` | [`Change::EstablishConnection`] | the connection's status once both ends agree |

use std::fmt;
use std::net::Ipv4Addr;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::input::Direction;
use crate::model::ChainKind;
use crate::net::addr::{Cidr, Ports, Protocol};

/// A change to the topology that fixes a finding. Ids name the elements as the topology
/// writes them (route table, VPN gateway, security group, device, rule ids).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Route-table entries for `destinations` with next hop VPN gateway `vpn_gateway`
    /// (an entry of the same destination is replaced). `replaces` names the entry that
    /// sent the traffic elsewhere, when one did.
    AddRouteEntry {
        route_table: String,
        destinations: Vec<Cidr>,
        vpn_gateway: String,
        replaces: Option<String>,
    },
    /// Publish the VPN gateway's destination route `route` (its id, or its JSON path when
    /// it has none) to the VPC.
    PublishVpnRoute { vpn_gateway: String, route: String },
    /// Destination routes of the VPN gateway into connection `connection`, published to
    /// the VPC.
    AddVpnRoute {
        vpn_gateway: String,
        destinations: Vec<Cidr>,
        connection: String,
    },
    /// Accept rules in a security group, one per peer.
    AddSgRule {
        security_group: String,
        direction: Direction,
        priority: u8,
        protocol: Protocol,
        ports: Ports,
        peers: Vec<Cidr>,
    },
    /// Accept rules in a filter chain of an on-prem device, one per source × destination,
    /// before rule `before` (at the end of the chain when None).
    InsertFilterRule {
        device: String,
        chain: ChainKind,
        before: Option<String>,
        sources: Vec<Cidr>,
        destinations: Vec<Cidr>,
        protocol: Protocol,
        destination_ports: Ports,
        source_ports: Ports,
    },
    /// Routes on an on-prem device, ahead of its others; a route of the same prefix is
    /// replaced (the route the fix changes).
    AddDeviceRoute {
        device: String,
        destinations: Vec<Cidr>,
        via: Via,
    },
    /// No-NAT rules (one per source × destination) before source-NAT rule `before`.
    InsertNoNat {
        device: String,
        before: String,
        sources: Vec<Cidr>,
        destinations: Vec<Cidr>,
    },
    /// IP forwarding on.
    EnableForwarding { device: String },
    /// Reverse-path filtering set to loose.
    SetRpFilter { device: String },
    /// One connection per subnet pair, on both ends (see `analysis::split`).
    SplitConnection { connection: String },
    /// Both ends to IKEv2, which carries every selector in one SA; the alternative is to
    /// split the connection.
    SwitchToIkev2 { connection: String },
    /// Remove rule `rule` (its id, or its JSON path when it has none) from a security
    /// group: the rule that decides wrongly, when removing it lets the traffic through.
    DeleteSgRule {
        security_group: String,
        rule: String,
    },
    /// Narrow drop rule `rule` of a security group to `peers` (one rule each, the same
    /// otherwise): what it dropped minus the traffic it must not.
    NarrowSgRule {
        security_group: String,
        rule: String,
        peers: Vec<Cidr>,
    },
    /// Remove rule `rule` (its id or JSON path) from a filter chain of an on-prem device.
    DeleteFilterRule {
        device: String,
        chain: ChainKind,
        rule: String,
    },
    /// Phase-1/2 settings of connection `connection`, on either end, so that both ends
    /// agree (FAQ 1, 2).
    SetIpsecSettings {
        connection: String,
        settings: Vec<Setting>,
    },
    /// The connection's status `ipsec_sa_established`, with one SA for its subnets on
    /// both ends: what the gateways report once their settings agree.
    EstablishConnection { connection: String },
}

/// Which end of a connection a setting is changed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    /// The Alibaba Cloud IPsec connection.
    Cloud,
    /// The on-prem device's `ipsec` entry for the connection.
    Idc,
}

impl End {
    pub fn as_str(self) -> &'static str {
        match self {
            End::Cloud => "cloud",
            End::Idc => "idc",
        }
    }
}

/// A setting's new value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SettingValue {
    Text(String),
    Cidrs(Vec<Cidr>),
    /// Removed: the end's default applies (an ID then is the end's address).
    Unset,
    /// The pre-shared key of the other end (never written out).
    KeyOf(End),
}

/// One setting of one end: `field` is its path in the topology's connection object
/// (cloud) or in the device's `ipsec` entry (IDC), as `ike.version`, `ike.remote_id`,
/// `ipsec.pfs`, `local_subnets`, `peer`; `customer_gateway.ip` is the cloud's customer
/// gateway address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Setting {
    pub end: End,
    pub field: String,
    pub value: SettingValue,
}

impl Serialize for Setting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("end", self.end.as_str())?;
        map.serialize_entry("field", &self.field)?;
        match &self.value {
            SettingValue::Text(t) => map.serialize_entry("value", t)?,
            SettingValue::Cidrs(c) => map.serialize_entry("value", c)?,
            SettingValue::Unset => map.serialize_entry("value", &())?,
            SettingValue::KeyOf(e) => {
                let mut v = serde_json::Map::new();
                v.insert("same_as".into(), e.as_str().into());
                map.serialize_entry("value", &v)?
            }
        }
        map.end()
    }
}

/// The next hop of a proposed on-prem route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// Into the route-mode tunnel of connection `tunnel`.
    Tunnel(String),
    /// Out of an interface, through a gateway when one is known.
    Interface {
        interface: String,
        gateway: Option<Ipv4Addr>,
    },
}

impl Change {
    /// The `op` of the change's JSON.
    pub fn op(&self) -> &'static str {
        match self {
            Change::AddRouteEntry { .. } => "add_route_entry",
            Change::PublishVpnRoute { .. } => "publish_vpn_route",
            Change::AddVpnRoute { .. } => "add_vpn_route",
            Change::AddSgRule { .. } => "add_sg_rule",
            Change::InsertFilterRule { .. } => "insert_filter_rule",
            Change::AddDeviceRoute { .. } => "add_device_route",
            Change::InsertNoNat { .. } => "insert_no_nat",
            Change::EnableForwarding { .. } => "enable_forwarding",
            Change::SetRpFilter { .. } => "set_rp_filter",
            Change::SplitConnection { .. } => "split_connection",
            Change::SwitchToIkev2 { .. } => "set_ike_version",
            Change::DeleteSgRule { .. } => "delete_sg_rule",
            Change::DeleteFilterRule { .. } => "delete_filter_rule",
            Change::NarrowSgRule { .. } => "narrow_sg_rule",
            Change::SetIpsecSettings { .. } => "set_ipsec_settings",
            Change::EstablishConnection { .. } => "establish_connection",
        }
    }
}

/// `{"id": …, "type": "vpn_gateway"}`: a route-table entry's next hop.
struct VpnGatewayHop<'a>(&'a str);

impl Serialize for VpnGatewayHop<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("id", self.0)?;
        map.serialize_entry("type", "vpn_gateway")?;
        map.end()
    }
}

impl Serialize for Via {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Via::Tunnel(t) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("tunnel", t)?;
                map.end()
            }
            Via::Interface { interface, gateway } => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("gateway", &gateway.map(|g| g.to_string()))?;
                map.serialize_entry("interface", interface)?;
                map.end()
            }
        }
    }
}

/// Keys in alphabetical order, `op` among them: the order the JSON has always had.
impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let op = self.op();
        match self {
            Change::AddRouteEntry {
                route_table,
                destinations,
                vpn_gateway,
                replaces,
            } => {
                map.serialize_entry("destinations", destinations)?;
                map.serialize_entry("next_hop", &VpnGatewayHop(vpn_gateway))?;
                map.serialize_entry("op", op)?;
                if let Some(r) = replaces {
                    map.serialize_entry("replaces", r)?;
                }
                map.serialize_entry("route_table", route_table)?;
            }
            Change::PublishVpnRoute { vpn_gateway, route } => {
                map.serialize_entry("op", op)?;
                map.serialize_entry("route", route)?;
                map.serialize_entry("vpn_gateway", vpn_gateway)?;
            }
            Change::AddVpnRoute {
                vpn_gateway,
                destinations,
                connection,
            } => {
                map.serialize_entry("destinations", destinations)?;
                map.serialize_entry("next_hop", connection)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("publish_to_vpc", &true)?;
                map.serialize_entry("vpn_gateway", vpn_gateway)?;
            }
            Change::AddSgRule {
                security_group,
                direction,
                priority,
                protocol,
                ports,
                peers,
            } => {
                map.serialize_entry("direction", direction)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("peers", peers)?;
                map.serialize_entry("policy", "accept")?;
                map.serialize_entry("ports", ports)?;
                map.serialize_entry("priority", priority)?;
                map.serialize_entry("protocol", protocol)?;
                map.serialize_entry("security_group", security_group)?;
            }
            Change::InsertFilterRule {
                device,
                chain,
                before,
                sources,
                destinations,
                protocol,
                destination_ports,
                source_ports,
            } => {
                map.serialize_entry("before", before)?;
                map.serialize_entry("chain", chain.as_str())?;
                map.serialize_entry("destination_ports", destination_ports)?;
                map.serialize_entry("destinations", destinations)?;
                map.serialize_entry("device", device)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("protocol", protocol)?;
                map.serialize_entry("source_ports", source_ports)?;
                map.serialize_entry("sources", sources)?;
            }
            Change::AddDeviceRoute {
                device,
                destinations,
                via,
            } => {
                map.serialize_entry("destinations", destinations)?;
                map.serialize_entry("device", device)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("via", via)?;
            }
            Change::InsertNoNat {
                device,
                before,
                sources,
                destinations,
            } => {
                map.serialize_entry("before", before)?;
                map.serialize_entry("destinations", destinations)?;
                map.serialize_entry("device", device)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("sources", sources)?;
            }
            Change::EnableForwarding { device } => {
                map.serialize_entry("device", device)?;
                map.serialize_entry("op", op)?;
            }
            Change::SetRpFilter { device } => {
                map.serialize_entry("device", device)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("value", "loose")?;
            }
            Change::SplitConnection { connection } => {
                map.serialize_entry("connection", connection)?;
                map.serialize_entry("op", op)?;
            }
            Change::SwitchToIkev2 { connection } => {
                let split = Change::SplitConnection {
                    connection: connection.clone(),
                };
                map.serialize_entry("alternative", &split)?;
                map.serialize_entry("connection", connection)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("version", "ikev2")?;
            }
            Change::DeleteSgRule {
                security_group,
                rule,
            } => {
                map.serialize_entry("op", op)?;
                map.serialize_entry("rule", rule)?;
                map.serialize_entry("security_group", security_group)?;
            }
            Change::DeleteFilterRule {
                device,
                chain,
                rule,
            } => {
                map.serialize_entry("chain", chain.as_str())?;
                map.serialize_entry("device", device)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("rule", rule)?;
            }
            Change::NarrowSgRule {
                security_group,
                rule,
                peers,
            } => {
                map.serialize_entry("op", op)?;
                map.serialize_entry("peers", peers)?;
                map.serialize_entry("rule", rule)?;
                map.serialize_entry("security_group", security_group)?;
            }
            Change::SetIpsecSettings {
                connection,
                settings,
            } => {
                map.serialize_entry("connection", connection)?;
                map.serialize_entry("op", op)?;
                map.serialize_entry("settings", settings)?;
            }
            Change::EstablishConnection { connection } => {
                map.serialize_entry("connection", connection)?;
                map.serialize_entry("op", op)?;
            }
        }
        map.end()
    }
}

/// The change's JSON on one line (as in messages and test failures).
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cidrs(v: &[&str]) -> Vec<Cidr> {
        v.iter().map(|c| c.parse().unwrap()).collect()
    }

    /// Every variant writes the object the findings have always carried (the `json!`
    /// literals are the builders' former text), key order included.
    #[test]
    fn every_change_writes_the_json_it_always_had() {
        let ports: Ports = "3306".parse().unwrap();
        let cases = [
            (
                Change::AddRouteEntry {
                    route_table: "vtb-1".into(),
                    destinations: cidrs(&["10.30.0.0/16"]),
                    vpn_gateway: "vpn-1".into(),
                    replaces: None,
                },
                json!({"op": "add_route_entry", "route_table": "vtb-1", "destinations": ["10.30.0.0/16"], "next_hop": {"type": "vpn_gateway", "id": "vpn-1"}}),
            ),
            (
                Change::AddRouteEntry {
                    route_table: "vtb-1".into(),
                    destinations: cidrs(&["10.30.0.0/16", "10.31.0.0/16"]),
                    vpn_gateway: "vpn-1".into(),
                    replaces: Some("rte-9".into()),
                },
                json!({"op": "add_route_entry", "route_table": "vtb-1", "destinations": ["10.30.0.0/16", "10.31.0.0/16"], "next_hop": {"type": "vpn_gateway", "id": "vpn-1"}, "replaces": "rte-9"}),
            ),
            (
                Change::PublishVpnRoute {
                    vpn_gateway: "vpn-1".into(),
                    route: "vpn-1.routes[0]".into(),
                },
                json!({"op": "publish_vpn_route", "vpn_gateway": "vpn-1", "route": "vpn-1.routes[0]"}),
            ),
            (
                Change::AddVpnRoute {
                    vpn_gateway: "vpn-1".into(),
                    destinations: cidrs(&["172.16.0.0/12"]),
                    connection: "vco-1".into(),
                },
                json!({"op": "add_vpn_route", "vpn_gateway": "vpn-1", "destinations": ["172.16.0.0/12"], "next_hop": "vco-1", "publish_to_vpc": true}),
            ),
            (
                Change::AddSgRule {
                    security_group: "sg-1".into(),
                    direction: Direction::Egress,
                    priority: 4,
                    protocol: Protocol::Tcp,
                    ports,
                    peers: cidrs(&["10.0.0.0/8"]),
                },
                json!({"op": "add_sg_rule", "security_group": "sg-1", "direction": "egress", "policy": "accept", "priority": 4, "protocol": Protocol::Tcp, "ports": ports, "peers": ["10.0.0.0/8"]}),
            ),
            (
                Change::InsertFilterRule {
                    device: "fw".into(),
                    chain: ChainKind::Forward,
                    before: None,
                    sources: cidrs(&["10.1.0.0/16"]),
                    destinations: cidrs(&["10.2.0.0/16"]),
                    protocol: Protocol::Tcp,
                    destination_ports: Ports::ANY,
                    source_ports: ports,
                },
                json!({"op": "insert_filter_rule", "device": "fw", "chain": "forward", "before": null, "sources": ["10.1.0.0/16"], "destinations": ["10.2.0.0/16"], "protocol": "tcp", "destination_ports": "any", "source_ports": "3306"}),
            ),
            (
                Change::InsertFilterRule {
                    device: "fw".into(),
                    chain: ChainKind::Input,
                    before: Some("r1".into()),
                    sources: cidrs(&["10.1.0.0/16"]),
                    destinations: cidrs(&["10.2.0.0/16"]),
                    protocol: Protocol::All,
                    destination_ports: Ports::ANY,
                    source_ports: Ports::ANY,
                },
                json!({"op": "insert_filter_rule", "device": "fw", "chain": "input", "before": "r1", "sources": ["10.1.0.0/16"], "destinations": ["10.2.0.0/16"], "protocol": "all", "destination_ports": "any", "source_ports": "any"}),
            ),
            (
                Change::AddDeviceRoute {
                    device: "core".into(),
                    destinations: cidrs(&["10.0.0.0/16"]),
                    via: Via::Tunnel("vco-1".into()),
                },
                json!({"op": "add_device_route", "device": "core", "destinations": ["10.0.0.0/16"], "via": {"tunnel": "vco-1"}}),
            ),
            (
                Change::AddDeviceRoute {
                    device: "core".into(),
                    destinations: cidrs(&["10.0.0.0/16"]),
                    via: Via::Interface {
                        interface: "eth1".into(),
                        gateway: Some("192.168.0.1".parse().unwrap()),
                    },
                },
                json!({"op": "add_device_route", "device": "core", "destinations": ["10.0.0.0/16"], "via": {"interface": "eth1", "gateway": "192.168.0.1"}}),
            ),
            (
                Change::AddDeviceRoute {
                    device: "gw".into(),
                    destinations: cidrs(&["10.0.0.0/16"]),
                    via: Via::Interface {
                        interface: "wan".into(),
                        gateway: None,
                    },
                },
                json!({"op": "add_device_route", "device": "gw", "destinations": ["10.0.0.0/16"], "via": {"interface": "wan", "gateway": null}}),
            ),
            (
                Change::InsertNoNat {
                    device: "usg".into(),
                    before: "snat-1".into(),
                    sources: cidrs(&["172.16.0.0/24"]),
                    destinations: cidrs(&["10.0.0.0/16"]),
                },
                json!({"op": "insert_no_nat", "device": "usg", "before": "snat-1", "sources": ["172.16.0.0/24"], "destinations": ["10.0.0.0/16"]}),
            ),
            (
                Change::EnableForwarding { device: "r".into() },
                json!({"op": "enable_forwarding", "device": "r"}),
            ),
            (
                Change::SetRpFilter { device: "r".into() },
                json!({"op": "set_rp_filter", "device": "r", "value": "loose"}),
            ),
            (
                Change::SplitConnection {
                    connection: "vco-1".into(),
                },
                json!({"op": "split_connection", "connection": "vco-1"}),
            ),
            (
                Change::SwitchToIkev2 {
                    connection: "vco-1".into(),
                },
                json!({"op": "set_ike_version", "connection": "vco-1", "version": "ikev2", "alternative": {"op": "split_connection", "connection": "vco-1"}}),
            ),
        ];
        for (change, old) in cases {
            // serde_json's maps sort their keys: the old text, byte for byte.
            assert_eq!(change.to_string(), old.to_string());
            assert_eq!(
                serde_json::to_string_pretty(&change).unwrap(),
                serde_json::to_string_pretty(&old).unwrap()
            );
        }
    }
}
