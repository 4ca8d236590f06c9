//! Anomaly score of one snapshot's [`ChangeStats`] against the owner's own history, with a
//! human explanation. Qualitative signals (encryption in place, ransomware extensions,
//! ransom notes) weigh most; volume signals (deletions, purges, rewrites) count only when they
//! exceed what this owner normally does, so a busy user is not flagged for being busy.

use serde::{Deserialize, Serialize};

use super::stats::ChangeStats;

/// Score at or above which a snapshot is suspect.
pub const ALERT_SCORE: u32 = 50;
/// Snapshots of history used as the baseline (Keepit uses 60).
pub const BASELINE_SNAPSHOTS: usize = 90;

/// The verdict on one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// 0–100.
    pub score: u32,
    /// True when `score >= ALERT_SCORE`.
    pub suspect: bool,
    /// One sentence per signal that contributed, most important first.
    pub reasons: Vec<String>,
    /// Snapshots of history the baseline used.
    pub baseline_snapshots: usize,
    /// Codes of the signals that contributed: `encryption`, `ransomExtension`,
    /// `appendedExtension`, `ransomNote`, `massDeletion`, `mailPurge`, `recoverablePurge`,
    /// `rewriteVolume`, `slowEncryption`.
    #[serde(default)]
    pub signals: Vec<String>,
}

impl Verdict {
    /// True when deletions were part of what made the snapshot suspect (recovery then treats
    /// the deletions of that step as the attack's).
    pub fn destructive(&self) -> bool {
        self.signals.iter().any(|s| {
            matches!(
                s.as_str(),
                "massDeletion" | "mailPurge" | "recoverablePurge"
            )
        })
    }
}

impl Verdict {
    /// The reasons as one line.
    pub fn explanation(&self) -> String {
        self.reasons.join("; ")
    }
}

/// What is normal for this owner: a robust upper bound of a measure over its history
/// (the larger of the 95th percentile and median + 4·MAD); `None` with fewer than 3 points.
fn normal(history: &[ChangeStats], f: impl Fn(&ChangeStats) -> f64) -> Option<f64> {
    if history.len() < 3 {
        return None;
    }
    let mut v: Vec<f64> = history.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = dev[dev.len() / 2];
    let p95 = v[((v.len() - 1) as f64 * 0.95).round() as usize];
    Some(p95.max(med + 4.0 * mad))
}

/// True when `x` is well above this owner's normal (always true without enough history).
fn unusual(x: f64, history: &[ChangeStats], f: impl Fn(&ChangeStats) -> f64) -> bool {
    match normal(history, f) {
        None => true,
        Some(n) => x > 2.0 * n + f64::EPSILON,
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// True when the stats carry any sign of ransomware at all (used to find where an attack
/// began: the clean point is the snapshot before the first such one).
pub fn has_indicators(s: &ChangeStats) -> bool {
    s.entropy_jumps > 0
        || s.known_ransom_ext > 0
        || s.notes_confirmed > 0
        || s.appended.values().any(|&n| n >= 3)
}

/// The window in which repeated small encryptions add up (slow ransomware).
pub const SLOW_WINDOW_DAYS: i64 = 7;
/// Snapshots with encryption in the window (this one included) that make a slow attack.
pub const SLOW_MIN_SNAPSHOTS: usize = 3;

/// The owner's earlier snapshots within [`SLOW_WINDOW_DAYS`] before `s` that had files
/// rewritten with random-looking content, oldest first.
pub fn recent_encryption<'a>(s: &ChangeStats, history: &'a [ChangeStats]) -> Vec<&'a ChangeStats> {
    let from = s.time - chrono::Duration::days(SLOW_WINDOW_DAYS);
    let mut v: Vec<&ChangeStats> = history
        .iter()
        .filter(|h| {
            h.entropy_jumps > 0 && h.time > from && h.time < s.time && h.snapshot != s.snapshot
        })
        .collect();
    v.sort_by_key(|h| h.time);
    v
}

/// Files rewritten with random-looking content in one snapshot (estimate, at least the
/// sampled ones).
fn encrypted(h: &ChangeStats) -> u64 {
    h.estimated_encrypted().max(h.entropy_jumps)
}

/// For each of `base`'s snapshots, the encrypted files summed over the window ending there:
/// what a window of this owner normally adds up to.
fn window_sums(base: &[ChangeStats]) -> Vec<f64> {
    base.iter()
        .map(|end| {
            let from = end.time - chrono::Duration::days(SLOW_WINDOW_DAYS);
            base.iter()
                .filter(|h| h.time > from && h.time <= end.time)
                .map(|h| encrypted(h) as f64)
                .sum()
        })
        .collect()
}

