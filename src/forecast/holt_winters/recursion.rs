//! The smoothing recursion: its initial state, one pass over the data (the objective and the
//! recorded state) and the forecasts from later origins that carry it on.

use super::{FittedHoltWinters, Seasonality, Smoothing, Trend};
use crate::forecast::history::History;

/// The initial state (before the first step), in scaled units.
#[derive(Debug, Clone)]
pub(super) struct Init {
    pub(super) level: f64,
    pub(super) slope: f64,
    /// `m` values, `[j]` for phase `j` (step `j` of the history); empty without a season.
    pub(super) seasonal: Vec<f64>,
}

/// The state history of one pass, for the intervals: after step `t`, the level, the slope and
/// the season value written at `t`.
pub(super) struct Trace {
    pub(super) level: Vec<f64>,
    pub(super) slope: Vec<f64>,
    pub(super) season: Vec<f64>,
}

/// The result of one pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pass {
    pub(super) sse: f64,
    pub(super) level: f64,
    pub(super) slope: f64,
}

/// One pass of the recursion over `y` (scaled, `NaN` at gaps) from `init`, leaving the final
/// season in `ring` (`ring[j]` for phase `j mod m`). Returns an infinite SSE when a
/// multiplicative state leaves the positive numbers or anything overflows. Allocates nothing;
/// `trace` is written only when `RECORD`.
pub(super) fn run<const MULT: bool, const RECORD: bool>(
    y: &[f64],
    p: &Smoothing,
    init: &Init,
    ring: &mut [f64],
    trace: &mut Trace,
) -> Pass {
    let Smoothing {
        alpha, gamma, phi, ..
    } = *p;
    let ab = alpha * p.beta;
    let (mut l, mut b) = (init.level, if phi == 0.0 { 0.0 } else { init.slope });
    let m = ring.len();
    let seasonal = m > 0;
    if seasonal {
        ring.copy_from_slice(&init.seasonal);
    }
    let mut sse = 0.0;
    let mut j = 0;
    let infeasible = Pass {
        sse: f64::INFINITY,
        level: l,
        slope: b,
    };
    for (t, &yt) in y.iter().enumerate() {
        let s = if seasonal {
            ring[j]
        } else if MULT {
            1.0
        } else {
            0.0
        };
        let lp = l + phi * b;
        if MULT && !(lp > 0.0 && s > 0.0) {
            return infeasible;
        }
        if yt.is_nan() {
            l = lp;
            b *= phi;
        } else if MULT {
            let e = yt - lp * s;
            sse += e * e;
            let es = e / s;
            l = lp + alpha * es;
            b = phi * b + ab * es;
            if seasonal {
                ring[j] = s + gamma * e / lp;
            }
        } else {
            let e = yt - lp - s;
            sse += e * e;
            l = lp + alpha * e;
            b = phi * b + ab * e;
            if seasonal {
                ring[j] = s + gamma * e;
            }
        }
        if RECORD {
            trace.level[t] = l;
            trace.slope[t] = b;
            if seasonal {
                trace.season[t] = ring[j];
            }
        }
        if seasonal {
            j += 1;
            if j == m {
                j = 0;
            }
        }
    }
    if !(sse.is_finite() && l.is_finite() && b.is_finite()) {
        return infeasible;
    }
    Pass {
        sse,
        level: l,
        slope: b,
    }
}

/// [`run`] dispatched on the seasonality (multiplicative or not), without a trace.
pub(super) fn objective(
    y: &[f64],
    multiplicative: bool,
    p: &Smoothing,
    init: &Init,
    ring: &mut [f64],
) -> f64 {
    let mut none = Trace {
        level: Vec::new(),
        slope: Vec::new(),
        season: Vec::new(),
    };
    let pass = if multiplicative {
        run::<true, false>(y, p, init, ring, &mut none)
    } else {
        run::<false, false>(y, p, init, ring, &mut none)
    };
    pass.sse
}

