//! The picture of a topology: subnets as nodes, devices linked to the subnets they sit
//! on, the VPN gateway joined to the IDC gateway through the IPsec connection (the
//! tunnel), and optionally traced paths drawn on it (numbered hops, the failing hop
//! marked with its cause code). One [`Picture`] is written three ways: Graphviz DOT,
//! SVG laid out in-process (`layout-rs`, no Graphviz needed) and JSON for tools.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;
use serde::Serialize;

use crate::engine::trace::{Path, Trace};
use crate::findings::cause::path_finding;
use crate::model::{CloudHop, Model};
use crate::net::addr::join_cidrs;

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A vSwitch's CIDR or a subnet an on-prem interface is connected to.
    Subnet,
    Instance,
    /// A VRouter route table.
    Vrouter,
    VpnGateway,
    /// An IPsec connection: the tunnel between the VPN gateway and the IDC gateway.
    Tunnel,
    /// An on-prem gateway, router or firewall.
    Device,
    /// An on-prem host.
    Host,
    /// A traced endpoint that no modelled object is (an unmodelled host).
    Endpoint,
}

#[derive(Clone, Debug, Serialize)]
pub struct PicNode {
    /// Stable id: the object's id, or `subnet:CIDR` for an on-prem subnet.
    pub id: String,
    pub kind: NodeKind,
    /// Lines of the label, the first one naming the object.
    pub label: Vec<String>,
    /// Hop numbers of each drawn path through this node (`forward 2`, `return 5`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<String>,
    /// The cause codes of the paths that fail here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PicEdge {
    pub from: String,
    pub to: String,
    /// `attached` (a device on a subnet), `routes` (a VRouter to a VPN gateway),
    /// `tunnel` (a VPN gateway or IDC gateway to its IPsec connection).
    pub kind: &'static str,
    /// The interface (and its address) by which the device is attached, or the address
    /// a tunnel ends on.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Which drawn paths use this edge (`forward`, `return`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PicPath {
    /// `forward` or `return` (with a prefix when several flows are drawn).
    pub name: String,
    /// The flow, as `trace` prints it.
    pub flow: String,
    pub disposition: &'static str,
    /// Node ids, one per hop, in order.
    pub hops: Vec<String>,
    /// The node where the path fails and the cause code, when it is not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A drawable topology: nodes and edges in model order, plus drawn paths.
#[derive(Clone, Debug, Serialize)]
pub struct Picture {
    pub name: String,
    pub nodes: Vec<PicNode>,
    pub edges: Vec<PicEdge>,
    pub paths: Vec<PicPath>,
}

impl Picture {
    fn node(&mut self, id: String, kind: NodeKind, label: Vec<String>) -> usize {
        if let Some(i) = self.nodes.iter().position(|n| n.id == id) {
            return i;
        }
        self.nodes.push(PicNode {
            id,
            kind,
            label,
            hops: Vec::new(),
            failing: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn edge(&mut self, from: &str, to: &str, kind: &'static str, label: String) {
        if self.find_edge(from, to).is_none() {
            self.edges.push(PicEdge {
                from: from.into(),
                to: to.into(),
                kind,
                label,
                paths: Vec::new(),
            });
        }
    }

    fn find_edge(&self, a: &str, b: &str) -> Option<usize> {
        self.edges
            .iter()
            .position(|e| (e.from == a && e.to == b) || (e.from == b && e.to == a))
    }

    fn index(&self) -> HashMap<&str, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect()
    }
}

fn subnet_id(net: ipnet::Ipv4Net) -> String {
    format!("subnet:{net}")
}

/// The topology as a picture: vSwitches and on-prem subnets as nodes, each instance and
/// device linked to the subnets it has an interface on (hosts on one LAN meet at their
/// subnet, not in a mesh), VRouters to the VPN gateways they route to, and each IPsec
/// connection between its VPN gateway and the IDC device that ends it.
pub fn picture(m: &Model) -> Picture {
    let mut p = Picture {
        name: m.name.clone(),
        nodes: Vec::new(),
        edges: Vec::new(),
        paths: Vec::new(),
    };
    for inst in m.instances.iter() {
        let v = &m.vswitches[inst.vswitch];
        p.node(
            inst.id.clone(),
            NodeKind::Instance,
            vec![inst.id.clone(), format!("ECS {}", inst.ip)],
        );
        p.node(
            v.id.clone(),
            NodeKind::Subnet,
            vec![v.id.clone(), format!("vSwitch {}", v.cidr)],
        );
        p.edge(&inst.id, &v.id, "attached", inst.ip.to_string());
    }
    for v in m.vswitches.iter() {
        p.node(
            v.id.clone(),
            NodeKind::Subnet,
            vec![v.id.clone(), format!("vSwitch {}", v.cidr)],
        );
        let rt = &m.route_tables[v.route_table];
        p.node(rt.id.clone(), NodeKind::Vrouter, vrouter_label(rt));
        p.edge(&v.id, &rt.id, "attached", String::new());
    }
    for (t, rt) in m.route_tables.iter().enumerate() {
        p.node(rt.id.clone(), NodeKind::Vrouter, vrouter_label(rt));
        let mut linked = BTreeSet::new();
        for e in &rt.entries {
            if let CloudHop::VpnGateway(gw) = e.next_hop {
                linked.insert(gw);
            }
        }
        if m.system_table == Some(t) || rt.system {
            for (gi, gw) in m.vpn_gateways.iter().enumerate() {
                if gw.destination_routes.iter().any(|r| r.publish_to_vpc) {
                    linked.insert(gi);
                }
            }
        }
        for gw in linked {
            let g = &m.vpn_gateways[gw];
            p.node(g.id.clone(), NodeKind::VpnGateway, vgw_label(g));
            p.edge(&rt.id, &g.id, "routes", String::new());
        }
    }
    for (c, conn) in m.connections.iter().enumerate() {
        let g = &m.vpn_gateways[conn.vpn_gateway];
        p.node(g.id.clone(), NodeKind::VpnGateway, vgw_label(g));
        p.node(
            conn.id.clone(),
            NodeKind::Tunnel,
            vec![
                format!("IPsec {}", conn.id),
                format!(
                    "{} ⇄ {}",
                    join_cidrs(&conn.local_subnets),
                    join_cidrs(&conn.remote_subnets)
                ),
                conn.status.as_str().to_string(),
            ],
        );
        p.edge(&g.id, &conn.id, "tunnel", g.public_ip.to_string());
        if let Some((d, _)) = crate::model::rules::tunnel_endpoint(m, c) {
            let dev = &m.devices[d];
            p.node(dev.id.clone(), device_kind(dev), device_label(dev));
            let cgw = m.customer_gateways[conn.customer_gateway].ip;
            p.edge(&conn.id, &dev.id, "tunnel", cgw.to_string());
        }
    }
    for dev in m.devices.iter() {
        p.node(dev.id.clone(), device_kind(dev), device_label(dev));
        for f in &dev.interfaces {
            let sid = subnet_id(f.net);
            p.node(sid.clone(), NodeKind::Subnet, vec![format!("{}", f.net)]);
            p.edge(&dev.id, &sid, "attached", format!("{} {}", f.name, f.addr));
        }
    }
    p
}

fn vrouter_label(rt: &crate::model::RouteTable) -> Vec<String> {
    vec![
        rt.id.clone(),
        if rt.system {
            "VRouter (system table)".into()
        } else {
            "VRouter (custom table)".into()
        },
    ]
}

fn vgw_label(g: &crate::model::VpnGateway) -> Vec<String> {
    vec![g.id.clone(), format!("VPN gateway {}", g.public_ip)]
}

fn device_kind(d: &crate::model::Device) -> NodeKind {
    if d.kind == crate::input::DeviceKind::Host {
        NodeKind::Host
    } else {
        NodeKind::Device
    }
}

fn device_label(d: &crate::model::Device) -> Vec<String> {
    let mut kind = d.kind.as_str().to_string();
    if let Some(v) = &d.vendor {
        kind = format!("{kind}, {v}");
    }
    vec![d.id.clone(), kind]
}

/// Draw a traced flow's forward and return paths on the picture. `prefix` names the flow
/// when several are drawn on one picture (empty for one).
pub fn draw_trace(p: &mut Picture, m: &Model, t: &Trace, prefix: &str) {
    let flow = format!(
        "{} → {} ({})",
        t.flow.from,
        t.flow.to,
        t.flow.packet.describe()
    );
    draw_path(p, m, &t.forward, &format!("{prefix}forward"), &flow);
    if let Some(r) = &t.ret {
        draw_path(p, m, r, &format!("{prefix}return"), &flow);
    }
}

fn draw_path(p: &mut Picture, m: &Model, path: &Path, name: &str, flow: &str) {
    let mut ids: Vec<String> = Vec::new();
    for (i, h) in path.hops.iter().enumerate() {
        if !p.nodes.iter().any(|n| n.id == h.device) {
            p.node(
                h.device.clone(),
                NodeKind::Endpoint,
                vec![h.device.clone(), "unmodelled host".into()],
            );
            // Attach it to the subnet that holds its address, else to its neighbour hop.
            let addr = if i == 0 { h.packet.src } else { h.packet.dst };
            let holder = p
                .nodes
                .iter()
                .find(|n| n.kind == NodeKind::Subnet && subnet_holds(m, &n.id, addr))
                .map(|n| n.id.clone());
            let neighbour = holder.or_else(|| {
                let j = if i == 0 { 1 } else { i - 1 };
                path.hops.get(j).map(|n| n.device.clone())
            });
            if let Some(nb) = neighbour {
                p.edge(&h.device, &nb, "attached", String::new());
            }
        }
        // Between two hops, go through the subnet they share (the one the second hop's
        // arriving interface is on) when both are attached to it.
        if let Some(prev) = ids.last().cloned() {
            if p.find_edge(&prev, &h.device).is_none() {
                if let Some(via) = shared_subnet(p, &prev, &h.device) {
                    ids.push(via);
                }
            }
        }
        ids.push(h.device.clone());
    }
    let idx: HashMap<String, usize> = p
        .index()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut number = 0;
    for (k, id) in ids.iter().enumerate() {
        let n = idx[id.as_str()];
        if p.nodes[n].kind != NodeKind::Subnet || k == 0 {
            number += 1;
            p.nodes[n].hops.push(format!("{name} {number}"));
        }
        if k > 0 {
            if let Some(e) = p.find_edge(&ids[k - 1], id) {
                if !p.edges[e].paths.iter().any(|x| x == name) {
                    p.edges[e].paths.push(name.to_string());
                }
            }
        }
    }
    let finding = path_finding(m, path);
    let failing_node = finding.as_ref().and(ids.last().cloned());
    if let (Some(f), Some(id)) = (&finding, &failing_node) {
        let n = idx[id.as_str()];
        if !p.nodes[n].failing.iter().any(|c| c == f.code.as_str()) {
            p.nodes[n].failing.push(f.code.to_string());
        }
    }
    p.paths.push(PicPath {
        name: name.to_string(),
        flow: flow.to_string(),
        disposition: path.disposition.as_str(),
        hops: ids,
        failing_node,
        cause: finding.as_ref().map(|f| f.code.to_string()),
        message: finding.map(|f| f.message),
    });
}

fn subnet_holds(m: &Model, id: &str, a: std::net::Ipv4Addr) -> bool {
    if let Some(c) = id.strip_prefix("subnet:") {
        return c.parse::<ipnet::Ipv4Net>().is_ok_and(|n| n.contains(&a));
    }
    m.vswitches
        .iter()
        .any(|v| v.id == id && v.cidr.contains(&a))
}

fn shared_subnet(p: &Picture, a: &str, b: &str) -> Option<String> {
    let around = |x: &str| -> BTreeSet<String> {
        p.edges
            .iter()
            .filter_map(|e| {
                if e.from == x {
                    Some(e.to.clone())
                } else if e.to == x {
                    Some(e.from.clone())
                } else {
                    None
                }
            })
            .collect()
    };
    let nb = around(b);
    around(a).into_iter().find(|s| {
        nb.contains(s)
            && p.nodes
                .iter()
                .any(|n| n.id == *s && n.kind == NodeKind::Subnet)
    })
}

/// Order for the top-to-bottom layout: a breadth-first walk from the instances (cloud at
/// the top, the IDC below the tunnel); an edge points from the node found first.
fn ranks(p: &Picture) -> Vec<usize> {
    let idx = p.index();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); p.nodes.len()];
    for e in &p.edges {
        let (a, b) = (idx[e.from.as_str()], idx[e.to.as_str()]);
        adj[a].push(b);
        adj[b].push(a);
    }
    let mut order = vec![usize::MAX; p.nodes.len()];
    let mut next = 0;
    let mut queue = std::collections::VecDeque::new();
    let starts: Vec<usize> = (0..p.nodes.len())
        .filter(|&i| p.nodes[i].kind == NodeKind::Instance)
        .chain(0..p.nodes.len())
        .collect();
    for s in starts {
        if order[s] != usize::MAX {
            continue;
        }
        order[s] = next;
        next += 1;
        queue.push_back(s);
        while let Some(n) = queue.pop_front() {
            for &k in &adj[n] {
                if order[k] == usize::MAX {
                    order[k] = next;
                    next += 1;
                    queue.push_back(k);
                }
            }
        }
    }
    order
}

const FORWARD: &str = "#1f5fd6";
const RETURN: &str = "#1a8a3a";
const BOTH: &str = "#8a3ab9";
const FAIL: &str = "#d1242f";

fn edge_colour(e: &PicEdge) -> Option<&'static str> {
    let fwd = e.paths.iter().any(|n| n.ends_with("forward"));
    let ret = e.paths.iter().any(|n| n.ends_with("return"));
    match (fwd, ret) {
        (true, true) => Some(BOTH),
        (true, false) => Some(FORWARD),
        (false, true) => Some(RETURN),
        _ => None,
    }
}

