//! Packet regions: while a representative packet is traced, every decision narrows a box
//! of packets (source × destination × source port × destination port, one protocol)
//! around it to the packets for which that decision comes out the same. At the end the box
//! holds only packets that take exactly the same path with the same outcome, so `check`
//! traces one packet per box instead of one per address.
//!
//! Decisions are stated on the fields of the packet *as it is at that point*; NAT may have
//! replaced a field by a constant, or a reply may carry the original source in its
//! destination. [`Narrow`] keeps, for each current field, the original dimension it
//! equals (or none), and applies each condition to that dimension.

/// A field of the packet as it is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F {
    Src = 0,
    Dst = 1,
    Sport = 2,
    Dport = 3,
}

/// An inclusive interval per dimension of the original packet: src, dst, sport, dport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    pub lo: [u32; 4],
    pub hi: [u32; 4],
}

impl Region {
    pub fn contains(&self, p: [u32; 4]) -> bool {
        (0..4).all(|d| self.lo[d] <= p[d] && p[d] <= self.hi[d])
    }
    pub fn is_empty(&self) -> bool {
        (0..4).any(|d| self.lo[d] > self.hi[d])
    }
    pub fn intersect(&self, o: &Region) -> Region {
        let mut r = *self;
        for d in 0..4 {
            r.lo[d] = r.lo[d].max(o.lo[d]);
            r.hi[d] = r.hi[d].min(o.hi[d]);
        }
        r
    }
    pub fn overlaps(&self, o: &Region) -> bool {
        !self.intersect(o).is_empty()
    }
    /// `self` minus `inner` (which it contains) as disjoint boxes.
    pub fn minus(&self, inner: &Region) -> Vec<Region> {
        let mut out = Vec::new();
        self.minus_into(inner, &mut out);
        out
    }

    /// [`minus`](Region::minus), the boxes appended to `out` (no allocation of its own:
    /// exploration calls it once per traced packet).
    pub fn minus_into(&self, inner: &Region, out: &mut Vec<Region>) {
        let mut rest = *self;
        for d in 0..4 {
            if rest.lo[d] < inner.lo[d] {
                let mut b = rest;
                b.hi[d] = inner.lo[d] - 1;
                out.push(b);
                rest.lo[d] = inner.lo[d];
            }
            if rest.hi[d] > inner.hi[d] {
                let mut b = rest;
                b.lo[d] = inner.hi[d] + 1;
                out.push(b);
                rest.hi[d] = inner.hi[d];
            }
        }
    }
    /// The representative: the lowest corner, but the ephemeral source port when it is inside.
    pub fn corner(&self, preferred_sport: u32) -> [u32; 4] {
        let mut p = self.lo;
        if self.lo[2] <= preferred_sport && preferred_sport <= self.hi[2] {
            p[2] = preferred_sport;
        }
        p
    }
}

/// A set of address atoms of one side: sorted, disjoint intervals no decision splits
/// (`check` cuts them by every prefix a decision can name and every owned address), with
/// the ones still in the set as bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AtomSet {
    pub atoms: std::sync::Arc<[(u32, u32)]>,
    /// Inline up to 256 atoms: sets are copied for every traced packet.
    pub bits: Bits,
}

/// An atom set's bits, one per atom.
pub type Bits = smallvec::SmallVec<[u64; 4]>;

/// The positions of the bits set in `bits`, in order.
fn members(bits: &[u64]) -> impl Iterator<Item = usize> + '_ {
    bits.iter().enumerate().flat_map(|(i, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            (w != 0).then(|| {
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                i * 64 + b
            })
        })
    })
}

/// The bits of `a` not in `b`.
fn bits_minus(a: &[u64], b: &[u64]) -> Bits {
    a.iter().zip(b).map(|(x, y)| x & !y).collect()
}

impl AtomSet {
    /// The atoms `members` (indices into `atoms`) of a side.
    pub fn of(
        atoms: std::sync::Arc<[(u32, u32)]>,
        members: impl IntoIterator<Item = usize>,
    ) -> AtomSet {
        let mut bits: Bits = smallvec::smallvec![0u64; atoms.len().div_ceil(64)];
        for k in members {
            bits[k / 64] |= 1 << (k % 64);
        }
        AtomSet { atoms, bits }
    }

    pub fn remove(&mut self, k: usize) {
        self.bits[k / 64] &= !(1 << (k % 64));
    }

    pub fn contains(&self, k: usize) -> bool {
        self.bits[k / 64] >> (k % 64) & 1 == 1
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The atoms in the set, in address order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        members(&self.bits)
    }

