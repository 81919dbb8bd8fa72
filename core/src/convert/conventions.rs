//! Planning for the `conventions` profile (docs/conventions-profile.md):
//! sibling `r{N}m` levels under each multiscale group, described by the
//! zarr-conventions `multiscales` v1, `spatial:` and `proj:` attributes.
//!
//! Each band of a multiscale group becomes one or more *chains*: a native
//! level read from the input followed by the levels derived from it, up to
//! the next level where the input has the band again. Chains with the same
//! levels form one [`GroupPlan`], so the engine streams them like any
//! pyramid.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::convert::attrs;
use crate::convert::native::{
    band_meta, coord_nodes, decode_to_float32, decoded_attrs, has_bands, native_group, Native,
};
use crate::convert::plan::{BandPlan, Coords, GroupPlan, LevelPlan, Options};
use crate::geo::crs::Crs;
use crate::geo::grid::Grid;
use crate::product::{Node, Product};
use crate::{Error, Result};

/// Resolutions (metres) of the levels, finest first: the input's 10, 20 and
/// 60 m, then the derived ones.
pub(crate) const LADDER: [u64; 6] = [10, 20, 60, 120, 360, 720];

/// `zarr_conventions` entry of the multiscales convention.
pub(crate) fn multiscales_convention() -> Value {
    json!({
        "schema_url": "https://raw.githubusercontent.com/zarr-conventions/multiscales/refs/tags/v1/schema.json",
        "spec_url": "https://github.com/zarr-conventions/multiscales/blob/v1/README.md",
        "uuid": "d35379db-88df-4056-af3a-620245f8e347",
        "name": "multiscales",
        "description": "Multiscale layout of zarr datasets"
    })
}

/// `zarr_conventions` entry of the spatial convention.
pub(crate) fn spatial_convention() -> Value {
    json!({
        "schema_url": "https://raw.githubusercontent.com/zarr-conventions/spatial/refs/tags/v1/schema.json",
        "spec_url": "https://github.com/zarr-conventions/spatial/blob/v1/README.md",
        "uuid": "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4",
        "name": "spatial:",
        "description": "Spatial coordinate information"
    })
}

/// `zarr_conventions` entry of the geo-proj convention.
pub(crate) fn proj_convention() -> Value {
    json!({
        "schema_url": "https://raw.githubusercontent.com/zarr-experimental/geo-proj/refs/tags/v1/schema.json",
        "spec_url": "https://github.com/zarr-experimental/geo-proj/blob/v1/README.md",
        "uuid": "f17cb550-5864-4468-aeb7-f3180cfb622f",
        "name": "proj:",
        "description": "Coordinate reference system information for geospatial data"
    })
}

/// `proj:code` (`EPSG:n`) or, without a code, `proj:wkt2`.
pub(crate) fn proj_attrs(crs: &Crs, a: &mut Map<String, Value>) {
    match crs.epsg {
        Some(code) => a.insert("proj:code".into(), json!(format!("EPSG:{code}"))),
        None => a.insert("proj:wkt2".into(), json!(crs.wkt)),
    };
}

/// The resolution of a level group named `r{N}m`.
/// One `multiscales.layout` entry: level `asset` on `grid`, derived from
/// `parent` (its name and grid) by the ratio of their resolutions.
fn layout_entry(asset: &str, grid: &Grid, parent: Option<(&str, &Grid)>) -> Value {
    let mut e = Map::new();
    e.insert("asset".into(), json!(asset));
    let (sy, sx) = match parent {
        Some((name, p)) => {
            e.insert("derived_from".into(), json!(name));
            (grid.res_y / p.res_y, grid.res_x / p.res_x)
        }
        None => (1.0, 1.0),
    };
    e.insert(
        "transform".into(),
        json!({"scale": [sy, sx], "translation": [0.0, 0.0]}),
    );
    e.insert("spatial:shape".into(), json!([grid.height, grid.width]));
    e.insert("spatial:transform".into(), json!(grid.affine()));
    Value::Object(e)
}

/// The `multiscales.layout` of a chain of levels (name and grid), each
/// derived from the one before.
pub(crate) fn layout(levels: &[(&str, Grid)]) -> Vec<Value> {
    levels
        .iter()
        .enumerate()
        .map(|(i, (name, grid))| {
            let parent = i.checked_sub(1).map(|p| (levels[p].0, &levels[p].1));
            layout_entry(name, grid, parent)
        })
        .collect()
}

