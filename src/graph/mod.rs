//! The device graph: every instance, VRouter table, VPN gateway, IPsec connection and
//! on-prem device is a node; links are shared subnets, route-table bindings and tunnels.

pub mod index;
pub mod region;

use petgraph::graph::{NodeIndex, UnGraph};

use crate::model::Model;

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
        for (a, da) in m.devices.iter().enumerate() {
            for (b, db) in m.devices.iter().enumerate().skip(a + 1) {
                for fa in &da.interfaces {
                    if let Some(fb) = db.interfaces.iter().find(|fb| fb.net == fa.net) {
                        g.add_edge(
                            devs[a],
                            devs[b],
                            format!("{} ({} – {})", fa.net, fa.name, fb.name),
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
