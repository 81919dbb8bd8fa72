//! The `conventions` profile as a store states it (`docs/conventions-profile.md`):
//! which profile a store follows (a group registering the multiscales uuid
//! makes it `conventions`), each multiscale group's `layout`, and the grid
//! of a level group — `spatial:*` attributes, band shapes, pixel size. Pure
//! functions of the metadata; coordinate values are read by the callers and
//! passed in.

use serde::Serialize;
use serde_json::{Map, Value};

use super::schema::{MULTISCALES, SPATIAL};
use super::{name_of, Kind, Tree};

/// The output profile a store follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Profile {
    /// GeoZarr 0.4: numbered overview levels described by an OGC tile matrix set.
    #[serde(rename = "geozarr-0.4")]
    Geozarr04,
    /// zarr-conventions `multiscales` (v1), `spatial:` and `proj:`.
    #[serde(rename = "conventions")]
    Conventions,
}

impl Profile {
    /// `geozarr-0.4` or `conventions`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Geozarr04 => "geozarr-0.4",
            Profile::Conventions => "conventions",
        }
    }
}

/// uuids a node registers in `zarr_conventions`.
pub(super) fn registered(attrs: &Map<String, Value>) -> Vec<&str> {
    attrs
        .get("zarr_conventions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("uuid")?.as_str())
        .collect()
}

/// Whether a node registers the convention with this uuid.
pub(super) fn registers(attrs: &Map<String, Value>, uuid: &str) -> bool {
    registered(attrs).contains(&uuid)
}

/// `conventions` when a group registers the multiscales convention (matched
/// by uuid), else `geozarr-0.4`.
pub(super) fn profile_of(tree: &Tree) -> Profile {
    let conv = tree
        .nodes
        .values()
        .any(|n| n.kind == Kind::Group && registers(&n.attrs, MULTISCALES));
    if conv {
        Profile::Conventions
    } else {
        Profile::Geozarr04
    }
}

/// Multiscale groups: groups registering the multiscales convention or
/// whose `multiscales` attribute has a `layout`.
pub(super) fn multiscale_groups(tree: &Tree) -> Vec<&str> {
    tree.nodes
        .iter()
        .filter(|(_, n)| {
            n.kind == Kind::Group
                && (registers(&n.attrs, MULTISCALES)
                    || n.attrs
                        .get("multiscales")
                        .is_some_and(|m| m.get("layout").is_some()))
        })
        .map(|(p, _)| p.as_str())
        .collect()
}

/// One `multiscales.layout` entry, as far as it parses.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Entry {
    /// `asset` ("" when absent or not a string).
    pub asset: String,
    /// `derived_from`.
    pub derived_from: Option<String>,
    /// `transform.scale`.
    pub scale: Option<Vec<f64>>,
    /// `spatial:shape` [height, width].
    pub shape: Option<[u64; 2]>,
    /// `spatial:transform`.
    pub transform: Option<[f64; 6]>,
    /// `resampling_method` of this level.
    pub resampling_method: Option<String>,
}

/// A group's `multiscales` attribute (the conventions form).
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Layout {
    /// The entries, in order.
    pub entries: Vec<Entry>,
    /// The group-wide `resampling_method`.
    pub resampling_method: Option<String>,
}

impl Layout {
    /// The entry of an asset.
    pub(super) fn entry(&self, asset: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.asset == asset)
    }
}

fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

/// `[h, w]` from a JSON list of two sizes.
pub(super) fn shape2(v: Option<&Value>) -> Option<[u64; 2]> {
    let a = v?.as_array()?;
    match a.as_slice() {
        [h, w] => Some([h.as_u64()?, w.as_u64()?]),
        _ => None,
    }
}

/// Six numbers (a `spatial:transform`; a 3×3 `proj:transform` gives its first six).
pub(super) fn transform6(v: Option<&Value>) -> Option<[f64; 6]> {
    let n = numbers(v?)?;
    (n.len() == 6 || n.len() == 9).then(|| [n[0], n[1], n[2], n[3], n[4], n[5]])
}

/// Four numbers (a bbox).
pub(super) fn bbox4(v: Option<&Value>) -> Option<[f64; 4]> {
    <[f64; 4]>::try_from(numbers(v?)?).ok()
}

