//! A deterministic generator of large, realistic topologies in the SPEC format, for
//! benchmarks and scale tests (`cargo run --release --example generate`).
//!
//! One VPC (`10.0.0.0/8`) is joined to `connections` IDC sites, each by its own IPsec
//! connection (policy mode on the IDC gateway, mirrored IKE/IPsec settings and SAs), on
//! one VPN gateway per [`GenParams::connections_per_vpn_gateway`] connections. Every site
//! has, on the cloud side, four vSwitches (two bound to the site's custom route table,
//! two to the system table), four security groups of mixed priorities (accepts and
//! drops; some sites use enterprise groups) and about 48 instances; on the IDC side, a
//! firewall/VPN gateway with a long forward chain, NAT (with a no-NAT exemption, with no
//! NAT at all, or with a published service), a core router and three hosts. VRouter
//! tables carry entries of every next-hop type.
//!
//! Address plan (independent of the seed, so scripts can name addresses): site `k` owns
//! the cloud block `10.0.0.0/22 + k·1024` (vSwitches web `.0/24`, app `.1/24`, db `.2/24`,
//! ops `.3/24`; the first instance of each at `.10`), the IDC block
//! `172.16.0.0/22 + k·1024` (users `.0/24`, app `.1/24` with `app01` at `.21`, db `.2/24`
//! with `db01` at `.15`, mgmt `.3.0/25` with `ops01` at `.10`, transit `.3.128/25`) and
//! the public /29 `58.32.0.0 + k·8` for its gateway (`+2`). Device ids are
//! `{city}-idc{k:04}-{role}` (`hz-idc0000-db01`); cloud ids are random, shaped like
//! Alibaba's. Both ends' subnets are fully used, so `check` has no unused space to warn
//! about, and traffic between the VPC and the IDC is only ever dropped by a planted fault:
//! the many drop rules elsewhere match internet and partner traffic, or are outranked.
//!
//! With `faults` on, a handful of realistic mistakes are planted on sites other than
//! site 0 (site 0 is always healthy) and named in the topology's `description` and
//! `flows`: a custom route table without the IDC route (faq 3), a security group without
//! ingress rules (faq 4), a source NAT without exemption (faq 6), an IDC ACL dropping
//! VPC → IDC database traffic (faq 3), a core router without a route back to the VPC
//! (faq 4) and a pre-shared key that differs between the ends (faq 1).
//!
//! Those are the reference sites ([`Mix::Reference`], [`GenParams::scaled`]), whose
//! output stays byte-identical for given parameters (benchmarks compare against earlier
//! figures). [`GenParams::estate`] ([`Mix::Estate`], module [`estate`]) builds instead
//! the ordinary rule mixes of a mid-size company's estate (issue 13), with the same
//! connections, faults and flows.

pub mod faults;

use std::collections::HashSet;
use std::net::Ipv4Addr;

use vpntrace::input::{
    Action, Chain, Cloud, ConnStatus, CustomerGateway, Device, DeviceIpsec, DeviceKind, Direction,
    Filter, FilterRule, FlowSpec, Ike, Instance, Interface, IpsecConnection, IpsecMode,
    IpsecParams, NatAction, NatRule, NextHop, NextHopKind, Onprem, Role, Route, RouteEntry,
    RouteTable, Sa, SecurityGroup, SgRule, SgType, StrOrList, Topology, VSwitch, Vpc, VpnGateway,
    VpnRoute, VpnRouteType,
};
use vpntrace::net::addr::{Cidr, Ports, Protocol};

pub mod estate;

/// The largest number of connections the address plan holds (one /22 of 172.16.0.0/12 each).
pub const MAX_CONNECTIONS: usize = 1024;

/// What to generate. [`GenParams::scaled`] keeps the per-connection ratios of the
/// reference topology (160 connections: ~7,700 instances, ~24,000 VRouter entries,
/// ~19,000 IDC filter rules, ~9 MB of JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenParams {
    /// IPsec connections, one per IDC site (1..=[`MAX_CONNECTIONS`]).
    pub connections: usize,
    /// Same seed, same parameters: byte-identical output.
    pub seed: u64,
    /// Connections per VPN gateway (a new gateway every this many connections).
    pub connections_per_vpn_gateway: usize,
    /// ECS instances per site (at least 5: a firewall appliance, web, app, db, ops).
    pub instances_per_connection: usize,
    /// Entries of each site's custom route table.
    pub custom_routes_per_connection: usize,
    /// Entries each site adds to the VPC's system route table.
    pub system_routes_per_connection: usize,
    /// Extra rules per security group, beyond the few every group has.
    pub sg_extra_rules: usize,
    /// Rules of each IDC gateway's forward chain (its input chain adds 8).
    pub forward_rules_per_gateway: usize,
    /// Plant the handful of faults described in the module documentation.
    pub faults: bool,
    /// Which shape each site has: the reference sites above, or an ordinary estate.
    pub mix: Mix,
}

/// The shape of every site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// Four vSwitches, four security groups, three IDC hosts; VPC <-> IDC traffic is only
    /// ever dropped by a planted fault (the module documentation's reference sites).
    Reference,
    /// A mid-size company's VPN estate ([`GenParams::estate`], module [`estate`]): eight
    /// vSwitches whose instances share one security group of accepts and drops at varied
    /// priorities, peers inside the IDC range, several protocols and port ranges; many IDC
    /// hosts behind a firewall whose forward chain has /32 destinations and port ranges,
    /// and a dozen NAT rules. Some VPC <-> IDC traffic is dropped on purpose.
    Estate(EstateMix),
}

/// What only [`Mix::Estate`] sites have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EstateMix {
    /// IDC hosts per site (at least 8: one per IDC subnet).
    pub idc_hosts: usize,
    /// NAT rules per IDC gateway (at least 4: published services, an exemption for the
    /// VPC, source NAT to the internet).
    pub nat_rules: usize,
}

impl GenParams {
    /// `connections` sites with the reference ratios, seed 1.
    pub fn scaled(connections: usize) -> GenParams {
        GenParams {
            connections,
            seed: 1,
            connections_per_vpn_gateway: 64,
            instances_per_connection: 48,
            custom_routes_per_connection: 140,
            system_routes_per_connection: 10,
            sg_extra_rules: 8,
            forward_rules_per_gateway: 111,
            faults: true,
            mix: Mix::Reference,
        }
    }

    /// The estate of issue 13 at `connections` sites, seed 1: per site 8 vSwitches × 12
    /// instances sharing one security group of about 24 rules, 40 IDC hosts, an IDC
    /// firewall of 120 forward rules, 12 NAT rules and 150 VRouter routes that lead
    /// elsewhere (140 in the site's custom table, 10 in the system table). The planted
    /// faults are those of the reference sites.
    pub fn estate(connections: usize) -> GenParams {
        GenParams {
            connections,
            seed: 1,
            connections_per_vpn_gateway: 64,
            instances_per_connection: 96,
            // 0.0.0.0/0, the IDC and 140 routes to partner and internet space
            custom_routes_per_connection: 142,
            system_routes_per_connection: 10,
            sg_extra_rules: 2,
            forward_rules_per_gateway: 120,
            faults: true,
            mix: Mix::Estate(EstateMix {
                idc_hosts: 40,
                nat_rules: 12,
            }),
        }
    }
    pub fn with_seed(mut self, seed: u64) -> GenParams {
        self.seed = seed;
        self
    }
}

