//! The forecasts a series was given ahead of time, kept until reality arrives, and the
//! comparison of the two. Pure: the monitor feeds it forecasts and samples with their times.
//!
//! Each forecast step is recorded once, the first time it is seen while it still lies in the
//! future — in steady state about `lead_time` before it, the forecast the plan acted on. When
//! the actual sample of that step is stored, the two are compared: absolute error, percentage
//! error, whether the actual fell inside the 95 % interval, and how many of the newest steps in
//! a row were above its upper bound (the forecast-miss alert).

use std::collections::BTreeMap;

use crate::series::{Sample, Timestamp};

/// A forecast for one step: the point forecast and the 80 % and 95 % central intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointForecast {
    /// The start of the step.
    pub timestamp: Timestamp,
    pub step: i64,
    pub yhat: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
}

/// How the recorded forecasts did against the actual samples of a window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Accuracy {
    /// Steps with both a recorded forecast and an actual.
    pub steps: usize,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean absolute percentage error (a ratio: 0.1 is 10 %), over actuals that are not zero.
    pub mape: Option<f64>,
    /// Fraction of actuals inside the 95 % interval.
    pub coverage95: f64,
    /// Newest-first run length of steps whose actual was above the 95 % upper bound.
    pub consecutive_above95: usize,
    /// The newest compared step: the actual and its forecast.
    pub last: Option<(Sample, PointForecast)>,
}

/// The most steps kept per series (a bound on memory for very fine series).
pub const MAX_ENTRIES: usize = 20_000;

/// Recorded forecasts of one series, by step start.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    entries: BTreeMap<Timestamp, PointForecast>,
}

impl Ledger {
    /// Records `forecast` unless its step already has one (the earliest forecast is kept).
    pub fn record(&mut self, forecast: PointForecast) {
        self.entries.entry(forecast.timestamp).or_insert(forecast);
        while self.entries.len() > MAX_ENTRIES {
            self.entries.pop_first();
        }
    }

    /// Forgets the steps that start before `before`.
    pub fn prune(&mut self, before: Timestamp) {
        self.entries = self.entries.split_off(&before);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The recorded forecast of the step that contains `t`.
    pub fn find(&self, t: Timestamp) -> Option<&PointForecast> {
        self.entries
            .range(..=t)
            .next_back()
            .map(|(_, f)| f)
            .filter(|f| t < f.timestamp + f.step)
    }

    /// Compares sorted `actuals` with the recorded forecasts.
    pub fn compare(&self, actuals: &[Sample]) -> Accuracy {
        let pairs: Vec<(Sample, PointForecast)> = actuals
            .iter()
            .filter_map(|a| self.find(a.timestamp).map(|f| (*a, *f)))
            .collect();
        if pairs.is_empty() {
            return Accuracy::default();
        }
        let n = pairs.len() as f64;
        let mae = pairs
            .iter()
            .map(|(a, f)| (a.value - f.yhat).abs())
            .sum::<f64>()
            / n;
        let relative: Vec<f64> = pairs
            .iter()
            .filter(|(a, _)| a.value != 0.0)
            .map(|(a, f)| ((a.value - f.yhat) / a.value).abs())
            .collect();
        let mape =
            (!relative.is_empty()).then(|| relative.iter().sum::<f64>() / relative.len() as f64);
        let inside = pairs
            .iter()
            .filter(|(a, f)| a.value >= f.lo95 && a.value <= f.hi95)
            .count() as f64;
        let consecutive_above95 = pairs
            .iter()
            .rev()
            .take_while(|(a, f)| a.value > f.hi95)
            .count();
        Accuracy {
            steps: pairs.len(),
            mae,
            mape,
            coverage95: inside / n,
            consecutive_above95,
            last: pairs.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: Timestamp, yhat: f64) -> PointForecast {
        PointForecast {
            timestamp: t,
            step: 60,
            yhat,
            lo80: yhat - 5.0,
            hi80: yhat + 5.0,
            lo95: yhat - 10.0,
            hi95: yhat + 10.0,
        }
    }

    fn sample(t: Timestamp, v: f64) -> Sample {
        Sample {
            timestamp: t,
            value: v,
        }
    }

    #[test]
    fn the_first_forecast_of_a_step_is_kept() {
        let mut ledger = Ledger::default();
        ledger.record(point(60, 100.0));
        ledger.record(point(60, 500.0));
        assert_eq!(ledger.find(60).unwrap().yhat, 100.0);
        assert_eq!(ledger.find(119).unwrap().yhat, 100.0);
        assert!(ledger.find(120).is_none());
        assert!(ledger.find(59).is_none());
    }

    #[test]
    fn errors_coverage_and_misses() {
        let mut ledger = Ledger::default();
        for i in 0..6 {
            ledger.record(point(i * 60, 100.0));
        }
        // Actuals: inside, inside, no forecast for one, then three above the upper bound.
        let actuals = [
            sample(0, 100.0),
            sample(60, 104.0),
            sample(400, 1.0),
            sample(120, 150.0),
            sample(180, 120.0),
            sample(240, 111.0),
        ];
        let mut sorted = actuals.to_vec();
        sorted.sort_by_key(|s| s.timestamp);
        let accuracy = ledger.compare(&sorted);
        assert_eq!(accuracy.steps, 5);
        assert!((accuracy.mae - (0.0 + 4.0 + 50.0 + 20.0 + 11.0) / 5.0).abs() < 1e-9);
        assert!((accuracy.coverage95 - 0.4).abs() < 1e-9);
        assert_eq!(accuracy.consecutive_above95, 3);
        assert_eq!(accuracy.last.unwrap().0, sample(240, 111.0));
        let mape = accuracy.mape.unwrap();
        assert!(
            (mape - (0.0 + 4.0 / 104.0 + 50.0 / 150.0 + 20.0 / 120.0 + 11.0 / 111.0) / 5.0).abs()
                < 1e-9
        );
        // A step back inside ends the run.
        let accuracy = ledger.compare(&[sample(240, 111.0), sample(300, 100.0)]);
        assert_eq!(accuracy.consecutive_above95, 0);
        // Nothing to compare.
        assert_eq!(Ledger::default().compare(&sorted), Accuracy::default());
    }

    #[test]
    fn pruning_and_the_size_bound() {
        let mut ledger = Ledger::default();
        for i in 0..10 {
            ledger.record(point(i * 60, 1.0));
        }
        ledger.prune(300);
        assert_eq!(ledger.len(), 5);
        assert!(ledger.find(299).is_none());
        for i in 0..(MAX_ENTRIES as i64 + 10) {
            ledger.record(point(1_000_000 + i * 60, 1.0));
        }
        assert_eq!(ledger.len(), MAX_ENTRIES);
    }
}
