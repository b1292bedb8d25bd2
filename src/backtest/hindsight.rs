//! The yardsticks a user who states a reliability cares about: the **HPA tuned in hindsight**
//! and **dominance**.
//!
//! - The *HPA frontier* is the set of simulated HPA settings that no other HPA setting beats on
//!   both under-provisioning and cost. Between two adjacent settings on it, an HPA (a target
//!   utilization between theirs, or the two alternated) reaches every level in between for the
//!   linearly interpolated cost, so the frontier is interpolated linearly. The HPA tuned in
//!   hindsight to a level `x` is the frontier at `x`: the least an HPA costs under-provisioning
//!   at most `x`. Below the frontier's most reliable setting no HPA reaches `x`: that is said,
//!   never extrapolated.
//! - *Dominance*: for every HPA setting, prescale's cheapest setting that under-provisions no
//!   more, and its cost against that HPA. prescale dominates when every common HPA setting
//!   (u from 0.5 to 0.9) has one at no more than [`DOMINANCE_TOLERANCE`] times its cost.

use serde::Serialize;

use super::figures::{num, ratio};

/// A prescale setting dominates an HPA setting at up to this cost ratio (2 % covers the noise of
/// the replica-count rounding between neighbouring settings).
pub const DOMINANCE_TOLERANCE: f64 = 1.02;

/// Dominance is judged on the HPA settings people run: target utilizations from 0.5 to 0.9.
/// The lower ones are simulated to draw the frontier at tight budgets, where an HPA pays 2–3×
/// for near-zero misses; they are shown, not judged.
pub fn is_judged_for_dominance(utilization: f64) -> bool {
    (0.5 - 1e-9..=0.9 + 1e-9).contains(&utilization)
}

/// The points no other point beats on both coordinates (less or equal `x`, strictly less `y`),
/// ordered by `x`; `coordinates` gives a point's `(x, y)`. Points with a NaN coordinate are
/// dropped.
pub fn pareto<T>(mut points: Vec<T>, coordinates: impl Fn(&T) -> (f64, f64)) -> Vec<T> {
    points.retain(|p| {
        let (x, y) = coordinates(p);
        !(x.is_nan() || y.is_nan())
    });
    points.sort_by(|a, b| {
        let ((ax, ay), (bx, by)) = (coordinates(a), coordinates(b));
        ax.total_cmp(&bx).then(ay.total_cmp(&by))
    });
    let mut front: Vec<T> = Vec::new();
    for point in points {
        if front
            .last()
            .is_none_or(|last| coordinates(&point).1 < coordinates(last).1)
        {
            front.push(point);
        }
    }
    front
}

/// One HPA setting: its target utilization, under-provisioned fraction and replica-hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HpaPoint {
    pub utilization: f64,
    pub underprovisioned_fraction: f64,
    pub replica_hours: f64,
}

/// The HPA frontier read at one under-provisioning level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontierPoint {
    /// The level asked for.
    pub underprovisioned_fraction: f64,
    /// The least replica-hours an HPA spends under-provisioning at most that level.
    pub hpa_replica_hours: f64,
    /// The simulated HPA settings it comes from: one when a setting is on the frontier at or
    /// below the level with nothing cheaper before the next, two (the more reliable first) when
    /// interpolated between them.
    pub hpa_utilizations: Vec<f64>,
    pub interpolated: bool,
}

