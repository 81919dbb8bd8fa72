//! Sentinel-1 GRD: each polarisation group's `measurements/grd` becomes a
//! calibrated (`calib`), geocoded band pyramid on a map grid. Planning reads
//! the small annotation arrays (GCP grid, calibration and noise LUTs) into
//! the plan, so every output chunk is a self-contained task: level 0 chunks
//! geocode ([`geocode`]), coarser levels average their parent level.

pub mod band;
pub mod calib;
pub(crate) mod geocode;

pub use band::S1Band;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::codec::patched_v2_meta;
use crate::convert::attrs::{self, DType};
use crate::convert::conventions::{level_attrs, multiscale_attrs};
use crate::convert::native::{band_meta, coord_nodes};
use crate::convert::plan::{BandPlan, Coords, GroupPlan, LevelPlan, Options, Profile};
use crate::geo::chunking::{aligned_chunk_size, inner_chunk, level_sizes};
use crate::geo::crs::{utm_zone, Crs};
use crate::geo::downsample::Resampling;
use crate::geo::gcp::GcpGrid;
use crate::geo::grid::Grid;
use crate::geo::reproject::lonlat_to_utm;
use crate::geo::tms::multiscales;
use crate::product::Product;
use crate::{Error, Result};

use calib::{AzBlock, Calibration, Lut, Quantity};

/// Largest output chunk edge of S1 bands: a level-0 chunk task holds its
/// float32 chunk and the input block under it (about 60 MB at 2048).
pub const MAX_CHUNK: u64 = 2048;

/// Spacing of the exact inverses in a geocoded block (pixels).
pub const LATTICE_STEP: u64 = 32;

/// Sentinel-1 options of `convert`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct S1Options {
    /// What the bands hold (`--s1-quantity`).
    pub quantity: Quantity,
    /// Output CRS as an EPSG code (`--crs`); default: the UTM zone of the scene centre.
    pub epsg: Option<u32>,
    /// Output pixel size in CRS units (`--resolution`); default 10 m (1e-4° for EPSG:4326).
    pub resolution: Option<f64>,
}

/// The polarisation groups of an S1 GRD product (those holding
/// `measurements/grd`), or none.
pub(crate) fn polarisations(product: &Product) -> Vec<String> {
    product
        .nodes
        .keys()
        .filter_map(|p| p.strip_suffix("/measurements/grd"))
        .filter(|g| product.array(&format!("{g}/measurements/grd")).is_some())
        .map(String::from)
        .collect()
}

/// What planning the polarisations yields (as the conventions planner).
pub(crate) struct Planned {
    pub(crate) groups: Vec<GroupPlan>,
    pub(crate) nodes: Vec<(String, Value)>,
    pub(crate) consumed: Vec<String>,
}

fn read2(
    product: &Product,
    coords: &Coords,
    path: &str,
    missing: &str,
) -> Result<(Vec<f64>, Vec<u64>)> {
    let Some(a) = product.array(path) else {
        return Err(Error::input(
            format!("{}/{path}", product.location),
            missing,
        ));
    };
    let shape = a.shape();
    let v = coords(path)?;
    Ok((v, shape))
}

/// A GCP grid as stored: lines, pixels, latitudes, longitudes.
type GcpArrays = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

/// The GCP grid of polarisation group `g` as stored.
fn gcp_grid(product: &Product, coords: &Coords, g: &str) -> Result<GcpArrays> {
    let base = format!("{g}/conditions/gcp");
    let miss = "missing: no GCP grid (conditions/gcp latitude, longitude, line, pixel), so the image cannot be geocoded";
    let (lat, lshape) = read2(product, coords, &format!("{base}/latitude"), miss)?;
    let (lon, _) = read2(product, coords, &format!("{base}/longitude"), miss)?;
    let (lines, _) = read2(product, coords, &format!("{base}/line"), miss)?;
    let (pixels, _) = read2(product, coords, &format!("{base}/pixel"), miss)?;
    if lshape != [lines.len() as u64, pixels.len() as u64] || lon.len() != lat.len() {
        return Err(Error::input(
            format!("{}/{base}", product.location),
            format!(
                "latitude/longitude shape {lshape:?} does not match {} lines × {} pixels",
                lines.len(),
                pixels.len()
            ),
        ));
    }
    Ok((lines, pixels, lat, lon))
}

