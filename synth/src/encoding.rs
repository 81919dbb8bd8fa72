//! How a synthetic product's numeric arrays are encoded (`synth --encoding`).
//!
//! Real writers store the same values in many valid ways: another compressor
//! (or none), blosc frames with another type size, block size or thread count,
//! `/`-separated chunk keys, Fortran-order chunks, chunks left out because
//! they hold nothing but the fill value, other fill values. An [`Encoding`]
//! names one such way; [`super::synthesize`] writes the very same values with
//! it, so readers can be tested against each.
//!
//! Grammar (parts joined with `+`, in any order; [`Encoding`]'s `Display`
//! gives the canonical form back):
//!
//! ```text
//! encoding   = part *( "+" part )
//! part       = compressor / layout            ; at most one compressor part
//! compressor = "default" / "none" / "zstd" / "zlib" / "gzip" / "lz4"
//!            / "blosc" [ ":" key "=" value *( "," key "=" value ) ]
//!            / "blosc-typesize1"               ; = blosc:typesize=1
//! key        = "cname"      ; blosclz | lz4 | lz4hc | zlib | zstd
//!            / "clevel"     ; 0..=9 (0: frames stored uncompressed, "memcpyed")
//!            / "shuffle"    ; none | byte | bit
//!            / "typesize"   ; 1..=255, written into the frame header
//!            / "blocksize"  ; bytes, 0 (blosc's choice) or 128..=2^31-1
//!            / "threads"    ; 1..=256 compressor threads (>1: blocks may be stored out of order)
//! layout     = "slash" / "order-f" / "sparse" / "fill-null" / "fill-nan"
//! ```
//!
//! Every key at most once, every part at most once. Compressors as numcodecs
//! writes them:
//! - `none`: `"compressor": null`, the bytes as they are;
//! - `zstd`: `{"id": "zstd", "level": 3}`, one zstd frame with its content size;
//! - `zlib`: `{"id": "zlib", "level": 5}`, a zlib stream with zlib's own
//!   header for level 5 (`78 5e`);
//! - `gzip`: `{"id": "gzip", "level": 5}`, a gzip stream with the header
//!   Python's `gzip` writes, except the time: 0 instead of now, so that
//!   products are reproducible;
//! - `lz4`: `{"id": "lz4", "acceleration": 1}`, numcodecs' LZ4 format: the
//!   uncompressed size (4 bytes, little-endian) and one LZ4 block. The block is
//!   written by [`lz4_literal_block`]: all literals, no matches — a valid block
//!   any LZ4 decoder reads, just not a smaller one (no LZ4 compressor is a
//!   dependency here, and a fixture writer does not need one);
//! - `blosc[:…]`: c-blosc 1 frames; the array's own blosc settings from the
//!   schema (zstd, clevel 3, bit shuffle, blocksize 0 when it has none),
//!   overridden by the keys; type size = item size unless `typesize` is given
//!   (zarr-python 3 hands numcodecs' Blosc plain bytes, so it writes 1).
//!   `.zarray` gets `{"blocksize", "clevel", "cname", "id": "blosc",
//!   "shuffle": 0|1|2}` (numcodecs does not record the type size).
//!
//! A compressor part replaces the array's compressor and its filters
//! (`"filters": null`); `default` keeps both as the schema has them.
//!
//! Layout parts: `slash` — `"dimension_separator": "/"`; `order-f` —
//! `"order": "F"` and Fortran-order chunk bytes (arrays of 2+ dimensions);
//! `sparse` — chunks whose every element equals the fill value are not
//! written (zarr-python's default; never with a `null` fill value, which
//! has no value to compare with); `fill-null` — `"fill_value": null` on
//! numeric arrays; `fill-nan` — `"fill_value": "NaN"` on float arrays (with
//! both, floats get NaN). A changed fill value changes what a missing chunk
//! and the padding of edge chunks hold, never a value inside the array.
//!
//! The variant applies to numeric arrays only; strings and datetimes keep
//! the schema's encoding.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void};
use std::fmt;
use std::io::Write;
use std::str::FromStr;

use serde_json::{Map, Value};
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{BytesToBytesCodecTraits, CodecOptions};

const COMPRESSORS: &str =
    "default, none, zstd, zlib, gzip, lz4, blosc[:key=value,…], blosc-typesize1";
