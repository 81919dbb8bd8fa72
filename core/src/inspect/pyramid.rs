//! `validate` checks of a multiscale pyramid: listed levels exist, shapes
//! halve, tile matrices (cell size, matrix size, limits, origin, CRS) agree
//! with the levels.

use std::collections::BTreeMap;

use super::check::{Ctx, Status};
use super::spatial;
use super::{display, wkt, Kind};
use crate::path::join;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

pub(super) fn check_multiscales(cx: &mut Ctx, g: &str) {
    let tree = cx.tree;
    let Some(ms) = spatial::multiscales(&tree.nodes[g].attrs) else {
        return;
    };
    const M: &str = "multiscales";
    if tree.nodes[g].attrs["multiscales"]
        .get("tile_matrix_set")
        .is_none()
    {
        return cx.push(Status::Fail, M, g, "multiscales has no tile_matrix_set");
    }
    let level_groups = spatial::level_groups(tree, g);
    if ms.tile_matrices.is_empty() {
        cx.push(
            Status::Warn,
            M,
            g,
            format!(
                "tileMatrices is empty although {} level group(s) exist",
                level_groups.len()
            ),
        );
    }
    // every listed level exists
    let mut listed_ok = true;
    for tm in &ms.tile_matrices {
        let lp = join(g, &tm.id);
        if tree.get(&lp).is_none_or(|n| n.kind != Kind::Group) {
            listed_ok = false;
            cx.push(
                Status::Fail,
                M,
                &lp,
                format!(
                    "level {} is listed in tileMatrices but the group {} does not exist",
                    tm.id,
                    display(&lp)
                ),
            );
        }
    }
    for (l, lp) in &level_groups {
        if !ms.tile_matrices.is_empty() && !ms.tile_matrices.iter().any(|t| t.id == l.to_string()) {
            cx.push(
                Status::Warn,
                M,
                lp,
                format!("level group {l} is not listed in tileMatrices"),
            );
        }
    }
    if listed_ok && !ms.tile_matrices.is_empty() {
        cx.push(
            Status::Pass,
            M,
            g,
            format!("all {} listed levels exist", ms.tile_matrices.len()),
        );
    }
    // shapes halve level to level
    let shapes: BTreeMap<u32, [u64; 2]> = level_groups
        .iter()
        .filter_map(|(l, lp)| Some((*l, spatial::grid_shape(tree, lp)?)))
        .collect();
    for (l, lp) in &level_groups {
        if *l == 0 {
            continue;
        }
        let (Some(parent), Some(me)) = (shapes.get(&(l - 1)), shapes.get(l)) else {
            if shapes.contains_key(l) {
                cx.push(
                    Status::Fail,
                    "level-shape",
                    lp,
                    format!("level {} (the parent of level {l}) is missing", l - 1),
                );
            }
            continue;
        };
        let ceil = [parent[0].div_ceil(2), parent[1].div_ceil(2)];
        let floor = [parent[0] / 2, parent[1] / 2];
        let fmt = |s: &[u64; 2]| format!("{}×{}", s[1], s[0]);
        if *me == ceil {
            cx.push(
                Status::Pass,
                "level-shape",
                lp,
                format!("{} halves {}", fmt(me), fmt(parent)),
            );
        } else if *me == floor {
            cx.push(
                Status::Warn,
                "level-shape",
                lp,
                format!(
                    "{} is {} halved with floor: the last row/column of level {} is dropped",
                    fmt(me),
                    fmt(parent),
                    l - 1
                ),
            );
        } else {
            cx.push(
                Status::Fail,
                "level-shape",
                lp,
                format!(
                    "level {l} is {}, expected {} (half of level {}: {})",
                    fmt(me),
                    fmt(&ceil),
                    l - 1,
                    fmt(parent)
                ),
            );
        }
    }
    // tile matrices
    let tms_epsg = ms.crs.as_deref().and_then(spatial::epsg_of_uri);
    let mut first: Option<(f64, Option<[u64; 2]>)> = None;
    let limits = tree.nodes[g].attrs["multiscales"].get("tile_matrix_limits");
    for (i, tm) in ms.tile_matrices.iter().enumerate() {
        let lp = join(g, &tm.id);
        if tree.get(&lp).is_none() {
            continue; // reported by `multiscales`
        }
        let shape = tm
            .id
            .parse::<u32>()
            .ok()
            .and_then(|l| shapes.get(&l).copied());
        let mut problems: Vec<String> = vec![];
        let mut warnings: Vec<String> = vec![];
        if let (Some(shape), Some([tw, th]), Some([mw, mh])) = (shape, tm.tile, tm.matrix) {
            if tw == 0 || th == 0 {
                problems.push("tile size 0".into());
            } else {
                let (ew, eh) = (shape[1].div_ceil(tw), shape[0].div_ceil(th));
                if (mw, mh) != (ew, eh) {
                    problems.push(format!(
                        "matrix {mw}×{mh} tiles, expected {ew}×{eh} = ceil({}×{} / {tw}×{th})",
                        shape[1], shape[0]
                    ));
                }
                if let Some(lim) = limits.and_then(|l| l.get(&tm.id)) {
                    let (mc, mr) = (lim["maxTileCol"].as_u64(), lim["maxTileRow"].as_u64());
                    if mc != Some(mw.saturating_sub(1)) || mr != Some(mh.saturating_sub(1)) {
                        problems.push(format!(
                            "tile_matrix_limits max col/row {mc:?}/{mr:?}, expected {}/{}",
                            mw.saturating_sub(1),
                            mh.saturating_sub(1)
                        ));
                    }
                } else {
                    warnings.push("no tile_matrix_limits entry".into());
                }
            }
        } else if tm.tile.is_none() || tm.matrix.is_none() {
            problems.push("tileWidth/tileHeight/matrixWidth/matrixHeight missing".into());
        }
        // cell size = 2^i × the first matrix's (floor halving stretches the
        // cell to keep the extent: a warning, not a failure)
        match (first, tm.cell_size) {
            (Some((cs0, shape0)), Some(cs)) if i > 0 => {
                let want = cs0 * f64::from(1u32 << i.min(31));
                if !close(cs, want) {
                    let keeps_extent = matches!((shape, shape0), (Some(s), Some(s0)) if close(cs * s[1] as f64, cs0 * s0[1] as f64));
                    let msg = format!("cellSize {cs} is not {want} (2^{i} × {cs0})");
                    if keeps_extent {
                        warnings.push(format!("{msg}: cell stretched to keep the extent"));
                    } else {
                        problems.push(msg);
                    }
                }
            }
            (_, None) => problems.push("no cellSize".into()),
            _ => {}
        }
        if i == 0 {
            first = tm.cell_size.map(|c| (c, shape));
        }
        // agreement with the level's own grid mapping
        if tree.get(&lp).is_some() {
            if let Some(gm) = spatial::grid_mapping_var(tree, &lp) {
                let gm_node = &tree.nodes[&gm];
                let epsg = spatial::wkt_of(tree, &gm)
                    .and_then(|w| wkt::parse(&w).ok())
                    .and_then(|c| c.epsg);
                match (tms_epsg, epsg) {
                    (Some(a), Some(b)) if a != b => problems.push(format!(
                        "tile matrix set CRS EPSG:{a} differs from {} (EPSG:{b})",
                        display(&gm)
                    )),
                    _ => {}
                }
                if let Some(Ok(gt)) = gm_node
                    .attrs
                    .get("GeoTransform")
                    .map(spatial::parse_geotransform)
                {
                    if let Some(cs) = tm.cell_size {
                        if !close(cs, gt[1]) {
                            problems.push(format!(
                                "cellSize {cs} differs from the GeoTransform pixel size {}",
                                gt[1]
                            ));
                        }
                    }
                    if let Some([ox, oy]) = tm.point_of_origin {
                        if !close(ox, gt[0]) || !close(oy, gt[3]) {
                            problems.push(format!(
                                "pointOfOrigin [{ox}, {oy}] differs from the GeoTransform corner [{}, {}]",
                                gt[0], gt[3]
                            ));
                        }
                    }
                }
            }
        }
        if !problems.is_empty() {
            cx.push(Status::Fail, "tile-matrix", &lp, problems.join("; "));
        } else if !warnings.is_empty() {
            cx.push(Status::Warn, "tile-matrix", &lp, warnings.join("; "));
        } else {
            cx.push(
                Status::Pass,
                "tile-matrix",
                &lp,
                "cell size, matrix size, limits and CRS agree with the level",
            );
        }
    }
}
