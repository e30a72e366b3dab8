//! vpntrace explains why an IPsec VPN between an Alibaba Cloud VPC and an on-premises
//! data center (IDC) does not carry traffic.
//!
//! Data flows one way through the layers:
//!
//! ```text
//! topology JSON ──input──▶ serde structs ──model::lower──▶ Model (resolved ids, parsed
//! addresses, ordered rules) ──graph──▶ device graph ──trace / check / split──▶ Findings
//! ──render──▶ text or JSON
//! ```
//!
//! - [`addr`]: CIDRs, ports, protocols and address sets (iprange).
//! - [`input`]: the topology file as written; [`model`]: the validated, resolved model.
//! - [`graph`]: the petgraph device graph (and its DOT rendering).
//! - [`trace`]: one flow hop by hop, forward and reply, as data.
//! - [`finding`]: the finding type every analysis reports.
//! - [`logs`]: strongSwan log classification (FAQ 1, 2).
//! - [`render`]: text and JSON output; the engine never prints.

pub mod addr;
pub mod algo;
pub mod cause;
pub mod check;
pub mod error;
pub mod finding;
pub mod fix;
pub mod gen;
pub mod graph;
pub mod index;
pub mod input;
pub mod logs;
pub mod model;
pub mod negotiation;
pub mod region;
pub mod render;
pub mod salayout;
pub mod split;
pub mod swanctl;
pub mod trace;

pub use error::InputError;
