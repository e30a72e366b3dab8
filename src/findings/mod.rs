//! Findings: the one table of codes, the finding type every analysis reports, and the
//! typed changes that fix them.

pub mod cause;
pub mod code;
pub mod finding;