    pub fn first(&self) -> Option<usize> {
        self.bits
            .iter()
            .enumerate()
            .find(|(_, &w)| w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    fn last(&self) -> Option<usize> {
        self.bits
            .iter()
            .enumerate()
            .rev()
            .find(|(_, &w)| w != 0)
            .map(|(i, w)| i * 64 + 63 - w.leading_zeros() as usize)
    }

    /// The addresses from the first atom in the set to the end of the last.
    pub fn hull(&self) -> Option<(u32, u32)> {
        Some((self.atoms[self.first()?].0, self.atoms[self.last()?].1))
    }

    /// Clear atoms `from..to`.
    fn clear(&mut self, from: usize, to: usize) {
        let mut k = from;
        while k < to {
            let (w, b) = (k / 64, k % 64);
            let n = (64 - b).min(to - k);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << b
            };
            self.bits[w] &= !mask;
            k += n;
        }
    }

    /// The atoms that lie inside `lo..=hi`: positions `from..to`.
    fn inside(&self, lo: u32, hi: u32) -> (usize, usize) {
        let from = self.atoms.partition_point(|a| a.0 < lo);
        let to = self.atoms.partition_point(|a| a.1 <= hi);
        (from, to.max(from))
    }

    /// The atoms that overlap `lo..=hi`: positions `from..to`.
    fn overlapping(&self, lo: u32, hi: u32) -> (usize, usize) {
        let from = self.atoms.partition_point(|a| a.1 < lo);
        let to = self.atoms.partition_point(|a| a.0 <= hi);
        (from, to.max(from))
    }

    /// Keep only the atoms inside `lo..=hi`.
    pub fn keep_inside(&mut self, lo: u32, hi: u32) {
        if self.hull().is_some_and(|(a, b)| lo <= a && b <= hi) {
            return;
        }
        let (from, to) = self.inside(lo, hi);
        self.clear(0, from);
        self.clear(to, self.atoms.len());
    }

    /// Keep only the atoms outside `lo..=hi`.
    pub fn keep_outside(&mut self, lo: u32, hi: u32) {
        let (from, to) = self.overlapping(lo, hi);
        self.clear(from, to);
    }

    /// How many atoms in the set lie inside `lo..=hi`.
    fn count_inside(&self, lo: u32, hi: u32) -> usize {
        let (from, to) = self.inside(lo, hi);
        (from..to).filter(|&k| self.contains(k)).count()
    }

    /// How many atoms in the set lie outside `lo..=hi`.
    fn count_outside(&self, lo: u32, hi: u32) -> usize {
        let (from, to) = self.overlapping(lo, hi);
        self.len() - (from..to).filter(|&k| self.contains(k)).count()
    }

    /// `self` minus `other` (a subset of it over the same atoms).
    pub fn minus(&self, other: &AtomSet) -> AtomSet {
        AtomSet {
            atoms: self.atoms.clone(),
            bits: bits_minus(&self.bits, &other.bits),
        }
    }

    /// The atoms of `bits` (a set over this set's atom list, holding this set) that
    /// this set lacks; None when there are none (nothing is built then).
    pub fn rest_of(&self, bits: &Bits) -> Option<AtomSet> {
        let rest = bits_minus(bits, &self.bits);
        rest.iter().any(|&w| w != 0).then(|| AtomSet {
            atoms: self.atoms.clone(),
            bits: rest,
        })
    }
}

/// A set of values of one port field: sorted, disjoint intervals. Exploring sets, a
/// rule's port range keeps the ports inside it or removes them, wherever they lie, so
/// the ports on both sides of a range a packet misses stay one set (a box would split
/// them in two, and every later range again).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PortSet(pub smallvec::SmallVec<[(u32, u32); 4]>);

impl PortSet {
    /// The ports `lo..=hi`.
    pub fn interval(lo: u32, hi: u32) -> PortSet {
        PortSet(smallvec::smallvec![(lo, hi)])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, v: u32) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= v && v <= hi)
    }

    /// From the lowest port in the set to the highest.
    pub fn hull(&self) -> Option<(u32, u32)> {
        Some((self.0.first()?.0, self.0.last()?.1))
    }

    /// How many ports the set holds.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|&(lo, hi)| u64::from(hi - lo) + 1).sum()
    }

    /// How many ports of the set lie inside `lo..=hi`.
    fn count_inside(&self, lo: u32, hi: u32) -> u64 {
        self.0
            .iter()
            .map(|&(a, b)| (a.max(lo), b.min(hi)))
            .filter(|(a, b)| a <= b)
            .map(|(a, b)| u64::from(b - a) + 1)
            .sum()
    }

    /// Keep only the ports inside `lo..=hi`.
    pub fn keep_inside(&mut self, lo: u32, hi: u32) {
        self.0.retain(|iv| {
            iv.0 = iv.0.max(lo);
            iv.1 = iv.1.min(hi);
            iv.0 <= iv.1
        });
    }

    /// Keep only the ports outside `lo..=hi`.
    pub fn keep_outside(&mut self, lo: u32, hi: u32) {
        if self.0.iter().all(|&(a, b)| b < lo || a > hi) {
            return;
        }
        let mut out = smallvec::SmallVec::new();
        for &(a, b) in &self.0 {
            if a < lo {
                out.push((a, b.min(lo - 1)));
            }
            if b > hi {
                out.push((a.max(hi + 1), b));
            }
        }
        self.0 = out;
    }

    /// `self` minus `other` (a subset of it).
    pub fn minus(&self, other: &PortSet) -> PortSet {
        let mut rest = self.clone();
        for &(lo, hi) in &other.0 {
            rest.keep_outside(lo, hi);
        }
        rest
    }
}

