//! SA layout (FAQ 5: "some networks work, some do not"): do the SAs each end of a
//! connection holds carry every configured subnet pair, and do the ends agree?
//!
//! | code | severity | condition |
//! |---|---|---|
//! | `IKEV1_MULTIPLE_SUBNET_PAIRS` | error when a pair has no SA, else warning | an IKEv1 connection lists several local×remote subnet pairs |
//! | `IKEV2_SA_PER_SUBNET_PAIR` | error when a pair has no SA, else warning | IKEv2, one end holds one SA and the other several (a non-standard IKEv2 peer negotiated one SA per pair) |
//! | `SA_COVERS_LESS_THAN_CONFIGURED` | error | an end's SAs leave part of its configured subnets without an SA |
//! | `SA_NOT_MIRRORED` | warning | an SA whose selectors the other end holds no mirror of |
//! | `SUBNETS_OVERLAP` | error | a connection's local and remote subnets overlap |
//! | `SUBNET_LISTED_TWICE` | warning | a subnet is listed twice (or inside another) on one side |
//!
//! Selectors are compared as address sets: a /16 carried by two /17 SAs is covered.
//! Every pair is written VPC side first (`10.0.0.0/8 ⇄ 172.30.96.0/19` is VPC 10.0.0.0/8
//! with IDC 172.30.96.0/19), whichever end holds the SA.

use crate::findings::change::Change;
use crate::findings::code::Code;
use crate::findings::finding::{Finding, Severity};
use crate::input;
use crate::input::error::InputError;
use crate::input::DeviceKind;
use crate::model::{Connection, DeviceIpsec, Model, SaSelectors};
use crate::net::addr::{join_cidrs, AddrSet, Cidr};
use crate::net::algo::IkeVersion;

/// A block of traffic, VPC side × IDC side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub vpc: AddrSet,
    pub idc: AddrSet,
}

impl Block {
    pub fn describe(&self) -> String {
        format!("{} ⇄ {}", self.vpc.display_list(), self.idc.display_list())
    }
}

fn list_blocks(b: &[Block]) -> String {
    if b.is_empty() {
        return "none".into();
    }
    b.iter().map(Block::describe).collect::<Vec<_>>().join("; ")
}

/// The part of `local × remote` that no SA covers (as the end holding `sas` sees it),
/// as a short list of rectangles. Each side is cut into atoms that every SA either
/// contains or misses; an atom pair is covered when one SA contains both atoms.
pub fn uncovered(
    local: &AddrSet,
    remote: &AddrSet,
    sas: &[SaSelectors],
) -> Vec<(AddrSet, AddrSet)> {
    let atoms = |whole: &AddrSet, side: &dyn Fn(&SaSelectors) -> &AddrSet| {
        let mut atoms = vec![whole.clone()];
        for sa in sas {
            let s = side(sa);
            atoms = atoms
                .into_iter()
                .flat_map(|a| [a.intersect(s), a.minus(s)])
                .filter(|a| !a.is_empty())
                .collect();
        }
        atoms
    };
    let local_atoms = atoms(local, &|s: &SaSelectors| &s.local);
    // For each local atom, the remote addresses no SA containing the atom carries.
    let mut out: Vec<(AddrSet, AddrSet)> = Vec::new();
    for la in local_atoms {
        let mut rem = remote.clone();
        for sa in sas {
            if la.is_subset(&sa.local) {
                rem = rem.minus(&sa.remote);
            }
        }
        if rem.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(_, r)| *r == rem) {
            Some((l, _)) => *l = l.union(&la),
            None => out.push((la, rem)),
        }
    }
    out.sort_by_key(|(l, r)| (l.intervals(), r.intervals()));
    out
}

/// Known endpoints (instances, on-prem hosts) with an address in `set`, as `id (addr)`.
pub fn endpoints_in(m: &Model, set: &AddrSet) -> Vec<String> {
    let mut v: Vec<String> = m
        .instances_in(set)
        .map(|i| format!("{} ({})", m.instances[i].id, m.instances[i].ip))
        .collect();
    for d in m.devices.iter() {
        if d.kind != DeviceKind::Host {
            continue;
        }
        if let Some(f) = d.interfaces.iter().find(|f| set.contains(f.addr)) {
            v.push(format!("{} ({})", d.id, f.addr));
        }
    }
    v
}

fn ike_version(v: &Option<String>) -> Option<IkeVersion> {
    v.as_deref().and_then(|s| IkeVersion::parse(s).ok())
}

/// The subnet pairs of a connection, VPC side first, in configured order.
fn pairs(c: &Connection) -> Vec<(Cidr, Cidr)> {
    let mut v = Vec::new();
    for l in dedup(&c.local_subnets) {
        for r in dedup(&c.remote_subnets) {
            v.push((l, r));
        }
    }
    v
}

/// The list without exact duplicates and without subnets inside an earlier-listed one.
pub fn dedup(list: &[Cidr]) -> Vec<Cidr> {
    let mut out: Vec<Cidr> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let n = c.network();
        let inside_other = list
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && o.network().contains(&n) && (o.network() != n || j < i));
        if !inside_other {
            out.push(Cidr(n));
        }
    }
    out
}

