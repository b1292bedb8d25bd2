//! The realized service level of a target, and the headroom SLO mode adapts from it.
//!
//! A step is *missed* when the observed load was above what the replicas that were ready could
//! serve. prescale does not see the Deployment, so the ready count is estimated from its own
//! published counts as the HPA that follows them runs them ([`reactive::follow_published`]:
//! up at once, down only past its 10 % tolerance, as docs/kubernetes.md sets it up): a pod
//! asked for at `τ` serves from `τ + lead_time` and a removed pod goes at once, so the pods
//! ready at `t` are at most the fewest run over `t − lead_time ..= t`. Counting the published
//! count instead would score as misses the steps that the pods the follower kept did serve, and
//! SLO mode would pay for a reliability nobody asked for. Each observed sample is scored once,
//! however often the target is planned.
//!
//! **SLO mode** (a target with `slo`): the forecast load is multiplied by a headroom `h` that
//! follows adaptive conformal inference on the miss indicator: after each scored step
//! `h ← h · exp(γ · (miss − b))`, kept within [`MIN_HEADROOM`]`..=`[`MAX_HEADROOM`]. A miss
//! raises `h` by about `γ`; each served step lowers it by `γ · b`, so in the long run the missed
//! fraction settles where the two balance: at `b`.
//!
//! - **The budget goes where the headroom matters.** A served step whose replicas were all held
//!   at `min_replicas` (a quiet night, a closed shop) says nothing about the headroom: it does
//!   not move `h` (otherwise every quiet night would drain it to its bound and the morning would
//!   pay in misses). It still counts as served, so its share of the budget goes to the other
//!   steps: `b = (1 − slo) · scored / informative` (at most 0.5), and the missed fraction of all
//!   steps still settles at `1 − slo`. A miss always counts.
//! - **A fresh target starts calibrated**: the planner sets `h` at the first plan to the
//!   forecast's band at the SLO over the band it plans on (both at their highest over the lead
//!   window), instead of starting at 1 and earning the difference with misses.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::reactive;
use crate::series::{Sample, Timestamp};

/// The ACI step size `γ` (per scored step, in log headroom). Small, because the headroom's
/// swings are what SLO mode pays for: the following HPA takes every rise at once but not the
/// small falls. Measured in docs/backtest.md (0.1 cost more on 10 of 13 traces, median 0.896
/// against 0.880 of the hindsight HPA; 0.02 converges too slowly on bursty traces).
pub const ADAPTATION_RATE: f64 = 0.03;

/// Bounds of the adapted headroom, as multiples of the forecast quantile.
pub const MIN_HEADROOM: f64 = 0.5;
pub const MAX_HEADROOM: f64 = 4.0;

/// Published counts kept at most (a lead time is a few minutes; the service plans every few
/// seconds, so this bounds the memory of a long lead time planned often).
const MAX_PUBLISHED: usize = 4096;

/// What a target served: the figures the plan API and `/metrics` show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceLevelReport {
    /// Observed samples scored, and of those, missed.
    pub scored_steps: u64,
    pub missed_steps: u64,
    /// `1 − missed / scored` (1 before any step was scored).
    pub realized: f64,
    /// The headroom multiplying the forecast load (1 outside SLO mode).
    pub headroom: f64,
    /// In SLO mode, the miss rate the headroom is steered to on the steps it shapes: the
    /// budget `1 − slo`, raised by the share that steps held at `min_replicas` passed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_miss_rate: Option<f64>,
}

impl ServiceLevelReport {
    /// Nothing scored yet, a headroom of 1: what a target starts with.
    pub const UNSCORED: ServiceLevelReport = ServiceLevelReport {
        scored_steps: 0,
        missed_steps: 0,
        realized: 1.0,
        headroom: 1.0,
        planned_miss_rate: None,
    };
}

/// What SLO mode must not forget across a restart: the adapted headroom, the tally, and the
/// newest sample scored (so that it is not scored twice). The engine stores it per target; the
/// counts run are not kept (after a restart, samples are scored again once a lead time of
/// new counts has been published).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceLevelMemory {
    pub headroom: f64,
    pub scored_steps: u64,
    pub missed_steps: u64,
    pub informative_steps: u64,
    pub last_scored: Option<Timestamp>,
}

