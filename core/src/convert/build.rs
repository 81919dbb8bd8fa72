//! Building a [`Plan`]: pick the converted groups, lay out the output in
//! the chosen profile (`geozarr-0.4` here, `conventions` in its own
//! module), carry everything else over.

use serde_json::{json, Map, Value};

use crate::convert::attrs::{self, DType};
use crate::convert::conventions;
use crate::convert::native::{
    band_meta, coord_nodes, crs_of, decode_to_float32, decoded_attrs, has_bands, is_yx,
    native_group,
};
use crate::convert::plan::{
    CarryMode, CarryPlan, Coords, GroupPlan, LevelPlan, Options, Plan, Profile,
};
use crate::convert::s1::{self, S1Options};
use crate::geo::chunking::level_sizes;
use crate::geo::grid::Grid;
use crate::geo::tms::multiscales;
use crate::product::{dim_names, u64_list, Node, Product};
use crate::{Error, Result};

fn norm(path: &str) -> String {
    path.trim_matches('/').to_string()
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

fn plan_group(product: &Product, coords: &Coords, path: &str, opts: &Options) -> Result<GroupPlan> {
    let mut n = native_group(product, coords, path)?;
    if opts.float32 {
        decode_to_float32(product, &mut n.bands);
    }
    let levels = level_sizes(n.grid.width, n.grid.height, opts.min_dimension)
        .into_iter()
        .enumerate()
        .map(|(l, (w, h))| {
            let grid = n.grid.level(l as u32, w, h);
            let factor = if l == 0 { 1 } else { 2 };
            LevelPlan::new(format!("{path}/{l}"), grid, factor, true, opts)
        })
        .collect();
    Ok(GroupPlan {
        path: path.to_string(),
        crs: n.crs,
        levels,
        bands: n.bands,
        x_input: n.x_input,
        y_input: n.y_input,
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

/// Build the plan for converting `product`.
pub fn build(product: &Product, coords: &Coords, opts: &Options) -> Result<Plan> {
    build_with(product, coords, opts, &S1Options::default())
}

/// Build the plan for converting `product`, with the Sentinel-1 options
/// (used when the product is an S1 GRD: polarisation groups holding
/// `measurements/grd`).
pub fn build_with(
    product: &Product,
    coords: &Coords,
    opts: &Options,
    s1opts: &S1Options,
) -> Result<Plan> {
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
    let is_s1 = !s1::polarisations(product).is_empty();
    let (groups, mut nodes, consumed) = match opts.profile {
        _ if is_s1 => {
            if opts.groups.as_ref().is_some_and(|g| !g.is_empty()) {
                return Err(Error::Usage(
                    "--groups: a Sentinel-1 GRD product converts every polarisation's measurements/grd".into(),
                ));
            }
            let p = s1::plan(product, coords, opts, s1opts)?;
            (p.groups, p.nodes, p.consumed)
        }
        Profile::GeoZarr04 => {
            let selected = select_groups(product, opts)?;
            let groups: Vec<GroupPlan> = selected
                .iter()
                .map(|g| plan_group(product, coords, g, opts))
                .collect::<Result<_>>()?;
            let nodes = geozarr_nodes(product, opts, &groups);
            let consumed: Vec<String> = product
                .nodes
                .keys()
                .filter(|p| {
                    selected
                        .iter()
                        .any(|g| *p == g || p.starts_with(&format!("{g}/")))
                })
                .cloned()
                .collect();
            (groups, nodes, consumed)
        }
        Profile::Conventions => {
            let c = conventions::plan(product, coords, opts)?;
            (c.groups, c.nodes, c.consumed)
        }
    };
    let consumed: std::collections::HashSet<&str> = consumed.iter().map(String::as_str).collect();
    let selected: Vec<String> = groups.iter().map(|g| g.path.clone()).collect();

    let mut carried = vec![];
    let mut skipped = vec![];
    for (path, node) in &product.nodes {
        if consumed.contains(path.as_str()) {
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
    if opts.profile == Profile::Conventions {
        if let Some((_, root)) = nodes.iter_mut().find(|(p, _)| p.is_empty()) {
            if let Some(a) = root["attributes"].as_object_mut() {
                conventions::root_attrs(&groups, a);
            }
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

/// The `zarr.json`s of the converted groups in the `geozarr-0.4` profile:
/// `{group}/{level}` with a tile-matrix `multiscales`.
fn geozarr_nodes(product: &Product, opts: &Options, groups: &[GroupPlan]) -> Vec<(String, Value)> {
    let product_type = product.product_type();
    let mut nodes = vec![];
    for g in groups {
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
                let mut a = attrs::band_attrs(&in_attrs, sn, fill_attr, &lv.grid);
                decoded_attrs(band, &mut a);
                let meta = band_meta(band, lv, a);
                nodes.push((g.band_path(b, l), meta));
            }
            nodes.extend(coord_nodes(product, g, l));
        }
    }
    nodes
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
