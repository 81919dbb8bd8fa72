//! Planning: (product, groups, options) → output layout and a DAG of small,
//! serialisable tasks. Pure apart from reading the small `x`/`y` arrays.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::codec::patched_v2_meta;
use crate::convert::attrs::{self, DType};
use crate::geo::chunking::{band_chunk, level_sizes};
use crate::geo::crs::Crs;
use crate::geo::grid::Grid;
use crate::geo::tms::multiscales;
use crate::product::{dim_names, u64_list, Node, Product};
use crate::{Error, Result};

/// Conversion options (the CLI flags of `convert`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    /// Groups to convert (absolute paths); `None` = every resolution group under `/measurements`.
    pub groups: Option<Vec<String>>,
    /// Target chunk edge of band arrays.
    pub spatial_chunk: u64,
    /// Keep adding overview levels while the smaller side is at least this.
    pub min_dimension: u64,
    /// Tile width/height of the tile matrix set.
    pub tile_width: u64,
    /// Carried-over groups that get a `spatial_ref` and `grid_mapping`.
    pub crs_groups: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            groups: None,
            spatial_chunk: 4096,
            min_dimension: 256,
            tile_width: 256,
            crs_groups: vec![],
        }
    }
}

/// One overview level of a converted group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelPlan {
    /// Georeferenced grid of the level.
    pub grid: Grid,
    /// Square chunk edge of the level's bands.
    pub chunk: u64,
}

/// One band (data variable) of a converted group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BandPlan {
    /// Array name (`b02`).
    pub name: String,
    /// Input array path.
    pub input: String,
    /// Input `.zarray`, patched so zarrs opens it.
    pub input_meta: Value,
    /// Storage type (kept in the output).
    pub dtype: DType,
    /// Zarr v3 fill value.
    pub fill: Value,
}

/// A converted (multiscale) group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupPlan {
    /// Path, no leading slash (`measurements/reflectance/r10m`).
    pub path: String,
    /// Native CRS.
    pub crs: Crs,
    /// Levels, 0 = native.
    pub levels: Vec<LevelPlan>,
    /// Bands.
    pub bands: Vec<BandPlan>,
    /// Input `x` / `y` paths and their `.zarray`s.
    pub x_input: (String, Value),
    /// See `x_input`.
    pub y_input: (String, Value),
}

impl GroupPlan {
    /// Path of level `l`.
    pub fn level_path(&self, l: usize) -> String {
        format!("{}/{l}", self.path)
    }
    /// Output path of band `b` at level `l`.
    pub fn band_path(&self, b: usize, l: usize) -> String {
        format!("{}/{l}/{}", self.path, self.bands[b].name)
    }
    /// Output chunks of one band, all levels together.
    pub fn chunks_per_band(&self) -> u64 {
        (0..self.levels.len())
            .map(|l| {
                let (r, c) = self.chunk_grid(l);
                r * c
            })
            .sum()
    }

    /// Chunk grid shape (rows, cols) of level `l`.
    pub fn chunk_grid(&self, l: usize) -> (u64, u64) {
        let lv = &self.levels[l];
        (
            lv.grid.height.div_ceil(lv.chunk),
            lv.grid.width.div_ceil(lv.chunk),
        )
    }
}

/// How a carried-over array is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CarryMode {
    /// Chunk bytes copied unchanged (same codec in v2 and v3).
    Bytes,
    /// Decoded and re-encoded (strings, unusual filters or compressors).
    Reencode,
    /// Not in the input: a `spatial_ref` grid-mapping scalar (value 0) added by `--crs-groups`.
    GridMapping,
}

/// An array carried over unchanged (profile §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarryPlan {
    /// Path (same in input and output).
    pub path: String,
    /// Input `.zarray` (as stored).
    pub input_meta: Value,
    /// How chunks are copied.
    pub mode: CarryMode,
}

/// The output layout of a conversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Groups converted to multiscale pyramids.
    pub groups: Vec<GroupPlan>,
    /// Arrays carried over.
    pub carried: Vec<CarryPlan>,
    /// Every output node (path, `zarr.json`), parents first; "" is the root.
    pub nodes: Vec<(String, Value)>,
    /// Arrays skipped because their data type has no Zarr v3 equivalent.
    pub skipped: Vec<String>,
}

