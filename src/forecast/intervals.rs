//! Prediction intervals from a model's own forecast errors, per horizon step.
//!
//! Traffic errors are skewed and heavy-tailed (spikes, flash crowds), so intervals are not
//! assumed Gaussian: each family measures the errors its own `h`-step forecasts made on the
//! training data at a few *anchor* horizons and keeps, per anchor, the empirical error quantiles
//! at a fixed grid of levels (0.005 … 0.995). That table is small (a few hundred numbers), so a
//! fitted model stays small, and it answers any level in (0, 1) at predict time:
//! - between anchors, quantiles are interpolated linearly in the horizon;
//! - between grid levels, linearly in the normal score of the level (so the tails, where grid
//!   levels are close in probability but far in value, interpolate smoothly); beyond the grid
//!   (e.g. 0.999) the outermost slope is extended, never inwards.
//!
//! Each band is a function of its own level alone, whatever other levels the same call asks
//! for, and monotone in the level by construction: the table at a horizon is made
//! non-decreasing in the level (a running maximum, which leaves a table of order statistics as
//! it is), the interpolation in the level stays between the grid values around it and extends
//! outwards only, and every later step (adding the point forecast, nesting around it, clamping
//! at 0, back-transforming) is non-decreasing too, rounding included.

use serde::{Deserialize, Serialize};

use super::history::TrainingInfo;
use super::{Band, Forecast, ForecastError, json_exact_all};

/// The levels at which error quantiles are stored.
pub(crate) const GRID: [f64; 25] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65,
    0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 0.995,
];

/// Fewer errors than this at an anchor horizon are "thin": the anchor borrows (and widens) the
/// quantiles of the previous anchor instead of trusting a handful of points.
pub(crate) const MIN_ERRORS: usize = 30;

/// Empirical quantiles of forecast errors (actual − forecast) at a few anchor horizons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorQuantiles {
    /// Quantile levels, ascending, strictly inside (0, 1).
    levels: Vec<f64>,
    /// Anchor horizons in steps (0 = the first forecast step), ascending.
    horizons: Vec<usize>,
    /// `quantiles[a][l]`: the `levels[l]` error quantile at `horizons[a]`.
    quantiles: Vec<Vec<f64>>,
}

