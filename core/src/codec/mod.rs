//! Chunk encodings: blosc frames read ([`blosc_rows`]) and written
//! ([`blosc_frame`], into a sink the caller opens) block by block, Zarr v3
//! shards written inner-chunk row by row ([`shard`]), the
//! numcodecs lz4 compressor for zarrs ([`lz4`]), and what an input array's
//! codecs need ([`check_v2`]).
//!
//! May import: `error` (no stores: bytes come in through closures and go
//! out through `Write + Seek`).

pub(crate) mod blosc_frame;
pub(crate) mod blosc_rows;
pub(crate) mod lz4;
pub(crate) mod shard;
mod v2;

pub(crate) use v2::{check_v2, patched_v2_meta};