/// A unit of work. Tasks are small, serialisable and idempotent: running one
/// twice writes the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// Write every node's `zarr.json` (no consolidated metadata yet).
    Metadata,
    /// Write `x`, `y`, `spatial_ref` of every level of a group.
    Coords {
        /// Index into [`Plan::groups`].
        group: usize,
    },
    /// A whole band pyramid, streamed (each input chunk decoded once).
    Band {
        /// Index into [`Plan::groups`].
        group: usize,
        /// Index into the group's bands.
        band: usize,
    },
    /// One output chunk of one band and level (level 0 reads the input, level L reads level L-1).
    Chunk {
        /// Index into [`Plan::groups`].
        group: usize,
        /// Index into the group's bands.
        band: usize,
        /// Pyramid level (0 = full resolution).
        level: usize,
        /// Chunk row in the level's chunk grid.
        row: u64,
        /// Chunk column in the level's chunk grid.
        col: u64,
    },
    /// Copy one carried-over array.
    Carry {
        /// Index into [`Plan::carried`].
        index: usize,
    },
    /// Write consolidated metadata (the last task: marks the store complete).
    Consolidate,
}

impl Task {
    /// Tasks that read the same chunks share a non-zero affinity (one per
    /// band), so a scheduler can keep them on one worker; 0 for the rest.
    pub fn affinity(&self) -> u32 {
        match *self {
            Task::Band { group, band } | Task::Chunk { group, band, .. } => {
                1 + ((group as u32) << 16 | band as u32)
            }
            _ => 0,
        }
    }
}

/// A task and the tasks it waits for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The work.
    pub task: Task,
    /// Indices of the tasks that must finish first.
    pub deps: Vec<usize>,
}

/// How finely band work is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One streaming task per band (in-process default: decode once, bounded memory).
    Band,
    /// One task per output chunk and level (for spreading one band over many workers).
    Chunk,
}

fn norm(path: &str) -> String {
    path.trim_matches('/').to_string()
}

fn is_yx(dims: &[String]) -> bool {
    dims.len() == 2 && dims[0] == "y" && dims[1] == "x"
}

/// Is `path` a group holding 2-D (y, x) data variables?
fn has_bands(product: &Product, path: &str) -> bool {
    product.children(path).any(
        |(name, n)| matches!(n, Node::Array(a) if name != "x" && name != "y" && is_yx(&a.dims())),
    )
}

