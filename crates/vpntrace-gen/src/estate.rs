//! The estate rule mix ([`crate::Mix::Estate`], preset [`crate::GenParams::estate`]): what
//! a mid-size company's VPN estate looks like, rather than the reference sites whose
//! VPC <-> IDC traffic is only ever dropped by a planted fault.
//!
//! Per site, on the cloud side: eight /25 vSwitches of the site's /22 (web-a `.0.0`,
//! web-b `.0.128`, app-a `.1.0`, app-b `.1.128`, db-a `.2.0`, db-b `.2.128`, ops `.3.0`,
//! batch `.3.128`; the first four on the site's custom route table), their instances from
//! `+10`, all in one security group of about 24 rules: accepts and drops at varied
//! priorities, peers inside the IDC range at /25–/27, tcp, udp, icmp and `all`, single
//! ports and ranges. Some of its drops do hit VPC <-> IDC traffic on purpose (desktops
//! may not SSH in, servers may not open connections to desktops, the DMZ is shut out),
//! as real groups do.
//!
//! On the IDC side (the site's `172.16.0.0/22 + k·1024`): users `.0.0/24`, app `.1.0/25`,
//! web `.1.128/26`, dmz `.1.192/26`, db `.2.0/25`, infra `.2.128/26`, mgmt `.2.192/26`,
//! backup `.3.0/25`, transit `.3.128/25` (core `+1`, gateway `+2`, as in the reference
//! sites). Hosts are spread over the subnets (40: 6 users, 10 app, 4 web, 2 dmz, 6 db,
//! 4 infra, 3 mgmt, 5 backup), the j-th of a subnet at `+11+j`: `app01` at `.1.11`,
//! `db01` at `.2.11`, `ops01` at `.2.203`. The gateway's forward chain mixes threat-list
//! drops (some /32), VPC <-> IDC service rules (/32 destinations, port ranges, a quarter
//! of them drops), partner and internet rules, the VPC <-> IDC accepts and internet
//! access; its NAT publishes services (destination NAT), exempts the VPC and source-NATs
//! the rest.
//!
//! The flows the topology names (site 0 healthy, one per planted fault) keep their
//! expected outcome: no drop of the security group or of the forward chain matches them.

use std::net::Ipv4Addr;

use vpntrace::input::{
    Action, Chain, Device, DeviceKind, Direction, Filter, FilterRule, Instance, NatAction, NatRule,
    Role, SecurityGroup, SgType, VSwitch,
};
use vpntrace::net::addr::{Cidr, Ports, Protocol};

use crate::{
    filter_rule, iface, input_chain, ip4, net, partner_dest, public_dest, route, rule_id, Conn,
    EstateMix, Fault, Gen, Rng, Site, SiteIds, CORE_VENDORS, VENDORS, WELL_KNOWN,
};

/// The estate's vSwitches: eight /25 of the site's /22.
pub const VSWITCHES: u32 = 8;

/// IDC subnets: offset in the site's /22, prefix length, host names, share of 40 hosts.
const IDC_NETS: [(u32, u8, &[&str], usize); 8] = [
    (0, 24, &["pc"], 6),
    (256, 25, &["app"], 10),
    (384, 26, &["web"], 4),
    (448, 26, &["dmz"], 2),
    (512, 25, &["db"], 6),
    (640, 26, &["dns", "ldap", "ntp", "mon"], 4),
    (704, 26, &["ops", "jump"], 3),
    (768, 25, &["bak"], 5),
];
const USERS: usize = 0;
const APP: usize = 1;
const WEB: usize = 2;
const DMZ: usize = 3;
const DB: usize = 4;
const INFRA: usize = 5;
const MGMT: usize = 6;
const BACKUP: usize = 7;

/// Port ranges as they appear in real rule sets.
const PORT_RANGES: [(u16, u16); 12] = [
    (8000, 8099),
    (1521, 1530),
    (5000, 5010),
    (30000, 32767),
    (1024, 65535),
    (6379, 6380),
    (9000, 9100),
    (137, 139),
    (20, 21),
    (3306, 3307),
    (8443, 8444),
    (10000, 10100),
];

