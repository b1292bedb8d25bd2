//! One fit from start to end: design, transform, least squares (robust, warm-started), the
//! coefficients unpacked, the recurring pulses, the AR correction and the in-sample error
//! quantiles.

use ndarray::{Array1, s};

use super::ar::{fit_ar, lead_coefficients, state_at};
use super::day_ahead::{WeightedFit, block_of, block_start, fitted_on_days_before};
use super::design::{Design, choose_design};
use super::pulses::Pulses;
use super::robust::{ROBUST_ITERATIONS, WARM_ITERATIONS, robust_refit, robust_scale, row_weights};
use super::rows::DesignRows;
use super::shift::Shift;
use super::solve::{rss, solve, standardize};
use super::transform::{BoxCox, choose_transform};
use super::{
    Correction, FittedLinearSeasonal, FourierTerm, LinearSeasonalSpec, Trend, WeekdayShape, Weekend,
};
use crate::forecast::ForecastError;
use crate::forecast::history::History;
use crate::forecast::intervals::ErrorQuantiles;

/// Error anchors stop once the correction has decayed below this fraction.
const AR_NEGLIGIBLE: f64 = 0.01;
/// The largest anchor horizon of the in-sample errors.
const MAX_ANCHOR: usize = 4096;
/// The in-sample error quantiles are taken over at most about this many origins per horizon.
const MAX_ERROR_ORIGINS: usize = 4096;
/// The seasonal terms are fitted without the pulses' phases when those are at most this share
/// of the day's (on weekdays, and on weekend days).
const MAX_EXCLUDED_SHARE: f64 = 0.25;
/// Ridge penalty relative to the number of rows (columns are O(1), so `X'X` is O(rows)).
const RIDGE: f64 = 1e-8;

