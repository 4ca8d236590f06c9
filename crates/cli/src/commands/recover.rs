//! `recover --owner X [--before TIME|--snapshot ID] [--dry-run] [--target-folder NAME]`: puts
//! every item an attack changed or deleted back to its last clean version, leaving legitimate
//! later work alone (see `tenantvault_workloads::recover`).

use anyhow::Result;
use clap::Args;
use tenantvault_graph::GraphClient;
use tenantvault_workloads::recover::{self, CleanPoint, RecoverError, RecoverRequest};

use crate::clock::{now, parse_date};
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Owner: drive id, user id, UPN or site name (drives and mailboxes it names).
    #[arg(long)]
    pub owner: String,
    /// Clean point: the last snapshot before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, conflicts_with = "snapshot")]
    pub before: Option<String>,
    /// Clean point: this snapshot (id or unique prefix). Default: the open alert's clean snapshot.
    #[arg(long)]
    pub snapshot: Option<String>,
    /// List what would be restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Restore below this folder instead of in place.
    #[arg(long)]
    pub target_folder: Option<String>,
    /// Items restored at once (Graph throttling is honoured on top).
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Graph settings file (`[graph]` table); default: AZURE_* environment variables.
    #[arg(long = "graph-config", value_name = "FILE")]
    pub graph_config: Option<std::path::PathBuf>,
}

fn err(e: RecoverError) -> anyhow::Error {
    match e {
        RecoverError::Invalid(m) => exit::usage(m),
        RecoverError::Repo(r) => r.into(),
        other => anyhow::Error::new(other),
    }
}

pub async fn run(g: &GlobalArgs, a: RecoverArgs) -> Result<u8> {
    if a.parallel == 0 || a.parallel > 64 {
        return Err(exit::usage("--parallel must be within 1..64"));
    }
    if a.target_folder
        .as_deref()
        .is_some_and(|f| f.trim().is_empty() || f.contains(['/', '\\']) || f == "." || f == "..")
    {
        return Err(exit::usage("--target-folder must be a plain folder name"));
    }
    let clean = match (&a.before, &a.snapshot) {
        (Some(t), _) => CleanPoint::Before(parse_date(t, "--before", false)?),
        (None, Some(s)) => CleanPoint::Snapshot(s.clone()),
        (None, None) => CleanPoint::Alert,
    };
    let graph: Option<GraphClient> = if a.dry_run {
        None
    } else {
        let cfg = crate::exchange::graph_config(a.graph_config.as_deref())?;
        Some(GraphClient::new(cfg).map_err(|e| anyhow::anyhow!("Graph client: {e}"))?)
    };
    let repo = context::open(g).await?;
    let req = RecoverRequest {
        owner: a.owner.clone(),
        clean,
        target_folder: a.target_folder.clone(),
        parallel: a.parallel,
        now: now()?,
    };
    let plans = recover::plan(&repo, &req).await.map_err(err)?;
    if a.dry_run {
        if g.json {
            output::print_json(&plans)?;
        } else {
            for p in &plans {
                println!(
                    "{} {}: clean snapshot {} ({}), {} item(s) to restore, {} already back in place, {} later change(s) left alone",
                    p.workload,
                    p.owner,
                    p.clean_snapshot,
                    p.clean_time.to_rfc3339(),
                    p.items.len(),
                    p.already_present,
                    p.left_alone
                );
                for line in recover::describe(p) {
                    println!("  {line}");
                }
            }
        }
        return Ok(exit::OK);
    }
    let graph = graph.expect("a client unless dry run");
    let mut reports = Vec::new();
    for p in &plans {
        reports.push(recover::run(&repo, &graph, p, &req).await.map_err(err)?);
    }
    let failed: usize = reports.iter().map(|r| r.failed.len()).sum();
    let restored: u64 = reports.iter().map(|r| r.restored).sum();
    crate::audit_note::set("restored", restored);
    crate::audit_note::set("failed", failed);
    if g.json {
        output::print_json(&reports)?;
    } else if !g.quiet {
        for r in &reports {
            println!(
                "{} {}: {} restored, {} already done by an earlier run, {} failed",
                r.plan.workload,
                r.plan.owner,
                r.restored,
                r.already_done,
                r.failed.len()
            );
            for (id, why) in &r.failed {
                println!("  failed {id}: {why}");
            }
        }
    }
    Ok(if failed > 0 { exit::PARTIAL } else { exit::OK })
}
