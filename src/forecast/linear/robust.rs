//! Robust fitting: Huber weights on MAD-standardized residuals and the iteratively re-weighted
//! least squares that only subtracts the down-weighted rows.

use ndarray::{Array1, ArrayView1, ArrayView2};

use super::design::Design;
use super::rows::DesignRows;
use super::solve::{gram, solve, t_mat_vec};
use crate::forecast::ForecastError;
use crate::forecast::intervals;

/// Huber's tuning constant (95 % efficiency under Gaussian noise).
const HUBER: f64 = 1.345;
/// Re-weighting passes of the robust fit.
pub(super) const ROBUST_ITERATIONS: usize = 3;
/// Robust iterations of a refit that starts from the previous fit's coefficients.
pub(super) const WARM_ITERATIONS: usize = 1;
/// MAD → standard deviation under Gaussian noise.
const MAD_TO_SD: f64 = 1.4826;

/// The robust standard deviation of the observed values: 1.4826 · their median absolute value
/// (the residuals are centred by the regression); NaN when none is observed.
pub(super) fn robust_scale(values: &[f64]) -> f64 {
    let mut abs: Vec<f64> = values
        .iter()
        .filter(|v| !v.is_nan())
        .map(|v| v.abs())
        .collect();
    MAD_TO_SD * intervals::empirical_quantiles(&mut abs, &[0.5])[0]
}

/// The Huber weights of standardized residuals: 1 within [`HUBER`] robust scales, `limit/|r|`
/// beyond; all 1 for a (nearly) perfect fit (the residuals are standardized, so a scale of
/// 1e-9 is tiny).
pub(super) fn huber_weights(residuals: &[f64]) -> Vec<f64> {
    let scale = robust_scale(residuals);
    if scale.is_nan() || scale <= 1e-9 {
        return vec![1.0; residuals.len()];
    }
    let limit = HUBER * scale;
    residuals
        .iter()
        .map(|r| {
            if r.abs() > limit {
                limit / r.abs()
            } else {
                1.0
            }
        })
        .collect()
}

/// The rows whose weight is below 1, with `√(1 − w)`: what `X'WX = X'X − Σ (1 − wᵢ) xᵢxᵢ'`
/// subtracts.
pub(super) fn down_weighted(weights: &[f64]) -> Vec<(usize, f64)> {
    weights
        .iter()
        .enumerate()
        .filter(|(_, w)| **w < 1.0)
        .map(|(i, w)| (i, (1.0 - w).sqrt()))
        .collect()
}

/// The Huber weights of `residuals` ([`huber_weights`], the scale taken over the rows not
/// excluded), 0 at the `excluded` rows (none when `excluded` is empty).
fn weights_without(residuals: &[f64], excluded: &[bool]) -> Vec<f64> {
    if excluded.is_empty() {
        return huber_weights(residuals);
    }
    let kept: Vec<f64> = residuals
        .iter()
        .zip(excluded)
        .map(|(r, &out)| if out { f64::NAN } else { *r })
        .collect();
    let mut weights = huber_weights(&kept);
    for (w, &out) in weights.iter_mut().zip(excluded) {
        if out {
            *w = 0.0;
        }
    }
    weights
}

/// Weights of `n` rows without re-weighting: 1, and 0 at the `excluded` rows (none when
/// `excluded` is empty).
fn plain_weights(n: usize, excluded: &[bool]) -> Vec<f64> {
    (0..n)
        .map(|r| {
            if excluded.get(r) == Some(&true) {
                0.0
            } else {
                1.0
            }
        })
        .collect()
}

/// The weights of a fit's rows: Huber weights of `residuals` when `robust`
/// ([`weights_without`]), else 1; 0 at the `excluded` rows (none when empty).
pub(super) fn row_weights(residuals: &[f64], excluded: &[bool], robust: bool) -> Vec<f64> {
    if robust {
        weights_without(residuals, excluded)
    } else {
        plain_weights(residuals.len(), excluded)
    }
}

/// Iteratively re-weighted least squares with Huber weights on residuals standardized by their
/// MAD (`robust`; otherwise one weighted solve), the `excluded` rows (none when empty) at weight
/// 0. Only rows whose weight drops below 1 are touched: `X'WX = X'X − Σ (1 − wᵢ) xᵢxᵢ'`.
#[allow(clippy::too_many_arguments)]
pub(super) fn robust_refit(
    design: &Design,
    rows: &DesignRows,
    gram_x: ArrayView2<f64>,
    rhs: ArrayView1<f64>,
    z: &Array1<f64>,
    mut beta: Array1<f64>,
    ridge: f64,
    (iterations, robust): (usize, bool),
    excluded: &[bool],
) -> Result<Array1<f64>, ForecastError> {
    let n = z.len();
    for _ in 0..iterations {
        let residuals = z - &rows.mul(beta.view());
        let residuals = residuals.as_slice().expect("a vector");
        let down = down_weighted(&row_weights(residuals, excluded, robust));
        if down.is_empty() {
            break;
        }
        let z_rows = z.as_slice().expect("a vector");
        let (xd, zd, down_weekend_from) = rows.scaled_rows(&down, z_rows, beta.len());
        let gram_w = &gram_x - &gram(design, xd.view(), down_weekend_from);
        let rhs_w = &rhs - &t_mat_vec(xd.view(), &zd);
        let next = solve(gram_w.view(), rhs_w.view(), ridge)?;
        let change = (&next - &beta).iter().fold(0.0f64, |m, d| m.max(d.abs()));
        beta = next;
        if !robust || change < 1e-6 || down.len() == n {
            break;
        }
    }
    Ok(beta)
}
