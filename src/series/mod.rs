//! Core time-series types shared by every other module.
//!
//! - [`SeriesKey`]: the validated name of a series (`checkout_rps`, or a Prometheus-style
//!   `http_requests_total{job="api"}`).
//! - [`Sample`]: one observation, a unix timestamp in seconds and a finite value.
//! - [`Series`]: observations on a regular grid (`start`, `step`), with gaps as `NaN`. This is
//!   what models fit on: a gap is "unknown", never zero.
//! - [`Span`]: durations as people write them (`5m`, `7d`).
//! - [`csv`]: the dataset CSV reader, so the backtest needs nothing from `collect`.
//!
//! Timestamps are `i64` unix seconds throughout: the grids prescale works on are seconds to hours
//! apart, and a plain integer keeps the hot paths (storage, fitting) free of conversions. Only the
//! edges (JSON, CSV, logs) speak RFC 3339.

pub mod csv;
mod span;

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

#[cfg(test)]
pub(crate) use span::test_span;
pub use span::{MAX_SPAN, Span, parse_span_list, span_text};

/// Unix time in whole seconds (UTC).
pub type Timestamp = i64;

/// The most bytes of client input an error message repeats.
pub const MAX_ECHO: usize = 200;

/// `text` cut to at most [`MAX_ECHO`] bytes (on a character boundary), marked `…` when cut:
/// an error message never repeats more of what the client sent.
pub fn clip(text: &str) -> String {
    if text.len() <= MAX_ECHO {
        return text.to_string();
    }
    let mut end = MAX_ECHO;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Errors from building or parsing core series values; the text they quote is [`clip`]ped.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SeriesError {
    #[error("invalid series name {:?}: {}", clip(.0), .1)]
    InvalidKey(String, &'static str),
    #[error("{0}")]
    Duration(String),
    #[error(
        "invalid timestamp {:?}: expected RFC 3339 (2026-01-05T10:00:00Z) or unix seconds",
        clip(.0)
    )]
    Timestamp(String),
    #[error("value {0} is not a finite number")]
    NonFinite(f64),
    #[error("step must be positive, got {0}")]
    Step(i64),
    /// Samples whose spacing and span would make a grid too long to hold.
    #[error(
        "{steps} steps of {step}s from the first sample to the last, more than the limit of \
         {max}: the samples' most common spacing is too small for the time they span"
    )]
    GridTooLong { steps: u64, step: i64, max: usize },
}

/// The longest grid [`Series::from_samples`] builds: 10 million steps (80 MB of values), over
/// a year at 5 s. A longer one is an error, so a few samples with an odd spacing can never make
/// a grid that exhausts memory.
pub const MAX_GRID_STEPS: usize = 10_000_000;

/// Maximum length of a series name in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// The name of a series: 1 to 512 bytes of printable text (no control characters).
///
/// Names are free-form so that a Prometheus series (`name{label="value"}`) maps to one key
/// unchanged; in a URL path they are percent-encoded like any other segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeriesKey(String);

