//! `check --format sarif`: SARIF 2.1.0 for code-scanning views. One rule per finding
//! code, one result per finding; each result's location is the topology file at the
//! object the finding names (its JSON path as a logical location, its line as the
//! region), or the file and line in the object's `origin` ("FILE:LINE") when it was
//! imported.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::findings::code::Code;
use serde_sarif::sarif::{
    ArtifactLocation, Location, LogicalLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingDescriptor, Result as SarifResult, ResultLevel,
    Run, Sarif, Tool, ToolComponent,
};

use crate::findings::finding::{Finding, Severity};

/// Where an object of the topology is: its JSON path, the line of its `"id"`, and its
/// `origin` when it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectPlace {
    pub path: String,
    pub line: Option<usize>,
    pub origin: Option<String>,
}

/// Every object with an `"id"` in the topology, in document order: its id, JSON path
/// (`onprem.devices[1].filter.forward.rules[0]`) and origin.
fn objects(v: &Value, path: &str, out: &mut Vec<(String, String, Option<String>)>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(id)) = o.get("id") {
                let origin = o.get("origin").and_then(|x| x.as_str()).map(String::from);
                out.push((id.clone(), path.to_string(), origin));
            }
            for (k, x) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                objects(x, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                objects(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The 1-based line of the first `"id": "<id>"` at or after line `from`.
fn id_line(text: &str, id: &str, from: usize) -> Option<usize> {
    let quoted = serde_json::to_string(id).ok()?;
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find_map(|(i, l)| {
            l.match_indices("\"id\"")
                .any(|(at, key)| {
                    let rest = l[at + key.len()..].trim_start();
                    rest.strip_prefix(':')
                        .is_some_and(|r| r.trim_start().starts_with(&quoted))
                })
                .then_some(i + 1)
        })
}

/// The place of the finding's object: the rule inside the device when the finding names
/// one, else the device (a security group, route table, VPN gateway or on-prem device).
pub fn place(topology: &Value, text: &str, f: &Finding) -> Option<ObjectPlace> {
    let mut all = Vec::new();
    objects(topology, "", &mut all);
    let device = f.device.as_deref()?;
    let (_, dpath, dorigin) = all.iter().find(|(id, _, _)| id == device)?;
    let dline = id_line(text, device, 1);
    if let Some(rule) = f.rule.as_deref() {
        let inside = all
            .iter()
            .find(|(id, p, _)| id == rule && p.starts_with(&format!("{dpath}.")));
        if let Some((_, rpath, rorigin)) = inside {
            return Some(ObjectPlace {
                path: rpath.clone(),
                line: id_line(text, rule, dline.unwrap_or(1)),
                origin: rorigin.clone().or_else(|| dorigin.clone()),
            });
        }
    }
    Some(ObjectPlace {
        path: dpath.clone(),
        line: dline,
        origin: dorigin.clone(),
    })
}

fn location(file: &str, place: Option<&ObjectPlace>) -> Location {
    let Some(pl) = place else {
        return Location::builder()
            .physical_location(
                PhysicalLocation::builder()
                    .artifact_location(ArtifactLocation::builder().uri(file).build())
                    .build(),
            )
            .build();
    };
    // An imported object points at the export it came from ("FILE:LINE").
    let (uri, line) = match pl.origin.as_deref().and_then(|o| o.rsplit_once(':')) {
        Some((f, l)) if l.parse::<usize>().is_ok_and(|n| n > 0) => {
            (f.to_string(), l.parse::<usize>().ok())
        }
        _ => (file.to_string(), pl.line),
    };
    let mut phys = PhysicalLocation::builder()
        .artifact_location(ArtifactLocation::builder().uri(uri).build())
        .build();
    if let Some(l) = line {
        phys.region = Some(Region::builder().start_line(l as i64).build());
    }
    Location::builder()
        .physical_location(phys)
        .logical_locations(vec![LogicalLocation::builder()
            .fully_qualified_name(pl.path.clone())
            .kind("object")
            .build()])
        .build()
}

/// The SARIF log of `check`'s findings on the topology `file` (whose `text` gives the
/// JSON paths and lines).
pub fn sarif(file: &str, text: &str, findings: &[Finding]) -> String {
    let topology: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut rules: BTreeMap<&str, Code> = BTreeMap::new();
    for f in findings {
        rules.entry(f.code.as_str()).or_insert(f.code);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, c)| (*c, i)).collect();
    let descriptors: Vec<ReportingDescriptor> = rules
        .iter()
        .map(|(name, code)| {
            let info = code.info();
            let faq: Vec<String> = info.faq.iter().map(u8::to_string).collect();
            ReportingDescriptor::builder()
                .id(*name)
                .short_description(
                    MultiformatMessageString::builder()
                        .text(format!("{} (FAQ {})", info.title, faq.join("/")))
                        .build(),
                )
                .full_description(
                    MultiformatMessageString::builder()
                        .text(info.doc.to_string())
                        .markdown(info.doc.to_string())
                        .build(),
                )
                .help(
                    MultiformatMessageString::builder()
                        .text(format!("vpntrace explain {name}"))
                        .build(),
                )
                .build()
        })
        .collect();
    let results: Vec<SarifResult> = findings
        .iter()
        .map(|f| {
            let pl = place(&topology, text, f);
            let mut props = BTreeMap::new();
            props.insert("faq".to_string(), Value::from(f.faq));
            if let Some(c) = &f.connection {
                props.insert("connection".into(), Value::from(c.clone()));
            }
            if let Some(d) = f.direction {
                props.insert("direction".into(), Value::from(d.as_str()));
            }
            if let Some(v) = f.verified {
                props.insert("fix_verified".into(), Value::from(v));
            }
            SarifResult::builder()
                .rule_id(f.code.as_str())
                .rule_index(index[f.code.as_str()] as i64)
                .level(match f.severity {
                    Severity::Error => ResultLevel::Error,
                    Severity::Warning => ResultLevel::Warning,
                })
                .message(
                    Message::builder()
                        .text(format!("{} Fix: {}", f.message, f.fix))
                        .build(),
                )
                .locations(vec![location(file, pl.as_ref())])
                .properties(PropertyBag::builder().additional_properties(props).build())
                .build()
        })
        .collect();
    let driver = ToolComponent::builder()
        .name("vpntrace")
        .version(env!("CARGO_PKG_VERSION"))
        .rules(descriptors)
        .build();
    let log = Sarif::builder()
        .schema("https://json.schemastore.org/sarif-2.1.0.json")
        .version(serde_json::json!("2.1.0"))
        .runs(vec![Run::builder()
            .tool(Tool::builder().driver(driver).build())
            .results(results)
            .build()])
        .build();
    super::json(&log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_is_found_inside_its_device() {
        let text = r#"{
  "a": [
    { "id": "dev-1", "rules": [ { "id": "r1" } ] },
    { "id": "dev-2", "origin": "exports/x.txt:7",
      "rules": [
        { "id": "r1" }
      ] }
  ]
}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let f = Finding::error(Code::IdcFilterDrop, 3, "m", "f")
            .with_device("dev-2")
            .with_rule(Some("r1".into()));
        let p = place(&v, text, &f).unwrap();
        assert_eq!(p.path, "a[1].rules[0]");
        assert_eq!(p.line, Some(6));
        assert_eq!(p.origin.as_deref(), Some("exports/x.txt:7"));
        let loc = location("t.json", Some(&p));
        let phys = loc.physical_location.unwrap();
        assert_eq!(
            phys.artifact_location.unwrap().uri.as_deref(),
            Some("exports/x.txt")
        );
        assert_eq!(phys.region.unwrap().start_line, Some(7));
    }
}
