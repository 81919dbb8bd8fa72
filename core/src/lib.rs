//! geozarr-core: EOPF Zarr v2 products → GeoZarr 0.4 (Zarr v3) stores.
//!
//! Layers, each importing only those listed before it (a test,
//! `tests/layering.rs`, fails on any import cycle between modules):
//! - [`error`], [`dtype`], `jsonfmt`, `path`: leaves;
//! - [`store`]: where bytes live (local files, S3, HTTP), behind one `Store`;
//! - `codec`: chunk encodings (blosc frames read and written block by block,
//!   numcodecs lz4 for zarrs, the check of what an input's codecs need);
//! - [`geo`]: grids, CRS, tile matrices, chunk sizes, 2×2 downsampling;
//! - [`tree`]: one reader of a Zarr node tree (v2 and v3, consolidated or not);
//! - [`product`]: an EOPF product (Zarr v2) as conversion sees it;
//! - [`convert`]: planning (pure), tasks, the in-process executor, metadata;
//! - [`inspect`]: `info` and `validate`.
//!
//! The in-process executor and distributed workers run the same task code
//! ([`convert::task::run`]), so both write byte-identical stores.

pub(crate) mod codec;
pub mod convert;
pub mod dtype;
pub mod error;
pub mod geo;
pub mod inspect;
pub(crate) mod jsonfmt;
pub(crate) mod path;
pub mod product;
pub mod store;
pub mod tree;

pub use convert::{convert, convert_with, ConvertOptions, Progress, Summary};
pub use error::{Error, Result};
pub use store::{Location, Store};
