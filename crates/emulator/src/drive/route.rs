//! Parsing of Graph drive URLs, including OData path syntax that a plain router cannot
//! express: `root:/a/b.txt:/content`, `items/{parent}:/{name}:/createUploadSession`,
//! `delta()` and `delta(token='…')`.

use crate::error::GraphError;

/// Which drive a URL addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveSel {
    /// `/drives/{id}` (also `/sites/{s}/drives/{id}`).
    Id(String),
    /// `/users/{id|upn}/drive`.
    User(String),
    /// `/groups/{id}/drive`.
    Group(String),
    /// `/sites/{id}/drive` (default library).
    Site(String),
}

/// The item an URL addresses: a base (root or id) plus an optional path below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAddr {
    /// `None` = root.
    pub id: Option<String>,
    /// Path below the base (`a/b.txt`), decoded.
    pub path: Option<String>,
}

/// What to do with the addressed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The item itself.
    Item,
    /// `/children`.
    Children,
    /// `/content`.
    Content,
    /// `/delta` with an optional `token` from the function-call syntax.
    Delta(Option<String>),
    /// `/versions`.
    Versions,
    /// `/versions/{id}`.
    Version(String),
    /// `/versions/{id}/content`.
    VersionContent(String),
    /// `/versions/{id}/restoreVersion`.
    RestoreVersion(String),
    /// `/permissions`.
    Permissions,
    /// `/permissions/{id}`.
    Permission(String),
    /// `/createUploadSession`.
    CreateUploadSession,
    /// `/invite` (grant roles to users).
    Invite,
    /// `/createLink` (a sharing link).
    CreateLink,
}

/// A parsed drive URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveUrl {
    /// The drive resource.
    Drive(DriveSel),
    /// An item operation.
    Item(DriveSel, ItemAddr, Op),
}

fn bad_segment(seg: &str) -> GraphError {
    GraphError::no_resource(seg)
}

/// Splits `delta(token='x')` into `("delta", Some("x"))`.
fn function_call(seg: &str) -> (&str, Option<String>) {
    let Some((name, args)) = seg.split_once('(') else {
        return (seg, None);
    };
    let args = args.trim_end_matches(')');
    let token = args
        .split(',')
        .find_map(|a| a.trim().strip_prefix("token="))
        .map(|t| t.trim_matches('\'').to_string());
    (name, token)
}

fn parse_op(rest: &str) -> Result<Op, GraphError> {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    Ok(match segs.as_slice() {
        [] => Op::Item,
        ["children"] => Op::Children,
        ["content"] | ["$value"] => Op::Content,
        [f] if function_call(f).0 == "delta" || function_call(f).0 == "microsoft.graph.delta" => {
            Op::Delta(function_call(f).1)
        }
        ["versions"] => Op::Versions,
        ["versions", v] => Op::Version(v.to_string()),
        ["versions", v, "content"] => Op::VersionContent(v.to_string()),
        ["versions", v, f] if function_call(f).0.ends_with("restoreVersion") => {
            Op::RestoreVersion(v.to_string())
        }
        ["permissions"] => Op::Permissions,
        ["permissions", p] => Op::Permission(p.to_string()),
        [f] if function_call(f).0.ends_with("createUploadSession") => Op::CreateUploadSession,
        [f] if function_call(f).0.ends_with("invite") => Op::Invite,
        [f] if function_call(f).0.ends_with("createLink") => Op::CreateLink,
        [other, ..] => return Err(bad_segment(other)),
    })
}

/// Parses the part after the drive (`""`, `/root…`, `/items/{id}…`).
fn parse_item_rest(sel: DriveSel, rest: &str) -> Result<DriveUrl, GraphError> {
    if rest.is_empty() || rest == "/" {
        return Ok(DriveUrl::Drive(sel));
    }
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let (id, after) = if let Some(a) = rest.strip_prefix("root") {
        (None, a)
    } else if let Some(a) = rest.strip_prefix("items/") {
        let end = a.find([':', '/']).unwrap_or(a.len());
        let id = &a[..end];
        if id.is_empty() {
            return Err(bad_segment("items"));
        }
        let id = if id == "root" {
            None
        } else {
            Some(id.to_string())
        };
        (id, &a[end..])
    } else {
        let seg = rest.split('/').next().unwrap_or(rest);
        return Err(bad_segment(seg));
    };
    let (path, op_part) = if let Some(p) = after.strip_prefix(':') {
        match p.find(':') {
            Some(end) => (Some(&p[..end]), &p[end + 1..]),
            None => (Some(p), ""),
        }
    } else {
        (None, after)
    };
    if !op_part.is_empty() && !op_part.starts_with('/') {
        return Err(bad_segment(op_part));
    }
    let path = path
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty());
    let op = parse_op(op_part)?;
    Ok(DriveUrl::Item(sel, ItemAddr { id, path }, op))
}

