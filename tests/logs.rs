//! `logs` on the real strongSwan runs in tests/data/strongswan (see its README): every case
//! is classified from each end's log alone and from both, and the rendered output is
//! snapshotted in snapshots/logs__<case>__{text,json}.snap.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use vpntrace::findings::code::Code;

use vpntrace::analysis::logs::{self, LogReport};
use vpntrace::findings::finding::Severity;
use vpntrace::input::swanctl;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/strongswan")
}

/// What each case must classify to, from either end's log.
struct Case {
    name: &'static str,
    /// The one error code each log shows (None: no error at all).
    error: Option<Code>,
    /// The warning the log shows (faq 5 layouts of the ok cases).
    warning: Option<Code>,
    /// Text a cited line of cloud.log / idc.log must contain: the line that shows it.
    cloud_line: &'static str,
    idc_line: &'static str,
    /// What the message must name: from the responder's proposals (cloud) and as
    /// inferred by the initiator (idc).
    cloud_says: &'static str,
    idc_says: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "id_mismatch",
        error: Some(Code::IkeIdMismatch),
        warning: None,
        cloud_line: "no matching peer config found",
        idc_line: "received AUTHENTICATION_FAILED notify error",
        cloud_says: "expects this gateway to be '203.0.113.10' while this gateway's LocalId is '198.51.100.1'",
        idc_says: "expects the peer to identify itself as '203.0.113.10'",
    },
    Case {
        name: "ike_version_mismatch",
        error: Some(Code::IkeVersionMismatch),
        warning: None,
        cloud_line: "no IKE config found",
        idc_line: "received NO_PROPOSAL_CHOSEN error notify",
        cloud_says: "negotiates with IKEv1, but this gateway has no configuration for IKEv1",
        idc_says: "starts IKEv1",
    },
    Case {
        name: "mode_mismatch_ikev1",
        error: Some(Code::IkeModeMismatch),
        warning: None,
        cloud_line: "none allows pre-shared key authentication using Aggressive Mode",
        idc_line: "received AUTHENTICATION_FAILED error notify",
        cloud_says: "Aggressive Mode",
        idc_says: "Aggressive Mode",
    },
    Case {
        name: "ok_ikev1_multi_subnet",
        error: None,
        warning: Some(Code::SubnetsWithoutSa),
        cloud_line: "config: 172.30.128.0/17, received: 10.0.0.0/8 => no match",
        idc_line: " 172.30.128.0/17",
        cloud_says: "also lists 172.30.128.0/17 (this side)",
        idc_says: "also lists 172.30.128.0/17 (peer side)",
    },
    Case {
        name: "ok_ikev2_single",
        error: None,
        warning: None,
        cloud_line: "",
        idc_line: "",
        cloud_says: "",
        idc_says: "",
    },
    Case {
        name: "ok_ikev2_split_children",
        error: None,
        warning: Some(Code::MultipleChildSas),
        cloud_line: "CHILD_SA net{2} established",
        idc_line: "CHILD_SA net-172{2} established",
        cloud_says: "carries 2 CHILD_SAs",
        idc_says: "carries 2 CHILD_SAs",
    },
    Case {
        name: "peer_not_responding",
        error: Some(Code::PeerNotResponding),
        warning: None,
        cloud_line: "",
        idc_line: "giving up after 5 retransmits",
        cloud_says: "",
        idc_says: "never answered",
    },
    Case {
        name: "phase1_dh_mismatch",
        error: Some(Code::IkeProposalMismatch),
        warning: None,
        cloud_line: "no acceptable KEY_EXCHANGE_METHOD found",
        idc_line: "parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]",
        cloud_says: "Differing transform: DH group. DH group: the peer offers MODP_1024",
        idc_says: "offered: IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_1024",
    },
    Case {
        name: "phase1_enc_mismatch",
        error: Some(Code::IkeProposalMismatch),
        warning: None,
        cloud_line: "no acceptable ENCRYPTION_ALGORITHM found",
        idc_line: "parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]",
        cloud_says: "Differing transform: encryption. Encryption: the peer offers AES_CBC_128",
        idc_says: "offered: IKE:AES_CBC_128",
    },
    Case {
        name: "phase2_enc_mismatch_ikev1",
        error: Some(Code::IpsecProposalMismatch),
        warning: None,
        cloud_line: "no acceptable ENCRYPTION_ALGORITHM found",
        idc_line: "[ HASH N(NO_PROP) ]",
        cloud_says: "Differing transform: encryption. Encryption: the peer offers AES_CBC_128",
        idc_says: "likely difference is the phase-2 encryption",
    },
    Case {
        name: "phase2_enc_mismatch_ikev2",
        error: Some(Code::IpsecProposalMismatch),
        warning: None,
        cloud_line: "no acceptable ENCRYPTION_ALGORITHM found",
        idc_line: "received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built",
        cloud_says: "Differing transform: encryption. Encryption: the peer offers AES_CBC_128",
        idc_says: "likely difference is the phase-2 encryption",
    },
    Case {
        name: "phase2_pfs_mismatch",
        error: Some(Code::PfsMismatch),
        warning: None,
        cloud_line: "no acceptable KEY_EXCHANGE_METHOD found",
        idc_line: "[ HASH N(NO_PROP) ]",
        cloud_says: "The peer offers MODP_2048 (Alibaba Cloud: group14), this gateway's matching proposal has no PFS",
        idc_says: "likely difference is PFS",
    },
    Case {
        name: "phase2_subnet_mismatch_ikev1_main",
        error: Some(Code::TrafficSelectorMismatch),
        warning: None,
        cloud_line: "no matching CHILD_SA config found",
        idc_line: "received INVALID_ID_INFORMATION error notify",
        cloud_says: "The peer's side 172.30.96.0/19 is not within this gateway's remote subnets 172.30.64.0/19",
        idc_says: "172.30.96.0/19 === 10.0.0.0/8, 172.30.96.0/19 === 172.30.128.0/17",
    },
    Case {
        name: "phase2_subnet_mismatch_ikev2",
        error: Some(Code::TrafficSelectorMismatch),
        warning: None,
        cloud_line: "traffic selectors 10.0.0.0/8 172.30.128.0/17 === 172.30.96.0/19 unacceptable",
        idc_line: "received TS_UNACCEPTABLE notify, no CHILD_SA built",
        cloud_says: "The peer's side 172.30.96.0/19 is not within this gateway's remote subnets 172.30.64.0/19",
        idc_says: "TS_UNACCEPTABLE",
    },
    Case {
        name: "psk_mismatch_ikev1_main",
        error: Some(Code::IkePskMismatch),
        warning: None,
        cloud_line: "invalid ID_V1 payload length, decryption failed?",
        idc_line: "invalid HASH_V1 payload length, decryption failed?",
        cloud_says: "different pre-shared keys",
        idc_says: "different pre-shared keys",
    },
    Case {
        name: "psk_mismatch_ikev2",
        error: Some(Code::IkePskMismatch),
        warning: None,
        cloud_line: "but MAC mismatched",
        idc_line: "received AUTHENTICATION_FAILED notify error",
        cloud_says: "MAC mismatched",
        idc_says: "AUTHENTICATION_FAILED",
    },
];

