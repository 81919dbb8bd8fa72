//! `validate --deep` of a `conventions` store: each derived level's bands
//! equal their resampling rule (`rules`) applied to the level they are
//! derived from, by the layout's scale, on a sample of blocks. Arrays are
//! read through zarrs, so `sharding_indexed` bands are read shard-partially.
//!
//! Which bands: a band with a `derived_from` attribute (`r10m/b08`,
//! relative to the multiscale group) is compared with that array. When the
//! group marks its derived bands so (as the profile does), unmarked bands
//! are native and skipped; when it marks none (the Python tool), every band
//! of a level with a layout `derived_from` is compared with the same-named
//! band there, and a difference is only a warning (it may be native data).
//! The rule: the band's `resampling_method`, else the layout entry's, else
//! the group's, else `average`. Nodata: the `_FillValue` attribute (and NaN);
//! the Zarr `fill_value` alone is data.

use rayon::prelude::*;
use serde_json::Value;
use zarrs::array::ArraySubset;

use super::check::{Check, Ctx, Status};
use super::conventions::{self, layout, multiscale_groups, nums, pixel_of_name, Grid};
use super::rules::{resample, Px, Rule};
use super::{display, name_of, Tree};
use crate::path::join;
use crate::store::Store;

/// Blocks sampled per band at most.
const SAMPLE_BLOCKS: usize = 8;
/// The side of a sampled block at most (pixels of the derived level).
const BLOCK_MAX: u64 = 256;

/// One band to compare.
struct Job {
    child: String,
    parent: String,
    k: [u64; 2],
    rule: Rule,
    /// The rule was not stated anywhere.
    rule_default: bool,
    /// The band is marked derived (a failure when it differs).
    marked: bool,
}

fn check(status: Status, path: &str, message: String) -> Check {
    Check {
        status,
        check: "resampling",
        path: display(path),
        message,
    }
}

fn integral(k: f64) -> Option<u64> {
    let r = k.round();
    (r >= 1.0 && conventions::close(k, r, 1e-9)).then_some(r as u64)
}

/// The bands to compare, and the checks already decided (not comparable).
fn jobs(tree: &Tree) -> (Vec<Job>, Vec<Check>) {
    let mut jobs = vec![];
    let mut decided = vec![];
    for g in multiscale_groups(tree) {
        let Some(l) = layout(&tree.nodes[g].attrs) else {
            continue;
        };
        let levels: Vec<String> = l.entries.iter().map(|e| join(g, &e.asset)).collect();
        let marks = levels.iter().any(|lp| {
            conventions::bands(tree, lp)
                .iter()
                .any(|(b, _)| tree.nodes[*b].attrs.contains_key("derived_from"))
        });
        for e in &l.entries {
            let lp = join(g, &e.asset);
            for (b, _) in conventions::bands(tree, &lp) {
                let attrs = &tree.nodes[b].attrs;
                let marked_from = attrs.get("derived_from").and_then(Value::as_str);
                let (src_level, parent) = match (marked_from, &e.derived_from) {
                    (Some(m), _) => {
                        let p = join(g, m);
                        let level = crate::path::parent_of(&p).to_string();
                        (level, p)
                    }
                    (None, Some(d)) if !marks => {
                        let level = join(g, d);
                        let p = join(&level, name_of(b));
                        (level, p)
                    }
                    _ => continue, // native
                };
                if tree.array(&parent).is_none() {
                    if marked_from.is_some() {
                        decided.push(check(
                            Status::Fail,
                            b,
                            format!(
                                "derived_from names {}, which does not exist",
                                display(&parent)
                            ),
                        ));
                    }
                    continue;
                }
                // the factor: the layout's scale when derived from the layout's
                // parent level, else the ratio of the levels' pixel sizes
                let from_layout =
                    e.derived_from.as_deref().map(|d| join(g, d)) == Some(src_level.clone());
                let k: Option<Vec<f64>> = if from_layout {
                    e.scale.clone()
                } else {
                    let px = |p: &str| Grid::of(tree, p, l.entry(name_of(p)), None).pixel();
                    match (px(&lp), px(&src_level)) {
                        (Some((c, _)), Some((p, _))) => Some(vec![c[1] / p[1], c[0] / p[0]]),
                        _ => pixel_of_name(name_of(&lp))
                            .zip(pixel_of_name(name_of(&src_level)))
                            .map(|(c, p)| vec![c / p, c / p]),
                    }
                };
                let k = match k.as_deref() {
                    Some([ky, kx]) => match (integral(*ky), integral(*kx)) {
                        (Some(ky), Some(kx)) => [ky, kx],
                        _ => {
                            decided.push(check(
                                Status::Warn,
                                b,
                                format!(
                                    "not compared: the factor {} from {} is not an integer",
                                    nums(&[*ky, *kx]),
                                    display(&parent)
                                ),
                            ));
                            continue;
                        }
                    },
                    _ => {
                        decided.push(check(
                            Status::Warn,
                            b,
                            format!("not compared: no factor from {}", display(&parent)),
                        ));
                        continue;
                    }
                };
                let stated = attrs
                    .get("resampling_method")
                    .and_then(Value::as_str)
                    .or(e.resampling_method.as_deref())
                    .or(l.resampling_method.as_deref());
                let rule = match stated.map(|s| (s, Rule::parse(s))) {
                    None => Rule::Average,
                    Some((_, Some(r))) => r,
                    Some((s, None)) => {
                        decided.push(check(
                            Status::Warn,
                            b,
                            format!("not compared: resampling_method {s:?} is not a profile rule"),
                        ));
                        continue;
                    }
                };
                jobs.push(Job {
                    child: b.to_string(),
                    parent,
                    k,
                    rule,
                    rule_default: stated.is_none(),
                    marked: marked_from.is_some(),
                });
            }
        }
    }
    (jobs, decided)
}

