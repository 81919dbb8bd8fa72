//! Walking a pydantic-zarr `GroupSpec` (Zarr v2): the groups and arrays it
//! describes, in schema order, and the fields of an array node.

use serde_json::{Map, Value};

use crate::error::{Result, SynthError};

/// A group of the schema.
pub(crate) struct SchemaGroup {
    /// "" for the root, otherwise "a/b/c".
    pub(crate) path: String,
    /// Its attributes (an object), written as `.zattrs`.
    pub(crate) attrs: Value,
}

/// An array of the schema.
pub(crate) struct SchemaArray {
    /// "a/b/c".
    pub(crate) path: String,
    /// Its group's path ("a/b"; "" for the root).
    pub(crate) group: String,
    /// Its name ("c").
    pub(crate) name: String,
    /// The schema node: `.zarray` fields and `attributes`.
    pub(crate) node: Map<String, Value>,
}

/// Append the groups and arrays of `node` (at `path`, "" for the root) to
/// `groups` and `arrays`, parents before children, members in schema order.
pub(crate) fn walk(
    node: &Value,
    path: String,
    groups: &mut Vec<SchemaGroup>,
    arrays: &mut Vec<SchemaArray>,
) -> Result<()> {
    let obj = node.as_object().ok_or_else(|| {
        SynthError::input(display_path(&path), "schema node is not a JSON object")
    })?;
    if obj.contains_key("shape") {
        let (group, name) = match path.rsplit_once('/') {
            Some((g, n)) => (g.to_string(), n.to_string()),
            None => (String::new(), path.clone()),
        };
        if name.is_empty() {
            return Err(SynthError::input("/", "the schema root must be a group"));
        }
        arrays.push(SchemaArray {
            path,
            group,
            name,
            node: obj.clone(),
        });
        return Ok(());
    }
    let attrs = obj
        .get("attributes")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if !attrs.is_object() {
        return Err(SynthError::input(
            display_path(&path),
            "group attributes are not an object",
        ));
    }
    groups.push(SchemaGroup {
        path: path.clone(),
        attrs,
    });
    if let Some(members) = obj.get("members") {
        let members = members.as_object().ok_or_else(|| {
            SynthError::input(display_path(&path), "group members are not an object")
        })?;
        for (name, child) in members {
            if name.is_empty() || name.contains('/') || name.starts_with(".z") {
                return Err(SynthError::input(
                    display_path(&path),
                    format!("bad member name {name:?}"),
                ));
            }
            let child_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}/{name}")
            };
            walk(child, child_path, groups, arrays)?;
        }
    }
    Ok(())
}

/// `a/b` as errors name it: `/a/b`.
pub(crate) fn display_path(path: &str) -> String {
    format!("/{path}")
}

/// The array's `_ARRAY_DIMENSIONS` (empty when it has none).
pub(crate) fn dims_of(node: &Map<String, Value>) -> Vec<String> {
    node.get("attributes")
        .and_then(|a| a.get("_ARRAY_DIMENSIONS"))
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A list of integers of the node (`shape`, `chunks`).
pub(crate) fn shape_of(node: &Map<String, Value>, key: &str) -> Option<Vec<u64>> {
    node.get(key)?
        .as_array()?
        .iter()
        .map(Value::as_u64)
        .collect()
}
