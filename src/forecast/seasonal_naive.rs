//! Seasonal naive: the forecast for a step is the value one season earlier; beyond one season
//! ahead the last season repeats.
//!
//! It is the baseline every other model must beat, and on very regular traffic it is hard to
//! beat. It uses the **longest** season the history supports (one full season plus one step of
//! observed data), falls back to shorter seasons, then to the last observed value, and records
//! each fallback. Gaps in the reference season are filled from the interpolated series.
//!
//! Intervals: the error of an `h`-step forecast is exactly `y[t] − y[t − L]` with
//! `L = m·(⌊h/m⌋ + 1)` (m = season in steps), so the errors are read off the training data
//! out of sample, without refitting: one error distribution per whole season ahead (4 buckets;
//! a bucket without enough pairs borrows the previous one, widened by √(lag ratio)). For the
//! last-value fallback (m = 1) the lag is `h + 1`, measured at horizons 0, 1, 2, 4, … 1024.

use serde::{Deserialize, Serialize};

use super::family::{Family, FamilySpec, fit_series};
use super::history::{History, TrainingInfo, season_length};
use super::intervals::{self, ErrorQuantiles};
use super::{FittedModel, Forecast, ForecastError, json_exact_all};
use crate::series::{Series, Span};

/// The family's name.
const NAME: &str = "seasonal-naive";

/// Parameters of seasonal naive: the candidate seasons (the longest supported one is used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonalNaiveSpec {
    pub seasons: Vec<Span>,
}

/// How many whole seasons ahead get their own error distribution.
const SEASON_BUCKETS: usize = 4;
/// The largest anchor horizon for the last-value fallback.
const NAIVE_MAX_ANCHOR: usize = 1024;

impl SeasonalNaiveSpec {
    pub fn new(seasons: Vec<Span>) -> SeasonalNaiveSpec {
        SeasonalNaiveSpec { seasons }
    }

    /// Fits on `series` into this family's own type (what [`super::ModelSpec::fit`] wraps).
    pub fn fit(&self, series: &Series) -> Result<FittedSeasonalNaive, ForecastError> {
        fit_series(self, series, |history| fit_history(self, history, true))
    }

    /// The season to use on `history` and its length in steps (`None` = no season supported:
    /// forecast the last value), with a note for each season passed over.
    pub(crate) fn choose_season(&self, history: &History) -> (Option<(Span, usize)>, Vec<String>) {
        let mut seasons = self.seasons.clone();
        seasons.sort_unstable_by(|a, b| b.cmp(a));
        let mut notes = Vec::new();
        for season in seasons {
            let m = match season_length(season, history.step) {
                Ok((m, rounded)) => {
                    notes.extend(rounded);
                    m
                }
                Err(note) => {
                    notes.push(note);
                    continue;
                }
            };
            if history.len() > m && history.observed > m {
                return (Some((season, m)), notes);
            }
            notes.push(format!(
                "season {season} needs {} observed steps (one season + 1), the history has {}",
                m + 1,
                history.observed
            ));
        }
        notes.push("no season is supported: forecasting the last observed value".to_string());
        (None, notes)
    }
}

/// A fitted seasonal naive model: the last season of values and its error quantiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedSeasonalNaive {
    /// The season used; `None` when the model fell back to the last observed value.
    season: Option<Span>,
    /// The last season of training values (gaps interpolated), repeated forward.
    reference: Vec<f64>,
    /// Error quantiles per season ahead (per horizon for the last-value fallback).
    errors: ErrorQuantiles,
    training: TrainingInfo,
}

impl FamilySpec for SeasonalNaiveSpec {
    fn name(&self) -> &'static str {
        NAME
    }

    fn seasons(&self) -> &[Span] {
        &self.seasons
    }

    fn fit_history(
        &self,
        history: &History,
        with_intervals: bool,
    ) -> Result<FittedModel, ForecastError> {
        fit_history(self, history, with_intervals).map(FittedModel::SeasonalNaive)
    }
}

/// Fits on prepared history (shared with `auto`, which prepares once); `with_intervals =
/// false` skips the error quantiles (`auto` measures its own, out of sample).
pub(crate) fn fit_history(
    spec: &SeasonalNaiveSpec,
    history: &History,
    with_intervals: bool,
) -> Result<FittedSeasonalNaive, ForecastError> {
    let (chosen, notes) = spec.choose_season(history);
    let m = chosen.map_or(1, |(_, m)| m);
    let mut reference = history.interpolated_tail(history.len(), m);
    if chosen.is_some() {
        let from = history.len().saturating_sub(m);
        for (j, value) in reference.iter_mut().enumerate() {
            if let Some(seen) = same_phase_seen(history, from + j, m) {
                *value = seen;
            }
        }
    }
    let errors = if with_intervals {
        error_quantiles(history, m)
    } else {
        ErrorQuantiles::zero()
    };
    let mut model = FittedSeasonalNaive {
        season: chosen.map(|(season, _)| season),
        reference,
        errors,
        training: history.info(notes),
    };
    json_exact_all(&mut model.reference);
    model.errors.round_for_json();
    if !model.errors.is_finite() || !model.reference.iter().all(|v| v.is_finite()) {
        return Err(ForecastError::Fit(
            "values too large: the forecast errors overflow".to_string(),
        ));
    }
    Ok(model)
}

