//! The regression's point forecasts moved to the median of what it errs by: the standalone
//! model forecasts the median of its in-sample corrected errors (its error table's 0.5 row);
//! `auto`'s member is fitted without that table and forecasts the regression's mean, which on a
//! skewed count stream (a few busy minutes above a quiet norm) lies above the median that
//! absolute errors reward. [`ErrorMedians`] keeps the one row `auto` needs.

use serde::{Deserialize, Serialize};

use super::{BoxCox, FittedLinearSeasonal};
use crate::forecast::ForecastError;

/// The in-sample errors' median per lead (steps after the last observation, from 0), in the
/// units of the transform they were measured in (kept with them: a later fit of the member may
/// choose another): at each anchor lead, linear between anchors, the last beyond it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMedians {
    leads: Vec<usize>,
    medians: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transform: Option<BoxCox>,
}

impl ErrorMedians {
    /// The medians of `pairs` (`(lead, median)`, leads increasing) in `transform`'s units;
    /// `None` for none.
    pub(crate) fn new(pairs: Vec<(usize, f64)>, transform: Option<BoxCox>) -> Option<ErrorMedians> {
        if pairs.is_empty() {
            return None;
        }
        let (leads, medians) = pairs.into_iter().unzip();
        Some(ErrorMedians {
            leads,
            medians,
            transform,
        })
    }

    /// The median error `lead` steps after the last observation.
    pub(crate) fn at(&self, lead: usize) -> f64 {
        let after = self.leads.partition_point(|&l| l <= lead);
        if after == 0 || after >= self.leads.len() {
            return self.medians[after.min(self.leads.len()).saturating_sub(1)];
        }
        let (l0, l1) = (self.leads[after - 1], self.leads[after]);
        let w = (lead - l0) as f64 / (l1 - l0) as f64;
        self.medians[after - 1] + (self.medians[after] - self.medians[after - 1]) * w
    }

    /// Checks a table read from a file: as many medians as leads, leads increasing, finite.
    pub(crate) fn validate(&self) -> Result<(), ForecastError> {
        let corrupt = |what: &str| Err(ForecastError::Fit(format!("corrupt model: {what}")));
        if self.leads.is_empty() || self.leads.len() != self.medians.len() {
            return corrupt("error medians and their leads differ in number");
        }
        if !self.leads.windows(2).all(|w| w[0] < w[1]) {
            return corrupt("error median leads must increase strictly");
        }
        if !self.medians.iter().all(|m| m.is_finite()) {
            return corrupt("non-finite error median");
        }
        if self
            .transform
            .is_some_and(|t| !(t.lambda.is_finite() && t.shift.is_finite()))
        {
            return corrupt("non-finite error median transform");
        }
        Ok(())
    }
}

impl FittedLinearSeasonal {
    /// The median row of this fit's error table (`None` when fitted without intervals: every
    /// median 0).
    pub(crate) fn error_medians(&self) -> Option<ErrorMedians> {
        let pairs = self.errors.medians();
        if pairs.iter().all(|(_, m)| *m == 0.0) {
            return None;
        }
        ErrorMedians::new(pairs, self.transform)
    }

    /// The same fit without its error table: its forecasts are the regression's mean again.
    pub(crate) fn without_errors(mut self) -> FittedLinearSeasonal {
        self.errors = crate::forecast::intervals::ErrorQuantiles::zero();
        self
    }

    /// Steps between the last observation and the origin of this fit's own forecasts (trailing
    /// gaps count as lead).
    pub(crate) fn origin_lead(&self) -> usize {
        let step = self.training.step.max(1) as i128;
        let gap = (self.training.origin as i128 - self.correction.at as i128) / step - 1;
        usize::try_from(gap).unwrap_or(0)
    }

    /// Moves point forecasts in the data's units (the `h`-th `first_lead + h` steps after the
    /// last observation) to their medians: `T⁻¹(T(y) + median(lead))` in the medians' own
    /// transform, as the standalone model forecasts; a value the transform cannot take stays as
    /// it is.
    pub(crate) fn to_median(&self, medians: &ErrorMedians, values: &mut [f64], first_lead: usize) {
        for (h, value) in values.iter_mut().enumerate() {
            let z = match &medians.transform {
                Some(t) => t.forward(*value),
                None => *value,
            };
            if !z.is_finite() {
                continue;
            }
            let z = z + medians.at(first_lead.saturating_add(h));
            let moved = match &medians.transform {
                Some(t) => t.inverse(z),
                None => z,
            };
            *value = if self.training.nonnegative {
                moved.max(0.0)
            } else {
                moved
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_interpolate_between_leads_and_hold_beyond() {
        let m = ErrorMedians::new(vec![(0, 1.0), (2, 3.0), (6, -1.0)], None).unwrap();
        assert_eq!(m.at(0), 1.0);
        assert_eq!(m.at(1), 2.0);
        assert_eq!(m.at(4), 1.0);
        assert_eq!(m.at(100), -1.0);
        assert!(ErrorMedians::new(Vec::new(), None).is_none());
        assert!(m.validate().is_ok());
        let bad = ErrorMedians {
            leads: vec![0, 0],
            medians: vec![1.0, 2.0],
            transform: None,
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn medians_move_values_in_their_own_transform_whatever_the_fit_s() {
        // Medians measured in logarithms (+ln 2 at every lead: the median is twice the mean
        // forecast) moved by a fit whose own transform is none (a later refit may choose
        // another): 10 becomes 20, not 10 + ln 2.
        let values: Vec<f64> = (0..96).map(|i| 10.0 + (i % 48) as f64).collect();
        let series = crate::series::Series::new(0, 1800, values).unwrap();
        let mut fit = super::super::LinearSeasonalSpec::new(vec![crate::series::test_span("1d")])
            .fit(&series)
            .unwrap();
        fit.transform = None;
        let log = BoxCox {
            lambda: 0.0,
            shift: 0.0,
        };
        let medians = ErrorMedians::new(vec![(0, 2f64.ln())], Some(log)).unwrap();
        let mut point = vec![10.0, 5.0];
        fit.to_median(&medians, &mut point, 0);
        assert!(
            (point[0] - 20.0).abs() < 1e-9 && (point[1] - 10.0).abs() < 1e-9,
            "{point:?}"
        );
    }
}
