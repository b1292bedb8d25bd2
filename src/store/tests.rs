//! Store tests on real sled directories (`tempfile::tempdir`).

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;

use super::*;

fn key(name: &str) -> SeriesKey {
    SeriesKey::new(name).unwrap()
}

fn s(timestamp: i64, value: f64) -> Sample {
    Sample { timestamp, value }
}

fn grid(start: i64, step: i64, n: usize, f: impl Fn(usize) -> f64) -> Vec<Sample> {
    (0..n).map(|i| s(start + i as i64 * step, f(i))).collect()
}

/// Small blocks, heads always kept encoded (the path a store of many series takes).
fn small(block_samples: usize) -> StoreOptions {
    StoreOptions {
        block_samples,
        head_budget_samples: 0,
        ..StoreOptions::default()
    }
}

fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples
        .iter()
        .map(|s| (s.timestamp, s.value.to_bits()))
        .collect()
}

#[test]
fn store_handles_are_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Store>();
}

#[test]
fn append_then_read_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let k = key("checkout_rps");
    let data = grid(1_000, 60, 2_000, |i| (i % 97) as f64);
    assert_eq!(store.append(&k, &data).unwrap(), 2_000);

    assert_eq!(
        bits(&store.read(&k, i64::MIN, i64::MAX).unwrap()),
        bits(&data)
    );
    // Half-open: from is included, to is not.
    let part = store.read(&k, 1_060, 1_000 + 60 * 1_500).unwrap();
    assert_eq!(bits(&part), bits(&data[1..1_500]));
    // Between samples, inside one block, across block boundaries, empty ranges.
    assert_eq!(store.read(&k, 1_001, 1_059).unwrap(), vec![]);
    assert_eq!(store.read(&k, 1_061, 1_121).unwrap(), vec![data[2]]);
    assert_eq!(
        bits(
            &store
                .read(&k, 1_000 + 60 * 700, 1_000 + 60 * 1_450)
                .unwrap()
        ),
        bits(&data[700..1_450])
    );
    assert_eq!(store.read(&k, 5_000, 5_000).unwrap(), vec![]);
    assert_eq!(store.read(&k, 9_000, 5_000).unwrap(), vec![]);
    assert_eq!(store.read(&k, i64::MIN, 1_000).unwrap(), vec![]);

    let info = store.info(&k).unwrap().unwrap();
    assert_eq!(
        info,
        SeriesInfo {
            key: k.clone(),
            first: 1_000,
            last: 1_000 + 60 * 1_999,
            samples: 2_000
        }
    );
    assert_eq!(store.latest(&k).unwrap(), data.last().copied());
}

#[test]
fn unknown_series_is_empty_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let k = key("nope");
    assert_eq!(store.read(&k, 0, 100).unwrap(), vec![]);
    assert_eq!(store.info(&k).unwrap(), None);
    assert_eq!(store.latest(&k).unwrap(), None);
    assert_eq!(store.list().unwrap(), vec![]);
    // An empty append creates nothing.
    assert_eq!(store.append(&k, &[]).unwrap(), 0);
    assert_eq!(store.list().unwrap(), vec![]);
}

#[test]
fn same_timestamp_overwrites_and_retries_add_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small(8)).unwrap();
    let k = key("retry");
    let batch = grid(0, 10, 30, |i| i as f64);
    store.append(&k, &batch).unwrap();
    // A retried batch after a lost ack.
    store.append(&k, &batch).unwrap();
    assert_eq!(store.info(&k).unwrap().unwrap().samples, 30);
    // Corrections: in an old sealed block, in the head, and twice in one batch (last wins).
    store
        .append(&k, &[s(20, -1.0), s(290, -2.0), s(50, 7.0), s(50, 8.0)])
        .unwrap();
    let read = store.read(&k, 0, 1_000).unwrap();
    assert_eq!(read.len(), 30);
    assert_eq!(read[2].value, -1.0);
    assert_eq!(read[5].value, 8.0);
    assert_eq!(read[29].value, -2.0);
    assert_eq!(store.info(&k).unwrap().unwrap().samples, 30);
}

#[test]
fn late_and_unordered_samples_land_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small(4)).unwrap();
    let k = key("late");
    let mut model = BTreeMap::new();
    let add = |samples: &[Sample], model: &mut BTreeMap<i64, f64>| {
        store.append(&k, samples).unwrap();
        for x in samples {
            model.insert(x.timestamp, x.value);
        }
    };
    add(&grid(100, 10, 20, |i| i as f64), &mut model);
    // Into the middle of sealed blocks, before the first block, unsorted, and far ahead.
    add(
        &[s(155, 1.5), s(105, 0.5), s(35, -7.0), s(5, -9.0)],
        &mut model,
    );
    add(
        &[
            s(-1_000, 3.0),
            s(1_000, 4.0),
            s(151, 5.0),
            s(152, 6.0),
            s(153, 7.0),
        ],
        &mut model,
    );
    // Enough late samples in one block to split it.
    let dense: Vec<Sample> = (0..40)
        .map(|i| s(121 + i % 9 + (i / 9) * 100_000, i as f64))
        .collect();
    add(&dense, &mut model);
    let expected: Vec<Sample> = model.iter().map(|(&t, &v)| s(t, v)).collect();
    assert_eq!(
        bits(&store.read(&k, i64::MIN, i64::MAX).unwrap()),
        bits(&expected)
    );
    let info = store.info(&k).unwrap().unwrap();
    assert_eq!(info.samples, expected.len() as u64);
    assert_eq!(info.first, -1_000);
    assert_eq!(info.last, *model.keys().last().unwrap());
}

