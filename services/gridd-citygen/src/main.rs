//! `gridd-citygen`: generates the demo city's unit grid (单元网格) and camera registry.
//!
//! ```text
//! cargo run -p gridd-citygen --release -- config/xinyi
//! ```
//!
//! Reads `boundary.geojson` and `divisions.csv` from the city directory and writes
//! `grid.geojson` and `cameras.csv` next to them. Real street and community boundaries are not
//! published, so the partition is synthetic but plausible:
//!
//! 1. a lattice of 500 m squares over the boundary's bounding box, in a local equirectangular
//!    projection; squares whose centre is within 4.5 km of the city centre form the urban core
//!    and are split into 100 m squares (about 10,000 m², the 万米单元网格);
//! 2. streets by nearest seed (Voronoi on the 500 m square centres): core squares go to the five
//!    urban 街道, the others to the towns (镇) and zones;
//! 3. communities by farthest-point sampling and Lloyd relaxation over each street's squares;
//! 4. squares crossing the boundary are clipped to it, each part becoming a cell, with shared
//!    vertices snapped so neighbours match bit for bit;
//! 5. cell codes numbered west → east, then north → south within each community.
//!
//! The output is deterministic. It is validated (codes, polygons, total area, random point
//! location) before anything is written. Errors are printed and the exit status is 1.

mod cameras;
mod clip;
mod lattice;
mod numbering;
mod partition;
mod projection;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use geo::{Centroid, Coord, MultiPolygon, Point, Polygon};
use gridd_config::geojson::{RawCell, read_boundary, read_grid, write_grid};
use gridd_core::grid::{Cell, CellInfo, Divisions, Grid, StreetKind};
use gridd_core::ids::{CellCode, CommunityCode, StreetCode};

use crate::clip::Crossings;
use crate::lattice::{Boundary, Classifier, Lattice, Placement, Square};
use crate::numbering::CellKey;
use crate::partition::{STREET_SEEDS, Xy};
use crate::projection::{Projection, round6};