const LAYOUTS: &str = "slash, order-f, sparse, fill-null, fill-nan";
const BLOSC_KEYS: &str = "cname, clevel, shuffle, typesize, blocksize, threads";

/// numcodecs' defaults for the compressors written here.
const ZSTD_LEVEL: i32 = 3;
const ZLIB_LEVEL: u32 = 5;
const GZIP_LEVEL: u32 = 5;

/// How the numeric arrays of a synthetic product are encoded; parsed from
/// `zstd+slash`-style strings (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encoding {
    /// The compressor (`default`: as the schema says).
    pub compressor: Compressor,
    /// `"dimension_separator": "/"`.
    pub slash: bool,
    /// `"order": "F"` (arrays of 2+ dimensions).
    pub order_f: bool,
    /// Chunks holding only the fill value are not written.
    pub sparse: bool,
    /// `"fill_value": null` on numeric arrays.
    pub fill_null: bool,
    /// `"fill_value": "NaN"` on float arrays.
    pub fill_nan: bool,
}

/// The compressor part of an [`Encoding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compressor {
    /// The schema's compressor and filters, as they are.
    #[default]
    Default,
    /// `"compressor": null`.
    None,
    /// numcodecs Zstd, level 3.
    Zstd,
    /// numcodecs Zlib, level 5.
    Zlib,
    /// numcodecs GZip, level 5.
    Gzip,
    /// numcodecs LZ4, acceleration 1.
    Lz4,
    /// Blosc from the schema's settings, with these overrides.
    Blosc(BloscKeys),
}

/// Overrides of the blosc settings (`None`: the array's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BloscKeys {
    /// Blosc's inner compressor.
    pub cname: Option<Cname>,
    /// Compression level, 0..=9 (0: frames stored uncompressed).
    pub clevel: Option<u8>,
    /// Shuffle filter.
    pub shuffle: Option<Shuffle>,
    /// Type size written into the frame header (1..=255).
    pub typesize: Option<u8>,
    /// Block size in bytes (0: blosc's choice).
    pub blocksize: Option<u32>,
    /// Compressor threads (1..=256).
    pub threads: Option<u16>,
}

/// Blosc's inner compressors (as numcodecs builds c-blosc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cname {
    /// `blosclz`.
    BloscLz,
    /// `lz4`.
    Lz4,
    /// `lz4hc`.
    Lz4hc,
    /// `zlib`.
    Zlib,
    /// `zstd`.
    Zstd,
}

impl Cname {
    const ALL: [Cname; 5] = [
        Cname::BloscLz,
        Cname::Lz4,
        Cname::Lz4hc,
        Cname::Zlib,
        Cname::Zstd,
    ];

    /// The name numcodecs and c-blosc use (`blosclz`, `lz4`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Cname::BloscLz => "blosclz",
            Cname::Lz4 => "lz4",
            Cname::Lz4hc => "lz4hc",
            Cname::Zlib => "zlib",
            Cname::Zstd => "zstd",
        }
    }

    fn c_name(self) -> &'static std::ffi::CStr {
        match self {
            Cname::BloscLz => c"blosclz",
            Cname::Lz4 => c"lz4",
            Cname::Lz4hc => c"lz4hc",
            Cname::Zlib => c"zlib",
            Cname::Zstd => c"zstd",
        }
    }

    fn parse(s: &str) -> Option<Cname> {
        Cname::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Blosc shuffle filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shuffle {
    /// No shuffle (numcodecs 0).
    None,
    /// Byte shuffle (numcodecs 1).
    Byte,
    /// Bit shuffle (numcodecs 2).
    Bit,
}

impl Shuffle {
    /// The name in an encoding string (`none`, `byte`, `bit`).
    pub fn as_str(self) -> &'static str {
        match self {
            Shuffle::None => "none",
            Shuffle::Byte => "byte",
            Shuffle::Bit => "bit",
        }
    }

    /// numcodecs' (and c-blosc's) number.
    pub fn code(self) -> i64 {
        match self {
            Shuffle::None => 0,
            Shuffle::Byte => 1,
            Shuffle::Bit => 2,
        }
    }
}

