//! The monthly 考核 as clients read it: a month's report from the ledger's totals, freezing a
//! month, and the CSV exports of the figures and of the cases behind every figure.
//!
//! A month not frozen is answered from the totals the tracker keeps (a few hundred numbers,
//! whatever the number of cases). Freezing sums the month's ledger lines up to a mark and stores
//! the result with the mark, so the frozen figures and the frozen case lists are the same lines
//! and never change, however late a line for the month is booked afterwards.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gridd_config::CityConfig;
use gridd_core::FieldError;
use gridd_core::assessment::{Period, RateKind, Sheet, Unit};
use gridd_core::ids::StreetCode;
use gridd_core::time::Timestamp;
use gridd_proto::tonic::Status;
use gridd_proto::v1;
use gridd_store::{FrozenPeriod, LedgerLine, Store, StoreError};

use crate::store_status;

/// A month's report and, if frozen, when and by whom.
#[derive(Debug, Clone)]
pub struct Report {
    /// The figures, scores and ranks.
    pub sheet: Sheet,
    /// Set once frozen (its `sheet` field is not kept here).
    pub frozen: Option<FrozenPeriod>,
}

/// Parses the request's `period`.
pub fn period(text: &str) -> Result<Period, Status> {
    if text.trim().is_empty() {
        return Err(gridd_proto::status::invalid_argument(&FieldError::new("period", "is required (YYYY-MM)")));
    }
    Period::parse(text, "period").map_err(|e| gridd_proto::status::invalid_argument(&e))
}

/// The report of `period`: the frozen one, or the current totals.
pub async fn report<S: Store>(store: &S, city: &CityConfig, period: Period) -> Result<Report, Status> {
    let key = period.to_string();
    let (frozen, totals) = store
        .read(move |tx| -> Result<_, StoreError> {
            match tx.frozen_period(&key)? {
                Some(frozen) => Ok((Some(frozen), Vec::new())),
                None => Ok((None, tx.assessment_totals(&key)?)),
            }
        })
        .await
        .map_err(|e| store_status(&e))?;
    match frozen {
        Some(mut frozen) => {
            let sheet = serde_json::from_str(&frozen.sheet)
                .map_err(|e| Status::internal(format!("the frozen report of {period} cannot be read: {e}")))?;
            frozen.sheet.clear();
            Ok(Report { sheet, frozen: Some(frozen) })
        }
        None => Ok(Report { sheet: Sheet::from_totals(period, totals, &city.weights), frozen: None }),
    }
}

/// Freezes `period` (which must be over at `now`) as `by`: the report of its ledger lines
/// booked so far.
pub async fn freeze<S: Store>(store: &S, city: &CityConfig, period: Period, by: String, now: Timestamp) -> Result<Report, Status> {
    if period.end(city.calendar.offset()) > now {
        return Err(Status::failed_precondition(format!("{period} is not over yet; a month is frozen once it has ended")));
    }
    let (key, weights) = (period.to_string(), city.weights.clone());
    let frozen = store
        .write(move |tx| -> Result<_, StoreError> {
            if tx.frozen_period(&key)?.is_some() {
                return Ok(None);
            }
            let last_seq = tx.assessment_high_water()?;
            let sheet = Sheet::from_totals(period, sum_lines(&tx.assessment_lines(&key, last_seq)?), &weights);
            let json = serde_json::to_string(&sheet).map_err(|e| StoreError::Backend(e.to_string()))?;
            let frozen = FrozenPeriod { period: key.clone(), frozen_at: now, frozen_by: by.clone(), last_seq, sheet: json };
            tx.freeze_period(&frozen)?;
            Ok(Some((sheet, FrozenPeriod { sheet: String::new(), ..frozen })))
        })
        .await
        .map_err(|e| store_status(&e))?;
    let (sheet, frozen) = frozen.ok_or_else(|| Status::already_exists(format!("{period} was frozen before; its report stands")))?;
    Ok(Report { sheet, frozen: Some(frozen) })
}

/// Totals per (unit, indicator) of ledger lines.
pub fn sum_lines(lines: &[LedgerLine]) -> Vec<(String, String, i64)> {
    let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
    for line in lines {
        for unit in &line.units {
            *totals.entry((unit.clone(), line.indicator.clone())).or_default() += line.amount;
        }
    }
    totals.into_iter().map(|((unit, indicator), value)| (unit, indicator, value)).collect()
}

