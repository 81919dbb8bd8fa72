//! One reader of a Zarr node tree, v2 (EOPF products) and v3 (GeoZarr
//! stores) alike, used by conversion ([`crate::product`]) and by `info` and
//! `validate`. [`Tree::open`] reads metadata only: the consolidated
//! metadata when asked and present (one read, even on S3), otherwise every
//! node's document, many at a time.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3};
use zarrs::storage::ReadableWritableListableStorageTraits;

use crate::codec::patched_v2_meta;
use crate::path::{display, name_of};
use crate::store::{self, Store};
use crate::{Error, Result};

/// A zarrs array over our store.
pub type ZArray = Array<dyn ReadableWritableListableStorageTraits>;

/// Group or array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A group.
    Group,
    /// An array.
    Array,
}

/// One node: kind, attributes and its metadata document as stored
/// (v3: `zarr.json` without `consolidated_metadata`; v2: `.zarray`/`.zgroup`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Group or array.
    pub kind: Kind,
    /// User attributes.
    pub attrs: Map<String, Value>,
    /// The metadata document.
    pub meta: Value,
}

/// Which metadata to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Consolidated metadata when the store has it (fast), else every node.
    Consolidated,
    /// Every node's own document (what `validate` checks against).
    Stored,
}

/// The node tree of a store. Keys are node paths without a leading slash
/// ("" is the root); [`display`] turns them into `/a/b`.
#[derive(Debug, Clone)]
pub struct Tree {
    /// How the user named the store.
    pub location: String,
    /// 2 or 3.
    pub zarr_format: u8,
    /// Whether the root has consolidated metadata.
    pub consolidated: bool,
    /// Whether `nodes` came from the consolidated metadata.
    pub from_consolidated: bool,
    /// Every node by path.
    pub nodes: BTreeMap<String, Node>,
    /// Metadata documents that could not be read: (key, reason).
    pub broken: Vec<(String, String)>,
    /// Inline consolidated metadata of v3 groups that carry it (group path →
    /// members by relative path), as stored.
    pub consolidated_members: BTreeMap<String, Map<String, Value>>,
}

/// A JSON list of integers (`shape`, `chunks`); empty when absent.
pub fn u64_list(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
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

/// All of a small 1-D numeric array (`dtype`: its Zarr v3 name) as f64.
pub(crate) fn read_1d(a: &ZArray, dtype: &str, where_: &str) -> Result<Vec<f64>> {
    let subset = zarrs::array::ArraySubset::new_with_shape(a.shape().to_vec());
    macro_rules! get {
        ($t:ty) => {
            a.retrieve_array_subset::<Vec<$t>>(&subset)
                .map(|v| v.into_iter().map(|x| x as f64).collect())
        };
    }
    let r = match dtype {
        "int64" => get!(i64),
        "int32" => get!(i32),
        "int16" => get!(i16),
        "uint64" => get!(u64),
        "uint32" => get!(u32),
        "uint16" => get!(u16),
        "float64" => get!(f64),
        "float32" => get!(f32),
        t => return Err(Error::input(where_, format!("not a numeric array ({t})"))),
    };
    r.map_err(|e| Error::input(where_, e))
}

fn as_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

/// A v3 node document without its inline consolidated metadata.
pub fn strip_consolidated(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("consolidated_metadata");
    }
    v
}

pub(crate) fn v3_node(doc: &Value) -> std::result::Result<Node, String> {
    let kind = match doc.get("node_type").and_then(Value::as_str) {
        Some("group") => Kind::Group,
        Some("array") => Kind::Array,
        Some(t) => return Err(format!("unknown node_type {t:?}")),
        None => return Err("no node_type (not Zarr v3 metadata)".into()),
    };
    if kind == Kind::Array {
        for k in [
            "shape",
            "data_type",
            "chunk_grid",
            "chunk_key_encoding",
            "fill_value",
            "codecs",
        ] {
            if doc.get(k).is_none() {
                return Err(format!("array metadata without {k}"));
            }
        }
        let shape_ok = doc["shape"]
            .as_array()
            .is_some_and(|a| a.iter().all(|v| v.as_u64().is_some()));
        if !shape_ok {
            return Err(format!("shape {} is not a list of sizes", doc["shape"]));
        }
    }
    Ok(Node {
        kind,
        attrs: as_map(doc.get("attributes")),
        meta: strip_consolidated(doc),
    })
}