fn read(case: &str, file: &str) -> Option<(String, String)> {
    let p = data().join(case).join(file);
    p.exists().then(|| {
        (
            file.to_string(),
            fs::read_to_string(&p).expect("test data readable"),
        )
    })
}

/// The logs of a case, cloud first; peer_not_responding has no cloud.log.
fn case_logs(case: &str) -> Vec<(String, String)> {
    ["cloud.log", "idc.log"]
        .iter()
        .filter_map(|f| read(case, f))
        .collect()
}

fn case_dirs() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(data())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn every_case_folder_is_in_the_table() {
    let table: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(case_dirs(), table);
}

/// Checks one file's findings against the case: the expected error (and nothing else
/// that is an error), the expected warning, the line that shows it, the message.
fn check_file(case: &Case, report: &LogReport, file: &str, content: &str) {
    let mine: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.file.as_deref() == Some(file))
        .collect();
    let errors: BTreeSet<Code> = mine
        .iter()
        .filter(|f| f.is_error())
        .map(|f| f.code)
        .collect();
    let warnings: BTreeSet<Code> = mine
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.code)
        .collect();
    let ctx = format!("{}/{file}", case.name);
    assert_eq!(errors, case.error.into_iter().collect(), "errors of {ctx}");
    assert_eq!(
        warnings,
        case.warning.into_iter().collect(),
        "warnings of {ctx}"
    );

    let lines: Vec<&str> = content.lines().collect();
    for f in &mine {
        assert!(!f.lines.is_empty(), "{ctx}: {} without lines", f.code);
        assert!(
            f.lines.windows(2).all(|w| w[0] < w[1]),
            "{ctx}: lines sorted"
        );
        let expected_faq = match f.code {
            Code::TrafficSelectorMismatch | Code::IpsecProposalMismatch | Code::PfsMismatch => 2,
            Code::SubnetsWithoutSa | Code::MultipleChildSas => 5,
            _ => 1,
        };
        assert_eq!(f.faq, expected_faq, "{ctx}: faq of {}", f.code);
        for &l in &f.lines {
            let text = lines
                .get(l - 1)
                .unwrap_or_else(|| panic!("{ctx}: line {l} beyond the file"));
            assert!(
                !text.contains("behind NAT"),
                "{ctx}: NAT line {l} cited as a fault"
            );
        }
    }
    let (line_text, says) = if file == "cloud.log" {
        (case.cloud_line, case.cloud_says)
    } else {
        (case.idc_line, case.idc_says)
    };
    if let Some(code) = case.error.or(case.warning) {
        let f = mine.iter().find(|f| f.code == code).unwrap();
        assert!(
            f.lines.iter().any(|&l| lines[l - 1].contains(line_text)),
            "{ctx}: no cited line contains {line_text:?}; cited {:?}",
            f.lines
        );
        assert!(
            f.message.contains(says),
            "{ctx}: message lacks {says:?}:\n{}",
            f.message
        );
        assert!(!f.fix.is_empty());
    }
}