/// Parse a group's `multiscales.layout` (None when there is none).
pub(super) fn layout(attrs: &Map<String, Value>) -> Option<Layout> {
    let m = attrs.get("multiscales")?;
    let entries = m
        .get("layout")?
        .as_array()?
        .iter()
        .map(|e| Entry {
            asset: e["asset"].as_str().unwrap_or_default().to_string(),
            derived_from: e["derived_from"].as_str().map(String::from),
            scale: numbers(&e["transform"]["scale"]),
            shape: shape2(e.get("spatial:shape")),
            transform: transform6(e.get("spatial:transform")),
            resampling_method: e["resampling_method"].as_str().map(String::from),
        })
        .collect();
    Some(Layout {
        entries,
        resampling_method: m["resampling_method"].as_str().map(String::from),
    })
}

/// The two spatial dimension names of a group (`spatial:dimensions`, [y, x]).
pub(super) fn spatial_dims(attrs: &Map<String, Value>) -> [String; 2] {
    let d: Option<Vec<String>> = attrs
        .get("spatial:dimensions")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect());
    match d.as_deref() {
        Some([y, x]) => [y.clone(), x.clone()],
        _ => ["y".into(), "x".into()],
    }
}

/// Band arrays of a group: arrays carrying both spatial dimensions, with
/// their [height, width].
pub(super) fn bands<'a>(tree: &'a Tree, group: &str) -> Vec<(&'a str, [u64; 2])> {
    let Some(g) = tree.get(group) else {
        return vec![];
    };
    let [yd, xd] = spatial_dims(&g.attrs);
    tree.arrays_in(group)
        .filter_map(|(p, n)| {
            let dims = n.dims();
            let shape = n.shape();
            if dims.len() < 2 || dims.len() != shape.len() {
                return None;
            }
            let yi = dims.iter().position(|d| *d == yd)?;
            let xi = dims.iter().position(|d| *d == xd)?;
            Some((p, [shape[yi], shape[xi]]))
        })
        .collect()
}

/// Pixel-centre coordinate values of a level (`x`, `y`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Coords {
    /// x values.
    pub x: Vec<f64>,
    /// y values.
    pub y: Vec<f64>,
}

/// Where a level's pixel size comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PixelSource {
    /// The level group's `spatial:transform`.
    #[serde(rename = "spatial:transform")]
    Transform,
    /// The layout entry's `spatial:transform`.
    #[serde(rename = "layout spatial:transform")]
    LayoutTransform,
    /// The x/y pixel-centre coordinates.
    #[serde(rename = "coordinates")]
    Coordinates,
    /// The level's CF grid mapping (`GeoTransform`), as `info` reads it.
    #[serde(rename = "GeoTransform")]
    GridMapping,
    /// The profile's level name `r{N}m`.
    #[serde(rename = "level name")]
    Name,
}

impl PixelSource {
    /// As reports say it.
    pub fn as_str(self) -> &'static str {
        match self {
            PixelSource::Transform => "spatial:transform",
            PixelSource::LayoutTransform => "layout spatial:transform",
            PixelSource::Coordinates => "coordinates",
            PixelSource::GridMapping => "GeoTransform",
            PixelSource::Name => "level name",
        }
    }
}

/// Pixel size [x, y] (positive) of an affine transform.
pub(super) fn pixel_of(t: &[f64; 6]) -> [f64; 2] {
    [t[0].hypot(t[3]), t[1].hypot(t[4])]
}

/// Pixel size [x, y] from pixel-centre coordinates (two values or more each).
pub(super) fn pixel_of_coords(c: &Coords) -> Option<[f64; 2]> {
    let step = |v: &[f64]| -> Option<f64> {
        let n = v.len();
        let s = ((v[n.checked_sub(1)?] - v[0]) / (n as f64 - 1.0)).abs();
        (n >= 2 && s.is_finite() && s > 0.0).then_some(s)
    };
    Some([step(&c.x)?, step(&c.y)?])
}

/// The resolution a profile level name states: `r720m` → 720.
pub(super) fn pixel_of_name(name: &str) -> Option<f64> {
    let n: f64 = name.strip_prefix('r')?.strip_suffix('m')?.parse().ok()?;
    (n.is_finite() && n > 0.0).then_some(n)
}

