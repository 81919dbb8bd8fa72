//! `info`: what a store holds — groups, arrays (shape, chunks, data type,
//! codecs, fill value), per spatial group its CRS, resolution and extent, and
//! multiscale levels: GeoZarr 0.4 tile matrices, or the `conventions`
//! profile's `multiscales` layout. Serialises to the documented `--json` form.

use serde::Serialize;
use serde_json::{Map, Value};

pub use super::conventions::PixelSource;
use super::conventions::{self, Grid};
use super::spatial::{self, CrsInfo, TileMatrix};
use super::{display, name_of, Kind, Tree};
use crate::path::join;
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
    /// The multiscale pyramid, for groups with a GeoZarr 0.4 `multiscales`
    /// attribute (a tile matrix set).
    pub multiscales: Option<MultiscalesInfo>,
    /// The multiscale pyramid, for groups with a zarr-conventions
    /// `multiscales` layout (the `conventions` profile).
    pub layout: Option<LayoutInfo>,
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
    /// Where resolution and extent come from: `spatial:transform`,
    /// `GeoTransform`, `proj:transform` or `coordinates`.
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

/// A multiscale group of the `conventions` profile.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutInfo {
    /// The group's `resampling_method`.
    pub resampling_method: Option<String>,
    /// CRS (`proj:code`, else the levels' grid mapping).
    pub crs: Option<CrsInfo>,
    /// The group's `spatial:bbox` [xmin, ymin, xmax, ymax].
    pub bbox: Option<[f64; 4]>,
    /// The layout entries, in order.
    pub levels: Vec<LayoutLevel>,
}

/// One layout entry.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutLevel {
    /// `asset` (the level group's name, `r20m`).
    pub asset: String,
    /// `/…/r20m` when the level group exists.
    pub path: Option<String>,
    /// [height, width] of its bands (else its `spatial:shape`).
    pub shape: Option<[u64; 2]>,
    /// Pixel size [x, y].
    pub pixel_size: Option<[f64; 2]>,
    /// Where the pixel size comes from.
    pub pixel_source: Option<PixelSource>,
    /// `derived_from`.
    pub derived_from: Option<String>,
    /// `transform.scale` relative to `derived_from`.
    pub scale: Option<Vec<f64>>,
    /// The level's `resampling_method`, if it has its own.
    pub resampling_method: Option<String>,
    /// The level's `spatial:bbox`.
    pub bbox: Option<[f64; 4]>,
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
    let layout = layout_info(tree, path, &groups);
    GroupInfo {
        path: display(path),
        name: name_of(path).to_string(),
        attributes: node.attrs.clone(),
        spatial: spatial_info(tree, store, path),
        multiscales: if layout.is_some() {
            None
        } else {
            multiscales_info(tree, path)
        },
        layout,
        groups,
        arrays,
    }
}

/// The `conventions` layout of a group, its levels described from their
/// metadata (pixel size: `spatial:transform`, else the level's own grid as
/// `info` found it from its grid mapping or coordinates, else its `r{N}m`
/// name).
fn layout_info(tree: &Tree, group: &str, children: &[GroupInfo]) -> Option<LayoutInfo> {
    let attrs = &tree.nodes[group].attrs;
    let l = conventions::layout(attrs)?;
    let levels = l
        .entries
        .iter()
        .map(|e| {
            let lp = join(group, &e.asset);
            let exists = tree.get(&lp).is_some_and(|n| n.kind == Kind::Group);
            let grid = Grid::of(tree, &lp, Some(e), None);
            let own = children
                .iter()
                .find(|c| c.path == display(&lp))
                .and_then(|c| c.spatial.as_ref())
                .filter(|s| matches!(s.source.as_deref(), Some("GeoTransform" | "coordinates")))
                .and_then(|s| Some((s.resolution?, s.source.clone()?)));
            let pixel = match (grid.pixel(), own) {
                (Some((p, src)), _) if src != PixelSource::Name => Some((p, src)),
                (_, Some((p, src))) => Some((
                    p,
                    if src == "coordinates" {
                        PixelSource::Coordinates
                    } else {
                        PixelSource::GridMapping
                    },
                )),
                (p, None) => p,
            };
            LayoutLevel {
                asset: e.asset.clone(),
                path: exists.then(|| display(&lp)),
                shape: if exists { grid.shape() } else { e.shape },
                pixel_size: pixel.map(|p| p.0),
                pixel_source: pixel.map(|p| p.1),
                derived_from: e.derived_from.clone(),
                scale: e.scale.clone(),
                resampling_method: e.resampling_method.clone(),
                bbox: grid.bbox_attr,
            }
        })
        .collect();
    let crs = spatial::crs_of(tree, group).or_else(|| {
        l.entries
            .first()
            .and_then(|e| spatial::crs_of(tree, &join(group, &e.asset)))
    });
    Some(LayoutInfo {
        resampling_method: l.resampling_method,
        crs,
        bbox: conventions::bbox4(attrs.get("spatial:bbox")),
        levels,
    })
}

