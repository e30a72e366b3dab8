//! The `vpntrace` command: parse arguments, call the library, print, map to an exit code
//! (0 nothing wrong, 1 a problem found, 2 bad input or usage).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use vpntrace::engine::trace::{self, FlowQuery};
use vpntrace::model::{self, Model};
use vpntrace::net::addr::Protocol;
use vpntrace::render::{self, Style};

/// mimalloc: the analysis makes millions of small short-lived allocations (narrowed atom
/// sets, outcomes, parts); glibc's allocator spent about a fifth of `check`'s time in them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    Text,
    Json,
    Sarif,
    Junit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum GraphFormat {
    Dot,
    Svg,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Trace one flow hop by hop, forward and return (or every flow the topology lists).
    Trace {
        /// The topology file (JSON, SPEC's format); without --from/--to, every flow it
        /// lists is traced and compared with its `expect`.
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
        /// For a --from address beyond the model: the device (and interface) where its
        /// packets arrive from outside, DEVICE[:IFACE].
        #[arg(long, value_name = "DEVICE[:IFACE]")]
        ingress: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Every finding: reachability of every subnet pair of every connection both ways
    /// (faq 3, 4, 5, 6) and phase-1/2 settings (faq 1, 2), each with a verified fix.
    Check {
        /// The topology file (JSON, SPEC's format).
        topology: PathBuf,
        /// Write the topology with every verified fix applied to this file.
        #[arg(long)]
        write_fixed: Option<PathBuf>,
        /// Take an IDC device's SAs from a `swanctl --list-sas` listing: DEVICE=FILE
        /// (repeatable).
        #[arg(long = "idc-sas", value_name = "DEVICE=FILE")]
        idc_sas: Vec<String>,
        /// Also write a self-contained HTML report (summary, picture, findings) to FILE.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// text, json, sarif (SARIF 2.1.0 for code scanning) or junit (JUnit XML).
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Plan one connection per subnet pair (faq 5), with both ends' configs, verified.
    Split {
        /// The topology file (JSON, SPEC's format).
        topology: PathBuf,
        /// The id of the IPsec connection to split (`cloud.ipsec_connections[].id`).
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
        /// The topology file (JSON, SPEC's format).
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of vpntrace.
    Man,
    /// The topology as a picture: subnets as nodes, devices on them, the tunnel; with
    /// --from/--to, the flow's forward and return paths drawn and the failing hop marked.
    Graph {
        /// The topology file (JSON, SPEC's format).
        topology: PathBuf,
        /// Source of a flow to draw: an instance or device id, or an address.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Destination of a flow to draw: an instance or device id, or an address.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// tcp, udp, icmp, gre (default: icmp, or tcp when --port is given).
        #[arg(long)]
        protocol: Option<String>,
        /// Destination port (tcp/udp).
        #[arg(long)]
        port: Option<u16>,
        /// dot (Graphviz), svg (laid out in-process, no Graphviz needed) or json.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// What a finding code means, its FAQ case, how it is detected, an example and the
    /// fix; without a code, the list of every code.
    Explain {
        /// A code such as IKE_PSK_MISMATCH (any case).
        code: Option<String>,
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

/// `vpntrace validate`: every error of the file, in file order; exit 2 when there is one.
/// Text goes to stderr (one error per line, then a count); JSON to stdout.
fn validate(topology: &std::path::Path, format: Format) -> Result<ExitCode, ExitCode> {
    let errors = match model::validate::load_all(topology) {
        Ok(m) => {
            at_exit(m);
            Vec::new()
        }
        Err(errors) => errors,
    };
    match format {
        Format::Json => {
            let list: Vec<serde_json::Value> = errors
                .iter()
                .map(|e| {
                    let mut o = serde_json::json!({ "message": e.message });
                    // A syntax error has a line and a column rather than a JSON path.
                    let pos = e.location.strip_prefix("line ").and_then(|r| {
                        let (l, c) = r.split_once(" column ")?;
                        Some((l.parse::<u64>().ok()?, c.parse::<u64>().ok()?))
                    });
                    if let Some((line, column)) = pos {
                        o["line"] = line.into();
                        o["column"] = column.into();
                    }
                    o["path"] = if pos.is_some() || e.location.is_empty() {
                        serde_json::Value::Null
                    } else {
                        e.location.clone().into()
                    };
                    o
                })
                .collect();
            let v = serde_json::json!({ "errors": list, "valid": errors.is_empty() });
            print!("{}", render::json(&v));
        }
        Format::Text => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            if errors.len() > 1 {
                eprintln!("{}: {} errors", topology.display(), errors.len());
            } else if errors.len() == 1 {
                eprintln!("{}: 1 error", topology.display());
            }
        }
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Write a report to standard output as it is rendered (buffered); a reader that went
/// away (a closed pipe) ends the output quietly, as `head` expects.
fn write_out(
    f: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> Result<(), ExitCode> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match f(&mut w).and_then(|()| std::io::Write::flush(&mut w)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(usage(&format!("cannot write the report: {e}"))),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// `vpntrace explain [CODE]`: exit 2 on an unknown code, naming the close ones.
fn explain(code: Option<&str>, format: Format) -> Result<ExitCode, ExitCode> {
    use vpntrace::findings::code::Code;
    let Some(name) = code else {
        match format {
            Format::Json => print!("{}", render::json(&render::explain::list_json())),
            Format::Text => print!("{}", render::explain::list_text(style())),
        }
        return Ok(ExitCode::SUCCESS);
    };
    let Some(c) = Code::lookup(name) else {
        let close: Vec<&str> = Code::close_to(name).iter().map(|c| c.as_str()).collect();
        let hint = if let Some(new) = Code::renamed(name) {
            format!("it was renamed {new} (one code per cause in trace, check and logs)")
        } else if close.is_empty() {
            "`vpntrace explain` lists every code".to_string()
        } else {
            format!("close matches: {}", close.join(", "))
        };
        return Err(usage(&format!("unknown code `{name}`; {hint}")));
    };
    match format {
        Format::Json => print!("{}", render::json(&render::explain::explain_json(c.info()))),
        Format::Text => print!("{}", render::explain::explain_text(c.info(), style())),
    }
    Ok(ExitCode::SUCCESS)
}

/// What a flow did, as a file's `expect` says it: `delivered` both ways, else the first
/// disposition that is not.
fn outcome(t: &trace::Trace) -> &'static str {
    if !t.forward.delivered() {
        return t.forward.disposition.as_str();
    }
    match &t.ret {
        Some(r) if !r.delivered() => r.disposition.as_str(),
        _ => "delivered",
    }
}

fn parse_protocol(p: Option<&str>) -> Result<Option<Protocol>, ExitCode> {
    match p.map(str::parse::<Protocol>) {
        Some(Err(e)) => Err(usage(&format!("--protocol: {e}"))),
        Some(Ok(p)) => Ok(Some(p)),
        None => Ok(None),
    }
}

/// One flow to trace: endpoints resolved, the protocol defaulted (icmp, or tcp when a
/// port is given), and a port given with a protocol that has none refused.
#[allow(clippy::too_many_arguments)]
fn flow_query(
    m: &Model,
    where_: &str,
    from: &str,
    to: &str,
    protocol: Option<Protocol>,
    port: Option<u16>,
    source_port: u16,
    ingress: Option<&str>,
) -> Result<FlowQuery, ExitCode> {
    let mut from =
        trace::resolve_endpoint(m, from).map_err(|e| usage(&format!("{where_}--from: {e}")))?;
    if let Some(i) = ingress {
        from = trace::with_ingress(m, from, i).map_err(|e| usage(&format!("{where_}{e}")))?;
    }
    if let trace::Endpoint::Beyond {
        addr,
        ingress: None,
    } = from
    {
        if trace::routed_ingress(m, addr).is_none() {
            return Err(usage(&format!("{where_}--from: address {addr} is beyond the model (on no vSwitch and no subnet connected to an on-prem device, and no device routes to it through an unmodelled next hop); say where its packets arrive with --ingress DEVICE[:IFACE]")));
        }
    }
    let to = trace::resolve_endpoint(m, to).map_err(|e| usage(&format!("{where_}--to: {e}")))?;
    let protocol = protocol.unwrap_or(if port.is_some() {
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
    if !protocol.has_ports() && port.is_some() {
        return Err(usage(&format!(
            "{where_}--port applies to tcp and udp only, not to {protocol}"
        )));
    }
    Ok(FlowQuery {
        from,
        to,
        protocol,
        dst_port: port.unwrap_or(0),
        src_port: source_port,
    })
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
        Cmd::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "vpntrace",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| usage(&format!("cannot write the man page: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check {
            topology,
            write_fixed,
            idc_sas,
            html,
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
            if std::env::var_os("VPNTRACE_TIMING").is_some() {
                print_timings(&report.timings);
            }
            timing("checked");
            match format {
                CheckFormat::Json => write_out(|w| render::write_check_json(w, &report))?,
                CheckFormat::Text => {
                    write_out(|w| render::write_check_text(w, &m, &report, style()))?
                }
                CheckFormat::Sarif => {
                    print!("{}", render::sarif::sarif(&file, &text, &report.findings))
                }
                CheckFormat::Junit => print!("{}", render::junit::junit(&file, &report)),
            }
            timing("printed");
            if let Some(out) = html {
                std::fs::write(&out, render::html::html(&file, &m, &report))
                    .map_err(|e| usage(&format!("{}: cannot write: {e}", out.display())))?;
            }
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
        Cmd::Validate { topology, format } => validate(&topology, format),
        Cmd::Explain { code, format } => explain(code.as_deref(), format),
        Cmd::Graph {
            topology,
            from,
            to,
            protocol,
            port,
            format,
        } => {
            let m = load(&topology)?;
            let mut pic = render::graph::picture(&m);
            let mut code = ExitCode::SUCCESS;
            if let (Some(f), Some(t)) = (from, to) {
                let p = parse_protocol(protocol.as_deref())?;
                let q = flow_query(&m, "", &f, &t, p, port, 40000, None)?;
                let tr = trace::trace(&m, &q);
                if !tr.ok() {
                    code = ExitCode::from(1);
                }
                render::graph::draw_trace(&mut pic, &m, &tr, "");
            }
            print!(
                "{}",
                match format {
                    GraphFormat::Dot => render::graph::to_dot(&pic),
                    GraphFormat::Svg => render::graph::to_svg(&pic),
                    GraphFormat::Json => render::graph::to_json(&pic),
                }
            );
            Ok(code)
        }
        Cmd::Trace {
            topology,
            from,
            to,
            protocol,
            port,
            source_port,
            ingress,
            format,
        } => {
            let m = load(&topology)?;
            let file = topology.display().to_string();
            let listed = from.is_none() && to.is_none();
            let queries: Vec<(String, String, Option<Protocol>, Option<u16>)> = match (from, to) {
                (Some(f), Some(t)) => vec![(f, t, parse_protocol(protocol.as_deref())?, port)],
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
                let q = flow_query(
                    &m,
                    &where_,
                    f,
                    t,
                    *p,
                    *port,
                    source_port,
                    ingress.as_deref(),
                )?;
                traces.push(trace::trace(&m, &q));
            }
            // Listed flows are compared with what the file expects of each: `delivered`
            // both ways, or the first failing disposition.
            let checks: Vec<(usize, &'static str, Option<String>, bool)> = traces
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let got = outcome(t);
                    let expect = if listed {
                        m.flows.get(i).and_then(|f| f.expect.clone())
                    } else {
                        None
                    };
                    let ok = expect.as_deref().map_or(t.ok(), |e| e == got);
                    (i, got, expect, ok)
                })
                .collect();
            let all_ok = checks.iter().all(|c| c.3);
            let has_expect = checks.iter().any(|c| c.2.is_some());
            match format {
                Format::Json if traces.len() == 1 && !has_expect => {
                    print!("{}", render::json(&render::trace_json(&m, &traces[0])))
                }
                Format::Json => {
                    let traces: Vec<_> = traces.iter().map(|t| render::trace_json(&m, t)).collect();
                    let expected: Vec<_> = checks
                        .iter()
                        .map(|(i, got, expect, ok)| {
                            serde_json::json!({ "flow": i, "expect": expect, "outcome": got, "as_expected": ok })
                        })
                        .collect();
                    print!(
                        "{}",
                        render::json(
                            &serde_json::json!({ "traces": traces, "expected": expected })
                        )
                    )
                }
                Format::Text => {
                    let st = style();
                    let texts: Vec<String> = traces
                        .iter()
                        .map(|t| render::trace_text(&m, t, st))
                        .collect();
                    print!("{}", texts.join("\n"));
                    if has_expect {
                        let good = checks.iter().filter(|c| c.3).count();
                        let mut line =
                            format!("\n{} flow(s) traced: {good} as expected", checks.len());
                        for (i, got, expect, ok) in &checks {
                            if !ok {
                                line.push_str(&format!(
                                    "; flows[{i}] expected {}, got {got}",
                                    expect.as_deref().unwrap_or("delivered")
                                ));
                            }
                        }
                        println!("{line}");
                    }
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

/// `VPNTRACE_TIMING`: the check's stage timings, as the library returns them.
fn print_timings(t: &vpntrace::analysis::check::Timings) {
    if let Some(c) = &t.first_connection {
        eprintln!(
            "connection {}: local {} atoms in {} groups, remote {} atoms in {} groups",
            c.connection, c.local_atoms, c.local_groups, c.remote_atoms, c.remote_groups
        );
    }
    eprintln!(
        "index and prefix tables built at {:?}; connections checked at {:?}",
        t.setup, t.analysed
    );
    eprintln!(
        "summed over connections: reach {:?}, findings {:?}, fixes {:?}; {} failing outcomes",
        t.reach, t.findings, t.fixes, t.outcomes
    );
}
