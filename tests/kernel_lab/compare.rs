//! What the kernel did (from the agent's counters) and what vpntrace says, in one
//! vocabulary, and the comparison of the two.

use super::lab::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// How one direction of a flow ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disp {
    /// at a device id, or `ADDR (unmodelled)`; `rewritten`: the reply reached the source
    /// but not from the address the request was sent to.
    Delivered {
        at: String,
        rewritten: bool,
    },
    /// at a device, with the reasons seen (`filter:CHAIN:RULE|default`, `rp_filter`,
    /// `forwarding`, `no_route`); the kernel may list several candidates.
    Dropped {
        at: Vec<(String, String)>,
    },
    Exits {
        at: String,
        src: Option<Ipv4Addr>,
    },
    Loop,
    NotTraced,
    /// The kernel: no counter explains what happened.
    Lost(String),
    /// vpntrace refused the query.
    Error(String),
}

impl std::fmt::Display for Disp {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Disp::Delivered {
                at,
                rewritten: false,
            } => write!(f, "delivered at {at}"),
            Disp::Delivered {
                at,
                rewritten: true,
            } => write!(
                f,
                "delivered at {at} with rewritten source (socket does not accept it)"
            ),
            Disp::Dropped { at } => {
                let v: Vec<String> = at.iter().map(|(d, r)| format!("{d} ({r})")).collect();
                write!(f, "dropped at {}", v.join(" | "))
            }
            Disp::Exits { at, src } => match src {
                Some(s) => write!(f, "exits_network at {at}, source {s}"),
                None => write!(f, "exits_network at {at}, source ?"),
            },
            Disp::Loop => write!(f, "loop"),
            Disp::NotTraced => write!(f, "not traced"),
            Disp::Lost(s) => write!(f, "lost ({s})"),
            Disp::Error(s) => write!(f, "error: {s}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub src: String,
    pub dst: String,
    pub fwd: Disp,
    pub ret: Disp,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} → {}: forward {}; return {}",
            self.src, self.dst, self.fwd, self.ret
        )
    }
}

fn agree_disp(k: &Disp, v: &Disp) -> bool {
    match (k, v) {
        (Disp::Dropped { at: ka }, Disp::Dropped { at: va }) => va.iter().all(|x| ka.contains(x)),
        _ => k == v,
    }
}

/// The kernel has no source address when the source has no route (connect fails with
/// ENETUNREACH); vpntrace then names one of the device's addresses: not compared.
fn same_src(k: &Outcome, v: &Outcome) -> bool {
    k.src == v.src || k.src.starts_with("error:")
}

pub fn agree(k: &Outcome, v: &Outcome) -> bool {
    same_src(k, v) && k.dst == v.dst && agree_disp(&k.fwd, &v.fwd) && agree_disp(&k.ret, &v.ret)
}

// ----- the kernel ---------------------------------------------------------------------------

