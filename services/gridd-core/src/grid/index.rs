//! The point-location index of the unit grid: exact, compact, and one cache line for most
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
//! - Vertices of every cell in one `Vec<[f64; 2]>`, each ring without its closing vertex (the
//!   edge from the last vertex back to the first is implied). A cell with holes stores its
//!   exterior closed, then each hole closed and followed by the exterior's first vertex: the
//!   bridges are walked both ways, so their crossings cancel.
//! - A uniform grid of 64-byte blocks over the bounding box, about one per cell. A block lists
//!   up to seven candidate cells and maps its 8 × 8 sub-squares to an owner: a sub-square that
//!   no edge comes near is wholly inside one candidate (or outside all), and the answer is read
//!   off the block with no polygon test; a sub-square an edge crosses names the candidate that
//!   owns its centre, tested first. A block with more than seven candidates splits into four
//!   (a quadtree, only where cells are small).

use geo::{Coord, LineString, Polygon};

/// Blocks per cell at the top level.
pub const BLOCKS_PER_CELL: f64 = 1.0;
/// Candidates a block holds; one more index value means "no cell".
const SLOTS: usize = 7;
const NONE: u8 = 7;
/// Sub-squares per block side.
const SUB: usize = 8;
/// A sub-square code with this bit set needs a polygon test (an edge crosses it).
const MIXED: u8 = 8;
/// An edge position standing for "more than one edge" (or none recorded).
const MANY: u8 = u8::MAX;
/// Tag bit of a block that splits into four children.
const SPLIT: u32 = 1 << 31;
/// Tag bit of a block whose candidates spill to the overflow list (too many even at the
/// deepest split); all its sub-squares need polygon tests.
const SPILL: u32 = 1 << 30;
/// Deepest quadtree split.
const MAX_DEPTH: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
struct Block {
    /// Candidate count; or `SPLIT | first child`; or `SPILL | count` (then `cells[0]` is the
    /// offset into the overflow list).
    tag: u32,
    cells: [u32; SLOTS],
    /// Two 4-bit codes per byte, sub-square `row * 8 + column` (row 0 south, column 0 west).
    sub: [u8; SUB * SUB / 2],
}

impl Default for Block {
    fn default() -> Self {
        Self { tag: 0, cells: [0; SLOTS], sub: [0x77; SUB * SUB / 2] }
    }
}

impl Block {
    #[inline(always)]
    fn code(&self, sub: usize) -> u8 {
        (self.sub[sub / 2] >> ((sub & 1) * 4)) & 0x0F
    }

    fn set_code(&mut self, sub: usize, code: u8) {
        let shift = (sub & 1) * 4;
        self.sub[sub / 2] = (self.sub[sub / 2] & !(0x0F << shift)) | (code << shift);
    }
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
    #[error("the grid is too large to index (more than 2^30 cells or 2^32 vertices)")]
    TooLarge,
}

