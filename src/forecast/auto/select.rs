//! Model selection on the holdout: the candidates, their rolling-origin forecasts and scores,
//! the evidence test, and the choice among them and their combinations.

use serde::{Deserialize, Serialize};

use super::combine::{Combine, Tried, combine_best_two, median_of_all};
use super::holdout::{Frame, mae, mae_at};
use super::{AutoSpec, RESELECT_SECONDS};
use crate::forecast::history::{History, season_length};
use crate::forecast::holt_winters::HoltWintersSpec;
use crate::forecast::linear::{self, LinearSeasonalSpec};
use crate::forecast::mstl::MstlSpec;
use crate::forecast::seasonal_naive::SeasonalNaiveSpec;
use crate::forecast::{FittedModel, ModelSpec, join_seasons, json_exact};
use crate::series::{Span, Timestamp};

/// The holdout is at most this fraction of the history…
const HOLDOUT_FRACTION: usize = 4;
/// …and at most this long…
const HOLDOUT_SECONDS: i64 = 86_400;
/// …but never fewer steps than this (for coarse steps).
const HOLDOUT_MIN_STEPS: usize = 24;
/// A week, in seconds: a seasonal naive over whole weeks replays the same day of the week.
pub(super) const WEEK: i64 = 7 * 86_400;
/// Forecasts are scored this far ahead: the plan's hour plus start-up time.
const SCORE_SECONDS: i64 = 75 * 60;
/// …but at least this many steps (coarse steps).
const SCORE_MIN_STEPS: usize = 4;
/// Conformal error quantiles are measured this far ahead (held constant beyond).
const INTERVAL_SECONDS: i64 = 3 * 3600;
/// At most this many holdout origins (evenly strided beyond), to bound the cost.
pub const MAX_ORIGINS: usize = 600;
/// A candidate must score this much (relatively) better than the default (the first) to be
/// chosen over it.
pub const SIMPLER_MARGIN: f64 = 0.1;
/// The combination must score this much (relatively) better than the best single candidate.
pub const COMBINE_MARGIN: f64 = 0.1;
/// The near model's share of the first forecast step (halved at the second, a third at the
/// third, …): [`blend`].
pub const NEAR_WEIGHT: f64 = 0.5;
/// The least share of the near model at every step, when the calibration days prefer the blend
/// with it ([`blend`]): it is the share from the third step on, where `½ / h` falls below it.
/// Measured in docs/forecasting.md ("Holt-Winters beyond the first steps"): 0.3 had more to
/// gain and lose (the compare frame's worst cell 1.038× against 1.018×, the derived traces'
/// SLO median 0.856 against 0.848).
pub const NEAR_TAIL: f64 = 0.2;
/// MSTL may take over the later forecast steps (the far model, [`hand_over`]) where the history
/// spans this many cycles of its longest season, and at least [`FAR_MIN_DAYS`]: STL's seasonal
/// components follow a daily shape that drifts over weeks, where the regression fits one shape
/// per season over the whole window (Taylor's electricity load two hours ahead with a 28-day
/// window: docs/forecasting.md). With two cycles (a 14-day window's weekly season) it
/// decomposes too little and lost wherever it was offered (session 9's measurements).
pub const FAR_MIN_CYCLES: i64 = 3;
/// …and at least this many days (three weeks), whatever the seasons: a window too short for
/// the weekly season (a series' first days, the backtest's 7-day windows on a two-week trace)
/// has only the daily one and three cycles of it. Offered there, it was kept on two of 57
/// replays (EC2 CPU's MASE 0.3208 → 0.3203) and moved nothing else; so the default 14-day
/// window never offers it, and its selections are what they were.
pub const FAR_MIN_DAYS: i64 = 21;
/// …and where that season is at most this many steps: STL over a week of 1-minute steps costs
/// too much at every selection (the yardstick's MSTL has the same limit).
pub const FAR_MAX_SEASON_STEPS: i64 = 2016;
/// How fast the far model takes over ([`hand_over`]): step `h` (from 0) keeps `(h + 1)^−p` of
/// the choice's forecast for the `p` of these that forecasts the calibration days best (1: half
/// at the second step, a quarter at the fourth; ½: 71 % and half; 2: a quarter and 6 %). Which
/// one wins differs by trace (two hours ahead, 50 origins, 28-day windows: taxi 0.3667 with 1
/// alone, 0.3566 with ½ alone; Taylor 0.1163 and 0.1258); choosing among 1 and ½ scored 0.992 of
/// 1 alone over six cells, adding 2 another 0.989 (docs/forecasting.md).
pub const FAR_POWERS: [f64; 3] = [1.0, 0.5, 2.0];
/// A challenger's advantage over the holdout's blocks must be this many standard errors.
pub(super) const EVIDENCE_T: f64 = 2.0;

