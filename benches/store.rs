//! Store benchmarks on the shared traces (`datasets/*.csv`), each in a fresh sled directory on
//! the real filesystem:
//!
//! - `ingest/*`: samples per second through `Store::append_batch`, for two batch shapes: a bulk
//!   import or remote-write burst (every series, 100 samples each, per batch) and a scrape
//!   (every series, one sample each, per batch); also bulk with the final `flush` included.
//! - `read/*`: range reads (a day of the 1-minute NASA trace, the whole trace) and `latest`.
//!
//! `cargo bench --bench store`. The space figure is `benches/store_size.rs`.

use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prescale::series::csv::read_dataset;
use prescale::series::{Sample, SeriesKey};
use prescale::store::Store;
use tempfile::TempDir;

fn traces() -> Vec<(SeriesKey, Vec<Sample>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let paths = prescale::backtest::datasets_in(&dir).expect("datasets/ holds the bundled traces");
    paths
        .iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let samples = read_dataset(path).expect("a valid dataset").samples;
            (SeriesKey::new(name).expect("a valid key"), samples)
        })
        .collect()
}

/// Cuts the traces into batches holding `per_series` consecutive samples of every series that
/// still has some, as a collector that forwards everything it saw since the last batch would.
fn batches(
    traces: &[(SeriesKey, Vec<Sample>)],
    per_series: usize,
) -> Vec<Vec<(SeriesKey, Vec<Sample>)>> {
    let longest = traces.iter().map(|t| t.1.len()).max().unwrap_or(0);
    (0..longest.div_ceil(per_series))
        .map(|round| {
            traces
                .iter()
                .filter_map(|(key, samples)| {
                    let from = round * per_series;
                    (from < samples.len()).then(|| {
                        let to = (from + per_series).min(samples.len());
                        (key.clone(), samples[from..to].to_vec())
                    })
                })
                .collect()
        })
        .collect()
}

fn fresh_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path()).expect("store opens");
    (dir, store)
}

fn ingest(c: &mut Criterion) {
    let traces = traces();
    let total: usize = traces.iter().map(|t| t.1.len()).sum();
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(total as u64));

    let bulk = batches(&traces, 100);
    group.bench_function("append_batch_100_per_series", |b| {
        b.iter_batched(
            fresh_store,
            |(dir, store)| {
                for batch in &bulk {
                    store.append_batch(batch).expect("append");
                }
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("append_batch_100_per_series_then_flush", |b| {
        b.iter_batched(
            fresh_store,
            |(dir, store)| {
                for batch in &bulk {
                    store.append_batch(batch).expect("append");
                }
                store.flush().expect("flush");
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    let scrape = batches(&traces, 1);
    group.bench_function("append_batch_1_per_series", |b| {
        b.iter_batched(
            fresh_store,
            |(dir, store)| {
                for batch in &scrape {
                    store.append_batch(batch).expect("append");
                }
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let traces = traces();
    let (_dir, store) = fresh_store();
    for batch in batches(&traces, 1_000) {
        store.append_batch(&batch).expect("append");
    }
    store.flush().expect("flush");
    let (key, nasa) = traces
        .iter()
        .find(|t| t.0.as_str().starts_with("nasa"))
        .expect("the NASA trace");
    let start = nasa[nasa.len() / 2].timestamp;
    let day = store.read(key, start, start + 86_400).expect("read").len();
    let all = store.read(key, i64::MIN, i64::MAX).expect("read").len();
    assert_eq!(all, nasa.len());

    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(day as u64));
    group.bench_function("one_day_1m", |b| {
        b.iter(|| black_box(store.read(key, start, start + 86_400).expect("read")))
    });
    group.throughput(Throughput::Elements(all as u64));
    group.bench_function("whole_trace_82k", |b| {
        b.iter(|| black_box(store.read(key, i64::MIN, i64::MAX).expect("read")))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("latest", |b| {
        b.iter(|| black_box(store.latest(key).expect("latest")))
    });
    group.finish();
}

criterion_group!(benches, ingest, read);
criterion_main!(benches);