/// The point-location index; cells are numbered by their position in the input.
#[derive(Debug, Clone)]
pub struct CellIndex {
    verts: Vec<[f64; 2]>,
    spans: Vec<u32>,
    origin: [f64; 2],
    block_size: [f64; 2],
    inverse: [f64; 2],
    nx: usize,
    ny: usize,
    blocks: Vec<Block>,
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
        let (block, sub) = self.block_of(x, y)?;
        if block.tag & SPILL != 0 {
            let start = block.cells[0] as usize;
            let end = start + (block.tag & !SPILL) as usize;
            return self.overflow[start..end].iter().copied().find(|&c| self.contains(c, x, y));
        }
        let code = block.code(sub);
        let first = code & !MIXED;
        if code & MIXED == 0 {
            return (first != NONE).then(|| block.cells[first as usize]);
        }
        self.resolve_mixed(block, first, x, y)
    }

    /// Locates many points at once; the same answers as [`CellIndex::locate`] point by point.
    ///
    /// Random points of a large grid each cost a few cache misses; taken one at a time they
    /// wait on memory in turn. Here points go in groups through stages — find each block, then
    /// each candidate's vertex range, then its vertices, then decide — and every stage's loads
    /// are independent across the group, so the processor fetches them all at once.
    pub fn locate_many(&self, points: &[[f64; 2]], out: &mut Vec<Option<u32>>) {
        const GROUP: usize = 32;
        out.clear();
        out.reserve(points.len());
        for group in points.chunks(GROUP) {
            // Stage 1: the block and sub-square code of every point.
            let mut pending: [(u32, u8, u8); GROUP] = [(0, 0, 0); GROUP];
            let mut blocks: [Option<&Block>; GROUP] = [None; GROUP];
            for (k, p) in group.iter().enumerate() {
                if let Some((block, sub)) = self.block_of(p[0], p[1]) {
                    pending[k] = (0, block.code(sub), 0);
                    blocks[k] = Some(block);
                }
            }
            // Stage 2: answers read off pure sub-squares; the first guess of the others.
            let base = out.len();
            for (k, p) in group.iter().enumerate() {
                let answer = match blocks[k] {
                    None => None,
                    Some(block) if block.tag & SPILL != 0 => self.locate(p[0], p[1]),
                    Some(block) => {
                        let code = pending[k].1;
                        let first = code & !MIXED;
                        if code & MIXED == 0 {
                            (first != NONE).then(|| block.cells[first as usize])
                        } else {
                            if first != NONE {
                                // Touch the guess's vertex range and first vertex now, so
                                // these loads overlap with the other points'.
                                let c = block.cells[first as usize] as usize;
                                pending[k].0 = self.spans[c];
                                pending[k].2 = 1;
                            }
                            None
                        }
                    }
                };
                out.push(answer);
            }
            // Every cache line of each guess's vertices (four vertices to a line).
            let mut touch = 0.0;
            for item in pending.iter().take(group.len()) {
                if item.2 == 1 {
                    let start = item.0 as usize;
                    for line in [start, start + 4, start + 8, start + 12] {
                        touch += self.verts.get(line).map_or(0.0, |v| v[0]);
                    }
                }
            }
            std::hint::black_box(touch);
            // Stage 3: polygon tests for the mixed ones.
            for (k, p) in group.iter().enumerate() {
                if let Some(block) = blocks[k] {
                    if block.tag & SPILL == 0 && pending[k].1 & MIXED != 0 {
                        out[base + k] = self.resolve_mixed(block, pending[k].1 & !MIXED, p[0], p[1]);
                    }
                }
            }
        }
    }

    /// The leaf block holding `(x, y)` and the sub-square index, or `None` outside the bounds.
    #[inline]
    fn block_of(&self, x: f64, y: f64) -> Option<(&Block, usize)> {
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
        let (mut u, mut v) = (fx - ix as f64, fy - iy as f64);
        let mut block = &self.blocks[iy * self.nx + ix];
        while block.tag & SPLIT != 0 {
            let (qx, qy) = (usize::from(u >= 0.5), usize::from(v >= 0.5));
            u = u * 2.0 - qx as f64;
            v = v * 2.0 - qy as f64;
            block = &self.blocks[(block.tag & !SPLIT) as usize + qy * 2 + qx];
        }
        let sx = ((u * SUB as f64) as usize).min(SUB - 1);
        let sy = ((v * SUB as f64) as usize).min(SUB - 1);
        Some((block, sy * SUB + sx))
    }

    /// A mixed sub-square's answer: the first guess, then the other candidates.
    #[inline]
    fn resolve_mixed(&self, block: &Block, first: u8, x: f64, y: f64) -> Option<u32> {
        if first != NONE && self.contains(block.cells[first as usize], x, y) {
            return Some(block.cells[first as usize]);
        }
        let count = block.tag as usize;
        block.cells[..count].iter().enumerate().filter(|(k, _)| *k != first as usize).map(|(_, c)| *c).find(|&c| self.contains(c, x, y))
    }

    /// True if cell `cell` contains `(x, y)` by the rule in the module docs.
    ///
    /// The loop is branch-free: each edge's crossing is computed from the float determinant,
    /// and only if some spanning edge's determinant is within its error bound (the point is
    /// within rounding distance of that edge's line) is the cell decided again with the exact
    /// predicate.
    #[inline]
    pub fn contains(&self, cell: u32, x: f64, y: f64) -> bool {
        let ring = self.vertices(cell);
        let Some(&last) = ring.last() else { return false };
        let (mut inside, mut uncertain) = (false, false);
        let mut a = last;
        for &b in ring {
            let spans = (a[1] <= y) != (b[1] <= y);
            let detleft = (b[0] - a[0]) * (y - a[1]);
            let detright = (x - a[0]) * (b[1] - a[1]);
            let det = detleft - detright;
            let bound = ERR_BOUND * (detleft.abs() + detright.abs());
            // Upward edge: crossing iff the point is left of it; downward: right of it.
            inside ^= spans & ((det > 0.0) == (a[1] < b[1]));
            uncertain |= spans & (det.abs() <= bound);
            a = b;
        }
        if uncertain { self.contains_exact(cell, x, y) } else { inside }
    }

    /// [`CellIndex::contains`] with the exact predicate on every spanning edge.
    #[cold]
    fn contains_exact(&self, cell: u32, x: f64, y: f64) -> bool {
        let mut inside = false;
        for (a, b) in self.edges(cell) {
            let (lo, hi) = if a[1] <= b[1] { (a, b) } else { (b, a) };
            if lo[1] <= y && y < hi[1] && left_of(lo, hi, x, y) {
                inside = !inside;
            }
        }
        inside
    }

    /// The edges of cell `cell`, including the implied closing edge.
    #[inline]
    pub fn edges(&self, cell: u32) -> impl Iterator<Item = ([f64; 2], [f64; 2])> + '_ {
        let ring = self.vertices(cell);
        let closing = ring.last().zip(ring.first()).map(|(a, b)| (*a, *b));
        ring.windows(2).map(|w| (w[0], w[1])).chain(closing)
    }

    /// Edge `e` of cell `cell` (as numbered by [`CellIndex::edges`]).
    #[inline]
    fn edge(&self, cell: u32, e: usize) -> Option<([f64; 2], [f64; 2])> {
        let ring = self.vertices(cell);
        let a = *ring.get(e)?;
        let b = *ring.get(e + 1).or(ring.first())?;
        Some((a, b))
    }

    /// The stored vertices of cell `cell` (see the module docs for the layout).
    pub fn vertices(&self, cell: u32) -> &[[f64; 2]] {
        let c = cell as usize;
        &self.verts[self.spans[c] as usize..self.spans[c + 1] as usize]
    }

    /// Cell `cell` as a polygon (exterior and holes, rings closed).
    pub fn polygon(&self, cell: u32) -> Polygon<f64> {
        let v = self.vertices(cell);
        let coords = |s: &[[f64; 2]]| s.iter().map(|c| Coord { x: c[0], y: c[1] }).collect::<Vec<_>>();
        let Some(&start) = v.first() else { return Polygon::new(LineString::new(Vec::new()), Vec::new()) };
        let Some(close) = v[1..].iter().position(|c| *c == start).map(|k| k + 1) else {
            // A simple ring: closed by construction of the LineString.
            return Polygon::new(LineString::new(coords(v)), Vec::new());
        };
        let exterior = LineString::new(coords(&v[..=close]));
        let mut holes = Vec::new();
        let mut i = close + 1;
        while i < v.len() {
            let hole_start = v[i];
            let end = v[i + 1..].iter().position(|c| *c == hole_start).map_or(v.len() - 1, |k| i + 1 + k);
            holes.push(LineString::new(coords(&v[i..=end])));
            // Skip the bridge back to the exterior's first vertex.
            i = end + 2;
        }
        Polygon::new(exterior, holes)
    }

    /// Every cell listed in a block that meets the box `[min, max]`, each once: the
    /// candidates for anything inside it.
    pub fn cells_near(&self, min: [f64; 2], max: [f64; 2]) -> Vec<u32> {
        let range = |lo: f64, hi: f64, axis: usize, n: usize| {
            let a = ((lo - self.origin[axis]) * self.inverse[axis]).floor().max(0.0) as usize;
            let b = ((hi - self.origin[axis]) * self.inverse[axis]).floor().max(0.0) as usize;
            (a.min(n - 1), b.min(n - 1))
        };
        let (x0, x1) = range(min[0], max[0], 0, self.nx);
        let (y0, y1) = range(min[1], max[1], 1, self.ny);
        let mut out = Vec::new();
        for iy in y0..=y1 {
            for ix in x0..=x1 {
                self.collect_cells(iy * self.nx + ix, &mut out);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn collect_cells(&self, b: usize, out: &mut Vec<u32>) {
        let block = &self.blocks[b];
        if block.tag & SPLIT != 0 {
            let first = (block.tag & !SPLIT) as usize;
            for child in first..first + 4 {
                self.collect_cells(child, out);
            }
        } else if block.tag & SPILL != 0 {
            let start = block.cells[0] as usize;
            out.extend_from_slice(&self.overflow[start..start + (block.tag & !SPILL) as usize]);
        } else {
            out.extend_from_slice(&block.cells[..block.tag as usize]);
        }
    }

    /// Bytes held by the index (vertices, spans, blocks, overflow lists).
    pub fn heap_bytes(&self) -> usize {
        self.verts.capacity() * 16 + self.spans.capacity() * 4 + self.blocks.capacity() * 64 + self.overflow.capacity() * 4
    }

    /// Share of sub-squares answered without a polygon test, and the number of blocks
    /// (including quadtree children), for tuning.
    pub fn bucket_stats(&self) -> (f64, f64) {
        let (mut pure, mut all) = (0usize, 0usize);
        for block in &self.blocks {
            if block.tag & SPLIT != 0 {
                continue;
            }
            all += SUB * SUB;
            if block.tag & SPILL == 0 {
                pure += (0..SUB * SUB).filter(|s| block.code(*s) & MIXED == 0).count();
            }
        }
        (pure as f64 / all.max(1) as f64, self.blocks.len() as f64)
    }
}

/// Shewchuk's `ccwerrboundA`: when |det| exceeds this times the sum of the magnitudes of its
/// two products, the float determinant has the exact sign.
const ERR_BOUND: f64 = 3.330_669_073_875_471_6e-16;

/// True if `(x, y)` lies strictly left of the directed edge `lo → hi`, decided exactly: the
/// float determinant when its error bound allows, Shewchuk's adaptive predicate otherwise.
#[inline(always)]
fn left_of(lo: [f64; 2], hi: [f64; 2], x: f64, y: f64) -> bool {
    let detleft = (hi[0] - lo[0]) * (y - lo[1]);
    let detright = (x - lo[0]) * (hi[1] - lo[1]);
    let det = detleft - detright;
    let bound = ERR_BOUND * (detleft.abs() + detright.abs());
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
    /// Per cell: 1 if its exterior runs counter-clockwise, -1 if clockwise, 0 if it has holes
    /// (used only to pick first guesses while building).
    turn: Vec<i8>,
}

impl IndexBuilder {
    /// A builder expecting about `cells` cells of `vertices` vertices each.
    pub fn with_capacity(cells: usize, vertices: usize) -> Self {
        let mut spans = Vec::with_capacity(cells + 1);
        spans.push(0);
        Self { verts: Vec::with_capacity(cells * vertices), spans, boxes: Vec::with_capacity(cells), turn: Vec::with_capacity(cells) }
    }

    /// Adds the next cell.
    pub fn push(&mut self, polygon: &Polygon<f64>) -> Result<(), IndexError> {
        if self.spans.is_empty() {
            self.spans.push(0);
        }
        let cell = self.boxes.len();
        let start = self.verts.len();
        let push_ring = |verts: &mut Vec<[f64; 2]>, r: &LineString<f64>| {
            let from = verts.len();
            verts.extend(r.0.iter().map(|c| [c.x, c.y]));
            if verts.len() > from + 1 && verts.last() == verts.get(from) {
                verts.pop();
            }
            from
        };
        push_ring(&mut self.verts, polygon.exterior());
        let exterior = &self.verts[start..];
        let first = exterior.first().copied();
        let twice_area: f64 = exterior.iter().zip(exterior.iter().cycle().skip(1)).map(|(a, b)| a[0] * b[1] - b[0] * a[1]).sum();
        self.turn.push(if !polygon.interiors().is_empty() {
            0
        } else if twice_area > 0.0 {
            1
        } else {
            -1
        });
        if !polygon.interiors().is_empty() {
            self.verts.extend(first);
            for hole in polygon.interiors() {
                let from = push_ring(&mut self.verts, hole);
                let hole_first = self.verts.get(from).copied();
                self.verts.extend(hole_first);
                self.verts.extend(first);
            }
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

    /// Builds the blocks.
    pub fn finish(self) -> Result<CellIndex, IndexError> {
        let n = self.boxes.len();
        if n == 0 {
            return Err(IndexError::Empty);
        }
        if n >= SPILL as usize {
            return Err(IndexError::TooLarge);
        }
        let bounds = self.boxes.iter().fold([f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY], |b, c| {
            [b[0].min(c[0]), b[1].min(c[1]), b[2].max(c[2]), b[3].max(c[3])]
        });
        let (width, height) = ((bounds[2] - bounds[0]).max(f64::MIN_POSITIVE), (bounds[3] - bounds[1]).max(f64::MIN_POSITIVE));
        let side = (width * height / (n as f64 * BLOCKS_PER_CELL)).sqrt();
        let nx = ((width / side).ceil() as usize).clamp(1, 1 << 15);
        let ny = ((height / side).ceil() as usize).clamp(1, 1 << 15);
        // A hair larger than the bounds, so the maximum corner falls inside the last block.
        let block_size = [width / nx as f64 * (1.0 + 1e-12), height / ny as f64 * (1.0 + 1e-12)];
        let mut index = CellIndex {
            verts: self.verts,
            spans: self.spans,
            origin: [bounds[0], bounds[1]],
            block_size,
            inverse: [1.0 / block_size[0], 1.0 / block_size[1]],
            nx,
            ny,
            blocks: Vec::new(),
            overflow: Vec::new(),
        };
        build_blocks(&mut index, &self.boxes, &self.turn);
        Ok(index)
    }
}

/// Assigns cells to top-level blocks by bounding box (a counting sort), then fills each block.
fn build_blocks(index: &mut CellIndex, boxes: &[[f64; 4]], turn: &[i8]) {
    let (nx, ny) = (index.nx, index.ny);
    let block_of = |x: f64, y: f64| {
        let ix = ((x - index.origin[0]) * index.inverse[0]).floor().max(0.0) as usize;
        let iy = ((y - index.origin[1]) * index.inverse[1]).floor().max(0.0) as usize;
        (ix.min(nx - 1), iy.min(ny - 1))
    };
    let pad = [index.block_size[0] * 1e-6, index.block_size[1] * 1e-6];
    let ranges: Vec<(usize, usize, usize, usize)> = boxes
        .iter()
        .map(|b| {
            let (x0, y0) = block_of(b[0] - pad[0], b[1] - pad[1]);
            let (x1, y1) = block_of(b[2] + pad[0], b[3] + pad[1]);
            (x0, y0, x1, y1)
        })
        .collect();
    let mut starts = vec![0u32; nx * ny + 1];
    for &(x0, y0, x1, y1) in &ranges {
        for iy in y0..=y1 {
            for ix in x0..=x1 {
                starts[iy * nx + ix + 1] += 1;
            }
        }
    }
    for i in 0..nx * ny {
        starts[i + 1] += starts[i];
    }
    let mut members = vec![0u32; starts[nx * ny] as usize];
    let mut next = starts.clone();
    for (cell, &(x0, y0, x1, y1)) in ranges.iter().enumerate() {
        for iy in y0..=y1 {
            for ix in x0..=x1 {
                let b = iy * nx + ix;
                members[next[b] as usize] = cell as u32;
                next[b] += 1;
            }
        }
    }
    drop((next, ranges));
    // Blocks are independent: rows of blocks are filled on every core, each worker with its
    // own quadtree children and overflow list, merged (and their offsets moved) afterwards.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8).min(ny);
    let rows_per_worker = ny.div_ceil(workers);
    let shared: &CellIndex = index;
    let parts: Vec<(Vec<Block>, Vec<Block>, Vec<u32>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (members, starts) = (&members, &starts);
                scope.spawn(move || {
                    let rows = (w * rows_per_worker)..((w + 1) * rows_per_worker).min(ny);
                    let mut filler =
                        Filler { index: shared, turn, children: Vec::new(), overflow: Vec::new(), scratch: Scratch::default() };
                    let mut top = Vec::with_capacity(rows.len() * nx);
                    for iy in rows {
                        for ix in 0..nx {
                            let b = iy * nx + ix;
                            let rect = [
                                shared.origin[0] + ix as f64 * shared.block_size[0],
                                shared.origin[1] + iy as f64 * shared.block_size[1],
                                shared.origin[0] + (ix + 1) as f64 * shared.block_size[0],
                                shared.origin[1] + (iy + 1) as f64 * shared.block_size[1],
                            ];
                            top.push(filler.fill(rect, &members[starts[b] as usize..starts[b + 1] as usize], boxes, 0));
                        }
                    }
                    (top, filler.children, filler.overflow)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    // Children go after all top-level blocks, worker by worker; a worker's child indices and
    // overflow offsets were local to it.
    let mut blocks = Vec::with_capacity(nx * ny + parts.iter().map(|p| p.1.len()).sum::<usize>());
    let mut children = Vec::new();
    let mut overflow = Vec::new();
    let mut child_base = nx * ny;
    for (mut top, mut kids, spilled) in parts {
        let (child_offset, overflow_offset) = (child_base as u32, overflow.len() as u32);
        for block in top.iter_mut().chain(kids.iter_mut()) {
            if block.tag & SPLIT != 0 {
                block.tag = SPLIT | ((block.tag & !SPLIT) + child_offset);
            } else if block.tag & SPILL != 0 {
                block.cells[0] += overflow_offset;
            }
        }
        child_base += kids.len();
        blocks.append(&mut top);
        children.append(&mut kids);
        overflow.extend(spilled);
    }
    blocks.append(&mut children);
    index.blocks = blocks;
    index.overflow = overflow;
}

/// Reusable buffers of block filling.
#[derive(Default)]
struct Scratch {
    touch: Vec<u64>,
    /// Per candidate and sub-square: the one edge of the candidate that touches it (its
    /// position in the ring), or `MANY`.
    edge_at: Vec<[u8; SUB * SUB]>,
    /// Edges rasterised in the current block, with their sub-squares.
    raster: Vec<([f64; 2], [f64; 2], u64)>,
    owns: Vec<bool>,
    slot_of: Vec<u8>,
}

struct Filler<'a> {
    index: &'a CellIndex,
    turn: &'a [i8],
    /// Quadtree children; `SPLIT` tags index this list until the lists are merged.
    children: Vec<Block>,
    overflow: Vec<u32>,
    scratch: Scratch,
}

impl Filler<'_> {
    /// The block for `rect` with candidate cells `candidates` (those whose bounding box meets
    /// it).
    fn fill(&mut self, rect: [f64; 4], candidates: &[u32], boxes: &[[f64; 4]], depth: u32) -> Block {
        let index = self.index;
        let sub = [(rect[2] - rect[0]) / SUB as f64, (rect[3] - rect[1]) / SUB as f64];
        let inv = [1.0 / sub[0], 1.0 / sub[1]];
        let pad = [sub[0] * 1e-6, sub[1] * 1e-6];
        let outer = [rect[0] - pad[0], rect[1] - pad[1], rect[2] + pad[0], rect[3] + pad[1]];
        // Sub-square boundaries, padded: sub-square (sx, sy) spans lo[sx]..hi[sx] × lo[sy]..hi[sy].
        let lines = |axis: usize| -> [[f64; 2]; SUB] {
            std::array::from_fn(|k| [rect[axis] + k as f64 * sub[axis] - pad[axis], rect[axis] + (k + 1) as f64 * sub[axis] + pad[axis]])
        };
        let (xs, ys) = (lines(0), lines(1));
        let cell_of = |v: f64, axis: usize| (((v - rect[axis]) * inv[axis]).max(0.0) as usize).min(SUB - 1);
        // Which sub-squares each candidate's edges come near (a bit per sub-square).
        let touch = &mut self.scratch.touch;
        let edge_at = &mut self.scratch.edge_at;
        let raster = &mut self.scratch.raster;
        touch.clear();
        edge_at.clear();
        raster.clear();
        for &c in candidates {
            let mut mask = 0u64;
            let mut at = [MANY; SUB * SUB];
            for (e, (a, b)) in index.edges(c).enumerate() {
                let (x_lo, x_hi) = if a[0] <= b[0] { (a[0], b[0]) } else { (b[0], a[0]) };
                let (y_lo, y_hi) = if a[1] <= b[1] { (a[1], b[1]) } else { (b[1], a[1]) };
                if x_hi < outer[0] || x_lo > outer[2] || y_hi < outer[1] || y_lo > outer[3] {
                    continue;
                }
                // Neighbours share edges: each edge is rasterised once per block.
                let edge_mask = match raster.iter().find(|(p, q, _)| (*p == a && *q == b) || (*p == b && *q == a)) {
                    Some((_, _, m)) => *m,
                    None => {
                        let (c0, c1) = (cell_of(x_lo - pad[0], 0), cell_of(x_hi + pad[0], 0));
                        let (r0, r1) = (cell_of(y_lo - pad[1], 1), cell_of(y_hi + pad[1], 1));
                        let mut m = 0u64;
                        for (sy, y) in ys.iter().enumerate().take(r1 + 1).skip(r0) {
                            for (sx, x) in xs.iter().enumerate().take(c1 + 1).skip(c0) {
                                if segment_touches_rect(a, b, [x[0], y[0], x[1], y[1]]) {
                                    m |= 1u64 << (sy * SUB + sx);
                                }
                            }
                        }
                        raster.push((a, b, m));
                        m
                    }
                };
                let mut bits = edge_mask;
                while bits != 0 {
                    let s = bits.trailing_zeros() as usize;
                    // The first edge here is recorded; a second one makes it `MANY`.
                    at[s] = if mask & (1 << s) == 0 { u8::try_from(e).unwrap_or(MANY) } else { MANY };
                    bits &= bits - 1;
                }
                mask |= edge_mask;
            }
            touch.push(mask);
            edge_at.push(at);
        }
        let touched: u64 = touch.iter().fold(0, |m, t| m | t);
        let centre = |s: usize| [rect[0] + ((s % SUB) as f64 + 0.5) * sub[0], rect[1] + ((s / SUB) as f64 + 0.5) * sub[1]];
        // Untouched sub-squares form regions that no edge crosses: one owner each (an index
        // into `candidates`, or none).
        let mut owner = [u8::MAX; SUB * SUB];
        let owns = &mut self.scratch.owns;
        owns.clear();
        owns.resize(candidates.len(), false);
        let mut seen = touched;
        while seen != u64::MAX {
            let s = (!seen).trailing_zeros() as usize;
            let region = flood(s, !touched);
            seen |= region;
            let [x, y] = centre(s);
            // Candidates with an edge next to the region are the likely owners: test them first.
            let rim = grow(region) & !region;
            let likely = |k: &usize| touch[*k] & rim != 0;
            let found = (0..candidates.len())
                .filter(likely)
                .chain((0..candidates.len()).filter(|k| !likely(k)))
                .find(|&k| index.contains(candidates[k], x, y));
            if let Some(k) = found {
                owns[k] = true;
            }
            let mut bits = region;
            while bits != 0 {
                owner[bits.trailing_zeros() as usize] = found.map_or(u8::MAX, |k| k as u8);
                bits &= bits - 1;
            }
        }
        // Keep the candidates that matter here: an edge in the block, or a region owned.
        let touch = &self.scratch.touch;
        let slot_of = &mut self.scratch.slot_of;
        slot_of.clear();
        slot_of.resize(candidates.len(), NONE);
        let mut kept = 0usize;
        for k in 0..candidates.len() {
            if touch[k] != 0 || owns[k] {
                slot_of[k] = kept.min(usize::from(NONE)) as u8;
                kept += 1;
            }
        }
        if kept > SLOTS {
            let kept_cells: Vec<u32> =
                (0..candidates.len()).filter(|k| slot_of[*k] != NONE || touch[*k] != 0 || owns[*k]).map(|k| candidates[k]).collect();
            if depth < MAX_DEPTH {
                return self.split(rect, &kept_cells, boxes, depth);
            }
            let offset = self.overflow.len() as u32;
            self.overflow.extend_from_slice(&kept_cells);
            let mut block = Block { tag: SPILL | kept_cells.len() as u32, ..Block::default() };
            block.cells[0] = offset;
            return block;
        }
        let mut block = Block { tag: kept as u32, ..Block::default() };
        for (k, &slot) in slot_of.iter().enumerate() {
            if slot != NONE {
                block.cells[slot as usize] = candidates[k];
            }
        }
        for s in 0..SUB * SUB {
            if touched & (1 << s) == 0 {
                let code = if owner[s] == u8::MAX { NONE } else { slot_of[usize::from(owner[s])] };
                block.set_code(s, code);
                continue;
            }
            // Mixed: the candidate owning the centre goes first. Where one edge of a candidate
            // crosses the sub-square, the side of that edge tells; a polygon test otherwise.
            let [x, y] = centre(s);
            let touching = || (0..candidates.len()).filter(|&k| touch[k] & (1 << s) != 0);
            let by_edge = touching().find(|&k| {
                let (cell, edge, turn) = (candidates[k], self.scratch.edge_at[k][s], self.turn[candidates[k] as usize]);
                edge != MANY
                    && turn != 0
                    && index.edge(cell, usize::from(edge)).is_some_and(|(a, b)| {
                        let det = (b[0] - a[0]) * (y - a[1]) - (x - a[0]) * (b[1] - a[1]);
                        det * f64::from(turn) > 0.0
                    })
            });
            let guess = by_edge.or_else(|| touching().find(|&k| index.contains(candidates[k], x, y)));
            block.set_code(s, MIXED | guess.map_or(NONE, |k| slot_of[k]));
        }
        block
    }

    fn split(&mut self, rect: [f64; 4], candidates: &[u32], boxes: &[[f64; 4]], depth: u32) -> Block {
        let first = self.children.len();
        self.children.extend([Block::default(); 4]);
        let (mx, my) = ((rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0);
        let quads = [[rect[0], rect[1], mx, my], [mx, rect[1], rect[2], my], [rect[0], my, mx, rect[3]], [mx, my, rect[2], rect[3]]];
        for (q, r) in quads.into_iter().enumerate() {
            let pad = [(r[2] - r[0]) * 1e-6, (r[3] - r[1]) * 1e-6];
            let inside: Vec<u32> = candidates
                .iter()
                .copied()
                .filter(|&c| {
                    let b = boxes[c as usize];
                    b[0] <= r[2] + pad[0] && b[2] >= r[0] - pad[0] && b[1] <= r[3] + pad[1] && b[3] >= r[1] - pad[1]
                })
                .collect();
            let child = self.fill(r, &inside, boxes, depth + 1);
            self.children[first + q] = child;
        }
        Block { tag: SPLIT | first as u32, ..Block::default() }
    }
}

/// `region` grown by one sub-square in the four directions.
#[inline]
fn grow(region: u64) -> u64 {
    const NOT_WEST: u64 = !0x0101_0101_0101_0101;
    const NOT_EAST: u64 = !0x8080_8080_8080_8080;
    region | ((region << 1) & NOT_WEST) | ((region >> 1) & NOT_EAST) | (region << SUB) | (region >> SUB)
}

/// The 4-connected region of `open` sub-squares that contains `start`.
fn flood(start: usize, open: u64) -> u64 {
    let mut region = 1u64 << start;
    loop {
        let grown = grow(region) & open;
        if grown == region {
            return region;
        }
        region = grown;
    }
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
            (2u32..12, 2u32..12, any::<u64>()).prop_map(|(cols, rows, seed)| JitteredLattice {
                cols,
                rows,
                origin: (118.0, 34.0),
                spacing: 0.001,
                seed,
            })
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
                let xs_all = xs.clone();
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
                let raw: Vec<[f64; 2]> = xs_all.iter().map(|(u, v)| [x0 + u * (x1 - x0), y0 + v * (y1 - y0)]).collect();
                let mut batch = Vec::new();
                index.locate_many(&raw, &mut batch);
                let single: Vec<Option<u32>> = raw.iter().map(|p| index.locate(p[0], p[1])).collect();
                prop_assert_eq!(batch, single, "the batch API answers as locate does");
            }
        }
    }
}
