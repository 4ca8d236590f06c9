//! A `moto_server` (PyPI `moto[server]`) started for tests: one per test binary, on a free
//! port, stopped when the test process exits.
//!
//! The binary is `$TENANTVAULT_MOTO_SERVER` (set by `scripts/test.sh`), else
//! `target/s3-venv/bin/moto_server`, else `moto_server` on `PATH`. When none exists the tests
//! fail, unless `TENANTVAULT_S3_TESTS=skip` (local runs without Python), where
//! [`MotoServer::shared`] returns `None` and the test returns early.
//!
//! [`MotoServer::bucket`] gives a test its own bucket ([`TestBucket`]): the location, the
//! client options and the opened storage, with or without a lock policy.

use crate::S3Storage;
use crate::location::{S3Location, S3Options, StaticCredentials};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tenantvault_repo::storage::LockPolicy;

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The watchdog shell (it owns the server process).
    watchdog: std::sync::Mutex<std::process::Child>,
}

fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TENANTVAULT_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/s3-venv/bin/moto_server");
    if root.exists() {
        return Some(root);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

impl MotoServer {
    /// The server of this test binary, started on first use. `None` only when the binary is
    /// missing and `TENANTVAULT_S3_TESTS=skip`; panics otherwise (CI must not skip).
    pub fn shared() -> Option<&'static MotoServer> {
        static SERVER: OnceLock<Option<MotoServer>> = OnceLock::new();
        SERVER.get_or_init(|| Self::start_with_env(&[])).as_ref()
    }

    /// Start a new server with extra environment variables (e.g. IAM enforcement:
    /// `INITIAL_NO_AUTH_ACTION_COUNT`). Same `None`/panic rule as [`MotoServer::shared`].
    pub fn start_with_env(env: &[(&str, &str)]) -> Option<MotoServer> {
        let Some(bin) = find_binary() else {
            if std::env::var("TENANTVAULT_S3_TESTS").as_deref() == Ok("skip") {
                eprintln!("moto_server not found and TENANTVAULT_S3_TESTS=skip: skipping S3 test");
                return None;
            }
            panic!(
                "moto_server not found: install moto[server] (scripts/test.sh does) or set \
                 TENANTVAULT_MOTO_SERVER; TENANTVAULT_S3_TESTS=skip skips S3 tests locally"
            );
        };
        let port = free_port();
        // A watchdog shell stops the server when this test process is gone, so no server
        // outlives `cargo test` (statics are never dropped).
        let script = r#"trap 'kill $m 2>/dev/null; exit 0' TERM INT
"$1" -H 127.0.0.1 -p "$2" >"$4" 2>&1 &
m=$!
while kill -0 "$3" 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done
kill $m 2>/dev/null
wait $m 2>/dev/null"#;
        let log = std::env::temp_dir().join(format!("tenantvault-moto-{port}.log"));
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(script)
            .arg("moto-watchdog")
            .arg(&bin)
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start moto_server watchdog");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 60 s (log: {})",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            watchdog: std::sync::Mutex::new(child),
        })
    }

    /// Client options for this server with the given access key (moto accepts any key
    /// unless IAM enforcement is on).
    pub fn options(&self, access_key: &str, secret: &str) -> S3Options {
        S3Options {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            path_style: true,
            credentials: Some(StaticCredentials {
                access_key_id: access_key.into(),
                secret_access_key: secret.into(),
            }),
            max_attempts: 3,
            ..S3Options::default()
        }
    }

    /// Stop the server: SIGTERM to the watchdog, which kills the server, then reap it.
    pub fn stop(&self) {
        let mut child = self.watchdog.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let _ = child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh bucket on a moto server for one test, and the repository location in it.
#[derive(Debug, Clone)]
pub struct TestBucket {
    /// The client options the bucket was created with.
    pub opts: S3Options,
    pub bucket: String,
    /// `s3://<bucket>/<prefix>`: where the test's repository lives.
    pub url: String,
}

impl MotoServer {
    /// A new bucket named `unique_bucket(name)`, with Object Lock if `object_lock`, created
    /// with the test credentials (`testing`/`testing`); the repository goes under `prefix`.
    pub async fn bucket(&self, name: &str, object_lock: bool, prefix: &str) -> TestBucket {
        self.bucket_as(
            self.options("testing", "testing"),
            name,
            object_lock,
            prefix,
        )
        .await
    }

    /// [`MotoServer::bucket`] created with the given client options (another credential,
    /// multipart sizes, …).
    pub async fn bucket_as(
        &self,
        opts: S3Options,
        name: &str,
        object_lock: bool,
        prefix: &str,
    ) -> TestBucket {
        let bucket = unique_bucket(name);
        S3Storage::create_bucket(&opts, &bucket, object_lock)
            .await
            .unwrap_or_else(|e| panic!("create test bucket {bucket}: {e}"));
        TestBucket {
            url: format!("s3://{bucket}/{prefix}"),
            bucket,
            opts,
        }
    }
}

impl TestBucket {
    /// The repository location.
    pub fn location(&self) -> S3Location {
        S3Location::parse(&self.url).expect("a valid test location")
    }

    /// The storage at [`TestBucket::location`], with the bucket's client options.
    pub async fn open(&self) -> S3Storage {
        self.open_as(self.opts.clone()).await
    }

    /// The storage at [`TestBucket::location`], with other client options (another user).
    pub async fn open_as(&self, opts: S3Options) -> S3Storage {
        S3Storage::open(self.location(), opts)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }

    /// [`TestBucket::open`], then record the lock `policy` (the bucket needs Object Lock).
    pub async fn open_locked(&self, policy: LockPolicy) -> S3Storage {
        let mut st = self.open().await;
        st.init_lock_policy(policy)
            .await
            .unwrap_or_else(|e| panic!("lock policy on {}: {e}", self.url));
        st
    }
}

/// A bucket name unique within this test process (`prefix-<pid>-<n>`).
pub fn unique_bucket(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
