//! What a geocoded Sentinel-1 band carries in the plan (pure data, so the
//! plan can hold it without importing the planner).

use serde::{Deserialize, Serialize};

use super::calib::Calibration;
use crate::geo::gcp::GcpGrid;

/// How one polarisation's band is made: the input image, its geolocation
/// (GCP grid in the output CRS) and its calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S1Band {
    /// Image shape (lines, pixels).
    pub shape: [u64; 2],
    /// The GCP grid, in output map coordinates.
    pub gcp: GcpGrid,
    /// Calibration and noise removal.
    pub calibration: Calibration,
}
