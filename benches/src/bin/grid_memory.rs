//! Builds one locator over the synthetic grid in a fresh process and reports the build time
//! and memory, so the two implementations' peaks do not mix:
//!
//! `cargo run --release -p gridd-benches --bin grid-memory -- <gridd|rstar|generate> [cells]`

use std::time::Instant;

use gridd_benches::{RTreeLocator, memory_mib, random_points, synthetic};
use gridd_core::grid::index::IndexBuilder;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "gridd".into());
    let cells: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let lattice = synthetic(cells);
    let (base, _) = memory_mib();
    let started = Instant::now();
    let located = match which.as_str() {
        "gridd" => {
            // Cells are streamed from the generator into the index, as a loader would.
            let mut builder = IndexBuilder::with_capacity(lattice.len(), 12);
            for cell in lattice.cells() {
                if let Err(e) = builder.push(&cell) {
                    eprintln!("grid-memory: {e}");
                    std::process::exit(1);
                }
            }
            let index = match builder.finish() {
                Ok(index) => index,
                Err(e) => {
                    eprintln!("grid-memory: {e}");
                    std::process::exit(1);
                }
            };
            report(&which, cells, started, base);
            random_points(10_000, lattice.bounds()).iter().filter(|p| index.locate(p.x(), p.y()).is_some()).count()
        }
        "rstar" => {
            let locator = RTreeLocator::build(lattice.cells().collect());
            report(&which, cells, started, base);
            random_points(10_000, lattice.bounds()).iter().filter(|p| locator.locate(**p).is_some()).count()
        }
        "generate" => {
            // The generator alone, to tell its time from the index's.
            let vertices: usize = lattice.cells().map(|c| c.exterior().0.len()).sum();
            report(&which, cells, started, base);
            vertices
        }
        other => {
            eprintln!("grid-memory: unknown implementation {other:?}; use gridd, rstar or generate");
            std::process::exit(2);
        }
    };
    println!("  (sanity: {located} of 10000 random points located)");
}

fn report(which: &str, cells: usize, started: Instant, base: f64) {
    let elapsed = started.elapsed();
    let (rss, peak) = memory_mib();
    println!(
        "{which}: {cells} cells built in {:.2} s; resident {:.0} MiB ({:.0} MiB above the empty process), peak {:.0} MiB",
        elapsed.as_secs_f64(),
        rss,
        rss - base,
        peak
    );
}
