//! `vpntrace import`: the documented API examples, the FAQ 6 story from a gateway's own
//! command output plus the cloud's API responses, `--into` round trips, the Alibaba export
//! script against a stand-in `aliyun`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import")
        .join(p)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vpntrace-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn vpntrace(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_vpntrace"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_documented_api_example_imports_with_located_warnings() {
    let out = tmp("docs").join("t.json");
    let (code, _, err) = vpntrace(&[
        "import",
        "--alibaba",
        data("alibaba-api").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert!(warnings.len() > 10, "{err}");
    for w in &warnings {
        let loc = w
            .trim_start_matches("warning: ")
            .split(": ")
            .next()
            .unwrap();
        assert!(loc.contains(".json"), "a warning without its file: {w}");
    }
    // Placeholders are located, PSKs never printed.
    assert!(
        err.contains("DescribeVpnGateway.json#/InternetIp: placeholder value \"47.22.XX.XX\""),
        "{err}"
    );
    assert!(
        !err.contains("123456") && !err.contains("pgw6dy"),
        "a PSK was printed"
    );
    assert!(err.contains("DiagnoseVpnConnections is not a response vpntrace reads"));
    let (code, _, err) = vpntrace(&["validate", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(t["cloud"]["security_groups"][0]["rules"][0]["ports"], "22");
    assert_eq!(t["cloud"]["security_groups"][0]["rules"][3]["ports"], "any");
    assert_eq!(
        t["cloud"]["security_groups"][0]["rules"][3]["origin"],
        "DescribeSecurityGroupAttribute.json#/Permissions/Permission/3"
    );
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}

/// Cloud from API responses, the gateway from its own command output (recorded from the
/// namespace gateway of tests/import_linux.rs), an IDC host written by hand.
fn faq6(dir: &Path) -> PathBuf {
    let out = dir.join("faq6.json");
    let (code, _, err) = vpntrace(&[
        "import",
        "--alibaba",
        data("faq6-cloud").to_str().unwrap(),
        "--linux",
        &format!("idc-gw={}", data("linux-gw").display()),
        "--into",
        data("faq6-hosts.json").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("faq6-example-psk"),
        "the PSK was printed: {err}"
    );
    out
}

#[test]
fn faq6_from_exports_names_the_masquerade_rule() {
    let dir = tmp("faq6");
    let out = faq6(&dir);
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let gw = &t["onprem"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "idc-gw")
        .unwrap()
        .clone();
    assert_eq!(gw["nat"][1]["origin"], "iptables-save.txt:22");
    assert_eq!(gw["nat"][0]["action"], "no_nat");
    assert_eq!(
        gw["ipsec"][0]["connection"], "vco-idc",
        "paired by the VPN gateway it dials"
    );
    assert_eq!(gw["filter"]["forward"]["default"], "drop");
    assert_eq!(gw["rp_filter"], "strict");
    assert!(
        t["onprem"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "db-1"),
        "hand-written host kept"
    );
    let (code, text, err) = vpntrace(&["check", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}{err}");
    assert!(
        text.contains(
            "IDC_NAT_BREAKS_IPSEC (faq 6) at idc-gw, rule POSTROUTING -o wan0 -j MASQUERADE"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "iptables -t nat -I POSTROUTING 1 -s 192.168.0.0/24 -d 192.168.2.0/24 -j ACCEPT"
        ),
        "{text}"
    );
    assert!(text.contains("(verified)"), "{text}");
    assert!(!text.contains("faq6-example-psk"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `iptables-save` output with one `iptables -t TABLE -I CHAIN N ARGS…` command applied,
/// as the kernel would list it afterwards: the rule becomes the chain's N-th.
fn apply_iptables(save: &str, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let ["iptables", "-t", table, "-I", chain, n, args @ ..] = words.as_slice() else {
        panic!("not an `iptables -t TABLE -I CHAIN N` command: {command}");
    };
    let n: usize = n.parse().expect("rule number");
    let rule = format!("-A {chain} {}", args.join(" "));
    let (mut out, mut in_table, mut seen, mut done) = (Vec::new(), false, 0, false);
    for line in save.lines() {
        if line.starts_with('*') {
            in_table = line == format!("*{table}");
        }
        let closes = line == "COMMIT" || line.starts_with(&format!("-A {chain} "));
        if in_table && !done && closes {
            seen += 1;
            if seen == n || line == "COMMIT" {
                out.push(rule.clone());
                done = true;
            }
        }
        out.push(line.to_string());
    }
    assert!(done, "no table {table} in the export");
    out.join("\n") + "\n"
}

/// The FAQ 6 story's check output, text and JSON, reviewed: the finding names the
/// MASQUERADE rule by its iptables-save line and fixes it with an iptables command. The
/// command, applied to the gateway's export and imported again, leaves nothing to report.
#[test]
fn faq6_from_exports_check_snapshot_and_the_command_verified() {
    let dir = tmp("faq6-snap");
    let out = faq6(&dir);
    let (code, text, err) = vpntrace(&["check", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let (code, json, err) = vpntrace(&["check", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| {
        insta::assert_snapshot!("import__faq6_from_exports__text", text);
        insta::assert_snapshot!("import__faq6_from_exports__json", json);
    });
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["code"], "IDC_NAT_BREAKS_IPSEC");
    assert_eq!(f["origin"], "iptables-save.txt:22");
    assert_eq!(f["verified"], true);
    let cmds = f["vendor_fix"].as_array().unwrap();
    assert_eq!(cmds.len(), 1, "{f}");
    let cmd = cmds[0].as_str().unwrap();

    // Run the command on the gateway (its export, as iptables-save would list it after).
    let gw = dir.join("gw-fixed");
    std::fs::create_dir_all(&gw).unwrap();
    for e in std::fs::read_dir(data("linux-gw")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), gw.join(e.file_name())).unwrap();
    }
    let save = std::fs::read_to_string(gw.join("iptables-save.txt")).unwrap();
    let fixed = apply_iptables(&save, cmd);
    assert_ne!(fixed, save);
    std::fs::write(gw.join("iptables-save.txt"), &fixed).unwrap();
    let again = dir.join("fixed.json");
    let (code, _, err) = vpntrace(&[
        "import",
        "--alibaba",
        data("faq6-cloud").to_str().unwrap(),
        "--linux",
        &format!("idc-gw={}", gw.display()),
        "--into",
        data("faq6-hosts.json").to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, text, err) = vpntrace(&["check", again.to_str().unwrap()]);
    assert_eq!(
        code, 0,
        "the iptables command did not fix it:\n{fixed}\n{text}{err}"
    );
    assert!(text.contains("0 error(s)"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn apply_iptables_inserts_at_the_rule_number() {
    let save = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j DROP\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j RETURN\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n";
    let one = apply_iptables(
        save,
        "iptables -t nat -I POSTROUTING 1 -s 10.0.0.0/8 -j ACCEPT",
    );
    assert!(one.contains(":POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.0.0.0/8 -j ACCEPT\n-A POSTROUTING -j RETURN"), "{one}");
    let two = apply_iptables(save, "iptables -t nat -I POSTROUTING 2 -j ACCEPT");
    assert!(
        two.contains("-j RETURN\n-A POSTROUTING -j ACCEPT\n-A POSTROUTING -j MASQUERADE"),
        "{two}"
    );
    let end = apply_iptables(save, "iptables -t filter -I FORWARD 5 -j ACCEPT");
    assert!(
        end.contains("-A FORWARD -j DROP\n-A FORWARD -j ACCEPT\nCOMMIT\n*nat"),
        "{end}"
    );
}

#[test]
fn import_into_its_own_output_is_stable() {
    let dir = tmp("roundtrip");
    let first = faq6(&dir);
    let second = dir.join("again.json");
    let (code, _, err) = vpntrace(&[
        "import",
        "--alibaba",
        data("faq6-cloud").to_str().unwrap(),
        "--linux",
        &format!("idc-gw={}", data("linux-gw").display()),
        "--into",
        first.to_str().unwrap(),
        "-o",
        second.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&first).unwrap(),
        std::fs::read_to_string(&second).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_exit_2_with_its_location() {
    let dir = tmp("bad");
    std::fs::copy(data("linux-gw/ip-addr.json"), dir.join("ip-addr.json")).unwrap();
    std::fs::write(
        dir.join("iptables-save.txt"),
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.0.999 -j DROP\nCOMMIT\n",
    )
    .unwrap();
    let out = dir.join("t.json");
    let (code, _, err) = vpntrace(&[
        "import",
        "--linux",
        &format!("gw={}", dir.display()),
        "--into",
        data("faq6-hosts.json").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("iptables-save.txt: line 3:"), "{err}");
    let (code, _, err) = vpntrace(&["import", "--linux", "gw", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("expected ID=DIR"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_alibaba_script_with_a_stand_in_aliyun() {
    let dir = tmp("aliyun");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    // Serves the FAQ 6 responses: `aliyun PRODUCT ACTION --Key value ...`; a per-object
    // response is ACTION.<id>.json where <id> is one of the arguments.
    let fake = format!(
        "#!/bin/sh\necho \"$*\" >> '{log}'\nd='{data}'\naction=$2\nfor a in \"$@\"; do\n  [ -f \"$d/$action.$a.json\" ] && exec cat \"$d/$action.$a.json\"\ndone\nexec cat \"$d/$action.json\"\n",
        log = log.display(),
        data = data("faq6-cloud").display()
    );
    std::fs::write(bin.join("aliyun"), fake).unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("aliyun"))
        .status()
        .unwrap();
    let out = dir.join("export");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/export-alibaba.sh");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let st = Command::new("sh")
        .arg(&script)
        .args(["cn-hangzhou", "vpc-faq6"])
        .arg(&out)
        .env("PATH", path)
        .status()
        .unwrap();
    assert!(st.success());
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("vpc DescribeRouteEntryList --RegionId cn-hangzhou --RouteTableId vtb-sys"),
        "{calls}"
    );
    assert!(
        calls.contains(
            "ecs DescribeSecurityGroupAttribute --RegionId cn-hangzhou --SecurityGroupId sg-app"
        ),
        "{calls}"
    );
    assert!(out.join("DescribeVpnConnections.vpn-faq6.json").exists());
    let topo = dir.join("t.json");
    let (code, _, err) = vpntrace(&[
        "import",
        "--alibaba",
        out.to_str().unwrap(),
        "-o",
        topo.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("2 instance(s), 1 VPN gateway(s), 1 connection(s); 0 warning(s)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
