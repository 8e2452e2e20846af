//! The city's own shapes for the map, computed once per grid version:
//!
//! - `GET /v1/map/layers`: the city outline, street and community boundaries, street labels,
//!   and the city's squads;
//! - `GET /v1/map/cells?bbox=…&zoom=…`: the cells in view; when more than
//!   [`DETAILED_CELLS`] are in view their rings are simplified to the view's pixel size, so a
//!   grid of a million cells pans as smoothly as the demo city.
//!
//! Boundaries come from the cells themselves: an edge that two cells of different
//! communities share is a community boundary (of different streets, a street boundary), and
//! an edge only one cell has is the city's outline. No shapes beyond the grid are needed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use geo::{CoordsIter, Simplify};
use gridd_core::grid::Grid;
use gridd_ingest::IntakeSink;
use gridd_store::Store;
use serde::Serialize;

use crate::Services;

/// Cells in view up to which rings are sent as they are.
pub const DETAILED_CELLS: usize = 4000;
/// Most cells one answer carries.
const MAX_CELLS: usize = 200_000;

/// One cell as the map draws it.
#[derive(Debug, Clone, Serialize)]
pub struct MapCell {
    /// 15-digit cell code.
    code: String,
    /// Street name.
    street: String,
    /// Community name.
    community: String,
    #[serde(skip)]
    bbox: [f64; 4],
    /// Exterior ring, flat: lon, lat, lon, lat, …
    ring: Vec<f64>,
}

/// A street's name where the map writes it.
#[derive(Debug, Clone, Serialize)]
struct Label {
    code: String,
    name: String,
    lon: f64,
    lat: f64,
}

/// The layers of one grid version.
#[derive(Debug, Serialize)]
pub struct Layers {
    /// Grid version.
    version: String,
    /// [min lon, min lat, max lon, max lat].
    bbox: [f64; 4],
    /// Outline segments, flat: lon1, lat1, lon2, lat2, …
    boundary: Vec<Vec<f64>>,
    /// Street boundary segments.
    streets: Vec<Vec<f64>>,
    /// Community boundary segments (between communities of one street).
    communities: Vec<Vec<f64>>,
    /// Street labels.
    #[serde(rename = "streetLabels")]
    street_labels: Vec<Label>,
    #[serde(skip)]
    cells: Vec<MapCell>,
}

/// Layers per grid version (the latest only; a reload computes them again).
#[derive(Default)]
pub struct Maps {
    current: Mutex<Option<Arc<Layers>>>,
}

impl Maps {
    fn of(&self, grid: &Grid) -> Arc<Layers> {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match current.as_ref() {
            Some(layers) if layers.version == grid.version() => layers.clone(),
            _ => {
                let layers = Arc::new(compute(grid));
                *current = Some(layers.clone());
                layers
            }
        }
    }
}

/// Rounds to 1e-6° (about 0.1 m): enough for a screen, and a third of the bytes.
fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// An edge's key: its two ends on a 1e-7° lattice, in order.
type EdgeKey = (i64, i64, i64, i64);

fn edge_key(a: (f64, f64), b: (f64, f64)) -> EdgeKey {
    let q = |v: f64| (v * 1e7).round() as i64;
    let (a, b) = ((q(a.0), q(a.1)), (q(b.0), q(b.1)));
    if a <= b { (a.0, a.1, b.0, b.1) } else { (b.0, b.1, a.0, a.1) }
}

fn compute(grid: &Grid) -> Layers {
    let mut cells = Vec::with_capacity(grid.cells().len());
    // Edge → (cells seen, street code, community code, the edge).
    let mut edges: HashMap<EdgeKey, (u8, String, String, [f64; 4])> = HashMap::new();
    let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    let mut street_sums: HashMap<String, (String, f64, f64, f64)> = HashMap::new();
    for info in grid.cells() {
        let polygon = grid.polygon(info);
        let r = grid.cell_ref(info);
        let (street, community) = (r.street_code.to_string(), r.community_code.to_string());
        let coords: Vec<(f64, f64)> = polygon.exterior().coords_iter().map(|c| (c.x, c.y)).collect();
        let mut cell_box = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for pair in coords.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let entry = edges.entry(edge_key(a, b)).or_insert_with(|| (0, street.clone(), community.clone(), [a.0, a.1, b.0, b.1]));
            entry.0 = entry.0.saturating_add(1);
            if entry.2 != community {
                // Mark the edge as separating communities (and streets, where they differ).
                entry.2.clear();
                if entry.1 != street {
                    entry.1.clear();
                }
            }
        }
        for &(x, y) in &coords {
            cell_box = [cell_box[0].min(x), cell_box[1].min(y), cell_box[2].max(x), cell_box[3].max(y)];
        }
        bbox = [bbox[0].min(cell_box[0]), bbox[1].min(cell_box[1]), bbox[2].max(cell_box[2]), bbox[3].max(cell_box[3])];
        let (cx, cy) = ((cell_box[0] + cell_box[2]) / 2.0, (cell_box[1] + cell_box[3]) / 2.0);
        let sum = street_sums.entry(street).or_insert_with(|| (r.street_name.clone(), 0.0, 0.0, 0.0));
        (sum.1, sum.2, sum.3) = (sum.1 + cx, sum.2 + cy, sum.3 + 1.0);
        cells.push(MapCell {
            code: r.cell_code.to_string(),
            street: r.street_name,
            community: r.community_name,
            bbox: cell_box,
            ring: coords.iter().flat_map(|&(x, y)| [round(x), round(y)]).collect(),
        });
    }
    let (mut boundary, mut streets, mut communities) = (Vec::new(), Vec::new(), Vec::new());
    for (seen, street, community, e) in edges.into_values() {
        let segment = e.iter().map(|v| round(*v)).collect::<Vec<f64>>();
        match (seen, street.is_empty(), community.is_empty()) {
            (1, _, _) => boundary.push(segment),
            (_, true, _) => streets.push(segment),
            (_, false, true) => communities.push(segment),
            _ => {}
        }
    }
    let mut street_labels: Vec<Label> =
        street_sums.into_iter().map(|(code, (name, x, y, n))| Label { code, name, lon: round(x / n), lat: round(y / n) }).collect();
    street_labels.sort_by(|a, b| a.code.cmp(&b.code));
    Layers { version: grid.version().to_owned(), bbox, boundary, streets, communities, street_labels, cells }
}

