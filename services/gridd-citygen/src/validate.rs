//! Checks on the generated grid before it is written: total area against the boundary, and
//! random points located against every candidate cell.

use geo::{Contains, Coord, Distance, Euclidean, GeodesicArea, Intersects, Point, Rect};
use gridd_core::grid::{Cell, Grid};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::lattice::Boundary;

/// The largest accepted difference between the cells' total area and the boundary's area.
pub const MAX_AREA_DIFFERENCE: f64 = 1e-4;
/// Sample points closer than this (degrees) to a cell edge are skipped.
pub const EDGE_MARGIN_DEG: f64 = 1e-6;

/// Total areas, in square metres.
#[derive(Debug, Clone, Copy)]
pub struct AreaCheck {
    /// Sum of the cells' geodesic areas.
    pub cells_m2: f64,
    /// Geodesic area of the boundary.
    pub boundary_m2: f64,
}

impl AreaCheck {
    /// Relative difference, cells against boundary.
    pub fn relative_difference(&self) -> f64 {
        (self.cells_m2 - self.boundary_m2) / self.boundary_m2
    }
}

/// Compares the cells' total area with the boundary's.
pub fn check_area(grid: &Grid, boundary: &Boundary) -> Result<AreaCheck, String> {
    let check = AreaCheck { cells_m2: grid.cells().iter().map(|c| c.area_m2).sum(), boundary_m2: boundary.shape.geodesic_area_unsigned() };
    let difference = check.relative_difference();
    if difference.is_nan() || difference.abs() >= MAX_AREA_DIFFERENCE {
        return Err(format!(
            "cells cover {:.0} m² but the boundary is {:.0} m² ({:+.5} %, limit ±{} %)",
            check.cells_m2,
            check.boundary_m2,
            100.0 * check.relative_difference(),
            100.0 * MAX_AREA_DIFFERENCE
        ));
    }
    Ok(check)
}

/// What the random-point check saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleCheck {
    /// Points drawn.
    pub sampled: usize,
    /// Points inside the boundary found in exactly one cell.
    pub inside_one_cell: usize,
    /// Points outside the boundary found in no cell.
    pub outside_no_cell: usize,
    /// Points skipped because they lie within [`EDGE_MARGIN_DEG`] of a cell edge.
    pub near_edge: usize,
}

/// Draws `n` seeded random points in the boundary's bounding box. Every point inside the
/// boundary must lie in exactly one cell (counted over every cell whose envelope holds it, the
/// candidates an R-tree would return) and `Grid::locate` must return that cell; every point
/// outside must lie in none.
pub fn check_points(grid: &Grid, cells: &[Cell], boundary: &Boundary, n: usize, seed: u64) -> Result<SampleCheck, String> {
    let envelopes: Vec<Rect<f64>> = cells
        .iter()
        .map(|c| geo::BoundingRect::bounding_rect(&c.polygon).ok_or_else(|| format!("cell {} is empty", c.code)))
        .collect::<Result<_, _>>()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let (min, max) = (boundary.bbox.min(), boundary.bbox.max());
    let mut out = SampleCheck { sampled: n, ..SampleCheck::default() };
    let mut failures = Vec::new();
    'points: for _ in 0..n {
        let p = Point::new(rng.random_range(min.x..max.x), rng.random_range(min.y..max.y));
        let mut hits = Vec::new();
        for (k, env) in envelopes.iter().enumerate() {
            let grown = Rect::new(
                Coord { x: env.min().x - EDGE_MARGIN_DEG, y: env.min().y - EDGE_MARGIN_DEG },
                Coord { x: env.max().x + EDGE_MARGIN_DEG, y: env.max().y + EDGE_MARGIN_DEG },
            );
            if !grown.intersects(&p) {
                continue;
            }
            let cell = &cells[k];
            let rings = std::iter::once(cell.polygon.exterior()).chain(cell.polygon.interiors());
            for ring in rings {
                if Euclidean.distance(&p, ring) <= EDGE_MARGIN_DEG {
                    out.near_edge += 1;
                    continue 'points;
                }
            }
            if cell.polygon.intersects(&p) {
                hits.push(k);
            }
        }
        let located = grid.locate(p).map(|c| c.code.clone());
        if boundary.shape.contains(&p) {
            match hits[..] {
                [k] if located.as_ref() == Some(&cells[k].code) => out.inside_one_cell += 1,
                _ => failures.push(format!("inside point ({:.7}, {:.7}) is in {} cells", p.x(), p.y(), hits.len())),
            }
        } else if hits.is_empty() && located.is_none() {
            out.outside_no_cell += 1;
        } else {
            failures.push(format!("outside point ({:.7}, {:.7}) is in {} cells", p.x(), p.y(), hits.len()));
        }
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
        Err(format!("{} of {n} sample points failed, e.g. {}", failures.len(), shown.join("; ")))
    }
}
