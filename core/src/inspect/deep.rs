//! `validate --deep`: every chunk exists and decodes, and every overview
//! equals the 2×2 block average of its parent level (the same
//! [`crate::geo::downsample`] rule the converter uses: nodata-aware mean, integer
//! results rounded half away from zero; ±1 count or 1e-6 relative slack for
//! other implementations' float rounding).

use rayon::prelude::*;
use serde_json::Value;
use zarrs::array::{ArrayBytes, ArraySubset};

use super::check::{indices, Check, Ctx, Status};
use super::spatial::{self, grid_vars};
use super::{display, name_of, Kind, Tree};
use crate::geo::downsample::{downsample, Pixel};
use crate::path::join;
use crate::store::Store;

fn check(status: Status, name: &'static str, path: &str, message: String) -> Check {
    Check {
        status,
        check: name,
        path: display(path),
        message,
    }
}

fn chunks_of(tree: &Tree, store: &Store, p: &str) -> Check {
    const C: &str = "chunks";
    let a = match tree.zarr_array(store, p) {
        Ok(a) => a,
        Err(e) => return check(Status::Fail, C, p, format!("cannot open for reading: {e}")),
    };
    let grid = a.chunk_grid_shape().to_vec();
    let (mut missing, mut corrupt, mut total) = (vec![], vec![], 0u64);
    for idx in indices(&grid) {
        let idx = &idx;
        total += 1;
        let key = a.chunk_key(idx).as_str().to_string();
        match a.retrieve_encoded_chunk(idx) {
            Err(e) => corrupt.push(format!("{key}: {e}")),
            Ok(None) => missing.push(key),
            Ok(Some(_)) => {
                if let Err(e) = a.retrieve_chunk::<ArrayBytes<'static>>(idx) {
                    corrupt.push(format!("{key} does not decode: {e}"));
                }
            }
        }
    }
    let list = |v: &[String]| {
        let mut s = v.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        if v.len() > 3 {
            s += &format!(" and {} more", v.len() - 3);
        }
        s
    };
    let mut problems = vec![];
    if !missing.is_empty() {
        problems.push(format!(
            "{} of {} chunks missing: {}",
            missing.len(),
            total,
            list(&missing)
        ));
    }
    if !corrupt.is_empty() {
        problems.push(format!(
            "{} chunks corrupt: {}",
            corrupt.len(),
            list(&corrupt)
        ));
    }
    if problems.is_empty() {
        check(
            Status::Pass,
            C,
            p,
            format!("all {total} chunks present and decode"),
        )
    } else {
        check(Status::Fail, C, p, problems.join("; "))
    }
}

/// Every chunk of every array exists and decodes.
pub(super) fn check_chunks(cx: &mut Ctx, arrays: &[&str]) {
    let (tree, store) = (cx.tree, cx.store);
    let results: Vec<Check> = arrays
        .par_iter()
        .map(|p| chunks_of(tree, store, p))
        .collect();
    cx.checks.extend(results);
}

fn fill_of<T: Pixel>(v: Option<&Value>) -> Option<T> {
    match v? {
        Value::Number(n) => n.as_f64().map(T::from_f64),
        Value::String(s) if s == "NaN" => Some(T::from_f64(f64::NAN)),
        _ => None,
    }
}

/// Whether a stored overview pixel matches the recomputed one.
trait Near: Pixel {
    fn near(self, want: Self) -> bool;
    fn show(self) -> String;
}
macro_rules! near_int {
    ($($t:ty),*) => {$(impl Near for $t {
        fn near(self, want: Self) -> bool { (self as i128 - want as i128).abs() <= 1 }
        fn show(self) -> String { self.to_string() }
    })*};
}
near_int!(u8, u16, u32, u64, i8, i16, i32, i64);
macro_rules! near_float {
    ($($t:ty),*) => {$(impl Near for $t {
        fn near(self, want: Self) -> bool {
            (self.is_nan() && want.is_nan()) || (self - want).abs() as f64 <= 1e-6 * (want.abs() as f64).max(1e-12)
        }
        fn show(self) -> String { self.to_string() }
    })*};
}
near_float!(f32, f64);

