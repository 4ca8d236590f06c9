//! The tenant model: directory objects and mailbox state.

pub(crate) mod names;
pub mod tenant;
