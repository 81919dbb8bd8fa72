//! The georeferenced pixel grid of a resolution group and its levels.

use crate::jsonfmt::py_float;

/// A north-up grid: upper-left corner, pixel size and shape.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    /// Left edge (x of the upper-left corner).
    pub left: f64,
    /// Top edge (y of the upper-left corner).
    pub top: f64,
    /// Pixel width (positive).
    pub res_x: f64,
    /// Pixel height (positive; y decreases downwards).
    pub res_y: f64,
    /// Columns.
    pub width: u64,
    /// Rows.
    pub height: u64,
}

impl Grid {
    /// The grid of overview level `level` (cell doubled per level, same corner).
    pub fn level(&self, level: u32, width: u64, height: u64) -> Grid {
        self.scaled(1 << level, width, height)
    }

    /// This grid with cells `factor` times larger, same upper-left corner.
    pub fn scaled(&self, factor: u64, width: u64, height: u64) -> Grid {
        let f = factor as f64;
        Grid {
            res_x: self.res_x * f,
            res_y: self.res_y * f,
            width,
            height,
            ..*self
        }
    }

    /// Pixel-centre x coordinates.
    pub fn xs(&self) -> Vec<f64> {
        (0..self.width)
            .map(|i| self.left + (i as f64 + 0.5) * self.res_x)
            .collect()
    }

    /// Pixel-centre y coordinates (decreasing).
    pub fn ys(&self) -> Vec<f64> {
        (0..self.height)
            .map(|j| self.top - (j as f64 + 0.5) * self.res_y)
            .collect()
    }

    /// GDAL GeoTransform text, numbers as Python `str(float)`.
    pub fn geo_transform(&self) -> String {
        [self.left, self.res_x, 0.0, self.top, 0.0, -self.res_y]
            .iter()
            .map(|v| py_float(*v))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `spatial:transform`: the affine `[a, b, c, d, e, f]` with
    /// x = a·col + b·row + c and y = d·col + e·row + f at pixel corners.
    pub fn affine(&self) -> [f64; 6] {
        [self.res_x, 0.0, self.left, 0.0, -self.res_y, self.top]
    }

    /// `proj:transform` (3×3 affine, row-major) for this grid.
    pub fn proj_transform(&self) -> Vec<f64> {
        vec![
            self.res_x,
            0.0,
            self.left,
            0.0,
            -self.res_y,
            self.top,
            0.0,
            0.0,
            1.0,
        ]
    }

    /// `proj:bbox` = [left, bottom, right, top].
    pub fn bbox(&self) -> [f64; 4] {
        [
            self.left,
            self.top - self.res_y * self.height as f64,
            self.left + self.res_x * self.width as f64,
            self.top,
        ]
    }

    /// Build a grid from pixel-centre coordinate values.
    pub fn from_centres(xs: &[f64], ys: &[f64]) -> Option<Grid> {
        if xs.len() < 2 || ys.len() < 2 {
            return None;
        }
        let res_x = (xs[xs.len() - 1] - xs[0]) / (xs.len() - 1) as f64;
        let res_y = (ys[0] - ys[ys.len() - 1]) / (ys.len() - 1) as f64;
        if !(res_x > 0.0 && res_y > 0.0) {
            return None;
        }
        Some(Grid {
            left: xs[0] - res_x / 2.0,
            top: ys[0] + res_y / 2.0,
            res_x,
            res_y,
            width: xs.len() as u64,
            height: ys.len() as u64,
        })
    }
}

/// The full-size Sentinel-2 r10m grid of tile T32TQM (for tests).
#[cfg(test)]
pub(crate) fn s2_r10m() -> Grid {
    Grid {
        left: 699960.0,
        top: 4700040.0,
        res_x: 10.0,
        res_y: 10.0,
        width: 10980,
        height: 10980,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geotransform_text() {
        assert_eq!(
            s2_r10m().geo_transform(),
            "699960.0 10.0 0.0 4700040.0 0.0 -10.0"
        );
        assert_eq!(
            s2_r10m().level(3, 1373, 1373).geo_transform(),
            "699960.0 80.0 0.0 4700040.0 0.0 -80.0"
        );
    }

    #[test]
    fn centres_round_trip() {
        let g = s2_r10m().level(1, 5490, 5490);
        let (xs, ys) = (g.xs(), g.ys());
        assert_eq!(xs[0], 699970.0);
        assert_eq!(ys[0], 4700030.0);
        assert_eq!(Grid::from_centres(&xs, &ys).unwrap(), g);
        assert_eq!(g.bbox(), [699960.0, 4590240.0, 809760.0, 4700040.0]);
    }
}
