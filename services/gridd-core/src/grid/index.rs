//! The point-location index of the unit grid: exact, compact, and one memory access for most
//! points.
//!
//! # Which cell a point is in
//!
//! A point is in the cell whose polygon contains it by the crossing-number rule with the
//! half-open convention (count an edge when `lo.y <= p.y < hi.y` and `p` lies strictly left of
//! the upward edge `lo → hi`), decided with exact orientation predicates. On a partition of the
//! plane this puts every point in exactly one cell, including points on edges and vertices:
//! the rule behaves as if the point were moved an infinitesimal step east, then north. So a
//! point on a shared edge belongs to the cell east of it (north of it for an east–west edge),
//! and a shared vertex to the cell just north-east of it. Points strictly inside a cell get
//! that cell, the same answer as `geo::Contains`.
//!
//! # Layout
//!
//! - Vertices of every cell in one `Vec<[f64; 2]>`: each ring closed, holes appended after the
//!   exterior and bridged back to its first vertex (a bridge is walked both ways, so its
//!   crossings cancel), so a cell is one slice and its edges are consecutive pairs.
//! - A uniform grid of buckets over the bounding box, about [`BUCKETS_PER_CELL`] per cell, each
//!   a 16-byte record: empty (no cell), interior (wholly inside one cell: the answer, with no
//!   polygon test), or up to three candidate cells inline (more spill to an overflow list). The
//!   candidate containing the bucket's centre comes first, so one polygon test usually decides.

use geo::{Coord, LineString, Polygon};

/// Buckets per cell: more buckets make more of them interior (answered without a polygon
/// test) at 16 bytes each.
pub const BUCKETS_PER_CELL: f64 = 4.0;
/// Candidates stored inline in a bucket record.
const INLINE: usize = 3;
const EMPTY: u32 = 0;
const INTERIOR: u32 = u32::MAX;
const OVERFLOW: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
struct Bucket {
    /// `EMPTY`, `INTERIOR`, a count of inline candidates, or `OVERFLOW | count`.
    tag: u32,
    /// The interior cell, the inline candidates, or `[offset into overflow, _, _]`.
    ids: [u32; INLINE],
}

/// Why an index could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// No cells.
    #[error("the grid has no cells")]
    Empty,
    /// A coordinate is NaN or infinite.
    #[error("cell {0} has a coordinate that is not a finite number")]
    NotFinite(usize),
    /// More cells or vertices than 32-bit offsets hold.
    #[error("the grid is too large to index (more than 2^31 cells or vertices)")]
    TooLarge,
}

/// The point-location index; cells are numbered by their position in the input.
#[derive(Debug, Clone)]
pub struct CellIndex {
    verts: Vec<[f64; 2]>,
    spans: Vec<u32>,
    origin: [f64; 2],
    bucket_size: [f64; 2],
    inverse: [f64; 2],
    nx: usize,
    ny: usize,
    buckets: Vec<Bucket>,
    overflow: Vec<u32>,
}