#[test]
fn each_end_alone_and_both() {
    for case in CASES {
        let both = case_logs(case.name);
        assert!(!both.is_empty(), "{}: no log", case.name);
        for (file, content) in &both {
            let alone = logs::classify(&[(file.clone(), content.clone())]);
            check_file(case, &alone, file, content);
        }
        // Both ends: one failure, one error, citing the other end's lines.
        let report = logs::classify(&both);
        let errors: Vec<_> = report.findings.iter().filter(|f| f.is_error()).collect();
        assert_eq!(
            errors.iter().map(|f| f.code).collect::<Vec<_>>(),
            case.error.into_iter().collect::<Vec<_>>(),
            "{}: errors of both ends",
            case.name
        );
        if let (Some(f), 2) = (errors.first(), both.len()) {
            assert_eq!(f.cites.len(), 1, "{}: the other end is cited", case.name);
            assert_ne!(f.cites[0].file.as_str(), f.file.as_deref().unwrap());
            assert!(!f.cites[0].lines.is_empty());
        }
        // Per file, in file order; within a file by first line.
        let order: Vec<(usize, usize)> = report
            .findings
            .iter()
            .map(|f| {
                let fi = both
                    .iter()
                    .position(|b| Some(b.0.as_str()) == f.file.as_deref())
                    .unwrap();
                (fi, f.lines[0])
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "{}: finding order", case.name);
        assert_eq!(
            report.lines_read,
            both.iter().map(|b| b.1.lines().count()).sum::<usize>()
        );
        // Warnings (not failures of a negotiation) are the same as each file's alone.
        let warnings = |fs: &[vpntrace::findings::finding::Finding]| {
            fs.iter()
                .filter(|f| !f.is_error())
                .cloned()
                .collect::<Vec<_>>()
        };
        let separately: Vec<_> = both
            .iter()
            .flat_map(|b| logs::classify(std::slice::from_ref(b)).findings)
            .collect();
        assert_eq!(
            warnings(&report.findings),
            warnings(&separately),
            "{}",
            case.name
        );
    }
}

#[test]
fn output_is_deterministic() {
    for case in CASES {
        let both = case_logs(case.name);
        let a = logs::classify(&both);
        let b = logs::classify(&both);
        assert_eq!(
            vpntrace::render::logs::logs_text(&a),
            vpntrace::render::logs::logs_text(&b)
        );
        assert_eq!(
            vpntrace::render::logs::logs_json(&a),
            vpntrace::render::logs::logs_json(&b)
        );
    }
}

#[test]
fn snapshots() {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| {
        for case in CASES {
            let report = logs::classify(&case_logs(case.name));
            let text = vpntrace::render::logs::logs_text(&report);
            assert!(text.ends_with(&format!(
                "{} lines read, {} matched, {} finding{}\n",
                report.lines_read,
                report.lines_matched,
                report.findings.len(),
                if report.findings.len() == 1 { "" } else { "s" }
            )));
            insta::assert_snapshot!(format!("logs__{}__text", case.name), text);
            insta::assert_snapshot!(
                format!("logs__{}__json", case.name),
                vpntrace::render::logs::logs_json(&report)
            );
        }
    });
}

