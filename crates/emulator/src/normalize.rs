//! URL normalisation before routing: Graph paths are case-insensitive in their static segments,
//! accept the OData key form `mailFolders('id')` and function calls such as `delta()`.

/// Static segment names in their canonical spelling (as the routes are written).
/// Teams/drive modules may append theirs.
const CANONICAL: &[&str] = &[
    "users",
    "groups",
    "members",
    "transitiveMembers",
    "mailFolders",
    "childFolders",
    "messages",
    "attachments",
    "delta",
    "calendarView",
    "calendar",
    "calendars",
    "events",
    "contacts",
    "contactFolders",
    "createUploadSession",
    "$value",
    "$batch",
    "$count",
    "directory",
    "deletedItems",
    "microsoft.graph.user",
    "microsoft.graph.group",
    "move",
    "copy",
    "instances",
    "drives",
    "drive",
    "root",
    "items",
    "children",
    "content",
    "sites",
    "teams",
    "channels",
    "chats",
    "replies",
    "versions",
    "permissions",
    "lists",
    "getAllSites",
    "allChannels",
    "hostedContents",
    "organization",
    "mailboxSettings",
    "translateExchangeIds",
    "me",
    "getAllMessages",
    "createForward",
    "send",
    "createReply",
    "primaryChannel",
    "filesFolder",
    "listItem",
    "columns",
    "fields",
    "thumbnails",
];

/// Normalise a request path and its query: key form to segments (`mailFolders('id')` →
/// `mailFolders/id`), `delta()` → `delta`, known static segments case-folded (never inside
/// `root:/…:` item paths), and named function arguments become query parameters (`root/delta(token='X')` → `root/delta?token=X`, which
/// Graph treats as the same request). Returns `path` or `path?query`.
pub fn normalize_uri(path: &str, query: Option<&str>) -> String {
    let (mut out, args) = normalize(path);
    let mut query = query.unwrap_or("").to_string();
    if !args.is_empty() {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &args {
            ser.append_pair(k, v);
        }
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&ser.finish());
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    out
}

/// The normalised path and the named function arguments found in it (decoded).
fn normalize(path: &str) -> (String, Vec<(String, String)>) {
    let mut out = String::with_capacity(path.len());
    let mut args = Vec::new();
    // Inside drive path addressing (`root:/a/b.txt:`, `items/{id}:/{name}:`) segments are
    // user file names: copied as they are, never case-folded or parsed as calls.
    let mut in_item_path = false;
    let mut prev = String::new();
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if seg.is_empty() {
            continue;
        }
        if in_item_path {
            out.push_str(seg);
            if seg.ends_with(':') {
                in_item_path = false;
                prev.clear();
            }
            continue;
        }
        if let Some(base) = seg.strip_suffix(':')
            && !base.is_empty()
            && (base.eq_ignore_ascii_case("root") || prev == "items")
        {
            let base = if base.eq_ignore_ascii_case("root") {
                "root"
            } else {
                base
            };
            out.push_str(base);
            out.push(':');
            in_item_path = true;
            continue;
        }
        // Function call or key form: name(...)
        if let Some(open) = seg.find('(')
            && seg.ends_with(')')
        {
            let name = canonical(strip_namespace(&seg[..open]));
            let arg = seg[open + 1..seg.len() - 1].trim();
            out.push_str(&name);
            if is_named(arg) {
                args.extend(named_args(arg));
            } else if !arg.is_empty() {
                // Key form: 'id' (quoted) or bare.
                let key = arg.trim_matches('\'');
                out.push('/');
                out.push_str(key);
            }
            prev = name;
            continue;
        }
        let c = canonical(strip_namespace(seg));
        out.push_str(&c);
        prev = c;
    }
    (out, args)
}

/// `token='x'` is a named argument; `'AAMk=='` and bare `AAMk==` (base64 ids) are keys.
fn is_named(arg: &str) -> bool {
    arg.split_once('=').is_some_and(|(k, v)| {
        let k = k.trim();
        !k.is_empty()
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !v.is_empty()
            && !v.starts_with('=')
    })
}

