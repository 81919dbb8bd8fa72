//! Arrays not on the tile grid, element by element: coordinates, angles,
//! meteorology, band and detector indices, strings, datetimes and scalars.

use serde_json::Value;

use crate::dtype::{put_f64, put_i64, Num, NumpyKind};
use crate::geometry::{approx_lat_lon, unravel, Tile};
use crate::landscape::sin2pi;
use crate::plan::ArrayPlan;

/// One generated element, before it is converted to the array's type.
enum Elem {
    /// A real number.
    F(f64),
    /// An integer (also datetimes).
    I(i64),
    /// A string (`<U`, `|S`).
    S(String),
}

/// Sentinel-2 band names in product order.
const S2_BANDS: [&str; 13] = [
    "b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b8a", "b09", "b10", "b11", "b12",
];

/// 2025-10-08T10:00:41Z in nanoseconds.
pub(crate) const EPOCH_NS: i64 = 1_759_917_641_000_000_000;

impl ArrayPlan {
    /// Chunk `idx` of a non-spatial array, uncompressed, little-endian, C order.
    pub(crate) fn element_chunk(&self, tile: &Tile, idx: &[u64]) -> Vec<u8> {
        let mut buf = self.new_buffer();
        let item = self.dtype.size();
        let nd = self.shape.len();
        let origin: Vec<u64> = idx.iter().zip(&self.chunks).map(|(i, c)| i * c).collect();
        let n = self.chunks.iter().product::<u64>();
        let mut g = vec![0u64; nd];
        'elements: for k in 0..n {
            let local = unravel(k, &self.chunks);
            for d in 0..nd {
                g[d] = origin[d] + local[d];
                if g[d] >= self.shape[d] {
                    continue 'elements;
                }
            }
            let dst = &mut buf[k as usize * item..(k as usize + 1) * item];
            self.put_elem(dst, self.element_value(tile, &g));
        }
        buf
    }

    fn put_elem(&self, dst: &mut [u8], v: Elem) {
        match (self.dtype.dt, v) {
            (NumpyKind::Num(n), Elem::F(x)) => put_f64(n, dst, x),
            (NumpyKind::Num(n), Elem::I(x)) => put_i64(n, dst, x),
            (NumpyKind::DateTime(_), Elem::I(x)) => dst.copy_from_slice(&x.to_le_bytes()),
            (NumpyKind::Str(n), Elem::S(s)) => {
                for (c, d) in s.chars().take(n).zip(dst.chunks_exact_mut(4)) {
                    d.copy_from_slice(&u32::from(c).to_le_bytes());
                }
            }
            (NumpyKind::Bytes(n), Elem::S(s)) => {
                let b = s.as_bytes();
                let m = b.len().min(n);
                dst[..m].copy_from_slice(&b[..m]);
            }
            _ => {}
        }
    }

    fn dim_pos(&self, name: &str) -> Option<usize> {
        self.dims.iter().position(|d| d == name)
    }

    /// Normalised (0..1) position along dimension `name`, if the array has it.
    fn norm(&self, g: &[u64], name: &str) -> Option<f64> {
        let p = self.dim_pos(name)?;
        let n = self.shape[p];
        Some(if n > 1 {
            g[p] as f64 / (n - 1) as f64
        } else {
            0.5
        })
    }

    fn element_value(&self, tile: &Tile, g: &[u64]) -> Elem {
        let name = self.name.as_str();
        let flat = {
            let mut f = 0u64;
            for (d, &s) in self.shape.iter().enumerate() {
                f = f * s + g[d];
            }
            f
        };
        match self.dtype.dt {
            NumpyKind::Str(_) | NumpyKind::Bytes(_) => return Elem::S(self.string_value(flat)),
            NumpyKind::DateTime(ns_per_unit) => {
                return Elem::I(
                    EPOCH_NS / ns_per_unit + flat as i64 * (1_000_000_000 / ns_per_unit).max(1),
                )
            }
            NumpyKind::Other(_) => return Elem::I(0),
            NumpyKind::Num(_) => {}
        }
        let is_float = matches!(self.dtype.dt, NumpyKind::Num(Num::F4 | Num::F8));

        // Coordinates.
        if self.shape.len() == 1 && (name == "x" || name == "y") {
            let i = g[0] as f64;
            let v = match self.geo {
                Some(geo) if name == "x" => geo.x0 + geo.rx * (i + 0.5),
                Some(geo) => geo.y0 + geo.ry * (i + 0.5),
                None => {
                    // A coarse grid over the tile (the 23×23 angle grid: 5 km).
                    let n = self.shape[0].max(2) as f64;
                    let raw = tile.extent / (n - 1.0);
                    let step = if raw >= 1000.0 {
                        (raw / 1000.0).round() * 1000.0
                    } else {
                        raw.round().max(1.0)
                    };
                    if name == "x" {
                        tile.corner.0 + step * i
                    } else {
                        tile.corner.1 - step * i
                    }
                }
            };
            return if is_float {
                Elem::F(v)
            } else {
                Elem::I(v.round() as i64)
            };
        }

        if !is_float {
            let units = self
                .attrs
                .get("units")
                .and_then(Value::as_str)
                .unwrap_or("");
            let v = match name {
                "detector" | "band" => flat as i64 + 1,
                _ if units.starts_with("nanoseconds") => EPOCH_NS + flat as i64 * 1_000_000_000,
                "number" => 0,
                _ => flat as i64,
            };
            return Elem::I(v);
        }

        // Angles (degrees).
        if name.contains("angle") {
            let angle = self.dim_pos("angle").map_or(0, |p| g[p]);
            let u = self.norm(g, "x").unwrap_or(0.5);
            let v = self.norm(g, "y").unwrap_or(0.5);
            let band = self.dim_pos("band").map_or(0.0, |p| g[p] as f64);
            let det = self.dim_pos("detector").map_or(3.0, |p| g[p] as f64 + 1.0);
            let val = if name.contains("sun") {
                if angle == 0 {
                    47.3 + 1.4 * u + 1.9 * v
                } else {
                    161.5 + 4.2 * u - 1.6 * v
                }
            } else if angle == 0 {
                2.0 + 8.5 * u + 0.4 * v + 0.03 * band + 0.05 * det
            } else {
                103.0 + 9.0 * det + 14.0 * u - 3.0 * v + 0.2 * band
            };
            return Elem::F(val);
        }

        // Latitude / longitude of the meteorological grids (approximate).
        if name == "latitude" || name == "longitude" {
            let (lat0, lon0) = approx_lat_lon(tile);
            let i = g.first().copied().unwrap_or(0) as f64;
            let n = self.shape.first().copied().unwrap_or(1).max(2) as f64;
            let span = 1.2;
            return Elem::F(if name == "latitude" {
                ((lat0 + 0.1 - span * i / (n - 1.0)) * 1000.0).round() / 1000.0
            } else {
                ((lon0 - 0.1 + span * i / (n - 1.0)) * 1000.0).round() / 1000.0
            });
        }

        // Meteorology and anything else: a smooth field over the index.
        let (base, amp) = match name {
            "aod469" => (0.16, 0.05),
            "aod550" => (0.12, 0.04),
            "aod670" => (0.09, 0.03),
            "aod865" => (0.06, 0.02),
            "aod1240" => (0.035, 0.01),
            "bcaod550" => (0.006, 0.002),
            "duaod550" => (0.02, 0.01),
            "omaod550" => (0.035, 0.01),
            "ssaod550" => (0.012, 0.005),
            "suaod550" => (0.025, 0.008),
            "z" => (2500.0, 1800.0),
            "msl" => (101_600.0, 250.0),
            "r" => (68.0, 14.0),
            "tco3" => (0.0062, 0.0003),
            "tcwv" => (18.0, 4.0),
            "u10" => (1.2, 2.0),
            "v10" => (-0.8, 1.8),
            "isobaricInhPa" | "surface" => (0.0, 0.0),
            _ if self.shape.is_empty() => (0.0, 0.0),
            _ => (1.0, 0.5),
        };
        let nd = self.shape.len();
        let (a, b) = match nd {
            0 => (0.5, 0.5),
            1 => (self.norm_axis(g, 0), 0.5),
            _ => (self.norm_axis(g, nd - 1), self.norm_axis(g, nd - 2)),
        };
        let s = 0.6 * sin2pi(0.8 * a + 0.2) + 0.4 * sin2pi(0.6 * b + 0.7) * sin2pi(0.5 * a + 0.1);
        let v = base + amp * s;
        Elem::F(
            if is_float && matches!(self.dtype.dt, NumpyKind::Num(Num::F4)) {
                f64::from(v as f32)
            } else {
                v
            },
        )
    }

    fn norm_axis(&self, g: &[u64], axis: usize) -> f64 {
        let n = self.shape[axis];
        if n > 1 {
            g[axis] as f64 / (n - 1) as f64
        } else {
            0.5
        }
    }

    fn string_value(&self, flat: u64) -> String {
        let i = flat as usize;
        match self.name.as_str() {
            "angle" => ["zenith", "azimuth"][i % 2].to_string(),
            "band" | "bands" => {
                if self.shape.first().copied() == Some(3) {
                    ["b04", "b03", "b02"][i % 3].to_string()
                } else {
                    S2_BANDS[i % S2_BANDS.len()].to_string()
                }
            }
            "detector" => format!("d{:02}", i + 1),
            other => format!("{other}{i}"),
        }
    }
}