/// A level's grid as its metadata states it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Grid {
    /// The level group's `spatial:transform`.
    pub transform: Option<[f64; 6]>,
    /// The layout entry's `spatial:transform`.
    pub layout_transform: Option<[f64; 6]>,
    /// The level group's `spatial:shape`.
    pub shape_attr: Option<[u64; 2]>,
    /// The layout entry's `spatial:shape`.
    pub layout_shape: Option<[u64; 2]>,
    /// The level group's `spatial:bbox`.
    pub bbox_attr: Option<[f64; 4]>,
    /// Its band arrays and their [height, width].
    pub bands: Vec<(String, [u64; 2])>,
    /// x/y values, when stored and read.
    pub coords: Option<Coords>,
    /// The level's name (last path component).
    pub name: String,
}

impl Grid {
    /// The grid of level group `group`, with its layout entry if any.
    pub(super) fn of(
        tree: &Tree,
        group: &str,
        entry: Option<&Entry>,
        coords: Option<Coords>,
    ) -> Grid {
        let attrs = tree.get(group).map(|n| n.attrs.clone()).unwrap_or_default();
        Grid {
            transform: transform6(attrs.get("spatial:transform")),
            layout_transform: entry.and_then(|e| e.transform),
            shape_attr: shape2(attrs.get("spatial:shape")),
            layout_shape: entry.and_then(|e| e.shape),
            bbox_attr: bbox4(attrs.get("spatial:bbox")),
            bands: bands(tree, group)
                .into_iter()
                .map(|(p, s)| (p.to_string(), s))
                .collect(),
            coords,
            name: name_of(group).to_string(),
        }
    }

    /// [height, width]: of the bands (the first), else as stated.
    pub(super) fn shape(&self) -> Option<[u64; 2]> {
        self.bands
            .first()
            .map(|b| b.1)
            .or(self.shape_attr)
            .or(self.layout_shape)
    }

    /// The stated transform: the level group's, else the layout entry's.
    pub(super) fn any_transform(&self) -> Option<[f64; 6]> {
        self.transform.or(self.layout_transform)
    }

    /// Pixel size [x, y] and where it comes from.
    pub(super) fn pixel(&self) -> Option<([f64; 2], PixelSource)> {
        if let Some(t) = self.transform {
            return Some((pixel_of(&t), PixelSource::Transform));
        }
        if let Some(t) = self.layout_transform {
            return Some((pixel_of(&t), PixelSource::LayoutTransform));
        }
        if let Some(p) = self.coords.as_ref().and_then(pixel_of_coords) {
            return Some((p, PixelSource::Coordinates));
        }
        pixel_of_name(&self.name).map(|p| ([p, p], PixelSource::Name))
    }

    /// The transform the grid has: stated, else from the coordinates
    /// (north-up, pixel centres).
    pub(super) fn effective_transform(&self) -> Option<[f64; 6]> {
        if let Some(t) = self.any_transform() {
            return Some(t);
        }
        let c = self.coords.as_ref()?;
        let [px, py] = pixel_of_coords(c)?;
        let sx = if c.x[c.x.len() - 1] >= c.x[0] {
            px
        } else {
            -px
        };
        let sy = if c.y[c.y.len() - 1] >= c.y[0] {
            py
        } else {
            -py
        };
        Some([sx, 0.0, c.x[0] - sx / 2.0, 0.0, sy, c.y[0] - sy / 2.0])
    }

    /// [xmin, ymin, xmax, ymax] of the pixel grid, when its transform and
    /// shape are known.
    pub(super) fn computed_bbox(&self) -> Option<[f64; 4]> {
        Some(bbox_of(&self.effective_transform()?, self.shape()?))
    }
}

/// [xmin, ymin, xmax, ymax] of the transform applied to the corners of a
/// [height, width] grid.
pub(super) fn bbox_of(t: &[f64; 6], [h, w]: [u64; 2]) -> [f64; 4] {
    let at = |col: f64, row: f64| {
        (
            t[0] * col + t[1] * row + t[2],
            t[3] * col + t[4] * row + t[5],
        )
    };
    let (h, w) = (h as f64, w as f64);
    let pts = [at(0.0, 0.0), at(w, 0.0), at(0.0, h), at(w, h)];
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for (x, y) in pts {
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }
    b
}