/// The value at step `i`, or where that is a gap, at the same phase whole seasons of `m` steps
/// earlier, the latest observed: on a Monday, daily seasonal naive repeats Friday, not the
/// closed Sunday's gap; after an outage, the day before it. `None` when no such step is
/// observed.
fn same_phase_seen(history: &History, mut i: usize, m: usize) -> Option<f64> {
    loop {
        let v = *history.values.get(i)?;
        if !v.is_nan() {
            return Some(v);
        }
        i = i.checked_sub(m.max(1))?;
    }
}

/// Point forecasts of steps `origin..(origin + len).min(history.len())` from each origin
/// (indices into `history`) with a season of `m` steps, for `auto`'s holdout: the value one
/// season earlier, or where that is a gap, the latest observed at the same phase
/// ([`same_phase_seen`]), else the last value before it (not interpolated, so that nothing at
/// or after an origin leaks into its forecast); NaN where the season reaches back before the
/// history.
pub(crate) fn rolling_forecasts(
    history: &History,
    m: usize,
    origins: &[usize],
    len: usize,
) -> Vec<Vec<f64>> {
    let mut carried = f64::NAN;
    let filled: Vec<f64> = history
        .values
        .iter()
        .map(|v| {
            if !v.is_nan() {
                carried = *v;
            }
            carried
        })
        .collect();
    let m = m.max(1);
    origins
        .iter()
        .map(|&origin| {
            let end = origin.saturating_add(len).min(history.len());
            (origin..end)
                .map(|t| {
                    let h = t - origin;
                    t.checked_sub(lag(m, h))
                        .and_then(|i| {
                            let seen = (m > 1).then(|| same_phase_seen(history, i, m)).flatten();
                            seen.or_else(|| filled.get(i).copied())
                        })
                        .unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect()
}

/// The lag between a forecast `h` steps ahead and the value it repeats.
fn lag(m: usize, h: usize) -> usize {
    m * (h / m + 1)
}

fn error_quantiles(history: &History, m: usize) -> ErrorQuantiles {
    let anchors: Vec<usize> = if m == 1 {
        std::iter::once(0)
            .chain(
                (0..)
                    .map(|i| 1usize << i)
                    .take_while(|h| *h <= NAIVE_MAX_ANCHOR),
            )
            .collect()
    } else {
        (0..SEASON_BUCKETS).map(|k| k * m).collect()
    };
    let y = &history.values;
    let with_errors = anchors
        .into_iter()
        .map(|h| {
            let lag = lag(m, h);
            let errors: Vec<f64> = (lag..y.len())
                .map(|t| y[t] - y[t - lag])
                .filter(|e| !e.is_nan())
                .collect();
            (h, errors)
        })
        .collect();
    ErrorQuantiles::from_errors(with_errors, |a, b| {
        (lag(m, b) as f64 / lag(m, a) as f64).sqrt()
    })
}

impl FittedSeasonalNaive {
    /// The season used (`None`: the last-value fallback).
    pub fn season(&self) -> Option<Span> {
        self.season
    }

    /// The season in steps (1 for the last-value fallback).
    pub(crate) fn season_steps(&self) -> usize {
        self.reference.len().max(1)
    }
}

impl Family for FittedSeasonalNaive {
    fn family(&self) -> &'static str {
        NAME
    }

    fn training(&self) -> &TrainingInfo {
        &self.training
    }

    fn seasons_used(&self) -> (Vec<Span>, Vec<usize>) {
        (self.season.into_iter().collect(), Vec::new())
    }

    fn validate(&self) -> Result<(), ForecastError> {
        self.training.validate()?;
        self.errors.validate()?;
        if self.reference.is_empty() || !self.reference.iter().all(|v| v.is_finite()) {
            return Err(ForecastError::Fit(
                "corrupt model: the reference season is empty or not finite".to_string(),
            ));
        }
        Ok(())
    }

    fn forecast(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let m = self.reference.len();
        let yhat: Vec<f64> = (0..horizon).map(|h| self.reference[h % m]).collect();
        // Within a bucket (one season ahead) the error distribution is the same: look it up at
        // the bucket's first step; the last-value fallback has one anchor per horizon.
        let effective = |h: usize| if m == 1 { h } else { h / m * m };
        Ok(intervals::forecast(
            &self.training,
            yhat,
            levels,
            &self.errors,
            effective,
        ))
    }

    fn rolling_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Result<Vec<Vec<f64>>, ForecastError> {
        Ok(rolling_forecasts(
            history,
            self.season_steps(),
            origins,
            len,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::series::test_span as span;

    fn spec(seasons: &[&str]) -> SeasonalNaiveSpec {
        SeasonalNaiveSpec::new(seasons.iter().map(|s| span(s)).collect())
    }

    #[test]
    fn repeats_the_last_season_exactly() {
        // A 1-hour season at 10-minute steps: 6 steps.
        let pattern = [5.0, 7.0, 9.0, 4.0, 2.0, 1.0];
        let values: Vec<f64> = (0..6 * 5).map(|i| pattern[i % 6]).collect();
        let series = Series::new(0, 600, values).unwrap();
        let model = spec(&["1h"]).fit(&series).unwrap();
        assert_eq!(model.season(), Some(span("1h")));
        let forecast = model.predict(15, &[0.1, 0.5, 0.9]).unwrap();
        assert_eq!(forecast.start, 30 * 600);
        for (h, y) in forecast.yhat.iter().enumerate() {
            assert_eq!(*y, pattern[h % 6]);
        }
        // An exact repeat has zero errors: zero-width bands.
        for band in &forecast.bands {
            assert_eq!(band.values, forecast.yhat);
        }
    }

    #[test]
    fn uses_the_longest_supported_season_and_records_fallbacks() {
        let values: Vec<f64> = (0..30).map(|i| (i % 6) as f64).collect();
        let series = Series::new(0, 600, values).unwrap();
        let model = spec(&["1h", "1d"]).fit(&series).unwrap();
        assert_eq!(model.season(), Some(span("1h")));
        assert_eq!(model.training().fallbacks.len(), 1);
        assert!(model.training().fallbacks[0].contains("1d"));

        let short = Series::new(0, 600, vec![1.0, 2.0, 3.0]).unwrap();
        let model = spec(&["1h"]).fit(&short).unwrap();
        assert_eq!(model.season(), None);
        let forecast = model.predict(4, &[0.5]).unwrap();
        assert_eq!(forecast.yhat, vec![3.0; 4]);
    }

    #[test]
    fn a_closed_last_season_repeats_the_latest_observed_one() {
        // A 4-minute season: a busy cycle, a quiet one, then a closed one (no samples). The
        // forecast repeats the quiet cycle, not a line interpolated across the closure…
        let mut values = vec![10.0, 20.0, 30.0, 40.0, 1.0, 2.0, 3.0, 4.0];
        values.extend([f64::NAN; 4]);
        values.push(f64::NAN); // …and a trailing gap keeps the origin.
        let series = Series::new(0, 60, values).unwrap();
        let model = spec(&["4m"]).fit(&series).unwrap();
        let forecast = model.predict(4, &[]).unwrap();
        assert_eq!(forecast.start, 13 * 60);
        assert_eq!(forecast.yhat, vec![2.0, 3.0, 4.0, 1.0]);
        // So does the holdout's rolling forecast from inside the closure.
        let history = History::new(&series).unwrap();
        let rolling = rolling_forecasts(&history, 4, &[9], 4);
        assert_eq!(rolling, vec![vec![2.0, 3.0, 4.0, 1.0]]);
    }

    #[test]
    fn gaps_in_the_reference_season_are_interpolated() {
        let mut values: Vec<f64> = (0..12).map(|i| (i % 4) as f64 * 10.0).collect();
        values[10] = f64::NAN; // would be 20, neighbours 10 and 30
        let series = Series::new(0, 60, values).unwrap();
        let model = spec(&["4m"]).fit(&series).unwrap();
        let forecast = model.predict(4, &[]).unwrap();
        assert_eq!(forecast.yhat, vec![0.0, 10.0, 20.0, 30.0]);
    }

    #[test]
    fn trailing_gaps_keep_the_origin() {
        let values = vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, f64::NAN, f64::NAN];
        let series = Series::new(1000, 60, values).unwrap();
        let model = spec(&["4m"]).fit(&series).unwrap();
        let forecast = model.predict(2, &[0.5]).unwrap();
        assert_eq!(forecast.start, 1000 + 8 * 60);
        assert_eq!(forecast.yhat, vec![1.0, 2.0]);
    }

    #[test]
    fn intervals_widen_by_season_bucket() {
        // A random walk: errors grow with the lag.
        let mut level = 100.0;
        let mut state = 7u64;
        let values: Vec<f64> = (0..2000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                level += ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
                level
            })
            .collect();
        let series = Series::new(0, 60, values).unwrap();
        let model = spec(&["10m"]).fit(&series).unwrap();
        let forecast = model.predict(40, &[0.05, 0.95]).unwrap();
        let width = |h: usize| forecast.bands[1].values[h] - forecast.bands[0].values[h];
        assert!(width(0) > 0.0);
        assert_eq!(width(0), width(9));
        assert!(width(10) > width(9));
        assert!(width(30) > width(10));
    }

    #[test]
    fn all_gap_series_is_an_error() {
        let series = Series::new(0, 60, vec![f64::NAN; 10]).unwrap();
        assert_eq!(
            spec(&["1h"]).fit(&series).unwrap_err(),
            ForecastError::TooShort { needed: 1, have: 0 }
        );
    }
}
