//! `info`: what a store holds — groups, arrays (shape, chunks, data type,
//! codecs, fill value), per spatial group its CRS, resolution and extent, and
//! multiscale levels. Serialises to the documented `--json` form.

use serde::Serialize;
use serde_json::{Map, Value};

use super::spatial::{self, CrsInfo, TileMatrix};
use super::{display, name_of, Kind, Tree};
use crate::store::Store;

/// The whole summary (`info --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// The store as named by the user.
    pub location: String,
    /// 2 (EOPF input) or 3 (GeoZarr).
    pub zarr_format: u8,
    /// Whether the root has consolidated metadata.
    pub consolidated: bool,
    /// Number of groups, the root included.
    pub group_count: usize,
    /// Number of arrays.
    pub array_count: usize,
    /// The root group and everything below it.
    pub root: GroupInfo,
}

/// A group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupInfo {
    /// `/a/b`.
    pub path: String,
    /// Last path component ("" for the root).
    pub name: String,
    /// Group attributes.
    pub attributes: Map<String, Value>,
    /// Georeferencing, for groups holding (y, x) data variables.
    pub spatial: Option<Spatial>,
    /// The multiscale pyramid, for groups with a `multiscales` attribute.
    pub multiscales: Option<MultiscalesInfo>,
    /// Subgroups.
    pub groups: Vec<GroupInfo>,
    /// Arrays.
    pub arrays: Vec<ArrayInfo>,
}

/// An array.
#[derive(Debug, Clone, Serialize)]
pub struct ArrayInfo {
    /// `/a/b/name`.
    pub path: String,
    /// Array name.
    pub name: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Chunk shape.
    pub chunks: Vec<u64>,
    /// Data type (Zarr v3 name where there is one).
    pub dtype: String,
    /// Codec chain, short form (`bytes`, `blosc(zstd,3,shuffle)`).
    pub codecs: Vec<String>,
    /// Zarr fill value.
    pub fill_value: Value,
    /// Dimension names.
    pub dimensions: Vec<String>,
    /// Array attributes.
    pub attributes: Map<String, Value>,
}

/// A spatial group's grid.
#[derive(Debug, Clone, Serialize)]
pub struct Spatial {
    /// CRS, when stated.
    pub crs: Option<CrsInfo>,
    /// Grid variable shape: [height, width].
    pub shape: [u64; 2],
    /// Pixel size [x, y] (positive).
    pub resolution: Option<[f64; 2]>,
    /// [left, bottom, right, top].
    pub extent: Option<[f64; 4]>,
    /// Where resolution and extent come from: `GeoTransform`,
    /// `proj:transform` or `coordinates`.
    pub source: Option<String>,
}

/// A multiscale group's levels.
#[derive(Debug, Clone, Serialize)]
pub struct MultiscalesInfo {
    /// Tile matrix set id.
    pub tile_matrix_set: Option<String>,
    /// CRS URI of the tile matrix set.
    pub crs: Option<String>,
    /// Resampling method.
    pub resampling_method: Option<String>,
    /// One entry per level group or listed tile matrix.
    pub levels: Vec<LevelInfo>,
}

/// One level of a pyramid.
#[derive(Debug, Clone, Serialize)]
pub struct LevelInfo {
    /// Level id ("0", "1"…).
    pub id: String,
    /// `/…/r10m/1` when the level group exists.
    pub path: Option<String>,
    /// [height, width] of the level's grid variables.
    pub shape: Option<[u64; 2]>,
    /// Tile matrix cell size.
    pub cell_size: Option<f64>,
    /// Tile matrix [width, height] in tiles.
    pub matrix: Option<[u64; 2]>,
    /// Tile [width, height] in pixels.
    pub tile: Option<[u64; 2]>,
}

