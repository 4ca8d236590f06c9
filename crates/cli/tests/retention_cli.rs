//! `policy show`, `retention plan|apply` and `hold create|list|show|release` through the real
//! binary, at simulated times (`TENANTVAULT_NOW`): the minimum retention blocks, a hold keeps
//! old snapshots and a held file, its release lets retention proceed, GC then reclaims and
//! `check --read-data` is clean. Bad input is refused with exit 2 (6 for unknown ids) and
//! changes nothing.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::process::Output;

use chrono::{Duration, Utc};
use common::*;

const CONFIG: &str = r#"
[retention]
minimum = "1y"

[retention.policies.standard]
keep_last = 1
item_max_age = "5y"

[[retention.assign]]
policy = "standard"
owners = "all"
"#;

struct T {
    env: Env,
}

impl T {
    fn run_at(&self, now: chrono::DateTime<Utc>, config: &str, args: &[&str]) -> Output {
        let cfg = self.env.path("tenantvault.toml");
        fs::write(&cfg, config).unwrap();
        run(self
            .env
            .cmd()
            .env("TENANTVAULT_NOW", now.to_rfc3339())
            .env("TENANTVAULT_CONFIG", &cfg)
            .env("USER", "tester")
            .args(args))
    }

    fn ok_at(&self, now: chrono::DateTime<Utc>, args: &[&str]) -> String {
        let out = self.run_at(now, CONFIG, args);
        assert_code(&out, 0, args);
        String::from_utf8(out.stdout).unwrap()
    }

