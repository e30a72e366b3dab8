//! The `vpntrace` command: parse arguments, call the library, print, map to an exit code
//! (0 nothing wrong, 1 a problem found, 2 bad input or usage).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use vpntrace::engine::trace::{self, FlowQuery};
use vpntrace::model::{self, Model};
use vpntrace::net::addr::Protocol;
use vpntrace::render::{self, Style};

#[derive(Parser)]
#[command(
    name = "vpntrace",
    version,
    about = "Explains why an IPsec VPN between an Alibaba Cloud VPC and an on-premises data center does not carry traffic"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Trace one flow hop by hop, forward and return (or every flow the topology lists).
    Trace {
        topology: PathBuf,
        /// Source: an instance or device id, or an address.
        #[arg(long)]
        from: Option<String>,
        /// Destination: an instance or device id, or an address.
        #[arg(long)]
        to: Option<String>,
        /// tcp, udp, icmp, gre (default: icmp, or tcp when --port is given).
        #[arg(long)]
        protocol: Option<String>,
        /// Destination port (tcp/udp).
        #[arg(long)]
        port: Option<u16>,
        /// Source port (tcp/udp).
        #[arg(long, default_value_t = 40000)]
        source_port: u16,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Every finding: reachability of every subnet pair of every connection both ways
    /// (faq 3, 4, 5, 6) and phase-1/2 settings (faq 1, 2), each with a verified fix.
    Check {
        topology: PathBuf,
        /// Write the topology with every verified fix applied to this file.
        #[arg(long)]
        write_fixed: Option<PathBuf>,
        /// Take an IDC device's SAs from a `swanctl --list-sas` listing: DEVICE=FILE
        /// (repeatable).
        #[arg(long = "idc-sas", value_name = "DEVICE=FILE")]
        idc_sas: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Plan one connection per subnet pair (faq 5), with both ends' configs, verified.
    Split {
        topology: PathBuf,
        #[arg(long)]
        connection: String,
        /// Write the patched topology (both ends) to this file.
        #[arg(long)]
        write: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Classify strongSwan IKE/IPsec log lines into the FAQ 1/2 causes, with line numbers.
    Logs {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Parse and check references only; prints nothing but errors.
    Validate {
        topology: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Build (or update) a topology from Alibaba Cloud API responses and Linux gateways'
    /// command output (scripts/export-alibaba.sh, scripts/export-linux.sh).
    Import {
        /// Folder of Alibaba Cloud OpenAPI responses, one file per call.
        #[arg(long, value_name = "DIR")]
        alibaba: Option<PathBuf>,
        /// A Linux on-prem device named ID from the command output in DIR (repeatable).
        #[arg(long, value_name = "ID=DIR")]
        linux: Vec<String>,
        /// Update this topology: imported objects replace those with the same id.
        #[arg(long, value_name = "TOPOLOGY")]
        into: Option<PathBuf>,
        /// Where to write the topology.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        out: PathBuf,
    },
    /// The device graph as Graphviz DOT.
    Graph {
        topology: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn style() -> Style {
    Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn load(p: &std::path::Path) -> Result<Model, ExitCode> {
    model::load(p).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// The process ends right after: leave a large topology to the operating system rather
/// than free it piece by piece (tens of thousands of strings on a large site).
fn at_exit<T>(x: T) {
    std::mem::forget(x);
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(c) | Err(c) => c,
    }
}

fn run(cli: Cli) -> Result<ExitCode, ExitCode> {
    match cli.cmd {
        Cmd::Check {
            topology,
            write_fixed,
            idc_sas,
            format,
        } => {
            let file = topology.display().to_string();
            let t0 = std::time::Instant::now();
            let timing = |what: &str| {
                if std::env::var_os("VPNTRACE_TIMING").is_some() {
                    eprintln!("{what} at {:?}", t0.elapsed());
                }
            };
            let text = std::fs::read_to_string(&topology)
                .map_err(|e| usage(&format!("{file}: cannot read the topology file: {e}")))?;
            let mut topo = model::parse(&file, &text).map_err(|e| usage(&e.to_string()))?;
            timing("parsed");
            for arg in &idc_sas {
                for note in vpntrace::analysis::salayout::idc_sas_arg(&mut topo, arg)
                    .map_err(|e| usage(&e.to_string()))?
                {
                    eprintln!("note: {note}");
                }
            }
            let m = model::lower(&file, &topo).map_err(|e| usage(&e.to_string()))?;
            timing("lowered");
            let report = vpntrace::analysis::check::check_all(&topo, &m);
            timing("checked");
            match format {
                Format::Json => print!(
                    "{}",
                    render::json(
                        &serde_json::json!({ "findings": report.findings, "summary": report.summary, "classes_traced": report.classes_traced })
                    )
                ),
                Format::Text => print!("{}", render::check_text(&m, &report, style())),
            }
            timing("printed");
            if let Some(out) = write_fixed {
                let fixed = vpntrace::analysis::check::write_fixed(&topo, &report)
                    .map_err(|e| usage(&format!("cannot apply the fixes: {e}")))?;
                let json =
                    serde_json::to_string_pretty(&fixed).expect("topology serialises") + "\n";
                std::fs::write(&out, json)
                    .map_err(|e| usage(&format!("{}: cannot write: {e}", out.display())))?;
                eprintln!(
                    "wrote {} with {} verified fix(es) applied",
                    out.display(),
                    report
                        .findings
                        .iter()
                        .filter(|f| f.verified == Some(true))
                        .count()
                );
            }
            let code = if report.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
            at_exit((text, topo, m, report));
            Ok(code)
        }
        Cmd::Split {
            topology,
            connection,
            write,
            format,
        } => {
            let r = vpntrace::analysis::split::run(&topology, &connection, write.as_deref())
                .map_err(|e| usage(&e.to_string()))?;
            match format {
                Format::Json => print!("{}", render::json(&r.plan)),
                Format::Text => print!("{}", render::split::split_text(&r.plan)),
            }
            Ok(if r.exit_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Logs { files, format } => {
            let mut inputs = Vec::new();
            for f in &files {
                let bytes = std::fs::read(f)
                    .map_err(|e| usage(&format!("{}: cannot read the log: {e}", f.display())))?;
                inputs.push((
                    f.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
            let report = vpntrace::analysis::logs::classify(&inputs);
            match format {
                Format::Json => print!("{}", render::logs::logs_json(&report)),
                Format::Text => print!("{}", render::logs::logs_text(&report)),
            }
            Ok(if report.findings.iter().any(|f| f.is_error()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Import {
            alibaba,
            linux,
            into,
            out,
        } => {
            let base = match &into {
                Some(p) => {
                    let file = p.display().to_string();
                    let text = std::fs::read_to_string(p).map_err(|e| {
                        usage(&format!("{file}: cannot read the topology file: {e}"))
                    })?;
                    Some(model::parse(&file, &text).map_err(|e| usage(&e.to_string()))?)
                }
                None => None,
            };
            let r = vpntrace::input::import::run(alibaba.as_deref(), &linux, base)
                .map_err(|e| usage(&e.to_string()))?;
            let shown = out.display().to_string();
            model::lower(&shown, &r.topology).map_err(|e| {
                usage(&format!(
                    "the imported topology does not validate (not written): {e}"
                ))
            })?;
            for n in &r.notes {
                eprintln!("note: {n}");
            }
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            let json =
                serde_json::to_string_pretty(&r.topology).expect("topology serialises") + "\n";
            std::fs::write(&out, json)
                .map_err(|e| usage(&format!("{shown}: cannot write: {e}")))?;
            eprintln!("{} → {shown}", r.summary);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Validate { topology, .. } => {
            at_exit(load(&topology)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Graph { topology, .. } => {
            let m = load(&topology)?;
            print!("{}", vpntrace::graph::DeviceGraph::build(&m).to_dot(&m));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Trace {
            topology,
            from,
            to,
            protocol,
            port,
            source_port,
            format,
        } => {
            let m = load(&topology)?;
            let file = topology.display().to_string();
            let queries: Vec<(String, String, Option<Protocol>, Option<u16>)> = match (from, to) {
                (Some(f), Some(t)) => {
                    let p = match protocol.as_deref().map(str::parse::<Protocol>) {
                        Some(Err(e)) => return Err(usage(&format!("--protocol: {e}"))),
                        Some(Ok(p)) => Some(p),
                        None => None,
                    };
                    vec![(f, t, p, port)]
                }
                (None, None) => {
                    if m.flows.is_empty() {
                        return Err(usage(&format!(
                            "{file}: give --from and --to (the topology lists no flows to trace)"
                        )));
                    }
                    m.flows
                        .iter()
                        .map(|f| (f.from.clone(), f.to.clone(), f.protocol, f.port))
                        .collect()
                }
                _ => return Err(usage("give both --from and --to")),
            };
            let mut traces = Vec::new();
            for (i, (f, t, p, port)) in queries.iter().enumerate() {
                let where_ = if queries.len() > 1 {
                    format!("{file}: flows[{i}]: ")
                } else {
                    String::new()
                };
                let from = trace::resolve_endpoint(&m, f)
                    .map_err(|e| usage(&format!("{where_}--from: {e}")))?;
                let to = trace::resolve_endpoint(&m, t)
                    .map_err(|e| usage(&format!("{where_}--to: {e}")))?;
                let protocol = p.unwrap_or(if port.is_some() {
                    Protocol::Tcp
                } else {
                    Protocol::Icmp
                });
                if protocol == Protocol::All {
                    return Err(usage(
                        "--protocol: a traced packet has one protocol: tcp, udp, icmp or gre",
                    ));
                }
                if protocol.has_ports() && port.is_none() {
                    return Err(usage(&format!("{where_}--port is needed for {protocol}")));
                }
                let q = FlowQuery {
                    from,
                    to,
                    protocol,
                    dst_port: port.unwrap_or(0),
                    src_port: source_port,
                };
                traces.push(trace::trace(&m, &q));
            }
            let all_ok = traces.iter().all(|t| t.ok());
            match format {
                Format::Json if traces.len() == 1 => {
                    print!("{}", render::json(&render::trace_json(&m, &traces[0])))
                }
                Format::Json => {
                    let traces: Vec<_> = traces.iter().map(|t| render::trace_json(&m, t)).collect();
                    print!("{}", render::json(&serde_json::json!({ "traces": traces })))
                }
                Format::Text => {
                    let st = style();
                    let texts: Vec<String> = traces
                        .iter()
                        .map(|t| render::trace_text(&m, t, st))
                        .collect();
                    print!("{}", texts.join("\n"));
                }
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
