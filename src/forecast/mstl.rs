//! MSTL: the series split into one seasonal component per season and a deseasonalised rest
//! (Bandara, Hyndman & Bergmeir, *MSTL: a seasonal-trend decomposition algorithm for time series
//! with multiple seasonal patterns*, 2021), the rest forecast by exponential smoothing and each
//! season's last cycle repeated on top of it — the shape of statsforecast's `MSTL` and of
//! Grafana's augurs, the yardstick's strongest peer on short and growing traces.
//!
//! - **Decomposition**: the maintained `stlrs` crate (STL by LOESS, iterated over the seasons,
//!   shortest first, its default smoothing windows). It needs a gap-free series: gaps are
//!   interpolated for the decomposition only.
//! - **Seasons**: every season of the spec with two full cycles in the history (`m ≥ 2`
//!   steps); with none the fit is a [`ForecastError::TooShort`] (Holt-Winters without a season
//!   is that model already).
//! - **The rest** (observed value minus the seasonal components; gaps stay gaps): this crate's
//!   Holt-Winters without a season, so simple exponential smoothing or a damped trend,
//!   whichever has the lower AIC, its parameters fitted on the training data. Its state moves
//!   on over later observations without a refit, which gives `auto` its holdout forecasts.
//! - **Forecast**: the rest's forecast plus, per season, its component one whole cycle before
//!   the step (the last cycle repeated; after the origin the components are not re-estimated).
//! - **Intervals**: out of sample. The decomposition fits the noise too (in-sample errors
//!   covered 63 % where 80 % was asked), so the newest quarter of the history is forecast from
//!   every step (at most [`MAX_ORIGINS`], strided) by a fit on the rest of it, the state moving
//!   on as in `auto`'s holdout, and those errors per horizon give the quantiles (horizons 0, 1,
//!   2, 4, … up to two cycles of the longest season, at most 4096 and the quarter). A season
//!   that does not fit twice in the older three quarters (a week in a two-week window) is left
//!   out of that fit: its errors are then those of a simpler model, a little wide rather than
//!   far too narrow. Only where no season fits there do the rest's in-sample errors stand in
//!   (noted).
//! - **Schedules**: a series with recurring closed periods (nights, weekends without samples)
//!   is refused: the decomposition would run over interpolated closures and the level drift
//!   through them. `auto` does not offer MSTL there; linear-seasonal knows schedules.

use serde::{Deserialize, Serialize};

use super::family::{Family, FamilySpec, fit_series};
use super::history::{History, TrainingInfo, season_length};
use super::holt_winters::{self, FittedHoltWinters, HoltWintersSpec};
use super::intervals::{self, ErrorQuantiles};
use super::{FittedModel, Forecast, ForecastError, json_exact_all};
use crate::series::{Series, Span};

/// The family's name.
const NAME: &str = "mstl";

/// Parameters of MSTL: the candidate seasons (every one with two full cycles in the history is
/// used). JSON: `{"model":"mstl","seasons":["1d","7d"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MstlSpec {
    pub seasons: Vec<Span>,
}

impl MstlSpec {
    pub fn new(seasons: Vec<Span>) -> MstlSpec {
        MstlSpec { seasons }
    }

    /// Fits on `series` into this family's own type (what [`super::ModelSpec::fit`] wraps).
    pub fn fit(&self, series: &Series) -> Result<FittedMstl, ForecastError> {
        fit_series(self, series, |history| fit_history(self, history, true))
    }
}

/// The seasons of `seasons` with two full cycles in `len` steps of `step` seconds (`m ≥ 2`),
/// shortest first, with their lengths in steps, and a note for each one passed over.
fn seasons_that_fit(seasons: &[Span], step: i64, len: usize) -> (Vec<(Span, usize)>, Vec<String>) {
    let mut sorted = seasons.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut used: Vec<(Span, usize)> = Vec::new();
    let mut notes = Vec::new();
    for season in sorted {
        match season_length(season, step) {
            Ok((m, rounded)) if m.checked_mul(2).is_some_and(|two| two <= len) => {
                if used.iter().any(|&(_, other)| other == m) {
                    notes.push(format!("season {season} rounds to a season already used"));
                    continue;
                }
                notes.extend(rounded);
                used.push((season, m));
            }
            Ok(_) => notes.push(format!(
                "season {season} needs two full cycles, the history has {len} steps"
            )),
            Err(note) => notes.push(note),
        }
    }
    (used, notes)
}

