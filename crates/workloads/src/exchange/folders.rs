//! The mail folder tree: display-name paths, and what changed between two runs.
//!
//! A folder path is the display names from the top of the mailbox down, joined with `/`
//! (`Inbox/Projects/2024`). A `/` or `%` inside a display name is written `%2F` / `%25`, so paths
//! split unambiguously.

use std::collections::{BTreeMap, BTreeSet};

use super::state::FolderState;

/// Well-known name of the Recoverable Items deletions folder (outside the visible tree).
pub const RECOVERABLE_ITEMS: &str = "recoverableitemsdeletions";

/// Escape one display name for use as a path segment.
pub fn escape_segment(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

/// Undo [`escape_segment`].
pub fn unescape_segment(seg: &str) -> String {
    seg.replace("%2F", "/").replace("%25", "%")
}

/// Recompute every folder's `path` from display names and parent ids. A parent outside the map
/// (the mailbox root `msgfolderroot`, or the hidden Recoverable Items root) ends the walk.
/// Returns the ids whose path differs from before (renamed or moved, including descendants).
pub fn recompute_paths(folders: &mut BTreeMap<String, FolderState>) -> BTreeSet<String> {
    let mut new_paths = BTreeMap::new();
    for id in folders.keys() {
        let mut segments = Vec::new();
        let mut cur = Some(id.as_str());
        let mut guard = 0usize;
        while let Some(c) = cur {
            let Some(f) = folders.get(c) else { break };
            segments.push(escape_segment(&f.display_name));
            if f.parent_id.is_none() && f.well_known.as_deref() == Some(RECOVERABLE_ITEMS) {
                // Outside the visible tree: name it after its hidden root.
                segments.push("Recoverable Items".to_string());
            }
            cur = f.parent_id.as_deref();
            guard += 1;
            if guard > folders.len() {
                // A parent cycle (never from Graph, but never loop): stop here.
                break;
            }
        }
        segments.reverse();
        new_paths.insert(id.clone(), segments.join("/"));
    }
    let mut changed = BTreeSet::new();
    for (id, path) in new_paths {
        let f = folders.get_mut(&id).expect("id from the same map");
        if f.path != path {
            changed.insert(id);
            f.path = path;
        }
    }
    changed
}

/// Does `path` lie at or below folder path `prefix` (segment-wise, case-insensitive, as Outlook
/// folder names are)?
pub fn path_within(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return true;
    }
    let p = path.to_lowercase();
    let q = prefix.to_lowercase();
    p == q || (p.starts_with(&q) && p.as_bytes().get(q.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, parent: Option<&str>) -> FolderState {
        FolderState {
            display_name: name.into(),
            parent_id: parent.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn paths_and_changes() {
        let mut m = BTreeMap::new();
        m.insert("inbox".to_string(), f("Inbox", Some("root")));
        m.insert("p".to_string(), f("Projects", Some("inbox")));
        m.insert("q".to_string(), f("a/b", Some("p")));
        let changed = recompute_paths(&mut m);
        assert_eq!(changed.len(), 3);
        assert_eq!(m["q"].path, "Inbox/Projects/a%2Fb");
        assert!(recompute_paths(&mut m).is_empty());
        m.get_mut("p").unwrap().display_name = "Work".into();
        let changed = recompute_paths(&mut m);
        assert_eq!(
            changed,
            ["p", "q"]
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>()
        );
        assert_eq!(m["q"].path, "Inbox/Work/a%2Fb");
        assert_eq!(unescape_segment("a%2Fb%25"), "a/b%");
    }

    #[test]
    fn recoverable_items_path() {
        let mut m = BTreeMap::new();
        let mut d = f("Deletions", None);
        d.well_known = Some(RECOVERABLE_ITEMS.into());
        m.insert("d".to_string(), d);
        recompute_paths(&mut m);
        assert_eq!(m["d"].path, "Recoverable Items/Deletions");
    }

    #[test]
    fn cycle_terminates() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), f("A", Some("b")));
        m.insert("b".to_string(), f("B", Some("a")));
        recompute_paths(&mut m);
        assert!(m["a"].path.ends_with("A"));
    }

    #[test]
    fn within() {
        assert!(path_within("Inbox/Projects", "inbox"));
        assert!(path_within("Inbox", "Inbox/"));
        assert!(!path_within("Inboxes", "Inbox"));
        assert!(path_within("anything", ""));
    }
}
