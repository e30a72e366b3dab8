//! Verification of a split plan: the patched topology is traced for every subnet pair
//! of the old connection, both ways, before and after.

use std::net::Ipv4Addr;

use super::{
    apply, FlowCheck, Outcome, PairCheck, PairStatus, SplitError, SplitPlan, Verification,
};
use crate::engine::trace::{self, FlowQuery};
use crate::findings::finding::FlowDirection;
use crate::graph::index::Index;
use crate::input::{self, DeviceKind};
use crate::model::{self, Model};
use crate::net::addr::{AddrSet, Cidr, Protocol};

/// The source port of traced TCP/UDP flows (as `vpntrace trace`).
const SOURCE_PORT: u16 = 40000;

/// Trace the patched topology: fill `p.verification`, set `p.verified` and add notes on
/// pairs that cannot be traced. `locals` and `remotes` are the old connection's subnets.
pub(super) fn verify(
    topo: &input::Topology,
    m: &Model,
    p: &mut SplitPlan,
    locals: &[Cidr],
    remotes: &[Cidr],
) -> Result<(), SplitError> {
    let patched = apply(topo, p);
    let after =
        model::lower("(patched topology)", &patched).map_err(SplitError::PatchedDoesNotLoad)?;
    // One lookup index per model for every probe.
    let models = BeforeAfter {
        before: m,
        after: &after,
        idx_before: Index::build(m),
        idx_after: Index::build(&after),
    };
    let pairs: Vec<(Cidr, Cidr)> = locals
        .iter()
        .flat_map(|l| remotes.iter().map(move |r| (*l, *r)))
        .collect();
    let mut probes = topology_probes(topo, &models, &pairs);
    representative_probes(m, &pairs, &mut probes);
    probes.sort_by_key(|x| (x.pair, x.direction));
    let out: Vec<PairCheck> = pairs
        .iter()
        .enumerate()
        .map(|(k, &(l, r))| {
            let flows: Vec<FlowCheck> = probes
                .iter()
                .filter(|x| x.pair == k)
                .filter_map(|pr| models.flow_check(pr))
                .collect();
            PairCheck {
                local: l,
                remote: r,
                connection: carrier(p, l, r),
                status: pair_status(&flows),
                flows,
            }
        })
        .collect();
    conclude(p, out);
    Ok(())
}

/// The topology before and after the split, each with its lookup index.
struct BeforeAfter<'a> {
    before: &'a Model,
    after: &'a Model,
    idx_before: Index,
    idx_after: Index,
}

impl BeforeAfter<'_> {
    /// Trace `pr` before and after; `None` when an end does not resolve in either model.
    fn flow_check(&self, pr: &Probe) -> Option<FlowCheck> {
        let b = run_probe(self.before, &self.idx_before, pr)?;
        let a = run_probe(self.after, &self.idx_after, pr)?;
        let m = self.before;
        // A named endpoint shows its address too.
        let name = |s: &str, addr: Ipv4Addr| {
            if trace::resolve_endpoint(m, s).is_ok() && s.parse::<Ipv4Addr>().is_err() {
                format!("{s} ({addr})")
            } else {
                s.to_string()
            }
        };
        Some(FlowCheck {
            direction: pr.direction,
            from: name(&pr.from, b.flow.packet.src),
            to: name(&pr.to, b.flow.packet.dst),
            service: service(pr.protocol, pr.port),
            origin: pr.origin.clone(),
            before: Outcome::of(m, &b),
            after: Outcome::of(self.after, &a),
        })
    }
}

