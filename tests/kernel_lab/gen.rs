//! Random on-prem topologies (deterministic for a seed) and the targeted cases.
//!
//! Only what both Linux and vpntrace's model express is generated; see README.md
//! ("What the generator leaves out") for what is cut and why.

use super::lab::*;
use std::net::Ipv4Addr;

/// splitmix64: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

fn mac(topo: usize, ns_kind: u8, n: usize, i: usize) -> [u8; 6] {
    [
        0x02,
        ns_kind,
        (topo >> 8) as u8,
        topo as u8,
        n as u8,
        i as u8,
    ]
}

const MAX_IFACES: usize = 3;

struct Builder {
    topo: usize,
    lab: Lab,
    /// members of each subnet, in join order (device indices)
    members: Vec<Vec<usize>>,
    /// next host number per subnet
    next_host: Vec<u32>,
}

impl Builder {
    fn new(topo: usize, name: String) -> Builder {
        Builder {
            topo,
            lab: Lab {
                name,
                devices: Vec::new(),
                unmodelled: Vec::new(),
                subnets: Vec::new(),
                probes: Vec::new(),
            },
            members: Vec::new(),
            next_host: Vec::new(),
        }
    }
    fn device(&mut self, id: &str, kind: &'static str) -> usize {
        self.lab.devices.push(Dev {
            id: id.to_string(),
            kind,
            ifaces: Vec::new(),
            routes: Vec::new(),
            filter: None,
            nat: Vec::new(),
            forwarding: kind != "host",
            write_forwarding: true,
            rp_all: 0,
            write_rp: false,
        });
        self.lab.devices.len() - 1
    }
    fn subnet(&mut self, net: Net) -> usize {
        self.lab.subnets.push(Subnet { net });
        self.members.push(Vec::new());
        self.next_host.push(1);
        self.lab.subnets.len() - 1
    }
    /// Attach device `d` to subnet `s` with the next free host number (or `host`).
    fn attach(&mut self, d: usize, s: usize, outside: bool, host: Option<u32>) -> Ipv4Addr {
        let n = host.unwrap_or_else(|| {
            let n = self.next_host[s];
            self.next_host[s] += 1;
            n
        });
        let net = self.lab.subnets[s].net;
        let addr = net.host(n);
        let k = self.lab.devices[d].ifaces.len();
        self.lab.devices[d].ifaces.push(Iface {
            name: format!("eth{k}"),
            addr,
            subnet: s,
            len: net.len,
            outside,
            mac: mac(self.topo, 1, d, k),
            rp: 0,
        });
        self.members[s].push(d);
        addr
    }
    fn unmodelled(&mut self, s: usize, host: u32, gw: Option<Ipv4Addr>, extra: Vec<Net>) -> usize {
        let u = self.lab.unmodelled.len();
        self.lab.unmodelled.push(Unm {
            addr: self.lab.subnets[s].net.host(host),
            subnet: s,
            mac: mac(self.topo, 2, u, 0),
            gw,
            extra,
        });
        u
    }
    fn route(&mut self, d: usize, dest: Net, gw: Ipv4Addr, write_iface: bool) {
        let iface = if write_iface {
            self.lab.devices[d]
                .ifaces
                .iter()
                .find(|i| self.lab.subnets[i.subnet].net.contains(gw))
                .map(|i| i.name.clone())
        } else {
            None
        };
        let id = format!("r{}", self.lab.devices[d].routes.len() + 1);
        self.lab.devices[d].routes.push(Route {
            id,
            dest,
            gw,
            iface,
        });
    }
    fn addr_on(&self, d: usize, s: usize) -> Ipv4Addr {
        self.lab.devices[d].iface_on(s).expect("attached").addr
    }
    fn first_forwarder(&self, s: usize) -> Option<usize> {
        let on: Vec<usize> = (0..self.lab.devices.len())
            .filter(|&d| self.lab.devices[d].iface_on(s).is_some())
            .collect();
        on.iter()
            .copied()
            .find(|&d| self.lab.devices[d].forwarding)
            .or(on.first().copied())
    }
    /// The device an unmodelled host on subnet `s` sends through (SPEC "Trace endpoints"):
    /// the first device on it that is not a `host` and forwards, else the first host that
    /// forwards, else the first device on it.
    fn host_gateway(&self, s: usize) -> Option<usize> {
        let on: Vec<usize> = (0..self.lab.devices.len())
            .filter(|&d| self.lab.devices[d].iface_on(s).is_some())
            .collect();
        let fwd = |d: &usize| self.lab.devices[*d].forwarding;
        on.iter()
            .copied()
            .find(|d| fwd(d) && self.lab.devices[*d].kind != "host")
            .or_else(|| on.iter().copied().find(fwd))
            .or(on.first().copied())
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// One random topology.
pub fn random_lab(seed: u64, topo: usize) -> Lab {
    let mut r = Rng::new(seed ^ (topo as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut b = Builder::new(topo, format!("kernel lab: seed {seed} topology {topo}"));
    let n = 3 + r.below(4);
    for d in 0..n {
        let kind = if d == 0 {
            "gateway"
        } else {
            *r.pick(&["router", "router", "firewall", "host", "host"])
        };
        b.device(&format!("{kind}-{d}"), kind);
    }
    let mut lan_no = 0u8;
    let mut p2p_no = 0u8;
    let mut new_subnet = |b: &mut Builder, r: &mut Rng, lan: bool| {
        if !lan && r.chance(0.5) {
            p2p_no += 1;
            b.subnet(Net::new(ip(10, 2, p2p_no, 0), 30))
        } else {
            lan_no += 1;
            b.subnet(Net::new(ip(10, 1, lan_no, 0), 24))
        }
    };
    let cap = |b: &Builder, d: usize| {
        let dev = &b.lab.devices[d];
        dev.ifaces.len() < if dev.kind == "host" { 2 } else { MAX_IFACES }
    };
    // A connected tree: each device joins an earlier one.
    for d in 1..n {
        let mut cands: Vec<usize> = (0..d).filter(|&j| cap(&b, j)).collect();
        if cands.is_empty() {
            cands = (0..d).collect();
        }
        // Prefer devices that route.
        let routers: Vec<usize> = cands
            .iter()
            .copied()
            .filter(|&j| b.lab.devices[j].kind != "host")
            .collect();
        let j = if !routers.is_empty() && r.chance(0.8) {
            *r.pick(&routers)
        } else {
            *r.pick(&cands)
        };
        let lans: Vec<usize> = b.lab.devices[j]
            .ifaces
            .iter()
            .map(|i| i.subnet)
            .filter(|&s| b.lab.subnets[s].net.len == 24 && b.members[s].len() < 4)
            .collect();
        if (!lans.is_empty() && r.chance(0.5)) || !cap(&b, j) {
            let s = if lans.is_empty() {
                b.lab.devices[j].ifaces[0].subnet
            } else {
                *r.pick(&lans)
            };
            b.attach(d, s, false, None);
        } else {
            let lan = b.lab.devices[d].kind == "host" || b.lab.devices[j].kind == "host";
            let s = new_subnet(&mut b, &mut r, lan);
            b.attach(j, s, false, None);
            b.attach(d, s, false, None);
        }
    }
    // A second path between two devices (asymmetric routes, loops).
    if r.chance(0.45) {
        let cands: Vec<usize> = (0..n).filter(|&d| cap(&b, d)).collect();
        if cands.len() >= 2 {
            let x = *r.pick(&cands);
            let y = *r.pick(&cands);
            let shared = b.lab.devices[x]
                .ifaces
                .iter()
                .any(|i| b.lab.devices[y].iface_on(i.subnet).is_some());
            if x != y && !shared {
                let s = new_subnet(&mut b, &mut r, false);
                b.attach(x, s, false, None);
                b.attach(y, s, false, None);
            }
        }
    }
    // Uplinks: outside interfaces toward a next hop beyond the model (a sink that also
    // holds a network beyond the model).
    let mut uplinks: Vec<(usize, usize, usize)> = Vec::new(); // (device, subnet, unmodelled)
    let mut up_no = 0u8;
    for d in 0..n {
        let want = if d == 0 {
            r.chance(0.85)
        } else {
            b.lab.devices[d].kind != "host" && r.chance(0.15)
        };
        if want && cap(&b, d) {
            up_no += 1;
            let s = b.subnet(Net::new(ip(100, 64, up_no, 0), 24));
            let a = b.attach(d, s, true, None);
            let u = b.unmodelled(s, 254, Some(a), vec![Net::new(ip(198, 18, up_no, 0), 24)]);
            uplinks.push((d, s, u));
        }
    }
    // Stub LANs and unmodelled hosts on existing LANs.
    for d in 0..n {
        if b.lab.devices[d].kind != "host" && cap(&b, d) && r.chance(0.3) {
            let s = new_subnet(&mut b, &mut r, true);
            b.attach(d, s, r.chance(0.2), None);
        }
    }
    // Forwarding, before unmodelled hosts pick their gateway.
    for d in 0..n {
        let dev = &mut b.lab.devices[d];
        if dev.kind == "host" {
            dev.forwarding = dev.ifaces.len() > 1 && r.chance(0.6);
            dev.write_forwarding = true;
        } else {
            dev.forwarding = r.chance(0.9);
            dev.write_forwarding = !dev.forwarding || r.chance(0.5);
        }
    }
    for s in 0..b.lab.subnets.len() {
        let net = b.lab.subnets[s].net;
        // LANs (10.1.x.0/24) may hold a host the topology does not list.
        if net.len == 24 && net.addr >> 16 == 0x0A01 && r.chance(0.5) {
            let gw = b.host_gateway(s).map(|d| b.addr_on(d, s));
            b.unmodelled(s, 200, gw, Vec::new());
        }
    }
    // Routes.
    make_routes(&mut b, &mut r, &uplinks);
    // rp_filter (Linux: effective = max(conf.all, conf.IFACE)).
    for d in 0..n {
        let eff = if r.chance(0.5) {
            Rp::Off
        } else if r.chance(0.5) {
            Rp::Strict
        } else {
            Rp::Loose
        };
        let dev = &mut b.lab.devices[d];
        let k = dev.ifaces.len();
        let (all, ifs): (u8, Vec<u8>) = match eff {
            Rp::Off => (0, vec![0; k]),
            Rp::Strict if r.chance(0.5) => (1, (0..k).map(|_| r.below(2) as u8).collect()),
            Rp::Strict => (0, vec![1; k]),
            Rp::Loose if r.chance(0.5) => (2, (0..k).map(|_| r.below(3) as u8).collect()),
            Rp::Loose => (r.below(2) as u8, vec![2; k]),
        };
        dev.rp_all = all;
        for (i, v) in ifs.into_iter().enumerate() {
            dev.ifaces[i].rp = v;
        }
        dev.write_rp = eff != Rp::Off || r.chance(0.5);
    }
    // Filters and NAT.
    let nets: Vec<Net> = b.lab.subnets.iter().map(|s| s.net).collect();
    let addrs: Vec<Ipv4Addr> = b
        .lab
        .devices
        .iter()
        .flat_map(|d| d.ifaces.iter().map(|i| i.addr))
        .collect();
    let mut dnat_targets: Vec<(usize, Ipv4Addr, Proto, u16)> = Vec::new();
    for d in 0..n {
        let host = b.lab.devices[d].kind == "host";
        if r.chance(if host { 0.4 } else { 0.7 }) {
            let f = random_filter(&mut r, &b.lab.devices[d], &nets, &addrs);
            b.lab.devices[d].filter = Some(f);
        }
        if !host && b.lab.devices[d].ifaces.len() >= 2 && b.lab.devices[d].forwarding {
            random_nat(&mut r, &mut b, d, &nets, &mut dnat_targets);
        }
    }
    make_probes(&mut b, &mut r, &uplinks, &dnat_targets);
    b.lab
}

fn make_routes(b: &mut Builder, r: &mut Rng, uplinks: &[(usize, usize, usize)]) {
    let n = b.lab.devices.len();
    let ns = b.lab.subnets.len();
    // dist[t][d]: hops from d to a device on subnet t, through forwarding devices.
    let neighbours = |b: &Builder, d: usize| -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for i in &b.lab.devices[d].ifaces {
            for &m in &b.members[i.subnet] {
                if m != d {
                    v.push((m, i.subnet));
                }
            }
        }
        v
    };
    let bfs = |b: &Builder, start: &[usize]| -> Vec<Option<usize>> {
        let mut dist = vec![None; n];
        let mut q = std::collections::VecDeque::new();
        for &d in start {
            dist[d] = Some(0);
            q.push_back(d);
        }
        while let Some(x) = q.pop_front() {
            if !b.lab.devices[x].forwarding && !start.contains(&x) {
                continue;
            }
            for (m, _) in neighbours(b, x) {
                if dist[m].is_none() {
                    dist[m] = Some(dist[x].unwrap() + 1);
                    q.push_back(m);
                }
            }
        }
        dist
    };
    // next hop of d toward a set of devices (by dist), as (neighbour, its address).
    let next_hop =
        |b: &Builder, r: &mut Rng, d: usize, dist: &[Option<usize>]| -> Option<Ipv4Addr> {
            let my = dist[d]?;
            if my == 0 {
                return None;
            }
            let c: Vec<Ipv4Addr> = neighbours(b, d)
                .into_iter()
                .filter(|&(m, _)| {
                    dist[m] == Some(my - 1) && (b.lab.devices[m].forwarding || dist[m] == Some(0))
                })
                .map(|(m, s)| b.addr_on(m, s))
                .collect();
            if c.is_empty() {
                None
            } else {
                Some(*r.pick(&c))
            }
        };
    let up_devs: Vec<usize> = uplinks.iter().map(|u| u.0).collect();
    let up_dist = bfs(b, &up_devs);
    for d in 0..n {
        let dev_subnets: Vec<usize> = b.lab.devices[d].ifaces.iter().map(|i| i.subnet).collect();
        let all_neigh: Vec<Ipv4Addr> = neighbours(b, d)
            .into_iter()
            .map(|(m, s)| b.addr_on(m, s))
            .collect();
        let mut routes: Vec<(Net, Ipv4Addr)> = Vec::new();
        let wi = r.chance(0.4);
        if b.lab.devices[d].kind == "host" && b.lab.devices[d].ifaces.len() == 1 {
            let s = dev_subnets[0];
            let gw = b
                .first_forwarder(s)
                .filter(|&g| g != d)
                .map(|g| b.addr_on(g, s));
            let gw = gw.or_else(|| all_neigh.first().copied());
            if let Some(gw) = gw {
                routes.push((Net::new(ip(0, 0, 0, 0), 0), gw));
            }
        } else {
            // Default route: toward the uplink (its own sink for an uplink device).
            let own_up = uplinks.iter().find(|u| u.0 == d);
            let default_gw = match own_up {
                Some(&(_, _, u)) => Some(b.lab.unmodelled[u].addr),
                None => next_hop(b, r, d, &up_dist).or_else(|| {
                    if r.chance(0.5) && !all_neigh.is_empty() {
                        Some(*r.pick(&all_neigh))
                    } else {
                        None
                    }
                }),
            };
            let style = r.below(3);
            let aggregate = if style == 2 && !all_neigh.is_empty() {
                let g = *r.pick(&all_neigh);
                routes.push((Net::new(ip(10, 0, 0, 0), 8), g));
                Some(g)
            } else {
                None
            };
            for t in 0..ns {
                if dev_subnets.contains(&t) {
                    continue;
                }
                let holders: Vec<usize> = (0..n)
                    .filter(|&x| b.lab.devices[x].iface_on(t).is_some())
                    .collect();
                let dist = bfs(b, &holders);
                let Some(nh) = next_hop(b, r, d, &dist) else {
                    continue;
                };
                let covered = match (style, aggregate, default_gw) {
                    (1, _, Some(g)) => g == nh,
                    (2, Some(g), _) => g == nh,
                    _ => false,
                };
                if !covered {
                    routes.push((b.lab.subnets[t].net, nh));
                }
            }
            if let Some(g) = default_gw {
                routes.push((Net::new(ip(0, 0, 0, 0), 0), g));
            }
        }
        // Perturbations: a missing route, a wrong next hop, a duplicate prefix (first listed
        // wins), a listed route for a connected subnet (the connected one wins).
        let mut out: Vec<(Net, Ipv4Addr)> = Vec::new();
        for (dest, gw) in routes {
            if r.chance(0.07) {
                continue;
            }
            let gw = if r.chance(0.07) && !all_neigh.is_empty() {
                *r.pick(&all_neigh)
            } else {
                gw
            };
            out.push((dest, gw));
        }
        if !out.is_empty() && !all_neigh.is_empty() && r.chance(0.15) {
            let k = r.below(out.len());
            let dup = (out[k].0, *r.pick(&all_neigh));
            if r.chance(0.5) {
                out.insert(k, dup);
            } else {
                out.push(dup);
            }
        }
        if all_neigh.len() >= 2 && r.chance(0.12) {
            let s = *r.pick(&dev_subnets);
            let g = *r.pick(&all_neigh);
            if !b.lab.subnets[s].net.contains(g) {
                out.insert(r.below(out.len() + 1), (b.lab.subnets[s].net, g));
            }
        }
        for (dest, gw) in out {
            b.route(d, dest, gw, wi);
        }
    }
}

fn random_net(r: &mut Rng, nets: &[Net], addrs: &[Ipv4Addr]) -> Net {
    match r.below(10) {
        0..=5 => *r.pick(nets),
        6..=8 => Net::host_net(*r.pick(addrs)),
        _ => Net::new(ip(10, 0, 0, 0), 8),
    }
}

fn random_filter(r: &mut Rng, dev: &Dev, nets: &[Net], addrs: &[Ipv4Addr]) -> Filter {
    let ifnames: Vec<String> = dev.ifaces.iter().map(|i| i.name.clone()).collect();
    let mut chains: [Option<Chain>; 3] = [None, None, None];
    for (k, (name, _)) in CHAINS.iter().enumerate() {
        let p = if k == 1 && dev.forwarding { 0.85 } else { 0.55 };
        if !r.chance(p) {
            continue;
        }
        let nrules = r.below(5);
        let mut rules = Vec::new();
        for j in 0..nrules {
            let proto = *r.pick(&[
                Proto::All,
                Proto::All,
                Proto::Tcp,
                Proto::Tcp,
                Proto::Udp,
                Proto::Icmp,
            ]);
            let (mut sport, mut dport) = (None, None);
            if proto.has_ports() {
                if r.chance(0.5) {
                    let p = *r.pick(&PORTS);
                    dport = Some(if r.chance(0.2) { (1, 1023) } else { (p, p) });
                }
                if r.chance(0.25) {
                    let p = *r.pick(&PORTS);
                    sport = Some(if r.chance(0.3) {
                        (41000, 41999)
                    } else {
                        (p, p)
                    });
                }
            }
            rules.push(Rule {
                id: format!("{}-{}", &name[..3], j + 1),
                accept: r.chance(0.6),
                src: r.chance(0.35).then(|| random_net(r, nets, addrs)),
                dst: r.chance(0.35).then(|| random_net(r, nets, addrs)),
                proto,
                sport,
                dport,
                iif: (k != 2 && r.chance(0.3)).then(|| r.pick(&ifnames).clone()),
                oif: (k != 0 && r.chance(0.3)).then(|| r.pick(&ifnames).clone()),
            });
        }
        chains[k] = Some(Chain {
            default_drop: r.chance(0.5),
            rules,
        });
    }
    Filter {
        stateful: r.chance(0.65),
        chains,
    }
}

fn random_nat(
    r: &mut Rng,
    b: &mut Builder,
    d: usize,
    nets: &[Net],
    dnat: &mut Vec<(usize, Ipv4Addr, Proto, u16)>,
) {
    let dev = b.lab.devices[d].clone();
    let mut rules = Vec::new();
    if r.chance(0.4) {
        let out = dev
            .ifaces
            .iter()
            .find(|i| i.outside)
            .unwrap_or_else(|| r.pick(&dev.ifaces))
            .clone();
        if r.chance(0.45) {
            rules.push(Nat {
                id: "no-nat-1".into(),
                kind: NatKind::NoNat,
                src: r.chance(0.3).then(|| *r.pick(nets)),
                dst: Some(*r.pick(nets)),
                proto: Proto::All,
                dport: None,
                iif: None,
                oif: r.chance(0.6).then(|| out.name.clone()),
                to: None,
            });
        }
        let to = if r.chance(0.7) {
            None
        } else if r.chance(0.5) {
            Some(out.addr)
        } else {
            Some(r.pick(&dev.ifaces).addr)
        };
        rules.push(Nat {
            id: "snat-1".into(),
            kind: NatKind::Snat,
            src: r.chance(0.4).then(|| *r.pick(nets)),
            dst: None,
            proto: if r.chance(0.8) {
                Proto::All
            } else {
                *r.pick(&[Proto::Tcp, Proto::Udp, Proto::Icmp])
            },
            dport: None,
            iif: None,
            oif: Some(out.name.clone()),
            to,
        });
    }
    if r.chance(0.25) {
        let inn = r.pick(&dev.ifaces).clone();
        let proto = *r.pick(&[Proto::Tcp, Proto::Udp]);
        let port = *r.pick(&PORTS);
        // Translate to another device's address or an unmodelled host.
        let mut targets: Vec<Ipv4Addr> = b
            .lab
            .devices
            .iter()
            .enumerate()
            .filter(|&(x, _)| x != d)
            .flat_map(|(_, x)| x.ifaces.iter().map(|i| i.addr))
            .collect();
        targets.extend(
            b.lab
                .unmodelled
                .iter()
                .filter(|u| u.extra.is_empty())
                .map(|u| u.addr),
        );
        if !targets.is_empty() {
            let to = *r.pick(&targets);
            if r.chance(0.25) {
                rules.push(Nat {
                    id: "no-dnat-1".into(),
                    kind: NatKind::NoNat,
                    src: Some(*r.pick(nets)),
                    dst: None,
                    proto: Proto::All,
                    dport: None,
                    iif: Some(inn.name.clone()),
                    oif: None,
                    to: None,
                });
            }
            rules.push(Nat {
                id: "dnat-1".into(),
                kind: NatKind::Dnat,
                src: None,
                dst: Some(Net::host_net(inn.addr)),
                proto,
                dport: Some(port),
                iif: Some(inn.name.clone()),
                oif: None,
                to: Some(to),
            });
            dnat.push((d, inn.addr, proto, port));
        }
    }
    b.lab.devices[d].nat = rules;
}

fn make_probes(
    b: &mut Builder,
    r: &mut Rng,
    uplinks: &[(usize, usize, usize)],
    dnat: &[(usize, Ipv4Addr, Proto, u16)],
) {
    let n = b.lab.devices.len();
    let phantoms: Vec<Ipv4Addr> = b
        .lab
        .unmodelled
        .iter()
        .filter(|u| u.extra.is_empty())
        .map(|u| u.addr)
        .collect();
    let count = 10 + r.below(3);
    let mut probes = Vec::new();
    for i in 0..count {
        let mut proto = *r.pick(&[Proto::Tcp, Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Icmp]);
        let mut dport = *r.pick(&PORTS);
        let mut ingress = None;
        let from = if !uplinks.is_empty() && r.chance(0.05) {
            let &(d, s, u) = r.pick(uplinks);
            let dev = &b.lab.devices[d];
            ingress = Some(format!("{}:{}", dev.id, dev.iface_on(s).unwrap().name));
            End::Addr(b.lab.unmodelled[u].extra[0].host(1))
        } else if !phantoms.is_empty() && r.chance(0.15) {
            End::Addr(*r.pick(&phantoms))
        } else {
            let d = r.below(n);
            if r.chance(0.15) {
                End::Addr(r.pick(&b.lab.devices[d].ifaces).addr)
            } else {
                End::Dev(d)
            }
        };
        let to = if !dnat.is_empty() && i < 2 && r.chance(0.7) {
            let &(_, a, p, port) = r.pick(dnat);
            proto = p;
            dport = port;
            End::Addr(a)
        } else if !uplinks.is_empty() && ingress.is_none() && r.chance(0.08) {
            let &(_, _, u) = r.pick(uplinks);
            End::Addr(b.lab.unmodelled[u].extra[0].host(77))
        } else if !phantoms.is_empty() && r.chance(0.15) {
            End::Addr(*r.pick(&phantoms))
        } else {
            let d = r.below(n);
            if r.chance(0.2) {
                End::Addr(r.pick(&b.lab.devices[d].ifaces).addr)
            } else {
                End::Dev(d)
            }
        };
        if from == to {
            continue;
        }
        // Beyond-the-model addresses that the unmodelled sink holds on lo: only .1 is held.
        probes.push(Probe {
            from,
            to,
            proto,
            dport: if proto.has_ports() { dport } else { 0 },
            sport: 41000 + i as u16,
            icmp_id: 1000 + i as u16,
            ingress,
            note: String::new(),
        });
    }
    b.lab.probes = probes;
}

// ----- targeted cases: the six known faults -----------------------------------------------

/// Small fixed topologies, one per known fault of vpntrace (issue 11). Each is expected
/// to disagree with the kernel until the engine is fixed; `note` names the fault.
pub fn targeted_labs(first_topo: usize) -> Vec<Lab> {
    let mut v = Vec::new();
    let mut t = first_topo;
    let mut next = |name: &str| {
        t += 1;
        Builder::new(t - 1, name.to_string())
    };
    let mk = |b: &mut Builder,
              from: End,
              to: End,
              proto: Proto,
              dport: u16,
              i: u16,
              note: &str,
              ingress: Option<String>| {
        b.lab.probes.push(Probe {
            from,
            to,
            proto,
            dport,
            sport: 41000 + i,
            icmp_id: 1000 + i,
            ingress,
            note: note.to_string(),
        });
    };
    // Common shape: host h (10.1.1.10) — router r (eth0 10.1.1.1, eth1 10.1.2.1) — LAN 10.1.2.0/24.
    let base = |b: &mut Builder| -> (usize, usize, usize, usize) {
        let h = b.device("h", "host");
        let rt = b.device("r", "router");
        let s1 = b.subnet(Net::new(ip(10, 1, 1, 0), 24));
        let s2 = b.subnet(Net::new(ip(10, 1, 2, 0), 24));
        b.attach(rt, s1, false, Some(1));
        b.attach(rt, s2, false, Some(1));
        b.attach(h, s1, false, Some(10));
        b.route(h, Net::new(ip(0, 0, 0, 0), 0), ip(10, 1, 1, 1), false);
        b.lab.devices[h].forwarding = false;
        (h, rt, s1, s2)
    };

    // (1) --to an address a device holds on a non-first interface.
    {
        let mut b = next("fault 1: --to an address on a non-first interface");
        let (h, rt, _, _) = base(&mut b);
        b.lab.devices[rt].filter = Some(Filter {
            stateful: true,
            chains: [
                Some(Chain {
                    default_drop: false,
                    rules: vec![Rule {
                        id: "in-1".into(),
                        accept: false,
                        src: None,
                        dst: Some(Net::host_net(ip(10, 1, 2, 1))),
                        proto: Proto::Tcp,
                        sport: None,
                        dport: Some((22, 22)),
                        iif: None,
                        oif: None,
                    }],
                }),
                None,
                None,
            ],
        });
        mk(
            &mut b,
            End::Dev(h),
            End::Addr(ip(10, 1, 2, 1)),
            Proto::Tcp,
            22,
            0,
            "fault 1: --to 10.1.2.1 (r's eth1) is traced as r's first address",
            None,
        );
        mk(
            &mut b,
            End::Dev(h),
            End::Addr(ip(10, 1, 2, 1)),
            Proto::Icmp,
            0,
            1,
            "fault 1 (control: not filtered, agrees either way)",
            None,
        );
        v.push(b.lab);
    }
    // (2) a device sending to one of its own addresses: output then input chain, locally.
    {
        let mut b = next("fault 2: a device sends to its own address");
        let (h, rt, _, _) = base(&mut b);
        let _ = h;
        b.lab.devices[rt].filter = Some(Filter {
            stateful: true,
            chains: [
                Some(Chain {
                    default_drop: false,
                    rules: vec![Rule {
                        id: "in-1".into(),
                        accept: false,
                        src: None,
                        dst: None,
                        proto: Proto::Udp,
                        sport: None,
                        dport: Some((5353, 5353)),
                        iif: None,
                        oif: None,
                    }],
                }),
                None,
                Some(Chain {
                    default_drop: false,
                    rules: vec![Rule {
                        id: "out-1".into(),
                        accept: false,
                        src: None,
                        dst: Some(Net::host_net(ip(10, 1, 2, 1))),
                        proto: Proto::Tcp,
                        sport: None,
                        dport: Some((80, 80)),
                        iif: None,
                        oif: None,
                    }],
                }),
            ],
        });
        mk(
            &mut b,
            End::Dev(rt),
            End::Addr(ip(10, 1, 2, 1)),
            Proto::Tcp,
            80,
            0,
            "fault 2: own address, output chain drops",
            None,
        );
        mk(
            &mut b,
            End::Dev(rt),
            End::Addr(ip(10, 1, 2, 1)),
            Proto::Udp,
            5353,
            1,
            "fault 2: own address, input chain drops",
            None,
        );
        mk(
            &mut b,
            End::Dev(rt),
            End::Addr(ip(10, 1, 2, 1)),
            Proto::Icmp,
            0,
            2,
            "fault 2: own address, delivered locally",
            None,
        );
        mk(
            &mut b,
            End::Dev(rt),
            End::Dev(rt),
            Proto::Tcp,
            22,
            3,
            "fault 2: own first address, delivered locally",
            None,
        );
        v.push(b.lab);
    }
    // (3) kind host without `forwarding`: SPEC default is true.
    {
        let mut b = next("fault 3: a two-NIC host without `forwarding` routes (SPEC default true)");
        let (h, _rt, _s1, s2) = base(&mut b);
        let mid = b.device("mid", "host");
        let far = b.device("far", "host");
        let s3 = b.subnet(Net::new(ip(10, 1, 3, 0), 24));
        b.attach(mid, s2, false, Some(5));
        b.attach(mid, s3, false, Some(5));
        b.attach(far, s3, false, Some(9));
        b.lab.devices[mid].forwarding = true;
        b.lab.devices[mid].write_forwarding = false;
        b.route(_rt, Net::new(ip(10, 1, 3, 0), 24), ip(10, 1, 2, 5), false);
        b.route(mid, Net::new(ip(0, 0, 0, 0), 0), ip(10, 1, 2, 1), false);
        b.route(far, Net::new(ip(0, 0, 0, 0), 0), ip(10, 1, 3, 5), false);
        mk(
            &mut b,
            End::Dev(h),
            End::Dev(far),
            Proto::Tcp,
            443,
            0,
            "fault 3: host `mid` (forwarding not written) forwards",
            None,
        );
        mk(
            &mut b,
            End::Dev(far),
            End::Dev(h),
            Proto::Icmp,
            0,
            1,
            "fault 3: host `mid` (forwarding not written) forwards",
            None,
        );
        v.push(b.lab);
    }
    // (4) --to beyond the model (leaves with the source after NAT), --ingress from outside.
    {
        let mut b =
            next("fault 4: a destination beyond the model, and a source beyond it (--ingress)");
        let (h, rt, _, _) = base(&mut b);
        let up = b.subnet(Net::new(ip(100, 64, 1, 0), 24));
        let a = b.attach(rt, up, true, Some(1));
        b.unmodelled(up, 254, Some(a), vec![Net::new(ip(198, 18, 1, 0), 24)]);
        b.route(rt, Net::new(ip(0, 0, 0, 0), 0), ip(100, 64, 1, 254), true);
        b.lab.devices[rt].nat.push(Nat {
            id: "masq".into(),
            kind: NatKind::Snat,
            src: Some(Net::new(ip(10, 1, 0, 0), 16)),
            dst: None,
            proto: Proto::All,
            dport: None,
            iif: None,
            oif: Some("eth2".into()),
            to: None,
        });
        mk(
            &mut b,
            End::Dev(h),
            End::Addr(ip(198, 18, 1, 77)),
            Proto::Tcp,
            443,
            0,
            "fault 4: --to beyond the model leaves r with source 100.64.1.1",
            None,
        );
        mk(
            &mut b,
            End::Dev(h),
            End::Addr(ip(198, 18, 1, 77)),
            Proto::Icmp,
            0,
            1,
            "fault 4: --to beyond the model (icmp)",
            None,
        );
        mk(
            &mut b,
            End::Addr(ip(198, 18, 1, 1)),
            End::Dev(h),
            Proto::Tcp,
            22,
            2,
            "fault 4: --from beyond the model with --ingress r:eth2",
            Some("r:eth2".into()),
        );
        v.push(b.lab);
    }
    // (5) an unmodelled host on an outside-role subnet is delivered.
    {
        let mut b = next("fault 5: an unmodelled host on an outside-role subnet");
        let (h, rt, _, s2) = base(&mut b);
        b.lab.devices[rt].ifaces[1].outside = true;
        let _ = s2;
        b.unmodelled(s2, 50, Some(ip(10, 1, 2, 1)), Vec::new());
        mk(
            &mut b,
            End::Dev(h),
            End::Addr(ip(10, 1, 2, 50)),
            Proto::Tcp,
            80,
            0,
            "fault 5: 10.1.2.50 (not modelled, outside subnet) must be delivered",
            None,
        );
        mk(
            &mut b,
            End::Addr(ip(10, 1, 2, 50)),
            End::Dev(h),
            Proto::Udp,
            5353,
            1,
            "fault 5: from 10.1.2.50 (not modelled, outside subnet)",
            None,
        );
        v.push(b.lab);
    }
    // (6) a routed-only subnet (route through an unmodelled router) is address space that exists.
    {
        let mut b = next("fault 6: a subnet routed through an unmodelled router");
        let (h, rt, _, s2) = base(&mut b);
        b.unmodelled(
            s2,
            254,
            Some(ip(10, 1, 2, 1)),
            vec![Net::new(ip(10, 9, 0, 0), 16)],
        );
        b.route(rt, Net::new(ip(10, 9, 0, 0), 16), ip(10, 1, 2, 254), false);
        mk(
            &mut b,
            End::Dev(h),
            End::Addr(ip(10, 9, 0, 1)),
            Proto::Tcp,
            22,
            0,
            "fault 6: 10.9.0.1 (routed-only subnet) leaves r toward 10.1.2.254",
            None,
        );
        mk(
            &mut b,
            End::Addr(ip(10, 9, 0, 1)),
            End::Dev(h),
            Proto::Icmp,
            0,
            1,
            "fault 6: from the routed-only subnet, --ingress r:eth1",
            Some("r:eth1".into()),
        );
        v.push(b.lab);
    }
    v
}
