//! A ground-control-point grid (Sentinel-1 GRD `conditions/gcp`): map
//! coordinates known at a regular-ish lattice of image (line, pixel)
//! positions, interpolated bilinearly within each cell (extrapolated
//! linearly from the edge cells). [`GcpGrid::forward`] maps (line, pixel) to
//! map (x, y); [`GcpGrid::inverse`] inverts it by Newton's method, and
//! [`GcpGrid::map_rows`] maps every pixel of a block of a map grid: exact
//! inverses on a coarse lattice, bilinearly interpolated as a first guess,
//! then one Newton step per pixel (two where the guess is off by more
//! than 1e-4 px), so the error is ~1e-8 px.
//!
//! Convention: (line, pixel) are image coordinates of pixel centres (line 3
//! is the centre of the fourth row), as in the product's annotation.

use serde::{Deserialize, Serialize};

use crate::geo::grid::Grid;

/// A GCP lattice in map coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GcpGrid {
    /// Image lines of the lattice rows, strictly increasing.
    pub lines: Vec<f64>,
    /// Image pixels of the lattice columns, strictly increasing.
    pub pixels: Vec<f64>,
    /// Map x of each node, row-major (`lines.len()` × `pixels.len()`).
    pub x: Vec<f64>,
    /// Map y of each node, row-major.
    pub y: Vec<f64>,
}

/// Reciprocal line and pixel spacings of the lattice cells.
struct Recip {
    lines: Vec<f64>,
    pixels: Vec<f64>,
}

/// Index `i` of the cell `[axis[i], axis[i+1]]` holding `v`, clamped to the
/// first and last cell (so values outside extrapolate from the edge cells).
#[inline]
fn cell(axis: &[f64], v: f64, hint: usize) -> usize {
    let last = axis.len() - 2;
    let mut i = hint.min(last);
    while i > 0 && v < axis[i] {
        i -= 1;
    }
    while i < last && v >= axis[i + 1] {
        i += 1;
    }
    i
}

impl GcpGrid {
    /// A lattice from its axes and node coordinates; an error says what is
    /// wrong (too few nodes, axes not increasing, sizes, non-finite values).
    pub fn new(
        lines: Vec<f64>,
        pixels: Vec<f64>,
        x: Vec<f64>,
        y: Vec<f64>,
    ) -> Result<Self, String> {
        if lines.len() < 2 || pixels.len() < 2 {
            return Err(format!(
                "GCP grid of {}×{} nodes: at least 2×2 needed",
                lines.len(),
                pixels.len()
            ));
        }
        for (name, a) in [("line", &lines), ("pixel", &pixels)] {
            if a.windows(2)
                .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
            {
                return Err(format!("GCP {name} positions are not strictly increasing"));
            }
        }
        let n = lines.len() * pixels.len();
        if x.len() != n || y.len() != n {
            return Err(format!(
                "GCP coordinates hold {} values, the {}×{} grid needs {n}",
                x.len(),
                lines.len(),
                pixels.len()
            ));
        }
        if x.iter().chain(&y).any(|v| !v.is_finite()) {
            return Err("GCP coordinates hold non-finite values".into());
        }
        Ok(GcpGrid {
            lines,
            pixels,
            x,
            y,
        })
    }

    fn node(&self, i: usize, j: usize) -> (f64, f64) {
        let k = i * self.pixels.len() + j;
        (self.x[k], self.y[k])
    }

    /// Map (x, y) of image position (line, pixel) and the Jacobian
    /// `[dx/dl, dx/dp, dy/dl, dy/dp]`; `hint` = a cell (i, j) to start the
    /// cell search from, updated.
    #[inline]
    pub fn forward_jac(&self, l: f64, p: f64, hint: &mut (usize, usize)) -> (f64, f64, [f64; 4]) {
        self.forward_jac_with(l, p, hint, None)
    }

