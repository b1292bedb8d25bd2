//! Bytes per sample on disk: imports every trace in `datasets/*.csv` into a fresh store and
//! prints a table. This is how the store's space figure is reproduced:
//!
//! ```text
//! cargo bench --bench store_size            # the default options
//! cargo bench --bench store_size -- --sweep # also other block and segment sizes
//! ```
//!
//! Each trace is imported alone into its own store (so its row includes sled's fixed cost),
//! then all traces together into one store (the overall figure). Import is in batches of
//! 1,000 samples, as a streaming CSV import sends them, followed by one `flush`. Two more rows
//! show how the figure moves: `ALL x10` (ten copies of every trace under other names: sled's
//! fixed cost and segment rounding spread over 1.76M samples) and `ALL scrape, head every
//! append` (one sample per series per batch with the head written on every append: the worst
//! write churn, left to sled's segment cleaning). Columns:
//! - `codec B/s`: encoded block bytes (keys included) per sample — the codec alone;
//! - `sled B/s`: `Store::size_on_disk` per sample — sled's files, its overhead included;
//! - `du B/s`: the whole directory (`conf`, snapshots too), in allocated 512-byte blocks as
//!   `du` counts them, per sample;
//! - the same after closing and reopening the store (sled rounds its log up on recovery).

use std::path::Path;
use std::time::Instant;

use prescale::series::csv::read_dataset;
use prescale::series::{Sample, SeriesKey};
use prescale::store::{SEGMENT_SIZE, Store, StoreOptions};

const BATCH: usize = 1_000;

struct Trace {
    name: String,
    samples: Vec<Sample>,
}

fn traces() -> Vec<Trace> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let paths = prescale::backtest::datasets_in(&dir).expect("datasets/ holds the bundled traces");
    paths
        .iter()
        .map(|path| Trace {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            samples: read_dataset(path).expect("a valid dataset").samples,
        })
        .collect()
}

/// Bytes the directory takes as `du` counts them (allocated blocks).
fn du(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => total += du(&entry.path()),
                Ok(meta) => total += meta.blocks() * 512,
                Err(_) => {}
            }
        }
    }
    total
}

struct Row {
    samples: u64,
    codec: u64,
    sled: u64,
    du: u64,
    sled_reopened: u64,
    du_reopened: u64,
    seconds: f64,
}

/// How the samples reach the store.
#[derive(Clone, Copy)]
enum Shape {
    /// Each trace in turn, `BATCH` samples per `append_batch`.
    Bulk,
    /// Every series' next sample in one `append_batch`, as a scraper sends them.
    Scrape,
    /// `(series, samples)`: requests of `samples` samples of each of `series` series, one
    /// `append_batch` and one `flush` per request, as the remote_write receiver stores them.
    Requests(usize, usize),
}

fn import(traces: &[&Trace], options: &StoreOptions, shape: Shape) -> Row {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("store");
    let store = Store::open_with(&path, options.clone()).expect("store opens");
    let started = Instant::now();
    let mut samples = 0;
    let keys: Vec<SeriesKey> = traces
        .iter()
        .enumerate()
        .map(|(i, trace)| SeriesKey::new(format!("{}#{i}", trace.name)).expect("a valid key"))
        .collect();
    match shape {
        Shape::Bulk => {
            for (key, trace) in keys.iter().zip(traces) {
                for chunk in trace.samples.chunks(BATCH) {
                    samples += store
                        .append_batch(&[(key.clone(), chunk.to_vec())])
                        .expect("append") as u64;
                }
            }
        }
        Shape::Scrape => {
            let longest = traces.iter().map(|t| t.samples.len()).max().unwrap_or(0);
            for i in 0..longest {
                let batch: Vec<(SeriesKey, Vec<Sample>)> = keys
                    .iter()
                    .zip(traces)
                    .filter_map(|(key, trace)| {
                        trace.samples.get(i).map(|s| (key.clone(), vec![*s]))
                    })
                    .collect();
                samples += store.append_batch(&batch).expect("append") as u64;
            }
        }
        Shape::Requests(series, per) => {
            let shortest = traces.iter().map(|t| t.samples.len()).min().unwrap_or(0);
            for start in (0..shortest - per + 1).step_by(per) {
                for (k, t) in keys.chunks(series).zip(traces.chunks(series)) {
                    let batch: Vec<(SeriesKey, Vec<Sample>)> = k
                        .iter()
                        .zip(t)
                        .map(|(key, trace)| {
                            (key.clone(), trace.samples[start..start + per].to_vec())
                        })
                        .collect();
                    samples += store.append_batch(&batch).expect("append") as u64;
                    store.flush().expect("flush");
                }
            }
        }
    }
    store.flush().expect("flush");
    let seconds = started.elapsed().as_secs_f64();
    let stats = store.stats().expect("stats");
    assert_eq!(stats.samples, samples);
    let du_now = du(&path);
    drop(store);
    let store = Store::open_with(&path, options.clone()).expect("store reopens");
    let sled_reopened = store.size_on_disk().expect("size");
    drop(store);
    Row {
        samples,
        codec: stats.block_bytes,
        sled: stats.size_on_disk,
        du: du_now,
        sled_reopened,
        du_reopened: du(&path),
        seconds,
    }
}

