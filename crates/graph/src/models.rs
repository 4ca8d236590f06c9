//! Typed Graph resources: only the properties the workloads use, tolerant of unknown fields.
//! Wrap a type in [`crate::WithRaw`] to keep Graph's JSON byte for byte as well.
//! Property names follow the v1.0 CSDL (checked by a test against the schema).

mod common;
mod directory;
mod drive;
mod mail;
mod teams;

pub use common::*;
pub use directory::*;
pub use drive::*;
pub use mail::*;
pub use teams::*;

use serde::{Deserialize, Deserializer};

/// Accepts `null` for collections (treated as empty).
pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod schema_tests;