/// Fits `spec` on `history`: [`super::fit_history`], [`super::refit_history`] (from `previous`)
/// and [`super::fit_cross_validated`] (day-ahead values from step `cross_validate_from` on) are
/// this one function with its options.
pub(super) fn fit_from(
    spec: &LinearSeasonalSpec,
    history: &History,
    with_intervals: bool,
    previous: Option<&FittedLinearSeasonal>,
    cross_validate_from: Option<usize>,
) -> Result<(FittedLinearSeasonal, Option<Vec<f64>>), ForecastError> {
    if history.observed < 2 {
        return Err(ForecastError::TooShort {
            needed: 2,
            have: history.observed,
        });
    }
    let (mut design, mut notes) = choose_design(spec, history);

    let rows = DesignRows::new(&design, history);
    let n_obs = rows.len();
    let ys: Vec<f64> = rows.grid.iter().map(|&i| history.values[i]).collect();
    standardize(&ys)?;
    let p_all = design.columns();
    let gram_all = rows.gram(&design);
    let ridge = RIDGE * n_obs as f64;

    let transform = choose_transform(
        spec.transform,
        &ys,
        &rows,
        gram_all.view(),
        ridge,
        &mut notes,
    )?;
    let zs: Vec<f64> = match &transform {
        Some(t) => ys.iter().map(|y| t.forward(*y)).collect(),
        None => ys.clone(),
    };
    // The target standardized, so that the ridge and the solver see O(1) numbers whatever the
    // traffic's scale.
    let (mean, sd) = standardize(&zs)?;
    let z = Array1::from_iter(zs.iter().map(|v| (v - mean) / sd));
    let rhs_all = rows.t_mul(z.as_slice().expect("a vector"));
    let zz = z.dot(&z);

    let warm =
        previous.and_then(|previous| warm_start(previous, &design, transform.as_ref(), mean, sd));
    // The weekend block, if any, is kept when asked for, or (auto) when it lowers the BIC; a
    // warm refit keeps the previous fit's decision.
    let mut p = p_all;
    let warm_started = warm.is_some();
    let mut beta = match warm {
        Some(start) => {
            if start.len() < p_all {
                design.weekend.clear();
                p = start.len();
            }
            start
        }
        None => solve(gram_all.view(), rhs_all.view(), ridge)?,
    };
    if !warm_started && !design.weekend.is_empty() && spec.weekday_shape == WeekdayShape::Auto {
        let base = design.base_columns();
        let reduced = solve(
            gram_all.slice(s![..base, ..base]),
            rhs_all.slice(s![..base]),
            ridge,
        )?;
        let n = n_obs as f64;
        let bic =
            |rss: f64, k: usize| n * (rss.max(f64::MIN_POSITIVE) / n).ln() + k as f64 * n.ln();
        let full_bic = bic(rss(gram_all.view(), rhs_all.view(), zz, &beta), p_all);
        let reduced_bic = bic(
            rss(
                gram_all.slice(s![..base, ..base]),
                rhs_all.slice(s![..base]),
                zz,
                &reduced,
            ),
            base,
        );
        if reduced_bic <= full_bic {
            design.weekend.clear();
            p = base;
            beta = reduced;
        }
    }
    let gram = gram_all.slice(s![..p, ..p]);
    let rhs = rhs_all.slice(s![..p]);

    let iterations = if warm_started {
        WARM_ITERATIONS
    } else {
        ROBUST_ITERATIONS
    };
    // The robust fit (or, `robust` false, one weighted solve) from `beta`, rows `excluded` left
    // out.
    let refit = |beta, iterations, robust, excluded: &[bool]| {
        robust_refit(
            &design,
            &rows,
            gram,
            rhs,
            &z,
            beta,
            ridge,
            (iterations, robust),
            excluded,
        )
    };
    if spec.robust {
        beta = refit(beta, iterations, true, &[])?;
    } else if warm_started {
        beta = solve(gram, rhs, ridge)?;
    }

    // Residuals on the grid (NaN at gaps), in the transformed units.
    let residuals_of = |fitted: &Array1<f64>| {
        let mut residuals = vec![f64::NAN; history.len()];
        for (r, &i) in rows.grid.iter().enumerate() {
            residuals[i] = (z[r] - fitted[r]) * sd;
        }
        residuals
    };
    let mut fitted_values = rows.mul(beta.view());
    let mut residuals = residuals_of(&fitted_values);
    // Recurring pulses at the shortest season's phases (a burst at 14:00 every day), found in
    // the residuals; the fit's values include them and the correction fits what they leave.
    let period = design
        .seasons
        .iter()
        .map(|used| used.season.seconds())
        .min();
    let find_pulses = |residuals: &[f64], end: usize| {
        period.and_then(|p| Pulses::find(&residuals[..end], history, p))
    };
    // Found, the seasonal terms are fitted again without the steps at the pulses' phases, and
    // the pulses found again in that fit's residuals: ten harmonics cannot draw an hour-long
    // batch job, and fitted with it they take part of it (the pulses the rest) and ring for
    // hours around it, on days without its pulses too (weekend days seen fewer times than a
    // pulse needs). Only while the pulses leave most of the day to the harmonics: a shape of
    // steps at coarse steps (an office open 12:00–22:00 at half-hours) makes pulses of half
    // the day's phases, and the harmonics fitted on the other half draw the weekend wildly.
    let first = find_pulses(&residuals, history.len());
    let excluded: Vec<bool> = match &first {
        Some(first) if first.cover_at_most(MAX_EXCLUDED_SHARE) => rows
            .grid
            .iter()
            .map(|&i| first.at(history.time(i)) != 0.0)
            .collect(),
        _ => Vec::new(),
    };
    if !excluded.is_empty() {
        let passes = if spec.robust { iterations } else { 1 };
        beta = refit(beta, passes, spec.robust, &excluded)?;
        fitted_values = rows.mul(beta.view());
        residuals = residuals_of(&fitted_values);
    }
    let pulses = find_pulses(&residuals, history.len()).or(first);
    // Each day's day-ahead values take the pulses found before that day, as its coefficients
    // were fitted on the days before it: a pulse's value is a median over the days, the day
    // forecast among them. Found once before the first day alone, a week's Sunday took the
    // weekday pulses of a working day's edges (no weekend day before Friday, so weekends were
    // as the weekdays) though its fit had seen Saturday: forecasts of −12 at 17:00 against a
    // load of 17 among the errors that set the bands (`week-square-ec2`'s 80 % and 95 % bands
    // held 86.8 % and 98.3 % of the load, 83.8 % and 96.5 % so).
    let pulses_before: Vec<(usize, Option<Pulses>)> = cross_validate_from
        .map(|from| {
            let mut blocks = Vec::new();
            let mut i = from.min(history.len());
            while i < history.len() {
                let block = block_of(history, i);
                blocks.push((block.start, find_pulses(&residuals, block.start)));
                i = block.end;
            }
            blocks
        })
        .unwrap_or_default();
    if let Some(pulses) = &pulses {
        for (i, r) in residuals.iter_mut().enumerate() {
            *r -= pulses.at(history.time(i));
        }
    }
    // A jump in the level (a launch) the latest residuals hold: the regression's values take it
    // from where it began, the correction fits what it leaves.
    let scale = robust_scale(&residuals);
    let shift = Shift::find(&residuals, scale, history).map(|(first, shift)| {
        for r in &mut residuals[first..] {
            *r -= shift.level;
        }
        shift
    });
    // The correction's clipping scale: the shift's run no longer lies far out.
    let scale = if shift.is_some() {
        robust_scale(&residuals)
    } else {
        scale
    };
    // The day's pulses; the steps before the first day (whose residuals start the correction's
    // state) take the first day's, as they did when all days took those.
    let pulse_at = |i: usize| {
        let start = block_start(history, i);
        let day = pulses_before.partition_point(|(block, _)| *block <= start);
        pulses_before
            .get(day.saturating_sub(1))
            .and_then(|(_, pulses)| pulses.as_ref())
            .map_or(0.0, |p| p.at(history.time(i)))
    };
    let cross_validated = match cross_validate_from {
        Some(from) => {
            let standardized: Vec<f64> = z.iter().zip(&fitted_values).map(|(z, f)| z - f).collect();
            let weights = row_weights(&standardized, &excluded, spec.robust);
            let fit = WeightedFit {
                design: &design,
                rows: &rows,
                gram,
                rhs,
                z: &z,
                weights: &weights,
                ridge,
            };
            // Steps before the days forecast keep the fit's own values: the correction's state
            // at the first calibration origins starts from their residuals.
            fitted_on_days_before(&fit, history, from)?.map(|day_ahead| {
                let mut on_grid = vec![f64::NAN; history.len()];
                for ((&i, v), own) in rows.grid.iter().zip(day_ahead).zip(&fitted_values) {
                    on_grid[i] = if v.is_nan() { *own } else { v } * sd + mean + pulse_at(i);
                }
                on_grid
            })
        }
        None => None,
    };

    let mut column = 1;
    let intercept = beta[0] * sd + mean;
    let trend = design.trend.map(|(center, scale, until)| {
        column += 1;
        Trend {
            center,
            scale,
            slope: beta[1] * sd,
            until,
        }
    });
    let terms = design
        .terms
        .iter()
        .enumerate()
        .map(|(j, &(period, k))| FourierTerm {
            period,
            k,
            sin: beta[column + 2 * j] * sd,
            cos: beta[column + 2 * j + 1] * sd,
        })
        .collect();
    let weekend = (!design.weekend.is_empty()).then(|| {
        let base = design.base_columns();
        Weekend {
            level: beta[base] * sd,
            terms: design
                .weekend
                .iter()
                .enumerate()
                .map(|(i, &j)| FourierTerm {
                    period: design.terms[j].0,
                    k: design.terms[j].1,
                    sin: beta[base + 1 + 2 * i] * sd,
                    cos: beta[base + 2 + 2 * i] * sd,
                })
                .collect(),
        }
    });

    let ar = fit_ar(&residuals, scale, spec.ar_order);
    let last = rows.grid.last().copied().unwrap_or(0);
    let state = state_at(&ar, &residuals[..=last]);
    let correction = Correction {
        ar,
        state,
        at: history.time(last),
    };
    let errors = if with_intervals {
        let mut errors = error_quantiles(&residuals, &correction.ar);
        let params = p + correction.ar.len();
        if n_obs > params {
            errors.scale((n_obs as f64 / (n_obs - params) as f64).sqrt());
        }
        errors
    } else {
        ErrorQuantiles::zero()
    };
    let mut model = FittedLinearSeasonal {
        intercept,
        trend,
        terms,
        weekend,
        pulses,
        shift,
        seasons: design.seasons,
        transform,
        correction,
        errors,
        training: history.info(notes),
    };
    model.round_for_json();
    if !model.is_finite() {
        return Err(ForecastError::Fit(
            "values too large: the fit overflowed".to_string(),
        ));
    }
    Ok((model, cross_validated))
}