fn fill(n: &PicNode) -> &'static str {
    if !n.failing.is_empty() {
        return "#ffd8d3";
    }
    match n.kind {
        NodeKind::Subnet => "#f2f2f2",
        NodeKind::Instance => "#e6f0ff",
        NodeKind::Vrouter | NodeKind::VpnGateway => "#fff4d6",
        NodeKind::Tunnel => "#efe3ff",
        NodeKind::Device => "#e3f5e6",
        NodeKind::Host | NodeKind::Endpoint => "#ffffff",
    }
}

/// The lines a node shows: its label, then hop numbers, then `✗ CODE` where a path fails.
fn node_lines(n: &PicNode) -> Vec<String> {
    let mut v = n.label.clone();
    if !n.hops.is_empty() {
        v.push(n.hops.join(", "));
    }
    for c in &n.failing {
        v.push(format!("✗ {c}"));
    }
    v
}

/// Graphviz DOT (top to bottom), nodes and edges in picture order.
pub fn to_dot(p: &Picture) -> String {
    let order = ranks(p);
    let idx = p.index();
    let mut o = String::new();
    let _ = writeln!(o, "digraph \"{}\" {{", dot_esc(&p.name));
    o.push_str("  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11, style=\"filled\"];\n  edge [dir=none, fontname=\"Helvetica\", fontsize=9, color=\"#888888\"];\n");
    for (i, n) in p.nodes.iter().enumerate() {
        let shape = match n.kind {
            NodeKind::Subnet => "box, style=\"filled,rounded\"",
            NodeKind::Tunnel => "cds",
            NodeKind::VpnGateway => "hexagon",
            NodeKind::Vrouter => "ellipse",
            NodeKind::Device => "octagon",
            _ => "box",
        };
        let border = if n.failing.is_empty() {
            String::new()
        } else {
            format!(", color=\"{FAIL}\", penwidth=3")
        };
        let _ = writeln!(
            o,
            "  n{i} [label=\"{}\", shape={shape}, fillcolor=\"{}\"{border}];  // {}",
            node_lines(n)
                .iter()
                .map(|l| dot_esc(l))
                .collect::<Vec<_>>()
                .join("\\n"),
            fill(n),
            n.id
        );
    }
    for e in &p.edges {
        let (a, b) = (idx[e.from.as_str()], idx[e.to.as_str()]);
        let (a, b) = if order[a] <= order[b] { (a, b) } else { (b, a) };
        let style = match edge_colour(e) {
            Some(c) => format!(", color=\"{c}\", penwidth=3, fontcolor=\"{c}\""),
            None if e.kind == "tunnel" => ", style=dashed".to_string(),
            None => String::new(),
        };
        let _ = writeln!(
            o,
            "  n{a} -> n{b} [label=\"{}\"{style}];",
            dot_esc(&e.label)
        );
    }
    o.push_str("}\n");
    o
}

