//! Security groups of an instance (faq 3/4).

use super::cause::{list, Ctx, Detail};
use super::change::Change;
use crate::input::{Action, Direction};
use crate::model::SgPeer;
use crate::net::addr::{AddrSet, Ports, Protocol};

/// `SG_EGRESS_DROP`, `SG_INGRESS_DROP`: the instance's security groups drop the packet,
/// by a drop rule (`rule`: (group, rule)) or by the default deny. The fix adds an accept
/// to the instance's first group, one priority above the drop rule; a drop at priority 1
/// cannot be outranked, and the fix says so.
pub(super) fn drop(
    cx: &Ctx,
    instance: usize,
    direction: Direction,
    rule: Option<(usize, usize)>,
    rule_id: Option<String>,
) -> Detail {
    let (m, t) = (cx.m, cx.t);
    let inst = &m.instances[instance];
    let groups: Vec<&str> = inst
        .security_groups
        .iter()
        .map(|g| m.security_groups[*g].id.as_str())
        .collect();
    let (dir_word, peers) = match direction {
        Direction::Ingress => ("ingress", cx.widen_src()),
        Direction::Egress => ("egress", cx.widen_dst()),
    };
    let drop_rule = rule.map(|(g, r)| (&m.security_groups[g], &m.security_groups[g].rules[r]));
    let by = match drop_rule {
        Some((g, rl)) => format!(
            "rule {} of {} (drop, priority {})",
            rl.id, g.id, rl.priority
        ),
        None => format!("no rule: default deny of {}", groups.join(", ")),
    };
    // The group that decides (the drop rule's, or the first for the default deny): the
    // fix goes there, and every instance the traffic reaches through it shares it.
    let deciding = super::cause::deciding_group(m, instance, rule);
    let target = deciding.map_or("a security group".to_string(), |g| {
        m.security_groups[g].id.clone()
    });
    let prio = match drop_rule {
        Some((_, rl)) if rl.priority > 1 => rl.priority - 1,
        _ => 1,
    };
    let tie = drop_rule.is_some_and(|(_, rl)| rl.priority == 1);
    let proto = t.protocol;
    let ports = if proto.has_ports() {
        t.dst_ports
    } else {
        Ports::ANY
    };
    let side = match direction {
        Direction::Ingress => &t.dst,
        Direction::Egress => &t.src,
    };
    let sharing = instances_sharing(cx, instance, rule, side);
    let mut msg = if sharing.len() > 1 {
        format!(
            "security group {} drops {} {} at {} instances ({}): {}",
            target,
            dir_word,
            cx.what,
            sharing.len(),
            shortlist(&sharing),
            by
        )
    } else {
        format!(
            "security groups of instance {} ({}) drop {} {}: {}",
            inst.id,
            groups.join(", "),
            dir_word,
            cx.what,
            by
        )
    };
    let ties = rule
        .map(|(g, r)| tied_accepts(cx, instance, g, r))
        .unwrap_or_default();
    if !ties.is_empty() {
        msg.push_str(&format!(
            "; the accept {} {} {} the same priority and {} the tie: among an instance's security groups, at equal priority a drop wins",
            if ties.len() == 1 { "rule" } else { "rules" },
            ties.join(", "),
            if ties.len() == 1 { "has" } else { "have" },
            if ties.len() == 1 { "loses" } else { "lose" },
        ));
    }
    let peer_word = if direction == Direction::Ingress {
        "source"
    } else {
        "destination"
    };
    let mut fix = format!(
        "add to {} an {} rule: accept, priority {}, protocol {}, ports {}, {} {}",
        target,
        dir_word,
        prio,
        proto,
        ports,
        peer_word,
        list(&peers)
    );
    if tie {
        fix = format!(
            "the deciding drop rule has priority 1, so no accept can outrank it: narrow or delete rule {}, then {}",
            rule_id.unwrap_or_default(),
            fix
        );
    }
    let (call, cidr_key) = if direction == Direction::Ingress {
        ("AuthorizeSecurityGroup", "SourceCidrIp")
    } else {
        ("AuthorizeSecurityGroupEgress", "DestCidrIp")
    };
    let port_range = if ports.is_any() {
        "-1/-1".to_string()
    } else {
        format!("{}/{}", ports.lo, ports.hi)
    };
    let vendor_fix = peers
        .iter()
        .map(|p| {
            format!(
                "Alibaba Cloud API: {} SecurityGroupId={} IpProtocol={} PortRange={} {}={} Policy=accept Priority={}",
                call, target, proto, port_range, cidr_key, p, prio
            )
        })
        .collect();
    Detail {
        vendor_fix,
        ..Detail::new(cx.faq, msg, fix).with_change(Change::AddSgRule {
            security_group: target,
            direction,
            priority: prio,
            protocol: proto,
            ports,
            peers,
        })
    }
}