/// (pixels, values) of a LUT row with non-finite entries dropped.
fn clean_row(p: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut out = (vec![], vec![]);
    for (&a, &b) in p.iter().zip(v) {
        if a.is_finite() && b.is_finite() && out.0.last().is_none_or(|&l| a > l) {
            out.0.push(a);
            out.1.push(b);
        }
    }
    out
}

fn lut_from(product: &Product, coords: &Coords, group: &str, lut: &str, miss: &str) -> Result<Lut> {
    let (values, shape) = read2(product, coords, &format!("{group}/{lut}"), miss)?;
    let (lines, _) = read2(product, coords, &format!("{group}/line"), miss)?;
    let (pixels, pshape) = read2(product, coords, &format!("{group}/pixel"), miss)?;
    let bad = |why: String| Error::input(format!("{}/{group}", product.location), why);
    if shape.len() != 2 || shape[0] as usize != lines.len() {
        return Err(bad(format!(
            "{lut} shape {shape:?} does not match {} lines",
            lines.len()
        )));
    }
    let n = shape[1] as usize;
    let per_row = pshape.len() == 2;
    if (per_row && pixels.len() != values.len()) || (!per_row && pixels.len() != n) {
        return Err(bad(format!(
            "{lut}: pixel positions do not match its shape"
        )));
    }
    let (mut ps, mut vs) = (vec![], vec![]);
    for k in 0..lines.len() {
        let p = if per_row {
            &pixels[k * n..(k + 1) * n]
        } else {
            &pixels[..]
        };
        let (p, v) = clean_row(p, &values[k * n..(k + 1) * n]);
        ps.push(p);
        vs.push(v);
    }
    Lut::new(lines, ps, vs).map_err(|e| bad(format!("{lut}: {e}")))
}

fn noise_azimuth(product: &Product, coords: &Coords, g: &str) -> Result<Vec<AzBlock>> {
    let base = format!("{g}/quality/noise_azimuth");
    let names = [
        "noise_azimuth_lut",
        "line",
        "first_azimuth_time",
        "last_azimuth_time",
        "first_range_sample",
        "last_range_sample",
    ];
    if names
        .iter()
        .any(|n| product.array(&format!("{base}/{n}")).is_none())
    {
        tracing::warn!(
            "{}/{base}: no azimuth noise vectors; range noise only",
            product.location
        );
        return Ok(vec![]);
    }
    let get = |n: &str| read2(product, coords, &format!("{base}/{n}"), "missing");
    let (vals, shape) = get("noise_azimuth_lut")?;
    let (lines, _) = get("line")?;
    let (fl, _) = get("first_azimuth_time")?;
    let (ll, _) = get("last_azimuth_time")?;
    let (fp, _) = get("first_range_sample")?;
    let (lp, _) = get("last_range_sample")?;
    let nb = fl.len();
    let n = if shape.len() == 2 {
        shape[1] as usize
    } else {
        vals.len()
    };
    if vals.len() != nb * n || lines.len() != nb * n || [ll.len(), fp.len(), lp.len()] != [nb; 3] {
        return Err(Error::input(
            format!("{}/{base}", product.location),
            "azimuth noise arrays do not match in size",
        ));
    }
    Ok((0..nb)
        .map(|b| {
            let (lines, values) = clean_row(&lines[b * n..(b + 1) * n], &vals[b * n..(b + 1) * n]);
            AzBlock {
                first_line: fl[b],
                last_line: ll[b],
                first_pixel: fp[b],
                last_pixel: lp[b],
                lines,
                values,
            }
        })
        .filter(|b| !b.lines.is_empty())
        .collect())
}

