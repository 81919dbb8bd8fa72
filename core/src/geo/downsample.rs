//! 2×2 block averaging (profile §4): the mean of the valid parents (not the
//! fill value, not NaN), rounded half away from zero for integer types; a
//! block with no valid parent becomes the fill value. Odd edges average the
//! one or two pixels present.
//!
//! For integer bands the mean is taken on the stored counts, in exact integer
//! arithmetic: with CF packing (`value = count·scale + offset`) the mean of the
//! decoded values re-encoded is the mean of the counts, so this is the
//! profile's "decode, average, re-encode, round" without float ties.

use zarrs::array::{Element, ElementOwned};

/// A pixel type we can average.
pub trait Pixel:
    Element + ElementOwned + Copy + Send + Sync + PartialEq + Default + 'static
{
    /// NaN check (always false for integers).
    fn is_nan(self) -> bool {
        false
    }
    /// Mean of 1..=4 valid values.
    fn mean(vals: &[Self]) -> Self;
    /// The value used where no fill value is defined and nothing is valid.
    fn no_data() -> Self {
        Self::default()
    }
    /// Convert from f64 (coordinates, synthetic data).
    fn from_f64(v: f64) -> Self;
    /// Bitwise OR (of the bit patterns, for floats).
    fn bit_or(self, other: Self) -> Self;
    /// Total order for [`Resampling::Mode`] (valid values only, never NaN).
    fn order(a: &Self, b: &Self) -> std::cmp::Ordering;
    /// Mean of the valid pixels of a full 2×2 block, `empty` if none is
    /// valid: the hot path of [`downsample`], specialised per type.
    #[inline]
    fn block_mean(block: [Self; 4], fill: Option<Self>, empty: Self) -> Self {
        let mut vals = [Self::default(); 4];
        let mut n = 0;
        for v in block {
            if is_valid(v, fill) {
                vals[n] = v;
                n += 1;
            }
        }
        if n == 0 {
            empty
        } else {
            Self::mean(&vals[..n])
        }
    }
}

/// `s / n` rounded half away from zero, for a constant `n` (so the
/// division compiles to a multiply).
#[inline(always)]
fn round_div<const N: i64>(s: i64) -> i64 {
    if s >= 0 {
        (2 * s + N) / (2 * N)
    } else {
        -((-2 * s + N) / (2 * N))
    }
}

/// [`Pixel::block_mean`] for integer types whose sums fit an `i64`:
/// branch-free validity masks and constant divisors.
macro_rules! small_int_block_mean {
    ($($t:ty),*) => {$(
        impl SmallInt for $t {
            #[inline]
            fn block_mean_i64(block: [Self; 4], fill: Option<Self>, empty: Self) -> Self {
                let (mut s, mut n) = (0i64, 0i64);
                for v in block {
                    let ok = (fill != Some(v)) as i64;
                    s += ok * v as i64;
                    n += ok;
                }
                (match n {
                    4 => round_div::<4>(s),
                    3 => round_div::<3>(s),
                    2 => round_div::<2>(s),
                    1 => s,
                    _ => return empty,
                }) as $t
            }
        }
    )*};
}

/// Integer pixels with an `i64` fast path.
trait SmallInt: Sized {
    fn block_mean_i64(block: [Self; 4], fill: Option<Self>, empty: Self) -> Self;
}
small_int_block_mean!(u8, u16, u32, i8, i16, i32);

macro_rules! int_pixel {
    ($($t:ty => $acc:ty $(: $fast:ident)?),*) => {$(
        impl Pixel for $t {
            fn mean(vals: &[Self]) -> Self {
                let n = vals.len() as $acc;
                let s: $acc = vals.iter().map(|v| *v as $acc).sum();
                let q = if s >= 0 { (2 * s + n) / (2 * n) } else { -((-2 * s + n) / (2 * n)) };
                q as $t
            }
            fn from_f64(v: f64) -> Self {
                v.round() as $t
            }
            fn bit_or(self, other: Self) -> Self {
                self | other
            }
            fn order(a: &Self, b: &Self) -> std::cmp::Ordering {
                a.cmp(b)
            }
            $(
            #[inline]
            fn block_mean(block: [Self; 4], fill: Option<Self>, empty: Self) -> Self {
                <$t as $fast>::block_mean_i64(block, fill, empty)
            }
            )?
        }
    )*};
}
int_pixel!(
    u8 => i64 : SmallInt, u16 => i64 : SmallInt, u32 => i64 : SmallInt,
    i8 => i64 : SmallInt, i16 => i64 : SmallInt, i32 => i64 : SmallInt,
    u64 => i128, i64 => i128
);

