//! Retention: snapshot rules (GFS), item-level age limits, departed owners, the minimum
//! retention floor, and holds overriding all of them.
//!
//! [`Repository::plan_retention`] lists what each policy would remove and why;
//! [`Repository::apply_retention`] does it (deleting snapshot roots, rewriting snapshots
//! without expired items — see `rewrite.rs`); GC then reclaims the space.

mod gfs;
mod plan;
mod policy;

pub use gfs::{Age, GfsRule};
pub use plan::{LockedRoot, PlanEntry, PlanTarget, RetentionPlan, RetentionReport};
pub use policy::{
    Applied, Assignment, MINIMUM_PREFIX, OwnerSet, PolicySet, RetentionPolicy, longer,
    minimum_retention_blocks,
};
