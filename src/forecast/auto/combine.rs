//! Combinations of the members' point forecasts: the mean of the two best candidates and the
//! step-by-step median of all of them.

use serde::{Deserialize, Serialize};

use super::holdout::{Frame, mae};
use crate::forecast::history::History;

/// A candidate's holdout forecasts and score.
pub(super) struct Tried {
    pub(super) label: String,
    /// Indices into the candidate list, with weights (one for a single candidate).
    pub(super) parts: Vec<(usize, f64)>,
    pub(super) combine: Combine,
    pub(super) forecasts: Vec<Vec<f64>>,
    pub(super) mae: f64,
}

/// How the members' point forecasts are combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Combine {
    /// The weighted mean (a single member: its forecast).
    #[default]
    Mean,
    /// The median, step by step (weights ignored): robust to one member going astray, e.g.
    /// seasonal naive replaying last week's spike.
    Median,
}

impl Combine {
    pub(super) fn is_mean(&self) -> bool {
        *self == Combine::Mean
    }

    /// The combined value of the members' `values` at one step, `weights` in member order
    /// (reorders `values`).
    pub(super) fn of(&self, weights: impl Iterator<Item = f64>, values: &mut Vec<f64>) -> f64 {
        match self {
            Combine::Mean => weights.zip(values.iter()).map(|(w, v)| w * v).sum(),
            Combine::Median => median(values),
        }
    }

    /// The members' forecasts combined step by step, as long as the shortest of them: `parts`
    /// one forecast per member, `weights` theirs, both in member order.
    pub(super) fn steps<P: AsRef<[f64]>>(
        &self,
        weights: impl Iterator<Item = f64> + Clone,
        parts: &[P],
    ) -> Vec<f64> {
        let len = parts.iter().map(|p| p.as_ref().len()).min().unwrap_or(0);
        let mut column = Vec::with_capacity(parts.len());
        (0..len)
            .map(|h| {
                column.clear();
                column.extend(parts.iter().map(|p| p.as_ref()[h]));
                self.of(weights.clone(), &mut column)
            })
            .collect()
    }
}

/// The equally weighted mean of the two best-scoring candidates, scored (`None` with fewer
/// than two).
pub(super) fn combine_best_two(history: &History, frame: &Frame, tried: &[Tried]) -> Option<Tried> {
    let mut ranked: Vec<&Tried> = tried.iter().collect();
    ranked.sort_by(|a, b| a.mae.total_cmp(&b.mae));
    let [first, second, ..] = ranked[..] else {
        return None;
    };
    let forecasts: Vec<Vec<f64>> = first
        .forecasts
        .iter()
        .zip(&second.forecasts)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| 0.5 * (x + y)).collect())
        .collect();
    let (mae, _) = mae(history, frame, &forecasts);
    mae.is_finite().then(|| Tried {
        label: format!("combination({} + {})", first.label, second.label),
        parts: vec![(first.parts[0].0, 0.5), (second.parts[0].0, 0.5)],
        combine: Combine::Mean,
        forecasts,
        mae,
    })
}

/// The step-by-step median of every single candidate's forecasts, scored (`None` with fewer
/// than three).
pub(super) fn median_of_all(history: &History, frame: &Frame, tried: &[Tried]) -> Option<Tried> {
    let singles: Vec<&Tried> = tried.iter().filter(|t| t.parts.len() == 1).collect();
    if singles.len() < 3 {
        return None;
    }
    // The median takes no weights.
    let forecasts: Vec<Vec<f64>> = (0..frame.origins.len())
        .map(|j| {
            let parts: Vec<&[f64]> = singles.iter().map(|t| t.forecasts[j].as_slice()).collect();
            Combine::Median.steps(std::iter::empty(), &parts)
        })
        .collect();
    let (mae, _) = mae(history, frame, &forecasts);
    let weight = 1.0 / singles.len() as f64;
    let labels: Vec<&str> = singles.iter().map(|t| t.label.as_str()).collect();
    mae.is_finite().then(|| Tried {
        label: format!("median({})", labels.join(", ")),
        parts: singles.iter().map(|t| (t.parts[0].0, weight)).collect(),
        combine: Combine::Median,
        forecasts,
        mae,
    })
}

/// The median of the finite values (NaN for none); reorders `values`.
pub(super) fn median(values: &mut Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}
