//! `validate`: is a store real GeoZarr? One [`Check`] per rule and node,
//! `PASS`/`WARN`/`FAIL` with the node path and a reason.
//!
//! Severity: inside a multiscale pyramid's level groups (what GeoZarr
//! describes) a missing required item or a CF name outside the table FAILs;
//! elsewhere (carried-over groups, EOPF inputs, whose metadata is the
//! product's own — e.g. GRIB's `standard_name: "unknown"`) it WARNs. Anything that contradicts itself, the data or the
//! stored metadata — a dangling reference, a GeoTransform off the
//! coordinates, a missing level, a stale consolidated entry, a missing or
//! corrupt chunk, wrong overview values — FAILs everywhere.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::spatial::{self, grid_vars};
use super::{
    cf, display, name_of, parent_of, strip_consolidated, v3_node, wkt, Kind, Node, Read, Tree,
};
use crate::chunking::aligned_chunk_size;
use crate::store::{join, Store};
use crate::Result;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The rule holds.
    Pass,
    /// Not what GeoZarr 0.4 asks for, but readable.
    Warn,
    /// Broken or contradictory.
    Fail,
}

impl Status {
    /// `PASS`, `WARN` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One check result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// PASS, WARN or FAIL.
    pub status: Status,
    /// Which rule (`dimensions`, `standard-name`, `units`, `grid-mapping`,
    /// `crs`, `geotransform`, `dimension-lengths`, `chunk-alignment`,
    /// `multiscales`, `level-shape`, `tile-matrix`, `consolidated`,
    /// `metadata`, and with `--deep`: `chunks`, `overview`).
    pub check: &'static str,
    /// Node path (`/measurements/reflectance/r10m/0/b02`).
    pub path: String,
    /// Why.
    pub message: String,
}

/// Counts per status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Checks that passed.
    pub pass: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
}

/// The whole result (`validate --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The store as named by the user.
    pub location: String,
    /// 2 or 3.
    pub zarr_format: u8,
    /// Whether chunks were read (`--deep`).
    pub deep: bool,
    /// True when no check failed.
    pub valid: bool,
    /// Counts.
    pub summary: Summary,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

/// What to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also read every chunk and recompute overviews.
    pub deep: bool,
}

pub(super) struct Ctx<'a> {
    pub tree: &'a Tree,
    pub store: &'a Store,
    pub checks: Vec<Check>,
    /// Level groups of multiscale pyramids.
    pub levels: Vec<String>,
}

impl Ctx<'_> {
    pub fn push(
        &mut self,
        status: Status,
        check: &'static str,
        path: &str,
        message: impl Into<String>,
    ) {
        self.checks.push(Check {
            status,
            check,
            path: display(path),
            message: message.into(),
        });
    }
    /// FAIL inside pyramid levels, WARN elsewhere.
    fn required(&self, path: &str) -> Status {
        if self.levels.iter().any(|l| l == parent_of(path)) {
            Status::Fail
        } else {
            Status::Warn
        }
    }
}

