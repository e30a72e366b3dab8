//! The packet engine: one flow traced hop by hop through the model, forward and reply,
//! as data (typed steps, a disposition, and the cause when it fails).

pub mod cause;
mod cloud;
pub mod decide;
mod onprem;
mod reply;
pub mod step;
pub mod trace;
mod tunnel;
mod walk;
