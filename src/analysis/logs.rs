//! strongSwan (charon) log classification: which FAQ 1/2 cause a negotiation failed on.
//!
//! Input is one or more log files as text: charon file logs
//! (`Nov 26 19:04:42 10[IKE] <vpn|1> …`), syslog or journald lines
//! (`… host charon[1234]: 10[IKE] …`, `… charon-systemd[123]: …`), bare lines such as the
//! ones quoted in the Alibaba Cloud FAQ, and `ipsec statusall` / `swanctl --list-sas`
//! output mixed in. Lines the classifier does not know are skipped.
//!
//! The pipeline is one pass per file:
//!
//! 1. [`split_line`] strips the timestamp/host/thread prefix and the `<conn|N>` tag;
//! 2. [`recognize`] turns a known message into an [`Ev`];
//! 3. events are grouped per IKE_SA (the `N` of the tag; untagged lines are cut into
//!    negotiations at each initiation) and an [`Sa`] state machine turns them into
//!    causes, each with the lines that show it;
//! 4. equal causes of one file are merged and become [`Finding`]s, in order of first line;
//! 5. the files' errors are paired into negotiations ([`pair_ends`]: the peers'
//!    addresses, IKEv1 message IDs, the lines' timestamps, the stage) and each failed
//!    negotiation is decided once, citing the other end's lines. IKE SPIs would be the
//!    surest key, but no line of the lab's logs (charon at `ike=2`, pluto at its default
//!    level) nor of the FAQ's quotes carries them, so they are not used. A daemon restart
//!    starts the SA numbering again.
//!
//! Every cause reads what the log of *one* end shows: the responder logs the offered and
//! configured proposals, the initiator only its own offer and the peer's refusal, so
//! initiator-side findings say what they infer and from what. See [`crate::findings::code`] for the list
//! of causes.

use std::collections::{BTreeMap, BTreeSet};

mod pluto;

use serde::Serialize;

use crate::findings::code::Code;
use crate::findings::finding::{Cite, Finding};
use crate::net::addr::{AddrSet, Cidr};

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/// The result of classifying one or more log files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogReport {
    /// Per file (in the order given), then by first line.
    pub findings: Vec<Finding>,
    pub lines_read: usize,
    /// Lines that show a finding or an established SA.
    pub lines_matched: usize,
    pub files: Vec<FileSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub lines_read: usize,
    pub lines_matched: usize,
    /// SAs the log shows coming up (not a fault; context for the findings).
    pub established: Vec<Established>,
}

/// An IKE_SA or CHILD_SA that the log shows established.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Established {
    pub line: usize,
    /// `IKE_SA vpn[1]`, `CHILD_SA net{1}`.
    pub sa: String,
    /// `198.51.100.2[198.51.100.2]...198.51.100.1[198.51.100.1]` for an IKE_SA, the
    /// traffic selectors `172.30.96.0/19 === 10.0.0.0/8` for a CHILD_SA.
    pub between: String,
}

/// Classifies the files (display name, content) as the logs of the ends of one tunnel:
/// each file is read on its own, then the failures both ends show are decided once
/// ([`pair_ends`]). Findings are ordered by file, then by first line.
pub fn classify(files: &[(String, String)]) -> LogReport {
    let mut report = LogReport {
        findings: Vec::new(),
        lines_read: 0,
        lines_matched: 0,
        files: Vec::new(),
    };
    let mut per_file = Vec::new();
    let mut facts = Vec::new();
    for (name, content) in files {
        let (findings, summary, fact) = classify_file(name, content);
        let findings = fold_repeats(findings);
        report.lines_read += summary.lines_read;
        report.lines_matched += summary.lines_matched;
        per_file.push(findings);
        report.files.push(summary);
        facts.push(fact);
    }
    // An end whose kernel could not install the negotiated SA (pluto: `netlink response
    // for Add SA …`) refuses or tears down the CHILD_SA for that reason, not for a
    // configuration difference: the other end's inferred phase-2 refusal is no finding.
    if let Some(k) = facts.iter().position(|f| f.kernel_failed) {
        for (i, f) in per_file.iter_mut().enumerate() {
            if i != k {
                f.retain(|(f, m)| !(m.weak && stage(f.code) == Some(2)));
            }
        }
    }
    report.findings = pair_ends(per_file, &facts);
    report
}

/// Repeated attempts of one connection failing the same way are one failure: within a
/// file, later errors with the same code and connection fold into the first; a peer
/// that stops answering after a dead peer / failed rekey is the same outage.
fn fold_repeats(findings: Vec<(Finding, Meta)>) -> Vec<(Finding, Meta)> {
    let mut out: Vec<(Finding, Meta)> = Vec::new();
    for (f, meta) in findings {
        let into = out.iter().position(|(g, _)| {
            f.is_error()
                && g.is_error()
                && g.connection == f.connection
                && (g.code == f.code
                    || (stage(g.code) == Some(3) && f.code == Code::PeerNotResponding))
        });
        match into {
            Some(i) => {
                let g = &mut out[i];
                let lines: BTreeSet<usize> = g.0.lines.iter().chain(&f.lines).copied().collect();
                g.0.lines = lines.into_iter().collect();
                g.1.absorb(meta);
            }
            None => out.push((f, meta)),
        }
    }
    out
}

impl Meta {
    /// `other` describes more lines of the same finding.
    fn absorb(&mut self, other: Meta) {
        self.weak &= other.weak;
        self.span = match (self.span, other.span) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        };
        self.local = self.local.take().or(other.local);
        self.peer = self.peer.take().or(other.peer);
        self.msgids.extend(other.msgids);
    }
}

/// Which stage of the tunnel's life an error concerns: one failure shows in both ends'
/// logs as errors of the same stage.
fn stage(code: Code) -> Option<u8> {
    if PHASE1.contains(&code) || code == Code::NatTBlocked {
        Some(1)
    } else if PHASE2.contains(&code) {
        Some(2)
    } else if code == Code::DpdTimeout || code == Code::RekeyFailed {
        Some(3)
    } else {
        None
    }
}

/// Seconds two ends' timestamps may differ by and still pair (clock skew, and the time
/// a message takes to be answered and logged).
const PAIR_SLACK: u64 = 3;

/// What one file shows apart from its findings, for pairing the ends.
#[derive(Clone, Debug, Default)]
struct FileFacts {
    name: String,
    /// First and last timestamp of the file.
    range: Option<(u64, u64)>,
    times: Vec<Option<u64>>,
    /// Lines showing an IKE SA established.
    ike_up: Vec<usize>,
    /// Lines where this end could not send to the peer because its own host refused
    /// (`… Operation not permitted`: a local packet filter).
    send_refused: Vec<usize>,
    /// The kernel could not install a negotiated SA (pluto `netlink response for Add SA`).
    kernel_failed: bool,
}

impl FileFacts {
    fn time(&self, line: usize) -> Option<u64> {
        self.times.get(line.checked_sub(1)?).copied().flatten()
    }
}

/// Could errors `a` (of one file) and `b` (of another) be the two ends of one failed
/// negotiation? The addresses must mirror each other where both logs name them; an
/// IKEv1 message ID both logged settles it; otherwise the errors must concern the same
/// stage (or be one outage: a dead peer or failed rekey on one end, the other end's
/// unanswered attempts to reconnect) and, where the files' clocks cover a common period,
/// overlap in time.
fn pairable(a: &(Finding, Meta), b: &(Finding, Meta), clocks: bool) -> bool {
    let mirrored = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    if !mirrored(&a.1.local, &b.1.peer) || !mirrored(&a.1.peer, &b.1.local) {
        return false;
    }
    if !a.1.msgids.is_disjoint(&b.1.msgids) {
        return true;
    }
    let (sa, sb) = (stage(a.0.code), stage(b.0.code));
    let outage = |x: Option<u8>, y: Code| x == Some(3) && y == Code::PeerNotResponding;
    let same_stage = sa.is_some() && sa == sb;
    let one_outage = outage(sa, b.0.code) || outage(sb, a.0.code);
    match (a.1.span, b.1.span) {
        (Some(x), Some(y)) if clocks => {
            (same_stage || one_outage) && x.0 <= y.1 + PAIR_SLACK && y.0 <= x.1 + PAIR_SLACK
        }
        _ => same_stage,
    }
}

/// One failure, both ends: the errors of all files are paired into negotiations
/// ([`pairable`]: peer addresses, IKEv1 message IDs, time, stage), and each group of
/// errors that spans files is decided once. The end whose log compares what it received
/// with what it is configured for (not merely the peer's refusal or silence) decides the
/// cause; its findings stay, and the other ends' lines become citations of the one they
/// pair with. Without a deciding end, the first file with a specific cause (anything
/// but PEER_NOT_RESPONDING) decides. A dead peer that the silenced end's log does not
/// mention cites that end's established IKE SA ([`cite_silent_end`]).
fn pair_ends(per_file: Vec<Vec<(Finding, Meta)>>, facts: &[FileFacts]) -> Vec<Finding> {
    let nodes: Vec<(usize, usize)> = per_file
        .iter()
        .enumerate()
        .flat_map(|(i, fs)| {
            fs.iter()
                .enumerate()
                .filter(|(_, f)| f.0.is_error() && stage(f.0.code).is_some())
                .map(move |(j, _)| (i, j))
        })
        .collect();
    let clocks = |i: usize, k: usize| match (facts[i].range, facts[k].range) {
        (Some(a), Some(b)) => a.0 <= b.1 + PAIR_SLACK && b.0 <= a.1 + PAIR_SLACK,
        _ => false,
    };
    // Union-find over the errors; edges between pairable errors of different files.
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    fn root(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for x in 0..nodes.len() {
        for y in x + 1..nodes.len() {
            let ((i, j), (k, l)) = (nodes[x], nodes[y]);
            if i != k && pairable(&per_file[i][j], &per_file[k][l], clocks(i, k)) {
                edges.push((x, y));
                let (rx, ry) = (root(&mut parent, x), root(&mut parent, y));
                parent[rx] = ry;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for x in 0..nodes.len() {
        let r = root(&mut parent, x);
        groups.entry(r).or_default().push(x);
    }
    let mut keep: Vec<Vec<bool>> = per_file.iter().map(|f| vec![true; f.len()]).collect();
    // (file, finding) → cited (file, lines), and whether a cited error is the other end's
    // reconnection attempts after the outage.
    let mut cites: BTreeMap<(usize, usize), BTreeMap<usize, BTreeSet<usize>>> = BTreeMap::new();
    let mut revival: BTreeSet<(usize, usize)> = BTreeSet::new();
    for members in groups.values() {
        let files: BTreeSet<usize> = members.iter().map(|&x| nodes[x].0).collect();
        if files.len() < 2 {
            continue;
        }
        let of = |i: usize| -> Vec<usize> {
            members
                .iter()
                .copied()
                .filter(|&x| nodes[x].0 == i)
                .collect()
        };
        let strong = |i: usize| of(i).iter().any(|&x| !per_file[i][nodes[x].1].1.weak);
        let specific = |i: usize| {
            of(i)
                .iter()
                .any(|&x| per_file[i][nodes[x].1].0.code != Code::PeerNotResponding)
        };
        let first_file = *files.iter().next().unwrap_or(&0);
        let decider = files
            .iter()
            .copied()
            .find(|&i| strong(i))
            .or_else(|| files.iter().copied().find(|&i| specific(i)))
            .unwrap_or(first_file);
        let first = of(decider).first().copied().unwrap_or(members[0]);
        for &y in members.iter().filter(|&&y| nodes[y].0 != decider) {
            let (k, l) = nodes[y];
            keep[k][l] = false;
            // The decider's error it pairs with directly, else the decider's first.
            let target = edges
                .iter()
                .find_map(|&(a, b)| {
                    let other = if a == y {
                        b
                    } else if b == y {
                        a
                    } else {
                        return None;
                    };
                    (nodes[other].0 == decider).then_some(other)
                })
                .unwrap_or(first);
            let t = nodes[target];
            if stage(per_file[t.0][t.1].0.code) == Some(3)
                && per_file[k][l].0.code == Code::PeerNotResponding
            {
                revival.insert(t);
            }
            cites
                .entry(t)
                .or_default()
                .entry(k)
                .or_default()
                .extend(per_file[k][l].0.lines.iter().copied());
        }
    }
    let names: Vec<String> = facts.iter().map(|f| f.name.clone()).collect();
    let mut out_files: Vec<Vec<Finding>> = per_file
        .into_iter()
        .map(|f| f.into_iter().map(|x| x.0).collect())
        .collect();
    for ((i, j), by_file) in cites {
        let f = &mut out_files[i][j];
        for (k, lines) in by_file {
            f.cites.push(Cite {
                file: names[k].clone(),
                lines: lines.into_iter().collect(),
            });
        }
        if revival.contains(&(i, j)) {
            let files: Vec<&str> = f.cites.iter().map(|c| c.file.as_str()).collect();
            f.message.push_str(&format!(
                " The other end's log ({}) shows its own attempts to negotiate anew going unanswered in the same period: the same outage, seen from that end.",
                files.join(", ")
            ));
        }
    }
    for i in 0..out_files.len() {
        for j in 0..out_files[i].len() {
            if keep[i][j] {
                own_sends_refused(&mut out_files[i][j], &facts[i]);
            }
            if keep[i][j] && out_files[i][j].cites.is_empty() {
                cite_silent_end(&mut out_files, i, j, facts, &names);
            }
        }
    }
    out_files
        .into_iter()
        .zip(keep)
        .flat_map(|(fs, k)| fs.into_iter().zip(k).filter(|x| x.1).map(|x| x.0))
        .collect()
}

/// A peer that stopped answering (dead peer, failed rekey, no answer) while this end's
/// own sends failed (`error writing to socket: Operation not permitted`): the packets
/// never left this gateway, a packet filter on it drops them.
fn own_sends_refused(f: &mut Finding, facts: &FileFacts) {
    if !f.is_error() || !(stage(f.code) == Some(3) || f.code == Code::PeerNotResponding) {
        return;
    }
    let times: Vec<u64> = f.lines.iter().filter_map(|&l| facts.time(l)).collect();
    let (Some(&from), Some(&to)) = (times.iter().min(), times.iter().max()) else {
        return;
    };
    let refused: Vec<usize> = facts
        .send_refused
        .iter()
        .copied()
        .filter(|&l| facts.time(l).is_some_and(|t| t >= from && t <= to))
        .collect();
    if refused.is_empty() {
        return;
    }
    f.message.push_str(&format!(
        " Meanwhile this gateway's own sends failed ('error writing to socket: Operation not permitted', {} time{}): a packet filter on this gateway drops its outgoing IKE packets, so they never left it.",
        refused.len(),
        if refused.len() == 1 { "" } else { "s" }
    ));
    let lines: BTreeSet<usize> = f.lines.iter().chain(&refused).copied().collect();
    f.lines = lines.into_iter().collect();
}

/// A dead peer (or failed rekey) found in file `i` whose other end's log shows no error:
/// that end was silenced. Its last established IKE SA before the outage is cited (it
/// held the tunnel up and logged nothing about the unanswered requests, which never
/// reached it), with any sends its own host refused (a local packet filter).
fn cite_silent_end(
    out: &mut [Vec<Finding>],
    i: usize,
    j: usize,
    facts: &[FileFacts],
    names: &[String],
) {
    let f = &out[i][j];
    if !f.is_error() || stage(f.code) != Some(3) {
        return;
    }
    let Some(start) = f.lines.first().and_then(|&l| facts[i].time(l)) else {
        return;
    };
    for (k, fk) in facts.iter().enumerate() {
        if k == i || !out[k].iter().all(|g| !g.is_error()) {
            continue;
        }
        let Some(up) = fk
            .ike_up
            .iter()
            .copied()
            .rfind(|&l| fk.time(l).is_some_and(|t| t <= start))
        else {
            continue;
        };
        let refused: Vec<usize> = fk
            .send_refused
            .iter()
            .copied()
            .filter(|&l| l > up)
            .collect();
        let mut lines = vec![up];
        lines.extend(&refused);
        let note = if refused.is_empty() {
            String::new()
        } else {
            format!(
                " Its sends to the peer failed on its own host ('Operation not permitted', line{} {}): a packet filter on that gateway drops its IKE traffic.",
                if refused.len() == 1 { "" } else { "s" },
                refused.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
            )
        };
        let f = &mut out[i][j];
        f.message.push_str(&format!(
            " The other end's log ({}) shows its IKE SA established (line {up}) and nothing about the unanswered requests after it: they never reached it, so it logged no error.{note}",
            names[k]
        ));
        f.cites.push(Cite {
            file: names[k].clone(),
            lines,
        });
    }
}

// ---------------------------------------------------------------------------------------
// Line prefixes
// ---------------------------------------------------------------------------------------

const GROUPS: [&str; 18] = [
    "DMN", "MGR", "IKE", "CHD", "JOB", "CFG", "KNL", "NET", "ASN", "ENC", "TNC", "IMC", "IMV",
    "PTS", "TLS", "APP", "ESP", "LIB",
];

/// The `<conn|N>` tag charon puts before messages about one IKE_SA.
#[derive(Clone, Debug, PartialEq)]
struct Tag<'a> {
    name: Option<&'a str>,
    id: u32,
}

#[derive(Clone, Debug, PartialEq)]
struct SplitLine<'a> {
    group: Option<&'a str>,
    tag: Option<Tag<'a>>,
    /// The message, leading spaces kept (the config dump indents by nesting).
    body: &'a str,
}

/// Strips whatever precedes the message: timestamp, host, `charon[pid]:`, the
/// `NN[GRP]` thread/group marker and the `<conn|N>` tag.
fn split_line(raw: &str) -> SplitLine<'_> {
    let raw = raw.trim_end();
    let bytes = raw.as_bytes();
    let mut marker = None;
    for (i, _) in raw.match_indices('[') {
        if i + 5 <= raw.len()
            && bytes.get(i + 4) == Some(&b']')
            && raw.is_char_boundary(i + 1)
            && raw.is_char_boundary(i + 4)
            && GROUPS.contains(&&raw[i + 1..i + 4])
            && (i == 0 || bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b' ')
        {
            marker = Some(i);
            break;
        }
    }
    if marker.is_none() && !raw.contains("charon") {
        if let Some((tag, body)) = pluto::split_pluto(raw) {
            return SplitLine {
                group: Some("pluto"),
                tag,
                body,
            };
        }
    }
    let (group, rest) = match marker {
        Some(i) => {
            let rest = &raw[i + 5..];
            (
                Some(&raw[i + 1..i + 4]),
                rest.strip_prefix(' ').unwrap_or(rest),
            )
        }
        // `charon[1234]: msg`, `charon-systemd[123]: msg`: the message keeps its
        // indentation (the config dump); a bare line does not.
        None => match raw
            .find("charon")
            .and_then(|p| raw[p..].find(": ").map(|q| p + q + 2))
        {
            Some(start) => (None, &raw[start..]),
            None => (None, raw.trim_start()),
        },
    };
    if let Some(inner) = rest.strip_prefix('<') {
        if let Some(end) = inner.find('>') {
            let t = &inner[..end];
            let (name, id) = match t.rsplit_once('|') {
                Some((n, id)) => (Some(n), id),
                None => (None, t),
            };
            if let Ok(id) = id.parse::<u32>() {
                let after = &inner[end + 1..];
                return SplitLine {
                    group,
                    tag: Some(Tag { name, id }),
                    body: after.strip_prefix(' ').unwrap_or(after),
                };
            }
        }
    }
    SplitLine {
        group,
        tag: None,
        body: rest,
    }
}

// ---------------------------------------------------------------------------------------
// Loaded configuration (the `load-conn` dump charon logs at cfg level 2)
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq)]
struct LoadedConn {
    name: String,
    version: Option<u8>,
    aggressive: Option<bool>,
    local_addrs: Option<String>,
    remote_addrs: Option<String>,
    local_id: Option<String>,
    remote_id: Option<String>,
}

