//! Planning: a forecast and a [`Target`] become replica targets ahead of time.
//!
//! Pure and synchronous, like `forecast`: time comes in as `now`, past recommendations come in as
//! data, and nothing here reads a clock, a store or the network. The service and the backtest
//! call [`plan`] with the same inputs and get the same plan.
//!
//! The decision at `now`:
//! 1. **lead time** — a pod asked for now serves from `now + lead_time`, so the load to provision
//!    for is the highest forecast quantile over the steps that overlap `now .. now + lead_time`;
//! 2. **headroom** — that quantile is the target's `quantile` band of the forecast (e.g. 0.9),
//!    not the point forecast;
//! 3. **safety net and reactive floor** — when the observed load already exceeds it, the
//!    observed load is used instead; with `reactive_utilization` the plan never falls below what
//!    an HPA at that utilization asks for the observed load (with the HPA's tolerance around the
//!    count published last), so prescale alone is never less safe than the HPA it replaces;
//!    in SLO mode the target's adapted headroom ([`service_level`]) multiplies both the forecast
//!    and the observed load: the safety net is then persistence with the same headroom, on
//!    [`SLO_SAFETY_NET_SHARE`] of the observed load (a reactive floor at utilization
//!    `1 / (0.95 · headroom)`), so a burst the forecast did not see is answered with the margin
//!    the SLO needs, and a headroom below 1 spends the budget on the observed load too;
//! 4. **stabilization** — scaling down goes only to the highest recommendation of the trailing
//!    `scale_down_stabilization` window (the HPA's rule; the recommendation made exactly one window ago counts, see `in_window`);
//!    scaling up is immediate;
//! 5. **capacity and clamp** — `ceil(load / capacity_per_replica)`, clamped to
//!    `min_replicas ..= max_replicas`.
//!
//! Steps 3–5 are done on load, not on replicas: `ceil` is monotone, so the maximum of rounded
//! recommendations equals the rounded maximum, and the published load (for `metric_value =
//! "load"`) and the published replica count always agree.

/// In SLO mode, the share of the observed load the safety net provisions for (times the
/// headroom). The observed load is the newest sample, a lead time before the steps it protects;
/// when it is above the forecast's band it is, more often than not, a peak that is already
/// passing, and the full sample (1.0) then buys replicas that serve nothing: on the smooth CPU
/// trace the safety net at 1.0 cost 0.7 % more than at 0.95 and 0.9 for the very same misses.
/// Below that the net misses bursts it was there for (the ELB trace's isolated spikes: 1.19 %
/// under-provisioned at 0.95 and 1.0, 1.24 % at 0.9, 1.34 % without the net). Measured on the
/// 22 bundled and derived traces in docs/backtest.md (issue 29): 0.95 keeps every trace's
/// budget and lowers scale events on 17 of 22.
pub const SLO_SAFETY_NET_SHARE: f64 = 0.95;

mod labels;
pub mod reactive;
pub mod service_level;
mod target;

use serde::{Deserialize, Serialize};

use crate::forecast::Forecast;
use crate::series::{Sample, Timestamp};

pub use labels::{check_label_key, check_label_value, check_namespace};
pub use service_level::{ServiceLevel, ServiceLevelMemory, ServiceLevelReport};
pub use target::{
    DEFAULT_LEAD_TIME, DEFAULT_STABILIZATION, MAX_CAPACITY, MAX_LEAD_TIME, MAX_REPLICAS,
    MAX_STABILIZATION, MAX_TARGET_NAME_LEN, MetricValue, TARGET_LABEL, Target, check_target_name,
    slo_in_range,
};

/// Errors from planning or from validating a target.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    #[error("invalid target name {:?}: {}", crate::series::clip(.0), .1)]
    InvalidName(String, String),
    #[error("the forecast has no band for quantile {0}")]
    MissingQuantile(f64),
    #[error("the forecast ends at {forecast_end} but the plan needs it until {needed}")]
    ForecastTooShort {
        forecast_end: Timestamp,
        needed: Timestamp,
    },
}

