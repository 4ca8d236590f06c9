//! Drive scenarios for the admin API (`/_emulator/drive/…`): user activity over simulated
//! days, ransomware (fast and slow), insider deletion with recycle-bin purge, OneDrive
//! removal after a departure, delta-token expiry, and a summary of drives.
//!
//! Random choices are drawn from `(seed, scenario, drive, drive sequence number)`, so a run
//! with the same history makes the same changes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::content::{Content, Source, TextKind};
use super::model::{Conflict, Drive, Ident, ItemIdx};
use super::state::drive_state;
use crate::error::GraphError;
use crate::rng::{rng_for, stable_u64};
use crate::state::AppState;

/// Which drives a scenario touches.
#[derive(Debug, Default, Deserialize)]
pub struct Selector {
    /// A drive id.
    pub drive: Option<String>,
    /// A user (id or UPN): their OneDrive.
    pub user: Option<String>,
}

fn pick_drives(
    st: &AppState,
    sel: &Selector,
    all_onedrives_if_empty: bool,
) -> Result<Vec<String>, GraphError> {
    let ds = drive_state(st);
    let store = ds.store.read();
    if let Some(d) = &sel.drive {
        return store.drive(d).map(|d| vec![d.id.clone()]).ok_or_else(|| {
            GraphError::bad_request("invalidRequest", format!("unknown drive {d}"))
        });
    }
    if let Some(u) = &sel.user {
        let uid = st
            .directory
            .read()
            .user(u)
            .map(|u| u.id.clone())
            .ok_or_else(|| {
                GraphError::bad_request("invalidRequest", format!("unknown user {u}"))
            })?;
        return store
            .user_drive_id(&uid)
            .map(|d| vec![d.to_string()])
            .ok_or_else(|| {
                GraphError::bad_request("invalidRequest", format!("user {u} has no OneDrive"))
            });
    }
    if all_onedrives_if_empty {
        let mut v: Vec<String> = store
            .user_drive
            .values()
            .filter(|d| store.drive(d).is_some())
            .cloned()
            .collect();
        v.sort();
        return Ok(v);
    }
    Err(GraphError::bad_request(
        "invalidRequest",
        "give \"drive\" or \"user\"",
    ))
}