fn parse_json(store: &Store, key: &str) -> std::result::Result<Option<Value>, String> {
    match store::get(store, key) {
        Err(e) => Err(e.to_string()),
        Ok(None) => Ok(None),
        Ok(Some(b)) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("invalid JSON: {e}")),
    }
}

use crate::store::par_map;

/// Read and parse many small documents at once.
fn fetch_all(
    store: &Store,
    keys: Vec<String>,
) -> Vec<(String, std::result::Result<Option<Value>, String>)> {
    let docs = par_map(&keys, |k| parse_json(store, k));
    keys.into_iter().zip(docs).collect()
}

impl Tree {
    /// Open the tree of the store at `location`. Fails with one clear line
    /// when it is not a Zarr store or its root metadata is unreadable.
    pub fn open(store: &Store, location: &str, read: Read) -> Result<Tree> {
        let at = |k: &str| format!("{location}/{k}");
        let root3 = parse_json(store, "zarr.json").map_err(|e| Error::input(at("zarr.json"), e))?;
        if let Some(doc) = root3 {
            let root = v3_node(&doc).map_err(|e| Error::input(at("zarr.json"), e))?;
            let members = doc
                .pointer("/consolidated_metadata/metadata")
                .and_then(Value::as_object);
            let mut t = Tree {
                location: location.to_string(),
                zarr_format: 3,
                consolidated: members.is_some(),
                from_consolidated: false,
                nodes: BTreeMap::new(),
                broken: vec![],
                consolidated_members: BTreeMap::new(),
            };
            if let Some(m) = members {
                t.consolidated_members.insert(String::new(), m.clone());
            }
            match members {
                Some(m) if read == Read::Consolidated => {
                    t.from_consolidated = true;
                    for (k, v) in m {
                        match v3_node(v) {
                            Ok(n) => {
                                t.nodes.insert(k.clone(), n);
                            }
                            Err(e) => t.broken.push((format!("zarr.json#{k}"), e)),
                        }
                    }
                }
                _ => t.walk_v3(store)?,
            }
            t.nodes.insert(String::new(), root);
            return Ok(t);
        }
        let zmeta =
            parse_json(store, ".zmetadata").map_err(|e| Error::input(at(".zmetadata"), e))?;
        let zgroup = parse_json(store, ".zgroup").map_err(|e| Error::input(at(".zgroup"), e))?;
        let zarray = parse_json(store, ".zarray").map_err(|e| Error::input(at(".zarray"), e))?;
        if zmeta.is_none() && zgroup.is_none() && zarray.is_none() {
            return Err(Error::input(
                location,
                "not a Zarr store (no zarr.json, .zgroup, .zarray or .zmetadata)",
            ));
        }
        let mut t = Tree {
            location: location.to_string(),
            zarr_format: 2,
            consolidated: zmeta.is_some(),
            from_consolidated: false,
            nodes: BTreeMap::new(),
            broken: vec![],
            consolidated_members: BTreeMap::new(),
        };
        match zmeta {
            Some(zm) if read == Read::Consolidated => {
                let md = zm
                    .get("metadata")
                    .and_then(Value::as_object)
                    .ok_or_else(|| Error::input(at(".zmetadata"), "no \"metadata\" object"))?;
                t.from_consolidated = true;
                let docs: BTreeMap<String, Value> =
                    md.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                t.add_v2(&docs);
            }
            _ => t.walk_v2(store)?,
        }
        t.nodes.entry(String::new()).or_insert_with(|| Node {
            kind: Kind::Group,
            attrs: Map::new(),
            meta: Value::Null,
        });
        Ok(t)
    }

