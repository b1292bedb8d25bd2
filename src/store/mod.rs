//! Durable history in sled: each series as compressed blocks of samples, plus the targets.
//!
//! # Layout on disk
//!
//! One sled database (a directory) with three trees:
//!
//! - `catalog`: series name → id (u32), first/last timestamp, sample count (29 bytes, see
//!   [`catalog`]). Loaded whole into memory at open; it is small (one entry per series).
//! - `blocks`: `id (4 B, big-endian) ‖ block end (8 B, big-endian, sign bit flipped)` → one
//!   encoded block of about [`StoreOptions::block_samples`] samples (see [`block`] for the
//!   codec). A series' blocks are contiguous and in time order, so a range read is one forward
//!   sled range scan. The key's timestamp is the block's **last** sample, and block `k` holds
//!   exactly the samples after block `k-1`'s key up to its own key.
//!
//!   Keying by the end rather than the start makes every lookup a forward seek: the block that
//!   holds (or will hold) `t` is the first key `>= (id, t)`, and a read of `[from, to)` starts
//!   at the first key `>= (id, from)` and stops after the first key `>= (id, to)`. A start key
//!   would need the last key `<= t`, a reverse seek, and sled 0.34's reverse iteration
//!   (`next_back`, hence `get_lt` and `last`) panics with "fucked up tree traversal" on some
//!   tree shapes (our property test hit it). It also means late samples before the first block
//!   or inside a block never change a sealed block's key.
//! - `targets`: target name → the target's JSON, opaque to the store.
//!
//! # Why blocks, not a key per sample
//!
//! Measured on sled 0.34: one key per sample costs ~228 bytes per sample on disk and ingests
//! ~52,000 samples/s; a block of 720 samples per key costs ~15 bytes per sample before our codec
//! and ingests ~10M samples/s. With the codec (grid timestamps, decimal or XOR values) a sample
//! of a real trace takes one to three bytes inside its block.
//!
//! # Writing
//!
//! Appends land in the series' **head** (its newest block), kept decoded in memory. The head is
//! re-encoded and written to sled when it fills up (then it is sealed as a full block and a new
//! head starts), when older blocks change, on [`Store::flush`], at the latest
//! [`StoreOptions::head_write_interval`] after it first changed, and when the last handle is
//! dropped. This is what makes small appends cheap: a sample costs a push onto a vector, not a
//! rewrite of a kilobyte block. It does not weaken the contract: appends are not durable until
//! `flush` returns, and `flush` writes every changed head first.
//!
//! Samples older than the head (late data, back-fills, a retried batch) are merged into the
//! block that covers them; a block that grows past twice the target size is split. A timestamp
//! already stored is overwritten (last write wins), so retrying a batch creates no duplicates.
//!
//! Every sled write for a series — sealed or changed blocks, the head, its catalogue entry — is
//! one sled transaction over `catalog` and `blocks`, so after a crash the catalogue always
//! describes exactly the blocks that are there.
//!
//! # Concurrency
//!
//! Each series has its own mutex; different series are written in parallel and readers of one
//! series wait only for the writers of that series. A reader collects the raw blocks under the
//! lock and decodes them after releasing it.

mod bits;
mod block;
mod catalog;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use sled::IVec;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::series::{Sample, SeriesKey, Timestamp};
use catalog::{Entry, SeriesId, block_key, parse_block_key};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// Bytes on disk that do not decode: the message names the series and block.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("cannot create the data directory: {0}")]
    Io(#[from] std::io::Error),
    /// A sample that may not be stored (gaps are missing samples, never NaN).
    #[error("series {series}: value {value} at timestamp {timestamp} is not finite")]
    NonFinite {
        series: String,
        timestamp: Timestamp,
        value: f64,
    },
    /// More than 2^32 series.
    #[error("too many series: the id space is exhausted")]
    TooManySeries,
    #[error("invalid store options: {0}")]
    Options(String),
}