/// The sets a traced packet stands for, exploring sets: the source's and the
/// destination's atoms (see [`AtomSet`]) and the source and destination ports.
#[derive(Clone, Debug)]
pub struct Sets {
    pub addr: [AtomSet; 2],
    pub ports: [PortSet; 2],
}

/// Narrows a region as decisions are taken. With no region (a plain `trace`), every
/// operation is a no-op.
///
/// With atom sets (see [`Narrow::on_sets`]) the region's source and destination are the
/// representative's atoms, and the sets hold every atom of each side that the decisions
/// so far treat as the representative's: a condition on an address keeps the atoms that
/// lie on the representative's side of it, wherever they are. A decision on who owns an
/// address ([`Narrow::cons_owner`]) does not narrow the sets: the caller starts them with
/// atoms whose owners are interchangeable. The port sets are narrowed the same way, by
/// exact interval arithmetic (no atoms needed); the region's ports then only follow the
/// interval around the point.
#[derive(Clone, Debug)]
pub struct Narrow {
    /// For each current field, the original dimension it equals; None = a constant.
    pub sym: [Option<usize>; 4],
    pub region: Option<Region>,
    /// The representative point, to decide which side of a boundary to keep.
    pub point: [u32; 4],
    /// The sets of addresses and ports, when exploring sets.
    pub sets: Option<Box<Sets>>,
    /// A second protocol whose packets the decisions so far treat exactly as the traced
    /// packet's, when one was asked about (see [`Alike`](crate::graph::index::Alike)); None
    /// once a place may tell them apart.
    pub alike: Option<std::sync::Arc<crate::graph::index::Alike>>,
}

impl Narrow {
    pub fn off() -> Narrow {
        Narrow {
            sym: [Some(0), Some(1), Some(2), Some(3)],
            region: None,
            point: [0; 4],
            sets: None,
            alike: None,
        }
    }
    /// Narrow `region` (its addresses: one atom of each set) and the sets.
    pub fn on_sets(region: Region, point: [u32; 4], has_ports: bool, sets: Sets) -> Narrow {
        Narrow {
            sets: Some(Box::new(sets)),
            ..Narrow::on(region, point, has_ports)
        }
    }
    /// The values dimension `d` spans: over its set when exploring sets, else the
    /// region's interval.
    pub fn span(&self, d: usize) -> Option<(u32, u32)> {
        match (&self.sets, self.region) {
            (Some(s), Some(_)) if d < 2 => s.addr[d].hull(),
            (Some(s), Some(_)) => s.ports[d - 2].hull(),
            (_, Some(r)) => Some((r.lo[d], r.hi[d])),
            _ => None,
        }
    }
    pub fn on(region: Region, point: [u32; 4], has_ports: bool) -> Narrow {
        let ports = if has_ports {
            [Some(2), Some(3)]
        } else {
            [None, None]
        };
        Narrow {
            sym: [Some(0), Some(1), ports[0], ports[1]],
            region: Some(region),
            point,
            sets: None,
            alike: None,
        }
    }
    /// The field now holds a constant (translated by NAT).
    pub fn set_const(&mut self, f: F) {
        self.sym[f as usize] = None;
    }
    /// The field now holds what field `from` held (for swaps and reverse translation).
    pub fn set(&mut self, f: F, dim: Option<usize>) {
        self.sym[f as usize] = dim;
    }
    pub fn dim(&self, f: F) -> Option<usize> {
        self.sym[f as usize]
    }
    /// The values field `f` spans over the packets (`v`, the traced packet's value, when
    /// the field holds a constant or nothing is narrowed).
    pub fn range(&self, f: F, v: u32) -> (u32, u32) {
        self.dim(f).and_then(|d| self.span(d)).unwrap_or((v, v))
    }
    /// The packet fields are swapped (a reply).
    pub fn swap(&mut self) {
        self.sym.swap(0, 1);
        self.sym.swap(2, 3);
    }
    /// Keep only packets whose field `f` lies in `lo..=hi` (it does at the point).
    pub fn cons(&mut self, f: F, lo: u32, hi: u32) {
        self.cons_dim(self.dim(f), lo, hi)
    }
    pub fn cons_dim(&mut self, dim: Option<usize>, lo: u32, hi: u32) {
        if let Some(d) = self.cons_region(dim, lo, hi) {
            match self.sets.as_mut() {
                Some(s) if d < 2 => s.addr[d].keep_inside(lo, hi),
                Some(s) => s.ports[d - 2].keep_inside(lo, hi),
                None => {}
            }
        }
    }
    /// [`cons`](Narrow::cons) for a decision on who owns the address (an owned address,
    /// or the gap between owned addresses): the atom sets are not narrowed, since they
    /// hold interchangeable owners only.
    pub fn cons_owner(&mut self, f: F, lo: u32, hi: u32) {
        self.cons_region(self.dim(f), lo, hi);
    }
    /// Narrow the region's dimension `dim` to `lo..=hi`; the dimension, when narrowed.
    fn cons_region(&mut self, dim: Option<usize>, lo: u32, hi: u32) -> Option<usize> {
        let (r, d) = (self.region.as_mut()?, dim?);
        r.lo[d] = r.lo[d].max(lo);
        r.hi[d] = r.hi[d].min(hi);
        Some(d)
    }
    /// The share of what dimension `d` spans (out of 1,000,000) that `lo..=hi` keeps:
    /// atoms inside it when exploring sets, else addresses or ports.
    fn kept(&self, d: usize, lo: u32, hi: u32, inside: bool) -> u64 {
        match self.sets.as_ref() {
            Some(s) if d < 2 => {
                let n = if inside {
                    s.addr[d].count_inside(lo, hi)
                } else {
                    s.addr[d].count_outside(lo, hi)
                };
                return n as u64 * 1_000_000 / s.addr[d].len().max(1) as u64;
            }
            Some(s) => {
                let p = &s.ports[d - 2];
                let n = p.count_inside(lo, hi);
                let n = if inside { n } else { p.len() - n };
                return n * 1_000_000 / p.len().max(1);
            }
            None => {}
        }
        let r = self.region.expect("narrowing");
        let (nlo, nhi) = if inside {
            (r.lo[d].max(lo), r.hi[d].min(hi))
        } else if self.point[d] < lo {
            (r.lo[d], r.hi[d].min(lo - 1))
        } else {
            (r.lo[d].max(hi + 1), r.hi[d])
        };
        (u64::from(nhi) - u64::from(nlo) + 1) * 1_000_000
            / (u64::from(r.hi[d]) - u64::from(r.lo[d]) + 1)
    }
    /// A conjunction of interval conditions is false at the point: keep only packets for
    /// which it stays false, by keeping one failing condition failing. `conds` are
    /// `(dimension, lo, hi)`; a failing condition on a constant field keeps it false for
    /// the whole region, so nothing is cut.
    pub fn avoid_dims(&mut self, conds: &[(Option<usize>, u32, u32)]) {
        let Some(r) = self.region else { return };
        // A failing condition on a constant field fails for the whole region: nothing to
        // cut.
        if conds.iter().any(|&(dim, _, _)| dim.is_none()) {
            return;
        }
        let mut best: Option<(u64, usize, u32, u32)> = None; // (kept share, dim, lo, hi)
        for &(dim, lo, hi) in conds {
            let d = dim.expect("no constant condition");
            let v = self.point[d];
            if lo <= v && v <= hi {
                continue; // holds at the point: cannot be the failing one
            }
            let kept = self.kept(d, lo, hi, false);
            if best.is_none_or(|b| kept > b.0) {
                best = Some((kept, d, lo, hi));
            }
        }
        let Some((_, d, lo, hi)) = best else { return };
        let v = self.point[d];
        let reg = self.region.as_mut().expect("narrowing");
        if v < lo {
            reg.hi[d] = r.hi[d].min(lo - 1);
        } else {
            reg.lo[d] = r.lo[d].max(hi + 1);
        }
        match self.sets.as_mut() {
            Some(s) if d < 2 => s.addr[d].keep_outside(lo, hi),
            Some(s) => s.ports[d - 2].keep_outside(lo, hi),
            None => {}
        }
    }
    /// Value of the dimension at the point, if the field is symbolic.
    pub fn value(&self, f: F) -> Option<u32> {
        self.dim(f).map(|d| self.point[d])
    }
}

