//! Sentinel-1 radiometric calibration and thermal-noise removal on a block
//! of the image: `value = (DN² − noise) / A²`, negatives clamped to 0, with
//! A (the quantity's calibration LUT) and `noise = range × azimuth`
//! interpolated bilinearly from their sparse (line, pixel) look-up tables.
//!
//! Interpolation (what `tests/python/s1_check.py` recomputes independently):
//! a LUT row is interpolated linearly along pixel (constant beyond its end
//! points), then two rows linearly along line (constant beyond the first
//! and last rows). Azimuth noise is linear along line inside each block
//! (sub-swath) `[first_line, last_line] × [first_pixel, last_pixel]`; outside
//! every block it is 1.

use serde::{Deserialize, Serialize};

/// What a band holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantity {
    /// σ⁰, backscatter per unit ground area (`sigma_nought` LUT).
    #[default]
    Sigma0,
    /// γ⁰, backscatter per unit area normal to the look direction (`gamma` LUT).
    Gamma0,
    /// β⁰, radar brightness (`beta_nought` LUT).
    Beta0,
    /// The digital numbers themselves (uint16, uncalibrated).
    Dn,
}

impl Quantity {
    /// The CLI name (`sigma0`…).
    pub fn name(self) -> &'static str {
        match self {
            Quantity::Sigma0 => "sigma0",
            Quantity::Gamma0 => "gamma0",
            Quantity::Beta0 => "beta0",
            Quantity::Dn => "dn",
        }
    }
    /// From the CLI name.
    pub fn from_name(s: &str) -> Option<Quantity> {
        [
            Quantity::Sigma0,
            Quantity::Gamma0,
            Quantity::Beta0,
            Quantity::Dn,
        ]
        .into_iter()
        .find(|q| q.name() == s)
    }
    /// The calibration LUT array (under `quality/calibration`), `None` for DN.
    pub fn lut(self) -> Option<&'static str> {
        match self {
            Quantity::Sigma0 => Some("sigma_nought"),
            Quantity::Gamma0 => Some("gamma"),
            Quantity::Beta0 => Some("beta_nought"),
            Quantity::Dn => None,
        }
    }
}

/// A sparse look-up table: rows at image lines, each with its own pixel
/// positions (calibration vectors share one; noise vectors may not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lut {
    /// Line of each row, increasing.
    pub lines: Vec<f64>,
    /// Pixel positions of each row, increasing.
    pub pixels: Vec<Vec<f64>>,
    /// Values of each row, aligned with `pixels`.
    pub values: Vec<Vec<f64>>,
}

/// Linear interpolation in a sampled function, constant beyond its ends.
fn interp(xs: &[f64], ys: &[f64], x: f64, hint: &mut usize) -> f64 {
    let n = xs.len();
    if n == 1 || x <= xs[0] {
        return ys[0];
    }
    if x >= xs[n - 1] {
        return ys[n - 1];
    }
    let mut i = (*hint).min(n - 2);
    while i > 0 && x < xs[i] {
        i -= 1;
    }
    while i < n - 2 && x >= xs[i + 1] {
        i += 1;
    }
    *hint = i;
    let t = (x - xs[i]) / (xs[i + 1] - xs[i]);
    ys[i] + (ys[i + 1] - ys[i]) * t
}

/// The two rows bracketing `line` and the weight of the second.
fn bracket(lines: &[f64], line: f64) -> (usize, usize, f64) {
    let n = lines.len();
    if n == 1 || line <= lines[0] {
        return (0, 0, 0.0);
    }
    if line >= lines[n - 1] {
        return (n - 1, n - 1, 0.0);
    }
    let i = lines.partition_point(|&l| l <= line) - 1;
    (i, i + 1, (line - lines[i]) / (lines[i + 1] - lines[i]))
}

impl Lut {
    /// A LUT from rows; an error names what is inconsistent.
    pub fn new(
        lines: Vec<f64>,
        pixels: Vec<Vec<f64>>,
        values: Vec<Vec<f64>>,
    ) -> Result<Lut, String> {
        if lines.is_empty() || pixels.len() != lines.len() || values.len() != lines.len() {
            return Err(format!(
                "{} lines, {} pixel rows and {} value rows do not match",
                lines.len(),
                pixels.len(),
                values.len()
            ));
        }
        if lines.windows(2).any(|w| w[1] <= w[0]) {
            return Err("lines are not strictly increasing".into());
        }
        for (p, v) in pixels.iter().zip(&values) {
            if p.is_empty() || p.len() != v.len() {
                return Err("a row's pixels and values differ in length".into());
            }
            if p.windows(2).any(|w| w[1] <= w[0]) {
                return Err("pixels are not strictly increasing".into());
            }
        }
        Ok(Lut {
            lines,
            pixels,
            values,
        })
    }