/// Grid version written into `grid.geojson`.
const GRID_VERSION: &str = "xinyi-2026.11";
/// The city's GB/T 2260 code.
const CITY: &str = "320381";
/// Xinyi city centre (WGS84).
const CITY_CENTRE: (f64, f64) = (118.350, 34.372);
/// Radius of the urban core, metres.
const CORE_RADIUS_M: f64 = 4500.0;
/// Lloyd relaxation rounds for communities.
const LLOYD_ROUNDS: usize = 4;
/// Most cells a community may hold (the sequence has three digits).
const MAX_CELLS_PER_COMMUNITY: usize = 999;
/// Random points drawn by the location check, and their seed.
const SAMPLE_POINTS: usize = 20_000;
const SAMPLE_SEED: u64 = 0x3203_8120_2611;
/// Cells smaller than this (m²) are counted as slivers in the summary.
const SLIVER_M2: f64 = 100.0;
/// Dropped slivers must total less than this (m²).
const MAX_DROPPED_M2: f64 = 1.0;

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: gridd-citygen <city directory, e.g. config/xinyi>");
        return ExitCode::FAILURE;
    };
    match run(Path::new(&dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridd-citygen: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A lattice square that is (at least partly) inside the city, with its cells.
#[derive(Debug)]
struct Unit {
    square: Square,
    /// The square, or its parts after clipping.
    parts: Vec<Polygon<f64>>,
    /// Centroid of the parts, metres.
    centre: Xy,
    /// Index into the street plans.
    street: usize,
    /// Community index within the street's community list.
    community: usize,
}

/// A street with its seed and communities.
#[derive(Debug)]
struct StreetPlan {
    code: StreetCode,
    name: String,
    kind: StreetKind,
    /// Seed in metres, after any adjustment.
    seed: Xy,
    weight: f64,
    /// If the seed lay outside the boundary: how it was moved.
    moved: Option<SeedMove>,
    communities: Vec<CommunityCode>,
}

/// A seed moved inside the boundary: from and to (WGS84 lon/lat) and the distance in metres.
type SeedMove = ((f64, f64), (f64, f64), f64);

fn run(dir: &Path) -> Result<()> {
    let at = |name: &str| -> PathBuf { dir.join(name) };
    let boundary = Boundary::new(read_boundary(&at("boundary.geojson")).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", at("boundary.geojson").display()))?;
    let divisions = gridd_config::divisions::load(&at("divisions.csv")).map_err(|e| e.to_string())?;
    if divisions.city.as_str() != CITY {
        return Err(format!("{}: county {} is not {CITY}", at("divisions.csv").display(), divisions.city));
    }

    let proj = Projection::xinyi();
    let lattice = Lattice::covering(proj, boundary.bbox);
    let classifier = Classifier::new(&lattice, &boundary);
    let crossings = Crossings::compute(&lattice, &boundary);

    // Coarse squares and the urban core.
    let centre_m = proj.to_metres(CITY_CENTRE.0, CITY_CENTRE.1);
    let mut coarse: BTreeMap<(i64, i64), Placement> = BTreeMap::new();
    for sq in lattice.coarse_squares() {
        let place = classifier.place(&sq);
        if place != Placement::Outside {
            coarse.insert(sq.coarse_index(), place);
        }
    }
    let core: BTreeSet<(i64, i64)> = coarse
        .keys()
        .copied()
        .filter(|&(i, j)| {
            let (x, y) = Square::coarse(i, j).centre_m();
            (x - centre_m.0).hypot(y - centre_m.1) <= CORE_RADIUS_M
        })
        .collect();

    // Units: kept squares with their (clipped) polygons.
    let mut units = Vec::new();
    let mut dropped_m2 = 0.0;
    let mut clipped_squares = 0usize;
    for (&(i, j), &place) in &coarse {
        let parent = Square::coarse(i, j);
        let squares: Vec<(Square, Placement, [bool; 4])> = if core.contains(&(i, j)) {
            parent
                .subdivide()
                .into_iter()
                .map(|f| (f, if place == Placement::Inside { Placement::Inside } else { classifier.place(&f) }, [false; 4]))
                .collect()
        } else {
            let split = [core.contains(&(i, j - 1)), core.contains(&(i + 1, j)), core.contains(&(i, j + 1)), core.contains(&(i - 1, j))];
            vec![(parent, place, split)]
        };
        for (square, place, split) in squares {
            let ring = square.ring(&lattice, split);
            let parts = match place {
                Placement::Outside => continue,
                Placement::Inside => vec![Polygon::new(ring, vec![])],
                Placement::Crossing => {
                    clipped_squares += 1;
                    let clipped = clip::clip(&lattice, &boundary, &crossings, &square, ring);
                    dropped_m2 += clipped.dropped_m2;
                    clipped.parts
                }
            };
            if parts.is_empty() {
                continue;
            }
            let centroid = MultiPolygon(parts.clone()).centroid().ok_or_else(|| format!("square {square:?} has no centroid"))?;
            units.push(Unit { square, centre: proj.to_metres(centroid.x(), centroid.y()), parts, street: 0, community: 0 });
        }
    }
    if dropped_m2 >= MAX_DROPPED_M2 {
        return Err(format!("clipping dropped {dropped_m2:.3} m² of degenerate slivers (limit {MAX_DROPPED_M2} m²)"));
    }

    // Streets: seeds, then nearest seed per coarse square.
    let mut streets = plan_streets(&divisions, &boundary, &proj, &coarse, &core)?;
    let assign = |urban: bool| -> Vec<usize> { (0..streets.len()).filter(|&s| (streets[s].kind == StreetKind::Urban) == urban).collect() };
    let (urban_streets, other_streets) = (assign(true), assign(false));
    let mut street_of: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for &(i, j) in coarse.keys() {
        let pool = if core.contains(&(i, j)) { &urban_streets } else { &other_streets };
        let seeds: Vec<(Xy, f64)> = pool.iter().map(|&s| (streets[s].seed, streets[s].weight)).collect();
        let k = partition::nearest_weighted(Square::coarse(i, j).centre_m(), &seeds).ok_or("no street seeds")?;
        street_of.insert((i, j), pool[k]);
    }
    for unit in &mut units {
        unit.street = *street_of.get(&unit.square.coarse_index()).ok_or("a kept square has no street")?;
    }

    // Communities within each street.
    for (s, plan) in streets.iter_mut().enumerate() {
        let members: Vec<usize> = (0..units.len()).filter(|&u| units[u].street == s).collect();
        if members.is_empty() {
            return Err(format!("street {} {} got no cells; move its seed or raise its weight", plan.code, plan.name));
        }
        let points: Vec<Xy> = members.iter().map(|&u| units[u].centre).collect();
        let (group, centres) = partition::split(&points, plan.communities.len(), LLOYD_ROUNDS)
            .map_err(|e| format!("street {} {}: {e}", plan.code, plan.name))?;
        let rank = partition::reading_ranks(&centres);
        for (&u, &g) in members.iter().zip(&group) {
            units[u].community = rank[g];
        }
    }

    // Cell codes.
    let mut by_community: BTreeMap<CommunityCode, Vec<(CellKey, Polygon<f64>)>> = BTreeMap::new();
    for unit in &units {
        let community = streets[unit.street].communities[unit.community].clone();
        for part in &unit.parts {
            let c = part.centroid().ok_or_else(|| format!("a part of square {:?} has no centroid", unit.square))?;
            by_community.entry(community.clone()).or_default().push((CellKey { row: unit.square.row(), x: c.x(), y: c.y() }, part.clone()));
        }
    }
    let mut cells = Vec::new();
    for plan in &streets {
        for community in &plan.communities {
            let members = by_community.get(community).map(Vec::as_slice).unwrap_or_default();
            if members.is_empty() {
                return Err(format!("community {community} of {} got no cells", plan.name));
            }
            if members.len() > MAX_CELLS_PER_COMMUNITY {
                return Err(format!(
                    "community {community} has {} cells; at most {MAX_CELLS_PER_COMMUNITY} fit a 3-digit sequence",
                    members.len()
                ));
            }
            let keys: Vec<CellKey> = members.iter().map(|(k, _)| *k).collect();
            for (seq, idx) in numbering::reading_order(&keys).into_iter().enumerate() {
                let seq = u16::try_from(seq + 1).map_err(|_| "sequence overflow".to_string())?;
                cells.push(Cell::new(CellCode::new(community, seq)?, members[idx].1.clone()));
            }
        }
    }

    // Validation: the engine's own checks (codes, rings, overlaps, gaps), then area and points.
    cells.sort_by(|a, b| a.code.cmp(&b.code));
    let raw: Vec<RawCell> = cells.iter().map(|c| RawCell { code: c.code.to_string(), polygon: c.polygon.clone() }).collect();
    let grid = Grid::load_within(GRID_VERSION, divisions.clone(), raw.clone(), Some(&boundary.shape)).map_err(|e| {
        let problems: Vec<String> = e.0.iter().take(5).map(ToString::to_string).collect();
        format!("generated grid refused: {}", problems.join("; "))
    })?;
    let area = validate::check_area(&grid, &boundary)?;
    let sample = validate::check_points(&grid, &cells, &boundary, SAMPLE_POINTS, SAMPLE_SEED)?;
    let cameras = place_cameras(&grid, &cells, &streets, &proj)?;

    // Output.
    let grid_path = at("grid.geojson");
    write_grid(&grid_path, GRID_VERSION, CITY, &raw).map_err(|e| format!("{}: cannot write: {e}", grid_path.display()))?;
    let reread = read_grid(&grid_path).map_err(|e| e.to_string())?;
    if reread.version != GRID_VERSION || reread.cells != raw {
        return Err(format!("{}: reading the written file back does not give the same cells", grid_path.display()));
    }
    let cameras_path = at("cameras.csv");
    std::fs::write(&cameras_path, cameras::to_csv(&cameras)).map_err(|e| format!("{}: cannot write: {e}", cameras_path.display()))?;
    let size = std::fs::metadata(&grid_path).map_err(|e| format!("{}: {e}", grid_path.display()))?.len();

    print_summary(&Summary {
        grid: &grid,
        streets: &streets,
        lattice: &lattice,
        coarse_kept: coarse.len(),
        core: core.len(),
        clipped_squares,
        crossings: crossings.len(),
        dropped_m2,
        area,
        sample,
        cameras: &cameras,
        grid_path: &grid_path,
        size,
    });
    Ok(())
}

/// Builds the street plans: seeds in metres (moved inside the boundary if needed) and each
/// street's communities in code order.
fn plan_streets(
    divisions: &Divisions,
    boundary: &Boundary,
    proj: &Projection,
    coarse: &BTreeMap<(i64, i64), Placement>,
    core: &BTreeSet<(i64, i64)>,
) -> Result<Vec<StreetPlan>> {
    let mut plans = Vec::new();
    for street in divisions.streets() {
        let seed = STREET_SEEDS
            .iter()
            .find(|s| s.code == street.code.as_str())
            .ok_or_else(|| format!("street {} {} has no seed", street.code, street.name))?;
        let urban = street.kind == StreetKind::Urban;
        let mut xy = proj.to_metres(seed.lon, seed.lat);
        let mut moved = None;
        if !boundary.contains(Coord { x: seed.lon, y: seed.lat }) {
            // Nearest centre of a 500 m square lying wholly inside, in the street's own zone.
            let best = coarse
                .iter()
                .filter(|&(ij, &p)| p == Placement::Inside && core.contains(ij) == urban)
                .map(|(&(i, j), _)| Square::coarse(i, j).centre_m())
                .min_by(|a, b| (a.0 - xy.0).hypot(a.1 - xy.1).total_cmp(&(b.0 - xy.0).hypot(b.1 - xy.1)))
                .ok_or_else(|| format!("no inside square for the seed of {}", street.name))?;
            let to = proj.to_lonlat(best.0, best.1);
            moved = Some(((seed.lon, seed.lat), (round6(to.0), round6(to.1)), (best.0 - xy.0).hypot(best.1 - xy.1)));
            xy = best;
        }
        let communities: Vec<CommunityCode> =
            divisions.communities().filter(|c| c.code.street() == street.code).map(|c| c.code.clone()).collect();
        if communities.is_empty() {
            return Err(format!("street {} {} has no communities", street.code, street.name));
        }
        plans.push(StreetPlan {
            code: street.code.clone(),
            name: street.name.clone(),
            kind: street.kind,
            seed: xy,
            weight: seed.weight,
            moved,
            communities,
        });
    }
    if plans.len() != STREET_SEEDS.len() {
        return Err(format!("divisions list {} streets, the seed table {}", plans.len(), STREET_SEEDS.len()));
    }
    Ok(plans)
}

/// 46 cameras over the urban streets (in proportion to their cells, 8–12 each) at the cells
/// nearest to k-means centres of the street's cells, plus one in each of zones 401 and 402 at
/// the cell nearest the zone's seed.
fn place_cameras(grid: &Grid, all: &[Cell], streets: &[StreetPlan], proj: &Projection) -> Result<Vec<cameras::Camera>> {
    let centre_of = |cell: &Cell| -> Result<(Point<f64>, Xy)> {
        let p = cameras::centre(&cell.polygon).ok_or_else(|| format!("cell {} has no centre", cell.code))?;
        Ok((p, proj.to_metres(p.x(), p.y())))
    };
    let cells_of = |plan: &StreetPlan| -> Vec<&Cell> { all.iter().filter(|c| c.code.street() == plan.code).collect() };
    let urban: Vec<&StreetPlan> = streets.iter().filter(|s| s.kind == StreetKind::Urban).collect();
    let zones: Vec<&StreetPlan> = streets.iter().filter(|s| matches!(s.code.as_str(), "320381401" | "320381402")).collect();
    let counts: Vec<usize> = urban.iter().map(|s| cells_of(s).len()).collect();
    let alloc = cameras::allocate(&counts, cameras::TOTAL - zones.len(), cameras::MIN_PER_STREET, cameras::MAX_PER_STREET)?;

    let mut chosen: Vec<(&StreetPlan, Vec<&Cell>)> = Vec::new();
    for (plan, &k) in urban.iter().zip(&alloc) {
        let cells = cells_of(plan);
        let centres: Vec<Xy> = cells.iter().map(|c| centre_of(c).map(|(_, m)| m)).collect::<Result<_>>()?;
        let (_, means) = partition::split(&centres, k, 5).map_err(|e| format!("cameras of {}: {e}", plan.name))?;
        let mut picked: Vec<usize> = Vec::new();
        for m in means {
            let best = (0..cells.len())
                .filter(|i| !picked.contains(i))
                .min_by(|&a, &b| {
                    let d = |i: usize| (centres[i].0 - m.0).hypot(centres[i].1 - m.1);
                    d(a).total_cmp(&d(b)).then(a.cmp(&b))
                })
                .ok_or_else(|| format!("{} has too few cells for its cameras", plan.name))?;
            picked.push(best);
        }
        let keys: Vec<Xy> = picked.iter().map(|&i| centres[i]).collect();
        let rank = partition::reading_ranks(&keys);
        let mut ordered = vec![cells[0]; picked.len()];
        for (n, &i) in picked.iter().enumerate() {
            ordered[rank[n]] = cells[i];
        }
        chosen.push((plan, ordered));
    }
    for plan in zones {
        let cells = cells_of(plan);
        let mut best: Option<(f64, &Cell)> = None;
        for cell in cells {
            let (_, m) = centre_of(cell)?;
            let d = (m.0 - plan.seed.0).hypot(m.1 - plan.seed.1);
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, cell));
            }
        }
        let (_, cell) = best.ok_or_else(|| format!("{} has no cells for its camera", plan.name))?;
        chosen.push((plan, vec![cell]));
    }

    let mut out = Vec::new();
    for (plan, cells) in chosen {
        for (n, cell) in cells.into_iter().enumerate() {
            let (p, _) = centre_of(cell)?;
            let camera = cameras::Camera::new(out.len() + 1, &plan.name, n + 1, p);
            let located = grid.locate(Point::new(camera.lon, camera.lat)).map(|c| &c.code);
            if located != Some(&cell.code) {
                return Err(format!("camera {} does not locate to its cell {}", camera.id, cell.code));
            }
            out.push(camera);
        }
    }
    if out.len() != cameras::TOTAL {
        return Err(format!("placed {} cameras, expected {}", out.len(), cameras::TOTAL));
    }
    Ok(out)
}

