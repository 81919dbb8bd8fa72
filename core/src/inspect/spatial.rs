//! Georeferencing of a group as its metadata states it: data variables on
//! (y, x), the grid-mapping variable, CRS, GeoTransform, and the
//! `multiscales` tile matrix set.

use serde::Serialize;
use serde_json::Value;

use super::{name_of, wkt, Kind, Tree};
use crate::path::join;

/// A CRS as far as the metadata tells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrsInfo {
    /// EPSG code.
    pub epsg: Option<u32>,
    /// CRS name ("WGS 84 / UTM zone 32N").
    pub name: Option<String>,
}

/// Arrays of a group whose last two dimensions are (y, x): data variables on the grid.
pub fn grid_vars<'a>(tree: &'a Tree, group: &str) -> Vec<&'a str> {
    tree.arrays_in(group)
        .filter(|(_, n)| {
            let d = n.dims();
            d.len() >= 2 && d[d.len() - 2] == "y" && d[d.len() - 1] == "x"
        })
        .map(|(p, _)| p)
        .collect()
}

/// The grid-mapping variable of a group: named by a grid variable's
/// `grid_mapping`, else any array with `grid_mapping_name`.
pub fn grid_mapping_var(tree: &Tree, group: &str) -> Option<String> {
    for v in grid_vars(tree, group) {
        if let Some(gm) = tree.nodes[v].attr_str("grid_mapping") {
            let p = join(group, gm);
            if tree.array(&p).is_some() {
                return Some(p);
            }
        }
    }
    tree.arrays_in(group)
        .find(|(_, n)| n.attrs.contains_key("grid_mapping_name"))
        .map(|(p, _)| p.to_string())
}

/// WKT of a grid-mapping variable (`crs_wkt`, else `spatial_ref`).
pub fn wkt_of(tree: &Tree, gm: &str) -> Option<String> {
    let n = tree.get(gm)?;
    n.attr_str("crs_wkt")
        .or_else(|| n.attr_str("spatial_ref"))
        .map(String::from)
}

fn epsg_attr(v: &Value) -> Option<u32> {
    v.as_u64()
        .or_else(|| v.as_str()?.trim_start_matches("EPSG:").parse().ok())
        .and_then(|c| u32::try_from(c).ok())
}

/// The group's CRS: from its grid mapping, else the `proj:` attributes of
/// its grid variables or of the group itself (EOPF inputs).
pub fn crs_of(tree: &Tree, group: &str) -> Option<CrsInfo> {
    let from_wkt = |w: &str, epsg: Option<u32>| {
        let parsed = wkt::parse(w).ok();
        CrsInfo {
            epsg: epsg.or_else(|| parsed.as_ref().and_then(|p| p.epsg)),
            name: parsed.map(|p| p.name),
        }
    };
    if let Some(w) = grid_mapping_var(tree, group).and_then(|gm| wkt_of(tree, &gm)) {
        return Some(from_wkt(&w, None));
    }
    let mut sources: Vec<&serde_json::Map<String, Value>> = grid_vars(tree, group)
        .into_iter()
        .map(|v| &tree.nodes[v].attrs)
        .collect();
    if let Some(g) = tree.get(group) {
        sources.push(&g.attrs);
    }
    for a in sources {
        let epsg = a
            .get("proj:epsg")
            .or_else(|| a.get("proj:code"))
            .and_then(epsg_attr);
        let w = a.get("proj:wkt2").and_then(Value::as_str);
        match (epsg, w) {
            (_, Some(w)) => return Some(from_wkt(w, epsg)),
            (Some(code), None) => {
                let name = crate::geo::crs::utm_wkt(code)
                    .and_then(|w| wkt::parse(&w).ok())
                    .map(|p| p.name);
                return Some(CrsInfo {
                    epsg: Some(code),
                    name,
                });
            }
            _ => {}
        }
    }
    None
}

/// Parse a GDAL `GeoTransform` attribute (six numbers).
pub fn parse_geotransform(v: &Value) -> Result<[f64; 6], String> {
    let text = v.as_str().ok_or("GeoTransform is not a string")?;
    let nums: Vec<f64> = text
        .split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .map_err(|_| format!("GeoTransform {text:?}: {t:?} is not a number"))
        })
        .collect::<Result<_, _>>()?;
    <[f64; 6]>::try_from(nums).map_err(|_| format!("GeoTransform {text:?} does not hold 6 numbers"))
}

