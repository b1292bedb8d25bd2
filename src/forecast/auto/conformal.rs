//! The chosen members fitted on the whole history and their split-conformal intervals: the
//! out-of-sample errors of their forecasts from recent days (or the holdout), per horizon.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::combine::Combine;
use super::holdout::{Frame, mae_at};
use super::median::MedianPoint;
use super::select::{
    FAR_POWERS, NEAR_TAIL, Selection, WEEK, blend, consistently_better, hand_over,
    replays_another_kind_of_day,
};
use super::{Far, FittedAuto, Member, Near, RESELECT_SECONDS, is_one, one};
use crate::forecast::history::History;
use crate::forecast::intervals::{ErrorQuantiles, empirical_quantiles};
use crate::forecast::linear::{self, DAY};
use crate::forecast::{FittedModel, ForecastError, ModelSpec, json_exact};

/// Relative errors are divided by `max(|forecast|, LEVEL_FLOOR · mean |value|)`, so that a
/// forecast near zero does not blow them up.
const LEVEL_FLOOR: f64 = 0.1;

/// The smallest floor: an all-zero series (or one of denormals) has a mean level of 0, and a
/// floor of 0 would divide by zero; any positive floor gives its zero errors a zero-width band.
/// Far above the denormals that `json_exact` would round to 0, far below any real load.
const MIN_FLOOR: f64 = 1e-9;

/// Split-conformal intervals: quantiles of the holdout's out-of-sample errors per horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    /// Quantiles of `error / max(|forecast|, floor)` (or of the error itself if `floor` is
    /// absent).
    pub(super) errors: ErrorQuantiles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) floor: Option<f64>,
    /// Errors are relative to `max(|forecast|, floor)` to this power: 1 (errors grow with the
    /// level, as traffic's do) or ½ (as counts' do: a Poisson stream's spread is the square root
    /// of its mean), whichever makes the errors at low and high forecasts alike ([`power_for`]).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub(super) power: f64,
    /// Steps between the last observation and the origin (trailing gaps count as horizon).
    pub(super) offset: usize,
    /// How many times wider a band is at a weekend step (UTC Saturday and Sunday) than the
    /// quantiles say: the calibration errors at weekend steps over all of them, where the
    /// weekends' were the larger ([`weekend_factor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) weekend_factor: Option<f64>,
}

/// At most about this many calibration errors decide [`Conformal::power`] ([`power_for`]).
const POWER_POINTS: usize = 16_384;

/// The powers of the level that errors may be relative to ([`Conformal::power`]).
const POWERS: [f64; 2] = [1.0, 0.5];

impl Conformal {
    /// Whether `power` is one of [`POWERS`] (checked on a model read from a file).
    pub(super) fn power_is_known(&self) -> bool {
        POWERS.contains(&self.power)
    }

    /// What an error at forecast `y` for the step at `t` is divided by.
    pub(super) fn scale(&self, t: i64, y: f64) -> f64 {
        let level = self
            .floor
            .map_or(1.0, |floor| scale_at(y, floor, self.power));
        match self.weekend_factor {
            Some(factor) if linear::is_weekend(t) => level * factor,
            _ => level,
        }
    }
}

fn scale_at(y: f64, floor: f64, power: f64) -> f64 {
    let level = y.abs().max(floor);
    if power == 0.5 {
        level.sqrt()
    } else {
        level.powf(power)
    }
}