/// A fitted MSTL model: each season's last cycle of its component and the rest's smoothing
/// model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedMstl {
    /// The seasons used, shortest first.
    seasons: Vec<Span>,
    /// Per season, its component over the last cycle of the training data, `cycles[i][0]` for
    /// the first forecast step: the component at step `origin + h` is `cycles[i][h % m]`.
    cycles: Vec<Vec<f64>>,
    /// The smoothing model of the deseasonalised rest.
    rest: FittedHoltWinters,
    /// Out-of-sample error quantiles per horizon (zero when fitted without intervals).
    errors: ErrorQuantiles,
    training: TrainingInfo,
}

/// At most this many origins measure the out-of-sample errors.
const MAX_ORIGINS: usize = 1000;
/// The largest anchor horizon of the errors.
const MAX_ANCHOR: usize = 4096;

impl FamilySpec for MstlSpec {
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
        fit_history(self, history, with_intervals).map(FittedModel::Mstl)
    }
}

/// Fits on prepared history (shared with `auto`, which prepares once); `with_intervals =
/// false` skips the rest's error quantiles.
pub(crate) fn fit_history(
    spec: &MstlSpec,
    history: &History,
    with_intervals: bool,
) -> Result<FittedMstl, ForecastError> {
    if history.schedule.is_some() {
        return Err(ForecastError::Fit(
            "the series has recurring closed periods (a schedule): MSTL decomposes a gap-free \
             series; use linear-seasonal or auto"
                .to_string(),
        ));
    }
    let n = history.len();
    let (used, mut notes) = seasons_that_fit(&spec.seasons, history.step, n);
    let Some(&(_, longest)) = used.last() else {
        let needed = seasons_that_fit(&spec.seasons, history.step, usize::MAX)
            .0
            .first()
            .map_or(usize::MAX, |&(_, m)| 2 * m);
        return Err(ForecastError::TooShort { needed, have: n });
    };
    if history.observed < longest {
        return Err(ForecastError::TooShort {
            needed: longest,
            have: history.observed,
        });
    }
    let filled = history.interpolated_tail(n, n);
    let periods: Vec<usize> = used.iter().map(|&(_, m)| m).collect();
    let decomposition = stlrs::Mstl::params()
        .fit(&filled, &periods)
        .map_err(|e| ForecastError::Fit(format!("MSTL decomposition: {e}")))?;
    let components = decomposition.seasonal();
    let rest_values: Vec<f64> = (0..n)
        .map(|t| {
            let y = history.values[t];
            y - components.iter().map(|c| c[t]).sum::<f64>()
        })
        .collect();
    let mut cycles: Vec<Vec<f64>> = components
        .iter()
        .zip(&periods)
        .map(|(component, &m)| component[n - m..].to_vec())
        .collect();
    for cycle in &mut cycles {
        json_exact_all(cycle);
    }
    let rest = holt_winters::fit_history(
        &HoltWintersSpec::new(Vec::new()),
        &rest_of(history, rest_values),
        with_intervals,
    )?;
    let seasons: Vec<Span> = used.iter().map(|&(season, _)| season).collect();
    let errors = if !with_intervals {
        ErrorQuantiles::zero()
    } else if let Some(errors) = out_of_sample_errors(&seasons, history, longest) {
        errors
    } else {
        notes.push(
            "intervals from in-sample errors: no season fits twice in the older three \
             quarters of the history"
                .to_string(),
        );
        rest.errors().clone()
    };
    let mut model = FittedMstl {
        seasons,
        cycles,
        rest,
        errors,
        training: history.info(notes),
    };
    model.errors.round_for_json();
    model.validate()?;
    Ok(model)
}

/// `history`'s grid with `values`, the deseasonalised rest (gaps where `history` has them):
/// neither non-negative nor scheduled.
fn rest_of(history: &History, values: Vec<f64>) -> History {
    History {
        start: history.start,
        step: history.step,
        values,
        observed: history.observed,
        nonnegative: false,
        schedule: None,
        clock: None,
    }
}

