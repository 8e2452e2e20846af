//! Shared inputs of gridd's benchmarks: the demo city and seeded random points.

use geo::Point;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Seed of every random input, so runs compare like with like.
pub const SEED: u64 = 0x6772_6964;

/// The demo city, loaded from `config/xinyi/city.toml`.
pub fn demo_city() -> gridd_config::CityConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/xinyi/city.toml");
    gridd_config::load_city(&path).unwrap_or_else(|e| panic!("demo city: {e}"))
}

/// `n` points uniformly random in the bounding box `(min, max)`.
pub fn random_points(n: usize, min: Point<f64>, max: Point<f64>) -> Vec<Point<f64>> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..n).map(|_| Point::new(rng.random_range(min.x()..max.x()), rng.random_range(min.y()..max.y()))).collect()
}