/// The candidates for a training part holding `observed` values on a grid of `step` seconds,
/// the default first: linear-seasonal over all seasons, then seasonal naive per season that
/// fits (longest first; a season it does not fit would make seasonal naive fall back to another
/// model at the split than after the final refit).
/// Adding a model family to `auto` is one line here.
pub fn candidates(seasons: &[Span], step: i64, observed: usize) -> Vec<ModelSpec> {
    let mut specs = vec![ModelSpec::LinearSeasonal(LinearSeasonalSpec::new(
        seasons.to_vec(),
    ))];
    let mut longest_first = seasons.to_vec();
    longest_first.sort_unstable_by(|a, b| b.cmp(a));
    for season in longest_first {
        // Seasonal naive needs one season + 1 step (rounded as seasonal naive rounds).
        if season_length(season, step.max(1)).is_ok_and(|(m, _)| m < observed) {
            specs.push(ModelSpec::SeasonalNaive(SeasonalNaiveSpec::new(vec![
                season,
            ])));
        }
    }
    if specs.len() == 1 {
        // No season fits: seasonal naive falls back to the last value.
        specs.push(ModelSpec::SeasonalNaive(SeasonalNaiveSpec::new(
            seasons.to_vec(),
        )));
    }
    specs
}

/// How the candidates fared on the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// First holdout timestamp: candidates were fitted on the data before it.
    pub split: Timestamp,
    /// Holdout length in steps.
    pub holdout_steps: usize,
    /// Forecast origins within the holdout (every `origin_stride`-th step from the split).
    pub origins: usize,
    pub origin_stride: usize,
    /// Forecasts were scored 1 to `scored_steps` steps ahead.
    pub scored_steps: usize,
    /// One score per candidate, in the order tried, then the combination of the best two.
    pub scores: Vec<CandidateScore>,
    /// What was chosen (a candidate's `model`).
    pub chosen: String,
    /// Why the best-scoring candidate was not chosen, if it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A candidate's holdout score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// e.g. `seasonal-naive(1d)`, `linear-seasonal(1d,1w)`,
    /// `combination(seasonal-naive(1w) + linear-seasonal(1d,1w))`.
    pub model: String,
    /// Mean absolute error over the holdout forecasts (absent if the candidate could not fit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Forecast steps scored (observed values × origins × steps ahead).
    pub points: usize,
    /// Why the candidate could not be scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the holdout chose.
pub(super) struct Selection {
    pub(super) combine: Combine,
    pub(super) specs: Vec<(ModelSpec, f64)>,
    pub(super) forecasts: Vec<Vec<f64>>,
    pub(super) frame: Frame,
    pub(super) validation: Validation,
    /// The model that may be blended into the first steps ([`blend`]).
    pub(super) near: ModelSpec,
    /// The model that may take over the later steps ([`hand_over`]), where the history is
    /// long enough for it ([`far_spec`]).
    pub(super) far: Option<ModelSpec>,
    /// Whether the history's weekends differ, as found for a choice that replays the day before
    /// ([`AutoSpec::weekends_differ`]); `None` when not asked (no such member, or a
    /// linear-seasonal member whose own fit tells).
    pub(super) weekends_differ: Option<bool>,
}

