//! Fixes that really fix (SPEC "Fixes"): on topologies with random faults planted
//! (`vpntrace_gen::faults`), every fix `check` marks verified makes sample packets of its
//! finding's traffic pass both ways on the fixed topology (traced with
//! `vpntrace::engine::trace`), and `check --write-fixed` then `check` reports none of the
//! fixed findings again.

use std::net::Ipv4Addr;

use vpntrace::analysis::{check, fix};
use vpntrace::engine::trace::{self, FlowQuery};
use vpntrace::findings::finding::{Finding, FlowDirection};
use vpntrace::input::Topology;
use vpntrace::net::addr::{Cidr, Protocol};

/// Topologies per run; seeds 1..=SEEDS.
const SEEDS: u64 = 200;

/// A sample service of a finding's services list (`all`, `tcp`, `tcp/22`,
/// `tcp/23-79`, `tcp from port 3306`): protocol and destination port.
fn sample_service(s: &str) -> Vec<(Protocol, u16)> {
    let (proto, rest) = s.split_once('/').unwrap_or((s, ""));
    let proto = proto.split(' ').next().unwrap_or(proto);
    let port = rest
        .split(['-', ' ', ','])
        .next()
        .and_then(|p| p.parse().ok());
    match proto {
        "all" => vec![(Protocol::Tcp, 443), (Protocol::Icmp, 0)],
        "tcp" => vec![(Protocol::Tcp, port.unwrap_or(443))],
        "udp" => vec![(Protocol::Udp, port.unwrap_or(53))],
        "icmp" => vec![(Protocol::Icmp, 0)],
        "gre" => vec![(Protocol::Gre, 0)],
        other => panic!("unexpected service `{other}` in `{s}`"),
    }
}

/// The known endpoints' addresses (`id (ip)`) inside `cidrs`, at most three.
fn hosts_in(f: &Finding, cidrs: &[Cidr]) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = f
        .endpoints
        .iter()
        .filter_map(|e| e.rsplit_once('(')?.1.strip_suffix(')')?.parse().ok())
        .filter(|ip| cidrs.iter().any(|c| c.network().contains(ip)))
        .collect();
    v.dedup();
    v.truncate(3);
    v
}

/// Trace sample packets of every part of the finding on `m`; the failures, described.
fn sample_failures(t: &Topology, m: &vpntrace::model::Model, f: &Finding) -> Vec<String> {
    let in_vpc = |ip: &Ipv4Addr| t.cloud.vpc.cidrs.iter().any(|c| c.network().contains(ip));
    let parts: Vec<(Vec<Cidr>, Vec<Cidr>, Vec<String>)> = if f.parts.is_empty() {
        vec![(f.source.clone(), f.destination.clone(), f.services.clone())]
    } else {
        f.parts
            .iter()
            .map(|p| (p.source.clone(), p.destination.clone(), p.services.clone()))
            .collect()
    };
    let mut out = Vec::new();
    for (src, dst, services) in parts {
        for a in hosts_in(f, &src) {
            for b in hosts_in(f, &dst) {
                // The flow starts on the side the finding's direction names (a reply's
                // traffic runs the other way).
                let cloud_first = f.direction == Some(FlowDirection::CloudToOnprem);
                let (from, to) = if in_vpc(&a) == cloud_first {
                    (a, b)
                } else {
                    (b, a)
                };
                for s in services.iter().take(2) {
                    for (protocol, port) in sample_service(s) {
                        let q = FlowQuery {
                            from: trace::resolve_endpoint(m, &from.to_string()).unwrap(),
                            to: trace::resolve_endpoint(m, &to.to_string()).unwrap(),
                            protocol,
                            dst_port: port,
                            src_port: check::EPHEMERAL_PORT,
                        };
                        let tr = trace::trace(m, &q);
                        if !tr.ok() {
                            out.push(format!("{protocol}/{port} {from} → {to}: {:?}", tr.cause()));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The fix's plan applied to `t`.
fn fixed(t: &Topology, f: &Finding) -> Topology {
    let mut t = t.clone();
    for (k, c) in f.change.iter().chain(&f.also).enumerate() {
        t = fix::apply(&t, c, k + 1).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
    t
}

/// The same finding: same cause (code, device, rule, direction) about overlapping
/// traffic. The same rule dropping traffic that another fault hid until now (disjoint
/// from what the fix was verified on) is a finding the first round could not see.
fn same(a: &Finding, b: &Finding) -> bool {
    let overlap = |x: &[Cidr], y: &[Cidr]| {
        x.iter().any(|p| {
            y.iter().any(|q| {
                p.network().contains(&q.network().network())
                    || q.network().contains(&p.network().network())
            })
        })
    };
    a.code == b.code
        && a.device == b.device
        && a.rule == b.rule
        && a.direction == b.direction
        && overlap(&a.source, &b.source)
        && overlap(&a.destination, &b.destination)
}

#[test]
fn verified_fixes_make_their_traffic_pass_on_planted_faults() {
    let (mut verified, mut unverified, mut errors, mut clean_after) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for seed in 1..=SEEDS {
        let (t, planted) = vpntrace_gen::faults::faulty(seed);
        let m = vpntrace::model::lower("planted", &t).unwrap();
        let report = check::check_all(&t, &m);
        let mut fail = |what: String| {
            failures.push(format!(
                "seed {seed} ({planted:?}): {what}\n{}",
                serde_json::to_string(&t).unwrap()
            ))
        };
        for f in report.findings.iter().filter(|f| f.is_error()) {
            errors += 1;
            if f.verified != Some(true) {
                unverified += 1;
                continue;
            }
            verified += 1;
            let t2 = fixed(&t, f);
            let m2 = vpntrace::model::lower("fixed", &t2).unwrap();
            let bad = sample_failures(&t2, &m2, f);
            if !bad.is_empty() {
                fail(format!(
                    "verified fix of {} at {:?} leaves {}",
                    f.code,
                    f.device,
                    bad.join("; ")
                ));
            }
        }
        let t3 = check::write_fixed(&t, &report).unwrap();
        let m3 = vpntrace::model::lower("written", &t3).unwrap();
        let after = check::check_all(&t3, &m3);
        for f in report
            .findings
            .iter()
            .filter(|f| f.is_error() && f.verified == Some(true))
        {
            if let Some(a) = after.findings.iter().find(|a| a.is_error() && same(a, f)) {
                fail(format!(
                    "{} at {:?} survives --write-fixed: {}",
                    a.code, a.device, a.message
                ));
            }
        }
        if !after.findings.iter().any(|f| f.is_error()) {
            clean_after += 1;
        }
    }
    eprintln!(
        "{SEEDS} topologies: {errors} error findings, {verified} verified fixes, {unverified} not verified; {clean_after} topologies without error after --write-fixed"
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(verified >= SEEDS as usize, "only {verified} verified fixes");
}
