//! Prediction against reality: for every stored run of the real-run lab
//! (tests/data/ike-lab/<case>/, see its README) a topology is built from the run's two
//! configurations, exactly as the daemons read them (cloud: `cloud.swanctl.conf`; IDC:
//! `idc.swanctl.conf`, or Libreswan's `idc.ipsec.conf` + `idc.ipsec.secrets`), through
//! the importer's parsers, and the settings comparison
//! ([`vpntrace::analysis::negotiation::compare_connection`], what `check` runs) must
//! predict the cause the run's logs show (its case.env `EXPECT`):
//!
//! - a failed negotiation: the comparison's first error has the EXPECTed code;
//! - a healthy run: no error (a warning that the SA is at risk is allowed);
//! - a cause that settings cannot show by nature ([`PATH_FAULTS`]: the peer not
//!   answering, UDP 4500 or all UDP dropped on the way, a dead peer): both configurations
//!   are the healthy baseline, so the comparison must report no error. These runs are
//!   counted apart, with the reason, not skipped.
//!
//! Runs listed in [`KNOWN`] are known disagreements between the comparison and reality,
//! with the reason; the test fails once one of them agrees (so that the list only
//! shrinks). The table of agreements per family and code is printed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use vpntrace::analysis::negotiation;
use vpntrace::findings::finding::{Finding, Severity};
use vpntrace::input::import::linux::{libreswan, swanconf};
use vpntrace::input::{IpsecConnection, Topology};

fn lab() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ike-lab")
}

/// Causes that no configuration shows: they happen on the path or in time.
const PATH_FAULTS: &[(&str, &str)] = &[
    (
        "PEER_NOT_RESPONDING",
        "the peer's daemon is not running: both configurations are fine, nothing answers",
    ),
    (
        "NAT_T_BLOCKED",
        "UDP 4500 is dropped by a filter on the way: a path fault, not a setting of either end",
    ),
    (
        "DPD_TIMEOUT",
        "the tunnel came up and the peer went silent later: liveness, not settings",
    ),
    (
        "REKEY_FAILED",
        "the peer went silent before a rekey: liveness, not settings",
    ),
];

/// Known disagreements between the comparison and reality, with why.
const KNOWN: &[(&str, &str)] = &[
    ("ls_ts_ikev1main_cloud", "Libreswan 4.10 as IKEv1 Quick Mode responder accepted a proposal for a subnet it does not protect (172.30.96.0/19 while its leftsubnet is 172.30.64.0/19); the comparison reports the disjoint selectors, as any other peer would refuse them"),
    ("ls_pfs_ikev1main_cloud", "Libreswan with pfs=no still accepts PFS when the initiator offers it (ipsec.conf(5)); the comparison models neither which end initiates nor this leniency, and reports PFS_MISMATCH"),
    ("ls_pfs_ikev2_cloud", "the PFS mismatch shows only at the first CHILD_SA rekey, which this run never reached (Libreswan cannot install a Child SA in the lab's kernel): the stored OK means not observed"),
    ("ls_pfs_ikev2_idc", "as ls_pfs_ikev2_cloud, with idc initiating"),
];

fn case_env(dir: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(dir.join("case.env")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().trim_matches('\'').to_string()))
        .collect()
}