impl AutoSpec {
    /// Scores the candidates on the holdout and returns the choice, or why no holdout was
    /// possible.
    pub(super) fn select(&self, history: &History) -> Result<Selection, String> {
        let n = history.len();
        let per = |seconds: i64| usize::try_from(seconds / history.step.max(1)).unwrap_or(0);
        let holdout = (n / HOLDOUT_FRACTION).min(per(HOLDOUT_SECONDS).max(HOLDOUT_MIN_STEPS));
        let too_short = || format!("a history of {n} steps is too short to hold out");
        if holdout < 2 {
            return Err(too_short());
        }
        let split = n - holdout;
        let train = history.head(split).ok_or_else(too_short)?;
        if history.values[split..].iter().all(|v| v.is_nan()) {
            return Err("the holdout holds no observation".to_string());
        }
        let stride = holdout.div_ceil(MAX_ORIGINS).max(1);
        let scored = per(SCORE_SECONDS).max(SCORE_MIN_STEPS).min(holdout);
        let reach = per(INTERVAL_SECONDS).max(scored).min(holdout);
        let frame = Frame {
            origins: (split..n).step_by(stride).collect(),
            scored,
            reach,
        };

        let specs = candidates(&self.seasons, history.step, train.observed);
        let mut scores = Vec::new();
        let mut tried: Vec<Tried> = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let outcome = spec.fit_history(&train, false).and_then(|model| {
                let forecasts = model.rolling_forecasts(history, &frame.origins, frame.reach)?;
                Ok((model.label(), forecasts))
            });
            match outcome {
                Ok((label, forecasts)) => {
                    let (mae, points) = mae(history, &frame, &forecasts);
                    scores.push(CandidateScore {
                        model: label.clone(),
                        mae: mae.is_finite().then(|| json_exact(mae)),
                        points,
                        error: (!mae.is_finite()).then(|| "no finite forecast to score".into()),
                    });
                    if mae.is_finite() {
                        tried.push(Tried {
                            label,
                            parts: vec![(index, 1.0)],
                            combine: Combine::Mean,
                            forecasts,
                            mae,
                        });
                    }
                }
                Err(e) => scores.push(CandidateScore {
                    model: spec_label(spec),
                    mae: None,
                    points: 0,
                    error: Some(e.to_string()),
                }),
            }
        }

        let (pick, combined) = choose(history, &frame, &tried)?;
        scores.extend(combined);
        let mut note = None;
        let mut winner = pick.take(&mut tried);
        // Whether the history's weekends differ, asked only of a choice that replays the day
        // before whatever kind it was, and by a linear fit on the whole window only where the
        // choice's hours cross a weekend or it has no linear-seasonal member of its own (whose
        // final fit answers it in the calibration).
        let daily = replays_the_day_before(&specs, &winner);
        let crossing = daily.filter(|daily| serves_another_kind_of_day(history, daily));
        let has_linear = winner
            .parts
            .iter()
            .any(|&(i, _)| matches!(specs[i], ModelSpec::LinearSeasonal(_)));
        let weekends_differ = daily
            .filter(|_| crossing.is_some() || !has_linear)
            .map(|_| self.weekends_differ(history));
        if weekends_differ == Some(true)
            && let Some(daily) = crossing
        {
            // Chosen again among the candidates that know the week (the default always does).
            tried.retain(|t| t.parts.iter().all(|&(i, _)| knows_the_week(&specs[i])));
            if let Ok((pick, _)) = choose(history, &frame, &tried) {
                note = Some(format!(
                    "{} scored best, but {} would replay a weekend day on a weekday or the \
                     reverse within the selection's hours, and the history's weekends differ \
                     (linear-seasonal keeps a weekend shape): chosen among the candidates that \
                     know the week",
                    winner.label,
                    spec_label(daily)
                ));
                winner = pick.take(&mut tried);
            }
        }
        let validation = Validation {
            split: history.time(split),
            holdout_steps: holdout,
            origins: frame.origins.len(),
            origin_stride: stride,
            scored_steps: scored,
            scores,
            chosen: winner.label,
            note,
        };
        Ok(Selection {
            combine: winner.combine,
            specs: winner
                .parts
                .iter()
                .map(|&(i, w)| (specs[i].clone(), w))
                .collect(),
            forecasts: winner.forecasts,
            frame,
            validation,
            near: ModelSpec::HoltWinters(HoltWintersSpec::new(self.seasons.clone())),
            far: far_spec(&self.seasons, history),
            weekends_differ,
        })
    }
}

/// The far model `history` may hand over to ([`hand_over`]): MSTL over `seasons` where the
/// history spans [`FAR_MIN_CYCLES`] of the longest season and [`FAR_MIN_DAYS`], the season of
/// at most [`FAR_MAX_SEASON_STEPS`].
pub(super) fn far_spec(seasons: &[Span], history: &History) -> Option<ModelSpec> {
    let longest = seasons.iter().map(|s| s.seconds()).max()?;
    let span = i64::try_from(history.len())
        .ok()?
        .checked_mul(history.step)?;
    (longest > 0
        && span >= FAR_MIN_CYCLES.saturating_mul(longest)
        && span >= FAR_MIN_DAYS * linear::DAY
        && longest <= FAR_MAX_SEASON_STEPS.saturating_mul(history.step))
    .then(|| ModelSpec::Mstl(MstlSpec::new(seasons.to_vec())))
}

