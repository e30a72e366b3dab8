//! Phase-1 and phase-2 settings of the two ends of every IPsec connection, compared
//! (FAQ 1 and 2).
//!
//! For each cloud `ipsec_connections[]` entry, the IDC end is the `onprem.devices[].ipsec[]`
//! entry whose `connection` is the connection's id (the first one when several claim
//! it). [`compare`] reports every setting on which the ends disagree, phase 1 before
//! phase 2, each as a [`Finding`] with a stable code (the constants below, listed in
//! [`CODES`]), the log lines each end would write (`expected_logs`, prefixed `cloud: ` /
//! `idc: `, copied from strongSwan 5.9 and the Alibaba FAQ), and a fix naming the
//! Alibaba API fields. [`predicted_status`] says what these settings make of the
//! connection, and [`STATUS_DISAGREES`] flags a reported `status` that contradicts it.
//!
//! Conventions:
//! - A setting left out on either end is not compared (Alibaba's defaults are not
//!   assumed: the API always returns the values, so a topology without them is
//!   incomplete rather than default).
//! - An end that lists `proposals` (strongSwan syntax) is compared on those; otherwise
//!   on its `encryption` / `integrity` / `dh_group` (`pfs`) fields, any combination of
//!   which is acceptable. See [`crate::net::algo`].
//! - Identities: an end's `local_id` defaults to its public address (cloud: the VPN
//!   gateway's `public_ip`; IDC: the outside interface's `public_address`, else its
//!   `address`), its `remote_id` to the address it negotiates with (cloud: the customer
//!   gateway IP; IDC: its `peer`). When both sides of a pair are defaults, a difference
//!   is an address problem and reported as such, not as an identity mismatch.
//! - `expected_logs` assume the IDC initiates (as in the reference runs under
//!   `testdata/strongswan`), then add what differs when the cloud initiates.
//! - Pre-shared keys are compared and never printed, in any form.

use std::fmt;
use std::net::Ipv4Addr;

use crate::findings::code::Code;
use crate::findings::finding::{Finding, Severity};
use crate::input::{
    ConnStatus, CustomerGateway, DeviceIpsec, Ike, IpsecConnection, IpsecParams, Role, StrOrList,
    Topology,
};
use crate::net::addr::{AddrSet, Cidr};
use crate::net::algo::{
    self, DhGroup, Encryption, IkeMode, IkeVersion, Integrity, KeyExchange, NoMatch, Phase,
    Proposal, Transform,
};

/// What the compared settings make of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PredictedStatus {
    /// A phase-1 setting differs: no IKE SA (`ike_sa_not_established`).
    Phase1Fails,
    /// IKE SA up, no IPsec SA (`ipsec_sa_not_established`).
    Phase2Fails,
    /// The IPsec SA can come up but is fragile: the selectors overlap without
    /// mirroring (the outcome depends on who initiates and whether the responder
    /// narrows), or an IKEv2 PFS mismatch breaks the first rekey. Either
    /// `ipsec_sa_established` or `ipsec_sa_not_established` may be reported.
    Phase2AtRisk,
    /// Nothing compared here stops the SAs (`ipsec_sa_established`).
    Established,
}

impl PredictedStatus {
    /// Whether a reported status is consistent with this prediction.
    pub fn accepts(self, s: ConnStatus) -> bool {
        match self {
            PredictedStatus::Phase1Fails => s == ConnStatus::IkeSaNotEstablished,
            PredictedStatus::Phase2Fails => s == ConnStatus::IpsecSaNotEstablished,
            PredictedStatus::Phase2AtRisk => s != ConnStatus::IkeSaNotEstablished,
            PredictedStatus::Established => s == ConnStatus::IpsecSaEstablished,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PredictedStatus::Phase1Fails => "phase1_fails",
            PredictedStatus::Phase2Fails => "phase2_fails",
            PredictedStatus::Phase2AtRisk => "phase2_at_risk",
            PredictedStatus::Established => "established",
        }
    }
}

impl fmt::Display for PredictedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PredictedStatus::Phase1Fails => "phase 1 fails (ike_sa_not_established)",
            PredictedStatus::Phase2Fails => {
                "phase 1 succeeds and phase 2 fails (ipsec_sa_not_established)"
            }
            PredictedStatus::Phase2AtRisk => {
                "phase 2 may come up but is fragile (established or ipsec_sa_not_established)"
            }
            PredictedStatus::Established => "both phases succeed (ipsec_sa_established)",
        })
    }
}

/// The comparison of one connection.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub findings: Vec<Finding>,
    /// `None` when the IDC end is not modelled.
    pub predicted: Option<PredictedStatus>,
}

/// Every phase-1/phase-2 mismatch of every connection: connections in file order,
/// phase 1 before phase 2 within each.
pub fn compare(topo: &Topology) -> Vec<Finding> {
    (0..topo.cloud.ipsec_connections.len())
        .flat_map(|i| compare_index(topo, i).findings)
        .collect()
}

/// The comparison of the connection with this id, or `None` when there is none.
pub fn compare_connection(topo: &Topology, connection: &str) -> Option<Comparison> {
    let i = topo
        .cloud
        .ipsec_connections
        .iter()
        .position(|c| c.id == connection)?;
    Some(compare_index(topo, i))
}

/// What the settings of both ends make of the connection; `None` when the connection
/// does not exist or its IDC end is not modelled.
pub fn predicted_status(topo: &Topology, connection: &str) -> Option<PredictedStatus> {
    compare_connection(topo, connection)?.predicted
}

