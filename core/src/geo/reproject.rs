//! Projected coordinates → WGS 84 longitude/latitude, for the root
//! `spatial:bbox` (profile "Root" attributes), without PROJ or any C library.
//!
//! WGS 84 / UTM is the transverse Mercator projection computed with the
//! Krüger series to order n⁶ (C. F. F. Karney, "Transverse Mercator with an
//! accuracy of a few nanometers", J. Geodesy 85, 2011, eqs. 7–11 and 35–36):
//! well under a millimetre anywhere within a zone and a few degrees beyond,
//! which is all a bbox needs. Web Mercator (EPSG:3857) is closed-form.
//! Longitudes are in degrees, x first (x = lon, y = lat), whatever axis
//! order EPSG gives EPSG:4326.

use crate::geo::crs::{utm_zone, Crs};

/// WGS 84 semi-major axis (m).
const A: f64 = 6_378_137.0;
/// WGS 84 flattening.
const F: f64 = 1.0 / 298.257_223_563;
/// UTM scale on the central meridian.
const K0: f64 = 0.9996;
/// UTM false easting (m).
const FALSE_EASTING: f64 = 500_000.0;
/// UTM false northing of the southern zones (m).
const FALSE_NORTHING_SOUTH: f64 = 10_000_000.0;

/// Constants of the Krüger series for WGS 84.
struct Tm {
    /// First eccentricity e.
    e: f64,
    /// k0 × the rectifying radius A (m).
    k0a: f64,
    /// α₁…α₆: conformal sphere → ellipsoid (forward).
    alpha: [f64; 6],
    /// β₁…β₆: ellipsoid → conformal sphere (inverse).
    beta: [f64; 6],
}

impl Tm {
    fn wgs84() -> Tm {
        let n = F / (2.0 - F);
        let (n2, n3) = (n * n, n * n * n);
        let (n4, n5, n6) = (n2 * n2, n2 * n3, n3 * n3);
        let rect = A / (1.0 + n) * (1.0 + n2 / 4.0 + n4 / 64.0 + n6 / 256.0);
        Tm {
            e: (F * (2.0 - F)).sqrt(),
            k0a: K0 * rect,
            alpha: [
                n / 2.0 - 2.0 / 3.0 * n2 + 5.0 / 16.0 * n3 + 41.0 / 180.0 * n4 - 127.0 / 288.0 * n5
                    + 7891.0 / 37800.0 * n6,
                13.0 / 48.0 * n2 - 3.0 / 5.0 * n3 + 557.0 / 1440.0 * n4 + 281.0 / 630.0 * n5
                    - 1983433.0 / 1935360.0 * n6,
                61.0 / 240.0 * n3 - 103.0 / 140.0 * n4
                    + 15061.0 / 26880.0 * n5
                    + 167603.0 / 181440.0 * n6,
                49561.0 / 161280.0 * n4 - 179.0 / 168.0 * n5 + 6601661.0 / 7257600.0 * n6,
                34729.0 / 80640.0 * n5 - 3418889.0 / 1995840.0 * n6,
                212378941.0 / 319334400.0 * n6,
            ],
            beta: [
                n / 2.0 - 2.0 / 3.0 * n2 + 37.0 / 96.0 * n3 - 1.0 / 360.0 * n4 - 81.0 / 512.0 * n5
                    + 96199.0 / 604800.0 * n6,
                1.0 / 48.0 * n2 + 1.0 / 15.0 * n3 - 437.0 / 1440.0 * n4 + 46.0 / 105.0 * n5
                    - 1118711.0 / 3870720.0 * n6,
                17.0 / 480.0 * n3 - 37.0 / 840.0 * n4 - 209.0 / 4480.0 * n5 + 5569.0 / 90720.0 * n6,
                4397.0 / 161280.0 * n4 - 11.0 / 504.0 * n5 - 830251.0 / 7257600.0 * n6,
                4583.0 / 161280.0 * n5 - 108847.0 / 3991680.0 * n6,
                20648693.0 / 638668800.0 * n6,
            ],
        }
    }

