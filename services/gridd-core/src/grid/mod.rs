//! The unit grid (单元网格): divisions (streets, communities), the cells, and their index.
//!
//! - [`index`]: exact point location in one or two memory accesses, with the rule that puts
//!   every point — edges and vertices included — in exactly one cell;
//! - [`validate`]: what a grid must satisfy before it routes anything (codes, rings, overlaps,
//!   gaps), every problem reported with its cell code;
//! - [`synthetic`]: seeded irregular grids of any size, for tests and benchmarks.

use std::collections::BTreeMap;

use geo::{GeodesicArea, Point, Polygon};
use serde::{Deserialize, Serialize};

use crate::ids::{AdminCode, CellCode, CommunityCode, StreetCode};
use crate::time::Timestamp;

pub mod index;
pub mod synthetic;
pub mod validate;

use index::CellIndex;

/// What kind of street-level unit a street is, from the NBS code ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreetKind {
    /// 街道 (001–099): urban sub-district.
    Urban,
    /// 镇 / 乡 (100–399).
    Town,
    /// 类似乡级单位 (400–499): development zones, scenic areas.
    Zone,
}

impl StreetKind {
    /// The kind implied by a street code's last three digits.
    pub fn of(code: &StreetCode) -> Self {
        match code.as_str()[6..].parse::<u16>().unwrap_or(0) {
            1..=99 => StreetKind::Urban,
            400..=499 => StreetKind::Zone,
            _ => StreetKind::Town,
        }
    }

    /// True outside the urban streets (the check limit is longer there).
    pub fn is_rural(self) -> bool {
        self != StreetKind::Urban
    }
}

/// A street / town.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Street {
    /// 9-digit code.
    pub code: StreetCode,
    /// Name, e.g. 新安街道.
    pub name: String,
    /// Kind.
    pub kind: StreetKind,
}

/// A community / village.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Community {
    /// 12-digit code.
    pub code: CommunityCode,
    /// Name.
    pub name: String,
}

/// The city's administrative divisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Divisions {
    /// The city's admin code.
    pub city: AdminCode,
    /// The city's name.
    pub city_name: String,
    streets: BTreeMap<StreetCode, Street>,
    communities: BTreeMap<CommunityCode, Community>,
}

impl Divisions {
    /// Builds the divisions; every street must belong to `city` and every community to a
    /// listed street.
    pub fn new(city: AdminCode, city_name: String, streets: Vec<Street>, communities: Vec<Community>) -> Result<Self, String> {
        let mut street_map = BTreeMap::new();
        for s in streets {
            if s.code.admin() != city {
                return Err(format!("street {} ({}) is not in city {city}", s.code, s.name));
            }
            if street_map.insert(s.code.clone(), s.clone()).is_some() {
                return Err(format!("street {} is listed twice", s.code));
            }
        }
        let mut community_map = BTreeMap::new();
        for c in communities {
            if !street_map.contains_key(&c.code.street()) {
                return Err(format!("community {} ({}) names street {} which is not listed", c.code, c.name, c.code.street()));
            }
            if community_map.insert(c.code.clone(), c.clone()).is_some() {
                return Err(format!("community {} is listed twice", c.code));
            }
        }
        Ok(Self { city, city_name, streets: street_map, communities: community_map })
    }

    /// A street by code.
    pub fn street(&self, code: &StreetCode) -> Option<&Street> {
        self.streets.get(code)
    }

    /// A community by code.
    pub fn community(&self, code: &CommunityCode) -> Option<&Community> {
        self.communities.get(code)
    }

    /// Every street in code order.
    pub fn streets(&self) -> impl Iterator<Item = &Street> {
        self.streets.values()
    }

    /// Every community in code order.
    pub fn communities(&self) -> impl Iterator<Item = &Community> {
        self.communities.values()
    }
}

/// A cell with its community and street, as tickets and responses carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRef {
    /// 15-digit cell code.
    pub cell_code: CellCode,
    /// Street code.
    pub street_code: StreetCode,
    /// Street name.
    pub street_name: String,
    /// Community code.
    pub community_code: CommunityCode,
    /// Community name.
    pub community_name: String,
}

