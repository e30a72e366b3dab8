//! A trace in words: the text `vpntrace trace` prints and its JSON (whose `detail` and
//! `notes` are the same sentences). The engine records typed steps ([`Detail`], [`Note`]);
//! every sentence about them is written here.

use std::fmt::Write;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::engine::trace::{
    Detail, Disposition, FlowInfo, Hop, HopKind, Note, Packet, Path, SaSet, SgVerdict, StepAction,
    StepKind, Trace, VpnRouteKind,
};
use crate::findings::cause::path_finding;
use crate::findings::finding::Finding;
use crate::input::Direction;
use crate::model::{CloudHop, Model, SaSelectors};
use crate::render::{finding_text, Style};

/// A trace as a person reads it: one line per hop, the steps under it, the verdict and
/// the fix at the end.
pub fn trace_text(m: &Model, t: &Trace, st: Style) -> String {
    let mut o = String::new();
    let dir = t
        .flow
        .direction
        .map(|d| format!(" ({})", d.arrow()))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "{}",
        st.bold(&format!(
            "trace {} → {}: {}{}",
            t.flow.from,
            t.flow.to,
            t.flow.packet.describe(),
            dir
        ))
    );
    path_text(m, &mut o, "forward", &t.forward, st);
    match &t.ret {
        Some(r) => path_text(m, &mut o, "return", r, st),
        None if t.forward.left_as_expected() => {
            let _ = writeln!(
                o,
                "\nreturn: not traced (the destination is a host beyond the model)"
            );
        }
        None => {
            let _ = writeln!(
                o,
                "\nreturn: not traced (the forward packet was not delivered)"
            );
        }
    }
    let _ = writeln!(o);
    if t.ok() && !t.forward.delivered() {
        let _ = writeln!(
            o,
            "verdict: {}",
            st.good("leaves the modelled network toward a host beyond it, as expected")
        );
    } else if t.ok() && t.ret.as_ref().is_some_and(|r| !r.delivered()) {
        let _ = writeln!(
            o,
            "verdict: {}",
            st.good("delivered; the reply leaves toward the source beyond the model, as expected")
        );
    } else if t.ok() {
        let _ = writeln!(o, "verdict: {}", st.good("delivered both ways"));
    } else {
        let (which, p) = if !t.forward.delivered() {
            ("forward", &t.forward)
        } else {
            ("return", t.ret.as_ref().expect("return traced"))
        };
        let _ = writeln!(
            o,
            "verdict: {} {} on the {} path",
            st.bad("FAILS:"),
            p.disposition.as_str(),
            which
        );
        if let Some(c) = path_finding(m, p) {
            finding_text(&mut o, &c, st, "  ");
        }
    }
    o
}

fn path_text(m: &Model, o: &mut String, label: &str, p: &Path, st: Style) {
    let _ = writeln!(o, "\n{}: {}", st.bold(label), st.disposition(p.disposition));
    for (i, h) in p.hops.iter().enumerate() {
        let inif = h
            .in_interface
            .as_ref()
            .map(|f| format!(" in {f}"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:>2}. {} [{}]{}  {}",
            i + 1,
            st.bold(&h.device),
            h.kind.as_str(),
            inif,
            st.dim(&h.packet.describe())
        );
        for s in &h.steps {
            let rule = s
                .rule
                .as_ref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            let action = match s.action {
                StepAction::Drop => st.bad(s.action.as_str()),
                _ => s.action.as_str().to_string(),
            };
            let _ = writeln!(
                o,
                "      {:<14} {:<9}{} {}",
                s.kind.as_str(),
                action,
                rule,
                detail_text(m, &s.detail)
            );
        }
    }
    for n in &p.notes {
        let _ = writeln!(o, "  note: {}", note_text(m, n));
    }
    if let Some(c) = path_finding(m, p) {
        let _ = writeln!(
            o,
            "  cause: {} (faq {}) at {}{}{}",
            st.bad(c.code.as_str()),
            c.faq,
            c.device.as_deref().unwrap_or("-"),
            c.rule
                .as_ref()
                .map(|r| format!(", rule {r}"))
                .unwrap_or_default(),
            c.origin
                .as_ref()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default()
        );
    }
}

