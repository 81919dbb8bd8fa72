//! The `conventions` profile's resampling rules as `validate --deep`'s
//! reference, written apart from the converter's so that each checks the
//! other: a block of k×k parents becomes one pixel by
//! - `average`: the mean of the valid parents, integers rounded half away
//!   from zero (exactly, on the stored counts);
//! - `mode`: the most frequent valid value, ties → the smallest;
//! - `bitwise_or`: the OR of the valid parents (integers only);
//!
//! where valid = not NaN and not the fill value, and a block without a
//! valid parent becomes the fill value. Partial edge blocks use the parents
//! present.

use crate::geo::downsample::Pixel;

/// A resampling rule (`resampling_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    /// Mean of the valid parents.
    Average,
    /// Most frequent valid parent, ties → smallest.
    Mode,
    /// OR of the valid parents.
    BitwiseOr,
}

impl Rule {
    /// The rule a `resampling_method` names.
    pub(super) fn parse(s: &str) -> Option<Rule> {
        match s {
            "average" | "mean" => Some(Rule::Average),
            "mode" => Some(Rule::Mode),
            "bitwise_or" => Some(Rule::BitwiseOr),
            _ => None,
        }
    }

    /// As the profile names it.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Rule::Average => "average",
            Rule::Mode => "mode",
            Rule::BitwiseOr => "bitwise_or",
        }
    }
}

/// A pixel type the rules apply to.
pub(super) trait Px: Pixel + PartialOrd + std::fmt::Debug {
    /// Mean of one or more valid values (integers: half away from zero).
    fn mean_of(vals: &[Self]) -> Self;
    /// OR of the values; None for floating-point types.
    fn or_of(vals: &[Self]) -> Option<Self>;
}

macro_rules! int_px {
    ($($t:ty),*) => {$(impl Px for $t {
        fn mean_of(vals: &[Self]) -> Self {
            let n = vals.len() as i128;
            let s: i128 = vals.iter().map(|v| *v as i128).sum();
            let q = if s >= 0 { (2 * s + n) / (2 * n) } else { -((-2 * s + n) / (2 * n)) };
            q as $t
        }
        fn or_of(vals: &[Self]) -> Option<Self> {
            Some(vals.iter().fold(0, |a, v| a | v))
        }
    })*};
}
int_px!(u8, u16, u32, u64, i8, i16, i32, i64);

macro_rules! float_px {
    ($($t:ty),*) => {$(impl Px for $t {
        fn mean_of(vals: &[Self]) -> Self {
            (vals.iter().map(|v| *v as f64).sum::<f64>() / vals.len() as f64) as $t
        }
        fn or_of(_: &[Self]) -> Option<Self> {
            None
        }
    })*};
}
float_px!(f32, f64);

fn mode_of<T: Px>(vals: &mut [T]) -> T {
    vals.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let (mut best, mut best_n) = (vals[0], 0usize);
    let mut i = 0;
    while i < vals.len() {
        let mut j = i;
        while j < vals.len() && vals[j] == vals[i] {
            j += 1;
        }
        // ascending order: a later run wins only with strictly more votes
        if j - i > best_n {
            best = vals[i];
            best_n = j - i;
        }
        i = j;
    }
    best
}