/// Parses a decoded path below `/v1.0/` that addresses a drive or a drive item.
/// Returns `Ok(None)` when the path is not a drive path.
pub fn parse(path: &str) -> Result<Option<DriveUrl>, GraphError> {
    let p = path.trim_start_matches('/');
    let mut it = p.splitn(3, '/');
    let (a, b, rest) = (it.next().unwrap_or(""), it.next(), it.next().unwrap_or(""));
    let rest_with_slash = |r: &str| {
        if r.is_empty() {
            String::new()
        } else {
            format!("/{r}")
        }
    };
    let out = match (a, b) {
        ("drives", Some(id)) => {
            parse_item_rest(DriveSel::Id(id.to_string()), &rest_with_slash(rest))?
        }
        ("users", Some(u)) | ("groups", Some(u)) | ("sites", Some(u)) => {
            let (first, after) = rest.split_once('/').unwrap_or((rest, ""));
            let sel = match (a, first) {
                ("users", "drive") => DriveSel::User(u.to_string()),
                ("groups", "drive") => DriveSel::Group(u.to_string()),
                ("sites", "drive") => DriveSel::Site(u.to_string()),
                ("sites", "drives") => {
                    let (id, after2) = after.split_once('/').unwrap_or((after, ""));
                    if id.is_empty() {
                        return Ok(None);
                    }
                    return parse_item_rest(DriveSel::Id(id.to_string()), &rest_with_slash(after2))
                        .map(Some);
                }
                _ => return Ok(None),
            };
            parse_item_rest(sel, &rest_with_slash(after))?
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: &str) -> (DriveSel, ItemAddr, Op) {
        match parse(p).unwrap().unwrap() {
            DriveUrl::Item(s, a, o) => (s, a, o),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_graph_drive_urls() {
        assert_eq!(
            parse("drives/b!x").unwrap(),
            Some(DriveUrl::Drive(DriveSel::Id("b!x".into())))
        );
        assert_eq!(
            parse("users/u1/drive").unwrap(),
            Some(DriveUrl::Drive(DriveSel::User("u1".into())))
        );
        let (s, a, o) = item("drives/b!x/root/delta()");
        assert_eq!(
            (s, a.id, a.path, o),
            (DriveSel::Id("b!x".into()), None, None, Op::Delta(None))
        );
        let (_, _, o) = item("drives/d/root/delta(token='abc')");
        assert_eq!(o, Op::Delta(Some("abc".into())));
        let (_, a, o) = item("drives/d/items/01AB:/My file.txt:/content");
        assert_eq!(
            (a.id.as_deref(), a.path.as_deref(), o),
            (Some("01AB"), Some("My file.txt"), Op::Content)
        );
        let (_, a, o) = item("drives/d/root:/A/B");
        assert_eq!((a.id, a.path.as_deref(), o), (None, Some("A/B"), Op::Item));
        let (_, a, o) = item("drives/d/items/01AB/versions/2.0/content");
        assert_eq!(
            (a.id.as_deref(), o),
            (Some("01AB"), Op::VersionContent("2.0".into()))
        );
        let (s, _, o) = item("sites/h,1,2/drives/b!y/items/X/microsoft.graph.createUploadSession");
        assert_eq!(
            (s, o),
            (DriveSel::Id("b!y".into()), Op::CreateUploadSession)
        );
        let (s, _, o) = item("groups/g/drive/root/children");
        assert_eq!((s, o), (DriveSel::Group("g".into()), Op::Children));
        assert!(parse("drives/d/bogus").is_err());
        assert!(parse("drives/d/items/X/bogus").is_err());
        assert_eq!(parse("users/u1/messages").unwrap(), None);
        assert_eq!(parse("sites/s/lists").unwrap(), None);
    }
}
