//! Clipping squares to the boundary so that neighbouring cells share bit-identical vertices.
//!
//! The boolean intersection computes the points where the boundary crosses a square's edges
//! separately for the two squares on either side of that edge, and the two results may differ in
//! the last bits. Every crossing of a lattice line with the boundary is therefore computed once,
//! up front, and every clipped vertex within [`SNAP_TOLERANCE_DEG`] of one is moved onto it.
//! Everything else is rounded to six decimals, and rings are cleaned in exact integer
//! micro-degree arithmetic.

use std::collections::BTreeMap;

use geo::{BooleanOps, Coord, GeodesicArea, LineString, Polygon};

use crate::lattice::{Boundary, Lattice, Square};
use crate::projection::{from_micro, micro};

/// Clipped vertices closer than this (degrees) to a precomputed crossing are snapped onto it.
pub const SNAP_TOLERANCE_DEG: f64 = 2e-6;

/// A vertex in millionths of a degree.
pub type MicroCoord = (i64, i64);

/// The points where lattice lines cross the boundary, in micro-degrees.
#[derive(Debug, Default)]
pub struct Crossings {
    /// Vertical line index → sorted latitudes of its crossings.
    vertical: BTreeMap<i64, Vec<i64>>,
    /// Horizontal line index → sorted longitudes of its crossings.
    horizontal: BTreeMap<i64, Vec<i64>>,
}

impl Crossings {
    /// Computes the crossings of every lattice line with every boundary segment.
    pub fn compute(lattice: &Lattice, boundary: &Boundary) -> Self {
        let mut out = Self::default();
        for seg in &boundary.segments {
            let (p, q) = (seg.start, seg.end);
            let (a_p, b_p) = lattice.steps_of(p);
            let (a_q, b_q) = lattice.steps_of(q);
            if p.x != q.x {
                for a in (a_p.min(a_q).floor() as i64)..=(a_p.max(a_q).ceil() as i64) {
                    let lon = lattice.lon(a);
                    if lon < p.x.min(q.x) || lon > p.x.max(q.x) {
                        continue;
                    }
                    let lat = p.y + (lon - p.x) * (q.y - p.y) / (q.x - p.x);
                    out.vertical.entry(a).or_default().push(micro(lat));
                }
            }
            if p.y != q.y {
                for b in (b_p.min(b_q).floor() as i64)..=(b_p.max(b_q).ceil() as i64) {
                    let lat = lattice.lat(b);
                    if lat < p.y.min(q.y) || lat > p.y.max(q.y) {
                        continue;
                    }
                    let lon = p.x + (lat - p.y) * (q.x - p.x) / (q.y - p.y);
                    out.horizontal.entry(b).or_default().push(micro(lon));
                }
            }
        }
        for list in out.vertical.values_mut().chain(out.horizontal.values_mut()) {
            list.sort_unstable();
            list.dedup();
        }
        out
    }

    /// Number of crossing points.
    pub fn len(&self) -> usize {
        self.vertical.values().chain(self.horizontal.values()).map(Vec::len).sum()
    }

    /// The crossing on one of `square`'s four edge lines nearest to `c`, if within tolerance.
    pub fn snap(&self, lattice: &Lattice, square: &Square, c: Coord<f64>) -> Option<MicroCoord> {
        let mut best: Option<(f64, MicroCoord)> = None;
        let mut consider = |d: f64, at: MicroCoord| {
            if d <= SNAP_TOLERANCE_DEG && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, at));
            }
        };
        for a in [square.a0, square.a1()] {
            let lon = lattice.lon(a);
            if (c.x - lon).abs() > SNAP_TOLERANCE_DEG {
                continue;
            }
            for lat in nearest(self.vertical.get(&a), c.y) {
                consider((c.x - lon).hypot(c.y - from_micro(lat)), (micro(lon), lat));
            }
        }
        for b in [square.b0, square.b1()] {
            let lat = lattice.lat(b);
            if (c.y - lat).abs() > SNAP_TOLERANCE_DEG {
                continue;
            }
            for lon in nearest(self.horizontal.get(&b), c.x) {
                consider((c.y - lat).hypot(c.x - from_micro(lon)), (lon, micro(lat)));
            }
        }
        best.map(|(_, at)| at)
    }
}

