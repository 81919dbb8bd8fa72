//! Sentinel-1 IW GRD: a plausible scene for a GRD schema (polarisation
//! groups holding `measurements/grd`).
//!
//! - Geometry: an ascending pass (line 0 in the south, heading −12°,
//!   right-looking, so pixels run east-north-east), 10 m line and pixel
//!   spacing, centred on UTM 32N (640 000 E, 5 000 000 N; northern Italy),
//!   gently curved along track and slightly stretched in range. `--scale N`
//!   divides the image size (and so the footprint), not the spacing.
//! - `conditions/gcp`: the 10 × 21 lattice (line, pixel, latitude,
//!   longitude, height, incidence…) sampled from that geometry.
//! - `quality/calibration`: β⁰ LUT 237 (with a 0.1 % azimuth ripple), σ⁰ =
//!   β⁰/√sin θ, γ⁰ = β⁰/√tan θ, θ from 30.5° (near) to 46° (far range).
//! - `quality/noise_range`: a noise-equivalent σ⁰ of about −25 dB with a
//!   bowl per sub-swath (IW1–3); `quality/noise_azimuth`: one block per
//!   sub-swath with a ±8 % burst ripple.
//! - `measurements/grd`: DN = √(σ⁰·speckle·A² + noise) of a smooth σ⁰
//!   field (fields, dark water; VH 6 dB below VV), 4.4-look speckle, bright
//!   point targets (Gaussian, σ = 1 px) at known positions, and nodata (0)
//!   in a ragged border at both range ends and in the first/last lines.
//!
//! The targets are listed in each polarisation group's
//! `synthetic:point_targets` attribute: (line, pixel) and the latitude /
//! longitude the GCP grid gives there (bilinear in line/pixel), which is
//! where a geocoder must put them.

use serde_json::{json, Map, Value};

use crate::noise::mix64;

/// Heading of the track, degrees from north.
const HEADING: f64 = -12.0;
/// Scene centre in UTM zone 32N.
const CENTRE: (f64, f64) = (640_000.0, 5_000_000.0);
/// UTM zone of the scene.
pub(crate) const ZONE: u32 = 32;
/// Line and pixel spacing (m).
const SPACING: f64 = 10.0;
/// Along-track curvature (1/m): across-track offset = K·s².
const CURVE: f64 = 1.0 / 2.4e7;
/// GCP lattice size (as the real product).
const GCP: (usize, usize) = (10, 21);

/// Is `schema` an S1 GRD product (a group with `measurements/grd`)?
pub(crate) fn is_s1(schema: &Value) -> bool {
    !pol_groups(schema).is_empty()
}

fn pol_groups(schema: &Value) -> Vec<String> {
    schema["members"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, g)| !g["members"]["measurements"]["members"]["grd"].is_null())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The scene of one polarisation.
pub(crate) struct Scene {
    /// Lines and pixels of the image.
    h: u64,
    w: u64,
    /// Backscatter offset of the polarisation (dB).
    pol_db: f64,
    /// Seed of the speckle.
    seed: u64,
    /// Point targets (line, pixel).
    targets: Vec<(f64, f64)>,
    /// GCP lattice lines and pixels.
    gl: Vec<f64>,
    gp: Vec<f64>,
    /// Noise azimuth profile length.
    naz: usize,
}

impl Scene {
    fn new(h: u64, w: u64, pol: &str, naz: usize) -> Scene {
        let (h_, w_) = (h as f64, w as f64);
        let mut targets = vec![];
        for i in 0..4 {
            for j in 0..5 {
                let l = h_ * (i as f64 + 0.5) / 4.0 + 0.37 * (j as f64 - 2.0);
                let p = w_ * (0.1 + 0.8 * (j as f64 + 0.5) / 5.0) + 0.29 * (i as f64 - 1.5);
                targets.push((l, p));
            }
        }
        let gl = (0..GCP.0)
            .map(|i| (i as f64 * (h_ - 1.0) / (GCP.0 - 1) as f64).round())
            .collect();
        let gp = (0..GCP.1)
            .map(|j| (j as f64 * (w_ - 1.0) / (GCP.1 - 1) as f64).round())
            .collect();
        Scene {
            h,
            w,
            pol_db: if pol.ends_with("VH") { -6.0 } else { 0.0 },
            seed: crate::noise::fnv1a(pol.as_bytes()),
            targets,
            gl,
            gp,
            naz,
        }
    }