/// Validate the store at `location`. Errors only when it cannot be read as
/// Zarr at all; every other problem is a failed check in the report.
pub fn validate(store: &Store, location: &str, opts: Options) -> Result<Report> {
    let tree = Tree::open(store, location, Read::Stored)?;
    let levels = tree
        .nodes
        .iter()
        .filter(|(_, n)| n.kind == Kind::Group && n.attrs.contains_key("multiscales"))
        .flat_map(|(p, _)| spatial::level_groups(&tree, p).into_iter().map(|(_, g)| g))
        .collect();
    let mut cx = Ctx {
        tree: &tree,
        store,
        checks: vec![],
        levels,
    };
    for (k, e) in &tree.broken {
        cx.push(
            Status::Fail,
            "metadata",
            k,
            format!("unreadable metadata: {e}"),
        );
    }
    let arrays: Vec<&str> = tree
        .nodes
        .iter()
        .filter(|(_, n)| n.kind == Kind::Array)
        .map(|(p, _)| p.as_str())
        .collect();
    let gm_vars = grid_mapping_vars(&tree);
    // GeoTransform checks read coordinates: run them side by side (remote stores)
    let mut geo: BTreeMap<&str, Vec<Check>> = gm_vars
        .iter()
        .map(String::as_str)
        .zip(super::par_map(&gm_vars, |p| {
            let mut local = Ctx {
                tree: &tree,
                store,
                checks: vec![],
                levels: cx.levels.clone(),
            };
            check_geotransform(&mut local, p);
            local.checks
        }))
        .collect();
    for &p in &arrays {
        check_dimensions(&mut cx, p);
        if gm_vars.contains(&p.to_string()) {
            check_crs(&mut cx, p);
            cx.checks.extend(geo.remove(p).unwrap_or_default());
        } else {
            check_standard_name(&mut cx, p);
            check_grid_mapping(&mut cx, p);
            check_chunk_alignment(&mut cx, p);
        }
    }
    let groups: Vec<&str> = tree
        .nodes
        .iter()
        .filter(|(_, n)| n.kind == Kind::Group)
        .map(|(p, _)| p.as_str())
        .collect();
    for &g in &groups {
        check_dimension_lengths(&mut cx, g);
        if tree.nodes[g].attrs.contains_key("multiscales") {
            check_multiscales(&mut cx, g);
        }
    }
    if cx.levels.is_empty() {
        cx.push(
            Status::Warn,
            "multiscales",
            "",
            "no group has multiscales: no overview pyramid",
        );
    }
    check_consolidated(&mut cx)?;
    if opts.deep {
        super::deep::check_chunks(&mut cx, &arrays);
        super::deep::check_overviews(&mut cx);
    }
    let mut summary = Summary::default();
    for c in &cx.checks {
        match c.status {
            Status::Pass => summary.pass += 1,
            Status::Warn => summary.warn += 1,
            Status::Fail => summary.fail += 1,
        }
    }
    Ok(Report {
        location: location.to_string(),
        zarr_format: tree.zarr_format,
        deep: opts.deep,
        valid: summary.fail == 0,
        summary,
        checks: cx.checks,
    })
}

