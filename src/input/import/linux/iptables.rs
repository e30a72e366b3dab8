//! `iptables-save` output → the device's `filter` (INPUT, FORWARD, OUTPUT) and `nat`.
//!
//! What is modelled: chain policies; rules with `-s/-d/-p/-i/-o`, `--sport/--dport`,
//! multiport `--sports/--dports`, conntrack/state matches; jumps to user chains, inlined
//! in order with RETURN semantics (an unconditional RETURN ends the inlined chain);
//! ACCEPT/DROP/REJECT (REJECT is a drop to the traffic) in `filter`; MASQUERADE, SNAT,
//! DNAT and ACCEPT/RETURN (no NAT) in `nat`. A general `ESTABLISHED,RELATED -j ACCEPT`
//! is the device's `stateful: true`.
//!
//! Negations are expanded into the complement (`! -s 10.0.0.0/8` into the prefixes
//! around it, `! -i eth0` into the device's other interfaces), which a first-match list
//! of rules with one action represents exactly. Everything else (an unmodelled match,
//! target or table, a conditional RETURN) is a [`Warning`] naming the file and line.

use std::collections::{BTreeMap, BTreeSet};

use crate::input::error::InputError;
use crate::input::import::Warning;
use crate::input::{Action, Chain, Filter, FilterRule, NatAction, NatRule};
use crate::net::addr::{range_to_nets, Cidr, Ports, Protocol};

/// What `iptables-save` gave.
#[derive(Debug, Default)]
pub struct Parsed {
    /// None when the file has no `*filter` table.
    pub filter: Option<Filter>,
    pub nat: Vec<NatRule>,
    pub warnings: Vec<Warning>,
}

/// One alternative of a rule's match: every field must hold (None / any = no condition).
#[derive(Clone, Debug, PartialEq)]
struct Simple {
    src: Option<Cidr>,
    dst: Option<Cidr>,
    proto: Protocol,
    sports: Ports,
    dports: Ports,
    in_if: Option<String>,
    out_if: Option<String>,
}

impl Simple {
    fn any() -> Simple {
        Simple {
            src: None,
            dst: None,
            proto: Protocol::All,
            sports: Ports::ANY,
            dports: Ports::ANY,
            in_if: None,
            out_if: None,
        }
    }
    fn is_any(&self) -> bool {
        *self == Simple::any()
    }
    /// Both conditions at once, or None when no packet meets both.
    fn and(&self, o: &Simple) -> Option<Simple> {
        Some(Simple {
            src: and_cidr(self.src, o.src)?,
            dst: and_cidr(self.dst, o.dst)?,
            proto: match (self.proto, o.proto) {
                (Protocol::All, p) | (p, Protocol::All) => p,
                (p, q) if p == q => p,
                _ => return None,
            },
            sports: and_ports(self.sports, o.sports)?,
            dports: and_ports(self.dports, o.dports)?,
            in_if: and_iface(&self.in_if, &o.in_if)?,
            out_if: and_iface(&self.out_if, &o.out_if)?,
        })
    }
}

fn and_cidr(a: Option<Cidr>, b: Option<Cidr>) -> Option<Option<Cidr>> {
    match (a, b) {
        (None, x) | (x, None) => Some(x),
        (Some(a), Some(b)) => {
            let (an, bn) = (a.network(), b.network());
            if an.contains(&bn) {
                Some(Some(b))
            } else if bn.contains(&an) {
                Some(Some(a))
            } else {
                None
            }
        }
    }
}

fn and_ports(a: Ports, b: Ports) -> Option<Ports> {
    let (lo, hi) = (a.lo.max(b.lo), a.hi.min(b.hi));
    (lo <= hi).then_some(Ports { lo, hi })
}

fn and_iface(a: &Option<String>, b: &Option<String>) -> Option<Option<String>> {
    match (a, b) {
        (None, x) | (x, None) => Some(x.clone()),
        (Some(a), Some(b)) if a == b => Some(Some(a.clone())),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Target {
    Accept,
    Drop,
    Reject,
    Return,
    Log,
    Jump(String),
    Goto(String),
    Masquerade,
    Snat(String),
    Dnat(String),
    None,
}

/// One `-A` line, its match expanded into alternatives.
#[derive(Clone, Debug)]
struct RawRule {
    line: usize,
    text: String,
    alts: Vec<Simple>,
    /// conntrack/state states, when matched (negated: `!` before them).
    states: Option<(BTreeSet<String>, bool)>,
    target: Target,
    /// Set when the rule should not be imported at all (its warning already given).
    skip: bool,
}

#[derive(Debug, Default)]
struct Table {
    /// Chain name → (policy, line); policy `-` for a user chain.
    chains: BTreeMap<String, (String, usize)>,
    rules: Vec<RawRule>,
}

/// Splits a line into words as iptables-save quotes them (`"a b"`, `\"`).
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn parse_protocol(s: &str) -> Option<Protocol> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Some(Protocol::Tcp),
        "udp" | "17" => Some(Protocol::Udp),
        "icmp" | "1" => Some(Protocol::Icmp),
        "gre" | "47" => Some(Protocol::Gre),
        "all" | "0" => Some(Protocol::All),
        _ => None,
    }
}