macro_rules! float_pixel {
    ($($t:ty),*) => {$(
        impl Pixel for $t {
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn mean(vals: &[Self]) -> Self {
                (vals.iter().map(|v| *v as f64).sum::<f64>() / vals.len() as f64) as $t
            }
            fn no_data() -> Self {
                <$t>::NAN
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn bit_or(self, other: Self) -> Self {
                <$t>::from_bits(self.to_bits() | other.to_bits())
            }
            fn order(a: &Self, b: &Self) -> std::cmp::Ordering {
                a.total_cmp(b)
            }
        }
    )*};
}
float_pixel!(f32, f64);

/// Is `v` a valid (averageable) pixel?
#[inline]
pub fn is_valid<T: Pixel>(v: T, fill: Option<T>) -> bool {
    !v.is_nan() && fill != Some(v)
}

/// Average 2×2 blocks of a row-major `h × w` region whose origin is on an
/// even row and column; returns `ceil(h/2) × ceil(w/2)` pixels.
pub fn downsample<T: Pixel>(src: &[T], h: usize, w: usize, fill: Option<T>) -> Vec<T> {
    assert_eq!(src.len(), h * w, "region size mismatch");
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let empty = fill.unwrap_or_else(T::no_data);
    let mut out = Vec::with_capacity(oh * ow);
    let mut vals = [T::default(); 4];
    for oj in 0..oh {
        let r0 = 2 * oj * w;
        let r1 = if 2 * oj + 1 < h { Some(r0 + w) } else { None };
        let mut start = 0;
        if let Some(r1) = r1 {
            // full 2×2 blocks: the hot loop
            let (top, bottom) = (&src[r0..r0 + w], &src[r1..r1 + w]);
            out.extend(
                top.chunks_exact(2)
                    .zip(bottom.chunks_exact(2))
                    .map(|(t, b)| T::block_mean([t[0], t[1], b[0], b[1]], fill, empty)),
            );
            start = w / 2;
        }
        for oi in start..ow {
            let c0 = 2 * oi;
            let c1 = (c0 + 1 < w).then_some(c0 + 1);
            let mut n = 0;
            let mut push = |v: T| {
                if is_valid(v, fill) {
                    vals[n] = v;
                    n += 1;
                }
            };
            push(src[r0 + c0]);
            if let Some(c1) = c1 {
                push(src[r0 + c1]);
            }
            if let Some(r1) = r1 {
                push(src[r1 + c0]);
                if let Some(c1) = c1 {
                    push(src[r1 + c1]);
                }
            }
            out.push(if n == 0 { empty } else { T::mean(&vals[..n]) });
        }
    }
    out
}

/// How a block of parent pixels becomes one pixel of a coarser level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Resampling {
    /// Mean of the valid parents (continuous data: reflectance, probabilities).
    #[default]
    Average,
    /// Most frequent valid parent, ties to the smallest (classification layers).
    Mode,
    /// Bitwise OR of the valid parents (bit-flag masks).
    BitwiseOr,
}

impl Resampling {
    /// The name written in `resampling_method` attributes.
    pub fn name(self) -> &'static str {
        match self {
            Resampling::Average => "average",
            Resampling::Mode => "mode",
            Resampling::BitwiseOr => "bitwise_or",
        }
    }

    /// The rule named `name` (as written by [`Resampling::name`]).
    pub fn from_name(name: &str) -> Option<Resampling> {
        [Resampling::Average, Resampling::Mode, Resampling::BitwiseOr]
            .into_iter()
            .find(|r| r.name() == name)
    }

    /// One output pixel from the valid parents of its block (`vals`, at
    /// least one; reordered in place).
    fn reduce<T: Pixel>(self, vals: &mut [T]) -> T {
        match self {
            Resampling::Average => T::mean(vals),
            Resampling::BitwiseOr => vals.iter().fold(T::default(), |a, v| a.bit_or(*v)),
            Resampling::Mode => {
                vals.sort_unstable_by(T::order);
                let (mut best, mut best_n) = (vals[0], 0);
                let mut i = 0;
                while i < vals.len() {
                    let j = i + vals[i..].iter().take_while(|v| **v == vals[i]).count();
                    // strictly more: the smallest of equally frequent values wins
                    if j - i > best_n {
                        (best, best_n) = (vals[i], j - i);
                    }
                    i = j;
                }
                best
            }
        }
    }
}

