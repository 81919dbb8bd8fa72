//! `validate` checks of one level group of a `conventions` store (a layout
//! asset, or any group with `spatial:` attributes over bands): its
//! `spatial:shape`, `spatial:transform`, `spatial:bbox` and `proj:code`
//! against its bands, its x/y pixel centres and its grid mapping; that its
//! bands name the grid mapping; and stale per-array `proj:*` attributes.
//! Pure: the coordinates come in the level's [`Grid`].

use serde_json::Value;

use super::check::{Ctx, Status};
use super::conventions::{
    bbox4, close, epsg_of_code, nums, pixel_of, shape2, transform6, Grid, PixelSource,
};
use super::schema::PROJ;
use super::variables::check_grid_mapping;
use super::{conventions, display, name_of, spatial, wkt};

/// Tolerance of coordinates and bounding boxes, in pixels.
const PIXEL_TOL: f64 = 1e-6;

/// What the level's `proj:code` is checked against.
pub(super) struct Context<'a> {
    /// The multiscale group's `proj:code`, if the level is in a layout.
    pub group_code: Option<&'a str>,
    /// Why the grid has no coordinates (`x/y values not stored`…).
    pub coords_note: Option<String>,
}

/// Every check of one level group.
pub(super) fn check_level(cx: &mut Ctx, path: &str, grid: &Grid, lc: &Context) {
    check_shape(cx, path, grid);
    check_transform(cx, path, grid, lc);
    check_bbox(cx, path, grid);
    let code = cx.tree.nodes[path].attr_str("proj:code").map(String::from);
    check_proj_code(cx, path, code.as_deref(), lc.group_code);
    for (b, _) in &grid.bands {
        check_band_grid_mapping(cx, b);
        check_stale_proj(cx, b, grid, code.as_deref().or(lc.group_code));
    }
}

fn hw(s: [u64; 2]) -> String {
    format!("[{}, {}]", s[0], s[1])
}

fn check_shape(cx: &mut Ctx, path: &str, g: &Grid) {
    const C: &str = "shape";
    let Some((_, s)) = g.bands.first() else {
        return cx.push(
            Status::Fail,
            C,
            path,
            "no band arrays on the spatial dimensions (spatial:dimensions, default y, x)",
        );
    };
    let mut problems = vec![];
    let odd: Vec<String> = g
        .bands
        .iter()
        .filter(|(_, bs)| bs != s)
        .map(|(b, bs)| format!("{} is {}", name_of(b), hw(*bs)))
        .collect();
    if !odd.is_empty() {
        problems.push(format!(
            "bands disagree: {} is {}, but {}",
            name_of(&g.bands[0].0),
            hw(*s),
            odd.join(", ")
        ));
    }
    for (what, v) in [
        ("spatial:shape", g.shape_attr),
        ("the layout entry's spatial:shape", g.layout_shape),
    ] {
        if let Some(v) = v {
            if v != *s {
                problems.push(format!("{what} {} but the bands are {}", hw(v), hw(*s)));
            }
        }
    }
    if !problems.is_empty() {
        return cx.push(Status::Fail, C, path, problems.join("; "));
    }
    if g.shape_attr.is_none() && g.layout_shape.is_none() {
        return cx.push(
            Status::Warn,
            C,
            path,
            format!(
                "no spatial:shape (level group or layout entry); the bands are {}",
                hw(*s)
            ),
        );
    }
    cx.push(
        Status::Pass,
        C,
        path,
        format!(
            "spatial:shape {} = the shape of its {} band(s)",
            hw(*s),
            g.bands.len()
        ),
    );
}

fn same6(a: &[f64; 6], b: &[f64; 6]) -> bool {
    let scale = a[0].abs().max(a[4].abs()).max(1.0);
    a.iter()
        .zip(b)
        .all(|(x, y)| close(*x, *y, 1e-9) || (x - y).abs() <= 1e-12 * scale)
}