/// `22`, `1024:65535`, `:1023`, `1024:`.
fn parse_port_range(s: &str) -> Option<Ports> {
    let (a, b) = match s.split_once(':') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let lo = if a.is_empty() { 0 } else { a.parse().ok()? };
    let hi = if b.is_empty() { 65535 } else { b.parse().ok()? };
    (lo <= hi).then_some(Ports { lo, hi })
}

/// The prefixes covering every address outside `c`.
fn complement_cidr(c: Cidr) -> Vec<Cidr> {
    let (lo, hi) = c.bounds();
    let mut out = Vec::new();
    if lo > 0 {
        out.extend(range_to_nets(0, lo - 1).into_iter().map(Cidr));
    }
    if hi < u32::MAX {
        out.extend(range_to_nets(hi + 1, u32::MAX).into_iter().map(Cidr));
    }
    out
}

fn complement_ports(p: &[Ports]) -> Vec<Ports> {
    let mut sorted = p.to_vec();
    sorted.sort();
    let mut out = Vec::new();
    let mut next: u32 = 0;
    for r in sorted {
        if u32::from(r.lo) > next {
            out.push(Ports {
                lo: next as u16,
                hi: r.lo - 1,
            });
        }
        next = next.max(u32::from(r.hi) + 1);
    }
    if next <= 65535 {
        out.push(Ports {
            lo: next as u16,
            hi: 65535,
        });
    }
    out
}

/// Most alternatives one rule may expand into before it is reported instead.
const MAX_ALTERNATIVES: usize = 512;

struct LineCtx<'a> {
    file: &'a str,
    line: usize,
    interfaces: &'a [String],
    warnings: &'a mut Vec<Warning>,
}

impl LineCtx<'_> {
    fn err(&self, msg: impl Into<String>) -> InputError {
        InputError::new(self.file, format!("line {}", self.line), msg)
    }
    fn warn(&mut self, msg: impl Into<String>) {
        self.warnings
            .push(Warning::new(format!("{}:{}", self.file, self.line), msg));
    }
    /// Interfaces named by `-i`/`-o` VALUE, negated or not; None when not representable.
    fn interfaces_for(&mut self, opt: &str, v: &str, neg: bool) -> Option<Vec<Option<String>>> {
        let wildcard = v.strip_suffix('+');
        if !neg && wildcard.is_none() {
            return Some(vec![Some(v.to_string())]);
        }
        if self.interfaces.is_empty() {
            self.warn(format!(
                "`{}{opt} {v}` needs the device's interface list (ip-addr.json is missing): imported without this match, so the rule matches more than it does",
                if neg { "! " } else { "" }
            ));
            return None;
        }
        let hit = |name: &str| match wildcard {
            Some(prefix) => name.starts_with(prefix),
            None => name == v,
        };
        Some(
            self.interfaces
                .iter()
                .filter(|n| hit(n) != neg)
                .map(|n| Some(n.clone()))
                .collect(),
        )
    }
}

/// The addresses of `-s`/`-d` (a comma list, or the complement of one negated CIDR).
fn addresses(
    cx: &mut LineCtx,
    opt: &str,
    v: &str,
    neg: bool,
    skip: &mut bool,
) -> Result<Vec<Option<Cidr>>, InputError> {
    let mut list = Vec::new();
    for part in v.split(',') {
        let c: Cidr = part
            .parse()
            .map_err(|e: String| cx.err(format!("`{opt}`: {e}")))?;
        list.push(c);
    }
    Ok(if neg {
        if list.len() > 1 {
            cx.warn(format!(
                "`! {opt} {v}` (a negated list) is not modelled: the rule is not imported"
            ));
            *skip = true;
            vec![None]
        } else {
            complement_cidr(list[0]).into_iter().map(Some).collect()
        }
    } else {
        list.into_iter().map(Some).collect()
    })
}

