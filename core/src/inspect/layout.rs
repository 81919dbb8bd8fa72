//! `validate` of a `conventions` store's pyramids: each multiscale group's
//! `layout` (assets are child groups, `derived_from` names an earlier
//! level, `transform.scale` × the parent's pixel = the level's pixel, level
//! shapes are the exact reduction of their parent), its own bbox and
//! `proj:code`, every level's grid (`level`), and the root's EPSG:4326
//! bbox. [`check_store`] runs them all; it reads the levels' x/y values
//! first (the only I/O), many at a time.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::check::{missing_chunks, Ctx, Status};
use super::conventions::{
    self, close, layout, level_like_children, multiscale_groups, nums, spatial_groups, Coords,
    Grid, Layout, PixelSource,
};
use super::level::{bbox_problem, check_level, check_proj_code, same_bbox, Context};
use super::registration::check_registrations;
use super::{display, name_of, par_map, Kind, Tree};
use crate::path::join;
use crate::store::Store;

/// x/y values of a group when both are 1-D arrays whose chunks are all
/// stored; else why not (a metadata-only store is no failure here: `--deep`
/// reports missing chunks).
fn read_coords(tree: &Tree, store: &Store, group: &str) -> Result<Coords, String> {
    let cx = Ctx {
        tree,
        store,
        checks: vec![],
        levels: vec![],
    };
    let mut vals = vec![];
    for axis in ["x", "y"] {
        let p = join(group, axis);
        if tree.array(&p).is_none_or(|n| n.shape().len() != 1) {
            return Err("no 1-D x/y arrays".into());
        }
        match missing_chunks(&cx, &p) {
            Ok(m) if !m.is_empty() => return Err("x/y values not stored".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("cannot read {}: {e}", display(&p))),
        }
        vals.push(tree.read_1d(store, &p).map_err(|e| e.to_string())?);
    }
    let y = vals.pop().unwrap_or_default();
    let x = vals.pop().unwrap_or_default();
    Ok(Coords { x, y })
}

/// The levels to check: (group, its multiscale group if in a layout).
fn level_groups(tree: &Tree) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    for g in multiscale_groups(tree) {
        for e in layout(&tree.nodes[g].attrs).unwrap_or_default().entries {
            let lp = join(g, &e.asset);
            if !e.asset.is_empty() && tree.get(&lp).is_some_and(|n| n.kind == Kind::Group) {
                out.insert(lp, Some(g.to_string()));
            }
        }
    }
    for p in spatial_groups(tree) {
        out.entry(p.to_string()).or_insert(None);
    }
    out
}

/// Paths of the level groups of every layout (for [`Ctx::levels`]).
pub(super) fn layout_levels(tree: &Tree) -> Vec<String> {
    level_groups(tree)
        .into_iter()
        .filter(|(_, g)| g.is_some())
        .map(|(p, _)| p)
        .collect()
}

/// Every `conventions` check but `--deep`'s.
pub(super) fn check_store(cx: &mut Ctx) {
    let tree = cx.tree;
    let store = cx.store;
    check_registrations(cx);
    check_root_bbox(cx);
    let levels: Vec<(String, Option<String>)> = level_groups(tree).into_iter().collect();
    let coords = par_map(&levels, |(p, _)| read_coords(tree, store, p));
    let mut grids: BTreeMap<String, Grid> = BTreeMap::new();
    let mut notes: BTreeMap<String, String> = BTreeMap::new();
    for ((p, g), c) in levels.iter().zip(coords) {
        let l = g.as_ref().and_then(|g| layout(&tree.nodes[g].attrs));
        let entry = l.as_ref().and_then(|l| l.entry(name_of(p)).cloned());
        let (c, note) = match c {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        };
        grids.insert(p.clone(), Grid::of(tree, p, entry.as_ref(), c));
        if let Some(n) = note {
            notes.insert(p.clone(), n);
        }
    }
    let groups = multiscale_groups(tree);
    for g in &groups {
        check_multiscale_group(cx, g, &grids, &notes);
    }
    for (p, g) in &levels {
        if g.is_none() {
            let lc = Context {
                group_code: None,
                coords_note: notes.get(p).cloned(),
            };
            check_level(cx, p, &grids[p], &lc);
        }
    }
    // groups of profile levels that are no multiscale group
    for (p, n) in &tree.nodes {
        if n.kind != Kind::Group || groups.contains(&p.as_str()) {
            continue;
        }
        // levels of 2-D (y, x) bands: what the profile converts (a group of
        // 3-D arrays, like the quicklook's (band, y, x), is carried over)
        let lv: Vec<&str> = level_like_children(tree, p)
            .into_iter()
            .filter(|l| {
                tree.arrays_in(l)
                    .any(|(_, n)| n.dims() == ["y", "x"] && n.shape().len() == 2)
            })
            .map(name_of)
            .collect();
        if !lv.is_empty() {
            cx.push(
                Status::Warn,
                "layout",
                p,
                format!(
                    "holds levels {} but no multiscales layout: the conventions profile makes \
                     every group of r{{N}}m levels a multiscale group",
                    lv.join(", ")
                ),
            );
        }
    }
}

