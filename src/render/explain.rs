//! `vpntrace explain`: a code's documentation, or the list of every code.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::findings::code::{doc_sections, CodeInfo, CODES, DOC_SECTIONS};
use crate::render::Style;

fn faq_list(faq: &[u8]) -> String {
    faq.iter().map(u8::to_string).collect::<Vec<_>>().join("/")
}

fn reported_by(c: &CodeInfo) -> String {
    if c.reserved() {
        "no command yet (reserved)".to_string()
    } else {
        c.commands.join(", ")
    }
}

/// One code: a head line (name, faq, severity, title, the commands that report it),
/// then the documentation's sections.
pub fn explain_text(c: &CodeInfo, st: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} (faq {}, {}): {}",
        st.bold(c.name),
        faq_list(c.faq),
        c.severity.as_str(),
        c.title
    );
    let _ = writeln!(o, "reported by: {}", reported_by(c));
    for (head, body) in doc_sections(c.doc) {
        let _ = write!(o, "\n{}\n{}\n", st.bold(head), body);
    }
    o
}

/// One code as JSON: the table's fields and the sections by name.
pub fn explain_json(c: &CodeInfo) -> Value {
    let sections: serde_json::Map<String, Value> = doc_sections(c.doc)
        .into_iter()
        .map(|(h, b)| (section_key(h), Value::String(b.to_string())))
        .collect();
    json!({
        "code": c.name,
        "faq": c.faq,
        "severity": c.severity,
        "title": c.title,
        "commands": c.commands,
        "reserved": c.reserved(),
        "sections": sections,
    })
}

/// `What it means` → `what_it_means`, `How vpntrace detects it` → `detection`.
fn section_key(head: &str) -> String {
    match DOC_SECTIONS.iter().position(|s| *s == head) {
        Some(0) => "meaning".into(),
        Some(1) => "faq".into(),
        Some(2) => "detection".into(),
        Some(3) => "example".into(),
        Some(4) => "fix".into(),
        _ => head.to_ascii_lowercase().replace(' ', "_"),
    }
}

/// Every code, one line each: name, faq, severity, title.
pub fn list_text(st: Style) -> String {
    let width = CODES.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut o = String::new();
    for c in CODES {
        let _ = writeln!(
            o,
            "{}{}  faq {:<3}  {:<7}  {}",
            st.bold(c.name),
            " ".repeat(width - c.name.len()),
            faq_list(c.faq),
            c.severity.as_str(),
            c.title
        );
    }
    let _ = writeln!(
        o,
        "\n{} codes; `vpntrace explain CODE` tells what one means, how it is detected and how to fix it",
        CODES.len()
    );
    o
}

/// Every code as JSON: `{"codes": [{code, faq, severity, title, commands, reserved}]}`.
pub fn list_json() -> Value {
    let codes: Vec<Value> = CODES
        .iter()
        .map(|c| {
            json!({
                "code": c.name,
                "faq": c.faq,
                "severity": c.severity,
                "title": c.title,
                "commands": c.commands,
                "reserved": c.reserved(),
            })
        })
        .collect();
    json!({ "codes": codes })
}

/// The README's table of codes, one row per code, in table order.
pub fn readme_table() -> String {
    let mut o = String::from("| code | faq | severity | title |\n|---|---|---|---|\n");
    for c in CODES {
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | {} |",
            c.name,
            faq_list(c.faq),
            c.severity.as_str(),
            c.title
        );
    }
    o
}