/// Reads SNAT/DNAT's address from the target's options; warns about the options and
/// matches that are imported without their meaning.
fn finish_target(
    cx: &mut LineCtx,
    target: &mut Target,
    mut target_opts: BTreeMap<String, String>,
    unmodelled: &[String],
    skip: bool,
) -> Result<(), InputError> {
    match target {
        Target::Snat(to) => {
            *to = target_opts.remove("--to-source").unwrap_or_default();
            if to.is_empty() {
                return Err(cx.err("SNAT needs --to-source"));
            }
        }
        Target::Dnat(to) => {
            *to = target_opts.remove("--to-destination").unwrap_or_default();
            if to.is_empty() {
                return Err(cx.err("DNAT needs --to-destination"));
            }
        }
        _ => {}
    }
    target_opts.remove("--reject-with");
    target_opts.retain(|k, _| !k.starts_with("--log-") && !k.starts_with("--nflog-"));
    if !target_opts.is_empty() && !matches!(target, Target::Jump(_)) {
        let list: Vec<String> = target_opts
            .iter()
            .map(|(k, v)| format!("{k} {v}").trim().to_string())
            .collect();
        cx.warn(format!(
            "target option(s) `{}` not modelled: imported without them",
            list.join(" ")
        ));
    }
    if !unmodelled.is_empty() && !skip {
        cx.warn(format!(
            "match `{}` is not modelled: imported without it, so the rule matches more than it does",
            unmodelled.join(" ")
        ));
    }
    Ok(())
}