fn dir_word(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

fn sa_list(sas: &[SaSelectors]) -> String {
    if sas.is_empty() {
        return "none".into();
    }
    sas.iter()
        .map(|s| s.describe())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A security-group verdict: the deciding rule, inner access, or the default.
fn sg_text(m: &Model, v: &SgVerdict, dir: Direction) -> String {
    match (v.rule, v.inner) {
        (Some((g, r)), _) => {
            let rule = &m.security_groups[g].rules[r];
            format!(
                "{}: {} of {}, priority {}",
                dir_word(dir),
                rule.action.as_str(),
                m.security_groups[g].id,
                rule.priority
            )
        }
        (None, true) => format!(
            "{}: no rule matches; accepted as traffic between members of the same basic group (inner access)",
            dir_word(dir)
        ),
        (None, false) => format!(
            "{}: no rule matches; default {}",
            dir_word(dir),
            if v.accept { "accept" } else { "deny" }
        ),
    }
}

/// The connection id and the SAs of an SA set.
fn sa_set(m: &Model, s: SaSet) -> (&str, &[SaSelectors], Option<&str>) {
    match s {
        SaSet::Cloud { conn } => (&m.connections[conn].id, &m.connections[conn].sas, None),
        SaSet::Device { dev, entry } => {
            let e = &m.devices[dev].ipsec[entry];
            (
                &m.connections[e.connection].id,
                &e.sas,
                Some(&m.devices[dev].id),
            )
        }
    }
}

/// A route table entry: its destination and where its next hop leads.
fn vrouter_entry_text(m: &Model, table: usize, e: usize) -> String {
    let entry = &m.route_tables[table].entries[e];
    match &entry.next_hop {
        CloudHop::VpnGateway(g) => format!(
            "{} → VPN gateway {}",
            entry.destination, m.vpn_gateways[*g].id
        ),
        CloudHop::Blackhole => format!("{} → blackhole", entry.destination),
        CloudHop::Instance(i) => format!(
            "{} → instance {} (forwarding inside an instance is not modelled)",
            entry.destination, m.instances[*i].id
        ),
        CloudHop::Other { kind, id } => {
            format!("{} → {} {}", entry.destination, kind.as_str(), id)
        }
    }
}

fn device_route_text(
    m: &Model,
    dev: usize,
    dst: Ipv4Addr,
    destination: ipnet::Ipv4Net,
    tunnel: Option<usize>,
    gateway: Option<Ipv4Addr>,
    out_iface: Option<usize>,
) -> String {
    let mut t = format!("{dst} matches {destination}");
    if let Some(c) = tunnel {
        let _ = write!(t, " → tunnel {}", m.connections[c].id);
    }
    if let Some(g) = gateway {
        let _ = write!(t, " via {g}");
    }
    if let Some(f) = out_iface {
        let _ = write!(t, " dev {}", m.devices[dev].interfaces[f].name);
    }
    t
}

/// One step's detail as a sentence (the text line and the JSON `detail`). Longer than
/// 150 lines on purpose: one short arm per `Detail` variant, so every sentence the trace
/// prints is found in one place, next to the variant it words.
pub fn detail_text(m: &Model, d: &Detail) -> String {
    match *d {
        Detail::SgReply { dir } => format!(
            "{}: reply of an accepted flow (security groups are stateful)",
            dir_word(dir)
        ),
        Detail::Sg { dir, ref verdict } => sg_text(m, verdict, dir),
        Detail::VrouterNoRoute { dst, table } => {
            format!("no route for {} in {}", dst, m.route_tables[table].id)
        }
        Detail::VrouterSystem { vswitch } => format!(
            "system route {} (vSwitch {})",
            m.vswitches[vswitch].cidr, m.vswitches[vswitch].id
        ),
        Detail::VrouterPublished { vgw, route } => format!(
            "{} → VPN gateway {} (VPN route published to the VPC)",
            m.vpn_gateways[vgw].destination_routes[route].destination, m.vpn_gateways[vgw].id
        ),
        Detail::VrouterEntry { table, entry } => vrouter_entry_text(m, table, entry),
        Detail::VpnNoRoute { dst, vgw } => format!(
            "no policy or destination route for {} on {}",
            dst, m.vpn_gateways[vgw].id
        ),
        Detail::VpnRoute {
            kind,
            destination,
            conn,
        } => match kind {
            VpnRouteKind::Policy { source, priority } => format!(
                "policy route {} → {} (priority {}) → connection {}",
                source.map_or("any".into(), |s| s.to_string()),
                destination,
                priority,
                m.connections[conn].id
            ),
            VpnRouteKind::Destination => format!(
                "destination route {} → connection {}",
                destination, m.connections[conn].id
            ),
        },
        Detail::VpcNoRouteTable => "the VPC has no route table".into(),
        Detail::DeviceNoRoute { dst } => format!("no route for {dst}"),
        Detail::DeviceRoute {
            dev,
            dst,
            destination,
            tunnel,
            gateway,
            out_iface,
        } => device_route_text(m, dev, dst, destination, tunnel, gateway, out_iface),
        Detail::Established { chain } => format!(
            "{}: ESTABLISHED (reply of a tracked connection)",
            chain.as_str()
        ),
        Detail::Chain {
            chain,
            matched,
            action,
        } => {
            if matched {
                format!("{} chain: {}", chain.as_str(), action.as_str())
            } else {
                format!(
                    "{} chain: no rule matches, default {}",
                    chain.as_str(),
                    action.as_str()
                )
            }
        }
        Detail::SessionMiss => "reply matches no session on this firewall (it did not see the forward packet): dropped as a session miss".into(),
        Detail::ConntrackInvalid => "reply matches no session here (asymmetric path): connection tracking marks it INVALID, no NAT applies, the filter rules judge it as a new packet".into(),
        Detail::NoForwarding { dev } => format!(
            "{} does not forward (net.ipv4.ip_forward=0)",
            m.devices[dev].id
        ),
        Detail::MartianSource { src, dev, iface } => format!(
            "martian source: {} arrives on {} with {}'s own address {} as its source (the packet came back to the device that sent it)",
            m.devices[dev].id, m.devices[dev].interfaces[iface].name, m.devices[dev].id, src
        ),
        Detail::RpFilter {
            mode,
            src,
            dev,
            iface,
        } => format!(
            "rp_filter {:?}: the route back to {} does not leave by {}",
            mode, src, m.devices[dev].interfaces[iface].name
        )
        .to_lowercase(),
        Detail::Dnat { before, after } => format!(
            "destination NAT {} → {}",
            before.describe(),
            after.describe()
        ),
        Detail::Snat { from, to } => format!("source NAT {from} → {to}"),
        Detail::NoNat => "no-NAT rule: source kept".into(),
        Detail::ReplyDestination { from, to } => {
            format!("reply of a translated session: destination {from} → {to}")
        }
        Detail::ReplySource { from, to } => {
            format!("reply of a translated session: source {from} → {to} (no new NAT lookup)")
        }
        Detail::NotEstablished { conn, cloud } => {
            let c = &m.connections[conn];
            if cloud {
                format!(
                    "connection {} is {}: no IPsec SA to carry the packet",
                    c.id,
                    c.status.as_str()
                )
            } else {
                format!("connection {} is {}", c.id, c.status.as_str())
            }
        }
        Detail::SaMatch { sas, sa, inbound } => {
            let (conn, list, _) = sa_set(m, sas);
            let verb = if inbound { "accepts" } else { "covers" };
            format!("SA {} of {} {verb} the packet", list[sa].describe(), conn)
        }
        Detail::NoSa {
            sas,
            inbound,
            src,
            dst,
        } => {
            let (conn, list, dev) = sa_set(m, sas);
            let verb = if inbound { "accepts" } else { "covers" };
            let on = dev.map(|d| format!(" on {d}")).unwrap_or_default();
            format!(
                "no SA of {conn}{on} {verb} {src} → {dst} (SAs: {})",
                sa_list(list)
            )
        }
        Detail::NoIpsecEntry { conn, dev } => format!(
            "route into tunnel {} but {} has no ipsec entry for it",
            m.connections[conn].id, m.devices[dev].id
        ),
        Detail::SentInClear {
            dev,
            iface,
            src,
            dst,
        } => format!(
            "no SA on {} matches {} → {}: sent in clear",
            m.devices[dev].interfaces[iface].name, src, dst
        ),
        Detail::Esp { from, to } => format!("ESP {from} → {to}"),
        Detail::NoIdcEndpoint { conn } => format!(
            "no on-prem device has an ipsec entry for {}: the far end is not modelled",
            m.connections[conn].id
        ),
        Detail::LeavesNetwork {
            dev,
            gateway,
            out_iface,
        } => {
            let ifname = |o: usize| &m.devices[dev].interfaces[o].name;
            let via = match (gateway, out_iface) {
                (Some(g), Some(o)) => format!("via {g} on {}", ifname(o)),
                (Some(g), None) => format!("via {g}"),
                (None, Some(o)) => format!("out of {}", ifname(o)),
                (None, None) => String::new(),
            };
            format!("next hop {via} is outside every modelled device: the packet leaves the modelled network")
        }
        Detail::DeliveredInstance { instance } => {
            format!("delivered to instance {}", m.instances[instance].id)
        }
        Detail::DeliveredCloudHost { addr, vswitch } => format!(
            "delivered to {} on vSwitch {} (no instance modelled there, no security group)",
            addr, m.vswitches[vswitch].id
        ),
        Detail::DeliveredDevice { dev, addr } => {
            format!("delivered to {} ({})", m.devices[dev].id, addr)
        }
        Detail::DeliveredOnpremHost { addr, dev, iface } => format!(
            "delivered to host {} on {} (not modelled)",
            addr, m.devices[dev].interfaces[iface].name
        ),
    }
}

/// A path note as a sentence.
pub fn note_text(m: &Model, n: &Note) -> String {
    match *n {
        Note::UnmodelledCloudHost { addr, vswitch } => format!(
            "{} is not a modelled instance: a host on vSwitch {} without a security group",
            addr, m.vswitches[vswitch].id
        ),
        Note::UnmodelledOnpremHost { addr, dev, iface } => format!(
            "{} is not a modelled device: a host on {} of {}",
            addr, m.devices[dev].interfaces[iface].net, m.devices[dev].id
        ),
    }
}

/// A trace as `trace --format json` writes it (SPEC: `{"forward": Path, "return":
/// Path|null}`, each path with its `cause` finding). Field order is the declaration
/// order below.
#[derive(Serialize)]
pub struct TraceJson<'a> {
    flow: &'a FlowInfo,
    forward: PathJson<'a>,
    #[serde(rename = "return")]
    ret: Option<PathJson<'a>>,
}

#[derive(Serialize)]
struct PathJson<'a> {
    disposition: Disposition,
    hops: Vec<HopJson<'a>>,
    cause: Option<Finding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

#[derive(Serialize)]
struct HopJson<'a> {
    device: &'a str,
    kind: HopKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_interface: Option<&'a str>,
    packet: Packet,
    steps: Vec<StepJson<'a>>,
}