/// Interpret one probe's observations. `deltas`: namespace → counter → change.
pub fn kernel_outcome(lab: &Lab, prefix: &str, p: &Probe, obs: &Value) -> Outcome {
    let client = obs["client"].as_str().unwrap_or("?").to_string();
    let src = obs["src"].as_str().unwrap_or("?").to_string();
    let dst = lab.end_addr(&p.to).to_string();
    let mut deltas: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    if let Some(o) = obs["deltas"].as_object() {
        for (ns, m) in o {
            let mm = m
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default();
            deltas.insert(ns.clone(), mm);
        }
    }
    let get = |ns: &str, k: &str| deltas.get(ns).and_then(|m| m.get(k)).copied().unwrap_or(0);
    let s_holder = lab.source_holder(p);
    let s_ns = Lab::ns_of(prefix, s_holder);
    let d_holder = lab.holder(lab.end_addr(&p.to));
    let self_probe = d_holder.map(|h| Lab::ns_of(prefix, h)) == Some(s_ns.clone());
    // Per namespace: drops, deliveries, arrivals at unmodelled namespaces.
    let mut drops: Vec<(String, String)> = Vec::new();
    let mut delivered: Vec<String> = Vec::new();
    let mut exits: Vec<(String, Option<Ipv4Addr>, String)> = Vec::new(); // (device, src, ns)
    let mut looped = false;
    for (d, dev) in lab.devices.iter().enumerate() {
        let ns = Lab::ns_dev(prefix, d);
        let Some(m) = deltas.get(&ns) else { continue };
        for (k, &v) in m {
            if v <= 0 {
                continue;
            }
            let parts: Vec<&str> = k.splitn(3, '/').collect();
            if parts.len() == 3 && parts[0] == "filter" {
                let ci = CHAINS.iter().position(|c| c.1 == parts[1]);
                let Some(ci) = ci else { continue };
                let chain = dev.filter.as_ref().and_then(|f| f.chains[ci].as_ref());
                let lname = CHAINS[ci].0;
                if parts[2] == "policy" {
                    if chain.is_some_and(|c| c.default_drop) {
                        drops.push((dev.id.clone(), format!("filter:{lname}:default")));
                    }
                } else if let Some(id) = parts[2].strip_prefix("vt:") {
                    if let Some(r) = chain.and_then(|c| c.rules.iter().find(|r| r.id == id)) {
                        if !r.accept {
                            drops.push((dev.id.clone(), format!("filter:{lname}:{id}")));
                        }
                    }
                }
                continue;
            }
            match k.as_str() {
                "Ip/InAddrErrors" => drops.push((dev.id.clone(), "forwarding".into())),
                "IpExt/InNoRoutes" | "Ip/OutNoRoutes" => {
                    drops.push((dev.id.clone(), "no_route".into()))
                }
                "TcpExt/IPReversePathFilter" => drops.push((dev.id.clone(), "rp_filter".into())),
                "Ip/InHdrErrors" => looped = true,
                "raw/PREROUTING/vt:martian" => {
                    drops.push((dev.id.clone(), "martian_source".into()))
                }
                "Ip/InDelivers" if ns != s_ns => delivered.push(dev.id.clone()),
                _ => {}
            }
        }
    }
    for (u, unm) in lab.unmodelled.iter().enumerate() {
        let ns = Lab::ns_unm(prefix, u);
        let Some(m) = deltas.get(&ns) else { continue };
        if m.get("Ip/InHdrErrors").copied().unwrap_or(0) > 0 {
            looped = true;
        }
        if ns == s_ns && !matches!(s_holder, Holder::UnmBeyond(_)) {
            continue;
        }
        let arrived_self = m.get("raw/PREROUTING/vt:dst-self").copied().unwrap_or(0) > 0;
        if arrived_self && m.get("Ip/InDelivers").copied().unwrap_or(0) > 0 {
            delivered.push(format!("{} (unmodelled)", unm.addr));
            continue;
        }
        let src = m
            .iter()
            .filter(|(k, v)| **v > 0 && k.starts_with("raw/PREROUTING/vt:src-"))
            .filter_map(|(k, _)| k["raw/PREROUTING/vt:src-".len()..].parse().ok())
            .next();
        let from = m
            .iter()
            .filter(|(k, v)| **v > 0 && k.starts_with("raw/PREROUTING/vt:from-"))
            .map(|(k, _)| k["raw/PREROUTING/vt:from-".len()..].to_string())
            .next();
        if let Some(from) = from {
            exits.push((from, src, ns.clone()));
        }
    }
    let s_delivers = get(&s_ns, "Ip/InDelivers") > 0;
    let src_beyond = matches!(s_holder, Holder::UnmBeyond(_));
    let lost = |what: &str| Disp::Lost(what.to_string());
    let exit_disp = |e: &(String, Option<Ipv4Addr>, String)| Disp::Exits {
        at: e.0.clone(),
        src: e.1,
    };
    let label_s = lab.label(s_holder);
    let s_at = match s_holder {
        Holder::Unm(u) => format!("{} (unmodelled)", lab.unmodelled[u].addr),
        _ => label_s,
    };
    let (fwd, ret) = if client.starts_with("error:ENETUNREACH") {
        (
            Disp::Dropped {
                at: vec![(lab.label(s_holder), "no_route".into())],
            },
            Disp::NotTraced,
        )
    } else if self_probe {
        let at = s_at.clone();
        if client == "ok" {
            (
                Disp::Delivered {
                    at: at.clone(),
                    rewritten: false,
                },
                Disp::Delivered {
                    at,
                    rewritten: false,
                },
            )
        } else if s_delivers {
            (
                Disp::Delivered {
                    at,
                    rewritten: false,
                },
                if drops.is_empty() {
                    lost("reply")
                } else {
                    Disp::Dropped { at: drops }
                },
            )
        } else if drops.is_empty() {
            (lost("request"), Disp::NotTraced)
        } else {
            (Disp::Dropped { at: drops }, Disp::NotTraced)
        }
    } else if !delivered.is_empty() {
        let fwd = Disp::Delivered {
            at: delivered[0].clone(),
            rewritten: false,
        };
        // Exits seen now belong to the reply (the request was delivered). A reply to a
        // source beyond the model leaves the modelled network wherever it leaves (toward
        // the source's namespace first): which exit leads to that network is beyond the
        // model.
        let ret_exit = exits
            .iter()
            .find(|e| !src_beyond || e.2 == s_ns)
            .or_else(|| exits.first().filter(|_| src_beyond));
        let ret = if src_beyond {
            match ret_exit {
                Some(e) => exit_disp(e),
                None if !drops.is_empty() => Disp::Dropped { at: drops },
                None if looped => Disp::Loop,
                None => lost("reply"),
            }
        } else if client == "ok" {
            Disp::Delivered {
                at: s_at.clone(),
                rewritten: false,
            }
        } else if client.starts_with("reply_from:") || (s_delivers && drops.is_empty() && !looped) {
            Disp::Delivered {
                at: s_at.clone(),
                rewritten: true,
            }
        } else if !drops.is_empty() {
            Disp::Dropped { at: drops }
        } else if looped {
            Disp::Loop
        } else if let Some(e) = ret_exit {
            exit_disp(e)
        } else {
            lost("reply")
        };
        (fwd, ret)
    } else if !drops.is_empty() {
        (Disp::Dropped { at: drops }, Disp::NotTraced)
    } else if let Some(e) = exits.first() {
        (exit_disp(e), Disp::NotTraced)
    } else if looped {
        (Disp::Loop, Disp::NotTraced)
    } else {
        (lost(&format!("request; client {client}")), Disp::NotTraced)
    };
    Outcome { src, dst, fwd, ret }
}