/// The attributes a multiscale group adds: the three conventions, its
/// `multiscales` (levels as for [`layout`], resampled by `rule`), its CRS
/// and the extent of its first level.
pub(crate) fn multiscale_attrs(
    a: &mut Map<String, Value>,
    levels: &[(&str, Grid)],
    rule: &str,
    crs: &Crs,
) {
    a.insert(
        "zarr_conventions".into(),
        json!([
            multiscales_convention(),
            spatial_convention(),
            proj_convention()
        ]),
    );
    a.insert(
        "multiscales".into(),
        json!({"layout": layout(levels), "resampling_method": rule}),
    );
    proj_attrs(crs, a);
    a.insert("spatial:dimensions".into(), json!(["y", "x"]));
    if let Some((_, g)) = levels.first() {
        a.insert("spatial:bbox".into(), json!(g.bbox()));
    }
    a.insert("spatial:registration".into(), json!("pixel"));
}

/// The attributes a level group adds: the spatial and proj conventions,
/// its grid and CRS.
pub(crate) fn level_attrs(a: &mut Map<String, Value>, grid: &Grid, crs: &Crs) {
    a.insert(
        "zarr_conventions".into(),
        json!([spatial_convention(), proj_convention()]),
    );
    a.insert("spatial:dimensions".into(), json!(["y", "x"]));
    a.insert("spatial:shape".into(), json!([grid.height, grid.width]));
    a.insert("spatial:transform".into(), json!(grid.affine()));
    a.insert("spatial:bbox".into(), json!(grid.bbox()));
    a.insert("spatial:registration".into(), json!("pixel"));
    proj_attrs(crs, a);
}

fn resolution_of(name: &str) -> Option<u64> {
    name.strip_prefix('r')?.strip_suffix('m')?.parse().ok()
}

/// The resolution groups (`r{N}m` with 2-D bands) of `group`, finest first.
fn resolution_groups(product: &Product, group: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = product
        .children(group)
        .filter(|(_, n)| matches!(n, Node::Group(_)))
        .filter_map(|(name, _)| {
            let p = crate::path::join(group, name);
            Some((resolution_of(name)?, p))
        })
        .filter(|(_, p)| has_bands(product, p))
        .collect();
    out.sort();
    out
}

/// The multiscale groups to write: `--groups` (a multiscale group, or one
/// of its resolution groups), by default every group with resolution groups.
pub(crate) fn select(product: &Product, opts: &Options) -> Result<Vec<String>> {
    let loc = &product.location;
    let candidates: Vec<String> = product
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n, Node::Group(_)))
        .map(|(p, _)| p.clone())
        .filter(|p| !resolution_groups(product, p).is_empty())
        .collect();
    match &opts.groups {
        Some(gs) if !gs.is_empty() => {
            let mut out = vec![];
            for g in gs {
                let p = g.trim_matches('/').to_string();
                let m = if candidates.contains(&p) {
                    p
                } else {
                    let parent = crate::path::parent_of(&p).to_string();
                    if candidates.contains(&parent)
                        && resolution_groups(product, &parent)
                            .iter()
                            .any(|(_, r)| *r == p)
                    {
                        parent
                    } else {
                        let what = if product.group(&p).is_none() {
                            "no such group in the product"
                        } else {
                            "not a group of r{N}m resolution groups with (y, x) bands, nor one of those"
                        };
                        return Err(Error::input(format!("{loc}/{p}"), what));
                    }
                };
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            Ok(out)
        }
        _ if candidates.is_empty() => Err(Error::input(
            loc,
            "no groups of r{N}m resolution groups with (y, x) bands; name them with --groups",
        )),
        _ => Ok(candidates),
    }
}

/// One level of a multiscale group.
struct Level {
    res: u64,
    name: String,
    grid: Grid,
    /// Index into the natives, when the input has this level.
    native: Option<usize>,
    /// Cell size relative to the previous level, when an integer.
    factor: Option<u64>,
}

/// What planning a multiscale group yields.
pub(crate) struct Planned {
    /// Band chains, as groups the engine runs.
    pub(crate) groups: Vec<GroupPlan>,
    /// Output `zarr.json`s of the multiscale groups, levels, bands and coordinates.
    pub(crate) nodes: Vec<(String, Value)>,
    /// Input nodes these replace (not carried over).
    pub(crate) consumed: Vec<String>,
}

/// Plan every selected multiscale group.
pub(crate) fn plan(product: &Product, coords: &Coords, opts: &Options) -> Result<Planned> {
    let mut out = Planned {
        groups: vec![],
        nodes: vec![],
        consumed: vec![],
    };
    for m in select(product, opts)? {
        plan_multiscale(product, coords, &m, opts, &mut out)?;
    }
    Ok(out)
}