/// How many hosts each IDC subnet gets for `n` hosts: the shares of [`IDC_NETS`] scaled,
/// at least one each, the rest to the app subnet.
pub fn hosts_per_subnet(n: usize) -> [usize; 8] {
    let n = n.max(IDC_NETS.len());
    let mut c = IDC_NETS.map(|(_, _, _, w)| (w * n / 40).max(1));
    while c.iter().sum::<usize>() > n {
        let i = (0..c.len()).max_by_key(|&i| c[i]).expect("eight subnets");
        c[i] -= 1;
    }
    c[APP] += n - c.iter().sum::<usize>();
    c
}

/// A packet the generated flows send; no drop may match it.
#[derive(Clone, Copy)]
struct Packet {
    src: u32,
    dst: u32,
    proto: Protocol,
    port: u16,
}

impl Packet {
    fn matched_by(&self, src: Option<Cidr>, dst: Option<Cidr>, proto: Protocol, p: Ports) -> bool {
        let has = |c: Option<Cidr>, a: u32| c.is_none_or(|c| c.contains(Ipv4Addr::from(a)));
        has(src, self.src)
            && has(dst, self.dst)
            && proto.matches(self.proto)
            && (!self.proto.has_ports() || p.contains(self.port))
    }
}

/// A forward rule before its id: action, source, destination, protocol, destination
/// ports, in and out interfaces.
type ForwardSpec<'a> = (
    Action,
    Option<Cidr>,
    Option<Cidr>,
    Protocol,
    Ports,
    Option<&'a str>,
    Option<&'a str>,
);

/// A site's estate addresses.
struct Plan {
    s: Site,
}

impl Plan {
    fn vsw(&self, i: u32) -> Cidr {
        net(self.s.cloud + i * 128, 25)
    }
    fn instance(&self, vsw: u32, j: u32) -> u32 {
        self.s.cloud + vsw * 128 + 10 + j
    }
    fn idc_net(&self, i: usize) -> Cidr {
        let (off, len, _, _) = IDC_NETS[i];
        net(self.s.idc + off, len)
    }
    fn host(&self, subnet: usize, j: usize) -> u32 {
        self.s.idc + IDC_NETS[subnet].0 + 11 + j as u32
    }
    /// A /25–/27 inside the IDC subnet `i` (the subnet itself when it is that small).
    fn idc_part(&self, r: &mut Rng, i: usize) -> Cidr {
        let sub = self.idc_net(i);
        let len = (*r.pick(&[25u8, 26, 26, 27])).max(sub.len());
        let parts = 1u32 << (len - sub.len());
        net(
            u32::from(sub.addr()) + r.below(u64::from(parts)) as u32 * (1 << (32 - len)),
            len,
        )
    }
    /// The flows of the topology (the healthy ones of site 0 and those of the faults),
    /// which no drop may match.
    fn protected(&self) -> [Packet; 5] {
        use Protocol::{Icmp, Tcp};
        let app_inst = self.instance(2, 0);
        let (app01, db01, ops01) = (self.host(APP, 0), self.host(DB, 0), self.host(MGMT, 0));
        let pkt = |src, dst, proto, port| Packet {
            src,
            dst,
            proto,
            port,
        };
        [
            pkt(app_inst, db01, Tcp, 3306),
            pkt(app01, self.instance(0, 0), Tcp, 443),
            pkt(ops01, self.instance(4, 0), Icmp, 0),
            pkt(db01, app_inst, Tcp, 8080),
            pkt(app01, app_inst, Tcp, 8080),
        ]
    }
    fn hits_protected(
        &self,
        src: Option<Cidr>,
        dst: Option<Cidr>,
        proto: Protocol,
        p: Ports,
    ) -> bool {
        self.protected()
            .iter()
            .any(|k| k.matched_by(src, dst, proto, p))
    }
}

