//! `vpntrace validate`: every error of a topology in one run, in file order, as text or
//! JSON; the other commands still stop at the first, with the same message.

mod common;

use common::{snapshots, topologies, vpntrace};

const GOOD: &str = "topologies/faq6_usg_nat.json";

/// Write `text` under `target/validate-test/` (a path relative to the project root, so
/// the messages that name it are the same on every machine) and return that path.
fn planted(name: &str, text: &str) -> String {
    let rel = format!("target/validate-test/{name}.json");
    let p = common::root().join(&rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    rel
}

/// The good topology with each `(from, to)` edit applied once.
fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(common::root().join(GOOD)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "the edit `{from}` does not apply");
        text = text.replacen(from, to, 1);
    }
    text
}

/// Three faults in three places: an instance outside its vSwitch (checked in the cloud
/// half of lowering), a VPN route to a connection that does not exist, and an interface
/// address that is not an address (refused by serde, in the on-prem half).
const THREE: &[(&str, &str)] = &[
    (r#""ip": "192.168.1.10""#, r#""ip": "192.168.2.10""#),
    (
        r#""next_hop": "vco-bp12l70h3uac3r0opo81atakn""#,
        r#""next_hop": "vco-nope""#,
    ),
    (
        r#""address": "192.168.0.30/24""#,
        r#""address": "192.168.0.300/24""#,
    ),
];

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}

#[test]
fn three_planted_errors_are_reported_in_one_run() {
    let p = planted("three-errors", &edited(THREE));
    let text = vpntrace(&["validate", &p]);
    let json = vpntrace(&["validate", &p, "--format", "json"]);
    assert_eq!((text.code, json.code), (2, 2), "{}", text.stderr);
    assert!(text.stdout.is_empty() && json.stderr.is_empty());
    let lines = error_lines(&text.stderr);
    assert_eq!(lines.len(), 3, "{}", text.stderr);
    // In file order: cloud before on-prem, instances before VPN gateways.
    for (line, at) in lines.iter().zip([
        "cloud.instances[0].ip",
        "cloud.vpn_gateways[0].routes[0].next_hop",
        "onprem.devices[2].interfaces[0].address",
    ]) {
        assert!(line.contains(&format!("{p}: {at}: ")), "{line}");
    }
    assert!(text.stderr.ends_with(&format!("\n{p}: 3 errors\n")));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"].as_array().unwrap().len(), 3);
    snapshots().bind(|| {
        insta::assert_snapshot!("validate__three_errors__text", text.stderr);
        insta::assert_snapshot!("validate__three_errors__json", json.stdout);
    });
}

/// Each planted error alone: `validate` prints exactly what `check` and `trace` print
/// for it (the message the first error had before `validate` collected them all).
#[test]
fn each_error_alone_reads_as_check_and_trace_print_it() {
    for (k, edit) in THREE.iter().enumerate() {
        let p = planted(&format!("one-error-{k}"), &edited(&[*edit]));
        let v = vpntrace(&["validate", &p]);
        let lines = error_lines(&v.stderr);
        assert_eq!(lines.len(), 1, "{}", v.stderr);
        for cmd in ["check", "trace"] {
            let r = vpntrace(&[cmd, &p]);
            assert_eq!(r.code, 2, "{cmd}: {}", r.stderr);
            assert_eq!(r.stderr, format!("{}\n", lines[0]), "{cmd}");
        }
    }
    // With all three, check stops at the first lowering meets, one of validate's lines.
    let p = planted("three-errors-check", &edited(THREE));
    let v = vpntrace(&["validate", &p]);
    let c = vpntrace(&["check", &p]);
    assert_eq!(c.stderr.lines().count(), 1);
    assert!(
        error_lines(&v.stderr).contains(&c.stderr.trim_end()),
        "{}",
        c.stderr
    );
}

