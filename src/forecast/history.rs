//! The training data as every model family sees it, prepared once: non-finite values turned
//! into gaps, leading gaps dropped (they carry nothing), trailing gaps kept (the forecast still
//! starts at the end of the series, as [`ModelSpec::fit`](super::ModelSpec::fit) promises).
//!
//! Where the traffic keeps a daylight-saving clock that changed inside the history, the values
//! before the change are moved onto the current clock here too ([`clock::realigned`]).
//!
//! Preparing here, rather than in each family, keeps the edge cases in one place: an all-gap
//! series is a `TooShort` error, and timestamps that would overflow are refused before any
//! arithmetic on them, so no family can panic on a hostile series.

use serde::{Deserialize, Serialize};

use super::ForecastError;
use super::clock::{self, ClockChange};
use super::schedule::Schedule;
use crate::series::{Series, Span, Timestamp};

/// A training series on its grid, leading gaps trimmed.
#[derive(Debug, Clone)]
pub(crate) struct History {
    /// Timestamp of `values[0]` (the first observed step).
    pub start: Timestamp,
    pub step: i64,
    /// Values, `NaN` for gaps; never starts with a gap.
    pub values: Vec<f64>,
    /// How many values are not gaps (≥ 1).
    pub observed: usize,
    /// Whether every observed value is ≥ 0 (traffic is): forecasts are then clamped at 0.
    pub nonnegative: bool,
    /// Recurring closed periods (nights, weekends), recognised from the gaps.
    pub schedule: Option<Schedule>,
    /// Where the traffic keeps a daylight-saving clock that changed inside the history: the
    /// values before the change are on the current clock ([`clock::realigned`]).
    pub clock: Option<ClockChange>,
}

impl History {
    /// Prepares `series`; fails on an all-gap series or timestamps beyond `i64`.
    pub fn new(series: &Series) -> Result<History, ForecastError> {
        History::with_prior_schedule(series, None)
    }

    /// [`History::new`], its schedule keeping what `prior` (the previous fit's) closed while no
    /// value contradicts it ([`Schedule::detect`]).
    pub fn with_prior_schedule(
        series: &Series,
        prior: Option<&Schedule>,
    ) -> Result<History, ForecastError> {
        let step = series.step();
        let raw = series.values();
        let Some(first) = raw.iter().position(|v| v.is_finite()) else {
            return Err(ForecastError::TooShort { needed: 1, have: 0 });
        };
        let len = i64::try_from(raw.len()).ok();
        let end = len
            .and_then(|len| len.checked_mul(step))
            .and_then(|span| span.checked_add(series.start()));
        let start = (first as i64)
            .checked_mul(step)
            .and_then(|offset| offset.checked_add(series.start()));
        let (Some(start), Some(_)) = (start, end) else {
            return Err(ForecastError::Fit(
                "the series' timestamps overflow 64-bit seconds".to_string(),
            ));
        };
        let values: Vec<f64> = raw[first..]
            .iter()
            .map(|v| if v.is_finite() { *v } else { f64::NAN })
            .collect();
        Ok(match clock::realigned(start, step, &values, prior) {
            Some((start, values, change)) => History {
                clock: Some(change),
                ..History::from_parts(start, step, values, prior)
            },
            None => History::from_parts(start, step, values, prior),
        })
    }

