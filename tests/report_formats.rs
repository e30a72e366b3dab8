//! `check --format sarif|junit` and `check --html`: snapshots, the SARIF validated against
//! the SARIF 2.1.0 JSON schema (tests/data/sarif-schema-2.1.0.json, the OASIS schema), a
//! JUnit case per connection and direction, and a page that fetches nothing.

mod common;

use common::{root, snapshots, stem, topologies, vpntrace};

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("tests/data/sarif-schema-2.1.0.json")).unwrap();
    // The official schema's `language` patterns have a stray `]` that the draft-07
    // meta-schema's "regex" format refuses; use the pattern they mean (a language tag).
    let bad = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(text.contains(bad));
    let text = text.replace(bad, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&v).expect("the SARIF schema compiles")
}

#[test]
fn sarif_validates_on_every_topology() {
    let s = schema();
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        let r = vpntrace(&["check", &rel, "--format", "sarif"]);
        assert!(r.code == 0 || r.code == 1, "{rel}: {}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let errors: Vec<String> = s
            .iter_errors(&v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{rel}: {errors:#?}");
        let json = vpntrace(&["check", &rel, "--format", "json"]);
        let j: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(
            v["runs"][0]["results"].as_array().unwrap().len(),
            j["findings"].as_array().unwrap().len(),
            "{rel}: one result per finding"
        );
    }
}

#[test]
fn the_schema_rejects_a_broken_log() {
    // The test above could not fail if the schema accepted anything.
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"results": []}]});
    assert!(!schema().is_valid(&bad));
}

#[test]
fn snapshots_of_sarif_and_junit() {
    for t in ["faq3_idc_iptables_drop", "faq6_usg_nat", "healthy"] {
        let rel = format!("topologies/{t}.json");
        let sarif = vpntrace(&["check", &rel, "--format", "sarif"]);
        let junit = vpntrace(&["check", &rel, "--format", "junit"]);
        assert_eq!(sarif.code, junit.code);
        snapshots().bind(|| {
            insta::assert_snapshot!(format!("check__{t}__sarif"), sarif.stdout);
            insta::assert_snapshot!(format!("check__{t}__junit"), junit.stdout);
        });
    }
}

#[test]
fn junit_has_a_case_per_connection_and_direction_failed_by_errors() {
    for path in topologies() {
        let rel = format!("topologies/{}.json", stem(&path));
        let j: serde_json::Value =
            serde_json::from_str(&vpntrace(&["check", &rel, "--format", "json"]).stdout).unwrap();
        let x = vpntrace(&["check", &rel, "--format", "junit"]).stdout;
        let summary = j["summary"].as_array().unwrap();
        let cases = x.matches("<testcase ").count();
        assert!(cases >= summary.len(), "{rel}");
        let any_error = j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "error");
        assert_eq!(x.contains("<failure "), any_error, "{rel}");
    }
}

#[test]
fn html_report_is_self_contained() {
    let out = std::env::temp_dir().join(format!("vpntrace-report-{}.html", std::process::id()));
    let r = vpntrace(&[
        "check",
        "topologies/faq6_usg_nat.json",
        "--html",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    let page = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(page.contains("<svg "));
    assert!(page.contains("IDC_NAT_BREAKS_IPSEC"));
    assert!(
        page.contains("✗ IDC_NAT_BREAKS_IPSEC"),
        "the failing hop is marked"
    );
    for fetch in ["src=", "href=\"http", "@import", "url(http"] {
        assert!(!page.contains(fetch), "{fetch}");
    }
}
