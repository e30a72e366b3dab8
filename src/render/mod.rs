//! Output: human text and stable JSON. The engine returns data; only this layer formats.

pub mod graph;
pub mod html;
pub mod junit;
pub mod logs;
pub mod sarif;
pub mod split;

use std::fmt::Write;

use serde::Serialize;

use crate::engine::trace::{Disposition, FlowInfo, Hop, Path, Trace};
use crate::findings::cause::path_finding;
use crate::findings::finding::Finding;
use crate::model::Model;

/// Text styling: ANSI colour only when writing to a terminal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn good(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn bad(&self, s: &str) -> String {
        self.paint("31;1", s)
    }
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn disposition(&self, d: Disposition) -> String {
        match d {
            Disposition::Delivered => self.good(d.as_str()),
            _ => self.bad(d.as_str()),
        }
    }
}

/// A trace as a person reads it: one line per hop, the steps under it, the verdict and
/// the fix at the end.
pub fn trace_text(m: &Model, t: &Trace, st: Style) -> String {
    let mut o = String::new();
    let dir = t
        .flow
        .direction
        .map(|d| format!(" ({})", d.arrow()))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "{}",
        st.bold(&format!(
            "trace {} → {}: {}{}",
            t.flow.from,
            t.flow.to,
            t.flow.packet.describe(),
            dir
        ))
    );
    path_text(m, &mut o, "forward", &t.forward, st);
    match &t.ret {
        Some(r) => path_text(m, &mut o, "return", r, st),
        None => {
            let _ = writeln!(
                o,
                "\nreturn: not traced (the forward packet was not delivered)"
            );
        }
    }
    let _ = writeln!(o);
    if t.ok() {
        let _ = writeln!(o, "verdict: {}", st.good("delivered both ways"));
    } else {
        let (which, p) = if !t.forward.delivered() {
            ("forward", &t.forward)
        } else {
            ("return", t.ret.as_ref().expect("return traced"))
        };
        let _ = writeln!(
            o,
            "verdict: {} {} on the {} path",
            st.bad("FAILS:"),
            p.disposition.as_str(),
            which
        );
        if let Some(c) = path_finding(m, p) {
            finding_text(&mut o, &c, st, "  ");
        }
    }
    o
}

fn path_text(m: &Model, o: &mut String, label: &str, p: &Path, st: Style) {
    let _ = writeln!(o, "\n{}: {}", st.bold(label), st.disposition(p.disposition));
    for (i, h) in p.hops.iter().enumerate() {
        let inif = h
            .in_interface
            .as_ref()
            .map(|f| format!(" in {f}"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:>2}. {} [{}]{}  {}",
            i + 1,
            st.bold(&h.device),
            h.kind,
            inif,
            st.dim(&h.packet.describe())
        );
        for s in &h.steps {
            let rule = s
                .rule
                .as_ref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            let action = match s.action {
                crate::engine::trace::StepAction::Drop => st.bad(s.action.as_str()),
                _ => s.action.as_str().to_string(),
            };
            let _ = writeln!(
                o,
                "      {:<14} {:<9}{} {}",
                s.kind.as_str(),
                action,
                rule,
                s.detail
            );
        }
    }
    for n in &p.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    if let Some(c) = path_finding(m, p) {
        let _ = writeln!(
            o,
            "  cause: {} (faq {}) at {}{}",
            st.bad(c.code),
            c.faq,
            c.device.as_deref().unwrap_or("-"),
            c.rule
                .as_ref()
                .map(|r| format!(", rule {r}"))
                .unwrap_or_default()
        );
    }
}

/// One finding as an indented block: headline, message, fix, vendor commands.
pub fn finding_text(o: &mut String, f: &Finding, st: Style, indent: &str) {
    let sev = match f.severity {
        crate::findings::finding::Severity::Error => st.bad("error"),
        crate::findings::finding::Severity::Warning => st.warn("warning"),
    };
    let mut head = format!("{indent}{sev} {} (faq {})", st.bold(f.code), f.faq);
    if let Some(d) = &f.device {
        let _ = write!(head, " at {d}");
    }
    if let Some(r) = &f.rule {
        let _ = write!(head, ", rule {r}");
    }
    let _ = writeln!(o, "{head}");
    let _ = writeln!(o, "{indent}  {}", f.message);
    if !f.source.is_empty() || !f.destination.is_empty() {
        let _ = writeln!(
            o,
            "{indent}  traffic: {} → {}{}",
            crate::net::addr::join_cidrs(&f.source),
            crate::net::addr::join_cidrs(&f.destination),
            if f.services.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.services.join(", "))
            }
        );
    }
    const SHOWN_PARTS: usize = 6;
    if !f.parts.is_empty() {
        let _ = writeln!(o, "{indent}  exactly ({} parts):", f.parts.len());
        for p in f.parts.iter().take(SHOWN_PARTS) {
            let _ = writeln!(
                o,
                "{indent}    - {} → {} ({})",
                crate::net::addr::join_cidrs(&p.source),
                crate::net::addr::join_cidrs(&p.destination),
                p.services.join(", ")
            );
        }
        if f.parts.len() > SHOWN_PARTS {
            let _ = writeln!(
                o,
                "{indent}    … and {} more (`--format json` lists every part)",
                f.parts.len() - SHOWN_PARTS
            );
        }
    }
    if !f.endpoints.is_empty() {
        let _ = writeln!(o, "{indent}  affected: {}", f.endpoints.join(", "));
    }
    if !f.fix.is_empty() {
        let verified = match f.verified {
            Some(true) => " (verified)".to_string(),
            Some(false) => format!(
                " ({})",
                st.warn("not verified: the re-analysis still fails")
            ),
            None => String::new(),
        };
        let _ = writeln!(o, "{indent}  fix: {}{}", f.fix, verified);
    }
    for v in &f.vendor_fix {
        let _ = writeln!(o, "{indent}    | {v}");
    }
    for l in &f.expected_logs {
        let _ = writeln!(o, "{indent}  log: {l}");
    }
}