/// What the catalogue knows about one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    pub key: SeriesKey,
    pub first: Timestamp,
    pub last: Timestamp,
    pub samples: u64,
}

/// What the store holds and what it costs, from [`Store::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    pub series: u64,
    pub samples: u64,
    /// Blocks in sled (heads not written yet are not counted).
    pub blocks: u64,
    /// Bytes of encoded blocks plus their keys: what the codec produced.
    pub block_bytes: u64,
    /// What sled's files take: [`Store::size_on_disk`].
    pub size_on_disk: u64,
}

/// Tuning knobs; [`Store::open`] uses the defaults.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Samples per sealed block. Larger blocks amortize the per-key cost of sled (and compress
    /// a little better); smaller ones make the rewrite of a late-data block cheaper. 720 is a
    /// day of 2-minute samples, 2.5 days at 5 minutes.
    pub block_samples: usize,
    /// The longest a changed head stays only in memory while appends keep arriving.
    pub head_write_interval: Duration,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// sled's log segment size in bytes (a power of two). Fixed when the store is created:
    /// sled refuses to open a store with a different one. See [`SEGMENT_SIZE`].
    pub segment_size: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            block_samples: 720,
            head_write_interval: Duration::from_secs(1),
            cache_capacity: 64 << 20,
            segment_size: SEGMENT_SIZE,
        }
    }
}

/// sled's default log segment size.
pub const SEGMENT_SIZE: usize = 512 << 10;

/// Marks the directory as a prescale store and names its format, for future migrations.
const FORMAT_KEY: &[u8] = b"prescale.store.format";
const FORMAT: &[u8] = b"1";

/// A handle on the store; cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    catalog: sled::Tree,
    blocks: sled::Tree,
    targets: sled::Tree,
    options: StoreOptions,
    registry: RwLock<Registry>,
    /// Serializes writes to sled (see `persist`).
    writer: Mutex<()>,
}

#[derive(Default)]
struct Registry {
    series: BTreeMap<SeriesKey, Arc<Mutex<SeriesState>>>,
    next_id: u64,
}

/// One series in memory: its catalogue entry as it is now (including unwritten appends) and its
/// head block.
struct SeriesState {
    key: SeriesKey,
    id: SeriesId,
    /// Zero until the first sample; `first` and `last` are meaningless then.
    samples: u64,
    first: Timestamp,
    last: Timestamp,
    /// `None` until the head has been read from sled (or known not to exist).
    head: Option<Option<Head>>,
    /// What sled holds for this series, as its catalogue entry says: `None` before the first
    /// write. Kept exact (from the sample counts of the blocks written and replaced) so that the
    /// catalogue never claims samples that are only in memory.
    durable: Option<Entry>,
}

/// The newest block of a series, decoded. It holds every sample after the last sealed block,
/// so the series' newest sample is always its last one.
struct Head {
    /// Never empty, sorted, distinct timestamps.
    samples: Vec<Sample>,
    /// Changed since it was last written.
    dirty: bool,
    /// When it became dirty.
    dirty_since: Instant,
    /// The key (the then last timestamp) under which sled holds a copy of this head, if any.
    /// Appends move the head's end, so the old copy is removed when the head is next written.
    stored_at: Option<Timestamp>,
    /// How many samples that copy holds.
    stored_len: u64,
}

impl Head {
    fn first(&self) -> Timestamp {
        self.samples.first().map_or(Timestamp::MAX, |s| s.timestamp)
    }

    fn touch(&mut self) {
        if !self.dirty {
            self.dirty = true;
            self.dirty_since = Instant::now();
        }
    }
}

/// Block changes to make in one transaction.
#[derive(Default)]
struct Writes {
    /// Keys of blocks to remove.
    removes: Vec<Timestamp>,
    puts: Vec<Put>,
    /// Samples in the blocks removed or overwritten, for the catalogue's count.
    replaced: u64,
    /// The head must be written too: sealing removed its old copy, and some of the samples in
    /// it are not in the sealed blocks.
    head: bool,
}