/// Arrays that are grid mappings: with `grid_mapping_name`, or named by a
/// sibling's `grid_mapping`.
fn grid_mapping_vars(tree: &Tree) -> Vec<String> {
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

fn check_dimensions(cx: &mut Ctx, p: &str) {
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

fn check_standard_name(cx: &mut Ctx, p: &str) {
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

fn check_grid_mapping(cx: &mut Ctx, p: &str) {
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

fn check_crs(cx: &mut Ctx, p: &str) {
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

/// Stored chunk keys of an array that are missing.
pub(super) fn missing_chunks(cx: &Ctx, p: &str) -> std::result::Result<Vec<String>, String> {
    let a = cx.tree.zarr_array(cx.store, p).map_err(|e| e.to_string())?;
    let grid = a.chunk_grid_shape().to_vec();
    let mut missing = vec![];
    for idx in indices(&grid) {
        let k = a.chunk_key(&idx);
        match cx.store.size_key(&k) {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(k.as_str().to_string()),
            Err(e) => return Err(format!("{}: {e}", k.as_str())),
        }
    }
    Ok(missing)
}

/// Every index of a chunk grid, row-major (lazily: a grid may be huge).
pub(super) fn indices(grid: &[u64]) -> impl Iterator<Item = Vec<u64>> + '_ {
    let empty = grid.contains(&0);
    let mut next = (!empty).then(|| vec![0u64; grid.len()]);
    std::iter::from_fn(move || {
        let cur = next.take()?;
        let mut n = cur.clone();
        for d in (0..n.len()).rev() {
            n[d] += 1;
            if n[d] < grid[d] {
                next = Some(n);
                break;
            }
            n[d] = 0;
        }
        Some(cur)
    })
}

fn check_geotransform(cx: &mut Ctx, p: &str) {
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

fn check_dimension_lengths(cx: &mut Ctx, g: &str) {
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

fn check_chunk_alignment(cx: &mut Ctx, p: &str) {
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

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

fn check_multiscales(cx: &mut Ctx, g: &str) {
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

fn check_consolidated(cx: &mut Ctx) -> Result<()> {
    const C: &str = "consolidated";
    let tree = cx.tree;
    if tree.zarr_format == 2 {
        if !tree.consolidated {
            cx.push(Status::Warn, C, "", "no .zmetadata (consolidated metadata)");
            return Ok(());
        }
        let cons = Tree::open(cx.store, &tree.location, Read::Consolidated)?;
        let members: BTreeMap<String, Node> = cons
            .nodes
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .collect();
        compare_members(cx, "", &members, &cons.broken);
        return Ok(());
    }
    if !tree.consolidated_members.contains_key("") {
        cx.push(
            Status::Fail,
            C,
            "",
            "the root zarr.json has no consolidated metadata: the store is unfinished",
        );
    }
    for (g, m) in &tree.consolidated_members {
        let mut nodes = BTreeMap::new();
        let mut broken = vec![];
        for (rel, doc) in m {
            match v3_node(doc) {
                Ok(n) => {
                    nodes.insert(join(g, rel), n);
                }
                Err(e) => broken.push((join(g, rel), e)),
            }
        }
        compare_members(cx, g, &nodes, &broken);
    }
    Ok(())
}

/// Compare the consolidated members of group `g` with the nodes stored under it.
fn compare_members(
    cx: &mut Ctx,
    g: &str,
    members: &BTreeMap<String, Node>,
    broken: &[(String, String)],
) {
    const C: &str = "consolidated";
    let prefix = if g.is_empty() {
        String::new()
    } else {
        format!("{g}/")
    };
    let mut problems: Vec<String> = broken
        .iter()
        .map(|(k, e)| format!("entry {} is unreadable: {e}", display(k)))
        .collect();
    let stored: Vec<&String> = cx
        .tree
        .nodes
        .keys()
        .filter(|k| !k.is_empty() && k.starts_with(&prefix) && k.len() > prefix.len())
        .collect();
    for k in &stored {
        let actual = &cx.tree.nodes[*k];
        match members.get(*k) {
            None => problems.push(format!("{} is stored but not listed", display(k))),
            Some(m) => {
                let fields = differing_fields(
                    &strip_consolidated(&m.meta),
                    &actual.meta,
                    &m.attrs,
                    &actual.attrs,
                );
                if !fields.is_empty() {
                    problems.push(format!(
                        "{} differs from its stored metadata ({})",
                        display(k),
                        fields.join(", ")
                    ));
                }
            }
        }
    }
    for k in members.keys() {
        if !cx.tree.nodes.contains_key(k) {
            problems.push(format!("{} is listed but not stored", display(k)));
        }
    }
    if problems.is_empty() {
        cx.push(
            Status::Pass,
            C,
            g,
            format!("{} entries equal the stored metadata", members.len()),
        );
    } else {
        let n = problems.len();
        let mut msg = format!(
            "stale consolidated metadata: {}",
            problems
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
        if n > 5 {
            msg += &format!("; and {} more", n - 5);
        }
        cx.push(Status::Fail, C, g, msg);
    }
}

fn differing_fields(
    a: &Value,
    b: &Value,
    aa: &Map<String, Value>,
    ba: &Map<String, Value>,
) -> Vec<String> {
    let mut out = vec![];
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        if a != b {
            out.push("metadata".into());
        }
        return out;
    };
    let mut keys: Vec<&String> = ao
        .keys()
        .chain(bo.keys())
        .filter(|k| *k != "attributes")
        .collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if ao.get(k) != bo.get(k) {
            out.push(k.clone());
        }
    }
    let mut akeys: Vec<&String> = aa.keys().chain(ba.keys()).collect();
    akeys.sort();
    akeys.dedup();
    for k in akeys {
        if aa.get(k) != ba.get(k) {
            out.push(format!("attributes.{k}"));
        }
    }
    out
}

/// The text report: one line per check, then a summary line.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    for c in &r.checks {
        out.push_str(&format!(
            "{} {:<17} {}: {}\n",
            c.status.as_str(),
            c.check,
            c.path,
            c.message
        ));
    }
    out.push_str(&format!(
        "{}: {} checks: {} pass, {} warn, {} fail{} — {}\n",
        r.location,
        r.checks.len(),
        r.summary.pass,
        r.summary.warn,
        r.summary.fail,
        if r.deep { " (deep)" } else { "" },
        if r.valid { "OK" } else { "FAILED" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::indices;

    #[test]
    fn chunk_indices_row_major() {
        let v: Vec<Vec<u64>> = indices(&[2, 3]).collect();
        assert_eq!(
            v,
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
        assert_eq!(indices(&[]).collect::<Vec<_>>(), vec![Vec::<u64>::new()]);
        assert_eq!(indices(&[3, 0]).count(), 0);
        assert_eq!(indices(&[u64::MAX, u64::MAX]).take(2).count(), 2);
    }
}
