//! strongSwan's `swanctl.conf` → the device's `ipsec[]` entries.
//!
//! The file is a tree of sections (`name { ... }`) and settings (`key = value`), `#`
//! comments. Read: `connections.<name>` with `version`, `aggressive`, `proposals`,
//! `local_addrs`, `remote_addrs`, `rekey_time`, `local*.id`, `remote*.id`, and
//! `children.<child>` with `local_ts`, `remote_ts`, `esp_proposals`, `rekey_time`;
//! `secrets.ike*` for the PSK (kept in the topology, which SPEC compares; never printed).
//! `include` lines and other settings that change what is negotiated are warnings.

use crate::input::error::InputError;
use crate::input::import::Warning;
use crate::input::{DeviceIpsec, Ike, IpsecMode, IpsecParams};
use crate::net::addr::Cidr;

#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    Section(Section),
}

#[derive(Debug, Clone, Default)]
pub struct Section {
    pub entries: Vec<(String, Value, usize)>,
}

impl Section {
    fn get(&self, k: &str) -> Option<(&str, usize)> {
        self.entries.iter().find_map(|(key, v, l)| match v {
            Value::Str(s) if key == k => Some((s.as_str(), *l)),
            _ => None,
        })
    }
    fn sections(&self) -> impl Iterator<Item = (&str, &Section, usize)> {
        self.entries.iter().filter_map(|(k, v, l)| match v {
            Value::Section(s) => Some((k.as_str(), s, *l)),
            _ => None,
        })
    }
    fn section(&self, k: &str) -> Option<&Section> {
        self.sections().find(|(n, _, _)| *n == k).map(|(_, s, _)| s)
    }
}

/// Parses the tree; `include` lines are reported as warnings (the included files are
/// not read).
pub fn parse_tree(
    file: &str,
    text: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Section, InputError> {
    let mut stack: Vec<(String, Section, usize)> = vec![(String::new(), Section::default(), 0)];
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = strip_comment(raw).trim().to_string();
        if l.is_empty() {
            continue;
        }
        let err = |m: String| InputError::new(file, format!("line {line}"), m);
        if let Some(rest) = l.strip_prefix("include ") {
            warnings.push(Warning::new(
                format!("{file}:{line}"),
                format!(
                    "`include {}`: included files are not read; export them into this file",
                    rest.trim()
                ),
            ));
            continue;
        }
        // A line may close a section and hold nothing else; or `key {`; or `key = value`.
        if l == "}" {
            if stack.len() == 1 {
                return Err(err("`}` closes no section".into()));
            }
            let (name, sec, at) = stack.pop().expect("checked above");
            stack
                .last_mut()
                .expect("root")
                .1
                .entries
                .push((name, Value::Section(sec), at));
            continue;
        }
        if let Some(name) = l.strip_suffix('{') {
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) || name.contains('=') {
                return Err(err(format!("expected `name {{`, got {l:?}")));
            }
            stack.push((name.to_string(), Section::default(), line));
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(err(format!(
                "expected `key = value`, `name {{` or `}}`, got {l:?}"
            )));
        };
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(err(format!(
                "expected a setting name before `=`, got {k:?}"
            )));
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        stack.last_mut().expect("root").1.entries.push((
            k.to_string(),
            Value::Str(v.to_string()),
            line,
        ));
    }
    if stack.len() > 1 {
        let (name, _, at) = stack.last().expect("len > 1");
        return Err(InputError::new(
            file,
            "end of file",
            format!("section `{name}` opened on line {at} is not closed"),
        ));
    }
    Ok(stack.pop().expect("root").1)
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