/// One recommendation as the stabilization window remembers it: the load that was required at
/// `timestamp`, before stabilization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub timestamp: Timestamp,
    pub load: f64,
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub target: &'a Target,
    /// Must hold a band at `target.quantile` and cover `now .. now + lead_time`.
    pub forecast: &'a Forecast,
    pub now: Timestamp,
    /// The newest observed sample of the load series, if any (the safety net ignores it when it
    /// is stale, see [`observed_is_fresh`]).
    pub observed: Option<Sample>,
    /// Earlier recommendations (any order; only those inside the stabilization window count).
    pub recent: &'a [Recommendation],
    /// What the target served so far; its `headroom` multiplies the forecast load (1 outside
    /// SLO mode, [`ServiceLevelReport::UNSCORED`] for a plan without a planner's memory).
    pub service_level: ServiceLevelReport,
    /// The count the follower runs after the last publication ([`ServiceLevel::running`]),
    /// around which the reactive floor's tolerance holds.
    pub running: Option<u32>,
}

/// Which replica bound changed the count, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clamp {
    None,
    Min,
    Max,
}

/// The decision for now, with every input that shaped it (shown by the plan API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The replica count to run now so that pods are ready at `window_end`.
    pub replicas: u32,
    /// The planned load after safety net, stabilization and clamp (`metric_value = "load"`).
    pub load: f64,
    /// The forecast quantile used as headroom.
    pub quantile: f64,
    /// The window whose load is provisioned for: `now .. now + lead_time`.
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// The highest `quantile` forecast over the window, times `service_level.headroom`.
    pub forecast_load: f64,
    /// The observed load used by the safety net, when fresh.
    pub observed_load: Option<f64>,
    /// The newest observation's time, fresh or not, and the last instant the safety net and
    /// the reactive floor trust it ([`trusted_until`]): past it they are off.
    #[serde(default)]
    pub observed_at: Option<Timestamp>,
    #[serde(default)]
    pub observed_trusted_until: Option<Timestamp>,
    /// True when the observed load (times the headroom, in SLO mode) exceeded the forecast and
    /// raised the plan.
    pub safety_net: bool,
    /// The reactive floor's load (its replica count times the capacity), with
    /// `reactive_utilization` and a fresh observation.
    pub reactive_load: Option<f64>,
    /// True when the reactive floor raised the plan above the forecast and the safety net.
    pub reactive_floor: bool,
    /// True when the stabilization window held the count above the current recommendation.
    pub stabilized: bool,
    pub capacity_per_replica: f64,
    /// `ceil(load / capacity)` before the clamp.
    pub unclamped_replicas: u64,
    pub clamp: Clamp,
    /// What this decision adds to the stabilization window.
    pub recommendation: Recommendation,
    /// What the target served so far, and the headroom this decision multiplied the forecast
    /// by: 1, or in SLO mode the adapted one.
    pub service_level: ServiceLevelReport,
}

impl Decision {
    /// The value the external metric publishes for this decision.
    pub fn metric_value(&self, kind: MetricValue) -> f64 {
        match kind {
            MetricValue::Replicas => f64::from(self.replicas),
            MetricValue::Load => self.load,
        }
    }
}

/// One step of the planned trajectory: from `timestamp`, run `replicas` (provisioning for
/// `load`, the highest quantile forecast over `timestamp .. timestamp + lead_time`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanPoint {
    pub timestamp: Timestamp,
    pub load: f64,
    pub replicas: u32,
}

/// A plan: the decision for now and the trajectory over the rest of the forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub computed_at: Timestamp,
    pub current: Decision,
    /// Starts with the current decision, then one point per later forecast step whose lead
    /// window the forecast still covers.
    pub points: Vec<PlanPoint>,
}

/// A target's planning memory: the recommendations inside its stabilization window. The
/// service's engine and the backtest each keep one per target and plan through it, so both
/// stabilize identically.
#[derive(Debug, Clone, Default)]
pub struct Planner {
    recent: Vec<Recommendation>,
    service: ServiceLevel,
}

impl Planner {
    /// A planner that resumes SLO mode from `memory` (its stabilization window starts empty).
    pub fn restored(memory: ServiceLevelMemory) -> Planner {
        Planner {
            recent: Vec::new(),
            service: ServiceLevel::restored(memory),
        }
    }

