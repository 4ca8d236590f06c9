//! Delta rounds over a list of entries, shared by `mailFolders/delta`, `contacts/delta` and
//! `calendarView/delta`: a request carries the `$skiptoken` of a round in progress, the
//! `$deltatoken` of a finished round (a new round of the changes since), or neither (a first,
//! full round); a page ends with the next page's token or with the next round's.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PageEnd;
use super::delta::bad_token;
use crate::error::GraphError;
use crate::odata::ODataQuery;
use crate::state::AppState;

/// The token kinds of one delta endpoint: `round` for `$deltatoken`, `skip` for `$skiptoken`.
pub(crate) struct Kinds {
    pub round: &'static str,
    pub skip: &'static str,
}

/// The position fields every round token keeps, whatever else it freezes (selection, window).
pub(crate) trait RoundToken: Serialize + DeserializeOwned {
    /// The mailbox (user index) it was minted for.
    fn user(&self) -> u32;
    /// Position in the round's entry list.
    fn cur(&self) -> usize;
    /// A new round of the changes up to `seq`, from its first entry.
    fn restart(&mut self, seq: u64);
    /// The token of the page at `cur` of the same round.
    fn at(self, cur: usize) -> Self;
    /// The token of the round after this one (changes after its snapshot), issued at `now`.
    fn next_round(self, now: i64) -> Self;
}

/// The token of this request; `first` makes the token of a first round. 400 for a token minted
/// for another kind or another mailbox.
pub(crate) fn token<T: RoundToken>(
    state: &AppState,
    q: &ODataQuery,
    kinds: &Kinds,
    user: u32,
    seq: u64,
    first: impl FnOnce() -> Result<T, GraphError>,
) -> Result<T, GraphError> {
    let tok = if let Some(t) = &q.skiptoken {
        state
            .tokens
            .decode::<T>(kinds.skip, t)
            .ok_or_else(bad_token)?
    } else if let Some(t) = &q.deltatoken {
        let mut t = state
            .tokens
            .decode::<T>(kinds.round, t)
            .ok_or_else(bad_token)?;
        t.restart(seq);
        t
    } else {
        first()?
    };
    if tok.user() != user {
        return Err(bad_token());
    }
    Ok(tok)
}

/// How a page of `size` entries from the token's position ends, in a round of `len` entries.
pub(crate) fn end<T: RoundToken>(
    kinds: &Kinds,
    tok: T,
    size: usize,
    len: usize,
    now: i64,
) -> PageEnd<'static, T> {
    let cur = tok.cur();
    if cur + size < len {
        PageEnd::Next(kinds.skip, tok.at(cur + size))
    } else {
        PageEnd::Delta(kinds.round, tok.next_round(now))
    }
}

/// Implements [`RoundToken`] for a token struct with the fields `u`, `base`, `upto`, `cur` and
/// `issued`, and `start` (the seq its lineage started at) when named.
macro_rules! round_token {
    ($t:ident $(, $start:ident)?) => {
        impl $crate::mail::round::RoundToken for $t {
            fn user(&self) -> u32 {
                self.u
            }
            fn cur(&self) -> usize {
                self.cur
            }
            fn restart(&mut self, seq: u64) {
                self.upto = seq;
                self.cur = 0;
            }
            fn at(self, cur: usize) -> Self {
                $t { cur, ..self }
            }
            fn next_round(self, now: i64) -> Self {
                $t {
                    base: Some(self.upto),
                    $($start: self.upto,)?
                    cur: 0,
                    issued: now,
                    ..self
                }
            }
        }
    };
}
pub(crate) use round_token;
