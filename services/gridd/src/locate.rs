//! `gridd locate`: where a point goes and why, for one point or a file of them (backfills).
//!
//! Batch input is CSV (a header naming at least `lon` and `lat`; optional `id`, `category`,
//! `crs`; no quoted fields) or NDJSON (one object per line with the same keys). The output
//! repeats each input row with `cell_code`, `street_code`, `community_code`, `squad_id`,
//! `rule_id`, `grid_version`, `outside_by_m` and `error` added, in the same format.

use std::io::{BufRead, Write};

use gridd_config::CityConfig;
use gridd_core::category::CategoryCode;
use gridd_core::coords::{CoordSystem, to_wgs84, validate_lon_lat};
use gridd_core::time::Timestamp;
use gridd_router::{Explanation, explain};

/// What one located point comes out as.
struct Answer {
    explanation: Option<Explanation>,
    error: String,
}

fn datum(name: &str) -> Result<CoordSystem, String> {
    match name.trim().to_ascii_lowercase().as_str() {
        "" | "wgs84" => Ok(CoordSystem::Wgs84),
        "gcj02" => Ok(CoordSystem::Gcj02),
        "bd09" => Ok(CoordSystem::Bd09),
        other => Err(format!("crs {other:?} is not wgs84, gcj02 or bd09")),
    }
}

/// Locates one point; errors name the field.
pub fn locate_one(
    city: &CityConfig,
    lon: f64,
    lat: f64,
    crs: CoordSystem,
    category: Option<&str>,
    at: Timestamp,
) -> Result<Explanation, String> {
    validate_lon_lat(lon, lat).map_err(|e| e.to_string())?;
    let category = category
        .filter(|c| !c.trim().is_empty())
        .map(|c| CategoryCode::parse(c.trim()).map_err(|e| format!("category: {e}")))
        .transpose()?;
    if let Some(code) = &category {
        if city.catalogue.get(code).is_none() {
            return Err(format!("category: {code} is not in catalogue {}", city.catalogue.version));
        }
    }
    let (x, y) = to_wgs84(crs, lon, lat);
    Ok(explain(city, geo::Point::new(x, y), category.as_ref(), at))
}

fn answer(city: &CityConfig, lon: Result<f64, String>, lat: Result<f64, String>, crs: &str, category: &str, at: Timestamp) -> Answer {
    let result = (|| {
        let (lon, lat) = (lon?, lat?);
        locate_one(city, lon, lat, datum(crs)?, Some(category), at)
    })();
    match result {
        Ok(e) => Answer { explanation: Some(e), error: String::new() },
        Err(error) => Answer { explanation: None, error },
    }
}

impl Answer {
    fn fields(&self) -> [String; 8] {
        let e = self.explanation.as_ref();
        let cell = e.and_then(|e| e.cell.as_ref());
        [
            cell.map(|c| c.cell_code.to_string()).unwrap_or_default(),
            cell.map(|c| c.street_code.to_string()).unwrap_or_default(),
            cell.map(|c| c.community_code.to_string()).unwrap_or_default(),
            e.and_then(|e| e.responsible.last()).map(|(s, _)| s.to_string()).unwrap_or_default(),
            e.and_then(|e| e.responsible.last()).map(|(_, r)| r.rule_id.clone()).unwrap_or_default(),
            e.map(|e| e.grid_version.clone()).unwrap_or_default(),
            e.map(|e| format!("{:.1}", e.outside_by_m)).unwrap_or_default(),
            self.error.clone(),
        ]
    }
}

const ADDED: [&str; 8] = ["cell_code", "street_code", "community_code", "squad_id", "rule_id", "grid_version", "outside_by_m", "error"];

/// Counts of a batch run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Rows read.
    pub rows: usize,
    /// Rows placed in a cell.
    pub located: usize,
    /// Rows with an error (bad number, unknown category ...).
    pub errors: usize,
}

/// Locates every row of `input` (CSV or NDJSON, told apart by the first character) into `out`.
pub fn batch(city: &CityConfig, input: impl BufRead, out: &mut impl Write, at: Timestamp) -> anyhow::Result<BatchSummary> {
    let mut lines = input.lines();
    let Some(first) = lines.next().transpose()? else { return Ok(BatchSummary::default()) };
    if first.trim_start().starts_with('{') {
        let mut summary = BatchSummary::default();
        ndjson_row(city, &first, out, at, &mut summary)?;
        for line in lines {
            let line = line?;
            if !line.trim().is_empty() {
                ndjson_row(city, &line, out, at, &mut summary)?;
            }
        }
        Ok(summary)
    } else {
        csv(city, &first, lines, out, at)
    }
}

fn count(summary: &mut BatchSummary, a: &Answer) {
    summary.rows += 1;
    summary.located += usize::from(a.explanation.as_ref().is_some_and(|e| e.cell.is_some()));
    summary.errors += usize::from(!a.error.is_empty());
}

