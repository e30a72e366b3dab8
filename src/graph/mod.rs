//! The device graph: every instance, VRouter table, VPN gateway, IPsec connection and
//! on-prem device is a node; links are shared subnets, route-table bindings and tunnels.
//!
//! On-prem adjacency has one rule, [`Links`]: a device is on a subnet when one of its
//! interfaces is (same network); two devices are neighbours when they are on the same
//! subnet. The tracer's next hop (`Index::link_holder`), where an unmodelled host's traffic
//! enters (`Index::endpoint_nets`) and the device–device edges of `vpntrace graph` are all
//! read from it.

pub mod index;
pub mod region;

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use petgraph::graph::{NodeIndex, UnGraph};

use crate::model::Model;

/// A place on the on-prem side: a device, or a subnet (an L2 segment) devices attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Device(usize),
    Subnet(Ipv4Net),
}

/// The on-prem links: a node per device and per distinct interface subnet, an edge per
/// interface (weight: the interface index) joining its device to its subnet.
pub struct Links {
    pub graph: UnGraph<Place, usize>,
    /// Per device, per interface: the subnet node it attaches to.
    subnet_of: Vec<Vec<NodeIndex>>,
}

impl Links {
    pub fn build(m: &Model) -> Links {
        let mut graph: UnGraph<Place, usize> = UnGraph::new_undirected();
        let devices: Vec<NodeIndex> = (0..m.devices.len())
            .map(|d| graph.add_node(Place::Device(d)))
            .collect();
        let mut subnets: BTreeMap<Ipv4Net, NodeIndex> = BTreeMap::new();
        let mut subnet_of = Vec::with_capacity(m.devices.len());
        for (d, dev) in m.devices.iter().enumerate() {
            let mut of = Vec::with_capacity(dev.interfaces.len());
            for (f, iface) in dev.interfaces.iter().enumerate() {
                let s = *subnets
                    .entry(iface.net)
                    .or_insert_with(|| graph.add_node(Place::Subnet(iface.net)));
                graph.add_edge(devices[d], s, f);
                of.push(s);
            }
            subnet_of.push(of);
        }
        Links { graph, subnet_of }
    }

    /// The subnet node interface `f` of device `d` attaches to.
    pub fn subnet(&self, d: usize, f: usize) -> NodeIndex {
        self.subnet_of[d][f]
    }

