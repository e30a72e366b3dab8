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

use serde_json::json;

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
        .instances
        .iter()
        .filter(|i| set.contains(i.ip))
        .map(|i| format!("{} ({})", i.id, i.ip))
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
            format!("expected DEVICE=FILE (an on-prem device id and a `swanctl --list-sas` output file), got {arg:?}"),
        ));
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| InputError::new(file, "", format!("cannot read the SA listing: {e}")))?;
    let listing = crate::input::swanctl::parse_list_sas(&text).map_err(|e| {
        InputError::new(file, "", format!("not a `swanctl --list-sas` listing: {e}"))
    })?;
    apply_listed_sas(topo, device, &listing).map_err(|e| InputError::new("--idc-sas", "", e))
}

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
) -> Result<Vec<String>, String> {
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
        return Err(format!(
            "no on-prem device `{device}` in the topology (it has: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
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
        return Err(format!(
            "device `{device}` has no ipsec entry to take the listed SAs"
        ));
    }
    let mut notes = Vec::new();
    let established: Vec<&crate::input::swanctl::IkeSa> =
        listing.iter().filter(|s| s.is_established()).collect();
    if established.is_empty() {
        notes.push(format!(
            "the listing holds no established IKE_SA: {device} has no SA (phase 1 is down on this gateway)"
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
            "the listed IKE_SA `{}` has peer {}, not {} as the topology says; taken as the same peer",
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

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

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

/// The SA layout findings of every connection (FAQ 5), in connection order.
pub fn check(m: &Model) -> Vec<Finding> {
    let mut out = Vec::new();
    for (ci, c) in m.connections.iter().enumerate() {
        out.extend(check_connection(m, ci, c));
    }
    out
}

fn check_connection(m: &Model, ci: usize, c: &Connection) -> Vec<Finding> {
    let mut out = Vec::new();
    let vgw = m.vpn_gateways[c.vpn_gateway].id.clone();
    let idc = crate::engine::trace::tunnel_endpoint(m, ci);
    let idc_entry: Option<(&str, &DeviceIpsec)> =
        idc.map(|(d, e)| (m.devices[d].id.as_str(), &m.devices[d].ipsec[e]));

    // Lists as written.
    let here = format!("connection {}", c.id);
    listed_twice(
        &mut out,
        c,
        &c.local_subnets,
        "local_subnets",
        &vgw,
        &here,
        "VPC side",
    );
    listed_twice(
        &mut out,
        c,
        &c.remote_subnets,
        "remote_subnets",
        &vgw,
        &here,
        "IDC side",
    );
    overlap(&mut out, c, &c.local_set, &c.remote_set, &vgw, "connection");
    if let Some((dev, e)) = idc_entry {
        let there = format!("the ipsec entry of {dev} for {}", c.id);
        listed_twice(
            &mut out,
            c,
            &e.local_subnets,
            "local_subnets",
            dev,
            &there,
            "IDC side",
        );
        listed_twice(
            &mut out,
            c,
            &e.remote_subnets,
            "remote_subnets",
            dev,
            &there,
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

    if !c.established() {
        // No SA at all is a phase-1/2 problem (faq 1, 2), not a layout one.
        return out;
    }

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
    let ends: Vec<&End> = std::iter::once(&cloud).chain(remote_end.as_ref()).collect();
    let any_uncovered = ends.iter().any(|e| !e.uncovered.is_empty());
    let mut all_uncovered: Vec<Block> = Vec::new();
    for b in ends.iter().flat_map(|e| e.uncovered.iter()) {
        if !all_uncovered.contains(b) {
            all_uncovered.push(b.clone());
        }
    }
    let traffic = |blocks: &[Block]| -> (Vec<Cidr>, Vec<Cidr>) {
        let vpc = blocks.iter().fold(AddrSet::new(), |a, b| a.union(&b.vpc));
        let idc = blocks.iter().fold(AddrSet::new(), |a, b| a.union(&b.idc));
        (vpc.cidrs(), idc.cidrs())
    };
    let failing_endpoints = |blocks: &[Block]| -> (String, Vec<String>) {
        let mut all = Vec::new();
        let mut parts = Vec::new();
        for b in blocks {
            let v = endpoints_in(m, &b.vpc);
            let i = endpoints_in(m, &b.idc);
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
    };
    let coverage_text = |ends: &[&End]| -> String {
        ends.iter()
            .map(|e| format!("not covered on {}: {}", e.name, list_blocks(&e.uncovered)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let sa_text = |e: &End| -> String {
        if e.sas.is_empty() {
            "no SA".into()
        } else {
            e.sas
                .iter()
                .map(|s| s.describe())
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    let split_cmd = format!("vpntrace split TOPOLOGY --connection {}", c.id);
    let fails_sentence = |blocks: &[Block]| -> String {
        let (eg, _) = failing_endpoints(blocks);
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
    };

    let mut layout_error = false;
    let v1 = ike_version(&c.ike.version) == Some(IkeVersion::V1)
        || idc_entry.is_some_and(|(_, e)| ike_version(&e.ike.version) == Some(IkeVersion::V1));
    let v2 = ike_version(&c.ike.version) == Some(IkeVersion::V2);
    let prs = pairs(c);

    if v1 && prs.len() > 1 {
        let at_risk: Vec<String> = prs.iter().skip(1).map(pair_str).collect();
        let mut msg = format!(
            "connection {} uses IKEv1 with {} subnet pairs ({}). IKEv1 Quick Mode negotiates one selector pair per SA: some gateways negotiate one SA per pair, others (strongSwan) silently use only the first pair of a multi-subnet child, so every pair but the first ({}) is at risk: {}",
            c.id,
            prs.len(),
            prs.iter().map(pair_str).collect::<Vec<_>>().join(", "),
            pair_str(&prs[0]),
            at_risk.join(", ")
        );
        let sev = if any_uncovered {
            msg.push_str(&format!(
                ". The SAs confirm it: {} ({}); {}",
                coverage_text(&ends),
                ends.iter()
                    .map(|e| format!("{} holds {}", e.name, sa_text(e)))
                    .collect::<Vec<_>>()
                    .join(", "),
                fails_sentence(&all_uncovered)
            ));
            Severity::Error
        } else {
            msg.push_str(
                ". Every pair has an SA today, but a renegotiation may drop all but the first",
            );
            Severity::Warning
        };
        let fix = format!(
            "switch both ends to IKEv2 (Alibaba IkeConfig IkeVersion=ikev2, strongSwan `version = 2`), which carries every selector in one SA; or split the connection into one connection per subnet pair with identical phase-1 settings (`{split_cmd}`)"
        );
        let (src, dst) = if any_uncovered {
            traffic(&all_uncovered)
        } else {
            let rest: Vec<Block> = prs
                .iter()
                .skip(1)
                .map(|(l, r)| Block {
                    vpc: AddrSet::from_cidrs([l]),
                    idc: AddrSet::from_cidrs([r]),
                })
                .collect();
            traffic(&rest)
        };
        let device = if cloud.uncovered.is_empty() {
            remote_end
                .as_ref()
                .filter(|e| !e.uncovered.is_empty())
                .map_or(vgw.clone(), |e| e.device.clone())
        } else {
            vgw.clone()
        };
        let mut f = Finding::new(Code::IkeV1MultipleSubnetPairs, sev, 5, msg, fix)
            .with_connection(&c.id)
            .with_device(device)
            .with_traffic(src, dst);
        f.endpoints = failing_endpoints(&all_uncovered).1;
        f.change = Some(
            json!({"op": "set_ike_version", "connection": c.id, "version": "ikev2", "alternative": {"op": "split_connection", "connection": c.id}}),
        );
        f.vendor_fix = vec![
            format!("Alibaba Cloud API: ModifyVpnConnectionAttribute VpnConnectionId={} IkeConfig={{\"IkeVersion\":\"ikev2\"}}", c.id),
            "strongSwan swanctl.conf: connections.<conn>.version = 2".into(),
        ];
        layout_error = sev == Severity::Error;
        out.push(f);
    } else if v2 && !cloud.assumed && remote_end.as_ref().is_some_and(|e| !e.assumed) {
        let r = remote_end.as_ref().unwrap();
        let (one, many) = match (cloud.sas.len(), r.sas.len()) {
            (1, n) if n > 1 => (Some(&cloud), Some(r)),
            (n, 1) if n > 1 => (Some(r), Some(&cloud)),
            _ => (None, None),
        };
        if let (Some(one), Some(many)) = (one, many) {
            let sev = if any_uncovered {
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
                "connection {} (IKEv2): {} holds {} SAs ({}) but {} holds one ({}). {} negotiated one SA per subnet pair, which is non-standard IKEv2: a standard peer holds one SA carrying every selector (from the IDC: {}). ",
                c.id, many.name, many.sas.len(), sa_text(many), one.name, sa_text(one), if many.device == vgw { "The VPN gateway" } else { "The IDC gateway" }, standard
            );
            if any_uncovered {
                msg.push_str(&format!(
                    "{}; {}",
                    capitalize(&coverage_text(&ends)),
                    fails_sentence(&all_uncovered)
                ));
            } else {
                msg.push_str("Both ends still cover every configured pair, but the layouts differ and the next rekey may leave a pair without an SA");
            }
            let fix = format!(
                "split connection {} into one connection per subnet pair (FAQ 5: e.g. A = {}), all with identical phase-1 settings since they share the IKE SA (`{split_cmd}`)",
                c.id,
                prs.first().map(pair_str).unwrap_or_default()
            );
            let device = if !cloud.uncovered.is_empty() {
                vgw.clone()
            } else if !r.uncovered.is_empty() {
                r.device.clone()
            } else {
                one.device.clone()
            };
            let (src, dst) = traffic(&all_uncovered);
            let mut f = Finding::new(Code::IkeV2SaPerSubnetPair, sev, 5, msg, fix)
                .with_connection(&c.id)
                .with_device(device)
                .with_traffic(src, dst);
            f.endpoints = failing_endpoints(&all_uncovered).1;
            f.change = Some(json!({"op": "split_connection", "connection": c.id}));
            layout_error = sev == Severity::Error;
            out.push(f);
        }
    }

    if !layout_error {
        for e in &ends {
            if e.uncovered.is_empty() || e.assumed {
                continue;
            }
            let (src, dst) = traffic(&e.uncovered);
            let msg = format!(
                "{} holds SAs for connection {} ({}) that cover less than the configured subnets: {}; {}",
                e.name,
                c.id,
                sa_text(e),
                format_args!("not covered: {}", list_blocks(&e.uncovered)),
                fails_sentence(&e.uncovered)
            );
            let fix = if prs.len() > 1 {
                format!("renegotiate connection {} so its SAs carry every configured pair; if the ends keep negotiating one SA per pair, split it into one connection per pair (`{split_cmd}`)", c.id)
            } else {
                format!("make both ends configure the same subnets for connection {} and renegotiate (reset the connection) so the SA carries them", c.id)
            };
            let mut f = Finding::error(Code::SaCoversLessThanConfigured, 5, msg, fix)
                .with_connection(&c.id)
                .with_device(&e.device)
                .with_traffic(src, dst);
            f.endpoints = failing_endpoints(&e.uncovered).1;
            layout_error = true;
            out.push(f);
        }
    }

    if !layout_error {
        if let Some(r) = remote_end.as_ref().filter(|r| !r.assumed || !cloud.assumed) {
            let mirrored = |a: &SaSelectors, others: &[SaSelectors]| {
                others
                    .iter()
                    .any(|o| o.local == a.remote && o.remote == a.local)
            };
            let lonely_cloud: Vec<String> = cloud
                .sas
                .iter()
                .filter(|s| !mirrored(s, r.sas))
                .map(|s| s.describe())
                .collect();
            let lonely_idc: Vec<String> = r
                .sas
                .iter()
                .filter(|s| !mirrored(s, cloud.sas))
                .map(|s| s.describe())
                .collect();
            if !lonely_cloud.is_empty() || !lonely_idc.is_empty() {
                let mut parts = Vec::new();
                if !lonely_cloud.is_empty() {
                    parts.push(format!(
                        "{} holds {} with no mirror on {}",
                        cloud.name,
                        lonely_cloud.join("; "),
                        r.name
                    ));
                }
                if !lonely_idc.is_empty() {
                    parts.push(format!(
                        "{} holds {} with no mirror on {}",
                        r.name,
                        lonely_idc.join("; "),
                        cloud.name
                    ));
                }
                let msg = format!(
                    "the SAs of connection {} are not mirrored: {}. Traffic selectors should be the same on both ends with local and remote swapped",
                    c.id,
                    parts.join("; ")
                );
                let fix = format!("configure the same subnets on both ends of connection {} (the IDC's local = Alibaba's RemoteSubnet, its remote = LocalSubnet) and reset the connection", c.id);
                let f = Finding::warning(Code::SaNotMirrored, 5, msg, fix)
                    .with_connection(&c.id)
                    .with_device(if lonely_cloud.is_empty() {
                        r.device.clone()
                    } else {
                        vgw.clone()
                    });
                out.push(f);
            }
        }
    }
    out
}

fn listed_twice(
    out: &mut Vec<Finding>,
    c: &Connection,
    list: &[Cidr],
    field: &str,
    device: &str,
    where_: &str,
    side: &str,
) {
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