/// A line of the `load-conn` dump: indented `key = value` or `section:` without a tag.
fn is_dump(l: &SplitLine) -> bool {
    matches!(l.group, Some("CFG") | None)
        && l.tag.is_none()
        && l.body.starts_with(' ')
        && (l.body.contains(" = ") || l.body.ends_with(':'))
}

fn parse_dump<'a>(lines: impl Iterator<Item = &'a SplitLine<'a>>) -> Vec<LoadedConn> {
    #[derive(PartialEq)]
    enum Sect {
        Conn,
        Child,
        Local,
        Remote,
    }
    let mut conns: Vec<LoadedConn> = Vec::new();
    let mut sect = Sect::Conn;
    for l in lines.filter(|l| is_dump(l)) {
        let b = l.body;
        let indent = b.len() - b.trim_start().len();
        let t = b.trim();
        if indent == 1 {
            if let Some(name) = t.strip_prefix("conn ").and_then(|s| s.strip_suffix(':')) {
                conns.push(LoadedConn {
                    name: name.to_string(),
                    ..LoadedConn::default()
                });
                sect = Sect::Conn;
            }
            continue;
        }
        let Some(c) = conns.last_mut() else {
            continue;
        };
        if indent == 2 {
            if t.starts_with("child ") && t.ends_with(':') {
                sect = Sect::Child;
            } else if t == "local:" || t.starts_with("local-") && t.ends_with(':') {
                sect = Sect::Local;
            } else if t == "remote:" || t.starts_with("remote-") && t.ends_with(':') {
                sect = Sect::Remote;
            } else if let Some((k, v)) = t.split_once(" = ") {
                sect = Sect::Conn;
                match k {
                    "version" => c.version = v.parse().ok(),
                    "aggressive" => c.aggressive = Some(v == "1"),
                    "local_addrs" => c.local_addrs = Some(v.to_string()),
                    "remote_addrs" => c.remote_addrs = Some(v.to_string()),
                    _ => {}
                }
            }
        } else if let Some(id) = t.strip_prefix("id = ") {
            match sect {
                Sect::Local if c.local_id.is_none() => c.local_id = Some(id.to_string()),
                Sect::Remote if c.remote_id.is_none() => c.remote_id = Some(id.to_string()),
                _ => {}
            }
        }
    }
    conns
}

// ---------------------------------------------------------------------------------------
// Proposals
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
struct Proposal {
    proto: String,
    transforms: Vec<String>,
}

impl Proposal {
    fn values(&self, k: Kind) -> Vec<&str> {
        self.transforms
            .iter()
            .map(String::as_str)
            .filter(|t| kind_of(t) == k)
            .collect()
    }
    fn text(&self) -> String {
        format!("{}:{}", self.proto, self.transforms.join("/"))
    }
}

fn proposals_text(ps: &[Proposal]) -> String {
    ps.iter().map(Proposal::text).collect::<Vec<_>>().join(", ")
}

/// `IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048, IKE:…` → proposals, and
/// whether the list ends with a comma (continued on the next line, as in the FAQ).
fn parse_proposals(s: &str) -> Option<(Vec<Proposal>, bool)> {
    let t = s.trim();
    let continued = t.ends_with(',');
    let mut out = Vec::new();
    for part in t.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let (proto, rest) = p.split_once(':')?;
        if !matches!(proto, "IKE" | "ESP" | "AH") {
            return None;
        }
        let transforms: Vec<String> = rest
            .split('/')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect();
        if transforms.is_empty() || transforms.iter().any(|x| x.contains(' ')) {
            return None;
        }
        out.push(Proposal {
            proto: proto.to_string(),
            transforms,
        });
    }
    (!out.is_empty()).then_some((out, continued))
}

/// Transform types, as strongSwan names them in `no acceptable X found`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Encryption,
    Integrity,
    Prf,
    DhGroup,
    Esn,
}

const KINDS: [Kind; 5] = [
    Kind::Encryption,
    Kind::Integrity,
    Kind::Prf,
    Kind::DhGroup,
    Kind::Esn,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Encryption => "encryption",
            Kind::Integrity => "integrity",
            Kind::Prf => "PRF",
            Kind::DhGroup => "DH group",
            Kind::Esn => "extended sequence numbers",
        }
    }
    fn from_strongswan(s: &str) -> Option<Kind> {
        Some(match s {
            "ENCRYPTION_ALGORITHM" => Kind::Encryption,
            "INTEGRITY_ALGORITHM" => Kind::Integrity,
            "PSEUDO_RANDOM_FUNCTION" => Kind::Prf,
            "KEY_EXCHANGE_METHOD" | "DIFFIE_HELLMAN_GROUP" => Kind::DhGroup,
            "EXTENDED_SEQUENCE_NUMBERS" => Kind::Esn,
            _ => return None,
        })
    }
}

fn kind_of(t: &str) -> Kind {
    if t.starts_with("PRF_") {
        Kind::Prf
    } else if t == "NO_EXT_SEQ" || t == "EXT_SEQ" {
        Kind::Esn
    } else if t.starts_with("MODP_")
        || t.starts_with("ECP_")
        || t.starts_with("CURVE_")
        || t.starts_with("MLKEM")
        || t.starts_with("NTRU")
        || t.starts_with("NEWHOPE")
    {
        Kind::DhGroup
    } else if t.starts_with("HMAC_")
        || t.starts_with("AES_XCBC")
        || t.starts_with("AES_CMAC")
        || t.starts_with("CAMELLIA_XCBC")
        || t.starts_with("KMAC")
    {
        Kind::Integrity
    } else {
        Kind::Encryption
    }
}

/// The name the Alibaba Cloud console or API uses for a transform strongSwan logs
/// (`AES_CBC_128` → `aes`, `MODP_2048` → `group14`), from [`crate::net::algo`].
fn alias(t: &str) -> Option<String> {
    use crate::net::algo::{DhGroup, Encryption, Integrity};
    match kind_of(t) {
        Kind::Encryption => Encryption::parse(t)
            .ok()
            .and_then(|e| e.alibaba_name())
            .map(str::to_string),
        Kind::Integrity => Integrity::parse(t)
            .ok()
            .and_then(|i| i.alibaba_name())
            .map(str::to_string),
        Kind::DhGroup => DhGroup::parse(t).ok().and_then(|g| g.alibaba_name()),
        Kind::Prf | Kind::Esn => None,
    }
}

