//! Shared helpers for the integration tests: the binary, the corpus, snapshot settings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every topology of the corpus, sorted by name.
pub fn topologies() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("topologies"))
        .expect("topologies/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

pub fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the `vpntrace` binary from the project root (so paths in output are relative).
pub fn vpntrace(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_vpntrace"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run vpntrace");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// insta settings: snapshots live in `snapshots/` at the top of the project.
pub fn snapshots() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// A test's input file under the temp dir (named for the test binary's process), removed
/// when dropped; reads as its path.
pub struct TmpFile(PathBuf, String);

impl TmpFile {
    pub fn new(name: &str, content: &[u8]) -> TmpFile {
        let p = std::env::temp_dir().join(format!("vpntrace-{}-{name}", std::process::id()));
        std::fs::write(&p, content).expect("write a temporary file");
        let s = p.display().to_string();
        TmpFile(p, s)
    }
}

impl std::ops::Deref for TmpFile {
    type Target = str;
    fn deref(&self) -> &str {
        &self.1
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
