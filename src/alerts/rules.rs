//! Alert evaluation: facts about series and targets in, notifications out. Pure — no clock
//! (`now` is in the facts), no I/O — so every rule is unit-tested here.
//!
//! Four conditions, each keyed by what it is about:
//! - **forecast miss** (series): the actual load was above the forecast's 95 % upper bound for
//!   `consecutive_steps` steps in a row — the forecast is missing reality;
//! - **capacity breach** (target): the plan hits `max_replicas` (the current decision is
//!   clamped there, or a later step of the planned trajectory needs at least that many), so
//!   capacity is about to run out — the notification says from when;
//! - **model stale** (series): the model in use is older than `model_stale_after` (refits keep
//!   failing, or the refit loop is stuck);
//! - **model failed** (series): the last fit failed and there is no model to plan with.
//!
//! An incident fires once when its condition starts and resolves once when the condition has
//! been clear for `resolve_after` (so a flapping condition does not page every tick). Firing
//! notifications are rate-limited to `max_per_hour` over a sliding hour; an incident whose
//! firing was suppressed by the limit stays open silently and sends no resolve either (the
//! receiver never heard of it), and the suppression is counted. Resolves of announced
//! incidents are always sent.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::series::{Timestamp, format_timestamp};

/// What is alerted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    ForecastMiss,
    CapacityBreach,
    ModelStale,
    ModelFailed,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ForecastMiss => "forecast_miss",
            AlertKind::CapacityBreach => "capacity_breach",
            AlertKind::ModelStale => "model_stale",
            AlertKind::ModelFailed => "model_failed",
        }
    }
}

/// The model of a series, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelFacts {
    /// A model fitted at `fitted_at`.
    Fitted { fitted_at: Timestamp },
    /// No model, and the last fit failed with `error`.
    Failed { error: String },
    /// No model yet and no failure (not fitted yet, or no data).
    Pending,
}

/// One series a target scales on.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesFacts {
    pub series: String,
    /// Newest-first run length of steps whose actual was above the 95 % upper bound.
    pub steps_above_95: usize,
    /// The newest compared step: its time, actual and 95 % upper bound.
    pub last_compared: Option<(Timestamp, f64, f64)>,
    pub model: ModelFacts,
}

/// One target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetFacts {
    pub target: String,
    pub max_replicas: u32,
    /// When the plan is first clamped at `max_replicas` (now or ahead), and the replicas it
    /// would have needed then, when known.
    pub clamped_at_max: Option<(Timestamp, Option<u64>)>,
}

/// Everything one evaluation looks at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    pub now: Timestamp,
    pub series: Vec<SeriesFacts>,
    pub targets: Vec<TargetFacts>,
}

/// The rules' settings (see `AlertsConfig` for the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSettings {
    pub consecutive_steps: usize,
    pub model_stale_after: i64,
    pub resolve_after: i64,
    pub max_per_hour: usize,
}

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
}

/// One message to send to every receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub status: Status,
    pub alert: AlertKind,
    /// The series or target the incident is about.
    pub subject: String,
    pub summary: String,
    pub started_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Facts of the condition as JSON (the generic webhook carries them).
    pub details: serde_json::Value,
}

/// An open incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub started_at: Timestamp,
    pub summary: String,
    pub details: serde_json::Value,
    /// Since when the condition has been clear, while it is.
    pub clear_since: Option<Timestamp>,
    /// False when the firing notification was suppressed by the rate limit.
    pub announced: bool,
}

/// The evaluator's memory between evaluations.
#[derive(Debug, Clone)]
pub struct Evaluator {
    settings: RuleSettings,
    open: BTreeMap<(AlertKind, String), Incident>,
    /// Times of firing notifications sent within the last hour.
    sent: VecDeque<Timestamp>,
    /// Firing notifications withheld by the rate limit.
    pub suppressed: u64,
}

impl Evaluator {
    pub fn new(settings: RuleSettings) -> Evaluator {
        Evaluator {
            settings,
            open: BTreeMap::new(),
            sent: VecDeque::new(),
            suppressed: 0,
        }
    }