/// Calibration of polarisation group `g` for `q`.
fn calibration(product: &Product, coords: &Coords, g: &str, q: Quantity) -> Result<Calibration> {
    let Some(name) = q.lut() else {
        return Ok(Calibration {
            quantity: q,
            lut: None,
            noise_range: None,
            noise_azimuth: vec![],
        });
    };
    let miss_cal = format!(
        "missing: no {name} calibration LUT (quality/calibration {name}, line, pixel); --s1-quantity dn converts the uncalibrated digital numbers"
    );
    let lut = lut_from(
        product,
        coords,
        &format!("{g}/quality/calibration"),
        name,
        &miss_cal,
    )?;
    let miss_noise = "missing: no thermal noise LUT (quality/noise_range noise_range_lut, line, pixel); --s1-quantity dn converts the uncalibrated digital numbers";
    let noise = lut_from(
        product,
        coords,
        &format!("{g}/quality/noise_range"),
        "noise_range_lut",
        miss_noise,
    )?;
    Ok(Calibration {
        quantity: q,
        lut: Some(lut),
        noise_range: Some(noise),
        noise_azimuth: noise_azimuth(product, coords, g)?,
    })
}

/// Bilinear lon/lat of the image centre from the GCP lattice.
fn centre_lonlat(lines: &[f64], pixels: &[f64], lat: &[f64], lon: &[f64]) -> (f64, f64) {
    let g = |v: &[f64]| {
        GcpGrid::new(lines.to_vec(), pixels.to_vec(), v.to_vec(), v.to_vec())
            .map(|g| {
                let (l, p) = g.centre();
                g.forward(l, p).0
            })
            .unwrap_or(f64::NAN)
    };
    (g(lon), g(lat))
}

/// The output CRS: `--crs` or the UTM zone of the scene centre.
fn target_crs(epsg: Option<u32>, centre: (f64, f64)) -> Result<Crs> {
    let code = match epsg {
        Some(c) => c,
        None => {
            let (lon, lat) = centre;
            let zone = (((lon + 180.0) / 6.0).floor() as i64).clamp(0, 59) as u32 + 1;
            if lat >= 0.0 {
                32600 + zone
            } else {
                32700 + zone
            }
        }
    };
    if code != 4326 && utm_zone(code).is_none() {
        return Err(Error::Usage(format!(
            "--crs EPSG:{code}: Sentinel-1 output supports WGS 84 / UTM (EPSG:326zz, 327zz) and EPSG:4326"
        )));
    }
    Crs::new(Some(code), None)
        .ok_or_else(|| Error::Usage(format!("--crs EPSG:{code}: unknown CRS")))
}