/// The previous fit's coefficients in this fit's standardized columns, to start the robust
/// iterations from: `None` when its design differs (other Fourier terms, no trend on one side,
/// another transform, a weekend block this design cannot have). The trend column is rescaled to
/// this window's centre and scale, the level takes the difference of centres.
pub(super) fn warm_start(
    previous: &FittedLinearSeasonal,
    design: &Design,
    transform: Option<&BoxCox>,
    mean: f64,
    sd: f64,
) -> Option<Array1<f64>> {
    let same_terms = |fitted: &[FourierTerm], columns: &[usize]| {
        fitted
            .iter()
            .map(|t| (t.period, t.k))
            .eq(columns.iter().map(|&j| design.terms[j]))
    };
    let every_term: Vec<usize> = (0..design.terms.len()).collect();
    if previous.transform.as_ref() != transform || !same_terms(&previous.terms, &every_term) {
        return None;
    }
    let mut beta = vec![previous.intercept];
    match (&previous.trend, design.trend) {
        (Some(old), Some((center, scale, _))) => {
            beta[0] += old.slope * (center - old.center) as f64 / old.scale;
            beta.push(old.slope * scale / old.scale);
        }
        (None, None) => {}
        _ => return None,
    }
    beta[0] -= mean;
    for term in &previous.terms {
        beta.extend([term.sin, term.cos]);
    }
    if let Some(weekend) = &previous.weekend {
        if design.weekend.is_empty() || !same_terms(&weekend.terms, &design.weekend) {
            return None;
        }
        beta.push(weekend.level);
        for term in &weekend.terms {
            beta.extend([term.sin, term.cos]);
        }
    }
    let beta = Array1::from_iter(beta.into_iter().map(|b| b / sd));
    beta.iter().all(|b| b.is_finite()).then_some(beta)
}

