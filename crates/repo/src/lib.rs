//! tenantvault repo crate.