/// The topology's own flows, each assigned to the pair and direction it falls in (flows
/// outside every pair, of protocol `all`, or TCP/UDP without a port are left out).
fn topology_probes(
    topo: &input::Topology,
    models: &BeforeAfter,
    pairs: &[(Cidr, Cidr)],
) -> Vec<Probe> {
    let mut probes: Vec<Probe> = Vec::new();
    for (i, f) in topo.flows.iter().enumerate() {
        let protocol = f.protocol.unwrap_or(if f.port.is_some() {
            Protocol::Tcp
        } else {
            Protocol::Icmp
        });
        if protocol == Protocol::All || (protocol.has_ports() && f.port.is_none()) {
            continue;
        }
        let mut probe = Probe {
            pair: 0,
            direction: FlowDirection::CloudToOnprem,
            from: f.from.clone(),
            to: f.to.clone(),
            protocol,
            port: f.port,
            origin: format!("flows[{i}]"),
        };
        let Some(t) = run_probe(models.before, &models.idx_before, &probe) else {
            continue;
        };
        let (s, d) = (t.flow.packet.src, t.flow.packet.dst);
        let hit = pairs.iter().enumerate().find_map(|(k, (l, r))| {
            if l.contains(s) && r.contains(d) {
                Some((k, FlowDirection::CloudToOnprem))
            } else if r.contains(s) && l.contains(d) {
                Some((k, FlowDirection::OnpremToCloud))
            } else {
                None
            }
        });
        if let Some((k, dir)) = hit {
            probe.pair = k;
            probe.direction = dir;
            probes.push(probe);
        }
    }
    probes
}

/// Representative ICMP, every cloud endpoint to every IDC endpoint of the pair, for each
/// pair and direction the topology names no flow in.
fn representative_probes(m: &Model, pairs: &[(Cidr, Cidr)], probes: &mut Vec<Probe>) {
    for (k, (l, r)) in pairs.iter().enumerate() {
        let cl = cloud_reps(m, *l);
        let ic = idc_reps(m, *r);
        for dir in [FlowDirection::CloudToOnprem, FlowDirection::OnpremToCloud] {
            if probes.iter().any(|x| x.pair == k && x.direction == dir) {
                continue;
            }
            let (srcs, dsts) = match dir {
                FlowDirection::CloudToOnprem => (&cl, &ic),
                FlowDirection::OnpremToCloud => (&ic, &cl),
            };
            for a in srcs {
                for b in dsts {
                    probes.push(Probe {
                        pair: k,
                        direction: dir,
                        from: a.clone(),
                        to: b.clone(),
                        protocol: Protocol::Icmp,
                        port: None,
                        origin: "representative".into(),
                    });
                }
            }
        }
    }
}

/// The id of the new connection that carries pair `l` ⇄ `r` (empty when none does).
fn carrier(p: &SplitPlan, l: Cidr, r: Cidr) -> String {
    let lset = AddrSet::from_cidrs([&l]);
    let rset = AddrSet::from_cidrs([&r]);
    p.connections
        .iter()
        .find(|c| {
            lset.is_subset(&AddrSet::from_cidrs(&c.local_subnets))
                && rset.is_subset(&AddrSet::from_cidrs(&c.remote_subnets))
        })
        .map(|c| c.id.clone())
        .unwrap_or_default()
}

/// A pair's status from its flows: fixed, works, still failing, broken, or no endpoints.
fn pair_status(flows: &[FlowCheck]) -> PairStatus {
    if flows.is_empty() {
        return PairStatus::NoEndpoints;
    }
    let before = flows.iter().all(|f| f.before.ok);
    let after = flows.iter().all(|f| f.after.ok);
    let broke = flows.iter().any(|f| f.before.ok && !f.after.ok);
    match (before, after) {
        (_, true) if before => PairStatus::Works,
        (_, true) => PairStatus::Fixed,
        _ if broke && before => PairStatus::Broken,
        _ if broke => PairStatus::StillFailing,
        (true, false) => PairStatus::Broken,
        (false, false) => PairStatus::StillFailing,
    }
}

/// The verdict: the plan is verified when some flow was traced, none broke, and every
/// pair is fixed, works or has no endpoints; notes name the untraced pairs.
fn conclude(p: &mut SplitPlan, out: Vec<PairCheck>) {
    let any_flow = out.iter().any(|x| !x.flows.is_empty());
    let broke = out
        .iter()
        .flat_map(|x| x.flows.iter())
        .any(|f| f.before.ok && !f.after.ok);
    p.verified = any_flow
        && !broke
        && out.iter().all(|x| {
            matches!(
                x.status,
                PairStatus::Fixed | PairStatus::Works | PairStatus::NoEndpoints
            )
        });
    for x in out.iter().filter(|x| x.status == PairStatus::NoEndpoints) {
        p.notes.push(format!(
            "nothing in the topology holds addresses on both sides of {} ⇄ {}: \
             the pair is not traced",
            x.local, x.remote
        ));
    }
    if !any_flow {
        p.notes
            .push("no flow of the connection could be traced: the plan is not verified".into());
    }
    p.verification = Verification {
        method: "the patched topology (both ends changed as planned, each new connection \
                 with its expected SA) is traced for every VPC×IDC subnet pair of the old \
                 connection, both ways, before and after: the topology's flows that fall in \
                 the pair, else ICMP between representative endpoints (the instances and \
                 hosts inside the subnets, else the first free address of the part of the \
                 subnet that exists)"
            .into(),
        pairs: out,
    };
}