/// A rule condition on one field.
#[derive(Clone, Copy, Debug)]
pub struct Cond {
    pub f: F,
    pub lo: u32,
    pub hi: u32,
}

impl Cond {
    pub fn net(f: F, n: ipnet::Ipv4Net) -> Cond {
        Cond {
            f,
            lo: u32::from(n.network()),
            hi: u32::from(n.broadcast()),
        }
    }
    pub fn ports(f: F, p: crate::net::addr::Ports) -> Cond {
        Cond {
            f,
            lo: u32::from(p.lo),
            hi: u32::from(p.hi),
        }
    }
    pub fn holds(&self, v: u32) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// A rule's conditions without allocating: at most one per field.
#[derive(Clone, Copy, Debug)]
pub struct Conds {
    buf: [Cond; 4],
    n: usize,
}

impl Default for Conds {
    fn default() -> Conds {
        Conds {
            buf: [Cond {
                f: F::Src,
                lo: 0,
                hi: 0,
            }; 4],
            n: 0,
        }
    }
}

impl Conds {
    pub fn push(&mut self, c: Cond) {
        self.buf[self.n] = c;
        self.n += 1;
    }
}

impl std::ops::Deref for Conds {
    type Target = [Cond];
    fn deref(&self) -> &[Cond] {
        &self.buf[..self.n]
    }
}

/// Evaluate a rule's interval conditions on a packet's current values and record the
/// result. Returns whether all hold.
pub fn rule_on(nw: &mut Narrow, vals: [u32; 4], conds: &[Cond]) -> bool {
    let matched = conds.iter().all(|c| c.holds(vals[c.f as usize]));
    if nw.region.is_some() {
        if matched {
            for c in conds {
                nw.cons(c.f, c.lo, c.hi);
            }
        } else {
            // A condition that fails on a constant field, or for the whole region already,
            // fails for every packet of the region: nothing to cut.
            let fails_everywhere = conds.iter().any(|c| {
                !c.holds(vals[c.f as usize])
                    && match nw.dim(c.f).and_then(|d| nw.span(d)) {
                        None => true,
                        Some((lo, hi)) => hi < c.lo || lo > c.hi,
                    }
            });
            if !fails_everywhere {
                // A rule has at most one condition per field: four alternatives.
                let mut alts = [(None, 0, 0); 4];
                let mut n = 0;
                for c in conds
                    .iter()
                    .filter(|c| !c.holds(vals[c.f as usize]))
                    .take(4)
                {
                    alts[n] = (nw.dim(c.f), c.lo, c.hi);
                    n += 1;
                }
                nw.avoid_dims(&alts[..n]);
            }
        }
    }
    matched
}

/// Sorted, merged intervals of an address set, with the interval (or gap) around a value.
pub fn around(ivs: &[(u32, u32)], v: u32) -> (bool, u32, u32) {
    let i = ivs.partition_point(|&(lo, _)| lo <= v);
    if i > 0 && ivs[i - 1].1 >= v {
        return (true, ivs[i - 1].0, ivs[i - 1].1);
    }
    let lo = if i > 0 { ivs[i - 1].1 + 1 } else { 0 };
    let hi = if i < ivs.len() {
        ivs[i].0 - 1
    } else {
        u32::MAX
    };
    (false, lo, hi)
}

/// Is `v` in the set? Records the interval or gap around it on field `f`.
pub fn member(nw: &mut Narrow, ivs: &[(u32, u32)], f: F, v: u32) -> bool {
    let (inside, lo, hi) = around(ivs, v);
    nw.cons(f, lo, hi);
    inside
}

/// An SA's (local, remote) selectors as sorted, merged intervals.
pub type SaIv = (Vec<(u32, u32)>, Vec<(u32, u32)>);

/// Which SA of `sas` carries (a, b): `a` tested against the local selectors when
/// `outbound`, else against the remote ones. Narrows to the packets with the same answer.
pub fn sa_cover(
    nw: &mut Narrow,
    sas: &[SaIv],
    src: u32,
    dst: u32,
    outbound: bool,
) -> Option<usize> {
    let (fs, fd) = (F::Src, F::Dst);
    for (k, s) in sas.iter().enumerate() {
        let (sv, dv) = if outbound { (&s.0, &s.1) } else { (&s.1, &s.0) };
        let (si, slo, shi) = around(sv, src);
        let (di, dlo, dhi) = around(dv, dst);
        if si && di {
            nw.cons(fs, slo, shi);
            nw.cons(fd, dlo, dhi);
            return Some(k);
        }
        // Keep it not covering: keep one failing membership failing.
        let mut alts = Vec::new();
        if !si {
            alts.push((nw.dim(fs), slo, shi));
        }
        if !di {
            alts.push((nw.dim(fd), dlo, dhi));
        }
        // `avoid_dims` cuts to keep the value *outside* the given interval; here the gap
        // is where the value is, so cut *to* the gap instead.
        keep_in_one(nw, &alts);
    }
    None
}

/// Keep the point inside one of the given intervals (the one that keeps most of the
/// region); a constant field among them keeps its answer everywhere, so nothing is cut.
pub fn keep_in_one(nw: &mut Narrow, alts: &[(Option<usize>, u32, u32)]) {
    if nw.region.is_none() || alts.iter().any(|a| a.0.is_none()) {
        return;
    }
    let mut best: Option<(u64, usize, u32, u32)> = None;
    for &(dim, lo, hi) in alts {
        let d = dim.expect("symbolic");
        let kept = nw.kept(d, lo, hi, true);
        if best.is_none_or(|b| kept > b.0) {
            best = Some((kept, d, lo, hi));
        }
    }
    if let Some((_, d, lo, hi)) = best {
        nw.cons_dim(Some(d), lo, hi);
    }
}

/// A longest-prefix answer: the prefix's (start, end, length, value).
pub type Answer<T> = (u32, u32, u8, T);

/// A prefix to index: (start, length, tie order, end, value).
pub type PrefixItem<T> = (u32, u8, usize, u32, T);

/// The [`PrefixItem`] of prefix `n` with tie order `order`.
pub fn prefix_item<T>(n: ipnet::Ipv4Net, order: usize, t: T) -> PrefixItem<T> {
    let n = n.trunc();
    (
        u32::from(n.network()),
        n.prefix_len(),
        order,
        u32::from(n.broadcast()),
        t,
    )
}

/// Longest-prefix match over a set of prefixes, flattened into disjoint address
/// intervals each holding its answer, so one binary search gives both the answer and the
/// interval of addresses around a value that the same lookup answers identically.
#[derive(Clone, Debug, Default)]
pub struct PrefixIndex<T: Copy> {
    /// Sorted, disjoint intervals covering 0..=u32::MAX: their starts, each running to
    /// the next start (searched alone: a compact array of starts keeps the binary search
    /// in cache) ...
    starts: Vec<u32>,
    /// ... and each one's answer: the longest prefix holding it, (start, end, length,
    /// value).
    answers: Vec<Option<Answer<T>>>,
}

impl<T: Copy> PrefixIndex<T> {
    /// Among equal prefixes the first inserted is kept (the caller inserts in tie order).
    pub fn build(items: impl IntoIterator<Item = (ipnet::Ipv4Net, T)>) -> PrefixIndex<T> {
        let mut v: Vec<PrefixItem<T>> = items
            .into_iter()
            .enumerate()
            .map(|(k, (n, t))| prefix_item(n, k, t))
            .collect();
        v.sort_by_key(|e| (e.0, e.1, e.2));
        PrefixIndex::from_sorted(v)
    }

