//! Lookup structures built once per model for the tracer: prefix indexes for every
//! routing table (VRouter, VPN gateway, on-prem devices), address owners, and SA
//! selectors as intervals. Built in one pass; the tracer never scans a whole table.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

pub use crate::model::PerItem;

use crate::graph::region::{prefix_item, PrefixIndex, PrefixItem, SaIv};
use crate::input::Direction;
use crate::model::rules::{Endpoint, RouteChoice, RuleSpan, VrRoute};
use crate::model::{ChainKind, FastMap, Model, SaSelectors};
use crate::net::addr::Protocol;
use rayon::prelude::*;

/// A device's filter rules per chain (input, forward, output), per concrete protocol, per
/// incoming interface (see `Index::chain_rules`); each chain's shared, so that a fix to
/// one chain rebuilds only that chain's part.
pub type ChainRules = [Arc<ProtocolRules>; 3];
/// One chain's rules per concrete protocol, per incoming interface.
pub type ProtocolRules = [Vec<Vec<RuleSpan>>; 4];
/// A device's route choices and their prefix index.
pub type DeviceRoutes = (Vec<RouteChoice>, PrefixIndex<usize>);

/// What a fix changed, for rebuilding only that part of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reindex {
    /// Nothing the index is built from.
    Keep,
    /// The entries of one route table.
    Table(usize),
    /// The filter rules of one chain of one device.
    DeviceChain(usize, ChainKind),
    /// One rule (by position) deleted from one chain of one device: the chain's tables
    /// are the old ones without it.
    DeviceChainRuleDeleted(usize, ChainKind, usize),
    /// The routes of one device.
    DeviceRoutes(usize),
    /// Anything else: build it again.
    Full,
}

/// Lookup tables built from a model (see `Index::build`). Per-table and per-device
/// parts, and the large tables no fix changes, are shared (`Arc`): an index for a fixed
/// model copies pointers and rebuilds only what changed.
#[derive(Clone, Debug)]
pub struct Index {
    /// Per route table: system routes (rank 0), entries (rank 1), published VPN routes
    /// (rank 2, system table only), in tie order.
    pub vrouter: PerItem<PrefixIndex<VrRoute>>,
    /// Per VPN gateway: destination routes (index into `destination_routes`).
    pub vpn_dest: Arc<Vec<PrefixIndex<usize>>>,
    /// Per device: connected subnets then listed routes, as route choices.
    pub dev_routes: PerItem<DeviceRoutes>,
    /// Per device, per chain (input, forward, output), per concrete protocol (in
    /// `Protocol::CONCRETE` order), per incoming interface (0: none, k: interface k-1):
    /// the rules that can match such a packet, in chain order (a rule for another
    /// protocol or incoming interface, or naming ports for a packet without them, never
    /// does).
    pub chain_rules: PerItem<ChainRules>,
    /// (device, interface) by address.
    pub iface_by_ip: Arc<BTreeMap<Ipv4Addr, (usize, usize)>>,
    /// Cloud SAs per connection; per device, per ipsec entry: SAs and configured selectors.
    pub cloud_sas: Arc<Vec<Vec<SaIv>>>,
    pub dev_sas: Arc<Vec<Vec<Vec<SaIv>>>>,
    pub dev_cfg: Arc<Vec<Vec<SaIv>>>,
    /// Per vSwitch: instance addresses on it, sorted.
    pub vswitch_hosts: Arc<Vec<Vec<u32>>>,
    /// Every address an instance or a device interface owns, sorted.
    pub owned: Arc<Vec<u32>>,
    /// The owner of each address of `owned`, by address (the tracer asks who owns an
    /// address at every endpoint: a hash lookup instead of a binary search).
    pub owners: Arc<FastMap<u32, OwnerRef>>,
    /// vSwitch CIDRs and device interface subnets (where unmodelled hosts live), each with
    /// where such a host's traffic enters: its vSwitch, or the first forwarding device on
    /// the subnet.
    pub endpoint_nets: Arc<PrefixIndex<EpNet>>,
    /// The VPC CIDRs as intervals.
    pub vpc_iv: Arc<Vec<(u32, u32)>>,
    /// Per connection: the configured (local, remote) subnets as intervals.
    pub conn_cfg: Arc<Vec<SaIv>>,
    /// Per connection: the on-prem device and ipsec entry that terminate it.
    pub tunnel_end: Arc<Vec<Option<(usize, usize)>>>,
    /// Per device, per interface: the other devices' interfaces on its subnet as
    /// (address, device, interface), sorted by address. A flat copy of the graph's
    /// [`Links`](crate::graph::Links) for the tracer's hot path (see `link_holder`).
    pub link_peers: Arc<LinkPeers>,
}