    /// Row `k` interpolated at pixels `p0..p1`.
    fn row_at(&self, k: usize, p0: u64, p1: u64) -> Vec<f64> {
        let mut h = 0;
        (p0..p1)
            .map(|p| interp(&self.pixels[k], &self.values[k], p as f64, &mut h))
            .collect()
    }

    /// The value at one position (slow; for tests and spot checks).
    pub fn at(&self, line: f64, pixel: f64) -> f64 {
        let (a, b, t) = bracket(&self.lines, line);
        let va = interp(&self.pixels[a], &self.values[a], pixel, &mut 0);
        let vb = interp(&self.pixels[b], &self.values[b], pixel, &mut 0);
        va + (vb - va) * t
    }
}

/// One azimuth-noise block (a sub-swath): a line profile applying to a
/// rectangle of the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AzBlock {
    /// First and last line covered.
    pub first_line: f64,
    /// See `first_line`.
    pub last_line: f64,
    /// First and last pixel covered.
    pub first_pixel: f64,
    /// See `first_pixel`.
    pub last_pixel: f64,
    /// Lines of the profile, increasing.
    pub lines: Vec<f64>,
    /// Values at `lines`.
    pub values: Vec<f64>,
}

/// Everything needed to calibrate one polarisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The quantity written.
    pub quantity: Quantity,
    /// Its calibration LUT (A); `None` for DN.
    pub lut: Option<Lut>,
    /// Range noise LUT; `None` for DN.
    pub noise_range: Option<Lut>,
    /// Azimuth noise blocks (empty: azimuth noise 1).
    pub noise_azimuth: Vec<AzBlock>,
}

impl Calibration {
    /// Calibrated values (f32, NaN for DN 0 = nodata) of an image block
    /// `dn` of lines `l0..l1` × pixels `p0..p1`, row-major.
    pub fn apply(&self, dn: &[u16], l0: u64, l1: u64, p0: u64, p1: u64) -> Vec<f32> {
        let w = (p1 - p0) as usize;
        let mut out = Vec::with_capacity(dn.len());
        let (Some(lut), Some(nr)) = (&self.lut, &self.noise_range) else {
            out.extend(dn.iter().map(|&d| if d == 0 { f32::NAN } else { d as f32 }));
            return out;
        };
        // rows of each LUT interpolated along pixel, computed once per block
        let mut cache: Vec<Option<Vec<f64>>> = vec![None; lut.lines.len()];
        let mut ncache: Vec<Option<Vec<f64>>> = vec![None; nr.lines.len()];
        let mut a_row = vec![0f64; w];
        let mut n_row = vec![0f64; w];
        let mut az_row = vec![1f64; w];
        for (i, l) in (l0..l1).enumerate() {
            let lf = l as f64;
            row_of(lut, &mut cache, lf, p0, p1, &mut a_row);
            row_of(nr, &mut ncache, lf, p0, p1, &mut n_row);
            az_row.fill(1.0);
            for b in self.noise_azimuth.iter().rev() {
                if lf < b.first_line || lf > b.last_line {
                    continue;
                }
                let v = interp(&b.lines, &b.values, lf, &mut 0);
                let lo = (b.first_pixel.ceil().max(p0 as f64) as u64).max(p0);
                let hi = ((b.last_pixel.floor() + 1.0).min(p1 as f64)).max(lo as f64) as u64;
                for p in lo..hi {
                    az_row[(p - p0) as usize] = v;
                }
            }
            let src = &dn[i * w..(i + 1) * w];
            for k in 0..w {
                let d = src[k];
                out.push(if d == 0 {
                    f32::NAN
                } else {
                    let d = d as f64;
                    let a = a_row[k];
                    (((d * d - n_row[k] * az_row[k]) / (a * a)).max(0.0)) as f32
                });
            }
        }
        out
    }