/// Values serde refuses, two in one list and one in another, are all reported with the
/// file's own indices; what names an element that did not parse is not reported again
/// as dangling; a reference error found by lowering is reported alongside.
#[test]
fn values_that_do_not_parse_are_collected_with_their_paths() {
    let text = edited(&[
        // onprem.devices[0].interfaces[0]: not a CIDR; the GE0/0/1 it names elsewhere
        // is then unparsed, not undefined.
        (
            r#""address": "192.168.0.1/24""#,
            r#""address": "192.168.0.1/33""#,
        ),
        // cloud.security_groups[0].rules[1]: a priority outside 1..100.
        (
            r#""priority": 1, "protocol": "icmp""#,
            r#""priority": 101, "protocol": "icmp""#,
        ),
        // cloud.security_groups[0].rules[0].priorty: an unknown field.
        (
            r#""priority": 1, "protocol": "tcp""#,
            r#""priorty": 1, "protocol": "tcp""#,
        ),
        // cloud.instances[0]: a security group that does not exist (lowering).
        (
            r#""security_groups": ["sg-bp12ezgpzuytpsnhvtnx"]"#,
            r#""security_groups": ["sg-nope"]"#,
        ),
    ]);
    let p = planted("value-errors", &text);
    let r = vpntrace(&["validate", &p, "--format", "json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let got: Vec<(&str, &str)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    let paths: Vec<&str> = got.iter().map(|g| g.0).collect();
    assert_eq!(
        paths,
        [
            "cloud.security_groups[0].rules[0].priorty",
            "cloud.security_groups[0].rules[1].priority",
            "cloud.instances[0].security_groups[0]",
            "onprem.devices[0].interfaces[0].address",
        ],
        "{got:#?}"
    );
    assert!(got[0].1.contains("unknown field `priorty`"), "{got:#?}");
    assert!(got[1].1.contains("1..100"), "{got:#?}");
    assert!(got[2].1.contains("`sg-nope`"), "{got:#?}");
    assert!(got[3].1.contains("192.168.0.1/33"), "{got:#?}");
}

#[test]
fn a_syntax_error_is_one_error_with_line_and_column() {
    let p = planted("syntax", "{\n  \"format\": 1,\n  \"cloud\": {,\n}");
    let r = vpntrace(&["validate", &p, "--format", "json"]);
    assert_eq!(r.code, 2);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert_eq!(
        (errors[0]["line"].as_u64(), errors[0]["path"].is_null()),
        (Some(3), true)
    );
    assert!(errors[0]["column"].as_u64().is_some());
    let t = vpntrace(&["validate", &p]);
    assert_eq!(error_lines(&t.stderr).len(), 1);
    assert!(t.stderr.contains(": line 3 column "), "{}", t.stderr);
}

#[test]
fn every_bundled_topology_is_valid() {
    for path in topologies() {
        let rel = format!("topologies/{}", path.file_name().unwrap().to_string_lossy());
        let text = vpntrace(&["validate", &rel]);
        assert_eq!(
            (text.code, text.stdout.as_str(), text.stderr.as_str()),
            (0, "", ""),
            "{rel}"
        );
        let json = vpntrace(&["validate", &rel, "--format", "json"]);
        assert_eq!(json.code, 0);
        assert_eq!(json.stdout, "{\n  \"errors\": [],\n  \"valid\": true\n}\n");
    }
}

/// Damaged copies of a bundled topology (bytes overwritten, values swapped for others of
/// the wrong kind, the file cut short) never panic, always name an error when `load` does,
/// and the first error `load` finds is among those `load_all` reports.
#[test]
fn damaged_topologies_never_panic() {
    let good = std::fs::read_to_string(common::root().join(GOOD)).unwrap();
    let dir = common::root().join("target/validate-test/damaged");
    std::fs::create_dir_all(&dir).unwrap();
    let swaps = [
        ("\"192.168.", "\"300.1."),
        ("\"id\"", "\"idx\""),
        ("\"sg-", "\"nope-"),
        ("\"vco-", "\"x-"),
        (": 1,", ": \"one\","),
        ("\"eth0\"", "\"eth9\""),
        ("[", "[{},"),
        ("/24", "/40"),
        (": true", ": 7"),
    ];
    // A small linear congruential generator: the same cases on every run.
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n.max(1)
    };
    for case in 0..300 {
        let mut text = good.clone();
        for _ in 0..1 + next(3) {
            let (from, to) = swaps[next(swaps.len())];
            let hits: Vec<usize> = text.match_indices(from).map(|(i, _)| i).collect();
            if hits.is_empty() {
                continue;
            }
            let at = hits[next(hits.len())];
            text.replace_range(at..at + from.len(), to);
        }
        if case % 10 == 0 {
            let cut = next(text.len());
            text.truncate(text.floor_char_boundary_compat(cut));
        }
        if case % 7 == 0 {
            let mut bytes = text.into_bytes();
            let at = next(bytes.len());
            bytes[at] = b"{}[]\",:x0"[next(9)];
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let p = dir.join(format!("case-{case}.json"));
        std::fs::write(&p, &text).unwrap();
        let one = vpntrace::model::load(&p);
        let all = vpntrace::model::validate::load_all(&p);
        match (one, all) {
            (Ok(_), Ok(_)) => {}
            (Err(first), Err(errors)) => {
                assert!(!errors.is_empty(), "case {case}");
                assert!(
                    errors.contains(&first),
                    "case {case}: {first} not in {errors:#?}"
                );
            }
            (a, b) => panic!(
                "case {case}: load and load_all disagree: {:?} / {:?}",
                a.err(),
                b.err()
            ),
        }
    }
}

/// `str::floor_char_boundary` is unstable; the same for the cut above.
trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for String {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}