    /// From two lists each sorted by (start, length, tie order), merged: for a set of
    /// prefixes shared by many indexes (sorted once) and each index's own.
    pub fn merged(shared: &[PrefixItem<T>], own: Vec<PrefixItem<T>>) -> PrefixIndex<T> {
        let mut v = Vec::with_capacity(shared.len() + own.len());
        let mut own = own.into_iter().peekable();
        for &s in shared {
            while let Some(&o) = own.peek() {
                if (o.0, o.1, o.2) < (s.0, s.1, s.2) {
                    v.push(o);
                    own.next();
                } else {
                    break;
                }
            }
            v.push(s);
        }
        v.extend(own);
        PrefixIndex::from_sorted(v)
    }

    /// From items sorted by (start, length, tie order).
    pub fn from_sorted(mut v: Vec<PrefixItem<T>>) -> PrefixIndex<T> {
        // Outer prefixes come before the inner ones starting at the same address; among
        // equal prefixes only the first in tie order is kept.
        v.dedup_by_key(|e| (e.0, e.1));
        let mut starts: Vec<u32> = Vec::with_capacity(2 * v.len() + 1);
        let mut answers: Vec<Option<Answer<T>>> = Vec::with_capacity(2 * v.len() + 1);
        let mut emit = |lo: u64, hi: u64, ans: Option<Answer<T>>| {
            if lo <= hi {
                starts.push(lo as u32);
                answers.push(ans);
            }
        };
        // Prefixes are nested or disjoint: a stack of the open ones, innermost on top.
        let mut stack: Vec<Answer<T>> = Vec::new();
        let mut cur: u64 = 0;
        for &(start, len, _, end, t) in &v {
            while let Some(&top) = stack.last() {
                if top.1 >= start {
                    break;
                }
                emit(cur, u64::from(top.1), Some(top));
                cur = u64::from(top.1) + 1;
                stack.pop();
            }
            // The addresses before this prefix (none before 0.0.0.0) belong to the
            // enclosing one.
            if let Some(before) = u64::from(start).checked_sub(1) {
                emit(cur, before, stack.last().copied());
            }
            cur = u64::from(start).max(cur);
            stack.push((start, end, len, t));
        }
        while let Some(top) = stack.pop() {
            emit(cur, u64::from(top.1), Some(top));
            cur = u64::from(top.1) + 1;
        }
        emit(cur, u64::from(u32::MAX), None);
        PrefixIndex { starts, answers }
    }