fn ports_of(r: &mut Rng, proto: Protocol, range_percent: u64) -> Ports {
    if !proto.has_ports() {
        Ports::ANY
    } else if r.chance(range_percent) {
        let (lo, hi) = *r.pick(&PORT_RANGES);
        Ports { lo, hi }
    } else {
        Ports::single(*r.pick(&WELL_KNOWN))
    }
}

impl Gen {
    /// One estate site: its cloud side, its connection and its IDC.
    pub(crate) fn estate_site(
        &mut self,
        r: &mut Rng,
        s: Site,
        vgw: usize,
        system_id: &str,
        nat_gw: &str,
        mix: EstateMix,
    ) -> SiteIds {
        let plan = Plan { s };
        let enterprise = r.chance(15);
        let multi = r.chance(15);
        let vendor = VENDORS[r.below(VENDORS.len() as u64) as usize];

        let vtb = self.id(r, "vtb-bp1", 22);
        let vsw: Vec<String> = (0..VSWITCHES).map(|_| self.id(r, "vsw-bp1", 22)).collect();
        for (i, id) in vsw.iter().enumerate() {
            self.topo.cloud.vswitches.push(VSwitch {
                origin: None,
                id: id.clone(),
                cidr: plan.vsw(i as u32),
                route_table: match i {
                    0..=3 => Some(vtb.clone()),
                    4 | 5 => None,
                    _ => Some(system_id.to_string()),
                },
            });
        }
        let sg = self.id(r, "sg-bp1", 17);
        let group = self.estate_group(r, &plan, &sg, enterprise);
        self.topo.cloud.security_groups.push(group);

        let per_vsw = (self.p.instances_per_connection as u32)
            .div_ceil(VSWITCHES)
            .clamp(1, 100);
        let mut first = Vec::new();
        for (v, vsw_id) in vsw.iter().enumerate() {
            for j in 0..per_vsw {
                let id = self.id(r, "i-bp1", 17);
                if j == 0 {
                    first.push(id.clone());
                }
                self.topo.cloud.instances.push(Instance {
                    origin: None,
                    id,
                    ip: Cidr::host(Ipv4Addr::from(plan.instance(v as u32, j))),
                    vswitch: vsw_id.clone(),
                    security_groups: vec![sg.clone()],
                });
            }
        }

        let (local, remote): (Vec<Cidr>, Vec<Cidr>) = if multi {
            (
                vec![net(s.cloud, 23), net(s.cloud + 512, 23)],
                vec![net(s.idc, 23), net(s.idc + 512, 24), net(s.idc + 768, 25)],
            )
        } else {
            (vec![s.cloud_block()], vec![s.idc_block()])
        };
        let Conn {
            vgw_id,
            vgw_ip,
            ipsec,
        } = self.connection(r, &s, vgw, multi, vendor.1, local, remote.clone());
        // The ops tier's first instance is a virtual appliance some routes lead to.
        let table = self.custom_table(r, &s, vtb, &vgw_id, &remote, &first[6], nat_gw);
        self.topo.cloud.route_tables.push(table);

        self.estate_idc(r, &plan, vendor, vgw_ip, ipsec, mix);
        SiteIds {
            web_instance: first[0].clone(),
            app_instance: first[2].clone(),
            db_instance: first[4].clone(),
        }
    }

