//! The backtest report: the JSON document (`--json`), the summary line, and the text tables the
//! CLI prints. The JSON holds figures only — per-step series stay in memory for the picture —
//! so a report stays a few kilobytes whatever the trace. NaN figures are written as `null`.

use serde::Serialize;

use crate::series::csv::Dataset;
use crate::series::format_timestamp;

use super::Capacity;
use super::accuracy::AccuracyRow;
pub use super::figures::num;
use super::figures::ratio;
use super::fleet::PolicyKind;
use super::hindsight::{self, DOMINANCE_TOLERANCE, Hindsight, HpaPoint, SloOutcome};
use super::setup::Setup;
use super::simulate::{ScalingConfig, Simulation};
use crate::series::span_text;

/// The HPA setting the summary compares against: the common default target utilization.
pub const REFERENCE_UTILIZATION: f64 = 0.6;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The dataset's file name.
    pub dataset: String,
    pub step_seconds: i64,
    /// Grid steps from the first to the last timestamp (gaps included).
    pub points: usize,
    /// Steps holding an observation.
    pub observed_points: usize,
    pub first_timestamp: String,
    pub last_timestamp: String,
    pub horizon_steps: usize,
    pub train_window_seconds: i64,
    pub train_window_steps: usize,
    /// Seasons used (after dropping those the window cannot hold twice), and in steps.
    pub seasons: Vec<String>,
    pub seasons_steps: Vec<usize>,
    /// The accuracy origins (RFC 3339), as `eval/peers.py --emit-origins` writes them.
    pub origins: Vec<String>,
    /// Adjustments made to the options for this trace.
    pub notes: Vec<String>,
    pub accuracy: Vec<AccuracyRow>,
    pub scaling: Scaling,
    /// Wall seconds of the whole backtest.
    pub elapsed_seconds: f64,
}

/// The scaling simulation's section.
#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    pub capacity_per_replica: f64,
    /// `given`, or `auto` (the trace's 99th percentile / 20).
    pub capacity_source: String,
    pub startup_delay_seconds: i64,
    /// The delay in whole steps (rounded up): a pod added at `t` is ready at `t + steps`.
    pub startup_delay_steps: usize,
    /// The predictive targets' lead time (`startup_delay_steps` steps).
    pub lead_time_seconds: i64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// The count every policy starts with, all pods ready.
    pub initial_replicas: u32,
    /// The simulated steps: `start ..< end`.
    pub period: Period,
    /// The predictive policy's model and the engine settings it is replayed with.
    pub model: String,
    pub refit_interval_seconds: i64,
    pub plan_horizon_seconds: i64,
    pub stabilization_seconds: i64,
    pub fits: usize,
    pub fit_failures: usize,
    pub mean_fit_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit_error: Option<String>,
    /// How often the bands the engine was publishing held the demand, over every simulated step
    /// ([`super::simulate::Simulation::published_coverage`]).
    pub published_coverage: PublishedCoverage,
    /// How far the point forecasts the engine was publishing lay from the demand, over every
    /// simulated step ([`super::simulate::Simulation::published_errors`]).
    pub published_accuracy: PublishedAccuracy,
    pub policies: Vec<PolicyRow>,
    pub summary: Summary,
}

/// The share of the scored steps whose demand lay inside the 80 % and the 95 % band of the
/// forecast the predictive policy planned on at that step (NaN, written `null`, without any).
#[derive(Debug, Clone, Serialize)]
pub struct PublishedCoverage {
    pub steps: usize,
    pub coverage80: f64,
    pub coverage95: f64,
}

/// The mean absolute error of the point forecast the predictive policy planned on at each
/// scored step, and that error over the error of repeating the demand one season (the shortest
/// of `seasons`) earlier over the same period (NaN, written `null`, when undefined). The
/// accuracy part scores fresh fits at sampled origins; these are the forecasts of the engine's
/// own cycle, which keeps `auto`'s selection between reselections.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedAccuracy {
    pub steps: usize,
    pub mae: f64,
    pub mase: f64,
}

/// The simulated period.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    /// First simulated step.
    pub start: String,
    /// Just after the last simulated step.
    pub end: String,
    pub steps: usize,
    /// Steps with an observed demand: the only ones scored.
    pub scored_steps: usize,
}

