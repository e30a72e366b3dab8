//! Settings fixes (FAQ 1, 2) as changes `check --write-fixed` applies: each phase-1/2
//! finding of `negotiation::compare` gets a [`Change::SetIpsecSettings`] that does what
//! its fix text says (on the end the text names first), verified by comparing the
//! changed topology's settings again; `IPSEC_NOT_ESTABLISHED` gets
//! [`Change::EstablishConnection`], verified when the connection's settings, with every
//! verified settings fix applied, let both phases come up.
//!
//! | code | settings changed |
//! |---|---|
//! | `IKE_VERSION_MISMATCH` | `ike.version` = ikev2 on both ends |
//! | `IKE_MODE_MISMATCH` | `ike.mode` = main on both ends |
//! | `IKE_PSK_MISMATCH` | the IDC's `ike.psk` = the cloud's (the key is never written out) |
//! | `IKE_ID_MISMATCH` | each end's `ike.remote_id` = the other end's local ID (removed when that end states none: its address then) |
//! | `IKE_PROPOSAL_MISMATCH`, `IPSEC_PROPOSAL_MISMATCH` | the cloud's transform without a common value = the IDC's first |
//! | `PFS_MISMATCH` | `ipsec.pfs` on both ends = the IDC's (the cloud's when the IDC has it disabled) |
//! | `TRAFFIC_SELECTOR_MISMATCH`, `TS_NARROWED` | the cloud's `local_subnets`/`remote_subnets` = the IDC's remote/local subnets |
//! | `CUSTOMER_GATEWAY_IP_INVALID`, `CUSTOMER_GATEWAY_IP_MISMATCH` | a customer gateway with the IDC gateway's outside address |
//! | `PEER_IP_MISMATCH` | the IDC's `peer` = the VPN gateway's public IP |

use std::collections::HashMap;

use crate::analysis::{fix, negotiation};
use crate::findings::change::{Change, End, Setting, SettingValue};
use crate::findings::code::Code;
use crate::findings::finding::Finding;
use crate::input::{DeviceIpsec, Ike, IpsecConnection, Role, StrOrList, Topology};

/// A connection's ends: its cloud object, its IDC device's `ipsec` entry and the device.
type Ends<'t> = (
    &'t IpsecConnection,
    &'t DeviceIpsec,
    &'t crate::input::Device,
);

/// Every connection's ends by id (the first cloud connection of the id, the first device
/// with an `ipsec` entry for it), in one pass over the devices: findings are looked up
/// here one by one, and most are no settings fault.
fn ends_by_connection(t: &Topology) -> HashMap<&str, Ends<'_>> {
    let mut idc: HashMap<&str, (&DeviceIpsec, &crate::input::Device)> = HashMap::new();
    for d in &t.onprem.devices {
        for e in &d.ipsec {
            idc.entry(e.connection.as_str()).or_insert((e, d));
        }
    }
    let mut out = HashMap::new();
    for c in &t.cloud.ipsec_connections {
        if let Some(&(e, d)) = idc.get(c.id.as_str()) {
            out.entry(c.id.as_str()).or_insert((c, e, d));
        }
    }
    out
}

fn text(end: End, field: &str, v: &str) -> Setting {
    Setting {
        end,
        field: field.into(),
        value: SettingValue::Text(v.into()),
    }
}

fn both(field: &str, v: &str) -> Vec<Setting> {
    vec![text(End::Cloud, field, v), text(End::Idc, field, v)]
}

fn items(v: &Option<StrOrList>) -> Vec<String> {
    v.as_ref()
        .map(|x| x.items().iter().map(|s| s.to_lowercase()).collect())
        .unwrap_or_default()
}

/// The name Alibaba Cloud gives a transform value (`aes-256` → `aes256`, `dh group14` →
/// `group14`), when it has one.
fn alibaba_name(field: &str, v: &str) -> Option<String> {
    use crate::net::algo::{DhGroup, Encryption, Integrity};
    match field {
        "encryption" => Encryption::parse(v)
            .ok()?
            .alibaba_name()
            .map(str::to_string),
        "integrity" => Integrity::parse(v).ok()?.alibaba_name().map(str::to_string),
        "dh_group" | "pfs" => DhGroup::parse(v).ok()?.alibaba_name(),
        _ => None,
    }
}

