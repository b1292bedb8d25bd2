//! The short-horizon correction: an AR(p) fitted on the residuals, kept stable, its state and
//! its forecasts.

use ndarray::{Array2, s};

use super::solve::{dot, solve};

/// The residual autoregression's roots are kept within this radius.
pub(super) const MAX_ROOT: f64 = 0.99;
/// Residuals are clipped at this many robust standard deviations (1.4826 · MAD) before the
/// AR is fitted to them.
const AR_CLIP: f64 = 3.0;

/// An AR(p) on the residuals, p ≤ `max_order` chosen by AIC, fitted by least squares (no
/// intercept: the residuals are centred by the regression) to the residuals clipped at
/// [`AR_CLIP`] robust scales, on every residual whose predecessors up to the largest order tried
/// are observed, so gaps are skipped, never filled. The largest order tried is the largest
/// (at most `max_order`) for which the runs of observations hold 10 such windows per
/// coefficient: a history with nightly gaps gets a lower order, not none. `scale` is the
/// residuals' robust scale ([`robust_scale`](super::robust::robust_scale), which the fit has
/// taken for the shift already). Empty when no order beats white noise or the data is too thin.
pub(super) fn fit_ar(residuals: &[f64], scale: f64, max_order: usize) -> Vec<f64> {
    // The orders tried are those the data can support: at least 10 windows per coefficient
    // (a short history lowers the largest order tried rather than losing the correction).
    // A window needs its `q` predecessors in the same run of observations, so the runs decide:
    // an office's 40 quarter-hours a day leave 16 windows a day for 24 lags, none for 40.
    let runs: Vec<usize> = residuals
        .split(|r| r.is_nan())
        .map(<[f64]>::len)
        .filter(|&len| len > 0)
        .collect();
    let windows = |q: usize| -> usize { runs.iter().map(|&len| len.saturating_sub(q)).sum() };
    let Some(q) = (1..=max_order).rev().find(|&q| windows(q) >= 10 * (q + 1)) else {
        return Vec::new();
    };
    // Bounded influence: a flash crowd is a few residuals tens of scales out, and least squares
    // would fit the AR to its shape; clipped at AR_CLIP robust scales, it counts as a large
    // deviation, not as the dynamics. (The state a forecast starts from is not clipped.)
    let bound = AR_CLIP * scale;
    // No scale (most residuals 0, or none observed): nothing to clip.
    let bound = if bound > 0.0 { bound } else { f64::INFINITY };
    let clipped: Vec<f64> = residuals.iter().map(|r| r.clamp(-bound, bound)).collect();
    let residuals = &clipped[..];
    // Cross-products Σ r_{t−a}·r_{t−b} (0 ≤ a ≤ b ≤ q) over the complete windows, run by run
    // of consecutive observations.
    let mut m = Array2::<f64>::zeros((q + 1, q + 1));
    let mut count = 0usize;
    for run in residuals.split(|r| r.is_nan()) {
        if run.len() <= q {
            continue;
        }
        lagged_cross_products(run, q, &mut m);
        count += run.len() - q;
    }
    if count < 10 * (q + 1)
        || m[(0, 0)].is_nan()
        || m[(0, 0)] <= 0.0
        || !m.iter().all(|v| v.is_finite())
    {
        return Vec::new();
    }
    for a in 0..=q {
        for b in 0..a {
            m[(a, b)] = m[(b, a)];
        }
    }
    let n = count as f64;
    let mut best = (n * (m[(0, 0)] / n).ln(), Vec::new());
    for k in 1..=q {
        let gram = m.slice(s![1..=k, 1..=k]);
        let rhs = m.slice(s![1..=k, 0]);
        let ridge = 1e-10 * (0..k).map(|i| gram[(i, i)]).sum::<f64>() / k as f64;
        let Ok(phi) = solve(gram, rhs, ridge) else {
            continue;
        };
        let rss = m[(0, 0)] - phi.dot(&rhs);
        if rss.is_nan() || rss <= 0.0 {
            continue;
        }
        let aic = n * (rss / n).ln() + 2.0 * k as f64;
        if aic < best.0 {
            best = (aic, phi.to_vec());
        }
    }
    stabilize(best.1)
}

/// Adds `Σ r[t−a]·r[t−b]` over the complete windows `t = q … len − 1` of one run to `m[(a, b)]`,
/// for `0 ≤ a ≤ b ≤ q`. The sum for `(a, b)` is the run's lag-`(b − a)` product sum less its
/// first `q − b` and last `a` terms, so a long run costs `q + 1` dot products plus `O(q³)`
/// edge terms instead of `(q + 1)(q + 2)/2` dot products; a short run is summed directly.
pub(super) fn lagged_cross_products(run: &[f64], q: usize, m: &mut Array2<f64>) {
    let len = run.len();
    let windows = len - q;
    if windows <= 4 * (q + 1) * (q + 1) {
        for a in 0..=q {
            for b in a..=q {
                m[(a, b)] += dot(&run[q - a..q - a + windows], &run[q - b..q - b + windows]);
            }
        }
        return;
    }
    let lag_sums: Vec<f64> = (0..=q).map(|d| dot(&run[..len - d], &run[d..])).collect();
    for a in 0..=q {
        for b in a..=q {
            let d = b - a;
            let head: f64 = (0..q - b).map(|u| run[u] * run[u + d]).sum();
            let tail: f64 = (len - b..len - d).map(|u| run[u] * run[u + d]).sum();
            m[(a, b)] += lag_sums[d] - head - tail;
        }
    }
}

