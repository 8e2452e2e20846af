//! `calendar/<year>.toml`: one year's State Council holiday notice.
//!
//! ```toml
//! year = 2026
//! source = "国务院办公厅关于2026年部分节假日安排的通知"
//! [[holiday]]
//! name = "元旦"
//! from = "2026-01-01"
//! to = "2026-01-03"
//! [[makeup_workday]]
//! name = "元旦调休"
//! date = "2026-01-04"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};
use gridd_core::calendar::DayOverride;
use serde::Deserialize;

use crate::{ConfigError, read_toml};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    #[serde(default)]
    #[allow(dead_code)]
    source: String,
    #[serde(default)]
    holiday: Vec<Holiday>,
    #[serde(default)]
    makeup_workday: Vec<MakeupDay>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Holiday {
    name: String,
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MakeupDay {
    name: String,
    date: NaiveDate,
}

/// Loads one year and adds its dates to `overrides`; returns the year.
pub(crate) fn load_year(path: &Path, overrides: &mut BTreeMap<NaiveDate, DayOverride>) -> Result<i32, ConfigError> {
    let file: YearFile = read_toml(path)?;
    let in_year = |d: NaiveDate, item: &str| {
        if d.year() == file.year { Ok(()) } else { Err(ConfigError::new(path, item, format!("{d} is not in {}", file.year))) }
    };
    for h in &file.holiday {
        let item = format!("holiday {}", h.name);
        in_year(h.from, &item)?;
        in_year(h.to, &item)?;
        if h.to < h.from {
            return Err(ConfigError::new(path, item, "ends before it starts"));
        }
        for d in h.from.iter_days().take_while(|d| *d <= h.to) {
            if overrides.insert(d, DayOverride::Holiday).is_some() {
                return Err(ConfigError::new(path, item, format!("{d} is listed twice")));
            }
        }
    }
    for m in &file.makeup_workday {
        let item = format!("makeup_workday {} ({})", m.name, m.date);
        in_year(m.date, &item)?;
        if !matches!(m.date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Err(ConfigError::new(path, item, "a make-up workday must fall on a weekend"));
        }
        if overrides.insert(m.date, DayOverride::MakeupWorkday).is_some() {
            return Err(ConfigError::new(path, item, "is also listed as a holiday"));
        }
    }
    Ok(file.year)
}
