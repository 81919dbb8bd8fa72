//! What the spatial arrays hold: a smooth geographic landscape (the same on
//! every resolution), field parcels and noise, turned into reflectance,
//! classes, flag masks, detector footprints, probabilities or a quicklook
//! according to the array's [`FieldKind`].
//!
//! The landscape is built in normalised coordinates (u → east, v → south,
//! both 0..1 over the tile): `l = a(u) + b(v) + c(u)·d(v)`, and a second,
//! independent field `l2` for clouds and aerosols.

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::dtype::{write_row, Num, NumpyKind, NumpyType};
use crate::geometry::{unravel, Geo};
use crate::noise::{fnv1a, mix64, unit, CLASS_SEED, PARCEL_SEED};
use crate::plan::ArrayPlan;
use crate::schema::{dims_of, SchemaArray};

/// What the values of an array look like.
#[derive(Debug, Clone)]
pub(crate) enum FieldKind {
    /// Reflectance counts (uint16 with a scale factor).
    Reflectance(BandModel),
    /// Smooth spatial field: base + amp × landscape.
    Smooth { base: f32, amp: f32, second: bool },
    /// Scene classification (0..=11).
    Classes,
    /// Bit-flag mask using these flag values.
    Flags(Vec<u8>),
    /// Detector footprint, slanted stripes 1..=6.
    Detector { offset: f32 },
    /// Cloud (false) or snow (true) probability, 0..=100.
    Probability { snow: bool },
    /// RGB quicklook (band dimension first).
    Quicklook,
    /// Everything else, element by element.
    Element,
}

/// Reflectance model of one band.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BandModel {
    base: f32,
    gain: f32,
    parcel: f32,
    noise: f32,
}

fn band_model(name: &str) -> BandModel {
    // Typical L2A counts over vegetated land: visible bands darken where the
    // landscape is greener (negative gain), near infrared brightens.
    let (base, gain) = match name.to_ascii_lowercase().as_str() {
        "b01" => (600.0, -250.0),
        "b02" => (750.0, -300.0),
        "b03" => (1000.0, -300.0),
        "b04" => (950.0, -450.0),
        "b05" => (1350.0, -300.0),
        "b06" => (2300.0, 500.0),
        "b07" => (2700.0, 650.0),
        "b08" => (2900.0, 800.0),
        "b8a" => (3050.0, 800.0),
        "b09" => (3100.0, 650.0),
        "b10" => (60.0, 20.0),
        "b11" => (2100.0, -500.0),
        "b12" => (1300.0, -450.0),
        other => {
            let h = fnv1a(other.as_bytes());
            let base = 800.0 + (h % 2000) as f32;
            (base, 0.3 * base)
        }
    };
    BandModel {
        base,
        gain,
        parcel: 0.07 * base.abs(),
        noise: 24.0 + 0.01 * base,
    }
}

fn attr_has(attrs: &Map<String, Value>, key: &str) -> bool {
    attrs.contains_key(key) || attrs.get("_eopf_attrs").and_then(|e| e.get(key)).is_some()
}