    /// UTM easting/northing of image position (line, pixel).
    fn utm(&self, l: f64, p: f64) -> (f64, f64) {
        let hd = HEADING.to_radians();
        let (a, r) = ((hd.sin(), hd.cos()), (hd.cos(), -hd.sin()));
        let s = (l - self.h as f64 / 2.0) * SPACING;
        let u = p / self.w as f64 - 0.5;
        let q = u * self.w as f64 * SPACING * (1.0 + 0.01 * u) + CURVE * s * s;
        (CENTRE.0 + s * a.0 + q * r.0, CENTRE.1 + s * a.1 + q * r.1)
    }

    /// Incidence angle (degrees).
    fn incidence(&self, l: f64, p: f64) -> f64 {
        30.5 + 15.5 * p / (self.w as f64 - 1.0) + 0.05 * l / self.h as f64
    }

    fn beta(&self, l: f64) -> f64 {
        237.0 * (1.0 + 0.001 * (std::f64::consts::TAU * l / self.h as f64).sin())
    }

    /// Calibration constant A of a LUT at (line, pixel).
    fn a(&self, lut: &str, l: f64, p: f64) -> f64 {
        let th = self.incidence(l, p).to_radians();
        let b = self.beta(l);
        match lut {
            "sigma_nought" => b / th.sin().sqrt(),
            "gamma" => b / th.tan().sqrt(),
            _ => b,
        }
    }

    /// Range noise (DN²) at (line, pixel).
    fn noise_range(&self, l: f64, p: f64) -> f64 {
        let sw = self.w as f64 / 3.0;
        let k = (p / sw).floor().clamp(0.0, 2.0);
        let u = (p - (k + 0.5) * sw) / (sw / 2.0);
        let nesz = 0.003 * (1.0 + 1.2 * u * u) * (1.0 + 0.2 * k);
        let a = self.a("sigma_nought", l, p);
        nesz * a * a
    }

    /// Azimuth noise scaling of sub-swath `k` at line `l`.
    fn noise_az(&self, k: usize, l: f64) -> f64 {
        let burst = self.h as f64 / 9.0;
        1.0 + 0.08 * (std::f64::consts::TAU * l / burst + k as f64).cos()
    }

    /// Image lines of the noise azimuth profile.
    fn az_lines(&self) -> Vec<f64> {
        (0..self.naz)
            .map(|i| (i as f64 * (self.h as f64 - 1.0) / (self.naz - 1).max(1) as f64).round())
            .collect()
    }

    /// Sub-swath pixel ranges.
    fn subswath(&self, k: usize) -> (u64, u64) {
        (k as u64 * self.w / 3, (k as u64 + 1) * self.w / 3 - 1)
    }

    /// Nodata border: first valid and last valid pixel of line `l`, or
    /// `None` for a line of nodata.
    fn valid(&self, l: u64) -> Option<(u64, u64)> {
        let lines = 3.max(self.h / 500);
        if l < lines || l + lines >= self.h {
            return None;
        }
        let t = l as f64 / self.h as f64;
        let b = (self.w as f64 * 0.003).max(3.0);
        let near = (b * (1.5 + (t * 23.0).sin())) as u64 + 2;
        let far = (b * (1.5 + (t * 17.0 + 1.0).cos())) as u64 + 2;
        Some((near, self.w.saturating_sub(far + 1)))
    }

    /// Lat/lon of the GCP lattice, row-major.
    fn gcp_lonlat(&self) -> (Vec<f64>, Vec<f64>) {
        let (mut lat, mut lon) = (vec![], vec![]);
        for &l in &self.gl {
            for &p in &self.gp {
                let (x, y) = self.utm(l, p);
                let (lo, la) = utm_to_lonlat(ZONE, x, y);
                lat.push(la);
                lon.push(lo);
            }
        }
        (lat, lon)
    }

    /// Lat/lon at (line, pixel) by bilinear interpolation of the GCP lattice.
    fn interp_lonlat(&self, l: f64, p: f64) -> (f64, f64) {
        let (lat, lon) = self.gcp_lonlat();
        let cell = |ax: &[f64], v: f64| {
            let mut i = 0;
            while i + 2 < ax.len() && v >= ax[i + 1] {
                i += 1;
            }
            i
        };
        let (i, j) = (cell(&self.gl, l), cell(&self.gp, p));
        let u = (l - self.gl[i]) / (self.gl[i + 1] - self.gl[i]);
        let v = (p - self.gp[j]) / (self.gp[j + 1] - self.gp[j]);
        let n = self.gp.len();
        let bil = |a: &[f64]| {
            let top = a[i * n + j] + (a[i * n + j + 1] - a[i * n + j]) * v;
            let bot = a[(i + 1) * n + j] + (a[(i + 1) * n + j + 1] - a[(i + 1) * n + j]) * v;
            top + (bot - top) * u
        };
        (bil(&lon), bil(&lat))
    }

