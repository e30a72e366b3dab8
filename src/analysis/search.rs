//! Fix search: when a finding's own fix does not make its whole traffic pass (or a wrong
//! rule could simply go), candidate changes at the devices the failing traffic passes are
//! verified by re-analysis, and the first that makes the traffic pass both ways wins.
//!
//! Candidates, in order of preference:
//! 1. removing the rule that decided the drop, when that rule concerns only the
//!    connection's own traffic (a security-group or filter rule whose addresses lie in
//!    the connection's subnets): removing a wrong rule beats adding one that overrides it;
//! 2. for a routing fault (no route, a route out of the IDC in clear, a loop): a route at
//!    each on-prem device of the failing path, in path order, toward each neighbour (and
//!    into the tunnel at the IPsec gateway): the first device whose route, changed, lets
//!    the traffic through is the one whose decision sent it astray;
//! 3. the finding's own fix.
//!
//! When no single change passes, the search chains: the finding's own fix, then the fix
//! of the next cause the traffic meets, up to [`MAX_CHAIN`] changes; verified only when
//! the whole traffic then passes. Otherwise the fix names what else stops the traffic.

use crate::analysis::check::{self, Outcome};
use crate::analysis::fix;
use crate::engine::cause::Cause;
use crate::engine::trace::{self, Packet, Trace};
use crate::findings::cause::widen;
use crate::findings::change::{Change, Via};
use crate::findings::finding::Finding;
use crate::graph::index::Index;
use crate::input::{self, DeviceKind};
use crate::model::{Model, SgPeer};
use crate::net::addr::AddrSet;

/// The most changes one fix chains.
pub const MAX_CHAIN: usize = 4;

/// The most rules a narrowed security-group rule becomes.
const MAX_NARROWED: usize = 32;

/// The most single-change candidates verified per finding.
const MAX_CANDIDATES: usize = 16;

/// What the search settled on.
#[derive(Clone, Debug)]
pub struct Found {
    /// The changes, in order (the first is the finding's `change`, the rest `also`).
    pub plan: Vec<Change>,
    /// The whole traffic passes both ways with the plan applied.
    pub verified: bool,
    /// The fix in words (one sentence per change).
    pub fix: String,
    /// The vendor-language fix, when the plan's first change is the finding's own.
    pub own_first: bool,
    /// The device whose route sent the traffic astray, when it is not the one the cause
    /// names.
    pub blame: Option<Blame>,
}

/// The topology and model with a plan applied.
struct Applied<'a> {
    model: std::borrow::Cow<'a, Model>,
    index: std::borrow::Cow<'a, Index>,
    /// Prefix tables valid for the model's classes (see `check::prefixes_with`).
    prefixes: std::borrow::Cow<'a, check::Prefixes>,
    /// The objects the plan changed (see [`fix::Edited`]) ...
    edited: fix::Edited,
    /// ... over the topology as a whole once a change applied to it.
    whole: Option<input::Topology>,
    /// How many changes are applied (numbering the next one's ids).
    applied: usize,
}

impl<'a> Applied<'a> {
    /// Nothing applied yet.
    fn none(m: &'a Model, idx: &'a Index, prefixes: &'a check::Prefixes) -> Applied<'a> {
        use std::borrow::Cow;
        Applied {
            model: Cow::Borrowed(m),
            index: Cow::Borrowed(idx),
            prefixes: Cow::Borrowed(prefixes),
            edited: fix::Edited::default(),
            whole: None,
            applied: 0,
        }
    }

    /// Apply one more change: patched into the model where it touches one object, else
    /// applied to the topology and lowered afresh. None when it does not apply. Nothing
    /// is copied until a change needs it: a change to one object copies that object (kept
    /// in `edited` for later changes to it); only a change to the topology as a whole
    /// copies the topology.
    fn then(mut self, topo: &input::Topology, c: &Change) -> Option<Applied<'a>> {
        use std::borrow::Cow;
        self.applied += 1;
        let n = self.applied;
        let t = self.whole.as_ref().unwrap_or(topo);
        match fix::apply_to_model_edited(t, &mut self.edited, &self.model, c, n) {
            Some(res) => {
                let p = res.ok()?;
                if p.reindex != crate::graph::index::Reindex::Keep {
                    self.index = Cow::Owned(self.index.patched(&p.model, p.reindex));
                }
                self.prefixes =
                    Cow::Owned(check::prefixes_with(&self.prefixes, &p.model, p.patched, c));
                self.model = Cow::Owned(p.model);
            }
            None => {
                let mut t2 = self.edited.applied_to(t);
                self.edited = fix::Edited::default();
                fix::apply_in_place(&mut t2, c, n).ok()?;
                let lowered = crate::model::lower("(fixed)", &t2).ok()?;
                self.index = Cow::Owned(Index::build(&lowered));
                self.prefixes = Cow::Owned(check::prefixes_by_protocol(&lowered));
                self.model = Cow::Owned(lowered);
                self.whole = Some(t2);
            }
        }
        Some(self)
    }
}