    /// Every (device, interface) attached to subnet node `s`, in model order.
    pub fn on_subnet(&self, s: NodeIndex) -> Vec<(usize, usize)> {
        let mut v: Vec<(usize, usize)> = self
            .graph
            .edges(s)
            .filter_map(|e| {
                use petgraph::visit::EdgeRef;
                match self.graph[e.target()] {
                    Place::Device(d) => Some((d, *e.weight())),
                    Place::Subnet(_) => match self.graph[e.source()] {
                        Place::Device(d) => Some((d, *e.weight())),
                        Place::Subnet(_) => None,
                    },
                }
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The (device, interface) through which an unmodelled host on the subnet of
    /// interface `f` of device `d` sends: the first device on that subnet that is not a
    /// `host` and forwards, else the first host that forwards, else the first device on it.
    pub fn entry_of(&self, m: &Model, d: usize, f: usize) -> (usize, usize) {
        let on = self.on_subnet(self.subnet(d, f));
        let host = |x: usize| m.devices[x].kind == crate::input::DeviceKind::Host;
        on.iter()
            .find(|&&(x, _)| m.devices[x].forwarding && !host(x))
            .or_else(|| on.iter().find(|&&(x, _)| m.devices[x].forwarding))
            .or(on.first())
            .copied()
            .unwrap_or((d, f))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Instance(usize),
    RouteTable(usize),
    VpnGateway(usize),
    Connection(usize),
    Device(usize),
}

pub struct DeviceGraph {
    pub graph: UnGraph<Node, String>,
}

impl DeviceGraph {
    pub fn build(m: &Model) -> DeviceGraph {
        let mut g: UnGraph<Node, String> = UnGraph::new_undirected();
        let rts: Vec<NodeIndex> = (0..m.route_tables.len())
            .map(|i| g.add_node(Node::RouteTable(i)))
            .collect();
        let vgws: Vec<NodeIndex> = (0..m.vpn_gateways.len())
            .map(|i| g.add_node(Node::VpnGateway(i)))
            .collect();
        let conns: Vec<NodeIndex> = (0..m.connections.len())
            .map(|i| g.add_node(Node::Connection(i)))
            .collect();
        let insts: Vec<NodeIndex> = (0..m.instances.len())
            .map(|i| g.add_node(Node::Instance(i)))
            .collect();
        let devs: Vec<NodeIndex> = (0..m.devices.len())
            .map(|i| g.add_node(Node::Device(i)))
            .collect();
        for (i, inst) in m.instances.iter().enumerate() {
            let v = &m.vswitches[inst.vswitch];
            g.add_edge(insts[i], rts[v.route_table], format!("{} {}", v.id, v.cidr));
        }
        // Every route table reaches the VPN gateways it routes to (or, for the system
        // table, that publish routes to it).
        for (t, rt) in m.route_tables.iter().enumerate() {
            let mut linked = std::collections::BTreeSet::new();
            for e in &rt.entries {
                if let crate::model::CloudHop::VpnGateway(gw) = e.next_hop {
                    linked.insert(gw);
                }
            }
            if rt.system {
                for (gi, gw) in m.vpn_gateways.iter().enumerate() {
                    if gw.destination_routes.iter().any(|r| r.publish_to_vpc) {
                        linked.insert(gi);
                    }
                }
            }
            for gw in linked {
                g.add_edge(rts[t], vgws[gw], "route".into());
            }
        }
        for (c, conn) in m.connections.iter().enumerate() {
            g.add_edge(
                vgws[conn.vpn_gateway],
                conns[c],
                format!("{}", m.vpn_gateways[conn.vpn_gateway].public_ip),
            );
            if let Some((d, _)) = crate::model::rules::tunnel_endpoint(m, c) {
                g.add_edge(
                    conns[c],
                    devs[d],
                    format!("{}", m.customer_gateways[conn.customer_gateway].ip),
                );
            }
        }
        // Devices on the same subnet (the one adjacency rule, `Links`): per pair, per
        // interface of the first, the first interface of the second on its subnet.
        let links = Links::build(m);
        for (a, da) in m.devices.iter().enumerate() {
            let on: Vec<Vec<(usize, usize)>> = (0..da.interfaces.len())
                .map(|fa| links.on_subnet(links.subnet(a, fa)))
                .collect();
            for (b, db) in m.devices.iter().enumerate().skip(a + 1) {
                for (fa, x) in da.interfaces.iter().enumerate() {
                    if let Some(&(_, fb)) = on[fa].iter().find(|&&(d, _)| d == b) {
                        g.add_edge(
                            devs[a],
                            devs[b],
                            format!("{} ({} – {})", x.net, x.name, db.interfaces[fb].name),
                        );
                    }
                }
            }
        }
        DeviceGraph { graph: g }
    }

    fn label(m: &Model, n: &Node) -> (String, &'static str) {
        match n {
            Node::Instance(i) => (
                format!("{}\\n{}", m.instances[*i].id, m.instances[*i].ip),
                "box",
            ),
            Node::RouteTable(t) => (
                format!(
                    "VRouter {}{}",
                    m.route_tables[*t].id,
                    if m.route_tables[*t].system {
                        " (system)"
                    } else {
                        ""
                    }
                ),
                "ellipse",
            ),
            Node::VpnGateway(g) => (
                format!(
                    "VPN gateway {}\\n{}",
                    m.vpn_gateways[*g].id, m.vpn_gateways[*g].public_ip
                ),
                "hexagon",
            ),
            Node::Connection(c) => {
                let k = &m.connections[*c];
                (
                    format!(
                        "IPsec {}\\n{} ⇄ {}\\n{}",
                        k.id,
                        crate::net::addr::join_cidrs(&k.local_subnets),
                        crate::net::addr::join_cidrs(&k.remote_subnets),
                        k.status.as_str()
                    ),
                    "cds",
                )
            }
            Node::Device(d) => {
                let dv = &m.devices[*d];
                let addrs: Vec<String> = dv
                    .interfaces
                    .iter()
                    .map(|f| format!("{} {}/{}", f.name, f.addr, f.net.prefix_len()))
                    .collect();
                (
                    format!(
                        "{} ({}{})\\n{}",
                        dv.id,
                        dv.kind.as_str(),
                        dv.vendor
                            .as_ref()
                            .map(|v| format!(", {v}"))
                            .unwrap_or_default(),
                        addrs.join("\\n")
                    ),
                    if dv.kind == crate::input::DeviceKind::Host {
                        "box"
                    } else {
                        "octagon"
                    },
                )
            }
        }
    }

    /// Graphviz DOT, nodes and edges in model order.
    pub fn to_dot(&self, m: &Model) -> String {
        let mut o = String::new();
        o.push_str(&format!(
            "graph \"{}\" {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
            esc(&m.name)
        ));
        for i in self.graph.node_indices() {
            let (label, shape) = Self::label(m, &self.graph[i]);
            o.push_str(&format!(
                "  n{} [label=\"{}\", shape={}];\n",
                i.index(),
                esc_keep_newlines(&label),
                shape
            ));
        }
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge exists");
            o.push_str(&format!(
                "  n{} -- n{} [label=\"{}\"];\n",
                a.index(),
                b.index(),
                esc(&self.graph[e])
            ));
        }
        o.push_str("}\n");
        o
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn esc_keep_newlines(s: &str) -> String {
    s.replace('"', "\\\"")
}