/// The power of [`POWERS`] under which the calibration errors of the forecasts below the median
/// forecast and of those above it have the most alike mean size (the smallest `|ln(ratio)|`):
/// errors relative to the level (1) when they grow in proportion to it, to its square root (½)
/// when they grow like a count's. Relative errors of a sparse stream are huge at night and
/// small at the peak, so one quantile for both gave bands too wide at night and too narrow by
/// day (80 % bands covered 89 % of a stream of a few events a minute).
fn power_for(history: &History, frame: &Frame, forecasts: &[Vec<f64>], floor: f64) -> f64 {
    // A few thousand points tell two means apart; every origin's every step (up to 180,000)
    // only costs: every `stride`-th step ahead of each origin.
    let total = frame.origins.len() * frame.reach;
    let stride = total.div_ceil(POWER_POINTS).max(1);
    let mut pairs: Vec<(f64, f64)> = Vec::with_capacity(total / stride + 1);
    for (&origin, forecast) in frame.origins.iter().zip(forecasts) {
        let actuals = history.values[origin..].iter();
        let steps = actuals.zip(forecast).take(frame.reach);
        for (&actual, &predicted) in steps.skip(origin % stride).step_by(stride) {
            if (actual - predicted).is_finite() {
                pairs.push((predicted, actual - predicted));
            }
        }
    }
    if pairs.len() < 20 {
        return 1.0;
    }
    let middle = pairs.len() / 2;
    pairs.select_nth_unstable_by(middle, |a, b| a.0.total_cmp(&b.0));
    let (low, high) = pairs.split_at(middle);
    let mean_size = |part: &[(f64, f64)], power: f64| {
        part.iter()
            .map(|(y, e)| e.abs() / scale_at(*y, floor, power))
            .sum::<f64>()
            / part.len() as f64
    };
    let mut best = (1.0, f64::INFINITY);
    for power in POWERS {
        let gap = (mean_size(low, power) / mean_size(high, power)).ln().abs();
        if gap < best.1 {
            best = (power, gap);
        }
    }
    best.0
}

/// How many times wider weekend steps' bands must be: the median size of the calibration
/// errors (relative to the level, as the quantiles take them) at weekend steps over the median
/// at all steps, when that is above 1 and the calibration forecast at least a day's steps of
/// each kind and [`MIN_DAYS_OF_A_KIND`] days (UTC) of each with at least a day's count of errors
/// (counting every lead, so a day forecast only in part may count: a one-week window's three
/// calibration days touch four UTC days). `None` otherwise: the bands are never narrowed, and
/// weekdays keep the quantiles of all the errors.
///
/// Weekends differ from weekdays in shape and in how well a few weeks of history know it
/// (two days a week, not five); pooled with the weekdays' errors, theirs widened every band a
/// little and the weekends' too little (the published 80 % bands held 59 % of Taylor's
/// weekend half-hours and 82 % of its weekdays'). Narrowing the weekdays by the same ratio
/// thinned their tails, which SLO mode pays for in misses; widening the weekends alone keeps
/// the weekdays' bands as they were.
fn weekend_factor(
    history: &History,
    frame: &Frame,
    forecasts: &[Vec<f64>],
    floor: Option<f64>,
    power: f64,
) -> Option<f64> {
    let floor = floor?;
    let n = history.values.len();
    let day_of = |i: usize| (history.start + i as i64 * history.step).div_euclid(DAY);
    // Two days of each kind need four days (UTC) touched: a 1-minute series' single
    // calibration day is not read at all.
    let first = frame.origins.iter().min()?;
    let last = (frame.origins.iter().max()? + frame.reach).min(n) - 1;
    if day_of(last) - day_of(*first) + 1 < 2 * MIN_DAYS_OF_A_KIND as i64 {
        return None;
    }
    // Per UTC day of the target step, the absolute relative errors; the steps forecast.
    let mut by_day: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    let mut targeted = vec![false; n];
    for (&origin, forecast) in frame.origins.iter().zip(forecasts) {
        let end = (origin + frame.reach.min(forecast.len())).min(n);
        for (i, &predicted) in (origin..end).zip(forecast) {
            let error = (history.values[i] - predicted) / scale_at(predicted, floor, power);
            if error.is_finite() {
                by_day.entry(day_of(i)).or_default().push(error.abs());
                targeted[i] = true;
            }
        }
    }
    let per_day = history.steps_per_day();
    let mut steps = [0usize; 2];
    for i in (0..n).filter(|&i| targeted[i]) {
        steps[usize::from(is_weekend_day(day_of(i)))] += 1;
    }
    let mut days = [0usize; 2];
    let mut sizes = [Vec::new(), Vec::new()];
    for (day, errors) in by_day {
        if errors.len() >= per_day {
            let kind = usize::from(is_weekend_day(day));
            days[kind] += 1;
            sizes[kind].extend(errors);
        }
    }
    if steps.iter().any(|&s| s < per_day) || days.iter().any(|&d| d < MIN_DAYS_OF_A_KIND) {
        return None;
    }
    let [weekdays, mut weekends] = sizes;
    let mut all = weekdays;
    all.extend_from_slice(&weekends);
    let median = |values: &mut [f64]| empirical_quantiles(values, &[0.5])[0];
    let factor = median(&mut weekends) / median(&mut all);
    (factor.is_finite() && factor > 1.0).then(|| json_exact(factor))
}

