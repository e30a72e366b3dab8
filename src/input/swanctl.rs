//! `swanctl --list-sas` output: the IKE_SAs and CHILD_SAs a strongSwan gateway holds.
//!
//! The listing is what a gateway actually negotiated, as opposed to what its configuration
//! asks for; FAQ 4/5 questions ("how many SAs does the IDC gateway have, which subnets do
//! they carry?") are answered from it. The format, as printed by strongSwan 5.9:
//!
//! ```text
//! vpn: #1, ESTABLISHED, IKEv2, 9bea82774951c214_i* 9f3d5d34ad7e4e12_r
//!   local  '198.51.100.2' @ 198.51.100.2[4500]
//!   remote '198.51.100.1' @ 198.51.100.1[4500]
//!   AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
//!   established 10s ago, rekeying in 13226s
//!   net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128
//!     installed 10s ago, rekeying in 3394s, expires in 3950s
//!     in  25d33aea,    504 bytes,     6 packets,     2s ago
//!     out f6c5ccf0,    504 bytes,     6 packets,     2s ago
//!     local  172.30.96.0/19
//!     remote 10.0.0.0/8 172.30.128.0/17
//! ```
//!
//! An empty listing means the gateway holds no IKE_SA. Only children in state `INSTALLED`
//! carry traffic; other states are kept so that callers can say why a child does not.

use serde::Serialize;

use crate::net::addr::Cidr;

/// One IKE_SA (phase 1) as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IkeSa {
    /// Connection name (`vpn`), or `(unnamed)` for a half-open responder SA.
    pub name: String,
    /// `ESTABLISHED`, `CONNECTING`, `DELETING`, …
    pub state: String,
    /// `IKEv1` or `IKEv2`.
    pub version: String,
    /// This gateway's address (without port).
    pub local_addr: String,
    /// The peer's address (without port).
    pub remote_addr: String,
    pub children: Vec<ChildSa>,
}

/// One CHILD_SA (phase 2) as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChildSa {
    pub name: String,
    /// `INSTALLED` (carries traffic), `REKEYED`, `CREATED`, …
    pub state: String,
    /// Local traffic selectors (this gateway's side).
    pub local: Vec<Cidr>,
    /// Remote traffic selectors (the peer's side).
    pub remote: Vec<Cidr>,
    /// Negotiated proposal as listed, e.g. `ESP:AES_CBC-256/HMAC_SHA2_256_128`.
    pub proposal: String,
}

impl IkeSa {
    pub fn is_established(&self) -> bool {
        self.state == "ESTABLISHED"
    }
    /// The children that carry traffic (state `INSTALLED`).
    pub fn installed(&self) -> impl Iterator<Item = &ChildSa> {
        self.children.iter().filter(|c| c.is_installed())
    }
}

impl ChildSa {
    pub fn is_installed(&self) -> bool {
        self.state == "INSTALLED"
    }
}

/// Parses `swanctl --list-sas` output. Blank input gives no SAs. Lines that the listing
/// prints for information only (timers, byte counters, task queues) are skipped; a line
/// that cannot belong to a listing is an error naming its line number.
pub fn parse_list_sas(text: &str) -> Result<Vec<IkeSa>, String> {
    let mut sas: Vec<IkeSa> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let t = line.trim();
        if !indented {
            sas.push(parse_ike_header(t).ok_or_else(|| {
                format!(
                    "line {no}: expected an IKE_SA line of `swanctl --list-sas` such as \
                     `vpn: #1, ESTABLISHED, IKEv2, …`, got {t:?}"
                )
            })?);
            continue;
        }
        let Some(sa) = sas.last_mut() else {
            return Err(format!(
                "line {no}: indented line {t:?} before any IKE_SA line"
            ));
        };
        if let Some(child) = parse_child_header(t) {
            sa.children.push(child);
        } else if let Some((side, rest)) = split_side(t) {
            if let Some((_, endpoint)) = rest.split_once(" @ ") {
                // IKE_SA endpoint: `local  '198.51.100.2' @ 198.51.100.2[4500]`
                let addr = strip_bracket(endpoint.trim()).to_string();
                if side == Side::Local {
                    sa.local_addr = addr;
                } else {
                    sa.remote_addr = addr;
                }
            } else {
                // CHILD_SA selectors: `local  10.0.0.0/8 172.30.128.0/17`
                let Some(child) = sa.children.last_mut() else {
                    return Err(format!(
                        "line {no}: traffic selectors {t:?} outside a CHILD_SA"
                    ));
                };
                let mut cidrs = Vec::new();
                for tok in rest.split_whitespace() {
                    let c: Cidr = strip_bracket(tok)
                        .parse()
                        .map_err(|e| format!("line {no}: traffic selector {tok:?}: {e}"))?;
                    cidrs.push(c);
                }
                if side == Side::Local {
                    child.local.extend(cidrs);
                } else {
                    child.remote.extend(cidrs);
                }
            }
        }
        // Anything else indented (proposal, timers, counters, task lists) is informational.
    }
    Ok(sas)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Local,
    Remote,
}

fn split_side(t: &str) -> Option<(Side, &str)> {
    if let Some(rest) = t.strip_prefix("local ") {
        Some((Side::Local, rest.trim()))
    } else {
        t.strip_prefix("remote ")
            .map(|rest| (Side::Remote, rest.trim()))
    }
}

/// `198.51.100.2[4500]` → `198.51.100.2`; `10.0.0.0/8[tcp/80]` → `10.0.0.0/8`.
fn strip_bracket(s: &str) -> &str {
    s.split('[').next().unwrap_or(s)
}

