//! Node paths: `a/b/c` without a leading slash, "" for the root.

/// Join a node path and a name (`join("", "x") == "x"`).
pub(crate) fn join(node: &str, name: &str) -> String {
    if node.is_empty() {
        name.to_string()
    } else {
        format!("{node}/{name}")
    }
}

/// A node path as users see it: `/` for the root, `/a/b` otherwise.
pub(crate) fn display(path: &str) -> String {
    format!("/{path}")
}

/// Last component of a node path.
pub(crate) fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Parent of a node path ("" for top-level nodes and the root).
pub(crate) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}
