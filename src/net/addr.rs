//! Address, protocol and port value types, and address sets.
//!
//! Every value parses from the topology's strings during deserialisation, so a bad
//! CIDR or port range is reported with its JSON path by `serde_path_to_error`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 prefix as written in the topology: `10.0.0.0/8`, or `10.0.0.5` for a /32.
///
/// Host bits are kept (an interface address `192.168.0.1/24` names both the address and
/// its subnet); [`Cidr::network`] gives the prefix with host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr(pub Ipv4Net);

impl Cidr {
    pub fn new(addr: Ipv4Addr, len: u8) -> Cidr {
        Cidr(Ipv4Net::new(addr, len).expect("prefix length <= 32"))
    }
    pub fn host(addr: Ipv4Addr) -> Cidr {
        Cidr::new(addr, 32)
    }
    /// The prefix with host bits cleared (`192.168.0.1/24` → `192.168.0.0/24`).
    pub fn network(&self) -> Ipv4Net {
        self.0.trunc()
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.0.addr()
    }
    #[allow(clippy::len_without_is_empty)] // a prefix length, not a collection size
    pub fn len(&self) -> u8 {
        self.0.prefix_len()
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.0.trunc().contains(&ip)
    }
    /// First and last address of the prefix, as integers.
    pub fn bounds(&self) -> (u32, u32) {
        let n = self.network();
        (u32::from(n.network()), u32::from(n.broadcast()))
    }
    /// True when the host bits are all zero (`10.0.0.0/8`, not `10.0.0.1/8`).
    pub fn is_network(&self) -> bool {
        self.0.addr() == self.0.network()
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let t = s.trim();
        if let Ok(net) = t.parse::<Ipv4Net>() {
            return Ok(Cidr(net));
        }
        if let Ok(ip) = t.parse::<Ipv4Addr>() {
            return Ok(Cidr::host(ip));
        }
        Err(format!(
            "expected an IPv4 address or CIDR such as \"10.0.0.0/8\" or \"10.0.0.5\", got {s:?}"
        ))
    }
}

impl fmt::Display for Cidr {
    /// `10.0.0.0/8`, or `10.0.0.5` for one address. Written by hand: a large `check`
    /// report writes hundreds of thousands of them, and `Ipv4Addr`'s formatting (four
    /// `u8`s through `core::fmt`) was 3% of its time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 18]; // 255.255.255.255/32
        let mut n = put_octets(&mut buf, self.0.addr());
        if self.0.prefix_len() != 32 {
            buf[n] = b'/';
            n += 1;
            n += put_decimal(&mut buf[n..], self.0.prefix_len());
        }
        f.write_str(std::str::from_utf8(&buf[..n]).expect("digits, dots and a slash"))
    }
}

/// `name (10.0.0.5)`, as findings list instances and hosts (tens of thousands of them in
/// a large `check`: built directly rather than through `format!`).
pub fn named_address(name: &str, ip: Ipv4Addr) -> String {
    let mut buf = [0u8; 15];
    let n = put_octets(&mut buf, ip);
    let mut out = String::with_capacity(name.len() + n + 3);
    out.push_str(name);
    out.push_str(" (");
    out.push_str(std::str::from_utf8(&buf[..n]).expect("digits and dots"));
    out.push(')');
    out
}

/// The dotted decimal address at the start of `out`; its length.
fn put_octets(out: &mut [u8], ip: Ipv4Addr) -> usize {
    let mut n = 0;
    for (k, x) in ip.octets().into_iter().enumerate() {
        if k > 0 {
            out[n] = b'.';
            n += 1;
        }
        n += put_decimal(&mut out[n..], x);
    }
    n
}

/// The decimal digits of `x` at the start of `out`; how many there are.
fn put_decimal(out: &mut [u8], x: u8) -> usize {
    let mut n = 0;
    if x >= 100 {
        out[n] = b'0' + x / 100;
        n += 1;
    }
    if x >= 10 {
        out[n] = b'0' + x / 10 % 10;
        n += 1;
    }
    out[n] = b'0' + x % 10;
    n + 1
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An IP protocol as the rules name it. `All` matches every protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Gre,
    #[default]
    All,
}

