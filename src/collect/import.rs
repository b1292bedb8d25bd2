//! `prescale import`: a dataset CSV (see `series::csv`) loaded into the store and flushed.

use std::path::Path;

use super::CollectError;
use crate::series::{Sample, SeriesKey, Timestamp, csv::read_dataset};
use crate::store::Store;

/// What an import wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    pub samples: usize,
    pub first: Timestamp,
    pub last: Timestamp,
    pub step: i64,
}

/// Reads `path` whole (so a bad line stores nothing), appends it to `key` and flushes. With
/// `shift_to`, the trace is moved in time first so that its last sample lands on the last step
/// boundary at or before that instant ([`shift_to`]): a recorded trace becomes recent history
/// a live target can plan on.
pub fn import_dataset(
    store: &Store,
    path: &Path,
    key: &SeriesKey,
    shift: Option<Timestamp>,
) -> Result<ImportReport, CollectError> {
    let dataset = read_dataset(path)?;
    let mut samples = dataset.samples.clone();
    if let Some(now) = shift {
        shift_to(&mut samples, dataset.step(), now);
    }
    let samples = &samples;
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

/// Moves `samples` (sorted) by one offset so that the last lands on the latest instant of its
/// grid (a whole number of `step`s away) at or before `now` (samples stay on their grid, the trace's shape is unchanged; its
/// days and weeks move with it, as the demo's do).
pub fn shift_to(samples: &mut [Sample], step: i64, now: Timestamp) {
    let Some(last) = samples.last().map(|s| s.timestamp) else {
        return;
    };
    // The latest instant at or before `now` on the samples' own grid (same phase: a trace
    // sampled at :05 stays at :05).
    let target = now - (now - last).rem_euclid(step.max(1));
    let offset = target - last;
    for sample in samples.iter_mut() {
        sample.timestamp += offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_trace_ends_at_now_on_its_grid() {
        let mut samples: Vec<Sample> = (0..10)
            .map(|i| Sample {
                timestamp: 1_400_000_000 + 1800 * i,
                value: i as f64,
            })
            .collect();
        let now = 1_767_607_321;
        shift_to(&mut samples, 1800, now);
        let last = samples.last().unwrap().timestamp;
        assert!(last <= now && now - last < 1800, "{last} vs {now}");
        assert_eq!(samples[1].timestamp - samples[0].timestamp, 1800);
        assert_eq!(samples[9].value, 9.0);
        assert_eq!(last.rem_euclid(1800), 1_400_000_000i64.rem_euclid(1800));
    }
}