/// Apply `plan` in order (see [`Applied::then`]). None when a change does not apply.
fn apply_plan<'a>(
    topo: &input::Topology,
    m: &'a Model,
    idx: &'a Index,
    prefixes: &'a check::Prefixes,
    plan: &[Change],
) -> Option<Applied<'a>> {
    plan.iter()
        .try_fold(Applied::none(m, idx, prefixes), |a, c| a.then(topo, c))
}

/// The packets of `members` that still fail in the applied model.
fn failing(a: &Applied, members: &[&Outcome]) -> Vec<Outcome> {
    check::refail(&a.model, &a.index, Some(&*a.prefixes), members)
}

/// A traced packet of the box, with hops (the representative `check` traces).
pub fn sample_trace(m: &Model, idx: &Index, o: &Outcome) -> Trace {
    let pt = o.region.corner(u32::from(check::EPHEMERAL_PORT));
    let (src, dst) = (
        std::net::Ipv4Addr::from(pt[0]),
        std::net::Ipv4Addr::from(pt[1]),
    );
    let pkt = Packet::new(src, dst, o.protocol, pt[2] as u16, pt[3] as u16);
    let from = idx.endpoint(src).unwrap_or(trace::Endpoint::Beyond {
        addr: src,
        ingress: None,
    });
    trace::trace_packet_in(m, idx, &from, pkt, String::new(), String::new(), None).0
}