impl Protocol {
    /// The concrete protocols a packet can carry (everything but `All`).
    pub const CONCRETE: [Protocol; 4] =
        [Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::Gre];

    /// The position of a concrete protocol in [`Protocol::CONCRETE`] (None for `All`).
    pub fn concrete_index(self) -> Option<usize> {
        Protocol::CONCRETE.iter().position(|&p| p == self)
    }
    /// Does a rule written for `self` match a packet of protocol `p`?
    pub fn matches(self, p: Protocol) -> bool {
        self == Protocol::All || self == p
    }
    /// Protocols that carry ports.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Gre => "gre",
            Protocol::All => "all",
        }
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "icmp" => Ok(Protocol::Icmp),
            "gre" => Ok(Protocol::Gre),
            "all" | "any" | "-1" => Ok(Protocol::All),
            _ => Err(format!(
                "expected a protocol (tcp, udp, icmp, gre or all), got {s:?}"
            )),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An inclusive port range; `any` is 0-65535. Alibaba writes `22/22` and `-1/-1`; both
/// spellings are accepted too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ports {
    pub lo: u16,
    pub hi: u16,
}

impl Ports {
    pub const ANY: Ports = Ports { lo: 0, hi: 65535 };
    pub fn single(p: u16) -> Ports {
        Ports { lo: p, hi: p }
    }
    pub fn is_any(&self) -> bool {
        *self == Ports::ANY
    }
    pub fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
}

impl Default for Ports {
    fn default() -> Ports {
        Ports::ANY
    }
}

