//! The Box-Cox transform and its choice by profile likelihood.

use ndarray::{Array1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::Transform;
use super::rows::DesignRows;
use super::solve::{rss, solve, standardize};
use crate::forecast::{ForecastError, json_exact};

/// The Box-Cox λ grid searched.
const LAMBDAS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
/// Data with zeros is shifted by this fraction of its mean before a log or Box-Cox.
const ZERO_SHIFT: f64 = 0.01;

/// The Box-Cox transform `z = ((y + shift)^λ − 1) / λ`, `ln(y + shift)` for λ = 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoxCox {
    pub lambda: f64,
    pub shift: f64,
}

impl BoxCox {
    /// `T(y)`; NaN where undefined (`y + shift ≤ 0` for the log).
    pub fn forward(&self, y: f64) -> f64 {
        let x = y + self.shift;
        if x < 0.0 || (self.lambda == 0.0 && x == 0.0) {
            f64::NAN
        } else if self.lambda == 0.0 {
            x.ln()
        } else {
            (x.powf(self.lambda) - 1.0) / self.lambda
        }
    }

    /// `T⁻¹(z)`, monotone, always finite: values beyond the transform's range are clamped to
    /// its ends.
    pub fn inverse(&self, z: f64) -> f64 {
        let x = if self.lambda == 0.0 {
            z.min(700.0).exp()
        } else {
            (self.lambda * z + 1.0).max(0.0).powf(1.0 / self.lambda)
        };
        let y = x.min(f64::MAX) - self.shift;
        if y.is_nan() { -self.shift } else { y }
    }

    /// `ln |dT/dy|` summed over `ys` (the Jacobian of the profile likelihood).
    fn log_jacobian(lambda: f64, shift: f64, ys: &[f64]) -> f64 {
        (lambda - 1.0) * ys.iter().map(|y| (y + shift).ln()).sum::<f64>()
    }
}

/// Chooses the transform for the observed values `ys` (the design's `x` and `gram = x'x` give
/// the Box-Cox profile likelihood), with a note when one asked for is not applied.
pub(super) fn choose_transform(
    transform: Transform,
    ys: &[f64],
    rows: &DesignRows,
    gram: ArrayView2<f64>,
    ridge: f64,
    notes: &mut Vec<String>,
) -> Result<Option<BoxCox>, ForecastError> {
    if transform == Transform::None {
        return Ok(None);
    }
    let min = ys.iter().copied().fold(f64::INFINITY, f64::min);
    if min < 0.0 {
        if transform == Transform::Auto {
            return Ok(None);
        }
        return Err(ForecastError::InvalidSpec(format!(
            "transform {}: the data has negative values (down to {min}); use transform none",
            if transform == Transform::Log {
                "log"
            } else {
                "box-cox"
            }
        )));
    }
    let shift = if min > 0.0 {
        0.0
    } else {
        let mean = ys.iter().sum::<f64>() / ys.len() as f64;
        if mean > 0.0 && mean.is_finite() {
            ZERO_SHIFT * mean
        } else {
            1.0
        }
    };
    if shift > 0.0 {
        notes.push(format!(
            "the data has zeros: shifted by {} before the transform",
            json_exact(shift)
        ));
    }
    if transform == Transform::Log {
        return Ok(Some(BoxCox { lambda: 0.0, shift }));
    }
    // Profile likelihood of λ: −n/2·ln(RSS(λ)/n) + (λ−1)·Σ ln(y + shift).
    let n = ys.len() as f64;
    let mut best: Option<(f64, f64)> = None;
    for lambda in LAMBDAS {
        let transform = BoxCox { lambda, shift };
        let zs: Vec<f64> = ys.iter().map(|y| transform.forward(*y)).collect();
        if !zs.iter().all(|z| z.is_finite()) {
            continue;
        }
        let Ok((mean, sd)) = standardize(&zs) else {
            continue;
        };
        let z = Array1::from_iter(zs.iter().map(|z| (z - mean) / sd));
        let rhs = rows.t_mul(z.as_slice().expect("a vector"));
        let Ok(beta) = solve(gram, rhs.view(), ridge) else {
            continue;
        };
        let rss = rss(gram, rhs.view(), z.dot(&z), &beta) * sd * sd;
        if !(rss > 0.0 && rss.is_finite()) {
            // A perfect fit: nothing to stabilize.
            return Ok(None);
        }
        let ll = -0.5 * n * (rss / n).ln() + BoxCox::log_jacobian(lambda, shift, ys);
        if ll.is_finite() && best.is_none_or(|(b, _)| ll > b) {
            best = Some((ll, lambda));
        }
    }
    match best {
        Some((_, lambda)) if lambda < 1.0 => Ok(Some(BoxCox { lambda, shift })),
        _ => Ok(None),
    }
}
