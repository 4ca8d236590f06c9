//! tenantvault emulator crate.