impl Encoding {
    /// The schema's own encoding.
    pub fn is_default(&self) -> bool {
        *self == Encoding::default()
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<Cow<'static, str>> = Vec::new();
        match self.compressor {
            Compressor::Default => {}
            Compressor::None => parts.push("none".into()),
            Compressor::Zstd => parts.push("zstd".into()),
            Compressor::Zlib => parts.push("zlib".into()),
            Compressor::Gzip => parts.push("gzip".into()),
            Compressor::Lz4 => parts.push("lz4".into()),
            Compressor::Blosc(k) => {
                let mut keys = Vec::new();
                if let Some(c) = k.cname {
                    keys.push(format!("cname={}", c.as_str()));
                }
                if let Some(c) = k.clevel {
                    keys.push(format!("clevel={c}"));
                }
                if let Some(s) = k.shuffle {
                    keys.push(format!("shuffle={}", s.as_str()));
                }
                if let Some(t) = k.typesize {
                    keys.push(format!("typesize={t}"));
                }
                if let Some(b) = k.blocksize {
                    keys.push(format!("blocksize={b}"));
                }
                if let Some(t) = k.threads {
                    keys.push(format!("threads={t}"));
                }
                parts.push(if keys.is_empty() {
                    "blosc".into()
                } else {
                    format!("blosc:{}", keys.join(",")).into()
                });
            }
        }
        for (on, name) in [
            (self.slash, "slash"),
            (self.order_f, "order-f"),
            (self.sparse, "sparse"),
            (self.fill_null, "fill-null"),
            (self.fill_nan, "fill-nan"),
        ] {
            if on {
                parts.push(name.into());
            }
        }
        if parts.is_empty() {
            f.write_str("default")
        } else {
            f.write_str(&parts.join("+"))
        }
    }
}

impl FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Encoding, String> {
        let mut enc = Encoding::default();
        let mut compressor_part: Option<&str> = None;
        if s.trim().is_empty() {
            return Err(format!(
                "empty encoding (parts, joined with `+`: {COMPRESSORS}; {LAYOUTS})"
            ));
        }
        for part in s.trim().split('+') {
            if part.is_empty() {
                return Err(format!(
                    "empty part in encoding `{s}` (parts are joined with a single `+`)"
                ));
            }
            let layout = match part {
                "slash" => Some(&mut enc.slash),
                "order-f" => Some(&mut enc.order_f),
                "sparse" => Some(&mut enc.sparse),
                "fill-null" => Some(&mut enc.fill_null),
                "fill-nan" => Some(&mut enc.fill_nan),
                _ => None,
            };
            if let Some(flag) = layout {
                if *flag {
                    return Err(format!("encoding part `{part}` given twice"));
                }
                *flag = true;
                continue;
            }
            let compressor = match part {
                "default" => Compressor::Default,
                "none" => Compressor::None,
                "zstd" => Compressor::Zstd,
                "zlib" => Compressor::Zlib,
                "gzip" => Compressor::Gzip,
                "lz4" => Compressor::Lz4,
                "blosc" => Compressor::Blosc(BloscKeys::default()),
                "blosc-typesize1" => Compressor::Blosc(BloscKeys {
                    typesize: Some(1),
                    ..BloscKeys::default()
                }),
                _ => match part.strip_prefix("blosc:") {
                    Some(keys) => Compressor::Blosc(parse_blosc_keys(keys)?),
                    None => {
                        return Err(format!(
                            "unknown encoding part `{part}` (accepted, joined with `+`: \
                             at most one compressor of {COMPRESSORS}; any of {LAYOUTS})"
                        ))
                    }
                },
            };
            if let Some(first) = compressor_part {
                return Err(format!(
                    "`{first}` and `{part}` are both compressors; give at most one of {COMPRESSORS}"
                ));
            }
            compressor_part = Some(part);
            enc.compressor = compressor;
        }
        Ok(enc)
    }
}

