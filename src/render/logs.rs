//! `vpntrace logs` output: text blocks per finding with file and line ranges, and the
//! stable JSON document.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::analysis::logs::{FileSummary, LogReport};
use crate::findings::finding::Finding;

/// Human text: one block per finding, the SAs seen up per file, and a closing summary line
/// `N lines read, M matched, K findings`.
pub fn logs_text(report: &LogReport) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let file = f.file.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "{} {} (faq {}) {}:{}",
            f.severity.as_str(),
            f.code,
            f.faq,
            file,
            line_ranges(&f.lines)
        );
        for c in &f.cites {
            let _ = writeln!(out, "  other end: {}:{}", c.file, line_ranges(&c.lines));
        }
        if let Some(c) = &f.connection {
            let _ = writeln!(out, "  connection: {c}");
        }
        let _ = writeln!(out, "  {}", f.message);
        let _ = writeln!(out, "  fix: {}", f.fix);
        out.push('\n');
    }
    for fs in &report.files {
        if fs.established.is_empty() {
            let _ = writeln!(out, "{}: no IKE_SA or CHILD_SA established", fs.file);
        } else {
            let _ = writeln!(out, "{}: established:", fs.file);
            for e in &fs.established {
                let _ = writeln!(out, "  line {}: {} {}", e.line, e.sa, e.between);
            }
        }
    }
    let n = report.findings.len();
    let _ = writeln!(
        out,
        "{} lines read, {} matched, {} finding{}",
        report.lines_read,
        report.lines_matched,
        n,
        if n == 1 { "" } else { "s" }
    );
    out
}

/// The JSON document of `logs --format json`: `{"findings": [...], "summary": {...}}`.
#[derive(Serialize)]
struct JsonReport<'a> {
    findings: &'a [Finding],
    summary: JsonSummary<'a>,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    lines_read: usize,
    lines_matched: usize,
    findings: usize,
    errors: usize,
    warnings: usize,
    files: &'a [FileSummary],
}

fn json_report(report: &LogReport) -> JsonReport<'_> {
    let errors = report.findings.iter().filter(|f| f.is_error()).count();
    JsonReport {
        findings: &report.findings,
        summary: JsonSummary {
            lines_read: report.lines_read,
            lines_matched: report.lines_matched,
            findings: report.findings.len(),
            errors,
            warnings: report.findings.len() - errors,
            files: &report.files,
        },
    }
}

/// `{"findings": [...], "summary": {...}}` as a value. Note that a `serde_json::Value`
/// orders object keys alphabetically unless serde_json's `preserve_order` feature is on;
/// [`logs_json`] keeps the declared field order (findings first, Finding's contract
/// fields first).
pub fn to_json(report: &LogReport) -> Value {
    serde_json::to_value(json_report(report)).expect("log report serialises")
}

/// Pretty JSON with a trailing newline, fields in declared order.
pub fn logs_json(report: &LogReport) -> String {
    let mut s = serde_json::to_string_pretty(&json_report(report)).expect("log report serialises");
    s.push('\n');
    s
}

/// `[3,4,5,9]` → `3-5,9`.
fn line_ranges(lines: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = lines[i];
        let mut end = start;
        while i + 1 < lines.len() && lines[i + 1] == end + 1 {
            i += 1;
            end = lines[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ranges_compress() {
        assert_eq!(line_ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(line_ranges(&[]), "");
    }
}
