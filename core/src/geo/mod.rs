//! Geometry of the output: grids and their pyramids ([`grid`]), CRS
//! ([`crs`]), OGC tile matrix sets ([`tms`]), chunk sizes ([`chunking`]),
//! the block resampling rules ([`downsample`]: 2×2 average, k×k average,
//! mode, bitwise OR) and projected → lon/lat
//! ([`reproject`], for the EPSG:4326 bbox), ground-control-point grids
//! ([`gcp`]: Sentinel-1 image ↔ map). Pure functions, no I/O.
//!
//! May import: `jsonfmt`.

pub mod chunking;
pub(crate) mod crs;
pub mod downsample;
pub mod gcp;
pub(crate) mod grid;
pub mod reproject;
pub(crate) mod tms;
