//! The regression's design over the observed rows, stored once per phase.
//!
//! Every design column but the trend's is periodic: the Fourier terms repeat with their seasons
//! and the weekend block with the week. Over a regular grid, rows whose grid index is the same
//! modulo the steps of the seasons' common period (a week for daily and weekly seasons) have the
//! same values in those columns. So the design is kept as one row per *phase* plus each row's
//! trend value, and the products the fit needs (`X'X`, `X'z`, `Xβ`) are taken over phases: 14
//! days of 1-minute data become 10,080 phase rows instead of 20,160 rows, 28 days a quarter.
//! The arithmetic is the same sums in another order; when the seasons have no common period
//! shorter than the history, every row is its own phase.

use ndarray::{Array1, Array2, ArrayView1, s};

use super::design::{BaseAngles, Design, is_weekend};
use super::solve::{gram, mat_vec, t_mat_vec};
use super::{Trend, WEEK};
use crate::forecast::history::History;

pub(super) struct DesignRows {
    /// One row per observed phase (weekday phases first, then weekend ones), with every design
    /// column, times the square root of the phase's row count (so that `phases'phases` is the
    /// sum over rows); the trend column is zero here (its values are per row, in `trend`).
    phases: Array2<f64>,
    /// Per phase: the square root of its row count (what its row in `phases` was scaled by).
    roots: Vec<f64>,
    /// The first weekend phase in `phases`.
    weekend_from: usize,
    /// Per observed row (in time order): its row in `phases`.
    phase_of: Vec<usize>,
    /// Per observed row: the trend column's value (zero without a trend).
    trend: Vec<f64>,
    /// The trend's column, if the design has one.
    trend_column: Option<usize>,
    /// Per observed row: its index in the history's grid.
    pub(super) grid: Vec<usize>,
}

/// The steps of the shortest period that all of the design's periodic columns repeat with,
/// when the grid's step divides it.
fn common_period_steps(design: &Design, step: i64) -> Option<usize> {
    let mut periods = design.periods();
    if !design.weekend.is_empty() {
        periods.push(WEEK);
    }
    let mut common: i64 = 1;
    for period in periods {
        common = common.checked_mul(period / gcd(common, period))?;
    }
    if step <= 0 || common % step != 0 {
        return None;
    }
    usize::try_from(common / step).ok()
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs().max(1)
}

impl DesignRows {
    /// The design of `design` over the observed steps of `history`.
    pub(super) fn new(design: &Design, history: &History) -> DesignRows {
        let len = history.len();
        let grid: Vec<usize> = (0..len).filter(|&i| !history.values[i].is_nan()).collect();
        // Phase keys: the grid index modulo the common period, when the history is longer.
        let cycle = common_period_steps(design, history.step)
            .filter(|&m| m > 0 && m < len)
            .unwrap_or(len.max(1));
        let mut observed = vec![false; cycle];
        for &i in &grid {
            observed[i % cycle] = true;
        }
        // Compact phase rows, weekday phases first when the design has a weekend block.
        let split = !design.weekend.is_empty();
        let weekend = |key: usize| split && is_weekend(history.time(key));
        let keys: Vec<usize> = (0..cycle)
            .filter(|&k| observed[k] && !weekend(k))
            .chain((0..cycle).filter(|&k| observed[k] && weekend(k)))
            .collect();
        let weekend_from = keys.iter().take_while(|&&k| !weekend(k)).count();
        let mut row_of_key = vec![usize::MAX; cycle];
        for (row, &key) in keys.iter().enumerate() {
            row_of_key[key] = row;
        }

        let columns = design.columns();
        let mut cells = Vec::with_capacity(keys.len() * columns);
        let mut angles = BaseAngles::new(design, history.step);
        let trend_column = design.trend.map(|_| 1);
        for &key in &keys {
            let start = cells.len();
            cells.resize(start + columns, 0.0);
            design.fill_row(history.time(key), &mut angles, &mut cells[start..]);
            if let Some(c) = trend_column {
                cells[start + c] = 0.0;
            }
        }
        let phase_of: Vec<usize> = grid.iter().map(|&i| row_of_key[i % cycle]).collect();
        let mut count = vec![0usize; keys.len()];
        for &phase in &phase_of {
            count[phase] += 1;
        }
        let roots: Vec<f64> = count.iter().map(|&c| (c as f64).sqrt()).collect();
        for (row, &root) in cells.chunks_exact_mut(columns.max(1)).zip(&roots) {
            if root != 1.0 {
                row.iter_mut().for_each(|v| *v *= root);
            }
        }
        let phases = Array2::from_shape_vec((keys.len(), columns), cells)
            .expect("one row of `columns` cells per phase");
        let trend = match design.trend {
            Some((center, scale, until)) => grid
                .iter()
                .map(|&i| Trend::x(center, scale, until, history.time(i)))
                .collect(),
            None => vec![0.0; grid.len()],
        };
        DesignRows {
            phases,
            roots,
            weekend_from,
            phase_of,
            trend,
            trend_column,
            grid,
        }
    }

