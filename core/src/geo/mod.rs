//! Geometry of the output: grids and their pyramids ([`grid`]), CRS
//! ([`crs`]), OGC tile matrix sets ([`tms`]), chunk sizes ([`chunking`]),
//! the 2×2 block average ([`downsample`]) and projected → lon/lat
//! ([`reproject`], for the EPSG:4326 bbox). Pure functions, no I/O.
//!
//! May import: `jsonfmt`.

pub mod chunking;
pub(crate) mod crs;
pub mod downsample;
pub(crate) mod grid;
pub mod reproject;
pub(crate) mod tms;