#[test]
fn non_finite_values_reject_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let batch = vec![
        (key("a"), vec![s(0, 1.0)]),
        (key("b"), vec![s(0, 1.0), s(60, f64::NAN)]),
    ];
    let error = store.append_batch(&batch).unwrap_err();
    assert!(
        matches!(error, StoreError::NonFinite { timestamp: 60, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("series b"));
    assert_eq!(store.list().unwrap(), vec![]);
    assert!(store.append(&key("c"), &[s(0, f64::INFINITY)]).is_err());
}

#[test]
fn batches_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let batch = vec![
        (key("zeta"), grid(0, 60, 10, |_| 1.0)),
        (key("alpha"), grid(30, 60, 5, |i| i as f64)),
        (key("zeta"), grid(600, 60, 10, |_| 2.0)),
        (key("mid"), vec![]),
    ];
    assert_eq!(store.append_batch(&batch).unwrap(), 25);
    let list = store.list().unwrap();
    let names: Vec<&str> = list.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(list[1].samples, 20);
    assert_eq!(list[1].last, 1_140);
}

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = grid(1_700_000_000, 300, 5_000, |i| (i * 13 % 101) as f64 * 0.5);
    let b = grid(-86_400, 1, 50, |i| -(i as f64));
    {
        let store = Store::open(dir.path()).unwrap();
        store.append(&key("a"), &a).unwrap();
        store.append(&key("b"), &b).unwrap();
        store.put_target("web", br#"{"name":"web"}"#).unwrap();
        store.put_target("api", b"{}").unwrap();
        store.put_planner("web", br#"{"headroom":1.5}"#).unwrap();
        store.put_planner("gone", b"{}").unwrap();
        store.delete_planner("gone").unwrap();
        store.flush().unwrap();
        // Appended after the flush: written by the drop of the last handle.
        store.append(&key("b"), &[s(1_000_000, 42.0)]).unwrap();
        let clone = store.clone();
        drop(store);
        clone.put_target("batch", b"[]").unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.planner("web").unwrap().as_deref(),
        Some(&br#"{"headroom":1.5}"#[..])
    );
    assert_eq!(store.planner("gone").unwrap(), None);
    assert_eq!(
        bits(&store.read(&key("a"), i64::MIN, i64::MAX).unwrap()),
        bits(&a)
    );
    let mut b_all = b.clone();
    b_all.push(s(1_000_000, 42.0));
    assert_eq!(
        bits(&store.read(&key("b"), i64::MIN, i64::MAX).unwrap()),
        bits(&b_all)
    );
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].samples, 5_000);
    assert_eq!(list[1].samples, 51);
    assert_eq!(list[1].first, -86_400);
    assert_eq!(list[1].last, 1_000_000);
    assert_eq!(store.latest(&key("b")).unwrap(), Some(s(1_000_000, 42.0)));
    let names: Vec<String> = store.targets().unwrap().into_iter().map(|t| t.0).collect();
    assert_eq!(names, ["api", "batch", "web"]);
    // Appending after a reopen continues the stored head.
    store.append(&key("b"), &[s(1_000_001, 1.0)]).unwrap();
    assert_eq!(store.info(&key("b")).unwrap().unwrap().samples, 52);
    // A new series after a reopen gets a fresh id.
    store.append(&key("c"), &[s(5, 5.0)]).unwrap();
    assert_eq!(store.read(&key("c"), 0, 10).unwrap(), vec![s(5, 5.0)]);
    assert_eq!(store.read(&key("b"), 0, 2_000_000).unwrap().len(), 2);
}

#[test]
fn targets_put_overwrite_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.targets().unwrap(), vec![]);
    store.put_target("web", b"1").unwrap();
    store.put_target("web", b"2").unwrap();
    store.put_target("api", b"3").unwrap();
    assert_eq!(
        store.targets().unwrap(),
        vec![
            ("api".to_string(), b"3".to_vec()),
            ("web".to_string(), b"2".to_vec())
        ]
    );
    assert!(store.delete_target("web").unwrap());
    assert!(!store.delete_target("web").unwrap());
    assert_eq!(store.targets().unwrap().len(), 1);
}

