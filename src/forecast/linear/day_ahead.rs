//! Day-ahead values of the regression for `auto`'s calibration: each recent day fitted on the
//! days before it, by subtracting products from the full fit's `X'WX`.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::design::Design;
use super::robust::down_weighted;
use super::rows::DesignRows;
use super::solve::{gram, solve, t_mat_vec};
use crate::forecast::ForecastError;
use crate::forecast::history::History;

/// At most this many day-ahead blocks (days, or longer blocks for long histories).
const MAX_BLOCKS: usize = 64;

/// A weighted least-squares fit's parts: `X'X` and `X'z` unweighted (as the fit built them),
/// the per-row weights it ended with.
pub(super) struct WeightedFit<'a> {
    pub(super) design: &'a Design,
    pub(super) rows: &'a DesignRows,
    pub(super) gram: ArrayView2<'a, f64>,
    pub(super) rhs: ArrayView1<'a, f64>,
    pub(super) z: &'a Array1<f64>,
    pub(super) weights: &'a [f64],
    pub(super) ridge: f64,
}

impl WeightedFit<'_> {
    /// `(X'X, X'z)` over `rows` `(row, factor)`, each row times its factor (`√w` gives that
    /// row's share of `X'WX`, `√(1 − w)` what down-weighting it subtracts).
    pub(super) fn products(&self, rows: &[(usize, f64)]) -> (Array2<f64>, Array1<f64>) {
        let p = self.rhs.len();
        let z = self.z.as_slice().expect("a vector");
        let (x, zw, weekend_from) = self.rows.scaled_rows(rows, z, p);
        (
            gram(self.design, x.view(), weekend_from),
            t_mat_vec(x.view(), &zw),
        )
    }
}

/// The steps of a block of [`fitted_on_days_before`]: a day, or more on a long history.
fn block_steps(history: &History) -> usize {
    history
        .steps_per_day()
        .max(history.len().div_ceil(MAX_BLOCKS))
        .max(1)
}

/// The first step of the block that holds step `i` (blocks are counted back from the end of
/// `history`): its day-ahead value is fitted on the steps before it.
pub(super) fn block_start(history: &History, i: usize) -> usize {
    block_of(history, i).start
}

/// The steps of the block that holds step `i` (the first block may be shorter).
pub(super) fn block_of(history: &History, i: usize) -> Range<usize> {
    let len = history.len();
    let steps = block_steps(history);
    let block = (len.saturating_sub(1).saturating_sub(i)) / steps;
    len.saturating_sub((block + 1) * steps)..len.saturating_sub(block * steps)
}

/// Day-ahead values of the regression, per observed row (standardized units; NaN before step
/// `from`): the observed rows are cut into days counted back from the end of `history`, and the
/// rows of each day from `from` on get the values of the coefficients fitted on the days before
/// it with the same weights (`X'WX` less the products of that day and every later one, summed
/// going back from the end: a pass over the rows from `from` on and a `p×p` solve per day, no
/// refit). Out of sample for each of those days, and forecast the way the final fit forecasts:
/// from the past alone, not interpolated between days on both sides (which knows the level the
/// days after reached, and was measured too narrow where it drifts). `None` when no observed
/// row lies before the first of those days or none from `from` on.
pub(super) fn fitted_on_days_before(
    fit: &WeightedFit,
    history: &History,
    from: usize,
) -> Result<Option<Vec<f64>>, ForecastError> {
    let rows = fit.rows;
    let block_of = |r: usize| block_start(history, rows.grid[r]);
    let n = rows.len();
    let first = rows.grid.partition_point(|&i| i < from);
    if first >= n || block_of(0) == block_of(first) {
        return Ok(None);
    }
    // X'WX over every row: the unweighted products less the down-weighted rows' share.
    let (gram_down, rhs_down) = fit.products(&down_weighted(fit.weights));
    let mut gram_before = &fit.gram - &gram_down;
    let mut rhs_before = &fit.rhs - &rhs_down;
    let mut values = vec![f64::NAN; n];
    // The blocks (consecutive rows, rows being in time order) from the last back to the one
    // that holds `first`, each taking its products (with √w) off what the earlier ones see.
    let mut end = n;
    while end > first {
        let block = block_of(end - 1);
        let start = rows.grid[..end].partition_point(|&i| i < block);
        let chosen: Vec<(usize, f64)> = (start..end).map(|r| (r, fit.weights[r].sqrt())).collect();
        let (g, b) = fit.products(&chosen);
        gram_before -= &g;
        rhs_before -= &b;
        let beta = solve(gram_before.view(), rhs_before.view(), fit.ridge)?;
        let from_row = start.max(first);
        for (r, value) in (from_row..end).zip(&mut values[from_row..end]) {
            *value = rows.value(r, beta.view());
        }
        end = start;
    }
    Ok(Some(values))
}