    /// [`GcpGrid::forward_jac`] with the cells' reciprocal spacings precomputed.
    #[inline(always)]
    fn forward_jac_with(
        &self,
        l: f64,
        p: f64,
        hint: &mut (usize, usize),
        recip: Option<&Recip>,
    ) -> (f64, f64, [f64; 4]) {
        let i = cell(&self.lines, l, hint.0);
        let j = cell(&self.pixels, p, hint.1);
        *hint = (i, j);
        let (l0, p0) = (self.lines[i], self.pixels[j]);
        let (idl, idp) = match recip {
            Some(r) => (r.lines[i], r.pixels[j]),
            None => (
                1.0 / (self.lines[i + 1] - l0),
                1.0 / (self.pixels[j + 1] - p0),
            ),
        };
        let u = (l - l0) * idl;
        let v = (p - p0) * idp;
        let (x00, y00) = self.node(i, j);
        let (x01, y01) = self.node(i, j + 1);
        let (x10, y10) = self.node(i + 1, j);
        let (x11, y11) = self.node(i + 1, j + 1);
        let bil = |a00: f64, a01: f64, a10: f64, a11: f64| {
            let top = a00 + (a01 - a00) * v;
            let bot = a10 + (a11 - a10) * v;
            let val = top + (bot - top) * u;
            let d_u = bot - top;
            let d_v = (a01 - a00) + ((a11 - a10) - (a01 - a00)) * u;
            (val, d_u * idl, d_v * idp)
        };
        let (x, xl, xp) = bil(x00, x01, x10, x11);
        let (y, yl, yp) = bil(y00, y01, y10, y11);
        (x, y, [xl, xp, yl, yp])
    }

    /// Map (x, y) of image position (line, pixel).
    pub fn forward(&self, l: f64, p: f64) -> (f64, f64) {
        let (x, y, _) = self.forward_jac(l, p, &mut (0, 0));
        (x, y)
    }

    /// One Newton step towards the (line, pixel) of map (x, y) from `lp`.
    #[inline]
    pub fn newton_step(
        &self,
        x: f64,
        y: f64,
        lp: (f64, f64),
        hint: &mut (usize, usize),
    ) -> Option<(f64, f64)> {
        self.newton_with(x, y, lp, hint, None)
    }

    #[inline(always)]
    fn newton_with(
        &self,
        x: f64,
        y: f64,
        lp: (f64, f64),
        hint: &mut (usize, usize),
        recip: Option<&Recip>,
    ) -> Option<(f64, f64)> {
        let (fx, fy, [a, b, c, d]) = self.forward_jac_with(lp.0, lp.1, hint, recip);
        let det = a * d - b * c;
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let inv = 1.0 / det;
        let (rx, ry) = (x - fx, y - fy);
        let dl = (d * rx - b * ry) * inv;
        let dp = (-c * rx + a * ry) * inv;
        Some((lp.0 + dl, lp.1 + dp))
    }

    /// The (line, pixel) whose map position is (x, y), by Newton's method
    /// from `guess`; `None` if it does not converge (far outside the grid).
    pub fn inverse(&self, x: f64, y: f64, guess: (f64, f64)) -> Option<(f64, f64)> {
        let mut lp = guess;
        let mut hint = (0, 0);
        for _ in 0..50 {
            let next = self.newton_step(x, y, lp, &mut hint)?;
            let moved = (next.0 - lp.0).abs() + (next.1 - lp.1).abs();
            lp = next;
            if moved < 1e-9 {
                return Some(lp);
            }
        }
        None
    }

    /// The centre of the image (a starting guess for [`GcpGrid::inverse`]).
    pub fn centre(&self) -> (f64, f64) {
        (
            (self.lines[0] + self.lines[self.lines.len() - 1]) / 2.0,
            (self.pixels[0] + self.pixels[self.pixels.len() - 1]) / 2.0,
        )
    }