/// Parses `k='v',k2=v2` (raw, percent-encoded path text) into decoded pairs. OData quotes
/// string values with `'` and escapes a quote inside as `''`.
fn named_args(raw: &str) -> Vec<(String, String)> {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let mut pairs = Vec::new();
    let mut chars = decoded.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let key = key.trim().to_string();
        if key.is_empty() {
            break;
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        value.push('\'');
                    } else {
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            // Skip to the next argument.
            for c in chars.by_ref() {
                if c == ',' {
                    break;
                }
            }
        } else {
            value = chars.by_ref().take_while(|&c| c != ',').collect();
            value = value.trim().to_string();
        }
        pairs.push((key, value));
    }
    pairs
}

fn strip_namespace(seg: &str) -> &str {
    match seg.strip_prefix("microsoft.graph.") {
        Some(rest)
            if matches!(
                rest,
                "delta"
                    | "move"
                    | "copy"
                    | "getAllSites"
                    | "getAllMessages"
                    | "createUploadSession"
            ) =>
        {
            rest
        }
        _ => seg,
    }
}

fn canonical(seg: &str) -> String {
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(seg))
        .map(|c| c.to_string())
        .unwrap_or_else(|| seg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize_path(p: &str) -> String {
        normalize_uri(p, None)
    }

    #[test]
    fn normalises_key_form_functions_and_case() {
        assert_eq!(
            normalize_path("/v1.0/users/u1/mailfolders('AQMk')/Messages/delta()"),
            "/v1.0/users/u1/mailFolders/AQMk/messages/delta"
        );
        assert_eq!(
            normalize_path("/v1.0/users/u1/messages/m1/$VALUE"),
            "/v1.0/users/u1/messages/m1/$value"
        );
        assert_eq!(
            normalize_path("/v1.0/drives/d/root/microsoft.graph.delta()"),
            "/v1.0/drives/d/root/delta"
        );
        assert_eq!(
            normalize_path("/v1.0/users/Adele@x.com"),
            "/v1.0/users/Adele@x.com"
        );
        // Base64 keys with padding stay keys.
        assert_eq!(
            normalize_path("/v1.0/users/u/mailFolders('AAMk==')/messages"),
            "/v1.0/users/u/mailFolders/AAMk==/messages"
        );
    }

    #[test]
    fn delta_token_argument_becomes_query_parameter() {
        assert_eq!(
            normalize_uri("/v1.0/drives/d/root/delta(token='abc')", None),
            "/v1.0/drives/d/root/delta?token=abc"
        );
        assert_eq!(
            normalize_uri(
                "/v1.0/me/drive/microsoft.graph.delta(token=1230919asd190410jlka)",
                Some("$top=5")
            ),
            "/v1.0/me/drive/delta?$top=5&token=1230919asd190410jlka"
        );
        // Percent-encoded, quoted with an escaped quote, plus signs kept literally.
        assert_eq!(
            normalize_uri("/v1.0/drives/d/root/delta(token='a%2Bb''c%3D')", None),
            "/v1.0/drives/d/root/delta?token=a%2Bb%27c%3D"
        );
        // Mail delta forms are unchanged.
        assert_eq!(
            normalize_uri(
                "/v1.0/users/u/mailFolders('inbox')/messages/microsoft.graph.delta()",
                Some("$deltatoken=xyz")
            ),
            "/v1.0/users/u/mailFolders/inbox/messages/delta?$deltatoken=xyz"
        );
        assert_eq!(
            normalize_uri("/v1.0/users/u/mailFolders/delta", None),
            "/v1.0/users/u/mailFolders/delta"
        );
    }

    #[test]
    fn item_paths_are_not_case_folded() {
        assert_eq!(
            normalize_path("/v1.0/drives/d/ROOT:/Children/Content:/CONTENT"),
            "/v1.0/drives/d/root:/Children/Content:/content"
        );
        assert_eq!(
            normalize_path("/v1.0/drives/d/Items/01AB:/Messages.docx:/createuploadsession"),
            "/v1.0/drives/d/items/01AB:/Messages.docx:/createUploadSession"
        );
        // Without a closing colon the rest of the path is the item path.
        assert_eq!(
            normalize_path("/v1.0/me/drive/root:/Versions/delta()"),
            "/v1.0/me/drive/root:/Versions/delta()"
        );
        // Segments after the item path are still normalised.
        assert_eq!(
            normalize_uri("/v1.0/drives/d/root:/Drive:/Delta(token='t')", None),
            "/v1.0/drives/d/root:/Drive:/delta?token=t"
        );
    }
}