    /// τ′ = tan of the conformal latitude, from τ = tan φ (Karney eqs. 7–9).
    fn tau_prime(&self, tau: f64) -> f64 {
        let s1 = tau.hypot(1.0);
        let sigma = (self.e * (self.e * tau / s1).atanh()).sinh();
        tau * sigma.hypot(1.0) - sigma * s1
    }

    /// τ from τ′ by Newton's method (Karney eqs. 19–21); 2–3 steps suffice.
    fn tau(&self, taup: f64) -> f64 {
        let e2m = 1.0 - self.e * self.e;
        let mut tau = taup / e2m;
        for _ in 0..6 {
            let tp = self.tau_prime(tau);
            let dtau =
                (taup - tp) / tp.hypot(1.0) * (1.0 + e2m * tau * tau) / (e2m * tau.hypot(1.0));
            tau += dtau;
            if dtau.abs() <= 1e-14 * tau.abs().max(1.0) {
                break;
            }
        }
        tau
    }
}

/// Central meridian of UTM zone `zone`, degrees.
fn central_meridian(zone: u32) -> f64 {
    f64::from(zone) * 6.0 - 183.0
}

/// A longitude difference brought into [-180, 180].
fn wrap180(deg: f64) -> f64 {
    if deg > 180.0 {
        deg - 360.0
    } else if deg < -180.0 {
        deg + 360.0
    } else {
        deg
    }
}

/// WGS 84 / UTM (EPSG:326zz north, 327zz south) easting/northing in metres →
/// (longitude, latitude) in degrees, longitude in [-180, 180].
pub fn utm_to_lonlat(zone: u32, north: bool, x: f64, y: f64) -> (f64, f64) {
    let tm = Tm::wgs84();
    let fnorth = if north { 0.0 } else { FALSE_NORTHING_SOUTH };
    let xi = (y - fnorth) / tm.k0a;
    let eta = (x - FALSE_EASTING) / tm.k0a;
    let (mut xip, mut etap) = (xi, eta);
    for (j, b) in tm.beta.iter().enumerate() {
        let k = 2.0 * (j + 1) as f64;
        xip -= b * (k * xi).sin() * (k * eta).cosh();
        etap -= b * (k * xi).cos() * (k * eta).sinh();
    }
    let (s, c) = xip.sin_cos();
    let sh = etap.sinh();
    let r = sh.hypot(c);
    let lam = sh.atan2(c).to_degrees();
    let lat = if r == 0.0 {
        90f64.copysign(xip)
    } else {
        tm.tau(s / r).atan().to_degrees()
    };
    (wrap180(central_meridian(zone) + lam), lat)
}

/// (longitude, latitude) in degrees → WGS 84 / UTM easting/northing in metres
/// for `zone`/hemisphere (the inverse of [`utm_to_lonlat`]).
pub fn lonlat_to_utm(zone: u32, north: bool, lon: f64, lat: f64) -> (f64, f64) {
    let tm = Tm::wgs84();
    let lam = wrap180(lon - central_meridian(zone)).to_radians();
    let taup = tm.tau_prime(lat.to_radians().tan());
    let (sl, cl) = lam.sin_cos();
    let xip = taup.atan2(cl);
    let etap = (sl / taup.hypot(cl)).asinh();
    let (mut xi, mut eta) = (xip, etap);
    for (j, a) in tm.alpha.iter().enumerate() {
        let k = 2.0 * (j + 1) as f64;
        xi += a * (k * xip).sin() * (k * etap).cosh();
        eta += a * (k * xip).cos() * (k * etap).sinh();
    }
    let fnorth = if north { 0.0 } else { FALSE_NORTHING_SOUTH };
    (FALSE_EASTING + tm.k0a * eta, fnorth + tm.k0a * xi)
}

