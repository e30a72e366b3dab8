//! Both ends' configurations of a split: the Alibaba Cloud route API calls, the IDC
//! gateway's new `ipsec` entries and a strongSwan `swanctl.conf` snippet.

use std::fmt::Write as _;

use super::{ChangeAction, NewConnection, RouteChange, POLICY_ROUTE_PRIORITY};
use crate::input;

/// The IDC entry for new connection `c`, from the old entry: the mirror of its subnets,
/// its one expected SA.
pub(super) fn idc_entry(old: &input::DeviceIpsec, c: &NewConnection) -> input::DeviceIpsec {
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

/// The Alibaba Cloud API calls that make route change `rc` on VPN gateway `vgw`, whose
/// routes led to connection `old`.
pub(super) fn route_api(vgw: &str, old: &str, rc: &RouteChange) -> Vec<String> {
    let create = |rc: &RouteChange| match rc.kind {
        "policy" => format!(
            "CreateVpnPbrRouteEntry VpnGatewayId={vgw} RouteSource={} RouteDest={} NextHop={} \
             Priority={} Weight=100 PublishVpc={}",
            rc.source.map(|s| s.to_string()).unwrap_or_default(),
            rc.destination,
            rc.next_hop,
            rc.priority.unwrap_or(POLICY_ROUTE_PRIORITY),
            rc.publish_to_vpc
        ),
        _ => format!(
            "CreateVpnRouteEntry VpnGatewayId={vgw} RouteDest={} NextHop={} Weight=100 \
             PublishVpc={}",
            rc.destination, rc.next_hop, rc.publish_to_vpc
        ),
    };
    let delete = |rc: &RouteChange, hop: &str| match rc.kind {
        "policy" => format!(
            "DeleteVpnPbrRouteEntry VpnGatewayId={vgw} RouteSource={} RouteDest={} \
             NextHop={hop} Weight=100",
            rc.source.map(|s| s.to_string()).unwrap_or_default(),
            rc.destination
        ),
        _ => format!(
            "DeleteVpnRouteEntry VpnGatewayId={vgw} RouteDest={} NextHop={hop} Weight=100",
            rc.destination
        ),
    };
    match rc.action {
        ChangeAction::Add => vec![create(rc)],
        // Delete first: the gateway holds one active route per destination.
        ChangeAction::Repoint => vec![delete(rc, old), create(rc)],
        ChangeAction::Remove => vec![delete(rc, old)],
    }
}

/// strongSwan's `version` value for an IKE version as written (`0`: any).
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

/// The `swanctl.conf` of on-prem device `d`: one IKE connection named `conn_id` (the
/// phase-1 SA the new connections share, settings from its `old` entry) with one child
/// SA per new connection. The secret is never written: the existing one is kept.
pub(super) fn swanctl_snippet(
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
        "# {}: one IKE connection to the VPN gateway (the phase-1 SA the new Alibaba\n\
         # connections share) with one child SA per Alibaba connection.",
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
    swanctl_children(&mut s, old, conns);
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

/// The `children` section: one child SA per new connection, mirrored (the IDC's local
/// traffic selector is the connection's remote subnets), phase 2 from the `old` entry.
fn swanctl_children(s: &mut String, old: &input::DeviceIpsec, conns: &[NewConnection]) {
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
}
