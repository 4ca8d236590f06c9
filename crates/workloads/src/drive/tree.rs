//! The folder tree of a drive: folder id → (parent id, name). Delta never serves
//! `parentReference.path`, so paths are derived from this map. Only folders are held in
//! memory (files need only their parent's path), which keeps a 100,000-file drive small.

use std::collections::HashMap;

use super::layout::join;

#[derive(Debug, Clone)]
struct Node {
    parent: Option<String>,
    name: String,
}

/// Folder map with memoised paths.
#[derive(Debug, Default)]
pub struct Tree {
    root: Option<String>,
    nodes: HashMap<String, Node>,
    paths: parking_lot::Mutex<HashMap<String, Option<String>>>,
}

impl Tree {
    /// The root's Graph id, once seen.
    pub fn root(&self) -> Option<&str> {
        self.root.as_deref()
    }

    /// Number of folders known (root included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no folder is known.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `id` is a known folder.
    pub fn contains(&self, id: &str) -> bool {
        self.nodes.contains_key(id)
    }

    /// Records the root.
    pub fn set_root(&mut self, id: &str) {
        self.root = Some(id.to_string());
        self.nodes.insert(
            id.to_string(),
            Node {
                parent: None,
                name: String::new(),
            },
        );
        self.paths.lock().clear();
    }

    /// Adds or updates a folder. Returns true when its full path changed (a rename or a move
    /// of a folder that was known before).
    pub fn upsert(&mut self, id: &str, parent: Option<&str>, name: &str) -> bool {
        let node = Node {
            parent: parent.map(str::to_string),
            name: name.to_string(),
        };
        let (known, differs) = match self.nodes.get(id) {
            Some(old) => (true, old.parent != node.parent || old.name != node.name),
            None => (false, true),
        };
        if differs {
            self.nodes.insert(id.to_string(), node);
            self.paths.lock().clear();
        }
        known && differs
    }

    /// Forgets a folder (its descendants become unreachable: see [`Tree::folder_path`]).
    pub fn remove(&mut self, id: &str) -> bool {
        let had = self.nodes.remove(id).is_some();
        if had {
            self.paths.lock().clear();
        }
        had
    }

    /// Full path of a folder (`""` for the root, `A/B` below it); `None` when the folder or
    /// one of its ancestors is unknown (deleted).
    pub fn folder_path(&self, id: &str) -> Option<String> {
        if let Some(p) = self.paths.lock().get(id) {
            return p.clone();
        }
        let mut chain = Vec::new();
        let mut cur = id.to_string();
        let found = loop {
            let Some(n) = self.nodes.get(&cur) else {
                break false;
            };
            match &n.parent {
                None => break Some(cur.as_str()) == self.root.as_deref(),
                Some(p) => {
                    chain.push(n.name.clone());
                    if chain.len() > 10_000 {
                        break false; // a cycle: treat as unreachable
                    }
                    cur = p.clone();
                }
            }
        };
        let path = found.then(|| {
            chain
                .iter()
                .rev()
                .fold(String::new(), |acc, n| join(&acc, n))
        });
        self.paths.lock().insert(id.to_string(), path.clone());
        path
    }

    /// Ids of folders no longer reachable from the root.
    pub fn unreachable(&self) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|id| self.folder_path(id).is_none())
            .cloned()
            .collect()
    }

    /// Keeps only the folders in `keep` (plus the root).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let root = self.root.clone();
        self.nodes
            .retain(|id, _| Some(id.as_str()) == root.as_deref() || keep(id));
        self.paths.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_renames_moves_and_deletions() {
        let mut t = Tree::default();
        t.set_root("R");
        assert!(!t.upsert("A", Some("R"), "A"));
        assert!(!t.upsert("B", Some("A"), "B/slash"));
        assert_eq!(t.folder_path("R").as_deref(), Some(""));
        assert_eq!(t.folder_path("B").as_deref(), Some("A/B%2Fslash"));
        assert!(t.upsert("A", Some("R"), "A2"));
        assert_eq!(t.folder_path("B").as_deref(), Some("A2/B%2Fslash"));
        t.upsert("C", Some("R"), "C");
        assert!(t.upsert("A", Some("C"), "A2"));
        assert_eq!(t.folder_path("B").as_deref(), Some("C/A2/B%2Fslash"));
        assert!(t.remove("C"));
        assert_eq!(t.folder_path("B"), None);
        let mut u = t.unreachable();
        u.sort();
        assert_eq!(u, vec!["A".to_string(), "B".to_string()]);
        // A cycle (never served by Graph) is unreachable, not a hang.
        t.upsert("X", Some("Y"), "x");
        t.upsert("Y", Some("X"), "y");
        assert_eq!(t.folder_path("X"), None);
    }
}