/// One policy's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRow {
    pub policy: &'static str,
    /// Quantile (predictive, hybrid), SLO (slo), target utilization (reactive-hpa), `null`
    /// (oracle).
    pub param: Option<f64>,
    /// The hybrid's reactive floor (absent for the other policies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reactive_utilization: Option<f64>,
    pub underprovisioned_fraction: f64,
    pub unserved_fraction: f64,
    pub replica_hours: f64,
    pub cost_vs_oracle: f64,
    pub scale_events: usize,
}

/// The verdict: the cheapest prescale setting (predictive, hybrid or slo) that under-provisions
/// no more than the HPA at u = 0.6; the same for every simulated HPA setting (`dominance`); and,
/// with `--slo`, how the SLO policy did against the HPA tuned in hindsight (`hindsight`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub hpa_utilization: f64,
    pub hpa_underprovisioned_fraction: f64,
    pub hpa_replica_hours: f64,
    /// `None` when every prescale setting under-provisions more than that HPA.
    pub choice: Option<Choice>,
    /// When there is no choice: the prescale setting that under-provisions least (the
    /// cheapest of those), for comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closest: Option<Choice>,
    /// Per simulated HPA setting, prescale's cheapest setting with no more under-provisioning.
    pub dominance: Dominance,
    /// With `--slo`: SLO mode against the HPA frontier interpolated at the budget and at its
    /// realized level ([`hindsight`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hindsight: Option<Hindsight>,
    /// The same in one sentence.
    pub text: String,
}

/// One prescale setting, measured against an HPA setting.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// `predictive`, `hybrid` or `slo`.
    pub policy: &'static str,
    /// The policy row's `param`.
    pub param: f64,
    /// The forecast quantile planned on (the SLO policy's base band for `slo`).
    pub quantile: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reactive_utilization: Option<f64>,
    pub underprovisioned_fraction: f64,
    pub replica_hours: f64,
    pub cost_vs_hpa: f64,
    pub cost_vs_oracle: f64,
    pub scale_events: usize,
}

impl Choice {
    /// `q=0.9`, `q=0.9+floor0.8` or `slo=0.99`.
    pub fn label(&self) -> String {
        setting_label(self.policy, self.param, self.reactive_utilization)
    }
}

/// One HPA setting and prescale's cheapest setting that under-provisions no more.
#[derive(Debug, Clone, Serialize)]
pub struct Matched {
    pub hpa_utilization: f64,
    pub hpa_underprovisioned_fraction: f64,
    pub hpa_replica_hours: f64,
    pub hpa_scale_events: usize,
    /// `None` when no prescale setting is as reliable.
    pub choice: Option<Choice>,
}

/// For every simulated HPA setting, prescale's cheapest setting with no more under-provisioning
/// (`settings`); prescale dominates (`holds`) when each of the common settings (u from 0.5 to
/// 0.9, [`hindsight::is_judged_for_dominance`]) has one at no more than [`DOMINANCE_TOLERANCE`]
/// times that HPA's cost.
#[derive(Debug, Clone, Serialize)]
pub struct Dominance {
    pub settings: Vec<Matched>,
    pub holds: bool,
    /// The judged HPA settings with no prescale setting as reliable.
    pub unmatched: Vec<f64>,
    /// The highest cost ratio among the judged, matched settings, and that HPA's utilization (NaN,
    /// written `null`, when none is matched).
    pub worst_cost_vs_hpa: f64,
    pub worst_hpa_utilization: f64,
}