impl ErrorQuantiles {
    /// Every stored quantile, horizon by horizon.
    pub(crate) fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.quantiles.iter().flatten().copied()
    }

    /// Zero-width intervals (no errors were observed).
    pub(crate) fn zero() -> ErrorQuantiles {
        ErrorQuantiles {
            levels: GRID.to_vec(),
            horizons: vec![0],
            quantiles: vec![vec![0.0; GRID.len()]],
        }
    }

    /// Builds the table from the errors observed at each anchor horizon (ascending, distinct).
    ///
    /// An anchor with fewer than [`MIN_ERRORS`] errors takes the previous anchor's quantiles
    /// scaled by `widen(previous anchor, this anchor)` (a model-specific growth factor ≥ 1);
    /// a first anchor with thin data keeps what it has (zero width if it has nothing).
    pub(crate) fn from_errors(
        mut anchors: Vec<(usize, Vec<f64>)>,
        widen: impl Fn(usize, usize) -> f64,
    ) -> ErrorQuantiles {
        if anchors.is_empty() {
            return ErrorQuantiles::zero();
        }
        let mut horizons = Vec::with_capacity(anchors.len());
        let mut quantiles: Vec<Vec<f64>> = Vec::with_capacity(anchors.len());
        for (h, errors) in anchors.iter_mut() {
            let row = match quantiles.last() {
                Some(previous) if errors.len() < MIN_ERRORS => {
                    let previous_h = horizons.last().copied().unwrap_or(0);
                    let factor = widen(previous_h, *h).max(1.0);
                    previous.iter().map(|q| q * factor).collect()
                }
                _ => empirical_quantiles(errors, &GRID),
            };
            horizons.push(*h);
            quantiles.push(row);
        }
        ErrorQuantiles {
            levels: GRID.to_vec(),
            horizons,
            quantiles,
        }
    }

    /// Each anchor horizon's median error: `(horizon, median)`.
    pub(crate) fn medians(&self) -> Vec<(usize, f64)> {
        let Some(at) = self.levels.iter().position(|&l| l == 0.5) else {
            return Vec::new();
        };
        self.horizons
            .iter()
            .zip(&self.quantiles)
            .map(|(&h, row)| (h, row[at]))
            .collect()
    }

    /// Multiplies every quantile by `factor` (e.g. a degrees-of-freedom correction).
    pub(crate) fn scale(&mut self, factor: f64) {
        if factor.is_finite() && factor > 0.0 {
            for row in &mut self.quantiles {
                for q in row {
                    *q *= factor;
                }
            }
        }
    }

    /// Rounds every stored number so that it survives JSON exactly ([`super::json_exact`]).
    pub(crate) fn round_for_json(&mut self) {
        json_exact_all(&mut self.levels);
        for row in &mut self.quantiles {
            json_exact_all(row);
        }
    }

    /// Whether every stored number is finite (a model holding NaN or infinity cannot be saved).
    pub(crate) fn is_finite(&self) -> bool {
        self.quantiles.iter().flatten().all(|q| q.is_finite())
    }

    /// Checks the shape of a table read from a model file.
    pub(crate) fn validate(&self) -> Result<(), ForecastError> {
        let corrupt = |what: &str| Err(ForecastError::Fit(format!("corrupt model: {what}")));
        if self.levels.is_empty() || self.horizons.is_empty() {
            return corrupt("empty error quantile table");
        }
        if self.quantiles.len() != self.horizons.len()
            || self
                .quantiles
                .iter()
                .any(|row| row.len() != self.levels.len())
        {
            return corrupt("error quantile table has inconsistent sizes");
        }
        if !self.levels.windows(2).all(|w| w[0] < w[1])
            || !self.levels.iter().all(|l| *l > 0.0 && *l < 1.0)
        {
            return corrupt("error quantile levels must increase strictly within (0, 1)");
        }
        if !self.horizons.windows(2).all(|w| w[0] < w[1]) {
            return corrupt("error quantile horizons must increase strictly");
        }
        if !self.is_finite() {
            return corrupt("non-finite error quantile");
        }
        Ok(())
    }

    /// The stored quantiles at horizon `h`, one per grid level, into `row`: interpolated
    /// linearly between the anchor horizons around `h` (the first anchor's before it, the last
    /// one's after it), then made non-decreasing in the level by a running maximum. Assumes
    /// [`ErrorQuantiles::validate`] passed.
    fn row_at(&self, h: usize, row: &mut Vec<f64>) {
        row.clear();
        let after = self.horizons.partition_point(|&a| a <= h);
        if after == 0 || after >= self.horizons.len() {
            let anchor = after.min(self.horizons.len()).saturating_sub(1);
            row.extend(self.quantiles.get(anchor).into_iter().flatten());
        } else {
            let (h0, h1) = (self.horizons[after - 1], self.horizons[after]);
            let w = (h - h0) as f64 / (h1 - h0) as f64;
            let (q0, q1) = (&self.quantiles[after - 1], &self.quantiles[after]);
            row.extend(q0.iter().zip(q1).map(|(a, b)| a + (b - a) * w));
        }
        // (Only a value below an earlier one changes: stored values are kept to the bit.)
        let mut highest = f64::NEG_INFINITY;
        for q in row.iter_mut() {
            if *q < highest {
                *q = highest;
            } else {
                highest = *q;
            }
        }
    }

    /// `probit` of the stored levels, computed once per call of [`bands`].
    fn grid(&self) -> Vec<f64> {
        self.levels.iter().map(|l| probit(*l)).collect()
    }

    /// The `level` error quantile `h` steps ahead, `z = probit(level)` ([`bands`] computes the
    /// row once per horizon instead).
    #[cfg(test)]
    fn quantile(&self, h: usize, z: f64, grid: &[f64]) -> f64 {
        let mut row = Vec::new();
        self.row_at(h, &mut row);
        row_quantile(&row, z, grid)
    }
}

/// The quantile at normal score `z` of a `row` of quantiles at the `grid` scores, non-decreasing
/// (as [`ErrorQuantiles::row_at`] makes it), interpolated linearly in `z`: between two grid
/// scores the value stays between theirs; beyond the grid the outermost slope is extended
/// outwards (never towards the centre). Non-decreasing in `z`, rounding included.
fn row_quantile(row: &[f64], z: f64, grid: &[f64]) -> f64 {
    let n = row.len().min(grid.len());
    if n == 0 {
        return 0.0;
    }
    if n == 1 {
        return row[0];
    }
    let (lo, hi) = if z <= grid[0] {
        (0, 1)
    } else if z >= grid[n - 1] {
        (n - 2, n - 1)
    } else {
        let i = grid[..n].partition_point(|g| *g <= z);
        (i - 1, i)
    };
    let (z0, z1) = (grid[lo], grid[hi]);
    let slope = if z1 > z0 {
        ((row[hi] - row[lo]) / (z1 - z0)).max(0.0)
    } else {
        0.0
    };
    if z <= z0 {
        row[lo] + slope * (z - z0)
    } else if z >= z1 && hi == n - 1 {
        row[hi] + slope * (z - z1)
    } else {
        // Rounding must not carry the value past the next grid value.
        (row[lo] + slope * (z - z0)).min(row[hi])
    }
}

