//! Model selection: fit each candidate on the older part of the history, score it on the
//! newest part, keep the best, refit it on everything.
//!
//! Candidates: seasonal naive for each season the older part supports (daily and weekly
//! repetition win on different traces, so each is scored on its own), and linear-seasonal over
//! all the seasons. The holdout is the last `min(20 % of the steps, max(1 day, 24 steps))`;
//! each candidate is fitted once at the split and forecasts from 4 rolling origins spread over
//! the holdout to its end (a candidate only ever sees data before each origin), and the score is
//! the MAE over all those forecasts. Several origins make the choice less hostage to one odd
//! evening than a single multi-step forecast would. Ties go to the simpler model (seasonal
//! naive, longest season first).
//!
//! A history too short to hold out (or whose holdout holds no observation) gets plain seasonal
//! naive, which itself falls back to shorter seasons and to the last value; the summary says so.

use serde::{Deserialize, Serialize};

use super::history::{History, TrainingInfo};
use super::linear::{self, FittedLinearSeasonal, LinearSeasonalSpec};
use super::seasonal_naive::{self, FittedSeasonalNaive, SeasonalNaiveSpec};
use super::{Fit, Forecast, ForecastError, Predict, check_seasons, json_exact};
use crate::series::{Series, Span, Timestamp};

/// Parameters of `auto`: the seasons its candidates may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoSpec {
    pub seasons: Vec<Span>,
}

/// The holdout is at most this fraction of the history…
const HOLDOUT_FRACTION: usize = 5;
/// …and otherwise a day, but never fewer steps than this (for coarse steps).
const HOLDOUT_MIN_STEPS: usize = 24;
/// Rolling origins within the holdout.
const ORIGINS: usize = 4;

impl AutoSpec {
    pub fn new(seasons: Vec<Span>) -> AutoSpec {
        AutoSpec { seasons }
    }

    /// Validates the parameters (see [`super::ModelSpec::check`]).
    pub fn check(&self) -> Result<(), ForecastError> {
        check_seasons(&self.seasons)
    }
}

/// The model `auto` chose, fitted on the whole history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum Chosen {
    SeasonalNaive(FittedSeasonalNaive),
    LinearSeasonal(FittedLinearSeasonal),
}

/// How the candidates fared on the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// First holdout timestamp: candidates were fitted on the data before it.
    pub split: Timestamp,
    /// Holdout length in steps.
    pub holdout_steps: usize,
    /// The forecast origins within the holdout.
    pub origins: Vec<Timestamp>,
    /// One score per candidate, in the order tried.
    pub scores: Vec<CandidateScore>,
}

/// A candidate's holdout score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// e.g. `seasonal-naive(1d)`, `linear-seasonal(1d,7d)`.
    pub model: String,
    /// Mean absolute error over the holdout forecasts (absent if the candidate could not fit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Forecast steps scored (observed holdout values × origins).
    pub points: usize,
    /// Why the candidate could not be scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A fitted `auto` model: the chosen model and the evidence for the choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedAuto {
    chosen: Chosen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validation: Option<Validation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fallbacks: Vec<String>,
}

enum Candidate {
    SeasonalNaive(SeasonalNaiveSpec, usize),
    Linear(LinearSeasonalSpec),
}

impl Candidate {
    fn name(&self) -> String {
        match self {
            Candidate::SeasonalNaive(spec, _) => format!("seasonal-naive({})", join(&spec.seasons)),
            Candidate::Linear(spec) => format!("linear-seasonal({})", join(&spec.seasons)),
        }
    }
}

fn join(seasons: &[Span]) -> String {
    let names: Vec<String> = seasons.iter().map(Span::to_string).collect();
    if names.is_empty() {
        "last value".to_string()
    } else {
        names.join(",")
    }
}

impl Fit for AutoSpec {
    type Fitted = FittedAuto;