fn reply(r: Result<Value, GraphError>) -> Response {
    match r {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn live_files(d: &Drive) -> Vec<ItemIdx> {
    (1..d.items.len() as ItemIdx)
        .filter(|&i| d.item(i).deleted.is_none() && !d.item(i).is_folder())
        .collect()
}

fn live_folders(d: &Drive) -> Vec<ItemIdx> {
    (0..d.items.len() as ItemIdx)
        .filter(|&i| d.item(i).deleted.is_none() && d.item(i).is_folder())
        .collect()
}

fn drive_rng(st: &AppState, scenario: &str, d: &Drive) -> rand_chacha::ChaCha8Rng {
    rng_for(st.seed(), scenario, &[stable_u64(0, &d.id, &[]), d.seq])
}

/// Body of `POST /_emulator/drive/activity`.
#[derive(Debug, Deserialize)]
pub struct Activity {
    #[serde(flatten)]
    sel: Selector,
    #[serde(default = "one")]
    days: u32,
    #[serde(default = "two")]
    new: u32,
    #[serde(default = "three")]
    modify: u32,
    #[serde(default = "one")]
    rename: u32,
    #[serde(default = "one")]
    r#move: u32,
    #[serde(default = "one")]
    delete: u32,
    #[serde(default = "yes")]
    advance_clock: bool,
}
fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn three() -> u32 {
    3
}
fn yes() -> bool {
    true
}

/// `POST /_emulator/drive/activity`: per day and drive, new, modified, renamed, moved
/// (folders) and deleted items, as the owner.
pub(crate) async fn activity(State(st): State<AppState>, Json(a): Json<Activity>) -> Response {
    reply((|| {
        let ids = pick_drives(&st, &a.sel, true)?;
        let ds = drive_state(&st);
        let mut totals = [0u32; 5];
        for day in 0..a.days {
            if a.advance_clock && day > 0 {
                st.clock.advance(std::time::Duration::from_secs(86_400));
            }
            let now = st.clock.now();
            let mut store = ds.store.write();
            for id in &ids {
                let Some(d) = store.drive_mut(id) else {
                    continue;
                };
                let mut rng = drive_rng(&st, "drive.activity", d);
                let owner = d.owner.clone();
                for k in 0..a.new {
                    let folders = live_folders(d);
                    let parent = *folders.choose(&mut rng).unwrap_or(&Drive::ROOT);
                    let seed = rng.r#gen();
                    let name = format!("New document {}.txt", d.seq + u64::from(k));
                    let c = Content::new(Source::Text {
                        seed,
                        len: rng.gen_range(200..20_000),
                        kind: TextKind::Prose,
                    });
                    if d.put_file(parent, &name, c, Conflict::Rename, &owner, now, None)
                        .is_ok()
                    {
                        totals[0] += 1;
                    }
                }
                for _ in 0..a.modify {
                    let files = live_files(d);
                    let Some(&f) = files.choose(&mut rng) else {
                        break;
                    };
                    let seed = rng.r#gen();
                    let len = d
                        .item(f)
                        .content()
                        .map_or(1000, |c| c.len().clamp(100, 200_000) as u32);
                    let c = Content::new(Source::Text {
                        seed,
                        len: len + rng.gen_range(0..500),
                        kind: TextKind::Prose,
                    });
                    if d.replace_content(f, c, &owner, now, None).is_ok() {
                        totals[1] += 1;
                    }
                }
                for _ in 0..a.rename {
                    let files = live_files(d);
                    let Some(&f) = files.choose(&mut rng) else {
                        break;
                    };
                    let name = format!("Renamed {}", d.item(f).name);
                    if d.update(f, Some(&name), None, None, None, &owner, now)
                        .is_ok()
                    {
                        totals[2] += 1;
                    }
                }
                for _ in 0..a.r#move {
                    let folders: Vec<ItemIdx> = live_folders(d)
                        .into_iter()
                        .filter(|&f| f != Drive::ROOT)
                        .collect();
                    let Some(&f) = folders.choose(&mut rng) else {
                        break;
                    };
                    let targets = live_folders(d);
                    let Some(&t) = targets.choose(&mut rng) else {
                        break;
                    };
                    if d.update(f, None, Some(t), None, None, &owner, now).is_ok() {
                        totals[3] += 1;
                    }
                }
                for _ in 0..a.delete {
                    let files = live_files(d);
                    let Some(&f) = files.choose(&mut rng) else {
                        break;
                    };
                    if d.delete(f, now).is_ok() {
                        totals[4] += 1;
                    }
                }
            }
        }
        Ok(
            json!({"drives": ids.len(), "created": totals[0], "modified": totals[1], "renamed": totals[2], "moved": totals[3], "deleted": totals[4]}),
        )
    })())
}

/// Body of `POST /_emulator/drive/ransomware`.
#[derive(Debug, Deserialize)]
pub struct Ransomware {
    #[serde(flatten)]
    sel: Selector,
    /// Extension appended to encrypted files.
    #[serde(default = "locked")]
    extension: String,
    /// Share of (not yet encrypted) files hit per day, 0–1.
    #[serde(default = "all")]
    share: f64,
    /// Days to run (the clock advances one day between days).
    #[serde(default = "one")]
    days: u32,
    /// Name of the ransom note written into every touched folder.
    #[serde(default = "note")]
    note_name: String,
}
fn locked() -> String {
    ".locked".into()
}
fn all() -> f64 {
    1.0
}
fn note() -> String {
    "README_RESTORE_FILES.txt".into()
}

const NOTE: &str = "All your files have been encrypted.\r\nTo get them back, send 2 BTC to the address below and mail your ID.\r\nDo not try to restore the files yourself.\r\n";

/// `POST /_emulator/drive/ransomware`: overwrite files with high-entropy content, rename them
/// with an extra extension and drop a ransom note per folder; `share` < 1 with `days` > 1 is
/// the slow variant.
pub(crate) async fn ransomware(State(st): State<AppState>, Json(r): Json<Ransomware>) -> Response {
    reply((|| {
        if !(0.0..=1.0).contains(&r.share) || r.extension.is_empty() || r.extension.contains('/') {
            return Err(GraphError::bad_request(
                "invalidRequest",
                "share must be within 0..1 and extension a plain suffix",
            ));
        }
        let ids = pick_drives(&st, &r.sel, false)?;
        let ds = drive_state(&st);
        let attacker = Arc::new(Ident {
            id: "00000000-0000-0000-0000-00000000bad0".into(),
            display_name: "Unknown".into(),
            email: String::new(),
        });
        let mut encrypted = 0;
        let mut notes = 0;
        for day in 0..r.days {
            if day > 0 {
                st.clock.advance(std::time::Duration::from_secs(86_400));
            }
            let now = st.clock.now();
            let mut store = ds.store.write();
            for id in &ids {
                let Some(d) = store.drive_mut(id) else {
                    continue;
                };
                let mut rng = drive_rng(&st, "drive.ransomware", d);
                let mut victims: Vec<ItemIdx> = live_files(d)
                    .into_iter()
                    .filter(|&f| {
                        !d.item(f).name.ends_with(&r.extension) && d.item(f).name != r.note_name
                    })
                    .collect();
                victims.shuffle(&mut rng);
                let n = ((victims.len() as f64) * r.share).ceil() as usize;
                let mut folders = std::collections::BTreeSet::new();
                for &f in victims.iter().take(n) {
                    let len = d.item(f).content().map_or(0, |c| c.len()) + 16;
                    let c = Content::new(Source::Noise {
                        seed: rng.r#gen(),
                        len,
                    });
                    let name = format!("{}{}", d.item(f).name, r.extension);
                    if d.replace_content(f, c, &attacker, now, None).is_ok()
                        && d.update(f, Some(&name), None, None, None, &attacker, now)
                            .is_ok()
                    {
                        encrypted += 1;
                        folders.insert(d.item(f).parent.unwrap_or(Drive::ROOT));
                    }
                }
                for folder in folders {
                    if d.child_by_name(folder, &r.note_name).is_none()
                        && d.put_file(
                            folder,
                            &r.note_name,
                            Content::stored(NOTE),
                            Conflict::Fail,
                            &attacker,
                            now,
                            None,
                        )
                        .is_ok()
                    {
                        notes += 1;
                    }
                }
            }
        }
        Ok(json!({"drives": ids.len(), "encrypted": encrypted, "notes": notes}))
    })())
}

/// Body of `POST /_emulator/drive/purge`.
#[derive(Debug, Deserialize)]
pub struct Purge {
    #[serde(flatten)]
    sel: Selector,
    /// Share of files deleted before the recycle bin is emptied, 0–1.
    #[serde(default = "all")]
    share: f64,
}

/// `POST /_emulator/drive/purge`: an insider deletes files and empties the recycle bin.
pub(crate) async fn purge(State(st): State<AppState>, Json(p): Json<Purge>) -> Response {
    reply((|| {
        if !(0.0..=1.0).contains(&p.share) {
            return Err(GraphError::bad_request(
                "invalidRequest",
                "share must be within 0..1",
            ));
        }
        let ids = pick_drives(&st, &p.sel, false)?;
        let ds = drive_state(&st);
        let now = st.clock.now();
        let mut store = ds.store.write();
        let (mut deleted, mut purged) = (0, 0);
        for id in &ids {
            let Some(d) = store.drive_mut(id) else {
                continue;
            };
            let mut rng = drive_rng(&st, "drive.purge", d);
            let mut files = live_files(d);
            files.shuffle(&mut rng);
            let n = ((files.len() as f64) * p.share).ceil() as usize;
            for &f in files.iter().take(n) {
                deleted += d.delete(f, now).unwrap_or(0);
            }
            purged += d.purge_deleted();
        }
        Ok(json!({"drives": ids.len(), "deleted": deleted, "purged": purged}))
    })())
}

/// `POST /_emulator/drive/remove-onedrive {"user": …}`: the OneDrive disappears (departure
/// after retention); its URLs answer 404 from then on.
pub(crate) async fn remove_onedrive(
    State(st): State<AppState>,
    Json(sel): Json<Selector>,
) -> Response {
    reply((|| {
        let u = sel
            .user
            .as_deref()
            .ok_or_else(|| GraphError::bad_request("invalidRequest", "give \"user\""))?;
        let uid = {
            let dir = st.directory.read();
            dir.users
                .iter()
                .find(|x| x.id.eq_ignore_ascii_case(u) || x.upn.eq_ignore_ascii_case(u))
                .map(|x| x.id.clone())
        }
        .ok_or_else(|| GraphError::bad_request("invalidRequest", format!("unknown user {u}")))?;
        let removed = drive_state(&st).store.write().remove_user_drive(&uid);
        Ok(json!({"user": uid, "removed": removed}))
    })())
}

/// `POST /_emulator/drive/expire-delta`: every delta token of the selected drives (all when
/// none selected) answers 410 resync from now on.
pub(crate) async fn expire_delta(
    State(st): State<AppState>,
    body: Option<Json<Selector>>,
) -> Response {
    reply((|| {
        let sel = body.map(|b| b.0).unwrap_or_default();
        let ds = drive_state(&st);
        let ids: Vec<String> = if sel.drive.is_some() || sel.user.is_some() {
            pick_drives(&st, &sel, false)?
        } else {
            ds.store.read().drives().map(|d| d.id.clone()).collect()
        };
        let mut store = ds.store.write();
        let mut cursors = ds.cursors.lock();
        for id in &ids {
            if let Some(d) = store.drive_mut(id) {
                d.token_epoch += 1;
            }
            cursors.forget_drive(id);
        }
        Ok(json!({"drives": ids.len()}))
    })())
}

/// `GET /_emulator/drive/summary`: drives with owner, item counts and bytes.
pub(crate) async fn summary(State(st): State<AppState>) -> Response {
    let ds = drive_state(&st);
    let store = ds.store.read();
    let mut drives: Vec<Value> = store
        .drives()
        .map(|d| {
            let site = &store.sites[d.site];
            json!({
                "id": d.id, "name": d.name, "driveType": d.drive_type.as_str(), "owner": d.owner.email,
                "site": site.id, "personal": site.personal, "items": d.live_count(), "bytes": d.used_bytes(),
            })
        })
        .collect();
    drives.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    (StatusCode::OK, Json(json!({"drives": drives, "sites": store.sites.iter().filter(|s| !s.removed).count(), "uploadSessions": ds.uploads.lock().len()}))).into_response()
}