    /// Adds what other replicas recommended (`(when, load)`, as the store kept their published
    /// planned load) to the stabilization memory, so that a replica started during a scale-down
    /// holds the recent peak as they do; entries older than the window are dropped at the next
    /// plan. With `headroom` (SLO mode's, as they publish it) a planner that has not started
    /// yet resumes from it instead of from the forecast's calibrated start.
    pub fn seed(&mut self, recommendations: &[(Timestamp, f64)], headroom: Option<f64>) {
        self.recent.extend(
            recommendations
                .iter()
                .filter(|(_, load)| load.is_finite() && *load >= 0.0)
                .map(|&(timestamp, load)| Recommendation { timestamp, load }),
        );
        if let Some(headroom) = headroom
            && !self.service.started()
        {
            self.service.start(headroom);
        }
    }

    /// What a restart must keep ([`ServiceLevelMemory`]).
    pub fn memory(&self) -> ServiceLevelMemory {
        self.service.memory()
    }

    /// What the target served so far, and its current headroom (`slo`: the target's).
    pub fn service_level(&self, slo: Option<f64>) -> ServiceLevelReport {
        self.service.report(slo)
    }

    /// Plans at `now` against the remembered recommendations, then remembers this one. The
    /// observation is first scored against what was published (see [`service_level`]).
    pub fn plan(
        &mut self,
        target: &Target,
        forecast: &Forecast,
        now: Timestamp,
        observed: Option<Sample>,
    ) -> Result<Plan, PlanError> {
        let window = target.scale_down_stabilization.seconds();
        self.recent.retain(|r| in_window(r.timestamp, now, window));
        let lead = target.lead_time.seconds();
        if let Some(sample) = observed.filter(|s| s.timestamp <= now) {
            self.service
                .score(sample, target.capacity_per_replica, lead, target.slo);
        }
        if let Some(slo) = target.slo
            && !self.service.started()
            && let Some(headroom) = initial_headroom(forecast, target, slo, now)
        {
            self.service.start(headroom);
        }
        let plan = plan(PlanInput {
            target,
            forecast,
            now,
            observed,
            recent: &self.recent,
            service_level: self.service.report(target.slo),
            running: self.service.running(),
        })?;
        self.recent.push(plan.current.recommendation);
        let at_min = plan.current.replicas <= target.min_replicas;
        self.service
            .publish(now, plan.current.replicas, at_min, lead);
        Ok(plan)
    }
}

/// The headroom SLO mode starts from, before any step was scored: the forecast's own band at the
/// SLO over the band it plans on (both their highest over the lead window), so that a fresh
/// target starts at the calibrated quantile of its SLO instead of earning it with misses. When
/// the lead window plans on no load (a closed shop: its forecast is 0 until the opening), the
/// highest over the rest of the forecast instead, so that a target first planned at night does
/// not start at 1 and earn the morning's headroom with misses. `None` (not started yet, asked
/// again at the next plan) when the forecast lacks either band or holds no load at all.
fn initial_headroom(forecast: &Forecast, target: &Target, slo: f64, now: Timestamp) -> Option<f64> {
    let window = steps_in_window(forecast, now, now + target.lead_time.seconds());
    let ratio = |steps: std::ops::Range<usize>| {
        let at = |level: f64| {
            forecast
                .quantile(level)
                .filter(|band| steps.end <= band.len())
                .map(|band| max_over(band, steps.clone()))
        };
        let (upper, base) = (at(slo)?, at(target.quantile)?);
        (base > 0.0).then(|| upper / base)
    };
    ratio(window.clone()).or_else(|| {
        let rest = window.start..forecast.len();
        if rest.is_empty() { None } else { ratio(rest) }
    })
}

/// How old the newest observation may be for the safety net to trust it: three steps of the
/// forecast grid, and never less than five minutes (a scrape or push may be late).
pub fn observed_is_fresh(observed: Sample, now: Timestamp, step: i64) -> bool {
    (observed.timestamp..=trusted_until(observed, step)).contains(&now)
}

/// The last instant `observed` is trusted (see [`observed_is_fresh`]).
pub fn trusted_until(observed: Sample, step: i64) -> Timestamp {
    observed
        .timestamp
        .saturating_add(step.saturating_mul(3).max(300))
}

