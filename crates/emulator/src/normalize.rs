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

/// Normalise a request path (without query).
pub fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if seg.is_empty() {
            continue;
        }
        // Function call or key form: name(...)
        if let Some(open) = seg.find('(')
            && seg.ends_with(')')
        {
            let name = strip_namespace(&seg[..open]);
            let arg = &seg[open + 1..seg.len() - 1];
            out.push_str(&canonical(name));
            let arg = arg.trim();
            if !arg.is_empty() && !arg.contains('=') {
                // Key form: 'id' (quoted) or bare.
                let key = arg.trim_matches('\'');
                out.push('/');
                out.push_str(key);
            }
            continue;
        }
        out.push_str(&canonical(strip_namespace(seg)));
    }
    out
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
    }
}
