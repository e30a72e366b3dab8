//! The command line: exit codes, and bad input that must exit 2 with a message naming
//! the file and where, never a panic.

mod common;

use common::vpntrace;

const GOOD: &str = "topologies/faq6_usg_nat.json";

fn write_tmp(name: &str, content: &[u8]) -> common::TmpFile {
    common::TmpFile::new(&format!("cli-{name}"), content)
}

/// Apply a textual edit to a good topology, run `validate`, expect exit 2 and a message
/// that contains each of `needles`.
fn bad(name: &str, from: &str, to: &str, needles: &[&str]) {
    let text = std::fs::read_to_string(common::root().join(GOOD)).unwrap();
    assert!(
        text.contains(from),
        "{name}: the edit `{from}` does not apply"
    );
    let p = write_tmp(
        &format!("{name}.json"),
        text.replacen(from, to, 1).as_bytes(),
    );
    let r = vpntrace(&["validate", &p]);
    assert_eq!(r.code, 2, "{name}: {}", r.stderr);
    assert!(r.stdout.is_empty(), "{name}: validate printed {}", r.stdout);
    assert!(
        r.stderr.contains(&*p),
        "{name}: message does not name the file: {}",
        r.stderr
    );
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "{name}: message lacks `{n}`: {}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
}

#[test]
fn a_good_topology_validates_silently() {
    let r = vpntrace(&["validate", GOOD]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
}

#[test]
fn exit_codes_follow_the_spec() {
    assert_eq!(vpntrace(&["trace", "topologies/healthy.json"]).code, 0);
    // Every flow the file lists behaves as its `expect` says (two fail as expected).
    let listed = vpntrace(&["trace", GOOD]);
    assert_eq!(listed.code, 0);
    assert!(
        listed.stdout.ends_with("3 flow(s) traced: 3 as expected\n"),
        "{}",
        listed.stdout
    );
    let wrong = write_tmp(
        "wrong-expect.json",
        std::fs::read_to_string(common::root().join(GOOD))
            .unwrap()
            .replacen("\"expect\": \"delivered\"", "\"expect\": \"dropped\"", 1)
            .as_bytes(),
    );
    let r = vpntrace(&["trace", &wrong]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("flows[2] expected dropped, got delivered"),
        "{}",
        r.stdout
    );
    let man = vpntrace(&["man"]);
    assert!(
        man.code == 0 && man.stdout.contains(".TH vpntrace"),
        "{}",
        man.stderr
    );
    let bash = vpntrace(&["completions", "bash"]);
    assert!(bash.code == 0 && bash.stdout.contains("vpntrace"));
    assert_eq!(
        vpntrace(&["trace", GOOD, "--from", "nope", "--to", "idc-db01"]).code,
        2
    );
    assert_eq!(vpntrace(&["trace", GOOD, "--from", "idc-db01"]).code, 2);
    assert_eq!(
        vpntrace(&[
            "trace",
            GOOD,
            "--from",
            "idc-db01",
            "--to",
            "i-bp1xwsb0wf15esgapk66",
            "--protocol",
            "tcp"
        ])
        .code,
        2
    );
    assert_eq!(
        vpntrace(&[
            "trace",
            GOOD,
            "--from",
            "idc-db01",
            "--to",
            "i-bp1xwsb0wf15esgapk66",
            "--protocol",
            "sctp"
        ])
        .code,
        2
    );
    assert_eq!(vpntrace(&["no-such-command"]).code, 2);
    assert_eq!(vpntrace(&["validate", "does/not/exist.json"]).code, 2);
}

#[test]
fn dangling_references_name_the_json_path() {
    bad(
        "dangling-sg",
        r#""security_groups": ["sg-bp12"#,
        r#""security_groups": ["sg-nope", "sg-bp12"#,
        &[
            "security group `sg-nope`",
            "not defined",
            "cloud.instances[0].security_groups[0]",
        ],
    );
    bad(
        "dangling-vsw",
        r#""vswitch": ""#,
        r#""vswitch": "vsw-nope"#,
        &["vSwitch", "cloud.instances[0].vswitch"],
    );
    bad(
        "dangling-rt",
        r#""route_table": ""#,
        r#""route_table": "vtb-nope"#,
        &["route table", "cloud.vswitches[0].route_table"],
    );
    bad(
        "dangling-conn",
        r#""connection": ""#,
        r#""connection": "vco-nope"#,
        &["IPsec connection `vco-nope"],
    );
    bad(
        "dangling-cgw",
        r#""customer_gateway": ""#,
        r#""customer_gateway": "cgw-nope"#,
        &[
            "customer gateway",
            "cloud.ipsec_connections[0].customer_gateway",
        ],
    );
    bad(
        "dangling-iface",
        r#""out_interface": "Dialer0""#,
        r#""out_interface": "Dialer9""#,
        &["interface `Dialer9`", "nat[0].out_interface"],
    );
}

#[test]
fn invalid_values_name_the_json_path() {
    bad(
        "bad-cidr",
        r#""cidrs": ["192.168.1.0/24"]"#,
        r#""cidrs": ["192.168.1.0/33"]"#,
        &["cloud.vpc.cidrs[0]", "expected an IPv4 address or CIDR"],
    );
    bad(
        "bad-port",
        r#""protocol": "#,
        r#""ports": "99999", "protocol": "#,
        &["ports", "expected a port"],
    );
    bad(
        "bad-priority",
        r#""priority": "#,
        r#""priority": 101, "x": "#,
        &["priority"],
    );
    bad(
        "bad-protocol",
        r#""protocol": ""#,
        r#""protocol": "sctp", "y": ""#,
        &["protocol"],
    );
    bad(
        "instance-outside-vswitch",
        r#""ip": "192.168.1.10""#,
        r#""ip": "192.168.7.10""#,
        &["outside its vSwitch", "cloud.instances[0].ip"],
    );
    bad(
        "iface-network-address",
        r#""address": "192.168.0.1/24""#,
        r#""address": "192.168.0.0/24""#,
        &["network address", "interfaces[0].address"],
    );
    bad(
        "unknown-field",
        r#""format": 1,"#,
        r#""format": 1, "colour": "red","#,
        &["unknown field `colour`"],
    );
    bad(
        "format-2",
        r#""format": 1,"#,
        r#""format": 2,"#,
        &["expected format 1"],
    );
}

#[test]
fn structural_mistakes_are_refused() {
    bad(
        "duplicate-instance-id",
        r#""instances": ["#,
        r#""instances": [{"id": "i-bp1xwsb0wf15esgapk66", "ip": "192.168.1.77", "vswitch": "vsw-bp18kxbkg7s3ihrwqept5dkmf", "security_groups": []}, "#,
        &["duplicate instance id"],
    );
    let text = std::fs::read_to_string(common::root().join(GOOD)).unwrap();
    let e = text
        .replacen(r#""type": "basic""#, r#""type": "enterprise""#, 1)
        .replacen(
            r#""peer": "192.168.0.0/24"}"#,
            r#""peer_group": "sg-bp12ezgpzuytpsnhvtnx"}"#,
            1,
        );
    let p = write_tmp("enterprise-peer-group.json", e.as_bytes());
    let r = vpntrace(&["validate", &p]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot use peer_group")
            && r.stderr.contains("security_groups[0].rules[0].peer_group"),
        "{}",
        r.stderr
    );
}

#[test]
fn syntax_errors_name_line_and_column_and_odd_files_do_not_panic() {
    let p = write_tmp("syntax.json", b"{\n  \"format\": 1,\n  \"cloud\": {,\n}");
    let r = vpntrace(&["validate", &p]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("line 3 column"), "{}", r.stderr);

    for (name, content) in [
        ("empty.json", b"".to_vec()),
        ("binary.json", vec![0u8, 159, 146, 150, 255, 1, 2, 3]),
        ("array.json", b"[1, 2, 3]".to_vec()),
        (
            "deep.json",
            format!("{{\"format\": 1, \"cloud\": {}", "[".repeat(200_000)).into_bytes(),
        ),
        (
            "deep-objects.json",
            format!("{{\"format\": 1, \"name\": {}", "{\"a\":".repeat(200_000)).into_bytes(),
        ),
        (
            "truncated.json",
            b"{\"format\": 1, \"cloud\": {\"vpc\": {\"id\": \"v\"".to_vec(),
        ),
    ] {
        let p = write_tmp(name, &content);
        let r = vpntrace(&["validate", &p]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(&*p) && !r.stderr.contains("panicked"),
            "{name}: {}",
            r.stderr
        );
    }
}

#[test]
fn pre_shared_keys_never_appear_in_output() {
    let text = std::fs::read_to_string(common::root().join(GOOD)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let psk = v["cloud"]["ipsec_connections"][0]["ike"]["psk"]
        .as_str()
        .unwrap()
        .to_string();
    for args in [
        vec!["trace", GOOD],
        vec!["trace", GOOD, "--format", "json"],
        vec!["graph", GOOD],
    ] {
        let r = vpntrace(&args);
        assert!(
            !r.stdout.contains(&psk) && !r.stderr.contains(&psk),
            "{args:?} printed the PSK"
        );
    }
}

#[test]
fn graph_prints_dot_with_every_device() {
    let r = vpntrace(&["graph", GOOD]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("digraph "));
    for id in ["i-bp1xwsb0wf15esgapk66", "sh-idc-usg01", "idc-db01"] {
        assert!(r.stdout.contains(id), "{id} missing from the DOT");
    }
}

#[test]
fn check_reads_idc_sas_from_a_swanctl_listing() {
    let t = "topologies/faq5_multi_sa.json";
    let r = vpntrace(&[
        "check",
        t,
        "--idc-sas",
        "idc-swan01=tests/data/strongswan/ok_ikev2_split_children/idc.list-sas.txt",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("note:"), "{}", r.stderr);
    assert!(
        r.stdout.contains("IKEV2_SA_PER_SUBNET_PAIR"),
        "{}",
        r.stdout
    );
    let bad = vpntrace(&["check", t, "--idc-sas", "idc-swan01"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("DEVICE=FILE"), "{}", bad.stderr);
    let missing = vpntrace(&["check", t, "--idc-sas", "idc-swan01=nope.txt"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.txt"), "{}", missing.stderr);
}

#[test]
fn logs_and_split_commands() {
    let r = vpntrace(&["logs", "tests/data/strongswan/phase1_dh_mismatch/cloud.log"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("IKE_PROPOSAL_MISMATCH") && r.stdout.contains("DH group"),
        "{}",
        r.stdout
    );
    let ok = vpntrace(&[
        "logs",
        "tests/data/strongswan/ok_ikev2_single/cloud.log",
        "tests/data/strongswan/ok_ikev2_single/idc.log",
        "--format",
        "json",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let v: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] != "error"));
    assert_eq!(vpntrace(&["logs", "no/such.log"]).code, 2);

    let s = vpntrace(&[
        "split",
        "topologies/faq5_multi_sa.json",
        "--connection",
        "vco-bp1lq3i0bm8p5aipkvn8jd6a5",
    ]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert!(s.stdout.contains("verified: yes"), "{}", s.stdout);
    let blocked = vpntrace(&[
        "split",
        "topologies/faq5_split_blocked.json",
        "--connection",
        "vco-bp197rs6256v02vctwvm9mm59",
    ]);
    assert_eq!(blocked.code, 1, "{}", blocked.stdout);
    assert!(
        blocked.stdout.contains("fwd-2-drop-old-lab"),
        "{}",
        blocked.stdout
    );
    assert_eq!(
        vpntrace(&[
            "split",
            "topologies/faq5_multi_sa.json",
            "--connection",
            "nope"
        ])
        .code,
        2
    );
}
