//! Output: human text and stable JSON. The engine returns data; only this layer formats.

pub mod explain;
pub mod graph;
pub mod html;
pub mod junit;
pub mod logs;
pub mod sarif;
pub mod split;
pub mod trace;

pub use trace::{trace_json, trace_text, TraceJson};

use std::collections::HashMap;
use std::fmt::Write;

use crate::engine::trace::Disposition;
use crate::findings::finding::Finding;

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
    pub(crate) fn disposition(&self, d: Disposition) -> String {
        match d {
            Disposition::Delivered => self.good(d.as_str()),
            _ => self.bad(d.as_str()),
        }
    }
}

/// One finding as an indented block: headline, message, fix, vendor commands.
pub fn finding_text(o: &mut String, f: &Finding, st: Style, indent: &str) {
    let sev = match f.severity {
        crate::findings::finding::Severity::Error => st.bad("error"),
        crate::findings::finding::Severity::Warning => st.warn("warning"),
    };
    let mut head = format!("{indent}{sev} {} (faq {})", st.bold(f.code.as_str()), f.faq);
    if let Some(d) = &f.device {
        let _ = write!(head, " at {d}");
    }
    if let Some(r) = &f.rule {
        let _ = write!(head, ", rule {r}");
    }
    if let Some(origin) = &f.origin {
        let _ = write!(head, " ({origin})");
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
    // Instances and hosts in the flow's order (its sources first), each list with how
    // many there are in all when cut.
    let listed = |v: &[String], total: Option<usize>| {
        let more = total
            .map(|n| format!(" … and {} more ({n} in all)", n - v.len()))
            .unwrap_or_default();
        format!("{}{more}", v.join(", "))
    };
    let mut lists = [
        (&f.endpoints, f.endpoints_total),
        (&f.instances, f.instances_total),
    ];
    if f.direction == Some(crate::findings::finding::FlowDirection::CloudToOnprem) {
        lists.reverse();
    }
    let affected: Vec<String> = lists
        .into_iter()
        .filter(|(v, _)| !v.is_empty())
        .map(|(v, n)| listed(v, n))
        .collect();
    if !affected.is_empty() {
        let _ = writeln!(o, "{indent}  affected: {}", affected.join("; "));
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
    // Predicted, not read: the lines each end would write, labelled so.
    if !f.expected_logs.is_empty() {
        let _ = writeln!(o, "{indent}  expected in the logs:");
    }
    for l in &f.expected_logs {
        let _ = writeln!(o, "{indent}    {l}");
    }
}

/// Pretty JSON with a trailing newline; field order is the structs' declaration order.
pub fn json<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("output types serialise");
    s.push('\n');
    s
}

/// How many connections' blocks (or findings, in JSON) are rendered in parallel before
/// they are written: the report is written as it is rendered, never held whole.
const CHUNK: usize = 16;

/// `check` as a person reads it: per connection a one-line summary per direction, then
/// the findings grouped by direction, errors first.
pub fn check_text(
    m: &crate::model::Model,
    r: &crate::analysis::check::CheckReport,
    st: Style,
) -> String {
    let mut out = Vec::new();
    write_check_text(&mut out, m, r, st).expect("writing to memory");
    String::from_utf8(out).expect("the report is text")
}

/// [`check_text`], written to `w` a few connections at a time.
pub fn write_check_text(
    w: &mut impl std::io::Write,
    m: &crate::model::Model,
    r: &crate::analysis::check::CheckReport,
    st: Style,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    writeln!(w, "{}", st.bold(&format!("check {}", m.name)))?;
    // Each connection's findings, found once (not by a pass over all of them per
    // connection).
    let mut by_conn: HashMap<Option<&str>, Vec<&Finding>> = HashMap::new();
    for f in &r.findings {
        by_conn.entry(f.connection.as_deref()).or_default().push(f);
    }
    let mut conns: Vec<Option<&crate::model::Connection>> =
        m.connections.iter().map(Some).collect();
    conns.push(None);
    // One block per connection, written in parallel, in the model's order.
    for chunk in conns.chunks(CHUNK) {
        let blocks: Vec<String> = chunk
            .par_iter()
            .map(|&c| {
                let fs = by_conn
                    .get(&c.map(|k| k.id.as_str()))
                    .map_or(&[][..], |v| v.as_slice());
                connection_text(c, fs, r, st)
            })
            .collect();
        for b in &blocks {
            w.write_all(b.as_bytes())?;
        }
    }
    let errors = r.findings.iter().filter(|f| f.is_error()).count();
    let warnings = r.findings.len() - errors;
    writeln!(
        w,
        "\n{} error(s), {} warning(s); {} representative packets traced",
        errors, warnings, r.classes_traced
    )
}

/// One connection's block of [`check_text`] (`c`: None for the findings tied to no
/// connection; empty then when there are none): its summary lines and notes, then its
/// findings `fs` grouped by direction, errors first.
fn connection_text(
    c: Option<&crate::model::Connection>,
    fs: &[&Finding],
    r: &crate::analysis::check::CheckReport,
    st: Style,
) -> String {
    let mut o = String::new();
    if c.is_none() && fs.is_empty() {
        return o;
    }
    let _ = writeln!(o);
    match c {
        Some(k) => {
            let id = &k.id;
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
            for n in r.notes.iter().filter(|n| &n.connection == id) {
                let _ = writeln!(o, "  note: {}", n.message);
            }
        }
        None => {
            let _ = writeln!(o, "{}", st.bold("not tied to one connection"));
        }
    }
    type Pick = Box<dyn Fn(&Finding) -> bool>;
    let groups: [(&str, Pick); 3] = [
        (
            "both directions",
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
    o
}

/// `check --format json`: the report as [`json`] writes it (keys in alphabetical order
/// at every level, two-space indent), each finding serialised on its own in parallel
/// and put in its place: an estate's thousands of findings are most of the work.
pub fn check_json(r: &crate::analysis::check::CheckReport) -> String {
    let mut out = Vec::new();
    write_check_json(&mut out, r).expect("writing to memory");
    String::from_utf8(out).expect("JSON is text")
}

/// [`check_json`], written to `w` a few findings at a time.
pub fn write_check_json(
    w: &mut impl std::io::Write,
    r: &crate::analysis::check::CheckReport,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    // Each finding as an element of the top-level object's "findings" array: pretty at
    // depth 0, then indented by two levels (JSON strings hold no raw newline, so every
    // line break is the printer's).
    let item = |f: &Finding| {
        let v = serde_json::to_value(f).expect("output types serialise");
        let s = serde_json::to_string_pretty(&v).expect("output types serialise");
        let mut out = String::with_capacity(s.len() + s.len() / 8);
        for (k, line) in s.lines().enumerate() {
            if k > 0 {
                out.push('\n');
            }
            out.push_str("    ");
            out.push_str(line);
        }
        out
    };
    // The rest, with an empty findings array whose place the findings then take.
    let rest = serde_json::json!({
        "findings": [],
        "summary": r.summary,
        "classes_traced": r.classes_traced,
        "notes": r.notes,
    });
    let s = json(&rest);
    const EMPTY: &str = "\n  \"findings\": [],\n";
    let at = s.find(EMPTY).expect("the top-level findings key");
    w.write_all(&s.as_bytes()[..at])?;
    if r.findings.is_empty() {
        w.write_all(EMPTY.as_bytes())?;
    } else {
        w.write_all(b"\n  \"findings\": [\n")?;
        for (k, chunk) in r.findings.chunks(CHUNK * 16).enumerate() {
            let items: Vec<String> = chunk.par_iter().map(item).collect();
            for (i, it) in items.iter().enumerate() {
                if k > 0 || i > 0 {
                    w.write_all(b",\n")?;
                }
                w.write_all(it.as_bytes())?;
            }
        }
        w.write_all(b"\n  ],\n")?;
    }
    w.write_all(&s.as_bytes()[at + EMPTY.len()..])
}
