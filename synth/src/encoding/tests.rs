//! Parsing of encodings, the codecs, and products written with each variant
//! against the default product's values.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use zarrs::array::{Array, ArrayBytes};
use zarrs::filesystem::FilesystemStore;

use super::*;
use crate::dtype::{fill_bytes, NumpyKind, NumpyType};
use crate::geometry::unravel;
use crate::{synthesize, SynthOptions, DEFAULT_SCHEMA};

fn enc(s: &str) -> Encoding {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` does not parse: {e}"))
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

#[test]
fn synth_encoding_parses_every_part() {
    assert_eq!(enc("default"), Encoding::default());
    assert!(enc("default").is_default());
    for (s, c) in [
        ("none", Compressor::None),
        ("zstd", Compressor::Zstd),
        ("zlib", Compressor::Zlib),
        ("gzip", Compressor::Gzip),
        ("lz4", Compressor::Lz4),
        ("blosc", Compressor::Blosc(BloscKeys::default())),
        (
            "blosc-typesize1",
            Compressor::Blosc(BloscKeys {
                typesize: Some(1),
                ..Default::default()
            }),
        ),
    ] {
        let e = enc(s);
        assert_eq!(e.compressor, c, "{s}");
        assert!(!e.is_default());
        assert!(!(e.slash || e.order_f || e.sparse || e.fill_null || e.fill_nan));
    }
    let layout = enc("slash+order-f+sparse+fill-null+fill-nan");
    assert_eq!(
        layout,
        Encoding {
            compressor: Compressor::Default,
            slash: true,
            order_f: true,
            sparse: true,
            fill_null: true,
            fill_nan: true,
        }
    );
    for (s, field) in [
        ("slash", 0),
        ("order-f", 1),
        ("sparse", 2),
        ("fill-null", 3),
        ("fill-nan", 4),
    ] {
        let e = enc(s);
        let flags = [e.slash, e.order_f, e.sparse, e.fill_null, e.fill_nan];
        for (k, f) in flags.iter().enumerate() {
            assert_eq!(*f, k == field, "{s}");
        }
    }

    // Blosc keys, every value.
    let keys = |s: &str| match enc(s).compressor {
        Compressor::Blosc(k) => k,
        other => panic!("{s}: {other:?}"),
    };
    for (v, c) in [
        ("blosclz", Cname::BloscLz),
        ("lz4", Cname::Lz4),
        ("lz4hc", Cname::Lz4hc),
        ("zlib", Cname::Zlib),
        ("zstd", Cname::Zstd),
    ] {
        assert_eq!(keys(&format!("blosc:cname={v}")).cname, Some(c));
    }
    for l in 0..=9u8 {
        assert_eq!(keys(&format!("blosc:clevel={l}")).clevel, Some(l));
    }
    for (v, s) in [
        ("none", Shuffle::None),
        ("byte", Shuffle::Byte),
        ("bit", Shuffle::Bit),
    ] {
        assert_eq!(keys(&format!("blosc:shuffle={v}")).shuffle, Some(s));
    }
    for t in [1u8, 2, 8, 255] {
        assert_eq!(keys(&format!("blosc:typesize={t}")).typesize, Some(t));
    }
    for b in [0u32, 128, 16384, 1 << 20] {
        assert_eq!(keys(&format!("blosc:blocksize={b}")).blocksize, Some(b));
    }
    for t in [1u16, 4, 256] {
        assert_eq!(keys(&format!("blosc:threads={t}")).threads, Some(t));
    }
    assert_eq!(
        keys("blosc:threads=2,typesize=1,blocksize=0,shuffle=none,clevel=0,cname=lz4"),
        BloscKeys {
            cname: Some(Cname::Lz4),
            clevel: Some(0),
            shuffle: Some(Shuffle::None),
            typesize: Some(1),
            blocksize: Some(0),
            threads: Some(2),
        }
    );
}

#[test]
fn synth_encoding_display_is_canonical() {
    for (input, canonical) in [
        ("default", "default"),
        ("none", "none"),
        ("zstd", "zstd"),
        ("zlib", "zlib"),
        ("gzip", "gzip"),
        ("lz4", "lz4"),
        ("blosc", "blosc"),
        ("blosc-typesize1", "blosc:typesize=1"),
        ("default+slash", "slash"),
        ("slash+default", "slash"),
        ("slash+zstd", "zstd+slash"),
        (
            "fill-nan+sparse+order-f+slash+fill-null",
            "slash+order-f+sparse+fill-null+fill-nan",
        ),
        (
            "sparse+blosc:threads=4,cname=lz4hc,clevel=07,shuffle=byte,blocksize=16384,typesize=1",
            "blosc:cname=lz4hc,clevel=7,shuffle=byte,typesize=1,blocksize=16384,threads=4+sparse",
        ),
        ("  gzip+order-f ", "gzip+order-f"),
    ] {
        let e = enc(input);
        assert_eq!(e.to_string(), canonical, "{input}");
        assert_eq!(enc(canonical), e, "{canonical} round trip");
        assert_eq!(enc(&e.to_string()).to_string(), canonical);
    }
}

#[test]
fn synth_encoding_rejects_bad_input() {
    for (input, expected) in [
        ("", "empty encoding"),
        ("   ", "empty encoding"),
        ("bogus", "unknown encoding part `bogus`"),
        ("zstd+", "empty part"),
        ("+zstd", "empty part"),
        ("Zstd", "unknown encoding part `Zstd`"),
        ("slash+slash", "`slash` given twice"),
        ("zstd+gzip", "`zstd` and `gzip` are both compressors"),
        ("default+none", "`default` and `none` are both compressors"),
        ("blosc+blosc-typesize1", "both compressors"),
        ("blosc:", "`blosc:` without keys"),
        ("blosc:clevel", "`clevel` is not key=value"),
        ("blosc:foo=1", "unknown key `foo`"),
        ("blosc:cname=snappy", "cname `snappy` is not one of"),
        ("blosc:clevel=10", "clevel `10` is not an integer in 0..=9"),
        ("blosc:clevel=-1", "clevel `-1`"),
        (
            "blosc:shuffle=2",
            "shuffle `2` is not one of none, byte, bit",
        ),
        (
            "blosc:typesize=0",
            "typesize `0` is not an integer in 1..=255",
        ),
        ("blosc:typesize=256", "typesize `256`"),
        ("blosc:blocksize=64", "below blosc's minimum"),
        ("blosc:blocksize=x", "blocksize `x`"),
        (
            "blosc:threads=0",
            "threads `0` is not an integer in 1..=256",
        ),
        ("blosc:threads=257", "threads `257`"),
        ("blosc:clevel=1,clevel=2", "key `clevel` given twice"),
        ("blosc:clevel=1,", "is not key=value"),
        ("blosc-typesize1:clevel=1", "unknown encoding part"),
        ("zstd:level=3", "unknown encoding part"),
    ] {
        let err = input
            .parse::<Encoding>()
            .expect_err(&format!("`{input}` should not parse"));
        assert!(err.contains(expected), "`{input}`: {err}");
    }
    // Unknown parts list what is accepted.
    let err = "x".parse::<Encoding>().unwrap_err();
    for word in [
        "default",
        "none",
        "zstd",
        "zlib",
        "gzip",
        "lz4",
        "blosc",
        "slash",
        "order-f",
        "sparse",
        "fill-null",
        "fill-nan",
    ] {
        assert!(err.contains(word), "{err}");
    }
    let err = "blosc:x=1".parse::<Encoding>().unwrap_err();
    for word in BLOSC_KEYS.split(", ") {
        assert!(err.contains(word), "{err}");
    }
}

// ---------------------------------------------------------------------------
// Codecs
// ---------------------------------------------------------------------------

/// A complete LZ4 block decoder (literals and matches), for the tests.
fn lz4_decode_block(block: &[u8], n: usize) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let mut i = 0;
    let length = |i: &mut usize, mut len: usize| {
        if len == 15 {
            loop {
                let b = block[*i];
                *i += 1;
                len += usize::from(b);
                if b != 255 {
                    break;
                }
            }
        }
        len
    };
    loop {
        let token = block[i];
        i += 1;
        let lit = length(&mut i, usize::from(token >> 4));
        out.extend_from_slice(&block[i..i + lit]);
        i += lit;
        if i == block.len() {
            break;
        }
        let offset = usize::from(u16::from_le_bytes([block[i], block[i + 1]]));
        i += 2;
        assert!(
            offset > 0 && offset <= out.len(),
            "bad match offset {offset}"
        );
        let len = length(&mut i, usize::from(token & 15)) + 4;
        let start = out.len() - offset;
        for k in 0..len {
            out.push(out[start + k]);
        }
    }
    assert_eq!(out.len(), n, "decoded size");
    out
}

/// numcodecs LZ4: size (u32 LE) and one block.
fn lz4_decode(chunk: &[u8]) -> Vec<u8> {
    let n = u32::from_le_bytes(chunk[..4].try_into().unwrap()) as usize;
    lz4_decode_block(&chunk[4..], n)
}

#[test]
fn synth_lz4_literal_block() {
    // The decoder itself, on a hand-made block with a match: "abc", then
    // offset 3 length 9, then the last five literals.
    let block = [
        0x35, b'a', b'b', b'c', 3, 0, 0x50, b'a', b'b', b'c', b'a', b'b',
    ];
    assert_eq!(lz4_decode_block(&block, 17), b"abcabcabcabcabcab");

    assert_eq!(lz4_literal_block(&[]), vec![0x00]);
    assert_eq!(lz4_literal_block(b"abc"), b"\x30abc");
    assert_eq!(lz4_literal_block(&[7; 14])[0], 0xE0);
    assert_eq!(&lz4_literal_block(&[7; 15])[..2], &[0xF0, 0]);
    assert_eq!(&lz4_literal_block(&[7; 269])[..2], &[0xF0, 254]);
    assert_eq!(&lz4_literal_block(&[7; 270])[..3], &[0xF0, 255, 0]);
    assert_eq!(&lz4_literal_block(&[7; 271])[..3], &[0xF0, 255, 1]);
    for n in [
        0usize, 1, 5, 12, 13, 14, 15, 16, 254, 269, 270, 271, 524, 525, 100_000,
    ] {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 + i / 3) as u8).collect();
        let block = lz4_literal_block(&data);
        let header = if n < 15 { 1 } else { 2 + (n - 15) / 255 };
        assert_eq!(block.len(), n + header, "n = {n}");
        // Within LZ4_compressBound, the room numcodecs gives the block.
        assert!(block.len() <= n + n / 255 + 16);
        assert_eq!(lz4_decode_block(&block, n), data, "n = {n}");
    }
    let framed = Codec::Lz4.encode(b"hello, world".to_vec()).unwrap();
    assert_eq!(&framed[..4], &12u32.to_le_bytes());
    assert_eq!(lz4_decode(&framed), b"hello, world");
}

/// Fortran-order bytes back to C order, written independently of
/// [`c_to_f_order`]: element (i0, …, in-1) sits at Σ ik·Πj<k shape[j].
fn f_to_c_order(buf: &[u8], shape: &[usize], item: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let grid: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut out = vec![0u8; buf.len()];
    for c in 0..n {
        let idx = unravel(c as u64, &grid);
        let mut f = 0usize;
        for d in (0..shape.len()).rev() {
            f = f * shape[d] + idx[d] as usize;
        }
        out[c * item..(c + 1) * item].copy_from_slice(&buf[f * item..(f + 1) * item]);
    }
    out
}

#[test]
fn synth_fortran_order() {
    // [[1, 2, 3], [4, 5, 6]] → columns first.
    let c: Vec<u8> = vec![1, 2, 3, 4, 5, 6];
    assert_eq!(c_to_f_order(&c, &[2, 3], 1), vec![1, 4, 2, 5, 3, 6]);
    let c16: Vec<u8> = [1u16, 2, 3, 4, 5, 6]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let f16: Vec<u8> = [1u16, 4, 2, 5, 3, 6]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(c_to_f_order(&c16, &[2, 3], 2), f16);
    for shape in [vec![3usize, 4, 5], vec![1, 7, 2], vec![2, 1, 3, 2], vec![9]] {
        let n: usize = shape.iter().product();
        let data: Vec<u8> = (0..n * 4).map(|i| (i * 13 % 251) as u8).collect();
        let f = c_to_f_order(&data, &shape, 4);
        assert_eq!(f_to_c_order(&f, &shape, 4), data, "{shape:?}");
    }
}

/// Blosc header: flags byte.
const MEMCPYED: u8 = 0x02;

#[test]
fn synth_blosc_frames() {
    let raw: Vec<u8> = (0..1_000_000u32)
        .flat_map(|i| ((i / 7) as u16 ^ (i % 5) as u16).to_le_bytes())
        .collect();
    let frame = |cname, clevel, shuffle, typesize, blocksize, threads| {
        let f = blosc_frame(&raw, cname, clevel, shuffle, typesize, blocksize, threads).unwrap();
        let back = zarrs::array::codec::blosc_decompress_bytes(&f, raw.len(), 1).unwrap();
        assert_eq!(back, raw);
        f
    };
    let f = frame(Cname::Zstd, 3, 2, 1, 0, 1);
    assert_eq!(f[3], 1, "typesize");
    assert_eq!(f[2] & 0x04, 0x04, "bit shuffle");
    assert_eq!(f[2] >> 5, 4, "zstd");
    let f = frame(Cname::Lz4, 5, 1, 2, 0, 1);
    assert_eq!((f[2] & 0x01, f[2] >> 5, f[3]), (1, 1, 2));
    let f = frame(Cname::Zstd, 5, 0, 8, 16384, 1);
    assert_eq!((f[2] & 0x05, f[2] >> 5, f[3]), (0, 4, 8));
    assert_eq!(u32::from_le_bytes(f[8..12].try_into().unwrap()), 16384);
    let f = frame(Cname::Zstd, 0, 1, 2, 0, 1);
    assert_eq!(f[2] & MEMCPYED, MEMCPYED);
    assert_eq!(f.len(), raw.len() + 16);
    // Several threads: blocks are stored in the order they are finished.
    let mut out_of_order = 0;
    for _ in 0..4 {
        let f = frame(Cname::Zstd, 3, 1, 2, 4096, 4);
        let nblocks = raw.len().div_ceil(4096);
        let starts: Vec<u32> = (0..nblocks)
            .map(|b| u32::from_le_bytes(f[16 + 4 * b..20 + 4 * b].try_into().unwrap()))
            .collect();
        out_of_order += usize::from(starts.windows(2).any(|w| w[1] < w[0]));
    }
    eprintln!("threads=4: {out_of_order} of 4 frames had blocks out of order");
}

#[test]
fn synth_stream_codecs() {
    let raw: Vec<u8> = (0..50_000u32).flat_map(|i| (i / 3).to_le_bytes()).collect();
    let z = Codec::Zstd.encode(raw.clone()).unwrap();
    assert_eq!(zstd_content_size(&z), Some(raw.len() as u64));
    let z = Codec::Zlib.encode(raw.clone()).unwrap();
    assert_eq!(&z[..2], &[0x78, 0x5e], "zlib's header at level 5");
    assert_eq!(inflate_zlib(&z), raw);
    for level in 0..=9 {
        let z = zlib_stream(&raw[..1000], level).unwrap();
        assert_eq!(z[0], 0x78);
        assert_eq!((u16::from(z[0]) << 8 | u16::from(z[1])) % 31, 0);
        assert_eq!(inflate_zlib(&z), &raw[..1000], "level {level}");
    }
    assert_eq!(zlib_stream(b"", 6).unwrap(), [0x78, 0x9c, 3, 0, 0, 0, 0, 1]);
    // Adler-32 of "Wikipedia" (the example in its article), and of a long
    // run that needs the reductions.
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    assert_eq!(adler32(&[0xff; 100_000]), {
        let (mut a, mut b) = (1u64, 0u64);
        for _ in 0..100_000 {
            a = (a + 255) % 65_521;
            b = (b + a) % 65_521;
        }
        (b << 16 | a) as u32
    });
    let g = Codec::Gzip.encode(raw.clone()).unwrap();
    assert_eq!(&g[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    assert_eq!(gunzip(&g), raw);
    assert_eq!(Codec::Raw.encode(raw.clone()).unwrap(), raw);
}

/// The frame content size of a zstd frame, if the header has one.
fn zstd_content_size(f: &[u8]) -> Option<u64> {
    assert_eq!(&f[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    let fhd = f[4];
    let fcs_flag = fhd >> 6;
    let single = fhd & 0x20 != 0;
    let did = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let at = 5 + usize::from(!single) + did;
    let size = match (fcs_flag, single) {
        (0, false) => return None,
        (0, true) => u64::from(f[at]),
        (1, _) => u64::from(u16::from_le_bytes([f[at], f[at + 1]])) + 256,
        (2, _) => u64::from(u32::from_le_bytes(f[at..at + 4].try_into().unwrap())),
        _ => u64::from_le_bytes(f[at..at + 8].try_into().unwrap()),
    };
    Some(size)
}

fn inflate_zlib(z: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(z)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gunzip(z: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(z)
        .read_to_end(&mut out)
        .unwrap();
    out
}

// ---------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------

/// A small product: reflectance with fill-only corner chunks (little- and
/// big-endian, and one with 20 kB chunks), a float band with NaN nodata,
/// bytes, a 3-D quicklook, coordinates; element arrays with other
/// compressors (zstd, gzip, none), a 0-d array, booleans, and strings and
/// datetimes (which keep their encoding).
fn mini_schema() -> String {
    let blosc = json!({"blocksize": 0, "clevel": 3, "cname": "zstd", "id": "blosc", "shuffle": 2});
    let arr = |shape: Value,
               chunks: Value,
               dtype: &str,
               fill: Value,
               comp: &Value,
               attrs: Value| {
        json!({"attributes": attrs, "chunks": chunks, "compressor": comp, "dimension_separator": ".",
            "dtype": dtype, "fill_value": fill, "filters": null, "order": "C", "shape": shape, "zarr_format": 2})
    };
    let group = |members: Value| json!({"attributes": {}, "members": members, "zarr_format": 2});
    let dims = |d: &[&str]| json!({"_ARRAY_DIMENSIONS": d});
    let mut refl = json!({"_ARRAY_DIMENSIONS": ["y", "x"], "scale_factor": 0.0001});
    refl["proj:transform"] = json!([10.0, 0.0, 600000.0, 0.0, -10.0, 5000040.0, 0.0, 0.0, 1.0]);
    let yx = dims(&["y", "x"]);
    let schema = group(json!({
        "measurements": group(json!({
            "reflectance": group(json!({
                "r10m": group(json!({
                    "b02": arr(json!([42, 42]), json!([5, 5]), "<u2", json!(0), &blosc, refl.clone()),
                    "b03": arr(json!([42, 42]), json!([16, 16]), ">u2", json!(0), &blosc, refl.clone()),
                    "b04": arr(json!([200, 200]), json!([100, 100]), "<u2", json!(0), &blosc, refl.clone()),
                    "sfc": arr(json!([42, 42]), json!([5, 5]), "<f4", json!("NaN"), &blosc, yx.clone()),
                    "cld": arr(json!([42, 42]), json!([10, 10]), "|u1", Value::Null, &blosc, yx.clone()),
                    "tci": arr(json!([3, 42, 42]), json!([1, 20, 20]), "|u1", json!(0), &blosc, dims(&["band", "y", "x"])),
                    "x": arr(json!([42]), json!([42]), "<i8", Value::Null, &blosc, dims(&["x"])),
                    "y": arr(json!([42]), json!([42]), "<i8", Value::Null, &Value::Null, dims(&["y"])),
                })),
            })),
        })),
        "conditions": group(json!({
            "geometry": group(json!({
                "angles": arr(json!([2, 5, 5]), json!([2, 5, 5]), "<f8", json!("NaN"), &Value::Null, dims(&["angle", "y", "x"])),
                "band": arr(json!([13]), json!([13]), "<U3", Value::Null, &blosc, dims(&["band"])),
                "t": arr(json!([3]), json!([2]), "<M8[ns]", Value::Null, &blosc, dims(&["t"])),
                "scalar": arr(json!([]), json!([]), "<f4", json!("NaN"), &Value::Null, dims(&[])),
            })),
            "meteo": group(json!({
                "tco3": arr(json!([4, 6]), json!([3, 4]), "<f4", json!(0.0), &json!({"id": "zstd", "level": 1}), dims(&["a", "b"])),
                "count": arr(json!([10]), json!([4]), "<i4", json!(0), &json!({"id": "gzip", "level": 1}), dims(&["i"])),
                "flag": arr(json!([7]), json!([4]), "|b1", json!(false), &blosc, dims(&["i"])),
                "level": arr(json!([6, 7]), json!([4, 4]), ">i2", json!(0), &blosc, dims(&["p", "q"])),
            })),
        })),
    }));
    schema.to_string()
}

fn write(schema: &str, dir: &Path, encoding: &str, scale: u64) -> PathBuf {
    let out = dir.join(encoding.replace([':', ',', '='], "_"));
    synthesize(
        schema,
        &out,
        &SynthOptions {
            scale,
            encoding: enc(encoding),
        },
    )
    .unwrap_or_else(|e| panic!("{encoding}: {e}"));
    out
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Path → `.zarray` of every array, from `.zmetadata`; checks that every
/// metadata file on disk equals its consolidated copy.
fn arrays(out: &Path) -> BTreeMap<String, Map<String, Value>> {
    let meta = read_json(&out.join(".zmetadata"));
    let meta = meta["metadata"].as_object().unwrap();
    let mut arrays = BTreeMap::new();
    for (key, value) in meta {
        assert_eq!(&read_json(&out.join(key)), value, "{key}");
        if let Some(path) = key.strip_suffix("/.zarray") {
            arrays.insert(path.to_string(), value.as_object().unwrap().clone());
        }
    }
    arrays
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn is_numeric(zarray: &Map<String, Value>) -> bool {
    matches!(
        NumpyType::parse(zarray["dtype"].as_str().unwrap())
            .unwrap()
            .dt,
        NumpyKind::Num(_)
    )
}

fn item_size(zarray: &Map<String, Value>) -> usize {
    NumpyType::parse(zarray["dtype"].as_str().unwrap())
        .unwrap()
        .size()
}

fn chunk_key(idx: &[u64], sep: &str) -> String {
    if idx.is_empty() {
        return "0".into();
    }
    idx.iter().map(u64::to_string).collect::<Vec<_>>().join(sep)
}

/// Chunk grid of an array, and the chunk indices in C order.
fn chunk_indices(zarray: &Map<String, Value>) -> Vec<Vec<u64>> {
    let (shape, chunks) = (u64s(&zarray["shape"]), u64s(&zarray["chunks"]));
    let grid: Vec<u64> = shape
        .iter()
        .zip(&chunks)
        .map(|(s, c)| s.div_ceil(*c))
        .collect();
    (0..grid.iter().product::<u64>())
        .map(|k| unravel(k, &grid))
        .collect()
}

/// The element bytes of chunk `idx` that lie inside the array, in C order,
/// from the whole array's C-order bytes.
fn chunk_values(zarray: &Map<String, Value>, all: &[u8], idx: &[u64]) -> Vec<u8> {
    let (shape, chunks) = (u64s(&zarray["shape"]), u64s(&zarray["chunks"]));
    let item = item_size(zarray);
    let mut out = Vec::new();
    for k in 0..chunks.iter().product::<u64>() {
        let local = unravel(k, &chunks);
        let mut flat = 0u64;
        let mut inside = true;
        for d in 0..shape.len() {
            let g = idx[d] * chunks[d] + local[d];
            inside &= g < shape[d];
            flat = flat * shape[d] + g;
        }
        if inside {
            let at = flat as usize * item;
            out.extend_from_slice(&all[at..at + item]);
        }
    }
    out
}

/// Every value of a numeric array (C order, little-endian): with zarrs, or,
/// for the compressors zarrs does not read here (zlib, lz4), chunk by chunk.
fn values(out: &Path, path: &str, zarray: &Map<String, Value>) -> Vec<u8> {
    let id = zarray["compressor"]
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("");
    if id != "zlib" && id != "lz4" {
        let store = Arc::new(FilesystemStore::new(out).unwrap());
        let array = Array::open(store, &format!("/{path}"))
            .unwrap_or_else(|e| panic!("{}: {path}: {e}", out.display()));
        let bytes: ArrayBytes<'static> = array
            .retrieve_array_subset(&array.subset_all())
            .unwrap_or_else(|e| panic!("{}: {path}: {e}", out.display()));
        return bytes.into_fixed().unwrap().into_owned();
    }
    let (shape, chunks) = (u64s(&zarray["shape"]), u64s(&zarray["chunks"]));
    let item = item_size(zarray);
    let dtype = NumpyType::parse(zarray["dtype"].as_str().unwrap()).unwrap();
    let fill = fill_bytes(&dtype, &zarray["fill_value"]);
    let sep = zarray["dimension_separator"].as_str().unwrap();
    let n_chunk = chunks.iter().product::<u64>() as usize;
    let chunk_shape: Vec<usize> = chunks.iter().map(|&c| c as usize).collect();
    let mut all = vec![0u8; shape.iter().product::<u64>() as usize * item];
    for idx in chunk_indices(zarray) {
        let file = out.join(path).join(chunk_key(&idx, sep));
        let mut raw = match std::fs::read(&file) {
            Ok(b) if id == "zlib" => inflate_zlib(&b),
            Ok(b) => lz4_decode(&b),
            Err(_) => fill.repeat(n_chunk),
        };
        assert_eq!(raw.len(), n_chunk * item, "{}", file.display());
        if zarray["order"] == "F" {
            raw = f_to_c_order(&raw, &chunk_shape, item);
        }
        if zarray["dtype"].as_str().unwrap().starts_with('>') {
            raw.chunks_exact_mut(item).for_each(<[u8]>::reverse);
        }
        for k in 0..n_chunk as u64 {
            let local = unravel(k, &chunks);
            let mut flat = 0u64;
            let mut inside = true;
            for d in 0..shape.len() {
                let g = idx[d] * chunks[d] + local[d];
                inside &= g < shape[d];
                flat = flat * shape[d] + g;
            }
            if inside {
                let (src, dst) = (k as usize * item, flat as usize * item);
                all[dst..dst + item].copy_from_slice(&raw[src..src + item]);
            }
        }
    }
    all
}

/// The `.zarray` the variant should write for an array whose default one is
/// `base` (numeric arrays; others are left as they are).
fn expected_zarray(base: &Map<String, Value>, e: &Encoding) -> Map<String, Value> {
    let mut z = base.clone();
    if !is_numeric(base) {
        return z;
    }
    let float = matches!(z["dtype"].as_str(), Some("<f4" | "<f8" | ">f4" | ">f8"));
    if e.slash {
        z.insert("dimension_separator".into(), json!("/"));
    }
    if e.order_f && u64s(&base["shape"]).len() >= 2 {
        z.insert("order".into(), json!("F"));
    }
    if e.fill_nan && float {
        z.insert("fill_value".into(), json!("NaN"));
    } else if e.fill_null {
        z.insert("fill_value".into(), Value::Null);
    }
    let comp = match e.compressor {
        Compressor::Default => return z,
        Compressor::None => Value::Null,
        Compressor::Zstd => json!({"id": "zstd", "level": 3}),
        Compressor::Zlib => json!({"id": "zlib", "level": 5}),
        Compressor::Gzip => json!({"id": "gzip", "level": 5}),
        Compressor::Lz4 => json!({"id": "lz4", "acceleration": 1}),
        Compressor::Blosc(k) => {
            let mut c = match base["compressor"].get("id").and_then(Value::as_str) {
                Some("blosc") => base["compressor"].clone(),
                _ => {
                    json!({"blocksize": 0, "clevel": 3, "cname": "zstd", "id": "blosc", "shuffle": 2})
                }
            };
            if let Some(v) = k.cname {
                c["cname"] = json!(v.as_str());
            }
            if let Some(v) = k.clevel {
                c["clevel"] = json!(v);
            }
            if let Some(v) = k.shuffle {
                c["shuffle"] = json!(v.code());
            }
            if let Some(v) = k.blocksize {
                c["blocksize"] = json!(v);
            }
            c
        }
    };
    z.insert("compressor".into(), comp);
    z.insert("filters".into(), Value::Null);
    z
}

/// Checks of one stored chunk against the variant (`n` raw bytes).
fn check_chunk(what: &str, e: &Encoding, zarray: &Map<String, Value>, bytes: &[u8], n: usize) {
    let item = item_size(zarray);
    match e.compressor {
        Compressor::Default => {}
        Compressor::None => assert_eq!(bytes.len(), n, "{what}"),
        Compressor::Zstd => assert_eq!(zstd_content_size(bytes), Some(n as u64), "{what}"),
        Compressor::Zlib => {
            assert_eq!(&bytes[..2], &[0x78, 0x5e], "{what}");
            assert_eq!(inflate_zlib(bytes).len(), n, "{what}");
        }
        Compressor::Gzip => {
            assert_eq!(&bytes[..4], &[0x1f, 0x8b, 8, 0], "{what}");
            assert_eq!(gunzip(bytes).len(), n, "{what}");
        }
        Compressor::Lz4 => {
            assert_eq!(&bytes[..4], &(n as u32).to_le_bytes(), "{what}");
            assert_eq!(lz4_decode(bytes).len(), n, "{what}");
        }
        Compressor::Blosc(k) => {
            let c = &zarray["compressor"];
            assert_eq!(bytes[0], 2, "{what}: blosc format version");
            let flags = bytes[2];
            let typesize = k.typesize.map_or(item, usize::from);
            assert_eq!(usize::from(bytes[3]), typesize, "{what}: typesize");
            assert_eq!(
                u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
                n,
                "{what}: nbytes"
            );
            let cname = c["cname"].as_str().unwrap();
            let format = match cname {
                "blosclz" => 0,
                "lz4" | "lz4hc" => 1,
                "zlib" => 3,
                _ => 4,
            };
            assert_eq!(flags >> 5, format, "{what}: compressor {cname}");
            let shuffle = c["shuffle"].as_i64().unwrap();
            assert_eq!(flags & 0x01 != 0, shuffle == 1, "{what}: byte shuffle");
            assert_eq!(flags & 0x04 != 0, shuffle == 2, "{what}: bit shuffle");
            if c["clevel"] == 0 {
                assert_eq!(flags & MEMCPYED, MEMCPYED, "{what}: clevel 0 → memcpyed");
                assert_eq!(bytes.len(), n + 16, "{what}");
            }
            let blocksize = c["blocksize"].as_u64().unwrap() as usize;
            let stored = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
            // (blosc enlarges the blocks of codecs other than zstd that split them)
            if cname == "zstd" && blocksize >= 128 && n >= blocksize {
                assert_eq!(stored, blocksize, "{what}: blocksize");
            }
            let back = zarrs::array::codec::blosc_decompress_bytes(bytes, n, 1).unwrap();
            assert_eq!(back.len(), n);
        }
    }
}

/// Writes the product with `variant` and checks it against `default`:
/// metadata, chunk files, frames, values. Returns the number of chunks left
/// out.
fn check_variant(schema: &str, dir: &Path, default: &Path, variant: &str, scale: u64) -> usize {
    let e = enc(variant);
    let out = write(schema, dir, variant, scale);
    let base = arrays(default);
    let got = arrays(&out);
    assert_eq!(
        base.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    let mut absent = 0;
    for (path, zbase) in &base {
        let what = format!("{variant}: {path}");
        let z = &got[path];
        assert_eq!(z, &expected_zarray(zbase, &e), "{what}: .zarray");
        assert_eq!(
            read_json(&out.join(path).join(".zattrs")),
            read_json(&default.join(path).join(".zattrs"))
        );
        let sep = z["dimension_separator"].as_str().unwrap();
        if !is_numeric(zbase) {
            // Strings and datetimes: untouched, byte for byte.
            for idx in chunk_indices(zbase) {
                let key = chunk_key(&idx, ".");
                assert_eq!(
                    std::fs::read(out.join(path).join(&key)).unwrap(),
                    std::fs::read(default.join(path).join(&key)).unwrap(),
                    "{what}/{key}"
                );
            }
            continue;
        }
        let expected = values(default, path, zbase);
        let got_values = values(&out, path, z);
        assert_eq!(got_values.len(), expected.len(), "{what}: size");
        if let Some(at) = (0..expected.len()).find(|&i| got_values[i] != expected[i]) {
            panic!("{what}: values differ from the default product's at byte {at}");
        }
        let item = item_size(z);
        let n = u64s(&z["chunks"]).iter().product::<u64>() as usize * item;
        let dtype = NumpyType::parse(z["dtype"].as_str().unwrap()).unwrap();
        let fill = (!z["fill_value"].is_null()).then(|| fill_bytes(&dtype, &z["fill_value"]));
        for idx in chunk_indices(z) {
            let key = chunk_key(&idx, sep);
            let file = out.join(path).join(&key);
            let only_fill = fill.as_ref().is_some_and(|f| {
                chunk_values(z, &expected, &idx)
                    .chunks_exact(item)
                    .all(|v| v == f)
            });
            if e.sparse && only_fill {
                assert!(!file.exists(), "{what}/{key}: only fill, yet written");
                absent += 1;
                continue;
            }
            let bytes = std::fs::read(&file).unwrap_or_else(|err| panic!("{what}/{key}: {err}"));
            check_chunk(&format!("{what}/{key}"), &e, z, &bytes, n);
        }
    }
    absent
}

#[test]
fn synth_encoding_variants_same_values() {
    let schema = mini_schema();
    let dir = tempfile::tempdir().unwrap();
    let default = write(&schema, &dir.path().join("base"), "default", 1);
    // The default product is the schema's encoding.
    assert_eq!(
        check_variant(&schema, dir.path(), &default, "default", 1),
        0
    );
    let mut variants: Vec<String> = [
        "none",
        "zstd",
        "zlib",
        "gzip",
        "lz4",
        "blosc",
        "blosc-typesize1",
        "blosc:shuffle=none",
        "blosc:shuffle=byte",
        "blosc:shuffle=bit",
        "blosc:clevel=0",
        "blosc:blocksize=16384",
        "blosc:threads=4",
        "blosc:blocksize=1024,threads=4",
        "blosc:cname=lz4hc,clevel=9,shuffle=byte,typesize=4,blocksize=4096",
        "slash",
        "order-f",
        "sparse",
        "fill-null",
        "fill-nan",
        "zstd+slash+order-f+sparse",
        "blosc-typesize1+slash+order-f+sparse+fill-null",
        "lz4+order-f+sparse+fill-nan",
        "zlib+slash+order-f",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    for c in ["blosclz", "lz4", "lz4hc", "zlib", "zstd"] {
        variants.push(format!("blosc:cname={c}"));
    }
    for v in &variants {
        let absent = check_variant(&schema, dir.path(), &default, v, 1);
        let e = enc(v);
        // (with fill-null alone, no array has a fill value to leave out)
        if e.sparse && (!e.fill_null || e.fill_nan) {
            assert!(absent > 0, "{v}: no chunk left out");
        } else {
            assert_eq!(absent, 0, "{v}");
        }
    }

    // sparse: the reflectance corner chunk holds only nodata (0) and is not
    // written; it reads as the fill value. fill-null keeps every chunk.
    let sparse = dir.path().join("sparse");
    let b02 = sparse.join("measurements/reflectance/r10m/b02");
    assert!(!b02.join("7.0").exists() && !b02.join("8.0").exists());
    assert!(b02.join("0.0").exists() && b02.join("8.8").exists());
    assert!(default
        .join("measurements/reflectance/r10m/b02/8.0")
        .exists());
    let store = Arc::new(FilesystemStore::new(&sparse).unwrap());
    let a = Array::open(store, "/measurements/reflectance/r10m/b02").unwrap();
    let corner: Vec<u16> = a.retrieve_chunk(&[8, 0]).unwrap();
    assert!(corner.iter().all(|&v| v == 0));
    // The NaN-filled float band leaves its nodata chunks out too.
    let sfc = sparse.join("measurements/reflectance/r10m/sfc");
    assert!(!sfc.join("8.0").exists() && sfc.join("0.0").exists());
    let null_sparse = dir
        .path()
        .join("blosc-typesize1+slash+order-f+sparse+fill-null");
    assert!(null_sparse
        .join("measurements/reflectance/r10m/b02/8/0")
        .exists());

    // slash: chunk keys in subdirectories; order-f is only for 2+ dimensions.
    let z = read_json(
        &dir.path()
            .join("slash/measurements/reflectance/r10m/tci/.zarray"),
    );
    assert_eq!(z["dimension_separator"], "/");
    assert!(dir
        .path()
        .join("slash/measurements/reflectance/r10m/tci/2/1/1")
        .is_file());
    let f = dir.path().join("order-f");
    assert_eq!(
        read_json(&f.join("measurements/reflectance/r10m/tci/.zarray"))["order"],
        "F"
    );
    assert_eq!(
        read_json(&f.join("measurements/reflectance/r10m/x/.zarray"))["order"],
        "C"
    );
    // fill-nan: floats only; fill-null: every numeric array, not strings.
    let n = dir.path().join("fill-nan");
    assert_eq!(
        read_json(&n.join("conditions/meteo/tco3/.zarray"))["fill_value"],
        "NaN"
    );
    assert_eq!(
        read_json(&n.join("conditions/meteo/count/.zarray"))["fill_value"],
        0
    );
    let n = dir.path().join("fill-null");
    for p in ["conditions/meteo/tco3", "measurements/reflectance/r10m/b02"] {
        assert_eq!(
            read_json(&n.join(p).join(".zarray"))["fill_value"],
            Value::Null
        );
    }

    // blosc with the schema's settings is the default encoding, byte for byte,
    // wherever the schema says blosc.
    let blosc = dir.path().join("blosc");
    for (path, z) in arrays(&default) {
        if z["compressor"].get("id") != Some(&json!("blosc")) || !is_numeric(&z) {
            continue;
        }
        for idx in chunk_indices(&z) {
            let key = chunk_key(&idx, ".");
            assert_eq!(
                std::fs::read(blosc.join(&path).join(&key)).unwrap(),
                std::fs::read(default.join(&path).join(&key)).unwrap(),
                "{path}/{key}"
            );
        }
    }
}

/// The real schema (scale 40), a few variants.
#[test]
fn synth_encoding_default_schema() {
    let dir = tempfile::tempdir().unwrap();
    let default = write(DEFAULT_SCHEMA, &dir.path().join("base"), "default", 40);
    for v in [
        "blosc-typesize1",
        "zstd+slash+order-f+sparse",
        "lz4+fill-null",
    ] {
        check_variant(DEFAULT_SCHEMA, dir.path(), &default, v, 40);
    }
    // The real-writer case: every numeric blosc frame has type size 1.
    let b = dir
        .path()
        .join("blosc-typesize1/measurements/reflectance/r10m/b02/0.0");
    let frame = std::fs::read(b).unwrap();
    assert_eq!((frame[3], frame[2] & 0x04), (1, 0x04));
}
