//! One array's plan: its scaled `.zarray` and `.zattrs`, its fill values,
//! what its values look like, how its chunks are encoded (zarrs, c-blosc
//! directly, raw, or an `--encoding` codec), and writing one chunk.

use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::codec::{
    blosc_compress_bytes, BloscCompressionLevel, BloscCompressor, BloscShuffleMode,
};
use zarrs::array::{
    Array, ArrayBytes, ArrayMetadata, ArrayMetadataV2, ArrayToBytesCodecTraits, CodecOptions,
};
use zarrs::filesystem::FilesystemStore;

use crate::dtype::{fill_bytes, Num, NumpyKind, NumpyType};
use crate::encoding::{self, ArrayFacts, Codec, Encoding};
use crate::error::{Result, SynthError};
use crate::geometry::{is_spatial_grid, scale_axes, unravel, update_proj, Geo, Tile};
use crate::landscape::{spatial_kind, FieldKind};
use crate::noise::fnv1a;
use crate::output::mkdir;
use crate::s1::Scenes;
use crate::schema::{dims_of, display_path, shape_of, SchemaArray};

/// How an array's chunks are encoded.
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

/// Everything needed to write one array: its metadata files and, chunk by
/// chunk, its values.
pub(crate) struct ArrayPlan {
    /// "a/b/c".
    pub(crate) path: String,
    /// "c".
    pub(crate) name: String,
    /// `_ARRAY_DIMENSIONS`.
    pub(crate) dims: Vec<String>,
    /// The schema's attributes.
    pub(crate) attrs: Map<String, Value>,
    /// The data type.
    pub(crate) dtype: NumpyType,
    /// Scaled shape.
    pub(crate) shape: Vec<u64>,
    /// Scaled chunk shape.
    pub(crate) chunks: Vec<u64>,
    /// Chunk key separator (`.` or `/`).
    pub(crate) separator: String,
    /// The `.zarray` written.
    pub(crate) zarray: Map<String, Value>,
    /// The `.zattrs` written (`proj:*` scaled).
    pub(crate) zattrs: Map<String, Value>,
    /// One element of the schema's fill value: what the values are generated
    /// with (nodata, padding).
    pub(crate) fill: Vec<u8>,
    /// One element of the written `.zarray`'s fill value (`None`: `null`).
    pub(crate) stored_fill: Option<Vec<u8>>,
    /// Chunk bytes in Fortran order.
    pub(crate) order_f: bool,
    /// Chunks holding only `stored_fill` are not written.
    pub(crate) sparse: bool,
    /// Scaled grid of this array's group, for spatial arrays and their x/y.
    pub(crate) geo: Option<Geo>,
    /// What the values look like.
    pub(crate) kind: FieldKind,
    /// How chunks are encoded.
    encoder: Encoder,
    /// Seed for this array's noise.
    pub(crate) seed: u64,
    /// Side length of the tile in metres.
    pub(crate) extent: f64,
}

impl ArrayPlan {
    /// The plan of schema array `a` on `tile`, encoded with `encoding`
    /// (zarrs arrays are opened on `store`).
    pub(crate) fn new(
        a: &SchemaArray,
        tile: &Tile,
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
        let dtype = NumpyType::parse(dtype_str).ok_or_else(|| {
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
            && tile.geos.contains_key(&a.group);
        let geo = tile.geos.get(&a.group).map(|g| g.scaled(tile.scale));
        let scaled_axes: Vec<usize> = if spatial {
            vec![nd - 2, nd - 1]
        } else if coord {
            vec![0]
        } else {
            vec![]
        };
        let (new_shape, new_chunks) = scale_axes(&shape, &chunks, &scaled_axes, tile.scale);

        let mut zarray = a.node.clone();
        zarray.remove("attributes");
        zarray.remove("members");
        zarray.insert("shape".into(), Value::from(new_shape.clone()));
        zarray.insert("chunks".into(), Value::from(new_chunks.clone()));
        let mut zattrs = attrs.clone();
        if spatial && tile.scale != 1 {
            if let Some(g) = geo {
                update_proj(&mut zattrs, g, new_shape[nd - 2], new_shape[nd - 1]);
            }
        }
        let fill_value = a.node.get("fill_value").cloned().unwrap_or(Value::Null);
        let fill = fill_bytes(&dtype, &fill_value);

        // Another encoding: numeric arrays only (strings and datetimes keep
        // the schema's, through zarrs or c-blosc as before).
        let numeric = matches!(dtype.dt, NumpyKind::Num(_));
        let codec = if numeric {
            let facts = ArrayFacts {
                item: dtype.size(),
                float: matches!(dtype.dt, NumpyKind::Num(Num::F4 | Num::F8)),
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
            FieldKind::Element
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
            extent: tile.extent,
        })
    }

    /// Number of chunks along each dimension.
    fn grid(&self) -> Vec<u64> {
        self.shape
            .iter()
            .zip(&self.chunks)
            .map(|(s, c)| s.div_ceil(*c))
            .collect()
    }

    /// Number of chunks.
    pub(crate) fn n_chunks(&self) -> u64 {
        self.grid().iter().product()
    }

    /// Uncompressed size of one chunk.
    pub(crate) fn chunk_bytes(&self) -> u64 {
        self.chunks.iter().product::<u64>() * self.dtype.size() as u64
    }

    /// The file name of chunk `idx` (`0` for 0-d arrays).
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
    pub(crate) fn write_chunk(
        &self,
        out: &Path,
        tile: &Tile,
        linear: u64,
        scenes: Option<&Scenes>,
    ) -> Result<Option<u64>> {
        let grid = self.grid();
        let idx = unravel(linear, &grid);
        let dtype = self
            .zarray
            .get("dtype")
            .and_then(Value::as_str)
            .unwrap_or("");
        let scene =
            scenes.and_then(|s| s.chunk(&self.path, dtype, &self.shape, &self.chunks, &idx));
        let mut buf = match (scene, &self.kind) {
            (Some(b), _) => b,
            (None, FieldKind::Element) => self.element_chunk(tile, &idx),
            (None, _) => self.spatial_chunk(&idx),
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
            NumpyKind::Str(_) => 4,
            NumpyKind::Bytes(_) | NumpyKind::Other(_) => 1,
            _ => self.dtype.size(),
        };
        if unit > 1 {
            buf.chunks_exact_mut(unit).for_each(<[u8]>::reverse);
        }
    }

    /// A chunk's worth of the schema's fill value.
    pub(crate) fn new_buffer(&self) -> Vec<u8> {
        let n = self.chunks.iter().product::<u64>() as usize;
        if self.fill.iter().all(|&b| b == 0) {
            vec![0u8; n * self.fill.len()]
        } else {
            self.fill.repeat(n)
        }
    }
}

/// The encoder of `zarray` (C order): raw bytes without a compressor or
/// filters, else zarrs when it takes the array, else c-blosc directly.
fn make_encoder(
    a: &SchemaArray,
    zarray: &Map<String, Value>,
    dtype: &NumpyType,
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
