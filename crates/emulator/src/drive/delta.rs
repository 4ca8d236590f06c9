//! Drive delta (`/drives/{id}/root/delta`): rounds, pages, tokens and resync.
//!
//! A round starts from a state (nothing = full enumeration, `latest`, a delta token or an
//! ISO timestamp). Its item list is fixed when the round starts and kept in a bounded
//! cursor table; pages render each item's *latest* state. Tokens are opaque and signed.
//! A delta token from an older epoch (admin "expire tokens") or older than the configured
//! TTL answers 410 Gone with `resyncChangesApplyDifferences` and a `Location` to restart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

use super::model::{Drive, ItemIdx};
use crate::odata::TokenCodec;

/// Token kind label for delta links.
const DELTA_KIND: &str = "drive.delta";
/// Token kind label for next links.
const PAGE_KIND: &str = "drive.page";
/// Cursor tables keep at most this many rounds; older ones answer 410.
const MAX_CURSORS: usize = 512;
/// Default page size (`$top` overrides).
pub const DEFAULT_PAGE: usize = 200;
/// Largest page served.
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Serialize, Deserialize)]
struct DeltaState {
    d: String,
    e: u64,
    s: u64,
    t: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct PageState {
    d: String,
    c: u64,
    p: usize,
}

/// Where a delta request starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No token: enumerate everything.
    Full,
    /// `token=latest`: nothing, just a link for "from now on".
    Latest,
    /// Changes after sequence number `seq`.
    Since(u64),
    /// Continue round `cursor` at position `pos`.
    Page {
        /// Cursor id.
        cursor: u64,
        /// Position in the round's item list.
        pos: usize,
    },
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token we minted (or for another drive).
    Malformed,
    /// Expired/evicted: the client must resync.
    Resync,
}

/// One round's frozen item list.
#[derive(Debug)]
struct Cursor {
    drive: String,
    items: Vec<ItemIdx>,
    snapshot: u64,
    epoch: u64,
}

/// The table of running rounds.
#[derive(Debug, Default)]
pub struct Cursors {
    next_id: u64,
    map: HashMap<u64, Cursor>,
    order: VecDeque<u64>,
}

/// A page of results.
#[derive(Debug)]
pub struct Page {
    /// Items to render, in order.
    pub items: Vec<ItemIdx>,
    /// Token for `@odata.nextLink`, when more pages follow.
    pub next: Option<String>,
    /// Token for `@odata.deltaLink`, when the round is complete.
    pub delta: Option<String>,
}

/// Parses the `token` parameter of a delta request.
pub fn parse_start(
    codec: &TokenCodec,
    drive: &Drive,
    token: Option<&str>,
    now: DateTime<Utc>,
    ttl: Option<std::time::Duration>,
) -> Result<Start, TokenError> {
    let Some(token) = token
        .map(|t| t.trim_matches('\''))
        .filter(|t| !t.is_empty())
    else {
        return Ok(Start::Full);
    };
    if token == "latest" {
        return Ok(Start::Latest);
    }
    if let Some(p) = codec.decode::<PageState>(PAGE_KIND, token) {
        if p.d != drive.id {
            return Err(TokenError::Malformed);
        }
        return Ok(Start::Page {
            cursor: p.c,
            pos: p.p,
        });
    }
    if let Some(s) = codec.decode::<DeltaState>(DELTA_KIND, token) {
        if s.d != drive.id {
            return Err(TokenError::Malformed);
        }
        if s.e != drive.token_epoch {
            return Err(TokenError::Resync);
        }
        if let Some(ttl) = ttl {
            let age = now.timestamp() - s.t;
            if age > ttl.as_secs() as i64 {
                return Err(TokenError::Resync);
            }
        }
        return Ok(Start::Since(s.s.min(drive.seq)));
    }
    // ODB/SPO also accept an ISO timestamp.
    if let Ok(ts) = DateTime::parse_from_rfc3339(token) {
        let ts = ts.with_timezone(&Utc);
        let first_after = drive
            .items
            .iter()
            .filter(|i| i.modified > ts || i.deleted.is_some_and(|d| d > ts))
            .map(|i| i.seq)
            .min();
        return Ok(Start::Since(
            first_after.map_or(drive.seq, |s| s.saturating_sub(1)),
        ));
    }
    Err(TokenError::Malformed)
}