    /// Open incidents, by kind and subject.
    pub fn open(&self) -> &BTreeMap<(AlertKind, String), Incident> {
        &self.open
    }

    /// The conditions that hold in `facts`, with their summaries and details.
    pub fn conditions(
        &self,
        facts: &Facts,
    ) -> BTreeMap<(AlertKind, String), (String, serde_json::Value)> {
        let s = &self.settings;
        let now = facts.now;
        let mut found = BTreeMap::new();
        for series in &facts.series {
            if s.consecutive_steps > 0
                && series.steps_above_95 >= s.consecutive_steps
                && let Some((at, actual, upper)) = series.last_compared
            {
                found.insert(
                    (AlertKind::ForecastMiss, series.series.clone()),
                    (
                        format!(
                            "series {}: the actual load ({actual:.6}) has been above the forecast's 95% bound ({upper:.6}) for {} consecutive steps, the latest at {}",
                            series.series,
                            series.steps_above_95,
                            format_timestamp(at)
                        ),
                        serde_json::json!({
                            "series": series.series,
                            "consecutive_steps": series.steps_above_95,
                            "actual": actual,
                            "upper_95": upper,
                            "at": format_timestamp(at),
                        }),
                    ),
                );
            }
            match &series.model {
                ModelFacts::Fitted { fitted_at } if now - fitted_at > s.model_stale_after => {
                    let age = now - fitted_at;
                    found.insert(
                        (AlertKind::ModelStale, series.series.clone()),
                        (
                            format!(
                                "series {}: the model is {} old (fitted at {}), older than model_stale_after ({})",
                                series.series,
                                human(age),
                                format_timestamp(*fitted_at),
                                human(s.model_stale_after)
                            ),
                            serde_json::json!({
                                "series": series.series,
                                "fitted_at": format_timestamp(*fitted_at),
                                "age_seconds": age,
                            }),
                        ),
                    );
                }
                ModelFacts::Failed { error } => {
                    found.insert(
                        (AlertKind::ModelFailed, series.series.clone()),
                        (
                            format!(
                                "series {}: no model, the last fit failed: {error}",
                                series.series
                            ),
                            serde_json::json!({ "series": series.series, "error": error }),
                        ),
                    );
                }
                _ => {}
            }
        }
        for target in &facts.targets {
            if let Some((at, needed)) = target.clamped_at_max {
                let when = if at <= now {
                    "now".to_string()
                } else {
                    format!("from {} (in {})", format_timestamp(at), human(at - now))
                };
                let need = match needed {
                    Some(n) => format!("; it needs {n}"),
                    None => String::new(),
                };
                found.insert(
                    (AlertKind::CapacityBreach, target.target.clone()),
                    (
                        format!(
                            "target {}: the plan hits max_replicas ({}) {when}{need}: capacity runs out",
                            target.target, target.max_replicas
                        ),
                        serde_json::json!({
                            "target": target.target,
                            "max_replicas": target.max_replicas,
                            "at": format_timestamp(at),
                            "in_seconds": (at - now).max(0),
                            "needed_replicas": needed,
                        }),
                    ),
                );
            }
        }
        found
    }