/// Where two protocols without ports (ICMP and GRE) may be decided differently: the
/// filter rules that match one but not the other, NAT rules that do, a security group's
/// rules of one direction that do, each where its addresses could match. A packet of one
/// whose decisions meet none of these (and no reply that connection tracking judges by
/// protocol, see `Walker::reply_is_invalid`) takes exactly the decisions a packet of the
/// other would (see [`Narrow::alike`](crate::graph::region::Narrow::alike)).
#[derive(Debug)]
pub struct Alike {
    /// The traced packets' protocol ...
    pub of: Protocol,
    /// ... and the protocol compared with it.
    pub protocol: Protocol,
    /// Per device, per chain (input, forward, output): the rules that tell the two
    /// apart, with their incoming interface.
    pub rules: Vec<[Vec<ApartRule>; 3]>,
    /// Per device: whether its NAT rules treat the two alike.
    pub nat: Vec<bool>,
    /// Per security group, for ingress and egress: the peers of the rules that tell the
    /// two apart (None: a group or any peer, which may be anyone).
    pub groups: Vec<[Vec<ApartPeer>; 2]>,
}

/// A filter rule that tells two protocols apart: its incoming interface and span.
pub type ApartRule = (Option<usize>, RuleSpan);

/// A security-group rule that tells two protocols apart: its peer's addresses (None: a
/// group or any peer).
pub type ApartPeer = Option<(u32, u32)>;

impl Alike {
    /// Where `m` may decide packets of `a` and `b` (both without ports) differently.
    pub fn of(m: &Model, a: Protocol, b: Protocol) -> Alike {
        assert!(!a.has_ports() && !b.has_ports(), "protocols without ports");
        let same = |p: Protocol| p.matches(a) == p.matches(b);
        let rules = m
            .devices
            .iter()
            .map(|d| {
                [ChainKind::Input, ChainKind::Forward, ChainKind::Output].map(|k| {
                    let Some(c) = d.filter.as_ref().and_then(|f| f.chain(k)) else {
                        return Vec::new();
                    };
                    c.rules
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| !same(r.protocol))
                        .map(|(i, r)| (r.in_interface, RuleSpan::of(i, r)))
                        .collect()
                })
            })
            .collect();
        let nat = m
            .devices
            .iter()
            .map(|d| d.nat.iter().all(|r| same(r.protocol)))
            .collect();
        let groups = m
            .security_groups
            .iter()
            .map(|g| {
                [Direction::Ingress, Direction::Egress].map(|dir| {
                    g.rules
                        .iter()
                        .filter(|r| r.direction == dir && !same(r.protocol))
                        .map(|r| match r.peer {
                            crate::model::SgPeer::Cidr(n) => {
                                let n = n.trunc();
                                Some((u32::from(n.network()), u32::from(n.broadcast())))
                            }
                            _ => None,
                        })
                        .collect()
                })
            })
            .collect();
        Alike {
            of: a,
            protocol: b,
            rules,
            nat,
            groups,
        }
    }

    /// Whether chain `k` of device `d`, for a packet from `in_iface` whose sources and
    /// destinations span `src` and `dst`, has a rule that tells the two apart and could
    /// match (a filter decision passes over the others, see `filter_decide_in`).
    pub fn chain_tells_apart(
        &self,
        d: usize,
        k: ChainKind,
        in_iface: Option<usize>,
        src: (u32, u32),
        dst: (u32, u32),
    ) -> bool {
        self.rules[d][chain_position(k)].iter().any(|(f, r)| {
            (f.is_none() || *f == in_iface)
                && r.src.0 <= src.1
                && src.0 <= r.src.1
                && r.dst.0 <= dst.1
                && dst.0 <= r.dst.1
        })
    }

    /// Whether security group `g`, for packets of direction `dir` whose peers (sources
    /// in, destinations out) span `peer`, has a rule that tells the two apart and could
    /// match.
    pub fn group_tells_apart(&self, g: usize, dir: Direction, peer: (u32, u32)) -> bool {
        self.groups[g][usize::from(dir == Direction::Egress)]
            .iter()
            .any(|p| p.is_none_or(|(lo, hi)| lo <= peer.1 && peer.0 <= hi))
    }
}