/// Whether the UTC day `day` (days since the epoch) is a Saturday or a Sunday.
fn is_weekend_day(day: i64) -> bool {
    linear::is_weekend(day * DAY)
}

/// Days (UTC) of weekend steps, and of weekday steps, that the calibration must hold (each with
/// a day's count of errors) for [`weekend_factor`]: one weekend day's errors are one day's news.
const MIN_DAYS_OF_A_KIND: usize = 2;

/// The chosen members fitted on the whole history, with their combined forecasts from the
/// calibration origins (every step of the most recent whole days that hold
/// [`MIN_CALIBRATION_ORIGINS`], within the later half of the history) when every member can
/// make them out of sample and from the past alone: seasonal naive from any origin,
/// linear-seasonal from its fits on the days before each day ([`linear::fit_cross_validated`]).
/// The holdout is one day; errors from several days calibrate many days' character rather than
/// the last one's (on coarse steps, a day holds only a few dozen errors), at the cost of a `p×p`
/// solve per day. `None` (the holdout's errors calibrate) when a member has no such forecasts or
/// the history has under two days. The `near` model ([`blend`]) is fitted on the days before
/// the calibration days (before each of them while those are under a week: [`forecasts_fitted_before`])
/// and forecasts them too; it is kept (refitted on the whole history) when
/// the blend's forecasts of their first `scored` steps have the lower MAE, and the calibration
/// forecasts are then the blended ones. Without calibration days there is no blend. Where a
/// linear member has a weekend shape, the origins on weekend days whose fit saw no weekend day
/// are left out ([`linear::weekend_unseen_from`]); where the history's weekends differ
/// (`weekends_differ`, as the selection found, or else a linear member's weekend shape), so are
/// the origins whose forecasts a member would make by replaying another kind of day
/// ([`forecast_replays_another_kind_of_day`]); none left, the holdout's errors calibrate. A
/// linear member's in-sample error medians move the point forecast where its calibration
/// forecasts so moved are consistently better ([`MedianPoint`]); the calibration forecasts, and
/// so the bands, stay the plain ones. The `far` model, where there is one, takes over the later
/// steps of all that where it forecasts the calibration days consistently better ([`fit_far`]);
/// the calibration forecasts are then the handed-over ones.
pub(super) fn fit_calibrated(
    history: &History,
    specs: Vec<(ModelSpec, f64)>,
    combine: Combine,
    (scored, reach): (usize, usize),
    (near, far): (ModelSpec, Option<ModelSpec>),
    weekends_differ: Option<bool>,
) -> Result<Calibrated, ForecastError> {
    let n = history.len();
    let per_day = history.steps_per_day();
    // The later half of the window at most: every calibration day is forecast by a fit on at
    // least as many days before it.
    let days = MIN_CALIBRATION_ORIGINS
        .div_ceil(per_day)
        .min(n / per_day / 2);
    let mut start = n - days * per_day;
    let mut members = Vec::with_capacity(specs.len());
    // Per member: linear-seasonal's day-ahead values (seasonal naive needs none).
    let mut day_ahead = Vec::with_capacity(specs.len());
    // A linear member's in-sample error medians ([`MedianPoint`]).
    let mut medians = None;
    let mut out_of_sample = true;
    for (spec, weight) in specs {
        let (model, values) = match &spec {
            ModelSpec::LinearSeasonal(linear) => {
                let (model, values) = linear::fit_cross_validated(linear, history, start, true)?;
                out_of_sample &= values.is_some();
                if medians.is_none() {
                    medians = model.error_medians().map(|m| (members.len(), m));
                }
                (FittedModel::LinearSeasonal(model.without_errors()), values)
            }
            ModelSpec::SeasonalNaive(_) => (spec.fit_history(history, false)?, None),
            _ => {
                out_of_sample = false;
                (spec.fit_history(history, false)?, None)
            }
        };
        if let FittedModel::SeasonalNaive(naive) = &model {
            start = start.max(naive.season_steps());
        }
        members.push(Member { weight, model });
        day_ahead.push(values);
    }
    if !out_of_sample || start >= n {
        return Ok(Calibrated {
            members,
            near: None,
            far: None,
            median: None,
            calibration: None,
        });
    }
    // A weekend shape fitted on one weekend is the final fit's; a calibration day on a weekend
    // whose days before hold none is forecast without it, and its errors would widen every band.
    let weekend_shape = members.iter().any(
        |m| matches!(&m.model, FittedModel::LinearSeasonal(model) if model.has_weekend_shape()),
    );
    let unseen = weekend_shape.then(|| linear::weekend_unseen_from(history, start));
    // Not asked by the selection: a linear member's final fit tells.
    let daily_replays = if weekends_differ.unwrap_or(weekend_shape) {
        daily_replay_seconds(&members, history.step)
    } else {
        Vec::new()
    };
    let stride = (n - start).div_ceil(MAX_CALIBRATION_ORIGINS).max(1);
    let origins: Vec<usize> = (start..n)
        .step_by(stride)
        .filter(|&i| !unseen.as_ref().is_some_and(|unseen| unseen[i - start]))
        .filter(|&i| !forecast_replays_another_kind_of_day(history, i, reach, &daily_replays))
        .collect();
    if origins.is_empty() {
        return Ok(Calibrated {
            members,
            near: None,
            far: None,
            median: None,
            calibration: None,
        });
    }
    let frame = Frame {
        origins,
        scored: 0,
        reach,
    };
    let parts: Vec<Vec<Vec<f64>>> = members
        .iter()
        .zip(&day_ahead)
        .map(|(member, values)| match (&member.model, values) {
            (FittedModel::LinearSeasonal(model), Some(values)) => {
                Ok(model.cross_validated_forecasts(history, values, &frame.origins, reach))
            }
            (model, _) => model.rolling_forecasts(history, &frame.origins, reach),
        })
        .collect::<Result<_, _>>()?;
    let combined = |parts: &[Vec<Vec<f64>>]| -> Vec<Vec<f64>> {
        (0..frame.origins.len())
            .map(|j| {
                let at_origin: Vec<&[f64]> = parts.iter().map(|p| p[j].as_slice()).collect();
                combine.steps(members.iter().map(|m| m.weight), &at_origin)
            })
            .collect()
    };
    let mut forecasts = combined(&parts);
    // The same with the linear member's forecasts at their median (each origin just after an
    // observation: its first step is lead 0), over the steps the choice scores.
    let mut moved = medians.as_ref().and_then(|(member, medians)| {
        let FittedModel::LinearSeasonal(model) = &members[*member].model else {
            return None;
        };
        let mut parts: Vec<Vec<Vec<f64>>> = parts
            .iter()
            .map(|p| {
                p.iter()
                    .map(|f| f[..scored.min(f.len())].to_vec())
                    .collect()
            })
            .collect();
        for forecast in &mut parts[*member] {
            model.to_median(medians, forecast, 0);
        }
        Some(combined(&parts))
    });
    let near = fit_near(history, &near, start, (&frame, scored), &mut forecasts);
    if let (Some((near, part)), Some(moved)) = (&near, &mut moved) {
        *moved = blend(std::mem::take(moved), part, near.tail);
    }
    // Kept where the moved forecasts err less on the steps the selection scores, consistently
    // over the calibration days (the selection's evidence test).
    let median = medians.zip(moved).and_then(|((member, medians), moved)| {
        let scoring = Frame {
            origins: frame.origins.clone(),
            scored,
            reach,
        };
        consistently_better(history, &scoring, &moved, &forecasts)
            .then_some(MedianPoint { member, medians })
    });
    let far = far.and_then(|far| fit_far(history, &far, start, (&frame, scored), &mut forecasts));
    Ok(Calibrated {
        members,
        near: near.map(|(near, _)| near),
        far,
        median,
        calibration: Some(Calibration { frame, forecasts }),
    })
}