/// Summarise a tree. Reads only metadata, except a group's small `x`/`y`
/// coordinates when neither a GeoTransform nor `proj:transform` states its grid.
pub fn build(tree: &Tree, store: &Store) -> Info {
    let groups = tree
        .nodes
        .values()
        .filter(|n| n.kind == Kind::Group)
        .count();
    Info {
        location: tree.location.clone(),
        zarr_format: tree.zarr_format,
        consolidated: tree.consolidated,
        group_count: groups,
        array_count: tree.nodes.len() - groups,
        root: group_info(tree, store, ""),
    }
}

fn group_info(tree: &Tree, store: &Store, path: &str) -> GroupInfo {
    let mut groups = vec![];
    let mut arrays = vec![];
    for (p, n) in tree.children(path) {
        match n.kind {
            Kind::Group => groups.push(group_info(tree, store, p)),
            Kind::Array => arrays.push(ArrayInfo {
                path: display(p),
                name: name_of(p).to_string(),
                shape: n.shape(),
                chunks: n.chunks(),
                dtype: n.dtype(),
                codecs: n.codecs(),
                fill_value: n.fill_value(),
                dimensions: n.dims(),
                attributes: n.attrs.clone(),
            }),
        }
    }
    let node = &tree.nodes[path];
    GroupInfo {
        path: display(path),
        name: name_of(path).to_string(),
        attributes: node.attrs.clone(),
        spatial: spatial_info(tree, store, path),
        multiscales: multiscales_info(tree, path),
        groups,
        arrays,
    }
}

fn spatial_info(tree: &Tree, store: &Store, group: &str) -> Option<Spatial> {
    let shape = spatial::grid_shape(tree, group)?;
    let [h, w] = shape;
    let mut grid = spatial::stated_transform(tree, group).map(|(t, s)| (t, s.to_string()));
    if grid.is_none() {
        let x = tree.read_1d(store, &crate::path::join(group, "x")).ok();
        let y = tree.read_1d(store, &crate::path::join(group, "y")).ok();
        if let Some(g) = x
            .zip(y)
            .and_then(|(x, y)| crate::geo::grid::Grid::from_centres(&x, &y))
        {
            grid = Some(([g.left, g.res_x, g.top, g.res_y], "coordinates".into()));
        }
    }
    let (resolution, extent, source) = match grid {
        Some(([left, rx, top, ry], src)) => (
            Some([rx, ry]),
            Some([left, top - ry * h as f64, left + rx * w as f64, top]),
            Some(src),
        ),
        None => (None, None, None),
    };
    Some(Spatial {
        crs: spatial::crs_of(tree, group),
        shape,
        resolution,
        extent,
        source,
    })
}