/// Plan every polarisation of an S1 GRD product.
pub(crate) fn plan(
    product: &Product,
    coords: &Coords,
    opts: &Options,
    s1: &S1Options,
) -> Result<Planned> {
    let loc = &product.location;
    let mut out = Planned {
        groups: vec![],
        nodes: vec![],
        consumed: vec![],
    };
    let pols = polarisations(product);
    let mut crs: Option<Crs> = None;
    for g in &pols {
        let grd = format!("{g}/measurements/grd");
        let a = product.array(&grd).expect("listed");
        if DType::from_numpy(a.dtype()) != Some(DType::U16) || a.shape().len() != 2 {
            return Err(Error::input(
                format!("{loc}/{grd}"),
                format!(
                    "expected a 2-D uint16 image, found {} {:?}",
                    a.dtype(),
                    a.shape()
                ),
            ));
        }
        let shape = [a.shape()[0], a.shape()[1]];
        let (lines, pixels, lat, lon) = gcp_grid(product, coords, g)?;
        let crs = crs
            .get_or_insert(target_crs(
                s1.epsg,
                centre_lonlat(&lines, &pixels, &lat, &lon),
            )?)
            .clone();
        let (mut xs, mut ys) = (vec![], vec![]);
        for (&la, &lo) in lat.iter().zip(&lon) {
            let (x, y) = match utm_zone(crs.epsg.unwrap_or(4326)) {
                Some((zone, north)) => lonlat_to_utm(zone, north, lo, la),
                None => (lo, la),
            };
            xs.push(x);
            ys.push(y);
        }
        let gcp = GcpGrid::new(lines, pixels, xs, ys)
            .map_err(|e| Error::input(format!("{loc}/{g}/conditions/gcp"), e))?;
        let res = s1
            .resolution
            .unwrap_or(if crs.epsg == Some(4326) { 1e-4 } else { 10.0 });
        if !(res > 0.0 && res.is_finite()) {
            return Err(Error::Usage(format!(
                "--resolution {res}: must be positive"
            )));
        }
        let b = gcp.bbox(shape[0], shape[1]);
        let left = (b[0] / res).floor() * res;
        let top = (b[3] / res).ceil() * res;
        let grid = Grid {
            left,
            top,
            res_x: res,
            res_y: res,
            width: ((b[2] - left) / res).ceil().max(1.0) as u64,
            height: ((top - b[1]) / res).ceil().max(1.0) as u64,
        };
        let calibration = calibration(product, coords, g, s1.quantity)?;
        let q = s1.quantity;
        let (dtype, fill) = if q == Quantity::Dn {
            (DType::U16, json!(0))
        } else {
            (DType::F32, json!("NaN"))
        };
        let band = BandPlan {
            name: q.name().to_string(),
            input: grd.clone(),
            input_meta: patched_v2_meta(&a.meta),
            dtype,
            fill,
            rule: Resampling::Average,
            in_dtype: DType::U16,
            decode: None,
            s1: Some(Box::new(S1Band {
                shape,
                gcp,
                calibration,
            })),
        };
        let path = format!("{g}/measurements");
        let lopts = Options {
            spatial_chunk: opts.spatial_chunk.min(MAX_CHUNK),
            ..opts.clone()
        };
        let levels = level_sizes(grid.width, grid.height, opts.min_dimension)
            .into_iter()
            .enumerate()
            .map(|(l, (w, h))| {
                let lg = grid.level(l as u32, w, h);
                let name = match opts.profile {
                    Profile::GeoZarr04 => l.to_string(),
                    Profile::Conventions => level_name(&lg),
                };
                let mut lp = LevelPlan::new(
                    format!("{path}/{name}"),
                    lg,
                    if l == 0 { 1 } else { 2 },
                    true,
                    &lopts,
                );
                lp.chunk = level_chunk(lg.width, lg.height, lopts.spatial_chunk);
                lp.inner = inner_chunk(lp.chunk, opts.shard);
                lp
            })
            .collect();
        let gp = GroupPlan {
            path: path.clone(),
            crs,
            levels,
            bands: vec![band],
            x_input: (String::new(), Value::Null),
            y_input: (String::new(), Value::Null),
        };
        nodes(product, &gp, g, opts, &mut out.nodes);
        out.consumed.push(path);
        out.consumed.push(grd);
        out.groups.push(gp);
    }
    Ok(out)
}

/// Square chunk edge of a level: the largest edge up to `target` that, on
/// each side, covers it whole, divides it, or has no divisor of the side
/// within a factor 4 below it (profile §3.1, as `validate` checks it; the
/// scene's grid is not square, so the S2 rule of one aligned edge for both
/// sides does not apply).
pub(crate) fn level_chunk(w: u64, h: u64, target: u64) -> u64 {
    let ok = |s: u64, c: u64| c >= s || s.is_multiple_of(c) || aligned_chunk_size(s, c) * 4 < c;
    (1..=target.min(w.max(h)).max(1))
        .rev()
        .find(|&c| ok(w, c) && ok(h, c))
        .unwrap_or(1)
}

/// `r10m`-style name of a conventions level (`r0.0001` for degrees).
fn level_name(g: &Grid) -> String {
    let r = g.res_x;
    if r >= 1.0 && r.fract() == 0.0 {
        format!("r{}m", r as u64)
    } else {
        format!("r{r}")
    }
}

