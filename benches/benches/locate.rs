//! Point location at megacity scale: gridd's index against the obvious implementation (rstar
//! R-tree of envelopes + `geo::Contains`), on seeded synthetic grids of 10 k, 100 k and 1 M
//! irregular 12-vertex cells, with uniformly random query points, single thread, in one run.
//!
//! Before timing, every query point is checked to get the same answer from both.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use geo::Polygon;
use gridd_benches::{RTreeLocator, random_points, synthetic};
use gridd_core::grid::index::CellIndex;

const QUERIES: usize = 100_000;

fn locate(c: &mut Criterion) {
    let mut group = c.benchmark_group("locate");
    group.throughput(Throughput::Elements(QUERIES as u64));
    for cells in [10_000, 100_000, 1_000_000] {
        let lattice = synthetic(cells);
        let polygons: Vec<Polygon<f64>> = lattice.cells().collect();
        let ours = CellIndex::build(&polygons).expect("index");
        let reference = RTreeLocator::build(polygons);
        let points = random_points(QUERIES, lattice.bounds());
        let differ = points.iter().filter(|p| ours.locate(p.x(), p.y()) != reference.locate(**p)).count();
        assert_eq!(differ, 0, "{cells} cells: {differ} points located differently");
        let raw: Vec<[f64; 2]> = points.iter().map(|p| [p.x(), p.y()]).collect();
        let mut batch = Vec::new();
        ours.locate_many(&raw, &mut batch);
        assert!(batch.iter().zip(&points).all(|(b, p)| *b == ours.locate(p.x(), p.y())), "batch and single answers agree");
        let (interior, candidates) = ours.bucket_stats();
        eprintln!(
            "{cells} cells: {:.0}% of buckets answer without a polygon test; {candidates:.2} candidates in the others",
            interior * 100.0
        );
        group.bench_with_input(BenchmarkId::new("gridd index", cells), &points, |b, points| {
            b.iter(|| points.iter().filter(|p| ours.locate(p.x(), p.y()).is_some()).count());
        });
        group.bench_with_input(BenchmarkId::new("gridd index, batch", cells), &raw, |b, raw| {
            b.iter(|| {
                ours.locate_many(raw, &mut batch);
                batch.iter().filter(|c| c.is_some()).count()
            });
        });
        group.bench_with_input(BenchmarkId::new("rstar + geo::Contains", cells), &points, |b, points| {
            b.iter(|| points.iter().filter(|p| reference.locate(**p).is_some()).count());
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    let lattice = synthetic(1_000_000);
    group.bench_function("gridd index, 1M cells streamed", |b| {
        b.iter(|| {
            let mut builder = gridd_core::grid::index::IndexBuilder::with_capacity(lattice.len(), 12);
            for cell in lattice.cells() {
                builder.push(&cell).expect("valid cell");
            }
            builder.finish().expect("index")
        });
    });
    group.finish();
}

criterion_group!(benches, locate, build);
criterion_main!(benches);