/// Scores `s` against `history` (the owner's earlier stats, any order).
///
/// Earlier snapshots of the last [`SLOW_WINDOW_DAYS`] that already showed encryption are not
/// baseline: a slow attack would otherwise teach the baseline that encryption is normal. They
/// are judged together with `s` instead (signal `slowEncryption`).
pub fn score(s: &ChangeStats, history: &[ChangeStats]) -> Verdict {
    let mut points: Vec<(u32, String)> = Vec::new();
    let mut signals: Vec<String> = Vec::new();
    if s.previous.is_none() {
        return Verdict {
            baseline_snapshots: history.len(),
            ..Verdict::default()
        };
    }
    let recent = recent_encryption(s, history);
    let baseline_snapshots = history.len();
    let base: Vec<ChangeStats> = history
        .iter()
        .filter(|h| !recent.iter().any(|r| r.snapshot == h.snapshot))
        .cloned()
        .collect();
    let history = base.as_slice();
    let items = s.items_before.max(1);
    let is_mail = s.workload == "exchange";
    let noun = if is_mail { "messages" } else { "files" };

    // Rewritten with random-looking content, and how they were renamed.
    let est = s.estimated_encrypted().max(s.entropy_jumps);
    let top_append = s
        .appended
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(e, n)| (e.clone(), *n));
    let appended_new = top_append.as_ref().filter(|(e, n)| {
        *n >= 3
            && *n * 2 >= s.renamed
            && !history
                .iter()
                .any(|h| h.appended.get(e).is_some_and(|&m| m >= 3))
    });
    if s.entropy_jumps > 0 && unusual(est as f64, history, |h| h.estimated_encrypted() as f64) {
        signals.push("encryption".into());
        let p = 30 + (20.0 * (est as f64 / (0.05 * items as f64).max(5.0)).min(1.0)) as u32;
        let mut text = format!(
            "{} of {} {noun} rewritten with high-entropy content (entropy {:.1}→{:.1} bits/byte; {} of {} sampled changes)",
            thousands(est),
            thousands(items),
            s.entropy_before,
            s.entropy_after,
            s.entropy_jumps,
            s.entropy_sampled
        );
        if let Some((e, n)) = &top_append
            && *n > 0
        {
            text.push_str(&format!(" and renamed *.{e}"));
        }
        points.push((p, text));
    }
    // Slow encryption: a few files at a time, in several snapshots of the last days.
    if s.entropy_jumps > 0 && recent.len() + 1 >= SLOW_MIN_SNAPSHOTS {
        let total = encrypted(s) + recent.iter().map(|h| encrypted(h)).sum::<u64>();
        let sums = window_sums(history);
        let normal_sum = if sums.len() < 3 {
            None
        } else {
            let mut v = sums;
            v.sort_by(f64::total_cmp);
            Some(v[((v.len() - 1) as f64 * 0.95).round() as usize])
        };
        if normal_sum.is_none_or(|n| total as f64 > 2.0 * n + f64::EPSILON) {
            signals.push("slowEncryption".into());
            let p = 15 + (15.0 * (total as f64 / (0.05 * items as f64).max(5.0)).min(1.0)) as u32;
            points.push((
                p,
                format!(
                    "{} {noun} in all rewritten with high-entropy content in {} backups within {} days (slow encryption; first seen {})",
                    thousands(total),
                    recent.len() + 1,
                    SLOW_WINDOW_DAYS,
                    recent
                        .first()
                        .map(|h| h.time.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default()
                ),
            ));
        }
    }
    if s.known_ransom_ext > 0
        && unusual(s.known_ransom_ext as f64, history, |h| {
            h.known_ransom_ext as f64
        })
    {
        signals.push("ransomExtension".into());
        let p = if s.known_ransom_ext >= 5 { 40 } else { 25 };
        let ext = top_append
            .as_ref()
            .map(|(e, _)| format!(" (*.{e})"))
            .unwrap_or_default();
        points.push((
            p,
            format!(
                "{} {noun} renamed to or created with a known ransomware extension{ext}",
                thousands(s.known_ransom_ext)
            ),
        ));
    }
    if let Some((e, n)) = appended_new {
        signals.push("appendedExtension".into());
        let p = 20 + (15.0 * (*n as f64 / items as f64 * 10.0).min(1.0)) as u32;
        points.push((
            p,
            format!(
                "the extension .{e} was appended to {} {noun} (never seen for this owner)",
                thousands(*n)
            ),
        ));
    }
    if s.notes > 0 {
        signals.push("ransomNote".into());
        let mut p = if s.notes_confirmed > 0 { 35 } else { 15 };
        if s.note_folders >= 3 {
            p += 10;
        }
        points.push((
            p,
            format!(
                "ransom note {} in {} folder{}{}",
                s.note_names.first().cloned().unwrap_or_default(),
                s.note_folders,
                if s.note_folders == 1 { "" } else { "s" },
                if s.notes_confirmed > 0 {
                    ""
                } else {
                    " (name only)"
                }
            ),
        ));
    }

    // Destruction: files deleted, mail purged.
    let destroyed = s.deleted.saturating_sub(s.deleted_artifacts);
    if !is_mail && destroyed >= 10 {
        let frac = destroyed as f64 / items as f64;
        let recent = s.deleted_recent as f64 / items as f64;
        let big = frac >= 0.9 || recent >= 0.25;
        if big
            && unusual(frac, history, |h| {
                h.deleted.saturating_sub(h.deleted_artifacts) as f64 / h.items_before.max(1) as f64
            })
        {
            signals.push("massDeletion".into());
            points.push((
                55 + (30.0 * frac) as u32,
                format!(
                    "{} of {} files deleted ({} of them changed within the last year)",
                    thousands(destroyed),
                    thousands(items),
                    thousands(s.deleted_recent)
                ),
            ));
        }
    }
    if is_mail {
        let gone = s.mail_purged + s.mail_to_deleted;
        let frac = gone as f64 / items as f64;
        if gone >= 20
            && frac >= 0.3
            && unusual(frac, history, |h| {
                (h.mail_purged + h.mail_to_deleted) as f64 / h.items_before.max(1) as f64
            })
        {
            signals.push("mailPurge".into());
            points.push((
                55 + (30.0 * frac.min(1.0)) as u32,
                format!(
                    "{} of {} messages deleted ({} moved to Deleted/Recoverable Items, {} removed for good)",
                    thousands(gone),
                    thousands(items),
                    thousands(s.mail_to_deleted),
                    thousands(s.mail_purged)
                ),
            ));
        }
        if s.mail_purged_recoverable >= 10
            && unusual(s.mail_purged_recoverable as f64, history, |h| {
                h.mail_purged_recoverable as f64
            })
        {
            signals.push("recoverablePurge".into());
            points.push((
                30,
                format!(
                    "{} messages purged from Recoverable Items",
                    thousands(s.mail_purged_recoverable)
                ),
            ));
        }
    }

    // Supporting only: an unusual volume of rewrites.
    let mfrac = s.modified as f64 / items as f64;
    if !points.is_empty()
        && mfrac >= 0.2
        && unusual(mfrac, history, |h| {
            h.modified as f64 / h.items_before.max(1) as f64
        })
    {
        signals.push("rewriteVolume".into());
        points.push((
            10,
            format!(
                "{} of {} {noun} changed, far above this owner's usual",
                thousands(s.modified),
                thousands(items)
            ),
        ));
    }

    points.sort_by_key(|p| std::cmp::Reverse(p.0));
    let score = points.iter().map(|p| p.0).sum::<u32>().min(100);
    Verdict {
        score,
        suspect: score >= ALERT_SCORE,
        reasons: points.into_iter().map(|p| p.1).collect(),
        baseline_snapshots,
        signals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(items: u64) -> ChangeStats {
        ChangeStats {
            version: 1,
            workload: "drive".into(),
            previous: Some("p".into()),
            items_before: items,
            items_after: items,
            ..ChangeStats::default()
        }
    }

    #[test]
    fn fast_ransomware_reads_like_the_example() {
        let mut s = base(1380);
        s.modified = 412;
        s.renamed = 412;
        s.entropy_sampled = 48;
        s.entropy_jumps = 48;
        s.entropy_before = 4.3;
        s.entropy_after = 8.0;
        s.known_ransom_ext = 412;
        s.appended.insert("locked".into(), 412);
        s.notes = 37;
        s.notes_confirmed = 8;
        s.note_folders = 37;
        s.note_names = vec!["README-DECRYPT.txt".into()];
        let v = score(&s, &[]);
        assert!(v.suspect);
        assert_eq!(v.score, 100);
        let e = v.explanation();
        assert!(
            e.contains("412 of 1,380 files rewritten with high-entropy content"),
            "{e}"
        );
        assert!(e.contains("renamed *.locked"), "{e}");
        assert!(
            e.contains("ransom note README-DECRYPT.txt in 37 folders"),
            "{e}"
        );
    }

    #[test]
    fn busy_owner_is_not_flagged_for_being_busy() {
        // An owner who routinely deletes half of a scratch folder's files every day.
        let history: Vec<ChangeStats> = (0..30)
            .map(|i| {
                let mut h = base(200);
                h.deleted = 90 + i % 5;
                h.deleted_recent = 90;
                h
            })
            .collect();
        let mut s = base(200);
        s.deleted = 95;
        s.deleted_recent = 95;
        assert!(!score(&s, &history).suspect);
        // Without that history the same day is alarming.
        assert!(score(&s, &[]).suspect);
    }

    #[test]
    fn benign_look_alikes_score_nothing() {
        // Photos and archives uploaded: new high-entropy files, nothing rewritten.
        let mut s = base(300);
        s.created = 3000;
        s.new_sampled = 48;
        s.new_high_entropy = 48;
        assert_eq!(score(&s, &[]).score, 0);
        // A reorganisation.
        let mut s = base(50_000);
        s.moved = 50_000;
        assert_eq!(score(&s, &[]).score, 0);
        // A clean-up of old files: a third of the library, none touched this year.
        let mut s = base(900);
        s.deleted = 300;
        s.deleted_recent = 0;
        assert_eq!(score(&s, &[]).score, 0);
        // A bulk mail import.
        let mut s = base(500);
        s.workload = "exchange".into();
        s.created = 20_000;
        assert_eq!(score(&s, &[]).score, 0);
    }

    #[test]
    fn mailbox_purge_is_suspect() {
        let mut s = base(400);
        s.workload = "exchange".into();
        s.mail_to_deleted = 0;
        s.mail_purged = 390;
        s.mail_purged_recoverable = 390;
        let v = score(&s, &[]);
        assert!(v.suspect, "{v:?}");
        assert!(v.explanation().contains("purged from Recoverable Items"));
    }

    fn day(n: i64, items: u64, jumps: u64) -> ChangeStats {
        let mut s = base(items);
        s.snapshot = format!("s{n}");
        s.previous = Some(format!("s{}", n - 1));
        s.time = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000 + n);
        s.modified = 2 + jumps;
        s.entropy_sampled = 2 + jumps;
        s.entropy_jumps = jumps;
        s
    }

    #[test]
    fn slow_encryption_adds_up_by_the_third_backup() {
        // Ten quiet days, then one file of 50 encrypted a day.
        let mut history: Vec<ChangeStats> = (1..=10).map(|n| day(n, 50, 0)).collect();
        let mut verdicts = Vec::new();
        for n in 11..=13 {
            let s = day(n, 50, 1);
            verdicts.push(score(&s, &history));
            history.push(s);
        }
        assert!(
            !verdicts[0].suspect && !verdicts[1].suspect,
            "{verdicts:#?}"
        );
        let v = &verdicts[2];
        assert!(v.suspect, "{v:#?}");
        assert!(v.signals.contains(&"slowEncryption".to_string()));
        assert!(v.signals.contains(&"encryption".to_string()), "{v:#?}");
        assert!(
            v.explanation()
                .contains("3 files in all rewritten with high-entropy content in 3 backups"),
            "{}",
            v.explanation()
        );
        // Backups without any sign in between do not hide it.
        let mut history: Vec<ChangeStats> = (1..=10).map(|n| day(n, 50, 0)).collect();
        history.push(day(11, 50, 1));
        history.push(day(12, 50, 0));
        history.push(day(13, 50, 1));
        history.push(day(14, 50, 0));
        assert!(score(&day(15, 50, 1), &history).suspect);
        // Outside the window the earlier ones no longer count.
        let mut history: Vec<ChangeStats> = (1..=10).map(|n| day(n, 50, 0)).collect();
        history.push(day(11, 50, 1));
        history.push(day(12, 50, 1));
        assert!(!score(&day(30, 50, 1), &history).suspect);
    }

    #[test]
    fn an_owner_who_encrypts_routinely_is_not_slow_ransomware() {
        // Someone who saves a password-protected file most days.
        let history: Vec<ChangeStats> = (1..=30)
            .map(|n| day(n, 50, u64::from(n % 3 != 0)))
            .collect();
        let v = score(&day(31, 50, 1), &history);
        assert!(!v.suspect, "{v:#?}");
        assert!(!v.signals.contains(&"slowEncryption".to_string()), "{v:#?}");
    }

    #[test]
    fn normal_is_robust() {
        let h: Vec<ChangeStats> = [1, 2, 2, 3, 2, 100]
            .iter()
            .map(|&d| {
                let mut s = base(100);
                s.deleted = d;
                s
            })
            .collect();
        let n = normal(&h, |s| s.deleted as f64).unwrap();
        assert!((3.0..=100.0).contains(&n));
        assert!(normal(&h[..2], |s| s.deleted as f64).is_none());
    }
}