/// What `swanctl --list-sas` shows about 10 s after initiation, per file:
/// (IKE_SA state, installed CHILD_SAs), or None when the listing is an error message.
fn expected_listing(case: &str, file: &str) -> Option<Option<(&'static str, usize)>> {
    Some(match (case, file) {
        ("peer_not_responding", "cloud.list-sas.txt" | "cloud.list-sas-final.txt") => return None,
        ("peer_not_responding", "idc.list-sas.txt") => Some(("CONNECTING", 0)),
        ("peer_not_responding", "idc.list-sas-final.txt") => Option::None,
        ("psk_mismatch_ikev1_main", _) => Some(("CONNECTING", 0)),
        ("ok_ikev2_split_children", _) => Some(("ESTABLISHED", 2)),
        (c, _) if c.starts_with("ok_") => Some(("ESTABLISHED", 1)),
        (c, _) if c.starts_with("phase2_") => Some(("ESTABLISHED", 0)),
        _ => Option::None,
    })
}

#[test]
fn swanctl_listings() {
    let mut seen = 0;
    for case in case_dirs() {
        let mut files: Vec<String> = fs::read_dir(data().join(&case))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.contains(".list-sas"))
            .collect();
        files.sort();
        for file in files {
            seen += 1;
            let text = fs::read_to_string(data().join(&case).join(&file)).unwrap();
            let parsed = swanctl::parse_list_sas(&text);
            let ctx = format!("{case}/{file}");
            match expected_listing(&case, &file) {
                None => {
                    let err = parsed.expect_err(&ctx);
                    assert!(err.starts_with("line 1: "), "{ctx}: {err}");
                }
                Some(None) => assert_eq!(parsed.expect(&ctx), vec![], "{ctx}"),
                Some(Some((state, installed))) => {
                    let sas = parsed.expect(&ctx);
                    assert_eq!(sas.len(), 1, "{ctx}");
                    assert_eq!(sas[0].state, state, "{ctx}");
                    assert_eq!(sas[0].installed().count(), installed, "{ctx}");
                    let v1 = text.contains("IKEv1");
                    assert_eq!(sas[0].version, if v1 { "IKEv1" } else { "IKEv2" }, "{ctx}");
                    // The children the listing shows are the CHILD_SAs the log saw come up.
                    let side = file.split('.').next().unwrap();
                    if let Some((name, log)) = read(&case, &format!("{side}.log")) {
                        let report = logs::classify(&[(name, log)]);
                        let up: Vec<String> = report.files[0]
                            .established
                            .iter()
                            .filter(|e| e.sa.starts_with("CHILD_SA"))
                            .map(|e| e.between.clone())
                            .collect();
                        let listed: Vec<String> = sas[0]
                            .installed()
                            .map(|c| {
                                let j = |v: &[vpntrace::net::addr::Cidr]| {
                                    v.iter()
                                        .map(|c| c.to_string())
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                };
                                format!("{} === {}", j(&c.local), j(&c.remote))
                            })
                            .collect();
                        assert_eq!(listed, up, "{ctx}");
                    }
                }
            }
        }
    }
    assert!(seen >= 32, "only {seen} listings");
}

