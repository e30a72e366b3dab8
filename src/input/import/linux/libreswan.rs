//! Libreswan's `ipsec.conf` (and `ipsec.secrets`) → the device's `ipsec[]` entries.
//!
//! The file holds a `config setup` section and `conn NAME` sections, each a header line
//! at column 0 followed by indented `key=value` lines; `#` comments. `conn %default` is
//! applied to every connection and `also=NAME` includes another conn's settings (the
//! including conn's own settings win). `left` is taken as the local end (Libreswan picks
//! the end whose address is on the machine; the exports put the local end left).
//!
//! Read per conn: `left`, `right`, `leftid`, `rightid` (default: the addresses),
//! `leftsubnet(s)`, `rightsubnet(s)` (default: the address itself), `ikev2` /
//! `keyexchange` (the IKE version), `aggressive` / `aggrmode`, `ike`, `esp` /
//! `phase2alg`, `pfs`, `ikelifetime`, `salifetime` / `keylife` / `lifetime`, `authby`.
//! Libreswan's algorithm names (`aes256-sha2_256-modp2048`, `aes_gcm256`, `;modp2048`)
//! are written as strongSwan proposal strings (`aes256-sha256-modp2048`). With
//! `pfs=no` the ESP proposals carry no DH group; with PFS on and no group in `esp`,
//! Libreswan uses the IKE SA's group, so that group is added. The PSK comes from
//! `ipsec.secrets` (`ID ID : PSK "secret"`); it is compared, never printed.

use crate::input::error::InputError;
use crate::input::import::linux::swanconf::Conn;
use crate::input::import::Warning;
use crate::input::{DeviceIpsec, Ike, IpsecMode, IpsecParams};
use crate::net::addr::Cidr;

/// One `conn` section as read: its settings with their line numbers.
#[derive(Debug, Clone, Default)]
struct Section {
    name: String,
    line: usize,
    settings: Vec<(String, String, usize)>,
}

impl Section {
    fn get(&self, k: &str) -> Option<(&str, usize)> {
        self.settings
            .iter()
            .rev()
            .find(|(key, _, _)| key == k)
            .map(|(_, v, l)| (v.as_str(), *l))
    }
}

fn strip_comment(l: &str) -> &str {
    let mut quoted = false;
    for (i, c) in l.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &l[..i],
            _ => {}
        }
    }
    l
}

/// The `conn` sections in file order (`config setup` is skipped).
fn sections(file: &str, text: &str) -> Result<Vec<Section>, InputError> {
    let mut out: Vec<Section> = Vec::new();
    let mut in_conn = false;
    let mut seen_section = false;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = strip_comment(raw);
        if l.trim().is_empty() {
            continue;
        }
        let err = |m: String| InputError::new(file, format!("line {line}"), m);
        if !l.starts_with(char::is_whitespace) {
            let mut words = l.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("conn"), Some(name), None) => {
                    out.push(Section {
                        name: name.to_string(),
                        line,
                        ..Section::default()
                    });
                    in_conn = true;
                }
                (Some("config"), Some("setup"), None) => in_conn = false,
                (Some("version"), Some(_), None) => in_conn = false,
                (Some("include"), Some(_), None) => in_conn = false,
                _ => {
                    return Err(err(format!(
                        "expected `conn NAME` or `config setup` at the start of a line, got {:?}",
                        l.trim()
                    )))
                }
            }
            seen_section = true;
            continue;
        }
        if !seen_section {
            return Err(err(format!(
                "an indented setting before any `conn` or `config setup`: {:?}",
                l.trim()
            )));
        }
        let l = l.trim();
        let Some((k, v)) = l.split_once('=') else {
            return Err(err(format!("expected `key=value`, got {l:?}")));
        };
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(err(format!(
                "expected a setting name before `=`, got {k:?}"
            )));
        }
        if !in_conn {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        out.last_mut()
            .expect("in_conn implies a section")
            .settings
            .push((k.to_string(), v.to_string(), line));
    }
    Ok(out)
}

