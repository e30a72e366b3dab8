//! `check --html FILE`: one self-contained page to hand over (inline CSS and SVG, nothing
//! fetched): the summary per connection and direction, the picture with a failing path
//! drawn for every error finding that a traced flow shows, and the findings with their
//! fixes.

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::analysis::check::CheckReport;
use crate::engine::trace::{self, FlowQuery};
use crate::findings::finding::Finding;
use crate::model::Model;
use crate::net::addr::Protocol;

use super::graph;
use super::junit::xml_escape as esc;

const CSS: &str = "
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #1d1d1d; max-width: 1200px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.file { color: #666; font-size: 13px; }
table { border-collapse: collapse; margin-top: 8px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e5e5e5; font-size: 14px; vertical-align: top; }
th { background: #f5f5f5; }
.ok { color: #1a7f37; font-weight: bold; }
.bad { color: #cf222e; font-weight: bold; }
.warn { color: #9a6700; font-weight: bold; }
.finding { border: 1px solid #e5e5e5; border-left: 5px solid #cf222e; padding: 10px 14px; margin: 12px 0; border-radius: 4px; }
.finding.warning { border-left-color: #d4a72c; }
.code { font-family: Menlo, Consolas, monospace; font-weight: bold; }
.meta { color: #555; font-size: 13px; margin: 4px 0; }
.fix { background: #f0f7f0; padding: 6px 10px; border-radius: 4px; margin-top: 6px; }
pre { background: #f6f8fa; padding: 8px; font-size: 12px; overflow-x: auto; }
.picture { border: 1px solid #e5e5e5; padding: 8px; overflow-x: auto; }
.picture svg { max-width: 100%; height: auto; }
";

/// The addresses in a finding's `endpoints` and `instances` ("idc-db01 (192.168.0.20)").
fn endpoint_addrs(f: &Finding) -> Vec<Ipv4Addr> {
    f.endpoints
        .iter()
        .chain(&f.instances)
        .filter_map(|e| {
            let inner = e.rsplit_once('(')?.1.strip_suffix(')')?;
            inner.parse().ok()
        })
        .collect()
}

/// An address to trace from inside the CIDRs: a known endpoint there, else the first
/// host address of the first CIDR.
fn pick(cidrs: &[crate::net::addr::Cidr], known: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let nets: Vec<ipnet::Ipv4Net> = cidrs
        .iter()
        .filter_map(|c| c.to_string().parse().ok())
        .collect();
    if let Some(a) = known.iter().find(|a| nets.iter().any(|n| n.contains(*a))) {
        return Some(*a);
    }
    let n = nets.first()?;
    Some(if n.prefix_len() < 31 {
        Ipv4Addr::from(u32::from(n.network()) + 1)
    } else {
        n.network()
    })
}

/// The service of a finding as a protocol and port ("tcp/22", "icmp", "all").
fn service(f: &Finding) -> Option<(Protocol, Option<u16>)> {
    let s = f.services.first().map(String::as_str).unwrap_or("all");
    let (proto, ports) = s.split_once('/').unwrap_or((s, ""));
    let p = if proto == "all" {
        Protocol::Icmp
    } else {
        proto.parse().ok()?
    };
    let port = ports.split('-').next().and_then(|x| x.parse().ok());
    if p.has_ports() && port.is_none() {
        return Some((p, Some(1)));
    }
    Some((p, port))
}

/// One traced flow per error finding with traffic (the first source and destination in
/// it); flows that fail are drawn on the picture, numbered.
fn failing_picture(m: &Model, report: &CheckReport) -> graph::Picture {
    let mut pic = graph::picture(m);
    let mut seen = Vec::new();
    for f in report.findings.iter().filter(|f| f.is_error()) {
        let known = endpoint_addrs(f);
        let (Some(src), Some(dst), Some((protocol, port))) = (
            pick(&f.source, &known),
            pick(&f.destination, &known),
            service(f),
        ) else {
            continue;
        };
        // A finding about replies lists the reply's traffic: trace the flow that starts
        // it, in the finding's direction.
        let (src, dst) = match (f.direction, trace::flow_direction(m, src, dst)) {
            (Some(want), Some(got)) if want != got => (dst, src),
            _ => (src, dst),
        };
        if seen.contains(&(src, dst, protocol, port)) {
            continue;
        }
        seen.push((src, dst, protocol, port));
        let (Ok(from), Ok(to)) = (
            trace::resolve_endpoint(m, &src.to_string()),
            trace::resolve_endpoint(m, &dst.to_string()),
        ) else {
            continue;
        };
        let q = FlowQuery {
            from,
            to,
            protocol,
            dst_port: port.unwrap_or(0),
            src_port: 40000,
        };
        let t = trace::trace(m, &q);
        if !t.ok() {
            let n = pic
                .paths
                .iter()
                .filter(|p| p.name.ends_with("forward"))
                .count()
                + 1;
            graph::draw_trace(&mut pic, m, &t, &format!("flow {n} "));
        }
    }
    pic
}

/// The report page for `check` on the topology `file`.
pub fn html(file: &str, m: &Model, report: &CheckReport) -> String {
    let mut o = String::new();
    let errors = report.findings.iter().filter(|f| f.is_error()).count();
    let warnings = report.findings.len() - errors;
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>vpntrace check: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&m.name)
    );
    let _ = writeln!(o, "<h1>{}</h1>", esc(&m.name));
    let _ = writeln!(
        o,
        "<div class=\"file\">vpntrace check {} — {}</div>",
        esc(file),
        if errors == 0 {
            format!("<span class=\"ok\">no error</span>, {warnings} warning(s)")
        } else {
            format!("<span class=\"bad\">{errors} error(s)</span>, {warnings} warning(s)")
        }
    );
    o.push_str("<h2>Summary</h2>\n<table>\n<tr><th>connection</th><th>direction</th><th>subnet pairs working</th><th>failing pairs</th><th>errors</th></tr>\n");
    for s in &report.summary {
        let codes: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| {
                f.is_error()
                    && f.connection.as_deref() == Some(s.connection.as_str())
                    && f.direction.is_none_or(|d| d == s.direction)
            })
            .map(|f| f.code.as_str())
            .collect();
        let cls = if codes.is_empty() && s.failing_pairs.is_empty() {
            "ok"
        } else {
            "bad"
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"{cls}\">{} of {}</td><td>{}</td><td class=\"code\">{}</td></tr>",
            esc(&s.connection),
            esc(s.direction.arrow()),
            s.pairs_working,
            s.pairs_total,
            esc(&s.failing_pairs.join(", ")),
            esc(&codes.join(" "))
        );
    }
    o.push_str("</table>\n");
    let pic = failing_picture(m, report);
    o.push_str("<h2>Picture</h2>\n");
    if pic.paths.is_empty() {
        o.push_str("<p>No failing path to draw.</p>\n");
    }
    let _ = writeln!(o, "<div class=\"picture\">{}</div>", graph::to_svg(&pic));
    let _ = writeln!(o, "<h2>Findings ({})</h2>", report.findings.len());
    if report.findings.is_empty() {
        o.push_str("<p class=\"ok\">Nothing wrong: every subnet pair works both ways.</p>\n");
    }
    for f in &report.findings {
        finding_html(&mut o, f);
    }
    o.push_str("</body>\n</html>\n");
    o
}

fn finding_html(o: &mut String, f: &Finding) {
    let sev = f.severity.as_str();
    let _ = writeln!(o, "<div class=\"finding {sev}\">");
    let _ = writeln!(
        o,
        "<div><span class=\"{}\">{sev}</span> <span class=\"code\">{}</span> (FAQ {})</div>",
        if f.is_error() { "bad" } else { "warn" },
        f.code,
        f.faq
    );
    let mut meta = Vec::new();
    if let Some(c) = &f.connection {
        meta.push(format!("connection {}", esc(c)));
    }
    if let Some(d) = f.direction {
        meta.push(esc(d.arrow()));
    }
    if let Some(d) = &f.device {
        meta.push(format!("at {}", esc(d)));
    }
    if let Some(r) = &f.rule {
        meta.push(format!("rule {}", esc(r)));
    }
    let _ = writeln!(o, "<div class=\"meta\">{}</div>", meta.join(" · "));
    let _ = writeln!(o, "<p>{}</p>", esc(&f.message));
    let verified = match f.verified {
        Some(true) => " <span class=\"ok\">(verified)</span>",
        Some(false) => " <span class=\"warn\">(not verified)</span>",
        None => "",
    };
    let _ = writeln!(
        o,
        "<div class=\"fix\"><b>Fix:</b> {}{verified}</div>",
        esc(&f.fix)
    );
    if !f.vendor_fix.is_empty() {
        let _ = writeln!(o, "<pre>{}</pre>", esc(&f.vendor_fix.join("\n")));
    }
    o.push_str("</div>\n");
}