/// `--idc-sas DEVICE=FILE`: read a `swanctl --list-sas` listing and make it the `sas` of
/// DEVICE's `ipsec` entries in `topo`, so that the SA layout checks and the traces use
/// what the gateway actually negotiated. Returns notes on how the listing was read.
/// Errors name the file (unreadable, not a listing) or the argument (no such device).
pub fn idc_sas_arg(topo: &mut input::Topology, arg: &str) -> Result<Vec<String>, InputError> {
    let Some((device, file)) = arg.split_once('=') else {
        return Err(InputError::new(
            "--idc-sas",
            "",
            format!(
                "expected DEVICE=FILE (an on-prem device id and a `swanctl --list-sas` output \
                 file), got {arg:?}"
            ),
        ));
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| InputError::new(file, "", format!("cannot read the SA listing: {e}")))?;
    let listing = crate::input::swanctl::parse_list_sas(&text).map_err(|e| {
        InputError::new(file, "", format!("not a `swanctl --list-sas` listing: {e}"))
    })?;
    apply_listed_sas(topo, device, &listing)
        .map_err(|e| InputError::new("--idc-sas", "", e.to_string()))
}

/// Why a listing's SAs cannot be given to a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListedSasError {
    /// The topology has no on-prem device of that id; `known` lists the ids it has.
    NoDevice { device: String, known: Vec<String> },
    /// The device has no `ipsec` entry.
    NoIpsecEntry { device: String },
}

impl std::fmt::Display for ListedSasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListedSasError::NoDevice { device, known } => write!(
                f,
                "no on-prem device `{device}` in the topology (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            ListedSasError::NoIpsecEntry { device } => {
                write!(
                    f,
                    "device `{device}` has no ipsec entry to take the listed SAs"
                )
            }
        }
    }
}

impl std::error::Error for ListedSasError {}

/// Replace the `sas` of `device`'s `ipsec` entries by the installed CHILD_SAs of the
/// established IKE_SAs of `listing`. An IKE_SA belongs to the entries whose peer (or,
/// without one, the VPN gateway of its connection) is the IKE_SA's remote address; a
/// child goes to the first such entry whose configured subnets hold its selectors (else
/// the first whose subnets overlap them, else the first). An entry no IKE_SA belongs to
/// gets no SA. When no address matches but the device dials one peer and the listing
/// holds one established IKE_SA, that IKE_SA is taken for the peer (with a note).
pub fn apply_listed_sas(
    topo: &mut input::Topology,
    device: &str,
    listing: &[crate::input::swanctl::IkeSa],
) -> Result<Vec<String>, ListedSasError> {
    let vgw_ip = |conn: &str| -> Option<String> {
        let c = topo.cloud.ipsec_connections.iter().find(|c| c.id == conn)?;
        let g = topo
            .cloud
            .vpn_gateways
            .iter()
            .find(|g| g.id == c.vpn_gateway)?;
        Some(g.public_ip.addr().to_string())
    };
    let Some(d) = topo.onprem.devices.iter().position(|x| x.id == device) else {
        let known: Vec<&str> = topo.onprem.devices.iter().map(|x| x.id.as_str()).collect();
        return Err(ListedSasError::NoDevice {
            device: device.to_string(),
            known: known.iter().map(|k| k.to_string()).collect(),
        });
    };
    let peers: Vec<Option<String>> = topo.onprem.devices[d]
        .ipsec
        .iter()
        .map(|e| {
            e.peer
                .map(|p| p.addr().to_string())
                .or_else(|| vgw_ip(&e.connection))
        })
        .collect();
    if peers.is_empty() {
        return Err(ListedSasError::NoIpsecEntry {
            device: device.to_string(),
        });
    }
    let mut notes = Vec::new();
    let established: Vec<&crate::input::swanctl::IkeSa> =
        listing.iter().filter(|s| s.is_established()).collect();
    if established.is_empty() {
        notes.push(format!(
            "the listing holds no established IKE_SA: {device} has no SA (phase 1 is down on \
             this gateway)"
        ));
    }
    let mut distinct: Vec<&Option<String>> = peers.iter().collect();
    distinct.sort();
    distinct.dedup();
    let any_match = established.iter().any(|s| {
        peers
            .iter()
            .any(|p| p.as_deref() == Some(s.remote_addr.as_str()))
    });
    let stand_in = (!any_match && distinct.len() == 1 && established.len() == 1).then(|| {
        notes.push(format!(
            "the listed IKE_SA `{}` has peer {}, not {} as the topology says; taken as the \
             same peer",
            established[0].name,
            established[0].remote_addr,
            peers[0].as_deref().unwrap_or("(no peer)")
        ));
        established[0].remote_addr.clone()
    });
    let mut sas: Vec<Vec<input::Sa>> = vec![Vec::new(); peers.len()];
    let entries = &topo.onprem.devices[d].ipsec;
    for ike in &established {
        let mine: Vec<usize> = (0..peers.len())
            .filter(|&i| {
                peers[i].as_deref() == Some(ike.remote_addr.as_str())
                    || stand_in.as_deref() == Some(ike.remote_addr.as_str())
            })
            .collect();
        if mine.is_empty() {
            notes.push(format!(
                "IKE_SA `{}` with {} belongs to no ipsec entry of {device}; ignored",
                ike.name, ike.remote_addr
            ));
            continue;
        }
        for ch in ike.installed() {
            let l = AddrSet::from_cidrs(&ch.local);
            let r = AddrSet::from_cidrs(&ch.remote);
            let holds = |i: &usize| {
                l.is_subset(&AddrSet::from_cidrs(&entries[*i].local_subnets))
                    && r.is_subset(&AddrSet::from_cidrs(&entries[*i].remote_subnets))
            };
            let overlaps = |i: &usize| {
                !l.intersect(&AddrSet::from_cidrs(&entries[*i].local_subnets))
                    .is_empty()
                    && !r
                        .intersect(&AddrSet::from_cidrs(&entries[*i].remote_subnets))
                        .is_empty()
            };
            let i = mine
                .iter()
                .copied()
                .find(holds)
                .or_else(|| mine.iter().copied().find(overlaps))
                .unwrap_or(mine[0]);
            sas[i].push(input::Sa {
                local: ch.local.clone(),
                remote: ch.remote.clone(),
            });
            notes.push(format!(
                "{device}: CHILD_SA `{}` {} === {} → entry for {}",
                ch.name,
                join_cidrs(&ch.local),
                join_cidrs(&ch.remote),
                entries[i].connection
            ));
        }
        let down: Vec<&str> = ike
            .children
            .iter()
            .filter(|c| !c.is_installed())
            .map(|c| c.name.as_str())
            .collect();
        if !down.is_empty() {
            notes.push(format!(
                "{device}: CHILD_SA(s) {} not INSTALLED: they carry no traffic",
                down.join(", ")
            ));
        }
    }
    for (e, s) in topo.onprem.devices[d].ipsec.iter_mut().zip(sas) {
        e.sas = Some(s);
    }
    Ok(notes)
}