/// A squad the centre can dispatch to.
#[derive(Debug, Serialize)]
struct SquadEntry {
    id: String,
    name: String,
}

/// The layers with the city's squads (which change with the rules, not the grid).
#[derive(Serialize)]
struct LayersAnswer<'a> {
    #[serde(flatten)]
    layers: &'a Layers,
    squads: Vec<SquadEntry>,
}

/// `GET /v1/map/layers`: the shapes, and the squads of the city (for dispatching by hand).
pub async fn layers<S: Store, K: IntakeSink>(State(services): State<Services<S, K>>, Extension(maps): Extension<Arc<Maps>>) -> Response {
    let city = services.city.current();
    let answer = tokio::task::spawn_blocking(move || {
        let layers = maps.of(city.grid());
        let squads = city.responsibility.squads().map(|s| SquadEntry { id: s.id.to_string(), name: s.name.clone() }).collect();
        serde_json::to_vec(&LayersAnswer { layers: &layers, squads })
    })
    .await;
    match answer {
        Ok(Ok(json)) => ([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the map: {e}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("computing the map: {e}")).into_response(),
    }
}

/// The view of `GET /v1/map/cells`.
#[derive(Debug, serde::Deserialize)]
pub struct View {
    /// `min lon,min lat,max lon,max lat`.
    bbox: String,
    /// The map's zoom, as pixels per degree of longitude (sets the simplification).
    #[serde(default)]
    zoom: Option<f64>,
}

fn parse_bbox(text: &str) -> Result<[f64; 4], String> {
    let parts: Vec<f64> = text.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad_bbox())?;
    match parts.as_slice() {
        &[a, b, c, d] if [a, b, c, d].iter().all(|v| v.is_finite()) && a < c && b < d => Ok([a, b, c, d]),
        _ => Err(bad_bbox()),
    }
}

fn bad_bbox() -> String {
    "bbox: must be four numbers min lon,min lat,max lon,max lat with min < max".into()
}

#[derive(Serialize)]
struct CellsAnswer<'a> {
    cells: Vec<std::borrow::Cow<'a, MapCell>>,
    simplified: bool,
    total: usize,
}

/// `GET /v1/map/cells?bbox=…&zoom=…`.
pub async fn cells<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Extension(maps): Extension<Arc<Maps>>,
    Query(view): Query<View>,
) -> Response {
    let bbox = match parse_bbox(&view.bbox) {
        Ok(b) => b,
        Err(why) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({ "code": "invalid_argument", "message": why, "field": "bbox" })),
            )
                .into_response();
        }
    };
    let city = services.city.current();
    let answer = tokio::task::spawn_blocking(move || {
        let layers = maps.of(city.grid());
        let in_view: Vec<&MapCell> = layers
            .cells
            .iter()
            .filter(|c| c.bbox[2] >= bbox[0] && c.bbox[0] <= bbox[2] && c.bbox[3] >= bbox[1] && c.bbox[1] <= bbox[3])
            .take(MAX_CELLS)
            .collect();
        let simplified = in_view.len() > DETAILED_CELLS;
        // Simplify to about a pixel: the view's width over the zoom's pixels.
        let epsilon = view.zoom.filter(|z| *z > 0.0).map_or((bbox[2] - bbox[0]) / 2000.0, |z| 1.0 / z);
        let cells = in_view
            .into_iter()
            .map(|c| if simplified { std::borrow::Cow::Owned(simplify(c, epsilon)) } else { std::borrow::Cow::Borrowed(c) })
            .collect::<Vec<_>>();
        let total = layers.cells.len();
        serde_json::to_vec(&CellsAnswer { cells, simplified, total })
    })
    .await;
    match answer {
        Ok(Ok(json)) => ([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the cells: {e}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("selecting the cells: {e}")).into_response(),
    }
}

fn simplify(c: &MapCell, epsilon: f64) -> MapCell {
    let line: geo::LineString<f64> = c.ring.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let simple = line.simplify(epsilon);
    let ring: Vec<f64> = if simple.0.len() >= 4 { simple.coords_iter().flat_map(|p| [p.x, p.y]).collect() } else { c.ring.clone() };
    MapCell { code: c.code.clone(), street: c.street.clone(), community: c.community.clone(), bbox: c.bbox, ring }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bbox_is_four_ordered_numbers() {
        assert_eq!(parse_bbox("118.1,34.2,118.5,34.6"), Ok([118.1, 34.2, 118.5, 34.6]));
        for bad in ["", "1,2,3", "118.5,34.2,118.1,34.6", "a,b,c,d", "1,2,3,NaN"] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn edges_match_whichever_way_they_run() {
        assert_eq!(edge_key((1.0, 2.0), (3.0, 4.0)), edge_key((3.0, 4.0), (1.0, 2.0)));
        assert_ne!(edge_key((1.0, 2.0), (3.0, 4.0)), edge_key((1.0, 2.0), (3.0, 4.1)));
    }
}