/// Per device, per interface: (address, device, interface) of the others on its subnet.
pub type LinkPeers = Vec<Vec<Vec<(u32, usize, usize)>>>;

/// Who owns an address: an instance, or a device's interface (device, interface).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerRef {
    Instance(usize),
    Interface(usize, usize),
}

/// Where an unmodelled host on a subnet sends from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpNet {
    VSwitch(usize),
    Subnet { device: usize, iface: usize },
}

impl Index {
    /// Whether `v` is owned, and the span around it holding no other owned address:
    /// `(true, v, v)`, or `(false, lo, hi)` for the gap between owned addresses.
    pub fn owned_span(&self, v: u32) -> (bool, u32, u32) {
        let owned = &self.owned;
        let i = owned.partition_point(|&x| x < v);
        if owned.get(i) == Some(&v) {
            return (true, v, v);
        }
        let lo = if i > 0 { owned[i - 1] + 1 } else { 0 };
        let hi = if i < owned.len() {
            owned[i] - 1
        } else {
            u32::MAX
        };
        (false, lo, hi)
    }

    /// Who owns `addr`.
    pub fn owner(&self, addr: Ipv4Addr) -> Option<OwnerRef> {
        self.owners.get(&u32::from(addr)).copied()
    }

    /// The device interface on the subnet of interface `out` of device `d` that holds
    /// `addr` (the next hop, or a directly connected destination): one binary search in
    /// the flat copy of the graph's links.
    pub fn link_holder(&self, d: usize, out: usize, addr: Ipv4Addr) -> Option<(usize, usize)> {
        let peers = &self.link_peers[d][out];
        peers
            .binary_search_by_key(&u32::from(addr), |p| p.0)
            .ok()
            .map(|k| (peers[k].1, peers[k].2))
    }

    /// The instance that owns `addr`, if an instance does.
    pub fn instance_at(&self, addr: Ipv4Addr) -> Option<usize> {
        match self.owner(addr) {
            Some(OwnerRef::Instance(i)) => Some(i),
            _ => None,
        }
    }

    /// The endpoint holding `addr` (as `trace::endpoint_for_addr`, by index).
    pub fn endpoint(&self, addr: Ipv4Addr) -> Option<Endpoint> {
        match self.owner(addr) {
            Some(OwnerRef::Instance(i)) => return Some(Endpoint::Instance(i)),
            Some(OwnerRef::Interface(d, _)) => return Some(Endpoint::Device(d)),
            None => {}
        }
        self.endpoint_nets
            .lookup(u32::from(addr))
            .map(|(_, _, _, e)| match e {
                EpNet::VSwitch(v) => Endpoint::CloudHost { addr, vswitch: v },
                EpNet::Subnet { device, iface } => Endpoint::OnpremHost {
                    addr,
                    device,
                    iface,
                },
            })
    }
}

pub fn sa_iv(s: &SaSelectors) -> SaIv {
    (s.local.intervals(), s.remote.intervals())
}