/// A point of `crs` → (longitude, latitude) in degrees: WGS 84 / UTM,
/// EPSG:4326 (x = lon, y = lat, returned as is) and EPSG:3857 (spherical
/// Web Mercator). `None` for any other CRS: no PROJ database here.
pub fn to_lonlat(crs: &Crs, x: f64, y: f64) -> Option<(f64, f64)> {
    match crs.epsg? {
        4326 => Some((x, y)),
        3857 => Some(((x / A).to_degrees(), (y / A).sinh().atan().to_degrees())),
        code => utm_zone(code).map(|(zone, north)| utm_to_lonlat(zone, north, x, y)),
    }
}

/// A `crs` bbox `[left, bottom, right, top]` → `[west, south, east, north]`
/// in EPSG:4326 degrees: each edge sampled at `per_edge` evenly spaced points
/// (corners included; at least 2), reprojected, then the min/max — the edges
/// of a projected box curve in lon/lat, so corners alone can miss the extent.
/// GDAL/pyproj `densify_pts = k` means k points *between* the corners, i.e.
/// `per_edge = k + 2`. `None` when [`to_lonlat`] does not know the CRS.
///
/// A box crossing the antimeridian is not split: its longitudes wrap and the
/// result spans about −180…180.
pub fn lonlat_bbox(crs: &Crs, bbox: [f64; 4], per_edge: usize) -> Option<[f64; 4]> {
    let [left, bottom, right, top] = bbox;
    let steps = per_edge.max(2) - 1;
    let mut out = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let x = left + (right - left) * t;
        let y = bottom + (top - bottom) * t;
        for (px, py) in [(x, bottom), (x, top), (left, y), (right, y)] {
            let (lon, lat) = to_lonlat(crs, px, py)?;
            out[0] = out[0].min(lon);
            out[1] = out[1].min(lat);
            out[2] = out[2].max(lon);
            out[3] = out[3].max(lat);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values made once with pyproj 3.7.2 / PROJ 9.5.1 (Python):
    //   Transformer.from_crs("EPSG:4326", f"EPSG:{326|327}{zone}", always_xy=True)
    //   .transform(lon, lat) for FORWARD, the reverse transformer for INVERSE
    //   and EPSG:3857 → EPSG:4326 for WEB_MERCATOR; numbers printed with repr().

    /// (zone, north, lon, lat, x, y): on the central meridian, 0.25° and 3°
    /// off it, equator to 79.5°, both hemispheres.
    const FORWARD: &[(u32, bool, f64, f64, f64, f64)] = &[
        (32, true, 9.0, 0.5, 500000.0, 55265.037142649104),
        (32, true, 9.25, 0.5, 527817.7774375012, 55265.56674971171),
        (32, true, 6.0, 0.5, 166034.09826679528, 55341.38821555503),
        (32, true, 12.0, 0.5, 833965.901733205, 55341.38821555503),
        (32, true, 9.0, 45.0, 500000.0, 4982950.400226552),
        (32, true, 9.25, 45.0, 519703.8241951464, 4982980.796776466),
        (32, true, 6.0, 45.0, 263553.9738987921, 4987329.504698914),
        (32, true, 12.0, 45.0, 736446.0261012081, 4987329.504698914),
        (32, true, 9.0, 70.0, 500000.0, 7765873.135479086),
        (32, true, 9.25, 70.0, 509542.7934714197, 7765892.699115028),
        (32, true, 6.0, 70.0, 385526.2852542021, 7768690.108775233),
        (32, true, 12.0, 70.0, 614473.7147457979, 7768690.108775233),
        (1, true, -177.0, 10.0, 500000.0, 1105412.4913010783),
        (1, true, -176.75, 10.0, 527398.9593283513, 1105422.871214582),
        (
            1,
            true,
            -180.0,
            10.0,
            171071.26394131337,
            1106908.8542431423,
        ),
        (1, true, -174.0, 10.0, 828928.7360586894, 1106908.8542431423),
        (1, true, -177.0, 60.0, 500000.0, 6651411.190362714),
        (1, true, -176.75, 60.0, 513944.3982879769, 6651437.536613818),
        (1, true, -180.0, 60.0, 332705.17887554935, 6655205.483634564),
        (1, true, -174.0, 60.0, 667294.8211244522, 6655205.483634564),
        (18, true, -75.0, 40.7, 500000.0, 4505455.0850366065),
        (
            18,
            true,
            -74.75,
            40.7,
            521120.43555322627,
            4505485.132296938,
        ),
        (18, true, -78.0, 40.7, 246537.36190347077, 4509784.314453025),
        (18, true, -72.0, 40.7, 753462.6380965303, 4509784.314453025),
        (18, true, -75.0, 71.0, 500000.0, 7877396.766691192),
        (
            18,
            true,
            -74.75,
            71.0,
            509084.09754157753,
            7877415.5054175975,
        ),
        (18, true, -78.0, 71.0, 391029.8092463065, 7880094.920623602),
        (18, true, -72.0, 71.0, 608970.1907536939, 7880094.920623602),
        (33, false, 15.0, -0.5, 500000.00000000175, 9944734.96285735),
        (33, false, 15.25, -0.5, 527817.7774375031, 9944734.433250288),
        (33, false, 12.0, -0.5, 166034.09826679726, 9944658.611784445),
        (33, false, 18.0, -0.5, 833965.9017332066, 9944658.611784445),
        (
            33,
            false,
            15.0,
            -33.9,
            500000.00000000146,
            6248931.733875988,
        ),
        (
            33,
            false,
            15.25,
            -33.9,
            523114.0043228156,
            6248903.608392611,
        ),
        (33, false, 12.0, -33.9, 222584.0164820922, 6244878.757063534),
        (33, false, 18.0, -33.9, 777415.983517911, 6244878.757063534),
        (33, false, 15.0, -70.0, 500000.0000000006, 2234126.864520914),
        (
            33,
            false,
            15.25,
            -70.0,
            509542.7934714203,
            2234107.3008849723,
        ),
        (33, false, 12.0, -70.0, 385526.2852542028, 2231309.891224767),
        (33, false, 18.0, -70.0, 614473.7147457985, 2231309.891224767),
        (56, false, 153.0, -12.0, 500000.0, 8673446.364194356),
        (
            56,
            false,
            153.25,
            -12.0,
            527214.8519290806,
            8673434.019671617,
        ),
        (
            56,
            false,
            150.0,
            -12.0,
            173285.40864811244,
            8671666.816545092,
        ),
        (
            56,
            false,
            156.0,
            -12.0,
            826714.5913518876,
            8671666.816545092,
        ),
        (56, false, 153.0, -45.0, 500000.0, 5017049.599773448),
        (
            56,
            false,
            153.25,
            -45.0,
            519703.82419514714,
            5017019.203223534,
        ),
        (
            56,
            false,
            150.0,
            -45.0,
            263553.9738987927,
            5012670.495301086,
        ),
        (
            56,
            false,
            156.0,
            -45.0,
            736446.0261012074,
            5012670.495301086,
        ),
        (
            60,
            true,
            177.0,
            30.0,
            500000.00000000244,
            3318785.3525812062,
        ),
        (60, true, 177.25, 30.0, 524111.9599794537, 3318811.654754814),
        (
            60,
            true,
            174.0,
            30.0,
            210590.34676353616,
            3322575.9043847634,
        ),
        (60, true, 180.0, 30.0, 789409.6532364662, 3322575.9043847634),
        (60, true, 177.0, 79.5, 500000.0000000005, 8825779.032957362),
        (
            60,
            true,
            177.25,
            79.5,
            505086.03309640934,
            8825789.943175154,
        ),
        (60, true, 174.0, 79.5, 438993.4555653581, 8827349.818898797),
        (60, true, 180.0, 79.5, 561006.5444346424, 8827349.818898797),
    ];

    /// (zone, north, x, y, lon, lat): S2 tile corners, equator, zone edges,
    /// past the antimeridian (zone 60 at 79°N), city centres.
    const INVERSE: &[(u32, bool, f64, f64, f64, f64)] = &[
        (
            32,
            true,
            699960.0,
            4590240.0,
            11.393460776825858,
            41.43884624434577,
        ),
        (
            32,
            true,
            809760.0,
            4700040.0,
            12.76313643271526,
            42.39088066193304,
        ),
        (32, true, 500000.0, 0.0, 9.0, 0.0),
        (
            32,
            true,
            166021.0,
            7800000.0,
            0.18633119306922372,
            70.08891837363159,
        ),
        (
            33,
            false,
            300000.0,
            6200000.0,
            12.826229238430015,
            -34.32200505219241,
        ),
        (
            33,
            false,
            600000.0,
            9999999.0,
            15.898637660208662,
            -9.046193427791443e-06,
        ),
        (
            33,
            false,
            420000.0,
            2300000.0,
            12.96256813355972,
            -69.39734025053168,
        ),
        (
            18,
            true,
            583959.0,
            4507350.0,
            -74.0060045410638,
            40.71279104644582,
        ),
        (
            1,
            true,
            250000.0,
            1100000.0,
            -179.28015093872918,
            9.94327418576862,
        ),
        (
            60,
            true,
            780000.0,
            8800000.0,
            -169.76585342654712,
            78.98326817019915,
        ),
        (
            56,
            false,
            334000.0,
            6250000.0,
            151.20513728430285,
            -33.877291055144205,
        ),
        (
            56,
            false,
            780000.0,
            8700000.0,
            155.56897788083006,
            -11.74829871364937,
        ),
    ];

    /// (x, y, lon, lat) for EPSG:3857 → EPSG:4326.
    const WEB_MERCATOR: &[(f64, f64, f64, f64)] = &[
        (0.0, 0.0, 0.0, 0.0),
        (
            1113194.9079327357,
            6446275.841017158,
            10.0,
            49.99999999999999,
        ),
        (-20037508.342789244, -15538711.096309224, -180.0, -80.0),
        (1000000.0, 8000000.0, 8.983152841195214, 58.155242094659734),
    ];

    fn crs(epsg: u32) -> Crs {
        Crs {
            epsg: Some(epsg),
            wkt: String::new(),
        }
    }

    #[test]
    fn forward_matches_pyproj() {
        let mut worst = 0f64;
        for &(zone, north, lon, lat, x, y) in FORWARD {
            let (gx, gy) = lonlat_to_utm(zone, north, lon, lat);
            let d = (gx - x).abs().max((gy - y).abs());
            assert!(d < 1e-3, "zone {zone} ({lon}, {lat}): Δ = {d} m");
            worst = worst.max(d);
        }
        eprintln!("forward: max |Δ| = {worst:e} m");
    }

    #[test]
    fn inverse_matches_pyproj() {
        let mut worst = 0f64;
        let mut check = |zone, north, x, y, lon: f64, lat: f64| {
            let (glon, glat) = utm_to_lonlat(zone, north, x, y);
            // 180° and −180° are the same meridian.
            let d = wrap180(glon - lon).abs().max((glat - lat).abs());
            assert!(d < 1e-9, "zone {zone} ({x}, {y}): Δ = {d}°");
            worst = worst.max(d);
        };
        for &(zone, north, x, y, lon, lat) in INVERSE {
            check(zone, north, x, y, lon, lat);
        }
        for &(zone, north, lon, lat, x, y) in FORWARD {
            check(zone, north, x, y, lon, lat);
        }
        eprintln!("inverse: max |Δ| = {worst:e}°");
    }

    #[test]
    fn round_trips() {
        for zone in [1, 17, 32, 60] {
            for north in [true, false] {
                let cm = central_meridian(zone);
                for dlon in [-3.5, -1.0, 0.0, 0.1, 2.0, 3.5] {
                    for lat in [0.0f64, 5.0, 33.3, 60.0, 72.0, 84.0] {
                        let lat = if north { lat } else { -lat };
                        let lon = wrap180(cm + dlon);
                        let (x, y) = lonlat_to_utm(zone, north, lon, lat);
                        let (lon2, lat2) = utm_to_lonlat(zone, north, x, y);
                        assert!((lon2 - lon).abs() < 1e-11, "{zone} {lon} {lat}: {lon2}");
                        assert!((lat2 - lat).abs() < 1e-11, "{zone} {lon} {lat}: {lat2}");
                        let (x2, y2) = lonlat_to_utm(zone, north, lon2, lat2);
                        assert!((x2 - x).abs() < 1e-6 && (y2 - y).abs() < 1e-6);
                    }
                }
            }
        }
        // The pole maps to itself.
        let (_, lat) = utm_to_lonlat(32, true, 500000.0, lonlat_to_utm(32, true, 9.0, 90.0).1);
        assert!((lat - 90.0).abs() < 1e-9);
    }

    #[test]
    fn to_lonlat_by_crs() {
        let c = crs(32632);
        assert_eq!(
            to_lonlat(&c, 699960.0, 4590240.0),
            Some(utm_to_lonlat(32, true, 699960.0, 4590240.0))
        );
        assert_eq!(to_lonlat(&crs(4326), 12.5, 41.9), Some((12.5, 41.9)));
        for &(x, y, lon, lat) in WEB_MERCATOR {
            let (glon, glat) = to_lonlat(&crs(3857), x, y).unwrap();
            assert!((glon - lon).abs() < 1e-9 && (glat - lat).abs() < 1e-9);
        }
        assert_eq!(to_lonlat(&crs(2154), 0.0, 0.0), None);
        let no_code = Crs {
            epsg: None,
            wkt: String::new(),
        };
        assert_eq!(to_lonlat(&no_code, 0.0, 0.0), None);
    }

    #[test]
    fn bbox_matches_pyproj_transform_bounds() {
        // pyproj: Transformer.from_crs(src, "EPSG:4326", always_xy=True)
        //   .transform_bounds(*bbox, densify_pts=21)  (21 between corners = 23 per edge)
        let cases: [(u32, [f64; 4], [f64; 4]); 3] = [
            // S2 tile T32TQM.
            (
                32632,
                [699960.0, 4590240.0, 809760.0, 4700040.0],
                [
                    11.393460776825858,
                    41.40403474566952,
                    12.76313643271526,
                    42.426911995520086,
                ],
            ),
            (
                32733,
                [300000.0, 6190240.0, 409800.0, 6300040.0],
                [
                    12.823955399049826,
                    -34.425382159787354,
                    14.029650964644519,
                    -33.4203779546694,
                ],
            ),
            // Straddles the central meridian at 70°N: the north edge bulges.
            (
                32618,
                [499980.0, 7790220.0, 609780.0, 7900020.0],
                [
                    -75.00055612842469,
                    70.19484288954696,
                    -71.95014503173695,
                    71.20284256097706,
                ],
            ),
        ];
        let mut worst = 0f64;
        for (epsg, bbox, want) in cases {
            let got = lonlat_bbox(&crs(epsg), bbox, 23).unwrap();
            for k in 0..4 {
                let d = (got[k] - want[k]).abs();
                assert!(d < 1e-9, "EPSG:{epsg} [{k}]: {} vs {}", got[k], want[k]);
                worst = worst.max(d);
            }
        }
        eprintln!("bbox: max |Δ| = {worst:e}°");
        // The profile's 21 points per edge gives the same box for the S2 tile
        // (its extremes are at corners).
        let s2 = lonlat_bbox(&crs(32632), [699960.0, 4590240.0, 809760.0, 4700040.0], 21).unwrap();
        let want = [
            11.393460776825858,
            41.40403474566952,
            12.76313643271526,
            42.426911995520086,
        ];
        assert!(s2.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9));
        assert_eq!(lonlat_bbox(&crs(2154), [0.0, 0.0, 1.0, 1.0], 21), None);
    }
}
