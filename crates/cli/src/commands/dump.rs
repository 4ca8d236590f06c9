//! `dump SNAPSHOT ITEM`: stream one item's content to stdout.

use anyhow::{Context, Result};
use clap::Args;
use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;

use super::{SnapshotSelect, item_path};
use crate::{GlobalArgs, context, exit};

#[derive(Debug, Args)]
pub struct DumpArgs {
    #[command(flatten)]
    pub select: SnapshotSelect,
    /// Item id or full path (as `ls` prints it).
    pub item: String,
    /// Write the item's metadata document (e.g. Graph JSON) instead of its content.
    #[arg(long)]
    pub metadata: bool,
}

pub async fn run(g: &GlobalArgs, args: DumpArgs) -> Result<u8> {
    args.select.validate()?;
    let repo = context::open(g).await?;
    let snap = args.select.open(&repo).await?;
    let item = match snap.item(&args.item).await? {
        Some(item) => item,
        None => {
            let want = args.item.trim_matches('/');
            let mut items = Box::pin(snap.items());
            let mut found = None;
            while let Some(item) = items.try_next().await? {
                if item_path(&item) == want {
                    found = Some(item);
                    break;
                }
            }
            found.ok_or_else(|| {
                exit::not_found(format!(
                    "no item {:?} in snapshot {}",
                    args.item,
                    snap.id().short()
                ))
            })?
        }
    };
    let mut stdout = tokio::io::stdout();
    if args.metadata {
        let doc = repo.item_metadata(&item).await?.ok_or_else(|| {
            exit::not_found(format!("item {:?} has no metadata document", args.item))
        })?;
        stdout
            .write_all(&doc)
            .await
            .context("cannot write to stdout")?;
    } else {
        let mut reader = repo.content_reader(&snap, &item);
        tokio::io::copy(&mut reader, &mut stdout)
            .await
            .with_context(|| format!("cannot dump item {:?}", item_path(&item)))?;
    }
    stdout.flush().await.context("cannot write to stdout")?;
    Ok(exit::OK)
}