fn multiscales_info(tree: &Tree, group: &str) -> Option<MultiscalesInfo> {
    let m = spatial::multiscales(&tree.nodes[group].attrs)?;
    let groups = spatial::level_groups(tree, group);
    let mut ids: Vec<String> = m.tile_matrices.iter().map(|t| t.id.clone()).collect();
    for (l, _) in &groups {
        if !ids.contains(&l.to_string()) {
            ids.push(l.to_string());
        }
    }
    let levels = ids
        .into_iter()
        .map(|id| {
            let tm: Option<&TileMatrix> = m.tile_matrices.iter().find(|t| t.id == id);
            let path = groups
                .iter()
                .find(|(l, _)| l.to_string() == id)
                .map(|(_, p)| p.clone());
            LevelInfo {
                shape: path.as_deref().and_then(|p| spatial::grid_shape(tree, p)),
                path: path.as_deref().map(display),
                cell_size: tm.and_then(|t| t.cell_size),
                matrix: tm.and_then(|t| t.matrix),
                tile: tm.and_then(|t| t.tile),
                id,
            }
        })
        .collect();
    Some(MultiscalesInfo {
        tile_matrix_set: m.tile_matrix_set,
        crs: m.crs,
        resampling_method: m.resampling_method,
        levels,
    })
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn dims_text(v: &[u64]) -> String {
    let parts: Vec<String> = v.iter().map(u64::to_string).collect();
    format!("({})", parts.join(", "))
}

/// CRS as one phrase: `EPSG:32632 (WGS 84 / UTM zone 32N)`.
pub fn crs_text(c: &CrsInfo) -> String {
    match (c.epsg, &c.name) {
        (Some(e), Some(n)) => format!("EPSG:{e} ({n})"),
        (Some(e), None) => format!("EPSG:{e}"),
        (None, Some(n)) => n.clone(),
        (None, None) => "unknown".into(),
    }
}

/// One line describing an array.
pub fn array_line(a: &ArrayInfo) -> String {
    format!(
        "{} {} {}  chunks {}  dims [{}]  codecs {}  fill {}",
        a.name,
        a.dtype,
        dims_text(&a.shape),
        dims_text(&a.chunks),
        a.dimensions.join(", "),
        if a.codecs.is_empty() {
            "none".to_string()
        } else {
            a.codecs.join("+")
        },
        a.fill_value
    )
}

/// One line describing a spatial group's grid.
pub fn spatial_line(s: &Spatial) -> String {
    let mut out = format!(
        "grid {}×{}  CRS {}",
        s.shape[1],
        s.shape[0],
        s.crs
            .as_ref()
            .map(crs_text)
            .unwrap_or_else(|| "not stated".into())
    );
    if let Some([rx, ry]) = s.resolution {
        out += &format!("  resolution {} × {}", num(rx), num(ry));
    }
    if let Some(e) = s.extent {
        out += &format!(
            "  extent [{}, {}, {}, {}]",
            num(e[0]),
            num(e[1]),
            num(e[2]),
            num(e[3])
        );
    }
    if let Some(src) = &s.source {
        out += &format!(" (from {src})");
    }
    out
}

/// One line per level of a pyramid.
pub fn level_line(l: &LevelInfo) -> String {
    let mut out = format!("level {}", l.id);
    match l.shape {
        Some([h, w]) => out += &format!(": {w}×{h}"),
        None if l.path.is_none() => out += ": MISSING level group",
        None => {}
    }
    if let Some(c) = l.cell_size {
        out += &format!("  cell {}", num(c));
    }
    if let Some([mw, mh]) = l.matrix {
        out += &format!("  tiles {mw}×{mh}");
    }
    if let Some([tw, th]) = l.tile {
        out += &format!(" of {tw}×{th}");
    }
    out
}

/// The readable tree printed by `info`.
pub fn render_text(info: &Info) -> String {
    let mut out = format!(
        "{}: Zarr v{}, {} groups, {} arrays, {}\n",
        info.location,
        info.zarr_format,
        info.group_count,
        info.array_count,
        if info.consolidated {
            "consolidated metadata"
        } else {
            "no consolidated metadata"
        }
    );
    fn group(g: &GroupInfo, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let name = if g.path == "/" {
            "/".to_string()
        } else {
            format!("{}/", g.name)
        };
        out.push_str(&format!("{pad}{name}\n"));
        if let Some(m) = &g.multiscales {
            out.push_str(&format!(
                "{pad}  multiscales: {} ({} levels, {})\n",
                m.tile_matrix_set.as_deref().unwrap_or("no tile matrix set"),
                m.levels.len(),
                m.resampling_method
                    .as_deref()
                    .unwrap_or("resampling not stated")
            ));
            for l in &m.levels {
                out.push_str(&format!("{pad}    {}\n", level_line(l)));
            }
        }
        if let Some(s) = &g.spatial {
            out.push_str(&format!("{pad}  {}\n", spatial_line(s)));
        }
        for a in &g.arrays {
            out.push_str(&format!("{pad}  {}\n", array_line(a)));
        }
        for c in &g.groups {
            group(c, depth + 1, out);
        }
    }
    group(&info.root, 0, &mut out);
    out
}
