//! What every `validate` check reports into: a [`Check`] per rule and node
//! with its [`Status`], collected in a `Ctx` that knows the tree, the store
//! and which groups are pyramid levels (where a missing item FAILs). The
//! checks themselves live beside it (`variables`, `pyramid`,
//! `consolidated`, `deep`), and `validate` runs them.

use serde::Serialize;

use super::{display, parent_of, Tree};
use crate::store::Store;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The rule holds.
    Pass,
    /// Not what the profile asks for, but readable.
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
    /// `metadata`, and with `--deep`: `chunks`, `overview`; for the
    /// `conventions` profile also `conventions`, `schema`, `layout`,
    /// `scale`, `shape`, `transform`, `bbox`, `proj-code`, `stale-proj`,
    /// `root-bbox`, and with `--deep`: `resampling`).
    pub check: &'static str,
    /// Node path (`/measurements/reflectance/r10m/0/b02`).
    pub path: String,
    /// Why.
    pub message: String,
}

/// The store being checked and the checks so far.
pub(super) struct Ctx<'a> {
    pub tree: &'a Tree,
    pub store: &'a Store,
    pub checks: Vec<Check>,
    /// Level groups of multiscale pyramids.
    pub levels: Vec<String>,
}

impl Ctx<'_> {
    pub(super) fn push(
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
    pub(super) fn required(&self, path: &str) -> Status {
        if self.levels.iter().any(|l| l == parent_of(path)) {
            Status::Fail
        } else {
            Status::Warn
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
