//! The engine's per-report work on the demo city: locating a point in the unit grid, computing
//! a working-time deadline, and filing a case through the state machine.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geo::{BoundingRect, Contains};
use gridd_benches::{demo_city, random_points};
use gridd_core::category::{ClockKind, Limit};
use gridd_core::time::Timestamp;

fn locate(c: &mut Criterion) {
    let city = demo_city();
    let grid = city.grid();
    let polygons: Vec<geo::Polygon<f64>> = grid.cells().iter().map(|cell| grid.polygon(cell)).collect();
    let bounds = polygons.iter().filter_map(|p| p.bounding_rect()).reduce(|a, b| {
        geo::Rect::new(
            geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
            geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
        )
    });
    let Some(bounds) = bounds else { return };
    let points = random_points(10_000, (bounds.min().x, bounds.min().y, bounds.max().x, bounds.max().y));
    let mut group = c.benchmark_group("locate/xinyi");
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("grid.locate", |b| {
        b.iter(|| points.iter().filter(|p| grid.locate(**p).is_some()).count());
    });
    // The reference: every cell's polygon tested in turn, no index.
    group.sample_size(10);
    group.bench_function("linear scan", |b| {
        b.iter(|| points.iter().filter(|p| polygons.iter().any(|polygon| polygon.contains(*p))).count());
    });
    group.finish();
}

fn deadline(c: &mut Criterion) {
    let city = demo_city();
    let start = Timestamp::from_millis(1_795_000_000_000);
    let limit = Limit { clock: ClockKind::Working, millis: 15 * 450 * 60_000 };
    c.bench_function("calendar/advance 15 WD", |b| b.iter(|| city.calendar.advance(black_box(start), black_box(limit))));
}

criterion_group!(benches, locate, deadline);
criterion_main!(benches);