/// The HPA frontier of `hpas` read at `level`; `None` when no HPA setting under-provisions at
/// most `level`.
pub fn frontier_at(hpas: &[HpaPoint], level: f64) -> Option<FrontierPoint> {
    let front = pareto(hpas.to_vec(), |h| {
        (h.underprovisioned_fraction, h.replica_hours)
    });
    let below = front
        .iter()
        .rposition(|h| h.underprovisioned_fraction <= level + 1e-12)?;
    let lo = front[below];
    let exact = |h: HpaPoint| FrontierPoint {
        underprovisioned_fraction: level,
        hpa_replica_hours: h.replica_hours,
        hpa_utilizations: vec![h.utilization],
        interpolated: false,
    };
    let Some(&hi) = front.get(below + 1) else {
        return Some(exact(lo));
    };
    if (level - lo.underprovisioned_fraction).abs() <= 1e-12 {
        return Some(exact(lo));
    }
    let share = (level - lo.underprovisioned_fraction)
        / (hi.underprovisioned_fraction - lo.underprovisioned_fraction);
    Some(FrontierPoint {
        underprovisioned_fraction: level,
        hpa_replica_hours: lo.replica_hours + share * (hi.replica_hours - lo.replica_hours),
        hpa_utilizations: vec![lo.utilization, hi.utilization],
        interpolated: true,
    })
}

/// SLO mode against the HPA tuned in hindsight.
#[derive(Debug, Clone, Serialize)]
pub struct Hindsight {
    pub slo: f64,
    /// The miss budget, `1 − slo`.
    pub budget: f64,
    /// What SLO mode did.
    pub underprovisioned_fraction: f64,
    pub replica_hours: f64,
    pub scale_events: usize,
    /// True when SLO mode under-provisioned no more than the budget.
    pub met: bool,
    /// The HPA frontier at the budget (`None`: no HPA setting reaches it), and SLO mode's cost
    /// against it.
    pub at_budget: Option<FrontierPoint>,
    pub cost_vs_hpa_at_budget: f64,
    /// The HPA frontier at SLO mode's realized level (`None`: no HPA setting is that reliable),
    /// and SLO mode's cost against it.
    pub at_realized: Option<FrontierPoint>,
    pub cost_vs_hpa_at_realized: f64,
    /// The HPA at the reference utilization (0.6) and its scale events, for churn.
    pub reference_hpa_utilization: f64,
    pub reference_hpa_scale_events: usize,
    pub text: String,
}

/// What SLO mode did, as [`hindsight`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct SloOutcome {
    pub slo: f64,
    pub underprovisioned_fraction: f64,
    pub replica_hours: f64,
    pub scale_events: usize,
}

/// SLO mode's `outcome` against the frontier of `hpas`, with the reference HPA's scale events.
pub fn hindsight(outcome: SloOutcome, hpas: &[HpaPoint], reference: (f64, usize)) -> Hindsight {
    let budget = 1.0 - outcome.slo;
    let at_budget = frontier_at(hpas, budget);
    let at_realized = frontier_at(hpas, outcome.underprovisioned_fraction);
    let cost = |p: &Option<FrontierPoint>| {
        p.as_ref().map_or(f64::NAN, |p| {
            ratio(outcome.replica_hours, p.hpa_replica_hours)
        })
    };
    let (cost_vs_hpa_at_budget, cost_vs_hpa_at_realized) = (cost(&at_budget), cost(&at_realized));
    let met = outcome.underprovisioned_fraction <= budget + 1e-12;
    let pct = |x: f64| num(100.0 * x);
    let versus = |p: &Option<FrontierPoint>, c: f64, what: &str| match p {
        Some(p) => format!(
            "{}x the HPA tuned in hindsight to {what} ({})",
            num(c),
            source(p)
        ),
        None => format!("no HPA setting reaches {what}"),
    };
    let text = format!(
        "slo={}: under-provisioned {}% of steps ({} the {}% budget) with {} scale events \
         (HPA u={}: {}); {}; {}",
        outcome.slo,
        pct(outcome.underprovisioned_fraction),
        if met { "within" } else { "over" },
        pct(budget),
        outcome.scale_events,
        reference.0,
        reference.1,
        versus(
            &at_budget,
            cost_vs_hpa_at_budget,
            &format!("the budget, {}%", pct(budget))
        ),
        versus(
            &at_realized,
            cost_vs_hpa_at_realized,
            &format!(
                "the level it realized, {}%",
                pct(outcome.underprovisioned_fraction)
            )
        ),
    );
    Hindsight {
        slo: outcome.slo,
        budget,
        underprovisioned_fraction: outcome.underprovisioned_fraction,
        replica_hours: outcome.replica_hours,
        scale_events: outcome.scale_events,
        met,
        at_budget,
        cost_vs_hpa_at_budget,
        at_realized,
        cost_vs_hpa_at_realized,
        reference_hpa_utilization: reference.0,
        reference_hpa_scale_events: reference.1,
        text,
    }
}

