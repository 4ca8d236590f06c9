//! OData plumbing shared by all Graph endpoints: query options, `Prefer` headers, opaque
//! signed tokens and paged collection responses with absolute `@odata.nextLink`s.

use crate::error::GraphError;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// Parsed query string. Keys are accepted with a literal `$` or percent-encoded `%24`.
#[derive(Debug, Clone, Default)]
pub struct ODataQuery {
    /// `$select` split on commas (trimmed), if present.
    pub select: Option<Vec<String>>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$filter` raw expression.
    pub filter: Option<String>,
    /// `$expand` raw value.
    pub expand: Option<String>,
    /// `$orderby` raw value.
    pub orderby: Option<String>,
    /// `$skiptoken`.
    pub skiptoken: Option<String>,
    /// `$deltatoken`.
    pub deltatoken: Option<String>,
    /// `$skip`.
    pub skip: Option<String>,
    /// `$count`.
    pub count: Option<String>,
    /// `$search`.
    pub search: Option<String>,
    /// All pairs in order (decoded), including the ones above.
    pub pairs: Vec<(String, String)>,
}

impl ODataQuery {
    /// Parse a raw query string (without `?`). Unknown `$` options and bad `$top` give Graph's 400.
    pub fn parse(raw: Option<&str>) -> Result<Self, GraphError> {
        let mut q = ODataQuery::default();
        let Some(raw) = raw else { return Ok(q) };
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            match k.as_str() {
                "$select" => {
                    q.select = Some(
                        v.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    )
                }
                "$top" => {
                    let n: i64 = v.trim().parse().map_err(|_| {
                        GraphError::bad_request(
                            "BadRequest",
                            format!("Invalid value '{v}' for $top query option found. The $top query option requires a non-negative integer value."),
                        )
                    })?;
                    if n < 0 {
                        return Err(GraphError::bad_request(
                            "BadRequest",
                            format!(
                                "Invalid value '{v}' for $top query option found. The $top query option requires a non-negative integer value."
                            ),
                        ));
                    }
                    q.top = Some(n as usize);
                }
                "$filter" => q.filter = Some(v.clone()),
                "$expand" => q.expand = Some(v.clone()),
                "$orderby" => q.orderby = Some(v.clone()),
                "$skiptoken" => q.skiptoken = Some(v.clone()),
                "$deltatoken" => q.deltatoken = Some(v.clone()),
                "$skip" => q.skip = Some(v.clone()),
                "$count" => q.count = Some(v.clone()),
                "$search" => q.search = Some(v.clone()),
                "$format" | "$levels" | "$apply" | "$compute" | "$index" | "$schemaversion" => {}
                other if other.starts_with('$') => {
                    return Err(GraphError::bad_request(
                        "BadRequest",
                        format!(
                            "Query option '{other}' is not allowed. Make sure the case is correct."
                        ),
                    ));
                }
                _ => {}
            }
            q.pairs.push((k, v));
        }
        Ok(q)
    }

    /// Value of a plain (non-`$`) parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query re-encoded without paging tokens, for freezing into links.
    pub fn frozen(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            if k != "$skiptoken" && k != "$deltatoken" {
                ser.append_pair(k, v);
            }
        }
        ser.finish()
    }

    /// Fail with Graph's 400 if one of `forbidden` options is present.
    pub fn reject(&self, forbidden: &[&str]) -> Result<(), GraphError> {
        for (k, _) in &self.pairs {
            if forbidden.contains(&k.as_str()) {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    format!("The query parameter '{k}' is not supported with this request."),
                ));
            }
        }
        Ok(())
    }
}

/// The `Prefer` preferences Graph honours.
#[derive(Debug, Clone, Default)]
pub struct Prefer {
    /// `odata.maxpagesize=N`.
    pub max_page_size: Option<usize>,
    /// `IdType="ImmutableId"`.
    pub immutable_id: bool,
    /// `outlook.body-content-type="text"`.
    pub body_text: bool,
    /// `outlook.timezone="..."`.
    pub timezone: Option<String>,
}

impl Prefer {
    /// Parse all `Prefer` headers (comma-separated lists allowed).
    pub fn from_headers(h: &HeaderMap) -> Self {
        let mut p = Prefer::default();
        for v in h.get_all("prefer") {
            let Ok(v) = v.to_str() else { continue };
            for part in v.split(',') {
                let part = part.trim();
                let (k, val) = match part.split_once('=') {
                    Some((k, v)) => (k.trim(), v.trim().trim_matches('"')),
                    None => (part, ""),
                };
                match k.to_ascii_lowercase().as_str() {
                    "odata.maxpagesize" => p.max_page_size = val.parse().ok().filter(|n| *n > 0),
                    "idtype" => p.immutable_id = val.eq_ignore_ascii_case("ImmutableId"),
                    "outlook.body-content-type" => p.body_text = val.eq_ignore_ascii_case("text"),
                    "outlook.timezone" => p.timezone = Some(val.to_string()),
                    _ => {}
                }
            }
        }
        p
    }

    /// The `Preference-Applied` header value for what was honoured, if anything.
    pub fn applied(&self, page_size_applied: bool) -> Option<String> {
        let mut parts = Vec::new();
        if page_size_applied && let Some(n) = self.max_page_size {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        if self.immutable_id {
            parts.push("IdType=\"ImmutableId\"".to_string());
        }
        if self.body_text {
            parts.push("outlook.body-content-type=\"text\"".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Mints and checks opaque tokens (skip/delta tokens, upload session ids): base64url of a JSON
/// payload plus an HMAC tag, so a client cannot forge or edit them.
#[derive(Clone)]
pub struct TokenCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec")
    }
}

impl TokenCodec {
    /// A codec keyed by `key`.
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// Encode `payload` under a `kind` label (tokens of one kind don't decode as another).
    pub fn encode<T: Serialize>(&self, kind: &str, payload: &T) -> String {
        let body = serde_json::to_vec(payload).expect("token payload serializes");
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("hmac key");
        mac.update(kind.as_bytes());
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        let mut out = URL_SAFE_NO_PAD.encode(&body);
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(&tag[..12]));
        out
    }

    /// Decode a token minted by [`Self::encode`] with the same kind; `None` if forged or malformed.
    pub fn decode<T: DeserializeOwned>(&self, kind: &str, token: &str) -> Option<T> {
        let (body, tag) = token.split_once('.')?;
        let body = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = HmacSha256::new_from_slice(&self.key).ok()?;
        mac.update(kind.as_bytes());
        mac.update(&body);
        let full = mac.finalize().into_bytes();
        if tag.len() != 12 || !subtle_eq(&full[..12], &tag) {
            return None;
        }
        serde_json::from_slice(&body).ok()
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Build a collection body: `@odata.context`, `value`, and optional next/delta link.
pub fn collection(
    context: &str,
    value: Vec<Value>,
    next: Option<String>,
    delta: Option<String>,
) -> Value {
    let mut m = Map::new();
    m.insert("@odata.context".into(), json!(context));
    if let Some(n) = next {
        m.insert("@odata.nextLink".into(), json!(n));
    }
    if let Some(d) = delta {
        m.insert("@odata.deltaLink".into(), json!(d));
    }
    m.insert("value".into(), Value::Array(value));
    Value::Object(m)
}

/// Apply `$select` to an entity object: keep the listed properties plus `id`, `@odata.type` and
/// `@odata.etag`. Unknown property names (not in `known`) give Graph's 400.
pub fn apply_select(
    obj: Value,
    select: Option<&[String]>,
    known: &[&str],
    type_name: &str,
) -> Result<Value, GraphError> {
    let Some(select) = select else { return Ok(obj) };
    check_select(select, known, type_name)?;
    let Value::Object(m) = obj else {
        return Ok(obj);
    };
    let mut out = Map::new();
    for (k, v) in m {
        if k == "id"
            || k.starts_with("@odata.")
            || k == "@removed"
            || select.iter().any(|s| s.eq_ignore_ascii_case(&k))
        {
            out.insert(k, v);
        }
    }
    Ok(Value::Object(out))
}

/// Validate `$select` names against the type's property list (case-insensitive, as Graph).
pub fn check_select(select: &[String], known: &[&str], type_name: &str) -> Result<(), GraphError> {
    for s in select {
        if s == "*" {
            continue;
        }
        if !known.iter().any(|k| k.eq_ignore_ascii_case(s)) {
            return Err(GraphError::bad_request(
                "BadRequest",
                format!(
                    "Could not find a property named '{s}' on type 'microsoft.graph.{type_name}'."
                ),
            ));
        }
    }
    Ok(())
}

/// Offset-based paging state for plain (non-delta) collections.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SkipState {
    /// Items already returned.
    pub offset: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgery() {
        let c = TokenCodec::new(b"k");
        let t = c.encode("skip", &SkipState { offset: 7 });
        let s: SkipState = c.decode("skip", &t).expect("decodes");
        assert_eq!(s.offset, 7);
        assert!(c.decode::<SkipState>("delta", &t).is_none());
        let mut forged = t.clone();
        forged.insert(1, 'A');
        assert!(c.decode::<SkipState>("skip", &forged).is_none());
    }

    #[test]
    fn query_accepts_percent_encoded_dollar_and_rejects_unknown_options() {
        let q = ODataQuery::parse(Some("%24select=id,displayName&$top=2")).expect("parses");
        assert_eq!(
            q.select.as_deref(),
            Some(&["id".to_string(), "displayName".to_string()][..])
        );
        assert_eq!(q.top, Some(2));
        assert!(ODataQuery::parse(Some("$bogus=1")).is_err());
        assert!(ODataQuery::parse(Some("$top=-1")).is_err());
    }

    #[test]
    fn prefer_parses_page_size_and_id_type() {
        let mut h = HeaderMap::new();
        h.insert(
            "prefer",
            "odata.maxpagesize=3, IdType=\"ImmutableId\""
                .parse()
                .expect("hv"),
        );
        let p = Prefer::from_headers(&h);
        assert_eq!(p.max_page_size, Some(3));
        assert!(p.immutable_id);
    }
}
