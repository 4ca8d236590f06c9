//! The storage conformance suite: what every backend must do, run against each of them
//! (`LocalStorage` in this crate's tests, S3 in `tenantvault-s3`'s). Enabled by the
//! `conformance` feature; panics with a message naming the broken rule.
//!
//! ```no_run
//! # async fn f() {
//! use std::sync::Arc;
//! let dir = tempfile::tempdir().unwrap();
//! let st = Arc::new(tenantvault_repo::storage::LocalStorage::new(dir.path()).unwrap());
//! tenantvault_repo::storage::conformance::run(st, 1 << 20).await;
//! # }
//! ```

use super::{PutOutcome, Storage, StorageError};
use bytes::Bytes;
use std::sync::Arc;

fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Run every rule against `st`, which must be empty. `large` is the size of the big-object
/// case (pick one above the backend's multipart threshold).
pub async fn run(st: Arc<dyn Storage>, large: usize) {
    missing_objects(&*st).await;
    write_once(&*st).await;
    ranges(&*st).await;
    listing(&*st).await;
    deleting(&*st).await;
    invalid_keys(&*st).await;
    empty_and_large(&*st, large).await;
    racing_creates(st.clone()).await;
}

async fn missing_objects(st: &dyn Storage) {
    assert!(
        matches!(
            st.get("snapshots/none").await,
            Err(StorageError::NotFound { .. })
        ),
        "get of a missing object must be NotFound"
    );
    assert!(
        matches!(
            st.get_range("snapshots/none", 0, 1).await,
            Err(StorageError::NotFound { .. })
        ),
        "get_range of a missing object must be NotFound"
    );
    assert!(
        st.list("nothing/").await.expect("list").is_empty(),
        "list of an empty prefix must be empty"
    );
}

async fn write_once(st: &dyn Storage) {
    let a = pattern(1000, 1);
    assert_eq!(
        st.put_if_absent("config", a.clone()).await.expect("put"),
        PutOutcome::Created
    );
    assert_eq!(st.get("config").await.expect("get"), a);
    assert_eq!(
        st.put_if_absent("config", pattern(500, 2))
            .await
            .expect("put again"),
        PutOutcome::AlreadyExists,
        "a second put of an existing key must report AlreadyExists"
    );
    assert_eq!(
        st.get("config").await.expect("get after second put"),
        a,
        "put_if_absent must never overwrite"
    );
}

async fn ranges(st: &dyn Storage) {
    let data = pattern(4096, 3);
    st.put_if_absent("data/ab/range", data.clone())
        .await
        .expect("put");
    for (off, len) in [(0u64, 1u64), (0, 4096), (100, 200), (4095, 1), (4000, 96)] {
        let got = st
            .get_range("data/ab/range", off, len)
            .await
            .expect("range");
        assert_eq!(
            got,
            data.slice(off as usize..(off + len) as usize),
            "range {off}+{len}"
        );
    }
    assert!(
        st.get_range("data/ab/range", 4000, 200).await.is_err(),
        "a range past the end must be an error, not a short read"
    );
}

async fn listing(st: &dyn Storage) {
    for (k, n) in [
        ("index/02", 2usize),
        ("index/01", 1),
        ("index/03", 3),
        ("data/cd/x", 7),
        ("indexes/other", 4),
    ] {
        st.put_if_absent(k, pattern(n, 4)).await.expect("put");
    }
    let got = st.list("index/").await.expect("list index/");
    assert_eq!(
        got,
        vec![
            ("index/01".to_string(), 1),
            ("index/02".to_string(), 2),
            ("index/03".to_string(), 3)
        ],
        "list returns exactly the prefix's keys, sorted, with sizes"
    );
    let data = st.list("data/").await.expect("list data/");
    let keys: Vec<&str> = data.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["data/ab/range", "data/cd/x"]);
    let nested = st.list("data/cd/").await.expect("list data/cd/");
    assert_eq!(nested, vec![("data/cd/x".to_string(), 7)]);
    let many: Vec<String> = (0..30).map(|i| format!("keys/{i:03}")).collect();
    for k in &many {
        st.put_if_absent(k, pattern(3, 5)).await.expect("put");
    }
    let listed: Vec<String> = st
        .list("keys/")
        .await
        .expect("list keys/")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, many);
}

async fn deleting(st: &dyn Storage) {
    st.put_if_absent("gc/1-a", pattern(10, 6))
        .await
        .expect("put");
    st.delete("gc/1-a").await.expect("delete");
    assert!(
        matches!(st.get("gc/1-a").await, Err(StorageError::NotFound { .. })),
        "a deleted object is gone"
    );
    assert!(st.list("gc/").await.expect("list").is_empty());
    st.delete("gc/1-a")
        .await
        .expect("deleting a missing object is not an error");
    assert_eq!(
        st.put_if_absent("gc/1-a", pattern(11, 7))
            .await
            .expect("put after delete"),
        PutOutcome::Created,
        "a deleted key can be created again"
    );
    assert_eq!(st.get("gc/1-a").await.expect("get"), pattern(11, 7));
}

async fn invalid_keys(st: &dyn Storage) {
    for k in ["", "/abs", "a/../b", "data/.tmp-x", "a//b", "a\\b", "./a"] {
        assert!(
            matches!(
                st.put_if_absent(k, Bytes::from_static(b"x")).await,
                Err(StorageError::InvalidKey { .. })
            ),
            "key {k:?} must be refused"
        );
        assert!(
            matches!(st.get(k).await, Err(StorageError::InvalidKey { .. })),
            "get of key {k:?} must be refused"
        );
    }
}

async fn empty_and_large(st: &dyn Storage, large: usize) {
    assert_eq!(
        st.put_if_absent("snapshots/empty", Bytes::new())
            .await
            .expect("put empty"),
        PutOutcome::Created
    );
    assert!(
        st.get("snapshots/empty")
            .await
            .expect("get empty")
            .is_empty()
    );
    let big = pattern(large, 8);
    assert_eq!(
        st.put_if_absent("data/ef/big", big.clone())
            .await
            .expect("put large"),
        PutOutcome::Created
    );
    assert_eq!(
        st.put_if_absent("data/ef/big", pattern(large, 9))
            .await
            .expect("put large again"),
        PutOutcome::AlreadyExists
    );
    let got = st.get("data/ef/big").await.expect("get large");
    assert!(got == big, "large object round-trips byte-identically");
    let tail = st
        .get_range("data/ef/big", large as u64 - 10, 10)
        .await
        .expect("tail range");
    assert_eq!(tail, big.slice(large - 10..));
    let listed = st.list("data/ef/").await.expect("list");
    assert_eq!(listed, vec![("data/ef/big".to_string(), large as u64)]);
}

async fn racing_creates(st: Arc<dyn Storage>) {
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let st = st.clone();
            tokio::spawn(async move {
                let data = pattern(2000 + usize::from(i), 10 + i);
                (st.put_if_absent("owners/race", data.clone()).await, data)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (r, data) = t.await.expect("task");
        if r.expect("racing put") == PutOutcome::Created {
            winners.push(data);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of racing creators of one key wins"
    );
    assert_eq!(
        st.get("owners/race").await.expect("get"),
        winners[0],
        "the object holds the winner's bytes"
    );
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_storage_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let st = std::sync::Arc::new(super::super::LocalStorage::new(dir.path()).unwrap());
        super::run(st, 3 << 20).await;
    }
}