#[test]
fn concurrent_appenders_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small(32)).unwrap();
    let threads = 8;
    let per_thread = 2_000i64;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..per_thread {
                    // Every thread writes its own series and interleaves into a shared one
                    // (distinct timestamps per thread), in small batches like a scraper.
                    let own = key(&format!("own-{t}"));
                    let ts = i * threads + t;
                    store
                        .append_batch(&[
                            (own, vec![s(i, i as f64)]),
                            (key("shared"), vec![s(ts, t as f64)]),
                        ])
                        .unwrap();
                    if i % 500 == 0 {
                        store.flush().unwrap();
                        let _ = store.read(&key("shared"), 0, ts).unwrap();
                    }
                }
            });
        }
    });
    let shared = store.read(&key("shared"), i64::MIN, i64::MAX).unwrap();
    assert_eq!(shared.len() as i64, threads * per_thread);
    assert!(
        shared
            .iter()
            .enumerate()
            .all(|(i, x)| x.timestamp == i as i64 && x.value == (i as i64 % threads) as f64)
    );
    for t in 0..threads {
        let own = store
            .read(&key(&format!("own-{t}")), i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(own.len() as i64, per_thread);
    }
    assert_eq!(store.list().unwrap().len() as i64, threads + 1);
}

#[test]
fn corrupt_blocks_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .append(&key("x"), &grid(0, 60, 100, |i| i as f64))
            .unwrap();
        store.flush().unwrap();
        let inner = store.inner().unwrap();
        inner.checkpoint().unwrap();
        let blocks = &inner.blocks;
        let (k, _) = blocks.iter().next().unwrap().unwrap();
        blocks.insert(k, &[0x10, 0xff, 0x13, 0x37][..]).unwrap();
        store.inner().unwrap().db.flush().unwrap();
        // Keep the damaged bytes: nothing dirty is left to rewrite on drop.
    }
    let store = Store::open(dir.path()).unwrap();
    let error = store.read(&key("x"), 0, 10_000).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
    assert!(error.to_string().contains("series x"), "{error}");
    assert!(matches!(
        store.latest(&key("x")),
        Err(StoreError::Corrupt(_))
    ));
    assert!(store.append(&key("x"), &[s(1, 1.0)]).is_err());
}

#[test]
fn check_reports_damage_by_series() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), small(10)).unwrap();
        for name in ["x", "y"] {
            store
                .append(&key(name), &grid(0, 60, 35, |i| i as f64))
                .unwrap();
        }
        store.flush().unwrap();
        let clean = store.check().unwrap();
        assert!(clean.is_clean(), "{clean:?}");
        assert_eq!(clean.series.len(), 2);
        assert!(
            clean
                .series
                .iter()
                .all(|s| s.samples == 35 && s.blocks == 3)
        );
        // Damage the second sealed block of y.
        let inner = store.inner().unwrap();
        let y = lock(&inner.get(&key("y")).unwrap()).id;
        let (k, _) = inner
            .blocks
            .range(block_key(y, i64::MIN)..)
            .nth(1)
            .unwrap()
            .unwrap();
        inner.blocks.insert(k, &[0x10, 0xff, 0x13][..]).unwrap();
        inner.targets.insert("t", &b"{not json"[..]).unwrap();
        inner.db.flush().unwrap();
    }
    let store = Store::open_with(dir.path(), small(10)).unwrap();
    let report = store.check().unwrap();
    assert!(!report.is_clean());
    let (x, y) = (&report.series[0], &report.series[1]);
    assert!(x.damage.is_empty(), "{x:?}");
    assert_eq!(y.damage.len(), 1, "{y:?}");
    assert!(y.damage[0].starts_with("block ending at"), "{y:?}");
    assert_eq!(y.samples, 25, "the other blocks and the head still read");
    assert_eq!(report.damaged_records.len(), 1, "{report:?}");
}