/// Pretty JSON with a trailing newline; field order is the structs' declaration order.
/// A trace as `trace --format json` writes it (SPEC: `{"forward": Path, "return":
/// Path|null}`, each path with its `cause` finding).
#[derive(Serialize)]
pub struct TraceJson<'a> {
    flow: &'a FlowInfo,
    forward: PathJson<'a>,
    #[serde(rename = "return")]
    ret: Option<PathJson<'a>>,
}

#[derive(Serialize)]
struct PathJson<'a> {
    disposition: Disposition,
    hops: &'a [Hop],
    cause: Option<Finding>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

impl<'a> PathJson<'a> {
    fn of(m: &Model, p: &'a Path) -> PathJson<'a> {
        PathJson {
            disposition: p.disposition,
            hops: &p.hops,
            cause: path_finding(m, p),
            notes: &p.notes,
        }
    }
}

pub fn trace_json<'a>(m: &Model, t: &'a Trace) -> TraceJson<'a> {
    TraceJson {
        flow: &t.flow,
        forward: PathJson::of(m, &t.forward),
        ret: t.ret.as_ref().map(|r| PathJson::of(m, r)),
    }
}

pub fn json<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("output types serialise");
    s.push('\n');
    s
}

/// `check` as a person reads it: per connection a one-line summary per direction, then
/// the findings grouped by direction, errors first.
pub fn check_text(
    m: &crate::model::Model,
    r: &crate::analysis::check::CheckReport,
    st: Style,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", st.bold(&format!("check {}", m.name)));
    let mut conns: Vec<Option<String>> = m.connections.iter().map(|c| Some(c.id.clone())).collect();
    conns.push(None);
    for c in &conns {
        let fs: Vec<&Finding> = r.findings.iter().filter(|f| &f.connection == c).collect();
        if c.is_none() && fs.is_empty() {
            continue;
        }
        let _ = writeln!(o);
        match c {
            Some(id) => {
                let k = m
                    .connections
                    .iter()
                    .find(|x| &x.id == id)
                    .expect("connection");
                let _ = writeln!(
                    o,
                    "{}",
                    st.bold(&format!(
                        "connection {} ({} ⇄ {}, {})",
                        id,
                        crate::net::addr::join_cidrs(&k.local_subnets),
                        crate::net::addr::join_cidrs(&k.remote_subnets),
                        k.status.as_str()
                    ))
                );
                for s in r.summary.iter().filter(|s| &s.connection == id) {
                    let line = format!(
                        "{}: {} of {} subnet pairs work",
                        s.direction.arrow(),
                        s.pairs_working,
                        s.pairs_total
                    );
                    let line = if s.failing_pairs.is_empty() {
                        st.good(&line)
                    } else {
                        format!("{}; failing: {}", st.bad(&line), s.failing_pairs.join(", "))
                    };
                    let _ = writeln!(o, "  {line}");
                }
            }
            None => {
                let _ = writeln!(o, "{}", st.bold("not tied to one connection"));
            }
        }
        type Pick = Box<dyn Fn(&Finding) -> bool>;
        let groups: [(&str, Pick); 3] = [
            (
                "settings and notes",
                Box::new(|f: &Finding| f.direction.is_none()),
            ),
            (
                "VPC→IDC",
                Box::new(|f: &Finding| {
                    f.direction == Some(crate::findings::finding::FlowDirection::CloudToOnprem)
                }),
            ),
            (
                "IDC→VPC",
                Box::new(|f: &Finding| {
                    f.direction == Some(crate::findings::finding::FlowDirection::OnpremToCloud)
                }),
            ),
        ];
        for (label, pick) in groups.iter() {
            let mut sel: Vec<&&Finding> = fs.iter().filter(|f| pick(f)).collect();
            if sel.is_empty() {
                continue;
            }
            sel.sort_by_key(|f| f.severity);
            let _ = writeln!(o, "\n  {label}:");
            for f in sel {
                finding_text(&mut o, f, st, "    ");
            }
        }
    }
    let errors = r.findings.iter().filter(|f| f.is_error()).count();
    let warnings = r.findings.len() - errors;
    let _ = writeln!(
        o,
        "\n{} error(s), {} warning(s); {} representative packets traced",
        errors, warnings, r.classes_traced
    );
    o
}