/// Pick the converted groups.
pub fn select_groups(product: &Product, opts: &Options) -> Result<Vec<String>> {
    let loc = &product.location;
    match &opts.groups {
        Some(gs) if !gs.is_empty() => {
            let mut out = vec![];
            for g in gs {
                let p = norm(g);
                if product.group(&p).is_none() {
                    let what = if product.array(&p).is_some() {
                        "is an array, not a group"
                    } else {
                        "no such group in the product"
                    };
                    return Err(Error::input(format!("{loc}/{p}"), what));
                }
                if !has_bands(product, &p) {
                    return Err(Error::input(
                        format!("{loc}/{p}"),
                        "group has no 2-D (y, x) data variables to convert",
                    ));
                }
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            Ok(out)
        }
        _ => {
            let out: Vec<String> = product
                .nodes
                .iter()
                .filter(|(p, n)| {
                    matches!(n, Node::Group(_))
                        && (p.starts_with("measurements/") || *p == "measurements")
                })
                .filter(|(p, _)| has_bands(product, p))
                .map(|(p, _)| p.clone())
                .collect();
            if out.is_empty() {
                return Err(Error::input(loc, "no resolution groups with (y, x) bands under /measurements; name them with --groups"));
            }
            Ok(out)
        }
    }
}

fn crs_of(product: &Product, group: &str, band_attrs: &Map<String, Value>) -> Option<Crs> {
    let attr_sources = [
        Some(band_attrs.clone()),
        product.group(group).map(|g| g.attrs.clone()),
    ];
    for a in attr_sources.into_iter().flatten() {
        let epsg = a
            .get("proj:epsg")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map(|v| v as u32)
            .or_else(|| {
                a.get("proj:code")
                    .and_then(Value::as_str)?
                    .strip_prefix("EPSG:")?
                    .parse()
                    .ok()
            });
        let wkt = a
            .get("proj:wkt2")
            .or_else(|| a.get("crs_wkt"))
            .and_then(Value::as_str)
            .map(String::from);
        if epsg.is_some() || wkt.is_some() {
            return Crs::new(epsg, wkt);
        }
    }
    let root = product.root_attrs();
    let epsg = root
        .get("stac_discovery")?
        .get("properties")?
        .get("proj:epsg")?
        .as_u64()?;
    Crs::new(Some(epsg as u32), None)
}

fn plan_group(product: &Product, coords: &Coords, path: &str, opts: &Options) -> Result<GroupPlan> {
    let loc = &product.location;
    let mut bands = vec![];
    let mut shape = None;
    for (name, n) in product.children(path) {
        let Node::Array(a) = n else { continue };
        if name == "x" || name == "y" || !is_yx(&a.dims()) {
            continue;
        }
        let bpath = format!("{path}/{name}");
        let dtype = DType::from_numpy(a.dtype()).ok_or_else(|| {
            Error::input(
                format!("{loc}/{bpath}"),
                format!(
                    "unsupported data type {} for a converted band (numeric types only)",
                    a.dtype()
                ),
            )
        })?;
        let s = a.shape();
        match shape {
            None => shape = Some(s.clone()),
            Some(ref s0) if *s0 != s => {
                return Err(Error::input(
                    format!("{loc}/{bpath}"),
                    format!("shape {s:?} differs from the group's other bands {s0:?}"),
                ))
            }
            _ => {}
        }
        bands.push(BandPlan {
            name: name.to_string(),
            input: bpath,
            input_meta: patched_v2_meta(&a.meta),
            dtype,
            fill: dtype.v3_fill(&a.meta["fill_value"]),
        });
    }
    let first = bands
        .first()
        .ok_or_else(|| Error::input(format!("{loc}/{path}"), "no bands to convert"))?;
    let (xp, yp) = (format!("{path}/x"), format!("{path}/y"));
    let (Some(xa), Some(ya)) = (product.array(&xp), product.array(&yp)) else {
        return Err(Error::input(
            format!("{loc}/{path}"),
            "no spatial coordinates (x and y arrays) in the group",
        ));
    };
    let xs = coords(&xp)?;
    let ys = coords(&yp)?;
    let shape = shape.unwrap_or_default();
    if shape != [ys.len() as u64, xs.len() as u64] {
        return Err(Error::input(
            format!("{loc}/{path}"),
            format!(
                "band shape {shape:?} does not match y/x lengths ({}, {})",
                ys.len(),
                xs.len()
            ),
        ));
    }
    let band_attrs = product
        .array(&first.input)
        .map(|a| a.attrs.clone())
        .unwrap_or_default();
    let grid = Grid::from_centres(&xs, &ys).or_else(|| {
        // single-pixel axes: fall back to proj:transform
        let t = band_attrs.get("proj:transform")?.as_array()?;
        let f = |i: usize| t.get(i).and_then(Value::as_f64);
        Some(Grid {
            left: f(2)?,
            top: f(5)?,
            res_x: f(0)?,
            res_y: -f(4)?,
            width: xs.len() as u64,
            height: ys.len() as u64,
        })
    });
    let grid = grid.ok_or_else(|| {
        Error::input(
            format!("{loc}/{path}"),
            "cannot derive a regular grid from x/y coordinates",
        )
    })?;
    let crs = crs_of(product, path, &band_attrs).ok_or_else(|| {
        Error::input(
            format!("{loc}/{path}"),
            "no CRS: bands carry neither proj:epsg nor proj:wkt2",
        )
    })?;
    let levels = level_sizes(grid.width, grid.height, opts.min_dimension)
        .into_iter()
        .enumerate()
        .map(|(l, (w, h))| LevelPlan {
            grid: grid.level(l as u32, w, h),
            chunk: band_chunk(w, h, opts.spatial_chunk),
        })
        .collect();
    Ok(GroupPlan {
        path: path.to_string(),
        crs,
        levels,
        bands,
        x_input: (xp, patched_v2_meta(&xa.meta)),
        y_input: (yp, patched_v2_meta(&ya.meta)),
    })
}

/// v3 metadata and copy mode of a carried-over array; `None` if unsupported.
pub fn carry_meta(meta: &Value, attrs: &Map<String, Value>) -> Option<(Value, CarryMode)> {
    let dtype = meta["dtype"].as_str()?;
    let shape = u64_list(&meta["shape"]);
    let chunks = u64_list(&meta["chunks"]);
    let mut attributes = attrs.clone();
    let dims = attrs
        .contains_key("_ARRAY_DIMENSIONS")
        .then(|| dim_names(attrs))
        .filter(|d| d.len() == shape.len());
    let body = dtype.trim_start_matches(['<', '>', '|', '=']);
    let big = dtype.starts_with('>');
    let mut mode = CarryMode::Bytes;
    let (data_type, fill, item) = if let Some(dt) = DType::from_numpy(dtype) {
        (
            json!(dt.v3_name()),
            dt.v3_fill(&meta["fill_value"]),
            dt.size(),
        )
    } else if body == "b1" {
        (
            json!("bool"),
            json!(meta["fill_value"].as_bool().unwrap_or(false)),
            1,
        )
    } else if body.starts_with('U') {
        mode = CarryMode::Reencode;
        (
            json!("string"),
            json!(meta["fill_value"].as_str().unwrap_or("")),
            0,
        )
    } else if let Some(unit) = body.strip_prefix("M8[").and_then(|u| u.strip_suffix(']')) {
        let word = match unit {
            "ns" => "nanoseconds",
            "us" => "microseconds",
            "ms" => "milliseconds",
            "s" => "seconds",
            "m" => "minutes",
            "h" => "hours",
            "D" => "days",
            _ => return None,
        };
        attributes.insert("units".into(), json!(format!("{word} since 1970-01-01")));
        attributes.insert("calendar".into(), json!("proleptic_gregorian"));
        let fill = match &meta["fill_value"] {
            Value::Number(n) => json!(n),
            Value::String(s) if s == "NaT" => json!(i64::MIN),
            _ => json!(0),
        };
        (json!("int64"), fill, 8)
    } else {
        return None;
    };
    let mut codecs = vec![];
    if meta["order"].as_str() == Some("F") && shape.len() > 1 {
        codecs.push(json!({"name": "transpose", "configuration": {"order": (0..shape.len()).rev().collect::<Vec<_>>()}}));
    }
    if mode == CarryMode::Reencode {
        codecs = vec![json!({"name": "vlen-utf8"})];
    } else {
        codecs.push(if item == 1 {
            json!({"name": "bytes"})
        } else {
            json!({"name": "bytes", "configuration": {"endian": if big { "big" } else { "little" }}})
        });
    }
    let filters_present = meta["filters"].as_array().is_some_and(|f| !f.is_empty());
    let comp = &meta["compressor"];
    if mode == CarryMode::Bytes {
        let id = comp["id"].as_str();
        match id {
            None if comp.is_null() => {}
            Some("blosc") => {
                let shuffle = match comp["shuffle"].as_i64() {
                    Some(0) => "noshuffle",
                    Some(2) => "bitshuffle",
                    _ => "shuffle",
                };
                codecs.push(json!({"name": "blosc", "configuration": {
                    "typesize": item, "cname": comp["cname"].as_str().unwrap_or("zstd"),
                    "clevel": comp["clevel"].as_i64().unwrap_or(5), "shuffle": shuffle,
                    "blocksize": comp["blocksize"].as_i64().unwrap_or(0)}}));
            }
            Some("zstd") => codecs.push(json!({"name": "zstd", "configuration": {"level": comp["level"].as_i64().unwrap_or(0), "checksum": comp["checksum"].as_bool().unwrap_or(false)}})),
            Some("gzip") => codecs.push(json!({"name": "gzip", "configuration": {"level": comp["level"].as_i64().unwrap_or(1)}})),
            _ => mode = CarryMode::Reencode,
        }
        if filters_present {
            mode = CarryMode::Reencode;
        }
        if mode == CarryMode::Reencode {
            codecs.retain(|c| c["name"] != "blosc" && c["name"] != "zstd" && c["name"] != "gzip");
            codecs.push(attrs::blosc_codec(item.max(1), "shuffle"));
        }
    }
    let chunks = if chunks.len() == shape.len() {
        chunks
    } else {
        shape.clone()
    };
    Some((
        attrs::array_meta(&shape, data_type, &chunks, fill, codecs, attributes, dims),
        mode,
    ))
}

/// The values of a 1-D coordinate array of the input, by path. Planning
/// reads nothing itself: the caller reads coordinates (from the store, see
/// [`crate::product::Product::read_1d`]) or, in tests, hands them in.
pub type Coords<'a> = dyn Fn(&str) -> Result<Vec<f64>> + 'a;

/// Build the plan for converting `product`.
pub fn build(product: &Product, coords: &Coords, opts: &Options) -> Result<Plan> {
    if opts.spatial_chunk == 0 || opts.tile_width == 0 {
        return Err(Error::Usage(
            "--spatial-chunk and --tile-width must be at least 1".into(),
        ));
    }
    // every array that will be read can be decoded, before anything is written
    for (path, node) in &product.nodes {
        if let Node::Array(a) = node {
            if carry_meta(&a.meta, &a.attrs).is_some() {
                crate::codec::check_v2(&a.meta)
                    .map_err(|e| Error::input(format!("{}/{path}", product.location), e))?;
            }
        }
    }
    let selected = select_groups(product, opts)?;
    let groups: Vec<GroupPlan> = selected
        .iter()
        .map(|g| plan_group(product, coords, g, opts))
        .collect::<Result<_>>()?;
    let product_type = product.product_type();
    let inside = |p: &str| {
        selected
            .iter()
            .any(|g| p == g || p.starts_with(&format!("{g}/")))
    };

    let mut nodes: Vec<(String, Value)> = vec![];
    let mut carried = vec![];
    let mut skipped = vec![];
    for (path, node) in &product.nodes {
        if inside(path) {
            continue;
        }
        match node {
            Node::Group(g) => nodes.push((path.clone(), attrs::group_meta(g.attrs.clone()))),
            Node::Array(a) => match carry_meta(&a.meta, &a.attrs) {
                Some((meta, mode)) => {
                    nodes.push((path.clone(), meta));
                    carried.push(CarryPlan {
                        path: path.clone(),
                        input_meta: a.meta.clone(),
                        mode,
                    });
                }
                None => {
                    tracing::warn!(
                        "{}/{path}: data type {} has no Zarr v3 equivalent; not carried over",
                        product.location,
                        a.dtype()
                    );
                    skipped.push(path.clone());
                }
            },
        }
    }
    add_crs_groups(
        product,
        coords,
        opts,
        &groups,
        &selected,
        &mut nodes,
        &mut carried,
    )?;
    for g in &groups {
        let mut gattrs = product
            .group(&g.path)
            .map(|n| n.attrs.clone())
            .unwrap_or_default();
        let grids: Vec<Grid> = g.levels.iter().map(|l| l.grid).collect();
        gattrs.insert(
            "multiscales".into(),
            multiscales(&g.crs, &grids, opts.tile_width),
        );
        nodes.push((g.path.clone(), attrs::group_meta(gattrs)));
        let x_attrs = product
            .array(&g.x_input.0)
            .map(|a| a.attrs.clone())
            .unwrap_or_default();
        let y_attrs = product
            .array(&g.y_input.0)
            .map(|a| a.attrs.clone())
            .unwrap_or_default();
        for (l, lv) in g.levels.iter().enumerate() {
            let lp = g.level_path(l);
            let mut la = Map::new();
            la.insert("grid_mapping".into(), json!("spatial_ref"));
            nodes.push((lp.clone(), attrs::group_meta(la)));
            for (b, band) in g.bands.iter().enumerate() {
                let in_attrs = product
                    .array(&band.input)
                    .map(|a| a.attrs.clone())
                    .unwrap_or_default();
                let sn = attrs::reflectance_standard_name(product_type.as_deref(), &in_attrs);
                let fill_attr = (!band.input_meta["fill_value"].is_null())
                    .then(|| attrs::fill_value_attr(band.dtype, &band.fill));
                let a = attrs::band_attrs(&in_attrs, sn, fill_attr, &lv.grid);
                let meta = attrs::array_meta(
                    &[lv.grid.height, lv.grid.width],
                    json!(band.dtype.v3_name()),
                    &[lv.chunk, lv.chunk],
                    band.fill.clone(),
                    vec![
                        attrs::bytes_codec(band.dtype.size()),
                        attrs::blosc_codec(band.dtype.size(), "shuffle"),
                    ],
                    a,
                    Some(vec!["y".into(), "x".into()]),
                );
                nodes.push((g.band_path(b, l), meta));
            }
            for (axis, n, in_attrs, in_meta) in [
                ("x", lv.grid.width, &x_attrs, &g.x_input.1),
                ("y", lv.grid.height, &y_attrs, &g.y_input.1),
            ] {
                let (dt, fill) = if l == 0 {
                    let dt = DType::from_numpy(in_meta["dtype"].as_str().unwrap_or(""))
                        .unwrap_or(DType::F64);
                    (dt, dt.v3_fill(&Value::Null).clone())
                } else {
                    (DType::F64, json!(0.0))
                };
                let fill = if dt.is_float() { json!(0.0) } else { fill };
                let meta = attrs::array_meta(
                    &[n],
                    json!(dt.v3_name()),
                    &[n],
                    fill,
                    vec![attrs::bytes_codec(dt.size())],
                    attrs::coord_attrs(in_attrs, axis),
                    Some(vec![axis.into()]),
                );
                nodes.push((format!("{lp}/{axis}"), meta));
            }
            nodes.push((
                format!("{lp}/spatial_ref"),
                attrs::spatial_ref_meta(&g.crs, &lv.grid),
            ));
        }
    }
    // parents before children, deterministic
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Plan {
        groups,
        carried,
        nodes,
        skipped,
    })
}