/// A cell as read from a grid file, before any check.
#[derive(Debug, Clone, PartialEq)]
pub struct RawCell {
    /// The code as written.
    pub code: String,
    /// The polygon (WGS84).
    pub polygon: Polygon<f64>,
}

/// A cell whose code and ring passed their checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// 15-digit code.
    pub code: CellCode,
    /// WGS84 polygon.
    pub polygon: Polygon<f64>,
}

impl Cell {
    /// A cell.
    pub fn new(code: CellCode, polygon: Polygon<f64>) -> Self {
        Self { code, polygon }
    }
}

/// What the grid keeps of each cell besides its geometry (which lives in the index).
#[derive(Debug, Clone, PartialEq)]
pub struct CellInfo {
    /// 15-digit code.
    pub code: CellCode,
    /// Geodesic area in square metres.
    pub area_m2: f64,
}

/// A grid problem, naming the cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cell {cell}: {reason}")]
pub struct GridError {
    /// The cell's code (or its feature position when the code itself is unusable).
    pub cell: String,
    /// Why.
    pub reason: String,
}

/// Every problem found in a grid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s), first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
pub struct GridErrors(pub Vec<GridError>);

/// Where a point was placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed<'a> {
    /// The cell.
    pub cell: &'a CellInfo,
    /// 0 inside the cell; otherwise how far outside the grid the point lay, in metres.
    pub distance_m: f64,
}

/// A loaded, validated, indexed unit grid.
#[derive(Debug)]
pub struct Grid {
    version: String,
    effective_from: Option<Timestamp>,
    divisions: Divisions,
    cells: Vec<CellInfo>,
    index: CellIndex,
}

impl Grid {
    /// Validates raw cells fully — codes, rings, overlaps, gaps — and indexes them. Every
    /// problem is reported, not just the first.
    pub fn load(version: impl Into<String>, divisions: Divisions, raw: Vec<RawCell>) -> Result<Self, GridErrors> {
        Self::load_within(version, divisions, raw, None)
    }

    /// [`Grid::load`] for a city whose `boundary` is known: a hole the boundary has too (an
    /// enclave of another jurisdiction, 飞地) is outside the grid, not a gap.
    pub fn load_within(
        version: impl Into<String>,
        divisions: Divisions,
        raw: Vec<RawCell>,
        boundary: Option<&geo::MultiPolygon<f64>>,
    ) -> Result<Self, GridErrors> {
        let (cells, mut problems) = validate::check_cells(&divisions, raw);
        if !problems.is_empty() {
            return Err(GridErrors(problems));
        }
        let mut cells = cells;
        cells.sort_by(|a, b| a.code.cmp(&b.code));
        let index = CellIndex::build(cells.iter().map(|c| &c.polygon))
            .map_err(|e| GridErrors(vec![GridError { cell: String::new(), reason: e.to_string() }]))?;
        problems.extend(validate::overlaps(&cells, &index));
        problems.extend(validate::gaps(&cells, boundary));
        if !problems.is_empty() {
            return Err(GridErrors(problems));
        }
        Ok(Self::assemble(version.into(), divisions, cells, index))
    }

    /// Indexes cells that already passed [`Grid::load`]'s checks (or come from a trusted
    /// generator), checking only codes and rings.
    pub fn new(version: impl Into<String>, divisions: Divisions, cells: Vec<Cell>) -> Result<Self, GridError> {
        let raw = cells.into_iter().map(|c| RawCell { code: c.code.to_string(), polygon: c.polygon }).collect();
        let (mut cells, problems) = validate::check_cells(&divisions, raw);
        if let Some(first) = problems.into_iter().next() {
            return Err(first);
        }
        cells.sort_by(|a, b| a.code.cmp(&b.code));
        let index =
            CellIndex::build(cells.iter().map(|c| &c.polygon)).map_err(|e| GridError { cell: String::new(), reason: e.to_string() })?;
        Ok(Self::assemble(version.into(), divisions, cells, index))
    }

    fn assemble(version: String, divisions: Divisions, cells: Vec<Cell>, index: CellIndex) -> Self {
        let cells = cells.into_iter().map(|c| CellInfo { area_m2: c.polygon.geodesic_area_unsigned(), code: c.code }).collect();
        Self { version, effective_from: None, divisions, cells, index }
    }

