//! Findings: the one table of codes, the finding type every analysis reports, and the
//! typed changes that fix them. One module per family of findings (see [`cause`]).

pub mod cause;
pub mod change;
pub mod code;
pub mod finding;
mod idc_filter;
mod idc_route;
mod nat;
mod sa;
mod security_group;
mod vrouter;

pub use idc_route::diverted;
pub use sa::not_established_both_ways;
