//! Hostile input for the Alibaba Cloud importer: the FAQ 6 API responses with one JSON
//! value mutated (another type, a placeholder, a removed key, an empty list…), written to
//! a temporary folder and imported, a bounded number of cases. No panic; every error and
//! every warning names its file and where in it; a validation error of what imports is located.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{json, Value};
use vpntrace::input::import;

fn cloud() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/faq6-cloud")
}

/// The response files, sorted by name, with their parsed bodies.
fn responses() -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = std::fs::read_dir(cloud())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .map(|n| {
            let body =
                serde_json::from_str(&std::fs::read_to_string(cloud().join(&n)).unwrap()).unwrap();
            (n, body)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Every value's JSON pointer, in document order (the root is "").
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// What replaces the chosen value; `None` removes it (its key, or its list element).
fn replacement(kind: usize, old: &Value) -> Option<Value> {
    Some(match kind {
        0 => return None,
        1 => Value::Null,
        2 => json!(-1),
        3 => json!("XX"),
        4 => json!(true),
        5 => json!([]),
        6 => json!({}),
        7 => json!("****"),
        8 => json!("10.0.0.999/33"),
        9 => json!(1e300),
        10 => json!(""),
        11 => json!([old.clone(), old.clone()]),
        12 => json!("-1/-1"),
        _ => json!({ "Unexpected": old.clone() }),
    })
}

fn mutate(body: &mut Value, ptr: &str, kind: usize) {
    let new = replacement(kind, body.pointer(ptr).unwrap());
    if ptr.is_empty() {
        *body = new.unwrap_or(Value::Null);
        return;
    }
    let (parent, last) = ptr.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    match (body.pointer_mut(parent).unwrap(), new) {
        (Value::Object(m), None) => {
            m.remove(&last);
        }
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().unwrap());
        }
        (_, Some(n)) => *body.pointer_mut(ptr).unwrap() = n,
        _ => unreachable!("a pointer's parent is an object or a list"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_api_responses(file in any::<prop::sample::Index>(), node in any::<prop::sample::Index>(), kind in 0usize..14) {
        let mut files = responses();
        let f = file.index(files.len());
        let mut ptrs = Vec::new();
        pointers(&files[f].1, String::new(), &mut ptrs);
        let ptr = ptrs[node.index(ptrs.len())].clone();
        mutate(&mut files[f].1, &ptr, kind);
        let dir = std::env::temp_dir().join(format!("vpntrace-alifuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in &files {
            std::fs::write(dir.join(name), serde_json::to_string_pretty(body).unwrap()).unwrap();
        }
        let what = format!("{} at {ptr:?} (mutation {kind})", files[f].0);
        match import::run(Some(&dir), &[], None) {
            Err(e) => {
                prop_assert!(e.file.contains(".json"), "{what}: error without its file: {e}");
                prop_assert!(!e.location.is_empty() || ptr.is_empty(), "{what}: unlocated error: {e}");
            }
            Ok(out) => {
                for w in &out.warnings {
                    prop_assert!(w.location.contains(".json"), "{what}: warning without its file: {w}");
                }
                // Responses that contradict each other (a vSwitch outside the VPC's CIDRs
                // once one is removed) import into a topology that does not validate;
                // `import` then stops on the validation error, located in the topology.
                if let Err(e) = vpntrace::model::lower("imported.json", &out.topology) {
                    prop_assert!(!e.location.is_empty(), "{what}: unlocated validation error: {e}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