fn per_sample(bytes: u64, samples: u64) -> f64 {
    bytes as f64 / samples.max(1) as f64
}

fn print_row(name: &str, row: &Row) {
    println!(
        "| {name:<31} | {:>7} | {:>9.2} | {:>8.2} | {:>6.2} | {:>15.2} | {:>13.2} | {:>10} |",
        row.samples,
        per_sample(row.codec, row.samples),
        per_sample(row.sled, row.samples),
        per_sample(row.du, row.samples),
        per_sample(row.sled_reopened, row.samples),
        per_sample(row.du_reopened, row.samples),
        row.sled,
    );
}

fn table(traces: &[Trace], options: &StoreOptions) {
    println!(
        "\nblock_samples = {}, segment_size = {} KiB, batches of {BATCH}",
        options.block_samples,
        options.segment_size >> 10
    );
    println!(
        "| trace                           | samples | codec B/s | sled B/s | du B/s | sled B/s reopen | du B/s reopen | sled bytes |"
    );
    println!(
        "| ------------------------------- | ------: | --------: | -------: | -----: | --------------: | ------------: | ---------: |"
    );
    for trace in traces {
        print_row(&trace.name, &import(&[trace], options, Shape::Bulk));
    }
    let all: Vec<&Trace> = traces.iter().collect();
    let row = import(&all, options, Shape::Bulk);
    print_row("ALL (one store)", &row);
    let ten: Vec<&Trace> = (0..10).flat_map(|_| traces.iter()).collect();
    print_row("ALL x10 (one store)", &import(&ten, options, Shape::Bulk));
    let churn = StoreOptions {
        checkpoint_bytes: 0,
        ..options.clone()
    };
    print_row(
        "ALL scrape, checkpoint every append",
        &import(&all, &churn, Shape::Scrape),
    );
    println!(
        "import + flush of all traces (one store, bulk): {:.3} s, {:.0} samples/s",
        row.seconds,
        row.samples as f64 / row.seconds
    );
}

/// 1,000 series (the traces again and again, cut to `length` samples each, at most 4,000),
/// ingested as the remote_write receiver stores requests of three shapes.
fn requests(traces: &[Trace], options: &StoreOptions, length: usize) {
    let cut: Vec<Trace> = (0..1_000)
        .map(|i| {
            let trace = &traces[i % traces.len()];
            let room = trace.samples.len().saturating_sub(length).max(1);
            let offset = (i / traces.len()) * 37 % room;
            Trace {
                name: trace.name.clone(),
                samples: trace.samples[offset..offset + length].to_vec(),
            }
        })
        .collect();
    let all: Vec<&Trace> = cut.iter().collect();
    println!("\nremote_write requests (1,000 series x {length} samples, a flush per request):");
    for (series, per) in [(100, 100), (100, 10), (1_000, 1)] {
        let row = import(&all, options, Shape::Requests(series, per));
        print_row(&format!("{series} series x {per} per request"), &row);
        println!("    {:.0} samples/s", row.samples as f64 / row.seconds);
    }
}

fn main() {
    let sweep = std::env::args().any(|arg| arg == "--sweep");
    let traces = traces();
    // `--requests [N]`: only the remote_write rows, N samples per series (default 1,000).
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--requests") {
        let length = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000);
        requests(&traces, &StoreOptions::default(), length.min(4_000));
        return;
    }
    table(&traces, &StoreOptions::default());
    requests(&traces, &StoreOptions::default(), 1_000);
    if sweep {
        for segment_size in [64 << 10, 128 << 10, 256 << 10, SEGMENT_SIZE, 1 << 20] {
            for block_samples in [360, 720, 1_440] {
                let options = StoreOptions {
                    block_samples,
                    segment_size,
                    ..StoreOptions::default()
                };
                let all: Vec<&Trace> = traces.iter().collect();
                let row = import(&all, &options, Shape::Bulk);
                println!(
                    "segment {:>5} KiB, block {:>5}: codec {:.2} B/s, sled {:.2} B/s, du {:.2} B/s, reopened sled {:.2} B/s",
                    segment_size >> 10,
                    block_samples,
                    per_sample(row.codec, row.samples),
                    per_sample(row.sled, row.samples),
                    per_sample(row.du, row.samples),
                    per_sample(row.sled_reopened, row.samples),
                );
            }
        }
    }
}
