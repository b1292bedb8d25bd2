//! The holdout's frame (the origins and how far each forecast reaches) and the MAE that scores
//! forecasts on it: shared by the selection and the combinations.

use crate::forecast::history::History;

/// The holdout's frame: the origins and how far each forecast reaches.
pub(super) struct Frame {
    pub(super) origins: Vec<usize>,
    /// Steps scored ahead of each origin.
    pub(super) scored: usize,
    /// Steps forecast ahead of each origin (≥ `scored`), for the conformal quantiles.
    pub(super) reach: usize,
}

/// The MAE of holdout forecasts 1 to `frame.scored` steps ahead (observed actuals only), and
/// how many points it is over; NaN for none.
pub(super) fn mae(history: &History, frame: &Frame, forecasts: &[Vec<f64>]) -> (f64, usize) {
    mae_at(history, &frame.origins, frame.scored, forecasts)
}

/// [`mae`] over some of the origins (`forecasts` are theirs).
pub(super) fn mae_at(
    history: &History,
    origins: &[usize],
    scored: usize,
    forecasts: &[Vec<f64>],
) -> (f64, usize) {
    let (mut sum, mut points) = (0.0, 0usize);
    for (&origin, forecast) in origins.iter().zip(forecasts) {
        for (actual, predicted) in history.values[origin..].iter().zip(forecast).take(scored) {
            let error = actual - predicted;
            if error.is_finite() {
                sum += error.abs();
                points += 1;
            }
        }
    }
    if points == 0 || !sum.is_finite() {
        (f64::NAN, points)
    } else {
        (sum / points as f64, points)
    }
}