    /// The one security group of an estate site's instances.
    fn estate_group(
        &mut self,
        r: &mut Rng,
        plan: &Plan,
        id: &str,
        enterprise: bool,
    ) -> SecurityGroup {
        use Action::{Accept as A, Drop as D};
        use Direction::{Egress as E, Ingress as I};
        use Protocol::{All, Icmp, Tcp, Udp};
        let any = net(0, 0);
        let idc = plan.s.idc_block();
        let one = Ports::single;
        let range = |lo, hi| Ports { lo, hi };
        let users = plan.idc_part(r, USERS);
        let backup = plan.idc_net(BACKUP);
        let infra = plan.idc_part(r, INFRA);
        // (always, direction, policy, priority, protocol, ports, peer)
        let spec: Vec<(bool, Direction, Action, u8, Protocol, Ports, Cidr)> = vec![
            // what the applications need, at the top
            (true, I, A, 1, Tcp, one(22), plan.idc_net(MGMT)),
            (true, I, A, 2, Tcp, one(443), plan.idc_net(APP)),
            (true, I, A, 2, Tcp, range(8080, 8089), plan.idc_net(APP)),
            (true, I, A, 3, Icmp, Ports::ANY, plan.idc_net(MGMT)),
            (true, E, A, 1, Tcp, one(3306), plan.idc_net(DB)),
            (false, E, A, 2, Tcp, range(1521, 1522), plan.idc_net(DB)),
            // desktops may not log in; nobody uses RDP, SMB or NetBIOS
            (true, I, D, 5 + r.below(10) as u8, Tcp, one(22), users),
            (true, I, D, 5 + r.below(10) as u8, Tcp, one(3389), any),
            (false, I, A, 20 + r.below(20) as u8, Tcp, one(443), users),
            (false, I, A, 20 + r.below(20) as u8, Tcp, one(80), users),
            (
                true,
                I,
                D,
                20 + r.below(20) as u8,
                All,
                Ports::ANY,
                plan.idc_net(DMZ),
            ),
            (
                false,
                I,
                A,
                30 + r.below(20) as u8,
                Udp,
                range(161, 162),
                infra,
            ),
            (
                false,
                I,
                A,
                30 + r.below(20) as u8,
                Tcp,
                range(9100, 9110),
                infra,
            ),
            (true, I, D, 50, Tcp, one(445), any),
            (true, I, D, 50, Udp, range(137, 139), any),
            (false, I, A, 60 + r.below(20) as u8, Icmp, Ports::ANY, idc),
            (
                r.chance(50),
                I,
                A,
                90 + r.below(11) as u8,
                All,
                Ports::ANY,
                idc,
            ),
            // infrastructure services, backups; servers do not open connections to desktops
            (true, E, D, 10, Tcp, one(25), any),
            (false, E, A, 20, Udp, one(53), infra),
            (false, E, A, 20, Tcp, one(389), infra),
            (false, E, A, 20, Tcp, one(636), infra),
            (false, E, A, 20, Udp, one(123), infra),
            (true, E, D, 30 + r.below(30) as u8, All, Ports::ANY, users),
            (false, E, A, 30, Tcp, one(873), backup),
            (false, E, A, 30, Tcp, range(10000, 10100), backup),
            (true, E, D, 70, All, Ports::ANY, backup),
            (true, E, A, 80 + r.below(20) as u8, All, Ports::ANY, idc),
            (enterprise || r.chance(50), E, A, 100, All, Ports::ANY, any),
        ];
        let no_ingress = self.has(Fault::SgWithoutIngress, plan.s.k);
        let mut rules = Vec::new();
        for (always, dir, act, prio, proto, ports, peer) in spec {
            let keep = always || r.chance(60);
            if !keep || (no_ingress && dir == I) {
                continue;
            }
            rules.push(self.sg_rule(r, dir, act, prio, proto, ports, peer));
        }
        for _ in 0..self.p.sg_extra_rules {
            let rule = loop {
                let dir = if no_ingress || r.chance(40) { E } else { I };
                let act = if r.chance(65) { A } else { D };
                let proto = *r.pick(&[Tcp, Tcp, Udp, Icmp, All]);
                let ports = ports_of(r, proto, 40);
                let peer = match r.below(10) {
                    0..=5 => {
                        let sub = r.below(IDC_NETS.len() as u64) as usize;
                        plan.idc_part(r, sub)
                    }
                    6..=7 => partner_dest(r),
                    _ => public_dest(r),
                };
                let prio = 5 + r.below(96) as u8;
                let (src, dst) = match dir {
                    I => (Some(peer), Some(plan.s.cloud_block())),
                    E => (Some(plan.s.cloud_block()), Some(peer)),
                };
                if act == A || !plan.hits_protected(src, dst, proto, ports) {
                    break self.sg_rule(r, dir, act, prio, proto, ports, peer);
                }
            };
            rules.push(rule);
        }
        SecurityGroup {
            origin: None,
            id: id.to_string(),
            kind: if enterprise {
                SgType::Enterprise
            } else {
                SgType::Basic
            },
            inner_access: None,
            rules,
        }
    }