/// A flow to verify with.
struct Probe {
    pair: usize,
    direction: FlowDirection,
    from: String,
    to: String,
    protocol: Protocol,
    port: Option<u16>,
    origin: String,
}

/// `tcp/3306`, `icmp`.
fn service(p: Protocol, port: Option<u16>) -> String {
    match port {
        Some(n) if p.has_ports() => format!("{p}/{n}"),
        _ => p.to_string(),
    }
}

/// Trace probe `p` in `m`; `None` when an end does not resolve.
fn run_probe(m: &Model, idx: &Index, p: &Probe) -> Option<trace::Trace> {
    let from = trace::resolve_endpoint(m, &p.from).ok()?;
    let to = trace::resolve_endpoint(m, &p.to).ok()?;
    Some(trace::trace_with(
        m,
        idx,
        &FlowQuery {
            from,
            to,
            protocol: p.protocol,
            dst_port: p.port.unwrap_or(0),
            src_port: SOURCE_PORT,
        },
    ))
}

/// The first address of `net` usable by a host (not the network or broadcast address of
/// a /30 or larger) that no modelled device or instance holds.
fn first_free(m: &Model, net: ipnet::Ipv4Net) -> Option<Ipv4Addr> {
    let (lo, hi) = (u32::from(net.network()), u32::from(net.broadcast()));
    let (lo, hi) = if net.prefix_len() < 31 {
        (lo + 1, hi - 1)
    } else {
        (lo, hi)
    };
    (lo..=hi)
        .take(4096)
        .map(Ipv4Addr::from)
        .find(|a| !m.devices.iter().any(|d| d.owns(*a)) && !m.instances.iter().any(|i| i.ip == *a))
}

/// The smaller of two prefixes when one holds the other.
fn inner(a: ipnet::Ipv4Net, b: ipnet::Ipv4Net) -> Option<ipnet::Ipv4Net> {
    if a.contains(&b) {
        Some(b)
    } else if b.contains(&a) {
        Some(a)
    } else {
        None
    }
}

/// Representative cloud endpoints in `c`: the first instance of each vSwitch inside it,
/// else the first free address of the first vSwitch part inside it.
fn cloud_reps(m: &Model, c: Cidr) -> Vec<String> {
    let mut v = Vec::new();
    let mut first_part = None;
    for (s, vs) in m.vswitches.iter().enumerate() {
        let Some(part) = inner(vs.cidr, c.network()) else {
            continue;
        };
        first_part.get_or_insert(part);
        if let Some(i) = m
            .instances
            .iter()
            .find(|i| i.vswitch == s && part.contains(&i.ip))
        {
            v.push(i.id.clone());
        }
    }
    if v.is_empty() {
        if let Some(a) = first_part.and_then(|p| first_free(m, p)) {
            v.push(a.to_string());
        }
    }
    v
}

/// Representative IDC endpoints in `c`: the first host of each connected subnet inside
/// it, else the first free address of the first connected subnet part inside it.
fn idc_reps(m: &Model, c: Cidr) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let mut nets: Vec<ipnet::Ipv4Net> = Vec::new();
    for d in m.devices.iter() {
        if d.kind != DeviceKind::Host {
            continue;
        }
        for f in &d.interfaces {
            if c.contains(f.addr) && !nets.contains(&f.net) {
                nets.push(f.net);
                v.push(d.id.clone());
            }
        }
    }
    if v.is_empty() {
        let part = m
            .devices
            .iter()
            .flat_map(|d| d.interfaces.iter())
            .find_map(|f| inner(f.net, c.network()));
        if let Some(a) = part.and_then(|p| first_free(m, p)) {
            v.push(a.to_string());
        }
    }
    v
}