    /// The flat interval holding `v`: its position.
    fn at(&self, v: u32) -> usize {
        self.starts.partition_point(|&s| s <= v).saturating_sub(1)
    }

    /// [`at`](PrefixIndex::at) for a `v` known to lie at or after the start of flat
    /// interval `from`: a galloping search forward from there (the atoms of a set are
    /// looked up in order, mostly a few intervals apart).
    fn at_from(&self, from: usize, v: u32) -> usize {
        let s = &self.starts;
        debug_assert!(s[from] <= v);
        let (mut lo, mut step) = (from, 1);
        let mut hi = from + 1;
        while hi < s.len() && s[hi] <= v {
            lo = hi;
            step *= 2;
            hi = lo + step;
        }
        let hi = hi.min(s.len());
        lo + s[lo..hi].partition_point(|&x| x <= v) - 1
    }

    /// Longest prefix containing `v`: (start, end, length, value).
    pub fn lookup(&self, v: u32) -> Option<(u32, u32, u8, T)> {
        self.answers.get(self.at(v)).copied().flatten()
    }

    /// The addresses around `v` for which `lookup` gives the same answer.
    pub fn region(&self, v: u32) -> (u32, u32) {
        self.interval(self.at(v))
    }

    /// The addresses of flat interval `i` (everything for an empty index).
    fn interval(&self, i: usize) -> (u32, u32) {
        let lo = self.starts.get(i).map_or(0, |&s| s);
        let hi = self.starts.get(i + 1).map_or(u32::MAX, |&s| s - 1);
        (lo, hi)
    }

    /// Lookup and narrow field `f` to where the answer is the same.
    pub fn lookup_on(&self, nw: &mut Narrow, f: F, v: u32) -> Option<(u32, u32, u8, T)> {
        let i = self.at(v);
        let found = *self.answers.get(i)?;
        let (lo, hi) = self.interval(i);
        nw.cons(f, lo, hi);
        found
    }

