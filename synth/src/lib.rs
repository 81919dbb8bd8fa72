//! Synthetic EOPF Sentinel-2 products (Zarr v2 on local disk), built from a
//! pydantic-zarr `GroupSpec` JSON schema (the metadata of a real product).
//!
//! Every group and array of the schema is written: `.zgroup`, `.zattrs`,
//! `.zarray` (the schema's own JSON, with spatial shapes and chunks divided by
//! [`SynthOptions::scale`]) and every chunk, then a root `.zmetadata` in the
//! classic consolidated form (last, so a product that has it is whole). JSON text is written the way zarr-python 2
//! writes it (`json.dumps(indent=4, sort_keys=True, ensure_ascii=True)`).
//!
//! Pixel values are deterministic (no RNG: noise comes from a hash of the
//! array path and pixel index) and look roughly like a real tile:
//! - reflectance (`uint16` with `scale_factor`): a smooth landscape built from a
//!   few low-frequency sines in *geographic* coordinates (so r10m, r20m and r60m
//!   agree), field parcels, a little noise, values 1..=10000, and nodata (0) in a
//!   bottom-left corner triangle and in a short stripe;
//! - classification: patchy classes (0..=11) with clouds and water;
//!   flag masks: sparse flag patches; detector footprints: slanted stripes 1..=6;
//!   cloud/snow probabilities: blobs 0..=100; quicklook `tci`: RGB from b04/b03/b02;
//! - angles and meteorology: smooth plausible values; `x`/`y`: pixel centres;
//!   strings (`<U*`) such as `zenith`/`azimuth`, `b01`…`b12`, `b8a`.
//!
//! Chunks are encoded with zarrs (blosc exactly as the `.zarray` says), except
//! for data types zarrs does not take (`<U*`, `<M8`), which go through the same
//! c-blosc call directly. Chunks are generated and encoded in parallel (rayon),
//! largest first, one chunk per worker at a time.
//!
//! [`SynthOptions::encoding`] writes the same values with another encoding
//! (another compressor, blosc settings, `/` chunk keys, Fortran order, missing
//! fill-only chunks, other fill values; see [`Encoding`]), the ways other
//! writers store them.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::{Map, Value};
use zarrs::array::codec::{
    blosc_compress_bytes, BloscCompressionLevel, BloscCompressor, BloscShuffleMode,
};
use zarrs::array::{
    Array, ArrayBytes, ArrayMetadata, ArrayMetadataV2, ArrayToBytesCodecTraits, CodecOptions,
};
use zarrs::filesystem::FilesystemStore;

mod encoding;
mod error;

use error::Result;
pub use error::SynthError;

pub use encoding::{lz4_literal_block, BloscKeys, Cname, Compressor, Encoding, Shuffle};
use encoding::{ArrayFacts, Codec};

/// The S2A L2A schema, embedded as the default.
pub const DEFAULT_SCHEMA: &str =
    include_str!("../schemas/S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613.json");

/// How to build the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthOptions {
    /// Spatial shapes and chunks are divided by `scale` (rounded up), the
    /// resolution multiplied by it; 1 = full size.
    pub scale: u64,
    /// How numeric arrays are encoded (default: as the schema says).
    pub encoding: Encoding,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            scale: 1,
            encoding: Encoding::default(),
        }
    }
}

/// What [`synthesize`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthSummary {
    /// Number of arrays written.
    pub arrays: usize,
    /// Number of groups written (including the root).
    pub groups: usize,
    /// Total size of all files written (metadata and chunks), in bytes.
    pub bytes_written: u64,
}

/// Write a synthetic product described by `schema_json` (a pydantic-zarr
/// `GroupSpec`, Zarr v2) into the new or empty directory `out`.
pub fn synthesize(
    schema_json: &str,
    out: &Path,
    opts: &SynthOptions,
) -> Result<SynthSummary, SynthError> {
    if opts.scale == 0 {
        return Err(SynthError::Usage(
            "synthetic product: scale must be at least 1".into(),
        ));
    }
    let schema: Value = serde_json::from_str(schema_json)
        .map_err(|e| SynthError::input("<schema>", format!("invalid schema JSON: {e}")))?;
    prepare_output(out)?;

    let mut groups = Vec::new();
    let mut arrays = Vec::new();
    walk(&schema, String::new(), &mut groups, &mut arrays)?;

    let ctx = Ctx::new(&arrays, opts.scale);
    let store =
        Arc::new(FilesystemStore::new(out).map_err(|e| SynthError::storage(out.display(), e))?);
    let plans = arrays
        .iter()
        .map(|a| ArrayPlan::new(a, &ctx, &store, &opts.encoding))
        .collect::<Result<Vec<_>>>()?;

    // Metadata files, and the consolidated copy of all of them.
    let mut bytes = 0u64;
    let mut consolidated = Map::new();
    for g in &groups {
        let dir = node_dir(out, &g.path);
        mkdir(&dir)?;
        let zgroup = Value::Object(Map::from_iter([(
            "zarr_format".to_string(),
            Value::from(2),
        )]));
        bytes += write_json(&dir.join(".zgroup"), &zgroup)?;
        bytes += write_json(&dir.join(".zattrs"), &g.attrs)?;
        consolidated.insert(meta_key(&g.path, ".zgroup"), zgroup);
        consolidated.insert(meta_key(&g.path, ".zattrs"), g.attrs.clone());
    }
    for p in &plans {
        let dir = node_dir(out, &p.path);
        mkdir(&dir)?;
        let zarray = Value::Object(p.zarray.clone());
        let zattrs = Value::Object(p.zattrs.clone());
        bytes += write_json(&dir.join(".zarray"), &zarray)?;
        bytes += write_json(&dir.join(".zattrs"), &zattrs)?;
        consolidated.insert(meta_key(&p.path, ".zarray"), zarray);
        consolidated.insert(meta_key(&p.path, ".zattrs"), zattrs);
    }
    // Chunks: largest first, so the big single-chunk arrays do not end up alone
    // on one core at the end.
    let mut tasks: Vec<(usize, u64)> = plans
        .iter()
        .enumerate()
        .flat_map(|(a, p)| (0..p.n_chunks()).map(move |c| (a, c)))
        .collect();
    tasks.sort_by_key(|&(a, c)| (std::cmp::Reverse(plans[a].chunk_bytes()), a, c));
    let (chunk_bytes, written) = tasks
        .par_iter()
        .map(|&(a, c)| plans[a].write_chunk(out, &ctx, c))
        .try_fold(
            || (0u64, 0usize),
            |(b, n), r| r.map(|w| (b + w.unwrap_or(0), n + usize::from(w.is_some()))),
        )
        .try_reduce(|| (0u64, 0usize), |x, y| Ok((x.0 + y.0, x.1 + y.1)))?;
    bytes += chunk_bytes;

    // The consolidated metadata last: its presence says the product is whole
    // (`demo` and `bench/run` reuse a product that has it).
    let zmetadata = Value::Object(Map::from_iter([
        ("metadata".to_string(), Value::Object(consolidated)),
        ("zarr_consolidated_format".to_string(), Value::from(1)),
    ]));
    bytes += write_json(&out.join(".zmetadata"), &zmetadata)?;

    let summary = SynthSummary {
        arrays: plans.len(),
        groups: groups.len(),
        bytes_written: bytes,
    };
    tracing::info!(
        out = %out.display(),
        scale = opts.scale,
        encoding = %opts.encoding,
        arrays = summary.arrays,
        groups = summary.groups,
        chunks = written,
        skipped = tasks.len() - written,
        bytes = summary.bytes_written,
        "synthetic product written"
    );
    Ok(summary)
}

// ---------------------------------------------------------------------------
// Schema walking
// ---------------------------------------------------------------------------