impl Index {
    pub fn build(m: &Model) -> Index {
        // Every table holds the vSwitches' system routes (rank 0), then its entries
        // (rank 1), then, in the system table, the published VPN routes (rank 2); ties go
        // by rank, then listing order. The system routes are sorted once for all tables.
        // The per-table and per-device parts (most of the work) on one side, in parallel;
        // the rest beside them.
        let ((vrouter, (chain_rules, dev_routes)), rest) = rayon::join(
            || {
                let system = system_routes(m);
                rayon::join(
                    || {
                        (0..m.route_tables.len())
                            .into_par_iter()
                            .map(|t| Arc::new(table_index(m, t, &system)))
                            .collect()
                    },
                    || {
                        (0..m.devices.len())
                            .into_par_iter()
                            .map(|d| {
                                let dev = &m.devices[d];
                                (Arc::new(chain_rules(dev)), Arc::new(device_routes(dev)))
                            })
                            .unzip()
                    },
                )
            },
            || Index::build_rest(m),
        );
        Index {
            vrouter: PerItem::new(vrouter),
            chain_rules: PerItem::new(chain_rules),
            dev_routes: PerItem::new(dev_routes),
            ..rest
        }
    }

    /// The parts of [`Index::build`] other than the per-table and per-device ones (left
    /// empty).
    fn build_rest(m: &Model) -> Index {
        let vpn_dest = m
            .vpn_gateways
            .iter()
            .map(|g| {
                PrefixIndex::build(
                    g.destination_routes
                        .iter()
                        .enumerate()
                        .map(|(i, r)| (r.destination, i)),
                )
            })
            .collect();
        let mut iface_by_ip = BTreeMap::new();
        for (d, dev) in m.devices.iter().enumerate() {
            for (f, iface) in dev.interfaces.iter().enumerate() {
                iface_by_ip.entry(iface.addr).or_insert((d, f));
            }
        }
        let cloud_sas = m
            .connections
            .iter()
            .map(|c| c.sas.iter().map(sa_iv).collect())
            .collect();
        let dev_sas = m
            .devices
            .iter()
            .map(|d| {
                d.ipsec
                    .iter()
                    .map(|e| e.sas.iter().map(sa_iv).collect())
                    .collect()
            })
            .collect();
        let dev_cfg = m
            .devices
            .iter()
            .map(|d| {
                d.ipsec
                    .iter()
                    .map(|e| sa_iv(&SaSelectors::new(&e.local_subnets, &e.remote_subnets)))
                    .collect()
            })
            .collect();
        let mut vswitch_hosts = vec![Vec::new(); m.vswitches.len()];
        for i in m.instances.iter() {
            vswitch_hosts[i.vswitch].push(u32::from(i.ip));
        }
        for v in &mut vswitch_hosts {
            v.sort();
        }
        // Lowering refuses an address owned twice, so each appears once.
        let mut by_addr: Vec<(u32, OwnerRef)> = m
            .instances
            .iter()
            .enumerate()
            .map(|(k, i)| (u32::from(i.ip), OwnerRef::Instance(k)))
            .chain(m.devices.iter().enumerate().flat_map(|(d, dev)| {
                dev.interfaces
                    .iter()
                    .enumerate()
                    .map(move |(f, x)| (u32::from(x.addr), OwnerRef::Interface(d, f)))
            }))
            .collect();
        by_addr.sort_by_key(|&(a, _)| a);
        by_addr.dedup_by_key(|&mut (a, _)| a);
        let owned: Vec<u32> = by_addr.iter().map(|&(a, _)| a).collect();
        let owners: FastMap<u32, OwnerRef> = by_addr.into_iter().collect();
        let links = crate::graph::Links::build(m);
        let mut nets: Vec<(ipnet::Ipv4Net, EpNet)> = m
            .vswitches
            .iter()
            .enumerate()
            .map(|(i, v)| (v.cidr, EpNet::VSwitch(i)))
            .collect();
        let mut link_peers = Vec::with_capacity(m.devices.len());
        for (d, dev) in m.devices.iter().enumerate() {
            let mut per_iface = Vec::with_capacity(dev.interfaces.len());
            for (f, iface) in dev.interfaces.iter().enumerate() {
                let (fd, ff) = links.entry_of(m, d, f);
                nets.push((
                    iface.net,
                    EpNet::Subnet {
                        device: fd,
                        iface: ff,
                    },
                ));
                let mut peers: Vec<(u32, usize, usize)> = links
                    .on_subnet(links.subnet(d, f))
                    .into_iter()
                    .filter(|&(x, _)| x != d)
                    .map(|(x, xf)| (u32::from(m.devices[x].interfaces[xf].addr), x, xf))
                    .collect();
                peers.sort_unstable();
                per_iface.push(peers);
            }
            link_peers.push(per_iface);
        }
        let endpoint_nets = PrefixIndex::build(nets);
        let vpc_iv = m.vpc_set.intervals();
        let conn_cfg = m
            .connections
            .iter()
            .map(|c| (c.local_set.intervals(), c.remote_set.intervals()))
            .collect();
        let tunnel_end = (0..m.connections.len())
            .map(|c| crate::model::rules::tunnel_endpoint(m, c))
            .collect();
        Index {
            link_peers: Arc::new(link_peers),
            tunnel_end: Arc::new(tunnel_end),
            vrouter: PerItem::new(Vec::new()),
            vpn_dest: Arc::new(vpn_dest),
            dev_routes: PerItem::new(Vec::new()),
            chain_rules: PerItem::new(Vec::new()),
            iface_by_ip: Arc::new(iface_by_ip),
            cloud_sas: Arc::new(cloud_sas),
            dev_sas: Arc::new(dev_sas),
            dev_cfg: Arc::new(dev_cfg),
            vswitch_hosts: Arc::new(vswitch_hosts),
            owned: Arc::new(owned),
            owners: Arc::new(owners),
            endpoint_nets: Arc::new(endpoint_nets),
            vpc_iv: Arc::new(vpc_iv),
            conn_cfg: Arc::new(conn_cfg),
        }
    }
}