/// The initial state from the first whole cycles of `head` (interpolated, scaled; at least two,
/// `head.len() / m` of them), as statsmodels' `heuristic` (Hyndman et al., *Forecasting with
/// Exponential Smoothing*, §2.6.1): the trend is the centred moving average over one cycle
/// (`2×m` when `m` is even), the season the values less (or over) that trend averaged per
/// phase over the cycles and centred, the level and slope the least-squares line through the
/// trend's first 10 values (placed at the start). `None` when a multiplicative season cannot be
/// formed (a trend value or a season that is not positive).
///
/// Measured against the earlier estimate from two cycles detrended by the line through their
/// means: the first values of the fitted form were noisier (a daily season at 1-minute steps is
/// 1,440 values, each from two samples) and, where the cycles' levels differ (a weekend among
/// them), the slope was the cycles' difference, from which the smoothing could not recover:
/// statsmodels' Holt-Winters scored 0.63 against our 0.82 (MASE) on a week of Google CPU.
pub(super) fn initial(head: &[f64], m: usize, mult: bool) -> Option<Init> {
    if m == 0 {
        // No season: the level at the first value, the slope over the first few values.
        let k = head.len().min(10);
        let first = *head.first()?;
        let slope = if k >= 2 {
            (head[k - 1] - first) / (k - 1) as f64
        } else {
            0.0
        };
        return Some(Init {
            level: first - slope,
            slope,
            seasonal: Vec::new(),
        });
    }
    let cycles = head.len() / m;
    if cycles < 2 {
        return None;
    }
    let y = &head[..cycles * m];
    let trend = centred_average(y, m);
    let mut seasonal = Vec::with_capacity(m);
    for j in 0..m {
        let (mut sum, mut count) = (0.0, 0usize);
        for t in (j..y.len()).step_by(m) {
            let Some(base) = trend[t] else { continue };
            sum += if mult {
                if base.is_nan() || base <= 0.0 {
                    return None;
                }
                y[t] / base
            } else {
                y[t] - base
            };
            count += 1;
        }
        // Two cycles or more: every phase has a trend value in at least one cycle.
        seasonal.push(sum / count.max(1) as f64);
    }
    let mean = seasonal.iter().sum::<f64>() / m as f64;
    if mult {
        if mean.is_nan() || mean <= 0.0 || seasonal.iter().any(|s| *s <= 0.0) {
            return None;
        }
        seasonal.iter_mut().for_each(|s| *s /= mean);
    } else {
        seasonal.iter_mut().for_each(|s| *s -= mean);
    }
    // The line through the trend's first values, taken as if at steps 1, 2, …: its value at
    // step 0 starts the level. (The trend starts half a cycle in; extrapolating a slope from
    // ten steps back over half a cycle would add its noise to the level, and the smoothing
    // absorbs the lag. statsmodels places it so.)
    let first: Vec<f64> = trend.iter().flatten().copied().take(10).collect();
    let k = first.len() as f64;
    let x_mean = (k + 1.0) / 2.0;
    let y_mean = first.iter().sum::<f64>() / k;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, v) in first.iter().enumerate() {
        let dx = i as f64 + 1.0 - x_mean;
        num += dx * (v - y_mean);
        den += dx * dx;
    }
    let slope = if den > 0.0 { num / den } else { 0.0 };
    Some(Init {
        level: y_mean - slope * x_mean,
        slope,
        seasonal,
    })
}

