//! One lab topology: on-prem devices (namespaces), the subnets that link them, the
//! unmodelled hosts (namespaces that exist in the kernel but not in the topology file:
//! hosts on a subnet, or next hops beyond the model) and the probes. It is written twice:
//! as a vpntrace topology (format 1) and as the agent's plan (namespaces, `ip` commands,
//! sysctls, iptables-restore input).

use serde_json::{json, Value};
use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub addr: u32,
    pub len: u8,
}

impl Net {
    pub fn new(a: Ipv4Addr, len: u8) -> Net {
        let mask = Self::mask_of(len);
        Net {
            addr: u32::from(a) & mask,
            len,
        }
    }
    fn mask_of(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - len)
        }
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & Self::mask_of(self.len) == self.addr
    }
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.addr + n)
    }
    pub fn host_net(a: Ipv4Addr) -> Net {
        Net::new(a, 32)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    All,
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::All => "all",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
    pub fn has_ports(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rp {
    Off,
    Strict,
    Loose,
}

impl Rp {
    /// From the sysctl value (Linux: 0 off, 1 strict, 2 loose; the effective value of
    /// an interface is max(conf.all, conf.IFACE)).
    pub fn of_value(v: u8) -> Rp {
        match v {
            0 => Rp::Off,
            1 => Rp::Strict,
            _ => Rp::Loose,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Rp::Off => "off",
            Rp::Strict => "strict",
            Rp::Loose => "loose",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Iface {
    pub name: String,
    pub addr: Ipv4Addr,
    pub subnet: usize,
    /// prefix length of the subnet
    pub len: u8,
    pub outside: bool,
    pub mac: [u8; 6],
    /// conf.IFACE.rp_filter
    pub rp: u8,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub id: String,
    pub dest: Net,
    pub gw: Ipv4Addr,
    /// Write `interface` in the topology file (the kernel always resolves it).
    pub iface: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub accept: bool,
    pub src: Option<Net>,
    pub dst: Option<Net>,
    pub proto: Proto,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub default_drop: bool,
    pub rules: Vec<Rule>,
}

pub const CHAINS: [(&str, &str); 3] = [
    ("input", "INPUT"),
    ("forward", "FORWARD"),
    ("output", "OUTPUT"),
];

#[derive(Clone, Debug)]
pub struct Filter {
    pub stateful: bool,
    /// input, forward, output
    pub chains: [Option<Chain>; 3],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    NoNat,
    Snat,
    Dnat,
}

#[derive(Clone, Debug)]
pub struct Nat {
    pub id: String,
    pub kind: NatKind,
    pub src: Option<Net>,
    pub dst: Option<Net>,
    pub proto: Proto,
    pub dport: Option<u16>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// None: the outgoing interface (MASQUERADE); Some: SNAT/DNAT to this address.
    pub to: Option<Ipv4Addr>,
}

#[derive(Clone, Debug)]
pub struct Dev {
    pub id: String,
    pub kind: &'static str,
    pub ifaces: Vec<Iface>,
    pub routes: Vec<Route>,
    pub filter: Option<Filter>,
    pub nat: Vec<Nat>,
    pub forwarding: bool,
    /// Write `forwarding` into the topology file (else vpntrace's default applies).
    pub write_forwarding: bool,
    /// conf.all.rp_filter
    pub rp_all: u8,
    pub write_rp: bool,
}

impl Dev {
    /// The effective rp_filter: Linux uses max(conf.all, conf.IFACE) per interface; the
    /// generator keeps it the same on every interface of a device (vpntrace has one
    /// setting per device).
    pub fn rp(&self) -> Rp {
        let m = self
            .ifaces
            .iter()
            .map(|i| i.rp.max(self.rp_all))
            .max()
            .unwrap_or(self.rp_all);
        Rp::of_value(m)
    }
    pub fn owns(&self, a: Ipv4Addr) -> bool {
        self.ifaces.iter().any(|i| i.addr == a)
    }
    pub fn iface_on(&self, subnet: usize) -> Option<&Iface> {
        self.ifaces.iter().find(|i| i.subnet == subnet)
    }
}

/// A namespace the topology file does not list: a host on a subnet (`addr`) or a next hop
/// beyond the model; `extra` are addresses beyond the model it holds on `lo` (a network
/// behind it).
#[derive(Clone, Debug)]
pub struct Unm {
    pub addr: Ipv4Addr,
    pub subnet: usize,
    pub mac: [u8; 6],
    pub gw: Option<Ipv4Addr>,
    pub extra: Vec<Net>,
}

#[derive(Clone, Debug)]
pub struct Subnet {
    pub net: Net,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Dev(usize),
    Addr(Ipv4Addr),
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub from: End,
    pub to: End,
    pub proto: Proto,
    pub dport: u16,
    pub sport: u16,
    pub icmp_id: u16,
    /// `--ingress DEVICE[:IFACE]` for a source beyond the model.
    pub ingress: Option<String>,
    /// Why this probe is here (targeted cases name the fault they show).
    pub note: String,
}

#[derive(Clone, Debug)]
pub struct Lab {
    pub name: String,
    pub devices: Vec<Dev>,
    pub unmodelled: Vec<Unm>,
    pub subnets: Vec<Subnet>,
    pub probes: Vec<Probe>,
}

/// Who holds an address in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Dev(usize),
    /// on its subnet address
    Unm(usize),
    /// on a beyond-the-model address behind it
    UnmBeyond(usize),
}

pub const PORTS: [u16; 4] = [22, 80, 443, 5353];

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ports_str(p: (u16, u16), sep: char) -> String {
    if p.0 == p.1 {
        p.0.to_string()
    } else {
        format!("{}{}{}", p.0, sep, p.1)
    }
}

impl Lab {
    pub fn holder(&self, a: Ipv4Addr) -> Option<Holder> {
        if let Some(d) = self.devices.iter().position(|d| d.owns(a)) {
            return Some(Holder::Dev(d));
        }
        if let Some(u) = self.unmodelled.iter().position(|u| u.addr == a) {
            return Some(Holder::Unm(u));
        }
        self.unmodelled
            .iter()
            .position(|u| u.extra.iter().any(|n| n.contains(a)))
            .map(Holder::UnmBeyond)
    }

    pub fn end_addr(&self, e: &End) -> Ipv4Addr {
        match e {
            End::Dev(d) => self.devices[*d].ifaces[0].addr,
            End::Addr(a) => *a,
        }
    }

    pub fn end_arg(&self, e: &End) -> String {
        match e {
            End::Dev(d) => self.devices[*d].id.clone(),
            End::Addr(a) => a.to_string(),
        }
    }

    /// Label of a namespace for reports: the device id, or `unmodelled ADDR`.
    pub fn label(&self, h: Holder) -> String {
        match h {
            Holder::Dev(d) => self.devices[d].id.clone(),
            Holder::Unm(u) | Holder::UnmBeyond(u) => {
                format!("unmodelled {}", self.unmodelled[u].addr)
            }
        }
    }

    /// Every address that may appear as a packet's source (for the unmodelled
    /// namespaces' arrival counters).
    pub fn candidate_sources(&self) -> Vec<Ipv4Addr> {
        let mut v: Vec<Ipv4Addr> = Vec::new();
        for d in &self.devices {
            for i in &d.ifaces {
                v.push(i.addr);
            }
        }
        for u in &self.unmodelled {
            v.push(u.addr);
            for n in &u.extra {
                v.push(n.host(if n.len == 32 { 0 } else { 1 }));
            }
        }
        for p in &self.probes {
            if let End::Addr(a) = p.from {
                v.push(a);
            }
        }
        v.sort();
        v.dedup();
        v
    }

    // ----- the vpntrace topology -------------------------------------------------------

    pub fn topology_json(&self, description: &str) -> Value {
        let devices: Vec<Value> = self.devices.iter().map(dev_json).collect();
        json!({
            "format": 1,
            "name": self.name,
            "description": description,
            "cloud": {
                "vpc": {"id": "vpc-lab", "cidrs": ["172.31.0.0/16"]},
                "vswitches": [{"id": "vsw-lab", "cidr": "172.31.1.0/24"}],
                "route_tables": [{"id": "vtb-lab", "system": true, "entries": []}]
            },
            "onprem": {"devices": devices}
        })
    }

    // ----- the agent's plan --------------------------------------------------------------

    pub fn ns_dev(prefix: &str, d: usize) -> String {
        format!("{prefix}-d{d}")
    }
    pub fn ns_unm(prefix: &str, u: usize) -> String {
        format!("{prefix}-u{u}")
    }
    pub fn ns_of(prefix: &str, h: Holder) -> String {
        match h {
            Holder::Dev(d) => Self::ns_dev(prefix, d),
            Holder::Unm(u) | Holder::UnmBeyond(u) => Self::ns_unm(prefix, u),
        }
    }

    pub fn plan(&self, prefix: &str, timeout_ms: u64) -> Value {
        let mut namespaces = Vec::new();
        let mut links = Vec::new();
        let common_sysctl = |ifaces: &[String]| {
            let mut v: Vec<(String, String)> = vec![
                ("net/ipv4/tcp_synack_retries".into(), "0".into()),
                ("net/ipv4/conf/all/log_martians".into(), "0".into()),
            ];
            for c in ["all", "default"]
                .iter()
                .map(|s| s.to_string())
                .chain(ifaces.iter().cloned())
            {
                v.push((format!("net/ipv4/conf/{c}/send_redirects"), "0".into()));
                v.push((format!("net/ipv4/conf/{c}/accept_redirects"), "0".into()));
                // ARP requests carry the interface's own address, not the packet's source
                // (else a receiver's rp_filter may ignore the ARP request of a host that
                // sends from an address beyond the model, which vpntrace does not model).
                v.push((format!("net/ipv4/conf/{c}/arp_announce"), "2".into()));
            }
            v
        };
        let suppress = "-A OUTPUT -p icmp -m icmp --icmp-type 3 -m comment --comment vt:no-unreach -j DROP\n\
                        -A OUTPUT -p icmp -m icmp --icmp-type 11 -m comment --comment vt:no-ttl -j DROP\n\
                        -A OUTPUT -p icmp -m icmp --icmp-type 5 -m comment --comment vt:no-redirect -j DROP\n\
                        -A OUTPUT -p tcp -m tcp --tcp-flags RST RST -m comment --comment vt:no-rst -j DROP\n";
        // Subnet members: (namespace, interface name, mac).
        let mut members: Vec<Vec<(String, String, [u8; 6])>> = vec![Vec::new(); self.subnets.len()];
        for (d, dev) in self.devices.iter().enumerate() {
            let ns = Self::ns_dev(prefix, d);
            let mut ip = vec!["link set lo up".to_string()];
            for i in &dev.ifaces {
                members[i.subnet].push((ns.clone(), i.name.clone(), i.mac));
                ip.push(format!(
                    "addr add {}/{} dev {}",
                    i.addr, self.subnets[i.subnet].net.len, i.name
                ));
                ip.push(format!("link set {} up", i.name));
            }
            for (k, r) in dev.routes.iter().enumerate() {
                // Among listed routes of one prefix the first wins; a connected route
                // (metric 0) wins over any listed one of the same prefix.
                ip.push(format!(
                    "route add {} via {} metric {}",
                    r.dest,
                    r.gw,
                    100 + k
                ));
            }
            let names: Vec<String> = dev.ifaces.iter().map(|i| i.name.clone()).collect();
            let mut sysctl = common_sysctl(&names);
            sysctl.push((
                "net/ipv4/ip_forward".into(),
                if dev.forwarding { "1" } else { "0" }.into(),
            ));
            sysctl.push(("net/ipv4/conf/all/rp_filter".into(), dev.rp_all.to_string()));
            sysctl.push(("net/ipv4/conf/default/rp_filter".into(), "0".into()));
            for i in &dev.ifaces {
                sysctl.push((
                    format!("net/ipv4/conf/{}/rp_filter", i.name),
                    i.rp.to_string(),
                ));
            }
            let mut raw = String::from("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
            for i in &dev.ifaces {
                raw.push_str(&format!(
                    "-A PREROUTING -i {0} -m comment --comment vt:seen-{0}\n",
                    i.name
                ));
            }
            // Linux drops a packet that arrives with one of the device's own addresses as
            // its source (a martian source); count it, nothing else does.
            for i in &dev.ifaces {
                raw.push_str(&format!(
                    "-A PREROUTING ! -i lo -s {}/32 -m comment --comment vt:martian\n",
                    i.addr
                ));
            }
            raw.push_str(suppress);
            raw.push_str("COMMIT\n");
            let iptables = format!("{}{}{}", filter_rules(dev), nat_rules(dev), raw);
            let addrs: Vec<String> = dev.ifaces.iter().map(|i| i.addr.to_string()).collect();
            namespaces.push(
                json!({"name": ns, "ip": ip, "sysctl": sysctl, "iptables": iptables,
                                   "addrs": addrs, "listen": true, "watch": true}),
            );
        }
        let sources = self.candidate_sources();
        for (u, unm) in self.unmodelled.iter().enumerate() {
            let ns = Self::ns_unm(prefix, u);
            members[unm.subnet].push((ns.clone(), "eth0".into(), unm.mac));
            let mut ip = vec![
                "link set lo up".to_string(),
                format!(
                    "addr add {}/{} dev eth0",
                    unm.addr, self.subnets[unm.subnet].net.len
                ),
                "link set eth0 up".to_string(),
            ];
            let mut addrs = vec![unm.addr.to_string()];
            for n in &unm.extra {
                let a = n.host(if n.len == 32 { 0 } else { 1 });
                ip.push(format!("addr add {a}/32 dev lo"));
                addrs.push(a.to_string());
            }
            if let Some(g) = unm.gw {
                ip.push(format!("route add default via {g}"));
            }
            let mut sysctl = common_sysctl(&["eth0".to_string()]);
            sysctl.push(("net/ipv4/ip_forward".into(), "0".into()));
            let mut raw = String::from("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
            raw.push_str(&format!(
                "-A PREROUTING -d {} -m comment --comment vt:dst-self\n",
                unm.addr
            ));
            for s in &sources {
                raw.push_str(&format!(
                    "-A PREROUTING -s {s}/32 -m comment --comment vt:src-{s}\n"
                ));
            }
            for dev in &self.devices {
                for i in &dev.ifaces {
                    if i.subnet == unm.subnet {
                        raw.push_str(&format!(
                            "-A PREROUTING -m mac --mac-source {} -m comment --comment vt:from-{}\n",
                            mac_str(i.mac),
                            dev.id
                        ));
                    }
                }
            }
            raw.push_str(suppress);
            raw.push_str("COMMIT\n");
            namespaces.push(
                json!({"name": ns, "ip": ip, "sysctl": sysctl, "iptables": raw,
                                   "addrs": addrs, "listen": true, "watch": true}),
            );
        }
        for (s, m) in members.iter().enumerate() {
            if m.len() == 2 {
                links.push(format!(
                    "link add {} netns {} address {} type veth peer name {} netns {} address {}",
                    m[0].1,
                    m[0].0,
                    mac_str(m[0].2),
                    m[1].1,
                    m[1].0,
                    mac_str(m[1].2)
                ));
            } else {
                // A LAN: a bridge in a namespace of its own.
                let ns = format!("{prefix}-b{s}");
                let mut ip = vec![
                    "link set lo up".to_string(),
                    "link add br0 type bridge".to_string(),
                ];
                for (k, (mns, name, mac)) in m.iter().enumerate() {
                    links.push(format!(
                        "link add {name} netns {mns} address {} type veth peer name p{k} netns {ns}",
                        mac_str(*mac)
                    ));
                    ip.push(format!("link set p{k} master br0"));
                    ip.push(format!("link set p{k} up"));
                }
                ip.push("link set br0 up".to_string());
                let sysctl = vec![
                    (
                        "net/bridge/bridge-nf-call-iptables".to_string(),
                        "0".to_string(),
                    ),
                    ("net/ipv4/ip_forward".to_string(), "0".to_string()),
                ];
                // Bridges first: their ports must exist before the devices' routes.
                namespaces.insert(
                    0,
                    json!({"name": ns, "ip": ip, "sysctl": sysctl, "iptables": "",
                                            "addrs": [], "listen": false, "watch": false}),
                );
            }
        }
        let probes: Vec<Value> = self
            .probes
            .iter()
            .map(|p| {
                let src = self.source_holder(p);
                let bind = match &p.from {
                    End::Addr(a) => Some(a.to_string()),
                    End::Dev(_) => None,
                };
                json!({
                    "src_ns": Self::ns_of(prefix, src),
                    "bind": bind,
                    "dst": self.end_addr(&p.to).to_string(),
                    "proto": p.proto.name(),
                    "sport": p.sport,
                    "dport": p.dport,
                    "icmp_id": p.icmp_id,
                })
            })
            .collect();
        json!({
            "namespaces": namespaces,
            "links": links,
            "ports": PORTS,
            "timeout_ms": timeout_ms,
            "probes": probes,
        })
    }

    pub fn source_holder(&self, p: &Probe) -> Holder {
        match &p.from {
            End::Dev(d) => Holder::Dev(*d),
            End::Addr(a) => self.holder(*a).expect("probe source held by a namespace"),
        }
    }
}

fn net_or_host(n: &Net) -> String {
    if n.len == 32 {
        Ipv4Addr::from(n.addr).to_string()
    } else {
        n.to_string()
    }
}

fn dev_json(d: &Dev) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), json!(d.id));
    o.insert("kind".into(), json!(d.kind));
    o.insert("vendor".into(), json!("linux-iptables"));
    o.insert(
        "interfaces".into(),
        Value::Array(
            d.ifaces
                .iter()
                .map(|i| {
                    let mut v = json!({"name": i.name, "address": format!("{}/{}", i.addr, i.len)});
                    if i.outside {
                        v["role"] = json!("outside");
                    }
                    v
                })
                .collect(),
        ),
    );
    o.insert(
        "routes".into(),
        Value::Array(
            d.routes
                .iter()
                .map(|r| {
                    let mut v = json!({"id": r.id, "destination": r.dest.to_string(), "gateway": r.gw.to_string()});
                    if let Some(i) = &r.iface {
                        v["interface"] = json!(i);
                    }
                    v
                })
                .collect(),
        ),
    );
    if let Some(f) = &d.filter {
        let mut fo = serde_json::Map::new();
        fo.insert("stateful".into(), json!(f.stateful));
        for (k, (name, _)) in CHAINS.iter().enumerate() {
            if let Some(c) = &f.chains[k] {
                let rules: Vec<Value> = c
                    .rules
                    .iter()
                    .map(|r| {
                        let mut v = serde_json::Map::new();
                        v.insert("id".into(), json!(r.id));
                        v.insert(
                            "action".into(),
                            json!(if r.accept { "accept" } else { "drop" }),
                        );
                        if let Some(n) = &r.src {
                            v.insert("source".into(), json!(net_or_host(n)));
                        }
                        if let Some(n) = &r.dst {
                            v.insert("destination".into(), json!(net_or_host(n)));
                        }
                        if r.proto != Proto::All {
                            v.insert("protocol".into(), json!(r.proto.name()));
                        }
                        if let Some(p) = r.sport {
                            v.insert("source_ports".into(), json!(ports_str(p, '-')));
                        }
                        if let Some(p) = r.dport {
                            v.insert("destination_ports".into(), json!(ports_str(p, '-')));
                        }
                        if let Some(i) = &r.iif {
                            v.insert("in_interface".into(), json!(i));
                        }
                        if let Some(i) = &r.oif {
                            v.insert("out_interface".into(), json!(i));
                        }
                        Value::Object(v)
                    })
                    .collect();
                fo.insert(
                    (*name).into(),
                    json!({"default": if c.default_drop { "drop" } else { "accept" }, "rules": rules}),
                );
            }
        }
        o.insert("filter".into(), Value::Object(fo));
    }
    if !d.nat.is_empty() {
        let nat: Vec<Value> = d
            .nat
            .iter()
            .map(|r| {
                let mut v = serde_json::Map::new();
                v.insert("id".into(), json!(r.id));
                v.insert(
                    "action".into(),
                    json!(match r.kind {
                        NatKind::NoNat => "no_nat",
                        NatKind::Snat => "source_nat",
                        NatKind::Dnat => "destination_nat",
                    }),
                );
                if let Some(n) = &r.src {
                    v.insert("source".into(), json!(net_or_host(n)));
                }
                if let Some(n) = &r.dst {
                    v.insert("destination".into(), json!(net_or_host(n)));
                }
                if r.proto != Proto::All {
                    v.insert("protocol".into(), json!(r.proto.name()));
                }
                if let Some(p) = r.dport {
                    v.insert("destination_ports".into(), json!(p.to_string()));
                }
                if let Some(i) = &r.iif {
                    v.insert("in_interface".into(), json!(i));
                }
                if let Some(i) = &r.oif {
                    v.insert("out_interface".into(), json!(i));
                }
                match (r.kind, r.to) {
                    (NatKind::NoNat, _) => {}
                    (_, None) => {
                        v.insert("to".into(), json!("interface"));
                    }
                    (_, Some(a)) => {
                        v.insert("to".into(), json!(a.to_string()));
                    }
                }
                Value::Object(v)
            })
            .collect();
        o.insert("nat".into(), Value::Array(nat));
    }
    if d.write_forwarding {
        o.insert("forwarding".into(), json!(d.forwarding));
    }
    if d.write_rp {
        o.insert("rp_filter".into(), json!(d.rp().name()));
    }
    Value::Object(o)
}

fn rule_matchers(
    src: &Option<Net>,
    dst: &Option<Net>,
    iif: &Option<String>,
    oif: &Option<String>,
    proto: Proto,
    sport: Option<(u16, u16)>,
    dport: Option<(u16, u16)>,
) -> String {
    let mut s = String::new();
    if let Some(n) = src {
        s.push_str(&format!(" -s {n}"));
    }
    if let Some(n) = dst {
        s.push_str(&format!(" -d {n}"));
    }
    if let Some(i) = iif {
        s.push_str(&format!(" -i {i}"));
    }
    if let Some(i) = oif {
        s.push_str(&format!(" -o {i}"));
    }
    if proto != Proto::All {
        s.push_str(&format!(" -p {}", proto.name()));
        if proto.has_ports() && (sport.is_some() || dport.is_some()) {
            s.push_str(&format!(" -m {}", proto.name()));
            if let Some(p) = sport {
                s.push_str(&format!(" --sport {}", ports_str(p, ':')));
            }
            if let Some(p) = dport {
                s.push_str(&format!(" --dport {}", ports_str(p, ':')));
            }
        }
    }
    s
}

/// The filter table: each modelled chain's default is the policy; a stateful filter
/// accepts ESTABLISHED,RELATED first in every modelled chain (vpntrace: "a reply of a
/// known session on a stateful device is accepted as ESTABLISHED before the rules").
fn filter_rules(d: &Dev) -> String {
    let mut s = String::from("*filter\n");
    let f = d.filter.as_ref();
    for (k, (_, chain)) in CHAINS.iter().enumerate() {
        let pol = match f.and_then(|f| f.chains[k].as_ref()) {
            Some(c) if c.default_drop => "DROP",
            _ => "ACCEPT",
        };
        s.push_str(&format!(":{chain} {pol} [0:0]\n"));
    }
    if let Some(f) = f {
        for (k, (_, chain)) in CHAINS.iter().enumerate() {
            let Some(c) = &f.chains[k] else { continue };
            if f.stateful {
                s.push_str(&format!(
                    "-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment vt:established -j ACCEPT\n"
                ));
            }
            for r in &c.rules {
                s.push_str(&format!(
                    "-A {chain}{} -m comment --comment vt:{} -j {}\n",
                    rule_matchers(&r.src, &r.dst, &r.iif, &r.oif, r.proto, r.sport, r.dport),
                    r.id,
                    if r.accept { "ACCEPT" } else { "DROP" }
                ));
            }
        }
    }
    s.push_str("COMMIT\n");
    s
}

/// The nat table: destination NAT in PREROUTING, source NAT and exemptions in
/// POSTROUTING (first match of its stage; an exemption is `-j RETURN`).
fn nat_rules(d: &Dev) -> String {
    if d.nat.is_empty() {
        return String::new();
    }
    let mut s = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
    for r in &d.nat {
        let m = rule_matchers(
            &r.src,
            &r.dst,
            &r.iif,
            &r.oif,
            r.proto,
            None,
            r.dport.map(|p| (p, p)),
        );
        let (chain, target) = match (r.kind, r.to) {
            (NatKind::NoNat, _) if r.iif.is_some() => ("PREROUTING", "RETURN".to_string()),
            (NatKind::NoNat, _) => ("POSTROUTING", "RETURN".to_string()),
            (NatKind::Snat, None) => ("POSTROUTING", "MASQUERADE".to_string()),
            (NatKind::Snat, Some(a)) => ("POSTROUTING", format!("SNAT --to-source {a}")),
            (NatKind::Dnat, Some(a)) => ("PREROUTING", format!("DNAT --to-destination {a}")),
            (NatKind::Dnat, None) => unreachable!("destination NAT needs an address"),
        };
        s.push_str(&format!(
            "-A {chain}{m} -m comment --comment vt:{} -j {target}\n",
            r.id
        ));
    }
    s.push_str("COMMIT\n");
    s
}