impl SeriesKey {
    /// Validates `name` as a series key.
    pub fn new(name: impl Into<String>) -> Result<SeriesKey, SeriesError> {
        let name = name.into();
        if name.is_empty() {
            return Err(SeriesError::InvalidKey(name, "must not be empty"));
        }
        if name.len() > MAX_KEY_LEN {
            return Err(SeriesError::InvalidKey(name, "longer than 512 bytes"));
        }
        if name.chars().any(char::is_control) {
            return Err(SeriesError::InvalidKey(
                name,
                "must not contain control characters",
            ));
        }
        Ok(SeriesKey(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SeriesKey {
    type Error = SeriesError;
    fn try_from(name: String) -> Result<Self, SeriesError> {
        SeriesKey::new(name)
    }
}

impl From<SeriesKey> for String {
    fn from(key: SeriesKey) -> String {
        key.0
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One observation: unix seconds and a finite value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub timestamp: Timestamp,
    pub value: f64,
}

impl Sample {
    /// A sample, refusing NaN and infinities (a gap is the absence of a sample, not a NaN).
    pub fn new(timestamp: Timestamp, value: f64) -> Result<Sample, SeriesError> {
        if !value.is_finite() {
            return Err(SeriesError::NonFinite(value));
        }
        Ok(Sample { timestamp, value })
    }
}

/// Parses a timestamp as RFC 3339 (any offset, converted to UTC) or as unix seconds (an integer,
/// or a decimal whose fraction is dropped).
pub fn parse_timestamp(text: &str) -> Result<Timestamp, SeriesError> {
    let text = text.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Ok(parsed.timestamp());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds.abs() < 1e15 => Ok(seconds.floor() as i64),
        _ => Err(SeriesError::Timestamp(text.to_string())),
    }
}

/// Formats unix seconds as RFC 3339 UTC with a `Z` suffix, e.g. `2026-01-05T10:00:00Z`.
pub fn format_timestamp(timestamp: Timestamp) -> String {
    match DateTime::<Utc>::from_timestamp(timestamp, 0) {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => timestamp.to_string(),
    }
}

/// The most common positive difference between consecutive timestamps of sorted samples, or
/// `None` with fewer than two distinct timestamps. This is how a trace's step is inferred (the
/// same rule as the evaluation yardstick).
pub fn infer_step(samples: &[Sample]) -> Option<i64> {
    let mut diffs: Vec<i64> = samples
        .windows(2)
        // A difference beyond i64 (timestamps at both ends of its range) is no step.
        .filter_map(|w| w[1].timestamp.checked_sub(w[0].timestamp))
        .filter(|d| *d > 0)
        .collect();
    if diffs.is_empty() {
        return None;
    }
    diffs.sort_unstable();
    let (mut best, mut best_count) = (diffs[0], 0);
    let mut i = 0;
    while i < diffs.len() {
        let j = diffs[i..].partition_point(|d| *d == diffs[i]) + i;
        if j - i > best_count {
            (best, best_count) = (diffs[i], j - i);
        }
        i = j;
    }
    Some(best)
}

/// Observations on a regular grid: value `i` belongs to the step starting at
/// `start + i * step`. Missing steps are `NaN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    start: Timestamp,
    step: i64,
    values: Vec<f64>,
}

impl Series {
    /// A series from raw grid values (`NaN` marks a gap).
    pub fn new(start: Timestamp, step: i64, values: Vec<f64>) -> Result<Series, SeriesError> {
        if step <= 0 {
            return Err(SeriesError::Step(step));
        }
        Ok(Series {
            start,
            step,
            values,
        })
    }

    /// Puts sorted samples on a grid of `step` seconds whose phase is that of the first sample.
    /// Several samples in one step are averaged; steps without a sample are gaps. A grid longer
    /// than [`MAX_GRID_STEPS`] is an error.
    pub fn from_samples(samples: &[Sample], step: i64) -> Result<Series, SeriesError> {
        Series::from_samples_within(samples, step, MAX_GRID_STEPS)
    }

    /// [`Series::from_samples`] with a grid of at most `max_steps` steps.
    pub fn from_samples_within(
        samples: &[Sample],
        step: i64,
        max_steps: usize,
    ) -> Result<Series, SeriesError> {
        if step <= 0 {
            return Err(SeriesError::Step(step));
        }
        let Some(first) = samples.first() else {
            return Ok(Series {
                start: 0,
                step,
                values: Vec::new(),
            });
        };
        let start = first.timestamp;
        let last = samples.iter().map(|s| s.timestamp).max().unwrap_or(start);
        // Sorted samples lie within 1900–2300 where they come from outside, but this is also
        // called on anything: widen to i128 so no span overflows.
        let steps = (i128::from(last) - i128::from(start)) / i128::from(step) + 1;
        if steps > max_steps as i128 {
            return Err(SeriesError::GridTooLong {
                steps: u64::try_from(steps).unwrap_or(u64::MAX),
                step,
                max: max_steps,
            });
        }
        let len = steps as usize;
        let mut sums = vec![0.0; len];
        let mut counts = vec![0u32; len];
        for sample in samples {
            if sample.timestamp < start {
                continue;
            }
            let slot =
                ((i128::from(sample.timestamp) - i128::from(start)) / i128::from(step)) as usize;
            sums[slot] += sample.value;
            counts[slot] += 1;
        }
        let values = sums
            .into_iter()
            .zip(counts)
            .map(|(sum, n)| if n == 0 { f64::NAN } else { sum / n as f64 })
            .collect();
        Ok(Series {
            start,
            step,
            values,
        })
    }

    pub fn start(&self) -> Timestamp {
        self.start
    }

    pub fn step(&self) -> i64 {
        self.step
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The start of step `i`.
    pub fn timestamp(&self, i: usize) -> Timestamp {
        self.start + i as i64 * self.step
    }

    /// The timestamp just after the last step: where a forecast from this series begins.
    pub fn end(&self) -> Timestamp {
        self.timestamp(self.values.len())
    }

    /// The index of the step that contains `timestamp`, if it lies within the series.
    pub fn index_of(&self, timestamp: Timestamp) -> Option<usize> {
        if timestamp < self.start {
            return None;
        }
        let i = ((timestamp - self.start) / self.step) as usize;
        (i < self.values.len()).then_some(i)
    }

    /// How many steps hold a value (are not gaps).
    pub fn present(&self) -> usize {
        self.values.iter().filter(|v| !v.is_nan()).count()
    }

    /// The steps `range` of this series as a new series.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Series {
        let end = range.end.min(self.values.len());
        let begin = range.start.min(end);
        Series {
            start: self.timestamp(begin),
            step: self.step,
            values: self.values[begin..end].to_vec(),
        }
    }

    /// The steps that start strictly before `origin` and no earlier than `origin - window`
    /// seconds: what a forecaster at `origin` may see.
    pub fn window_before(&self, origin: Timestamp, window: Option<Span>) -> Series {
        let end_index = if origin <= self.start {
            0
        } else {
            (((origin - self.start) + self.step - 1) / self.step) as usize
        };
        let begin_index = match window {
            Some(window) => {
                let from = origin - window.seconds();
                if from <= self.start {
                    0
                } else {
                    (((from - self.start) + self.step - 1) / self.step) as usize
                }
            }
            None => 0,
        };
        self.slice(begin_index..end_index)
    }

    /// Drops leading and trailing gaps.
    pub fn trimmed(&self) -> Series {
        let first = self.values.iter().position(|v| !v.is_nan());
        let last = self.values.iter().rposition(|v| !v.is_nan());
        match (first, last) {
            (Some(first), Some(last)) => self.slice(first..last + 1),
            _ => self.slice(0..0),
        }
    }

    /// The values with every gap filled by linear interpolation between its neighbours (leading
    /// and trailing gaps take the nearest value). All-gap input gives all zeros.
    pub fn interpolated(&self) -> Vec<f64> {
        let mut out = self.values.clone();
        let Some(first) = out.iter().position(|v| !v.is_nan()) else {
            return vec![0.0; out.len()];
        };
        let first_value = out[first];
        out[..first].fill(first_value);
        let mut last_known = first;
        for i in first + 1..out.len() {
            if out[i].is_nan() {
                continue;
            }
            if i > last_known + 1 {
                let (a, b) = (out[last_known], out[i]);
                let span = (i - last_known) as f64;
                for (k, slot) in out[last_known + 1..i].iter_mut().enumerate() {
                    *slot = a + (b - a) * (k + 1) as f64 / span;
                }
            }
            last_known = i;
        }
        let last_value = out[last_known];
        out[last_known + 1..].fill(last_value);
        out
    }

    /// Appends the steps of `later`, which must share this series' step and phase and start at or
    /// after this one's end (any steps in between become gaps).
    pub fn extend_with(&mut self, later: &Series) {
        if later.is_empty() {
            return;
        }
        if self.values.is_empty() {
            *self = later.clone();
            return;
        }
        debug_assert_eq!(self.step, later.step);
        let offset = (later.start - self.start) / self.step;
        if offset < 0 {
            return;
        }
        let offset = offset as usize;
        if offset > self.values.len() {
            self.values.resize(offset, f64::NAN);
        }
        self.values.truncate(offset);
        self.values.extend_from_slice(&later.values);
    }

    /// The non-gap values as samples.
    pub fn samples(&self) -> Vec<Sample> {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, v)| Sample {
                timestamp: self.timestamp(i),
                value: *v,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t, v)| Sample::new(t, v).unwrap())
            .collect()
    }

    #[test]
    fn keys_are_validated() {
        assert!(SeriesKey::new("checkout_rps").is_ok());
        assert!(SeriesKey::new("http_requests_total{job=\"api\",path=\"/x\"}").is_ok());
        assert!(SeriesKey::new("").is_err());
        assert!(SeriesKey::new("a\nb").is_err());
        assert!(SeriesKey::new("x".repeat(513)).is_err());
        assert!(serde_json::from_str::<SeriesKey>("\"\"").is_err());
    }

    #[test]
    fn timestamps_parse_both_ways() {
        assert_eq!(
            parse_timestamp("2026-01-05T10:00:00Z").unwrap(),
            1_767_607_200
        );
        assert_eq!(
            parse_timestamp("2026-01-05T12:00:00+02:00").unwrap(),
            1_767_607_200
        );
        assert_eq!(parse_timestamp("1767607200").unwrap(), 1_767_607_200);
        assert_eq!(parse_timestamp("1767607200.9").unwrap(), 1_767_607_200);
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("NaN").is_err());
        assert_eq!(format_timestamp(1_767_607_200), "2026-01-05T10:00:00Z");
    }