    /// The IDC of an estate site: gateway (VPN + firewall + NAT), core router, hosts.
    fn estate_idc(
        &mut self,
        r: &mut Rng,
        plan: &Plan,
        vendor: (&str, &str, &str, &str),
        vgw_ip: Cidr,
        ipsec: vpntrace::input::DeviceIpsec,
        mix: EstateMix,
    ) {
        let (vname, out_if, in_if, style) = vendor;
        let s = plan.s;
        let counts = hosts_per_subnet(mix.idc_hosts);
        let fwd = self.estate_forward(r, plan, &counts, (out_if, in_if, style));
        let input = input_chain(
            style,
            out_if,
            in_if,
            vgw_ip,
            s.cloud_block(),
            s.idc_block(),
            plan.idc_net(MGMT),
        );
        let exempt = !self.has(Fault::NatWithoutExemption, s.k);
        let nat = estate_nat(r, plan, &counts, (out_if, style), mix.nat_rules, exempt);
        let any = net(0, 0);
        let transit = s.transit();
        let missing = self.has(Fault::IdcRouteMissing, s.k);
        let devices = &mut self.topo.onprem.devices;
        devices.push(Device {
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
                route("idc-lan", s.idc_block(), Some(in_if), transit + 1),
            ],
            filter: Some(Filter {
                origin: None,
                stateful: true,
                input: Some(Chain {
                    origin: None,
                    default: Action::Drop,
                    rules: input,
                }),
                forward: Some(Chain {
                    origin: None,
                    default: Action::Drop,
                    rules: fwd,
                }),
                output: None,
            }),
            nat,
            ipsec: vec![ipsec],
            forwarding: None,
            rp_filter: None,
        });