/// `MODP_1024 (group2)`; an empty DH list of an ESP proposal reads "no PFS".
fn show_values(vals: &[&str], kind: Kind, esp: bool) -> String {
    if vals.is_empty() {
        return if kind == Kind::DhGroup && esp {
            "no PFS".to_string()
        } else {
            "none".to_string()
        };
    }
    vals.iter()
        .map(|v| match alias(v) {
            Some(a) => format!("{v} (Alibaba Cloud: {a})"),
            None => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Transform types in which `r` and `c` share no value. For ESP the DH group "none"
/// (PFS off) is a value; `skip_dh` ignores the DH group (an IKEv2 CHILD_SA created with
/// IKE_AUTH carries no key exchange, whatever PFS says).
fn pair_diff(r: &Proposal, c: &Proposal, skip_dh: bool) -> Vec<Kind> {
    let esp = r.proto != "IKE";
    KINDS
        .into_iter()
        .filter(|&k| {
            if k == Kind::DhGroup && skip_dh {
                return false;
            }
            let rv = r.values(k);
            let cv = c.values(k);
            if rv.is_empty() && cv.is_empty() {
                return false;
            }
            if k == Kind::DhGroup && esp && (rv.is_empty() || cv.is_empty()) {
                return rv.is_empty() != cv.is_empty();
            }
            !rv.iter().any(|x| cv.contains(x))
        })
        .collect()
}

/// What differs between the offered and the accepted proposals: the transform types of
/// the closest pairs (fewest differing types), each with the values of its first pair.
struct ProposalDiff {
    kinds: Vec<(Kind, String, String)>,
    /// Some closest pair differs in the DH group only.
    dh_only: bool,
}

fn proposal_diff(received: &[Proposal], configured: &[Proposal], skip_dh: bool) -> ProposalDiff {
    let mut pairs = Vec::new();
    for r in received {
        for c in configured {
            pairs.push((r, c, pair_diff(r, c, skip_dh)));
        }
    }
    let min = pairs
        .iter()
        .map(|p| p.2.len())
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
    let mut kinds: Vec<(Kind, String, String)> = Vec::new();
    let mut dh_only = false;
    for (r, c, d) in pairs.iter().filter(|p| min > 0 && p.2.len() == min) {
        if d.as_slice() == [Kind::DhGroup] {
            dh_only = true;
        }
        for &k in d {
            if kinds.iter().all(|x| x.0 != k) {
                let esp = r.proto != "IKE";
                kinds.push((
                    k,
                    show_values(&r.values(k), k, esp),
                    show_values(&c.values(k), k, esp),
                ));
            }
        }
    }
    kinds.sort_by_key(|k| k.0);
    ProposalDiff { kinds, dh_only }
}

// ---------------------------------------------------------------------------------------
// Recognized messages
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Main,
    Aggressive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PropSource {
    Received,
    Configured,
    Selected,
    Bare,
}

/// One recognized log message.
#[derive(Clone, Debug, PartialEq)]
enum Ev {
    /// `initiating [Main Mode |Aggressive Mode ]IKE_SA vpn[1] to 198.51.100.1`
    Initiating {
        mode: Option<Mode>,
        peer: Option<String>,
    },
    /// `198.51.100.2 is initiating a[n] [Main Mode |Aggressive Mode ]IKE_SA`
    PeerInitiating {
        mode: Option<Mode>,
        peer: String,
    },
    /// `parsed|generating EXCHANGE request|response N [ payloads ]`
    Message {
        parsed: bool,
        exchange: String,
        request: bool,
        payloads: String,
    },
    /// `received packet: from 198.51.100.1[500] to 198.51.100.2[500] (472 bytes)`
    ReceivedPacket {
        from: String,
    },
    /// `looking for an IKEv1 config for A...B`
    LookingIkeConfig {
        version: u8,
    },
    /// `no IKE config found for A...B, sending NO_PROPOSAL_CHOSEN`
    NoIkeConfig {
        between: String,
    },
    /// `looking for [pre-shared key ]peer configs matching ME[MEID]...OTHER[OTHERID]`
    LookingPeerConfig {
        me_id: Option<String>,
        other_id: Option<String>,
    },
    /// `no matching peer config found`, `no peer config found`
    NoPeerConfig,
    /// `found 1 matching config, but none allows pre-shared key authentication using
    /// Aggressive Mode`, `Aggressive Mode PSK disabled for security reasons`
    AggressiveRefused,
    /// `found 1 matching config, but none allows pre-shared key authentication using
    /// Main Mode`: the connection here is Aggressive Mode, the peer's request Main Mode
    MainRefused,
    /// `IDir 'X' does not match to 'Y'`, `constraint check failed: identity 'Y' required`
    IdNoMatch {
        got: Option<String>,
        want: Option<String>,
    },
    /// `tried 1 shared key for 'A' - 'B', but MAC mismatched`
    MacMismatch {
        ids: String,
    },
    /// `no shared key found for 'A' - 'B'`
    NoSharedKey {
        ids: String,
    },
    /// `invalid HASH_V1 payload length, decryption failed?`
    DecryptFailed {
        payload: String,
    },
    CouldNotDecrypt,
    ParsingFailed,
    /// `received X error notify` (IKEv1), `received X notify error` (IKEv2),
    /// `received X notify, no CHILD_SA built` (IKEv2 child)
    Notify {
        name: String,
        v1_wording: bool,
        child: bool,
    },
    SelectingProposal,
    ProposalMatches,
    NoAcceptable(Kind),
    Proposals {
        source: PropSource,
        list: Vec<Proposal>,
        continued: bool,
    },
    /// `received proposals unacceptable`, `no acceptable proposal found`, `no matching
    /// proposal found, sending NO_PROPOSAL_CHOSEN`, `no proposal found`
    ProposalFailure,
    ProposingTs {
        us: bool,
    },
    SelectingTs {
        us: bool,
    },
    /// ` 172.30.96.0/19` after a traffic selector header
    TsEntry(String),
    /// ` config: X, received: Y => match: Z` / `=> no match`
    TsSelect {
        config: String,
        matched: bool,
    },
    /// `looking for a child config for OURS === THEIRS`
    LookingChildConfig {
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    /// `traffic selectors OURS === THEIRS unacceptable` (IKEv2 responder)
    TsUnacceptable {
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    /// `no matching CHILD_SA config found for THEIRS === OURS` (IKEv1 responder)
    NoChildConfig {
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    HashMismatch,
    IntegrityFailed,
    /// `sending retransmit 1 of request message ID 0, seq 1`; `response`: this end
    /// retransmits its response (an IKEv1 responder waiting for the exchange's last
    /// message).
    Retransmit {
        msgid: u32,
        response: bool,
    },
    /// `received retransmit of response with ID 0, resending last request`: the peer
    /// repeats its answer, so it never received this end's next message.
    PeerResentResponse,
    /// `sending DPD request` (liveness check on an established IKE_SA)
    DpdRequest,
    /// `DPD check timed out, enforcing DPD action` (IKEv1)
    DpdTimedOut,
    /// `sending packet: from A[500] to B[4500] (108 bytes)`: the destination port
    SendingPacket {
        to_port: u16,
    },
    /// `deleting half open IKE_SA with 198.51.100.2 after timeout` (responder)
    HalfOpenTimeout,
    /// `remote host is behind NAT`, `local host is behind NAT`:
    /// the negotiation moves to UDP 4500 (no fault in itself).
    NatDetected,
    /// `calculated HASH does not match HASH payload` (IKEv1 Aggressive Mode initiator
    /// verifying the responder's HASH: the pre-shared keys differ)
    CalculatedHashMismatch,
    /// `giving up after 5 retransmits`, `establishing IKE_SA failed, peer not responding`,
    /// `peer not responding, trying again`
    GivingUp,
    IkeEstablished {
        sa: String,
        between: String,
    },
    ChildEstablished {
        sa: String,
        name: String,
        local: Vec<String>,
        remote: Vec<String>,
    },
    ChildFailed,
    /// A Libreswan (pluto) message.
    Pluto(pluto::Pl),
    /// `ipsec statusall` / `swanctl --list-sas` lines showing an SA up.
    ListedUp {
        sa: String,
        between: String,
    },
}

/// `a b === c d` → (["a","b"], ["c","d"]).
fn ts_pair(s: &str) -> Option<(Vec<String>, Vec<String>)> {
    let (l, r) = s.split_once(" === ")?;
    let split = |x: &str| x.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    Some((split(l), split(r)))
}

fn looks_like_ts(s: &str) -> bool {
    let head = s.split('[').next().unwrap_or(s);
    head == "dynamic" || head.parse::<Cidr>().is_ok() || head.contains(':') && head.contains('/')
}

/// Text between the first pair of single quotes after `from`.
fn quoted(s: &str) -> Vec<String> {
    s.split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn recognize(body: &str) -> Option<Ev> {
    let b = body.trim();
    if b.is_empty() {
        return None;
    }
    if let Some(rest) = b.strip_prefix("initiating ") {
        if let Some((what, peer)) = rest.split_once(" to ") {
            if what.contains("IKE_SA") {
                let mode = mode_in(what);
                return Some(Ev::Initiating {
                    mode,
                    peer: Some(peer.trim().to_string()),
                });
            }
        }
    }
    if let Some((peer, what)) = b.split_once(" is initiating a") {
        if what.ends_with("IKE_SA") {
            return Some(Ev::PeerInitiating {
                mode: mode_in(what),
                peer: peer.to_string(),
            });
        }
    }
    for (prefix, parsed) in [("parsed ", true), ("generating ", false)] {
        if let Some(rest) = b.strip_prefix(prefix) {
            let mut words = rest.splitn(3, ' ');
            let exchange = words.next()?;
            let dir = words.next()?;
            if let (Some(open), Some(close)) = (rest.find('['), rest.rfind(']')) {
                if (dir == "request" || dir == "response") && open < close {
                    return Some(Ev::Message {
                        parsed,
                        exchange: exchange.to_string(),
                        request: dir == "request",
                        payloads: rest[open + 1..close].trim().to_string(),
                    });
                }
            }
        }
    }
    if let Some(rest) = b.strip_prefix("sending packet: from ") {
        let port = rest
            .split_once(" to ")
            .and_then(|(_, to)| to.split_once('[')?.1.split_once(']'))
            .and_then(|(p, _)| p.parse().ok())?;
        return Some(Ev::SendingPacket { to_port: port });
    }
    if b.starts_with("deleting half open IKE_SA with ") && b.ends_with(" after timeout") {
        return Some(Ev::HalfOpenTimeout);
    }
    if let Some(rest) = b.strip_prefix("received packet: from ") {
        let from = rest.split(['[', ' ']).next().unwrap_or(rest).to_string();
        return Some(Ev::ReceivedPacket { from });
    }
    if let Some(rest) = b.strip_prefix("looking for an IKEv") {
        if let Some(v) = rest.chars().next().and_then(|c| c.to_digit(10)) {
            if rest[1..].starts_with(" config for ") {
                return Some(Ev::LookingIkeConfig { version: v as u8 });
            }
        }
    }
    if let Some(rest) = b.strip_prefix("no IKE config found for ") {
        let between = rest.split(',').next().unwrap_or(rest).trim().to_string();
        return Some(Ev::NoIkeConfig { between });
    }
    if b.starts_with("looking for peer configs matching ")
        || b.starts_with("looking for pre-shared key peer configs matching ")
    {
        let pair = b.rsplit(" matching ").next().unwrap_or("");
        let (me, other) = pair.split_once("...").unwrap_or((pair, ""));
        let id = |s: &str| {
            let (_, rest) = s.split_once('[')?;
            Some(rest.strip_suffix(']').unwrap_or(rest).to_string())
        };
        return Some(Ev::LookingPeerConfig {
            me_id: id(me),
            other_id: id(other),
        });
    }
    if b == "no matching peer config found" || b == "no peer config found" {
        return Some(Ev::NoPeerConfig);
    }
    if (b.contains("none allows") && b.contains("Aggressive Mode"))
        || b.starts_with("Aggressive Mode PSK disabled")
    {
        return Some(Ev::AggressiveRefused);
    }
    if b.contains("none allows") && b.contains("using Main Mode") {
        return Some(Ev::MainRefused);
    }
    if (b.starts_with("IDir ") || b.starts_with("IDr ") || b.starts_with("IDi "))
        && b.contains(" does not match to ")
    {
        let (l, r) = b.split_once(" does not match to ").unwrap_or((b, ""));
        let unq = |s: &str| s.trim().trim_matches('\'').to_string();
        let got = l.split_once(' ').map(|x| unq(x.1));
        return Some(Ev::IdNoMatch {
            got,
            want: Some(unq(r)),
        });
    }
    if let Some(rest) = b.strip_prefix("constraint check failed: identity ") {
        return Some(Ev::IdNoMatch {
            got: None,
            want: quoted(rest).into_iter().next(),
        });
    }
    if b.starts_with("tried ") && b.ends_with("but MAC mismatched") {
        return Some(Ev::MacMismatch {
            ids: quoted(b).join("' - '"),
        });
    }
    if let Some(rest) = b.strip_prefix("no shared key found for ") {
        return Some(Ev::NoSharedKey {
            ids: quoted(rest).join("' - '"),
        });
    }
    if let Some(rest) = b.strip_prefix("invalid ") {
        if let Some(p) = rest.strip_suffix(" payload length, decryption failed?") {
            return Some(Ev::DecryptFailed {
                payload: p.to_string(),
            });
        }
    }
    match b {
        "could not decrypt payloads" => return Some(Ev::CouldNotDecrypt),
        "message parsing failed" => return Some(Ev::ParsingFailed),
        "selecting proposal:" => return Some(Ev::SelectingProposal),
        "proposal matches" => return Some(Ev::ProposalMatches),
        "received proposals unacceptable"
        | "no acceptable proposal found"
        | "no proposal found"
        | "no matching proposal found, sending NO_PROPOSAL_CHOSEN" => {
            return Some(Ev::ProposalFailure)
        }
        "received HASH payload does not match" => return Some(Ev::HashMismatch),
        "integrity check failed" => return Some(Ev::IntegrityFailed),
        "failed to establish CHILD_SA, keeping IKE_SA" => return Some(Ev::ChildFailed),
        "establishing IKE_SA failed, peer not responding"
        | "rekeying IKE_SA failed, peer not responding" => return Some(Ev::GivingUp),
        "sending DPD request" => return Some(Ev::DpdRequest),
        "remote host is behind NAT" | "local host is behind NAT" => return Some(Ev::NatDetected),
        "DPD check timed out, enforcing DPD action" => return Some(Ev::DpdTimedOut),
        "calculated HASH does not match HASH payload" => return Some(Ev::CalculatedHashMismatch),
        "received retransmit of response with ID 0, resending last request" => {
            return Some(Ev::PeerResentResponse)
        }
        "proposing traffic selectors for us:" => return Some(Ev::ProposingTs { us: true }),
        "proposing traffic selectors for other:" => return Some(Ev::ProposingTs { us: false }),
        "selecting traffic selectors for us:" => return Some(Ev::SelectingTs { us: true }),
        "selecting traffic selectors for other:" => return Some(Ev::SelectingTs { us: false }),
        _ => {}
    }
    if let Some(rest) = b.strip_prefix("received ") {
        for (suffix, v1, child) in [
            (" error notifyed", true, false),
            (" error notify", true, false),
            (" notify error", false, false),
            (" notify, no CHILD_SA built", false, true),
        ] {
            if let Some(name) = rest.strip_suffix(suffix) {
                if !name.contains(' ') {
                    return Some(Ev::Notify {
                        name: name.to_string(),
                        v1_wording: v1,
                        child,
                    });
                }
            }
        }
    }
    if let Some(k) = b
        .strip_prefix("no acceptable ")
        .and_then(|r| r.strip_suffix(" found"))
        .and_then(Kind::from_strongswan)
    {
        return Some(Ev::NoAcceptable(k));
    }
    for (prefix, source) in [
        ("received proposals: ", PropSource::Received),
        ("configured proposals: ", PropSource::Configured),
        ("selected proposal: ", PropSource::Selected),
    ] {
        if let Some(rest) = b.strip_prefix(prefix) {
            let (list, continued) = parse_proposals(rest)?;
            return Some(Ev::Proposals {
                source,
                list,
                continued,
            });
        }
    }
    if b.starts_with("IKE:") || b.starts_with("ESP:") || b.starts_with("AH:") {
        let (list, continued) = parse_proposals(b)?;
        return Some(Ev::Proposals {
            source: PropSource::Bare,
            list,
            continued,
        });
    }
    if let Some(rest) = b.strip_prefix("config: ") {
        let (config, outcome) = rest.split_once(" => ")?;
        let config = config
            .split(',')
            .next()
            .unwrap_or(config)
            .trim()
            .to_string();
        return Some(Ev::TsSelect {
            config,
            matched: outcome.starts_with("match"),
        });
    }
    if let Some(rest) = b.strip_prefix("looking for a child config for ") {
        let (ours, theirs) = ts_pair(rest)?;
        return Some(Ev::LookingChildConfig { ours, theirs });
    }
    if let Some(rest) = b
        .strip_prefix("traffic selectors ")
        .and_then(|r| r.strip_suffix(" unacceptable"))
    {
        let (ours, theirs) = ts_pair(rest)?;
        return Some(Ev::TsUnacceptable { ours, theirs });
    }
    if let Some(rest) = b.strip_prefix("no matching CHILD_SA config found for ") {
        let (theirs, ours) = ts_pair(rest)?;
        return Some(Ev::NoChildConfig { ours, theirs });
    }
    if b.starts_with("retransmit ") || b.starts_with("sending retransmit ") {
        if let Some(id) = b.split("message ID ").nth(1) {
            let id = id.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
            if let Ok(msgid) = id.parse() {
                let response = b.contains(" of response ");
                return Some(Ev::Retransmit { msgid, response });
            }
        }
    }
    if (b.starts_with("giving up after ") && b.ends_with(" retransmits"))
        || b.starts_with("peer not responding, trying again")
    {
        return Some(Ev::GivingUp);
    }
    if let Some(rest) = b.strip_prefix("IKE_SA ") {
        if let Some((sa, between)) = rest.split_once(" established between ") {
            return Some(Ev::IkeEstablished {
                sa: sa.to_string(),
                between: between.to_string(),
            });
        }
    }
    if let Some(rest) = b.strip_prefix("CHILD_SA ") {
        if let Some((sa, tail)) = rest.split_once(" established ") {
            let (local, remote) = tail
                .split_once(" and TS ")
                .and_then(|(_, ts)| ts_pair(ts))
                .unwrap_or_default();
            let name = sa.split('{').next().unwrap_or(sa).to_string();
            return Some(Ev::ChildEstablished {
                sa: sa.to_string(),
                name,
                local,
                remote,
            });
        }
    }
    if let Some(ev) = recognize_listing(b) {
        return Some(ev);
    }
    if looks_like_ts(b) && !b.contains(' ') {
        return Some(Ev::TsEntry(b.to_string()));
    }
    None
}

fn mode_in(s: &str) -> Option<Mode> {
    if s.contains("Main Mode") {
        Some(Mode::Main)
    } else if s.contains("Aggressive Mode") {
        Some(Mode::Aggressive)
    } else {
        None
    }
}

/// `ipsec statusall` (`vpn[1]: ESTABLISHED 3 minutes ago, A[a]...B[b]`,
/// `net{1}:   10.0.0.0/8 === 172.30.96.0/19`) and `swanctl --list-sas`
/// (`vpn: #1, ESTABLISHED, IKEv2, …`, `net: #1, reqid 1, INSTALLED, …`) lines.
fn recognize_listing(b: &str) -> Option<Ev> {
    if let Some((sa, rest)) = b.split_once(": ") {
        if sa.contains(' ') {
            return None;
        }
        let rest = rest.trim();
        if sa.ends_with(']') {
            if let Some(tail) = rest.strip_prefix("ESTABLISHED ") {
                let between = tail.split_once(", ").map(|x| x.1).unwrap_or("");
                return Some(Ev::ListedUp {
                    sa: format!("IKE_SA {sa}"),
                    between: between.to_string(),
                });
            }
        }
        if sa.ends_with('}') && rest.contains(" === ") {
            return Some(Ev::ListedUp {
                sa: format!("CHILD_SA {sa}"),
                between: rest.to_string(),
            });
        }
        if let Some(tail) = rest.strip_prefix('#') {
            let fields: Vec<&str> = tail.split(", ").collect();
            if fields.len() >= 3 && fields[1] == "ESTABLISHED" && fields[2].starts_with("IKEv") {
                return Some(Ev::ListedUp {
                    sa: format!("IKE_SA {sa} #{}", fields[0]),
                    between: fields[2].to_string(),
                });
            }
            if fields.len() >= 3 && fields[1].starts_with("reqid ") && fields[2] == "INSTALLED" {
                return Some(Ev::ListedUp {
                    sa: format!("CHILD_SA {sa} #{}", fields[0]),
                    between: fields.last().copied().unwrap_or("").to_string(),
                });
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Per-IKE_SA analysis
// ---------------------------------------------------------------------------------------

/// A cause found in one negotiation, before merging.
#[derive(Clone, Debug)]
struct Hit {
    code: Code,
    lines: BTreeSet<usize>,
    conn: Option<String>,
    message: String,
    fix: String,
    source: Vec<String>,
    destination: Vec<String>,
    /// Traffic selector pairs (`this side === peer side`) the cause concerns. Causes of
    /// one file that differ only in these merge into one finding listing all pairs, put
    /// where the message says `{pairs}`.
    pairs: Vec<String>,
    /// The cause is inferred from what the peer answered (or did not answer), not read
    /// from this end's comparison of what it received with what it is configured for: a
    /// deciding cause from the peer's log replaces it.
    weak: bool,
    /// This end's and the peer's addresses and the IKEv1 message IDs of the negotiation
    /// (set when the negotiation is finished): what pairs it with the peer's log.
    local: Option<String>,
    peer: Option<String>,
    msgids: BTreeSet<u32>,
}

/// What pairs a finding with the other end's findings of the same negotiation
/// ([`pair_ends`]).
#[derive(Clone, Debug, Default)]
struct Meta {
    /// Inferred from the peer's answer or silence (see [`Hit::weak`]).
    weak: bool,
    /// First and last time of the finding's lines, in seconds within the year, where the
    /// lines carry a timestamp.
    span: Option<(u64, u64)>,
    local: Option<String>,
    peer: Option<String>,
    /// IKEv1 message IDs (random per exchange, logged by both ends: `generating
    /// QUICK_MODE request 857726784`, `parsed QUICK_MODE request 857726784`).
    msgids: BTreeSet<u32>,
}

#[derive(Clone, Debug, Default)]
struct TsBlock {
    us: Vec<(usize, String)>,
    other: Vec<(usize, String)>,
}

#[derive(Clone, Debug)]
struct ChildRec {
    line: usize,
    sa: String,
    name: String,
    local: Vec<String>,
    remote: Vec<String>,
    /// What this side asked for or has configured for this child.
    want_local: Vec<(usize, String)>,
    want_remote: Vec<(usize, String)>,
}

#[derive(Default)]
struct Selection {
    active: bool,
    no_acceptable: Vec<(usize, Kind)>,
    received: Option<(Vec<usize>, Vec<Proposal>)>,
    configured: Option<(Vec<usize>, Vec<Proposal>)>,
}

#[derive(Clone, Copy, PartialEq)]
enum TsCursor {
    None,
    Proposing(bool),
    Selecting(bool),
}

/// State of one IKE_SA (or one untagged negotiation) while its lines are read.
struct Sa<'c> {
    conns: &'c [LoadedConn],
    conn: Option<String>,
    v1: bool,
    v2: bool,
    mode: Option<Mode>,
    peer: Option<String>,
    start_line: Option<usize>,
    established: Option<usize>,
    heard: bool,
    last_exchange: Option<String>,
    pending_notify: Option<(usize, String)>,
    looking_ike: Option<(usize, u8)>,
    looking_peer: Option<(usize, Option<String>, Option<String>)>,
    first_request: Option<usize>,
    sel: Selection,
    own_ike: Option<(usize, Vec<Proposal>)>,
    own_esp: Option<(usize, Vec<Proposal>)>,
    selected_ike: Option<Vec<Proposal>>,
    last_bare_continued: bool,
    cursor: TsCursor,
    child_lookup: Option<(usize, Vec<String>, Vec<String>)>,
    offer: TsBlock,
    cfg: TsBlock,
    sel_ts: Vec<(bool, usize, String, bool)>,
    children: Vec<ChildRec>,
    retransmits: Vec<(usize, u32)>,
    giveups: Vec<usize>,
    hits: Vec<Hit>,
    last_hit: Option<usize>,
    /// Set while a cause inferred from the peer's answer is recorded (see [`Hit::weak`]).
    weak: bool,
    /// The last request this end generated: line, exchange, payloads.
    last_request: Option<(usize, String, String)>,
    /// `sending DPD request` lines and `DPD check timed out`.
    dpd: Vec<usize>,
    dpd_timed_out: Option<usize>,
    /// A message sent to UDP 4500 after the peer had answered on 500.
    sent_4500: Option<usize>,
    half_open: Option<usize>,
    nat_detected: bool,
    /// The lines are pluto's; its last retransmitting state (`STATE_MAIN_I3`).
    is_pluto: bool,
    pluto_state: Option<String>,
    /// IKE versions of the connections pluto loaded (`added IKEv1 connection`).
    pluto_versions: Vec<u8>,
    /// This end's address (`received packet: from PEER[500] to LOCAL[500]`).
    local: Option<String>,
    /// IKEv1 message IDs of this negotiation's exchanges (see [`Meta::msgids`]).
    msgids: BTreeSet<u32>,
    /// This end sent a response (it is the responder of the exchange).
    responded: bool,
    /// This end answered an Aggressive Mode request with NAT-D payloads (both ends
    /// announced NAT-T, so the initiator's last message comes over UDP 4500).
    aggr_natd_response: Option<usize>,
    /// The last `received packet` line.
    last_received: Option<usize>,
    /// `received retransmit of response …, resending last request` lines.
    peer_resent: Vec<usize>,
    /// The first message sent to UDP 4500 after the peer had answered (established or
    /// not: an IKEv1 Aggressive Mode initiator is established before its last message).
    first_4500: Option<usize>,
}

const PHASE1: [Code; 7] = [
    Code::IkePskMismatch,
    Code::IkeVersionMismatch,
    Code::IkeModeMismatch,
    Code::IkeIdMismatch,
    Code::IkeProposalMismatch,
    Code::PeerNotResponding,
    Code::CustomerGatewayIpInvalid,
];
const PHASE2: [Code; 3] = [
    Code::TrafficSelectorMismatch,
    Code::IpsecProposalMismatch,
    Code::PfsMismatch,
];

const FIX_PSK: &str = "Set the same pre-shared key on the Alibaba Cloud IPsec connection and on the on-premises gateway (type it again on both ends; look for look-alike characters such as O/0 and trailing spaces).";
const FIX_VERSION: &str = "Use the same IKE version on both ends (IKEv2 is recommended, also for several subnets: FAQ 5).";
const FIX_MODE: &str = "Use the same IKEv1 negotiation mode (main or aggressive) on both ends.";
const FIX_ID: &str = "Make each end's RemoteId equal to the other end's LocalId (by default the Alibaba Cloud VPN gateway uses its public IP as LocalId and expects the customer gateway IP as RemoteId).";
const FIX_TS: &str = "Make the subnets mirror each other: the local subnets of one end must be the remote subnets of the other (Alibaba Cloud: the IPsec connection's local and remote CIDR blocks; on premises: the interesting traffic / traffic selectors).";
const FIX_NOT_RESPONDING: &str = "Check that the peer gateway is running and reachable: the Alibaba Cloud customer gateway IP must be the on-premises gateway's public address and the on-premises peer must be the VPN gateway's public IP; allow UDP 500 and 4500 (and IP fragments) in both directions.";
const FIX_NAT_T: &str = "Allow UDP 4500 (NAT traversal) in both directions between the two gateways (security groups, ACLs, on-premises firewalls), as well as UDP 500.";
const FIX_DPD: &str = "Find why the peer stopped answering: check that the peer gateway is up and that UDP 500 and 4500 pass in both directions between the gateways; the tunnel comes back once the peer answers again (set DPD action restart / clear on both ends as wanted).";
const FIX_CGW: &str = "Create the customer gateway with the on-premises gateway's real public IP address and use it for the IPsec connection.";

impl<'c> Sa<'c> {
    fn new(conns: &'c [LoadedConn]) -> Sa<'c> {
        Sa {
            conns,
            conn: None,
            v1: false,
            v2: false,
            mode: None,
            peer: None,
            start_line: None,
            established: None,
            heard: false,
            last_exchange: None,
            pending_notify: None,
            looking_ike: None,
            looking_peer: None,
            first_request: None,
            sel: Selection::default(),
            own_ike: None,
            own_esp: None,
            selected_ike: None,
            last_bare_continued: false,
            cursor: TsCursor::None,
            child_lookup: None,
            offer: TsBlock::default(),
            cfg: TsBlock::default(),
            sel_ts: Vec::new(),
            children: Vec::new(),
            retransmits: Vec::new(),
            giveups: Vec::new(),
            hits: Vec::new(),
            last_hit: None,
            weak: false,
            last_request: None,
            dpd: Vec::new(),
            dpd_timed_out: None,
            sent_4500: None,
            half_open: None,
            nat_detected: false,
            is_pluto: false,
            pluto_state: None,
            pluto_versions: Vec::new(),
            local: None,
            msgids: BTreeSet::new(),
            responded: false,
            aggr_natd_response: None,
            last_received: None,
            peer_resent: Vec::new(),
            first_4500: None,
        }
    }

    /// Is this negotiation far enough to be meaningful, so that an untagged initiation
    /// line starts a new one?
    fn is_empty(&self) -> bool {
        self.start_line.is_none() && self.hits.is_empty() && !self.heard
    }

    fn version(&self) -> Option<&'static str> {
        match (self.v1, self.v2) {
            (true, false) => Some("IKEv1"),
            (false, true) => Some("IKEv2"),
            _ => None,
        }
    }

    /// ` (IKEv2)` when the version is known.
    fn version_paren(&self) -> String {
        self.version()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default()
    }

    fn peer(&self) -> String {
        match &self.peer {
            Some(p) => format!("the peer {p}"),
            None => "the peer".to_string(),
        }
    }

    fn loaded_conn(&self) -> Option<&'c LoadedConn> {
        match &self.conn {
            Some(n) => self.conns.iter().find(|c| &c.name == n),
            None if self.conns.len() == 1 => self.conns.first(),
            None => None,
        }
    }

    fn hit(&mut self, code: Code, lines: &[usize], message: String, fix: &str) {
        self.hits.push(Hit {
            code,
            lines: lines.iter().copied().collect(),
            conn: None,
            message,
            fix: fix.to_string(),
            source: Vec::new(),
            destination: Vec::new(),
            pairs: Vec::new(),
            weak: self.weak,
            local: None,
            peer: None,
            msgids: BTreeSet::new(),
        });
        self.last_hit = Some(self.hits.len() - 1);
    }

    fn has_phase1_hit(&self) -> bool {
        self.hits.iter().any(|h| PHASE1.contains(&h.code))
    }

    /// Adds a supporting line to the last cause if it is one of `codes`.
    fn support(&mut self, no: usize, codes: &[Code]) {
        if let Some(i) = self.last_hit {
            if codes.contains(&self.hits[i].code) {
                self.hits[i].lines.insert(no);
            }
        }
    }

    fn note_exchange(&mut self, exchange: &str) {
        match exchange {
            "ID_PROT" | "AGGRESSIVE" | "QUICK_MODE" | "INFORMATIONAL_V1" | "TRANSACTION" => {
                self.v1 = true
            }
            "IKE_SA_INIT" | "IKE_AUTH" | "CREATE_CHILD_SA" | "INFORMATIONAL" => self.v2 = true,
            _ => {}
        }
        match exchange {
            "ID_PROT" => self.mode = self.mode.or(Some(Mode::Main)),
            "AGGRESSIVE" => self.mode = Some(Mode::Aggressive),
            _ => {}
        }
    }

    /// One event of this negotiation. Long: one arm per event kind, most of them a line
    /// or two; the longer causes live in their own methods.
    fn on(&mut self, no: usize, ev: Ev) {
        // A traffic selector list continues only directly below its header.
        let ts_cursor = self.cursor;
        if !matches!(ev, Ev::TsEntry(_) | Ev::TsSelect { .. }) {
            self.cursor = TsCursor::None;
        }
        let bare_continued = self.last_bare_continued;
        self.last_bare_continued = false;
        match ev {
            Ev::Initiating { mode, peer } => {
                self.start_line = Some(no);
                self.mode = mode.or(self.mode);
                if mode.is_some() {
                    self.v1 = true;
                } else {
                    self.v2 = true;
                }
                self.peer = peer.or(self.peer.take());
            }
            Ev::PeerInitiating { mode, peer } => {
                self.start_line = Some(no);
                self.mode = mode.or(self.mode);
                if mode.is_some() {
                    self.v1 = true;
                } else {
                    self.v2 = true;
                }
                self.peer = Some(peer);
            }
            Ev::Message {
                parsed,
                exchange,
                request,
                payloads,
            } => {
                self.note_exchange(&exchange);
                if parsed {
                    self.heard = true;
                    if request {
                        self.first_request.get_or_insert(no);
                        self.last_exchange = Some(exchange.clone());
                    }
                    self.pending_notify = payloads.contains("N(").then_some((no, payloads));
                } else {
                    if request {
                        self.last_exchange = Some(exchange.clone());
                        self.last_request = Some((no, exchange.clone(), payloads.clone()));
                    } else {
                        self.responded = true;
                        if exchange == "AGGRESSIVE" && payloads.contains("NAT-D") {
                            self.aggr_natd_response = Some(no);
                        }
                    }
                    for (n, codes) in [
                        (
                            "N(AUTH_FAILED)",
                            &[
                                Code::IkePskMismatch,
                                Code::IkeIdMismatch,
                                Code::IkeModeMismatch,
                            ][..],
                        ),
                        (
                            "N(NO_PROP)",
                            &[
                                Code::IkeProposalMismatch,
                                Code::IpsecProposalMismatch,
                                Code::PfsMismatch,
                                Code::IkeVersionMismatch,
                            ][..],
                        ),
                        ("N(TS_UNACCEPT)", &[Code::TrafficSelectorMismatch][..]),
                        ("N(INVAL_ID)", &[Code::TrafficSelectorMismatch][..]),
                        ("N(PLD_MAL)", &[Code::IkePskMismatch][..]),
                    ] {
                        if payloads.contains(n) {
                            self.support(no, codes);
                        }
                    }
                }
            }
            Ev::SendingPacket { to_port } => {
                if to_port == 4500 && self.heard && self.established.is_none() {
                    self.sent_4500.get_or_insert(no);
                }
                if to_port == 4500 && self.heard {
                    self.first_4500.get_or_insert(no);
                }
            }
            Ev::HalfOpenTimeout => self.half_open = Some(no),
            Ev::NatDetected => self.nat_detected = true,
            Ev::DpdRequest => self.dpd.push(no),
            Ev::DpdTimedOut => self.dpd_timed_out = Some(no),
            Ev::CalculatedHashMismatch => {
                let mut lines = vec![no];
                lines.extend(self.start_line);
                let msg = format!(
                    "IKE phase 1 (IKEv1 Aggressive Mode) with {} fails in authentication: the HASH in the peer's Aggressive Mode reply does not verify with the pre-shared key configured here ('calculated HASH does not match HASH payload'), so this gateway answered AUTH_FAILED. The two ends use different pre-shared keys.",
                    self.peer()
                );
                self.hit(Code::IkePskMismatch, &lines, msg, FIX_PSK);
            }
            Ev::ReceivedPacket { from } => {
                self.heard = true;
                self.last_received = Some(no);
                self.peer.get_or_insert(from);
            }
            Ev::LookingIkeConfig { version } => {
                if version == 1 {
                    self.v1 = true;
                } else {
                    self.v2 = true;
                }
                self.looking_ike = Some((no, version));
            }
            Ev::NoIkeConfig { between } => self.no_ike_config(no, &between),
            Ev::LookingPeerConfig { me_id, other_id } => {
                self.looking_peer = Some((no, me_id, other_id))
            }
            Ev::NoPeerConfig => self.no_peer_config(no),
            Ev::MainRefused => {
                let mut lines = vec![no];
                lines.extend(self.start_line);
                let msg = format!(
                    "{} starts IKEv1 phase 1 in Main Mode, but the connection configured on this gateway negotiates in Aggressive Mode (none of its configurations allows pre-shared-key authentication in Main Mode), so this gateway refused with AUTHENTICATION_FAILED.",
                    capitalize(&self.peer())
                );
                self.hit(Code::IkeModeMismatch, &lines, msg, FIX_MODE);
            }
            Ev::AggressiveRefused => {
                let mut lines = vec![no];
                lines.extend(self.start_line);
                let msg = format!(
                    "{} starts IKEv1 phase 1 in Aggressive Mode, but the connection configured on this gateway does not accept pre-shared-key authentication in Aggressive Mode (it negotiates in Main Mode), so this gateway refused with AUTHENTICATION_FAILED.",
                    capitalize(&self.peer())
                );
                self.hit(Code::IkeModeMismatch, &lines, msg, FIX_MODE);
            }
            Ev::IdNoMatch { got, want } => {
                let msg = match (got, want) {
                    (Some(g), Some(w)) => format!(
                        "IKE phase 1 with {} fails on identities: the peer identified itself as '{g}', but this gateway expects '{w}' (its RemoteId), so it aborted the negotiation.",
                        self.peer()
                    ),
                    (_, w) => format!(
                        "IKE phase 1 with {} fails on identities: this gateway requires the peer's identity '{}' (its RemoteId) and the peer presented another one.",
                        self.peer(),
                        w.unwrap_or_default()
                    ),
                };
                self.hit(Code::IkeIdMismatch, &[no], msg, FIX_ID);
            }
            Ev::MacMismatch { ids } => {
                let msg = format!(
                    "IKE phase 1{} with {} fails in authentication: the AUTH payload does not verify with the pre-shared key configured here for '{ids}' ('MAC mismatched'), so this gateway answered AUTHENTICATION_FAILED. The two ends use different pre-shared keys.",
                    self.version_paren(),
                    self.peer()
                );
                self.hit(Code::IkePskMismatch, &[no], msg, FIX_PSK);
            }
            Ev::NoSharedKey { ids } => {
                let msg = format!(
                    "IKE phase 1 with {} fails in authentication: this gateway has no pre-shared key for the identities '{ids}'. Either the key is missing here or the peer uses other identities than the ones the key is configured for.",
                    self.peer()
                );
                self.hit(Code::IkePskMismatch, &[no], msg, FIX_PSK);
            }
            Ev::DecryptFailed { payload } => self.decrypt_failure(no, Some(payload)),
            Ev::CouldNotDecrypt => self.decrypt_failure(no, None),
            Ev::ParsingFailed => self.support(no, &[Code::IkePskMismatch]),
            Ev::Notify {
                name,
                v1_wording,
                child,
            } => self.notify(no, &name, v1_wording, child),
            Ev::SelectingProposal => {
                self.sel = Selection {
                    active: true,
                    ..Selection::default()
                }
            }
            Ev::ProposalMatches => self.sel = Selection::default(),
            Ev::NoAcceptable(k) => {
                self.sel.active = true;
                self.sel.no_acceptable.push((no, k));
            }
            Ev::Proposals {
                source,
                list,
                continued,
            } => self.proposals(no, source, list, continued, bare_continued),
            Ev::ProposalFailure => self.proposal_failure(no),
            Ev::ProposingTs { us } => {
                if self.child_lookup.is_none() && us && !matches!(ts_cursor, TsCursor::Proposing(_))
                {
                    self.offer = TsBlock::default();
                }
                self.cursor = TsCursor::Proposing(us);
            }
            Ev::SelectingTs { us } => self.cursor = TsCursor::Selecting(us),
            Ev::TsEntry(ts) => {
                if let TsCursor::Proposing(us) = ts_cursor {
                    let block = if self.child_lookup.is_some() {
                        &mut self.cfg
                    } else {
                        &mut self.offer
                    };
                    if us {
                        block.us.push((no, ts));
                    } else {
                        block.other.push((no, ts));
                    }
                    self.cursor = ts_cursor;
                }
            }
            Ev::TsSelect { config, matched } => {
                if let TsCursor::Selecting(us) = ts_cursor {
                    self.sel_ts.push((us, no, config, matched));
                    self.cursor = ts_cursor;
                }
            }
            Ev::LookingChildConfig { ours, theirs } => {
                self.child_lookup = Some((no, ours, theirs));
                self.cfg = TsBlock::default();
                self.sel_ts.clear();
            }
            Ev::TsUnacceptable { ours, theirs } | Ev::NoChildConfig { ours, theirs } => {
                self.ts_refused_here(no, ours, theirs)
            }
            Ev::HashMismatch => {
                let msg = format!(
                    "Phase 2 with {} fails: the HASH payload of the peer's phase-2 message does not match ('received HASH payload does not match'). In IKEv1 aggressive mode this is how different local/remote subnets (traffic selectors) show (FAQ 2).",
                    self.peer()
                );
                self.hit(Code::TrafficSelectorMismatch, &[no], msg, FIX_TS);
            }
            Ev::IntegrityFailed => self.support(no, &[Code::TrafficSelectorMismatch]),
            Ev::Retransmit { msgid, .. } => self.retransmits.push((no, msgid)),
            Ev::PeerResentResponse => self.peer_resent.push(no),
            Ev::GivingUp => self.giveups.push(no),
            Ev::IkeEstablished { .. } => self.established = Some(no),
            Ev::ChildEstablished {
                sa,
                name,
                local,
                remote,
            } => self.child_up(no, sa, name, local, remote),
            Ev::ChildFailed => self.support(no, &PHASE2),
            Ev::ListedUp { .. } => {}
            Ev::Pluto(pl) => {
                self.is_pluto = true;
                self.pluto(no, pl)
            }
        }
    }

    fn decrypt_failure(&mut self, no: usize, payload: Option<String>) {
        if let Some(i) = self
            .hits
            .iter()
            .position(|h| h.code == Code::IkePskMismatch && h.message.contains("cannot decrypt"))
        {
            self.hits[i].lines.insert(no);
            self.last_hit = Some(i);
            return;
        }
        let what = match payload.as_deref() {
            Some("ID_V1") => "the peer's identity payload (Main Mode message 5)",
            Some("HASH_V1") => "the HASH payload of the peer's encrypted message",
            Some(_) => "the peer's encrypted message",
            None => "the peer's encrypted messages",
        };
        let msg = format!(
            "IKE phase 1 (IKEv1) with {} fails: the Diffie-Hellman exchange completed, but this gateway cannot decrypt {what} ('decryption failed', 'could not decrypt payloads'). IKEv1 derives the encryption keys from the pre-shared key, so the two ends use different pre-shared keys.",
            self.peer()
        );
        // Inferred: a garbled message (a notification the peer encrypted with another
        // key, or after refusing the identity) reads the same.
        self.weak = true;
        self.hit(Code::IkePskMismatch, &[no], msg, FIX_PSK);
        self.weak = false;
    }

    fn no_ike_config(&mut self, no: usize, between: &str) {
        let mut lines = vec![no];
        lines.extend(self.first_request);
        let peer_v = self.looking_ike.map(|(l, v)| {
            lines.push(l);
            v
        });
        let theirs = peer_v
            .map(|v| format!("IKEv{v}"))
            .or(self.version().map(str::to_string))
            .unwrap_or_else(|| "this IKE version".to_string());
        let ours: BTreeSet<String> = self
            .conns
            .iter()
            .filter_map(|c| c.version.filter(|&v| Some(v) != peer_v && v != 0))
            .map(|v| format!("IKEv{v}"))
            .collect();
        let ours = if ours.is_empty() {
            String::new()
        } else {
            format!(
                "; the connections loaded here use {}",
                ours.into_iter().collect::<Vec<_>>().join(" and ")
            )
        };
        let msg = format!(
            "IKE phase 1 fails: {} negotiates with {theirs}, but this gateway has no configuration for {theirs} with {between} ('no IKE config found'{ours}), so it answered NO_PROPOSAL_CHOSEN. The two ends use different IKE versions (if the versions agree, no connection here is configured for this pair of addresses).",
            self.peer()
        );
        self.hit(Code::IkeVersionMismatch, &lines, msg, FIX_VERSION);
    }

    fn no_peer_config(&mut self, no: usize) {
        let mut lines = vec![no];
        let mut facts = Vec::new();
        let (me_id, other_id) = match &self.looking_peer {
            Some((l, me, other)) => {
                lines.push(*l);
                (me.clone(), other.clone())
            }
            None => (None, None),
        };
        let conn = self.loaded_conn();
        if let Some(o) = other_id.as_deref() {
            let expect = conn.and_then(|c| c.remote_id.as_deref());
            match expect {
                Some(e) if e != o && e != "%any" => facts.push(format!(
                    "the peer identifies itself as '{o}' while this gateway expects '{e}' (its RemoteId)"
                )),
                _ => facts.push(format!("the peer identifies itself as '{o}'")),
            }
        }
        if let Some(m) = me_id.as_deref().filter(|m| *m != "%any") {
            match conn.and_then(|c| c.local_id.as_deref()) {
                Some(own) if own != m => facts.push(format!(
                    "it expects this gateway to be '{m}' while this gateway's LocalId is '{own}'"
                )),
                _ => facts.push(format!("it expects this gateway to be '{m}'")),
            }
        }
        let facts = if facts.is_empty() {
            String::new()
        } else {
            format!(": {}", facts.join("; "))
        };
        let msg = format!(
            "IKE phase 1 with {} fails on identities: no connection on this gateway matches the identities in the peer's request ('no matching peer config found'){facts}. This gateway answered AUTHENTICATION_FAILED. The LocalId/RemoteId of the two ends do not match.",
            self.peer()
        );
        self.hit(Code::IkeIdMismatch, &lines, msg, FIX_ID);
    }

    /// This end's RemoteId is an address other than the peer's address: the peer, if it
    /// identifies itself by its address (the Alibaba Cloud default), finds no match.
    fn suspicious_remote_id(&self) -> Option<(String, String)> {
        let c = self.loaded_conn()?;
        let id = c.remote_id.as_deref()?;
        let addr = c.remote_addrs.as_deref().or(self.peer.as_deref())?;
        let id_ip = id.parse::<std::net::Ipv4Addr>().ok()?;
        let addr_ip = addr.trim().parse::<std::net::Ipv4Addr>().ok()?;
        (id_ip != addr_ip).then(|| (id.to_string(), addr.trim().to_string()))
    }

    fn notify(&mut self, no: usize, name: &str, v1_wording: bool, child: bool) {
        self.weak = true;
        self.notify_inner(no, name, v1_wording, child);
        self.weak = false;
    }

    fn notify_inner(&mut self, no: usize, name: &str, v1_wording: bool, child: bool) {
        if v1_wording {
            self.v1 = true;
        } else {
            self.v2 = true;
        }
        let mut lines = vec![no];
        let mut payloads = String::new();
        if let Some((l, p)) = self.pending_notify.take() {
            lines.push(l);
            payloads = p;
        }
        let phase2 = child || self.established.is_some() || payloads.starts_with("HASH");
        match name {
            "AUTHENTICATION_FAILED" => {
                if self.established.is_some() {
                    return;
                }
                lines.extend(self.start_line);
                if v1_wording && self.mode != Some(Mode::Main) {
                    let msg = match self.mode {
                        Some(Mode::Aggressive) => format!(
                            "IKE phase 1 fails: this gateway starts IKEv1 in Aggressive Mode and {} refused the first message with AUTHENTICATION_FAILED, before any Aggressive Mode reply: the peer does not accept Aggressive Mode for this connection (it is set to Main Mode).",
                            self.peer()
                        ),
                        _ => format!(
                            "IKE phase 1 (IKEv1) fails: {} answered AUTHENTICATION_FAILED. The Alibaba Cloud FAQ lists this for different negotiation modes (main vs aggressive); if the modes agree, compare the LocalId/RemoteId.",
                            self.peer()
                        ),
                    };
                    self.hit(Code::IkeModeMismatch, &lines, msg, FIX_MODE);
                } else if let Some((id, addr)) = self.suspicious_remote_id() {
                    let msg = format!(
                        "IKE phase 1{} fails: {} rejected this gateway's authentication with AUTHENTICATION_FAILED. This gateway expects the peer to identify itself as '{id}' (its RemoteId) although the peer's address is {addr}; a peer whose LocalId is its address (the Alibaba Cloud default) finds no connection for the identity this gateway asks for and answers exactly so. The LocalId/RemoteId most likely do not match (if they do, compare the pre-shared keys).",
                        self.version_paren(),
                        self.peer()
                    );
                    self.hit(Code::IkeIdMismatch, &lines, msg, FIX_ID);
                } else if v1_wording {
                    let msg = format!(
                        "IKE phase 1 (IKEv1 Main Mode) fails: {} answered AUTHENTICATION_FAILED after the identities were exchanged: it has no connection for the identity this gateway presented. The LocalId/RemoteId do not match.",
                        self.peer()
                    );
                    self.hit(Code::IkeIdMismatch, &lines, msg, FIX_ID);
                } else {
                    let msg = format!(
                        "IKE phase 1 (IKEv2) fails: the algorithms agreed (IKE_SA_INIT succeeded) but {} rejected this gateway's authentication with AUTHENTICATION_FAILED. With pre-shared keys this means the keys differ (the peer's log then shows 'MAC mismatched'); if the peer's log shows 'no matching peer config found' instead, the LocalId/RemoteId differ.",
                        self.peer()
                    );
                    self.hit(Code::IkePskMismatch, &lines, msg, FIX_PSK);
                }
            }
            "NO_PROPOSAL_CHOSEN" if phase2 => self.child_refused(lines, child),
            "NO_PROPOSAL_CHOSEN" => {
                lines.extend(self.start_line);
                if v1_wording {
                    let msg = format!(
                        "IKE phase 1 fails: this gateway starts IKEv1 ({}) and {} refused the very first message with NO_PROPOSAL_CHOSEN: most likely it has no IKEv1 configuration for this connection because it runs IKEv2. (A peer whose IKEv1 phase-1 algorithms differ answers the same way; the peer's log tells: 'no IKE config found' = version, 'no proposal found' = algorithms.)",
                        match self.mode {
                            Some(Mode::Aggressive) => "Aggressive Mode",
                            _ => "Main Mode",
                        },
                        self.peer()
                    );
                    self.hit(Code::IkeVersionMismatch, &lines, msg, FIX_VERSION);
                } else {
                    let offer = match &self.own_ike {
                        Some((l, p)) => {
                            lines.push(*l);
                            format!(" (offered: {})", proposals_text(p))
                        }
                        None => String::new(),
                    };
                    let msg = format!(
                        "IKE phase 1 (IKEv2) fails: {} answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN: it accepts none of this gateway's phase-1 proposals{offer}. The encryption, integrity or DH group differ; the peer's log ('received proposals' vs 'configured proposals') names the transform. (A peer configured for IKEv1 only answers the same way.)",
                        self.peer()
                    );
                    self.hit(
                        Code::IkeProposalMismatch,
                        &lines,
                        msg,
                        FIX_PROPOSAL_GENERIC_IKE,
                    );
                }
            }
            "TS_UNACCEPTABLE" => self.ts_refused_by_peer(lines, "TS_UNACCEPTABLE"),
            "INVALID_ID_INFORMATION" => {
                if self.established.is_none()
                    && self.mode.is_some()
                    && !payloads.starts_with("HASH")
                {
                    lines.extend(self.start_line);
                    let msg = format!(
                        "IKE phase 1 (IKEv1) fails on identities: {} answered INVALID_ID_INFORMATION to this gateway's identity. The LocalId/RemoteId do not match.",
                        self.peer()
                    );
                    self.hit(Code::IkeIdMismatch, &lines, msg, FIX_ID);
                } else {
                    self.ts_refused_by_peer(lines, "INVALID_ID_INFORMATION");
                }
            }
            "UNSUPPORTED_CRITICAL_PAYLOAD" => {
                let msg = format!(
                    "IKE phase 1 fails: {} answered UNSUPPORTED_CRITICAL_PAYLOAD. Per the Alibaba Cloud FAQ this means the customer gateway was created with an invalid public IP address (not the on-premises gateway's public address).",
                    self.peer()
                );
                self.hit(Code::CustomerGatewayIpInvalid, &lines, msg, FIX_CGW);
            }
            _ => {}
        }
    }

    fn proposals(
        &mut self,
        no: usize,
        source: PropSource,
        list: Vec<Proposal>,
        continued: bool,
        bare_continued: bool,
    ) {
        let ike = list.first().is_some_and(|p| p.proto == "IKE");
        match source {
            PropSource::Received => {
                self.sel.active = true;
                self.sel.received = Some((vec![no], list));
            }
            PropSource::Configured if self.sel.active && self.sel.received.is_some() => {
                self.sel.configured = Some((vec![no], list));
            }
            PropSource::Configured => {
                if ike {
                    self.own_ike = Some((no, list));
                } else {
                    self.own_esp = Some((no, list));
                }
            }
            PropSource::Selected => {
                if ike {
                    self.selected_ike = Some(list);
                }
                self.sel = Selection::default();
            }
            PropSource::Bare => {
                self.last_bare_continued = continued;
                let slot = if bare_continued {
                    if self.sel.configured.is_some() {
                        &mut self.sel.configured
                    } else {
                        &mut self.sel.received
                    }
                } else if self.sel.received.is_none() {
                    &mut self.sel.received
                } else if self.sel.configured.is_none() {
                    &mut self.sel.configured
                } else {
                    self.sel = Selection::default();
                    &mut self.sel.received
                };
                let entry = slot.get_or_insert_with(|| (Vec::new(), Vec::new()));
                entry.0.push(no);
                entry.1.extend(list);
                self.sel.active = true;
            }
        }
    }

    /// This gateway (as responder) found no acceptable proposal.
    fn proposal_failure(&mut self, no: usize) {
        let sel = std::mem::take(&mut self.sel);
        let mut lines = vec![no];
        lines.extend(sel.no_acceptable.iter().map(|x| x.0));
        let received = sel.received.map(|(l, p)| {
            lines.extend(l);
            p
        });
        let configured = sel.configured.map(|(l, p)| {
            lines.extend(l);
            p
        });
        let ike = match (&received, &configured) {
            (Some(r), _) => r.first().is_some_and(|p| p.proto == "IKE"),
            (_, Some(c)) => c.first().is_some_and(|p| p.proto == "IKE"),
            _ => self.established.is_none(),
        };
        // An IKEv2 CHILD_SA set up with IKE_AUTH carries no key exchange.
        let skip_dh = !ike
            && self.last_exchange.as_deref() == Some("IKE_AUTH")
            && received
                .as_ref()
                .is_some_and(|r| r.iter().all(|p| p.values(Kind::DhGroup).is_empty()));
        let mut diff = match (&received, &configured) {
            (Some(r), Some(c)) => proposal_diff(r, c, skip_dh),
            _ => ProposalDiff {
                kinds: Vec::new(),
                dh_only: false,
            },
        };
        if diff.kinds.is_empty() {
            // Fall back on strongSwan's own `no acceptable X found` lines.
            let mut ks: Vec<Kind> = sel.no_acceptable.iter().map(|x| x.1).collect();
            ks.sort();
            ks.dedup();
            diff.dh_only = ks == [Kind::DhGroup];
            diff.kinds = ks
                .into_iter()
                .map(|k| (k, String::new(), String::new()))
                .collect();
        }
        let kinds_text = {
            let values: Vec<String> = diff
                .kinds
                .iter()
                .filter(|(_, r, _)| !r.is_empty())
                .map(|(k, r, c)| {
                    format!(
                        " {}: the peer offers {r}; this gateway accepts {c}.",
                        capitalize(k.label())
                    )
                })
                .collect();
            let names: Vec<&str> = diff.kinds.iter().map(|k| k.0.label()).collect();
            if names.is_empty() {
                String::new()
            } else {
                format!("{}.{}", names.join(" and "), values.concat())
            }
        };
        let labels = diff
            .kinds
            .iter()
            .map(|k| k.0.label())
            .collect::<Vec<_>>()
            .join(" and ");
        let offered = match (&received, &configured) {
            (Some(r), Some(c)) => format!(
                " Received: {}; configured here: {}.",
                proposals_text(r),
                proposals_text(c)
            ),
            _ => String::new(),
        };
        let peer = self.peer();
        // What the log says of the differing transform (phase 1 or phase 2 alike).
        let differing = if kinds_text.is_empty() {
            "The transform that differs is not in the log.".to_string()
        } else {
            format!("Differing transform: {kinds_text}")
        };
        if ike {
            let msg = format!(
                "IKE phase 1 with {peer} fails: none of the peer's IKE (phase-1) proposals is acceptable to this gateway, so it answered NO_PROPOSAL_CHOSEN. {differing}{offered}"
            );
            let fix = if labels.is_empty() {
                FIX_PROPOSAL_GENERIC_IKE.to_string()
            } else {
                format!("Set the same phase-1 {labels} on both ends (IKE configuration of the Alibaba Cloud IPsec connection and of the on-premises gateway).")
            };
            self.hit(Code::IkeProposalMismatch, &lines, msg, &fix);
        } else if diff.dh_only {
            let (_, r, c) = diff
                .kinds
                .iter()
                .find(|k| k.0 == Kind::DhGroup)
                .cloned()
                .unwrap_or((Kind::DhGroup, String::new(), String::new()));
            let what = if r.is_empty() {
                String::new()
            } else {
                format!(" The peer offers {r}, this gateway's matching proposal has {c}.")
            };
            let msg = format!(
                "Phase 1 is up, but phase 2 with {peer} fails on PFS: the peer's ESP proposal and this gateway's agree on encryption and integrity but not on the DH group used for perfect forward secrecy, so this gateway answered NO_PROPOSAL_CHOSEN.{what}{offered}"
            );
            self.hit(Code::PfsMismatch, &lines, msg, FIX_PFS);
        } else {
            let what = &differing;
            let msg = format!(
                "Phase 1 is up, but phase 2 with {peer} fails: none of the peer's ESP (phase-2) proposals is acceptable to this gateway, so it answered NO_PROPOSAL_CHOSEN. {what}{offered}"
            );
            let fix = if labels.is_empty() {
                FIX_PROPOSAL_GENERIC_ESP.to_string()
            } else {
                format!("Set the same phase-2 (IPsec) {labels} on both ends.")
            };
            self.hit(Code::IpsecProposalMismatch, &lines, msg, &fix);
        }
        self.child_lookup = None;
    }

    /// The peer (as responder) refused this gateway's CHILD_SA with NO_PROPOSAL_CHOSEN.
    /// This end's log shows only its own offer; the transform is inferred by comparing it
    /// with the IKE algorithms the peer accepted in this same negotiation.
    fn child_refused(&mut self, mut lines: Vec<usize>, ikev2_child: bool) {
        let peer = self.peer();
        let in_ike_auth = ikev2_child && self.last_exchange.as_deref() == Some("IKE_AUTH");
        let own = self.own_esp.clone();
        if let Some((l, _)) = &own {
            lines.push(*l);
        }
        let basis = self
            .selected_ike
            .clone()
            .or(self.own_ike.clone().map(|x| x.1));
        let mut suspect = Vec::new();
        let mut code = Code::IpsecProposalMismatch;
        let mut detail = String::new();
        if let (Some((_, esp)), Some(ike)) = (&own, &basis) {
            let ike_has = |k: Kind, v: &str| ike.iter().any(|p| p.values(k).contains(&v));
            for k in [Kind::Encryption, Kind::Integrity] {
                let vals: Vec<&str> = esp.iter().flat_map(|p| p.values(k)).collect();
                if !vals.is_empty() && !vals.iter().any(|v| ike_has(k, v)) {
                    suspect.push((k, show_values(&vals, k, true)));
                }
            }
            let accepted = |k: Kind| {
                let v: Vec<&str> = ike.iter().flat_map(|p| p.values(k)).collect();
                show_values(&v, k, false)
            };
            if !suspect.is_empty() {
                detail = format!(
                    " This gateway offered {}; in this negotiation the peer accepted {} for IKE, so the likely difference is the phase-2 {}.",
                    proposals_text(esp),
                    suspect
                        .iter()
                        .map(|(k, _)| format!("{} {}", k.label(), accepted(*k)))
                        .collect::<Vec<_>>()
                        .join(" and "),
                    suspect.iter().map(|(k, _)| k.label()).collect::<Vec<_>>().join(" and ")
                );
            } else if !in_ike_auth {
                let dh: Vec<&str> = esp.iter().flat_map(|p| p.values(Kind::DhGroup)).collect();
                code = Code::PfsMismatch;
                detail = if dh.is_empty() {
                    format!(
                        " This gateway offered {} without PFS; the peer accepted the same encryption and integrity for IKE, so the likely difference is PFS: the peer requires a PFS DH group.",
                        proposals_text(esp)
                    )
                } else {
                    format!(
                        " This gateway offered {} with PFS {}; the peer accepted the same encryption and integrity for IKE, so the likely difference is PFS: the peer has PFS disabled or uses another DH group.",
                        proposals_text(esp),
                        show_values(&dh, Kind::DhGroup, true)
                    )
                };
            } else {
                detail = format!(" This gateway offered {}.", proposals_text(esp));
            }
        }
        let (src, dst) = self.offer_lists();
        let traffic = if src.is_empty() && dst.is_empty() {
            ""
        } else {
            " for {pairs} (this side === peer side)"
        };
        let msg = format!(
            "Phase 1 is up, but {peer} refused this gateway's phase-2 (CHILD_SA) proposal{traffic} with NO_PROPOSAL_CHOSEN.{detail} The peer's log ('received proposals' vs 'configured proposals') confirms the transform."
        );
        let fix = match code {
            Code::PfsMismatch => FIX_PFS.to_string(),
            _ if !suspect.is_empty() => format!(
                "Set the same phase-2 (IPsec) {} on both ends.",
                suspect
                    .iter()
                    .map(|(k, _)| k.label())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            _ => FIX_PROPOSAL_GENERIC_ESP.to_string(),
        };
        self.hit(code, &lines, msg, &fix);
        self.set_traffic(src, dst);
    }

    fn offer_lists(&self) -> (Vec<String>, Vec<String>) {
        (
            self.offer.us.iter().map(|x| x.1.clone()).collect(),
            self.offer.other.iter().map(|x| x.1.clone()).collect(),
        )
    }

    /// The peer refused this gateway's traffic selectors.
    fn ts_refused_by_peer(&mut self, mut lines: Vec<usize>, notify: &str) {
        let (us, other) = self.offer_lists();
        lines.extend(self.offer.us.iter().chain(&self.offer.other).map(|x| x.0));
        let what = if us.is_empty() && other.is_empty() {
            "traffic selectors".to_string()
        } else {
            "traffic selectors {pairs} (this side === peer side)".to_string()
        };
        let msg = format!(
            "Phase 1 is up, but {} refused this gateway's {what} with {notify}: the peer's local/remote subnets for this connection differ from these. The peer's log names the subnets it expects.",
            self.peer()
        );
        self.hit(Code::TrafficSelectorMismatch, &lines, msg, FIX_TS);
        self.set_traffic(us, other);
    }

    /// Records the traffic of the last cause, as this side === peer side.
    fn set_traffic(&mut self, us: Vec<String>, other: Vec<String>) {
        if let Some(i) = self.last_hit {
            let h = &mut self.hits[i];
            if !us.is_empty() || !other.is_empty() {
                h.pairs = vec![format!("{} === {}", us.join(" "), other.join(" "))];
            }
            h.source = us;
            h.destination = other;
        }
    }

    /// This gateway (as responder) found no child configuration for the peer's selectors.
    fn ts_refused_here(&mut self, no: usize, ours: Vec<String>, theirs: Vec<String>) {
        let mut lines = vec![no];
        let mut differs = Vec::new();
        let lookup = self.child_lookup.take();
        if let Some((l, _, _)) = &lookup {
            lines.push(*l);
        }
        let cfg = std::mem::take(&mut self.cfg);
        let covered =
            |wanted: &str, have: &[(usize, String)]| have.iter().any(|(_, h)| ts_covers(h, wanted));
        let side = |wanted: &[String],
                    have: &[(usize, String)],
                    lines: &mut Vec<usize>,
                    who: &str,
                    whose: &str| {
            let missing: Vec<&String> = wanted.iter().filter(|w| !covered(w, have)).collect();
            if missing.is_empty() || have.is_empty() {
                return None;
            }
            lines.extend(have.iter().map(|x| x.0));
            let mut have_set: Vec<&str> = have.iter().map(|x| x.1.as_str()).collect();
            have_set.sort();
            have_set.dedup();
            Some(format!(
                "{who} {} is not within this gateway's {whose} subnets {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                have_set.join(" ")
            ))
        };
        if let Some(s) = side(&theirs, &cfg.other, &mut lines, "the peer's side", "remote") {
            differs.push(s);
        }
        if let Some(s) = side(
            &ours,
            &cfg.us,
            &mut lines,
            "the side requested of this gateway",
            "local",
        ) {
            differs.push(s);
        }
        let notify = if self.v1 && !self.v2 {
            "INVALID_ID_INFORMATION"
        } else {
            "TS_UNACCEPTABLE"
        };
        let differs = if differs.is_empty() {
            String::new()
        } else {
            format!(" {}.", capitalize(&differs.join("; ")))
        };
        let msg = format!(
            "Phase 1 is up, but phase 2 with {} fails: the peer proposed the subnets {{pairs}} (this side === peer side) and no child configuration on this gateway matches them, so it refused the CHILD_SA with {notify}.{differs} The local/remote subnets of the two ends differ.",
            self.peer()
        );
        self.hit(Code::TrafficSelectorMismatch, &lines, msg, FIX_TS);
        self.set_traffic(ours, theirs);
    }

    fn child_up(
        &mut self,
        no: usize,
        sa: String,
        name: String,
        local: Vec<String>,
        remote: Vec<String>,
    ) {
        let (want_local, want_remote) = if !self.sel_ts.is_empty() {
            let mut l: Vec<(usize, String)> = Vec::new();
            let mut r: Vec<(usize, String)> = Vec::new();
            for (us, line, cfg, _) in &self.sel_ts {
                let side = if *us { &mut l } else { &mut r };
                if side.iter().all(|x| &x.1 != cfg) {
                    side.push((*line, cfg.clone()));
                }
            }
            (l, r)
        } else {
            (self.offer.us.clone(), self.offer.other.clone())
        };
        self.children.push(ChildRec {
            line: no,
            sa,
            name,
            local,
            remote,
            want_local,
            want_remote,
        });
        self.sel_ts.clear();
        self.child_lookup = None;
        self.cfg = TsBlock::default();
        self.offer = TsBlock::default();
    }

    /// Causes that need the whole negotiation: peer not responding, FAQ 5 layouts, and
    /// mixed IKE versions in one (untagged) negotiation.
    fn finish(mut self) -> Vec<Hit> {
        if self.is_pluto && self.established.is_none() {
            self.pluto_silence();
        } else {
            self.weak = true;
            self.silence();
            self.weak = false;
        }
        if self.v1 && self.v2 {
            // The same negotiation shows IKEv1 and IKEv2 messages (as in the FAQ's quote):
            // whatever phase-1 refusal it shows stems from the version difference.
            let mut lines = BTreeSet::new();
            self.hits.retain(|h| {
                if PHASE1.contains(&h.code) && h.code != Code::PeerNotResponding {
                    lines.extend(h.lines.iter().copied());
                    false
                } else {
                    true
                }
            });
            if !lines.is_empty() {
                let lines: Vec<usize> = lines.into_iter().collect();
                self.hit(
                    Code::IkeVersionMismatch,
                    &lines,
                    "IKE phase 1 fails: the negotiation shows both IKEv2 messages (IKE_SA_INIT, 'notify error') and IKEv1 notifications ('error notify'), and the peer refused it (NO_PROPOSAL_CHOSEN / AUTHENTICATION_FAILED). The two ends use different IKE versions.".to_string(),
                    FIX_VERSION,
                );
            }
        }
        self.faq5();
        let conn = self.conn.clone();
        let peer = self.peer.as_deref().map(bare_addr);
        let local = self.local.as_deref().map(bare_addr);
        for h in &mut self.hits {
            h.conn = conn.clone();
            h.peer = peer.clone();
            h.local = local.clone();
            h.msgids = self.msgids.clone();
        }
        self.hits
    }

    /// Causes shown by silence: the peer stopped answering on an established IKE_SA
    /// (dead peer detection or a rekey), after the switch to UDP 4500 (NAT-T blocked), or
    /// never answered at all.
    fn silence(&mut self) {
        if let Some(est) = self.established {
            self.silence_established(est);
            return;
        }
        if self.has_phase1_hit() {
            return;
        }
        let gave_up = !self.giveups.is_empty();
        if let Some(l4500) = self.sent_4500 {
            let retrans: Vec<usize> = self
                .retransmits
                .iter()
                .map(|x| x.0)
                .filter(|&l| l > l4500)
                .collect();
            if !retrans.is_empty() || gave_up {
                let mut lines = vec![l4500];
                lines.extend(&retrans);
                lines.extend(&self.giveups);
                lines.extend(self.start_line);
                let what = match self.last_exchange.as_deref() {
                    Some("ID_PROT") => {
                        "its Main Mode message 5 (ID_PROT: identity and HASH)".to_string()
                    }
                    Some("AGGRESSIVE") => "its last Aggressive Mode message".to_string(),
                    Some(x) => format!("its {x} request"),
                    None => "its next message".to_string(),
                };
                let msg = format!(
                    "IKE phase 1{} fails at the switch to NAT-T: {} answered on UDP 500, then this gateway sent {what} to UDP port 4500 and retransmitted it {} time{}{} without an answer. UDP 4500 (NAT traversal) is blocked on the path or at the peer; the peer's log would show the negotiation as half open ('deleting half open IKE_SA … after timeout').",
                    self.version_paren(),
                    self.peer(),
                    retrans.len(),
                    if retrans.len() == 1 { "" } else { "s" },
                    if gave_up { " and gave up" } else { "" }
                );
                self.hit(Code::NatTBlocked, &lines, msg, FIX_NAT_T);
                return;
            }
        }
        // An Aggressive Mode responder logs no NAT detection (the NAT-D payloads it
        // checks come in the initiator's last message): that it answered with NAT-D
        // payloads, and heard nothing after, is what shows the switch to UDP 4500.
        let aggr_waiting = self.mode == Some(Mode::Aggressive)
            && self
                .aggr_natd_response
                .is_some_and(|r| self.last_received.is_none_or(|l| l < r));
        if self.responded
            && (self.nat_detected || aggr_waiting)
            && (gave_up || self.half_open.is_some() || !self.retransmits.is_empty())
        {
            let mut lines: Vec<usize> = self.retransmits.iter().map(|x| x.0).collect();
            lines.extend(&self.giveups);
            lines.extend(self.half_open);
            lines.extend(self.start_line);
            lines.extend(self.aggr_natd_response.filter(|_| aggr_waiting));
            let next = match self.mode {
                Some(Mode::Aggressive) => "the peer's last Aggressive Mode message",
                Some(Mode::Main) => "the peer's Main Mode message 5",
                None => "the peer's IKE_AUTH request",
            };
            let n = self.retransmits.len();
            let how = if self.half_open.is_some() {
                " ('deleting half open IKE_SA … after timeout')".to_string()
            } else if aggr_waiting && n > 0 {
                format!(
                    "; this gateway retransmitted its reply {n} time{}{}",
                    if n == 1 { "" } else { "s" },
                    if gave_up { " and gave up" } else { "" }
                )
            } else {
                String::new()
            };
            let how_nat = if aggr_waiting {
                " once NAT-T is in use (both ends announced it, and this gateway's reply carried NAT-D payloads)"
            } else {
                " (NAT-T)"
            };
            let msg = format!(
                "IKE phase 1{} with {} stays half open: this gateway answered the peer's first message over UDP 500, then {next}, which travels over UDP 4500{how_nat}, never arrived{how}. UDP 4500 is most likely blocked towards this gateway. The peer's log settles it: retransmits of that message on port 4500 confirm blocked NAT-T{}.",
                if aggr_waiting {
                    " (IKEv1 Aggressive Mode)".to_string()
                } else {
                    self.version_paren()
                },
                self.peer(),
                if self.mode == Some(Mode::Aggressive) { "; 'calculated HASH does not match HASH payload' there means the pre-shared keys differ instead" } else { "" }
            );
            self.hit(Code::NatTBlocked, &lines, msg, FIX_NAT_T);
            return;
        }
        self.not_responding();
    }

    /// An established IKE_SA whose peer stopped answering: a DPD exchange or a rekey
    /// (CREATE_CHILD_SA) timed out.
    fn silence_established(&mut self, est: usize) {
        let retrans: Vec<usize> = self
            .retransmits
            .iter()
            .map(|x| x.0)
            .filter(|&l| l > est)
            .collect();
        let giveups: Vec<usize> = self.giveups.iter().copied().filter(|&l| l > est).collect();
        if retrans.is_empty() && giveups.is_empty() && self.dpd_timed_out.is_none() {
            return;
        }
        if self.aggressive_after_4500(est, &retrans, &giveups) {
            return;
        }
        let request = self.last_request.clone().filter(|r| r.0 > est);
        let n = retrans.len();
        let tail = format!(
            "retransmitted it {n} time{}{}",
            if n == 1 { "" } else { "s" },
            if giveups.is_empty() && self.dpd_timed_out.is_none() {
                ""
            } else {
                " and gave up, deleting the IKE_SA and its CHILD_SAs"
            }
        );
        let mut lines: Vec<usize> = retrans.clone();
        lines.extend(&giveups);
        lines.extend(self.dpd_timed_out);
        if let Some((l, ex, payloads)) = request.as_ref().filter(|r| r.1 == "CREATE_CHILD_SA") {
            lines.push(*l);
            let what = if payloads.contains("N(REKEY_SA)") {
                "rekey a CHILD_SA"
            } else if payloads.contains("TSi") {
                "create a CHILD_SA"
            } else {
                "rekey the IKE_SA"
            };
            let msg = format!(
                "The IKE_SA{} with {} was established, then this gateway's {ex} request to {what} got no answer: this gateway {tail}. The tunnel went down at the rekey; the peer became unreachable (UDP 500/4500 dropped on the path, or the peer gateway is down). Its log would show whether the request arrived.",
                self.version_paren(),
                self.peer()
            );
            self.hit(Code::RekeyFailed, &lines, msg, FIX_DPD);
            return;
        }
        if self.dpd.is_empty() && self.dpd_timed_out.is_none() {
            return;
        }
        lines.extend(self.dpd.iter().copied().filter(|&l| l > est));
        let how = if self.dpd_timed_out.is_some() {
            "'DPD check timed out'".to_string()
        } else {
            format!("this gateway {tail}")
        };
        let msg = format!(
            "Dead peer: the IKE_SA{} with {} was established, then the peer stopped answering dead peer detection (DPD): {how}. The tunnel was up and went down; the peer became unreachable (UDP 500/4500 dropped on the path, the peer gateway restarted or is down).",
            self.version_paren(),
            self.peer()
        );
        self.hit(Code::DpdTimeout, &lines, msg, FIX_DPD);
    }

    /// An IKEv1 Aggressive Mode initiator counts the IKE_SA established when the peer's
    /// reply (over UDP 500) verifies, before its own last message, which goes to UDP 4500
    /// once NAT-T is in use. If the peer then keeps resending its reply (it never got that
    /// last message) or nothing at all comes back after the switch, while this end's
    /// messages on 4500 go unanswered, UDP 4500 is blocked: the same cause as a Main Mode
    /// message 5 lost on port 4500, not a dead peer.
    fn aggressive_after_4500(&mut self, est: usize, retrans: &[usize], giveups: &[usize]) -> bool {
        if self.mode != Some(Mode::Aggressive) {
            return false;
        }
        let Some(l4500) = self.first_4500.filter(|&l| l > est) else {
            return false;
        };
        let resent: Vec<usize> = self
            .peer_resent
            .iter()
            .copied()
            .filter(|&l| l > l4500)
            .collect();
        let silent = self.last_received.is_none_or(|l| l < l4500);
        if retrans.is_empty() && giveups.is_empty() || resent.is_empty() && !silent {
            return false;
        }
        let mut lines = vec![l4500];
        lines.extend(&resent);
        lines.extend(retrans);
        lines.extend(giveups);
        lines.extend(self.start_line);
        let n = retrans.len();
        let peer_side = if resent.is_empty() {
            "nothing came back after the switch".to_string()
        } else {
            format!(
                "the peer kept resending its Aggressive Mode reply over UDP 500 ({} time{}: it never received this gateway's last message)",
                resent.len(),
                if resent.len() == 1 { "" } else { "s" }
            )
        };
        let msg = format!(
            "IKE phase 1 (IKEv1 Aggressive Mode) with {} fails at the switch to NAT-T: the peer answered over UDP 500 and this gateway took the IKE_SA as established, then sent its last Aggressive Mode message and the Quick Mode request to UDP port 4500; {peer_side}, and the Quick Mode request was retransmitted {n} time{}{} without an answer. UDP 4500 (NAT traversal) is blocked on the path or at the peer; the peer's log would show its Aggressive Mode reply retransmitted until it gave up.",
            self.peer(),
            if n == 1 { "" } else { "s" },
            if giveups.is_empty() { "" } else { " and gave up" }
        );
        self.hit(Code::NatTBlocked, &lines, msg, FIX_NAT_T);
        true
    }

    /// The peer never answered (or stopped answering before anything else failed).
    fn not_responding(&mut self) {
        if !self.giveups.is_empty() || (!self.retransmits.is_empty() && !self.heard) {
            let mut lines: Vec<usize> = self.retransmits.iter().map(|x| x.0).collect();
            lines.extend(&self.giveups);
            lines.extend(self.start_line);
            let n = self.retransmits.len();
            let msgid = self.retransmits.last().map(|x| x.1).unwrap_or(0);
            let gave_up = if self.giveups.is_empty() {
                String::new()
            } else {
                " and gave up".to_string()
            };
            let msg = if self.heard {
                format!(
                    "IKE phase 1{} fails: {} answered earlier messages but not message ID {msgid}; this gateway retransmitted it {n} times{gave_up}. Typically UDP 4500 (NAT-T) or IP fragments of the larger IKE_AUTH message are dropped on the path.",
                    self.version_paren(),
                    self.peer()
                )
            } else {
                format!(
                    "IKE phase 1{} fails: {} never answered; this gateway sent its first IKE message, retransmitted it {n} time{}{gave_up} ('peer not responding'). The peer is down, does not run IKE for this address, or the address this gateway dials (customer gateway IP / peer IP) is wrong, or UDP 500/4500 is blocked on the path. A peer that ignores this IKE version or mode stays silent too (Libreswan does): the peer's log settles it.",
                    self.version_paren(),
                    self.peer(),
                    if n == 1 { "" } else { "s" }
                )
            };
            self.hit(Code::PeerNotResponding, &lines, msg, FIX_NOT_RESPONDING);
        }
    }

    fn faq5(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let version = self.version_paren();
        let v1 = self.version() == Some("IKEv1");
        // Subnets the connection lists that no CHILD_SA of it carries.
        let mut names: Vec<&str> = self.children.iter().map(|c| c.name.as_str()).collect();
        let mut seen = BTreeSet::new();
        names.retain(|n| seen.insert(*n));
        let mut new_hits = Vec::new();
        let mut narrowed = Vec::new();
        for name in names {
            let kids: Vec<&ChildRec> = self.children.iter().filter(|c| c.name == name).collect();
            let got_l: Vec<&String> = kids.iter().flat_map(|c| &c.local).collect();
            let got_r: Vec<&String> = kids.iter().flat_map(|c| &c.remote).collect();
            let miss = |want: Vec<&(usize, String)>, got: &[&String]| {
                let mut out: Vec<(usize, String)> = Vec::new();
                for (l, w) in want {
                    if !got.iter().any(|g| ts_covers(g, w)) && out.iter().all(|x| &x.1 != w) {
                        out.push((*l, w.clone()));
                    }
                }
                out
            };
            let miss_l = miss(kids.iter().flat_map(|c| &c.want_local).collect(), &got_l);
            let miss_r = miss(kids.iter().flat_map(|c| &c.want_remote).collect(), &got_r);
            if miss_l.is_empty() && miss_r.is_empty() {
                continue;
            }
            // Narrowed: an IKEv2 CHILD_SA carries less than this end asked for, or an
            // IKEv1 one carries part of a subnet this end asked for.
            let part = |m: &[(usize, String)], got: &[&String]| {
                m.iter().any(|(_, w)| got.iter().any(|g| ts_covers(w, g)))
            };
            if !v1 || part(&miss_l, &got_l) || part(&miss_r, &got_r) {
                // IKEv1: only the subnets partly carried were narrowed (the others are
                // the one-pair-per-SA layout).
                let only_part =
                    |m: Vec<(usize, String)>, got: &[&String]| -> Vec<(usize, String)> {
                        m.into_iter()
                            .filter(|(_, w)| !v1 || got.iter().any(|g| ts_covers(w, g)))
                            .collect()
                    };
                let (miss_l, miss_r) = (only_part(miss_l, &got_l), only_part(miss_r, &got_r));
                narrowed.push((
                    kids.iter().map(|c| c.line).collect::<Vec<_>>(),
                    name.to_string(),
                    miss_l,
                    miss_r,
                    got_l.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    got_r.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                ));
                continue;
            }
            let mut lines: Vec<usize> = kids.iter().map(|c| c.line).collect();
            lines.extend(miss_l.iter().chain(&miss_r).map(|x| x.0));
            let carried = kids
                .iter()
                .map(|c| format!("{} {} === {}", c.sa, c.local.join(" "), c.remote.join(" ")))
                .collect::<Vec<_>>()
                .join("; ");
            let mut missing = Vec::new();
            if !miss_l.is_empty() {
                missing.push(format!(
                    "{} (this side)",
                    miss_l
                        .iter()
                        .map(|x| x.1.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            if !miss_r.is_empty() {
                missing.push(format!(
                    "{} (peer side)",
                    miss_r
                        .iter()
                        .map(|x| x.1.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            let why = if v1 {
                " IKEv1 negotiates one subnet pair per SA, so with several subnets on one connection only the first pair gets an SA and the others fail silently."
            } else {
                ""
            };
            let msg = format!(
                "Phase 2 is up ({carried}), but child '{name}' also lists {}, which no SA carries: traffic to and from these subnets has no tunnel, so some networks work and others do not.{why}",
                missing.join(" and ")
            );
            let src: Vec<String> = if miss_l.is_empty() {
                got_l.iter().map(|s| s.to_string()).collect()
            } else {
                miss_l.iter().map(|x| x.1.clone()).collect()
            };
            let dst: Vec<String> = if miss_r.is_empty() {
                kids.iter()
                    .flat_map(|c| c.want_remote.iter().map(|x| x.1.clone()))
                    .collect()
            } else {
                miss_r.iter().map(|x| x.1.clone()).collect()
            };
            new_hits.push((lines, msg, src, dst));
        }
        for (mut lines, name, miss_l, miss_r, got_l, got_r) in narrowed {
            lines.extend(miss_l.iter().chain(&miss_r).map(|x| x.0));
            let left = |m: &[(usize, String)], got: &[String]| {
                let want = AddrSet::from_cidrs(&to_cidrs(
                    &m.iter().map(|x| x.1.clone()).collect::<Vec<_>>(),
                ));
                want.minus(&AddrSet::from_cidrs(&to_cidrs(got))).cidrs()
            };
            let (left_l, left_r) = (left(&miss_l, &got_l), left(&miss_r, &got_r));
            let show = |v: &[Cidr]| {
                v.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut parts = Vec::new();
            if !left_l.is_empty() {
                parts.push(format!("{} (this side)", show(&left_l)));
            }
            if !left_r.is_empty() {
                parts.push(format!("{} (peer side)", show(&left_r)));
            }
            let msg = format!(
                "Phase 2 is up, but the peer narrowed child '{name}' to {} === {}: it carries less than this gateway asked for, and {} {} no SA. Traffic there has no tunnel while the rest works; the peer's local/remote subnets cover only part of this side's.",
                got_l.join(" "),
                got_r.join(" "),
                parts.join(" and "),
                if parts.len() == 1 && (left_l.len() + left_r.len()) == 1 { "has" } else { "have" }
            );
            self.hit(Code::TsNarrowed, &lines, msg, FIX_TS);
            let i = self.hits.len() - 1;
            self.hits[i].source = if left_l.is_empty() {
                dedup(got_l)
            } else {
                left_l.iter().map(|c| c.to_string()).collect()
            };
            self.hits[i].destination = if left_r.is_empty() {
                dedup(got_r)
            } else {
                left_r.iter().map(|c| c.to_string()).collect()
            };
        }
        for (lines, msg, src, dst) in new_hits {
            self.hit(
                Code::SubnetsWithoutSa,
                &lines,
                msg,
                "Use IKEv2 on both ends so that one SA carries all subnets, or split the connection into one IPsec connection per subnet pair with identical phase-1 parameters (`vpntrace split`).",
            );
            let i = self.hits.len() - 1;
            self.hits[i].source = dedup(src);
            self.hits[i].destination = dedup(dst);
        }
        // Several CHILD_SAs with different subnets under one IKE_SA.
        let mut distinct: Vec<&ChildRec> = Vec::new();
        for c in &self.children {
            if distinct
                .iter()
                .all(|d| (&d.local, &d.remote) != (&c.local, &c.remote))
            {
                distinct.push(c);
            }
        }
        if distinct.len() > 1 {
            let lines: Vec<usize> = distinct.iter().map(|c| c.line).collect();
            let list = distinct
                .iter()
                .map(|c| format!("{} {} === {}", c.sa, c.local.join(" "), c.remote.join(" ")))
                .collect::<Vec<_>>()
                .join("; ");
            let mut all_l: Vec<String> = Vec::new();
            let mut all_r: Vec<String> = Vec::new();
            for c in &distinct {
                all_l.extend(c.local.iter().cloned());
                all_r.extend(c.remote.iter().cloned());
            }
            let (all_l, all_r) = (dedup(all_l), dedup(all_r));
            let msg = format!(
                "One IKE_SA{version} carries {} CHILD_SAs with different subnets: {list}. FAQ 5: normally one SA carries all subnets of a connection ({} === {}); a gateway that negotiates one SA per subnet pair (IKEv1, or a non-standard IKEv2 implementation) makes some networks work and others not on an Alibaba Cloud IPsec connection.",
                distinct.len(),
                all_l.join(" "),
                all_r.join(" ")
            );
            self.hit(
                Code::MultipleChildSas,
                &lines,
                msg,
                "Configure the on-premises gateway to negotiate one CHILD_SA that carries all subnets (IKEv2), or split the Alibaba Cloud IPsec connection into one connection per subnet pair with identical phase-1 parameters (`vpntrace split`).",
            );
            let i = self.hits.len() - 1;
            self.hits[i].source = all_l;
            self.hits[i].destination = all_r;
        }
    }
}

const FIX_PROPOSAL_GENERIC_IKE: &str = "Set the same phase-1 (IKE) encryption, integrity and DH group on both ends; the responder's log ('received proposals' vs 'configured proposals') shows which one differs.";
const FIX_PROPOSAL_GENERIC_ESP: &str = "Set the same phase-2 (IPsec) encryption and integrity algorithms on both ends; the responder's log ('received proposals' vs 'configured proposals') shows which one differs.";
const FIX_PFS: &str = "Set the same PFS DH group for phase 2 on both ends, or disable PFS on both (Alibaba Cloud: IpsecConfig.IpsecPfs, e.g. group2 or group14 on both, or disabled on both).";

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Does selector `have` contain selector `want`? Selectors that are not plain CIDRs
/// (`dynamic`, with protocol/port) compare by text.
fn ts_covers(have: &str, want: &str) -> bool {
    let parse = |s: &str| s.split('[').next().unwrap_or(s).parse::<Cidr>().ok();
    match (parse(have), parse(want)) {
        (Some(h), Some(w)) => {
            let (hl, hh) = h.bounds();
            let (wl, wh) = w.bounds();
            hl <= wl && wh <= hh
        }
        _ => have == want,
    }
}

fn to_cidrs(v: &[String]) -> Vec<Cidr> {
    v.iter()
        .filter_map(|s| s.split('[').next().unwrap_or(s).parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Per file
// ---------------------------------------------------------------------------------------

/// `198.51.100.1[500]`, `198.51.100.1:500`, `198.51.100.1` → `198.51.100.1` (an IPv6
/// address keeps its colons).
fn bare_addr(s: &str) -> String {
    let s = s.trim();
    let s = s.split('[').next().unwrap_or(s);
    match s.split_once(':') {
        Some((a, port)) if !port.contains(':') && a.contains('.') => a.to_string(),
        _ => s.to_string(),
    }
}

/// The addresses and IKEv1 message IDs a charon line names, noted on its negotiation.
fn note_identity(sa: &mut Sa, body: &str) {
    let b = body.trim();
    if let Some(rest) = b.strip_prefix("received packet: from ") {
        if let Some((_, to)) = rest.split_once(" to ") {
            sa.local
                .get_or_insert(bare_addr(to.split(' ').next().unwrap_or(to)));
        }
    } else if let Some(rest) = b.strip_prefix("sending packet: from ") {
        sa.local
            .get_or_insert(bare_addr(rest.split(' ').next().unwrap_or(rest)));
    }
    for prefix in ["parsed ", "generating "] {
        let Some(rest) = b.strip_prefix(prefix) else {
            continue;
        };
        let mut w = rest.split(' ');
        let (Some(exchange), Some(_), Some(id)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        // IKEv2 message IDs count 0, 1, 2… on every IKE_SA; IKEv1's are random.
        if matches!(exchange, "QUICK_MODE" | "INFORMATIONAL_V1" | "TRANSACTION") {
            if let Some(id) = id.parse::<u32>().ok().filter(|&id| id != 0) {
                sa.msgids.insert(id);
            }
        }
    }
}

/// The time a log line carries, in seconds within its year (syslog and charon file log
/// `Nov 30 02:02:31`, pluto's `Nov 30 02:06:46.151882:`, ISO `2026-11-30T02:02:31`), for
/// pairing the two ends' findings by time. No year: a log across New Year pairs by stage.
fn line_time(raw: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let raw = raw.trim_start();
    let hms = |t: &str| -> Option<u64> {
        let t = t.get(..8)?;
        let mut it = t.split(':').map(|x| x.parse::<u64>().ok());
        let (h, m, s) = (it.next()??, it.next()??, it.next()??);
        (h < 24 && m < 60 && s < 61).then_some(h * 3600 + m * 60 + s)
    };
    let (month, day, clock) =
        if raw.len() >= 19 && raw.as_bytes()[4] == b'-' && raw.as_bytes()[10] == b'T' {
            let month: u64 = raw.get(5..7)?.parse().ok()?;
            let day: u64 = raw.get(8..10)?.parse().ok()?;
            (month.checked_sub(1)?, day, hms(raw.get(11..)?)?)
        } else {
            let mut w = raw.split_whitespace();
            let name = w.next()?;
            let month = MONTHS.iter().position(|m| *m == name)? as u64;
            let day: u64 = w.next()?.parse().ok()?;
            (month, day, hms(w.next()?)?)
        };
    Some((month * 32 + day) * 86_400 + clock)
}

/// Which negotiation a line belongs to: charon's `<conn|N>` / pluto's `#N` tag within
/// one run of the daemon (the numbers start again at each start), or the n-th untagged
/// negotiation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SaKey {
    Tagged(u32, u32),
    Untagged(u32),
}

/// The daemon (re)starts: `Starting IKE charon daemon (strongSwan 5.9.8, …)`, `Starting
/// Pluto (Libreswan Version 4.10 …)`.
fn daemon_start(body: &str) -> bool {
    let b = body.trim_start();
    b.starts_with("Starting IKE charon daemon") || b.starts_with("Starting Pluto")
}

/// The SA a line shows established (or listed up), for the file summary.
fn established_of(no: usize, l: &SplitLine, ev: &Ev) -> Option<Established> {
    let (sa, between) = match ev {
        Ev::IkeEstablished { sa, between } => (format!("IKE_SA {sa}"), between.clone()),
        Ev::Pluto(pluto::Pl::Established(between)) => (
            format!(
                "IKE SA {}",
                l.tag
                    .as_ref()
                    .map(|t| format!("\"{}\" #{}", t.name.unwrap_or(""), t.id))
                    .unwrap_or_default()
            )
            .trim_end()
            .to_string(),
            between.clone(),
        ),
        Ev::ListedUp { sa, between } => (sa.clone(), between.clone()),
        Ev::ChildEstablished {
            sa, local, remote, ..
        } => (
            format!("CHILD_SA {sa}"),
            format!("{} === {}", local.join(" "), remote.join(" ")),
        ),
        _ => return None,
    };
    Some(Established {
        line: no,
        sa,
        between,
    })
}

fn classify_file(name: &str, content: &str) -> (Vec<(Finding, Meta)>, FileSummary, FileFacts) {
    let split: Vec<SplitLine> = content.lines().map(split_line).collect();
    let times: Vec<Option<u64>> = content.lines().map(line_time).collect();
    let conns = parse_dump(split.iter());
    let mut sas: BTreeMap<SaKey, Sa> = BTreeMap::new();
    let mut order: Vec<SaKey> = Vec::new();
    let mut untagged = 0u32;
    let mut epoch = 0u32;
    let mut established: Vec<Established> = Vec::new();
    for (i, l) in split.iter().enumerate() {
        let no = i + 1;
        // The load-conn dump is configuration, not negotiation.
        if is_dump(l) {
            continue;
        }
        if daemon_start(l.body) {
            epoch += 1;
            if sas
                .get(&SaKey::Untagged(untagged))
                .is_some_and(|s| !s.is_empty())
            {
                untagged += 1;
            }
            continue;
        }
        let ev = if l.group == Some("pluto") {
            pluto::recognize_pluto(l.body).map(Ev::Pluto)
        } else {
            recognize(l.body)
        };
        let Some(ev) = ev else {
            continue;
        };
        established.extend(established_of(no, l, &ev));
        let key = match &l.tag {
            Some(t) => SaKey::Tagged(epoch, t.id),
            None => {
                let starts = matches!(ev, Ev::Initiating { .. } | Ev::PeerInitiating { .. })
                    || matches!(&ev, Ev::Message { parsed: true, request: true, exchange, payloads }
                        if (exchange == "IKE_SA_INIT" || exchange == "ID_PROT" || exchange == "AGGRESSIVE")
                            && payloads.starts_with("SA"));
                if starts
                    && sas
                        .get(&SaKey::Untagged(untagged))
                        .is_some_and(|s| !s.is_empty())
                {
                    untagged += 1;
                }
                SaKey::Untagged(untagged)
            }
        };
        let sa = sas.entry(key).or_insert_with(|| {
            order.push(key);
            Sa::new(&conns)
        });
        if let Some(n) = l.tag.as_ref().and_then(|t| t.name) {
            sa.conn = Some(n.to_string());
        }
        if l.group != Some("pluto") {
            note_identity(sa, l.body);
        }
        sa.on(no, ev);
    }
    let mut hits: Vec<Hit> = Vec::new();
    for key in order {
        if let Some(sa) = sas.remove(&key) {
            hits.extend(sa.finish());
        }
    }
    let mut findings = merge(name, hits);
    for (f, meta) in &mut findings {
        let ts: Vec<u64> = f
            .lines
            .iter()
            .filter_map(|&l| times.get(l - 1).copied().flatten())
            .collect();
        meta.span = ts.iter().min().zip(ts.iter().max()).map(|(a, b)| (*a, *b));
    }
    let mut matched: BTreeSet<usize> = findings
        .iter()
        .flat_map(|f| f.0.lines.iter().copied())
        .collect();
    matched.extend(established.iter().map(|e| e.line));
    let mut facts = FileFacts {
        name: name.to_string(),
        range: times
            .iter()
            .flatten()
            .min()
            .zip(times.iter().flatten().max())
            .map(|(a, b)| (*a, *b)),
        times,
        ike_up: established
            .iter()
            .filter(|e| e.sa.starts_with("IKE"))
            .map(|e| e.line)
            .collect(),
        send_refused: Vec::new(),
        kernel_failed: false,
    };
    for (i, raw) in content.lines().enumerate() {
        if raw.contains("Operation not permitted")
            && (raw.contains("error writing to socket") || raw.contains("using UDP failed"))
        {
            facts.send_refused.push(i + 1);
        }
        facts.kernel_failed |= raw.contains("netlink response for Add SA");
    }
    let summary = FileSummary {
        file: name.to_string(),
        lines_read: split.len(),
        lines_matched: matched.len(),
        established,
    };
    (findings, summary, facts)
}

/// Equal causes of one file become one finding with all their lines (and all their
/// traffic selector pairs); a finding is weak (see [`Hit::weak`]) when all its causes are.
fn merge(file: &str, hits: Vec<Hit>) -> Vec<(Finding, Meta)> {
    let mut groups: Vec<Hit> = Vec::new();
    for h in hits {
        match groups
            .iter_mut()
            .find(|g| g.code == h.code && g.conn == h.conn && g.message == h.message)
        {
            Some(g) => {
                g.lines.extend(h.lines.iter().copied());
                g.weak &= h.weak;
                g.msgids.extend(h.msgids.iter().copied());
                g.peer = g.peer.take().or(h.peer);
                g.local = g.local.take().or(h.local);
                g.pairs = dedup(g.pairs.iter().chain(&h.pairs).cloned().collect());
                g.source = dedup(g.source.iter().chain(&h.source).cloned().collect());
                g.destination = dedup(
                    g.destination
                        .iter()
                        .chain(&h.destination)
                        .cloned()
                        .collect(),
                );
            }
            None => groups.push(h),
        }
    }
    let mut findings: Vec<(Finding, Meta)> = groups
        .into_iter()
        .map(|g| {
            let meta = Meta {
                weak: g.weak,
                span: None,
                local: g.local,
                peer: g.peer,
                msgids: g.msgids,
            };
            let message = g.message.replace("{pairs}", &g.pairs.join(", "));
            let info = g.code.info();
            let mut f = Finding::new(g.code, info.severity, info.faq[0], message, g.fix)
                .with_traffic(to_cidrs(&g.source), to_cidrs(&g.destination));
            f.connection = g.conn;
            f.file = Some(file.to_string());
            f.lines = g.lines.into_iter().collect();
            (f, meta)
        })
        .collect();
    findings.sort_by_key(|f| f.0.lines.first().copied().unwrap_or(0));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn one(text: &str) -> LogReport {
        classify(&[("t.log".to_string(), text.to_string())])
    }

    fn codes(r: &LogReport) -> Vec<Code> {
        r.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn prefixes_are_stripped() {
        let file =
            split_line("Nov 26 19:04:42 10[IKE] <vpn|1> initiating IKE_SA vpn[1] to 198.51.100.1");
        assert_eq!(file.group, Some("IKE"));
        assert_eq!(
            file.tag,
            Some(Tag {
                name: Some("vpn"),
                id: 1
            })
        );
        assert_eq!(file.body, "initiating IKE_SA vpn[1] to 198.51.100.1");

        let syslog = split_line(
            "Nov 26 19:04:42 gw charon[1234]: 10[IKE] <3> 198.51.100.2 is initiating an IKE_SA",
        );
        assert_eq!(syslog.tag, Some(Tag { name: None, id: 3 }));
        assert_eq!(syslog.body, "198.51.100.2 is initiating an IKE_SA");

        let journald = split_line(
            "Nov 26 19:04:42 gw charon-systemd[123]: received AUTHENTICATION_FAILED notify error",
        );
        assert_eq!(journald.group, None);
        assert_eq!(journald.tag, None);
        assert_eq!(journald.body, "received AUTHENTICATION_FAILED notify error");

        let bare = split_line("[IKE] IDir '1.2.3.4' does not match to '5.6.7.8'");
        assert_eq!(bare.group, Some("IKE"));
        assert_eq!(bare.body, "IDir '1.2.3.4' does not match to '5.6.7.8'");

        let dump = split_line("Nov 26 19:02:44 11[CFG]   remote_addrs = 198.51.100.1");
        assert_eq!(dump.body, "  remote_addrs = 198.51.100.1");

        // A payload list is no thread/group marker.
        let payloads = split_line("parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]");
        assert_eq!(payloads.group, None);
        assert_eq!(
            payloads.body,
            "parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]"
        );
    }

    #[test]
    fn recognizes_message_lines() {
        assert_eq!(
            recognize("parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]"),
            Some(Ev::Message {
                parsed: true,
                exchange: "IKE_SA_INIT".into(),
                request: false,
                payloads: "N(NO_PROP)".into()
            })
        );
        assert_eq!(
            recognize("received NO_PROPOSAL_CHOSEN notify error"),
            Some(Ev::Notify {
                name: "NO_PROPOSAL_CHOSEN".into(),
                v1_wording: false,
                child: false
            })
        );
        assert_eq!(
            recognize("received AUTHENTICATION_FAILED error notifyed"),
            Some(Ev::Notify {
                name: "AUTHENTICATION_FAILED".into(),
                v1_wording: true,
                child: false
            })
        );
        assert_eq!(
            recognize("received TS_UNACCEPTABLE notify, no CHILD_SA built"),
            Some(Ev::Notify {
                name: "TS_UNACCEPTABLE".into(),
                v1_wording: false,
                child: true
            })
        );
        assert_eq!(recognize("received NO_ADDITIONAL_ADDRESSES notify"), None);
        assert_eq!(
            recognize("remote host is behind NAT"),
            Some(Ev::NatDetected)
        );
        assert_eq!(
            recognize("retransmit 3 of request with message ID 0"),
            Some(Ev::Retransmit {
                msgid: 0,
                response: false
            })
        );
        assert_eq!(
            recognize("sending retransmit 1 of request message ID 0, seq 1"),
            Some(Ev::Retransmit {
                msgid: 0,
                response: false
            })
        );
        assert_eq!(
            recognize("sending retransmit 2 of response message ID 0, seq 1"),
            Some(Ev::Retransmit {
                msgid: 0,
                response: true
            })
        );
        assert_eq!(
            recognize("giving up after 5 retransmits"),
            Some(Ev::GivingUp)
        );
        assert_eq!(
            recognize("invalid HASH_V1 payload length, decryption failed?"),
            Some(Ev::DecryptFailed {
                payload: "HASH_V1".into()
            })
        );
        assert_eq!(
            recognize("tried 1 shared key for '198.51.100.1' - '198.51.100.2', but MAC mismatched"),
            Some(Ev::MacMismatch {
                ids: "198.51.100.1' - '198.51.100.2".into()
            })
        );
        assert_eq!(
            recognize("no acceptable KEY_EXCHANGE_METHOD found"),
            Some(Ev::NoAcceptable(Kind::DhGroup))
        );
        assert_eq!(
            recognize(
                "traffic selectors 10.0.0.0/8 172.30.128.0/17 === 172.30.96.0/19 unacceptable"
            ),
            Some(Ev::TsUnacceptable {
                ours: vec!["10.0.0.0/8".into(), "172.30.128.0/17".into()],
                theirs: vec!["172.30.96.0/19".into()]
            })
        );
        assert_eq!(
            recognize("no matching CHILD_SA config found for 172.30.96.0/19 === 10.0.0.0/8"),
            Some(Ev::NoChildConfig {
                ours: vec!["10.0.0.0/8".into()],
                theirs: vec!["172.30.96.0/19".into()]
            })
        );
        assert_eq!(
            recognize("CHILD_SA net{1} established with SPIs 25d33aea_i f6c5ccf0_o and TS 172.30.96.0/19 === 10.0.0.0/8 172.30.128.0/17"),
            Some(Ev::ChildEstablished {
                sa: "net{1}".into(),
                name: "net".into(),
                local: vec!["172.30.96.0/19".into()],
                remote: vec!["10.0.0.0/8".into(), "172.30.128.0/17".into()],
            })
        );
        assert_eq!(
            recognize(" config: 10.0.0.0/8, received: 172.30.128.0/17 => no match"),
            Some(Ev::TsSelect {
                config: "10.0.0.0/8".into(),
                matched: false
            })
        );
        assert_eq!(
            recognize(" 172.30.96.0/19"),
            Some(Ev::TsEntry("172.30.96.0/19".into()))
        );
    }

    #[test]
    fn proposals_and_transforms() {
        let (p, cont) =
            parse_proposals("ESP:AES_CBC_128/HMAC_SHA1_96/MODP_1024/NO_EXT_SEQ, ").unwrap();
        assert!(cont);
        assert_eq!(p[0].values(Kind::Encryption), vec!["AES_CBC_128"]);
        assert_eq!(p[0].values(Kind::Integrity), vec!["HMAC_SHA1_96"]);
        assert_eq!(p[0].values(Kind::DhGroup), vec!["MODP_1024"]);
        assert_eq!(p[0].values(Kind::Esn), vec!["NO_EXT_SEQ"]);
        assert_eq!(kind_of("AES_XCBC_96"), Kind::Integrity);
        assert_eq!(kind_of("PRF_HMAC_SHA2_256"), Kind::Prf);
        assert_eq!(kind_of("AES_GCM_16_256"), Kind::Encryption);
        assert!(parse_proposals("IKE: not a proposal").is_none());

        let (r, _) =
            parse_proposals("IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_1024")
                .unwrap();
        let (c, _) =
            parse_proposals("IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048")
                .unwrap();
        let d = proposal_diff(&r, &c, false);
        assert_eq!(d.kinds.len(), 1);
        assert_eq!(d.kinds[0].0, Kind::DhGroup);
        assert_eq!(d.kinds[0].1, "MODP_1024 (Alibaba Cloud: group2)");
        assert_eq!(d.kinds[0].2, "MODP_2048 (Alibaba Cloud: group14)");
    }

    // The FAQ's quoted lines, each block as a file of its own.

    #[test]
    fn faq1_psk() {
        let r = one("invalid HASH_V1 payload length, decryption failed?\ncould not decrypt payloads\nmessage parsing failed\n");
        assert_eq!(codes(&r), vec![Code::IkePskMismatch]);
        assert_eq!(r.findings[0].lines, vec![1, 2, 3]);
        assert_eq!(r.findings[0].faq, 1);
        assert_eq!(r.findings[0].file.as_deref(), Some("t.log"));
    }

    #[test]
    fn faq1_version() {
        let r = one("parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]\nreceived NO_PROPOSAL_CHOSEN notify error\nreceived AUTHENTICATION_FAILED error notify\n");
        assert_eq!(codes(&r), vec![Code::IkeVersionMismatch]);
        assert_eq!(r.findings[0].lines, vec![1, 2, 3]);
    }

    #[test]
    fn main_mode_request_to_an_aggressive_connection_is_a_mode_mismatch() {
        // Seen in the lab (ss_mode_ikev1aggr_idc): the identities agree, the mode does not.
        let r = one("[ENC] <1> parsed ID_PROT request 0 [ ID HASH N(INITIAL_CONTACT) ]\n[CFG] <1> looking for pre-shared key peer configs matching 198.51.100.1...198.51.100.2[198.51.100.2]\n[IKE] <1> found 1 matching config, but none allows pre-shared key authentication using Main Mode\n[ENC] <1> generating INFORMATIONAL_V1 request 1 [ HASH N(AUTH_FAILED) ]\n");
        assert_eq!(codes(&r), vec![Code::IkeModeMismatch]);
        assert!(
            r.findings[0].lines.contains(&3),
            "{:?}",
            r.findings[0].lines
        );
    }

    #[test]
    fn faq1_mode() {
        let r = one("received AUTHENTICATION_FAILED error notifyed\n");
        assert_eq!(codes(&r), vec![Code::IkeModeMismatch]);
        assert_eq!(r.findings[0].lines, vec![1]);
    }

    #[test]
    fn faq1_id() {
        let r = one("[IKE] IDir xxxx does not match to xxxx\n");
        assert_eq!(codes(&r), vec![Code::IkeIdMismatch]);
        assert_eq!(r.findings[0].lines, vec![1]);
    }

    #[test]
    fn faq1_peer_not_responding() {
        let r = one("[IKE] sending retransmit 1 of request message ID 0, seq 1\n");
        assert_eq!(codes(&r), vec![Code::PeerNotResponding]);
        assert_eq!(r.findings[0].lines, vec![1]);
    }

    #[test]
    fn faq1_customer_gateway_ip() {
        let r = one("received UNSUPPORTED_CRITICAL_PAYLOAD error notify\n");
        assert_eq!(codes(&r), vec![Code::CustomerGatewayIpInvalid]);
    }

    #[test]
    fn faq2_subnets_main_mode() {
        let r = one("received INVALID_ID_INFORMATION error notify\n");
        assert_eq!(codes(&r), vec![Code::TrafficSelectorMismatch]);
        assert_eq!(r.findings[0].faq, 2);
    }

    #[test]
    fn faq2_subnets_aggressive_mode() {
        let r = one("received HASH payload does not match \nintegrity check failed\n");
        assert_eq!(codes(&r), vec![Code::TrafficSelectorMismatch]);
        assert_eq!(r.findings[0].lines, vec![1, 2]);
    }

    #[test]
    fn faq2_algorithms() {
        let r = one("parsed INFORMATIONAL_V1 request 1234 [ HASH N(NO_PROP) ]\nreceived NO_PROPOSAL_CHOSEN error notify\n");
        assert_eq!(codes(&r), vec![Code::IpsecProposalMismatch]);
        assert_eq!(r.findings[0].lines, vec![1, 2]);
    }

    #[test]
    fn faq2_dh_group() {
        let r = one("ESP:AES_CBC_256/HMAC_SHA1_96/MODP_1024/NO_EXT_SEQ\nESP:AES_CBC_128/HMAC_SHA1_96/MODP_1024/NO_EXT_SEQ, \nESP:AES_CBC_128/AES_CBC_192/AES_CBC_256/3DES_CBC/BLOWFISH_CBC_256/HMAC_SHA2_256_128/HMAC_SHA2_384_192/HMAC_SHA2_512_256/HMAC_SHA1_96/AES_XCBC_96/HMAC_MD5_96/NO_EXT_SEQ\nno matching proposal found, sending NO_PROPOSAL_CHOSEN\n");
        assert_eq!(codes(&r), vec![Code::PfsMismatch]);
        assert_eq!(r.findings[0].lines, vec![1, 2, 3, 4]);
        assert!(
            r.findings[0].message.contains("MODP_1024"),
            "{}",
            r.findings[0].message
        );
    }

    #[test]
    fn nat_is_no_fault() {
        let r = one("Nov 26 19:02:44 12[IKE] <vpn|1> remote host is behind NAT\n");
        assert!(r.findings.is_empty());
        assert_eq!(r.lines_matched, 0);
        assert_eq!(r.lines_read, 1);
    }

    #[test]
    fn unknown_lines_are_skipped() {
        let r = one("hello\n\nNov 26 19:02:44 00[DMN] Starting IKE charon daemon\n");
        assert!(r.findings.is_empty());
        assert_eq!(r.lines_read, 3);
    }

    /// The Aggressive Mode responder's side of blocked UDP 4500 (from the lab run
    /// ss_natt_ikev1aggr_idc): it answered with NAT-D payloads, then heard nothing.
    const AGGR_RESPONDER: &str = "\
Nov 30 02:02:31 15[NET] <1> received packet: from 198.51.100.2[500] to 198.51.100.1[500] (488 bytes)
Nov 30 02:02:31 15[ENC] <1> parsed AGGRESSIVE request 0 [ SA KE No ID V V V V V ]
Nov 30 02:02:31 15[IKE] <1> 198.51.100.2 is initiating a Aggressive Mode IKE_SA
Nov 30 02:02:31 15[ENC] <vpn|1> generating AGGRESSIVE response 0 [ SA KE No ID V V V V NAT-D NAT-D HASH ]
Nov 30 02:02:31 15[NET] <vpn|1> sending packet: from 198.51.100.1[500] to 198.51.100.2[500] (576 bytes)
Nov 30 02:02:32 10[IKE] <vpn|1> sending retransmit 1 of response message ID 0, seq 1
Nov 30 02:02:38 11[IKE] <vpn|1> giving up after 3 retransmits
Nov 30 02:02:38 11[IKE] <vpn|1> establishing IKE_SA failed, peer not responding
";

    #[test]
    fn aggressive_responder_hearing_nothing_after_its_nat_d_reply_is_nat_t_blocked() {
        let r = one(AGGR_RESPONDER);
        assert_eq!(codes(&r), vec![Code::NatTBlocked]);
        assert!(r.findings[0].message.contains("Aggressive Mode"));
        // A packet after the reply (the initiator's AUTH_FAILED notify when the keys
        // differ) means the peer did answer: no NAT-T finding, and no dead peer.
        let answered = AGGR_RESPONDER.replace(
            "Nov 30 02:02:32 10[IKE]",
            "Nov 30 02:02:31 08[NET] <vpn|1> received packet: from 198.51.100.2[500] to 198.51.100.1[500] (108 bytes)\nNov 30 02:02:32 10[IKE]",
        );
        assert_ne!(codes(&one(&answered)), vec![Code::NatTBlocked]);
    }

    #[test]
    fn aggressive_initiator_whose_peer_resends_its_reply_is_nat_t_blocked() {
        let r = one("\
Nov 30 02:02:56 09[IKE] <vpn|1> initiating Aggressive Mode IKE_SA vpn[1] to 198.51.100.2
Nov 30 02:02:56 09[ENC] <vpn|1> generating AGGRESSIVE request 0 [ SA KE No ID V V V V V ]
Nov 30 02:02:56 10[NET] <vpn|1> received packet: from 198.51.100.2[500] to 198.51.100.1[500] (576 bytes)
Nov 30 02:02:56 10[ENC] <vpn|1> parsed AGGRESSIVE response 0 [ SA KE No ID V V V V NAT-D NAT-D HASH ]
Nov 30 02:02:56 10[IKE] <vpn|1> IKE_SA vpn[1] established between 198.51.100.1[198.51.100.1]...198.51.100.2[198.51.100.2]
Nov 30 02:02:56 10[ENC] <vpn|1> generating AGGRESSIVE request 0 [ HASH NAT-D NAT-D ]
Nov 30 02:02:56 10[NET] <vpn|1> sending packet: from 198.51.100.1[4500] to 198.51.100.2[4500] (140 bytes)
Nov 30 02:02:56 10[ENC] <vpn|1> generating QUICK_MODE request 2307070834 [ HASH SA No KE ID ID ]
Nov 30 02:02:57 08[NET] <vpn|1> received packet: from 198.51.100.2[500] to 198.51.100.1[500] (576 bytes)
Nov 30 02:02:57 08[IKE] <vpn|1> received retransmit of response with ID 0, resending last request
Nov 30 02:02:57 10[IKE] <vpn|1> sending retransmit 1 of request message ID 2307070834, seq 3
Nov 30 02:03:03 16[IKE] <vpn|1> giving up after 3 retransmits
");
        assert_eq!(codes(&r), vec![Code::NatTBlocked]);
        assert!(r.findings[0]
            .message
            .contains("kept resending its Aggressive Mode reply"));
    }

    #[test]
    fn line_times_and_addresses() {
        let t = line_time("Nov 30 02:02:31 11[IKE] <vpn|1> x").unwrap();
        assert_eq!(line_time("Nov 30 02:02:31.151882: \"vpn\" #1: x"), Some(t));
        assert_eq!(line_time("Nov 30 02:02:31 idc pluto[2545]: x"), Some(t));
        assert_eq!(
            line_time("2026-11-30T02:02:31+08:00 gw charon[1]: x"),
            Some(t)
        );
        assert_eq!(line_time("Nov 30 02:02:35 x"), Some(t + 4));
        assert_eq!(line_time("received packet: from 1.2.3.4[500]"), None);
        assert_eq!(bare_addr("198.51.100.1[500]"), "198.51.100.1");
        assert_eq!(bare_addr("198.51.100.1:4500"), "198.51.100.1");
        assert_eq!(bare_addr("2001:db8::1"), "2001:db8::1");
    }

    /// An IKEv1 message ID both ends logged pairs their errors even across stages and
    /// without timestamps; addresses that do not mirror each other never pair.
    #[test]
    fn ikev1_message_ids_and_addresses_pair_errors() {
        let f =
            |code: Code| Finding::new(code, crate::findings::finding::Severity::Error, 1, "m", "f");
        let meta = |local: &str, peer: &str, ids: &[u32]| Meta {
            weak: false,
            span: None,
            local: Some(local.into()),
            peer: Some(peer.into()),
            msgids: ids.iter().copied().collect(),
        };
        let a = (
            f(Code::IpsecProposalMismatch),
            meta("10.0.0.1", "10.0.0.2", &[857726784]),
        );
        let b = (
            f(Code::PfsMismatch),
            meta("10.0.0.2", "10.0.0.1", &[857726784]),
        );
        assert!(pairable(&a, &b, false));
        let c = (f(Code::IkePskMismatch), meta("10.0.0.2", "10.0.0.1", &[1]));
        assert!(
            !pairable(&a, &c, false),
            "different stage, no common message"
        );
        let d = (
            f(Code::PfsMismatch),
            meta("10.0.0.2", "10.0.0.9", &[857726784]),
        );
        assert!(!pairable(&a, &d, false), "another peer");
    }

    #[test]
    fn retransmits_after_answers_are_no_dead_peer() {
        // The peer answered (garbled), the retransmit is part of the PSK failure.
        let r = one("Nov 26 19:03:31 14[NET] <vpn|1> received packet: from 198.51.100.1[500] to 198.51.100.2[500] (92 bytes)\nNov 26 19:03:31 14[ENC] <vpn|1> invalid HASH_V1 payload length, decryption failed?\nNov 26 19:03:35 11[IKE] <vpn|1> sending retransmit 1 of request message ID 0, seq 3\n");
        assert_eq!(codes(&r), vec![Code::IkePskMismatch]);
    }

    #[test]
    fn listing_lines_count_as_established() {
        let r = one("vpn[1]: ESTABLISHED 3 minutes ago, 198.51.100.2[198.51.100.2]...198.51.100.1[198.51.100.1]\nnet{1}:   172.30.96.0/19 === 10.0.0.0/8\nvpn: #1, ESTABLISHED, IKEv2, 9bea82774951c214_i* 9f3d5d34ad7e4e12_r\n  net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128\n");
        assert!(r.findings.is_empty());
        let e = &r.files[0].established;
        assert_eq!(e.len(), 4);
        assert_eq!(e[1].sa, "CHILD_SA net{1}");
        assert_eq!(e[1].between, "172.30.96.0/19 === 10.0.0.0/8");
    }

    #[test]
    fn json_has_findings_first() {
        let r = one("received UNSUPPORTED_CRITICAL_PAYLOAD error notify\n");
        let v = crate::render::logs::to_json(&r);
        assert_eq!(v["summary"]["errors"], 1);
        assert_eq!(v["findings"][0]["code"], "CUSTOMER_GATEWAY_IP_INVALID");
        let s = crate::render::logs::logs_json(&r);
        assert!(
            s.starts_with("{\n  \"findings\": [\n    {\n      \"code\": "),
            "{s}"
        );
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }
}
