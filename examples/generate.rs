//! Print a generated topology (SPEC format, compact JSON) on stdout, and what it holds on
//! stderr.
//!
//! ```sh
//! cargo run --release --example generate -- --connections 160 --seed 1 > big.json
//! ```
//!
//! Options: `--connections N` (default 160, at most 1024), `--seed S` (default 1),
//! `--preset reference|estate` (default `reference`: the sites of `GenParams::scaled`;
//! `estate`: the ordinary rule mixes of `GenParams::estate`, issue 13),
//! `--no-faults` (every site healthy), `--pretty` (indented JSON, about 1.8× larger).
//! The rule mixes, per site, over the preset's: `--instances N` (at least 5),
//! `--sg-extra-rules N`, `--forward-rules N` (the IDC gateway's forward chain), and for
//! the estate `--idc-hosts N` (at least 8) and `--nat-rules N` (at least 4).
//!
//! ```sh
//! cargo run --release --example generate -- --preset estate --connections 40 > estate40.json
//! ```

use std::io::Write;
use std::process::ExitCode;

use vpntrace_gen::{self as gen, GenParams, Stats};

const USAGE: &str = "usage: generate [--connections N] [--seed S] [--preset reference|estate] \
                     [--no-faults] [--pretty] [--instances N] [--sg-extra-rules N] \
                     [--forward-rules N] [--idc-hosts N] [--nat-rules N]";

/// A rule-mix option's value: a number of at least `min`.
fn count(v: Option<String>, name: &str, min: usize) -> Result<usize, String> {
    match v.map(|v| v.parse::<usize>()) {
        Some(Ok(n)) if n >= min && n <= 100_000 => Ok(n),
        _ => Err(format!("{name} needs a number {min}..=100000")),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut connections = 160usize;
    let mut seed = 1u64;
    let mut faults = true;
    let mut pretty = false;
    let mut preset: fn(usize) -> GenParams = GenParams::scaled;
    // Rule-mix overrides, applied over the preset's: (option, value).
    let mut mixes: Vec<(String, usize)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match key.as_str() {
            "--connections" | "-n" => match value().map(|v| v.parse::<usize>()) {
                Some(Ok(n)) if (1..=gen::MAX_CONNECTIONS).contains(&n) => connections = n,
                _ => {
                    return usage(&format!(
                        "--connections needs a number 1..={}",
                        gen::MAX_CONNECTIONS
                    ))
                }
            },
            "--seed" | "-s" => match value().map(|v| v.parse::<u64>()) {
                Some(Ok(s)) => seed = s,
                _ => return usage("--seed needs an unsigned number"),
            },
            "--preset" | "-p" => match value().as_deref() {
                Some("reference") => preset = GenParams::scaled,
                Some("estate") => preset = GenParams::estate,
                _ => return usage("--preset needs `reference` or `estate`"),
            },
            "--instances" | "--sg-extra-rules" | "--forward-rules" | "--idc-hosts"
            | "--nat-rules" => {
                let min = match key.as_str() {
                    "--instances" => 5,
                    "--idc-hosts" => 8,
                    "--nat-rules" => 4,
                    _ => 0,
                };
                match count(value(), &key, min) {
                    Ok(n) => mixes.push((key.clone(), n)),
                    Err(e) => return usage(&e),
                }
            }
            "--no-faults" => faults = false,
            "--pretty" => pretty = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument `{other}`")),
        }
    }
    let mut p = preset(connections).with_seed(seed);
    p.faults = faults;
    for (key, n) in mixes {
        match (key.as_str(), &mut p.mix) {
            ("--instances", _) => p.instances_per_connection = n,
            ("--sg-extra-rules", _) => p.sg_extra_rules = n,
            ("--forward-rules", _) => p.forward_rules_per_gateway = n,
            ("--idc-hosts", gen::Mix::Estate(e)) => e.idc_hosts = n,
            ("--nat-rules", gen::Mix::Estate(e)) => e.nat_rules = n,
            (k, _) => return usage(&format!("{k} applies to --preset estate only")),
        }
    }
    let topo = gen::generate(&p);
    let text = if pretty {
        serde_json::to_string_pretty(&topo)
    } else {
        serde_json::to_string(&topo)
    }
    .expect("a topology serialises");
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.write_all(b"\n"))
        .is_err()
    {
        return ExitCode::from(1);
    }
    eprintln!("{} bytes: {}", text.len() + 1, Stats::of(&topo));
    ExitCode::SUCCESS
}
