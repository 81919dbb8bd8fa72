//! Looking into a store: its node tree (Zarr v2 EOPF products and Zarr v3
//! GeoZarr stores alike), `info` summaries and `validate` checks.
//!
//! The node tree itself is read by [`crate::tree`].

pub mod cf;
mod check;
mod consolidated;
mod deep;
pub mod html;
pub mod info;
mod pyramid;
pub mod spatial;
pub mod validate;
mod variables;
mod wkt;

pub(crate) use crate::path::{display, name_of, parent_of};
pub(crate) use crate::store::par_map;
pub(crate) use crate::tree::{strip_consolidated, v3_node};
pub use crate::tree::{Kind, Node, Read, Tree, ZArray};
