//! `validate` checks of single arrays and groups: dimension names, CF
//! standard names and units, grid mappings, CRS WKT, GeoTransform against
//! the coordinates, dimension lengths and chunk alignment.

use std::collections::BTreeMap;

use super::check::{missing_chunks, Ctx, Status};
use super::spatial::{self, grid_vars};
use super::{cf, display, name_of, parent_of, wkt, Kind, Node, Tree};
use crate::geo::chunking::aligned_chunk_size;
use crate::path::join;

/// Arrays that are grid mappings: with `grid_mapping_name`, or named by a
/// sibling's `grid_mapping`.
pub(super) fn grid_mapping_vars(tree: &Tree) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for (p, n) in &tree.nodes {
        if n.kind != Kind::Array {
            continue;
        }
        if n.attrs.contains_key("grid_mapping_name") {
            out.push(p.clone());
        }
        if let Some(gm) = n.attr_str("grid_mapping") {
            let target = join(parent_of(p), gm_name(gm));
            if tree.array(&target).is_some() {
                out.push(target);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The variable named by a `grid_mapping` attribute (CF's extended form
/// `crs: x y` names it first).
fn gm_name(gm: &str) -> &str {
    gm.split(':').next().unwrap_or(gm).trim()
}

pub(super) fn check_dimensions(cx: &mut Ctx, p: &str) {
    let n = &cx.tree.nodes[p];
    let rank = n.shape().len();
    const C: &str = "dimensions";
    if n.attrs.contains_key("_ARRAY_DIMENSIONS") && n.array_dimensions().is_none() {
        cx.push(
            Status::Fail,
            C,
            p,
            "_ARRAY_DIMENSIONS is not a list of names",
        );
        return;
    }
    match (n.array_dimensions(), n.dimension_names()) {
        (Some(ad), _) if ad.len() != rank => cx.push(
            Status::Fail,
            C,
            p,
            format!(
                "_ARRAY_DIMENSIONS {ad:?} names {} dimensions, the array has rank {rank}",
                ad.len()
            ),
        ),
        (Some(ad), Some(dn)) if dn != ad && dn.iter().any(|d| !d.is_empty()) => cx.push(
            Status::Fail,
            C,
            p,
            format!("_ARRAY_DIMENSIONS {ad:?} disagrees with dimension_names {dn:?}"),
        ),
        (Some(ad), _) => cx.push(
            Status::Pass,
            C,
            p,
            format!("_ARRAY_DIMENSIONS {ad:?} matches rank {rank}"),
        ),
        (None, _) if rank == 0 => cx.push(
            Status::Warn,
            C,
            p,
            "scalar without _ARRAY_DIMENSIONS (GeoZarr 0.4 writes [])",
        ),
        (None, dn) => {
            let (status, msg) = match dn {
                _ if cx.required(p) == Status::Fail => (
                    Status::Fail,
                    "missing _ARRAY_DIMENSIONS (GeoZarr 0.4 requires it on every array)"
                        .to_string(),
                ),
                Some(dn) if dn.len() == rank => (
                    Status::Warn,
                    format!("no _ARRAY_DIMENSIONS; names only in Zarr v3 dimension_names {dn:?}"),
                ),
                _ => (
                    Status::Fail,
                    "no dimension names (_ARRAY_DIMENSIONS or dimension_names)".to_string(),
                ),
            };
            cx.push(status, C, p, msg)
        }
    }
}

fn is_coordinate(p: &str, n: &Node) -> bool {
    n.dims().len() == 1 && n.dims()[0] == name_of(p)
}

pub(super) fn check_standard_name(cx: &mut Ctx, p: &str) {
    let n = &cx.tree.nodes[p];
    let what = if is_coordinate(p, n) {
        "coordinate"
    } else {
        "data variable"
    };
    let Some(sn) = n.attrs.get("standard_name") else {
        let st = cx.required(p);
        cx.push(
            st,
            "standard-name",
            p,
            format!("{what} has no CF standard_name"),
        );
        return;
    };
    let Some(sn) = sn.as_str() else {
        cx.push(
            Status::Fail,
            "standard-name",
            p,
            "standard_name is not a string",
        );
        return;
    };
    // CF allows "name modifier"
    let base = sn.split_whitespace().next().unwrap_or("");
    match cf::lookup(base) {
        None => cx.push(
            cx.required(p),
            "standard-name",
            p,
            format!(
                "standard_name {sn:?} is not in the CF standard name table ({})",
                table_version()
            ),
        ),
        Some(cf::Entry::Alias { of }) => cx.push(
            Status::Warn,
            "standard-name",
            p,
            format!("standard_name {sn:?} is an alias; the current name is {of:?}"),
        ),
        Some(cf::Entry::Name { canonical_units }) => {
            cx.push(
                Status::Pass,
                "standard-name",
                p,
                format!("{sn:?} is a CF standard name"),
            );
            if !canonical_units.is_empty() && canonical_units != "1" {
                match n.attr_str("units") {
                    Some(u) => cx.push(
                        Status::Pass,
                        "units",
                        p,
                        format!("units {u:?} (canonical {canonical_units:?})"),
                    ),
                    None => {
                        let st = cx.required(p);
                        cx.push(
                            st,
                            "units",
                            p,
                            format!("{sn} needs units (canonical {canonical_units:?}); none given"),
                        )
                    }
                }
            }
        }
    }
}

fn table_version() -> String {
    cf::version()
        .split(" (")
        .next()
        .unwrap_or("")
        .trim_start_matches("CF Standard Name ")
        .to_string()
}

pub(super) fn check_grid_mapping(cx: &mut Ctx, p: &str) {
    let n = &cx.tree.nodes[p];
    let d = n.dims();
    if !(d.len() >= 2 && d[d.len() - 2] == "y" && d[d.len() - 1] == "x") {
        return;
    }
    const C: &str = "grid-mapping";
    let Some(gm) = n.attrs.get("grid_mapping") else {
        cx.push(
            Status::Warn,
            C,
            p,
            "(y, x) data variable without grid_mapping: readers cannot georeference it",
        );
        return;
    };
    let Some(gm) = gm.as_str() else {
        cx.push(Status::Fail, C, p, "grid_mapping is not a string");
        return;
    };
    let group = parent_of(p);
    let target = join(group, gm_name(gm));
    match cx.tree.get(&target) {
        None => cx.push(
            Status::Fail,
            C,
            p,
            format!(
                "grid_mapping names {gm:?}, but {} does not exist",
                display(&target)
            ),
        ),
        Some(t) if t.kind != Kind::Array => cx.push(
            Status::Fail,
            C,
            p,
            format!(
                "grid_mapping names {gm:?}, but {} is a group",
                display(&target)
            ),
        ),
        Some(t) if !t.attrs.contains_key("grid_mapping_name") => cx.push(
            Status::Fail,
            C,
            p,
            format!("grid_mapping {} has no grid_mapping_name", display(&target)),
        ),
        Some(_) => cx.push(
            Status::Pass,
            C,
            p,
            format!("grid_mapping {gm:?} exists with grid_mapping_name"),
        ),
    }
}

pub(super) fn check_crs(cx: &mut Ctx, p: &str) {
    let n = &cx.tree.nodes[p];
    const C: &str = "crs";
    let wkt_text = n.attr_str("crs_wkt").or_else(|| n.attr_str("spatial_ref"));
    let Some(w) = wkt_text else {
        let st = cx.required(p);
        cx.push(st, C, p, "grid mapping without crs_wkt or spatial_ref");
        return;
    };
    match wkt::parse(w) {
        Err(e) => cx.push(Status::Fail, C, p, format!("crs_wkt does not parse: {e}")),
        Ok(c) => {
            if let (Some(a), Some(b)) = (n.attr_str("crs_wkt"), n.attr_str("spatial_ref")) {
                if a != b {
                    cx.push(Status::Warn, C, p, "crs_wkt and spatial_ref differ");
                }
            }
            let code = c.epsg.map(|e| format!("EPSG:{e} ")).unwrap_or_default();
            cx.push(Status::Pass, C, p, format!("{code}{:?} parses", c.name))
        }
    }
}

pub(super) fn check_geotransform(cx: &mut Ctx, p: &str) {
    const C: &str = "geotransform";
    let n = &cx.tree.nodes[p];
    let group = parent_of(p);
    let Some(gt) = n.attrs.get("GeoTransform") else {
        if grid_vars(cx.tree, group).is_empty() {
            return;
        }
        let st = Status::Warn;
        cx.push(
            st,
            C,
            p,
            "no GeoTransform: GDAL falls back to the x/y coordinates",
        );
        return;
    };
    let g = match spatial::parse_geotransform(gt) {
        Ok(g) => g,
        Err(e) => return cx.push(Status::Fail, C, p, e),
    };
    if g[2] != 0.0 || g[4] != 0.0 {
        return cx.push(
            Status::Warn,
            C,
            p,
            "rotated GeoTransform: coordinates not checked",
        );
    }
    if g[1] <= 0.0 || g[5] >= 0.0 {
        return cx.push(
            Status::Fail,
            C,
            p,
            format!(
                "GeoTransform pixel size {} × {} is not north-up (x > 0, y < 0)",
                g[1], g[5]
            ),
        );
    }
    let mut problems = vec![];
    for (axis, origin, step) in [("x", g[0], g[1]), ("y", g[3], g[5])] {
        let cp = join(group, axis);
        if cx.tree.array(&cp).is_none() {
            continue;
        }
        match missing_chunks(cx, &cp) {
            Ok(m) if !m.is_empty() => {
                problems.push(format!(
                    "{} has no stored values ({} missing)",
                    display(&cp),
                    m[0]
                ));
                continue;
            }
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", display(&cp)));
                continue;
            }
            Ok(_) => {}
        }
        match cx.tree.read_1d(cx.store, &cp) {
            Err(e) => problems.push(format!("cannot read {}: {e}", display(&cp))),
            Ok(vals) => {
                let worst = vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i, *v, origin + (i as f64 + 0.5) * step))
                    .max_by(|a, b| (a.1 - a.2).abs().total_cmp(&(b.1 - b.2).abs()));
                if let Some((i, v, want)) = worst {
                    let off = (v - want) / step.abs();
                    if off.is_nan() || off.abs() > 1e-3 {
                        problems.push(format!(
                            "{axis}[{i}] = {v} but the GeoTransform puts that pixel centre at {want} ({off:+.3} pixels)"
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        cx.push(
            Status::Pass,
            C,
            p,
            format!(
                "GeoTransform {:?} agrees with the x/y pixel centres",
                gt.as_str().unwrap_or("")
            ),
        );
    } else {
        cx.push(Status::Fail, C, p, problems.join("; "));
    }
}

pub(super) fn check_dimension_lengths(cx: &mut Ctx, g: &str) {
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut problems = vec![];
    for (p, n) in cx.tree.arrays_in(g) {
        let shape = n.shape();
        let dims = n.dims();
        if dims.len() != shape.len() {
            continue; // reported by `dimensions`
        }
        for (d, len) in dims.iter().zip(shape) {
            match seen.get(d) {
                Some((l, first)) if *l != len => problems.push(format!(
                    "dimension {d} is {len} long in {} but {l} in {}",
                    name_of(p),
                    name_of(first)
                )),
                Some(_) => {}
                None => {
                    seen.insert(d.clone(), (len, p.to_string()));
                }
            }
        }
    }
    if seen.is_empty() {
        return;
    }
    if problems.is_empty() {
        let s: Vec<String> = seen.iter().map(|(d, (l, _))| format!("{d}={l}")).collect();
        cx.push(
            Status::Pass,
            "dimension-lengths",
            g,
            format!("arrays agree: {}", s.join(", ")),
        );
    } else {
        cx.push(Status::Fail, "dimension-lengths", g, problems.join("; "));
    }
}

pub(super) fn check_chunk_alignment(cx: &mut Ctx, p: &str) {
    if cx.required(p) != Status::Fail {
        return; // the rule is for pyramid bands; carried-over arrays keep their chunks
    }
    let n = &cx.tree.nodes[p];
    let (shape, chunks) = (n.shape(), n.chunks());
    const C: &str = "chunk-alignment";
    if chunks.len() != shape.len() {
        return cx.push(
            Status::Fail,
            C,
            p,
            format!("chunk shape {chunks:?} does not match rank {}", shape.len()),
        );
    }
    if shape.len() < 2 {
        return;
    }
    let mut problems = vec![];
    for (&s, &c) in shape.iter().zip(&chunks).skip(shape.len() - 2) {
        if c == 0 {
            problems.push("zero chunk size".to_string());
        } else if c < s && s % c != 0 {
            let a = aligned_chunk_size(s, c);
            // the profile's guard: a prime-ish size keeps the target with a partial last chunk
            if a * 4 >= c {
                problems.push(format!(
                    "chunk {c} does not divide {s}; the aligned chunk would be {a}"
                ));
            }
        }
    }
    if problems.is_empty() {
        cx.push(
            Status::Pass,
            C,
            p,
            format!("chunks {chunks:?} align with shape {shape:?}"),
        );
    } else {
        cx.push(Status::Fail, C, p, problems.join("; "));
    }
}