    /// Observed rows.
    pub(super) fn len(&self) -> usize {
        self.grid.len()
    }

    /// `X'X` over all of the design's columns.
    pub(super) fn gram(&self, design: &Design) -> Array2<f64> {
        let mut g = gram(design, self.phases.view(), self.weekend_from);
        if let Some(c) = self.trend_column {
            // Σ_rows trend·x = Σ_phases (Σ trend of its rows / root)·(phase row · root).
            let mut trend_sums = Array1::<f64>::zeros(self.phases.nrows());
            for (&phase, &t) in self.phase_of.iter().zip(&self.trend) {
                trend_sums[phase] += t;
            }
            trend_sums
                .iter_mut()
                .zip(&self.roots)
                .for_each(|(sum, root)| *sum /= root);
            let cross = t_mat_vec(self.phases.view(), &trend_sums);
            for (j, &v) in cross.iter().enumerate() {
                g[(c, j)] = v;
                g[(j, c)] = v;
            }
            g[(c, c)] = self.trend.iter().map(|t| t * t).sum();
        }
        g
    }

    /// `X'z` over all of the design's columns (`z` per observed row).
    pub(super) fn t_mul(&self, z: &[f64]) -> Array1<f64> {
        let mut sums = Array1::<f64>::zeros(self.phases.nrows());
        for (&phase, &v) in self.phase_of.iter().zip(z) {
            sums[phase] += v;
        }
        sums.iter_mut()
            .zip(&self.roots)
            .for_each(|(sum, root)| *sum /= root);
        let mut out = t_mat_vec(self.phases.view(), &sums);
        if let Some(c) = self.trend_column {
            out[c] = self.trend.iter().zip(z).map(|(t, v)| t * v).sum();
        }
        out
    }

    /// `Xβ` per observed row, for the first `beta.len()` columns.
    pub(super) fn mul(&self, beta: ArrayView1<f64>) -> Array1<f64> {
        let p = beta.len();
        let mut by_phase = mat_vec(self.phases.slice(s![.., ..p]), beta);
        by_phase
            .iter_mut()
            .zip(&self.roots)
            .for_each(|(v, root)| *v /= root);
        let slope = self.trend_column.map_or(0.0, |c| beta[c]);
        self.phase_of
            .iter()
            .zip(&self.trend)
            .map(|(&phase, &t)| by_phase[phase] + slope * t)
            .collect()
    }

    /// `x·β` of observed row `r`.
    pub(super) fn value(&self, r: usize, beta: ArrayView1<f64>) -> f64 {
        let phase = self.phase_of[r];
        let p = beta.len();
        let row = self.phases.slice(s![phase, ..p]);
        let slope = self.trend_column.map_or(0.0, |c| beta[c]);
        row.dot(&beta) / self.roots[phase] + slope * self.trend[r]
    }

    /// The rows `(row, factor)` (in increasing row order) of `[X z]`, their first `p` columns
    /// and their `z` times their factor, weekday rows first; with the index of the first weekend
    /// row (as [`gram`] wants).
    pub(super) fn scaled_rows(
        &self,
        rows: &[(usize, f64)],
        z: &[f64],
        p: usize,
    ) -> (Array2<f64>, Array1<f64>, usize) {
        let weekend = |r: usize| self.phase_of[r] >= self.weekend_from;
        let ordered: Vec<&(usize, f64)> = rows
            .iter()
            .filter(|(r, _)| !weekend(*r))
            .chain(rows.iter().filter(|(r, _)| weekend(*r)))
            .collect();
        let weekend_from = ordered.iter().take_while(|(r, _)| !weekend(*r)).count();
        let mut cells = Vec::with_capacity(ordered.len() * p);
        let columns = self.phases.ncols();
        let all = self
            .phases
            .as_slice()
            .expect("phases are in standard layout");
        for &&(r, factor) in &ordered {
            let phase = self.phase_of[r];
            let scale = factor / self.roots[phase];
            let start = cells.len();
            let row = &all[phase * columns..phase * columns + p];
            cells.extend(row.iter().map(|v| v * scale));
            if let Some(c) = self.trend_column.filter(|&c| c < p) {
                cells[start + c] = self.trend[r] * factor;
            }
        }
        let x = Array2::from_shape_vec((ordered.len(), p), cells)
            .expect("one row of `p` cells per row");
        let zs = ordered.iter().map(|&&(r, factor)| z[r] * factor).collect();
        (x, zs, weekend_from)
    }
}

