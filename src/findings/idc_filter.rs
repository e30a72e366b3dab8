//! On-prem devices that drop what they receive: filter chains, session checks, forwarding
//! and reverse-path filtering (faq 3/4).

use super::cause::{list, Ctx, Detail};
use super::change::Change;
use crate::model::ChainKind;
use crate::net::addr::{Ports, Protocol};

/// `IDC_FILTER_DROP`: an on-prem filter chain drops the packet, by a rule or by the
/// chain's default. `REPLY_DROPPED_STATELESS_ACL` when it is a reply a stateless ACL lets
/// through only one way. The fix inserts an accept before the dropping rule (at the end
/// of the chain for the default), with the iptables commands on Linux.
pub(super) fn drop(
    cx: &Ctx,
    dev: usize,
    chain: ChainKind,
    rule: Option<usize>,
    stateless: bool,
) -> Detail {
    let (m, t, reply) = (cx.m, cx.t, cx.reply);
    let dv = &m.devices[dev];
    let ch = dv.filter.as_ref().and_then(|f| f.chain(chain));
    let rule_id = |r: usize| ch.map(|c| c.rules[r].id.clone());
    let by = match rule {
        Some(r) => format!("rule {} (drop)", rule_id(r).unwrap_or_default()),
        None => "no rule matches: chain default drop".to_string(),
    };
    // A stateless reply rule admits new flows too: from its sources' port, toward its
    // destinations. Written for exactly the servers that answer (not their whole
    // subnet), it admits only flows whose replies the request's own rule lets back.
    let srcs = if reply && stateless {
        t.src.cidrs()
    } else {
        cx.widen_src()
    };
    let dsts = cx.widen_dst();
    let msg = if reply && stateless {
        format!(
            "{} {} chain lets the request through but drops {}: {}; the ACL is stateless, so replies need their own rule",
            dv.id,
            chain.as_str(),
            cx.what,
            by
        )
    } else {
        format!(
            "{} {} chain drops {}: {}",
            dv.id,
            chain.as_str(),
            cx.what,
            by
        )
    };
    let ports_clause = match (t.protocol.has_ports(), reply) {
        (false, _) => String::new(),
        (true, true) => format!(", source ports {}", t.src_ports),
        (true, false) => format!(", destination ports {}", t.dst_ports),
    };
    let position = match rule {
        Some(r) => format!("before rule {}", rule_id(r).unwrap_or_default()),
        None => "at the end of the chain (before the default)".to_string(),
    };
    let fix = format!(
        "insert into {} {} chain {} a rule: accept, source {}, destination {}, protocol {}{}",
        dv.id,
        chain.as_str(),
        position,
        list(&srcs),
        list(&dsts),
        t.protocol,
        ports_clause
    );
    let vendor_fix = if dv.is_linux() {
        iptables_accept(cx, chain, rule, &srcs, &dsts)
    } else {
        Vec::new()
    };
    Detail {
        vendor_fix,
        ..Detail::new(cx.faq, msg, fix).with_change(Change::InsertFilterRule {
            device: dv.id.clone(),
            chain,
            before: rule.and_then(rule_id),
            sources: srcs,
            destinations: dsts,
            protocol: t.protocol,
            destination_ports: if reply { Ports::ANY } else { t.dst_ports },
            source_ports: if reply { t.src_ports } else { Ports::ANY },
        })
    }
}

/// The iptables commands that insert the accept rules (before rule `rule`, 0-based, or
/// appended).
fn iptables_accept(
    cx: &Ctx,
    chain: ChainKind,
    rule: Option<usize>,
    srcs: &[crate::net::addr::Cidr],
    dsts: &[crate::net::addr::Cidr],
) -> Vec<String> {
    let (t, reply) = (cx.t, cx.reply);
    let ch_name = chain.as_str().to_uppercase();
    let pos = match rule {
        Some(r) => format!("-I {} {}", ch_name, r + 1),
        None => format!("-A {}", ch_name),
    };
    let iptables_ports = |p: Ports| p.to_string().replace('-', ":");
    let mut out = Vec::new();
    for s in srcs {
        for d in dsts {
            let mut cmd = format!("iptables {} -s {} -d {}", pos, s, d);
            if t.protocol != Protocol::All {
                cmd.push_str(&format!(" -p {}", t.protocol));
            }
            if t.protocol.has_ports() {
                if reply && !t.src_ports.is_any() {
                    cmd.push_str(&format!(" --sport {}", iptables_ports(t.src_ports)));
                } else if !reply && !t.dst_ports.is_any() {
                    cmd.push_str(&format!(" --dport {}", iptables_ports(t.dst_ports)));
                }
            }
            cmd.push_str(" -j ACCEPT");
            out.push(cmd);
        }
    }
    out
}