fn parse_blosc_keys(keys: &str) -> Result<BloscKeys, String> {
    let mut k = BloscKeys::default();
    if keys.is_empty() {
        return Err(format!(
            "`blosc:` without keys (write `blosc`, or `blosc:key=value,…` with keys {BLOSC_KEYS})"
        ));
    }
    for kv in keys.split(',') {
        let Some((key, value)) = kv.split_once('=') else {
            return Err(format!(
                "blosc: `{kv}` is not key=value (keys: {BLOSC_KEYS})"
            ));
        };
        let twice = || format!("blosc: key `{key}` given twice");
        fn num<T: FromStr + PartialOrd + fmt::Display>(
            key: &str,
            value: &str,
            lo: T,
            hi: T,
        ) -> Result<T, String> {
            match value.parse::<T>() {
                Ok(v) if v >= lo && v <= hi => Ok(v),
                _ => Err(format!(
                    "blosc: {key} `{value}` is not an integer in {lo}..={hi}"
                )),
            }
        }
        match key {
            "cname" => {
                if k.cname.is_some() {
                    return Err(twice());
                }
                k.cname = Some(Cname::parse(value).ok_or_else(|| {
                    format!("blosc: cname `{value}` is not one of blosclz, lz4, lz4hc, zlib, zstd")
                })?);
            }
            "clevel" => {
                if k.clevel.is_some() {
                    return Err(twice());
                }
                k.clevel = Some(num(key, value, 0u8, 9)?);
            }
            "shuffle" => {
                if k.shuffle.is_some() {
                    return Err(twice());
                }
                k.shuffle = Some(match value {
                    "none" => Shuffle::None,
                    "byte" => Shuffle::Byte,
                    "bit" => Shuffle::Bit,
                    _ => {
                        return Err(format!(
                            "blosc: shuffle `{value}` is not one of none, byte, bit"
                        ))
                    }
                });
            }
            "typesize" => {
                if k.typesize.is_some() {
                    return Err(twice());
                }
                k.typesize = Some(num(key, value, 1u8, 255)?);
            }
            "blocksize" => {
                if k.blocksize.is_some() {
                    return Err(twice());
                }
                let b = num(key, value, 0u32, i32::MAX as u32)?;
                if b != 0 && b < 128 {
                    return Err(format!(
                        "blosc: blocksize `{value}` is below blosc's minimum of 128 bytes (0: blosc's choice)"
                    ));
                }
                k.blocksize = Some(b);
            }
            "threads" => {
                if k.threads.is_some() {
                    return Err(twice());
                }
                k.threads = Some(num(key, value, 1u16, 256)?);
            }
            _ => {
                return Err(format!(
                    "blosc: unknown key `{key}` (accepted: {BLOSC_KEYS})"
                ))
            }
        }
    }
    Ok(k)
}

// ---------------------------------------------------------------------------
// Applying an encoding to one array
// ---------------------------------------------------------------------------

/// A compressor resolved for one array, encoding its chunks without zarrs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Codec {
    /// The bytes as they are.
    Raw,
    Zstd,
    Zlib,
    Gzip,
    Lz4,
    Blosc {
        cname: Cname,
        clevel: u8,
        /// numcodecs' number: 0, 1, 2, or -1 (AUTOSHUFFLE, from a schema).
        shuffle: i64,
        typesize: usize,
        blocksize: usize,
        threads: usize,
    },
}

/// Facts about one numeric array the encoding needs.
pub(super) struct ArrayFacts {
    /// Item size in bytes.
    pub item: usize,
    pub float: bool,
    /// Number of dimensions.
    pub nd: usize,
}