/// For each transform field with no value common to both ends (as the algorithms they
/// name), the cloud takes the first of the IDC's that Alibaba Cloud can be set to, in
/// Alibaba's name (the IDC's first as written when none).
fn proposal(
    prefix: &str,
    fields: &[(&str, &Option<StrOrList>, &Option<StrOrList>)],
) -> Vec<Setting> {
    let mut out = Vec::new();
    for (name, cloud, idc) in fields {
        let norm = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|x| alibaba_name(name, &x).unwrap_or(x))
                .collect()
        };
        let (c, i) = (norm(items(cloud)), norm(items(idc)));
        if i.is_empty() || c.iter().any(|x| i.contains(x)) {
            continue;
        }
        out.push(text(End::Cloud, &format!("{prefix}.{name}"), &i[0]));
    }
    out
}

/// An end's local ID as the other end must name it: the stated one, or none (the
/// end's address is its ID by default).
fn remote_id_for(local: &Ike) -> SettingValue {
    match &local.local_id {
        Some(id) => SettingValue::Text(id.clone()),
        None => SettingValue::Unset,
    }
}

/// The settings a finding's fix changes, or None when it is not a settings fix.
fn settings_for(t: &Topology, ends: &HashMap<&str, Ends>, f: &Finding) -> Option<Vec<Setting>> {
    let (c, e, d) = *ends.get(f.connection.as_deref()?)?;
    let v = match f.code {
        Code::IkeVersionMismatch => both("ike.version", "ikev2"),
        Code::IkeModeMismatch => both("ike.mode", "main"),
        Code::IkePskMismatch => vec![Setting {
            end: End::Idc,
            field: "ike.psk".into(),
            value: SettingValue::KeyOf(End::Cloud),
        }],
        Code::IkeIdMismatch => vec![
            Setting {
                end: End::Cloud,
                field: "ike.remote_id".into(),
                value: remote_id_for(&e.ike),
            },
            Setting {
                end: End::Idc,
                field: "ike.remote_id".into(),
                value: remote_id_for(&c.ike),
            },
        ],
        Code::IkeProposalMismatch => proposal(
            "ike",
            &[
                ("encryption", &c.ike.encryption, &e.ike.encryption),
                ("integrity", &c.ike.integrity, &e.ike.integrity),
                ("dh_group", &c.ike.dh_group, &e.ike.dh_group),
            ],
        ),
        Code::IpsecProposalMismatch => proposal(
            "ipsec",
            &[
                ("encryption", &c.ipsec.encryption, &e.ipsec.encryption),
                ("integrity", &c.ipsec.integrity, &e.ipsec.integrity),
            ],
        ),
        Code::PfsMismatch => {
            let off = |x: &String| x == "disabled" || x == "none";
            let name = |x: String| alibaba_name("pfs", &x).unwrap_or(x);
            let pick = items(&e.ipsec.pfs)
                .into_iter()
                .find(|x| !off(x))
                .or_else(|| items(&c.ipsec.pfs).into_iter().next())
                .map(name)
                .unwrap_or_else(|| "group14".into());
            both("ipsec.pfs", &pick)
        }
        Code::TrafficSelectorMismatch | Code::TsNarrowed => vec![
            Setting {
                end: End::Cloud,
                field: "local_subnets".into(),
                value: SettingValue::Cidrs(e.remote_subnets.clone()),
            },
            Setting {
                end: End::Cloud,
                field: "remote_subnets".into(),
                value: SettingValue::Cidrs(e.local_subnets.clone()),
            },
        ],
        Code::CustomerGatewayIpInvalid | Code::CustomerGatewayIpMismatch => {
            let iface = d
                .interfaces
                .iter()
                .find(|x| Some(&x.name) == e.interface.as_ref())
                .or_else(|| d.interfaces.iter().find(|x| x.role == Some(Role::Outside)))?;
            vec![text(
                End::Cloud,
                "customer_gateway.ip",
                &iface.address.addr().to_string(),
            )]
        }
        Code::PeerIpMismatch => {
            let g = t
                .cloud
                .vpn_gateways
                .iter()
                .find(|g| g.id == c.vpn_gateway)?;
            vec![text(End::Idc, "peer", &g.public_ip.to_string())]
        }
        _ => return None,
    };
    (!v.is_empty()).then_some(v)
}

