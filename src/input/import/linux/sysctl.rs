//! `sysctl -a` (or its `net.ipv4` lines) → `forwarding` and `rp_filter`.
//!
//! Linux applies `max(conf.all.rp_filter, conf.IFACE.rp_filter)` on each interface
//! (0 off, 1 strict, 2 loose). vpntrace has one `rp_filter` per device: when the
//! interfaces' effective values differ, the strictest one that filters is imported with a
//! warning naming the lines.

use std::collections::BTreeMap;

use crate::input::error::InputError;
use crate::input::import::Warning;
use crate::input::RpFilter;

#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    /// `net.ipv4.ip_forward` and its line.
    pub forwarding: Option<(bool, usize)>,
    /// Effective rp_filter and the line that set it (None when no rp_filter line).
    pub rp_filter: Option<(RpFilter, usize)>,
    pub warnings: Vec<Warning>,
}

fn int(file: &str, line: usize, key: &str, v: &str) -> Result<u32, InputError> {
    v.trim().parse().map_err(|_| {
        InputError::new(
            file,
            format!("line {line}"),
            format!("{key}: expected a number, got {v:?}"),
        )
    })
}

/// `interfaces`: the device's interfaces (only theirs count); empty means every one named.
pub fn parse(file: &str, text: &str, interfaces: &[String]) -> Result<Parsed, InputError> {
    let mut out = Parsed::default();
    let mut all: Option<(u32, usize)> = None;
    let mut per: BTreeMap<String, (u32, usize)> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue; // not a setting (sysctl -a prints some errors and banners)
        };
        let k = k.trim().replace('/', ".");
        if k == "net.ipv4.ip_forward" {
            out.forwarding = Some((int(file, line, &k, v)? != 0, line));
        } else if let Some(rest) = k.strip_prefix("net.ipv4.conf.") {
            if let Some(iface) = rest.strip_suffix(".rp_filter") {
                let val = int(file, line, &k, v)?;
                if val > 2 {
                    return Err(InputError::new(
                        file,
                        format!("line {line}"),
                        format!("{k}: expected 0, 1 or 2, got {val}"),
                    ));
                }
                if iface == "all" {
                    all = Some((val, line));
                } else if iface != "default" && iface != "lo" {
                    per.insert(iface.to_string(), (val, line));
                }
            }
        }
    }
    let mut effective: BTreeMap<String, (u32, usize)> = BTreeMap::new();
    let names: Vec<String> = if interfaces.is_empty() {
        per.keys().cloned().collect()
    } else {
        interfaces.to_vec()
    };
    for name in names {
        let own = per.get(&name).copied();
        let e = match (all, own) {
            (Some(a), Some(o)) => {
                if a.0 >= o.0 {
                    a
                } else {
                    o
                }
            }
            (Some(a), None) => a,
            (None, Some(o)) => o,
            (None, None) => continue,
        };
        effective.insert(name, e);
    }
    if effective.is_empty() {
        if let Some(a) = all {
            effective.insert("all".into(), a);
        }
    }
    let rank = |v: u32| match v {
        1 => 2, // strict filters most
        2 => 1,
        _ => 0,
    };
    if let Some((_, &(v, line))) = effective.iter().max_by_key(|(_, (v, _))| rank(*v)) {
        let values: std::collections::BTreeSet<u32> = effective.values().map(|x| x.0).collect();
        if values.len() > 1 {
            let list: Vec<String> = effective
                .iter()
                .map(|(i, (v, l))| format!("{i} {} (line {l})", name(*v)))
                .collect();
            out.warnings.push(Warning::new(
                format!("{file}:{line}"),
                format!(
                    "rp_filter differs per interface ({}); vpntrace has one setting per device: imported {}",
                    list.join(", "),
                    name(v)
                ),
            ));
        }
        out.rp_filter = Some((
            match v {
                1 => RpFilter::Strict,
                2 => RpFilter::Loose,
                _ => RpFilter::Off,
            },
            line,
        ));
    }
    Ok(out)
}

fn name(v: u32) -> &'static str {
    match v {
        1 => "strict",
        2 => "loose",
        _ => "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_of_all_and_interface() {
        let t = "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 0\nnet.ipv4.conf.eth0.rp_filter = 1\nnet.ipv4.conf.eth1.rp_filter = 1\n";
        let p = parse("s", t, &["eth0".into(), "eth1".into()]).unwrap();
        assert_eq!(p.forwarding, Some((true, 1)));
        assert_eq!(p.rp_filter.unwrap().0, RpFilter::Strict);
        assert!(p.warnings.is_empty());
        let t = "net.ipv4.conf.all.rp_filter = 2\nnet.ipv4.conf.eth0.rp_filter = 1\n";
        let p = parse("s", t, &["eth0".into()]).unwrap();
        assert_eq!(
            p.rp_filter.unwrap().0,
            RpFilter::Loose,
            "max(2, 1) is 2: loose"
        );
        assert!(
            parse("s", "net.ipv4.ip_forward = yes\n", &[])
                .unwrap_err()
                .location
                == "line 1"
        );
    }
}