/// The forecast from `training`'s origin on its grid: `yhat` with [`bands`] around it from
/// `errors`, clamped at 0 when the training data was non-negative.
pub(crate) fn forecast(
    training: &TrainingInfo,
    mut yhat: Vec<f64>,
    levels: &[f64],
    errors: &ErrorQuantiles,
    effective_h: impl Fn(usize) -> usize,
) -> Forecast {
    let bands = bands(&mut yhat, levels, errors, effective_h, training.nonnegative);
    Forecast {
        start: training.origin,
        step: training.step,
        yhat,
        bands,
    }
}

/// Builds one band per level around `yhat`: `yhat[h] + error quantile(h, level)`, nested around
/// `yhat` (levels below ½ at most `yhat`, above ½ at least), clamped at 0 from below when
/// `nonnegative` (the point forecast is clamped too). Each band depends on its own level only,
/// and a higher level's band is never below a lower one's.
/// `effective_h(h)` maps a forecast step to the horizon the errors were measured at.
pub(crate) fn bands(
    yhat: &mut [f64],
    levels: &[f64],
    errors: &ErrorQuantiles,
    effective_h: impl Fn(usize) -> usize,
    nonnegative: bool,
) -> Vec<Band> {
    bands_scaled(yhat, levels, errors, effective_h, |_, _| 1.0, nonnegative)
}

/// The band value `v` at `level` nested around the point forecast `y`: a lower band (under 0.5)
/// no higher than it, an upper one (over 0.5) no lower. A biased error distribution (its 10 %
/// quantile above zero, say) must not put a lower band above the point.
pub(crate) fn nested(level: f64, v: f64, y: f64) -> f64 {
    if level < 0.5 {
        v.min(y)
    } else if level > 0.5 {
        v.max(y)
    } else {
        v
    }
}

/// [`bands`] for errors measured relative to a scale: `yhat[h] + scale(h, yhat[h]) · error
/// quantile(h, level)` (e.g. errors divided by the level they were made at, so that a band
/// follows the forecast's level; `auto`'s conformal intervals). `scale` must be positive.
pub(crate) fn bands_scaled(
    yhat: &mut [f64],
    levels: &[f64],
    errors: &ErrorQuantiles,
    effective_h: impl Fn(usize) -> usize,
    scale: impl Fn(usize, f64) -> f64,
    nonnegative: bool,
) -> Vec<Band> {
    let zs: Vec<f64> = levels.iter().map(|l| probit(*l)).collect();
    let grid = errors.grid();
    let mut values = vec![Vec::with_capacity(yhat.len()); levels.len()];
    // The table at the current effective horizon (consecutive steps often share one).
    let (mut row, mut row_h) = (Vec::with_capacity(grid.len()), None);
    for (h, y) in yhat.iter_mut().enumerate() {
        let eh = effective_h(h);
        if row_h != Some(eh) {
            errors.row_at(eh, &mut row);
            row_h = Some(eh);
        }
        let s = scale(h, *y);
        for ((&level, &z), band) in levels.iter().zip(&zs).zip(&mut values) {
            let mut v = nested(level, *y + s * row_quantile(&row, z, &grid), *y);
            if nonnegative {
                v = v.max(0.0);
            }
            band.push(v);
        }
        if nonnegative {
            *y = y.max(0.0);
        }
    }
    levels
        .iter()
        .zip(values)
        .map(|(&level, values)| Band { level, values })
        .collect()
}