    /// Map bounding box `[xmin, ymin, xmax, ymax]` of the image rectangle
    /// `[0, lines-1] × [0, pixels-1]` (its outline sampled densely).
    pub fn bbox(&self, lines: u64, pixels: u64) -> [f64; 4] {
        let (lmax, pmax) = ((lines.max(1) - 1) as f64, (pixels.max(1) - 1) as f64);
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        let n = 256;
        for k in 0..=n {
            let t = k as f64 / n as f64;
            for (l, p) in [
                (t * lmax, 0.0),
                (t * lmax, pmax),
                (0.0, t * pmax),
                (lmax, t * pmax),
            ] {
                let (x, y) = self.forward(l, p);
                b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
        }
        b
    }

    /// Map every pixel centre of rows `rows` × columns `cols` of `grid` to
    /// image (line, pixel): `f(row, col, line, pixel)` is called row by row
    /// (NaN where no inverse exists). Exact inverses on a lattice every
    /// `step` pixels (and on the block's last row and column) give a
    /// bilinear first guess; one Newton step per pixel refines it.
    pub fn map_rows(
        &self,
        grid: &Grid,
        rows: std::ops::Range<u64>,
        cols: std::ops::Range<u64>,
        step: u64,
        mut f: impl FnMut(u64, u64, f64, f64),
    ) {
        let lattice = self.lattice(grid, rows.clone(), cols.clone(), step);
        let (rs, cs) = (
            axis_nodes(rows.clone(), step),
            axis_nodes(cols.clone(), step),
        );
        let nc = cs.len();
        let mut hint = (0, 0);
        let mut ri = 0;
        // beyond 2 px outside the lattice the guess (off by ~0.01 px) is final
        let (lo_l, hi_l) = (self.lines[0] - 2.0, self.lines[self.lines.len() - 1] + 2.0);
        let (lo_p, hi_p) = (
            self.pixels[0] - 2.0,
            self.pixels[self.pixels.len() - 1] + 2.0,
        );
        let mut row_nodes = vec![[0f64; 2]; nc];
        let recip = Recip {
            lines: self.lines.windows(2).map(|w| 1.0 / (w[1] - w[0])).collect(),
            pixels: self
                .pixels
                .windows(2)
                .map(|w| 1.0 / (w[1] - w[0]))
                .collect(),
        };
        let recip = Some(&recip);
        for r in rows.clone() {
            while ri + 2 < rs.len() && r >= rs[ri + 1] {
                ri += 1;
            }
            let (r0, r1) = (rs[ri], rs[(ri + 1).min(rs.len() - 1)]);
            let t = if r1 > r0 {
                (r - r0) as f64 / (r1 - r0) as f64
            } else {
                0.0
            };
            // the lattice interpolated to this row, once per row
            let (a, b) = (ri * nc, (ri + 1).min(rs.len() - 1) * nc);
            for (k, n) in row_nodes.iter_mut().enumerate() {
                let (q0, q1) = (lattice[a + k], lattice[b + k]);
                *n = [q0[0] + (q1[0] - q0[0]) * t, q0[1] + (q1[1] - q0[1]) * t];
            }
            let y = grid.top - (r as f64 + 0.5) * grid.res_y;
            let mut ci = 0;
            let mut span = (0u64, 1.0f64);
            for c in cols.clone() {
                if c == cols.start || (ci + 2 < nc && c >= cs[ci + 1]) {
                    while ci + 2 < nc && c >= cs[ci + 1] {
                        ci += 1;
                    }
                    let (c0, c1) = (cs[ci], cs[(ci + 1).min(nc - 1)]);
                    span = (c0, if c1 > c0 { 1.0 / (c1 - c0) as f64 } else { 0.0 });
                }
                let s = (c - span.0) as f64 * span.1;
                let (q0, q1) = (row_nodes[ci], row_nodes[(ci + 1).min(nc - 1)]);
                let guess = (q0[0] + (q1[0] - q0[0]) * s, q0[1] + (q1[1] - q0[1]) * s);
                let x = grid.left + (c as f64 + 0.5) * grid.res_x;
                let lp = if !(guess.0.is_finite() && guess.1.is_finite()) {
                    // a lattice node without an inverse nearby: solve this pixel exactly
                    self.inverse(x, y, self.centre())
                } else if guess.0 < lo_l || guess.0 > hi_l || guess.1 < lo_p || guess.1 > hi_p {
                    Some(guess)
                } else {
                    // a second step where the guess was off by more than 1e-4 px
                    self.newton_with(x, y, guess, &mut hint, recip)
                        .and_then(|lp| {
                            if (lp.0 - guess.0).abs() + (lp.1 - guess.1).abs() > 1e-4 {
                                self.newton_with(x, y, lp, &mut hint, recip)
                            } else {
                                Some(lp)
                            }
                        })
                };
                let (l, p) = lp.unwrap_or((f64::NAN, f64::NAN));
                f(r, c, l, p);
            }
        }
    }

    /// Exact inverses at the lattice nodes of a block (row-major).
    fn lattice(
        &self,
        grid: &Grid,
        rows: std::ops::Range<u64>,
        cols: std::ops::Range<u64>,
        step: u64,
    ) -> Vec<[f64; 2]> {
        let (rs, cs) = (axis_nodes(rows, step), axis_nodes(cols, step));
        let mut out = Vec::with_capacity(rs.len() * cs.len());
        let mut guess = self.centre();
        for &r in &rs {
            let y = grid.top - (r as f64 + 0.5) * grid.res_y;
            for &c in &cs {
                let x = grid.left + (c as f64 + 0.5) * grid.res_x;
                let lp = self
                    .inverse(x, y, guess)
                    .or_else(|| self.inverse(x, y, self.centre()));
                match lp {
                    Some(lp) => {
                        guess = lp;
                        out.push([lp.0, lp.1]);
                    }
                    None => out.push([f64::NAN, f64::NAN]),
                }
            }
        }
        out
    }

    /// Image bounding box `(lmin, lmax, pmin, pmax)` of a block of `grid`
    /// (from the inverses along its outline), `None` if none exists.
    pub fn footprint(
        &self,
        grid: &Grid,
        rows: std::ops::Range<u64>,
        cols: std::ops::Range<u64>,
        step: u64,
    ) -> Option<(f64, f64, f64, f64)> {
        let lat = self.lattice(grid, rows, cols, step);
        let mut b = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for [l, p] in lat {
            if l.is_finite() && p.is_finite() {
                b = (b.0.min(l), b.1.max(l), b.2.min(p), b.3.max(p));
            }
        }
        b.0.is_finite().then_some(b)
    }
}

/// Lattice positions along one axis of a block: every `step` from the
/// start, and the last index.
fn axis_nodes(r: std::ops::Range<u64>, step: u64) -> Vec<u64> {
    if r.is_empty() {
        return vec![r.start];
    }
    let mut v: Vec<u64> = (r.start..r.end).step_by(step.max(1) as usize).collect();
    if *v.last().unwrap() != r.end - 1 {
        v.push(r.end - 1);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tilted, curved swath: 7 × 9 nodes over 1000 × 1600 pixels.
    fn swath() -> GcpGrid {
        let lines: Vec<f64> = (0..7).map(|i| i as f64 * 1000.0 / 6.0).collect();
        let pixels: Vec<f64> = (0..9).map(|j| j as f64 * 1600.0 / 8.0).collect();
        let (mut x, mut y) = (vec![], vec![]);
        let h = (-12.0f64).to_radians();
        for &l in &lines {
            for &p in &pixels {
                let a = l * 10.0;
                let r = p * 10.0 * (1.0 + 0.02 * p / 1600.0);
                let bend = 3e-5 * (a - 5000.0).powi(2);
                x.push(600_000.0 + a * h.sin() + (r + bend) * h.cos());
                y.push(5_000_000.0 + a * h.cos() - (r + bend) * h.sin());
            }
        }
        GcpGrid::new(lines, pixels, x, y).unwrap()
    }

    #[test]
    fn forward_hits_the_nodes_and_inverse_undoes_it() {
        let g = swath();
        for (i, &l) in g.lines.iter().enumerate() {
            for (j, &p) in g.pixels.iter().enumerate() {
                let (x, y) = g.forward(l, p);
                assert_eq!((x, y), g.node(i, j));
            }
        }
        for &(l, p) in &[
            (0.0, 0.0),
            (333.3, 777.7),
            (999.0, 1599.0),
            (-20.0, 1700.0),
            (512.25, 3.5),
        ] {
            let (x, y) = g.forward(l, p);
            let (l2, p2) = g.inverse(x, y, g.centre()).unwrap();
            assert!(
                (l2 - l).abs() < 1e-8 && (p2 - p).abs() < 1e-8,
                "{l},{p} → {l2},{p2}"
            );
        }
    }

    #[test]
    fn block_mapping_matches_exact_inverses() {
        let g = swath();
        let b = g.bbox(1000, 1600);
        let grid = Grid {
            left: (b[0] / 10.0).floor() * 10.0,
            top: (b[3] / 10.0).ceil() * 10.0,
            res_x: 10.0,
            res_y: 10.0,
            width: 2000,
            height: 2000,
        };
        let mut worst: f64 = 0.0;
        let mut n = 0;
        g.map_rows(&grid, 300..420, 500..650, 32, |r, c, l, p| {
            let x = grid.left + (c as f64 + 0.5) * 10.0;
            let y = grid.top - (r as f64 + 0.5) * 10.0;
            let (l2, p2) = g.inverse(x, y, g.centre()).unwrap();
            worst = worst.max((l - l2).abs()).max((p - p2).abs());
            n += 1;
        });
        assert_eq!(n, 120 * 150);
        assert!(worst < 1e-7, "worst {worst} px");
        let fp = g.footprint(&grid, 300..420, 500..650, 32).unwrap();
        assert!(fp.0 < fp.1 && fp.2 < fp.3);
    }

    #[test]
    fn bad_grids_are_errors() {
        assert!(GcpGrid::new(vec![0.0], vec![0.0, 1.0], vec![0.0; 2], vec![0.0; 2]).is_err());
        assert!(GcpGrid::new(vec![0.0, 0.0], vec![0.0, 1.0], vec![0.0; 4], vec![0.0; 4]).is_err());
        assert!(GcpGrid::new(vec![0.0, 1.0], vec![0.0, 1.0], vec![0.0; 3], vec![0.0; 4]).is_err());
        assert!(GcpGrid::new(
            vec![0.0, 1.0],
            vec![0.0, 1.0],
            vec![f64::NAN; 4],
            vec![0.0; 4]
        )
        .is_err());
    }
}