/// A block to write.
struct Put {
    first: Timestamp,
    /// Its key.
    last: Timestamp,
    count: u64,
    bytes: Vec<u8>,
}

impl Put {
    fn of(samples: &[Sample]) -> Option<Put> {
        Some(Put {
            first: samples.first()?.timestamp,
            last: samples.last()?.timestamp,
            count: samples.len() as u64,
            bytes: block::encode(samples),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a series was locked (there is none on our side; sled asserts internally)
    // should not make the series unreadable for the rest of the process.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn corrupt_block(key: &SeriesKey, end: Timestamp, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("series {key}: block ending at {end}: {error}"))
}

impl Store {
    /// Opens (creating if missing) the store in `dir` with the default options.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if missing) the store in `dir`.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        if options.block_samples < 2 || options.block_samples > block::MAX_BLOCK_SAMPLES / 4 {
            return Err(StoreError::Options(format!(
                "block_samples must be between 2 and {}, got {}",
                block::MAX_BLOCK_SAMPLES / 4,
                options.block_samples
            )));
        }
        std::fs::create_dir_all(dir)?;
        let db = open_sled(dir, &options)?;
        match db.get(FORMAT_KEY)? {
            Some(format) if format.as_ref() == FORMAT => {}
            Some(format) => {
                return Err(StoreError::Corrupt(format!(
                    "store format {:?}, this build reads {:?}",
                    String::from_utf8_lossy(&format),
                    String::from_utf8_lossy(FORMAT)
                )));
            }
            None => {
                db.insert(FORMAT_KEY, FORMAT)?;
            }
        }
        let catalog = db.open_tree("catalog")?;
        let blocks = db.open_tree("blocks")?;
        let targets = db.open_tree("targets")?;

        let mut registry = Registry::default();
        let mut ids = std::collections::HashSet::new();
        for item in catalog.iter() {
            let (name, value) = item?;
            let key = String::from_utf8(name.to_vec())
                .ok()
                .and_then(|name| SeriesKey::new(name).ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "catalogue key {:?} is not a series name",
                        String::from_utf8_lossy(&name)
                    ))
                })?;
            let entry = Entry::decode(&value)
                .map_err(|e| StoreError::Corrupt(format!("series {key}: {e}")))?;
            if !ids.insert(entry.id) {
                return Err(StoreError::Corrupt(format!(
                    "series {key}: id {} used twice",
                    entry.id
                )));
            }
            registry.next_id = registry.next_id.max(u64::from(entry.id) + 1);
            let state = SeriesState {
                key: key.clone(),
                id: entry.id,
                samples: entry.samples,
                first: entry.first,
                last: entry.last,
                head: None,
                durable: Some(entry),
            };
            registry.series.insert(key, Arc::new(Mutex::new(state)));
        }

        Ok(Store {
            inner: Arc::new(Inner {
                db,
                catalog,
                blocks,
                targets,
                options,
                registry: RwLock::new(registry),
                writer: Mutex::new(()),
            }),
        })
    }

    /// Appends samples to one series (any order; an existing timestamp is overwritten). Not
    /// durable until [`flush`](Self::flush). Returns the number of samples accepted.
    pub fn append(&self, key: &SeriesKey, samples: &[Sample]) -> Result<usize, StoreError> {
        validate(key, samples)?;
        self.inner.append_one(key, samples)
    }

    /// Appends samples to many series: the ingest path. Every sample is checked before anything
    /// is written, so a bad value rejects the whole batch; a storage error part-way may leave
    /// the series before it written. Not durable until [`flush`](Self::flush). Returns the
    /// number of samples accepted.
    pub fn append_batch(&self, batch: &[(SeriesKey, Vec<Sample>)]) -> Result<usize, StoreError> {
        for (key, samples) in batch {
            validate(key, samples)?;
        }
        let mut written = 0;
        for (key, samples) in batch {
            written += self.inner.append_one(key, samples)?;
        }
        Ok(written)
    }

    /// Makes everything appended before the call durable (written and fsynced).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.write_dirty_heads()?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// The samples of `key` with `from <= timestamp < to`, sorted. An unknown series has none.
    pub fn read(
        &self,
        key: &SeriesKey,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Sample>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let Some(series) = self.inner.get(key) else {
            return Ok(Vec::new());
        };
        let inner = &self.inner;
        // Under the lock: the raw blocks (cheap reference-counted buffers) and the head's part.
        let (raw, head_part) = {
            let state = lock(&series);
            let id = state.id;
            // With the head in memory, sled keys from its first sample on are its (possibly
            // outdated) copy: read the memory instead.
            let (end, head_part) = match &state.head {
                Some(Some(head)) => {
                    let part: Vec<Sample> = head
                        .samples
                        .iter()
                        .filter(|s| s.timestamp >= from && s.timestamp < to)
                        .copied()
                        .collect();
                    (Bound::Excluded(block_key(id, head.first())), part)
                }
                _ => (Bound::Included(block_key(id, i64::MAX)), Vec::new()),
            };
            // The first block that can hold `from` is the first ending at or after it; the last
            // one needed is the first ending at or after `to`.
            let mut raw = Vec::new();
            let lower = block_key(id, from);
            let empty = matches!(&end, Bound::Excluded(end) if *end <= lower);
            for item in inner
                .blocks
                .range((Bound::Included(lower), end))
                .take_while(|_| !empty)
            {
                let (k, v) = item?;
                let (_, block_end) = parse_block_key(&k)?;
                raw.push((block_end, v));
                if block_end >= to {
                    break;
                }
            }
            (raw, head_part)
        };
        let mut out = Vec::new();
        let mut previous_end = None;
        for (end, bytes) in raw {
            let before = out.len();
            block::decode_into(&bytes, &mut out).map_err(|e| corrupt_block(key, end, e))?;
            check_block(&out[before..], previous_end, end)
                .map_err(|e| corrupt_block(key, end, e))?;
            previous_end = Some(end);
            // Keep only the asked range, in place.
            let mut keep = before;
            for i in before..out.len() {
                if out[i].timestamp >= from && out[i].timestamp < to {
                    out[keep] = out[i];
                    keep += 1;
                }
            }
            out.truncate(keep);
        }
        if let (Some(end), Some(first)) = (previous_end, head_part.first()) {
            if first.timestamp <= end {
                return Err(StoreError::Corrupt(format!(
                    "series {key}: block ending at {end} overlaps the newest block"
                )));
            }
        }
        out.extend_from_slice(&head_part);
        Ok(out)
    }

    /// The newest sample of `key`, from the in-memory head (one block read the first time).
    pub fn latest(&self, key: &SeriesKey) -> Result<Option<Sample>, StoreError> {
        let Some(series) = self.inner.get(key) else {
            return Ok(None);
        };
        let mut state = lock(&series);
        self.inner.load_head(&mut state)?;
        Ok(match &state.head {
            Some(Some(head)) => head.samples.last().copied(),
            _ => None,
        })
    }

    /// What the catalogue knows about `key`, including appends not yet flushed.
    pub fn info(&self, key: &SeriesKey) -> Result<Option<SeriesInfo>, StoreError> {
        Ok(self.inner.get(key).and_then(|series| lock(&series).info()))
    }

    /// Every series with at least one sample, sorted by key.
    pub fn list(&self) -> Result<Vec<SeriesInfo>, StoreError> {
        let all: Vec<_> = self.inner.registry().series.values().cloned().collect();
        Ok(all
            .iter()
            .filter_map(|series| lock(series).info())
            .collect())
    }

    /// Stores (or replaces) a target's JSON; durable when it returns.
    pub fn put_target(&self, name: &str, json: &[u8]) -> Result<(), StoreError> {
        self.inner.targets.insert(name.as_bytes(), json)?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// Deletes a target; durable when it returns. True if it existed.
    pub fn delete_target(&self, name: &str) -> Result<bool, StoreError> {
        let existed = self.inner.targets.remove(name.as_bytes())?.is_some();
        if existed {
            self.inner.db.flush()?;
        }
        Ok(existed)
    }

    /// Every target as `(name, json)`, sorted by name.
    pub fn targets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner
            .targets
            .iter()
            .map(|item| {
                let (name, json) = item?;
                let name = String::from_utf8(name.to_vec()).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "target name {:?} is not UTF-8",
                        String::from_utf8_lossy(&name)
                    ))
                })?;
                Ok((name, json.to_vec()))
            })
            .collect()
    }

    /// Bytes the database files take (sled's log and blob files).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// Counts series, samples, blocks and their bytes. Scans every block: for reports and
    /// benchmarks, not for a hot path.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut stats = StoreStats::default();
        for info in self.list()? {
            stats.series += 1;
            stats.samples += info.samples;
        }
        for item in self.inner.blocks.iter() {
            let (k, v) = item?;
            stats.blocks += 1;
            stats.block_bytes += (k.len() + v.len()) as u64;
        }
        stats.size_on_disk = self.size_on_disk()?;
        Ok(stats)
    }
}

