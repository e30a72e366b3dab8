//! vpntrace explains why an IPsec VPN between an Alibaba Cloud VPC and an on-premises
//! data center (IDC) does not carry traffic.
//!
//! Data flows one way through the layers; each part of `src/` uses only the parts above
//! it in this list (a test, `tests/layers.rs`, fails on an import cycle):
//!
//! ```text
//! net       addresses, ports, protocols, address sets, IKE/IPsec algorithm names
//! input     the topology file as written (serde), `swanctl --list-sas`, input errors,
//!           importers of real exports (Alibaba Cloud API, Linux command output)
//! model     lowering + validation into resolved ids and ordered rules; model rules
//! graph     the device/subnet graph (petgraph) the tracer's next hop comes from, its
//!           lookup index and packet regions
//! engine    one flow hop by hop (trace), forward and reply; typed steps and causes
//! findings  the code table (one row and one doc per code), the Finding type, typed
//!           changes, one module per finding family (message and fix)
//! analysis  check (reach, fix search and verification), settings comparison, SA
//!           layout, split, logs (strongSwan and Libreswan, both ends as one negotiation)
//! render    text, JSON, DOT/SVG, SARIF, JUnit, HTML, explain: all prose the user reads
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