    /// The targets as recorded in the group attributes.
    fn targets_attr(&self) -> Value {
        Value::Array(
            self.targets
                .iter()
                .map(|&(l, p)| {
                    let (lon, lat) = self.interp_lonlat(l, p);
                    json!({"line": l, "pixel": p, "latitude": lat, "longitude": lon})
                })
                .collect(),
        )
    }

    /// σ⁰ of the ground at (line, pixel), linear, without speckle.
    fn sigma0(&self, l: f64, p: f64, srow: f64, water: f64) -> f64 {
        let _ = l;
        let db = -9.0 + 3.0 * srow * (p * 0.011).cos() + self.pol_db;
        let db = if water + 0.4 * (p * 0.0031).sin() > 0.9 {
            -23.0 + self.pol_db
        } else {
            db
        };
        10f64.powf(db / 10.0)
    }

    /// DN values of lines `rows` × pixels `cols`.
    pub(crate) fn grd(&self, rows: std::ops::Range<u64>, cols: std::ops::Range<u64>) -> Vec<u16> {
        let mut out =
            Vec::with_capacity(((rows.end - rows.start) * (cols.end - cols.start)) as usize);
        // -ln(u) for 4096 quantiles: speckle as the mean of 4 exponentials
        let table: Vec<f64> = (0..4096)
            .map(|i| -((i as f64 + 0.5) / 4096.0).ln())
            .collect();
        let colv: Vec<(f64, f64, f64)> = cols
            .clone()
            .map(|p| {
                let pf = p as f64;
                let a = self.a("sigma_nought", self.h as f64 / 2.0, pf);
                (pf, a, self.noise_range(self.h as f64 / 2.0, pf) / (a * a))
            })
            .collect();
        for l in rows {
            let lf = l as f64;
            let valid = self.valid(l);
            let srow = (lf * 0.013).sin();
            let water = (lf * 0.0023).cos();
            let bscale = self.beta(lf) / self.beta(self.h as f64 / 2.0);
            let near: Vec<&(f64, f64)> = self
                .targets
                .iter()
                .filter(|t| (t.0 - lf).abs() < 6.0)
                .collect();
            for (k, &(pf, a0, nrel)) in colv.iter().enumerate() {
                let p = cols.start + k as u64;
                if valid.is_none_or(|(a, b)| p < a || p > b) {
                    out.push(0);
                    continue;
                }
                let a = a0 * bscale;
                let sub = ((pf / (self.w as f64 / 3.0)) as usize).min(2);
                let h = mix64(self.seed ^ (l << 32) ^ p);
                let sp = (table[(h & 4095) as usize]
                    + table[((h >> 12) & 4095) as usize]
                    + table[((h >> 24) & 4095) as usize]
                    + table[((h >> 36) & 4095) as usize])
                    / 4.0;
                let mut pow = self.sigma0(lf, pf, srow, water) * sp;
                for t in &near {
                    let d2 = (t.0 - lf).powi(2) + (t.1 - pf).powi(2);
                    if d2 < 36.0 {
                        pow += 2000.0 * (-d2 / 2.0).exp();
                    }
                }
                let dn2 = pow * a * a + nrel * a * a * self.noise_az(sub, lf);
                out.push(dn2.sqrt().round().clamp(1.0, 65535.0) as u16);
            }
        }
        out
    }

