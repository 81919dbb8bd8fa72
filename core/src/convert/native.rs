//! What planning reads from the input: a resolution group's bands, grid
//! and CRS, the resampling rule of each band, and the coordinate nodes of
//! a level. Shared by both output profiles.

use serde_json::{json, Map, Value};

use crate::codec::patched_v2_meta;
use crate::convert::attrs::{self, DType};
use crate::convert::plan::{BandPlan, Coords, Decode, GroupPlan, LevelPlan};
use crate::geo::crs::Crs;
use crate::geo::downsample::Resampling;
use crate::geo::grid::Grid;
use crate::product::{Node, Product};
use crate::{Error, Result};

pub(crate) fn is_yx(dims: &[String]) -> bool {
    dims.len() == 2 && dims[0] == "y" && dims[1] == "x"
}

/// Is `path` a group holding 2-D (y, x) data variables?
pub(crate) fn has_bands(product: &Product, path: &str) -> bool {
    product.children(path).any(
        |(name, n)| matches!(n, Node::Array(a) if name != "x" && name != "y" && is_yx(&a.dims())),
    )
}

pub(crate) fn crs_of(
    product: &Product,
    group: &str,
    band_attrs: &Map<String, Value>,
) -> Option<Crs> {
    let attr_sources = [
        Some(band_attrs.clone()),
        product.group(group).map(|g| g.attrs.clone()),
    ];
    for a in attr_sources.into_iter().flatten() {
        let epsg = a
            .get("proj:epsg")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map(|v| v as u32)
            .or_else(|| {
                a.get("proj:code")
                    .and_then(Value::as_str)?
                    .strip_prefix("EPSG:")?
                    .parse()
                    .ok()
            });
        let wkt = a
            .get("proj:wkt2")
            .or_else(|| a.get("crs_wkt"))
            .and_then(Value::as_str)
            .map(String::from);
        if epsg.is_some() || wkt.is_some() {
            return Crs::new(epsg, wkt);
        }
    }
    let root = product.root_attrs();
    let epsg = root
        .get("stac_discovery")?
        .get("properties")?
        .get("proj:epsg")?
        .as_u64()?;
    Crs::new(Some(epsg as u32), None)
}

/// A resolution group of the input as read: its bands, grid and CRS.
pub(crate) struct Native {
    pub(crate) bands: Vec<BandPlan>,
    pub(crate) grid: Grid,
    pub(crate) crs: Crs,
    pub(crate) x_input: (String, Value),
    pub(crate) y_input: (String, Value),
}

/// The resampling rule of a band, from what it holds: bit flags are OR-ed,
/// classes take the mode, everything else is averaged.
pub(crate) fn rule_of(path: &str, attrs: &Map<String, Value>) -> Resampling {
    if attrs.contains_key("flag_masks") {
        Resampling::BitwiseOr
    } else if attrs.contains_key("flag_values")
        || path.contains("classification")
        || path.contains("detector_footprint")
    {
        Resampling::Mode
    } else {
        Resampling::Average
    }
}

/// Read a resolution group's bands, coordinates and CRS.
pub(crate) fn native_group(product: &Product, coords: &Coords, path: &str) -> Result<Native> {
    let loc = &product.location;
    let mut bands = vec![];
    let mut shape = None;
    for (name, n) in product.children(path) {
        let Node::Array(a) = n else { continue };
        if name == "x" || name == "y" || !is_yx(&a.dims()) {
            continue;
        }
        let bpath = format!("{path}/{name}");
        let dtype = DType::from_numpy(a.dtype()).ok_or_else(|| {
            Error::input(
                format!("{loc}/{bpath}"),
                format!(
                    "unsupported data type {} for a converted band (numeric types only)",
                    a.dtype()
                ),
            )
        })?;
        let s = a.shape();
        match shape {
            None => shape = Some(s.clone()),
            Some(ref s0) if *s0 != s => {
                return Err(Error::input(
                    format!("{loc}/{bpath}"),
                    format!("shape {s:?} differs from the group's other bands {s0:?}"),
                ))
            }
            _ => {}
        }
        bands.push(BandPlan {
            name: name.to_string(),
            input: bpath,
            input_meta: patched_v2_meta(&a.meta),
            dtype,
            fill: dtype.v3_fill(&a.meta["fill_value"]),
            rule: rule_of(path, &a.attrs),
            in_dtype: dtype,
            decode: None,
            s1: None,
        });
    }
    let first = bands
        .first()
        .ok_or_else(|| Error::input(format!("{loc}/{path}"), "no bands to convert"))?;
    let (xp, yp) = (format!("{path}/x"), format!("{path}/y"));
    let (Some(xa), Some(ya)) = (product.array(&xp), product.array(&yp)) else {
        return Err(Error::input(
            format!("{loc}/{path}"),
            "no spatial coordinates (x and y arrays) in the group",
        ));
    };
    let xs = coords(&xp)?;
    let ys = coords(&yp)?;
    let shape = shape.unwrap_or_default();
    if shape != [ys.len() as u64, xs.len() as u64] {
        return Err(Error::input(
            format!("{loc}/{path}"),
            format!(
                "band shape {shape:?} does not match y/x lengths ({}, {})",
                ys.len(),
                xs.len()
            ),
        ));
    }
    let band_attrs = product
        .array(&first.input)
        .map(|a| a.attrs.clone())
        .unwrap_or_default();
    let grid = Grid::from_centres(&xs, &ys).or_else(|| {
        // single-pixel axes: fall back to proj:transform
        let t = band_attrs.get("proj:transform")?.as_array()?;
        let f = |i: usize| t.get(i).and_then(Value::as_f64);
        Some(Grid {
            left: f(2)?,
            top: f(5)?,
            res_x: f(0)?,
            res_y: -f(4)?,
            width: xs.len() as u64,
            height: ys.len() as u64,
        })
    });
    let grid = grid.ok_or_else(|| {
        Error::input(
            format!("{loc}/{path}"),
            "cannot derive a regular grid from x/y coordinates",
        )
    })?;
    let crs = crs_of(product, path, &band_attrs).ok_or_else(|| {
        Error::input(
            format!("{loc}/{path}"),
            "no CRS: bands carry neither proj:epsg nor proj:wkt2",
        )
    })?;
    Ok(Native {
        bands,
        grid,
        crs,
        x_input: (xp, patched_v2_meta(&xa.meta)),
        y_input: (yp, patched_v2_meta(&ya.meta)),
    })
}