/// `s` with its first letter upper case.
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `VPC ⇄ IDC`.
fn pair_str(p: &(Cidr, Cidr)) -> String {
    format!("{} ⇄ {}", p.0, p.1)
}

/// One end of a connection as the checks see it.
struct End<'a> {
    /// `the VPN gateway vpn-1` / `IDC gateway idc-1`.
    name: String,
    device: String,
    sas: &'a [SaSelectors],
    assumed: bool,
    /// Uncovered traffic in VPC ⇄ IDC orientation.
    uncovered: Vec<Block>,
}

impl End<'_> {
    /// The SAs this end holds, `; ` separated, or `no SA`.
    fn sa_text(&self) -> String {
        if self.sas.is_empty() {
            "no SA".into()
        } else {
            self.sas
                .iter()
                .map(|s| s.describe())
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

/// The SA layout findings of every connection (FAQ 5), in connection order.
pub fn check(m: &Model) -> Vec<Finding> {
    let mut out = Vec::new();
    for (ci, c) in m.connections.iter().enumerate() {
        out.extend(check_connection(m, ci, c));
    }
    out
}

/// The findings of connection `c` (index `ci`): the subnet lists as written, then, when
/// it is established, the SA layout: IKEv1 with several pairs or IKEv2 with one SA per
/// pair (the FAQ 5 layouts), else SAs narrower than configured, else unmirrored SAs.
fn check_connection(m: &Model, ci: usize, c: &Connection) -> Vec<Finding> {
    let vgw = m.vpn_gateways[c.vpn_gateway].id.clone();
    let idc_entry: Option<(&str, &DeviceIpsec)> = crate::engine::trace::tunnel_endpoint(m, ci)
        .map(|(d, e)| (m.devices[d].id.as_str(), &m.devices[d].ipsec[e]));
    let mut out = written_lists(c, &vgw, idc_entry);
    if !c.established() {
        // No SA at all is a phase-1/2 problem (faq 1, 2), not a layout one.
        return out;
    }
    let l = Layout::new(m, c, vgw, idc_entry);
    let mut layout_error = false;
    let v1 = ike_version(&c.ike.version) == Some(IkeVersion::V1)
        || idc_entry.is_some_and(|(_, e)| ike_version(&e.ike.version) == Some(IkeVersion::V1));
    let v2 = ike_version(&c.ike.version) == Some(IkeVersion::V2);
    let per_pair = if v1 && l.prs.len() > 1 {
        Some(l.ikev1_pairs())
    } else if v2 {
        l.ikev2_sa_per_pair()
    } else {
        None
    };
    if let Some(f) = per_pair {
        layout_error = f.severity == Severity::Error;
        out.push(f);
    }
    if !layout_error {
        let narrower = l.narrower();
        layout_error = !narrower.is_empty();
        out.extend(narrower);
    }
    if !layout_error {
        out.extend(l.not_mirrored());
    }
    out
}

/// The subnet lists as written, on the connection and on its IDC entry: subnets listed
/// twice and local subnets that overlap remote ones.
fn written_lists(
    c: &Connection,
    vgw: &str,
    idc_entry: Option<(&str, &DeviceIpsec)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let here = format!("connection {}", c.id);
    let cloud = Place {
        device: vgw,
        where_: &here,
    };
    listed_twice(
        &mut out,
        c,
        &c.local_subnets,
        "local_subnets",
        &cloud,
        "VPC side",
    );
    listed_twice(
        &mut out,
        c,
        &c.remote_subnets,
        "remote_subnets",
        &cloud,
        "IDC side",
    );
    overlap(&mut out, c, &c.local_set, &c.remote_set, vgw, "connection");
    if let Some((dev, e)) = idc_entry {
        let there = format!("the ipsec entry of {dev} for {}", c.id);
        let idc = Place {
            device: dev,
            where_: &there,
        };
        listed_twice(
            &mut out,
            c,
            &e.local_subnets,
            "local_subnets",
            &idc,
            "IDC side",
        );
        listed_twice(
            &mut out,
            c,
            &e.remote_subnets,
            "remote_subnets",
            &idc,
            "VPC side",
        );
        overlap(
            &mut out,
            c,
            &AddrSet::from_cidrs(&e.local_subnets),
            &AddrSet::from_cidrs(&e.remote_subnets),
            dev,
            "ipsec entry",
        );
    }
    out
}

/// The SA layout of one established connection: both ends with what their SAs leave
/// uncovered.
struct Layout<'a> {
    m: &'a Model,
    c: &'a Connection,
    /// The VPN gateway's id.
    vgw: String,
    cloud: End<'a>,
    remote_end: Option<End<'a>>,
    /// What either end leaves uncovered, each block once.
    all_uncovered: Vec<Block>,
    any_uncovered: bool,
    /// The connection's configured local×remote subnet pairs.
    prs: Vec<(Cidr, Cidr)>,
    /// The `vpntrace split` command line for this connection.
    split_cmd: String,
}

impl<'a> Layout<'a> {
    fn new(
        m: &'a Model,
        c: &'a Connection,
        vgw: String,
        idc_entry: Option<(&str, &'a DeviceIpsec)>,
    ) -> Layout<'a> {
        let cloud = End {
            name: format!("the VPN gateway {vgw}"),
            device: vgw.clone(),
            sas: &c.sas,
            assumed: c.sas_assumed,
            uncovered: uncovered(&c.local_set, &c.remote_set, &c.sas)
                .into_iter()
                .map(|(l, r)| Block { vpc: l, idc: r })
                .collect(),
        };
        let remote_end = idc_entry.map(|(dev, e)| End {
            name: format!("IDC gateway {dev}"),
            device: dev.to_string(),
            sas: &e.sas,
            assumed: e.sas_assumed,
            uncovered: uncovered(
                &AddrSet::from_cidrs(&e.local_subnets),
                &AddrSet::from_cidrs(&e.remote_subnets),
                &e.sas,
            )
            .into_iter()
            .map(|(l, r)| Block { vpc: r, idc: l })
            .collect(),
        });
        let mut all_uncovered: Vec<Block> = Vec::new();
        for b in std::iter::once(&cloud)
            .chain(remote_end.as_ref())
            .flat_map(|e| e.uncovered.iter())
        {
            if !all_uncovered.contains(b) {
                all_uncovered.push(b.clone());
            }
        }
        Layout {
            m,
            c,
            split_cmd: format!("vpntrace split TOPOLOGY --connection {}", c.id),
            vgw,
            any_uncovered: !all_uncovered.is_empty(),
            all_uncovered,
            cloud,
            remote_end,
            prs: pairs(c),
        }
    }

    /// The VPN gateway's end, then the IDC gateway's when modelled.
    fn ends(&self) -> Vec<&End<'a>> {
        std::iter::once(&self.cloud)
            .chain(self.remote_end.as_ref())
            .collect()
    }

    /// The VPC side and IDC side prefixes of `blocks`.
    fn traffic(blocks: &[Block]) -> (Vec<Cidr>, Vec<Cidr>) {
        let vpc = blocks.iter().fold(AddrSet::new(), |a, b| a.union(&b.vpc));
        let idc = blocks.iter().fold(AddrSet::new(), |a, b| a.union(&b.idc));
        (vpc.cidrs(), idc.cidrs())
    }

    /// Example endpoint pairs in `blocks` (`a, b ⇄ c; …`) and every endpoint in them.
    fn failing_endpoints(&self, blocks: &[Block]) -> (String, Vec<String>) {
        let mut all = Vec::new();
        let mut parts = Vec::new();
        for b in blocks {
            let v = endpoints_in(self.m, &b.vpc);
            let i = endpoints_in(self.m, &b.idc);
            if !v.is_empty() && !i.is_empty() {
                parts.push(format!("{} ⇄ {}", v.join(", "), i.join(", ")));
            }
            for e in v.into_iter().chain(i) {
                if !all.contains(&e) {
                    all.push(e);
                }
            }
        }
        (parts.join("; "), all)
    }

    /// `not covered on END: BLOCKS` for every end, `; ` separated.
    fn coverage_text(&self) -> String {
        self.ends()
            .iter()
            .map(|e| format!("not covered on {}: {}", e.name, list_blocks(&e.uncovered)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `traffic between VPC … and IDC … fails in both directions (e.g. …)`.
    fn fails_sentence(&self, blocks: &[Block]) -> String {
        let (eg, _) = self.failing_endpoints(blocks);
        format!(
            "traffic {} fails in both directions{}",
            blocks
                .iter()
                .map(|b| format!(
                    "between VPC {} and IDC {}",
                    b.vpc.display_list(),
                    b.idc.display_list()
                ))
                .collect::<Vec<_>>()
                .join(" and "),
            if eg.is_empty() {
                String::new()
            } else {
                format!(" (e.g. {eg})")
            }
        )
    }

    /// `IKEV1_MULTIPLE_SUBNET_PAIRS`: IKEv1 with several pairs; an error when a pair has
    /// no SA, else a warning (a renegotiation may drop all but the first pair).
    fn ikev1_pairs(&self) -> Finding {
        let (c, prs) = (self.c, &self.prs);
        let at_risk: Vec<String> = prs.iter().skip(1).map(pair_str).collect();
        let mut msg = format!(
            "connection {} uses IKEv1 with {} subnet pairs ({}). IKEv1 Quick Mode negotiates \
             one selector pair per SA: some gateways negotiate one SA per pair, others \
             (strongSwan) silently use only the first pair of a multi-subnet child, so every \
             pair but the first ({}) is at risk: {}",
            c.id,
            prs.len(),
            prs.iter().map(pair_str).collect::<Vec<_>>().join(", "),
            pair_str(&prs[0]),
            at_risk.join(", ")
        );
        let sev = if self.any_uncovered {
            msg.push_str(&format!(
                ". The SAs confirm it: {} ({}); {}",
                self.coverage_text(),
                self.ends()
                    .iter()
                    .map(|e| format!("{} holds {}", e.name, e.sa_text()))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.fails_sentence(&self.all_uncovered)
            ));
            Severity::Error
        } else {
            msg.push_str(
                ". Every pair has an SA today, but a renegotiation may drop all but the first",
            );
            Severity::Warning
        };
        let fix = format!(
            "switch both ends to IKEv2 (Alibaba IkeConfig IkeVersion=ikev2, strongSwan \
             `version = 2`), which carries every selector in one SA; or split the connection \
             into one connection per subnet pair with identical phase-1 settings (`{}`)",
            self.split_cmd
        );
        let (src, dst) = if self.any_uncovered {
            Self::traffic(&self.all_uncovered)
        } else {
            let rest: Vec<Block> = prs
                .iter()
                .skip(1)
                .map(|(l, r)| Block {
                    vpc: AddrSet::from_cidrs([l]),
                    idc: AddrSet::from_cidrs([r]),
                })
                .collect();
            Self::traffic(&rest)
        };
        let device = if self.cloud.uncovered.is_empty() {
            self.remote_end
                .as_ref()
                .filter(|e| !e.uncovered.is_empty())
                .map_or(self.vgw.clone(), |e| e.device.clone())
        } else {
            self.vgw.clone()
        };
        let mut f = Finding::new(Code::IkeV1MultipleSubnetPairs, sev, 5, msg, fix)
            .with_connection(&c.id)
            .with_device(device)
            .with_traffic(src, dst);
        f.endpoints = self.failing_endpoints(&self.all_uncovered).1;
        f.change = Some(Change::SwitchToIkev2 {
            connection: c.id.clone(),
        });
        f.vendor_fix = vec![
            format!(
                "Alibaba Cloud API: ModifyVpnConnectionAttribute VpnConnectionId={} \
                 IkeConfig={{\"IkeVersion\":\"ikev2\"}}",
                c.id
            ),
            "strongSwan swanctl.conf: connections.<conn>.version = 2".into(),
        ];
        f
    }

    /// `IKEV2_SA_PER_SUBNET_PAIR`: IKEv2 where one end holds one SA and the other several
    /// (both ends' SAs known); an error when a pair has no SA, else a warning.
    fn ikev2_sa_per_pair(&self) -> Option<Finding> {
        let (c, cloud) = (self.c, &self.cloud);
        let r = self.remote_end.as_ref().filter(|r| !r.assumed)?;
        if cloud.assumed {
            return None;
        }
        let (one, many) = match (cloud.sas.len(), r.sas.len()) {
            (1, n) if n > 1 => (cloud, r),
            (n, 1) if n > 1 => (r, cloud),
            _ => return None,
        };
        let sev = if self.any_uncovered {
            Severity::Error
        } else {
            Severity::Warning
        };
        let standard = format!(
            "{} === {}",
            join_cidrs(&dedup(&c.remote_subnets)),
            join_cidrs(&dedup(&c.local_subnets))
        );
        let mut msg = format!(
            "connection {} (IKEv2): {} holds {} SAs ({}) but {} holds one ({}). {} negotiated \
             one SA per subnet pair, which is non-standard IKEv2: a standard peer holds one SA \
             carrying every selector (from the IDC: {}). ",
            c.id,
            many.name,
            many.sas.len(),
            many.sa_text(),
            one.name,
            one.sa_text(),
            if many.device == self.vgw {
                "The VPN gateway"
            } else {
                "The IDC gateway"
            },
            standard
        );
        if self.any_uncovered {
            msg.push_str(&format!(
                "{}; {}",
                capitalize(&self.coverage_text()),
                self.fails_sentence(&self.all_uncovered)
            ));
        } else {
            msg.push_str(
                "Both ends still cover every configured pair, but the layouts differ and the \
                 next rekey may leave a pair without an SA",
            );
        }
        let fix = format!(
            "split connection {} into one connection per subnet pair (FAQ 5: e.g. A = {}), all \
             with identical phase-1 settings since they share the IKE SA (`{}`)",
            c.id,
            self.prs.first().map(pair_str).unwrap_or_default(),
            self.split_cmd
        );
        let device = if !cloud.uncovered.is_empty() {
            self.vgw.clone()
        } else if !r.uncovered.is_empty() {
            r.device.clone()
        } else {
            one.device.clone()
        };
        let (src, dst) = Self::traffic(&self.all_uncovered);
        let mut f = Finding::new(Code::IkeV2SaPerSubnetPair, sev, 5, msg, fix)
            .with_connection(&c.id)
            .with_device(device)
            .with_traffic(src, dst);
        f.endpoints = self.failing_endpoints(&self.all_uncovered).1;
        f.change = Some(Change::SplitConnection {
            connection: c.id.clone(),
        });
        Some(f)
    }

    /// `SA_COVERS_LESS_THAN_CONFIGURED` for each end whose known SAs leave part of its
    /// configured pairs uncovered.
    fn narrower(&self) -> Vec<Finding> {
        let c = self.c;
        let mut out = Vec::new();
        for e in self.ends() {
            if e.uncovered.is_empty() || e.assumed {
                continue;
            }
            let (src, dst) = Self::traffic(&e.uncovered);
            let msg = format!(
                "{} holds SAs for connection {} ({}) that cover less than the configured \
                 subnets: {}; {}",
                e.name,
                c.id,
                e.sa_text(),
                format_args!("not covered: {}", list_blocks(&e.uncovered)),
                self.fails_sentence(&e.uncovered)
            );
            let fix = if self.prs.len() > 1 {
                format!(
                    "renegotiate connection {} so its SAs carry every configured pair; if the \
                     ends keep negotiating one SA per pair, split it into one connection per \
                     pair (`{}`)",
                    c.id, self.split_cmd
                )
            } else {
                format!(
                    "make both ends configure the same subnets for connection {} and \
                     renegotiate (reset the connection) so the SA carries them",
                    c.id
                )
            };
            let mut f = Finding::error(Code::SaCoversLessThanConfigured, 5, msg, fix)
                .with_connection(&c.id)
                .with_device(&e.device)
                .with_traffic(src, dst);
            f.endpoints = self.failing_endpoints(&e.uncovered).1;
            out.push(f);
        }
        out
    }

    /// `SA_NOT_MIRRORED`: SAs whose selectors the other end holds no mirror of (when at
    /// least one end's SAs are known).
    fn not_mirrored(&self) -> Option<Finding> {
        let (c, cloud) = (self.c, &self.cloud);
        let r = self
            .remote_end
            .as_ref()
            .filter(|r| !r.assumed || !cloud.assumed)?;
        let mirrored = |a: &SaSelectors, others: &[SaSelectors]| {
            others
                .iter()
                .any(|o| o.local == a.remote && o.remote == a.local)
        };
        let lonely = |e: &End, other: &End| -> Vec<String> {
            e.sas
                .iter()
                .filter(|s| !mirrored(s, other.sas))
                .map(|s| s.describe())
                .collect()
        };
        let lonely_cloud = lonely(cloud, r);
        let lonely_idc = lonely(r, cloud);
        if lonely_cloud.is_empty() && lonely_idc.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        for (e, other, l) in [(cloud, r, &lonely_cloud), (r, cloud, &lonely_idc)] {
            if !l.is_empty() {
                parts.push(format!(
                    "{} holds {} with no mirror on {}",
                    e.name,
                    l.join("; "),
                    other.name
                ));
            }
        }
        let msg = format!(
            "the SAs of connection {} are not mirrored: {}. Traffic selectors should be the \
             same on both ends with local and remote swapped",
            c.id,
            parts.join("; ")
        );
        let fix = format!(
            "configure the same subnets on both ends of connection {} (the IDC's local = \
             Alibaba's RemoteSubnet, its remote = LocalSubnet) and reset the connection",
            c.id
        );
        let device = if lonely_cloud.is_empty() {
            r.device.clone()
        } else {
            self.vgw.clone()
        };
        Some(
            Finding::warning(Code::SaNotMirrored, 5, msg, fix)
                .with_connection(&c.id)
                .with_device(device),
        )
    }
}

/// Where a subnet list is written: the device holding it and the text naming it
/// (`connection vco-1`, `the ipsec entry of idc-1 for vco-1`).
struct Place<'a> {
    device: &'a str,
    where_: &'a str,
}

/// `SUBNET_LISTED_TWICE` for each subnet of `list` (field `field`, on `side`) listed
/// twice or inside another listed subnet.
fn listed_twice(
    out: &mut Vec<Finding>,
    c: &Connection,
    list: &[Cidr],
    field: &str,
    place: &Place,
    side: &str,
) {
    let (device, where_) = (place.device, place.where_);
    for (i, x) in list.iter().enumerate() {
        let n = x.network();
        let dup = list
            .iter()
            .enumerate()
            .find(|(j, o)| *j != i && o.network().contains(&n) && (o.network() != n || *j < i));
        if let Some((_, o)) = dup {
            let how = if o.network() == n {
                format!("{} is listed twice in {} ({})", Cidr(n), field, side)
            } else {
                format!(
                    "{} in {} ({}) lies inside {}, also listed",
                    Cidr(n),
                    field,
                    side,
                    o
                )
            };
            let msg = format!("{where_}: {how}; each listed subnet becomes a selector of its own, which multiplies the subnet pairs (and the SAs a per-pair peer negotiates) without adding reach");
            let fix = format!("remove {} from {} of {where_}", Cidr(n), field);
            out.push(
                Finding::warning(Code::SubnetListedTwice, 5, msg, fix)
                    .with_connection(&c.id)
                    .with_device(device),
            );
        }
    }
}

/// `SUBNETS_OVERLAP` when `local` and `remote` (of the connection or, `what` = `ipsec
/// entry`, of `device`'s entry) overlap.
fn overlap(
    out: &mut Vec<Finding>,
    c: &Connection,
    local: &AddrSet,
    remote: &AddrSet,
    device: &str,
    what: &str,
) {
    let both = local.intersect(remote);
    if both.is_empty() {
        return;
    }
    let where_ = if what == "connection" {
        format!("connection {}", c.id)
    } else {
        format!("the ipsec entry of {device} for {}", c.id)
    };
    let msg = format!(
        "{where_} has local subnets {} and remote subnets {} that overlap in {}: those addresses are on both sides, so routing and the traffic selectors cannot tell which side holds them",
        local.display_list(),
        remote.display_list(),
        both.display_list()
    );
    let fix = format!("make the local and remote subnets of {where_} disjoint (list the IDC's networks precisely, not a summary that includes the VPC)");
    out.push(
        Finding::error(Code::SubnetsOverlap, 5, msg, fix)
            .with_connection(&c.id)
            .with_device(device)
            .with_traffic(both.cidrs(), both.cidrs()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }
    fn set(v: &[&str]) -> AddrSet {
        AddrSet::from_cidrs(&v.iter().map(|s| c(s)).collect::<Vec<_>>())
    }
    fn sa(l: &[&str], r: &[&str]) -> SaSelectors {
        let l: Vec<Cidr> = l.iter().map(|s| c(s)).collect();
        let r: Vec<Cidr> = r.iter().map(|s| c(s)).collect();
        SaSelectors::new(&l, &r)
    }

    /// A one-connection topology: cloud local/remote subnets and SAs, IDC SAs (IDC
    /// orientation), IKE version.
    fn topo(local: &str, remote: &str, cloud_sas: &str, idc_sas: &str, version: &str) -> Model {
        let s = format!(
            r#"{{"format": 1, "name": "t",
              "cloud": {{
                "vpc": {{"id": "vpc-1", "cidrs": ["10.0.0.0/8", "172.16.0.0/12"]}},
                "vswitches": [{{"id": "vsw-1", "cidr": "10.1.0.0/24"}}],
                "route_tables": [{{"id": "vtb-1", "entries": []}}],
                "instances": [{{"id": "ecs-1", "ip": "10.1.0.10", "vswitch": "vsw-1"}}],
                "vpn_gateways": [{{"id": "vpn-1", "public_ip": "47.0.0.1"}}],
                "customer_gateways": [{{"id": "cgw-1", "ip": "203.0.113.1"}}],
                "ipsec_connections": [{{"id": "vco-1", "vpn_gateway": "vpn-1",
                  "customer_gateway": "cgw-1", "local_subnets": {local},
                  "remote_subnets": {remote}, "ike": {{"version": "{version}"}},
                  "status": "ipsec_sa_established", "sas": {cloud_sas}}}]
              }},
              "onprem": {{"devices": [{{"id": "gw-1", "kind": "gateway",
                "interfaces": [{{"name": "wan", "address": "203.0.113.1/24", "role": "outside"}},
                               {{"name": "lan", "address": "192.168.1.1/24"}}],
                "ipsec": [{{"connection": "vco-1", "mode": "policy", "interface": "wan",
                  "local_subnets": {remote}, "remote_subnets": {local},
                  "ike": {{"version": "{version}"}}, "sas": {idc_sas}}}]}},
                {{"id": "db-1", "kind": "host",
                  "interfaces": [{{"name": "eth0", "address": "192.168.1.20/24"}}]}}]}}
            }}"#
        );
        let t = crate::model::parse("t.json", &s).unwrap();
        crate::model::lower("t.json", &t).unwrap()
    }

    fn codes(m: &Model) -> Vec<Code> {
        check(m).iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_16_carried_by_two_17s_is_covered() {
        let sas = [
            sa(&["10.0.0.0/17"], &["192.168.0.0/16"]),
            sa(&["10.0.128.0/17"], &["192.168.0.0/16"]),
        ];
        assert!(uncovered(&set(&["10.0.0.0/16"]), &set(&["192.168.0.0/16"]), &sas).is_empty());
        let one = [sa(&["10.0.0.0/17"], &["192.168.0.0/16"])];
        let u = uncovered(&set(&["10.0.0.0/16"]), &set(&["192.168.0.0/16"]), &one);
        assert_eq!(u, vec![(set(&["10.0.128.0/17"]), set(&["192.168.0.0/16"]))]);
    }

    #[test]
    fn uncovered_is_per_pair_not_per_side() {
        // Both local and both remote subnets appear in some SA, but not every pair.
        let sas = [
            sa(&["10.1.0.0/24"], &["192.168.1.0/24"]),
            sa(&["10.2.0.0/24"], &["192.168.2.0/24"]),
        ];
        let u = uncovered(
            &set(&["10.1.0.0/24", "10.2.0.0/24"]),
            &set(&["192.168.1.0/24", "192.168.2.0/24"]),
            &sas,
        );
        assert_eq!(
            u,
            vec![
                (set(&["10.1.0.0/24"]), set(&["192.168.2.0/24"])),
                (set(&["10.2.0.0/24"]), set(&["192.168.1.0/24"])),
            ]
        );
    }

    #[test]
    fn one_sa_against_several_is_the_faq5_layout() {
        let m = topo(
            r#"["10.1.0.0/24"]"#,
            r#"["192.168.1.0/24", "192.168.2.0/24"]"#,
            r#"[{"local": ["10.1.0.0/24"], "remote": ["192.168.2.0/24"]}]"#,
            r#"[{"local": ["192.168.1.0/24"], "remote": ["10.1.0.0/24"]},
                {"local": ["192.168.2.0/24"], "remote": ["10.1.0.0/24"]}]"#,
            "ikev2",
        );
        let f = check(&m);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].code, Code::IkeV2SaPerSubnetPair);
        assert!(f[0].is_error());
        assert_eq!(f[0].device.as_deref(), Some("vpn-1"));
        assert_eq!(f[0].source, vec![c("10.1.0.0/24")]);
        assert_eq!(f[0].destination, vec![c("192.168.1.0/24")]);
        assert!(
            f[0].message.contains("10.1.0.0/24 ⇄ 192.168.1.0/24"),
            "{}",
            f[0].message
        );
        assert!(f[0]
            .message
            .contains("ecs-1 (10.1.0.10) ⇄ db-1 (192.168.1.20)"));
    }

    #[test]
    fn one_sa_per_pair_on_both_ends_covering_everything_is_fine() {
        let both = r#"[{"local": ["10.1.0.0/24"], "remote": ["192.168.1.0/24"]},
                       {"local": ["10.1.0.0/24"], "remote": ["192.168.2.0/24"]}]"#;
        let idc = r#"[{"local": ["192.168.1.0/24"], "remote": ["10.1.0.0/24"]},
                      {"local": ["192.168.2.0/24"], "remote": ["10.1.0.0/24"]}]"#;
        let m = topo(
            r#"["10.1.0.0/24"]"#,
            r#"["192.168.1.0/24", "192.168.2.0/24"]"#,
            both,
            idc,
            "ikev2",
        );
        assert_eq!(codes(&m), Vec::<&str>::new());
    }

    #[test]
    fn ikev1_with_two_pairs_warns_even_when_covered_and_errs_when_not() {
        let covered = topo(
            r#"["10.1.0.0/24"]"#,
            r#"["192.168.1.0/24", "192.168.2.0/24"]"#,
            r#"[{"local": ["10.1.0.0/24"], "remote": ["192.168.1.0/24", "192.168.2.0/24"]}]"#,
            r#"[{"local": ["192.168.1.0/24", "192.168.2.0/24"], "remote": ["10.1.0.0/24"]}]"#,
            "ikev1",
        );
        let f = check(&covered);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::IkeV1MultipleSubnetPairs);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0]
            .message
            .contains("at risk: 10.1.0.0/24 ⇄ 192.168.2.0/24"));
        let first_only = topo(
            r#"["10.1.0.0/24"]"#,
            r#"["192.168.1.0/24", "192.168.2.0/24"]"#,
            r#"[{"local": ["10.1.0.0/24"], "remote": ["192.168.1.0/24"]}]"#,
            r#"[{"local": ["192.168.1.0/24"], "remote": ["10.1.0.0/24"]}]"#,
            "ikev1",
        );
        let f = check(&first_only);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].destination, vec![c("192.168.2.0/24")]);
    }

    #[test]
    fn narrower_sa_and_unmirrored_sa() {
        // The cloud SA carries half the VPC subnet: covers less than configured.
        let m = topo(
            r#"["10.1.0.0/24"]"#,
            r#"["192.168.1.0/24"]"#,
            r#"[{"local": ["10.1.0.0/25"], "remote": ["192.168.1.0/24"]}]"#,
            r#"[{"local": ["192.168.1.0/24"], "remote": ["10.1.0.0/24"]}]"#,
            "ikev2",
        );
        let f = check(&m);
        assert_eq!(codes(&m), vec![Code::SaCoversLessThanConfigured], "{f:#?}");
        assert_eq!(f[0].source, vec![c("10.1.0.128/25")]);
        // The IDC's SA is wider than its configuration: covered, but not mirrored.
        let m = topo(
            r#"["10.1.0.0/24"]"#,
            r#"["192.168.1.0/24"]"#,
            r#"[{"local": ["10.1.0.0/24"], "remote": ["192.168.1.0/24"]}]"#,
            r#"[{"local": ["192.168.0.0/16"], "remote": ["10.1.0.0/24"]}]"#,
            "ikev2",
        );
        assert_eq!(codes(&m), vec![Code::SaNotMirrored]);
    }

    #[test]
    fn overlap_and_duplicates() {
        let m = topo(
            r#"["10.1.0.0/24", "10.1.0.0/24"]"#,
            r#"["10.0.0.0/8"]"#,
            r#"[{"local": ["10.1.0.0/24"], "remote": ["10.0.0.0/8"]}]"#,
            r#"[{"local": ["10.0.0.0/8"], "remote": ["10.1.0.0/24"]}]"#,
            "ikev2",
        );
        let got = codes(&m);
        assert!(got.contains(&Code::SubnetListedTwice), "{got:?}");
        assert!(got.contains(&Code::SubnetsOverlap), "{got:?}");
        assert_eq!(
            dedup(&[c("10.1.0.0/24"), c("10.0.0.0/8"), c("10.1.0.0/24")]),
            vec![c("10.0.0.0/8")]
        );
    }
}