fn dot_esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// JSON for tools: `{"name", "nodes", "edges", "paths"}`.
pub fn to_json(p: &Picture) -> String {
    super::json(p)
}

/// SVG, laid out top to bottom in-process by `layout-rs`, with a header naming the
/// topology, the drawn flows (each failing one with its cause) and a colour legend.
pub fn to_svg(p: &Picture) -> String {
    let order = ranks(p);
    let idx = p.index();
    let mut vg = VisualGraph::new(Orientation::TopToBottom);
    let mut handles = Vec::new();
    for n in &p.nodes {
        let lines = node_lines(n);
        let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64 * 7.0 + 24.0;
        let height = lines.len() as f64 * 15.0 + 14.0;
        let (line, lw) = if n.failing.is_empty() {
            (Color::fast("#555555"), 1)
        } else {
            (Color::fast(FAIL), 3)
        };
        let look = StyleAttr::new(line, lw, Some(Color::fast(fill(n))), rounded(n.kind), 12);
        let shape = ShapeKind::new_box(&lines.join("\n"));
        handles.push(vg.add_node(Element::create(
            shape,
            look,
            Orientation::LeftToRight,
            Point::new(width, height),
        )));
    }
    for e in &p.edges {
        let (a, b) = (idx[e.from.as_str()], idx[e.to.as_str()]);
        let (a, b) = if order[a] <= order[b] { (a, b) } else { (b, a) };
        let (colour, width) = match edge_colour(e) {
            Some(c) => (c, 3),
            None => ("#999999", 1),
        };
        let look = StyleAttr::new(Color::fast(colour), width, None, 0, 10);
        let style = if e.kind == "tunnel" && width == 1 {
            LineStyleKind::Dashed
        } else {
            LineStyleKind::Normal
        };
        let arrow = Arrow::new(
            LineEndKind::None,
            LineEndKind::None,
            style,
            &e.label,
            &look,
            &None,
            &None,
        );
        vg.add_edge(arrow, handles[a], handles[b]);
    }
    let mut w = SvgOut::default();
    vg.do_it(false, false, false, &mut w);
    w.finish(p)
}

