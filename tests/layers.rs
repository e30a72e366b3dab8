//! The parts of `src/` are layers: each uses only the parts below it (SPEC of the code:
//! `src/lib.rs`'s map). This test reads every part's files, finds its `crate::` paths
//! outside `#[cfg(test)]` modules, and fails on a reference upwards — which is also what
//! any import cycle between parts needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top, as `src/lib.rs` lists them.
const LAYERS: &[&str] = &[
    "net", "input", "model", "graph", "engine", "findings", "analysis", "render",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file without `#[cfg(test)]` items and without comments.
fn code_without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            let (mut depth, mut started) = (0i32, false);
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                started |= l.contains('{');
                if started && depth <= 0 || !started && l.trim_end().ends_with(';') {
                    break;
                }
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Which parts each part refers to (`crate::x` and `crate::{x, y::z}`).
fn references() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut refs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut files = Vec::new();
        if p.is_dir() {
            rust_files(&p, &mut files);
        } else {
            files.push(p.clone());
        }
        let entry = refs.entry(name.clone()).or_default();
        for f in files {
            let code = code_without_tests(&std::fs::read_to_string(&f).unwrap());
            let mut rest = code.as_str();
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let targets: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    group[..end]
                        .split(',')
                        .map(|t| t.trim().split("::").next().unwrap_or("").to_string())
                        .collect()
                } else {
                    let end = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    vec![rest[..end].to_string()]
                };
                for t in targets {
                    if !t.is_empty() && t != name {
                        entry.entry(t).or_insert_with(|| f.display().to_string());
                    }
                }
            }
        }
    }
    refs
}

#[test]
fn every_part_of_src_is_a_known_layer() {
    for part in references().keys() {
        assert!(
            LAYERS.contains(&part.as_str()),
            "src/{part} is not in the layer list (tests/layers.rs, src/lib.rs)"
        );
    }
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let level = |p: &str| LAYERS.iter().position(|l| *l == p);
    let mut upward = Vec::new();
    for (part, targets) in references() {
        for (target, file) in targets {
            let (Some(a), Some(b)) = (level(&part), level(&target)) else {
                continue;
            };
            if b > a {
                upward.push(format!("{part} uses {target} (in {file})"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "references upwards:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_plain_paths() {
    let code = code_without_tests(
        "use crate::{net::addr, model};\nfn f() { crate::graph::x(); } // crate::render\n#[cfg(test)]\nmod tests {\n use crate::render;\n}\n",
    );
    assert!(code.contains("crate::{net::addr, model}"));
    assert!(code.contains("crate::graph::x"));
    assert!(!code.contains("render"));
}
