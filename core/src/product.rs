//! Reading an EOPF product (Zarr v2): the node tree with its metadata and
//! attributes, from the consolidated `.zmetadata` (one read, even on S3) or
//! by walking `.zgroup`/`.zarray` files when it is absent.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2};
use zarrs::storage::ReadableWritableListableStorageTraits;

use crate::codec::patched_v2_meta;
use crate::store::Store;
use crate::tree::direct_children;
pub use crate::tree::u64_list;
use crate::tree::{Kind, Read, Tree};
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

impl Product {
    /// Read the product tree from `store` (through [`Tree`]: consolidated
    /// metadata when present, else every node's documents in parallel).
    pub fn open(store: &Store, location: &str) -> Result<Product> {
        let loc = location.to_string();
        let tree = Tree::open(store, location, Read::Consolidated)?;
        if tree.zarr_format == 3 {
            return Err(Error::input(
                loc,
                "is a Zarr v3 store; expected an EOPF product in Zarr v2 (.zgroup/.zmetadata)",
            ));
        }
        if let Some((key, why)) = tree.broken.first() {
            return Err(Error::input(format!("{loc}/{key}"), why));
        }
        let nodes = tree
            .nodes
            .into_iter()
            .map(|(path, n)| {
                let node = match n.kind {
                    Kind::Group => Node::Group(GroupNode { attrs: n.attrs }),
                    Kind::Array => Node::Array(ArrayNode {
                        meta: n.meta,
                        attrs: n.attrs,
                    }),
                };
                (path, node)
            })
            .collect();
        Self::finish(nodes, loc)
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
        direct_children(&self.nodes, path).map(|(k, node)| (crate::path::name_of(k), node))
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

    /// All of a small 1-D numeric array (coordinates) as f64.
    pub fn read_1d(&self, store: &Store, path: &str) -> Result<Vec<f64>> {
        let a = self.zarr_array(store, path)?;
        let np = self.array(path).map_or("", |n| n.dtype());
        let dtype = crate::dtype::DType::from_numpy(np).map_or(np, |d| d.v3_name());
        crate::tree::read_1d(&a, dtype, &format!("{}/{path}", self.location))
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
