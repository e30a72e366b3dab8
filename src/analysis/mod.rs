//! Analyses over the model: reachability of whole connections (`check`), fix application
//! and verification, phase-1/2 settings comparison, SA layout, the faq 5 split planner,
//! and IKE log classification.

pub mod check;
pub mod fix;
pub mod logs;
pub mod negotiation;
pub mod salayout;
pub mod search;
pub mod settings;
pub mod split;
