//! Reading an EOPF product (Zarr v2): the node tree with its metadata and
//! attributes, from the consolidated `.zmetadata` (one read, even on S3) or
//! by walking `.zgroup`/`.zarray` files when it is absent.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2};
use zarrs::storage::ReadableWritableListableStorageTraits;

use crate::store::{self, Store};
use crate::{Error, Result};

/// A group: its attributes.
#[derive(Debug, Clone, Default)]
pub struct GroupNode {
    /// `.zattrs` of the group.
    pub attrs: Map<String, Value>,
}

/// An array: its raw `.zarray` and `.zattrs`.
#[derive(Debug, Clone)]
pub struct ArrayNode {
    /// The `.zarray` document as stored.
    pub meta: Value,
    /// `.zattrs` of the array.
    pub attrs: Map<String, Value>,
}

/// A node of the product tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// A group.
    Group(GroupNode),
    /// An array.
    Array(ArrayNode),
}

/// An opened EOPF product: every node by path ("" is the root, no leading '/').
#[derive(Debug, Clone)]
pub struct Product {
    /// How the user named it (for messages).
    pub location: String,
    /// All nodes, sorted by path.
    pub nodes: BTreeMap<String, Node>,
}

fn as_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

/// A JSON list of integers (`shape`, `chunks`); empty when absent.
pub fn u64_list(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// Dimension names from an `_ARRAY_DIMENSIONS` attribute; empty when absent.
pub fn dim_names(attrs: &Map<String, Value>) -> Vec<String> {
    attrs
        .get("_ARRAY_DIMENSIONS")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl ArrayNode {
    /// Array shape.
    pub fn shape(&self) -> Vec<u64> {
        u64_list(&self.meta["shape"])
    }
    /// Chunk shape.
    pub fn chunks(&self) -> Vec<u64> {
        u64_list(&self.meta["chunks"])
    }
    /// numpy dtype string (`<u2`, `|u1`, `<U7`…); "" for structured types.
    pub fn dtype(&self) -> &str {
        self.meta["dtype"].as_str().unwrap_or("")
    }
    /// Dimension names from `_ARRAY_DIMENSIONS`.
    pub fn dims(&self) -> Vec<String> {
        dim_names(&self.attrs)
    }
}

/// Direct children of node `path` in a map keyed by node path ("" = root):
/// (full path, value), sorted.
pub fn direct_children<'a, V>(
    nodes: &'a BTreeMap<String, V>,
    path: &str,
) -> impl Iterator<Item = (&'a str, &'a V)> + 'a {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let n = prefix.len();
    let p2 = prefix.clone();
    nodes
        .range(prefix..)
        .take_while(move |(k, _)| k.starts_with(&p2))
        .filter(move |(k, _)| k.len() > n && !k[n..].contains('/'))
        .map(|(k, v)| (k.as_str(), v))
}

/// The `.zarray` patched so zarrs can open it: `<U…` with a null fill gets
/// `""`, `<M8[ns]` is read as the int64 it is stored as.
pub fn patched_v2_meta(meta: &Value) -> Value {
    let mut m = meta.clone();
    let dtype = m["dtype"].as_str().unwrap_or("").to_string();
    if dtype.contains('U') && m["fill_value"].is_null() {
        m["fill_value"] = Value::String(String::new());
    }
    if let Some(rest) = dtype.strip_prefix('<').or_else(|| dtype.strip_prefix('>')) {
        if rest.starts_with("M8") || rest.starts_with("m8") {
            m["dtype"] = Value::String(format!("{}i8", &dtype[..1]));
            if m["fill_value"].is_string() {
                m["fill_value"] = Value::Null;
            }
        }
    }
    m
}

/// Compressors (numcodecs ids) whose chunks are decoded, besides none.
pub const COMPRESSORS: [&str; 5] = ["blosc", "zstd", "zlib", "gzip", "lz4"];
/// Filters (numcodecs ids) whose chunks are decoded.
pub const FILTERS: [&str; 2] = ["shuffle", "fixedscaleoffset"];

