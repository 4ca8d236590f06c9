//! tenantvault workloads crate.