#[test]
fn recovery_drops_leftovers_and_recounts() {
    let dir = tempfile::tempdir().unwrap();
    let options = small(4);
    let data = grid(0, 10, 10, |i| i as f64);
    {
        let store = Store::open_with(dir.path(), options.clone()).unwrap();
        store.append(&key("r"), &data).unwrap();
        // Sealed: 0..=30 and 40..=70, and the head (80, 90): a bulk append, written directly.
        assert_eq!(store.inner().unwrap().blocks.len(), 3);
    }
    // What an interrupted seal and an interrupted split leave: a head entry that still holds
    // sealed samples (with old values), a lower split part written before the old block was
    // replaced, and a catalogue that knows none of it.
    {
        let db = open_sled(dir.path(), &options).unwrap();
        let blocks = db.open_tree("blocks").unwrap();
        let id = 0;
        blocks
            .insert(
                head_key(id),
                block::encode(&[
                    s(60, -1.0),
                    s(70, -1.0),
                    s(80, 8.0),
                    s(90, 9.0),
                    s(100, 10.0),
                ]),
            )
            .unwrap();
        blocks
            .insert(
                block_key(id, 50),
                block::encode(&[s(40, 4.5), s(45, 4.75), s(50, 5.5)]),
            )
            .unwrap();
        db.insert(CLEAN_KEY, b"0").unwrap();
        db.flush().unwrap();
    }
    let store = Store::open_with(dir.path(), options).unwrap();
    let read = store.read(&key("r"), i64::MIN, i64::MAX).unwrap();
    let expected = [
        (0, 0.0),
        (10, 1.0),
        (20, 2.0),
        (30, 3.0),
        (40, 4.5),
        (45, 4.75),
        (50, 5.5),
        (60, 6.0),
        (70, 7.0),
        (80, 8.0),
        (90, 9.0),
        (100, 10.0),
    ];
    let expected: Vec<Sample> = expected.iter().map(|&(t, v)| s(t, v)).collect();
    assert_eq!(bits(&read), bits(&expected));
    let info = store.info(&key("r")).unwrap().unwrap();
    assert_eq!((info.samples, info.first, info.last), (12, 0, 100));
    assert_eq!(store.latest(&key("r")).unwrap(), Some(s(100, 10.0)));
    // Reading from the middle works the same.
    assert_eq!(
        store.read(&key("r"), 45, 65).unwrap(),
        vec![s(45, 4.75), s(50, 5.5), s(60, 6.0)]
    );
}

#[test]
fn corrupt_catalogue_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .inner()
            .unwrap()
            .catalog
            .insert("bad", &[1u8, 2, 3][..])
            .unwrap();
        store.inner().unwrap().db.flush().unwrap();
    }
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn appends_go_to_the_log_and_checkpoints_write_the_heads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&key("h"), &[s(0, 1.0)]).unwrap();
    store
        .append_batch(&[(key("h"), vec![s(1, 2.0)]), (key("g"), vec![s(5, 3.0)])])
        .unwrap();
    store.flush().unwrap();
    let inner = store.inner().unwrap();
    assert_eq!(inner.blocks.len(), 0, "no head is written per append");
    assert_eq!(inner.wal.len(), 2, "one log record per append call");
    assert_eq!(
        store.read(&key("h"), 0, 2).unwrap(),
        vec![s(0, 1.0), s(1, 2.0)]
    );
    inner.checkpoint().unwrap();
    assert_eq!(inner.blocks.len(), 2, "both heads written");
    assert_eq!(inner.wal.len(), 0, "the records they cover removed");
    drop(inner);
    store.append(&key("g"), &[s(6, 4.0)]).unwrap();
    store.flush().unwrap();
    // A crash: the last append is only in the log, and comes back from it.
    let store = crash_and_reopen(store, dir.path(), &StoreOptions::default());
    assert_eq!(
        store.read(&key("g"), 0, 10).unwrap(),
        vec![s(5, 3.0), s(6, 4.0)]
    );
    assert_eq!(store.info(&key("g")).unwrap().unwrap().samples, 2);
    assert_eq!(
        store.inner().unwrap().wal.len(),
        0,
        "replayed, then checkpointed"
    );
    // The log is checkpointed by size as appends go.
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        checkpoint_bytes: 1_000,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options).unwrap();
    for i in 0..200 {
        store.append(&key("c"), &[s(i, 1.0)]).unwrap();
    }
    let inner = store.inner().unwrap();
    assert!(inner.wal.len() < 100, "{} records left", inner.wal.len());
    assert!(inner.wal_bytes.load(Ordering::Relaxed) < 1_000);
    drop(inner);

    // A block or more for a series no record names is written directly; with a record of it
    // still in the log, it is logged.
    let dir = tempfile::tempdir().unwrap();
    let options = small(4);
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    let inner = store.inner().unwrap();
    store
        .append(&key("bulk"), &grid(0, 10, 10, |i| i as f64))
        .unwrap();
    assert_eq!(inner.wal.len(), 0, "no record for a bulk append");
    assert_eq!(inner.blocks.len(), 3, "two sealed blocks and the head");
    store.append(&key("bulk"), &[s(100, 1.0)]).unwrap();
    assert_eq!(inner.wal.len(), 1);
    store
        .append(&key("bulk"), &grid(200, 10, 8, |_| 2.0))
        .unwrap();
    assert_eq!(
        inner.wal.len(),
        2,
        "a record of the series is still in the log"
    );
    inner.checkpoint().unwrap();
    store
        .append(&key("bulk"), &grid(300, 10, 8, |_| 3.0))
        .unwrap();
    assert_eq!(inner.wal.len(), 0, "direct again once checkpointed");
    store.flush().unwrap();
    drop(inner);
    let store = crash_and_reopen(store, dir.path(), &options);
    assert_eq!(store.info(&key("bulk")).unwrap().unwrap().samples, 27);
    assert_eq!(store.read(&key("bulk"), 300, 400).unwrap().len(), 8);
}

