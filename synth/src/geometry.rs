//! Where the product lies: the tile (extent, corner, CRS), each group's grid
//! (from `proj:transform` or an `rNNm` group name), which arrays are on the
//! tile grid, how shapes and chunks are scaled, chunk-grid indices, and the
//! updated `proj:*` attributes of a scaled array.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::schema::{dims_of, shape_of, SchemaArray};

/// The tile the product covers, and the grid of each group on it.
pub(crate) struct Tile {
    /// [`crate::SynthOptions::scale`].
    pub(crate) scale: u64,
    /// Side length of the tile in metres (from the first georeferenced array).
    pub(crate) extent: f64,
    /// Upper-left corner of the tile.
    pub(crate) corner: (f64, f64),
    /// Per-group geotransform (unscaled), for groups with spatial arrays.
    pub(crate) geos: HashMap<String, Geo>,
    /// EPSG code of the CRS (the first `proj:epsg`), if any.
    pub(crate) epsg: Option<i64>,
}

impl Tile {
    /// The tile of the schema's `arrays`: corner and extent from the first
    /// georeferenced array, a grid for every group with spatial arrays.
    pub(crate) fn new(arrays: &[SchemaArray], scale: u64) -> Tile {
        let first = arrays.iter().filter(|a| is_spatial_grid(a)).find_map(|a| {
            let g = transform_of(&a.node)?;
            let shape = shape_of(&a.node, "shape")?;
            Some((g, shape[shape.len() - 1] as f64 * g.rx.abs()))
        });
        let (corner, extent) = match first {
            Some((g, e)) => ((g.x0, g.y0), e),
            None => ((0.0, 0.0), 109_800.0),
        };
        let epsg = arrays
            .iter()
            .find_map(|a| a.node.get("attributes")?.get("proj:epsg")?.as_i64());
        let mut geos = HashMap::new();
        for a in arrays.iter().filter(|a| is_spatial_grid(a)) {
            if let Some(g) = transform_of(&a.node) {
                geos.entry(a.group.clone()).or_insert(g);
            }
        }
        for a in arrays.iter().filter(|a| is_spatial_grid(a)) {
            if geos.contains_key(&a.group) {
                continue;
            }
            let res = res_from_name(&a.group).unwrap_or_else(|| {
                let n = shape_of(&a.node, "shape").map_or(1, |s| s[s.len() - 1].max(1));
                extent / n as f64
            });
            tracing::debug!(group = %a.group, res, "no proj:transform; resolution from the group name");
            geos.insert(
                a.group.clone(),
                Geo {
                    rx: res,
                    ry: -res,
                    x0: corner.0,
                    y0: corner.1,
                },
            );
        }
        Tile {
            scale,
            extent: if extent > 0.0 { extent } else { 109_800.0 },
            corner,
            geos,
            epsg,
        }
    }
}

/// Pixel size and upper-left corner of a grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geo {
    /// Pixel width.
    pub(crate) rx: f64,
    /// Pixel height; negative for north-up grids.
    pub(crate) ry: f64,
    /// Upper-left corner, x.
    pub(crate) x0: f64,
    /// Upper-left corner, y.
    pub(crate) y0: f64,
}

impl Geo {
    /// The grid with pixels `s` times larger (same corner).
    pub(crate) fn scaled(self, s: u64) -> Geo {
        let s = s as f64;
        Geo {
            rx: self.rx * s,
            ry: self.ry * s,
            ..self
        }
    }
}

/// The grid of an array's `proj:transform`, if it has a usable one.
pub(crate) fn transform_of(node: &Map<String, Value>) -> Option<Geo> {
    let t = node.get("attributes")?.get("proj:transform")?.as_array()?;
    let t: Vec<f64> = t.iter().map(Value::as_f64).collect::<Option<_>>()?;
    if t.len() < 6 || t[0] == 0.0 || t[4] == 0.0 {
        return None;
    }
    Some(Geo {
        rx: t[0],
        ry: t[4],
        x0: t[2],
        y0: t[5],
    })
}

/// `r10m` → 10.
pub(crate) fn res_from_name(group: &str) -> Option<f64> {
    let last = group.rsplit('/').next()?;
    let digits = last.strip_prefix('r')?.strip_suffix('m')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<f64>().ok()
}