/// `forecasts` (origin by origin) handed over to the far model's: step `h` (from 0) keeps
/// `(h + 1)^−power` of its value and takes the rest from the far model's ([`hand_over_steps`]).
pub(super) fn hand_over(
    mut forecasts: Vec<Vec<f64>>,
    far: &[Vec<f64>],
    power: f64,
) -> Vec<Vec<f64>> {
    for (forecast, far) in forecasts.iter_mut().zip(far) {
        hand_over_steps(forecast, far, power);
    }
    forecasts
}

/// One forecast handed over to the far model's (as [`hand_over`]): the first step is the
/// forecast's own; with `power` 1 the second is half of it, the third a third, ….
pub(super) fn hand_over_steps(forecast: &mut [f64], far: &[f64], power: f64) {
    for (h, (value, far)) in forecast.iter_mut().zip(far).enumerate() {
        let kept = ((h + 1) as f64).powf(-power);
        *value = kept * *value + (1.0 - kept) * far;
    }
}

/// `forecasts` (the choice's, origin by origin) blended with the `near` model's: step `h` (from
/// 0) takes `max(`[`NEAR_WEIGHT`]` / (h + 1), tail)` of the near model's value (`tail` 0: the
/// first steps only; [`NEAR_TAIL`]: every step).
pub(super) fn blend(mut forecasts: Vec<Vec<f64>>, near: &[Vec<f64>], tail: f64) -> Vec<Vec<f64>> {
    for (forecast, near) in forecasts.iter_mut().zip(near) {
        blend_steps(forecast, near, tail);
    }
    forecasts
}

/// One forecast blended with the near model's (as [`blend`]).
pub(super) fn blend_steps(forecast: &mut [f64], near: &[f64], tail: f64) {
    for (h, (value, near)) in forecast.iter_mut().zip(near).enumerate() {
        let weight = (NEAR_WEIGHT / (h + 1) as f64).max(tail);
        *value = (1.0 - weight) * *value + weight * near;
    }
}

/// The choice among the tried candidates: an index into them, or a combination of them.
enum Pick {
    Single(usize),
    Combined(Tried),
}

impl Pick {
    /// The chosen candidate, taken out of `tried` (the others keep their order: the first is
    /// the default), or the combination.
    fn take(self, tried: &mut Vec<Tried>) -> Tried {
        match self {
            Pick::Single(i) => tried.remove(i),
            Pick::Combined(combined) => combined,
        }
    }
}

/// The best single candidate of `tried` (the first is the default: a later one must beat the
/// best so far by [`SIMPLER_MARGIN`], and consistently over the holdout), or a combination of
/// them that beats it by [`COMBINE_MARGIN`], consistently; with the combinations' scores.
fn choose(
    history: &History,
    frame: &Frame,
    tried: &[Tried],
) -> Result<(Pick, Vec<CandidateScore>), String> {
    let mut best: Option<usize> = None;
    for (i, t) in tried.iter().enumerate() {
        if best.is_none_or(|b| {
            t.mae < tried[b].mae * (1.0 - SIMPLER_MARGIN)
                && consistently_better(history, frame, &t.forecasts, &tried[b].forecasts)
        }) {
            best = Some(i);
        }
    }
    let Some(best) = best else {
        return Err("no candidate could be scored on the holdout".to_string());
    };
    let mut pick = Pick::Single(best);
    let mut scores = Vec::new();
    let mut to_beat = tried[best].mae * (1.0 - COMBINE_MARGIN);
    let combinations = [
        combine_best_two(history, frame, tried),
        median_of_all(history, frame, tried),
    ];
    for combined in combinations.into_iter().flatten() {
        scores.push(CandidateScore {
            model: combined.label.clone(),
            mae: Some(json_exact(combined.mae)),
            points: mae(history, frame, &combined.forecasts).1,
            error: None,
        });
        if combined.mae < to_beat
            && consistently_better(history, frame, &combined.forecasts, &tried[best].forecasts)
        {
            to_beat = combined.mae;
            pick = Pick::Combined(combined);
        }
    }
    Ok((pick, scores))
}