fn rounded(k: NodeKind) -> usize {
    match k {
        NodeKind::Subnet => 12,
        NodeKind::Tunnel | NodeKind::VpnGateway | NodeKind::Vrouter => 4,
        _ => 0,
    }
}

/// A deterministic SVG writer for `layout-rs` draw calls (sans-serif text, fixed element
/// order, labels placed horizontally).
#[derive(Default)]
struct SvgOut {
    body: String,
    labels: String,
    max: (f64, f64),
    clips: Vec<String>,
}

fn num(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl SvgOut {
    fn grow(&mut self, p: Point) {
        self.max.0 = self.max.0.max(p.x);
        self.max.1 = self.max.1.max(p.y);
    }

    fn finish(self, p: &Picture) -> String {
        let header = header_lines(p);
        let top = header.len() as f64 * 18.0 + 20.0;
        let width = (self.max.0 + 20.0).max(
            header
                .iter()
                .map(|(t, _)| t.chars().count() as f64 * 7.5 + 30.0)
                .fold(0.0, f64::max),
        );
        let height = self.max.1 + top + 20.0;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\">",
            w = num(width),
            h = num(height)
        );
        let _ = writeln!(o, "<title>{}</title>", xml(&p.name));
        let _ = writeln!(
            o,
            "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
            num(width),
            num(height)
        );
        for c in &self.clips {
            o.push_str(c);
        }
        for (i, (t, colour)) in header.iter().enumerate() {
            let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = writeln!(
                o,
                "<text x=\"12\" y=\"{}\" font-size=\"13\" fill=\"{colour}\"{weight}>{}</text>",
                num(22.0 + i as f64 * 18.0),
                xml(t)
            );
        }
        let _ = writeln!(o, "<g transform=\"translate(0 {})\">", num(top));
        o.push_str(&self.body);
        o.push_str(&self.labels);
        o.push_str("</g>\n</svg>\n");
        o
    }
}