    #[test]
    fn non_finite_samples_are_refused() {
        assert!(Sample::new(0, f64::NAN).is_err());
        assert!(Sample::new(0, f64::INFINITY).is_err());
    }

    #[test]
    fn step_is_the_most_common_difference() {
        let s = samples(&[(0, 1.0), (60, 1.0), (120, 1.0), (300, 1.0), (360, 1.0)]);
        assert_eq!(infer_step(&s), Some(60));
        assert_eq!(infer_step(&s[..1]), None);
    }

    #[test]
    fn grids_are_bounded() {
        let s = [
            Sample::new(i64::MIN / 2, 1.0).unwrap(),
            Sample::new(i64::MAX / 2, 2.0).unwrap(),
        ];
        let error = Series::from_samples(&s, 1).unwrap_err().to_string();
        assert!(error.contains("more than the limit of 10000000"), "{error}");
        // A step so long that the span itself would overflow i64 arithmetic: no panic.
        let series = Series::from_samples(&s, i64::MAX).unwrap();
        assert_eq!(series.len(), 2);
        assert!(Series::from_samples_within(&s[..1], 60, 1).is_ok());
    }

    #[test]
    fn grid_keeps_gaps_and_averages_within_a_step() {
        let s = samples(&[(100, 1.0), (160, 2.0), (190, 4.0), (340, 5.0)]);
        let series = Series::from_samples(&s, 60).unwrap();
        assert_eq!(series.start(), 100);
        assert_eq!(series.len(), 5);
        assert_eq!(series.values()[0], 1.0);
        assert_eq!(series.values()[1], 3.0);
        assert!(series.values()[2].is_nan());
        assert!(series.values()[3].is_nan());
        assert_eq!(series.values()[4], 5.0);
        assert_eq!(series.end(), 400);
        assert_eq!(series.present(), 3);
    }

