//! `prescale import`: a dataset CSV (see `series::csv`) loaded into the store and flushed.

use std::path::Path;

use super::CollectError;
use crate::series::{SeriesKey, Timestamp, csv::read_dataset};
use crate::store::Store;

/// What an import wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    pub samples: usize,
    pub first: Timestamp,
    pub last: Timestamp,
    pub step: i64,
}

/// Reads `path` whole (so a bad line stores nothing), appends it to `key` and flushes.
pub fn import_dataset(
    store: &Store,
    path: &Path,
    key: &SeriesKey,
) -> Result<ImportReport, CollectError> {
    let dataset = read_dataset(path)?;
    let samples = &dataset.samples;
    for (i, sample) in samples.iter().enumerate() {
        super::check_timestamp(sample.timestamp)
            .and_then(|()| super::check_value(sample.value))
            .map_err(|e| {
                CollectError::Invalid(format!("{}: data row {}: {e}", path.display(), i + 1))
            })?;
    }
    store.append(key, samples)?;
    store.flush()?;
    Ok(ImportReport {
        samples: samples.len(),
        first: samples.first().map_or(0, |s| s.timestamp),
        last: samples.last().map_or(0, |s| s.timestamp),
        step: dataset.step(),
    })
}