    /// Sets the instant from which this grid version routes events.
    pub fn with_effective_from(mut self, at: Option<Timestamp>) -> Self {
        self.effective_from = at;
        self
    }

    /// The grid's version label.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// From when this version routes events; `None` for "always".
    pub fn effective_from(&self) -> Option<Timestamp> {
        self.effective_from
    }

    /// The divisions the cells belong to.
    pub fn divisions(&self) -> &Divisions {
        &self.divisions
    }

    /// Every cell in code order.
    pub fn cells(&self) -> &[CellInfo] {
        &self.cells
    }

    /// The point-location index.
    pub fn index(&self) -> &CellIndex {
        &self.index
    }

    /// The cell containing `point` (WGS84). Points on a shared edge or vertex belong to the
    /// cell north-east of them (see [`index`]); `None` outside the grid.
    pub fn locate(&self, point: Point<f64>) -> Option<&CellInfo> {
        self.index.locate(point.x(), point.y()).map(|i| &self.cells[i as usize])
    }

    /// The cell containing `point`, or else the nearest cell if the point lies outside the
    /// grid by at most `tolerance_m` metres (the outer boundary itself included); `None` if
    /// farther.
    pub fn locate_near(&self, point: Point<f64>, tolerance_m: f64) -> Option<Placed<'_>> {
        if let Some(cell) = self.locate(point) {
            return Some(Placed { cell, distance_m: 0.0 });
        }
        let (d_lon, d_lat) = degrees_for(point, tolerance_m);
        let near = self.index.cells_near([point.x() - d_lon, point.y() - d_lat], [point.x() + d_lon, point.y() + d_lat]);
        near.into_iter()
            .map(|i| (i, distance_to_cell_m(&self.index, i, point)))
            .filter(|(_, d)| *d <= tolerance_m)
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .map(|(i, distance_m)| Placed { cell: &self.cells[i as usize], distance_m })
    }

    /// The polygon of a cell of this grid.
    pub fn polygon(&self, cell: &CellInfo) -> Polygon<f64> {
        let i = self.cells.binary_search_by(|c| c.code.cmp(&cell.code)).unwrap_or(0);
        self.index.polygon(i as u32)
    }

    /// The cell, community and street names of a cell.
    pub fn cell_ref(&self, cell: &CellInfo) -> CellRef {
        let community = cell.code.community();
        let street = cell.code.street();
        CellRef {
            street_name: self.divisions.street(&street).map(|s| s.name.clone()).unwrap_or_default(),
            community_name: self.divisions.community(&community).map(|c| c.name.clone()).unwrap_or_default(),
            cell_code: cell.code.clone(),
            street_code: street,
            community_code: community,
        }
    }

    /// The street a cell lies in.
    pub fn street_of(&self, cell: &CellInfo) -> Option<&Street> {
        self.divisions.street(&cell.code.street())
    }
}

/// The grid versions an engine routes with: each event is routed by the one version effective
/// when it was received, so a new grid can be loaded ahead of its date and events keep a
/// stable placement however late they are routed.
#[derive(Debug, Clone)]
pub struct GridSet {
    /// The oldest version: it applies to everything before the next version's date.
    base: std::sync::Arc<Grid>,
    /// Later versions, by effective date.
    later: Vec<std::sync::Arc<Grid>>,
}

/// Versions kept after a reload: enough for events still in flight across a changeover.
const KEPT_VERSIONS: usize = 4;

impl GridSet {
    /// A set of one grid.
    pub fn new(grid: Grid) -> Self {
        Self { base: std::sync::Arc::new(grid), later: Vec::new() }
    }

    /// This set with `grid` added: a version without an effective date replaces all others;
    /// one with a date replaces versions of the same label or a later date and keeps the
    /// earlier ones for events received before its date.
    pub fn with(&self, grid: Grid) -> Self {
        self.with_shared(std::sync::Arc::new(grid))
    }

