//! The square lattice in metres, its squares in longitude/latitude, and where each square lies
//! relative to the city boundary.
//!
//! Lattice lines run every 100 m. A coarse square is 5 × 5 steps (500 m); an urban-core coarse
//! square is subdivided into 25 fine squares of one step (100 m, the 万米单元网格). Lattice
//! coordinates are converted to longitude/latitude and rounded to six decimals once, by a
//! single function of the line index, so every square touching a line uses the same value.

use std::collections::BTreeMap;

use geo::{BoundingRect, Contains, Coord, Intersects, Line, LineString, MultiPolygon, Point, Rect};

use crate::projection::{Projection, round6};

/// Spacing of the lattice lines in metres.
pub const STEP_M: f64 = 100.0;
/// Lattice steps per coarse square side (500 m).
pub const COARSE: i64 = 5;

/// The lattice covering the city's bounding box.
#[derive(Debug, Clone, Copy)]
pub struct Lattice {
    proj: Projection,
    /// Coarse column range, `start..end`.
    pub columns: (i64, i64),
    /// Coarse row range, `start..end` (rows count northwards).
    pub rows: (i64, i64),
}

impl Lattice {
    /// The coarse squares covering `bbox` (longitude/latitude).
    pub fn covering(proj: Projection, bbox: Rect<f64>) -> Self {
        let (x0, y0) = proj.to_metres(bbox.min().x, bbox.min().y);
        let (x1, y1) = proj.to_metres(bbox.max().x, bbox.max().y);
        let side = STEP_M * COARSE as f64;
        Self {
            proj,
            columns: ((x0 / side).floor() as i64, (x1 / side).ceil() as i64),
            rows: ((y0 / side).floor() as i64, (y1 / side).ceil() as i64),
        }
    }

    /// Longitude of vertical lattice line `a`, six decimals.
    pub fn lon(&self, a: i64) -> f64 {
        round6(self.proj.to_lonlat(a as f64 * STEP_M, 0.0).0)
    }

    /// Latitude of horizontal lattice line `b`, six decimals.
    pub fn lat(&self, b: i64) -> f64 {
        round6(self.proj.to_lonlat(0.0, b as f64 * STEP_M).1)
    }

    /// The lattice point (`a`, `b`) in longitude/latitude.
    pub fn point(&self, a: i64, b: i64) -> Coord<f64> {
        Coord { x: self.lon(a), y: self.lat(b) }
    }

    /// Fractional lattice position (in steps) of a longitude/latitude.
    pub fn steps_of(&self, c: Coord<f64>) -> (f64, f64) {
        let (x, y) = self.proj.to_metres(c.x, c.y);
        (x / STEP_M, y / STEP_M)
    }

    /// Every coarse square, north row first, west to east within a row.
    pub fn coarse_squares(&self) -> Vec<Square> {
        let mut out = Vec::new();
        for j in (self.rows.0..self.rows.1).rev() {
            for i in self.columns.0..self.columns.1 {
                out.push(Square::coarse(i, j));
            }
        }
        out
    }
}

/// One lattice square: its south-west corner and side, in lattice steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Square {
    /// Western line.
    pub a0: i64,
    /// Southern line.
    pub b0: i64,
    /// Side in steps: 1 (fine) or [`COARSE`].
    pub size: i64,
}

impl Square {
    /// Coarse square (`i`, `j`).
    pub fn coarse(i: i64, j: i64) -> Self {
        Self { a0: i * COARSE, b0: j * COARSE, size: COARSE }
    }

    /// The coarse square this square lies in.
    pub fn coarse_index(&self) -> (i64, i64) {
        (self.a0.div_euclid(COARSE), self.b0.div_euclid(COARSE))
    }

    /// Row index at the square's own resolution (grows northwards).
    pub fn row(&self) -> i64 {
        self.b0.div_euclid(self.size)
    }

    /// Eastern line.
    pub fn a1(&self) -> i64 {
        self.a0 + self.size
    }

    /// Northern line.
    pub fn b1(&self) -> i64 {
        self.b0 + self.size
    }

    /// Centre in metres.
    pub fn centre_m(&self) -> (f64, f64) {
        let half = self.size as f64 / 2.0;
        ((self.a0 as f64 + half) * STEP_M, (self.b0 as f64 + half) * STEP_M)
    }

    /// The square as a longitude/latitude rectangle.
    pub fn rect(&self, lattice: &Lattice) -> Rect<f64> {
        Rect::new(lattice.point(self.a0, self.b0), lattice.point(self.a1(), self.b1()))
    }

    /// The 25 fine squares of a coarse square.
    pub fn subdivide(&self) -> Vec<Square> {
        let mut out = Vec::with_capacity((self.size * self.size) as usize);
        for b in self.b0..self.b1() {
            for a in self.a0..self.a1() {
                out.push(Square { a0: a, b0: b, size: 1 });
            }
        }
        out
    }

    /// The closed, counter-clockwise ring of the square. A side flagged in `split`
    /// (south, east, north, west) gets a vertex on every lattice line, so that it shares its
    /// vertices with the fine squares on the other side.
    pub fn ring(&self, lattice: &Lattice, split: [bool; 4]) -> LineString<f64> {
        let step = |s: bool| if s { 1 } else { self.size };
        let mut pts = Vec::new();
        let mut a = self.a0;
        while a < self.a1() {
            pts.push(lattice.point(a, self.b0));
            a += step(split[0]);
        }
        let mut b = self.b0;
        while b < self.b1() {
            pts.push(lattice.point(self.a1(), b));
            b += step(split[1]);
        }
        let mut a = self.a1();
        while a > self.a0 {
            pts.push(lattice.point(a, self.b1()));
            a -= step(split[2]);
        }
        let mut b = self.b1();
        while b > self.b0 {
            pts.push(lattice.point(self.a0, b));
            b -= step(split[3]);
        }
        let mut ring = LineString::from(pts);
        ring.close();
        ring
    }
}

