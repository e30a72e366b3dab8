//! `vpntrace import`: topologies built from what users already export (SPEC "Import").
//!
//! Each importer reads one kind of export and returns topology objects (the serde structs
//! of [`crate::input`]) with `origin` set, plus [`Warning`]s for what it could not import
//! faithfully. Bad syntax is an [`InputError`] naming the file and line or JSON pointer.
//! The importers never print; `main` prints the warnings.

pub mod alibaba;
pub mod linux;
pub mod merge;

use std::fmt;

use crate::input::error::InputError;

/// Something an importer could not carry over faithfully, and what it did instead.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Warning {
    /// `FILE:LINE` or `FILE#/json/pointer` (the file as the user named it).
    pub location: String,
    pub message: String,
}

impl Warning {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Warning {
        Warning {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// One JSON-pointer token escaped (`~` → `~0`, `/` → `~1`), RFC 6901.
pub fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Reads a file of an export folder. `None` when it does not exist (the caller says so).
pub(crate) fn read_optional(
    dir: &std::path::Path,
    name: &str,
) -> Result<Option<(String, String)>, InputError> {
    let path = dir.join(name);
    let shown = path.display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(Some((shown, text))),
            Err(e) => Err(InputError::new(
                &shown,
                "",
                format!(
                    "expected UTF-8 text, found an invalid byte at offset {}",
                    e.utf8_error().valid_up_to()
                ),
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(InputError::new(&shown, "", format!("cannot read: {e}"))),
    }
}

/// What `import` produced: the topology, the warnings (sorted by location), the notes
/// (missing files and choices made), and how many objects each source gave.
#[derive(Debug)]
pub struct Outcome {
    pub topology: crate::input::Topology,
    pub warnings: Vec<Warning>,
    pub notes: Vec<String>,
    pub summary: String,
}

/// Reads the exports and merges them into `base` (the `--into` topology) or a new one.
/// `linux` holds `ID=DIR` arguments as given.
pub fn run(
    alibaba_dir: Option<&std::path::Path>,
    linux: &[String],
    base: Option<crate::input::Topology>,
) -> Result<Outcome, InputError> {
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut parts = Vec::new();
    let ali = match alibaba_dir {
        Some(d) => {
            let mut a = alibaba::import_dir(d)?;
            warnings.append(&mut a.warnings);
            parts.push(format!(
                "cloud: {} vSwitch(es), {} route table(s), {} security group(s), {} instance(s), {} VPN gateway(s), {} connection(s)",
                a.vswitches.len(),
                a.route_tables.len(),
                a.security_groups.len(),
                a.instances.len(),
                a.vpn_gateways.len(),
                a.ipsec_connections.len()
            ));
            Some(a)
        }
        None => None,
    };
    let mut devices = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for arg in linux {
        let Some((id, dir)) = arg
            .split_once('=')
            .filter(|(i, d)| !i.is_empty() && !d.is_empty())
        else {
            return Err(InputError::new(
                "--linux",
                "",
                format!("expected ID=DIR, got {arg:?}"),
            ));
        };
        if !seen.insert(id.to_string()) {
            return Err(InputError::new(
                "--linux",
                "",
                format!("device id `{id}` given twice"),
            ));
        }
        let mut l = linux::import_dir(id, std::path::Path::new(dir))?;
        warnings.append(&mut l.warnings);
        notes.append(&mut l.notes);
        let d = &l.device;
        parts.push(format!(
            "{id}: {} interface(s), {} route(s), {} filter rule(s), {} NAT rule(s), {} IPsec entr(ies)",
            d.interfaces.len(),
            d.routes.len(),
            d.filter.as_ref().map_or(0, |f| [&f.input, &f.forward, &f.output].iter().filter_map(|c| c.as_ref()).map(|c| c.rules.len()).sum()),
            d.nat.len(),
            d.ipsec.len()
        ));
        devices.push(l.device);
    }
    if alibaba_dir.is_none() && linux.is_empty() {
        return Err(InputError::new(
            "import",
            "",
            "nothing to import: give --alibaba DIR and/or --linux ID=DIR",
        ));
    }
    let topology = merge::merge(base, ali, devices, &mut warnings)
        .map_err(|m| InputError::new("import", "", m))?;
    warnings.sort();
    warnings.dedup();
    let summary = format!(
        "imported {}; {} warning(s)",
        parts.join("; "),
        warnings.len()
    );
    Ok(Outcome {
        topology,
        warnings,
        notes,
        summary,
    })
}