impl Encoding {
    /// Rewrite `zarray` (the array's `.zarray` as the schema has it) for this
    /// encoding, and return the codec to encode its chunks with, or `None` to
    /// encode as the (rewritten) `.zarray` says, as before.
    pub(super) fn apply(
        &self,
        zarray: &mut Map<String, Value>,
        a: &ArrayFacts,
    ) -> Result<Option<Codec>, String> {
        if self.slash {
            zarray.insert("dimension_separator".into(), Value::from("/"));
        }
        if self.order_f && a.nd >= 2 {
            zarray.insert("order".into(), Value::from("F"));
        }
        if self.fill_nan && a.float {
            zarray.insert("fill_value".into(), Value::from("NaN"));
        } else if self.fill_null {
            zarray.insert("fill_value".into(), Value::Null);
        }
        let (codec, json) = match self.compressor {
            Compressor::Default => return Ok(None),
            Compressor::None => (Codec::Raw, Value::Null),
            Compressor::Zstd => (
                Codec::Zstd,
                serde_json::json!({"id": "zstd", "level": ZSTD_LEVEL}),
            ),
            Compressor::Zlib => (
                Codec::Zlib,
                serde_json::json!({"id": "zlib", "level": ZLIB_LEVEL}),
            ),
            Compressor::Gzip => (
                Codec::Gzip,
                serde_json::json!({"id": "gzip", "level": GZIP_LEVEL}),
            ),
            Compressor::Lz4 => (
                Codec::Lz4,
                serde_json::json!({"id": "lz4", "acceleration": 1}),
            ),
            Compressor::Blosc(k) => {
                let schema = zarray
                    .get("compressor")
                    .and_then(Value::as_object)
                    .filter(|c| c.get("id").and_then(Value::as_str) == Some("blosc"));
                let (mut cname, mut clevel, mut shuffle, mut blocksize) =
                    (Cname::Zstd, 3u8, 2i64, 0usize);
                if let Some(c) = schema {
                    let name = c.get("cname").and_then(Value::as_str).unwrap_or("lz4");
                    cname = Cname::parse(name).ok_or_else(|| {
                        format!("the schema's blosc cname `{name}` is not one of blosclz, lz4, lz4hc, zlib, zstd")
                    })?;
                    clevel = c.get("clevel").and_then(Value::as_u64).unwrap_or(5).min(9) as u8;
                    shuffle = c.get("shuffle").and_then(Value::as_i64).unwrap_or(1);
                    blocksize = c.get("blocksize").and_then(Value::as_u64).unwrap_or(0) as usize;
                }
                cname = k.cname.unwrap_or(cname);
                clevel = k.clevel.unwrap_or(clevel);
                shuffle = k.shuffle.map_or(shuffle, Shuffle::code);
                blocksize = k.blocksize.map_or(blocksize, |b| b as usize);
                let json = serde_json::json!({
                    "blocksize": blocksize,
                    "clevel": clevel,
                    "cname": cname.as_str(),
                    "id": "blosc",
                    "shuffle": shuffle,
                });
                let codec = Codec::Blosc {
                    cname,
                    clevel,
                    shuffle,
                    typesize: k.typesize.map_or(a.item, usize::from),
                    blocksize,
                    threads: k.threads.map_or(1, usize::from),
                };
                (codec, json)
            }
        };
        zarray.insert("compressor".into(), json);
        zarray.insert("filters".into(), Value::Null);
        Ok(Some(codec))
    }
}

impl Codec {
    /// Encode one chunk's stored bytes (byte order and memory order as the
    /// `.zarray` says).
    pub(super) fn encode(&self, raw: Vec<u8>) -> Result<Vec<u8>, String> {
        match *self {
            Codec::Raw => Ok(raw),
            Codec::Zstd => ZstdCodec::new(ZSTD_LEVEL, false)
                .encode(Cow::Borrowed(&raw), &CodecOptions::default())
                .map(Cow::into_owned)
                .map_err(|e| format!("zstd: {e}")),
            Codec::Zlib => zlib_stream(&raw, ZLIB_LEVEL).map_err(|e| format!("zlib: {e}")),
            Codec::Gzip => {
                let mut z = flate2::GzBuilder::new().mtime(0).write(
                    Vec::with_capacity(raw.len() / 2 + 64),
                    flate2::Compression::new(GZIP_LEVEL),
                );
                z.write_all(&raw).map_err(|e| format!("gzip: {e}"))?;
                z.finish().map_err(|e| format!("gzip: {e}"))
            }
            Codec::Lz4 => {
                let n = u32::try_from(raw.len())
                    .map_err(|_| format!("lz4: a chunk of {} bytes is too large", raw.len()))?;
                let block = lz4_literal_block(&raw);
                let mut out = Vec::with_capacity(4 + block.len());
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(&block);
                Ok(out)
            }
            Codec::Blosc {
                cname,
                clevel,
                shuffle,
                typesize,
                blocksize,
                threads,
            } => blosc_frame(&raw, cname, clevel, shuffle, typesize, blocksize, threads),
        }
    }
}

/// A zlib stream of `raw` (RFC 1950) with the header zlib itself writes at
/// `level` (`78 5e` at level 5, as Python's `zlib.compress` and so numcodecs'
/// Zlib; flate2's own wrapper would write `78 9c`): header, raw deflate,
/// Adler-32 of `raw`.
fn zlib_stream(raw: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let flevel: u16 = match level {
        0 | 1 => 0,
        2..=5 => 1,
        6 => 2,
        _ => 3,
    };
    let mut header: u16 = 0x7800 | (flevel << 6);
    header += (31 - header % 31) % 31;
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(raw.len() / 2 + 64),
        flate2::Compression::new(level),
    );
    z.get_mut().extend_from_slice(&header.to_be_bytes());
    z.write_all(raw)?;
    let mut out = z.finish()?;
    out.extend_from_slice(&adler32(raw).to_be_bytes());
    Ok(out)
}