/// The vSwitches' system routes, sorted, shared by every table's index.
fn system_routes(m: &Model) -> Vec<PrefixItem<VrRoute>> {
    let mut system: Vec<PrefixItem<VrRoute>> = m
        .vswitches
        .iter()
        .enumerate()
        .map(|(v, vs)| prefix_item(vs.cidr, v, VrRoute::System(v as u32)))
        .collect();
    system.sort_by_key(|e| (e.0, e.1, e.2));
    system
}

/// Route table `t`: the vSwitches' system routes (rank 0), then its entries (rank 1),
/// then, in the system table, the published VPN routes (rank 2); ties go by rank, then
/// listing order.
fn table_index(m: &Model, t: usize, system: &[PrefixItem<VrRoute>]) -> PrefixIndex<VrRoute> {
    let ranked = m.vswitches.len();
    let mut own: Vec<PrefixItem<VrRoute>> = Vec::new();
    for (e, entry) in m.route_tables[t].entries.iter().enumerate() {
        own.push(prefix_item(
            entry.destination,
            ranked + own.len(),
            VrRoute::Entry(e as u32),
        ));
    }
    if m.route_tables[t].system {
        for (g, gw) in m.vpn_gateways.iter().enumerate() {
            for (r, route) in gw.destination_routes.iter().enumerate() {
                if route.publish_to_vpc {
                    own.push(prefix_item(
                        route.destination,
                        ranked + own.len(),
                        VrRoute::Published {
                            vgw: g as u32,
                            route: r as u32,
                        },
                    ));
                }
            }
        }
    }
    own.sort_by_key(|e| (e.0, e.1, e.2));
    PrefixIndex::merged(system, own)
}

/// A device's filter tables (see `Index::chain_rules`).
fn chain_rules(d: &crate::model::Device) -> ChainRules {
    [ChainKind::Input, ChainKind::Forward, ChainKind::Output]
        .map(|k| Arc::new(protocol_rules(d, k)))
}

/// Where chain `k` is in [`ChainRules`].
pub fn chain_position(k: ChainKind) -> usize {
    match k {
        ChainKind::Input => 0,
        ChainKind::Forward => 1,
        ChainKind::Output => 2,
    }
}

