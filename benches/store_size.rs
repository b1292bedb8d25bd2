//! Bytes per sample on disk: imports every trace in `datasets/*.csv` into a fresh store and
//! prints a table. This is how the store's space figure is reproduced:
//!
//! ```text
//! cargo bench --bench store_size            # the default options
//! cargo bench --bench store_size -- --sweep # also other block and segment sizes
//! cargo bench --bench store_size -- --sled-floor [N] # what sled 0.34 itself costs
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

/// Appends `traces` to `store` in `shape`; the samples appended.
fn ingest(store: &Store, traces: &[&Trace], shape: Shape) -> u64 {
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
    samples
}

fn import(traces: &[&Trace], options: &StoreOptions, shape: Shape) -> Row {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("store");
    let store = Store::open_with(&path, options.clone()).expect("store opens");
    let started = Instant::now();
    let samples = ingest(&store, traces, shape);
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

/// 1,000 series: the traces again and again, cut to `length` samples each (at offsets that
/// differ between copies).
fn cut(traces: &[Trace], length: usize) -> Vec<Trace> {
    (0..1_000)
        .map(|i| {
            let trace = &traces[i % traces.len()];
            let room = trace.samples.len().saturating_sub(length).max(1);
            let offset = (i / traces.len()) * 37 % room;
            Trace {
                name: trace.name.clone(),
                samples: trace.samples[offset..offset + length].to_vec(),
            }
        })
        .collect()
}

/// 1,000 series (the traces again and again, cut to `length` samples each, at most 4,000),
/// ingested as the remote_write receiver stores requests of three shapes.
fn requests(traces: &[Trace], options: &StoreOptions, length: usize) {
    let cut = cut(traces, length);
    let all: Vec<&Trace> = cut.iter().collect();
    println!("\nremote_write requests (1,000 series x {length} samples, a flush per request):");
    for (series, per) in [(100, 100), (100, 10), (1_000, 1)] {
        let row = import(&all, options, Shape::Requests(series, per));
        print_row(&format!("{series} series x {per} per request"), &row);
        println!("    {:.0} samples/s", row.samples as f64 / row.seconds);
    }
}

/// What sled 0.34 itself costs (issue 19's 2 bytes a sample): 1,000 series × `length` samples
/// stored as remote_write requests of one sample each, the store closed cleanly; then the live
/// keys and values of its trees, and a fresh sled database holding only a copy of them.
fn sled_floor(traces: &[Trace], length: usize) {
    let cut = cut(traces, length);
    let all: Vec<&Trace> = cut.iter().collect();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("store");
    let store = Store::open_with(&path, StoreOptions::default()).expect("store opens");
    let samples = ingest(&store, &all, Shape::Requests(1_000, 1));
    drop(store);
    let closed = du(&path);
    let db = sled::Config::new()
        .path(&path)
        .open()
        .expect("sled opens the store");
    let copy_path = dir.path().join("copy");
    let copy = sled::Config::new()
        .path(&copy_path)
        .open()
        .expect("a fresh sled");
    let mut live = 0;
    for name in db.tree_names() {
        let (from, to) = (
            db.open_tree(&name).expect("tree"),
            copy.open_tree(&name).expect("tree"),
        );
        for item in from.iter() {
            let (key, value) = item.expect("read");
            live += (key.len() + value.len()) as u64;
            to.insert(key, value).expect("insert");
        }
    }
    copy.flush().expect("flush");
    drop(copy);
    // sled releases its files from a background thread after the last handle goes.
    std::thread::sleep(std::time::Duration::from_millis(300));
    println!("\nsled's floor, {samples} samples of 1,000 series x 1 a request (bytes a sample):");
    println!(
        "  the store's directory after a clean close  {:.2}",
        per_sample(closed, samples)
    );
    println!(
        "  live keys and values in its trees           {:.2}",
        per_sample(live, samples)
    );
    println!(
        "  a fresh sled holding a copy of them only    {:.2}",
        per_sample(du(&copy_path), samples)
    );
    log_only(samples as usize / 1_000);
}

/// sled 0.34 as a store whose sealed blocks are kept elsewhere would use it: per request of
/// 1,000 series × 1 sample a 5 kB log record and a flush, a checkpoint every 4 MiB of log (1,000
/// heads of ~3 bytes a sample rewritten, the records removed), a 20-byte pointer per sealed
/// block of 720 samples; a final checkpoint and a clean close. Prints sled's file per sample.
fn log_only(requests: usize) {
    const SERIES: u32 = 1_000;
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = sled::Config::new()
        .path(dir.path())
        .open()
        .expect("sled opens");
    let (log, heads, pointers) = (
        db.open_tree("wal").expect("tree"),
        db.open_tree("heads").expect("tree"),
        db.open_tree("pointers").expect("tree"),
    );
    // Incompressible bytes (xorshift), so no size depends on their content.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    };
    let (mut next, mut removed, mut logged) = (0u64, 0u64, 0usize);
    let checkpoint =
        |next: u64, removed: &mut u64, head: usize, bytes: &mut dyn FnMut(usize) -> Vec<u8>| {
            for series in 0..SERIES {
                heads
                    .insert(series.to_be_bytes(), bytes(3 * head))
                    .expect("head");
            }
            for seq in *removed..next {
                log.remove(seq.to_be_bytes()).expect("remove");
            }
            *removed = next;
        };
    for request in 1..=requests {
        log.insert(next.to_be_bytes(), bytes(5_000))
            .expect("record");
        next += 1;
        logged += 5_000;
        if request % 720 == 0 {
            for series in 0..SERIES {
                let key = [series.to_be_bytes(), (request as u32).to_be_bytes()].concat();
                pointers.insert(key, bytes(20)).expect("pointer");
            }
        }
        if logged >= 4 << 20 {
            checkpoint(next, &mut removed, request % 720, &mut bytes);
            logged = 0;
        }
        db.flush().expect("flush");
    }
    checkpoint(next, &mut removed, requests % 720, &mut bytes);
    db.flush().expect("flush");
    drop((log, heads, pointers, db));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let samples = (requests * SERIES as usize) as u64;
    println!(
        "  sled with only a log, heads and pointers    {:.2}",
        per_sample(du(dir.path()), samples)
    );
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
    // `--sled-floor [N]`: what sled itself costs, N samples per series (default and most 4,000).
    if let Some(at) = args.iter().position(|arg| arg == "--sled-floor") {
        let length = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(4_000);
        sled_floor(&traces, length.min(4_000));
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
