//! Grid validation: every problem that would make routing wrong, each with the cell code and
//! the reason.
//!
//! - cell codes: 15 digits in the admin + street + community + sequence structure, sequence not
//!   000, community in the division list, no code twice;
//! - rings: closed, at least four points, finite, not self-intersecting (OGC validity), not of
//!   zero area;
//! - overlaps: two cells whose interiors share any area (edges that properly cross, a vertex
//!   strictly inside the other cell, or an edge shared on the same side, as duplicates do);
//! - gaps: holes in the union of the cells, found from the edges no neighbour shares. Holes of
//!   less than [`GAP_TOLERANCE_M2`] (rounding slivers) are ignored, and so are holes the city's
//!   boundary has too: land of another jurisdiction inside the county (飞地, an enclave) is
//!   outside the grid, not a gap in it.

use std::collections::HashMap;

use geo::{BoundingRect, Contains, Coord, GeodesicArea, LineString, MultiPolygon, Point, Polygon, Validation, Winding};

use super::index::CellIndex;
use super::{Cell, Divisions, GridError, RawCell};
use crate::ids::CellCode;

/// Gaps smaller than this, in square metres, are rounding slivers, not gaps.
pub const GAP_TOLERANCE_M2: f64 = 1.0;

/// Checks codes and rings of raw cells; returns the valid cells and every problem found.
pub fn check_cells(divisions: &Divisions, raw: Vec<RawCell>) -> (Vec<Cell>, Vec<GridError>) {
    let mut problems = Vec::new();
    let mut cells = Vec::with_capacity(raw.len());
    let mut seen: HashMap<CellCode, usize> = HashMap::with_capacity(raw.len());
    for (position, r) in raw.into_iter().enumerate() {
        let fail = |reason: String| GridError { cell: r.code.clone(), reason };
        let code = match CellCode::parse(&r.code) {
            Ok(code) => code,
            Err(e) => {
                problems
                    .push(GridError { cell: if r.code.is_empty() { format!("feature {position}") } else { r.code.clone() }, reason: e });
                continue;
            }
        };
        if code.sequence() == 0 {
            problems.push(fail("sequence 000 is not a valid cell number".into()));
        }
        if !code.street().as_str().starts_with(divisions.city.as_str()) {
            problems.push(fail(format!("code is not in city {}", divisions.city)));
        } else if divisions.community(&code.community()).is_none() {
            problems.push(fail(format!("community {} is not in the division list", code.community())));
        }
        if let Some(first) = seen.insert(code.clone(), position) {
            problems.push(fail(format!("code is used by more than one cell (features {first} and {position})")));
            continue;
        }
        if let Err(reason) = check_polygon(&r.polygon) {
            problems.push(fail(reason));
            continue;
        }
        cells.push(Cell { code, polygon: r.polygon });
    }
    (cells, problems)
}

fn check_polygon(polygon: &Polygon<f64>) -> Result<(), String> {
    for (i, ring) in std::iter::once(polygon.exterior()).chain(polygon.interiors()).enumerate() {
        let which = if i == 0 { "exterior ring".to_string() } else { format!("hole {i}") };
        if ring.0.len() < 4 {
            return Err(format!("{which} has {} points; a closed ring needs at least 4", ring.0.len()));
        }
        if ring.0.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
            return Err(format!("{which} has a coordinate that is not a finite number"));
        }
        if ring.0.first() != ring.0.last() {
            return Err(format!("{which} is not closed"));
        }
    }
    if let Err(problem) = polygon.check_validation() {
        return Err(format!("invalid polygon: {problem}"));
    }
    if polygon.geodesic_area_unsigned() <= 0.0 {
        return Err("polygon has zero area".into());
    }
    Ok(())
}

/// Finds pairs of cells whose interiors overlap. `index` must index `cells` in order.
pub fn overlaps(cells: &[Cell], index: &CellIndex) -> Vec<GridError> {
    let mut problems = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let Some(bbox) = cell.polygon.bounding_rect() else { continue };
        for j in index.cells_near([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]) {
            let j = j as usize;
            if j <= i {
                continue;
            }
            let other = &cells[j];
            let Some(other_box) = other.polygon.bounding_rect() else { continue };
            if other_box.min().x > bbox.max().x
                || other_box.max().x < bbox.min().x
                || other_box.min().y > bbox.max().y
                || other_box.max().y < bbox.min().y
            {
                continue;
            }
            if let Some(how) = interiors_meet(&cell.polygon, &other.polygon) {
                problems.push(GridError { cell: cell.code.to_string(), reason: format!("overlaps cell {} ({how})", other.code) });
            }
        }
    }
    problems
}

