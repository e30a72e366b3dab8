//! The README shows real output: keep it true. Each quoted block must equal what the
//! command prints today.

mod common;

use common::vpntrace;

fn readme() -> String {
    std::fs::read_to_string(common::root().join("README.md")).unwrap()
}

/// The text between `start` (exclusive) and the next `end` in the README.
fn block<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let a = s
        .find(start)
        .unwrap_or_else(|| panic!("README lacks {start:?}"))
        + start.len();
    let b = s[a..].find(end).expect("block end") + a;
    &s[a..b]
}

#[test]
fn the_walkthrough_trace_is_what_vpntrace_prints() {
    let r = vpntrace(&[
        "trace",
        "topologies/faq6_usg_nat.json",
        "--from",
        "idc-db01",
        "--to",
        "i-bp1xwsb0wf15esgapk66",
        "--port",
        "22",
    ]);
    assert_eq!(r.code, 1);
    let s = readme();
    assert_eq!(
        block(&s, "```text\ntrace idc-db01", "```").trim(),
        r.stdout.trim_start_matches("trace idc-db01").trim()
    );
}

#[test]
fn the_check_excerpt_is_what_vpntrace_prints() {
    let r = vpntrace(&["check", "topologies/faq3_partial_acl.json"]);
    assert_eq!(r.code, 1);
    let s = readme();
    let quoted = block(
        &s,
        "$ vpntrace check topologies/faq3_partial_acl.json        # exit 1\n",
        "...\n```",
    );
    let printed: Vec<&str> = r.stdout.lines().take(quoted.lines().count()).collect();
    assert_eq!(quoted.trim_end(), printed.join("\n").trim_end());
}
