//! Every code vpntrace can print, in one table: its name, FAQ case(s), default
//! severity, a one-line title, the commands that report it, and its documentation
//! (`docs/<CODE>.md`, shown by `vpntrace explain CODE`).
//!
//! A new finding kind starts here: add a row to [`codes!`]'s invocation below and its
//! documentation file with the five sections of [`DOC_SECTIONS`] (a test checks them).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::findings::finding::Severity;

/// The sections every code's documentation has, in this order (as `## ` headings).
pub const DOC_SECTIONS: [&str; 5] = [
    "What it means",
    "FAQ",
    "How vpntrace detects it",
    "Example",
    "Fix",
];

/// One row of the code table.
#[derive(Clone, Copy, Debug)]
pub struct CodeInfo {
    pub code: Code,
    /// The SCREAMING_SNAKE name printed in findings.
    pub name: &'static str,
    /// The Alibaba Cloud IPsec-VPN FAQ case(s) the code belongs to.
    pub faq: &'static [u8],
    /// The severity a finding of this code has unless its doc says when it differs.
    pub severity: Severity,
    pub title: &'static str,
    /// The commands that report it; empty for a code reserved for upcoming work.
    pub commands: &'static [&'static str],
    /// Markdown, with the sections of [`DOC_SECTIONS`].
    pub doc: &'static str,
}

impl CodeInfo {
    /// Reserved: in the table and documented, but no command reports it yet.
    pub fn reserved(&self) -> bool {
        self.commands.is_empty()
    }
}

/// Declares [`Code`] and [`CODES`] from one list, so the two cannot disagree.
macro_rules! codes {
    ($( $variant:ident = $name:literal, faq $faq:expr, $sev:ident, [$($cmd:literal),*], $title:literal; )*) => {
        /// A finding code. Serialises and displays as its SCREAMING_SNAKE name, and
        /// orders by it (findings sorted by code keep the order they had as strings).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $variant, )*
        }

        /// Every code, in the order of [`Code`]'s variants (grouped by FAQ case).
        pub const CODES: &[CodeInfo] = &[
            $( CodeInfo {
                code: Code::$variant,
                name: $name,
                faq: &$faq,
                severity: Severity::$sev,
                title: $title,
                commands: &[$($cmd),*],
                doc: include_str!(concat!("docs/", $name, ".md")),
            }, )*
        ];
    };
}