/// The error quantiles of forecasts of the newest quarter of `history` from a fit on the rest
/// of it (module doc), over those of `seasons` that fit twice there; `None` when none does.
fn out_of_sample_errors(
    seasons: &[Span],
    history: &History,
    longest: usize,
) -> Option<ErrorQuantiles> {
    let n = history.len();
    let split = n - n / 4;
    if split >= n {
        return None;
    }
    let before = fit_history(
        &MstlSpec::new(seasons.to_vec()),
        &history.head(split)?,
        false,
    )
    .ok()?;
    let max_anchor = (2 * longest).clamp(64, MAX_ANCHOR).min(n - split - 1);
    let stride = (n - split).div_ceil(MAX_ORIGINS).max(1);
    let origins: Vec<usize> = (split..n).step_by(stride).collect();
    let forecasts = before
        .rolling_forecasts(history, &origins, max_anchor + 1)
        .ok()?;
    let mut anchors = Vec::new();
    let mut h = 0usize;
    loop {
        let errors: Vec<f64> = origins
            .iter()
            .zip(&forecasts)
            .filter_map(|(&origin, forecast)| {
                let actual = *history.values.get(origin + h)?;
                let e = actual - forecast.get(h)?;
                e.is_finite().then_some(e)
            })
            .collect();
        anchors.push((h, errors));
        if h >= max_anchor {
            break;
        }
        h = if h == 0 { 1 } else { (h * 2).min(max_anchor) };
    }
    Some(ErrorQuantiles::from_errors(anchors, |a, b| {
        ((b + 1) as f64 / (a + 1) as f64).sqrt()
    }))
}

impl FittedMstl {
    /// The seasonal components' sum `h` steps after the origin.
    fn seasonal(&self, h: usize) -> f64 {
        self.cycles.iter().map(|cycle| cycle[h % cycle.len()]).sum()
    }
}