/// The band's attributes at one level.
fn band_attrs(band: &BandPlan, pol: &str, l: usize, gp: &GroupPlan) -> Map<String, Value> {
    let q = band
        .s1
        .as_ref()
        .map_or(Quantity::Dn, |s| s.calibration.quantity);
    let mut a = Map::new();
    if gp.levels[0].path.ends_with("/0") {
        // geozarr-0.4 names dimensions in attributes too
        a.insert("_ARRAY_DIMENSIONS".into(), json!(["y", "x"]));
    }
    let pol_name = pol.rsplit('_').next().unwrap_or(pol).to_string();
    let (long, std) = match q {
        Quantity::Sigma0 => (
            "sigma nought: radar backscatter per unit ground area, linear power, thermal noise removed",
            Some("surface_backwards_scattering_coefficient_of_radar_wave"),
        ),
        Quantity::Gamma0 => (
            "gamma nought: radar backscatter per unit area normal to the look direction (ellipsoid incidence), linear power, thermal noise removed",
            None,
        ),
        Quantity::Beta0 => (
            "beta nought: radar brightness, linear power, thermal noise removed",
            None,
        ),
        Quantity::Dn => (
            "digital numbers of the GRD image (uncalibrated amplitude counts), geocoded",
            None,
        ),
    };
    a.insert("long_name".into(), json!(long));
    if let Some(s) = std {
        a.insert("standard_name".into(), json!(s));
    }
    if q != Quantity::Dn {
        a.insert("units".into(), json!("1"));
    }
    a.insert(
        "_FillValue".into(),
        attrs::fill_value_attr(band.dtype, &band.fill),
    );
    a.insert("grid_mapping".into(), json!("spatial_ref"));
    a.insert("polarization".into(), json!(pol_name));
    a.insert("sar:quantity".into(), json!(q.name()));
    a.insert(
        "sar:calibration".into(),
        json!(match q {
            Quantity::Dn => "none: digital numbers as stored (nodata 0)".to_string(),
            _ => format!(
                "(DN² − noise) / A², A = quality/calibration/{} and noise = noise_range × noise_azimuth, bilinear in (line, pixel); negative values set to 0",
                q.lut().unwrap_or("")
            ),
        }),
    );
    a.insert(
        "sar:geocoding".into(),
        json!("ellipsoid geocoding from the product's GCP grid (bilinear in line/pixel, inverted per pixel); bilinear resampling in linear power"),
    );
    a.insert(
        "sar:terrain_correction".into(),
        json!("none: no DEM is used, so relief is displaced (foreshortening, layover) and the values are not terrain-flattened"),
    );
    a.insert("resampling_method".into(), json!("average"));
    if l > 0 {
        let parent = crate::path::name_of(&gp.levels[l - 1].path);
        a.insert(
            "derived_from".into(),
            json!(format!("{parent}/{}", band.name)),
        );
    }
    a
}

/// Node documents of one polarisation's pyramid, in the chosen profile.
fn nodes(
    product: &Product,
    gp: &GroupPlan,
    pol: &str,
    opts: &Options,
    out: &mut Vec<(String, Value)>,
) {
    let mut ga = product
        .group(&gp.path)
        .map(|n| n.attrs.clone())
        .unwrap_or_default();
    let grids: Vec<Grid> = gp.levels.iter().map(|l| l.grid).collect();
    match opts.profile {
        Profile::GeoZarr04 => {
            ga.insert(
                "multiscales".into(),
                multiscales(&gp.crs, &grids, opts.tile_width),
            );
        }
        Profile::Conventions => {
            let chain: Vec<(&str, Grid)> = gp
                .levels
                .iter()
                .map(|l| (crate::path::name_of(&l.path), l.grid))
                .collect();
            multiscale_attrs(&mut ga, &chain, "average", &gp.crs);
        }
    }
    out.push((gp.path.clone(), attrs::group_meta(ga)));
    for (l, lv) in gp.levels.iter().enumerate() {
        let mut la = Map::new();
        if opts.profile == Profile::Conventions {
            level_attrs(&mut la, &lv.grid, &gp.crs);
        }
        la.insert("grid_mapping".into(), json!("spatial_ref"));
        out.push((gp.level_path(l), attrs::group_meta(la)));
        for (b, band) in gp.bands.iter().enumerate() {
            let a = band_attrs(band, pol, l, gp);
            out.push((gp.band_path(b, l), band_meta(band, lv, a)));
        }
        out.extend(coord_nodes(product, gp, l));
    }
}

#[cfg(test)]
mod tests {
    use super::level_chunk;

    #[test]
    fn level_chunks_pass_the_alignment_rule() {
        assert_eq!(level_chunk(28965, 21732, 2048), 1811);
        assert_eq!(level_chunk(7242, 5433, 2048), 1207);
        assert_eq!(level_chunk(906, 680, 2048), 906);
        assert_eq!(level_chunk(4096, 4096, 2048), 2048);
    }
}