/// Each derived band against its rule, on a sample of blocks.
pub(super) fn check_derived(cx: &mut Ctx) {
    let (tree, store) = (cx.tree, cx.store);
    let (jobs, decided) = jobs(tree);
    cx.checks.extend(decided);
    let results: Vec<Check> = jobs
        .par_iter()
        .map(|j| compare_job(tree, store, j))
        .collect();
    cx.checks.extend(results);
}

fn fill_of<T: Px>(tree: &Tree, p: &str) -> Option<T> {
    let n = &tree.nodes[p];
    let v = |v: &Value| match v {
        Value::Number(x) => x.as_f64().map(T::from_f64),
        Value::String(s) if s == "NaN" => Some(T::from_f64(f64::NAN)),
        _ => None,
    };
    // nodata is the CF `_FillValue` alone: the Zarr `fill_value` only says
    // what unwritten chunks hold (a uint8 mask without `_FillValue` has
    // fill_value 0, and its 0s are data); NaN is skipped by the rules anyway
    n.attrs.get("_FillValue").and_then(v)
}

/// Whether a stored pixel matches the rule's.
trait Near: Px {
    fn near(self, want: Self, rule: Rule) -> bool;
}
macro_rules! near_int {
    ($($t:ty),*) => {$(impl Near for $t {
        fn near(self, want: Self, rule: Rule) -> bool {
            // averages: ±1 count for other implementations' float rounding
            self == want || (rule == Rule::Average && (self as i128 - want as i128).abs() <= 1)
        }
    })*};
}
near_int!(u8, u16, u32, u64, i8, i16, i32, i64);
macro_rules! near_float {
    ($($t:ty),*) => {$(impl Near for $t {
        fn near(self, want: Self, rule: Rule) -> bool {
            (self.is_nan() && want.is_nan())
                || self == want
                || (rule == Rule::Average
                    && (self - want).abs() as f64 <= 1e-6 * (want.abs() as f64).max(1e-12))
        }
    })*};
}
near_float!(f32, f64);

/// Block indices to sample from a grid of `nb` blocks: the corners, the
/// centre and a few spread between (all when there are few).
fn sample(nb: [u64; 2]) -> Vec<[u64; 2]> {
    let [r, c] = nb;
    if r * c <= SAMPLE_BLOCKS as u64 {
        return (0..r).flat_map(|i| (0..c).map(move |j| [i, j])).collect();
    }
    let mut v: Vec<[u64; 2]> = vec![];
    let candidates = [
        [0, 0],
        [0, c - 1],
        [r - 1, 0],
        [r - 1, c - 1],
        [r / 2, c / 2],
    ]
    .into_iter()
    .chain((1..8u64).map(|t| [t * r / 8, (5 * t % 8) * c / 8]));
    for b in candidates {
        if v.len() < SAMPLE_BLOCKS && !v.contains(&b) {
            v.push(b);
        }
    }
    v
}

/// The sampled block side: the band's (inner) chunk, at most [`BLOCK_MAX`].
fn block_of(tree: &Tree, p: &str) -> [u64; 2] {
    let n = &tree.nodes[p];
    let inner = n
        .meta
        .get("codecs")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["name"] == "sharding_indexed"))
        .map(|c| crate::tree::u64_list(&c["configuration"]["chunk_shape"]));
    let chunk = inner.unwrap_or_else(|| n.chunks());
    let side = |i: usize| {
        chunk
            .get(i)
            .copied()
            .unwrap_or(BLOCK_MAX)
            .clamp(1, BLOCK_MAX)
    };
    [side(0), side(1)]
}

struct Outcome {
    blocks: usize,
    pixels: u64,
    bad: u64,
    first: Option<String>,
}