fn compare_index(topo: &Topology, ci: usize) -> Comparison {
    let conn = &topo.cloud.ipsec_connections[ci];
    let idc = topo.onprem.devices.iter().enumerate().find_map(|(di, d)| {
        d.ipsec
            .iter()
            .position(|x| x.connection == conn.id)
            .map(|ki| (di, d, ki))
    });
    let Some((di, _, ki)) = idc else {
        let f = Finding::warning(
            Code::IdcIpsecNotModelled,
            1,
            format!(
                "The IDC side of {c} is not modelled: no on-prem device has an `ipsec` entry with \
                 \"connection\": \"{c}\", so its phase-1 and phase-2 settings cannot be compared \
                 with the VPN gateway's.",
                c = conn.id
            ),
            format!(
                "Add an `ipsec` entry with \"connection\": \"{}\" to the IDC gateway in \
                 onprem.devices (its peer, interface, local_subnets, remote_subnets, ike and \
                 ipsec settings) so that both ends can be compared.",
                conn.id
            ),
        )
        .with_connection(conn.id.clone())
        .with_device(conn.vpn_gateway.clone())
        .with_rule(None)
        .with_traffic(conn.local_subnets.clone(), conn.remote_subnets.clone());
        return Comparison {
            findings: vec![f],
            predicted: None,
        };
    };
    let mut c = Check::new(topo, ci, di, ki);
    c.run();
    let predicted = c.predicted();
    c.status(predicted);
    Comparison {
        findings: c.out,
        predicted: Some(predicted),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Why an address cannot be a customer gateway's public IP, or `None` for a public
/// unicast address. The documentation ranges (192.0.2.0/24, 198.51.100.0/24,
/// 203.0.113.0/24, RFC 5737) count as public: examples, ours included, use them so.
pub fn non_public_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let in_net = |net: [u8; 4], len: u32| {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
    };
    if in_net([0, 0, 0, 0], 8) {
        Some("in 0.0.0.0/8 (\"this network\")")
    } else if in_net([10, 0, 0, 0], 8)
        || in_net([172, 16, 0, 0], 12)
        || in_net([192, 168, 0, 0], 16)
    {
        Some("a private address (RFC 1918)")
    } else if in_net([100, 64, 0, 0], 10) {
        Some("in the carrier-grade NAT range 100.64.0.0/10 (RFC 6598)")
    } else if o[0] == 127 {
        Some("a loopback address")
    } else if in_net([169, 254, 0, 0], 16) {
        Some("a link-local address")
    } else if in_net([192, 0, 0, 0], 24) {
        Some("in 192.0.0.0/24 (IETF protocol assignments)")
    } else if in_net([198, 18, 0, 0], 15) {
        Some("in the benchmarking range 198.18.0.0/15")
    } else if in_net([224, 0, 0, 0], 4) {
        Some("a multicast address")
    } else if ip == Ipv4Addr::BROADCAST {
        Some("the broadcast address")
    } else if in_net([240, 0, 0, 0], 4) {
        Some("in the reserved range 240.0.0.0/4")
    } else {
        None
    }
}

/// An IKE identity, normalised for comparison: addresses as addresses, FQDNs without
/// strongSwan's `@` and case-insensitive.
fn norm_id(s: &str) -> String {
    let t = s.trim();
    if let Ok(c) = t.parse::<Cidr>() {
        if c.len() == 32 {
            return c.addr().to_string();
        }
    }
    t.trim_start_matches('@').to_ascii_lowercase()
}

/// A set of CIDRs as strongSwan prints traffic selectors: `10.0.0.0/8 172.30.128.0/17`.
fn ts_list(c: &[Cidr]) -> String {
    c.iter()
        .map(|c| c.network().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `a` minus `b`, short: `10.10.0.0/16 except 10.10.1.0/24` rather than eight prefixes.
fn only_in(a: &AddrSet, b: &AddrSet) -> String {
    let rest = a.minus(b);
    if rest.cidrs().len() <= 3 {
        rest.display_list()
    } else {
        format!(
            "{} except {}",
            a.display_list(),
            a.intersect(b).display_list()
        )
    }
}

fn join(c: &[Cidr]) -> String {
    if c.is_empty() {
        return "(none)".into();
    }
    c.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn items(v: &Option<StrOrList>) -> Vec<&str> {
    v.as_ref().map(|x| x.items()).unwrap_or_default()
}

fn item_path(base: &str, field: &str, v: &Option<StrOrList>, j: usize) -> String {
    match v {
        Some(StrOrList::Many(_)) => format!("{base}.{field}[{j}]"),
        _ => format!("{base}.{field}"),
    }
}

fn alibaba_field(phase: Phase, t: Transform) -> &'static str {
    match (phase, t) {
        (Phase::Ike, Transform::Encryption) => "IkeConfig.IkeEncAlg",
        (Phase::Ike, Transform::Integrity | Transform::Prf) => "IkeConfig.IkeAuthAlg",
        (Phase::Ike, Transform::DhGroup) => "IkeConfig.IkePfs",
        (Phase::Esp, Transform::Encryption) => "IpsecConfig.IpsecEncAlg",
        (Phase::Esp, Transform::Integrity | Transform::Prf) => "IpsecConfig.IpsecAuthAlg",
        (Phase::Esp, Transform::DhGroup) => "IpsecConfig.IpsecPfs",
    }
}

/// The first value of a transform the IDC lists that Alibaba can be set to.
fn alibaba_choice(props: &[Proposal], t: Transform) -> Option<String> {
    for p in props {
        let found = match t {
            Transform::Encryption => p
                .encryption
                .iter()
                .find_map(|e| e.alibaba_name().map(str::to_string)),
            Transform::Integrity => p
                .integrity
                .iter()
                .find_map(|i| i.alibaba_name().map(str::to_string)),
            Transform::Prf => p
                .prf
                .iter()
                .find_map(|i| i.alibaba_name().map(str::to_string)),
            Transform::DhGroup => p.dh.iter().find_map(|d| match d {
                KeyExchange::None => Some("disabled".to_string()),
                KeyExchange::Group(g) => g.alibaba_name(),
            }),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn offered_text(props: &[Proposal], t: Transform) -> String {
    match algo::offered(props, t) {
        Some(v) => v.join(", "),
        None => "(not stated)".into(),
    }
}

/// How one dimension of the selectors relates: the cloud's set against the IDC's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    Equal,
    CloudWider,
    IdcWider,
    Overlap,
    Disjoint,
}

fn relate(cloud: &AddrSet, idc: &AddrSet) -> Rel {
    if cloud == idc {
        Rel::Equal
    } else if cloud.intersect(idc).is_empty() {
        Rel::Disjoint
    } else if idc.is_subset(cloud) {
        Rel::CloudWider
    } else if cloud.is_subset(idc) {
        Rel::IdcWider
    } else {
        Rel::Overlap
    }
}

/// Both ends' phase-2 subnets as address sets, and how they relate.
struct Selectors {
    /// The cloud's LocalSubnet and RemoteSubnet.
    cl: AddrSet,
    cr: AddrSet,
    /// The IDC entry's local and remote subnets.
    il: AddrSet,
    ir: AddrSet,
    /// The VPC side (cloud local vs IDC remote) and the IDC side (cloud remote vs IDC
    /// local).
    vpc: Rel,
    onp: Rel,
    /// A side has no address in common.
    disjoint: bool,
    /// The cloud's selectors lie within the IDC's (and the other way round).
    cloud_within: bool,
    idc_within: bool,
}

impl Selectors {
    fn of(conn: &IpsecConnection, ipsec: &DeviceIpsec) -> Selectors {
        let cl = AddrSet::from_cidrs(&conn.local_subnets);
        let cr = AddrSet::from_cidrs(&conn.remote_subnets);
        let il = AddrSet::from_cidrs(&ipsec.local_subnets);
        let ir = AddrSet::from_cidrs(&ipsec.remote_subnets);
        let vpc = relate(&cl, &ir);
        let onp = relate(&cr, &il);
        Selectors {
            disjoint: vpc == Rel::Disjoint || onp == Rel::Disjoint,
            cloud_within: cl.is_subset(&ir) && cr.is_subset(&il),
            idc_within: ir.is_subset(&cl) && il.is_subset(&cr),
            cl,
            cr,
            il,
            ir,
            vpc,
            onp,
        }
    }
}

/// What overlapping selectors come to (see `Check::narrowed`).
enum Narrowing {
    /// The SA carries what both ends configured for the pair negotiated.
    None,
    /// The SA comes up narrowed, as the text says.
    Narrowed(String),
    /// It depends on which end initiates (a direction fails).
    Depends,
}

/// A responder that turns the initiator's proposed selectors (`local` === `remote`, as
/// the initiator writes them) away.
struct Refusal<'a> {
    responder: &'static str,
    initiator: &'static str,
    local: &'a [Cidr],
    remote: &'a [Cidr],
}

/// The `config: …, received: … => match: …` lines of the cloud narrowing each configured
/// subnet against the received one it holds or lies in.
fn narrowing_logs(conn: &IpsecConnection, ipsec: &DeviceIpsec) -> Vec<String> {
    let mut logs = Vec::new();
    for (conf, recv) in [
        (&conn.remote_subnets, &ipsec.local_subnets),
        (&conn.local_subnets, &ipsec.remote_subnets),
    ] {
        for a in conf {
            for b in recv {
                let (x, y) = (a.network(), b.network());
                let m = if x.contains(&y) {
                    Some(y)
                } else if y.contains(&x) {
                    Some(x)
                } else {
                    None
                };
                if let Some(m) = m {
                    logs.push(format!("cloud: config: {x}, received: {y} => match: {m}"));
                }
            }
        }
    }
    logs
}

/// One end's proposal settings of one phase, as written.
struct PhaseFields<'s> {
    /// `ike` or `ipsec`: the section of the file.
    sect: &'static str,
    /// strongSwan-style proposals; when given, the per-transform fields are not read.
    list: &'s [String],
    enc: &'s Option<StrOrList>,
    integ: &'s Option<StrOrList>,
    dh: &'s Option<StrOrList>,
    /// `dh_group` or `pfs`: the field `dh` is read from.
    dh_field: &'static str,
}

// ---------------------------------------------------------------------------------------
// The comparison of one connection
// ---------------------------------------------------------------------------------------

struct Check<'a> {
    conn: &'a IpsecConnection,
    cgw: Option<&'a CustomerGateway>,
    ipsec: &'a DeviceIpsec,
    /// Names as findings print them.
    vco: &'a str,
    gw_id: &'a str,
    idc: &'a str,
    cloud_path: String,
    idc_path: String,
    cloud_addr: Option<Ipv4Addr>,
    /// The IDC gateway's public address, and the interface it comes from.
    idc_addr: Option<(Ipv4Addr, String, bool)>,
    peer: Option<Ipv4Addr>,
    cloud_version: Option<IkeVersion>,
    idc_version: Option<IkeVersion>,
    cloud_mode: Option<IkeMode>,
    idc_mode: Option<IkeMode>,
    out: Vec<Finding>,
    phase1_fails: bool,
    phase2_fails: bool,
    phase2_at_risk: bool,
}

impl<'a> Check<'a> {
    /// The comparison of connection `cloud.ipsec_connections[ci]` of `topo` with the IDC
    /// entry `onprem.devices[di].ipsec[ki]`.
    fn new(topo: &'a Topology, ci: usize, di: usize, ki: usize) -> Check<'a> {
        let conn = &topo.cloud.ipsec_connections[ci];
        let gw = topo
            .cloud
            .vpn_gateways
            .iter()
            .find(|g| g.id == conn.vpn_gateway);
        let cgw = topo
            .cloud
            .customer_gateways
            .iter()
            .find(|c| c.id == conn.customer_gateway);
        let dev = &topo.onprem.devices[di];
        let ipsec = &dev.ipsec[ki];
        let iface = match &ipsec.interface {
            Some(name) => dev.interfaces.iter().find(|i| &i.name == name),
            None => dev
                .interfaces
                .iter()
                .find(|i| i.role == Some(Role::Outside)),
        };
        let idc_addr = iface.map(|i| match i.public_address {
            Some(p) => (p.addr(), i.name.clone(), true),
            None => (i.address.addr(), i.name.clone(), false),
        });
        Check {
            conn,
            cgw,
            ipsec,
            vco: &conn.id,
            gw_id: &conn.vpn_gateway,
            idc: &dev.id,
            cloud_path: format!("cloud.ipsec_connections[{ci}]"),
            idc_path: format!("onprem.devices[{di}].ipsec[{ki}]"),
            cloud_addr: gw.map(|g| g.public_ip.addr()),
            idc_addr,
            peer: ipsec.peer.map(|p| p.addr()),
            cloud_version: None,
            idc_version: None,
            cloud_mode: None,
            idc_mode: None,
            out: Vec::new(),
            phase1_fails: false,
            phase2_fails: false,
            phase2_at_risk: false,
        }
    }

    /// Add a finding on the VPN gateway, for the connection's traffic, with the log lines
    /// the failure leaves.
    fn push(
        &mut self,
        code: Code,
        severity: Severity,
        faq: u8,
        message: String,
        fix: String,
        logs: Vec<String>,
    ) {
        let mut f = Finding::new(code, severity, faq, message, fix)
            .with_connection(self.vco)
            .with_device(self.gw_id)
            .with_rule(None)
            .with_traffic(
                self.conn.local_subnets.clone(),
                self.conn.remote_subnets.clone(),
            );
        f.expected_logs = logs;
        self.out.push(f);
    }

    /// `IPSEC_SETTING_UNKNOWN`: the value at `path` does not parse (`err`), so `what` was
    /// not compared.
    fn unknown(&mut self, cloud_side: bool, faq: u8, path: String, err: String, what: &str) {
        let device = if cloud_side { self.gw_id } else { self.idc };
        let f = Finding::warning(
            Code::IpsecSettingUnknown,
            faq,
            format!(
                "{path}: {err}, so the {what} of {} were not compared.",
                self.vco
            ),
            "Use a name vpntrace knows: Alibaba's (aes, aes192, aes256, des, 3des, sm4; md5, \
             sha1, sha256, sha384, sha512, sm3; group1, group2, group5, group14, …; disabled; \
             ikev1, ikev2; main, aggressive), a strongSwan proposal keyword (aes256gcm16, \
             modp2048, ecp384) or a common vendor spelling (aes-256, sha2-256, dh group14)."
                .to_string(),
        )
        .with_connection(self.vco)
        .with_device(device)
        .with_rule(None)
        .with_traffic(
            self.conn.local_subnets.clone(),
            self.conn.remote_subnets.clone(),
        );
        self.out.push(f);
    }

    /// The address the cloud sees IKE packets from the IDC come from.
    fn idc_seen(&self) -> String {
        self.idc_addr
            .as_ref()
            .map(|a| a.0)
            .or(self.cgw.map(|c| c.ip.addr()))
            .map(|a| a.to_string())
            .unwrap_or_else(|| "%any".into())
    }

    /// The address the IDC sees IKE packets from the cloud come from.
    fn cloud_seen(&self) -> String {
        self.cloud_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "%any".into())
    }

    /// The version both ends would speak once they agree: the common definite one, else
    /// the cloud's (the end Alibaba's API controls), else Alibaba's default IKEv1.
    fn version(&self) -> IkeVersion {
        use IkeVersion::*;
        match (self.cloud_version, self.idc_version) {
            (Some(V1), _) => V1,
            (Some(V2), _) => V2,
            (_, Some(V1)) => V1,
            (_, Some(V2)) => V2,
            (Some(Any), _) | (_, Some(Any)) => V2,
            (None, None) => V1,
        }
    }

    /// Both IKE versions are known and one end could speak the other's (or one is unknown).
    fn versions_compatible(&self) -> bool {
        match (self.cloud_version, self.idc_version) {
            (Some(a), Some(b)) => a.compatible(b),
            _ => true,
        }
    }

    /// The IKEv1 mode the ends would use: the cloud's, else the IDC's, else main mode.
    fn mode(&self) -> IkeMode {
        self.cloud_mode.or(self.idc_mode).unwrap_or(IkeMode::Main)
    }

    /// `received X notify error` (IKEv2) / `received X error notify` (IKEv1).
    fn notify(v: IkeVersion, what: &str) -> String {
        match v {
            IkeVersion::V1 => format!("received {what} error notify"),
            _ => format!("received {what} notify error"),
        }
    }

    /// The log line of an initiator whose first request gets no answer.
    fn retransmit(v: IkeVersion) -> &'static str {
        match v {
            IkeVersion::V1 => "sending retransmit 1 of request message ID 0, seq 1",
            _ => "retransmit 1 of request with message ID 0",
        }
    }

    /// Every comparison, phase 1 first, in the order findings are reported.
    fn run(&mut self) {
        self.parse_version_and_mode();
        self.customer_gateway_ip();
        self.peer_ip();
        self.ike_version();
        self.ike_mode();
        self.psk();
        self.ids();
        self.ike_proposals();
        self.ike_lifetime();
        self.traffic_selectors();
        self.esp_and_pfs();
        self.ipsec_lifetime();
    }

    /// Read both ends' IKE version and mode (an unknown spelling is reported, and that
    /// value left out of the comparisons).
    fn parse_version_and_mode(&mut self) {
        let sides = [
            (true, self.conn.ike.clone(), self.cloud_path.clone()),
            (false, self.ipsec.ike.clone(), self.idc_path.clone()),
        ];
        for (cloud_side, ike, path) in sides {
            if let Some(v) = &ike.version {
                match IkeVersion::parse(v) {
                    Ok(v) if cloud_side => self.cloud_version = Some(v),
                    Ok(v) => self.idc_version = Some(v),
                    Err(e) => self.unknown(
                        cloud_side,
                        1,
                        format!("{path}.ike.version"),
                        e,
                        "IKE versions",
                    ),
                }
            }
            if let Some(m) = &ike.mode {
                match IkeMode::parse(m) {
                    Ok(m) if cloud_side => self.cloud_mode = Some(m),
                    Ok(m) => self.idc_mode = Some(m),
                    Err(e) => self.unknown(
                        cloud_side,
                        1,
                        format!("{path}.ike.mode"),
                        e,
                        "IKE negotiation modes",
                    ),
                }
            }
        }
    }
}

/// Phase 1: the gateways' addresses, the IKE version and mode.
impl Check<'_> {
    /// `CUSTOMER_GATEWAY_IP_INVALID` / `CUSTOMER_GATEWAY_IP_MISMATCH`: the customer
    /// gateway IP is not a public unicast address, or not the IDC gateway's public address.
    fn customer_gateway_ip(&mut self) {
        let Some(cgw) = self.cgw else { return };
        let ip = cgw.ip.addr();
        let v = self.version();
        let (vco, idc) = (self.vco, self.idc);
        let (c, i) = (self.cloud_seen(), self.idc_seen());
        let real = self.idc_addr.as_ref().map(|(a, name, public)| {
            if *public {
                format!("{a} (the public address of {idc}'s {name}, behind NAT)")
            } else {
                format!("{a} ({idc}'s outside interface {name})")
            }
        });
        let target = self.idc_addr.as_ref().map(|a| a.0);
        let fix = format!(
            "Create a customer gateway whose IP is the IDC gateway's public address{} \
             (CreateCustomerGateway, IpAddress; the IP of an existing customer gateway cannot be \
             changed) and use it for {vco}, recreating the connection if its customer gateway \
             cannot be switched.",
            target.map(|a| format!(", {a}")).unwrap_or_default()
        );
        // One cause, one finding: an invalid IP that also differs from the IDC's address is
        // the same customer gateway with the same fix, so the mismatch is said inside it.
        let invalid = non_public_reason(ip);
        if let Some(why) = invalid {
            self.phase1_fails = true;
            let msg = format!(
                "Customer gateway {} of {vco} has IP {ip}, which is {why}, not a public unicast \
                 address: the VPN gateway sends its IKE requests to {ip} over the Internet, \
                 where no IDC gateway answers, and does not accept requests from the IDC's real \
                 address{}, so IKE phase 1 fails (unless the connection runs over a private \
                 network, NetworkType private). Alibaba's log then shows \
                 UNSUPPORTED_CRITICAL_PAYLOAD.",
                cgw.id,
                real.as_ref().map(|r| format!(" {r}")).unwrap_or_default(),
            );
            let logs = vec![
                "cloud: received UNSUPPORTED_CRITICAL_PAYLOAD error notify".to_string(),
                format!("cloud: {}", Self::retransmit(v)),
                "cloud: giving up after 5 retransmits".to_string(),
                format!("cloud: no IKE config found for {c}...{i}, sending NO_PROPOSAL_CHOSEN"),
                format!("idc: {}", Self::notify(v, "NO_PROPOSAL_CHOSEN")),
            ];
            self.push(
                Code::CustomerGatewayIpInvalid,
                Severity::Error,
                1,
                msg,
                fix.clone(),
                logs,
            );
        }
        if let Some((a, _, _)) = self.idc_addr {
            if a != ip && invalid.is_none() {
                self.phase1_fails = true;
                let msg = format!(
                    "Customer gateway {} of {vco} has IP {ip}, but the IDC gateway {idc} \
                     negotiates from {}: the VPN gateway dials {ip}, where {idc} is not, and \
                     finds no IKE config for requests coming from {a}, so IKE phase 1 fails.",
                    cgw.id,
                    real.clone().unwrap_or_else(|| a.to_string()),
                );
                let logs = vec![
                    format!("cloud: no IKE config found for {c}...{a}, sending NO_PROPOSAL_CHOSEN"),
                    format!("idc: {}", Self::notify(v, "NO_PROPOSAL_CHOSEN")),
                    format!("cloud: {}", Self::retransmit(v)),
                    "cloud: giving up after 5 retransmits".to_string(),
                ];
                self.push(
                    Code::CustomerGatewayIpMismatch,
                    Severity::Error,
                    1,
                    msg,
                    fix.clone(),
                    logs,
                );
            }
        }
    }

    /// `PEER_IP_MISMATCH`: the IDC gateway dials an address other than the VPN gateway's
    /// public IP.
    fn peer_ip(&mut self) {
        let (Some(peer), Some(cloud)) = (self.peer, self.cloud_addr) else {
            return;
        };
        if peer == cloud {
            return;
        }
        self.phase1_fails = true;
        let v = self.version();
        let (vco, idc, gw) = (self.vco, self.idc, self.gw_id);
        let i = self.idc_seen();
        let msg = format!(
            "{idc} dials {peer} for {vco}, but the VPN gateway {gw}'s public IP is {cloud}: \
             {idc}'s IKE requests go unanswered (peer not responding), and when {gw} initiates, \
             {idc} has no IKE config for {cloud}. IKE phase 1 fails."
        );
        let fix = format!(
            "Set the peer (remote gateway) address of {idc}'s IPsec configuration for {vco} to \
             {cloud}, the public IP of VPN gateway {gw}."
        );
        let logs = vec![
            format!("idc: {}", Self::retransmit(v)),
            "idc: giving up after 5 retransmits".to_string(),
            "idc: establishing IKE_SA failed, peer not responding".to_string(),
            format!("idc: no IKE config found for {i}...{cloud}, sending NO_PROPOSAL_CHOSEN"),
            format!("cloud: {}", Self::notify(v, "NO_PROPOSAL_CHOSEN")),
        ];
        let mut f = Finding::error(Code::PeerIpMismatch, 1, msg, fix)
            .with_connection(vco)
            .with_device(idc)
            .with_rule(None)
            .with_traffic(
                self.conn.local_subnets.clone(),
                self.conn.remote_subnets.clone(),
            );
        f.expected_logs = logs;
        self.out.push(f);
    }

    /// `IKE_VERSION_MISMATCH`: the IKE versions differ.
    fn ike_version(&mut self) {
        let (Some(cv), Some(iv)) = (self.cloud_version, self.idc_version) else {
            return;
        };
        if cv.compatible(iv) {
            return;
        }
        self.phase1_fails = true;
        let (vco, idc) = (self.vco, self.idc);
        let (c, i) = (self.cloud_seen(), self.idc_seen());
        let msg = format!(
            "{vco} uses {cv} (IkeConfig.IkeVersion) and {idc} uses {iv}: the responder finds no \
             IKE config for the initiator's version and answers NO_PROPOSAL_CHOSEN, so IKE phase \
             1 fails whichever end initiates."
        );
        let fix = format!(
            "Set the IKE version of {vco} (Alibaba IkeConfig.IkeVersion) and {idc}'s IKE version \
             to the same value, e.g. ikev2 (recommended, above all with several subnets: IKEv1 \
             negotiates one SA per subnet pair)."
        );
        let ver = |v: IkeVersion| {
            if v == IkeVersion::V1 {
                "IKEv1"
            } else {
                "IKEv2"
            }
        };
        let mut logs = vec![
            format!("cloud: looking for an {} config for {c}...{i}", ver(iv)),
            format!("cloud: no IKE config found for {c}...{i}, sending NO_PROPOSAL_CHOSEN"),
        ];
        if iv == IkeVersion::V2 {
            logs.push("idc: parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]".into());
        }
        logs.push(format!("idc: {}", Self::notify(iv, "NO_PROPOSAL_CHOSEN")));
        logs.push(format!(
            "idc: no IKE config found for {i}...{c}, sending NO_PROPOSAL_CHOSEN"
        ));
        if cv == IkeVersion::V2 {
            logs.push("cloud: parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]".into());
        }
        logs.push(format!("cloud: {}", Self::notify(cv, "NO_PROPOSAL_CHOSEN")));
        logs.push("cloud: received AUTHENTICATION_FAILED error notify".into());
        self.push(Code::IkeVersionMismatch, Severity::Error, 1, msg, fix, logs);
    }

    /// `IKE_MODE_MISMATCH`: IKEv1 with main mode on one end and aggressive on the other.
    fn ike_mode(&mut self) {
        let (Some(cm), Some(im)) = (self.cloud_mode, self.idc_mode) else {
            return;
        };
        if cm == im {
            return;
        }
        use IkeVersion::*;
        let both_v1 = self.versions_compatible() && self.version() == V1;
        if self.cloud_version == Some(V2) && self.idc_version == Some(V2) {
            return; // IKEv2 has no main/aggressive modes.
        }
        if both_v1 {
            self.phase1_fails = true;
        }
        let (vco, idc) = (self.vco, self.idc);
        let mut msg = format!(
            "{vco} negotiates IKEv1 phase 1 in {cm} mode (IkeConfig.IkeMode) and {idc} in {im} \
             mode: a responder accepts only the mode it is configured for and answers \
             AUTHENTICATION_FAILED, so IKE phase 1 fails whichever end initiates."
        );
        if !both_v1 {
            msg.push_str(
                " The mode only matters with IKEv1; if both ends move to IKEv2 it no longer \
                 applies.",
            );
        }
        let fix = format!(
            "Set IkeConfig.IkeMode of {vco} and {idc}'s IKEv1 exchange mode to the same value, \
             e.g. main (or move both ends to IKEv2, which has no modes)."
        );
        let logs = vec![
            format!(
                "cloud: found 1 matching config, but none allows pre-shared key authentication \
                 using {} Mode",
                im.log_name()
            ),
            "idc: received AUTHENTICATION_FAILED error notify".to_string(),
            format!(
                "idc: found 1 matching config, but none allows pre-shared key authentication \
                 using {} Mode",
                cm.log_name()
            ),
            "cloud: received AUTHENTICATION_FAILED error notify".to_string(),
        ];
        self.push(Code::IkeModeMismatch, Severity::Error, 1, msg, fix, logs);
    }
}