    /// Compares `facts` with the open incidents: new conditions fire, conditions clear for
    /// `resolve_after` resolve. Returns the notifications to send, in order.
    pub fn evaluate(&mut self, facts: &Facts) -> Vec<Notification> {
        let now = facts.now;
        let active = self.conditions(facts);
        while self.sent.front().is_some_and(|&t| t <= now - 3600) {
            self.sent.pop_front();
        }
        let mut out = Vec::new();
        for (key, (summary, details)) in &active {
            if let Some(incident) = self.open.get_mut(key) {
                incident.clear_since = None;
                incident.summary = summary.clone();
                incident.details = details.clone();
                continue;
            }
            let announced = self.sent.len() < self.settings.max_per_hour;
            if announced {
                self.sent.push_back(now);
                out.push(Notification {
                    status: Status::Firing,
                    alert: key.0,
                    subject: key.1.clone(),
                    summary: summary.clone(),
                    started_at: now,
                    resolved_at: None,
                    details: details.clone(),
                });
            } else {
                self.suppressed += 1;
            }
            self.open.insert(
                key.clone(),
                Incident {
                    started_at: now,
                    summary: summary.clone(),
                    details: details.clone(),
                    clear_since: None,
                    announced,
                },
            );
        }
        let resolve_after = self.settings.resolve_after;
        let mut closed = Vec::new();
        for (key, incident) in self.open.iter_mut() {
            if active.contains_key(key) {
                continue;
            }
            let since = *incident.clear_since.get_or_insert(now);
            if now - since >= resolve_after {
                closed.push(key.clone());
            }
        }
        for key in closed {
            let incident = self.open.remove(&key).expect("listed above");
            if incident.announced {
                out.push(Notification {
                    status: Status::Resolved,
                    alert: key.0,
                    subject: key.1,
                    summary: format!(
                        "resolved after {}: {}",
                        human(now - incident.started_at),
                        incident.summary
                    ),
                    started_at: incident.started_at,
                    resolved_at: Some(now),
                    details: incident.details,
                });
            }
        }
        out
    }
}

