//! The demo camera registry (`cameras.csv`): cameras at the centres of urban cells.

use std::fmt::Write as _;

use geo::{Centroid, Contains, InteriorPoint, Point, Polygon};

use crate::projection::round6;

/// Cameras in the registry.
pub const TOTAL: usize = 48;
/// Fewest cameras on an urban street.
pub const MIN_PER_STREET: usize = 8;
/// Most cameras on an urban street.
pub const MAX_PER_STREET: usize = 12;

/// One camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// `CAM-0001`…
    pub id: String,
    /// Street name + point number, e.g. `新安街道-07号点位`.
    pub name: String,
    /// WGS84 longitude, six decimals.
    pub lon: f64,
    /// WGS84 latitude, six decimals.
    pub lat: f64,
}

impl Camera {
    /// The `number`-th camera overall, the `point`-th on its street, at `at`.
    pub fn new(number: usize, street_name: &str, point: usize, at: Point<f64>) -> Self {
        Self {
            id: format!("CAM-{number:04}"), name: format!("{street_name}-{point:02}号点位"), lon: round6(at.x()), lat: round6(at.y())
        }
    }
}

/// Splits `total` cameras over streets in proportion to their cell counts, each street getting
/// between `min` and `max`.
pub fn allocate(cells: &[usize], total: usize, min: usize, max: usize) -> Result<Vec<usize>, String> {
    let n = cells.len();
    if n == 0 || n * min > total || n * max < total {
        return Err(format!("cannot split {total} cameras over {n} streets with {min}..={max} each"));
    }
    let sum: usize = cells.iter().sum();
    let ideal: Vec<f64> = cells.iter().map(|&c| total as f64 * c as f64 / sum.max(1) as f64).collect();
    let mut alloc: Vec<usize> = ideal.iter().map(|&v| (v.floor() as usize).clamp(min, max)).collect();
    while alloc.iter().sum::<usize>() < total {
        let k = (0..n)
            .filter(|&k| alloc[k] < max)
            .max_by(|&a, &b| (ideal[a] - alloc[a] as f64).total_cmp(&(ideal[b] - alloc[b] as f64)).then(b.cmp(&a)));
        alloc[k.ok_or("no street can take another camera")?] += 1;
    }
    while alloc.iter().sum::<usize>() > total {
        let k = (0..n)
            .filter(|&k| alloc[k] > min)
            .min_by(|&a, &b| (ideal[a] - alloc[a] as f64).total_cmp(&(ideal[b] - alloc[b] as f64)).then(a.cmp(&b)));
        alloc[k.ok_or("no street can give up a camera")?] -= 1;
    }
    Ok(alloc)
}

/// The centre of a cell: its centroid, or an interior point if the centroid falls outside.
pub fn centre(polygon: &Polygon<f64>) -> Option<Point<f64>> {
    polygon.centroid().filter(|c| polygon.contains(c)).or_else(|| polygon.interior_point())
}

/// The registry as CSV.
pub fn to_csv(cameras: &[Camera]) -> String {
    let mut out = String::from("camera_id,name,lon,lat\n");
    for c in cameras {
        let _ = writeln!(out, "{},{},{:.6},{:.6}", c.id, c.name, c.lon, c.lat);
    }
    out
}

#[cfg(test)]
mod tests {
    use geo::polygon;

    use super::*;

    #[test]
    fn allocation_is_proportional_and_bounded() {
        let alloc = allocate(&[2000, 1000, 1000, 1000, 500], 46, 8, 12).expect("allocation");
        assert_eq!(alloc.iter().sum::<usize>(), 46);
        assert_eq!(alloc[0], 12);
        assert_eq!(alloc[4], 8);
        assert!(alloc.iter().all(|&a| (8..=12).contains(&a)), "{alloc:?}");
        assert_eq!(allocate(&[1, 1, 1, 1, 1], 46, 8, 12).expect("allocation").iter().sum::<usize>(), 46);
        assert!(allocate(&[1, 1], 46, 8, 12).is_err());
    }

    #[test]
    fn names_ids_and_csv() {
        let cam = Camera::new(7, "新安街道", 7, Point::new(118.350_000_4, 34.372));
        assert_eq!(cam.id, "CAM-0007");
        assert_eq!(cam.name, "新安街道-07号点位");
        assert_eq!(to_csv(&[cam]), "camera_id,name,lon,lat\nCAM-0007,新安街道-07号点位,118.350000,34.372000\n");
    }

    #[test]
    fn centre_lies_inside() {
        let l_shape = polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 1.0), (x: 1.0, y: 1.0), (x: 1.0, y: 10.0), (x: 0.0, y: 10.0), (x: 0.0, y: 0.0)];
        let c = centre(&l_shape).expect("centre");
        assert!(l_shape.contains(&c));
        let square = polygon![(x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 2.0), (x: 0.0, y: 2.0), (x: 0.0, y: 0.0)];
        assert_eq!(centre(&square), Some(Point::new(1.0, 1.0)));
    }
}