/// Can the chunks of this Zarr v2 array be decoded? `Err` says which codec
/// is not and what is supported, in one line.
pub fn check_codecs(meta: &Value) -> std::result::Result<(), String> {
    let list = |ids: &[&str]| ids.join(", ");
    match &meta["compressor"] {
        Value::Null => {}
        c => match c["id"].as_str() {
            Some(id) if COMPRESSORS.contains(&id) => {}
            id => {
                return Err(format!(
                    "compressor {} is not supported (supported: {}, or none)",
                    id.map_or_else(|| c.to_string(), |i| format!("{i:?}")),
                    list(&COMPRESSORS)
                ))
            }
        },
    }
    for f in meta["filters"].as_array().into_iter().flatten() {
        match f["id"].as_str() {
            Some(id) if FILTERS.contains(&id) => {}
            id => {
                return Err(format!(
                    "filter {} is not supported (supported filters: {}; compressors: {})",
                    id.map_or_else(|| f.to_string(), |i| format!("{i:?}")),
                    list(&FILTERS),
                    list(&COMPRESSORS)
                ))
            }
        }
    }
    // the codecs' settings, as zarrs reads them (opening reads nothing)
    let v2: ArrayMetadataV2 =
        serde_json::from_value(patched_v2_meta(meta)).map_err(|e| e.to_string())?;
    let store = std::sync::Arc::new(zarrs::storage::store::MemoryStore::new());
    use zarrs::array::ArrayCreateError as E;
    match Array::new_with_metadata(store, "/a", ArrayMetadata::V2(v2)) {
        Err(e @ (E::CodecsCreateError(_) | E::UnsupportedZarrV2Array(_))) => {
            Err(format!("cannot be decoded: {e}"))
        }
        // data types and fill values are another matter (see `plan`)
        _ => Ok(()),
    }
}

impl Product {
    /// Read the product tree from `store`.
    pub fn open(store: &Store, location: &str) -> Result<Product> {
        let loc = location.to_string();
        if let Some(zm) = store::get_json(store, ".zmetadata").map_err(|e| relocate(e, &loc))? {
            return Self::from_consolidated(&zm, loc);
        }
        if store::get(store, ".zgroup")?.is_some() {
            return Self::walk(store, loc);
        }
        if store::get(store, "zarr.json")?.is_some() {
            return Err(Error::input(
                loc,
                "is a Zarr v3 store; expected an EOPF product in Zarr v2 (.zgroup/.zmetadata)",
            ));
        }
        Err(Error::input(
            loc,
            "not a Zarr store (no .zmetadata, .zgroup or zarr.json)",
        ))
    }