struct GroupNode {
    /// "" for the root, otherwise "a/b/c".
    path: String,
    attrs: Value,
}

struct ArrayNode {
    path: String,
    group: String,
    name: String,
    node: Map<String, Value>,
}

fn walk(
    node: &Value,
    path: String,
    groups: &mut Vec<GroupNode>,
    arrays: &mut Vec<ArrayNode>,
) -> Result<()> {
    let obj = node.as_object().ok_or_else(|| {
        SynthError::input(display_path(&path), "schema node is not a JSON object")
    })?;
    if obj.contains_key("shape") {
        let (group, name) = match path.rsplit_once('/') {
            Some((g, n)) => (g.to_string(), n.to_string()),
            None => (String::new(), path.clone()),
        };
        if name.is_empty() {
            return Err(SynthError::input("/", "the schema root must be a group"));
        }
        arrays.push(ArrayNode {
            path,
            group,
            name,
            node: obj.clone(),
        });
        return Ok(());
    }
    let attrs = obj
        .get("attributes")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if !attrs.is_object() {
        return Err(SynthError::input(
            display_path(&path),
            "group attributes are not an object",
        ));
    }
    groups.push(GroupNode {
        path: path.clone(),
        attrs,
    });
    if let Some(members) = obj.get("members") {
        let members = members.as_object().ok_or_else(|| {
            SynthError::input(display_path(&path), "group members are not an object")
        })?;
        for (name, child) in members {
            if name.is_empty() || name.contains('/') || name.starts_with(".z") {
                return Err(SynthError::input(
                    display_path(&path),
                    format!("bad member name {name:?}"),
                ));
            }
            let child_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}/{name}")
            };
            walk(child, child_path, groups, arrays)?;
        }
    }
    Ok(())
}

fn display_path(path: &str) -> String {
    format!("/{path}")
}

fn node_dir(out: &Path, path: &str) -> PathBuf {
    if path.is_empty() {
        out.to_path_buf()
    } else {
        out.join(path)
    }
}

fn meta_key(path: &str, file: &str) -> String {
    if path.is_empty() {
        file.to_string()
    } else {
        format!("{path}/{file}")
    }
}

fn prepare_output(out: &Path) -> Result<()> {
    match std::fs::metadata(out) {
        Ok(m) if m.is_dir() => {
            let mut entries =
                std::fs::read_dir(out).map_err(|e| SynthError::storage(out.display(), e))?;
            if entries.next().is_some() {
                return Err(SynthError::output(
                    out.display(),
                    "already exists and is not empty; refusing to write a synthetic product into it",
                ));
            }
            Ok(())
        }
        Ok(_) => Err(SynthError::output(
            out.display(),
            "exists and is not a directory",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => mkdir(out),
        Err(e) => Err(SynthError::storage(out.display(), e)),
    }
}

fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| SynthError::storage(dir.display(), e))
}

fn write_json(file: &Path, v: &Value) -> Result<u64> {
    let text = py_json(v);
    std::fs::write(file, text.as_bytes()).map_err(|e| SynthError::storage(file.display(), e))?;
    Ok(text.len() as u64)
}

// ---------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------

/// Global facts about the product.
struct Ctx {
    scale: u64,
    /// Side length of the tile in metres (from the first georeferenced array).
    extent: f64,
    /// Upper-left corner of the tile.
    corner: (f64, f64),
    /// Per-group geotransform (unscaled), for groups with spatial arrays.
    geos: std::collections::HashMap<String, Geo>,
    epsg: Option<i64>,
}

/// Pixel size and upper-left corner of a grid.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Geo {
    rx: f64,
    /// Negative for north-up grids.
    ry: f64,
    x0: f64,
    y0: f64,
}

impl Geo {
    fn scaled(self, s: u64) -> Geo {
        let s = s as f64;
        Geo {
            rx: self.rx * s,
            ry: self.ry * s,
            ..self
        }
    }
}