fn check_multiscale_group(
    cx: &mut Ctx,
    g: &str,
    grids: &BTreeMap<String, Grid>,
    notes: &BTreeMap<String, String>,
) {
    let attrs = &cx.tree.nodes[g].attrs;
    let Some(l) = layout(attrs) else {
        return cx.push(
            Status::Fail,
            "layout",
            g,
            "registers multiscales but has no multiscales.layout list",
        );
    };
    let group_code = attrs.get("proj:code").and_then(|v| v.as_str());
    let group_code = group_code.map(String::from);
    check_layout(cx, g, &l);
    check_proj_code(cx, g, group_code.as_deref(), None);
    check_group_bbox(cx, g, &l, grids);
    for e in &l.entries {
        let lp = join(g, &e.asset);
        let Some(grid) = grids.get(&lp) else {
            continue; // reported by `layout`
        };
        let lc = Context {
            group_code: group_code.as_deref(),
            coords_note: notes.get(&lp).cloned(),
        };
        check_level(cx, &lp, grid, &lc);
        if let Some(src) = e.derived_from.as_deref() {
            if let Some(pg) = grids.get(&join(g, src)) {
                check_scale(cx, &lp, e.scale.as_deref(), grid, pg);
                check_level_shape(cx, &lp, e.scale.as_deref(), grid, pg, &l, g, grids);
            }
        }
    }
}

fn check_layout(cx: &mut Ctx, g: &str, l: &Layout) {
    const C: &str = "layout";
    if l.entries.is_empty() {
        return cx.push(Status::Fail, C, g, "multiscales.layout is empty");
    }
    let tree = cx.tree;
    let mut ok = true;
    let mut seen: Vec<&str> = vec![];
    for (i, e) in l.entries.iter().enumerate() {
        if e.asset.is_empty() {
            ok = false;
            cx.push(Status::Fail, C, g, format!("layout entry {i} has no asset"));
            continue;
        }
        let lp = join(g, &e.asset);
        if seen.contains(&e.asset.as_str()) {
            ok = false;
            cx.push(
                Status::Fail,
                C,
                &lp,
                format!("asset {} is listed twice", e.asset),
            );
        }
        seen.push(&e.asset);
        match tree.get(&lp) {
            None => {
                ok = false;
                cx.push(
                    Status::Fail,
                    C,
                    &lp,
                    format!(
                        "layout asset {}: the group {} does not exist",
                        e.asset,
                        display(&lp)
                    ),
                );
            }
            Some(n) if n.kind != Kind::Group => {
                ok = false;
                cx.push(
                    Status::Fail,
                    C,
                    &lp,
                    format!(
                        "layout asset {} is an array: the profile's levels are groups",
                        e.asset
                    ),
                );
            }
            Some(_) => {}
        }
        if let Some(d) = &e.derived_from {
            match l.entries.iter().position(|x| x.asset == *d) {
                None => {
                    ok = false;
                    cx.push(
                        Status::Fail,
                        C,
                        &lp,
                        format!(
                            "{} is derived_from {d}, which is not a layout asset",
                            e.asset
                        ),
                    );
                }
                Some(j) if j >= i => {
                    ok = false;
                    cx.push(
                        Status::Fail,
                        C,
                        &lp,
                        format!(
                            "{} is derived_from {d}, which does not precede it in the layout",
                            e.asset
                        ),
                    );
                }
                Some(_) => {}
            }
        }
    }
    for c in level_like_children(tree, g) {
        if l.entry(name_of(c)).is_none() {
            cx.push(
                Status::Warn,
                C,
                c,
                format!("{} holds bands but is not in the layout", name_of(c)),
            );
        }
    }
    if ok {
        let chain: Vec<String> = l
            .entries
            .iter()
            .map(|e| match &e.derived_from {
                Some(d) => format!("{} ← {d}", e.asset),
                None => e.asset.clone(),
            })
            .collect();
        cx.push(
            Status::Pass,
            C,
            g,
            format!(
                "{} levels ({}): every asset is a child group, every derived_from an earlier level",
                l.entries.len(),
                chain.join(", ")
            ),
        );
    }
}