#[test]
fn a_store_of_the_format_before_the_log_is_upgraded_and_a_later_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.append(&key("x"), &[s(1, 1.0)]).unwrap();
        let inner = store.inner().unwrap();
        inner.db.insert(FORMAT_KEY, FORMAT_BEFORE_THE_LOG).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.read(&key("x"), 0, 10).unwrap(), vec![s(1, 1.0)]);
    let inner = store.inner().unwrap();
    assert_eq!(inner.db.get(FORMAT_KEY).unwrap().unwrap().as_ref(), FORMAT);
    inner.db.insert(FORMAT_KEY, &b"3"[..]).unwrap();
    drop(inner);
    drop(store);
    let error = Store::open(dir.path()).err().unwrap();
    assert!(error.to_string().contains("store format \"3\""), "{error}");
}

#[test]
fn options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::open_with(dir.path(), small(1)),
        Err(StoreError::Options(_))
    ));
}

#[test]
fn open_creates_the_directory_and_reports_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data");
    let store = Store::open(&path).unwrap();
    store
        .append(&key("x"), &grid(0, 60, 1_000, |i| i as f64))
        .unwrap();
    store.flush().unwrap();
    assert!(path.is_dir());
    assert!(store.size_on_disk().unwrap() > 0);
}

/// The flush count moves with every flush, from every handle, and stands still otherwise.
#[test]
fn flushes_are_counted_across_handles() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.flushes(), 0);
    store
        .append(&key("x"), &grid(0, 60, 10, |i| i as f64))
        .unwrap();
    assert_eq!(store.flushes(), 0);
    store.flush().unwrap();
    let other = store.clone();
    other.flush().unwrap();
    assert_eq!(store.flushes(), 2);
    store.read(&key("x"), 0, 600).unwrap();
    assert_eq!(other.flushes(), 2);
}

/// Heads kept encoded (a store of many series): one sample at a time, late data inside the
/// head, a sample taken back, seals, a crash and reopens all read back what a sorted map holds.
#[test]
fn heads_kept_encoded_read_back_through_seals_late_data_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        block_samples: 300,
        checkpoint_bytes: 3_000,
        head_budget_samples: 0,
        ..StoreOptions::default()
    };
    let mut store = Store::open_with(dir.path(), options.clone()).unwrap();
    let names = ["a", "b", "c"];
    let mut model: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); names.len()];
    let append = |store: &Store, model: &mut Vec<BTreeMap<i64, f64>>, t: i64, v: f64| {
        for (k, name) in names.iter().enumerate() {
            let value = v + k as f64 / 4.0;
            store.append(&key(name), &[s(t, value)]).unwrap();
            model[k].insert(t, value);
        }
    };
    for i in 0..1_000 {
        append(&store, &mut model, i * 10, (i % 37) as f64);
    }
    // The heads hold 100 samples (900..1000), most of them encoded.
    {
        let inner = store.inner().unwrap();
        let series = inner.get(&key("a")).unwrap();
        let state = lock(&series);
        assert!(
            state.head.encoded_len() >= 64,
            "{}",
            state.head.encoded_len()
        );
    }
    // Late data inside the heads: between samples, and over one.
    for i in 950..960 {
        append(&store, &mut model, i * 10 + 5, -1.5);
    }
    append(&store, &mut model, 9_500, 99.25);
    // A sample taken back (what a repair does).
    store
        .inner()
        .unwrap()
        .remove_samples(&key("b"), &[9_700])
        .unwrap();
    model[1].remove(&9_700);
    let expect = |store: &Store, model: &Vec<BTreeMap<i64, f64>>| {
        for (k, name) in names.iter().enumerate() {
            let got = store.read(&key(name), i64::MIN, i64::MAX).unwrap();
            let want: Vec<Sample> = model[k].iter().map(|(&t, &v)| s(t, v)).collect();
            assert_eq!(bits(&got), bits(&want), "series {name}");
            let middle = store.read(&key(name), 9_400, 9_800).unwrap();
            assert_eq!(middle.len(), model[k].range(9_400..9_800).count());
            let (&t, &v) = model[k].iter().next_back().unwrap();
            assert_eq!(store.latest(&key(name)).unwrap(), Some(s(t, v)));
        }
    };
    expect(&store, &model);
    for i in 1_000..1_100 {
        append(&store, &mut model, i * 10, 0.5);
    }
    store.flush().unwrap();
    store = crash_and_reopen(store, dir.path(), &options);
    expect(&store, &model);
    drop(store);
    let store = Store::open_with(dir.path(), options).unwrap();
    expect(&store, &model);
    assert!(store.check().unwrap().is_clean());
}

// ---- model-based property test ----------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Append(usize, Vec<(i64, i32)>),
    Flush,
    Reopen,
    /// Reopen as after a crash: the clean marker is cleared, so the store recounts.
    Recover,
    /// Flush, then a crash: the heads in memory are lost, the log is replayed.
    Crash,
}