codes! {
    // faq 1/2: settings (check) and negotiation logs (logs)
    IkeVersionMismatch = "IKE_VERSION_MISMATCH", faq [1], Error, ["check", "logs"], "IKE versions differ (IKEv1 on one end, IKEv2 on the other)";
    IkeModeMismatch = "IKE_MODE_MISMATCH", faq [1], Error, ["check", "logs"], "IKEv1 negotiation modes differ (main vs aggressive)";
    IkePskMismatch = "IKE_PSK_MISMATCH", faq [1], Error, ["check", "logs"], "the pre-shared keys differ";
    IkeIdMismatch = "IKE_ID_MISMATCH", faq [1], Error, ["check", "logs"], "an end's LocalId is not the other end's RemoteId";
    IkeProposalMismatch = "IKE_PROPOSAL_MISMATCH", faq [1], Error, ["check", "logs"], "no common phase-1 encryption, integrity/PRF or DH group";
    IkeLifetimeMismatch = "IKE_LIFETIME_MISMATCH", faq [1], Warning, ["check"], "phase-1 lifetimes differ";
    CustomerGatewayIpInvalid = "CUSTOMER_GATEWAY_IP_INVALID", faq [1], Error, ["check", "logs"], "the customer gateway IP is not a valid public address";
    CustomerGatewayIpMismatch = "CUSTOMER_GATEWAY_IP_MISMATCH", faq [1], Error, ["check"], "the customer gateway IP is not the IDC gateway's public address";
    PeerIpMismatch = "PEER_IP_MISMATCH", faq [1], Error, ["check"], "the IDC gateway dials an address other than the VPN gateway's public IP";
    PeerNotResponding = "PEER_NOT_RESPONDING", faq [1], Error, ["logs"], "IKE requests are retransmitted without any answer";
    IdcIpsecNotModelled = "IDC_IPSEC_NOT_MODELLED", faq [1], Warning, ["check"], "the IDC end of a connection is not modelled: its settings cannot be compared";
    IpsecSettingUnknown = "IPSEC_SETTING_UNKNOWN", faq [1, 2], Warning, ["check"], "an IKE version, mode or algorithm name is unknown: that comparison is skipped";
    TrafficSelectorMismatch = "TRAFFIC_SELECTOR_MISMATCH", faq [2], Error, ["check", "logs"], "the phase-2 subnets (traffic selectors) of the ends do not mirror each other";
    IpsecProposalMismatch = "IPSEC_PROPOSAL_MISMATCH", faq [2], Error, ["check", "logs"], "no common phase-2 (ESP) encryption or integrity";
    PfsMismatch = "PFS_MISMATCH", faq [2], Error, ["check", "logs"], "the PFS group differs, or PFS is enabled on one end only";
    IpsecLifetimeMismatch = "IPSEC_LIFETIME_MISMATCH", faq [2], Warning, ["check"], "phase-2 lifetimes differ";
    StatusDisagrees = "STATUS_DISAGREES", faq [1, 2], Warning, ["check"], "the reported connection status contradicts what the settings predict";
    IpsecNotEstablished = "IPSEC_NOT_ESTABLISHED", faq [1, 2], Error, ["trace", "check", "split"], "traffic reaches a connection whose IPsec SA is not up";
    DpdTimeout = "DPD_TIMEOUT", faq [1], Error, ["logs"], "dead peer detection closed an established tunnel";
    NatTBlocked = "NAT_T_BLOCKED", faq [1], Error, ["logs"], "after IKE_SA_INIT, UDP 4500 or IP fragments never arrive";
    RekeyFailed = "REKEY_FAILED", faq [1, 2], Error, ["logs"], "an established SA failed to rekey";
    // faq 3/4: reachability (trace, check, split)
    VrouterNoRoute = "VROUTER_NO_ROUTE", faq [3, 4], Error, ["trace", "check", "split"], "the vSwitch's route table has no route for the destination";
    VpnRouteNotPublished = "VPN_ROUTE_NOT_PUBLISHED", faq [3, 4], Error, ["trace", "check", "split"], "the VPN gateway has the route but it is not published to the VPC";
    VrouterRouteElsewhere = "VROUTER_ROUTE_ELSEWHERE", faq [3, 4], Error, ["trace", "check", "split"], "the VRouter's best route leads somewhere other than the VPN gateway";
    VpnGatewayNoRoute = "VPN_GATEWAY_NO_ROUTE", faq [3, 4], Error, ["trace", "check", "split"], "the VPN gateway has no policy or destination route for the packet";
    IdcEndpointMissing = "IDC_ENDPOINT_MISSING", faq [3, 4], Error, ["trace", "check", "split"], "no on-prem device terminates the connection";
    SgEgressDrop = "SG_EGRESS_DROP", faq [3, 4], Error, ["trace", "check", "split"], "the instance's security groups drop the packet on its way out";
    SgIngressDrop = "SG_INGRESS_DROP", faq [3, 4], Error, ["trace", "check", "split"], "the instance's security groups drop the packet on its way in";
    IdcFilterDrop = "IDC_FILTER_DROP", faq [3, 4], Error, ["trace", "check", "split"], "an on-prem filter chain (ACL, iptables, firewall policy) drops the packet";
    ReplyDroppedStatelessAcl = "REPLY_DROPPED_STATELESS_ACL", faq [3, 4], Error, ["trace", "check", "split"], "a stateless ACL passes the request but drops its reply";
    ReplySessionMiss = "REPLY_SESSION_MISS", faq [3, 4], Error, ["trace", "check", "split"], "a stateful firewall drops a reply it saw no request for (asymmetric path)";
    IdcNoRoute = "IDC_NO_ROUTE", faq [3, 4], Error, ["trace", "check", "split"], "an on-prem device has no route for the destination";
    IdcRouteNotToTunnel = "IDC_ROUTE_NOT_TO_TUNNEL", faq [3, 4], Error, ["trace", "check", "split"], "VPC-bound traffic leaves the IDC without entering the tunnel";
    ForwardingDisabled = "FORWARDING_DISABLED", faq [3, 4], Error, ["trace", "check", "split"], "the device does not forward packets (net.ipv4.ip_forward=0)";
    RpFilterDrop = "RP_FILTER_DROP", faq [3, 4], Error, ["trace", "check", "split"], "Linux reverse-path filtering drops the packet";
    MartianSource = "MARTIAN_SOURCE", faq [3, 4], Error, ["trace", "check", "split"], "a packet comes back to the device that sent it, which drops it as a martian source";
    RoutingLoop = "ROUTING_LOOP", faq [3, 4], Error, ["trace", "check", "split"], "the packet loops between devices";
    LeftModelledNetwork = "LEFT_MODELLED_NETWORK", faq [3, 4], Error, ["trace", "check", "split"], "a packet for a modelled destination leaves the modelled network";
    ConnectionSpaceUnused = "CONNECTION_SPACE_UNUSED", faq [3, 5], Warning, ["check"], "a connection is configured for address space no vSwitch or IDC subnet holds";
    // faq 5: SA layout (check, split, logs)
    SaNotCovering = "SA_NOT_COVERING", faq [5, 3, 4], Error, ["trace", "check", "split"], "a packet routed into a connection finds no SA that carries it";
    IkeV1MultipleSubnetPairs = "IKEV1_MULTIPLE_SUBNET_PAIRS", faq [5], Error, ["check", "split"], "an IKEv1 connection lists several subnet pairs";
    IkeV2SaPerSubnetPair = "IKEV2_SA_PER_SUBNET_PAIR", faq [5], Error, ["check", "split"], "IKEv2: one end holds one SA per subnet pair, the other one SA for all";
    SaCoversLessThanConfigured = "SA_COVERS_LESS_THAN_CONFIGURED", faq [5], Error, ["check", "split"], "an end's SAs leave part of its configured subnets without an SA";
    SaNotMirrored = "SA_NOT_MIRRORED", faq [5], Warning, ["check", "split"], "an SA on one end has no mirrored SA on the other end";
    SubnetsOverlap = "SUBNETS_OVERLAP", faq [5], Error, ["check", "split"], "a connection's local and remote subnets overlap";
    SubnetListedTwice = "SUBNET_LISTED_TWICE", faq [5], Warning, ["check", "split"], "a subnet is listed twice (or inside another) on one side of a connection";
    SubnetsWithoutSa = "SUBNETS_WITHOUT_SA", faq [5], Warning, ["logs"], "a CHILD_SA came up for fewer subnets than the connection lists";
    MultipleChildSas = "MULTIPLE_CHILD_SAS", faq [5], Warning, ["logs"], "one IKE_SA carries several CHILD_SAs with different subnets";
    TsNarrowed = "TS_NARROWED", faq [5], Error, ["check", "logs"], "the responder narrowed the traffic selectors: the SA covers only part";
    // faq 6: NAT
    IdcNatBreaksIpsec = "IDC_NAT_BREAKS_IPSEC", faq [6], Error, ["trace", "check", "split"], "on-prem source NAT rewrites the source before IPsec matching";
}

