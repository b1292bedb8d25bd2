//! Prediction: the regression and its AR correction forward from the origin (with bands), and
//! point forecasts from later origins for `auto`.

use super::ar::{ar_path, lead_coefficients, state_at};
use super::design::{angle, is_weekend};
use super::solve::dot;
use super::{FittedLinearSeasonal, FourierTerm, Trend};
use crate::forecast::history::History;
use crate::forecast::intervals;
use crate::forecast::{Band, Forecast, ForecastError};

impl FittedLinearSeasonal {
    /// The regression part in the transformed space (no correction).
    pub(super) fn value_z(&self, t: i64) -> f64 {
        let mut value = self.intercept;
        if let Some(trend) = &self.trend {
            value += trend.slope * Trend::x(trend.center, trend.scale, trend.until, t);
        }
        let fourier = |terms: &[FourierTerm]| -> f64 {
            terms
                .iter()
                .filter(|term| term.period > 0)
                .map(|term| {
                    let (s, c) = (angle(t, term.period) * term.k as f64).sin_cos();
                    term.sin * s + term.cos * c
                })
                .sum()
        };
        value += fourier(&self.terms);
        if let Some(weekend) = &self.weekend
            && is_weekend(t)
        {
            value += weekend.level + fourier(&weekend.terms);
        }
        if let Some(pulses) = &self.pulses {
            value += pulses.at(t);
        }
        if let Some(shift) = &self.shift {
            value += shift.at(t);
        }
        value
    }

    /// Back to the data's units.
    pub(super) fn inverse(&self, z: f64) -> f64 {
        match &self.transform {
            Some(t) => t.inverse(z),
            None => z,
        }
    }

    /// Point forecasts of steps `origin..(origin + len).min(history.len())` from each origin
    /// (indices into `history`, all ≥ the training length): the coefficients stay those of this
    /// fit, the residual correction restarts from the residuals before each origin. Point
    /// forecasts are the back-transformed regression + correction (the holdout fits have no
    /// error table).
    pub(crate) fn holdout_forecasts(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        let split = self.training.points.min(history.len());
        let base: Vec<f64> = (split..history.len())
            .map(|i| self.value_z(history.time(i)))
            .collect();
        self.forecasts_from(history, split, &base, origins, len)
    }

    /// Point forecasts as [`Self::holdout_forecasts`] makes them, from any origins of the history
    /// this model was fitted on, with the regression's day-ahead `values` (from
    /// [`fit_cross_validated`](super::fit_cross_validated)) in place of its own: every forecast
    /// step, and every residual the correction starts from, out of sample for its day.
    pub(crate) fn cross_validated_forecasts(
        &self,
        history: &History,
        values: &[f64],
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        self.forecasts_from(history, 0, values, origins, len)
    }

    /// Forecasts from `origins` (clamped to ≥ `split`) with the regression's values `base` for
    /// the steps from `split` on.
    fn forecasts_from(
        &self,
        history: &History,
        split: usize,
        base: &[f64],
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        let residuals: Vec<f64> = (split..history.len())
            .map(|i| {
                let v = history.values[i];
                let z = match &self.transform {
                    Some(t) => t.forward(v),
                    None => v,
                };
                z - base[i - split]
            })
            .collect();
        let step = history.step.max(1) as i128;
        // Lead coefficients for `leads_for` steps (fewer when the rest are negligible).
        let (mut leads, mut leads_for): (Vec<Vec<f64>>, usize) = (Vec::new(), 0);
        origins
            .iter()
            .map(|&origin| {
                let origin = origin.clamp(split, history.len());
                let seen = &residuals[..origin - split];
                let (state, at) = match seen.iter().rposition(|v| !v.is_nan()) {
                    Some(last) => (
                        state_at(&self.correction.ar, seen),
                        history.time(split + last),
                    ),
                    None => (self.correction.state.clone(), self.correction.at),
                };
                let first = ((history.time(origin) as i128 - at as i128) / step).max(1);
                let offset = usize::try_from(first - 1).unwrap_or(usize::MAX);
                let end = origin.saturating_add(len).min(history.len());
                let steps = offset.saturating_add(end - origin);
                // The correction's path from the state through lead coefficients shared by
                // every origin (a dot product per step, no recursion).
                if leads_for < steps && !self.correction.ar.is_empty() {
                    leads_for = steps.max(2 * leads_for);
                    leads = lead_coefficients(&self.correction.ar, leads_for);
                }
                (origin..end)
                    .map(|i| {
                        let lead = offset.saturating_add(i - origin);
                        let correction = leads.get(lead).map_or(0.0, |c| dot(c, &state));
                        self.inverse(base[i - split] + correction)
                    })
                    .collect()
            })
            .collect()
    }

    /// [`Family::forecast`](crate::forecast::family::Family::forecast): the regression and the
    /// AR correction from the origin, bands in the transformed space, back-transformed.
    pub(super) fn forecast_from_origin(
        &self,
        horizon: usize,
        levels: &[f64],
    ) -> Result<Forecast, ForecastError> {
        let Some(_) = self.training.forecast_time(horizon) else {
            return Err(ForecastError::InvalidSpec(format!(
                "horizon {horizon}: forecast timestamps overflow"
            )));
        };
        let step = self.training.step;
        let origin = self.training.origin;
        let at = self.correction.at;
        // Steps between the last observation and the origin (trailing gaps) count as horizon.
        let offset = usize::try_from((origin as i128 - at as i128) / step as i128 - 1).unwrap_or(0);
        let path = ar_path(
            &self.correction.ar,
            &self.correction.state,
            offset.saturating_add(horizon),
        );
        let mut zhat: Vec<f64> = (0..horizon)
            .map(|h| {
                let t = origin + h as i64 * step;
                let lead = offset.saturating_add(h);
                self.value_z(t) + path.get(lead).copied().unwrap_or(0.0)
            })
            .collect();
        let mut asked = levels.to_vec();
        asked.push(0.5);
        let clamp_z = self.transform.is_none() && self.training.nonnegative;
        let mut bands = intervals::bands(
            &mut zhat,
            &asked,
            &self.errors,
            |h| h.saturating_add(offset),
            clamp_z,
        );
        let median = bands.pop().map(|band| band.values).unwrap_or_default();
        let back = |z: f64| {
            let y = self.inverse(z);
            if self.training.nonnegative {
                y.max(0.0)
            } else {
                y
            }
        };
        let yhat = median.into_iter().map(back).collect();
        let bands = bands
            .into_iter()
            .map(|band| Band {
                level: band.level,
                values: band.values.into_iter().map(back).collect(),
            })
            .collect();
        Ok(Forecast {
            start: origin,
            step,
            yhat,
            bands,
        })
    }
}
