//! The HTTP server: accept loop on a TCP listener, hyper connections, URL normalisation, and
//! connection resets for injected faults.

use crate::middleware::ResetConnection;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Error type returned to hyper to drop a connection without a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Serve `router` on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let router = router.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    let pq = crate::normalize::normalize_uri(parts.uri.path(), parts.uri.query());
                    if let Ok(uri) = pq.parse() {
                        parts.uri = uri;
                    }
                    let req =
                        axum::extract::Request::from_parts(parts, axum::body::Body::new(body));
                    let resp = match router.oneshot(req).await {
                        Ok(r) => r,
                        Err(e) => match e {},
                    };
                    if resp.extensions().get::<ResetConnection>().is_some() {
                        return Err(Dropped);
                    }
                    Ok::<_, Dropped>(resp)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with error");
                    }
                }
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// Make `Infallible` usable where the compiler wants it.
#[allow(dead_code)]
fn _never(x: Infallible) -> ! {
    match x {}
}
