//! One Linux on-prem device from its own command output (SPEC "Import", `--linux ID=DIR`):
//! `ip-addr.json` (`ip -j addr`), `ip-route.json` (`ip -j route show table all`),
//! `iptables-save.txt`, `sysctl.txt`, and where it runs strongSwan `swanctl.conf` and
//! `list-sas.txt` (`swanctl --list-sas`). A missing file leaves its part out, with a note.

pub mod iptables;
pub mod libreswan;
pub mod swanconf;
pub mod sysctl;

use std::path::Path;

use serde_json::Value;

use crate::input::error::InputError;
use crate::input::import::{read_optional, Warning};
use crate::input::swanctl::parse_list_sas;
use crate::input::{Device, DeviceKind, Interface, Role, Route, Sa};
use crate::net::addr::Cidr;

/// The device, what could not be imported faithfully, and which files were missing.
#[derive(Debug)]
pub struct LinuxImport {
    pub device: Device,
    pub warnings: Vec<Warning>,
    pub notes: Vec<String>,
}

fn json(file: &str, text: &str) -> Result<Value, InputError> {
    serde_json::from_str(text).map_err(|e| {
        InputError::new(
            file,
            format!("line {} column {}", e.line(), e.column()),
            format!("not JSON: {e}"),
        )
    })
}

fn shape(file: &str, ptr: &str, what: &str) -> InputError {
    InputError::new(file, format!("#{ptr}"), format!("expected {what}"))
}

/// `ip -j addr`: IPv4 addresses of every interface but loopback. An interface's second
/// address is its own interface `NAME:N` (vpntrace names one address per interface).
pub fn interfaces(
    file: &str,
    origin: &str,
    text: &str,
    w: &mut Vec<Warning>,
) -> Result<Vec<Interface>, InputError> {
    let v = json(file, text)?;
    let links = v
        .as_array()
        .ok_or_else(|| shape(file, "", "a list of links (ip -j addr)"))?;
    let mut out = Vec::new();
    let mut v6 = 0;
    for (i, link) in links.iter().enumerate() {
        let p = format!("/{i}");
        let name = link
            .get("ifname")
            .and_then(Value::as_str)
            .ok_or_else(|| shape(file, &format!("{p}/ifname"), "an interface name"))?;
        if link.get("link_type").and_then(Value::as_str) == Some("loopback") || name == "lo" {
            continue;
        }
        let empty = Vec::new();
        let addrs = match link.get("addr_info") {
            None => &empty,
            Some(a) => a
                .as_array()
                .ok_or_else(|| shape(file, &format!("{p}/addr_info"), "a list"))?,
        };
        let mut n = 0;
        for (j, a) in addrs.iter().enumerate() {
            let ap = format!("{p}/addr_info/{j}");
            match a.get("family").and_then(Value::as_str) {
                Some("inet") => {}
                Some("inet6") => {
                    v6 += 1;
                    continue;
                }
                _ => {
                    return Err(shape(
                        file,
                        &format!("{ap}/family"),
                        "\"inet\" or \"inet6\"",
                    ))
                }
            }
            let local = a
                .get("local")
                .and_then(Value::as_str)
                .ok_or_else(|| shape(file, &format!("{ap}/local"), "an address"))?;
            let len = a
                .get("prefixlen")
                .and_then(Value::as_u64)
                .filter(|l| *l <= 32)
                .ok_or_else(|| shape(file, &format!("{ap}/prefixlen"), "a prefix length 0..32"))?;
            let address: Cidr = format!("{local}/{len}")
                .parse()
                .map_err(|e: String| shape(file, &format!("{ap}/local"), &e))?;
            let iname = if n == 0 {
                name.to_string()
            } else {
                format!("{name}:{n}")
            };
            if n > 0 {
                w.push(Warning::new(format!("{file}#{ap}"), format!("second address {address} on {name} is imported as interface {iname}; rules naming {name} do not apply to it")));
            }
            n += 1;
            out.push(Interface {
                name: iname,
                address,
                role: None,
                public_address: None,
                origin: Some(format!("{origin}#{ap}")),
            });
        }
        if link.get("operstate").and_then(Value::as_str) == Some("DOWN") && n > 0 {
            w.push(Warning::new(
                format!("{file}#{p}"),
                format!("interface {name} is down: imported as if up"),
            ));
        }
    }
    if v6 > 0 {
        w.push(Warning::new(
            file.to_string(),
            format!("{v6} IPv6 address(es) not imported (vpntrace models IPv4)"),
        ));
    }
    Ok(out)
}