    /// [`lookup_on`](PrefixIndex::lookup_on), but an atom set (see [`Narrow::on_sets`])
    /// keeps every atom whose answer is `alike` the point's, wherever it lies: the
    /// decision that follows reads the answer only through what `alike` compares.
    pub fn lookup_on_alike(
        &self,
        nw: &mut Narrow,
        f: F,
        v: u32,
        alike: impl Fn(Option<T>, Option<T>) -> bool,
    ) -> Option<(u32, u32, u8, T)> {
        let i = self.at(v);
        let found = self.answers.get(i).copied().flatten();
        let (lo, hi) = self.interval(i);
        let dim = nw.dim(f);
        let Some(set) = nw
            .sets
            .as_mut()
            .zip(dim.filter(|&d| d < 2))
            .map(|(s, d)| &mut s.addr[d])
        else {
            nw.cons(f, lo, hi);
            return found;
        };
        if set.hull().is_some_and(|(a, b)| lo <= a && b <= hi) {
            // One answer for the whole set.
            nw.cons_owner(f, lo, hi);
            return found;
        }
        let here = found.map(|x| x.3);
        // The set's atoms in address order against the flat intervals (no prefix cuts an
        // atom): one pass, over a copy of the bits (the atom list is not copied).
        let mut j = 0;
        let bits = set.bits.clone();
        for k in members(&bits) {
            let a = set.atoms[k].0;
            if j == 0 {
                j = self.at(a) + 1;
            } else if self.starts.get(j).is_some_and(|&s| s <= a) {
                j = self.at_from(j, a) + 1;
            }
            let answer = self.answers.get(j - 1).copied().flatten().map(|x| x.3);
            if !alike(here, answer) {
                set.remove(k);
            }
        }
        nw.cons_owner(f, lo, hi);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> ipnet::Ipv4Net {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    /// The galloping search finds the interval the binary search does, from any
    /// interval at or before it.
    #[test]
    fn galloping_search_agrees_with_binary_search() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..50 {
            let items: Vec<(ipnet::Ipv4Net, usize)> = (0..next(40) + 1)
                .map(|k| {
                    let len = 16 + next(17) as u8;
                    let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (next(1 << 20) as u32) << 4);
                    (ipnet::Ipv4Net::new(addr, len).unwrap().trunc(), k as usize)
                })
                .collect();
            let idx = PrefixIndex::build(items);
            for n in 0..400 {
                // Half at an interval's first address, half anywhere.
                let v = if n % 2 == 0 {
                    idx.starts[next(idx.starts.len() as u64) as usize]
                } else {
                    0x0a00_0000 | (next(1 << 24) as u32)
                };
                let i = idx.at(v);
                let from = next(i as u64 + 1) as usize;
                assert_eq!(idx.at_from(from, v), i, "from {from} for {v:#x}");
            }
        }
    }

    #[test]
    fn prefix_index_region_excludes_longer_prefixes() {
        let idx = PrefixIndex::build([
            (n("10.0.0.0/8"), 1),
            (n("10.1.0.0/16"), 2),
            (n("10.2.0.0/16"), 3),
            (n("10.1.0.0/16"), 9),
        ]);
        assert_eq!(
            idx.lookup(ip("10.1.2.3")).unwrap().3,
            2,
            "first inserted of equal prefixes"
        );
        assert_eq!(
            idx.region(ip("10.1.200.3")),
            (ip("10.1.0.0"), ip("10.1.255.255"))
        );
        let f = idx.lookup(ip("10.3.0.1"));
        assert_eq!(f.unwrap().3, 1);
        assert_eq!(
            idx.region(ip("10.3.0.1")),
            (ip("10.2.0.0") + 65536, ip("10.255.255.255"))
        );
        assert_eq!(
            idx.region(ip("10.0.0.1")),
            (ip("10.0.0.0"), ip("10.0.255.255"))
        );
        assert_eq!(idx.lookup(ip("11.0.0.1")), None);
        assert_eq!(idx.region(ip("11.0.0.1")), (ip("11.0.0.0"), u32::MAX));
    }

    /// The flattened index answers as a scan of every prefix does (longest wins, the
    /// first inserted among equal ones), and its region is exactly the run of addresses
    /// with that answer.
    #[test]
    fn prefix_index_agrees_with_a_scan() {
        let mut seed: u64 = 7;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for round in 0..200 {
            let items: Vec<(ipnet::Ipv4Net, usize)> = (0..(round % 12 + 1))
                .map(|k| {
                    // Addresses in a small space so that prefixes nest and repeat, and
                    // now and then the default route or a prefix at the ends of the space.
                    let (addr, len) = match next() % 16 {
                        0 => (0, 0),
                        1 => (0, 8),
                        2 => (u32::MAX, 24 + (next() % 9) as u8),
                        _ => (0x0a00_0000 | (next() & 0x3fff), 20 + (next() % 13) as u8),
                    };
                    (ipnet::Ipv4Net::new(addr.into(), len).unwrap().trunc(), k)
                })
                .collect();
            let idx = PrefixIndex::build(items.clone());
            let scan = |v: u32| {
                items
                    .iter()
                    .filter(|(n, _)| n.contains(&std::net::Ipv4Addr::from(v)))
                    .max_by_key(|(n, k)| (n.prefix_len(), std::cmp::Reverse(*k)))
                    .map(|(n, k)| (n.prefix_len(), *k))
            };
            for probe in 0..60 {
                let v = match probe {
                    0 => 0,
                    1 => u32::MAX,
                    _ => 0x09ff_ff00u32.wrapping_add(next() % 0x4200),
                };
                let got = idx.lookup(v).map(|(_, _, l, t)| (l, t));
                assert_eq!(got, scan(v), "round {round} at {v:#x}");
                let (lo, hi) = idx.region(v);
                assert!(lo <= v && v <= hi);
                for w in [lo, hi, lo.saturating_add((hi - lo) / 2)] {
                    assert_eq!(scan(w), got, "inside the region");
                }
                if lo > 0 {
                    assert_ne!(scan(lo - 1), got, "the region is maximal below");
                }
                if hi < u32::MAX {
                    assert_ne!(scan(hi + 1), got, "the region is maximal above");
                }
            }
        }
    }