/// What a spatial array of `dtype` holds, from its name, path and
/// attributes.
pub(crate) fn spatial_kind(
    a: &SchemaArray,
    dtype: &NumpyType,
    attrs: &Map<String, Value>,
) -> FieldKind {
    let name = a.name.to_ascii_lowercase();
    let path = a.path.to_ascii_lowercase();
    let dims = dims_of(&a.node);
    match dtype.dt {
        NumpyKind::Num(Num::U2) if attr_has(attrs, "scale_factor") => {
            FieldKind::Reflectance(band_model(&name))
        }
        NumpyKind::Num(Num::U1)
        | NumpyKind::Num(Num::U2)
        | NumpyKind::Num(Num::I1)
        | NumpyKind::Num(Num::I2) => {
            let flags: Vec<u8> = attrs
                .get("flag_masks")
                .or_else(|| attrs.get("_eopf_attrs").and_then(|e| e.get("flag_masks")))
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter_map(Value::as_u64)
                        .map(|v| v.min(255) as u8)
                        .collect()
                })
                .unwrap_or_default();
            if dims.len() == 3 && (name == "tci" || path.contains("quicklook")) {
                FieldKind::Quicklook
            } else if !flags.is_empty() {
                FieldKind::Flags(flags)
            } else if path.contains("detector_footprint") {
                FieldKind::Detector {
                    offset: (fnv1a(name.as_bytes()) % 60) as f32 / 1000.0,
                }
            } else if path.contains("probability") || name == "cld" || name == "snw" {
                FieldKind::Probability {
                    snow: name.starts_with("snw") || name.contains("snow"),
                }
            } else if name == "aot" {
                FieldKind::Smooth {
                    base: 180.0,
                    amp: 70.0,
                    second: true,
                }
            } else if name == "wvp" {
                FieldKind::Smooth {
                    base: 2200.0,
                    amp: 600.0,
                    second: false,
                }
            } else if matches!(dtype.dt, NumpyKind::Num(Num::U2) | NumpyKind::Num(Num::I2)) {
                FieldKind::Smooth {
                    base: 1000.0,
                    amp: 400.0,
                    second: false,
                }
            } else {
                FieldKind::Classes
            }
        }
        NumpyKind::Num(Num::F4) | NumpyKind::Num(Num::F8) => FieldKind::Smooth {
            base: 0.5,
            amp: 0.25,
            second: false,
        },
        NumpyKind::Num(_) => FieldKind::Smooth {
            base: 1000.0,
            amp: 400.0,
            second: false,
        },
        _ => FieldKind::Element,
    }
}

/// sin(2πx).
#[inline]
pub(crate) fn sin2pi(x: f64) -> f64 {
    (std::f64::consts::TAU * x).sin()
}

fn field_cols(u: f64) -> [f32; 4] {
    let a = 0.35 * sin2pi(1.1 * u + 0.13)
        + 0.15 * sin2pi(4.3 * u + 0.71)
        + 0.06 * sin2pi(11.7 * u + 0.4);
    let c = sin2pi(2.3 * u + 0.29);
    let a2 = 0.30 * sin2pi(1.7 * u + 0.55) + 0.12 * sin2pi(5.9 * u + 0.21);
    let c2 = sin2pi(3.1 * u + 0.83);
    [a as f32, c as f32, a2 as f32, c2 as f32]
}

fn field_rows(v: f64) -> [f32; 4] {
    let b = 0.30 * sin2pi(0.9 * v + 0.37)
        + 0.12 * sin2pi(5.1 * v + 0.05)
        + 0.05 * sin2pi(12.3 * v + 0.9);
    let d = 0.25 * sin2pi(1.7 * v + 0.61);
    let b2 = 0.25 * sin2pi(1.3 * v + 0.12) + 0.10 * sin2pi(6.7 * v + 0.47);
    let d2 = 0.35 * sin2pi(2.2 * v + 0.33);
    [b as f32, d as f32, b2 as f32, d2 as f32]
}

/// Parcel sizes (metres) for the reflectance texture and for class patches.
const PARCEL: (f64, f64) = (800.0, 600.0);
const PATCH: (f64, f64) = (2300.0, 1700.0);

/// Per-chunk column tables.
struct Cols {
    u: Vec<f64>,
    f: Vec<[f32; 4]>,
    parcel: Vec<u64>,
    patch: Vec<u64>,
}

/// Classes of the odd patch (SCL: 1 saturated, 2 dark, 3 shadow, 4 vegetation,
/// 5 bare, 6 water, 7 unclassified, 11 snow).
const CLASS_TABLE: [u8; 16] = [1, 2, 2, 2, 3, 4, 5, 6, 7, 11, 11, 2, 4, 5, 7, 11];