    /// All values of a small annotation array, by its path inside the
    /// polarisation group; `None` for arrays left to the generic filler.
    fn values(&self, rel: &str) -> Option<Vec<f64>> {
        let (h, w) = (self.h as f64, self.w as f64);
        let cal_lines: Vec<f64> = (0..27)
            .map(|k| (k as f64 * (h - 1.0) / 26.0).round())
            .collect();
        let cal_pixels: Vec<f64> = (0..653)
            .map(|j| (j as f64 * (w - 1.0) / 652.0).round())
            .collect();
        let nr_pixels: Vec<f64> = (0..655)
            .map(|j| (j as f64 * (w - 1.0) / 654.0).round())
            .collect();
        let grid = |xs: &[f64], ps: &[f64], f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
            xs.iter()
                .flat_map(|&l| ps.iter().map(move |&p| f(l, p)))
                .collect()
        };
        Some(match rel {
            "measurements/line" => (0..self.h).map(|v| v as f64).collect(),
            "measurements/pixel" => (0..self.w).map(|v| v as f64).collect(),
            "measurements/ground_range" => (0..self.w).map(|v| v as f64 * SPACING).collect(),
            "measurements/azimuth_time" => (0..self.h).map(|v| v as f64 * 2.055e6).collect(),
            "conditions/gcp/line" => self.gl.clone(),
            "conditions/gcp/pixel" => self.gp.clone(),
            "conditions/gcp/ground_range" => self.gp.iter().map(|p| p * SPACING).collect(),
            "conditions/gcp/latitude" => self.gcp_lonlat().0,
            "conditions/gcp/longitude" => self.gcp_lonlat().1,
            "conditions/gcp/height" => grid(&self.gl, &self.gp, &|l, p| {
                80.0 + 40.0 * (l * 0.001 + p * 0.0007).sin()
            }),
            "conditions/gcp/incidence_angle" => {
                grid(&self.gl, &self.gp, &|l, p| self.incidence(l, p))
            }
            "conditions/gcp/elevation_angle" => {
                grid(&self.gl, &self.gp, &|l, p| self.incidence(l, p) * 0.89)
            }
            "conditions/gcp/slant_range_time_gcp" => grid(&self.gl, &self.gp, &|l, p| {
                2.0 * 693_000.0 / self.incidence(l, p).to_radians().cos() / 299_792_458.0
            }),
            "quality/calibration/line" => cal_lines,
            "quality/calibration/pixel" => cal_pixels,
            "quality/calibration/ground_range" => cal_pixels.iter().map(|p| p * SPACING).collect(),
            "quality/calibration/sigma_nought" => grid(&cal_lines, &cal_pixels, &|l, p| {
                self.a("sigma_nought", l, p)
            }),
            "quality/calibration/beta_nought" => {
                grid(&cal_lines, &cal_pixels, &|l, p| self.a("beta_nought", l, p))
            }
            "quality/calibration/gamma" => {
                grid(&cal_lines, &cal_pixels, &|l, p| self.a("gamma", l, p))
            }
            "quality/calibration/dn" => grid(&cal_lines, &cal_pixels, &|l, p| self.a("dn", l, p)),
            "quality/noise_range/line" => cal_lines,
            "quality/noise_range/pixel" => grid(&cal_lines, &nr_pixels, &|_, p| p),
            "quality/noise_range/ground_range" => grid(&cal_lines, &nr_pixels, &|_, p| p * SPACING),
            "quality/noise_range/noise_range_lut" => {
                grid(&cal_lines, &nr_pixels, &|l, p| self.noise_range(l, p))
            }
            "quality/noise_azimuth/first_azimuth_time" => vec![0.0; 3],
            "quality/noise_azimuth/last_azimuth_time" => vec![h - 1.0; 3],
            "quality/noise_azimuth/first_range_sample" => {
                (0..3).map(|k| self.subswath(k).0 as f64).collect()
            }
            "quality/noise_azimuth/last_range_sample" => {
                (0..3).map(|k| self.subswath(k).1 as f64).collect()
            }
            "quality/noise_azimuth/line" => (0..3).flat_map(|_| self.az_lines()).collect(),
            "quality/noise_azimuth/noise_azimuth_lut" => (0..3)
                .flat_map(|k| {
                    self.az_lines()
                        .into_iter()
                        .map(move |l| self.noise_az(k, l))
                })
                .collect(),
            _ => return None,
        })
    }
}

/// The scenes of a GRD schema, by polarisation group.
pub(crate) struct Scenes(Vec<(String, Scene)>);