/// Phase 1: authentication (pre-shared key and identities).
impl Check<'_> {
    /// `IKE_PSK_MISMATCH`: the pre-shared keys differ (the keys are never shown).
    fn psk(&mut self) {
        let (Some(a), Some(b)) = (&self.conn.ike.psk, &self.ipsec.ike.psk) else {
            return;
        };
        if a == b {
            return;
        }
        self.phase1_fails = true;
        let (vco, idc) = (self.vco, self.idc);
        let v = self.version();
        let (how, logs) = match (v, self.mode()) {
            (IkeVersion::V1, IkeMode::Main) => (
                "In IKEv1 main mode each end derives its encryption keys from the pre-shared key, \
                 so the responder cannot decrypt the initiator's identity payload and the \
                 initiator cannot decrypt the responder's (\"decryption failed\"); the initiator \
                 retransmits and gives up.",
                vec![
                    "cloud: invalid ID_V1 payload length, decryption failed?".to_string(),
                    "cloud: could not decrypt payloads".to_string(),
                    "cloud: message parsing failed".to_string(),
                    "idc: invalid HASH_V1 payload length, decryption failed?".to_string(),
                    "idc: could not decrypt payloads".to_string(),
                    "idc: message parsing failed".to_string(),
                    "idc: sending retransmit 1 of request message ID 0".to_string(),
                    "cloud: invalid HASH_V1 payload length, decryption failed?".to_string(),
                ],
            ),
            (IkeVersion::V1, IkeMode::Aggressive) => (
                "In IKEv1 aggressive mode the initiator computes a different authentication HASH \
                 than the responder sent and rejects it with AUTHENTICATION_FAILED.",
                vec![
                    "idc: calculated HASH does not match HASH payload".to_string(),
                    "cloud: received AUTHENTICATION_FAILED error notify".to_string(),
                ],
            ),
            _ => {
                let cl = self
                    .conn
                    .ike
                    .local_id
                    .clone()
                    .unwrap_or_else(|| self.cloud_seen());
                let il = self
                    .ipsec
                    .ike
                    .local_id
                    .clone()
                    .unwrap_or_else(|| self.idc_seen());
                (
                    "In IKEv2 the responder finds that the initiator's AUTH payload does not \
                     verify (MAC mismatch) and answers AUTHENTICATION_FAILED.",
                    vec![
                        format!(
                            "cloud: tried 1 shared key for '{cl}' - '{il}', but MAC mismatched"
                        ),
                        "cloud: generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]".to_string(),
                        "idc: received AUTHENTICATION_FAILED notify error".to_string(),
                    ],
                )
            }
        };
        let msg = format!(
            "The pre-shared keys differ between {vco} (IkeConfig.Psk) and {idc}'s IKE peer for \
             {vco}; IKE phase 1 fails at authentication. {how}"
        );
        let fix = format!(
            "Set the same pre-shared key on both ends: IkeConfig.Psk of {vco} \
             (ModifyVpnConnectionAttribute) and the pre-shared key of {idc}'s IKE peer for \
             {vco}; type it again on both rather than copying it from a masked display."
        );
        self.push(Code::IkePskMismatch, Severity::Error, 1, msg, fix, logs);
    }

    /// `IKE_ID_MISMATCH`: an end's LocalId is not the other end's RemoteId, in either
    /// direction.
    fn ids(&mut self) {
        let (vco, idc) = (self.vco, self.idc);
        let v = self.version();
        let cloud_local = match &self.conn.ike.local_id {
            Some(s) => Some((s.clone(), true)),
            None => self.cloud_addr.map(|a| (a.to_string(), false)),
        };
        let cloud_remote = match &self.conn.ike.remote_id {
            Some(s) => Some((s.clone(), true)),
            None => self.cgw.map(|c| (c.ip.addr().to_string(), false)),
        };
        let idc_local = match &self.ipsec.ike.local_id {
            Some(s) => Some((s.clone(), true)),
            None => self.idc_addr.as_ref().map(|a| (a.0.to_string(), false)),
        };
        let idc_remote = match &self.ipsec.ike.remote_id {
            Some(s) => Some((s.clone(), true)),
            None => self.peer.map(|a| (a.to_string(), false)),
        };
        let (c, i) = (self.cloud_seen(), self.idc_seen());
        let idc_local_s = idc_local
            .as_ref()
            .map(|x| x.0.clone())
            .unwrap_or_else(|| i.clone());
        let idc_remote_s = idc_remote
            .as_ref()
            .map(|x| x.0.clone())
            .unwrap_or_else(|| "%any".into());
        let differs = |a: &Option<(String, bool)>, b: &Option<(String, bool)>| match (a, b) {
            (Some((x, xe)), Some((y, ye))) => (*xe || *ye) && norm_id(x) != norm_id(y),
            _ => false,
        };

        // What the IDC expects the cloud to be.
        if differs(&cloud_local, &idc_remote) {
            self.phase1_fails = true;
            let (cl, cl_explicit) = cloud_local.clone().unwrap();
            let (ir, _) = idc_remote.clone().unwrap();
            let cl_src = if cl_explicit {
                "IkeConfig.LocalId".to_string()
            } else {
                "IkeConfig.LocalId unset: the VPN gateway's public IP".to_string()
            };
            let msg = format!(
                "{idc} expects the VPN gateway to identify as '{ir}' (its remote ID for {vco}), \
                 but {vco} identifies as '{cl}' ({cl_src}): the identities do not match and \
                 IKE phase 1 fails at authentication."
            );
            let fix = format!(
                "Make them equal: set {idc}'s remote ID for {vco} to '{cl}', or set \
                 IkeConfig.LocalId of {vco} to '{ir}'."
            );
            let logs = match v {
                IkeVersion::V1 => vec![format!("idc: IDir '{cl}' does not match to '{ir}'")],
                _ => vec![
                    format!(
                        "cloud: looking for peer configs matching {c}[{ir}]...{i}[{idc_local_s}]"
                    ),
                    "cloud: no matching peer config found".to_string(),
                    "cloud: generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]".to_string(),
                    "idc: received AUTHENTICATION_FAILED notify error".to_string(),
                ],
            };
            self.push(Code::IkeIdMismatch, Severity::Error, 1, msg, fix, logs);
        }

        // What the cloud expects the IDC to be.
        if differs(&idc_local, &cloud_remote) {
            self.phase1_fails = true;
            let (il, il_explicit) = idc_local.clone().unwrap();
            let (cr, cr_explicit) = cloud_remote.clone().unwrap();
            let il_src = if il_explicit {
                "its local ID"
            } else {
                "no local ID set: its public address"
            };
            let cr_src = if cr_explicit {
                "IkeConfig.RemoteId"
            } else {
                "IkeConfig.RemoteId unset: the customer gateway IP"
            };
            let msg = format!(
                "{vco} expects the IDC gateway to identify as '{cr}' ({cr_src}), but {idc} \
                 identifies as '{il}' ({il_src}): the identities do not match and IKE phase 1 \
                 fails at authentication."
            );
            let fix = format!(
                "Make them equal: set IkeConfig.RemoteId of {vco} to '{il}', or set {idc}'s local \
                 ID for {vco} to '{cr}'."
            );
            let logs = match v {
                IkeVersion::V1 => vec![
                    format!(
                        "cloud: looking for pre-shared key peer configs matching {c}...{i}[{il}]"
                    ),
                    "cloud: no peer config found".to_string(),
                    "idc: received AUTHENTICATION_FAILED error notify".to_string(),
                    format!("cloud: IDir '{il}' does not match to '{cr}'"),
                ],
                _ => vec![
                    format!(
                        "cloud: looking for peer configs matching {c}[{idc_remote_s}]...{i}[{il}]"
                    ),
                    "cloud: no matching peer config found".to_string(),
                    "cloud: generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]".to_string(),
                    "idc: received AUTHENTICATION_FAILED notify error".to_string(),
                ],
            };
            self.push(Code::IkeIdMismatch, Severity::Error, 1, msg, fix, logs);
        }
    }
}

