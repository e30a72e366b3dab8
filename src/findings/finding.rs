//! Findings: what is wrong, where, for which traffic, and how to fix it (SPEC "JSON output").
//!
//! Every analysis (trace, check, split, logs) reports problems as [`Finding`]s. The first
//! eleven fields are the SPEC's contract and are always serialised, in this order; the
//! rest are additions, present only when they say something.

use serde::Serialize;

use crate::findings::change::Change;
use crate::findings::code::Code;
pub use crate::model::FlowDirection;
use crate::net::addr::Cidr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One exact part of a finding's traffic.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrafficPart {
    pub source: Vec<Cidr>,
    pub destination: Vec<Cidr>,
    pub services: Vec<String>,
}

/// How many instances or endpoints a finding lists (SPEC: the first 20, with a count).
pub const SHOWN: usize = 20;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub faq: u8,
    pub direction: Option<FlowDirection>,
    pub connection: Option<String>,
    pub device: Option<String>,
    pub rule: Option<String>,
    pub source: Vec<Cidr>,
    pub destination: Vec<Cidr>,
    pub message: String,
    pub fix: String,
    /// Where the rule or route it names was read from, for an imported topology
    /// (`iptables-save.txt:22`, `DescribeRouteEntryList.vtb-1.json#/RouteEntrys/RouteEntry/0`);
    /// for a chain's default, the chain's policy line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Protocols and ports affected, where the deciding rule distinguishes them
    /// (`tcp/22`, `udp`, `all`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Known endpoints inside the affected source/destination ranges, as `id (address)`:
    /// on-prem hosts in `check` (its instances are in `instances`), instances and hosts
    /// elsewhere.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// How many endpoints there are in all, when `endpoints` lists only the first
    /// [`SHOWN`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints_total: Option<usize>,
    /// The ECS instances the traffic touches, as `id (address)` (in address order; the
    /// first [`SHOWN`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// How many instances there are in all, when `instances` lists only the first [`SHOWN`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances_total: Option<usize>,
    /// The fix as a structured change, when the tool can apply it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Further changes the fix needs: `change` alone leaves part of the traffic stopped
    /// elsewhere, and with these too the whole traffic passes (applied in order after it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Change>,
    /// The fix in the device's own configuration language (Huawei, iptables, Alibaba API…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vendor_fix: Vec<String>,
    /// Whether re-analysing the topology with the fix applied made the traffic pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Log lines to expect on each end (faq 1/2), or other supporting detail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expected_logs: Vec<String>,
    /// When the affected traffic is not the whole of source × destination × services,
    /// the exact parts that fail (each part: every listed source to every listed
    /// destination for the listed services).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<TrafficPart>,
    /// For `logs`: the file and the 1-based lines that show the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<usize>,
    /// For `logs`: lines of other files (the peer's log) that show the same failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cites: Vec<Cite>,
}

/// Lines of one log file that support a finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cite {
    pub file: String,
    pub lines: Vec<usize>,
}

impl Finding {
    /// A finding with the contract fields set and every addition empty.
    pub fn new(
        code: Code,
        severity: Severity,
        faq: u8,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            code,
            severity,
            faq,
            direction: None,
            connection: None,
            device: None,
            rule: None,
            source: Vec::new(),
            destination: Vec::new(),
            message: message.into(),
            fix: fix.into(),
            origin: None,
            services: Vec::new(),
            endpoints: Vec::new(),
            endpoints_total: None,
            instances: Vec::new(),
            instances_total: None,
            change: None,
            also: Vec::new(),
            vendor_fix: Vec::new(),
            verified: None,
            expected_logs: Vec::new(),
            parts: Vec::new(),
            file: None,
            lines: Vec::new(),
            cites: Vec::new(),
        }
    }
    pub fn error(
        code: Code,
        faq: u8,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::new(code, Severity::Error, faq, message, fix)
    }
    pub fn warning(
        code: Code,
        faq: u8,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::new(code, Severity::Warning, faq, message, fix)
    }
    pub fn with_direction(mut self, d: FlowDirection) -> Finding {
        self.direction = Some(d);
        self
    }
    pub fn with_connection(mut self, c: impl Into<String>) -> Finding {
        self.connection = Some(c.into());
        self
    }
    pub fn with_device(mut self, d: impl Into<String>) -> Finding {
        self.device = Some(d.into());
        self
    }
    pub fn with_rule(mut self, r: Option<String>) -> Finding {
        self.rule = r;
        self
    }
    pub fn with_traffic(mut self, source: Vec<Cidr>, destination: Vec<Cidr>) -> Finding {
        self.source = source;
        self.destination = destination;
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The first [`SHOWN`] of `all` in words, and the count of all when that leaves some
/// out (only those shown are put in words).
pub fn first_shown<T: Copy>(
    all: &[T],
    words: impl Fn(T) -> String,
) -> (Vec<String>, Option<usize>) {
    let first = all.iter().take(SHOWN).map(|&x| words(x)).collect();
    (first, (all.len() > SHOWN).then_some(all.len()))
}