fn plan_multiscale(
    product: &Product,
    coords: &Coords,
    m: &str,
    opts: &Options,
    out: &mut Planned,
) -> Result<()> {
    let loc = &product.location;
    let res_groups = resolution_groups(product, m);
    let mut natives: Vec<Native> = res_groups
        .iter()
        .map(|(_, p)| native_group(product, coords, p))
        .collect::<Result<_>>()?;
    if opts.float32 {
        for n in &mut natives {
            decode_to_float32(product, &mut n.bands);
        }
    }
    // the levels: native ones and the ladder's coarser ones
    let finest = res_groups[0].0;
    let mut resolutions: Vec<u64> = res_groups.iter().map(|(r, _)| *r).collect();
    resolutions.extend(LADDER.iter().filter(|r| **r > finest));
    resolutions.sort();
    resolutions.dedup();
    let mut levels: Vec<Level> = vec![];
    for res in resolutions {
        let native = res_groups.iter().position(|(r, _)| *r == res);
        let prev = levels.last();
        let factor = prev.filter(|p| res % p.res == 0).map(|p| res / p.res);
        let grid = match (native, prev, factor) {
            (Some(i), _, _) => natives[i].grid,
            (None, Some(p), Some(k)) => {
                p.grid
                    .scaled(k, p.grid.width.div_ceil(k), p.grid.height.div_ceil(k))
            }
            // a ladder level that is no multiple of the last level: skipped
            _ => continue,
        };
        levels.push(Level {
            res,
            name: format!("r{res}m"),
            grid,
            native,
            factor,
        });
    }
    let crs = natives[0].crs.clone();
    // can band data at level i be derived from level i - 1?
    let derivable = |i: usize| -> bool {
        let (Some(k), Some(p)) = (levels[i].factor, i.checked_sub(1).map(|p| &levels[p])) else {
            return false;
        };
        let g = &levels[i].grid;
        (g.width, g.height) == (p.grid.width.div_ceil(k), p.grid.height.div_ceil(k))
    };
    // chains: (first level, last level) → bands (native index, band index)
    let mut chains: BTreeMap<(usize, usize), Vec<(usize, usize)>> = BTreeMap::new();
    let mut names: Vec<&str> = vec![];
    for n in &natives {
        for b in &n.bands {
            if !names.contains(&b.name.as_str()) {
                names.push(&b.name);
            }
        }
    }
    let band_at = |i: usize, name: &str| -> Option<(usize, usize)> {
        let ni = levels[i].native?;
        let bi = natives[ni].bands.iter().position(|b| b.name == name)?;
        Some((ni, bi))
    };
    for name in &names {
        let mut open: Option<(usize, (usize, usize))> = None;
        for (i, lv) in levels.iter().enumerate() {
            if let Some(src) = band_at(i, name) {
                if let Some((start, s)) = open.take() {
                    chains.entry((start, i - 1)).or_default().push(s);
                }
                open = Some((i, src));
            } else if open.is_some() && !derivable(i) {
                let (start, s) = open.take().expect("open chain");
                tracing::warn!(
                    "{loc}/{m}: {name} cannot be derived at {} (no integer factor); left out there",
                    lv.name
                );
                chains.entry((start, i - 1)).or_default().push(s);
            }
        }
        if let Some((start, s)) = open {
            chains.entry((start, levels.len() - 1)).or_default().push(s);
        }
    }
    // chains → groups; one group per level writes its coordinates: the
    // chain starting at a native level (its input x/y are copied), else the first
    let first_group = out.groups.len();
    let mut coords_owner: Vec<Option<usize>> = vec![None; levels.len()];
    // chains starting at a level first (the longest first); they own its coordinates
    let mut order: Vec<_> = chains.into_iter().collect();
    order.sort_by_key(|((start, end), _)| (*start, std::cmp::Reverse(*end)));
    for ((start, end), members) in order {
        let ni = members[0].0;
        let bands: Vec<BandPlan> = members
            .iter()
            .map(|&(n, b)| natives[n].bands[b].clone())
            .collect();
        let gi = out.groups.len();
        let lps = (start..=end)
            .map(|i| {
                let lv = &levels[i];
                if coords_owner[i].is_none() {
                    coords_owner[i] = Some(gi);
                }
                let factor = if i == start {
                    1
                } else {
                    lv.factor.unwrap_or(1)
                };
                let path = crate::path::join(m, &lv.name);
                LevelPlan::new(path, lv.grid, factor, coords_owner[i] == Some(gi), opts)
            })
            .collect();
        out.groups.push(GroupPlan {
            path: m.to_string(),
            crs: crs.clone(),
            levels: lps,
            bands,
            x_input: natives[ni].x_input.clone(),
            y_input: natives[ni].y_input.clone(),
        });
    }
    let groups = &out.groups[first_group..];

    // metadata: the multiscale group
    let rules: Vec<&str> = groups
        .iter()
        .flat_map(|g| g.bands.iter().map(|b| b.rule.name()))
        .collect();
    let main_rule = ["average", "mode", "bitwise_or"]
        .into_iter()
        .max_by_key(|r| rules.iter().filter(|x| *x == r).count())
        .unwrap_or("average");
    let chain: Vec<(&str, Grid)> = levels.iter().map(|l| (l.name.as_str(), l.grid)).collect();
    let mut ma = product
        .group(m)
        .map(|g| g.attrs.clone())
        .unwrap_or_default();
    multiscale_attrs(&mut ma, &chain, main_rule, &crs);
    out.nodes.push((m.to_string(), attrs::group_meta(ma)));
    out.consumed.push(m.to_string());

    // the levels
    for (i, lv) in levels.iter().enumerate() {
        let path = crate::path::join(m, &lv.name);
        let mut la = lv
            .native
            .and_then(|n| product.group(&res_groups[n].1))
            .map(|g| g.attrs.clone())
            .unwrap_or_default();
        level_attrs(&mut la, &lv.grid, &crs);
        la.insert("grid_mapping".into(), json!("spatial_ref"));
        out.nodes.push((path, attrs::group_meta(la)));
        if let Some(owner) = coords_owner[i] {
            let g = &out.groups[owner];
            let l = g
                .levels
                .iter()
                .position(|x| x.path.ends_with(&format!("/{}", lv.name)))
                .expect("owner has the level");
            out.nodes.extend(coord_nodes(product, g, l));
        }
    }
    // the bands
    let product_type = product.product_type();
    let mut band_nodes = vec![];
    for g in &out.groups[first_group..] {
        for (b, band) in g.bands.iter().enumerate() {
            let in_attrs = product
                .array(&band.input)
                .map(|a| a.attrs.clone())
                .unwrap_or_default();
            for (l, lv) in g.levels.iter().enumerate() {
                let mut a: Map<String, Value> = in_attrs
                    .iter()
                    // stale per-array proj:* out; dimension names are the
                    // array's own `dimension_names` in Zarr v3
                    .filter(|(k, _)| !k.starts_with("proj:") && *k != "_ARRAY_DIMENSIONS")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if m.starts_with("measurements") {
                    a.insert(
                        "standard_name".into(),
                        json!(attrs::reflectance_standard_name(
                            product_type.as_deref(),
                            &in_attrs
                        )),
                    );
                }
                if !band.input_meta["fill_value"].is_null() {
                    a.insert(
                        "_FillValue".into(),
                        attrs::fill_value_attr(band.dtype, &band.fill),
                    );
                }
                a.insert("grid_mapping".into(), json!("spatial_ref"));
                decoded_attrs(band, &mut a);
                a.insert("resampling_method".into(), json!(band.rule.name()));
                if l > 0 {
                    let parent = crate::path::name_of(&g.levels[l - 1].path);
                    a.insert(
                        "derived_from".into(),
                        json!(format!("{parent}/{}", band.name)),
                    );
                }
                let meta = band_meta(band, lv, a);
                band_nodes.push((g.band_path(b, l), meta));
            }
        }
    }
    out.nodes.extend(band_nodes);
    // input nodes replaced: the resolution groups, their bands and x/y
    for (n, (_, p)) in natives.iter().zip(&res_groups) {
        out.consumed.push(p.clone());
        out.consumed.extend(n.bands.iter().map(|b| b.input.clone()));
        out.consumed.push(n.x_input.0.clone());
        out.consumed.push(n.y_input.0.clone());
    }
    Ok(())
}

/// The root's attributes in this profile: the conventions and, when the CRS
/// can be reprojected, the converted groups' bbox in EPSG:4326.
pub(crate) fn root_attrs(groups: &[GroupPlan], attrs: &mut Map<String, Value>) {
    let bbox = groups
        .iter()
        .filter_map(
            |g| // 23 points per edge: the corners and 21 between, as pyproj's and
            // rasterio's `transform_bounds(densify_pts=21)`
            crate::geo::reproject::lonlat_bbox(&g.crs, g.levels[0].grid.bbox(), 23),
        )
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        });
    let Some(bbox) = bbox else {
        return;
    };
    attrs.insert(
        "zarr_conventions".into(),
        json!([spatial_convention(), proj_convention()]),
    );
    attrs.insert("proj:code".into(), json!("EPSG:4326"));
    attrs.insert("spatial:bbox".into(), json!(bbox));
}
