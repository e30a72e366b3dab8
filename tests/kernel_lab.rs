//! The kernel lab (issue 11): vpntrace against the real Linux kernel.
//!
//! As root, it builds random ON-PREM topologies in Linux network namespaces (devices =
//! namespaces, links = veth pairs or a bridge namespace, addresses, routes, iptables
//! filter chains with and without conntrack, NAT, ip_forward, rp_filter), writes the same
//! topology as a vpntrace topology file, sends real TCP/UDP/ICMP probes (each with its
//! reply) between the namespaces, reads what the kernel did from iptables and SNMP
//! counters, and compares it with `vpntrace trace --format json`, probe by probe:
//! disposition of the forward and return passes, the device (and rule) that drops, the
//! device a packet leaves the modelled network from and its source address after NAT.
//!
//! It is on-prem semantics only: routing, filters, conntrack, NAT, rp_filter, forwarding,
//! local delivery. There is no IPsec/ESP between namespaces, so nothing about tunnels,
//! SAs or the cloud side is compared (the topology's cloud part is a minimal VPC that no
//! probe touches). See tests/kernel_lab/README.md.
//!
//! Gated: runs only with `VPNTRACE_KERNEL_LAB=1` (and as root with `ip netns`); otherwise
//! it says loudly that it is SKIPPED. `VPNTRACE_LAB_SEED` (default 11),
//! `VPNTRACE_LAB_TOPOLOGIES` (default 44 random + the targeted cases), `VPNTRACE_LAB_JOBS`
//! (parallel topologies), `VPNTRACE_BIN` (another vpntrace binary). Topology files of
//! topologies with a disagreement are kept under target/kernel-lab/.

#[path = "kernel_lab/compare.rs"]
mod compare;
#[path = "kernel_lab/gen.rs"]
mod gen;
#[path = "kernel_lab/lab.rs"]
mod lab;

use compare::{agree, classify, kernel_outcome, kernel_path, vpntrace_outcome, Outcome};
use lab::{Lab, Probe};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Disagreements that are deliberate modelling choices, with the reason. A disagreement
/// is excused when its probe note or its text contains the pattern. Keep it empty unless
/// a difference is really a choice of the model and not a fault.
const KNOWN_MODELLING_CHOICES: &[(&str, &str)] = &[];

const PROBE_TIMEOUT_MS: u64 = 300;

/// Loud output that `cargo test` does not capture.
fn say(s: &str) {
    let mut e = std::io::stderr();
    let _ = e.write_all(s.as_bytes());
    let _ = e.write_all(b"\n");
}

fn skip(why: &str) {
    say("");
    say("=====================================================================");
    say(&format!("KERNEL LAB SKIPPED: {why}"));
    say("=====================================================================");
    say("");
}

/// Removes every namespace of this run (`vtlab-<pid>-…`) when dropped, also on a panic.
struct NsGuard {
    prefix: String,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        remove_namespaces(|n| n.starts_with(&self.prefix));
    }
}

fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|s| s.to_string())
        .collect()
}

fn remove_namespaces(pred: impl Fn(&str) -> bool) {
    let names: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.starts_with("vtlab-") && pred(n))
        .collect();
    if names.is_empty() {
        return;
    }
    let batch: String = names.iter().map(|n| format!("netns del {n}\n")).collect();
    if let Ok(mut c) = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        let _ = c.stdin.take().unwrap().write_all(batch.as_bytes());
        let _ = c.wait();
    }
}

/// Stale namespaces of earlier runs whose process is gone.
fn remove_stale() {
    remove_namespaces(|n| {
        let pid = n
            .trim_start_matches("vtlab-")
            .split('-')
            .next()
            .unwrap_or("");
        pid.parse::<u32>()
            .map_or(true, |p| !Path::new(&format!("/proc/{p}")).exists())
    });
}

