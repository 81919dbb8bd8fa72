//! The `multiscales` attribute: a native-CRS OGC tile matrix set, one tile
//! matrix per level (profile §5).

use serde_json::{json, Map, Value};

use crate::geo::crs::Crs;
use crate::geo::grid::Grid;

/// OGC TMS 2.0 standardized rendering pixel size, in metres.
pub(crate) const OGC_PIXEL_M: f64 = 0.00028;

/// Build `multiscales` for a group whose levels have these grids.
pub(crate) fn multiscales(crs: &Crs, levels: &[Grid], tile_width: u64) -> Value {
    let (id, title, crs_uri) = match crs.epsg {
        Some(code) => (
            format!("Native_CRS_{code}"),
            format!("Native CRS Tile Matrix Set (EPSG:{code})"),
            format!("http://www.opengis.net/def/crs/EPSG/0/{code}"),
        ),
        None => (
            "Native_CRS_Custom".to_string(),
            "Native CRS Tile Matrix Set (custom CRS)".to_string(),
            crs.wkt.clone(),
        ),
    };
    let tw = tile_width.max(1);
    let mut matrices = Vec::new();
    let mut limits = Map::new();
    for (l, g) in levels.iter().enumerate() {
        let mw = g.width.div_ceil(tw);
        let mh = g.height.div_ceil(tw);
        let cell = g.res_x.max(g.res_y);
        matrices.push(json!({
            "id": l.to_string(),
            "scaleDenominator": cell / OGC_PIXEL_M,
            "cellSize": cell,
            "pointOfOrigin": [g.left, g.top],
            "tileWidth": tw,
            "tileHeight": tw,
            "matrixWidth": mw,
            "matrixHeight": mh,
        }));
        limits.insert(
            l.to_string(),
            json!({"tileMatrix": l.to_string(), "minTileCol": 0, "maxTileCol": mw - 1, "minTileRow": 0, "maxTileRow": mh - 1}),
        );
    }
    json!({
        "tile_matrix_set": {
            "id": id,
            "title": title,
            "crs": crs_uri,
            "supportedCRS": crs_uri,
            "orderedAxes": ["X", "Y"],
            "tileMatrices": matrices,
        },
        "resampling_method": "average",
        "tile_matrix_limits": limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_size_r10m_numbers() {
        let g = crate::geo::grid::s2_r10m();
        let sizes = crate::geo::chunking::level_sizes(10980, 10980, 256);
        let levels: Vec<Grid> = sizes
            .iter()
            .enumerate()
            .map(|(l, (w, h))| g.level(l as u32, *w, *h))
            .collect();
        let m = multiscales(&Crs::new(Some(32632), None).unwrap(), &levels, 256);
        let tm = &m["tile_matrix_set"]["tileMatrices"];
        assert_eq!(m["tile_matrix_set"]["id"], "Native_CRS_32632");
        assert_eq!(tm[0]["scaleDenominator"], 35714.28571428572);
        assert_eq!(tm[0]["matrixWidth"], 43);
        assert_eq!(tm[3]["cellSize"], 80.0);
        assert_eq!(tm[3]["matrixWidth"], 6); // 1373 / 256
        assert_eq!(tm.as_array().unwrap().len(), 6);
        assert_eq!(m["tile_matrix_limits"]["0"]["maxTileCol"], 42);
        assert_eq!(m["tile_matrix_limits"]["5"]["maxTileRow"], 1);
        let m512 = multiscales(&Crs::new(Some(32632), None).unwrap(), &levels, 512);
        assert_eq!(m512["tile_matrix_set"]["tileMatrices"][0]["tileWidth"], 512);
        assert_eq!(
            m512["tile_matrix_set"]["tileMatrices"][0]["matrixWidth"],
            22
        );
        assert_eq!(m512["tile_matrix_limits"]["0"]["maxTileCol"], 21);
    }
}