/// Proposals (both phases) and the phase-1 lifetime.
impl Check<'_> {
    /// The proposals of one end for one phase, or `None` (after reporting) when a name
    /// is unknown.
    fn proposals(&mut self, cloud_side: bool, phase: Phase) -> Option<Vec<Proposal>> {
        let base = if cloud_side {
            self.cloud_path.clone()
        } else {
            self.idc_path.clone()
        };
        let (conn, entry) = (self.conn, self.ipsec);
        let (ike, ipsec): (&Ike, &IpsecParams) = if cloud_side {
            (&conn.ike, &conn.ipsec)
        } else {
            (&entry.ike, &entry.ipsec)
        };
        let PhaseFields {
            sect,
            list,
            enc,
            integ,
            dh,
            dh_field,
        } = match phase {
            Phase::Ike => PhaseFields {
                sect: "ike",
                list: &ike.proposals,
                enc: &ike.encryption,
                integ: &ike.integrity,
                dh: &ike.dh_group,
                dh_field: "dh_group",
            },
            Phase::Esp => PhaseFields {
                sect: "ipsec",
                list: &ipsec.proposals,
                enc: &ipsec.encryption,
                integ: &ipsec.integrity,
                dh: &ipsec.pfs,
                dh_field: "pfs",
            },
        };
        let (faq, what) = match phase {
            Phase::Ike => (1, "phase-1 proposals"),
            Phase::Esp => (2, "phase-2 proposals"),
        };
        let base = format!("{base}.{sect}");
        let mut ok = true;
        if !list.is_empty() {
            let mut out = Vec::new();
            for (j, s) in list.iter().enumerate() {
                match Proposal::parse_swan(s, phase) {
                    Ok(p) => out.extend(p),
                    Err(e) => {
                        ok = false;
                        self.unknown(cloud_side, faq, format!("{base}.proposals[{j}]"), e, what);
                    }
                }
            }
            return ok.then_some(out);
        }
        for (j, s) in items(enc).iter().enumerate() {
            if let Err(e) = Encryption::parse(s) {
                ok = false;
                self.unknown(
                    cloud_side,
                    faq,
                    item_path(&base, "encryption", enc, j),
                    e,
                    what,
                );
            }
        }
        for (j, s) in items(integ).iter().enumerate() {
            if let Err(e) = Integrity::parse(s) {
                ok = false;
                self.unknown(
                    cloud_side,
                    faq,
                    item_path(&base, "integrity", integ, j),
                    e,
                    what,
                );
            }
        }
        for (j, s) in items(dh).iter().enumerate() {
            let r = match phase {
                Phase::Ike => DhGroup::parse(s).map(|_| ()),
                Phase::Esp => KeyExchange::parse(s).map(|_| ()),
            };
            if let Err(e) = r {
                ok = false;
                self.unknown(cloud_side, faq, item_path(&base, dh_field, dh, j), e, what);
            }
        }
        if !ok {
            return None;
        }
        Proposal::from_fields(&items(enc), &items(integ), &items(dh), phase)
            .ok()
            .map(|p| vec![p])
    }

    /// `encryption: vco-1 offers aes (IkeConfig.IkeEncAlg), usg-1 offers aes256`.
    fn describe_no_match(
        &self,
        nm: &NoMatch,
        cloud: &[Proposal],
        idc: &[Proposal],
        phase: Phase,
    ) -> (String, String) {
        let (vco, idcn) = (self.vco, self.idc);
        let ts: Vec<Transform> = if nm.transforms.is_empty() {
            vec![
                Transform::Encryption,
                Transform::Integrity,
                Transform::DhGroup,
            ]
        } else {
            nm.transforms.clone()
        };
        let mut parts = Vec::new();
        let mut fixes = Vec::new();
        for t in &ts {
            if phase == Phase::Esp && *t == Transform::Prf {
                continue;
            }
            let field = alibaba_field(phase, *t);
            parts.push(format!(
                "{t}: {vco} offers {} ({field}), {idcn} offers {}",
                offered_text(cloud, *t),
                offered_text(idc, *t)
            ));
            if nm.transforms.is_empty() {
                continue;
            }
            match alibaba_choice(idc, *t) {
                Some(v) => fixes.push(format!("set {field} of {vco} to {v} (which {idcn} offers)")),
                None => fixes.push(format!(
                    "add {} to {idcn}'s {} proposal ({field} of {vco} cannot be set to what \
                     {idcn} offers)",
                    offered_text(cloud, *t),
                    if phase == Phase::Ike { "IKE" } else { "IPsec" }
                )),
            }
        }
        let detail = if nm.transforms.is_empty() {
            format!(
                "every transform has a value in common, but no single proposal of {idcn} \
                 combines them as {vco} does ({})",
                parts.join("; ")
            )
        } else {
            parts.join("; ")
        };
        let fix = if nm.transforms.is_empty() {
            let suite = algo::negotiate(cloud, cloud)
                .map(|c| c.to_string())
                .unwrap_or_else(|_| "the same suite".into());
            format!("make one of {idcn}'s proposals exactly {suite}, as {vco} has it")
        } else {
            fixes.join("; ")
        };
        (detail, fix)
    }

    /// `IKE_PROPOSAL_MISMATCH`: the phase-1 proposals have no suite in common.
    fn ike_proposals(&mut self) {
        let cloud = self.proposals(true, Phase::Ike);
        let idc = self.proposals(false, Phase::Ike);
        let (Some(cloud), Some(idc)) = (cloud, idc) else {
            return;
        };
        let Err(nm) = algo::negotiate(&idc, &cloud) else {
            return;
        };
        self.phase1_fails = true;
        let (vco, idcn) = (self.vco, self.idc);
        let (detail, fix) = self.describe_no_match(&nm, &cloud, &idc, Phase::Ike);
        let msg = format!(
            "No common phase-1 (IKE) proposal between {vco} and {idcn}: {detail}. The responder \
             answers the first exchange with NO_PROPOSAL_CHOSEN, so IKE phase 1 fails."
        );
        let fix = format!("Give both ends a common phase-1 proposal: {fix}.");
        let v = self.version();
        let mut logs = Vec::new();
        if let (Some(r), Some(c)) = (
            algo::log_list(&idc, Phase::Ike),
            algo::log_list(&cloud, Phase::Ike),
        ) {
            logs.push(format!("cloud: received proposals: {r}"));
            logs.push(format!("cloud: configured proposals: {c}"));
        }
        if let Some(t) = nm.transforms.first() {
            logs.push(format!("cloud: no acceptable {} found", t.swan_name()));
        }
        match v {
            IkeVersion::V1 => {
                logs.push("cloud: no proposal found".into());
                logs.push("idc: received NO_PROPOSAL_CHOSEN error notify".into());
            }
            _ => {
                logs.push("cloud: received proposals unacceptable".into());
                logs.push("cloud: generating IKE_SA_INIT response 0 [ N(NO_PROP) ]".into());
                logs.push("idc: parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]".into());
                logs.push("idc: received NO_PROPOSAL_CHOSEN notify error".into());
            }
        }
        self.push(
            Code::IkeProposalMismatch,
            Severity::Error,
            1,
            msg,
            fix,
            logs,
        );
    }

    /// `IKE_LIFETIME_MISMATCH`: the phase-1 lifetimes differ.
    fn ike_lifetime(&mut self) {
        let (Some(c), Some(i)) = (self.conn.ike.lifetime, self.ipsec.ike.lifetime) else {
            return;
        };
        if c == i {
            return;
        }
        let (vco, idc) = (self.vco, self.idc);
        let how = match self.version() {
            IkeVersion::V1 => {
                "IKEv1 negotiates the phase-1 lifetime: strongSwan adopts the initiator's value, \
                 but some gateways (Cisco IOS among them) accept only a lifetime no longer than \
                 their own, so phase 1 can fail when the end with the longer lifetime initiates."
            }
            _ => {
                "IKEv2 does not negotiate lifetimes: each end rekeys on its own schedule, so this \
                 does not stop the tunnel, but the end with the shorter lifetime always rekeys."
            }
        };
        let msg = format!(
            "The IKE SA lifetime of {vco} is {c}s (IkeConfig.IkeLifetime) and {idc}'s is {i}s. \
             {how}"
        );
        let fix = format!(
            "Set IkeConfig.IkeLifetime of {vco} and {idc}'s IKE SA lifetime to the same value, \
             e.g. {}.",
            c.min(i)
        );
        self.push(
            Code::IkeLifetimeMismatch,
            Severity::Warning,
            1,
            msg,
            fix,
            Vec::new(),
        );
    }
}