/// The unit's name as people know it.
pub fn unit_name(city: &CityConfig, unit: &str) -> String {
    match Unit::from_key(unit) {
        Some(Unit::City) => city.name.clone(),
        Some(Unit::Street(code)) => {
            StreetCode::parse(&code).ok().and_then(|c| city.grid().divisions().street(&c).map(|s| s.name.clone())).unwrap_or(code)
        }
        Some(Unit::Squad(id)) => city.responsibility.squad(&id).map_or_else(|| id.to_string(), |s| s.name.clone()),
        Some(Unit::Supervisor(account)) => account,
        Some(Unit::Dispatcher(account)) if account == gridd_core::assessment::ROUTER => "自动派遣 (routing rules)".to_owned(),
        Some(Unit::Dispatcher(account)) => account,
        None => unit.to_owned(),
    }
}

/// The report as the API sends it.
pub fn message(city: &CityConfig, report: &Report) -> v1::Assessment {
    let lines = report
        .sheet
        .lines
        .iter()
        .map(|line| {
            let f = &line.figures;
            v1::AssessmentLine {
                unit: line.unit.clone(),
                kind: Unit::from_key(&line.unit).map_or("", |u| u.kind()).to_owned(),
                name: unit_name(city, &line.unit),
                figures: f.iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                should_close: f.should_close(),
                rates: f.rates().into_iter().filter_map(|(k, r)| r.map(|r| (k.name().to_owned(), r))).collect(),
                score: line.score.unwrap_or(0.0),
                rank: line.rank,
                average_handling_seconds: f.average_handling_seconds().unwrap_or(0.0),
            }
        })
        .collect();
    let frozen = report.frozen.as_ref();
    v1::Assessment {
        period: report.sheet.period.clone(),
        frozen: frozen.is_some(),
        frozen_at: frozen.map(|f| gridd_proto::timestamp(f.frozen_at)),
        frozen_by: frozen.map(|f| f.frozen_by.clone()).unwrap_or_default(),
        lines,
        weights: city.weights.0.iter().map(|(k, w)| (k.name().to_owned(), *w)).collect(),
        press_levels: city.ladder.steps().iter().map(|s| s.label.clone()).collect(),
    }
}

/// The figures as CSV: one row per unit, its counts, 应结案, rates (%), score and rank.
pub fn figures_csv(city: &CityConfig, report: &Report) -> String {
    let mut names: Vec<&str> = report.sheet.lines.iter().flat_map(|l| l.figures.iter().map(|(k, _)| k)).collect();
    names.sort_unstable();
    names.dedup();
    let mut csv = String::from("period,unit,kind,name");
    for name in &names {
        let _ = write!(csv, ",{name}");
    }
    csv.push_str(",should_close");
    for kind in RateKind::ALL {
        let _ = write!(csv, ",{}_rate", kind.name());
    }
    csv.push_str(",score,rank\n");
    for line in &report.sheet.lines {
        let kind = Unit::from_key(&line.unit).map_or("", |u| u.kind());
        let _ = write!(csv, "{},{},{kind},{}", report.sheet.period, field(&line.unit), field(&unit_name(city, &line.unit)));
        for name in &names {
            let value = line.figures.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| v);
            let _ = write!(csv, ",{value}");
        }
        let _ = write!(csv, ",{}", line.figures.should_close());
        for (_, rate) in line.figures.rates() {
            let _ = write!(csv, ",{}", rate.map(|r| format!("{:.2}", r * 100.0)).unwrap_or_default());
        }
        let score = line.score.map(|s| format!("{s:.2}")).unwrap_or_default();
        let _ = writeln!(csv, ",{score},{}", if line.rank == 0 { String::new() } else { line.rank.to_string() });
    }
    csv
}

/// The cases behind every figure of `period` as CSV, one row per ledger line: for a frozen
/// month, exactly the lines its figures were summed from.
pub async fn cases_csv<S: Store>(store: &S, city: &CityConfig, period: Period) -> Result<String, Status> {
    let key = period.to_string();
    let lines = store
        .read(move |tx| -> Result<_, StoreError> {
            let last = tx.frozen_period(&key)?.map_or(u64::MAX >> 1, |f| f.last_seq);
            tx.assessment_lines(&key, last)
        })
        .await
        .map_err(|e| store_status(&e))?;
    let offset = city.calendar.offset();
    let mut csv = String::from("period,indicator,amount,ticket_id,units,booked_at\n");
    for line in &lines {
        let booked = line.at.local(offset).format("%Y-%m-%d %H:%M:%S");
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{booked}",
            line.period,
            line.indicator,
            line.amount,
            field(line.ticket_id.as_str()),
            field(&line.units.join(" "))
        );
    }
    Ok(csv)
}

/// A CSV field, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}