    #[test]
    fn region_minus_partitions() {
        let outer = Region {
            lo: [0, 0, 0, 0],
            hi: [9, 9, 9, 9],
        };
        let inner = Region {
            lo: [2, 3, 0, 5],
            hi: [4, 3, 9, 9],
        };
        let parts = outer.minus(&inner);
        let vol = |r: &Region| {
            (0..4)
                .map(|d| u64::from(r.hi[d] - r.lo[d] + 1))
                .product::<u64>()
        };
        assert_eq!(
            parts.iter().map(vol).sum::<u64>() + vol(&inner),
            vol(&outer)
        );
        for (i, a) in parts.iter().enumerate() {
            assert!(!a.overlaps(&inner));
            for b in &parts[i + 1..] {
                assert!(!a.overlaps(b));
            }
        }
    }

    #[test]
    fn a_failing_rule_keeps_failing_in_the_region() {
        let mut nw = Narrow::on(
            Region {
                lo: [0, 0, 1024, 0],
                hi: [u32::MAX, u32::MAX, 65535, 65535],
            },
            [ip("10.0.0.5"), ip("192.168.0.9"), 40000, 22],
            true,
        );
        let conds = [
            Cond::net(F::Src, n("10.0.0.128/25")),
            Cond::ports(F::Dport, crate::net::addr::Ports { lo: 22, hi: 22 }),
        ];
        let pt = nw.point;
        assert!(!rule_on(&mut nw, pt, &conds));
        let r = nw.region.unwrap();
        assert!(r.hi[0] < ip("10.0.0.128") || r.lo[3] > 22 || r.hi[3] < 22);
        assert!(r.contains(nw.point));
    }

    #[test]
    fn port_sets_keep_both_sides_of_a_missed_range() {
        let mut p = PortSet::interval(1024, 65535);
        p.keep_outside(8080, 8090);
        assert_eq!(p.0.as_slice(), &[(1024, 8079), (8091, 65535)]);
        assert_eq!(p.len(), 65535 - 1024 + 1 - 11);
        p.keep_outside(1000, 1024);
        p.keep_inside(1025, 9000);
        assert_eq!(p.0.as_slice(), &[(1025, 8079), (8091, 9000)]);
        assert_eq!(p.count_inside(8000, 8100), 80 + 10);
        let all = PortSet::interval(0, 65535);
        assert_eq!(
            all.minus(&p).0.as_slice(),
            &[(0, 1024), (8080, 8090), (9001, 65535)]
        );
        assert!(all.minus(&all).is_empty());
    }

    #[test]
    fn a_missed_port_range_narrows_the_port_set_not_the_box() {
        let atoms: std::sync::Arc<[(u32, u32)]> = std::sync::Arc::from([(0, u32::MAX)]);
        let sets = Sets {
            addr: [AtomSet::of(atoms.clone(), [0]), AtomSet::of(atoms, [0])],
            ports: [PortSet::interval(1024, 65535), PortSet::interval(0, 65535)],
        };
        let region = Region {
            lo: [0, 0, 1024, 0],
            hi: [u32::MAX, u32::MAX, 65535, 65535],
        };
        let mut nw = Narrow::on_sets(region, [0, 0, 40000, 0], true, sets);
        // A rule on destination port 22 misses the packet (port 0): the set keeps every
        // other port, on both sides of 22.
        let x = [0, 0, 40000, 0];
        let dport = |lo, hi| {
            [Cond {
                f: F::Dport,
                lo,
                hi,
            }]
        };
        assert!(!rule_on(&mut nw, x, &dport(22, 22)));
        let s = nw.sets.as_ref().unwrap();
        assert_eq!(s.ports[1].0.as_slice(), &[(0, 21), (23, 65535)]);
        // A rule that matches keeps only its range.
        assert!(rule_on(&mut nw, x, &dport(0, 100)));
        let s = nw.sets.as_ref().unwrap();
        assert_eq!(s.ports[1].0.as_slice(), &[(0, 21), (23, 100)]);
        assert_eq!(s.ports[0].0.as_slice(), &[(1024, 65535)]);
    }
}