/// The (up to two) values of a sorted list either side of `v` (degrees).
fn nearest(list: Option<&Vec<i64>>, v: f64) -> Vec<i64> {
    let Some(list) = list else { return Vec::new() };
    let i = list.partition_point(|&m| from_micro(m) < v);
    [i.checked_sub(1), Some(i)].into_iter().flatten().filter_map(|k| list.get(k).copied()).collect()
}

/// Twice the signed area of an open ring, exact.
pub fn area2(ring: &[MicroCoord]) -> i128 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (x0, y0) = ring[i];
            let (x1, y1) = ring[(i + 1) % n];
            i128::from(x0) * i128::from(y1) - i128::from(x1) * i128::from(y0)
        })
        .sum()
}

/// Cleans an open ring (the closing point may be repeated or not): removes consecutive
/// duplicates and zero-width spikes (a vertex where the ring turns straight back). Returns
/// `None` if fewer than three vertices or no area remain.
pub fn clean_ring(ring: &[MicroCoord]) -> Option<Vec<MicroCoord>> {
    let mut pts: Vec<MicroCoord> = Vec::with_capacity(ring.len());
    for &p in ring {
        if pts.last() != Some(&p) {
            pts.push(p);
        }
    }
    while pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    loop {
        let n = pts.len();
        if n < 3 {
            return None;
        }
        let spike = (0..n).find(|&i| {
            let (p, c, q) = (pts[(i + n - 1) % n], pts[i], pts[(i + 1) % n]);
            let (ux, uy) = (i128::from(c.0 - p.0), i128::from(c.1 - p.1));
            let (vx, vy) = (i128::from(q.0 - c.0), i128::from(q.1 - c.1));
            p == c || (ux * vy - uy * vx == 0 && ux * vx + uy * vy < 0)
        });
        match spike {
            Some(i) => {
                pts.remove(i);
            }
            None => break,
        }
    }
    (area2(&pts) != 0).then_some(pts)
}

/// A cleaned ring as a closed longitude/latitude ring, oriented counter-clockwise if
/// `exterior`, clockwise otherwise.
pub fn to_ring(mut pts: Vec<MicroCoord>, exterior: bool) -> LineString<f64> {
    if (area2(&pts) > 0) != exterior {
        pts.reverse();
    }
    let mut ring = LineString::from(pts.into_iter().map(|(x, y)| Coord { x: from_micro(x), y: from_micro(y) }).collect::<Vec<_>>());
    ring.close();
    ring
}

/// The parts of a clipped square, and the area that cleaning threw away.
#[derive(Debug, Default)]
pub struct Clipped {
    /// One polygon per part.
    pub parts: Vec<Polygon<f64>>,
    /// Geodesic area (m²) of the degenerate rings that were dropped.
    pub dropped_m2: f64,
}

/// Intersects `square` (with ring `ring`) with the boundary, snaps and rounds the result.
pub fn clip(lattice: &Lattice, boundary: &Boundary, crossings: &Crossings, square: &Square, ring: LineString<f64>) -> Clipped {
    let raw = Polygon::new(ring, vec![]).intersection(&boundary.shape);
    let mut out = Clipped::default();
    let fix = |ring: &LineString<f64>| -> Vec<MicroCoord> {
        ring.0.iter().map(|&c| crossings.snap(lattice, square, c).unwrap_or((micro(c.x), micro(c.y)))).collect()
    };
    for part in raw {
        let Some(exterior) = clean_ring(&fix(part.exterior())) else {
            out.dropped_m2 += part.geodesic_area_unsigned();
            continue;
        };
        let mut holes = Vec::new();
        for hole in part.interiors() {
            match clean_ring(&fix(hole)) {
                Some(h) => holes.push(to_ring(h, false)),
                None => out.dropped_m2 += Polygon::new(hole.clone(), vec![]).geodesic_area_unsigned(),
            }
        }
        out.parts.push(Polygon::new(to_ring(exterior, true), holes));
    }
    out
}

#[cfg(test)]
mod tests {
    use geo::{Area, MultiPolygon, Rect, polygon};

    use super::*;
    use crate::projection::Projection;

    fn lattice() -> Lattice {
        Lattice::covering(Projection::xinyi(), Rect::new(Coord { x: 118.3, y: 34.3 }, Coord { x: 118.4, y: 34.4 }))
    }

