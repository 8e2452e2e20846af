//! The local metric projection and the six-decimal coordinate precision of the city files.
//!
//! An equirectangular projection around latitude 34.28° N is accurate to a few parts in a
//! thousand over the county (±0.2° of latitude), which is plenty for laying out a lattice. Its
//! meridians and parallels are straight, so a lattice square in metres is an axis-aligned
//! rectangle in longitude/latitude, and neighbouring squares share exactly the same edges.

/// Reference latitude of the projection (degrees).
pub const LAT0: f64 = 34.28;
/// Reference longitude of the projection (degrees): the Xinyi city centre meridian.
pub const LON0: f64 = 118.35;
/// Metres per degree of longitude on the equator.
const M_PER_DEG_LON_EQUATOR: f64 = 111_320.0;
/// Metres per degree of latitude near 34° N.
const M_PER_DEG_LAT: f64 = 110_574.0;
/// Coordinates are stored in millionths of a degree (six decimals, about 0.1 m).
const MICRO: f64 = 1e6;

/// Equirectangular projection: `x = (lon - lon0) · 111320 · cos(lat0)`, `y = (lat - lat0) · 110574`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

impl Projection {
    /// A projection centred on (`lon0`, `lat0`).
    pub fn new(lon0: f64, lat0: f64) -> Self {
        Self { lon0, lat0, kx: M_PER_DEG_LON_EQUATOR * lat0.to_radians().cos(), ky: M_PER_DEG_LAT }
    }

    /// The projection used for Xinyi.
    pub fn xinyi() -> Self {
        Self::new(LON0, LAT0)
    }

    /// Longitude/latitude (degrees) to metres east/north of the origin.
    pub fn to_metres(self, lon: f64, lat: f64) -> (f64, f64) {
        ((lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky)
    }

    /// Metres east/north of the origin to longitude/latitude (degrees), not rounded.
    pub fn to_lonlat(self, x: f64, y: f64) -> (f64, f64) {
        (self.lon0 + x / self.kx, self.lat0 + y / self.ky)
    }
}

/// A coordinate in millionths of a degree, rounded to nearest.
pub fn micro(deg: f64) -> i64 {
    (deg * MICRO).round() as i64
}

/// Millionths of a degree back to degrees. `n / 1e6` is correctly rounded, so the result is
/// bit-identical to parsing the six-decimal text that the grid file stores.
pub fn from_micro(n: i64) -> f64 {
    n as f64 / MICRO
}

/// Rounds degrees to six decimals.
pub fn round6(deg: f64) -> f64 {
    from_micro(micro(deg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_metres() {
        let p = Projection::xinyi();
        for &(lon, lat) in &[(118.35, 34.372), (118.02987, 34.097899), (118.668741, 34.47586)] {
            let (x, y) = p.to_metres(lon, lat);
            let (lon2, lat2) = p.to_lonlat(x, y);
            assert!((lon - lon2).abs() < 1e-12 && (lat - lat2).abs() < 1e-12, "{lon},{lat} -> {lon2},{lat2}");
        }
        let (x, y) = p.to_metres(LON0, LAT0);
        assert_eq!((x, y), (0.0, 0.0));
    }

    #[test]
    fn scale_is_about_right_at_34_degrees() {
        let p = Projection::xinyi();
        let (x, _) = p.to_metres(LON0 + 0.01, LAT0);
        let (_, y) = p.to_metres(LON0, LAT0 + 0.01);
        assert!((919.0..921.0).contains(&x), "0.01° of longitude is {x} m");
        assert!((1105.0..1106.0).contains(&y), "0.01° of latitude is {y} m");
    }

    #[test]
    fn six_decimals_match_the_text_form() {
        for v in [118.1234565, 34.0000004, 118.35, 34.372_000_3] {
            let r = round6(v);
            let text = format!("{r:.6}");
            assert_eq!(text.parse::<f64>().ok(), Some(r), "{v} rounds to {text}");
        }
        assert_eq!(micro(118.123_456_4), 118_123_456);
        assert_eq!(micro(118.123_456_6), 118_123_457);
    }
}