    /// [`GridSet::with`] for a grid already shared (e.g. the newest version of a freshly
    /// loaded set).
    pub fn with_shared(&self, grid: std::sync::Arc<Grid>) -> Self {
        let Some(from) = grid.effective_from() else { return Self { base: grid, later: Vec::new() } };
        let mut kept: Vec<std::sync::Arc<Grid>> = std::iter::once(&self.base)
            .chain(&self.later)
            .filter(|g| g.version() != grid.version() && g.effective_from().is_none_or(|f| f < from))
            .cloned()
            .collect();
        kept.push(grid);
        let excess = kept.len().saturating_sub(KEPT_VERSIONS);
        let mut kept = kept.into_iter().skip(excess);
        match kept.next() {
            Some(base) => Self { base, later: kept.collect() },
            None => self.clone(),
        }
    }

    /// The version that routes an event received at `at`.
    pub fn at(&self, at: Timestamp) -> &Grid {
        self.later.iter().rev().find(|g| g.effective_from().is_none_or(|f| f <= at)).unwrap_or(&self.base)
    }

    /// The newest version (the one being rolled out, possibly not yet effective).
    pub fn latest(&self) -> &Grid {
        self.later.last().unwrap_or(&self.base)
    }

    /// The newest version, shared.
    pub fn latest_shared(&self) -> std::sync::Arc<Grid> {
        self.later.last().unwrap_or(&self.base).clone()
    }

    /// Every version, oldest effective first.
    pub fn versions(&self) -> impl Iterator<Item = &Grid> {
        std::iter::once(&self.base).chain(&self.later).map(AsRef::as_ref)
    }
}

/// Degrees of longitude and latitude spanning `metres` at `point`.
fn degrees_for(point: Point<f64>, metres: f64) -> (f64, f64) {
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let d_lat = metres / METRES_PER_DEGREE * 1.01;
    (d_lat / point.y().to_radians().cos().max(0.01), d_lat)
}