/// The city boundary with its edges as segments.
#[derive(Debug, Clone)]
pub struct Boundary {
    /// The boundary polygons.
    pub shape: MultiPolygon<f64>,
    /// Every edge of every ring.
    pub segments: Vec<Line<f64>>,
    /// Bounding box.
    pub bbox: Rect<f64>,
}

impl Boundary {
    /// Wraps a boundary; refuses an empty one.
    pub fn new(shape: MultiPolygon<f64>) -> Result<Self, String> {
        let bbox = shape.bounding_rect().ok_or("the boundary has no coordinates")?;
        let segments = shape
            .0
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|ring| ring.lines())
            .filter(|l| l.start != l.end)
            .collect();
        Ok(Self { shape, segments, bbox })
    }

    /// True if `c` lies inside the boundary (not on it).
    pub fn contains(&self, c: Coord<f64>) -> bool {
        self.shape.contains(&Point(c))
    }
}

/// Where a square lies relative to the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Entirely inside: kept as it is.
    Inside,
    /// Entirely outside: dropped.
    Outside,
    /// The boundary touches or crosses it: clipped.
    Crossing,
}

/// Classifies squares using the boundary segments bucketed by coarse square.
#[derive(Debug)]
pub struct Classifier<'a> {
    lattice: &'a Lattice,
    boundary: &'a Boundary,
    buckets: BTreeMap<(i64, i64), Vec<usize>>,
}

impl<'a> Classifier<'a> {
    /// Buckets every boundary segment into the coarse squares it may touch.
    pub fn new(lattice: &'a Lattice, boundary: &'a Boundary) -> Self {
        let mut buckets: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
        for (s, seg) in boundary.segments.iter().enumerate() {
            let (a_s, b_s) = lattice.steps_of(seg.start);
            let (a_e, b_e) = lattice.steps_of(seg.end);
            let coarse = |v: f64| (v / COARSE as f64).floor() as i64;
            for i in coarse(a_s.min(a_e)) - 1..=coarse(a_s.max(a_e)) + 1 {
                for j in coarse(b_s.min(b_e)) - 1..=coarse(b_s.max(b_e)) + 1 {
                    if Square::coarse(i, j).rect(lattice).intersects(seg) {
                        buckets.entry((i, j)).or_default().push(s);
                    }
                }
            }
        }
        Self { lattice, boundary, buckets }
    }

    /// Where `square` lies.
    pub fn place(&self, square: &Square) -> Placement {
        let rect = square.rect(self.lattice);
        let crossing =
            self.buckets.get(&square.coarse_index()).is_some_and(|segs| segs.iter().any(|&s| rect.intersects(&self.boundary.segments[s])));
        if crossing {
            Placement::Crossing
        } else if self.boundary.contains(rect.center()) {
            Placement::Inside
        } else {
            Placement::Outside
        }
    }
}

#[cfg(test)]
mod tests {
    use geo::polygon;

    use super::*;
    use crate::projection::micro;

    fn lattice() -> Lattice {
        let bbox = Rect::new(Coord { x: 118.0, y: 34.0 }, Coord { x: 118.1, y: 34.1 });
        Lattice::covering(Projection::xinyi(), bbox)
    }

    #[test]
    fn lattice_values_are_six_decimal_and_shared() {
        let l = lattice();
        for a in -50..50 {
            let lon = l.lon(a);
            assert_eq!(lon, (micro(lon) as f64) / 1e6);
        }
        let west = Square { a0: 3, b0: 7, size: 1 };
        let east = Square { a0: 4, b0: 7, size: 1 };
        assert_eq!(west.rect(&l).max().x.to_bits(), east.rect(&l).min().x.to_bits());
    }

    #[test]
    fn split_sides_carry_fine_vertices() {
        let l = lattice();
        let sq = Square::coarse(2, 3);
        assert_eq!(sq.ring(&l, [false; 4]).0.len(), 5);
        let ring = sq.ring(&l, [true, false, false, false]);
        assert_eq!(ring.0.len(), 9);
        // Every fine square on the south side has its two north corners on the ring.
        for fine in Square::coarse(2, 2).subdivide().iter().filter(|f| f.b1() == sq.b0) {
            assert!(ring.0.contains(&l.point(fine.a0, fine.b1())));
            assert!(ring.0.contains(&l.point(fine.a1(), fine.b1())));
        }
        assert_eq!(Square::coarse(-1, -1).subdivide().len(), 25);
        assert_eq!(Square::coarse(-1, -1).coarse_index(), (-1, -1));
        assert_eq!(Square { a0: -3, b0: -7, size: 1 }.coarse_index(), (-1, -2));
    }

    #[test]
    fn placement() {
        let l = lattice();
        let inside = Square::coarse(-40, 0).rect(&l);
        // A triangle covering square (-40, 0) and cutting through its eastern neighbour.
        let (w, s) = (inside.min().x - 0.001, inside.min().y - 0.001);
        let e = inside.max().x + 0.003;
        let shape = MultiPolygon(vec![polygon![(x: w, y: s), (x: e, y: s), (x: w, y: s + 0.04), (x: w, y: s)]]);
        let boundary = Boundary::new(shape).expect("boundary");
        let c = Classifier::new(&l, &boundary);
        assert_eq!(c.place(&Square::coarse(-40, 0)), Placement::Inside);
        assert_eq!(c.place(&Square::coarse(-39, 0)), Placement::Crossing);
        assert_eq!(c.place(&Square::coarse(-30, 5)), Placement::Outside);
    }
}