fn full_order(drive: &Drive) -> Vec<ItemIdx> {
    // Depth-first from the root: parents always precede their children.
    let mut out = Vec::with_capacity(drive.items.len());
    let mut stack = vec![Drive::ROOT];
    while let Some(i) = stack.pop() {
        out.push(i);
        let kids: Vec<ItemIdx> = drive.live_children(i).collect();
        stack.extend(kids.into_iter().rev());
    }
    out
}

fn changes_since(drive: &Drive, since: u64, exclude_parents: bool) -> Vec<ItemIdx> {
    let mut deleted = Vec::new();
    let mut live = Vec::new();
    for (i, it) in drive.items.iter().enumerate() {
        let own = it.seq > since;
        let tree = !exclude_parents && it.tree_seq > since && it.is_folder();
        if !(own || tree) {
            continue;
        }
        if it.deleted.is_some() {
            if own {
                deleted.push((it.seq, i as ItemIdx));
            }
        } else {
            live.push((drive.depth(i as ItemIdx), it.seq, i as ItemIdx));
        }
    }
    deleted.sort_unstable();
    live.sort_unstable();
    deleted
        .into_iter()
        .map(|(_, i)| i)
        .chain(live.into_iter().map(|(_, _, i)| i))
        .collect()
}

impl Cursors {
    fn insert(&mut self, c: Cursor) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.map.insert(id, c);
        self.order.push_back(id);
        while self.order.len() > MAX_CURSORS {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        id
    }

    /// Forgets every round of a drive (after expiring its tokens).
    pub fn forget_drive(&mut self, drive: &str) {
        self.map.retain(|_, c| c.drive != drive);
        let map = &self.map;
        self.order.retain(|id| map.contains_key(id));
    }

    /// Serves one page.
    pub fn page(
        &mut self,
        codec: &TokenCodec,
        drive: &Drive,
        start: Start,
        page_size: usize,
        exclude_parents: bool,
        now: DateTime<Utc>,
    ) -> Result<Page, TokenError> {
        let page_size = page_size.clamp(1, MAX_PAGE);
        let (cursor_id, pos) = match start {
            Start::Latest => {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                    delta: Some(delta_token(codec, drive, drive.seq, now)),
                });
            }
            Start::Full | Start::Since(_) => {
                let items = match start {
                    Start::Since(s) => changes_since(drive, s, exclude_parents),
                    _ => full_order(drive),
                };
                let id = self.insert(Cursor {
                    drive: drive.id.clone(),
                    items,
                    snapshot: drive.seq,
                    epoch: drive.token_epoch,
                });
                (id, 0)
            }
            Start::Page { cursor, pos } => (cursor, pos),
        };
        let c = self.map.get(&cursor_id).ok_or(TokenError::Resync)?;
        if c.epoch != drive.token_epoch || c.drive != drive.id {
            return Err(TokenError::Resync);
        }
        let end = (pos + page_size).min(c.items.len());
        let items = c.items.get(pos..end).unwrap_or(&[]).to_vec();
        if end < c.items.len() {
            let next = codec.encode(
                PAGE_KIND,
                &PageState {
                    d: drive.id.clone(),
                    c: cursor_id,
                    p: end,
                },
            );
            Ok(Page {
                items,
                next: Some(next),
                delta: None,
            })
        } else {
            let snapshot = c.snapshot;
            self.map.remove(&cursor_id);
            self.order.retain(|&x| x != cursor_id);
            Ok(Page {
                items,
                next: None,
                delta: Some(delta_token(codec, drive, snapshot, now)),
            })
        }
    }
}