/// Where the kernel saw the probe's packets arrive (raw PREROUTING per interface), for
/// reports.
pub fn kernel_path(lab: &Lab, prefix: &str, obs: &Value) -> String {
    let mut v = Vec::new();
    if let Some(o) = obs["deltas"].as_object() {
        for (ns, m) in o {
            let label =
                if let Some(d) = (0..lab.devices.len()).find(|&d| Lab::ns_dev(prefix, d) == *ns) {
                    lab.devices[d].id.clone()
                } else if let Some(u) =
                    (0..lab.unmodelled.len()).find(|&u| Lab::ns_unm(prefix, u) == *ns)
                {
                    format!("unmodelled {}", lab.unmodelled[u].addr)
                } else {
                    ns.clone()
                };
            let mut bits: Vec<String> = Vec::new();
            if let Some(m) = m.as_object() {
                for (k, n) in m {
                    let short = k
                        .trim_start_matches("raw/PREROUTING/vt:")
                        .trim_start_matches("raw/")
                        .to_string();
                    let keep = k.starts_with("raw/PREROUTING/vt:")
                        || (k.starts_with("filter/") && !k.ends_with("/vt:established"))
                        || (k.starts_with("nat/") && !k.ends_with("/policy"))
                        || matches!(
                            k.as_str(),
                            "Ip/InDelivers"
                                | "Ip/InAddrErrors"
                                | "IpExt/InNoRoutes"
                                | "Ip/OutNoRoutes"
                                | "Ip/InHdrErrors"
                                | "TcpExt/IPReversePathFilter"
                        )
                        || k.ends_with("/vt:established");
                    if !keep {
                        continue;
                    }
                    bits.push(format!("{short}+{n}"));
                }
            }
            v.push(format!("{label}[{}]", bits.join(" ")));
        }
    }
    v.join(" ")
}

// ----- vpntrace --------------------------------------------------------------------------

fn last_hop(path: &Value) -> Option<&Value> {
    path["hops"].as_array().and_then(|h| h.last())
}