/// A target's service-level memory.
#[derive(Debug, Clone)]
pub struct ServiceLevel {
    /// `(when published, replicas the follower runs, published count held at min_replicas)`,
    /// oldest first.
    runs: VecDeque<(Timestamp, u32, bool)>,
    last_scored: Option<Timestamp>,
    scored: u64,
    missed: u64,
    /// Scored steps that said something about the headroom (see [`ServiceLevel::score`]).
    informative: u64,
    headroom: f64,
    /// Whether the headroom has been set: from the forecast at the first plan, or restored.
    started: bool,
}

impl Default for ServiceLevel {
    fn default() -> ServiceLevel {
        ServiceLevel {
            runs: VecDeque::new(),
            last_scored: None,
            scored: 0,
            missed: 0,
            informative: 0,
            headroom: ServiceLevelReport::UNSCORED.headroom,
            started: false,
        }
    }
}

impl ServiceLevel {
    /// A memory that resumes from `memory` (a headroom outside the bounds, or not a number, is
    /// brought within them; counts that contradict each other are capped: misses at the scored
    /// steps, informative steps between the two).
    pub fn restored(memory: ServiceLevelMemory) -> ServiceLevel {
        let headroom = if memory.headroom.is_finite() {
            memory.headroom.clamp(MIN_HEADROOM, MAX_HEADROOM)
        } else {
            ServiceLevelReport::UNSCORED.headroom
        };
        let missed = memory.missed_steps.min(memory.scored_steps);
        ServiceLevel {
            last_scored: memory.last_scored,
            scored: memory.scored_steps,
            missed,
            informative: memory.informative_steps.clamp(missed, memory.scored_steps),
            headroom,
            started: true,
            ..ServiceLevel::default()
        }
    }

    /// What [`ServiceLevel::restored`] resumes from.
    pub fn memory(&self) -> ServiceLevelMemory {
        ServiceLevelMemory {
            headroom: self.headroom,
            scored_steps: self.scored,
            missed_steps: self.missed,
            informative_steps: self.informative,
            last_scored: self.last_scored,
        }
    }

    /// Whether the headroom has been set ([`ServiceLevel::start`], or restored).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Sets the headroom a fresh target starts from (within the bounds).
    pub fn start(&mut self, headroom: f64) {
        if headroom.is_finite() {
            self.headroom = headroom.clamp(MIN_HEADROOM, MAX_HEADROOM);
        }
        self.started = true;
    }

    /// The count the follower runs after the last publication, if any.
    pub fn running(&self) -> Option<u32> {
        self.runs.back().map(|(_, replicas, _)| *replicas)
    }

    /// Scores `observed` (once per sample timestamp) against the replicas estimated ready at its
    /// time, and with `slo` adapts the headroom. Samples older than the last one scored, or
    /// from before anything was published, are not scored.
    pub fn score(&mut self, observed: Sample, capacity: f64, lead_time: i64, slo: Option<f64>) {
        if self.last_scored.is_some_and(|t| observed.timestamp <= t) {
            return;
        }
        let Some((ready, at_min)) = self.ready_at(observed.timestamp, lead_time) else {
            return;
        };
        self.last_scored = Some(observed.timestamp);
        let miss = observed.value > f64::from(ready) * capacity * (1.0 + 1e-9);
        self.scored += 1;
        self.missed += u64::from(miss);
        let informative = miss || !at_min;
        if let Some(slo) = slo
            && informative
        {
            self.informative += 1;
            let error = f64::from(u8::from(miss)) - self.planned_miss_rate(slo);
            self.headroom =
                (self.headroom * (ADAPTATION_RATE * error).exp()).clamp(MIN_HEADROOM, MAX_HEADROOM);
        }
    }

    /// The fewest replicas run over `at − lead_time ..= at`, counting the count in force at
    /// `at − lead_time`, and whether every one of those counts was held at `min_replicas`;
    /// `None` when nothing was published by `at − lead_time`.
    fn ready_at(&self, at: Timestamp, lead_time: i64) -> Option<(u32, bool)> {
        let from = at - lead_time;
        let in_force = self
            .runs
            .iter()
            .rev()
            .find(|(t, _, _)| *t <= from)
            .map(|(_, r, m)| (*r, *m))?;
        let later = self
            .runs
            .iter()
            .filter(|(t, _, _)| *t > from && *t <= at)
            .map(|(_, r, m)| (*r, *m));
        Some(later.fold(in_force, |(r, m), (r2, m2)| (r.min(r2), m && m2)))
    }