/// The same log as syslog (`host charon[pid]: 10[IKE] <vpn|1> msg`) and as journald
/// without thread, group or IKE_SA tag (`host charon-systemd[pid]: msg`).
fn reformat(log: &str, journald: bool) -> String {
    log.lines()
        .map(|l| {
            let (stamp, rest) = l.split_at(16); // "Nov 26 19:02:44 "
            if !journald {
                return format!("{stamp}gw charon[42]: {rest}");
            }
            let rest = rest.split_once("] ").map(|x| x.1).unwrap_or(rest);
            let rest = match rest.strip_prefix('<') {
                Some(r) => r.split_once("> ").map(|x| x.1).unwrap_or(r),
                None => rest,
            };
            format!("{stamp}gw charon-systemd[42]: {rest}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn syslog_and_journald_lines_classify_alike() {
    let key = |r: &LogReport| -> Vec<(Code, Vec<usize>)> {
        r.findings
            .iter()
            .map(|f| (f.code, f.lines.clone()))
            .collect()
    };
    for case in CASES {
        let logs_ = case_logs(case.name);
        let plain = logs::classify(&logs_);
        for journald in [false, true] {
            let other: Vec<(String, String)> = logs_
                .iter()
                .map(|(n, c)| (n.clone(), reformat(c, journald)))
                .collect();
            let r = logs::classify(&other);
            assert_eq!(key(&r), key(&plain), "{} (journald: {journald})", case.name);
            assert_eq!(r.files, plain.files, "{} (journald: {journald})", case.name);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pairing both ends' findings into negotiations (time, addresses, stage), on real runs of
// the lab (tests/data/ike-lab)
// ---------------------------------------------------------------------------------------

fn lab_log(case: &str, file: &str) -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ike-lab")
        .join(case)
        .join(file);
    fs::read_to_string(p).ok()
}

/// A stored lab run's two logs: cloud.log and idc.log.
fn lab_pair(case: &str) -> Option<(String, String)> {
    Some((lab_log(case, "cloud.log")?, lab_log(case, "idc.log")?))
}

/// Two real failed negotiations of one tunnel, one after the other (a PSK mismatch at
/// 02:03:05, then, the key fixed, a PRF mismatch at 02:04:01): each end's log holds both,
/// as a log spanning a daemon restart would. Both failures are phase 1, so pairing by
/// stage alone would put the other end's lines of both under the first finding; paired
/// by time, each finding cites the other end's lines of its own negotiation.
#[test]
fn two_negotiations_in_one_log_each_cite_their_own_lines() {
    let (first, second) = ("ss_psk_ikev2_idc", "ss_p1prf_ikev2_idc");
    let mut files = Vec::new();
    let mut split_at = Vec::new();
    for f in ["cloud.log", "idc.log"] {
        let (Some(a), Some(b)) = (lab_log(first, f), lab_log(second, f)) else {
            eprintln!("SKIPPED: the lab runs are not in this checkout");
            return;
        };
        split_at.push(a.lines().count());
        files.push((f.to_string(), format!("{a}{b}")));
    }
    let r = logs::classify(&files);
    let errors: Vec<_> = r.findings.iter().filter(|f| f.is_error()).collect();
    let codes: Vec<Code> = errors.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        vec![Code::IkePskMismatch, Code::IkeProposalMismatch],
        "{:#?}",
        r.findings
    );
    // The responder (cloud) decides both; each cites idc.log lines of its own run only.
    let idc_split = split_at[1];
    for (f, in_first) in [(errors[0], true), (errors[1], false)] {
        assert_eq!(f.file.as_deref(), Some("cloud.log"));
        assert!(
            f.lines.iter().all(|&l| (l <= split_at[0]) == in_first),
            "{}: {:?}",
            f.code,
            f.lines
        );
        assert_eq!(f.cites.len(), 1, "{}: {:?}", f.code, f.cites);
        assert_eq!(f.cites[0].file, "idc.log");
        assert!(
            f.cites[0]
                .lines
                .iter()
                .all(|&l| (l <= idc_split) == in_first),
            "{} cites idc.log lines of the other negotiation: {:?}",
            f.code,
            f.cites[0].lines
        );
    }
}

/// The two ends' clocks need not agree (another time zone, no NTP): when the files cover
/// no common period, time is no evidence and the ends pair by stage, as before.
#[test]
fn clocks_that_do_not_overlap_fall_back_to_pairing_by_stage() {
    let Some((cloud, idc)) = lab_pair("ss_psk_ikev2_idc") else {
        eprintln!("SKIPPED: the lab runs are not in this checkout");
        return;
    };
    let shifted = idc.replace("Nov 30 02:", "Nov 30 10:");
    assert_ne!(shifted, idc);
    let r = logs::classify(&[
        ("cloud.log".to_string(), cloud),
        ("idc.log".to_string(), shifted),
    ]);
    let errors: Vec<_> = r.findings.iter().filter(|f| f.is_error()).collect();
    assert_eq!(errors.len(), 1, "{:#?}", r.findings);
    assert_eq!(errors[0].code, Code::IkePskMismatch);
    assert_eq!(errors[0].cites.len(), 1);
}

/// Logs of two different tunnels (the peers' addresses do not mirror each other) are
/// not paired, even where stage and time agree.
#[test]
fn logs_of_another_tunnel_do_not_pair() {
    let Some((cloud, idc)) = lab_pair("ss_psk_ikev2_idc") else {
        eprintln!("SKIPPED: the lab runs are not in this checkout");
        return;
    };
    // idc.log as if from a gateway 198.51.100.7 talking to another peer 198.51.100.9.
    let other = idc
        .replace("198.51.100.2", "198.51.100.7")
        .replace("198.51.100.1", "198.51.100.9");
    let r = logs::classify(&[
        ("cloud.log".to_string(), cloud),
        ("idc.log".to_string(), other),
    ]);
    let errors: Vec<_> = r.findings.iter().filter(|f| f.is_error()).collect();
    assert_eq!(errors.len(), 2, "{:#?}", r.findings);
    assert!(errors.iter().all(|f| f.cites.is_empty()));
}