/// The seasons (in seconds) of the members that replay an earlier day whatever kind it was:
/// seasonal naive over a season other than whole weeks.
fn daily_replay_seconds(members: &[Member], step: i64) -> Vec<i64> {
    members
        .iter()
        .filter_map(|m| match &m.model {
            FittedModel::SeasonalNaive(naive) => {
                let seconds = naive.season_steps() as i64 * step;
                (seconds % WEEK != 0).then_some(seconds)
            }
            _ => None,
        })
        .collect()
}

/// Whether a forecast from `origin` over `reach` steps would replay a weekend day on a weekday
/// or the reverse (a season of `seasons` back): a Monday forecast from Sunday. Where weekends
/// differ, the selection never serves such hours with such a member (it chooses among the
/// candidates that know the week when its hours cross a weekend: `select`), so those errors
/// would only widen the bands it publishes: on one week of a working-hours load, a
/// Monday replayed from Sunday put 10 % of the calibration errors above +100 % and every band
/// of the next day at twice the load (`week-square-ec2`, docs/forecasting.md).
fn forecast_replays_another_kind_of_day(
    history: &History,
    origin: usize,
    reach: usize,
    seasons: &[i64],
) -> bool {
    seasons.iter().any(|&season| {
        replays_another_kind_of_day(season, (origin..origin + reach).map(|i| history.time(i)))
    })
}

