//! Geometry of the output: grids and their pyramids ([`grid`]), CRS
//! ([`crs`]), OGC tile matrix sets ([`tms`]), chunk sizes ([`chunking`]) and
//! the 2×2 block average ([`downsample`]). Pure functions, no I/O.
//!
//! May import: `jsonfmt`.

pub mod chunking;
pub(crate) mod crs;
pub mod downsample;
pub(crate) mod grid;
pub(crate) mod tms;