    fn from_parts(
        start: Timestamp,
        step: i64,
        values: Vec<f64>,
        prior: Option<&Schedule>,
    ) -> History {
        let observed = values.iter().filter(|v| !v.is_nan()).count();
        let nonnegative = values.iter().all(|v| v.is_nan() || *v >= 0.0);
        let schedule = Schedule::detect(start, step, &values, prior);
        History {
            start,
            step,
            values,
            observed,
            nonnegative,
            schedule,
            clock: None,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Steps in a day (at least 1: a step of a day or longer counts as one).
    pub fn steps_per_day(&self) -> usize {
        usize::try_from(86_400 / self.step.max(1)).map_or(1, |n| n.max(1))
    }

    /// The start of step `i` (`i ≤ len`, which cannot overflow: checked in [`History::new`]).
    pub fn time(&self, i: usize) -> Timestamp {
        self.start + i as i64 * self.step
    }

    /// Steps after the last observation (trailing gaps: they count as forecast horizon).
    pub fn trailing_gaps(&self) -> usize {
        self.values.iter().rev().take_while(|v| v.is_nan()).count()
    }

    /// Where a forecast from this history starts.
    pub fn origin(&self) -> Timestamp {
        self.time(self.len())
    }

    /// The first `n` steps (what a forecaster at step `n` may see), or `None` if they hold no
    /// observation.
    pub fn head(&self, n: usize) -> Option<History> {
        let n = n.min(self.len());
        let head = History::from_parts(self.start, self.step, self.values[..n].to_vec(), None);
        (head.observed > 0).then_some(head)
    }

    /// The last `m` values of the first `end` steps, gaps filled by
    /// [`Series::interpolated`] over those `end` steps only (nothing after `end` leaks in).
    /// Shorter than `m` only if `end < m`.
    pub fn interpolated_tail(&self, end: usize, m: usize) -> Vec<f64> {
        let end = end.min(self.len());
        let begin = end.saturating_sub(m);
        // Interpolating only the stretch that matters, plus its nearest observations on
        // either side, gives the same values as interpolating everything before `end`.
        let from = self.values[..begin]
            .iter()
            .rposition(|v| !v.is_nan())
            .unwrap_or(0);
        match Series::new(self.time(from), self.step, self.values[from..end].to_vec()) {
            Ok(series) => {
                let filled = series.interpolated();
                filled[begin - from..].to_vec()
            }
            Err(_) => vec![0.0; end - begin],
        }
    }

    /// What the fitted model keeps about this history.
    pub fn info(&self, mut fallbacks: Vec<String>) -> TrainingInfo {
        fallbacks.extend(self.clock.iter().map(ClockChange::note));
        TrainingInfo {
            start: self.start,
            origin: self.origin(),
            step: self.step,
            points: self.len(),
            observed: self.observed,
            nonnegative: self.nonnegative,
            schedule: self.schedule.clone(),
            fallbacks,
        }
    }
}

/// A season's length in whole steps of `step` seconds (positive), rounded to the nearest step (a
/// half up), with a note when it had to be rounded; a note instead when it is under two steps
/// (no season on this grid). Seasonal naive, Holt-Winters and `auto`'s candidates round alike.
pub(crate) fn season_length(season: Span, step: i64) -> Result<(usize, Option<String>), String> {
    let exact = season.seconds() / step;
    let rem = season.seconds() % step;
    let m = if rem * 2 >= step { exact + 1 } else { exact };
    // (Never negative: seasons and steps are positive.)
    let steps = usize::try_from(m).unwrap_or(0);
    if steps < 2 {
        return Err(format!(
            "season {season} is shorter than two steps of {step}s: ignored"
        ));
    }
    let rounded = (rem != 0).then(|| {
        format!("season {season} is not a whole number of {step}s steps: rounded to {m} steps")
    });
    Ok((steps, rounded))
}

/// What a fitted model remembers about its training data: enough for the summary, for the
/// forecast grid and for clamping, without keeping the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// First observed step (leading gaps are dropped).
    pub start: Timestamp,
    /// End of the training data: the first forecast timestamp.
    pub origin: Timestamp,
    /// Grid step in seconds.
    pub step: i64,
    /// Steps from `start` to `origin`, gaps included.
    pub points: usize,
    /// Steps that held a value.
    pub observed: usize,
    /// Every observed value was ≥ 0, so forecasts and bands are clamped at 0 from below.
    pub nonnegative: bool,
    /// Recurring closed periods of the training data: forecasts there are 0 when `nonnegative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Simplifications the fit had to make, and why (e.g. a season the history cannot support).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
}

impl TrainingInfo {
    /// The timestamp of forecast step `h`, or `None` past `i64`.
    pub fn forecast_time(&self, h: usize) -> Option<i64> {
        i64::try_from(h)
            .ok()
            .and_then(|h| h.checked_mul(self.step))
            .and_then(|offset| offset.checked_add(self.origin))
    }

    /// Checks a value read from a model file.
    pub(crate) fn validate(&self) -> Result<(), ForecastError> {
        if self.step <= 0 {
            return Err(ForecastError::Fit(format!(
                "corrupt model: step {} is not positive",
                self.step
            )));
        }
        if self.schedule.as_ref().is_some_and(|s| !s.is_valid()) {
            return Err(ForecastError::Fit(
                "corrupt model: a closed stretch of the schedule is not within one week".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_leading_gaps_and_sanitizes() {
        let series = Series::new(
            100,
            10,
            vec![f64::NAN, f64::INFINITY, 1.0, f64::NAN, 3.0, f64::NAN],
        )
        .unwrap();
        let history = History::new(&series).unwrap();
        assert_eq!(history.start, 120);
        assert_eq!(history.len(), 4);
        assert_eq!(history.observed, 2);
        assert_eq!(history.origin(), 160);
        assert_eq!(history.interpolated_tail(4, 3), vec![2.0, 3.0, 3.0]);
        assert_eq!(history.interpolated_tail(2, 3), vec![1.0, 1.0]);
        assert!(history.nonnegative);
    }

    #[test]
    fn all_gaps_and_overflow_are_errors() {
        let series = Series::new(0, 10, vec![f64::NAN; 5]).unwrap();
        assert_eq!(
            History::new(&series).unwrap_err(),
            ForecastError::TooShort { needed: 1, have: 0 }
        );
        let series = Series::new(0, 10, vec![]).unwrap();
        assert!(History::new(&series).is_err());
        let series = Series::new(i64::MAX - 5, 10, vec![1.0, 2.0]).unwrap();
        assert!(matches!(History::new(&series), Err(ForecastError::Fit(_))));
    }
}