fn compare<T: Near>(
    tree: &Tree,
    store: &Store,
    child: &str,
    parent: &str,
) -> Result<Option<String>, String> {
    let a = tree.zarr_array(store, child).map_err(|e| e.to_string())?;
    let pa = tree.zarr_array(store, parent).map_err(|e| e.to_string())?;
    let (cs, ps) = (a.shape().to_vec(), pa.shape().to_vec());
    let fill = fill_of::<T>(tree.nodes[child].attrs.get("_FillValue"));
    let chunk = tree.nodes[child].chunks();
    if chunk.len() != 2 || cs.len() != 2 || ps.len() != 2 {
        return Err("not a 2-D regular chunk grid".into());
    }
    let (h, w, ph, pw) = (cs[0], cs[1], ps[0], ps[1]);
    let (mut bad, mut first) = (0u64, None);
    let mut r0 = 0;
    while r0 < h {
        let r1 = (r0 + chunk[0].max(1)).min(h);
        let mut c0 = 0;
        while c0 < w {
            let c1 = (c0 + chunk[1].max(1)).min(w);
            let got: Vec<T> = a
                .retrieve_array_subset(&ArraySubset::new_with_ranges(&[r0..r1, c0..c1]))
                .map_err(|e| e.to_string())?;
            let (pr1, pc1) = ((2 * r1).min(ph), (2 * c1).min(pw));
            let src: Vec<T> = pa
                .retrieve_array_subset(&ArraySubset::new_with_ranges(&[2 * r0..pr1, 2 * c0..pc1]))
                .map_err(|e| e.to_string())?;
            let want = downsample(&src, (pr1 - 2 * r0) as usize, (pc1 - 2 * c0) as usize, fill);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                if !g.near(*e) {
                    bad += 1;
                    if first.is_none() {
                        let (rr, cc) = (i as u64 / (c1 - c0), i as u64 % (c1 - c0));
                        first = Some(format!(
                            "({}, {}): stored {}, expected {}",
                            r0 + rr,
                            c0 + cc,
                            g.show(),
                            e.show()
                        ));
                    }
                }
            }
            c0 = c1;
        }
        r0 = r1;
    }
    Ok(first.map(|f| {
        format!(
            "{bad} of {} pixels differ from the 2×2 average of {}; first at {f}",
            h * w,
            display(parent)
        )
    }))
}

fn overview_of(tree: &Tree, store: &Store, child: &str, parent: &str) -> Check {
    const C: &str = "overview";
    let (cn, pn) = (&tree.nodes[child], &tree.nodes[parent]);
    let (cs, ps) = (cn.shape(), pn.shape());
    if cs.len() != 2 || ps.len() != 2 || cs != [ps[0].div_ceil(2), ps[1].div_ceil(2)] {
        return check(
            Status::Warn,
            C,
            child,
            format!(
                "not compared: shape {cs:?} is not the 2×2 reduction of {} {ps:?}",
                display(parent)
            ),
        );
    }
    let dt = cn.dtype();
    if dt != pn.dtype() {
        return check(
            Status::Fail,
            C,
            child,
            format!(
                "data type {dt} differs from {} ({})",
                display(parent),
                pn.dtype()
            ),
        );
    }
    let r = match dt.as_str() {
        "uint8" => compare::<u8>(tree, store, child, parent),
        "uint16" => compare::<u16>(tree, store, child, parent),
        "uint32" => compare::<u32>(tree, store, child, parent),
        "uint64" => compare::<u64>(tree, store, child, parent),
        "int8" => compare::<i8>(tree, store, child, parent),
        "int16" => compare::<i16>(tree, store, child, parent),
        "int32" => compare::<i32>(tree, store, child, parent),
        "int64" => compare::<i64>(tree, store, child, parent),
        "float32" => compare::<f32>(tree, store, child, parent),
        "float64" => compare::<f64>(tree, store, child, parent),
        other => {
            return check(
                Status::Warn,
                C,
                child,
                format!("not compared: data type {other}"),
            )
        }
    };
    match r {
        Ok(None) => check(
            Status::Pass,
            C,
            child,
            format!("equals the 2×2 block average of {}", display(parent)),
        ),
        Ok(Some(msg)) => check(Status::Fail, C, child, msg),
        Err(e) => check(Status::Fail, C, child, format!("cannot read: {e}")),
    }
}

/// Each overview band equals the 2×2 block average of the same band one level up.
pub(super) fn check_overviews(cx: &mut Ctx) {
    let tree = cx.tree;
    let mut pairs = vec![];
    for (g, n) in &tree.nodes {
        if n.kind != Kind::Group || !n.attrs.contains_key("multiscales") {
            continue;
        }
        let levels = spatial::level_groups(tree, g);
        for (l, lp) in &levels {
            let Some((_, pp)) = levels.iter().find(|(pl, _)| *l > 0 && *pl == l - 1) else {
                continue;
            };
            for v in grid_vars(tree, lp) {
                let parent = join(pp, name_of(v));
                if tree.array(&parent).is_some() {
                    pairs.push((v.to_string(), parent));
                }
            }
        }
    }
    let store = cx.store;
    let results: Vec<Check> = pairs
        .par_iter()
        .map(|(c, p)| overview_of(tree, store, c, p))
        .collect();
    cx.checks.extend(results);
}
