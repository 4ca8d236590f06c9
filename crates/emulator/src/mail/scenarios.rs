//! Mailbox scenarios for the admin API: simulated days of user activity, insider mass deletion
//! (with a purge of recoverable items), user departure, and delta-token expiry.

use super::generate::{FolderRole, GenCtx, generate};
use super::store::{ARCHIVE, DELETED_ITEMS, INBOX, MailStore, Mailbox, RECOVERABLE, ROOT};
use crate::rng::rng_for;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::json;

/// Admin routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/delta/expire", post(expire))
        .route("/_emulator/scenarios/activity", post(activity))
        .route("/_emulator/scenarios/insider", post(insider))
        .route("/_emulator/scenarios/departure", post(departure))
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

fn parse<T: for<'a> Deserialize<'a>>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(err(StatusCode::BAD_REQUEST, format!("invalid body: {e}"))))
}

/// Users (idx) selected by an optional id/UPN; only live users with mailboxes.
fn targets(state: &AppState, user: Option<&str>) -> Result<Vec<u32>, Box<Response>> {
    let dir = state.directory.read();
    match user {
        Some(u) => match dir.user(u) {
            Some(x) if x.mailbox_enabled() => Ok(vec![x.idx]),
            Some(_) => Err(Box::new(err(
                StatusCode::BAD_REQUEST,
                format!("user '{u}' has no mailbox"),
            ))),
            None => Err(Box::new(err(
                StatusCode::NOT_FOUND,
                format!("no live user '{u}'"),
            ))),
        },
        None => Ok(dir
            .live_users()
            .filter(|u| u.mailbox_enabled())
            .map(|u| u.idx)
            .collect()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExpireBody {
    user: Option<String>,
}

/// Make every Outlook delta/skip token issued so far answer 410 `SyncStateNotFound`.
pub fn expire_tokens(mb: &mut Mailbox) {
    mb.token_floor = mb.seq + 1;
    mb.bump();
}

async fn expire(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: ExpireBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let users = match targets(&state, b.user.as_deref()) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    for u in &users {
        expire_tokens(&mut state.mail.mailbox(*u).lock());
    }
    Json(json!({"expiredMailboxes": users.len()})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActivityBody {
    days: u32,
    user: Option<String>,
    /// New messages per mailbox per day (default 3).
    messages_per_day: Option<u32>,
}

/// Counters of what a scenario did.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityReport {
    /// Mailboxes touched.
    pub mailboxes: usize,
    /// New messages delivered.
    pub new: usize,
    /// Messages whose read/flag/categories changed.
    pub modified: usize,
    /// Messages moved between folders.
    pub moved: usize,
    /// Messages deleted (to Deleted Items).
    pub deleted: usize,
    /// Folders renamed.
    pub renamed_folders: usize,
    /// Folders moved.
    pub moved_folders: usize,
    /// Events created.
    pub events: usize,
}

/// One simulated day in one mailbox, deterministic from (seed, user, day number).
pub fn simulate_day(
    store: &MailStore,
    mb: &mut Mailbox,
    day_no: u64,
    day_start: DateTime<Utc>,
    per_day: u32,
    report: &mut ActivityReport,
) {
    let mut rng = rng_for(store.seed, "scenario.day", &[mb.user as u64, day_no]);
    let owner = store.owners[mb.user as usize].person.clone();
    // New mail.
    for k in 0..per_day {
        let ctx = GenCtx {
            seed: store.seed,
            user: mb.user,
            owner: &owner,
            people: &store.people,
            folder: INBOX,
            role: FolderRole::Incoming,
            count: 1_000_000,
            attachment_rate: store.knobs.attachment_rate,
            attachment_reuse: store.knobs.attachment_reuse,
        };
        let mut spec = generate(&ctx, 1_000_000 + (day_no as u32) * 100 + k);
        let at = day_start + Duration::minutes(rng.gen_range(0..1440));
        spec.received = at;
        spec.sent = at - Duration::seconds(30);
        spec.is_read = false;
        spec.flag = "notFlagged".into();
        spec.categories.clear();
        super::write::insert_created(mb, spec, None, INBOX, at);
        report.new += 1;
    }
    let now = day_start + Duration::hours(18);
    let inbox = mb.folder_keys(INBOX);
    // Modified: read / flag / category.
    for _ in 0..rng.gen_range(1..4) {
        if let Some(k) = inbox.choose(&mut rng).copied() {
            let o = mb.overlays.entry(k).or_default();
            match rng.gen_range(0..3) {
                0 => o.is_read = Some(true),
                1 => o.flag = Some("flagged".into()),
                _ => o.categories = Some(vec!["Follow up".into()]),
            }
            mb.log_change(k, &[INBOX], now);
            report.modified += 1;
        }
    }
    // Moved: one to Archive or a user folder.
    let user_folders: Vec<u32> = (0..mb.folders.len() as u32)
        .filter(|i| {
            mb.folders[*i as usize].well_known.is_none() && !mb.folders[*i as usize].deleted
        })
        .collect();
    if let Some(k) = mb.folder_keys(INBOX).choose(&mut rng).copied() {
        let target = user_folders.choose(&mut rng).copied().unwrap_or(ARCHIVE);
        mb.move_to(k, target, now);
        report.moved += 1;
    }
    // Deleted: one to Deleted Items.
    if let Some(k) = mb.folder_keys(INBOX).choose(&mut rng).copied() {
        mb.move_to(k, DELETED_ITEMS, now);
        report.deleted += 1;
    }
    // Folder rename (10%) and move (5%).
    if rng.gen_bool(0.1)
        && let Some(f) = user_folders.choose(&mut rng).copied()
    {
        let base = mb.folders[f as usize]
            .name
            .split(" (")
            .next()
            .unwrap_or("Folder")
            .to_string();
        mb.folders[f as usize].name = format!("{base} (day {day_no})");
        mb.log_folder(f);
        report.renamed_folders += 1;
    }
    if rng.gen_bool(0.05)
        && let Some(f) = user_folders.choose(&mut rng).copied()
    {
        let old = mb.folders[f as usize].parent;
        let target = if old == Some(ARCHIVE) { INBOX } else { ARCHIVE };
        let name = mb.folders[f as usize].name.clone();
        let clash = mb
            .folders
            .iter()
            .any(|x| x.parent == Some(target) && !x.deleted && x.name.eq_ignore_ascii_case(&name));
        if !clash {
            mb.folders[f as usize].parent = Some(target);
            mb.log_folder(f);
            if let Some(o) = old {
                mb.log_folder(o);
            }
            mb.log_folder(target);
            report.moved_folders += 1;
        }
    }
    // A new meeting every other day.
    if rng.gen_bool(0.5) {
        let mut e = super::pim::generated_event(store.seed, mb.user, &owner, &store.people, 0);
        e.subject = format!("Follow-up {day_no}");
        e.start = day_start + Duration::days(2) + Duration::hours(10);
        e.end = e.start + Duration::minutes(30);
        e.weekly_occurrences = 0;
        e.exceptions.clear();
        e.cancelled.clear();
        e.created = now;
        mb.pim.created_events.push(e);
        let n = super::pim::CREATED_BIT | (mb.pim.created_events.len() as u32 - 1);
        let seq = mb.bump();
        mb.pim.event_log.push((seq, n));
        report.events += 1;
    }
    let _ = ROOT;
}

async fn activity(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: ActivityBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if b.days == 0 || b.days > 3650 {
        return err(StatusCode::BAD_REQUEST, "days must be within 1..=3650");
    }
    let users = match targets(&state, b.user.as_deref()) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let mut report = ActivityReport {
        mailboxes: users.len(),
        ..Default::default()
    };
    let per_day = b.messages_per_day.unwrap_or(3).min(1000);
    let day_counter = state.ext(|_| DayCounter::default());
    for _ in 0..b.days {
        let day_no = {
            let mut d = day_counter.0.lock();
            *d += 1;
            *d
        };
        let day_start = state.clock.now();
        for u in &users {
            let mb = state.mail.mailbox(*u);
            simulate_day(
                &state.mail,
                &mut mb.lock(),
                day_no,
                day_start,
                per_day,
                &mut report,
            );
        }
        state.clock.advance(std::time::Duration::from_secs(86_400));
        apply_departures(&state);
    }
    Json(json!({"report": report, "now": crate::clock::iso(state.clock.now())})).into_response()
}

#[derive(Default)]
struct DayCounter(Mutex<u64>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InsiderBody {
    user: String,
    #[serde(default)]
    purge_recoverable: bool,
    /// Share of messages deleted (default 1.0 = all).
    share: Option<f64>,
}

/// Mass deletion: messages of all visible folders go to Recoverable Items; Deleted Items is
/// emptied; with `purge`, Recoverable Items is purged too. Returns (deleted, purged).
pub fn insider_delete(
    store: &MailStore,
    mb: &mut Mailbox,
    share: f64,
    purge: bool,
    now: DateTime<Utc>,
) -> (usize, usize) {
    let mut rng = rng_for(store.seed, "scenario.insider", &[mb.user as u64, mb.seq]);
    let mut deleted = 0;
    for f in 0..mb.folders.len() as u32 {
        if f == RECOVERABLE || mb.folders[f as usize].deleted {
            continue;
        }
        for k in mb.folder_keys(f) {
            if f == DELETED_ITEMS || rng.gen_bool(share.clamp(0.0, 1.0)) {
                mb.move_to(k, RECOVERABLE, now);
                deleted += 1;
            }
        }
    }
    let mut purged = 0;
    if purge {
        for k in mb.folder_keys(RECOVERABLE) {
            mb.purge(k, now);
            purged += 1;
        }
    }
    (deleted, purged)
}

async fn insider(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: InsiderBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let share = b.share.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&share) {
        return err(StatusCode::BAD_REQUEST, "share must be within 0..=1");
    }
    let users = match targets(&state, Some(&b.user)) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let mb = state.mail.mailbox(users[0]);
    let (deleted, purged) = insider_delete(
        &state.mail,
        &mut mb.lock(),
        share,
        b.purge_recoverable,
        state.clock.now(),
    );
    Json(json!({"deleted": deleted, "purged": purged})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DepartureBody {
    user: String,
    mailbox_retention_days: Option<u32>,
}

/// Pending departures: (user idx, when the mailbox and the deleted account disappear).
#[derive(Default)]
pub(crate) struct Departures(pub(crate) Mutex<Vec<(u32, DateTime<Utc>)>>);

async fn departure(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: DepartureBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let now = state.clock.now();
    let days = b.mailbox_retention_days.unwrap_or(30);
    let idx = {
        let mut dir = state.directory.write();
        let Some(u) = dir.users.iter_mut().find(|u| {
            u.deleted.is_none()
                && (u.id.eq_ignore_ascii_case(&b.user) || u.upn.eq_ignore_ascii_case(&b.user))
        }) else {
            return err(StatusCode::NOT_FOUND, format!("no live user '{}'", b.user));
        };
        u.deleted = Some(now);
        u.idx
    };
    let until = now + Duration::days(days as i64);
    state
        .ext(|_| Departures::default())
        .0
        .lock()
        .push((idx, until));
    apply_departures(&state);
    Json(
        json!({"deleted": crate::clock::iso(now), "mailboxRemovedAfter": crate::clock::iso(until)}),
    )
    .into_response()
}

/// Remove mailboxes (and deleted accounts) whose retention ran out.
pub(crate) fn apply_departures(state: &AppState) {
    let now = state.clock.now();
    let due: Vec<u32> = {
        let d = state.ext(|_| Departures::default());
        let mut list = d.0.lock();
        let due = list
            .iter()
            .filter(|(_, t)| *t <= now)
            .map(|(u, _)| *u)
            .collect();
        list.retain(|(_, t)| *t > now);
        due
    };
    if due.is_empty() {
        return;
    }
    let mut dir = state.directory.write();
    for u in due {
        if let Some(user) = dir.users.iter_mut().find(|x| x.idx == u) {
            user.has_mailbox = false;
            user.hard_deleted = true;
        }
    }
}