fn edges(p: &Polygon<f64>) -> impl Iterator<Item = (Coord<f64>, Coord<f64>)> + '_ {
    std::iter::once(p.exterior()).chain(p.interiors()).flat_map(|r| r.lines().map(|l| (l.start, l.end)))
}

fn orient(a: Coord<f64>, b: Coord<f64>, c: Coord<f64>) -> f64 {
    robust::orient2d(robust::Coord { x: a.x, y: a.y }, robust::Coord { x: b.x, y: b.y }, robust::Coord { x: c.x, y: c.y })
}

/// How the interiors of two valid polygons meet, if they do.
fn interiors_meet(a: &Polygon<f64>, b: &Polygon<f64>) -> Option<&'static str> {
    for (p, q) in edges(a) {
        for (r, s) in edges(b) {
            let (d1, d2) = (orient(p, q, r), orient(p, q, s));
            let (d3, d4) = (orient(r, s, p), orient(r, s, q));
            if d1 * d2 < 0.0 && d3 * d4 < 0.0 {
                return Some("edges cross");
            }
        }
    }
    let strictly_inside = |poly: &Polygon<f64>, c: Coord<f64>| poly.contains(&Point::from(c));
    if a.exterior().0.iter().any(|c| strictly_inside(b, *c)) || b.exterior().0.iter().any(|c| strictly_inside(a, *c)) {
        return Some("a vertex lies inside the other cell");
    }
    // Points just inside each edge: on the far side for true neighbours, inside for duplicates
    // and cells stacked along a shared edge.
    if inward_points(a).any(|c| strictly_inside(b, c)) || inward_points(b).any(|c| strictly_inside(a, c)) {
        return Some("they share area along an edge");
    }
    None
}

/// The midpoint of every exterior edge moved a hair towards the polygon's interior.
fn inward_points(p: &Polygon<f64>) -> impl Iterator<Item = Coord<f64>> + '_ {
    // Interior is left of each edge for a counter-clockwise ring.
    let ccw = p.exterior().is_ccw();
    p.exterior().lines().map(move |l| {
        let (dx, dy) = (l.end.x - l.start.x, l.end.y - l.start.y);
        let (nx, ny) = if ccw { (-dy, dx) } else { (dy, -dx) };
        let t = 1e-6;
        Coord { x: (l.start.x + l.end.x) / 2.0 + nx * t, y: (l.start.y + l.end.y) / 2.0 + ny * t }
    })
}

/// How far (in degrees, about 1 m) a hole's border may lie from the boundary's own hole and
/// still be that hole: the two files are drawn separately.
const ENCLAVE_TOLERANCE_DEG: f64 = 1e-5;

/// Whether every point of `border` lies in (or on) one hole of `boundary`.
fn is_enclave(boundary: &MultiPolygon<f64>, border: &[Coord<f64>]) -> bool {
    boundary.0.iter().flat_map(|p| p.interiors()).any(|ring| {
        let hole = Polygon::new(ring.clone(), vec![]);
        border.iter().all(|c| hole.contains(&Point::from(*c)) || distance_to_ring(*c, ring) <= ENCLAVE_TOLERANCE_DEG)
    })
}