/// Drops the store as a crash would (no checkpoint, no clean close: what is in sled stays, the
/// heads in memory go) and reopens it.
fn crash_and_reopen(store: Store, dir: &Path, options: &StoreOptions) -> Store {
    crash(store);
    Store::open_with(dir, options.clone()).unwrap()
}

/// Drops the store without a clean close.
fn crash(store: Store) {
    if let Ok(inner) = store.inner() {
        inner.failed.store(true, Ordering::SeqCst);
    }
}

/// Closes the store, clears its clean marker as a crash would leave it, and reopens it.
fn reopen_as_after_crash(store: Store, dir: &Path, options: &StoreOptions) -> Store {
    drop(store);
    {
        let db = open_sled(dir, options).unwrap();
        db.insert(CLEAN_KEY, b"0").unwrap();
        db.flush().unwrap();
    }
    Store::open_with(dir, options.clone()).unwrap()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..3, prop::collection::vec((-200i64..400, any::<i32>()), 1..40))
            .prop_map(|(series, points)| Op::Append(series, points)),
        // Appends moving forward in time, like live data.
        3 => (0usize..3, 0i64..50, 1usize..60).prop_map(|(series, offset, n)| {
            Op::Append(series, (0..n as i64).map(|i| (400 + offset * 10 + i * 3, i as i32)).collect())
        }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Recover),
        1 => Just(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random appends (late, duplicate, unordered), flushes and reopens against a BTreeMap.
    #[test]
    fn behaves_like_a_sorted_map(
        block_samples in 2usize..12,
        checkpoint_bytes in prop_oneof![Just(64u64 << 20), 20u64..400],
        head_budget_samples in prop_oneof![Just(0usize), Just(usize::MAX)],
        ops in prop::collection::vec(op(), 1..30),
        ranges in prop::collection::vec((-250i64..1_000, 0i64..600), 5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            block_samples,
            checkpoint_bytes,
            head_budget_samples,
            ..StoreOptions::default()
        };
        let mut store = Store::open_with(dir.path(), options.clone()).unwrap();
        let mut model: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); 3];
        let names = ["s0", "s1", "s2"];
        for op in ops {
            match op {
                Op::Append(series, points) => {
                    let samples: Vec<Sample> =
                        points.iter().map(|&(t, v)| s(t, f64::from(v) / 8.0)).collect();
                    store.append(&key(names[series]), &samples).unwrap();
                    for x in samples {
                        model[series].insert(x.timestamp, x.value);
                    }
                }
                Op::Flush => store.flush().unwrap(),
                Op::Reopen => {
                    drop(store);
                    store = Store::open_with(dir.path(), options.clone()).unwrap();
                }
                Op::Recover => store = reopen_as_after_crash(store, dir.path(), &options),
                Op::Crash => {
                    store.flush().unwrap();
                    store = crash_and_reopen(store, dir.path(), &options);
                }
            }
        }
        for round in 0..2 {
            for (series, name) in names.iter().enumerate() {
                let k = key(name);
                let expected: Vec<Sample> =
                    model[series].iter().map(|(&t, &v)| s(t, v)).collect();
                prop_assert_eq!(
                    bits(&store.read(&k, i64::MIN, i64::MAX).unwrap()),
                    bits(&expected)
                );
                for &(from, len) in &ranges {
                    let want: Vec<Sample> = model[series]
                        .range(from..from + len)
                        .map(|(&t, &v)| s(t, v))
                        .collect();
                    prop_assert_eq!(
                        bits(&store.read(&k, from, from + len).unwrap()),
                        bits(&want)
                    );
                }
                let info = store.info(&k).unwrap();
                prop_assert_eq!(info.as_ref().map(|i| i.samples).unwrap_or(0), expected.len() as u64);
                if let (Some(info), Some(first), Some(last)) = (info, expected.first(), expected.last()) {
                    prop_assert_eq!(info.first, first.timestamp);
                    prop_assert_eq!(info.last, last.timestamp);
                }
                prop_assert_eq!(store.latest(&k).unwrap(), expected.last().copied());
            }
            if round == 0 {
                drop(store);
                store = Store::open_with(dir.path(), options.clone()).unwrap();
            }
        }
    }
}