fn csv(
    city: &CityConfig,
    header: &str,
    lines: impl Iterator<Item = std::io::Result<String>>,
    out: &mut impl Write,
    at: Timestamp,
) -> anyhow::Result<BatchSummary> {
    let columns: Vec<String> = header.split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    let column = |name: &str| columns.iter().position(|c| c == name);
    let (Some(lon_at), Some(lat_at)) = (column("lon"), column("lat")) else {
        anyhow::bail!("the CSV header must name lon and lat columns, got {header:?}");
    };
    let (category_at, crs_at) = (column("category"), column("crs"));
    writeln!(out, "{},{}", header.trim_end(), ADDED.join(","))?;
    let mut summary = BatchSummary::default();
    for (n, line) in lines.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).copied().unwrap_or("");
        let number = |i: usize, name: &str| {
            get(Some(i)).parse::<f64>().map_err(|_| format!("line {}: {name} {:?} is not a number", n + 2, get(Some(i))))
        };
        let a = answer(city, number(lon_at, "lon"), number(lat_at, "lat"), get(crs_at), get(category_at), at);
        count(&mut summary, &a);
        writeln!(out, "{},{}", line.trim_end(), a.fields().map(|f| f.replace(',', ";")).join(","))?;
    }
    Ok(summary)
}

fn ndjson_row(city: &CityConfig, line: &str, out: &mut impl Write, at: Timestamp, summary: &mut BatchSummary) -> anyhow::Result<()> {
    let mut object = match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(o)) => o,
        _ => {
            let a = Answer { explanation: None, error: format!("not a JSON object: {line:?}") };
            count(summary, &a);
            let mut o = serde_json::Map::new();
            o.insert("error".into(), a.error.into());
            writeln!(out, "{}", serde_json::Value::Object(o))?;
            return Ok(());
        }
    };
    let number = |key: &str| object.get(key).and_then(serde_json::Value::as_f64).ok_or_else(|| format!("{key} is missing or not a number"));
    let text = |key: &str| object.get(key).and_then(serde_json::Value::as_str).unwrap_or("").to_owned();
    let a = answer(city, number("lon"), number("lat"), &text("crs"), &text("category"), at);
    count(summary, &a);
    for (key, value) in ADDED.iter().zip(a.fields()) {
        let value = if *key == "outside_by_m" {
            value.parse::<f64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null)
        } else {
            value.into()
        };
        object.insert((*key).to_owned(), value);
    }
    writeln!(out, "{}", serde_json::Value::Object(object))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn city() -> CityConfig {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/xinyi/city.toml");
        gridd_config::load_city(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Monday 2026-11-23 10:00 in Xinyi: daytime rules apply.
    const MONDAY_10AM: i64 = 1_795_399_200_000;

    #[test]
    fn csv_batches_keep_every_row_and_flag_bad_ones() {
        let city = city();
        let input = "id,lon,lat,category\n1,118.350,34.372,E0102\n2,118.350,34.372,E0505\n3,abc,34.3,E0102\n4,116.4,39.9,E0102\n";
        let mut out = Vec::new();
        let summary = batch(&city, input.as_bytes(), &mut out, Timestamp::from_millis(MONDAY_10AM)).expect("batch");
        assert_eq!(summary, BatchSummary { rows: 4, located: 2, errors: 1 });
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id,lon,lat,category,cell_code,street_code,community_code,squad_id,rule_id,grid_version,outside_by_m,error");
        assert!(
            lines[1]
                .starts_with("1,118.350,34.372,E0102,320381001011018,320381001,320381001011,sq-1,territorial-default,xinyi-2026.11,0.0,"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains(",sq-vehicles,vehicles,"), "by day parking goes to the vehicles squad: {}", lines[2]);
        assert!(lines[3].ends_with(r#"line 4: lon "abc" is not a number"#), "{}", lines[3]);
        assert!(lines[4].starts_with("4,116.4,39.9,E0102,,,,,,xinyi-2026.11,"), "outside the city: {}", lines[4]);
    }

    #[test]
    fn ndjson_batches_add_fields_to_each_object() {
        let city = city();
        let input = "{\"id\":\"a\",\"lon\":118.35,\"lat\":34.372}\n{\"id\":\"b\",\"lon\":118.35}\n";
        let mut out = Vec::new();
        let summary = batch(&city, input.as_bytes(), &mut out, Timestamp::from_millis(MONDAY_10AM)).expect("batch");
        assert_eq!((summary.rows, summary.located, summary.errors), (2, 1, 1));
        let rows: Vec<serde_json::Value> =
            String::from_utf8(out).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(rows[0]["cell_code"], "320381001011018");
        assert_eq!(rows[0]["id"], "a");
        assert_eq!(rows[1]["error"], "lat is missing or not a number");
    }
}