fn validate(key: &SeriesKey, samples: &[Sample]) -> Result<(), StoreError> {
    match samples.iter().find(|s| !s.value.is_finite()) {
        Some(bad) => Err(StoreError::NonFinite {
            series: key.to_string(),
            timestamp: bad.timestamp,
            value: bad.value,
        }),
        None => Ok(()),
    }
}

/// Sorts by timestamp, keeping the last of equal timestamps (last write wins within a batch).
fn sorted_unique(samples: &[Sample]) -> Vec<Sample> {
    let mut out = samples.to_vec();
    if !out.is_sorted_by(|a, b| a.timestamp < b.timestamp) {
        // Stable, so equal timestamps stay in input order and the later one is kept below.
        out.sort_by_key(|s| s.timestamp);
        out.dedup_by(|later, kept| {
            if later.timestamp == kept.timestamp {
                *kept = *later;
                true
            } else {
                false
            }
        });
    }
    out
}

/// Merges sorted `new` into sorted `existing`, `new` winning on equal timestamps. Returns how
/// many timestamps were not there before.
fn merge_into(existing: &mut Vec<Sample>, new: &[Sample]) -> u64 {
    let (Some(last), Some(first_new)) = (existing.last(), new.first()) else {
        existing.extend_from_slice(new);
        return new.len() as u64;
    };
    if last.timestamp < first_new.timestamp {
        // The common case: appending after the newest sample.
        existing.extend_from_slice(new);
        return new.len() as u64;
    }
    let old = std::mem::take(existing);
    existing.reserve(old.len() + new.len());
    let (mut i, mut j, mut added) = (0, 0, 0);
    while i < old.len() && j < new.len() {
        match old[i].timestamp.cmp(&new[j].timestamp) {
            std::cmp::Ordering::Less => {
                existing.push(old[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                existing.push(new[j]);
                j += 1;
                added += 1;
            }
            std::cmp::Ordering::Equal => {
                existing.push(new[j]);
                i += 1;
                j += 1;
            }
        }
    }
    existing.extend_from_slice(&old[i..]);
    added += (new.len() - j) as u64;
    existing.extend_from_slice(&new[j..]);
    added
}

impl SeriesState {
    fn info(&self) -> Option<SeriesInfo> {
        (self.samples > 0).then(|| SeriesInfo {
            key: self.key.clone(),
            first: self.first,
            last: self.last,
            samples: self.samples,
        })
    }

    fn head_mut(&mut self) -> Option<&mut Head> {
        self.head.as_mut().and_then(Option::as_mut)
    }
}

impl Inner {
    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, key: &SeriesKey) -> Option<Arc<Mutex<SeriesState>>> {
        self.registry().series.get(key).cloned()
    }

    fn get_or_create(&self, key: &SeriesKey) -> Result<Arc<Mutex<SeriesState>>, StoreError> {
        if let Some(series) = self.get(key) {
            return Ok(series);
        }
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = registry.series.get(key) {
            return Ok(series.clone());
        }
        let id = SeriesId::try_from(registry.next_id).map_err(|_| StoreError::TooManySeries)?;
        registry.next_id += 1;
        // The catalogue entry is written with the series' first block, in one transaction.
        let series = Arc::new(Mutex::new(SeriesState {
            key: key.clone(),
            id,
            samples: 0,
            first: 0,
            last: 0,
            head: Some(None),
            durable: None,
        }));
        registry.series.insert(key.clone(), series.clone());
        Ok(series)
    }

    fn append_one(&self, key: &SeriesKey, samples: &[Sample]) -> Result<usize, StoreError> {
        if samples.is_empty() {
            return Ok(0);
        }
        let series = self.get_or_create(key)?;
        let mut state = lock(&series);
        self.apply(&mut state, &sorted_unique(samples))?;
        Ok(samples.len())
    }

    /// Reads the head (the last block) from sled the first time it is needed. Its key is the
    /// newest timestamp in sled, which the catalogue holds, so this is one point lookup.
    fn load_head(&self, state: &mut SeriesState) -> Result<(), StoreError> {
        if state.head.is_some() {
            return Ok(());
        }
        let Some(durable) = state.durable else {
            state.head = Some(None);
            return Ok(());
        };
        let end = durable.last;
        let bytes = self
            .blocks
            .get(block_key(state.id, end))?
            .ok_or_else(|| corrupt_block(&state.key, end, "the newest block is missing"))?;
        let samples = block::decode(&bytes).map_err(|e| corrupt_block(&state.key, end, e))?;
        check_block(&samples, None, end).map_err(|e| corrupt_block(&state.key, end, e))?;
        state.head = Some(Some(Head {
            stored_len: samples.len() as u64,
            samples,
            dirty: false,
            dirty_since: Instant::now(),
            stored_at: Some(end),
        }));
        Ok(())
    }

    /// Applies sorted, distinct samples to a series.
    fn apply(&self, state: &mut SeriesState, new: &[Sample]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (new.first(), new.last()) else {
            return Ok(());
        };
        self.load_head(state)?;
        let mut writes = Writes::default();
        // Samples before the head's first one may belong to sealed blocks.
        let split = match state.head_mut() {
            Some(head) => new.partition_point(|s| s.timestamp < head.first()),
            None => 0,
        };
        let mut added = 0;
        if split > 0 {
            added += self.merge_older(state, &new[..split], &mut writes)?;
        }
        let fresh = &new[split..];
        if !fresh.is_empty() {
            let head = state.head.get_or_insert(None).get_or_insert_with(|| Head {
                samples: Vec::new(),
                dirty: false,
                dirty_since: Instant::now(),
                stored_at: None,
                stored_len: 0,
            });
            added += merge_into(&mut head.samples, fresh);
            head.touch();
        }
        if state.samples == 0 {
            (state.first, state.last) = (first.timestamp, last.timestamp);
        } else {
            state.first = state.first.min(first.timestamp);
            state.last = state.last.max(last.timestamp);
        }
        state.samples += added;

        let block_samples = self.options.block_samples;
        let interval = self.options.head_write_interval;
        let mut head_due = false;
        if let Some(head) = state.head_mut() {
            seal_full(head, block_samples, &mut writes);
            head_due = head.dirty && head.dirty_since.elapsed() >= interval;
        }
        writes.head |= head_due;
        if writes.head || !writes.puts.is_empty() || !writes.removes.is_empty() {
            self.persist(state, writes)?;
        }
        Ok(())
    }

    /// Merges samples older than the head's first sample into the sealed blocks that cover
    /// them, or into the head when they fall after the last sealed block. Returns how many
    /// timestamps are new.
    fn merge_older(
        &self,
        state: &mut SeriesState,
        late: &[Sample],
        writes: &mut Writes,
    ) -> Result<u64, StoreError> {
        let id = state.id;
        let Some(head_first) = state.head_mut().map(|h| h.first()) else {
            return Ok(0);
        };
        let max_block = 2 * self.options.block_samples;
        let mut added = 0;
        let mut i = 0;
        while i < late.len() {
            // The sealed block for `t` is the first one ending at or after it. Keys from the
            // head's first sample on are the head's own copy, hence the bound.
            let found = self
                .blocks
                .range(block_key(id, late[i].timestamp)..block_key(id, head_first))
                .next()
                .transpose()?;
            let Some((k, bytes)) = found else {
                // After the last sealed block: these samples are the head's new beginning.
                if let Some(head) = state.head_mut() {
                    added += merge_into(&mut head.samples, &late[i..]);
                    head.touch();
                }
                return Ok(added);
            };
            let (_, end) = parse_block_key(&k)?;
            let j = i + late[i..].partition_point(|s| s.timestamp <= end);
            let mut samples =
                block::decode(&bytes).map_err(|e| corrupt_block(&state.key, end, e))?;
            check_block(&samples, None, end).map_err(|e| corrupt_block(&state.key, end, e))?;
            // The block is replaced whole (its last part keeps its key, so no remove).
            writes.replaced += samples.len() as u64;
            added += merge_into(&mut samples, &late[i..j]);
            // Split an overgrown block into roughly equal parts of about the target size.
            let parts = if samples.len() > max_block {
                samples.len().div_ceil(self.options.block_samples)
            } else {
                1
            };
            let per_part = samples.len().div_ceil(parts);
            writes
                .puts
                .extend(samples.chunks(per_part).filter_map(Put::of));
            i = j;
        }
        Ok(added)
    }

    /// Writes pending block changes, the head if asked (and changed), and the catalogue entry,
    /// in one transaction.
    fn persist(&self, state: &mut SeriesState, mut writes: Writes) -> Result<(), StoreError> {
        let mut head_written = None;
        if writes.head {
            if let Some(head) = state.head_mut().filter(|h| h.dirty) {
                if let Some(old) = head.stored_at.take() {
                    writes.removes.push(old);
                    writes.replaced += std::mem::take(&mut head.stored_len);
                }
                if let Some(put) = Put::of(&head.samples) {
                    head_written = Some((put.last, put.count));
                    writes.puts.push(put);
                }
            }
        }
        if writes.puts.is_empty() && writes.removes.is_empty() {
            return Ok(());
        }
        // The catalogue entry after this write: counts change by what is written and replaced;
        // first and last only ever widen, because a stored sample is never dropped (an old head
        // copy is removed only with blocks that hold its samples).
        let mut entry = state.durable.unwrap_or(Entry {
            id: state.id,
            first: Timestamp::MAX,
            last: Timestamp::MIN,
            samples: 0,
        });
        let written: u64 = writes.puts.iter().map(|p| p.count).sum();
        entry.samples = (entry.samples + written)
            .checked_sub(writes.replaced)
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "series {}: sample count out of step with its blocks",
                    state.key
                ))
            })?;
        for put in &writes.puts {
            entry.first = entry.first.min(put.first);
            entry.last = entry.last.max(put.last);
        }

        let id = state.id;
        let removes: Vec<IVec> = writes
            .removes
            .iter()
            .map(|&t| IVec::from(&block_key(id, t)))
            .collect();
        let puts: Vec<(IVec, IVec)> = writes
            .puts
            .into_iter()
            .map(|put| (IVec::from(&block_key(id, put.last)), IVec::from(put.bytes)))
            .collect();
        let name = state.key.as_str().as_bytes();
        let encoded = entry.encode();
        // One writer at a time. sled serializes transactions anyway (a process-wide lock), and
        // fewer concurrent log writes make sled 0.34's known segment-truncation deadlock
        // (sled issue #1412, fixed only after 0.34) less likely; series writes are rare (a
        // sealed block or a head write-behind), so this costs no throughput.
        let _writer = lock(&self.writer);
        (&self.catalog, &self.blocks)
            .transaction(|(catalog, blocks)| {
                // Removes first: a block may be put back at a key it removes.
                for k in &removes {
                    blocks.remove(k.clone())?;
                }
                for (k, v) in &puts {
                    blocks.insert(k.clone(), v.clone())?;
                }
                catalog.insert(name, &encoded[..])?;
                Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(never) => match never {},
            })?;
        state.durable = Some(entry);
        if let (Some((end, count)), Some(head)) = (head_written, state.head_mut()) {
            head.dirty = false;
            head.stored_at = Some(end);
            head.stored_len = count;
        }
        Ok(())
    }

    fn write_dirty_heads(&self) -> Result<(), StoreError> {
        let all: Vec<_> = self.registry().series.values().cloned().collect();
        for series in all {
            let mut state = lock(&series);
            if state.head_mut().is_some_and(|h| h.dirty) {
                let writes = Writes {
                    head: true,
                    ..Writes::default()
                };
                self.persist(&mut state, writes)?;
            }
        }
        Ok(())
    }
}