/// Within `rel` of each other, relative to the larger magnitude.
pub(super) fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// The EPSG code of a `proj:code` (`EPSG:32632`).
pub(super) fn epsg_of_code(code: &str) -> Result<u32, String> {
    let n = code
        .strip_prefix("EPSG:")
        .ok_or_else(|| format!("proj:code {code:?} is not EPSG:<code>"))?;
    n.parse()
        .map_err(|_| format!("proj:code {code:?}: {n:?} is not a number"))
}

/// Child groups named like the profile's levels (`r{N}m`) that hold bands.
pub(super) fn level_like_children<'a>(tree: &'a Tree, group: &str) -> Vec<&'a str> {
    tree.children(group)
        .filter(|(p, n)| {
            n.kind == Kind::Group
                && pixel_of_name(name_of(p)).is_some()
                && !bands(tree, p).is_empty()
        })
        .map(|(p, _)| p)
        .collect()
}

/// Groups that carry `spatial:` attributes (registering the convention or
/// with `spatial:shape`/`spatial:transform`) and hold bands: the level-like
/// groups the spatial checks look at.
pub(super) fn spatial_groups(tree: &Tree) -> Vec<&str> {
    tree.nodes
        .iter()
        .filter(|(p, n)| {
            n.kind == Kind::Group
                && (registers(&n.attrs, SPATIAL)
                    || n.attrs.contains_key("spatial:shape")
                    || n.attrs.contains_key("spatial:transform"))
                && !bands(tree, p).is_empty()
        })
        .map(|(p, _)| p.as_str())
        .collect()
}

/// Numbers as reports write them: `10`, `2.0065789473684212`.
pub(super) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A list of numbers as reports write it: `[10, 0, 699960]`.
pub(super) fn nums(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| num(*x)).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_geometry() {
        let t = [10.0, 0.0, 699960.0, 0.0, -10.0, 4700040.0];
        assert_eq!(pixel_of(&t), [10.0, 10.0]);
        assert_eq!(
            bbox_of(&t, [10980, 10980]),
            [699960.0, 4590240.0, 809760.0, 4700040.0]
        );
        assert_eq!(pixel_of_name("r720m"), Some(720.0));
        assert_eq!(pixel_of_name("r10"), None);
        assert_eq!(pixel_of_name("0"), None);
        assert_eq!(epsg_of_code("EPSG:32632"), Ok(32632));
        assert!(epsg_of_code("epsg:32632").is_err());
        assert!(epsg_of_code("EPSG:utm").is_err());
        let c = Coords {
            x: vec![699965.0, 699975.0, 699985.0],
            y: vec![4700035.0, 4700025.0],
        };
        let g = Grid {
            coords: Some(c),
            bands: vec![("b".into(), [2, 3])],
            ..Default::default()
        };
        assert_eq!(g.pixel(), Some(([10.0, 10.0], PixelSource::Coordinates)));
        assert_eq!(
            g.effective_transform(),
            Some([10.0, 0.0, 699960.0, 0.0, -10.0, 4700040.0])
        );
        assert_eq!(
            g.computed_bbox(),
            Some([699960.0, 4700020.0, 699990.0, 4700040.0])
        );
        assert!(close(720.0, 720.0 * (1.0 + 1e-12), 1e-9));
        assert!(!close(722.368, 720.0, 1e-9));
    }

    #[test]
    fn layout_parses_leniently() {
        let a = serde_json::json!({"multiscales": {"layout": [
            {"asset": "r10m", "spatial:shape": [4, 4]},
            {"asset": "r20m", "derived_from": "r10m", "transform": {"scale": [2.0, 2.0]},
             "spatial:transform": [20, 0, 0, 0, -20, 80], "resampling_method": "mode"},
            {"derived_from": 3}
        ], "resampling_method": "average"}});
        let l = layout(a.as_object().unwrap()).unwrap();
        assert_eq!(l.entries.len(), 3);
        assert_eq!(l.entries[0].shape, Some([4, 4]));
        assert_eq!(l.entries[1].scale, Some(vec![2.0, 2.0]));
        assert_eq!(
            l.entries[1].transform,
            Some([20.0, 0.0, 0.0, 0.0, -20.0, 80.0])
        );
        assert_eq!(l.entries[1].resampling_method.as_deref(), Some("mode"));
        assert_eq!(l.entries[2].asset, "");
        assert_eq!(l.entries[2].derived_from, None);
        assert_eq!(l.resampling_method.as_deref(), Some("average"));
        assert!(layout(&Map::new()).is_none());
    }
}