impl Family for FittedMstl {
    fn family(&self) -> &'static str {
        NAME
    }

    fn training(&self) -> &TrainingInfo {
        &self.training
    }

    fn seasons_used(&self) -> (Vec<Span>, Vec<usize>) {
        (self.seasons.clone(), Vec::new())
    }

    fn validate(&self) -> Result<(), ForecastError> {
        self.training.validate()?;
        self.rest.validate()?;
        self.errors.validate()?;
        let corrupt =
            || ForecastError::Fit("corrupt model: MSTL's seasonal cycles are invalid".to_string());
        if self.seasons.is_empty() || self.seasons.len() != self.cycles.len() {
            return Err(corrupt());
        }
        // Every cycle non-empty and finite, and their sum far from overflowing (the rest's
        // forecast and the error quantiles are added to it).
        let mut bound = 0.0f64;
        for cycle in &self.cycles {
            if cycle.is_empty() || !cycle.iter().all(|v| v.is_finite()) {
                return Err(corrupt());
            }
            bound += cycle.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        }
        if !(bound * 1e3).is_finite() {
            return Err(corrupt());
        }
        Ok(())
    }

    fn forecast(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let yhat: Vec<f64> = self
            .rest
            .points(horizon)
            .into_iter()
            .enumerate()
            .map(|(h, rest)| rest + self.seasonal(h))
            .collect();
        let offset = self.rest.trailing_gaps();
        Ok(intervals::forecast(
            &self.training,
            yhat,
            levels,
            &self.errors,
            |h| h.saturating_add(offset),
        ))
    }

    fn rolling_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Result<Vec<Vec<f64>>, ForecastError> {
        // The rest of the steps after the training data, their components the repeated cycles
        // (the smoothing's state moves on from the end of the training data: earlier steps
        // are never read).
        let split = self.training.points.min(history.len());
        let values: Vec<f64> = history
            .values
            .iter()
            .enumerate()
            .map(|(t, y)| {
                if t < split {
                    f64::NAN
                } else {
                    y - self.seasonal(t - split)
                }
            })
            .collect();
        let rest = self
            .rest
            .rolling_forecasts(&rest_of(history, values), origins, len)?;
        Ok(origins
            .iter()
            .zip(rest)
            .map(|(&origin, forecasts)| {
                let first = origin.clamp(split, history.len()) - split;
                forecasts
                    .into_iter()
                    .enumerate()
                    .map(|(j, rest)| rest + self.seasonal(first + j))
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::forecast::test_support::Lcg;
    use crate::series::test_span as span;

    /// Two seasons (4 and 12 steps) on a level that steps up halfway, no noise.
    fn two_seasons(len: usize) -> Vec<f64> {
        (0..len)
            .map(|t| {
                let short = [3.0, -1.0, -3.0, 1.0][t % 4];
                let long = 5.0 * (std::f64::consts::TAU * (t % 12) as f64 / 12.0).sin();
                100.0 + short + long
            })
            .collect()
    }

    #[test]
    fn repeats_both_seasons_on_the_smoothed_level() {
        let values = two_seasons(12 * 10);
        let series = Series::new(0, 60, values.clone()).unwrap();
        let model = MstlSpec::new(vec![span("4m"), span("12m")])
            .fit(&series)
            .unwrap();
        assert_eq!(model.seasons_used().0, vec![span("4m"), span("12m")]);
        let forecast = model.predict(24, &[0.1, 0.9]).unwrap();
        assert_eq!(forecast.start, 120 * 60);
        // The pattern continues (t = 120 + h has the phase of h).
        let expected = two_seasons(24);
        for (h, (y, want)) in forecast.yhat.iter().zip(&expected).enumerate() {
            assert!((y - want).abs() < 0.5, "step {h}: {y} vs {want}");
        }
        // A pattern the components explain leaves (almost) no error: narrow bands.
        for band in &forecast.bands {
            for (b, y) in band.values.iter().zip(&forecast.yhat) {
                assert!((b - y).abs() < 1.0);
            }
        }
    }

    #[test]
    fn a_season_without_two_cycles_is_left_out_and_none_is_too_short() {
        let series = Series::new(0, 60, two_seasons(30)).unwrap();
        let model = MstlSpec::new(vec![span("4m"), span("1h")])
            .fit(&series)
            .unwrap();
        assert_eq!(model.seasons_used().0, vec![span("4m")]);
        assert!(model.training().fallbacks.iter().any(|n| n.contains("1h")));
        let err = MstlSpec::new(vec![span("1h")]).fit(&series).unwrap_err();
        assert!(matches!(
            err,
            ForecastError::TooShort {
                needed: 120,
                have: 30
            }
        ));
    }

    #[test]
    fn gaps_are_interpolated_for_the_decomposition_and_skipped_by_the_rest() {
        let mut values = two_seasons(12 * 10);
        for t in [13, 50, 51, 52, 119] {
            values[t] = f64::NAN;
        }
        let series = Series::new(0, 60, values).unwrap();
        let model = MstlSpec::new(vec![span("4m"), span("12m")])
            .fit(&series)
            .unwrap();
        let forecast = model.predict(12, &[0.5]).unwrap();
        let expected = two_seasons(12);
        for (y, want) in forecast.yhat.iter().zip(&expected) {
            assert!((y - want).abs() < 1.0, "{y} vs {want}");
        }
    }

    #[test]
    fn rolling_forecasts_follow_a_new_level_without_a_refit() {
        // Trained on 10 cycles of a wandering level (so the smoothing learns to follow it);
        // then the level jumps by 50.
        let mut rng = Lcg(3);
        let mut level = 0.0;
        let mut values = two_seasons(12 * 14);
        for v in &mut values {
            level += rng.normal();
            *v += level;
        }
        for v in &mut values[120..] {
            *v += 50.0;
        }
        let series = Series::new(0, 60, values.clone()).unwrap();
        let history = History::new(&series).unwrap();
        let train = history.head(120).unwrap();
        let model =
            fit_history(&MstlSpec::new(vec![span("4m"), span("12m")]), &train, false).unwrap();
        let rolling = model.rolling_forecasts(&history, &[120, 156], 6).unwrap();
        // From the split itself: the model's own forecast.
        let forecast = model.predict(6, &[]).unwrap();
        for (a, b) in rolling[0].iter().zip(&forecast.yhat) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        // Three cycles after the jump the smoothing has moved to the new level, seasons in
        // phase.
        for (j, y) in rolling[1].iter().enumerate() {
            let want = values[156 + j];
            assert!((y - want).abs() < 8.0, "step {j}: {y} vs {want}");
        }
    }

    #[test]
    fn a_model_file_round_trip_and_a_corrupt_cycle_is_refused() {
        let series = Series::new(0, 60, two_seasons(120)).unwrap();
        let model = FittedModel::Mstl(
            MstlSpec::new(vec![span("4m"), span("12m")])
                .fit(&series)
                .unwrap(),
        );
        let json = serde_json::to_string(&model).unwrap();
        let back: FittedModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back, model);
        assert_eq!(
            back.predict(8, &[0.5]).unwrap(),
            model.predict(8, &[0.5]).unwrap()
        );
        let FittedModel::Mstl(mut corrupt) = back else {
            unreachable!()
        };
        corrupt.cycles[1].clear();
        assert!(FittedModel::Mstl(corrupt).predict(4, &[]).is_err());
    }
}
