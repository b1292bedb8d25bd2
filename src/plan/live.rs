//! The live service's timing rules as pure functions, so that the engine and the backtest make
//! the very same decisions: when a series is refitted, what a fit is trained on, which quantile
//! levels a planning forecast carries, and how far it reaches.
//!
//! The engine (`src/engine/mod.rs`) runs them on what its store holds; the backtest replays them
//! on a dataset (`backtest::predictive`); `tests/parity.rs` checks that both make the same plans.

use crate::forecast::ForecastError;
use crate::series::{Sample, Series, Span, Timestamp, infer_step};

/// Quantile levels every forecast carries: the 80 % and 95 % central intervals (the engine's
/// `INTERVAL_LEVELS`).
pub const INTERVAL_LEVELS: [f64; 4] = [0.025, 0.1, 0.9, 0.975];

/// The longest forecast the engine computes, in steps (the engine's `MAX_FORECAST_STEPS`).
pub const MAX_FORECAST_STEPS: usize = 100_000;

/// The levels of the forecast a target is planned on: [`INTERVAL_LEVELS`] and then the target's
/// quantile, in that order (`plan_target` in the engine).
///
/// The order and the set matter, not only the quantile's own band: bands are made monotone in the
/// level, so a band is floored by the bands of the lower levels asked for in the same call. A
/// replay that wants bit-identical plans asks for exactly this list.
pub fn forecast_levels(quantile: f64) -> Vec<f64> {
    let mut levels = INTERVAL_LEVELS.to_vec();
    levels.push(quantile);
    levels
}

/// How many steps, from the model's `origin`, the forecast a target is planned on at `now`
/// holds: enough to cover `now + lead_time + plan_horizon`, at least 1; `None` when that is more
/// than [`MAX_FORECAST_STEPS`] (the data is too old to plan from) — `plan_target` in the engine.
pub fn plan_forecast_steps(
    now: Timestamp,
    lead_time: Span,
    plan_horizon: Span,
    origin: Timestamp,
    step: i64,
) -> Option<usize> {
    let reach = now + lead_time.seconds() + plan_horizon.seconds();
    let steps = ((reach - origin).max(0) + step - 1) / step;
    (steps as usize <= MAX_FORECAST_STEPS).then_some((steps as usize).max(1))
}

/// The outcome of a series' last fit attempt, as the refit schedule remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitAttempt {
    /// When the attempt was made.
    pub at: Timestamp,
    /// How many samples the series held then.
    pub samples_seen: u64,
    /// Whether the fit failed.
    pub failed: bool,
}

/// Whether a series is due for a (re)fit at `now` (`refit_due` in the engine): it has never
/// been tried, or its last attempt is `refit_interval` old or more, or the last attempt failed
/// and samples have arrived since (new data may make it fit).
pub fn refit_due(
    last: Option<&FitAttempt>,
    now: Timestamp,
    samples_now: u64,
    refit_interval: Span,
) -> bool {
    match last {
        None => true,
        Some(attempt) if now - attempt.at >= refit_interval.seconds() => true,
        Some(attempt) => attempt.failed && attempt.samples_seen != samples_now,
    }
}

/// The series a fit at `now` is trained on (`training_series` in the engine): the samples in
/// `now - train_window ..= now`, put on their grid (step = their most common difference, phase =
/// the first sample's), so leading and trailing gaps are trimmed away. `samples` must be sorted;
/// those outside the window are ignored.
pub fn training_series(
    samples: &[Sample],
    now: Timestamp,
    train_window: Span,
) -> Result<Series, ForecastError> {
    let from = now - train_window.seconds();
    let begin = samples.partition_point(|s| s.timestamp < from);
    let end = samples.partition_point(|s| s.timestamp <= now);
    let window = &samples[begin..end.max(begin)];
    let step = infer_step(window).ok_or(ForecastError::TooShort {
        needed: 2,
        have: window.len(),
    })?;
    Series::from_samples(window, step).map_err(|e| ForecastError::InvalidSpec(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(s: i64) -> Span {
        Span::from_seconds(s).unwrap()
    }

    #[test]
    fn levels_end_with_the_quantile() {
        assert_eq!(forecast_levels(0.8), vec![0.025, 0.1, 0.9, 0.975, 0.8]);
    }

    #[test]
    fn forecast_reaches_past_lead_and_horizon() {
        // Origin 1000, step 60, now 1030, lead 120, horizon 600: reach 1750 → ceil(750/60) = 13.
        assert_eq!(
            plan_forecast_steps(1030, span(120), span(600), 1000, 60),
            Some(13)
        );
        // A model whose origin is far in the future still gets one step.
        assert_eq!(
            plan_forecast_steps(0, span(60), span(60), 10_000, 60),
            Some(1)
        );
        // Data older than MAX_FORECAST_STEPS steps: no plan.
        assert_eq!(
            plan_forecast_steps(60 * 200_000, span(60), span(60), 0, 60),
            None
        );
    }

    #[test]
    fn refit_schedule() {
        let interval = span(600);
        assert!(refit_due(None, 0, 0, interval));
        let ok = FitAttempt {
            at: 1000,
            samples_seen: 5,
            failed: false,
        };
        assert!(!refit_due(Some(&ok), 1599, 9, interval));
        assert!(refit_due(Some(&ok), 1600, 9, interval));
        let failed = FitAttempt { failed: true, ..ok };
        assert!(!refit_due(Some(&failed), 1060, 5, interval));
        assert!(refit_due(Some(&failed), 1060, 6, interval));
    }

    #[test]
    fn training_window_is_inclusive_and_trimmed() {
        let samples: Vec<Sample> = [0, 60, 120, 180, 300]
            .iter()
            .map(|&t| Sample::new(t, t as f64).unwrap())
            .collect();
        let series = training_series(&samples, 240, span(180)).unwrap();
        assert_eq!(series.start(), 60);
        assert_eq!(series.values(), &[60.0, 120.0, 180.0]);
        assert_eq!(
            training_series(&samples, 30, span(60)).unwrap_err(),
            ForecastError::TooShort { needed: 2, have: 1 }
        );
    }
}
