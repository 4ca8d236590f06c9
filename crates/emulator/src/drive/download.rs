//! Content download: `/content` answers 302 to a pre-authenticated URL on the emulator's
//! own origin (`/_content/drive/{token}`), which needs no Authorization, expires, honours
//! `Range` (206) and `If-None-Match` (304), and streams the bytes as they are generated.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::{not_found, render_ctx, resolve_item};
use super::content::Content;
use super::json::{DOWNLOAD_KIND, DownloadState, download_url};
use super::model::Kind;
use super::route::ItemAddr;
use super::state::{DriveState, drive_state};
use crate::error::GraphError;
use crate::state::AppState;

fn if_none_match_hits(headers: &HeaderMap, etag: &str, ctag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        // ODB tags contain commas inside their quotes, so match whole tags as substrings.
        .is_some_and(|v| v.trim() == "*" || v.contains(etag) || v.contains(ctag))
}

/// `GET …/content` (and `…/versions/{v}/content`): 302 to the download URL, or 304.
pub(crate) fn content_redirect(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    version: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let store = ds.store.read();
    let d = store.drive(drive_id).ok_or_else(not_found)?;
    let idx = resolve_item(d, addr)?;
    let it = d.item(idx);
    let Kind::File {
        version: current,
        history,
        ..
    } = &it.kind
    else {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "Content is only available for files.",
        ));
    };
    let label = match version {
        None => *current,
        Some(v) => {
            let n: u32 = v.trim_end_matches(".0").parse().map_err(|_| not_found())?;
            if n != *current && !history.iter().any(|h| h.label == n) {
                return Err(not_found());
            }
            n
        }
    };
    if version.is_none() && if_none_match_hits(headers, &it.etag(), &it.ctag()) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let tenant = st.tenant_id();
    let r = render_ctx(st, ds, &tenant);
    let url = download_url(&r, d, it, label);
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// A parsed single `Range: bytes=…` request.
#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    /// No (usable) Range header: send everything.
    Full,
    /// Inclusive byte range.
    Part(u64, u64),
    /// Not satisfiable.
    Unsatisfiable,
}

fn parse_range(headers: &HeaderMap, len: u64) -> RangeReq {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeReq::Full;
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        // Multiple ranges: servers may ignore Range and send the whole entity.
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeReq::Full;
        };
        if n == 0 {
            return RangeReq::Unsatisfiable;
        }
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let Ok(s) = a.parse::<u64>() else {
            return RangeReq::Full;
        };
        let e = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= s => e.min(len.saturating_sub(1)),
                _ => return RangeReq::Full,
            }
        };
        (s, e)
    };
    if len == 0 || start >= len {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Part(start, end)
}

/// `GET /_content/drive/{token}`: the pre-authenticated download URL.
pub(crate) async fn download(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match serve(&st, &token, &headers) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn serve(st: &AppState, token: &str, headers: &HeaderMap) -> Result<Response, GraphError> {
    let state: DownloadState = st.tokens.decode(DOWNLOAD_KIND, token).ok_or_else(|| {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Invalid download token.",
        )
    })?;
    if st.clock.now().timestamp() > state.x {
        return Err(GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The download URL has expired.",
        ));
    }
    let ds = drive_state(st);
    let (content, mime, name, etag, ctag): (Content, &'static str, String, String, String) = {
        let store = ds.store.read();
        let d = store.drive(&state.d).ok_or_else(not_found)?;
        let idx = d.find(&state.i).ok_or_else(not_found)?;
        let it = d.item(idx);
        let Kind::File {
            content,
            mime,
            version,
            history,
        } = &it.kind
        else {
            return Err(not_found());
        };
        let c = if state.v == *version {
            content.clone()
        } else {
            history
                .iter()
                .find(|h| h.label == state.v)
                .map(|h| h.content.clone())
                .ok_or_else(not_found)?
        };
        (c, *mime, it.name.clone(), it.etag(), it.ctag())
    };
    if if_none_match_hits(headers, &etag, &ctag) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let len = content.len();
    let (status, start, end) = match parse_range(headers, len) {
        RangeReq::Full => (StatusCode::OK, 0, len),
        RangeReq::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        RangeReq::Unsatisfiable => {
            let mut r = GraphError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "invalidRange",
                "The requested range is not satisfiable.",
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let body = Body::from_stream(content.stream(start, end));
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set(h, header::CONTENT_TYPE, mime.to_string());
    set(h, header::CONTENT_LENGTH, (end - start).to_string());
    set(h, header::ETAG, etag);
    set(h, header::ACCEPT_RANGES, "bytes".into());
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| *c != '"')
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
    set(
        h,
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            h,
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end - 1),
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::RANGE, v.parse().unwrap());
        m
    }

    #[test]
    fn range_forms() {
        assert_eq!(parse_range(&HeaderMap::new(), 10), RangeReq::Full);
        assert_eq!(parse_range(&h("bytes=0-3"), 10), RangeReq::Part(0, 3));
        assert_eq!(parse_range(&h("bytes=5-"), 10), RangeReq::Part(5, 9));
        assert_eq!(parse_range(&h("bytes=-4"), 10), RangeReq::Part(6, 9));
        assert_eq!(parse_range(&h("bytes=8-100"), 10), RangeReq::Part(8, 9));
        assert_eq!(parse_range(&h("bytes=10-12"), 10), RangeReq::Unsatisfiable);
        assert_eq!(parse_range(&h("bytes=0-1,4-5"), 10), RangeReq::Full);
        assert_eq!(parse_range(&h("items=0-1"), 10), RangeReq::Full);
    }
}
