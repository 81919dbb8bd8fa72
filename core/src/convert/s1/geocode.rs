//! One geocoded block of a Sentinel-1 band: the image block under it
//! (its footprint through the GCP grid) is read and calibrated to linear
//! power, then every map pixel takes the bilinear interpolation at its
//! (line, pixel). Nodata (DN 0, outside the image) is NaN; a pixel is
//! nodata when less than half of its bilinear weight falls on valid pixels.

use std::ops::Range;

use super::band::S1Band;
use super::LATTICE_STEP;
use crate::geo::grid::Grid;
use crate::Result;

/// Image rows and columns read around a footprint, beyond the bilinear
/// neighbours (slack for the lattice's bounding box).
const PAD: f64 = 4.0;

/// Calibrated, geocoded values of rows × cols of `grid` (row-major, NaN =
/// nodata). `read(lines, pixels)` returns that block of the DN image.
pub(crate) fn geocode_block(
    s1: &S1Band,
    grid: &Grid,
    rows: Range<u64>,
    cols: Range<u64>,
    read: impl FnOnce(Range<u64>, Range<u64>) -> Result<Vec<u16>>,
) -> Result<Vec<f32>> {
    let (h, w) = (rows.end - rows.start, cols.end - cols.start);
    let mut out = vec![f32::NAN; (h * w) as usize];
    let [nl, np] = s1.shape;
    let Some((lmin, lmax, pmin, pmax)) =
        s1.gcp
            .footprint(grid, rows.clone(), cols.clone(), LATTICE_STEP)
    else {
        return Ok(out);
    };
    let clip = |v: f64, n: u64| v.clamp(0.0, n as f64) as u64;
    let (l0, l1) = (
        clip((lmin - PAD).floor(), nl),
        clip((lmax + PAD).ceil() + 1.0, nl),
    );
    let (p0, p1) = (
        clip((pmin - PAD).floor(), np),
        clip((pmax + PAD).ceil() + 1.0, np),
    );
    if l1 <= l0 || p1 <= p0 {
        return Ok(out);
    }
    let dn = read(l0..l1, p0..p1)?;
    let cal = s1.calibration.apply(&dn, l0, l1, p0, p1);
    drop(dn);
    let bw = (p1 - p0) as usize;
    let (lmax_img, pmax_img) = ((nl - 1) as f64, (np - 1) as f64);
    let (r0, c0) = (rows.start, cols.start);
    s1.gcp
        .map_rows(grid, rows, cols, LATTICE_STEP, |r, c, l, p| {
            if !(l >= 0.0 && l <= lmax_img && p >= 0.0 && p <= pmax_img) {
                return;
            }
            // the cell's upper-left neighbour (the last row/column uses the cell before)
            let i = (l.floor() as u64).min(nl.saturating_sub(2));
            let j = (p.floor() as u64).min(np.saturating_sub(2));
            let (i1, j1) = ((i + 1).min(nl - 1), (j + 1).min(np - 1));
            if i < l0 || j < p0 || i1 >= l1 || j1 >= p1 {
                return;
            }
            let (fy, fx) = (l - i as f64, p - j as f64);
            let at = |a: u64, b: u64| cal[(a - l0) as usize * bw + (b - p0) as usize];
            let q = [
                (at(i, j), (1.0 - fy) * (1.0 - fx)),
                (at(i, j1), (1.0 - fy) * fx),
                (at(i1, j), fy * (1.0 - fx)),
                (at(i1, j1), fy * fx),
            ];
            let (mut s, mut wsum) = (0.0f64, 0.0f64);
            for (v, wt) in q {
                if !v.is_nan() && wt > 0.0 {
                    s += v as f64 * wt;
                    wsum += wt;
                }
            }
            if wsum >= 0.5 {
                out[((r - r0) * w + (c - c0)) as usize] = (s / wsum) as f32;
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::s1::calib::{Calibration, Quantity};
    use crate::geo::gcp::GcpGrid;

    /// An image whose map is a pure rotation + translation: values at the
    /// pixel centres come back exactly, and bilinear in between.
    #[test]
    fn affine_swath_resamples_bilinearly() {
        let (nl, np) = (200u64, 300u64);
        let th = 0.3f64;
        let f = |l: f64, p: f64| {
            (
                1000.0 + 10.0 * (p * th.cos() + l * th.sin()),
                9000.0 + 10.0 * (p * th.sin() - l * th.cos()),
            )
        };
        let (lines, pixels) = (vec![0.0, 100.0, 199.0], vec![0.0, 150.0, 299.0]);
        let (mut x, mut y) = (vec![], vec![]);
        for &l in &lines {
            for &p in &pixels {
                let (a, b) = f(l, p);
                x.push(a);
                y.push(b);
            }
        }
        let s1 = S1Band {
            shape: [nl, np],
            gcp: GcpGrid::new(lines, pixels, x, y).unwrap(),
            calibration: Calibration {
                quantity: Quantity::Dn,
                lut: None,
                noise_range: None,
                noise_azimuth: vec![],
            },
        };
        // DN = 1 + line + 2·pixel: linear, so bilinear interpolation is exact
        let img: Vec<u16> = (0..nl)
            .flat_map(|l| (0..np).map(move |p| (1 + l + 2 * p) as u16))
            .collect();
        let b = s1.gcp.bbox(nl, np);
        let grid = Grid {
            left: b[0].floor(),
            top: b[3].ceil(),
            res_x: 7.0,
            res_y: 7.0,
            width: ((b[2] - b[0]) / 7.0).ceil() as u64 + 1,
            height: ((b[3] - b[1]) / 7.0).ceil() as u64 + 1,
        };
        let mut reads = vec![];
        let v = geocode_block(&s1, &grid, 0..grid.height, 0..grid.width, |ls, ps| {
            reads.push((ls.clone(), ps.clone()));
            let mut o = vec![];
            for l in ls {
                o.extend_from_slice(&img[(l * np + ps.start) as usize..(l * np + ps.end) as usize]);
            }
            Ok(o)
        })
        .unwrap();
        assert_eq!(reads.len(), 1);
        let (mut valid, mut worst) = (0, 0.0f64);
        for r in 0..grid.height {
            for c in 0..grid.width {
                let x = grid.left + (c as f64 + 0.5) * 7.0;
                let yy = grid.top - (r as f64 + 0.5) * 7.0;
                let (l, p) = s1.gcp.inverse(x, yy, s1.gcp.centre()).unwrap();
                let got = v[(r * grid.width + c) as usize];
                let inside = (0.0..=199.0).contains(&l) && (0.0..=299.0).contains(&p);
                assert_eq!(inside, !got.is_nan(), "{r},{c}: {l},{p} → {got}");
                if inside {
                    valid += 1;
                    worst = worst.max((got as f64 - (1.0 + l + 2.0 * p)).abs());
                }
            }
        }
        assert!(valid > 1000);
        assert!(worst < 2e-3, "worst {worst}");
        // a block off the image reads nothing
        let far = Grid {
            left: b[2] + 1e5,
            ..grid
        };
        let v = geocode_block(&s1, &far, 0..10, 0..10, |_, _| panic!("read")).unwrap();
        assert!(v.iter().all(|x| x.is_nan()));
    }
}