/// Phase 2: traffic selectors.
impl Check<'_> {
    /// `TS_MISMATCH`: the phase-2 subnets of the two ends do not mirror each other.
    /// Disjoint selectors fail phase 2 whichever end initiates; overlapping ones put it at
    /// risk (it depends on narrowing and on which end initiates).
    fn traffic_selectors(&mut self) {
        let ipsec = self.ipsec;
        if ipsec.local_subnets.is_empty() || ipsec.remote_subnets.is_empty() {
            return;
        }
        let s = Selectors::of(self.conn, ipsec);
        if s.vpc == Rel::Equal && s.onp == Rel::Equal {
            return;
        }
        let mut msg = self.selectors_text(&s);
        let mut logs = Vec::new();
        if s.disjoint {
            self.phase2_fails = true;
            msg.push_str(
                "With no overlap, the responder finds no child configuration for the proposed \
                 selectors whichever end initiates: IKEv2 answers TS_UNACCEPTABLE, IKEv1 main \
                 mode INVALID_ID_INFORMATION, and in IKEv1 aggressive mode Alibaba logs a HASH \
                 mismatch. The IKE SA comes up; phase 2 fails.",
            );
        } else {
            self.phase2_at_risk = true;
            match self.narrowed(&s) {
                Narrowing::None => return,
                Narrowing::Narrowed(text) => {
                    self.push_narrowed(&s, msg, text);
                    return;
                }
                Narrowing::Depends => {}
            }
            msg.push_str(&self.narrowing_text(&s));
            logs.extend(narrowing_logs(self.conn, ipsec));
        }
        logs.extend(self.refusal_logs(&s));
        let (vco, idc, conn) = (self.vco, self.idc, self.conn);
        let fix = format!(
            "Make the selectors mirror each other: set LocalSubnet of {vco} to {} and \
             RemoteSubnet to {} (what {idc} has as remote and local subnets), or set {idc}'s \
             local subnets to {} and remote subnets to {}.",
            join(&ipsec.remote_subnets),
            join(&ipsec.local_subnets),
            join(&conn.remote_subnets),
            join(&conn.local_subnets),
        );
        let side = |rel: Rel, cloud: &AddrSet, idcs: &AddrSet| -> Vec<Cidr> {
            if s.disjoint || rel == Rel::Equal {
                cloud.union(idcs).cidrs()
            } else {
                cloud.minus(idcs).union(&idcs.minus(cloud)).cidrs()
            }
        };
        let source = side(s.vpc, &s.cl, &s.ir);
        let destination = side(s.onp, &s.cr, &s.il);
        let mut f = Finding::error(Code::TrafficSelectorMismatch, 2, msg, fix)
            .with_connection(vco)
            .with_device(self.gw_id)
            .with_rule(None)
            .with_traffic(source, destination);
        f.expected_logs = logs;
        self.out.push(f);
    }

    /// What overlapping (not disjoint) selectors come to between two strongSwan-like ends,
    /// which narrow as responder to the intersection of the proposal with their own
    /// selectors (RFC 7296 §2.9; strongSwan does so in IKEv1 Quick Mode too), as the lab's
    /// `ss_narrowed_*` runs show:
    ///
    /// - IKEv2: whichever end initiates, the SA carries the intersection of both ends'
    ///   selectors, so it is narrowed unless the sets are equal;
    /// - IKEv1: the initiator proposes its first local and first remote subnet only; the
    ///   SA is that pair narrowed by the responder. It is narrowed when, for an initiator,
    ///   it carries less than either end's first pair (the other pairs are the SA layout's
    ///   concern, `IKEV1_MULTIPLE_SUBNET_PAIRS`). A pair the responder cannot narrow to
    ///   anything fails that direction: the outcome depends on who initiates.
    fn narrowed(&self, s: &Selectors) -> Narrowing {
        if self.version() != IkeVersion::V1 {
            return Narrowing::Narrowed(format!(
                "In IKEv2 the responder narrows the initiator's selectors to the intersection \
                 with its own (RFC 7296 §2.9; strongSwan does), whichever end initiates: the \
                 SA comes up carrying only VPC side {}, IDC side {}.",
                s.cl.intersect(&s.ir).display_list(),
                s.cr.intersect(&s.il).display_list(),
            ));
        }
        let (conn, ipsec) = (self.conn, self.ipsec);
        let first = |c: &[Cidr]| AddrSet::from_cidrs(&c[..c.len().min(1)]);
        // (cloud local, cloud remote) of the SA when the cloud / the IDC initiates.
        let (cfl, cfr, ifl, ifr) = (
            first(&conn.local_subnets),
            first(&conn.remote_subnets),
            first(&ipsec.local_subnets),
            first(&ipsec.remote_subnets),
        );
        let mut outcomes = Vec::new();
        for (l, r) in [
            (cfl.intersect(&s.ir), cfr.intersect(&s.il)),
            (ifr.intersect(&s.cl), ifl.intersect(&s.cr)),
        ] {
            if l.is_empty() || r.is_empty() {
                return Narrowing::Depends;
            }
            let narrowed = l != cfl || r != cfr || l != ifr || r != ifl;
            outcomes.push((narrowed, l, r));
        }
        if outcomes.iter().all(|o| !o.0) {
            return Narrowing::None;
        }
        let sa = |o: &(bool, AddrSet, AddrSet)| {
            format!("{} === {}", o.1.display_list(), o.2.display_list())
        };
        let (vco, idc) = (self.vco, self.idc);
        Narrowing::Narrowed(format!(
            "IKEv1 proposes one subnet pair per Quick Mode, the initiator's first, and the \
             responder narrows it to its own selectors (strongSwan does): when {vco} initiates \
             the SA is {} (cloud side first){}, when {idc} initiates {}{}.",
            sa(&outcomes[0]),
            if outcomes[0].0 {
                ", narrowed"
            } else {
                ", as configured"
            },
            sa(&outcomes[1]),
            if outcomes[1].0 {
                ", narrowed"
            } else {
                ", as configured"
            },
        ))
    }

    /// `TS_NARROWED`: the SA comes up, but carries only part of the configured subnets.
    fn push_narrowed(&mut self, s: &Selectors, mut msg: String, how: String) {
        let (vco, idc, conn, ipsec) = (self.vco, self.idc, self.conn, self.ipsec);
        msg.push_str(&how);
        msg.push_str(&format!(
            " Traffic outside it has no SA: some subnets work and others do not. A responder \
             that does not narrow (Libreswan without narrowing=yes, many hardware gateways) \
             refuses the proposal instead (TS_UNACCEPTABLE, INVALID_ID_INFORMATION) unless it \
             lies within its own selectors; {}.",
            if s.cloud_within {
                format!("that holds when {vco} initiates")
            } else if s.idc_within {
                format!("that holds when {idc} initiates")
            } else {
                "that holds for neither end here".to_string()
            }
        ));
        let fix = format!(
            "Make the selectors mirror each other: set LocalSubnet of {vco} to {} and \
             RemoteSubnet to {} (what {idc} has as remote and local subnets), or set {idc}'s \
             local subnets to {} and remote subnets to {}.",
            join(&ipsec.remote_subnets),
            join(&ipsec.local_subnets),
            join(&conn.remote_subnets),
            join(&conn.local_subnets),
        );
        // The traffic without an SA: a side's addresses outside the intersection, towards
        // the whole other side (where a side is equal on both ends, all of it).
        let left = |a: &AddrSet, b: &AddrSet| {
            let outside = a.minus(b).union(&b.minus(a));
            if outside.is_empty() {
                a.union(b).cidrs()
            } else {
                outside.cidrs()
            }
        };
        let mut f = Finding::error(Code::TsNarrowed, 5, msg, fix)
            .with_connection(vco)
            .with_device(self.gw_id)
            .with_rule(None)
            .with_traffic(left(&s.cl, &s.ir), left(&s.cr, &s.il));
        f.expected_logs = narrowing_logs(conn, ipsec);
        self.out.push(f);
    }

    /// The first sentences of the `TS_MISMATCH` message: both sides' subnets and how they
    /// relate.
    fn selectors_text(&self, s: &Selectors) -> String {
        let (vco, idc, conn, ipsec) = (self.vco, self.idc, self.conn, self.ipsec);
        let describe = |rel: Rel, cloud: &AddrSet, idcs: &AddrSet| -> String {
            match rel {
                Rel::Equal => "the same".to_string(),
                Rel::CloudWider => {
                    format!("{vco}'s is wider (it also holds {})", only_in(cloud, idcs))
                }
                Rel::IdcWider => {
                    format!("{idc}'s is wider (it also holds {})", only_in(idcs, cloud))
                }
                Rel::Overlap => format!(
                    "they overlap in {} only ({} only on {vco}, {} only on {idc})",
                    cloud.intersect(idcs).display_list(),
                    cloud.minus(idcs).display_list(),
                    idcs.minus(cloud).display_list()
                ),
                Rel::Disjoint => "no address in common".to_string(),
            }
        };
        format!(
            "The phase-2 subnets of {vco} and {idc} do not mirror each other. VPC side: {vco} \
             LocalSubnet {} vs {idc} remote subnets {}: {}. IDC side: {vco} RemoteSubnet {} vs \
             {idc} local subnets {}: {}. ",
            join(&conn.local_subnets),
            join(&ipsec.remote_subnets),
            describe(s.vpc, &s.cl, &s.ir),
            join(&conn.remote_subnets),
            join(&ipsec.local_subnets),
            describe(s.onp, &s.cr, &s.il),
        )
    }

    /// For overlapping selectors: what narrowing makes of them and which initiator a
    /// responder that does not narrow turns away.
    fn narrowing_text(&self, s: &Selectors) -> String {
        let (vco, idc) = (self.vco, self.idc);
        let who = if s.cloud_within {
            format!(
                "it succeeds when {vco} (the narrower end) initiates, and fails with \
                 TS_UNACCEPTABLE when {idc} initiates"
            )
        } else if s.idc_within {
            format!(
                "it succeeds when {idc} (the narrower end) initiates, and fails with \
                 TS_UNACCEPTABLE when {vco} initiates"
            )
        } else {
            "neither end's selectors lie within the other's, so it fails with \
             TS_UNACCEPTABLE whichever end initiates"
                .to_string()
        };
        format!(
            "In IKEv2 a responder may narrow the initiator's selectors (RFC 7296 §2.9): \
             strongSwan narrows to the intersection (VPC side {}, IDC side {}), so the SA \
             comes up but carries only that and the rest of the traffic is not tunnelled; \
             with a responder that does not narrow, a proposal must lie within the \
             responder's own selectors: {who}. In IKEv1 many gateways likewise require the \
             proposed pair to lie within their own policy; when it does not, main mode shows \
             INVALID_ID_INFORMATION and aggressive mode a HASH mismatch.",
            s.cl.intersect(&s.ir).display_list(),
            s.cr.intersect(&s.il).display_list(),
        )
    }

    /// The log lines of the responders that turn the proposed selectors away (a responder
    /// that does not narrow; for disjoint selectors, both directions), and the HASH
    /// mismatch of IKEv1 aggressive mode.
    fn refusal_logs(&self, s: &Selectors) -> Vec<String> {
        let (conn, ipsec) = (self.conn, self.ipsec);
        let first = |c: &[Cidr]| {
            c.first()
                .map(|c| c.network().to_string())
                .unwrap_or_default()
        };
        let mut refusals = Vec::new();
        if s.disjoint || !s.idc_within {
            refusals.push(Refusal {
                responder: "cloud",
                initiator: "idc",
                local: &ipsec.local_subnets,
                remote: &ipsec.remote_subnets,
            });
        }
        if s.disjoint || !s.cloud_within {
            refusals.push(Refusal {
                responder: "idc",
                initiator: "cloud",
                local: &conn.local_subnets,
                remote: &conn.remote_subnets,
            });
        }
        let v = self.version();
        let mut logs = Vec::new();
        for r in refusals {
            let (resp, init) = (r.responder, r.initiator);
            match v {
                IkeVersion::V1 => {
                    logs.push(format!(
                        "{resp}: no matching CHILD_SA config found for {} === {}",
                        first(r.local),
                        first(r.remote)
                    ));
                    logs.push(format!(
                        "{init}: received INVALID_ID_INFORMATION error notify"
                    ));
                }
                _ => {
                    logs.push(format!(
                        "{resp}: traffic selectors {} === {} unacceptable",
                        ts_list(r.remote),
                        ts_list(r.local)
                    ));
                    logs.push(format!(
                        "{resp}: failed to establish CHILD_SA, keeping IKE_SA"
                    ));
                    logs.push(format!(
                        "{init}: received TS_UNACCEPTABLE notify, no CHILD_SA built"
                    ));
                }
            }
        }
        if v == IkeVersion::V1 && self.mode() == IkeMode::Aggressive {
            logs.push("cloud: received HASH payload does not match".into());
            logs.push("cloud: integrity check failed".into());
        }
        logs
    }
}