impl Default for GenParams {
    fn default() -> GenParams {
        GenParams::scaled(160)
    }
}

/// Counts of what a topology holds, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: usize,
    pub vpn_gateways: usize,
    pub vswitches: usize,
    pub instances: usize,
    pub security_groups: usize,
    pub sg_rules: usize,
    pub vrouter_entries: usize,
    pub vpn_routes: usize,
    pub devices: usize,
    pub filter_rules: usize,
    pub nat_rules: usize,
}

impl Stats {
    pub fn of(t: &Topology) -> Stats {
        let c = &t.cloud;
        let chain_len = |ch: &Option<Chain>| ch.as_ref().map_or(0, |c| c.rules.len());
        Stats {
            connections: c.ipsec_connections.len(),
            vpn_gateways: c.vpn_gateways.len(),
            vswitches: c.vswitches.len(),
            instances: c.instances.len(),
            security_groups: c.security_groups.len(),
            sg_rules: c.security_groups.iter().map(|g| g.rules.len()).sum(),
            vrouter_entries: c.route_tables.iter().map(|r| r.entries.len()).sum(),
            vpn_routes: c.vpn_gateways.iter().map(|g| g.routes.len()).sum(),
            devices: t.onprem.devices.len(),
            filter_rules: t
                .onprem
                .devices
                .iter()
                .filter_map(|d| d.filter.as_ref())
                .map(|f| chain_len(&f.input) + chain_len(&f.forward) + chain_len(&f.output))
                .sum(),
            nat_rules: t.onprem.devices.iter().map(|d| d.nat.len()).sum(),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} connections on {} VPN gateways, {} vSwitches, {} instances, {} security groups \
             ({} rules), {} VRouter entries, {} VPN routes, {} IDC devices, {} filter rules, \
             {} NAT rules",
            self.connections,
            self.vpn_gateways,
            self.vswitches,
            self.instances,
            self.security_groups,
            self.sg_rules,
            self.vrouter_entries,
            self.vpn_routes,
            self.devices,
            self.filter_rules,
            self.nat_rules
        )
    }
}

/// The faults [`generate`] can plant, each on its own site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The site's custom route table has no entry for the IDC (faq 3).
    MissingVpcRoute,
    /// The web security group has no ingress rule at all (faq 4).
    SgWithoutIngress,
    /// The IDC gateway source-NATs the IDC without a no-NAT exemption for the VPC (faq 6).
    NatWithoutExemption,
    /// The IDC gateway's forward chain drops VPC → database traffic early (faq 3).
    IdcAclDrop,
    /// The IDC core router has no route to the VPC; its default leads elsewhere (faq 4).
    IdcRouteMissing,
    /// The IDC end's pre-shared key differs; phase 1 is down (faq 1).
    PskMismatch,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::MissingVpcRoute,
        Fault::SgWithoutIngress,
        Fault::NatWithoutExemption,
        Fault::IdcAclDrop,
        Fault::IdcRouteMissing,
        Fault::PskMismatch,
    ];
}

/// Which site each fault lands on: distinct sites, never site 0 (so with one site there
/// are none, and with fewer than 7 only the first `connections - 1` faults).
pub fn fault_plan(p: &GenParams) -> Vec<(Fault, usize)> {
    let n = p.connections;
    if !p.faults || n < 2 {
        return Vec::new();
    }
    // With fewer sites than faults, only the first faults are planted, one per site.
    let f = Fault::ALL.len().min(n - 1);
    let offset = (splitmix(p.seed ^ 0xfa17) % (n as u64 - 1)) as usize;
    Fault::ALL[..f]
        .iter()
        .enumerate()
        .map(|(i, &fault)| (fault, 1 + (i * (n - 1) / f + offset) % (n - 1)))
        .collect()
}

/// Generate the topology. Deterministic: the same parameters give the same topology.
///
/// # Panics
/// When `connections` is 0 or above [`MAX_CONNECTIONS`].
pub fn generate(p: &GenParams) -> Topology {
    assert!(
        (1..=MAX_CONNECTIONS).contains(&p.connections),
        "connections must be 1..={MAX_CONNECTIONS}, got {}",
        p.connections
    );
    let mut g = Gen {
        p: p.clone(),
        ids: HashSet::new(),
        topo: Topology {
            format: 1,
            name: String::new(),
            description: None,
            cloud: Cloud {
                vpc: Vpc {
                    origin: None,
                    id: String::new(),
                    cidrs: vec![net(ip4(10, 0, 0, 0), 8)],
                },
                vswitches: Vec::new(),
                route_tables: Vec::new(),
                security_groups: Vec::new(),
                instances: Vec::new(),
                vpn_gateways: Vec::new(),
                customer_gateways: Vec::new(),
                ipsec_connections: Vec::new(),
            },
            onprem: Onprem::default(),
            flows: Vec::new(),
        },
        plan: fault_plan(p),
    };
    g.build();
    g.topo
}

/// A site's fixed addresses.
#[derive(Clone, Copy)]
struct Site {
    k: usize,
    cloud: u32,
    idc: u32,
    public: u32,
}

impl Site {
    fn new(k: usize) -> Site {
        Site {
            k,
            cloud: ip4(10, 0, 0, 0) + ((k as u32) << 10),
            idc: ip4(172, 16, 0, 0) + ((k as u32) << 10),
            public: ip4(58, 32, 0, 0) + (k as u32) * 8,
        }
    }
    fn cloud_block(&self) -> Cidr {
        net(self.cloud, 22)
    }
    /// vSwitch: 0 web, 1 app, 2 db, 3 ops.
    fn vsw(&self, i: u32) -> Cidr {
        net(self.cloud + i * 256, 24)
    }
    fn idc_block(&self) -> Cidr {
        net(self.idc, 22)
    }
    /// IDC subnet: 0 users, 1 app, 2 db (/24), 3 mgmt (/25).
    fn idc_net(&self, i: u32) -> Cidr {
        if i == 3 {
            net(self.idc + 3 * 256, 25)
        } else {
            net(self.idc + i * 256, 24)
        }
    }
    /// The transit /25 between the core router (`+1`) and the gateway (`+2`); `+5` is an
    /// internet edge firewall that is not modelled.
    fn transit(&self) -> u32 {
        self.idc + 3 * 256 + 128
    }
    fn gw_public(&self) -> u32 {
        self.public + 2
    }
    fn city(&self) -> &'static str {
        CITIES[self.k % CITIES.len()]
    }
    fn dev(&self, role: &str) -> String {
        format!("{}-idc{:04}-{role}", self.city(), self.k)
    }
}

const CITIES: [&str; 10] = ["hz", "sh", "bj", "sz", "gz", "cd", "wh", "xa", "nj", "tj"];