/// A group's grid as stated by metadata: GeoTransform (CF grid mapping),
/// else `proj:transform` of a grid variable. Returns (left, res_x, top, res_y, source).
pub fn stated_transform(tree: &Tree, group: &str) -> Option<([f64; 4], &'static str)> {
    if let Some(gm) = grid_mapping_var(tree, group) {
        if let Some(Ok(g)) = tree.nodes[&gm]
            .attrs
            .get("GeoTransform")
            .map(parse_geotransform)
        {
            return Some(([g[0], g[1], g[3], -g[5]], "GeoTransform"));
        }
    }
    for v in grid_vars(tree, group) {
        let t = tree.nodes[v]
            .attrs
            .get("proj:transform")
            .and_then(Value::as_array);
        if let Some(t) = t {
            let n: Vec<f64> = t.iter().filter_map(Value::as_f64).collect();
            if n.len() >= 6 {
                return Some(([n[2], n[0], n[5], -n[4]], "proj:transform"));
            }
        }
    }
    None
}

/// One tile matrix of a `multiscales` tile matrix set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TileMatrix {
    /// Matrix id (= level group name).
    pub id: String,
    /// Cell size in CRS units.
    pub cell_size: Option<f64>,
    /// Upper-left corner.
    pub point_of_origin: Option<[f64; 2]>,
    /// Tile width and height.
    pub tile: Option<[u64; 2]>,
    /// Matrix width and height (tiles).
    pub matrix: Option<[u64; 2]>,
}

/// The `multiscales` attribute of a group, as far as it parses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Multiscales {
    /// Tile matrix set id.
    pub tile_matrix_set: Option<String>,
    /// CRS URI of the tile matrix set.
    pub crs: Option<String>,
    /// `resampling_method`.
    pub resampling_method: Option<String>,
    /// The tile matrices, in order.
    pub tile_matrices: Vec<TileMatrix>,
}

/// Parse a group's `multiscales` attribute (None when absent).
pub fn multiscales(attrs: &serde_json::Map<String, Value>) -> Option<Multiscales> {
    let m = attrs.get("multiscales")?;
    let tms = &m["tile_matrix_set"];
    let s = |v: &Value| v.as_str().map(String::from);
    let f2 = |v: &Value| -> Option<[f64; 2]> {
        let a = v.as_array()?;
        Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])
    };
    let u2 = |a: &Value, b: &Value| Some([a.as_u64()?, b.as_u64()?]);
    let tile_matrices = tms["tileMatrices"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| TileMatrix {
                    id: t["id"]
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| t["id"].to_string()),
                    cell_size: t["cellSize"].as_f64(),
                    point_of_origin: f2(&t["pointOfOrigin"]),
                    tile: u2(&t["tileWidth"], &t["tileHeight"]),
                    matrix: u2(&t["matrixWidth"], &t["matrixHeight"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Multiscales {
        tile_matrix_set: s(&tms["id"]),
        crs: s(&tms["crs"]),
        resampling_method: s(&m["resampling_method"]),
        tile_matrices,
    })
}

/// EPSG code of an OGC CRS URI (`http://www.opengis.net/def/crs/EPSG/0/32632`) or `EPSG:n`.
pub fn epsg_of_uri(uri: &str) -> Option<u32> {
    if let Some(i) = uri.find("/EPSG/") {
        return uri[i + 6..].rsplit('/').next()?.parse().ok();
    }
    uri.strip_prefix("EPSG:")?.parse().ok()
}

/// Level subgroups of a multiscale group (children named by an integer), sorted by level.
pub fn level_groups(tree: &Tree, group: &str) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = tree
        .children(group)
        .filter(|(_, n)| n.kind == Kind::Group)
        .filter_map(|(p, _)| Some((name_of(p).parse().ok()?, p.to_string())))
        .collect();
    v.sort();
    v
}

/// (height, width) of a group's grid: the y/x extent of its first grid variable.
pub fn grid_shape(tree: &Tree, group: &str) -> Option<[u64; 2]> {
    let v = *grid_vars(tree, group).first()?;
    let s = tree.nodes[v].shape();
    (s.len() >= 2).then(|| [s[s.len() - 2], s[s.len() - 1]])
}
