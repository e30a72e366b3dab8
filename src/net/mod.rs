//! Network vocabulary: addresses, prefixes, ports, protocols, address sets, and the
//! IKE/IPsec algorithm names both ends and their logs use. Depends on nothing else in
//! the crate.

pub mod addr;
pub mod algo;
