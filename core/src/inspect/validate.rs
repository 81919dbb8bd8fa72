//! `validate`: is a store real GeoZarr? One [`Check`] per rule and node,
//! `PASS`/`WARN`/`FAIL` with the node path and a reason.
//!
//! Severity: inside a multiscale pyramid's level groups (what GeoZarr
//! describes) a missing required item or a CF name outside the table FAILs;
//! elsewhere (carried-over groups, EOPF inputs, whose metadata is the
//! product's own — e.g. GRIB's `standard_name: "unknown"`) it WARNs.
//! Anything that contradicts itself, the data or the stored metadata — a
//! dangling reference, a GeoTransform off the coordinates, a missing level,
//! a stale consolidated entry, a missing or corrupt chunk, wrong overview
//! values — FAILs everywhere.
//!
//! Profile: a store with a group registering the zarr-conventions
//! `multiscales` uuid is checked as the `conventions` profile
//! (`docs/conventions-profile.md`), any other as `geozarr-0.4`; the report
//! names which.
//!
//! The checks live in `variables` (arrays and groups), `pyramid`
//! (multiscales), `consolidated` and `deep` (`--deep`); for `conventions`
//! stores in `registration` and `schema` (convention entries, bundled JSON
//! schemas), `layout` (multiscale groups), `level` (level grids) and
//! `derived` (`--deep`: derived levels against their resampling rule).

use std::collections::BTreeMap;

use serde::Serialize;

use super::check::Ctx;
pub use super::check::{Check, Status};
use super::consolidated::check_consolidated;
use super::conventions::profile_of;
pub use super::conventions::Profile;
use super::pyramid::check_multiscales;
use super::variables::{
    check_chunk_alignment, check_crs, check_dimension_lengths, check_dimensions,
    check_geotransform, check_grid_mapping, check_standard_name, grid_mapping_vars,
};
use super::{spatial, Kind, Read, Tree};
use crate::store::Store;
use crate::Result;

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
    /// Which profile the store was checked as.
    pub profile: Profile,
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

/// Validate the store at `location`. Errors only when it cannot be read as
/// Zarr at all; every other problem is a failed check in the report.
pub fn validate(store: &Store, location: &str, opts: Options) -> Result<Report> {
    let tree = Tree::open(store, location, Read::Stored)?;
    let profile = profile_of(&tree);
    let levels = match profile {
        Profile::Conventions => super::layout::layout_levels(&tree),
        Profile::Geozarr04 => tree
            .nodes
            .iter()
            .filter(|(_, n)| n.kind == Kind::Group && n.attrs.contains_key("multiscales"))
            .flat_map(|(p, _)| spatial::level_groups(&tree, p).into_iter().map(|(_, g)| g))
            .collect(),
    };
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
    match profile {
        Profile::Geozarr04 => geozarr_04(&mut cx, &arrays),
        Profile::Conventions => conventions(&mut cx, &arrays),
    }
    check_consolidated(&mut cx)?;
    if opts.deep {
        super::deep::check_chunks(&mut cx, &arrays);
        match profile {
            Profile::Geozarr04 => super::deep::check_overviews(&mut cx),
            Profile::Conventions => super::derived::check_derived(&mut cx),
        }
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
        profile,
        deep: opts.deep,
        valid: summary.fail == 0,
        summary,
        checks: cx.checks,
    })
}

/// The GeoZarr 0.4 checks of arrays and groups.
fn geozarr_04(cx: &mut Ctx, arrays: &[&str]) {
    let (tree, store) = (cx.tree, cx.store);
    let gm_vars = grid_mapping_vars(tree);
    // GeoTransform checks read coordinates: run them side by side (remote stores)
    let mut geo: BTreeMap<&str, Vec<Check>> = gm_vars
        .iter()
        .map(String::as_str)
        .zip(super::par_map(&gm_vars, |p| {
            let mut local = Ctx {
                tree,
                store,
                checks: vec![],
                levels: cx.levels.clone(),
            };
            check_geotransform(&mut local, p);
            local.checks
        }))
        .collect();
    for &p in arrays {
        check_dimensions(cx, p);
        if gm_vars.contains(&p.to_string()) {
            check_crs(cx, p);
            cx.checks.extend(geo.remove(p).unwrap_or_default());
        } else {
            check_standard_name(cx, p);
            check_grid_mapping(cx, p);
            check_chunk_alignment(cx, p);
        }
    }
    for g in groups(tree) {
        check_dimension_lengths(cx, g);
        if tree.nodes[g].attrs.contains_key("multiscales") {
            check_multiscales(cx, g);
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
}

/// The `conventions` checks: registrations, schemas, layouts and level
/// grids (`layout`), then the grid mappings' CRS, band chunk alignment and
/// dimension lengths as for GeoZarr 0.4 (its CF naming rules are not the
/// profile's).
fn conventions(cx: &mut Ctx, arrays: &[&str]) {
    let tree = cx.tree;
    super::layout::check_store(cx);
    let gm_vars = grid_mapping_vars(tree);
    for &p in arrays {
        if gm_vars.contains(&p.to_string()) {
            check_crs(cx, p);
        } else {
            check_chunk_alignment(cx, p);
        }
    }
    for g in groups(tree) {
        check_dimension_lengths(cx, g);
    }
}

fn groups(tree: &Tree) -> Vec<&str> {
    tree.nodes
        .iter()
        .filter(|(_, n)| n.kind == Kind::Group)
        .map(|(p, _)| p.as_str())
        .collect()
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
        "{}: profile {}, {} checks: {} pass, {} warn, {} fail{} — {}\n",
        r.location,
        r.profile.as_str(),
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
    use super::super::check::indices;

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