    fn json_at(&self, now: chrono::DateTime<Utc>, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok_at(now, &all)).unwrap()
    }

    /// Snapshot ids and, per snapshot, its file names.
    fn state(&self) -> Vec<BTreeSet<String>> {
        let snaps = self.env.json(&["snapshots"]);
        let mut out = Vec::new();
        for s in snaps.as_array().unwrap() {
            let items = self.env.json(&["ls", s["id"].as_str().unwrap()]);
            out.push(
                items
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|i| i["kind"] == "file")
                    .map(|i| i["path"].as_str().unwrap().to_string())
                    .collect(),
            );
        }
        out
    }

    fn objects(&self, prefix: &str) -> usize {
        let d = self.env.repo().join(prefix);
        fs::read_dir(d).map(|r| r.count()).unwrap_or(0)
    }
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn plan_apply_and_holds_end_to_end() {
    let t = T { env: Env::new() };
    t.env.init("64KiB");
    let src = t.env.path("src");
    fs::create_dir_all(&src).unwrap();
    // a.txt and c.txt are old (2015, 2016): item-level retention (5y) removes them.
    for (name, body) in [
        ("a.txt", "contract"),
        ("b.txt", "fresh"),
        ("c.txt", "old notes"),
    ] {
        fs::write(src.join(name), body).unwrap();
    }
    set_mtime(&src.join("a.txt"), 1_430_000_000);
    set_mtime(&src.join("c.txt"), 1_460_000_000);
    for i in 0..3 {
        fs::write(src.join("b.txt"), format!("fresh {i}")).unwrap();
        t.env
            .ok(&["backup", "dir", src.to_str().unwrap(), "--owner", "share"]);
    }
    let all = names(&["a.txt", "b.txt", "c.txt"]);
    assert_eq!(t.state(), vec![all.clone(), all.clone(), all.clone()]);

    // policy show
    let shown = t.ok_at(Utc::now(), &["policy", "show"]);
    assert!(
        shown.contains("policy standard: snapshots: last 1; items older than 5y removed"),
        "{shown}"
    );
    assert!(shown.contains("minimum retention: 1y"), "{shown}");

    // Tomorrow: everything is younger than the 1-year minimum; plan shows it blocked, apply
    // removes no snapshot (items are 10 years old: they go).
    let tomorrow = Utc::now() + Duration::days(1);
    let plan = t.ok_at(tomorrow, &["retention", "plan"]);
    assert!(plan.contains("KEEP (minimum retention 1y"), "{plan}");
    let p = t.json_at(tomorrow, &["retention", "plan"]);
    let snapshot_entries: Vec<_> = p["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"]["kind"] == "snapshot")
        .collect();
    assert_eq!(snapshot_entries.len(), 2);
    assert!(snapshot_entries.iter().all(|e| e["blocked"].is_string()));
    assert_eq!(t.state().len(), 3, "plan changes nothing");

    // A hold on a.txt (by file name).
    let h = t.json_at(
        tomorrow,
        &[
            "hold",
            "create",
            "--case",
            "LIT-9",
            "--reason",
            "contract dispute",
            "--owner",
            "share",
            "--file-name",
            "a.txt",
        ],
    );
    let hold_id = h["id"].as_str().unwrap().to_string();
    assert_eq!(h["created_by"], "tester");
    let list = t.ok_at(tomorrow, &["hold", "list"]);
    assert!(list.contains(&hold_id) && list.contains("ACTIVE"), "{list}");
    let shown = t.ok_at(tomorrow, &["hold", "show", &hold_id[..6]]);
    assert!(shown.contains("contract dispute"), "{shown}");

    // Bad input: refused, nothing changes.
    let holds_before = t.objects("holds");
    let snaps_before = t.state();
    let bad: Vec<(Vec<&str>, i32)> = vec![
        (vec!["hold", "create", "--case", " ", "--reason", "r"], 2),
        (
            vec![
                "hold",
                "create",
                "--case",
                "C",
                "--reason",
                "r",
                "--from",
                "2020-02-01",
                "--to",
                "2020-01-01",
            ],
            2,
        ),
        (
            vec![
                "hold",
                "create",
                "--case",
                "C",
                "--reason",
                "r",
                "--from",
                "last week",
            ],
            2,
        ),
        (
            vec![
                "hold",
                "create",
                "--case",
                "C",
                "--reason",
                "r",
                "--snapshot",
                "zz",
            ],
            2,
        ),
        (
            vec![
                "hold",
                "create",
                "--case",
                "C",
                "--reason",
                "r",
                "--snapshot",
                "abcdef12",
            ],
            6,
        ),
        (vec!["hold", "show", "zz"], 2),
        (vec!["hold", "show", "abcdef12"], 6),
        (vec!["hold", "release", "abcdef12", "--reason", "x"], 6),
        (vec!["hold", "release", &hold_id, "--reason", " "], 2),
    ];
    for (args, code) in &bad {
        let out = t.run_at(tomorrow, CONFIG, args);
        assert_code(&out, *code, args);
    }
    for (config, what) in [
        ("[retention.policies.standard]\ndayly = 3\n", "unknown key"),
        (
            "[retention.policies.standard]\ndaily = 0\n[[retention.assign]]\npolicy = \"standard\"\nowners = \"all\"\n",
            "zero count",
        ),
        (
            "[[retention.assign]]\npolicy = \"nope\"\nowners = \"all\"\n",
            "unknown policy",
        ),
        ("[retenion]\n", "unknown section"),
        (
            "[retention]\nminimum = \"10y\"\n[retention.policies.s]\nitem_max_age = \"5y\"\n[[retention.assign]]\npolicy = \"s\"\nowners = \"all\"\n",
            "below minimum",
        ),
    ] {
        let out = t.run_at(tomorrow, config, &["retention", "apply"]);
        assert_code(&out, 2, &[what]);
    }
    let out = t
        .env
        .cmd()
        .env("TENANTVAULT_NOW", "soon")
        .env("TENANTVAULT_CONFIG", t.env.path("tenantvault.toml"))
        .args(["retention", "plan"])
        .output()
        .unwrap();
    assert_code(&out, 2, &["TENANTVAULT_NOW=soon"]);
    assert_eq!(t.objects("holds"), holds_before);
    assert_eq!(t.state(), snaps_before);

    // Two years later: the snapshots are past the minimum. The hold keeps every snapshot
    // (each holds a.txt) and a.txt; c.txt (2016) leaves every snapshot.
    let later = Utc::now() + Duration::days(2 * 366);
    let r = t.json_at(later, &["retention", "apply"]);
    assert_eq!(r["snapshots_deleted"], 0, "{r}");
    assert_eq!(r["items_removed"], 3, "{r}");
    let kept = names(&["a.txt", "b.txt"]);
    assert_eq!(t.state(), vec![kept.clone(), kept.clone(), kept.clone()]);

    // Release: retention proceeds (older snapshots and a.txt go).
    let rel = t.json_at(later, &["hold", "release", &hold_id, "--reason", "settled"]);
    assert_eq!(rel["released"]["reason"], "settled");
    let out = t.run_at(
        later,
        CONFIG,
        &["hold", "release", &hold_id, "--reason", "again"],
    );
    assert_code(&out, 2, &["second release"]);
    let text = t.ok_at(later, &["retention", "apply"]);
    assert!(
        text.contains("removed 2 snapshot(s) and 1 item(s)"),
        "{text}"
    );
    assert_eq!(t.state(), vec![names(&["b.txt"])]);
    // Nothing left to do.
    let p = t.json_at(later, &["retention", "plan"]);
    assert!(p["entries"].as_array().unwrap().is_empty(), "{p}");

    // GC reclaims, the repository is intact, and the hold history stays.
    t.env.ok(&["gc", "--grace", "0s"]);
    t.env.ok(&["gc", "--grace", "0s"]);
    t.env.ok(&["check", "--read-data"]);
    let holds = t.json_at(later, &["hold", "list"]);
    assert_eq!(holds.as_array().unwrap().len(), 1);
    assert!(holds[0]["released"].is_object());
}

#[test]
fn retention_without_policies_is_a_usage_error() {
    let t = T { env: Env::new() };
    t.env.init("64KiB");
    let out = t.run_at(Utc::now(), "", &["retention", "apply"]);
    assert_code(&out, 2, &["no policies"]);
    assert!(stderr(&out).contains("no retention policies"));
    let out = t.run_at(Utc::now(), "", &["policy", "show"]);
    assert_code(&out, 0, &["policy show"]);
    // A Graph group assignment without Graph settings: a clear usage error, not "no match".
    let group = "[retention.policies.p]\nkeep_last = 1\n[[retention.assign]]\npolicy = \"p\"\ngroup = \"Legal\"\n";
    let out = t.run_at(Utc::now(), group, &["retention", "plan"]);
    assert_code(&out, 2, &["group without graph"]);
    assert!(stderr(&out).contains("needs Graph"), "{}", stderr(&out));
    let shown = t.run_at(Utc::now(), group, &["policy", "show"]);
    assert_code(&shown, 0, &["policy show group"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("members of group Legal"));
}