/// Adler-32 (RFC 1950).
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes at most between reductions keep `b` within u32.
    for block in data.chunks(5552) {
        for &x in block {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// One c-blosc 1 frame of `raw`, as numcodecs' `Blosc.encode` makes it.
fn blosc_frame(
    raw: &[u8],
    cname: Cname,
    clevel: u8,
    shuffle: i64,
    typesize: usize,
    blocksize: usize,
    threads: usize,
) -> Result<Vec<u8>, String> {
    // numcodecs AUTOSHUFFLE (-1): bit shuffle for 1-byte items, else byte.
    let doshuffle = match shuffle {
        -1 if typesize == 1 => 2,
        -1 => 1,
        s => s,
    };
    let cap = raw.len() + blosc_src::BLOSC_MAX_OVERHEAD as usize;
    let mut out: Vec<u8> = Vec::with_capacity(cap);
    // SAFETY: `raw` is valid for `raw.len()` bytes, `out` has `cap` spare
    // bytes, and the compressor name is a NUL-terminated string.
    let n = unsafe {
        blosc_src::blosc_compress_ctx(
            c_int::from(clevel),
            doshuffle as c_int,
            typesize,
            raw.len(),
            raw.as_ptr().cast::<c_void>(),
            out.as_mut_ptr().cast::<c_void>(),
            cap,
            cname.c_name().as_ptr().cast::<c_char>(),
            blocksize,
            threads as c_int,
        )
    };
    if n <= 0 {
        return Err(format!(
            "blosc compression of {} bytes failed ({n}): cname {}, clevel {clevel}, shuffle {shuffle}, typesize {typesize}, blocksize {blocksize}, threads {threads}",
            raw.len(),
            cname.as_str()
        ));
    }
    // SAFETY: blosc wrote `n <= cap` bytes.
    unsafe { out.set_len(n as usize) };
    Ok(out)
}

/// `data` as one LZ4 block made of a single literal run: a token whose high
/// nibble is the literal length (15, then bytes of 255 and a last byte below
/// 255 adding to it, when the length is 15 or more), then the bytes. This is
/// the LZ4 block format's last sequence (literals, no match), so every LZ4
/// decoder (`LZ4_decompress_safe`, as numcodecs calls it) reads it.
///
/// The block is not smaller than `data` (it is `data.len() + 1 +
/// (data.len() - 15) / 255 + 1` bytes at most, within `LZ4_compressBound`):
/// no LZ4 compressor is a dependency of this crate, and a writer of test
/// fixtures only needs a valid block, not a small one.
pub fn lz4_literal_block(data: &[u8]) -> Vec<u8> {
    let n = data.len();
    let mut out = Vec::with_capacity(n + n / 255 + 2);
    if n < 15 {
        out.push((n as u8) << 4);
    } else {
        out.push(0xF0);
        let mut rest = n - 15;
        while rest >= 255 {
            out.push(255);
            rest -= 255;
        }
        out.push(rest as u8);
    }
    out.extend_from_slice(data);
    out
}

/// The elements of a C-order chunk of `shape` (`item` bytes each) in
/// Fortran order (first index fastest).
pub(super) fn c_to_f_order(buf: &[u8], shape: &[usize], item: usize) -> Vec<u8> {
    let nd = shape.len();
    let mut stride = vec![1usize; nd];
    for d in 1..nd {
        stride[d] = stride[d - 1] * shape[d - 1];
    }
    let mut out = vec![0u8; buf.len()];
    let mut idx = vec![0usize; nd];
    let mut at = 0usize;
    for src in buf.chunks_exact(item) {
        out[at * item..(at + 1) * item].copy_from_slice(src);
        // Next C-order index (last fastest), and its Fortran-order offset.
        let mut d = nd;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            at += stride[d];
            if idx[d] < shape[d] {
                break;
            }
            at -= stride[d] * shape[d];
            idx[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests;