    fn fit(&self, series: &Series) -> Result<FittedAuto, ForecastError> {
        self.check()?;
        let history = History::new(series)?;
        match self.validate(&history) {
            Ok((winner, validation)) => {
                let chosen = match winner {
                    Candidate::SeasonalNaive(spec, _) => {
                        Chosen::SeasonalNaive(seasonal_naive::fit_history(&spec, &history)?)
                    }
                    Candidate::Linear(spec) => {
                        Chosen::LinearSeasonal(linear::fit_history(&spec, &history, true)?)
                    }
                };
                Ok(FittedAuto {
                    chosen,
                    validation: Some(validation),
                    fallbacks: Vec::new(),
                })
            }
            Err(why) => {
                let spec = SeasonalNaiveSpec::new(self.seasons.clone());
                Ok(FittedAuto {
                    chosen: Chosen::SeasonalNaive(seasonal_naive::fit_history(&spec, &history)?),
                    validation: None,
                    fallbacks: vec![format!("{why}: using seasonal naive without validation")],
                })
            }
        }
    }
}

impl AutoSpec {
    /// Scores the candidates on the holdout and returns the winner, or why no holdout was
    /// possible.
    fn validate(&self, history: &History) -> Result<(Candidate, Validation), String> {
        let n = history.len();
        let day = usize::try_from(86_400 / history.step).unwrap_or(0);
        let holdout = (n / HOLDOUT_FRACTION).min(day.max(HOLDOUT_MIN_STEPS));
        let split = n - holdout;
        let too_short = || format!("a history of {n} steps is too short to hold out");
        if holdout < 2 {
            return Err(too_short());
        }
        let train = history.head(split).ok_or_else(too_short)?;
        if history.values[split..].iter().all(|v| v.is_nan()) {
            return Err("the holdout holds no observation".to_string());
        }
        let mut origins: Vec<usize> = (0..ORIGINS)
            .map(|i| split + i * holdout / ORIGINS)
            .collect();
        origins.dedup();

        let mut candidates = Vec::new();
        let mut scores = Vec::new();
        let mut seasons = self.seasons.clone();
        seasons.sort_unstable_by(|a, b| b.cmp(a));
        for season in seasons {
            let spec = SeasonalNaiveSpec::new(vec![season]);
            match spec.choose_season(&train) {
                (Some((_, m)), _) => candidates.push(Candidate::SeasonalNaive(spec, m)),
                (None, _) => scores.push(CandidateScore {
                    model: Candidate::SeasonalNaive(spec, 0).name(),
                    mae: None,
                    points: 0,
                    error: Some("the training part is shorter than one season + 1 step".into()),
                }),
            }
        }
        if candidates.is_empty() {
            candidates.push(Candidate::SeasonalNaive(SeasonalNaiveSpec::new(vec![]), 1));
        }
        candidates.push(Candidate::Linear(LinearSeasonalSpec::new(
            self.seasons.clone(),
        )));

        let mut best: Option<(f64, usize)> = None;
        for (index, candidate) in candidates.iter().enumerate() {
            let forecasts = match candidate {
                Candidate::SeasonalNaive(_, m) => Ok(origins
                    .iter()
                    .map(|&o| seasonal_naive::point_forecast(history, o, *m, n - o))
                    .collect::<Vec<_>>()),
                Candidate::Linear(spec) => linear::fit_history(spec, &train, false)
                    .map(|model| model.holdout_forecasts(history, &origins)),
            };
            let score = match forecasts {
                Ok(forecasts) => {
                    let (mae, points) = holdout_mae(history, &origins, &forecasts);
                    if mae.is_finite() {
                        if best.is_none_or(|(b, _)| mae < b) {
                            best = Some((mae, index));
                        }
                        CandidateScore {
                            model: candidate.name(),
                            mae: Some(json_exact(mae)),
                            points,
                            error: None,
                        }
                    } else {
                        CandidateScore {
                            model: candidate.name(),
                            mae: None,
                            points,
                            error: Some("non-finite forecast".into()),
                        }
                    }
                }
                Err(e) => CandidateScore {
                    model: candidate.name(),
                    mae: None,
                    points: 0,
                    error: Some(e.to_string()),
                },
            };
            scores.push(score);
        }
        let Some((_, index)) = best else {
            return Err("no candidate could be scored on the holdout".to_string());
        };
        let validation = Validation {
            split: history.time(split),
            holdout_steps: holdout,
            origins: origins.iter().map(|&o| history.time(o)).collect(),
            scores,
        };
        let winner = candidates.swap_remove(index);
        Ok((winner, validation))
    }
}

