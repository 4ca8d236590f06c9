//! tenantvault graph crate.
