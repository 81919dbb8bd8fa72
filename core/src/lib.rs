//! geozarr-core: EOPF Zarr v2 products → GeoZarr 0.4 (Zarr v3) stores.
//!
//! The conversion is split into a pure planning step ([`plan`]) that turns a
//! product and options into a DAG of small, serialisable tasks, and a task
//! runner ([`task`]) that executes one task against the input and output
//! stores. The in-process [`executor`] and the distributed workers run the
//! very same task code, so both write byte-identical stores.

pub mod attrs;
pub mod aws;
pub mod blosc_frame;
pub mod blosc_rows;
pub mod cache;
pub mod chunking;
pub mod convert;
pub mod crs;
pub mod downsample;
pub mod error;
pub mod executor;
pub mod grid;
pub mod httplist;
pub mod inspect;
pub mod jsonfmt;
pub mod localstore;
pub mod lz4_codec;
pub mod plan;
pub mod remote;
pub mod sink;
pub mod source;
pub mod store;
pub mod synth;
pub mod task;
pub mod tms;

pub use error::{Error, Result};