/// An array on the tile grid: last two dimensions are (y, x), and it is
/// georeferenced (has `proj:transform`) or lives in an `rNNm` group. The 23×23
/// angle grids in `/conditions/geometry` are therefore not spatial.
pub(crate) fn is_spatial_grid(a: &SchemaArray) -> bool {
    let dims = dims_of(&a.node);
    let nd = shape_of(&a.node, "shape").map_or(0, |s| s.len());
    nd >= 2
        && dims.len() == nd
        && dims[nd - 2] == "y"
        && dims[nd - 1] == "x"
        && (transform_of(&a.node).is_some() || res_from_name(&a.group).is_some())
}

/// `shape` and `chunks` with the `axes` divided by `scale` (rounded up); a
/// scaled chunk is at least 1 and at most the scaled shape.
pub(crate) fn scale_axes(
    shape: &[u64],
    chunks: &[u64],
    axes: &[usize],
    scale: u64,
) -> (Vec<u64>, Vec<u64>) {
    let mut new_shape = shape.to_vec();
    let mut new_chunks = chunks.to_vec();
    for &ax in axes {
        new_shape[ax] = shape[ax].div_ceil(scale);
        new_chunks[ax] = chunks[ax].div_ceil(scale).min(new_shape[ax]).max(1);
    }
    (new_shape, new_chunks)
}

/// `proj:shape`, `proj:transform` and `proj:bbox` of an array scaled to
/// `ny` × `nx` pixels of grid `g` (those it has).
pub(crate) fn update_proj(attrs: &mut Map<String, Value>, g: Geo, ny: u64, nx: u64) {
    if let Some(Value::Array(s)) = attrs.get_mut("proj:shape") {
        if s.len() >= 2 {
            let n = s.len();
            s[n - 2] = Value::from(ny);
            s[n - 1] = Value::from(nx);
        }
    }
    if let Some(Value::Array(t)) = attrs.get_mut("proj:transform") {
        if t.len() >= 6 {
            t[0] = Value::from(g.rx);
            t[2] = Value::from(g.x0);
            t[4] = Value::from(g.ry);
            t[5] = Value::from(g.y0);
        }
    }
    if let Some(Value::Array(b)) = attrs.get_mut("proj:bbox") {
        if b.len() == 4 {
            let x1 = g.x0 + g.rx * nx as f64;
            let y1 = g.y0 + g.ry * ny as f64;
            b[0] = Value::from(g.x0.min(x1));
            b[1] = Value::from(g.y0.min(y1));
            b[2] = Value::from(g.x0.max(x1));
            b[3] = Value::from(g.y0.max(y1));
        }
    }
}

/// The index of element (or chunk) number `linear`, in C order, of `grid`.
pub(crate) fn unravel(mut linear: u64, grid: &[u64]) -> Vec<u64> {
    let mut idx = vec![0u64; grid.len()];
    for d in (0..grid.len()).rev() {
        idx[d] = linear % grid[d];
        linear /= grid[d];
    }
    idx
}

/// Rough geographic position of the tile's upper-left corner (UTM → degrees).
pub(crate) fn approx_lat_lon(tile: &Tile) -> (f64, f64) {
    let (x0, y0) = tile.corner;
    let (zone, north) = match tile.epsg {
        Some(e) if (32601..=32660).contains(&e) => (e - 32600, true),
        Some(e) if (32701..=32760).contains(&e) => (e - 32700, false),
        _ => (32, true),
    };
    let northing = if north { y0 } else { y0 - 10_000_000.0 };
    let lat = northing / 111_132.0;
    let cm = (zone * 6 - 183) as f64;
    let lon = cm + (x0 - 500_000.0) / (111_320.0 * lat.to_radians().cos().max(0.05));
    (lat, lon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_axes_rounds_up_and_keeps_chunks_within_the_shape() {
        // (100, 100) in chunks of 30 at scale 3: 34 pixels, chunks of 10.
        let (s, c) = scale_axes(&[2, 100, 100], &[1, 30, 30], &[1, 2], 3);
        assert_eq!((s, c), (vec![2, 34, 34], vec![1, 10, 10]));
        // A chunk larger than the scaled shape is cut to it; never below 1.
        let (s, c) = scale_axes(&[5, 7], &[50, 1], &[0, 1], 20);
        assert_eq!((s, c), (vec![1, 1], vec![1, 1]));
        // Other axes are left as they are.
        let (s, c) = scale_axes(&[23, 23], &[23, 23], &[], 20);
        assert_eq!((s, c), (vec![23, 23], vec![23, 23]));
    }

    #[test]
    fn unravel_is_c_order() {
        assert_eq!(unravel(0, &[2, 3]), vec![0, 0]);
        assert_eq!(unravel(4, &[2, 3]), vec![1, 1]);
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[]), Vec::<u64>::new());
    }
}
