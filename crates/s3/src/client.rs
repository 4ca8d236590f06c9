//! Building the SDK client: rustls (ring) HTTPS, standard retries, endpoint/region/path style.

use crate::location::S3Options;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::Duration;

/// An S3 client for `opts`. Credentials come from `opts.credentials` or the standard chain.
pub async fn build_client(opts: &S3Options) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let retry = RetryConfig::standard()
        .with_max_attempts(opts.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(100));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(retry);
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(c) = &opts.credentials {
        loader = loader.credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.clone(),
            None,
            None,
            "tenantvault-static",
        ));
    }
    let shared = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&shared).force_path_style(opts.path_style);
    if shared.region().is_none() {
        b = b.region(Region::new("us-east-1"));
    }
    if let Some(e) = &opts.endpoint {
        b = b.endpoint_url(e.clone());
    }
    aws_sdk_s3::Client::from_conf(b.build())
}
