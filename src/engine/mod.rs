//! The packet engine: one flow traced hop by hop through the model, forward and reply,
//! as data (typed steps, a disposition, and the cause when it fails).

pub mod cause;
pub mod trace;
