//! Source NAT on the IDC gateway that breaks IPsec policy matching (faq 6).

use super::cause::{list, Ctx, Detail};
use super::change::Change;
use crate::input::NatAction;
use crate::model::{Device, NatRule, NatTo};
use crate::net::addr::Cidr;

/// `IDC_NAT_BREAKS_IPSEC` (faq 6): source NAT rule `nat` of device `dev` rewrote the
/// source before IPsec policy matching, so the packet matches no SA of connection `conn`
/// and leaves in clear. The fix inserts a no-NAT rule before it, with the device's own
/// commands (Huawei, Linux, Cisco).
pub(super) fn breaks_ipsec(cx: &Ctx, dev: usize, nat: usize, conn: usize) -> Detail {
    let m = cx.m;
    let dv = &m.devices[dev];
    let rule = &dv.nat[nat];
    let c = &m.connections[conn];
    let exempt: Vec<&NatRule> = dv
        .nat
        .iter()
        .take(nat)
        .filter(|r| r.action == NatAction::NoNat)
        .collect();
    let exempt_desc = if exempt.is_empty() {
        "No no-NAT rule exempts it.".to_string()
    } else {
        let any = |c: Option<ipnet::Ipv4Net>| c.map_or("any".into(), |s| s.to_string());
        let each: Vec<String> = exempt
            .iter()
            .map(|r| format!("{} ({} → {})", r.id, any(r.source), any(r.destination)))
            .collect();
        format!(
            "The no-NAT rule(s) before it exempt only {}.",
            each.join(", ")
        )
    };
    let translated = match rule.to {
        NatTo::Addr(a) => a.to_string(),
        _ => rule
            .out_interface
            .map_or("the outgoing interface's address".to_string(), |f| {
                format!(
                    "{} ({}'s address)",
                    dv.interfaces[f].addr, dv.interfaces[f].name
                )
            }),
    };
    let out = rule
        .out_interface
        .map_or("the outside interface".to_string(), |f| {
            dv.interfaces[f].name.clone()
        });
    let msg = format!(
        "source NAT rule {} on {} translates the source of {} to {} before IPsec policy matching; the translated packet matches no SA of {} and leaves {} in clear. {}",
        rule.id, dv.id, cx.what, translated, c.id, out, exempt_desc
    );
    let srcs = cx.widen_src();
    let dsts = cx.widen_dst();
    let fix = format!(
        "insert a no-NAT rule for source {} → destination {} before {} on {}",
        list(&srcs),
        list(&dsts),
        rule.id,
        dv.id
    );
    Detail {
        vendor_fix: vendor_no_nat(dv, rule, &srcs, &dsts),
        ..Detail::new(6, msg, fix).with_change(Change::InsertNoNat {
            device: dv.id.clone(),
            before: rule.id.clone(),
            sources: srcs,
            destinations: dsts,
        })
    }
}

/// The no-NAT fix in the device's own language.
fn vendor_no_nat(dv: &Device, rule: &NatRule, srcs: &[Cidr], dsts: &[Cidr]) -> Vec<String> {
    let vendor = dv.vendor.clone().unwrap_or_default().to_ascii_lowercase();
    let out_if = rule
        .out_interface
        .map(|f| dv.interfaces[f].name.clone())
        .unwrap_or_else(|| "<outside>".into());
    let mut v = Vec::new();
    if vendor.contains("huawei") {
        v.push("nat-policy interzone trust untrust outbound".into());
        v.push(" policy 0".into());
        v.push("  action no-nat".into());
        for s in srcs {
            v.push(format!(
                "  policy source {} mask {}",
                s.network().network(),
                s.len()
            ));
        }
        for d in dsts {
            v.push(format!(
                "  policy destination {} mask {}",
                d.network().network(),
                d.len()
            ));
        }
        v.push(format!(
            " # keep the source-NAT policy ({}) after policy 0, e.g. easy-ip {}",
            rule.id, out_if
        ));
    } else if dv.is_linux() {
        for s in srcs {
            for d in dsts {
                v.push(format!(
                    "iptables -t nat -I POSTROUTING 1 -s {} -d {} -j ACCEPT",
                    s, d
                ));
            }
        }
    } else if vendor.contains("cisco") {
        for s in srcs {
            for d in dsts {
                let (s, d) = (s.network().network(), d.network().network());
                v.push(format!("nat (inside,outside) source static obj-{s} obj-{s} destination static obj-{d} obj-{d} no-proxy-arp route-lookup"));
            }
        }
    }
    v
}