fn check_transform(cx: &mut Ctx, path: &str, g: &Grid, lc: &Context) {
    const C: &str = "transform";
    let mut problems = vec![];
    let mut notes = vec![];
    let t = match (g.transform, g.layout_transform) {
        (None, None) => {
            let mut msg = "no spatial:transform on the level group or its layout entry (the \
                           spatial convention requires one for an affine grid): readers fall \
                           back to the x/y coordinates"
                .to_string();
            if let Some(t) = g.effective_transform() {
                msg += &format!(", which give {}", nums(&t));
            }
            return cx.push(Status::Fail, C, path, msg);
        }
        (Some(t), Some(lt)) => {
            if !same6(&t, &lt) {
                problems.push(format!(
                    "spatial:transform {} differs from the layout entry's {}",
                    nums(&t),
                    nums(&lt)
                ));
            }
            t
        }
        (None, Some(lt)) => {
            notes.push("only the layout entry states it".to_string());
            lt
        }
        (Some(t), None) => t,
    };
    let [px, py] = pixel_of(&t);
    if t[1] != 0.0 || t[3] != 0.0 {
        notes.push("rotated: coordinates not compared".into());
    } else if let (Some(c), Some([h, w])) = (&g.coords, g.shape()) {
        for (axis, vals, n, origin, step, pix) in [
            ("x", &c.x, w, t[2], t[0], px),
            ("y", &c.y, h, t[5], t[4], py),
        ] {
            if vals.len() as u64 != n {
                problems.push(format!("{axis} has {} values for {n} pixels", vals.len()));
                continue;
            }
            for (i, v) in [(0usize, vals[0]), (vals.len() - 1, vals[vals.len() - 1])] {
                let want = origin + (i as f64 + 0.5) * step;
                let off = (v - want).abs();
                if off.is_nan() || off > PIXEL_TOL * pix {
                    problems.push(format!(
                        "{axis}[{i}] = {v} but spatial:transform puts that pixel centre at {want}"
                    ));
                }
            }
        }
    } else if let Some(n) = &lc.coords_note {
        notes.push(format!("{n}: coordinates not compared"));
    }
    // the CF grid mapping's GDAL GeoTransform states the same grid
    if let Some(gm) = spatial::grid_mapping_var(cx.tree, path) {
        if let Some(Ok(gt)) = cx.tree.nodes[&gm]
            .attrs
            .get("GeoTransform")
            .map(spatial::parse_geotransform)
        {
            let as_affine = [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]];
            if !same6(&as_affine, &t) {
                problems.push(format!(
                    "{}'s GeoTransform {} differs from spatial:transform {}",
                    name_of(&gm),
                    nums(&gt),
                    nums(&t)
                ));
            }
        }
    }
    if !problems.is_empty() {
        return cx.push(Status::Fail, C, path, problems.join("; "));
    }
    let mut msg = format!("spatial:transform {} agrees", nums(&t));
    if g.coords.is_some() {
        msg += " with the x/y pixel centres";
    }
    if !notes.is_empty() {
        msg += &format!(" ({})", notes.join("; "));
    }
    cx.push(Status::Pass, C, path, msg);
}

/// Do two boxes agree to a fraction of a pixel?
pub(super) fn same_bbox(a: &[f64; 4], b: &[f64; 4], pixel: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| {
        (x - y).abs() <= PIXEL_TOL * pixel.max(f64::MIN_POSITIVE) || close(*x, *y, 1e-12)
    })
}

/// A bbox that is there, not all zeros and ordered; the problem otherwise.
pub(super) fn bbox_problem(b: &[f64; 4]) -> Option<String> {
    if b.iter().all(|v| *v == 0.0) {
        return Some("spatial:bbox is [0, 0, 0, 0]".into());
    }
    if !(b[0] < b[2] && b[1] < b[3]) {
        return Some(format!(
            "spatial:bbox {} is not [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax",
            nums(b)
        ));
    }
    None
}

