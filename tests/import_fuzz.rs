//! Hostile input for every import parser: arbitrary text and mutated real files, a
//! bounded number of cases each. No panic; every error names where it is.

use proptest::prelude::*;
use vpntrace::input::import::linux::{interfaces, iptables, routes, swanconf, sysctl};

const IPT: &str = include_str!("data/import/linux-gw/iptables-save.txt");
const SWAN: &str = include_str!("data/import/linux-gw/swanctl.conf");
const SYSCTL: &str = include_str!("data/import/linux-gw/sysctl.txt");
const ADDR: &str = include_str!("data/import/linux-gw/ip-addr.json");
const ROUTE: &str = include_str!("data/import/linux-gw/ip-route.json");

/// The file with one span replaced by `insert`.
fn mutate(base: &str, at: usize, len: usize, insert: &str) -> String {
    let b: Vec<char> = base.chars().collect();
    let at = at % (b.len() + 1);
    let end = (at + len).min(b.len());
    b[..at]
        .iter()
        .chain(insert.chars().collect::<Vec<_>>().iter())
        .chain(b[end..].iter())
        .collect()
}

fn all_parsers(text: &str) {
    let ifs = vec!["lan0".to_string(), "wan0".to_string()];
    if let Err(e) = iptables::parse("f", "f", text, &ifs) {
        assert!(!e.location.is_empty(), "iptables: unlocated error {e}");
    }
    if let Err(e) = sysctl::parse("f", text, &ifs) {
        assert!(!e.location.is_empty(), "sysctl: unlocated error {e}");
    }
    if let Err(e) = swanconf::connections("f", "f", text) {
        assert!(!e.location.is_empty(), "swanctl.conf: unlocated error {e}");
    }
    let mut w = Vec::new();
    match interfaces("f", "f", text, &mut w) {
        Ok(i) => {
            if let Err(e) = routes("f", "f", text, &i, &mut w) {
                assert!(!e.location.is_empty(), "ip route: unlocated error {e}");
            }
        }
        Err(e) => assert!(!e.location.is_empty(), "ip addr: unlocated error {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(s in "\\PC{0,300}") {
        all_parsers(&s);
    }

    #[test]
    fn mutated_real_files(which in 0usize..5, at in 0usize..4000, len in 0usize..20,
                          insert in prop::sample::select(vec!["", "!", " ! ", "{", "}", "=", "\"", "-j", "-A FORWARD", ":", "/33", "[", "]", "999999", "-p", "--dport", ",", "\n", "*nat\n", "COMMIT\n", "null", "-1"])) {
        let base = [IPT, SWAN, SYSCTL, ADDR, ROUTE][which];
        all_parsers(&mutate(base, at, len, insert));
    }
}