    fn from_consolidated(zm: &Value, location: String) -> Result<Product> {
        let md = zm
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                Error::input(format!("{location}/.zmetadata"), "no \"metadata\" object")
            })?;
        let mut nodes = BTreeMap::new();
        for (k, v) in md {
            let (node, file) = match k.rsplit_once('/') {
                Some((n, f)) => (n.to_string(), f),
                None => (String::new(), k.as_str()),
            };
            match file {
                ".zgroup" => {
                    let attrs = as_map(md.get(&store::join(&node, ".zattrs")));
                    nodes.insert(node, Node::Group(GroupNode { attrs }));
                }
                ".zarray" => {
                    let attrs = as_map(md.get(&store::join(&node, ".zattrs")));
                    nodes.insert(
                        node,
                        Node::Array(ArrayNode {
                            meta: v.clone(),
                            attrs,
                        }),
                    );
                }
                _ => {}
            }
        }
        Self::finish(nodes, location)
    }

    fn walk(store: &Store, location: String) -> Result<Product> {
        let mut nodes = BTreeMap::new();
        for k in store::list_prefix(store, "")? {
            let (node, file) = match k.rsplit_once('/') {
                Some((n, f)) => (n.to_string(), f.to_string()),
                None => (String::new(), k.clone()),
            };
            let attrs = || -> Result<Map<String, Value>> {
                Ok(as_map(
                    store::get_json(store, &store::join(&node, ".zattrs"))?.as_ref(),
                ))
            };
            match file.as_str() {
                ".zgroup" => {
                    nodes.insert(node.clone(), Node::Group(GroupNode { attrs: attrs()? }));
                }
                ".zarray" => {
                    let meta = store::get_json(store, &k)?.unwrap_or(Value::Null);
                    nodes.insert(
                        node.clone(),
                        Node::Array(ArrayNode {
                            meta,
                            attrs: attrs()?,
                        }),
                    );
                }
                _ => {}
            }
        }
        Self::finish(nodes, location)
    }

    fn finish(mut nodes: BTreeMap<String, Node>, location: String) -> Result<Product> {
        // implicit parents become plain groups
        let paths: Vec<String> = nodes.keys().cloned().collect();
        for p in paths {
            let mut cur = p.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                nodes
                    .entry(parent.to_string())
                    .or_insert_with(|| Node::Group(GroupNode::default()));
                cur = parent;
            }
            if !cur.is_empty() {
                nodes
                    .entry(String::new())
                    .or_insert_with(|| Node::Group(GroupNode::default()));
            }
        }
        if !matches!(nodes.get(""), Some(Node::Group(_))) {
            return Err(Error::input(location, "the root is not a Zarr group"));
        }
        for (path, n) in &nodes {
            if let Node::Array(a) = n {
                if !a.meta.is_object()
                    || a.meta.get("shape").is_none()
                    || a.meta.get("dtype").is_none()
                {
                    return Err(Error::input(
                        format!("{location}/{path}/.zarray"),
                        "malformed array metadata (no shape or dtype)",
                    ));
                }
            }
        }
        Ok(Product { location, nodes })
    }

    /// Root attributes.
    pub fn root_attrs(&self) -> Map<String, Value> {
        match self.nodes.get("") {
            Some(Node::Group(g)) => g.attrs.clone(),
            _ => Map::new(),
        }
    }

    /// The group at `path`, if it is one.
    pub fn group(&self, path: &str) -> Option<&GroupNode> {
        match self.nodes.get(path) {
            Some(Node::Group(g)) => Some(g),
            _ => None,
        }
    }

    /// The array at `path`, if it is one.
    pub fn array(&self, path: &str) -> Option<&ArrayNode> {
        match self.nodes.get(path) {
            Some(Node::Array(a)) => Some(a),
            _ => None,
        }
    }

    /// Direct children of a group: (name, node), sorted by name.
    pub fn children<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        direct_children(&self.nodes, path).map(|(k, node)| (crate::inspect::name_of(k), node))
    }

    /// Product type from STAC metadata (`S2MSI2A`, `S2MSI1C`…), if present.
    pub fn product_type(&self) -> Option<String> {
        let root = self.root_attrs();
        let props = root.get("stac_discovery")?.get("properties")?;
        props
            .get("product:type")
            .or_else(|| props.get("product_type"))
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// Open an input array with zarrs.
    pub fn zarr_array(
        &self,
        store: &Store,
        path: &str,
    ) -> Result<Array<dyn ReadableWritableListableStorageTraits>> {
        let a = self
            .array(path)
            .ok_or_else(|| Error::input(format!("{}/{path}", self.location), "no such array"))?;
        let meta: ArrayMetadataV2 = serde_json::from_value(patched_v2_meta(&a.meta))
            .map_err(|e| Error::input(format!("{}/{path}/.zarray", self.location), e))?;
        Array::new_with_metadata(store.clone(), &format!("/{path}"), ArrayMetadata::V2(meta))
            .map_err(|e| Error::input(format!("{}/{path}", self.location), e))
    }
}

fn relocate(e: Error, loc: &str) -> Error {
    match e {
        Error::Input { path, msg } => Error::input(format!("{loc}/{path}"), msg),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(compressor: Value, filters: Value) -> Value {
        json!({"zarr_format": 2, "shape": [10, 10], "chunks": [5, 5], "dtype": "<u2",
               "fill_value": 0, "order": "C", "compressor": compressor, "filters": filters})
    }

    #[test]
    fn check_codecs_names_what_cannot_be_decoded() {
        for c in [
            Value::Null,
            json!({"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}),
            json!({"id": "zstd", "level": 3}),
            json!({"id": "zlib", "level": 5}),
            json!({"id": "gzip", "level": 5}),
            json!({"id": "lz4", "acceleration": 1}),
        ] {
            check_codecs(&meta(c.clone(), Value::Null)).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
        let e = check_codecs(&meta(json!({"id": "lzma", "preset": 1}), Value::Null)).unwrap_err();
        assert!(
            e.contains("\"lzma\"") && e.contains("blosc, zstd, zlib, gzip, lz4"),
            "{e}"
        );
        let e =
            check_codecs(&meta(Value::Null, json!([{"id": "delta", "dtype": "<u2"}]))).unwrap_err();
        assert!(
            e.contains("filter \"delta\"") && e.contains("shuffle"),
            "{e}"
        );
        for f in [
            json!({"id": "shuffle", "elementsize": 2}),
            json!({"id": "fixedscaleoffset", "offset": 0, "scale": 1, "dtype": "<u2"}),
        ] {
            check_codecs(&meta(Value::Null, json!([f]))).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        // a known compressor with settings it cannot take
        let e = check_codecs(&meta(
            json!({"id": "blosc", "cname": "snappy"}),
            Value::Null,
        ))
        .unwrap_err();
        assert!(e.contains("cannot be decoded"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
