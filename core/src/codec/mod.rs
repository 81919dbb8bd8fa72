//! Chunk encodings: blosc frames read ([`blosc_rows`]) and written
//! ([`blosc_frame`]) block by block, the numcodecs lz4 compressor for
//! zarrs ([`lz4`]), and what an input array's codecs need ([`check_v2`]).
//! Imports nothing of the crate but its error type.

pub(crate) mod blosc_frame;
pub(crate) mod blosc_rows;
pub(crate) mod lz4;
mod v2;

pub(crate) use v2::{check_v2, patched_v2_meta};
