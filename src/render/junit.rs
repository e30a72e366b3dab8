//! `check --format junit`: JUnit XML for test-report views. One test case per connection
//! and direction, failed by its error findings (the failure's message lists their
//! codes); warnings go to the case's `system-out`. A finding of a connection without a
//! direction (phase-1/2 settings, the SA layout) counts for both directions; findings of
//! no connection get one more case, `topology`.

use std::fmt::Write;

use crate::analysis::check::CheckReport;
use crate::findings::finding::Finding;

/// Escape text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\r' | '\n') => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

struct Case<'a> {
    class: String,
    name: String,
    findings: Vec<&'a Finding>,
    detail: String,
}

fn finding_lines(o: &mut String, f: &Finding) {
    let _ = writeln!(
        o,
        "{} {} at {}{}: {}",
        f.severity.as_str(),
        f.code,
        f.device.as_deref().unwrap_or("-"),
        f.rule
            .as_deref()
            .map(|r| format!(" (rule {r})"))
            .unwrap_or_default(),
        f.message
    );
    let _ = writeln!(o, "  fix: {}", f.fix);
}

/// The JUnit XML of a `check` report on the topology `file`.
pub fn junit(file: &str, report: &CheckReport) -> String {
    let mut cases: Vec<Case> = report
        .summary
        .iter()
        .map(|s| Case {
            class: format!("{file}.{}", s.connection),
            name: s.direction.as_str().to_string(),
            findings: report
                .findings
                .iter()
                .filter(|f| {
                    f.connection.as_deref() == Some(s.connection.as_str())
                        && f.direction.is_none_or(|d| d == s.direction)
                })
                .collect(),
            detail: format!(
                "{} of {} subnet pair(s) working{}",
                s.pairs_working,
                s.pairs_total,
                if s.failing_pairs.is_empty() {
                    String::new()
                } else {
                    format!("; failing: {}", s.failing_pairs.join(", "))
                }
            ),
        })
        .collect();
    let orphans: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| {
            !report
                .summary
                .iter()
                .any(|s| f.connection.as_deref() == Some(s.connection.as_str()))
        })
        .collect();
    if !orphans.is_empty() {
        cases.push(Case {
            class: file.to_string(),
            name: "topology".into(),
            findings: orphans,
            detail: String::new(),
        });
    }
    let failures = cases
        .iter()
        .filter(|c| c.findings.iter().any(|f| f.is_error()))
        .count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"vpntrace check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        cases.len()
    );
    let _ = writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        xml_escape(file),
        cases.len()
    );
    for c in &cases {
        let _ = write!(
            o,
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(&c.class),
            xml_escape(&c.name)
        );
        let errors: Vec<&&Finding> = c.findings.iter().filter(|f| f.is_error()).collect();
        let warnings: Vec<&&Finding> = c.findings.iter().filter(|f| !f.is_error()).collect();
        if errors.is_empty() && warnings.is_empty() && c.detail.is_empty() {
            o.push_str("/>\n");
            continue;
        }
        o.push_str(">\n");
        if !errors.is_empty() {
            let mut codes: Vec<&str> = errors.iter().map(|f| f.code.as_str()).collect();
            codes.dedup();
            let mut body = String::new();
            for f in &errors {
                finding_lines(&mut body, f);
            }
            let _ = writeln!(
                o,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                xml_escape(&codes.join(" ")),
                xml_escape(codes[0]),
                xml_escape(body.trim_end())
            );
        }
        let mut out = c.detail.clone();
        for f in &warnings {
            out.push('\n');
            finding_lines(&mut out, f);
        }
        let out = out.trim();
        if !out.is_empty() {
            let _ = writeln!(o, "      <system-out>{}</system-out>", xml_escape(out));
        }
        o.push_str("    </testcase>\n");
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>\n\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\n\u{fffd}"
        );
    }
}
