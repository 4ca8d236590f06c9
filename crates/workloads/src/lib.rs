//! tenantvault workloads: Microsoft 365 data ⇄ repository items.
//!
//! Each workload enumerates its data through the Graph client (`tenantvault-graph`), turns it into
//! repository items (`tenantvault-repo`), and reads it back for browsing, restore and export.
//! Today: [`exchange`] (mail, calendar, contacts).
//!
//! ```no_run
//! # async fn demo(repo: tenantvault_repo::Repository, graph: tenantvault_graph::GraphClient) -> Result<(), Box<dyn std::error::Error>> {
//! use tenantvault_workloads::exchange::{self, Selection};
//! let report = exchange::backup(&repo, &graph, &exchange::BackupConfig::default(), &Selection::default(), None).await?;
//! println!("{} mailboxes, {} failures", report.mailboxes.len(), report.failures());
//! # Ok(()) }
//! ```

pub mod detect;
pub mod drive;
pub mod exchange;
pub mod recover;