/// Plans replicas for `input.target` at `input.now`. See the module doc for the rules.
pub fn plan(input: PlanInput<'_>) -> Result<Plan, PlanError> {
    let PlanInput {
        target,
        forecast,
        now,
        observed,
        recent,
        service_level,
        running,
    } = input;
    let headroom = service_level.headroom;
    let band = forecast
        .quantile(target.quantile)
        .ok_or(PlanError::MissingQuantile(target.quantile))?;
    let lead = target.lead_time.seconds();
    let step = forecast.step;
    let window_end = now + lead;
    let needed_steps = steps_in_window(forecast, now, window_end);
    if needed_steps.end > band.len() {
        return Err(PlanError::ForecastTooShort {
            forecast_end: forecast.timestamp(forecast.len()),
            needed: window_end,
        });
    }
    let forecast_load = headroom * max_over(band, needed_steps.clone());
    let observed_load = observed
        .filter(|sample| observed_is_fresh(*sample, now, step))
        .map(|sample| sample.value.max(0.0));
    let reactive_load = target
        .reactive_utilization
        .zip(observed_load)
        .map(|(u, o)| reactive::floor_load(o, u, target.capacity_per_replica, running));
    // In SLO mode the safety net carries the headroom too, on its share (see the module doc).
    let persistence = observed_load.map(|o| match target.slo {
        Some(_) => SLO_SAFETY_NET_SHARE * headroom * o,
        None => o,
    });
    let unfloored = persistence.map_or(forecast_load, |o| o.max(forecast_load));
    let required = reactive_load.map_or(unfloored, |r| r.max(unfloored));
    let window = target.scale_down_stabilization.seconds();
    let held = recent
        .iter()
        .filter(|r| in_window(r.timestamp, now, window))
        .map(|r| r.load)
        .fold(required, f64::max);
    let (replicas, unclamped, clamp) = to_replicas(held, target);
    let current = Decision {
        replicas,
        load: clamp_load(held, target),
        quantile: target.quantile,
        window_start: now,
        window_end,
        forecast_load,
        observed_load,
        observed_at: observed.map(|sample| sample.timestamp),
        observed_trusted_until: observed.map(|sample| trusted_until(sample, step)),
        safety_net: persistence.is_some_and(|o| o > forecast_load),
        reactive_load,
        reactive_floor: reactive_load.is_some_and(|r| r > unfloored),
        stabilized: held > required,
        capacity_per_replica: target.capacity_per_replica,
        unclamped_replicas: unclamped,
        clamp,
        recommendation: Recommendation {
            timestamp: now,
            load: required,
        },
        service_level,
    };

    // The trajectory: one point per later step, stabilized against everything before it.
    let mut memory: Vec<Recommendation> = recent.to_vec();
    memory.push(current.recommendation);
    let mut points = vec![PlanPoint {
        timestamp: now,
        load: current.load,
        replicas: current.replicas,
    }];
    for i in needed_steps.start + 1..band.len() {
        let timestamp = forecast.timestamp(i);
        let steps = steps_in_window(forecast, timestamp, timestamp + lead);
        if steps.end > band.len() {
            break;
        }
        let load = headroom * max_over(band, steps);
        memory.push(Recommendation { timestamp, load });
        let held = memory
            .iter()
            .filter(|r| in_window(r.timestamp, timestamp, window))
            .map(|r| r.load)
            .fold(load, f64::max);
        points.push(PlanPoint {
            timestamp,
            load: clamp_load(held, target),
            replicas: to_replicas(held, target).0,
        });
    }
    Ok(Plan {
        computed_at: now,
        current,
        points,
    })
}

/// Whether a recommendation made at `at` counts in the stabilization window of `window` seconds
/// that ends at `now`: made at most `window` before `now`, the one made exactly `window` before
/// included. The service replans every few seconds, so the recommendation it made for one grid
/// step is still in its window for nearly `window` after the next step's sample; counting that
/// boundary in holds it as long when planning only once per step (the backtest), and matches
/// the HPA's window there (the backtest's HPA holds the previous `window` of steps). A
/// window of 0 holds nothing.
fn in_window(at: Timestamp, now: Timestamp, window: i64) -> bool {
    window > 0 && now - window <= at && at <= now
}