/// Every combination of the rule's alternatives as one simple rule; none when there are
/// more than [`MAX_ALTERNATIVES`] (a warning, and the rule is skipped).
fn expand(
    cx: &mut LineCtx,
    [srcs, dsts]: [&[Option<Cidr>]; 2],
    protos: &[Protocol],
    [sports, dports]: [&[Ports]; 2],
    [ins, outs]: [&[Option<String>]; 2],
    skip: &mut bool,
) -> Result<Vec<Simple>, InputError> {
    let mut alts = Vec::new();
    let count = srcs.len()
        * dsts.len()
        * protos.len()
        * sports.len()
        * dports.len()
        * ins.len()
        * outs.len();
    if count > MAX_ALTERNATIVES {
        cx.warn(format!(
            "the rule expands into {count} modelled rules (negations and port lists), more than {MAX_ALTERNATIVES}: not imported"
        ));
        *skip = true;
    } else {
        for s in srcs {
            for d in dsts {
                for &p in protos {
                    for &sp in sports {
                        for &dp in dports {
                            for ii in ins {
                                for oo in outs {
                                    let ported = !sp.is_any() || !dp.is_any();
                                    let p = if ported && p == Protocol::All {
                                        // `--dport` needs `-p tcp|udp`; iptables refuses otherwise.
                                        return Err(cx.err("a port match needs -p tcp or -p udp"));
                                    } else {
                                        p
                                    };
                                    alts.push(Simple {
                                        src: *s,
                                        dst: *d,
                                        proto: p,
                                        sports: sp,
                                        dports: dp,
                                        in_if: ii.clone(),
                                        out_if: oo.clone(),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(alts)
}

/// Builds one rule's alternatives from its options (everything after `-A CHAIN`).
fn parse_rule(cx: &mut LineCtx, chain_text: &str, args: &[String]) -> Result<RawRule, InputError> {
    let mut srcs: Vec<Option<Cidr>> = vec![None];
    let mut dsts: Vec<Option<Cidr>> = vec![None];
    let mut protos: Vec<Protocol> = vec![Protocol::All];
    let mut sports: Vec<Ports> = vec![Ports::ANY];
    let mut dports: Vec<Ports> = vec![Ports::ANY];
    let mut ins: Vec<Option<String>> = vec![None];
    let mut outs: Vec<Option<String>> = vec![None];
    let mut states = None;
    let mut target = Target::None;
    let mut target_opts: BTreeMap<String, String> = BTreeMap::new();
    let mut unmodelled: Vec<String> = Vec::new();
    let mut skip = false;
    let mut neg = false;
    let mut i = 0;
    while i < args.len() {
        let opt = args[i].as_str();
        let arg = |k: usize| -> Option<&str> { args.get(i + k).map(String::as_str) };
        if opt == "!" {
            neg = true;
            i += 1;
            continue;
        }
        let need = |cx: &LineCtx| -> Result<String, InputError> {
            arg(1)
                .map(str::to_string)
                .ok_or_else(|| cx.err(format!("`{opt}` needs a value")))
        };
        // A `!` may also follow the option (old iptables-save: `-s ! 10.0.0.0/8`).
        let mut used = 2;
        match opt {
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                let set = addresses(cx, opt, &need(cx)?, neg, &mut skip)?;
                if opt.starts_with("-s") || opt.starts_with("--s") {
                    srcs = set;
                } else {
                    dsts = set;
                }
            }
            "-p" | "--protocol" => {
                let v = need(cx)?;
                match parse_protocol(&v) {
                    Some(p) if !neg => protos = vec![p],
                    Some(Protocol::All) => {
                        cx.warn("`! -p all` matches nothing: the rule is not imported");
                        skip = true;
                    }
                    Some(p) => {
                        protos = Protocol::CONCRETE
                            .iter()
                            .copied()
                            .filter(|&q| q != p)
                            .collect()
                    }
                    None => {
                        cx.warn(format!(
                            "protocol `{v}` is not modelled (vpntrace traces tcp, udp, icmp and gre): the rule is not imported"
                        ));
                        skip = true;
                    }
                }
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let v = need(cx)?;
                if let Some(set) = cx.interfaces_for(opt, &v, neg) {
                    if set.is_empty() {
                        cx.warn(format!("`{opt} {v}` matches none of the device's interfaces: the rule is not imported"));
                        skip = true;
                    }
                    if opt.starts_with("-i") || opt.starts_with("--in") {
                        ins = set;
                    } else {
                        outs = set;
                    }
                }
            }
            "-m" | "--match" => {
                let v = need(cx)?;
                if !matches!(
                    v.as_str(),
                    "tcp" | "udp" | "icmp" | "multiport" | "conntrack" | "state" | "comment"
                ) {
                    // The module's own options follow; they are reported one by one.
                    unmodelled.push(format!("-m {v}"));
                }
            }
            "--sport"
            | "--source-port"
            | "--dport"
            | "--destination-port"
            | "--sports"
            | "--source-ports"
            | "--dports"
            | "--destination-ports" => {
                let v = need(cx)?;
                let mut list = Vec::new();
                for part in v.split(',') {
                    list.push(parse_port_range(part).ok_or_else(|| {
                        cx.err(format!("`{opt}`: expected a port or range such as 22 or 1024:65535, got {part:?}"))
                    })?);
                }
                if neg {
                    list = complement_ports(&list);
                }
                if opt.contains("sport") || opt.contains("source-port") {
                    sports = list;
                } else {
                    dports = list;
                }
            }
            "--ctstate" | "--state" => {
                let v = need(cx)?;
                states = Some((
                    v.split(',')
                        .map(|s| s.trim().to_ascii_uppercase())
                        .collect(),
                    neg,
                ));
            }
            "--comment" => {}
            "-j" | "--jump" | "-g" | "--goto" => {
                let v = need(cx)?;
                target = match v.as_str() {
                    "ACCEPT" => Target::Accept,
                    "DROP" => Target::Drop,
                    "REJECT" => Target::Reject,
                    "RETURN" => Target::Return,
                    "LOG" | "NFLOG" => Target::Log,
                    "MASQUERADE" => Target::Masquerade,
                    "SNAT" => Target::Snat(String::new()),
                    "DNAT" => Target::Dnat(String::new()),
                    _ if opt.starts_with("-g") || opt == "--goto" => Target::Goto(v.clone()),
                    _ => Target::Jump(v.clone()),
                };
                // Everything after the target is the target's options.
                let mut k = i + 2;
                while k < args.len() {
                    let o = args[k].clone();
                    let val = args.get(k + 1).filter(|x| !x.starts_with("--")).cloned();
                    k += if val.is_some() { 2 } else { 1 };
                    target_opts.insert(o, val.unwrap_or_default());
                }
                used = k - i;
            }
            "-c" | "--set-counters" => used = 3,
            o if o.starts_with('-') => {
                // An option of a module vpntrace does not model: keep its values with it.
                let mut k = i + 1;
                let mut text = if neg { format!("! {o}") } else { o.to_string() };
                while k < args.len() && !args[k].starts_with('-') && args[k] != "!" {
                    text.push(' ');
                    text.push_str(&args[k]);
                    k += 1;
                }
                unmodelled.push(text);
                used = k - i;
            }
            other => {
                return Err(cx.err(format!(
                    "unexpected word `{other}` (expected an option such as -s, -p, -m or -j)"
                )))
            }
        }
        neg = false;
        i += used;
    }
    if neg {
        return Err(cx.err("`!` at the end of the rule negates nothing"));
    }
    finish_target(cx, &mut target, target_opts, &unmodelled, skip)?;
    let alts = expand(
        cx,
        [&srcs, &dsts],
        &protos,
        [&sports, &dports],
        [&ins, &outs],
        &mut skip,
    )?;
    Ok(RawRule {
        line: cx.line,
        text: chain_text.to_string(),
        alts,
        states,
        target,
        skip,
    })
}

/// Parses the tables of an `iptables-save` listing. `file` names the file in warnings and
/// errors; `origin_name` is what each rule's `origin` starts with; `interfaces` are the
/// device's interface names (for `! -i` and `eth+`), empty when unknown.
pub fn parse(
    file: &str,
    origin_name: &str,
    text: &str,
    interfaces: &[String],
) -> Result<Parsed, InputError> {
    let mut warnings = Vec::new();
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let mut l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        // `iptables-save -c` puts counters first: `[12:345] -A ...`.
        if l.starts_with('[') {
            if let Some(end) = l.find(']') {
                l = l[end + 1..].trim_start();
            }
        }
        let err = |m: String| InputError::new(file, format!("line {line}"), m);
        if let Some(t) = l.strip_prefix('*') {
            let name = t.trim().to_string();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(format!("expected a table name after `*`, got {l:?}")));
            }
            tables.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if l == "COMMIT" {
            if current.take().is_none() {
                return Err(err("COMMIT outside a table".into()));
            }
            continue;
        }
        let Some(tname) = current.clone() else {
            return Err(err(format!(
                "expected `*TABLE` before {l:?} (is this iptables-save output?)"
            )));
        };
        let table = tables.get_mut(&tname).expect("table entered above");
        if let Some(decl) = l.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let (Some(name), Some(policy)) = (parts.next(), parts.next()) else {
                return Err(err(format!(
                    "expected `:CHAIN POLICY [packets:bytes]`, got {l:?}"
                )));
            };
            if !matches!(policy, "ACCEPT" | "DROP" | "-") {
                return Err(err(format!(
                    "chain `{name}`: expected policy ACCEPT, DROP or -, got `{policy}`"
                )));
            }
            table
                .chains
                .insert(name.to_string(), (policy.to_string(), line));
            continue;
        }
        let w = words(l).map_err(|e| err(e.to_string()))?;
        if w.first().map(String::as_str) != Some("-A")
            && w.first().map(String::as_str) != Some("--append")
        {
            return Err(err(format!(
                "expected `:CHAIN`, `-A CHAIN ...`, `COMMIT` or `*TABLE`, got {l:?}"
            )));
        }
        let Some(chain) = w.get(1) else {
            return Err(err("`-A` needs a chain name".into()));
        };
        if !table.chains.contains_key(chain) {
            return Err(err(format!(
                "chain `{chain}` is not declared in table {tname}"
            )));
        }
        let text_after = l
            .split_once(chain.as_str())
            .map(|(_, rest)| format!("{chain}{rest}"))
            .unwrap_or_else(|| l.to_string());
        let mut cx = LineCtx {
            file,
            line,
            interfaces,
            warnings: &mut warnings,
        };
        let rule = parse_rule(&mut cx, &text_after, &w[2..])?;
        table.rules.push(RawRule {
            text: format!("{chain}\u{0}{}", rule.text),
            ..rule
        });
    }
    if let Some(t) = current {
        return Err(InputError::new(
            file,
            "end of file",
            format!("table {t} has no COMMIT (the listing is cut short)"),
        ));
    }
    let mut out = Parsed::default();
    for (name, table) in &tables {
        match name.as_str() {
            "filter" => out.filter = Some(filter(file, origin_name, table, &mut warnings)),
            "nat" => out.nat = nat(file, origin_name, table, &mut warnings),
            other => {
                if let Some(first) = table.rules.first() {
                    warnings.push(Warning::new(
                        format!("{file}:{}", first.line),
                        format!(
                            "table {other} ({} rule(s)) is not modelled: its rules are not imported",
                            table.rules.len()
                        ),
                    ));
                }
            }
        }
    }
    out.warnings = warnings;
    Ok(out)
}

/// A rule of a built-in chain after user chains are inlined.
struct Flat {
    alt: Simple,
    target: Target,
    line: usize,
    id: String,
}

fn chain_of(r: &RawRule) -> &str {
    r.text.split('\u{0}').next().unwrap_or("")
}
fn rule_text(r: &RawRule) -> &str {
    r.text.split('\u{0}').nth(1).unwrap_or("")
}

/// The rules of `chain`, each alternative ANDed with `under`, user chains inlined.
fn inline(
    file: &str,
    table: &Table,
    chain: &str,
    under: &[Simple],
    stack: &mut Vec<String>,
    warnings: &mut Vec<Warning>,
    out: &mut Vec<Flat>,
) {
    stack.push(chain.to_string());
    for r in table.rules.iter().filter(|r| chain_of(r) == chain) {
        if r.skip {
            continue;
        }
        let here = format!("{file}:{}", r.line);
        match &r.target {
            Target::Return => {
                if r.alts.iter().any(Simple::is_any) && r.states.is_none() {
                    break;
                }
                if stack.len() > 1 {
                    warnings.push(Warning::new(
                        here,
                        "a conditional RETURN in a user chain is not modelled: the rules after it are imported as if it never matched",
                    ));
                    continue;
                }
            }
            Target::Jump(to) | Target::Goto(to) if table.chains.contains_key(to) => {
                if matches!(r.target, Target::Goto(_)) {
                    warnings.push(Warning::new(
                        here.clone(),
                        format!("`-g {to}` (goto) is imported as a jump: a RETURN in {to} continues here instead of in the caller's caller"),
                    ));
                }
                if stack.iter().any(|s| s == to) {
                    warnings.push(Warning::new(
                        here,
                        format!("jump to `{to}` loops: not imported"),
                    ));
                    continue;
                }
                if r.states.is_some() {
                    warnings.push(Warning::new(
                        here.clone(),
                        "a state match on a jump is not modelled: imported without it",
                    ));
                }
                let mut sub = Vec::new();
                for a in &r.alts {
                    for u in under {
                        if let Some(x) = a.and(u) {
                            sub.push(x);
                        }
                    }
                }
                inline(file, table, to, &sub, stack, warnings, out);
                continue;
            }
            _ => {}
        }
        for a in &r.alts {
            for u in under {
                if let Some(x) = a.and(u) {
                    out.push(Flat {
                        alt: x,
                        target: r.target.clone(),
                        line: r.line,
                        id: rule_text(r).to_string(),
                    });
                }
            }
        }
    }
    stack.pop();
}

fn states_of(table: &Table, line: usize) -> Option<&(BTreeSet<String>, bool)> {
    table.rules.iter().find(|r| r.line == line)?.states.as_ref()
}

fn is_established_accept(states: &(BTreeSet<String>, bool)) -> bool {
    let (s, neg) = states;
    !neg && s.contains("ESTABLISHED") && s.iter().all(|x| x == "ESTABLISHED" || x == "RELATED")
}

fn filter(file: &str, origin: &str, table: &Table, warnings: &mut Vec<Warning>) -> Filter {
    let mut f = Filter {
        stateful: false,
        origin: None,
        ..Filter::default()
    };
    let mut stateful_in: Vec<(&str, usize)> = Vec::new();
    let mut stateless_chains = Vec::new();
    for name in ["INPUT", "FORWARD", "OUTPUT"] {
        let Some((policy, decl_line)) = table.chains.get(name) else {
            continue;
        };
        let default = if policy == "DROP" {
            Action::Drop
        } else {
            Action::Accept
        };
        let mut flat = Vec::new();
        inline(
            file,
            table,
            name,
            &[Simple::any()],
            &mut Vec::new(),
            warnings,
            &mut flat,
        );
        let mut rules = Vec::new();
        let mut found_established = false;
        for fl in flat {
            let here = format!("{file}:{}", fl.line);
            if let Some(states) = states_of(table, fl.line) {
                if is_established_accept(states) && fl.target == Target::Accept {
                    if !fl.alt.is_any() {
                        warnings.push(Warning::new(here.clone(), "an ESTABLISHED accept with further matches is imported as the device being stateful for every flow"));
                    }
                    if !rules.is_empty() && !found_established {
                        warnings.push(Warning::new(here.clone(), "rules before this ESTABLISHED accept also judge replies; vpntrace accepts replies before any rule"));
                    }
                    if !found_established {
                        stateful_in.push((name, fl.line));
                    }
                    found_established = true;
                    continue;
                }
                let (s, neg) = states;
                let only_new = !neg && s.iter().all(|x| x == "NEW");
                if !only_new {
                    warnings.push(Warning::new(
                        here,
                        format!(
                            "state match `{}{}` is not modelled: the rule is not imported",
                            if *neg { "! " } else { "" },
                            s.iter().cloned().collect::<Vec<_>>().join(",")
                        ),
                    ));
                    continue;
                }
                // NEW: the first packet of a flow, which is what a rule judges in vpntrace.
            }
            let action = match &fl.target {
                Target::Accept => Action::Accept,
                Target::Drop | Target::Reject => Action::Drop,
                Target::Return => default,
                Target::Log | Target::None => continue,
                Target::Jump(t) | Target::Goto(t) => {
                    warnings.push(Warning::new(here, format!("target `{t}` is not modelled in the filter table: the rule is not imported")));
                    continue;
                }
                Target::Masquerade | Target::Snat(_) | Target::Dnat(_) => {
                    warnings.push(Warning::new(
                        here,
                        "a NAT target in the filter table is not valid: the rule is not imported",
                    ));
                    continue;
                }
            };
            rules.push(FilterRule {
                id: Some(fl.id),
                action,
                source: fl.alt.src,
                destination: fl.alt.dst,
                protocol: fl.alt.proto,
                source_ports: fl.alt.sports,
                destination_ports: fl.alt.dports,
                in_interface: fl.alt.in_if,
                out_interface: fl.alt.out_if,
                origin: Some(format!("{origin}:{}", fl.line)),
            });
        }
        if !found_established {
            stateless_chains.push(name);
        }
        let chain = Chain {
            default,
            rules,
            origin: Some(format!("{origin}:{decl_line}")),
        };
        match name {
            "INPUT" => f.input = Some(chain),
            "FORWARD" => f.forward = Some(chain),
            _ => f.output = Some(chain),
        }
    }
    if let Some((chain, line)) = stateful_in
        .iter()
        .find(|(c, _)| *c == "FORWARD")
        .or(stateful_in.first())
    {
        f.stateful = true;
        f.origin = Some(format!("{origin}:{line}"));
        let without: Vec<&str> = stateless_chains
            .into_iter()
            .filter(|c| {
                table.rules.iter().any(|r| chain_of(r) == *c)
                    || table.chains.get(*c).is_some_and(|p| p.0 == "DROP")
            })
            .collect();
        if !without.is_empty() {
            warnings.push(Warning::new(
                format!("{file}:{line}"),
                format!("replies are accepted by state in {chain} but not in {}; vpntrace has one stateful setting per device: imported as stateful", without.join(", ")),
            ));
        }
    }
    f
}

fn nat(file: &str, origin: &str, table: &Table, warnings: &mut Vec<Warning>) -> Vec<NatRule> {
    let mut out = Vec::new();
    for name in ["PREROUTING", "POSTROUTING", "OUTPUT", "INPUT"] {
        if !table.chains.contains_key(name) {
            continue;
        }
        let mut flat = Vec::new();
        inline(
            file,
            table,
            name,
            &[Simple::any()],
            &mut Vec::new(),
            warnings,
            &mut flat,
        );
        for fl in flat {
            let here = format!("{file}:{}", fl.line);
            if name == "OUTPUT" || name == "INPUT" {
                if !matches!(
                    fl.target,
                    Target::Accept | Target::Return | Target::Log | Target::None
                ) {
                    warnings.push(Warning::new(here, format!("NAT in the nat table's {name} chain (locally sent or received packets) is not modelled: not imported")));
                }
                continue;
            }
            if states_of(table, fl.line).is_some() {
                warnings.push(Warning::new(here.clone(), "a state match in the nat table is not modelled (only a flow's first packet is translated anyway): imported without it"));
            }
            if !fl.alt.sports.is_any() {
                warnings.push(Warning::new(
                    here.clone(),
                    "a source-port match on a NAT rule is not modelled: imported without it",
                ));
            }
            let pre = name == "PREROUTING";
            let (action, to, to_port) = match (&fl.target, pre) {
                (Target::Masquerade, false) => {
                    (NatAction::SourceNat, Some("interface".to_string()), None)
                }
                (Target::Snat(to), false) => match nat_to(to, &here, warnings) {
                    Some((a, _)) => (NatAction::SourceNat, Some(a), None),
                    None => continue,
                },
                (Target::Dnat(to), true) => match nat_to(to, &here, warnings) {
                    Some((a, p)) => (NatAction::DestinationNat, Some(a), p),
                    None => continue,
                },
                (Target::Accept | Target::Return, false) => (NatAction::NoNat, None, None),
                (Target::Accept | Target::Return, true) if fl.alt.in_if.is_some() => {
                    (NatAction::NoNat, None, None)
                }
                (Target::Accept | Target::Return, true) => {
                    warnings.push(Warning::new(here, "a no-DNAT rule without `-i` is not modelled (vpntrace reads a no-NAT rule without an incoming interface as a source-NAT exemption): not imported"));
                    continue;
                }
                (Target::Log | Target::None, _) => continue,
                (t, _) => {
                    warnings.push(Warning::new(
                        here,
                        format!("target {t:?} in nat {name} is not modelled: not imported"),
                    ));
                    continue;
                }
            };
            out.push(NatRule {
                id: Some(fl.id),
                action,
                source: fl.alt.src,
                destination: fl.alt.dst,
                protocol: fl.alt.proto,
                destination_ports: fl.alt.dports,
                in_interface: fl.alt.in_if,
                out_interface: fl.alt.out_if,
                to,
                to_port,
                origin: Some(format!("{origin}:{}", fl.line)),
            });
        }
    }
    out
}

/// `--to-source`/`--to-destination` value: `A`, `A:PORT`, `A-B[:P-Q]` (a range: first
/// address, with a warning).
fn nat_to(v: &str, here: &str, warnings: &mut Vec<Warning>) -> Option<(String, Option<u16>)> {
    let (addr, port) = match v.split_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let first = match addr.split_once('-') {
        Some((a, _)) => {
            warnings.push(Warning::new(
                here,
                format!("address range `{addr}` is imported as its first address {a}"),
            ));
            a
        }
        None => addr,
    };
    if first.parse::<std::net::Ipv4Addr>().is_err() {
        warnings.push(Warning::new(
            here,
            format!("NAT address `{addr}` is not an IPv4 address: not imported"),
        ));
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => {
                warnings.push(Warning::new(
                    here,
                    format!("NAT port range `{p}` is not modelled: imported without a port change"),
                ));
                None
            }
        },
    };
    Some((first.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(t: &str) -> Parsed {
        parse("t.txt", "t.txt", t, &["eth0".into(), "eth1".into()]).unwrap()
    }

    #[test]
    fn user_chain_inlined_with_return_and_policy() {
        let p = parse_ok(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:VPN - [0:0]\n\
             -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
             -A FORWARD -s 10.0.0.0/8 -j VPN\n\
             -A VPN -d 192.168.1.0/24 -p tcp -m multiport --dports 22,443 -j ACCEPT\n\
             -A VPN -j RETURN\n-A VPN -j DROP\nCOMMIT\n",
        );
        let f = p.filter.unwrap();
        assert!(f.stateful);
        let fw = f.forward.unwrap();
        assert_eq!(fw.default, Action::Drop);
        assert_eq!(fw.rules.len(), 2, "{:?}", fw.rules);
        assert_eq!(fw.rules[0].source, Some("10.0.0.0/8".parse().unwrap()));
        assert_eq!(fw.rules[1].destination_ports, Ports::single(443));
        assert_eq!(fw.rules[0].origin.as_deref(), Some("t.txt:8"));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn negated_source_is_its_complement() {
        let p = parse_ok(
            "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD ! -s 128.0.0.0/1 -j DROP\nCOMMIT\n",
        );
        let r = p.filter.unwrap().forward.unwrap().rules;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].source, Some("0.0.0.0/1".parse().unwrap()));
        let p = parse_ok("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD ! -i eth0 -j DROP\nCOMMIT\n");
        let r = p.filter.unwrap().forward.unwrap().rules;
        assert_eq!(r[0].in_interface.as_deref(), Some("eth1"));
    }

    #[test]
    fn masquerade_after_exemption() {
        let p = parse_ok(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
             -A POSTROUTING -s 192.168.0.0/24 -d 192.168.1.0/24 -j RETURN\n\
             -A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n",
        );
        assert_eq!(p.nat.len(), 2);
        assert_eq!(p.nat[0].action, NatAction::NoNat);
        assert_eq!(p.nat[1].action, NatAction::SourceNat);
        assert_eq!(p.nat[1].to.as_deref(), Some("interface"));
        assert_eq!(p.nat[1].origin.as_deref(), Some("t.txt:5"));
    }

    #[test]
    fn unmodelled_things_are_located_warnings_and_bad_syntax_errors() {
        let p = parse_ok("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m set --match-set x src -j DROP\n-A FORWARD -j TCPMSS --clamp-mss-to-pmtu\nCOMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-mark 1\nCOMMIT\n");
        let locs: Vec<&str> = p.warnings.iter().map(|w| w.location.as_str()).collect();
        assert!(
            locs.contains(&"t.txt:3") && locs.contains(&"t.txt:4") && locs.contains(&"t.txt:8"),
            "{locs:?}"
        );
        let e = parse(
            "t.txt",
            "t.txt",
            "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.0.300 -j DROP\nCOMMIT\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.location, "line 3");
        let e = parse("t.txt", "t.txt", "*filter\n:FORWARD ACCEPT [0:0]\n", &[]).unwrap_err();
        assert!(e.message.contains("COMMIT"));
    }
}