/// The centred moving average of `y` over `m` steps (for an even `m`, the mean of the two
/// averages straddling each step: a `2×m` average); `None` within half a cycle of either end.
fn centred_average(y: &[f64], m: usize) -> Vec<Option<f64>> {
    let n = y.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for v in y {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    // The mean of y[a..a + m].
    let window = |a: usize| (prefix[a + m] - prefix[a]) / m as f64;
    let half = m / 2;
    (0..n)
        .map(|t| {
            if t < half || t + half >= n {
                return None;
            }
            Some(if m.is_multiple_of(2) {
                (window(t - half) + window(t + 1 - half)) / 2.0
            } else {
                window(t - half)
            })
        })
        .collect()
}

/// The trend multipliers of the forecasts 1, 2, 3, … steps ahead: `φ`, `φ + φ²`,
/// `φ + φ² + φ³`, … (the slope's damped sum; 1, 2, 3, … for φ = 1, all 0 without a trend).
pub(super) fn damped(phi: f64) -> impl Iterator<Item = f64> {
    let (mut damp, mut power) = (0.0, 1.0);
    std::iter::repeat_with(move || {
        power *= phi;
        damp += power;
        damp
    })
}

impl FittedHoltWinters {
    /// The point forecast `h` steps after the origin (no clamping).
    pub(crate) fn point(&self, h: usize, damp: f64) -> f64 {
        let base = self.level + damp * self.slope;
        match self.seasonality {
            Seasonality::None => base,
            Seasonality::Additive => base + self.seasonal[h % self.seasonal.len()],
            Seasonality::Multiplicative => base * self.seasonal[h % self.seasonal.len()],
        }
    }

    /// The damping factor of the slope per step: 0 without a trend, 1 for an additive trend.
    pub(super) fn phi(&self) -> f64 {
        match self.trend {
            Trend::None => 0.0,
            Trend::Additive => 1.0,
            Trend::Damped => self.params.phi,
        }
    }

    /// Point forecasts from later origins with the fitted parameters kept, for `auto`'s
    /// holdout: the recursion continues from the state at the end of the training data over
    /// the steps of `history` after it, and each of `origins` (indices into `history`, at or
    /// after the training data's end) gets the forecasts of steps `origin..origin + len` (cut at
    /// the end of `history`) from the state built on the observations before it.
    pub(super) fn rolling_forecasts_from(
        &self,
        history: &History,
        origins: &[usize],
        len: usize,
    ) -> Vec<Vec<f64>> {
        let n = history.len();
        let split = self.training.points.min(n);
        let phi = self.phi();
        let (alpha, gamma) = (self.params.alpha, self.params.gamma);
        let ab = alpha * self.params.beta;
        let mult = self.seasonality == Seasonality::Multiplicative;
        let m = self.seasonal.len();
        // ring[j]: the season of steps `split + j (mod m)`.
        let mut ring = self.seasonal.clone();
        let (mut level, mut slope) = (self.level, self.slope);
        let mut order: Vec<(usize, usize)> = origins
            .iter()
            .enumerate()
            .map(|(k, &origin)| (origin.clamp(split, n), k))
            .collect();
        order.sort_unstable();
        let mut out = vec![Vec::new(); origins.len()];
        let mut next = 0;
        for t in split..=n {
            while let Some(&(origin, k)) = order.get(next).filter(|(o, _)| *o == t) {
                out[k] = (origin..origin.saturating_add(len).min(n))
                    .zip(damped(phi))
                    .map(|(i, damp)| {
                        let base = level + damp * slope;
                        match (m, mult) {
                            (0, _) => base,
                            (_, false) => base + ring[(i - split) % m],
                            (_, true) => base * ring[(i - split) % m],
                        }
                    })
                    .collect();
                next += 1;
            }
            let Some(&y) = history.values.get(t) else {
                break;
            };
            let j = if m > 0 { (t - split) % m } else { 0 };
            let season = if m == 0 {
                if mult { 1.0 } else { 0.0 }
            } else {
                ring[j]
            };
            let predicted = level + phi * slope;
            let feasible = !mult || (predicted > 0.0 && season > 0.0);
            if y.is_nan() || !feasible {
                level = predicted;
                slope *= phi;
            } else if mult {
                let e = y - predicted * season;
                level = predicted + alpha * e / season;
                slope = phi * slope + ab * e / season;
                if m > 0 {
                    ring[j] = season + gamma * e / predicted;
                }
            } else {
                let e = y - predicted - season;
                level = predicted + alpha * e;
                slope = phi * slope + ab * e;
                if m > 0 {
                    ring[j] = season + gamma * e;
                }
            }
        }
        out
    }
}
