//! The Graph requests the Exchange backup makes, in one place: delta/list pages (kept as raw
//! JSON so items are stored exactly as served), message MIME, event attachments, the directory.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tenantvault_graph::{GraphClient, GraphError, Method};

use super::body::{Body, BodyError};

use super::select::{DirectoryUser, USER_SELECT};

/// `Prefer` value asking for immutable ids.
pub const PREFER_IMMUTABLE_ID: &str = "IdType=\"ImmutableId\"";

/// One page of a list or delta round.
#[derive(Debug)]
pub struct Page {
    /// The items, each exactly as Graph serialized it.
    pub items: Vec<Box<RawValue>>,
    /// More pages in this round.
    pub next_link: Option<String>,
    /// The round is complete; save this for the next round.
    pub delta_link: Option<String>,
}

#[derive(Deserialize)]
struct PageBody {
    #[serde(default)]
    value: Vec<Box<RawValue>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

/// GET one page with `Prefer: odata.maxpagesize` and immutable ids.
pub async fn get_page(client: &GraphClient, url: &str, page_size: u32) -> Result<Page, GraphError> {
    let resp = client
        .request(Method::GET, url)
        .prefer(&format!("odata.maxpagesize={page_size}"))
        .prefer(PREFER_IMMUTABLE_ID)
        .send()
        .await?;
    let body: PageBody = resp.json()?;
    Ok(Page {
        items: body.value,
        next_link: body.next_link,
        delta_link: body.delta_link,
    })
}

/// GET a message's MIME (`$value`) as exact bytes, spooled to disk above `spool_threshold`.
pub async fn get_mime(
    client: &GraphClient,
    user_id: &str,
    message_id: &str,
    spool_threshold: usize,
) -> Result<Body, GraphError> {
    let url = format!("users/{}/messages/{}/$value", enc(user_id), enc(message_id));
    let stream = client.get_bytes_stream(&url).await?;
    Body::collect(stream, spool_threshold)
        .await
        .map_err(|e| match e {
            BodyError::Source(e) => e,
            BodyError::Spool(io) => GraphError::Io(io),
        })
}

/// GET an event's attachments (with `contentBytes`) as a JSON array whose elements are exactly
/// the attachment objects Graph served (paged collections are followed; the collection envelope,
/// which names the server, is not kept).
pub async fn get_event_attachments(
    client: &GraphClient,
    user_id: &str,
    event_id: &str,
) -> Result<Bytes, GraphError> {
    let mut out = Vec::from(&b"["[..]);
    let mut url = Some(format!(
        "users/{}/events/{}/attachments",
        enc(user_id),
        enc(event_id)
    ));
    let mut first = true;
    while let Some(u) = url.take() {
        let page = get_page(client, &u, 100).await?;
        for raw in page.items {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(raw.get().as_bytes());
        }
        url = page.next_link;
    }
    out.push(b']');
    Ok(Bytes::from(out))
}

/// GET a single JSON object as raw bytes (e.g. a well-known folder), without the leading
/// `@odata.context` member (it names the server, so it is not part of the object).
pub async fn get_object(client: &GraphClient, url: &str) -> Result<Bytes, GraphError> {
    let resp = client
        .request(Method::GET, url)
        .prefer(PREFER_IMMUTABLE_ID)
        .send()
        .await?;
    Ok(Bytes::from(strip_context(&resp.body)))
}

/// Remove a leading `"@odata.context":"…"` member from a JSON object, keeping every other byte.
pub fn strip_context(body: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = b"{\"@odata.context\":";
    let Some(rest) = body.strip_prefix(PREFIX) else {
        return body.to_vec();
    };
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<String>();
    if !matches!(values.next(), Some(Ok(_))) {
        return body.to_vec();
    }
    let after = rest[values.byte_offset()..].trim_ascii_start();
    match after.first() {
        Some(b',') => [&b"{"[..], after[1..].trim_ascii_start()].concat(),
        Some(b'}') => [&b"{"[..], after].concat(),
        _ => body.to_vec(),
    }
}

/// Percent-encode an id for a URL path segment (Graph ids may hold `/`, `+`, `=`).
pub fn enc(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'=' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// All users of the tenant with the fields selection needs.
pub async fn list_users(client: &GraphClient) -> Result<Vec<DirectoryUser>, GraphError> {
    let mut out = Vec::new();
    let mut url = Some(format!("users?$select={USER_SELECT}&$top=999"));
    while let Some(u) = url.take() {
        let page = get_page(client, &u, 999).await?;
        for raw in page.items {
            let user: DirectoryUser =
                serde_json::from_str(raw.get()).map_err(|e| GraphError::Corrupt {
                    url: u.clone(),
                    detail: format!("unexpected user JSON: {e}"),
                })?;
            out.push(user);
        }
        url = page.next_link;
    }
    Ok(out)
}

#[derive(Deserialize)]
struct GroupRef {
    id: String,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
}

/// Member user ids of the group named (display name, case-insensitive) or identified by `name`.
/// None when no such group exists.
pub async fn group_member_ids(
    client: &GraphClient,
    name: &str,
) -> Result<Option<Vec<String>>, GraphError> {
    let mut group_id = None;
    let mut url = Some("groups?$select=id,displayName&$top=999".to_string());
    while let Some(u) = url.take() {
        let page = get_page(client, &u, 999).await?;
        for raw in page.items {
            if let Ok(g) = serde_json::from_str::<GroupRef>(raw.get())
                && (g.id.eq_ignore_ascii_case(name)
                    || g.display_name
                        .as_deref()
                        .is_some_and(|d| d.eq_ignore_ascii_case(name)))
            {
                group_id = Some(g.id);
            }
        }
        if group_id.is_some() {
            break;
        }
        url = page.next_link;
    }
    let Some(gid) = group_id else { return Ok(None) };
    let mut members = Vec::new();
    let mut url = Some(format!("groups/{}/members?$select=id&$top=999", enc(&gid)));
    while let Some(u) = url.take() {
        let page = get_page(client, &u, 999).await?;
        for raw in page.items {
            if let Ok(g) = serde_json::from_str::<GroupRef>(raw.get()) {
                members.push(g.id);
            }
        }
        url = page.next_link;
    }
    Ok(Some(members))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ids() {
        assert_eq!(enc("AAMk-_.=="), "AAMk-_.==");
        assert_eq!(enc("a/b+c"), "a%2Fb%2Bc");
    }

    #[test]
    fn context_is_stripped() {
        assert_eq!(
            strip_context(br#"{"@odata.context":"http://h:1/v1.0/$metadata#x","id":"a","z":1}"#),
            br#"{"id":"a","z":1}"#
        );
        assert_eq!(strip_context(br#"{"@odata.context":"c"}"#), b"{}");
        assert_eq!(strip_context(br#"{"id":"a"}"#), br#"{"id":"a"}"#);
    }

    #[test]
    fn page_body_keeps_raw_items() {
        let b: PageBody = serde_json::from_str(
            r#"{"value":[{"id":"1","z":1,"a":2}],"@odata.deltaLink":"http://d"}"#,
        )
        .unwrap();
        assert_eq!(b.value[0].get(), r#"{"id":"1","z":1,"a":2}"#);
        assert_eq!(b.delta_link.as_deref(), Some("http://d"));
    }
}