/// Chain `k`'s filter tables of device `d`. Each rule's span, protocols and incoming
/// interface are worked out once, then sorted into the tables.
fn protocol_rules(d: &crate::model::Device, k: ChainKind) -> ProtocolRules {
    let Some(c) = d.filter.as_ref().and_then(|f| f.chain(k)) else {
        return Default::default();
    };
    let rules: Vec<(u8, Option<usize>, RuleSpan)> = c
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let fits = Protocol::CONCRETE
                .iter()
                .enumerate()
                .filter(|(_, &p)| crate::model::rules::rule_fits(r, p))
                .fold(0u8, |m, (pi, _)| m | 1 << pi);
            (fits, r.in_interface, RuleSpan::of(i, r))
        })
        .collect();
    std::array::from_fn(|pi| {
        (0..=d.interfaces.len())
            .map(|slot| {
                let in_iface = slot.checked_sub(1);
                rules
                    .iter()
                    .filter(|(fits, f, _)| fits >> pi & 1 == 1 && (f.is_none() || *f == in_iface))
                    .map(|x| x.2)
                    .collect()
            })
            .collect()
    })
}

/// A chain's tables (see [`protocol_rules`]) with rule `at` deleted: the same as building
/// them from the chain without it (a rule's span, protocols and incoming interface are
/// its own; the later rules move up one place), without working each rule out again.
fn without_rule(t: &ProtocolRules, at: usize) -> ProtocolRules {
    let at = at as u32;
    std::array::from_fn(|p| {
        t[p].iter()
            .map(|slot| {
                slot.iter()
                    .filter(|s| s.rule != at)
                    .map(|s| RuleSpan {
                        rule: if s.rule > at { s.rule - 1 } else { s.rule },
                        ..*s
                    })
                    .collect()
            })
            .collect()
    })
}

/// For every device's every chain and rule: the chain's tables with the rule deleted
/// (see [`without_rule`]) against those built from the chain without it. How many
/// deletions were compared; the first that differs, as an error. For the tests.
#[doc(hidden)]
pub fn deleted_rule_tables_agree(m: &Model) -> Result<usize, String> {
    let mut compared = 0;
    for (d, dev) in m.devices.iter().enumerate() {
        let Some(filter) = dev.filter.as_ref() else {
            continue;
        };
        for k in [ChainKind::Input, ChainKind::Forward, ChainKind::Output] {
            let Some(c) = filter.chain(k) else { continue };
            let all = protocol_rules(dev, k);
            for at in 0..c.rules.len() {
                let mut without = (**dev).clone();
                let chain = without
                    .filter
                    .as_mut()
                    .and_then(|f| f.chain_mut(k))
                    .expect("the chain is there");
                chain.rules.remove(at);
                let built = format!("{:?}", protocol_rules(&without, k));
                let derived = format!("{:?}", without_rule(&all, at));
                if built != derived {
                    return Err(format!(
                        "device {d} ({}), {k:?} chain, rule {at}: built {built}, derived {derived}",
                        dev.id
                    ));
                }
                compared += 1;
            }
        }
    }
    Ok(compared)
}

/// A device's route choices (connected subnets, then listed routes) and their index.
fn device_routes(d: &crate::model::Device) -> DeviceRoutes {
    let choices = crate::model::rules::route_choices(d);
    let idx = PrefixIndex::build(choices.iter().enumerate().map(|(i, c)| (c.destination, i)));
    (choices, idx)
}

impl Index {
    /// The index of `m2`, a model that differs from this index's model only as `what`
    /// says: the changed table or device is indexed again, the rest is shared.
    pub fn patched(&self, m2: &Model, what: Reindex) -> Index {
        let mut idx = self.clone();
        match what {
            Reindex::Keep => {}
            Reindex::Table(t) => {
                idx.vrouter
                    .set(t, Arc::new(table_index(m2, t, &system_routes(m2))));
            }
            Reindex::DeviceChain(d, k) | Reindex::DeviceChainRuleDeleted(d, k, _) => {
                let mut rules = (*idx.chain_rules[d]).clone();
                let p = chain_position(k);
                rules[p] = Arc::new(match what {
                    Reindex::DeviceChainRuleDeleted(_, _, at) => without_rule(&rules[p], at),
                    _ => protocol_rules(&m2.devices[d], k),
                });
                idx.chain_rules.set(d, Arc::new(rules));
            }
            Reindex::DeviceRoutes(d) => idx
                .dev_routes
                .set(d, Arc::new(device_routes(&m2.devices[d]))),
            Reindex::Full => return Index::build(m2),
        }
        idx
    }
}