/// The on-prem devices of the failing path of `t` (forward, else return), in order.
pub fn failing_path_devices(m: &Model, t: &Trace) -> Vec<usize> {
    let path = if t.forward.delivered() {
        t.ret.as_ref()
    } else {
        Some(&t.forward)
    };
    let mut out: Vec<usize> = Vec::new();
    for h in path.map(|p| p.hops.as_slice()).unwrap_or_default() {
        if let Some(d) = m.devices.iter().position(|d| d.id == h.device) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// Is the cause a routing fault (the fix is a route somewhere on the path)?
fn routing(c: &Cause) -> bool {
    matches!(
        c,
        Cause::DeviceNoRoute { .. }
            | Cause::LeftInClear { .. }
            | Cause::LeftNetwork { .. }
            | Cause::Loop { .. }
            | Cause::MartianSource { .. }
            | Cause::SessionMiss { .. }
    )
}

/// Is the cause one whose own fix should be tried after deleting the deciding rule?
/// Removing the rule that decided the drop, when the rule only concerns the connection's
/// traffic (its addresses lie inside the connection's subnets).
pub fn deletion(m: &Model, c: &Cause, conn: usize) -> Option<Change> {
    let cn = &m.connections[conn];
    // The connection's space as merged intervals: a prefix lies inside when one holds it.
    let space = cn.local_set.union(&cn.remote_set).intervals();
    let inside = |n: &ipnet::Ipv4Net| {
        let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
        let i = space.partition_point(|&(_, b)| b < lo);
        space.get(i).is_some_and(|&(a, b)| a <= lo && hi <= b)
    };
    match c {
        Cause::SgDrop {
            rule: Some((g, r)), ..
        } => {
            let rl = &m.security_groups[*g].rules[*r];
            let security_group = m.security_groups[*g].id.clone();
            let rule = rl.id.clone();
            let net = match rl.peer {
                SgPeer::Cidr(n) if inside(&n) => {
                    return Some(Change::DeleteSgRule {
                        security_group,
                        rule,
                    })
                }
                SgPeer::Cidr(n) => n,
                SgPeer::Any => "0.0.0.0/0".parse().ok()?,
                SgPeer::Group(_) => return None,
            };
            // Wider than the connection: narrowed to what lies outside it.
            let peers = AddrSet::from_nets(vec![net])
                .minus(&cn.local_set.union(&cn.remote_set))
                .cidrs();
            (peers.len() <= MAX_NARROWED).then_some(Change::NarrowSgRule {
                security_group,
                rule,
                peers,
            })
        }
        Cause::FilterDrop {
            dev,
            chain,
            rule: Some(r),
            ..
        } => {
            let d = &m.devices[*dev];
            let rl = &d.filter.as_ref()?.chain(*chain)?.rules[*r];
            match (rl.source, rl.destination) {
                (Some(s), Some(t)) if inside(&s) && inside(&t) => Some(Change::DeleteFilterRule {
                    device: d.id.clone(),
                    chain: *chain,
                    rule: rl.id.clone(),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Routes for the finding's destination at each on-prem device of the failing path
/// (hosts aside), toward each neighbour on a shared subnet; at the device the finding
/// names, its own fix first. For a reply a stateful device drops because it did not see
/// the request, the request's path is the one to change too: routes for the request's
/// destination at each device of the forward path.
fn route_candidates(m: &Model, idx: &Index, f: &Finding, members: &[&Outcome]) -> Vec<Change> {
    let o = &members[0];
    let t = sample_trace(m, idx, o);
    let cn = &m.connections[o.conn];
    // A route for the VPC is written for its configured prefixes; one for IDC space
    // toward one neighbour names only the space that failed (the connection's remote
    // subnets may span several routers).
    let dest_of = |cidrs: &[crate::net::addr::Cidr]| {
        let set = AddrSet::from_cidrs(cidrs.iter());
        if set.minus(&cn.remote_set).is_empty() {
            set.cidrs()
        } else {
            widen(m, Some(o.conn), &set)
        }
    };
    // A loop's fix changes one of its routes: only the loop's devices.
    let in_loop: Option<Vec<usize>> = match o.cause.as_ref() {
        Some(Cause::Loop { routes, .. }) if !routes.is_empty() => {
            Some(routes.iter().map(|r| r.dev).collect())
        }
        _ => None,
    };
    let mut plans: Vec<(Vec<usize>, Vec<crate::net::addr::Cidr>)> =
        vec![(failing_path_devices(m, &t), dest_of(&f.destination))];
    if matches!(o.cause, Some(Cause::SessionMiss { .. })) {
        let mut fwd: Vec<usize> = Vec::new();
        for h in &t.forward.hops {
            if let Some(d) = m.devices.iter().position(|d| d.id == h.device) {
                if !fwd.contains(&d) {
                    fwd.push(d);
                }
            }
        }
        plans.push((fwd, dest_of(&f.source)));
    }
    let mut out = Vec::new();
    for (devices, dest) in plans {
        for d in devices {
            let dv = &m.devices[d];
            if dv.kind == DeviceKind::Host || in_loop.as_ref().is_some_and(|l| !l.contains(&d)) {
                continue;
            }
            if let Some(c @ Change::AddDeviceRoute { device, .. }) = &f.change {
                if *device == dv.id {
                    out.push(c.clone());
                }
            }
            for fc in &dv.interfaces {
                for (g, gv) in m.devices.iter().enumerate() {
                    if g == d {
                        continue;
                    }
                    for gf in gv.interfaces.iter().filter(|x| x.net == fc.net) {
                        out.push(Change::AddDeviceRoute {
                            device: dv.id.clone(),
                            destinations: dest.clone(),
                            via: Via::Interface {
                                interface: fc.name.clone(),
                                gateway: Some(gf.addr),
                            },
                        });
                    }
                }
            }
        }
    }
    out
}

/// The fix of the first cause that still stops part of `left` in the applied model: its
/// change, its fix in words and the cause named (`CODE at DEVICE, rule R`).
fn next_fix(
    a: &Applied,
    left: &[Outcome],
    infra: &[u32],
) -> Option<(Option<Change>, String, String)> {
    let first = left.first()?;
    let cause = first.cause.as_ref()?;
    let same: Vec<&Outcome> = left
        .iter()
        .filter(|o| o.cause.as_ref() == Some(cause) && o.dir == first.dir)
        .collect();
    let (mut f, _) = check::finding_of(&a.model, &a.index, infra, cause.is_reply(), same);
    // A wrong rule that can go goes, rather than being outranked (a drop at priority 1
    // cannot be).
    if let Some(c) = deletion(&a.model, cause, first.conn) {
        f.fix = describe(&a.model, &c);
        f.change = Some(c);
    }
    let named = format!(
        "{} at {}{}",
        f.code,
        f.device.clone().unwrap_or_default(),
        f.rule
            .as_ref()
            .map(|r| format!(", rule {r}"))
            .unwrap_or_default()
    );
    Some((f.change.clone(), f.fix.clone(), named))
}

/// A change in words, for a candidate that is not the finding's own fix.
pub fn describe(m: &Model, c: &Change) -> String {
    match c {
        Change::DeleteSgRule {
            security_group,
            rule,
        } => {
            // A drop at priority 1 cannot be outranked: deleting it is the fix, and the
            // verification shows the other rules then allow the traffic.
            let top = m
                .security_groups
                .iter()
                .find(|g| g.id == *security_group)
                .and_then(|g| g.rules.iter().find(|r| r.id == *rule))
                .is_some_and(|r| r.priority == 1);
            if top {
                format!(
                    "delete rule {rule} (drop, priority 1) from {security_group}: no accept can outrank it, and without it the instance's other rules allow this traffic"
                )
            } else {
                format!("delete rule {rule} from {security_group}")
            }
        }
        Change::NarrowSgRule {
            security_group,
            rule,
            peers,
        } => format!(
            "narrow drop rule {rule} of {security_group} to {} (what it drops outside this connection's subnets), so that it no longer drops this traffic and the instance's other rules allow it",
            crate::net::addr::join_cidrs(peers)
        ),
        Change::DeleteFilterRule {
            device,
            chain,
            rule,
        } => format!(
            "delete rule {rule} from the {} chain of {device}",
            chain.as_str()
        ),
        Change::AddDeviceRoute {
            device,
            destinations,
            via,
        } => {
            let toward = match via {
                Via::Tunnel(t) => format!("into tunnel {t}"),
                Via::Interface { interface, gateway } => {
                    let who = gateway.and_then(|g| {
                        m.devices
                            .iter()
                            .find(|d| d.owns(g))
                            .map(|d| format!(" ({})", d.id))
                    });
                    match gateway {
                        Some(g) => format!("via {g} dev {interface}{}", who.unwrap_or_default()),
                        None => format!("dev {interface}"),
                    }
                }
            };
            // A route of the same prefix is changed, not shadowed.
            let same: Vec<&str> = m
                .devices
                .iter()
                .find(|d| d.id == *device)
                .map(|d| {
                    d.routes
                        .iter()
                        .filter(|r| destinations.iter().any(|x| x.network() == r.destination))
                        .map(|r| r.id.as_str())
                        .collect()
                })
                .unwrap_or_default();
            if same.is_empty() {
                format!(
                    "add to {device} a route {} {toward}",
                    crate::net::addr::join_cidrs(destinations)
                )
            } else {
                format!(
                    "change route {} of {device} to {} {toward}",
                    same.join(", "),
                    crate::net::addr::join_cidrs(destinations)
                )
            }
        }
        other => other.to_string(),
    }
}

/// Search a fix for the finding `f` (an error whose boxes are `members`) whose own fix
/// does not pass alone; `tried`: single changes known not to pass, each with the packets
/// of `members` still failing after it (`check` verified them: the own fix and the
/// deletion); `infra`: the network devices' own addresses (see `check`). The arguments
/// are the original topology, model, index and prefix tables (candidates are applied to
/// them), the finding and its facts.
///
/// Single changes first (the deletion, the routes along the path); then chains, each
/// starting from one of those candidates or the own fix in the same order, so that a
/// routing fault is fixed at the first device whose changed route lets the traffic
/// reach the next cause, not at a later device the traffic should never have reached.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search<'a>(
    topo: &input::Topology,
    m: &'a Model,
    idx: &'a Index,
    prefixes: &'a check::Prefixes,
    f: &Finding,
    members: &[&Outcome],
    tried: &[(Change, Vec<Outcome>)],
    infra: &[u32],
) -> Option<Found> {
    let cause = members.first()?.cause.as_ref()?;
    let mut cands: Vec<Change> = Vec::new();
    cands.extend(deletion(m, cause, members[0].conn));
    if routing(cause) {
        cands.extend(route_candidates(m, idx, f, members));
    }
    if let Some(c) = &f.change {
        cands.push(c.clone());
    }
    let mut seen: Vec<Change> = Vec::new();
    for c in cands {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen.truncate(MAX_CANDIDATES);
    let words = |c: &Change| {
        if f.change.as_ref() == Some(c) {
            f.fix.clone()
        } else {
            describe(m, c)
        }
    };
    let known = |c: &Change| tried.iter().find(|(x, _)| x == c).map(|(_, l)| l);
    let was = check::cause_name(m, cause);
    // A candidate's chain, when it starts one: the own fix always; another first change
    // only when the traffic no longer stops where it did.
    let start = |c: &Change, a: Applied<'a>, left: Vec<Outcome>| -> Option<(bool, Start<'a>)> {
        let own = f.change.as_ref() == Some(c);
        let moves = !check::stops(&a.model, &left).contains(&was);
        (own || moves).then(|| {
            let start = Start {
                change: c.clone(),
                words: words(c),
                done: (a, left),
            };
            (own, start)
        })
    };
    let run = |(own, start): (bool, Start)| {
        let c = start.change.clone();
        chain(topo, members, infra, start).map(|found| (own, c, found))
    };
    // Chains: from each candidate in the same order (the deletion, the routes along
    // the path, the own fix); the first that passes wins.
    let chains: Vec<(bool, Change, Found)> =
        if !routing(cause) && seen.iter().all(|c| known(c).is_some_and(|l| !l.is_empty())) {
            // Every candidate was verified already and none passes alone (the deletion and
            // the own fix): their chains one after the other (the first usually passes),
            // each first change applied only when its chain is tried.
            until_verified(seen.iter().take(MAX_CHAINS).map(|c| {
                let a = apply_plan(topo, m, idx, prefixes, std::slice::from_ref(c))?;
                let left = known(c).expect("every candidate is known").clone();
                start(c, a, left).and_then(run)
            }))
        } else {
            // The first step of each candidate: the applied model and what still fails.
            // (In parallel: a routing fault has many candidates, each a re-analysis.)
            use rayon::prelude::*;
            let firsts: Vec<Option<(Applied, Vec<Outcome>)>> = seen
                .par_iter()
                .map(|c| {
                    let a = apply_plan(topo, m, idx, prefixes, std::slice::from_ref(c))?;
                    let left = match known(c) {
                        Some(l) => l.clone(),
                        None => failing(&a, members),
                    };
                    Some((a, left))
                })
                .collect();
            // The first candidate (in order) that passes alone.
            for (c, first) in seen.iter().zip(&firsts) {
                if first.as_ref().is_some_and(|(_, left)| left.is_empty()) {
                    return Some(Found {
                        plan: vec![c.clone()],
                        verified: true,
                        fix: words(c),
                        own_first: false,
                        blame: blame(m, members, c),
                    });
                }
            }
            let starts: Vec<(bool, Start)> = seen
                .iter()
                .zip(firsts)
                .take(MAX_CHAINS)
                .filter_map(|(c, first)| {
                    let (a, left) = first?;
                    start(c, a, left)
                })
                .collect();
            // A routing fault's chains are run together (in parallel: many candidates, each
            // chain several re-analyses), others one after the other.
            if routing(cause) {
                starts.into_par_iter().filter_map(run).collect()
            } else {
                until_verified(starts.into_iter().map(run))
            }
        };
    let mut own_start = None;
    for (own, c, found) in chains {
        if found.verified {
            return Some(Found {
                own_first: own,
                blame: blame(m, members, &c),
                ..found
            });
        }
        if own {
            own_start = Some(found);
        }
    }
    // None passes: the own fix, with what else stops the traffic after it.
    let found = match own_start {
        Some(found) => found,
        None => {
            let c = f.change.clone()?;
            let a = apply_plan(topo, m, idx, prefixes, std::slice::from_ref(&c))?;
            let left = match known(&c) {
                Some(l) => l.clone(),
                None => failing(&a, members),
            };
            let start = Start {
                words: f.fix.clone(),
                change: c,
                done: (a, left),
            };
            chain(topo, members, infra, start)?
        }
    };
    Some(Found {
        own_first: true,
        ..found
    })
}

/// The chains' results in order, up to the first that passes (the rest are not run).
fn until_verified(
    chains: impl Iterator<Item = Option<(bool, Change, Found)>>,
) -> Vec<(bool, Change, Found)> {
    let mut v = Vec::new();
    for x in chains.flatten() {
        let done = x.2.verified;
        v.push(x);
        if done {
            break;
        }
    }
    v
}

/// The most chains tried from different first changes.
const MAX_CHAINS: usize = 8;

/// When the fix that works is a route on an on-prem device the traffic passed before the
/// device the cause names, that device's decision sent the traffic astray: the finding
/// is about its route (see [`Blame`]).
fn blame(m: &Model, members: &[&Outcome], c: &Change) -> Option<Blame> {
    let Change::AddDeviceRoute {
        device,
        destinations,
        ..
    } = c
    else {
        return None;
    };
    let cause = members.first()?.cause.as_ref()?;
    // A loop names its routes already.
    if !routing(cause) || matches!(cause, Cause::Loop { .. }) {
        return None;
    }
    if cause.device(m) == *device {
        return None;
    }
    let d = m.devices.iter().position(|x| x.id == *device)?;
    // The region is the flow's: the packet the route is for goes to the end the fix's
    // destinations hold (a reply to the flow's source, a request to its destination).
    let r0 = &members[0].region;
    let ends = [r0.lo[1], r0.lo[0]].map(std::net::Ipv4Addr::from);
    let dst = ends
        .into_iter()
        .find(|a| destinations.iter().any(|x| x.network().contains(a)))
        .unwrap_or(if cause.is_reply() { ends[1] } else { ends[0] });
    let r = crate::model::rules::route_lookup(&m.devices[d], dst)?;
    let next = r
        .gateway
        .and_then(|g| m.devices.iter().find(|x| x.owns(g)).map(|x| x.id.clone()));
    Some(Blame {
        device: device.clone(),
        route: r.id.clone(),
        origin: m.devices[d]
            .routes
            .iter()
            .find(|x| x.id == r.id)
            .and_then(|x| x.origin.as_ref())
            .map(|o| o.to_string()),
        message: crate::findings::diverted(
            &m.devices[d].id,
            &r.id,
            r.gateway,
            next.as_deref(),
            &cause.device(m),
        ),
    })
}

/// The finding's cause is where the traffic stopped; the device whose route sent it
/// there is named instead, with its route (`device`, `rule`, `origin`) and a sentence
/// put before the message.
#[derive(Clone, Debug)]
pub struct Blame {
    pub device: String,
    pub route: String,
    pub origin: Option<String>,
    pub message: String,
}

/// A chain's first change, its words, and its re-analysis (the applied model and the
/// packets still failing).
struct Start<'a> {
    change: Change,
    words: String,
    done: (Applied<'a>, Vec<Outcome>),
}

/// The start's change, then the fix of each next cause the traffic meets, until the
/// whole traffic passes (verified) or no further change helps (not verified: the fix
/// names what else stops the traffic). A change that only opens (see [`fix::opens`])
/// re-analyses only the packets still failing: every packet that passed still passes.
fn chain(
    topo: &input::Topology,
    members: &[&Outcome],
    infra: &[u32],
    start: Start<'_>,
) -> Option<Found> {
    let first_words = start.words;
    let mut plan = vec![start.change];
    let mut words = vec![first_words.clone()];
    // What stops the traffic after the first change alone (the fix names it): the first
    // cause with its fix, and how many other causes stop part of it.
    let mut after_first: Option<(String, usize)> = None;
    let (mut a, mut left) = start.done;
    loop {
        if left.is_empty() {
            return Some(Found {
                fix: words.join("; then "),
                plan,
                verified: true,
                own_first: false,
                blame: None,
            });
        }
        let Some((change, fix, named)) = next_fix(&a, &left, infra) else {
            break;
        };
        if after_first.is_none() {
            let others = check::stops(&a.model, &left).len().saturating_sub(1);
            after_first = Some((format!("{named}: {fix}"), others));
        }
        let c = match change {
            Some(c) if plan.len() < MAX_CHAIN && !plan.contains(&c) => c,
            _ => break,
        };
        let opens = fix::opens(topo, &a.model, &c);
        let Some(a2) = a.then(topo, &c) else {
            break;
        };
        left = if opens {
            let refs: Vec<&Outcome> = left.iter().collect();
            failing(&a2, &refs)
        } else {
            failing(&a2, members)
        };
        a = a2;
        plan.push(c);
        words.push(fix);
    }
    let first = plan.swap_remove(0);
    let (still, others) = after_first.unwrap_or_default();
    let others = match others {
        0 => String::new(),
        1 => " (and 1 other cause stops part of it)".to_string(),
        n => format!(" (and {n} other causes stop part of it)"),
    };
    Some(Found {
        fix: format!(
            "{first_words} — not enough on its own: after it, this traffic still stops at {still}{others}"
        ),
        plan: vec![first],
        verified: false,
        own_first: false,
        blame: None,
    })
}

/// Put what the search found into the finding: the fix, its verdict, its changes, and
/// the device to blame when it is not the one where the traffic stopped.
pub fn settle(f: &mut Finding, found: Found) {
    f.verified = Some(found.verified);
    f.fix = found.fix;
    if !found.own_first {
        f.vendor_fix = vendor_fix(&found.plan[0]);
    }
    let mut plan = found.plan.into_iter();
    f.change = plan.next();
    f.also = plan.collect();
    if let Some(b) = found.blame {
        f.message = format!("{}: {}", b.message, f.message);
        f.device = Some(b.device);
        f.rule = Some(b.route);
        f.origin = b.origin;
    }
}

/// The vendor-language form of a change the search found (the finding's own fix carries
/// its own).
pub fn vendor_fix(c: &Change) -> Vec<String> {
    match c {
        Change::DeleteSgRule {
            security_group,
            rule,
        } => vec![format!(
            "Alibaba Cloud API: RevokeSecurityGroup SecurityGroupId={security_group} SecurityGroupRuleId.1={rule}"
        )],
        Change::NarrowSgRule {
            security_group,
            rule,
            peers,
        } => {
            let mut v = vec![format!(
                "Alibaba Cloud API: RevokeSecurityGroup SecurityGroupId={security_group} SecurityGroupRuleId.1={rule}"
            )];
            v.extend(peers.iter().map(|p| {
                format!(
                    "Alibaba Cloud API: AuthorizeSecurityGroup SecurityGroupId={security_group} Policy=drop SourceCidrIp={p} (the other fields as rule {rule} had them)"
                )
            }));
            v
        }
        _ => Vec::new(),
    }
}