/// `90` → `1m30s`, `7200` → `2h`.
pub fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (sec, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RuleSettings {
        RuleSettings {
            consecutive_steps: 3,
            model_stale_after: 1800,
            resolve_after: 60,
            max_per_hour: 10,
        }
    }

    fn series(above: usize, model: ModelFacts) -> SeriesFacts {
        SeriesFacts {
            series: "rps".into(),
            steps_above_95: above,
            last_compared: Some((1000, 500.0, 300.0)),
            model,
        }
    }

    fn facts(now: Timestamp, series: Vec<SeriesFacts>, targets: Vec<TargetFacts>) -> Facts {
        Facts {
            now,
            series,
            targets,
        }
    }

    const FRESH: ModelFacts = ModelFacts::Fitted { fitted_at: 900 };

    #[test]
    fn forecast_miss_needs_n_consecutive_steps() {
        let mut e = Evaluator::new(settings());
        assert!(
            e.evaluate(&facts(1000, vec![series(2, FRESH)], vec![]))
                .is_empty()
        );
        let out = e.evaluate(&facts(1060, vec![series(3, FRESH)], vec![]));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, Status::Firing);
        assert_eq!(out[0].alert, AlertKind::ForecastMiss);
        assert!(
            out[0].summary.contains("3 consecutive steps"),
            "{}",
            out[0].summary
        );
        // Once per incident: still firing, nothing more.
        assert!(
            e.evaluate(&facts(1120, vec![series(4, FRESH)], vec![]))
                .is_empty()
        );
        assert!(
            e.evaluate(&facts(1180, vec![series(9, FRESH)], vec![]))
                .is_empty()
        );
    }

    #[test]
    fn resolves_once_after_being_clear_long_enough() {
        let mut e = Evaluator::new(settings());
        e.evaluate(&facts(1000, vec![series(3, FRESH)], vec![]));
        // Clear, then back before resolve_after: no resolve, no second firing.
        assert!(
            e.evaluate(&facts(1010, vec![series(0, FRESH)], vec![]))
                .is_empty()
        );
        assert!(
            e.evaluate(&facts(1050, vec![series(3, FRESH)], vec![]))
                .is_empty()
        );
        assert!(
            e.evaluate(&facts(1060, vec![series(0, FRESH)], vec![]))
                .is_empty()
        );
        assert!(
            e.evaluate(&facts(1100, vec![series(0, FRESH)], vec![]))
                .is_empty()
        );
        let out = e.evaluate(&facts(1120, vec![series(0, FRESH)], vec![]));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, Status::Resolved);
        assert_eq!((out[0].started_at, out[0].resolved_at), (1000, Some(1120)));
        assert!(
            out[0].summary.starts_with("resolved after 2m"),
            "{}",
            out[0].summary
        );
        assert!(e.open().is_empty());
        assert!(
            e.evaluate(&facts(1200, vec![series(0, FRESH)], vec![]))
                .is_empty()
        );
        // A new incident fires again.
        assert_eq!(
            e.evaluate(&facts(1300, vec![series(5, FRESH)], vec![]))
                .len(),
            1
        );
    }

    #[test]
    fn capacity_breach_says_when() {
        let mut e = Evaluator::new(settings());
        let target = |at| TargetFacts {
            target: "checkout".into(),
            max_replicas: 30,
            clamped_at_max: at,
        };
        let out = e.evaluate(&facts(1000, vec![], vec![target(Some((1000 + 150, None)))]));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].alert, AlertKind::CapacityBreach);
        assert!(
            out[0].summary.contains("max_replicas (30)") && out[0].summary.contains("in 2m30s"),
            "{}",
            out[0].summary
        );
        assert_eq!(out[0].details["in_seconds"], 150);
        let mut e = Evaluator::new(settings());
        let out = e.evaluate(&facts(1000, vec![], vec![target(Some((1000, Some(45))))]));
        assert!(
            out[0].summary.contains("now") && out[0].summary.contains("needs 45"),
            "{}",
            out[0].summary
        );
        assert!(
            e.evaluate(&facts(1100, vec![], vec![target(None)]))
                .is_empty()
        );
        assert_eq!(
            e.evaluate(&facts(1160, vec![], vec![target(None)]))[0].status,
            Status::Resolved
        );
    }

    #[test]
    fn stale_and_failed_models() {
        let mut e = Evaluator::new(settings());
        let out = e.evaluate(&facts(
            1000 + 1801,
            vec![series(0, ModelFacts::Fitted { fitted_at: 1000 })],
            vec![],
        ));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].alert, AlertKind::ModelStale);
        assert!(out[0].summary.contains("30m1s old"), "{}", out[0].summary);
        let mut e = Evaluator::new(settings());
        let failed = ModelFacts::Failed {
            error: "too little history".into(),
        };
        let out = e.evaluate(&facts(1000, vec![series(0, failed)], vec![]));
        assert_eq!(out[0].alert, AlertKind::ModelFailed);
        assert!(out[0].summary.contains("too little history"));
        // Pending is not an alert.
        let mut e = Evaluator::new(settings());
        assert!(
            e.evaluate(&facts(1000, vec![series(0, ModelFacts::Pending)], vec![]))
                .is_empty()
        );
    }

    #[test]
    fn firing_is_rate_limited_and_suppressed_incidents_resolve_silently() {
        let mut e = Evaluator::new(RuleSettings {
            max_per_hour: 2,
            ..settings()
        });
        let many = |n: usize, above: usize| -> Vec<SeriesFacts> {
            (0..n)
                .map(|i| SeriesFacts {
                    series: format!("s{i}"),
                    ..series(above, ModelFacts::Pending)
                })
                .collect()
        };
        let out = e.evaluate(&facts(1000, many(3, 3), vec![]));
        assert_eq!(out.len(), 2);
        assert_eq!(e.suppressed, 1);
        assert_eq!(e.open().len(), 3);
        // Clear: only the two announced incidents resolve.
        e.evaluate(&facts(1010, many(3, 0), vec![]));
        let out = e.evaluate(&facts(1100, many(3, 0), vec![]));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|n| n.status == Status::Resolved));
        // Within the hour the budget is spent; after it, firing is allowed again.
        assert!(e.evaluate(&facts(2000, many(1, 3), vec![])).is_empty());
        assert_eq!(e.suppressed, 2);
        e.evaluate(&facts(2010, many(1, 0), vec![]));
        e.evaluate(&facts(2100, many(1, 0), vec![]));
        assert_eq!(e.evaluate(&facts(4700, many(1, 3), vec![])).len(), 1);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(90), "1m30s");
        assert_eq!(human(7200), "2h");
        assert_eq!(human(90_061), "1d1h1m1s");
    }
}
