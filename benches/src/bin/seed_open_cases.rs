//! State at scale: seeds N open cases (default 1,000,000) into an embedded engine's SQLite
//! database, so that `gridd bench` can be run against an engine that holds them:
//!
//! `cargo run --release -p gridd-benches --bin seed-open-cases -- target/bench/gridd.db 1000000`
//!
//! Each case is filed the way the tracker files a router decision (`apply_decision`: the case,
//! its event, the squad's task feed, its timers and its 考核 lines) from a patrol report at the
//! centre of a cell, routed by the city's rules, and made known to the router's duplicate
//! lookups. The categories are the catalogue's, except the four the load tool reports, so the
//! seeded cases stand beside the load without merging with it. Run it on a stopped engine.

use std::path::PathBuf;
use std::time::Instant;

use gridd_config::CityConfig;
use gridd_core::category::CategoryCode;
use gridd_core::ids::{Reference, TicketId};
use gridd_core::report::{Channel, Decision, Outcome, Report};
use gridd_core::time::{Clock, SystemClock, Timestamp};
use gridd_store::sqlite::SqliteStore;
use gridd_store::{Store, StoreError, WriteTx};

/// Cases filed per transaction.
const BATCH: usize = 2_000;
/// The categories `gridd bench` reports in (its `CATEGORIES`): left to the load.
const LOAD_CATEGORIES: [&str; 4] = ["E0102", "E0104", "E0505", "E0504"];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "target/bench/gridd.db".into()));
    let cases: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let city = match gridd_config::load_city(std::path::Path::new("config/xinyi/city.toml")) {
        Ok(city) => std::sync::Arc::new(city),
        Err(e) => fail(&format!("the demo city (run from the repository's root): {e}")),
    };
    let categories: Vec<CategoryCode> =
        city.catalogue.classes().map(|c| c.code.clone()).filter(|c| !LOAD_CATEGORIES.contains(&c.as_str())).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| fail(&e.to_string()));
    let store = SqliteStore::open(&path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    let started = Instant::now();
    runtime.block_on(async {
        for first in (0..cases).step_by(BATCH) {
            let reports: Vec<Report> =
                (first..(first + BATCH).min(cases)).map(|i| seed_report(&city, &categories, i, SystemClock.now())).collect();
            let city = city.clone();
            store.write(move |tx: &mut dyn WriteTx| file_all(tx, &city, &reports)).await.unwrap_or_else(|e| fail(&e.to_string()));
            eprint!("\rfiled {} of {cases} cases", (first + BATCH).min(cases));
        }
    });
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    eprintln!();
    println!("seeded {cases} open cases in {:.1} s; {} is {} MiB", started.elapsed().as_secs_f64(), path.display(), size >> 20);
}

/// Files each report as a case of its own, as the router and the tracker would.
fn file_all(tx: &mut dyn WriteTx, city: &CityConfig, reports: &[Report]) -> Result<(), StoreError> {
    for report in reports {
        tx.put_report(&report.reference, report.channel, report.received_at)?;
        let (cell, placement) = gridd_router::place(city, report.location, &report.category, report.received_at, report.observed_at);
        let decision = Decision {
            report: report.clone(),
            ticket_id: TicketId::from(report.reference.clone()),
            outcome: Outcome::Open { cell, placement },
        };
        gridd_router::remember(tx, &decision)?;
        if let gridd_driver::Verdict::Poison(reason) = gridd_tracker::apply_decision(tx, city, report.received_at, &decision)? {
            return Err(StoreError::Backend(format!("seed case {}: {reason}", report.reference)));
        }
    }
    Ok(())
}

/// Seed report `i`: a patrol report at the centre of a cell, spread over the grid.
fn seed_report(city: &CityConfig, categories: &[CategoryCode], i: usize, at: Timestamp) -> Report {
    let grid = city.grid();
    let cells = grid.cells();
    let cell = &cells[(i as u64).wrapping_mul(2_654_435_761) as usize % cells.len()];
    let centre = geo::InteriorPoint::interior_point(&grid.polygon(cell)).unwrap_or_else(|| geo::Point::new(0.0, 0.0));
    Report {
        location: Some(centre),
        address: "seeded case".into(),
        description: "seeded to measure the engine with many open cases".into(),
        reporter_id: "seed".into(),
        ..Report::new(Reference::new(format!("SEED-{i:07}")), Channel::Patrol, at, categories[i % categories.len()].clone())
    }
}

fn fail(why: &str) -> ! {
    eprintln!("seed-open-cases: {why}");
    std::process::exit(1)
}
