//! Per-request context (request ids) carried in a task-local so error envelopes can quote them.

tokio::task_local! {
    static IDS: (String, String);
}

/// Run `fut` with the given `(request-id, client-request-id)`.
pub(crate) async fn with_ids<F: std::future::Future>(ids: (String, String), fut: F) -> F::Output {
    IDS.scope(ids, fut).await
}

/// The current request's `(request-id, client-request-id)`, or fresh GUIDs outside a request.
pub(crate) fn request_ids() -> (String, String) {
    IDS.try_with(|ids| ids.clone()).unwrap_or_else(|_| {
        let id = uuid::Uuid::new_v4().to_string();
        (id.clone(), id)
    })
}
