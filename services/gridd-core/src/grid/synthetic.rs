//! Seeded irregular grids of any size, generated cell by cell without holding them all: a
//! lattice whose corners are jittered and whose sides are bent twice, so every cell has 12
//! vertices, no two cells have the same shape, and neighbours share their sides exactly (the
//! result is a partition: no gap, no overlap).
//!
//! Used by the property tests and by the benchmarks at 10 k, 100 k and 1 M cells.

use geo::{Coord, LineString, Polygon};

/// A jittered lattice of `cols × rows` cells of side `spacing` degrees from `origin`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitteredLattice {
    /// Cells per row.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
    /// South-west corner of the lattice before jitter (lon, lat).
    pub origin: (f64, f64),
    /// Cell side before jitter, in degrees.
    pub spacing: f64,
    /// Seed of the jitter.
    pub seed: u64,
}

/// How far corners move, as a share of the spacing (< 0.5 keeps cells simple).
const CORNER_JITTER: f64 = 0.2;
/// How far each side's two bends move across the side, as a share of the spacing.
const BEND_JITTER: f64 = 0.05;

impl JitteredLattice {
    /// A lattice of about `cells` cells (a near-square arrangement) of 0.001° (~100 m) cells.
    pub fn with_cells(cells: usize, seed: u64) -> Self {
        let cols = (cells as f64).sqrt().ceil().max(1.0) as u32;
        let rows = (cells as u32).div_ceil(cols).max(1);
        Self { cols, rows, origin: (100.0, 30.0), spacing: 0.001, seed }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cols as usize * self.rows as usize
    }

    /// True if there are no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bounding box of every possible cell (min lon, min lat, max lon, max lat).
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        let pad = CORNER_JITTER * self.spacing;
        let (x, y) = self.origin;
        (x - pad, y - pad, x + self.cols as f64 * self.spacing + pad, y + self.rows as f64 * self.spacing + pad)
    }

    /// The cells, row by row from the south-west; cell `(col, row)` is number `row × cols + col`.
    pub fn cells(&self) -> impl Iterator<Item = Polygon<f64>> + '_ {
        (0..self.rows).flat_map(move |r| (0..self.cols).map(move |c| self.cell(c, r)))
    }

    /// Cell `(col, row)`: counter-clockwise, 12 vertices, closed.
    pub fn cell(&self, col: u32, row: u32) -> Polygon<f64> {
        let corners = [(col, row), (col + 1, row), (col + 1, row + 1), (col, row + 1)];
        let mut ring = Vec::with_capacity(13);
        for k in 0..4 {
            let (a, b) = (corners[k], corners[(k + 1) % 4]);
            ring.push(self.corner(a.0, a.1));
            ring.extend(self.bends(a, b));
        }
        ring.push(ring[0]);
        Polygon::new(LineString::new(ring), Vec::new())
    }

    fn corner(&self, i: u32, j: u32) -> Coord<f64> {
        let jitter = |salt| (unit(hash(self.seed, i, j, salt)) - 0.5) * 2.0 * CORNER_JITTER * self.spacing;
        Coord { x: self.origin.0 + i as f64 * self.spacing + jitter(1), y: self.origin.1 + j as f64 * self.spacing + jitter(2) }
    }

    /// The two bend points of the side from corner `a` to corner `b`, in that direction. The
    /// bends depend only on the side, not on which cell asks, so neighbours agree exactly.
    fn bends(&self, a: (u32, u32), b: (u32, u32)) -> [Coord<f64>; 2] {
        let forward = a < b;
        let (lo, hi) = if forward { (a, b) } else { (b, a) };
        let (p, q) = (self.corner(lo.0, lo.1), self.corner(hi.0, hi.1));
        let (dx, dy) = (q.x - p.x, q.y - p.y);
        let length = (dx * dx + dy * dy).sqrt();
        let (nx, ny) = (-dy / length, dx / length);
        let salt = if lo.1 == hi.1 { 3 } else { 5 };
        let bend = |t: f64, s: u64| {
            let off = (unit(hash(self.seed, lo.0, lo.1, salt + s)) - 0.5) * 2.0 * BEND_JITTER * self.spacing;
            Coord { x: p.x + dx * t + nx * off, y: p.y + dy * t + ny * off }
        };
        let (first, second) = (bend(1.0 / 3.0, 0), bend(2.0 / 3.0, 1));
        if forward { [first, second] } else { [second, first] }
    }
}

/// splitmix64 of the inputs: a stable, well-mixed hash (the same grid on every machine).
fn hash(seed: u64, i: u32, j: u32, salt: u64) -> u64 {
    let mut z = seed ^ (u64::from(i) << 32 | u64::from(j)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash mapped to [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use geo::{Area, Validation};

    use super::*;

    #[test]
    fn cells_are_valid_twelve_gons_that_tile_without_gaps() {
        let lattice = JitteredLattice::with_cells(400, 7);
        let cells: Vec<Polygon<f64>> = lattice.cells().collect();
        assert_eq!(cells.len(), 400);
        for c in &cells {
            assert_eq!(c.exterior().0.len(), 13);
            assert!(c.is_valid(), "{c:?}");
            assert!(c.signed_area() > 0.0, "counter-clockwise");
        }
        // Shared sides cancel, so the cells' areas add up to the area of the outer ring.
        let total: f64 = cells.iter().map(|c| c.unsigned_area()).sum();
        let nominal = 400.0 * lattice.spacing * lattice.spacing;
        assert!((total - nominal).abs() / nominal < 0.02, "total {total} vs {nominal}");
        assert_eq!(lattice.cell(3, 4), JitteredLattice::with_cells(400, 7).cell(3, 4), "deterministic");
        assert_ne!(lattice.cell(3, 4), JitteredLattice::with_cells(400, 8).cell(3, 4), "seeded");
    }
}
