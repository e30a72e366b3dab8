//! `vpntrace split`'s plan as text: why, what to create on each end, the order of the
//! work, and what the re-analysis shows.

use std::fmt::Write as _;

use crate::analysis::split::{
    ChangeAction, FlowCheck, IdcChange, NewConnection, RouteChange, SplitPlan,
    POLICY_ROUTE_PRIORITY,
};
use crate::findings::code::Code;
use crate::input;
use crate::net::addr::join_cidrs;

/// The plan as a change plan for people: why, what to create, routes, the IDC side, the
/// order of the work, and what the re-analysis shows.
pub fn split_text(p: &SplitPlan) -> String {
    let mut o = String::new();
    header(&mut o, p);
    connections(&mut o, p);
    if !p.vpn_routes.is_empty() {
        section(
            &mut o,
            &format!("Alibaba Cloud, routes of VPN gateway {}", p.vpn_gateway),
        );
        for r in &p.vpn_routes {
            vpn_route(&mut o, p, r);
        }
    }
    for c in &p.idc {
        idc_change(&mut o, p, c);
    }
    order_and_notes(&mut o, p);
    verification(&mut o, p);
    verdict(&mut o, p);
    o
}

/// A blank line and the title of one part of the work.
fn section(o: &mut String, title: &str) {
    let _ = writeln!(o, "\n{title}:");
}