        let core_vendor = CORE_VENDORS[r.below(CORE_VENDORS.len() as u64) as usize];
        let default_via = if missing || r.chance(30) {
            transit + 5
        } else {
            transit + 2
        };
        let mut routes = Vec::new();
        if !missing {
            routes.push(route(
                "to-vpc",
                s.cloud_block(),
                Some("Vlanif4000"),
                transit + 2,
            ));
        }
        routes.push(route("default", any, Some("Vlanif4000"), default_via));
        let mut interfaces = vec![iface("Vlanif4000", transit + 1, 25, None)];
        for i in 0..IDC_NETS.len() {
            let sub = plan.idc_net(i);
            let name = format!("Vlanif{}", 10 * (i + 1));
            interfaces.push(iface(&name, u32::from(sub.addr()) + 1, sub.len(), None));
        }
        devices.push(Device {
            origin: None,
            id: s.dev("core01"),
            kind: DeviceKind::Router,
            vendor: Some(core_vendor.to_string()),
            interfaces,
            routes,
            filter: None,
            nat: Vec::new(),
            ipsec: Vec::new(),
            forwarding: None,
            rp_filter: None,
        });
        for (i, &(_, len, names, _)) in IDC_NETS.iter().enumerate() {
            let gw = u32::from(plan.idc_net(i).addr()) + 1;
            for j in 0..counts[i] {
                let name = format!("{}{:02}", names[j % names.len()], j / names.len() + 1);
                devices.push(Device {
                    origin: None,
                    id: s.dev(&name),
                    kind: DeviceKind::Host,
                    vendor: Some("linux".into()),
                    interfaces: vec![iface("eth0", plan.host(i, j), len, None)],
                    routes: vec![route("default", any, None, gw)],
                    filter: None,
                    nat: Vec::new(),
                    ipsec: Vec::new(),
                    forwarding: None,
                    rp_filter: None,
                });
            }
        }
    }

    /// The estate gateway's forward chain: threat-list drops, the planted legacy deny,
    /// VPC <-> IDC service rules (a quarter drops), partner and internet rules, the
    /// VPC <-> IDC accepts, internet access.
    fn estate_forward(
        &mut self,
        r: &mut Rng,
        plan: &Plan,
        counts: &[usize; 8],
        (out_if, in_if, style): (&str, &str, &str),
    ) -> Vec<FilterRule> {
        use Action::{Accept as A, Drop as D};
        use Protocol::{All, Icmp, Tcp, Udp};
        let s = plan.s;
        let (idc, cloud, any) = (s.idc_block(), s.cloud_block(), net(0, 0));
        let want = self.p.forward_rules_per_gateway.max(2);
        let body = want - 2;
        let mut fwd: Vec<ForwardSpec> = Vec::with_capacity(want);
        // 1. threat-list drops (internet sources, half of them single addresses)
        for _ in 0..body * 15 / 100 {
            let d = public_dest(r);
            let src = if r.chance(50) {
                Cidr::host(Ipv4Addr::from(
                    u32::from(d.addr()) + 1 + r.below(250) as u32,
                ))
            } else {
                d
            };
            fwd.push((D, Some(src), None, All, Ports::ANY, Some(out_if), None));
        }
        // 2. the planted legacy deny
        if self.has(Fault::IdcAclDrop, s.k) {
            fwd.push((
                D,
                Some(cloud),
                Some(plan.idc_net(DB)),
                Tcp,
                Ports::single(3306),
                Some(out_if),
                Some(in_if),
            ));
        }
        // 3. VPC <-> IDC services: /32 hosts or subnets, single ports or ranges
        let idc_end = |r: &mut Rng| {
            let i = r.below(IDC_NETS.len() as u64) as usize;
            if r.chance(50) {
                Cidr::host(Ipv4Addr::from(
                    plan.host(i, r.below(counts[i] as u64) as usize),
                ))
            } else {
                plan.idc_net(i)
            }
        };
        let cloud_end = |r: &mut Rng| {
            if r.chance(70) {
                plan.vsw(r.below(u64::from(VSWITCHES)) as u32)
            } else {
                cloud
            }
        };
        for _ in 0..body * 40 / 100 {
            let to_idc = r.chance(60);
            let (src, dst, i, o) = if to_idc {
                (cloud_end(r), idc_end(r), out_if, in_if)
            } else {
                (idc_end(r), cloud_end(r), in_if, out_if)
            };
            let proto = *r.pick(&[Tcp, Tcp, Udp]);
            let ports = ports_of(r, proto, 45);
            let act = if r.chance(25) && !plan.hits_protected(Some(src), Some(dst), proto, ports) {
                D
            } else {
                A
            };
            fwd.push((act, Some(src), Some(dst), proto, ports, Some(i), Some(o)));
        }
        // 4. partner and internet rules that VPC <-> IDC traffic walks past
        let tail = body * 15 / 100;
        while fwd.len() < want - 2 - tail {
            let act = if r.chance(60) { A } else { D };
            let (src, dst) = match r.below(3) {
                0 => (partner_dest(r), plan.idc_net(r.below(8) as usize)),
                1 => (plan.idc_net(r.below(8) as usize), partner_dest(r)),
                _ => (public_dest(r), public_dest(r)),
            };
            let proto = *r.pick(&[Tcp, Tcp, Udp, Icmp, All]);
            let ports = ports_of(r, proto, 30);
            fwd.push((act, Some(src), Some(dst), proto, ports, None, None));
        }
        // 5. VPC <-> IDC
        fwd.push((
            A,
            Some(idc),
            Some(cloud),
            All,
            Ports::ANY,
            Some(in_if),
            Some(out_if),
        ));
        fwd.push((
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
            let src = plan.idc_net(*r.pick(&[USERS, APP, WEB, DMZ, INFRA]));
            fwd.push((
                act,
                Some(src),
                Some(any),
                proto,
                Ports::single(port),
                Some(in_if),
                Some(out_if),
            ));
        }
        fwd.into_iter()
            .enumerate()
            .map(|(n, (act, src, dst, proto, ports, i, o))| {
                filter_rule(
                    rule_id(style, "forward", n + 1),
                    act,
                    src,
                    dst,
                    proto,
                    ports,
                    i,
                    o,
                )
            })
            .collect()
    }
}

