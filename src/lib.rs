//! vpntrace explains why an IPsec VPN between an Alibaba Cloud VPC and an on-premises
//! data center (IDC) does not carry traffic.
//!
//! Data flows one way through the layers; each part of `src/` uses only the parts above
//! it in this list (a test, `tests/layers.rs`, fails on an import cycle):
//!
//! ```text
//! net       addresses, ports, protocols, address sets, IKE/IPsec algorithm names
//! input     the topology file as written (serde), `swanctl --list-sas`, input errors
//! model     lowering + validation into resolved ids and ordered rules; model rules
//! graph     the device graph (petgraph), its lookup index and packet regions
//! engine    one flow hop by hop (trace), forward and reply; typed causes
//! findings  the code table, the Finding type, typed changes
//! analysis  check (reach + fixes), settings comparison, SA layout, split, logs
//! render    text, JSON, DOT: all prose the user reads
//! ```
//!
//! A topology JSON goes `input` → [`model::lower`] → [`graph::index::Index`] →
//! [`engine::trace`] / [`analysis::check`] → [`findings::finding::Finding`]s →
//! [`render`]. The engine and the analyses never print.

pub mod analysis;
pub mod engine;
pub mod findings;
pub mod graph;
pub mod input;
pub mod model;
pub mod net;
pub mod render;

pub use input::error::InputError;