/// The lab's topology (README "Topology and baseline") with the run's two ends as their
/// configurations say.
fn topology(dir: &Path) -> Result<Topology, String> {
    let read = |f: &str| {
        fs::read_to_string(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()))
    };
    let (cloud, _) = swanconf::connections(
        "cloud.swanctl.conf",
        "cloud.swanctl.conf",
        &read("cloud.swanctl.conf")?,
    )
    .map_err(|e| e.to_string())?;
    let (idc, _) = if dir.join("idc.ipsec.conf").exists() {
        let secrets = read("idc.ipsec.secrets").ok();
        libreswan::connections(
            "idc.ipsec.conf",
            "idc.ipsec.conf",
            &read("idc.ipsec.conf")?,
            secrets.as_deref(),
        )
        .map_err(|e| e.to_string())?
    } else {
        swanconf::connections(
            "idc.swanctl.conf",
            "idc.swanctl.conf",
            &read("idc.swanctl.conf")?,
        )
        .map_err(|e| e.to_string())?
    };
    let (Some(cloud), Some(idc)) = (cloud.into_iter().next(), idc.into_iter().next()) else {
        return Err("a configuration without a connection".into());
    };
    let gw_ip = cloud.local_addrs.first().cloned().unwrap_or_default();
    let cgw_ip = cloud.remote_addrs.first().cloned().unwrap_or_default();
    let idc_ip = idc.local_addrs.first().cloned().unwrap_or_default();
    let json = format!(
        r#"{{
  "format": 1,
  "name": "ike-lab run {name}",
  "cloud": {{
    "vpc": {{"id": "vpc-lab", "cidrs": ["10.0.0.0/8", "172.30.128.0/17"]}},
    "vpn_gateways": [{{"id": "vpn-lab", "public_ip": "{gw_ip}"}}],
    "customer_gateways": [{{"id": "cgw-lab", "ip": "{cgw_ip}"}}]
  }},
  "onprem": {{"devices": [{{
    "id": "idc", "kind": "gateway",
    "interfaces": [
      {{"name": "lan0", "address": "172.30.96.1/19", "role": "inside"}},
      {{"name": "wan0", "address": "{idc_ip}/24", "role": "outside"}}
    ]
  }}]}}
}}"#,
        name = dir.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut topo = vpntrace::model::parse("lab.json", &json).map_err(|e| e.to_string())?;
    let c = cloud.ipsec;
    topo.cloud.ipsec_connections.push(IpsecConnection {
        id: "vco-lab".into(),
        vpn_gateway: "vpn-lab".into(),
        customer_gateway: "cgw-lab".into(),
        local_subnets: c.local_subnets,
        remote_subnets: c.remote_subnets,
        ike: c.ike,
        ipsec: c.ipsec,
        status: None,
        sas: None,
        origin: c.origin,
    });
    let mut e = idc.ipsec;
    e.connection = "vco-lab".into();
    e.interface = Some("wan0".into());
    topo.onprem.devices[0].ipsec.push(e);
    Ok(topo)
}

/// The comparison's verdict: the first error's code, or `OK` when there is none.
fn predicted(findings: &[Finding]) -> String {
    findings
        .iter()
        .find(|f| f.severity == Severity::Error)
        .map_or_else(|| "OK".to_string(), |f| f.code.as_str().to_string())
}

struct Run {
    name: String,
    family: String,
    expect: String,
    got: String,
    path_fault: bool,
}

#[test]
fn the_settings_comparison_predicts_what_the_logs_show() {
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
    let mut runs = Vec::new();
    for d in &dirs {
        let env = case_env(d);
        let name = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let expect = env.get("EXPECT").cloned().unwrap_or_default();
        let topo = topology(d).unwrap_or_else(|e| panic!("{name}: {e}"));
        let cmp = negotiation::compare_connection(&topo, "vco-lab")
            .unwrap_or_else(|| panic!("{name}: the connection is gone"));
        let got = predicted(&cmp.findings);
        let path_fault = PATH_FAULTS.iter().any(|p| p.0 == expect);
        runs.push(Run {
            name,
            family: env.get("FAMILY").cloned().unwrap_or_default(),
            expect,
            got,
            path_fault,
        });
    }
    assert!(!runs.is_empty(), "no runs under {}", dir.display());

    // (family, expect) → (agreeing, runs)
    let mut table: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut fixed = Vec::new();
    for r in &runs {
        // A path fault: the configurations are the baseline, the comparison must see
        // nothing wrong in them (the logs, not the settings, show the cause).
        let want = if r.path_fault {
            "OK"
        } else {
            r.expect.as_str()
        };
        let agrees = r.got == want;
        let e = table
            .entry((r.family.clone(), r.expect.clone()))
            .or_default();
        e.1 += 1;
        if agrees {
            e.0 += 1;
        }
        let known = KNOWN.iter().find(|k| k.0 == r.name);
        match (known, agrees) {
            (None, false) => failures.push(format!("{}: want {want}, predicted {}", r.name, r.got)),
            (Some(_), true) => fixed.push(r.name.clone()),
            (Some(k), false) => println!(
                "known disagreement {}: want {want}, predicted {} ({})",
                r.name, r.got, k.1
            ),
            (None, true) => {}
        }
    }
    println!(
        "{:<24} {:<28} {:>6} {:>5}",
        "family", "expect", "agrees", "runs"
    );
    let (mut right, mut total) = (0, 0);
    for ((family, code), (ok, n)) in &table {
        let note = PATH_FAULTS
            .iter()
            .find(|p| p.0 == code)
            .map_or(String::new(), |_| "  (path fault: no setting error)".into());
        println!("{family:<24} {code:<28} {ok:>6} {n:>5}{note}");
        right += ok;
        total += n;
    }
    println!("{:<24} {:<28} {right:>6} {total:>5}", "all", "");
    for (code, why) in PATH_FAULTS {
        println!("not predictable from settings: {code}: {why}");
    }
    assert!(
        failures.is_empty(),
        "the comparison disagrees with the logs:\n{}",
        failures.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "the comparison agrees now, remove from KNOWN: {fixed:?}"
    );
}