fn check_bbox(cx: &mut Ctx, path: &str, g: &Grid) {
    const C: &str = "bbox";
    let computed = g.computed_bbox();
    let source = if g.any_transform().is_some() {
        "spatial:transform"
    } else {
        "the x/y coordinates"
    };
    let Some(b) = bbox4(cx.tree.nodes[path].attrs.get("spatial:bbox")) else {
        return cx.push(Status::Warn, C, path, "no spatial:bbox");
    };
    if let Some(p) = bbox_problem(&b) {
        let mut msg = p;
        if let Some(c) = computed {
            msg += &format!("; {source} gives {}", nums(&c));
        }
        return cx.push(Status::Fail, C, path, msg);
    }
    let (Some(c), Some(s)) = (computed, g.shape()) else {
        return cx.push(
            Status::Pass,
            C,
            path,
            format!(
                "spatial:bbox {} (no spatial:transform or coordinates to compare with)",
                nums(&b)
            ),
        );
    };
    let pixel = g.pixel().map_or(0.0, |(p, _)| p[0].min(p[1]));
    if same_bbox(&b, &c, pixel) {
        cx.push(
            Status::Pass,
            C,
            path,
            format!("spatial:bbox {} = {source} applied to {}", nums(&b), hw(s)),
        );
    } else {
        cx.push(
            Status::Fail,
            C,
            path,
            format!(
                "spatial:bbox {} but {source} applied to {} gives {}",
                nums(&b),
                hw(s),
                nums(&c)
            ),
        );
    }
}

/// `proj:code` of a level (or a multiscale group): stated, `EPSG:n`,
/// equal to the multiscale group's and to its grid mapping's CRS.
pub(super) fn check_proj_code(cx: &mut Ctx, path: &str, code: Option<&str>, group: Option<&str>) {
    const C: &str = "proj-code";
    let registers = conventions::registers(&cx.tree.nodes[path].attrs, PROJ);
    let Some(code) = code.or(group) else {
        let st = if registers {
            Status::Fail
        } else {
            Status::Warn
        };
        return cx.push(st, C, path, "no proj:code");
    };
    let epsg = match epsg_of_code(code) {
        Ok(e) => e,
        Err(e) => return cx.push(Status::Fail, C, path, e),
    };
    let mut problems = vec![];
    let mut notes = vec![];
    if let Some(gc) = group {
        if gc != code {
            problems.push(format!(
                "proj:code {code} differs from the multiscale group's {gc}"
            ));
        }
    }
    let mut with = String::new();
    match spatial::grid_mapping_var(cx.tree, path) {
        None => notes.push("no grid mapping to compare with".to_string()),
        Some(gm) => match spatial::wkt_of(cx.tree, &gm).map(|w| wkt::parse(&w)) {
            None => notes.push(format!("{} has no crs_wkt", name_of(&gm))),
            Some(Err(e)) => notes.push(format!("{}'s WKT does not parse: {e}", name_of(&gm))),
            Some(Ok(w)) => match w.epsg {
                Some(e) if e != epsg => problems.push(format!(
                    "proj:code {code} but {}'s crs_wkt is EPSG:{e} ({})",
                    display(&gm),
                    w.name
                )),
                Some(_) => with = format!(" = {}'s crs_wkt ({})", name_of(&gm), w.name),
                None => notes.push(format!(
                    "{}'s WKT ({}) names no EPSG code",
                    name_of(&gm),
                    w.name
                )),
            },
        },
    }
    if !problems.is_empty() {
        return cx.push(Status::Fail, C, path, problems.join("; "));
    }
    let mut msg = format!("{code}{with}");
    if !notes.is_empty() {
        msg += &format!(" ({})", notes.join("; "));
    }
    cx.push(Status::Pass, C, path, msg);
}