/// `u=0.5`, or `interpolated between u=0.4 and u=0.5`.
fn source(point: &FrontierPoint) -> String {
    let u: Vec<String> = point
        .hpa_utilizations
        .iter()
        .map(|u| format!("u={u}"))
        .collect();
    if point.interpolated {
        format!("interpolated between {}", u.join(" and "))
    } else {
        u.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(utilization: f64, under: f64, hours: f64) -> HpaPoint {
        HpaPoint {
            utilization,
            underprovisioned_fraction: under,
            replica_hours: hours,
        }
    }

    #[test]
    fn pareto_keeps_the_points_nothing_beats() {
        let front = pareto(
            vec![
                (0.05, 10.0),
                (0.0, 30.0),
                (0.01, 31.0),
                (0.02, 20.0),
                (f64::NAN, 1.0),
            ],
            |p| *p,
        );
        assert_eq!(front, vec![(0.0, 30.0), (0.02, 20.0), (0.05, 10.0)]);
    }

    #[test]
    fn the_frontier_is_interpolated_between_settings_and_never_extrapolated() {
        let hpas = [
            hpa(0.4, 0.005, 40.0),
            hpa(0.5, 0.015, 30.0),
            hpa(0.6, 0.03, 25.0),
            // Dearer and less reliable than u = 0.6: not on the frontier.
            hpa(0.7, 0.04, 26.0),
        ];
        let at = frontier_at(&hpas, 0.01).unwrap();
        assert!(at.interpolated);
        assert_eq!(at.hpa_utilizations, vec![0.4, 0.5]);
        assert!((at.hpa_replica_hours - 35.0).abs() < 1e-9, "{at:?}");
        // Exactly on a setting: that setting, not interpolated.
        let at = frontier_at(&hpas, 0.015).unwrap();
        assert_eq!((at.interpolated, at.hpa_replica_hours), (false, 30.0));
        // Past the cheapest frontier setting: that setting.
        let at = frontier_at(&hpas, 0.2).unwrap();
        assert_eq!(at.hpa_utilizations, vec![0.6]);
        assert_eq!(at.hpa_replica_hours, 25.0);
        // More reliable than any HPA: none.
        assert!(frontier_at(&hpas, 0.001).is_none());
    }

    #[test]
    fn hindsight_compares_at_the_budget_and_at_the_realized_level() {
        let hpas = [
            hpa(0.4, 0.005, 40.0),
            hpa(0.5, 0.015, 30.0),
            hpa(0.6, 0.03, 25.0),
        ];
        let outcome = SloOutcome {
            slo: 0.99,
            underprovisioned_fraction: 0.008,
            replica_hours: 28.0,
            scale_events: 7,
        };
        let h = hindsight(outcome, &hpas, (0.6, 5));
        assert!(h.met);
        assert!((h.cost_vs_hpa_at_budget - 0.8).abs() < 1e-9, "{h:?}");
        // At 0.8 %: 40 − 10 · 0.3 = 37 replica-hours.
        assert!(
            (h.cost_vs_hpa_at_realized - 28.0 / 37.0).abs() < 1e-9,
            "{h:?}"
        );
        assert!(
            h.text.contains("interpolated between u=0.4 and u=0.5"),
            "{}",
            h.text
        );
        // An SLO no HPA reaches is said so.
        let strict = SloOutcome {
            slo: 0.999,
            ..outcome
        };
        let h = hindsight(strict, &hpas, (0.6, 5));
        assert!(h.at_budget.is_none() && h.cost_vs_hpa_at_budget.is_nan());
        assert!(!h.met);
        assert!(
            h.text.contains("no HPA setting reaches the budget"),
            "{}",
            h.text
        );
    }
}