/// The header: the topology's name, each drawn path with its outcome, the legend.
fn header_lines(p: &Picture) -> Vec<(String, &'static str)> {
    let mut v = vec![(p.name.clone(), "#000000")];
    for path in &p.paths {
        let colour = if path.name.ends_with("return") {
            RETURN
        } else {
            FORWARD
        };
        let mut line = format!("{}: {} — {}", path.name, path.flow, path.disposition);
        if let (Some(c), Some(at)) = (&path.cause, &path.failing_node) {
            let _ = write!(line, " at {at}: {c}");
        }
        v.push((line, colour));
    }
    if !p.paths.is_empty() {
        v.push((
            "blue: forward path · green: return path · purple: both · red: where a path fails (✗ cause code)".into(),
            "#555555",
        ));
    }
    v
}

impl RenderBackend for SvgOut {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        _properties: Option<String>,
        clip: Option<ClipHandle>,
    ) {
        self.grow(xy.add(size));
        let fill = look
            .fill_color
            .map(|c| c.to_web_color())
            .unwrap_or_else(|| "none".into());
        let clip = clip
            .map(|c| format!(" clip-path=\"url(#c{c})\""))
            .unwrap_or_default();
        let _ = writeln!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{clip}/>",
            num(xy.x),
            num(xy.y),
            num(size.x),
            num(size.y),
            look.rounded,
            web(&fill),
            web(&look.line_color.to_web_color()),
            look.line_width
        );
    }

    fn draw_line(
        &mut self,
        start: Point,
        stop: Point,
        look: &StyleAttr,
        _properties: Option<String>,
    ) {
        self.grow(start);
        self.grow(stop);
        let _ = writeln!(
            self.body,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>",
            num(start.x),
            num(start.y),
            num(stop.x),
            num(stop.y),
            web(&look.line_color.to_web_color()),
            look.line_width
        );
    }

    fn draw_circle(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        _properties: Option<String>,
    ) {
        self.grow(xy.add(size.scale(0.5)));
        let fill = look
            .fill_color
            .map(|c| c.to_web_color())
            .unwrap_or_else(|| "none".into());
        let _ = writeln!(
            self.body,
            "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>",
            num(xy.x),
            num(xy.y),
            num(size.x / 2.0),
            num(size.y / 2.0),
            web(&fill),
            web(&look.line_color.to_web_color()),
            look.line_width
        );
    }

    fn draw_text(&mut self, xy: Point, text: &str, look: &StyleAttr) {
        let lines: Vec<&str> = text.lines().collect();
        let lh = look.font_size as f64 + 3.0;
        let y0 = xy.y - (lines.len() as f64 - 1.0) * lh / 2.0;
        for (i, l) in lines.iter().enumerate() {
            let (colour, weight) = if l.starts_with('✗') {
                (FAIL, " font-weight=\"bold\"")
            } else if look.font_size < 12 {
                ("#555555", "")
            } else if i == 0 {
                ("#000000", " font-weight=\"bold\"")
            } else {
                ("#222222", "")
            };
            let _ = writeln!(
                self.labels,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\" dominant-baseline=\"middle\" fill=\"{colour}\"{weight}>{}</text>",
                num(xy.x),
                num(y0 + i as f64 * lh),
                look.font_size,
                xml(l)
            );
        }
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        _head: (bool, bool),
        look: &StyleAttr,
        _properties: Option<String>,
        text: &str,
    ) {
        for (a, b) in path {
            self.grow(*a);
            self.grow(*b);
        }
        let mut d = format!(
            "M {} {} C {} {}, {} {}, {} {}",
            num(path[0].0.x),
            num(path[0].0.y),
            num(path[0].1.x),
            num(path[0].1.y),
            num(path[1].0.x),
            num(path[1].0.y),
            num(path[1].1.x),
            num(path[1].1.y)
        );
        for (a, b) in path.iter().skip(2) {
            let _ = write!(d, " S {} {}, {} {}", num(a.x), num(a.y), num(b.x), num(b.y));
        }
        let dash = if dashed {
            " stroke-dasharray=\"6,4\""
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{dash}/>",
            web(&look.line_color.to_web_color()),
            look.line_width
        );
        if !text.is_empty() {
            let mid = path[path.len() / 2].1;
            let _ = writeln!(
                self.labels,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#444444\">{}</text>",
                num(mid.x + 4.0),
                num(mid.y),
                xml(text)
            );
        }
    }

    fn create_clip(&mut self, xy: Point, size: Point, rounded_px: usize) -> ClipHandle {
        let h = self.clips.len();
        self.clips.push(format!(
            "<clipPath id=\"c{h}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{rounded_px}\"/></clipPath>\n",
            num(xy.x),
            num(xy.y),
            num(size.x),
            num(size.y)
        ));
        h
    }
}

/// `layout-rs` writes colours as `#rrggbbaa`; browsers take it, but an opaque colour is
/// written as `#rrggbb` for older viewers.
fn web(c: &str) -> String {
    if c.len() == 9 && c.ends_with("ff") {
        c[..7].to_string()
    } else {
        c.to_string()
    }
}