/// The conn's settings with `%default` and `also=` applied (own settings last, so that
/// they win in [`Section::get`]).
fn resolve(all: &[Section], s: &Section, w: &mut Vec<Warning>, file: &str) -> Section {
    fn add(all: &[Section], s: &Section, out: &mut Vec<(String, String, usize)>, depth: usize) {
        for (k, v, _) in &s.settings {
            if k == "also" && depth < 8 {
                if let Some(inc) = all.iter().find(|x| &x.name == v) {
                    add(all, inc, out, depth + 1);
                }
            }
        }
        out.extend(s.settings.iter().filter(|(k, _, _)| k != "also").cloned());
    }
    let mut settings = Vec::new();
    if let Some(d) = all.iter().find(|x| x.name == "%default") {
        settings.extend(d.settings.iter().cloned());
    }
    for (k, v, l) in &s.settings {
        if k == "also" && !all.iter().any(|x| &x.name == v) {
            w.push(Warning::new(
                format!("{file}:{l}"),
                format!("also={v}: no conn {v} in this file; its settings are not read"),
            ));
        }
    }
    add(all, s, &mut settings, 0);
    Section {
        name: s.name.clone(),
        line: s.line,
        settings,
    }
}

/// `8h`, `3600`, `3600s`, `30m`, `1d` → seconds.
fn duration(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.chars().last()? {
        's' => (&v[..v.len() - 1], 1),
        'm' => (&v[..v.len() - 1], 60),
        'h' => (&v[..v.len() - 1], 3600),
        'd' => (&v[..v.len() - 1], 86400),
        _ => (v, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// One Libreswan algorithm token in strongSwan's spelling.
fn swan_token(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    match t.as_str() {
        "sha2_256" | "sha2" => "sha256".into(),
        "sha2_384" => "sha384".into(),
        "sha2_512" => "sha512".into(),
        "sha" => "sha1".into(),
        "aes_gcm" | "aes_gcm_16" => "aes128gcm16".into(),
        _ => {
            // aes_gcm256 / aes_gcm_16_256 → aes256gcm16; aes_ctr → aesctr.
            if let Some(rest) = t.strip_prefix("aes_gcm") {
                let bits = rest.trim_start_matches("_16").trim_start_matches('_');
                return format!("aes{}gcm16", if bits.is_empty() { "128" } else { bits });
            }
            if let Some(rest) = t.strip_prefix("aes_ctr") {
                return format!("aes{}ctr", rest.trim_start_matches('_'));
            }
            if let Some(rest) = t.strip_prefix("dh") {
                if rest.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty() {
                    return match rest {
                        "2" => "modp1024",
                        "5" => "modp1536",
                        "14" => "modp2048",
                        "15" => "modp3072",
                        "16" => "modp4096",
                        "19" => "ecp256",
                        "20" => "ecp384",
                        "21" => "ecp521",
                        "31" => "curve25519",
                        _ => return t.clone(),
                    }
                    .into();
                }
            }
            t
        }
    }
}

fn is_dh(t: &str) -> bool {
    t.starts_with("modp") || t.starts_with("ecp") || t.starts_with("curve") || t == "x25519"
}

/// `aes256-sha2_256-modp2048,aes128-sha1;modp1024` → strongSwan proposal strings.
fn proposals(v: &str) -> Vec<String> {
    v.split(',')
        .map(|p| {
            p.split(['-', ';', '+'])
                .filter(|t| !t.trim().is_empty())
                .map(swan_token)
                .collect::<Vec<_>>()
                .join("-")
        })
        .filter(|p| !p.is_empty())
        .collect()
}

fn subnets(
    v: &str,
    key: &str,
    l: usize,
    file: &str,
    w: &mut Vec<Warning>,
) -> Result<Vec<Cidr>, InputError> {
    let mut out = Vec::new();
    for item in v
        .trim_matches(|c| c == '{' || c == '}')
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if item.contains(':') {
            w.push(Warning::new(
                format!("{file}:{l}"),
                format!("`{item}`: IPv6 or protocol/port selectors are not modelled"),
            ));
            continue;
        }
        if item.starts_with('%') {
            w.push(Warning::new(
                format!("{file}:{l}"),
                format!("{key}={item}: not an address; not imported"),
            ));
            continue;
        }
        out.push(item.parse().map_err(|e: String| {
            InputError::new(file, format!("line {l}"), format!("{key}: {e}"))
        })?);
    }
    Ok(out)
}

/// The PSK in `ipsec.secrets` for these ids: the entry naming the remote id or address,
/// else one for `%any` (or with no ids), else the only one.
fn psk(secrets: &str, ids: &[&str]) -> Option<String> {
    let mut entries = Vec::new();
    for raw in secrets.lines() {
        let l = strip_comment(raw).trim();
        let Some((sel, rest)) = l.split_once(':') else {
            continue;
        };
        let rest = rest.trim();
        let Some(secret) = rest.strip_prefix("PSK") else {
            continue;
        };
        let secret = secret.trim();
        let secret = secret
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(secret)
            .to_string();
        let names: Vec<String> = sel.split_whitespace().map(str::to_string).collect();
        entries.push((names, secret));
    }
    let named = entries
        .iter()
        .find(|(n, _)| n.iter().any(|x| ids.contains(&x.as_str())));
    let any = entries
        .iter()
        .find(|(n, _)| n.is_empty() || n.iter().all(|x| x == "%any" || x == "0.0.0.0"));
    named
        .or(any)
        .or(if entries.len() == 1 {
            entries.first()
        } else {
            None
        })
        .map(|(_, s)| s.clone())
}

/// The IKE version of a conn: `Ok(None)` when either is accepted (warned).
fn version(s: &Section, at: &dyn Fn(usize) -> String, w: &mut Vec<Warning>) -> Option<String> {
    if let Some((v, l)) = s.get("keyexchange") {
        match v {
            "ikev1" => return Some("ikev1".into()),
            "ikev2" => return Some("ikev2".into()),
            "ike" => {}
            _ => w.push(Warning::new(
                at(l),
                format!("keyexchange={v}: not understood; the IKE version is not imported"),
            )),
        }
    }
    match s.get("ikev2") {
        Some(("no" | "never", _)) => Some("ikev1".into()),
        Some(("yes" | "insist", _)) | None => Some("ikev2".into()),
        Some((v, l)) => {
            w.push(Warning::new(
                at(l),
                format!(
                    "ikev2={v}: either IKE version is accepted; vpntrace compares one, so none is imported"
                ),
            ));
            None
        }
    }
}

/// Every `conn` (except `%default` and conns that only serve `also=`) as one `ipsec[]`
/// entry per local × remote subnet list (Libreswan negotiates them as one Child SA per
/// pair; the entry carries the lists). `connection` is left as the conn's name for the
/// caller to pair with a cloud connection. `secrets` is `ipsec.secrets`, when at hand.
pub fn connections(
    file: &str,
    origin: &str,
    text: &str,
    secrets: Option<&str>,
) -> Result<(Vec<Conn>, Vec<Warning>), InputError> {
    let mut w = Vec::new();
    let all = sections(file, text)?;
    let included: Vec<&str> = all
        .iter()
        .flat_map(|s| s.settings.iter())
        .filter(|(k, _, _)| k == "also")
        .map(|(_, v, _)| v.as_str())
        .collect();
    let mut out = Vec::new();
    for raw in all
        .iter()
        .filter(|s| s.name != "%default" && !included.contains(&s.name.as_str()))
    {
        let s = resolve(&all, raw, &mut w, file);
        let at = |l: usize| format!("{file}:{l}");
        if matches!(s.get("auto"), Some(("ignore", _))) {
            continue;
        }
        let left = s.get("left").map(|(v, _)| v.to_string());
        let right = s.get("right").map(|(v, _)| v.to_string());
        let mut ike = Ike {
            version: version(&s, &at, &mut w),
            ..Ike::default()
        };
        let aggressive = matches!(s.get("aggressive").or(s.get("aggrmode")), Some(("yes", _)));
        if ike.version.as_deref() == Some("ikev1") || aggressive {
            ike.mode = Some(if aggressive { "aggressive" } else { "main" }.into());
        }
        if let Some((v, _)) = s.get("ike") {
            ike.proposals = proposals(v);
        }
        let ike_dh: Option<String> = ike
            .proposals
            .iter()
            .flat_map(|p| p.split('-'))
            .find(|t| is_dh(t))
            .map(str::to_string);
        let addr_id = |v: &Option<String>| v.clone().filter(|a| !a.starts_with('%'));
        ike.local_id = s
            .get("leftid")
            .map(|(v, _)| v.trim_start_matches('@').to_string())
            .or_else(|| addr_id(&left));
        ike.remote_id = s
            .get("rightid")
            .map(|(v, _)| v.trim_start_matches('@').to_string())
            .or_else(|| addr_id(&right));
        match s.get("authby") {
            Some(("secret" | "psk", _)) | None => {}
            Some((v, l)) => w.push(Warning::new(
                at(l),
                format!("authby={v}: only pre-shared keys are compared"),
            )),
        }
        if let Some(sec) = secrets {
            let mut ids: Vec<&str> = Vec::new();
            ids.extend(ike.remote_id.as_deref());
            ids.extend(right.as_deref());
            ike.psk = psk(sec, &ids);
        }
        if let Some((v, l)) = s.get("ikelifetime") {
            ike.lifetime = Some(duration(v).ok_or_else(|| {
                InputError::new(
                    file,
                    format!("line {l}"),
                    format!("ikelifetime: expected a duration such as 8h or 3600s, got {v:?}"),
                )
            })?);
        }
        let mut ipsec = IpsecParams::default();
        let pfs = !matches!(s.get("pfs"), Some(("no", _)));
        if let Some((v, _)) = s.get("esp").or(s.get("phase2alg")) {
            ipsec.proposals = proposals(v)
                .into_iter()
                .map(|p| {
                    let toks: Vec<&str> = p.split('-').collect();
                    let mut kept: Vec<String> = toks
                        .iter()
                        .filter(|t| pfs || !is_dh(t))
                        .map(|t| t.to_string())
                        .collect();
                    if pfs && !toks.iter().any(|t| is_dh(t)) {
                        kept.extend(ike_dh.clone());
                    }
                    kept.join("-")
                })
                .collect();
        }
        if let Some((v, l)) = s
            .get("salifetime")
            .or(s.get("keylife"))
            .or(s.get("lifetime"))
        {
            ipsec.lifetime = Some(duration(v).ok_or_else(|| {
                InputError::new(
                    file,
                    format!("line {l}"),
                    format!("salifetime: expected a duration such as 1h or 3600s, got {v:?}"),
                )
            })?);
        }
        if let Some((m, l)) = s.get("type") {
            if m != "tunnel" {
                w.push(Warning::new(
                    at(l),
                    format!("type={m}: only tunnel mode is modelled"),
                ));
            }
        }
        let host = |v: &Option<String>| -> Vec<Cidr> {
            v.as_deref()
                .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
                .map(Cidr::host)
                .into_iter()
                .collect()
        };
        let side = |key: &str, w: &mut Vec<Warning>| -> Result<Option<Vec<Cidr>>, InputError> {
            match s
                .get(&format!("{key}subnets"))
                .or(s.get(&format!("{key}subnet")))
            {
                Some((v, l)) => subnets(v, &format!("{key}subnet"), l, file, w).map(Some),
                None => Ok(None),
            }
        };
        let local_subnets = side("left", &mut w)?.unwrap_or_else(|| host(&left));
        let remote_subnets = side("right", &mut w)?.unwrap_or_else(|| host(&right));
        let peer = right
            .as_deref()
            .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
            .map(Cidr::host);
        if peer.is_none() {
            w.push(Warning::new(
                at(s.line),
                format!("conn {}: no IPv4 `right`: its peer is unknown", s.name),
            ));
        }
        out.push(Conn {
            name: s.name.clone(),
            local_addrs: left.into_iter().collect(),
            remote_addrs: right.into_iter().collect(),
            ipsec: DeviceIpsec {
                connection: s.name.clone(),
                mode: IpsecMode::Policy,
                interface: None,
                peer,
                local_subnets,
                remote_subnets,
                ike,
                ipsec,
                sas: None,
                origin: Some(format!("{origin}:{}", s.line)),
            },
        });
    }
    Ok((out, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "config setup\n    logfile=/var/log/pluto.log\n\nconn %default\n    ikelifetime=8h\n\nconn base\n    authby=secret\n    left=203.0.113.10\n    right=47.100.1.1\n\nconn vco # the cloud\n    also=base\n    ikev2=no\n    aggressive=yes\n    leftid=@idc.example.com\n    leftsubnet=192.168.0.0/24\n    rightsubnets={192.168.1.0/24 192.168.2.0/24}\n    ike=aes256-sha2_256;modp2048\n    esp=aes128-sha1\n    pfs=yes\n    salifetime=1h\n";

    #[test]
    fn reads_conn_with_default_also_and_secret() {
        let secrets =
            "# keys\n203.0.113.10 47.100.1.1 : PSK \"s3cret\"\n%any %any : PSK \"other\"\n";
        let (c, w) = connections("f", "ipsec.conf", CONF, Some(secrets)).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.len(), 1, "`base` only serves also=");
        let d = &c[0].ipsec;
        assert_eq!(d.connection, "vco");
        assert_eq!(d.ike.version.as_deref(), Some("ikev1"));
        assert_eq!(d.ike.mode.as_deref(), Some("aggressive"));
        assert_eq!(d.ike.local_id.as_deref(), Some("idc.example.com"));
        assert_eq!(d.ike.remote_id.as_deref(), Some("47.100.1.1"));
        assert_eq!(d.ike.psk.as_deref(), Some("s3cret"));
        assert_eq!(d.ike.lifetime, Some(8 * 3600));
        assert_eq!(d.ike.proposals, ["aes256-sha256-modp2048"]);
        // PFS on without a group in esp: the IKE SA's group.
        assert_eq!(d.ipsec.proposals, ["aes128-sha1-modp2048"]);
        assert_eq!(d.ipsec.lifetime, Some(3600));
        assert_eq!(d.local_subnets.len(), 1);
        assert_eq!(d.remote_subnets.len(), 2);
        assert_eq!(d.peer, Some("47.100.1.1/32".parse().unwrap()));
        assert_eq!(d.origin.as_deref(), Some("ipsec.conf:12"));
    }

    #[test]
    fn pfs_no_drops_the_group_and_defaults_are_addresses() {
        let t = "conn a\n    left=10.0.0.1\n    right=10.0.0.2\n    esp=aes256-sha2_256-modp2048\n    pfs=no\n    ikev2=permit\n";
        let (c, w) = connections("f", "o", t, None).unwrap();
        let d = &c[0].ipsec;
        assert_eq!(d.ipsec.proposals, ["aes256-sha256"]);
        assert_eq!(d.ike.local_id.as_deref(), Some("10.0.0.1"));
        assert_eq!(d.local_subnets, ["10.0.0.1/32".parse::<Cidr>().unwrap()]);
        assert!(d.ike.version.is_none());
        assert!(
            w.iter().any(|x| x.message.contains("ikev2=permit")),
            "{w:?}"
        );
        assert!(d.ike.psk.is_none());
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = connections("ipsec.conf", "o", "conn a\n    left\n", None).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = connections("ipsec.conf", "o", "  left=1.2.3.4\n", None).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = connections("ipsec.conf", "o", "conn a\n    ikelifetime=soon\n", None).unwrap_err();
        assert!(e.to_string().contains("ikelifetime"), "{e}");
        let e = connections(
            "ipsec.conf",
            "o",
            "conn a\n    leftsubnet=10.0.0.0/33\n",
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