    /// Remembers the count published at `now` (`at_min`: held at `min_replicas`, so that the
    /// headroom did not shape it) as the follower runs it, forgetting what no later score can
    /// need.
    pub fn publish(&mut self, now: Timestamp, replicas: u32, at_min: bool, lead_time: i64) {
        let running = self.running().map_or(replicas, |running| {
            reactive::follow_published(replicas, running)
        });
        self.runs.push_back((now, running, at_min));
        // Keep the newest entry at or before `now − 2·lead` and everything after it: scores come
        // for samples up to a few steps old.
        let horizon = now - 2 * lead_time.max(1) - 3600;
        while self.runs.len() > 1 && self.runs[1].0 <= horizon {
            self.runs.pop_front();
        }
        while self.runs.len() > MAX_PUBLISHED {
            self.runs.pop_front();
        }
    }

    /// The miss rate the headroom is steered to: `1 − slo`, and the budget of the steps held at
    /// `min_replicas` goes to the others (at most 0.5).
    fn planned_miss_rate(&self, slo: f64) -> f64 {
        let budget = 1.0 - slo;
        if self.informative == 0 {
            return budget;
        }
        (budget * self.scored as f64 / self.informative as f64).min(0.5)
    }

    /// What was served so far, and the headroom; `slo`: the target's, if in SLO mode.
    pub fn report(&self, slo: Option<f64>) -> ServiceLevelReport {
        ServiceLevelReport {
            scored_steps: self.scored,
            missed_steps: self.missed,
            realized: if self.scored == 0 {
                1.0
            } else {
                1.0 - self.missed as f64 / self.scored as f64
            },
            headroom: self.headroom,
            planned_miss_rate: slo.map(|slo| self.planned_miss_rate(slo)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64, v: f64) -> Sample {
        Sample::new(t, v).unwrap()
    }

    #[test]
    fn ready_is_the_fewest_published_over_the_lead_window() {
        let mut level = ServiceLevel::default();
        level.publish(0, 5, false, 120);
        level.publish(60, 10, false, 120);
        // At 120 the 10 asked for at 60 are not ready yet: 5 serve 50.
        level.score(sample(120, 60.0), 10.0, 120, None);
        assert_eq!(level.report(None).missed_steps, 1);
        // At 180 they are: 100 served.
        level.score(sample(180, 60.0), 10.0, 120, None);
        assert_eq!(level.report(None).missed_steps, 1);
        assert_eq!(level.report(None).scored_steps, 2);
        // The same sample is scored once; an older one is not scored.
        level.score(sample(180, 600.0), 10.0, 120, None);
        level.score(sample(100, 600.0), 10.0, 120, None);
        assert_eq!(level.report(None).scored_steps, 2);
        // Before anything was published nothing is scored.
        let mut fresh = ServiceLevel::default();
        fresh.score(sample(0, 1.0), 10.0, 120, None);
        assert_eq!(fresh.report(None).scored_steps, 0);
        assert_eq!(fresh.report(None).realized, 1.0);
    }

    #[test]
    fn headroom_rises_on_misses_and_decays_when_served() {
        let mut level = ServiceLevel::default();
        level.publish(0, 1, false, 60);
        for i in 1..=5 {
            level.score(sample(60 * i + 60, 100.0), 10.0, 60, Some(0.99));
            level.publish(60 * i, 1, false, 60);
        }
        let after_misses = level.report(None).headroom;
        let expected = (ADAPTATION_RATE * 0.99 * 5.0).exp();
        assert!((after_misses - expected).abs() < 1e-12, "{after_misses}");
        for i in 6..=200 {
            level.score(sample(60 * i + 60, 1.0), 10.0, 60, Some(0.99));
            level.publish(60 * i, 1, false, 60);
        }
        assert!(level.report(None).headroom < after_misses);
        assert!(level.report(None).headroom >= MIN_HEADROOM);
        // Without an SLO the headroom never moves.
        let mut plain = ServiceLevel::default();
        plain.publish(0, 1, false, 60);
        plain.score(sample(120, 100.0), 10.0, 60, None);
        assert_eq!(plain.report(None).headroom, 1.0);
        assert_eq!(plain.report(None).missed_steps, 1);
    }

    #[test]
    fn a_restored_memory_resumes_where_it_stopped() {
        let mut level = ServiceLevel::default();
        level.publish(0, 1, false, 60);
        level.score(sample(120, 100.0), 10.0, 60, Some(0.99));
        let memory = level.memory();
        assert_eq!((memory.scored_steps, memory.missed_steps), (1, 1));
        assert!(memory.headroom > 1.0);
        let mut resumed = ServiceLevel::restored(memory);
        assert_eq!(resumed.memory(), memory);
        // The sample scored before the restart is not scored again.
        resumed.publish(0, 1, false, 60);
        resumed.score(sample(120, 100.0), 10.0, 60, Some(0.99));
        assert_eq!(resumed.memory(), memory);
        // A damaged memory comes back within bounds.
        let wild = ServiceLevel::restored(ServiceLevelMemory {
            headroom: f64::NAN,
            scored_steps: 1,
            missed_steps: 5,
            informative_steps: 0,
            last_scored: None,
        });
        assert_eq!(wild.report(None).headroom, 1.0);
        assert_eq!(wild.report(None).missed_steps, 1);
        assert_eq!(wild.memory().informative_steps, 1);
        let high = ServiceLevelMemory {
            headroom: 1e9,
            ..memory
        };
        assert_eq!(
            ServiceLevel::restored(high).report(None).headroom,
            MAX_HEADROOM
        );
    }

    #[test]
    fn steps_held_at_min_replicas_leave_the_headroom_alone_and_pass_on_their_budget() {
        let mut level = ServiceLevel::default();
        // A quiet night: 20 served steps, every count held at min_replicas.
        level.publish(0, 1, true, 60);
        for i in 1..=20 {
            level.score(sample(60 * i + 60, 1.0), 10.0, 60, Some(0.99));
            level.publish(60 * i, 1, true, 60);
        }
        assert_eq!(level.report(None).headroom, 1.0);
        assert_eq!(
            (level.report(None).scored_steps, level.informative),
            (20, 0)
        );
        // The first step that needed more than min_replicas: a miss, counted and informative.
        level.publish(1260, 1, false, 60);
        level.score(sample(1320, 50.0), 10.0, 60, Some(0.99));
        let after_miss = level.report(None).headroom;
        let b: f64 = 0.01 * 21.0;
        assert!(
            (after_miss - (ADAPTATION_RATE * (1.0 - b)).exp()).abs() < 1e-12,
            "{after_miss}"
        );
        // Then one served informative step: the night's budget makes b = 0.01 · 22 / 2.
        level.publish(1320, 10, false, 60);
        level.score(sample(1380, 50.0), 10.0, 60, Some(0.99));
        let b: f64 = 0.01 * 22.0 / 2.0;
        let expected = after_miss * (-ADAPTATION_RATE * b).exp();
        assert!((level.report(None).headroom - expected).abs() < 1e-12);
        assert_eq!(level.memory().informative_steps, 2);
        let planned = level.report(Some(0.99)).planned_miss_rate.unwrap();
        assert!((planned - b).abs() < 1e-12, "{planned}");
        assert_eq!(level.report(None).planned_miss_rate, None);
    }

    #[test]
    fn pods_the_follower_keeps_are_counted_as_ready() {
        let mut level = ServiceLevel::default();
        level.publish(0, 20, false, 60);
        // 19 is within the follower's 10 % scale-down tolerance: it keeps 20, which serve 195.
        level.publish(60, 19, false, 60);
        assert_eq!(level.running(), Some(20));
        level.score(sample(120, 195.0), 10.0, 60, None);
        assert_eq!(level.report(None).missed_steps, 0);
        // 17 is 15 % below: the follower scales down, and 195 is then a miss.
        level.publish(120, 17, false, 60);
        assert_eq!(level.running(), Some(17));
        level.score(sample(180, 195.0), 10.0, 60, None);
        assert_eq!(level.report(None).missed_steps, 1);
        // Up is followed at once (the pods are ready a lead time later).
        level.publish(180, 18, false, 60);
        assert_eq!(level.running(), Some(18));
    }

    #[test]
    fn memory_is_bounded() {
        let mut level = ServiceLevel::default();
        for t in 0..100_000 {
            level.publish(t, 3, false, 60);
        }
        assert!(level.runs.len() <= MAX_PUBLISHED);
        level.score(sample(99_999, 1.0), 10.0, 60, None);
        assert_eq!(level.report(None).scored_steps, 1);
    }
}
