//! scripts/export-linux.sh for real: a FAQ 6 gateway built in network namespaces
//! (tests/data/import/netns-gw.sh), dumped by the script inside its namespace, imported
//! with the cloud's API responses; `check` names its MASQUERADE rule. Needs root and
//! `ip netns`; otherwise it says so on stderr and passes without testing.

use std::path::Path;
use std::process::Command;

fn root_with_netns() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    uid && Command::new("ip")
        .args(["netns", "list"])
        .status()
        .is_ok_and(|s| s.success())
}

struct Namespaces(String);
impl Drop for Namespaces {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/netns-gw.sh");
        let _ = Command::new("sh")
            .arg(script)
            .args(["down", &self.0])
            .status();
    }
}

#[test]
fn namespace_gateway_exported_imported_and_checked() {
    if !root_with_netns() {
        eprintln!(
            "SKIPPED namespace_gateway_exported_imported_and_checked: needs root and `ip netns`"
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suffix = format!("vt{}", std::process::id() % 100000);
    let st = Command::new("sh")
        .arg(root.join("tests/data/import/netns-gw.sh"))
        .arg(&suffix)
        .status()
        .unwrap();
    let _ns = Namespaces(suffix.clone());
    assert!(st.success(), "building the namespaces failed");
    let out = std::env::temp_dir().join(format!("vpntrace-netns-{suffix}"));
    let _ = std::fs::remove_dir_all(&out);
    let st = Command::new("ip")
        .args(["netns", "exec", &format!("gw-{suffix}"), "sh"])
        .arg(root.join("scripts/export-linux.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    for f in [
        "ip-addr.json",
        "ip-route.json",
        "iptables-save.txt",
        "sysctl.txt",
    ] {
        assert!(out.join(f).exists(), "{f} not written");
    }
    // strongSwan does not run in the namespace: its configuration is the gateway's file.
    std::fs::copy(
        root.join("tests/data/import/gw-swanctl.conf"),
        out.join("swanctl.conf"),
    )
    .unwrap();
    let _ = std::fs::remove_file(out.join("list-sas.txt"));
    let topo = out.join("topology.json");
    let o = Command::new(env!("CARGO_BIN_EXE_vpntrace"))
        .args(["import", "--alibaba"])
        .arg(root.join("tests/data/import/faq6-cloud"))
        .arg("--linux")
        .arg(format!("idc-gw={}", out.display()))
        .arg("--into")
        .arg(root.join("tests/data/import/faq6-hosts.json"))
        .arg("-o")
        .arg(&topo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&topo).unwrap()).unwrap();
    let gw = t["onprem"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "idc-gw")
        .unwrap();
    let names: Vec<&str> = gw["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lan0", "wan0"]);
    assert_eq!(gw["forwarding"], true);
    assert_eq!(gw["rp_filter"], "strict");
    assert_eq!(gw["filter"]["stateful"], true);
    assert_eq!(gw["filter"]["forward"]["default"], "drop");
    assert_eq!(
        gw["filter"]["forward"]["rules"].as_array().unwrap().len(),
        4,
        "VPN chain inlined: 1 + 2 (multiport) + 1"
    );
    assert_eq!(gw["nat"].as_array().unwrap().len(), 2);
    let o = Command::new(env!("CARGO_BIN_EXE_vpntrace"))
        .arg("check")
        .arg(&topo)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "IDC_NAT_BREAKS_IPSEC (faq 6) at idc-gw, rule POSTROUTING -o wan0 -j MASQUERADE"
        ),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