/// `x`, `y` and `spatial_ref` of level `l` of `g`: level 0 keeps the input's
/// coordinate type (its values are copied), coarser levels are float64.
pub(crate) fn coord_nodes(product: &Product, g: &GroupPlan, l: usize) -> Vec<(String, Value)> {
    let lv = &g.levels[l];
    let lp = g.level_path(l);
    let x_attrs = product
        .array(&g.x_input.0)
        .map(|a| a.attrs.clone())
        .unwrap_or_default();
    let y_attrs = product
        .array(&g.y_input.0)
        .map(|a| a.attrs.clone())
        .unwrap_or_default();
    let mut nodes = vec![];
    for (axis, n, in_attrs, in_meta) in [
        ("x", lv.grid.width, &x_attrs, &g.x_input.1),
        ("y", lv.grid.height, &y_attrs, &g.y_input.1),
    ] {
        let (dt, fill) = if l == 0 {
            let dt =
                DType::from_numpy(in_meta["dtype"].as_str().unwrap_or("")).unwrap_or(DType::F64);
            (dt, dt.v3_fill(&Value::Null).clone())
        } else {
            (DType::F64, json!(0.0))
        };
        let fill = if dt.is_float() { json!(0.0) } else { fill };
        let meta = attrs::array_meta(
            &[n],
            json!(dt.v3_name()),
            &[n],
            fill,
            vec![attrs::bytes_codec(dt.size())],
            attrs::coord_attrs(in_attrs, axis),
            Some(vec![axis.into()]),
        );
        nodes.push((format!("{lp}/{axis}"), meta));
    }
    nodes.push((
        format!("{lp}/spatial_ref"),
        attrs::spatial_ref_meta(&g.crs, &lv.grid),
    ));
    nodes.push((
        format!("{lp}/spatial_ref"),
        attrs::spatial_ref_meta(&g.crs, &lv.grid),
    ));
    nodes
}

/// `--dtype float32`: bands with CF packing (`scale_factor`/`add_offset`)
/// are written decoded, as float32 with NaN fill.
pub(crate) fn decode_to_float32(product: &Product, bands: &mut [BandPlan]) {
    for b in bands {
        let Some(a) = product.array(&b.input) else {
            continue;
        };
        let num = |k: &str| a.attrs.get(k).and_then(Value::as_f64);
        if num("scale_factor").is_none() && num("add_offset").is_none() {
            continue;
        }
        b.decode = Some(Decode {
            scale: num("scale_factor").unwrap_or(1.0),
            offset: num("add_offset").unwrap_or(0.0),
        });
        b.dtype = DType::F32;
        b.fill = json!("NaN");
    }
}

/// A decoded band's attributes: the packing (and the limits and fill stated
/// in stored counts) removed, `_FillValue` NaN.
pub(crate) fn decoded_attrs(band: &BandPlan, a: &mut Map<String, Value>) {
    if band.decode.is_none() {
        return;
    }
    for k in [
        "scale_factor",
        "add_offset",
        "valid_min",
        "valid_max",
        "fill_value",
        "dtype",
    ] {
        a.remove(k);
    }
    if a.get("units").and_then(Value::as_str) == Some("digital_counts") {
        a.insert("units".into(), json!("1"));
    }
    a.insert(
        "_FillValue".into(),
        attrs::fill_value_attr(DType::F32, &json!("NaN")),
    );
}

/// The `zarr.json` of a band at one level, with its attributes `a`.
pub(crate) fn band_meta(band: &BandPlan, lv: &LevelPlan, a: Map<String, Value>) -> Value {
    attrs::array_meta(
        &[lv.grid.height, lv.grid.width],
        json!(band.dtype.v3_name()),
        &[lv.chunk, lv.chunk],
        band.fill.clone(),
        attrs::band_codecs(band.dtype.size(), lv.inner),
        a,
        Some(vec!["y".into(), "x".into()]),
    )
}
