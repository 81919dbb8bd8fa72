//! Looking into a store: `info` summaries and `validate` checks, for Zarr
//! v2 EOPF products and Zarr v3 GeoZarr stores alike. The node tree itself
//! is read by [`crate::tree`]; `check` holds what every check reports
//! into, and the checks live beside it (`variables`, `pyramid`,
//! `consolidated`, `deep`; for the `conventions` profile: the store's model
//! in `conventions`, the bundled JSON schemas in `schema`, and the checks
//! in `registration`, `layout`, `level`, `derived`, with the reference
//! resampling rules in `rules`).
//!
//! May import: `error`, `path`, `store`, `geo`, `codec`, `tree`, `product`
//! (never `convert`).

pub mod cf;
mod check;
mod consolidated;
mod conventions;
#[cfg(test)]
mod conventions_tests;
mod deep;
mod derived;
pub mod html;
pub mod info;
mod layout;
mod level;
mod pyramid;
mod registration;
mod rules;
mod schema;
pub mod spatial;
pub mod validate;
mod variables;
mod wkt;

pub(crate) use crate::path::{display, name_of, parent_of};
pub(crate) use crate::store::par_map;
pub(crate) use crate::tree::{strip_consolidated, v3_node};
pub use crate::tree::{Kind, Node, Read, Tree, ZArray};