/// Planar distance, in degrees, from `c` to the nearest point of `ring`.
fn distance_to_ring(c: Coord<f64>, ring: &LineString<f64>) -> f64 {
    ring.lines()
        .map(|l| {
            let (d, len2) = (l.delta(), l.dx() * l.dx() + l.dy() * l.dy());
            let t = if len2 == 0.0 { 0.0 } else { (((c.x - l.start.x) * d.x + (c.y - l.start.y) * d.y) / len2).clamp(0.0, 1.0) };
            ((c.x - l.start.x - t * d.x).powi(2) + (c.y - l.start.y - t * d.y).powi(2)).sqrt()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Finds holes in the union of `cells`: loops of edges that no neighbour shares, traversed
/// clockwise when each cell is walked counter-clockwise. A hole that is a hole of `boundary`
/// too (an enclave) is not a gap.
pub fn gaps(cells: &[Cell], boundary: Option<&MultiPolygon<f64>>) -> Vec<GridError> {
    type Key = (i64, i64, i64, i64);
    // Vertices are matched on a 1e-9° lattice (about 0.1 mm), so the last-bit differences of
    // coordinates computed in different ways do not count as gaps.
    let snap = |v: f64| (v * 1e9).round() as i64;
    let key = |a: Coord<f64>, b: Coord<f64>| (snap(a.x), snap(a.y), snap(b.x), snap(b.y));
    // Directed edges with the cell on the left, and who owns each.
    let mut directed: HashMap<Key, usize> = HashMap::new();
    for (i, cell) in cells.iter().enumerate() {
        for ring in rings_with_cell_on_left(&cell.polygon) {
            for l in ring.lines() {
                if l.start != l.end {
                    directed.insert(key(l.start, l.end), i);
                }
            }
        }
    }
    let unshared: Vec<(Coord<f64>, Coord<f64>, usize)> = directed
        .iter()
        .filter(|((ax, ay, bx, by), _)| !directed.contains_key(&(*bx, *by, *ax, *ay)))
        .map(|((ax, ay, bx, by), cell)| {
            let c = |x: &i64, y: &i64| Coord { x: *x as f64 / 1e9, y: *y as f64 / 1e9 };
            (c(ax, ay), c(bx, by), *cell)
        })
        .collect();
    // Connected components of the unshared edges (union–find over their endpoints).
    let mut vertex_id: HashMap<(i64, i64), usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut id_of = |c: Coord<f64>, parent: &mut Vec<usize>| {
        *vertex_id.entry((snap(c.x), snap(c.y))).or_insert_with(|| {
            parent.push(parent.len());
            parent.len() - 1
        })
    };
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut ends = Vec::with_capacity(unshared.len());
    for (a, b, _) in &unshared {
        let (ia, ib) = (id_of(*a, &mut parent), id_of(*b, &mut parent));
        let (ra, rb) = (find(&mut parent, ia), find(&mut parent, ib));
        parent[ra] = rb;
        ends.push(ia);
    }
    /// One loop of unshared edges: twice its signed area (square degrees), the cells along
    /// it, and its vertices.
    #[derive(Default)]
    struct Loop {
        twice_area: f64,
        owners: Vec<usize>,
        border: Vec<Coord<f64>>,
    }
    let mut components: HashMap<usize, Loop> = HashMap::new();
    for ((a, b, cell), ia) in unshared.iter().zip(ends) {
        let root = find(&mut parent, ia);
        let entry = components.entry(root).or_default();
        // Shoelace term; a component's sum is twice its signed area in square degrees.
        entry.twice_area += a.x * b.y - b.x * a.y;
        entry.owners.push(*cell);
        entry.border.push(*a);
    }
    let mut problems = Vec::new();
    for Loop { twice_area, mut owners, border } in components.into_values() {
        if twice_area >= 0.0 || boundary.is_some_and(|b| is_enclave(b, &border)) {
            continue;
        }
        let at = border[0];
        let area_m2 = -twice_area / 2.0 * square_metres_per_square_degree(at.y);
        if area_m2 < GAP_TOLERANCE_M2 {
            continue;
        }
        owners.sort_unstable();
        owners.dedup();
        let neighbours: Vec<String> = owners.iter().take(6).map(|i| cells[*i].code.to_string()).collect();
        problems.push(GridError {
            cell: cells[owners[0]].code.to_string(),
            reason: format!(
                "gap of {area_m2:.0} m² in the grid near ({:.6}, {:.6}), bordered by cells {}",
                at.x,
                at.y,
                neighbours.join(", ")
            ),
        });
    }
    problems.sort_by(|a, b| a.cell.cmp(&b.cell));
    problems
}

fn rings_with_cell_on_left(p: &Polygon<f64>) -> Vec<LineString<f64>> {
    let ccw = |r: &LineString<f64>, want: bool| {
        let mut r = r.clone();
        if r.is_ccw() != want {
            r.0.reverse();
        }
        r
    };
    std::iter::once(ccw(p.exterior(), true)).chain(p.interiors().iter().map(|h| ccw(h, false))).collect()
}

fn square_metres_per_square_degree(lat: f64) -> f64 {
    let m = 111_320.0;
    m * m * lat.to_radians().cos()
}
