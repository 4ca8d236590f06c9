//! Shared helpers for the end-to-end tests: run the real `tenantvault` binary against a
//! temporary repository, generate source trees, compare trees.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use rand::Rng;

pub mod tv;

pub const PASSWORD: &str = "correct horse battery staple";

/// A temporary directory holding a repository, its cache and scratch space.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn repo(&self) -> PathBuf {
        self.path("repo")
    }

    /// A command for the binary with repository, passphrase and cache dir set.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantvault"));
        cmd.env("TENANTVAULT_REPO", self.repo())
            .env("TENANTVAULT_PASSWORD", PASSWORD)
            .env("TENANTVAULT_CACHE_DIR", self.path("cache"))
            .env_remove("TENANTVAULT_NEW_PASSWORD")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(self.cmd().args(args))
    }

    /// Runs and asserts exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_code(&out, 0, args);
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs with `--json`, asserts exit code 0, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}\n{text}"))
    }

    /// `repo init` with a small pack size so that tests produce several packs, and a cheap
    /// Argon2id cost so that each command does not spend most of its time unlocking.
    pub fn init(&self, pack_size: &str) {
        self.ok(&[
            "repo",
            "init",
            "--pack-size",
            pack_size,
            "--kdf-memory",
            "64KiB",
            "--kdf-iterations",
            "1",
        ]);
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn tenantvault")
}

pub fn assert_code(out: &Output, code: i32, what: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "tenantvault {what:?}: expected exit {code}, got {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_file(path: &Path, data: &[u8], mtime_secs: i64) {
    fs::write(path, data).expect("write file");
    set_mtime(path, mtime_secs);
}

pub fn set_mtime(path: &Path, secs: i64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64);
    let f = fs::File::options()
        .write(true)
        .open(path)
        .expect("open for mtime");
    f.set_modified(t).expect("set mtime");
}

/// Random but compressible-ish bytes: text-like runs mixed with random runs.
pub fn content(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rng.fill_bytes(&mut out);
    let words: &[&[u8]] = &[
        b"mailbox ",
        b"tenant ",
        b"backup ",
        b"report ",
        b"invoice ",
        b"\n",
    ];
    let mut i = 0;
    while i < len {
        let run = rng.gen_range(64..4096).min(len - i);
        if rng.gen_bool(0.5) {
            let mut j = 0;
            while j < run {
                let w = words[rng.gen_range(0..words.len())];
                let n = w.len().min(run - j);
                out[i + j..i + j + n].copy_from_slice(&w[..n]);
                j += n;
            }
        }
        i += run;
    }
    out
}

/// A tree with nested dirs, empty files, one file of `big` bytes, unicode names, a symlink,
/// an empty dir and an executable file. Returns the list of regular files (relative paths).
pub fn make_tree(root: &Path, rng: &mut impl Rng, big: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "a",
        "a/b",
        "a/b/c",
        "Ünïcødé ✓",
        "docs/2024/Q1",
        "empty-dir",
    ] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    fn add(root: &Path, rng: &mut impl Rng, rel: &str, len: usize, files: &mut Vec<PathBuf>) {
        let data = content(rng, len);
        let mtime = 1_700_000_000i64 + rng.gen_range(0..10_000_000);
        write_file(&root.join(rel), &data, mtime);
        files.push(PathBuf::from(rel));
    }
    add(root, rng, "empty.txt", 0, &mut files);
    add(root, rng, "a/b/c/empty-too", 0, &mut files);
    add(root, rng, "a/big.bin", big, &mut files);
    for i in 0..20 {
        let len = rng.gen_range(1..40_000);
        let dir = ["a", "a/b", "a/b/c", "docs/2024/Q1", "Ünïcødé ✓"][i % 5];
        add(
            root,
            rng,
            &format!("{dir}/file-{i:02}.dat"),
            len,
            &mut files,
        );
    }
    add(
        root,
        rng,
        "Ünïcødé ✓/Grüße, 日本語 & spaces.txt",
        5000,
        &mut files,
    );
    add(root, rng, "run.sh", 100, &mut files);
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("a/b/file-01.dat", root.join("link-to-file")).expect("symlink");
    files
}

/// What a restored tree must preserve, per relative path.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File {
        data: Vec<u8>,
        mtime: i64,
        mode: u32,
    },
    Symlink(PathBuf),
}

pub fn snapshot_tree(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(root).expect("prefix").to_path_buf();
        let meta = fs::symlink_metadata(e.path()).expect("lstat");
        let entry = if meta.file_type().is_symlink() {
            Entry::Symlink(fs::read_link(e.path()).expect("readlink"))
        } else if meta.is_dir() {
            Entry::Dir
        } else {
            Entry::File {
                data: fs::read(e.path()).expect("read"),
                mtime: meta.mtime(),
                mode: meta.mode() & 0o777,
            }
        };
        out.insert(rel, entry);
    }
    out
}

/// Asserts that two trees hold the same entries, bytes, file mtimes, modes and link targets.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let a = snapshot_tree(expected);
    let b = snapshot_tree(actual);
    let ka: Vec<_> = a.keys().collect();
    let kb: Vec<_> = b.keys().collect();
    assert_eq!(ka, kb, "restored tree has different entries");
    for (path, entry) in &a {
        let other = &b[path];
        if entry != other {
            match (entry, other) {
                (
                    Entry::File {
                        data: d1,
                        mtime: m1,
                        mode: p1,
                    },
                    Entry::File {
                        data: d2,
                        mtime: m2,
                        mode: p2,
                    },
                ) => {
                    assert!(
                        d1 == d2,
                        "{}: content differs ({} vs {} bytes)",
                        path.display(),
                        d1.len(),
                        d2.len()
                    );
                    assert_eq!(m1, m2, "{}: mtime differs", path.display());
                    assert_eq!(p1, p2, "{}: mode differs", path.display());
                }
                _ => panic!("{}: {entry:?} restored as {other:?}", path.display()),
            }
        }
    }
}

/// Every file under `dir` with its size and a cheap content fingerprint, to show that a
/// command changed nothing.
pub fn listing(dir: &Path) -> BTreeMap<PathBuf, (u64, u64)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.expect("walk");
        if e.file_type().is_file() {
            let data = fs::read(e.path()).expect("read");
            let mut h: u64 = 0xcbf29ce484222325;
            for b in &data {
                h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
            }
            out.insert(
                e.path().strip_prefix(dir).expect("prefix").to_path_buf(),
                (data.len() as u64, h),
            );
        }
    }
    out
}

/// [`listing`] without the audit log (`audit/`): refused commands that opened the repository
/// are recorded there (issue 6), and must change nothing else.
pub fn listing_without_audit(dir: &Path) -> BTreeMap<PathBuf, (u64, u64)> {
    let mut l = listing(dir);
    l.retain(|p, _| !p.starts_with("audit"));
    l
}

/// Files under `repo/data` (packs).
pub fn pack_files(repo: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(repo.join("data"))
        .into_iter()
        .filter_map(|e| e.ok())
        // a `.tmp-*` file is an upload in progress (or one a kill -9 cut short), not a pack
        .filter(|e| {
            e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with(".tmp-")
        })
        .map(|e| e.path().to_path_buf())
        .collect();
    out.sort();
    out
}

/// Flip one bit of a file in place.
pub fn flip_bit(path: &Path, offset: u64) {
    let mut data = fs::read(path).expect("read for flip");
    let i = (offset as usize).min(data.len() - 1);
    data[i] ^= 0x10;
    // objects may be read-only on disk
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(path, data).expect("write flipped");
}
