//! Every example topology under `topologies/` parses into the input schema.
//!
//! The files are the product's documentation and its test corpus, so a schema change
//! that breaks one of them must fail here, naming the file and the JSON path.

use std::fs;
use std::path::{Path, PathBuf};

use vpntrace::input::Topology;

fn topology_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_topology_parses_and_has_a_name() {
    let files = topology_files();
    assert!(!files.is_empty(), "no *.json files under topologies/");
    let mut failures = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let de = &mut serde_json::Deserializer::from_str(&text);
        match serde_path_to_error::deserialize::<_, Topology>(de) {
            Ok(topo) if topo.name.trim().is_empty() => {
                failures.push(format!("{}: `name` is empty", path.display()))
            }
            Ok(_) => {}
            Err(e) => failures.push(format!(
                "{}: at `{}`: {}",
                path.display(),
                e.path(),
                e.inner()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "topologies that do not parse:\n{}",
        failures.join("\n")
    );
}