/// Empirical quantiles of `errors` at `levels`: linear interpolation between order statistics
/// at position `level · (n + 1)` ("type 6", clamped to the sample), whose expected coverage is
/// exactly `level` for exchangeable errors — what a conformal interval needs. The common "type
/// 7" (`level · (n − 1) + 1`) is too narrow for a small sample: from 48 holdout errors (a day
/// of 30-minute steps) its 95 % band covers about 93 %. Reorders `errors`; all zeros for no
/// errors.
///
/// Only the order statistics needed are found (selection, divide and conquer over the
/// positions), not a full sort: this runs for every anchor horizon of every fit.
pub(crate) fn empirical_quantiles(errors: &mut [f64], levels: &[f64]) -> Vec<f64> {
    if errors.is_empty() {
        return vec![0.0; levels.len()];
    }
    let n = errors.len() as f64;
    let positions: Vec<f64> = levels
        .iter()
        .map(|l| (l.clamp(0.0, 1.0) * (n + 1.0) - 1.0).clamp(0.0, n - 1.0))
        .collect();
    let mut wanted: Vec<usize> = positions
        .iter()
        .flat_map(|p| [p.floor() as usize, p.ceil() as usize])
        .map(|i| i.min(errors.len() - 1))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    select_all(errors, 0, &wanted);
    positions
        .iter()
        .map(|&pos| {
            let lo = (pos.floor() as usize).min(errors.len() - 1);
            let hi = (pos.ceil() as usize).min(errors.len() - 1);
            let (a, b) = (errors[lo], errors[hi]);
            a + (b - a) * (pos - lo as f64)
        })
        .collect()
}

/// Puts the order statistics at the (sorted, absolute) indices `wanted` in place, where
/// `values` starts at absolute index `offset`.
fn select_all(values: &mut [f64], offset: usize, wanted: &[usize]) {
    if wanted.is_empty() || values.is_empty() {
        return;
    }
    let mid = wanted.len() / 2;
    let k = wanted[mid] - offset;
    if k >= values.len() {
        return;
    }
    let (left, _, right) = values.select_nth_unstable_by(k, f64::total_cmp);
    select_all(left, offset, &wanted[..mid]);
    select_all(right, offset + k + 1, &wanted[mid + 1..]);
}