impl CellIndex {
    /// Indexes `cells` (in order; cell `i` is the `i`-th polygon).
    pub fn build<'a>(cells: impl IntoIterator<Item = &'a Polygon<f64>>) -> Result<Self, IndexError> {
        let mut builder = IndexBuilder::default();
        for polygon in cells {
            builder.push(polygon)?;
        }
        builder.finish()
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.spans.len() - 1
    }

    /// True if there are no cells (never, for a built index).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell containing `(x, y)` by the rule in the module docs; `None` outside every cell.
    #[inline]
    pub fn locate(&self, x: f64, y: f64) -> Option<u32> {
        let fx = (x - self.origin[0]) * self.inverse[0];
        let fy = (y - self.origin[1]) * self.inverse[1];
        // Also false for NaN.
        if !(fx >= 0.0 && fy >= 0.0) {
            return None;
        }
        let (ix, iy) = (fx as usize, fy as usize);
        if ix >= self.nx || iy >= self.ny {
            return None;
        }
        let bucket = &self.buckets[iy * self.nx + ix];
        match bucket.tag {
            EMPTY => None,
            INTERIOR => Some(bucket.ids[0]),
            tag if tag & OVERFLOW != 0 => {
                let start = bucket.ids[0] as usize;
                let end = start + (tag & !OVERFLOW) as usize;
                self.overflow[start..end].iter().copied().find(|&c| self.contains(c, x, y))
            }
            count => bucket.ids[..count as usize].iter().copied().find(|&c| self.contains(c, x, y)),
        }
    }

    /// True if cell `cell` contains `(x, y)` by the rule in the module docs.
    #[inline]
    pub fn contains(&self, cell: u32, x: f64, y: f64) -> bool {
        let c = cell as usize;
        let ring = &self.verts[self.spans[c] as usize..self.spans[c + 1] as usize];
        let mut inside = false;
        for pair in ring.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let (lo, hi) = if a[1] <= b[1] { (a, b) } else { (b, a) };
            if lo[1] <= y && y < hi[1] && left_of(lo, hi, x, y) {
                inside = !inside;
            }
        }
        inside
    }

    /// The vertices of cell `cell`: the closed exterior ring, then each closed hole followed by
    /// the exterior's first vertex.
    pub fn vertices(&self, cell: u32) -> &[[f64; 2]] {
        let c = cell as usize;
        &self.verts[self.spans[c] as usize..self.spans[c + 1] as usize]
    }

    /// Cell `cell` as a polygon (exterior and holes).
    pub fn polygon(&self, cell: u32) -> Polygon<f64> {
        let v = self.vertices(cell);
        let mut rings: Vec<LineString<f64>> = Vec::new();
        let mut i = 0;
        while i < v.len() {
            let start = v[i];
            let close = v[i + 1..].iter().position(|c| *c == start).map_or(v.len() - 1, |k| i + 1 + k);
            rings.push(LineString::from(v[i..=close].iter().map(|c| Coord { x: c[0], y: c[1] }).collect::<Vec<_>>()));
            // Skip the bridge back to the exterior's first vertex after a hole.
            i = close + if rings.len() > 1 { 2 } else { 1 };
        }
        let mut rings = rings.into_iter();
        let exterior = rings.next().unwrap_or_else(|| LineString::new(Vec::new()));
        Polygon::new(exterior, rings.collect())
    }

    /// Cells whose bucket lists cover the box `[min, max]` (each once): the candidates for
    /// anything inside it.
    pub fn cells_near(&self, min: [f64; 2], max: [f64; 2]) -> Vec<u32> {
        let range = |lo: f64, hi: f64, axis: usize, n: usize| {
            let a = ((lo - self.origin[axis]) * self.inverse[axis]).floor().max(0.0) as usize;
            let b = ((hi - self.origin[axis]) * self.inverse[axis]).floor().max(0.0) as usize;
            (a.min(n), b.min(n.saturating_sub(1)))
        };
        let (x0, x1) = range(min[0], max[0], 0, self.nx);
        let (y0, y1) = range(min[1], max[1], 1, self.ny);
        let mut out = Vec::new();
        for iy in y0..=y1.min(self.ny.saturating_sub(1)) {
            for ix in x0..=x1.min(self.nx.saturating_sub(1)) {
                out.extend(self.bucket_cells(iy * self.nx + ix));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn bucket_cells(&self, b: usize) -> &[u32] {
        let bucket = &self.buckets[b];
        match bucket.tag {
            EMPTY => &[],
            INTERIOR => &bucket.ids[..1],
            tag if tag & OVERFLOW != 0 => {
                let start = bucket.ids[0] as usize;
                &self.overflow[start..start + (tag & !OVERFLOW) as usize]
            }
            count => &bucket.ids[..count as usize],
        }
    }

    /// Bytes held by the index (vertices, spans, buckets, overflow lists).
    pub fn heap_bytes(&self) -> usize {
        self.verts.capacity() * 16 + self.spans.capacity() * 4 + self.buckets.capacity() * 16 + self.overflow.capacity() * 4
    }

    /// Share of buckets that answer without a polygon test, and the mean candidates of the
    /// others (for tuning).
    pub fn bucket_stats(&self) -> (f64, f64) {
        let (mut interior, mut boundary, mut candidates) = (0usize, 0usize, 0usize);
        for (b, bucket) in self.buckets.iter().enumerate() {
            match bucket.tag {
                EMPTY => {}
                INTERIOR => interior += 1,
                _ => {
                    boundary += 1;
                    candidates += self.bucket_cells(b).len();
                }
            }
        }
        let used = (interior + boundary).max(1);
        (interior as f64 / used as f64, candidates as f64 / boundary.max(1) as f64)
    }
}

/// True if `(x, y)` lies strictly left of the directed edge `lo → hi`, decided exactly: the
/// float determinant when its error bound allows, Shewchuk's adaptive predicate otherwise.
#[inline(always)]
fn left_of(lo: [f64; 2], hi: [f64; 2], x: f64, y: f64) -> bool {
    let detleft = (hi[0] - lo[0]) * (y - lo[1]);
    let detright = (x - lo[0]) * (hi[1] - lo[1]);
    let det = detleft - detright;
    // Shewchuk's ccwerrboundA for the same expression.
    let bound = 3.330_669_073_875_471_6e-16 * (detleft.abs() + detright.abs());
    if det > bound {
        return true;
    }
    if det < -bound {
        return false;
    }
    let c = |p: [f64; 2]| robust::Coord { x: p[0], y: p[1] };
    robust::orient2d(c(lo), c(hi), robust::Coord { x, y }) > 0.0
}

/// Builds a [`CellIndex`] cell by cell, so that callers can stream cells from a file or a
/// generator without holding them all as polygons.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    verts: Vec<[f64; 2]>,
    spans: Vec<u32>,
    boxes: Vec<[f64; 4]>,
}

impl IndexBuilder {
    /// A builder expecting about `cells` cells of `vertices` vertices each.
    pub fn with_capacity(cells: usize, vertices: usize) -> Self {
        let mut spans = Vec::with_capacity(cells + 1);
        spans.push(0);
        Self { verts: Vec::with_capacity(cells * (vertices + 1)), spans, boxes: Vec::with_capacity(cells) }
    }

    /// Adds the next cell.
    pub fn push(&mut self, polygon: &Polygon<f64>) -> Result<(), IndexError> {
        if self.spans.is_empty() {
            self.spans.push(0);
        }
        let cell = self.boxes.len();
        let start = self.verts.len();
        let exterior = polygon.exterior();
        let first = exterior.0.first().map(|c| [c.x, c.y]);
        push_ring(&mut self.verts, exterior);
        for hole in polygon.interiors() {
            push_ring(&mut self.verts, hole);
            self.verts.extend(first);
        }
        let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for v in &self.verts[start..] {
            if !(v[0].is_finite() && v[1].is_finite()) {
                return Err(IndexError::NotFinite(cell));
            }
            bbox = [bbox[0].min(v[0]), bbox[1].min(v[1]), bbox[2].max(v[0]), bbox[3].max(v[1])];
        }
        self.spans.push(u32::try_from(self.verts.len()).map_err(|_| IndexError::TooLarge)?);
        self.boxes.push(bbox);
        Ok(())
    }

    /// Builds the buckets.
    pub fn finish(self) -> Result<CellIndex, IndexError> {
        let n = self.boxes.len();
        if n == 0 {
            return Err(IndexError::Empty);
        }
        if n >= OVERFLOW as usize {
            return Err(IndexError::TooLarge);
        }
        let bounds = self.boxes.iter().fold([f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY], |b, c| {
            [b[0].min(c[0]), b[1].min(c[1]), b[2].max(c[2]), b[3].max(c[3])]
        });
        let (width, height) = ((bounds[2] - bounds[0]).max(f64::MIN_POSITIVE), (bounds[3] - bounds[1]).max(f64::MIN_POSITIVE));
        let side = (width * height / (n as f64 * BUCKETS_PER_CELL)).sqrt();
        let nx = ((width / side).ceil() as usize).clamp(1, 1 << 15);
        let ny = ((height / side).ceil() as usize).clamp(1, 1 << 15);
        // A hair larger than the bounds, so the maximum corner falls inside the last bucket.
        let bucket_size = [width / nx as f64 * (1.0 + 1e-12), height / ny as f64 * (1.0 + 1e-12)];
        let mut index = CellIndex {
            verts: self.verts,
            spans: self.spans,
            origin: [bounds[0], bounds[1]],
            bucket_size,
            inverse: [1.0 / bucket_size[0], 1.0 / bucket_size[1]],
            nx,
            ny,
            buckets: Vec::new(),
            overflow: Vec::new(),
        };
        let entries = classify(&index, &self.boxes);
        fill_buckets(&mut index, entries);
        Ok(index)
    }
}

fn push_ring(verts: &mut Vec<[f64; 2]>, ring: &LineString<f64>) {
    verts.extend(ring.0.iter().map(|c| [c.x, c.y]));
    // geo closes rings on construction; close here too for rings built by hand.
    if let (Some(f), Some(l)) = (ring.0.first(), ring.0.last()) {
        if f != l {
            verts.push([f.x, f.y]);
        }
    }
}

/// A (bucket, cell) pair; the top bit of `cell` marks "bucket wholly inside the cell".
type Entry = (u32, u32);
const INTERIOR_BIT: u32 = 1 << 31;

/// Pairs every cell with the buckets it touches: interior buckets (no edge of the cell comes
/// near the bucket and its centre is inside) and boundary buckets (an edge comes near).
fn classify(index: &CellIndex, boxes: &[[f64; 4]]) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(boxes.len() * 6);
    // Edges closer than this to a bucket count as touching it; it keeps rounding in the
    // rectangle tests on the safe side (a boundary bucket is never taken for interior).
    let pad = [index.bucket_size[0] * 1e-9, index.bucket_size[1] * 1e-9];
    for (cell, bbox) in boxes.iter().enumerate() {
        let (x0, y0) = bucket_of(index, bbox[0] - pad[0], bbox[1] - pad[1]);
        let (x1, y1) = bucket_of(index, bbox[2] + pad[0], bbox[3] + pad[1]);
        let verts = index.vertices(cell as u32);
        for iy in y0..=y1 {
            for ix in x0..=x1 {
                let rect = [
                    index.origin[0] + ix as f64 * index.bucket_size[0] - pad[0],
                    index.origin[1] + iy as f64 * index.bucket_size[1] - pad[1],
                    index.origin[0] + (ix + 1) as f64 * index.bucket_size[0] + pad[0],
                    index.origin[1] + (iy + 1) as f64 * index.bucket_size[1] + pad[1],
                ];
                let bucket = (iy * index.nx + ix) as u32;
                if verts.windows(2).any(|e| segment_touches_rect(e[0], e[1], rect)) {
                    entries.push((bucket, cell as u32));
                } else if index.contains(cell as u32, (rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0) {
                    entries.push((bucket, cell as u32 | INTERIOR_BIT));
                }
            }
        }
    }
    entries
}

fn bucket_of(index: &CellIndex, x: f64, y: f64) -> (usize, usize) {
    let ix = ((x - index.origin[0]) * index.inverse[0]).floor().max(0.0) as usize;
    let iy = ((y - index.origin[1]) * index.inverse[1]).floor().max(0.0) as usize;
    (ix.min(index.nx - 1), iy.min(index.ny - 1))
}

/// True if segment `a–b` intersects the closed rectangle `[x0, y0, x1, y1]`.
fn segment_touches_rect(a: [f64; 2], b: [f64; 2], r: [f64; 4]) -> bool {
    if a[0].max(b[0]) < r[0] || a[0].min(b[0]) > r[2] || a[1].max(b[1]) < r[1] || a[1].min(b[1]) > r[3] {
        return false;
    }
    let inside = |p: [f64; 2]| p[0] >= r[0] && p[0] <= r[2] && p[1] >= r[1] && p[1] <= r[3];
    if inside(a) || inside(b) {
        return true;
    }
    // Otherwise it crosses the rectangle iff the corners are not all on one side of its line.
    let side = |x: f64, y: f64| (b[0] - a[0]) * (y - a[1]) - (x - a[0]) * (b[1] - a[1]);
    let s = [side(r[0], r[1]), side(r[2], r[1]), side(r[2], r[3]), side(r[0], r[3])];
    !(s.iter().all(|v| *v > 0.0) || s.iter().all(|v| *v < 0.0))
}

/// Groups the entries by bucket (a counting sort) and writes the bucket records, the
/// candidate containing the bucket's centre first.
fn fill_buckets(index: &mut CellIndex, entries: Vec<Entry>) {
    let buckets = index.nx * index.ny;
    let mut starts = vec![0u32; buckets + 1];
    for (b, _) in &entries {
        starts[*b as usize + 1] += 1;
    }
    for i in 0..buckets {
        starts[i + 1] += starts[i];
    }
    let mut sorted = vec![0u32; entries.len()];
    let mut next = starts.clone();
    for (b, cell) in entries {
        sorted[next[b as usize] as usize] = cell;
        next[b as usize] += 1;
    }
    drop(next);
    let mut records = vec![Bucket::default(); buckets];
    let mut overflow = Vec::new();
    for b in 0..buckets {
        let list = &mut sorted[starts[b] as usize..starts[b + 1] as usize];
        if list.is_empty() {
            continue;
        }
        if let Some(&interior) = list.iter().find(|c| **c & INTERIOR_BIT != 0) {
            records[b] = Bucket { tag: INTERIOR, ids: [interior & !INTERIOR_BIT, 0, 0] };
            continue;
        }
        let (ix, iy) = (b % index.nx, b / index.nx);
        let cx = index.origin[0] + (ix as f64 + 0.5) * index.bucket_size[0];
        let cy = index.origin[1] + (iy as f64 + 0.5) * index.bucket_size[1];
        if let Some(k) = list.iter().position(|&c| index.contains(c, cx, cy)) {
            list[..=k].rotate_right(1);
        }
        records[b] = if list.len() <= INLINE {
            let mut ids = [0; INLINE];
            ids[..list.len()].copy_from_slice(list);
            Bucket { tag: list.len() as u32, ids }
        } else {
            let offset = overflow.len() as u32;
            overflow.extend_from_slice(list);
            Bucket { tag: OVERFLOW | list.len() as u32, ids: [offset, 0, 0] }
        };
    }
    overflow.shrink_to_fit();
    index.buckets = records;
    index.overflow = overflow;
}

#[cfg(test)]
mod tests {
    use geo::{Contains, polygon};

    use super::*;

    #[test]
    fn shared_edges_and_vertices_belong_to_the_north_east_cell() {
        // Four unit squares meeting at (1, 1): SW 0, SE 1, NW 2, NE 3.
        let sq = |x: f64, y: f64| polygon![(x: x, y: y), (x: x + 1.0, y: y), (x: x + 1.0, y: y + 1.0), (x: x, y: y + 1.0), (x: x, y: y)];
        let cells = [sq(0.0, 0.0), sq(1.0, 0.0), sq(0.0, 1.0), sq(1.0, 1.0)];
        let index = CellIndex::build(&cells).expect("index");
        assert_eq!(index.locate(0.5, 0.5), Some(0));
        assert_eq!(index.locate(1.0, 0.5), Some(1), "vertical shared edge → east");
        assert_eq!(index.locate(0.5, 1.0), Some(2), "horizontal shared edge → north");
        assert_eq!(index.locate(1.0, 1.0), Some(3), "shared vertex → north-east");
        assert_eq!(index.locate(0.0, 0.5), Some(0), "west outer edge is inside");
        assert_eq!(index.locate(2.0, 0.5), None, "east outer edge is outside");
        assert_eq!(index.locate(0.5, 2.0), None, "north outer edge is outside");
        assert_eq!(index.locate(-0.1, 0.5), None);
        assert_eq!(index.locate(f64::NAN, 0.5), None);
    }

    #[test]
    fn holes_are_not_part_of_the_cell() {
        let outer = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 1.0, y: 1.0), (x: 3.0, y: 1.0), (x: 3.0, y: 3.0), (x: 1.0, y: 3.0), (x: 1.0, y: 1.0)]],
        );
        let inner = polygon![(x: 1.0, y: 1.0), (x: 3.0, y: 1.0), (x: 3.0, y: 3.0), (x: 1.0, y: 3.0), (x: 1.0, y: 1.0)];
        let index = CellIndex::build([&outer, &inner]).expect("index");
        assert_eq!(index.locate(0.5, 2.0), Some(0));
        assert_eq!(index.locate(2.0, 2.0), Some(1), "inside the hole is the island cell");
        assert_eq!(index.polygon(0), outer, "polygons come back as they went in");
        assert!(outer.contains(&geo::Point::new(0.5, 2.0)));
    }

    mod every_point_in_exactly_one_cell {
        use geo::{Contains, Point};
        use proptest::prelude::*;

        use super::*;
        use crate::grid::synthetic::JitteredLattice;

        fn lattice() -> impl Strategy<Value = JitteredLattice> {
            (2u32..12, 2u32..12, any::<u64>()).prop_map(|(cols, rows, seed)| JitteredLattice { cols, rows, origin: (118.0, 34.0), spacing: 0.001, seed })
        }

        /// Cells that claim the point by the crossing rule, by brute force over all cells.
        fn claimants(index: &CellIndex, x: f64, y: f64) -> Vec<u32> {
            (0..index.len() as u32).filter(|c| index.contains(*c, x, y)).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn shared_vertices_and_edges_resolve_to_exactly_one_cell(l in lattice(), t in 0.0f64..1.0) {
                let cells: Vec<Polygon<f64>> = l.cells().collect();
                let index = CellIndex::build(&cells).expect("index");
                let interior = |col: u32, row: u32| col > 0 && row > 0 && col < l.cols - 1 && row < l.rows - 1;
                for row in 0..l.rows {
                    for col in 0..l.cols {
                        if !interior(col, row) {
                            continue;
                        }
                        // Every vertex of an inner cell is shared, and every point of its sides too.
                        let ring = &cells[(row * l.cols + col) as usize].exterior().0;
                        for pair in ring.windows(2) {
                            let (a, b) = (pair[0], pair[1]);
                            let on_edge = Coord { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
                            for p in [a, on_edge] {
                                let owners = claimants(&index, p.x, p.y);
                                prop_assert_eq!(owners.len(), 1, "point {:?} claimed by {:?}", p, owners);
                                prop_assert_eq!(index.locate(p.x, p.y), Some(owners[0]), "the buckets agree with brute force");
                            }
                        }
                    }
                }
            }

            #[test]
            fn interior_points_agree_with_geo_contains(l in lattice(), xs in proptest::collection::vec((0.0f64..1.0, 0.0f64..1.0), 50)) {
                let cells: Vec<Polygon<f64>> = l.cells().collect();
                let index = CellIndex::build(&cells).expect("index");
                let (x0, y0, x1, y1) = l.bounds();
                for (u, v) in xs {
                    let p = Point::new(x0 + u * (x1 - x0), y0 + v * (y1 - y0));
                    let by_geo: Vec<u32> = (0..cells.len() as u32).filter(|c| cells[*c as usize].contains(&p)).collect();
                    let owners = claimants(&index, p.x(), p.y());
                    prop_assert!(owners.len() <= 1, "{:?} claimed by {:?}", p, owners);
                    if by_geo.len() == 1 {
                        prop_assert_eq!(&owners, &by_geo, "strictly inside: the same cell as geo::Contains");
                    }
                    prop_assert_eq!(index.locate(p.x(), p.y()), owners.first().copied());
                }
            }
        }
    }
}