impl Dominance {
    fn new(settings: Vec<Matched>) -> Dominance {
        let judged = || {
            settings
                .iter()
                .filter(|m| hindsight::is_judged_for_dominance(m.hpa_utilization))
        };
        let unmatched = judged()
            .filter(|m| m.choice.is_none())
            .map(|m| m.hpa_utilization)
            .collect::<Vec<_>>();
        let worst = judged()
            .filter_map(|m| {
                m.choice
                    .as_ref()
                    .map(|c| (m.hpa_utilization, c.cost_vs_hpa))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let (worst_hpa_utilization, worst_cost_vs_hpa) = worst.unwrap_or((f64::NAN, f64::NAN));
        Dominance {
            holds: unmatched.is_empty()
                && judged().next().is_some()
                && worst_cost_vs_hpa <= DOMINANCE_TOLERANCE,
            settings,
            unmatched,
            worst_cost_vs_hpa,
            worst_hpa_utilization,
        }
    }

    /// `holds (worst 0.97x at u=0.5)`, `fails: 1.28x at u=0.6`, or `fails: none as reliable as
    /// u=0.2`.
    pub fn label(&self) -> String {
        if let Some(u) = self.unmatched.first() {
            return format!("fails: none as reliable as u={u}");
        }
        let worst = format!(
            "{}x at u={}",
            num(self.worst_cost_vs_hpa),
            self.worst_hpa_utilization
        );
        if self.holds {
            format!("holds (worst {worst})")
        } else {
            format!("fails: {worst}")
        }
    }
}

/// How a prescale setting is named in tables.
pub(super) fn setting_label(policy: &str, param: f64, reactive_utilization: Option<f64>) -> String {
    match (policy, reactive_utilization) {
        ("slo", _) => format!("slo={param}"),
        (_, Some(u)) => format!("q={param}+floor{u}"),
        _ => format!("q={param}"),
    }
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        dataset: &Dataset,
        setup: &Setup,
        origins: &[usize],
        accuracy: Vec<AccuracyRow>,
        config: &ScalingConfig,
        capacity: Capacity,
        simulation: &Simulation,
        elapsed_seconds: f64,
    ) -> Report {
        let series = &dataset.series;
        let step = series.step();
        let oracle_hours = simulation.oracle().tally.replica_hours(step);
        let policies: Vec<PolicyRow> = simulation
            .runs
            .iter()
            .map(|run| {
                let hours = run.tally.replica_hours(step);
                PolicyRow {
                    policy: run.kind.as_str(),
                    param: run.param,
                    reactive_utilization: run.reactive_utilization,
                    underprovisioned_fraction: run.tally.underprovisioned_fraction(),
                    unserved_fraction: run.tally.unserved_fraction(),
                    replica_hours: hours,
                    cost_vs_oracle: ratio(hours, oracle_hours),
                    scale_events: run.tally.scale_events,
                }
            })
            .collect();
        let summary = summarize(&policies, config.slo);
        let period = &simulation.period;
        let mut notes = setup.notes.clone();
        notes.extend(
            accuracy
                .iter()
                .filter_map(|row| row.error.as_ref().map(|e| (row, e)))
                .map(|(row, e)| {
                    format!(
                        "{}: failed at {} origin(s), first: {e}",
                        row.model, row.failures
                    )
                }),
        );
        Report {
            dataset: name.to_string(),
            step_seconds: step,
            points: series.len(),
            observed_points: series.present(),
            first_timestamp: format_timestamp(series.start()),
            last_timestamp: format_timestamp(series.timestamp(series.len().saturating_sub(1))),
            horizon_steps: setup.horizon_steps,
            train_window_seconds: setup.train_window.seconds(),
            train_window_steps: setup.train_window_steps,
            seasons: setup
                .seasons
                .iter()
                .map(|s| span_text(s.seconds()))
                .collect(),
            seasons_steps: setup.seasons_steps.clone(),
            origins: origins
                .iter()
                .map(|&i| format_timestamp(series.timestamp(i)))
                .collect(),
            notes,
            accuracy,
            scaling: Scaling {
                capacity_per_replica: config.capacity_per_replica,
                capacity_source: match capacity {
                    Capacity::Auto => "auto: 99th percentile of the trace / 20".to_string(),
                    Capacity::Given(_) => "given".to_string(),
                },
                startup_delay_seconds: config.startup_delay.seconds(),
                startup_delay_steps: simulation.delay_steps,
                lead_time_seconds: simulation.lead_time.seconds(),
                min_replicas: config.min_replicas,
                max_replicas: config.max_replicas,
                initial_replicas: simulation.initial_replicas,
                period: Period {
                    start: format_timestamp(series.timestamp(period.start)),
                    end: format_timestamp(series.timestamp(period.end)),
                    steps: period.len(),
                    scored_steps: simulation.oracle().tally.steps,
                },
                model: config.model.name().to_string(),
                refit_interval_seconds: config.cycle.refit_interval.seconds(),
                plan_horizon_seconds: config.cycle.plan_horizon.seconds(),
                stabilization_seconds: config.stabilization.seconds(),
                fits: simulation.fits,
                fit_failures: simulation.fit_failures,
                mean_fit_seconds: ratio(simulation.fit_seconds, simulation.fits as f64),
                fit_error: simulation.fit_error.clone(),
                published_coverage: {
                    let counts = simulation.published_coverage(series.values());
                    let steps = counts.steps as f64;
                    PublishedCoverage {
                        steps: counts.steps,
                        coverage80: ratio(counts.in80 as f64, steps),
                        coverage95: ratio(counts.in95 as f64, steps),
                    }
                },
                published_accuracy: {
                    let season = setup.seasons_steps.iter().copied().min().unwrap_or(0);
                    let errors = simulation.published_errors(series.values(), season);
                    PublishedAccuracy {
                        steps: errors.steps,
                        mae: errors.mae(),
                        mase: errors.mase(),
                    }
                },
                policies,
                summary,
            },
            elapsed_seconds,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The policy row of `policy` with `param`.
    pub fn policy(&self, policy: PolicyKind, param: Option<f64>) -> Option<&PolicyRow> {
        find_row(&self.scaling.policies, policy, param)
    }

    /// The text the CLI prints for one dataset: the frame, the accuracy table, the policy
    /// table and the summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let s = &self.scaling;
        out.push_str(&format!(
            "{}: {} steps of {} ({} observed), {} .. {}\n",
            self.dataset,
            self.points,
            span_text(self.step_seconds),
            self.observed_points,
            self.first_timestamp,
            self.last_timestamp
        ));
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out.push_str(&format!(
            "\naccuracy: horizon {} steps, train window {}, seasons {}, {} origins{}\n",
            self.horizon_steps,
            span_text(self.train_window_seconds),
            self.seasons.join(","),
            self.origins.len(),
            if self.horizon_steps == 1 {
                " (one step per origin, so each origin's MAE and RMSE are the same number)"
            } else {
                ""
            }
        ));
        let mut rows = vec![vec![
            "model".to_string(),
            "origins".into(),
            "MASE".into(),
            "MAE".into(),
            "RMSE".into(),
            "sMAPE %".into(),
            "cov80".into(),
            "cov95".into(),
            "fit+predict s".into(),
        ]];
        for a in &self.accuracy {
            rows.push(vec![
                a.model.clone(),
                a.origins.to_string(),
                num(a.mase),
                num(a.mae),
                num(a.rmse),
                num(a.smape),
                num(a.coverage80),
                num(a.coverage95),
                num(a.fit_predict_seconds),
            ]);
        }
        out.push_str(&table(&rows));
        out.push_str(&format!(
            "\nscaling: capacity {} per replica ({}), start-up delay {} (rounded up to {} whole \
             step(s) of the trace), replicas \
             {}..={}, from {} to {} ({} steps, {} scored), {} refitted every {} ({} fits, {} \
             failed); the bands it published held {} % (80 %) and {} % (95 %) of {} steps, its \
             point forecasts erred by {} on average (MASE {} against repeating the last season)\n",
            num(s.capacity_per_replica),
            s.capacity_source,
            span_text(s.startup_delay_seconds),
            s.startup_delay_steps,
            s.min_replicas,
            s.max_replicas,
            s.period.start,
            s.period.end,
            s.period.steps,
            s.period.scored_steps,
            s.model,
            span_text(s.refit_interval_seconds),
            s.fits,
            s.fit_failures,
            num(100.0 * s.published_coverage.coverage80),
            num(100.0 * s.published_coverage.coverage95),
            s.published_coverage.steps,
            num(s.published_accuracy.mae),
            num(s.published_accuracy.mase)
        ));
        let mut rows = vec![vec![
            "policy".to_string(),
            "param".into(),
            "under-provisioned %".into(),
            "unserved %".into(),
            "replica-hours".into(),
            "cost vs oracle".into(),
            "scale events".into(),
        ]];
        for p in &s.policies {
            rows.push(vec![
                p.policy.to_string(),
                match (p.param, p.reactive_utilization) {
                    (Some(q), Some(u)) => format!("{q} floor {u}"),
                    (Some(v), None) => format!("{v}"),
                    (None, _) => String::new(),
                },
                num(100.0 * p.underprovisioned_fraction),
                num(100.0 * p.unserved_fraction),
                num(p.replica_hours),
                num(p.cost_vs_oracle),
                p.scale_events.to_string(),
            ]);
        }
        out.push_str(&table(&rows));
        out.push_str("\nprescale's cheapest setting as reliable as each HPA setting:\n");
        out.push_str(&dominance_table(&s.summary.dominance.settings));
        out.push_str(&format!("dominance: {}\n", s.summary.dominance.label()));
        if let Some(h) = &s.summary.hindsight {
            out.push_str(&format!("\n{}\n", h.text));
        }
        out.push_str(&format!("\nsummary: {}\n", s.summary.text));
        out
    }
}

/// The row of `policy` with `param`.
fn find_row(policies: &[PolicyRow], policy: PolicyKind, param: Option<f64>) -> Option<&PolicyRow> {
    policies.iter().find(|p| {
        p.policy == policy.as_str()
            && match (p.param, param) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                (None, None) => true,
                _ => false,
            }
    })
}

/// The HPA rows, in the simulation's order (ascending utilization).
fn hpa_rows(policies: &[PolicyRow]) -> impl Iterator<Item = &PolicyRow> {
    policies
        .iter()
        .filter(|p| p.policy == PolicyKind::ReactiveHpa.as_str())
}

fn is_prescale(p: &PolicyRow) -> bool {
    PolicyKind::PRESCALE.iter().any(|k| k.as_str() == p.policy)
}

fn as_choice(p: &PolicyRow, hpa: &PolicyRow) -> Choice {
    let param = p.param.unwrap_or(f64::NAN);
    Choice {
        policy: p.policy,
        param,
        quantile: if p.policy == PolicyKind::Slo.as_str() {
            super::simulate::SLO_QUANTILE
        } else {
            param
        },
        reactive_utilization: p.reactive_utilization,
        underprovisioned_fraction: p.underprovisioned_fraction,
        replica_hours: p.replica_hours,
        cost_vs_hpa: ratio(p.replica_hours, hpa.replica_hours),
        cost_vs_oracle: p.cost_vs_oracle,
        scale_events: p.scale_events,
    }
}

/// The cheapest prescale setting under-provisioning no more than `hpa`.
fn cheapest_as_reliable(policies: &[PolicyRow], hpa: &PolicyRow) -> Option<Choice> {
    policies
        .iter()
        .filter(|p| is_prescale(p))
        .filter(|p| p.underprovisioned_fraction <= hpa.underprovisioned_fraction)
        .min_by(|a, b| a.replica_hours.total_cmp(&b.replica_hours))
        .map(|p| as_choice(p, hpa))
}

/// The summary for a list of policy rows (`slo`: the `--slo` asked for).
fn summarize(policies: &[PolicyRow], slo: Option<f64>) -> Summary {
    let matched: Vec<Matched> = hpa_rows(policies)
        .map(|hpa| Matched {
            hpa_utilization: hpa.param.unwrap_or(f64::NAN),
            hpa_underprovisioned_fraction: hpa.underprovisioned_fraction,
            hpa_replica_hours: hpa.replica_hours,
            hpa_scale_events: hpa.scale_events,
            choice: cheapest_as_reliable(policies, hpa),
        })
        .collect();
    let hindsight = slo.and_then(|slo| slo_hindsight(policies, slo));
    let dominance = Dominance::new(matched);
    let Some(hpa) = find_row(
        policies,
        PolicyKind::ReactiveHpa,
        Some(REFERENCE_UTILIZATION),
    ) else {
        return Summary {
            hpa_utilization: REFERENCE_UTILIZATION,
            hpa_underprovisioned_fraction: f64::NAN,
            hpa_replica_hours: f64::NAN,
            choice: None,
            closest: None,
            dominance,
            hindsight,
            text: "none: the HPA at u = 0.6 was not simulated".into(),
        };
    };
    let choice = cheapest_as_reliable(policies, hpa);
    let closest = if choice.is_some() {
        None
    } else {
        policies
            .iter()
            .filter(|p| is_prescale(p))
            .min_by(|a, b| {
                a.underprovisioned_fraction
                    .total_cmp(&b.underprovisioned_fraction)
                    .then(a.replica_hours.total_cmp(&b.replica_hours))
            })
            .map(|p| as_choice(p, hpa))
    };
    let text = match (&choice, &closest) {
        (Some(c), _) => format!(
            "prescale {} under-provisions {}% of steps (HPA u=0.6: {}%) at {}x the HPA's \
             cost and {}x the oracle's, with {} scale events (HPA: {})",
            c.label(),
            num(100.0 * c.underprovisioned_fraction),
            num(100.0 * hpa.underprovisioned_fraction),
            num(c.cost_vs_hpa),
            num(c.cost_vs_oracle),
            c.scale_events,
            hpa.scale_events
        ),
        (None, Some(c)) => format!(
            "none: every prescale setting under-provisions more than the HPA at u=0.6 ({}% \
             of steps); the closest, {}, under-provisions {}% at {}x the HPA's cost and {}x \
             the oracle's",
            num(100.0 * hpa.underprovisioned_fraction),
            c.label(),
            num(100.0 * c.underprovisioned_fraction),
            num(c.cost_vs_hpa),
            num(c.cost_vs_oracle)
        ),
        (None, None) => "none: no prescale setting was simulated".to_string(),
    };
    Summary {
        hpa_utilization: REFERENCE_UTILIZATION,
        hpa_underprovisioned_fraction: hpa.underprovisioned_fraction,
        hpa_replica_hours: hpa.replica_hours,
        choice,
        closest,
        dominance,
        hindsight,
        text,
    }
}

/// The SLO policy's row against the HPA frontier ([`hindsight::hindsight`]).
fn slo_hindsight(policies: &[PolicyRow], slo: f64) -> Option<Hindsight> {
    let row = find_row(policies, PolicyKind::Slo, Some(slo))?;
    let hpas: Vec<HpaPoint> = hpa_rows(policies)
        .map(|p| HpaPoint {
            utilization: p.param.unwrap_or(f64::NAN),
            underprovisioned_fraction: p.underprovisioned_fraction,
            replica_hours: p.replica_hours,
        })
        .collect();
    let reference = find_row(
        policies,
        PolicyKind::ReactiveHpa,
        Some(REFERENCE_UTILIZATION),
    )
    .map_or(0, |h| h.scale_events);
    Some(hindsight::hindsight(
        SloOutcome {
            slo,
            underprovisioned_fraction: row.underprovisioned_fraction,
            replica_hours: row.replica_hours,
            scale_events: row.scale_events,
        },
        &hpas,
        (REFERENCE_UTILIZATION, reference),
    ))
}

/// One row per dataset for `backtest --all`: MASE per model, how often the bands the engine
/// published held the demand ([`PublishedCoverage`], 80 % / 95 %), the HPA reference, the summary's
/// choice (or, marked `none (closest …)`, the predictive setting that came closest), and the
/// time taken. `failed` lists the datasets that could not run, with why.
pub fn overview(reports: &[Report], failed: &[(String, String)]) -> String {
    let models: Vec<String> = reports
        .first()
        .map(|r| r.accuracy.iter().map(|a| a.model.clone()).collect())
        .unwrap_or_default();
    let mut header = vec!["dataset".to_string(), "step".into()];
    header.extend(models.iter().map(|m| format!("MASE {m}")));
    header.extend([
        "MASE published".to_string(),
        "bands held % (80/95)".into(),
        "HPA0.6 under %".into(),
        "HPA0.6 cost/oracle".into(),
        "prescale".into(),
        "under %".into(),
        "cost/HPA".into(),
        "cost/oracle".into(),
        "seconds".into(),
    ]);
    let mut rows = vec![header];
    for r in reports {
        let mut row = vec![r.dataset.clone(), span_text(r.step_seconds)];
        for m in &models {
            let mase = r.accuracy.iter().find(|a| &a.model == m).map(|a| a.mase);
            row.push(mase.map_or_else(String::new, num));
        }
        row.push(num(r.scaling.published_accuracy.mase));
        let held = &r.scaling.published_coverage;
        row.push(format!(
            "{:.1} / {:.1}",
            100.0 * held.coverage80,
            100.0 * held.coverage95
        ));
        let s = &r.scaling.summary;
        let hpa = r.policy(PolicyKind::ReactiveHpa, Some(REFERENCE_UTILIZATION));
        row.push(num(100.0 * s.hpa_underprovisioned_fraction));
        row.push(hpa.map_or_else(String::new, |h| num(h.cost_vs_oracle)));
        let (label, shown) = match (&s.choice, &s.closest) {
            (Some(c), _) => (c.label(), Some(c)),
            (None, Some(c)) => (format!("none (closest {})", c.label()), Some(c)),
            (None, None) => ("none".to_string(), None),
        };
        row.push(label);
        match shown {
            Some(c) => row.extend([
                num(100.0 * c.underprovisioned_fraction),
                num(c.cost_vs_hpa),
                num(c.cost_vs_oracle),
            ]),
            None => row.extend([String::new(), String::new(), String::new()]),
        }
        row.push(format!("{:.1}", r.elapsed_seconds));
        rows.push(row);
    }
    let mut out = table(&rows);
    if !reports.is_empty() {
        out.push_str(
            "MASE published: the point forecasts the replay planned on (from the latest refit, \
             a few steps ahead) over the error of repeating the last season across the replay; \
             not on the scale of the MASE columns before it\n",
        );
    }
    if rows
        .iter()
        .any(|row| row.iter().any(|cell| cell.starts_with("none (closest")))
    {
        out.push_str(
            "none (closest …): no prescale setting under-provisions as little as the HPA at \
             u = 0.6 on that trace; the one that comes closest is shown instead\n",
        );
    }
    out.push_str(&slo_overview(reports));
    for (name, why) in failed {
        out.push_str(&format!("{name}: not backtested: {why}\n"));
    }
    out
}

/// With `--slo`, one row per dataset: SLO mode's realized under-provisioning, its cost against
/// the HPA tuned in hindsight at the budget and at its realized level, its scale events against
/// the HPA at u = 0.6's, and dominance; then the medians and counts the targets are judged by.
/// Empty without `--slo`.
pub fn slo_overview(reports: &[Report]) -> String {
    let with: Vec<(&Report, &Hindsight)> = reports
        .iter()
        .filter_map(|r| r.scaling.summary.hindsight.as_ref().map(|h| (r, h)))
        .collect();
    let Some((_, first)) = with.first() else {
        return String::new();
    };
    let mut rows = vec![vec![
        "dataset".to_string(),
        "under %".into(),
        "cost / hindsight HPA at budget".into(),
        "cost / hindsight HPA at realized".into(),
        "scale events (HPA0.6)".into(),
        "dominance".into(),
    ]];
    let versus = |cost: f64, point: &Option<hindsight::FrontierPoint>| match point {
        Some(p) if p.interpolated => format!("{} (interpolated)", num(cost)),
        Some(p) => format!("{} (u={})", num(cost), p.hpa_utilizations[0]),
        None => "no HPA reaches it".to_string(),
    };
    for (r, h) in &with {
        rows.push(vec![
            r.dataset.clone(),
            num(100.0 * h.underprovisioned_fraction),
            versus(h.cost_vs_hpa_at_budget, &h.at_budget),
            versus(h.cost_vs_hpa_at_realized, &h.at_realized),
            format!("{} ({})", h.scale_events, h.reference_hpa_scale_events),
            r.scaling.summary.dominance.label(),
        ]);
    }
    let n = with.len();
    let met = with.iter().filter(|(_, h)| h.met).count();
    let near = with
        .iter()
        .filter(|(_, h)| h.underprovisioned_fraction <= 1.2 * h.budget + 1e-12)
        .count();
    let reached: Vec<f64> = with
        .iter()
        .filter(|(_, h)| h.at_budget.is_some())
        .map(|(_, h)| h.cost_vs_hpa_at_budget)
        .collect();
    let at_most_one = reached.iter().filter(|c| **c <= 1.0).count();
    let calm = with
        .iter()
        .filter(|(_, h)| h.scale_events <= 2 * h.reference_hpa_scale_events)
        .count();
    let dominating = with
        .iter()
        .filter(|(r, _)| r.scaling.summary.dominance.holds)
        .count();
    format!(
        "\nslo={}: SLO mode against the HPA tuned in hindsight\n{}budget ({}%) met on {met} of \
         {n} (within 1.2x the budget on {near}); cost at most 1x the hindsight HPA on \
         {at_most_one} of the {} where an HPA reaches the budget (median {}); scale events at \
         most 2x the HPA at u=0.6's on {calm} of {n}; dominance holds on {dominating} of {n}\n",
        first.slo,
        table(&rows),
        num(100.0 * first.budget),
        reached.len(),
        num(median(&reached)),
    )
}

/// The median of `values` (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    super::percentile(values, 0.5)
}

