//! `logs` on every stored run of the real-run lab (tests/data/ike-lab/<case>/, see its
//! README): both ends' logs are classified together and must give exactly one error,
//! with the code the run's case.env EXPECTs, for a failed negotiation, and none for a
//! healthy run; a Libreswan run's finding cites the Libreswan (pluto) log. Runs listed in
//! [`GAPS`] are known misclassifications: they are reported, and the test fails once
//! one of them is classified right (so that the list only shrinks).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use vpntrace::analysis::logs;
use vpntrace::findings::finding::Severity;

fn lab() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ike-lab")
}

/// Known misclassifications, with why.
const GAPS: &[(&str, &str)] = &[];

fn case_env(dir: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(dir.join("case.env")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().trim_matches('\'').to_string()))
        .collect()
}

struct Run {
    name: String,
    family: String,
    expect: String,
    /// Empty when the run is classified right, else what is wrong.
    wrong: String,
}

fn classify_run(dir: &Path) -> Option<Run> {
    let env = case_env(dir);
    let expect = env.get("EXPECT")?.clone();
    let name = dir.file_name()?.to_string_lossy().to_string();
    let family = env.get("FAMILY").cloned().unwrap_or_default();
    let mut files = Vec::new();
    for f in ["cloud.log", "idc.log"] {
        if let Ok(text) = fs::read_to_string(dir.join(f)) {
            files.push((format!("{name}/{f}"), text));
        }
    }
    let report = logs::classify(&files);
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let codes: Vec<&str> = errors.iter().map(|f| f.code.as_str()).collect();
    let mut wrong = String::new();
    if expect == "OK" {
        if !errors.is_empty() {
            wrong = format!("healthy run, got {codes:?}");
        }
    } else if codes != [expect.as_str()] {
        wrong = format!("want [{expect}], got {codes:?}");
    } else if family.starts_with("libreswan") && dir.join("idc.log").exists() {
        let pluto_log = format!("{name}/idc.log");
        let f = errors[0];
        let cited = f.file.as_deref() == Some(pluto_log.as_str())
            || f.cites.iter().any(|c| c.file == pluto_log);
        if !cited {
            wrong = "the finding does not cite the Libreswan log".to_string();
        }
    }
    for f in &errors {
        if f.lines.is_empty() {
            wrong = format!("{} cites no line", f.code);
        }
    }
    Some(Run {
        name,
        family,
        expect,
        wrong,
    })
}

#[test]
fn every_stored_run_is_classified_once_and_right() {
    let dir = lab();
    let Ok(entries) = fs::read_dir(&dir) else {
        eprintln!(
            "SKIPPED: {} is missing (the lab's runs are not in this checkout)",
            dir.display()
        );
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.env").is_file())
        .collect();
    dirs.sort();
    let runs: Vec<Run> = dirs.iter().filter_map(|d| classify_run(d)).collect();
    assert!(
        !runs.is_empty(),
        "no runs with case.env under {}",
        dir.display()
    );

    // family → code → (right, total)
    let mut table: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut fixed_gaps = Vec::new();
    for r in &runs {
        let e = table
            .entry((r.family.clone(), r.expect.clone()))
            .or_default();
        e.1 += 1;
        if r.wrong.is_empty() {
            e.0 += 1;
        }
        let gap = GAPS.iter().find(|g| g.0 == r.name);
        match (gap, r.wrong.is_empty()) {
            (None, false) => failures.push(format!("{}: {}", r.name, r.wrong)),
            (Some(_), true) => fixed_gaps.push(r.name.clone()),
            (Some(g), false) => println!("known gap {}: {} ({})", r.name, r.wrong, g.1),
            (None, true) => {}
        }
    }
    println!(
        "{:<24} {:<28} {:>5} {:>5}",
        "family", "expect", "right", "runs"
    );
    let (mut right, mut total) = (0, 0);
    for ((family, code), (ok, n)) in &table {
        println!("{family:<24} {code:<28} {ok:>5} {n:>5}");
        right += ok;
        total += n;
    }
    println!("{:<24} {:<28} {right:>5} {total:>5}", "all", "");
    assert!(
        failures.is_empty(),
        "misclassified runs:\n{}",
        failures.join("\n")
    );
    assert!(
        fixed_gaps.is_empty(),
        "classified right now, remove from GAPS: {fixed_gaps:?}"
    );
}