/// The near model `spec`, fitted on the history before `start` (the calibration days), forecasts
/// them (its state moving on over them, as in the holdout; fitted again each day while the
/// history before it is under [`NEAR_REFIT_DAYS`]: [`forecasts_fitted_before`]); it is kept, fitted on
/// the whole history, only when a blend of `forecasts` (the members', replaced by the blended
/// ones then) forecasts their first `scored` steps better: the blend of the first steps, or the
/// one whose near share stops falling at [`NEAR_TAIL`], whichever is better still; returned with
/// its forecasts of the calibration days. Without either fit, no blend.
fn fit_near(
    history: &History,
    spec: &ModelSpec,
    start: usize,
    (frame, scored): (&Frame, usize),
    forecasts: &mut Vec<Vec<f64>>,
) -> Option<(Box<Near>, Vec<Vec<f64>>)> {
    let part = forecasts_fitted_before(history, spec, start, frame)?;
    let plain = mae_at(history, &frame.origins, scored, forecasts).0;
    let (tail, blended) = best_mix(
        history,
        (frame, scored),
        forecasts,
        &[0.0, NEAR_TAIL],
        |forecasts, tail| blend(forecasts, &part, tail),
        |with, _| with < plain,
    )?;
    // A cold fit: warm from the calibration fit (fitted on half the window or less), one step
    // ahead on the taxi trace scored 0.241 instead of 0.235 for a third less time.
    let model = spec.fit_history(history, false).ok()?;
    *forecasts = blended;
    Some((Box::new(Near { model, tail }), part))
}

/// Of `variants`, the one whose `mix` of `forecasts` forecasts the calibration days' first
/// `scored` steps with the lowest MAE among those `kept` accepts (given that MAE and the mixed
/// forecasts), with its mixed forecasts; `None` for none. The near blend's share and the far
/// model's pace are chosen so.
fn best_mix<P: Copy>(
    history: &History,
    (frame, scored): (&Frame, usize),
    forecasts: &[Vec<f64>],
    variants: &[P],
    mix: impl Fn(Vec<Vec<f64>>, P) -> Vec<Vec<f64>>,
    kept: impl Fn(f64, &[Vec<f64>]) -> bool,
) -> Option<(P, Vec<Vec<f64>>)> {
    let mut best: Option<(f64, P, Vec<Vec<f64>>)> = None;
    for &variant in variants {
        let mixed = mix(forecasts.to_vec(), variant);
        let with = mae_at(history, &frame.origins, scored, &mixed).0;
        if best.as_ref().is_none_or(|b| with < b.0) && kept(with, &mixed) {
            best = Some((with, variant, mixed));
        }
    }
    best.map(|(_, variant, mixed)| (variant, mixed))
}