/// The connection split today, why (the SA layout findings), and the new connections
/// with the phase-1 rule they share.
fn header(o: &mut String, p: &SplitPlan) {
    let _ = writeln!(
        o,
        "Split plan for IPsec connection {} (VPN gateway {} ⇄ customer gateway {}{})",
        p.connection,
        p.vpn_gateway,
        p.customer_gateway,
        p.idc_gateway
            .as_ref()
            .map(|g| format!(", IDC gateway {g}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "  today: {} <=> {} on one connection",
        join_cidrs(&p.local_subnets),
        join_cidrs(&p.remote_subnets)
    );
    if !p.why.is_empty() {
        let _ = writeln!(o, "\nWhy (faq 5):");
        for f in &p.why {
            super::finding_text(o, f, super::Style::default(), "  ");
        }
    }
    let by = match p.split_by {
        "remote_subnet" => "one connection per IDC subnet (RemoteSubnet)",
        "local_subnet" => "one connection per VPC subnet (LocalSubnet)",
        _ => "one connection per VPC×IDC subnet pair",
    };
    let _ = writeln!(o, "\nPlan: {by}, as FAQ 5 prescribes:");
    for c in &p.connections {
        let _ = writeln!(
            o,
            "  {}  {}  {} <=> {}",
            c.label,
            c.id,
            join_cidrs(&c.local_subnets),
            join_cidrs(&c.remote_subnets)
        );
    }
    let _ = writeln!(o, "  phase 1: {}", p.phase1);
}

/// `Key=value` for every setting that has a value, space separated.
fn settings(v: Vec<(&str, Option<String>)>) -> String {
    v.into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `CreateVpnConnection` parameters of every new connection.
fn connections(o: &mut String, p: &SplitPlan) {
    section(
        o,
        &format!(
            "Alibaba Cloud, create the connections on VPN gateway {}",
            p.vpn_gateway
        ),
    );
    for c in &p.connections {
        new_connection(o, c);
    }
}

/// One new connection's `CreateVpnConnection` parameters (the PSK field never holds the
/// key).
fn new_connection(o: &mut String, c: &NewConnection) {
    let a = &c.alibaba;
    let k = &a.ike_config;
    let s = &a.ipsec_config;
    let _ = writeln!(
        o,
        "   {} {} (CreateVpnConnection Name={})",
        c.label, c.id, a.name
    );
    let _ = writeln!(o, "     VpnGatewayId:      {}", a.vpn_gateway_id);
    let _ = writeln!(o, "     CustomerGatewayId: {}", a.customer_gateway_id);
    let _ = writeln!(o, "     LocalSubnet:       {}", a.local_subnet);
    let _ = writeln!(o, "     RemoteSubnet:      {}", a.remote_subnet);
    let _ = writeln!(
        o,
        "     IkeConfig:         {}",
        settings(vec![
            ("IkeVersion", k.ike_version.clone()),
            ("IkeMode", k.ike_mode.clone()),
            ("IkeEncAlg", k.ike_enc_alg.clone()),
            ("IkeAuthAlg", k.ike_auth_alg.clone()),
            ("IkePfs", k.ike_pfs.clone()),
            ("IkeLifetime", k.ike_lifetime.map(|x| x.to_string())),
            ("LocalId", k.local_id.clone()),
            ("RemoteId", k.remote_id.clone()),
        ])
    );
    let _ = writeln!(o, "     Psk:               {}", k.psk);
    let _ = writeln!(
        o,
        "     IpsecConfig:       {}",
        settings(vec![
            ("IpsecEncAlg", s.ipsec_enc_alg.clone()),
            ("IpsecAuthAlg", s.ipsec_auth_alg.clone()),
            ("IpsecPfs", s.ipsec_pfs.clone()),
            ("IpsecLifetime", s.ipsec_lifetime.map(|x| x.to_string())),
        ])
    );
}

/// One VPN-gateway route change and the API calls that make it.
fn vpn_route(o: &mut String, p: &SplitPlan, r: &RouteChange) {
    let what = match r.kind {
        "policy" => format!(
            "policy route {} → {} (priority {})",
            r.source.map(|s| s.to_string()).unwrap_or_default(),
            r.destination,
            r.priority.unwrap_or(POLICY_ROUTE_PRIORITY)
        ),
        _ => format!("destination route {}", r.destination),
    };
    let hop = match r.action {
        ChangeAction::Remove => format!("(was → {})", r.next_hop),
        ChangeAction::Repoint => format!("→ {} (was → {})", r.next_hop, p.connection),
        ChangeAction::Add => format!("→ {}", r.next_hop),
    };
    let _ = writeln!(
        o,
        "   {:<8} {} {} {}{}",
        r.action.as_str(),
        r.id,
        what,
        hop,
        if r.publish_to_vpc {
            ", published to the VPC"
        } else {
            ""
        }
    );
    for a in &r.api {
        let _ = writeln!(o, "            | {a}");
    }
}

/// One on-prem device's new `ipsec` entries, its moved tunnel routes and its
/// `swanctl.conf` snippet.
fn idc_change(o: &mut String, p: &SplitPlan, c: &IdcChange) {
    section(
        o,
        &format!(
            "IDC gateway {}{}, replace the entry for {} ({}) by one per connection",
            c.device,
            c.vendor
                .as_ref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default(),
            p.connection,
            c.replaces
        ),
    );
    for e in &c.entries {
        let _ = writeln!(
            o,
            "   {}: local {} <=> remote {}, {} mode{}{}; \
             phase 1 and 2 as before, same pre-shared key",
            e.connection,
            join_cidrs(&e.local_subnets),
            join_cidrs(&e.remote_subnets),
            match e.mode {
                input::IpsecMode::Policy => "policy",
                input::IpsecMode::Route => "route",
            },
            e.interface
                .as_ref()
                .map(|f| format!(" on {f}"))
                .unwrap_or_default(),
            e.peer.map(|x| format!(", peer {x}")).unwrap_or_default(),
        );
    }
    for r in &c.routes {
        let _ = writeln!(
            o,
            "   {:<8} route {} {} → tunnel {}",
            r.action.as_str(),
            r.id,
            r.destination,
            r.tunnel
        );
    }
    if let Some(s) = &c.swanctl {
        let _ = writeln!(o, "   swanctl.conf:");
        for l in s.lines() {
            let _ = writeln!(o, "     {l}");
        }
    }
}

/// The numbered order of work and the plan's notes.
fn order_and_notes(o: &mut String, p: &SplitPlan) {
    let _ = writeln!(o, "\nOrder of work:");
    for (i, s) in p.steps.iter().enumerate() {
        let _ = writeln!(o, "  {}. {s}", i + 1);
    }
    if !p.notes.is_empty() {
        let _ = writeln!(o, "\nNotes:");
        for n in &p.notes {
            let _ = writeln!(o, "  - {n}");
        }
    }
}

/// Every subnet pair's status and its traced flows, before and after.
fn verification(o: &mut String, p: &SplitPlan) {
    let _ = writeln!(o, "\nVerification (the patched topology re-analysed):");
    for x in &p.verification.pairs {
        let _ = writeln!(
            o,
            "  {} ⇄ {} via {}: {}",
            x.local,
            x.remote,
            x.connection,
            x.status.as_str()
        );
        for f in &x.flows {
            let _ = writeln!(
                o,
                "    {} {} → {} {}{}: before {}; after {}",
                f.direction.arrow(),
                f.from,
                f.to,
                f.service,
                if f.origin == "representative" {
                    String::new()
                } else {
                    format!(" [{}]", f.origin)
                },
                f.before.describe(),
                f.after.describe()
            );
        }
    }
}

/// `verified: yes`, or `verified: NO` with what still fails after the split and, when
/// something other than the SA layout fails, that it needs its own fix.
fn verdict(o: &mut String, p: &SplitPlan) {
    if p.verified {
        let _ = writeln!(
            o,
            "verified: yes — every pair that failed before works both ways after the split, \
             and nothing that worked breaks"
        );
        return;
    }
    let _ = writeln!(o, "verified: NO");
    let failing: Vec<&FlowCheck> = p
        .verification
        .pairs
        .iter()
        .flat_map(|x| x.flows.iter())
        .filter(|f| !f.after.ok)
        .collect();
    for f in &failing {
        still_fails(o, f);
    }
    let other = failing.iter().any(|f| {
        f.after
            .cause
            .as_ref()
            .is_some_and(|c| c.code != Code::SaNotCovering)
    });
    if other {
        let _ = writeln!(
            o,
            "  The split fixes the SA layout; what still fails is another problem: \
             fix it as well (`vpntrace check` lists it)."
        );
    }
}

/// One flow that fails after the split, with its cause and fix when the trace names one.
fn still_fails(o: &mut String, f: &FlowCheck) {
    let Some(c) = &f.after.cause else {
        let _ = writeln!(
            o,
            "  still fails: {} → {} {}: {}",
            f.from,
            f.to,
            f.service,
            f.after.describe()
        );
        return;
    };
    let _ = writeln!(
        o,
        "  still fails: {} → {} {}: {} (faq {}) at {}{}{}",
        f.from,
        f.to,
        f.service,
        c.code,
        c.faq,
        c.device.as_deref().unwrap_or("-"),
        c.rule
            .as_ref()
            .map(|r| format!(", rule {r}"))
            .unwrap_or_default(),
        if c.reply { " (on the reply)" } else { "" }
    );
    let _ = writeln!(o, "    {}", c.message);
    let _ = writeln!(o, "    fix: {}", c.fix);
}