impl ArrayPlan {
    /// Chunk `idx` of a spatial array, uncompressed, little-endian, C order.
    pub(crate) fn spatial_chunk(&self, idx: &[u64]) -> Vec<u8> {
        let nd = self.shape.len();
        let geo = self.geo.unwrap_or(Geo {
            rx: 1.0,
            ry: -1.0,
            x0: 0.0,
            y0: 0.0,
        });
        let (ny, nx) = (self.shape[nd - 2], self.shape[nd - 1]);
        let (cy, cx) = (self.chunks[nd - 2] as usize, self.chunks[nd - 1] as usize);
        let origin: Vec<u64> = idx.iter().zip(&self.chunks).map(|(i, c)| i * c).collect();
        let (oy, ox) = (origin[nd - 2], origin[nd - 1]);
        let valid_cx = (nx - ox).min(cx as u64) as usize;
        let extent = self.extent;
        let mut cols = Cols {
            u: Vec::with_capacity(valid_cx),
            f: Vec::with_capacity(valid_cx),
            parcel: Vec::with_capacity(valid_cx),
            patch: Vec::with_capacity(valid_cx),
        };
        for i in 0..valid_cx as u64 {
            let px = geo.rx.abs() * ((ox + i) as f64 + 0.5);
            let u = px / extent;
            cols.u.push(u);
            cols.f.push(field_cols(u));
            cols.parcel.push((px / PARCEL.0).floor() as u64);
            cols.patch.push((px / PATCH.0).floor() as u64);
        }
        let item = self.dtype.size();
        let row_bytes = cx * item;
        let lead_chunk: Vec<u64> = self.chunks[..nd - 2].to_vec();
        let mut buf = self.new_buffer();
        let NumpyKind::Num(num) = self.dtype.dt else {
            return buf;
        };
        buf.par_chunks_mut(row_bytes)
            .with_min_len(16)
            .enumerate()
            .for_each(|(q, row)| {
                let r = (q % cy) as u64;
                let lead_local = unravel((q / cy) as u64, &lead_chunk);
                let mut lead = Vec::with_capacity(lead_local.len());
                for (d, l) in lead_local.iter().enumerate() {
                    let g = origin[d] + l;
                    if g >= self.shape[d] {
                        return; // padding: stays at the fill value
                    }
                    lead.push(g);
                }
                let gy = oy + r;
                if gy >= ny {
                    return;
                }
                let py = geo.ry.abs() * (gy as f64 + 0.5);
                let v = py / extent;
                // Nodata: a bottom-left corner triangle and a short stripe.
                let k1 = cols.u.partition_point(|&u| u < 0.28 - (1.0 - v));
                let k2 = if (0.62..0.635).contains(&v) {
                    cols.u.partition_point(|&u| u <= 0.7)
                } else {
                    valid_cx
                }
                .max(k1);
                if k1 >= k2 {
                    return;
                }
                let rowf = field_rows(v);
                let prow = (py / PARCEL.1).floor() as u64;
                let patch_row = (py / PATCH.1).floor() as u64;
                let rowctx = RowCtx {
                    f: rowf,
                    parcel_key: mix64(PARCEL_SEED ^ prow.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    patch_key: mix64(CLASS_SEED ^ patch_row.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    noise_key: self.seed ^ (gy << 32) ^ lead.iter().fold(0, |h, &l| mix64(h ^ l)),
                    gx0: ox,
                    v: v as f32,
                };
                self.fill_row(num, row, k1, k2, &cols, &rowctx, &lead);
            });
        buf
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_row(
        &self,
        num: Num,
        row: &mut [u8],
        k1: usize,
        k2: usize,
        cols: &Cols,
        rc: &RowCtx,
        lead: &[u64],
    ) {
        let [b, d, b2, d2] = rc.f;
        let l = |i: usize| {
            let f = &cols.f[i];
            f[0] + b + f[1] * d
        };
        let l2 = |i: usize| {
            let f = &cols.f[i];
            f[2] + b2 + f[3] * d2
        };
        let parcel = |i: usize| {
            unit(mix64(
                rc.parcel_key ^ cols.parcel[i].wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
            )) * 2.0
                - 1.0
        };
        let noise = |i: usize| unit(mix64(rc.noise_key.wrapping_add(rc.gx0 + i as u64))) - 0.5;
        match &self.kind {
            FieldKind::Reflectance(m) => {
                let m = *m;
                write_row(num, row, k1, k2, |i| {
                    refl(m, l(i), l2(i), parcel(i), noise(i)).clamp(1.0, 10000.0)
                });
            }
            FieldKind::Quicklook => {
                let band = lead.first().copied().unwrap_or(0);
                let m = band_model(["b04", "b03", "b02"][(band % 3) as usize]);
                write_row(num, row, k1, k2, |i| {
                    (refl(m, l(i), l2(i), parcel(i), noise(i)) * (255.0 / 2500.0)).clamp(1.0, 255.0)
                });
            }
            FieldKind::Smooth { base, amp, second } => {
                let (base, amp, second) = (*base, *amp, *second);
                write_row(num, row, k1, k2, |i| {
                    base + amp * if second { l2(i) } else { l(i) }
                });
            }
            FieldKind::Classes => write_row(num, row, k1, k2, |i| {
                // Clouds (with a ring of thin cirrus and shadow) from the second
                // field; land cover from the landscape, blurred by patches.
                let c = l2(i);
                let land = l(i);
                let h = mix64(rc.patch_key ^ cols.patch[i].wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
                let class: u8 = if c > 0.62 {
                    9
                } else if c > 0.5 {
                    8
                } else if c > 0.46 {
                    10
                } else if c > 0.42 {
                    3
                } else if land < -0.85 {
                    6
                } else {
                    let t = land + 0.6 * (unit(h) - 0.5);
                    if h >> 60 == 0 {
                        CLASS_TABLE[((h >> 8) & 15) as usize]
                    } else if t > 0.05 {
                        4
                    } else if t > -0.45 {
                        5
                    } else {
                        7
                    }
                };
                f32::from(class)
            }),
            FieldKind::Flags(flags) => {
                let n = flags.len();
                if n <= 4 {
                    // A cloud mask: opaque clouds, cirrus around them, snow.
                    write_row(num, row, k1, k2, |i| {
                        let c = l2(i);
                        let v = if c > 0.55 {
                            flags[0]
                        } else if c > 0.45 {
                            flags[1 % n]
                        } else if n > 2 && l(i) < -0.95 {
                            flags[2]
                        } else {
                            0
                        };
                        f32::from(v)
                    });
                } else {
                    // A quality mask: mostly clear, rare flagged parcels.
                    write_row(num, row, k1, k2, |i| {
                        let h = mix64(
                            rc.parcel_key ^ cols.parcel[i].wrapping_mul(0x1656_67b1_9e37_79f9),
                        );
                        if h.is_multiple_of(97) {
                            f32::from(flags[((h >> 8) % n as u64) as usize])
                        } else {
                            0.0
                        }
                    });
                }
            }
            FieldKind::Detector { offset } => {
                let off = *offset + 0.18 * rc.v;
                write_row(num, row, k1, k2, |i| {
                    let w = 0.82 * cols.u[i] as f32 + off;
                    (1.0 + (w * 6.0).floor()).clamp(1.0, 6.0)
                });
            }
            FieldKind::Probability { snow } => {
                let snow = *snow;
                write_row(num, row, k1, k2, |i| {
                    let p = if snow {
                        (-l(i) - 0.8) * 300.0
                    } else {
                        (l2(i) - 0.3) * 300.0
                    };
                    p.clamp(0.0, 100.0)
                });
            }
            FieldKind::Element => {}
        }
    }
}

struct RowCtx {
    f: [f32; 4],
    parcel_key: u64,
    patch_key: u64,
    noise_key: u64,
    gx0: u64,
    v: f32,
}

/// Reflectance counts of band `m`: landscape `l`, clouds where `l2` is high
/// (the same clouds as in the classification), parcel texture and noise.
#[inline(always)]
fn refl(m: BandModel, l: f32, l2: f32, parcel: f32, noise: f32) -> f32 {
    let ground = m.base + m.gain * l + m.parcel * parcel;
    let cloud = ((l2 - 0.42) * 4.0).clamp(0.0, 1.0);
    ground + cloud * (4500.0 + 2500.0 * cloud - ground) + m.noise * noise
}