/// Phase 2: ESP proposals, PFS and the lifetime.
impl Check<'_> {
    /// `ESP_PROPOSAL_MISMATCH` and `PFS_MISMATCH`: no common phase-2 encryption or
    /// integrity; the PFS group differs, or PFS is disabled on one end only.
    fn esp_and_pfs(&mut self) {
        let cloud = self.proposals(true, Phase::Esp);
        let idc = self.proposals(false, Phase::Esp);
        let (Some(cloud), Some(idc)) = (cloud, idc) else {
            return;
        };
        let (vco, idcn) = (self.vco, self.idc);
        let v = self.version();
        let strip = |p: &[Proposal]| p.iter().map(|p| p.without_dh()).collect::<Vec<_>>();
        let (cloud_nodh, idc_nodh) = (strip(&cloud), strip(&idc));
        let nodh = algo::negotiate(&idc_nodh, &cloud_nodh);
        let full = algo::negotiate(&idc, &cloud);
        let received = |p: &[Proposal]| match v {
            IkeVersion::V1 => algo::log_list(p, Phase::Esp),
            _ => algo::log_list(&strip(p), Phase::Esp),
        };
        let stated_dh = |p: &[Proposal]| p.iter().all(|p| !p.dh.is_empty());

        if let Err(nm) = &nodh {
            self.phase2_fails = true;
            let (detail, fix) = self.describe_no_match(nm, &cloud, &idc, Phase::Esp);
            let how = match v {
                IkeVersion::V1 => {
                    "The IKE SA comes up, but the responder rejects Quick Mode with \
                     NO_PROPOSAL_CHOSEN, so phase 2 fails."
                }
                _ => {
                    "The IKE SA comes up, but the responder rejects the CHILD_SA in IKE_AUTH \
                     with NO_PROPOSAL_CHOSEN, so phase 2 fails."
                }
            };
            let msg = format!(
                "No common phase-2 (ESP) proposal between {vco} and {idcn}: {detail}. {how}"
            );
            let fix = format!("Give both ends a common phase-2 proposal: {fix}.");
            let mut logs = Vec::new();
            if let (Some(r), Some(c), true) = (
                received(&idc),
                algo::log_list(&cloud, Phase::Esp),
                stated_dh(&cloud) && (v != IkeVersion::V1 || stated_dh(&idc)),
            ) {
                logs.push(format!("cloud: received proposals: {r}"));
                logs.push(format!("cloud: configured proposals: {c}"));
            }
            if let Some(t) = nm.transforms.first() {
                logs.push(format!("cloud: no acceptable {} found", t.swan_name()));
            }
            match v {
                IkeVersion::V1 => {
                    logs.push(
                        "cloud: no matching proposal found, sending NO_PROPOSAL_CHOSEN".into(),
                    );
                    logs.push(
                        "idc: parsed INFORMATIONAL_V1 request <message ID> [ HASH N(NO_PROP) ]"
                            .into(),
                    );
                    logs.push("idc: received NO_PROPOSAL_CHOSEN error notify".into());
                }
                _ => {
                    logs.push("cloud: no acceptable proposal found".into());
                    logs.push("cloud: failed to establish CHILD_SA, keeping IKE_SA".into());
                    logs.push("idc: received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built".into());
                    logs.push("idc: failed to establish CHILD_SA, keeping IKE_SA".into());
                }
            }
            self.push(
                Code::IpsecProposalMismatch,
                Severity::Error,
                2,
                msg,
                fix,
                logs,
            );
        }

        let pfs_broken = match &full {
            Ok(_) => false,
            Err(nm) => nodh.is_ok() || nm.transforms.contains(&Transform::DhGroup),
        };
        if !pfs_broken {
            return;
        }
        let c_pfs = offered_text(&cloud, Transform::DhGroup);
        let i_pfs = offered_text(&idc, Transform::DhGroup);
        let how = match v {
            IkeVersion::V1 => {
                self.phase2_fails = true;
                "In IKEv1 the Quick Mode proposal carries the PFS group, so the responder answers \
                 NO_PROPOSAL_CHOSEN and phase 2 fails."
                    .to_string()
            }
            _ => {
                self.phase2_at_risk = true;
                format!(
                    "In IKEv2 the first CHILD_SA is created inside IKE_AUTH without a key \
                     exchange, so it comes up; the mismatch only shows at the first rekey (after \
                     IpsecConfig.IpsecLifetime{} or {idcn}'s lifetime{}, whichever is shorter), \
                     when CREATE_CHILD_SA fails with NO_PROPOSAL_CHOSEN and the SA is lost.",
                    self.conn
                        .ipsec
                        .lifetime
                        .map(|l| format!(" = {l}s"))
                        .unwrap_or_default(),
                    self.ipsec
                        .ipsec
                        .lifetime
                        .map(|l| format!(" = {l}s"))
                        .unwrap_or_default()
                )
            }
        };
        let msg = format!(
            "PFS differs: {vco} has IpsecConfig.IpsecPfs {c_pfs}, {idcn} has PFS {i_pfs}. {how}"
        );
        let suggestion = alibaba_choice(&idc, Transform::DhGroup)
            .filter(|s| s != "disabled")
            .or_else(|| alibaba_choice(&cloud, Transform::DhGroup))
            .unwrap_or_else(|| "group14".into());
        let fix = format!(
            "Set IpsecConfig.IpsecPfs of {vco} and {idcn}'s PFS group to the same value, e.g. \
             {suggestion} (or disabled on both)."
        );
        let mut logs = Vec::new();
        match v {
            IkeVersion::V1 => {
                if let (Some(r), Some(c), true) = (
                    algo::log_list(&idc, Phase::Esp),
                    algo::log_list(&cloud, Phase::Esp),
                    stated_dh(&cloud) && stated_dh(&idc),
                ) {
                    logs.push(format!("cloud: received proposals: {r}"));
                    logs.push(format!("cloud: configured proposals: {c}"));
                }
                logs.push("cloud: no acceptable KEY_EXCHANGE_METHOD found".into());
                logs.push("cloud: no matching proposal found, sending NO_PROPOSAL_CHOSEN".into());
                logs.push("idc: received NO_PROPOSAL_CHOSEN error notify".into());
            }
            _ => {
                logs.push("cloud: no acceptable KEY_EXCHANGE_METHOD found".into());
                logs.push("cloud: no acceptable proposal found".into());
                logs.push("idc: received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built".into());
            }
        }
        self.push(Code::PfsMismatch, Severity::Error, 2, msg, fix, logs);
    }

    /// `IPSEC_LIFETIME_MISMATCH`: the phase-2 lifetimes differ.
    fn ipsec_lifetime(&mut self) {
        let (Some(c), Some(i)) = (self.conn.ipsec.lifetime, self.ipsec.ipsec.lifetime) else {
            return;
        };
        if c == i {
            return;
        }
        let (vco, idc) = (self.vco, self.idc);
        let (how, logs) = match self.version() {
            IkeVersion::V1 => (
                "IKEv1 Quick Mode carries the lifetime: strongSwan adopts the initiator's value, \
                 but some gateways refuse a proposal whose lifetime exceeds their own.",
                vec![format!("cloud: received {i}s lifetime, configured {c}s")],
            ),
            _ => (
                "IKEv2 does not negotiate lifetimes: each end rekeys on its own schedule, so this \
                 does not stop the tunnel.",
                Vec::new(),
            ),
        };
        let msg = format!(
            "The IPsec SA lifetime of {vco} is {c}s (IpsecConfig.IpsecLifetime) and {idc}'s is \
             {i}s. {how}"
        );
        let fix = format!(
            "Set IpsecConfig.IpsecLifetime of {vco} and {idc}'s IPsec SA lifetime to the same \
             value, e.g. {}.",
            c.min(i)
        );
        self.push(
            Code::IpsecLifetimeMismatch,
            Severity::Warning,
            2,
            msg,
            fix,
            logs,
        );
    }
}