    fn walk_v3(&mut self, store: &Store) -> Result<()> {
        let keys: Vec<String> = store::list_prefix(store, "")?
            .into_iter()
            .filter(|k| k.ends_with("/zarr.json"))
            .collect();
        for (k, doc) in fetch_all(store, keys) {
            let node = &k[..k.len() - "/zarr.json".len()];
            match doc {
                Ok(Some(doc)) => match v3_node(&doc) {
                    Ok(n) => {
                        if let Some(m) = doc
                            .pointer("/consolidated_metadata/metadata")
                            .and_then(Value::as_object)
                        {
                            self.consolidated_members
                                .insert(node.to_string(), m.clone());
                        }
                        self.nodes.insert(node.to_string(), n);
                    }
                    Err(e) => self.broken.push((k.clone(), e)),
                },
                Ok(None) => {}
                Err(e) => self.broken.push((k.clone(), e)),
            }
        }
        Ok(())
    }

    fn walk_v2(&mut self, store: &Store) -> Result<()> {
        let keys: Vec<String> = store::list_prefix(store, "")?
            .into_iter()
            .filter(|k| matches!(name_of(k), ".zgroup" | ".zarray" | ".zattrs"))
            .collect();
        let mut docs = BTreeMap::new();
        for (k, doc) in fetch_all(store, keys) {
            match doc {
                Ok(Some(doc)) => {
                    docs.insert(k, doc);
                }
                Ok(None) => {}
                Err(e) => self.broken.push((k, e)),
            }
        }
        self.add_v2(&docs);
        Ok(())
    }

    /// Nodes from v2 documents keyed like `.zmetadata` (`a/b/.zarray`).
    fn add_v2(&mut self, docs: &BTreeMap<String, Value>) {
        for (k, v) in docs {
            let (node, file) = match k.rsplit_once('/') {
                Some((n, f)) => (n.to_string(), f),
                None => (String::new(), k.as_str()),
            };
            let kind = match file {
                ".zgroup" => Kind::Group,
                ".zarray" => Kind::Array,
                _ => continue,
            };
            if kind == Kind::Array
                && (!v.is_object() || v.get("shape").is_none() || v.get("dtype").is_none())
            {
                self.broken
                    .push((k.clone(), "array metadata without shape or dtype".into()));
                continue;
            }
            let attrs = as_map(docs.get(&crate::path::join(&node, ".zattrs")));
            self.nodes.insert(
                node,
                Node {
                    kind,
                    attrs,
                    meta: v.clone(),
                },
            );
        }
    }

    /// The node at `path`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The array at `path`.
    pub fn array(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path).filter(|n| n.kind == Kind::Array)
    }

    /// Direct children of `path`: (child path, node), sorted.
    pub fn children<'a>(&'a self, path: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        direct_children(&self.nodes, path)
    }

    /// Child arrays of a group.
    pub fn arrays_in<'a>(&'a self, path: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        self.children(path).filter(|(_, n)| n.kind == Kind::Array)
    }

    /// Open an array with zarrs (v2 documents are patched as the reader does).
    pub fn zarr_array(&self, store: &Store, path: &str) -> Result<ZArray> {
        let where_ = || format!("{}{}", self.location, display(path));
        let node = self
            .array(path)
            .ok_or_else(|| Error::input(where_(), "no such array"))?;
        let meta = if self.zarr_format == 2 {
            let m: ArrayMetadataV2 = serde_json::from_value(patched_v2_meta(&node.meta))
                .map_err(|e| Error::input(where_(), e))?;
            ArrayMetadata::V2(m)
        } else {
            let m: ArrayMetadataV3 =
                serde_json::from_value(node.meta.clone()).map_err(|e| Error::input(where_(), e))?;
            ArrayMetadata::V3(m)
        };
        Array::new_with_metadata(store.clone(), &display(path), meta)
            .map_err(|e| Error::input(where_(), e))
    }

    /// Read a small 1-D numeric array (coordinates) as f64.
    pub fn read_1d(&self, store: &Store, path: &str) -> Result<Vec<f64>> {
        let a = self.zarr_array(store, path)?;
        let where_ = format!("{}{}", self.location, display(path));
        read_1d(&a, &self.nodes[path].dtype(), &where_)
    }
}