/// Seals full blocks off the front of the head, leaving it 1 to `block_samples` samples. The
/// head itself is not written unless its old copy held samples the sealed blocks do not.
fn seal_full(head: &mut Head, block_samples: usize, writes: &mut Writes) {
    let full = (head.samples.len().saturating_sub(1)) / block_samples;
    if full == 0 {
        return;
    }
    let sealed = full * block_samples;
    let sealed_end = head.samples[sealed - 1].timestamp;
    // The old copy of the head is replaced by the sealed blocks. It holds timestamps up to its
    // key, and the sealed blocks hold every head sample up to `sealed_end`; if the copy reaches
    // further, the rest is only in the new head, which must then be written too.
    if let Some(old) = head.stored_at.take() {
        writes.removes.push(old);
        writes.replaced += std::mem::take(&mut head.stored_len);
        writes.head |= old > sealed_end;
    }
    writes.puts.extend(
        head.samples[..sealed]
            .chunks(block_samples)
            .filter_map(Put::of),
    );
    head.samples.drain(..sealed);
    head.touch();
}

/// Checks what the decoder cannot: a block is not empty, ends exactly at its key, and starts
/// after the block before it.
fn check_block(
    samples: &[Sample],
    previous_end: Option<Timestamp>,
    end: Timestamp,
) -> Result<(), &'static str> {
    match (samples.first(), samples.last()) {
        (Some(first), Some(last)) => {
            if last.timestamp != end {
                Err("last sample is not at the block key")
            } else if previous_end.is_some_and(|p| first.timestamp <= p) {
                Err("overlaps the block before it")
            } else {
                Ok(())
            }
        }
        _ => Err("empty block"),
    }
}

/// Opens sled, waiting a little for the lock when the directory was just closed: sled 0.34
/// releases its file lock from a background thread shortly after the last handle is dropped
/// (sled issues #1234, #1289), so an immediate reopen in the same process can find it held.
/// Another process holding the store still gets the error after the wait.
fn open_sled(dir: &Path, options: &StoreOptions) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(dir)
        .segment_size(options.segment_size)
        .cache_capacity(options.cache_capacity);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match config.open() {
            // sled reports the lock as a plain `Other` error with this text.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return Ok(result?),
        }
    }
}

impl Drop for Inner {
    /// The last handle going away writes what is still only in memory, so a clean shutdown
    /// loses nothing even without a final `flush`. Errors cannot be returned from here; a caller
    /// who needs to know calls `flush` first.
    fn drop(&mut self) {
        let _ = self.write_dirty_heads();
        let _ = self.db.flush();
    }
}

#[cfg(test)]
mod tests;
