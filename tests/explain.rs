//! `vpntrace explain`, and the code table against what vpntrace prints: every code in
//! the snapshot corpus is in the table with that FAQ case, and the README lists exactly
//! the table's codes.

mod common;

use common::vpntrace;
use vpntrace::findings::code::{Code, CODES, DOC_SECTIONS};

/// Every (code, faq) a snapshot prints: `"code": "X"` in JSON (faq from the next
/// `"faq"`), `error X (faq N)` / `warning X (faq N)` in text.
fn corpus_codes() -> Vec<(String, String, Option<u8>)> {
    let mut out = Vec::new();
    let dir = common::root().join("snapshots");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    files.sort();
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim();
            if let Some(rest) = t.strip_prefix("\"code\": \"") {
                let code = rest.trim_end_matches(['"', ',']).to_string();
                let faq = lines[i + 1..]
                    .iter()
                    .take(3)
                    .find_map(|l| l.trim().strip_prefix("\"faq\": "))
                    .map(|f| f.trim_end_matches(',').parse().unwrap());
                out.push((name.clone(), code, faq));
            }
            for sev in ["error ", "warning "] {
                if let Some(rest) = t.strip_prefix(sev) {
                    let mut w = rest.split_whitespace();
                    let (Some(code), Some("(faq")) = (w.next(), w.next()) else {
                        continue;
                    };
                    let faq = w.next().and_then(|f| f.trim_end_matches(')').parse().ok());
                    out.push((name.clone(), code.to_string(), faq));
                }
            }
        }
    }
    out
}

#[test]
fn every_code_the_snapshots_print_is_in_the_table_with_its_faq() {
    let seen = corpus_codes();
    assert!(seen.len() > 100, "the corpus shows codes: {}", seen.len());
    for (file, code, faq) in &seen {
        let c =
            Code::lookup(code).unwrap_or_else(|| panic!("{file}: {code} is not in the code table"));
        assert_eq!(
            c.as_str(),
            code,
            "{file}: printed exactly as the table names it"
        );
        assert!(
            !c.info().reserved(),
            "{file}: {code} is printed but marked reserved"
        );
        if let Some(f) = faq {
            assert!(
                c.info().faq.contains(f),
                "{file}: {code} printed with faq {f}, the table says {:?}",
                c.info().faq
            );
        }
    }
}

#[test]
fn explain_prints_every_section_of_every_code() {
    for c in CODES {
        let r = vpntrace(&["explain", c.name]);
        assert_eq!(r.code, 0, "{}: {}", c.name, r.stderr);
        assert!(
            r.stdout.starts_with(&format!("{} (faq ", c.name)),
            "{}: {}",
            c.name,
            r.stdout
        );
        for s in DOC_SECTIONS {
            assert!(r.stdout.contains(&format!("\n{s}\n")), "{}: no {s}", c.name);
        }
    }
}

#[test]
fn explain_is_case_insensitive() {
    let upper = vpntrace(&["explain", "IKE_PSK_MISMATCH"]);
    let lower = vpntrace(&["explain", "ike_psk_mismatch"]);
    assert_eq!(upper.code, 0);
    assert_eq!(upper.stdout, lower.stdout);
}

#[test]
fn an_unknown_code_exits_2_with_close_matches() {
    let r = vpntrace(&["explain", "SG_INGRES_DROP"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("unknown code `SG_INGRES_DROP`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("SG_INGRESS_DROP"), "{}", r.stderr);
    let r = vpntrace(&["explain", "nothing-like-it-at-all-xyz"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("vpntrace explain` lists every code"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_renamed_code_names_its_new_name() {
    for (old, new) in [
        ("PSK_MISMATCH", "IKE_PSK_MISMATCH"),
        ("TS_MISMATCH", "TRAFFIC_SELECTOR_MISMATCH"),
        ("ESP_PROPOSAL_MISMATCH", "IPSEC_PROPOSAL_MISMATCH"),
    ] {
        let r = vpntrace(&["explain", old]);
        assert_eq!(r.code, 2, "{old}");
        assert!(
            r.stderr.contains(&format!("renamed {new}")),
            "{old}: {}",
            r.stderr
        );
    }
}

#[test]
fn explain_without_a_code_lists_every_code() {
    let r = vpntrace(&["explain"]);
    assert_eq!(r.code, 0);
    let lines: Vec<&str> = r.stdout.lines().take(CODES.len()).collect();
    for (l, c) in lines.iter().zip(CODES) {
        assert!(l.starts_with(c.name), "{l}");
        assert!(
            l.contains(c.severity.as_str()) && l.contains(c.title),
            "{l}"
        );
    }
}

#[test]
fn explain_json() {
    let r = vpntrace(&["explain", "sa_not_covering", "--format", "json"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["code"], "SA_NOT_COVERING");
    assert_eq!(v["faq"], serde_json::json!([5, 3, 4]));
    assert_eq!(v["severity"], "error");
    assert_eq!(v["reserved"], false);
    for k in ["meaning", "faq", "detection", "example", "fix"] {
        assert!(
            v["sections"][k].as_str().is_some_and(|s| !s.is_empty()),
            "{k}"
        );
    }
    let r = vpntrace(&["explain", "--format", "json"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    let table: Vec<&str> = CODES.iter().map(|c| c.name).collect();
    assert_eq!(names, table);
}

#[test]
fn the_readme_lists_exactly_the_table() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let table = vpntrace::render::explain::readme_table();
    assert!(
        readme.contains(&table),
        "README.md's code table is not the code table; paste this under \"## Finding codes\":\n{table}"
    );
}