/// Resample a row-major `h × w` region whose origin is on a block corner
/// by `k` = [rows, columns] per block: `ceil(h/k) × ceil(w/k)` pixels. None
/// when the rule does not apply to the type (`bitwise_or` on floats).
pub(super) fn resample<T: Px>(
    src: &[T],
    [h, w]: [usize; 2],
    [ky, kx]: [usize; 2],
    rule: Rule,
    fill: Option<T>,
) -> Option<Vec<T>> {
    assert_eq!(src.len(), h * w, "region size mismatch");
    let (oh, ow) = (h.div_ceil(ky), w.div_ceil(kx));
    let empty = fill.unwrap_or_else(T::no_data);
    let mut out = Vec::with_capacity(oh * ow);
    let mut vals: Vec<T> = Vec::with_capacity(ky * kx);
    for r in 0..oh {
        for c in 0..ow {
            vals.clear();
            for y in r * ky..((r + 1) * ky).min(h) {
                for x in c * kx..((c + 1) * kx).min(w) {
                    let v = src[y * w + x];
                    if !v.is_nan() && fill != Some(v) {
                        vals.push(v);
                    }
                }
            }
            out.push(if vals.is_empty() {
                empty
            } else {
                match rule {
                    Rule::Average => T::mean_of(&vals),
                    Rule::Mode => mode_of(&mut vals),
                    Rule::BitwiseOr => T::or_of(&vals)?,
                }
            });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_rounds_half_away_from_zero_and_skips_invalid() {
        // 2×2 blocks of a 2×4 region: [1, 2 / 1, 2] → 1.5 → 2; [0, 0 / 0, 7] (fill 0) → 7
        let src: Vec<u16> = vec![1, 2, 0, 0, 1, 2, 0, 7];
        assert_eq!(
            resample(&src, [2, 4], [2, 2], Rule::Average, Some(0)),
            Some(vec![2, 7])
        );
        let neg: Vec<i16> = vec![-1, -2];
        assert_eq!(
            resample(&neg, [1, 2], [1, 2], Rule::Average, None),
            Some(vec![-2])
        );
        let f: Vec<f32> = vec![1.0, f32::NAN, 3.0, f32::NAN];
        assert_eq!(
            resample(&f, [2, 2], [2, 2], Rule::Average, None),
            Some(vec![2.0])
        );
        // none valid → the fill value
        let all_fill: Vec<u8> = vec![9; 9];
        assert_eq!(
            resample(&all_fill, [3, 3], [3, 3], Rule::Average, Some(9)),
            Some(vec![9])
        );
        let all_nan = vec![f64::NAN; 4];
        assert!(resample(&all_nan, [2, 2], [2, 2], Rule::Average, None).unwrap()[0].is_nan());
    }

    #[test]
    fn partial_edge_blocks_use_the_pixels_present() {
        // 5×5 by 3: blocks of 3×3, 3×2, 2×3, 2×2 pixels
        let src: Vec<u32> = (0..25).collect();
        let out = resample(&src, [5, 5], [3, 3], Rule::Average, None).unwrap();
        // block (0,0): rows 0-2, cols 0-2: mean 6; (0,1): cols 3-4: mean of 3,4,8,9,13,14 = 8.5 → 9
        // (1,0): rows 3-4, cols 0-2: 15..17, 20..22 → 18.5 → 19; (1,1): 18,19,23,24 → 21
        assert_eq!(out, vec![6, 9, 19, 21]);
    }

    #[test]
    fn mode_prefers_the_most_frequent_then_the_smallest() {
        let src: Vec<u8> = vec![4, 4, 2, 0, 3, 3, 2, 2, 0];
        // fill 0: valid 4, 4, 2, 3, 3, 2, 2 → 2 (three votes)
        assert_eq!(
            resample(&src, [3, 3], [3, 3], Rule::Mode, Some(0)),
            Some(vec![2])
        );
        // a tie (two 4s, two 3s) → 3
        let tie: Vec<u8> = vec![4, 3, 4, 3];
        assert_eq!(
            resample(&tie, [2, 2], [2, 2], Rule::Mode, None),
            Some(vec![3])
        );
    }

    #[test]
    fn bitwise_or_of_valid_parents() {
        let src: Vec<u8> = vec![1, 4, 255, 16];
        assert_eq!(
            resample(&src, [2, 2], [2, 2], Rule::BitwiseOr, Some(255)),
            Some(vec![21])
        );
        let f: Vec<f32> = vec![1.0; 4];
        assert_eq!(resample(&f, [2, 2], [2, 2], Rule::BitwiseOr, None), None);
        assert_eq!(Rule::parse("bitwise_or"), Some(Rule::BitwiseOr));
        assert_eq!(Rule::parse("nearest"), None);
    }
}