#[test]
fn a_deleted_series_is_gone_for_good_and_its_name_starts_anew() {
    let dir = tempfile::tempdir().unwrap();
    let (junk, kept) = (key("junk"), key("kept"));
    let store = {
        let store = Store::open_with(dir.path(), small(16)).unwrap();
        store
            .append(&junk, &grid(0, 60, 100, |i| i as f64))
            .unwrap();
        store
            .append(&kept, &grid(0, 60, 100, |i| i as f64))
            .unwrap();
        store.flush().unwrap();
        // Sealed blocks and a head, flushed: all of it goes.
        assert!(store.delete_series(&junk).unwrap());
        assert!(!store.delete_series(&junk).unwrap());
        assert_eq!(store.read(&junk, i64::MIN, i64::MAX).unwrap(), vec![]);
        assert_eq!(store.latest(&junk).unwrap(), None);
        assert_eq!(store.info(&junk).unwrap(), None);
        let names: Vec<_> = store.list().unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(names, std::slice::from_ref(&kept));
        // No block of it is left behind.
        let ids: std::collections::HashSet<_> = store
            .inner()
            .unwrap()
            .blocks
            .iter()
            .keys()
            .map(|k| k.unwrap()[..4].to_vec())
            .collect();
        assert_eq!(ids.len(), 1, "only the kept series has blocks");
        // The name starts anew, empty.
        store.append(&junk, &[s(10_000, 7.0)]).unwrap();
        store.flush().unwrap();
        assert_eq!(
            store.read(&junk, i64::MIN, i64::MAX).unwrap(),
            vec![s(10_000, 7.0)]
        );
        store
    };
    let store = reopen_as_after_crash(store, dir.path(), &small(16));
    assert_eq!(
        store.read(&junk, i64::MIN, i64::MAX).unwrap(),
        vec![s(10_000, 7.0)]
    );
    assert_eq!(store.info(&junk).unwrap().unwrap().samples, 1);
    assert_eq!(store.info(&kept).unwrap().unwrap().samples, 100);
}

#[test]
fn a_repair_takes_back_what_no_flush_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let options = small(16);
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    let k = key("rps");
    let acked = grid(0, 60, 100, |i| i as f64);
    store.append(&k, &acked).unwrap();
    store.flush().unwrap();
    // Not acknowledged: new samples after the acknowledged ones (sealed into a block shared
    // with acknowledged samples, into blocks of their own, and into the head) and late ones
    // inside a sealed block; sled writes them to disk, the store's own flush never covers them.
    store.append(&k, &grid(6_000, 60, 50, |_| 7.0)).unwrap();
    store.append(&k, &[s(30, 9.0), s(90, 9.0)]).unwrap();
    let inner = store.inner().unwrap();
    inner.checkpoint().unwrap();
    inner.db.flush().unwrap();
    drop(inner);
    store.inject_failure("injected write error");
    assert!(matches!(
        store.read(&k, i64::MIN, i64::MAX),
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.append(&k, &[s(1, 1.0)]),
        Err(StoreError::Unavailable(_))
    ));

    store.repair().unwrap();
    assert_eq!(store.failure(), None);
    assert_eq!(store.generation(), 1);
    let check = |store: &Store| {
        assert_eq!(
            bits(&store.read(&k, i64::MIN, i64::MAX).unwrap()),
            bits(&acked)
        );
        let info = store.info(&k).unwrap().unwrap();
        assert_eq!((info.samples, info.first, info.last), (100, 0, 99 * 60));
        assert_eq!(store.latest(&k).unwrap(), acked.last().copied());
    };
    check(&store);
    // Writes go on, and a crash afterwards finds the same.
    store.append(&k, &[s(6_000, 1.0)]).unwrap();
    store.flush().unwrap();
    let store = reopen_as_after_crash(store, dir.path(), &options);
    assert_eq!(store.read(&k, 6_000, 6_001).unwrap(), vec![s(6_000, 1.0)]);
    assert_eq!(store.read(&k, i64::MIN, 6_000).unwrap().len(), 100);
    assert_eq!(store.info(&k).unwrap().unwrap().samples, 101);
}

// ---- crashes at every write ---------------------------------------------------------------------

/// What the crash tests append, in order: each step is one append call, then a flush. Series
/// `a` seals blocks of 4, takes late samples that grow a sealed block past twice its size (a
/// split) and overwrites; `b` is created part-way, by a batch shared with `a`. Appends of 4 or
/// more samples to a series without a record in the log are written directly.
fn crash_steps() -> Vec<Vec<(&'static str, Vec<Sample>)>> {
    vec![
        vec![("a", grid(0, 10, 10, |i| i as f64))],
        vec![
            ("a", grid(100, 10, 3, |_| 1.0)),
            ("b", grid(0, 10, 3, |_| 2.0)),
        ],
        vec![(
            "a",
            (1..7)
                .map(|t| s(t, -(t as f64)))
                .chain([s(20, 20.5), s(130, 3.0)])
                .collect(),
        )],
        vec![("b", grid(30, 10, 9, |i| i as f64 * 0.5))],
        vec![
            ("a", grid(140, 10, 2, |_| 4.0)),
            ("b", vec![s(0, 9.0), s(500, 9.0)]),
        ],
        // A block's worth over timestamps that logged appends wrote: logged too while their
        // records are in the log (a direct write would be undone by their replay).
        vec![("a", grid(100, 10, 8, |i| 10.0 + i as f64))],
    ]
}

type Model = BTreeMap<&'static str, BTreeMap<i64, u64>>;