/// Everything the summary prints.
struct Summary<'a> {
    grid: &'a Grid,
    streets: &'a [StreetPlan],
    lattice: &'a Lattice,
    coarse_kept: usize,
    core: usize,
    clipped_squares: usize,
    crossings: usize,
    dropped_m2: f64,
    area: validate::AreaCheck,
    sample: validate::SampleCheck,
    cameras: &'a [cameras::Camera],
    grid_path: &'a Path,
    size: u64,
}

fn print_summary(s: &Summary<'_>) {
    let cells = s.grid.cells();
    let (cols, rows) = (s.lattice.columns.1 - s.lattice.columns.0, s.lattice.rows.1 - s.lattice.rows.0);
    println!("gridd-citygen: {} {} grid {}", CITY, s.grid.divisions().city_name, s.grid.version());
    println!("lattice: {cols} × {rows} squares of 500 m, {} kept, {} in the urban core (split into 100 m squares)", s.coarse_kept, s.core);
    println!(
        "clipping: {} squares crossed the boundary, {} lattice-line crossings, {:.4} m² of slivers dropped",
        s.clipped_squares, s.crossings, s.dropped_m2
    );
    for plan in s.streets {
        if let Some(((lon, lat), (to_lon, to_lat), d)) = plan.moved {
            println!("seed of {} at ({lon}, {lat}) lay outside the boundary; moved {d:.0} m to ({to_lon:.6}, {to_lat:.6})", plan.name);
        }
    }
    println!();
    println!("{:<9}  {:<24} {:>5} {:>6} {:>10} {:>12}", "street", "name", "comm.", "cells", "area km²", "mean m²");
    for plan in s.streets {
        let mine: Vec<&CellInfo> = cells.iter().filter(|c| c.code.street() == plan.code).collect();
        let area: f64 = mine.iter().map(|c| c.area_m2).sum();
        let pad = 24usize.saturating_sub(plan.name.chars().count());
        println!(
            "{:<9}  {}{} {:>5} {:>6} {:>10.2} {:>12.0}",
            plan.code.as_str(),
            plan.name,
            " ".repeat(pad),
            plan.communities.len(),
            mine.len(),
            area / 1e6,
            area / mine.len().max(1) as f64
        );
    }
    let areas: Vec<f64> = cells.iter().map(|c| c.area_m2).collect();
    let min = areas.iter().copied().fold(f64::INFINITY, f64::min);
    let max = areas.iter().copied().fold(0.0, f64::max);
    let mean = areas.iter().sum::<f64>() / areas.len().max(1) as f64;
    let per_community = {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for c in cells {
            *counts.entry(c.code.community().to_string()).or_default() += 1;
        }
        (counts.values().copied().min().unwrap_or(0), counts.values().copied().max().unwrap_or(0))
    };
    println!();
    println!("total: {} cells in {} communities of {} streets", cells.len(), s.grid.divisions().communities().count(), s.streets.len());
    println!("cell area m²: min {min:.1}, max {max:.0}, mean {mean:.0}");
    let slivers = areas.iter().filter(|&&a| a < SLIVER_M2).count();
    println!("cells under {SLIVER_M2} m² (boundary slivers kept as cells): {slivers}");
    println!("cells per community: min {}, max {}", per_community.0, per_community.1);
    println!(
        "area check: cells {:.3} km², boundary {:.3} km², difference {:+.6} %",
        s.area.cells_m2 / 1e6,
        s.area.boundary_m2 / 1e6,
        100.0 * s.area.relative_difference()
    );
    println!(
        "point check: {} sampled, {} inside in exactly one cell, {} outside in none, {} skipped within 1e-6° of an edge",
        s.sample.sampled, s.sample.inside_one_cell, s.sample.outside_no_cell, s.sample.near_edge
    );
    println!("cameras: {} written", s.cameras.len());
    println!("wrote {} ({:.2} MB, {} bytes)", s.grid_path.display(), s.size as f64 / 1e6, s.size);
}