fn compare<T: Near>(tree: &Tree, store: &Store, j: &Job) -> Result<Outcome, String> {
    let a = tree
        .zarr_array(store, &j.child)
        .map_err(|e| e.to_string())?;
    let pa = tree
        .zarr_array(store, &j.parent)
        .map_err(|e| e.to_string())?;
    let (cs, ps) = (a.shape().to_vec(), pa.shape().to_vec());
    let fill = fill_of::<T>(tree, &j.child);
    let [ky, kx] = j.k;
    let [bh, bw] = block_of(tree, &j.child);
    let (h, w, ph, pw) = (cs[0], cs[1], ps[0], ps[1]);
    let blocks = sample([h.div_ceil(bh), w.div_ceil(bw)]);
    let mut out = Outcome {
        blocks: blocks.len(),
        pixels: 0,
        bad: 0,
        first: None,
    };
    for [bi, bj] in blocks {
        let (r0, c0) = (bi * bh, bj * bw);
        let (r1, c1) = ((r0 + bh).min(h), (c0 + bw).min(w));
        let got: Vec<T> = a
            .retrieve_array_subset(&ArraySubset::new_with_ranges(&[r0..r1, c0..c1]))
            .map_err(|e| e.to_string())?;
        let (pr0, pc0) = (r0 * ky, c0 * kx);
        let (pr1, pc1) = ((r1 * ky).min(ph), (c1 * kx).min(pw));
        let src: Vec<T> = pa
            .retrieve_array_subset(&ArraySubset::new_with_ranges(&[pr0..pr1, pc0..pc1]))
            .map_err(|e| e.to_string())?;
        let region = [(pr1 - pr0) as usize, (pc1 - pc0) as usize];
        let want = resample(&src, region, [ky as usize, kx as usize], j.rule, fill)
            .ok_or_else(|| format!("{} does not apply to this data type", j.rule.as_str()))?;
        out.pixels += got.len() as u64;
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            if !g.near(*e, j.rule) {
                out.bad += 1;
                if out.first.is_none() {
                    let (rr, cc) = (i as u64 / (c1 - c0), i as u64 % (c1 - c0));
                    out.first = Some(format!(
                        "({}, {}): stored {g:?}, expected {e:?}",
                        r0 + rr,
                        c0 + cc
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn compare_job(tree: &Tree, store: &Store, j: &Job) -> Check {
    let (cn, pn) = (&tree.nodes[&j.child], &tree.nodes[&j.parent]);
    let (cs, ps) = (cn.shape(), pn.shape());
    let [ky, kx] = j.k;
    let factor = if ky == kx {
        format!("{kx}")
    } else {
        format!("[{ky}, {kx}]")
    };
    if cs.len() != 2 || ps.len() != 2 || cs != [ps[0].div_ceil(ky), ps[1].div_ceil(kx)] {
        return check(
            Status::Warn,
            &j.child,
            format!(
                "not compared: shape {cs:?} is not {} {ps:?} reduced by {factor}",
                display(&j.parent)
            ),
        );
    }
    let dt = cn.dtype();
    if dt != pn.dtype() {
        return check(
            Status::Fail,
            &j.child,
            format!(
                "data type {dt} differs from {} ({})",
                display(&j.parent),
                pn.dtype()
            ),
        );
    }
    let r = match dt.as_str() {
        "uint8" => compare::<u8>(tree, store, j),
        "uint16" => compare::<u16>(tree, store, j),
        "uint32" => compare::<u32>(tree, store, j),
        "uint64" => compare::<u64>(tree, store, j),
        "int8" => compare::<i8>(tree, store, j),
        "int16" => compare::<i16>(tree, store, j),
        "int32" => compare::<i32>(tree, store, j),
        "int64" => compare::<i64>(tree, store, j),
        "float32" => compare::<f32>(tree, store, j),
        "float64" => compare::<f64>(tree, store, j),
        other => {
            return check(
                Status::Warn,
                &j.child,
                format!("not compared: data type {other}"),
            )
        }
    };
    let rule = format!(
        "{}{} ×{factor} of {}",
        j.rule.as_str(),
        if j.rule_default {
            " (no resampling_method: the default)"
        } else {
            ""
        },
        display(&j.parent)
    );
    match r {
        Err(e) => check(Status::Fail, &j.child, format!("cannot read: {e}")),
        Ok(o) if o.bad == 0 => check(
            Status::Pass,
            &j.child,
            format!(
                "equals the {rule} on {} sampled block(s) ({} pixels)",
                o.blocks, o.pixels
            ),
        ),
        Ok(o) => {
            let mut msg = format!(
                "{} of {} sampled pixels differ from the {rule}; first at {}",
                o.bad,
                o.pixels,
                o.first.unwrap_or_default()
            );
            let status = if j.marked {
                Status::Fail
            } else {
                msg += " (no band of the group is marked derived_from: native data resampled \
                        otherwise?)";
                Status::Warn
            };
            check(status, &j.child, msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn samples_corners_centre_and_between() {
        assert_eq!(sample([2, 3]).len(), 6);
        let s = sample([10, 10]);
        assert_eq!(s.len(), 8);
        for c in [[0, 0], [0, 9], [9, 0], [9, 9], [5, 5]] {
            assert!(s.contains(&c), "{s:?}");
        }
        assert_eq!(sample([1, 100]).len(), 8);
        assert!(sample([1, 100]).contains(&[0, 99]));
    }
}
