//! geozarr-synth: synthetic EOPF Sentinel-2 products (Zarr v2 on local disk),
//! built from a pydantic-zarr `GroupSpec` JSON schema (the metadata of a real
//! product).
//!
//! What it is for: inputs of any size without downloading one. The CLI's
//! `synth` and `demo` commands, the end-to-end tests, core's tests and the
//! benchmarks convert these products; `--encoding` writes the same values the
//! ways other writers store them, so readers are tested against each. The
//! crate depends on no other geozarr crate; `schemas/` holds the two real
//! product schemas (S2A L2A, embedded as [`DEFAULT_SCHEMA`], and S2B L1C).
//!
//! Every group and array of the schema is written: `.zgroup`, `.zattrs`,
//! `.zarray` (the schema's own JSON, with spatial shapes and chunks divided by
//! [`SynthOptions::scale`]) and every chunk, then a root `.zmetadata` in the
//! classic consolidated form (last, so a product that has it is whole). JSON
//! text is written the way zarr-python 2 writes it (`json.dumps(indent=4,
//! sort_keys=True, ensure_ascii=True)`).
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
//! fill-only chunks, other fill values; see [`Encoding`]).
//!
//! Where things live (in the order [`synthesize`] uses them):
//! - `schema`: walking the `GroupSpec` into groups and arrays;
//! - `geometry`: the tile and each group's grid, spatial arrays, scaling,
//!   chunk-grid indices, `proj:*` attributes;
//! - `dtype`: numpy data types and values converted to their bytes;
//! - `plan`: one array's plan (scaled metadata, fill values, encoder) and
//!   writing one chunk;
//! - `landscape`: the values of spatial arrays (reflectance, classes, masks…),
//!   from `noise` (hashes);
//! - `elements`: the values of the other arrays, element by element;
//! - `encoding`: `--encoding` parsed, applied to a `.zarray`, and its codecs;
//! - `output` and `pyjson`: files in the output directory, JSON as
//!   zarr-python 2 writes it;
//! - `s1`: Sentinel-1 GRD scenes (geometry, GCPs, calibration and noise
//!   LUTs, DN image with point targets) for GRD schemas ([`S1_SCHEMA`]);
//! - `error`: [`SynthError`].

#![warn(missing_docs, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::{Map, Value};
use zarrs::filesystem::FilesystemStore;

mod dtype;
mod elements;
mod encoding;
mod error;
mod geometry;
mod landscape;
mod noise;
mod output;
mod plan;
mod pyjson;
mod s1;
mod schema;
#[cfg(test)]
mod tests;

pub use encoding::{lz4_literal_block, BloscKeys, Cname, Compressor, Encoding, Shuffle};
pub use error::SynthError;

use error::Result;
use geometry::Tile;
use output::{meta_key, mkdir, node_dir, prepare_output, write_json};
use plan::ArrayPlan;
use schema::walk;

/// The S1A IW GRDH schema (two polarisations), embedded for `synth --schema s1`.
pub const S1_SCHEMA: &str = include_str!(
    "../schemas/S1A_IW_GRDH_1SDV_20241218T180252_20241218T180317_057050_0702F2_0BC2.json"
);

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
    let mut schema: Value = serde_json::from_str(schema_json)
        .map_err(|e| SynthError::input("<schema>", format!("invalid schema JSON: {e}")))?;
    // Sentinel-1 GRD: the image scaled, its annotation and values from a scene
    let scenes = if s1::is_s1(&schema) {
        Some(s1::prepare(&mut schema, opts.scale).map_err(|e| SynthError::input("<schema>", e))?)
    } else {
        None
    };
    prepare_output(out)?;

    let mut groups = Vec::new();
    let mut arrays = Vec::new();
    walk(&schema, String::new(), &mut groups, &mut arrays)?;

    let tile = Tile::new(&arrays, opts.scale);
    let store =
        Arc::new(FilesystemStore::new(out).map_err(|e| SynthError::storage(out.display(), e))?);
    let plans = arrays
        .iter()
        .map(|a| ArrayPlan::new(a, &tile, &store, &opts.encoding))
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
        .map(|&(a, c)| plans[a].write_chunk(out, &tile, c, scenes.as_ref()))
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