/// Resample `k×k` blocks of a row-major `h × w` region whose origin is on a
/// block boundary by `rule`; returns `ceil(h/k) × ceil(w/k)` pixels. Edge
/// blocks use the pixels present; a block with no valid pixel becomes the
/// fill value (NaN for floats without one).
pub fn resample<T: Pixel>(
    src: &[T],
    h: usize,
    w: usize,
    k: usize,
    fill: Option<T>,
    rule: Resampling,
) -> Vec<T> {
    if k == 2 && rule == Resampling::Average {
        return downsample(src, h, w, fill);
    }
    assert_eq!(src.len(), h * w, "region size mismatch");
    assert!(k >= 1, "resampling factor 0");
    let (oh, ow) = (h.div_ceil(k), w.div_ceil(k));
    let empty = fill.unwrap_or_else(T::no_data);
    let mut out = Vec::with_capacity(oh * ow);
    let mut vals = vec![T::default(); k * k];
    for oj in 0..oh {
        let rows = k * oj..(k * oj + k).min(h);
        for oi in 0..ow {
            let cols = k * oi..(k * oi + k).min(w);
            let mut n = 0;
            for r in rows.clone() {
                for &v in &src[r * w + cols.start..r * w + cols.end] {
                    if is_valid(v, fill) {
                        vals[n] = v;
                        n += 1;
                    }
                }
            }
            out.push(if n == 0 {
                empty
            } else {
                rule.reduce(&mut vals[..n])
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward reference: decode with scale/offset, average valid
    /// values in f64, re-encode and round half away from zero.
    fn reference_u16(src: &[u16], h: usize, w: usize, fill: u16) -> Vec<u16> {
        let (scale, offset) = (0.0001f64, -0.1f64);
        let mut out = vec![];
        for oj in 0..h.div_ceil(2) {
            for oi in 0..w.div_ceil(2) {
                let mut acc = vec![];
                for j in 2 * oj..(2 * oj + 2).min(h) {
                    for i in 2 * oi..(2 * oi + 2).min(w) {
                        let v = src[j * w + i];
                        if v != fill {
                            acc.push(v as f64 * scale + offset);
                        }
                    }
                }
                if acc.is_empty() {
                    out.push(fill);
                } else {
                    let m = acc.iter().sum::<f64>() / acc.len() as f64;
                    // re-encode; the tiny epsilon keeps exact .5 ties from float noise
                    let c = (m - offset) / scale;
                    out.push((c + 1e-6 * c.signum()).round() as u16);
                }
            }
        }
        out
    }

    fn noise(seed: u64, n: usize) -> Vec<u16> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = ((x >> 33) % 10000) as u16;
                if v < 1500 {
                    0
                } else {
                    v
                }
            })
            .collect()
    }

    #[test]
    fn matches_reference_on_odd_shapes_with_nodata() {
        for (h, w) in [(1, 1), (1, 7), (7, 1), (5, 5), (6, 9), (13, 4), (33, 31)] {
            let src = noise((h * 100 + w) as u64, h * w);
            assert_eq!(
                downsample(&src, h, w, Some(0)),
                reference_u16(&src, h, w, 0),
                "{h}x{w}"
            );
        }
    }

    #[test]
    fn integer_rounding_half_away_from_zero() {
        assert_eq!(u16::mean(&[1000, 1001]), 1001);
        assert_eq!(u16::mean(&[1, 2, 2, 2]), 2); // 1.75
        assert_eq!(u16::mean(&[1, 1, 1, 2]), 1); // 1.25
        assert_eq!(i16::mean(&[-1, -2]), -2); // -1.5 → -2
        assert_eq!(i32::mean(&[-1, 2]), 1); // 0.5 → 1
        assert_eq!(u8::mean(&[255, 255, 255, 255]), 255);
        assert_eq!(u64::mean(&[u64::MAX, u64::MAX]), u64::MAX);
    }

    #[test]
    fn nodata_and_nan() {
        // one nodata pixel does not blank the block
        assert_eq!(downsample(&[0u16, 10, 20, 30], 2, 2, Some(0)), vec![20]);
        assert_eq!(downsample(&[0u16, 0, 0, 0], 2, 2, Some(0)), vec![0]);
        let f = downsample(&[f32::NAN, 1.0, 2.0, 3.0], 2, 2, None);
        assert_eq!(f, vec![2.0]);
        let all_nan = downsample(&[f64::NAN; 4], 2, 2, None);
        assert!(all_nan[0].is_nan());
        // float with explicit NaN fill
        assert!(downsample(&[f64::NAN; 4], 2, 2, Some(f64::NAN))[0].is_nan());
        // integers without a fill value: everything is valid
        assert_eq!(downsample(&[0u8, 0, 0, 4], 2, 2, None), vec![1]);
        assert_eq!(downsample(&[-3i64, -3, -4, -4], 2, 2, None), vec![-4]); // -3.5 → -4
    }

    #[test]
    fn all_dtypes_average() {
        assert_eq!(downsample(&[1u32, 2, 3, 4], 2, 2, None), vec![3]);
        assert_eq!(downsample(&[1i8, 2, 3, 4], 2, 2, None), vec![3]);
        assert_eq!(downsample(&[1.0f64, 2.0, 3.0, 4.0], 2, 2, None), vec![2.5]);
        assert_eq!(downsample(&[1u16, 2, 3], 1, 3, Some(0)), vec![2, 3]);
    }

    #[test]
    fn resample_rules_and_factors() {
        // factor 3 average with a nodata pixel, partial edge blocks
        let src: Vec<u16> = (1..=16).collect();
        let out = resample(&src, 4, 4, 3, Some(6), Resampling::Average);
        // block (0,0): 1 2 3 5 7 9 10 11 (6 is nodata) → 48/8 = 6
        assert_eq!(out, vec![6, 8, 14, 16]);
        // mode: ties to the smallest, fill ignored
        let m = resample(
            &[3u8, 3, 5, 5, 9, 0, 0, 0, 0],
            3,
            3,
            3,
            Some(0),
            Resampling::Mode,
        );
        assert_eq!(m, vec![3]);
        let m = resample(&[7u8, 2, 2, 7, 7, 1], 2, 3, 3, None, Resampling::Mode);
        assert_eq!(m, vec![7]);
        // bitwise OR
        let o = resample(&[1u8, 2, 4, 0, 8, 0], 2, 3, 2, None, Resampling::BitwiseOr);
        assert_eq!(o, vec![1 | 2 | 8, 4]);
        // all invalid → fill
        assert_eq!(
            resample(&[0u8; 9], 3, 3, 3, Some(0), Resampling::Mode),
            vec![0]
        );
        assert!(resample(&[f32::NAN; 4], 2, 2, 3, None, Resampling::Average)[0].is_nan());
        // factor 2 average: the fast path and the generic one agree
        let src = noise(7, 33 * 31);
        let generic: Vec<u16> = {
            let mut out = vec![];
            for oj in 0..17 {
                for oi in 0..16 {
                    let mut v = vec![];
                    for j in 2 * oj..(2 * oj + 2).min(33) {
                        for i in 2 * oi..(2 * oi + 2).min(31) {
                            if src[j * 31 + i] != 0 {
                                v.push(src[j * 31 + i]);
                            }
                        }
                    }
                    out.push(if v.is_empty() { 0 } else { u16::mean(&v) });
                }
            }
            out
        };
        assert_eq!(
            resample(&src, 33, 31, 2, Some(0), Resampling::Average),
            generic
        );
        assert_eq!(
            Resampling::from_name("bitwise_or"),
            Some(Resampling::BitwiseOr)
        );
    }
}