/// The forecasts from `frame`'s origins (the calibration days, from `start`) of `spec` fitted
/// before them (the near model's, the far model's), each day's by a fit on the days before it
/// while they are under [`NEAR_REFIT_DAYS`] (as linear-seasonal's are,
/// [`linear::fit_cross_validated`]); the first day with that many before it is fitted so too,
/// and that fit moves on over the rest (the far model, offered on three weeks or more, always
/// starts there).
/// A fit on the days before the first calibration day alone judged a one-week history's near
/// model by half of its data: one step ahead from 200 origins with one-week training windows
/// (`short1-` taxi and Taylor), MASE 0.311 and 0.108 so, 0.276 and 0.101 with the refits
/// (docs/forecasting.md). `None` when a fit fails.
pub(super) fn forecasts_fitted_before(
    history: &History,
    spec: &ModelSpec,
    start: usize,
    frame: &Frame,
) -> Option<Vec<Vec<f64>>> {
    let per_day = history.steps_per_day();
    let mut part = Vec::with_capacity(frame.origins.len());
    let mut day = start;
    while part.len() < frame.origins.len() {
        let end = if day < NEAR_REFIT_DAYS * per_day {
            day + per_day
        } else {
            history.len()
        };
        let origins: Vec<usize> = frame.origins[part.len()..]
            .iter()
            .copied()
            .take_while(|&o| o < end)
            .collect();
        if !origins.is_empty() {
            let before = spec.fit_history(&history.head(day)?, false).ok()?;
            part.extend(
                before
                    .rolling_forecasts(history, &origins, frame.reach)
                    .ok()?,
            );
        }
        day = end;
    }
    Some(part)
}

/// The far model `spec` (MSTL, where the history is long enough: [`far_spec`]), fitted on the
/// history before `start` (the calibration days), forecasts them, its state moving on over them
/// (as in the holdout); it is kept, fitted on the whole history, only when `forecasts` (the
/// choice's, near blend included) handed over to it ([`hand_over`]) forecast the calibration
/// days' first `scored` steps consistently better (the selection's evidence test), at the pace
/// of [`FAR_POWERS`] with the lowest MAE there; `forecasts` are then the handed-over ones.
/// `None` when it is not kept or a fit fails.
///
/// MSTL's seasonal components follow a daily shape that drifts over weeks; the regression's one
/// shape per season over the window loses to it hours ahead on such a trace (Taylor's
/// electricity two hours ahead with 28 days: 0.151 against statsforecast MSTL's 0.122), and
/// wins the first steps, where the planner's lead time sits, with its short-horizon terms and
/// the near blend. Handing over keeps the first step the choice's.
///
/// [`far_spec`]: super::select::far_spec
fn fit_far(
    history: &History,
    spec: &ModelSpec,
    start: usize,
    (frame, scored): (&Frame, usize),
    forecasts: &mut Vec<Vec<f64>>,
) -> Option<Box<Far>> {
    let part = forecasts_fitted_before(history, spec, start, frame)?;
    let scoring = Frame {
        origins: frame.origins.clone(),
        scored,
        reach: frame.reach,
    };
    let (power, handed) = best_mix(
        history,
        (frame, scored),
        forecasts,
        &FAR_POWERS,
        |forecasts, power| hand_over(forecasts, &part, power),
        |_, handed| consistently_better(history, &scoring, handed, forecasts),
    )?;
    let model = spec.fit_history(history, false).ok()?;
    *forecasts = handed;
    Some(Box::new(Far { model, power }))
}

/// The final members, the near model when its blend is kept, the far model when its hand-over
/// is, and the calibration forecasts (blended, handed over) when there are any.
pub(super) struct Calibrated {
    members: Vec<Member>,
    near: Option<Box<Near>>,
    far: Option<Box<Far>>,
    median: Option<MedianPoint>,
    calibration: Option<Calibration>,
}

/// Forecasts from calibration origins and where they start.
pub(super) struct Calibration {
    pub(super) frame: Frame,
    pub(super) forecasts: Vec<Vec<f64>>,
}

/// Calibration takes the most recent whole days that hold at least this many origins: enough for
/// five errors beyond the outermost stored quantile (0.5 %,
/// [`GRID`](crate::forecast::intervals::GRID)).
pub(super) const MIN_CALIBRATION_ORIGINS: usize = 1000;
/// The near model is fitted again at each calibration day while the days before it are fewer
/// than this ([`forecasts_fitted_before`]).
const NEAR_REFIT_DAYS: usize = 7;
/// At most this many calibration origins (evenly strided), to bound the cost.
const MAX_CALIBRATION_ORIGINS: usize = 1000;