/// The forecast steps whose time overlaps the closed window `from ..= to` (clipped at the
/// forecast's start). Closed, because the step that starts exactly at `now + lead_time` is the
/// first one a pod asked for now can serve: it must be covered.
fn steps_in_window(forecast: &Forecast, from: Timestamp, to: Timestamp) -> std::ops::Range<usize> {
    let step = forecast.step;
    let first = ((from - forecast.start).max(0) / step) as usize;
    let last = ((to - forecast.start).max(0) / step) as usize;
    first..last.max(first) + 1
}

/// The highest value of `band` over `range`, never below zero (load is not negative).
fn max_over(band: &[f64], range: std::ops::Range<usize>) -> f64 {
    band[range]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

/// `ceil(load / capacity)` and the clamped count. A tiny tolerance keeps a load of exactly
/// `n * capacity` (up to float noise) at `n` replicas.
fn to_replicas(load: f64, target: &Target) -> (u32, u64, Clamp) {
    let ratio = load / target.capacity_per_replica;
    let unclamped = (ratio - 1e-9).ceil().clamp(0.0, f64::from(MAX_REPLICAS)) as u64;
    if unclamped < u64::from(target.min_replicas) {
        (target.min_replicas, unclamped, Clamp::Min)
    } else if unclamped > u64::from(target.max_replicas) {
        (target.max_replicas, unclamped, Clamp::Max)
    } else {
        (unclamped as u32, unclamped, Clamp::None)
    }
}

fn clamp_load(load: f64, target: &Target) -> f64 {
    let c = target.capacity_per_replica;
    load.clamp(
        f64::from(target.min_replicas) * c,
        f64::from(target.max_replicas) * c,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::Band;
    use crate::series::{SeriesKey, Span};

    fn target(lead: i64) -> Target {
        Target {
            series: SeriesKey::new("rps").unwrap(),
            capacity_per_replica: 10.0,
            min_replicas: 2,
            max_replicas: 20,
            lead_time: Span::from_seconds(lead).unwrap(),
            quantile: 0.9,
            scale_down_stabilization: Span::from_seconds(300).unwrap(),
            metric_value: MetricValue::Replicas,
            labels: Default::default(),
            reactive_utilization: None,
            slo: None,
        }
    }

    /// A forecast on a 60 s grid from t = 0 whose 0.9 band is `upper` and point forecast half of it.
    fn forecast(upper: &[f64]) -> Forecast {
        Forecast {
            start: 0,
            step: 60,
            yhat: upper.iter().map(|v| v / 2.0).collect(),
            bands: vec![Band {
                level: 0.9,
                values: upper.to_vec(),
            }],
        }
    }

    /// A bare plan: nothing remembered, a headroom of 1.
    fn try_run(
        t: &Target,
        f: &Forecast,
        now: i64,
        observed: Option<Sample>,
    ) -> Result<Plan, PlanError> {
        plan(PlanInput {
            target: t,
            forecast: f,
            now,
            observed,
            recent: &[],
            service_level: ServiceLevelReport::UNSCORED,
            running: None,
        })
    }

    fn run(t: &Target, f: &Forecast, now: i64, observed: Option<Sample>) -> Plan {
        try_run(t, f, now, observed).unwrap()
    }

    #[test]
    fn provisions_for_the_peak_of_the_lead_window() {
        // Load jumps to 95 at t = 240 s: with a 3-minute lead time, the plan at t = 60 s covers
        // steps 1 to 4 (a pod asked for now is ready for step 4) and asks for ceil(95 / 10) = 10.
        let f = forecast(&[30.0, 30.0, 30.0, 30.0, 95.0, 95.0, 95.0, 95.0]);
        let p = run(&target(180), &f, 60, None);
        assert_eq!(p.current.replicas, 10);
        assert_eq!(p.current.forecast_load, 95.0);
        assert_eq!((p.current.window_start, p.current.window_end), (60, 240));
        assert_eq!(p.current.clamp, Clamp::None);
        // With a 2-minute lead the jump is not yet in the window.
        let p = run(&target(120), &f, 60, None);
        assert_eq!(p.current.replicas, 3);
    }

    #[test]
    fn unaligned_now_covers_every_overlapping_step() {
        let f = forecast(&[10.0, 10.0, 10.0, 50.0, 10.0, 10.0]);
        // now = 70 s, lead 2 min: window 70..190 overlaps steps 1, 2 and 3.
        let p = run(&target(120), &f, 70, None);
        assert_eq!(p.current.forecast_load, 50.0);
    }

    #[test]
    fn clamps_to_min_and_max() {
        let f = forecast(&[1.0; 10]);
        let p = run(&target(60), &f, 0, None);
        assert_eq!((p.current.replicas, p.current.clamp), (2, Clamp::Min));
        assert_eq!(p.current.load, 20.0);
        let f = forecast(&[1000.0; 10]);
        let p = run(&target(60), &f, 0, None);
        assert_eq!((p.current.replicas, p.current.clamp), (20, Clamp::Max));
        assert_eq!(p.current.unclamped_replicas, 100);
        assert_eq!(p.current.load, 200.0);
    }

    #[test]
    fn safety_net_follows_observed_load_above_the_forecast() {
        let f = forecast(&[40.0; 100]);
        let observed = Sample::new(110, 123.0).unwrap();
        let p = run(&target(60), &f, 120, Some(observed));
        assert!(p.current.safety_net);
        assert_eq!(p.current.replicas, 13);
        // A stale observation is ignored.
        let p = run(&target(60), &f, 120 + 3600, Some(observed));
        assert!(!p.current.safety_net);
        assert_eq!(p.current.observed_load, None);
        assert_eq!(p.current.replicas, 4);
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let f = forecast(&[20.0; 30]);
        let t = target(60);
        let recent = [
            Recommendation {
                timestamp: 60,
                load: 150.0,
            },
            Recommendation {
                timestamp: -1000,
                load: 190.0,
            },
        ];
        let input = |now| PlanInput {
            target: &t,
            forecast: &f,
            now,
            observed: None,
            recent: &recent,
            service_level: ServiceLevelReport::UNSCORED,
            running: None,
        };
        let p = plan(input(300)).unwrap();
        assert!(p.current.stabilized);
        assert_eq!(p.current.replicas, 15);
        // The trajectory comes down once the 150 has left the window: it holds until
        // 60 + 300 = 360 (the window's start counts) and not after.
        let at = |p: &Plan, t| {
            p.points
                .iter()
                .find(|pt| pt.timestamp == t)
                .unwrap()
                .replicas
        };
        assert_eq!((at(&p, 300), at(&p, 360), at(&p, 420)), (15, 15, 2));
        // Exactly one window later the recommendation still holds; after it, no longer.
        let p = plan(input(360)).unwrap();
        assert!(p.current.stabilized);
        assert_eq!(p.current.replicas, 15);
        let p = plan(input(361)).unwrap();
        assert!(!p.current.stabilized);
        assert_eq!(p.current.replicas, 2);
    }

    #[test]
    fn planner_remembers_its_stabilization_window() {
        let t = target(60);
        let mut planner = Planner::default();
        let high = forecast(&[150.0; 40]);
        let low = forecast(&[20.0; 40]);
        assert_eq!(
            planner.plan(&t, &high, 0, None).unwrap().current.replicas,
            15
        );
        // For five minutes the high recommendation holds; after, it is forgotten.
        assert_eq!(
            planner.plan(&t, &low, 300, None).unwrap().current.replicas,
            15
        );
        assert_eq!(
            planner.plan(&t, &low, 360, None).unwrap().current.replicas,
            2
        );
    }

    #[test]
    fn exact_multiples_do_not_round_up() {
        let f = forecast(&[30.000000000000004; 5]);
        let p = run(&target(60), &f, 0, None);
        assert_eq!(p.current.replicas, 3);
    }

    #[test]
    fn errors_are_values() {
        let f = forecast(&[10.0; 3]);
        let err = try_run(&target(600), &f, 0, None).unwrap_err();
        assert!(matches!(err, PlanError::ForecastTooShort { .. }));
        let mut t = target(60);
        t.quantile = 0.5;
        let err = try_run(&t, &f, 0, None).unwrap_err();
        assert_eq!(err, PlanError::MissingQuantile(0.5));
    }

    #[test]
    fn trajectory_follows_the_forecast_ahead_of_time() {
        let mut upper = vec![10.0; 20];
        upper[10] = 100.0;
        let f = forecast(&upper);
        let p = run(&target(180), &f, 0, None);
        // Points at steps 7 to 10 see the spike inside their 3-minute lead window.
        let at = |i: i64| p.points.iter().find(|pt| pt.timestamp == i * 60).unwrap();
        assert_eq!(at(6).replicas, 2);
        assert_eq!(at(7).replicas, 10);
        assert_eq!(at(10).replicas, 10);
        // ... and the stabilization window keeps 10 for 5 minutes after the last recommendation.
        assert_eq!(at(15).replicas, 10);
        assert_eq!(at(16).replicas, 2);
        // The trajectory stops where the forecast no longer covers a full lead window.
        assert_eq!(p.points.last().unwrap().timestamp, 16 * 60);
    }

    #[test]
    fn reactive_floor_keeps_the_plan_at_the_hpa_recommendation() {
        // The forecast says 20, the observed load is 60: the safety net asks for 6 replicas, an
        // HPA at u = 0.6 for ceil(60 / 6) = 10.
        let f = forecast(&[20.0; 100]);
        let mut t = target(60);
        let observed = Some(Sample::new(0, 60.0).unwrap());
        assert_eq!(run(&t, &f, 0, observed).current.replicas, 6);
        t.reactive_utilization = Some(0.6);
        let p = run(&t, &f, 0, observed);
        assert_eq!(p.current.replicas, 10);
        assert!(p.current.reactive_floor);
        assert_eq!(p.current.reactive_load, Some(100.0));
        // Without a fresh observation there is no floor.
        let p = run(&t, &f, 3600, observed);
        assert_eq!(p.current.reactive_load, None);
        assert_eq!(p.current.replicas, 2);
    }

    #[test]
    fn slo_headroom_grows_after_misses_and_plans_more() {
        let mut t = target(60);
        t.slo = Some(0.99);
        let f = forecast(&[50.0; 400]);
        let mut planner = Planner::default();
        let first = planner.plan(&t, &f, 0, None).unwrap();
        assert_eq!(
            (first.current.replicas, first.current.service_level.headroom),
            (5, 1.0)
        );
        // The load rises faster than the pods start: the first steps are missed, until the
        // headroom the misses raised (which the safety net carries) keeps ahead of the rise.
        for i in 1..10 {
            let observed = Sample::new(i * 60, 60.0 + 20.0 * i as f64).unwrap();
            planner.plan(&t, &f, i * 60, Some(observed)).unwrap();
        }
        let report = planner.service_level(t.slo);
        // No count was held at min_replicas: the headroom is steered to the plain budget.
        assert!(
            (report.planned_miss_rate.unwrap() - 0.01).abs() < 1e-12,
            "{report:?}"
        );
        assert!(report.missed_steps >= 4, "{report:?}");
        // Each miss raised the log headroom by γ·0.99, each served step lowered it by γ·0.01.
        let served = (report.scored_steps - report.missed_steps) as f64;
        let expected = (service_level::ADAPTATION_RATE
            * (0.99 * report.missed_steps as f64 - 0.01 * served))
            .exp();
        assert!((report.headroom - expected).abs() < 1e-9, "{report:?}");
        assert!(report.headroom > 1.1, "{report:?}");
        let later = planner
            .plan(&t, &f, 600, Some(Sample::new(600, 10.0).unwrap()))
            .unwrap();
        assert!(later.current.replicas >= 6, "{later:?}");
        assert!(later.current.forecast_load > 55.0, "{later:?}");
        assert!(later.current.service_level.headroom > 1.1);
        // A target without an SLO keeps a headroom of 1, but still reports its misses.
        t.slo = None;
        let mut plain = Planner::default();
        plain.plan(&t, &f, 0, None).unwrap();
        for i in 1..10 {
            let observed = Sample::new(i * 60, 60.0 + 20.0 * i as f64).unwrap();
            plain.plan(&t, &f, i * 60, Some(observed)).unwrap();
        }
        assert_eq!(plain.service_level(None).headroom, 1.0);
        assert!(plain.service_level(None).missed_steps >= 1);
    }

    #[test]
    fn a_fresh_slo_target_starts_at_its_band_over_the_planned_one() {
        let mut t = target(120);
        t.slo = Some(0.99);
        let mut f = forecast(&[40.0, 50.0, 50.0, 40.0, 40.0, 40.0]);
        f.bands.push(Band {
            level: 0.99,
            values: vec![60.0, 60.0, 75.0, 99.0, 99.0, 99.0],
        });
        // Window 0..=120 s (steps 0 to 2): 75 over 50.
        let mut planner = Planner::default();
        let p = planner.plan(&t, &f, 0, None).unwrap();
        assert!(
            (p.current.service_level.headroom - 1.5).abs() < 1e-12,
            "{p:?}"
        );
        assert_eq!(p.current.replicas, 8);
        // Only once: the next plan keeps the adapted headroom.
        let p = planner.plan(&t, &forecast(&[10.0; 6]), 60, None).unwrap();
        assert!((p.current.service_level.headroom - 1.5).abs() < 1e-12);
        // Without the SLO's band, it starts at 1.
        let mut fresh = Planner::default();
        let p = fresh.plan(&t, &forecast(&[50.0; 6]), 0, None).unwrap();
        assert_eq!(p.current.service_level.headroom, 1.0);
    }

    #[test]
    fn a_slo_target_first_planned_while_closed_starts_at_the_opening_band() {
        // A shop closed until step 4: the lead window (steps 0 to 2) plans on no load, so the
        // headroom is taken where the forecast has load (99 over 60), not left at 1 for the
        // morning to earn with misses.
        let mut t = target(120);
        t.slo = Some(0.99);
        let mut f = forecast(&[0.0, 0.0, 0.0, 0.0, 60.0, 40.0]);
        f.bands.push(Band {
            level: 0.99,
            values: vec![0.0, 0.0, 0.0, 0.0, 99.0, 70.0],
        });
        let mut planner = Planner::default();
        let p = planner.plan(&t, &f, 0, None).unwrap();
        assert!(
            (p.current.service_level.headroom - 1.65).abs() < 1e-12,
            "{p:?}"
        );
        assert_eq!(p.current.replicas, t.min_replicas);
        // A forecast with no load anywhere starts nothing: the next plan with load does.
        let mut closed = forecast(&[0.0; 6]);
        closed.bands.push(Band {
            level: 0.99,
            values: vec![0.0; 6],
        });
        let mut fresh = Planner::default();
        let p = fresh.plan(&t, &closed, 0, None).unwrap();
        assert_eq!(p.current.service_level.headroom, 1.0);
        let p = fresh.plan(&t, &f, 60, None).unwrap();
        assert!((p.current.service_level.headroom - 1.65).abs() < 1e-12);
    }

    #[test]
    fn in_slo_mode_the_safety_net_carries_the_headroom() {
        // Forecast 20, observed 60, headroom 1.5: SLO mode provisions 0.95 × 1.5 × 60 = 85.5
        // (9 replicas); a target without an SLO follows the observed 60 (6 replicas).
        let f = forecast(&[20.0; 100]);
        let plain = target(60);
        let mut t = target(60);
        t.slo = Some(0.99);
        let input = |t| PlanInput {
            target: t,
            forecast: &f,
            now: 0,
            observed: Some(Sample::new(0, 60.0).unwrap()),
            recent: &[],
            service_level: ServiceLevelReport {
                headroom: 1.5,
                ..ServiceLevelReport::UNSCORED
            },
            running: None,
        };
        let p = plan(input(&t)).unwrap();
        assert_eq!((p.current.replicas, p.current.safety_net), (9, true));
        assert_eq!(p.current.forecast_load, 30.0);
        // A headroom below 1 spends the budget on the observed load too: 0.95 × 0.8 × 60 = 45.6.
        let mut low = input(&t);
        low.service_level.headroom = 0.8;
        assert_eq!(plan(low).unwrap().current.replicas, 5);
        // The share: at a headroom of 1 and an observed 61, 0.95 × 61 = 57.95 asks for 6
        // replicas of 10 (the whole 61 would ask for 7).
        let mut one = input(&t);
        one.service_level.headroom = 1.0;
        one.observed = Some(Sample::new(0, 61.0).unwrap());
        assert_eq!(plan(one).unwrap().current.replicas, 6);
        let p = plan(input(&plain)).unwrap();
        assert_eq!((p.current.replicas, p.current.safety_net), (6, true));
    }
}
