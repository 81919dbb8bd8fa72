//! Coordinate reference systems: EPSG code, WKT and the CF grid-mapping
//! attributes of `spatial_ref` (profile §3.4). UTM/WGS 84 is arithmetic, so
//! no PROJ database is needed.

use serde_json::{json, Map, Value};

/// A product's native CRS.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Crs {
    /// EPSG code, when known.
    pub epsg: Option<u32>,
    /// WKT text (WKT1 as EOPF stores it in `proj:wkt2`).
    pub wkt: String,
}

/// UTM zone and hemisphere of a WGS 84 / UTM EPSG code (326zz north, 327zz south).
pub(crate) fn utm_zone(epsg: u32) -> Option<(u32, bool)> {
    match epsg {
        32601..=32660 => Some((epsg - 32600, true)),
        32701..=32760 => Some((epsg - 32700, false)),
        _ => None,
    }
}

/// Name like "WGS 84 / UTM zone 32N".
fn utm_name(zone: u32, north: bool) -> String {
    format!("WGS 84 / UTM zone {zone}{}", if north { "N" } else { "S" })
}

/// WKT1 for a WGS 84 / UTM code, in GDAL's layout (what EOPF products carry).
pub(crate) fn utm_wkt(epsg: u32) -> Option<String> {
    let (zone, north) = utm_zone(epsg)?;
    let cm = zone as i64 * 6 - 183;
    let fnorth = if north { 0 } else { 10000000 };
    Some(format!(
        "PROJCS[\"{name}\",GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AUTHORITY[\"EPSG\",\"4326\"]],PROJECTION[\"Transverse_Mercator\"],PARAMETER[\"latitude_of_origin\",0],PARAMETER[\"central_meridian\",{cm}],PARAMETER[\"scale_factor\",0.9996],PARAMETER[\"false_easting\",500000],PARAMETER[\"false_northing\",{fnorth}],UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]],AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH],AUTHORITY[\"EPSG\",\"{epsg}\"]]",
        name = utm_name(zone, north)
    ))
}

const WGS84_WKT: &str = "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"4326\"]]";

/// Last `AUTHORITY["EPSG","N"]` of a WKT1 string (the CRS's own code).
pub(crate) fn epsg_from_wkt(wkt: &str) -> Option<u32> {
    let i = wkt.rfind("AUTHORITY[\"EPSG\",\"")?;
    let rest = &wkt[i + 18..];
    rest[..rest.find('"')?].parse().ok()
}

impl Crs {
    /// From an EPSG code and/or WKT text, filling whichever is missing.
    pub fn new(epsg: Option<u32>, wkt: Option<String>) -> Option<Crs> {
        let epsg = epsg.or_else(|| wkt.as_deref().and_then(epsg_from_wkt));
        let wkt = wkt.or_else(|| match epsg? {
            4326 => Some(WGS84_WKT.to_string()),
            code => utm_wkt(code),
        })?;
        Some(Crs { epsg, wkt })
    }

    /// CF grid-mapping attributes, in the order rioxarray/pyproj write them.
    /// `GeoTransform` and `_ARRAY_DIMENSIONS` are appended by the caller.
    pub fn cf_attrs(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("crs_wkt".into(), json!(self.wkt));
        let wgs84 = self.wkt.contains("WGS 84") || self.wkt.contains("WGS_1984");
        if wgs84 {
            for (k, v) in [
                ("semi_major_axis", json!(6378137.0)),
                ("semi_minor_axis", json!(6356752.314245179)),
                ("inverse_flattening", json!(298.257223563)),
                ("reference_ellipsoid_name", json!("WGS 84")),
                ("longitude_of_prime_meridian", json!(0.0)),
                ("prime_meridian_name", json!("Greenwich")),
                ("geographic_crs_name", json!("WGS 84")),
                ("horizontal_datum_name", json!("World Geodetic System 1984")),
            ] {
                m.insert(k.into(), v);
            }
        }
        match self.epsg.and_then(utm_zone) {
            Some((zone, north)) => {
                for (k, v) in [
                    ("projected_crs_name", json!(utm_name(zone, north))),
                    ("grid_mapping_name", json!("transverse_mercator")),
                    ("latitude_of_projection_origin", json!(0.0)),
                    (
                        "longitude_of_central_meridian",
                        json!((zone as f64) * 6.0 - 183.0),
                    ),
                    ("false_easting", json!(500000.0)),
                    (
                        "false_northing",
                        json!(if north { 0.0 } else { 10000000.0 }),
                    ),
                    ("scale_factor_at_central_meridian", json!(0.9996)),
                ] {
                    m.insert(k.into(), v);
                }
            }
            None if self.epsg == Some(4326) => {
                m.insert("grid_mapping_name".into(), json!("latitude_longitude"));
            }
            None => {
                let name = if self.wkt.contains("Transverse_Mercator") {
                    "transverse_mercator"
                } else if self.wkt.starts_with("GEOGCS") {
                    "latitude_longitude"
                } else {
                    "unknown"
                };
                m.insert("grid_mapping_name".into(), json!(name));
            }
        }
        m.insert("spatial_ref".into(), json!(self.wkt));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S2_WKT: &str = "PROJCS[\"WGS 84 / UTM zone 32N\",GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AUTHORITY[\"EPSG\",\"4326\"]],PROJECTION[\"Transverse_Mercator\"],PARAMETER[\"latitude_of_origin\",0],PARAMETER[\"central_meridian\",9],PARAMETER[\"scale_factor\",0.9996],PARAMETER[\"false_easting\",500000],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]],AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH],AUTHORITY[\"EPSG\",\"32632\"]]";

    #[test]
    fn utm_wkt_matches_product_text() {
        assert_eq!(utm_wkt(32632).unwrap(), S2_WKT);
        assert_eq!(epsg_from_wkt(S2_WKT), Some(32632));
        assert!(utm_wkt(32733)
            .unwrap()
            .contains("PARAMETER[\"false_northing\",10000000]"));
        assert!(utm_wkt(32733)
            .unwrap()
            .contains("PARAMETER[\"central_meridian\",15]"));
        assert_eq!(utm_wkt(4326), None);
    }

    #[test]
    fn cf_attrs_for_utm() {
        let c = Crs::new(Some(32632), None).unwrap();
        let a = c.cf_attrs();
        assert_eq!(a["grid_mapping_name"], "transverse_mercator");
        assert_eq!(a["longitude_of_central_meridian"], 9.0);
        assert_eq!(a["false_northing"], 0.0);
        assert_eq!(a["projected_crs_name"], "WGS 84 / UTM zone 32N");
        assert_eq!(a["crs_wkt"], a["spatial_ref"]);
        let s = Crs::new(Some(32733), None).unwrap().cf_attrs();
        assert_eq!(s["false_northing"], 10000000.0);
        assert_eq!(s["longitude_of_central_meridian"], 15.0);
        assert_eq!(
            Crs::new(None, Some(S2_WKT.into())).unwrap().epsg,
            Some(32632)
        );
    }
}