/// The instances inside `side` (the traffic's cloud-side addresses) whose groups decide
/// as `instance`'s do here: those holding the drop rule's group, or, for the default
/// deny, those with the same groups. In address order.
fn instances_sharing<'m>(
    cx: &Ctx<'m>,
    instance: usize,
    rule: Option<(usize, usize)>,
    side: &crate::net::addr::AddrSet,
) -> Vec<&'m str> {
    let m = cx.m;
    let own = &m.instances[instance].security_groups;
    m.instances_in(side)
        .map(|k| &m.instances[k])
        .filter(|i| match rule {
            Some((g, _)) => i.security_groups.contains(&g),
            None => &i.security_groups == own,
        })
        .map(|i| i.id.as_str())
        .collect()
}

/// `a, b, c and 93 more`: the first three of a list.
fn shortlist(v: &[&str]) -> String {
    const FIRST: usize = 3;
    if v.len() <= FIRST {
        v.join(", ")
    } else {
        format!("{} and {} more", v[..FIRST].join(", "), v.len() - FIRST)
    }
}

/// The accept rules of the instance's groups with the drop rule's priority and direction
/// that match the traffic too (a drop wins a tie across an instance's groups), named
/// `RULE of GROUP`.
fn tied_accepts(cx: &Ctx, instance: usize, g: usize, r: usize) -> Vec<String> {
    let m = cx.m;
    let drop = &m.security_groups[g].rules[r];
    let peers = match drop.direction {
        Direction::Ingress => &cx.t.src,
        Direction::Egress => &cx.t.dst,
    };
    let mut out = Vec::new();
    for &og in &m.instances[instance].security_groups {
        for rl in &m.security_groups[og].rules {
            // The peer test builds an address set: asked last, of the tied accepts only.
            let covers = || match &rl.peer {
                SgPeer::Any => true,
                SgPeer::Cidr(n) => !peers.intersect(&AddrSet::from_nets(vec![*n])).is_empty(),
                SgPeer::Group(_) => false,
            };
            let proto = rl.protocol == Protocol::All || rl.protocol == cx.t.protocol;
            // Ports matter only when both name some.
            let ports = !cx.t.protocol.has_ports()
                || rl.protocol == Protocol::All
                || (rl.ports.lo <= cx.t.dst_ports.hi && cx.t.dst_ports.lo <= rl.ports.hi);
            if rl.action == Action::Accept
                && rl.direction == drop.direction
                && rl.priority == drop.priority
                && proto
                && ports
                && covers()
            {
                out.push(format!("{} of {}", rl.id, m.security_groups[og].id));
            }
        }
    }
    out
}

/// Whether the instance's groups accept other services from/to all of the peers of a
/// default-denied traffic (its `direction`'s peers): then the deny is a port policy, not
/// a broken VPN. Asks the groups alone, so it does not depend on any other fault.
pub(super) fn allows_other_services(
    m: &crate::model::Model,
    instance: usize,
    direction: Direction,
    t: &crate::findings::cause::Traffic,
) -> bool {
    let peers = match direction {
        Direction::Ingress => &t.src,
        Direction::Egress => &t.dst,
    };
    let mut covered = AddrSet::new();
    for &g in &m.instances[instance].security_groups {
        for r in &m.security_groups[g].rules {
            if r.action != Action::Accept || r.direction != direction {
                continue;
            }
            match r.peer {
                SgPeer::Any => return true,
                SgPeer::Cidr(n) => covered = covered.union(&AddrSet::from_nets(vec![n])),
                SgPeer::Group(_) => {}
            }
        }
    }
    !peers.is_empty() && peers.minus(&covered).is_empty()
}