/// An estate gateway's NAT: published services (destination NAT to web and DMZ hosts),
/// the no-NAT exemption for the VPC (unless `exempt` is off: the planted fault), source
/// NAT of desktops and management to the interface and of the rest to a pool address.
fn estate_nat(
    r: &mut Rng,
    plan: &Plan,
    counts: &[usize; 8],
    (out_if, style): (&str, &str),
    want: usize,
    exempt: bool,
) -> Vec<NatRule> {
    const PUBLISHED: [(Protocol, u16, u16); 8] = [
        (Protocol::Tcp, 443, 443),
        (Protocol::Tcp, 80, 80),
        (Protocol::Tcp, 8443, 443),
        (Protocol::Tcp, 25, 25),
        (Protocol::Tcp, 993, 993),
        (Protocol::Udp, 1194, 1194),
        (Protocol::Tcp, 2222, 22),
        (Protocol::Tcp, 8080, 8080),
    ];
    let s = plan.s;
    let nid = |n: usize| match style {
        "iptables" => format!("POSTROUTING-{n}"),
        "rule" => format!("nat-policy {n}"),
        "policy" => format!("ippool {n}"),
        _ => format!("nat ({n})"),
    };
    let rule =
        |n: usize, action, source, destination, protocol, ports, to: Option<String>| NatRule {
            origin: None,
            id: Some(nid(n)),
            action,
            source,
            destination,
            protocol,
            destination_ports: ports,
            in_interface: (action == NatAction::DestinationNat).then(|| out_if.to_string()),
            out_interface: (action != NatAction::DestinationNat).then(|| out_if.to_string()),
            to,
            to_port: None,
        };
    let mut nat = Vec::with_capacity(want);
    let dnat = want.max(4) - 4;
    for i in 0..dnat {
        let (proto, port, to_port) = PUBLISHED[i % PUBLISHED.len()];
        // the gateway's own address, then the rest of the site's public /29
        let public = s.gw_public() + (i / PUBLISHED.len()) as u32 % 5;
        let sub = if r.chance(70) { WEB } else { DMZ };
        let host = plan.host(sub, r.below(counts[sub] as u64) as usize);
        let mut d = rule(
            nat.len() + 1,
            NatAction::DestinationNat,
            None,
            Some(Cidr::host(Ipv4Addr::from(public))),
            proto,
            Ports::single(port),
            Some(Ipv4Addr::from(host).to_string()),
        );
        d.to_port = Some(to_port);
        nat.push(d);
    }
    let (all, any) = (Protocol::All, Ports::ANY);
    if exempt {
        let vpc = net(ip4(10, 0, 0, 0), 8);
        nat.push(rule(
            nat.len() + 1,
            NatAction::NoNat,
            Some(s.idc_block()),
            Some(vpc),
            all,
            any,
            None,
        ));
    }
    let iface = Some("interface".to_string());
    for sub in [USERS, MGMT] {
        let src = Some(plan.idc_net(sub));
        nat.push(rule(
            nat.len() + 1,
            NatAction::SourceNat,
            src,
            None,
            all,
            any,
            iface.clone(),
        ));
    }
    let pool = Some(Ipv4Addr::from(s.gw_public() + 1).to_string());
    nat.push(rule(
        nat.len() + 1,
        NatAction::SourceNat,
        Some(s.idc_block()),
        None,
        all,
        any,
        pool,
    ));
    nat
}