/// IDC gateway vendors: name, outside and inside interface names, rule id style.
const VENDORS: [(&str, &str, &str, &str); 5] = [
    ("linux-strongswan", "eth0", "eth1", "iptables"),
    ("huawei-usg6500", "GE1/0/1", "GE1/0/2", "rule"),
    ("fortigate-600e", "wan1", "internal1", "policy"),
    ("cisco-asa", "outside", "inside", "line"),
    ("h3c-secpath-f1000", "GE1/0/0", "GE1/0/1", "rule"),
];

const CORE_VENDORS: [&str; 3] = ["huawei-ce6881", "cisco-nexus-9300", "h3c-s6850"];

const WELL_KNOWN: [u16; 24] = [
    21, 22, 25, 53, 80, 110, 123, 135, 139, 143, 389, 443, 445, 1433, 1521, 3306, 3389, 5432, 6379,
    8080, 8443, 9200, 11211, 27017,
];

/// First octets of public space used for internet destinations and threat lists
/// (none of them is one the address plan uses).
const PUBLIC_A: [u32; 16] = [
    8, 13, 20, 23, 34, 35, 52, 54, 104, 120, 139, 142, 151, 157, 185, 203,
];

struct Gen {
    p: GenParams,
    ids: HashSet<String>,
    topo: Topology,
    plan: Vec<(Fault, usize)>,
}

/// A site's connection, as its IDC gateway needs it.
pub(crate) struct Conn {
    pub(crate) vgw_id: String,
    pub(crate) vgw_ip: Cidr,
    pub(crate) ipsec: DeviceIpsec,
}

/// What a site's cloud side exposes for flows.
pub(crate) struct SiteIds {
    app_instance: String,
    web_instance: String,
    db_instance: String,
}

impl Gen {
    fn has(&self, f: Fault, k: usize) -> bool {
        self.plan.iter().any(|&(x, s)| x == f && s == k)
    }

    /// A fresh Alibaba-shaped id: `prefix` + `len` base-36 characters.
    fn id(&mut self, r: &mut Rng, prefix: &str, len: usize) -> String {
        const B36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        loop {
            let mut s = String::with_capacity(prefix.len() + len);
            s.push_str(prefix);
            for _ in 0..len {
                s.push(B36[r.below(36) as usize] as char);
            }
            if self.ids.insert(s.clone()) {
                return s;
            }
        }
    }

    fn build(&mut self) {
        let n = self.p.connections;
        let per = self.p.connections_per_vpn_gateway.max(1);
        let mut r = Rng::new(self.p.seed);
        self.topo.cloud.vpc.id = self.id(&mut r, "vpc-bp1", 22);
        let n_vgw = n.div_ceil(per);
        for gi in 0..n_vgw {
            let id = self.id(&mut r, "vpn-bp1", 22);
            self.topo.cloud.vpn_gateways.push(VpnGateway {
                origin: None,
                id,
                public_ip: Cidr::host(Ipv4Addr::from(ip4(47, 98, gi as u8, 36))),
                routes: Vec::new(),
            });
        }
        let system_id = self.id(&mut r, "vtb-bp1", 22);
        let nat_gw = self.id(&mut r, "ngw-bp1", 22);
        let mut system = RouteTable {
            origin: None,
            id: system_id.clone(),
            system: true,
            entries: vec![entry(
                self.id(&mut r, "rte-bp1", 22),
                net(0, 0),
                NextHopKind::NatGateway,
                Some(nat_gw.clone()),
            )],
        };
        let mut system_dests: HashSet<Cidr> = HashSet::new();
        system_dests.insert(net(0, 0));

        let mut first: Option<SiteIds> = None;
        let mut by_site: Vec<(usize, SiteIds)> = Vec::new();
        for k in 0..n {
            let mut rk = Rng::new(splitmix(self.p.seed ^ splitmix(k as u64 + 1)));
            let ids = match self.p.mix {
                Mix::Reference => self.site(&mut rk, Site::new(k), k / per, &system_id, &nat_gw),
                Mix::Estate(e) => {
                    self.estate_site(&mut rk, Site::new(k), k / per, &system_id, &nat_gw, e)
                }
            };
            // The site's share of the system table: CEN / transit routes to other regions.
            for _ in 0..self.p.system_routes_per_connection {
                let dest = unique_dest(&mut rk, &mut system_dests, partner_dest);
                let (kind, hop) = match rk.below(10) {
                    0..=5 => (NextHopKind::TransitRouter, "tr-bp1"),
                    6..=7 => (NextHopKind::RouterInterface, "ri-bp1"),
                    8 => (NextHopKind::Havip, "havip-bp1"),
                    _ => (NextHopKind::Blackhole, ""),
                };
                let id = self.id(&mut rk, "rte-bp1", 22);
                let hop_id = if hop.is_empty() {
                    None
                } else {
                    Some(format!("{hop}{}", r36(&mut rk, 22)))
                };
                system.entries.push(entry(id, dest, kind, hop_id));
            }
            if k == 0 {
                first = Some(ids);
            } else if self.plan.iter().any(|&(_, s)| s == k) {
                by_site.push((k, ids));
            }
        }
        self.topo.cloud.route_tables.insert(0, system);
        self.flows(first.expect("at least one site"), &by_site);
        let stats = Stats::of(&self.topo);
        let estate = matches!(self.p.mix, Mix::Estate(_));
        self.topo.name = format!(
            "generated{}: {} IPsec connections from one VPC to {} IDC sites (seed {})",
            if estate { " estate" } else { "" },
            n,
            n,
            self.p.seed
        );
        let mut desc = format!(
            "Generated by vpntrace-gen for benchmarks{}: {stats}. Site 0 ({}) is healthy.",
            if estate { " (estate rule mix)" } else { "" },
            Site::new(0).dev("*")
        );
        for (f, k) in &self.plan {
            let s = Site::new(*k);
            desc.push_str(&format!(
                " Site {k} ({}): {}.",
                s.dev("*"),
                match f {
                    Fault::MissingVpcRoute =>
                        "its custom route table has no route to the IDC (faq 3)",
                    Fault::SgWithoutIngress if estate =>
                        "its security group has no ingress rule (faq 4)",
                    Fault::SgWithoutIngress => "its web security group has no ingress rule (faq 4)",
                    Fault::NatWithoutExemption =>
                        "its gateway source-NATs the IDC without a no-NAT rule for the VPC (faq 6)",
                    Fault::IdcAclDrop =>
                        "its gateway's forward chain drops VPC -> database tcp/3306 (faq 3)",
                    Fault::IdcRouteMissing => "its core router has no route to the VPC (faq 4)",
                    Fault::PskMismatch => "the IDC end's pre-shared key differs (faq 1)",
                }
            ));
        }
        self.topo.description = Some(desc);
    }