fn netns_available(pid: u32) -> Result<(), String> {
    for tool in ["ip", "iptables-restore", "iptables-save"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
            || Command::new(tool)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok();
        if !ok {
            return Err(format!(
                "`{tool}` is not installed (apt-get install iproute2 iptables)"
            ));
        }
    }
    if python().is_none() {
        return Err("python3 is not installed".into());
    }
    let name = format!("vtlab-{pid}-probe");
    let out = Command::new("ip")
        .args(["netns", "add", &name])
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip netns add` failed (not root, or no network namespaces here): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let ipt = Command::new("ip")
        .args(["netns", "exec", &name, "iptables-save"])
        .output();
    let _ = Command::new("ip").args(["netns", "del", &name]).output();
    match ipt {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "iptables does not work in a namespace: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("iptables does not work in a namespace: {e}")),
    }
}

fn python() -> Option<String> {
    for p in ["/usr/bin/python3", "python3"] {
        if Command::new(p)
            .arg("-c")
            .arg("pass")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Some(p.to_string());
        }
    }
    None
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One compared probe.
struct Row {
    topo: usize,
    probe: usize,
    command: String,
    note: String,
    kernel: Outcome,
    vpntrace: Outcome,
    path: String,
    client: String,
    class: String,
}

struct TopoResult {
    topo: usize,
    file: PathBuf,
    rows: Vec<Row>,
    error: Option<String>,
    ms: u128,
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{s}'")
    }
}

fn trace_args(lab: &Lab, file: &Path, p: &Probe) -> Vec<String> {
    let mut a = vec![
        "trace".to_string(),
        file.display().to_string(),
        "--from".into(),
        lab.end_arg(&p.from),
        "--to".into(),
        lab.end_arg(&p.to),
        "--protocol".into(),
        p.proto.name().into(),
    ];
    if p.proto.has_ports() {
        a.extend([
            "--port".into(),
            p.dport.to_string(),
            "--source-port".into(),
            p.sport.to_string(),
        ]);
    }
    if let Some(i) = &p.ingress {
        a.extend(["--ingress".into(), i.clone()]);
    }
    a.extend(["--format".into(), "json".into()]);
    a
}

fn run_agent(py: &str, agent: &Path, plan: &Value, limit: Duration) -> Result<Value, String> {
    let mut child = Command::new(py)
        .arg(agent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the agent: {e}"))?;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(plan.to_string().as_bytes());
    }
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the agent took more than {limit:?} and was killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the agent: {e}")),
        }
    }
    let out = reader.join().unwrap_or_default();
    let err = ereader.join().unwrap_or_default();
    serde_json::from_str(out.trim())
        .map_err(|e| format!("agent output is not JSON ({e}): {out} {err}"))
}

fn run_topology(topo: usize, lab: &Lab, ctx: &Ctx) -> TopoResult {
    let t0 = Instant::now();
    let file = ctx.out_dir.join(format!("topo-{topo:03}.json"));
    let mut res = TopoResult {
        topo,
        file: file.clone(),
        rows: Vec::new(),
        error: None,
        ms: 0,
    };
    let description = "Generated by tests/kernel_lab.rs (kernel lab, issue 11): an on-prem topology that the lab also builds in Linux network namespaces. The cloud part is a placeholder no probe touches.";
    let json = lab.topology_json(description);
    if let Err(e) = std::fs::write(&file, serde_json::to_string_pretty(&json).unwrap()) {
        res.error = Some(format!("cannot write {}: {e}", file.display()));
        return res;
    }
    let v = Command::new(&ctx.bin).arg("validate").arg(&file).output();
    match v {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            res.error = Some(format!(
                "the generated topology does not validate: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
            return res;
        }
        Err(e) => {
            res.error = Some(format!("cannot run {}: {e}", ctx.bin.display()));
            return res;
        }
    }
    let prefix = format!("{}{topo}", ctx.prefix);
    let plan = lab.plan(&prefix, PROBE_TIMEOUT_MS);
    std::fs::write(
        file.with_extension("plan.json"),
        serde_json::to_string_pretty(&plan).unwrap(),
    )
    .ok();
    let obs = run_agent(&ctx.python, &ctx.agent, &plan, Duration::from_secs(120));
    // Whatever happened, nothing of this topology stays.
    remove_namespaces(|n| n.starts_with(&format!("{prefix}-")));
    let obs = match obs {
        Ok(o) => o,
        Err(e) => {
            res.error = Some(e);
            return res;
        }
    };
    if let Some(e) = obs["error"].as_str() {
        res.error = Some(format!("agent: {e}"));
        return res;
    }
    let probes = obs["probes"].as_array().cloned().unwrap_or_default();
    for (i, p) in lab.probes.iter().enumerate() {
        let Some(o) = probes.get(i) else { break };
        let kernel = kernel_outcome(lab, &prefix, p, o);
        let args = trace_args(lab, &file, p);
        let out = Command::new(&ctx.bin).args(&args).output();
        let vpn = match out {
            Ok(out) => vpntrace_outcome(
                lab,
                p,
                out.status.code() == Some(0) || out.status.code() == Some(1),
                &String::from_utf8_lossy(&out.stdout),
                &String::from_utf8_lossy(&out.stderr),
            ),
            Err(e) => vpntrace_outcome(lab, p, false, "", &e.to_string()),
        };
        let class = classify(lab, p, &kernel, &vpn);
        let command = format!(
            "vpntrace {}",
            args.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        );
        res.rows.push(Row {
            topo,
            probe: i,
            command,
            note: p.note.clone(),
            kernel,
            vpntrace: vpn,
            path: kernel_path(lab, &prefix, o),
            client: o["client"].as_str().unwrap_or("?").to_string(),
            class,
        });
    }
    res.ms = t0.elapsed().as_millis();
    res
}

struct Ctx {
    bin: PathBuf,
    python: String,
    agent: PathBuf,
    out_dir: PathBuf,
    prefix: String,
}

fn excused(r: &Row) -> Option<&'static str> {
    let text = format!("{} {} {}", r.note, r.kernel, r.vpntrace);
    KNOWN_MODELLING_CHOICES
        .iter()
        .find(|(pat, _)| text.contains(pat))
        .map(|(_, why)| *why)
}

#[test]
fn kernel_lab() {
    if std::env::var("VPNTRACE_KERNEL_LAB").as_deref() != Ok("1") {
        skip("set VPNTRACE_KERNEL_LAB=1 to compare vpntrace with the Linux kernel (needs root; see tests/kernel_lab/README.md or scripts/kernel-lab.sh)");
        return;
    }
    let pid = std::process::id();
    remove_stale();
    if let Err(why) = netns_available(pid) {
        skip(&why);
        return;
    }
    let _guard = NsGuard {
        prefix: format!("vtlab-{pid}-"),
    };
    let seed = env_num("VPNTRACE_LAB_SEED", 11);
    let n_random = env_num("VPNTRACE_LAB_TOPOLOGIES", 44) as usize;
    let jobs = env_num("VPNTRACE_LAB_JOBS", 8).max(1) as usize;
    let bin = std::env::var("VPNTRACE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_vpntrace")));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.join("target"));
    let out_dir = target.join("kernel-lab").join(format!("seed-{seed}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).expect("create target/kernel-lab");
    let ctx = Ctx {
        bin,
        python: python().unwrap(),
        agent: manifest.join("tests/kernel_lab/agent.py"),
        out_dir: out_dir.clone(),
        prefix: format!("vtlab-{pid}-"),
    };
    let mut labs: Vec<Lab> = (0..n_random).map(|k| gen::random_lab(seed, k)).collect();
    labs.extend(gen::targeted_labs(n_random));
    let t0 = Instant::now();
    let next = Mutex::new(0usize);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(labs.len()) {
            s.spawn(|| loop {
                let k = {
                    let mut n = next.lock().unwrap();
                    let k = *n;
                    *n += 1;
                    k
                };
                if k >= labs.len() {
                    break;
                }
                let r = run_topology(k, &labs[k], &ctx);
                results.lock().unwrap().push(r);
            });
        }
    });
    let elapsed = t0.elapsed();
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.topo);

    // ----- summary -----
    let mut probes = 0;
    let mut agreed = 0;
    let mut excused_n = 0;
    let mut failures: Vec<String> = Vec::new();
    let mut report = String::new();
    let mut classes: std::collections::BTreeMap<String, (usize, String)> = Default::default();
    for r in &results {
        if let Some(e) = &r.error {
            failures.push(format!("topology {} ({}): {e}", r.topo, r.file.display()));
            continue;
        }
        let mut keep = false;
        for row in &r.rows {
            probes += 1;
            if agree(&row.kernel, &row.vpntrace) {
                agreed += 1;
                continue;
            }
            if let Some(why) = excused(row) {
                excused_n += 1;
                report.push_str(&format!(
                    "  (known modelling choice: {why}) {}\n",
                    row.command
                ));
                continue;
            }
            keep = true;
            let c = classes
                .entry(row.class.clone())
                .or_insert((0, format!("topology {} probe {}", row.topo, row.probe)));
            c.0 += 1;
            report.push_str(&format!(
                "DISAGREE seed {seed} topology {} probe {}{}\n  class: {}\n  {}\n  kernel:   {}\n  vpntrace: {}\n  kernel counters: {} (client: {})\n",
                row.topo,
                row.probe,
                if row.note.is_empty() { String::new() } else { format!(" [{}]", row.note) },
                row.class,
                row.command,
                row.kernel,
                row.vpntrace,
                row.path,
                row.client,
            ));
        }
        if !keep && r.error.is_none() {
            let _ = std::fs::remove_file(&r.file);
            let _ = std::fs::remove_file(r.file.with_extension("plan.json"));
        }
    }
    let disagreements = probes - agreed - excused_n;
    // What the kernel did, over all probes (coverage of the comparison).
    let mut tally: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for row in results.iter().flat_map(|r| r.rows.iter()) {
        let ok = agree(&row.kernel, &row.vpntrace);
        for (side, d) in [("forward", &row.kernel.fwd), ("return", &row.kernel.ret)] {
            let key = match d {
                compare::Disp::Dropped { at } => format!(
                    "{side} dropped ({})",
                    at[0].1.split(':').take(2).collect::<Vec<_>>().join(":")
                ),
                compare::Disp::Delivered { rewritten, .. } => format!(
                    "{side} delivered{}",
                    if *rewritten { " (rewritten)" } else { "" }
                ),
                compare::Disp::Exits { .. } => format!("{side} exits_network"),
                compare::Disp::Loop => format!("{side} loop"),
                compare::Disp::Lost(_) => format!("{side} lost"),
                compare::Disp::NotTraced => continue,
                compare::Disp::Error(_) => format!("{side} error"),
            };
            let e = tally.entry(key).or_default();
            e.0 += 1;
            if ok {
                e.1 += 1;
            }
        }
    }
    say("");
    say("===================== KERNEL LAB (issue 11) =====================");
    say(&format!(
        "seed {seed}: {} topologies ({} random + {} targeted), {probes} probes, {agreed} agree, {excused_n} known modelling choices, {disagreements} disagree, {} topology errors; {:.1}s (timings per topology: {})",
        results.len(),
        n_random,
        labs.len() - n_random,
        failures.len(),
        elapsed.as_secs_f64(),
        results.iter().map(|r| format!("{}ms", r.ms)).collect::<Vec<_>>().join(" ")
    ));
    say(&format!(
        "kernel outcomes (probes, of which vpntrace agrees): {}",
        tally
            .iter()
            .map(|(k, (n, a))| format!("{k}: {n} ({a})"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    say(&format!(
        "files of topologies with a disagreement: {}",
        out_dir.display()
    ));
    for f in &failures {
        say(&format!("ERROR {f}"));
    }
    say(&report);
    if !classes.is_empty() {
        say("disagreements by class (count, first example):");
        for (c, (n, ex)) in &classes {
            say(&format!("  {n:4}  {c}  (e.g. {ex})"));
        }
    }
    say("==================================================================");
    assert!(
        failures.is_empty(),
        "kernel lab: {} topologies could not be run (see above)",
        failures.len()
    );
    assert!(probes >= 1, "kernel lab ran no probe");
    assert_eq!(
        disagreements, 0,
        "kernel lab: {disagreements} of {probes} probes disagree with the kernel (see above)"
    );
}