/// Errors of the corrected h-step forecasts from every origin whose p residuals before it are
/// observed: `r[o+h] − c[h] · (r[o−1], …, r[o−p])` — from every `stride`-th origin when there
/// are more than [`MAX_ERROR_ORIGINS`] (neighbouring origins' errors are nearly the same).
pub(super) fn error_quantiles(residuals: &[f64], ar: &[f64]) -> ErrorQuantiles {
    let n = residuals.len();
    let p = ar.len();
    let mut anchors = Vec::new();
    let stride = n.saturating_sub(p).div_ceil(MAX_ERROR_ORIGINS).max(1);
    let mut h = 0;
    let mut leads = lead_coefficients(ar, 1);
    loop {
        if leads.len() <= h {
            leads = lead_coefficients(ar, h + 1);
        }
        let c = leads.get(h).cloned().unwrap_or_default();
        let errors: Vec<f64> = (p..n.saturating_sub(h))
            .step_by(stride)
            .filter_map(|o| {
                let actual = residuals[o + h];
                let mut forecast = 0.0;
                for (j, cj) in c.iter().enumerate() {
                    forecast += cj * residuals[o - 1 - j];
                }
                let e = actual - forecast;
                (!e.is_nan()).then_some(e)
            })
            .collect();
        anchors.push((h, errors));
        let reach: f64 = c.iter().map(|v| v.abs()).sum();
        if reach < AR_NEGLIGIBLE || h >= MAX_ANCHOR || h >= n / 2 {
            break;
        }
        h = if h == 0 { 1 } else { h * 2 };
    }
    ErrorQuantiles::from_errors(anchors, |_, _| 1.0)
}