    fn flows(&mut self, first: SiteIds, faulty: &[(usize, SiteIds)]) {
        let s0 = Site::new(0);
        let flow =
            |from: &str, to: &str, proto: Protocol, port: Option<u16>, expect: &str| FlowSpec {
                from: from.to_string(),
                to: to.to_string(),
                protocol: Some(proto),
                port,
                expect: Some(expect.to_string()),
            };
        let mut flows = vec![
            flow(
                &first.app_instance,
                &s0.dev("db01"),
                Protocol::Tcp,
                Some(3306),
                "delivered",
            ),
            flow(
                &s0.dev("app01"),
                &first.web_instance,
                Protocol::Tcp,
                Some(443),
                "delivered",
            ),
            flow(
                &s0.dev("ops01"),
                &first.db_instance,
                Protocol::Icmp,
                None,
                "delivered",
            ),
        ];
        for (f, k) in self.plan.clone() {
            let s = Site::new(k);
            let ids = &faulty.iter().find(|(x, _)| *x == k).expect("site kept").1;
            flows.push(match f {
                Fault::MissingVpcRoute => flow(
                    &ids.web_instance,
                    &s.dev("db01"),
                    Protocol::Tcp,
                    Some(3306),
                    "exits_network",
                ),
                Fault::SgWithoutIngress => flow(
                    &s.dev("app01"),
                    &ids.web_instance,
                    Protocol::Tcp,
                    Some(443),
                    "dropped",
                ),
                Fault::NatWithoutExemption => flow(
                    &s.dev("db01"),
                    &ids.app_instance,
                    Protocol::Tcp,
                    Some(8080),
                    "exits_network",
                ),
                Fault::IdcAclDrop => flow(
                    &ids.app_instance,
                    &s.dev("db01"),
                    Protocol::Tcp,
                    Some(3306),
                    "dropped",
                ),
                Fault::IdcRouteMissing => flow(
                    &s.dev("app01"),
                    &ids.app_instance,
                    Protocol::Tcp,
                    Some(8080),
                    "exits_network",
                ),
                Fault::PskMismatch => flow(
                    &ids.app_instance,
                    &s.dev("db01"),
                    Protocol::Tcp,
                    Some(3306),
                    "dropped",
                ),
            });
        }
        self.topo.flows = flows;
    }

    /// One site: its cloud side, its connection and its IDC.
    fn site(&mut self, r: &mut Rng, s: Site, vgw: usize, system_id: &str, nat_gw: &str) -> SiteIds {
        let enterprise = r.chance(15);
        let multi = r.chance(15);
        let vendor = VENDORS[r.below(VENDORS.len() as u64) as usize];

        // vSwitches: web and app on the site's custom table, db and ops on the system table.
        let vtb = self.id(r, "vtb-bp1", 22);
        let vsw: Vec<String> = (0..4).map(|_| self.id(r, "vsw-bp1", 22)).collect();
        for (i, id) in vsw.iter().enumerate() {
            self.topo.cloud.vswitches.push(VSwitch {
                origin: None,
                id: id.clone(),
                cidr: s.vsw(i as u32),
                route_table: match i {
                    0 | 1 => Some(vtb.clone()),
                    2 => None,
                    _ => Some(system_id.to_string()),
                },
            });
        }

        // Security groups.
        let sg: Vec<String> = (0..4).map(|_| self.id(r, "sg-bp1", 17)).collect();
        let groups = self.security_groups(r, &s, &sg, enterprise);
        self.topo.cloud.security_groups.extend(groups);

        // Instances: a firewall appliance, then web, app, db and ops hosts.
        let total = self.p.instances_per_connection.max(5);
        let rest = total - 3;
        let web_n = (rest * 40 / 100).clamp(1, 240);
        let app_n = (rest * 35 / 100).clamp(1, 240);
        let db_n = (rest - web_n - app_n).clamp(1, 240);
        let inst = |g: &mut Gen, r: &mut Rng, vs: u32, host: u32, groups: Vec<String>| {
            let id = g.id(r, "i-bp1", 17);
            g.topo.cloud.instances.push(Instance {
                origin: None,
                id: id.clone(),
                ip: Cidr::host(Ipv4Addr::from(s.cloud + vs * 256 + host)),
                vswitch: vsw[vs as usize].clone(),
                security_groups: groups,
            });
            id
        };
        let fw = inst(self, r, 0, 4, vec![sg[0].clone(), sg[3].clone()]);
        let mut web = Vec::new();
        for h in 0..web_n as u32 {
            web.push(inst(self, r, 0, 10 + h, vec![sg[0].clone(), sg[3].clone()]));
        }
        let mut app = Vec::new();
        for h in 0..app_n as u32 {
            app.push(inst(self, r, 1, 10 + h, vec![sg[1].clone(), sg[3].clone()]));
        }
        let mut db = Vec::new();
        for h in 0..db_n as u32 {
            db.push(inst(self, r, 2, 10 + h, vec![sg[2].clone(), sg[3].clone()]));
        }
        inst(self, r, 3, 10, vec![sg[1].clone(), sg[3].clone()]);
        inst(self, r, 3, 11, vec![sg[1].clone(), sg[3].clone()]);

        let (local, remote): (Vec<Cidr>, Vec<Cidr>) = if multi {
            (
                (0..4).map(|i| s.vsw(i)).collect(),
                vec![net(s.idc, 23), s.idc_net(2), net(s.idc + 3 * 256, 24)],
            )
        } else {
            (vec![s.cloud_block()], vec![s.idc_block()])
        };
        let Conn {
            vgw_id,
            vgw_ip,
            ipsec,
        } = self.connection(r, &s, vgw, multi, vendor.1, local, remote.clone());

        // The site's custom route table.
        let table = self.custom_table(r, &s, vtb, &vgw_id, &remote, &fw, nat_gw);
        self.topo.cloud.route_tables.push(table);

        // The IDC.
        self.idc(r, &s, vendor, vgw_ip, ipsec);

        SiteIds {
            app_instance: app[0].clone(),
            web_instance: web[0].clone(),
            db_instance: db[0].clone(),
        }
    }