/// `ip -j route show table all`: the main table's IPv4 routes, connected routes left to
/// the interfaces. `local`/`broadcast` tables are the kernel's own; any other table is
/// policy routing, which vpntrace does not model (a warning names each).
pub fn routes(
    file: &str,
    origin: &str,
    text: &str,
    ifaces: &[Interface],
    w: &mut Vec<Warning>,
) -> Result<Vec<Route>, InputError> {
    let v = json(file, text)?;
    let list = v
        .as_array()
        .ok_or_else(|| shape(file, "", "a list of routes (ip -j route)"))?;
    let mut out: Vec<(u64, Route)> = Vec::new();
    let mut other_tables: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for (i, r) in list.iter().enumerate() {
        let p = format!("/{i}");
        let here = format!("{file}#{p}");
        let dst = r
            .get("dst")
            .and_then(Value::as_str)
            .ok_or_else(|| shape(file, &format!("{p}/dst"), "a destination"))?;
        if dst.contains(':') {
            continue; // IPv6 (counted with the addresses)
        }
        let table = match r.get("table") {
            None => "main".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(shape(file, &format!("{p}/table"), "a table name")),
        };
        match table.as_str() {
            "main" | "254" => {}
            "local" | "255" | "broadcast" => continue,
            _ => {
                let e = other_tables.entry(table).or_insert((i, 0));
                e.1 += 1;
                continue;
            }
        }
        let kind = r.get("type").and_then(Value::as_str).unwrap_or("unicast");
        if kind != "unicast" {
            w.push(Warning::new(
                here,
                format!("`{kind} {dst}` route is not modelled: not imported"),
            ));
            continue;
        }
        let destination: Cidr = if dst == "default" {
            Cidr::new(std::net::Ipv4Addr::UNSPECIFIED, 0)
        } else {
            dst.parse()
                .map_err(|e: String| shape(file, &format!("{p}/dst"), &e))?
        };
        let mut gateway = r.get("gateway").and_then(Value::as_str).map(str::to_string);
        let mut dev = r.get("dev").and_then(Value::as_str).map(str::to_string);
        if let Some(hops) = r.get("nexthops").and_then(Value::as_array) {
            w.push(Warning::new(here.clone(), format!("multipath route to {dst}: vpntrace follows one next hop; imported with the first of {}", hops.len())));
            if let Some(h) = hops.first() {
                gateway = h.get("gateway").and_then(Value::as_str).map(str::to_string);
                dev = h.get("dev").and_then(Value::as_str).map(str::to_string);
            }
        }
        let metric = r.get("metric").and_then(Value::as_u64).unwrap_or(0);
        // A connected route the kernel adds for an interface address is implicit in vpntrace.
        let connected = gateway.is_none()
            && ifaces.iter().any(|f| {
                f.network_eq(&destination)
                    && Some(f.name.split(':').next().unwrap_or("")) == dev.as_deref()
            });
        if connected {
            continue;
        }
        let gateway = match gateway {
            None => None,
            Some(g) => Some(
                g.parse::<Cidr>()
                    .map_err(|e| shape(file, &format!("{p}/gateway"), &e))?,
            ),
        };
        if let Some(d) = &dev {
            if !ifaces.iter().any(|f| &f.name == d) {
                w.push(Warning::new(here.clone(), format!("route to {dst} leaves by {d}, which has no IPv4 address in ip-addr.json: imported without the interface")));
                dev = None;
            }
        }
        if gateway.is_none() && dev.is_none() {
            w.push(Warning::new(
                here,
                format!(
                    "route to {dst} has neither a gateway nor a usable interface: not imported"
                ),
            ));
            continue;
        }
        let id = match (&gateway, &dev) {
            (Some(g), Some(d)) => format!("{dst} via {g} dev {d}"),
            (Some(g), None) => format!("{dst} via {g}"),
            (None, Some(d)) => format!("{dst} dev {d}"),
            (None, None) => dst.to_string(),
        };
        out.push((
            metric,
            Route {
                id: Some(id),
                destination,
                interface: dev,
                gateway,
                tunnel: None,
                origin: Some(format!("{origin}#{p}")),
            },
        ));
    }
    for (t, (first, n)) in other_tables {
        w.push(Warning::new(format!("{file}#/{first}"), format!("routing table {t} ({n} route(s)) is policy routing, which vpntrace does not model: not imported (only the main table is)")));
    }
    // The kernel prefers the lowest metric among routes of one prefix; vpntrace the first listed.
    out.sort_by_key(|(m, _)| *m);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

trait NetworkEq {
    fn network_eq(&self, c: &Cidr) -> bool;
}
impl NetworkEq for Interface {
    fn network_eq(&self, c: &Cidr) -> bool {
        self.address.network() == c.network()
    }
}

/// Reads the folder of one device.
pub fn import_dir(id: &str, dir: &Path) -> Result<LinuxImport, InputError> {
    let mut w = Vec::new();
    let mut notes = Vec::new();
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(InputError::new(
            &shown,
            "",
            "--linux: expected a folder of exports (see scripts/export-linux.sh)",
        ));
    }
    let missing = |notes: &mut Vec<String>, name: &str, what: &str| {
        notes.push(format!("{shown}: no {name}: {what} left out"))
    };
    let mut device = Device {
        id: id.to_string(),
        kind: DeviceKind::Gateway,
        vendor: Some("linux-iptables".into()),
        interfaces: Vec::new(),
        routes: Vec::new(),
        filter: None,
        nat: Vec::new(),
        ipsec: Vec::new(),
        forwarding: None,
        rp_filter: None,
        origin: Some(shown.clone()),
    };
    match read_optional(dir, "ip-addr.json")? {
        Some((f, t)) => device.interfaces = interfaces(&f, "ip-addr.json", &t, &mut w)?,
        None => missing(&mut notes, "ip-addr.json", "interfaces"),
    }
    match read_optional(dir, "ip-route.json")? {
        Some((f, t)) => {
            device.routes = routes(&f, "ip-route.json", &t, &device.interfaces, &mut w)?
        }
        None => missing(&mut notes, "ip-route.json", "routes"),
    }
    // The interface of the default route faces the Internet: it is the outside one.
    if let Some(out_if) = device
        .routes
        .iter()
        .find(|r| r.destination.len() == 0)
        .and_then(|r| r.interface.clone())
    {
        for i in device.interfaces.iter_mut() {
            i.role = Some(if i.name == out_if {
                Role::Outside
            } else {
                Role::Inside
            });
        }
        notes.push(format!("{id}: interface {out_if} (the default route's) is imported as outside, the others as inside"));
    }
    let names: Vec<String> = device.interfaces.iter().map(|i| i.name.clone()).collect();
    match read_optional(dir, "iptables-save.txt")? {
        Some((f, t)) => {
            let p = iptables::parse(&f, "iptables-save.txt", &t, &names)?;
            device.filter = p.filter;
            device.nat = p.nat;
            w.extend(p.warnings);
        }
        None => missing(&mut notes, "iptables-save.txt", "filter and NAT rules"),
    }
    match read_optional(dir, "sysctl.txt")? {
        Some((f, t)) => {
            let p = sysctl::parse(&f, &t, &names)?;
            device.forwarding = p.forwarding.map(|x| x.0);
            device.rp_filter = p.rp_filter.map(|x| x.0);
            w.extend(p.warnings);
        }
        None => missing(&mut notes, "sysctl.txt", "ip_forward and rp_filter"),
    }
    if let Some((f, t)) = read_optional(dir, "swanctl.conf")? {
        {
            let (conns, cw) = swanconf::connections(&f, "swanctl.conf", &t)?;
            w.extend(cw);
            for c in conns {
                let mut e = c.ipsec;
                // Policy mode matches packets leaving the interface that holds local_addrs
                // (or, without one, the outside interface).
                e.interface = device
                    .interfaces
                    .iter()
                    .find(|i| {
                        c.local_addrs
                            .iter()
                            .any(|a| a.parse::<std::net::Ipv4Addr>().ok() == Some(i.address.addr()))
                    })
                    .or_else(|| {
                        device
                            .interfaces
                            .iter()
                            .find(|i| i.role == Some(Role::Outside))
                    })
                    .map(|i| i.name.clone());
                device.ipsec.push(e);
            }
        }
    }
    match read_optional(dir, "list-sas.txt")? {
        Some((f, t)) => {
            let sas = parse_list_sas(&t).map_err(|e| InputError::new(&f, "", e))?;
            for e in device.ipsec.iter_mut() {
                let children: Vec<Sa> = sas
                    .iter()
                    .filter(|s| s.name == e.connection && s.is_established())
                    .flat_map(|s| s.installed())
                    .map(|c| Sa {
                        local: c.local.clone(),
                        remote: c.remote.clone(),
                    })
                    .collect();
                e.sas = Some(children);
            }
            if device.ipsec.is_empty() && !sas.is_empty() {
                w.push(Warning::new(
                    f,
                    "SAs listed but no swanctl.conf connection to attach them to: not imported",
                ));
            }
        }
        None if !device.ipsec.is_empty() => missing(
            &mut notes,
            "list-sas.txt",
            "the negotiated SAs (the configured selectors are assumed)",
        ),
        None => {}
    }
    if device.interfaces.is_empty() {
        w.push(Warning::new(
            shown,
            format!("device {id} has no IPv4 interface: it links to nothing"),
        ));
    }
    Ok(LinuxImport {
        device,
        warnings: w,
        notes,
    })
}