impl Node {
    /// Array shape (empty for groups and scalars).
    pub fn shape(&self) -> Vec<u64> {
        u64_list(&self.meta["shape"])
    }

    /// Chunk shape: v3 regular grid or v2 `chunks`.
    pub fn chunks(&self) -> Vec<u64> {
        match self.meta.pointer("/chunk_grid/configuration/chunk_shape") {
            Some(c) => u64_list(c),
            None => u64_list(&self.meta["chunks"]),
        }
    }

    /// Data type as a Zarr v3 name (`uint16`, `string`…); v2 numpy strings are
    /// translated where a v3 name exists, else kept (`<U7`).
    pub fn dtype(&self) -> String {
        if let Some(t) = self.meta.get("data_type") {
            return match t {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                other => other.to_string(),
            };
        }
        let np = self.meta["dtype"].as_str().unwrap_or("?");
        match crate::dtype::DType::from_numpy(np) {
            Some(d) => d.v3_name().to_string(),
            None if np.trim_start_matches(['<', '>', '|']) == "b1" => "bool".into(),
            None => np.to_string(),
        }
    }

    /// Zarr fill value.
    pub fn fill_value(&self) -> Value {
        self.meta.get("fill_value").cloned().unwrap_or(Value::Null)
    }

    /// Codec chain, short form: `bytes`, `blosc(zstd,3,shuffle)`…
    pub fn codecs(&self) -> Vec<String> {
        if let Some(cs) = self.meta.get("codecs").and_then(Value::as_array) {
            return cs
                .iter()
                .map(|c| codec_name(&c["name"], &c["configuration"]))
                .collect();
        }
        let mut out: Vec<String> = self.meta["filters"]
            .as_array()
            .map(|f| f.iter().map(|c| codec_name(&c["id"], c)).collect())
            .unwrap_or_default();
        let comp = &self.meta["compressor"];
        if !comp.is_null() {
            out.push(codec_name(&comp["id"], comp));
        }
        out
    }

    /// `_ARRAY_DIMENSIONS`, if present and a list of strings.
    pub fn array_dimensions(&self) -> Option<Vec<String>> {
        self.attrs
            .get("_ARRAY_DIMENSIONS")?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect()
    }

    /// Zarr v3 `dimension_names` (null names become "").
    pub fn dimension_names(&self) -> Option<Vec<String>> {
        let a = self.meta.get("dimension_names")?.as_array()?;
        Some(
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect(),
        )
    }

    /// Dimension names from `_ARRAY_DIMENSIONS`, else `dimension_names`.
    pub fn dims(&self) -> Vec<String> {
        self.array_dimensions()
            .or_else(|| self.dimension_names())
            .unwrap_or_default()
    }

    /// A string attribute.
    pub fn attr_str(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).and_then(Value::as_str)
    }
}

fn codec_name(name: &Value, conf: &Value) -> String {
    let name = name.as_str().unwrap_or("?");
    match name {
        "blosc" => {
            let shuffle = match &conf["shuffle"] {
                Value::Number(n) => match n.as_u64() {
                    Some(0) => "noshuffle".to_string(),
                    Some(1) => "shuffle".to_string(),
                    Some(2) => "bitshuffle".to_string(),
                    _ => n.to_string(),
                },
                Value::String(s) => s.clone(),
                _ => "?".into(),
            };
            format!(
                "blosc({},{},{shuffle})",
                conf["cname"].as_str().unwrap_or("?"),
                conf["clevel"]
            )
        }
        "zstd" | "gzip" | "zlib" => match conf.get("level") {
            Some(l) => format!("{name}({l})"),
            None => name.to_string(),
        },
        _ => name.to_string(),
    }
}
