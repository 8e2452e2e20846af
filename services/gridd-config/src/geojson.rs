//! The GeoJSON files of a city: its boundary and its unit grid.
//!
//! A grid file is a FeatureCollection with a top-level `grid_version` (and `city`), one
//! Polygon feature per cell, the cell's 15-digit code in `properties.code`. Coordinates are
//! WGS84 longitude/latitude. [`write_grid`] writes one feature per line with six decimals
//! (about 0.1 m), so regenerated grids diff well.

use std::fmt::Write as _;
use std::path::Path;

use geo::{Coord, LineString, MultiPolygon, Polygon};
pub use gridd_core::grid::RawCell;
use gridd_core::time::Timestamp;
use serde::Deserialize;

use crate::ConfigError;

#[derive(Deserialize)]
struct Collection {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    grid_version: Option<String>,
    #[serde(default)]
    effective_from: Option<String>,
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(default)]
    properties: serde_json::Map<String, serde_json::Value>,
    geometry: Option<Geometry>,
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: serde_json::Value,
}

type Rings = Vec<Vec<[f64; 2]>>;

fn polygon_from(rings: Rings) -> Result<Polygon<f64>, String> {
    let mut rings = rings.into_iter().map(|r| LineString::from(r.into_iter().map(|[x, y]| Coord { x, y }).collect::<Vec<_>>()));
    let exterior = rings.next().ok_or("polygon has no ring")?;
    Ok(Polygon::new(exterior, rings.collect()))
}

fn geometry_polygons(g: Geometry) -> Result<Vec<Polygon<f64>>, String> {
    match g.kind.as_str() {
        "Polygon" => {
            let rings: Rings = serde_json::from_value(g.coordinates).map_err(|e| format!("bad Polygon coordinates: {e}"))?;
            Ok(vec![polygon_from(rings)?])
        }
        "MultiPolygon" => {
            let parts: Vec<Rings> = serde_json::from_value(g.coordinates).map_err(|e| format!("bad MultiPolygon coordinates: {e}"))?;
            parts.into_iter().map(polygon_from).collect()
        }
        other => Err(format!("geometry type {other} is not Polygon or MultiPolygon")),
    }
}

fn read_collection(path: &Path) -> Result<Collection, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
    let collection: Collection =
        serde_json::from_str(&text).map_err(|e| ConfigError::new(path, format!("line {}", e.line()), format!("not GeoJSON: {e}")))?;
    if collection.kind != "FeatureCollection" {
        return Err(ConfigError::new(path, "type", "must be FeatureCollection"));
    }
    Ok(collection)
}

/// Reads a boundary: the union of every feature's Polygon or MultiPolygon.
pub fn read_boundary(path: &Path) -> Result<MultiPolygon<f64>, ConfigError> {
    let mut polygons = Vec::new();
    for (i, feature) in read_collection(path)?.features.into_iter().enumerate() {
        let geometry = feature.geometry.ok_or_else(|| ConfigError::new(path, format!("feature {i}"), "has no geometry"))?;
        polygons.extend(geometry_polygons(geometry).map_err(|r| ConfigError::new(path, format!("feature {i}"), r))?);
    }
    Ok(MultiPolygon(polygons))
}

/// A grid file as read: version, effective date, and cells not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub struct GridFile {
    /// `grid_version`.
    pub version: String,
    /// `effective_from` (RFC 3339), if given: events observed from then on use this grid.
    pub effective_from: Option<Timestamp>,
    /// The cells.
    pub cells: Vec<RawCell>,
}

/// Reads a grid file. Errors name the feature's code (or position).
pub fn read_grid(path: &Path) -> Result<GridFile, ConfigError> {
    let collection = read_collection(path)?;
    let version =
        collection.grid_version.filter(|v| !v.trim().is_empty()).ok_or_else(|| ConfigError::new(path, "grid_version", "is required"))?;
    let effective_from = collection
        .effective_from
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| Timestamp::from_millis(d.timestamp_millis()))
                .map_err(|e| ConfigError::new(path, "effective_from", format!("{t:?} is not an RFC 3339 time: {e}")))
        })
        .transpose()?;
    let mut cells = Vec::with_capacity(collection.features.len());
    for (i, feature) in collection.features.into_iter().enumerate() {
        let code = feature.properties.get("code").and_then(|v| v.as_str()).map(str::to_owned);
        let item = code.clone().unwrap_or_else(|| format!("feature {i}"));
        let code = code.ok_or_else(|| ConfigError::new(path, &item, "properties.code is missing"))?;
        let geometry = feature.geometry.ok_or_else(|| ConfigError::new(path, &item, "has no geometry"))?;
        let mut polygons = geometry_polygons(geometry).map_err(|r| ConfigError::new(path, &item, r))?;
        if polygons.len() != 1 {
            return Err(ConfigError::new(path, &item, "a cell must be a single Polygon"));
        }
        cells.push(RawCell { code, polygon: polygons.remove(0) });
    }
    Ok(GridFile { version, effective_from, cells })
}

/// Writes a grid file, one feature per line, coordinates rounded to six decimals.
pub fn write_grid(path: &Path, version: &str, city: &str, cells: &[RawCell]) -> std::io::Result<()> {
    let mut out = String::with_capacity(cells.len() * 200);
    let _ = writeln!(out, "{{\"type\":\"FeatureCollection\",\"grid_version\":{},\"city\":{},\"features\":[", json(version), json(city));
    for (i, cell) in cells.iter().enumerate() {
        let _ = write!(
            out,
            "{{\"type\":\"Feature\",\"properties\":{{\"code\":{}}},\"geometry\":{}}}",
            json(&cell.code),
            polygon_json(&cell.polygon)
        );
        out.push_str(if i + 1 < cells.len() { ",\n" } else { "\n" });
    }
    out.push_str("]}\n");
    std::fs::write(path, out)
}

/// A polygon as a GeoJSON geometry object, six decimals.
pub fn polygon_json(polygon: &Polygon<f64>) -> String {
    let mut out = String::from("{\"type\":\"Polygon\",\"coordinates\":[");
    let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
    for (r, ring) in rings.enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('[');
        for (i, c) in ring.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{:.6},{:.6}]", c.x, c.y);
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

fn json(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use geo::polygon;

    use super::*;

    #[test]
    fn grid_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("grid.geojson");
        let cell = RawCell {
            code: "320381001001001".into(),
            polygon: polygon![(x: 118.1, y: 34.1), (x: 118.2, y: 34.1), (x: 118.2, y: 34.2), (x: 118.1, y: 34.1)],
        };
        write_grid(&path, "v1", "320381", std::slice::from_ref(&cell)).expect("written");
        let file = read_grid(&path).expect("read back");
        assert_eq!((file.version.as_str(), file.effective_from), ("v1", None));
        assert_eq!(file.cells, vec![cell]);
    }

    #[test]
    fn errors_name_the_cell() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("grid.geojson");
        std::fs::write(&path, r#"{"type":"FeatureCollection","grid_version":"v","features":[{"type":"Feature","properties":{"code":"320381001001009"},"geometry":{"type":"Point","coordinates":[1,2]}}]}"#).expect("written");
        let err = read_grid(&path).expect_err("point geometry");
        assert_eq!(err.item, "320381001001009");
        assert!(err.reason.contains("Point"));
    }
}
