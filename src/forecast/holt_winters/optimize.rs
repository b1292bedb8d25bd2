//! The model forms and their smoothing parameters: the bounded parameter space, the Nelder-Mead
//! simplex and the fit of one form by it.

use super::recursion::{Init, objective};
use super::{Seasonality, Smoothing, Trend};

/// The box of α, β and γ.
const BOUND_LO: f64 = 1e-4;
const BOUND_HI: f64 = 0.9999;
/// The range of a damped trend's φ.
pub(super) const PHI_LO: f64 = 0.8;
pub(super) const PHI_HI: f64 = 0.98;
/// Evaluations of the objective per Nelder-Mead run, per parameter.
const EVALS_PER_DIM: usize = 50;

/// One model form to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Form {
    pub(super) seasonality: Seasonality,
    pub(super) trend: Trend,
}

impl Form {
    /// Free parameters, in the order of the optimiser's vector: α, then β, g, φ when present.
    pub(super) fn dims(self) -> usize {
        1 + usize::from(self.trend != Trend::None)
            + usize::from(self.seasonality != Seasonality::None)
            + usize::from(self.trend == Trend::Damped)
    }

    /// Parameters fitted plus initial states, for the AIC.
    pub(super) fn k(self, m: usize) -> usize {
        let states = 1
            + usize::from(self.trend != Trend::None)
            + if self.seasonality == Seasonality::None {
                0
            } else {
                m
            };
        self.dims() + states
    }

    /// The parameters at point `u` of the unbounded space.
    pub(super) fn params(self, u: &[f64; 4]) -> Smoothing {
        let squash = |x: f64, lo: f64, hi: f64| lo + (hi - lo) / (1.0 + (-x).exp());
        let mut i = 0;
        let mut next = || {
            let v = u[i];
            i += 1;
            v
        };
        let alpha = squash(next(), BOUND_LO, BOUND_HI);
        let beta = if self.trend == Trend::None {
            0.0
        } else {
            squash(next(), BOUND_LO, BOUND_HI)
        };
        let gamma = if self.seasonality == Seasonality::None {
            0.0
        } else {
            squash(next(), BOUND_LO, BOUND_HI)
        };
        let phi = match self.trend {
            Trend::None => 0.0,
            Trend::Additive => 1.0,
            Trend::Damped => squash(next(), PHI_LO, PHI_HI),
        };
        Smoothing {
            alpha,
            beta,
            gamma,
            phi,
        }
    }

    /// The point of the unbounded space for natural parameters (α, β, γ, φ).
    pub(super) fn unsquash(self, alpha: f64, beta: f64, g: f64, phi: f64) -> [f64; 4] {
        let logit = |x: f64, lo: f64, hi: f64| {
            let p = ((x - lo) / (hi - lo)).clamp(1e-6, 1.0 - 1e-6);
            (p / (1.0 - p)).ln()
        };
        let mut u = [0.0; 4];
        let mut i = 0;
        u[i] = logit(alpha, BOUND_LO, BOUND_HI);
        i += 1;
        if self.trend != Trend::None {
            u[i] = logit(beta, BOUND_LO, BOUND_HI);
            i += 1;
        }
        if self.seasonality != Seasonality::None {
            u[i] = logit(g, BOUND_LO, BOUND_HI);
            i += 1;
        }
        if self.trend == Trend::Damped {
            u[i] = logit(phi, PHI_LO, PHI_HI);
        }
        u
    }
}