fn applied(mut model: Model, step: &[(&'static str, Vec<Sample>)]) -> Model {
    for (name, samples) in step {
        let series = model.entry(name).or_default();
        for x in samples {
            series.insert(x.timestamp, x.value.to_bits());
        }
    }
    model
}

/// What the store holds, in the model's form; its counts checked against its reads.
fn contents(store: &Store) -> Model {
    let mut out = Model::new();
    for name in ["a", "b"] {
        let k = key(name);
        let read = store.read(&k, i64::MIN, i64::MAX).unwrap();
        let info = store.info(&k).unwrap();
        assert_eq!(
            info.as_ref().map_or(0, |i| i.samples),
            read.len() as u64,
            "{name}: count"
        );
        if let (Some(info), Some(first), Some(last)) = (info, read.first(), read.last()) {
            assert_eq!(
                (info.first, info.last),
                (first.timestamp, last.timestamp),
                "{name}"
            );
        }
        assert_eq!(
            store.latest(&k).unwrap(),
            read.last().copied(),
            "{name}: latest"
        );
        if !read.is_empty() {
            out.insert(
                name,
                read.iter()
                    .map(|x| (x.timestamp, x.value.to_bits()))
                    .collect(),
            );
        }
    }
    out
}

/// Runs the steps on a store in `dir` that fails every write after its first `writes`; returns
/// the model of what was acknowledged, of what the step in flight would add, and whether every
/// step finished.
fn run_until_crash(dir: &Path, options: &StoreOptions, writes: u64) -> (Model, Model, bool) {
    let store = Store::open_with(
        dir,
        StoreOptions {
            crash_after_writes: Some(writes),
            ..options.clone()
        },
    )
    .unwrap();
    let mut acked = Model::new();
    for step in crash_steps() {
        let batch: Vec<(SeriesKey, Vec<Sample>)> = step
            .iter()
            .map(|(name, samples)| (key(name), samples.clone()))
            .collect();
        let done = store.append_batch(&batch).and_then(|_| store.flush());
        let after = applied(acked.clone(), &step);
        if done.is_err() {
            crash(store);
            return (acked, after, false);
        }
        acked = after;
    }
    crash(store);
    (acked.clone(), acked, true)
}

/// The store after a crash holds what was acknowledged, and of the append in flight nothing
/// but its own values; after a clean reopen, the same.
fn assert_recovered(
    dir: &Path,
    options: &StoreOptions,
    acked: &Model,
    inflight: &Model,
    what: &str,
) {
    let store = Store::open_with(dir, options.clone()).unwrap();
    let found = contents(&store);
    // Each timestamp holds its acknowledged value or the one the append in flight gave it (a
    // logged append lands whole or not at all; a direct one may land in part).
    for name in ["a", "b"] {
        let empty = BTreeMap::new();
        let [f, a, i] = [&found, acked, inflight].map(|m| m.get(name).unwrap_or(&empty));
        for t in f.keys().chain(a.keys()).chain(i.keys()) {
            let got = f.get(t);
            assert!(
                got == a.get(t) || got == i.get(t),
                "{what}: {name} at {t}: found {got:?}, acknowledged {:?}, in flight {:?}",
                a.get(t),
                i.get(t)
            );
        }
    }
    assert_eq!(
        store
            .check()
            .unwrap()
            .series
            .iter()
            .map(|c| c.damage.len())
            .sum::<usize>(),
        0
    );
    drop(store);
    let store = Store::open_with(dir, options.clone()).unwrap();
    assert_eq!(contents(&store), found, "{what}: after a clean reopen");
}

#[test]
fn a_crash_at_any_write_loses_no_acknowledged_sample_and_duplicates_none() {
    // Checkpoints every few appends, so crashes also hit head writes and log removals.
    let options = StoreOptions {
        checkpoint_bytes: 40,
        ..small(4)
    };
    for writes in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let (acked, inflight, finished) = run_until_crash(dir.path(), &options, writes);
        assert_recovered(
            dir.path(),
            &options,
            &acked,
            &inflight,
            &format!("crash at write {writes}"),
        );
        if finished {
            assert!(writes > 20, "the steps take {writes} writes");
            break;
        }
    }
}

#[test]
fn a_crash_during_the_replay_of_the_log_loses_nothing() {
    // No checkpoint while appending: everything after the first seals is only in the log.
    let options = small(4);
    let dir = tempfile::tempdir().unwrap();
    let (acked, _, finished) = run_until_crash(dir.path(), &options, u64::MAX);
    assert!(finished);
    let image = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), image.path());
    for writes in 0.. {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(image.path(), dir.path());
        let opened = Store::open_with(
            dir.path(),
            StoreOptions {
                crash_after_writes: Some(writes),
                ..options.clone()
            },
        );
        let replayed = opened.is_ok();
        if let Ok(store) = opened {
            crash(store);
        }
        assert_recovered(
            dir.path(),
            &options,
            &acked,
            &acked,
            &format!("crash at replay write {writes}"),
        );
        if replayed {
            assert!(writes > 5, "the replay takes {writes} writes");
            break;
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