/// The summary's dominance settings as a table.
pub fn dominance_table(matched: &[Matched]) -> String {
    let mut rows = vec![vec![
        "HPA u".to_string(),
        "HPA under %".into(),
        "HPA scale events".into(),
        "prescale".into(),
        "under %".into(),
        "cost/HPA".into(),
        "scale events".into(),
    ]];
    for m in matched {
        let mut row = vec![
            format!("{}", m.hpa_utilization),
            num(100.0 * m.hpa_underprovisioned_fraction),
            m.hpa_scale_events.to_string(),
        ];
        match &m.choice {
            Some(c) => row.extend([
                c.label(),
                num(100.0 * c.underprovisioned_fraction),
                num(c.cost_vs_hpa),
                c.scale_events.to_string(),
            ]),
            None => row.extend([
                "none".to_string(),
                String::new(),
                String::new(),
                String::new(),
            ]),
        }
        rows.push(row);
    }
    table(&rows)
}

/// A Markdown table (pipes, header rule), columns padded for reading in a terminal.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &Vec<String>| {
        let cells: Vec<String> = (0..columns)
            .map(|c| {
                let cell = row.get(c).map_or("", String::as_str);
                format!("{cell:<width$}", width = widths[c])
            })
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&line(row));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(policy: PolicyKind, param: Option<f64>, under: f64, hours: f64) -> PolicyRow {
        PolicyRow {
            policy: policy.as_str(),
            param,
            reactive_utilization: None,
            underprovisioned_fraction: under,
            unserved_fraction: 0.0,
            replica_hours: hours,
            cost_vs_oracle: hours / 10.0,
            scale_events: 0,
        }
    }

    #[test]
    fn summary_takes_the_cheapest_setting_no_worse_than_the_hpa() {
        let policies = vec![
            row(PolicyKind::Oracle, None, 0.0, 10.0),
            row(PolicyKind::ReactiveHpa, Some(0.6), 0.05, 20.0),
            row(PolicyKind::Predictive, Some(0.5), 0.20, 12.0),
            row(PolicyKind::Predictive, Some(0.9), 0.05, 16.0),
            row(PolicyKind::Predictive, Some(0.99), 0.01, 19.0),
        ];
        let s = summarize(&policies, None);
        let c = s.choice.unwrap();
        assert_eq!(c.quantile, 0.9);
        assert!((c.cost_vs_hpa - 0.8).abs() < 1e-12);
        assert!((c.cost_vs_oracle - 1.6).abs() < 1e-12);
        assert!(s.text.contains("q=0.9"), "{}", s.text);
        assert_eq!(s.dominance.settings.len(), 1);
        assert_eq!(s.dominance.settings[0].choice.as_ref().unwrap().param, 0.9);
        assert!(s.dominance.holds, "{:?}", s.dominance);
        assert_eq!(s.dominance.label(), "holds (worst 0.8x at u=0.6)");
        let s = summarize(&policies[..3], None);
        assert!(s.choice.is_none());
        assert_eq!(s.closest.unwrap().quantile, 0.5);
        assert!(s.text.starts_with("none"), "{}", s.text);
        assert!(s.text.contains("the closest, q=0.5"), "{}", s.text);
    }

    #[test]
    fn tables_are_aligned_markdown() {
        let t = table(&[
            vec!["a".into(), "bb".into()],
            vec!["ccc".into(), "d".into()],
        ]);
        assert_eq!(t, "| a   | bb |\n|-----|----|\n| ccc | d  |\n");
    }
}