/// Distance from `point` to the boundary of cell `cell`, in metres, on a local equirectangular
/// projection (exact to well under a percent at the tolerances used here).
fn distance_to_cell_m(index: &CellIndex, cell: u32, point: Point<f64>) -> f64 {
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let kx = METRES_PER_DEGREE * point.y().to_radians().cos();
    let ky = METRES_PER_DEGREE;
    let project = |v: [f64; 2]| ((v[0] - point.x()) * kx, (v[1] - point.y()) * ky);
    index
        .edges(cell)
        .map(|(a, b)| {
            let (a, b) = (project(a), project(b));
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 { (-(a.0 * dx + a.1 * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
            (cx * cx + cy * cy).sqrt()
        })
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
pub(crate) mod tests {
    use geo::{LineString, polygon};

    use super::*;

    pub(crate) fn divisions() -> Divisions {
        let street = |code: &str, name: &str| {
            let code = StreetCode::parse(code).expect("valid");
            Street { kind: StreetKind::of(&code), code, name: name.into() }
        };
        let community = |code: &str, name: &str| Community { code: CommunityCode::parse(code).expect("valid"), name: name.into() };
        Divisions::new(
            AdminCode::parse("320381").expect("valid"),
            "新沂市".into(),
            vec![street("320381001", "新安街道"), street("320381102", "瓦窑镇")],
            vec![community("320381001001", "职工居委会"), community("320381102001", "瓦窑村")],
        )
        .expect("valid divisions")
    }

    pub(crate) fn square(code: &str, x: f64, y: f64, size: f64) -> Cell {
        Cell::new(
            CellCode::parse(code).expect("valid"),
            polygon![(x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y + size), (x: x, y: y)],
        )
    }

    pub(crate) fn two_cells() -> Grid {
        Grid::new(
            "test-1",
            divisions(),
            vec![square("320381001001002", 118.001, 34.0, 0.001), square("320381001001001", 118.0, 34.0, 0.001)],
        )
        .expect("valid grid")
    }

    #[test]
    fn locates_inside_on_edges_and_outside() {
        let grid = two_cells();
        let code = |x, y| grid.locate(Point::new(x, y)).map(|c| c.code.to_string());
        assert_eq!(code(118.0005, 34.0005).as_deref(), Some("320381001001001"));
        assert_eq!(code(118.0015, 34.0005).as_deref(), Some("320381001001002"));
        // On the shared edge: the cell east of it.
        assert_eq!(code(118.001, 34.0005).as_deref(), Some("320381001001002"));
        // The west and south outer edges are inside, the east and north ones outside ...
        assert_eq!(code(118.0, 34.0005).as_deref(), Some("320381001001001"));
        assert_eq!(code(118.0005, 34.0).as_deref(), Some("320381001001001"));
        // (The east edge's x as stored: 118.001 + 0.001 in floating point.)
        let east = grid.polygon(&grid.cells()[1]).exterior().0[1].x;
        let north = grid.polygon(&grid.cells()[0]).exterior().0[2].y;
        assert_eq!(code(east, 34.0005), None);
        assert_eq!(code(118.0005, north), None);
        // ... and within the tolerance the nearest cell takes them.
        let near = |x, y, m| grid.locate_near(Point::new(x, y), m).map(|p| (p.cell.code.to_string(), p.distance_m.round()));
        assert_eq!(near(east, 34.0005, 1.0), Some(("320381001001002".into(), 0.0)));
        // 0.0005° east at 34° N is about 46 m.
        assert_eq!(near(118.0025, 34.0005, 50.0), Some(("320381001001002".into(), 46.0)));
        assert_eq!(near(118.0025, 34.0005, 10.0), None);
    }

    #[test]
    fn cell_area_is_geodesic() {
        let grid = two_cells();
        let area = grid.cells()[0].area_m2;
        // 0.001° × 0.001° at 34°N is about 92 m × 111 m.
        assert!((10_000.0..10_500.0).contains(&area), "area {area}");
        let polygon = grid.polygon(&grid.cells()[1]);
        assert_eq!(polygon, square("320381001001002", 118.001, 34.0, 0.001).polygon);
    }

    fn raw(cell: Cell) -> RawCell {
        RawCell { code: cell.code.to_string(), polygon: cell.polygon }
    }

    fn problems(cells: Vec<RawCell>) -> Vec<(String, String)> {
        match Grid::load("t", divisions(), cells) {
            Ok(_) => vec![],
            Err(GridErrors(all)) => all.into_iter().map(|e| (e.cell, e.reason)).collect(),
        }
    }

    #[test]
    fn refuses_bad_cells_naming_them() {
        let ok = |code: &str, x: f64| raw(square(code, x, 0.0, 1.0));
        let dup = problems(vec![ok("320381001001001", 0.0), ok("320381001001001", 1.0)]);
        assert!(dup[0].1.contains("more than one cell"), "{dup:?}");
        let orphan = problems(vec![ok("320381001009001", 0.0)]);
        assert!(orphan[0].1.contains("division list"), "{orphan:?}");
        let short = problems(vec![RawCell { code: "32038100100100".into(), polygon: square("320381001001001", 0.0, 0.0, 1.0).polygon }]);
        assert!(short[0].1.contains("15 digits"), "{short:?}");
        let bowtie = RawCell {
            code: "320381001001001".into(),
            polygon: Polygon::new(LineString::from(vec![(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]), vec![]),
        };
        let invalid = problems(vec![bowtie]);
        assert!(invalid[0].1.contains("invalid polygon"), "{invalid:?}");
    }

    #[test]
    fn refuses_overlaps_and_gaps() {
        let cell = |code: &str, x: f64, y: f64, size: f64| raw(square(code, x, y, size));
        // Two cells overlapping by half.
        let overlap = problems(vec![cell("320381001001001", 0.0, 0.0, 0.01), cell("320381001001002", 0.005, 0.0, 0.01)]);
        assert_eq!(overlap.len(), 1, "{overlap:?}");
        assert!(overlap[0].1.contains("overlaps cell 320381001001002"), "{overlap:?}");
        // An exact duplicate under another code.
        let duplicate = problems(vec![cell("320381001001001", 0.0, 0.0, 0.01), cell("320381001001002", 0.0, 0.0, 0.01)]);
        assert!(duplicate.iter().any(|(_, r)| r.contains("overlaps")), "{duplicate:?}");
        // A ring of eight cells around a missing centre: a gap of about 1.2 km².
        let mut ring = Vec::new();
        let mut n = 0;
        for iy in 0..3 {
            for ix in 0..3 {
                if (ix, iy) != (1, 1) {
                    n += 1;
                    ring.push(cell(&format!("320381001001{n:03}"), ix as f64 * 0.01, iy as f64 * 0.01, 0.01));
                }
            }
        }
        let gap = problems(ring.clone());
        assert_eq!(gap.len(), 1, "{gap:?}");
        assert!(gap[0].1.starts_with("gap of"), "{gap:?}");
        // Filled, the same grid is fine.
        ring.push(cell("320381001001009", 0.01, 0.01, 0.01));
        assert!(problems(ring).is_empty());
    }

    /// The test grid's outline, 0.03° square, with `hole` (x, y, size) cut out of it.
    fn outline_with_hole(hole: (f64, f64, f64)) -> geo::MultiPolygon<f64> {
        let (x, y, s) = hole;
        let inner = LineString::from(vec![(x, y), (x, y + s), (x + s, y + s), (x + s, y), (x, y)]);
        let outer = LineString::from(vec![(0.0, 0.0), (0.03, 0.0), (0.03, 0.03), (0.0, 0.03), (0.0, 0.0)]);
        geo::MultiPolygon(vec![Polygon::new(outer, vec![inner])])
    }

    #[test]
    fn an_enclave_of_the_boundary_is_outside_the_grid_not_a_gap() {
        // Eight cells around a missing centre, in a county whose outline has that hole too.
        let mut n = 0;
        let mut ring = Vec::new();
        for (ix, iy) in (0..3).flat_map(|iy| (0..3).map(move |ix| (ix, iy))).filter(|c| *c != (1, 1)) {
            n += 1;
            ring.push(raw(square(&format!("320381001001{n:03}"), f64::from(ix) * 0.01, f64::from(iy) * 0.01, 0.01)));
        }
        let boundary = outline_with_hole((0.01, 0.01, 0.01));
        let grid = Grid::load_within("enclave", divisions(), ring.clone(), Some(&boundary)).expect("the enclave is no gap");
        assert_eq!(grid.locate(Point::new(0.015, 0.015)), None, "a point in the enclave lies in no cell");
        assert!(grid.locate(Point::new(0.005, 0.005)).is_some());
        // A hole the boundary does not have is still a gap, boundary or not.
        let elsewhere = outline_with_hole((0.0, 0.0, 0.01));
        let refused = Grid::load_within("gap", divisions(), ring, Some(&elsewhere)).expect_err("a real gap");
        assert!(refused.0.iter().any(|e| e.reason.starts_with("gap of")), "{refused:?}");
    }

    #[test]
    fn each_event_is_routed_by_the_version_effective_when_received() {
        let at = Timestamp::from_millis;
        let v1 = GridSet::new(two_cells());
        let dated = |label: &str, from: i64| {
            let g = Grid::new(label, divisions(), vec![square("320381001001001", 118.0, 34.0, 0.001)]).expect("grid");
            g.with_effective_from(Some(at(from)))
        };
        let set = v1.with(dated("v2", 1000));
        assert_eq!(set.at(at(999)).version(), "test-1");
        assert_eq!(set.at(at(1000)).version(), "v2");
        assert_eq!(set.latest().version(), "v2");
        // A correction of v2 replaces it; a version dated earlier than v2 drops v2.
        let set = set.with(dated("v2", 1500));
        assert_eq!(set.versions().map(Grid::version).collect::<Vec<_>>(), ["test-1", "v2"]);
        assert_eq!(set.at(at(1200)).version(), "test-1");
        let set = set.with(dated("v3", 500));
        assert_eq!(set.versions().map(Grid::version).collect::<Vec<_>>(), ["test-1", "v3"]);
        // An undated grid replaces everything.
        assert_eq!(set.with(two_cells()).versions().count(), 1);
    }

    #[test]
    fn street_kinds_follow_code_ranges() {
        let kind = |c: &str| StreetKind::of(&StreetCode::parse(c).expect("valid"));
        assert_eq!(kind("320381001"), StreetKind::Urban);
        assert_eq!(kind("320381115"), StreetKind::Town);
        assert_eq!(kind("320381402"), StreetKind::Zone);
    }
}