/// How long a selection is kept: between half of [`RESELECT_SECONDS`] and all of it, spread
/// by a hash of its conformal quantiles (what the series' holdout taught it). Series selected
/// in the same pass (every series when the service starts) then select afresh over several
/// later passes instead of all in one, so no refit pass costs much more than the others.
pub(super) fn keep_for(conformal: &Conformal) -> i64 {
    // FNV-1a over the quantiles' bits: deterministic, and the same after a JSON round trip.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for value in conformal.errors.values() {
        for byte in value.to_bits().to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let half = RESELECT_SECONDS / 2;
    half + (hash % (half as u64 + 1)) as i64
}

/// The horizons (steps ahead, from 0) at which conformal quantiles are kept, below `reach`:
/// every step up to 4, then about 1.5× apart.
pub(super) fn anchors(reach: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut h = 0;
    while h < reach {
        out.push(h);
        h = if h < 4 { h + 1 } else { h + h.div_ceil(2) };
    }
    out
}

/// Split-conformal error quantiles of the chosen forecaster's holdout forecasts: at each
/// anchor horizon, the errors of every origin at the steps closer to it than to its
/// neighbours, relative to the forecast's level when `floor` is given.
fn conformal_errors(
    history: &History,
    frame: &Frame,
    forecasts: &[Vec<f64>],
    floor: Option<f64>,
    power: f64,
) -> ErrorQuantiles {
    let anchors = anchors(frame.reach);
    let mut pooled = Vec::with_capacity(anchors.len());
    for (k, &a) in anchors.iter().enumerate() {
        let lo = if k == 0 {
            a
        } else {
            a - (a - anchors[k - 1]) / 2
        };
        let hi = anchors
            .get(k + 1)
            .map_or(frame.reach, |&b| a + (b - a).div_ceil(2));
        let mut errors = Vec::new();
        for (&origin, forecast) in frame.origins.iter().zip(forecasts) {
            let end = hi.min(forecast.len());
            if lo >= end {
                continue;
            }
            let actuals = &history.values[origin + lo..origin + end];
            for (&actual, &predicted) in actuals.iter().zip(&forecast[lo..end]) {
                let error = match floor {
                    Some(floor) => (actual - predicted) / scale_at(predicted, floor, power),
                    None => actual - predicted,
                };
                if error.is_finite() {
                    errors.push(error);
                }
            }
        }
        pooled.push((a, errors));
    }
    ErrorQuantiles::from_errors(pooled, |_, _| 1.0)
}

/// Refits the chosen members on the whole history and attaches the conformal quantiles.
pub(super) fn finish(history: &History, selection: Selection) -> Result<FittedAuto, ForecastError> {
    let Selection {
        combine,
        specs,
        forecasts,
        frame,
        validation,
        near,
        far,
        weekends_differ,
    } = selection;
    let Calibrated {
        members,
        near,
        far,
        median,
        calibration,
    } = fit_calibrated(
        history,
        specs,
        combine,
        (frame.scored, frame.reach),
        (near, far),
        weekends_differ,
    )?;
    let Calibration { frame, forecasts } = calibration.unwrap_or(Calibration { frame, forecasts });
    let mean_level = mean_abs(&history.values);
    let floor = (mean_level * LEVEL_FLOOR).max(MIN_FLOOR);
    let floor = floor.is_finite().then_some(json_exact(floor));
    let power = floor.map_or(1.0, |floor| power_for(history, &frame, &forecasts, floor));
    let weekend_factor = weekend_factor(history, &frame, &forecasts, floor, power);
    let mut errors = conformal_errors(history, &frame, &forecasts, floor, power);
    errors.round_for_json();
    if !errors.is_finite() {
        return Err(ForecastError::Fit(
            "values too large: the calibration errors overflow".to_string(),
        ));
    }
    let offset = history.trailing_gaps();
    Ok(FittedAuto {
        members,
        near,
        far,
        combine,
        conformal: Some(Conformal {
            errors,
            floor,
            power,
            offset,
            weekend_factor,
        }),
        median,
        validation: Some(validation),
        fallbacks: Vec::new(),
    })
}

/// The mean absolute observed value (NaN for none).
fn mean_abs(values: &[f64]) -> f64 {
    let (sum, count) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, c), v| (s + v.abs(), c + 1));
    sum / count as f64
}