/// The error codes of the connection's settings comparison.
/// The part of `t` the settings comparison of `conn` reads (see `negotiation`): the
/// connection, its VPN gateway and customer gateway, and the first device with an
/// `ipsec` entry for it. A settings change is verified on this copy, kilobytes rather
/// than the whole estate.
fn slim(t: &Topology, conn: &str) -> Topology {
    let c = &t.cloud;
    let connection = c.ipsec_connections.iter().find(|x| x.id == conn);
    let of = |id: Option<&String>| id.cloned().unwrap_or_default();
    let (gw, cgw) = (
        of(connection.map(|x| &x.vpn_gateway)),
        of(connection.map(|x| &x.customer_gateway)),
    );
    Topology {
        format: t.format,
        name: t.name.clone(),
        description: None,
        cloud: crate::input::Cloud {
            vpc: c.vpc.clone(),
            vswitches: Vec::new(),
            route_tables: Vec::new(),
            security_groups: Vec::new(),
            instances: Vec::new(),
            vpn_gateways: c
                .vpn_gateways
                .iter()
                .filter(|g| g.id == gw)
                .cloned()
                .collect(),
            customer_gateways: c
                .customer_gateways
                .iter()
                .filter(|g| g.id == cgw)
                .cloned()
                .collect(),
            ipsec_connections: connection.into_iter().cloned().collect(),
        },
        onprem: crate::input::Onprem {
            devices: t
                .onprem
                .devices
                .iter()
                .find(|d| d.ipsec.iter().any(|e| e.connection == conn))
                .into_iter()
                .cloned()
                .collect(),
        },
        flows: Vec::new(),
    }
}

fn errors_of(t: &Topology, conn: &str) -> Vec<Code> {
    negotiation::compare_connection(t, conn)
        .map(|c| {
            c.findings
                .iter()
                .filter(|f| f.is_error())
                .map(|f| f.code)
                .collect()
        })
        .unwrap_or_default()
}

/// Give each settings finding its change, verified when the changed topology's
/// comparison no longer reports it and reports no error the original did not; then
/// `IPSEC_NOT_ESTABLISHED` its own (see the module documentation).
pub fn attach(t: &Topology, findings: &mut [Finding]) {
    let mut applied: Vec<(String, Change)> = Vec::new();
    let ends = ends_by_connection(t);
    for f in findings.iter_mut().filter(|f| f.is_error()) {
        let Some(settings) = settings_for(t, &ends, f) else {
            continue;
        };
        let conn = f.connection.clone().unwrap_or_default();
        let change = Change::SetIpsecSettings {
            connection: conn.clone(),
            settings,
        };
        let t = &slim(t, &conn);
        let before = errors_of(t, &conn);
        let verified = fix::apply(t, &change, 1).is_ok_and(|t2| {
            let after = errors_of(&t2, &conn);
            !after.contains(&f.code) && after.iter().all(|c| before.contains(c))
        });
        if verified {
            applied.push((conn, change.clone()));
        }
        f.change = Some(change);
        f.verified = Some(verified);
    }
    for f in findings
        .iter_mut()
        .filter(|f| f.code == Code::IpsecNotEstablished)
    {
        let Some(conn) = f.connection.clone() else {
            continue;
        };
        if !applied.iter().any(|(k, _)| *k == conn) {
            // Nothing to fix in the settings: the status says otherwise for a reason
            // the topology does not show, or the settings fixes are not verified.
            continue;
        }
        let mut t2 = Some(slim(t, &conn));
        for (n, (_, c)) in applied.iter().filter(|(k, _)| *k == conn).enumerate() {
            t2 = t2.and_then(|x| fix::apply(&x, c, n + 1).ok());
        }
        let Some(t2) = t2 else { continue };
        let up = negotiation::compare_connection(&t2, &conn).is_some_and(|c| {
            c.predicted == Some(negotiation::PredictedStatus::Established)
                && !c.findings.iter().any(|f| f.is_error())
        });
        if up {
            f.fix = format!(
                "{}; with the settings fixes of {conn} applied both phases come up (`--write-fixed` records the connection as ipsec_sa_established)",
                f.fix
            );
            f.change = Some(Change::EstablishConnection { connection: conn });
            f.verified = Some(true);
        }
    }
}