    /// A site's IPsec connection (both ends mirrored, or with the planted PSK mismatch)
    /// and its VPN gateway routes; returns what the IDC gateway needs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connection(
        &mut self,
        r: &mut Rng,
        s: &Site,
        vgw: usize,
        multi: bool,
        interface: &str,
        local: Vec<Cidr>,
        remote: Vec<Cidr>,
    ) -> Conn {
        let k = s.k;
        // The connection.
        let vgw_id = self.topo.cloud.vpn_gateways[vgw].id.clone();
        let vgw_ip = self.topo.cloud.vpn_gateways[vgw].public_ip;
        let cgw = self.id(r, "cgw-bp1", 22);
        let cgw_ip = Cidr::host(Ipv4Addr::from(s.gw_public()));
        self.topo.cloud.customer_gateways.push(CustomerGateway {
            origin: None,
            id: cgw.clone(),
            ip: cgw_ip,
        });
        let vco = self.id(r, "vco-bp1", 22);
        let ikev1 = !multi && r.chance(20);
        let enc = *r.pick(&["aes", "aes192", "aes256", "aes256"]);
        let integ = *r.pick(&["sha1", "sha256", "sha256", "sha384"]);
        let dh = *r.pick(&["group2", "group5", "group14", "group14"]);
        let pfs = *r.pick(&["group2", "group14", "group14", "disabled"]);
        let ike_life = *r.pick(&[86400u64, 28800]);
        let esp_life = *r.pick(&[3600u64, 28800]);
        let psk = r36(r, 20);
        let ike = |psk: &str, local_id: Cidr, remote_id: Cidr| Ike {
            version: Some(if ikev1 { "ikev1" } else { "ikev2" }.into()),
            mode: Some("main".into()),
            psk: Some(psk.to_string()),
            encryption: Some(StrOrList::One(enc.into())),
            integrity: Some(StrOrList::One(integ.into())),
            dh_group: Some(StrOrList::One(dh.into())),
            lifetime: Some(ike_life),
            local_id: Some(local_id.to_string()),
            remote_id: Some(remote_id.to_string()),
            proposals: Vec::new(),
        };
        let esp = IpsecParams {
            encryption: Some(StrOrList::One(enc.into())),
            integrity: Some(StrOrList::One(integ.into())),
            pfs: Some(StrOrList::One(pfs.into())),
            lifetime: Some(esp_life),
            proposals: Vec::new(),
        };
        let psk_down = self.has(Fault::PskMismatch, k);
        self.topo.cloud.ipsec_connections.push(IpsecConnection {
            origin: None,
            id: vco.clone(),
            vpn_gateway: vgw_id.clone(),
            customer_gateway: cgw,
            local_subnets: local.clone(),
            remote_subnets: remote.clone(),
            ike: ike(&psk, vgw_ip, cgw_ip),
            ipsec: esp.clone(),
            status: Some(if psk_down {
                ConnStatus::IkeSaNotEstablished
            } else {
                ConnStatus::IpsecSaEstablished
            }),
            sas: if psk_down {
                None
            } else {
                Some(vec![Sa {
                    local: local.clone(),
                    remote: remote.clone(),
                }])
            },
        });

        // VPN gateway routes: the IDC subnets, published to the VPC; some policy routes.
        for (i, d) in remote.iter().enumerate() {
            let id = format!("vpnr-{k:04}-{i}");
            self.topo.cloud.vpn_gateways[vgw].routes.push(VpnRoute {
                origin: None,
                id: Some(id),
                kind: VpnRouteType::Destination,
                source: None,
                destination: *d,
                next_hop: vco.clone(),
                priority: 1,
                publish_to_vpc: true,
            });
        }
        if r.chance(10) {
            self.topo.cloud.vpn_gateways[vgw].routes.push(VpnRoute {
                origin: None,
                id: Some(format!("vpnp-{k:04}")),
                kind: VpnRouteType::Policy,
                source: Some(s.cloud_block()),
                destination: s.idc_block(),
                next_hop: vco.clone(),
                priority: 1 + r.below(100) as u8,
                publish_to_vpc: false,
            });
        }

        let ipsec = DeviceIpsec {
            origin: None,
            connection: vco,
            mode: IpsecMode::Policy,
            interface: Some(interface.to_string()),
            peer: Some(vgw_ip),
            local_subnets: remote.clone(),
            remote_subnets: local.clone(),
            ike: ike(
                &if psk_down {
                    format!("{psk}-old")
                } else {
                    psk.clone()
                },
                cgw_ip,
                vgw_ip,
            ),
            ipsec: esp,
            sas: Some(if psk_down {
                Vec::new()
            } else {
                vec![Sa {
                    local: remote,
                    remote: local,
                }]
            }),
        };
        Conn {
            vgw_id,
            vgw_ip,
            ipsec,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sg_rule(
        &mut self,
        r: &mut Rng,
        dir: Direction,
        policy: Action,
        priority: u8,
        protocol: Protocol,
        ports: Ports,
        peer: Cidr,
    ) -> SgRule {
        SgRule {
            origin: None,
            id: Some(self.id(r, "sgr-bp1", 22)),
            direction: dir,
            policy,
            priority,
            protocol,
            ports,
            peer: Some(peer),
            peer_group: None,
        }
    }

    /// web, app, db and a baseline group every instance of the site has.
    fn security_groups(
        &mut self,
        r: &mut Rng,
        s: &Site,
        ids: &[String],
        enterprise: bool,
    ) -> Vec<SecurityGroup> {
        use Action::{Accept as A, Drop as D};
        use Direction::{Egress as E, Ingress as I};
        use Protocol::{All, Icmp, Tcp, Udp};
        let any = net(0, 0);
        let idc = s.idc_block();
        let tcp = Ports::single;
        let mut out = Vec::new();
        for (gi, id) in ids.iter().enumerate() {
            let mut rules: Vec<SgRule> = Vec::new();
            let spec: Vec<(Direction, Action, u8, Protocol, Ports, Cidr)> = match gi {
                // web (the IDC accepts outrank every drop that would match it)
                0 => vec![
                    (I, A, 1, Tcp, tcp(22), s.idc_net(3)),
                    (I, A, 10, All, Ports::ANY, idc),
                    (I, D, 20, Tcp, tcp(3389), any),
                    (I, D, 90, Tcp, tcp(22), any),
                    (I, A, 100, Tcp, tcp(443), any),
                    (I, A, 100, Tcp, tcp(80), any),
                    (E, A, 5, All, Ports::ANY, idc),
                    (E, D, 50, Tcp, tcp(25), any),
                ],
                // app
                1 => vec![
                    (I, A, 1, Tcp, tcp(8080), s.vsw(0)),
                    (I, A, 10, All, Ports::ANY, idc),
                    (I, D, 60, Tcp, tcp(8080), any),
                    (E, A, 5, All, Ports::ANY, idc),
                    (E, D, 50, Tcp, tcp(25), any),
                ],
                // db
                2 => vec![
                    (I, A, 1, Tcp, tcp(3306), s.vsw(1)),
                    (I, A, 10, All, Ports::ANY, idc),
                    (I, A, 50, Icmp, Ports::ANY, net(ip4(10, 0, 0, 0), 8)),
                    (I, D, 100, All, Ports::ANY, any),
                ],
                // baseline, on every instance of the site
                _ => vec![
                    (I, A, 1, Tcp, tcp(22), s.idc_net(3)),
                    (I, D, 20, Tcp, tcp(445), any),
                    (I, D, 20, Udp, Ports { lo: 137, hi: 139 }, any),
                    (I, A, 50, Icmp, Ports::ANY, net(ip4(10, 0, 0, 0), 8)),
                    (E, A, 100, All, Ports::ANY, any),
                ],
            };
            let no_ingress = gi == 0 && self.has(Fault::SgWithoutIngress, s.k);
            for (dir, act, prio, proto, ports, peer) in spec {
                if no_ingress && dir == I {
                    continue;
                }
                let rule = self.sg_rule(r, dir, act, prio, proto, ports, peer);
                rules.push(rule);
            }
            // Extra rules: partner and internet peers only, so that traffic between the
            // VPC and the IDCs is decided by the rules above.
            for _ in 0..self.p.sg_extra_rules {
                let dir = if no_ingress || r.chance(25) { E } else { I };
                let act = if r.chance(70) { A } else { D };
                let proto = *r.pick(&[Tcp, Tcp, Tcp, Udp, Icmp, All]);
                let ports = if proto.has_ports() {
                    if r.chance(15) {
                        Ports {
                            lo: 1024,
                            hi: 65535,
                        }
                    } else {
                        tcp(*r.pick(&WELL_KNOWN))
                    }
                } else {
                    Ports::ANY
                };
                let peer = if r.chance(50) {
                    partner_dest(r)
                } else {
                    public_dest(r)
                };
                let prio = 1 + r.below(100) as u8;
                if !enterprise && act == A && dir == I && r.chance(20) {
                    let mut rule = self.sg_rule(r, dir, act, prio, proto, ports, peer);
                    rule.peer = None;
                    rule.peer_group = Some(ids[r.below(ids.len() as u64) as usize].clone());
                    rules.push(rule);
                } else {
                    let rule = self.sg_rule(r, dir, act, prio, proto, ports, peer);
                    rules.push(rule);
                }
            }
            out.push(SecurityGroup {
                origin: None,
                id: id.clone(),
                kind: if enterprise {
                    SgType::Enterprise
                } else {
                    SgType::Basic
                },
                inner_access: if !enterprise && gi == 2 {
                    Some(Action::Drop)
                } else {
                    None
                },
                rules,
            });
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn custom_table(
        &mut self,
        r: &mut Rng,
        s: &Site,
        id: String,
        vgw: &str,
        remote: &[Cidr],
        fw: &str,
        nat_gw: &str,
    ) -> RouteTable {
        let want = self.p.custom_routes_per_connection.max(1);
        let mut entries = Vec::with_capacity(want);
        let mut dests: HashSet<Cidr> = HashSet::new();
        // Internet through the NAT gateway.
        entries.push(entry(
            self.id(r, "rte-bp1", 22),
            net(0, 0),
            NextHopKind::NatGateway,
            Some(nat_gw.to_string()),
        ));
        dests.insert(net(0, 0));
        // The IDC through the VPN gateway (a custom table needs its own entries).
        if !self.has(Fault::MissingVpcRoute, s.k) {
            for d in remote {
                entries.push(entry(
                    self.id(r, "rte-bp1", 22),
                    *d,
                    NextHopKind::VpnGateway,
                    Some(vgw.to_string()),
                ));
                dests.insert(*d);
            }
        }
        let tr = format!("tr-bp1{}", r36(r, 22));
        let ri = format!("ri-bp1{}", r36(r, 22));
        let havip = format!("havip-bp1{}", r36(r, 22));
        let igw = format!("igw-bp1{}", r36(r, 22));
        let mut i = 0usize;
        while entries.len() < want {
            // Every next-hop type in turn, weighted toward transit routers.
            let (kind, hop, dest): (NextHopKind, Option<String>, Cidr) = match i % 20 {
                0..=7 => (
                    NextHopKind::TransitRouter,
                    Some(tr.clone()),
                    unique_dest(r, &mut dests, partner_dest),
                ),
                8..=10 => (
                    NextHopKind::RouterInterface,
                    Some(ri.clone()),
                    unique_dest(r, &mut dests, partner_dest),
                ),
                11..=12 => (
                    NextHopKind::Ipv4Gateway,
                    Some(igw.clone()),
                    unique_dest(r, &mut dests, public_dest),
                ),
                13..=14 => (
                    NextHopKind::NatGateway,
                    Some(nat_gw.to_string()),
                    unique_dest(r, &mut dests, public_dest),
                ),
                15 => (
                    NextHopKind::Instance,
                    Some(fw.to_string()),
                    unique_dest(r, &mut dests, public_dest),
                ),
                16 => (
                    NextHopKind::Havip,
                    Some(havip.clone()),
                    unique_dest(r, &mut dests, partner_dest),
                ),
                17 => (
                    NextHopKind::VpnGateway,
                    Some(vgw.to_string()),
                    // Partner networks reached through the same VPN gateway's other
                    // connections are not modelled; they stay in partner space.
                    unique_dest(r, &mut dests, partner_dest),
                ),
                _ => (
                    NextHopKind::Blackhole,
                    None,
                    unique_dest(r, &mut dests, public_dest),
                ),
            };
            i += 1;
            entries.push(entry(self.id(r, "rte-bp1", 22), dest, kind, hop));
        }
        RouteTable {
            origin: None,
            id,
            system: false,
            entries,
        }
    }

    /// The IDC of a site: gateway (VPN + firewall + NAT), core router, hosts.
    fn idc(
        &mut self,
        r: &mut Rng,
        s: &Site,
        vendor: (&str, &str, &str, &str),
        vgw_ip: Cidr,
        ipsec: DeviceIpsec,
    ) {
        use Action::{Accept as A, Drop as D};
        use Protocol::{All, Icmp, Tcp, Udp};
        let (vname, out_if, in_if, style) = vendor;
        let k = s.k;
        let idc = s.idc_block();
        let cloud = s.cloud_block();
        let any = net(0, 0);
        let transit = s.transit();
        let rid = |chain: &str, n: usize| rule_id(style, chain, n);
        let rule = filter_rule;

        // Forward chain.
        let want = self.p.forward_rules_per_gateway.max(2);
        let mut fwd: Vec<FilterRule> = Vec::with_capacity(want);
        let body = want - 2;
        // 1. threat-list drops (internet sources)
        for _ in 0..body * 20 / 100 {
            let src = if r.chance(50) {
                let d = public_dest(r);
                Cidr::host(Ipv4Addr::from(
                    u32::from(d.addr()) + 1 + r.below(250) as u32,
                ))
            } else {
                public_dest(r)
            };
            fwd.push(rule(
                rid("forward", fwd.len() + 1),
                D,
                Some(src),
                None,
                All,
                Ports::ANY,
                Some(out_if),
                None,
            ));
        }
        // 2. the planted legacy deny
        if self.has(Fault::IdcAclDrop, k) {
            fwd.push(rule(
                rid("forward", fwd.len() + 1),
                D,
                Some(cloud),
                Some(s.idc_net(2)),
                Tcp,
                Ports::single(3306),
                Some(out_if),
                Some(in_if),
            ));
        }
        // 3. service accepts between the VPC and the IDC
        for _ in 0..body * 30 / 100 {
            let port = Ports::single(*r.pick(&WELL_KNOWN));
            let (src, dst, i, o) = if r.chance(60) {
                let src = s.vsw(r.below(4) as u32);
                let sub = s.idc_net(r.below(4) as u32);
                let dst = if r.chance(50) {
                    sub
                } else {
                    Cidr::host(Ipv4Addr::from(
                        u32::from(sub.addr()) + 10 + r.below(100) as u32,
                    ))
                };
                (src, dst, out_if, in_if)
            } else {
                (
                    s.idc_net(r.below(4) as u32),
                    s.vsw(r.below(4) as u32),
                    in_if,
                    out_if,
                )
            };
            fwd.push(rule(
                rid("forward", fwd.len() + 1),
                A,
                Some(src),
                Some(dst),
                *r.pick(&[Tcp, Tcp, Udp]),
                port,
                Some(i),
                Some(o),
            ));
        }
        // 4. partner and internet rules that VPC <-> IDC traffic walks past
        let tail = body * 20 / 100;
        while fwd.len() < want - 2 - tail {
            let act = if r.chance(60) { A } else { D };
            let (src, dst) = match r.below(3) {
                0 => (Some(partner_dest(r)), Some(s.idc_net(r.below(4) as u32))),
                1 => (Some(s.idc_net(r.below(4) as u32)), Some(partner_dest(r))),
                _ => (Some(public_dest(r)), Some(public_dest(r))),
            };
            let proto = *r.pick(&[Tcp, Tcp, Udp, Icmp, All]);
            let ports = if proto.has_ports() {
                Ports::single(*r.pick(&WELL_KNOWN))
            } else {
                Ports::ANY
            };
            fwd.push(rule(
                rid("forward", fwd.len() + 1),
                act,
                src,
                dst,
                proto,
                ports,
                None,
                None,
            ));
        }
        // 5. VPC <-> IDC
        fwd.push(rule(
            rid("forward", fwd.len() + 1),
            A,
            Some(idc),
            Some(cloud),
            All,
            Ports::ANY,
            Some(in_if),
            Some(out_if),
        ));
        fwd.push(rule(
            rid("forward", fwd.len() + 1),
            A,
            Some(cloud),
            Some(idc),
            All,
            Ports::ANY,
            Some(out_if),
            Some(in_if),
        ));
        // 6. internet access from the IDC
        while fwd.len() < want {
            let (act, proto, port) = match r.below(6) {
                0 => (A, Tcp, 80),
                1 => (A, Tcp, 443),
                2 => (A, Udp, 53),
                3 => (A, Udp, 123),
                4 => (D, Tcp, 25),
                _ => (D, Tcp, *r.pick(&[6667u16, 445, 135, 3389])),
            };
            fwd.push(rule(
                rid("forward", fwd.len() + 1),
                act,
                Some(s.idc_net(r.below(3) as u32)),
                Some(any),
                proto,
                Ports::single(port),
                Some(in_if),
                Some(out_if),
            ));
        }
        let input = input_chain(style, out_if, in_if, vgw_ip, cloud, idc, s.idc_net(3));

        // NAT: exemption + source NAT, no NAT at all, or exemption + a published service.
        let nid = |n: usize| match style {
            "iptables" => format!("POSTROUTING-{n}"),
            "rule" => format!("nat-policy {n}"),
            "policy" => format!("ippool {n}"),
            _ => format!("nat ({n})"),
        };
        let nat_rule =
            |id: String, action: NatAction, src: Option<Cidr>, dst: Option<Cidr>| NatRule {
                origin: None,
                id: Some(id),
                action,
                source: src,
                destination: dst,
                protocol: Protocol::All,
                destination_ports: Ports::ANY,
                in_interface: None,
                out_interface: Some(out_if.to_string()),
                to: if action == NatAction::SourceNat {
                    Some("interface".into())
                } else {
                    None
                },
                to_port: None,
            };
        let exempt = nat_rule(
            nid(1),
            NatAction::NoNat,
            Some(idc),
            Some(net(ip4(10, 0, 0, 0), 8)),
        );
        let snat = nat_rule(nid(2), NatAction::SourceNat, Some(idc), None);
        let nat = if self.has(Fault::NatWithoutExemption, k) {
            vec![nat_rule(nid(1), NatAction::SourceNat, Some(idc), None)]
        } else {
            match r.below(10) {
                0..=5 => vec![exempt, snat],
                6..=7 => Vec::new(),
                _ => vec![
                    NatRule {
                        origin: None,
                        id: Some(match style {
                            "iptables" => "PREROUTING-1".to_string(),
                            "policy" => "vip web-https".to_string(),
                            _ => "nat server web".to_string(),
                        }),
                        action: NatAction::DestinationNat,
                        source: None,
                        destination: Some(Cidr::host(Ipv4Addr::from(s.gw_public()))),
                        protocol: Tcp,
                        destination_ports: Ports::single(8443),
                        in_interface: Some(out_if.to_string()),
                        out_interface: None,
                        to: Some(Ipv4Addr::from(u32::from(s.idc_net(1).addr()) + 21).to_string()),
                        to_port: Some(443),
                    },
                    exempt,
                    snat,
                ],
            }
        };

        let gw = Device {
            origin: None,
            id: s.dev("vpn01"),
            kind: DeviceKind::Gateway,
            vendor: Some(vname.to_string()),
            interfaces: vec![
                iface(out_if, s.gw_public(), 29, Some(Role::Outside)),
                iface(in_if, transit + 2, 25, Some(Role::Inside)),
            ],
            routes: vec![
                route("default", any, Some(out_if), s.public + 1),
                route("idc-lan", idc, Some(in_if), transit + 1),
            ],
            filter: Some(Filter {
                origin: None,
                stateful: true,
                input: Some(Chain {
                    origin: None,
                    default: D,
                    rules: input,
                }),
                forward: Some(Chain {
                    origin: None,
                    default: D,
                    rules: fwd,
                }),
                output: None,
            }),
            nat,
            ipsec: vec![ipsec],
            forwarding: None,
            rp_filter: None,
        };

        let core_vendor = CORE_VENDORS[r.below(CORE_VENDORS.len() as u64) as usize];
        let missing = self.has(Fault::IdcRouteMissing, k);
        // Some cores send the internet to a separate edge firewall (not modelled).
        let default_via = if missing || r.chance(30) {
            transit + 5
        } else {
            transit + 2
        };
        let mut core_routes = Vec::new();
        if !missing {
            core_routes.push(route("to-vpc", cloud, Some("Vlanif4000"), transit + 2));
        }
        core_routes.push(route("default", any, Some("Vlanif4000"), default_via));
        let core = Device {
            origin: None,
            id: s.dev("core01"),
            kind: DeviceKind::Router,
            vendor: Some(core_vendor.to_string()),
            interfaces: vec![
                iface("Vlanif4000", transit + 1, 25, None),
                iface("Vlanif10", s.idc + 1, 24, None),
                iface("Vlanif20", s.idc + 256 + 1, 24, None),
                iface("Vlanif30", s.idc + 512 + 1, 24, None),
                iface("Vlanif40", s.idc + 768 + 1, 25, None),
            ],
            routes: core_routes,
            filter: None,
            nat: Vec::new(),
            ipsec: Vec::new(),
            forwarding: None,
            rp_filter: None,
        };
        let host = |name: &str, addr: u32, len: u8, gw: u32| Device {
            origin: None,
            id: s.dev(name),
            kind: DeviceKind::Host,
            vendor: Some("linux".into()),
            interfaces: vec![iface("eth0", addr, len, None)],
            routes: vec![route("default", any, None, gw)],
            filter: None,
            nat: Vec::new(),
            ipsec: Vec::new(),
            forwarding: None,
            rp_filter: None,
        };
        let devices = &mut self.topo.onprem.devices;
        devices.push(gw);
        devices.push(core);
        devices.push(host("app01", s.idc + 256 + 21, 24, s.idc + 256 + 1));
        devices.push(host("db01", s.idc + 512 + 15, 24, s.idc + 512 + 1));
        devices.push(host("ops01", s.idc + 768 + 10, 25, s.idc + 768 + 1));
    }
}

/// A filter rule's id in the style of the gateway's vendor.
pub(crate) fn rule_id(style: &str, chain: &str, n: usize) -> String {
    match style {
        "iptables" => format!("{}-{n}", chain.to_uppercase()),
        "line" => format!("{}_access line {n}", chain),
        "policy" => format!("policy {}", n + if chain == "input" { 900 } else { 0 }),
        _ => format!("{chain} rule {}", n * 5),
    }
}

/// A filter rule on destination ports only.
#[allow(clippy::too_many_arguments)]
pub(crate) fn filter_rule(
    id: String,
    action: Action,
    src: Option<Cidr>,
    dst: Option<Cidr>,
    proto: Protocol,
    dport: Ports,
    in_i: Option<&str>,
    out_i: Option<&str>,
) -> FilterRule {
    FilterRule {
        origin: None,
        id: Some(id),
        action,
        source: src,
        destination: dst,
        protocol: proto,
        source_ports: Ports::ANY,
        destination_ports: dport,
        in_interface: in_i.map(str::to_string),
        out_interface: out_i.map(str::to_string),
    }
}

/// An IDC gateway's input chain: IKE, NAT-T and ESP from the VPN gateway, monitoring
/// from the VPC, bastion access from the management subnet, SSH from outside dropped.
pub(crate) fn input_chain(
    style: &str,
    out_if: &str,
    in_if: &str,
    vgw_ip: Cidr,
    cloud: Cidr,
    idc: Cidr,
    mgmt: Cidr,
) -> Vec<FilterRule> {
    use Action::{Accept as A, Drop as D};
    use Protocol::{All, Icmp, Tcp, Udp};
    let peer = Some(vgw_ip);
    let mgmt = Some(mgmt);
    let (o, n) = (Some(out_if), Some(in_if));
    type InputRule<'a> = (Action, Option<Cidr>, Protocol, u16, Option<&'a str>);
    let input_spec: [InputRule; 8] = [
        // IKE, NAT-T and ESP from the VPN gateway
        (A, peer, Udp, 500, o),
        (A, peer, Udp, 4500, o),
        (A, peer, All, 0, o),
        // monitoring and bastion access from the VPC, through the tunnel
        (A, Some(cloud), All, 0, o),
        (A, mgmt, Tcp, 22, n),
        (A, mgmt, Tcp, 443, n),
        (A, Some(idc), Icmp, 0, n),
        (D, None, Tcp, 22, o),
    ];
    input_spec
        .iter()
        .enumerate()
        .map(|(i, &(act, src, proto, port, in_i))| {
            let ports = if port == 0 {
                Ports::ANY
            } else {
                Ports::single(port)
            };
            filter_rule(
                rule_id(style, "input", i + 1),
                act,
                src,
                None,
                proto,
                ports,
                in_i,
                None,
            )
        })
        .collect()
}

fn entry(id: String, dest: Cidr, kind: NextHopKind, hop: Option<String>) -> RouteEntry {
    RouteEntry {
        origin: None,
        id: Some(id),
        destination: dest,
        next_hop: NextHop { kind, id: hop },
    }
}

fn iface(name: &str, addr: u32, len: u8, role: Option<Role>) -> Interface {
    Interface {
        origin: None,
        name: name.to_string(),
        address: Cidr::new(Ipv4Addr::from(addr), len),
        role,
        public_address: None,
    }
}

fn route(id: &str, dest: Cidr, interface: Option<&str>, gw: u32) -> Route {
    Route {
        origin: None,
        id: Some(id.to_string()),
        destination: dest,
        interface: interface.map(str::to_string),
        gateway: Some(Cidr::host(Ipv4Addr::from(gw))),
        tunnel: None,
    }
}

fn ip4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from(Ipv4Addr::new(a, b, c, d))
}

/// The prefix of length `len` containing `addr` (host bits cleared).
fn net(addr: u32, len: u8) -> Cidr {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Cidr::new(Ipv4Addr::from(addr & mask), len)
}

/// Partner networks (other VPCs, other regions, CEN): 192.168.0.0/16 and 100.64.0.0/10.
fn partner_dest(r: &mut Rng) -> Cidr {
    let len = *r.pick(&[22u8, 23, 24, 24, 24, 25, 26]);
    if r.chance(40) {
        net(ip4(192, 168, 0, 0) + r.below(1 << 16) as u32, len)
    } else {
        net(ip4(100, 64, 0, 0) + r.below(1 << 22) as u32, len)
    }
}

/// Internet destinations, away from every address the plan uses.
fn public_dest(r: &mut Rng) -> Cidr {
    let a = PUBLIC_A[r.below(PUBLIC_A.len() as u64) as usize];
    let len = *r.pick(&[16u8, 20, 22, 24, 24, 24]);
    net((a << 24) + r.below(1 << 24) as u32, len)
}

/// A destination not yet used in one table.
fn unique_dest(r: &mut Rng, used: &mut HashSet<Cidr>, f: fn(&mut Rng) -> Cidr) -> Cidr {
    loop {
        let d = f(r);
        if used.insert(d) {
            return d;
        }
    }
}

fn r36(r: &mut Rng, len: usize) -> String {
    const B36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| B36[r.below(36) as usize] as char)
        .collect()
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// splitmix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(p: &GenParams) -> String {
        serde_json::to_string_pretty(&generate(p)).unwrap()
    }

    #[test]
    fn two_connections_lower_without_error() {
        let p = GenParams::scaled(2);
        let text = json(&p);
        let topo = vpntrace::model::parse("gen.json", &text).unwrap();
        let m = vpntrace::model::lower("gen.json", &topo).unwrap();
        assert_eq!(m.connections.len(), 2);
        assert_eq!(m.instances.len(), 2 * 48);
        assert_eq!(m.devices.len(), 2 * 5);
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let p = GenParams::scaled(2).with_seed(7);
        assert_eq!(json(&p), json(&p));
        assert_ne!(json(&p), json(&p.clone().with_seed(8)));
    }

    #[test]
    fn faults_land_on_distinct_sites_other_than_the_first() {
        let p = GenParams::scaled(12).with_seed(3);
        let plan = fault_plan(&p);
        assert_eq!(plan.len(), Fault::ALL.len());
        let mut sites: Vec<usize> = plan.iter().map(|&(_, k)| k).collect();
        sites.sort();
        sites.dedup();
        assert_eq!(sites.len(), Fault::ALL.len());
        assert!(sites.iter().all(|&k| (1..12).contains(&k)));
        let m = vpntrace::model::lower("gen.json", &generate(&p)).unwrap();
        assert_eq!(m.flows.len(), 3 + Fault::ALL.len());
    }

    #[test]
    fn few_sites_get_one_fault_each_and_one_site_none() {
        assert!(fault_plan(&GenParams::scaled(1)).is_empty());
        let plan = fault_plan(&GenParams::scaled(3));
        assert_eq!(plan.len(), 2);
        assert_ne!(plan[0].1, plan[1].1);
        assert!(plan.iter().all(|&(_, k)| k == 1 || k == 2));
    }
}