/// `--crs-groups`: give carried-over groups a `spatial_ref` grid mapping
/// (CRS of the converted groups, GeoTransform from the group's own x/y) and
/// `grid_mapping` on their (y, x) variables.
fn add_crs_groups(
    product: &Product,
    coords: &Coords,
    opts: &Options,
    groups: &[GroupPlan],
    selected: &[String],
    nodes: &mut Vec<(String, Value)>,
    carried: &mut Vec<CarryPlan>,
) -> Result<()> {
    let loc = &product.location;
    for g in &opts.crs_groups {
        let p = norm(g);
        if product.group(&p).is_none() {
            return Err(Error::input(
                format!("{loc}/{p}"),
                "--crs-groups: no such group in the product",
            ));
        }
        if selected.contains(&p) {
            return Err(Error::Usage(format!(
                "{p}: in both --groups and --crs-groups"
            )));
        }
        let band_attrs = product
            .children(&p)
            .find_map(|(_, n)| match n {
                Node::Array(a) if is_yx(&a.dims()) => Some(a.attrs.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let crs = crs_of(product, &p, &band_attrs)
            .or_else(|| groups.first().map(|g| g.crs.clone()))
            .ok_or_else(|| {
                Error::input(
                    format!("{loc}/{p}"),
                    "--crs-groups: no CRS in the group and no converted group to take it from",
                )
            })?;
        let (xp, yp) = (format!("{p}/x"), format!("{p}/y"));
        if product.array(&xp).is_none() || product.array(&yp).is_none() {
            return Err(Error::input(
                format!("{loc}/{p}"),
                "--crs-groups: the group has no x/y coordinates",
            ));
        }
        let grid = Grid::from_centres(&coords(&xp)?, &coords(&yp)?).ok_or_else(|| {
            Error::input(
                format!("{loc}/{p}"),
                "--crs-groups: x/y are not a regular grid",
            )
        })?;
        for (path, meta) in nodes.iter_mut() {
            let parent = path.rsplit_once('/').map(|(a, _)| a).unwrap_or("");
            if *path == p {
                meta["attributes"]["grid_mapping"] = json!("spatial_ref");
            } else if parent == p && meta["node_type"] == "array" {
                let dims = meta["dimension_names"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if dims.iter().any(|d| d == "x")
                    && dims.iter().any(|d| d == "y")
                    && !path.ends_with("/x")
                    && !path.ends_with("/y")
                {
                    meta["attributes"]["grid_mapping"] = json!("spatial_ref");
                }
            }
        }
        let sr = format!("{p}/spatial_ref");
        nodes.push((sr.clone(), attrs::spatial_ref_meta(&crs, &grid)));
        carried.push(CarryPlan {
            path: sr,
            input_meta: Value::Null,
            mode: CarryMode::GridMapping,
        });
    }
    Ok(())
}

impl Plan {
    /// The `zarr.json` planned for `path`.
    pub fn node(&self, path: &str) -> Option<&Value> {
        self.nodes.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    /// Output chunks of every band at every level.
    pub fn band_chunks(&self) -> u64 {
        self.groups
            .iter()
            .map(|g| g.chunks_per_band() * g.bands.len() as u64)
            .sum()
    }

    /// The task DAG. Task 0 writes metadata; the last task consolidates.
    pub fn tasks(&self, granularity: Granularity) -> Vec<TaskSpec> {
        let mut t = vec![TaskSpec {
            task: Task::Metadata,
            deps: vec![],
        }];
        for g in 0..self.groups.len() {
            t.push(TaskSpec {
                task: Task::Coords { group: g },
                deps: vec![0],
            });
        }
        // carried arrays first: their copies (I/O) overlap the band work
        for i in 0..self.carried.len() {
            t.push(TaskSpec {
                task: Task::Carry { index: i },
                deps: vec![0],
            });
        }
        // biggest bands first so small ones fill the tail
        let mut bands: Vec<(usize, usize)> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(g, gp)| (0..gp.bands.len()).map(move |b| (g, b)))
            .collect();
        bands.sort_by_key(|&(g, _)| {
            std::cmp::Reverse(
                self.groups[g].levels[0].grid.width * self.groups[g].levels[0].grid.height,
            )
        });
        for (g, b) in bands {
            match granularity {
                Granularity::Band => t.push(TaskSpec {
                    task: Task::Band { group: g, band: b },
                    deps: vec![0],
                }),
                Granularity::Chunk => self.chunk_tasks(g, b, &mut t),
            }
        }
        let all: Vec<usize> = (0..t.len()).collect();
        t.push(TaskSpec {
            task: Task::Consolidate,
            deps: all,
        });
        t
    }

    fn chunk_tasks(&self, g: usize, b: usize, t: &mut Vec<TaskSpec>) {
        let gp = &self.groups[g];
        let mut prev: Vec<Vec<usize>> = vec![];
        for (l, lv) in gp.levels.iter().enumerate() {
            let (rows, cols) = gp.chunk_grid(l);
            let mut ids = vec![vec![0usize; cols as usize]; rows as usize];
            for row in 0..rows {
                for col in 0..cols {
                    let deps = if l == 0 {
                        vec![0]
                    } else {
                        let pl = &gp.levels[l - 1];
                        let (prow_n, pcol_n) = gp.chunk_grid(l - 1);
                        let span = |i: u64, n_parent: u64, size_parent: u64| {
                            let a = (2 * i * lv.chunk) / pl.chunk;
                            let end = (2 * (i + 1) * lv.chunk).min(size_parent);
                            let b = end.div_ceil(pl.chunk).min(n_parent);
                            a..b
                        };
                        let mut d = vec![];
                        for pr in span(row, prow_n, pl.grid.height) {
                            for pc in span(col, pcol_n, pl.grid.width) {
                                d.push(prev[pr as usize][pc as usize]);
                            }
                        }
                        d
                    };
                    ids[row as usize][col as usize] = t.len();
                    t.push(TaskSpec {
                        task: Task::Chunk {
                            group: g,
                            band: b,
                            level: l,
                            row,
                            col,
                        },
                        deps,
                    });
                }
            }
            prev = ids;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::{ArrayNode, GroupNode};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A product held in memory: one 10 m group of two bands, x and y.
    fn product() -> Product {
        let arr = |shape: Vec<u64>, dtype: &str, attrs: Value| {
            Node::Array(ArrayNode {
                meta: json!({"zarr_format": 2, "shape": shape, "chunks": shape, "dtype": dtype,
                    "fill_value": 0, "order": "C", "compressor": null, "filters": null}),
                attrs: attrs.as_object().cloned().unwrap_or_default(),
            })
        };
        let band = json!({"_ARRAY_DIMENSIONS": ["y", "x"], "proj:epsg": 32632});
        let mut nodes = BTreeMap::new();
        for g in ["", "measurements", "measurements/r10m"] {
            nodes.insert(g.to_string(), Node::Group(GroupNode::default()));
        }
        let g = "measurements/r10m";
        nodes.insert(format!("{g}/b02"), arr(vec![40, 60], "<u2", band.clone()));
        nodes.insert(format!("{g}/b03"), arr(vec![40, 60], "<u2", band));
        nodes.insert(
            format!("{g}/x"),
            arr(vec![60], "<f8", json!({"_ARRAY_DIMENSIONS": ["x"]})),
        );
        nodes.insert(
            format!("{g}/y"),
            arr(vec![40], "<f8", json!({"_ARRAY_DIMENSIONS": ["y"]})),
        );
        Product {
            location: "mem".into(),
            nodes,
        }
    }

    #[test]
    fn plans_from_coordinates_handed_in_without_a_store() {
        let asked = Mutex::new(vec![]);
        let coords = |p: &str| -> Result<Vec<f64>> {
            asked.lock().unwrap().push(p.to_string());
            Ok(if p.ends_with("/x") {
                (0..60)
                    .map(|i| 600_000.0 + 10.0 * (i as f64 + 0.5))
                    .collect()
            } else {
                (0..40)
                    .map(|j| 5_000_000.0 - 10.0 * (j as f64 + 0.5))
                    .collect()
            })
        };
        let opts = Options {
            spatial_chunk: 32,
            min_dimension: 10,
            ..Default::default()
        };
        let plan = build(&product(), &coords, &opts).unwrap();
        assert_eq!(
            *asked.lock().unwrap(),
            ["measurements/r10m/x", "measurements/r10m/y"]
        );
        let g = &plan.groups[0];
        assert_eq!(g.path, "measurements/r10m");
        assert_eq!(g.bands.len(), 2);
        // 60×40 → 30×20 → 15×10, then the smaller side would drop below 10
        let sizes: Vec<(u64, u64)> = g
            .levels
            .iter()
            .map(|l| (l.grid.width, l.grid.height))
            .collect();
        assert_eq!(sizes, [(60, 40), (30, 20), (15, 10)]);
        assert!(plan
            .nodes
            .iter()
            .any(|(p, _)| p == "measurements/r10m/2/b03"));
        let tasks = plan.tasks(Granularity::Band);
        assert_eq!(
            tasks
                .iter()
                .filter(|t| matches!(t.task, Task::Band { .. }))
                .count(),
            2
        );
        // coordinates that do not fit the bands are an input error, not a panic
        let short = |_: &str| -> Result<Vec<f64>> { Ok(vec![0.0; 3]) };
        assert!(build(&product(), &short, &opts).is_err());
        let failing = |p: &str| -> Result<Vec<f64>> { Err(Error::input(p, "unreadable")) };
        let e = build(&product(), &failing, &opts).unwrap_err().to_string();
        assert!(e.contains("measurements/r10m/x: unreadable"), "{e}");
    }
}
