//! The storage conformance suite (the one LocalStorage passes) against moto_server, in a
//! plain bucket, a versioned bucket with Object Lock, and under a key prefix.

use std::sync::Arc;
use tenantvault_repo::storage::{LockMode, LockPolicy, Storage, conformance};
use tenantvault_s3::S3Storage;
use tenantvault_s3::moto::MotoServer;

async fn storage(bucket_lock: bool, prefix: &str) -> Option<S3Storage> {
    let moto = MotoServer::shared()?;
    let opts = tenantvault_s3::S3Options {
        multipart_threshold: 6 * 1024 * 1024,
        part_size: 5 * 1024 * 1024,
        ..moto.options("testing", "testing")
    };
    Some(
        moto.bucket_as(opts, "conf", bucket_lock, prefix)
            .await
            .open()
            .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_bucket_conforms() {
    let Some(st) = storage(false, "").await else {
        return;
    };
    assert!(!st.lock_capabilities().versioned);
    conformance::run(Arc::new(st), 13 * 1024 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_bucket_under_prefix_conforms() {
    let Some(mut st) = storage(true, "tenants/a").await else {
        return;
    };
    st.init_lock_policy(LockPolicy {
        mode: LockMode::Governance,
        days: 1,
    })
    .await
    .unwrap();
    let caps = st.lock_capabilities();
    assert!(caps.object_lock && caps.versioned && caps.policy.is_some());
    // The suite deletes objects under gc/ only: those are never locked.
    conformance::run(Arc::new(st), 13 * 1024 * 1024).await;
}
