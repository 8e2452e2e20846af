//! The unit grid (单元网格): divisions (streets, communities), cells and their R-tree.
//!
//! A point is located by querying the R-tree of cell envelopes for candidates and testing each
//! candidate polygon exactly. Points on an edge shared by several cells belong to the cell with
//! the lowest code, so every point of the covered area resolves to exactly one cell.

use std::collections::{BTreeMap, HashSet};

use geo::{BoundingRect, GeodesicArea, Intersects, Point, Polygon, Validation};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use serde::{Deserialize, Serialize};

use crate::ids::{AdminCode, CellCode, CommunityCode, StreetCode};

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

/// One unit-grid cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// 15-digit code.
    pub code: CellCode,
    /// WGS84 polygon.
    pub polygon: Polygon<f64>,
    /// Geodesic area in square metres.
    pub area_m2: f64,
}

impl Cell {
    /// A cell; its area is computed on the WGS84 ellipsoid.
    pub fn new(code: CellCode, polygon: Polygon<f64>) -> Self {
        let area_m2 = polygon.geodesic_area_unsigned();
        Self { code, polygon, area_m2 }
    }
}

/// Why a grid was refused, naming the cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cell {cell}: {reason}")]
pub struct GridError {
    /// The cell's code (or its position when the code itself is bad).
    pub cell: String,
    /// Why.
    pub reason: String,
}

type Envelope = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// A loaded, indexed unit grid.
#[derive(Debug)]
pub struct Grid {
    version: String,
    divisions: Divisions,
    cells: Vec<Cell>,
    tree: RTree<Envelope>,
}

impl Grid {
    /// Indexes `cells`. Refuses duplicate codes, codes outside the city or naming a community
    /// missing from the divisions, and invalid polygons (open or self-intersecting rings,
    /// non-finite coordinates, zero area).
    pub fn new(version: impl Into<String>, divisions: Divisions, mut cells: Vec<Cell>) -> Result<Self, GridError> {
        cells.sort_by(|a, b| a.code.cmp(&b.code));
        let mut seen = HashSet::with_capacity(cells.len());
        let mut envelopes = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let fail = |reason: String| GridError { cell: cell.code.to_string(), reason };
            if !seen.insert(cell.code.clone()) {
                return Err(fail("code is used by more than one cell".into()));
            }
            if divisions.community(&cell.code.community()).is_none() {
                return Err(fail(format!("community {} is not in the division list", cell.code.community())));
            }
            if cell.code.sequence() == 0 {
                return Err(fail("sequence 000 is not a valid cell number".into()));
            }
            check_polygon(&cell.polygon).map_err(fail)?;
            let rect = cell.polygon.bounding_rect().ok_or_else(|| fail("polygon is empty".into()))?;
            let index = u32::try_from(i).map_err(|_| fail("more than 4 billion cells".into()))?;
            envelopes.push(GeomWithData::new(Rectangle::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]), index));
        }
        Ok(Self { version: version.into(), divisions, cells, tree: RTree::bulk_load(envelopes) })
    }

    /// The grid's version label.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The divisions the cells belong to.
    pub fn divisions(&self) -> &Divisions {
        &self.divisions
    }

    /// Every cell in code order.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// The cell containing `point` (WGS84), boundary included; on a shared edge or vertex the
    /// lowest code wins. `None` outside the grid.
    pub fn locate(&self, point: Point<f64>) -> Option<&Cell> {
        self.tree
            .locate_all_at_point(&[point.x(), point.y()])
            .map(|e| &self.cells[e.data as usize])
            .filter(|c| c.polygon.intersects(&point))
            .min_by(|a, b| a.code.cmp(&b.code))
    }

    /// The cell, community and street names of a cell.
    pub fn cell_ref(&self, cell: &Cell) -> CellRef {
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
    pub fn street_of(&self, cell: &Cell) -> Option<&Street> {
        self.divisions.street(&cell.code.street())
    }
}

fn check_polygon(polygon: &Polygon<f64>) -> Result<(), String> {
    let ring = polygon.exterior();
    if ring.0.len() < 4 {
        return Err(format!("exterior ring has {} points; a closed ring needs at least 4", ring.0.len()));
    }
    if ring.0.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
        return Err("a coordinate is not a finite number".into());
    }
    if let Err(problem) = polygon.check_validation() {
        return Err(format!("invalid polygon: {problem}"));
    }
    if polygon.geodesic_area_unsigned() <= 0.0 {
        return Err("polygon has zero area".into());
    }
    Ok(())
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
        // On the shared edge and vertex: the lower code.
        assert_eq!(code(118.001, 34.0005).as_deref(), Some("320381001001001"));
        assert_eq!(code(118.001, 34.001).as_deref(), Some("320381001001001"));
        // The outer boundary belongs to the grid.
        assert_eq!(code(118.002, 34.0005).as_deref(), Some("320381001001002"));
        assert_eq!(code(118.0025, 34.0005), None);
    }

    #[test]
    fn cell_area_is_geodesic() {
        let grid = two_cells();
        let area = grid.cells()[0].area_m2;
        // 0.001° × 0.001° at 34°N is about 92 m × 111 m.
        assert!((10_000.0..10_500.0).contains(&area), "area {area}");
    }

    #[test]
    fn refuses_bad_cells_naming_them() {
        let dup = Grid::new("t", divisions(), vec![square("320381001001001", 0.0, 0.0, 1.0), square("320381001001001", 2.0, 0.0, 1.0)]);
        assert_eq!(dup.err().map(|e| e.cell), Some("320381001001001".to_string()));
        let orphan = Grid::new("t", divisions(), vec![square("320381001009001", 0.0, 0.0, 1.0)]);
        assert!(orphan.err().is_some_and(|e| e.reason.contains("division list")));
        let bowtie = Cell::new(
            CellCode::parse("320381001001001").expect("valid"),
            Polygon::new(LineString::from(vec![(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]), vec![]),
        );
        let invalid = Grid::new("t", divisions(), vec![bowtie]);
        assert!(invalid.err().is_some_and(|e| e.reason.contains("invalid polygon")), "self-intersection refused");
    }

    #[test]
    fn street_kinds_follow_code_ranges() {
        let kind = |c: &str| StreetKind::of(&StreetCode::parse(c).expect("valid"));
        assert_eq!(kind("320381001"), StreetKind::Urban);
        assert_eq!(kind("320381115"), StreetKind::Town);
        assert_eq!(kind("320381402"), StreetKind::Zone);
    }
}