/// The standard normal quantile function (Acklam's rational approximation, relative error
/// below 1.2e-9), used only to space quantile levels, so that precision is ample.
pub(crate) fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let p = p.clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON / 2.0);
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probit_matches_known_values() {
        assert!(probit(0.5).abs() < 1e-9);
        assert!((probit(0.975) - 1.959_963_985).abs() < 1e-6);
        assert!((probit(0.025) + 1.959_963_985).abs() < 1e-6);
        assert!((probit(0.995) - 2.575_829_304).abs() < 1e-6);
        assert!(probit(1e-300).is_finite());
        let mut previous = f64::NEG_INFINITY;
        for i in 1..10_000 {
            let z = probit(i as f64 / 10_000.0);
            assert!(z >= previous);
            previous = z;
        }
    }

    #[test]
    fn empirical_quantiles_interpolate() {
        let mut errors = vec![4.0, 1.0, 3.0, 2.0, 5.0];
        // Type 6: position level·(n + 1), from 1, clamped to the sample.
        let q = empirical_quantiles(&mut errors, &[0.0, 0.25, 0.5, 1.0]);
        assert_eq!(q, vec![1.0, 1.5, 3.0, 5.0]);
        assert_eq!(empirical_quantiles(&mut [], &[0.5]), vec![0.0]);
        let mut errors = vec![7.0];
        assert_eq!(
            empirical_quantiles(&mut errors, &[0.1, 0.9]),
            vec![7.0, 7.0]
        );
    }

    #[test]
    fn selection_matches_a_full_sort() {
        let mut state = 1u64;
        for n in [2usize, 3, 10, 97, 1000, 4321] {
            let mut errors: Vec<f64> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((state >> 20) % 1000) as f64 - 500.0
                })
                .collect();
            let mut sorted = errors.clone();
            sorted.sort_by(f64::total_cmp);
            let expected: Vec<f64> = GRID
                .iter()
                .map(|l| {
                    let pos = (l * (n + 1) as f64 - 1.0).clamp(0.0, (n - 1) as f64);
                    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
                })
                .collect();
            assert_eq!(empirical_quantiles(&mut errors, &GRID), expected);
        }
    }

    #[test]
    fn quantiles_answer_any_level_monotonically() {
        let errors: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) / 10.0).collect();
        let table =
            ErrorQuantiles::from_errors(vec![(0, errors.clone()), (10, errors)], |_, _| 1.0);
        table.validate().unwrap();
        let mut previous = f64::NEG_INFINITY;
        for i in 1..1000 {
            let level = i as f64 / 1000.0;
            let q = table.quantile(5, probit(level), &table.grid());
            assert!(q >= previous, "level {level}: {q} < {previous}");
            previous = q;
        }
        assert!(table.quantile(3, 0.0, &table.grid()).abs() < 0.1);
        // Beyond the grid the tail keeps widening.
        let grid = table.grid();
        assert!(table.quantile(0, probit(0.9999), &grid) > table.quantile(0, probit(0.995), &grid));
        assert!(table.quantile(0, probit(0.0001), &grid) < table.quantile(0, probit(0.005), &grid));
    }

    #[test]
    fn quantiles_are_monotone_in_the_level_even_for_a_disordered_table() {
        // Rows as no sample gives them (a dip, a plateau, values an ulp apart), and a next
        // anchor whose row crosses the first one: every horizon's quantile stays monotone in z,
        // across grid values and beyond the grid.
        let mut first: Vec<f64> = GRID.iter().map(|l| 10.0 * (l - 0.5)).collect();
        first[7] = first[9] + 1.0;
        first[12] = first[11];
        first[13] = first[12].next_up();
        let second: Vec<f64> = first.iter().rev().map(|q| -2.0 * q + 0.3).collect();
        let table = ErrorQuantiles {
            levels: GRID.to_vec(),
            horizons: vec![0, 7],
            quantiles: vec![first, second],
        };
        table.validate().unwrap();
        let grid = table.grid();
        for h in 0..10 {
            let mut previous = f64::NEG_INFINITY;
            for i in 1..20_000 {
                let z = -4.0 + 8.0 * i as f64 / 20_000.0;
                let q = table.quantile(h, z, &grid);
                assert!(q >= previous, "h {h}, z {z}: {q} < {previous}");
                previous = q;
            }
            for &g in &grid {
                let q = table.quantile(h, g, &grid);
                let below = table.quantile(h, g.next_down(), &grid);
                assert!(below <= q, "h {h} at the grid value {g}");
            }
        }
    }

    #[test]
    fn a_band_depends_on_its_own_level_only() {
        let errors: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64 - 40.0).collect();
        let short: Vec<f64> = errors.iter().take(20).map(|e| 3.0 * e).collect();
        let table =
            ErrorQuantiles::from_errors(vec![(0, errors), (6, short)], |a, b| (b - a) as f64);
        let band = |levels: &[f64], level: f64| {
            let mut yhat = vec![5.0, -2.0, 0.0, 30.0, 1.0, 7.0, 8.0, 9.0];
            let bands = bands_scaled(&mut yhat, levels, &table, |h| h, |_, y| 1.0 + y.abs(), true);
            bands.into_iter().find(|b| b.level == level).unwrap().values
        };
        for level in [0.9, 0.93, 0.5, 0.004] {
            let alone = band(&[level], level);
            assert_eq!(alone, band(&[0.1, level, 0.975], level));
            assert_eq!(alone, band(&[0.975, level, 0.025, 0.1, 0.9, 0.999], level));
        }
    }

    #[test]
    fn thin_anchors_borrow_and_widen() {
        let errors: Vec<f64> = (0..100).map(|i| i as f64 - 50.0).collect();
        let table = ErrorQuantiles::from_errors(vec![(0, errors), (4, vec![1.0])], |a, b| {
            ((b + 1) as f64 / (a + 1) as f64).sqrt()
        });
        let z = probit(0.9);
        let grid = table.grid();
        let ratio = table.quantile(4, z, &grid) / table.quantile(0, z, &grid);
        assert!((ratio - 5f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn bands_are_monotone_and_clamped() {
        let errors: Vec<f64> = (0..200).map(|i| i as f64 - 100.0).collect();
        let table = ErrorQuantiles::from_errors(vec![(0, errors)], |_, _| 1.0);
        let mut yhat = vec![10.0, -5.0];
        let levels = [0.9, 0.1, 0.5, 0.99];
        let bands = bands(&mut yhat, &levels, &table, |h| h, true);
        assert_eq!(yhat, vec![10.0, 0.0]);
        for h in 0..2 {
            assert!(bands[1].values[h] <= bands[2].values[h]);
            assert!(bands[2].values[h] <= bands[0].values[h]);
            assert!(bands[0].values[h] <= bands[3].values[h]);
            assert!(bands.iter().all(|b| b.values[h] >= 0.0));
        }
    }
}