/// A step: its `detail` is the sentence [`detail_text`] writes.
#[derive(Serialize)]
struct StepJson<'a> {
    #[serde(rename = "type")]
    kind: StepKind,
    action: StepAction,
    rule: Option<&'a str>,
    detail: String,
}

impl<'a> HopJson<'a> {
    fn of(m: &Model, h: &'a Hop) -> HopJson<'a> {
        HopJson {
            device: &h.device,
            kind: h.kind,
            in_interface: h.in_interface.as_deref(),
            packet: h.packet,
            steps: h
                .steps
                .iter()
                .map(|s| StepJson {
                    kind: s.kind,
                    action: s.action,
                    rule: s.rule.as_deref(),
                    detail: detail_text(m, &s.detail),
                })
                .collect(),
        }
    }
}

impl<'a> PathJson<'a> {
    fn of(m: &Model, p: &'a Path) -> PathJson<'a> {
        PathJson {
            disposition: p.disposition,
            hops: p.hops.iter().map(|h| HopJson::of(m, h)).collect(),
            cause: path_finding(m, p),
            notes: p.notes.iter().map(|n| note_text(m, n)).collect(),
        }
    }
}

pub fn trace_json<'a>(m: &Model, t: &'a Trace) -> TraceJson<'a> {
    TraceJson {
        flow: &t.flow,
        forward: PathJson::of(m, &t.forward),
        ret: t.ret.as_ref().map(|r| PathJson::of(m, r)),
    }
}