    #[test]
    fn window_before_is_strict() {
        let series = Series::new(0, 10, (0..10).map(f64::from).collect()).unwrap();
        let w = series.window_before(50, None);
        assert_eq!(w.values(), &[0.0, 1.0, 2.0, 3.0, 4.0]);
        let w = series.window_before(55, Some(Span::from_seconds(20).unwrap()));
        assert_eq!(w.values(), &[4.0, 5.0]);
        assert!(series.window_before(-5, None).is_empty());
    }

    #[test]
    fn interpolation_fills_gaps_linearly() {
        let nan = f64::NAN;
        let series = Series::new(0, 1, vec![nan, 1.0, nan, nan, 4.0, nan]).unwrap();
        assert_eq!(series.interpolated(), vec![1.0, 1.0, 2.0, 3.0, 4.0, 4.0]);
        let empty = Series::new(0, 1, vec![nan, nan]).unwrap();
        assert_eq!(empty.interpolated(), vec![0.0, 0.0]);
    }

    #[test]
    fn extend_fills_the_distance_with_gaps() {
        let mut a = Series::new(0, 10, vec![1.0, 2.0]).unwrap();
        let b = Series::new(40, 10, vec![5.0]).unwrap();
        a.extend_with(&b);
        assert_eq!(a.len(), 5);
        assert!(a.values()[2].is_nan());
        assert_eq!(a.values()[4], 5.0);
    }
}