fn pixel_text(name: &str, p: f64, src: PixelSource) -> String {
    let from = match src {
        PixelSource::Name => "its name".to_string(),
        s => s.as_str().to_string(),
    };
    format!("{name}'s pixel {} (from {from})", conventions::num(p))
}

/// `transform.scale` × the parent level's pixel = the level's pixel
/// (relative 1e-9), per axis (scale in [y, x] order, as the dimensions).
fn check_scale(cx: &mut Ctx, lp: &str, scale: Option<&[f64]>, child: &Grid, parent: &Grid) {
    const C: &str = "scale";
    let Some(scale) = scale else {
        return cx.push(
            Status::Fail,
            C,
            lp,
            format!("derived from {} without transform.scale", parent.name),
        );
    };
    let [sy, sx] = match scale {
        [sy, sx] => [*sy, *sx],
        _ => {
            return cx.push(
                Status::Fail,
                C,
                lp,
                format!("transform.scale {} is not two numbers", nums(scale)),
            )
        }
    };
    let (Some((cp, cs)), Some((pp, ps))) = (child.pixel(), parent.pixel()) else {
        let who = if child.pixel().is_none() {
            &child.name
        } else {
            &parent.name
        };
        return cx.push(
            Status::Warn,
            C,
            lp,
            format!(
                "transform.scale {} not checked: the pixel size of {who} is unknown (no \
                 spatial:transform, no x/y values, not named r{{N}}m)",
                nums(scale)
            ),
        );
    };
    let ok = close(sx * pp[0], cp[0], 1e-9) && close(sy * pp[1], cp[1], 1e-9);
    if ok {
        cx.push(
            Status::Pass,
            C,
            lp,
            format!(
                "transform.scale {} × {} = {}",
                nums(scale),
                pixel_text(&parent.name, pp[0], ps),
                pixel_text(&child.name, cp[0], cs)
            ),
        );
    } else {
        let exact = [cp[1] / pp[1], cp[0] / pp[0]];
        cx.push(
            Status::Fail,
            C,
            lp,
            format!(
                "inexact scale: transform.scale {} × {} = {}, but {}: the exact scale is {}",
                nums(scale),
                pixel_text(&parent.name, pp[0], ps),
                conventions::num(sx * pp[0]),
                pixel_text(&child.name, cp[0], cs),
                nums(&exact)
            ),
        );
    }
}

fn integral(k: f64) -> Option<u64> {
    let r = k.round();
    (r >= 1.0 && close(k, r, 1e-9)).then_some(r as u64)
}

/// A derived level's shape is `ceil(parent / k)` for its integer factor k
/// (pixel ratio, else the scale): a partial last block is kept.
#[allow(clippy::too_many_arguments)]
fn check_level_shape(
    cx: &mut Ctx,
    lp: &str,
    scale: Option<&[f64]>,
    child: &Grid,
    parent: &Grid,
    l: &Layout,
    g: &str,
    grids: &BTreeMap<String, Grid>,
) {
    const C: &str = "level-shape";
    let (Some(cs), Some(ps)) = (child.shape(), parent.shape()) else {
        return;
    };
    let k: Option<[f64; 2]> = match (child.pixel(), parent.pixel()) {
        (Some((c, _)), Some((p, _))) => Some([c[1] / p[1], c[0] / p[0]]),
        _ => scale.and_then(|s| <[f64; 2]>::try_from(s).ok()),
    };
    let Some(k) = k else {
        return;
    };
    let (Some(ky), Some(kx)) = (integral(k[0]), integral(k[1])) else {
        return cx.push(
            Status::Warn,
            C,
            lp,
            format!(
                "shape {:?} not checked: the factor {} from {} is not an integer",
                cs,
                nums(&k),
                parent.name
            ),
        );
    };
    let want = [ps[0].div_ceil(ky), ps[1].div_ceil(kx)];
    let fmt = |s: [u64; 2]| format!("[{}, {}]", s[0], s[1]);
    let how = if kx == ky {
        format!("ceil({} / {kx}) of {}", fmt(ps), parent.name)
    } else {
        format!("ceil({} / [{ky}, {kx}]) of {}", fmt(ps), parent.name)
    };
    if cs == want {
        return cx.push(Status::Pass, C, lp, format!("{} = {how}", fmt(cs)));
    }
    let mut msg = format!(
        "spatial:shape/bands {}, expected {} = {how}",
        fmt(cs),
        fmt(want)
    );
    if cs == [ps[0] / ky, ps[1] / kx] {
        msg += ": the partial last block is dropped";
    }
    // the finest level's extent in this level's pixels
    let first = l
        .entries
        .first()
        .and_then(|e| grids.get(&join(g, &e.asset)));
    if let (Some(f), Some((cp, _))) = (first, child.pixel()) {
        if let (Some(fs), Some((fp, _))) = (f.shape(), f.pixel()) {
            if f.name != child.name {
                msg += &format!(
                    " ({}'s {} px × {} = {} px × {})",
                    f.name,
                    fs[1],
                    conventions::num(fp[0]),
                    conventions::num(fs[1] as f64 * fp[0] / cp[0]),
                    conventions::num(cp[0])
                );
            }
        }
    }
    cx.push(Status::Fail, C, lp, msg);
}