/// One connection as read, before it is paired with a cloud connection.
#[derive(Debug, Clone)]
pub struct Conn {
    pub name: String,
    pub local_addrs: Vec<String>,
    pub remote_addrs: Vec<String>,
    pub ipsec: DeviceIpsec,
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `4h`, `86400`, `86400s`, `30m`, `1d` → seconds.
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

/// Connections with their children: one `ipsec[]` entry per child (its selectors), each
/// with the connection's phase-1 settings. `connection` is left as `NAME` (the swanctl
/// connection name) for the caller to pair with a cloud connection.
pub fn connections(
    file: &str,
    origin: &str,
    text: &str,
) -> Result<(Vec<Conn>, Vec<Warning>), InputError> {
    let mut warnings = Vec::new();
    let root = parse_tree(file, text, &mut warnings)?;
    let mut out = Vec::new();
    let secrets = root.section("secrets");
    let Some(conns) = root.section("connections") else {
        return Ok((out, warnings));
    };
    for (name, c, cline) in conns.sections() {
        let at = |l: usize| format!("{file}:{l}");
        let mut ike = Ike::default();
        match c.get("version") {
            Some(("1", _)) => ike.version = Some("ikev1".into()),
            Some(("2", _)) => ike.version = Some("ikev2".into()),
            Some((v, l)) => warnings.push(Warning::new(at(l), format!("version = {v}: either IKE version is accepted; vpntrace compares one, so none is imported"))),
            None => warnings.push(Warning::new(at(cline), "no `version`: strongSwan accepts either IKE version; none is imported")),
        }
        let aggressive = matches!(c.get("aggressive"), Some(("yes", _)));
        if ike.version.as_deref() == Some("ikev1") || aggressive {
            ike.mode = Some(if aggressive { "aggressive" } else { "main" }.into());
        }
        if let Some((v, _)) = c.get("proposals") {
            ike.proposals = split_list(v);
        }
        if let Some((v, l)) = c.get("rekey_time") {
            match duration(v) {
                Some(s) => ike.lifetime = Some(s),
                None => {
                    return Err(InputError::new(
                        file,
                        format!("line {l}"),
                        format!("rekey_time: expected a duration such as 4h or 86400s, got {v:?}"),
                    ))
                }
            }
        }
        let local_addrs = c
            .get("local_addrs")
            .map(|(v, _)| split_list(v))
            .unwrap_or_default();
        let remote_addrs = c
            .get("remote_addrs")
            .map(|(v, _)| split_list(v))
            .unwrap_or_default();
        for (sub, s, _) in c.sections() {
            let id = s.get("id").map(|(v, _)| v.to_string());
            if sub.starts_with("local") {
                ike.local_id = ike.local_id.take().or(id);
            } else if sub.starts_with("remote") {
                ike.remote_id = ike.remote_id.take().or(id);
            }
            if let Some((auth, l)) = s.get("auth") {
                if auth != "psk" && (sub.starts_with("local") || sub.starts_with("remote")) {
                    warnings.push(Warning::new(
                        at(l),
                        format!("auth = {auth}: only pre-shared keys are compared"),
                    ));
                }
            }
        }
        // strongSwan's default identity is the address.
        if ike.local_id.is_none() {
            ike.local_id = local_addrs.first().cloned();
        }
        if ike.remote_id.is_none() {
            ike.remote_id = remote_addrs.first().cloned();
        }
        ike.psk = secrets.and_then(|s| psk_for(s, &ike, &remote_addrs, file, &mut warnings));
        for key in ["if_id_in", "if_id_out", "mark_in", "mark_out"] {
            if let Some((_, l)) = c.get(key) {
                warnings.push(Warning::new(at(l), format!("`{key}`: route-based (XFRM interface) IPsec is imported as policy-based; add `tunnel` routes by hand")));
            }
        }
        let peer = remote_addrs
            .iter()
            .find_map(|a| a.parse::<std::net::Ipv4Addr>().ok())
            .map(Cidr::host);
        if peer.is_none() {
            warnings.push(Warning::new(
                at(cline),
                format!("connection {name}: no IPv4 `remote_addrs`: its peer is unknown"),
            ));
        }
        let children = c.section("children");
        for (child, ch, chline) in children
            .map(|s| s.sections().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let ts = |k: &str, w: &mut Vec<Warning>| -> Result<Vec<Cidr>, InputError> {
                let Some((v, l)) = ch.get(k) else {
                    w.push(Warning::new(at(chline), format!("child {child}: no `{k}`: strongSwan uses the address itself (`dynamic`)")));
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for item in split_list(v) {
                    if item == "dynamic" {
                        let own = if k == "local_ts" {
                            &local_addrs
                        } else {
                            &remote_addrs
                        };
                        match own.first().and_then(|a| a.parse::<Cidr>().ok()) {
                            Some(c) => out.push(c),
                            None => w.push(Warning::new(
                                at(l),
                                format!(
                                    "`{k} = dynamic` with no address to stand for: not imported"
                                ),
                            )),
                        }
                        continue;
                    }
                    let (net, rest) = match item.split_once('[') {
                        Some((n, r)) => (n, Some(r)),
                        None => (item.as_str(), None),
                    };
                    if rest.is_some() {
                        w.push(Warning::new(at(l), format!("`{item}`: protocol/port selectors are not modelled: imported as the whole prefix")));
                    }
                    if net.contains(':') {
                        w.push(Warning::new(
                            at(l),
                            format!("`{net}`: IPv6 selectors are not modelled"),
                        ));
                        continue;
                    }
                    out.push(net.parse().map_err(|e: String| {
                        InputError::new(file, format!("line {l}"), format!("{k}: {e}"))
                    })?);
                }
                Ok(out)
            };
            let local_subnets = ts("local_ts", &mut warnings)?;
            let remote_subnets = ts("remote_ts", &mut warnings)?;
            let mut ipsec = IpsecParams::default();
            if let Some((v, _)) = ch.get("esp_proposals") {
                ipsec.proposals = split_list(v);
            }
            if let Some((v, l)) = ch.get("ah_proposals") {
                warnings.push(Warning::new(
                    at(l),
                    format!("ah_proposals = {v}: AH is not modelled"),
                ));
            }
            if let Some((v, l)) = ch.get("rekey_time") {
                match duration(v) {
                    Some(s) => ipsec.lifetime = Some(s),
                    None => {
                        return Err(InputError::new(
                            file,
                            format!("line {l}"),
                            format!("rekey_time: expected a duration, got {v:?}"),
                        ))
                    }
                }
            }
            if let Some((m, l)) = ch.get("mode") {
                if m != "tunnel" {
                    warnings.push(Warning::new(
                        at(l),
                        format!("mode = {m}: only tunnel mode is modelled"),
                    ));
                }
            }
            out.push(Conn {
                name: name.to_string(),
                local_addrs: local_addrs.clone(),
                remote_addrs: remote_addrs.clone(),
                ipsec: DeviceIpsec {
                    connection: name.to_string(),
                    mode: IpsecMode::Policy,
                    interface: None,
                    peer,
                    local_subnets,
                    remote_subnets,
                    ike: ike.clone(),
                    ipsec,
                    sas: None,
                    origin: Some(format!("{origin}:{chline}")),
                },
            });
            let _ = child;
        }
        if children.is_none() {
            warnings.push(Warning::new(
                at(cline),
                format!(
                    "connection {name} has no children: it carries no traffic and is not imported"
                ),
            ));
        }
    }
    Ok((out, warnings))
}

/// The PSK of an `ike*` secret whose ids name this connection's peer (or the only one).
fn psk_for(
    secrets: &Section,
    ike: &Ike,
    remote_addrs: &[String],
    file: &str,
    w: &mut Vec<Warning>,
) -> Option<String> {
    let ikes: Vec<(&str, &Section, usize)> = secrets
        .sections()
        .filter(|(n, _, _)| n.starts_with("ike"))
        .collect();
    let names_peer = |s: &Section| {
        s.entries.iter().any(|(k, v, _)| {
            k.starts_with("id") && matches!(v, Value::Str(x) if Some(x) == ike.remote_id.as_ref() || remote_addrs.contains(x))
        })
    };
    let chosen = ikes
        .iter()
        .find(|(_, s, _)| names_peer(s))
        .or(if ikes.len() == 1 { ikes.first() } else { None })?;
    let (secret, l) = chosen.1.get("secret")?;
    if let Some(hex) = secret.strip_prefix("0x") {
        let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        if let Some(s) = bytes.and_then(|b| String::from_utf8(b).ok()) {
            return Some(s);
        }
    }
    if secret.starts_with("0s") {
        w.push(Warning::new(
            format!("{file}:{l}"),
            "a base64 (0s) secret is kept as written: compared with the cloud's PSK it will differ",
        ));
    }
    Some(secret.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_connection_children_and_secret() {
        let t = "connections {\n  vco {\n    version = 2\n    local_addrs = 203.0.113.10\n    remote_addrs = 47.100.1.1\n    proposals = aes128-sha1-modp1024\n    local {\n      auth = psk\n    }\n    remote {\n      auth = psk\n    }\n    children {\n      net {\n        local_ts = 192.168.0.0/24\n        remote_ts = 192.168.1.0/24,192.168.2.0/24 # two\n        esp_proposals = aes128-sha1-modp1024\n      }\n    }\n  }\n}\nsecrets {\n  ike-1 {\n    id-1 = 47.100.1.1\n    secret = \"s3cret\"\n  }\n}\n";
        let (c, w) = connections("f", "swanctl.conf", t).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.len(), 1);
        let d = &c[0].ipsec;
        assert_eq!(d.ike.version.as_deref(), Some("ikev2"));
        assert_eq!(d.ike.psk.as_deref(), Some("s3cret"));
        assert_eq!(d.ike.local_id.as_deref(), Some("203.0.113.10"));
        assert_eq!(d.remote_subnets.len(), 2);
        assert_eq!(d.origin.as_deref(), Some("swanctl.conf:14"));
        assert!(d.ike.encryption.is_none());
        let e = connections("f", "s", "connections {\n  a {\n").unwrap_err();
        assert!(e.message.contains("line 2"), "{e}");
    }
}