    /// The calibrated value of one image pixel (slow; for tests).
    pub fn at(&self, dn: u16, line: f64, pixel: f64) -> f64 {
        if dn == 0 {
            return f64::NAN;
        }
        let (Some(lut), Some(nr)) = (&self.lut, &self.noise_range) else {
            return dn as f64;
        };
        let az = self
            .noise_azimuth
            .iter()
            .find(|b| {
                line >= b.first_line
                    && line <= b.last_line
                    && pixel >= b.first_pixel
                    && pixel <= b.last_pixel
            })
            .map_or(1.0, |b| interp(&b.lines, &b.values, line, &mut 0));
        let a = lut.at(line, pixel);
        let d = dn as f64;
        ((d * d - nr.at(line, pixel) * az) / (a * a)).max(0.0)
    }
}

/// `out` = `lut` at `line`, pixels `p0..p1` (rows interpolated once, cached).
fn row_of(lut: &Lut, cache: &mut [Option<Vec<f64>>], line: f64, p0: u64, p1: u64, out: &mut [f64]) {
    let (a, b, t) = bracket(&lut.lines, line);
    for k in [a, b] {
        if cache[k].is_none() {
            cache[k] = Some(lut.row_at(k, p0, p1));
        }
    }
    let (ra, rb) = (cache[a].as_ref().unwrap(), cache[b].as_ref().unwrap());
    for ((o, &x), &y) in out.iter_mut().zip(ra).zip(rb) {
        *o = x + (y - x) * t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calibration {
        let lines = vec![0.0, 50.0, 120.0];
        let px = vec![0.0, 40.0, 80.0, 199.0];
        let lut = Lut::new(
            lines.clone(),
            vec![px.clone(); 3],
            vec![
                vec![300.0, 290.0, 280.0, 270.0],
                vec![301.0, 291.0, 281.0, 271.0],
                vec![303.0, 293.0, 283.0, 273.0],
            ],
        )
        .unwrap();
        let nr = Lut::new(
            vec![0.0, 119.0],
            vec![vec![0.0, 100.0, 199.0], vec![0.0, 90.0, 199.0]],
            vec![vec![500.0, 200.0, 600.0], vec![520.0, 210.0, 610.0]],
        )
        .unwrap();
        Calibration {
            quantity: Quantity::Sigma0,
            lut: Some(lut),
            noise_range: Some(nr),
            noise_azimuth: vec![
                AzBlock {
                    first_line: 0.0,
                    last_line: 119.0,
                    first_pixel: 0.0,
                    last_pixel: 99.0,
                    lines: vec![0.0, 60.0, 119.0],
                    values: vec![1.0, 1.1, 0.95],
                },
                AzBlock {
                    first_line: 0.0,
                    last_line: 119.0,
                    first_pixel: 100.0,
                    last_pixel: 199.0,
                    lines: vec![0.0, 119.0],
                    values: vec![0.9, 1.05],
                },
            ],
        }
    }

    #[test]
    fn block_calibration_equals_the_pointwise_formula() {
        let c = cal();
        let (l0, l1, p0, p1) = (10u64, 70u64, 30u64, 170u64);
        let dn: Vec<u16> = (0..(l1 - l0) * (p1 - p0))
            .map(|i| if i % 97 == 0 { 0 } else { (i % 900 + 5) as u16 })
            .collect();
        let v = c.apply(&dn, l0, l1, p0, p1);
        let w = (p1 - p0) as usize;
        for (k, &got) in v.iter().enumerate() {
            let (l, p) = ((l0 as usize + k / w) as f64, (p0 as usize + k % w) as f64);
            let want = c.at(dn[k], l, p);
            if want.is_nan() {
                assert!(got.is_nan());
            } else {
                assert!(
                    ((got as f64) - want).abs() <= 1e-6 * want.abs().max(1e-30),
                    "{l},{p}: {got} vs {want}"
                );
            }
        }
        // small DN: noise exceeds the signal, clamped to 0
        assert_eq!(c.at(5, 0.0, 0.0), 0.0);
        // interpolation: halfway between rows and pixel samples
        assert!((c.lut.as_ref().unwrap().at(25.0, 20.0) - 295.5).abs() < 1e-12);
    }

    #[test]
    fn dn_passes_through_and_names_round_trip() {
        let c = Calibration {
            quantity: Quantity::Dn,
            lut: None,
            noise_range: None,
            noise_azimuth: vec![],
        };
        let v = c.apply(&[0, 7, 65535], 0, 1, 0, 3);
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], &[7.0, 65535.0]);
        for q in ["sigma0", "gamma0", "beta0", "dn"] {
            assert_eq!(Quantity::from_name(q).unwrap().name(), q);
        }
        assert!(Lut::new(vec![0.0, 0.0], vec![vec![0.0]; 2], vec![vec![1.0]; 2]).is_err());
    }
}
