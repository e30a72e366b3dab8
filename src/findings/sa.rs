//! The IPsec connection itself: its status, its SAs, and whether an IDC device ends it.

use super::cause::{list, widen, Ctx, Detail};
use super::change::Change;
use crate::engine::cause::Side;
use crate::net::addr::AddrSet;

/// `IPSEC_NOT_ESTABLISHED` (faq 1/2): the connection has no IPsec SA (its status). The
/// fix points at the phase-1/2 settings findings.
pub(super) fn not_established(cx: &Ctx, conn: usize) -> Detail {
    let c = &cx.m.connections[conn];
    let faq = if c.status == crate::input::ConnStatus::IkeSaNotEstablished {
        1
    } else {
        2
    };
    Detail::new(
        faq,
        format!(
            "connection {} is {}: no IPsec SA carries {}",
            c.id,
            c.status.as_str(),
            cx.what
        ),
        format!(
            "bring up connection {} first: compare both ends' phase-{} settings (see the faq {} findings of `vpntrace check`)",
            c.id, faq, faq
        ),
    )
}

/// The message of `IPSEC_NOT_ESTABLISHED` said once for a connection: a connection without
/// SA stops both directions for one cause, so `check` reports it once (direction null).
pub fn not_established_both_ways(
    conn: &str,
    status: &str,
    local: &[crate::net::addr::Cidr],
    remote: &[crate::net::addr::Cidr],
) -> String {
    format!(
        "connection {conn} is {status}: no IPsec SA carries traffic between {} and {}, in either direction",
        list(local),
        list(remote)
    )
}

/// `SA_NOT_COVERING` (faq 5): the connection's subnets include the flow but no negotiated
/// SA of the end (`side`) covers it; the fix splits the connection when it has several
/// subnet pairs. When its subnets do not include the flow at all (traffic routed into a
/// connection that does not carry it, faq 3/4), the fix adds the subnets or reroutes.
pub(super) fn not_covering(cx: &Ctx, conn: usize, side: Side, inbound: bool) -> Detail {
    let (m, t) = (cx.m, cx.t);
    let c = &m.connections[conn];
    let (end, sas, cfg_local, cfg_remote) = match side {
        Side::Cloud => (
            "the VPN gateway".to_string(),
            &c.sas,
            &c.local_set,
            &c.remote_set,
        ),
        Side::Idc(dv) => {
            let name = format!("IDC gateway {}", m.devices[dv].id);
            match m.devices[dv].ipsec.iter().find(|e| e.connection == conn) {
                Some(e) => (
                    name,
                    &e.sas,
                    &AddrSet::from_cidrs(&e.local_subnets),
                    &AddrSet::from_cidrs(&e.remote_subnets),
                ),
                None => (name, &c.sas, &c.local_set, &c.remote_set),
            }
        }
    };
    let (ours, theirs) = if inbound {
        (&t.dst, &t.src)
    } else {
        (&t.src, &t.dst)
    };
    let configured = ours.is_subset(cfg_local) && theirs.is_subset(cfg_remote);
    let sa_desc = if sas.is_empty() {
        "none".to_string()
    } else {
        sas.iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !configured {
        let msg = format!(
            "{} is routed into connection {}, whose subnets on {} do not include it (SAs: {}): dropped",
            cx.what, c.id, end, sa_desc
        );
        let fix = format!(
            "add {} ⇄ {} to the local/remote subnets of connection {} on both ends (LocalSubnet/RemoteSubnet), or route this traffic elsewhere",
            list(&widen(m, t.conn, ours)),
            list(&widen(m, t.conn, theirs)),
            c.id
        );
        return Detail::new(cx.faq, msg, fix);
    }
    let msg = format!(
        "connection {} is configured for {} but no SA that {} holds covers it (its SAs: {}), so the packets are {}. The ends negotiated one SA per subnet pair and only part of the configured pairs is in effect on this end",
        c.id,
        cx.what,
        end,
        sa_desc,
        if inbound {
            "dropped when they leave the tunnel"
        } else {
            "not encrypted into the tunnel"
        }
    );
    if c.local_subnets.len() * c.remote_subnets.len() > 1 {
        let fix = format!(
            "split connection {} into one connection per subnet pair with identical phase-1 settings (`vpntrace split TOPOLOGY --connection {}`); if both ends run IKEv1, switch both to IKEv2",
            c.id, c.id
        );
        Detail::new(5, msg, fix).with_change(Change::SplitConnection {
            connection: c.id.clone(),
        })
    } else {
        let fix = format!(
            "renegotiate connection {} so its SA carries the configured subnets on both ends",
            c.id
        );
        Detail::new(5, msg, fix)
    }
}

/// `IDC_ENDPOINT_MISSING`: no on-prem device terminates the connection.
pub(super) fn endpoint_missing(cx: &Ctx, conn: usize) -> Detail {
    let c = &cx.m.connections[conn];
    Detail::new(
        cx.faq,
        format!(
            "no on-prem device in the topology terminates connection {} ({} leaves the modelled network at the tunnel)",
            c.id, cx.what
        ),
        format!("model the IDC gateway with an `ipsec` entry for {}", c.id),
    )
}