/// Names earlier versions printed for a cause that now has one code everywhere
/// (`logs` and `check` used different names): (old name, code).
pub const RENAMED: &[(&str, Code)] = &[
    ("PSK_MISMATCH", Code::IkePskMismatch),
    ("TS_MISMATCH", Code::TrafficSelectorMismatch),
    ("ESP_PROPOSAL_MISMATCH", Code::IpsecProposalMismatch),
];

impl Code {
    pub fn info(self) -> &'static CodeInfo {
        &CODES[self as usize]
    }
    /// The SCREAMING_SNAKE name, as printed.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }
    /// The code named `s`, case-insensitively (`ike_psk_mismatch` works).
    pub fn lookup(s: &str) -> Option<Code> {
        CODES
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(s.trim()))
            .map(|i| i.code)
    }
    /// The code an old name was renamed to (`PSK_MISMATCH` → `IKE_PSK_MISMATCH`).
    pub fn renamed(s: &str) -> Option<Code> {
        RENAMED
            .iter()
            .find(|(old, _)| old.eq_ignore_ascii_case(s.trim()))
            .map(|&(_, new)| new)
    }
    /// Codes whose names are close to `s` (for an unknown name): those sharing a word
    /// with it or within a small edit distance, best first, at most five.
    pub fn close_to(s: &str) -> Vec<Code> {
        let want = s.trim().to_ascii_uppercase().replace(['-', ' '], "_");
        let words: Vec<&str> = want.split('_').filter(|w| w.len() > 1).collect();
        let mut scored: Vec<(usize, Code)> = CODES
            .iter()
            .filter_map(|i| {
                let d = edit_distance(&want, i.name);
                let shared = i.name.split('_').filter(|w| words.contains(w)).count();
                let close = d <= (i.name.len().max(want.len()) / 3).max(2);
                (close || shared > 0).then_some((d.saturating_sub(4 * shared), i.code))
            })
            .collect();
        scored.sort();
        let mut out: Vec<Code> = RENAMED
            .iter()
            .filter(|(old, _)| old.eq_ignore_ascii_case(&want))
            .map(|&(_, new)| new)
            .collect();
        for (_, c) in scored {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out.truncate(5);
        out
    }
}