fn path_disp(path: &Value) -> Disp {
    if path.is_null() {
        return Disp::NotTraced;
    }
    let Some(hop) = last_hop(path) else {
        return Disp::Error("path without hops".into());
    };
    let device = hop["device"].as_str().unwrap_or("?").to_string();
    let steps: Vec<&Value> = hop["steps"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    match path["disposition"].as_str().unwrap_or("?") {
        "delivered" => {
            let at = steps
                .iter()
                .filter(|s| s["type"] == "deliver")
                .filter_map(|s| s["detail"].as_str())
                .find_map(|d| d.strip_prefix("delivered to host "))
                .and_then(|rest| rest.split_whitespace().next())
                .map(|a| format!("{a} (unmodelled)"))
                .unwrap_or(device);
            Disp::Delivered {
                at,
                rewritten: false,
            }
        }
        "dropped" => {
            let reason = steps
                .iter()
                .rev()
                .find(|s| s["action"] == "drop")
                .map(|s| {
                    let detail = s["detail"].as_str().unwrap_or("");
                    match s["type"].as_str().unwrap_or("") {
                        "filter" => {
                            let chain = detail
                                .split_whitespace()
                                .next()
                                .unwrap_or("?")
                                .trim_end_matches(':');
                            format!("filter:{chain}:{}", s["rule"].as_str().unwrap_or("default"))
                        }
                        "kernel" if detail.contains("martian source") => "martian_source".into(),
                        "kernel" if detail.contains("rp_filter") => "rp_filter".into(),
                        "kernel" if detail.contains("forward") => "forwarding".into(),
                        "route" => "no_route".into(),
                        t => format!("{t}: {detail}"),
                    }
                })
                .unwrap_or_else(|| "?".into());
            Disp::Dropped {
                at: vec![(device, reason)],
            }
        }
        "exits_network" => {
            let mut src: Option<Ipv4Addr> =
                hop["packet"]["src"].as_str().and_then(|s| s.parse().ok());
            for s in &steps {
                if s["type"] == "nat" && s["action"] == "translate" {
                    let d = s["detail"].as_str().unwrap_or("");
                    if d.starts_with("source NAT") || d.contains(": source ") {
                        if let Some(a) = d.rsplit("→ ").next().and_then(|t| t.trim().parse().ok())
                        {
                            src = Some(a);
                        }
                    }
                }
            }
            Disp::Exits { at: device, src }
        }
        "loop" => Disp::Loop,
        other => Disp::Error(format!("unknown disposition {other}")),
    }
}

/// vpntrace's answer in the same terms. `stdout`/`stderr` of `vpntrace trace --format json`.
pub fn vpntrace_outcome(lab: &Lab, p: &Probe, ok: bool, stdout: &str, stderr: &str) -> Outcome {
    let dst_asked = lab.end_addr(&p.to).to_string();
    let v: Value = match serde_json::from_str(stdout) {
        Ok(v) if ok || !stdout.trim().is_empty() => v,
        _ => {
            let msg = stderr.lines().next().unwrap_or("no output").to_string();
            return Outcome {
                src: "?".into(),
                dst: dst_asked,
                fwd: Disp::Error(msg),
                ret: Disp::NotTraced,
            };
        }
    };
    let pkt = &v["flow"]["packet"];
    let src = pkt["src"].as_str().unwrap_or("?").to_string();
    let dst = pkt["dst"].as_str().unwrap_or("?").to_string();
    let fwd = path_disp(&v["forward"]);
    let mut ret = path_disp(&v["return"]);
    // A reply that arrives with another source than the request's destination is not
    // the reply the client's socket waits for.
    if let (Disp::Delivered { rewritten, .. }, Some(h)) = (&mut ret, last_hop(&v["return"])) {
        if h["packet"]["src"].as_str() != Some(dst.as_str()) {
            *rewritten = true;
        }
    }
    Outcome { src, dst, fwd, ret }
}

// ----- classes of disagreement ----------------------------------------------------------

fn kind(d: &Disp) -> &'static str {
    match d {
        Disp::Delivered {
            rewritten: false, ..
        } => "delivered",
        Disp::Delivered {
            rewritten: true, ..
        } => "delivered(rewritten)",
        Disp::Dropped { .. } => "dropped",
        Disp::Exits { .. } => "exits_network",
        Disp::Loop => "loop",
        Disp::NotTraced => "not traced",
        Disp::Lost(_) => "lost",
        Disp::Error(_) => "error",
    }
}