/// The verdict: the predicted status against the reported one.
impl Check<'_> {
    /// The status the settings predict: the first phase that fails, else at risk, else
    /// established.
    fn predicted(&self) -> PredictedStatus {
        if self.phase1_fails {
            PredictedStatus::Phase1Fails
        } else if self.phase2_fails {
            PredictedStatus::Phase2Fails
        } else if self.phase2_at_risk {
            PredictedStatus::Phase2AtRisk
        } else {
            PredictedStatus::Established
        }
    }

    /// `STATUS_DISAGREES`: the connection's reported status is not what its settings
    /// predict.
    fn status(&mut self, predicted: PredictedStatus) {
        let Some(s) = self.conn.status else { return };
        if predicted.accepts(s) {
            return;
        }
        let (vco, idc) = (self.vco, self.idc);
        let hint = match predicted {
            PredictedStatus::Established | PredictedStatus::Phase2AtRisk => format!(
                "The settings compared here agree, so the cause lies elsewhere: {idc}'s modelled \
                 settings may not be what it runs, it may be down, or UDP 500/4500 between the \
                 gateways may be blocked."
            ),
            _ => format!(
                "The topology probably does not reflect what one end runs (e.g. {idc} or {vco} \
                 was changed after the status was read)."
            ),
        };
        let msg = format!(
            "{vco} reports status {}, but its settings predict that {predicted}. {hint}",
            s.as_str()
        );
        let faq =
            if s == ConnStatus::IkeSaNotEstablished || predicted == PredictedStatus::Phase1Fails {
                1
            } else {
                2
            };
        let fix = format!(
            "Compare the running configuration of both ends with the topology \
             (DescribeVpnConnection for {vco}, the configuration of {idc}), correct the topology, \
             and read both ends' IKE logs (vpntrace logs FILE…)."
        );
        self.push(
            Code::StatusDisagrees,
            Severity::Warning,
            faq,
            msg,
            fix,
            Vec::new(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matching pair: both ends IKEv2 aes256/sha256/group14, mirrored subnets, equal
    /// PSK and IDs. Tests break one setting at a time with `patch`.
    const BASE: &str = r#"{
      "format": 1,
      "name": "negotiation unit test",
      "cloud": {
        "vpc": { "id": "vpc-1", "cidrs": ["192.168.1.0/24"] },
        "vswitches": [ { "id": "vsw-1", "cidr": "192.168.1.0/24" } ],
        "vpn_gateways": [ { "id": "vpn-1", "public_ip": "47.100.1.1" } ],
        "customer_gateways": [ { "id": "cgw-1", "ip": "203.0.113.10" } ],
        "ipsec_connections": [
          { "id": "vco-1", "vpn_gateway": "vpn-1", "customer_gateway": "cgw-1",
            "local_subnets": ["192.168.1.0/24"], "remote_subnets": ["192.168.0.0/24"],
            "ike": { "version": "ikev2", "mode": "main", "psk": "unit-secret-A1",
                     "encryption": "aes256", "integrity": "sha256", "dh_group": "group14",
                     "lifetime": 86400 },
            "ipsec": { "encryption": "aes256", "integrity": "sha256", "pfs": "group14",
                       "lifetime": 86400 },
            "status": "ipsec_sa_established" } ]
      },
      "onprem": {
        "devices": [
          { "id": "gw-1", "kind": "gateway", "vendor": "strongswan",
            "interfaces": [ { "name": "eth0", "address": "192.168.0.1/24", "role": "inside" },
                            { "name": "eth1", "address": "203.0.113.10/24", "role": "outside" } ],
            "ipsec": [ { "connection": "vco-1", "mode": "policy", "interface": "eth1",
                         "peer": "47.100.1.1",
                         "local_subnets": ["192.168.0.0/24"], "remote_subnets": ["192.168.1.0/24"],
                         "ike": { "version": "ikev2", "mode": "main", "psk": "unit-secret-A1",
                                  "proposals": ["aes256-sha256-modp2048"], "lifetime": 86400 },
                         "ipsec": { "proposals": ["aes256-sha256-modp2048"], "lifetime": 86400 } } ] }
        ]
      }
    }"#;

    fn topo(patch: impl FnOnce(&mut serde_json::Value)) -> Topology {
        let mut v: serde_json::Value = serde_json::from_str(BASE).unwrap();
        patch(&mut v);
        serde_json::from_value(v).unwrap()
    }

    fn cloud(v: &mut serde_json::Value) -> &mut serde_json::Value {
        &mut v["cloud"]["ipsec_connections"][0]
    }

    fn idc(v: &mut serde_json::Value) -> &mut serde_json::Value {
        &mut v["onprem"]["devices"][0]["ipsec"][0]
    }

    fn codes(t: &Topology) -> Vec<Code> {
        compare(t).iter().map(|f| f.code).collect()
    }

    fn only(t: &Topology, code: Code) -> Finding {
        let fs = compare(t);
        let hits: Vec<&Finding> = fs.iter().filter(|f| f.code == code).collect();
        assert_eq!(hits.len(), 1, "{code} in {:?}", codes(t));
        hits[0].clone()
    }

    #[test]
    fn matching_ends_give_no_finding_and_established() {
        let t = topo(|_| {});
        assert!(compare(&t).is_empty(), "{:#?}", compare(&t));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Established)
        );
    }

    #[test]
    fn idc_not_modelled() {
        let t = topo(|v| idc(v)["connection"] = "vco-9".into());
        let fs = compare(&t);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].code, Code::IdcIpsecNotModelled);
        assert_eq!(fs[0].severity, Severity::Warning);
        assert_eq!(fs[0].device.as_deref(), Some("vpn-1"));
        assert_eq!(predicted_status(&t, "vco-1"), None);
    }

    #[test]
    fn psk_mismatch_never_shows_the_keys() {
        let t = topo(|v| idc(v)["ike"]["psk"] = "unit-secret-B2".into());
        let f = only(&t, Code::IkePskMismatch);
        assert_eq!((f.faq, f.severity), (1, Severity::Error));
        assert_eq!(f.connection.as_deref(), Some("vco-1"));
        assert_eq!(f.device.as_deref(), Some("vpn-1"));
        assert_eq!(f.rule, None);
        let json = serde_json::to_string(&compare(&t)).unwrap();
        for leak in ["unit-secret", "A1", "B2", "14 char", "length"] {
            assert!(!json.contains(leak), "{leak} leaked: {json}");
        }
        assert!(f.message.contains("pre-shared keys differ"));
        assert!(f
            .expected_logs
            .iter()
            .any(|l| l.starts_with("cloud: tried 1 shared key") && l.contains("MAC mismatched")));
        assert!(f
            .expected_logs
            .contains(&"idc: received AUTHENTICATION_FAILED notify error".to_string()));
        assert!(f.fix.contains("IkeConfig.Psk"));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Phase1Fails)
        );
    }

    #[test]
    fn psk_mismatch_ikev1_main_logs_decryption_failures() {
        let t = topo(|v| {
            cloud(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ike"]["psk"] = "other".into();
        });
        let f = only(&t, Code::IkePskMismatch);
        assert!(f
            .expected_logs
            .contains(&"idc: invalid HASH_V1 payload length, decryption failed?".to_string()));
        assert!(f
            .expected_logs
            .contains(&"cloud: invalid ID_V1 payload length, decryption failed?".to_string()));
    }

    #[test]
    fn version_mismatch() {
        let t = topo(|v| idc(v)["ike"]["version"] = "IKEv1".into());
        let f = only(&t, Code::IkeVersionMismatch);
        assert_eq!((f.faq, f.severity), (1, Severity::Error));
        assert!(f.fix.contains("IkeConfig.IkeVersion"));
        assert!(f.expected_logs.contains(
            &"cloud: no IKE config found for 47.100.1.1...203.0.113.10, sending NO_PROPOSAL_CHOSEN"
                .to_string()
        ));
        assert!(f
            .expected_logs
            .contains(&"idc: received NO_PROPOSAL_CHOSEN error notify".to_string()));
        // `any` accepts both.
        let t = topo(|v| idc(v)["ike"]["version"] = "any".into());
        assert!(compare(&t).is_empty());
    }

    #[test]
    fn mode_mismatch_only_matters_for_ikev1() {
        let t = topo(|v| idc(v)["ike"]["mode"] = "aggressive".into());
        assert!(compare(&t).is_empty(), "IKEv2 has no modes");
        let t = topo(|v| {
            cloud(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ike"]["mode"] = "aggressive".into();
        });
        let f = only(&t, Code::IkeModeMismatch);
        assert_eq!((f.faq, f.severity), (1, Severity::Error));
        assert!(f.fix.contains("IkeConfig.IkeMode"));
        assert!(f.expected_logs.contains(
            &"cloud: found 1 matching config, but none allows pre-shared key authentication using Aggressive Mode"
                .to_string()
        ));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Phase1Fails)
        );
    }

    #[test]
    fn id_mismatch_each_direction() {
        // The IDC expects another remote id (the reference run `id_mismatch`).
        let t = topo(|v| idc(v)["ike"]["remote_id"] = "203.0.113.99".into());
        let f = only(&t, Code::IkeIdMismatch);
        assert!(f.message.contains("'203.0.113.99'"));
        assert!(f.message.contains("'47.100.1.1'"));
        assert!(f.fix.contains("IkeConfig.LocalId"));
        assert!(f.expected_logs.contains(
            &"cloud: looking for peer configs matching 47.100.1.1[203.0.113.99]...203.0.113.10[203.0.113.10]"
                .to_string()
        ));
        assert!(f
            .expected_logs
            .contains(&"cloud: no matching peer config found".to_string()));
        // The cloud expects an FQDN the IDC does not send.
        let t = topo(|v| cloud(v)["ike"]["remote_id"] = "idc.example.com".into());
        let f = only(&t, Code::IkeIdMismatch);
        assert!(f.fix.contains("IkeConfig.RemoteId"));
        // Explicit ids equal to the defaults, `@` and case do not matter.
        let t = topo(|v| {
            cloud(v)["ike"]["local_id"] = "47.100.1.1".into();
            cloud(v)["ike"]["remote_id"] = "@GW.example.com".into();
            idc(v)["ike"]["local_id"] = "gw.example.com".into();
        });
        assert!(compare(&t).is_empty(), "{:?}", codes(&t));
    }

    #[test]
    fn ike_proposal_mismatch_names_the_transform() {
        // Alibaba `aes` is AES-128; the IDC offers AES-256 only.
        let t = topo(|v| cloud(v)["ike"]["encryption"] = "aes".into());
        let f = only(&t, Code::IkeProposalMismatch);
        assert_eq!((f.faq, f.severity), (1, Severity::Error));
        assert!(
            f.message
                .contains("encryption: vco-1 offers aes (IkeConfig.IkeEncAlg), gw-1 offers aes256"),
            "{}",
            f.message
        );
        assert!(
            f.fix.contains("set IkeConfig.IkeEncAlg of vco-1 to aes256"),
            "{}",
            f.fix
        );
        assert!(f.expected_logs.contains(
            &"cloud: received proposals: IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".to_string()
        ));
        assert!(f.expected_logs.contains(
            &"cloud: configured proposals: IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".to_string()
        ));
        assert!(f
            .expected_logs
            .contains(&"cloud: no acceptable ENCRYPTION_ALGORITHM found".to_string()));
        // DH group (the reference run `phase1_dh_mismatch`).
        let t =
            topo(|v| idc(v)["ike"]["proposals"] = serde_json::json!(["aes256-sha256-modp1024"]));
        let f = only(&t, Code::IkeProposalMismatch);
        assert!(
            f.message
                .contains("DH group: vco-1 offers group14 (IkeConfig.IkePfs), gw-1 offers group2"),
            "{}",
            f.message
        );
        // Integrity.
        let t = topo(|v| cloud(v)["ike"]["integrity"] = "sha1".into());
        let f = only(&t, Code::IkeProposalMismatch);
        assert!(
            f.message.contains("integrity: vco-1 offers sha1"),
            "{}",
            f.message
        );
        // Vendor spellings that mean the same thing match.
        let t = topo(|v| {
            idc(v)["ike"]["proposals"] = serde_json::json!([]);
            idc(v)["ike"]["encryption"] = "aes-256".into();
            idc(v)["ike"]["integrity"] = "sha2-256".into();
            idc(v)["ike"]["dh_group"] = "dh group14".into();
        });
        assert!(compare(&t).is_empty(), "{:?}", codes(&t));
    }

    #[test]
    fn unknown_algorithm_is_reported_with_its_path() {
        let t = topo(|v| {
            idc(v)["ike"]["proposals"] =
                serde_json::json!(["aes256-sha256-modp2048", "serpent-sha256-modp2048"])
        });
        let f = only(&t, Code::IpsecSettingUnknown);
        assert_eq!((f.faq, f.severity), (1, Severity::Warning));
        assert!(
            f.message
                .contains("onprem.devices[0].ipsec[0].ike.proposals[1]"),
            "{}",
            f.message
        );
        assert!(f.message.contains("`serpent`"));
        assert_eq!(f.device.as_deref(), Some("gw-1"));
        let t =
            topo(|v| cloud(v)["ipsec"]["integrity"] = serde_json::json!(["sha256", "whirlpool"]));
        let f = only(&t, Code::IpsecSettingUnknown);
        assert_eq!(f.faq, 2);
        assert!(
            f.message
                .contains("cloud.ipsec_connections[0].ipsec.integrity[1]"),
            "{}",
            f.message
        );
        let t = topo(|v| cloud(v)["ike"]["version"] = "ikev3".into());
        assert_eq!(codes(&t), vec![Code::IpsecSettingUnknown]);
    }

    #[test]
    fn lifetimes() {
        let t = topo(|v| idc(v)["ike"]["lifetime"] = 28800.into());
        let f = only(&t, Code::IkeLifetimeMismatch);
        assert_eq!((f.faq, f.severity), (1, Severity::Warning));
        assert!(f.fix.contains("IkeConfig.IkeLifetime"));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Established)
        );
        let t = topo(|v| {
            cloud(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ipsec"]["lifetime"] = 3600.into();
        });
        let f = only(&t, Code::IpsecLifetimeMismatch);
        assert_eq!((f.faq, f.severity), (2, Severity::Warning));
        assert!(f
            .expected_logs
            .contains(&"cloud: received 3600s lifetime, configured 86400s".to_string()));
    }

    #[test]
    fn customer_gateway_ip_invalid_and_mismatch() {
        let t = topo(|v| v["cloud"]["customer_gateways"][0]["ip"] = "192.168.50.1".into());
        let c = codes(&t);
        assert!(c.contains(&Code::CustomerGatewayIpInvalid), "{c:?}");
        // The same gateway with the same fix: one finding, not two.
        assert!(!c.contains(&Code::CustomerGatewayIpMismatch), "{c:?}");
        let f = only(&t, Code::CustomerGatewayIpInvalid);
        assert!(f.message.contains("RFC 1918"));
        assert!(f
            .expected_logs
            .contains(&"cloud: received UNSUPPORTED_CRITICAL_PAYLOAD error notify".to_string()));
        assert!(f.fix.contains("203.0.113.10"));
        // Documentation ranges count as public; the mismatch remains.
        let t = topo(|v| v["cloud"]["customer_gateways"][0]["ip"] = "198.51.100.7".into());
        assert_eq!(
            codes(&t),
            vec![Code::CustomerGatewayIpMismatch, Code::StatusDisagrees]
        );
        // Behind NAT, the public address is what the VPN gateway sees.
        let t = topo(|v| {
            v["onprem"]["devices"][0]["interfaces"][1]["address"] = "10.1.1.2/30".into();
            v["onprem"]["devices"][0]["interfaces"][1]["public_address"] = "203.0.113.10".into();
        });
        assert!(compare(&t).is_empty(), "{:?}", codes(&t));
    }

    #[test]
    fn non_public_ranges() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.50.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.1.1",
            "224.0.0.5",
            "240.0.0.1",
            "255.255.255.255",
            "0.1.2.3",
            "198.18.0.1",
        ] {
            assert!(non_public_reason(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in [
            "47.100.1.1",
            "8.8.8.8",
            "203.0.113.10",
            "198.51.100.1",
            "192.0.2.1",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(non_public_reason(ip.parse().unwrap()).is_none(), "{ip}");
        }
    }

    #[test]
    fn peer_ip_mismatch_points_at_the_idc_device() {
        let t = topo(|v| idc(v)["peer"] = "47.100.1.2".into());
        let f = only(&t, Code::PeerIpMismatch);
        assert_eq!((f.faq, f.severity), (1, Severity::Error));
        assert_eq!(f.device.as_deref(), Some("gw-1"));
        assert!(f.message.contains("peer not responding"));
        assert!(f
            .expected_logs
            .contains(&"idc: giving up after 5 retransmits".to_string()));
        assert!(
            !codes(&t).contains(&Code::IkeIdMismatch),
            "default ids follow the addresses"
        );
    }

    #[test]
    fn traffic_selectors_disjoint_fail_phase2() {
        // The reference run `phase2_subnet_mismatch_ikev2`: a typo in one subnet.
        let t = topo(|v| cloud(v)["remote_subnets"] = serde_json::json!(["192.168.64.0/24"]));
        let f = only(&t, Code::TrafficSelectorMismatch);
        assert_eq!((f.faq, f.severity), (2, Severity::Error));
        assert!(f.message.contains("no address in common"));
        assert!(f.message.contains("TS_UNACCEPTABLE"));
        assert!(f.message.contains("INVALID_ID_INFORMATION"));
        assert!(f.message.contains("HASH"));
        assert!(f.fix.contains("LocalSubnet") && f.fix.contains("RemoteSubnet"));
        assert!(f.expected_logs.contains(
            &"cloud: traffic selectors 192.168.1.0/24 === 192.168.0.0/24 unacceptable".to_string()
        ));
        assert!(f
            .expected_logs
            .contains(&"idc: received TS_UNACCEPTABLE notify, no CHILD_SA built".to_string()));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Phase2Fails)
        );
        // IKEv1 main mode: INVALID_ID_INFORMATION.
        let t = topo(|v| {
            cloud(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ike"]["version"] = "ikev1".into();
            cloud(v)["remote_subnets"] = serde_json::json!(["192.168.64.0/24"]);
        });
        let f = only(&t, Code::TrafficSelectorMismatch);
        assert!(f
            .expected_logs
            .contains(&"idc: received INVALID_ID_INFORMATION error notify".to_string()));
        assert!(f.expected_logs.contains(
            &"cloud: no matching CHILD_SA config found for 192.168.0.0/24 === 192.168.1.0/24"
                .to_string()
        ));
    }

    #[test]
    fn traffic_selectors_wider_side_and_narrowing() {
        let t = topo(|v| cloud(v)["local_subnets"] = serde_json::json!(["192.168.0.0/16"]));
        // The VPC side of the cloud (192.168.0.0/16) also covers the IDC's own subnet;
        // compared as sets, the cloud's is wider.
        // IKEv2 between narrowing responders (strongSwan, as in the lab's ss_narrowed_*
        // runs): the SA comes up with the intersection, whichever end initiates.
        let f = only(&t, Code::TsNarrowed);
        assert!(f.message.contains("vco-1's is wider"), "{}", f.message);
        assert!(
            f.message
                .contains("the SA comes up carrying only VPC side 192.168.1.0/24"),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("that holds when gw-1 initiates"),
            "{}",
            f.message
        );
        assert!(f
            .expected_logs
            .iter()
            .any(|l| l.contains("=> match: 192.168.1.0/24")));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Phase2AtRisk)
        );
        // Same sets written differently are not a mismatch.
        let t = topo(|v| {
            cloud(v)["local_subnets"] = serde_json::json!(["192.168.1.0/25", "192.168.1.128/25"])
        });
        assert!(compare(&t).is_empty(), "{:?}", codes(&t));
    }

    #[test]
    fn ikev1_narrowing_depends_on_the_first_subnet_pair() {
        let v1 = |v: &mut serde_json::Value| {
            cloud(v)["ike"]["version"] = serde_json::json!("ikev1");
            idc(v)["ike"]["version"] = serde_json::json!("ikev1");
        };
        // The lab's ss_narrowed_ikev1main_cloud: the IDC protects a /25 of the cloud's
        // /24. Whoever initiates, the SA carries the /25 only.
        let t = topo(|v| {
            v1(v);
            idc(v)["local_subnets"] = serde_json::json!(["192.168.0.0/25"]);
        });
        let f = only(&t, Code::TsNarrowed);
        assert!(
            f.message.contains("IKEv1 proposes one subnet pair"),
            "{}",
            f.message
        );
        // The lab's ss_narrowed_ikev1main_idc: the IDC lists a second remote subnet the
        // cloud lacks; IKEv1 negotiates the first pair, which both hold: nothing narrowed
        // (the second pair is the SA layout's concern).
        let t = topo(|v| {
            v1(v);
            idc(v)["remote_subnets"] = serde_json::json!(["192.168.1.0/24", "10.9.0.0/16"]);
        });
        assert!(
            !codes(&t).contains(&Code::TsNarrowed)
                && !codes(&t).contains(&Code::TrafficSelectorMismatch),
            "{:?}",
            codes(&t)
        );
        // A first pair the responder holds nothing of: that direction fails, so the
        // outcome depends on who initiates (TRAFFIC_SELECTOR_MISMATCH, at risk).
        let t = topo(|v| {
            v1(v);
            idc(v)["remote_subnets"] = serde_json::json!(["10.9.0.0/16", "192.168.1.0/24"]);
        });
        only(&t, Code::TrafficSelectorMismatch);
    }

    #[test]
    fn esp_proposal_mismatch() {
        // The reference run `phase2_enc_mismatch_ikev2`.
        let t =
            topo(|v| idc(v)["ipsec"]["proposals"] = serde_json::json!(["aes128-sha256-modp2048"]));
        let f = only(&t, Code::IpsecProposalMismatch);
        assert_eq!((f.faq, f.severity), (2, Severity::Error));
        assert!(
            f.message.contains(
                "encryption: vco-1 offers aes256 (IpsecConfig.IpsecEncAlg), gw-1 offers aes"
            ),
            "{}",
            f.message
        );
        assert!(
            f.fix.contains("IpsecConfig.IpsecEncAlg of vco-1 to aes"),
            "{}",
            f.fix
        );
        assert!(f.expected_logs.contains(
            &"cloud: received proposals: ESP:AES_CBC_128/HMAC_SHA2_256_128/NO_EXT_SEQ".to_string()
        ));
        assert!(f.expected_logs.contains(
            &"cloud: configured proposals: ESP:AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ"
                .to_string()
        ));
        assert!(f
            .expected_logs
            .contains(&"idc: received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built".to_string()));
        assert!(!codes(&t).contains(&Code::PfsMismatch));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Phase2Fails)
        );
    }

    #[test]
    fn pfs_mismatch_ikev1_fails_phase2_ikev2_at_rekey() {
        // The reference run `phase2_pfs_mismatch`: PFS on the IDC only, IKEv1.
        let t = topo(|v| {
            cloud(v)["ike"]["version"] = "ikev1".into();
            idc(v)["ike"]["version"] = "ikev1".into();
            cloud(v)["ipsec"]["pfs"] = "disabled".into();
        });
        let f = only(&t, Code::PfsMismatch);
        assert_eq!((f.faq, f.severity), (2, Severity::Error));
        assert!(
            f.message.contains("IpsecConfig.IpsecPfs disabled"),
            "{}",
            f.message
        );
        assert!(f.fix.contains("IpsecConfig.IpsecPfs"));
        assert!(f.expected_logs.contains(
            &"cloud: no matching proposal found, sending NO_PROPOSAL_CHOSEN".to_string()
        ));
        assert!(f.expected_logs.contains(
            &"cloud: configured proposals: ESP:AES_CBC_256/HMAC_SHA2_256_128/NO_EXT_SEQ"
                .to_string()
        ));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Phase2Fails)
        );
        // IKEv2: groups differ; only the first rekey fails.
        let t = topo(|v| cloud(v)["ipsec"]["pfs"] = "group2".into());
        let f = only(&t, Code::PfsMismatch);
        assert!(f.message.contains("first rekey"));
        assert_eq!(
            predicted_status(&t, "vco-1"),
            Some(PredictedStatus::Phase2AtRisk)
        );
    }

    #[test]
    fn status_disagrees() {
        let t = topo(|v| idc(v)["ike"]["psk"] = "different".into());
        // Reported established, but the PSKs differ.
        let f = only(&t, Code::StatusDisagrees);
        assert_eq!((f.faq, f.severity), (1, Severity::Warning));
        assert!(f.message.contains("ipsec_sa_established"));
        // Reported failing, settings agree.
        let t = topo(|v| cloud(v)["status"] = "ipsec_sa_not_established".into());
        let f = only(&t, Code::StatusDisagrees);
        assert_eq!(f.faq, 2);
        // An IKEv2 PFS mismatch may be reported either way.
        let t = topo(|v| {
            cloud(v)["ipsec"]["pfs"] = "group2".into();
            cloud(v)["status"] = "ipsec_sa_not_established".into();
        });
        assert!(!codes(&t).contains(&Code::StatusDisagrees));
    }

    #[test]
    fn order_is_phase1_then_phase2_then_status() {
        let t = topo(|v| {
            cloud(v)["remote_subnets"] = serde_json::json!(["192.168.64.0/24"]);
            idc(v)["ike"]["psk"] = "different".into();
            cloud(v)["ipsec"]["encryption"] = "3des".into();
        });
        assert_eq!(
            codes(&t),
            vec![
                Code::IkePskMismatch,
                Code::TrafficSelectorMismatch,
                Code::IpsecProposalMismatch,
                Code::StatusDisagrees
            ]
        );
    }

    #[test]
    fn faq1_faq2_mismatch_topology() {
        let t: Topology =
            serde_json::from_str(include_str!("../../topologies/faq1_faq2_mismatch.json")).unwrap();
        let fs = compare(&t);
        let c: Vec<Code> = fs.iter().map(|f| f.code).collect();
        for want in [
            Code::CustomerGatewayIpInvalid,
            Code::IkeVersionMismatch,
            Code::IkeModeMismatch,
            Code::IkePskMismatch,
            Code::IkeIdMismatch,
            Code::IkeProposalMismatch,
            // 10.10.1.0/24 lies within 10.10.0.0/16: the SA would come up narrowed.
            Code::TsNarrowed,
            Code::PfsMismatch,
        ] {
            assert!(c.contains(&want), "{want} missing from {c:?}");
        }
        let prop = fs
            .iter()
            .find(|f| f.code == Code::IkeProposalMismatch)
            .unwrap();
        assert!(prop.message.contains("encryption:"), "{}", prop.message);
        assert!(prop.message.contains("DH group:"), "{}", prop.message);
        let json = serde_json::to_string(&fs).unwrap();
        for ike in [
            &t.cloud.ipsec_connections[0].ike,
            &t.onprem.devices[0].ipsec[0].ike,
        ] {
            let psk = ike.psk.as_deref().unwrap();
            assert!(!json.contains(psk), "PSK leaked");
        }
        for f in &fs {
            assert!(matches!(f.faq, 1 | 2 | 5));
            assert_eq!(f.connection.as_deref(), Some("vco-bp1kgm7nlsfq4dh2o0w3e"));
            assert!(f.rule.is_none());
            assert!(f
                .expected_logs
                .iter()
                .all(|l| l.starts_with("cloud: ") || l.starts_with("idc: ")));
        }
        // Deterministic.
        assert_eq!(json, serde_json::to_string(&compare(&t)).unwrap());
        assert_eq!(
            predicted_status(&t, "vco-bp1kgm7nlsfq4dh2o0w3e"),
            Some(PredictedStatus::Phase1Fails)
        );
    }
}
