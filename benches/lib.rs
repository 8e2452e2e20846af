//! Shared inputs of gridd's benchmarks — the demo city, seeded synthetic grids, seeded random
//! points — and the reference implementation the router's index is measured against.

use geo::{Contains, Point, Polygon};
use gridd_core::grid::synthetic::JitteredLattice;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};

/// Seed of every random input, so runs compare like with like.
pub const SEED: u64 = 0x6772_6964;

/// The demo city, loaded from `config/xinyi/city.toml`.
pub fn demo_city() -> gridd_config::CityConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/xinyi/city.toml");
    gridd_config::load_city(&path).unwrap_or_else(|e| panic!("demo city: {e}"))
}

/// `n` points uniformly random in the box `(min_x, min_y, max_x, max_y)`.
pub fn random_points(n: usize, (x0, y0, x1, y1): (f64, f64, f64, f64)) -> Vec<Point<f64>> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..n).map(|_| Point::new(rng.random_range(x0..x1), rng.random_range(y0..y1))).collect()
}

/// The seeded synthetic grid of about `cells` irregular 12-vertex cells used by the benches.
pub fn synthetic(cells: usize) -> JitteredLattice {
    JitteredLattice::with_cells(cells, SEED)
}

/// The obvious implementation: an rstar R-tree of polygon envelopes, `geo::Contains` on the
/// candidates, the first hit wins.
pub struct RTreeLocator {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    polygons: Vec<Polygon<f64>>,
}

impl RTreeLocator {
    /// Indexes `polygons` (cell `i` is the `i`-th).
    pub fn build(polygons: Vec<Polygon<f64>>) -> Self {
        use geo::BoundingRect;
        let envelopes = polygons
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let r = p.bounding_rect()?;
                Some(GeomWithData::new(Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]), i as u32))
            })
            .collect();
        Self { tree: RTree::bulk_load(envelopes), polygons }
    }

    /// The cell containing `p` (boundary excluded).
    pub fn locate(&self, p: Point<f64>) -> Option<u32> {
        self.tree.locate_all_at_point(&[p.x(), p.y()]).map(|e| e.data).find(|i| self.polygons[*i as usize].contains(&p))
    }
}

/// Resident and peak resident memory of this process, in MiB, from `/proc/self/status`.
pub fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