/// `vpn: #1, ESTABLISHED, IKEv2, 9bea82774951c214_i* 9f3d5d34ad7e4e12_r`
fn parse_ike_header(t: &str) -> Option<IkeSa> {
    let (name, rest) = t.split_once(": #")?;
    let mut fields = rest.split(", ");
    let _id = fields.next()?;
    let state = fields.next()?.trim();
    let version = fields.next()?.trim();
    if !version.starts_with("IKEv") || state.is_empty() || name.is_empty() {
        return None;
    }
    Some(IkeSa {
        name: name.to_string(),
        state: state.to_string(),
        version: version.to_string(),
        local_addr: String::new(),
        remote_addr: String::new(),
        children: Vec::new(),
    })
}

/// `net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128`
fn parse_child_header(t: &str) -> Option<ChildSa> {
    let (name, rest) = t.split_once(": #")?;
    let fields: Vec<&str> = rest.split(", ").collect();
    if fields.len() < 3 || !fields[1].starts_with("reqid ") {
        return None;
    }
    let proposal = fields
        .iter()
        .skip(3)
        .find(|f| f.contains(':'))
        .map(|f| f.trim().to_string())
        .unwrap_or_default();
    Some(ChildSa {
        name: name.to_string(),
        state: fields[2].trim().to_string(),
        local: Vec::new(),
        remote: Vec::new(),
        proposal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_listing_has_no_sa() {
        assert_eq!(parse_list_sas("").unwrap(), vec![]);
        assert_eq!(parse_list_sas("\n  \n").unwrap(), vec![]);
    }

    #[test]
    fn one_child_with_two_remote_selectors() {
        let sas = parse_list_sas(include_str!(
            "../../tests/data/strongswan/ok_ikev2_single/idc.list-sas.txt"
        ))
        .unwrap();
        assert_eq!(
            sas,
            vec![IkeSa {
                name: "vpn".into(),
                state: "ESTABLISHED".into(),
                version: "IKEv2".into(),
                local_addr: "198.51.100.2".into(),
                remote_addr: "198.51.100.1".into(),
                children: vec![ChildSa {
                    name: "net".into(),
                    state: "INSTALLED".into(),
                    local: vec![c("172.30.96.0/19")],
                    remote: vec![c("10.0.0.0/8"), c("172.30.128.0/17")],
                    proposal: "ESP:AES_CBC-256/HMAC_SHA2_256_128".into(),
                }],
            }]
        );
    }

    #[test]
    fn two_children_under_one_ike_sa() {
        let sas = parse_list_sas(include_str!(
            "../../tests/data/strongswan/ok_ikev2_split_children/cloud.list-sas.txt"
        ))
        .unwrap();
        assert_eq!(sas.len(), 1);
        let names: Vec<_> = sas[0]
            .installed()
            .map(|ch| (ch.name.as_str(), ch.local.clone(), ch.remote.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("net", vec![c("10.0.0.0/8")], vec![c("172.30.96.0/19")]),
                ("net", vec![c("172.30.128.0/17")], vec![c("172.30.96.0/19")]),
            ]
        );
        assert_eq!(
            sas[0].children[1].proposal,
            "ESP:AES_CBC-256/HMAC_SHA2_256_128/MODP_2048"
        );
    }

    #[test]
    fn connecting_ike_sa_without_children() {
        let sas = parse_list_sas(include_str!(
            "../../tests/data/strongswan/psk_mismatch_ikev1_main/cloud.list-sas.txt"
        ))
        .unwrap();
        assert_eq!(sas.len(), 1);
        assert_eq!(sas[0].name, "(unnamed)");
        assert_eq!(sas[0].state, "CONNECTING");
        assert_eq!(sas[0].version, "IKEv1");
        assert_eq!(sas[0].local_addr, "198.51.100.1");
        assert_eq!(sas[0].remote_addr, "198.51.100.2");
        assert!(!sas[0].is_established());
        assert!(sas[0].children.is_empty());
    }

    #[test]
    fn selectors_with_protocol_and_port() {
        let text = "vpn: #3, ESTABLISHED, IKEv2, a_i b_r*\n  local  'a' @ 192.0.2.1[4500]\n  remote 'b' @ 192.0.2.2[4500]\n  net: #7, reqid 2, REKEYED, TUNNEL, ESP:AES_GCM_16-256\n    local  10.1.0.0/16[tcp/80] 10.2.0.0/16\n    remote 10.9.0.0/16\n";
        let sas = parse_list_sas(text).unwrap();
        let ch = &sas[0].children[0];
        assert_eq!(ch.state, "REKEYED");
        assert!(!ch.is_installed());
        assert_eq!(ch.local, vec![c("10.1.0.0/16"), c("10.2.0.0/16")]);
        assert_eq!(sas[0].installed().count(), 0);
    }

    #[test]
    fn not_a_listing_names_the_line() {
        let err = parse_list_sas(include_str!(
            "../../tests/data/strongswan/peer_not_responding/cloud.list-sas.txt"
        ))
        .unwrap_err();
        assert!(err.starts_with("line 1: "), "{err}");
        assert!(err.contains("connecting to"), "{err}");
    }

    #[test]
    fn bad_selector_names_the_line() {
        let text = "vpn: #1, ESTABLISHED, IKEv2, a b\n  net: #1, reqid 1, INSTALLED, TUNNEL, ESP:X\n    local  10.0.0.0/33\n";
        let err = parse_list_sas(text).unwrap_err();
        assert!(
            err.starts_with("line 3: traffic selector \"10.0.0.0/33\""),
            "{err}"
        );
    }

    #[test]
    fn child_before_ike_sa_is_an_error() {
        let err = parse_list_sas("  net: #1, reqid 1, INSTALLED, TUNNEL, ESP:X\n").unwrap_err();
        assert!(err.starts_with("line 1: "), "{err}");
    }
}