/// Levenshtein distance over bytes (code names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Ord for Code {
    fn cmp(&self, other: &Code) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Code) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The `## ` sections of a code's documentation, in order: (heading, body).
pub fn doc_sections(doc: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("## ") {
        let after = &rest[start + 3..];
        let head_end = after.find('\n').unwrap_or(after.len());
        let body_and_more = &after[head_end..];
        let body_end = body_and_more
            .find("\n## ")
            .map_or(body_and_more.len(), |e| e + 1);
        out.push((after[..head_end].trim(), body_and_more[..body_end].trim()));
        rest = &body_and_more[body_end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_variant_order_and_names_are_unique_screaming_snake() {
        for (i, c) in CODES.iter().enumerate() {
            assert_eq!(c.code as usize, i, "{}", c.name);
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_'),
                "{}",
                c.name
            );
            assert_eq!(
                CODES.iter().filter(|o| o.name == c.name).count(),
                1,
                "{}",
                c.name
            );
            assert!(
                !c.faq.is_empty() && c.faq.iter().all(|f| (1..=6).contains(f)),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn every_code_has_documentation_with_all_five_sections() {
        for c in CODES {
            let heads: Vec<&str> = doc_sections(c.doc).iter().map(|s| s.0).collect();
            assert_eq!(heads, DOC_SECTIONS, "docs/{}.md: sections", c.name);
            for (head, body) in doc_sections(c.doc) {
                assert!(
                    body.len() >= 40,
                    "docs/{}.md: section {head:?} is too short",
                    c.name
                );
            }
            assert!(
                c.doc.starts_with(&format!("# {}\n", c.name)),
                "docs/{}.md must start with `# {}`",
                c.name,
                c.name
            );
            let faq = doc_sections(c.doc)[1].1;
            for f in c.faq {
                assert!(
                    faq.contains(&format!("FAQ {f}")),
                    "docs/{}.md: FAQ section does not name FAQ {f}",
                    c.name
                );
            }
            if c.reserved() {
                assert!(
                    c.doc.contains("Reserved") && c.doc.contains("`logs`"),
                    "docs/{}.md: a reserved code says it is reserved and comes from `logs`",
                    c.name
                );
            }
        }
    }

    #[test]
    fn every_doc_file_belongs_to_a_code() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/findings/docs");
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let code = name.strip_suffix(".md").unwrap_or(&name);
            assert!(
                Code::lookup(code).is_some(),
                "src/findings/docs/{name} names no code"
            );
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_suggests_close_names() {
        assert_eq!(Code::lookup("ike_psk_mismatch"), Some(Code::IkePskMismatch));
        assert_eq!(Code::lookup("PSK_MISMATCH"), None);
        assert_eq!(Code::close_to("PSK_MISMATCH")[0], Code::IkePskMismatch);
        assert_eq!(
            Code::close_to("TS_MISMATCH")[0],
            Code::TrafficSelectorMismatch
        );
        assert!(Code::close_to("ESP_PROPOSAL_MISMATCH").contains(&Code::IpsecProposalMismatch));
        assert!(Code::close_to("zzzz").is_empty());
        assert_eq!(Code::SgEgressDrop.to_string(), "SG_EGRESS_DROP");
        assert_eq!(
            serde_json::to_string(&Code::SaNotCovering).unwrap(),
            "\"SA_NOT_COVERING\""
        );
    }

    #[test]
    fn sections_split_on_second_level_headings() {
        let s = doc_sections("# X\n\n## A\none\n\n## B\ntwo\n### sub\nthree\n");
        assert_eq!(s, vec![("A", "one"), ("B", "two\n### sub\nthree")]);
    }
}
