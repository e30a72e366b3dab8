//! `net::addr::AddrSet` (sorted intervals) against `iprange` (a prefix trie written by
//! others): on random sets of prefixes, every operation gives the same addresses, and
//! the minimal prefix list is the same.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use iprange::IpRange;
use proptest::prelude::*;
use vpntrace::net::addr::{AddrSet, Cidr};

/// Prefixes in a small window (10.0.0.0/22), so that they overlap, touch and nest.
fn nets() -> impl Strategy<Value = Vec<Ipv4Net>> {
    prop::collection::vec((0u32..1024, 22u8..=32), 0..12).prop_map(|v| {
        v.into_iter()
            .map(|(off, len)| {
                Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + off), len)
                    .unwrap()
                    .trunc()
            })
            .collect()
    })
}

fn trie(nets: &[Ipv4Net]) -> IpRange<Ipv4Net> {
    let mut r = IpRange::new();
    for n in nets {
        r.add(*n);
    }
    r.simplify();
    r
}

/// The trie's minimal prefixes, sorted as `AddrSet::cidrs` sorts them.
fn prefixes(r: &IpRange<Ipv4Net>) -> Vec<Cidr> {
    let mut v: Vec<Cidr> = r.iter().map(Cidr).collect();
    v.sort();
    v
}

proptest! {
    #[test]
    fn addr_set_agrees_with_a_prefix_trie(a in nets(), b in nets(), probes in prop::collection::vec(0u32..1100, 16)) {
        let (sa, sb) = (AddrSet::from_nets(a.clone()), AddrSet::from_nets(b.clone()));
        let (ta, tb) = (trie(&a), trie(&b));
        prop_assert_eq!(sa.cidrs(), prefixes(&ta));
        prop_assert_eq!(sa.union(&sb).cidrs(), prefixes(&ta.merge(&tb)));
        prop_assert_eq!(sa.intersect(&sb).cidrs(), prefixes(&ta.intersect(&tb)));
        prop_assert_eq!(sa.minus(&sb).cidrs(), prefixes(&ta.exclude(&tb)));
        prop_assert_eq!(sa.is_subset(&sb), ta.exclude(&tb).is_empty());
        prop_assert_eq!(sa.is_empty(), ta.is_empty());
        for p in probes {
            let ip = Ipv4Addr::from(0x0a00_0000 + p);
            prop_assert_eq!(sa.contains(ip), ta.contains(&ip));
        }
        // The intervals are sorted, disjoint and never touch, and hold the same addresses.
        let ivs = sa.intervals();
        prop_assert!(ivs.windows(2).all(|w| u64::from(w[0].1) + 1 < u64::from(w[1].0)));
        prop_assert_eq!(AddrSet::from_intervals(ivs.iter().copied()), sa.clone());
        let size: u64 = ta.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        prop_assert_eq!(sa.size(), size);
    }
}

#[test]
fn the_whole_space_and_its_edges() {
    let all = AddrSet::from_range(0, u32::MAX);
    assert_eq!(all.cidrs(), vec!["0.0.0.0/0".parse::<Cidr>().unwrap()]);
    let top = AddrSet::from_range(u32::MAX, u32::MAX);
    let bottom = AddrSet::from_range(0, 0);
    let middle = all.minus(&top).minus(&bottom);
    assert_eq!(middle.intervals(), vec![(1, u32::MAX - 1)]);
    assert_eq!(middle.union(&top).union(&bottom), all);
    assert!(all.minus(&all).is_empty());
    assert_eq!(all.intersect(&top), top);
}