#[cfg(test)]
mod tests {
    use super::super::design::{WEEKEND_DAYS, choose_design, weekend_days_observed};
    use super::super::{LinearSeasonalSpec, WeekdayShape};
    use super::*;
    use crate::series::Series;

    /// The design row by row, in time order, as a plain matrix (the angles from `sin_cos` on
    /// every row: no rotation carried between rows).
    fn plain(design: &Design, history: &History, grid: &[usize]) -> Array2<f64> {
        let mut x = Array2::<f64>::zeros((grid.len(), design.columns()));
        for (mut row, &i) in x.rows_mut().into_iter().zip(grid) {
            let mut angles = BaseAngles::new(design, history.step);
            design.fill_row(history.time(i), &mut angles, row.as_slice_mut().unwrap());
        }
        x
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-8 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn phase_products_equal_the_plain_products() {
        // 30 days hourly (a week repeats four times and a bit) with gaps, and 10 days (no
        // repeat of the week: one phase per row).
        for days in [30, 10] {
            let step = 3600;
            let values: Vec<f64> = (0..days * 24)
                .map(|i| {
                    if i % 17 == 5 {
                        f64::NAN
                    } else {
                        (i % 29) as f64 + 0.1 * i as f64
                    }
                })
                .collect();
            let history = History::new(&Series::new(7200, step, values).unwrap()).unwrap();
            let mut spec =
                LinearSeasonalSpec::new(vec!["1d".parse().unwrap(), "7d".parse().unwrap()]);
            spec.weekday_shape = WeekdayShape::Weekend;
            let (design, _) = choose_design(&spec, &history);
            let whole_weekend = weekend_days_observed(&history, history.len()) >= WEEKEND_DAYS;
            assert_eq!(design.weekend.is_empty(), !whole_weekend);
            assert!(whole_weekend || days < 14);
            let rows = DesignRows::new(&design, &history);
            let x = plain(&design, &history, &rows.grid);
            close(
                rows.gram(&design).as_slice().unwrap(),
                x.t().dot(&x).as_slice().unwrap(),
            );
            let z: Vec<f64> = (0..rows.len())
                .map(|r| ((r * 7) % 11) as f64 - 5.0)
                .collect();
            close(
                rows.t_mul(&z).as_slice().unwrap(),
                x.t().dot(&Array1::from_vec(z.clone())).as_slice().unwrap(),
            );
            let beta: Array1<f64> = (0..design.columns())
                .map(|j| 0.5 - j as f64 * 0.01)
                .collect();
            close(
                rows.mul(beta.view()).as_slice().unwrap(),
                x.dot(&beta).as_slice().unwrap(),
            );
            let down = vec![(3, 0.5), (100, 0.25), (rows.len() - 1, 0.75)];
            let (xd, zd, weekend_from) = rows.scaled_rows(&down, &z, design.columns());
            let mut expected: Vec<(bool, Vec<f64>)> = down
                .iter()
                .map(|&(r, f)| {
                    let weekend =
                        !design.weekend.is_empty() && is_weekend(history.time(rows.grid[r]));
                    (weekend, x.row(r).iter().map(|v| v * f).collect())
                })
                .collect();
            expected.sort_by_key(|(weekend, _)| *weekend);
            assert_eq!(
                weekend_from,
                expected.iter().filter(|(w, _)| !w).count(),
                "{days} days"
            );
            let flat: Vec<f64> = expected.into_iter().flat_map(|(_, row)| row).collect();
            close(xd.as_slice().unwrap(), &flat);
            // z goes with its row: the product X'z over the chosen rows, whatever their order.
            let chosen: Vec<usize> = down.iter().map(|&(r, _)| r).collect();
            let factors = Array1::from_iter(down.iter().map(|&(_, f)| f * f));
            let xz = x
                .select(ndarray::Axis(0), &chosen)
                .t()
                .dot(&(Array1::from_iter(chosen.iter().map(|&r| z[r])) * &factors));
            close(xd.t().dot(&zd).as_slice().unwrap(), xz.as_slice().unwrap());
        }
    }
}