fn delta_token(codec: &TokenCodec, drive: &Drive, seq: u64, now: DateTime<Utc>) -> String {
    codec.encode(
        DELTA_KIND,
        &DeltaState {
            d: drive.id.clone(),
            e: drive.token_epoch,
            s: seq,
            t: now.timestamp(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::content::Content;
    use crate::drive::model::{Conflict, DriveType, Ident};
    use std::sync::Arc;

    fn setup() -> (Drive, Arc<Ident>, TokenCodec) {
        let who = Arc::new(Ident {
            id: "u".into(),
            display_name: "U".into(),
            email: "u@x".into(),
        });
        let d = Drive::new(
            "b!d".into(),
            "OneDrive".into(),
            DriveType::Business,
            who.clone(),
            0,
            Utc::now(),
            "https://x".into(),
            3,
        );
        (d, who, TokenCodec::new(b"k"))
    }

    fn round(
        c: &mut Cursors,
        codec: &TokenCodec,
        d: &Drive,
        token: Option<&str>,
        size: usize,
    ) -> (Vec<ItemIdx>, String) {
        let mut start = parse_start(codec, d, token, Utc::now(), None).expect("token ok");
        let mut all = Vec::new();
        loop {
            let p = c
                .page(codec, d, start, size, false, Utc::now())
                .expect("page");
            all.extend(p.items);
            if let Some(dl) = p.delta {
                return (all, dl);
            }
            start = parse_start(codec, d, p.next.as_deref(), Utc::now(), None).expect("next ok");
        }
    }

    #[test]
    fn full_round_then_incremental_changes_then_empty_round() {
        let (mut d, who, codec) = setup();
        let now = Utc::now();
        let a = d
            .create_folder(Drive::ROOT, "A", Conflict::Fail, &who, now)
            .unwrap();
        let (f, _) = d
            .put_file(
                a,
                "f.txt",
                Content::stored("x"),
                Conflict::Fail,
                &who,
                now,
                None,
            )
            .unwrap();
        let (g, _) = d
            .put_file(
                Drive::ROOT,
                "g.txt",
                Content::stored("y"),
                Conflict::Fail,
                &who,
                now,
                None,
            )
            .unwrap();
        let mut c = Cursors::default();
        let (items, dl) = round(&mut c, &codec, &d, None, 2);
        assert_eq!(items, vec![Drive::ROOT, a, f, g]);
        // Nothing changed: empty round.
        let (items, dl) = round(&mut c, &codec, &d, Some(&dl), 2);
        assert!(items.is_empty());
        // Rename f, delete g: f and its ancestors appear, g as a tombstone first.
        d.update(f, Some("f2.txt"), None, None, None, &who, now)
            .unwrap();
        d.delete(g, now).unwrap();
        let (items, dl2) = round(&mut c, &codec, &d, Some(&dl), 10);
        assert_eq!(items, vec![g, Drive::ROOT, a, f]);
        // With deltaExcludeParent only the changed items.
        let start = parse_start(&codec, &d, Some(&dl), now, None).unwrap();
        let p = c.page(&codec, &d, start, 10, true, now).unwrap();
        assert_eq!(p.items, vec![g, f]);
        let _ = dl2;
    }

    #[test]
    fn latest_expired_and_forged_tokens() {
        let (mut d, who, codec) = setup();
        let now = Utc::now();
        let mut c = Cursors::default();
        let p = c.page(&codec, &d, Start::Latest, 10, false, now).unwrap();
        assert!(p.items.is_empty());
        let dl = p.delta.unwrap();
        d.put_file(
            Drive::ROOT,
            "n.txt",
            Content::stored("n"),
            Conflict::Fail,
            &who,
            now,
            None,
        )
        .unwrap();
        let (items, _) = round(&mut c, &codec, &d, Some(&dl), 10);
        assert_eq!(items.len(), 2); // root (ancestor) + the new file
        // TTL: an hour-old token with a 10-minute TTL.
        let later = now + chrono::Duration::hours(1);
        assert_eq!(
            parse_start(
                &codec,
                &d,
                Some(&dl),
                later,
                Some(std::time::Duration::from_secs(600))
            ),
            Err(TokenError::Resync)
        );
        d.token_epoch += 1;
        assert_eq!(
            parse_start(&codec, &d, Some(&dl), now, None),
            Err(TokenError::Resync)
        );
        assert_eq!(
            parse_start(&codec, &d, Some("bogus"), now, None),
            Err(TokenError::Malformed)
        );
        // Timestamp tokens are accepted.
        assert!(matches!(
            parse_start(&codec, &d, Some("2020-01-01T00:00:00Z"), now, None),
            Ok(Start::Since(_))
        ));
    }
}
