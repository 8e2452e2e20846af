//! Coordinate systems used by Chinese map apps, and distances on the ground.
//!
//! gridd stores and computes in WGS84 (CGCS2000 agrees to centimetres). Consumer map apps send
//! GCJ-02 (Amap, Tencent) or BD-09 (Baidu); intake converts them with the public formulas.
//! GCJ-02 is only defined inside China: outside its box the point is taken as already WGS84,
//! as every published implementation does.

use std::f64::consts::PI;

use geo::{Distance, Haversine, Point};
use serde::{Deserialize, Serialize};

use crate::FieldError;

/// The datum of a client's coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CoordSystem {
    /// WGS84 / EPSG:4326 (GPS).
    #[default]
    Wgs84,
    /// GCJ-02 (Amap, Tencent).
    Gcj02,
    /// BD-09 (Baidu).
    Bd09,
}

/// Krasovsky 1940 semi-major axis used by the GCJ-02 formula, in metres.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// Krasovsky 1940 first eccentricity squared.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
/// The BD-09 rotation constant (π × 3000 / 180).
const BD_X_PI: f64 = PI * 3000.0 / 180.0;

/// Checks that `lon`/`lat` are finite degrees in range; `field` names the point in errors.
pub fn validate_lon_lat(lon: f64, lat: f64) -> Result<(), FieldError> {
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(FieldError::new("lon", format!("must be a number from -180 to 180, got {lon}")));
    }
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(FieldError::new("lat", format!("must be a number from -90 to 90, got {lat}")));
    }
    Ok(())
}

/// Converts a validated point in `crs` to WGS84, returning `(lon, lat)`.
pub fn to_wgs84(crs: CoordSystem, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        CoordSystem::Wgs84 => (lon, lat),
        CoordSystem::Gcj02 => gcj02_to_wgs84(lon, lat),
        CoordSystem::Bd09 => {
            let (glon, glat) = bd09_to_gcj02(lon, lat);
            gcj02_to_wgs84(glon, glat)
        }
    }
}

/// True outside the rectangle where GCJ-02 offsets apply.
fn outside_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn offset_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn offset_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS84 → GCJ-02, the public forward formula.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let d_lat = offset_lat(lon - 105.0, lat - 35.0);
    let d_lon = offset_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (lon + d_lon, lat + d_lat)
}

/// GCJ-02 → WGS84 by fixed-point iteration of the forward formula, to better than 1e-9°.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let (mut wlon, mut wlat) = (lon, lat);
    for _ in 0..30 {
        let (glon, glat) = wgs84_to_gcj02(wlon, wlat);
        let (dlon, dlat) = (glon - lon, glat - lat);
        wlon -= dlon;
        wlat -= dlat;
        if dlon.abs() < 1e-10 && dlat.abs() < 1e-10 {
            break;
        }
    }
    (wlon, wlat)
}

/// BD-09 → GCJ-02.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    let (x, y) = (lon - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.000_02 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * BD_X_PI).cos();
    (z * theta.cos(), z * theta.sin())
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.000_02 * (lat * BD_X_PI).sin();
    let theta = lat.atan2(lon) + 0.000_003 * (lon * BD_X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// Great-circle distance between two WGS84 points.
///
/// # Units
/// Points in degrees (lon, lat); the result in metres.
pub fn distance_m(a: Point<f64>, b: Point<f64>) -> f64 {
    Haversine.distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcj02_round_trip_is_below_a_millimetre() {
        // Xinyi city hall, WGS84.
        let (lon, lat) = (118.3546, 34.3691);
        let (glon, glat) = wgs84_to_gcj02(lon, lat);
        let shift = distance_m(Point::new(lon, lat), Point::new(glon, glat));
        // The GCJ-02 offset around Xinyi is about half a kilometre (see data/xinyi/SOURCES.md).
        assert!((400.0..700.0).contains(&shift), "shift {shift} m");
        let (wlon, wlat) = gcj02_to_wgs84(glon, glat);
        assert!(distance_m(Point::new(lon, lat), Point::new(wlon, wlat)) < 0.001);
    }

    #[test]
    fn bd09_round_trip() {
        let (lon, lat) = (118.36, 34.37);
        let (blon, blat) = gcj02_to_bd09(lon, lat);
        let (glon, glat) = bd09_to_gcj02(blon, blat);
        assert!(distance_m(Point::new(lon, lat), Point::new(glon, glat)) < 0.5);
        let (wlon, wlat) = to_wgs84(CoordSystem::Bd09, blon, blat);
        let (back_lon, back_lat) = wgs84_to_gcj02(wlon, wlat);
        assert!(distance_m(Point::new(lon, lat), Point::new(back_lon, back_lat)) < 0.5);
    }

    #[test]
    fn outside_china_is_left_alone() {
        assert_eq!(to_wgs84(CoordSystem::Gcj02, 2.35, 48.85), (2.35, 48.85));
    }

    #[test]
    fn rejects_out_of_range_degrees() {
        assert_eq!(validate_lon_lat(181.0, 0.0).map_err(|e| e.field), Err("lon".to_string()));
        assert_eq!(validate_lon_lat(0.0, f64::NAN).map_err(|e| e.field), Err("lat".to_string()));
        assert!(validate_lon_lat(118.3, 34.3).is_ok());
    }
}