/// The multiscale group's `spatial:bbox`: there, not zeros, ordered, and
/// the finest level's.
fn check_group_bbox(cx: &mut Ctx, g: &str, l: &Layout, grids: &BTreeMap<String, Grid>) {
    const C: &str = "bbox";
    let Some(b) = conventions::bbox4(cx.tree.nodes[g].attrs.get("spatial:bbox")) else {
        return cx.push(Status::Warn, C, g, "no spatial:bbox");
    };
    let first = l
        .entries
        .first()
        .and_then(|e| grids.get(&join(g, &e.asset)));
    let want = first.and_then(|f| f.computed_bbox().or(f.bbox_attr).map(|b| (f, b)));
    if let Some(p) = bbox_problem(&b) {
        let mut msg = p;
        if let Some((f, w)) = want.filter(|(_, w)| bbox_problem(w).is_none()) {
            msg += &format!("; the finest level {} spans {}", f.name, nums(&w));
        }
        return cx.push(Status::Fail, C, g, msg);
    }
    match want {
        Some((f, w)) => {
            let pixel = f.pixel().map_or(0.0, |(p, _)| p[0]);
            if same_bbox(&b, &w, pixel) {
                cx.push(
                    Status::Pass,
                    C,
                    g,
                    format!("spatial:bbox {} = the finest level {}'s", nums(&b), f.name),
                );
            } else {
                cx.push(
                    Status::Fail,
                    C,
                    g,
                    format!(
                        "spatial:bbox {} but the finest level {} spans {}",
                        nums(&b),
                        f.name,
                        nums(&w)
                    ),
                );
            }
        }
        None => cx.push(Status::Pass, C, g, format!("spatial:bbox {}", nums(&b))),
    }
}

/// The root's footprint: `spatial:bbox` [west, south, east, north] in
/// degrees when its `proj:code` is EPSG:4326.
fn check_root_bbox(cx: &mut Ctx) {
    const C: &str = "root-bbox";
    let attrs = &cx.tree.nodes[""].attrs;
    let code = attrs.get("proj:code").and_then(|v| v.as_str());
    let b = conventions::bbox4(attrs.get("spatial:bbox"));
    match (code, b) {
        (None, None) => cx.push(
            Status::Warn,
            C,
            "",
            "the root has no proj:code EPSG:4326 and spatial:bbox (the profile writes the \
             product's footprint there)",
        ),
        (Some("EPSG:4326"), None) => cx.push(
            Status::Warn,
            C,
            "",
            "proj:code EPSG:4326 without spatial:bbox",
        ),
        (Some("EPSG:4326"), Some(b)) => {
            let [w, s, e, n] = b;
            let mut problems = vec![];
            if b.iter().all(|v| *v == 0.0) {
                problems.push("it is [0, 0, 0, 0]".to_string());
            }
            for (what, v, lim) in [
                ("west", w, 180.0),
                ("east", e, 180.0),
                ("south", s, 90.0),
                ("north", n, 90.0),
            ] {
                if v.is_nan() || v.abs() > lim {
                    problems.push(format!("{what} {v} is outside ±{lim}"));
                }
            }
            if w.partial_cmp(&e) != Some(Ordering::Less) {
                problems.push(format!("west {w} is not less than east {e}"));
            }
            if s.partial_cmp(&n) != Some(Ordering::Less) {
                problems.push(format!("south {s} is not less than north {n}"));
            }
            if problems.is_empty() {
                cx.push(
                    Status::Pass,
                    C,
                    "",
                    format!("spatial:bbox {} is an EPSG:4326 extent", nums(&b)),
                );
            } else {
                cx.push(
                    Status::Fail,
                    C,
                    "",
                    format!(
                        "spatial:bbox {} (EPSG:4326): {}",
                        nums(&b),
                        problems.join("; ")
                    ),
                );
            }
        }
        (code, _) => cx.push(
            Status::Warn,
            C,
            "",
            format!(
                "root proj:code {}: the profile writes the footprint in EPSG:4326",
                code.unwrap_or("absent")
            ),
        ),
    }
}