/// `REPLY_SESSION_MISS`: a non-Linux stateful firewall drops a reply it has no session
/// for (the request took another path).
pub(super) fn session_miss(cx: &Ctx, dev: usize) -> Detail {
    let dv = &cx.m.devices[dev];
    Detail::new(
        cx.faq,
        format!(
            "{} is a stateful firewall that did not see the request, so it drops {} as a session miss (asymmetric path)",
            dv.id, cx.what
        ),
        format!(
            "make the request and the reply take the same path through {} (fix the routing asymmetry), or disable the session check for this traffic",
            dv.id
        ),
    )
}

/// `FORWARDING_DISABLED`: the device does not forward (net.ipv4.ip_forward=0).
pub(super) fn forwarding_disabled(cx: &Ctx, dev: usize) -> Detail {
    let dv = &cx.m.devices[dev];
    let mut d = Detail::new(
        cx.faq,
        format!(
            "{} does not forward packets (net.ipv4.ip_forward=0): {} is dropped there",
            dv.id, cx.what
        ),
        format!("enable IP forwarding on {}", dv.id),
    )
    .with_change(Change::EnableForwarding {
        device: dv.id.clone(),
    });
    d.vendor_fix.push("sysctl -w net.ipv4.ip_forward=1".into());
    d.vendor_fix.push(
        "echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/99-vpntrace.conf   # survives a reboot"
            .into(),
    );
    d
}

/// `RP_FILTER_DROP`: Linux reverse-path filtering drops the packet: the route back to its
/// source does not leave by the interface it arrived on.
pub(super) fn rp_filter(cx: &Ctx, dev: usize, iface: usize) -> Detail {
    let dv = &cx.m.devices[dev];
    let f = &dv.interfaces[iface];
    let mut d = Detail::new(
        cx.faq,
        format!(
            "{} drops {} arriving on {}: reverse-path filtering finds the route back to the source does not leave by {}",
            dv.id, cx.what, f.name, f.name
        ),
        format!(
            "set rp_filter to loose (2) on {} of {}, or add a route for {} via {}",
            f.name,
            dv.id,
            list(&cx.widen_src()),
            f.name
        ),
    )
    .with_change(Change::SetRpFilter {
        device: dv.id.clone(),
    });
    d.vendor_fix
        .push(format!("sysctl -w net.ipv4.conf.{}.rp_filter=2", f.name));
    d.vendor_fix.push(format!(
        "echo 'net.ipv4.conf.{}.rp_filter = 2' > /etc/sysctl.d/99-vpntrace-rp-filter.conf   # survives a reboot",
        f.name
    ));
    d
}

/// Whether chain `chain` of device `dev` accepts other services between all of a
/// default-dropped traffic's sources and destinations (by rules that match both sides):
/// then the drop is a port policy. Asks the chain alone, independent of other faults.
pub(super) fn allows_other_services(
    m: &crate::model::Model,
    dev: usize,
    chain: crate::model::ChainKind,
    t: &crate::findings::cause::Traffic,
) -> bool {
    use crate::net::addr::AddrSet;
    let Some(c) = m.devices[dev].filter.as_ref().and_then(|f| f.chain(chain)) else {
        return false;
    };
    let set = |n: &Option<ipnet::Ipv4Net>| match n {
        Some(n) => AddrSet::from_nets(vec![*n]),
        None => AddrSet::from_nets(vec![ipnet::Ipv4Net::default()]),
    };
    let (mut srcs, mut dsts) = (AddrSet::new(), AddrSet::new());
    for r in &c.rules {
        if r.action != crate::input::Action::Accept {
            continue;
        }
        let (s, d) = (set(&r.source), set(&r.destination));
        if s.intersect(&t.src).is_empty() || d.intersect(&t.dst).is_empty() {
            continue;
        }
        srcs = srcs.union(&s);
        dsts = dsts.union(&d);
    }
    !t.src.is_empty() && t.src.minus(&srcs).is_empty() && t.dst.minus(&dsts).is_empty()
}