fn dims_of(node: &Map<String, Value>) -> Vec<String> {
    node.get("attributes")
        .and_then(|a| a.get("_ARRAY_DIMENSIONS"))
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn shape_of(node: &Map<String, Value>, key: &str) -> Option<Vec<u64>> {
    node.get(key)?
        .as_array()?
        .iter()
        .map(Value::as_u64)
        .collect()
}

fn transform_of(node: &Map<String, Value>) -> Option<Geo> {
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
fn res_from_name(group: &str) -> Option<f64> {
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
fn is_spatial_grid(a: &ArrayNode) -> bool {
    let dims = dims_of(&a.node);
    let nd = shape_of(&a.node, "shape").map_or(0, |s| s.len());
    nd >= 2
        && dims.len() == nd
        && dims[nd - 2] == "y"
        && dims[nd - 1] == "x"
        && (transform_of(&a.node).is_some() || res_from_name(&a.group).is_some())
}

impl Ctx {
    fn new(arrays: &[ArrayNode], scale: u64) -> Ctx {
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
        let mut geos = std::collections::HashMap::new();
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
        Ctx {
            scale,
            extent: if extent > 0.0 { extent } else { 109_800.0 },
            corner,
            geos,
            epsg,
        }
    }
}

// ---------------------------------------------------------------------------
// Data types
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    U1,
    U2,
    U4,
    U8,
    I1,
    I2,
    I4,
    I8,
    F4,
    F8,
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dt {
    Num(Num),
    /// numpy `<U n`: UTF-32, `n` characters.
    Str(usize),
    /// numpy `|S n`: bytes.
    Bytes(usize),
    /// numpy `M8[unit]`: int64 counts of `unit` (nanoseconds per unit).
    DateTime(i64),
    /// Anything else: zeros of this size.
    Other(usize),
}

#[derive(Debug, Clone, Copy)]
struct DType {
    dt: Dt,
    big_endian: bool,
}

impl DType {
    fn parse(s: &str) -> Option<DType> {
        let mut chars = s.chars();
        let order = chars.next()?;
        let big_endian = order == '>';
        if !matches!(order, '<' | '>' | '|' | '=') {
            return None;
        }
        let rest = &s[1..];
        let kind = rest.chars().next()?;
        let tail = &rest[1..];
        let size = tail.split('[').next().unwrap_or("").parse::<usize>().ok();
        let dt = match (kind, size) {
            ('u', Some(1)) => Dt::Num(Num::U1),
            ('u', Some(2)) => Dt::Num(Num::U2),
            ('u', Some(4)) => Dt::Num(Num::U4),
            ('u', Some(8)) => Dt::Num(Num::U8),
            ('i', Some(1)) => Dt::Num(Num::I1),
            ('i', Some(2)) => Dt::Num(Num::I2),
            ('i', Some(4)) => Dt::Num(Num::I4),
            ('i', Some(8)) => Dt::Num(Num::I8),
            ('f', Some(4)) => Dt::Num(Num::F4),
            ('f', Some(8)) => Dt::Num(Num::F8),
            ('b', Some(1)) => Dt::Num(Num::Bool),
            ('U', Some(n)) => Dt::Str(n),
            ('S', Some(n)) => Dt::Bytes(n),
            ('M', Some(8)) => {
                let unit = tail.split('[').nth(1).map(|u| u.trim_end_matches(']'));
                let ns = match unit {
                    Some("s") => 1_000_000_000,
                    Some("ms") => 1_000_000,
                    Some("us") => 1_000,
                    Some("ns") | None => 1,
                    Some(_) => 1,
                };
                Dt::DateTime(ns)
            }
            (_, Some(n)) => Dt::Other(n),
            (_, None) => return None,
        };
        Some(DType { dt, big_endian })
    }

    fn size(&self) -> usize {
        match self.dt {
            Dt::Num(n) => match n {
                Num::U1 | Num::I1 | Num::Bool => 1,
                Num::U2 | Num::I2 => 2,
                Num::U4 | Num::I4 | Num::F4 => 4,
                Num::U8 | Num::I8 | Num::F8 => 8,
            },
            Dt::Str(n) => 4 * n,
            Dt::Bytes(n) | Dt::Other(n) => n,
            Dt::DateTime(_) => 8,
        }
    }
}

/// Little-endian bytes of `v` converted (saturating, rounded for integers) to `n`.
#[inline]
fn put_f64(n: Num, dst: &mut [u8], v: f64) {
    match n {
        Num::U1 => dst[0] = v.round() as u8,
        Num::I1 => dst[0] = v.round() as i8 as u8,
        Num::Bool => dst[0] = u8::from(v != 0.0),
        Num::U2 => dst.copy_from_slice(&(v.round() as u16).to_le_bytes()),
        Num::I2 => dst.copy_from_slice(&(v.round() as i16).to_le_bytes()),
        Num::U4 => dst.copy_from_slice(&(v.round() as u32).to_le_bytes()),
        Num::I4 => dst.copy_from_slice(&(v.round() as i32).to_le_bytes()),
        Num::U8 => dst.copy_from_slice(&(v.round() as u64).to_le_bytes()),
        Num::I8 => dst.copy_from_slice(&(v.round() as i64).to_le_bytes()),
        Num::F4 => dst.copy_from_slice(&(v as f32).to_le_bytes()),
        Num::F8 => dst.copy_from_slice(&v.to_le_bytes()),
    }
}

#[inline]
fn put_i64(n: Num, dst: &mut [u8], v: i64) {
    match n {
        Num::U8 => dst.copy_from_slice(&(v as u64).to_le_bytes()),
        Num::I8 => dst.copy_from_slice(&v.to_le_bytes()),
        _ => put_f64(n, dst, v as f64),
    }
}

/// One element of the fill value, in little-endian order (zeros when `null`).
fn fill_bytes(dtype: &DType, fill: &Value) -> Vec<u8> {
    let mut out = vec![0u8; dtype.size()];
    if let Dt::Num(n) = dtype.dt {
        let v = match fill {
            Value::Number(x) => {
                if let (Some(i), Num::I8 | Num::U8) = (x.as_i64(), n) {
                    put_i64(n, &mut out, i);
                    return out;
                }
                x.as_f64()
            }
            Value::String(s) => match s.as_str() {
                "NaN" | "nan" => Some(f64::NAN),
                "Infinity" | "inf" => Some(f64::INFINITY),
                "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        };
        if let Some(v) = v {
            put_f64(n, &mut out, v);
        }
    } else if let (Dt::DateTime(_), Value::Number(x)) = (dtype.dt, fill) {
        if let Some(i) = x.as_i64() {
            out.copy_from_slice(&i.to_le_bytes());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Array plans
// ---------------------------------------------------------------------------

/// What the values of an array look like.
#[derive(Debug, Clone)]
enum Kind {
    /// Reflectance counts (uint16 with a scale factor).
    Reflectance(Band),
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
struct Band {
    base: f32,
    gain: f32,
    parcel: f32,
    noise: f32,
}

fn band_model(name: &str) -> Band {
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
    Band {
        base,
        gain,
        parcel: 0.07 * base.abs(),
        noise: 24.0 + 0.01 * base,
    }
}

enum Encoder {
    /// zarrs encodes (numeric data types).
    Zarrs(Box<Array<FilesystemStore>>),
    /// No compressor: the bytes as they are.
    Raw,
    /// c-blosc directly (data types zarrs refuses).
    Blosc {
        clevel: BloscCompressionLevel,
        shuffle: BloscShuffleMode,
        cname: BloscCompressor,
        blocksize: usize,
    },
    /// Another encoding's compressor (numeric arrays, `--encoding`).
    Codec(Codec),
}

struct ArrayPlan {
    path: String,
    name: String,
    dims: Vec<String>,
    attrs: Map<String, Value>,
    dtype: DType,
    shape: Vec<u64>,
    chunks: Vec<u64>,
    separator: String,
    zarray: Map<String, Value>,
    zattrs: Map<String, Value>,
    /// One element of the schema's fill value: what the values are generated
    /// with (nodata, padding).
    fill: Vec<u8>,
    /// One element of the written `.zarray`'s fill value (`None`: `null`).
    stored_fill: Option<Vec<u8>>,
    /// Chunk bytes in Fortran order.
    order_f: bool,
    /// Chunks holding only `stored_fill` are not written.
    sparse: bool,
    /// Scaled grid of this array's group, for spatial arrays and their x/y.
    geo: Option<Geo>,
    kind: Kind,
    encoder: Encoder,
    /// Seed for this array's noise.
    seed: u64,
    /// Side length of the tile in metres.
    extent: f64,
}

impl ArrayPlan {
    fn new(
        a: &ArrayNode,
        ctx: &Ctx,
        store: &Arc<FilesystemStore>,
        encoding: &Encoding,
    ) -> Result<ArrayPlan> {
        let where_ = display_path(&a.path);
        let shape = shape_of(&a.node, "shape")
            .ok_or_else(|| SynthError::input(&where_, "`shape` is not a list of integers"))?;
        let chunks = shape_of(&a.node, "chunks")
            .ok_or_else(|| SynthError::input(&where_, "`chunks` is not a list of integers"))?;
        if chunks.len() != shape.len() || chunks.contains(&0) {
            return Err(SynthError::input(
                &where_,
                "`chunks` does not match `shape`",
            ));
        }
        let dtype_str = a.node.get("dtype").and_then(Value::as_str).ok_or_else(|| {
            SynthError::input(
                &where_,
                "`dtype` is not a string (structured types are not supported)",
            )
        })?;
        let dtype = DType::parse(dtype_str).ok_or_else(|| {
            SynthError::input(&where_, format!("unsupported dtype {dtype_str:?}"))
        })?;
        if a.node.get("order").and_then(Value::as_str).unwrap_or("C") != "C" {
            return Err(SynthError::input(
                &where_,
                "only C-order arrays are supported",
            ));
        }
        let attrs = a
            .node
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let dims = dims_of(&a.node);
        let nd = shape.len();

        // Scaling.
        let spatial = is_spatial_grid(a);
        let coord = nd == 1
            && (a.name == "x" || a.name == "y")
            && dims.first().is_none_or(|d| d == &a.name)
            && ctx.geos.contains_key(&a.group);
        let geo = ctx.geos.get(&a.group).map(|g| g.scaled(ctx.scale));
        let scaled_axes: Vec<usize> = if spatial {
            vec![nd - 2, nd - 1]
        } else if coord {
            vec![0]
        } else {
            vec![]
        };
        let mut new_shape = shape.clone();
        let mut new_chunks = chunks.clone();
        for &ax in &scaled_axes {
            new_shape[ax] = shape[ax].div_ceil(ctx.scale);
            new_chunks[ax] = chunks[ax].div_ceil(ctx.scale).min(new_shape[ax]).max(1);
        }

        let mut zarray = a.node.clone();
        zarray.remove("attributes");
        zarray.remove("members");
        zarray.insert("shape".into(), Value::from(new_shape.clone()));
        zarray.insert("chunks".into(), Value::from(new_chunks.clone()));
        let mut zattrs = attrs.clone();
        if spatial && ctx.scale != 1 {
            if let Some(g) = geo {
                update_proj(&mut zattrs, g, new_shape[nd - 2], new_shape[nd - 1]);
            }
        }
        let fill_value = a.node.get("fill_value").cloned().unwrap_or(Value::Null);
        let fill = fill_bytes(&dtype, &fill_value);

        // Another encoding: numeric arrays only (strings and datetimes keep
        // the schema's, through zarrs or c-blosc as before).
        let numeric = matches!(dtype.dt, Dt::Num(_));
        let codec = if numeric {
            let facts = ArrayFacts {
                item: dtype.size(),
                float: matches!(dtype.dt, Dt::Num(Num::F4 | Num::F8)),
                nd,
            };
            encoding
                .apply(&mut zarray, &facts)
                .map_err(|e| SynthError::input(&where_, format!("encoding {encoding}: {e}")))?
        } else {
            None
        };
        let order_f = zarray.get("order").and_then(Value::as_str) == Some("F");
        let stored_fill_value = zarray.get("fill_value").cloned().unwrap_or(Value::Null);
        let stored_fill = if stored_fill_value.is_null() {
            None
        } else {
            Some(fill_bytes(&dtype, &stored_fill_value))
        };
        let separator = zarray
            .get("dimension_separator")
            .and_then(Value::as_str)
            .unwrap_or(".")
            .to_string();

        let kind = if spatial {
            spatial_kind(a, &dtype, &attrs)
        } else {
            Kind::Element
        };
        let encoder = match codec {
            Some(c) => Encoder::Codec(c),
            None => {
                // Chunks are put in Fortran order before they are encoded;
                // the encoder itself sees C order.
                let mut c_order = zarray.clone();
                if order_f {
                    c_order.insert("order".into(), Value::from("C"));
                }
                make_encoder(a, &c_order, &dtype, store)?
            }
        };
        Ok(ArrayPlan {
            path: a.path.clone(),
            name: a.name.clone(),
            dims,
            attrs,
            dtype,
            shape: new_shape,
            chunks: new_chunks,
            separator,
            zarray,
            zattrs,
            fill,
            stored_fill,
            order_f,
            sparse: encoding.sparse && numeric,
            geo: if spatial || coord { geo } else { None },
            kind,
            encoder,
            seed: fnv1a(a.path.as_bytes()),
            extent: ctx.extent,
        })
    }

    fn grid(&self) -> Vec<u64> {
        self.shape
            .iter()
            .zip(&self.chunks)
            .map(|(s, c)| s.div_ceil(*c))
            .collect()
    }

    fn n_chunks(&self) -> u64 {
        self.grid().iter().product()
    }

    fn chunk_bytes(&self) -> u64 {
        self.chunks.iter().product::<u64>() * self.dtype.size() as u64
    }

    fn chunk_key(&self, idx: &[u64]) -> String {
        if idx.is_empty() {
            return "0".into();
        }
        idx.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(&self.separator)
    }

    /// Generate, encode and write chunk number `linear` (C order over the
    /// chunk grid): the bytes written, or `None` for a chunk left out (sparse).
    fn write_chunk(&self, out: &Path, ctx: &Ctx, linear: u64) -> Result<Option<u64>> {
        let grid = self.grid();
        let idx = unravel(linear, &grid);
        let mut buf = match self.kind {
            Kind::Element => self.element_chunk(ctx, &idx),
            _ => self.spatial_chunk(&idx),
        };
        if let Some(stored) = &self.stored_fill {
            if stored != &self.fill {
                // Another fill value: edge chunks are padded with it.
                self.set_padding(&mut buf, &idx, stored);
            }
            if self.sparse && buf.chunks_exact(stored.len()).all(|e| e == stored) {
                return Ok(None);
            }
        }
        if self.order_f {
            let shape: Vec<usize> = self.chunks.iter().map(|&c| c as usize).collect();
            buf = encoding::c_to_f_order(&buf, &shape, self.dtype.size());
        }
        let key = self.chunk_key(&idx);
        let file = out.join(&self.path).join(&key);
        let encoded: Vec<u8> = match &self.encoder {
            Encoder::Zarrs(array) => {
                let shape: Vec<NonZeroU64> = self
                    .chunks
                    .iter()
                    .map(|&c| NonZeroU64::new(c).expect("chunks are non-zero"))
                    .collect();
                array
                    .codecs()
                    .encode(
                        ArrayBytes::new_flen(buf),
                        &shape,
                        array.data_type(),
                        array.fill_value(),
                        &CodecOptions::default(),
                    )
                    .map_err(|e| SynthError::storage(file.display(), e))?
                    .into_owned()
            }
            Encoder::Raw => {
                self.to_stored_order(&mut buf);
                buf
            }
            Encoder::Blosc {
                clevel,
                shuffle,
                cname,
                blocksize,
            } => {
                self.to_stored_order(&mut buf);
                blosc_compress_bytes(
                    &buf,
                    *clevel,
                    *shuffle,
                    self.dtype.size(),
                    *cname,
                    *blocksize,
                    1,
                )
                .map_err(|e| SynthError::storage(file.display(), e))?
            }
            Encoder::Codec(codec) => {
                self.to_stored_order(&mut buf);
                codec
                    .encode(buf)
                    .map_err(|e| SynthError::storage(file.display(), e))?
            }
        };
        if let Some(parent) = file.parent() {
            if self.separator != "." {
                mkdir(parent)?;
            }
        }
        std::fs::write(&file, &encoded).map_err(|e| SynthError::storage(file.display(), e))?;
        Ok(Some(encoded.len() as u64))
    }

    /// Set the elements of chunk `idx` that lie outside the array to `fill`.
    fn set_padding(&self, buf: &mut [u8], idx: &[u64], fill: &[u8]) {
        let origin: Vec<u64> = idx.iter().zip(&self.chunks).map(|(i, c)| i * c).collect();
        let edge = (0..self.shape.len()).any(|d| origin[d] + self.chunks[d] > self.shape[d]);
        if !edge {
            return;
        }
        for (k, e) in buf.chunks_exact_mut(fill.len()).enumerate() {
            let local = unravel(k as u64, &self.chunks);
            if (0..local.len()).any(|d| origin[d] + local[d] >= self.shape[d]) {
                e.copy_from_slice(fill);
            }
        }
    }

    /// Our buffers are little-endian; flip for `>` data types written without zarrs.
    fn to_stored_order(&self, buf: &mut [u8]) {
        if !self.dtype.big_endian {
            return;
        }
        let unit = match self.dtype.dt {
            Dt::Str(_) => 4,
            Dt::Bytes(_) | Dt::Other(_) => 1,
            _ => self.dtype.size(),
        };
        if unit > 1 {
            buf.chunks_exact_mut(unit).for_each(<[u8]>::reverse);
        }
    }

    fn new_buffer(&self) -> Vec<u8> {
        let n = self.chunks.iter().product::<u64>() as usize;
        if self.fill.iter().all(|&b| b == 0) {
            vec![0u8; n * self.fill.len()]
        } else {
            self.fill.repeat(n)
        }
    }
}

fn update_proj(attrs: &mut Map<String, Value>, g: Geo, ny: u64, nx: u64) {
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

fn attr_has(attrs: &Map<String, Value>, key: &str) -> bool {
    attrs.contains_key(key) || attrs.get("_eopf_attrs").and_then(|e| e.get(key)).is_some()
}

fn spatial_kind(a: &ArrayNode, dtype: &DType, attrs: &Map<String, Value>) -> Kind {
    let name = a.name.to_ascii_lowercase();
    let path = a.path.to_ascii_lowercase();
    let dims = dims_of(&a.node);
    match dtype.dt {
        Dt::Num(Num::U2) if attr_has(attrs, "scale_factor") => Kind::Reflectance(band_model(&name)),
        Dt::Num(Num::U1) | Dt::Num(Num::U2) | Dt::Num(Num::I1) | Dt::Num(Num::I2) => {
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
                Kind::Quicklook
            } else if !flags.is_empty() {
                Kind::Flags(flags)
            } else if path.contains("detector_footprint") {
                Kind::Detector {
                    offset: (fnv1a(name.as_bytes()) % 60) as f32 / 1000.0,
                }
            } else if path.contains("probability") || name == "cld" || name == "snw" {
                Kind::Probability {
                    snow: name.starts_with("snw") || name.contains("snow"),
                }
            } else if name == "aot" {
                Kind::Smooth {
                    base: 180.0,
                    amp: 70.0,
                    second: true,
                }
            } else if name == "wvp" {
                Kind::Smooth {
                    base: 2200.0,
                    amp: 600.0,
                    second: false,
                }
            } else if matches!(dtype.dt, Dt::Num(Num::U2) | Dt::Num(Num::I2)) {
                Kind::Smooth {
                    base: 1000.0,
                    amp: 400.0,
                    second: false,
                }
            } else {
                Kind::Classes
            }
        }
        Dt::Num(Num::F4) | Dt::Num(Num::F8) => Kind::Smooth {
            base: 0.5,
            amp: 0.25,
            second: false,
        },
        Dt::Num(_) => Kind::Smooth {
            base: 1000.0,
            amp: 400.0,
            second: false,
        },
        _ => Kind::Element,
    }
}

fn make_encoder(
    a: &ArrayNode,
    zarray: &Map<String, Value>,
    dtype: &DType,
    store: &Arc<FilesystemStore>,
) -> Result<Encoder> {
    let where_ = display_path(&a.path);
    let compressor = zarray.get("compressor").cloned().unwrap_or(Value::Null);
    let filters = zarray.get("filters").cloned().unwrap_or(Value::Null);
    let no_filters = filters.is_null() || filters.as_array().is_some_and(Vec::is_empty);
    if compressor.is_null() && no_filters {
        return Ok(Encoder::Raw);
    }
    let mut meta = zarray.clone();
    meta.insert("zarr_format".into(), Value::from(2));
    let zarrs_err = match serde_json::from_value::<ArrayMetadataV2>(Value::Object(meta)) {
        Ok(m) => match Array::new_with_metadata(
            store.clone(),
            &format!("/{}", a.path),
            ArrayMetadata::V2(m),
        ) {
            Ok(array) if array.data_type().fixed_size() == Some(dtype.size()) => {
                return Ok(Encoder::Zarrs(Box::new(array)));
            }
            Ok(_) => "data type size differs from the schema".to_string(),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    // zarrs refuses some numpy types (`<U7` with a null fill value, `<M8[ns]`):
    // write those through c-blosc ourselves, exactly as numcodecs would.
    let blosc = compressor
        .as_object()
        .filter(|c| c.get("id").and_then(Value::as_str) == Some("blosc"));
    match (blosc, no_filters) {
        (Some(c), true) => {
            let clevel = c.get("clevel").and_then(Value::as_u64).unwrap_or(5);
            let clevel = BloscCompressionLevel::try_from(clevel.min(9) as u8)
                .map_err(|_| SynthError::input(&where_, "bad blosc clevel"))?;
            let shuffle = match c.get("shuffle").and_then(Value::as_i64).unwrap_or(1) {
                0 => BloscShuffleMode::NoShuffle,
                2 => BloscShuffleMode::BitShuffle,
                // numcodecs AUTOSHUFFLE (-1): bit-shuffle for 1-byte items, else byte-shuffle.
                -1 if dtype.size() == 1 => BloscShuffleMode::BitShuffle,
                _ => BloscShuffleMode::Shuffle,
            };
            let cname = c.get("cname").cloned().unwrap_or(Value::from("lz4"));
            let cname: BloscCompressor = serde_json::from_value(cname)
                .map_err(|e| SynthError::input(&where_, format!("unsupported blosc cname: {e}")))?;
            let blocksize = c.get("blocksize").and_then(Value::as_u64).unwrap_or(0) as usize;
            tracing::debug!(array = %where_, reason = %zarrs_err, "encoding with c-blosc directly");
            Ok(Encoder::Blosc { clevel, shuffle, cname, blocksize })
        }
        _ => Err(SynthError::input(
            &where_,
            format!("cannot encode this array (zarrs: {zarrs_err}; only blosc or no compressor without filters is handled otherwise)"),
        )),
    }
}

fn unravel(mut linear: u64, grid: &[u64]) -> Vec<u64> {
    let mut idx = vec![0u64; grid.len()];
    for d in (0..grid.len()).rev() {
        idx[d] = linear % grid[d];
        linear /= grid[d];
    }
    idx
}

// ---------------------------------------------------------------------------
// Deterministic noise
// ---------------------------------------------------------------------------

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64 finaliser.
#[inline(always)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [0, 1).
#[inline(always)]
fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 16_777_216.0)
}

const PARCEL_SEED: u64 = 0x5eed_0ff1_e1d5;
const CLASS_SEED: u64 = 0x0c1a_55e5_0000;

// ---------------------------------------------------------------------------
// Spatial chunks
// ---------------------------------------------------------------------------

/// Geographic landscape on the tile, in normalised coordinates (u → east,
/// v → south, both 0..1 over the tile). `l = a(u) + b(v) + c(u)·d(v)`, and a
/// second, independent field `l2` for clouds and aerosols.
#[inline]
fn sin2pi(x: f64) -> f64 {
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
    fn spatial_chunk(&self, idx: &[u64]) -> Vec<u8> {
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
        let Dt::Num(num) = self.dtype.dt else {
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
            Kind::Reflectance(m) => {
                let m = *m;
                write_row(num, row, k1, k2, |i| {
                    refl(m, l(i), l2(i), parcel(i), noise(i)).clamp(1.0, 10000.0)
                });
            }
            Kind::Quicklook => {
                let band = lead.first().copied().unwrap_or(0);
                let m = band_model(["b04", "b03", "b02"][(band % 3) as usize]);
                write_row(num, row, k1, k2, |i| {
                    (refl(m, l(i), l2(i), parcel(i), noise(i)) * (255.0 / 2500.0)).clamp(1.0, 255.0)
                });
            }
            Kind::Smooth { base, amp, second } => {
                let (base, amp, second) = (*base, *amp, *second);
                write_row(num, row, k1, k2, |i| {
                    base + amp * if second { l2(i) } else { l(i) }
                });
            }
            Kind::Classes => write_row(num, row, k1, k2, |i| {
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
            Kind::Flags(flags) => {
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
            Kind::Detector { offset } => {
                let off = *offset + 0.18 * rc.v;
                write_row(num, row, k1, k2, |i| {
                    let w = 0.82 * cols.u[i] as f32 + off;
                    (1.0 + (w * 6.0).floor()).clamp(1.0, 6.0)
                });
            }
            Kind::Probability { snow } => {
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
            Kind::Element => {}
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
fn refl(m: Band, l: f32, l2: f32, parcel: f32, noise: f32) -> f32 {
    let ground = m.base + m.gain * l + m.parcel * parcel;
    let cloud = ((l2 - 0.42) * 4.0).clamp(0.0, 1.0);
    ground + cloud * (4500.0 + 2500.0 * cloud - ground) + m.noise * noise
}

/// Write `f(i)` for columns `lo..hi` of one row, converting to `num`.
#[inline(always)]
fn write_row<F: Fn(usize) -> f32>(num: Num, row: &mut [u8], lo: usize, hi: usize, f: F) {
    match num {
        Num::U1 => row[lo..hi]
            .iter_mut()
            .enumerate()
            .for_each(|(k, d)| *d = f(lo + k) as u8),
        Num::I1 => row[lo..hi]
            .iter_mut()
            .enumerate()
            .for_each(|(k, d)| *d = f(lo + k) as i8 as u8),
        Num::Bool => row[lo..hi]
            .iter_mut()
            .enumerate()
            .for_each(|(k, d)| *d = u8::from(f(lo + k) != 0.0)),
        Num::U2 => put_row::<2, _>(row, lo, hi, |i| (f(i) as u16).to_le_bytes()),
        Num::I2 => put_row::<2, _>(row, lo, hi, |i| (f(i) as i16).to_le_bytes()),
        Num::U4 => put_row::<4, _>(row, lo, hi, |i| (f(i) as u32).to_le_bytes()),
        Num::I4 => put_row::<4, _>(row, lo, hi, |i| (f(i) as i32).to_le_bytes()),
        Num::F4 => put_row::<4, _>(row, lo, hi, |i| f(i).to_le_bytes()),
        Num::U8 => put_row::<8, _>(row, lo, hi, |i| (f(i) as u64).to_le_bytes()),
        Num::I8 => put_row::<8, _>(row, lo, hi, |i| (f(i) as i64).to_le_bytes()),
        Num::F8 => put_row::<8, _>(row, lo, hi, |i| f64::from(f(i)).to_le_bytes()),
    }
}

#[inline(always)]
fn put_row<const N: usize, G: Fn(usize) -> [u8; N]>(row: &mut [u8], lo: usize, hi: usize, g: G) {
    for (k, d) in row[lo * N..hi * N].chunks_exact_mut(N).enumerate() {
        d.copy_from_slice(&g(lo + k));
    }
}

// ---------------------------------------------------------------------------
// Element-wise chunks (coordinates, angles, meteorology, strings, scalars)
// ---------------------------------------------------------------------------

enum Elem {
    F(f64),
    I(i64),
    S(String),
}

/// Sentinel-2 band names in product order.
const S2_BANDS: [&str; 13] = [
    "b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b8a", "b09", "b10", "b11", "b12",
];

/// 2025-10-08T10:00:41Z in nanoseconds.
const EPOCH_NS: i64 = 1_759_917_641_000_000_000;

impl ArrayPlan {
    fn element_chunk(&self, ctx: &Ctx, idx: &[u64]) -> Vec<u8> {
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
            self.put_elem(dst, self.element_value(ctx, &g));
        }
        buf
    }

    fn put_elem(&self, dst: &mut [u8], v: Elem) {
        match (self.dtype.dt, v) {
            (Dt::Num(n), Elem::F(x)) => put_f64(n, dst, x),
            (Dt::Num(n), Elem::I(x)) => put_i64(n, dst, x),
            (Dt::DateTime(_), Elem::I(x)) => dst.copy_from_slice(&x.to_le_bytes()),
            (Dt::Str(n), Elem::S(s)) => {
                for (c, d) in s.chars().take(n).zip(dst.chunks_exact_mut(4)) {
                    d.copy_from_slice(&u32::from(c).to_le_bytes());
                }
            }
            (Dt::Bytes(n), Elem::S(s)) => {
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

    fn element_value(&self, ctx: &Ctx, g: &[u64]) -> Elem {
        let name = self.name.as_str();
        let flat = {
            let mut f = 0u64;
            for (d, &s) in self.shape.iter().enumerate() {
                f = f * s + g[d];
            }
            f
        };
        match self.dtype.dt {
            Dt::Str(_) | Dt::Bytes(_) => return Elem::S(self.string_value(flat)),
            Dt::DateTime(ns_per_unit) => {
                return Elem::I(
                    EPOCH_NS / ns_per_unit + flat as i64 * (1_000_000_000 / ns_per_unit).max(1),
                )
            }
            Dt::Other(_) => return Elem::I(0),
            Dt::Num(_) => {}
        }
        let is_float = matches!(self.dtype.dt, Dt::Num(Num::F4 | Num::F8));

        // Coordinates.
        if self.shape.len() == 1 && (name == "x" || name == "y") {
            let i = g[0] as f64;
            let v = match self.geo {
                Some(geo) if name == "x" => geo.x0 + geo.rx * (i + 0.5),
                Some(geo) => geo.y0 + geo.ry * (i + 0.5),
                None => {
                    // A coarse grid over the tile (the 23×23 angle grid: 5 km).
                    let n = self.shape[0].max(2) as f64;
                    let raw = ctx.extent / (n - 1.0);
                    let step = if raw >= 1000.0 {
                        (raw / 1000.0).round() * 1000.0
                    } else {
                        raw.round().max(1.0)
                    };
                    if name == "x" {
                        ctx.corner.0 + step * i
                    } else {
                        ctx.corner.1 - step * i
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
            let (lat0, lon0) = approx_lat_lon(ctx);
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
        Elem::F(if is_float && matches!(self.dtype.dt, Dt::Num(Num::F4)) {
            f64::from(v as f32)
        } else {
            v
        })
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

/// Rough geographic position of the tile's upper-left corner (UTM → degrees).
fn approx_lat_lon(ctx: &Ctx) -> (f64, f64) {
    let (x0, y0) = ctx.corner;
    let (zone, north) = match ctx.epsg {
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

// ---------------------------------------------------------------------------
// JSON as zarr-python 2 writes it: json.dumps(indent=4, sort_keys=True,
// ensure_ascii=True, separators=(',', ': '))
// ---------------------------------------------------------------------------

fn py_json(v: &Value) -> String {
    let mut s = String::new();
    py_json_into(v, 0, &mut s);
    s
}

fn py_json_into(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&py_float_repr(n.as_f64().unwrap_or(f64::NAN)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => py_string(s, out),
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (k, x) in a.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                newline_indent(depth + 1, out);
                py_json_into(x, depth + 1, out);
            }
            newline_indent(depth, out);
            out.push(']');
        }
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (k, key) in keys.into_iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                newline_indent(depth + 1, out);
                py_string(key, out);
                out.push_str(": ");
                py_json_into(&m[key], depth + 1, out);
            }
            newline_indent(depth, out);
            out.push('}');
        }
    }
}

fn newline_indent(depth: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("    ");
    }
}

fn py_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e && (c as u32) != 0x7f => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)` (as `json.dumps` prints floats).
fn py_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Shortest round-trip digits and decimal exponent.
    let sci = format!("{:e}", v.abs());
    let (mant, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if v < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let e = exp as usize;
            let (int, frac) = if digits.len() > e + 1 {
                (digits[..e + 1].to_string(), digits[e + 1..].to_string())
            } else {
                (
                    format!("{digits}{}", "0".repeat(e + 1 - digits.len())),
                    "0".to_string(),
                )
            };
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let es = if exp < 0 { "-" } else { "+" };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const S2B_SCHEMA: &str = include_str!(
        "../schemas/S2B_MSIL1C_20250113T103309_N0511_R108_T32TLQ_20250113T122458.json"
    );
    const SCALE: u64 = 20;

    type Nodes = (Vec<String>, Vec<(String, Map<String, Value>)>);

    /// Group paths, and (path, node) of every array, in a schema.
    fn nodes(schema: &Value) -> Nodes {
        let (mut groups, mut arrays) = (Vec::new(), Vec::new());
        walk(schema, String::new(), &mut groups, &mut arrays).unwrap();
        (
            groups.into_iter().map(|g| g.path).collect(),
            arrays.into_iter().map(|a| (a.path, a.node)).collect(),
        )
    }

    /// Expected scaled shape, computed independently of the writer: the last two
    /// dims of (…, y, x) arrays and 1-D x/y in `rNNm` groups are divided.
    fn expected_shape(path: &str, node: &Map<String, Value>, scale: u64) -> Vec<u64> {
        let mut shape = shape_of(node, "shape").unwrap();
        let dims = dims_of(node);
        let group = path.rsplit_once('/').unwrap().0;
        let rgroup = res_from_name(group).is_some();
        let n = shape.len();
        if rgroup && n >= 2 && dims[n - 2] == "y" && dims[n - 1] == "x" {
            shape[n - 2] = shape[n - 2].div_ceil(scale);
            shape[n - 1] = shape[n - 1].div_ceil(scale);
        } else if rgroup && n == 1 && (dims[0] == "x" || dims[0] == "y") {
            shape[0] = shape[0].div_ceil(scale);
        }
        shape
    }

    fn read_json(p: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        out
    }

    fn open(out: &Path, path: &str) -> Array<FilesystemStore> {
        let store = Arc::new(FilesystemStore::new(out).unwrap());
        Array::open(store, path).unwrap()
    }

    fn check_product(schema_json: &str) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("product.zarr");
        let summary = synthesize(
            schema_json,
            &out,
            &SynthOptions {
                scale: SCALE,
                ..Default::default()
            },
        )
        .unwrap();
        let schema: Value = serde_json::from_str(schema_json).unwrap();
        let (groups, arrays) = nodes(&schema);
        assert_eq!(summary.arrays, arrays.len());
        assert_eq!(summary.groups, groups.len());

        let all = files(&out);
        let total: u64 = all.values().map(|b| b.len() as u64).sum();
        assert_eq!(summary.bytes_written, total);

        // .zmetadata lists every node, with the same JSON as the files.
        let zmeta = read_json(&out.join(".zmetadata"));
        assert_eq!(zmeta["zarr_consolidated_format"], 1);
        let meta = zmeta["metadata"].as_object().unwrap();
        assert_eq!(meta.len(), 2 * (groups.len() + arrays.len()));
        for g in &groups {
            for f in [".zgroup", ".zattrs"] {
                let key = meta_key(g, f);
                assert_eq!(meta[&key], read_json(&out.join(&key)), "{key}");
            }
        }

        let mut expected_files = 1 + 2 * (groups.len() + arrays.len());
        for (path, node) in &arrays {
            let zarray = read_json(&out.join(path).join(".zarray"));
            assert_eq!(meta[&format!("{path}/.zarray")], zarray);
            assert_eq!(
                meta[&format!("{path}/.zattrs")],
                read_json(&out.join(path).join(".zattrs"))
            );
            // Same metadata as the schema, except the scaled shape and chunks.
            let shape = expected_shape(path, node, SCALE);
            assert_eq!(
                shape_of(zarray.as_object().unwrap(), "shape").unwrap(),
                shape,
                "{path}"
            );
            let chunks = shape_of(zarray.as_object().unwrap(), "chunks").unwrap();
            for key in [
                "dtype",
                "compressor",
                "fill_value",
                "order",
                "filters",
                "dimension_separator",
                "zarr_format",
            ] {
                assert_eq!(zarray[key], node[key], "{path} {key}");
            }
            for (c, s) in chunks.iter().zip(&shape) {
                assert!(*c >= 1 && c <= s.max(&1), "{path}: chunk {c} > shape {s}");
            }
            // Every chunk exists.
            let grid: Vec<u64> = shape
                .iter()
                .zip(&chunks)
                .map(|(s, c)| s.div_ceil(*c))
                .collect();
            let n: u64 = grid.iter().product();
            for k in 0..n {
                let idx = unravel(k, &grid);
                let key = if idx.is_empty() {
                    "0".to_string()
                } else {
                    idx.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
                };
                assert!(out.join(path).join(&key).is_file(), "{path}/{key} missing");
            }
            expected_files += n as usize;
        }
        assert_eq!(all.len(), expected_files, "unexpected extra files");

        // A reflectance chunk at the bottom-left corner: real-looking values with nodata.
        let refl = arrays
            .iter()
            .find(|(p, _)| p.ends_with("reflectance/r10m/b02"))
            .map(|(p, _)| p.clone())
            .unwrap();
        let b02 = open(&out, &format!("/{refl}"));
        let grid = b02.chunk_grid_shape();
        let values: Vec<u16> = b02.retrieve_chunk(&[grid[0] - 1, 0]).unwrap();
        assert!(values.iter().all(|&v| v <= 10_000));
        assert!(values.contains(&0), "no nodata");
        let valid: Vec<u16> = values.iter().copied().filter(|&v| v > 0).collect();
        assert!(valid.iter().min() != valid.iter().max(), "constant");
        let all_values: Vec<u16> = b02.retrieve_array_subset(&b02.subset_all()).unwrap();
        let valid: Vec<u16> = all_values.iter().copied().filter(|&v| v > 0).collect();
        let nodata = 1.0 - valid.len() as f64 / all_values.len() as f64;
        assert!((0.01..0.1).contains(&nodata), "nodata fraction {nodata}");
        let mean = valid.iter().map(|&v| f64::from(v)).sum::<f64>() / valid.len() as f64;
        assert!((200.0..3000.0).contains(&mean), "mean {mean}");

        // x/y are the pixel centres of the scaled transform.
        let attrs = read_json(&out.join(&refl).join(".zattrs"));
        let t: Vec<f64> = attrs["proj:transform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(t[0], 10.0 * SCALE as f64);
        assert_eq!(t[4], -10.0 * SCALE as f64);
        let orig = arrays.iter().find(|(p, _)| p == &refl).unwrap();
        let orig_t = transform_of(&orig.1).unwrap();
        assert_eq!((t[2], t[5]), (orig_t.x0, orig_t.y0));
        let n = b02.shape()[1];
        assert_eq!(attrs["proj:shape"], serde_json::json!([n, n]));
        let bbox: Vec<f64> = attrs["proj:bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(
            bbox,
            vec![t[2], t[5] + t[4] * n as f64, t[2] + t[0] * n as f64, t[5]]
        );
        let group = refl.rsplit_once('/').unwrap().0;
        let x: Vec<i64> = open(&out, &format!("/{group}/x"))
            .retrieve_chunk(&[0])
            .unwrap();
        let y: Vec<i64> = open(&out, &format!("/{group}/y"))
            .retrieve_chunk(&[0])
            .unwrap();
        assert_eq!(x.len() as u64, n);
        for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
            assert_eq!(xi as f64, t[2] + t[0] * (i as f64 + 0.5));
            assert_eq!(yi as f64, t[5] + t[4] * (i as f64 + 0.5));
        }

        // Edge chunks are stored at full chunk shape and decode.
        for (path, _) in arrays
            .iter()
            .filter(|(p, _)| p.ends_with("/tci") || p.contains("detector_footprint/r20m/b05"))
        {
            let a = open(&out, &format!("/{path}"));
            let g = a.chunk_grid_shape();
            let last: Vec<u64> = g.iter().map(|n| n - 1).collect();
            let v: Vec<u8> = a.retrieve_chunk(&last).unwrap();
            assert_eq!(
                v.len() as u64,
                a.chunk_shape(&last)
                    .unwrap()
                    .iter()
                    .map(|c| c.get())
                    .product::<u64>()
            );
            let whole: Vec<u8> = a.retrieve_array_subset(&a.subset_all()).unwrap();
            assert!(whole.iter().any(|&v| v > 0));
            if path.contains("detector") {
                assert!(whole.iter().all(|&v| v <= 6));
                assert!(
                    whole
                        .iter()
                        .filter(|&&v| v > 0)
                        .collect::<std::collections::BTreeSet<_>>()
                        .len()
                        >= 2
                );
            }
        }

        // Strings are numpy fixed-width UTF-32.
        let angle = std::fs::read(out.join("conditions/geometry/angle/0")).unwrap();
        assert!(!angle.is_empty());
        let band_chunk = std::fs::read(out.join("conditions/geometry/band/0")).unwrap();
        let decoded = zarrs::array::codec::blosc_decompress_bytes(&band_chunk, 13 * 12, 1).unwrap();
        let text: String = decoded
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_le_bytes(c.try_into().unwrap())).unwrap())
            .collect();
        assert!(text.starts_with("b01b02b03"), "{text:?}");
        assert!(text.contains("b08b8ab09"), "{text:?}");
    }

    #[test]
    fn synth_s2a_l2a_scale20() {
        check_product(DEFAULT_SCHEMA);
    }

    #[test]
    fn synth_s2b_l1c_scale20() {
        check_product(S2B_SCHEMA);
    }

    #[test]
    fn synth_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        synthesize(
            DEFAULT_SCHEMA,
            &a,
            &SynthOptions {
                scale: SCALE,
                ..Default::default()
            },
        )
        .unwrap();
        synthesize(
            DEFAULT_SCHEMA,
            &b,
            &SynthOptions {
                scale: SCALE,
                ..Default::default()
            },
        )
        .unwrap();
        let (fa, fb) = (files(&a), files(&b));
        assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
        for (k, v) in &fa {
            assert!(v == &fb[k], "{k} differs between runs");
        }
    }

    #[test]
    fn synth_refuses_non_empty_output_and_zero_scale() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), b"x").unwrap();
        let err = synthesize(
            DEFAULT_SCHEMA,
            dir.path(),
            &SynthOptions {
                scale: 20,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, SynthError::Output { .. }), "{err}");
        let err = synthesize(
            DEFAULT_SCHEMA,
            &dir.path().join("new"),
            &SynthOptions {
                scale: 0,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, SynthError::Usage(_)), "{err}");
    }

    #[test]
    fn synth_python_json() {
        assert_eq!(py_float_repr(699960.0), "699960.0");
        assert_eq!(py_float_repr(0.0001), "0.0001");
        assert_eq!(py_float_repr(0.00001), "1e-05");
        assert_eq!(py_float_repr(-0.1), "-0.1");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(1.5e300), "1.5e+300");
        assert_eq!(py_float_repr(0.49269999999999997), "0.49269999999999997");
        assert_eq!(py_float_repr(123456789012345.6), "123456789012345.6");
        let v: Value = serde_json::from_str(r#"{"b": [1, 2.5, {}], "a": "é\n", "c": []}"#).unwrap();
        assert_eq!(
            py_json(&v),
            "{\n    \"a\": \"\\u00e9\\n\",\n    \"b\": [\n        1,\n        2.5,\n        {}\n    ],\n    \"c\": []\n}"
        );
    }

    /// Odd corners: a spatial group without `proj:transform`, "/" separator,
    /// big-endian, datetime, bytes and 0-d arrays.
    #[test]
    fn synth_mini_schema_fallbacks() {
        let blosc = serde_json::json!({"blocksize": 0, "clevel": 3, "cname": "zstd", "id": "blosc", "shuffle": 2});
        let arr = |shape: Value,
                   chunks: Value,
                   dtype: &str,
                   fill: Value,
                   comp: &Value,
                   sep: &str,
                   attrs: Value| {
            serde_json::json!({"attributes": attrs, "chunks": chunks, "compressor": comp, "dimension_separator": sep,
                "dtype": dtype, "fill_value": fill, "filters": null, "order": "C", "shape": shape, "zarr_format": 2})
        };
        let group = |members: Value| serde_json::json!({"attributes": {}, "members": members, "zarr_format": 2});
        let refl = serde_json::json!({"_ARRAY_DIMENSIONS": ["y", "x"], "scale_factor": 0.0001});
        let mut b02_attrs = refl.clone();
        b02_attrs["proj:transform"] =
            serde_json::json!([10.0, 0.0, 600000.0, 0.0, -10.0, 5000040.0, 0.0, 0.0, 1.0]);
        b02_attrs["proj:shape"] = serde_json::json!([100, 100]);
        b02_attrs["proj:bbox"] = serde_json::json!([600000.0, 4999040.0, 601000.0, 5000040.0]);
        let xattrs = |d: &str| serde_json::json!({"_ARRAY_DIMENSIONS": [d]});
        let schema = group(serde_json::json!({
            "measurements": group(serde_json::json!({
                "r10m": group(serde_json::json!({
                    "b02": arr(serde_json::json!([100, 100]), serde_json::json!([30, 30]), "<u2", Value::from(0), &blosc, "/", b02_attrs),
                })),
                "r20m": group(serde_json::json!({
                    "b05": arr(serde_json::json!([50, 50]), serde_json::json!([20, 20]), "<u2", Value::from(0), &blosc, ".", refl),
                    "x": arr(serde_json::json!([50]), serde_json::json!([50]), "<i8", Value::Null, &blosc, ".", xattrs("x")),
                    "y": arr(serde_json::json!([50]), serde_json::json!([50]), "<i8", Value::Null, &blosc, ".", xattrs("y")),
                })),
            })),
            "misc": group(serde_json::json!({
                "t": arr(serde_json::json!([3]), serde_json::json!([2]), "<M8[ns]", Value::Null, &blosc, ".", xattrs("t")),
                "s": arr(serde_json::json!([2]), serde_json::json!([2]), "|S5", Value::Null, &Value::Null, ".", xattrs("s")),
                "be": arr(serde_json::json!([4]), serde_json::json!([4]), ">u2", Value::Null, &blosc, ".", xattrs("i")),
                "scalar": arr(serde_json::json!([]), serde_json::json!([]), "<f4", Value::from("NaN"), &Value::Null, ".", serde_json::json!({"_ARRAY_DIMENSIONS": []})),
            })),
        }));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mini.zarr");
        let s = synthesize(
            &schema.to_string(),
            &out,
            &SynthOptions {
                scale: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((s.arrays, s.groups), (8, 5));

        // "/" separator and the scaled transform.
        let b02 = open(&out, "/measurements/r10m/b02");
        assert_eq!(b02.shape(), &[34, 34]);
        assert!(out.join("measurements/r10m/b02/3/3").is_file());
        let v: Vec<u16> = b02.retrieve_array_subset(&b02.subset_all()).unwrap();
        assert!(v.iter().all(|&x| x <= 10_000) && v.iter().any(|&x| x > 0));
        let attrs = read_json(&out.join("measurements/r10m/b02/.zattrs"));
        assert_eq!(
            attrs["proj:transform"],
            serde_json::json!([30.0, 0.0, 600000.0, 0.0, -30.0, 5000040.0, 0.0, 0.0, 1.0])
        );
        assert_eq!(attrs["proj:shape"], serde_json::json!([34, 34]));
        assert_eq!(
            attrs["proj:bbox"],
            serde_json::json!([600000.0, 4999020.0, 601020.0, 5000040.0])
        );

        // r20m: resolution from the group name, corner from r10m.
        let b05 = open(&out, "/measurements/r20m/b05");
        assert_eq!(b05.shape(), &[17, 17]);
        assert_eq!(b05.chunk_grid_shape(), &[3, 3]);
        let x: Vec<i64> = open(&out, "/measurements/r20m/x")
            .retrieve_chunk(&[0])
            .unwrap();
        let y: Vec<i64> = open(&out, "/measurements/r20m/y")
            .retrieve_chunk(&[0])
            .unwrap();
        assert_eq!(x.len(), 17);
        assert_eq!((x[0], x[16], y[0]), (600_030, 600_990, 5_000_010));

        // Big-endian through zarrs, 0-d raw, bytes raw, datetime through c-blosc.
        let be: Vec<u16> = open(&out, "/misc/be").retrieve_chunk(&[0]).unwrap();
        assert_eq!(be, vec![0, 1, 2, 3]);
        assert_eq!(std::fs::read(out.join("misc/scalar/0")).unwrap().len(), 4);
        assert_eq!(
            std::fs::read(out.join("misc/s/0")).unwrap(),
            b"s0\0\0\0s1\0\0\0"
        );
        let t1 = std::fs::read(out.join("misc/t/1")).unwrap();
        let t1 = zarrs::array::codec::blosc_decompress_bytes(&t1, 16, 1).unwrap();
        assert_eq!(
            i64::from_le_bytes(t1[..8].try_into().unwrap()),
            EPOCH_NS + 2_000_000_000
        );
        assert_eq!(
            i64::from_le_bytes(t1[8..].try_into().unwrap()),
            0,
            "edge chunk padding"
        );
    }
}