/// Whether a candidate's forecasts carry the weekday/weekend difference: linear-seasonal (the
/// default: a weekly season or a weekend shape where the history supports them) and seasonal
/// naive over whole weeks; seasonal naive over a day replays yesterday whatever kind of day it was.
fn knows_the_week(spec: &ModelSpec) -> bool {
    match spec {
        ModelSpec::SeasonalNaive(naive) => naive.seasons.iter().all(|s| s.seconds() % WEEK == 0),
        _ => true,
    }
}

impl AutoSpec {
    /// Whether the history's weekends differ from its weekdays: its linear-seasonal fit keeps a
    /// weekend shape (by the BIC). The holdout cannot tell; the linear fit on the whole history
    /// (only made for this question) can.
    fn weekends_differ(&self, history: &History) -> bool {
        let spec = ModelSpec::LinearSeasonal(LinearSeasonalSpec::new(self.seasons.clone()));
        matches!(
            spec.fit_history(history, false),
            Ok(FittedModel::LinearSeasonal(fit)) if fit.has_weekend_shape()
        )
    }
}

/// A member of `winner` that does not know the week (it replays the day before whatever kind
/// of day that was), if any.
fn replays_the_day_before<'a>(specs: &'a [ModelSpec], winner: &Tried) -> Option<&'a ModelSpec> {
    winner
        .parts
        .iter()
        .map(|&(i, _)| &specs[i])
        .find(|spec| !knows_the_week(spec))
}

/// Whether `daily`'s forecasts over the hours the selection serves ([`RESELECT_SECONDS`] and the
/// scored reach beyond) would replay a weekend day on a weekday or the reverse: on one week of
/// history a Sunday's holdout is won by replaying Saturday, which on Monday forecasts a closed
/// office.
fn serves_another_kind_of_day(history: &History, daily: &ModelSpec) -> bool {
    let Some(season) = daily.seasons().iter().map(|s| s.seconds()).min() else {
        return false;
    };
    let now = history.time(history.len());
    let step = history.step.max(1);
    replays_another_kind_of_day(
        season,
        (0..=(RESELECT_SECONDS + SCORE_SECONDS) / step).map(|k| now + k * step),
    )
}

/// Whether replaying the values `season` seconds back puts a weekend day (UTC) on a weekday or
/// the reverse at any of `times`.
pub(super) fn replays_another_kind_of_day(
    season: i64,
    mut times: impl Iterator<Item = Timestamp>,
) -> bool {
    times.any(|t| linear::is_weekend(t) != linear::is_weekend(t - season))
}

/// A spec's label before fitting (for a candidate that failed to fit).
fn spec_label(spec: &ModelSpec) -> String {
    format!("{}({})", spec.name(), join_seasons(spec.seasons()))
}

/// Whether `challenger`'s holdout forecasts beat `incumbent`'s consistently rather than on a
/// few bad hours of the incumbent: origins are grouped into blocks that do not share scored
/// steps (overlapping forecasts' errors are not independent), and the mean of the blocks'
/// differences in MAE must be [`EVIDENCE_T`] standard errors above zero.
pub(super) fn consistently_better(
    history: &History,
    frame: &Frame,
    challenger: &[Vec<f64>],
    incumbent: &[Vec<f64>],
) -> bool {
    let stride = frame
        .origins
        .get(1)
        .map_or(1, |&b| b - frame.origins[0])
        .max(1);
    let per_block = frame.scored.div_ceil(stride).max(1);
    let one = |forecasts: &[Vec<f64>], range: std::ops::Range<usize>| {
        mae_at(
            history,
            &frame.origins[range.clone()],
            frame.scored,
            &forecasts[range],
        )
        .0
    };
    let diffs: Vec<f64> = (0..frame.origins.len())
        .step_by(per_block)
        .map(|start| start..(start + per_block).min(frame.origins.len()))
        .map(|range| one(incumbent, range.clone()) - one(challenger, range))
        .filter(|d| d.is_finite())
        .collect();
    let k = diffs.len();
    if k < 2 {
        return false;
    }
    let mean = diffs.iter().sum::<f64>() / k as f64;
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    mean > 0.0 && mean >= EVIDENCE_T * (var / k as f64).sqrt()
}