impl FromStr for Ports {
    type Err = String;
    fn from_str(s: &str) -> Result<Ports, String> {
        let t = s.trim();
        let err =
            || format!("expected a port (\"22\"), a range (\"1024-65535\") or \"any\", got {s:?}");
        if t.eq_ignore_ascii_case("any") || t == "-1/-1" || t == "-1" {
            return Ok(Ports::ANY);
        }
        let (a, b) = match t.split_once(['-', '/']) {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (t, t),
        };
        let lo: u16 = a.parse().map_err(|_| err())?;
        let hi: u16 = b.parse().map_err(|_| err())?;
        if lo > hi {
            return Err(format!("port range {s:?} runs backwards (start above end)"));
        }
        Ok(Ports { lo, hi })
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("any")
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ports, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => u16::try_from(n)
                .map(Ports::single)
                .map_err(|_| serde::de::Error::custom(format!("port {n} is above 65535"))),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Ports {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A set of IPv4 addresses: sorted, disjoint inclusive intervals, no two of which touch.
///
/// The analysis builds sets from address intervals and reads them back as intervals or
/// as their minimal prefixes, tens of thousands of times on a large estate. A prefix
/// trie (the `iprange` crate, used before) allocates a node per prefix bit: about a
/// thousand allocations per finding. `tests/addr_set.rs` checks every operation against
/// `iprange` on random sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddrSet(Vec<(u32, u32)>);

impl AddrSet {
    pub fn new() -> AddrSet {
        AddrSet(Vec::new())
    }
    /// The set of the given intervals (in any order; they may overlap or touch).
    pub fn from_intervals(ivs: impl IntoIterator<Item = (u32, u32)>) -> AddrSet {
        AddrSet(merge_intervals(
            ivs.into_iter().filter(|(lo, hi)| lo <= hi).collect(),
        ))
    }
    pub fn from_cidrs<'a>(cidrs: impl IntoIterator<Item = &'a Cidr>) -> AddrSet {
        AddrSet::from_intervals(cidrs.into_iter().map(Cidr::bounds))
    }
    pub fn from_nets(nets: impl IntoIterator<Item = Ipv4Net>) -> AddrSet {
        AddrSet::from_intervals(
            nets.into_iter()
                .map(|n| (u32::from(n.network()), u32::from(n.broadcast()))),
        )
    }
    /// The set of addresses `lo..=hi`.
    pub fn from_range(lo: u32, hi: u32) -> AddrSet {
        AddrSet::from_intervals([(lo, hi)])
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let a = u32::from(ip);
        let i = self.0.partition_point(|&(_, hi)| hi < a);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= a)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn union(&self, o: &AddrSet) -> AddrSet {
        AddrSet::from_intervals(self.0.iter().chain(&o.0).copied())
    }
    pub fn intersect(&self, o: &AddrSet) -> AddrSet {
        AddrSet(intersect_intervals(&self.0, &o.0))
    }
    pub fn minus(&self, o: &AddrSet) -> AddrSet {
        let mut out = Vec::with_capacity(self.0.len());
        let mut j = 0;
        for &(lo, hi) in &self.0 {
            // What is left of lo..=hi after the intervals of `o` that start before it ends.
            let mut from = u64::from(lo);
            while j < o.0.len() && o.0[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            while k < o.0.len() && o.0[k].0 <= hi {
                let (olo, ohi) = o.0[k];
                if u64::from(olo) > from {
                    out.push((from as u32, olo - 1));
                }
                from = from.max(u64::from(ohi) + 1);
                k += 1;
            }
            if from <= u64::from(hi) {
                out.push((from as u32, hi));
            }
        }
        AddrSet(out)
    }
    /// `self ⊆ o`.
    pub fn is_subset(&self, o: &AddrSet) -> bool {
        self.minus(o).is_empty()
    }
    /// The minimal sorted list of prefixes covering exactly this set.
    pub fn cidrs(&self) -> Vec<Cidr> {
        let mut v: Vec<Cidr> = self
            .0
            .iter()
            .flat_map(|&(lo, hi)| range_to_nets(lo, hi))
            .map(Cidr)
            .collect();
        v.sort();
        v
    }
    /// Inclusive integer intervals of the set, sorted and merged.
    pub fn intervals(&self) -> Vec<(u32, u32)> {
        self.0.clone()
    }
    /// Number of addresses in the set.
    pub fn size(&self) -> u64 {
        intervals_size(&self.0)
    }
    pub fn display_list(&self) -> String {
        join_cidrs(&self.cidrs())
    }
}

/// Sort and merge inclusive address intervals: overlapping or touching ones join.
pub fn merge_intervals(mut v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    // The stable sort finds the sorted runs a concatenation of sorted lists (the usual
    // input: a finding's atom lists) is made of, and merges them.
    v.sort();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The parts of the intervals `a` inside the sorted, merged intervals `b`, in order.
pub fn intersect_intervals(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &(lo, hi) in a {
        let start = b.partition_point(|&(_, bh)| bh < lo);
        for &(blo, bhi) in &b[start..] {
            if blo > hi {
                break;
            }
            out.push((lo.max(blo), hi.min(bhi)));
        }
    }
    out
}

/// How many addresses the (disjoint) intervals hold.
pub fn intervals_size(v: &[(u32, u32)]) -> u64 {
    v.iter()
        .map(|&(lo, hi)| u64::from(hi) - u64::from(lo) + 1)
        .sum()
}

/// `a, b, c` or `(none)`.
pub fn join_cidrs(c: &[Cidr]) -> String {
    if c.is_empty() {
        return "(none)".into();
    }
    let mut out = String::with_capacity(c.len() * 18);
    for (k, c) in c.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        fmt::Write::write_fmt(&mut out, format_args!("{c}")).expect("a String takes any text");
    }
    out
}

/// The minimal list of prefixes covering the inclusive interval `lo..=hi`.
pub fn range_to_nets(lo: u32, hi: u32) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    let mut cur = u64::from(lo);
    let end = u64::from(hi);
    while cur <= end {
        // Largest block aligned at `cur` that fits in the remaining span.
        let align = if cur == 0 {
            32
        } else {
            (cur as u32).trailing_zeros().min(32)
        };
        let mut size_bits = align;
        while size_bits > 0 && cur + (1u64 << size_bits) - 1 > end {
            size_bits -= 1;
        }
        let net = Ipv4Net::new(Ipv4Addr::from(cur as u32), (32 - size_bits) as u8)
            .expect("prefix length <= 32");
        out.push(net);
        cur += 1u64 << size_bits;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parses_hosts_and_prefixes() {
        assert_eq!(c("10.0.0.5").to_string(), "10.0.0.5");
        assert_eq!(c("10.0.0.0/8").len(), 8);
        assert_eq!(c("192.168.0.1/24").network().to_string(), "192.168.0.0/24");
        assert!(!c("192.168.0.1/24").is_network());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("fe80::/10".parse::<Cidr>().is_err());
        assert!("".parse::<Cidr>().is_err());
    }

    /// The hand-written formatting writes what the standard library's does, over every
    /// octet value (each in every position) and every prefix length.
    #[test]
    fn cidr_formats_as_the_standard_library_does() {
        for x in 0..=255u8 {
            for (i, len) in (0..=32u8).enumerate() {
                let mut o = [7, 30, 200, 1];
                o[i % 4] = x;
                o[(i + 1) % 4] = x.wrapping_mul(37);
                let addr = Ipv4Addr::from(o);
                let want = if len == 32 {
                    addr.to_string()
                } else {
                    format!("{addr}/{len}")
                };
                let net = Ipv4Net::new(addr, len).unwrap();
                assert_eq!(Cidr(net).to_string(), want);
                assert_eq!(format!("[{}]", Cidr(net)), format!("[{want}]"));
            }
        }
        assert_eq!(
            join_cidrs(&[c("10.0.0.0/8"), c("255.255.255.255")]),
            "10.0.0.0/8, 255.255.255.255"
        );
        assert_eq!(join_cidrs(&[]), "(none)");
        for o in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 9, 100, 99],
            [1, 20, 255, 0],
        ] {
            let ip = Ipv4Addr::from(o);
            assert_eq!(named_address("i-bp1x", ip), format!("i-bp1x ({ip})"));
        }
    }

    #[test]
    fn ports_parse_every_spelling() {
        assert_eq!("any".parse::<Ports>().unwrap(), Ports::ANY);
        assert_eq!("-1/-1".parse::<Ports>().unwrap(), Ports::ANY);
        assert_eq!("22".parse::<Ports>().unwrap(), Ports::single(22));
        assert_eq!("22/22".parse::<Ports>().unwrap(), Ports::single(22));
        assert_eq!(
            "1024-65535".parse::<Ports>().unwrap(),
            Ports {
                lo: 1024,
                hi: 65535
            }
        );
        assert!("80-22".parse::<Ports>().is_err());
        assert!("70000".parse::<Ports>().is_err());
        assert!("http".parse::<Ports>().is_err());
    }

    #[test]
    fn protocol_is_case_insensitive() {
        assert_eq!("TCP".parse::<Protocol>().unwrap(), Protocol::Tcp);
        assert_eq!("All".parse::<Protocol>().unwrap(), Protocol::All);
        assert!("sctp".parse::<Protocol>().is_err());
        assert!(Protocol::All.matches(Protocol::Udp));
        assert!(!Protocol::Tcp.matches(Protocol::Udp));
    }

    #[test]
    fn address_sets_compare_by_coverage_not_by_string() {
        let whole = AddrSet::from_cidrs(&[c("10.0.0.0/16")]);
        let halves = AddrSet::from_cidrs(&[c("10.0.0.0/17"), c("10.0.128.0/17")]);
        assert_eq!(whole, halves);
        assert!(whole.is_subset(&halves) && halves.is_subset(&whole));
        let part = AddrSet::from_cidrs(&[c("10.0.0.0/17")]);
        assert_eq!(whole.minus(&part).cidrs(), vec![c("10.0.128.0/17")]);
    }

    #[test]
    fn ranges_become_minimal_prefix_lists() {
        let nets = range_to_nets(
            u32::from(Ipv4Addr::new(10, 0, 0, 1)),
            u32::from(Ipv4Addr::new(10, 0, 0, 6)),
        );
        let s: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            s,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(
            range_to_nets(0, u32::MAX),
            vec!["0.0.0.0/0".parse::<Ipv4Net>().unwrap()]
        );
        assert_eq!(AddrSet::from_range(0, u32::MAX).size(), 1u64 << 32);
    }
}
