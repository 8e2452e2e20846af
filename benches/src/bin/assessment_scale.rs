//! The monthly 考核 at scale: books the ledger of N closed cases (default 1,000,000) spread
//! over 12 months of the demo city into a real SQLite file, then times a month's report as
//! `GetAssessment` reads it (the totals) against the reference of summing the month's ledger
//! lines (what a report without totals would read, and what freezing reads once):
//!
//! `cargo run --release -p gridd-benches --bin assessment-scale -- [cases] [repeats]`
//!
//! Every case books the lines a case filed, signed for, handled, checked and closed on time
//! books (11 lines, each credited to the city, its street and its squad), as
//! `gridd_core::assessment::entries` would.

use std::time::{Duration, Instant};

use gridd_core::assessment::{Entry, Indicator, Period, Sheet, Unit};
use gridd_core::ids::{SquadId, TicketId};
use gridd_core::time::Timestamp;
use gridd_store::sqlite::SqliteStore;
use gridd_store::{ReadTx, Store, StoreError, WriteTx};

/// Cases booked per transaction.
const BATCH: usize = 5_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let repeats: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let city = match gridd_config::load_city(std::path::Path::new("config/xinyi/city.toml")) {
        Ok(city) => city,
        Err(e) => fail(&format!("the demo city (run from the repository's root): {e}")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| fail(&e.to_string()));
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(&e.to_string()));
    let store = SqliteStore::open(&dir.path().join("gridd.db")).unwrap_or_else(|e| fail(&e.to_string()));
    let streets: Vec<String> = city.grid().divisions().streets().map(|s| s.code.to_string()).collect();
    let squads: Vec<SquadId> = city.responsibility.squads().map(|s| s.id.clone()).collect();
    let offset = city.calendar.offset();
    let start = Period::parse("2026-01", "period").unwrap_or_else(|e| fail(&e.to_string())).start(offset);

    let booked = Instant::now();
    runtime.block_on(async {
        for first in (0..cases).step_by(BATCH) {
            let batch: Vec<Entry> =
                (first..(first + BATCH).min(cases)).flat_map(|i| case_lines(i, cases, start, offset, &streets, &squads)).collect();
            store.write(move |tx: &mut dyn WriteTx| tx.book_assessment(&batch, start)).await.unwrap_or_else(|e| fail(&e.to_string()));
            if first % 100_000 == 0 {
                eprint!("\rbooked {first} of {cases} cases");
            }
        }
    });
    eprintln!("\rbooked {cases} cases in {:.1} s", booked.elapsed().as_secs_f64());
    let size = std::fs::metadata(dir.path().join("gridd.db")).map_or(0, |m| m.len());

    let month = Period::parse("2026-06", "period").unwrap_or_else(|e| fail(&e.to_string()));
    let (report, lines_report) = runtime.block_on(async {
        let mut report = Vec::new();
        let mut lines = Vec::new();
        for _ in 0..repeats {
            report.push(time(|| async { gridd_gateway::assessment::report(&store, &city, month).await.map(|r| r.sheet) }).await);
            lines.push(time(|| async { sum_of_lines(&store, month, &city.weights).await }).await);
        }
        (report, lines)
    });
    let (report_sheet, report_times): (Vec<Sheet>, Vec<Duration>) = report.into_iter().unzip();
    let (lines_sheet, lines_times): (Vec<Sheet>, Vec<Duration>) = lines_report.into_iter().unzip();
    if report_sheet[0] != lines_sheet[0] {
        fail("the totals and the ledger lines disagree");
    }
    let city_line = report_sheet[0].line(&Unit::City).map(|l| l.figures.get(Indicator::Closed)).unwrap_or(0);
    println!("cases booked: {cases} over 12 months ({city_line} closed in {month}); database {} MiB", size >> 20);
    println!("{month} report from the totals (GetAssessment): {}", summary(&report_times));
    println!("{month} report summed from its ledger lines (reference): {}", summary(&lines_times));
    println!("ratio (median): {:.0}×", median(&lines_times).as_secs_f64() / median(&report_times).as_secs_f64());
}

/// The lines of case `i`: filed, signed for, handled, checked and closed on time, in month
/// `i * 12 / cases`.
fn case_lines(i: usize, cases: usize, start: Timestamp, offset: chrono::FixedOffset, streets: &[String], squads: &[SquadId]) -> Vec<Entry> {
    const DAY: i64 = 86_400_000;
    let day = (i as i64 * 365) / cases as i64;
    let period = Period::of(start.add_millis(day * DAY + DAY / 2), offset);
    let units = vec![Unit::City, Unit::Street(streets[i % streets.len()].clone()), Unit::Squad(squads[i % squads.len()].clone())];
    let ticket = TicketId::new(format!("260101-{i:08}"));
    let line = |indicator, amount| Entry { period, units: units.clone(), indicator, ticket: ticket.clone(), amount };
    vec![
        line(Indicator::Filed, 1),
        line(Indicator::AcceptOwed, 1),
        line(Indicator::AcceptedOnTime, 1),
        line(Indicator::DisposeOwed, 1),
        line(Indicator::DisposedOnTime, 1),
        line(Indicator::Disposed, 1),
        line(Indicator::HandlingMillis, 3_600_000),
        line(Indicator::CheckOwed, 1),
        line(Indicator::CheckedOnTime, 1),
        line(Indicator::Closed, 1),
        line(Indicator::ClosedOnTime, 1),
    ]
}

/// The reference: the month's report summed from every ledger line of the month.
async fn sum_of_lines(store: &SqliteStore, month: Period, weights: &gridd_core::assessment::Weights) -> Result<Sheet, StoreError> {
    let key = month.to_string();
    let lines = store.read(move |tx: &mut dyn ReadTx| tx.assessment_lines(&key, u64::MAX >> 1)).await?;
    Ok(Sheet::from_totals(month, gridd_gateway::assessment::sum_lines(&lines), weights))
}

async fn time<F, Fut, T, E>(run: F) -> (T, Duration)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let value = run().await.unwrap_or_else(|e| fail(&e.to_string()));
    (value, started.elapsed())
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn summary(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.2} ms, min {:.2} ms, max {:.2} ms over {} runs",
        ms(median(times)),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1]),
        times.len()
    )
}

fn fail(why: &str) -> ! {
    eprintln!("assessment-scale: {why}");
    std::process::exit(1);
}