/// Scale a GRD schema in place (image size, its coordinate arrays, the
/// azimuth noise profile) and describe its scenes; targets go into the
/// group attributes.
pub(crate) fn prepare(schema: &mut Value, scale: u64) -> Result<Scenes, String> {
    let mut scenes = vec![];
    for g in pol_groups(schema) {
        let grp = &mut schema["members"][&g];
        let grd = &grp["members"]["measurements"]["members"]["grd"];
        let shape: Vec<u64> = grd["shape"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        if shape.len() != 2 {
            return Err(format!("{g}/measurements/grd: not a 2-D image"));
        }
        let (h, w) = (shape[0].div_ceil(scale), shape[1].div_ceil(scale));
        if h < 100 || w < 700 {
            return Err(format!(
                "scale {scale} leaves a {h} × {w} image; at least 100 × 700 (the LUTs' sizes) needed"
            ));
        }
        let meas = &mut grp["members"]["measurements"]["members"];
        let set = |node: &mut Value, sh: Vec<u64>| {
            let ch: Vec<u64> = node["chunks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .zip(&sh)
                .map(|(c, s)| c.div_ceil(scale).min(*s).max(1))
                .collect();
            node["chunks"] = json!(ch);
            node["shape"] = json!(sh);
        };
        set(&mut meas["grd"], vec![h, w]);
        for (n, len) in [
            ("azimuth_time", h),
            ("line", h),
            ("ground_range", w),
            ("pixel", w),
        ] {
            if meas.get(n).is_some_and(|v| !v.is_null()) {
                set(&mut meas[n], vec![len]);
            }
        }
        let naz = 1687.min((h / 10).max(2) as usize);
        let az = &mut grp["members"]["quality"]["members"]["noise_azimuth"]["members"];
        for n in ["line", "noise_azimuth_lut"] {
            if az.get(n).is_some_and(|v| !v.is_null()) {
                az[n]["shape"] = json!([3, naz]);
                az[n]["chunks"] = json!([3, naz]);
            }
        }
        let scene = Scene::new(h, w, &g, naz);
        let attrs = &mut grp["attributes"];
        if !attrs.is_object() {
            *attrs = Value::Object(Map::new());
        }
        attrs["synthetic:point_targets"] = scene.targets_attr();
        attrs["synthetic:utm_epsg"] = json!(32600 + ZONE);
        scenes.push((g, scene));
    }
    Ok(Scenes(scenes))
}

/// Little-endian bytes of `v` as numpy type `dtype` (numeric types).
fn to_bytes(dtype: &str, v: &[f64]) -> Option<Vec<u8>> {
    let body = dtype.trim_start_matches(['<', '|', '=']);
    if dtype.starts_with('>') {
        return None;
    }
    Some(match body {
        "f8" => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        "f4" => v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect(),
        "u4" => v.iter().flat_map(|x| (*x as u32).to_le_bytes()).collect(),
        "i4" => v.iter().flat_map(|x| (*x as i32).to_le_bytes()).collect(),
        "i8" => v.iter().flat_map(|x| (*x as i64).to_le_bytes()).collect(),
        "u8" => v.iter().flat_map(|x| (*x as u64).to_le_bytes()).collect(),
        "u2" => v.iter().flat_map(|x| (*x as u16).to_le_bytes()).collect(),
        _ => return None,
    })
}

impl Scenes {
    /// The bytes of chunk `idx` (`chunks` shape, C order) of array `path`
    /// with shape `shape` and numpy type `dtype`, when the scene defines it.
    pub(crate) fn chunk(
        &self,
        path: &str,
        dtype: &str,
        shape: &[u64],
        chunks: &[u64],
        idx: &[u64],
    ) -> Option<Vec<u8>> {
        let (g, rel) = path.split_once('/')?;
        let scene = &self.0.iter().find(|(n, _)| n == g)?.1;
        let origin: Vec<u64> = idx.iter().zip(chunks).map(|(i, c)| i * c).collect();
        if rel == "measurements/grd" && shape.len() == 2 {
            let (r1, c1) = (
                (origin[0] + chunks[0]).min(shape[0]),
                (origin[1] + chunks[1]).min(shape[1]),
            );
            let vals = scene.grd(origin[0]..r1, origin[1]..c1);
            let (vw, cw) = ((c1 - origin[1]) as usize, chunks[1] as usize);
            let mut buf = vec![0u8; (chunks[0] * chunks[1]) as usize * 2];
            for (i, row) in vals.chunks(vw).enumerate() {
                for (j, v) in row.iter().enumerate() {
                    buf[(i * cw + j) * 2..(i * cw + j) * 2 + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
            return Some(buf);
        }
        let all = scene.values(rel)?;
        if all.len() as u64 != shape.iter().product::<u64>() {
            return None;
        }
        // the chunk's region, padded with 0
        let n: u64 = chunks.iter().product();
        let mut vals = vec![0f64; n as usize];
        for (k, v) in vals.iter_mut().enumerate() {
            let mut rem = k as u64;
            let mut flat = 0u64;
            let mut inside = true;
            for d in (0..chunks.len()).rev() {
                let local = rem % chunks[d];
                rem /= chunks[d];
                let g = origin[d] + local;
                inside &= g < shape[d];
                let stride: u64 = shape[d + 1..].iter().product();
                flat += g * stride;
            }
            if inside {
                *v = all[flat as usize];
            }
        }
        to_bytes(dtype, &vals)
    }
}

/// WGS 84 / UTM (north) → (longitude, latitude), Krüger series (Karney 2011).
fn utm_to_lonlat(zone: u32, x: f64, y: f64) -> (f64, f64) {
    const A: f64 = 6_378_137.0;
    const F: f64 = 1.0 / 298.257_223_563;
    let n = F / (2.0 - F);
    let (n2, n3) = (n * n, n * n * n);
    let (n4, n5, n6) = (n2 * n2, n2 * n3, n3 * n3);
    let k0a = 0.9996 * A / (1.0 + n) * (1.0 + n2 / 4.0 + n4 / 64.0 + n6 / 256.0);
    let beta = [
        n / 2.0 - 2.0 / 3.0 * n2 + 37.0 / 96.0 * n3 - 1.0 / 360.0 * n4 - 81.0 / 512.0 * n5
            + 96199.0 / 604800.0 * n6,
        1.0 / 48.0 * n2 + 1.0 / 15.0 * n3 - 437.0 / 1440.0 * n4 + 46.0 / 105.0 * n5
            - 1118711.0 / 3870720.0 * n6,
        17.0 / 480.0 * n3 - 37.0 / 840.0 * n4 - 209.0 / 4480.0 * n5 + 5569.0 / 90720.0 * n6,
        4397.0 / 161280.0 * n4 - 11.0 / 504.0 * n5 - 830251.0 / 7257600.0 * n6,
        4583.0 / 161280.0 * n5 - 108847.0 / 3991680.0 * n6,
        20648693.0 / 638668800.0 * n6,
    ];
    let e = (F * (2.0 - F)).sqrt();
    let xi = y / k0a;
    let eta = (x - 500_000.0) / k0a;
    let (mut xip, mut etap) = (xi, eta);
    for (j, b) in beta.iter().enumerate() {
        let k = 2.0 * (j + 1) as f64;
        xip -= b * (k * xi).sin() * (k * eta).cosh();
        etap -= b * (k * xi).cos() * (k * eta).sinh();
    }
    let (s, c) = xip.sin_cos();
    let sh = etap.sinh();
    let r = sh.hypot(c);
    let lam = sh.atan2(c).to_degrees();
    let taup = s / r;
    let tau_prime = |tau: f64| {
        let s1 = tau.hypot(1.0);
        let sigma = (e * (e * tau / s1).atanh()).sinh();
        tau * sigma.hypot(1.0) - sigma * s1
    };
    let e2m = 1.0 - e * e;
    let mut tau = taup / e2m;
    for _ in 0..6 {
        let tp = tau_prime(tau);
        tau += (taup - tp) / tp.hypot(1.0) * (1.0 + e2m * tau * tau) / (e2m * tau.hypot(1.0));
    }
    (zone as f64 * 6.0 - 183.0 + lam, tau.atan().to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_is_plausible() {
        let s = Scene::new(1043, 1630, "X_VV", 104);
        // a tilted swath: line 0 is south, pixels run east
        let (x0, y0) = s.utm(0.0, 0.0);
        let (x1, y1) = s.utm(1042.0, 0.0);
        let (x2, _) = s.utm(0.0, 1629.0);
        assert!(y1 > y0 && x1 < x0 && x2 > x0);
        let (lon, lat) = utm_to_lonlat(ZONE, 500_000.0, 5_000_000.0);
        assert!(
            (lon - 9.0).abs() < 1e-9 && (lat - 45.153477183356).abs() < 1e-9,
            "{lon} {lat}"
        );
        let (lon, lat) = utm_to_lonlat(ZONE, 640_000.0, 5_000_000.0);
        assert!((lon - 10.780634939007).abs() < 1e-9 && (lat - 45.139594120593).abs() < 1e-9);
        let v = s.grd(0..1043, 0..1630);
        assert!(v[..1630].iter().all(|&d| d == 0), "first lines are nodata");
        let valid: Vec<u16> = v.iter().copied().filter(|&d| d > 0).collect();
        assert!(valid.len() > 1043 * 1500);
        let t = s.targets[7];
        let peak = v[(t.0.round() as usize) * 1630 + t.1.round() as usize];
        assert!(peak > 5000, "target peak {peak}");
    }
}