/// A short name for the kind of a disagreement, so that the summary can count them; the
/// known faults of issue 11 are named F1..F6.
pub fn classify(lab: &Lab, p: &Probe, k: &Outcome, v: &Outcome) -> String {
    if let Disp::Error(e) = &v.fwd {
        if e.contains("--ingress") {
            return "F4: --ingress (a source beyond the model) is not supported".into();
        }
        if e.contains("on no vSwitch") {
            return match lab.holder(lab.end_addr(&p.to)) {
                Some(Holder::UnmBeyond(u))
                    if !lab.unmodelled[u].extra.iter().any(|n| n.addr >> 24 == 198) =>
                {
                    "F6: an address of a routed-only subnet is refused as --to".into()
                }
                _ => "F4: --to an address beyond the model is refused".into(),
            };
        }
        return format!("vpntrace error: {e}");
    }
    let s = lab.source_holder(p);
    if lab.holder(lab.end_addr(&p.to)) == Some(s) {
        return "F2: a device's packet to its own address is not delivered locally (output → input, via lo)".into();
    }
    if k.dst != v.dst {
        return "F1: --to an address on a non-first interface is traced as the first interface's address".into();
    }
    if !same_src(k, v) {
        return "F1': --from an address on a device is traced from another address of it (the route's)".into();
    }
    // The unmodelled host (source or destination) and the other end share its subnet.
    let dst = lab.end_addr(&p.to);
    let src_addr: Option<Ipv4Addr> = k.src.parse().ok();
    let unm_on_link = match (s, lab.holder(dst)) {
        (Holder::Unm(u), _) => Some((u, lab.subnets[lab.unmodelled[u].subnet].net.contains(dst))),
        (_, Some(Holder::Unm(u))) => Some((
            u,
            src_addr.is_some_and(|a| lab.subnets[lab.unmodelled[u].subnet].net.contains(a)),
        )),
        _ => None,
    };
    if let Some((u, true)) = unm_on_link {
        let _ = u;
        return "U1: an unmodelled host's packet to an address on its own subnet goes via the first forwarder instead of directly".into();
    }
    if let Some((u, _)) = unm_on_link {
        let unm = &lab.unmodelled[u];
        let outside = lab
            .devices
            .iter()
            .any(|d| d.ifaces.iter().any(|i| i.subnet == unm.subnet && i.outside));
        let at = format!("{} (unmodelled)", unm.addr);
        let missed = |kd: &Disp, vd: &Disp| {
            matches!(kd, Disp::Delivered { at: a, .. } if *a == at)
                && matches!(vd, Disp::Exits { .. })
        };
        if outside && (missed(&k.fwd, &v.fwd) || missed(&k.ret, &v.ret)) {
            return "F5: an unmodelled host on an outside-role subnet is not delivered".into();
        }
    }
    let host_default = |d: &Disp| {
        matches!(d, Disp::Dropped { at } if at.iter().any(|(dev, r)| r == "forwarding"
            && lab.devices.iter().any(|x| x.id == *dev && x.kind == "host" && !x.write_forwarding)))
    };
    if host_default(&v.fwd) || host_default(&v.ret) {
        return "F3: a `kind: host` without `forwarding` does not forward (SPEC default: true)"
            .into();
    }
    let martian = |d: &Disp| matches!(d, Disp::Dropped { at } if at.iter().any(|(_, r)| r == "martian_source"));
    if (martian(&k.fwd) && v.fwd == Disp::Loop) || (martian(&k.ret) && v.ret == Disp::Loop) {
        return "L1: a packet routed back to the device that sent it is dropped there by Linux (martian source: its own address), vpntrace calls it a loop".into();
    }
    let (side, kd, vd) = if !agree_disp_pub(&k.fwd, &v.fwd) {
        ("forward", &k.fwd, &v.fwd)
    } else {
        ("return", &k.ret, &v.ret)
    };
    if kind(kd) == kind(vd) {
        match kd {
            Disp::Dropped { .. } => format!("{side}: dropped at another device or by another rule"),
            Disp::Exits { .. } => {
                format!("{side}: exits_network from another device or with another source")
            }
            Disp::Delivered { .. } => format!("{side}: delivered at another place"),
            _ => format!("{side}: {} differs", kind(kd)),
        }
    } else {
        format!("{side}: kernel {} vs vpntrace {}", kind(kd), kind(vd))
    }
}

fn agree_disp_pub(k: &Disp, v: &Disp) -> bool {
    agree_disp(k, v)
}