/// Shrinks the AR's roots inside [`MAX_ROOT`] (`φⱼ → φⱼ·γʲ` scales every root by γ), so its
/// forecasts always decay to zero. The spectral radius is estimated from the growth of the
/// companion recursion over many steps.
pub(super) fn stabilize(mut ar: Vec<f64>) -> Vec<f64> {
    for _ in 0..3 {
        let radius = spectral_radius(&ar);
        if !radius.is_finite() {
            return Vec::new();
        }
        if radius <= MAX_ROOT {
            return ar;
        }
        let gamma = MAX_ROOT / radius * 0.999;
        let mut g = 1.0;
        for phi in &mut ar {
            g *= gamma;
            *phi *= g;
        }
    }
    if spectral_radius(&ar) <= MAX_ROOT {
        ar
    } else {
        Vec::new()
    }
}

/// The spectral radius of the AR's companion matrix, from the growth rate of its recursion.
pub(super) fn spectral_radius(ar: &[f64]) -> f64 {
    const STEPS: usize = 2000;
    /// Steps between renormalizations (growth over them stays far inside f64's range for any
    /// radius this is asked about; an overflow reads as an infinite radius).
    const RESCALE: usize = 25;
    if ar.is_empty() {
        return 0.0;
    }
    if ar.len() == 1 {
        return ar[0].abs();
    }
    let p = ar.len();
    // The recursion runs forward in one buffer, oldest value first, so that each step is one
    // dot product of the coefficients (reversed) with the last p values.
    let reversed: Vec<f64> = ar.iter().rev().copied().collect();
    let mut x: Vec<f64> = Vec::with_capacity(STEPS + p);
    // An arbitrary start that excites every root.
    x.extend((0..p).rev().map(|i| 1.0 / (i + 1) as f64));
    // ln of the size of the last p values, the scale divided out so far included.
    let mut log_scale = 0.0;
    let mut log_half = 0.0;
    for step in 1..=STEPS {
        let t = x.len();
        x.push(dot(&reversed, &x[t - p..t]));
        if step % RESCALE == 0 || step == STEPS / 2 || step == STEPS {
            let t = x.len();
            let window = &mut x[t - p..];
            let norm = window.iter().map(|s| s.abs()).fold(0.0, f64::max);
            if norm == 0.0 || !norm.is_finite() {
                return if norm == 0.0 { 0.0 } else { f64::INFINITY };
            }
            for s in window.iter_mut() {
                *s /= norm;
            }
            log_scale += norm.ln();
            if step == STEPS / 2 {
                log_half = log_scale;
            }
        }
    }
    ((log_scale - log_half) / (STEPS - STEPS / 2) as f64).exp()
}

/// The AR state (the last p residuals, most recent first) at the last observed value of
/// `residuals`; missing values inside it are filled by the AR's own one-step forecasts, values
/// before the window count as 0 (the residuals' mean).
pub(super) fn state_at(ar: &[f64], residuals: &[f64]) -> Vec<f64> {
    let p = ar.len();
    if p == 0 {
        return Vec::new();
    }
    let Some(last) = residuals.iter().rposition(|v| !v.is_nan()) else {
        return vec![0.0; p];
    };
    let from = last.saturating_sub(4 * p);
    let mut filled: Vec<f64> = Vec::with_capacity(last + 1 - from);
    for &v in &residuals[from..=last] {
        let x = if v.is_nan() {
            ar.iter()
                .enumerate()
                .map(|(j, a)| a * filled.len().checked_sub(j + 1).map_or(0.0, |i| filled[i]))
                .sum()
        } else {
            v
        };
        filled.push(x);
    }
    (0..p)
        .map(|j| filled.len().checked_sub(j + 1).map_or(0.0, |i| filled[i]))
        .collect()
}

/// The AR's forecasts 1, 2, … steps after its state, at most `steps` of them: shorter when the
/// rest is negligible (every later value is then 0).
pub(super) fn ar_path(ar: &[f64], state: &[f64], steps: usize) -> Vec<f64> {
    let p = ar.len();
    if p == 0 || state.len() != p {
        return Vec::new();
    }
    let size = state.iter().fold(0.0f64, |m, s| m.max(s.abs()));
    let mut window: Vec<f64> = state.to_vec();
    let mut path = Vec::new();
    while path.len() < steps {
        let next: f64 = ar.iter().zip(&window).map(|(a, s)| a * s).sum();
        window.rotate_right(1);
        window[0] = next;
        path.push(next);
        if window.iter().all(|w| w.abs() <= 1e-12 * size) {
            break;
        }
    }
    path
}

/// `c[d]` such that the AR's forecast `d + 1` steps after its state `s` is `c[d] · s`, for
/// `d < count` — fewer once `p` rows in a row are negligible (`Σ|c[d]| ≤ 1e-12`: every later
/// forecast is then 0 to within 1e-12 of the state).
pub(super) fn lead_coefficients(ar: &[f64], count: usize) -> Vec<Vec<f64>> {
    let p = ar.len();
    // history[i]: coefficients of value i − p + 1 relative to the state (state[0] = index p − 1).
    let mut history: Vec<Vec<f64>> = (0..p)
        .map(|i| {
            let mut e = vec![0.0; p];
            e[p - 1 - i] = 1.0;
            e
        })
        .collect();
    let mut negligible = 0;
    for _ in 0..count {
        let len = history.len();
        let mut c = vec![0.0; p];
        for (j, a) in ar.iter().enumerate() {
            for (ci, hi) in c.iter_mut().zip(&history[len - 1 - j]) {
                *ci += a * hi;
            }
        }
        negligible = if c.iter().map(|v| v.abs()).sum::<f64>() <= 1e-12 {
            negligible + 1
        } else {
            0
        };
        history.push(c);
        if negligible >= p {
            break;
        }
    }
    history.split_off(p)
}