/// Nelder-Mead over the first `dims` coordinates from `start` (initial simplex: `start` and
/// `start + step` along each axis), at most `max_evals` evaluations. Returns the best point
/// and value.
fn nelder_mead(
    f: &mut impl FnMut(&[f64; 4]) -> f64,
    start: [f64; 4],
    dims: usize,
    max_evals: usize,
    step: f64,
) -> ([f64; 4], f64) {
    // Converged when the simplex's values agree to 1e-5 (relative: a forecast cannot tell them
    // apart) or its vertices to 1e-3 in the transformed space.
    const FTOL: f64 = 1e-5;
    const XTOL: f64 = 1e-3;
    let n = dims;
    let mut simplex = [[0.0; 4]; 5];
    let mut values = [0.0; 5];
    for (i, vertex) in simplex.iter_mut().enumerate().take(n + 1) {
        *vertex = start;
        if i > 0 {
            vertex[i - 1] += step;
        }
    }
    let mut evals = 0;
    for i in 0..=n {
        values[i] = f(&simplex[i]);
        evals += 1;
    }
    let mut order = [0usize, 1, 2, 3, 4];
    loop {
        let idx = &mut order[..=n];
        idx.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
        let (best, worst, second) = (idx[0], idx[n], idx[n - 1]);
        let spread = (values[worst] - values[best]).abs();
        let size = (0..=n)
            .flat_map(|i| (0..n).map(move |d| (i, d)))
            .map(|(i, d)| (simplex[i][d] - simplex[best][d]).abs())
            .fold(0.0, f64::max);
        if evals >= max_evals || spread <= FTOL * values[best].abs() + 1e-300 || size <= XTOL {
            return (simplex[best], values[best]);
        }
        let mut centroid = [0.0; 4];
        for &i in &idx[..n] {
            for d in 0..n {
                centroid[d] += simplex[i][d] / n as f64;
            }
        }
        let point = |coef: f64| {
            let mut x = [0.0; 4];
            for d in 0..n {
                x[d] = centroid[d] + coef * (simplex[worst][d] - centroid[d]);
            }
            x
        };
        let reflected = point(-1.0);
        let fr = f(&reflected);
        evals += 1;
        if fr < values[best] {
            let expanded = point(-2.0);
            let fe = f(&expanded);
            evals += 1;
            if fe < fr {
                (simplex[worst], values[worst]) = (expanded, fe);
            } else {
                (simplex[worst], values[worst]) = (reflected, fr);
            }
        } else if fr < values[second] {
            (simplex[worst], values[worst]) = (reflected, fr);
        } else {
            let contracted = if fr < values[worst] {
                point(-0.5)
            } else {
                point(0.5)
            };
            let fc = f(&contracted);
            evals += 1;
            if fc < values[worst].min(fr) {
                (simplex[worst], values[worst]) = (contracted, fc);
            } else {
                // Shrink towards the best vertex.
                let keep = simplex[best];
                for i in 0..=n {
                    if i != best {
                        for d in 0..n {
                            simplex[i][d] = keep[d] + 0.5 * (simplex[i][d] - keep[d]);
                        }
                        values[i] = f(&simplex[i]);
                        evals += 1;
                    }
                }
            }
        }
    }
}

/// A fitted form: its parameters, SSE and AIC.
pub(super) struct Candidate {
    pub(super) form: Form,
    pub(super) params: Smoothing,
    pub(super) init: Init,
    pub(super) sse: f64,
    pub(super) aic: f64,
}

/// Fits the parameters of `form` on `y` (scaled). Cold (`warm = None`): from a middling start,
/// then once more from the best point with a fresh simplex (which escapes a collapsed one).
/// Warm: from the parameters of a related form already fitted, one run with a smaller simplex.
pub(super) fn fit_form(
    y: &[f64],
    observed: usize,
    form: Form,
    init: Init,
    ring: &mut [f64],
    warm: Option<Smoothing>,
) -> Candidate {
    let dims = form.dims();
    let multiplicative = form.seasonality == Seasonality::Multiplicative;
    let mut f = |u: &[f64; 4]| objective(y, multiplicative, &form.params(u), &init, ring);
    let budget = EVALS_PER_DIM * dims;
    let best = match warm {
        Some(p) => {
            let g = if p.gamma > 0.0 { p.gamma } else { 0.1 };
            let beta = if p.beta > 0.0 { p.beta } else { 0.05 };
            let phi = if p.phi > 0.0 && p.phi < 1.0 {
                p.phi
            } else {
                0.95
            };
            let start = form.unsquash(p.alpha, beta, g, phi);
            nelder_mead(&mut f, start, dims, budget, 0.5)
        }
        None => {
            let start = form.unsquash(0.5, 0.05, 0.1, 0.95);
            let first = nelder_mead(&mut f, start, dims, budget, 1.5);
            let again = nelder_mead(&mut f, first.0, dims, budget, 0.5);
            if again.1 < first.1 { again } else { first }
        }
    };
    let n = observed.max(1) as f64;
    let aic = if best.1.is_finite() {
        n * (best.1 / n).max(1e-300).ln() + 2.0 * form.k(ring.len()) as f64
    } else {
        f64::INFINITY
    };
    Candidate {
        form,
        params: form.params(&best.0),
        init,
        sse: best.1,
        aic,
    }
}