fn check_band_grid_mapping(cx: &mut Ctx, b: &str) {
    if cx.tree.nodes[b].attrs.contains_key("grid_mapping") {
        check_grid_mapping(cx, b);
    } else {
        cx.push(
            Status::Fail,
            "grid-mapping",
            b,
            "band without grid_mapping (the profile names \"spatial_ref\"): readers cannot \
             georeference it",
        );
    }
}

const STALE: [&str; 6] = [
    "proj:epsg",
    "proj:code",
    "proj:wkt2",
    "proj:shape",
    "proj:transform",
    "proj:bbox",
];

fn check_stale_proj(cx: &mut Ctx, b: &str, g: &Grid, level_code: Option<&str>) {
    const C: &str = "stale-proj";
    let attrs = &cx.tree.nodes[b].attrs;
    let present: Vec<&str> = STALE
        .iter()
        .copied()
        .filter(|k| attrs.contains_key(*k))
        .collect();
    if present.is_empty() {
        return;
    }
    let shape = g.bands.iter().find(|(p, _)| p == b).map(|(_, s)| *s);
    let level_t = g.effective_transform();
    let pixel = g.pixel();
    let mut problems = vec![];
    if let (Some(ps), Some(s)) = (shape2(attrs.get("proj:shape")), shape) {
        if ps != s {
            problems.push(format!("proj:shape {} but the array is {}", hw(ps), hw(s)));
        }
    }
    if let Some(pt) = transform6(attrs.get("proj:transform")) {
        let [ppx, ppy] = pixel_of(&pt);
        if let Some(([lx, ly], src)) = pixel {
            if !close(ppx, lx, 1e-9) || !close(ppy, ly, 1e-9) {
                let from = match src {
                    PixelSource::Name => format!(" (from the level name {})", g.name),
                    s => format!(" (from its {})", s.as_str()),
                };
                problems.push(format!(
                    "proj:transform pixel {} but the level's is {}{from}",
                    conventions::num(ppx),
                    conventions::num(lx)
                ));
            }
        }
        if let Some(t) = level_t {
            let tol = PIXEL_TOL * pixel_of(&t)[0];
            if (pt[2] - t[2]).abs() > tol || (pt[5] - t[5]).abs() > tol {
                problems.push(format!(
                    "proj:transform origin ({}, {}) but the level's is ({}, {})",
                    conventions::num(pt[2]),
                    conventions::num(pt[5]),
                    conventions::num(t[2]),
                    conventions::num(t[5])
                ));
            }
        }
    }
    if let (Some(pb), Some(lb)) = (bbox4(attrs.get("proj:bbox")), g.computed_bbox()) {
        let p = pixel.map_or(0.0, |(p, _)| p[0]);
        if !same_bbox(&pb, &lb, p) {
            problems.push(format!(
                "proj:bbox {} but the level's grid spans {}",
                nums(&pb),
                nums(&lb)
            ));
        }
    }
    if let Some(Ok(level)) = level_code.map(epsg_of_code) {
        let epsg = attrs.get("proj:epsg").and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        if let Some(e) = epsg.filter(|e| *e != u64::from(level)) {
            problems.push(format!(
                "proj:epsg {e} but the level's proj:code is EPSG:{level}"
            ));
        }
        if let Some(c) = attrs.get("proj:code").and_then(Value::as_str) {
            if epsg_of_code(c) != Ok(level) {
                problems.push(format!("proj:code {c} but the level's is EPSG:{level}"));
            }
        }
    }
    if problems.is_empty() {
        cx.push(
            Status::Warn,
            C,
            b,
            format!(
                "per-array {} left over from the input (the profile drops them: the level's \
                 spatial:/proj: attributes describe the grid)",
                present.join(", ")
            ),
        );
    } else {
        cx.push(
            Status::Fail,
            C,
            b,
            format!(
                "stale per-array proj:* contradict the level: {}",
                problems.join("; ")
            ),
        );
    }
}