fn spatial_info(tree: &Tree, store: &Store, group: &str) -> Option<Spatial> {
    let shape = spatial::grid_shape(tree, group)?;
    let [h, w] = shape;
    // a `conventions` level states its grid in spatial:transform (north-up)
    let mut grid = conventions::transform6(tree.nodes[group].attrs.get("spatial:transform"))
        .filter(|t| t[1] == 0.0 && t[3] == 0.0 && t[0] > 0.0 && t[4] < 0.0)
        .map(|t| ([t[2], t[0], t[5], -t[4]], "spatial:transform".to_string()));
    if grid.is_none() {
        grid = spatial::stated_transform(tree, group).map(|(t, s)| (t, s.to_string()));
    }
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

/// The header line of a `conventions` layout.
pub fn layout_header(m: &LayoutInfo) -> String {
    let mut out = format!(
        "multiscales layout: {} levels, {}",
        m.levels.len(),
        m.resampling_method
            .as_deref()
            .unwrap_or("resampling not stated")
    );
    out += &format!(
        "  CRS {}",
        m.crs
            .as_ref()
            .map(crs_text)
            .unwrap_or_else(|| "not stated".into())
    );
    if let Some(b) = m.bbox {
        out += &format!("  bbox {}", bbox_text(&b));
    }
    out
}

fn bbox_text(b: &[f64; 4]) -> String {
    format!(
        "[{}, {}, {}, {}]",
        num(b[0]),
        num(b[1]),
        num(b[2]),
        num(b[3])
    )
}

/// One line per level of a `conventions` layout.
pub fn layout_level_line(l: &LayoutLevel) -> String {
    let mut out = l.asset.clone();
    match l.shape {
        Some([h, w]) if l.path.is_some() => out += &format!(": {w}×{h}"),
        Some([h, w]) => out += &format!(": MISSING level group (layout says {w}×{h})"),
        None if l.path.is_none() => out += ": MISSING level group",
        None => {}
    }
    if let (Some([px, py]), Some(src)) = (l.pixel_size, l.pixel_source) {
        if px == py {
            out += &format!("  pixel {}", num(px));
        } else {
            out += &format!("  pixel {} × {}", num(px), num(py));
        }
        out += &format!(" ({})", src.as_str());
    }
    if let Some(d) = &l.derived_from {
        out += &format!("  ← {d}");
        if let Some(s) = &l.scale {
            let parts: Vec<String> = s.iter().map(|v| num(*v)).collect();
            out += &format!(" ×[{}]", parts.join(", "));
        }
    }
    if let Some(r) = &l.resampling_method {
        out += &format!("  {r}");
    }
    if let Some(b) = l.bbox {
        out += &format!("  bbox {}", bbox_text(&b));
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
        if let Some(m) = &g.layout {
            out.push_str(&format!("{pad}  {}\n", layout_header(m)));
            for l in &m.levels {
                out.push_str(&format!("{pad}    {}\n", layout_level_line(l)));
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