    #[test]
    fn cleaning_removes_duplicates_spikes_and_slivers() {
        let square = [(0, 0), (10, 0), (10, 10), (0, 10)];
        assert_eq!(clean_ring(&[(0, 0), (10, 0), (10, 0), (10, 10), (0, 10), (0, 0)]), Some(square.to_vec()));
        // A spike out of the east side and back.
        let spiky = [(0, 0), (10, 0), (10, 5), (20, 5), (10, 5), (10, 10), (0, 10)];
        let cleaned = clean_ring(&spiky).expect("area left");
        assert_eq!(area2(&cleaned), 200);
        assert!(!cleaned.contains(&(20, 5)));
        // Collinear, zero area.
        assert_eq!(clean_ring(&[(0, 0), (5, 5), (10, 10), (0, 0)]), None);
        assert_eq!(clean_ring(&[(0, 0), (1, 0)]), None);
    }

    #[test]
    fn rings_are_oriented_and_closed() {
        let cw = vec![(0, 0), (0, 10), (10, 10), (10, 0)];
        let ext = to_ring(cw.clone(), true);
        assert!(Polygon::new(ext.clone(), vec![]).signed_area() > 0.0);
        assert_eq!(ext.0.first(), ext.0.last());
        assert!(Polygon::new(to_ring(cw, false), vec![]).signed_area() < 0.0);
    }

    #[test]
    fn snapping_moves_near_points_onto_the_shared_crossing() {
        let l = lattice();
        let west = Square { a0: 10, b0: 20, size: 1 };
        let east = Square { a0: 11, b0: 20, size: 1 };
        let line = l.lon(11);
        let (s, n) = (l.lat(20), l.lat(21));
        // A boundary edge crossing the line shared by the two squares.
        let (p, q) = (Coord { x: line - 0.0004, y: s + 0.0001 }, Coord { x: line + 0.0005, y: n - 0.0002 });
        let shape = MultiPolygon(vec![polygon![p, q, Coord { x: line + 0.0005, y: s - 0.001 }, p]]);
        let boundary = Boundary::new(shape).expect("boundary");
        let crossings = Crossings::compute(&l, &boundary);
        let exact = p.y + (line - p.x) * (q.y - p.y) / (q.x - p.x);
        let wobble = Coord { x: line + 3e-7, y: exact - 1.2e-6 };
        let from_west = crossings.snap(&l, &west, wobble).expect("snapped");
        let from_east = crossings.snap(&l, &east, Coord { x: line, y: exact + 0.9e-6 }).expect("snapped");
        assert_eq!(from_west, from_east);
        assert_eq!(from_west, (micro(line), micro(exact)));
        // Too far away: not snapped.
        assert_eq!(crossings.snap(&l, &west, Coord { x: line, y: exact + 5e-6 }), None);
        // A square whose edges are not that line does not snap to it.
        assert_eq!(crossings.snap(&l, &Square { a0: 12, b0: 20, size: 1 }, wobble), None);
    }

    #[test]
    fn clipped_neighbours_share_the_crossing_vertex() {
        let l = lattice();
        let west = Square { a0: 10, b0: 20, size: 1 };
        let east = Square { a0: 11, b0: 20, size: 1 };
        let (w, e) = (l.lon(10) - 0.001, l.lon(12) + 0.001);
        let (s, n) = (l.lat(20) - 0.001, l.lat(21) - 0.000_317);
        let shape = MultiPolygon(vec![polygon![(x: w, y: s), (x: e, y: s), (x: e, y: n + 0.0002), (x: w, y: n), (x: w, y: s)]]);
        let boundary = Boundary::new(shape).expect("boundary");
        let crossings = Crossings::compute(&l, &boundary);
        let a = clip(&l, &boundary, &crossings, &west, west.ring(&l, [false; 4]));
        let b = clip(&l, &boundary, &crossings, &east, east.ring(&l, [false; 4]));
        assert_eq!((a.parts.len(), b.parts.len()), (1, 1));
        let shared: Vec<_> = a.parts[0].exterior().0.iter().filter(|c| c.x == l.lon(11)).copied().collect();
        assert_eq!(shared.len(), 2, "{shared:?}");
        for c in &shared {
            assert!(b.parts[0].exterior().0.contains(c), "{c:?} missing from the eastern cell");
        }
        assert_eq!(a.dropped_m2, 0.0);
    }
}