/// MAE of `forecasts[j]` (steps `origins[j]..n`) against the observed values, and the number
/// of points scored.
fn holdout_mae(history: &History, origins: &[usize], forecasts: &[Vec<f64>]) -> (f64, usize) {
    let (mut sum, mut points) = (0.0, 0usize);
    for (&origin, forecast) in origins.iter().zip(forecasts) {
        for (actual, predicted) in history.values[origin..].iter().zip(forecast) {
            if !actual.is_nan() {
                sum += (actual - predicted).abs();
                points += 1;
            }
        }
    }
    if points == 0 {
        (f64::NAN, 0)
    } else {
        (sum / points as f64, points)
    }
}

impl FittedAuto {
    pub fn chosen(&self) -> &Chosen {
        &self.chosen
    }

    pub fn validation(&self) -> Option<&Validation> {
        self.validation.as_ref()
    }

    /// Why `auto` did not validate, if it did not.
    pub fn fallbacks(&self) -> &[String] {
        &self.fallbacks
    }

    pub fn training(&self) -> &TrainingInfo {
        match &self.chosen {
            Chosen::SeasonalNaive(model) => model.training(),
            Chosen::LinearSeasonal(model) => model.training(),
        }
    }

    /// The family of the chosen model.
    pub fn family(&self) -> &'static str {
        match &self.chosen {
            Chosen::SeasonalNaive(_) => "seasonal-naive",
            Chosen::LinearSeasonal(_) => "linear-seasonal",
        }
    }
}

impl Predict for FittedAuto {
    fn predict(&self, horizon: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        match &self.chosen {
            Chosen::SeasonalNaive(model) => model.predict(horizon, levels),
            Chosen::LinearSeasonal(model) => model.predict(horizon, levels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::test_support::Lcg;

    fn span(text: &str) -> Span {
        text.parse().unwrap()
    }

    #[test]
    fn picks_seasonal_naive_on_an_exact_repeat() {
        // An irregular daily shape repeated exactly, 10 days at 30-minute steps.
        let mut rng = Lcg(5);
        let day: Vec<f64> = (0..48).map(|_| 100.0 + 50.0 * rng.uniform()).collect();
        let values: Vec<f64> = (0..480).map(|i| day[i % 48]).collect();
        let series = Series::new(0, 1800, values).unwrap();
        let model = AutoSpec::new(vec![span("1d"), span("7d")])
            .fit(&series)
            .unwrap();
        assert_eq!(model.family(), "seasonal-naive");
        let validation = model.validation().unwrap();
        assert_eq!(validation.holdout_steps, 48);
        assert!(
            validation
                .scores
                .iter()
                .any(|s| s.model == "linear-seasonal(1d,1w)")
        );
        assert!(validation.scores.iter().any(|s| s.mae == Some(0.0)));
    }

    #[test]
    fn picks_linear_on_a_smooth_sine_with_noise() {
        let mut rng = Lcg(9);
        let values: Vec<f64> = (0..14 * 48)
            .map(|i| {
                let phase = std::f64::consts::TAU * i as f64 / 48.0;
                200.0 + 80.0 * phase.sin() + 10.0 * rng.normal()
            })
            .collect();
        let series = Series::new(0, 1800, values).unwrap();
        let model = AutoSpec::new(vec![span("1d"), span("7d")])
            .fit(&series)
            .unwrap();
        assert_eq!(model.family(), "linear-seasonal");
        let scores = &model.validation().unwrap().scores;
        assert_eq!(scores.len(), 3, "{scores:?}");
    }

    #[test]
    fn short_history_falls_back_and_says_so() {
        let series = Series::new(0, 3600, vec![1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let model = AutoSpec::new(vec![span("1d")]).fit(&series).unwrap();
        assert_eq!(model.family(), "seasonal-naive");
        assert!(model.validation().is_none());
        assert!(model.fallbacks()[0].contains("too short to hold out"));
        let forecast = model.predict(3, &[0.5]).unwrap();
        assert_eq!(forecast.yhat, vec![5.0; 3]);
    }
}
